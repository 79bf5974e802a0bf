//! Proving that the entries fetched (the first `T` of a log) are a prefix
//! of the tree the log signed at size `N > T`, for `--to` and
//! `--max-entries`: a tiled log's hash tiles give the subtree hashes of
//! entries `T..N` (the tree is completed from them, and must have the
//! signed root); an RFC 6962 log gives a consistency proof from `T` to `N`.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::ct::merkle::{verify_consistency, CompactTree, Hash};
use crate::ct::tile::tile_path;
use crate::fetch::http::Client;

/// Entries (or hashes) per full tile.
const WIDTH: u64 = 256;

/// The hash tile `index` of `level` in a tree of `size` leaves: its path
/// and how many hashes it holds.
fn hash_tile(level: u32, index: u64, size: u64) -> (String, u64) {
    let nodes = size >> (8 * level);
    let width = (nodes - index * WIDTH).min(WIDTH);
    let mut rel = format!("tile/{level}/{}", tile_path(index));
    if width < WIDTH {
        rel = format!("{rel}.p/{width}");
    }
    (rel, width)
}

/// Completes `tree` up to `size` leaves with the subtree hashes of the
/// log's hash tiles (at `url`, the monitoring prefix): each step appends
/// the largest subtree that starts where the tree ends and ends by `size`.
/// The root is then the log's root of `size` leaves if, and only if, the
/// tree's own leaves are its first ones. Returns the hash tiles read.
pub async fn complete_from_hash_tiles(
    client: &Client,
    url: &str,
    tree: &mut CompactTree,
    size: u64,
) -> Result<u64, String> {
    let mut tiles: HashMap<(u32, u64), Vec<Hash>> = HashMap::new();
    while tree.size() < size {
        let at = tree.size();
        let mut level = 0u32;
        while level < 7 {
            let span = 1u64 << (8 * (level + 1));
            if at.is_multiple_of(span) && at + span <= size {
                level += 1;
            } else {
                break;
            }
        }
        let node = at >> (8 * level);
        let index = node / WIDTH;
        if let std::collections::hash_map::Entry::Vacant(slot) = tiles.entry((level, index)) {
            let (rel, width) = hash_tile(level, index, size);
            let body = client
                .get(&format!("{url}{rel}"))
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{rel}: HTTP 404, and the checkpoint covers it"))?;
            if body.len() as u64 != width * 32 {
                return Err(format!(
                    "{rel}: {} bytes where {width} hashes take {}",
                    body.len(),
                    width * 32
                ));
            }
            slot.insert(
                body.chunks_exact(32)
                    .map(|c| Hash::try_from(c).expect("32-byte chunks"))
                    .collect(),
            );
        }
        let hash = tiles[&(level, index)][(node % WIDTH) as usize];
        tree.push_subtree(8 * level, hash)
            .map_err(|e| format!("hash tiles: {e}"))?;
    }
    Ok(tiles.len() as u64)
}

#[derive(serde::Deserialize)]
struct Consistency {
    consistency: Vec<String>,
}

/// Checks, with the log's `get-sth-consistency` proof, that the tree of
/// `first` leaves with root `first_root` (computed from the entries
/// fetched) is a prefix of the signed tree of `second` leaves with root
/// `second_root`.
pub async fn check_consistency(
    client: &Client,
    url: &str,
    (first, first_root): (u64, &Hash),
    (second, second_root): (u64, &Hash),
) -> Result<(), String> {
    let req = format!("{url}ct/v1/get-sth-consistency?first={first}&second={second}");
    let body = client
        .get(&req)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("get-sth-consistency {first} -> {second}: HTTP 404"))?;
    let proof: Consistency = serde_json::from_slice(&body).map_err(|e| {
        format!("get-sth-consistency {first} -> {second}: not a consistency proof: {e}")
    })?;
    let hashes = proof
        .consistency
        .iter()
        .map(|h| {
            STANDARD
                .decode(h)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| {
                    format!("get-sth-consistency {first} -> {second}: a proof hash is not 32 base64 bytes")
                })
        })
        .collect::<Result<Vec<Hash>, String>>()?;
    verify_consistency(first, second, first_root, second_root, &hashes)
        .map_err(|e| format!("the consistency proof {first} -> {second} does not hold: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tiles_are_named_and_sized_by_the_tree() {
        // 70,000 leaves: the spec's own example layout.
        assert_eq!(hash_tile(0, 0, 70_000), ("tile/0/000".into(), 256));
        assert_eq!(hash_tile(0, 273, 70_000), ("tile/0/273.p/112".into(), 112));
        assert_eq!(hash_tile(1, 1, 70_000), ("tile/1/001.p/17".into(), 17));
        assert_eq!(hash_tile(2, 0, 70_000), ("tile/2/000.p/1".into(), 1));
    }
}
