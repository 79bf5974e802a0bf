//! Reading the files of a dump, in order, as [`Chunk`]s: the decompressed
//! content cut at entry boundaries so that the decoder can work on chunks in
//! parallel. Reading is sequential and bounded by bytes: pages, JSON lines,
//! CSV and PEM files are streamed in chunks of at most
//! [`streams::CHUNK_BYTES`] and [`streams::CHUNK_ENTRIES`] entries; a tile
//! is one chunk (at most [`tiles::MAX_TILE_BYTES`]), a DER certificate file
//! too (at most [`MAX_DER_BYTES`]).

use std::collections::VecDeque;
use std::io::Read;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::format::cert_files::{MAX_DER_BYTES, PEM_SNIFF_BYTES};
use super::format::{cert_files, ct_archive, tiles, RecordFormat};
use super::{buffers, compression, streams, InputFile, Layout};
use crate::ct::tile::TileCoord;

/// How a page that stopped early ends: one reject for the entries from
/// `ordinal` on.
#[derive(Debug, Clone, PartialEq)]
pub struct PageEnd {
    /// The ordinal of the first entry lost.
    pub ordinal: u64,
    /// Where the page broke.
    pub position: crate::ingest::reject::Position,
    /// `json` (the page's outline broke) or `io` (reading failed).
    pub kind: crate::ingest::reject::RejectKind,
    /// What happened, and what was lost.
    pub reason: String,
}

/// A unit of decompressed input for the decoder.
#[derive(Debug)]
pub enum Chunk {
    /// Consecutive elements of a page's `entries` array.
    Entries {
        /// The file.
        file: Arc<InputFile>,
        /// The bytes holding them.
        data: Vec<u8>,
        /// Each element's byte range in `data`.
        elements: Vec<(usize, usize)>,
        /// The ordinal of the first element in the page.
        first_ordinal: u64,
        /// Set on the last chunk of a page that stopped early.
        end: Option<PageEnd>,
    },
    /// Certificates: PEM blocks (whole), or one DER certificate file.
    Certs {
        /// The file.
        file: Arc<InputFile>,
        /// The bytes.
        data: Vec<u8>,
        /// The ordinal (within the file) of the first certificate.
        first_ordinal: u64,
        /// PEM text (else one DER certificate).
        pem: bool,
        /// Why reading stopped before the end, if it did.
        read_error: Option<String>,
    },
    /// Whole records of a record format's file (JSON lines, CSV rows, ...).
    Records(TextRecords),
    /// One static-ct-api data tile, from a file or a member of a zip.
    Tile {
        /// The file (the tile, or the archive holding it).
        file: Arc<InputFile>,
        /// The tile's bytes, decompressed.
        data: Vec<u8>,
        /// Where the tile sits in the log.
        coord: TileCoord,
        /// The member's name inside an archive.
        member: Option<Arc<str>>,
        /// Why reading stopped before the end, if it did.
        read_error: Option<String>,
    },
    /// Reading a file failed at `byte_offset`; the rest is lost.
    Failed {
        /// The file.
        file: Arc<InputFile>,
        /// Offset in the decompressed stream where reading failed.
        byte_offset: u64,
        /// What failed.
        message: String,
    },
}

impl Chunk {
    /// What the chunk weighs in memory until it is written: its bytes, and
    /// a row's worth for each entry (an entry becomes a row or a reject).
    pub fn weight(&self) -> usize {
        const PER_ENTRY: usize = 512;
        match self {
            Chunk::Entries { data, elements, .. } => data.len() + elements.len() * PER_ENTRY,
            Chunk::Records(TextRecords { data, .. }) => {
                data.len() + memchr::memchr_iter(b'\n', data).count() * PER_ENTRY
            }
            Chunk::Certs {
                data, pem: true, ..
            } => data.len() + memchr::memmem::find_iter(data, b"-----END ").count() * PER_ENTRY,
            Chunk::Certs { data, .. } => data.len() + PER_ENTRY,
            // A tile holds at most 256 entries.
            Chunk::Tile { data, .. } => data.len() + 256 * PER_ENTRY,
            Chunk::Failed { .. } => PER_ENTRY,
        }
    }
}

/// Whole records of a text file (lines, or CSV records whose quoted fields
/// may span lines), with where they start and the format that decodes them.
#[derive(Debug)]
pub struct TextRecords {
    /// The file's format.
    pub format: &'static RecordFormat,
    /// The file.
    pub file: Arc<InputFile>,
    /// The records, each ending in `\n` except perhaps the file's last.
    pub data: Vec<u8>,
    /// 1-based number of the first record's line.
    pub first_line: u64,
    /// Offset of the first record in the decompressed stream.
    pub first_byte: u64,
}

/// Reads files in order and yields their chunks.
pub struct ChunkReader {
    files: std::vec::IntoIter<InputFile>,
    current: Option<Streaming>,
    zip: Option<ZipState>,
    pending: VecDeque<Chunk>,
    counter: Arc<AtomicU64>,
}

/// A file being read as a stream.
enum Streaming {
    Records(streams::RecordStream),
    Page(streams::PageStream),
}

impl Streaming {
    fn read_next(&mut self, out: &mut VecDeque<Chunk>) -> bool {
        match self {
            Streaming::Records(s) => s.read_next(out),
            Streaming::Page(p) => p.read_next(out),
        }
    }

    fn file_and_digest(&self) -> (&InputFile, &compression::FileDigest) {
        match self {
            Streaming::Records(s) => (&s.file, &s.digest),
            Streaming::Page(p) => (&p.file, &p.digest),
        }
    }
}

/// A tile archive being read, one data tile per chunk.
struct ZipState {
    file: Arc<InputFile>,
    archive: zip::ZipArchive<ct_archive::CountingFile>,
    tiles: std::vec::IntoIter<(usize, TileCoord)>,
}

impl ZipState {
    /// The next tile's chunk, or `None` when all are read.
    fn next_chunk(&mut self) -> Option<Chunk> {
        let (index, coord) = self.tiles.next()?;
        let (member, data, read_error) = ct_archive::read_tile(&mut self.archive, index);
        Some(Chunk::Tile {
            file: self.file.clone(),
            data,
            coord,
            member: Some(Arc::from(member)),
            read_error,
        })
    }
}

impl ChunkReader {
    /// Reads `files`; `counter` accumulates on-disk bytes read.
    pub fn new(files: Vec<InputFile>, counter: Arc<AtomicU64>) -> Self {
        ChunkReader {
            files: files.into_iter(),
            current: None,
            pending: VecDeque::new(),
            counter,
            zip: None,
        }
    }

    /// Reads one input from `reader` (its bytes, decompressed) instead of
    /// its path, as from a file: pages, JSON lines, CSV and certificate
    /// files (tiles and archives are read from files). For fuzzing and tests.
    pub fn from_reader(file: InputFile, reader: Box<dyn Read + Send>) -> Self {
        let mut r = ChunkReader::new(Vec::new(), Arc::new(AtomicU64::new(0)));
        let file = Arc::new(file);
        let digest = compression::FileDigest::default();
        let kind = match file.layout {
            Layout::Page => {
                let page = streams::PageStream::new(file, digest, reader);
                r.current = Some(Streaming::Page(page));
                return r;
            }
            Layout::Certs => {
                r.start_certs(file, digest, reader);
                return r;
            }
            Layout::Records(format) => format.cut,
            Layout::Tile(_) | Layout::Zip => return r,
        };
        let stream = streams::RecordStream::new(file, digest, reader, kind, Vec::new());
        r.current = Some(Streaming::Records(stream));
        r
    }

    /// Queues the one reject of a file that cannot be opened.
    fn cannot_read(&mut self, file: Arc<InputFile>, e: std::io::Error) {
        self.pending.push_back(Chunk::Failed {
            file,
            byte_offset: 0,
            message: format!("cannot read: {e}"),
        });
    }

    fn start_file(&mut self, file: InputFile) {
        let file = Arc::new(file);
        if file.layout == Layout::Zip {
            match ct_archive::open(&file.path, self.counter.clone()) {
                Ok(archive) => {
                    self.zip = Some(ZipState {
                        file,
                        archive: archive.archive,
                        tiles: archive.tiles.into_iter(),
                    })
                }
                Err(e) => self.pending.push_back(Chunk::Failed {
                    file,
                    byte_offset: 0,
                    message: format!("cannot read the zip archive: {e}"),
                }),
            }
            return;
        }
        let digest = compression::FileDigest::default();
        let reader =
            compression::open_hashing(&file.path, self.counter.clone(), Some(digest.clone()));
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                self.cannot_read(file, e);
                return;
            }
        };
        match file.layout {
            Layout::Page => {
                let page = streams::PageStream::new(file, digest, reader);
                self.current = Some(Streaming::Page(page));
            }
            Layout::Records(format) => {
                let stream =
                    streams::RecordStream::new(file, digest, reader, format.cut, Vec::new());
                self.current = Some(Streaming::Records(stream));
            }
            Layout::Certs => self.start_certs(file, digest, reader),
            Layout::Tile(coord) => self.read_tile(file, digest, reader, coord),
            Layout::Zip => unreachable!("zip archives are opened above"),
        }
    }

    /// A certificate file: PEM is streamed by blocks; anything else is one
    /// DER certificate, read whole up to [`MAX_DER_BYTES`].
    fn start_certs(
        &mut self,
        file: Arc<InputFile>,
        digest: compression::FileDigest,
        mut reader: Box<dyn Read + Send>,
    ) {
        let mut head = buffers::take(PEM_SNIFF_BYTES.min(file.size as usize + 1));
        let read = compression::read_up_to(&mut reader, &mut head, PEM_SNIFF_BYTES);
        if read.is_ok() && cert_files::is_pem(&head) {
            let stream =
                streams::RecordStream::new(file, digest, reader, streams::Records::Pem, head);
            self.current = Some(Streaming::Records(stream));
            return;
        }
        let mut data = head;
        let read =
            read.and_then(|()| compression::read_up_to(&mut reader, &mut data, MAX_DER_BYTES + 1));
        drop(reader);
        let read_error = match read {
            Err(e) => Some(format!("read failed at byte {}: {e}", data.len())),
            Ok(()) if data.len() > MAX_DER_BYTES => {
                buffers::give(std::mem::take(&mut data));
                Some(format!(
                    "larger than {MAX_DER_BYTES} bytes decompressed: not a DER certificate, not read"
                ))
            }
            Ok(()) => None,
        };
        finish_digest(&file, &digest);
        self.pending.push_back(Chunk::Certs {
            file,
            data,
            first_ordinal: 0,
            pem: false,
            read_error,
        });
    }

    /// A data tile file: one chunk, at most [`tiles::MAX_TILE_BYTES`].
    fn read_tile(
        &mut self,
        file: Arc<InputFile>,
        digest: compression::FileDigest,
        mut reader: Box<dyn Read + Send>,
        coord: TileCoord,
    ) {
        let mut raw = buffers::take((file.size as usize).min(tiles::MAX_TILE_BYTES) + 1);
        let read = compression::read_up_to(&mut reader, &mut raw, tiles::MAX_TILE_BYTES + 1);
        drop(reader);
        finish_digest(&file, &digest);
        let (data, too_big) = tiles::gunzip_if_gzip(raw);
        let read_error = match read {
            Err(e) => Some(format!("read failed at byte {}: {e}", data.len())),
            Ok(()) => too_big,
        };
        self.pending.push_back(Chunk::Tile {
            file,
            data,
            coord,
            member: None,
            read_error,
        });
    }
}

/// Completes a file's BLAKE3 once reading it is over. A file that cannot
/// be read again keeps no digest (its manifest entry says so).
fn finish_digest(file: &InputFile, digest: &compression::FileDigest) {
    if let Ok(d) = digest.finish(&file.path) {
        let _ = file.blake3.set(d);
    }
}

impl Iterator for ChunkReader {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if let Some(state) = self.current.as_mut() {
                if state.read_next(&mut self.pending) {
                    let (file, digest) = state.file_and_digest();
                    finish_digest(file, digest);
                    self.current = None;
                }
                continue;
            }
            if let Some(state) = self.zip.as_mut() {
                match state.next_chunk() {
                    Some(chunk) => return Some(chunk),
                    None => {
                        // The archive was read by member: hash it whole.
                        finish_digest(&state.file, &compression::FileDigest::default());
                        self.zip = None;
                    }
                }
                continue;
            }
            let file = self.files.next()?;
            self.start_file(file);
        }
    }
}
