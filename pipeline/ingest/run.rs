//! The ingest driver: dump → decode (rayon) → batch → Parquet.
//!
//! Three stages run at once with bounded queues between them, so memory stays
//! bounded whatever the input size:
//! - a reader thread decompresses files and cuts them into chunks;
//! - the calling thread takes waves of chunks and decodes them in parallel
//!   (rayon keeps their order);
//! - a writer thread builds record batches and writes Parquet files.
//!
//! Every entry read becomes one `certs` row, one `rejects` row, or is counted
//! as a duplicate of an entry the dataset already holds (same log and index).
//!
//! Runs are incremental and crash-safe: inputs listed in the manifest are not
//! read again, and everything is written to a staging area and committed at
//! the end (see [`crate::dataset::commit`]), so a failed or killed run changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use rangemap::RangeInclusiveSet;
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::progress::{Progress, ProgressMode};
use crate::dataset::commit::{self, Staging};
use crate::dataset::conflicts::{self, Duplicate};
use crate::dataset::manifest::{self, ManifestEntry};
use crate::dataset::replace;
use crate::error::{Error, Result};
use crate::ingest::decode::{decode_chunk_guarded, ChunkOutput};
use crate::ingest::reject::RejectKind;
use crate::ingest::{discover, Chunk, ChunkReader, DiscoverOptions, InputFile};
use crate::table::batch::{cert_schema, reject_schema, CertBatchBuilder, RejectBatchBuilder};
use crate::table::writer::{partition_dir, PartitionWriter};
use crate::x509::cert_record::ExtractOptions;

/// Rows buffered per log before a record batch is written.
const BATCH_ROWS: usize = 8192;
/// Input bytes decoded per wave.
const WAVE_BYTES: usize = 32 << 20;
/// Chunks decoded per wave at most.
const WAVE_CHUNKS: usize = 256;

/// What `pipeline ingest` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Files or directories to read.
    pub inputs: Vec<PathBuf>,
    /// The dataset directory.
    pub out: PathBuf,
    /// `--log`.
    pub log: Option<String>,
    /// `--start-index`.
    pub start_index: Option<u64>,
    /// `--keep-der`.
    pub keep_der: bool,
    /// Decoder threads (default: all cores).
    pub threads: Option<usize>,
    /// How to show progress.
    pub progress: ProgressMode,
    /// `--wait`: wait for another run holding the dataset's lock instead of failing.
    pub wait: bool,
    /// `--log-list FILE`: the CT log list `--log` is checked against
    /// (default: compiled in).
    pub log_list: Option<PathBuf>,
    /// `--replace`: an input whose content changed since it was ingested has
    /// its old rows swapped for its new ones (else that is an error).
    pub replace: bool,
}

/// The run summary; its keys are part of the command's JSON output.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IngestSummary {
    /// Input files read.
    pub files: u64,
    /// Input files skipped because the manifest lists them (same path, size
    /// and modification time, or same content).
    pub already_ingested: u64,
    /// Entries not stored because the dataset already held their (log, entry_index).
    pub duplicates: u64,
    /// Of those, copies whose leaf differs from the stored entry (reported on stderr).
    pub conflicts: u64,
    /// Files under input directories skipped because their names are not dumps.
    pub skipped_files: u64,
    /// Files under input directories that could not be opened as regular
    /// files (FIFOs, devices, sockets, broken symlinks), each named on
    /// stderr; the run reads the others and exits 1.
    pub refused_files: u64,
    /// Data files of a dataset whose manifest was missing, given manifest
    /// entries so that their entries are recognised (see [`crate::dataset::adopt`]).
    pub adopted_files: u64,
    /// Inputs read again because their content changed (`--replace`); their
    /// old rows were taken out in the same commit.
    pub replaced: u64,
    /// `certs` rows of the replaced inputs' old content taken out.
    pub rows_removed: u64,
    /// `rejects` rows of the replaced inputs' old content taken out.
    pub rejects_removed: u64,
    /// Entries read (each became a row or a reject).
    pub entries_read: u64,
    /// Rows written to `certs`.
    pub rows: u64,
    /// Rows written to `rejects`.
    pub rejects: u64,
    /// `certs` rows with a `parse_error`.
    pub parse_errors: u64,
    /// Rejects for files or file tails that could not be read at all.
    pub unreadable: u64,
    /// Distinct chain fingerprints of tile entries whose issuer certificate
    /// the log's `issuer/` lacks (each reported once on stderr).
    pub missing_issuers: u64,
    /// Bytes read from disk (compressed size).
    pub input_bytes: u64,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
    /// entries_read / elapsed_seconds.
    pub entries_per_second: f64,
    /// Parquet files written.
    pub output_files: Vec<PathBuf>,
}

/// Ingests dumps into the dataset at `opts.out`.
pub fn ingest(opts: &IngestOptions) -> Result<IngestSummary> {
    let started = Instant::now();
    if opts.inputs.is_empty() {
        return Err(Error::Usage("no input files or directories given".into()));
    }
    if let Some(log) = &opts.log {
        let list = crate::ct::log_list::load(opts.log_list.as_deref())?;
        if !crate::ct::log_list::knows(&list, log) {
            eprintln!(
                "note: --log {} is not a log of the CT log list (version {}); \
                 ct_logs will not name it",
                crate::text::escape(log),
                list.version
            );
        }
    }
    let discovery = discover(
        &opts.inputs,
        &DiscoverOptions {
            log: opts.log.clone(),
            start_index: opts.start_index,
        },
    )?;
    for path in &discovery.skipped {
        eprintln!(
            "skipped (not a dump, tile, tile archive or certificate file): {}",
            crate::text::path(path)
        );
    }
    for path in &discovery.superseded {
        eprintln!(
            "skipped (a partial tile a wider tile of the same index covers): {}",
            crate::text::path(path)
        );
    }
    for (path, why) in &discovery.refused {
        eprintln!("error: {}: {why}", crate::text::path(path));
    }
    report_issuer_dirs(&discovery.files);
    let _lock = commit::lock(&opts.out, opts.wait)?;
    let recovery = commit::recover(&opts.out)?;
    for run in &recovery.rolled_forward {
        eprintln!("finished the commit of interrupted run {run}");
    }
    for run in &recovery.rolled_back {
        eprintln!("removed the uncommitted files of interrupted run {run}");
    }
    let adoption = crate::dataset::adopt::adopt(&opts.out)?;
    if !adoption.adopted.is_empty() {
        eprintln!(
            "{} had data files but no manifest: {} of them were adopted, and entries they hold \
             are recognised by (log, entry_index) instead of stored again",
            crate::text::path(&opts.out),
            adoption.adopted.len()
        );
    }
    for (rel, why) in &adoption.unreadable {
        eprintln!(
            "warning: {} was not adopted: {}",
            crate::text::escape(rel),
            crate::text::escape(why)
        );
    }
    let adopted_files = adoption.adopted.len() as u64;
    let mut previous = manifest::read(&opts.out)?;
    let (todo, already, replaced) = select_new(discovery.files, &previous, opts.replace)?;
    previous.retain(|e| !replaced.iter().any(|r| r.path == e.path));
    let skipped_files = (discovery.skipped.len() + discovery.superseded.len()) as u64;
    let refused_files = discovery.refused.len() as u64;
    if todo.is_empty() {
        return Ok(IngestSummary {
            already_ingested: already,
            skipped_files,
            refused_files,
            adopted_files,
            elapsed_seconds: started.elapsed().as_secs_f64(),
            ..IngestSummary::default()
        });
    }

    let run_id = format!(
        "part-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    let staging = Staging::create(&opts.out, &run_id)?;
    let coverage = manifest::coverage(&previous);
    // Everything before the commit record may fail: the staging area (all
    // this run wrote) is then deleted and the dataset is as it was.
    let staged = run(opts, &todo, staging.dir(), &run_id, coverage).and_then(|mut written| {
        let rewritten = replace::remove_rows(&opts.out, staging.dir(), &run_id, &replaced)?;
        let conflicts = conflicts_of(&opts.out, staging.dir(), &mut written)?;
        let entries = manifest_entries(staging.dir(), &todo, &written, &run_id)?;
        Ok((written, rewritten, conflicts, entries))
    });
    let (mut written, rewritten, conflicts, entries) = match staged {
        Ok(staged) => staged,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    commit::crash_point("staged");
    for old in &replaced {
        eprintln!(
            "replaced {}: it changed since run {}; the {} rows and {} rejects stored from it then were swapped for its new content",
            crate::text::escape(&old.path),
            old.run_id,
            old.rows,
            old.rejects
        );
    }
    let mut all = previous;
    replace::repoint(&mut all, &rewritten.renamed);
    all.extend(entries);
    written.files.extend(rewritten.staged.iter().cloned());
    let output_files = staging.commit(&written.files, &all, &rewritten.deletes)?;
    let elapsed = started.elapsed().as_secs_f64();
    let entries_read = written.rows + written.rejects + written.duplicates;
    Ok(IngestSummary {
        files: todo.len() as u64,
        already_ingested: already,
        duplicates: written.duplicates,
        conflicts,
        skipped_files,
        refused_files,
        adopted_files,
        replaced: replaced.len() as u64,
        rows_removed: rewritten.rows_removed,
        rejects_removed: rewritten.rejects_removed,
        entries_read,
        rows: written.rows,
        rejects: written.rejects,
        parse_errors: written.parse_errors,
        unreadable: written.unreadable,
        missing_issuers: written.missing_issuers.len() as u64,
        input_bytes: written.input_bytes,
        elapsed_seconds: elapsed,
        entries_per_second: entries_read as f64 / elapsed.max(1e-9),
        output_files,
    })
}

/// Says once per tiled log what its issuer/ directory lacks or holds wrongly.
fn report_issuer_dirs(files: &[InputFile]) {
    let mut seen: Vec<*const crate::ingest::format::tiles::Issuers> = Vec::new();
    for f in files {
        let Some(issuers) = &f.issuers else {
            continue;
        };
        if seen.contains(&Arc::as_ptr(issuers)) {
            continue;
        }
        seen.push(Arc::as_ptr(issuers));
        if !issuers.has_dir {
            eprintln!(
                "log {}: no issuer/ beside the tiles of {}; chain fingerprints are stored unchecked",
                crate::text::escape(&f.log),
                crate::text::escape(&f.name)
            );
        }
        for (name, why) in &issuers.bad {
            eprintln!(
                "log {}: issuer/{} ignored: {}",
                crate::text::escape(&f.log),
                crate::text::escape(name),
                crate::text::escape(why)
            );
        }
    }
}

/// Compares the copies not stored with the stored entries; reports and
/// counts (per file) those that differ.
fn conflicts_of(out: &Path, staged: &Path, written: &mut Written) -> Result<u64> {
    if written.dups.is_empty() {
        return Ok(0);
    }
    let found = conflicts::find_conflicts(out, staged, &written.dups)?;
    for (i, c) in found.iter().enumerate() {
        if i < 20 {
            eprintln!(
                "conflict: log {} entry {} in {} is {}, but the dataset holds {}",
                crate::text::escape(&c.log),
                c.entry_index,
                crate::text::path(&c.source),
                c.found,
                c.stored
            );
        }
        if let Some(stats) = written.per_file.get_mut(&c.source) {
            stats.conflicts += 1;
        }
    }
    if found.len() > 20 {
        eprintln!(
            "... {} conflicts in all (manifest column `conflicts`)",
            found.len()
        );
    }
    Ok(found.len() as u64)
}

/// Splits the inputs into those to read and a count of those the manifest
/// already lists. An input whose path is listed but whose content differs
/// is an error (its old rows are in the dataset) unless `replace` is set:
/// then it is read and its old manifest entry is returned, for its rows to
/// be taken out.
fn select_new(
    files: Vec<InputFile>,
    previous: &[ManifestEntry],
    replace: bool,
) -> Result<(Vec<InputFile>, u64, Vec<ManifestEntry>)> {
    let by_path: HashMap<&str, &ManifestEntry> =
        previous.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut todo = Vec::new();
    let mut already = 0;
    let mut replaced = Vec::new();
    for file in files {
        let key = canonical(&file.path);
        let Some(entry) = by_path.get(key.as_str()) else {
            todo.push(file);
            continue;
        };
        if entry.size == file.size as i64 && entry.mtime_ns == file.mtime_ns {
            already += 1;
            continue;
        }
        let digest = crate::ingest::compression::file_sha256(&file.path)
            .map_err(|e| Error::io(&file.path, e))?;
        if hex::encode(digest) == entry.sha256 {
            already += 1;
            continue;
        }
        if replace {
            replaced.push((*entry).clone());
            todo.push(file);
            continue;
        }
        return Err(Error::Input {
            path: file.path.clone(),
            message: format!(
                "changed since run {} ingested it ({} bytes then, {} now; the SHA-256 differs); \
                 the dataset keeps the {} rows read then (--replace swaps them for the new content)",
                entry.run_id, entry.size, file.size, entry.rows
            ),
        });
    }
    Ok((todo, already, replaced))
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The manifest rows of this run's inputs.
fn manifest_entries(
    staged: &Path,
    files: &[InputFile],
    written: &Written,
    run_id: &str,
) -> Result<Vec<ManifestEntry>> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let stats = written
            .per_file
            .get(&file.path)
            .cloned()
            .unwrap_or_default();
        let relative = |p: &PathBuf| p.strip_prefix(staged).ok().map(|r| r.display().to_string());
        let output_files = written
            .files_by_log
            .get(&*file.log)
            .map(|fs| fs.iter().filter_map(relative).collect())
            .unwrap_or_default();
        let first = stats.ranges.iter().next().map(|r| *r.start() as i64);
        let last = stats.ranges.iter().next_back().map(|r| *r.end() as i64);
        entries.push(ManifestEntry {
            path: canonical(&file.path),
            size: file.size as i64,
            mtime_ns: file.mtime_ns,
            sha256: file.sha256.get().map(hex::encode).unwrap_or_default(),
            log: file.log.to_string(),
            first_index: first,
            last_index: last,
            index_ranges: manifest::format_ranges(&stats.ranges),
            entries: (stats.rows + stats.rejects + stats.duplicates) as i64,
            rows: stats.rows as i64,
            rejects: stats.rejects as i64,
            parse_errors: stats.parse_errors as i64,
            duplicates: stats.duplicates as i64,
            conflicts: stats.conflicts as i64,
            run_id: run_id.to_owned(),
            ingested_at_ms: now,
            output_files,
        });
    }
    Ok(entries)
}

/// Reads, decodes and writes `files` into the staging tree `out`.
fn run(
    opts: &IngestOptions,
    files: &[InputFile],
    out: &Path,
    run_id: &str,
    coverage: BTreeMap<String, RangeInclusiveSet<u64>>,
) -> Result<Written> {
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let pool = match opts.threads {
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| Error::Usage(format!("cannot start {n} threads: {e}")))?,
        ),
        None => None,
    };
    let bytes_read = Arc::new(AtomicU64::new(0));
    let reader = ChunkReader::new(files.to_vec(), bytes_read.clone());
    let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(8);
    let reader_thread = thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            for chunk in reader {
                if chunk_tx.send(chunk).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::io("reader thread", e))?;

    let (wave_tx, wave_rx) = sync_channel::<Vec<ChunkOutput>>(2);
    let sinks = Sinks::new(
        out.to_path_buf(),
        run_id.to_owned(),
        opts.keep_der,
        coverage,
    );
    let writer_thread = thread::Builder::new()
        .name("writer".into())
        .spawn(move || sinks.run(wave_rx))
        .map_err(|e| Error::io("writer thread", e))?;

    let mut progress = Progress::new(total_bytes, opts.progress);
    let extract = ExtractOptions {
        keep_der: opts.keep_der,
    };
    let counter = bytes_read.clone();
    let decode_all = move || {
        let mut entries_done = 0u64;
        while let Some(wave) = next_wave(&chunk_rx) {
            let outputs: Vec<ChunkOutput> = wave
                .into_par_iter()
                .map(|chunk| decode_chunk_guarded(chunk, extract))
                .collect();
            entries_done += outputs.iter().map(ChunkOutput::entries).sum::<u64>();
            progress.update(entries_done, counter.load(Ordering::Relaxed));
            if wave_tx.send(outputs).is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        progress
    };
    let progress = match &pool {
        Some(p) => p.install(decode_all),
        None => decode_all(),
    };
    progress.finish();
    let written = writer_thread
        .join()
        .map_err(|_| Error::Internal("the writer thread of `pipeline ingest` panicked".into()))?;
    reader_thread
        .join()
        .map_err(|_| Error::Internal("the reader thread of `pipeline ingest` panicked".into()))?;
    let mut written = written?;
    written.input_bytes = bytes_read.load(Ordering::Relaxed);
    Ok(written)
}

/// Collects the next wave of chunks: up to [`WAVE_BYTES`] of their weight
/// (bytes, and a row's worth per entry; see [`Chunk::weight`]) or
/// [`WAVE_CHUNKS`] chunks.
fn next_wave(rx: &Receiver<Chunk>) -> Option<Vec<Chunk>> {
    let first = rx.recv().ok()?;
    let mut weight = first.weight();
    let mut wave = vec![first];
    while weight < WAVE_BYTES && wave.len() < WAVE_CHUNKS {
        match rx.try_recv() {
            Ok(chunk) => {
                weight += chunk.weight();
                wave.push(chunk);
            }
            Err(_) => break,
        }
    }
    Some(wave)
}

/// What one input file gave.
#[derive(Debug, Default, Clone)]
struct FileStats {
    rows: u64,
    rejects: u64,
    parse_errors: u64,
    duplicates: u64,
    conflicts: u64,
    /// Indices stored from the file.
    ranges: RangeInclusiveSet<u64>,
}

/// Counts and files from the writer thread.
#[derive(Debug, Default)]
struct Written {
    rows: u64,
    rejects: u64,
    parse_errors: u64,
    unreadable: u64,
    duplicates: u64,
    input_bytes: u64,
    files: Vec<PathBuf>,
    files_by_log: BTreeMap<String, Vec<PathBuf>>,
    per_file: HashMap<PathBuf, FileStats>,
    /// The copies not stored, to compare with the stored entries.
    dups: Vec<Duplicate>,
    /// Chain fingerprints missing from their log's issuer/ (reported once).
    missing_issuers: std::collections::HashSet<[u8; 32]>,
}

/// The open output of one log.
struct LogSink {
    certs: CertBatchBuilder,
    cert_files: PartitionWriter,
    rejects: RejectBatchBuilder,
    reject_files: PartitionWriter,
}

/// The writer stage: one [`LogSink`] per log seen.
struct Sinks {
    out: PathBuf,
    run_id: String,
    keep_der: bool,
    logs: BTreeMap<Arc<str>, LogSink>,
    /// Per log, the indices stored so far (the manifest's, then this run's).
    coverage: BTreeMap<String, RangeInclusiveSet<u64>>,
    written: Written,
}

impl Sinks {
    fn new(
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
            cert_files: PartitionWriter::new(
                partition_dir(out, "certs", log),
                run_id.clone(),
                cert_schema(keep_der),
            ),
            rejects: RejectBatchBuilder::new(),
            reject_files: PartitionWriter::new(
                partition_dir(out, "rejects", log),
                run_id.clone(),
                reject_schema(),
            ),
        })
    }

    fn write_output(&mut self, output: ChunkOutput) -> Result<()> {
        let log = output.file.log.clone();
        let mut ranges = self
            .written
            .per_file
            .remove(&output.file.path)
            .map(|s| s.ranges)
            .unwrap_or_default();
        let mut coverage = self.coverage.remove(&*log).unwrap_or_default();
        let mut now = FileStats::default();
        let mut unreadable = 0;
        // An entry whose index is already stored (from an earlier run or an
        // earlier input of this one) is counted, not stored again.
        let mut fresh = |index: u64, duplicates: &mut u64| {
            if coverage.contains(&index) {
                *duplicates += 1;
                false
            } else {
                coverage.insert(index..=index);
                ranges.insert(index..=index);
                true
            }
        };
        let mut dups = Vec::new();
        let dup = |index: i64| Duplicate {
            log: log.clone(),
            entry_index: index,
            source: output.file.path.clone(),
            cert_sha256: None,
            timestamp_ms: None,
            reject_kind: None,
        };
        let sink = self.sink(&log);
        for cert in &output.certs {
            if !fresh(cert.entry_index as u64, &mut now.duplicates) {
                dups.push(Duplicate {
                    cert_sha256: Some(cert.cert_sha256),
                    timestamp_ms: Some(cert.entry_timestamp_ms),
                    ..dup(cert.entry_index)
                });
                continue;
            }
            now.rows += 1;
            now.parse_errors += u64::from(cert.parse_error.is_some());
            sink.certs.append(cert);
            if sink.certs.len() >= BATCH_ROWS {
                sink.cert_files.write(&sink.certs.finish()?)?;
            }
        }
        for reject in &output.rejects {
            // An io reject stands for a lost stretch, not for the entry at
            // its index: it never hides that entry read from elsewhere.
            let indexed = reject.entry_index.filter(|_| reject.kind != RejectKind::Io);
            if let Some(index) = indexed {
                if !fresh(index as u64, &mut now.duplicates) {
                    dups.push(Duplicate {
                        reject_kind: Some(reject.kind.as_str()),
                        ..dup(index)
                    });
                    continue;
                }
            }
            now.rejects += 1;
            unreadable += u64::from(reject.kind == RejectKind::Io);
            sink.rejects.append(reject);
            if sink.rejects.len() >= BATCH_ROWS {
                sink.reject_files.write(&sink.rejects.finish()?)?;
            }
        }
        let w = &mut self.written;
        for fp in &output.missing_issuers {
            if w.missing_issuers.insert(*fp) {
                eprintln!(
                    "issuer {} is in chains of log {} but not in its issuer/ (first seen in {})",
                    hex::encode(fp),
                    crate::text::escape(&log),
                    crate::text::escape(&output.file.name)
                );
            }
        }
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
        stats.ranges = ranges;
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
    fn run(mut self, rx: Receiver<Vec<ChunkOutput>>) -> Result<Written> {
        for wave in rx.iter() {
            for output in wave {
                self.write_output(output)?;
            }
        }
        self.finish_all()?;
        Ok(self.written)
    }
}
