//! Arbitrary bytes read as a JSON-lines file, streamed and decoded as ingest does:
//! no panic, and positions stay in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ingest::Layout;

mod common;

fuzz_target!(|data: &[u8]| {
    let outputs = common::read(data, Layout::LINES);
    common::check_order(&outputs);
});
