//! A dataset directory is not trusted: forged commit records, a staging
//! area that is a symlink, partition directories that point elsewhere. Each
//! forgery stops the command with an error naming it, and nothing outside
//! the dataset (or inside it) is moved or deleted.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::fixtures::run;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample")
        .join(name)
}

/// A fresh dataset of the bundled pilot page, and a victim file beside it.
fn dataset(dir: &Path) -> (PathBuf, PathBuf) {
    let ds = dir.join("ds");
    let out = run(
        &[
            "ingest",
            sample("pilot").to_str().unwrap(),
            "--out",
            "ds",
            "--progress",
            "quiet",
        ],
        dir,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let victim = dir.join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    (ds, victim)
}

fn forge_record(ds: &Path, record: &serde_json::Value) {
    let staged = ds.join("_staging/x");
    fs::create_dir_all(&staged).unwrap();
    fs::write(staged.join("COMMIT"), record.to_string()).unwrap();
}

/// Every file under `dir` with its contents, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let m = fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                out.push((e.path(), fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
}

#[test]
fn a_forged_commit_record_cannot_delete_or_move_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ds, victim) = dataset(dir);
    let before = snapshot(&ds.join("certs"));
    let parquet = before[0]
        .0
        .strip_prefix(&ds)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let forgeries = [
        serde_json::json!({"moves": [], "deletes": [victim.to_str().unwrap()]}),
        serde_json::json!({"moves": [], "deletes": ["../victim.txt"]}),
        serde_json::json!({"moves": [], "deletes": ["certs/log=pilot/../../../victim.txt"]}),
        serde_json::json!({"moves": [], "deletes": ["manifest.parquet"]}),
        serde_json::json!({"moves": [], "deletes": ["certs/log=pilot"]}),
        serde_json::json!({"moves": [["../../victim.txt", parquet]], "deletes": []}),
        serde_json::json!({"moves": [[parquet, "../moved.parquet"]], "deletes": []}),
        serde_json::json!({"moves": [[parquet, "/tmp/moved.parquet"]], "deletes": []}),
    ];
    for record in &forgeries {
        forge_record(&ds, record);
        for args in [
            &["compact", "--data", "ds"][..],
            &[
                "ingest",
                sample("rocketeer").to_str().unwrap(),
                "--out",
                "ds",
            ][..],
        ] {
            let out = run(args, dir);
            assert_refused(&out, "_staging/x/COMMIT");
            assert_eq!(fs::read_to_string(&victim).unwrap(), "precious", "{record}");
            assert_eq!(snapshot(&ds.join("certs")), before, "{record}");
        }
        fs::remove_dir_all(ds.join("_staging")).unwrap();
    }
    assert!(!dir.join("moved.parquet").exists());
}

#[test]
fn a_staging_area_or_partition_that_is_a_symlink_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ds, victim) = dataset(dir);
    // `_staging` pointing at a directory outside: its subdirectories would be
    // taken for interrupted runs and deleted.
    let elsewhere = dir.join("elsewhere");
    fs::create_dir_all(elsewhere.join("keep")).unwrap();
    fs::write(elsewhere.join("keep/file"), "x").unwrap();
    symlink(&elsewhere, ds.join("_staging")).unwrap();
    let out = run(&["compact", "--data", "ds"], dir);
    assert_refused(&out, "_staging");
    assert!(elsewhere.join("keep/file").exists());
    fs::remove_file(ds.join("_staging")).unwrap();

    // A run directory inside `_staging` that is a symlink.
    fs::create_dir_all(ds.join("_staging")).unwrap();
    symlink(&elsewhere, ds.join("_staging/run")).unwrap();
    let out = run(&["compact", "--data", "ds"], dir);
    assert_refused(&out, "_staging/run");
    assert!(elsewhere.join("keep/file").exists());
    fs::remove_dir_all(ds.join("_staging")).unwrap();

    // A partition directory that points outside: a delete through it would
    // remove the victim.
    let outside = dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("v.parquet"), "precious").unwrap();
    symlink(&outside, ds.join("certs/log=evil")).unwrap();
    forge_record(
        &ds,
        &serde_json::json!({"moves": [], "deletes": ["certs/log=evil/v.parquet"]}),
    );
    let out = run(&["compact", "--data", "ds"], dir);
    assert_refused(&out, "log=evil");
    assert_eq!(
        fs::read_to_string(outside.join("v.parquet")).unwrap(),
        "precious"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
}
