//! A dataset whose manifest was lost: its data files are adopted, so that
//! ingesting the same dumps again recognises the entries already stored (by
//! log and entry_index) instead of storing every one a second time.
//!
//! Only a dataset without a manifest is adopted from. A file dropped into a
//! partition of a dataset that has one stays a stray: readers ignore it and
//! `pipeline verify` reports it.

use std::path::Path;

use rangemap::RangeInclusiveSet;

use crate::dataset::commit::Staging;
use crate::dataset::manifest::{self, ManifestEntry};
use crate::dataset::snapshot::{is_data_file, DATA_TABLES};
use crate::error::Result;
use crate::notes::Reporter;

/// What [`adopt`] did.
#[derive(Debug, Default)]
pub struct Adoption {
    /// Data files now named by the manifest.
    pub adopted: Vec<String>,
    /// Files that could not be read, and why (left as strays).
    pub unreadable: Vec<(String, String)>,
}

/// With the dataset lock held and no manifest present, gives each readable
/// data file in the partitions a manifest entry of its own (run
/// `adopted-<time>`, path the file itself) and commits that manifest.
pub fn adopt(data: &Path, reporter: &dyn Reporter) -> Result<Adoption> {
    let mut done = Adoption::default();
    if manifest::manifest_path(data).exists() {
        return Ok(done);
    }
    let mut entries = Vec::new();
    for rel in data_files(data) {
        match entry_for(data, &rel) {
            Ok(e) => {
                done.adopted.push(rel);
                entries.push(e);
            }
            Err(why) => done.unreadable.push((rel, why)),
        }
    }
    if entries.is_empty() {
        return Ok(done);
    }
    let run = format!(
        "adopted-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    let staging = Staging::create(data, &run)?;
    staging.commit(&[], &entries, &[], reporter)?;
    Ok(done)
}

/// The data files in the partitions, dataset-relative, sorted.
fn data_files(data: &Path) -> Vec<String> {
    let mut out: Vec<String> = DATA_TABLES
        .iter()
        .flat_map(|table| crate::dataset::layout::data_files(data, table).unwrap_or_default())
        .filter_map(|(_, path)| {
            let rel = path.strip_prefix(data).ok()?.to_str()?.to_owned();
            is_data_file(&rel).then_some(rel)
        })
        .collect();
    out.sort();
    out
}

fn entry_for(data: &Path, rel: &str) -> std::result::Result<ManifestEntry, String> {
    let path = data.join(rel);
    let (table, log) = crate::dataset::layout::of_file(rel).ok_or("not a data file path")?;
    let rows = crate::dataset::data_file::rows(&path)?;
    let indices = crate::dataset::data_file::stored_indices(&path, table)?;
    let mut set = RangeInclusiveSet::new();
    for i in indices {
        let i = u64::try_from(i).map_err(|_| format!("negative entry_index {i}"))?;
        set.insert(i..=i);
    }
    let meta = std::fs::metadata(&path).map_err(|e| e.to_string())?;
    let sha = crate::ingest::compression::file_blake3(&path).map_err(|e| e.to_string())?;
    let first = set.iter().next().map(|r| *r.start() as i64);
    let last = set.iter().next_back().map(|r| *r.end() as i64);
    let rows = rows as i64;
    Ok(ManifestEntry {
        path: std::fs::canonicalize(&path)
            .unwrap_or(path)
            .display()
            .to_string(),
        size: meta.len() as i64,
        mtime_ns: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64),
        blake3: hex::encode(sha),
        log,
        first_index: first,
        last_index: last,
        index_ranges: manifest::format_ranges(&set),
        entries: rows,
        rows: if table == "certs" { rows } else { 0 },
        rejects: if table == "rejects" { rows } else { 0 },
        run_id: "adopted".into(),
        ingested_at_ms: chrono::Utc::now().timestamp_millis(),
        output_files: vec![rel.to_owned()],
        ..ManifestEntry::default()
    })
}
