//! Hostile and unlucky inputs: special files, indices that do not fit,
//! readers beside writers and after crashes, damaged datasets, control
//! characters on the terminal, statements that would write, names that must
//! read back exactly. Real entries first (the bundled sample), synthetic
//! where the case needs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::fixtures::json_lines;

use crate::fixtures::run;

/// `pipeline verify` finds nothing wrong with `dir/ds`.
fn assert_verified_clean(dir: &Path) {
    let out = run(&["verify", "--data", "ds"], dir);
    let problems = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{problems}{}", stderr(&out));
}

/// `pipeline status --format json` of `dir/ds`.
fn status_json(dir: &Path) -> Value {
    let out = run(&["status", "--data", "ds", "--format", "json"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample")
        .join(name)
}

/// Copies a real sample page into `dir/<log>/`.
fn real_page(dir: &Path, log: &str, name: &str) -> PathBuf {
    let target = dir.join(log);
    fs::create_dir_all(&target).unwrap();
    fs::copy(
        sample(name),
        target.join(Path::new(name).file_name().unwrap()),
    )
    .unwrap();
    target
}

fn query_json(dir: &Path, data: &str, sql: &str) -> Vec<Value> {
    let out = run(&["query", "--data", data, "--format", "json", sql], dir);
    assert_eq!(out.status.code(), Some(0), "{sql}: {}", stderr(&out));
    json_lines(&out.stdout)
}

fn count(dir: &Path, data: &str, table: &str) -> i64 {
    let rows = query_json(dir, data, &format!("SELECT count(*) AS n FROM {table}"));
    rows[0]["n"].as_i64().unwrap()
}

fn ingest(dir: &Path, inputs: &[&str], extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["ingest", "--out", "ds", "--progress", "quiet", "--json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(inputs);
    let out = run(&args, dir);
    let summary = json_lines(&out.stdout)
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    (out.status.code(), summary, stderr(&out))
}

#[test]
fn special_files_are_refused_before_opening_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = real_page(dir, "pilot", "pilot/0-3.json");
    let fifo = log.join("5-9.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", log.join("10-265.json")).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere.json"), log.join("300-301.json")).unwrap();

    // No writer ever opens the FIFO: a blocking open would hang here.
    let child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "ingest",
            "pilot",
            "--out",
            "ds",
            "--progress",
            "quiet",
            "--json",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_at_most(child, Duration::from_secs(60));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("5-9.json: not a regular file (a FIFO)"),
        "{err}"
    );
    assert!(
        err.contains("10-265.json: not a regular file (a character device)"),
        "{err}"
    );
    assert!(err.contains("300-301.json: a broken symlink"), "{err}");
    let summary = &json_lines(&out.stdout)[0];
    assert_eq!(summary["refused_files"], 3);
    assert_eq!(summary["files"], 1);
    // The one real page was read whole.
    assert_eq!(summary["entries_read"], 4);
    assert_eq!(count(dir, "ds", "certs") + count(dir, "ds", "rejects"), 4);
}

fn wait_at_most(mut child: std::process::Child, limit: Duration) -> Output {
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("pipeline hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn indices_past_the_column_are_rejects_never_wrapped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The real pilot page's 4 entries, renamed to start at 2^64-2.
    let log = dir.join("pilot");
    fs::create_dir_all(&log).unwrap();
    fs::copy(
        sample("pilot/0-3.json"),
        log.join("18446744073709551614-18446744073709551615.json"),
    )
    .unwrap();
    let (code, summary, err) = ingest(dir, &["pilot"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(summary["rows"], 0);
    assert_eq!(summary["rejects"], 4);
    let rejects = query_json(dir, "ds", "SELECT kind, entry_index, reason FROM rejects");
    assert_eq!(rejects.len(), 4);
    for r in &rejects {
        assert_eq!(r["kind"], "index", "{r}");
        assert!(r.get("entry_index").is_none_or(Value::is_null), "{r}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("does not fit entry_index"),
            "{r}"
        );
    }
    // The real entries at 0..3 are still stored when they arrive.
    real_page(dir, "pilot", "pilot/0-3.json");
    let (code, summary, err) = ingest(dir, &["pilot"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (summary["rows"].as_u64(), summary["conflicts"].as_u64()),
        (Some(4), Some(0))
    );

    // --start-index wraps no more than a name does.
    fs::create_dir_all(dir.join("other")).unwrap();
    fs::copy(sample("pilot/0-3.json"), dir.join("other/page.json")).unwrap();
    let (code, summary, err) = ingest(
        dir,
        &["other/page.json"],
        &["--start-index", "9223372036854775806"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (summary["rows"].as_u64(), summary["rejects"].as_u64()),
        (Some(2), Some(2))
    );
}

/// A dataset of the real pilot page (log `mix`), with a second real entry
/// (icarus) waiting in the log's folder as `4-4.json`.
fn first_run_and_a_new_page(dir: &Path) {
    real_page(dir, "mix", "pilot/0-3.json");
    let (code, _, err) = ingest(dir, &["mix"], &[]);
    assert_eq!(code, Some(0), "{err}");
    fs::copy(
        sample("icarus/120000000-120000000.json"),
        dir.join("mix/4-4.json"),
    )
    .unwrap();
}

/// A dataset of the sample's real entries, in two runs (so two files per partition).
fn two_run_dataset(dir: &Path) {
    first_run_and_a_new_page(dir);
    let (code, _, err) = ingest(dir, &["mix"], &[]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_stray_or_lying_file_in_a_partition_is_ignored_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_run_dataset(dir);
    let before = count(dir, "ds", "certs");
    assert_eq!(before, 5);
    // 112 bytes whose footer claims a length past the file's start.
    let mut lie = vec![0u8; 104];
    lie.extend_from_slice(&u32::MAX.to_le_bytes());
    lie.extend_from_slice(b"PAR1");
    fs::write(dir.join("ds/certs/log=mix/zz.parquet"), &lie).unwrap();
    // A copy of a real data file: valid, but not the dataset's.
    let real = fs::read_dir(dir.join("ds/certs/log=mix"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("part-")
        })
        .unwrap();
    fs::copy(&real, dir.join("ds/certs/log=mix/copy.parquet")).unwrap();
    assert_eq!(count(dir, "ds", "certs"), before);
    let out = run(
        &["check", "--data", "ds", "--no-store", "--format", "json"],
        dir,
    );
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let st = status_json(dir);
    assert_eq!(st["logs"][0]["rows"], 5);
    assert!(
        st["problems"][0].as_str().unwrap().contains("2 files"),
        "{st}"
    );
    let out = run(&["verify", "--data", "ds"], dir);
    assert_eq!(out.status.code(), Some(1));
    let problems = String::from_utf8_lossy(&out.stdout);
    assert!(
        problems.contains("certs/log=mix/zz.parquet: not named by the manifest"),
        "{problems}"
    );
    assert!(
        problems.contains("certs/log=mix/copy.parquet: not named by the manifest"),
        "{problems}"
    );
    // Compaction merges the dataset's files, not the strays.
    let out = run(&["compact", "--data", "ds", "--json"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(count(dir, "ds", "certs"), before);
}

#[test]
fn verify_names_each_kind_of_damage_and_status_stops_vouching() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_run_dataset(dir);
    let out = run(&["verify", "--data", "ds"], dir);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr(&out).contains("clean"), "{}", stderr(&out));

    // One data file deleted: status no longer claims its indices.
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("ds/certs/log=mix"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let second = files.pop().unwrap();
    let kept = fs::read(&second).unwrap();
    fs::remove_file(&second).unwrap();
    let st = status_json(dir);
    let log = &st["logs"][0];
    assert_eq!(log["damaged"], true, "{st}");
    assert_eq!(log["rows"], 4, "{st}");
    assert_eq!(log["ranges"], "0-3", "{st}");
    assert!(
        st["problems"][0].as_str().unwrap().contains("missing"),
        "{st}"
    );
    let out = run(&["status", "--data", "ds"], dir);
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning: damaged dataset"));
    let out = run(&["verify", "--data", "ds"], dir);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("named by the manifest, but missing"),
        "{text}"
    );
    assert!(
        text.contains("the manifest counts 5 certs rows, its files hold 4"),
        "{text}"
    );
    // A query names the missing file instead of failing obscurely.
    let out = run(
        &["query", "--data", "ds", "SELECT count(*) FROM certs"],
        dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(second.file_name().unwrap().to_str().unwrap()),
        "{}",
        stderr(&out)
    );

    // The same file back, but truncated: named as unreadable.
    fs::write(&second, &kept[..kept.len() - 9]).unwrap();
    let out = run(&["verify", "--data", "ds"], dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("bytes, but its commit wrote"), "{text}");
    assert!(text.contains("unreadable footer"), "{text}");
    let out = run(
        &["query", "--data", "ds", "SELECT count(*) FROM certs"],
        dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("damaged data file"),
        "{}",
        stderr(&out)
    );
    fs::write(&second, &kept).unwrap();

    // A pending interrupted commit is reported.
    fs::create_dir_all(dir.join("ds/_staging/part-x/certs")).unwrap();
    let out = run(&["verify", "--data", "ds"], dir);
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted run"));
    fs::remove_dir_all(dir.join("ds/_staging")).unwrap();
    assert_verified_clean(dir);
}

#[test]
fn a_lost_manifest_is_reported_and_reingest_does_not_double_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_run_dataset(dir);
    let rows = count(dir, "ds", "certs");
    fs::remove_file(dir.join("ds/manifest.parquet")).unwrap();
    let st = status_json(dir);
    assert!(
        st["problems"][0]
            .as_str()
            .unwrap()
            .contains("manifest is missing"),
        "{st}"
    );
    let (code, summary, err) = ingest(dir, &["mix"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("adopted"), "{err}");
    assert_eq!(summary["adopted_files"], 2);
    assert_eq!(summary["rows"], 0);
    assert_eq!(summary["duplicates"], rows);
    assert_eq!(count(dir, "ds", "certs"), rows);
    assert_verified_clean(dir);
}

#[test]
fn a_reader_sees_one_snapshot_while_a_commit_retires_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    two_run_dataset(dir);
    let data = dir.join("ds");
    let before = pipeline::dataset::snapshot::open(&data).unwrap();
    let old_files = before.table_files("certs");
    assert_eq!(old_files.len(), 2);
    // Compaction commits at once, then waits for this reader before
    // deleting the files it retired.
    let mut compact = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["compact", "--data", "ds"])
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while pipeline::dataset::manifest::generation(&data).unwrap() == before.manifest.generation {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "compact did not commit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        compact.try_wait().unwrap().is_none(),
        "compact did not wait for the reader"
    );
    for f in &old_files {
        assert!(f.exists(), "{} was deleted under a reader", f.display());
    }
    // A new reader already sees the compacted state.
    let after = pipeline::dataset::snapshot::open(&data).unwrap();
    assert_eq!(after.table_files("certs").len(), 1);
    drop(after);
    drop(before);
    let out = wait_at_most(compact, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for f in &old_files {
        assert!(!f.exists(), "{} was left behind", f.display());
    }
    assert_eq!(count(dir, "ds", "certs"), 5);
    assert_verified_clean(dir);
}

#[test]
fn after_a_crash_mid_commit_readers_see_the_previous_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    first_run_and_a_new_page(dir);
    fs::copy(sample("rocketeer/0-0.json"), dir.join("mix/5-5.json")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["ingest", "mix", "--out", "ds", "--progress", "quiet"])
        .env("PIPELINE_CRASH_AT", "mid_commit")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.code().is_none(), "not aborted: {}", stderr(&out));
    // One of the run's files is already in its partition; readers ignore it.
    assert_eq!(count(dir, "ds", "certs"), 4);
    let st = status_json(dir);
    assert_eq!(st["interrupted_run_pending"], true);
    assert_eq!(st["logs"][0]["rows"], 4);
    // The next writer finishes the commit.
    let (code, _, err) = ingest(dir, &["mix"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count(dir, "ds", "certs"), 6);
}

#[test]
fn terminal_output_shows_control_characters_and_data_output_stays_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    real_page(dir, "pilot", "pilot/0-3.json");
    let (code, _, err) = ingest(dir, &["pilot"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let sql = "SELECT 'a' || chr(27) || ']0;owned' || chr(7) || 'b' || chr(0) AS s, \
               'x' || chr(8238) || 'y' AS bidi";
    let out = run(&["query", "--data", "ds", sql], dir);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.contains(r"a\x1b]0;owned\x07b\x00"), "{table}");
    assert!(table.contains(r"x\u{202e}y"), "{table}");
    assert!(!out.stdout.contains(&0x1b) && !out.stdout.contains(&7));
    let out = run(&["query", "--data", "ds", "--format", "json", sql], dir);
    let row = &json_lines(&out.stdout)[0];
    assert_eq!(row["s"], "a\u{1b}]0;owned\u{7}b\u{0}");
    let out = run(&["query", "--data", "ds", "--format", "csv", sql], dir);
    let mut csv = csv::Reader::from_reader(&out.stdout[..]);
    let rec = csv.records().next().unwrap().unwrap();
    assert_eq!(&rec[0], "a\u{1b}]0;owned\u{7}b\u{0}");

    // A file name with control characters is escaped in messages.
    fs::write(dir.join("pilot/evil\u{1b}[2J.txt"), "x").unwrap();
    let (_, _, err) = ingest(dir, &["pilot"], &[]);
    assert!(err.contains(r"evil\x1b[2J.txt"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn leaf_timestamps_past_any_date_are_rejects_and_output_always_parses() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The real pilot page with its first entry's timestamp set to 2^63-1 ms.
    let page: Value = serde_json::from_slice(&fs::read(sample("pilot/0-3.json")).unwrap()).unwrap();
    let mut entries = page["entries"].as_array().unwrap().clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut leaf = b64
        .decode(entries[0]["leaf_input"].as_str().unwrap())
        .unwrap();
    leaf[2..10].copy_from_slice(&i64::MAX.to_be_bytes());
    entries[0]["leaf_input"] = Value::from(b64.encode(&leaf));
    fs::create_dir_all(dir.join("pilot")).unwrap();
    fs::write(
        dir.join("pilot/0-3.json"),
        serde_json::json!({ "entries": entries }).to_string(),
    )
    .unwrap();
    let (code, summary, err) = ingest(dir, &["pilot"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (summary["rows"].as_u64(), summary["rejects"].as_u64()),
        (Some(3), Some(1))
    );
    let r = query_json(dir, "ds", "SELECT kind, reason FROM rejects");
    assert_eq!(r[0]["kind"], "framing");
    assert!(r[0]["reason"]
        .as_str()
        .unwrap()
        .contains("9223372036854775807"));
    for format in ["table", "csv", "json"] {
        let out = run(
            &[
                "query",
                "--data",
                "ds",
                "--format",
                format,
                "SELECT * FROM certs",
            ],
            dir,
        );
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("ERROR"),
            "{format}"
        );
    }
}

#[test]
fn statements_that_write_are_refused_before_they_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    real_page(dir, "pilot", "pilot/0-3.json");
    let (code, _, err) = ingest(dir, &["pilot"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let target = dir.join("written.csv");
    let copy = format!(
        "COPY (SELECT 1 AS x) TO '{}' STORED AS CSV",
        target.display()
    );
    for sql in [
        copy.as_str(),
        "CREATE TABLE t AS SELECT 1",
        "SET datafusion.execution.batch_size = 1",
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'",
    ] {
        let out = run(&["query", "--data", "ds", sql], dir);
        assert_eq!(out.status.code(), Some(2), "{sql}");
        assert!(
            stderr(&out).contains("--allow-write"),
            "{sql}: {}",
            stderr(&out)
        );
    }
    assert!(!target.exists());
    let out = run(&["query", "--data", "ds", "--allow-write", &copy], dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(target.exists());
    // Even with --allow-write, nothing writes into the dataset's tables.
    let inside = format!(
        "COPY (SELECT 1 AS x) TO '{}/ds/certs/log=pilot/x.parquet'",
        dir.display()
    );
    let out = run(&["query", "--data", "ds", "--allow-write", &inside], dir);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!dir.join("ds/certs/log=pilot/x.parquet").exists());

    // A rule file that writes: broken, and its file never written.
    let rules = dir.join("rules");
    fs::create_dir_all(&rules).unwrap();
    let rule_target = dir.join("rule-wrote.csv");
    fs::write(
        rules.join("evil.sql"),
        format!(
            "-- id: evil\n-- severity: error\n-- description: writes\n\
             COPY (SELECT 1) TO '{}' STORED AS CSV\n",
            rule_target.display()
        ),
    )
    .unwrap();
    let out = run(
        &["check", "--data", "ds", "--rules", "rules", "--no-store"],
        dir,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("DML not supported"),
        "{}",
        stderr(&out)
    );
    assert!(!rule_target.exists());
}

#[test]
fn rule_parameters_are_typed_values_not_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = real_page(dir, "real", "real-certs/0-216.json.gz");
    assert!(log.exists());
    let (code, _, err) = ingest(dir, &["real"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let findings = |param: &str| {
        let out = run(
            &[
                "check",
                "--data",
                "ds",
                "--rule",
                "rsa_key_too_small",
                "--no-store",
                "--format",
                "json",
                "--param",
                param,
            ],
            dir,
        );
        (
            out.status.code(),
            json_lines(&out.stdout).len(),
            stderr(&out),
        )
    };
    let (_, none, _) = findings("rsa_key_too_small.min_bits=0");
    assert_eq!(none, 0);
    let (_, all, _) = findings("rsa_key_too_small.min_bits=100000");
    assert!(all > 0);
    let (code, n, err) = findings("rsa_key_too_small.min_bits=0 OR true");
    assert_eq!((code, n), (Some(2), 0), "{err}");
    assert!(err.contains("is not a number"), "{err}");
}

#[test]
fn log_names_read_back_exactly_as_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (i, name) in ["ct log %41 #1 ?x", "a%2Fb", "a/b=c"].iter().enumerate() {
        let copy = format!("copy{i}");
        real_page(dir, &copy, "pilot/0-3.json");
        let (code, _, err) = ingest(dir, &[copy.as_str()], &["--log", name]);
        assert_eq!(code, Some(0), "{name}: {err}");
    }
    let logs = query_json(dir, "ds", "SELECT DISTINCT log FROM certs ORDER BY log");
    let got: Vec<&str> = logs.iter().map(|r| r["log"].as_str().unwrap()).collect();
    assert_eq!(got, vec!["a%2Fb", "a/b=c", "ct log %41 #1 ?x"]);
    let st = status_json(dir);
    let names: Vec<&str> = st["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["log"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a%2Fb", "a/b=c", "ct log %41 #1 ?x"]);
    for l in st["logs"].as_array().unwrap() {
        assert_eq!(l["rows"], 4, "{l}");
    }
    assert_verified_clean(dir);
}

#[test]
fn non_utf8_file_names_are_read() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("pilot");
    fs::create_dir_all(&log).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"0-3.\xff.json");
    // Not a page name (no start index): give it one.
    fs::copy(sample("pilot/0-3.json"), log.join(name)).unwrap();
    let (code, summary, err) = ingest(dir, &["pilot"], &["--start-index", "0"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(summary["rows"], 4, "{err}");
}

/// Runs `pipeline` to the end and returns its output with its peak RSS in
/// bytes: the highest `VmHWM` of its own address space, read from
/// /proc while it runs. (`wait4`'s `ru_maxrss` is not that: a child spawned
/// with vfork and exec is charged its parent's high-water mark, and the test
/// process itself holds hundreds of MB.)
fn run_measured(args: &[&str], cwd: &Path) -> (Output, u64) {
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let watching = done.clone();
    let watcher = std::thread::spawn(move || {
        let mut peak = 0u64;
        while !watching.load(Ordering::Relaxed) {
            let Ok(text) = fs::read_to_string(&status_file) else {
                break;
            };
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak
    });
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        stderr_pipe.read_to_end(&mut e).unwrap();
        e
    });
    stdout.read_to_end(&mut out).unwrap();
    err.extend(reader.join().unwrap());
    // The child has closed its output: it is exiting or gone; its last
    // VmHWM was read while its memory was still mapped.
    let status = child.wait().unwrap();
    done.store(true, Ordering::Relaxed);
    let peak = watcher.join().unwrap();
    assert!(peak > 0, "no VmHWM read");
    (
        Output {
            status,
            stdout: out,
            stderr: err,
        },
        peak,
    )
}

#[test]
fn a_huge_page_of_tiny_entries_streams_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::create_dir_all(dir.join("elog")).unwrap();
    let n = 3_000_000usize;
    let mut page = b"{\"entries\":[".to_vec();
    for i in 0..n {
        page.extend_from_slice(if i + 1 < n { b"{}," } else { b"{}]}" });
    }
    // Its zstd form: 9 MB that decompress from a few kilobytes.
    let packed = zstd::encode_all(&page[..], 19).unwrap();
    fs::write(dir.join("elog/0-2999999.json.zst"), &packed).unwrap();
    let (out, peak) = run_measured(
        &[
            "ingest",
            "elog",
            "--out",
            "ds",
            "--progress",
            "quiet",
            "--json",
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = &json_lines(&out.stdout)[0];
    assert_eq!(summary["entries_read"], n);
    assert_eq!(summary["rejects"], n);
    // Before streaming, this page peaked above 4 GB.
    assert!(peak < 600 << 20, "peak RSS {} MB", peak >> 20);
    let kinds = query_json(
        dir,
        "ds",
        "SELECT kind, count(*) AS n FROM rejects GROUP BY kind",
    );
    assert_eq!(kinds.len(), 1);
    assert_eq!(
        (kinds[0]["kind"].as_str(), kinds[0]["n"].as_u64()),
        (Some("missing_field"), Some(n as u64))
    );
}

#[test]
fn csv_rows_may_hold_line_breaks() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A real certificate (badssl.com's, from pyca's test vectors).
    let der = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/real/x509/pyca-vectors/badssl-sct-none-hash.der"),
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    fs::create_dir_all(dir.join("axe")).unwrap();
    let url = "ct.googleapis.com/logs/argon2018";
    let csv = format!(
        "{url},7,abc,{b64},\"a.example\nb.example\",1,2\n{url},8,abc,{b64},c.example,1,2\n"
    );
    fs::write(dir.join("axe/certs.csv"), csv).unwrap();
    let (code, summary, err) = ingest(dir, &["axe"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (summary["rows"].as_u64(), summary["rejects"].as_u64()),
        (Some(2), Some(0)),
        "{err}"
    );
    let rows = query_json(dir, "ds", "SELECT entry_index FROM certs ORDER BY 1");
    assert_eq!(rows[0]["entry_index"], 7);
    assert_eq!(rows[1]["entry_index"], 8);
}

#[test]
fn a_panic_is_an_error_naming_the_command_or_a_reject_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    real_page(dir, "pilot", "pilot/0-3.json");
    // A panic while decoding costs its chunk, reported as an io reject.
    let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["ingest", "pilot", "--out", "ds", "--progress", "quiet"])
        .env("PIPELINE_CRASH_AT", "decode_panic")
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = query_json(dir, "ds", "SELECT kind, source_file, reason FROM rejects");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["kind"], "io");
    assert!(r[0]["source_file"].as_str().unwrap().ends_with("0-3.json"));
    assert!(r[0]["reason"]
        .as_str()
        .unwrap()
        .contains("internal error while decoding"));
    // A panic anywhere else is an error naming the command, exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["status", "--data", "ds"])
        .env("PIPELINE_CRASH_AT", "panic")
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: internal error in `pipeline status`"),
        "{err}"
    );
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
}
