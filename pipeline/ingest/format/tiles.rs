//! static-ct-api data tiles (c2sp.org/static-ct-api): a log's monitoring
//! prefix as a directory tree, or a ct-archive zip holding one.
//!
//! ```text
//! <prefix>/tile/data/x001/x234/067        full tile 1234067: entries 256·N .. 256·N+255
//! <prefix>/tile/data/x001/x234/067.p/17   partial tile: its first 17 entries
//! <prefix>/issuer/<lowercase hex sha256>  one issuer certificate (DER)
//! <prefix>/checkpoint, log.v3.json        the log's origin line and description
//! ```
//!
//! Only data tiles hold entries; the Merkle hash tiles (`tile/0`..`tile/5`)
//! are not read. Where a full tile and partial tiles of the same index are
//! present, the full one is read; of several partial ones, the widest.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::ct::tile::{parse_tile_path, TileCoord};
use crate::error::{Error, Result};

use std::sync::Arc;

use crate::ct::leaf::{self, LogEntry};
use crate::ingest::decode::{decode_each, index_at, ChunkOutput, Outcome};
use crate::ingest::reject::{Position, RejectKind, RejectRecord};
use crate::ingest::InputFile;
use crate::x509::cert_record::{self, ExtractOptions};

/// Largest data tile accepted, decompressed (256 entries of a few KB; a
/// hostile one is cut here and reported).
pub const MAX_TILE_BYTES: usize = 64 << 20;

/// The data tiles of a log, deduplicated: per index, the full tile if
/// present, else the widest partial one. Returns (tiles kept in index
/// order, tiles left out because another covers them).
pub fn choose_tiles<T>(tiles: Vec<(TileCoord, T)>) -> (Vec<(TileCoord, T)>, Vec<T>) {
    let mut by_n: BTreeMap<u64, (TileCoord, T)> = BTreeMap::new();
    let mut dropped = Vec::new();
    for (coord, item) in tiles {
        match by_n.remove(&coord.n) {
            Some((old, old_item)) if old.width >= coord.width => {
                dropped.push(item);
                by_n.insert(coord.n, (old, old_item));
            }
            Some((_, old_item)) => {
                dropped.push(old_item);
                by_n.insert(coord.n, (coord, item));
            }
            None => {
                by_n.insert(coord.n, (coord, item));
            }
        }
    }
    (by_n.into_values().collect(), dropped)
}

/// A data tile file found under a directory tree.
#[derive(Debug, Clone)]
pub struct TileFile {
    /// The file.
    pub path: PathBuf,
    /// Its place in the log.
    pub coord: TileCoord,
}

/// What a tiled log directory holds.
#[derive(Debug, Default)]
pub struct TileTree {
    /// Data tiles to read, in index order.
    pub tiles: Vec<TileFile>,
    /// Partial tiles another tile covers.
    pub superseded: Vec<PathBuf>,
    /// Files under `tile/data/` whose path is not a tile's.
    pub unnamed: Vec<PathBuf>,
    /// The issuer fingerprints the log serves.
    pub issuers: Issuers,
}

/// Whether `dir` is the monitoring prefix of a tiled log (has `tile/data/`).
pub fn is_tile_root(dir: &Path) -> bool {
    dir.join("tile").join("data").is_dir()
}

/// Lists the data tiles and issuers under a tiled log's directory.
pub fn scan_tree(root: &Path) -> Result<TileTree> {
    let data = root.join("tile").join("data");
    let mut found = Vec::new();
    let mut unnamed = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if ty.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&data).unwrap_or(&path);
            let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
            match parse_tile_path(&parts) {
                Some(coord) => found.push((coord, path)),
                None if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.')) => {}
                None => unnamed.push(path),
            }
        }
    }
    let (kept, superseded) = choose_tiles(found);
    let issuers = Issuers::from_dir(&root.join("issuer"))?;
    unnamed.sort();
    Ok(TileTree {
        tiles: kept
            .into_iter()
            .map(|(coord, path)| TileFile { path, coord })
            .collect(),
        superseded,
        unnamed,
        issuers,
    })
}

/// The issuer certificates a tiled log serves, by SHA-256 fingerprint.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Issuers {
    /// Fingerprints of the issuer files present (their names, checked
    /// against their content).
    pub present: HashSet<[u8; 32]>,
    /// Issuer files whose content does not hash to their name, or unreadable.
    pub bad: Vec<(String, String)>,
    /// Whether the log came with an `issuer/` directory at all.
    pub has_dir: bool,
}

impl Issuers {
    /// Reads `dir` (`<prefix>/issuer`); absent means no issuers are known.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut out = Issuers::default();
        let Ok(read) = fs::read_dir(dir) else {
            return Ok(out);
        };
        out.has_dir = true;
        for entry in read {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let bytes = fs::read(entry.path()).map_err(|e| Error::io(entry.path(), e));
            out.add(&name, bytes.map_err(|e| e.to_string()));
        }
        Ok(out)
    }

    /// Records the issuer file `name` with content `bytes`.
    pub fn add(&mut self, name: &str, bytes: std::result::Result<Vec<u8>, String>) {
        use sha2::{Digest, Sha256};
        let parsed = hex::decode(name)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok());
        match (parsed, bytes) {
            (Some(fp), Ok(der)) if <[u8; 32]>::from(Sha256::digest(&der)) == fp => {
                self.present.insert(fp);
            }
            (Some(_), Ok(_)) => self
                .bad
                .push((name.to_owned(), "content does not hash to the name".into())),
            (None, _) => self
                .bad
                .push((name.to_owned(), "name is not a hex SHA-256".into())),
            (_, Err(e)) => self.bad.push((name.to_owned(), e)),
        }
    }
}

/// Reads at most `limit` bytes of a zip member or file into a vector.
pub fn read_limited(reader: &mut dyn Read, limit: usize) -> std::io::Result<(Vec<u8>, bool)> {
    let mut data = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut data)?;
    let over = data.len() > limit;
    data.truncate(limit);
    Ok((data, over))
}

/// Decompresses `raw` if it is gzip (tiles are often stored as served with
/// `Content-Encoding: gzip`), up to [`MAX_TILE_BYTES`]; also reports a tile
/// over that size. On a gzip error, returns what was decompressed before it.
pub fn gunzip_if_gzip(raw: Vec<u8>) -> (Vec<u8>, Option<String>) {
    let over = |data: &mut Vec<u8>| {
        (data.len() > MAX_TILE_BYTES).then(|| {
            data.truncate(MAX_TILE_BYTES);
            format!("tile larger than {MAX_TILE_BYTES} bytes; the rest was not read")
        })
    };
    if !raw.starts_with(&[0x1f, 0x8b]) {
        let mut raw = raw;
        let error = over(&mut raw);
        return (raw, error);
    }
    let mut data = crate::ingest::buffers::take(raw.len() * 3);
    let read = flate2::read::MultiGzDecoder::new(&raw[..])
        .take(MAX_TILE_BYTES as u64 + 1)
        .read_to_end(&mut data);
    crate::ingest::buffers::give(raw);
    match read {
        Err(e) => {
            let at = data.len();
            (
                data,
                Some(format!("gzip data is corrupt after {at} bytes: {e}")),
            )
        }
        Ok(_) => {
            let error = over(&mut data);
            (data, error)
        }
    }
}

/// Decodes a static-ct-api data tile: its entries are framed one after the
/// other (each one's length is known only once read), then extracted in
/// parallel. A tile that breaks off, or holds more or fewer entries than its
/// width, gives one reject for what is missing or extra.
pub(crate) fn decode_tile(
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
    let reject = |ordinal: u64, kind: RejectKind, reason: String| RejectRecord {
        entry_index: index_at(start, ordinal).ok(),
        source_file: source.clone(),
        position: Position::Entry { ordinal },
        kind,
        reason,
    };
    let (leaves, tail) = frame(data, coord, read_error);
    let issuers = file.issuers.clone();
    let mut out = decode_each(file, &leaves, opts, |_: &mut (), ordinal, leaf| {
        let ordinal = ordinal as u64;
        let index = start + ordinal;
        if let Ok(Some(stated)) = leaf::leaf_index(leaf.extensions) {
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
    });
    out.rejects
        .extend(tail.map(|(ordinal, kind, reason)| reject(ordinal, kind, reason)));
    if let Some(issuers) = issuers.filter(|i| i.has_dir) {
        out.missing_issuers = missing_issuers(&leaves, &issuers);
    }
    out
}

/// Frames the entries of a tile one after the other. Returns them, and for
/// a tile that breaks off or holds more or fewer entries than its width,
/// the one reject for what is missing or extra: (ordinal, kind, reason).
fn frame(
    data: &[u8],
    coord: TileCoord,
    read_error: Option<String>,
) -> (Vec<LogEntry<'_>>, Option<(u64, RejectKind, String)>) {
    let width = u64::from(coord.width);
    let mut leaves = Vec::with_capacity(coord.width as usize);
    let mut offset = 0usize;
    while offset < data.len() {
        let ordinal = leaves.len() as u64;
        if ordinal == width {
            let why = format!(
                "the tile holds more than its {width} entries: {} bytes after entry {}",
                data.len() - offset,
                width - 1
            );
            return (leaves, Some((ordinal, RejectKind::Framing, why)));
        }
        match leaf::decode_tile_leaf(&data[offset..]) {
            Ok((leaf, used)) => {
                leaves.push(leaf);
                offset += used;
            }
            Err(e) => {
                // Cut off mid-entry: the tile file is short (a partial
                // download), not malformed.
                let kind = match e {
                    leaf::FramingError::Truncated { .. } => RejectKind::Io,
                    _ => RejectKind::Framing,
                };
                let why = format!(
                    "{e} (at byte {offset} of the tile); entries from ordinal {ordinal} to {} could not be read",
                    width - 1
                );
                return (leaves, Some((ordinal, kind, why)));
            }
        }
    }
    let read = leaves.len() as u64;
    if read < width || read_error.is_some() {
        let why = read_error.unwrap_or_else(|| "the tile ends early".into());
        let why = format!(
            "{why}: {read} of its {width} entries were read; entries from ordinal {read} on are missing"
        );
        return (leaves, Some((read, RejectKind::Io, why)));
    }
    (leaves, None)
}

/// The chain fingerprints of `leaves` that the log's `issuer/` lacks,
/// sorted, each once.
fn missing_issuers(leaves: &[LogEntry<'_>], issuers: &Issuers) -> Vec<[u8; 32]> {
    let mut missing: Vec<[u8; 32]> = leaves
        .iter()
        .filter_map(|l| match &l.chain {
            leaf::Chain::Fingerprints(fps) => Some(fps),
            leaf::Chain::Certs(_) => None,
        })
        .flatten()
        .filter(|fp| !issuers.present.contains(*fp))
        .copied()
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_tile_wins_over_partial_ones() {
        let t = |n, width, name| (TileCoord { n, width }, name);
        let (kept, dropped) = choose_tiles(vec![
            t(0, 17, "0.p/17"),
            t(0, 256, "0"),
            t(0, 20, "0.p/20"),
            t(1, 3, "1.p/3"),
            t(1, 9, "1.p/9"),
        ]);
        let kept: Vec<&str> = kept.iter().map(|k| k.1).collect();
        assert_eq!(kept, vec!["0", "1.p/9"]);
        let mut dropped = dropped;
        dropped.sort();
        assert_eq!(dropped, vec!["0.p/17", "0.p/20", "1.p/3"]);
    }
}
