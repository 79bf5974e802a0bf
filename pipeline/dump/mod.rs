//! Dump input: finding the files of a dump, deciding their layout and first
//! index, and cutting their decompressed content into [`Chunk`]s that the
//! decoder can work on in parallel.
//!
//! Reading is sequential and bounded by bytes: pages, JSON lines, CSV and PEM
//! files are streamed in chunks of at most [`streams::CHUNK_BYTES`] and
//! [`streams::CHUNK_ENTRIES`] entries (see [`streams`]); a tile is one chunk
//! (at most [`tiles::MAX_TILE_BYTES`]), a DER certificate file too (at most
//! [`MAX_DER_BYTES`]).

pub mod buffers;
pub mod cert_files;
pub mod compression;
pub mod get_entries;
pub mod page_stream;
pub mod streams;
pub mod tiles;
pub mod zip_archive;

use std::collections::VecDeque;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use tiles::{Issuers, TileCoord};

/// How an input file holds its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One get-entries `{"entries":[...]}` document.
    Page,
    /// One JSON entry object per line.
    Lines,
    /// A static-ct-api data tile (its place in the log from its path).
    Tile(TileCoord),
    /// A ct-archive zip of data tiles.
    Zip,
    /// PEM or DER certificates (a folder of them is a log without a log).
    Certs,
    /// CaliDog Axeman CSV: `url, cert_index, chain_hash, cert_der_b64,
    /// all_domains, not_before, not_after`, no header.
    AxemanCsv,
}

/// The largest DER certificate file read (a certificate is kilobytes; a
/// file past this is not one, and is an `io` reject).
pub const MAX_DER_BYTES: usize = 16 << 20;

/// How far into a certificate file to look for a PEM block.
const PEM_SNIFF_BYTES: usize = 1 << 20;

/// Suffixes of files taken from a directory (before any `.gz`/`.zst`).
const DUMP_SUFFIXES: &[&str] = &[".json", ".jsonl", ".ndjson"];
const COMPRESSED_SUFFIXES: &[&str] = &[".gz", ".zst", ".zstd"];

/// One input file of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Where it is.
    pub path: PathBuf,
    /// The path as shown in messages and the `rejects.source_file` column.
    pub name: Arc<str>,
    /// The log its entries belong to.
    pub log: Arc<str>,
    /// Size on disk.
    pub size: u64,
    /// Modification time, ns since the Unix epoch (0 when unknown).
    pub mtime_ns: i64,
    /// SHA-256 of the file's bytes, set once the reader has read it all.
    pub sha256: Arc<OnceLock<[u8; 32]>>,
    /// Page or JSON lines.
    pub layout: Layout,
    /// Index of a page's first entry (from `<start>-<end>.json` or `--start-index`),
    /// or the index of the first line of a JSON-lines file without explicit indices.
    pub start_index: Option<u64>,
    /// For tiles and tile archives: the issuer certificates the log serves.
    pub issuers: Option<Arc<Issuers>>,
}

impl InputFile {
    /// A file of `layout` at `path`, outside any discovery: no log, no
    /// recorded size or time, entries from index 0. For counting, fuzzing
    /// and tests.
    pub fn detached(path: &Path, layout: Layout) -> Self {
        InputFile {
            path: path.to_path_buf(),
            name: Arc::from(path.display().to_string()),
            log: Arc::from(""),
            size: 0,
            mtime_ns: 0,
            sha256: Arc::default(),
            layout,
            start_index: Some(0),
            issuers: None,
        }
    }
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to ingest, in ingest order.
    pub files: Vec<InputFile>,
    /// Files under input directories that are not dumps (by name), left alone.
    pub skipped: Vec<PathBuf>,
    /// Partial data tiles left out because another tile of the same index
    /// (the full one, or a wider partial one) is read instead.
    pub superseded: Vec<PathBuf>,
    /// Files found under input directories that cannot be read, and why:
    /// FIFOs, devices and sockets (never opened), dangling symlinks.
    pub refused: Vec<(PathBuf, String)>,
}

/// Options for [`discover`].
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// `--log`: the log of every input.
    pub log: Option<String>,
    /// `--start-index`: the first index of a page whose name does not tell it.
    pub start_index: Option<u64>,
}

/// Strips `.gz`/`.zst` and returns the remaining file name.
fn base_name(name: &str) -> &str {
    COMPRESSED_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// The `(start, end)` of a page named `<start>-<end>.json[.gz|.zst]`.
pub fn page_range(file_name: &str) -> Option<(u64, u64)> {
    let stem = base_name(file_name).strip_suffix(".json")?;
    let (a, b) = stem.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (start, end) = (a.parse().ok()?, b.parse().ok()?);
    (start <= end).then_some((start, end))
}

fn is_dump_name(name: &str) -> bool {
    let base = base_name(name);
    DUMP_SUFFIXES.iter().any(|s| base.ends_with(s))
        || is_zip_name(name)
        || cert_files::is_cert_name(base)
        || base.ends_with(".csv")
}

/// A ct-archive tile archive.
fn is_zip_name(name: &str) -> bool {
    name.ends_with(".zip")
}

/// A path's file name; bytes that are not UTF-8 become U+FFFD (names are
/// matched on their ASCII suffixes and digits, which that keeps).
fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default()
}

/// The default log name: the directory's own name.
fn dir_log_name(dir: &Path) -> Result<String> {
    let canonical = fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    let name = file_name(&canonical).into_owned();
    if name.is_empty() {
        return Err(Error::Usage(format!(
            "cannot name the log of {}: pass --log NAME",
            dir.display()
        )));
    }
    Ok(name)
}

/// Checks that a log name can be a Hive partition value.
/// Any name but an empty one, one with control characters, or one too long
/// for a directory name once escaped (see [`crate::partition`]).
pub fn validate_log_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.chars().any(char::is_control)
        || crate::partition::dir_name(name).len() > 255;
    if bad {
        return Err(Error::Usage(format!(
            "log name {:?} cannot name a log (empty, too long, or with control characters): pass --log NAME",
            crate::text::escape(name)
        )));
    }
    Ok(())
}

/// A file found under the inputs, before its layout is settled.
struct Found {
    path: PathBuf,
    log: String,
    /// Settled by where it was found (tiles), else sniffed from the content.
    layout: Option<Layout>,
    issuers: Option<Arc<Issuers>>,
}

/// Files of a tiled log's prefix that are not data and are not listed as skipped.
const TILE_ROOT_FILES: &[&str] = &["checkpoint", "log.v3.json", "README.txt", "README.md"];

fn walk(dir: &Path, log: &str, found: &mut Vec<Found>, disc: &mut Discovery) -> Result<()> {
    let tile_root = tiles::is_tile_root(dir);
    if tile_root {
        let tree = tiles::scan_tree(dir)?;
        let issuers = Arc::new(tree.issuers);
        found.extend(tree.tiles.into_iter().map(|t| Found {
            path: t.path,
            log: log.to_owned(),
            layout: Some(Layout::Tile(t.coord)),
            issuers: Some(issuers.clone()),
        }));
        disc.superseded.extend(tree.superseded);
        disc.skipped.extend(tree.unnamed);
    }
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = file_name(&path).into_owned();
        let name = name.as_str();
        if name.starts_with('.') {
            continue;
        }
        if tile_root && (matches!(name, "tile" | "issuer") || TILE_ROOT_FILES.contains(&name)) {
            continue;
        }
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ty.is_dir() {
            walk(&path, log, found, disc)?;
        } else if is_dump_name(name) {
            found.push(Found {
                path,
                log: log.to_owned(),
                layout: None,
                issuers: None,
            });
        } else {
            disc.skipped.push(path);
        }
    }
    Ok(())
}

/// Reads the first bytes of the decompressed content to decide the layout.
fn sniff_layout(path: &Path) -> Layout {
    let mut head = Vec::new();
    let sniffed = compression::open(path, Arc::new(AtomicU64::new(0)))
        .and_then(|mut r| compression::read_up_to(&mut r, &mut head, 64 * 1024));
    match sniffed {
        Ok(()) => get_entries::detect_layout(&head),
        // Unreadable: the name decides; the reader reports the error.
        Err(_) if page_range(&file_name(path)).is_some() => Layout::Page,
        Err(_) => get_entries::detect_layout(&head),
    }
}

/// Finds the input files under `inputs` (files, or directories walked
/// recursively), decides each one's log, layout and start index, and orders
/// them: by directory, then by start index, then by name.
pub fn discover(inputs: &[PathBuf], opts: &DiscoverOptions) -> Result<Discovery> {
    if let Some(log) = &opts.log {
        validate_log_name(log)?;
    }
    let mut found: Vec<Found> = Vec::new();
    let mut disc = Discovery::default();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let log = match &opts.log {
                Some(l) => l.clone(),
                None => dir_log_name(input)?,
            };
            walk(input, &log, &mut found, &mut disc)?;
        } else {
            let log = match &opts.log {
                Some(l) => l.clone(),
                None => {
                    let parent = input
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    dir_log_name(parent)?
                }
            };
            found.push(Found {
                path: input.clone(),
                log,
                layout: None,
                issuers: None,
            });
        }
    }
    let mut files = Vec::with_capacity(found.len());
    for f in found {
        let Found {
            path,
            mut log,
            layout,
            mut issuers,
        } = f;
        let meta = match fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(m) => {
                let why = format!(
                    "not a regular file ({}): refused",
                    compression::kind_of(&m.file_type())
                );
                disc.refused.push((path, why));
                continue;
            }
            Err(e) => {
                let why = match fs::symlink_metadata(&path) {
                    Ok(l) if l.file_type().is_symlink() => format!("a broken symlink: {e}"),
                    _ => e.to_string(),
                };
                disc.refused.push((path, why));
                continue;
            }
        };
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
        let layout = match layout {
            Some(l) => l,
            None if is_zip_name(&file_name(&path)) => {
                // The archive names its log; --log still decides.
                let archive =
                    zip_archive::open(&path, Arc::new(AtomicU64::new(0))).map_err(|e| {
                        Error::Input {
                            path: path.clone(),
                            message: format!("not a readable zip archive: {e}"),
                        }
                    })?;
                if opts.log.is_none() {
                    if let Some(stated) = archive.stated_log {
                        log = stated;
                    }
                }
                disc.superseded.extend(
                    archive
                        .superseded
                        .iter()
                        .map(|m| PathBuf::from(format!("{}!{m}", path.display()))),
                );
                issuers = Some(Arc::new(archive.issuers));
                Layout::Zip
            }
            None if cert_files::is_cert_name(base_name(&file_name(&path))) => Layout::Certs,
            None if base_name(&file_name(&path)).ends_with(".csv") => {
                // Axeman names the log by URL in every row; the first says.
                if opts.log.is_none() {
                    if let Some(url) = first_csv_url(&path) {
                        let json = serde_json::json!({ "url": url }).to_string();
                        if let Some(name) = tiles::stated_log_name(None, Some(&json)) {
                            log = name;
                        }
                    }
                }
                Layout::AxemanCsv
            }
            None => sniff_layout(&path),
        };
        validate_log_name(&log)?;
        let start_index = match layout {
            Layout::Tile(coord) => Some(coord.start_index()),
            _ => page_range(&file_name(&path)).map(|(start, _)| start),
        };
        files.push(InputFile {
            name: Arc::from(path.display().to_string()),
            path,
            log: Arc::from(log),
            size: meta.len(),
            mtime_ns,
            sha256: Arc::default(),
            layout,
            start_index,
            issuers,
        });
    }
    assign_start_index(&mut files, opts.start_index)?;
    number_certificates(&mut files);
    files.sort_by(|a, b| {
        let dir = |f: &InputFile| match f.layout {
            // All tiles of a log sort together, by index.
            Layout::Tile(_) => None,
            _ => f.path.parent().map(Path::to_path_buf),
        };
        (&a.log, dir(a), a.start_index, &a.path).cmp(&(&b.log, dir(b), b.start_index, &b.path))
    });
    files.dedup_by(|a, b| a.path == b.path);
    disc.files = files;
    Ok(disc)
}

/// The `url` field of an Axeman CSV file's first row.
fn first_csv_url(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    let mut r = compression::open(path, Arc::new(AtomicU64::new(0))).ok()?;
    compression::read_up_to(&mut r, &mut head, 64 * 1024).ok()?;
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&head[..]);
    let first = rows.records().next()?.ok()?;
    first.get(0).map(str::to_owned).filter(|u| !u.is_empty())
}

/// Numbers the certificates of each log's certificate files: in path order,
/// then in order within a file (each file's first index is the count of
/// certificates in the files before it).
fn number_certificates(files: &mut [InputFile]) {
    let mut order: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].layout == Layout::Certs)
        .collect();
    order.sort_by(|&a, &b| (&files[a].log, &files[a].path).cmp(&(&files[b].log, &files[b].path)));
    let mut next: std::collections::HashMap<Arc<str>, u64> = Default::default();
    for i in order {
        let count = count_certificates(&files[i].path);
        let start = next.entry(files[i].log.clone()).or_insert(0);
        files[i].start_index = Some(*start);
        *start += count;
    }
}

/// How many certificate entries a certificate file holds, read as the
/// ingest reads it (PEM in chunks; a DER file is one), in bounded memory.
fn count_certificates(path: &Path) -> u64 {
    let Ok(mut reader) = compression::open(path, Arc::new(AtomicU64::new(0))) else {
        return 0;
    };
    let mut head = Vec::new();
    if compression::read_up_to(&mut reader, &mut head, PEM_SNIFF_BYTES).is_err() {
        return 0;
    }
    if !cert_files::is_pem(&head) {
        return u64::from(!head.is_empty());
    }
    let file = Arc::new(InputFile::detached(path, Layout::Certs));
    let digest = compression::FileDigest::default();
    let mut stream = streams::RecordStream::new(file, digest, reader, streams::Records::Pem, head);
    let mut pending = VecDeque::new();
    let mut count = 0u64;
    loop {
        let done = stream.read_next(&mut pending);
        for chunk in pending.drain(..) {
            if let Chunk::Certs { data, .. } = chunk {
                count += cert_files::pem_blobs(&data).len() as u64;
                buffers::give(data);
            }
        }
        if done {
            return count;
        }
    }
}

/// Gives `--start-index` to the one page whose name does not tell its start,
/// or to JSON-lines files (whose entries may then omit `index`).
fn assign_start_index(files: &mut [InputFile], start_index: Option<u64>) -> Result<()> {
    let unnamed: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].layout == Layout::Page && files[i].start_index.is_none())
        .collect();
    match (start_index, unnamed.as_slice()) {
        (_, []) => {}
        (Some(start), [only]) => files[*only].start_index = Some(start),
        (Some(_), [first, ..]) => {
            return Err(Error::Usage(format!(
                "--start-index applies to a single page, but {} pages have no <start>-<end>.json name (first: {})",
                unnamed.len(),
                files[*first].name
            )))
        }
        (None, [first, ..]) => {
            return Err(Error::Input {
                path: files[*first].path.clone(),
                message: "cannot tell the index of this page's first entry: name the file <start>-<end>.json or pass --start-index N".into(),
            })
        }
    }
    if let Some(start) = start_index {
        for f in files.iter_mut().filter(|f| f.layout == Layout::Lines) {
            f.start_index = Some(start);
        }
    }
    Ok(())
}

/// How a page that stopped early ends: one reject for the entries from
/// `ordinal` on.
#[derive(Debug, Clone, PartialEq)]
pub struct PageEnd {
    /// The ordinal of the first entry lost.
    pub ordinal: u64,
    /// Where the page broke.
    pub position: crate::reject::Position,
    /// `json` (the page's outline broke) or `io` (reading failed).
    pub kind: crate::reject::RejectKind,
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
    /// Whole lines of a JSON-lines file, or whole rows of a CSV file.
    Lines {
        /// The file.
        file: Arc<InputFile>,
        /// The lines, each ending in `\n` except perhaps the file's last.
        data: Vec<u8>,
        /// 1-based number of the first line.
        first_line: u64,
        /// Offset of the first line in the decompressed stream.
        first_byte: u64,
    },
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
            Chunk::Lines { data, .. } => {
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
    archive: zip::ZipArchive<zip_archive::CountingFile>,
    tiles: std::vec::IntoIter<(usize, TileCoord)>,
}

impl ZipState {
    /// The next tile's chunk, or `None` when all are read.
    fn next_chunk(&mut self) -> Option<Chunk> {
        let (index, coord) = self.tiles.next()?;
        let (member, data, read_error) = zip_archive::read_tile(&mut self.archive, index);
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
            Layout::Lines => streams::Records::Lines,
            Layout::AxemanCsv => streams::Records::Csv,
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
            match zip_archive::open(&file.path, self.counter.clone()) {
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
            Layout::Lines | Layout::AxemanCsv => {
                let kind = if file.layout == Layout::AxemanCsv {
                    streams::Records::Csv
                } else {
                    streams::Records::Lines
                };
                let stream = streams::RecordStream::new(file, digest, reader, kind, Vec::new());
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

/// Completes a file's SHA-256 once reading it is over. A file that cannot
/// be read again keeps no digest (its manifest entry says so).
fn finish_digest(file: &InputFile, digest: &compression::FileDigest) {
    if let Ok(d) = digest.finish(&file.path) {
        let _ = file.sha256.set(d);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names() {
        assert_eq!(page_range("0-999.json"), Some((0, 999)));
        assert_eq!(page_range("1000-1999.json.gz"), Some((1000, 1999)));
        assert_eq!(page_range("5-5.json.zst"), Some((5, 5)));
        assert_eq!(page_range("9-1.json"), None);
        assert_eq!(page_range("a-1.json"), None);
        assert_eq!(page_range("0-999.jsonl"), None);
        assert_eq!(page_range("entries.json"), None);
    }

    #[test]
    fn log_names_must_be_path_safe() {
        assert!(validate_log_name("argon2024").is_ok());
        // Escaped in the directory name, so any printable name works.
        assert!(validate_log_name("a/b").is_ok());
        assert!(validate_log_name("..").is_ok());
        assert!(validate_log_name("x=y").is_ok());
        assert!(validate_log_name("").is_err());
        assert!(validate_log_name("a\u{1b}b").is_err());
        assert!(validate_log_name(&"x".repeat(300)).is_err());
    }
}
