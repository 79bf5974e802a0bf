//! Decoding one [`Chunk`] of dump input into `certs` rows and `rejects` rows:
//! JSON → base64 → RFC 6962 framing ([`crate::ct_leaf`]) → X.509
//! ([`crate::cert_record`]). Entries of a chunk are decoded in parallel with
//! rayon; the output keeps input order, whatever the thread count.

use std::sync::Arc;

use std::sync::LazyLock;

use base64::engine::general_purpose::PAD_INDIFFERENT;
use base64::engine::Simd;
use base64::Engine as _;
use rayon::prelude::*;

use crate::cert_record::{self, CertRecord, ExtractOptions};
use crate::ct_leaf;
use crate::dump::get_entries::{self, JsonEntry};
use crate::dump::tiles::TileCoord;
use crate::dump::{buffers, cert_files, Chunk, InputFile, Layout, PageEnd};
use crate::reject::{Position, RejectKind, RejectRecord};

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
static BASE64: LazyLock<Simd> = LazyLock::new(|| Simd::standard(PAD_INDIFFERENT));

/// The outcome of one entry. Nearly all are certs, so boxing the large
/// variant would only add an allocation per entry.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Cert(CertRecord),
    Reject(RejectRecord),
}

/// Per-thread scratch buffers for base64 output.
#[derive(Default)]
struct Scratch {
    leaf: Vec<u8>,
    extra: Vec<u8>,
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
            let out = decode_entries(file, &data, &elements, first_ordinal, end, opts);
            (out, Some(data))
        }
        Chunk::Certs {
            file,
            data,
            first_ordinal,
            pem,
            read_error,
        } => {
            let out = decode_certs(file, &data, first_ordinal, pem, read_error, opts);
            (out, Some(data))
        }
        Chunk::Lines {
            file,
            data,
            first_line,
            first_byte,
        } => {
            let out = if file.layout == Layout::AxemanCsv {
                decode_axeman(file, &data, first_line, first_byte, opts)
            } else {
                decode_lines(file, &data, first_line, first_byte, opts)
            };
            (out, Some(data))
        }
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
            let out = decode_tile(file, &data, coord, member, read_error, opts);
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
        Chunk::Lines {
            file,
            first_line,
            first_byte,
            ..
        } => (
            file.clone(),
            Position::Line {
                line: *first_line,
                byte_offset: *first_byte,
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

fn collect(file: Arc<InputFile>, outcomes: Vec<Outcome>) -> ChunkOutput {
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

/// Decodes consecutive elements of a page's `entries` array: each is parsed
/// on its own, so a malformed element is one reject and the others stand.
/// `end` is the reject for the rest of a page that stopped early.
fn decode_entries(
    file: Arc<InputFile>,
    data: &[u8],
    elements: &[(usize, usize)],
    first_ordinal: u64,
    end: Option<PageEnd>,
    opts: ExtractOptions,
) -> ChunkOutput {
    let start = file.start_index;
    let outcomes: Vec<Outcome> = elements
        .par_iter()
        .enumerate()
        .map_init(Scratch::default, |scratch, (i, &(from, to))| {
            let ordinal = first_ordinal + i as u64;
            let index = match start {
                Some(s) => index_at(s, ordinal),
                None => Err(NO_INDEX.into()),
            };
            let position = Position::Entry { ordinal };
            let reject = |why: String| {
                Outcome::Reject(RejectRecord {
                    entry_index: index.as_ref().ok().copied(),
                    source_file: file.name.clone(),
                    position,
                    kind: RejectKind::Json,
                    reason: why,
                })
            };
            match get_entries::parse_element(&data[from..to]) {
                Ok(Ok(entry)) => {
                    decode_entry(&file, index.clone(), position, &entry, scratch, opts)
                }
                Ok(Err(e)) => reject(format!("entry is not a get-entries object: {e}")),
                Err(e) => reject(format!("entry is not valid JSON: {e}")),
            }
        })
        .collect();
    let mut out = collect(file.clone(), outcomes);
    if let Some(end) = end {
        out.rejects.push(RejectRecord {
            entry_index: start.and_then(|s| index_at(s, end.ordinal).ok()),
            source_file: file.name.clone(),
            position: end.position,
            kind: end.kind,
            reason: end.reason,
        });
    }
    out
}

/// The non-blank lines of a chunk: (line number, byte offset, text without
/// its line end).
fn split_lines(data: &[u8], first_line: u64, first_byte: u64) -> Vec<(u64, u64, &[u8])> {
    let mut lines = Vec::new();
    let mut offset = 0usize;
    for (i, raw) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if !text.iter().all(u8::is_ascii_whitespace) {
            lines.push((first_line + i as u64, first_byte + offset as u64, text));
        }
        offset += raw.len();
    }
    lines
}

fn decode_lines(
    file: Arc<InputFile>,
    data: &[u8],
    first_line: u64,
    first_byte: u64,
    opts: ExtractOptions,
) -> ChunkOutput {
    let lines = split_lines(data, first_line, first_byte);
    let outcomes: Vec<Outcome> = lines
        .par_iter()
        .map_init(Scratch::default, |scratch, &(line, byte_offset, text)| {
            let position = Position::Line { line, byte_offset };
            match get_entries::parse_line(text) {
                Ok(entry) => {
                    let index = match (entry.index, file.start_index) {
                        (Some(i), _) => index_at(i, 0),
                        (None, Some(s)) => index_at(s, line - 1),
                        (None, None) => Err(NO_INDEX.into()),
                    };
                    decode_entry(&file, index, position, &entry, scratch, opts)
                }
                Err(e) => Outcome::Reject(RejectRecord {
                    entry_index: None,
                    source_file: file.name.clone(),
                    position,
                    kind: RejectKind::Json,
                    reason: format!("line is not a JSON entry: {e}"),
                }),
            }
        })
        .collect();
    collect(file, outcomes)
}

/// Why an entry of a JSON-lines file without `index` has no index.
const NO_INDEX: &str = "entry has no index: add \"index\" to each line or pass --start-index";

/// The index of the entry `ordinal` places after `start`, or why it has
/// none: `entry_index` is a signed 64-bit column, and an index past
/// 2^63-1 (or past 2^64-1, which would wrap) is a reject, never wrapped.
fn index_at(start: u64, ordinal: u64) -> Result<i64, String> {
    start
        .checked_add(ordinal)
        .and_then(|i| i64::try_from(i).ok())
        .ok_or_else(|| {
            format!("index {start} + {ordinal} does not fit entry_index (at most 2^63-1)")
        })
}

fn decode_entry(
    file: &InputFile,
    index: Result<i64, String>,
    position: Position,
    entry: &JsonEntry<'_>,
    scratch: &mut Scratch,
    opts: ExtractOptions,
) -> Outcome {
    let reject = |kind: RejectKind, reason: String| {
        Outcome::Reject(RejectRecord {
            entry_index: index.as_ref().ok().copied(),
            source_file: file.name.clone(),
            position,
            kind,
            reason,
        })
    };
    let index = match &index {
        Ok(i) => *i,
        Err(why) => return reject(RejectKind::Index, why.clone()),
    };
    let (Some(leaf_b64), Some(extra_b64)) = (&entry.leaf_input, &entry.extra_data) else {
        let missing = if entry.leaf_input.is_none() {
            "leaf_input"
        } else {
            "extra_data"
        };
        return reject(RejectKind::MissingField, format!("{missing} is missing"));
    };
    scratch.leaf.clear();
    if let Err(e) = BASE64.decode_vec(leaf_b64.0.as_bytes(), &mut scratch.leaf) {
        return reject(
            RejectKind::Base64,
            format!("leaf_input is not valid base64: {e}"),
        );
    }
    scratch.extra.clear();
    if let Err(e) = BASE64.decode_vec(extra_b64.0.as_bytes(), &mut scratch.extra) {
        return reject(
            RejectKind::Base64,
            format!("extra_data is not valid base64: {e}"),
        );
    }
    match ct_leaf::decode(&scratch.leaf, &scratch.extra) {
        Ok(leaf) => Outcome::Cert(cert_record::extract(index, &leaf, opts)),
        Err(e) => reject(RejectKind::Framing, e.to_string()),
    }
}

/// Decodes a static-ct-api data tile: its entries are framed one after the
/// other (each one's length is known only once read), then extracted in
/// parallel. A tile that breaks off, or holds more or fewer entries than its
/// width, gives one reject for what is missing or extra.
fn decode_tile(
    file: Arc<InputFile>,
    data: &[u8],
    coord: TileCoord,
    member: Option<Arc<str>>,
    read_error: Option<String>,
    opts: ExtractOptions,
) -> ChunkOutput {
    let source: Arc<str> = match &member {
        Some(m) => Arc::from(format!("{}!{m}", file.name)),
        None => file.name.clone(),
    };
    let start = coord.start_index();
    let width = u64::from(coord.width);
    let reject = |ordinal: u64, kind: RejectKind, reason: String| RejectRecord {
        entry_index: index_at(start, ordinal).ok(),
        source_file: source.clone(),
        position: Position::Entry { ordinal },
        kind,
        reason,
    };
    let mut leaves = Vec::with_capacity(coord.width as usize);
    let mut tail = None;
    let mut offset = 0usize;
    while offset < data.len() {
        let ordinal = leaves.len() as u64;
        if ordinal == width {
            tail = Some(reject(
                ordinal,
                RejectKind::Framing,
                format!(
                    "the tile holds more than its {width} entries: {} bytes after entry {}",
                    data.len() - offset,
                    width - 1
                ),
            ));
            break;
        }
        match ct_leaf::decode_tile_leaf(&data[offset..]) {
            Ok((leaf, used)) => {
                leaves.push(leaf);
                offset += used;
            }
            Err(e) => {
                // Cut off mid-entry: the tile file is short (a partial
                // download), not malformed.
                let kind = match e {
                    ct_leaf::FramingError::Truncated { .. } => RejectKind::Io,
                    _ => RejectKind::Framing,
                };
                tail = Some(reject(
                    ordinal,
                    kind,
                    format!(
                        "{e} (at byte {offset} of the tile); entries from ordinal {ordinal} to {} could not be read",
                        width - 1
                    ),
                ));
                break;
            }
        }
    }
    let read = leaves.len() as u64;
    if tail.is_none() && (read < width || read_error.is_some()) {
        let why = read_error.unwrap_or_else(|| "the tile ends early".into());
        tail = Some(reject(
            read,
            RejectKind::Io,
            format!(
                "{why}: {read} of its {width} entries were read; entries from ordinal {read} on are missing"
            ),
        ));
    }
    let issuers = file.issuers.clone();
    let outcomes: Vec<Outcome> = leaves
        .par_iter()
        .enumerate()
        .map(|(ordinal, leaf)| {
            let ordinal = ordinal as u64;
            let index = start + ordinal;
            if let Ok(Some(stated)) = ct_leaf::leaf_index(leaf.extensions) {
                if stated != index {
                    return Outcome::Reject(reject(
                        ordinal,
                        RejectKind::Index,
                        format!(
                            "leaf_index extension says {stated}, but the tile's path puts the entry at {index}"
                        ),
                    ));
                }
            }
            Outcome::Cert(cert_record::extract(index as i64, leaf, opts))
        })
        .collect();
    let mut out = collect(file, outcomes);
    out.rejects.extend(tail);
    if let Some(issuers) = issuers.filter(|i| i.has_dir) {
        let mut missing: Vec<[u8; 32]> = leaves
            .iter()
            .filter_map(|l| match &l.chain {
                ct_leaf::Chain::Fingerprints(fps) => Some(fps),
                ct_leaf::Chain::Certs(_) => None,
            })
            .flatten()
            .filter(|fp| !issuers.present.contains(*fp))
            .copied()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        out.missing_issuers = missing;
    }
    out
}

/// Decodes a file of certificates (PEM or DER, no log): entry i is the
/// file's i-th certificate at index `start + i`, a precert entry when it
/// carries the poison extension. With no log timestamp, `entry_timestamp`
/// is the certificate's notBefore (so no timing rule reads a gap into it).
fn decode_certs(
    file: Arc<InputFile>,
    data: &[u8],
    first_ordinal: u64,
    pem: bool,
    read_error: Option<String>,
    opts: ExtractOptions,
) -> ChunkOutput {
    let blobs = if pem {
        cert_files::pem_blobs(data)
    } else {
        cert_files::cert_blobs(data)
    };
    let start = file.start_index.unwrap_or(0);
    let reject = |ordinal: u64, kind: RejectKind, reason: String| RejectRecord {
        entry_index: index_at(start, ordinal).ok(),
        source_file: file.name.clone(),
        position: Position::Entry { ordinal },
        kind,
        reason,
    };
    let outcomes: Vec<Outcome> = blobs
        .par_iter()
        .enumerate()
        .map(|(i, blob)| {
            let ordinal = first_ordinal + i as u64;
            let der = match blob {
                Ok(der) if !der.is_empty() => der,
                Ok(_) => {
                    return Outcome::Reject(reject(
                        ordinal,
                        RejectKind::Framing,
                        "empty certificate".into(),
                    ))
                }
                Err(e) => return Outcome::Reject(reject(ordinal, RejectKind::Base64, e.clone())),
            };
            match index_at(start, ordinal) {
                Ok(index) => Outcome::Cert(certificate_row(index, der, opts)),
                Err(why) => Outcome::Reject(reject(ordinal, RejectKind::Index, why)),
            }
        })
        .collect();
    let n = first_ordinal + blobs.len() as u64;
    let mut out = collect(file.clone(), outcomes);
    if let Some(why) = read_error {
        out.rejects.push(reject(
            n,
            RejectKind::Io,
            format!("{why}; certificates from ordinal {n} on could not be read"),
        ));
    }
    out
}

/// The row of a certificate that comes without a log entry (a file, a CSV
/// row): a precert entry when it carries the poison extension; no chain, no
/// issuer key hash; its notBefore as the entry time.
fn certificate_row(index: i64, der: &[u8], opts: ExtractOptions) -> CertRecord {
    let tbs = crate::der::tbs_of_certificate(der);
    let kind = match tbs {
        Some(tbs) if crate::der::has_poison(tbs) => ct_leaf::EntryKind::Precert {
            issuer_key_hash: [0; 32],
            tbs: tbs.raw,
            pre_certificate: der,
        },
        _ => ct_leaf::EntryKind::X509 { cert: der },
    };
    let entry = ct_leaf::LogEntry {
        timestamp_ms: 0,
        kind,
        extensions: &[],
        chain: ct_leaf::Chain::Certs(Vec::new()),
    };
    let mut rec = cert_record::extract(index, &entry, opts);
    rec.issuer_key_hash = None;
    rec.entry_timestamp_ms = rec.not_before_ms.unwrap_or(0);
    rec
}

/// The records of a chunk of CSV (which starts and ends at record
/// boundaries), read by a real CSV reader so that a quoted field may hold
/// line breaks: (line, byte offset, record or why it is not one). Blank
/// lines are passed over.
fn csv_records(
    data: &[u8],
    first_line: u64,
    first_byte: u64,
) -> Vec<(u64, u64, std::result::Result<csv::ByteRecord, String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut out = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let start = reader.position().clone();
        let at = (first_line + start.line() - 1, first_byte + start.byte());
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let blank = record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace);
                if !blank {
                    out.push((at.0, at.1, Ok(record.clone())));
                }
            }
            Err(e) => {
                out.push((at.0, at.1, Err(e.to_string())));
                // The reader resynchronises at the next line.
                if reader.position().byte() == start.byte() {
                    break;
                }
            }
        }
    }
    out
}

/// Decodes lines of a CaliDog Axeman CSV file: `url, cert_index,
/// chain_hash, cert_der_b64, all_domains, not_before, not_after`. The index
/// is `cert_index`; the certificate is decoded like one from a file.
fn decode_axeman(
    file: Arc<InputFile>,
    data: &[u8],
    first_line: u64,
    first_byte: u64,
    opts: ExtractOptions,
) -> ChunkOutput {
    let records = csv_records(data, first_line, first_byte);
    let outcomes: Vec<Outcome> = records
        .par_iter()
        .map_init(Scratch::default, |scratch, (line, byte_offset, record)| {
            let position = Position::Line {
                line: *line,
                byte_offset: *byte_offset,
            };
            let reject = |index: Option<i64>, kind: RejectKind, reason: String| {
                Outcome::Reject(RejectRecord {
                    entry_index: index,
                    source_file: file.name.clone(),
                    position,
                    kind,
                    reason,
                })
            };
            let record = match record {
                Ok(r) => r,
                Err(e) => return reject(None, RejectKind::Json, format!("not a CSV row: {e}")),
            };
            if record.len() < 4 {
                return reject(
                    None,
                    RejectKind::MissingField,
                    format!("{} fields; an Axeman row has 7 (url, cert_index, chain_hash, cert_der, ...)", record.len()),
                );
            }
            let index = std::str::from_utf8(&record[1])
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .filter(|i| *i >= 0);
            let Some(index) = index else {
                return reject(
                    None,
                    RejectKind::Index,
                    format!("cert_index {:?} is not an entry index", String::from_utf8_lossy(&record[1])),
                );
            };
            scratch.leaf.clear();
            if let Err(e) = BASE64.decode_vec(record[3].trim_ascii(), &mut scratch.leaf) {
                return reject(Some(index), RejectKind::Base64, format!("cert_der is not valid base64: {e}"));
            }
            if scratch.leaf.is_empty() {
                return reject(Some(index), RejectKind::MissingField, "cert_der is empty".into());
            }
            Outcome::Cert(certificate_row(index, &scratch.leaf, opts))
        })
        .collect();
    collect(file, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `axeman_csv` fuzz target: CSV ends a record at a lone CR
    /// as well, so two records can share a line; each keeps its own offset.
    #[test]
    fn csv_records_split_at_a_lone_cr_keep_distinct_offsets() {
        let records = csv_records(b"\x01\r\x01 ", 1, 0);
        let at: Vec<(u64, u64)> = records.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(at, vec![(1, 0), (1, 2)]);
    }
}
