//! Reading a dataset's data files (Parquet) without trusting them: a
//! hostile footer (a length past the file's start, absurd sizes) is an
//! error naming what is wrong, never a panic of the reader. The counts
//! `pipeline status` shows come from footers alone (row counts and column
//! statistics), so status reads kilobytes, not the tables; the index
//! checks read only the columns they need, and only the row groups whose
//! statistics can hold the indices asked for.

use std::fs::File;
use std::ops::RangeInclusive;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use arrow::array::{Array, AsArray, Int64Array};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::errors::Result as ParquetResult;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, FileReader};
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

/// The value of key `key` in a footer's key-value metadata.
pub fn footer_value(meta: &ParquetMetaData, key: &str) -> Option<String> {
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .clone()
}

/// The rows a Parquet file's footer states.
pub fn rows(path: &Path) -> Result<u64, String> {
    rows_in(&read(path)?)
}

/// The rows a footer states.
pub fn rows_in(meta: &ParquetMetaData) -> Result<u64, String> {
    let rows = meta.file_metadata().num_rows();
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
    counts_of(&read(path)?)
}

/// The counts of a data file from its footer, `meta` (see [`counts`]).
pub fn counts_of(meta: &ParquetMetaData) -> Result<FooterCounts, String> {
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

/// A reader of the named `columns` of the data file at `path`, skipping
/// the row groups whose `entry_index` statistics lie wholly outside
/// `range` (a group without statistics is read).
pub fn read_columns(
    path: &Path,
    columns: &[&str],
    range: RangeInclusive<i64>,
) -> ParquetResult<ParquetRecordBatchReader> {
    read_columns_of(File::open(path)?, columns, range)
}

/// [`read_columns`] of a file's content (a file, or bytes fetched from an
/// object store).
pub fn read_columns_of<R: ChunkReader + 'static>(
    file: R,
    columns: &[&str],
    range: RangeInclusive<i64>,
) -> ParquetResult<ParquetRecordBatchReader> {
    let meta = ArrowReaderMetadata::load(&file, Default::default())?;
    let schema = meta.parquet_schema();
    let leaves: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| columns.contains(&schema.column(i).name()))
        .collect();
    let index_leaf = (0..schema.num_columns()).find(|&i| schema.column(i).name() == "entry_index");
    let overlaps = |group: &parquet::file::metadata::RowGroupMetaData| match index_leaf
        .and_then(|i| group.column(i).statistics())
    {
        Some(Statistics::Int64(st)) => match (st.min_opt(), st.max_opt()) {
            (Some(min), Some(max)) => *max >= *range.start() && *min <= *range.end(),
            _ => true,
        },
        _ => true,
    };
    let groups: Vec<usize> = (0..meta.metadata().num_row_groups())
        .filter(|&i| overlaps(meta.metadata().row_group(i)))
        .collect();
    let mask = ProjectionMask::leaves(schema, leaves);
    ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta)
        .with_projection(mask)
        .with_row_groups(groups)
        .build()
}

/// The `entry_index` column of a batch read from a data file.
pub fn entry_index_column(batch: &RecordBatch) -> Result<&Int64Array, String> {
    batch
        .column_by_name("entry_index")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| "no int64 entry_index column".into())
}

/// The entry indices a data file stores (for `rejects`, those of rejects
/// other than `io`: a lost stretch of a broken file does not occupy its index).
pub fn stored_indices(path: &Path, table: &str) -> Result<Vec<i64>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    stored_indices_of(file, table)
}

/// [`stored_indices`] of a file's content.
pub fn stored_indices_of<R: ChunkReader + 'static>(
    file: R,
    table: &str,
) -> Result<Vec<i64>, String> {
    let read = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<i64>, String> {
        let reader = read_columns_of(file, &["entry_index", "kind"], i64::MIN..=i64::MAX)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            let index = entry_index_column(&batch)?;
            let kind = batch
                .column_by_name("kind")
                .and_then(|c| c.as_string_opt::<i32>());
            for i in 0..batch.num_rows() {
                let io = table == "rejects" && kind.is_some_and(|k| k.value(i) == "io");
                if !index.is_null(i) && !io {
                    out.push(index.value(i));
                }
            }
        }
        Ok(out)
    }));
    match read {
        Ok(r) => r,
        Err(_) => Err("unreadable (the Parquet reader failed on it)".into()),
    }
}
