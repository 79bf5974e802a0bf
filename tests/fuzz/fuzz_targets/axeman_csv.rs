//! Arbitrary bytes read as an Axeman CSV file, streamed and decoded as ingest does:
//! no panic, and positions stay in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ingest::Layout;

mod common;

fuzz_target!(|data: &[u8]| {
    let outputs = common::read(
        data,
        Layout::Records(&pipeline::ingest::format::axeman_csv::FORMAT),
    );
    common::check_order(&outputs);
});
