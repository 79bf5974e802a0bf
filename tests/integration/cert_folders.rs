//! Folders of PEM and DER certificates (no log): the real certificates of
//! tests/data/real/x509, read straight from their files, give the rows that
//! the same certificates give as get-entries entries (wrapped/real-certs).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::Digest as _;

use crate::fixtures::{data_dir, json_lines, pipeline_ok, read_table, rows};

/// Columns a log gives and a file cannot: where and when it was logged, the
/// submitted chain, the precert's issuer key hash.
const LOG_ONLY: &[&str] = &[
    "entry_index",
    "entry_timestamp",
    "chain_sha256",
    "issuer_key_hash",
];

fn by_cert(rows: Vec<Map<String, Value>>) -> BTreeMap<String, Map<String, Value>> {
    rows.into_iter()
        .map(|mut r| {
            for c in LOG_ONLY {
                r.remove(*c);
            }
            // Where a file's row came from; a log entry has its log and index.
            r.remove("source_file");
            (r["cert_sha256"].as_str().unwrap().to_owned(), r)
        })
        .collect()
}

#[test]
fn a_folder_of_pem_and_der_files_gives_the_rows_of_the_same_certificates_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let x509 = data_dir().join("real/x509");
    let out = pipeline_ok(
        &[
            "ingest",
            "--progress",
            "quiet",
            "--json",
            "--out",
            "files",
            x509.to_str().unwrap(),
        ],
        dir,
    );
    let s = json_lines(&out.stdout).remove(0);
    assert_eq!(s["rejects"].as_u64(), Some(0), "{s}");
    let stored = rows(&read_table(&dir.join("files"), "certs", "x509"));
    assert_eq!(s["rows"].as_u64(), Some(stored.len() as u64));
    // Entry indices are 0..n, in file-name order.
    let mut idx: Vec<i64> = stored
        .iter()
        .map(|r| r["entry_index"].as_i64().unwrap())
        .collect();
    idx.sort();
    assert_eq!(idx, (0..stored.len() as i64).collect::<Vec<_>>());
    // Precertificates are told by their poison extension.
    let precerts = stored
        .iter()
        .filter(|r| r["entry_type"] == "precert")
        .count();
    assert!(precerts >= 5, "{precerts}");
    // Each row names the file it was read from: a certificate in that file
    // has the row's SHA-256.
    for r in &stored {
        let file = std::path::PathBuf::from(r["source_file"].as_str().unwrap());
        assert!(file.starts_with(&x509), "{file:?}");
        let sha = r["cert_sha256"].as_str().unwrap();
        assert!(
            file_certificates(&file)
                .iter()
                .any(|der| hex::encode(sha2::Sha256::digest(der)) == sha),
            "{file:?} holds no certificate {sha}"
        );
    }
    // No log timestamp: notBefore stands in.
    for r in &stored {
        if !r["not_before"].is_null() {
            assert_eq!(r["entry_timestamp"], r["not_before"]);
        }
    }

    pipeline_ok(
        &[
            "ingest",
            "--progress",
            "quiet",
            "--out",
            "logged",
            "--log",
            "x509",
            data_dir().join("wrapped/real-certs").to_str().unwrap(),
        ],
        dir,
    );
    let logged_rows = rows(&read_table(&dir.join("logged"), "certs", "x509"));
    assert!(logged_rows.iter().all(|r| r["source_file"].is_null()));
    let logged = by_cert(logged_rows);
    let files = by_cert(stored);
    let common: Vec<&String> = files.keys().filter(|k| logged.contains_key(*k)).collect();
    assert!(common.len() >= 185, "{} certificates in both", common.len());
    for k in common {
        assert_eq!(files[k], logged[k], "certificate {k}");
    }
}

/// The DER certificates of a PEM or DER file.
fn file_certificates(path: &std::path::Path) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN") {
        return vec![bytes];
    }
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") {
            body = Some(String::new());
        } else if line.starts_with("-----END") {
            if let Some(b) = body.take() {
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b) {
                    out.push(der);
                }
            }
        } else if let Some(b) = &mut body {
            b.push_str(line);
        }
    }
    out
}

/// The certificate of each entry of a get-entries page: the x509 entry's
/// certificate or the precert entry's pre_certificate.
fn page_certificates(page: &std::path::Path) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let u24 = |b: &[u8]| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]);
    let page: Value = serde_json::from_slice(&std::fs::read(page).unwrap()).unwrap();
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (leaf, extra) = (b64(&e["leaf_input"]), b64(&e["extra_data"]));
            if leaf[11] == 0 {
                leaf[15..15 + u24(&leaf[12..])].to_vec()
            } else {
                extra[3..3 + u24(&extra)].to_vec()
            }
        })
        .collect()
}

#[test]
fn an_axeman_csv_gives_the_rows_of_the_same_certificates_logged() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let page = data_dir().join("wrapped/real-certs/0-216.json");
    let mut csv = String::new();
    for (i, der) in page_certificates(&page).iter().enumerate() {
        csv.push_str(&format!(
            "ct.googleapis.com/logs/argon2018/,{},{},{},\"a.example b.example\",1500000000.0,1600000000.0\n",
            1000 + i,
            "00".repeat(32),
            base64::engine::general_purpose::STANDARD.encode(der)
        ));
    }
    csv.push_str("ct.googleapis.com/logs/argon2018/,oops,x,AAAA,,,\n");
    std::fs::create_dir_all(dir.join("axeman")).unwrap();
    std::fs::write(dir.join("axeman/1000-1217.csv"), csv).unwrap();
    let out = pipeline_ok(
        &[
            "ingest",
            "--progress",
            "quiet",
            "--json",
            "--out",
            "csv",
            "axeman/1000-1217.csv",
        ],
        dir,
    );
    let s = json_lines(&out.stdout).remove(0);
    assert_eq!(s["rows"].as_u64(), Some(217), "{s}");
    assert_eq!(s["rejects"].as_u64(), Some(1), "the row without an index");
    // The log is named by the rows' URL.
    let stored = rows(&read_table(
        &dir.join("csv"),
        "certs",
        "ct.googleapis.com_logs_argon2018",
    ));
    assert_eq!(stored.len(), 217);
    assert_eq!(stored[0]["entry_index"], 1000);
    pipeline_ok(
        &[
            "ingest",
            "--progress",
            "quiet",
            "--out",
            "logged",
            "--log",
            "x509",
            page.parent().unwrap().to_str().unwrap(),
        ],
        dir,
    );
    let logged = by_cert(rows(&read_table(&dir.join("logged"), "certs", "x509")));
    let from_csv = by_cert(stored);
    assert_eq!(from_csv.len(), logged.len());
    assert_eq!(from_csv, logged);
}
