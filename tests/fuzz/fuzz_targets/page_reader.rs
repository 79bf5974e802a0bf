//! Arbitrary bytes read as a file of layout `Page`, streamed and decoded
//! as ingest does: no panic, and positions stay in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ingest::Layout;

mod common;

fuzz_target!(|data: &[u8]| {
    let outputs = common::read(data, Layout::Page);
    if !matches!(Layout::Page, Layout::Certs) {
        common::check_order(&outputs);
    }
});
