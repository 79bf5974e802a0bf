//! The ingest driver: dump → decode (rayon) → batch → Parquet.
//!
//! Three stages run at once with bounded queues between them, so memory stays
//! bounded whatever the input size:
//! - a reader thread decompresses files and cuts them into chunks;
//! - the calling thread takes waves of chunks and decodes them in parallel
//!   (rayon keeps their order);
//! - a writer thread builds record batches and writes Parquet files.
//!
//! Every entry read becomes one `certs` row or one `rejects` row. If the run
//! fails, the files it already wrote are removed again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::batch::{cert_schema, reject_schema, CertBatchBuilder, RejectBatchBuilder};
use crate::cert_record::ExtractOptions;
use crate::decode::{decode_chunk, ChunkOutput};
use crate::dump::{self, Chunk, ChunkReader, DiscoverOptions};
use crate::error::{Error, Result};
use crate::parquet_sink::{partition_dir, PartitionWriter};
use crate::progress::{Progress, ProgressMode};
use crate::reject::RejectKind;

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
}

/// The run summary; its keys are part of the command's JSON output.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IngestSummary {
    /// Input files read.
    pub files: u64,
    /// Files under input directories skipped because their names are not dumps.
    pub skipped_files: u64,
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
    let discovery = dump::discover(
        &opts.inputs,
        &DiscoverOptions {
            log: opts.log.clone(),
            start_index: opts.start_index,
        },
    )?;
    for path in &discovery.skipped {
        eprintln!(
            "skipped (not a .json/.jsonl/.ndjson dump): {}",
            path.display()
        );
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let total_bytes: u64 = discovery.files.iter().map(|f| f.size).sum();
    let files = discovery.files.len() as u64;
    let run_id = format!(
        "part-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );

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
    let reader = ChunkReader::new(discovery.files, bytes_read.clone());
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
    let sinks = Sinks::new(opts.out.clone(), run_id, opts.keep_der);
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
                .map(|chunk| decode_chunk(chunk, extract))
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
        .map_err(|_| Error::Usage("the writer thread panicked".into()))??;
    reader_thread
        .join()
        .map_err(|_| Error::Usage("the reader thread panicked".into()))?;

    let elapsed = started.elapsed().as_secs_f64();
    let entries_read = written.rows + written.rejects;
    Ok(IngestSummary {
        files,
        skipped_files: discovery.skipped.len() as u64,
        entries_read,
        rows: written.rows,
        rejects: written.rejects,
        parse_errors: written.parse_errors,
        unreadable: written.unreadable,
        input_bytes: bytes_read.load(Ordering::Relaxed),
        elapsed_seconds: elapsed,
        entries_per_second: entries_read as f64 / elapsed.max(1e-9),
        output_files: written.files,
    })
}

/// Collects the next wave of chunks: up to [`WAVE_BYTES`] or [`WAVE_CHUNKS`].
fn next_wave(rx: &Receiver<Chunk>) -> Option<Vec<Chunk>> {
    let first = rx.recv().ok()?;
    let mut bytes = chunk_bytes(&first);
    let mut wave = vec![first];
    while bytes < WAVE_BYTES && wave.len() < WAVE_CHUNKS {
        match rx.try_recv() {
            Ok(chunk) => {
                bytes += chunk_bytes(&chunk);
                wave.push(chunk);
            }
            Err(_) => break,
        }
    }
    Some(wave)
}

fn chunk_bytes(chunk: &Chunk) -> usize {
    match chunk {
        Chunk::Page { data, .. } | Chunk::Lines { data, .. } => data.len(),
        Chunk::Failed { .. } => 0,
    }
}

/// Counts and files from the writer thread.
#[derive(Debug, Default)]
struct Written {
    rows: u64,
    rejects: u64,
    parse_errors: u64,
    unreadable: u64,
    files: Vec<PathBuf>,
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
    written: Written,
}

impl Sinks {
    fn new(out: PathBuf, run_id: String, keep_der: bool) -> Self {
        Sinks {
            out,
            run_id,
            keep_der,
            logs: BTreeMap::new(),
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
        self.written.rows += output.certs.len() as u64;
        self.written.rejects += output.rejects.len() as u64;
        self.written.parse_errors += output.parse_errors();
        self.written.unreadable += output
            .rejects
            .iter()
            .filter(|r| r.kind == RejectKind::Io)
            .count() as u64;
        let sink = self.sink(&output.file.log);
        for cert in &output.certs {
            sink.certs.append(cert);
            if sink.certs.len() >= BATCH_ROWS {
                sink.cert_files.write(&sink.certs.finish()?)?;
            }
        }
        for reject in &output.rejects {
            sink.rejects.append(reject);
            if sink.rejects.len() >= BATCH_ROWS {
                sink.reject_files.write(&sink.rejects.finish()?)?;
            }
        }
        Ok(())
    }

    fn finish_all(&mut self) -> Result<()> {
        for sink in std::mem::take(&mut self.logs).into_values() {
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
            self.written.files.extend(cert_files.finish()?);
            self.written.files.extend(reject_files.finish()?);
        }
        Ok(())
    }

    /// Writes every wave; on failure removes the files this run made visible.
    fn run(mut self, rx: Receiver<Vec<ChunkOutput>>) -> Result<Written> {
        let result = (|| {
            for wave in rx.iter() {
                for output in wave {
                    self.write_output(output)?;
                }
            }
            self.finish_all()
        })();
        match result {
            Ok(()) => Ok(std::mem::take(&mut self.written)),
            Err(e) => {
                drop(rx);
                for sink in std::mem::take(&mut self.logs).into_values() {
                    sink.cert_files.abandon();
                    sink.reject_files.abandon();
                }
                remove_files(&self.written.files);
                Err(e)
            }
        }
    }
}

fn remove_files(files: &[PathBuf]) {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}
