//! The real certificates of tests/data/real/x509 (WoSign, StartCom, precerts,
//! SCT-bearing, IDN, IP, DSA, malformed...), wrapped into one get-entries page
//! by tests/data/wrap_certs.py, which also wrote what pyca/cryptography and an
//! independent DER walker read from each (real-certs.expected.jsonl).

use std::fs;

use serde_json::{Map, Value};

use crate::fixtures::{data_dir, read_table, rows, run_ingest};

fn expected() -> Vec<Map<String, Value>> {
    fs::read_to_string(data_dir().join("wrapped/real-certs.expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ingested() -> Vec<Map<String, Value>> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let summary = run_ingest(&[data_dir().join("wrapped/real-certs")], &out, None);
    assert_eq!(summary.rejects, 0, "every wrapped certificate frames");
    rows(&read_table(&out, "certs", "real-certs"))
}

/// Columns compared with the oracle, wherever the oracle could read them.
const COLUMNS: &[&str] = &[
    "entry_index",
    "entry_type",
    "entry_timestamp",
    "cert_sha256",
    "chain_sha256",
    "serial",
    "tbs_sha256",
    "subject_cn",
    "issuer_cn",
    "issuer_org",
    "not_before",
    "not_after",
    "signature_oid",
    "san_dns",
    "san_ip",
    "is_ca",
    "sct_count",
    "sct_timestamps",
    "key_algorithm",
    "key_bits",
    "key_curve",
    "ocsp_urls",
    "ca_issuers_urls",
    "crl_urls",
];

#[test]
fn every_real_certificate_matches_the_independent_parser() {
    let want = expected();
    let got = ingested();
    assert_eq!(got.len(), want.len());
    let mut mismatches = Vec::new();
    for (g, w) in got.iter().zip(&want) {
        for col in COLUMNS {
            if let Some(v) = w.get(*col) {
                if &g[*col] != v {
                    mismatches.push(format!(
                        "{} {col}: got {} want {v} (parse_error {})",
                        w["source"], g[*col], g["parse_error"]
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn the_oracle_covers_the_oddities() {
    let want = expected();
    let count = |f: &dyn Fn(&Map<String, Value>) -> bool| want.iter().filter(|w| f(w)).count();
    assert!(want.len() > 200);
    assert!(
        count(&|w| w["entry_type"] == "precert") >= 6,
        "poisoned precerts"
    );
    assert!(count(&|w| w.get("sct_count").and_then(Value::as_i64).unwrap_or(0) > 0) >= 5);
    assert!(
        count(&|w| w
            .get("san_ip")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()))
            >= 2
    );
    assert!(
        count(&|w| w.contains_key("oracle_error")) >= 5,
        "malformed certificates"
    );
}

#[test]
fn wosign_and_precert_pairs_and_malformed_certs() {
    let got = ingested();
    let by_source: std::collections::HashMap<String, &Map<String, Value>> = expected()
        .iter()
        .zip(&got)
        .map(|(w, g)| (w["source"].as_str().unwrap().to_owned(), g))
        .collect();
    let row = |s: &str| by_source[s];

    // WoSign China root: a UTF-8 CJK name (openssl: CN = CA \E6\B2\83\E9\80\9A\E6\A0\B9\E8\AF\81\E4\B9\A6).
    let wosign_cn = row("real/x509/wosign-startcom/certifi-2016.2.28_WoSign_China.pem#0");
    assert_eq!(wosign_cn["subject_cn"], "CA 沃通根证书");
    assert_eq!(wosign_cn["is_ca"], true);
    assert_eq!(wosign_cn["signature_algorithm"], "sha256WithRSAEncryption");

    // hycom.at: WoSign leaf with two embedded SCTs (Aviator and Pilot).
    let hycom =
        row("real/x509/wosign-startcom/leaf_hycom.at_WoSign-Free-SSL-G2_2016_embedded-SCTs.pem#0");
    assert_eq!(hycom["sct_count"], 2);
    assert_eq!(hycom["issuer_cn"], "WoSign CA Free SSL Certificate G2");
    let log_ids: Vec<&str> = hycom["sct_log_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(log_ids[0].starts_with("68f698"), "Aviator: {log_ids:?}");
    assert!(log_ids[1].starts_with("a4b909"), "Pilot: {log_ids:?}");

    // A precert and its final certificate join on tbs_sha256.
    let pre = row("real/x509/ct-cpp-testdata/test-embedded-pre-cert.pem#0");
    let fin = row("real/x509/ct-cpp-testdata/test-embedded-cert.pem#0");
    assert_eq!(pre["entry_type"], "precert");
    assert_eq!(fin["entry_type"], "x509");
    assert_eq!(pre["tbs_sha256"], fin["tbs_sha256"]);
    assert_ne!(pre["cert_sha256"], fin["cert_sha256"]);

    // A cert x509-parser rejects outright still has its row, hash and reason.
    let corrupted = row("real/x509/ct-cpp-testdata/test-corrupted.pem#0");
    assert!(corrupted["cert_sha256"].is_string());
    assert!(corrupted["parse_error"].is_string(), "{corrupted:?}");

    // Negative serial: content octets as encoded.
    let neg = row("real/x509/ct-python-testdata/negative_serial.pem#0");
    assert!(neg["serial"]
        .as_str()
        .unwrap()
        .starts_with(|c: char| ('8'..='f').contains(&c)));
}
