//! Decoding one [`Chunk`] of dump input into `certs` rows and `rejects` rows.
//! Each format's decoder lives with the format (`format/*`); this module
//! dispatches a chunk to it and holds what they share. Entries of a chunk are
//! decoded in parallel with rayon, each thread building record batches of
//! its run of entries; the output keeps input order, whatever the thread
//! count.

use std::sync::{Arc, LazyLock};

use base64::engine::general_purpose::PAD_INDIFFERENT;
use base64::engine::Simd;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use crate::ingest::buffers;
use crate::ingest::format::{cert_files, get_entries, tiles};
use crate::ingest::reject::{Position, RejectKind, RejectRecord};
use crate::ingest::{Chunk, InputFile, Layout};
use crate::table::batch::CertBatchBuilder;
use crate::x509::cert_record::{CertRecord, ExtractOptions};

/// The rows decoded from one chunk, in input order.
#[derive(Debug)]
pub struct ChunkOutput {
    /// The file the chunk came from (its `log` names the partition).
    pub file: Arc<InputFile>,
    /// The decoded entries as `certs` rows ([`cert_schema`]), in input
    /// order, built by the decoding threads.
    ///
    /// [`cert_schema`]: crate::table::schema::cert_schema
    pub certs: Vec<RecordBatch>,
    /// One row per entry (or unreadable stretch) that could not be framed.
    pub rejects: Vec<RejectRecord>,
    /// Chain fingerprints of tile entries that the log's `issuer/` lacks
    /// (each once per chunk).
    pub missing_issuers: Vec<[u8; 32]>,
}

impl ChunkOutput {
    /// An output with the given rejects and no rows.
    pub(crate) fn rejects_only(file: Arc<InputFile>, rejects: Vec<RejectRecord>) -> Self {
        ChunkOutput {
            file,
            certs: Vec::new(),
            rejects,
            missing_issuers: Vec::new(),
        }
    }

    /// Cert rows.
    pub fn cert_rows(&self) -> usize {
        self.certs.iter().map(RecordBatch::num_rows).sum()
    }

    /// Entries read: every entry became a cert row or a reject.
    pub fn entries(&self) -> u64 {
        (self.cert_rows() + self.rejects.len()) as u64
    }

    /// The `entry_index` of each cert row, in order.
    pub fn entry_indices(&self) -> impl Iterator<Item = i64> + '_ {
        self.certs
            .iter()
            .filter_map(|b| b.column_by_name("entry_index"))
            .flat_map(|c| c.as_primitive::<Int64Type>().values().iter().copied())
    }
}

/// The standard alphabet, padding optional, with the SIMD decoder the CPU
/// supports (AVX2 or NEON, detected once; scalar otherwise).
pub(crate) static BASE64: LazyLock<Simd> = LazyLock::new(|| Simd::standard(PAD_INDIFFERENT));

/// The outcome of one entry. Nearly all are certs, so boxing the large
/// variant would only add an allocation per entry.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    /// A `certs` row.
    Cert(CertRecord),
    /// A `rejects` row.
    Reject(RejectRecord),
}

/// Per-thread scratch buffers for base64 output.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The decoded leaf (or certificate).
    pub leaf: Vec<u8>,
    /// The decoded extra_data.
    pub extra: Vec<u8>,
}

/// Decodes a chunk.
pub fn decode_chunk(chunk: Chunk, opts: ExtractOptions) -> ChunkOutput {
    if std::env::var_os("PIPELINE_CRASH_AT").is_some_and(|p| p == "decode_panic") {
        panic!("PIPELINE_CRASH_AT=decode_panic");
    }
    let (out, buffer) = match chunk {
        Chunk::Entries {
            file,
            data,
            elements,
            first_ordinal,
            end,
        } => {
            let out = get_entries::decode_page(file, &data, &elements, first_ordinal, end, opts);
            (out, Some(data))
        }
        Chunk::Certs {
            file,
            data,
            first_ordinal,
            pem,
            read_error,
        } => {
            let out = cert_files::decode_certs(file, &data, first_ordinal, pem, read_error, opts);
            (out, Some(data))
        }
        Chunk::Records(records) => ((records.format.decode)(&records, opts), Some(records.data)),
        Chunk::Failed {
            file,
            byte_offset,
            message,
        } => {
            let reject = RejectRecord {
                entry_index: None,
                source_file: file.name.clone(),
                position: Position::Byte(byte_offset),
                kind: RejectKind::Io,
                reason: format!("{message}; the rest of the file could not be read"),
            };
            (ChunkOutput::rejects_only(file, vec![reject]), None)
        }
        Chunk::Tile {
            file,
            data,
            coord,
            member,
            read_error,
        } => {
            let out = tiles::decode_tile(file, &data, coord, member, read_error, opts);
            (out, Some(data))
        }
    };
    if let Some(data) = buffer {
        buffers::give(data);
    }
    out
}

/// Decodes a chunk; a panic while decoding (a bug, perhaps in a parser
/// meeting a hostile certificate) becomes one `io` reject naming the file
/// and where the chunk starts, instead of stopping the run.
pub fn decode_chunk_guarded(chunk: Chunk, opts: ExtractOptions) -> ChunkOutput {
    let (file, position) = match &chunk {
        Chunk::Entries {
            file,
            first_ordinal,
            ..
        }
        | Chunk::Certs {
            file,
            first_ordinal,
            ..
        } => (
            file.clone(),
            Position::Entry {
                ordinal: *first_ordinal,
            },
        ),
        Chunk::Records(r) => (
            r.file.clone(),
            Position::Line {
                line: r.first_line,
                byte_offset: r.first_byte,
            },
        ),
        Chunk::Tile { file, .. } => (file.clone(), Position::Entry { ordinal: 0 }),
        Chunk::Failed {
            file, byte_offset, ..
        } => (file.clone(), Position::Byte(*byte_offset)),
    };
    let decoded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_chunk(chunk, opts)));
    decoded.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let reject = RejectRecord {
            entry_index: None,
            source_file: file.name.clone(),
            position,
            kind: RejectKind::Io,
            reason: format!(
                "internal error while decoding ({what}): the entries of this chunk were not stored; please report it"
            ),
        };
        ChunkOutput::rejects_only(file, vec![reject])
    })
}

/// Entries a decoding thread takes at least, so that a chunk becomes a few
/// batches of some hundreds of rows rather than many small ones (Parquet
/// pays per batch). A data tile (256 entries) is one run: the other thread
/// is busy with the next chunk meanwhile.
const MIN_RUN: usize = 256;

/// One thread's run of consecutive entries of a chunk: its cert rows go
/// straight into a batch builder, so a record is built, appended and freed
/// on the same thread, and the writer receives columns.
struct Run<S> {
    scratch: S,
    certs: CertBatchBuilder,
    rejects: Vec<RejectRecord>,
}

/// Decodes `items` (the entries of one chunk) in parallel with `decode`
/// and gathers the outcomes in input order.
pub(crate) fn decode_each<T, S>(
    file: Arc<InputFile>,
    items: &[T],
    opts: ExtractOptions,
    decode: impl Fn(&mut S, usize, &T) -> Outcome + Sync + Send,
) -> ChunkOutput
where
    T: Sync,
    S: Default + Send,
{
    // Rows of certificate files say which file: their index is only their
    // place among the folder's certificates.
    let source = (file.layout == Layout::Certs).then(|| file.name.clone());
    let runs: Vec<(Option<RecordBatch>, Vec<RejectRecord>)> = items
        .par_iter()
        .enumerate()
        .with_min_len(MIN_RUN)
        .fold(
            // Boxed: the fold hands its state from entry to entry, and a
            // builder of every column is kilobytes.
            || {
                Box::new(Run {
                    scratch: S::default(),
                    certs: CertBatchBuilder::new(opts.keep_der),
                    rejects: Vec::new(),
                })
            },
            |mut run, (i, item)| {
                match decode(&mut run.scratch, i, item) {
                    Outcome::Cert(c) => run.certs.append(&c, source.as_deref()),
                    Outcome::Reject(r) => run.rejects.push(r),
                }
                run
            },
        )
        .map(|mut run| {
            let batch = (!run.certs.is_empty()).then(|| {
                // Only a bug makes this fail; the chunk then becomes one
                // reject (decode_chunk_guarded).
                run.certs
                    .finish()
                    .unwrap_or_else(|e| panic!("building the rows of a chunk: {e}"))
            });
            (batch, run.rejects)
        })
        .collect();
    let mut out = ChunkOutput::rejects_only(file, Vec::new());
    for (batch, rejects) in runs {
        out.certs.extend(batch);
        out.rejects.extend(rejects);
    }
    out
}

/// The index of the entry `ordinal` places after `start`, or why it has
/// none: `entry_index` is a signed 64-bit column, and an index past
/// 2^63-1 (or past 2^64-1, which would wrap) is a reject, never wrapped.
pub(crate) fn index_at(start: u64, ordinal: u64) -> Result<i64, String> {
    start
        .checked_add(ordinal)
        .and_then(|i| i64::try_from(i).ok())
        .ok_or_else(|| {
            format!("index {start} + {ordinal} does not fit entry_index (at most 2^63-1)")
        })
}
