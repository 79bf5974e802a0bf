//! No panic on any input: the framing decoder, X.509 extraction and the
//! chunk decoder meet arbitrary and mutated bytes (proptest).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pipeline::cert_record::{extract, ExtractOptions};
use pipeline::ct_leaf;
use pipeline::decode::decode_chunk;
use pipeline::dump::tiles::TileCoord;
use pipeline::dump::{Chunk, InputFile, Layout};
use proptest::prelude::*;

use crate::fixtures::data_dir;

fn real_leaf_and_extra() -> (Vec<u8>, Vec<u8>) {
    let path =
        data_dir().join("real/ct-entries/scrape-ct-log_x509-crtsh-2022_precert-test-2018.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let e = &v["entries"][1]; // the precert entry
    (
        STANDARD.decode(e["leaf_input"].as_str().unwrap()).unwrap(),
        STANDARD.decode(e["extra_data"].as_str().unwrap()).unwrap(),
    )
}

fn input_file(layout: Layout) -> Arc<InputFile> {
    Arc::new(InputFile {
        path: "fuzz".into(),
        name: Arc::from("fuzz"),
        log: Arc::from("fuzz"),
        size: 0,
        mtime_ns: 0,
        sha256: Arc::default(),
        layout,
        start_index: Some(0),
        issuers: None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn framing_never_panics(leaf in proptest::collection::vec(any::<u8>(), 0..300),
                            extra in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(entry) = ct_leaf::decode(&leaf, &extra) {
            let _ = extract(0, &entry, ExtractOptions::default());
        }
    }

    #[test]
    fn mutated_real_entries_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                        cut in any::<prop::sample::Index>()) {
        let (mut leaf, extra) = real_leaf_and_extra();
        for (at, byte) in flips {
            let i = at.index(leaf.len());
            leaf[i] = byte;
        }
        let cut = cut.index(leaf.len() + 1);
        if let Ok(entry) = ct_leaf::decode(&leaf[..cut], &extra) {
            let rec = extract(0, &entry, ExtractOptions { keep_der: true });
            prop_assert_eq!(rec.entry_index, 0);
        }
    }

    #[test]
    fn chunks_of_garbage_never_panic_and_account(data in proptest::collection::vec(any::<u8>(), 0..400),
                                                 page in any::<bool>()) {
        let file = input_file(if page { Layout::Page } else { Layout::Lines });
        let chunk = if page {
            Chunk::Page { file, data, read_error: None }
        } else {
            Chunk::Lines { file, data, first_line: 1, first_byte: 0 }
        };
        let out = decode_chunk(chunk, ExtractOptions::default());
        prop_assert_eq!(out.entries(), (out.certs.len() + out.rejects.len()) as u64);
    }

    #[test]
    fn tiles_of_garbage_never_panic_and_stay_in_their_range(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        n in 0u64..1000,
        width in 1u16..=256,
    ) {
        let coord = TileCoord { n, width };
        let chunk = Chunk::Tile {
            file: input_file(Layout::Tile(coord)),
            data,
            coord,
            member: None,
            read_error: None,
        };
        let out = decode_chunk(chunk, ExtractOptions::default());
        // At most one row per slot of the tile, plus one reject for the rest.
        prop_assert!(out.entries() <= u64::from(width) + 1);
        let range = coord.start_index() as i64..=(coord.start_index() + u64::from(width)) as i64;
        for c in &out.certs {
            prop_assert!(range.contains(&c.entry_index));
        }
        for r in &out.rejects {
            prop_assert!(r.entry_index.is_some_and(|i| range.contains(&i)));
        }
    }
}

/// Cases that once mattered, kept as plain tests.
#[test]
fn found_cases() {
    // A u24 length of 0xffffff with two bytes behind it.
    let leaf = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 1, 2];
    assert!(ct_leaf::decode(&leaf, &[0, 0, 0]).is_err());
    // A page that is only an opening brace.
    let out = decode_chunk(
        Chunk::Page {
            file: input_file(Layout::Page),
            data: b"{".to_vec(),
            read_error: None,
        },
        ExtractOptions::default(),
    );
    assert_eq!(out.rejects.len(), 1);
}
