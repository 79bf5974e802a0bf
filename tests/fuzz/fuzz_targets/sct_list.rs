//! The embedded SCT list extension's value, as certificate extraction reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scts) = pipeline::x509::cert_record::sct_list(data) {
        for (_, ms) in scts {
            assert!(ms >= 0 && ms as u64 <= pipeline::ct::leaf::MAX_TIMESTAMP_MS);
        }
    }
});
