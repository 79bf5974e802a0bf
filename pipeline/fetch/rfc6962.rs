//! Fetching an RFC 6962 log: `get-sth` (its signature checked with the
//! log's key), then `get-entries` pages from the verified size on, written
//! as `<start>-<end>.json` (the names `ingest` reads). A log may return
//! fewer entries than asked: the first short page sets the page size for
//! the rest. Every entry's `leaf_input` is hashed into the tree as it
//! arrives; pages move into place only once the tree has the STH's root
//! (or, for a prefix, once the log's consistency proof takes it there).
//! A fetch killed midway reads the pages it staged back from disk.

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::StreamExt;

use crate::ct::merkle::{leaf_hash, Hash};
use crate::ct::tree_head::{verify_sth, LogKey};
use crate::error::{Error, Result};
use crate::fetch::http::Client;
use crate::fetch::prefix::check_consistency;
use crate::fetch::staging::{move_into_place, stage};
use crate::fetch::state::{encode, resume, save_state};
use crate::fetch::tiled::{FetchReport, STAGING};
use crate::fetch::FetchOptions;

/// An RFC 6962 log to fetch.
pub struct Rfc6962Log {
    /// Its URL (`https://host/prefix/`, ending in `/`).
    pub url: String,
    /// Its name in the dump (the log list's `log_name`).
    pub name: String,
    /// Its key.
    pub key: LogKey,
}

/// The most entries asked for in one `get-entries` request.
pub const MAX_PAGE: u64 = 1024;

fn failed(log: &str, message: String) -> Error {
    Error::Usage(format!("fetch {log}: {message}"))
}

#[derive(serde::Deserialize)]
struct Entries {
    entries: Vec<EntryJson>,
}

#[derive(serde::Deserialize)]
struct EntryJson {
    leaf_input: String,
}

/// The leaf hashes of a `get-entries` body.
fn page_leaves(body: &[u8]) -> std::result::Result<Vec<Hash>, String> {
    let page: Entries =
        serde_json::from_slice(body).map_err(|e| format!("not a get-entries response: {e}"))?;
    page.entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            STANDARD
                .decode(&e.leaf_input)
                .map(|leaf| leaf_hash(&leaf))
                .map_err(|err| format!("entry {i}: leaf_input is not base64: {err}"))
        })
        .collect()
}

/// One page: `start..start + n`, its body and its leaf hashes.
struct Page {
    start: u64,
    body: Vec<u8>,
    leaves: Vec<Hash>,
}

/// Asks for `start..=end`; a page of fewer entries is what the log gives.
async fn get_page(
    client: &Client,
    url: &str,
    start: u64,
    end: u64,
) -> std::result::Result<Page, String> {
    let req = format!("{url}ct/v1/get-entries?start={start}&end={end}");
    let body = client
        .get(&req)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("get-entries {start}..={end}: HTTP 404"))?;
    let leaves = page_leaves(&body).map_err(|e| format!("get-entries {start}..={end}: {e}"))?;
    if leaves.is_empty() {
        return Err(format!(
            "get-entries {start}..={end}: no entries, and the STH covers them"
        ));
    }
    if leaves.len() as u64 > end - start + 1 {
        return Err(format!(
            "get-entries {start}..={end}: {} entries, more than asked",
            leaves.len()
        ));
    }
    Ok(Page {
        start,
        body,
        leaves,
    })
}

/// The pages an interrupted fetch staged, read back in order from `at`
/// while they follow on (each was written whole); each one's leaf hashes
/// are pushed like a download's.
fn staged_pages(staging: &Path, mut at: u64, target: u64) -> Vec<Page> {
    let mut by_start = std::collections::HashMap::new();
    for e in fs::read_dir(staging).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((a, b)) = name.strip_suffix(".json").and_then(|r| r.split_once('-')) else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
            by_start.insert(a, (b, e.path()));
        }
    }
    let mut pages = Vec::new();
    while let Some((end, path)) = by_start.remove(&at) {
        if end < at || end >= target {
            break;
        }
        let Ok(body) = fs::read(&path) else { break };
        match page_leaves(&body) {
            Ok(leaves) if leaves.len() as u64 == end - at + 1 => {
                pages.push(Page {
                    start: at,
                    body,
                    leaves,
                });
                at = end + 1;
            }
            _ => break,
        }
    }
    pages
}

/// Fetches the RFC 6962 log `log` into `opts.out/<its name>/`.
pub async fn fetch(
    client: &Client,
    log: &Rfc6962Log,
    opts: &FetchOptions,
    bar: &indicatif::ProgressBar,
) -> Result<FetchReport> {
    let name = &log.name;
    let url = &log.url;
    let sth = client
        .get(&format!("{url}ct/v1/get-sth"))
        .await
        .map_err(|e| failed(name, e.to_string()))?
        .ok_or_else(|| failed(name, "get-sth: HTTP 404".into()))?;
    let head = verify_sth(&sth, &log.key).map_err(|e| failed(name, format!("get-sth: {e}")))?;
    let dir = opts.out.join(name);
    let mut report = FetchReport {
        log: name.clone(),
        origin: url.clone(),
        signed_size: head.size,
        signed_root: encode(&head.root),
        proof: "none".into(),
        dry_run: opts.dry_run,
        ..FetchReport::default()
    };
    let resumed = resume(&dir, url, &head, "STH").map_err(|e| failed(name, e.to_string()))?;
    let (mut tree, mut tail) = (resumed.tree(), resumed.tail);
    let previous = resumed.previous;
    report.previous_size = previous;
    report.verified_size = previous;
    report.root = resumed.root;
    if previous > 0 && head.size > previous {
        // Before anything is downloaded: the new STH's tree must extend the
        // verified one, by the log's consistency proof.
        let known = tree.root();
        check_consistency(client, url, (previous, &known), (head.size, &head.root))
            .await
            .map_err(|e| {
                failed(name, format!(
                    "the STH of {} entries is not consistent with the {previous} verified before (root {}): the log changed its history, or sent a false proof ({e})",
                    head.size,
                    encode(&known)
                ))
            })?;
    }
    let target = opts.target(previous, head.size);
    if target == previous {
        return Ok(report);
    }
    if opts.dry_run {
        report.verified_size = target;
        report.pages = (target - previous).div_ceil(MAX_PAGE);
        report.would_fetch = vec![format!(
            "get-entries {previous}..={} (pages of at most {MAX_PAGE}; the log may cap them lower)",
            target - 1
        )];
        return Ok(report);
    }
    let staging = dir.join(STAGING);
    fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    bar.set_length(target - previous);

    // Pages an interrupted fetch staged come first, from disk; then the
    // first page downloaded learns the log's cap, and the rest go
    // `parallel` at a time in windows of that size, each finishing its
    // window if served short.
    let resumed = staged_pages(&staging, previous, target);
    let from = resumed
        .last()
        .map_or(previous, |p| p.start + p.leaves.len() as u64);
    report.pages_resumed = resumed.len() as u64;
    let mut batches: Vec<(Vec<Page>, bool)> = vec![(resumed, true)];
    let mut cap = MAX_PAGE;
    if from < target {
        let first = get_page(client, url, from, (from + MAX_PAGE).min(target) - 1)
            .await
            .map_err(|e| failed(name, e))?;
        cap = first.leaves.len() as u64;
        batches.push((vec![first], false));
    }
    let after = batches
        .last()
        .and_then(|(b, _)| b.last())
        .map_or(from, |p| p.start + p.leaves.len() as u64);
    let windows = (after..target)
        .step_by(cap as usize)
        .map(|s| (s, (s + cap).min(target)));
    let rest = futures::stream::iter(windows)
        .map(|(s, e)| async move {
            let mut pages = Vec::new();
            let mut at = s;
            while at < e {
                let p = get_page(client, url, at, e - 1).await?;
                at += p.leaves.len() as u64;
                pages.push(p);
            }
            Ok::<_, String>(pages)
        })
        .buffered(opts.parallel.max(1));
    futures::pin_mut!(rest);
    let mut staged = Vec::new();
    let mut ready = batches.into_iter();
    loop {
        let (pages, from_disk) = match ready.next() {
            Some(batch) => batch,
            None => match rest.next().await {
                Some(p) => (p.map_err(|e| failed(name, e))?, false),
                None => break,
            },
        };
        for p in pages {
            let end = p.start + p.leaves.len() as u64 - 1;
            for l in &p.leaves {
                tree.push(*l);
                if tree.size() % 256 == 0 {
                    tail.clear();
                } else {
                    tail.push(*l);
                }
            }
            let rel = format!("{}-{end}.json", p.start);
            if !from_disk {
                stage(&staging.join(&rel), &p.body)?;
                report.bytes += p.body.len() as u64;
            }
            report.pages += 1;
            bar.inc(p.leaves.len() as u64);
            staged.push(rel);
        }
    }
    bar.finish_and_clear();
    let proved = if tree.size() != target {
        Err(format!(
            "entries {previous}..{target} were asked for and {} came",
            tree.size() - previous
        ))
    } else if target < head.size {
        report.proof = "consistency proof".into();
        check_consistency(client, url, (target, &tree.root()), (head.size, &head.root))
            .await
            .map_err(|e| {
                format!(
                    "entries 0..{target} are not the first {target} of the signed tree of {} ({e}): the log served entries it did not sign, or a false proof",
                    head.size
                )
            })
    } else if tree.root() != head.root {
        Err(format!(
            "entries {previous}..{} do not hash to the STH's signed root {} (they give {}): the log served entries it did not sign",
            head.size,
            report.signed_root,
            encode(&tree.root())
        ))
    } else {
        report.proof = "entries".into();
        Ok(())
    };
    if let Err(e) = proved {
        let _ = fs::remove_dir_all(&staging);
        return Err(failed(name, e));
    }
    move_into_place(&staging, &dir, &staged)?;
    save_state(&dir, url, &head, &tree, &tail)?;
    let _ = fs::remove_dir_all(&staging);
    report.verified_size = target;
    report.root = encode(&tree.root());
    Ok(report)
}
