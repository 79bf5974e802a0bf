//! No panic on any input: the framing decoder, X.509 extraction and the
//! chunk decoder meet arbitrary and mutated bytes (proptest).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pipeline::ct::tile::TileCoord;
use pipeline::ct::{encode, leaf};
use pipeline::ingest::decode::decode_chunk;
use pipeline::ingest::{Chunk, ChunkReader, InputFile, Layout};
use pipeline::x509::cert_record::{extract, ExtractOptions};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sha2::{Digest, Sha256};
use std::sync::atomic::AtomicU64;

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
    Arc::new(InputFile::detached(std::path::Path::new("fuzz"), layout))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes: either a framing error naming the field, or an entry
    /// that encodes back to exactly the same bytes (the framing is
    /// canonical), whose certs row hashes the entry's own certificate.
    #[test]
    fn framing_is_exact_or_a_named_error(leaf in proptest::collection::vec(any::<u8>(), 0..300),
                                         extra in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_framing(&leaf, &extra)?;
    }

    /// A real precert entry with bytes flipped, and cut short: the same;
    /// the unflipped leaf cut short is always an error.
    #[test]
    fn mutated_real_entries_are_exact_or_a_named_error(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (real, extra) = real_leaf_and_extra();
        let cut = cut.index(real.len());
        // The real leaf cut short never decodes (its lengths say more follows).
        prop_assert!(!check_framing(&real[..cut], &extra)?, "cut at {} decoded", cut);
        let mut leaf = real.clone();
        for (at, byte) in flips {
            let i = at.index(leaf.len());
            leaf[i] = byte;
        }
        check_framing(&leaf, &extra)?;
        check_framing(&leaf[..cut], &extra)?;
    }

    #[test]
    fn garbage_files_never_panic_and_every_entry_is_accounted_for(
        data in proptest::collection::vec(any::<u8>(), 0..400),
        page in any::<bool>(),
    ) {
        let layout = if page { Layout::Page } else { Layout::LINES };
        let outputs = read_and_decode(&data, layout);
        let certs: usize = outputs.iter().map(|o| o.cert_rows()).sum();
        let rejects: Vec<_> = outputs.iter().flat_map(|o| &o.rejects).collect();
        if page {
            // Each element is a row or a reject at its ordinal, in order;
            // a page that breaks off adds one reject for the rest.
            let mut ordinals = Vec::new();
            let mut tails = 0;
            for r in &rejects {
                match r.position {
                    pipeline::ingest::reject::Position::Entry { ordinal } => ordinals.push(ordinal),
                    _ => tails += 1,
                }
            }
            prop_assert!(tails <= 1);
            prop_assert!(ordinals.windows(2).all(|w| w[0] < w[1]));
            let valid = serde_json::from_slice::<serde_json::Value>(&data)
                .ok()
                .is_some_and(|v| v.get("entries").is_some_and(|e| e.is_array()));
            if !valid {
                prop_assert_eq!(tails, 1, "an invalid page ends with one reject");
            }
        } else if pipeline::ingest::compression::Compression::detect(&data)
            != pipeline::ingest::compression::Compression::None
        {
            // Garbage behind a gzip or zstd magic: read as compressed, it
            // ends in one io reject for what could not be decompressed.
            prop_assert!(rejects.iter().any(|r| r.kind == pipeline::ingest::reject::RejectKind::Io));
        } else {
            // One outcome per non-blank line.
            let lines = data
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .count();
            prop_assert_eq!(certs + rejects.len(), lines);
        }
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
        for index in out.entry_indices() {
            prop_assert!(range.contains(&index));
        }
        for r in &out.rejects {
            prop_assert!(r.entry_index.is_some_and(|i| range.contains(&i)));
        }
    }
}

/// Decodes `leaf` and `extra`; an entry must encode back to the same bytes
/// and give a row for index 0 hashing its certificate, an error must name
/// what it found wrong. Returns whether the entry decoded.
fn check_framing(leaf: &[u8], extra: &[u8]) -> Result<bool, TestCaseError> {
    match leaf::decode(leaf, extra) {
        Ok(entry) => {
            prop_assert_eq!(encode::merkle_tree_leaf(&entry), leaf);
            prop_assert_eq!(encode::extra_data(&entry), extra);
            let rec = extract(0, &entry, ExtractOptions::default());
            let cert = match &entry.kind {
                leaf::EntryKind::X509 { cert } => *cert,
                leaf::EntryKind::Precert {
                    pre_certificate, ..
                } => *pre_certificate,
            };
            prop_assert_eq!(rec.entry_index, 0);
            prop_assert_eq!(rec.cert_sha256, <[u8; 32]>::from(Sha256::digest(cert)));
            prop_assert_eq!(rec.entry_timestamp_ms as u64, entry.timestamp_ms);
            Ok(true)
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            Ok(false)
        }
    }
}

/// Cases that once mattered, kept as plain tests.
#[test]
fn found_cases() {
    // A u24 length of 0xffffff with two bytes behind it.
    let leaf = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 1, 2];
    assert!(leaf::decode(&leaf, &[0, 0, 0]).is_err());
    // A page that is only an opening brace.
    let outputs = read_and_decode(b"{", Layout::Page);
    let rejects: Vec<_> = outputs.iter().flat_map(|o| &o.rejects).collect();
    assert_eq!(rejects.len(), 1);
    assert!(rejects[0].reason.contains("EOF"), "{}", rejects[0].reason);
}

/// Writes `data` to a file and reads it as ingest does: chunks, then decoding.
fn read_and_decode(data: &[u8], layout: Layout) -> Vec<pipeline::ingest::decode::ChunkOutput> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, data).unwrap();
    let mut file = (*input_file(layout)).clone();
    file.path = path;
    let reader = ChunkReader::new(vec![file], Arc::new(AtomicU64::new(0)));
    reader
        .map(|chunk| decode_chunk(chunk, ExtractOptions::default()))
        .collect()
}
