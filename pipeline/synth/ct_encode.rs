//! Encoding of generated issuances as RFC 6962 log entries: the DER
//! certificates (precertificate with poison, final certificate with or
//! without its embedded SCT list), the MerkleTreeLeaf (`leaf_input`) and the
//! chain (`extra_data`).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::authorities::{Authorities, Ca};
use super::issuance::{Issuance, Logging};
use super::keys::KeyPool;
use super::time::{DAY, NOW};
use super::x509_der::{self as der, ext_oid, Attr, KeyKind, Sct};
use crate::ct::encode;
use crate::ct::leaf::{self, Chain, EntryKind, LogEntry};
use crate::ct::merkle::{leaf_hash, Hash};

/// IDs of real logs (Google's log list v3) that generated SCTs cite beside
/// the log the dump is for.
const OTHER_LOG_IDS: &[&str] = &[
    "sh4FzIuizYogTodm+Su5iiUgZ2va+nDnsklTLe+LkF4=",
    "9lyUL9F3MCIUVBgIMJRWjuNNExkzv98MLyALzE7xZOM=",
    "Xqdz+d9WwOe1Nkh90EngMnqRmgyEoRIShBh1loFxRVg=",
    "RJRlLrDuzq/EQAfYqP4owNrmgr7YyzG1P9MzlrW2gag=",
    "VhQGmi/XwuzT9eG9RLI+x0Z2ubyZEVzA75SYVdaJ0N0=",
    "8JWkWfIA0YJAEC0vk4iOrUv+HUfjmeHQNKawqKqOsnM=",
    "VYHUwhaQNgFK6gubVzxT8MDkOHhwJQgXL6OqHQcT0ww=",
    "5xLysDd+GmL7jskMYYTx6ns3y1YdESZb8+DzS/JBVG4=",
    "lCC8Ho7VjWyIcx+CiyIsDdHaTV5sT5Q9YdtOL1hNosI=",
];

/// Organisations of OV subjects.
const ORGS: &[(&str, &str, &str, &str)] = &[
    (
        "US",
        "California",
        "San Francisco",
        "Example Networks, Inc.",
    ),
    ("DE", "Bayern", "München", "Beispiel Handels GmbH"),
    ("GB", "London", "London", "Sample Retail Ltd"),
    ("JP", "Tokyo", "Chiyoda-ku", "サンプル株式会社"),
    ("CN", "Beijing", "Beijing", "北京示例科技有限公司"),
    ("FR", "Île-de-France", "Paris", "Exemple SAS"),
    ("BR", "São Paulo", "São Paulo", "Exemplo Comércio Ltda"),
];

/// One log entry: the base64 texts of `leaf_input` and `extra_data`.
#[derive(Debug, Clone)]
pub struct EntryText {
    /// base64 of the leaf.
    pub leaf_b64: String,
    /// base64 of extra_data.
    pub extra_b64: String,
}

/// The entries an issuance yields in this log.
#[derive(Debug)]
pub struct Encoded {
    /// The precert entry of a pair.
    pub precert: Option<EntryText>,
    /// The final certificate's x509 entry.
    pub final_cert: EntryText,
}

/// Encodes issuances for one log.
#[derive(Debug)]
pub struct Encoder<'a> {
    cas: &'a Authorities,
    keys: KeyPool,
    log_id: [u8; 32],
    other_logs: Vec<[u8; 32]>,
    /// Per CA: base64 of the x509 extra_data for each chain.
    chains_b64: Vec<[String; 2]>,
}

/// The certificate_chain of an x509 entry's `extra_data`.
fn chain_list(certs: &[&[u8]]) -> Vec<u8> {
    encode::extra_data(&unlogged(EntryKind::X509 { cert: &[] }, certs.to_vec()))
}

/// An entry at time 0 without extensions: the timestamp and extensions do
/// not reach `extra_data`.
fn unlogged<'a>(kind: EntryKind<'a>, chain: Vec<&'a [u8]>) -> LogEntry<'a> {
    LogEntry {
        timestamp_ms: 0,
        kind,
        extensions: &[],
        chain: Chain::Certs(chain),
    }
}

impl<'a> Encoder<'a> {
    /// An encoder for the log called `log_name`.
    pub fn new(cas: &'a Authorities, keys: KeyPool, log_name: &str) -> Encoder<'a> {
        let log_id: [u8; 32] = Sha256::digest(log_name.as_bytes()).into();
        let other_logs = OTHER_LOG_IDS
            .iter()
            .map(|b| {
                let v = BASE64.decode(b).expect("constant base64");
                v.try_into().expect("log IDs are 32 bytes")
            })
            .collect();
        let chains_b64 = cas
            .all
            .iter()
            .map(|ca| {
                let root = &cas.all[ca.root].cert;
                [
                    BASE64.encode(chain_list(&[&ca.cert])),
                    BASE64.encode(chain_list(&[&ca.cert, root])),
                ]
            })
            .collect();
        Encoder {
            cas,
            keys,
            log_id,
            other_logs,
            chains_b64,
        }
    }

    fn subject(&self, is: &Issuance, rng: &mut impl Rng) -> Vec<u8> {
        let mut attrs: Vec<(Attr, &str)> = Vec::new();
        if is.ov {
            let (c, st, l, o) = ORGS[rng.random_range(0..ORGS.len())];
            attrs.extend([(Attr::C, c), (Attr::St, st), (Attr::L, l), (Attr::O, o)]);
        }
        if let Some(cn) = &is.subject_cn {
            attrs.push((Attr::Cn, cn));
        }
        der::encode_name(&attrs)
    }

    fn scts(&self, is: &Issuance, own: bool, rng: &mut impl Rng) -> Vec<Sct> {
        let first_ms = ((is.not_before + is.evidence_delay) * 1000) as u64;
        let count = rng.random_range(2..=3);
        let mut scts = Vec::with_capacity(count);
        if own {
            scts.push(Sct {
                log_id: self.log_id,
                timestamp_ms: first_ms,
            });
        }
        while scts.len() < count {
            let log_id = self.other_logs[rng.random_range(0..self.other_logs.len())];
            if scts.iter().any(|s| s.log_id == log_id) {
                continue;
            }
            let timestamp_ms = if scts.is_empty() {
                first_ms
            } else {
                first_ms + rng.random_range(0..3000)
            };
            scts.push(Sct {
                log_id,
                timestamp_ms,
            });
        }
        scts
    }

    /// The log entries of `is` in this log.
    pub fn encode(&self, is: &Issuance, rng: &mut impl Rng) -> Encoded {
        let ca = &self.cas.all[is.ca];
        let mut spki = self.keys.spki(is.key, rng);
        let ski: [u8; 32] = Sha256::digest(&spki).into();
        if is.broken {
            // A SET where the SubjectPublicKeyInfo SEQUENCE belongs.
            spki[0] = 0x31;
        }
        let subject = self.subject(is, rng);
        let infra = is.infra.map_or(ca, |i| &self.cas.all[i]);
        let exts = extensions(is, ca, infra, &ski);
        let sig_alg = ca.def.key.sig_alg(is.sha1);
        let tbs_with = |extra: Option<Vec<u8>>| {
            let mut all = exts.clone();
            all.extend(extra);
            der::encode_tbs(&der::Tbs {
                serial: &is.serial,
                sig_alg,
                issuer: &ca.name_der,
                not_before: is.not_before,
                not_after: is.not_after,
                subject: &subject,
                spki: &spki,
                extensions: &all,
            })
        };
        let with_root = usize::from(rng.random_bool(0.7));
        let evidence_ms = ((is.not_before + is.evidence_delay) * 1000) as u64;
        let (own_scts, final_scts) = match is.logging {
            Logging::Pair { final_scts } => (true, final_scts),
            Logging::FinalWithScts => (false, true),
            Logging::FinalWithoutScts => (false, false),
        };
        let precert = if let Logging::Pair { .. } = is.logging {
            let leaf_tbs = tbs_with(None);
            let pre_tbs = tbs_with(Some(der::extension(
                ext_oid::CT_POISON,
                true,
                der::POISON_VALUE,
            )));
            let pre = der::encode_certificate(&pre_tbs, sig_alg, &ca.def.key.random_signature(rng));
            Some(self.precert_text(is.ca, &leaf_tbs, &pre, with_root == 1, evidence_ms))
        } else {
            None
        };
        let final_tbs = if final_scts {
            let scts = self.scts(is, own_scts, rng);
            tbs_with(Some(der::extension(
                ext_oid::SCT_LIST,
                false,
                &der::sct_list(&scts, rng),
            )))
        } else {
            tbs_with(None)
        };
        let final_der =
            der::encode_certificate(&final_tbs, sig_alg, &ca.def.key.random_signature(rng));
        let final_ms = final_entry_ms(is.logging, evidence_ms, rng);
        let leaf = encode::merkle_tree_leaf(&LogEntry {
            timestamp_ms: final_ms,
            ..unlogged(EntryKind::X509 { cert: &final_der }, Vec::new())
        });
        Encoded {
            precert,
            final_cert: EntryText {
                leaf_b64: BASE64.encode(&leaf),
                extra_b64: self.chains_b64[is.ca][with_root].clone(),
            },
        }
    }

    /// The precertificate entry of an issuance by CA `ca_index`: the TBS of
    /// the final certificate, the precertificate, and the chain to the CA
    /// (and its root, `with_root`), logged at `timestamp_ms`.
    fn precert_text(
        &self,
        ca_index: usize,
        leaf_tbs: &[u8],
        pre_certificate: &[u8],
        with_root: bool,
        timestamp_ms: u64,
    ) -> EntryText {
        let ca = &self.cas.all[ca_index];
        let root = &self.cas.all[ca.root].cert;
        let chain: Vec<&[u8]> = if with_root {
            vec![&ca.cert, root]
        } else {
            vec![&ca.cert]
        };
        let entry = LogEntry {
            timestamp_ms,
            ..unlogged(
                EntryKind::Precert {
                    issuer_key_hash: ca.key_hash,
                    tbs: leaf_tbs,
                    pre_certificate,
                },
                chain,
            )
        };
        let (leaf, extra) = (encode::merkle_tree_leaf(&entry), encode::extra_data(&entry));
        EntryText {
            leaf_b64: BASE64.encode(&leaf),
            extra_b64: BASE64.encode(&extra),
        }
    }
}

/// When the final certificate is logged: minutes after its precertificate,
/// days after issuance when it carries SCTs of other logs, weeks when it
/// carries none; never in the future nor before `evidence_ms`.
fn final_entry_ms(logging: Logging, evidence_ms: u64, rng: &mut impl Rng) -> u64 {
    match logging {
        Logging::Pair { .. } => evidence_ms + rng.random_range(1_000..300_000),
        Logging::FinalWithScts => evidence_ms + rng.random_range(0..7 * DAY as u64 * 1000),
        Logging::FinalWithoutScts => evidence_ms + rng.random_range(0..30 * DAY as u64 * 1000),
    }
    .min((NOW * 1000) as u64)
    .max(evidence_ms)
}

/// The host of the OCSP responder named by what `infra`'s systems make.
fn ocsp_host(infra: &Ca) -> String {
    format!("ocsp.{}", infra.def.host)
}

/// The host of the CRL named by what `infra`'s systems make (ACME CAs
/// name none).
fn crl_host(infra: &Ca) -> Option<String> {
    (!infra.def.acme).then(|| format!("crl.{}", infra.def.host))
}

/// The OCSP and CRL URL hosts of `is`'s certificate, as `url_hosts(ocsp_urls,
/// crl_urls)` gives them from its row.
pub fn url_hosts(is: &Issuance, cas: &Authorities) -> Vec<String> {
    if is.without_urls {
        return Vec::new();
    }
    let infra = &cas.all[is.infra.unwrap_or(is.ca)];
    std::iter::once(ocsp_host(infra))
        .chain(crl_host(infra))
        .collect()
}

/// The extensions of an end-entity certificate of `ca` (without SCTs or
/// poison): key identifiers, usages, policies, AIA, CRL DP, SAN. The AIA
/// and CRL URLs are those of `infra` (the issuer's own, unless the
/// certificate was made with another CA's systems).
fn extensions(is: &Issuance, ca: &Ca, infra: &Ca, ski: &[u8; 32]) -> Vec<Vec<u8>> {
    let rsa = matches!(is.key, KeyKind::Rsa(_));
    let mut exts = vec![
        der::extension(ext_oid::AKI, false, &der::authority_key_id(&ca.key_id)),
        der::extension(ext_oid::SKI, false, &der::subject_key_id(&ski[..20])),
        der::extension(ext_oid::KEY_USAGE, true, &der::key_usage(false, rsa)),
        der::extension(ext_oid::EKU, false, &der::ext_key_usage()),
        der::extension(
            ext_oid::BASIC_CONSTRAINTS,
            true,
            &der::basic_constraints(false),
        ),
        der::extension(
            ext_oid::POLICIES,
            false,
            &der::policies(if is.ov {
                &[2, 23, 140, 1, 2, 2]
            } else {
                &[2, 23, 140, 1, 2, 1]
            }),
        ),
    ];
    if !is.without_urls {
        exts.push(der::extension(
            ext_oid::AIA,
            false,
            &der::authority_info_access(
                &format!("http://{}", ocsp_host(infra)),
                &format!("http://crt.{}/{}.der", infra.def.host, infra.def.id),
            ),
        ));
        if let Some(crl) = crl_host(infra) {
            exts.push(der::extension(
                ext_oid::CRL_DP,
                false,
                &der::crl_distribution_point(&format!("http://{crl}/{}.crl", infra.def.id)),
            ));
        }
    }
    if is.has_san {
        exts.push(der::extension(
            ext_oid::SAN,
            is.subject_cn.is_none() && !is.ov,
            &der::subject_alt_name(&is.san_dns, &is.san_ip),
        ));
    }
    exts
}

/// A data tile as [`tile`] makes it.
pub struct Tile {
    /// The tile's bytes.
    pub data: Vec<u8>,
    /// The issuer files it refers to: lowercase hex SHA-256 name, DER.
    pub issuers: Vec<(String, Vec<u8>)>,
    /// Its entries' Merkle leaf hashes, in order.
    pub leaves: Vec<Hash>,
}

/// A static-ct-api data tile of `entries` (the first at index `start`,
/// each with its leaf_index extension).
pub fn tile(entries: &[&EntryText], start: u64) -> Tile {
    let mut out = Vec::with_capacity(entries.len() * 2048);
    let mut issuers = Vec::new();
    let mut leaves = Vec::with_capacity(entries.len());
    for (k, e) in entries.iter().enumerate() {
        let leaf = BASE64.decode(&e.leaf_b64).expect("our own base64");
        let extra = BASE64.decode(&e.extra_b64).expect("our own base64");
        let mut entry = leaf::decode(&leaf, &extra).expect("our own framing");
        let extension = encode::leaf_index_extension(start + k as u64);
        entry.extensions = &extension;
        out.extend(encode::tile_leaf(&entry));
        leaves.push(leaf_hash(&encode::merkle_tree_leaf(&entry)));
        if let Chain::Certs(certs) = &entry.chain {
            for der in certs {
                let fp: [u8; 32] = Sha256::digest(der).into();
                issuers.push((hex::encode(fp), der.to_vec()));
            }
        }
    }
    issuers.sort();
    issuers.dedup();
    Tile {
        data: out,
        issuers,
        leaves,
    }
}
