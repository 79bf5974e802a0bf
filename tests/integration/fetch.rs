//! `pipeline fetch` from a tiled log served over HTTP on 127.0.0.1: a
//! synthetic log (hash tiles, a checkpoint signed with the synthetic log
//! key) served by a small static file server started here, which can also
//! lie. Fetch then ingest must equal ingesting the synthetic log directly;
//! a lie must stop the fetch and leave nothing in place.

use std::fs;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::{pipeline_ok, run};

/// A static file server for `root` on 127.0.0.1; `lie` may rewrite a
/// path's body before it is sent.
struct Server {
    port: u16,
    root: Arc<Mutex<PathBuf>>,
    requests: Arc<Mutex<Vec<String>>>,
    delay: Arc<Mutex<Duration>>,
}

impl Server {
    fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let root = Arc::new(Mutex::new(root.to_path_buf()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let (r, q, d) = (root.clone(), requests.clone(), delay.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, q, d) = (r.clone(), q.clone(), d.clone());
                std::thread::spawn(move || serve(stream, &r, &q, &d));
            }
        });
        Server {
            port,
            root,
            requests,
            delay,
        }
    }

    fn url(&self, log: &str) -> String {
        format!("http://127.0.0.1:{}/{log}/", self.port)
    }

    fn serve_from(&self, root: &Path) {
        *self.root.lock().unwrap() = root.to_path_buf();
    }

    /// Answers each request `delay` late.
    fn slow_down(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// The paths requested since the last call.
    fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

fn serve(
    stream: TcpStream,
    root: &Mutex<PathBuf>,
    requests: &Mutex<Vec<String>>,
    delay: &Mutex<Duration>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    while let Some(path) = crate::fixtures::read_request(&mut reader) {
        requests.lock().unwrap().push(path.clone());
        let wait = *delay.lock().unwrap();
        std::thread::sleep(wait);
        let file = root.lock().unwrap().join(path.trim_start_matches('/'));
        let mut out = stream.try_clone().unwrap();
        let _ = match fs::read(&file) {
            Ok(body) if file.is_file() => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                out.write_all(head.as_bytes())
                    .and_then(|_| out.write_all(&body))
            }
            _ => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        };
    }
}

/// A one-log synthetic tiled dump in `dir/dump/synth-1`.
fn synth_tiles(dir: &Path, entries: &str, seed: &str, extra: &[&str]) {
    let mut args = vec![
        "synth",
        "--entries",
        entries,
        "--seed",
        seed,
        "--format",
        "tiles",
    ];
    args.extend(["--logs", "1", "--out", "dump"]);
    args.extend_from_slice(extra);
    pipeline_ok(&args, dir);
}

/// A v3 log list naming the synthetic logs served at `server`.
fn log_list(dir: &Path, server: &Server, logs: &[&str]) -> PathBuf {
    let spki = pipeline::synth::log_tree::public_key_spki();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let tiled: Vec<Value> = logs
        .iter()
        .map(|l| {
            serde_json::json!({
                "description": format!("synthetic log {l}"),
                "log_id": b64(&Sha256::digest(&spki)),
                "key": b64(&spki),
                "submission_url": server.url(l),
                "monitoring_url": server.url(l),
                "mmd": 60,
            })
        })
        .collect();
    let list = serde_json::json!({
        "version": "test",
        "log_list_timestamp": "2026-12-01T00:00:00Z",
        "operators": [{"name": "test", "email": [], "logs": [], "tiled_logs": tiled}],
    });
    let path = dir.join("log_list.json");
    fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
    path
}

/// `pipeline fetch` of `log` into `out`; its JSON report, or its stderr.
fn fetch(dir: &Path, server: &Server, list: &Path, log: &str, out: &str) -> Result<Value, String> {
    run_fetch(dir, &server.url(log), list, out)
}

/// `pipeline fetch URL --out OUT --log-list LIST --json`: its JSON report,
/// or its stderr.
pub fn run_fetch(dir: &Path, url: &str, list: &Path, out: &str) -> Result<Value, String> {
    run_fetch_with(dir, url, list, out, &[])
}

/// [`run_fetch`] with more flags.
pub fn run_fetch_with(
    dir: &Path,
    url: &str,
    list: &Path,
    out: &str,
    extra: &[&str],
) -> Result<Value, String> {
    let mut args = fetch_args(url, list, out);
    args.push("--json");
    args.extend_from_slice(extra);
    let o = run(&args, dir);
    if o.status.success() {
        Ok(serde_json::from_slice(&o.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// `fetch URL --out OUT --log-list LIST`.
fn fetch_args<'a>(url: &'a str, list: &'a Path, out: &'a str) -> Vec<&'a str> {
    vec![
        "fetch",
        url,
        "--out",
        out,
        "--log-list",
        list.to_str().unwrap(),
    ]
}

/// `pipeline fetch URL --out OUT --parallel 1` started in the background
/// (to be killed midway).
pub fn spawn_fetch(dir: &Path, url: &str, list: &Path, out: &str) -> std::process::Child {
    let mut args = fetch_args(url, list, out);
    args.extend(["--parallel", "1"]);
    std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The sorted (entry_index, cert_sha256) of a log's certs after ingesting `input`.
fn ingested(dir: &Path, input: &Path, out: &str) -> Vec<String> {
    pipeline_ok(
        &[
            "ingest",
            input.to_str().unwrap(),
            "--out",
            out,
            "--progress",
            "quiet",
        ],
        dir,
    );
    let o = pipeline_ok(
        &[
            "query",
            "--data",
            out,
            "--format",
            "csv",
            "SELECT log, entry_index, hex(cert_sha256) AS c FROM certs ORDER BY log, entry_index",
        ],
        dir,
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The first `size` entries of the synthetic log at `from`, as the log
/// served them when it had `size` entries: data tiles cut to size, and the
/// tree and checkpoint of those entries.
fn log_prefix(from: &Path, to: &Path, name: &str, size: u64) {
    use pipeline::ct::leaf::tile_leaf_hash;
    let mut leaves = Vec::new();
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let full = (n + 1) * 256 <= size;
        // The source holds full tiles, and a partial last one.
        let src = from
            .join("tile/data")
            .join(pipeline::ct::tile::tile_path(n));
        let raw = fs::read(&src).unwrap();
        let data = crate::fixtures::gunzip_if_gzip(raw);
        let mut at = 0;
        for _ in 0..width {
            let (h, used) = tile_leaf_hash(&data[at..]).unwrap();
            leaves.push(h);
            at += used;
        }
        let rel = if full {
            pipeline::ct::tile::tile_path(n)
        } else {
            format!("{}.p/{width}", pipeline::ct::tile::tile_path(n))
        };
        let dst = to.join("tile/data").join(rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::write(dst, &data[..at]).unwrap();
    }
    copy_dir(&from.join("issuer"), &to.join("issuer"));
    pipeline::synth::log_tree::write_tree(to, name, &leaves).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_tiled_log_fetched_and_ingested_equals_the_log_and_a_second_fetch_gets_only_what_is_new() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth_tiles(dir, "6000", "7", &[]);
    let log = "synth-1";
    let whole = dir.join("dump").join(log);
    let size: u64 = fs::read_to_string(whole.join("checkpoint"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(size, 6000);

    // The log as it was at 1000 entries: served first.
    let then = dir.join("then");
    log_prefix(&whole, &then.join(log), log, 1000);
    let server = Server::start(&then);
    let list = log_list(dir, &server, &[log]);
    let first = fetch(dir, &server, &list, log, "fetched").unwrap();
    assert_eq!(first["verified_size"], 1000);
    assert_eq!(first["previous_size"], 0);
    assert_eq!(first["tiles"], 4, "three full tiles and one of 232 entries");
    let fetched = dir.join("fetched").join(log);
    assert!(fetched.join("tile/data/003.p/232").is_file());
    assert!(!fetched.join(".fetch").exists(), "no staging left");
    server.take_requests();

    // The log grew: the second fetch downloads the tail tile again (now
    // full) and what follows, never the tiles it verified.
    server.serve_from(&dir.join("dump"));
    let second = fetch(dir, &server, &list, log, "fetched").unwrap();
    assert_eq!(second["previous_size"], 1000);
    assert_eq!(second["verified_size"], 6000);
    let asked = server.take_requests();
    let tiles: Vec<&String> = asked.iter().filter(|p| p.contains("/tile/data/")).collect();
    assert!(
        !tiles
            .iter()
            .any(|p| p.ends_with("/000") || p.ends_with("/001") || p.ends_with("/002")),
        "{tiles:?}"
    );
    assert_eq!(tiles.len() as u64, 6000u64.div_ceil(256) - 3, "{tiles:?}");
    assert!(
        !fetched.join("tile/data/003.p/232").exists(),
        "the old partial tile is gone"
    );

    // Nothing new: nothing downloaded but the checkpoint.
    let third = fetch(dir, &server, &list, log, "fetched").unwrap();
    assert_eq!(third["tiles"], 0);
    assert_eq!(server.take_requests(), vec![format!("/{log}/checkpoint")]);

    // Fetch then ingest equals ingesting the log itself.
    assert_eq!(
        ingested(dir, &fetched, "from-fetch"),
        ingested(dir, &whole, "direct")
    );
}

#[test]
fn a_log_that_serves_other_entries_than_it_signed_is_refused_and_nothing_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth_tiles(dir, "1500", "8", &["--compress", "none"]);
    let log = "synth-1";
    let root = dir.join("dump").join(log);
    let server = Server::start(&dir.join("dump"));
    let list = log_list(dir, &server, &[log]);

    // An entry changed: one byte of a certificate in tile 2.
    let tile = root.join("tile/data/002");
    let honest = fs::read(&tile).unwrap();
    let mut changed = honest.clone();
    changed[400] ^= 1;
    fs::write(&tile, &changed).unwrap();
    let err = fetch(dir, &server, &list, log, "fetched").unwrap_err();
    assert!(
        err.contains("do not hash to the checkpoint's signed root"),
        "{err}"
    );
    let kept = dir.join("fetched").join(log);
    assert!(
        !kept.join("tile").exists(),
        "nothing unverified is in place"
    );
    assert!(!kept.join(".fetch-state.json").exists());
    fs::write(&tile, &honest).unwrap();

    // A checkpoint whose signature does not verify.
    let cp = root.join("checkpoint");
    let good = fs::read_to_string(&cp).unwrap();
    fs::write(&cp, good.replacen("\n1500\n", "\n1499\n", 1)).unwrap();
    let err = fetch(dir, &server, &list, log, "fetched").unwrap_err();
    assert!(err.contains("signature does not verify"), "{err}");
    fs::write(&cp, &good).unwrap();

    // Honest again: it fetches and verifies.
    let ok = fetch(dir, &server, &list, log, "fetched").unwrap();
    assert_eq!(ok["verified_size"], 1500);

    // Files no fetch verified are never mixed with verified ones.
    let foreign = dir.join("foreign").join(log);
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("0-99.json"), b"{}").unwrap();
    let err = fetch(dir, &server, &list, log, "foreign").unwrap_err();
    assert!(
        err.contains("holds 1 file that no fetch verified (0-99.json)"),
        "{err}"
    );
    assert!(!foreign.join("tile").exists());
}

/// Every file under `dir` but the fetch state (which says when it was
/// verified): relative path and bytes.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name() != ".fetch-state.json" {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_fetch_killed_midway_resumes_from_its_staged_tiles_and_ends_with_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth_tiles(dir, "6000", "9", &[]);
    let log = "synth-1";
    let server = Server::start(&dir.join("dump"));
    let list = log_list(dir, &server, &[log]);
    let reference = fetch(dir, &server, &list, log, "whole").unwrap();
    assert_eq!(reference["verified_size"], 6000);

    // Slowly, one request at a time; killed once a few tiles are staged.
    server.slow_down(Duration::from_millis(40));
    let url = server.url(log);
    let mut child = spawn_fetch(dir, &url, &list, "killed");
    let staged_dir = dir.join("killed").join(log).join(".fetch/tile/data");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Whole staged tiles (a `.part` file is one being written).
    let staged = |d: &Path| {
        fs::read_dir(d).map_or(0, |r| {
            r.flatten()
                .filter(|e| e.path().is_file() && e.path().extension().is_none())
                .count()
        })
    };
    while staged(&staged_dir) < 5 {
        assert!(Instant::now() < deadline, "nothing was staged");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the fetch ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = dir.join("killed").join(log);
    assert!(!killed.join(".fetch-state.json").exists());
    assert!(
        !killed.join("tile").exists(),
        "nothing in place before the proof"
    );
    let kept = staged(&staged_dir);

    server.slow_down(Duration::ZERO);
    server.take_requests();
    let resumed = fetch(dir, &server, &list, log, "killed").unwrap();
    assert_eq!(resumed["verified_size"], 6000);
    let from_disk = resumed["tiles_resumed"].as_u64().unwrap();
    assert!(from_disk as usize >= kept, "{resumed}");
    let downloaded = server
        .take_requests()
        .iter()
        .filter(|p| p.contains("/tile/data/"))
        .count();
    assert_eq!(downloaded as u64 + from_disk, 6000u64.div_ceil(256));
    assert_eq!(files(&killed), files(&dir.join("whole").join(log)));
}

#[test]
fn a_prefix_of_a_tiled_log_is_proved_with_its_hash_tiles_and_grows_to_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth_tiles(dir, "6000", "10", &["--compress", "none"]);
    let log = "synth-1";
    let server = Server::start(&dir.join("dump"));
    let list = log_list(dir, &server, &[log]);
    let url = server.url(log);
    let step = |extra: &[&str]| run_fetch_with(dir, &url, &list, "steps", extra);

    // A dry run says what it would fetch, and writes nothing.
    let dry = step(&["--max-entries", "1000", "--dry-run"]).unwrap();
    assert_eq!(dry["verified_size"], 1000);
    assert_eq!(dry["tiles"], 4);
    assert_eq!(
        dry["would_fetch"],
        serde_json::json!(["tile/data/000", "tile/data/003"])
    );
    assert!(!dir.join("steps").exists());
    server.take_requests();

    // 1,000 of 6,000 entries: the last tile cut to 232 entries, the rest
    // of the tree from hash tiles.
    let first = step(&["--max-entries", "1000"]).unwrap();
    assert_eq!(first["verified_size"], 1000);
    assert_eq!(first["signed_size"], 6000);
    assert_eq!(first["proof"], "hash tiles");
    let asked = server.take_requests();
    let hash_tiles: Vec<&String> = asked
        .iter()
        .filter(|p| p.contains("/tile/") && !p.contains("/tile/data/"))
        .collect();
    assert_eq!(
        hash_tiles.len() as u64,
        first["hash_tiles"].as_u64().unwrap()
    );
    assert!(!hash_tiles.is_empty());
    let fetched = dir.join("steps").join(log);
    assert!(fetched.join("tile/data/003.p/232").is_file());
    assert!(!fetched.join("tile/data/004").exists());

    // The dataset records what was proved, and holds all of it.
    let verified = |data: &str| -> Value {
        let o = pipeline_ok(&["status", "--data", data, "--format", "json"], dir);
        let st: Value = serde_json::from_slice(&o.stdout).unwrap();
        st["logs"][0]["verified"].clone()
    };
    ingested(dir, &fetched, "ds");
    let v = verified("ds");
    assert_eq!(v["size"], 1000);
    assert_eq!(v["signed_size"], 6000);
    assert_eq!(v["root"], first["root"]);
    assert_eq!(v["missing"], 0);

    // A log that rewrites its history (an entry of tile 0 changed, and its
    // tree and checkpoint remade over it) is caught before any download.
    let rewritten = dir.join("rewritten");
    copy_dir(
        &dir.join("dump").join(log).join("issuer"),
        &rewritten.join("src/issuer"),
    );
    copy_dir(
        &dir.join("dump").join(log).join("tile/data"),
        &rewritten.join("src/tile/data"),
    );
    let tile0 = rewritten.join("src/tile/data/000");
    let mut bytes = fs::read(&tile0).unwrap();
    bytes[400] ^= 1;
    fs::write(&tile0, bytes).unwrap();
    log_prefix(
        &rewritten.join("src"),
        &rewritten.join("served").join(log),
        log,
        5888,
    );
    server.serve_from(&rewritten.join("served"));
    server.take_requests();
    let err = step(&[]).unwrap_err();
    assert!(
        err.contains(
            "the checkpoint of 5888 entries is not consistent with the 1000 verified before"
        ),
        "{err}"
    );
    assert!(
        !server
            .take_requests()
            .iter()
            .any(|p| p.contains("/tile/data/")),
        "no data tile downloaded"
    );
    server.serve_from(&dir.join("dump"));

    // Then to 3,001, then all: each step proved, and the end is the same
    // files as one whole fetch.
    let second = step(&["--to", "3001"]).unwrap();
    assert_eq!(second["previous_size"], 1000);
    assert_eq!(second["verified_size"], 3001);
    assert!(!fetched.join("tile/data/003.p").exists(), "superseded");
    let third = step(&[]).unwrap();
    assert_eq!(third["verified_size"], 6000);
    assert_eq!(third["proof"], "entries");
    fetch(dir, &server, &list, log, "whole").unwrap();
    assert_eq!(files(&fetched), files(&dir.join("whole").join(log)));
    ingested(dir, &fetched, "ds");
    let v = verified("ds");
    assert_eq!(
        (v["size"].as_u64(), v["missing"].as_u64()),
        (Some(6000), Some(0))
    );
    assert_eq!(v["signed_root"], third["signed_root"]);

    // A dataset that lacks some of the verified entries says so.
    fs::remove_file(dir.join("whole").join(log).join("tile/data/001")).unwrap();
    ingested(dir, &dir.join("whole").join(log), "lacking");
    let v = verified("lacking");
    assert_eq!(
        (v["size"].as_u64(), v["missing"].as_u64()),
        (Some(6000), Some(256))
    );
    let table = pipeline_ok(&["status", "--data", "lacking"], dir);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("6000 (lacks 256)"), "{table}");
    assert!(table.contains("the dataset lacks 256 of them"), "{table}");

    // A hash tile that lies cannot prove a prefix: refused, nothing kept.
    let level1 = dir.join("dump").join(log).join("tile/1/000.p/23");
    let honest = fs::read(&level1).unwrap();
    let mut changed = honest.clone();
    changed[5 * 32 + 8] ^= 1; // node 5: entries 1280..1536
    fs::write(&level1, &changed).unwrap();
    let err = run_fetch_with(dir, &url, &list, "lied", &["--to", "700"]).unwrap_err();
    assert!(
        err.contains("with the log's hash tiles for entries 700..6000 do not hash"),
        "{err}"
    );
    assert!(!dir.join("lied").join(log).join("tile").exists());
    assert!(!dir
        .join("lied")
        .join(log)
        .join(".fetch-state.json")
        .exists());
}

#[test]
fn the_nightly_job_fetches_verified_entries_and_reports_a_log_that_lies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth_tiles(dir, "6000", "14", &["--compress", "none"]);
    let log = "synth-1";
    let whole = dir.join("dump").join(log);
    let then = dir.join("then");
    log_prefix(&whole, &then.join(log), log, 1000);
    let server = Server::start(&then);
    let list = log_list(dir, &server, &[log]);
    let url = server.url(log);
    let args = [
        "--fetch",
        url.as_str(),
        "--log-list",
        list.to_str().unwrap(),
    ];

    // Night 1: the log's first 1,000 entries, fetched, verified, ingested.
    let (code, r1, summary) = crate::nightly_job::nightly_with(dir, &args);
    assert!(code.is_some_and(|c| c < 2), "{r1}");
    assert_eq!(r1["fetched"][0]["verified_size"], 1000);
    assert_eq!(r1["fetched"][0]["proof"], "entries");
    assert_eq!(r1["logs"][0]["log"], log);
    assert_eq!(r1["logs"][0]["entries"], 1000);
    assert_eq!(r1["logs"][0]["verified_size"], 1000);
    assert_eq!(r1["logs"][0]["verified_missing"], 0);
    assert!(
        summary.contains("Fetch synth-1: 0 -> 1000 entries verified"),
        "{summary}"
    );

    // Night 2: the log grew, but serves a changed entry: the fetch fails by
    // name, nothing of it is ingested, and the run says so (exit 2).
    let tile = whole.join("tile/data/010");
    let honest = fs::read(&tile).unwrap();
    let mut changed = honest.clone();
    changed[300] ^= 1;
    fs::write(&tile, &changed).unwrap();
    server.serve_from(&dir.join("dump"));
    let (code, r2, summary) = crate::nightly_job::nightly_with(dir, &args);
    assert_eq!(code, Some(2), "{r2}");
    assert_eq!(r2["status"], "failed");
    let err = r2["fetched"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("do not hash to the checkpoint's signed root"),
        "{err}"
    );
    assert!(summary.contains("**failed**"), "{summary}");
    assert_eq!(
        r2["logs"][0]["entries"], 1000,
        "nothing unverified ingested"
    );

    // Night 3: honest again: the rest, verified and ingested.
    fs::write(&tile, &honest).unwrap();
    let (code, r3, _) = crate::nightly_job::nightly_with(dir, &args);
    assert!(code.is_some_and(|c| c < 2), "{r3}");
    assert_eq!(r3["fetched"][0]["previous_size"], 1000);
    assert_eq!(r3["fetched"][0]["verified_size"], 6000);
    assert_eq!(r3["logs"][0]["entries"], 6000);
    assert_eq!(r3["logs"][0]["new_entries"], 5000);
    assert_eq!(r3["logs"][0]["verified_size"], 6000);
    assert_eq!(r3["logs"][0]["verified_missing"], 0);
}
