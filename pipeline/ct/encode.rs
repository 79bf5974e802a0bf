//! Encoding CT entries: the inverse of [`super::leaf`]. A [`LogEntry`]
//! becomes its RFC 6962 `leaf_input` and `extra_data`, or a static-ct-api
//! `TileLeaf`. The generator writes its dumps with these, and the tests
//! check that decoding then encoding gives back the bytes.

use sha2::{Digest, Sha256};

use super::leaf::{Chain, EntryKind, LogEntry};

/// Appends `n` as a 24-bit big-endian length.
fn push_u24(out: &mut Vec<u8>, n: usize) {
    debug_assert!(n < 1 << 24, "a u24 length");
    out.extend_from_slice(&(n as u32).to_be_bytes()[1..]);
}

/// Appends a `<u24>`-prefixed opaque vector.
fn push_vec24(out: &mut Vec<u8>, bytes: &[u8]) {
    push_u24(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends a TimestampedEntry (without a precert's `pre_certificate`).
fn push_timestamped_entry(out: &mut Vec<u8>, entry: &LogEntry<'_>) {
    out.extend_from_slice(&entry.timestamp_ms.to_be_bytes());
    match &entry.kind {
        EntryKind::X509 { cert } => {
            out.extend_from_slice(&[0, 0]);
            push_vec24(out, cert);
        }
        EntryKind::Precert {
            issuer_key_hash,
            tbs,
            ..
        } => {
            out.extend_from_slice(&[0, 1]);
            out.extend_from_slice(issuer_key_hash);
            push_vec24(out, tbs);
        }
    }
    out.extend_from_slice(&(entry.extensions.len() as u16).to_be_bytes());
    out.extend_from_slice(entry.extensions);
}

/// The `leaf_input` of an entry: a v1 MerkleTreeLeaf holding its
/// TimestampedEntry.
pub fn merkle_tree_leaf(entry: &LogEntry<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entry_len(entry));
    out.extend_from_slice(&[0, 0]); // version v1, leaf_type timestamped_entry
    push_timestamped_entry(&mut out, entry);
    out
}

/// The `extra_data` of an entry: for a precert, `pre_certificate` and
/// then the certificate chain; for a certificate, the chain. (A chain of
/// fingerprints, as tiles give, has no certificates to write: it is empty
/// here.)
pub fn extra_data(entry: &LogEntry<'_>) -> Vec<u8> {
    let chain: &[&[u8]] = match &entry.chain {
        Chain::Certs(certs) => certs,
        Chain::Fingerprints(_) => &[],
    };
    let total: usize = chain.iter().map(|c| 3 + c.len()).sum();
    let mut out = Vec::with_capacity(6 + total + entry_len(entry));
    if let EntryKind::Precert {
        pre_certificate, ..
    } = &entry.kind
    {
        push_vec24(&mut out, pre_certificate);
    }
    push_u24(&mut out, total);
    for c in chain {
        push_vec24(&mut out, c);
    }
    out
}

/// The static-ct-api `TileLeaf` of an entry: its TimestampedEntry, a
/// precert's `pre_certificate`, and the chain as SHA-256 fingerprints (of
/// the chain's certificates, when it holds certificates).
pub fn tile_leaf(entry: &LogEntry<'_>) -> Vec<u8> {
    let fingerprints: Vec<[u8; 32]> = match &entry.chain {
        Chain::Fingerprints(fps) => fps.clone(),
        Chain::Certs(certs) => certs.iter().map(|c| Sha256::digest(c).into()).collect(),
    };
    let mut out = Vec::with_capacity(64 + entry_len(entry) + 32 * fingerprints.len());
    push_timestamped_entry(&mut out, entry);
    if let EntryKind::Precert {
        pre_certificate, ..
    } = &entry.kind
    {
        push_vec24(&mut out, pre_certificate);
    }
    out.extend_from_slice(&((32 * fingerprints.len()) as u16).to_be_bytes());
    for fp in &fingerprints {
        out.extend_from_slice(fp);
    }
    out
}

/// The static-ct-api `leaf_index` extension (type 0, a 40-bit index), as
/// CtExtensions bytes.
pub fn leaf_index_extension(index: u64) -> Vec<u8> {
    let mut out = vec![0, 0, 5];
    out.extend_from_slice(&index.to_be_bytes()[3..]);
    out
}

fn entry_len(entry: &LogEntry<'_>) -> usize {
    match &entry.kind {
        EntryKind::X509 { cert } => cert.len(),
        EntryKind::Precert {
            tbs,
            pre_certificate,
            ..
        } => tbs.len() + pre_certificate.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::leaf::{decode, decode_tile_leaf, leaf_index};

    #[test]
    fn entries_round_trip_through_both_framings() {
        let hash = [7u8; 32];
        let ext = leaf_index_extension(1_234_567);
        let entries = [
            LogEntry {
                timestamp_ms: 1_364_300_000_000,
                kind: EntryKind::X509 { cert: b"CERT" },
                extensions: &[],
                chain: Chain::Certs(vec![&b"ISSUER"[..], &b"ROOT"[..]]),
            },
            LogEntry {
                timestamp_ms: 1_700_000_000_123,
                kind: EntryKind::Precert {
                    issuer_key_hash: hash,
                    tbs: b"TBS",
                    pre_certificate: b"PRECERT",
                },
                extensions: &ext,
                chain: Chain::Certs(vec![&b"ISSUER"[..]]),
            },
        ];
        for e in &entries {
            let (leaf, extra) = (merkle_tree_leaf(e), extra_data(e));
            assert_eq!(&decode(&leaf, &extra).unwrap(), e);
            let tile = tile_leaf(e);
            let (back, used) = decode_tile_leaf(&tile).unwrap();
            assert_eq!(used, tile.len());
            assert_eq!((back.timestamp_ms, &back.kind), (e.timestamp_ms, &e.kind));
            let Chain::Certs(certs) = &e.chain else {
                unreachable!()
            };
            let fps: Vec<[u8; 32]> = certs.iter().map(|c| Sha256::digest(c).into()).collect();
            assert_eq!(back.chain, Chain::Fingerprints(fps));
        }
        assert_eq!(leaf_index(&ext).unwrap(), Some(1_234_567));
    }
}
