//! Parquet output: every writer setting, the Hive layout
//! `DIR/<table>/log=<name>/part-<run>-<seq>.parquet`, file rollover, and
//! atomic appearance (write `.<name>.inprogress`, fsync, rename).

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};

/// Rows per row group: large enough for good compression and few footers.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows per file before a new file is started.
pub const FILE_ROWS: usize = 1024 * 1024;

/// Columns whose values are (nearly) all distinct: a dictionary only costs
/// time, and overflows to the fallback encoding after its first megabyte
/// anyway. Integers then use DELTA_BINARY_PACKED; strings and hashes take
/// the encodings of [`PLAIN_COLUMNS`].
const NO_DICTIONARY_COLUMNS: &[&str] = &[
    "cert_sha256",
    "tbs_sha256",
    "spki_sha256",
    "der",
    "entry_index",
    "entry_timestamp",
    "not_before",
    "not_after",
    "serial",
    "subject_dn",
    "subject_cn",
    "san_dns.list.item",
    "sct_timestamps.list.item",
];

/// Text columns without a dictionary that are stored PLAIN: after zstd
/// they come out smaller than DELTA_BYTE_ARRAY (Parquet 2's default for
/// them: 155.1 against 157.5 bytes per entry on the benchmark's dump), and
/// they are written and read faster.
const PLAIN_COLUMNS: &[&str] = &["serial", "subject_dn", "subject_cn", "san_dns.list.item"];

/// Columns written without statistics: the values inside list columns
/// (query engines do not prune by them) and the columns of random values
/// (hashes, serials, subjects), whose every page spans nearly the whole
/// range and so never rules one out; a lookup by `cert_sha256` has its
/// bloom filter. Computing them took about 7% of the Parquet work.
const NO_STATISTICS_COLUMNS: &[&str] = &[
    "cert_sha256",
    "tbs_sha256",
    "spki_sha256",
    "issuer_key_hash",
    "serial",
    "subject_dn",
    "subject_cn",
    "san_dns.list.item",
    "san_ip.list.item",
    "policy_oids.list.item",
    "eku.list.item",
    "ocsp_urls.list.item",
    "ca_issuers_urls.list.item",
    "crl_urls.list.item",
    "sct_log_ids.list.item",
    "sct_timestamps.list.item",
    "chain_sha256.list.item",
];

fn column_path(dotted: &str) -> ColumnPath {
    ColumnPath::new(dotted.split('.').map(str::to_owned).collect())
}

/// The one place where Parquet writer settings are chosen.
pub fn writer_properties() -> WriterProperties {
    let zstd = ZstdLevel::try_new(1).expect("zstd level 1 is valid");
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(zstd))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("pipeline {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "pipeline.schema_version".to_owned(),
            "1".to_owned(),
        )]));
    for col in NO_DICTIONARY_COLUMNS {
        b = b.set_column_dictionary_enabled(column_path(col), false);
    }
    for col in PLAIN_COLUMNS {
        b = b.set_column_encoding(column_path(col), Encoding::PLAIN);
    }
    for col in NO_STATISTICS_COLUMNS {
        b = b.set_column_statistics_enabled(column_path(col), EnabledStatistics::None);
    }
    b = b
        .set_column_bloom_filter_enabled(ColumnPath::from("cert_sha256"), true)
        .set_column_bloom_filter_fpp(ColumnPath::from("cert_sha256"), 0.01)
        .set_column_bloom_filter_max_ndv(ColumnPath::from("cert_sha256"), ROW_GROUP_ROWS as u64);
    b.build()
}

struct OpenFile {
    tmp: PathBuf,
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    rows: usize,
}

/// Writes one table's batches for one log into rolling, atomically renamed files.
pub struct PartitionWriter {
    dir: PathBuf,
    prefix: String,
    schema: SchemaRef,
    seq: u32,
    current: Option<OpenFile>,
    written: Vec<PathBuf>,
    metadata: Vec<KeyValue>,
}

impl PartitionWriter {
    /// A writer into `dir`, naming files `<prefix>-<seq>.parquet`.
    pub fn new(dir: PathBuf, prefix: String, schema: SchemaRef) -> Self {
        PartitionWriter {
            dir,
            prefix,
            schema,
            seq: 0,
            current: None,
            written: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Adds a key-value pair to the metadata of every file this writer writes.
    pub fn add_metadata(&mut self, key: &str, value: &str) {
        self.metadata
            .push(KeyValue::new(key.to_owned(), value.to_owned()));
    }

    fn open(&mut self) -> Result<&mut OpenFile> {
        if self.current.is_none() {
            fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
            let name = format!("{}-{:05}.parquet", self.prefix, self.seq);
            self.seq += 1;
            let path = self.dir.join(&name);
            let tmp = self.dir.join(format!(".{name}.inprogress"));
            let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let writer = ArrowWriter::try_new(
                BufWriter::with_capacity(1 << 20, file),
                self.schema.clone(),
                Some(writer_properties()),
            )
            .map_err(|source| Error::parquet("writing", &tmp, source))?;
            self.current = Some(OpenFile {
                tmp,
                path,
                writer,
                rows: 0,
            });
        }
        Ok(self.current.as_mut().expect("just opened"))
    }

    /// Writes a batch, starting a new file once [`FILE_ROWS`] is reached.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let f = self.open()?;
            // A file ends at exactly FILE_ROWS rows, however the batches fall.
            let take = (batch.num_rows() - offset).min(FILE_ROWS - f.rows);
            f.writer
                .write(&batch.slice(offset, take))
                .map_err(|source| Error::parquet("writing", &f.tmp, source))?;
            f.rows += take;
            offset += take;
            if f.rows >= FILE_ROWS {
                self.close_current()?;
            }
        }
        Ok(())
    }

    /// Like [`PartitionWriter::write`], but a batch without rows still
    /// makes a (row-less) file.
    pub fn write_even_if_empty(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            self.open()?;
            return Ok(());
        }
        self.write(batch)
    }

    fn close_current(&mut self) -> Result<()> {
        let Some(f) = self.current.take() else {
            return Ok(());
        };
        let OpenFile {
            tmp,
            path,
            mut writer,
            ..
        } = f;
        for kv in &self.metadata {
            writer.append_key_value_metadata(kv.clone());
        }
        let buf = writer
            .into_inner()
            .map_err(|source| Error::parquet("writing", &tmp, source));
        let result = buf.and_then(|buf| {
            let file = buf
                .into_inner()
                .map_err(|e| Error::io(&tmp, e.into_error()))?;
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
            fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
            sync_dir(&self.dir)
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.written.push(path);
        Ok(())
    }

    /// Closes the open file and returns every file this writer made visible.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.written))
    }
}

impl Drop for PartitionWriter {
    fn drop(&mut self) {
        // An unfinished file is never renamed: remove it so no debris is left.
        if let Some(f) = self.current.take() {
            let _ = fs::remove_file(&f.tmp);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}
