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

use crate::error::{Error, Result};

/// Entries in a full data tile.
pub const TILE_WIDTH: u16 = 256;

/// Largest data tile accepted, decompressed (256 entries of a few KB; a
/// hostile one is cut here and reported).
pub const MAX_TILE_BYTES: usize = 64 << 20;

/// Where a data tile sits in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TileCoord {
    /// The tile index N: its first entry is 256·N.
    pub n: u64,
    /// Entries in it: 256, or W for a partial tile.
    pub width: u16,
}

impl TileCoord {
    /// Index of the tile's first entry.
    pub fn start_index(self) -> u64 {
        self.n * u64::from(TILE_WIDTH)
    }
}

/// Parses a data tile's path below `tile/data/`, as components:
/// `["x001", "x234", "067"]` or `["x001", "234.p", "17"]` (a trailing `.gz`
/// on the last component is allowed).
pub fn parse_tile_path(parts: &[&str]) -> Option<TileCoord> {
    let (parts, width) = match parts {
        [head @ .., last_n, w] if last_n.ends_with(".p") => {
            let w = w.strip_suffix(".gz").unwrap_or(w);
            let width: u16 = w.parse().ok().filter(|w| (1..TILE_WIDTH).contains(w))?;
            if w.starts_with('0') {
                return None;
            }
            let mut v: Vec<&str> = head.to_vec();
            v.push(last_n.strip_suffix(".p")?);
            (v, width)
        }
        _ => {
            let mut v = parts.to_vec();
            let last = v.pop()?;
            v.push(last.strip_suffix(".gz").unwrap_or(last));
            (v, TILE_WIDTH)
        }
    };
    let (last, rest) = parts.split_last()?;
    let mut n = 0u64;
    for p in rest {
        n = n
            .checked_mul(1000)?
            .checked_add(three_digits(p.strip_prefix('x')?)?)?;
    }
    n = n.checked_mul(1000)?.checked_add(three_digits(last)?)?;
    // The index must fit entry indices in i64.
    (n < (i64::MAX as u64) / u64::from(TILE_WIDTH)).then_some(TileCoord { n, width })
}

/// The path of data tile `n` below `tile/data/`: `x001/x234/067`.
pub fn tile_path(n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        parts.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

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

/// The log name a tiled log states about itself: the checkpoint's origin
/// line, else log.v3.json's URL (without scheme), made a valid partition
/// name (`/` becomes `_`).
pub fn stated_log_name(checkpoint: Option<&str>, log_v3_json: Option<&str>) -> Option<String> {
    let origin = checkpoint
        .and_then(|c| c.lines().next())
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned);
    let from_json = || {
        let v: serde_json::Value = serde_json::from_str(log_v3_json?).ok()?;
        let url = v["url"].as_str().or_else(|| v["submission_url"].as_str())?;
        let url = url
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        Some(url.trim_end_matches('/').to_owned())
    };
    let name = origin.or_else(from_json)?;
    let name: String = name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '=') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    (!name.is_empty() && !name.starts_with('.')).then_some(name)
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
    let mut data = super::buffers::take(raw.len() * 3);
    let read = flate2::read::MultiGzDecoder::new(&raw[..])
        .take(MAX_TILE_BYTES as u64 + 1)
        .read_to_end(&mut data);
    super::buffers::give(raw);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_follow_the_spec() {
        let full = |n| TileCoord { n, width: 256 };
        assert_eq!(
            parse_tile_path(&["x001", "x234", "067"]),
            Some(full(1_234_067))
        );
        assert_eq!(parse_tile_path(&["000"]), Some(full(0)));
        assert_eq!(parse_tile_path(&["067.gz"]), Some(full(67)));
        assert_eq!(
            parse_tile_path(&["x001", "234.p", "17"]),
            Some(TileCoord { n: 1234, width: 17 })
        );
        assert_eq!(parse_tile_path(&["001", "234"]), None, "x prefix missing");
        assert_eq!(parse_tile_path(&["x01", "234"]), None);
        assert_eq!(parse_tile_path(&["234.p", "0"]), None);
        assert_eq!(parse_tile_path(&["234.p", "256"]), None);
        assert_eq!(parse_tile_path(&["234.p", "017"]), None);
        assert_eq!(parse_tile_path(&["checkpoint"]), None);
        assert_eq!(parse_tile_path(&[]), None);
        assert_eq!(full(3).start_index(), 768);
        assert_eq!(tile_path(1_234_067), "x001/x234/067");
        assert_eq!(tile_path(7), "007");
        for n in [0, 999, 1000, 1_000_000, 123_456_789] {
            let path = tile_path(n);
            let parts: Vec<&str> = path.split('/').collect();
            assert_eq!(parse_tile_path(&parts), Some(full(n)));
        }
    }

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

    #[test]
    fn log_names_from_the_checkpoint_or_log_json() {
        assert_eq!(
            stated_log_name(Some("rome.ct.example.com/2024h1\n123\nabc=\n"), None).as_deref(),
            Some("rome.ct.example.com_2024h1")
        );
        let json = r#"{"description":"x","url":"https://ct.example.com/logs/argon/"}"#;
        assert_eq!(
            stated_log_name(None, Some(json)).as_deref(),
            Some("ct.example.com_logs_argon")
        );
        assert_eq!(stated_log_name(Some(""), None), None);
    }
}
