//! scripts/nightly, run for real over a drop folder that fills night after
//! night: reports, exit statuses, compaction, and only new findings.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::fixtures::{copy_into_drop, pipeline_ok};

fn nightly(dir: &Path) -> (Option<i32>, Value, String) {
    nightly_with(dir, &[])
}

/// `scripts/nightly --drop drop --data data --reports reports` with `extra`:
/// its exit status, report.json and summary.md.
pub fn nightly_with(dir: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nightly");
    let out = Command::new("python3")
        .arg(script)
        .args(["--drop", "drop", "--data", "data", "--reports", "reports"])
        .args(["--compact-at", "3", "--bin", env!("CARGO_BIN_EXE_pipeline")])
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("python3 runs scripts/nightly");
    let latest = dir.join("reports/latest");
    let report: Value =
        serde_json::from_str(&fs::read_to_string(latest.join("report.json")).unwrap()).unwrap();
    let summary = fs::read_to_string(latest.join("summary.md")).unwrap();
    if report["status"] != "failed" {
        // Each night's HTML report of the run it stored, beside report.json.
        let html = fs::read_to_string(latest.join("report.html")).unwrap();
        assert!(
            html.contains("id=\"league\""),
            "report.html has no league table"
        );
        assert!(report["report_html"]
            .as_str()
            .unwrap()
            .ends_with("report.html"));
    }
    (out.status.code(), report, summary)
}

/// Entries in the dataset after a run, over all logs of its report.
fn total_entries(report: &Value) -> u64 {
    report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["entries"].as_u64().unwrap())
        .sum()
}

#[test]
fn the_nightly_job_ingests_new_dumps_compacts_and_reports_only_new_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline_ok(
        &[
            "synth",
            "--entries",
            "6000",
            "--seed",
            "21",
            "--out",
            "dump",
        ],
        dir,
    );
    let mut files: Vec<PathBuf> = ["synth-1", "synth-2"]
        .iter()
        .flat_map(|log| fs::read_dir(dir.join("dump").join(log)).unwrap().flatten())
        .map(|e| e.path())
        .collect();
    files.sort();
    let nights: Vec<Vec<PathBuf>> = (0..3)
        .map(|n| files.iter().skip(n).step_by(3).cloned().collect())
        .collect();

    copy_into_drop(dir, &nights[0]);
    let (code, r1, summary) = nightly(dir);
    assert_eq!(code, Some(1), "new error findings: {r1}");
    assert_eq!(r1["status"], "alert");
    let alerts = r1["alerts"].to_string();
    assert!(alerts.contains("new error findings"), "{alerts}");
    let unreadable = r1["ingest"]["unreadable"].as_u64().unwrap();
    assert_eq!(
        alerts.contains("unreadable input"),
        unreadable > 0,
        "{alerts}"
    );
    assert_eq!(r1["ingest"]["files"].as_u64(), Some(nights[0].len() as u64));
    let new1: u64 = r1["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["new_entries"].as_u64().unwrap())
        .sum();
    assert_eq!(
        new1,
        r1["ingest"]["rows"].as_u64().unwrap() + r1["ingest"]["rejects"].as_u64().unwrap()
    );
    let n1 = r1["new_findings"].as_u64().unwrap();
    assert!(n1 > 10);
    let by_group: u64 = r1["new_findings_by_rule_issuer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by_group, n1);
    let lines = fs::read_to_string(dir.join("reports/latest/findings-new.jsonl")).unwrap();
    assert_eq!(lines.lines().count() as u64, n1);
    assert!(
        summary.contains(&format!("New findings: {n1}")),
        "{summary}"
    );
    assert!(summary.contains("| synth-1 |"), "{summary}");

    // Nothing landed: nothing new, exit 0.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, r2, _) = nightly(dir);
    assert_eq!(code, Some(0), "{r2}");
    assert_eq!(r2["ingest"]["files"].as_u64(), Some(0));
    assert_eq!(r2["new_findings"].as_u64(), Some(0));
    assert!(r2["logs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["new_entries"] == 0));

    // Two more nights: the third run finds partitions with 3 files and compacts.
    copy_into_drop(dir, &nights[1]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, r3, _) = nightly(dir);
    assert!(r3["compacted"].as_array().unwrap().is_empty(), "{r3}");
    copy_into_drop(dir, &nights[2]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, r4, _) = nightly(dir);
    assert!(matches!(code, Some(0 | 1)), "{r4}");
    let compacted = r4["compacted"].as_array().unwrap();
    assert!(!compacted.is_empty(), "{r4}");
    assert!(compacted
        .iter()
        .all(|c| c["files_after"].as_u64() < c["files_before"].as_u64()));
    let entries = total_entries(&r4);
    let ingested: u64 = [&r1, &r3, &r4]
        .iter()
        .map(|r| r["ingest"]["rows"].as_u64().unwrap() + r["ingest"]["rejects"].as_u64().unwrap())
        .sum();
    assert_eq!(entries, ingested);

    // A step that fails makes the job fail, and the report says which.
    fs::remove_dir_all(dir.join("drop")).unwrap();
    fs::create_dir_all(dir.join("drop")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, r5, _) = nightly(dir);
    assert_eq!(code, Some(2), "{r5}");
    assert_eq!(r5["status"], "failed");

    // The files come back, one of them re-published with fewer entries: the
    // job fails naming it, unless told to replace it.
    for night in &nights {
        copy_into_drop(dir, night);
    }
    let changed = dir.join("drop/synth-1/1000-1999.json");
    let mut page: Value = serde_json::from_slice(&fs::read(&changed).unwrap()).unwrap();
    page["entries"].as_array_mut().unwrap().truncate(10);
    fs::write(&changed, serde_json::to_vec(&page).unwrap()).unwrap();
    let (code, r6, _) = nightly(dir);
    assert_eq!(code, Some(2), "{r6}");
    assert!(
        r6["failure"].as_str().unwrap().contains("1000-1999.json"),
        "{r6}"
    );
    let (code, r7, _) = nightly_with(dir, &["--replace"]);
    assert!(matches!(code, Some(0 | 1)), "{r7}");
    assert_eq!(r7["ingest"]["files"].as_u64(), Some(1), "{r7}");
    assert_eq!(r7["ingest"]["replaced"].as_u64(), Some(1));
    assert_eq!(r7["ingest"]["rows"].as_u64(), Some(10));
    let entries_now = total_entries(&r7);
    let removed = r7["ingest"]["rows_removed"].as_u64().unwrap()
        + r7["ingest"]["rejects_removed"].as_u64().unwrap();
    assert_eq!(entries_now, entries - removed + 10);
}
