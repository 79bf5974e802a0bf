//! The Merkle tree of a synthetic tiled log, as a static-ct-api log serves
//! it: hash tiles (`tile/<L>/<N>[.p/<W>]`) and a `checkpoint` signed with
//! the synthetic log key, so a client verifies a synthetic log as a real
//! one. The key (`log_key.der`, RSA 2048, an RFC 8017 RSAPrivateKey) is a test key: anyone can
//! sign with it. RSA PKCS#1 v1.5 signatures are deterministic, so a seed
//! gives the same checkpoint every time.

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

use crate::ct::merkle::{node_hash, CompactTree, Hash};
use crate::ct::tile::tile_path;
use crate::ct::tree_head::{checkpoint_key_id, LogKey, TreeHead};
use crate::error::{Error, Result};

/// The synthetic log key (RSAPrivateKey DER): for tests, not a secret.
const KEY_DER: &[u8] = include_bytes!("log_key.der");

/// When every synthetic checkpoint says it was signed (ms since the epoch).
pub const CHECKPOINT_TIME_MS: u64 = super::time::NOW as u64 * 1000;

/// Hashes per full tile.
const TILE_WIDTH: usize = 256;

fn key_pair() -> RsaKeyPair {
    RsaKeyPair::from_der(KEY_DER).expect("the bundled synthetic log key is a valid RSAPrivateKey")
}

/// The synthetic log key's SubjectPublicKeyInfo (DER), as a log list
/// gives a log's key.
pub fn public_key_spki() -> Vec<u8> {
    use ring::signature::KeyPair;
    let rsa_public_key = key_pair().public_key().as_ref().to_vec();
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&yasna::models::ObjectIdentifier::from_slice(&[
                        1, 2, 840, 113_549, 1, 1, 1,
                    ]));
                w.next().write_null();
            });
            w.next()
                .write_bitvec_bytes(&rsa_public_key, rsa_public_key.len() * 8);
        });
    })
}

/// The synthetic log key, to verify with.
pub fn log_key() -> LogKey {
    LogKey::from_spki(&public_key_spki()).expect("our own SubjectPublicKeyInfo")
}

/// The root of a full tile's 256 hashes.
fn tile_root(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    fs::write(path, data).map_err(|e| Error::io(path, e))
}

/// Writes the hash tiles of a log whose entries have Merkle leaf hashes
/// `leaves` (in order) under `dir/tile/`, and its checkpoint with origin
/// `origin` signed at [`CHECKPOINT_TIME_MS`]; returns the tree head.
pub fn write_tree(dir: &Path, origin: &str, leaves: &[Hash]) -> Result<TreeHead> {
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut height = 0;
    while !level.is_empty() {
        for (n, chunk) in level.chunks(TILE_WIDTH).enumerate() {
            let mut name = tile_path(n as u64);
            if chunk.len() < TILE_WIDTH {
                name = format!("{name}.p/{}", chunk.len());
            }
            let bytes: Vec<u8> = chunk.iter().flatten().copied().collect();
            write(&dir.join(format!("tile/{height}/{name}")), &bytes)?;
        }
        // The level above holds the roots of this level's full tiles only.
        level = level.chunks_exact(TILE_WIDTH).map(tile_root).collect();
        height += 1;
    }
    let mut tree = CompactTree::new();
    for l in leaves {
        tree.push(*l);
    }
    let head = TreeHead {
        size: tree.size(),
        timestamp: CHECKPOINT_TIME_MS,
        root: tree.root(),
    };
    write(
        &dir.join("checkpoint"),
        checkpoint(origin, &head).as_bytes(),
    )?;
    Ok(head)
}

/// The synthetic log's signature of `head`: a TLS DigitallySigned (SHA-256,
/// RSA), as a `get-sth` response's `tree_head_signature` holds it.
pub fn sign_tree_head(head: &TreeHead) -> Vec<u8> {
    let keys = key_pair();
    let mut signature = vec![0u8; keys.public().modulus_len()];
    keys.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &head.signed_bytes(),
        &mut signature,
    )
    .expect("RSA signing of 50 bytes");
    let mut signed = vec![4, 1];
    signed.extend((signature.len() as u16).to_be_bytes());
    signed.extend(signature);
    signed
}

/// The signed note of `head` from the log `origin`.
fn checkpoint(origin: &str, head: &TreeHead) -> String {
    let mut note_sig = checkpoint_key_id(origin, &log_key()).to_vec();
    note_sig.extend(head.timestamp.to_be_bytes());
    note_sig.extend(sign_tree_head(head));
    format!(
        "{origin}\n{}\n{}\n\n\u{2014} {origin} {}\n",
        head.size,
        STANDARD.encode(head.root),
        STANDARD.encode(note_sig)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::merkle::leaf_hash;
    use crate::ct::tree_head::verify_checkpoint;

    #[test]
    fn the_tiles_and_checkpoint_of_a_log_verify() {
        let dir = tempfile::tempdir().unwrap();
        let leaves: Vec<Hash> = (0..70_000u32)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let head = write_tree(dir.path(), "synth-1", &leaves).unwrap();
        let note = fs::read(dir.path().join("checkpoint")).unwrap();
        assert_eq!(
            verify_checkpoint(&note, "synth-1", &log_key()).unwrap(),
            head
        );
        assert_eq!(head.size, 70_000);
        // The static-ct-api example: 273 full level-0 tiles and one of 112,
        // one full level-1 tile and one of 17, one level-2 tile of 1.
        let t = |p: &str| dir.path().join("tile").join(p);
        assert_eq!(fs::read(t("0/272")).unwrap().len(), 256 * 32);
        assert_eq!(fs::read(t("0/273.p/112")).unwrap().len(), 112 * 32);
        assert!(!t("0/274").exists());
        assert_eq!(fs::read(t("1/000")).unwrap().len(), 256 * 32);
        assert_eq!(fs::read(t("1/001.p/17")).unwrap().len(), 17 * 32);
        assert_eq!(fs::read(t("2/000.p/1")).unwrap().len(), 32);
        assert!(!t("3").exists());
        // The level-1 hash of tile 5 is the root of level-0 tile 5.
        let level0 = fs::read(t("0/005")).unwrap();
        let hashes: Vec<Hash> = level0.chunks(32).map(|c| c.try_into().unwrap()).collect();
        assert_eq!(
            &fs::read(t("1/000")).unwrap()[5 * 32..6 * 32],
            tile_root(&hashes)
        );
        // Deterministic: the same tree gives the same checkpoint.
        let again = tempfile::tempdir().unwrap();
        write_tree(again.path(), "synth-1", &leaves).unwrap();
        assert_eq!(fs::read(again.path().join("checkpoint")).unwrap(), note);
    }
}
