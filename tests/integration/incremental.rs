//! Nightly operation, for real: the binary is run again and again over a
//! growing folder, killed with SIGKILL at chosen and at random moments, and
//! raced against itself; every time the dataset must be exactly what one
//! clean run gives.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

fn run(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run pipeline")
}

use crate::fixtures::{copy_into_drop, json_lines, pipeline_ok as ok};

/// Runs `pipeline ingest` on one input, expecting it to fail.
fn ingest_refused(dir: &Path, input: &str) -> (Option<i32>, String) {
    let out = run(
        &["ingest", "--out", "data", "--progress", "quiet", input],
        dir,
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ingest(dir: &Path, data: &str, inputs: &[&str], extra: &[&str]) -> Value {
    let mut args = vec!["ingest", "--out", data, "--progress", "quiet", "--json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(inputs);
    json_lines(&ok(&args, dir).stdout).remove(0)
}

fn query(dir: &Path, data: &str, sql: &str) -> Vec<Value> {
    json_lines(&ok(&["query", "--data", data, "--format", "json", sql], dir).stdout)
}

/// Every stored row, as (table, log, index, identity), sorted.
fn contents(dir: &Path, data: &str) -> Vec<String> {
    let rows = query(
        dir,
        data,
        "SELECT 'certs' AS t, log, entry_index, hex(cert_sha256) AS id FROM certs
         UNION ALL SELECT 'rejects', log, entry_index, kind || ' ' || position FROM rejects
         ORDER BY 1, 2, 3, 4",
    );
    rows.iter().map(|r| r.to_string()).collect()
}

/// Asserts two datasets' contents are equal, showing where they differ.
fn assert_same(got: &[String], want: &[String], context: &str) {
    if got != want {
        let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(5).collect();
        panic!(
            "{context}: {} rows, want {}; missing {missing:?}; extra {extra:?}",
            got.len(),
            want.len()
        );
    }
}

/// Files a reader of the dataset's tables would see, and any debris.
fn visible_files(data: &Path) -> (BTreeSet<String>, Vec<String>) {
    let mut files = BTreeSet::new();
    let mut debris = Vec::new();
    fn walk(root: &Path, dir: &Path, files: &mut BTreeSet<String>, debris: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() {
                walk(root, &p, files, debris);
            } else if rel.ends_with(".inprogress") || rel.starts_with("_staging") {
                debris.push(rel);
            } else {
                files.insert(rel);
            }
        }
    }
    if data.exists() {
        walk(data, data, &mut files, &mut debris);
    }
    (files, debris)
}

/// A generated two-log dump in `dir/dump`, and the list of its files.
fn dump(dir: &Path, entries: &str) -> Vec<PathBuf> {
    ok(
        &[
            "synth",
            "--entries",
            entries,
            "--seed",
            "11",
            "--out",
            "dump",
        ],
        dir,
    );
    let mut files = Vec::new();
    for log in ["synth-1", "synth-2"] {
        let mut names: Vec<PathBuf> = fs::read_dir(dir.join("dump").join(log))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        files.extend(names);
    }
    files
}

#[test]
fn nightly_runs_read_only_new_files_and_store_each_entry_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = dump(dir, "6000");
    let (first, second) = files.split_at(files.len() / 2);

    // One clean run over everything: the reference.
    let full = ingest(dir, "ref", &["dump/synth-1", "dump/synth-2"], &[]);
    let reference = contents(dir, "ref");
    assert_eq!(
        reference.len() as u64,
        full["rows"].as_u64().unwrap() + full["rejects"].as_u64().unwrap()
    );

    // Night 1: half the files have landed.
    copy_into_drop(dir, first);
    let night1 = ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    assert_eq!(night1["files"].as_u64(), Some(first.len() as u64));
    assert_eq!(night1["already_ingested"].as_u64(), Some(0));

    // Night 2: nothing new. Nothing is written, and it says so.
    let (before, _) = visible_files(&dir.join("data"));
    let manifest_before = fs::read(dir.join("data/manifest.parquet")).unwrap();
    let idle = ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    assert_eq!(idle["files"].as_u64(), Some(0));
    assert_eq!(idle["already_ingested"].as_u64(), Some(first.len() as u64));
    assert_eq!(idle["entries_read"].as_u64(), Some(0));
    assert_eq!(visible_files(&dir.join("data")).0, before);
    assert_eq!(
        fs::read(dir.join("data/manifest.parquet")).unwrap(),
        manifest_before
    );

    // Night 3: the rest lands; only it is read.
    copy_into_drop(dir, second);
    let night3 = ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    assert_eq!(night3["files"].as_u64(), Some(second.len() as u64));
    assert_eq!(
        night3["already_ingested"].as_u64(),
        Some(first.len() as u64)
    );
    assert_same(&contents(dir, "data"), &reference, "data");

    // The manifest lists every input once, with counts that add up.
    let m = query(
        dir,
        "data",
        "SELECT count(*) AS files, count(DISTINCT path) AS paths, sum(rows) AS rows,
                sum(rejects) AS rejects, sum(duplicates) AS dups,
                sum(CASE WHEN length(hex(blake3)) = 64 AND sha256 IS NULL THEN 1 ELSE 0 END) AS hashed
         FROM manifest",
    );
    assert_eq!(m[0]["files"].as_u64(), Some(files.len() as u64));
    assert_eq!(m[0]["paths"].as_u64(), Some(files.len() as u64));
    assert_eq!(m[0]["hashed"].as_u64(), Some(files.len() as u64));
    assert_eq!(m[0]["rows"], full["rows"]);
    assert_eq!(m[0]["rejects"], full["rejects"]);
    assert_eq!(m[0]["dups"].as_u64(), Some(0));

    // A re-download of one page under another name: its entries are
    // already there, so they are counted as duplicates and not stored.
    let page = first
        .iter()
        .find(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("0-999.json")
        })
        .expect("the first page of synth-1");
    let page_name = page.file_name().unwrap().to_owned();
    let again = dir.join("redownload/synth-1");
    fs::create_dir_all(&again).unwrap();
    fs::copy(page, again.join(&page_name)).unwrap();
    let dup = ingest(dir, "data", &["redownload/synth-1"], &[]);
    assert_eq!(dup["files"].as_u64(), Some(1));
    assert_eq!(dup["rows"].as_u64(), Some(0));
    assert_eq!(dup["duplicates"].as_u64(), Some(1000));
    assert_same(&contents(dir, "data"), &reference, "data");
    let distinct = query(
        dir,
        "data",
        "SELECT count(*) AS n, count(DISTINCT log || ':' || CAST(entry_index AS VARCHAR)) AS d FROM certs",
    );
    assert_eq!(distinct[0]["n"], distinct[0]["d"]);

    // A file that changed after it was ingested is refused, by name.
    let victim = dir.join("drop/synth-1").join(&page_name);
    let mut bytes = fs::read(&victim).unwrap();
    bytes.extend_from_slice(b"\n");
    fs::write(&victim, bytes).unwrap();
    let (code, err) = ingest_refused(dir, "drop/synth-1");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("0-999.json") && err.contains("changed since"),
        "{err}"
    );
    assert_same(&contents(dir, "data"), &reference, "data");
}

/// Runs ingest with `PIPELINE_CRASH_AT` set and checks that it died.
fn crash_at(dir: &Path, point: &str) {
    let out = bin()
        .args([
            "ingest",
            "--out",
            "data",
            "--progress",
            "quiet",
            "dump/synth-1",
            "dump/synth-2",
        ])
        .env("PIPELINE_CRASH_AT", point)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "{point}: the run was not aborted"
    );
}

#[test]
fn kill_9_at_any_moment_then_the_same_command_gives_the_clean_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    dump(dir, "30000");
    let inputs = ["dump/synth-1", "dump/synth-2"];
    let clean = ingest(dir, "ref", &inputs, &[]);
    let reference = contents(dir, "ref");
    let data = dir.join("data");

    // At the three points that matter for atomicity.
    for point in ["staged", "committed", "mid_commit"] {
        let _ = fs::remove_dir_all(&data);
        crash_at(dir, point);
        let (visible, _) = visible_files(&data);
        let parquet = visible.iter().filter(|f| f.ends_with(".parquet")).count();
        match point {
            // Nothing committed: no data file and no manifest visible.
            "staged" | "committed" => assert_eq!(parquet, 0, "{point}: {visible:?}"),
            _ => {}
        }
        let rerun = ingest(dir, "data", &inputs, &[]);
        let expect_files = if point == "staged" {
            clean["files"].clone()
        } else {
            Value::from(0)
        };
        assert_eq!(rerun["files"], expect_files, "{point}");
        assert_same(&contents(dir, "data"), &reference, point);
        assert!(visible_files(&data).1.is_empty(), "{point}: debris left");
    }

    // And at moments nobody chose: SIGKILL after a range of delays, some
    // runs killed twice before one finishes.
    let _ = fs::remove_dir_all(&data);
    for delay_ms in [5u64, 40, 120, 250, 400, 700, 1000] {
        let mut child = bin()
            .args([
                "ingest",
                "--out",
                "data",
                "--progress",
                "quiet",
                "--threads",
                "1",
            ])
            .args(inputs)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    ingest(dir, "data", &inputs, &[]);
    assert_same(&contents(dir, "data"), &reference, "data");
    assert!(visible_files(&data).1.is_empty());
    let again = ingest(dir, "data", &inputs, &[]);
    assert_eq!(again["files"].as_u64(), Some(0));
}

#[test]
fn a_second_writer_refuses_or_waits_and_never_corrupts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    dump(dir, "1500");
    let data = dir.join("data");
    let lock = pipeline::dataset::commit::lock(&data, false, &pipeline::notes::Silent).unwrap();

    let (code, err) = ingest_refused(dir, "dump/synth-1");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("another pipeline run"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(!data.join("manifest.parquet").exists());

    // With --wait it starts once the holder lets go.
    let child = bin()
        .args([
            "ingest",
            "--out",
            "data",
            "--progress",
            "quiet",
            "--json",
            "--wait",
            "dump/synth-1",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    drop(lock);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("waiting for another pipeline run"), "{err}");
    let summary = json_lines(&out.stdout).remove(0);
    assert!(summary["rows"].as_u64().unwrap() > 0);
}

/// (rule, cert_sha256) of `check --format json` output lines.
fn finding_keys(out: &Output) -> BTreeSet<(String, String)> {
    json_lines(&out.stdout)
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["cert_sha256"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn check_new_reports_only_what_appeared_since_the_previous_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = dump(dir, "6000");
    let (first, second) = files.split_at(files.len() / 2);
    let check = |args: &[&str]| {
        let mut all = vec!["check", "--data", "data", "--format", "json"];
        all.extend_from_slice(args);
        run(&all, dir)
    };

    copy_into_drop(dir, first);
    ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    let night1 = check(&["--new"]);
    assert_eq!(night1.status.code(), Some(1), "error findings exit 1");
    let seen1 = finding_keys(&night1);
    assert!(seen1.len() > 20, "{}", seen1.len());
    assert!(String::from_utf8_lossy(&night1.stderr).contains("no earlier run"));

    copy_into_drop(dir, second);
    ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    let everything = finding_keys(&check(&["--no-store"]));
    let night2 = check(&["--new"]);
    let new2 = finding_keys(&night2);
    let expected: BTreeSet<_> = everything.difference(&seen1).cloned().collect();
    assert!(!expected.is_empty());
    assert_eq!(new2, expected);
    assert_eq!(night2.status.code(), Some(1));

    // Nothing new landed: nothing to report, exit 0, and that run (with no
    // new findings, but all of them stored) is what the next one compares to.
    let night3 = check(&["--new"]);
    assert!(finding_keys(&night3).is_empty());
    assert_eq!(
        night3.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&night3.stderr)
    );
    let night4 = check(&["--new"]);
    assert!(finding_keys(&night4).is_empty());
}

fn status(dir: &Path) -> Value {
    json_lines(&ok(&["status", "--data", "data", "--format", "json"], dir).stdout).remove(0)
}

#[test]
fn status_shows_coverage_and_the_gaps_a_missing_page_leaves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = dump(dir, "6000");
    let name = |f: &PathBuf| f.file_name().unwrap().to_string_lossy().into_owned();
    let log1: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.parent().unwrap().ends_with("synth-1"))
        .cloned()
        .collect();
    let (middle, rest): (Vec<PathBuf>, Vec<PathBuf>) = log1
        .into_iter()
        .partition(|f| name(f).starts_with("1000-1999.json"));
    assert_eq!(middle.len(), 1);
    copy_into_drop(dir, &rest);
    ingest(dir, "data", &["drop/synth-1"], &[]);

    let st = status(dir);
    assert_eq!(st["interrupted_run_pending"], Value::Bool(false));
    let logs = st["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    let s = &logs[0];
    assert_eq!(s["log"], "synth-1");
    let counts = query(
        dir,
        "data",
        "SELECT (SELECT count(*) FROM certs) AS rows, (SELECT count(*) FROM rejects) AS rejects,
                (SELECT count(*) FROM certs WHERE parse_error IS NOT NULL) AS pe,
                (SELECT count(*) FROM certs) + (SELECT count(*) FROM rejects
                    WHERE entry_index IS NOT NULL AND kind <> 'io') AS indexed",
    );
    let c = &counts[0];
    assert_eq!(s["rows"], c["rows"]);
    assert_eq!(s["rejects"], c["rejects"]);
    assert_eq!(s["parse_errors"], c["pe"]);
    assert_eq!(
        s["entries"].as_u64(),
        Some(c["rows"].as_u64().unwrap() + c["rejects"].as_u64().unwrap())
    );
    assert_eq!(s["first_index"].as_u64(), Some(0));
    assert_eq!(s["last_index"].as_u64(), Some(2999));
    let gaps = s["gaps"].as_str().unwrap();
    assert!(gaps.starts_with("1000-1999"), "{gaps}");
    // Every index between first and last is either stored or missing.
    assert_eq!(
        s["missing"].as_u64().unwrap() + c["indexed"].as_u64().unwrap(),
        3000
    );
    assert_eq!(s["input_files"].as_u64(), Some(rest.len() as u64));
    assert!(s["bytes_on_disk"].as_u64().unwrap() > 100_000);
    assert!(s["first_entry_time"].as_str().unwrap() <= s["last_entry_time"].as_str().unwrap());
    assert!(s["last_ingest"].as_str().unwrap().starts_with("20"));

    // The missing page lands: its gap closes.
    copy_into_drop(dir, &middle);
    ingest(dir, "data", &["drop/synth-1"], &[]);
    let s = &status(dir)["logs"][0];
    assert!(!s["gaps"].as_str().unwrap().contains("1000-1999"), "{s}");
    assert_eq!(s["missing"].as_u64().unwrap() + 1000, {
        let before = gaps.split(',').map(|g| match g.split_once('-') {
            Some((a, b)) => b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1,
            None => 1,
        });
        before.sum::<u64>()
    });
    let table = String::from_utf8(ok(&["status", "--data", "data"], dir).stdout).unwrap();
    assert!(
        table.starts_with("log") && table.contains("synth-1"),
        "{table}"
    );
}

/// Data files of the dataset, per table/log partition.
fn partition_files(data: &Path) -> std::collections::BTreeMap<String, Vec<PathBuf>> {
    let mut out = std::collections::BTreeMap::<String, Vec<PathBuf>>::new();
    for table in ["certs", "rejects"] {
        let Ok(logs) = fs::read_dir(data.join(table)) else {
            continue;
        };
        for log in logs.flatten() {
            let key = format!("{table}/{}", log.file_name().to_string_lossy());
            for f in fs::read_dir(log.path()).unwrap().flatten() {
                out.entry(key.clone()).or_default().push(f.path());
            }
        }
    }
    out
}

/// The entry_index values of a Parquet file, in file order.
fn entry_indices(path: &Path) -> Vec<i64> {
    let file = fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut indices = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = batch.column_by_name("entry_index").unwrap();
        let col = col
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        indices.extend(col.iter().flatten());
    }
    indices
}

#[test]
fn compact_merges_nightly_files_sorted_and_keeps_the_manifest_true() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = dump(dir, "6000");
    // Every third file each night, so that every partition gets 3 files.
    for night in 0..3 {
        let landed: Vec<PathBuf> = files.iter().skip(night).step_by(3).cloned().collect();
        copy_into_drop(dir, &landed);
        ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    }
    let data = dir.join("data");
    let before = contents(dir, "data");
    let status_before = status(dir);
    assert!(partition_files(&data)
        .iter()
        .all(|(p, f)| f.len() >= 2 || p.starts_with("rejects")));

    // A crash in the middle of compaction's commit: the next writer finishes it.
    let out = bin()
        .args(["compact", "--data", "data"])
        .env("PIPELINE_CRASH_AT", "mid_commit")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.code().is_none(), "compaction was not aborted");
    let again = ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    assert_eq!(again["files"].as_u64(), Some(0));
    assert_same(&contents(dir, "data"), &before, "after recovery");
    for (partition, files) in partition_files(&data) {
        assert_eq!(files.len(), 1, "{partition}: {files:?}");
        // Sorted by entry_index within the file.
        let indices = entry_indices(&files[0]);
        let unsorted = indices.windows(2).position(|w| w[0] > w[1]);
        assert!(
            unsorted.is_none(),
            "{partition} not sorted at {unsorted:?}: {:?}",
            unsorted.map(|i| &indices[i.saturating_sub(3)..(i + 3).min(indices.len())])
        );
    }
    // The manifest names only files that exist, and status is unchanged.
    let listed = query(
        dir,
        "data",
        "SELECT DISTINCT unnest(output_files) AS f FROM manifest",
    );
    assert!(!listed.is_empty());
    for f in &listed {
        assert!(data.join(f["f"].as_str().unwrap()).exists(), "{f}");
    }
    let mut status_after = status(dir);
    for (a, b) in status_after["logs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(status_before["logs"].as_array().unwrap())
    {
        assert!(a["bytes_on_disk"].as_u64().unwrap() > 0);
        a["bytes_on_disk"] = b["bytes_on_disk"].clone();
    }
    assert_eq!(status_after, status_before);

    // Nothing left to merge.
    let out = ok(&["compact", "--data", "data", "--json"], dir);
    assert_eq!(
        json_lines(&out.stdout)[0]["compacted"],
        serde_json::json!([])
    );
}

#[test]
fn compact_sorts_within_its_memory_limit_and_a_limit_too_small_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = dump(dir, "100000");
    // Two nights, so that every partition has two files to merge.
    for night in 0..2 {
        let landed: Vec<PathBuf> = files.iter().skip(night).step_by(2).cloned().collect();
        copy_into_drop(dir, &landed);
        ingest(dir, "data", &["drop/synth-1", "drop/synth-2"], &[]);
    }
    let data = dir.join("data");
    let before = contents(dir, "data");
    let files_before = partition_files(&data);
    assert!(files_before
        .iter()
        .any(|(p, f)| p.starts_with("certs") && f.len() == 2));

    // Too little memory for the sort's merge: refused, nothing changed.
    let out = run(&["compact", "--data", "data", "--memory-limit", "8M"], dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory"), "{err}");
    assert_eq!(partition_files(&data), files_before);
    assert_same(
        &contents(dir, "data"),
        &before,
        "after a refused compaction",
    );

    // Within 32 MiB (the 50,000 certs rows of a partition take more in
    // Arrow, so the sort spills): the same rows, sorted, one file each.
    ok(&["compact", "--data", "data", "--memory-limit", "32M"], dir);
    assert_same(&contents(dir, "data"), &before, "after compaction");
    for (partition, files) in partition_files(&data) {
        assert_eq!(files.len(), 1, "{partition}: {files:?}");
        let indices = entry_indices(&files[0]);
        assert!(
            indices.windows(2).all(|w| w[0] <= w[1]),
            "{partition} not sorted"
        );
    }
}

#[test]
fn an_overlap_is_stored_once_and_a_differing_copy_is_reported_as_a_conflict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let real = crate::fixtures::data_dir()
        .join("real/ct-entries/pilot_2013_4x509_ct-go-scanner-FourEntries.json");
    let page: Value = serde_json::from_slice(&fs::read(real).unwrap()).unwrap();
    let entries = page["entries"].as_array().unwrap();
    crate::fixtures::write_page(&dir.join("argon/0-3.json"), entries);
    // A second download of indices 2-4: index 2 as stored, index 3 holding
    // another certificate (entry 0's), index 4 new (entry 1's certificate):
    // one batch of which only the last row is stored.
    crate::fixtures::write_page(
        &dir.join("mirror/argon/2-4.json"),
        &[entries[2].clone(), entries[0].clone(), entries[1].clone()],
    );
    let first = ingest(dir, "data", &["argon"], &[]);
    assert_eq!(first["rows"].as_u64(), Some(4));

    let out = run(
        &[
            "ingest",
            "--out",
            "data",
            "--progress",
            "quiet",
            "--json",
            "mirror/argon",
        ],
        dir,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let s = json_lines(&out.stdout).remove(0);
    assert_eq!(s["rows"].as_u64(), Some(1));
    assert_eq!(s["duplicates"].as_u64(), Some(2));
    assert_eq!(s["conflicts"].as_u64(), Some(1));
    assert!(
        err.contains("conflict: log argon entry 3 in mirror/argon/2-4.json"),
        "{err}"
    );
    assert!(!err.contains("entry 2 in"), "{err}");
    let m = query(
        dir,
        "data",
        "SELECT sum(duplicates) AS d, sum(conflicts) AS c, count(*) AS n FROM manifest",
    );
    assert_eq!(m[0]["d"].as_u64(), Some(2));
    assert_eq!(m[0]["c"].as_u64(), Some(1));
    // The stored entry 3 is still the original; entry 4 is entry 1's
    // certificate, stored once.
    let stored = query(
        dir,
        "data",
        "SELECT entry_index AS i, cert_sha256 AS h FROM certs ORDER BY entry_index",
    );
    let index: Vec<u64> = stored.iter().map(|r| r["i"].as_u64().unwrap()).collect();
    assert_eq!(index, [0, 1, 2, 3, 4]);
    assert_eq!(stored[4]["h"], stored[1]["h"]);
    assert_ne!(stored[3]["h"], stored[0]["h"]);
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`; None where mounting is not allowed (not root).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_or_a_read_only_dataset_fails_clearly_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some(disk) = Tmpfs::mount(&dir.join("data"), "300k") else {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    };
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
    let sample_logs: Vec<String> = ["pilot", "icarus", "rocketeer"]
        .iter()
        .map(|l| sample.join(l).display().to_string())
        .collect();
    let logs: Vec<&str> = sample_logs.iter().map(String::as_str).collect();
    ingest(dir, "data", &logs, &[]);
    let before = contents(dir, "data");
    let (files_before, _) = visible_files(&dir.join("data"));

    // Disk full half-way through a run of 6,000 entries.
    dump(dir, "6000");
    let (code, err) = ingest_refused(dir, "dump/synth-1");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("data/"), "the error names the file: {err}");
    assert_same(&contents(dir, "data"), &before, "after disk full");
    let (files_after, debris) = visible_files(&dir.join("data"));
    assert_eq!(files_after, files_before);
    assert!(debris.is_empty(), "{debris:?}");

    // Read-only: refused before anything is read, dataset still readable.
    disk.remount_read_only();
    let (code, err) = ingest_refused(dir, "dump/synth-2");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_same(&contents(dir, "data"), &before, "read-only");
}

/// A dump file's JSON, whatever its compression.
fn read_page(path: &Path) -> Value {
    let raw = fs::read(path).unwrap();
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out).unwrap();
        out
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&raw[..]).unwrap()
    } else {
        raw
    };
    serde_json::from_slice(&text).unwrap()
}

/// The per-log coverage figures of `status`, without times and sizes.
fn coverage_of(dir: &Path, data: &str) -> Vec<String> {
    let st = json_lines(&ok(&["status", "--data", data, "--format", "json"], dir).stdout).remove(0);
    st["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{} entries={} rows={} rejects={} ranges={} gaps={}",
                l["log"], l["entries"], l["rows"], l["rejects"], l["ranges"], l["gaps"]
            )
        })
        .collect()
}

#[test]
fn replace_swaps_a_changed_inputs_rows_in_one_commit_even_when_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = dump(dir, "6000");
    copy_into_drop(dir, &files);
    let inputs = ["drop/synth-1", "drop/synth-2"];
    ingest(dir, "data", &inputs, &[]);
    let before = query(
        dir,
        "data",
        "SELECT sum(rows) AS rows, sum(rejects) AS rejects FROM manifest
         WHERE path LIKE '%synth-1/0-999.json%' OR path LIKE '%synth-2/1024-1279.json%'",
    );

    // Two pages are re-published: the first of synth-1 with other
    // certificates at the same indices (from another seed), a page of
    // synth-2 cut short to its first 100 entries.
    ok(
        &[
            "synth",
            "--entries",
            "6000",
            "--seed",
            "12",
            "--out",
            "other",
        ],
        dir,
    );
    let starting = |d: &Path, prefix: &str| -> PathBuf {
        fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {}", d.display()))
    };
    let page_a = starting(&dir.join("drop/synth-1"), "0-999.json");
    let fresh_a = read_page(&starting(&dir.join("other/synth-1"), "0-999.json"));
    assert_ne!(
        read_page(&page_a),
        fresh_a,
        "the other seed gives other entries"
    );
    fs::write(&page_a, serde_json::to_vec(&fresh_a).unwrap()).unwrap();
    let page_b = starting(&dir.join("drop/synth-2"), "1024-1279.json");
    let mut short_b = read_page(&page_b);
    short_b["entries"].as_array_mut().unwrap().truncate(100);
    fs::write(&page_b, serde_json::to_vec(&short_b).unwrap()).unwrap();

    // The reference: one clean run over the folder as it is now.
    ingest(dir, "ref", &inputs, &[]);
    let reference = contents(dir, "ref");

    // Without --replace: refused, naming the file and the way out.
    let (code, err) = ingest_refused(dir, "drop/synth-1");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("0-999.json") && err.contains("--replace"),
        "{err}"
    );

    // Killed before and in the middle of its commit, then run again:
    // the dataset is either the old one or the new one, never a mix.
    let old = contents(dir, "data");
    for point in ["staged", "mid_commit"] {
        let out = bin()
            .args([
                "ingest",
                "--out",
                "data",
                "--progress",
                "quiet",
                "--replace",
            ])
            .args(inputs)
            .env("PIPELINE_CRASH_AT", point)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.code().is_none(), "{point}: not aborted");
        if point == "staged" {
            assert_same(&contents(dir, "data"), &old, point);
        }
    }
    let swapped = ingest(dir, "data", &inputs, &["--replace"]);
    // The mid-commit crash was rolled forward by the rerun's recovery, so
    // this run found nothing left to replace.
    assert_eq!(swapped["files"].as_u64(), Some(0), "{swapped}");
    assert_same(&contents(dir, "data"), &reference, "after the crashes");
    assert_eq!(coverage_of(dir, "data"), coverage_of(dir, "ref"));

    // Uninterrupted, from the old dataset again.
    let _ = fs::remove_dir_all(dir.join("data"));
    let original: Vec<PathBuf> = files.clone();
    let _ = fs::remove_dir_all(dir.join("drop"));
    copy_into_drop(dir, &original);
    ingest(dir, "data", &inputs, &[]);
    fs::write(&page_a, serde_json::to_vec(&fresh_a).unwrap()).unwrap();
    fs::write(&page_b, serde_json::to_vec(&short_b).unwrap()).unwrap();
    let swapped = ingest(dir, "data", &inputs, &["--replace"]);
    assert_eq!(swapped["files"].as_u64(), Some(2), "{swapped}");
    assert_eq!(swapped["replaced"].as_u64(), Some(2));
    assert_eq!(swapped["rows_removed"], before[0]["rows"]);
    assert_eq!(swapped["rejects_removed"], before[0]["rejects"]);
    assert_eq!(
        swapped["already_ingested"].as_u64(),
        Some(files.len() as u64 - 2)
    );
    assert_same(&contents(dir, "data"), &reference, "replaced");
    assert_eq!(coverage_of(dir, "data"), coverage_of(dir, "ref"));
    let gaps = coverage_of(dir, "data").join(" ");
    assert!(gaps.contains("1124-1279"), "{gaps}");

    // The manifest: one entry per input, the new content's hash and counts,
    // and only files that exist.
    let m = query(
        dir,
        "data",
        "SELECT count(*) AS n, count(DISTINCT path) AS paths, sum(rows) + sum(rejects) AS stored
         FROM manifest",
    );
    assert_eq!(m[0]["n"].as_u64(), Some(files.len() as u64));
    assert_eq!(m[0]["paths"], m[0]["n"]);
    assert_eq!(m[0]["stored"].as_u64(), Some(reference.len() as u64));
    let listed = query(
        dir,
        "data",
        "SELECT DISTINCT unnest(output_files) AS f FROM manifest",
    );
    for f in &listed {
        let f = f["f"].as_str().unwrap();
        assert!(
            dir.join("data").join(f).is_file(),
            "manifest names missing {f}"
        );
    }
    let (visible, debris) = visible_files(&dir.join("data"));
    assert!(debris.is_empty(), "{debris:?}");
    let parquet = visible
        .iter()
        .filter(|f| f.ends_with(".parquet") && *f != "manifest.parquet")
        .count();
    assert_eq!(parquet, listed.len(), "every data file is some input's");

    // And the next night has nothing to do.
    let idle = ingest(dir, "data", &inputs, &["--replace"]);
    assert_eq!(idle["files"].as_u64(), Some(0));
}

/// Rewrites `data`'s manifest as a release before BLAKE3 wrote it: the
/// input's SHA-256 in `sha256`, no `blake3` column; footer kept.
fn rewrite_manifest_with_sha256(data: &Path) {
    use arrow::array::{Array, ArrayRef, AsArray, BinaryArray};
    use arrow::datatypes::{Field, Schema};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use sha2::Digest;
    use std::sync::Arc;

    let path = data.join("manifest.parquet");
    let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let inputs = batch.column_by_name("path").unwrap().as_string::<i32>();
    let sha: BinaryArray = (0..batch.num_rows())
        .map(|i| Some(sha2::Sha256::digest(fs::read(inputs.value(i)).unwrap()).to_vec()))
        .collect();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.name().as_str() {
            "blake3" => {
                fields.push(Field::new(
                    "sha256",
                    arrow::datatypes::DataType::Binary,
                    false,
                ));
                columns.push(Arc::new(sha.clone()));
            }
            "sha256" => assert_eq!(column.null_count(), column.len(), "no legacy hash yet"),
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    let old = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(kv)
        .build();
    let tmp = data.join("manifest.parquet.old");
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        fs::File::create(&tmp).unwrap(),
        old.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&old).unwrap();
    writer.close().unwrap();
    fs::rename(&tmp, &path).unwrap();
}

#[test]
fn a_manifest_hashed_with_sha256_keeps_its_inputs_and_compares_like_with_like() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let files = dump(dir, "3000");
    copy_into_drop(dir, &files);
    let inputs = ["drop/synth-1", "drop/synth-2"];
    ingest(dir, "data", &inputs, &[]);
    let reference = contents(dir, "data");
    rewrite_manifest_with_sha256(&dir.join("data"));

    // Every input touched: size and time no longer settle it, the hash does,
    // and it is the SHA-256 the manifest holds, so nothing is read again.
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    for f in fs::read_dir(dir.join("drop/synth-1")).unwrap().flatten() {
        let file = fs::File::options().append(true).open(f.path()).unwrap();
        file.set_modified(later).unwrap();
    }
    let again = ingest(dir, "data", &inputs, &[]);
    assert_eq!(again["files"].as_u64(), Some(0), "{again}");
    assert_eq!(
        again["already_ingested"].as_u64(),
        Some(files.len() as u64),
        "{again}"
    );
    assert_same(&contents(dir, "data"), &reference, "after touching");

    // A changed input is still noticed, and replacing it records BLAKE3 for
    // it while the others keep their SHA-256.
    let page = dir.join("drop/synth-1").join(files[0].file_name().unwrap());
    let mut bytes = fs::read(&page).unwrap();
    let last = bytes.len() - 1;
    bytes.insert(last, b' ');
    fs::write(&page, bytes).unwrap();
    let (code, err) = ingest_refused(dir, "drop/synth-1");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("changed since run"), "{err}");
    ingest(dir, "data", &inputs, &["--replace"]);
    let hashes = query(
        dir,
        "data",
        "SELECT count(blake3) AS blake3, count(sha256) AS sha256,
                sum(CASE WHEN length(hex(blake3)) = 64 AND sha256 IS NULL THEN 1 ELSE 0 END) AS new,
                sum(CASE WHEN length(hex(sha256)) = 64 AND blake3 IS NULL THEN 1 ELSE 0 END) AS old
         FROM manifest",
    );
    let n = files.len() as u64;
    assert_eq!(hashes[0]["blake3"].as_u64(), Some(1), "{hashes:?}");
    assert_eq!(hashes[0]["new"].as_u64(), Some(1), "{hashes:?}");
    assert_eq!(hashes[0]["sha256"].as_u64(), Some(n - 1), "{hashes:?}");
    assert_eq!(hashes[0]["old"].as_u64(), Some(n - 1), "{hashes:?}");
    assert_same(&contents(dir, "data"), &reference, "after replacing");
}
