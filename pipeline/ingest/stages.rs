//! The stages of ingest, run at once with bounded queues between them, so
//! memory stays bounded whatever the input size:
//! - a reader thread decompresses files and cuts them into chunks;
//! - the calling thread hands each chunk to the decoding threads as soon as
//!   it arrives, as long as the chunks decoded or waiting to be written
//!   weigh less than [`super::in_flight::IN_FLIGHT_WEIGHT`] (see
//!   [`Chunk::weight`]); a thread that finishes a chunk takes the next one
//!   at once, so no thread waits for another's last chunk;
//! - a writer thread ([`super::write`]) puts the decoded chunks back in
//!   input order, leaves out duplicates and writes Parquet files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::Arc;
use std::thread;

use rangemap::RangeInclusiveSet;

use super::in_flight::{Budget, Decoded};
use super::write::{Sinks, Written};
use super::IngestOptions;
use crate::error::{Error, Result};
use crate::ingest::decode::decode_chunk_guarded;
use crate::ingest::{Chunk, ChunkReader, InputFile};
use crate::notes::Reporter;
use crate::x509::cert_record::ExtractOptions;

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

    let budget = Arc::new(Budget::default());
    let (decoded_tx, decoded_rx) = channel::<Decoded>();
    let sinks = Sinks::new(
        out.to_path_buf(),
        run_id.to_owned(),
        opts.keep_der,
        coverage,
    );
    let writer_budget = budget.clone();
    let writer_thread = thread::Builder::new()
        .name("writer".into())
        .spawn(move || sinks.run(decoded_rx, &writer_budget))
        .map_err(|e| Error::io("writer thread", e))?;

    reporter.start(total_bytes);
    let extract = ExtractOptions {
        keep_der: opts.keep_der,
    };
    let entries_done = Arc::new(AtomicU64::new(0));
    for (seq, chunk) in (0u64..).zip(chunk_rx.iter()) {
        let weight = chunk.weight();
        if !budget.admit(weight) {
            break; // the writer failed; its error is reported below
        }
        let (tx, budget, done) = (decoded_tx.clone(), budget.clone(), entries_done.clone());
        let task = move || {
            let output = decode_chunk_guarded(chunk, extract);
            done.fetch_add(output.entries(), Ordering::Relaxed);
            // A failed send means the writer stopped; it reports why.
            let _ = tx.send(Decoded {
                seq,
                weight,
                output,
            });
            budget.task_done();
        };
        match &pool {
            Some(p) => p.spawn_fifo(task),
            None => rayon::spawn_fifo(task),
        }
        reporter.progress(
            entries_done.load(Ordering::Relaxed),
            bytes_read.load(Ordering::Relaxed),
        );
    }
    // Closing the queue ends the writer once the last task has sent.
    drop(decoded_tx);
    drop(chunk_rx);
    budget.wait_idle();
    reporter.progress(
        entries_done.load(Ordering::Relaxed),
        bytes_read.load(Ordering::Relaxed),
    );
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

/// Chunks read ahead of the decoders at most. The in-flight budget is what
/// keeps the decoders fed; this queue only lets the reader run on while a
/// chunk is being handed over.
const READ_AHEAD: usize = 2;

/// Starts the reader thread: it reads `files` in order and queues their
/// chunks (at most [`READ_AHEAD`] waiting), counting input bytes in
/// `bytes_read`.
fn spawn_reader(
    files: &[InputFile],
    bytes_read: Arc<AtomicU64>,
) -> Result<(Receiver<Chunk>, thread::JoinHandle<()>)> {
    let reader = ChunkReader::new(files.to_vec(), bytes_read);
    let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(READ_AHEAD);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::in_flight::IN_FLIGHT_WEIGHT;
    use crate::ingest::Layout;
    use crate::notes::Silent;

    #[test]
    fn a_writer_that_fails_stops_the_decoders_without_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        // Enough lines for several times the in-flight weight.
        let lines = 4 * IN_FLIGHT_WEIGHT / 512;
        let input = dir.path().join("garbage.jsonl");
        std::fs::write(&input, "x\n".repeat(lines)).unwrap();
        let mut file = InputFile::detached(&input, Layout::LINES);
        file.log = Arc::from("log");
        // The staging tree lies under a regular file: the first write fails.
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, "").unwrap();
        let opts = IngestOptions {
            threads: Some(2),
            ..IngestOptions::default()
        };
        let err = run(
            &opts,
            &Silent,
            &[file],
            &blocker.join("staging"),
            "run",
            BTreeMap::new(),
        )
        .expect_err("the writer cannot create its directory");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
