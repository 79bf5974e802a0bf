//! `pipeline publish DIR URL`: puts a local dataset on object storage so
//! that a reader of the URL sees either the snapshot it had or the new one,
//! never a mix.
//!
//! Order: the data files the local manifest names that the store lacks
//! (data file names are unique per run and never rewritten, so a file of
//! the same name and size is the same file), then `manifest.parquet` in one
//! PUT (the commit point: an object is replaced whole), then deletion of
//! the files that neither the new manifest nor the one it replaced names.
//! The files the replaced manifest named stay until the next publish, so a
//! reader that started on the old snapshot can finish.
//!
//! A publish killed at any point leaves the old manifest and every file it
//! names; running it again uploads what is missing and finishes. A publish
//! of an unchanged dataset uploads nothing. One publisher per URL at a
//! time: the object store has no lock to take.

use std::collections::BTreeSet;
use std::path::PathBuf;

use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::dataset::manifest::{self, MANIFEST_FILE};
use crate::dataset::remote::{self, failed, Location, StoreOptions};
use crate::dataset::snapshot;
use crate::error::{Error, Result};

/// What `pipeline publish` was asked to do: its command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishOptions {
    /// The local dataset directory to publish.
    #[arg(value_name = "DIR")]
    pub data: PathBuf,
    /// Where to publish it: s3://BUCKET/PREFIX.
    #[arg(value_name = "URL")]
    pub url: PathBuf,
    /// How to reach the object store.
    #[command(flatten)]
    pub store: StoreOptions,
}

/// What a publish did; the keys are part of `publish --json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Published {
    /// The dataset's URL.
    pub url: String,
    /// The manifest generation now published.
    pub generation: u64,
    /// Data files uploaded.
    pub files_uploaded: u64,
    /// Bytes uploaded (data files and manifest).
    pub bytes_uploaded: u64,
    /// Data files the store already held.
    pub files_present: u64,
    /// Whether the manifest was uploaded (false: the store's was the same).
    pub manifest_uploaded: bool,
    /// Files deleted: retired by an earlier publish, or left by a killed one.
    pub files_deleted: u64,
    /// Files the replaced manifest named, kept for its readers until the next publish.
    pub files_kept_for_readers: u64,
}

/// Publishes the dataset at `opts.data` to `opts.url`.
pub async fn publish(opts: &PublishOptions) -> Result<Published> {
    let remote = match remote::locate(&opts.url, &opts.store)? {
        Location::Remote(r) => r,
        Location::Local(p) => {
            return Err(Error::Usage(format!(
                "publish: {} is not an object-store URL (s3://BUCKET/PREFIX)",
                p.display()
            )))
        }
    };
    // The reader lock keeps the local files from being retired while they upload.
    let snap = snapshot::open(&opts.data)?;
    let local_manifest = manifest::manifest_path(&snap.data);
    let manifest_bytes =
        std::fs::read(&local_manifest).map_err(|e| Error::io(&local_manifest, e))?;
    let stored = remote::list_data_files(&remote).await?;
    let replaced_bytes = remote::manifest_bytes(&remote).await?;
    let replaced = match &replaced_bytes {
        Some(bytes) => Some(remote::parse_manifest(&remote, bytes.clone())?),
        None => None,
    };
    let mut done = Published {
        url: remote.url.clone(),
        generation: snap.manifest.generation,
        ..Published::default()
    };
    for rel in snap.files.keys() {
        let path = snap.data.join(rel);
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .len();
        if stored.get(rel.as_str()) == Some(&size) {
            done.files_present += 1;
            continue;
        }
        remote::upload(&remote, rel, &path).await?;
        done.files_uploaded += 1;
        done.bytes_uploaded += size;
    }
    crate::dataset::commit::crash_point("publish_before_manifest");
    let same = replaced_bytes.as_deref() == Some(manifest_bytes.as_slice());
    if !same {
        let len = manifest_bytes.len() as u64;
        remote::put(&remote, MANIFEST_FILE, manifest_bytes).await?;
        done.manifest_uploaded = true;
        done.bytes_uploaded += len;
    }
    let live: BTreeSet<&str> = snap.files.keys().map(String::as_str).collect();
    let old: BTreeSet<String> = replaced
        .as_ref()
        .map(|m| snapshot::named_files(m).0.into_keys().collect())
        .unwrap_or_default();
    let (kept, doomed): (Vec<&str>, Vec<&str>) = stored
        .keys()
        .map(String::as_str)
        .filter(|rel| !live.contains(rel))
        .partition(|rel| old.contains(*rel));
    done.files_kept_for_readers = kept.len() as u64;
    for rel in doomed {
        remote
            .store
            .delete(&remote.path(rel))
            .await
            .map_err(|e| failed(&remote, rel, "deleting", e))?;
        done.files_deleted += 1;
    }
    Ok(done)
}
