//! Files read as streams, a chunk at a time: JSON lines, CSV rows, PEM
//! blocks, and the elements of a get-entries page. A chunk holds at most
//! [`CHUNK_BYTES`] of input and [`CHUNK_ENTRIES`] entries, so memory follows
//! those bounds, not the size of a file or the number of entries in it.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use super::page_stream::{OutlineError, PageSplitter, Scan};
use super::{buffers, compression};
use super::{Chunk, InputFile, Layout, PageEnd, TextRecords};
use crate::ingest::reject::{Position, RejectKind};

/// Target size of one chunk of input.
pub const CHUNK_BYTES: usize = 8 << 20;

/// Entries in one chunk at most: each becomes a row or a reject in memory
/// until its chunk is written, so tiny entries must not pile up.
pub const CHUNK_ENTRIES: usize = 16 * 1024;

/// The longest entry accepted: a JSON line, a CSV row, a PEM block or a
/// page element. Past it the rest of the file is one `io` reject.
pub const MAX_ENTRY_BYTES: usize = 256 << 20;

/// How a stream of records is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// One record per line.
    Lines,
    /// CSV rows: a quoted field may hold line breaks.
    Csv,
    /// PEM blocks: a record ends with the line of an `-----END ` marker.
    Pem,
}

/// The end (exclusive) of the last complete record of `data` among the
/// first `max` records, and how many records that is.
fn split_point(data: &[u8], kind: Records, max: usize) -> Option<(usize, usize)> {
    let mut ends = Vec::new();
    match kind {
        Records::Lines => {
            ends.extend(memchr::memchr_iter(b'\n', data).take(max).map(|i| i + 1));
        }
        Records::Csv => {
            let mut quoted = false;
            for (i, &b) in data.iter().enumerate() {
                match b {
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted => {
                        ends.push(i + 1);
                        if ends.len() == max {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        Records::Pem => {
            for at in memchr::memmem::find_iter(data, b"-----END ") {
                match memchr::memchr(b'\n', &data[at..]) {
                    Some(nl) => ends.push(at + nl + 1),
                    None => break,
                }
                if ends.len() == max {
                    break;
                }
            }
            ends.dedup();
        }
    }
    ends.last().map(|&end| (end, ends.len()))
}

/// A file read as records (lines, CSV rows, PEM blocks).
pub struct RecordStream {
    /// The file.
    pub file: Arc<InputFile>,
    /// Its digest, fed as it is read.
    pub digest: compression::FileDigest,
    reader: Box<dyn Read + Send>,
    kind: Records,
    carry: Vec<u8>,
    next_line: u64,
    next_byte: u64,
    next_ordinal: u64,
    eof: bool,
}

impl RecordStream {
    /// A stream of `kind` records from `reader`; `head` holds bytes already
    /// read from it.
    pub fn new(
        file: Arc<InputFile>,
        digest: compression::FileDigest,
        reader: Box<dyn Read + Send>,
        kind: Records,
        head: Vec<u8>,
    ) -> Self {
        RecordStream {
            file,
            digest,
            reader,
            kind,
            carry: head,
            next_line: 1,
            next_byte: 0,
            next_ordinal: 0,
            eof: false,
        }
    }

    fn emit(&mut self, data: Vec<u8>) -> Chunk {
        let first_line = self.next_line;
        let first_byte = self.next_byte;
        let first_ordinal = self.next_ordinal;
        self.next_line += memchr::memchr_iter(b'\n', &data).count() as u64;
        self.next_byte += data.len() as u64;
        match self.kind {
            Records::Pem => {
                // Entries are the certificate blocks (a key block is none).
                self.next_ordinal += super::format::cert_files::pem_blobs(&data).len() as u64;
                Chunk::Certs {
                    file: self.file.clone(),
                    data,
                    first_ordinal,
                    pem: true,
                    read_error: None,
                }
            }
            Records::Csv | Records::Lines => match self.file.layout {
                Layout::Records(format) => Chunk::Records(TextRecords {
                    format,
                    file: self.file.clone(),
                    data,
                    first_line,
                    first_byte,
                }),
                other => unreachable!("a {other:?} file read as text records"),
            },
        }
    }

    fn failed(&self, byte_offset: u64, message: String) -> Chunk {
        Chunk::Failed {
            file: self.file.clone(),
            byte_offset,
            message,
        }
    }

    /// Reads the next chunk(s); returns true when the file is finished.
    pub fn read_next(&mut self, out: &mut VecDeque<Chunk>) -> bool {
        let mut data = buffers::take(self.carry.len().max(CHUNK_BYTES) + CHUNK_BYTES);
        data.extend_from_slice(&self.carry);
        self.carry.clear();
        loop {
            let split = split_point(&data, self.kind, CHUNK_ENTRIES);
            let ready = match split {
                Some((_, n)) => n == CHUNK_ENTRIES || data.len() >= CHUNK_BYTES,
                None => false,
            };
            if let (true, Some((end, _))) = (ready, split) {
                self.carry.extend_from_slice(&data[end..]);
                data.truncate(end);
                out.push_back(self.emit(data));
                return false;
            }
            if self.eof {
                if !data.is_empty() {
                    out.push_back(self.emit(data));
                }
                return true;
            }
            if split.is_none() && data.len() > MAX_ENTRY_BYTES {
                let what = match self.kind {
                    Records::Pem => "a PEM block",
                    _ => "a line",
                };
                let msg = format!(
                    "{what} at line {} is longer than {MAX_ENTRY_BYTES} bytes; the rest of the file was not read",
                    self.next_line
                );
                out.push_back(self.failed(self.next_byte, msg));
                return true;
            }
            let target = data.len() + CHUNK_BYTES;
            data.reserve(CHUNK_BYTES);
            match compression::read_up_to(&mut self.reader, &mut data, target) {
                Ok(()) => self.eof = data.len() < target,
                Err(e) => {
                    let at = self.next_byte + data.len() as u64;
                    if !data.is_empty() {
                        out.push_back(self.emit(data));
                    }
                    out.push_back(self.failed(at, format!("read failed at byte {at}: {e}")));
                    return true;
                }
            }
        }
    }
}

/// A get-entries page read as a stream of its `entries` elements.
pub struct PageStream {
    /// The file.
    pub file: Arc<InputFile>,
    /// Its digest, fed as it is read.
    pub digest: compression::FileDigest,
    reader: Box<dyn Read + Send>,
    splitter: PageSplitter,
    buf: Vec<u8>,
    elements: Vec<(usize, usize)>,
    next_ordinal: u64,
    /// Decompressed bytes read so far.
    read: u64,
    eof: bool,
    /// Why reading stopped early, once it has.
    failure: Option<String>,
}

impl PageStream {
    /// A page read from `reader`.
    pub fn new(
        file: Arc<InputFile>,
        digest: compression::FileDigest,
        reader: Box<dyn Read + Send>,
    ) -> Self {
        PageStream {
            file,
            digest,
            reader,
            splitter: PageSplitter::default(),
            buf: buffers::take(CHUNK_BYTES + CHUNK_BYTES / 4),
            elements: Vec::new(),
            next_ordinal: 0,
            read: 0,
            eof: false,
            failure: None,
        }
    }

    /// Hands the elements found so far on as a chunk (with the page's early
    /// end, if any), keeping the bytes of an element still being read.
    fn emit(&mut self, out: &mut VecDeque<Chunk>, end: Option<PageEnd>) {
        if self.elements.is_empty() && end.is_none() {
            return;
        }
        let keep = self
            .splitter
            .pending_from()
            .unwrap_or(self.splitter.scanned());
        let mut next = buffers::take((self.buf.len() - keep).max(CHUNK_BYTES) + CHUNK_BYTES / 4);
        next.extend_from_slice(&self.buf[keep..]);
        let mut data = std::mem::replace(&mut self.buf, next);
        data.truncate(keep);
        self.splitter.rebase(keep);
        let elements = std::mem::take(&mut self.elements);
        let first_ordinal = self.next_ordinal;
        self.next_ordinal += elements.len() as u64;
        out.push_back(Chunk::Entries {
            file: self.file.clone(),
            data,
            elements,
            first_ordinal,
            end,
        });
    }

    /// The reject for the rest of a page that stops early.
    fn end(&self, position: Position, kind: RejectKind, what: String) -> PageEnd {
        let ordinal = self.next_ordinal + self.elements.len() as u64;
        PageEnd {
            position,
            kind,
            ordinal,
            reason: format!("{what}; entries from ordinal {ordinal} on could not be read"),
        }
    }

    /// The end of a page whose JSON is invalid at `e`.
    fn invalid_json(&self, e: &OutlineError) -> PageEnd {
        let what = format!(
            "page JSON is invalid: {} at line {} column {}",
            e.message, e.line, e.column
        );
        let position = Position::Json {
            line: e.line,
            column: e.column,
        };
        self.end(position, RejectKind::Json, what)
    }

    /// Reads the next chunk(s); returns true when the page is finished.
    pub fn read_next(&mut self, out: &mut VecDeque<Chunk>) -> bool {
        loop {
            let room = CHUNK_ENTRIES - self.elements.len();
            match self.splitter.scan(&self.buf, &mut self.elements, room) {
                Err(e) => {
                    let end = self.invalid_json(&e);
                    self.emit(out, Some(end));
                    return true;
                }
                Ok(Scan::Full) => {
                    self.emit(out, None);
                    return false;
                }
                Ok(Scan::Done | Scan::NeedMore) => {}
            }
            let pending = self.splitter.pending_from().unwrap_or(self.buf.len());
            if self.buf.len() - pending > MAX_ENTRY_BYTES {
                let ordinal = self.next_ordinal + self.elements.len() as u64;
                let what =
                    format!("entry {ordinal} of the page is longer than {MAX_ENTRY_BYTES} bytes");
                let end = self.end(Position::Byte(self.read), RejectKind::Io, what);
                self.emit(out, Some(end));
                return true;
            }
            let found: usize = self.elements.iter().map(|(a, b)| b - a).sum();
            if found >= CHUNK_BYTES {
                self.emit(out, None);
                return false;
            }
            if let Some(what) = self.failure.take().filter(|_| self.eof) {
                // The elements read before the failure are kept.
                let end = self.end(Position::Byte(self.read), RejectKind::Io, what);
                self.emit(out, Some(end));
                return true;
            }
            if self.eof {
                let end = self
                    .splitter
                    .eof_error(self.buf.len())
                    .map(|e| self.invalid_json(&e));
                self.emit(out, end);
                return true;
            }
            self.refill();
        }
    }

    /// Reads up to a quarter chunk more of the page, first dropping what
    /// lies before the scanned point unless an element is open there. A read
    /// error is kept in `failure` and ends the page once the bytes read
    /// before it are scanned.
    fn refill(&mut self) {
        if self.elements.is_empty() {
            let keep = self
                .splitter
                .pending_from()
                .unwrap_or(self.splitter.scanned());
            if keep > 0 {
                self.buf.drain(..keep);
                self.splitter.rebase(keep);
            }
        }
        let before = self.buf.len();
        let target = before + CHUNK_BYTES / 4;
        self.buf.reserve(CHUNK_BYTES / 4);
        let result = compression::read_up_to(&mut self.reader, &mut self.buf, target);
        self.read += (self.buf.len() - before) as u64;
        match result {
            Ok(()) => self.eof = self.buf.len() < target,
            Err(e) => {
                self.failure = Some(format!("read failed at byte {}: {e}", self.read));
                self.eof = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cut_at_their_ends() {
        assert_eq!(split_point(b"a\nb\nc", Records::Lines, 10), Some((4, 2)));
        assert_eq!(split_point(b"a\nb\nc", Records::Lines, 1), Some((2, 1)));
        assert_eq!(split_point(b"abc", Records::Lines, 10), None);
        assert_eq!(
            split_point(b"x,\"a\nb\"\ny,z", Records::Csv, 10),
            Some((8, 1))
        );
        let pem = b"-----BEGIN C-----\nAA\n-----END C-----\n-----BEGIN C-----\nBB\n-----END C";
        assert_eq!(split_point(pem, Records::Pem, 10), Some((37, 1)));
    }
}
