//! `pipeline verify`: checks a dataset against its manifest, as `git fsck`
//! checks a repository.
//!
//! Every data file the manifest names must exist with the size and row count
//! recorded at its commit and a readable footer; no (log, entry_index) may be
//! stored twice; the manifest's counts must match the files; nothing else
//! may lie in the dataset's directories; no interrupted commit may be
//! pending. Each problem found is one line naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::dataset::commit::{LOCK_FILE, STAGING_DIR};
use crate::dataset::manifest::MANIFEST_FILE;
use crate::dataset::snapshot::{self, Snapshot, DATA_TABLES, READERS_DIR};
use crate::error::{Error, Result};

/// What `pipeline verify` found; the keys are part of its JSON output.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Verification {
    /// The dataset directory.
    pub data: String,
    /// The manifest's generation (commits so far).
    pub generation: u64,
    /// Data files the manifest names.
    pub files: u64,
    /// Rows in them.
    pub rows: u64,
    /// Every problem, one line each, naming the file or log.
    pub problems: Vec<String>,
}

impl Verification {
    /// Whether the dataset is as its manifest says.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The log of a data file path `<table>/log=<name>/<file>`.
fn log_of(rel: &str) -> String {
    crate::dataset::layout::of_file(rel)
        .map(|(_, log)| log)
        .unwrap_or_default()
}

/// Checks the dataset at `data`.
pub fn verify(data: &Path) -> Result<Verification> {
    crate::dataset::remote::local_only(data, "verify")?;
    if !data.is_dir() {
        return Err(Error::Input {
            path: data.to_path_buf(),
            message: "no dataset here (not a directory)".into(),
        });
    }
    let mut v = Verification {
        data: data.display().to_string(),
        ..Verification::default()
    };
    let snap = match snapshot::open(data) {
        Ok(s) => s,
        Err(e) => {
            v.problems.push(format!(
                "the manifest cannot be read: {}",
                crate::error::with_causes(&e)
            ));
            return Ok(v);
        }
    };
    v.generation = snap.manifest.generation;
    v.files = snap.files.len() as u64;
    check_files(&snap, &mut v);
    check_counts(&snap, &mut v);
    check_duplicates(&snap, &mut v);
    check_strays(&snap, &mut v);
    Ok(v)
}

/// The damage a reader can name after a failure: data files the manifest
/// names that are missing, changed or unreadable (footers only, quick).
pub fn damaged_files(data: &Path) -> Vec<String> {
    let Ok(snap) = snapshot::open(data) else {
        return Vec::new();
    };
    let mut v = Verification::default();
    check_files(&snap, &mut v);
    v.problems
}

fn check_files(snap: &Snapshot, v: &mut Verification) {
    for f in &snap.foreign {
        v.problems.push(format!(
            "the manifest names {}, which is not a data file of the dataset",
            crate::text::escape(f)
        ));
    }
    for (rel, record) in &snap.files {
        let path = snap.data.join(rel);
        let shown = crate::text::escape(rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => {
                v.problems.push(format!("{shown}: not a regular file"));
                continue;
            }
            Err(e) => {
                v.problems
                    .push(format!("{shown}: named by the manifest, but missing ({e})"));
                continue;
            }
        };
        if let Some(r) = record {
            if r.size != meta.len() {
                v.problems.push(format!(
                    "{shown}: {} bytes, but its commit wrote {}",
                    meta.len(),
                    r.size
                ));
            }
        }
        match crate::dataset::data_file::rows(&path) {
            Ok(rows) => {
                v.rows += rows;
                if let Some(r) = record.filter(|r| r.rows != rows) {
                    v.problems.push(format!(
                        "{shown}: {rows} rows, but its commit wrote {}",
                        r.rows
                    ));
                }
            }
            Err(why) => v.problems.push(format!("{shown}: {why}")),
        }
    }
}

/// The manifest's rows and rejects per log must be what the files hold.
fn check_counts(snap: &Snapshot, v: &mut Verification) {
    let mut stated: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for e in snap.entries() {
        *stated.entry(("certs", e.log.clone())).or_default() += e.rows;
        *stated.entry(("rejects", e.log.clone())).or_default() += e.rejects;
    }
    let mut held: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for rel in snap.files.keys() {
        let table = if rel.starts_with("certs/") {
            "certs"
        } else {
            "rejects"
        };
        let rows = crate::dataset::data_file::rows(&snap.data.join(rel)).unwrap_or(0);
        *held.entry((table, log_of(rel))).or_default() += rows as i64;
    }
    for (key, n) in &stated {
        let h = held.get(key).copied().unwrap_or(0);
        if *n != h {
            v.problems.push(format!(
                "log {}: the manifest counts {n} {} rows, its files hold {h}",
                crate::text::escape(&key.1),
                key.0
            ));
        }
    }
}

/// No (log, entry_index) may be stored twice. Files are grouped per log
/// into runs whose index ranges overlap (from the footers' statistics
/// where present); only files of one run are compared, so memory follows
/// the largest run, not the dataset.
fn check_duplicates(snap: &Snapshot, v: &mut Verification) {
    let mut per_log: BTreeMap<String, Vec<(i64, i64, &str)>> = BTreeMap::new();
    for rel in snap.files.keys() {
        let (lo, hi) = index_range(&snap.data.join(rel)).unwrap_or((i64::MIN, i64::MAX));
        per_log.entry(log_of(rel)).or_default().push((lo, hi, rel));
    }
    for (log, mut files) in per_log {
        files.sort_unstable();
        let mut run: Vec<&str> = Vec::new();
        let mut run_hi = i64::MIN;
        let mut twice = 0u64;
        for (lo, hi, rel) in files {
            if !run.is_empty() && lo > run_hi {
                twice += duplicates_in(snap, &log, &run, v);
                run.clear();
            }
            run.push(rel);
            run_hi = run_hi.max(hi);
        }
        twice += duplicates_in(snap, &log, &run, v);
        if twice > 10 {
            v.problems.push(format!(
                "log {}: {twice} entries stored more than once in all",
                crate::text::escape(&log)
            ));
        }
    }
}

/// The lowest and highest entry_index of a data file, from its row groups'
/// statistics (`None` when they are missing).
fn index_range(path: &Path) -> Option<(i64, i64)> {
    use parquet::file::statistics::Statistics;
    let meta = crate::dataset::data_file::read(path).ok()?;
    let schema = meta.file_metadata().schema_descr();
    let column = (0..schema.num_columns()).find(|&i| schema.column(i).name() == "entry_index")?;
    let mut range: Option<(i64, i64)> = None;
    for rg in meta.row_groups() {
        let Some(Statistics::Int64(s)) = rg.column(column).statistics() else {
            return None;
        };
        let (Some(lo), Some(hi)) = (s.min_opt(), s.max_opt()) else {
            continue;
        };
        range = Some(match range {
            None => (*lo, *hi),
            Some((a, b)) => (a.min(*lo), b.max(*hi)),
        });
    }
    Some(range.unwrap_or((i64::MAX, i64::MIN)))
}

/// Reports the (log, entry_index) pairs stored twice among `files` (one
/// run of overlapping index ranges); returns how many there are.
fn duplicates_in(snap: &Snapshot, log: &str, files: &[&str], v: &mut Verification) -> u64 {
    let mut indices: Vec<(i64, &str)> = Vec::new();
    for rel in files {
        let table = if rel.starts_with("certs/") {
            "certs"
        } else {
            "rejects"
        };
        match crate::dataset::data_file::stored_indices(&snap.data.join(rel), table) {
            Ok(ix) => indices.extend(ix.into_iter().map(|i| (i, *rel))),
            Err(why) => v
                .problems
                .push(format!("{}: {why}", crate::text::escape(rel))),
        }
    }
    indices.sort_unstable();
    let mut twice = 0u64;
    for w in indices.windows(2) {
        if w[0].0 == w[1].0 {
            twice += 1;
            if twice <= 10 {
                v.problems.push(format!(
                    "log {}: entry {} is stored twice ({} and {})",
                    crate::text::escape(log),
                    w[0].0,
                    crate::text::escape(w[0].1),
                    crate::text::escape(w[1].1)
                ));
            }
        }
    }
    twice
}

/// Files and directories the dataset does not account for.
fn check_strays(snap: &Snapshot, v: &mut Verification) {
    let data = &snap.data;
    let Ok(top) = fs::read_dir(data) else {
        return;
    };
    for e in top.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        match name.as_ref() {
            MANIFEST_FILE | LOCK_FILE | READERS_DIR | "findings" => {}
            STAGING_DIR => {
                if crate::dataset::commit::pending(data) {
                    v.problems.push(format!(
                        "{STAGING_DIR}: an interrupted run left work here; the next `pipeline ingest` \
                         or `pipeline compact` finishes or removes it"
                    ));
                }
            }
            t if DATA_TABLES.contains(&t) => {
                let mut found = BTreeSet::new();
                crate::dataset::layout::files_under(data, &e.path(), &mut found);
                for rel in found.difference(&snap.files.keys().cloned().collect()) {
                    v.problems.push(format!(
                        "{}: not named by the manifest (a stray file; readers ignore it)",
                        crate::text::escape(rel)
                    ));
                }
            }
            _ => v.problems.push(format!(
                "{}: unknown to the dataset",
                crate::text::path(&e.path())
            )),
        }
    }
}
