//! Crash-safe changes to a dataset directory: a lock, a staging area, and a
//! commit record that makes a run's files and its manifest appear together.
//!
//! A run writes everything under `DIR/_staging/<run>/` (readers never look
//! there), then writes `COMMIT` — the list of renames into `DIR/certs/...`,
//! `DIR/rejects/...`, the new `manifest.parquet`, and the files it replaces —
//! synced, and only then renames. Whoever next takes the lock finishes a
//! staging area that has a `COMMIT` (roll forward) and deletes one that has
//! not (roll back), so a run killed at any moment leaves the dataset as if it
//! had either not started or completed.
//!
//! For tests of that claim, `PIPELINE_CRASH_AT=<point>` aborts the process
//! (as `kill -9` would) at the named point: `staged` (data written, no commit
//! record), `committed` (commit record written, nothing renamed) or
//! `mid_commit` (after the first rename).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::data_file;
use crate::dataset::manifest::{self, FileRecord, Manifest, ManifestEntry, MANIFEST_FILE};
use crate::dataset::snapshot::{self, is_data_file};
use crate::error::{Error, Result};
use crate::notes::{Level, Reporter};

/// The staging directory inside a dataset.
pub const STAGING_DIR: &str = "_staging";
/// The lock file inside a dataset.
pub const LOCK_FILE: &str = ".lock";
const COMMIT_FILE: &str = "COMMIT";

/// Aborts the process at a named point when `PIPELINE_CRASH_AT` names it.
pub fn crash_point(point: &str) {
    if std::env::var("PIPELINE_CRASH_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

/// Exclusive use of a dataset directory for writing; released on drop (or
/// by the operating system when the process dies).
#[derive(Debug)]
pub struct DatasetLock {
    _file: File,
}

/// Takes the dataset's write lock. When another run holds it: with `wait`,
/// says so and waits; without, fails with a message naming the holder.
pub fn lock(data: &Path, wait: bool, reporter: &dyn Reporter) -> Result<DatasetLock> {
    fs::create_dir_all(data).map_err(|e| Error::io(data, e))?;
    let path = data.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            if !wait {
                return Err(Error::Busy(format!(
                    "{} is being written by another pipeline run ({holder}); \
                     try again when it has finished, or pass --wait",
                    data.display()
                )));
            }
            reporter.note(
                Level::Info,
                format!(
                    "waiting for another pipeline run to finish with {} ({})",
                    crate::text::path(data),
                    crate::text::escape(holder)
                ),
            );
            file.lock().map_err(|e| Error::io(&path, e))?;
        }
        Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    let holder = format!(
        "pid {}, since {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    file.set_len(0)
        .and_then(|()| file.write_all(holder.as_bytes()))
        .map_err(|e| Error::io(&path, e))?;
    Ok(DatasetLock { _file: file })
}

/// The commit record: renames (staging-relative → dataset-relative) and
/// dataset-relative files to delete.
#[derive(Debug, Serialize, Deserialize)]
struct CommitRecord {
    moves: Vec<(String, String)>,
    deletes: Vec<String>,
}

/// One run's staging area, `DIR/_staging/<run>`.
#[derive(Debug)]
pub struct Staging {
    data: PathBuf,
    dir: PathBuf,
    verified: std::collections::BTreeMap<String, manifest::VerifiedLog>,
}

impl Staging {
    /// Creates the staging area of run `run_id` (the lock must be held).
    pub fn create(data: &Path, run_id: &str) -> Result<Self> {
        let staging = data.join(STAGING_DIR);
        if fs::symlink_metadata(&staging).is_ok() {
            real_dir(&staging, "the staging area")?;
        }
        let dir = staging.join(run_id);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            data: data.to_path_buf(),
            dir,
            verified: Default::default(),
        })
    }

    /// Records, in the manifest this run commits, what a fetch had proved
    /// of `log` (replacing what an earlier run recorded).
    pub fn record_verified(&mut self, log: &str, verified: manifest::VerifiedLog) {
        self.verified.insert(log.to_owned(), verified);
    }

    /// Where the run writes: a dataset-shaped tree.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the staged files (paths under [`Staging::dir`]) and the new
    /// manifest visible, and deletes `deletes` (dataset files the run
    /// replaces), atomically with respect to crashes. Returns the final paths.
    pub fn commit(
        self,
        staged: &[PathBuf],
        manifest_entries: &[ManifestEntry],
        deletes: &[PathBuf],
        reporter: &dyn Reporter,
    ) -> Result<Vec<PathBuf>> {
        let relative = |base: &Path, p: &Path| -> Result<String> {
            p.strip_prefix(base)
                .map(|r| r.to_string_lossy().into_owned())
                .map_err(|_| {
                    Error::Internal(format!("{} is outside {}", p.display(), base.display()))
                })
        };
        let mut moves = Vec::with_capacity(staged.len());
        for p in staged {
            let rel = relative(&self.dir, p)?;
            moves.push((rel.clone(), rel));
        }
        let deletes = deletes
            .iter()
            .map(|p| relative(&self.data, p))
            .collect::<Result<Vec<_>>>()?;
        let manifest = self.next_manifest(manifest_entries)?;
        manifest::write(&self.dir.join(MANIFEST_FILE), &manifest)?;
        let record = CommitRecord { moves, deletes };
        let tmp = self.dir.join(".COMMIT.tmp");
        let text = serde_json::to_vec(&record).expect("a commit record serialises");
        File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(&text)?;
                f.sync_all()
            })
            .map_err(|e| Error::io(&tmp, e))?;
        let path = self.dir.join(COMMIT_FILE);
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        sync_dir(&self.dir)?;
        crash_point("committed");
        let record = read_record(&self.data, &self.dir)?;
        apply(&self.data, &self.dir, &record, reporter)
    }

    /// The manifest this commit puts in place: `entries`, the next
    /// generation, and the size and rows of every data file they name
    /// (carried over from the current manifest, or read from the staged or
    /// stored file).
    fn next_manifest(&self, entries: &[ManifestEntry]) -> Result<Manifest> {
        let current = manifest::read_manifest(&self.data)?;
        let old = current.files.unwrap_or_default();
        let mut files = std::collections::BTreeMap::new();
        let mut name_facts = std::collections::BTreeMap::new();
        for rel in entries.iter().flat_map(|e| &e.output_files) {
            if files.contains_key(rel) {
                continue;
            }
            let staged = self.dir.join(rel);
            let (record, stamp) = if staged.exists() {
                file_record(&staged)?
            } else if let Some(r) = old.get(rel) {
                (*r, current.name_facts.get(rel).cloned())
            } else {
                file_record(&self.data.join(rel))?
            };
            files.insert(rel.clone(), record);
            if let Some(stamp) = stamp {
                name_facts.insert(rel.clone(), stamp);
            }
        }
        let mut verified = current.verified;
        verified.extend(self.verified.clone());
        // A log the manifest no longer holds has nothing verified in it.
        verified.retain(|log, _| entries.iter().any(|e| &e.log == log));
        Ok(Manifest {
            entries: entries.to_vec(),
            generation: current.generation + 1,
            files: Some(files),
            verified,
            name_facts,
        })
    }

    /// Deletes the staging area: nothing of the run becomes visible.
    pub fn abandon(self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Fails unless `path` is a real directory (not a symlink to one).
fn real_dir(path: &Path, what: &str) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Input {
            path: path.to_path_buf(),
            message: format!(
                "{what} is not a directory of the dataset (a symlink or another kind of file): \
                 nothing was changed; move it away and run again"
            ),
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Fails unless every existing directory between `data` and `rel`'s file is
/// a real directory, so that no rename or delete can reach outside `data`.
fn inside(data: &Path, rel: &str) -> Result<()> {
    let mut dir = data.to_path_buf();
    let mut parts = rel.split('/').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            break;
        }
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            _ => real_dir(&dir, "a partition directory")?,
        }
    }
    Ok(())
}

/// Reads and validates a staging area's commit record: every path it names
/// must be a data file of the dataset (see [`is_data_file`]) reached through
/// real directories only. A forged or damaged record is an error that names
/// it before anything is moved or deleted.
fn read_record(data: &Path, dir: &Path) -> Result<CommitRecord> {
    let path = dir.join(COMMIT_FILE);
    let bad = |message: String| Error::Input {
        path: path.clone(),
        message: format!("{message}; nothing was changed (run `pipeline verify` on the dataset)"),
    };
    let meta = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
    if !meta.is_file() {
        return Err(bad("the commit record is not a regular file".into()));
    }
    if meta.len() > MAX_RECORD_BYTES {
        return Err(bad(format!(
            "the commit record is {} bytes, more than any commit writes",
            meta.len()
        )));
    }
    let text = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let record: CommitRecord =
        serde_json::from_slice(&text).map_err(|e| bad(format!("unreadable commit record: {e}")))?;
    for (from, to) in &record.moves {
        for p in [from, to] {
            if !is_data_file(p) {
                return Err(bad(format!(
                    "the commit record names {}, which is not a data file of the dataset",
                    crate::text::escape(p)
                )));
            }
        }
        inside(data, to)?;
        inside(dir, from)?;
    }
    for p in &record.deletes {
        if !is_data_file(p) {
            return Err(bad(format!(
                "the commit record would delete {}, which is not a data file of the dataset",
                crate::text::escape(p)
            )));
        }
        inside(data, p)?;
    }
    Ok(record)
}

/// No commit this tool writes comes near this size (a path is under 300
/// bytes; a million files would be 300 MB).
const MAX_RECORD_BYTES: u64 = 1 << 30;

/// The size and footer row count of a data file, and the stamp of the
/// name facts its footer says it holds.
pub fn file_record(path: &Path) -> Result<(FileRecord, Option<String>)> {
    let size = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    let bad = |message| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    let meta = data_file::read(path).map_err(bad)?;
    let rows = data_file::rows_in(&meta).map_err(bad)?;
    let stamp = data_file::footer_value(&meta, crate::table::name_facts::FOOTER_KEY);
    Ok((FileRecord { size, rows }, stamp))
}

/// Carries out a validated commit record; returns the final paths of the moved files.
fn apply(
    data: &Path,
    dir: &Path,
    record: &CommitRecord,
    reporter: &dyn Reporter,
) -> Result<Vec<PathBuf>> {
    let mut finals = Vec::with_capacity(record.moves.len());
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (i, (from, to)) in record.moves.iter().enumerate() {
        let (from, to) = (dir.join(from), data.join(to));
        let parent = to.parent().unwrap_or(data).to_path_buf();
        if from.exists() {
            fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
            fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        } else if !to.exists() {
            return Err(Error::Input {
                path: from,
                message: "committed file is missing from the staging area and the dataset".into(),
            });
        }
        if i == 0 {
            crash_point("mid_commit");
        }
        if !dirs.contains(&parent) {
            dirs.push(parent);
        }
        finals.push(to);
    }
    for d in &dirs {
        sync_dir(d)?;
    }
    let staged_manifest = dir.join(MANIFEST_FILE);
    if staged_manifest.exists() {
        let target = data.join(MANIFEST_FILE);
        fs::rename(&staged_manifest, &target).map_err(|e| Error::io(&target, e))?;
        sync_dir(data)?;
    }
    if !record.deletes.is_empty() {
        // Readers of the previous snapshots may still read what is retired.
        snapshot::retire_readers(data, manifest::generation(data)?, reporter)?;
    }
    for rel in &record.deletes {
        let p = data.join(rel);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            return Err(Error::Input {
                path: p,
                message: "a commit would delete this, but it is a directory".into(),
            });
        }
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // Leave no empty staging directory behind (another run's area stays).
    let _ = fs::remove_dir(data.join(STAGING_DIR));
    Ok(finals)
}

/// What [`recover`] did.
#[derive(Debug, Default, PartialEq)]
pub struct Recovery {
    /// Runs whose commit was finished.
    pub rolled_forward: Vec<String>,
    /// Runs whose uncommitted files were deleted.
    pub rolled_back: Vec<String>,
}

/// Finishes or deletes what interrupted runs left in the staging area (the
/// lock must be held).
pub fn recover(data: &Path, reporter: &dyn Reporter) -> Result<Recovery> {
    let staging = data.join(STAGING_DIR);
    let mut done = Recovery::default();
    match fs::symlink_metadata(&staging) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        _ => real_dir(&staging, "the staging area")?,
    }
    let entries = fs::read_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    dirs.sort();
    // Validate everything first: a forged area stops recovery before any change.
    let mut plan = Vec::with_capacity(dirs.len());
    for dir in dirs {
        real_dir(&dir, "a staging area entry")?;
        let record = match fs::symlink_metadata(dir.join(COMMIT_FILE)) {
            Ok(_) => Some(read_record(data, &dir)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(dir.join(COMMIT_FILE), e)),
        };
        plan.push((dir, record));
    }
    for (dir, record) in plan {
        let run = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match record {
            Some(record) => {
                apply(data, &dir, &record, reporter)?;
                done.rolled_forward.push(run);
            }
            None => {
                fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                done.rolled_back.push(run);
            }
        }
    }
    Ok(done)
}

/// Whether interrupted runs left work in the staging area (readers warn).
pub fn pending(data: &Path) -> bool {
    fs::read_dir(data.join(STAGING_DIR)).is_ok_and(|mut d| d.next().is_some())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notes::Silent;

    fn staged_file(staging: &Staging, rel: &str, body: &str) -> PathBuf {
        let p = staging.dir().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn commit_moves_files_and_manifest_and_deletes_replaced() {
        let data = tempfile::tempdir().unwrap();
        let old = data.path().join("certs/log=a/old.parquet");
        fs::create_dir_all(old.parent().unwrap()).unwrap();
        fs::write(&old, "old").unwrap();
        let _lock = lock(data.path(), false, &Silent).unwrap();
        let staging = Staging::create(data.path(), "run1").unwrap();
        let f = staged_file(&staging, "certs/log=a/new.parquet", "new");
        let entry = ManifestEntry {
            path: "/x".into(),
            log: "a".into(),
            ..Default::default()
        };
        let finals = staging
            .commit(
                &[f],
                std::slice::from_ref(&entry),
                std::slice::from_ref(&old),
                &Silent,
            )
            .unwrap();
        assert_eq!(finals, vec![data.path().join("certs/log=a/new.parquet")]);
        assert_eq!(fs::read_to_string(&finals[0]).unwrap(), "new");
        assert!(!old.exists());
        assert_eq!(manifest::read(data.path()).unwrap(), vec![entry]);
        assert!(!pending(data.path()));
    }

    #[test]
    fn recovery_rolls_back_uncommitted_and_forward_committed() {
        let data = tempfile::tempdir().unwrap();
        let _lock = lock(data.path(), false, &Silent).unwrap();
        let uncommitted = Staging::create(data.path(), "run1").unwrap();
        staged_file(&uncommitted, "certs/log=a/x.parquet", "x");
        // A committed run whose first rename happened before the crash.
        let committed = Staging::create(data.path(), "run2").unwrap();
        let y = staged_file(&committed, "certs/log=a/y.parquet", "y");
        let z = staged_file(&committed, "certs/log=a/z.parquet", "z");
        let record = CommitRecord {
            moves: vec![
                (
                    "certs/log=a/y.parquet".into(),
                    "certs/log=a/y.parquet".into(),
                ),
                (
                    "certs/log=a/z.parquet".into(),
                    "certs/log=a/z.parquet".into(),
                ),
            ],
            deletes: vec![],
        };
        fs::write(
            committed.dir().join(COMMIT_FILE),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let moved = data.path().join("certs/log=a/y.parquet");
        fs::create_dir_all(moved.parent().unwrap()).unwrap();
        fs::rename(&y, &moved).unwrap();
        assert!(pending(data.path()));
        let done = recover(data.path(), &Silent).unwrap();
        assert_eq!(done.rolled_back, vec!["run1".to_owned()]);
        assert_eq!(done.rolled_forward, vec!["run2".to_owned()]);
        assert!(moved.exists() && data.path().join("certs/log=a/z.parquet").exists());
        assert!(!z.exists());
        assert!(!data.path().join("certs/log=a/x.parquet").exists());
        assert!(!pending(data.path()));
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named() {
        let data = tempfile::tempdir().unwrap();
        let first = lock(data.path(), false, &Silent).unwrap();
        let err = lock(data.path(), false, &Silent).unwrap_err().to_string();
        assert!(err.contains("another pipeline run"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        lock(data.path(), false, &Silent).unwrap();
    }
}
