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
