//! ct-archive zip files (github.com/geomys/ct-archive): the data tiles of up
//! to 256³ entries of a log, with `checkpoint`, `log.v3.json` and `issuer/*`,
//! in one zip. Read in place: the central directory lists the members, and
//! each data tile is decompressed straight into memory, one at a time.
//!
//! Members may sit under a top folder (`nimbus2024/tile/data/...`); the part
//! after the last `tile/data/` places a tile.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zip::ZipArchive;

use super::tiles::{self, Issuers};
use crate::ct::tile::{self, TileCoord};

/// A zip file's bytes, counted as they are read (for progress).
pub struct CountingFile {
    inner: BufReader<File>,
    counter: Arc<AtomicU64>,
}

impl CountingFile {
    /// Opens `path`; `counter` accumulates bytes read.
    pub fn open(path: &Path, counter: Arc<AtomicU64>) -> io::Result<Self> {
        Ok(CountingFile {
            inner: BufReader::with_capacity(
                256 * 1024,
                crate::ingest::compression::open_input(path)?,
            ),
            counter,
        })
    }
}

impl Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for CountingFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// What a tile archive holds.
pub struct TileArchive {
    /// The open archive.
    pub archive: ZipArchive<CountingFile>,
    /// Data tiles to read (member index, place), in index order.
    pub tiles: Vec<(usize, TileCoord)>,
    /// Member names of partial tiles another tile covers.
    pub superseded: Vec<String>,
    /// The issuers it carries.
    pub issuers: Issuers,
    /// The log's name as the archive states it (checkpoint origin, log.v3.json).
    pub stated_log: Option<String>,
}

/// Where a member sits relative to the log's prefix inside the zip.
fn after<'a>(name: &'a str, marker: &str) -> Option<&'a str> {
    name.rfind(marker).map(|i| &name[i + marker.len()..])
}

/// Opens a tile archive and lists its members.
pub fn open(path: &Path, counter: Arc<AtomicU64>) -> io::Result<TileArchive> {
    let file = CountingFile::open(path, counter)?;
    let mut archive = ZipArchive::new(file).map_err(io::Error::other)?;
    let mut found = Vec::new();
    let mut issuer_members = Vec::new();
    let mut checkpoint = None;
    let mut log_json = None;
    for i in 0..archive.len() {
        let Some(Ok(name)) = archive.name_for_index(i) else {
            continue;
        };
        let name = name.into_owned();
        if name.ends_with('/') {
            continue;
        }
        if let Some(rel) = after(&name, "tile/data/") {
            let parts: Vec<&str> = rel.split('/').collect();
            if let Some(coord) = tile::parse_tile_path(&parts) {
                found.push((coord, (i, name.clone())));
            }
        } else if let Some(fp) = after(&name, "issuer/") {
            issuer_members.push((i, fp.to_owned()));
        } else if name.rsplit('/').next() == Some("checkpoint") {
            checkpoint = Some(i);
        } else if name.rsplit('/').next() == Some("log.v3.json") {
            log_json = Some(i);
        }
    }
    let mut read_text = |i: Option<usize>| -> Option<String> {
        let mut member = archive.by_index(i?).ok()?;
        let (bytes, _) = tiles::read_limited(&mut member, 1 << 20).ok()?;
        String::from_utf8(bytes).ok()
    };
    let checkpoint = read_text(checkpoint);
    let log_json = read_text(log_json);
    let stated_log = tile::stated_log_name(checkpoint.as_deref(), log_json.as_deref());
    let mut issuers = Issuers {
        has_dir: !issuer_members.is_empty(),
        ..Issuers::default()
    };
    for (i, fp) in issuer_members {
        let bytes = archive
            .by_index(i)
            .map_err(|e| e.to_string())
            .and_then(|mut m| {
                tiles::read_limited(&mut m, 1 << 20)
                    .map(|(b, _)| b)
                    .map_err(|e| e.to_string())
            });
        issuers.add(&fp, bytes);
    }
    let (kept, superseded) = tiles::choose_tiles(found);
    Ok(TileArchive {
        archive,
        tiles: kept.into_iter().map(|(coord, (i, _))| (i, coord)).collect(),
        superseded: superseded.into_iter().map(|(_, name)| name).collect(),
        issuers,
        stated_log,
    })
}

/// Reads member `index`: its bytes (gunzipped if they are gzip), up to
/// [`tiles::MAX_TILE_BYTES`]. The error names what failed; the bytes read
/// before it are returned with it.
pub fn read_tile(
    archive: &mut ZipArchive<CountingFile>,
    index: usize,
) -> (String, Vec<u8>, Option<String>) {
    let mut member = match archive.by_index(index) {
        Ok(m) => m,
        Err(e) => return (format!("#{index}"), Vec::new(), Some(e.to_string())),
    };
    let name = member
        .name()
        .map(|n| n.into_owned())
        .unwrap_or_else(|_| format!("#{index}"));
    let mut raw =
        crate::ingest::buffers::take(member.size().min(tiles::MAX_TILE_BYTES as u64) as usize);
    let read = member
        .by_ref()
        .take(tiles::MAX_TILE_BYTES as u64 + 1)
        .read_to_end(&mut raw);
    let (data, error) = tiles::gunzip_if_gzip(raw);
    let error = match read {
        Err(e) => Some(format!(
            "reading the member failed at byte {}: {e}",
            data.len()
        )),
        Ok(_) => error,
    };
    (name, data, error)
}
