//! `pipeline query` and `pipeline check` as a user runs them (the real
//! binary), and the SQL helper functions.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::fixtures::{data_dir, run_ingest};

fn pipeline(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run pipeline")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The first row of `sql` run by `pipeline query --format json` in `tmp`.
fn one_row(tmp: &tempfile::TempDir, sql: &str) -> Value {
    let out = pipeline(
        &["query", "--data", "data", "--format", "json", sql],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out).swap_remove(0)
}

fn dataset(logs: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for log in logs {
        run_ingest(
            &[data_dir().join("wrapped").join(log)],
            &tmp.path().join("data"),
            None,
        );
    }
    tmp
}

#[test]
fn udfs_handle_null_empty_wildcards_and_idns() {
    let tmp = dataset(&["synthetic"]);
    let sql = "SELECT registrable_domain('www.Example.CO.uk') AS a, registrable_domain('*.x.github.io') AS b, \
               registrable_domain('github.io') AS c, registrable_domain(NULL) AS d, registrable_domain('') AS e, \
               public_suffix('a.b.blogspot.com') AS f, is_public_suffix('*.blogspot.com') AS g, \
               is_public_suffix('example.com') AS h, parent_domain('*.example.com') AS i, \
               tld_is_delegated('host.corp') AS j, tld_is_delegated('xn--p1ai') AS k, \
               registrable_domain('www.xn--85x722f.xn--55qx5d.cn') AS l, is_reserved_ip('10.0.0.1') AS m, \
               hex(X'00ff10') AS n, any_unregistrable(make_array('a.com', 'co.uk')) AS o, \
               any_unregistrable(make_array('x.corp', '*.a.com')) AS p, \
               any_unregistrable(CAST(NULL AS VARCHAR[])) AS q, any_unregistrable(make_array('*.')) AS r, \
               any_undelegated_tld(make_array('a.com', 'Host.CORP.')) AS s, \
               any_undelegated_tld(make_array('a.com', '*.b.xn--p1ai')) AS t, \
               any_undelegated_tld(CAST(NULL AS VARCHAR[])) AS u, \
               any_reserved_ip(make_array('8.8.8.8', '192.168.1.1')) AS v, \
               any_reserved_ip(make_array('8.8.8.8', 'not an ip')) AS w, \
               prefix64(X'00000000000001020304') AS x, prefix64(X'ffffffffffffffff') AS y, \
               prefix64(X'0102') AS z";
    let row = &one_row(&tmp, sql);
    assert_eq!(row["a"], "example.co.uk");
    assert_eq!(row["b"], "x.github.io");
    assert!(row.get("c").is_none() || row["c"].is_null());
    assert!(row.get("d").is_none() || row["d"].is_null());
    assert!(row.get("e").is_none() || row["e"].is_null());
    assert_eq!(row["f"], "blogspot.com");
    assert_eq!(row["g"], true);
    assert_eq!(row["h"], false);
    assert_eq!(row["i"], "example.com");
    assert_eq!(row["j"], false);
    assert_eq!(row["k"], true);
    assert_eq!(row["l"], "xn--85x722f.xn--55qx5d.cn");
    assert_eq!(row["m"], true);
    assert_eq!(row["n"], "00ff10");
    assert_eq!(row["o"], true);
    assert_eq!(row["s"], true, "host.corp has an undelegated TLD");
    assert_eq!(row["t"], false);
    assert!(row.get("u").is_none() || row["u"].is_null());
    assert_eq!(row["v"], true, "192.168.1.1 is reserved");
    assert_eq!(row["w"], false);
    assert_eq!(row["x"], 258, "the first 8 bytes, big-endian");
    assert_eq!(row["y"], -1);
    assert!(
        row.get("z").is_none_or(|v| v.is_null()),
        "shorter than 8 bytes"
    );
    assert_eq!(
        row["p"], false,
        "x.corp is registrable under the PSL's default rule"
    );
    assert!(row.get("q").is_none_or(|v| v.is_null()));
    assert_eq!(row["r"], true, "an empty name has no registrable domain");
}

#[test]
fn list_tests_and_hash64() {
    let tmp = dataset(&["synthetic"]);
    let sql = "SELECT any_public_suffix(make_array('a.com', 'GitHub.io.')) AS a, \
               any_public_suffix(make_array('a.com', 'x.github.io')) AS b, \
               any_contains(make_array('a_b.com', 'c.com'), '_') AS c, \
               any_contains(make_array('a.com', '*.b.com'), '_') AS d, \
               any_contains(CAST(NULL AS VARCHAR[]), '_') AS e, \
               any_contains(make_array('a'), NULL) AS f, \
               hash64('abc') AS g, hash64(X'616263') AS h, hash64('') AS i, \
               hash64(CAST(NULL AS VARCHAR)) AS j";
    let row = &one_row(&tmp, sql);
    let null = |k: &str| row.get(k).is_none_or(|v| v.is_null());
    assert_eq!(
        row["a"], true,
        "github.io is a listed suffix, any case, trailing dot"
    );
    assert_eq!(row["b"], false);
    assert_eq!(row["c"], true);
    assert_eq!(row["d"], false);
    assert!(null("e") && null("f") && null("j"));
    // XXH64 test vectors (seed 0): "abc" = 0x44bc2cf5ad770999, "" = 0xef46db3751d8e999.
    assert_eq!(row["g"], 4952883123889572249_i64);
    assert_eq!(row["h"], row["g"], "a string hashes as its bytes");
    assert_eq!(row["i"], -1205034819632174695_i64);
    let bad = pipeline(
        &[
            "query",
            "--data",
            "data",
            "SELECT any_contains(san_dns, subject_cn) FROM certs",
        ],
        tmp.path(),
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("constant second argument"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn query_filters_by_log_and_shows_hashes_as_hex() {
    let tmp = dataset(&["synthetic", "real-certs"]);
    let out = pipeline(
        &[
            "query",
            "--data",
            "data",
            "--format",
            "csv",
            "SELECT log, count(*) AS n FROM certs GROUP BY log ORDER BY log",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "log,n\nreal-certs,217\nsynthetic,22\n"
    );
    let sql_file = tmp.path().join("q.sql");
    fs::write(
        &sql_file,
        "-- the WoSign China root\nSELECT cert_sha256, subject_cn FROM certs\nWHERE log = 'real-certs' AND subject_cn = 'CA 沃通根证书';\n",
    )
    .unwrap();
    let out = pipeline(
        &["query", "--data", "data", "--format", "json", "-f", "q.sql"],
        tmp.path(),
    );
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 1);
    let sha = rows[0]["cert_sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert!(sha
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
}

#[test]
fn sql_errors_name_file_and_line_and_exit_2() {
    let tmp = dataset(&["synthetic"]);
    fs::write(
        tmp.path().join("bad.sql"),
        "SELECT 1;\n\n-- next\nSELECT nope FROM certs;\n",
    )
    .unwrap();
    let out = pipeline(&["query", "--data", "data", "-f", "bad.sql"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.sql:4:"), "{err}");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn check_reports_json_keys_exit_status_and_stores_findings() {
    let tmp = dataset(&["synthetic"]);
    let out = pipeline(
        &[
            "check",
            "--data",
            "data",
            "--rules",
            &rules_dir(),
            "--format",
            "json",
            "--store",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "error-severity findings exist");
    let findings = json_lines(&out);
    assert!(findings.len() > 10);
    let keys: Vec<&str> = findings[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = crate::fixtures::FINDING_KEYS.to_vec();
    want.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, want);
    let summary = String::from_utf8_lossy(&out.stderr);
    let n = crate::fixtures::rule_file_count();
    assert!(summary.contains(&format!("{n} rules run")), "{summary}");
    assert!(
        summary.contains("certificates     per_10k  rules"),
        "{summary}"
    );

    // The stored findings are a table.
    let q = pipeline(
        &[
            "query",
            "--data",
            "data",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM findings",
        ],
        tmp.path(),
    );
    assert_eq!(
        String::from_utf8_lossy(&q.stdout),
        format!("n\n{}\n", findings.len())
    );

    // A rule with only warnings: exit 0.
    let out = pipeline(
        &[
            "check",
            "--data",
            "data",
            "--rules",
            &rules_dir(),
            "--rule",
            "missing_sct_after_promise",
            "--no-store",
        ],
        tmp.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("WoSign CA Free SSL Certificate G2"));
}

fn rules_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("queries")
        .display()
        .to_string()
}

#[test]
fn a_broken_rule_is_named_and_the_others_still_run() {
    let tmp = dataset(&["synthetic"]);
    let rules = tmp.path().join("rules");
    fs::create_dir(&rules).unwrap();
    fs::copy(
        Path::new(&rules_dir()).join("san_missing.sql"),
        rules.join("san_missing.sql"),
    )
    .unwrap();
    fs::copy(
        Path::new(&rules_dir()).join("wildcard_misplaced.sql"),
        rules.join("wildcard_misplaced.sql"),
    )
    .unwrap();
    fs::write(
        rules.join("broken.sql"),
        "-- id: broken\n-- severity: error\n\nSELECT no_such_column FROM certs\n",
    )
    .unwrap();
    let out = pipeline(
        &["check", "--data", "data", "--rules", "rules", "--no-store"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.sql:4:"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 rules run"), "{stdout}");
    assert!(stdout.contains("wildcard_misplaced"), "{stdout}");
}

#[test]
fn ingest_json_summary_has_the_documented_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data_dir().join("wrapped/synthetic");
    let out = pipeline(
        &[
            "ingest",
            src.to_str().unwrap(),
            "--out",
            "data",
            "--json",
            "--progress",
            "quiet",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "files",
        "entries_read",
        "rows",
        "rejects",
        "parse_errors",
        "input_bytes",
        "elapsed_seconds",
        "entries_per_second",
        "output_files",
        "unreadable",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["entries_read"], 22);
    assert_eq!(v["rows"], 22);
}

#[test]
fn check_runs_the_built_in_rules_from_any_directory() {
    let tmp = dataset(&["synthetic"]);
    // No ./queries here: the rules compiled into the binary run.
    let out = pipeline(
        &["check", "--data", "data", "--no-store", "--format", "json"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let n = crate::fixtures::rule_file_count();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{n} rules run")));
}

/// Several `--data` read as one: each machine ingests its own logs into
/// its own dataset, and the queries and rules see them together.
#[test]
fn several_datasets_read_as_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, both) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("both"),
    );
    let wrapped = crate::fixtures::data_dir().join("wrapped");
    crate::fixtures::run_ingest(&[wrapped.join("synthetic")], &a, None);
    crate::fixtures::run_ingest(&[wrapped.join("real-certs")], &b, None);
    crate::fixtures::run_ingest(
        &[wrapped.join("synthetic"), wrapped.join("real-certs")],
        &both,
        None,
    );
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (a, b, both) = (s(&a), s(&b), s(&both));
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let rules = s(&rules);
    let counts = "SELECT log, count(*) AS n, min(entry_index) AS lo, max(entry_index) AS hi, \
         (SELECT count(*) FROM manifest) AS inputs FROM certs GROUP BY log ORDER BY log";
    let query = |data: &[&str]| {
        let mut args = vec!["query"];
        args.extend(data.iter().flat_map(|d| ["--data", d]));
        args.extend(["--format", "json", counts]);
        String::from_utf8(crate::fixtures::pipeline_ok(&args, tmp.path()).stdout).unwrap()
    };
    let together = query(&[&a, &b]);
    assert_eq!(together, query(&[&both]));
    assert_eq!(together.lines().count(), 2, "{together}");
    let check = |data: &[&str]| {
        let mut args = vec!["check"];
        args.extend(data.iter().flat_map(|d| ["--data", d]));
        args.extend(["--rules", &rules, "--format", "json", "--no-store"]);
        let out = crate::fixtures::pipeline_ok(&args, tmp.path());
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let findings = check(&[&a, &b]);
    assert!(!findings.is_empty());
    assert_eq!(findings, check(&[&both]));

    // status: the union, and what two datasets both hold is an overlap.
    let status = |data: &[&str]| {
        let mut args = vec!["status"];
        args.extend(data.iter().flat_map(|d| ["--data", d]));
        args.extend(["--format", "json"]);
        let out = crate::fixtures::pipeline_ok(&args, tmp.path());
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (split, whole) = (status(&[&a, &b]), status(&[&both]));
    // The same, but for when each was ingested.
    let logs = |v: &serde_json::Value| {
        let mut logs = v["logs"].clone();
        for l in logs.as_array_mut().unwrap() {
            l.as_object_mut().unwrap().remove("last_ingest");
        }
        logs
    };
    assert_eq!(logs(&split), logs(&whole));
    assert!(split.get("overlaps").is_none(), "{split}");
    let twice = status(&[&a, &both]);
    let overlaps = twice["overlaps"].as_array().unwrap();
    assert_eq!(overlaps.len(), 1, "{twice}");
    let synthetic = whole["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["log"] == "synthetic")
        .unwrap();
    assert_eq!(overlaps[0]["log"], "synthetic");
    assert_eq!(overlaps[0]["entries"], synthetic["entries"]);
    assert_eq!(overlaps[0]["ranges"], synthetic["ranges"]);
    assert!(twice["problems"][0]
        .as_str()
        .unwrap()
        .contains("are in both"));

    // Writers want a directory: a URL is refused, not made into a folder `s3:`.
    let synthetic_dir = wrapped.join("synthetic");
    let out = crate::fixtures::run(
        &[
            "ingest",
            "--out",
            "s3://bucket/p",
            synthetic_dir.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pipeline publish DIR URL"));
    assert!(!tmp.path().join("s3:").exists());
}
