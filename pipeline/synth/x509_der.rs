//! DER encoding of the X.509 pieces generated certificates are made of
//! (RFC 5280), written with yasna. Signatures are random bytes of the right
//! shape and length for the signing key; nothing here signs anything.

use rand::Rng;
use yasna::models::ObjectIdentifier;
use yasna::tags::{TAG_GENERALIZEDTIME, TAG_UTCTIME};
use yasna::{DERWriter, Tag};

/// Signature algorithms of generated certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// sha1WithRSAEncryption.
    Sha1Rsa,
    /// sha256WithRSAEncryption.
    Sha256Rsa,
    /// ecdsa-with-SHA256.
    EcdsaSha256,
    /// ecdsa-with-SHA384.
    EcdsaSha384,
}

impl SigAlg {
    fn oid(self) -> &'static [u64] {
        match self {
            SigAlg::Sha1Rsa => &[1, 2, 840, 113549, 1, 1, 5],
            SigAlg::Sha256Rsa => &[1, 2, 840, 113549, 1, 1, 11],
            SigAlg::EcdsaSha256 => &[1, 2, 840, 10045, 4, 3, 2],
            SigAlg::EcdsaSha384 => &[1, 2, 840, 10045, 4, 3, 3],
        }
    }

    /// Writes the AlgorithmIdentifier (RSA ones with NULL parameters, ECDSA
    /// ones without, as RFC 3279 and RFC 5758 ask).
    pub fn write(self, w: DERWriter) {
        w.write_sequence(|w| {
            w.next()
                .write_oid(&ObjectIdentifier::from_slice(self.oid()));
            if matches!(self, SigAlg::Sha1Rsa | SigAlg::Sha256Rsa) {
                w.next().write_null();
            }
        })
    }
}

/// The kind and size of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa(u32),
    /// ECDSA on P-256.
    P256,
    /// ECDSA on P-384.
    P384,
}

impl KeyKind {
    /// The signature algorithm a CA holding this key uses (SHA-256 unless `sha1`).
    pub fn sig_alg(self, sha1: bool) -> SigAlg {
        match (self, sha1) {
            (KeyKind::Rsa(_), true) => SigAlg::Sha1Rsa,
            (KeyKind::Rsa(_), false) => SigAlg::Sha256Rsa,
            (KeyKind::P256, _) => SigAlg::EcdsaSha256,
            (KeyKind::P384, _) => SigAlg::EcdsaSha384,
        }
    }

    /// A random signature value of the length this key produces: a
    /// modulus-sized octet string for RSA, an Ecdsa-Sig-Value for ECDSA.
    pub fn random_signature(self, rng: &mut impl Rng) -> Vec<u8> {
        match self {
            KeyKind::Rsa(bits) => {
                let mut s = vec![0u8; bits.div_ceil(8) as usize];
                rng.fill(&mut s[..]);
                s[0] = (s[0] & 0x7f) | 0x01;
                s
            }
            KeyKind::P256 | KeyKind::P384 => {
                let n = if self == KeyKind::P256 { 32 } else { 48 };
                let mut r = vec![0u8; n];
                let mut s = vec![0u8; n];
                rng.fill(&mut r[..]);
                rng.fill(&mut s[..]);
                r[0] |= 1;
                s[0] |= 1;
                yasna::construct_der(|w| {
                    w.write_sequence(|w| {
                        w.next().write_bigint_bytes(&r, true);
                        w.next().write_bigint_bytes(&s, true);
                    })
                })
            }
        }
    }
}

/// A SubjectPublicKeyInfo for an RSA modulus (public exponent 65537).
pub fn rsa_spki(modulus: &[u8]) -> Vec<u8> {
    let key = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(modulus, true);
            w.next().write_u32(65537);
        })
    });
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&ObjectIdentifier::from_slice(&[1, 2, 840, 113549, 1, 1, 1]));
                w.next().write_null();
            });
            w.next().write_bitvec_bytes(&key, key.len() * 8);
        })
    })
}

/// A SubjectPublicKeyInfo for an uncompressed EC point on P-256 or P-384.
pub fn ec_spki(kind: KeyKind, point: &[u8]) -> Vec<u8> {
    let curve: &[u64] = if kind == KeyKind::P384 {
        &[1, 3, 132, 0, 34]
    } else {
        &[1, 2, 840, 10045, 3, 1, 7]
    };
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&ObjectIdentifier::from_slice(&[1, 2, 840, 10045, 2, 1]));
                w.next().write_oid(&ObjectIdentifier::from_slice(curve));
            });
            w.next().write_bitvec_bytes(point, point.len() * 8);
        })
    })
}

/// Attribute types used in generated names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// countryName (PrintableString).
    C,
    /// stateOrProvinceName.
    St,
    /// localityName.
    L,
    /// organizationName.
    O,
    /// organizationalUnitName.
    Ou,
    /// commonName.
    Cn,
}

impl Attr {
    fn oid(self) -> [u64; 4] {
        let last = match self {
            Attr::C => 6,
            Attr::St => 8,
            Attr::L => 7,
            Attr::O => 10,
            Attr::Ou => 11,
            Attr::Cn => 3,
        };
        [2, 5, 4, last]
    }
}

fn is_printable(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// A Name: one attribute per RDN, in the order given. Values are
/// PrintableStrings where the characters allow, UTF8Strings otherwise.
pub fn encode_name(attrs: &[(Attr, &str)]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (attr, value) in attrs {
                w.next().write_set(|w| {
                    w.next().write_sequence(|w| {
                        w.next()
                            .write_oid(&ObjectIdentifier::from_slice(&attr.oid()));
                        if is_printable(value) {
                            w.next().write_printable_string(value);
                        } else {
                            w.next().write_utf8_string(value);
                        }
                    })
                });
            }
        })
    })
}

/// Writes a Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
fn write_time(w: DERWriter, unix_seconds: i64) {
    let t = chrono::DateTime::from_timestamp(unix_seconds, 0).unwrap_or_default();
    use chrono::Datelike;
    if (1950..2050).contains(&t.year()) {
        let text = t.format("%y%m%d%H%M%SZ").to_string();
        w.write_tagged_implicit(TAG_UTCTIME, |w| w.write_bytes(text.as_bytes()));
    } else {
        let text = t.format("%Y%m%d%H%M%SZ").to_string();
        w.write_tagged_implicit(TAG_GENERALIZEDTIME, |w| w.write_bytes(text.as_bytes()));
    }
}

/// One Extension: extnID, critical (only when true, as DER asks), extnValue.
pub fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_oid(&ObjectIdentifier::from_slice(oid));
            if critical {
                w.next().write_bool(true);
            }
            w.next().write_bytes(value);
        })
    })
}

/// Object identifiers of the extensions generated certificates carry.
pub mod ext_oid {
    /// subjectKeyIdentifier.
    pub const SKI: &[u64] = &[2, 5, 29, 14];
    /// keyUsage.
    pub const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
    /// subjectAltName.
    pub const SAN: &[u64] = &[2, 5, 29, 17];
    /// basicConstraints.
    pub const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
    /// cRLDistributionPoints.
    pub const CRL_DP: &[u64] = &[2, 5, 29, 31];
    /// certificatePolicies.
    pub const POLICIES: &[u64] = &[2, 5, 29, 32];
    /// authorityKeyIdentifier.
    pub const AKI: &[u64] = &[2, 5, 29, 35];
    /// extKeyUsage.
    pub const EKU: &[u64] = &[2, 5, 29, 37];
    /// authorityInfoAccess.
    pub const AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
    /// The RFC 6962 precertificate poison.
    pub const CT_POISON: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3];
    /// The RFC 6962 embedded SCT list.
    pub const SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
}

/// basicConstraints value.
pub fn basic_constraints(ca: bool) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            if ca {
                w.next().write_bool(true);
            }
        })
    })
}

/// keyUsage value: a subscriber's (digitalSignature, plus keyEncipherment for
/// RSA) or a CA's (digitalSignature, keyCertSign, cRLSign).
pub fn key_usage(ca: bool, rsa: bool) -> Vec<u8> {
    yasna::construct_der(|w| match (ca, rsa) {
        (true, _) => w.write_bitvec_bytes(&[0x86], 7),
        (false, true) => w.write_bitvec_bytes(&[0xa0], 3),
        (false, false) => w.write_bitvec_bytes(&[0x80], 1),
    })
}

/// extKeyUsage value: serverAuth and clientAuth.
pub fn ext_key_usage() -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_oid(&ObjectIdentifier::from_slice(&[1, 3, 6, 1, 5, 5, 7, 3, 1]));
            w.next()
                .write_oid(&ObjectIdentifier::from_slice(&[1, 3, 6, 1, 5, 5, 7, 3, 2]));
        })
    })
}

/// subjectKeyIdentifier value.
pub fn subject_key_id(id: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| w.write_bytes(id))
}

/// authorityKeyIdentifier value holding a keyIdentifier.
pub fn authority_key_id(id: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(id))
        })
    })
}

/// certificatePolicies value with one policy OID.
pub fn policies(policy: &[u64]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(policy));
            })
        })
    })
}

/// authorityInfoAccess value: OCSP and caIssuers URIs.
pub fn authority_info_access(ocsp: &str, ca_issuers: &str) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (method, uri) in [(1u64, ocsp), (2, ca_issuers)] {
                w.next().write_sequence(|w| {
                    w.next().write_oid(&ObjectIdentifier::from_slice(&[
                        1, 3, 6, 1, 5, 5, 7, 48, method,
                    ]));
                    w.next()
                        .write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(uri));
                });
            }
        })
    })
}

/// cRLDistributionPoints value with one fullName URI.
pub fn crl_distribution_point(uri: &str) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_tagged(Tag::context(0), |w| {
                    w.write_tagged_implicit(Tag::context(0), |w| {
                        w.write_sequence(|w| {
                            w.next()
                                .write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(uri))
                        })
                    })
                })
            })
        })
    })
}

/// subjectAltName value: dNSNames, then iPAddresses (4 or 16 octets each).
pub fn subject_alt_name(dns: &[String], ips: &[std::net::IpAddr]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for name in dns {
                w.next()
                    .write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(name));
            }
            for ip in ips {
                let octets = match ip {
                    std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                    std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                w.next()
                    .write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&octets));
            }
        })
    })
}

/// The precertificate poison's value (ASN.1 NULL).
pub const POISON_VALUE: &[u8] = &[0x05, 0x00];

/// One SCT of an embedded list.
#[derive(Debug, Clone, Copy)]
pub struct Sct {
    /// The log's 32-byte ID.
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// The embedded SCT list extension's value: an OCTET STRING holding the TLS
/// SignedCertificateTimestampList (RFC 6962 3.3), each SCT v1 with no
/// extensions and a random ECDSA P-256 signature.
pub fn sct_list(scts: &[Sct], rng: &mut impl Rng) -> Vec<u8> {
    let mut list = Vec::with_capacity(scts.len() * 120);
    for sct in scts {
        let sig = KeyKind::P256.random_signature(rng);
        let len = 1 + 32 + 8 + 2 + 2 + 2 + sig.len();
        list.extend_from_slice(&(len as u16).to_be_bytes());
        list.push(0); // v1
        list.extend_from_slice(&sct.log_id);
        list.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
        list.extend_from_slice(&[0, 0]); // no extensions
        list.extend_from_slice(&[4, 3]); // sha256, ecdsa
        list.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        list.extend_from_slice(&sig);
    }
    let mut tls = Vec::with_capacity(list.len() + 2);
    tls.extend_from_slice(&(list.len() as u16).to_be_bytes());
    tls.extend_from_slice(&list);
    yasna::construct_der(|w| w.write_bytes(&tls))
}

/// The fields of a TBSCertificate, all but the names and key pre-encoded.
#[derive(Debug)]
pub struct Tbs<'a> {
    /// Serial number content octets (a positive integer).
    pub serial: &'a [u8],
    /// The signature algorithm (repeated outside the TBS).
    pub sig_alg: SigAlg,
    /// The issuer Name, DER.
    pub issuer: &'a [u8],
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The subject Name, DER.
    pub subject: &'a [u8],
    /// The SubjectPublicKeyInfo, DER.
    pub spki: &'a [u8],
    /// Extensions, each a DER Extension, in order.
    pub extensions: &'a [Vec<u8>],
}

/// A v3 TBSCertificate.
pub fn encode_tbs(t: &Tbs<'_>) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
            w.next().write_bigint_bytes(t.serial, true);
            t.sig_alg.write(w.next());
            w.next().write_der(t.issuer);
            w.next().write_sequence(|w| {
                write_time(w.next(), t.not_before);
                write_time(w.next(), t.not_after);
            });
            w.next().write_der(t.subject);
            w.next().write_der(t.spki);
            if !t.extensions.is_empty() {
                w.next().write_tagged(Tag::context(3), |w| {
                    w.write_sequence(|w| {
                        for e in t.extensions {
                            w.next().write_der(e);
                        }
                    })
                });
            }
        })
    })
}

/// A Certificate from its TBS, algorithm and signature value.
pub fn encode_certificate(tbs: &[u8], sig_alg: SigAlg, signature: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(tbs);
            sig_alg.write(w.next());
            w.next().write_bitvec_bytes(signature, signature.len() * 8);
        })
    })
}
