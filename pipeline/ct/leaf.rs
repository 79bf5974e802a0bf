//! RFC 6962 framing: a log entry's `leaf_input` and `extra_data` bytes become a
//! [`LogEntry`] that borrows the certificate bytes.
//!
//! Pure bytes in, struct out: no X.509 here. Every length prefix is checked
//! against the bytes that remain before anything is sliced, so a hostile
//! length can never make the decoder read or allocate past its input.
//!
//! ```text
//! MerkleTreeLeaf  = version(u8)=0 | leaf_type(u8)=0 | TimestampedEntry
//! TimestampedEntry = timestamp(u64) | entry_type(u16)
//!                    | x509:    cert<u24>
//!                    | precert: issuer_key_hash[32] | tbs<u24>
//!                    | extensions<u16>
//! extra_data x509    = chain<u24> of cert<u24>
//! extra_data precert = pre_certificate<u24> | chain<u24> of cert<u24>
//! ```

use std::fmt;

use sha2::{Digest, Sha256};

/// The last millisecond a timestamp column can hold and every reader can
/// show (chrono's and so Arrow's last instant, in the year 262142). A leaf
/// timestamp past it is a framing reject, with its exact value in the reason.
pub const MAX_TIMESTAMP_MS: u64 = 8_210_266_876_799_999;

/// The two kinds of log entry defined by RFC 6962.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// `x509_entry`: a final certificate.
    X509,
    /// `precert_entry`: a precertificate's TBSCertificate.
    Precert,
}

impl EntryType {
    /// The value stored in the `entry_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::X509 => "x509",
            EntryType::Precert => "precert",
        }
    }
}

/// A decoded log entry; certificate bytes borrow from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    /// The entry's timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The entry's payload.
    pub kind: EntryKind<'a>,
    /// The raw CtExtensions of the TimestampedEntry.
    pub extensions: &'a [u8],
    /// The submitted chain, issuer first.
    pub chain: Chain<'a>,
}

/// The chain of a [`LogEntry`], as its input gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chain<'a> {
    /// The certificates themselves (RFC 6962 extra_data).
    Certs(Vec<&'a [u8]>),
    /// Their SHA-256 fingerprints (static-ct-api data tiles).
    Fingerprints(Vec<[u8; 32]>),
}

/// The payload of a [`LogEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// A final certificate (DER).
    X509 {
        /// The certificate DER.
        cert: &'a [u8],
    },
    /// A precertificate.
    Precert {
        /// SHA-256 of the final issuer's SubjectPublicKeyInfo.
        issuer_key_hash: [u8; 32],
        /// The TBSCertificate DER from the leaf (poison removed, final issuer).
        tbs: &'a [u8],
        /// The pre_certificate DER from extra_data, as submitted to the log.
        pre_certificate: &'a [u8],
    },
}

impl LogEntry<'_> {
    /// The entry type.
    pub fn entry_type(&self) -> EntryType {
        match self.kind {
            EntryKind::X509 { .. } => EntryType::X509,
            EntryKind::Precert { .. } => EntryType::Precert,
        }
    }
}

/// Why framing failed; the message names the exact field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// Fewer bytes remain than a field needs.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that remain.
        have: usize,
    },
    /// Bytes remain after a structure that should have used them all.
    Trailing {
        /// The structure that ended early.
        field: &'static str,
        /// How many bytes are left over.
        count: usize,
    },
    /// MerkleTreeLeaf version is not v1 (0).
    UnknownVersion(u8),
    /// MerkleTreeLeaf leaf_type is not timestamped_entry (0).
    UnknownLeafType(u8),
    /// entry_type is neither x509_entry (0) nor precert_entry (1).
    UnknownEntryType(u16),
    /// A certificate field of length zero.
    EmptyCertificate(&'static str),
    /// The timestamp is past the last instant a timestamp column can show
    /// ([`MAX_TIMESTAMP_MS`]).
    TimestampOutOfRange(u64),
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::Truncated { field, need, have } => write!(
                f,
                "truncated reading {field}: need {need} bytes, {have} left"
            ),
            FramingError::Trailing { field, count } => {
                write!(f, "{count} trailing bytes after {field}")
            }
            FramingError::UnknownVersion(v) => write!(f, "unknown MerkleTreeLeaf version {v}"),
            FramingError::UnknownLeafType(t) => write!(f, "unknown MerkleTreeLeaf leaf_type {t}"),
            FramingError::UnknownEntryType(t) => write!(f, "unknown entry_type {t}"),
            FramingError::EmptyCertificate(field) => write!(f, "empty {field}"),
            FramingError::TimestampOutOfRange(t) => write!(
                f,
                "TimestampedEntry timestamp {t} ms is past the year 262142, the last a timestamp can show"
            ),
        }
    }
}

impl std::error::Error for FramingError {}

/// A bounds-checked reader over TLS-encoded bytes.
struct TlsReader<'a> {
    buf: &'a [u8],
}

impl<'a> TlsReader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        TlsReader { buf }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], FramingError> {
        if n > self.buf.len() {
            return Err(FramingError::Truncated {
                field,
                need: n,
                have: self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn uint(&mut self, width: usize, field: &'static str) -> Result<u64, FramingError> {
        Ok(self
            .take(width, field)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A `<u24>`-prefixed opaque vector.
    fn vec24(&mut self, field: &'static str) -> Result<&'a [u8], FramingError> {
        let len = self.uint(3, field)? as usize;
        self.take(len, field)
    }

    /// A `<u16>`-prefixed opaque vector.
    fn vec16(&mut self, field: &'static str) -> Result<&'a [u8], FramingError> {
        let len = self.uint(2, field)? as usize;
        self.take(len, field)
    }

    /// A `<u24>`-prefixed certificate that must not be empty.
    fn cert24(&mut self, field: &'static str) -> Result<&'a [u8], FramingError> {
        let cert = self.vec24(field)?;
        if cert.is_empty() {
            return Err(FramingError::EmptyCertificate(field));
        }
        Ok(cert)
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn finish(self, field: &'static str) -> Result<(), FramingError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FramingError::Trailing {
                field,
                count: self.buf.len(),
            })
        }
    }
}

/// Decodes a `<u24>` list of `<u24>` certificates, issuer first.
fn decode_chain<'a>(
    r: &mut TlsReader<'a>,
    field: &'static str,
) -> Result<Vec<&'a [u8]>, FramingError> {
    let list = r.vec24(field)?;
    let mut inner = TlsReader::new(list);
    let mut chain = Vec::new();
    while !inner.is_empty() {
        chain.push(inner.cert24("chain certificate")?);
    }
    Ok(chain)
}

/// What a TimestampedEntry signs: a certificate, or a precertificate's
/// issuer key hash and TBSCertificate.
enum Signed<'a> {
    X509(&'a [u8]),
    Precert {
        issuer_key_hash: [u8; 32],
        tbs: &'a [u8],
    },
}

/// A TimestampedEntry, read the same way from a MerkleTreeLeaf and from a
/// TileLeaf.
///
/// ```text
/// TimestampedEntry = timestamp<u64> entry_type<u16>
///                    (x509: certificate<u24> | precert: issuer_key_hash[32] tbs<u24>)
///                    extensions<u16>
/// ```
struct TimestampedEntry<'a> {
    timestamp_ms: u64,
    signed: Signed<'a>,
    extensions: &'a [u8],
}

fn read_timestamped_entry<'a>(r: &mut TlsReader<'a>) -> Result<TimestampedEntry<'a>, FramingError> {
    let timestamp_ms = r.uint(8, "TimestampedEntry timestamp")?;
    if timestamp_ms > MAX_TIMESTAMP_MS {
        return Err(FramingError::TimestampOutOfRange(timestamp_ms));
    }
    let signed = match r.uint(2, "TimestampedEntry entry_type")? as u16 {
        0 => Signed::X509(r.cert24("x509_entry certificate")?),
        1 => {
            let hash = r.take(32, "PreCert issuer_key_hash")?;
            let mut issuer_key_hash = [0u8; 32];
            issuer_key_hash.copy_from_slice(hash);
            Signed::Precert {
                issuer_key_hash,
                tbs: r.cert24("PreCert tbs_certificate")?,
            }
        }
        other => return Err(FramingError::UnknownEntryType(other)),
    };
    let extensions = r.vec16("TimestampedEntry extensions")?;
    Ok(TimestampedEntry {
        timestamp_ms,
        signed,
        extensions,
    })
}

impl<'a> TimestampedEntry<'a> {
    /// The entry, with a precert's `pre_certificate` read by `pre_certificate`.
    fn into_entry(
        self,
        pre_certificate: impl FnOnce() -> Result<&'a [u8], FramingError>,
        chain: Chain<'a>,
    ) -> Result<LogEntry<'a>, FramingError> {
        let kind = match self.signed {
            Signed::X509(cert) => EntryKind::X509 { cert },
            Signed::Precert {
                issuer_key_hash,
                tbs,
            } => EntryKind::Precert {
                issuer_key_hash,
                tbs,
                pre_certificate: pre_certificate()?,
            },
        };
        Ok(LogEntry {
            timestamp_ms: self.timestamp_ms,
            kind,
            extensions: self.extensions,
            chain,
        })
    }
}

/// Decodes one RFC 6962 entry from its `leaf_input` and `extra_data` bytes.
pub fn decode<'a>(
    leaf_input: &'a [u8],
    extra_data: &'a [u8],
) -> Result<LogEntry<'a>, FramingError> {
    let mut leaf = TlsReader::new(leaf_input);
    let version = leaf.uint(1, "MerkleTreeLeaf version")? as u8;
    if version != 0 {
        return Err(FramingError::UnknownVersion(version));
    }
    let leaf_type = leaf.uint(1, "MerkleTreeLeaf leaf_type")? as u8;
    if leaf_type != 0 {
        return Err(FramingError::UnknownLeafType(leaf_type));
    }
    let entry = read_timestamped_entry(&mut leaf)?;
    leaf.finish("MerkleTreeLeaf")?;
    let mut extra = TlsReader::new(extra_data);
    let pre_certificate = || extra.cert24("PrecertChainEntry pre_certificate");
    let mut entry = entry.into_entry(pre_certificate, Chain::Certs(Vec::new()))?;
    entry.chain = Chain::Certs(decode_chain(&mut extra, "extra_data certificate_chain")?);
    extra.finish("extra_data")?;
    Ok(entry)
}

/// Decodes the static-ct-api `TileLeaf` at the start of `buf`; returns it
/// and the number of bytes it took.
///
/// ```text
/// TileLeaf = TimestampedEntry | precert: pre_certificate<u24>
///          | certificate_chain<u16> of Fingerprint[32]
/// ```
pub fn decode_tile_leaf(buf: &[u8]) -> Result<(LogEntry<'_>, usize), FramingError> {
    let mut r = TlsReader::new(buf);
    let entry = read_timestamped_entry(&mut r)?;
    let mut entry = entry.into_entry(
        || r.cert24("TileLeaf pre_certificate"),
        Chain::Fingerprints(Vec::new()),
    )?;
    let list = r.vec16("TileLeaf certificate_chain")?;
    if list.len() % 32 != 0 {
        return Err(FramingError::Trailing {
            field: "TileLeaf certificate_chain fingerprints",
            count: list.len() % 32,
        });
    }
    entry.chain = Chain::Fingerprints(
        list.chunks_exact(32)
            .map(|c| c.try_into().expect("32-byte chunks"))
            .collect(),
    );
    Ok((entry, buf.len() - r.buf.len()))
}

/// The RFC 6962 Merkle leaf hash of the first entry of a data tile, and
/// the entry's length in the tile. The leaf is a MerkleTreeLeaf (version v1,
/// leaf type timestamped_entry) around the entry's TimestampedEntry bytes
/// exactly as the tile holds them, so the hash is the log's whatever the
/// entry contains.
pub fn tile_leaf_hash(buf: &[u8]) -> Result<(crate::ct::merkle::Hash, usize), FramingError> {
    let mut r = TlsReader::new(buf);
    read_timestamped_entry(&mut r)?;
    let timestamped = buf.len() - r.buf.len();
    let (_, used) = decode_tile_leaf(buf)?;
    let mut h = Sha256::new();
    h.update([0u8, 0, 0]); // leaf hash prefix, version v1, timestamped_entry
    h.update(&buf[..timestamped]);
    Ok((h.finalize().into(), used))
}

/// The `leaf_index` of static-ct-api `CtExtensions` (type 0, a 40-bit
/// big-endian index), if present. Malformed extensions are an error.
pub fn leaf_index(extensions: &[u8]) -> Result<Option<u64>, FramingError> {
    let mut r = TlsReader::new(extensions);
    let mut found = None;
    while !r.is_empty() {
        let kind = r.uint(1, "CtExtensions extension_type")?;
        let data = r.vec16("CtExtensions extension_data")?;
        if kind == 0 {
            if data.len() != 5 {
                return Err(FramingError::Trailing {
                    field: "leaf_index (5 bytes)",
                    count: data.len().abs_diff(5),
                });
            }
            found = Some(data.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u24(n: usize) -> [u8; 3] {
        [(n >> 16) as u8, (n >> 8) as u8, n as u8]
    }

    fn x509_leaf(ts: u64, cert: &[u8]) -> Vec<u8> {
        crate::ct::encode::merkle_tree_leaf(&LogEntry {
            timestamp_ms: ts,
            kind: EntryKind::X509 { cert },
            extensions: &[],
            chain: Chain::Certs(Vec::new()),
        })
    }

    fn chain(certs: &[&[u8]]) -> Vec<u8> {
        crate::ct::encode::extra_data(&LogEntry {
            timestamp_ms: 0,
            kind: EntryKind::X509 { cert: &[] },
            extensions: &[],
            chain: Chain::Certs(certs.to_vec()),
        })
    }

    #[test]
    fn decodes_x509_with_chain() {
        let leaf = x509_leaf(1_364_300_000_000, b"CERT");
        let extra = chain(&[b"ISSUER", b"ROOT"]);
        let e = decode(&leaf, &extra).unwrap();
        assert_eq!(e.timestamp_ms, 1_364_300_000_000);
        assert_eq!(e.kind, EntryKind::X509 { cert: b"CERT" });
        assert_eq!(e.chain, Chain::Certs(vec![&b"ISSUER"[..], &b"ROOT"[..]]));
    }

    /// The bytes written out by hand, field by field as RFC 6962 lays them
    /// out, independent of `ct::encode`: this checks the decoder against
    /// the wire format, not against our own encoder.
    #[test]
    fn decodes_precert() {
        let mut leaf = vec![0, 0];
        leaf.extend_from_slice(&7u64.to_be_bytes());
        leaf.extend_from_slice(&[0, 1]);
        leaf.extend_from_slice(&[0xab; 32]);
        leaf.extend_from_slice(&u24(3));
        leaf.extend_from_slice(b"TBS");
        leaf.extend_from_slice(&[0, 0]);
        let mut extra = u24(3).to_vec();
        extra.extend_from_slice(b"PRE");
        extra.extend(chain(&[b"CA"]));
        let e = decode(&leaf, &extra).unwrap();
        assert_eq!(e.entry_type(), EntryType::Precert);
        assert_eq!(
            e.kind,
            EntryKind::Precert {
                issuer_key_hash: [0xab; 32],
                tbs: b"TBS",
                pre_certificate: b"PRE"
            }
        );
        assert_eq!(e.chain, Chain::Certs(vec![&b"CA"[..]]));
    }

    #[test]
    fn hostile_length_is_truncation_not_allocation() {
        let mut leaf = vec![0, 0];
        leaf.extend_from_slice(&0u64.to_be_bytes());
        leaf.extend_from_slice(&[0, 0, 0xff, 0xff, 0xff, 1, 2]);
        let err = decode(&leaf, &chain(&[])).unwrap_err();
        assert_eq!(
            err,
            FramingError::Truncated {
                field: "x509_entry certificate",
                need: 0xff_ffff,
                have: 2
            }
        );
    }

    #[test]
    fn rejects_unknown_values_and_trailing_bytes() {
        let mut leaf = x509_leaf(1, b"C");
        leaf[0] = 1;
        assert_eq!(
            decode(&leaf, &chain(&[])),
            Err(FramingError::UnknownVersion(1))
        );
        let mut leaf = x509_leaf(1, b"C");
        leaf[1] = 3;
        assert_eq!(
            decode(&leaf, &chain(&[])),
            Err(FramingError::UnknownLeafType(3))
        );
        let mut leaf = x509_leaf(1, b"C");
        leaf[11] = 2;
        assert_eq!(
            decode(&leaf, &chain(&[])),
            Err(FramingError::UnknownEntryType(2))
        );
        let mut leaf = x509_leaf(1, b"C");
        leaf.push(0);
        assert_eq!(
            decode(&leaf, &chain(&[])),
            Err(FramingError::Trailing {
                field: "MerkleTreeLeaf",
                count: 1
            })
        );
        let mut extra = chain(&[b"X"]);
        extra.push(9);
        assert_eq!(
            decode(&x509_leaf(1, b"C"), &extra),
            Err(FramingError::Trailing {
                field: "extra_data",
                count: 1
            })
        );
        assert!(matches!(
            decode(&x509_leaf(1, b"C"), &[]),
            Err(FramingError::Truncated { .. })
        ));
    }

    #[test]
    fn every_truncation_of_a_valid_leaf_is_an_error() {
        let leaf = x509_leaf(99, b"CERTIFICATE");
        let extra = chain(&[b"ISSUER"]);
        for cut in 0..leaf.len() {
            assert!(decode(&leaf[..cut], &extra).is_err(), "leaf cut at {cut}");
        }
        for cut in 0..extra.len() {
            assert!(decode(&leaf, &extra[..cut]).is_err(), "extra cut at {cut}");
        }
    }
}
