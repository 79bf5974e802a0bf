//! The dataset's manifest: one row per input file ever ingested, stored as
//! `DIR/manifest.parquet` and queryable as table `manifest`.
//!
//! It is what makes `pipeline ingest` incremental: an input already listed
//! (same path, size and modification time, or same content) is not read
//! again, and the index ranges it lists are what later inputs are checked
//! against, so an entry is stored once. The file is replaced as a whole, by
//! rename, in the same commit as the data files it lists (see [`crate::dataset::commit`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, ListBuilder, StringArray, StringBuilder,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::reader::ChunkReader;
use rangemap::RangeInclusiveSet;

use crate::error::{Error, Result};

/// The manifest's file name inside the dataset directory.
pub const MANIFEST_FILE: &str = "manifest.parquet";

/// One ingested input file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ManifestEntry {
    /// The input's canonical absolute path.
    pub path: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its modification time, ns since the Unix epoch.
    pub mtime_ns: i64,
    /// Lowercase hex BLAKE3 of its bytes as stored (compressed); empty when
    /// it could not be read, or when a release before BLAKE3 ingested it.
    pub blake3: String,
    /// The log its entries went to.
    pub log: String,
    /// Lowest entry index stored from it.
    pub first_index: Option<i64>,
    /// Highest entry index stored from it.
    pub last_index: Option<i64>,
    /// The indices stored from it, as `a-b,c-d` ranges (inclusive).
    pub index_ranges: String,
    /// Entries read from it (rows + rejects + duplicates).
    pub entries: i64,
    /// `certs` rows stored.
    pub rows: i64,
    /// `rejects` rows stored.
    pub rejects: i64,
    /// Stored rows with a parse_error.
    pub parse_errors: i64,
    /// Entries not stored because their (log, entry_index) was already present.
    pub duplicates: i64,
    /// Of those, copies whose leaf differs from the stored entry.
    pub conflicts: i64,
    /// The run that ingested it.
    pub run_id: String,
    /// When that run committed, ms since the Unix epoch.
    pub ingested_at_ms: i64,
    /// The run's output files of this log, relative to the dataset directory.
    pub output_files: Vec<String>,
    /// Lowercase hex SHA-256 of its bytes, for an input ingested before the
    /// manifest's hash became BLAKE3 (kept, and compared like with like);
    /// empty otherwise.
    pub sha256: String,
}

/// Formats an index set as `a-b,c-d` (a single index as `a`).
pub fn format_ranges(set: &RangeInclusiveSet<u64>) -> String {
    let mut out = String::new();
    for r in set.iter() {
        if !out.is_empty() {
            out.push(',');
        }
        if r.start() == r.end() {
            out.push_str(&r.start().to_string());
        } else {
            out.push_str(&format!("{}-{}", r.start(), r.end()));
        }
    }
    out
}

/// Parses what [`format_ranges`] writes.
pub fn parse_ranges(text: &str) -> Option<RangeInclusiveSet<u64>> {
    let mut set = RangeInclusiveSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let a = part.parse().ok()?;
                (a, a)
            }
        };
        if a > b {
            return None;
        }
        set.insert(a..=b);
    }
    Some(set)
}

/// The manifest's path in a dataset.
pub fn manifest_path(data: &Path) -> PathBuf {
    data.join(MANIFEST_FILE)
}

/// The Parquet key holding the manifest's generation: 1 for the first
/// commit, one more at each commit after.
const GENERATION_KEY: &str = "pipeline.generation";
/// The Parquet key holding the size and row count of every data file the
/// manifest names (JSON: `{"certs/log=x/part-....parquet": [size, rows]}`).
const FILES_KEY: &str = "pipeline.files";
/// The Parquet key holding [`Manifest::verified`] (JSON, by log name).
const VERIFIED_KEY: &str = "pipeline.verified";
/// The Parquet key holding [`Manifest::name_facts`] (JSON, by file), the
/// same key as the data files' own.
const NAME_FACTS_KEY: &str = crate::table::name_facts::FOOTER_KEY;

/// What the manifest records of one data file when its commit wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecord {
    /// Size in bytes.
    pub size: u64,
    /// Rows, from its footer.
    pub rows: u64,
}

/// What a `pipeline fetch` had proved of a log when its dump was ingested
/// (from the dump's `.fetch-state.json`): the log's first `size` entries,
/// against a signed tree head.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifiedLog {
    /// Entries proved: the log's first `size`.
    pub size: u64,
    /// Their root (base64).
    pub root: String,
    /// The size of the signed tree head they were proved against.
    pub signed_size: u64,
    /// Its root (base64).
    pub signed_root: String,
    /// When the log signed it (RFC 3339, UTC).
    pub tree_head_time: String,
    /// When the fetch proved them (RFC 3339, UTC).
    pub verified_at: String,
    /// The dump directory the state was read from.
    pub dump: String,
}

/// A whole manifest: its entries and what it records of the dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    /// One entry per ingested input.
    pub entries: Vec<ManifestEntry>,
    /// Commits so far (0: no manifest yet).
    pub generation: u64,
    /// Size and rows of each data file, by dataset-relative path; `None`
    /// when an older release wrote the manifest without them.
    pub files: Option<std::collections::BTreeMap<String, FileRecord>>,
    /// Per log, what a fetch had proved of it when it was last ingested.
    pub verified: std::collections::BTreeMap<String, VerifiedLog>,
    /// The stamp of the stored name facts of each `certs` file that has
    /// them (see [`crate::table::name_facts::STAMP`]), by dataset-relative
    /// path, from the file's footer when its commit wrote it.
    pub name_facts: std::collections::BTreeMap<String, String>,
}

impl Manifest {
    /// Whether every `certs` file the manifest names holds name facts with
    /// this binary's stamp, so that readers may use them.
    pub fn name_facts_current(&self) -> bool {
        self.entries
            .iter()
            .flat_map(|e| &e.output_files)
            .all(|f| !self.lacks_name_facts(f))
    }

    /// Whether `rel` (dataset-relative) is a `certs` file without name
    /// facts of this binary's stamp.
    pub fn lacks_name_facts(&self, rel: &str) -> bool {
        rel.starts_with("certs/")
            && self.name_facts.get(rel).map(String::as_str) != Some(crate::table::name_facts::STAMP)
    }
}

/// Reads the manifest of a dataset; an absent file is an empty manifest.
pub fn read(data: &Path) -> Result<Vec<ManifestEntry>> {
    Ok(read_manifest(data)?.entries)
}

/// Reads the manifest of a dataset with its generation and file records;
/// an absent file is an empty manifest of generation 0.
pub fn read_manifest(data: &Path) -> Result<Manifest> {
    let path = manifest_path(data);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    parse(file, &path)
}

/// Parses a manifest file's content (a file, or bytes fetched from an
/// object store); `path` names it in errors.
pub fn parse<R: ChunkReader + 'static>(content: R, path: &Path) -> Result<Manifest> {
    let parquet_err = |source| Error::parquet("reading", path, source);
    let builder = ParquetRecordBatchReaderBuilder::try_new(content).map_err(parquet_err)?;
    let bad = |message: String| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    let (generation, files, verified, name_facts) =
        decode_meta(builder.metadata().file_metadata().key_value_metadata()).map_err(bad)?;
    let reader = builder.build().map_err(parquet_err)?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("unreadable: {e}")))?;
        decode_batch(&batch, &mut out).map_err(bad)?;
    }
    Ok(Manifest {
        entries: out,
        generation,
        files,
        verified,
        name_facts,
    })
}

/// The generation a manifest file states, read from its footer alone.
pub fn generation(data: &Path) -> Result<u64> {
    let path = manifest_path(data);
    if !path.exists() {
        return Ok(0);
    }
    let meta = crate::dataset::data_file::read(&path).map_err(|message| Error::Input {
        path: path.clone(),
        message,
    })?;
    let kv = meta.file_metadata().key_value_metadata();
    decode_meta(kv)
        .map(|(g, ..)| g)
        .map_err(|message| Error::Input { path, message })
}

type FileRecords = std::collections::BTreeMap<String, FileRecord>;
type VerifiedLogs = std::collections::BTreeMap<String, VerifiedLog>;
type Stamps = std::collections::BTreeMap<String, String>;

fn decode_meta(
    kv: Option<&Vec<KeyValue>>,
) -> Result<(u64, Option<FileRecords>, VerifiedLogs, Stamps), String> {
    let value = |key: &str| {
        kv.and_then(|kv| kv.iter().find(|k| k.key == key))
            .and_then(|k| k.value.as_deref())
    };
    let generation = match value(GENERATION_KEY) {
        // Written before generations were recorded: one commit at least.
        None => 1,
        Some(g) => g
            .parse()
            .map_err(|_| format!("manifest generation {g:?} is not a number"))?,
    };
    let files = match value(FILES_KEY) {
        None => None,
        Some(text) => {
            let raw: std::collections::BTreeMap<String, (u64, u64)> = serde_json::from_str(text)
                .map_err(|e| format!("manifest file records are unreadable: {e}"))?;
            Some(
                raw.into_iter()
                    .map(|(k, (size, rows))| (k, FileRecord { size, rows }))
                    .collect(),
            )
        }
    };
    let verified = match value(VERIFIED_KEY) {
        None => VerifiedLogs::new(),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("manifest verified logs are unreadable: {e}"))?,
    };
    let name_facts = match value(NAME_FACTS_KEY) {
        None => Stamps::new(),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("manifest name fact stamps are unreadable: {e}"))?,
    };
    Ok((generation, files, verified, name_facts))
}

fn decode_batch(batch: &RecordBatch, out: &mut Vec<ManifestEntry>) -> Result<(), String> {
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("manifest has no column {name}"))
    };
    let text = |name: &str| -> Result<&StringArray, String> {
        col(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| format!("manifest column {name} is not a string"))
    };
    let int = |name: &str| -> Result<&Int64Array, String> {
        col(name)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| format!("manifest column {name} is not int64"))
    };
    // The input's content hash, 32 bytes (empty when it could not be read):
    // `blake3`; manifests written before it hold `sha256` instead, and before
    // hashes were binary, `sha256` as lowercase hex text.
    let blake3 = batch.column_by_name("blake3");
    let sha256 = batch.column_by_name("sha256");
    if blake3.is_none() && sha256.is_none() {
        return Err("manifest has neither a blake3 nor a sha256 column".into());
    }
    for (name, column) in [("blake3", blake3), ("sha256", sha256)] {
        if column.is_some_and(|c| !matches!(c.data_type(), DataType::Binary | DataType::Utf8)) {
            return Err(format!(
                "manifest column {name} is neither binary nor a string"
            ));
        }
    }
    let hash_hex = |column: Option<&ArrayRef>, i: usize| -> String {
        let Some(column) = column.filter(|c| !c.is_null(i)) else {
            return String::new();
        };
        match column.data_type() {
            DataType::Binary => hex::encode(column.as_binary::<i32>().value(i)),
            _ => column.as_string::<i32>().value(i).to_ascii_lowercase(),
        }
    };
    let (path, log, ranges, run) = (
        text("path")?,
        text("log")?,
        text("index_ranges")?,
        text("run_id")?,
    );
    let (size, mtime, first, last) = (
        int("size")?,
        int("mtime_ns")?,
        int("first_index")?,
        int("last_index")?,
    );
    let (entries, rows, rejects, parse_errors, duplicates) = (
        int("entries")?,
        int("rows")?,
        int("rejects")?,
        int("parse_errors")?,
        int("duplicates")?,
    );
    let conflicts = int("conflicts")?;
    let at = col("ingested_at")?
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or("manifest column ingested_at is not a timestamp")?;
    let files = col("output_files")?
        .as_list_opt::<i32>()
        .ok_or("manifest column output_files is not a list")?;
    let opt = |a: &Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    for i in 0..batch.num_rows() {
        let list = files.value(i);
        let list = list.as_string::<i32>();
        out.push(ManifestEntry {
            path: path.value(i).to_owned(),
            size: size.value(i),
            mtime_ns: mtime.value(i),
            blake3: hash_hex(blake3, i),
            log: log.value(i).to_owned(),
            first_index: opt(first, i),
            last_index: opt(last, i),
            index_ranges: ranges.value(i).to_owned(),
            entries: entries.value(i),
            rows: rows.value(i),
            rejects: rejects.value(i),
            parse_errors: parse_errors.value(i),
            duplicates: duplicates.value(i),
            conflicts: conflicts.value(i),
            run_id: run.value(i).to_owned(),
            ingested_at_ms: at.value(i),
            output_files: list.iter().flatten().map(str::to_owned).collect(),
            sha256: hash_hex(sha256, i),
        });
    }
    Ok(())
}

/// The content hash a manifest entry recorded, lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedHash<'a> {
    /// BLAKE3 (every input ingested since the manifest used it).
    Blake3(&'a str),
    /// SHA-256 (an input ingested before).
    Sha256(&'a str),
    /// None: the input could not be read again when it was ingested.
    None,
}

impl ManifestEntry {
    /// The content hash this entry recorded: BLAKE3 when it has one, else
    /// the SHA-256 a release before BLAKE3 recorded.
    pub fn recorded_hash(&self) -> RecordedHash<'_> {
        if !self.blake3.is_empty() {
            RecordedHash::Blake3(&self.blake3)
        } else if !self.sha256.is_empty() {
            RecordedHash::Sha256(&self.sha256)
        } else {
            RecordedHash::None
        }
    }
}

/// The SHA-256 of an entry hashed before the manifest used BLAKE3.
fn legacy(e: &ManifestEntry) -> Option<&str> {
    match e.recorded_hash() {
        RecordedHash::Sha256(hex_text) => Some(hex_text),
        _ => None,
    }
}

/// The bytes of a hash this module wrote as lowercase hex (or empty).
fn bytes_of(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text).unwrap_or_default()
}

/// The manifest as one record batch.
pub fn to_batch(entries: &[ManifestEntry]) -> Result<RecordBatch> {
    let strings = |f: fn(&ManifestEntry) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(entries.iter().map(f)))
    };
    let ints = |f: fn(&ManifestEntry) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(entries.iter().map(f)))
    };
    let opt_ints = |f: fn(&ManifestEntry) -> Option<i64>| -> ArrayRef {
        Arc::new(entries.iter().map(f).collect::<Int64Array>())
    };
    let mut files = ListBuilder::new(StringBuilder::new());
    for e in entries {
        for f in &e.output_files {
            files.values().append_value(f);
        }
        files.append(true);
    }
    let at = TimestampMillisecondArray::from_iter_values(entries.iter().map(|e| e.ingested_at_ms))
        .with_timezone(crate::table::schema::UTC);
    let columns: Vec<ArrayRef> = vec![
        strings(|e| &e.path),
        ints(|e| e.size),
        ints(|e| e.mtime_ns),
        // An entry hashed before BLAKE3 has a null `blake3` and its hash
        // in `sha256`; every other entry the reverse.
        Arc::new(
            entries
                .iter()
                .map(|e| legacy(e).is_none().then(|| bytes_of(&e.blake3)))
                .collect::<BinaryArray>(),
        ),
        strings(|e| &e.log),
        opt_ints(|e| e.first_index),
        opt_ints(|e| e.last_index),
        strings(|e| &e.index_ranges),
        ints(|e| e.entries),
        ints(|e| e.rows),
        ints(|e| e.rejects),
        ints(|e| e.parse_errors),
        ints(|e| e.duplicates),
        ints(|e| e.conflicts),
        strings(|e| &e.run_id),
        Arc::new(at),
        Arc::new(files.finish()),
        Arc::new(
            entries
                .iter()
                .map(|e| legacy(e).map(bytes_of))
                .collect::<BinaryArray>(),
        ),
    ];
    RecordBatch::try_new(crate::table::schema::manifest_schema(), columns)
        .map_err(|e| Error::arrow("building the manifest", e))
}

/// Points the manifest entries that named a rewritten file at its
/// replacements (`renamed`: old dataset-relative path → new ones); every
/// rewrite of data files (replace, compact) goes through here.
pub fn repoint(
    entries: &mut [ManifestEntry],
    renamed: &std::collections::BTreeMap<String, Vec<String>>,
) {
    for e in entries {
        if !e.output_files.iter().any(|f| renamed.contains_key(f)) {
            continue;
        }
        let mut files = Vec::with_capacity(e.output_files.len());
        for f in &e.output_files {
            match renamed.get(f) {
                Some(new) => files.extend(new.iter().cloned()),
                None => files.push(f.clone()),
            }
        }
        files.dedup();
        e.output_files = files;
    }
}

/// Writes a whole manifest to `path` (synced; the caller renames it into place).
pub fn write(path: &Path, manifest: &Manifest) -> Result<()> {
    let batch = to_batch(&manifest.entries)?;
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let parquet_err = |source| Error::parquet("writing", path, source);
    let mut kv = vec![KeyValue::new(
        GENERATION_KEY.to_owned(),
        manifest.generation.to_string(),
    )];
    if let Some(files) = &manifest.files {
        let raw: std::collections::BTreeMap<&str, (u64, u64)> = files
            .iter()
            .map(|(k, r)| (k.as_str(), (r.size, r.rows)))
            .collect();
        let text = serde_json::to_string(&raw).expect("file records serialise");
        kv.push(KeyValue::new(FILES_KEY.to_owned(), text));
    }
    if !manifest.verified.is_empty() {
        let text = serde_json::to_string(&manifest.verified).expect("verified logs serialise");
        kv.push(KeyValue::new(VERIFIED_KEY.to_owned(), text));
    }
    if !manifest.name_facts.is_empty() {
        let text = serde_json::to_string(&manifest.name_facts).expect("stamps serialise");
        kv.push(KeyValue::new(NAME_FACTS_KEY.to_owned(), text));
    }
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_key_value_metadata(Some(kv))
        .build();
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(parquet_err)?;
    writer.write(&batch).map_err(parquet_err)?;
    let file = writer.into_inner().map_err(parquet_err)?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Per log, the union of the index ranges its manifest entries stored.
pub fn coverage(
    entries: &[ManifestEntry],
) -> std::collections::BTreeMap<String, RangeInclusiveSet<u64>> {
    let mut out: std::collections::BTreeMap<String, RangeInclusiveSet<u64>> = Default::default();
    for e in entries {
        let set = out.entry(e.log.clone()).or_default();
        if let Some(ranges) = parse_ranges(&e.index_ranges) {
            for r in ranges.iter() {
                set.insert(r.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip() {
        let mut set = RangeInclusiveSet::new();
        set.insert(0..=9);
        set.insert(10..=19);
        set.insert(30..=30);
        set.insert(40..=41);
        let text = format_ranges(&set);
        assert_eq!(text, "0-19,30,40-41");
        assert_eq!(parse_ranges(&text), Some(set));
        assert_eq!(parse_ranges(""), Some(RangeInclusiveSet::new()));
        assert_eq!(parse_ranges("5-3"), None);
        assert_eq!(parse_ranges("x"), None);
    }

    #[test]
    fn manifest_round_trips_through_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![
            ManifestEntry {
                path: "/d/0-999.json".into(),
                size: 1234,
                mtime_ns: 1_700_000_000_000_000_000,
                blake3: "ab".repeat(32),
                log: "argon".into(),
                first_index: Some(0),
                last_index: Some(999),
                index_ranges: "0-999".into(),
                entries: 1001,
                rows: 998,
                rejects: 2,
                parse_errors: 3,
                duplicates: 1,
                conflicts: 1,
                run_id: "part-x".into(),
                ingested_at_ms: 1_800_000_000_000,
                output_files: vec!["certs/log=argon/part-x-00000.parquet".into()],
                sha256: String::new(),
            },
            ManifestEntry {
                path: "/d/before-blake3.json".into(),
                log: "argon".into(),
                sha256: "cd".repeat(32),
                ..ManifestEntry::default()
            },
            ManifestEntry {
                path: "/d/empty.json".into(),
                log: "argon".into(),
                ..ManifestEntry::default()
            },
        ];
        let path = dir.path().join(MANIFEST_FILE);
        let files_named = || "certs/log=argon/part-x-00000.parquet".to_owned();
        let files = [(
            files_named(),
            FileRecord {
                size: 10,
                rows: 998,
            },
        )];
        let verified = VerifiedLog {
            size: 1000,
            root: "cm9vdA==".into(),
            signed_size: 1200,
            verified_at: "2026-12-01T00:00:00Z".into(),
            ..VerifiedLog::default()
        };
        let manifest = Manifest {
            entries: entries.clone(),
            generation: 7,
            files: Some(files.into_iter().collect()),
            verified: [("argon".to_owned(), verified)].into_iter().collect(),
            name_facts: [(files_named(), "1;psl-x".to_owned())]
                .into_iter()
                .collect(),
        };
        write(&path, &manifest).unwrap();
        assert_eq!(read(dir.path()).unwrap(), entries);
        assert_eq!(read_manifest(dir.path()).unwrap(), manifest);
        assert_eq!(generation(dir.path()).unwrap(), 7);
        let cov = coverage(&entries);
        assert!(cov["argon"].contains(&500));
        assert!(!cov["argon"].contains(&1000));
    }
}
