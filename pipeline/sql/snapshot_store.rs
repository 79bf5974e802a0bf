//! The object store DataFusion reads a dataset through: the local file
//! system, with listings of the data tables cut down to the files of one
//! [`Snapshot`](crate::dataset::snapshot::Snapshot), and writes refused unless asked for.
//!
//! A listing table over `DIR/certs/` then sees exactly the files the
//! manifest names: not the new files a commit in progress has moved in
//! before its manifest, not stray files someone dropped into a partition.
//! A file the manifest names but the disk lacks is an error naming it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::dataset::snapshot::Snapshot;

/// A store (the local file system, or the object store a dataset is on) as
/// a snapshot of one dataset shows it.
#[derive(Debug)]
pub struct SnapshotStore {
    inner: Arc<dyn ObjectStore>,
    /// `DIR/certs`, `DIR/rejects` as object paths.
    tables: Vec<Path>,
    /// Every data file of the snapshot, as an object path.
    files: Arc<BTreeSet<Path>>,
    writable: bool,
    /// Held for as long as DataFusion may read: its reader lock keeps the
    /// files it names from being deleted (on disk; object storage has no
    /// locks, see [`crate::dataset::publish`]).
    _snapshots: Vec<Arc<Snapshot>>,
}

impl fmt::Display for SnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotStore({} files)", self.files.len())
    }
}

impl SnapshotStore {
    /// A view of `inner` in which the listings of `tables` show exactly
    /// `files`; `holds` are kept as long as the store lives.
    pub fn over(
        inner: Arc<dyn ObjectStore>,
        tables: Vec<Path>,
        files: BTreeSet<Path>,
        writable: bool,
        holds: Vec<Arc<Snapshot>>,
    ) -> Self {
        SnapshotStore {
            inner,
            tables,
            files: Arc::new(files),
            writable,
            _snapshots: holds,
        }
    }

    /// Whether `p` lies in a data table (and so must be a snapshot file to be seen).
    fn governed(&self, p: &Path) -> bool {
        self.tables.iter().any(|t| p.prefix_matches(t))
    }

    /// Whether a listing may show the object `p`.
    fn visible(&self, p: &Path) -> bool {
        !self.governed(p) || self.files.contains(p)
    }

    /// The snapshot files a listing of `prefix` must show (recursively, or
    /// only those directly under it).
    fn expected(&self, prefix: Option<&Path>, direct: bool) -> Vec<Path> {
        self.files
            .iter()
            .filter(|f| match prefix {
                None => true,
                Some(p) => match f.prefix_match(p) {
                    Some(rest) => !direct || rest.count() == 1,
                    None => false,
                },
            })
            .cloned()
            .collect()
    }

    fn read_only<T>(&self, what: &str) -> object_store::Result<T> {
        Err(object_store::Error::NotSupported {
            source: format!(
                "{what}: statements may not write files (pass --allow-write to `pipeline query` to let them)"
            )
            .into(),
        })
    }
}

/// The error for a file the manifest names that is not on disk.
fn missing(p: &Path) -> object_store::Error {
    object_store::Error::NotFound {
        path: format!("/{p}"),
        source: "the dataset's manifest names this data file, but it is missing \
                 (run `pipeline verify --data DIR`)"
            .into(),
    }
}

#[async_trait]
impl ObjectStore for SnapshotStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if !self.writable || self.governed(location) {
            return self.read_only(&format!("writing /{location}"));
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if !self.writable || self.governed(location) {
            return self.read_only(&format!("writing /{location}"));
        }
        self.inner.put_multipart_opts(location, opts).await
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
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let refused: object_store::Result<()> = self.read_only("deleting files");
        let err = refused.expect_err("read_only always fails");
        if !self.writable {
            return stream::once(async move { Err(err) }).boxed();
        }
        let tables = self.tables.clone();
        let locations = locations
            .map(move |l| match l {
                Ok(p) if tables.iter().any(|t| p.prefix_matches(t)) => {
                    Err(object_store::Error::NotSupported {
                        source: format!("deleting /{p}: it is a file of the dataset").into(),
                    })
                }
                other => other,
            })
            .boxed();
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = self.inner.list(prefix);
        let expected = self.expected(prefix, false);
        let (tables, files) = (self.tables.clone(), self.files.clone());
        let visible =
            move |p: &Path| !tables.iter().any(|t| p.prefix_matches(t)) || files.contains(p);
        stream::once(async move {
            let all: Vec<ObjectMeta> = inner.try_collect().await?;
            let seen: BTreeSet<&Path> = all.iter().map(|m| &m.location).collect();
            if let Some(gone) = expected.iter().find(|f| !seen.contains(f)) {
                return Err(missing(gone));
            }
            let shown: Vec<object_store::Result<ObjectMeta>> = all
                .into_iter()
                .filter(|m| visible(&m.location))
                .map(Ok)
                .collect();
            Ok(stream::iter(shown))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        let seen: BTreeSet<&Path> = result.objects.iter().map(|m| &m.location).collect();
        if let Some(gone) = self
            .expected(prefix, true)
            .iter()
            .find(|f| !seen.contains(f))
        {
            return Err(missing(gone));
        }
        result.objects.retain(|m| self.visible(&m.location));
        result.common_prefixes.retain(|d| {
            !self.governed(d)
                || self.tables.contains(d)
                || self.files.iter().any(|f| f.prefix_matches(d))
        });
        Ok(result)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        if !self.writable || self.governed(to) {
            return self.read_only(&format!("writing /{to}"));
        }
        self.inner.copy_opts(from, to, options).await
    }
}
