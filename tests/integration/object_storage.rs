//! Datasets on object storage, against an S3-compatible server on loopback
//! (`moto_server`, from PyPI's `moto[server]`; installed with pip when
//! missing): publish, then query, check and status over `s3://` give what
//! the local dataset gives; a publish killed before its manifest leaves the
//! old snapshot readable, and running it again finishes the job.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixtures::{data_dir, run_ingest};

/// A moto S3 server on 127.0.0.1, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_moto() -> bool {
    Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_moto() -> Moto {
    if !have_moto() {
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status()
            .expect("run pip");
        assert!(
            installed.success() && have_moto(),
            "moto_server is needed: pip install 'moto[server]'"
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// Creates `bucket` with a plain HTTP request (moto does not check signatures).
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// Runs the binary with the server's endpoint and test credentials.
fn pipeline(moto: &Moto, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let endpoint = format!("endpoint=http://127.0.0.1:{}", moto.port);
    let remote = args.iter().any(|a| a.starts_with("s3://"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    cmd.args(args);
    if remote {
        cmd.args([
            "--storage-option",
            &endpoint,
            "--storage-option",
            "allow_http=true",
        ]);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret-never-shown")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_ENDPOINT")
        .env_remove("AWS_PROFILE");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run pipeline")
}

fn ok(moto: &Moto, args: &[&str]) -> String {
    let out = pipeline(moto, args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "pipeline {args:?}: {stderr}"
    );
    assert!(!stderr.contains("testing-secret-never-shown"), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

const COUNTS: &str = "SELECT log, count(*) AS n, count(DISTINCT cert_sha256) AS certs, \
     min(entry_index) AS lo, max(entry_index) AS hi FROM certs GROUP BY log ORDER BY log";

/// Status without the dataset's own name.
fn status(moto: &Moto, data: &str) -> Value {
    let mut v = json(&ok(moto, &["status", "--data", data, "--format", "json"]));
    v["data"] = Value::Null;
    v
}

#[test]
fn a_published_dataset_reads_on_s3_as_it_reads_on_disk() {
    let moto = start_moto();
    create_bucket(moto.port, "ct-data");
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("data");
    let local_s = local.to_str().unwrap();
    run_ingest(
        &[data_dir().join("wrapped").join("synthetic")],
        &local,
        None,
    );
    let url = "s3://ct-data/datasets/main";

    let first = json(&ok(&moto, &["publish", local_s, url, "--json"]));
    assert!(first["files_uploaded"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(first["manifest_uploaded"], true);

    let q = |data: &str| {
        ok(
            &moto,
            &["query", "--data", data, "--format", "json", COUNTS],
        )
    };
    assert_eq!(q(url), q(local_s));
    assert!(!q(url).trim().is_empty());
    assert_eq!(status(&moto, url), status(&moto, local_s));
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let rules = rules.to_str().unwrap();
    let check = |data: &str| {
        ok(
            &moto,
            &[
                "check",
                "--data",
                data,
                "--rules",
                rules,
                "--format",
                "json",
                "--no-store",
            ],
        )
    };
    let (remote_findings, local_findings) = (check(url), check(local_s));
    assert_eq!(remote_findings, local_findings);
    assert!(remote_findings.lines().count() > 0);

    // An unchanged dataset uploads nothing.
    let again = json(&ok(&moto, &["publish", local_s, url, "--json"]));
    assert_eq!(again["files_uploaded"], 0, "{again}");
    assert_eq!(again["manifest_uploaded"], false, "{again}");

    // Findings stored on object storage come back through the findings table.
    ok(
        &moto,
        &[
            "check", "--data", url, "--rules", rules, "--format", "json", "--store",
        ],
    );
    let stored = ok(
        &moto,
        &[
            "query",
            "--data",
            url,
            "--format",
            "json",
            "SELECT count(*) AS n FROM findings",
        ],
    );
    assert_eq!(
        json(&stored)["n"].as_u64(),
        Some(remote_findings.lines().count() as u64)
    );

    // A publish killed before its manifest leaves the old snapshot; a re-run finishes.
    let before = q(url);
    run_ingest(
        &[data_dir().join("wrapped").join("real-certs")],
        &local,
        None,
    );
    let killed = pipeline(
        &moto,
        &["publish", local_s, url],
        &[("PIPELINE_CRASH_AT", "publish_before_manifest")],
    );
    assert!(!killed.status.success());
    assert_eq!(q(url), before, "a killed publish changed what readers see");
    let resumed = json(&ok(&moto, &["publish", local_s, url, "--json"]));
    assert_eq!(resumed["manifest_uploaded"], true, "{resumed}");
    assert_eq!(q(url), q(local_s));
    assert_ne!(q(url), before);
    assert_eq!(status(&moto, url), status(&moto, local_s));

    // A mistyped URL is an error, not an empty dataset.
    let out = pipeline(
        &moto,
        &["query", "--data", "s3://ct-data/nothing-here", COUNTS],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dataset there"));
}
