//! Entries read twice: an input overlapping what the dataset (or an earlier
//! input of the same run) already holds. Such an entry is stored once; here
//! each copy that was not stored is compared with the stored one, and a copy
//! whose leaf differs — another certificate or timestamp at the same index,
//! or a reject where a certificate is stored — is a *conflict*, reported by
//! log, index and file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BinaryArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;
use crate::sql::session::has_parquet;
use datafusion::execution::object_store::ObjectStoreUrl;

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

/// Compares each duplicate with the stored entry of the same (log, index),
/// in the dataset at `data` or in this run's staging tree `staged`.
pub async fn find_conflicts(
    data: &Path,
    staged: &Path,
    dups: &[Duplicate],
) -> Result<Vec<Conflict>> {
    if dups.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    // The stored side is the manifest's snapshot: stray files are not the dataset's.
    let snap = Arc::new(crate::dataset::snapshot::open_locked(data)?);
    let store = crate::sql::snapshot_store::SnapshotStore::new(snap.clone(), false)?;
    ctx.register_object_store(ObjectStoreUrl::local_filesystem().as_ref(), Arc::new(store));
    let schema = Arc::new(Schema::new(vec![
        Field::new("log", DataType::Utf8, false),
        Field::new("entry_index", DataType::Int64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("cert_sha256", DataType::Binary, true),
        Field::new("ts", DataType::Int64, true),
        Field::new("kind", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(dups.iter().map(|d| &*d.log))),
            Arc::new(Int64Array::from_iter_values(
                dups.iter().map(|d| d.entry_index),
            )),
            Arc::new(StringArray::from_iter_values(
                dups.iter().map(|d| d.source.display().to_string()),
            )),
            Arc::new(BinaryArray::from_iter(
                dups.iter()
                    .map(|d| d.cert_sha256.as_ref().map(|c| c.as_slice())),
            )),
            Arc::new(dups.iter().map(|d| d.timestamp_ms).collect::<Int64Array>()),
            Arc::new(dups.iter().map(|d| d.reject_kind).collect::<StringArray>()),
        ],
    )?;
    ctx.register_table(
        "dups",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    let (lo, hi) = dups.iter().fold((i64::MAX, i64::MIN), |(lo, hi), d| {
        (lo.min(d.entry_index), hi.max(d.entry_index))
    });
    let mut parts = Vec::new();
    for (root, tag) in [(data, "stored"), (staged, "staged")] {
        for table in ["certs", "rejects"] {
            let dir = root.join(table);
            let present = if tag == "stored" {
                !snap.table_files(table).is_empty()
            } else {
                has_parquet(&dir)
            };
            if !present {
                continue;
            }
            let name = format!("{tag}_{table}");
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![("log".to_owned(), DataType::Utf8)]);
            let canonical = dir
                .canonicalize()
                .map_err(|e| crate::error::Error::io(&dir, e))?;
            let url = format!("{}/", canonical.display());
            ctx.register_listing_table(&name, url, options, None, None)
                .await?;
            let range = format!("entry_index BETWEEN {lo} AND {hi}");
            parts.push(if table == "certs" {
                format!(
                    "SELECT log, entry_index, cert_sha256, CAST(entry_timestamp AS BIGINT) AS ts, \
                     CAST(NULL AS VARCHAR) AS kind FROM {name} WHERE {range}"
                )
            } else {
                format!(
                    "SELECT log, entry_index, CAST(NULL AS BYTEA) AS cert_sha256, CAST(NULL AS BIGINT) AS ts, \
                     kind FROM {name} WHERE {range} AND kind <> 'io'"
                )
            });
        }
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "WITH stored AS ({}) \
         SELECT d.log, d.entry_index, d.source, s.cert_sha256 AS s_cert, s.kind AS s_kind, \
                d.cert_sha256 AS d_cert, d.kind AS d_kind \
         FROM dups d JOIN stored s ON d.log = s.log AND d.entry_index = s.entry_index \
         WHERE (d.cert_sha256 IS DISTINCT FROM s.cert_sha256) \
            OR (d.ts IS DISTINCT FROM s.ts) OR (d.kind IS DISTINCT FROM s.kind) \
         ORDER BY d.log, d.entry_index, d.source",
        parts.join(" UNION ALL ")
    );
    let mut out = Vec::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        let text = |i: usize| cast(b.column(i), &DataType::Utf8);
        let bin = |i: usize| cast(b.column(i), &DataType::Binary);
        let (log, source, s_kind, d_kind) = (text(0)?, text(2)?, text(4)?, text(6)?);
        let (s_cert, d_cert) = (bin(3)?, bin(5)?);
        let index = cast(b.column(1), &DataType::Int64)?;
        let index = index.as_primitive::<arrow::datatypes::Int64Type>();
        let (log, source, s_kind, d_kind) = (
            log.as_string::<i32>(),
            source.as_string::<i32>(),
            s_kind.as_string::<i32>(),
            d_kind.as_string::<i32>(),
        );
        let (s_cert, d_cert) = (s_cert.as_binary::<i32>(), d_cert.as_binary::<i32>());
        let opt_text = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
        let opt_bin = |a: &BinaryArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_vec());
        for i in 0..b.num_rows() {
            out.push(Conflict {
                log: log.value(i).to_owned(),
                entry_index: index.value(i),
                source: PathBuf::from(source.value(i)),
                stored: describe(
                    opt_bin(s_cert, i).as_deref(),
                    opt_text(s_kind, i).as_deref(),
                ),
                found: describe(
                    opt_bin(d_cert, i).as_deref(),
                    opt_text(d_kind, i).as_deref(),
                ),
            });
        }
    }
    Ok(out)
}
