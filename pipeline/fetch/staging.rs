//! A fetch's staging area (`<log>/.fetch/`, a dot name `ingest` never
//! reads): files are written there whole, and move into the log's
//! directory only once the entries are proved against the signed root.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes a staged file whole under a temporary name, then renames it: a
/// staged name holds a complete file or none. Not synced one by one: a
/// staged file read back after a crash is hashed again like a download,
/// and [`sync_all`] syncs them all before they move into place.
pub fn stage(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp: PathBuf = path.with_extension("part");
    fs::write(&tmp, data).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Syncs the filesystem holding `dir` (every staged file at once).
pub fn sync_all(dir: &Path) -> Result<()> {
    let f = fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(target_os = "linux")]
    rustix::fs::syncfs(&f).map_err(|e| Error::io(dir, e.into()))?;
    #[cfg(not(target_os = "linux"))]
    f.sync_all().map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Syncs the staged files, then renames each (`rels`, relative to
/// `staging`) to the same place under `dir`.
pub fn move_into_place(staging: &Path, dir: &Path, rels: &[String]) -> Result<()> {
    sync_all(staging)?;
    for rel in rels {
        let (from, to) = (staging.join(rel), dir.join(rel));
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
    }
    Ok(())
}

/// Before a log's first fetch: its directory must be new, empty, or hold
/// an interrupted fetch (its staging area). Files that no fetch verified
/// would sit beside verified ones, and `ingest` would take them all alike;
/// a fetch always proves the log from its first entry, so it does not
/// start past them either.
pub fn check_first_fetch(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut found: Vec<String> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == crate::fetch::tiled::STAGING {
            return Ok(());
        }
        found.push(name);
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let shown: Vec<String> = found
        .iter()
        .take(3)
        .map(|n| crate::text::escape(n).into_owned())
        .collect();
    Err(Error::Input {
        path: dir.to_path_buf(),
        message: format!(
            "holds {} that no fetch verified ({}{}): a fetch proves a log from its first entry and keeps only verified files here; fetch into another directory, or move them away",
            if found.len() == 1 {
                "1 file".to_owned()
            } else {
                format!("{} files", found.len())
            },
            shown.join(", "),
            if found.len() > 3 { ", ..." } else { "" }
        ),
    })
}
