//! Real RFC 6962 log entries (tests/data/real/ct-entries). Expected values
//! come from `openssl x509 -text` / `openssl asn1parse` on the certificates
//! inside the entries, not from this code.

use std::fs;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::fixtures::{data_dir, read_table, rows, run_ingest};

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// Ingests one real file as the page `<start>-<end>.json` of log `log`.
fn ingest_real(file: &str, start: u64, tmp: &Path, log: &str) -> Vec<Map<String, Value>> {
    let src = data_dir().join("real/ct-entries").join(file);
    let n = serde_json::from_slice::<Value>(&fs::read(&src).unwrap()).unwrap()["entries"]
        .as_array()
        .unwrap()
        .len() as u64;
    let dir = tmp.join("dumps").join(log);
    fs::create_dir_all(&dir).unwrap();
    fs::copy(&src, dir.join(format!("{start}-{}.json", start + n - 1))).unwrap();
    let out = tmp.join("out");
    let summary = run_ingest(&[dir], &out, None);
    assert_eq!(summary.entries_read, n);
    assert_eq!(summary.rows, n, "every real entry decodes");
    assert_eq!(summary.rejects, 0);
    rows(&read_table(&out, "certs", log))
}

fn check(row: &Map<String, Value>, expected: Value) {
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&row[k], v, "column {k} of {}", row["entry_index"]);
    }
}

#[test]
fn pilot_2013_four_x509_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let r = ingest_real(
        "pilot_2013_4x509_ct-go-scanner-FourEntries.json",
        0,
        tmp.path(),
        "pilot",
    );
    assert_eq!(r.len(), 4);
    check(
        &r[0],
        json!({
            "entry_index": 0,
            "entry_timestamp": 1364258252899i64,
            "entry_type": "x509",
            "subject_cn": "mail.google.com",
            "subject_org": "Google Inc",
            "issuer_cn": "Google Internet Authority",
            "issuer_org": "Google Inc",
            "issuer_dn": "C=US, O=Google Inc, CN=Google Internet Authority",
            "serial": "1484f905000000007d3c",
            "not_before": ms("2013-02-20T13:34:51Z"),
            "not_after": ms("2013-06-07T19:43:27Z"),
            "san_dns": ["mail.google.com"],
            "san_ip": [],
            "signature_algorithm": "sha1WithRSAEncryption",
            "signature_oid": "1.2.840.113549.1.1.5",
            "key_algorithm": "RSA",
            "key_bits": 1024,
            "sct_count": 0,
            "is_ca": false,
            "cert_sha256": "3da4491e26c4d9c3d57ff67002de0747d458571ab472a02b49b8e16ae00451a6",
            "parse_error": null,
        }),
    );
    assert_eq!(r[0]["chain_sha256"].as_array().unwrap().len(), 2);
    // openssl prints the serial's value F63A; its DER content octets are 00 F6 3A.
    check(
        &r[1],
        json!({"entry_index": 1, "serial": "00f63a", "issuer_cn": "GeoTrust SSL CA",
               "subject_cn": "www.struleartscentre.purchase-tickets-online.co.uk",
               "not_before": ms("2011-10-21T11:05:06Z")}),
    );
    assert_eq!(r[1]["chain_sha256"].as_array().unwrap().len(), 3);
    check(
        &r[2],
        json!({"serial": "0a298a5e6349fb08834b6cc9be0e8b0b672faef4",
               "issuer_cn": "Cybertrust Japan Public CA G2", "san_dns": ["www.netkeiba.com"]}),
    );
    check(
        &r[3],
        json!({"entry_timestamp": 1364288407156i64, "subject_cn": "www.oxfordplayhouse.com",
               "san_dns": ["www.oxfordplayhouse.com", "oxfordplayhouse.com"],
               "issuer_cn": "GlobalSign Extended Validation CA - G2",
               "serial": "1121353f3deced6c539f16d45e6c2387b421",
               "not_after": ms("2013-10-10T14:16:37Z")}),
    );
}

#[test]
fn icarus_entry_120000000() {
    let tmp = tempfile::tempdir().unwrap();
    let r = ingest_real(
        "icarus_2017_idx120000000_from-get-entry-and-proof_hash-tree.json",
        120_000_000,
        tmp.path(),
        "icarus",
    );
    check(
        &r[0],
        json!({
            "entry_index": 120000000,
            "entry_timestamp": 1506544952567i64,
            "subject_cn": "gem-jewelers.com",
            "issuer_cn": "Let's Encrypt Authority X3",
            "issuer_org": "Let's Encrypt",
            "serial": "042ff6537d9d0477fff07f5a228776aaa3c5",
            "san_dns": ["gem-jewelers.com", "www.gem-jewelers.com"],
            "signature_algorithm": "sha256WithRSAEncryption",
            "not_before": ms("2017-09-27T19:43:00Z"),
            "not_after": ms("2017-12-26T19:43:00Z"),
            "cert_sha256": "2d0b14eb90c1b2b50911d528930153aa4f5ceb088597c79e88a26069e1283d4a",
            "sct_count": 0,
        }),
    );
}

#[test]
fn godaddy_2013_without_san_extension_order() {
    let tmp = tempfile::tempdir().unwrap();
    let r = ingest_real(
        "mpalmer-ct-gem_x509-godaddy-2013.json",
        7,
        tmp.path(),
        "rocketeer",
    );
    check(
        &r[0],
        json!({
            "entry_index": 7,
            "subject_cn": "tficmail.tfbf.com",
            "issuer_cn": "Go Daddy Secure Certification Authority",
            "issuer_org": "GoDaddy.com, Inc.",
            "serial": "27bd7dfe650cc0",
            "san_dns": ["tficmail.tfbf.com", "www.tficmail.tfbf.com", "webmail.tfbf.com", "excgsrv1", "autodiscover"],
            "not_after": ms("2017-03-06T20:59:27Z"),
            "cert_sha256": "5430d9f9c9902759233ba24b4ee1b9a699d113fc9d5d259773cbd0d2fe985dfb",
        }),
    );
}

#[test]
fn crtsh_2022_x509_and_test_precert() {
    let tmp = tempfile::tempdir().unwrap();
    let r = ingest_real(
        "scrape-ct-log_x509-crtsh-2022_precert-test-2018.json",
        0,
        tmp.path(),
        "scrape",
    );
    check(
        &r[0],
        json!({
            "entry_type": "x509",
            "subject_cn": "crt.sh",
            "san_dns": ["crt.sh", "www.crt.sh"],
            "issuer_cn": "Sectigo RSA Domain Validation Secure Server CA",
            "serial": "47c4ab7b2bd9d92afe72ae5831570592",
            "sct_count": 2,
            "not_before": ms("2022-10-19T00:00:00Z"),
            "cert_sha256": "3e27e1213638372cac7f8d7f5a086e8be2740734321518c83d23a5e914371c54",
            "issuer_key_hash": null,
        }),
    );
    assert_eq!(r[0]["sct_log_ids"].as_array().unwrap().len(), 2);
    assert_eq!(r[0]["sct_timestamps"].as_array().unwrap().len(), 2);
    // The precert row takes its fields from the leaf's TBS (CN=google.com),
    // and its hash from the pre_certificate in extra_data.
    check(
        &r[1],
        json!({
            "entry_type": "precert",
            "entry_timestamp": 1532471986235i64,
            "subject_cn": "google.com",
            "issuer_cn": "Test SSLADMIN",
            "serial": "4400004e9685f6e73ca1cdd053000200004e96",
            "not_before": ms("2018-07-24T22:29:44Z"),
            "not_after": ms("2020-07-24T22:29:44Z"),
            "signature_algorithm": "sha256WithRSAEncryption",
            "cert_sha256": "b1ccc82e2f2e5848330452497692fe4ea055a6671ac9af550d492dd093d64d07",
            "key_algorithm": "RSA",
            "key_bits": 2048,
        }),
    );
    assert!(r[1]["issuer_key_hash"].is_string());
    assert_eq!(r[1]["chain_sha256"].as_array().unwrap().len(), 2);
}

#[test]
fn geotrust_test_precert_and_globalsign_sha1_with_sct() {
    let tmp = tempfile::tempdir().unwrap();
    let r = ingest_real(
        "ct-go-logclient_precert-geotrust-test-2015_x509-globalsign-test-2014.json",
        100,
        tmp.path(),
        "ctgo",
    );
    check(
        &r[0],
        json!({
            "entry_index": 100,
            "entry_type": "precert",
            "entry_timestamp": 1422867427528i64,
            "issuer_cn": "GeoTrust EV SSL TEST CA - G4",
            "issuer_org": "GeoTrust Inc.",
            "subject_cn": "sdfedsf.trust",
            "serial": "0532298c396a3e25fcaa1977e827b5f3",
            "cert_sha256": "7b77e4121ded6d982da6ef24103d07da30de83f973f5093474339c709ae27f42",
        }),
    );
    assert_eq!(r[0]["san_dns"].as_array().unwrap().len(), 4);
    assert_eq!(r[0]["chain_sha256"].as_array().unwrap().len(), 3);
    check(
        &r[1],
        json!({
            "entry_index": 101,
            "entry_type": "x509",
            "subject_cn": "csrcn.ssl24.jp",
            "issuer_cn": "GlobalSign Extended Validation CA - G2 TEST",
            "serial": "6a5d4161f5c9b68043270b0c",
            "signature_algorithm": "sha1WithRSAEncryption",
            "sct_count": 1,
            "san_dns": ["csrcn.ssl24.jp"],
            "not_before": ms("2014-11-13T01:58:01Z"),
            "cert_sha256": "1b6dc51fffa04e118edaa0e0f68d71b2d39fac218223de561e7e6a7caba514a1",
        }),
    );
}
