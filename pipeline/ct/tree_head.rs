//! Signed tree heads: what a log commits to (size, time, root), read from
//! an RFC 6962 `get-sth` response or a static-ct-api `checkpoint` (a C2SP
//! signed note carrying an RFC 6962 tree head signature), and checked
//! against the log's public key (ECDSA P-256 or RSA, SHA-256).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256};
use sha2::{Digest, Sha256};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::ct::merkle::Hash;

/// A log's commitment: its first `size` entries have Merkle root `root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Entries in the tree.
    pub size: u64,
    /// When the log signed it (milliseconds since the Unix epoch).
    pub timestamp: u64,
    /// The RFC 6962 Merkle tree hash of the entries.
    pub root: Hash,
}

impl TreeHead {
    /// The bytes the log signs (RFC 6962 3.5 `TreeHeadSignature`: version
    /// v1, signature type tree_hash, timestamp, size, root).
    pub fn signed_bytes(&self) -> [u8; 50] {
        let mut b = [0u8; 50];
        b[0] = 0; // v1
        b[1] = 1; // tree_hash
        b[2..10].copy_from_slice(&self.timestamp.to_be_bytes());
        b[10..18].copy_from_slice(&self.size.to_be_bytes());
        b[18..50].copy_from_slice(&self.root);
        b
    }
}

/// Why a tree head was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeHeadError {
    /// The log's key is not one we can check signatures with.
    #[error("log key: {0}")]
    Key(String),
    /// The response or note is not a tree head.
    #[error("not a signed tree head: {0}")]
    Format(String),
    /// The signature does not verify with the log's key.
    #[error("the tree head signature does not verify with the log's key ({0})")]
    Signature(String),
}

/// The signature algorithms of RFC 5246 7.4.1.4.1 that logs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Ecdsa,
    Rsa,
}

/// A log's public key: its SubjectPublicKeyInfo, and its log ID (the
/// SHA-256 of that DER).
#[derive(Debug, Clone)]
pub struct LogKey {
    kind: KeyKind,
    /// The SubjectPublicKey bits: the EC point, or the RSAPublicKey DER.
    public: Vec<u8>,
    id: Hash,
}

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

impl LogKey {
    /// The key from its DER SubjectPublicKeyInfo.
    pub fn from_spki(der: &[u8]) -> Result<Self, TreeHeadError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| TreeHeadError::Key(format!("not a SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(TreeHeadError::Key(format!(
                "{} bytes after the SubjectPublicKeyInfo",
                rest.len()
            )));
        }
        let algorithm = spki.algorithm.algorithm.to_id_string();
        let kind = match algorithm.as_str() {
            EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                if curve.as_deref() != Some(P256) {
                    return Err(TreeHeadError::Key(format!(
                        "an EC key on curve {}, not P-256",
                        curve.as_deref().unwrap_or("(none)")
                    )));
                }
                KeyKind::Ecdsa
            }
            RSA_ENCRYPTION => KeyKind::Rsa,
            other => {
                return Err(TreeHeadError::Key(format!(
                    "key algorithm {other}, neither EC P-256 nor RSA"
                )))
            }
        };
        Ok(Self {
            kind,
            public: spki.subject_public_key.data.to_vec(),
            id: Sha256::digest(der).into(),
        })
    }

    /// The key from base64 DER, as the CT log lists give it.
    pub fn from_base64(text: &str) -> Result<Self, TreeHeadError> {
        let der = STANDARD
            .decode(text.trim())
            .map_err(|e| TreeHeadError::Key(format!("not base64: {e}")))?;
        Self::from_spki(&der)
    }

    /// The log's ID: SHA-256 of its key's DER.
    pub fn log_id(&self) -> Hash {
        self.id
    }

    /// Checks a TLS `DigitallySigned` (hash and signature algorithm bytes,
    /// a 2-byte length, the signature) over `message`.
    pub fn verify(&self, message: &[u8], digitally_signed: &[u8]) -> Result<(), TreeHeadError> {
        let sig = |m: String| TreeHeadError::Signature(m);
        let [hash, algorithm, hi, lo, signature @ ..] = digitally_signed else {
            return Err(sig(format!(
                "a DigitallySigned of {} bytes",
                digitally_signed.len()
            )));
        };
        if *hash != 4 {
            return Err(sig(format!("hash algorithm {hash}, not SHA-256 (4)")));
        }
        let expected = match self.kind {
            KeyKind::Rsa => 1,
            KeyKind::Ecdsa => 3,
        };
        if *algorithm != expected {
            return Err(sig(format!(
                "signature algorithm {algorithm}, and the log's key takes {expected}"
            )));
        }
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if len != signature.len() {
            return Err(sig(format!(
                "the signature says {len} bytes and has {}",
                signature.len()
            )));
        }
        let result = match self.kind {
            KeyKind::Ecdsa => UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.public)
                .verify(message, signature),
            KeyKind::Rsa => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public)
                .verify(message, signature),
        };
        result.map_err(|_| sig("the signature is not the log's".into()))
    }
}

/// The fields of a `get-sth` response.
#[derive(serde::Deserialize)]
struct SthJson {
    tree_size: u64,
    timestamp: u64,
    sha256_root_hash: String,
    tree_head_signature: String,
}

fn root_of(b64: &str) -> Result<Hash, TreeHeadError> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| TreeHeadError::Format(format!("root hash is not base64: {e}")))?;
    Hash::try_from(bytes.as_slice())
        .map_err(|_| TreeHeadError::Format(format!("a root hash of {} bytes", bytes.len())))
}

/// Reads an RFC 6962 `get-sth` response and checks its signature.
pub fn verify_sth(json: &[u8], key: &LogKey) -> Result<TreeHead, TreeHeadError> {
    let sth: SthJson = serde_json::from_slice(json)
        .map_err(|e| TreeHeadError::Format(format!("get-sth response: {e}")))?;
    let head = TreeHead {
        size: sth.tree_size,
        timestamp: sth.timestamp,
        root: root_of(&sth.sha256_root_hash)?,
    };
    let signature = STANDARD
        .decode(&sth.tree_head_signature)
        .map_err(|e| TreeHeadError::Format(format!("tree_head_signature is not base64: {e}")))?;
    key.verify(&head.signed_bytes(), &signature)?;
    Ok(head)
}

/// The most bytes a checkpoint may have (a signed note is a few hundred).
pub const MAX_CHECKPOINT_BYTES: usize = 1 << 16;

/// The signed-note key ID of a static-ct-api log: the first four bytes of
/// `SHA-256(origin || 0x0A || 0x05 || log ID)`.
pub fn checkpoint_key_id(origin: &str, key: &LogKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(origin.as_bytes());
    h.update([0x0A, 0x05]);
    h.update(key.log_id());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Reads a static-ct-api checkpoint (origin, size, base64 root, a blank
/// line, signature lines) from the log with checkpoint origin `origin`,
/// and checks the log's signature line (other signers' lines are skipped).
pub fn verify_checkpoint(
    note: &[u8],
    origin: &str,
    key: &LogKey,
) -> Result<TreeHead, TreeHeadError> {
    let fmt = |m: String| TreeHeadError::Format(format!("checkpoint: {m}"));
    if note.len() > MAX_CHECKPOINT_BYTES {
        return Err(fmt(format!("{} bytes, more than a note has", note.len())));
    }
    let text = std::str::from_utf8(note).map_err(|_| fmt("not UTF-8".into()))?;
    let Some(split) = text.rfind("\n\n") else {
        return Err(fmt("no blank line before the signatures".into()));
    };
    let (body, signatures) = (&text[..split + 1], &text[split + 2..]);
    let mut lines = body.lines();
    let (Some(found_origin), Some(size), Some(root), None) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err(fmt(
            "the body is not exactly origin, size and root (a static-ct-api checkpoint has no extension lines)"
                .into(),
        ));
    };
    if found_origin != origin {
        return Err(fmt(format!(
            "origin {:?}, expected {origin:?}",
            crate::text::escape(found_origin)
        )));
    }
    if size.is_empty()
        || !size.bytes().all(|b| b.is_ascii_digit())
        || (size.len() > 1 && size.starts_with('0'))
    {
        return Err(fmt(format!(
            "size {:?} is not a decimal number",
            crate::text::escape(size)
        )));
    }
    let size: u64 = size
        .parse()
        .map_err(|_| fmt(format!("size {size} is too large")))?;
    let root = root_of(root)?;
    let id = checkpoint_key_id(origin, key);
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(fmt("a signature line does not start with an em dash".into()));
        };
        let Some((name, sig)) = rest.split_once(' ') else {
            return Err(fmt("a signature line without a signature".into()));
        };
        if name != origin {
            continue;
        }
        let sig = STANDARD
            .decode(sig)
            .map_err(|e| fmt(format!("a signature is not base64: {e}")))?;
        if sig.len() < 4 || sig[..4] != id {
            continue;
        }
        // RFC6962NoteSignature: the timestamp, then the DigitallySigned.
        let Some((timestamp, signed)) = sig[4..].split_first_chunk::<8>() else {
            return Err(fmt("a log signature without its timestamp".into()));
        };
        let head = TreeHead {
            size,
            timestamp: u64::from_be_bytes(*timestamp),
            root,
        };
        key.verify(&head.signed_bytes(), signed)?;
        return Ok(head);
    }
    Err(TreeHeadError::Signature(format!(
        "no signature line of {origin} with key ID {}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::merkle::{leaf_hash, verify_consistency, verify_inclusion};

    const LOG_LIST: &str = include_str!("loglist/google_all_logs_list_v3_53.34.json");
    const ROCKETEER_STH: &str =
        include_str!("../../tests/data/real/ct-sth/rocketeer_sth_2015_mpalmer-ct-gem.json");
    const ROCKETEER_KEY: &str =
        include_str!("../../tests/data/real/ct-sth/rocketeer_pubkey_b64_mpalmer-ct-gem.txt");
    const PILOT_STHS: &str = include_str!(
        "../../tests/data/real/ct-sth/pilot_sth_2013_hs-certificate-transparency.jsonl"
    );
    const ICARUS: &str = include_str!(
        "../../tests/data/real/ct-sth/icarus_2017_sth_consistency_entry-and-proof_hash-tree.json"
    );

    /// The key of the log called `name` in Google's list, and its log ID there.
    fn listed(name: &str) -> (LogKey, String) {
        let list: serde_json::Value = serde_json::from_str(LOG_LIST).unwrap();
        for op in list["operators"].as_array().unwrap() {
            for log in op["logs"].as_array().into_iter().flatten() {
                if log["description"].as_str().unwrap().contains(name) {
                    let key = LogKey::from_base64(log["key"].as_str().unwrap()).unwrap();
                    return (key, log["log_id"].as_str().unwrap().to_string());
                }
            }
        }
        panic!("{name} is not in the list")
    }

    fn b64(h: &Hash) -> String {
        STANDARD.encode(h)
    }

    fn hashes(v: &serde_json::Value) -> Vec<Hash> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| root_of(h.as_str().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_real_rocketeer_sth_verifies_with_its_listed_key_and_a_changed_one_does_not() {
        let (key, id) = listed("Rocketeer");
        assert_eq!(b64(&key.log_id()), id);
        let from_file = LogKey::from_base64(ROCKETEER_KEY).unwrap();
        assert_eq!(from_file.log_id(), key.log_id());
        let head = verify_sth(ROCKETEER_STH.as_bytes(), &key).unwrap();
        assert_eq!(head.size, 4_967_961);
        assert_eq!(head.timestamp, 1_432_858_108_748);
        let changed = ROCKETEER_STH.replace("4967961", "4967962");
        assert!(matches!(
            verify_sth(changed.as_bytes(), &key),
            Err(TreeHeadError::Signature(_))
        ));
        // Another log's key does not verify it.
        let (pilot, _) = listed("Pilot");
        assert!(verify_sth(ROCKETEER_STH.as_bytes(), &pilot).is_err());
    }

    #[test]
    fn nine_hundred_real_pilot_sths_verify_and_show_one_tree() {
        let (key, _) = listed("Pilot");
        let mut heads: Vec<TreeHead> = PILOT_STHS
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| verify_sth(l.as_bytes(), &key).unwrap())
            .collect();
        assert_eq!(heads.len(), 909);
        // In time order the log only grows, and never signs two roots for
        // one size.
        heads.sort_by_key(|h| h.timestamp);
        assert!(heads.windows(2).all(|w| w[0].size <= w[1].size));
        let mut roots = std::collections::BTreeMap::new();
        for h in &heads {
            assert_eq!(*roots.entry(h.size).or_insert(h.root), h.root);
        }
        assert_eq!(roots.len(), 215);
        assert_eq!(roots.keys().next(), Some(&2_541_248));
        assert_eq!(roots.keys().last(), Some(&2_741_521));
    }

    #[test]
    fn icarus_tree_heads_are_consistent_and_hold_entry_120000000() {
        let (key, _) = listed("Icarus");
        let icarus: serde_json::Value = serde_json::from_str(ICARUS).unwrap();
        let r = |i: usize| &icarus["responses"][i]["response"];
        let sth = |i: usize| verify_sth(r(i).to_string().as_bytes(), &key).unwrap();
        let (old, new) = (sth(0), sth(1));
        assert_eq!((old.size, new.size), (129_596_132, 129_721_434));
        let proof = hashes(&r(2)["consistency"]);
        verify_consistency(old.size, new.size, &old.root, &new.root, &proof).unwrap();
        assert!(verify_consistency(old.size + 1, new.size, &old.root, &new.root, &proof).is_err());

        let leaf = STANDARD
            .decode(r(3)["leaf_input"].as_str().unwrap())
            .unwrap();
        let path = hashes(&r(3)["audit_path"]);
        verify_inclusion(&leaf_hash(&leaf), 120_000_000, new.size, &path, &new.root).unwrap();
        assert!(
            verify_inclusion(&leaf_hash(&leaf), 120_000_001, new.size, &path, &new.root).is_err()
        );
        // The same entry as the bundled get-entries response holds.
        let entries: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/data/real/ct-entries/icarus_2017_idx120000000_from-get-entry-and-proof_hash-tree.json"
        ))
        .unwrap();
        assert_eq!(entries["entries"][0]["leaf_input"], r(3)["leaf_input"]);
    }

    #[test]
    fn a_checkpoint_made_from_a_real_sth_verifies_and_a_tampered_one_does_not() {
        // static-ct-api: a get-sth response converts to a checkpoint
        // without the private key (its signature is the same).
        let (key, _) = listed("Rocketeer");
        let sth: serde_json::Value = serde_json::from_str(ROCKETEER_STH).unwrap();
        let origin = "ct.googleapis.com/rocketeer";
        let mut sig = checkpoint_key_id(origin, &key).to_vec();
        sig.extend(sth["timestamp"].as_u64().unwrap().to_be_bytes());
        sig.extend(
            STANDARD
                .decode(sth["tree_head_signature"].as_str().unwrap())
                .unwrap(),
        );
        let root = sth["sha256_root_hash"].as_str().unwrap();
        let note = |size: &str, origin_line: &str| {
            format!(
                "{origin_line}\n{size}\n{root}\n\n\u{2014} witness.example AAAAAAAA\n\u{2014} {origin} {}\n",
                STANDARD.encode(&sig)
            )
        };
        let head = verify_checkpoint(note("4967961", origin).as_bytes(), origin, &key).unwrap();
        assert_eq!(head.size, 4_967_961);
        assert_eq!(head.timestamp, 1_432_858_108_748);
        assert!(matches!(
            verify_checkpoint(note("4967962", origin).as_bytes(), origin, &key),
            Err(TreeHeadError::Signature(_))
        ));
        assert!(matches!(
            verify_checkpoint(note("04967961", origin).as_bytes(), origin, &key),
            Err(TreeHeadError::Format(_))
        ));
        assert!(verify_checkpoint(
            note("4967961", "other.example/log").as_bytes(),
            origin,
            &key
        )
        .is_err());
        assert!(verify_checkpoint(b"garbage", origin, &key).is_err());
        assert!(verify_checkpoint(&vec![b'a'; MAX_CHECKPOINT_BYTES + 1], origin, &key).is_err());
    }

    #[test]
    fn keys_that_are_not_log_keys_are_refused() {
        assert!(matches!(
            LogKey::from_base64("not base64!"),
            Err(TreeHeadError::Key(_))
        ));
        assert!(matches!(
            LogKey::from_spki(b"\x30\x03\x02\x01\x01"),
            Err(TreeHeadError::Key(_))
        ));
        let (key, _) = listed("Rocketeer");
        assert!(key.verify(b"m", &[4, 3, 0]).is_err());
        assert!(key.verify(b"m", &[4, 1, 0, 1, 0]).is_err());
        assert!(key.verify(b"m", &[2, 3, 0, 1, 0]).is_err());
        assert!(key.verify(b"m", &[4, 3, 0, 5, 0]).is_err());
    }
}
