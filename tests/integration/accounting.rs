//! Every entry read becomes exactly one `certs` row or one `rejects` row:
//! planted garbage, truncations, compression, layouts and index rules.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pipeline::ingest::{ingest, IngestOptions};
use pipeline::notes::Silent;
use serde_json::{json, Value};

use crate::fixtures::{
    data_dir, ingest_with, json_entry, read_table, rows, run_ingest, write_page,
};

/// The four real Pilot entries, as JSON objects.
fn real_entries() -> Vec<Value> {
    let path = data_dir().join("real/ct-entries/pilot_2013_4x509_ct-go-scanner-FourEntries.json");
    let v: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    v["entries"].as_array().unwrap().clone()
}

fn leaf_bytes(entry: &Value) -> Vec<u8> {
    STANDARD
        .decode(entry["leaf_input"].as_str().unwrap())
        .unwrap()
}

fn extra_bytes(entry: &Value) -> Vec<u8> {
    STANDARD
        .decode(entry["extra_data"].as_str().unwrap())
        .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn planted_garbage_is_counted_and_explained() {
    let real = real_entries();
    let mut bad_version = leaf_bytes(&real[0]);
    bad_version[0] = 1;
    let mut bad_type = leaf_bytes(&real[0]);
    bad_type[11] = 7;
    let mut trailing = leaf_bytes(&real[0]);
    trailing.push(0);
    let entries = vec![
        real[0].clone(),                                                 // 0 ok
        json!({"leaf_input": "!!notbase64!!", "extra_data": "AAAA"}),    // 1 base64
        json!({"leaf_input": real[1]["leaf_input"]}),                    // 2 missing extra_data
        json_entry(&bad_version, &extra_bytes(&real[0])),                // 3 version
        real[1].clone(),                                                 // 4 ok
        json_entry(&bad_type, &extra_bytes(&real[0])),                   // 5 entry type
        json_entry(&trailing, &extra_bytes(&real[0])),                   // 6 trailing
        json!("not an object"),                                          // 7 json
        json_entry(&leaf_bytes(&real[2])[..40], &extra_bytes(&real[2])), // 8 truncated
        json!({"leaf_input": real[3]["leaf_input"], "extra_data": ""}),  // 9 empty extra_data
        real[3].clone(),                                                 // 10 ok
    ];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("garbage");
    write_page(&dir.join("1000-1010.json"), &entries);
    let out = tmp.path().join("out");
    let s = run_ingest(&[dir], &out, None);
    assert_eq!(s.entries_read, 11);
    assert_eq!(s.rows, 3);
    assert_eq!(s.rejects, 8);
    assert_eq!(s.entries_read, s.rows + s.rejects);

    let certs = rows(&read_table(&out, "certs", "garbage"));
    let idx: Vec<i64> = certs
        .iter()
        .map(|r| r["entry_index"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, vec![1000, 1004, 1010]);

    let rejects = rows(&read_table(&out, "rejects", "garbage"));
    let summary: Vec<(i64, String, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["entry_index"].as_i64().unwrap(),
                r["kind"].as_str().unwrap().to_owned(),
                r["position"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        (1001, "base64", "entry 1"),
        (1002, "missing_field", "entry 2"),
        (1003, "framing", "entry 3"),
        (1005, "framing", "entry 5"),
        (1006, "framing", "entry 6"),
        (1007, "json", "entry 7"),
        (1008, "framing", "entry 8"),
        (1009, "framing", "entry 9"),
    ];
    assert_eq!(
        summary,
        want.iter()
            .map(|(i, k, p)| (*i, k.to_string(), p.to_string()))
            .collect::<Vec<_>>()
    );
    let reasons: Vec<&str> = rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[1].contains("extra_data is missing"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("unknown MerkleTreeLeaf version 1"),
        "{}",
        reasons[2]
    );
    assert!(
        reasons[3].contains("unknown entry_type 7"),
        "{}",
        reasons[3]
    );
    assert!(
        reasons[4].contains("1 trailing bytes after MerkleTreeLeaf"),
        "{}",
        reasons[4]
    );
    assert!(
        reasons[6].contains("truncated reading x509_entry certificate"),
        "{}",
        reasons[6]
    );
    assert!(rejects.iter().all(|r| r["source_file"]
        .as_str()
        .unwrap()
        .ends_with("1000-1010.json")));
}

#[test]
fn every_truncation_of_a_real_leaf_is_a_clean_reject() {
    let real = real_entries();
    let leaf = leaf_bytes(&real[3]);
    let extra = extra_bytes(&real[3]);
    let mut entries: Vec<Value> = (0..leaf.len())
        .map(|cut| json_entry(&leaf[..cut], &extra))
        .collect();
    entries.extend((0..extra.len()).map(|cut| json_entry(&leaf, &extra[..cut])));
    let n = entries.len() as u64;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cuts");
    write_page(&dir.join(format!("0-{}.json", n - 1)), &entries);
    let out = tmp.path().join("out");
    let s = run_ingest(&[dir], &out, None);
    assert_eq!(s.entries_read, n);
    assert_eq!(s.rows, 0);
    assert_eq!(s.rejects, n);
    let rejects = rows(&read_table(&out, "rejects", "cuts"));
    assert!(rejects.iter().all(|r| r["kind"] == "framing"));
}

fn lines_dump(entries: &[Value]) -> Vec<u8> {
    let mut text = String::new();
    for (i, e) in entries.iter().enumerate() {
        let mut obj = e.clone();
        obj["index"] = json!(500 + i);
        text.push_str(&obj.to_string());
        text.push('\n');
        if i == 1 {
            text.push_str("\n   \n"); // blank lines are not entries
            text.push_str("{\"index\": 9, \"leaf_input\": \n"); // broken line
        }
    }
    text.push_str("{\"leaf_input\":\"AA==\",\"extra_data\":\"AA==\"}\n"); // no index
    text.into_bytes()
}

#[test]
fn json_lines_plain_gzip_and_zstd_give_the_same_rows() {
    let real = real_entries();
    let plain = lines_dump(&real);
    let tmp = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    // The .json name hides the compression: it is detected from the content.
    for (name, bytes) in [
        ("plain.jsonl", plain.clone()),
        ("gz.jsonl.gz", gzip(&plain)),
        ("zst.jsonl.zst", zstd::encode_all(&plain[..], 3).unwrap()),
        ("sneaky.jsonl", gzip(&plain)),
    ] {
        let dir = tmp.path().join(name.replace('.', "_"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
        let out = tmp.path().join(format!("out-{name}"));
        let s = run_ingest(std::slice::from_ref(&dir), &out, Some("lines"));
        assert_eq!((s.entries_read, s.rows, s.rejects), (6, 4, 2), "{name}");
        let mut certs = rows(&read_table(&out, "certs", "lines"));
        for r in &mut certs {
            r.remove("parse_error");
        }
        let rejects = rows(&read_table(&out, "rejects", "lines"));
        assert_eq!(rejects[0]["kind"], "json");
        assert_eq!(rejects[0]["line"], 5);
        assert_eq!(rejects[1]["kind"], "index");
        assert_eq!(rejects[1]["line"], 8);
        results.push(certs);
    }
    let idx: Vec<i64> = results[0]
        .iter()
        .map(|r| r["entry_index"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, vec![500, 501, 502, 503]);
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn truncated_gzip_page_keeps_what_was_readable_and_says_where() {
    let real = real_entries();
    let page = json!({ "entries": real }).to_string();
    let gz = gzip(page.as_bytes());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("trunc");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("40-43.json.gz"), &gz[..gz.len() * 3 / 4]).unwrap();
    let out = tmp.path().join("out");
    let s = run_ingest(&[dir], &out, None);
    assert_eq!(s.unreadable, 1);
    assert_eq!(s.entries_read, s.rows + s.rejects);
    assert!(s.rows >= 1 && s.rows < 4, "rows {}", s.rows);
    let rejects = rows(&read_table(&out, "rejects", "trunc"));
    let last = rejects.last().unwrap();
    assert_eq!(last["kind"], "io");
    assert_eq!(last["entry_index"].as_i64().unwrap(), 40 + s.rows as i64);
    assert!(last["reason"]
        .as_str()
        .unwrap()
        .contains("could not be read"));
}

#[test]
fn corrupt_zstd_lines_report_the_byte_offset() {
    let real = real_entries();
    let plain = lines_dump(&real);
    let mut z = zstd::encode_all(&plain[..], 3).unwrap();
    let mid = z.len() / 2;
    for b in &mut z[mid..] {
        *b ^= 0x5a;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corrupt");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("a.jsonl.zst"), z).unwrap();
    let out = tmp.path().join("out");
    let s = run_ingest(&[dir], &out, None);
    assert_eq!(s.unreadable, 1);
    assert_eq!(s.entries_read, s.rows + s.rejects);
    let rejects = rows(&read_table(&out, "rejects", "corrupt"));
    let io: Vec<_> = rejects.iter().filter(|r| r["kind"] == "io").collect();
    assert_eq!(io.len(), 1);
    assert!(io[0]["position"].as_str().unwrap().starts_with("byte "));
}

#[test]
fn short_pages_follow_their_start_and_unnamed_pages_need_start_index() {
    let real = real_entries();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("short");
    // The log capped the page at 4 entries although 1000 were asked for.
    write_page(&dir.join("2000-2999.json"), &real);
    let out = tmp.path().join("out");
    let s = run_ingest(&[dir], &out, None);
    assert_eq!(s.rows, 4);
    let idx: Vec<i64> = rows(&read_table(&out, "certs", "short"))
        .iter()
        .map(|r| r["entry_index"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, vec![2000, 2001, 2002, 2003]);

    let unnamed = tmp.path().join("unnamed");
    write_page(&unnamed.join("page.json"), &real);
    let opts = |start: Option<u64>| IngestOptions {
        inputs: vec![unnamed.clone()],
        out: tmp.path().join("out2"),
        start_index: start,
        ..IngestOptions::default()
    };
    let err = ingest(&opts(None), &Silent).unwrap_err().to_string();
    assert!(
        err.contains("page.json") && err.contains("--start-index"),
        "{err}"
    );
    let s = ingest(&opts(Some(77)), &Silent).unwrap();
    assert_eq!(s.rows, 4);
    let idx: Vec<i64> = rows(&read_table(&tmp.path().join("out2"), "certs", "unnamed"))
        .iter()
        .map(|r| r["entry_index"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, vec![77, 78, 79, 80]);
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn output_is_hive_partitioned_complete_and_independent_of_threads() {
    let src = data_dir().join("wrapped/real-certs");
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    ingest_with(std::slice::from_ref(&src), &one, Some("argon"), Some(1));
    ingest_with(&[src], &two, Some("argon"), Some(2));
    let a = rows(&read_table(&one, "certs", "argon"));
    let b = rows(&read_table(&two, "certs", "argon"));
    assert!(a.len() > 200);
    assert_eq!(a, b);
    for f in files_under(&one) {
        let rel = f.strip_prefix(&one).unwrap().to_string_lossy().into_owned();
        assert!(
            (rel.starts_with("certs/log=argon/part-") && rel.ends_with(".parquet"))
                || rel == "manifest.parquet"
                || rel == ".lock",
            "unexpected file {rel}"
        );
    }
}

#[test]
fn keep_der_stores_the_certificate_bytes() {
    let real = real_entries();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("der");
    write_page(&dir.join("0-3.json"), &real);
    let out = tmp.path().join("out");
    ingest(
        &IngestOptions {
            inputs: vec![dir],
            out: out.clone(),
            keep_der: true,
            ..IngestOptions::default()
        },
        &Silent,
    )
    .unwrap();
    let certs = rows(&read_table(&out, "certs", "der"));
    let leaf = leaf_bytes(&real[0]);
    // x509_entry: 12 bytes of header, a u24 length, then the certificate.
    let len = ((leaf[12] as usize) << 16) | ((leaf[13] as usize) << 8) | leaf[14] as usize;
    assert_eq!(certs[0]["der"], hex::encode(&leaf[15..15 + len]));
    let without = tmp.path().join("out-plain");
    run_ingest(&[tmp.path().join("der")], &without, None);
    assert!(!rows(&read_table(&without, "certs", "der"))[0].contains_key("der"));
}

#[test]
fn notes_of_a_run_come_back_as_data_with_escaped_names() {
    let real = real_entries();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("argon");
    write_page(&dir.join("0-3.json"), &real);
    // A file that is not a dump, its name holding an escape sequence.
    fs::write(dir.join("notes\x1b[2J.txt"), "hello").unwrap();
    let notes = pipeline::notes::Collect::default();
    let s = ingest(
        &IngestOptions {
            inputs: vec![dir.clone()],
            out: tmp.path().join("out"),
            ..IngestOptions::default()
        },
        &notes,
    )
    .unwrap();
    assert_eq!((s.rows, s.skipped_files), (4, 1));
    let notes = notes.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].level, pipeline::notes::Level::Info);
    let shown = format!(
        "skipped (not a dump, tile, tile archive or certificate file): {}/notes\\x1b[2J.txt",
        dir.display()
    );
    assert_eq!(notes[0].text, shown);
}
