//! `pipeline status`: what a dataset covers, per log — entries, the index
//! ranges present and the gaps between them, rejects, parse errors, entry
//! timestamps, bytes on disk and the last ingest.
//!
//! Index coverage comes from the manifest (what committed runs stored);
//! counts and timestamps from the tables themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use rangemap::RangeInclusiveSet;
use serde::Serialize;

use crate::commit;
use crate::error::{Error, Result};
use crate::manifest::{self, format_ranges};
use crate::session;

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
}

fn rfc3339_ms(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// Bytes of the files under `dir` (recursively); 0 when absent.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs one aggregate query and returns its rows as (log, int64 values).
async fn per_log(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> Result<BTreeMap<String, Vec<Option<i64>>>> {
    let mut out = BTreeMap::new();
    for batch in ctx.sql(sql).await?.collect().await? {
        let logs = cast(batch.column(0), &DataType::Utf8)?;
        let logs = logs.as_string::<i32>();
        let values: Vec<_> = (1..batch.num_columns())
            .map(|i| cast(batch.column(i), &DataType::Int64))
            .collect::<std::result::Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            let v = values
                .iter()
                .map(|c| {
                    let c = c.as_primitive::<Int64Type>();
                    (!c.is_null(row)).then(|| c.value(row))
                })
                .collect();
            out.insert(logs.value(row).to_owned(), v);
        }
    }
    Ok(out)
}

/// Computes the status of the dataset at `data`.
pub async fn status(data: &Path) -> Result<Status> {
    if !data.is_dir() {
        return Err(Error::Input {
            path: data.to_path_buf(),
            message: "no dataset here (not a directory)".into(),
        });
    }
    let ctx = session::open(data).await?;
    let certs = per_log(
        &ctx,
        "SELECT log, count(*), sum(CAST(parse_error IS NOT NULL AS BIGINT)),
                CAST(min(entry_timestamp) AS BIGINT), CAST(max(entry_timestamp) AS BIGINT)
         FROM certs GROUP BY log",
    )
    .await?;
    let rejects = per_log(&ctx, "SELECT log, count(*) FROM rejects GROUP BY log").await?;
    let entries = manifest::read(data)?;
    let coverage = manifest::coverage(&entries);
    let mut logs: BTreeMap<String, LogStatus> = BTreeMap::new();
    for name in certs.keys().chain(rejects.keys()).chain(coverage.keys()) {
        logs.entry(name.clone()).or_insert_with(|| LogStatus {
            log: name.clone(),
            ..LogStatus::default()
        });
    }
    for (name, s) in logs.iter_mut() {
        let c = certs.get(name).cloned().unwrap_or_default();
        let value = |i: usize| c.get(i).copied().flatten();
        s.rows = value(0).unwrap_or(0) as u64;
        s.parse_errors = value(1).unwrap_or(0) as u64;
        s.first_entry_time = value(2).and_then(rfc3339_ms);
        s.last_entry_time = value(3).and_then(rfc3339_ms);
        s.rejects = rejects
            .get(name)
            .and_then(|r| r.first().copied().flatten())
            .unwrap_or(0) as u64;
        s.entries = s.rows + s.rejects;
        if let Some(set) = coverage.get(name) {
            fill_ranges(s, set);
        }
        let partition = format!("log={name}");
        let dirs: [PathBuf; 2] = [
            data.join("certs").join(&partition),
            data.join("rejects").join(&partition),
        ];
        s.bytes_on_disk = dirs.iter().map(|d| bytes_under(d)).sum();
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
        data: data.display().to_string(),
        logs: logs.into_values().collect(),
        interrupted_run_pending: commit::pending(data),
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

/// Writes the status as a text table.
pub fn write_table(w: &mut dyn std::io::Write, st: &Status) -> std::io::Result<()> {
    if st.interrupted_run_pending {
        writeln!(
            w,
            "note: an interrupted run left work in {}/_staging; the next ingest finishes or removes it",
            st.data
        )?;
    }
    if st.logs.is_empty() {
        return writeln!(w, "{}: no entries yet", st.data);
    }
    let header = [
        "log",
        "entries",
        "rows",
        "rejects",
        "parse_err",
        "indices",
        "gaps",
        "missing",
        "first_entry",
        "last_entry",
        "MB",
        "files",
        "dups",
        "last_ingest",
    ];
    let rows: Vec<Vec<String>> = st
        .logs
        .iter()
        .map(|l| {
            let indices = match (l.first_index, l.last_index) {
                (Some(a), Some(b)) => format!("{a}-{b}"),
                _ => "-".into(),
            };
            let gaps = if l.gaps.is_empty() {
                "-".into()
            } else {
                l.gaps.clone()
            };
            vec![
                l.log.clone(),
                l.entries.to_string(),
                l.rows.to_string(),
                l.rejects.to_string(),
                l.parse_errors.to_string(),
                indices,
                gaps,
                l.missing.to_string(),
                l.first_entry_time.clone().unwrap_or_else(|| "-".into()),
                l.last_entry_time.clone().unwrap_or_else(|| "-".into()),
                format!("{:.1}", l.bytes_on_disk as f64 / 1e6),
                l.input_files.to_string(),
                l.duplicates.to_string(),
                l.last_ingest.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(w, "{}", line(header.to_vec()))?;
    for r in &rows {
        writeln!(w, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
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
