//! Snapshot reads: a reader sees exactly the data files that the last
//! completed commit names, never a directory listing.
//!
//! The manifest is the commit point: a commit first moves its new files into
//! the partitions, then renames the new manifest into place, and only then
//! deletes the files it retired. A reader that took the old manifest keeps
//! reading the old files; one that took the new manifest reads the new ones.
//!
//! Retired files must outlive the readers that still use them. Each
//! manifest carries a generation (one more at each commit). A reader holds a
//! shared lock on `DIR/_readers/<generation>` for as long as it reads; after
//! renaming a manifest of generation G into place, the writer takes each
//! `_readers/<g>` with g < G exclusively (waiting for the readers of older
//! snapshots to finish, never for newer ones), removes it, and then deletes
//! the retired files. A reader that locks its file after the writer checked
//! it finds, on reading the manifest's generation again, that the snapshot
//! moved on, and starts over with the new one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::dataset::manifest::{self, FileRecord, Manifest, ManifestEntry};
use crate::error::{Error, Result};
use crate::notes::{Level, Reporter};

/// The directory of reader locks inside a dataset.
pub const READERS_DIR: &str = "_readers";

/// The tables whose files the manifest names.
pub const DATA_TABLES: &[&str] = &["certs", "rejects"];

/// Whether `rel` is the path of a data file as the manifest and commit
/// records name it: `<certs|rejects>/log=<name>/<file>.parquet`, relative,
/// normalised, with no `.`/`..` or root component.
pub fn is_data_file(rel: &str) -> bool {
    use std::path::Component;
    let parts: Vec<&str> = rel.split('/').collect();
    let [table, partition, file] = parts.as_slice() else {
        return false;
    };
    let normal = Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    normal
        && DATA_TABLES.contains(table)
        && crate::dataset::layout::log_of_dir(partition).is_some()
        && file.ends_with(".parquet")
        && !file.starts_with('.')
}

/// One consistent state of a dataset, held open for reading.
#[derive(Debug)]
pub struct Snapshot {
    /// The dataset directory, canonical.
    pub data: PathBuf,
    /// The manifest read.
    pub manifest: Manifest,
    /// The data files it names (dataset-relative), with what the manifest
    /// records of each (`None` for manifests of older releases).
    pub files: BTreeMap<String, Option<FileRecord>>,
    /// Paths the manifest names that are not data files of the dataset
    /// (a damaged or forged manifest); never read.
    pub foreign: Vec<String>,
    _hold: Option<File>,
}

impl Snapshot {
    /// The manifest's entries.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.manifest.entries
    }

    /// The absolute paths of the data files of `table` (all logs).
    pub fn table_files(&self, table: &str) -> Vec<PathBuf> {
        let prefix = format!("{table}/");
        self.files
            .keys()
            .filter(|f| f.starts_with(&prefix))
            .map(|f| self.data.join(f))
            .collect()
    }
}

/// The data files a manifest names, split into those that are data files of
/// the dataset and those that are not.
pub(crate) fn named_files(m: &Manifest) -> (BTreeMap<String, Option<FileRecord>>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut foreign = Vec::new();
    for e in &m.entries {
        for f in &e.output_files {
            if is_data_file(f) {
                let record = m.files.as_ref().and_then(|r| r.get(f).copied());
                files.insert(f.clone(), record);
            } else if !foreign.contains(f) {
                foreign.push(f.clone());
            }
        }
    }
    (files, foreign)
}

/// Opens a snapshot of the dataset at `data` for reading: the current
/// manifest, held against retirement of its files until dropped.
pub fn open(data: &Path) -> Result<Snapshot> {
    let data = fs::canonicalize(data).map_err(|e| Error::io(data, e))?;
    if !is_dataset(&data) {
        // Reading it as an empty dataset would answer "0 rows" to a typo.
        return Err(Error::Input {
            path: data,
            message: format!(
                "is not a dataset: it has no {}, certs/ or rejects/ \
                 (`pipeline ingest DUMP... --out DIR` makes one)",
                manifest::MANIFEST_FILE
            ),
        });
    }
    loop {
        let manifest = manifest::read_manifest(&data)?;
        let hold = hold(&data, manifest.generation)?;
        if manifest::generation(&data)? != manifest.generation {
            // A commit landed between reading the manifest and locking: the
            // files it retired may already be gone. Take the new state.
            continue;
        }
        let (files, foreign) = named_files(&manifest);
        return Ok(Snapshot {
            data,
            manifest,
            files,
            foreign,
            _hold: hold,
        });
    }
}

/// Whether `data` holds a dataset: a manifest, or the tables of a first
/// ingest that has not committed one yet.
fn is_dataset(data: &Path) -> bool {
    manifest::manifest_path(data).exists()
        || DATA_TABLES
            .iter()
            .chain(["findings"].iter())
            .any(|t| data.join(t).is_dir())
}

/// A snapshot for a writer that holds the dataset's lock (nothing can
/// retire files under it, so no reader lock is taken).
pub fn open_locked(data: &Path) -> Result<Snapshot> {
    let data = fs::canonicalize(data).map_err(|e| Error::io(data, e))?;
    let manifest = manifest::read_manifest(&data)?;
    let (files, foreign) = named_files(&manifest);
    Ok(Snapshot {
        data,
        manifest,
        files,
        foreign,
        _hold: None,
    })
}

/// Takes the shared reader lock of `generation`. Where the dataset cannot
/// be written (a read-only copy or mount), no writer can retire files
/// either, and the snapshot is read without a lock.
fn hold(data: &Path, generation: u64) -> Result<Option<File>> {
    let dir = data.join(READERS_DIR);
    match fs::symlink_metadata(&dir) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::Input {
                path: dir,
                message: "is not a directory of the dataset (a symlink or another kind of file)"
                    .into(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if read_only(&e) => return Ok(None),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&dir, e)),
        },
        Err(e) => return Err(Error::io(&dir, e)),
    }
    let path = dir.join(generation.to_string());
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if read_only(&e) => match File::open(&path) {
            Ok(f) => f,
            Err(_) => return Ok(None),
        },
        Err(e) => return Err(Error::io(&path, e)),
    };
    file.lock_shared().map_err(|e| Error::io(&path, e))?;
    Ok(Some(file))
}

fn read_only(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
    )
}

/// Waits until no reader of a snapshot older than `generation` remains, and
/// removes their lock files (the writer holds the dataset lock, and the
/// manifest of `generation` is in place). Returns how many older
/// generations had to be waited for.
pub fn retire_readers(data: &Path, generation: u64, reporter: &dyn Reporter) -> Result<usize> {
    let dir = data.join(READERS_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut waited = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(g) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        if g >= generation {
            continue;
        }
        let path = entry.path();
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                if waited == 0 {
                    reporter.note(
                        Level::Info,
                        format!(
                            "committed; waiting for readers of an earlier snapshot of {} to finish \
                             before deleting the files this commit retired",
                            crate::text::path(data)
                        ),
                    );
                }
                waited += 1;
                file.lock().map_err(|e| Error::io(&path, e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(waited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_data_file_paths_are_data_files() {
        assert!(is_data_file("certs/log=a/part-1.parquet"));
        assert!(is_data_file("rejects/log=a b%2F/x.parquet"));
        for bad in [
            "/etc/passwd",
            "../x.parquet",
            "certs/log=a/../../x.parquet",
            "certs/log=a/./x.parquet",
            "certs/log=/x.parquet",
            "certs/x.parquet",
            "findings/log=a/x.parquet",
            "certs/log=a/x.json",
            "certs/log=a/.x.parquet",
            "manifest.parquet",
            "certs//log=a/x.parquet",
        ] {
            assert!(!is_data_file(bad), "{bad}");
        }
    }
}
