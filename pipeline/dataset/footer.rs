//! Reading a Parquet file's footer without trusting it: a hostile footer
//! (a length past the file's start, absurd sizes) is an error naming what
//! is wrong, never a panic of the reader. The counts `pipeline status`
//! shows come from footers alone (row counts and column statistics), so
//! status reads kilobytes, not the tables.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::statistics::Statistics;

/// The footer of the Parquet file at `path`, or why it cannot be read.
pub fn read(path: &Path) -> Result<ParquetMetaData, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    match catch_unwind(AssertUnwindSafe(|| SerializedFileReader::new(file))) {
        Ok(Ok(reader)) => Ok(reader.metadata().clone()),
        Ok(Err(e)) => Err(format!("unreadable footer: {e}")),
        Err(_) => Err("unreadable footer (the Parquet reader failed on it)".into()),
    }
}

/// The rows a Parquet file's footer states.
pub fn rows(path: &Path) -> Result<u64, String> {
    let rows = read(path)?.file_metadata().num_rows();
    u64::try_from(rows).map_err(|_| format!("footer states {rows} rows"))
}

/// What a data file's footer says of its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FooterCounts {
    /// Rows.
    pub rows: u64,
    /// Rows whose `parse_error` is set (`certs`).
    pub parse_errors: u64,
    /// Earliest `entry_timestamp`, ms (`certs`).
    pub min_timestamp_ms: Option<i64>,
    /// Latest `entry_timestamp`, ms (`certs`).
    pub max_timestamp_ms: Option<i64>,
}

/// The counts of a data file, from its footer: rows, the null count of
/// `parse_error` and the range of `entry_timestamp` (the statistics every
/// file this tool writes carries; a file without them is an error).
pub fn counts(path: &Path) -> Result<FooterCounts, String> {
    let meta = read(path)?;
    let rows = meta.file_metadata().num_rows();
    let mut out = FooterCounts {
        rows: u64::try_from(rows).map_err(|_| format!("footer states {rows} rows"))?,
        ..FooterCounts::default()
    };
    let schema = meta.file_metadata().schema_descr();
    let leaf = |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name);
    let (errors, times) = (leaf("parse_error"), leaf("entry_timestamp"));
    for group in meta.row_groups() {
        let group_rows = u64::try_from(group.num_rows()).unwrap_or(0);
        if let Some(i) = errors {
            let nulls = group
                .column(i)
                .statistics()
                .and_then(Statistics::null_count_opt)
                .ok_or("no null count for parse_error in the footer")?;
            out.parse_errors += group_rows.saturating_sub(nulls);
        }
        if let Some(i) = times {
            if let Some(Statistics::Int64(st)) = group.column(i).statistics() {
                if let (Some(lo), Some(hi)) = (st.min_opt(), st.max_opt()) {
                    out.min_timestamp_ms = Some(out.min_timestamp_ms.map_or(*lo, |m| m.min(*lo)));
                    out.max_timestamp_ms = Some(out.max_timestamp_ms.map_or(*hi, |m| m.max(*hi)));
                }
            } else if group_rows > 0 {
                return Err("no entry_timestamp statistics in the footer".into());
            }
        }
    }
    Ok(out)
}
