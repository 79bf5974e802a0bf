//! `pipeline compact`: merges the many small files that nightly runs leave
//! in each log partition into large files sorted by entry_index, and points
//! the manifest at them — in one commit (see [`crate::dataset::commit`]), so a crash
//! leaves either the old files or the new ones, never both or neither.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde::Serialize;

use crate::dataset::commit::{self, Staging};
use crate::dataset::manifest;
use crate::dataset::snapshot::{self, Snapshot};
use crate::error::{Error, Result};
use crate::notes::Reporter;
use crate::sql::memory_limit::{parse_memory_limit, MemoryLimit, DEFAULT_MEMORY_LIMIT};
use crate::table::name_facts;
use crate::table::schema::{cert_schema, reject_schema};
use crate::table::writer::PartitionWriter;

/// What `pipeline compact` was asked to do: its command-line arguments
/// (the command line adds only how to show the result).
#[derive(Debug, Clone, clap::Args)]
pub struct CompactOptions {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Leave partitions with fewer files than this alone.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub min_files: usize,
    /// When another run is writing to DIR, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Memory the sort of a partition may hold, e.g. 512M or 8G (binary
    /// units); past it the sort spills to files in TMPDIR. `auto`: half the
    /// machine's memory (or of the cgroup's limit); `none`: no bound.
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_MEMORY_LIMIT, value_parser = parse_memory_limit)]
    pub memory_limit: MemoryLimit,
}

/// One partition compacted; keys are part of `compact --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Compacted {
    /// `certs` or `rejects`.
    pub table: String,
    /// The log.
    pub log: String,
    /// Files before.
    pub files_before: usize,
    /// Files after.
    pub files_after: usize,
    /// Rows (the same before and after).
    pub rows: u64,
}

/// The partitions of `table` in the manifest's snapshot: log name → its
/// data files (stray files in a partition are not the dataset's).
fn partitions(data: &Path, snap: &Snapshot, table: &str) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for rel in snap.files.keys() {
        if let Some((t, log)) = crate::dataset::layout::of_file(rel) {
            if t == table {
                out.entry(log).or_default().push(data.join(rel));
            }
        }
    }
    out
}

/// Casts a batch read back by DataFusion (which may use view types) to the
/// table's own schema.
fn conform(batch: &RecordBatch, schema: &SchemaRef, table: &str) -> Result<RecordBatch> {
    let context = || format!("compacting {table}");
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let Some(col) = batch.column_by_name(f.name()) else {
                // A column added since older files were written (nullable).
                if f.is_nullable() {
                    return Ok(arrow::array::new_null_array(
                        f.data_type(),
                        batch.num_rows(),
                    ));
                }
                return Err(Error::Internal(format!(
                    "{}: column {} is missing",
                    context(),
                    f.name()
                )));
            };
            cast(col, f.data_type()).map_err(|e| Error::arrow(context(), e))
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::arrow(context(), e))
}

/// Rewrites one partition's files, sorted by entry_index, into `out_dir`.
async fn rewrite(
    files: &[PathBuf],
    table: &str,
    out_dir: PathBuf,
    prefix: &str,
    limit: MemoryLimit,
) -> Result<(Vec<PathBuf>, u64)> {
    let (columns, mut stream) = crate::sql::sorted_read::by_entry_index(files, limit).await?;
    let has_der = columns.iter().any(|c| c == "der");
    let schema = if table == "certs" {
        cert_schema(has_der)
    } else {
        reject_schema()
    };
    let mut writer = PartitionWriter::new(out_dir, prefix.to_owned(), schema.clone());
    let certs = table == "certs";
    if certs {
        // The facts are computed again: the files read may predate them,
        // or hold another release's.
        writer = name_facts::stamped(writer);
    }
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let mut batch = conform(&batch?, &schema, table)?;
        if certs {
            batch = name_facts::with_facts(&batch)
                .map_err(|e| Error::Internal(format!("compacting certs: {e}")))?;
        }
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    Ok((writer.finish()?, rows))
}

/// Rows in a set of Parquet files, from their footers.
fn footer_rows(files: &[PathBuf]) -> Result<u64> {
    let mut rows = 0u64;
    for f in files {
        rows += crate::dataset::data_file::rows(f).map_err(|message| Error::Input {
            path: f.clone(),
            message,
        })?;
    }
    Ok(rows)
}

/// Compacts the dataset; returns what was merged.
pub async fn compact(opts: &CompactOptions, reporter: &dyn Reporter) -> Result<Vec<Compacted>> {
    let data = &opts.data;
    crate::dataset::remote::local_only(data, "compact")?;
    if !data.is_dir() {
        return Err(Error::Input {
            path: data.clone(),
            message: "no dataset here (not a directory)".into(),
        });
    }
    let _lock = commit::lock(data, opts.wait, reporter)?;
    commit::recover(data, reporter)?;
    let run_id = format!(
        "compact-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    let snap = snapshot::open_locked(data)?;
    // A certs file without this binary's name facts (an older release's,
    // or another Public Suffix List's) is rewritten even alone, so that
    // readers can use the stored facts again.
    let stale = |files: &[PathBuf]| {
        files.iter().any(|f| {
            f.strip_prefix(data)
                .is_ok_and(|r| snap.manifest.lacks_name_facts(&r.display().to_string()))
        })
    };
    let mut todo = Vec::new();
    for table in ["certs", "rejects"] {
        for (log, files) in partitions(data, &snap, table) {
            if files.len() >= opts.min_files.max(2) || (table == "certs" && stale(&files)) {
                todo.push((table, log, files));
            }
        }
    }
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let staging = Staging::create(data, &run_id)?;
    let result = async {
        let mut staged = Vec::new();
        let mut deletes = Vec::new();
        let mut done = Vec::new();
        let mut renamed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (table, log, files) in &todo {
            let out = crate::dataset::layout::dir(staging.dir(), table, log);
            let (written, rows) = rewrite(files, table, out, &run_id, opts.memory_limit).await?;
            let before = footer_rows(files)?;
            if before != rows {
                return Err(Error::Internal(format!(
                    "compacting {table}/log={}: read {rows} rows of {before}; nothing was changed",
                    crate::text::escape(log)
                )));
            }
            done.push(Compacted {
                table: table.to_string(),
                log: log.clone(),
                files_before: files.len(),
                files_after: written.len(),
                rows,
            });
            let rel = |p: &PathBuf, base: &Path| {
                p.strip_prefix(base)
                    .map(|r| r.display().to_string())
                    .unwrap_or_default()
            };
            let new: Vec<String> = written.iter().map(|p| rel(p, staging.dir())).collect();
            for old in files {
                renamed.insert(rel(old, data), new.clone());
            }
            staged.extend(written);
            deletes.extend(files.iter().cloned());
        }
        // The manifest now points each input at the files that replaced its own.
        let mut entries = snap.entries().to_vec();
        manifest::repoint(&mut entries, &renamed);
        Ok((staged, deletes, entries, done))
    }
    .await;
    match result {
        Ok((staged, deletes, entries, done)) => {
            staging.commit(&staged, &entries, &deletes, reporter)?;
            Ok(done)
        }
        Err(e) => {
            staging.abandon();
            Err(e)
        }
    }
}
