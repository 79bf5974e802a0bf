//! CaliDog Axeman CSV (github.com/CaliDog/Axeman): one row per entry,
//! `url, cert_index, chain_hash, cert_der_b64, all_domains, not_before,
//! not_after`, no header. The log is named by the URL of the first row; the
//! certificate is decoded like one from a file (no log entry around it).

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use base64::Engine as _;

use super::RecordFormat;
use crate::ct::tile::log_name_from_url;
use crate::ingest::compression;
use crate::ingest::decode::{decode_each, ChunkOutput, Outcome, Scratch, BASE64};
use crate::ingest::reject::{Position, RejectKind, RejectRecord};
use crate::ingest::streams::Records;
use crate::ingest::{InputFile, TextRecords};
use crate::x509::cert_record::{self, ExtractOptions};

/// Axeman CSV, recognised by the `.csv` name.
pub static FORMAT: RecordFormat = RecordFormat {
    name: "Axeman CSV",
    cut: Records::Csv,
    is_name: is_csv_name,
    stated_log_name,
    decode: decode_axeman,
};

/// Whether a file name (without `.gz`/`.zst`) is an Axeman CSV file's.
pub fn is_csv_name(base: &str) -> bool {
    base.ends_with(".csv")
}

/// The log an Axeman CSV file names: the `url` field of its first row.
pub fn stated_log_name(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    let mut r = compression::open(path, Arc::new(AtomicU64::new(0))).ok()?;
    compression::read_up_to(&mut r, &mut head, 64 * 1024).ok()?;
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&head[..]);
    let first = rows.records().next()?.ok()?;
    first
        .get(0)
        .filter(|u| !u.is_empty())
        .and_then(log_name_from_url)
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
fn decode_axeman(chunk: &TextRecords, opts: ExtractOptions) -> ChunkOutput {
    let file = &chunk.file;
    let records = csv_records(&chunk.data, chunk.first_line, chunk.first_byte);
    decode_each(
        file.clone(),
        &records,
        opts,
        |scratch: &mut Scratch, _, (line, byte_offset, record)| {
            let position = Position::Line {
                line: *line,
                byte_offset: *byte_offset,
            };
            decode_row(file, position, record, scratch, opts)
        },
    )
}

/// Decodes one row: its `cert_index` and `cert_der_b64` fields.
fn decode_row(
    file: &InputFile,
    position: Position,
    record: &std::result::Result<csv::ByteRecord, String>,
    scratch: &mut Scratch,
    opts: ExtractOptions,
) -> Outcome {
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
        Err(e) => return reject(None, RejectKind::Csv, format!("not a CSV row: {e}")),
    };
    if record.len() < 4 {
        let fields = record.len();
        return reject(
            None,
            RejectKind::MissingField,
            format!(
                "{fields} fields; an Axeman row has 7 (url, cert_index, chain_hash, cert_der, ...)"
            ),
        );
    }
    let index = std::str::from_utf8(&record[1])
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|i| *i >= 0);
    let Some(index) = index else {
        let text = String::from_utf8_lossy(&record[1]);
        return reject(
            None,
            RejectKind::Index,
            format!("cert_index {text:?} is not an entry index"),
        );
    };
    scratch.leaf.clear();
    if let Err(e) = BASE64.decode_vec(record[3].trim_ascii(), &mut scratch.leaf) {
        let reason = format!("cert_der is not valid base64: {e}");
        return reject(Some(index), RejectKind::Base64, reason);
    }
    if scratch.leaf.is_empty() {
        return reject(
            Some(index),
            RejectKind::MissingField,
            "cert_der is empty".into(),
        );
    }
    Outcome::Cert(cert_record::extract_unlogged(index, &scratch.leaf, opts))
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
