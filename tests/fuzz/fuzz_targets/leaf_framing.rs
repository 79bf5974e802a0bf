//! RFC 6962 MerkleTreeLeaf and extra_data framing, then certificate
//! extraction: the first byte splits the input into the two.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ct::leaf;
use pipeline::x509::cert_record::{extract, ExtractOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (split as usize * rest.len()) / 255;
    let (leaf, extra) = rest.split_at(at.min(rest.len()));
    if let Ok(entry) = leaf::decode(leaf, extra) {
        let rec = extract(7, &entry, ExtractOptions { keep_der: true });
        assert_eq!(rec.entry_index, 7);
    }
});
