//! `pipeline status`: what a dataset covers, per log — entries, the index
//! ranges present and the gaps between them, rejects, parse errors, entry
//! timestamps, bytes on disk and the last ingest; and, for a log fetched
//! by `pipeline fetch`, the tree size proved against its signed tree head,
//! when, and whether the dataset holds all of those entries.
//!
//! Index coverage comes from the manifest (what committed runs stored);
//! counts and timestamps from the footers of the snapshot's data files.

use rangemap::RangeInclusiveSet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::dataset::commit;
use crate::dataset::data_file::{self, FooterCounts};
use crate::dataset::manifest::{self, format_ranges, FileRecord, Manifest};
use crate::dataset::snapshot;
use crate::error::{Error, Result};

/// One log's coverage; the keys are part of `status --format json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LogStatus {
    /// The log's name.
    pub log: String,
    /// Entries stored: rows + rejects.
    pub entries: u64,
    /// `certs` rows.
    pub rows: u64,
    /// `rejects` rows.
    pub rejects: u64,
    /// `certs` rows with a parse_error.
    pub parse_errors: u64,
    /// Lowest entry index present.
    pub first_index: Option<u64>,
    /// Highest entry index present.
    pub last_index: Option<u64>,
    /// Index ranges present, `a-b,c-d` (inclusive).
    pub ranges: String,
    /// Missing ranges between first_index and last_index, `a-b,c-d`.
    pub gaps: String,
    /// Entries in the gaps.
    pub missing: u64,
    /// Earliest entry timestamp (RFC 3339, UTC).
    pub first_entry_time: Option<String>,
    /// Latest entry timestamp (RFC 3339, UTC).
    pub last_entry_time: Option<String>,
    /// Bytes of the log's `certs` and `rejects` files.
    pub bytes_on_disk: u64,
    /// Input files ingested into the log.
    pub input_files: u64,
    /// Entries read but not stored again (already present).
    pub duplicates: u64,
    /// When the last run that added to the log committed (RFC 3339, UTC).
    pub last_ingest: Option<String>,
    /// Some of the log's files are missing or changed: its counts and ranges
    /// are those of the files that remain, not what the manifest recorded.
    pub damaged: bool,
    /// What a `pipeline fetch` had proved of the log when its dump was last
    /// ingested, and whether the dataset holds all of it.
    pub verified: Option<Verified>,
}

/// A log's verified prefix, and the dataset's coverage of it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Verified {
    /// What the fetch proved.
    #[serde(flatten)]
    pub log: manifest::VerifiedLog,
    /// Indices below `size` the dataset does not hold (0: it holds the
    /// log's first `size` entries, exactly as the log signed them).
    pub missing: u64,
}

/// The indices of `0..size` that `set` lacks.
fn missing_below(set: &RangeInclusiveSet<u64>, size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    set.gaps(&(0..=size - 1))
        .map(|g| g.end() - g.start() + 1)
        .sum()
}

/// The whole dataset's coverage.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Status {
    /// The dataset directory.
    pub data: String,
    /// One entry per log, by name.
    pub logs: Vec<LogStatus>,
    /// Whether an interrupted run left work that the next ingest finishes or undoes.
    pub interrupted_run_pending: bool,
    /// Damage found: data files missing or changed since their commit, stray
    /// files, paths the manifest names outside the data (`pipeline verify`
    /// checks everything).
    pub problems: Vec<String>,
    /// With several datasets: the entries two of them both hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overlaps: Vec<Overlap>,
    /// `certs` files without this release's stored name facts (written by
    /// an older release or with another Public Suffix List): while there
    /// are any, `check` tests every name instead of reading the facts, and
    /// `pipeline compact` stores them.
    pub certs_files_without_name_facts: u64,
}

/// Entries of one log that two datasets both hold (`status` of several
/// datasets); the keys are part of `status --format json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Overlap {
    /// The log.
    pub log: String,
    /// The two datasets.
    pub datasets: Vec<String>,
    /// Entries both hold.
    pub entries: u64,
    /// Their index ranges, `a-b,c-d`.
    pub ranges: String,
}

/// Several datasets' statuses as one, as `query --data A --data B` reads
/// them: per log, counts summed and index ranges united. A (log,
/// entry_index) two datasets both hold is not counted twice silently: it
/// is an [`Overlap`], and a problem line says so.
pub fn merge(parts: Vec<Status>) -> Status {
    let names: Vec<String> = parts.iter().map(|p| p.data.clone()).collect();
    let mut out = Status {
        data: names.join(", "),
        ..Status::default()
    };
    let mut logs: BTreeMap<String, (LogStatus, RangeInclusiveSet<u64>)> = BTreeMap::new();
    let mut held: BTreeMap<String, Vec<(String, RangeInclusiveSet<u64>)>> = BTreeMap::new();
    for part in parts {
        out.interrupted_run_pending |= part.interrupted_run_pending;
        out.certs_files_without_name_facts += part.certs_files_without_name_facts;
        let name = part.data;
        out.problems.extend(
            part.problems
                .iter()
                .map(|q| format!("{}: {q}", crate::text::escape(&name))),
        );
        for l in part.logs {
            let set = manifest::parse_ranges(&l.ranges).unwrap_or_default();
            for (other, theirs) in held.get(&l.log).into_iter().flatten() {
                let both = intersection(&set, theirs);
                let entries: u64 = both.iter().map(|r| r.end() - r.start() + 1).sum();
                if entries > 0 {
                    out.overlaps.push(Overlap {
                        log: l.log.clone(),
                        datasets: vec![other.clone(), name.clone()],
                        entries,
                        ranges: format_ranges(&both),
                    });
                }
            }
            held.entry(l.log.clone())
                .or_default()
                .push((name.clone(), set.clone()));
            let (sum, union) = logs.entry(l.log.clone()).or_insert_with(|| {
                (
                    LogStatus {
                        log: l.log.clone(),
                        ..LogStatus::default()
                    },
                    RangeInclusiveSet::new(),
                )
            });
            add(sum, &l);
            union.extend(set);
        }
    }
    for o in &out.overlaps {
        out.problems.push(format!(
            "{} entries of log {} ({}) are in both {} and {}: counted once in ranges, twice in rows",
            o.entries,
            crate::text::escape(&o.log),
            o.ranges,
            crate::text::escape(&o.datasets[0]),
            crate::text::escape(&o.datasets[1])
        ));
    }
    out.logs = logs
        .into_values()
        .map(|(mut s, set)| {
            s.first_index = None;
            s.last_index = None;
            s.ranges.clear();
            s.gaps.clear();
            s.missing = 0;
            fill_ranges(&mut s, &set);
            if let Some(v) = &mut s.verified {
                v.missing = missing_below(&set, v.log.size);
            }
            s
        })
        .collect();
    out
}

/// Adds one dataset's status of a log to the sum of the others'.
fn add(sum: &mut LogStatus, l: &LogStatus) {
    sum.entries += l.entries;
    sum.rows += l.rows;
    sum.rejects += l.rejects;
    sum.parse_errors += l.parse_errors;
    sum.bytes_on_disk += l.bytes_on_disk;
    sum.input_files += l.input_files;
    sum.duplicates += l.duplicates;
    sum.damaged |= l.damaged;
    // RFC 3339 UTC texts of one format order as their times do.
    sum.first_entry_time = [sum.first_entry_time.take(), l.first_entry_time.clone()]
        .into_iter()
        .flatten()
        .min();
    sum.last_entry_time = sum.last_entry_time.take().max(l.last_entry_time.clone());
    sum.last_ingest = sum.last_ingest.take().max(l.last_ingest.clone());
    let larger = |v: &Verified| v.log.size;
    if l.verified.as_ref().map(larger) > sum.verified.as_ref().map(larger) {
        sum.verified = l.verified.clone();
    }
}

/// The indices both sets hold.
fn intersection(a: &RangeInclusiveSet<u64>, b: &RangeInclusiveSet<u64>) -> RangeInclusiveSet<u64> {
    let mut out = RangeInclusiveSet::new();
    for r in a.iter() {
        for o in b.overlapping(r) {
            let (lo, hi) = (*r.start().max(o.start()), *r.end().min(o.end()));
            if lo <= hi {
                out.insert(lo..=hi);
            }
        }
    }
    out
}

fn rfc3339_ms(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// How `status` reaches a snapshot's data files (by dataset-relative path):
/// on disk, or what was fetched from an object store beforehand.
pub(crate) trait Files {
    /// How `rel` is named in messages.
    fn name(&self, rel: &str) -> PathBuf;
    /// Why `rel` is not what its commit wrote (missing, not a regular
    /// file, another size), or `None`.
    fn damage(&self, rel: &str, record: Option<FileRecord>) -> Option<String>;
    /// Its size in bytes (0 if unknown).
    fn size(&self, rel: &str) -> u64;
    /// The counts its footer states.
    fn counts(&self, rel: &str) -> std::result::Result<FooterCounts, String>;
    /// The entry indices it stores.
    fn indices(&self, rel: &str, table: &str) -> std::result::Result<Vec<i64>, String>;
    /// How many files the data tables hold that `named` does not name.
    fn strays(&self, named: &BTreeMap<String, Option<FileRecord>>) -> usize;
}

/// A dataset directory's files.
struct OnDisk<'a>(&'a Path);

impl Files for OnDisk<'_> {
    fn name(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn damage(&self, rel: &str, record: Option<FileRecord>) -> Option<String> {
        match std::fs::symlink_metadata(self.0.join(rel)) {
            Ok(m) if !m.is_file() => Some("not a regular file".to_owned()),
            Ok(m) => record
                .filter(|r| r.size != m.len())
                .map(|r| format!("{} bytes, but its commit wrote {}", m.len(), r.size)),
            Err(e) => Some(format!("named by the manifest, but missing ({e})")),
        }
    }

    fn size(&self, rel: &str) -> u64 {
        std::fs::metadata(self.0.join(rel)).map_or(0, |m| m.len())
    }

    fn counts(&self, rel: &str) -> std::result::Result<FooterCounts, String> {
        data_file::counts(&self.0.join(rel))
    }

    fn indices(&self, rel: &str, table: &str) -> std::result::Result<Vec<i64>, String> {
        data_file::stored_indices(&self.0.join(rel), table)
    }

    fn strays(&self, named: &BTreeMap<String, Option<FileRecord>>) -> usize {
        let mut found = BTreeSet::new();
        for table in snapshot::DATA_TABLES {
            crate::dataset::layout::files_under(self.0, &self.0.join(table), &mut found);
        }
        found.iter().filter(|rel| !named.contains_key(*rel)).count()
    }
}

/// Sums the footer counts of `files` of `table`, per log.
fn per_log(
    files: &BTreeMap<String, Option<FileRecord>>,
    src: &dyn Files,
    table: &str,
) -> Result<BTreeMap<String, FooterCounts>> {
    let mut out: BTreeMap<String, FooterCounts> = BTreeMap::new();
    for rel in files.keys() {
        let Some((t, log)) = crate::dataset::layout::of_file(rel) else {
            continue;
        };
        if t != table {
            continue;
        }
        let c = src.counts(rel).map_err(|message| Error::Input {
            path: src.name(rel),
            message,
        })?;
        let sum = out.entry(log).or_default();
        sum.rows += c.rows;
        sum.parse_errors += c.parse_errors;
        sum.min_timestamp_ms = [sum.min_timestamp_ms, c.min_timestamp_ms]
            .into_iter()
            .flatten()
            .min();
        sum.max_timestamp_ms = sum.max_timestamp_ms.max(c.max_timestamp_ms);
    }
    Ok(out)
}

/// Takes out of `files` those that are missing or not what their commit
/// wrote, so that nothing is counted from them; returns the problems and
/// the logs they concern.
fn set_aside_damage(
    files: &mut BTreeMap<String, Option<FileRecord>>,
    foreign: &[String],
    generation: u64,
    src: &dyn Files,
) -> (Vec<String>, BTreeSet<String>) {
    let mut problems = Vec::new();
    let mut logs = BTreeSet::new();
    let mut bad = Vec::new();
    for (rel, record) in files.iter() {
        if let Some(why) = src.damage(rel, *record) {
            problems.push(format!("{}: {why}", crate::text::escape(rel)));
            logs.insert(
                crate::dataset::layout::of_file(rel)
                    .map(|(_, l)| l)
                    .unwrap_or_default(),
            );
            bad.push(rel.clone());
        }
    }
    for rel in bad {
        files.remove(&rel);
    }
    for f in foreign {
        problems.push(format!(
            "the manifest names {}, which is not a data file of the dataset",
            crate::text::escape(f)
        ));
    }
    let strays = src.strays(files);
    if strays > 0 {
        problems.push(format!(
            "{strays} files in the data tables are not named by the manifest (readers ignore them{})",
            if generation == 0 { "; the manifest is missing" } else { "" }
        ));
    }
    (problems, logs)
}

/// The indices a damaged log's remaining files hold, per log: the coverage
/// the data itself vouches for.
fn stored_coverage(
    files: &BTreeMap<String, Option<FileRecord>>,
    src: &dyn Files,
    logs: &BTreeSet<String>,
) -> Result<BTreeMap<String, RangeInclusiveSet<u64>>> {
    let mut out: BTreeMap<String, RangeInclusiveSet<u64>> = BTreeMap::new();
    for rel in files.keys() {
        let Some((table, log)) = crate::dataset::layout::of_file(rel) else {
            continue;
        };
        if !logs.contains(&log) {
            continue;
        }
        let indices = src.indices(rel, table).map_err(|message| Error::Input {
            path: src.name(rel),
            message,
        })?;
        let set = out.entry(log).or_default();
        for x in indices.into_iter().filter_map(|i| u64::try_from(i).ok()) {
            set.insert(x..=x);
        }
    }
    Ok(out)
}

/// Computes the status of the dataset at `data`, from one snapshot.
/// Coverage comes from the manifest, except for logs with damaged files
/// (missing, or not what their commit wrote): those are marked `damaged`,
/// their counts and ranges come from the files that remain, and
/// `problems` says what is wrong.
pub fn status(data: &Path) -> Result<Status> {
    if !data.is_dir() {
        return Err(Error::Input {
            path: data.to_path_buf(),
            message: "no dataset here (not a directory)".into(),
        });
    }
    let snap = snapshot::open(data)?;
    let mut st = compute(
        &snap.manifest,
        snap.files.clone(),
        &snap.foreign,
        &OnDisk(&snap.data),
    )?;
    st.data = data.display().to_string();
    st.interrupted_run_pending = commit::pending(data);
    Ok(st)
}

/// The status of the snapshot `manifest` names (`files`, and the `foreign`
/// paths it names outside the data), read through `src`.
pub(crate) fn compute(
    manifest: &Manifest,
    mut files: BTreeMap<String, Option<FileRecord>>,
    foreign: &[String],
    src: &dyn Files,
) -> Result<Status> {
    let without_facts = files
        .keys()
        .filter(|f| manifest.lacks_name_facts(f))
        .count() as u64;
    let (problems, damaged) = set_aside_damage(&mut files, foreign, manifest.generation, src);
    let certs = per_log(&files, src, "certs")?;
    let rejects = per_log(&files, src, "rejects")?;
    let entries = &manifest.entries;
    let mut coverage = manifest::coverage(entries);
    if !damaged.is_empty() {
        coverage.retain(|log, _| !damaged.contains(log));
        coverage.extend(stored_coverage(&files, src, &damaged)?);
    }
    let mut logs: BTreeMap<String, LogStatus> = BTreeMap::new();
    for name in certs
        .keys()
        .chain(rejects.keys())
        .chain(coverage.keys())
        .chain(damaged.iter())
        .chain(manifest.verified.keys())
    {
        logs.entry(name.clone()).or_insert_with(|| LogStatus {
            log: name.clone(),
            ..LogStatus::default()
        });
    }
    for (name, s) in logs.iter_mut() {
        let c = certs.get(name).copied().unwrap_or_default();
        s.rows = c.rows;
        s.parse_errors = c.parse_errors;
        s.first_entry_time = c.min_timestamp_ms.and_then(rfc3339_ms);
        s.last_entry_time = c.max_timestamp_ms.and_then(rfc3339_ms);
        s.rejects = rejects.get(name).map_or(0, |r| r.rows);
        s.entries = s.rows + s.rejects;
        s.damaged = damaged.contains(name);
        let empty = RangeInclusiveSet::new();
        let set = coverage.get(name).unwrap_or(&empty);
        fill_ranges(s, set);
        s.verified = manifest.verified.get(name).map(|v| Verified {
            missing: missing_below(set, v.size),
            log: v.clone(),
        });
        let mine_files =
            |rel: &&String| crate::dataset::layout::of_file(rel).is_some_and(|(_, l)| l == *name);
        s.bytes_on_disk = files
            .keys()
            .filter(mine_files)
            .map(|rel| src.size(rel))
            .sum();
        let mine: Vec<_> = entries.iter().filter(|e| &e.log == name).collect();
        s.input_files = mine.len() as u64;
        s.duplicates = mine.iter().map(|e| e.duplicates.max(0) as u64).sum();
        s.last_ingest = mine
            .iter()
            .map(|e| e.ingested_at_ms)
            .max()
            .and_then(rfc3339_ms);
    }
    Ok(Status {
        data: String::new(),
        logs: logs.into_values().collect(),
        interrupted_run_pending: false,
        problems,
        overlaps: Vec::new(),
        certs_files_without_name_facts: without_facts,
    })
}

/// Sets first/last index, ranges, gaps and missing from a coverage set.
fn fill_ranges(s: &mut LogStatus, set: &RangeInclusiveSet<u64>) {
    let (Some(first), Some(last)) = (set.iter().next(), set.iter().next_back()) else {
        return;
    };
    s.first_index = Some(*first.start());
    s.last_index = Some(*last.end());
    s.ranges = format_ranges(set);
    let mut gaps = RangeInclusiveSet::new();
    for g in set.gaps(&(*first.start()..=*last.end())) {
        s.missing += g.end() - g.start() + 1;
        gaps.insert(g);
    }
    s.gaps = format_ranges(&gaps);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_the_holes_between_first_and_last() {
        let mut set = RangeInclusiveSet::new();
        set.insert(10..=19);
        set.insert(30..=39);
        set.insert(41..=41);
        let mut s = LogStatus::default();
        fill_ranges(&mut s, &set);
        assert_eq!((s.first_index, s.last_index), (Some(10), Some(41)));
        assert_eq!(s.ranges, "10-19,30-39,41");
        assert_eq!(s.gaps, "20-29,40");
        assert_eq!(s.missing, 11);
    }
}
