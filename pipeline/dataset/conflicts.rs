//! Entries read twice: an input overlapping what the dataset (or an earlier
//! input of the same run) already holds. Such an entry is stored once; here
//! each copy that was not stored is compared with the stored one, and a copy
//! whose leaf differs — another certificate or timestamp at the same index,
//! or a reject where a certificate is stored — is a *conflict*, reported by
//! log, index and file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;

use crate::dataset::{data_file, layout, snapshot};
use crate::error::{Error, Result};

/// A copy of an entry that was not stored because its index was present.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    /// The log.
    pub log: Arc<str>,
    /// The entry's index.
    pub entry_index: i64,
    /// The input file it was read from.
    pub source: PathBuf,
    /// For a certs row: SHA-256 of the certificate.
    pub cert_sha256: Option<[u8; 32]>,
    /// For a certs row: the entry timestamp (ms).
    pub timestamp_ms: Option<i64>,
    /// For a reject: its kind.
    pub reject_kind: Option<&'static str>,
}

/// A duplicate whose leaf differs from the stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The log.
    pub log: String,
    /// The entry's index.
    pub entry_index: i64,
    /// The input file holding the differing copy.
    pub source: PathBuf,
    /// What is stored: `cert <hex sha256>` or `reject <kind>`.
    pub stored: String,
    /// What the file holds, in the same form.
    pub found: String,
}

fn describe(cert: Option<&[u8]>, kind: Option<&str>) -> String {
    match (cert, kind) {
        (Some(c), _) => format!("cert {}", hex::encode(c)),
        (None, Some(k)) => format!("reject {k}"),
        (None, None) => "nothing".into(),
    }
}

/// What a stored row says of its entry.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    cert_sha256: Option<Vec<u8>>,
    timestamp_ms: Option<i64>,
    reject_kind: Option<String>,
}

impl Stored {
    fn differs_from(&self, d: &Duplicate) -> bool {
        self.cert_sha256.as_deref() != d.cert_sha256.as_ref().map(|c| c.as_slice())
            || self.timestamp_ms != d.timestamp_ms
            || self.reject_kind.as_deref() != d.reject_kind
    }
}

/// Compares each duplicate with the stored entry of the same (log, index),
/// in the dataset at `data` (its manifest's snapshot: stray files are not
/// the dataset's) or in this run's staging tree `staged`. Files are read
/// with the Parquet reader directly; row groups whose `entry_index`
/// statistics miss every duplicate's index are skipped.
pub fn find_conflicts(data: &Path, staged: &Path, dups: &[Duplicate]) -> Result<Vec<Conflict>> {
    if dups.is_empty() {
        return Ok(Vec::new());
    }
    // Per log, per duplicated index: the stored rows found for it.
    let mut wanted: HashMap<Arc<str>, HashMap<i64, Vec<Stored>>> = HashMap::new();
    for d in dups {
        wanted
            .entry(d.log.clone())
            .or_default()
            .entry(d.entry_index)
            .or_default();
    }
    let (lo, hi) = dups.iter().fold((i64::MAX, i64::MIN), |(lo, hi), d| {
        (lo.min(d.entry_index), hi.max(d.entry_index))
    });
    let snap = snapshot::open_locked(data)?;
    for table in snapshot::DATA_TABLES {
        let mut files: Vec<(String, PathBuf)> = snap
            .files
            .keys()
            .filter_map(|rel| {
                let (t, log) = layout::of_file(rel)?;
                (t == *table).then(|| (log, data.join(rel)))
            })
            .collect();
        files.extend(layout::data_files(staged, table).map_err(|e| Error::io(staged, e))?);
        for (log, path) in files {
            let Some(by_index) = wanted.get_mut(log.as_str()) else {
                continue;
            };
            for (index, stored) in read_stored(&path, table, lo, hi)? {
                if let Some(rows) = by_index.get_mut(&index) {
                    rows.push(stored);
                }
            }
        }
    }
    let mut out = Vec::new();
    for d in dups {
        for s in &wanted[&d.log][&d.entry_index] {
            if s.differs_from(d) {
                out.push(Conflict {
                    log: d.log.to_string(),
                    entry_index: d.entry_index,
                    source: d.source.clone(),
                    stored: describe(s.cert_sha256.as_deref(), s.reject_kind.as_deref()),
                    found: describe(d.cert_sha256.as_ref().map(|c| c.as_slice()), d.reject_kind),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.log, a.entry_index, &a.source).cmp(&(&b.log, b.entry_index, &b.source)));
    Ok(out)
}

/// Appends the rows of `batch` with an index in `range`, as [`Stored`].
fn stored_rows(
    batch: &arrow::record_batch::RecordBatch,
    table: &str,
    range: std::ops::RangeInclusive<i64>,
    out: &mut Vec<(i64, Stored)>,
) -> std::result::Result<(), String> {
    let index = data_file::entry_index_column(batch)?;
    let sha = batch
        .column_by_name("cert_sha256")
        .and_then(|c| c.as_binary_opt::<i32>());
    let ts = batch
        .column_by_name("entry_timestamp")
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>());
    let kind = batch
        .column_by_name("kind")
        .and_then(|c| c.as_string_opt::<i32>());
    for i in 0..batch.num_rows() {
        if index.is_null(i) || !range.contains(&index.value(i)) {
            continue;
        }
        let stored = if table == "certs" {
            Stored {
                cert_sha256: sha.filter(|a| !a.is_null(i)).map(|a| a.value(i).to_vec()),
                timestamp_ms: ts.filter(|a| !a.is_null(i)).map(|a| a.value(i)),
                reject_kind: None,
            }
        } else {
            let kind = kind.filter(|a| !a.is_null(i)).map(|a| a.value(i));
            if kind == Some("io") {
                continue;
            }
            Stored {
                cert_sha256: None,
                timestamp_ms: None,
                reject_kind: kind.map(str::to_owned),
            }
        };
        out.push((index.value(i), stored));
    }
    Ok(())
}

/// The rows of one data file with an index in `lo..=hi`: for `certs`, the
/// certificate hash and entry time; for `rejects`, the kind (`io` rejects
/// hold no index of their own and are left out).
fn read_stored(path: &Path, table: &str, lo: i64, hi: i64) -> Result<Vec<(i64, Stored)>> {
    let columns: &[&str] = if table == "certs" {
        &["entry_index", "cert_sha256", "entry_timestamp"]
    } else {
        &["entry_index", "kind"]
    };
    let reader = data_file::read_columns(path, columns, lo..=hi)
        .map_err(|e| Error::parquet("reading", path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::arrow(format!("reading {}", path.display()), e))?;
        stored_rows(&batch, table, lo..=hi, &mut out).map_err(|message| Error::Input {
            path: path.to_path_buf(),
            message,
        })?;
    }
    Ok(out)
}
