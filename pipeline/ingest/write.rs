//! The writer stage of ingest: rows of decoded chunks go to one set of
//! batch builders and Parquet writers per log, in the staging tree; an entry
//! whose (log, index) is already stored is counted as a duplicate and kept
//! aside for the conflict check.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use rangemap::RangeInclusiveSet;

use crate::dataset::conflicts::Duplicate;
use crate::dataset::layout;
use crate::error::Result;
use crate::ingest::decode::ChunkOutput;
use crate::ingest::discover::Layout;
use crate::ingest::reject::{RejectKind, RejectRecord};
use crate::table::batch::{CertBatchBuilder, RejectBatchBuilder};
use crate::table::name_facts;
use crate::table::schema::{cert_schema, reject_schema};
use crate::table::writer::PartitionWriter;
use crate::x509::cert_record::CertRecord;

/// Rows buffered per log before a record batch is written.
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

    /// Whether to store `cert` (else it is a duplicate).
    fn keep_cert(&mut self, cert: &CertRecord) -> bool {
        if !self.fresh(cert.entry_index as u64) {
            let dup = Duplicate {
                cert_sha256: Some(cert.cert_sha256),
                timestamp_ms: Some(cert.entry_timestamp_ms),
                ..self.duplicate(cert.entry_index)
            };
            self.dups.push(dup);
            return false;
        }
        self.now.rows += 1;
        self.now.parse_errors += u64::from(cert.parse_error.is_some());
        true
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
    certs: CertBatchBuilder,
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
            certs: CertBatchBuilder::new(keep_der),
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
        // Rows of certificate files say which file: their index is only
        // their place among the folder's certificates.
        let source = (output.file.layout == Layout::Certs).then(|| output.file.name.clone());
        let sink = self.sink(&log);
        for cert in &output.certs {
            if intake.keep_cert(cert) {
                sink.certs.append(cert, source.as_deref());
                if sink.certs.len() >= BATCH_ROWS {
                    sink.cert_files.write(&sink.certs.finish()?)?;
                }
            }
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

    fn finish_all(&mut self) -> Result<()> {
        for (log, sink) in std::mem::take(&mut self.logs) {
            let LogSink {
                mut certs,
                mut cert_files,
                mut rejects,
                mut reject_files,
            } = sink;
            if !certs.is_empty() {
                cert_files.write(&certs.finish()?)?;
            }
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

    /// Writes every wave. On failure it stops reading (which stops the
    /// decoders); the caller deletes the staging area it wrote into.
    pub(crate) fn run(mut self, rx: Receiver<Vec<ChunkOutput>>) -> Result<Written> {
        for wave in rx.iter() {
            for output in wave {
                self.write_output(output)?;
            }
        }
        self.finish_all()?;
        Ok(self.written)
    }
}
