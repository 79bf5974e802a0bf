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
use crate::ct::merkle::Hash;
use crate::ct::tile::{stated_log_name, tile_path};
use crate::ct::tree_head::{verify_checkpoint, LogKey};
use crate::error::{Error, Result};
use crate::fetch::http::Client;
use crate::fetch::prefix::complete_from_hash_tiles;
use crate::fetch::staging::{move_into_place, stage};
use crate::fetch::state::{encode, resume, save_state, write_synced, Resumed};
use crate::fetch::FetchOptions;

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
    /// Entries verified now: the signed tree head's size, or less with
    /// `--to` / `--max-entries`.
    pub verified_size: u64,
    /// The root of the entries verified (base64).
    pub root: String,
    /// The size of the signed tree head they were proved against.
    pub signed_size: u64,
    /// Its root (base64).
    pub signed_root: String,
    /// How the entries were proved: `entries` (they hash to the signed
    /// root), `hash tiles` or `consistency proof` (a prefix of the signed
    /// tree), or `none` (nothing new).
    pub proof: String,
    /// Hash tiles read to prove a prefix.
    pub hash_tiles: u64,
    /// Data tiles downloaded (or taken from an interrupted fetch's staging).
    pub tiles: u64,
    /// Of those, read back from staging instead of downloaded.
    pub tiles_resumed: u64,
    /// `get-entries` pages downloaded (RFC 6962 logs).
    pub pages: u64,
    /// Of those, read back from staging instead of downloaded.
    pub pages_resumed: u64,
    /// What a dry run would fetch: the first and last file (or page).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_fetch: Vec<String>,
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

/// A data tile's entries, hashed.
struct TileLeaves {
    /// Each entry's leaf hash.
    leaves: Vec<Hash>,
    /// Where each entry ends in the tile's bytes.
    ends: Vec<usize>,
    /// The issuer fingerprints the first `keep` entries name.
    issuers: Vec<Hash>,
}

/// The leaf hashes of a tile's entries and the issuer fingerprints its
/// first `keep` entries name; an error says what is wrong with which entry.
fn hash_tile(data: &[u8], keep: usize) -> std::result::Result<TileLeaves, String> {
    let mut t = TileLeaves {
        leaves: Vec::new(),
        ends: Vec::new(),
        issuers: Vec::new(),
    };
    let mut at = 0;
    while at < data.len() {
        let ordinal = t.leaves.len();
        let (hash, used) = tile_leaf_hash(&data[at..])
            .map_err(|e| format!("entry {ordinal} (at byte {at}): {e}"))?;
        if ordinal < keep {
            if let Ok((entry, _)) = decode_tile_leaf(&data[at..]) {
                if let Chain::Fingerprints(fps) = entry.chain {
                    t.issuers.extend(fps);
                }
            }
        }
        t.leaves.push(hash);
        at += used;
        t.ends.push(at);
    }
    Ok(t)
}

/// Fetches the tiled log `log` into `opts.out/<its name>/`.
pub async fn fetch(
    client: &Client,
    log: &TiledLog,
    opts: &FetchOptions,
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
    let dir = opts.out.join(&name);
    let mut report = FetchReport {
        log: name.clone(),
        origin: origin.clone(),
        signed_size: head.size,
        signed_root: encode(&head.root),
        proof: "none".into(),
        dry_run: opts.dry_run,
        ..FetchReport::default()
    };
    let resumed =
        resume(&dir, &origin, &head, "checkpoint").map_err(|e| failed(&name, e.to_string()))?;
    let previous = resumed.previous;
    report.previous_size = previous;
    report.verified_size = previous;
    report.root = resumed.root.clone();
    if previous > 0 && head.size > previous {
        // Before anything is downloaded: the new checkpoint's tree must
        // extend the verified one (completed with the log's hash tiles).
        let mut grown = resumed.tree();
        let known = encode(&grown.root());
        report.hash_tiles += complete_from_hash_tiles(client, url, &mut grown, head.size)
            .await
            .map_err(|e| failed(&name, e))?;
        if grown.root() != head.root {
            return Err(failed(&name, format!(
                "the checkpoint of {} entries is not consistent with the {previous} verified before (root {known}): the log changed its history, or serves false hash tiles",
                head.size
            )));
        }
    }
    let target = opts.target(previous, head.size);
    if target == previous {
        return Ok(report);
    }
    // The first tile is downloaded whole again: its leaves go onto the
    // tree at the boundary, and its old ones must be the verified tail.
    let Resumed {
        boundary: mut tree,
        tail,
        ..
    } = resumed;
    let first = previous / WIDTH;
    let last = target.div_ceil(WIDTH);
    if opts.dry_run {
        report.verified_size = target;
        report.tiles = last - first;
        let width = |n: u64| (head.size - n * WIDTH).min(WIDTH);
        report.would_fetch = vec![
            data_tile(first, width(first)),
            data_tile(last - 1, width(last - 1)),
        ];
        report.would_fetch.dedup();
        return Ok(report);
    }
    let staging = dir.join(STAGING);
    fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    bar.set_length(target - previous);

    // Tiles in order, `parallel` requests at a time, as the signed tree
    // holds them (the last one may be cut to `target` below); one already
    // staged by an interrupted fetch is read back instead of downloaded.
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
        .buffered(opts.parallel.max(1));
    futures::pin_mut!(tiles);
    let mut issuers: BTreeSet<Hash> = BTreeSet::new();
    let mut staged_files: Vec<String> = Vec::new();
    let mut new_tail: Vec<Hash> = Vec::new();
    // Leaves of the last tile past `target`: in the signed tree, not kept.
    let mut beyond: Vec<Hash> = Vec::new();
    while let Some(next) = tiles.next().await {
        let (n, width, rel, body, resumed) = next.map_err(|e| failed(&name, e))?;
        let start = n * WIDTH;
        let keep = (target - start).min(WIDTH);
        let data = plain(&body, 64 << 20).map_err(|e| failed(&name, format!("{rel}: {e}")))?;
        let t =
            hash_tile(&data, keep as usize).map_err(|e| failed(&name, format!("{rel}: {e}")))?;
        if t.leaves.len() as u64 != width {
            return Err(failed(
                &name,
                format!(
                "{rel} holds {} entries where the checkpoint puts {width} (entries {start}..{})",
                t.leaves.len(),
                start + width
            ),
            ));
        }
        if n == first && !tail.is_empty() && t.leaves[..tail.len()] != tail[..] {
            return Err(failed(&name, format!(
                "entries {start}..{} in {rel} are not the ones verified before: the log changed its history",
                start + tail.len() as u64
            )));
        }
        let (kept, rest) = t.leaves.split_at(keep as usize);
        for l in kept {
            tree.push(*l);
        }
        if keep < WIDTH {
            new_tail = kept.to_vec();
        }
        beyond = rest.to_vec();
        issuers.extend(t.issuers);
        if !resumed {
            stage(&staging.join(&rel), &body)?;
            report.bytes += body.len() as u64;
        } else {
            report.tiles_resumed += 1;
        }
        if keep < width {
            // The tile as the log served it at `target` entries: a partial
            // tile is its full tile's first entries.
            let cut = data_tile(n, keep);
            stage(&staging.join(&cut), &data[..t.ends[keep as usize - 1]])?;
            staged_files.push(cut);
        } else {
            staged_files.push(rel);
        }
        report.tiles += 1;
        bar.inc((start + keep).saturating_sub(previous.max(start)));
    }
    // The tree of the signed size: the entries fetched, then (for a
    // prefix) the rest of the last tile and the log's hash tiles.
    let mut signed = tree.clone();
    if target < head.size {
        for l in &beyond {
            signed.push(*l);
        }
        report.hash_tiles = complete_from_hash_tiles(client, url, &mut signed, head.size)
            .await
            .map_err(|e| failed(&name, e))?;
        report.proof = "hash tiles".into();
    } else {
        report.proof = "entries".into();
    }
    if signed.root() != head.root || signed.size() != head.size {
        // Nothing is moved into place: the staged tiles are dropped so a
        // new fetch downloads them again.
        let _ = fs::remove_dir_all(&staging);
        let with = if target < head.size {
            format!(
                " with the log's hash tiles for entries {target}..{}",
                head.size
            )
        } else {
            String::new()
        };
        return Err(failed(&name, format!(
            "entries {previous}..{target}{with} do not hash to the checkpoint's signed root {} (they give {}): the log served entries it did not sign",
            report.signed_root,
            encode(&signed.root())
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
    remove_superseded_partials(&dir, previous, target)?;
    let checkpoint = dir.join("checkpoint");
    let tmp = dir.join(".checkpoint.tmp");
    write_synced(&tmp, &note)?;
    fs::rename(&tmp, &checkpoint).map_err(|e| Error::io(&checkpoint, e))?;
    save_state(&dir, &origin, &head, &tree, &new_tail)?;
    let _ = fs::remove_dir_all(&staging);
    report.verified_size = target;
    report.root = encode(&tree.root());
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
        // Its `.p` directory, once empty (another width may still be there).
        if let Some(parent) = old.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
    Ok(())
}
