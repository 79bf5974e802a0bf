//! Finding the files of a dump: walking the inputs, deciding each file's
//! log, layout and first index, and putting them in ingest order.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use super::compression;
use super::format::tiles::{self, Issuers};
use super::format::{self, cert_files, ct_archive, get_entries, RecordFormat};
use crate::ct::tile::TileCoord;
use crate::error::{Error, Result};

/// How an input file holds its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One get-entries `{"entries":[...]}` document.
    Page,
    /// A stream of text records (JSON lines, Axeman CSV, ...).
    Records(&'static RecordFormat),
    /// A static-ct-api data tile (its place in the log from its path).
    Tile(TileCoord),
    /// A ct-archive zip of data tiles.
    Zip,
    /// PEM or DER certificates (a folder of them is a log without a log).
    Certs,
}

impl Layout {
    /// JSON lines.
    pub const LINES: Layout = Layout::Records(&get_entries::JSON_LINES);
}

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
    /// BLAKE3 of the file's bytes, set once the reader has read it all.
    pub blake3: Arc<OnceLock<[u8; 32]>>,
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
            blake3: Arc::default(),
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
    /// Directories a `pipeline fetch` wrote (they hold its verified state),
    /// with the log their files go to.
    pub fetched: Vec<(String, PathBuf)>,
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
        || format::BY_NAME.iter().any(|f| (f.is_name)(base))
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
/// for a directory name once escaped (see [`crate::dataset::layout`]).
pub fn validate_log_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.chars().any(char::is_control)
        || crate::dataset::layout::dir_name(name).len() > 255;
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
    if dir.join(crate::fetch::state::STATE_FILE).is_file() {
        disc.fetched.push((log.to_owned(), dir.to_path_buf()));
    }
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
fn sniff_layout(path: &Path) -> std::result::Result<Layout, String> {
    let mut head = Vec::new();
    let sniffed = compression::open(path, Arc::new(AtomicU64::new(0)))
        .and_then(|mut r| compression::read_up_to(&mut r, &mut head, 64 * 1024));
    match sniffed {
        Ok(()) if get_entries::is_tree_head(&head) => Err(
            "a signed tree head (a get-sth response), not log entries: refused \
             (ingest reads get-entries responses)"
                .into(),
        ),
        Ok(()) => Ok(get_entries::detect_layout(&head)),
        // Unreadable: the name decides; the reader reports the error.
        Err(_) if page_range(&file_name(path)).is_some() => Ok(Layout::Page),
        Err(_) => Ok(get_entries::detect_layout(&head)),
    }
}

/// Finds the input files under `inputs` (files, or directories walked
/// recursively), decides each one's log, layout and start index, and orders
/// them: by directory, then by start index, then by name.
pub fn discover(inputs: &[PathBuf], opts: &DiscoverOptions) -> Result<Discovery> {
    if let Some(log) = &opts.log {
        validate_log_name(log)?;
    }
    let mut disc = Discovery::default();
    let found = find(inputs, opts, &mut disc)?;
    let mut files = Vec::with_capacity(found.len());
    for f in found {
        if let Some(file) = settle(f, opts, &mut disc)? {
            files.push(file);
        }
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

/// The files named by `inputs` or found under them, each with its log (by
/// `--log`, else by the directory given or holding it).
fn find(inputs: &[PathBuf], opts: &DiscoverOptions, disc: &mut Discovery) -> Result<Vec<Found>> {
    let mut found: Vec<Found> = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let log = match &opts.log {
                Some(l) => l.clone(),
                None => dir_log_name(input)?,
            };
            walk(input, &log, &mut found, disc)?;
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
    Ok(found)
}

/// Settles a found file: refuses what is not a regular file (into
/// `disc.refused`), decides its layout (and, for archives and CSV, the log
/// they name), and records its size and time.
fn settle(f: Found, opts: &DiscoverOptions, disc: &mut Discovery) -> Result<Option<InputFile>> {
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
            return Ok(None);
        }
        Err(e) => {
            let why = match fs::symlink_metadata(&path) {
                Ok(l) if l.file_type().is_symlink() => format!("a broken symlink: {e}"),
                _ => e.to_string(),
            };
            disc.refused.push((path, why));
            return Ok(None);
        }
    };
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
    let name = file_name(&path).into_owned();
    let layout = match layout {
        Some(l) => l,
        None => match layout_of(&path, &name, opts, &mut log, &mut issuers, disc)? {
            Some(l) => l,
            None => return Ok(None),
        },
    };
    validate_log_name(&log)?;
    let start_index = match layout {
        Layout::Tile(coord) => Some(coord.start_index()),
        _ => page_range(&name).map(|(start, _)| start),
    };
    Ok(Some(InputFile {
        name: Arc::from(path.display().to_string()),
        path,
        log: Arc::from(log),
        size: meta.len(),
        mtime_ns,
        blake3: Arc::default(),
        layout,
        start_index,
        issuers,
    }))
}

/// The layout of a file found outside a tile tree, by name and content; a
/// tile archive or an Axeman CSV file also names its log (unless `--log`
/// does) and, for an archive, its issuers and superseded tiles. `None`: the
/// file is refused (into `disc.refused`), as a JSON file that is a signed
/// tree head rather than entries.
fn layout_of(
    path: &Path,
    name: &str,
    opts: &DiscoverOptions,
    log: &mut String,
    issuers: &mut Option<Arc<Issuers>>,
    disc: &mut Discovery,
) -> Result<Option<Layout>> {
    if is_zip_name(name) {
        let archive =
            ct_archive::open(path, Arc::new(AtomicU64::new(0))).map_err(|e| Error::Input {
                path: path.to_path_buf(),
                message: format!("not a readable zip archive: {e}"),
            })?;
        if opts.log.is_none() {
            if let Some(stated) = archive.stated_log {
                *log = stated;
            }
        }
        disc.superseded.extend(
            archive
                .superseded
                .iter()
                .map(|m| PathBuf::from(format!("{}!{m}", path.display()))),
        );
        *issuers = Some(Arc::new(archive.issuers));
        return Ok(Some(Layout::Zip));
    }
    let base = base_name(name);
    if cert_files::is_cert_name(base) {
        return Ok(Some(Layout::Certs));
    }
    if let Some(&format) = format::BY_NAME.iter().find(|f| (f.is_name)(base)) {
        if opts.log.is_none() {
            if let Some(stated) = (format.stated_log_name)(path) {
                *log = stated;
            }
        }
        return Ok(Some(Layout::Records(format)));
    }
    match sniff_layout(path) {
        Ok(layout) => Ok(Some(layout)),
        Err(why) => {
            disc.refused.push((path.to_path_buf(), why));
            Ok(None)
        }
    }
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
        let count = cert_files::count_certificates(&files[i].path);
        let start = next.entry(files[i].log.clone()).or_insert(0);
        files[i].start_index = Some(*start);
        *start += count;
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
        for f in files.iter_mut().filter(|f| f.layout == Layout::LINES) {
            f.start_index = Some(start);
        }
    }
    Ok(())
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
