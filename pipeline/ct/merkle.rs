//! RFC 6962 Merkle trees (section 2.1; the proof checks of RFC 9162
//! 2.1.3.2 and 2.1.4.2): leaf and node hashes, the compact right edge a
//! verifier keeps instead of the tree (one hash per set bit of the size),
//! and inclusion and consistency proofs checked against a signed root.

use sha2::{Digest, Sha256};

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: the SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Why a tree or a proof does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The edge does not have one hash per set bit of the size.
    #[error("a compact tree of {size} leaves has {expected} edge hashes, not {got}")]
    Edge {
        /// Leaves.
        size: u64,
        /// Set bits of `size`.
        expected: u32,
        /// Hashes given.
        got: usize,
    },
    /// A subtree appended where the tree's size is not a multiple of it.
    #[error("a subtree of 2^{height} leaves cannot be appended at size {size}")]
    Misaligned {
        /// Leaves so far.
        size: u64,
        /// The subtree's height.
        height: u32,
    },
    /// The proof is the wrong length or shape for the sizes.
    #[error("{0}")]
    Shape(String),
    /// The proof computes another root.
    #[error("the proof gives root {computed}, not the signed {expected}")]
    Root {
        /// The root the proof computes (hex).
        computed: String,
        /// The root expected (hex).
        expected: String,
    },
}

/// A Merkle tree as its size and right edge: the roots of its perfect
/// subtrees, largest (leftmost) first. Leaves can be appended, and the root
/// is computed from the edge alone: about log2(size) hashes of state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    edge: Vec<Hash>,
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of `size` leaves with this right edge (as [`Self::edge`]
    /// gives it).
    pub fn from_parts(size: u64, edge: Vec<Hash>) -> Result<Self, MerkleError> {
        if edge.len() != size.count_ones() as usize {
            return Err(MerkleError::Edge {
                size,
                expected: size.count_ones(),
                got: edge.len(),
            });
        }
        Ok(Self { size, edge })
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right edge, largest subtree first.
    pub fn edge(&self) -> &[Hash] {
        &self.edge
    }

    /// Appends a leaf by its [`leaf_hash`].
    pub fn push(&mut self, leaf: Hash) {
        self.push_subtree(0, leaf)
            .expect("a single leaf fits at any size");
    }

    /// Appends a perfect subtree of `2^height` leaves by its root (a full
    /// tile's hash, say); the size must be a multiple of `2^height`.
    pub fn push_subtree(&mut self, height: u32, root: Hash) -> Result<(), MerkleError> {
        let width = 1u64
            .checked_shl(height)
            .filter(|w| self.size.is_multiple_of(*w))
            .ok_or(MerkleError::Misaligned {
                size: self.size,
                height,
            })?;
        let mut hash = root;
        let mut size = self.size >> height;
        // Each set low bit of the size (above `height`) is a subtree of the
        // same height on the edge: merge with it, as binary carry.
        while size & 1 == 1 {
            let left = self.edge.pop().expect("one edge hash per set bit");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.edge.push(hash);
        self.size += width;
        Ok(())
    }

    /// The tree's root ([`empty_root`] for no leaves).
    pub fn root(&self) -> Hash {
        let mut hashes = self.edge.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }
}

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn expect_root(computed: &Hash, expected: &Hash) -> Result<(), MerkleError> {
    if computed == expected {
        Ok(())
    } else {
        Err(MerkleError::Root {
            computed: hex(computed),
            expected: hex(expected),
        })
    }
}

/// Checks that the leaf with hash `leaf` is at `index` in the tree of
/// `size` leaves with root `root`, by its audit path (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::Shape(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(MerkleError::Shape(format!(
                "the audit path of leaf {index} in {size} is longer than the tree is deep"
            )));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(MerkleError::Shape(format!(
            "the audit path of leaf {index} in {size} is too short"
        )));
    }
    expect_root(&r, root)
}

/// Checks that the tree of `size2` leaves with root `root2` extends the
/// tree of `size1` leaves with root `root1` (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if size1 > size2 {
        return Err(MerkleError::Shape(format!(
            "a tree of {size2} leaves cannot extend one of {size1}"
        )));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(MerkleError::Shape(
                "a proof between equal sizes must be empty".into(),
            ));
        }
        return expect_root(root2, root1);
    }
    if size1 == 0 {
        // Every tree extends the empty one.
        return Ok(());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(MerkleError::Shape("an empty consistency proof".into()));
    };
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(MerkleError::Shape(format!(
                "the consistency proof {size1} -> {size2} is too long"
            )));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(MerkleError::Shape(format!(
            "the consistency proof {size1} -> {size2} is too short"
        )));
    }
    expect_root(&fr, root1)?;
    expect_root(&sr, root2)
}

/// The root of `leaves` by the definition (RFC 6962 2.1), recursively: a
/// reference for tests and log emulators (a [`CompactTree`] is the fast way).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The largest power of two below `n` (n > 1): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The consistency proof from the tree of the first `m` of `leaves` to the
/// tree of all of them, by the definition (RFC 6962 2.1.2): what a log's
/// `get-sth-consistency` returns; a reference for tests and log emulators.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![root_of(d)] };
        }
        let k = split(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(root_of(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(root_of(&d[..k]));
            p
        }
    }
    if m == 0 || m > leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    /// An audit path by the definition (RFC 6962 2.1.1).
    fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return vec![];
        }
        let k = split(d.len());
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(root_of(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(root_of(&d[..k]));
            p
        }
    }

    #[test]
    fn the_compact_tree_has_the_defined_root_at_every_size() {
        let all = leaves(70);
        let mut tree = CompactTree::new();
        assert_eq!(tree.root(), empty_root());
        for (i, l) in all.iter().enumerate() {
            tree.push(*l);
            assert_eq!(tree.size(), i as u64 + 1);
            assert_eq!(tree.root(), root_of(&all[..=i]), "size {}", i + 1);
            assert_eq!(tree.edge().len(), (i + 1).count_ones() as usize);
        }
        // Restored from its parts, it goes on the same.
        let mut again = CompactTree::from_parts(tree.size(), tree.edge().to_vec()).unwrap();
        assert!(CompactTree::from_parts(70, vec![]).is_err());
        let more = leaf_hash(b"more");
        again.push(more);
        let mut with = all.clone();
        with.push(more);
        assert_eq!(again.root(), root_of(&with));
    }

    #[test]
    fn subtrees_append_where_aligned_only() {
        let all = leaves(48);
        let mut tree = CompactTree::new();
        tree.push_subtree(5, root_of(&all[..32])).unwrap();
        tree.push_subtree(4, root_of(&all[32..48])).unwrap();
        assert_eq!(tree.root(), root_of(&all));
        assert_eq!(
            tree.push_subtree(5, root_of(&all[..32])),
            Err(MerkleError::Misaligned {
                size: 48,
                height: 5
            })
        );
    }

    #[test]
    fn every_inclusion_and_consistency_proof_checks_and_a_changed_one_does_not() {
        let all = leaves(40);
        for n in 1..=all.len() {
            let root = root_of(&all[..n]);
            for m in 0..n {
                let p = path(m, &all[..n]);
                verify_inclusion(&all[m], m as u64, n as u64, &p, &root).unwrap();
                let wrong_leaf = leaf_hash(b"x");
                assert!(verify_inclusion(&wrong_leaf, m as u64, n as u64, &p, &root).is_err());
                if !p.is_empty() {
                    assert!(verify_inclusion(&all[m], m as u64, n as u64, &p[1..], &root).is_err());
                }
                assert!(verify_inclusion(&all[m], n as u64, n as u64, &p, &root).is_err());
            }
            for m in 1..=n {
                let old = root_of(&all[..m]);
                let p = consistency_proof(m, &all[..n]);
                verify_consistency(m as u64, n as u64, &old, &root, &p).unwrap();
                let other = leaf_hash(b"other");
                assert!(verify_consistency(m as u64, n as u64, &other, &root, &p).is_err());
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_consistency(m as u64, n as u64, &old, &root, &bad).is_err());
                }
            }
        }
    }
}
