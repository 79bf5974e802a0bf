//! Certificate extraction from arbitrary DER, as a final certificate and as
//! a precertificate's TBSCertificate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ct::leaf::{Chain, EntryKind, LogEntry};
use pipeline::x509::cert_record::{extract, ExtractOptions};

fuzz_target!(|data: &[u8]| {
    let x509 = LogEntry {
        timestamp_ms: 1,
        kind: EntryKind::X509 { cert: data },
        extensions: &[],
        chain: Chain::Certs(vec![data]),
    };
    let rec = extract(1, &x509, ExtractOptions::default());
    assert_eq!(rec.entry_index, 1);
    let precert = LogEntry {
        timestamp_ms: 1,
        kind: EntryKind::Precert {
            issuer_key_hash: [0; 32],
            tbs: data,
            pre_certificate: data,
        },
        extensions: &[],
        chain: Chain::Certs(Vec::new()),
    };
    let rec = extract(2, &precert, ExtractOptions { keep_der: true });
    assert_eq!(rec.entry_index, 2);
});
