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
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::pipeline_ok;
use pipeline::ct::merkle::{consistency_proof, leaf_hash, CompactTree};
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
    /// A consistency proof with one hash changed.
    BadProof,
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
    /// Each answer this late.
    delay: Duration,
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

/// The number `k=` of a query string.
fn query_arg(query: &str, k: &str) -> usize {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
        .unwrap()
        .parse()
        .unwrap()
}

fn handle(stream: TcpStream, log: &Mutex<Log>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(target) = crate::fixtures::read_request(&mut reader) {
        let wait = log.lock().unwrap().delay;
        std::thread::sleep(wait);
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
        if let Some((_, query)) = target.split_once("get-sth-consistency?") {
            let arg = |k: &str| query_arg(query, k);
            let leaves: Vec<_> = log.entries[..arg("second")]
                .iter()
                .map(|e| leaf_hash(&B64.decode(e["leaf_input"].as_str().unwrap()).unwrap()))
                .collect();
            let mut proof = consistency_proof(arg("first"), &leaves);
            if log.lie == Lie::BadProof {
                proof[0][0] ^= 1;
            }
            let hashes: Vec<String> = proof.iter().map(|h| B64.encode(h)).collect();
            let body = serde_json::to_vec(&serde_json::json!({ "consistency": hashes })).unwrap();
            respond(&mut out, "200 OK", &body, false);
            continue;
        }
        let Some(query) = target.split_once("get-entries?").map(|(_, q)| q.to_owned()) else {
            respond(&mut out, "404 Not Found", b"", false);
            continue;
        };
        let arg = |k: &str| query_arg(&query, k);
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
        } else if name.ends_with(".json") && !name.starts_with('.') {
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
    fetch_with(dir, port, out, &[])
}

fn fetch_with(dir: &Path, port: u16, out: &str, extra: &[&str]) -> Result<Value, String> {
    let list = log_list(dir, port);
    let url = format!("http://127.0.0.1:{port}/emulated/");
    crate::fetch::run_fetch_with(dir, &url, &list, out, extra)
}

/// A one-log synthetic get-entries dump in `dir/dump`: its entries.
fn synth_entries(dir: &Path, entries: &str, seed: &str) -> Vec<Value> {
    pipeline_ok(
        &[
            "synth",
            "--entries",
            entries,
            "--seed",
            seed,
            "--logs",
            "1",
            "--compress",
            "none",
            "--out",
            "dump",
        ],
        dir,
    );
    entries_of(&dir.join("dump/synth-1"))
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
        delay: Duration::ZERO,
    }
}

#[test]
fn an_rfc6962_log_is_fetched_through_caps_and_failures_and_every_lie_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let entries = synth_entries(dir, "2000", "12");
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

#[test]
fn an_rfc6962_prefix_is_proved_by_a_consistency_proof_and_a_killed_fetch_resumes_from_its_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let entries = synth_entries(dir, "1500", "13");
    let n = entries.len();
    let (port, log) = start(emulated(&entries, n, Lie::None, 5));

    // The first 450 entries, proved a prefix of the signed tree.
    let first = fetch_with(dir, port, "steps", &["--max-entries", "450"]).unwrap();
    assert_eq!(first["verified_size"], 450);
    assert_eq!(first["signed_size"], n as u64);
    assert_eq!(first["proof"], "consistency proof");
    let steps = dir.join("steps").join(first["log"].as_str().unwrap());
    assert!(steps.join("400-449.json").is_file());
    assert_eq!(entries_of(&steps), entries[..450].to_vec());

    // The log rewrites its history (entry 100 changed, and a new STH over
    // it): caught before anything is downloaded.
    let honest = log.lock().unwrap().entries[100].clone();
    {
        let mut l = log.lock().unwrap();
        let mut leaf = B64
            .decode(l.entries[100]["leaf_input"].as_str().unwrap())
            .unwrap();
        leaf[30] ^= 1;
        l.entries[100]["leaf_input"] = Value::from(B64.encode(leaf));
        l.requests = 0;
    }
    let err = fetch(dir, port, "steps").unwrap_err();
    assert!(
        err.contains("is not consistent with the 450 verified before"),
        "{err}"
    );
    assert!(!steps.join("450-549.json").exists());
    log.lock().unwrap().entries[100] = honest;

    // A false consistency proof: refused, whether it extends what was
    // verified or proves a first prefix; the state stays at 450.
    log.lock().unwrap().lie = Lie::BadProof;
    let err = fetch_with(dir, port, "steps", &["--to", "900"]).unwrap_err();
    assert!(
        err.contains("is not consistent with the 450 verified before"),
        "{err}"
    );
    let err = fetch_with(dir, port, "fresh", &["--to", "900"]).unwrap_err();
    assert!(
        err.contains("entries 0..900 are not the first 900 of the signed tree"),
        "{err}"
    );
    assert!(!steps.join("450-549.json").exists());
    assert!(!dir
        .join("fresh")
        .join(first["log"].as_str().unwrap())
        .join("0-99.json")
        .exists());
    let state: Value =
        serde_json::from_slice(&fs::read(steps.join(".fetch-state.json")).unwrap()).unwrap();
    assert_eq!(state["size"], 450);

    // Honest again: the rest, proved by its entries.
    log.lock().unwrap().lie = Lie::None;
    let rest = fetch(dir, port, "steps").unwrap();
    assert_eq!(rest["previous_size"], 450);
    assert_eq!(rest["verified_size"], n as u64);
    assert_eq!(rest["proof"], "entries");
    assert_eq!(entries_of(&steps), entries);
    let whole = fetch(dir, port, "whole").unwrap();
    let whole = dir.join("whole").join(whole["log"].as_str().unwrap());

    // Killed with SIGKILL once a few pages are staged, then run again:
    // the staged pages come from disk, and the files are the same as one
    // uninterrupted fetch's.
    {
        let mut l = log.lock().unwrap();
        l.fail_every = 0;
        l.delay = Duration::from_millis(40);
    }
    let list = log_list(dir, port);
    let url = format!("http://127.0.0.1:{port}/emulated/");
    let mut child = crate::fetch::spawn_fetch(dir, &url, &list, "killed");
    let killed = dir.join("killed").join(whole.file_name().unwrap());
    let staged = || {
        fs::read_dir(killed.join(".fetch")).map_or(0, |r| {
            r.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while staged() < 4 {
        assert!(Instant::now() < deadline, "nothing was staged");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the fetch ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.join(".fetch-state.json").exists());
    let kept = staged();
    log.lock().unwrap().delay = Duration::ZERO;
    let resumed = fetch(dir, port, "killed").unwrap();
    assert_eq!(resumed["verified_size"], n as u64);
    assert!(
        resumed["pages_resumed"].as_u64().unwrap() as usize >= kept,
        "{resumed} ({kept} staged)"
    );
    assert_eq!(crate::fetch::files(&killed), crate::fetch::files(&whole));
}
