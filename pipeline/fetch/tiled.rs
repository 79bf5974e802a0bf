//! Fetching a static-ct-api (tiled) log: its signed checkpoint, the data
//! tiles after what is verified, and the issuers they name, each tile's
//! entries hashed as they arrive; nothing is moved where `ingest` reads it
//! until the tree of old and new entries has the checkpoint's signed root.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::Path;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::ct::leaf::{decode_tile_leaf, tile_leaf_hash, Chain};
use crate::ct::merkle::{CompactTree, Hash};
use crate::ct::tile::{stated_log_name, tile_path};
use crate::ct::tree_head::{verify_checkpoint, LogKey};
use crate::error::{Error, Result};
use crate::fetch::http::Client;
use crate::fetch::staging::{move_into_place, stage};
use crate::fetch::state::{encode, save_state, write_synced, VerifiedState};

/// Entries per full tile.
const WIDTH: u64 = 256;

/// The staging directory in a log's dump directory (a dot name: `ingest`
/// never reads it).
pub const STAGING: &str = ".fetch";

/// A tiled log to fetch.
pub struct TiledLog {
    /// Its monitoring prefix, ending in `/`.
    pub monitoring_url: String,
    /// Its key.
    pub key: LogKey,
}

/// What one fetch of a log did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FetchReport {
    /// The log's name in the dump (a tiled log's checkpoint origin made a
    /// directory name; an RFC 6962 log's name in the log list).
    pub log: String,
    /// A tiled log's checkpoint origin; an RFC 6962 log's URL.
    pub origin: String,
    /// Entries verified before this fetch.
    pub previous_size: u64,
    /// Entries verified now (the signed tree head's size).
    pub verified_size: u64,
    /// The signed root (base64).
    pub root: String,
    /// Data tiles downloaded (or taken from an interrupted fetch's staging).
    pub tiles: u64,
    /// Of those, read back from staging instead of downloaded.
    pub tiles_resumed: u64,
    /// `get-entries` pages downloaded (RFC 6962 logs).
    pub pages: u64,
    /// Issuer certificates downloaded.
    pub issuers: u64,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
}

fn failed(log: &str, message: String) -> Error {
    Error::Usage(format!("fetch {log}: {message}"))
}

/// The name of data tile `n` of width `width`.
fn data_tile(n: u64, width: u64) -> String {
    if width == WIDTH {
        format!("tile/data/{}", tile_path(n))
    } else {
        format!("tile/data/{}.p/{width}", tile_path(n))
    }
}

/// A tile's entries, gunzipped if gzip (at most `limit` bytes).
fn plain(body: &[u8], limit: usize) -> std::result::Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("broken gzip: {e}"))?;
    if out.len() > limit {
        return Err(format!("more than {limit} bytes once decompressed"));
    }
    Ok(out)
}

/// The leaf hashes of a tile's entries and the issuer fingerprints they
/// name; an error says what is wrong with which entry.
fn hash_tile(data: &[u8]) -> std::result::Result<(Vec<Hash>, Vec<Hash>), String> {
    let mut leaves = Vec::new();
    let mut issuers = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let ordinal = leaves.len();
        let (hash, used) = tile_leaf_hash(&data[at..])
            .map_err(|e| format!("entry {ordinal} (at byte {at}): {e}"))?;
        if let Ok((entry, _)) = decode_tile_leaf(&data[at..]) {
            if let Chain::Fingerprints(fps) = entry.chain {
                issuers.extend(fps);
            }
        }
        leaves.push(hash);
        at += used;
    }
    Ok((leaves, issuers))
}

/// Fetches the tiled log `log` into `out/<its name>/`.
pub async fn fetch(
    client: &Client,
    log: &TiledLog,
    out: &Path,
    dry_run: bool,
    parallel: usize,
    bar: &indicatif::ProgressBar,
) -> Result<FetchReport> {
    let url = &log.monitoring_url;
    let note = client
        .get(&format!("{url}checkpoint"))
        .await
        .map_err(|e| failed(url, e.to_string()))?
        .ok_or_else(|| failed(url, "the log has no checkpoint (HTTP 404)".into()))?;
    let text = String::from_utf8_lossy(&note).into_owned();
    let origin = text.lines().next().unwrap_or("").to_owned();
    let head = verify_checkpoint(&note, &origin, &log.key)
        .map_err(|e| failed(url, format!("checkpoint: {e}")))?;
    let name = stated_log_name(Some(&text), None).ok_or_else(|| {
        failed(
            url,
            format!(
                "checkpoint origin {:?} is not a usable name",
                crate::text::escape(&origin)
            ),
        )
    })?;
    let dir = out.join(&name);
    let mut report = FetchReport {
        log: name.clone(),
        origin: origin.clone(),
        verified_size: head.size,
        root: encode(&head.root),
        dry_run,
        ..FetchReport::default()
    };
    let state = VerifiedState::load(&dir)?;
    let (mut tree, tail) = match &state {
        Some(s) => {
            if s.log != origin {
                return Err(failed(
                    &name,
                    format!(
                        "{} holds the log {:?}, not {origin:?}",
                        dir.display(),
                        s.log
                    ),
                ));
            }
            s.tree(&VerifiedState::path(&dir))?
        }
        None => (CompactTree::new(), Vec::new()),
    };
    let previous = state.as_ref().map_or(0, |s| s.size);
    report.previous_size = previous;
    if head.size < previous {
        return Err(failed(&name, format!(
            "the log's checkpoint has {} entries, fewer than the {previous} verified before: a log never shrinks",
            head.size
        )));
    }
    if head.size == previous {
        let known = state.as_ref().map(|s| s.root.clone()).unwrap_or_default();
        if known != report.root {
            return Err(failed(
                &name,
                format!(
                    "the log signed two roots for {previous} entries: {known} before, {} now",
                    report.root
                ),
            ));
        }
        return Ok(report);
    }
    let first = previous / WIDTH;
    let last = head.size.div_ceil(WIDTH);
    if dry_run {
        report.tiles = last - first;
        return Ok(report);
    }
    let staging = dir.join(STAGING);
    fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    bar.set_length(head.size - previous);

    // Tiles in order, `parallel` requests at a time; one already staged by
    // an interrupted fetch is read back instead of downloaded.
    let tiles = futures::stream::iter(first..last)
        .map(|n| {
            let width = (head.size - n * WIDTH).min(WIDTH);
            let rel = data_tile(n, width);
            let staged = staging.join(&rel);
            async move {
                if let Ok(bytes) = fs::read(&staged) {
                    return Ok((n, width, rel, bytes, true));
                }
                let body = match client.get(&format!("{url}{rel}")).await {
                    Ok(Some(b)) => b,
                    Ok(None) => {
                        return Err(format!("{rel}: HTTP 404, and the checkpoint covers it"))
                    }
                    Err(e) => return Err(e.to_string()),
                };
                Ok((n, width, rel, body, false))
            }
        })
        .buffered(parallel.max(1));
    futures::pin_mut!(tiles);
    let mut issuers: BTreeSet<Hash> = BTreeSet::new();
    let mut staged_files: Vec<String> = Vec::new();
    let mut new_tail: Vec<Hash> = Vec::new();
    while let Some(next) = tiles.next().await {
        let (n, width, rel, body, resumed) = next.map_err(|e| failed(&name, e))?;
        let start = n * WIDTH;
        let data = plain(&body, 64 << 20).map_err(|e| failed(&name, format!("{rel}: {e}")))?;
        let (leaves, names) = hash_tile(&data).map_err(|e| failed(&name, format!("{rel}: {e}")))?;
        if leaves.len() as u64 != width {
            return Err(failed(
                &name,
                format!(
                "{rel} holds {} entries where the checkpoint puts {width} (entries {start}..{})",
                leaves.len(),
                start + width
            ),
            ));
        }
        if n == first && !tail.is_empty() && leaves[..tail.len()] != tail[..] {
            return Err(failed(&name, format!(
                "entries {start}..{} in {rel} are not the ones verified before: the log changed its history",
                start + tail.len() as u64
            )));
        }
        for l in &leaves {
            tree.push(*l);
        }
        if width < WIDTH {
            new_tail = leaves;
        }
        issuers.extend(names);
        if !resumed {
            let path = staging.join(&rel);
            stage(&path, &body)?;
            report.bytes += body.len() as u64;
        } else {
            report.tiles_resumed += 1;
        }
        report.tiles += 1;
        bar.inc((start + width).saturating_sub(previous.max(start)));
        staged_files.push(rel);
    }
    if tree.root() != head.root || tree.size() != head.size {
        // Nothing is moved into place: the staged tiles are dropped so a
        // new fetch downloads them again.
        let _ = fs::remove_dir_all(&staging);
        return Err(failed(&name, format!(
            "entries {previous}..{} do not hash to the checkpoint's signed root {} (they give {}): the log served entries it did not sign",
            head.size,
            report.root,
            encode(&tree.root())
        )));
    }

    // Issuers: each checked against its fingerprint.
    let issuer_dir = dir.join("issuer");
    for fp in &issuers {
        let hex = hex::encode(fp);
        if issuer_dir.join(&hex).is_file() {
            continue;
        }
        let rel = format!("issuer/{hex}");
        let staged = staging.join(&rel);
        let body = match fs::read(&staged) {
            Ok(b) => b,
            Err(_) => {
                let body = client
                    .get(&format!("{url}{rel}"))
                    .await
                    .map_err(|e| failed(&name, e.to_string()))?
                    .ok_or_else(|| failed(&name, format!("{rel}: HTTP 404; an entry names it")))?;
                report.bytes += body.len() as u64;
                report.issuers += 1;
                body
            }
        };
        let got: Hash = Sha256::digest(&body).into();
        if &got != fp {
            let _ = fs::remove_file(&staged);
            return Err(failed(
                &name,
                format!("{rel} has SHA-256 {}, not its name", hex::encode(got)),
            ));
        }
        stage(&staged, &body)?;
        staged_files.push(rel);
    }

    bar.finish_and_clear();
    // Verified: synced, into place, then the checkpoint, then the state.
    move_into_place(&staging, &dir, &staged_files)?;
    remove_superseded_partials(&dir, previous, head.size)?;
    let checkpoint = dir.join("checkpoint");
    let tmp = dir.join(".checkpoint.tmp");
    write_synced(&tmp, &note)?;
    fs::rename(&tmp, &checkpoint).map_err(|e| Error::io(&checkpoint, e))?;
    save_state(&dir, &origin, &head, &tree, &new_tail)?;
    let _ = fs::remove_dir_all(&staging);
    Ok(report)
}

/// The partial tile that held the old tail, once a fuller one is in place.
fn remove_superseded_partials(dir: &Path, previous: u64, size: u64) -> Result<()> {
    let width = previous % WIDTH;
    if width == 0 {
        return Ok(());
    }
    let n = previous / WIDTH;
    let new_width = (size - n * WIDTH).min(WIDTH);
    if new_width != width {
        let old = dir.join(data_tile(n, width));
        match fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&old, e)),
        }
    }
    Ok(())
}
