//! Fetching an RFC 6962 log: `get-sth` (its signature checked with the
//! log's key), then `get-entries` pages from the verified size on, written
//! as `<start>-<end>.json` (the names `ingest` reads). A log may return
//! fewer entries than asked: the first short page sets the page size for
//! the rest. Every entry's `leaf_input` is hashed into the tree as it
//! arrives; pages move into place only once the tree has the STH's root.

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::StreamExt;

use crate::ct::merkle::{leaf_hash, CompactTree, Hash};
use crate::ct::tree_head::{verify_sth, LogKey};
use crate::error::{Error, Result};
use crate::fetch::http::Client;
use crate::fetch::staging::{move_into_place, stage};
use crate::fetch::state::{encode, save_state, VerifiedState};
use crate::fetch::tiled::{FetchReport, STAGING};

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

/// Fetches the RFC 6962 log `log` into `out/<its name>/`.
pub async fn fetch(
    client: &Client,
    log: &Rfc6962Log,
    out: &Path,
    dry_run: bool,
    parallel: usize,
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
    let dir = out.join(name);
    let mut report = FetchReport {
        log: name.clone(),
        origin: url.clone(),
        verified_size: head.size,
        root: encode(&head.root),
        dry_run,
        ..FetchReport::default()
    };
    let state = VerifiedState::load(&dir)?;
    if let Some(s) = &state {
        if s.log != *url {
            return Err(failed(
                name,
                format!("{} holds the log {:?}, not {url:?}", dir.display(), s.log),
            ));
        }
    }
    let (mut tree, mut tail) = match &state {
        Some(s) => s.tree(&VerifiedState::path(&dir))?,
        None => (CompactTree::new(), Vec::new()),
    };
    for h in &tail {
        tree.push(*h);
    }
    let previous = tree.size();
    report.previous_size = previous;
    if head.size < previous {
        return Err(failed(name, format!(
            "the log's STH has {} entries, fewer than the {previous} verified before: a log never shrinks",
            head.size
        )));
    }
    if head.size == previous {
        if tree.root() != head.root {
            return Err(failed(
                name,
                format!(
                    "the log signed two roots for {previous} entries: {} before, {} now",
                    encode(&tree.root()),
                    report.root
                ),
            ));
        }
        return Ok(report);
    }
    if dry_run {
        report.pages = (head.size - previous).div_ceil(MAX_PAGE);
        return Ok(report);
    }
    let staging = dir.join(STAGING);
    fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    bar.set_length(head.size - previous);

    // The first page learns the log's cap; the rest go `parallel` at a time
    // in windows of that size, each finishing its window if served short.
    let first = get_page(
        client,
        url,
        previous,
        (previous + MAX_PAGE).min(head.size) - 1,
    )
    .await
    .map_err(|e| failed(name, e))?;
    let cap = first.leaves.len() as u64;
    let after = previous + cap;
    let windows = (after..head.size)
        .step_by(cap as usize)
        .map(|s| (s, (s + cap).min(head.size)));
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
        .buffered(parallel.max(1));
    futures::pin_mut!(rest);
    let mut staged = Vec::new();
    let mut next = Some(vec![first]);
    loop {
        let pages = match next.take() {
            Some(p) => p,
            None => match rest.next().await {
                Some(p) => p.map_err(|e| failed(name, e))?,
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
            stage(&staging.join(&rel), &p.body)?;
            report.bytes += p.body.len() as u64;
            report.pages += 1;
            bar.inc(p.leaves.len() as u64);
            staged.push(rel);
        }
    }
    bar.finish_and_clear();
    if tree.size() != head.size || tree.root() != head.root {
        let _ = fs::remove_dir_all(&staging);
        return Err(failed(name, format!(
            "entries {previous}..{} do not hash to the STH's signed root {} (they give {}): the log served entries it did not sign",
            head.size,
            report.root,
            encode(&tree.root())
        )));
    }
    move_into_place(&staging, &dir, &staged)?;
    save_state(&dir, url, &head, &tree, &tail)?;
    let _ = fs::remove_dir_all(&staging);
    Ok(report)
}
