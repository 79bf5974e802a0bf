//! `pipeline ingest --replace`: takes a changed input's old rows out of the
//! dataset. Each file holding some of them is rewritten without them into
//! the run's staging area, and the run's commit deletes the original — so the
//! old rows leave and the new ones arrive in one step (see [`crate::dataset::commit`]).
//!
//! An input's rows are known from its manifest entry: the `certs` and
//! `rejects` rows of its log whose entry_index is in its `index_ranges`, plus
//! its rejects without an index (an unreadable tail, a line without one),
//! found by their `source_file`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use arrow::array::{Array, BooleanArray, Int64Array, StringArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;
use rangemap::RangeInclusiveSet;

use crate::dataset::data_file::footer_value;
use crate::dataset::manifest::{self, ManifestEntry};
use crate::error::{Error, Result};
use crate::table::name_facts;
use crate::table::writer::PartitionWriter;

/// Rows read per batch while rewriting.
const READ_BATCH_ROWS: usize = 8192;

/// The rows of one log to take out.
#[derive(Debug, Default)]
struct Removal {
    /// Entry indices stored from the replaced inputs.
    indices: RangeInclusiveSet<u64>,
    /// The replaced inputs' canonical paths.
    sources: Vec<PathBuf>,
}

/// What taking the rows out staged.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// New files, under the staging directory.
    pub staged: Vec<PathBuf>,
    /// Dataset files the commit deletes.
    pub deletes: Vec<PathBuf>,
    /// Each deleted file (relative to the dataset) and the files replacing it.
    pub renamed: BTreeMap<String, Vec<String>>,
    /// `certs` rows taken out.
    pub rows_removed: u64,
    /// `rejects` rows taken out.
    pub rejects_removed: u64,
}

/// Stages the dataset's files without the rows of the `replaced` manifest
/// entries. `prefix` names the new files (unique to the run).
pub fn remove_rows(
    data: &Path,
    staging: &Path,
    prefix: &str,
    replaced: &[ManifestEntry],
) -> Result<Rewritten> {
    let mut by_log: BTreeMap<&str, Removal> = BTreeMap::new();
    for entry in replaced {
        let removal = by_log.entry(entry.log.as_str()).or_default();
        let ranges = manifest::parse_ranges(&entry.index_ranges).ok_or_else(|| Error::Input {
            path: manifest::manifest_path(data),
            message: format!(
                "entry for {} has unreadable index_ranges {:?}",
                entry.path, entry.index_ranges
            ),
        })?;
        for r in ranges.iter() {
            removal.indices.insert(r.clone());
        }
        removal.sources.push(PathBuf::from(&entry.path));
    }
    let mut out = Rewritten::default();
    let mut seq = 0usize;
    let snap = crate::dataset::snapshot::open_locked(data)?;
    for (log, removal) in &by_log {
        for table in ["certs", "rejects"] {
            let partition = crate::dataset::layout::prefix(table, log);
            let files = snap
                .files
                .keys()
                .filter(|f| f.starts_with(&partition))
                .map(|f| data.join(f));
            for file in files {
                let new_dir = crate::dataset::layout::dir(staging, table, log);
                let new_prefix = format!("{prefix}-rw{seq:04}");
                let Some((written, removed)) =
                    rewrite_file(&file, table, removal, new_dir, new_prefix)?
                else {
                    continue;
                };
                seq += 1;
                if table == "certs" {
                    out.rows_removed += removed;
                } else {
                    out.rejects_removed += removed;
                }
                let rel = |p: &Path, base: &Path| {
                    p.strip_prefix(base)
                        .map(|r| r.display().to_string())
                        .unwrap_or_default()
                };
                out.renamed.insert(
                    rel(&file, data),
                    written.iter().map(|p| rel(p, staging)).collect(),
                );
                out.staged.extend(written);
                out.deletes.push(file);
            }
        }
    }
    Ok(out)
}

/// Rewrites `file` without the rows `removal` names. Returns `None` when it
/// holds none of them, else the new files (none if no row is left) and the
/// number of rows taken out.
fn rewrite_file(
    file: &Path,
    table: &str,
    removal: &Removal,
    out_dir: PathBuf,
    prefix: String,
) -> Result<Option<(Vec<PathBuf>, u64)>> {
    let parquet_err = |source| Error::parquet("reading", file, source);
    let arrow_err = |e| Error::arrow(format!("reading {}", file.display()), e);
    let open = || File::open(file).map_err(|e| Error::io(file, e));
    let builder = ParquetRecordBatchReaderBuilder::try_new(open()?).map_err(parquet_err)?;
    // A certs file whose entry_index statistics miss every removed index is left alone.
    if table == "certs" && !may_hold(&builder, &removal.indices) {
        return Ok(None);
    }
    let schema = builder.schema().clone();
    let builder_meta = builder.metadata().clone();
    let reader = builder
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(parquet_err)?;
    let mut kept = Vec::new();
    let mut removed = 0u64;
    for batch in reader {
        let batch = batch.map_err(arrow_err)?;
        let keep = keep_mask(&batch, table, removal, file)?;
        removed += keep.false_count() as u64;
        kept.push(filter_record_batch(&batch, &keep).map_err(arrow_err)?);
    }
    if removed == 0 {
        return Ok(None);
    }
    let mut writer = PartitionWriter::new(out_dir, prefix, schema);
    // Rows only go: the facts a file holds stay true, under its stamp.
    if let Some(stamp) = footer_value(&builder_meta, name_facts::FOOTER_KEY) {
        writer.add_metadata(name_facts::FOOTER_KEY, &stamp);
    }
    for batch in &kept {
        writer.write(batch)?;
    }
    Ok(Some((writer.finish()?, removed)))
}

/// Whether some row group's entry_index range meets `indices`.
fn may_hold(
    builder: &ParquetRecordBatchReaderBuilder<File>,
    indices: &RangeInclusiveSet<u64>,
) -> bool {
    let Some(col) = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == "entry_index")
    else {
        return true;
    };
    builder
        .metadata()
        .row_groups()
        .iter()
        .any(|rg| match rg.column(col).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&lo), Some(&hi)) if lo >= 0 && hi >= lo => {
                    indices.overlaps(&(lo as u64..=hi as u64))
                }
                _ => true,
            },
            _ => true,
        })
}

/// True for the rows to keep.
fn keep_mask(
    batch: &RecordBatch,
    table: &str,
    removal: &Removal,
    file: &Path,
) -> Result<BooleanArray> {
    let column = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| Error::Input {
            path: file.to_path_buf(),
            message: format!("no {name} column"),
        })
    };
    let index = column("entry_index")?
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| Error::Input {
            path: file.to_path_buf(),
            message: "entry_index is not Int64".into(),
        })?
        .clone();
    let indexed = |i: usize| {
        index.is_valid(i)
            && index.value(i) >= 0
            && removal.indices.contains(&(index.value(i) as u64))
    };
    if table == "certs" {
        return Ok((0..batch.num_rows()).map(|i| Some(!indexed(i))).collect());
    }
    let string = |name: &str| -> Result<StringArray> {
        let col = column(name)?;
        let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8)
            .map_err(|e| Error::arrow(format!("reading {}", file.display()), e))?;
        Ok(col
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8")
            .clone())
    };
    let kind = string("kind")?;
    let source = string("source_file")?;
    Ok((0..batch.num_rows())
        .map(|i| {
            // io rejects stand for a lost stretch of a file, not for the
            // entry at their index: they are matched by file, like rejects
            // that have no index.
            let by_file = kind.value(i) == "io" || index.is_null(i);
            let ours = if by_file {
                removal
                    .sources
                    .iter()
                    .any(|s| same_file(source.value(i), s))
            } else {
                indexed(i)
            };
            Some(!ours)
        })
        .collect())
}

/// Whether a `source_file` value (the path as given to that run, maybe
/// relative to its working directory) names the input at `canonical`.
fn same_file(stored: &str, canonical: &Path) -> bool {
    let path = Path::new(stored);
    if path.is_absolute() {
        return std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()) == canonical;
    }
    let tail: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    !tail.as_os_str().is_empty() && canonical.ends_with(&tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_file_matches_its_input_whatever_the_working_directory() {
        let input = Path::new("/srv/drop/argon/0-999.json");
        assert!(same_file("drop/argon/0-999.json", input));
        assert!(same_file("./argon/0-999.json", input));
        assert!(same_file("0-999.json", input));
        assert!(!same_file("xenon/0-999.json", input));
        assert!(!same_file("1000-1999.json", input));
        assert!(!same_file(".", input));
    }

    #[test]
    fn repoint_swaps_rewritten_files_and_keeps_the_rest() {
        let mut entries = vec![ManifestEntry {
            output_files: vec![
                "certs/log=a/p-00000.parquet".into(),
                "rejects/log=a/p-00000.parquet".into(),
            ],
            ..ManifestEntry::default()
        }];
        let mut renamed = BTreeMap::new();
        renamed.insert(
            "certs/log=a/p-00000.parquet".to_string(),
            vec!["certs/log=a/q-rw0000-00000.parquet".to_string()],
        );
        manifest::repoint(&mut entries, &renamed);
        assert_eq!(
            entries[0].output_files,
            vec![
                "certs/log=a/q-rw0000-00000.parquet".to_string(),
                "rejects/log=a/p-00000.parquet".to_string()
            ]
        );
    }
}
