//! The stored runs of `pipeline check` and what `--new` compares with.
//!
//! Each stored run (`DIR/findings/run=<UTC>/part-*.parquet`) records, in
//! its files' Parquet key-value metadata under [`RULES_KEY`], every rule it
//! ran and the parameter values it ran with, findings or not. A finding is
//! new when the latest earlier run that ran the same rule with the same
//! parameters did not report it (same rule and `cert_sha256`), whatever
//! else either run selected. Runs stored before runs recorded their rules
//! count as having run every rule with its defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, BinaryBuilder, RecordBatch};
use arrow::datatypes::DataType;
use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStoreExt as _;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde::{Deserialize, Serialize};

use crate::dataset::remote::{self, Location, Remote, StoreOptions};
use crate::error::{Error, Result};
use crate::table::schema::finding_schema;
use crate::table::writer::PartitionWriter;

/// The Parquet key-value metadata key under which a stored run lists the
/// rules it ran (a JSON array of [`RuleRun`]).
pub const RULES_KEY: &str = "pipeline.rules_run";

/// One rule as a run ran it: its id and every parameter's value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleRun {
    /// The rule id.
    pub rule: String,
    /// Parameter values (defaults and `--param` overrides), as text.
    pub params: BTreeMap<String, String>,
}

/// A stored run of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    /// The run id (`run=` partition value, a UTC timestamp that sorts in time).
    pub run: String,
    /// The rules it ran; `None` for a run stored before runs recorded them.
    pub rules: Option<BTreeSet<RuleRun>>,
    /// Its files, dataset-relative (`findings/run=.../part-00000.parquet`).
    pub files: Vec<String>,
    /// Whether its files store `cert_sha256` as hex text (written before
    /// hashes were binary in every table).
    pub legacy_text_hashes: bool,
}

impl StoredRun {
    /// Whether this run ran `rule` as `want` (a run from before runs recorded
    /// their rules ran every rule with its defaults).
    pub fn ran(&self, want: &RuleRun, defaults: &BTreeMap<String, String>) -> bool {
        match &self.rules {
            Some(rules) => rules.contains(want),
            None => want.params == *defaults,
        }
    }
}

/// What a file's footer says about its run.
fn describe(meta: &ParquetMetaData, path: &str) -> Result<(Option<BTreeSet<RuleRun>>, bool)> {
    let file = meta.file_metadata();
    let rules = file
        .key_value_metadata()
        .into_iter()
        .flatten()
        .find(|kv| kv.key == RULES_KEY)
        .and_then(|kv| kv.value.as_deref())
        .map(|v| {
            serde_json::from_str::<BTreeSet<RuleRun>>(v).map_err(|e| Error::Input {
                path: PathBuf::from(path),
                message: format!("metadata {RULES_KEY} is not a list of rules: {e}"),
            })
        })
        .transpose()?;
    let schema = parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), None)
        .map_err(|e| Error::parquet("reading", Path::new(path), e))?;
    let legacy = schema
        .field_with_name("cert_sha256")
        .is_ok_and(|f| f.data_type() == &DataType::Utf8);
    Ok((rules, legacy))
}

/// The run id of a dataset-relative findings file path, if it is one.
fn run_of(rel: &str) -> Option<&str> {
    let mut parts = rel.split('/');
    (parts.next()? == "findings").then_some(())?;
    let run = parts.next()?.strip_prefix("run=")?;
    let name = parts.next()?;
    (parts.next().is_none() && name.ends_with(".parquet") && !name.starts_with('.')).then_some(run)
}

/// Gathers the files into runs, in run order.
fn gather(files: Vec<(String, Option<BTreeSet<RuleRun>>, bool)>) -> Vec<StoredRun> {
    let mut runs: BTreeMap<String, StoredRun> = BTreeMap::new();
    for (rel, rules, legacy) in files {
        let Some(run) = run_of(&rel) else { continue };
        let entry = runs.entry(run.to_owned()).or_insert_with(|| StoredRun {
            run: run.to_owned(),
            rules: None,
            files: Vec::new(),
            legacy_text_hashes: false,
        });
        if let Some(r) = rules {
            entry.rules.get_or_insert_with(BTreeSet::new).extend(r);
        }
        entry.legacy_text_hashes |= legacy;
        entry.files.push(rel);
    }
    runs.into_values().collect()
}

/// The stored runs of the dataset at `data` (a directory or a URL), oldest first.
pub async fn stored_runs(data: &Path, store: &StoreOptions) -> Result<Vec<StoredRun>> {
    match remote::locate(data, store)? {
        Location::Local(dir) => local_runs(&dir),
        Location::Remote(r) => remote_runs(&r).await,
    }
}

/// The stored runs of the dataset directory `dir`, oldest first.
pub fn local_runs(dir: &Path) -> Result<Vec<StoredRun>> {
    let findings = dir.join("findings");
    let mut files = Vec::new();
    let runs = match std::fs::read_dir(&findings) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&findings, e)),
    };
    for run in runs {
        let run = run.map_err(|e| Error::io(&findings, e))?;
        let Some(run_name) = run.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        // A symbolic link is not a run (it may lead out of the dataset,
        // and runs are rewritten and removed in place): left alone.
        let is_dir = run.file_type().is_ok_and(|t| t.is_dir());
        if !run_name.starts_with("run=") || !is_dir {
            continue;
        }
        let rd = std::fs::read_dir(run.path()).map_err(|e| Error::io(run.path(), e))?;
        for file in rd {
            let file = file.map_err(|e| Error::io(run.path(), e))?;
            let Some(name) = file.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let rel = format!("findings/{run_name}/{name}");
            if run_of(&rel).is_none() || !file.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let path = file.path();
            let f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            let meta = ParquetMetaDataReader::new()
                .parse_and_finish(&f)
                .map_err(|e| Error::parquet("reading", &path, e))?;
            let (rules, legacy) = describe(&meta, &path.display().to_string())?;
            files.push((rel, rules, legacy));
        }
    }
    Ok(gather(files))
}

async fn remote_runs(r: &Remote) -> Result<Vec<StoredRun>> {
    let mut listing = r.store.list(Some(&r.path("findings")));
    let mut files = Vec::new();
    let prefix = r.path("");
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| remote::failed(r, "findings", "listing", e))?;
        let Some(rel) = meta.location.prefix_match(&prefix).map(|parts| {
            parts
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>()
                .join("/")
        }) else {
            continue;
        };
        if run_of(&rel).is_none() {
            continue;
        }
        let got = r
            .store
            .get(&meta.location)
            .await
            .map_err(|e| remote::failed(r, &rel, "reading", e))?;
        let bytes: Bytes = got
            .bytes()
            .await
            .map_err(|e| remote::failed(r, &rel, "reading", e))?;
        let footer = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .map_err(|e| Error::parquet("reading", Path::new(&r.url_of(&rel)), e))?;
        let (rules, legacy) = describe(&footer, &r.url_of(&rel))?;
        files.push((rel, rules, legacy));
    }
    Ok(gather(files))
}

/// For each rule of this run, the latest earlier stored run that ran it
/// the same way (see the module documentation).
pub fn baselines<'a>(
    runs: &'a [StoredRun],
    this_run: &[(RuleRun, BTreeMap<String, String>)],
) -> BTreeMap<String, &'a StoredRun> {
    let mut out = BTreeMap::new();
    for (want, defaults) in this_run {
        if let Some(run) = runs.iter().rev().find(|r| r.ran(want, defaults)) {
            out.insert(want.rule.clone(), run);
        }
    }
    out
}

/// The findings batch of an older run's file in today's schema: hex
/// `cert_sha256` decoded to bytes, columns added since as nulls.
fn upgrade(batch: &RecordBatch) -> std::result::Result<RecordBatch, String> {
    let schema = finding_schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let Some(old) = batch.column_by_name(field.name()) else {
            columns.push(new_null_array(field.data_type(), batch.num_rows()));
            continue;
        };
        if field.name() == "cert_sha256" && old.data_type() == &DataType::Utf8 {
            let text = old.as_string::<i32>();
            let mut b = BinaryBuilder::new();
            for v in text.iter() {
                match v {
                    None => b.append_null(),
                    Some(t) => b.append_value(
                        hex::decode(t).map_err(|e| format!("cert_sha256 {t:?}: {e}"))?,
                    ),
                }
            }
            columns.push(Arc::new(b.finish()));
        } else if old.data_type() == field.data_type() {
            columns.push(old.clone());
        } else {
            return Err(format!(
                "column {} is {} where {} is expected",
                field.name(),
                old.data_type(),
                field.data_type()
            ));
        }
    }
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// Rewrites, in place and one file at a time (each replaced atomically),
/// the stored runs of `dir` whose files hold `cert_sha256` as hex text, so
/// that every run has today's columns. Returns how many files changed.
pub fn upgrade_local_runs(dir: &Path) -> Result<usize> {
    let mut changed = 0;
    for run in local_runs(dir)?.iter().filter(|r| r.legacy_text_hashes) {
        for rel in &run.files {
            let path = dir.join(rel);
            let bad = |message: String| Error::Input {
                path: path.clone(),
                message,
            };
            let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.build())
                .map_err(|e| Error::parquet("reading", &path, e))?;
            let mut batches = Vec::new();
            for b in reader {
                let b = b.map_err(|e| bad(format!("unreadable: {e}")))?;
                batches.push(upgrade(&b).map_err(bad)?);
            }
            let parent = path.parent().unwrap_or(dir).to_path_buf();
            let tmp_dir = parent.join(".upgrade");
            let mut w = PartitionWriter::new(tmp_dir.clone(), "part".into(), finding_schema());
            let empty = RecordBatch::new_empty(finding_schema());
            w.write_even_if_empty(batches.first().unwrap_or(&empty))?;
            for b in batches.iter().skip(1) {
                w.write(b)?;
            }
            let written = w.finish()?;
            let new = written
                .first()
                .ok_or_else(|| bad("nothing written".into()))?;
            std::fs::rename(new, &path).map_err(|e| Error::io(&path, e))?;
            let _ = std::fs::remove_dir_all(&tmp_dir);
            changed += 1;
        }
    }
    Ok(changed)
}

/// What `pipeline prune` did, or would do.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Runs kept, oldest first.
    pub kept: Vec<String>,
    /// Runs removed (or that would be, with `--dry-run`), oldest first.
    pub removed: Vec<String>,
    /// Runs kept only because a later `check --new` compares with them: the
    /// latest run of some rule (with its parameters).
    pub kept_as_baseline: Vec<String>,
}

/// Which runs `prune --keep keep` removes: all but the newest `keep` runs
/// and, for every rule and parameter set any run ran, the latest run that
/// ran it (what `--new` compares with).
pub fn plan_prune(runs: &[StoredRun], keep: usize) -> Pruned {
    let mut keep_set: BTreeSet<&str> = runs
        .iter()
        .rev()
        .take(keep)
        .map(|r| r.run.as_str())
        .collect();
    let mut baseline = BTreeSet::new();
    let mut seen: BTreeSet<Option<&RuleRun>> = BTreeSet::new();
    for run in runs.iter().rev() {
        let keys: Vec<Option<&RuleRun>> = match &run.rules {
            Some(rules) => rules.iter().map(Some).collect(),
            None => vec![None],
        };
        let mut needed = false;
        for k in keys {
            needed |= seen.insert(k);
        }
        if needed && keep_set.insert(run.run.as_str()) {
            baseline.insert(run.run.clone());
        }
    }
    let mut out = Pruned::default();
    for run in runs {
        if keep_set.contains(run.run.as_str()) {
            out.kept.push(run.run.clone());
        } else {
            out.removed.push(run.run.clone());
        }
    }
    out.kept_as_baseline = baseline.into_iter().collect();
    out
}

/// Options of `pipeline prune`.
#[derive(Debug, Clone, clap::Args)]
pub struct PruneOptions {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// How many of the newest stored runs to keep. The latest run of every
    /// rule (with its parameters) is kept too, whatever its age: new
    /// findings are those that run did not report.
    #[arg(long, value_name = "N")]
    pub keep: usize,
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `pipeline prune`: removes old stored runs of `check` (see
/// [`plan_prune`]). Each run's folder is first renamed out of the table
/// (one atomic step, so a reader never sees half a run), then deleted.
pub fn prune(opts: &PruneOptions) -> Result<Pruned> {
    remote::local_only(&opts.data, "prune")?;
    crate::dataset::snapshot::open(&opts.data)?;
    if !opts.dry_run {
        upgrade_local_runs(&opts.data)?;
    }
    let runs = local_runs(&opts.data)?;
    let plan = plan_prune(&runs, opts.keep);
    if opts.dry_run {
        return Ok(plan);
    }
    let findings = opts.data.join("findings");
    for run in &plan.removed {
        let from = findings.join(format!("run={run}"));
        let gone = findings.join(format!(".pruned-{run}"));
        std::fs::rename(&from, &gone).map_err(|e| Error::io(&from, e))?;
        std::fs::remove_dir_all(&gone).map_err(|e| Error::io(&gone, e))?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, rules: Option<&[(&str, &str)]>) -> StoredRun {
        StoredRun {
            run: id.into(),
            rules: rules.map(|rs| {
                rs.iter()
                    .map(|(r, p)| RuleRun {
                        rule: (*r).into(),
                        params: if p.is_empty() {
                            BTreeMap::new()
                        } else {
                            BTreeMap::from([("p".to_owned(), (*p).to_owned())])
                        },
                    })
                    .collect()
            }),
            files: vec![],
            legacy_text_hashes: false,
        }
    }

    #[test]
    fn baseline_is_the_latest_run_of_the_same_rule_and_params() {
        let runs = vec![
            run("1", None),
            run("2", Some(&[("a", ""), ("b", "")])),
            run("3", Some(&[("a", "")])),
            run("4", Some(&[("b", "7")])),
        ];
        let want = |rule: &str, p: &str| {
            let params = if p.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([("p".to_owned(), p.to_owned())])
            };
            (
                RuleRun {
                    rule: rule.into(),
                    params,
                },
                BTreeMap::new(),
            )
        };
        let b = baselines(
            &runs,
            &[want("a", ""), want("b", ""), want("c", ""), want("b", "9")],
        );
        assert_eq!(b["a"].run, "3");
        // An ad-hoc run of b with another parameter (run 4) is not b's baseline.
        assert_eq!(b["b"].run, "2");
        // A run from before runs recorded their rules ran every rule.
        assert_eq!(b["c"].run, "1");
        let b = baselines(&runs, &[want("b", "9")]);
        assert!(b.is_empty(), "{b:?}");
    }

    #[test]
    fn prune_keeps_the_newest_and_every_rule_s_latest_run() {
        let runs = vec![
            run("1", None),
            run("2", Some(&[("a", ""), ("b", "")])),
            run("3", Some(&[("a", "")])),
            run("4", Some(&[("a", "")])),
            run("5", Some(&[("a", "")])),
        ];
        let p = plan_prune(&runs, 1);
        assert_eq!(p.kept, ["1", "2", "5"]);
        assert_eq!(p.removed, ["3", "4"]);
        assert_eq!(p.kept_as_baseline, ["1", "2"]);
        let p = plan_prune(&runs, 10);
        assert!(p.removed.is_empty());
    }

    #[test]
    fn findings_paths_name_their_run() {
        assert_eq!(
            run_of("findings/run=20260101T000000Z/part-00000.parquet"),
            Some("20260101T000000Z")
        );
        assert_eq!(run_of("findings/run=x/.part.parquet.inprogress"), None);
        assert_eq!(run_of("findings/.pruned-x/part-00000.parquet"), None);
        assert_eq!(run_of("certs/log=x/part.parquet"), None);
    }
}
