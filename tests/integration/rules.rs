//! The rule library (queries/*.sql) over real and synthetic certificates:
//! - the real corpus (tests/data/real/x509 and the ZLint test certificates)
//!   against an independent Python implementation of the rules
//!   (tests/data/rule_oracle.py over pyca/cryptography's reading);
//! - planted findings and near-miss decoys (tests/data/make_synthetic.py).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use pipeline::sql::check::{run_rules, CheckOptions, CheckReport};
use pipeline::sql::output::OutputFormat;
use pipeline::sql::session::{self, SessionOptions};
use pipeline::sql::shared_views;
use serde_json::Value;

use crate::fixtures::{data_dir, run_ingest};

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("queries")
}

pub fn check_options(data: &Path) -> CheckOptions {
    CheckOptions {
        data: vec![data.to_path_buf()],
        rules: Vec::new(),
        rules_dir: vec![queries_dir()],
        add_rules: Vec::new(),
        params: Vec::new(),
        list_rules: false,
        format: OutputFormat::Json,
        out: None,
        store: false,
        no_store: true,
        timings: false,
        new: false,
        jobs: 2,
        session: SessionOptions::default(),
    }
}

fn report_for(logs: &[&str], opts: impl FnOnce(&Path) -> CheckOptions) -> CheckReport {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    for log in logs {
        run_ingest(&[data_dir().join("wrapped").join(log)], &out, None);
    }
    let opts = opts(&out);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let ctx = session::open(&out).await.unwrap();
        run_rules(&ctx, &opts).await.unwrap()
    })
}

type Key = (String, String, i64);

fn found(report: &CheckReport) -> BTreeSet<Key> {
    report
        .findings
        .iter()
        .map(|f| {
            (
                f.rule.to_string(),
                f.log.as_deref().unwrap().to_owned(),
                f.entry_index.unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_rule_file_loads_and_runs() {
    let report = report_for(&["synthetic"], check_options);
    assert!(report.broken.is_empty(), "{:?}", report.broken);
    assert_eq!(
        report.rules_run.len(),
        crate::fixtures::rule_file_count(),
        "{:?}",
        report.rules_run
    );
}

/// The rules that read the kept `name_suspects` rows run first and the
/// rows go when they are done, yet the report lists rules and findings in
/// rule order, and the session has the view back afterwards.
#[test]
fn rules_report_in_rule_order_and_the_kept_name_rows_are_let_go() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    run_ingest(&[data_dir().join("wrapped").join("synthetic")], &out, None);
    let opts = CheckOptions {
        jobs: 1,
        ..check_options(&out)
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let ctx = session::open(&out).await.unwrap();
        let report = run_rules(&ctx, &opts).await.unwrap();
        let kept = report
            .shared_rows
            .expect("name_suspects kept for the rules");
        assert!(kept.rows > 0);
        let mut ids = report.rules_run.clone();
        ids.sort();
        assert_eq!(report.rules_run, ids, "rules out of their file order");
        let position = |rule: &str| report.rules_run.iter().position(|r| r == rule).unwrap();
        let order: Vec<usize> = report.findings.iter().map(|f| position(&f.rule)).collect();
        assert!(
            order.windows(2).all(|w| w[0] <= w[1]),
            "findings not in rule order"
        );
        assert!(order.first() < order.last(), "findings of one rule only");
        // The kept rows are gone: the view is back, over the stored facts,
        // with the rows that were kept.
        assert!(shared_views::reads_stored_facts(&ctx).await.unwrap());
        let rows: usize = ctx
            .sql("SELECT * FROM name_suspects")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, kept.rows);
    });
}

#[test]
fn real_certificates_match_the_independent_rule_oracle() {
    let report = report_for(&["real-certs", "zlint"], check_options);
    assert!(report.broken.is_empty(), "{:?}", report.broken);
    let got = found(&report);
    let mut want = BTreeSet::new();
    let mut skip = BTreeSet::new();
    let oracle =
        fs::read_to_string(data_dir().join("wrapped/rule_findings.expected.jsonl")).unwrap();
    for line in oracle.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = (
            v["rule"].as_str().unwrap().to_owned(),
            v["log"].as_str().unwrap().to_owned(),
            v["entry_index"].as_i64().unwrap(),
        );
        if v.get("skip").is_some() {
            skip.insert(key);
        } else {
            want.insert(key);
        }
    }
    let oracle_rules: BTreeSet<&str> = want.iter().chain(&skip).map(|k| k.0.as_str()).collect();
    let got_judged: BTreeSet<Key> = got
        .iter()
        .filter(|k| oracle_rules.contains(k.0.as_str()) && !skip.contains(*k))
        .cloned()
        .collect();
    let missed: Vec<_> = want.difference(&got_judged).collect();
    let extra: Vec<_> = got_judged.difference(&want).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:?}\nextra {extra:?}"
    );
    // The corpus exercises most rules.
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &want {
        *per_rule.entry(k.0.as_str()).or_default() += 1;
    }
    for rule in [
        "sha1_after_2016",
        "public_suffix_san",
        "private_suffix_san",
        "validity_too_long",
        "rsa_key_too_small",
        "internal_name",
        "underscore_in_dnsname",
        "cn_not_in_san",
        "san_missing",
        "low_serial_entropy",
        "duplicate_serial",
        "backdated",
    ] {
        assert!(
            per_rule.get(rule).copied().unwrap_or(0) > 0,
            "no real positive for {rule}"
        );
    }
}

#[test]
fn planted_findings_are_found_and_decoys_are_not() {
    let report = report_for(&["synthetic"], check_options);
    let got = found(&report);
    let planted = fs::read_to_string(data_dir().join("wrapped/synthetic.planted.jsonl")).unwrap();
    let mut problems = Vec::new();
    for line in planted.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let index = v["entry_index"].as_i64().unwrap();
        let name = v["name"].as_str().unwrap();
        for rule in v["rules"].as_array().unwrap() {
            let key = (
                rule.as_str().unwrap().to_owned(),
                "synthetic".to_owned(),
                index,
            );
            if !got.contains(&key) {
                problems.push(format!("{name}: {rule} not found"));
            }
        }
        for rule in v["decoy_for"].as_array().unwrap() {
            let key = (
                rule.as_str().unwrap().to_owned(),
                "synthetic".to_owned(),
                index,
            );
            if got.contains(&key) {
                problems.push(format!("{name}: decoy found by {rule}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let detail = |rule: &str| {
        report
            .findings
            .iter()
            .find(|f| &*f.rule == rule)
            .and_then(|f| f.detail.as_deref().map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(detail("unvalidated_parent_domain").contains("github.io is the parent of x.github.io"));
    assert!(detail("internal_name").contains("server.corp"));
}

#[test]
fn rules_run_at_once_report_what_one_at_a_time_does() {
    let one = report_for(&["synthetic", "real-certs"], |d| CheckOptions {
        jobs: 1,
        ..check_options(d)
    });
    let four = report_for(&["synthetic", "real-certs"], |d| CheckOptions {
        jobs: 4,
        ..check_options(d)
    });
    assert!(!one.findings.is_empty());
    assert_eq!(
        one.findings, four.findings,
        "same findings in the same order"
    );
    let ids = |r: &CheckReport| {
        r.rule_seconds
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&one), ids(&four), "timings in rule order");
    assert_eq!(one.rules_run, four.rules_run);
}

#[test]
fn parameters_change_what_is_found() {
    let report = report_for(&["synthetic"], |d| CheckOptions {
        rules: vec!["backdated".into(), "missing_sct_after_promise".into()],
        params: vec![
            "backdated.max_hours=200".into(),
            "missing_sct_after_promise.issuer_pattern=%Example Trust%".into(),
        ],
        ..check_options(d)
    });
    let got = found(&report);
    let rules: BTreeSet<&str> = got.iter().map(|k| k.0.as_str()).collect();
    // With 200 hours allowed, only the 2015 SHA-1 cert first seen months later is backdated.
    let backdated: Vec<i64> = got
        .iter()
        .filter(|k| k.0 == "backdated")
        .map(|k| k.2)
        .collect();
    assert_eq!(backdated.len(), 1, "{got:?}");
    assert!(rules.contains("missing_sct_after_promise"));
    assert!(report
        .findings
        .iter()
        .all(|f| &*f.rule != "missing_sct_after_promise"
            || f.issuer_cn.as_deref() == Some("Example Issuing CA 1")));
}

/// The (log, entry_index, facts) rows of `sql`, a `name_suspects` definition.
async fn suspects(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> BTreeSet<(String, i64, i32)> {
    use arrow::array::{AsArray, Int32Array, Int64Array};
    let batches = ctx
        .sql(&format!("SELECT log, entry_index, facts FROM ({sql})"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    for b in &batches {
        let logs = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let logs = logs.as_string::<i32>();
        let index: &Int64Array = b.column(1).as_primitive();
        let facts: &Int32Array = b.column(2).as_primitive();
        for i in 0..b.num_rows() {
            out.insert((logs.value(i).to_owned(), index.value(i), facts.value(i)));
        }
    }
    out
}

/// Whether a session over `data` reads `name_suspects` from the stored
/// facts (else it tests the names), and what all rules find there.
fn read_through(rt: &tokio::runtime::Runtime, data: &Path) -> (bool, CheckReport) {
    rt.block_on(async {
        let ctx = session::open(data).await.unwrap();
        let b = ctx
            .sql("SELECT definition FROM information_schema.views WHERE table_name = 'name_suspects'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let definition = arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string();
        let stored = definition.contains("name_facts AS facts");
        assert!(stored || definition.contains("name_facts(san_dns)"), "{definition}");
        (stored, run_rules(&ctx, &check_options(data)).await.unwrap())
    })
}

#[test]
fn stored_name_facts_are_the_ones_the_view_computes() {
    use pipeline::sql::shared_views::{NAME_SUSPECTS_SQL, NAME_SUSPECTS_STORED_SQL};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    for log in ["real-certs", "zlint", "synthetic"] {
        run_ingest(&[data_dir().join("wrapped").join(log)], &out, None);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (computed, stored) = rt.block_on(async {
        let ctx = session::open(&out).await.unwrap();
        (
            suspects(&ctx, NAME_SUSPECTS_SQL).await,
            suspects(&ctx, NAME_SUSPECTS_STORED_SQL).await,
        )
    });
    // Row for row, the same facts; and the corpus sets every bit.
    assert_eq!(computed, stored);
    let all = stored.iter().fold(0, |acc, k| acc | k.2);
    assert_eq!(all, 255, "bits seen: {all:#b} in {} rows", stored.len());
    // A fresh dataset is read through its stored facts.
    let (stored_view, fresh) = read_through(&rt, &out);
    assert!(stored_view && !fresh.names_tested);

    // Files whose stamp is another release's (or another Public Suffix
    // List's) are read through the computed view, with the same findings.
    let path = pipeline::dataset::manifest::manifest_path(&out);
    let mut m = pipeline::dataset::manifest::read_manifest(&out).unwrap();
    assert!(m.name_facts_current());
    let first = m.name_facts.keys().next().unwrap().clone();
    m.name_facts.insert(first, "0;psl-0.0.0".into());
    assert!(!m.name_facts_current());
    pipeline::dataset::manifest::write(&path, &m).unwrap();
    let (stored_view, old) = read_through(&rt, &out);
    assert!(!stored_view && old.names_tested);
    assert_eq!(files_without_facts(tmp.path()), 1);
    assert!(fresh.findings.len() > 100, "{}", fresh.findings.len());
    assert_eq!(found(&fresh), found(&old));
    assert_eq!(fresh.findings, old.findings);

    // Compaction computes the facts again and stamps its files: the stored
    // facts are read again, still the computed ones.
    crate::fixtures::pipeline_ok(
        &["compact", "--data", "data", "--min-files", "1"],
        tmp.path(),
    );
    assert!(pipeline::dataset::manifest::read_manifest(&out)
        .unwrap()
        .name_facts_current());
    let (stored_view, compacted) = read_through(&rt, &out);
    assert!(stored_view);
    assert_eq!(files_without_facts(tmp.path()), 0);
    let again = rt.block_on(async {
        let ctx = session::open(&out).await.unwrap();
        suspects(&ctx, NAME_SUSPECTS_STORED_SQL).await
    });
    assert_eq!(again, computed);
    assert_eq!(found(&fresh), found(&compacted));

    // A manifest that claims stamps for files without the column (damaged
    // or forged: `pipeline verify` names such files) is read through the
    // view that tests the names, not refused.
    let m = pipeline::dataset::manifest::read_manifest(&out).unwrap();
    assert!(m.name_facts_current());
    for rel in m.name_facts.keys() {
        strip_column(&out.join(rel), "name_facts");
    }
    let (stored_view, forged) = read_through(&rt, &out);
    assert!(!stored_view);
    assert_eq!(found(&fresh), found(&forged));
}

/// What `pipeline status` counts of `dir/data`'s certs files without this
/// release's name facts.
fn files_without_facts(dir: &Path) -> u64 {
    let out = crate::fixtures::pipeline_ok(&["status", "--data", "data", "--format", "json"], dir);
    let status = &crate::fixtures::json_lines(&out.stdout)[0];
    status["certs_files_without_name_facts"].as_u64().unwrap()
}

/// Rewrites the Parquet file at `path` without its column `name`.
fn strip_column(path: &Path, name: &str) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<arrow::array::RecordBatch> = reader.map(Result::unwrap).collect();
    let schema = batches[0].schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != name)
        .collect();
    assert!(keep.len() < schema.fields().len(), "{path:?} has no {name}");
    let projected = schema.project(&keep).unwrap();
    let file = fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, projected.into(), None).unwrap();
    for b in &batches {
        w.write(&b.project(&keep).unwrap()).unwrap();
    }
    w.close().unwrap();
}
