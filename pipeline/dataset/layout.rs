//! Hive partition directories: `<table>/log=<name>/`, the one place a log
//! name becomes a directory name and back.
//!
//! Names are escaped as Hive and Spark escape partition values (and as
//! DataFusion, DuckDB and Spark decode them): `%XX` for control characters
//! and for `"#%'*/:=?\{[]^`, so that any log name reads back exactly as
//! given, whichever engine reads the dataset.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The partition column's name.
pub const COLUMN: &str = "log";

/// Whether `c` is escaped in a partition value (Spark's
/// `ExternalCatalogUtils.escapePathName` set).
fn needs_escape(c: char) -> bool {
    c.is_ascii_control()
        || matches!(
            c,
            '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
        )
}

/// A log name as a partition value in a directory name.
pub fn escape(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    for c in log.chars() {
        if needs_escape(c) {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// The log name a partition value stands for (what [`escape`] wrote, or a
/// hand-made directory: `%XX` sequences are decoded, anything else kept).
pub fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = &bytes[i + 1..i + 3];
            if hex.iter().all(u8::is_ascii_hexdigit) {
                let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                let b = digit(hex[0]) * 16 + digit(hex[1]);
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory name of a log's partition: `log=<escaped name>`.
pub fn dir_name(log: &str) -> String {
    format!("{COLUMN}={}", escape(log))
}

/// The partition directory of one log in one table.
pub fn dir(root: &Path, table: &str, log: &str) -> PathBuf {
    root.join(table).join(dir_name(log))
}

/// The dataset-relative prefix of a log's files in a table: `<table>/log=<escaped>/`.
pub fn prefix(table: &str, log: &str) -> String {
    format!("{table}/{}/", dir_name(log))
}

/// The log of a partition directory name, if it is one.
pub fn log_of_dir(name: &str) -> Option<String> {
    name.strip_prefix("log=")
        .filter(|v| !v.is_empty())
        .map(unescape)
}

/// The table and log of a dataset-relative data file path
/// `<table>/log=<escaped>/<file>`.
pub fn of_file(rel: &str) -> Option<(&str, String)> {
    let mut parts = rel.splitn(3, '/');
    let table = parts.next()?;
    let log = log_of_dir(parts.next()?)?;
    parts.next()?;
    Some((table, log))
}

/// The data files of `table` under `root` (a dataset or a staging tree):
/// `(log, path)` of every regular `*.parquet` file in a `log=` partition,
/// sorted by path. A missing table directory holds none.
pub fn data_files(root: &Path, table: &str) -> std::io::Result<Vec<(String, PathBuf)>> {
    let dir = root.join(table);
    let parts = match std::fs::read_dir(&dir) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for part in parts {
        let part = part?;
        let Some(log) = part.file_name().to_str().and_then(log_of_dir) else {
            continue;
        };
        if !part.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(part.path())? {
            let f = f?;
            let path = f.path();
            if f.file_type()?.is_file() && path.extension().is_some_and(|x| x == "parquet") {
                out.push((log.clone(), path));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Every non-directory under `dir`, dataset-relative (`/`-separated).
pub fn files_under(data: &Path, dir: &Path, out: &mut std::collections::BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path: PathBuf = e.path();
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if is_dir {
            files_under(data, &path, out);
        } else if let Ok(rel) = path.strip_prefix(data) {
            out.insert(crate::text::path(rel));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_name_round_trips() {
        for name in [
            "argon2026h1",
            "ct log %41 #1 ?x",
            "a%2Fb",
            "a/b=c",
            "ct.example_a%20b",
            "沃通 log",
            "tab\there",
        ] {
            assert_eq!(unescape(&escape(name)), name, "{name}");
            assert!(!escape(name).contains('/'));
        }
        assert_eq!(dir_name("a/b %"), "log=a%2Fb %25");
        assert_eq!(
            of_file("certs/log=a%2Fb/x.parquet"),
            Some(("certs", "a/b".to_owned()))
        );
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%zz"), "%zz");
    }
}
