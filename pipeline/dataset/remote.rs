//! Datasets on object storage: where a `--data` URL points, the store that
//! reaches it, and the manifest snapshot read from it.
//!
//! A dataset on object storage has the same layout as one on disk
//! (`manifest.parquet`, `certs/log=NAME/*.parquet`, ...). It is written only
//! by `pipeline publish`, whose commit point is the single PUT of
//! `manifest.parquet` (an object is replaced whole on S3), so a reader that
//! takes the data files the manifest names sees one snapshot. There are no
//! reader locks there: `publish` removes the files it retired only after
//! they have been out of every manifest for a while (see
//! `dataset::publish`).
//!
//! Credentials, region and endpoint come from the `AWS_*` environment
//! variables; `--storage-option KEY=VALUE` sets what they cannot. Neither
//! is ever printed: [`Remote`]'s `Debug` shows the URL alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::dataset::data_file::{self, FooterCounts};
use crate::dataset::manifest::{self, FileRecord, Manifest, MANIFEST_FILE};
use crate::dataset::status::{Files, Status};
use crate::error::{Error, Result};

/// How to reach object storage: the settings the `AWS_*` environment
/// variables cannot give (`--storage-option`, repeatable).
#[derive(Clone, Default, clap::Args)]
pub struct StoreOptions {
    /// An object-store setting, e.g. endpoint=http://127.0.0.1:9000 or
    /// allow_http=true (repeatable). Keys are object_store's S3 keys
    /// (region, endpoint, allow_http, access_key_id, ...); the AWS_*
    /// environment variables give the rest.
    #[arg(long = "storage-option", value_name = "KEY=VALUE")]
    pub storage_options: Vec<String>,
}

impl fmt::Debug for StoreOptions {
    /// The keys alone: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.storage_options.iter().map(|o| key_only(o)).collect();
        f.debug_struct("StoreOptions")
            .field("storage_option_keys", &keys)
            .finish()
    }
}

/// Where a dataset is.
#[derive(Debug, Clone)]
pub enum Location {
    /// A directory on this machine.
    Local(PathBuf),
    /// A prefix in an object store.
    Remote(Remote),
}

/// A dataset's prefix in an object store, and the store.
#[derive(Clone)]
pub struct Remote {
    /// The URL as given, without a trailing `/` (`s3://bucket/prefix`).
    pub url: String,
    /// The store's own URL (`s3://bucket`), under which DataFusion finds it.
    pub store_url: String,
    /// The dataset's prefix inside the store.
    pub prefix: ObjectPath,
    /// The store.
    pub store: Arc<dyn ObjectStore>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

impl Remote {
    /// The object path of `rel` (a dataset-relative path such as
    /// `certs/log=x/part-1.parquet`).
    pub fn path(&self, rel: &str) -> ObjectPath {
        rel.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |p, part| p.join(part))
    }

    /// The URL of `rel` inside the dataset (for messages and table paths).
    pub fn url_of(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }
}

/// Where `data` (a `--data` value: a directory, a `file://` URL, or an
/// `s3://bucket/prefix` URL) points. Other URL schemes are refused by name.
pub fn locate(data: &Path, opts: &StoreOptions) -> Result<Location> {
    let Some(text) = data.to_str().filter(|t| t.contains("://")) else {
        return Ok(Location::Local(data.to_path_buf()));
    };
    let (scheme, rest) = text.split_once("://").expect("contains ://");
    match scheme {
        "file" => Ok(Location::Local(PathBuf::from(rest))),
        "s3" | "s3a" => s3(text, rest, opts).map(Location::Remote),
        other => Err(Error::Usage(format!(
            "--data {text}: {other}:// is not supported (a directory, file:// or s3://BUCKET/PREFIX; \
             S3-compatible servers through --storage-option endpoint=URL)"
        ))),
    }
}

/// Refuses a URL where `command` needs a dataset directory on this
/// machine (ingest, compact and verify write or inspect files in place):
/// without this, `--out s3://b/p` would quietly make a local folder `s3:`.
pub fn local_only(data: &Path, command: &str) -> Result<()> {
    match data.to_str() {
        Some(text) if text.contains("://") && !text.starts_with("file://") => {
            Err(Error::Usage(format!(
                "{command} works on a dataset directory on this machine, and {text} is a URL: \
                 use a directory, then `pipeline publish DIR URL`"
            )))
        }
        _ => Ok(()),
    }
}

/// The S3 store of `url` (`rest` is what follows `s3://`).
fn s3(url: &str, rest: &str, opts: &StoreOptions) -> Result<Remote> {
    let rest = rest.trim_end_matches('/');
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Usage(format!("--data {url}: no bucket named")));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for option in &opts.storage_options {
        let (key, value) = option.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--storage-option {}: expected KEY=VALUE",
                key_only(option)
            ))
        })?;
        let key = AmazonS3ConfigKey::from_str(key.trim()).map_err(|_| {
            Error::Usage(format!(
                "--storage-option {}: not an S3 setting (region, endpoint, allow_http, \
                 access_key_id, secret_access_key, session_token, ...)",
                key.trim()
            ))
        })?;
        builder = builder.with_config(key, value.trim());
    }
    let store = builder.build().map_err(|e| Error::Remote {
        url: url.to_string(),
        operation: "connecting to",
        message: e.to_string(),
    })?;
    let prefix = ObjectPath::parse(prefix)
        .map_err(|e| Error::Usage(format!("--data {url}: not a valid object path: {e}")))?;
    Ok(Remote {
        url: format!("s3://{}", rest),
        store_url: format!("s3://{bucket}"),
        prefix,
        store: Arc::new(store),
    })
}

/// An option's key alone: values may be secrets and never appear in messages.
fn key_only(option: &str) -> &str {
    option.split_once('=').map_or("(a value)", |(k, _)| k)
}

/// The manifest of the dataset at `remote`; an absent manifest is an error
/// (unlike on disk, where an empty directory is a dataset yet to be ingested:
/// a mistyped URL must not read as an empty dataset).
pub async fn read_manifest(remote: &Remote) -> Result<Manifest> {
    match manifest_bytes(remote).await? {
        Some(bytes) => parse_manifest(remote, bytes),
        None => Err(Error::Usage(format!(
            "{}: no dataset there (no {MANIFEST_FILE}; `pipeline publish DIR URL` puts one there)",
            remote.url
        ))),
    }
}

/// The bytes of the dataset's `manifest.parquet`, `None` when it has none.
pub async fn manifest_bytes(remote: &Remote) -> Result<Option<Bytes>> {
    let read = match remote.store.get(&remote.path(MANIFEST_FILE)).await {
        Ok(got) => got.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    };
    read.map(Some)
        .map_err(|e| failed(remote, MANIFEST_FILE, "reading", e))
}

/// Parses manifest bytes fetched from `remote`.
pub fn parse_manifest(remote: &Remote, bytes: Bytes) -> Result<Manifest> {
    manifest::parse(bytes, Path::new(&remote.url_of(MANIFEST_FILE)))
}

/// The error of a request on `rel` inside the dataset at `remote`.
pub fn failed(
    remote: &Remote,
    rel: &str,
    operation: &'static str,
    e: object_store::Error,
) -> Error {
    Error::Remote {
        url: remote.url_of(rel),
        operation,
        message: e.to_string(),
    }
}

/// Writes `bytes` to `rel` in one PUT (the object appears whole or not at all).
pub async fn put(remote: &Remote, rel: &str, bytes: Vec<u8>) -> Result<()> {
    remote
        .store
        .put(&remote.path(rel), PutPayload::from(bytes))
        .await
        .map_err(|e| failed(remote, rel, "writing", e))?;
    Ok(())
}

/// Parts of a multipart upload; files up to this size go in one PUT.
const PART_BYTES: usize = 16 << 20;

/// Whether the dataset holds a Parquet file under `rel` (at any depth).
pub async fn has_parquet(remote: &Remote, rel: &str) -> Result<bool> {
    let mut listing = remote.store.list(Some(&remote.path(rel)));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| failed(remote, rel, "listing", e))?;
        if meta.location.extension() == Some("parquet") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Uploads the local file `path` to `rel` in the dataset: one PUT when small, else a
/// multipart upload (which the store makes visible only when complete).
pub async fn upload(remote: &Remote, rel: &str, path: &Path) -> Result<()> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if size <= PART_BYTES as u64 {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        return put(remote, rel, bytes).await;
    }
    let upload = remote
        .store
        .put_multipart(&remote.path(rel))
        .await
        .map_err(|e| failed(remote, rel, "writing", e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(PART_BYTES, file);
    loop {
        let chunk = std::io::BufRead::fill_buf(&mut reader).map_err(|e| Error::io(path, e))?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        writer
            .wait_for_capacity(4)
            .await
            .map_err(|e| failed(remote, rel, "writing", e))?;
        writer.write(chunk);
        std::io::BufRead::consume(&mut reader, n);
    }
    writer
        .finish()
        .await
        .map_err(|e| failed(remote, rel, "writing", e))?;
    Ok(())
}

/// The status of the dataset at `remote`, as `pipeline status` shows a
/// local one: the manifest, the listing of its data tables and the footer
/// of each file it names are fetched first (a footer is two ranged reads).
pub async fn status(remote: &Remote) -> Result<Status> {
    let manifest = read_manifest(remote).await?;
    let (files, foreign) = crate::dataset::snapshot::named_files(&manifest);
    let mut fetched = Fetched {
        url: remote.url.clone(),
        sizes: list_data_files(remote).await?,
        counts: BTreeMap::new(),
        indices: BTreeMap::new(),
    };
    let mut damaged_logs = BTreeSet::new();
    for (rel, record) in &files {
        if fetched.damage(rel, *record).is_some() {
            damaged_logs.extend(crate::dataset::layout::of_file(rel).map(|(_, l)| l));
        }
    }
    for rel in files.keys() {
        let Some(&size) = fetched.sizes.get(rel) else {
            continue;
        };
        let counts = footer(remote, rel, size)
            .await
            .and_then(|meta| data_file::counts_of(&meta));
        fetched.counts.insert(rel.clone(), counts);
        let (table, log) = crate::dataset::layout::of_file(rel).unwrap_or_default();
        if damaged_logs.contains(&log) {
            let path = remote.path(rel);
            let indices = match remote.store.get(&path).await {
                Ok(got) => match got.bytes().await {
                    Ok(bytes) => data_file::stored_indices_of(bytes, table),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            fetched.indices.insert(rel.clone(), indices);
        }
    }
    let mut st = crate::dataset::status::compute(&manifest, files, &foreign, &fetched)?;
    st.data = remote.url.clone();
    Ok(st)
}

/// The data files under the dataset's prefix, with their sizes.
pub async fn list_data_files(remote: &Remote) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for table in crate::dataset::snapshot::DATA_TABLES {
        let mut listing = remote.store.list(Some(&remote.path(table)));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| failed(remote, table, "listing", e))?;
            let Some(rel) = relative(&remote.prefix, &meta.location) else {
                continue;
            };
            if crate::dataset::snapshot::is_data_file(&rel) {
                out.insert(rel, meta.size);
            }
        }
    }
    Ok(out)
}

/// `object` relative to `prefix`, as a dataset-relative path.
fn relative(prefix: &ObjectPath, object: &ObjectPath) -> Option<String> {
    let parts: Vec<String> = object
        .prefix_match(prefix)?
        .map(|p| p.as_ref().to_string())
        .collect();
    Some(parts.join("/"))
}

/// The footer of the data file `rel` (of `size` bytes), read without
/// trusting it: two ranged reads, the length checked against the size.
async fn footer(
    remote: &Remote,
    rel: &str,
    size: u64,
) -> std::result::Result<ParquetMetaData, String> {
    let path = remote.path(rel);
    if size < 12 {
        return Err(format!("{size} bytes: too short for a Parquet file"));
    }
    let tail = remote
        .store
        .get_range(&path, size - 8..size)
        .await
        .map_err(|e| e.to_string())?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err("no Parquet footer (PAR1) at its end".into());
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 8 > size {
        return Err(format!("footer length {len} is past the file's start"));
    }
    let meta = remote
        .store
        .get_range(&path, size - 8 - len..size - 8)
        .await
        .map_err(|e| e.to_string())?;
    match catch_unwind(AssertUnwindSafe(|| {
        ParquetMetaDataReader::decode_metadata(&meta)
    })) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(format!("unreadable footer: {e}")),
        Err(_) => Err("unreadable footer (the Parquet reader failed on it)".into()),
    }
}

/// What `status` fetched of a remote dataset's files.
struct Fetched {
    url: String,
    sizes: BTreeMap<String, u64>,
    counts: BTreeMap<String, std::result::Result<FooterCounts, String>>,
    indices: BTreeMap<String, std::result::Result<Vec<i64>, String>>,
}

impl Files for Fetched {
    fn name(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("{}/{rel}", self.url))
    }

    fn damage(&self, rel: &str, record: Option<FileRecord>) -> Option<String> {
        match self.sizes.get(rel) {
            None => Some("named by the manifest, but missing".into()),
            Some(&size) => record
                .filter(|r| r.size != size)
                .map(|r| format!("{size} bytes, but its commit wrote {}", r.size)),
        }
    }

    fn size(&self, rel: &str) -> u64 {
        self.sizes.get(rel).copied().unwrap_or(0)
    }

    fn counts(&self, rel: &str) -> std::result::Result<FooterCounts, String> {
        self.counts
            .get(rel)
            .cloned()
            .unwrap_or_else(|| Err("not fetched".into()))
    }

    fn indices(&self, rel: &str, _table: &str) -> std::result::Result<Vec<i64>, String> {
        self.indices
            .get(rel)
            .cloned()
            .unwrap_or_else(|| Err("not fetched".into()))
    }

    fn strays(&self, named: &BTreeMap<String, Option<FileRecord>>) -> usize {
        self.sizes
            .keys()
            .filter(|rel| !named.contains_key(*rel))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(options: &[&str]) -> StoreOptions {
        StoreOptions {
            storage_options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn storage_option_values_never_show_in_debug_output() {
        let o = opts(&[
            "secret_access_key=hunter2-very-secret",
            "endpoint=http://127.0.0.1:9",
        ]);
        let shown = format!("{o:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("secret_access_key") && shown.contains("endpoint"),
            "{shown}"
        );
    }

    #[test]
    fn data_values_name_a_directory_or_an_s3_prefix() {
        let local = locate(Path::new("some/dir"), &opts(&[])).unwrap();
        assert!(matches!(local, Location::Local(p) if p == Path::new("some/dir")));
        let file = locate(Path::new("file:///srv/ct"), &opts(&[])).unwrap();
        assert!(matches!(file, Location::Local(p) if p == Path::new("/srv/ct")));
        let with = opts(&[
            "region=eu-west-1",
            "endpoint=http://127.0.0.1:9",
            "allow_http=true",
        ]);
        let Location::Remote(r) = locate(Path::new("s3a://bucket/a/b/"), &with).unwrap() else {
            panic!("not remote")
        };
        assert_eq!(r.url, "s3://bucket/a/b");
        assert_eq!(r.store_url, "s3://bucket");
        assert_eq!(
            r.path("certs/log=x/p.parquet").as_ref(),
            "a/b/certs/log=x/p.parquet"
        );
        assert_eq!(
            r.url_of("manifest.parquet"),
            "s3://bucket/a/b/manifest.parquet"
        );
        assert_eq!(format!("{r:?}"), "Remote(s3://bucket/a/b)");
        let Location::Remote(top) = locate(Path::new("s3://bucket"), &with).unwrap() else {
            panic!("not remote")
        };
        assert_eq!(top.path("manifest.parquet").as_ref(), "manifest.parquet");
        assert_eq!(
            relative(&r.prefix, &r.path("rejects/log=y/q.parquet")).as_deref(),
            Some("rejects/log=y/q.parquet")
        );
        assert_eq!(relative(&r.prefix, &ObjectPath::from("other/x")), None);
    }

    #[test]
    fn bad_urls_and_options_are_named_without_their_values() {
        let err = |data: &str, options: &[&str]| {
            locate(Path::new(data), &opts(options))
                .unwrap_err()
                .to_string()
        };
        assert!(err("gs://b/p", &[]).contains("gs:// is not supported"));
        let e = local_only(Path::new("s3://b/p"), "ingest")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pipeline publish DIR URL"), "{e}");
        assert!(local_only(Path::new("data"), "ingest").is_ok());
        assert!(err("s3:///p", &[]).contains("no bucket"));
        let e = err("s3://b/p", &["secret_access_key"]);
        assert!(e.contains("expected KEY=VALUE"), "{e}");
        let e = err("s3://b/p", &["not_a_key=hunter2"]);
        assert!(e.contains("not_a_key") && !e.contains("hunter2"), "{e}");
    }
}
