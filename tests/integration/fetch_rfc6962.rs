//! `pipeline fetch` of an RFC 6962 log from an emulator on 127.0.0.1: it
//! serves `get-sth` (signed with the synthetic log key) and `get-entries`
//! from a synthetic dump, caps its pages, fails now and then (429, 500, a
//! body cut short) and can lie. Every lie must be caught by name and none
//! may reach the dump as verified.

use std::fs;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::pipeline_ok;
use pipeline::ct::merkle::{leaf_hash, CompactTree};
use pipeline::ct::tree_head::TreeHead;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What the emulator does wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lie {
    None,
    /// One byte of entry i's leaf_input is changed.
    ChangeEntry(usize),
    /// Entry i is left out of the page that holds it.
    DropEntry(usize),
    /// Entries i and i+1 are swapped.
    Reorder(usize),
    /// The STH's signature is not the log's.
    BadSignature,
}

struct Log {
    entries: Vec<Value>,
    size: usize,
    cap: usize,
    lie: Lie,
    /// Every `fail_every`-th request fails (429, 500, or a cut body).
    fail_every: usize,
    requests: usize,
    /// A signed STH served instead of the true one.
    sth_override: Option<Value>,
}

fn sth(entries: &[Value], size: usize, timestamp: u64) -> Value {
    let mut tree = CompactTree::new();
    for e in &entries[..size] {
        tree.push(leaf_hash(
            &B64.decode(e["leaf_input"].as_str().unwrap()).unwrap(),
        ));
    }
    let head = TreeHead {
        size: size as u64,
        timestamp,
        root: tree.root(),
    };
    let sig = pipeline::synth::log_tree::sign_tree_head(&head);
    serde_json::json!({
        "tree_size": size,
        "timestamp": timestamp,
        "sha256_root_hash": B64.encode(head.root),
        "tree_head_signature": B64.encode(sig),
    })
}

fn respond(out: &mut TcpStream, status: &str, body: &[u8], cut: bool) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = out.write_all(head.as_bytes());
    let sent = if cut { &body[..body.len() / 2] } else { body };
    let _ = out.write_all(sent);
}

fn handle(stream: TcpStream, log: &Mutex<Log>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(target) = crate::fixtures::read_request(&mut reader) {
        let mut log = log.lock().unwrap();
        log.requests += 1;
        if log.fail_every > 0 && log.requests.is_multiple_of(log.fail_every) {
            match (log.requests / log.fail_every) % 3 {
                0 => respond(&mut out, "429 Too Many Requests", b"slow down", false),
                1 => respond(&mut out, "500 Internal Server Error", b"oops", false),
                _ => {
                    // A body cut short, then the connection closed.
                    respond(&mut out, "200 OK", &[b'{'; 64], true);
                    return;
                }
            }
            continue;
        }
        if target.ends_with("/ct/v1/get-sth") {
            let body = match &log.sth_override {
                Some(v) => v.clone(),
                None => {
                    let mut v = sth(&log.entries, log.size, 1_795_132_800_000 + log.size as u64);
                    if log.lie == Lie::BadSignature {
                        let mut sig = B64
                            .decode(v["tree_head_signature"].as_str().unwrap())
                            .unwrap();
                        let last = sig.len() - 1;
                        sig[last] ^= 1;
                        v["tree_head_signature"] = Value::from(B64.encode(sig));
                    }
                    v
                }
            };
            respond(
                &mut out,
                "200 OK",
                &serde_json::to_vec(&body).unwrap(),
                false,
            );
            continue;
        }
        let Some(query) = target.split_once("get-entries?").map(|(_, q)| q.to_owned()) else {
            respond(&mut out, "404 Not Found", b"", false);
            continue;
        };
        let arg = |k: &str| -> usize {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap()
                .parse()
                .unwrap()
        };
        let (start, end) = (arg("start"), arg("end"));
        let end = end.min(start + log.cap - 1).min(log.size - 1);
        let mut page: Vec<Value> = log.entries[start..=end].to_vec();
        match log.lie {
            Lie::ChangeEntry(i) if (start..=end).contains(&i) => {
                let e = &mut page[i - start];
                let mut leaf = B64.decode(e["leaf_input"].as_str().unwrap()).unwrap();
                leaf[20] ^= 1;
                e["leaf_input"] = Value::from(B64.encode(leaf));
            }
            Lie::DropEntry(i) if (start..=end).contains(&i) && i > start => {
                page.remove(i - start);
            }
            Lie::Reorder(i) if (start..end).contains(&i) => page.swap(i - start, i - start + 1),
            _ => {}
        }
        let body = serde_json::to_vec(&serde_json::json!({ "entries": page })).unwrap();
        respond(&mut out, "200 OK", &body, false);
    }
}

fn start(log: Log) -> (u16, Arc<Mutex<Log>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(log));
    let shared = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let l = shared.clone();
            std::thread::spawn(move || handle(stream, &l));
        }
    });
    (port, log)
}

/// The entries of the synthetic get-entries log in `dir`, in order (pages
/// and the JSON-lines tail), leaving out the malformed ones a real log
/// could not hold (its leaf_input is always its own, valid, bytes).
fn entries_of(dir: &Path) -> Vec<Value> {
    let mut files: Vec<(u64, Vec<Value>)> = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let text = fs::read(e.path()).unwrap();
        if let Some(rest) = name.strip_prefix("tail-") {
            let start: u64 = rest.trim_end_matches(".ndjson").parse().unwrap();
            let lines = String::from_utf8_lossy(&text)
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            files.push((start, lines));
        } else if name.ends_with(".json") {
            let start: u64 = name.split('-').next().unwrap().parse().unwrap();
            let page: Value = serde_json::from_slice(&text).unwrap();
            files.push((start, page["entries"].as_array().unwrap().clone()));
        }
    }
    files.sort_by_key(|(s, _)| *s);
    files
        .into_iter()
        .flat_map(|(_, v)| v)
        .filter(|e| {
            e["leaf_input"]
                .as_str()
                .is_some_and(|l| B64.decode(l).is_ok_and(|b| b.len() > 12))
        })
        .map(|e| serde_json::json!({"leaf_input": e["leaf_input"], "extra_data": e["extra_data"]}))
        .collect()
}

fn log_list(dir: &Path, port: u16) -> std::path::PathBuf {
    let spki = pipeline::synth::log_tree::public_key_spki();
    let list = serde_json::json!({
        "version": "test",
        "log_list_timestamp": "2026-12-01T00:00:00Z",
        "operators": [{"name": "test", "email": [], "logs": [{
            "description": "emulated log",
            "log_id": B64.encode(Sha256::digest(&spki)),
            "key": B64.encode(&spki),
            "url": format!("http://127.0.0.1:{port}/emulated/"),
            "mmd": 86400,
        }], "tiled_logs": []}],
    });
    let path = dir.join(format!("log_list_{port}.json"));
    fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
    path
}

fn fetch(dir: &Path, port: u16, out: &str) -> Result<Value, String> {
    let list = log_list(dir, port);
    let url = format!("http://127.0.0.1:{port}/emulated/");
    crate::fetch::run_fetch(dir, &url, &list, out)
}

fn emulated(entries: &[Value], size: usize, lie: Lie, fail_every: usize) -> Log {
    Log {
        entries: entries.to_vec(),
        size,
        cap: 100,
        lie,
        fail_every,
        requests: 0,
        sth_override: None,
    }
}

#[test]
fn an_rfc6962_log_is_fetched_through_caps_and_failures_and_every_lie_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline_ok(
        &[
            "synth",
            "--entries",
            "2000",
            "--seed",
            "12",
            "--logs",
            "1",
            "--compress",
            "none",
            "--out",
            "dump",
        ],
        dir,
    );
    let entries = entries_of(&dir.join("dump/synth-1"));
    let n = entries.len();
    assert!(n >= 1900, "{n} entries");

    // 700 entries first, 100 a page, a failure every 7th request.
    let (port, log) = start(emulated(&entries, 700, Lie::None, 7));
    let first = fetch(dir, port, "fetched").unwrap();
    assert_eq!(first["verified_size"], 700);
    assert!(first["pages"].as_u64().unwrap() >= 7);
    // The log grew: only what is new.
    log.lock().unwrap().size = n;
    let second = fetch(dir, port, "fetched").unwrap();
    assert_eq!(second["previous_size"], 700);
    assert_eq!(second["verified_size"], n as u64);
    let fetched = dir.join("fetched").join(second["log"].as_str().unwrap());
    let names: Vec<String> = fs::read_dir(&fetched)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(names.contains(&"0-99.json".to_string()), "{names:?}");
    assert!(names.contains(&"700-799.json".to_string()), "{names:?}");

    // The same STH size with another root: two roots for one size.
    let other = sth(&entries[1..], n - 1, 1);
    let mut forged = other.clone();
    forged["tree_size"] = Value::from(n);
    let head = TreeHead {
        size: n as u64,
        timestamp: 1,
        root: B64
            .decode(other["sha256_root_hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    };
    forged["tree_head_signature"] =
        Value::from(B64.encode(pipeline::synth::log_tree::sign_tree_head(&head)));
    log.lock().unwrap().sth_override = Some(forged);
    let err = fetch(dir, port, "fetched").unwrap_err();
    assert!(err.contains("signed two roots"), "{err}");

    // Each lie, on a fresh dump: caught, and nothing kept as verified.
    for (k, lie) in [
        Lie::ChangeEntry(555),
        Lie::DropEntry(555),
        Lie::Reorder(555),
        Lie::BadSignature,
    ]
    .into_iter()
    .enumerate()
    {
        let (port, _log) = start(emulated(&entries, n, lie, 0));
        let out = format!("lied-{k}");
        let err = fetch(dir, port, &out).unwrap_err();
        let want = if lie == Lie::BadSignature {
            "signature does not verify"
        } else {
            "do not hash to the STH's signed root"
        };
        assert!(err.contains(want), "{lie:?}: {err}");
        // The log's directory, if the fetch made one.
        let kept: Vec<std::path::PathBuf> = fs::read_dir(dir.join(&out))
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(kept.len() <= 1, "{kept:?}");
        let pages: usize = kept
            .iter()
            .map(|d| {
                assert!(!d.join(".fetch-state.json").exists(), "{lie:?}");
                fs::read_dir(d).map_or(0, |r| {
                    r.flatten()
                        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                        .count()
                })
            })
            .sum();
        assert_eq!(pages, 0, "{lie:?}: no page in place");
    }

    // Fetch then ingest equals ingesting the served entries as one page.
    let reference = dir.join(format!("ref/0-{}.json", n - 1));
    fs::create_dir_all(reference.parent().unwrap()).unwrap();
    fs::write(
        &reference,
        serde_json::to_vec(&serde_json::json!({ "entries": entries })).unwrap(),
    )
    .unwrap();
    let q = "SELECT entry_index, hex(cert_sha256) AS c FROM certs ORDER BY entry_index";
    let rows = |input: &Path, out: &str| {
        pipeline_ok(
            &[
                "ingest",
                input.to_str().unwrap(),
                "--out",
                out,
                "--log",
                "L",
                "--progress",
                "quiet",
            ],
            dir,
        );
        String::from_utf8_lossy(
            &pipeline_ok(&["query", "--data", out, "--format", "csv", q], dir).stdout,
        )
        .into_owned()
    };
    let fetched_rows = rows(&fetched, "a");
    assert!(
        fetched_rows.lines().count() > 1500,
        "{}",
        fetched_rows.lines().count()
    );
    assert_eq!(fetched_rows, rows(&dir.join("ref"), "b"));
}
