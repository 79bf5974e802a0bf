//! What a fetch has verified of a log, kept in the log's dump directory
//! (`.fetch-state.json`; a dot file, so `ingest` never reads it): the
//! signed tree head its entries were proved against, and the Merkle tree's
//! compact right edge at the last full tile with the leaf hashes after it,
//! so the next fetch proves old plus new entries without reading the old.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::ct::merkle::{CompactTree, Hash};
use crate::ct::tree_head::TreeHead;
use crate::error::{Error, Result};

/// The state file's name in a log's dump directory.
pub const STATE_FILE: &str = ".fetch-state.json";

/// A log's verified state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedState {
    /// The log's checkpoint origin (tiled) or URL (RFC 6962).
    pub log: String,
    /// Entries verified: the first `size` entries of the log are in the dump.
    pub size: u64,
    /// The root of those entries (base64).
    pub root: String,
    /// The size of the signed tree head they were proved against: `size`,
    /// or more when a prefix was fetched (`--to`, `--max-entries`).
    #[serde(default)]
    pub signed_size: u64,
    /// That tree head's root (base64).
    #[serde(default)]
    pub signed_root: String,
    /// When the log signed that tree head (ms since the epoch).
    pub tree_head_timestamp: u64,
    /// When this fetch verified it (RFC 3339, UTC).
    pub verified_at: String,
    /// The compact right edge of the tree at the last multiple of 256
    /// entries (base64, largest subtree first).
    pub edge: Vec<String>,
    /// The leaf hashes after it (fewer than 256, base64).
    pub tail: Vec<String>,
}

fn decode(h: &str, path: &Path) -> Result<Hash> {
    let bytes = STANDARD.decode(h).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        message: format!("a hash is not base64: {e}"),
    })?;
    Hash::try_from(bytes.as_slice()).map_err(|_| Error::Input {
        path: path.to_path_buf(),
        message: format!("a hash of {} bytes", bytes.len()),
    })
}

/// Base64 of a hash.
pub fn encode(h: &Hash) -> String {
    STANDARD.encode(h)
}

impl VerifiedState {
    /// The state file of the log dumped in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the state of the log dumped in `dir`, if it has one.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = Self::path(dir);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let state: Self = serde_json::from_slice(&text).map_err(|e| Error::Input {
            path: path.clone(),
            message: format!("not a fetch state: {e}"),
        })?;
        // It must describe a consistent tree, or it is refused.
        let (mut tree, tail) = state.tree(&path)?;
        for h in tail {
            tree.push(h);
        }
        if tree.size() != state.size || encode(&tree.root()) != state.root {
            return Err(Error::Input {
                path,
                message: "its edge and leaf hashes do not make its size and root".into(),
            });
        }
        Ok(Some(state))
    }

    /// The tree at the last full tile, and the leaf hashes after it.
    pub fn tree(&self, path: &Path) -> Result<(CompactTree, Vec<Hash>)> {
        let boundary = self.size - self.size % 256;
        let edge = self
            .edge
            .iter()
            .map(|h| decode(h, path))
            .collect::<Result<Vec<_>>>()?;
        let tree = CompactTree::from_parts(boundary, edge).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let tail = self
            .tail
            .iter()
            .map(|h| decode(h, path))
            .collect::<Result<Vec<_>>>()?;
        if tail.len() as u64 != self.size - boundary {
            return Err(Error::Input {
                path: path.to_path_buf(),
                message: format!(
                    "{} leaf hashes after entry {boundary}, for a size of {}",
                    tail.len(),
                    self.size
                ),
            });
        }
        Ok((tree, tail))
    }

    /// What the dataset's manifest records of this state, read from the
    /// dump directory `dir`.
    pub fn as_verified_log(&self, dir: &Path) -> crate::dataset::manifest::VerifiedLog {
        let tree_head_time =
            chrono::DateTime::from_timestamp_millis(self.tree_head_timestamp as i64)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default();
        crate::dataset::manifest::VerifiedLog {
            size: self.size,
            root: self.root.clone(),
            // A state written before prefixes were fetched: its own head.
            signed_size: if self.signed_size == 0 {
                self.size
            } else {
                self.signed_size
            },
            signed_root: if self.signed_root.is_empty() {
                self.root.clone()
            } else {
                self.signed_root.clone()
            },
            tree_head_time,
            verified_at: self.verified_at.clone(),
            dump: fs::canonicalize(dir)
                .unwrap_or_else(|_| dir.to_path_buf())
                .display()
                .to_string(),
        }
    }

    /// Writes the state atomically (a temporary file, synced, renamed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = Self::path(dir);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).expect("serialisable");
        write_synced(&tmp, &text)?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }
}

/// Where a fetch of a log starts: what was verified of it before, checked
/// against the log's new signed tree head.
pub struct Resumed {
    /// Entries verified before.
    pub previous: u64,
    /// Their root (base64; empty when nothing was).
    pub root: String,
    /// The verified tree at its last multiple of 256 entries.
    pub boundary: CompactTree,
    /// The verified leaf hashes after it.
    pub tail: Vec<Hash>,
}

impl Resumed {
    /// The whole verified tree (the boundary and the tail).
    pub fn tree(&self) -> CompactTree {
        let mut tree = self.boundary.clone();
        for h in &self.tail {
            tree.push(*h);
        }
        tree
    }
}

/// Reads what was verified of the log `origin` in `dir` (nothing, for a
/// directory no fetch wrote, which must then hold nothing else either)
/// and checks the signed `head` (of a `kind`: checkpoint or STH) against
/// it: a log never shrinks, nor signs two roots for one size. An error is
/// the message for the log's name.
pub fn resume(dir: &Path, origin: &str, head: &TreeHead, kind: &str) -> Result<Resumed> {
    let Some(state) = VerifiedState::load(dir)? else {
        crate::fetch::staging::check_first_fetch(dir)?;
        return Ok(Resumed {
            previous: 0,
            root: String::new(),
            boundary: CompactTree::new(),
            tail: Vec::new(),
        });
    };
    let refuse = |message: String| Error::Input {
        path: dir.to_path_buf(),
        message,
    };
    if state.log != origin {
        return Err(refuse(format!(
            "holds the log {:?}, not {origin:?}",
            crate::text::escape(&state.log)
        )));
    }
    let (boundary, tail) = state.tree(&VerifiedState::path(dir))?;
    let previous = state.size;
    if head.size < previous {
        return Err(refuse(format!(
            "the log's {kind} has {} entries, fewer than the {previous} verified before: a log never shrinks",
            head.size
        )));
    }
    if head.size == previous && state.root != encode(&head.root) {
        return Err(refuse(format!(
            "the log signed two roots for {previous} entries: {} before, {} now",
            state.root,
            encode(&head.root)
        )));
    }
    Ok(Resumed {
        previous,
        root: state.root,
        boundary,
        tail,
    })
}

/// Writes `data` to `path` and syncs it.
pub fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(data).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// The tree without its tail: at the last multiple of 256 entries.
pub fn tree_at_boundary(tree: &CompactTree, tail: &[Hash]) -> CompactTree {
    if tail.is_empty() {
        return tree.clone();
    }
    // The edge at the boundary is the edge's hashes above the tail's bits.
    let boundary = tree.size() - tail.len() as u64;
    let keep = boundary.count_ones() as usize;
    CompactTree::from_parts(boundary, tree.edge()[..keep].to_vec())
        .expect("the high bits' subtrees are the boundary's edge")
}

/// Saves what was verified: `tree` (the entries fetched, proved against
/// the signed `head`) as its edge at the last full tile and the leaf
/// hashes `tail` after it.
pub fn save_state(
    dir: &Path,
    origin: &str,
    head: &TreeHead,
    tree: &CompactTree,
    tail: &[Hash],
) -> Result<()> {
    let boundary = tree_at_boundary(tree, tail);
    VerifiedState {
        log: origin.to_owned(),
        size: tree.size(),
        root: encode(&tree.root()),
        signed_size: head.size,
        signed_root: encode(&head.root),
        tree_head_timestamp: head.timestamp,
        verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        edge: boundary.edge().iter().map(encode).collect(),
        tail: tail.iter().map(encode).collect(),
    }
    .save(dir)
}
