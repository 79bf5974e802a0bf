//! Arbitrary bytes read as a certificate file (PEM blocks, else one DER certificate), streamed and decoded as ingest does:
//! no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ingest::Layout;

mod common;

fuzz_target!(|data: &[u8]| {
    common::read(data, Layout::Certs);
});
