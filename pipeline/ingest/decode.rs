//! Decoding one [`Chunk`] of dump input into `certs` rows and `rejects` rows.
//! Each format's decoder lives with the format (`format/*`); this module
//! dispatches a chunk to it and holds what they share. Entries of a chunk are
//! decoded in parallel with rayon; the output keeps input order, whatever the
//! thread count.

use std::sync::{Arc, LazyLock};

use base64::engine::general_purpose::PAD_INDIFFERENT;
use base64::engine::Simd;

use crate::ingest::buffers;
use crate::ingest::format::{cert_files, get_entries, tiles};
use crate::ingest::reject::{Position, RejectKind, RejectRecord};
use crate::ingest::{Chunk, InputFile};
use crate::x509::cert_record::{CertRecord, ExtractOptions};

/// The rows decoded from one chunk, in input order.
#[derive(Debug)]
pub struct ChunkOutput {
    /// The file the chunk came from (its `log` names the partition).
    pub file: Arc<InputFile>,
    /// One row per decoded entry.
    pub certs: Vec<CertRecord>,
    /// One row per entry (or unreadable stretch) that could not be framed.
    pub rejects: Vec<RejectRecord>,
    /// Chain fingerprints of tile entries that the log's `issuer/` lacks
    /// (each once per chunk).
    pub missing_issuers: Vec<[u8; 32]>,
}

impl ChunkOutput {
    /// Entries read: every entry became a cert row or a reject.
    pub fn entries(&self) -> u64 {
        (self.certs.len() + self.rejects.len()) as u64
    }

    /// Cert rows with a parse_error.
    pub fn parse_errors(&self) -> u64 {
        self.certs
            .iter()
            .filter(|c| c.parse_error.is_some())
            .count() as u64
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
            let out = ChunkOutput {
                file,
                certs: Vec::new(),
                rejects: vec![reject],
                missing_issuers: Vec::new(),
            };
            (out, None)
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
        ChunkOutput {
            file: file.clone(),
            certs: Vec::new(),
            rejects: vec![RejectRecord {
                entry_index: None,
                source_file: file.name.clone(),
                position,
                kind: RejectKind::Io,
                reason: format!(
                    "internal error while decoding ({what}): the entries of this chunk were not stored; please report it"
                ),
            }],
            missing_issuers: Vec::new(),
        }
    })
}

/// The rows of a chunk from the outcomes of its entries, in order.
pub(crate) fn collect(file: Arc<InputFile>, outcomes: Vec<Outcome>) -> ChunkOutput {
    let mut out = ChunkOutput {
        file,
        certs: Vec::with_capacity(outcomes.len()),
        rejects: Vec::new(),
        missing_issuers: Vec::new(),
    };
    for o in outcomes {
        match o {
            Outcome::Cert(c) => out.certs.push(c),
            Outcome::Reject(r) => out.rejects.push(r),
        }
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
