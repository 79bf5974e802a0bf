//! static-ct-api data tiles and ct-archive zips, built here from real
//! entries: the 217 real certificates of wrapped/real-certs (x509 and
//! precert entries, with chains), twice over. Each entry is re-encoded as a
//! TileLeaf by this file's own encoder, so the same certificates are read
//! from get-entries and from tiles and must give the same rows.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::fixtures::{data_dir, json_lines, pipeline_ok, read_table, rows};

/// One get-entries entry: (leaf_input, extra_data) bytes.
type Entry = (Vec<u8>, Vec<u8>);

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// The real entries, twice (434 entries: a full tile and a partial one).
fn real_entries() -> Vec<Entry> {
    let page: Value = serde_json::from_slice(
        &fs::read(data_dir().join("wrapped/real-certs/0-216.json")).unwrap(),
    )
    .unwrap();
    let once: Vec<Entry> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                b64(e["leaf_input"].as_str().unwrap()),
                b64(e["extra_data"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(once.len(), 217);
    once.iter().chain(&once).cloned().collect()
}

fn read_u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

/// Splits a `<u24>` list of `<u24>` certificates.
fn cert_list(list: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < list.len() {
        let n = read_u24(&list[at..]);
        out.push(list[at + 3..at + 3 + n].to_vec());
        at += 3 + n;
    }
    out
}

/// Re-encodes an RFC 6962 entry as a TileLeaf, with a leaf_index extension
/// when `leaf_index` is given; returns it and the chain certificates.
fn tile_leaf(entry: &Entry, leaf_index: Option<u64>) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (leaf, extra) = entry;
    assert_eq!(&leaf[..2], &[0, 0], "v1 timestamped_entry");
    let timestamped = &leaf[2..];
    assert_eq!(
        &timestamped[timestamped.len() - 2..],
        &[0, 0],
        "no extensions"
    );
    let mut out = timestamped[..timestamped.len() - 2].to_vec();
    match leaf_index {
        Some(i) => {
            out.extend_from_slice(&[0, 8, 0, 0, 5]);
            out.extend_from_slice(&i.to_be_bytes()[3..]);
        }
        None => out.extend_from_slice(&[0, 0]),
    }
    let is_precert = timestamped[9] == 1;
    let chain_list = if is_precert {
        let n = read_u24(extra);
        out.extend_from_slice(&extra[..3 + n]); // pre_certificate<u24>
        &extra[3 + n..]
    } else {
        &extra[..]
    };
    let chain = cert_list(&chain_list[3..3 + read_u24(chain_list)]);
    out.extend_from_slice(&((chain.len() * 32) as u16).to_be_bytes());
    for c in &chain {
        out.extend_from_slice(&Sha256::digest(c));
    }
    (out, chain)
}

/// Writes a tile of `entries` (the first at index `start`) to `path`.
fn write_tile(path: &Path, entries: &[Entry], start: u64, with_index: bool) -> Vec<Vec<u8>> {
    let mut data = Vec::new();
    let mut issuers = Vec::new();
    for (k, e) in entries.iter().enumerate() {
        let (leaf, chain) = tile_leaf(e, with_index.then_some(start + k as u64));
        data.extend(leaf);
        issuers.extend(chain);
    }
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
    issuers
}

fn gzip_in_place(path: &Path) {
    let raw = fs::read(path).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).unwrap();
    fs::write(path, enc.finish().unwrap()).unwrap();
}

fn write_issuers(root: &Path, certs: &[Vec<u8>]) -> usize {
    let dir = root.join("issuer");
    fs::create_dir_all(&dir).unwrap();
    for c in certs {
        fs::write(dir.join(hex::encode(Sha256::digest(c))), c).unwrap();
    }
    fs::read_dir(&dir).unwrap().count()
}

/// The tiled log: full tile 000 (with leaf_index), a partial tile 000.p/100
/// it supersedes, and the gzip partial tile 001.p/178 (without leaf_index,
/// as archives of RFC 6962 logs are). Returns the issuer certificates.
fn tiled_log(root: &Path, entries: &[Entry]) -> Vec<Vec<u8>> {
    let data = root.join("tile/data");
    let mut issuers = write_tile(&data.join("000"), &entries[..256], 0, true);
    write_tile(&data.join("000.p/100"), &entries[..100], 0, true);
    issuers.extend(write_tile(
        &data.join("001.p/178"),
        &entries[256..],
        256,
        false,
    ));
    gzip_in_place(&data.join("001.p/178"));
    // Merkle hash tiles are not entries.
    fs::create_dir_all(root.join("tile/0")).unwrap();
    fs::write(root.join("tile/0/000"), [0u8; 8192]).unwrap();
    fs::write(
        root.join("checkpoint"),
        "ct.example.com/tiles2026\n434\nAAAA\n",
    )
    .unwrap();
    issuers
}

/// A get-entries page of the same entries: the reference.
fn page(path: &Path, entries: &[Entry]) {
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let list: Vec<Value> = entries
        .iter()
        .map(|(l, x)| serde_json::json!({"leaf_input": enc(l), "extra_data": enc(x)}))
        .collect();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        path,
        serde_json::to_vec(&serde_json::json!({ "entries": list })).unwrap(),
    )
    .unwrap();
}

fn ingest_json(dir: &Path, args: &[&str]) -> (Value, String) {
    let mut all = vec!["ingest", "--progress", "quiet", "--json"];
    all.extend_from_slice(args);
    let out = pipeline_ok(&all, dir);
    (
        json_lines(&out.stdout).remove(0),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn certs(out: &Path, log: &str) -> Vec<Map<String, Value>> {
    rows(&read_table(out, "certs", log))
}

#[test]
fn tiles_give_the_rows_get_entries_gives_for_the_same_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let entries = real_entries();
    page(&dir.join("pages/0-433.json"), &entries);
    let issuers = tiled_log(&dir.join("tiles"), &entries);
    let n_issuers = write_issuers(&dir.join("tiles"), &issuers);
    assert!(n_issuers > 3, "the real chains name several issuers");

    let (reference, _) = ingest_json(dir, &["--out", "ref", "--log", "L", "pages"]);
    let (tiles, stderr) = ingest_json(dir, &["--out", "out", "--log", "L", "tiles"]);
    assert_eq!(reference["rows"].as_u64(), Some(434));
    assert_eq!(tiles["files"].as_u64(), Some(2), "{tiles}");
    assert_eq!(tiles["rows"], reference["rows"]);
    assert_eq!(tiles["rejects"].as_u64(), Some(0), "{stderr}");
    assert_eq!(tiles["missing_issuers"].as_u64(), Some(0), "{stderr}");
    assert_eq!(
        tiles["skipped_files"].as_u64(),
        Some(1),
        "the superseded partial"
    );
    assert!(stderr.contains("000.p/100"), "{stderr}");
    let want = certs(&dir.join("ref"), "L");
    let got = certs(&dir.join("out"), "L");
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "entry {}", w["entry_index"]);
    }
    let precerts = got.iter().filter(|r| r["entry_type"] == "precert").count();
    assert!(precerts > 0, "precert TileLeafs were read");

    // The same entries as zstd NDJSON keyed `i` (not `index`), out of order.
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut lines = Vec::new();
    for (i, (l, x)) in entries.iter().enumerate().rev() {
        let line = serde_json::json!({"i": i, "leaf_input": enc(l), "extra_data": enc(x)});
        lines.extend(serde_json::to_vec(&line).unwrap());
        lines.push(b'\n');
    }
    fs::create_dir_all(dir.join("ndjson")).unwrap();
    fs::write(
        dir.join("ndjson/entries.ndjson.zst"),
        zstd::encode_all(&lines[..], 3).unwrap(),
    )
    .unwrap();
    let (nd, stderr) = ingest_json(dir, &["--out", "nd", "--log", "L", "ndjson"]);
    assert_eq!(nd["rows"].as_u64(), Some(434), "{stderr}");
    let mut from_lines = certs(&dir.join("nd"), "L");
    from_lines.sort_by_key(|r| r["entry_index"].as_i64());
    assert_eq!(from_lines, want);

    // Embedded SCTs name their logs through the log list.
    let named = json_lines(
        &pipeline_ok(
            &[
                "query",
                "--data",
                "out",
                "--format",
                "json",
                "SELECT l.description, count(*) AS n
                 FROM (SELECT unnest(sct_log_ids) AS id FROM certs) s
                 JOIN ct_logs l ON l.log_id = s.id GROUP BY 1 ORDER BY 1",
            ],
            dir,
        )
        .stdout,
    );
    assert!(
        named
            .iter()
            .any(|r| r["description"] == "Google 'Pilot' log"),
        "{named:?}"
    );

    // The same tiles in a ct-archive zip, read in place; the log's name
    // comes from its checkpoint.
    let zip_path = dir.join("archive/000.zip");
    fs::create_dir_all(zip_path.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let root = dir.join("tiles");
    let mut members: Vec<PathBuf> = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                members.push(e.path());
            }
        }
    }
    members.sort();
    for m in &members {
        let name = m.strip_prefix(&root).unwrap().display().to_string();
        zip.start_file(name, opts).unwrap();
        zip.write_all(&fs::read(m).unwrap()).unwrap();
    }
    zip.start_file("log.v3.json", opts).unwrap();
    zip.write_all(br#"{"description":"test","url":"https://ct.example.com/tiles2026/"}"#)
        .unwrap();
    zip.finish().unwrap();
    let (zipped, stderr) = ingest_json(dir, &["--out", "zipped", "archive/000.zip"]);
    assert_eq!(zipped["files"].as_u64(), Some(1), "{stderr}");
    assert_eq!(zipped["rows"].as_u64(), Some(434), "{zipped}");
    assert_eq!(zipped["rejects"].as_u64(), Some(0), "{stderr}");
    let got = certs(&dir.join("zipped"), "ct.example.com_tiles2026");
    assert_eq!(got, want);
    // And again: nothing new.
    let (again, _) = ingest_json(dir, &["--out", "zipped", "archive/000.zip"]);
    assert_eq!(again["files"].as_u64(), Some(0));
}

#[test]
fn a_wrong_leaf_index_a_cut_tile_and_a_missing_issuer_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let entries = real_entries();
    let root = dir.join("log");
    let data = root.join("tile/data");
    // Tile 000: entry 7 claims index 9.
    let mut bytes = Vec::new();
    let mut issuers = Vec::new();
    for (k, e) in entries[..256].iter().enumerate() {
        let claimed = if k == 7 { 9 } else { k as u64 };
        let (leaf, chain) = tile_leaf(e, Some(claimed));
        bytes.extend(leaf);
        issuers.extend(chain);
    }
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("000"), &bytes).unwrap();
    // Tile 001 (full) is cut off in its 100th entry.
    let mut cut = Vec::new();
    let mut ends = Vec::new();
    for (k, e) in entries[256..].iter().chain(&entries[..78]).enumerate() {
        let (leaf, chain) = tile_leaf(e, Some(256 + k as u64));
        cut.extend(leaf);
        ends.push(cut.len());
        issuers.extend(chain);
    }
    cut.truncate(ends[99] + 10);
    fs::write(data.join("001"), &cut).unwrap();
    let n = write_issuers(&root, &issuers);
    // One issuer file is missing.
    let mut names: Vec<PathBuf> = fs::read_dir(root.join("issuer"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    fs::remove_file(&names[0]).unwrap();
    let missing = names[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(n >= 2);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "ingest",
            "--progress",
            "quiet",
            "--json",
            "--out",
            "out",
            "log",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a cut tile is unreadable input: {stderr}"
    );
    let s = json_lines(&out.stdout).remove(0);
    // 256 + 100 entries read; entry 7 rejected; one reject for the lost rest of tile 001.
    assert_eq!(s["rows"].as_u64(), Some(255 + 100), "{s}");
    assert_eq!(s["rejects"].as_u64(), Some(2), "{s}");
    assert_eq!(s["missing_issuers"].as_u64(), Some(1), "{s}");
    assert_eq!(
        stderr.matches(&missing).count(),
        1,
        "the missing issuer is reported once: {stderr}"
    );
    let rejects = rows(&read_table(&dir.join("out"), "rejects", "log"));
    let index = rejects.iter().find(|r| r["kind"] == "index").unwrap();
    assert_eq!(index["entry_index"], 7);
    assert!(
        index["reason"]
            .as_str()
            .unwrap()
            .contains("leaf_index extension says 9"),
        "{index:?}"
    );
    let lost = rejects.iter().find(|r| r["kind"] != "index").unwrap();
    assert_eq!(lost["entry_index"], 356);
    assert!(
        lost["source_file"]
            .as_str()
            .unwrap()
            .ends_with("tile/data/001"),
        "{lost:?}"
    );
    let certs = rows(&read_table(&dir.join("out"), "certs", "log"));
    assert!(certs.iter().all(|r| r["entry_index"] != 7));
    assert_eq!(certs.last().unwrap()["entry_index"], 355);
}

#[test]
fn a_partial_tile_then_its_full_tile_store_each_entry_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let entries = real_entries();
    let data = dir.join("log/tile/data");
    let issuers = write_tile(&data.join("000.p/40"), &entries[..40], 0, true);
    write_issuers(&dir.join("log"), &issuers);
    let (night1, _) = ingest_json(dir, &["--out", "out", "log"]);
    assert_eq!(night1["rows"].as_u64(), Some(40));
    // The tile fills up; the log serves the full tile (and still the partial one).
    let issuers = write_tile(&data.join("000"), &entries[..256], 0, true);
    write_issuers(&dir.join("log"), &issuers);
    let (night2, stderr) = ingest_json(dir, &["--out", "out", "log"]);
    assert_eq!(night2["files"].as_u64(), Some(1), "{stderr}");
    assert_eq!(night2["rows"].as_u64(), Some(216));
    assert_eq!(night2["duplicates"].as_u64(), Some(40));
    assert_eq!(night2["conflicts"].as_u64(), Some(0));
    let certs = rows(&read_table(&dir.join("out"), "certs", "log"));
    assert_eq!(certs.len(), 256);
}

#[test]
fn a_tile_entry_hashes_to_its_real_merkle_leaf() {
    use pipeline::ct::leaf::tile_leaf_hash;
    use pipeline::ct::merkle::leaf_hash;
    let entries = real_entries();
    let mut tile = Vec::new();
    for e in &entries {
        tile.extend(tile_leaf(e, None).0);
    }
    let mut at = 0;
    for (leaf, _) in &entries {
        let (hash, used) = tile_leaf_hash(&tile[at..]).unwrap();
        assert_eq!(hash, leaf_hash(leaf), "entry at byte {at}");
        at += used;
    }
    assert_eq!(at, tile.len());
    // With a leaf_index extension it is another leaf.
    let (with_index, _) = tile_leaf(&entries[0], Some(0));
    assert_ne!(
        tile_leaf_hash(&with_index).unwrap().0,
        leaf_hash(&entries[0].0)
    );
    assert!(tile_leaf_hash(&tile[..10]).is_err());
}

#[test]
fn a_synthetic_tiled_log_has_a_signed_checkpoint_its_tiles_hash_to() {
    use pipeline::ct::leaf::tile_leaf_hash;
    use pipeline::ct::merkle::CompactTree;
    use pipeline::ct::tree_head::verify_checkpoint;
    use pipeline::synth::log_tree::log_key;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline_ok(
        &[
            "synth",
            "--entries",
            "3000",
            "--seed",
            "5",
            "--format",
            "tiles",
            "--out",
            "dump",
        ],
        dir,
    );
    let mut logs = 0;
    for log in fs::read_dir(dir.join("dump")).unwrap().flatten() {
        if !log.path().is_dir() {
            continue;
        }
        logs += 1;
        let name = log.file_name().to_string_lossy().into_owned();
        let note = fs::read(log.path().join("checkpoint")).unwrap();
        let head = verify_checkpoint(&note, &name, &log_key()).unwrap();
        // Every data tile, in order; the last may be partial.
        let mut tree = CompactTree::new();
        let full_tiles = head.size / 256;
        for n in 0..=full_tiles {
            let width = if n < full_tiles { 256 } else { head.size % 256 };
            if width == 0 {
                break;
            }
            let mut path = pipeline::ct::tile::tile_path(n);
            if width < 256 {
                path = format!("{path}.p/{width}");
            }
            let raw = fs::read(log.path().join("tile/data").join(path)).unwrap();
            let data = crate::fixtures::gunzip_if_gzip(raw);
            let mut at = 0;
            while at < data.len() {
                let (hash, used) = tile_leaf_hash(&data[at..]).unwrap();
                tree.push(hash);
                at += used;
            }
        }
        assert_eq!(tree.size(), head.size, "{name}");
        assert_eq!(tree.root(), head.root, "{name}");
        // The level-0 hash tiles hold the same leaf hashes.
        let level0 = fs::read(log.path().join("tile/0/000")).unwrap();
        assert_eq!(level0.len(), 256 * 32);
    }
    assert!(logs >= 1);
}
