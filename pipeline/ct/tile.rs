//! Where entries sit in a tiled log (c2sp.org/static-ct-api): data tile
//! coordinates and paths, and the log name a log states about itself.

/// Entries in a full data tile.
pub const TILE_WIDTH: u16 = 256;

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
        Some(url_without_scheme(url))
    };
    partition_safe(&origin.or_else(from_json)?)
}

/// The log name a log URL gives (as in the log list and Axeman CSV rows):
/// the URL without its scheme and trailing `/`, made a valid partition name
/// (`https://ct.example.com/logs/argon/` gives `ct.example.com_logs_argon`).
pub fn log_name_from_url(url: &str) -> Option<String> {
    partition_safe(&url_without_scheme(url))
}

fn url_without_scheme(url: &str) -> String {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// `/`, `\`, `=` and control characters become `_`; empty and dot-names are none.
fn partition_safe(name: &str) -> Option<String> {
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
        assert_eq!(
            log_name_from_url("https://ct.googleapis.com/logs/us1/argon2025h1/").as_deref(),
            Some("ct.googleapis.com_logs_us1_argon2025h1")
        );
        assert_eq!(log_name_from_url("https://"), None);
    }
}
