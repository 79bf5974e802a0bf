//! `pipeline ingest`: find the inputs, take the dataset's lock, finish or
//! undo an interrupted run, read what is new through the stages of
//! [`super::stages`], check overlaps for conflicts, and commit.
//!
//! Every entry read becomes one `certs` row, one `rejects` row, or is counted
//! as a duplicate of an entry the dataset already holds (same log and index).
//!
//! Runs are incremental and crash-safe: inputs listed in the manifest are not
//! read again, and everything is written to a staging area and committed at
//! the end (see [`crate::dataset::commit`]), so a failed or killed run changes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::stages;
use super::write::Written;
use crate::dataset::commit::{self, Staging};
use crate::dataset::conflicts;
use crate::dataset::manifest::{self, ManifestEntry, VerifiedLog};
use crate::dataset::replace;
use crate::error::{Error, Result};
use crate::ingest::{discover, DiscoverOptions, Discovery, InputFile};
use crate::notes::{Level, Reporter};
use crate::text;

/// What `pipeline ingest` was asked to do: its command-line arguments
/// (the command line adds only how to show progress and the summary).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IngestOptions {
    /// Dump files, or directories walked recursively: get-entries pages and
    /// JSON lines (.json, .jsonl, .ndjson), certificate files (.pem, .crt,
    /// .cer, .der) and Axeman CSV (.csv), each optionally .gz/.zst
    /// (compression is detected from the content); ct-archive .zip files; a
    /// directory holding tile/data/ is a static-ct-api tiled log.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The dataset directory to write (DIR/certs/log=NAME/*.parquet, DIR/rejects/...).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The log's name (default: the input directory's name).
    #[arg(long, value_name = "NAME")]
    pub log: Option<String>,
    /// Index of the first entry of a page not named <start>-<end>.json, or of
    /// the first line of JSON lines that carry no "index".
    #[arg(long, value_name = "N")]
    pub start_index: Option<u64>,
    /// Also store each certificate's DER in a `der` column.
    #[arg(long)]
    pub keep_der: bool,
    /// Decoder threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// When another run is writing to DIR, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// A CT log list (Google's v3 JSON) to check --log against, instead of
    /// the compiled-in one.
    #[arg(long, value_name = "FILE")]
    pub log_list: Option<PathBuf>,
    /// An input whose content changed since it was ingested: swap its old
    /// rows for its new ones in one commit (without it, that is an error).
    #[arg(long)]
    pub replace: bool,
}

/// The run summary; its keys are part of the command's JSON output.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IngestSummary {
    /// Input files read.
    pub files: u64,
    /// Input files skipped because the manifest lists them (same path, size
    /// and modification time, or same content).
    pub already_ingested: u64,
    /// Entries not stored because the dataset already held their (log, entry_index).
    pub duplicates: u64,
    /// Of those, copies whose leaf differs from the stored entry (reported on stderr).
    pub conflicts: u64,
    /// Files under input directories skipped because their names are not dumps.
    pub skipped_files: u64,
    /// Files under input directories that could not be opened as regular
    /// files (FIFOs, devices, sockets, broken symlinks), each named on
    /// stderr; the run reads the others and exits 1.
    pub refused_files: u64,
    /// Data files of a dataset whose manifest was missing, given manifest
    /// entries so that their entries are recognised (see [`crate::dataset::adopt`]).
    pub adopted_files: u64,
    /// Inputs read again because their content changed (`--replace`); their
    /// old rows were taken out in the same commit.
    pub replaced: u64,
    /// `certs` rows of the replaced inputs' old content taken out.
    pub rows_removed: u64,
    /// `rejects` rows of the replaced inputs' old content taken out.
    pub rejects_removed: u64,
    /// Entries read (each became a row or a reject).
    pub entries_read: u64,
    /// Rows written to `certs`.
    pub rows: u64,
    /// Rows written to `rejects`.
    pub rejects: u64,
    /// `certs` rows with a `parse_error`.
    pub parse_errors: u64,
    /// Rejects for files or file tails that could not be read at all.
    pub unreadable: u64,
    /// The inputs those came from, each with the first reason.
    pub unreadable_files: Vec<UnreadableFile>,
    /// Distinct chain fingerprints of tile entries whose issuer certificate
    /// the log's `issuer/` lacks (each reported once on stderr).
    pub missing_issuers: u64,
    /// Bytes read from disk (compressed size).
    pub input_bytes: u64,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
    /// entries_read / elapsed_seconds.
    pub entries_per_second: f64,
    /// Parquet files written.
    pub output_files: Vec<PathBuf>,
}

/// An input (or its tail) that could not be read.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UnreadableFile {
    /// The input file.
    pub file: String,
    /// What went wrong first.
    pub reason: String,
}

/// Ingests dumps into the dataset at `opts.out`; notes and progress go to
/// `reporter`.
pub fn ingest(opts: &IngestOptions, reporter: &dyn Reporter) -> Result<IngestSummary> {
    let started = Instant::now();
    if opts.inputs.is_empty() {
        return Err(Error::Usage("no input files or directories given".into()));
    }
    crate::dataset::remote::local_only(&opts.out, "ingest")?;
    check_log_name(opts, reporter)?;
    let mut discovery = discover(
        &opts.inputs,
        &DiscoverOptions {
            log: opts.log.clone(),
            start_index: opts.start_index,
        },
    )?;
    report_discovery(&discovery, reporter);
    let _lock = commit::lock(&opts.out, opts.wait, reporter)?;
    let adopted_files = settle_dataset(&opts.out, reporter)?;
    let mut previous = manifest::read(&opts.out)?;
    let skipped_files = (discovery.skipped.len() + discovery.superseded.len()) as u64;
    let refused_files = discovery.refused.len() as u64;
    let fetched = std::mem::take(&mut discovery.fetched);
    let (todo, already, replaced) = select_new(discovery.files, &previous, opts.replace)?;
    previous.retain(|e| !replaced.iter().any(|r| r.path == e.path));
    let mut summary = IngestSummary {
        already_ingested: already,
        skipped_files,
        refused_files,
        adopted_files,
        ..IngestSummary::default()
    };
    if !todo.is_empty() {
        let verified = verified_dumps(&fetched, reporter);
        read_and_commit(
            opts,
            Inputs {
                todo,
                previous,
                replaced: &replaced,
                verified,
            },
            &mut summary,
            reporter,
        )?;
    }
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.entries_per_second = summary.entries_read as f64 / summary.elapsed_seconds.max(1e-9);
    Ok(summary)
}

/// What the fetched dump directories `fetched` say was proved of their
/// logs; a state that cannot be read is a warning, not a failure.
fn verified_dumps(
    fetched: &[(String, PathBuf)],
    reporter: &dyn Reporter,
) -> Vec<(String, VerifiedLog)> {
    let mut out = Vec::new();
    for (log, dir) in fetched {
        match crate::fetch::state::VerifiedState::load(dir) {
            Ok(Some(s)) => out.push((log.clone(), s.as_verified_log(dir))),
            Ok(None) => {}
            Err(e) => reporter.note(
                Level::Warning,
                format!(
                    "the fetch state of {} is not used: {e}",
                    text::escape(&dir.display().to_string())
                ),
            ),
        }
    }
    out
}

/// What one run reads and what it changes.
struct Inputs<'a> {
    /// The new inputs.
    todo: Vec<InputFile>,
    /// The manifest's entries before the run.
    previous: Vec<ManifestEntry>,
    /// Inputs whose old rows the run replaces.
    replaced: &'a [ManifestEntry],
    /// What fetches proved of the inputs' logs.
    verified: Vec<(String, VerifiedLog)>,
}

/// Reads the new inputs into a staging area, takes the old rows of
/// replaced inputs out, checks overlaps for conflicts and commits; fills
/// `summary`.
fn read_and_commit(
    opts: &IngestOptions,
    inputs: Inputs,
    summary: &mut IngestSummary,
    reporter: &dyn Reporter,
) -> Result<()> {
    let Inputs {
        todo,
        previous,
        replaced,
        verified,
    } = inputs;
    let run_id = format!(
        "part-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    let mut staging = Staging::create(&opts.out, &run_id)?;
    for (log, v) in verified {
        staging.record_verified(&log, v);
    }
    let coverage = manifest::coverage(&previous);
    // Everything before the commit record may fail: the staging area (all
    // this run wrote) is then deleted and the dataset is as it was.
    let staged = stages::run(opts, reporter, &todo, staging.dir(), &run_id, coverage).and_then(
        |mut written| {
            let rewritten = replace::remove_rows(&opts.out, staging.dir(), &run_id, replaced)?;
            let conflicts = conflicts_of(&opts.out, staging.dir(), &mut written, reporter)?;
            let entries = manifest_entries(staging.dir(), &todo, &written, &run_id)?;
            Ok((written, rewritten, conflicts, entries))
        },
    );
    let (mut written, rewritten, conflicts, entries) = match staged {
        Ok(staged) => staged,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    commit::crash_point("staged");
    for note in written.notes.drain(..) {
        reporter.note(Level::Warning, note);
    }
    for old in replaced {
        reporter.note(
            Level::Info,
            format!(
                "replaced {}: it changed since run {}; the {} rows and {} rejects stored from it then were swapped for its new content",
                text::escape(&old.path),
                old.run_id,
                old.rows,
                old.rejects
            ),
        );
    }
    let mut all = previous;
    manifest::repoint(&mut all, &rewritten.renamed);
    all.extend(entries);
    written.files.extend(rewritten.staged.iter().cloned());
    summary.output_files = staging.commit(&written.files, &all, &rewritten.deletes, reporter)?;
    summary.files = todo.len() as u64;
    summary.duplicates = written.duplicates;
    summary.conflicts = conflicts;
    summary.replaced = replaced.len() as u64;
    summary.rows_removed = rewritten.rows_removed;
    summary.rejects_removed = rewritten.rejects_removed;
    summary.entries_read = written.rows + written.rejects + written.duplicates;
    summary.rows = written.rows;
    summary.rejects = written.rejects;
    summary.parse_errors = written.parse_errors;
    summary.unreadable = written.unreadable;
    summary.unreadable_files = written
        .unreadable_files
        .iter()
        .map(|(file, reason)| UnreadableFile {
            file: file.clone(),
            reason: reason.clone(),
        })
        .collect();
    summary.missing_issuers = written.missing_issuers.len() as u64;
    summary.input_bytes = written.input_bytes;
    Ok(())
}

/// Notes a `--log` that the CT log list does not know (`ct_logs` will not
/// name it); the run goes on.
fn check_log_name(opts: &IngestOptions, reporter: &dyn Reporter) -> Result<()> {
    let Some(log) = &opts.log else {
        return Ok(());
    };
    let list = crate::ct::log_list::load(opts.log_list.as_deref())?;
    if !crate::ct::log_list::knows(&list, log) {
        let suggested = crate::ct::log_list::suggest(&list, log);
        let hint = if suggested.is_empty() {
            String::new()
        } else {
            format!(
                "; did you mean --log {}? (certs.log joins ct_logs.log_name only when they are equal)",
                suggested.join(" or --log ")
            )
        };
        reporter.note(
            Level::Info,
            format!(
                "note: --log {} is not a log name of the CT log list (version {}); ct_logs will not name it{hint}",
                text::escape(log),
                list.version
            ),
        );
    }
    Ok(())
}

/// Says which files under the inputs are left out, and why.
fn report_discovery(discovery: &Discovery, reporter: &dyn Reporter) {
    for path in &discovery.skipped {
        reporter.note(
            Level::Info,
            format!(
                "skipped (not a dump, tile, tile archive or certificate file): {}",
                text::path(path)
            ),
        );
    }
    for path in &discovery.superseded {
        reporter.note(
            Level::Info,
            format!(
                "skipped (a partial tile a wider tile of the same index covers): {}",
                text::path(path)
            ),
        );
    }
    for (path, why) in &discovery.refused {
        reporter.note(
            Level::Error,
            format!("error: {}: {}", text::path(path), text::escape(why)),
        );
    }
    report_issuer_dirs(&discovery.files, reporter);
}

/// Finishes or undoes an interrupted run and adopts data files a lost
/// manifest left unnamed; returns how many were adopted.
fn settle_dataset(data: &Path, reporter: &dyn Reporter) -> Result<u64> {
    let recovery = commit::recover(data, reporter)?;
    for run in &recovery.rolled_forward {
        reporter.note(
            Level::Info,
            format!("finished the commit of interrupted run {run}"),
        );
    }
    for run in &recovery.rolled_back {
        reporter.note(
            Level::Info,
            format!("removed the uncommitted files of interrupted run {run}"),
        );
    }
    let adoption = crate::dataset::adopt::adopt(data, reporter)?;
    if !adoption.adopted.is_empty() {
        reporter.note(
            Level::Warning,
            format!(
                "{} had data files but no manifest: {} of them were adopted, and entries they hold \
                 are recognised by (log, entry_index) instead of stored again",
                text::path(data),
                adoption.adopted.len()
            ),
        );
    }
    for (rel, why) in &adoption.unreadable {
        reporter.note(
            Level::Warning,
            format!(
                "warning: {} was not adopted: {}",
                text::escape(rel),
                text::escape(why)
            ),
        );
    }
    Ok(adoption.adopted.len() as u64)
}

/// Says once per tiled log what its issuer/ directory lacks or holds wrongly.
fn report_issuer_dirs(files: &[InputFile], reporter: &dyn Reporter) {
    let mut seen: Vec<*const crate::ingest::format::tiles::Issuers> = Vec::new();
    for f in files {
        let Some(issuers) = &f.issuers else {
            continue;
        };
        if seen.contains(&Arc::as_ptr(issuers)) {
            continue;
        }
        seen.push(Arc::as_ptr(issuers));
        if !issuers.has_dir {
            reporter.note(
                Level::Warning,
                format!(
                    "log {}: no issuer/ beside the tiles of {}; chain fingerprints are stored unchecked",
                    text::escape(&f.log),
                    text::escape(&f.name)
                ),
            );
        }
        for (name, why) in &issuers.bad {
            reporter.note(
                Level::Warning,
                format!(
                    "log {}: issuer/{} ignored: {}",
                    text::escape(&f.log),
                    text::escape(name),
                    text::escape(why)
                ),
            );
        }
    }
}

/// Compares the copies not stored with the stored entries; reports and
/// counts (per file) those that differ.
fn conflicts_of(
    out: &Path,
    staged: &Path,
    written: &mut Written,
    reporter: &dyn Reporter,
) -> Result<u64> {
    if written.dups.is_empty() {
        return Ok(0);
    }
    let found = conflicts::find_conflicts(out, staged, &written.dups)?;
    for (i, c) in found.iter().enumerate() {
        if i < 20 {
            reporter.note(
                Level::Warning,
                format!(
                    "conflict: log {} entry {} in {} is {}, but the dataset holds {}",
                    text::escape(&c.log),
                    c.entry_index,
                    text::path(&c.source),
                    c.found,
                    c.stored
                ),
            );
        }
        if let Some(stats) = written.per_file.get_mut(&c.source) {
            stats.conflicts += 1;
        }
    }
    if found.len() > 20 {
        reporter.note(
            Level::Warning,
            format!(
                "... {} conflicts in all (manifest column `conflicts`)",
                found.len()
            ),
        );
    }
    Ok(found.len() as u64)
}

/// Splits the inputs into those to read and a count of those the manifest
/// already lists. An input whose path is listed but whose content differs
/// is an error (its old rows are in the dataset) unless `replace` is set:
/// then it is read and its old manifest entry is returned, for its rows to
/// be taken out.
fn select_new(
    files: Vec<InputFile>,
    previous: &[ManifestEntry],
    replace: bool,
) -> Result<(Vec<InputFile>, u64, Vec<ManifestEntry>)> {
    let by_path: HashMap<&str, &ManifestEntry> =
        previous.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut todo = Vec::new();
    let mut already = 0;
    let mut replaced = Vec::new();
    for file in files {
        let key = canonical(&file.path);
        let Some(entry) = by_path.get(key.as_str()) else {
            todo.push(file);
            continue;
        };
        if entry.size == file.size as i64 && entry.mtime_ns == file.mtime_ns {
            already += 1;
            continue;
        }
        if same_content(&file.path, entry)? {
            already += 1;
            continue;
        }
        if replace {
            replaced.push((*entry).clone());
            todo.push(file);
            continue;
        }
        return Err(Error::Input {
            path: file.path.clone(),
            message: format!(
                "changed since run {} ingested it ({} bytes then, {} now; the content hash differs); \
                 the dataset keeps the {} rows read then (--replace swaps them for the new content)",
                entry.run_id, entry.size, file.size, entry.rows
            ),
        });
    }
    Ok((todo, already, replaced))
}

/// Whether `path` holds what `entry` hashed: compared by BLAKE3, or by
/// SHA-256 for an entry written before the manifest switched to BLAKE3 (it
/// keeps that hash; the input is not re-read or re-ingested for the change).
fn same_content(path: &Path, entry: &ManifestEntry) -> Result<bool> {
    use crate::dataset::manifest::RecordedHash;
    use crate::ingest::compression::{file_blake3, file_sha256};
    let (digest, recorded) = match entry.recorded_hash() {
        RecordedHash::Blake3(hex_text) => (file_blake3(path), hex_text),
        RecordedHash::Sha256(hex_text) => (file_sha256(path), hex_text),
        RecordedHash::None => return Ok(false),
    };
    let digest = digest.map_err(|e| Error::io(path, e))?;
    Ok(hex::encode(digest) == recorded)
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The manifest rows of this run's inputs.
fn manifest_entries(
    staged: &Path,
    files: &[InputFile],
    written: &Written,
    run_id: &str,
) -> Result<Vec<ManifestEntry>> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let stats = written
            .per_file
            .get(&file.path)
            .cloned()
            .unwrap_or_default();
        let relative = |p: &PathBuf| p.strip_prefix(staged).ok().map(|r| r.display().to_string());
        let output_files = written
            .files_by_log
            .get(&*file.log)
            .map(|fs| fs.iter().filter_map(relative).collect())
            .unwrap_or_default();
        let first = stats.ranges.iter().next().map(|r| *r.start() as i64);
        let last = stats.ranges.iter().next_back().map(|r| *r.end() as i64);
        entries.push(ManifestEntry {
            path: canonical(&file.path),
            size: file.size as i64,
            mtime_ns: file.mtime_ns,
            blake3: file.blake3.get().map(hex::encode).unwrap_or_default(),
            log: file.log.to_string(),
            first_index: first,
            last_index: last,
            index_ranges: manifest::format_ranges(&stats.ranges),
            entries: (stats.rows + stats.rejects + stats.duplicates) as i64,
            rows: stats.rows as i64,
            rejects: stats.rejects as i64,
            parse_errors: stats.parse_errors as i64,
            duplicates: stats.duplicates as i64,
            conflicts: stats.conflicts as i64,
            run_id: run_id.to_owned(),
            ingested_at_ms: now,
            output_files,
            sha256: String::new(),
        });
    }
    Ok(entries)
}
