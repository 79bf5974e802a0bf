//! The stores a scheduler or executor reads datasets through, each showing
//! a dataset's data tables as its manifest names them.
//!
//! On a cluster the scheduler plans a query, so the scheduler lists the
//! files of `DIR/certs/` and `DIR/rejects/`: it must see the snapshot the
//! manifest commits to, not whatever a publish or compaction in progress
//! has put beside it. [`ManifestStore`] does for a scheduler what the
//! client's snapshot view does for a local query: the first listing of a
//! dataset's table reads that dataset's manifest (and on disk takes its
//! reader lock), and every later listing in the same session shows exactly
//! those files, so all of a query's tables (and all of a `check`'s rules)
//! see one snapshot. Nothing is written through these stores.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use url::Url;

use crate::dataset::remote::{self, Location, Remote, StoreOptions};
use crate::dataset::snapshot::{self, DATA_TABLES};
use crate::sql::session::{local_part, remote_part};
use crate::sql::snapshot_store::SnapshotStore;

/// The registry of a cluster session: `file://` and `s3://BUCKET` stores,
/// made on first use (S3 from the `AWS_*` environment and this process's
/// `--storage-option`s), each seen through a [`ManifestStore`].
pub struct DatasetStores {
    options: StoreOptions,
    made: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl fmt::Debug for DatasetStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Storage options may hold secrets: never shown.
        f.write_str("DatasetStores")
    }
}

impl DatasetStores {
    /// A registry reaching object storage with `options`.
    pub fn new(options: StoreOptions) -> Self {
        DatasetStores {
            options,
            made: Mutex::new(HashMap::new()),
        }
    }
}

/// `scheme://host` of `url`, the key a store is known by.
fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""))
}

impl ObjectStoreRegistry for DatasetStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.insert(store_key(url), store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = made.get(&key) {
            return Ok(store.clone());
        }
        let inner: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => Arc::new(LocalFileSystem::new()),
            "s3" | "s3a" => match remote::locate(FsPath::new(&key), &self.options) {
                Ok(Location::Remote(r)) => r.store,
                Ok(Location::Local(_)) => unreachable!("an s3:// URL is remote"),
                Err(e) => return Err(DataFusionError::External(Box::new(e))),
            },
            other => {
                return Err(DataFusionError::Configuration(format!(
                    "{other}:// datasets are not supported (file:// and s3:// are)"
                )))
            }
        };
        let store: Arc<dyn ObjectStore> = Arc::new(ManifestStore {
            inner,
            key: key.clone(),
            views: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
        });
        made.insert(key, store.clone());
        Ok(store)
    }
}

/// A store whose listings of a dataset's data tables show the files its
/// manifest names, read once per dataset for the store's life.
#[derive(Debug)]
pub struct ManifestStore {
    inner: Arc<dyn ObjectStore>,
    /// `file://` or `s3://BUCKET`.
    key: String,
    /// Per dataset root: the snapshot view its first listing made.
    views: Arc<tokio::sync::Mutex<HashMap<Path, Arc<SnapshotStore>>>>,
}

impl fmt::Display for ManifestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManifestStore({})", self.key)
    }
}

/// The dataset root of a listing of one of its data tables: the path
/// before the last segment that is not a partition (`log=NAME`), when that
/// segment is `certs` or `rejects`.
fn dataset_root(prefix: &Path) -> Option<Path> {
    let parts: Vec<_> = prefix.parts().collect();
    let table = parts.iter().rposition(|p| !p.as_ref().contains('='))?;
    DATA_TABLES
        .contains(&parts[table].as_ref())
        .then(|| Path::from_iter(parts[..table].iter().cloned()))
}

/// The snapshot view of the dataset at `root`, made on first use.
async fn view(
    inner: Arc<dyn ObjectStore>,
    key: String,
    views: Arc<tokio::sync::Mutex<HashMap<Path, Arc<SnapshotStore>>>>,
    root: Path,
) -> object_store::Result<Arc<SnapshotStore>> {
    let mut views = views.lock().await;
    if let Some(v) = views.get(&root) {
        return Ok(v.clone());
    }
    let generic = |e: crate::error::Error| object_store::Error::Generic {
        store: "dataset",
        source: Box::new(e),
    };
    let part = if key == "file://" {
        let dir = PathBuf::from(format!("/{root}"));
        let snapshot = snapshot::open(&dir).map_err(generic)?;
        local_part(Arc::new(snapshot)).map_err(generic)?
    } else {
        let remote = Remote {
            url: format!("{key}/{root}"),
            store_url: key.clone(),
            prefix: root.clone(),
            store: inner.clone(),
        };
        remote_part(remote).await.map_err(generic)?
    };
    let v = Arc::new(SnapshotStore::over(
        inner,
        part.tables,
        part.files,
        false,
        part.hold.into_iter().collect(),
    ));
    views.insert(root, v.clone());
    Ok(v)
}

impl ManifestStore {
    fn refused<T>(&self, location: &Path) -> object_store::Result<T> {
        Err(object_store::Error::NotSupported {
            source: format!("writing /{location}: a cluster only reads datasets").into(),
        })
    }
}

#[async_trait]
impl ObjectStore for ManifestStore {
    async fn put_opts(
        &self,
        location: &Path,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.refused(location)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.refused(location)
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        _locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        stream::once(async {
            Err(object_store::Error::NotSupported {
                source: "deleting files: a cluster only reads datasets".into(),
            })
        })
        .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let Some(root) = prefix.and_then(dataset_root) else {
            return self.inner.list(prefix);
        };
        let prefix = prefix.cloned();
        let (inner, key, views) = (self.inner.clone(), self.key.clone(), self.views.clone());
        stream::once(async move {
            let v = view(inner, key, views, root).await?;
            Ok::<_, object_store::Error>(v.list(prefix.as_ref()))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        match prefix.and_then(dataset_root) {
            Some(root) => {
                let v = view(
                    self.inner.clone(),
                    self.key.clone(),
                    self.views.clone(),
                    root,
                )
                .await?;
                v.list_with_delimiter(prefix).await
            }
            None => self.inner.list_with_delimiter(prefix).await,
        }
    }

    async fn copy_opts(
        &self,
        _from: &Path,
        to: &Path,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        self.refused(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_listing_names_its_dataset_root() {
        let root = |p: &str| dataset_root(&Path::from(p)).map(|r| r.to_string());
        assert_eq!(root("data/ds/certs"), Some("data/ds".into()));
        assert_eq!(root("data/ds/certs/log=argon2026"), Some("data/ds".into()));
        assert_eq!(root("certs/ds/rejects/log=a"), Some("certs/ds".into()));
        assert_eq!(root("data/ds/findings/run=x"), None);
        assert_eq!(root("data/ds/certs/log=a/part-1.parquet"), None);
        assert_eq!(root("data/ds"), None);
    }
}
