//! The writer stage of ingest: the record batches of decoded chunks go to
//! one set of Parquet writers per log, in the staging tree; an entry whose
//! (log, index) is already stored is counted as a duplicate, left out of
//! its batch and kept aside for the conflict check.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::{filter, filter_record_batch};
use arrow::datatypes::{Int64Type, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use rangemap::RangeInclusiveSet;

use crate::dataset::conflicts::Duplicate;
use crate::dataset::layout;
use crate::error::{Error, Result};
use crate::ingest::decode::ChunkOutput;
use crate::ingest::in_flight::{Budget, Decoded};
use crate::ingest::reject::{RejectKind, RejectRecord};
use crate::table::batch::RejectBatchBuilder;
use crate::table::name_facts;
use crate::table::schema::{cert_schema, reject_schema};
use crate::table::writer::PartitionWriter;

/// Reject rows buffered per log before a record batch is written.
const BATCH_ROWS: usize = 8192;

/// What one input file gave.
#[derive(Debug, Default, Clone)]
pub(crate) struct FileStats {
    pub rows: u64,
    pub rejects: u64,
    pub parse_errors: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    /// Indices stored from the file.
    pub ranges: RangeInclusiveSet<u64>,
}

/// Counts and files from the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub rows: u64,
    pub rejects: u64,
    pub parse_errors: u64,
    pub unreadable: u64,
    /// Each input with an unreadable stretch, and what went wrong first.
    pub unreadable_files: BTreeMap<String, String>,
    pub duplicates: u64,
    pub input_bytes: u64,
    pub files: Vec<PathBuf>,
    pub files_by_log: BTreeMap<String, Vec<PathBuf>>,
    pub per_file: HashMap<PathBuf, FileStats>,
    /// The copies not stored, to compare with the stored entries.
    pub dups: Vec<Duplicate>,
    /// Chain fingerprints missing from their log's issuer/ (reported once).
    pub missing_issuers: std::collections::HashSet<[u8; 32]>,
    /// What to tell the user once the run is over.
    pub notes: Vec<String>,
}

/// One chunk's rows on their way in: an entry whose index is already
/// stored (by an earlier run, or an earlier input of this one) is counted
/// and kept aside as a duplicate, not stored again.
struct Intake {
    log: Arc<str>,
    source: PathBuf,
    /// The log's indices stored so far.
    coverage: RangeInclusiveSet<u64>,
    /// What the chunk's file gave (its `ranges` carry over between chunks).
    now: FileStats,
    unreadable: u64,
    dups: Vec<Duplicate>,
}

impl Intake {
    /// Whether `index` is new (then it is recorded as stored).
    fn fresh(&mut self, index: u64) -> bool {
        if self.coverage.contains(&index) {
            self.now.duplicates += 1;
            false
        } else {
            self.coverage.insert(index..=index);
            self.now.ranges.insert(index..=index);
            true
        }
    }

    fn duplicate(&self, index: i64) -> Duplicate {
        Duplicate {
            log: self.log.clone(),
            entry_index: index,
            source: self.source.clone(),
            cert_sha256: None,
            timestamp_ms: None,
            reject_kind: None,
        }
    }

    /// The rows of `batch` (cert rows) to store: all of it, or without its
    /// duplicates.
    fn keep_certs(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::Internal(format!("a certs batch without `{name}`")))
        };
        let index = column("entry_index")?.as_primitive::<Int64Type>();
        let time = column("entry_timestamp")?.as_primitive::<TimestampMillisecondType>();
        let sha = column("cert_sha256")?.as_binary::<i32>();
        let parse_error = column("parse_error")?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let entry_index = index.value(row);
            let fresh = self.fresh(entry_index as u64);
            if !fresh {
                let dup = Duplicate {
                    cert_sha256: sha.value(row).try_into().ok(),
                    timestamp_ms: Some(time.value(row)),
                    ..self.duplicate(entry_index)
                };
                self.dups.push(dup);
            }
            keep.push(fresh);
        }
        let kept = keep.iter().filter(|k| **k).count();
        self.now.rows += kept as u64;
        if kept == batch.num_rows() {
            self.now.parse_errors += (batch.num_rows() - parse_error.null_count()) as u64;
            return Ok(batch);
        }
        let keep = BooleanArray::from(keep);
        let failed =
            filter(parse_error, &keep).map_err(|e| Error::arrow("leaving out duplicates", e))?;
        self.now.parse_errors += (failed.len() - failed.null_count()) as u64;
        filter_record_batch(&batch, &keep).map_err(|e| Error::arrow("leaving out duplicates", e))
    }

    /// Whether to store `reject`. An io reject stands for a lost stretch,
    /// not for the entry at its index: it never hides that entry read from
    /// elsewhere, and is always stored.
    fn keep_reject(&mut self, reject: &RejectRecord) -> bool {
        let indexed = reject.entry_index.filter(|_| reject.kind != RejectKind::Io);
        if let Some(index) = indexed {
            if !self.fresh(index as u64) {
                let dup = Duplicate {
                    reject_kind: Some(reject.kind.as_str()),
                    ..self.duplicate(index)
                };
                self.dups.push(dup);
                return false;
            }
        }
        self.now.rejects += 1;
        self.unreadable += u64::from(reject.kind == RejectKind::Io);
        true
    }
}

/// The open output of one log.
struct LogSink {
    cert_files: PartitionWriter,
    rejects: RejectBatchBuilder,
    reject_files: PartitionWriter,
}

/// The writer stage: one [`LogSink`] per log seen.
pub(crate) struct Sinks {
    out: PathBuf,
    run_id: String,
    keep_der: bool,
    logs: BTreeMap<Arc<str>, LogSink>,
    /// Per log, the indices stored so far (the manifest's, then this run's).
    coverage: BTreeMap<String, RangeInclusiveSet<u64>>,
    written: Written,
}

impl Sinks {
    pub(crate) fn new(
        out: PathBuf,
        run_id: String,
        keep_der: bool,
        coverage: BTreeMap<String, RangeInclusiveSet<u64>>,
    ) -> Self {
        Sinks {
            out,
            run_id,
            keep_der,
            logs: BTreeMap::new(),
            coverage,
            written: Written::default(),
        }
    }

    fn sink(&mut self, log: &Arc<str>) -> &mut LogSink {
        let (out, run_id, keep_der) = (&self.out, &self.run_id, self.keep_der);
        self.logs.entry(log.clone()).or_insert_with(|| LogSink {
            cert_files: name_facts::stamped(PartitionWriter::new(
                layout::dir(out, "certs", log),
                run_id.clone(),
                cert_schema(keep_der),
            )),
            rejects: RejectBatchBuilder::new(),
            reject_files: PartitionWriter::new(
                layout::dir(out, "rejects", log),
                run_id.clone(),
                reject_schema(),
            ),
        })
    }

    fn write_output(&mut self, output: ChunkOutput) -> Result<()> {
        let log = output.file.log.clone();
        let ranges = self
            .written
            .per_file
            .remove(&output.file.path)
            .map(|s| s.ranges)
            .unwrap_or_default();
        let coverage = self.coverage.remove(&*log).unwrap_or_default();
        let mut intake = Intake {
            log: log.clone(),
            source: output.file.path.clone(),
            coverage,
            now: FileStats {
                ranges,
                ..FileStats::default()
            },
            unreadable: 0,
            dups: Vec::new(),
        };
        for reject in output.rejects.iter().filter(|r| r.kind == RejectKind::Io) {
            self.written
                .unreadable_files
                .entry(reject.source_file.to_string())
                .or_insert_with(|| reject.reason.clone());
        }
        let sink = self.sink(&log);
        for batch in output.certs {
            sink.cert_files.write(&intake.keep_certs(batch)?)?;
        }
        for reject in &output.rejects {
            if intake.keep_reject(reject) {
                sink.rejects.append(reject);
                if sink.rejects.len() >= BATCH_ROWS {
                    sink.reject_files.write(&sink.rejects.finish()?)?;
                }
            }
        }
        let w = &mut self.written;
        for fp in &output.missing_issuers {
            if w.missing_issuers.insert(*fp) {
                w.notes.push(format!(
                    "issuer {} is in chains of log {} but not in its issuer/ (first seen in {})",
                    hex::encode(fp),
                    crate::text::escape(&log),
                    crate::text::escape(&output.file.name)
                ));
            }
        }
        let Intake {
            coverage,
            now,
            unreadable,
            dups,
            ..
        } = intake;
        w.dups.extend(dups);
        w.rows += now.rows;
        w.rejects += now.rejects;
        w.parse_errors += now.parse_errors;
        w.duplicates += now.duplicates;
        w.unreadable += unreadable;
        let stats = w.per_file.entry(output.file.path.clone()).or_default();
        stats.rows += now.rows;
        stats.rejects += now.rejects;
        stats.parse_errors += now.parse_errors;
        stats.duplicates += now.duplicates;
        stats.ranges = now.ranges;
        self.coverage.insert(log.to_string(), coverage);
        Ok(())
    }

    fn write_in_order(&mut self, rx: Receiver<Decoded>, budget: &Budget) -> Result<()> {
        let mut waiting = BTreeMap::new();
        let mut next = 0u64;
        for decoded in rx.iter() {
            waiting.insert(decoded.seq, decoded);
            while let Some(d) = waiting.remove(&next) {
                self.write_output(d.output)?;
                budget.release(d.weight);
                next += 1;
            }
        }
        if let Some(seq) = waiting.keys().next() {
            return Err(Error::Internal(format!(
                "ingest lost decoded chunk {next} (chunk {seq} arrived)"
            )));
        }
        Ok(())
    }

    fn finish_all(&mut self) -> Result<()> {
        for (log, sink) in std::mem::take(&mut self.logs) {
            let LogSink {
                cert_files,
                mut rejects,
                mut reject_files,
            } = sink;
            if !rejects.is_empty() {
                reject_files.write(&rejects.finish()?)?;
            }
            let mut files = cert_files.finish()?;
            files.extend(reject_files.finish()?);
            self.written.files.extend(files.iter().cloned());
            self.written.files_by_log.insert(log.to_string(), files);
        }
        Ok(())
    }

    /// Writes the decoded chunks in input order (they arrive in the order
    /// they were finished), handing each one's weight back to `budget`. On
    /// failure (or a panic) it closes `budget`, which stops the decoders;
    /// the caller deletes the staging area it wrote into.
    pub(crate) fn run(mut self, rx: Receiver<Decoded>, budget: &Budget) -> Result<Written> {
        let _closer = budget.closer();
        self.write_in_order(rx, budget)?;
        self.finish_all()?;
        Ok(self.written)
    }
}
