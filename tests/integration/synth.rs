//! `pipeline synth` dumps, end to end with the real binary: every planted
//! anomaly is found and nothing else (precision and recall 1.0), every
//! planted malformed entry is the reject it was planted as, the certificates
//! look like real ones, and a seed gives the same bytes on any thread count.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::fixtures::{json_lines, pipeline_ok as pipeline};

fn query(dir: &Path, sql: &str) -> Vec<Value> {
    json_lines(&pipeline(&["query", "--data", "data", "--format", "json", sql], dir).stdout)
}

fn synth(dir: &Path, name: &str, entries: &str, seed: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["synth", "--entries", entries, "--seed", seed, "--out", name];
    args.extend_from_slice(extra);
    pipeline(&args, dir);
    dir.join(name)
}

/// `pipeline check` with every rule of queries/ over `dir/data`, findings as JSON lines.
fn check_all(dir: &Path, extra: &[&str]) -> std::process::Output {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut args = vec![
        "check",
        "--data",
        "data",
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "json",
        "--no-store",
    ];
    args.extend_from_slice(extra);
    pipeline(&args, dir)
}

/// One generated dump, ingested and checked, shared by the tests below.
struct Checked {
    dir: tempfile::TempDir,
    truth: Vec<Value>,
    findings: Vec<Value>,
    ingest: Value,
}

fn checked() -> &'static Checked {
    static ONCE: std::sync::OnceLock<Checked> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let dump = synth(dir.path(), "dump", "24000", "11", &[]);
        let ingest = pipeline(
            &[
                "ingest",
                "dump/synth-1",
                "dump/synth-2",
                "--out",
                "data",
                "--json",
                "--progress",
                "quiet",
            ],
            dir.path(),
        );
        let ingest: Value = serde_json::from_slice(&ingest.stdout).unwrap();
        let check = check_all(dir.path(), &[]);
        Checked {
            truth: json_lines(&fs::read(dump.join("ground_truth.jsonl")).unwrap()),
            findings: json_lines(&check.stdout),
            ingest,
            dir,
        }
    })
}

fn key(log: &Value, index: &Value) -> (String, i64) {
    (
        log.as_str().unwrap().to_owned(),
        index.as_i64().unwrap_or(-1),
    )
}

#[test]
fn check_finds_exactly_the_planted_anomalies() {
    let c = checked();
    let mut expected: BTreeSet<(String, String, i64)> = BTreeSet::new();
    for t in &c.truth {
        for rule in t["rules"].as_array().into_iter().flatten() {
            let (log, index) = key(&t["log"], &t["entry_index"]);
            expected.insert((rule.as_str().unwrap().to_owned(), log, index));
        }
    }
    let found: BTreeSet<(String, String, i64)> = c
        .findings
        .iter()
        .map(|f| {
            let (log, index) = key(&f["log"], &f["entry_index"]);
            (f["rule"].as_str().unwrap().to_owned(), log, index)
        })
        .collect();
    let missed: Vec<_> = expected.difference(&found).take(10).collect();
    let extra: Vec<_> = found.difference(&expected).take(10).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {} (e.g. {missed:?}), extra {} (e.g. {extra:?})",
        expected.difference(&found).count(),
        found.difference(&expected).count()
    );
    // Every rule of queries/ is exercised, by more than a handful of entries.
    let per_rule: BTreeMap<&str, usize> =
        expected.iter().fold(BTreeMap::new(), |mut m, (r, _, _)| {
            *m.entry(r.as_str()).or_default() += 1;
            m
        });
    let rule_files = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("queries"))
        .unwrap()
        .count();
    assert_eq!(per_rule.len(), rule_files, "{per_rule:?}");
    assert!(per_rule.values().all(|&n| n >= 10), "{per_rule:?}");
    // Decoys are present and none is found.
    let decoys: BTreeSet<(String, i64)> = c
        .truth
        .iter()
        .filter(|t| t["decoy"].is_string())
        .map(|t| key(&t["log"], &t["entry_index"]))
        .collect();
    assert!(decoys.len() > 300, "{} decoys", decoys.len());
    assert!(found
        .iter()
        .all(|(_, l, i)| !decoys.contains(&(l.clone(), *i))));
}

#[test]
fn rejects_and_parse_errors_are_the_planted_ones() {
    let c = checked();
    let dir = c.dir.path();
    let mut expected: BTreeMap<(String, String, i64), usize> = BTreeMap::new();
    let mut parse_errors: BTreeSet<(String, i64)> = BTreeSet::new();
    for t in &c.truth {
        let (log, index) = key(&t["log"], &t["entry_index"]);
        if let Some(kind) = t["reject"].as_str() {
            let index = if t["reject_has_index"] == true {
                index
            } else {
                -1
            };
            *expected.entry((log, kind.to_owned(), index)).or_default() += 1;
        } else if t["parse_error"] == true {
            parse_errors.insert((log, index));
        }
    }
    let kinds: BTreeSet<&str> = expected.keys().map(|k| k.1.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["base64", "framing", "index", "json", "missing_field"])
    );
    let mut got: BTreeMap<(String, String, i64), usize> = BTreeMap::new();
    let mut io = Vec::new();
    for r in query(
        dir,
        "SELECT log, entry_index, kind, source_file FROM rejects",
    ) {
        let (log, index) = key(&r["log"], &r["entry_index"]);
        let kind = r["kind"].as_str().unwrap().to_owned();
        if kind == "io" {
            io.push((log, index, r["source_file"].as_str().unwrap().to_owned()));
        } else {
            *got.entry((log, kind, index)).or_default() += 1;
        }
    }
    assert_eq!(got, expected);
    let got_errors: BTreeSet<(String, i64)> = query(
        dir,
        "SELECT log, entry_index FROM certs WHERE parse_error IS NOT NULL",
    )
    .iter()
    .map(|r| key(&r["log"], &r["entry_index"]))
    .collect();
    assert_eq!(got_errors, parse_errors);
    assert!(!parse_errors.is_empty());

    // Each truncated page gives one io reject at the first entry it lost, and
    // the entries before it are all there.
    let summary: Value =
        serde_json::from_slice(&fs::read(dir.join("dump/synth.json")).unwrap()).unwrap();
    let truncated: Vec<&str> = summary["truncated_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(truncated.len(), 2);
    assert_eq!(io.len(), 2);
    let mut lost = 0;
    for (log, index, file) in &io {
        let name = truncated
            .iter()
            .find(|t| file.ends_with(*t))
            .unwrap_or_else(|| panic!("io reject for {file}, not a truncated page"));
        let range = name
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".json.gz");
        let (start, end) = range.split_once('-').unwrap();
        let (start, end): (i64, i64) = (start.parse().unwrap(), end.parse().unwrap());
        let rows = &query(
            dir,
            &format!("SELECT count(*) AS n, min(entry_index) AS lo, max(entry_index) AS hi FROM certs WHERE log = '{log}' AND entry_index BETWEEN {start} AND {end}"),
        )[0];
        let n = rows["n"].as_i64().unwrap();
        assert!(n > 0 && n < end - start + 1, "{name}: {n} rows");
        assert_eq!(rows["lo"].as_i64().unwrap(), start);
        assert_eq!(rows["hi"].as_i64().unwrap(), start + n - 1);
        assert_eq!(*index, start + n, "{name}");
        lost += end - start + 1 - n;
    }
    // Every entry is a row, a reject, or lost in a truncated page.
    let entries = summary["entries"].as_i64().unwrap();
    let rows = c.ingest["rows"].as_i64().unwrap();
    let rejects = c.ingest["rejects"].as_i64().unwrap();
    assert_eq!(rows + (rejects - 2) + lost, entries);
}

#[test]
fn generated_certificates_look_like_real_ones() {
    let c = checked();
    let r = &query(
        c.dir.path(),
        "SELECT count(*) AS n, \
           avg(CASE WHEN entry_type = 'precert' THEN 1.0 ELSE 0.0 END) AS precert_share, \
           min(cardinality(san_dns)) AS min_sans, max(cardinality(san_dns)) AS max_sans, \
           count(DISTINCT issuer_cn) AS issuers, \
           sum(CASE WHEN issuer_cn LIKE '%沃通%' THEN 1 ELSE 0 END) AS cjk, \
           min(extract(year FROM not_before)) AS first_year, max(extract(year FROM not_before)) AS last_year, \
           count(DISTINCT key_algorithm || CAST(key_bits AS VARCHAR)) AS key_kinds, \
           sum(CASE WHEN array_to_string(san_dns, ',') LIKE '%xn--%' THEN 1 ELSE 0 END) AS idn, \
           sum(CASE WHEN cardinality(san_ip) > 0 THEN 1 ELSE 0 END) AS with_ip, \
           sum(CASE WHEN array_to_string(san_dns, ',') LIKE '%*.%' THEN 1 ELSE 0 END) AS wildcard, \
           min(length(serial)) AS min_serial_hex, \
           sum(CASE WHEN entry_type = 'x509' AND sct_count BETWEEN 2 AND 3 THEN 1 ELSE 0 END) AS with_scts, \
           sum(CASE WHEN entry_type = 'x509' AND sct_count = 0 THEN 1 ELSE 0 END) AS without_scts, \
           min(cardinality(chain_sha256)) AS min_chain, max(cardinality(chain_sha256)) AS max_chain \
         FROM certs WHERE parse_error IS NULL",
    )[0];
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k}: {r}"));
    assert!(f("n") > 23_000.0, "{r}");
    assert!((0.25..0.36).contains(&f("precert_share")), "{r}");
    assert_eq!(f("min_sans"), 0.0, "san_missing plants");
    assert!(
        (30.0..=41.0).contains(&f("max_sans")),
        "up to 40 names plus a planted one: {r}"
    );
    assert!(f("issuers") >= 10.0, "{r}");
    assert!(
        f("cjk") > 10.0 && f("idn") > 50.0 && f("with_ip") > 50.0,
        "{r}"
    );
    assert!(f("wildcard") > 500.0, "{r}");
    assert_eq!((f("first_year"), f("last_year")), (2013.0, 2026.0));
    assert_eq!(f("key_kinds"), 5.0, "RSA 1024/2048/4096, EC 256/384: {r}");
    assert!(f("min_serial_hex") >= 12.0, "{r}");
    assert!(f("with_scts") > 5000.0 && f("without_scts") > 500.0, "{r}");
    assert_eq!((f("min_chain"), f("max_chain")), (1.0, 2.0));
    // Precert entries pair with their final certificates by tbs_sha256.
    let pairs = &query(
        c.dir.path(),
        "SELECT count(*) AS n FROM certs p JOIN certs f ON p.tbs_sha256 = f.tbs_sha256 AND p.log = f.log \
         WHERE p.entry_type = 'precert' AND f.entry_type = 'x509'",
    )[0];
    assert!(
        pairs["n"].as_f64().unwrap() > 0.9 * f("n") * f("precert_share"),
        "{pairs}"
    );
}

fn tree_digest(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "synth.json" {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_seed_gives_the_same_dump_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let a = synth(dir.path(), "a", "3000", "11", &["--threads", "1"]);
    let b = synth(dir.path(), "b", "3000", "11", &["--threads", "2"]);
    let c = synth(dir.path(), "c", "3000", "12", &[]);
    let (a, b, c) = (tree_digest(&a), tree_digest(&b), tree_digest(&c));
    assert!(a.len() > 5);
    assert!(a == b, "same seed, different bytes");
    assert_ne!(a.get("synth-1/0-999.json"), c.get("synth-1/0-999.json"));
    // A non-empty output directory is refused, not overwritten.
    let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["synth", "--entries", "10", "--out", "a"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
}

#[test]
fn a_tile_dump_ingests_whole_and_check_finds_exactly_its_planted_anomalies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dump = synth(dir, "tiles", "12000", "5", &["--format", "tiles"]);
    // 6000 entries a log: 23 full tiles and one partial tile of 112.
    assert!(dump.join("synth-1/tile/data/023.p/112").is_file());
    assert!(dump.join("synth-1/tile/data/022").is_file());
    assert!(fs::read_dir(dump.join("synth-1/issuer")).unwrap().count() >= 6);
    let ingest = pipeline(
        &[
            "ingest",
            "tiles/synth-1",
            "tiles/synth-2",
            "--out",
            "data",
            "--json",
            "--progress",
            "quiet",
        ],
        dir,
    );
    let ingest: Value = serde_json::from_slice(&ingest.stdout).unwrap();
    assert_eq!(ingest["rows"].as_u64(), Some(12000), "{ingest}");
    assert_eq!(ingest["rejects"].as_u64(), Some(0), "{ingest}");
    assert_eq!(ingest["missing_issuers"].as_u64(), Some(0), "{ingest}");
    let check = check_all(dir, &[]);
    let truth = json_lines(&fs::read(dump.join("ground_truth.jsonl")).unwrap());
    let expected: BTreeSet<(String, String, i64)> = truth
        .iter()
        .flat_map(|t| {
            let (log, index) = key(&t["log"], &t["entry_index"]);
            t["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |r| (r.as_str().unwrap().to_owned(), log.clone(), index))
        })
        .collect();
    let found: BTreeSet<(String, String, i64)> = json_lines(&check.stdout)
        .iter()
        .map(|f| {
            let (log, index) = key(&f["log"], &f["entry_index"]);
            (f["rule"].as_str().unwrap().to_owned(), log, index)
        })
        .collect();
    assert!(expected.len() > 300, "{}", expected.len());
    assert_eq!(found, expected);
    assert!(
        truth.iter().all(|t| t["reject"].is_null()),
        "tiles plant no malformed entries"
    );
}

#[test]
fn a_memory_limit_bounds_the_rules_without_changing_their_findings() {
    let c = checked();
    let dir = c.dir.path();
    // 64 MiB holds every rule's joins, sorts and aggregations over 24,000
    // entries, shared by the two rules running at once.
    let bounded = json_lines(&check_all(dir, &["--memory-limit", "64M"]).stdout);
    let sorted = |v: &[Value]| {
        let mut s: Vec<String> = v.iter().map(Value::to_string).collect();
        s.sort();
        s
    };
    assert!(c.findings.len() > 1000, "{}", c.findings.len());
    assert_eq!(sorted(&bounded), sorted(&c.findings));

    let per_serial =
        |limit: &str| {
            Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["query", "--data", "data", "--format", "csv", "--memory-limit", limit])
            .arg("SELECT serial, count(*) AS n FROM certs GROUP BY serial ORDER BY n DESC, serial")
            .current_dir(dir)
            .output()
            .unwrap()
        };
    // 1 MiB cannot hold a grouping of 24,000 serials: the statement fails,
    // and says which flag lifts the bound.
    let out = per_serial("1M");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("<command line>:1"), "{stderr}");
    assert!(
        stderr.contains("pass a larger --memory-limit, or --memory-limit none"),
        "{stderr}"
    );
    // Without the bound, the same statement runs: one row per serial (a
    // precert and its final certificate share theirs).
    let unbounded = per_serial("none");
    assert!(unbounded.status.success());
    let groups = String::from_utf8_lossy(&unbounded.stdout).lines().count() - 1;
    assert!((12_000..24_000).contains(&groups), "{groups} serials");
}
