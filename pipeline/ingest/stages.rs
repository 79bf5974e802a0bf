//! The stages of ingest, run at once with bounded queues between them, so
//! memory stays bounded whatever the input size:
//! - a reader thread decompresses files and cuts them into chunks;
//! - the calling thread takes waves of chunks and decodes them in parallel
//!   into record batches (rayon keeps their order);
//! - a writer thread ([`super::write`]) leaves out duplicates and writes
//!   Parquet files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread;

use rangemap::RangeInclusiveSet;
use rayon::prelude::*;

use super::write::{Sinks, Written};
use super::IngestOptions;
use crate::error::{Error, Result};
use crate::ingest::decode::{decode_chunk_guarded, ChunkOutput};
use crate::ingest::{Chunk, ChunkReader, InputFile};
use crate::notes::Reporter;
use crate::x509::cert_record::ExtractOptions;

/// Input bytes decoded per wave.
const WAVE_BYTES: usize = 32 << 20;
/// Chunks decoded per wave at most.
const WAVE_CHUNKS: usize = 256;

/// Reads, decodes and writes `files` into the staging tree `out`.
pub(crate) fn run(
    opts: &IngestOptions,
    reporter: &dyn Reporter,
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
                .map_err(|e| Error::Internal(format!("cannot start {n} threads: {e}")))?,
        ),
        None => None,
    };
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (chunk_rx, reader_thread) = spawn_reader(files, bytes_read.clone())?;

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

    reporter.start(total_bytes);
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
            reporter.progress(entries_done, counter.load(Ordering::Relaxed));
            if wave_tx.send(outputs).is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        // Closing the queue ends the writer; dropping it here also makes the
        // closure run once, so it cannot outlive the call holding it open.
        drop(wave_tx);
    };
    match &pool {
        Some(p) => p.install(decode_all),
        None => decode_all(),
    }
    reporter.finish();
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

/// Starts the reader thread: it reads `files` in order and queues their
/// chunks (at most 8 waiting), counting input bytes in `bytes_read`.
fn spawn_reader(
    files: &[InputFile],
    bytes_read: Arc<AtomicU64>,
) -> Result<(Receiver<Chunk>, thread::JoinHandle<()>)> {
    let reader = ChunkReader::new(files.to_vec(), bytes_read);
    let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(8);
    let handle = thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            for chunk in reader {
                if chunk_tx.send(chunk).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::io("reader thread", e))?;
    Ok((chunk_rx, handle))
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
