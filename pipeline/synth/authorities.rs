//! The certification authorities of generated dumps: a few roots and ten
//! issuing CAs with the names, key types, active years and habits (SHA-1
//! until a date, 90-day validity, CT logging) of real ones. Their
//! certificates are made once per dump and carried in every chain.

use rand::Rng;
use sha2::{Digest, Sha256};

use super::keys::KeyPool;
use super::time::{date, NOW};
use super::x509_der::{self as der, ext_oid, Attr, KeyKind};

/// How an authority is described.
#[derive(Debug)]
pub struct CaDef {
    /// Short identifier.
    pub id: &'static str,
    /// Subject name, in RDN order.
    pub dn: &'static [(Attr, &'static str)],
    /// The root that signs it (`None` for a root).
    pub parent: Option<&'static str>,
    /// Its own key.
    pub key: KeyKind,
    /// First and last day it issues subscriber certificates (`YYYY-MM-DD`).
    pub active: (&'static str, &'static str),
    /// Relative share of the certificates issued while active.
    pub weight: u32,
    /// Issues some SHA-1 subscriber certificates before this day.
    pub sha1_until: Option<&'static str>,
    /// Let's Encrypt habits: 90-day DV certificates, no CRL URL.
    pub acme: bool,
    /// A WoSign CA (the `missing_sct_after_promise` rule's default issuer).
    pub wosign: bool,
    /// Host of its OCSP/CRL/AIA URLs.
    pub host: &'static str,
}

impl CaDef {
    /// Its organizationName (the issuer_org of what it signs).
    pub fn org(&self) -> Option<&'static str> {
        self.dn.iter().find(|(a, _)| *a == Attr::O).map(|(_, v)| *v)
    }
}

/// Roots first, then issuing CAs.
pub const AUTHORITIES: &[CaDef] = &[
    root(
        "godaddy_root",
        &[
            (Attr::C, "US"),
            (Attr::St, "Arizona"),
            (Attr::L, "Scottsdale"),
            (Attr::O, "GoDaddy.com, Inc."),
            (Attr::Cn, "Go Daddy Root Certificate Authority - G2"),
        ],
        KeyKind::Rsa(2048),
    ),
    root(
        "digicert_root",
        &[
            (Attr::C, "US"),
            (Attr::O, "DigiCert Inc"),
            (Attr::Ou, "www.digicert.com"),
            (Attr::Cn, "DigiCert Global Root CA"),
        ],
        KeyKind::Rsa(2048),
    ),
    root(
        "startcom_root",
        &[
            (Attr::C, "IL"),
            (Attr::O, "StartCom Ltd."),
            (Attr::Ou, "Secure Digital Certificate Signing"),
            (Attr::Cn, "StartCom Certification Authority"),
        ],
        KeyKind::Rsa(4096),
    ),
    root(
        "wosign_root",
        &[
            (Attr::C, "CN"),
            (Attr::O, "WoSign CA Limited"),
            (Attr::Cn, "CA 沃通根证书"),
        ],
        KeyKind::Rsa(4096),
    ),
    root(
        "isrg_root",
        &[
            (Attr::C, "US"),
            (Attr::O, "Internet Security Research Group"),
            (Attr::Cn, "ISRG Root X1"),
        ],
        KeyKind::Rsa(4096),
    ),
    root(
        "usertrust_root",
        &[
            (Attr::C, "US"),
            (Attr::St, "New Jersey"),
            (Attr::L, "Jersey City"),
            (Attr::O, "The USERTRUST Network"),
            (Attr::Cn, "USERTrust RSA Certification Authority"),
        ],
        KeyKind::Rsa(4096),
    ),
    root(
        "globalsign_root",
        &[
            (Attr::Ou, "GlobalSign Root CA - R3"),
            (Attr::O, "GlobalSign"),
            (Attr::Cn, "GlobalSign"),
        ],
        KeyKind::Rsa(2048),
    ),
    CaDef {
        id: "godaddy_g2",
        dn: &[
            (Attr::C, "US"),
            (Attr::St, "Arizona"),
            (Attr::L, "Scottsdale"),
            (Attr::O, "GoDaddy.com, Inc."),
            (Attr::Ou, "http://certs.godaddy.com/repository/"),
            (Attr::Cn, "Go Daddy Secure Certificate Authority - G2"),
        ],
        parent: Some("godaddy_root"),
        key: KeyKind::Rsa(2048),
        active: ("2013-01-01", "2026-11-20"),
        weight: 10,
        sha1_until: Some("2015-06-01"),
        acme: false,
        wosign: false,
        host: "godaddy.com",
    },
    CaDef {
        id: "digicert_sha2",
        dn: &[
            (Attr::C, "US"),
            (Attr::O, "DigiCert Inc"),
            (Attr::Cn, "DigiCert SHA2 Secure Server CA"),
        ],
        parent: Some("digicert_root"),
        key: KeyKind::Rsa(2048),
        active: ("2013-03-08", "2026-11-20"),
        weight: 10,
        sha1_until: None,
        acme: false,
        wosign: false,
        host: "digicert.com",
    },
    CaDef {
        id: "startcom_class1",
        dn: &[
            (Attr::C, "IL"),
            (Attr::O, "StartCom Ltd."),
            (Attr::Ou, "Secure Digital Certificate Signing"),
            (Attr::Cn, "StartCom Class 1 Primary Intermediate Server CA"),
        ],
        parent: Some("startcom_root"),
        key: KeyKind::Rsa(2048),
        active: ("2013-01-01", "2017-11-30"),
        weight: 6,
        sha1_until: Some("2015-12-01"),
        acme: false,
        wosign: false,
        host: "startssl.com",
    },
    CaDef {
        id: "wosign_free",
        dn: &[
            (Attr::C, "CN"),
            (Attr::O, "WoSign CA Limited"),
            (Attr::Cn, "WoSign CA Free SSL Certificate G2"),
        ],
        parent: Some("wosign_root"),
        key: KeyKind::Rsa(2048),
        active: ("2014-11-08", "2016-10-21"),
        weight: 6,
        sha1_until: Some("2015-12-01"),
        acme: false,
        wosign: true,
        host: "wosign.com",
    },
    CaDef {
        id: "wosign_ov",
        dn: &[
            (Attr::C, "CN"),
            (Attr::O, "WoSign CA Limited"),
            (Attr::Cn, "沃通 OV SSL 服务器证书 G2"),
        ],
        parent: Some("wosign_root"),
        key: KeyKind::Rsa(2048),
        active: ("2014-06-01", "2016-10-21"),
        weight: 3,
        sha1_until: None,
        acme: false,
        wosign: true,
        host: "wosign.cn",
    },
    CaDef {
        id: "le_x3",
        dn: &[
            (Attr::C, "US"),
            (Attr::O, "Let's Encrypt"),
            (Attr::Cn, "Let's Encrypt Authority X3"),
        ],
        parent: Some("isrg_root"),
        key: KeyKind::Rsa(2048),
        active: ("2016-03-17", "2020-12-31"),
        weight: 25,
        sha1_until: None,
        acme: true,
        wosign: false,
        host: "letsencrypt.org",
    },
    CaDef {
        id: "le_r3",
        dn: &[
            (Attr::C, "US"),
            (Attr::O, "Let's Encrypt"),
            (Attr::Cn, "R3"),
        ],
        parent: Some("isrg_root"),
        key: KeyKind::Rsa(2048),
        active: ("2020-12-01", "2025-12-31"),
        weight: 45,
        sha1_until: None,
        acme: true,
        wosign: false,
        host: "lencr.org",
    },
    CaDef {
        id: "le_e5",
        dn: &[
            (Attr::C, "US"),
            (Attr::O, "Let's Encrypt"),
            (Attr::Cn, "E5"),
        ],
        parent: Some("isrg_root"),
        key: KeyKind::P384,
        active: ("2024-03-13", "2026-11-20"),
        weight: 20,
        sha1_until: None,
        acme: true,
        wosign: false,
        host: "lencr.org",
    },
    CaDef {
        id: "sectigo_dv",
        dn: &[
            (Attr::C, "GB"),
            (Attr::St, "Greater Manchester"),
            (Attr::L, "Salford"),
            (Attr::O, "Sectigo Limited"),
            (Attr::Cn, "Sectigo RSA Domain Validation Secure Server CA"),
        ],
        parent: Some("usertrust_root"),
        key: KeyKind::Rsa(2048),
        active: ("2018-11-02", "2026-11-20"),
        weight: 12,
        sha1_until: None,
        acme: false,
        wosign: false,
        host: "sectigo.com",
    },
    CaDef {
        id: "globalsign_dv",
        dn: &[
            (Attr::C, "BE"),
            (Attr::O, "GlobalSign nv-sa"),
            (Attr::Cn, "GlobalSign GCC R3 DV TLS CA 2020"),
        ],
        parent: Some("globalsign_root"),
        key: KeyKind::Rsa(2048),
        active: ("2020-07-28", "2026-11-20"),
        weight: 4,
        sha1_until: None,
        acme: false,
        wosign: false,
        host: "globalsign.com",
    },
];

const fn root(id: &'static str, dn: &'static [(Attr, &'static str)], key: KeyKind) -> CaDef {
    CaDef {
        id,
        dn,
        parent: None,
        key,
        active: ("", ""),
        weight: 0,
        sha1_until: None,
        acme: false,
        wosign: false,
        host: "",
    }
}

/// An authority with its key and certificate made.
#[derive(Debug)]
pub struct Ca {
    /// Its description.
    pub def: &'static CaDef,
    /// Subject Name, DER.
    pub name_der: Vec<u8>,
    /// subjectKeyIdentifier (first 20 bytes of the SPKI's SHA-256).
    pub key_id: [u8; 20],
    /// SHA-256 of the SPKI: a precert entry's issuer_key_hash.
    pub key_hash: [u8; 32],
    /// Its certificate, DER.
    pub cert: Vec<u8>,
    /// Index of its root in [`Authorities::all`] (itself for a root).
    pub root: usize,
    /// Active range, Unix seconds.
    pub from: i64,
    /// End of the active range, Unix seconds.
    pub to: i64,
    /// SHA-1 allowed for certificates with notBefore before this.
    pub sha1_until: i64,
}

/// All authorities of a dump.
#[derive(Debug)]
pub struct Authorities {
    /// In [`AUTHORITIES`] order.
    pub all: Vec<Ca>,
}

/// The extensions of a CA certificate: basic constraints (CA), key usage,
/// its key identifier and, below a root, its issuer's (`issuer_id`).
fn ca_extensions(key_id: &[u8; 20], issuer_id: Option<&[u8; 20]>) -> Vec<Vec<u8>> {
    let mut exts = vec![
        der::extension(
            ext_oid::BASIC_CONSTRAINTS,
            true,
            &der::basic_constraints(true),
        ),
        der::extension(ext_oid::KEY_USAGE, true, &der::key_usage(true, false)),
        der::extension(ext_oid::SKI, false, &der::subject_key_id(key_id)),
    ];
    if let Some(issuer_id) = issuer_id {
        exts.push(der::extension(
            ext_oid::AKI,
            false,
            &der::authority_key_id(issuer_id),
        ));
    }
    exts
}

impl Authorities {
    /// Makes every authority's key and certificate.
    pub fn make(rng: &mut impl Rng, keys: &KeyPool) -> Authorities {
        let mut all: Vec<Ca> = Vec::with_capacity(AUTHORITIES.len());
        for def in AUTHORITIES {
            let spki = keys.spki(def.key, rng);
            let key_hash: [u8; 32] = Sha256::digest(&spki).into();
            let mut key_id = [0u8; 20];
            key_id.copy_from_slice(&key_hash[..20]);
            let name_der = der::encode_name(def.dn);
            let root = match def.parent {
                None => all.len(),
                Some(p) => all
                    .iter()
                    .position(|c| c.def.id == p)
                    .expect("parents precede children in AUTHORITIES"),
            };
            let (issuer_name, issuer_key, issuer_id) = if def.parent.is_none() {
                (name_der.clone(), def.key, key_id)
            } else {
                let r = &all[root];
                (r.name_der.clone(), r.def.key, r.key_id)
            };
            let (not_before, not_after) = if def.parent.is_none() {
                (date("2006-11-01"), date("2038-01-01"))
            } else {
                (
                    date(def.active.0) - 400 * 86_400,
                    date(def.active.1) + 5 * 365 * 86_400,
                )
            };
            let mut serial = [0u8; 16];
            rng.fill(&mut serial);
            serial[0] = (serial[0] & 0x7f) | 0x10;
            let exts = ca_extensions(&key_id, def.parent.map(|_| &issuer_id));
            let sig_alg = issuer_key.sig_alg(false);
            let tbs = der::encode_tbs(&der::Tbs {
                serial: &serial,
                sig_alg,
                issuer: &issuer_name,
                not_before,
                not_after,
                subject: &name_der,
                spki: &spki,
                extensions: &exts,
            });
            let cert = der::encode_certificate(&tbs, sig_alg, &issuer_key.random_signature(rng));
            let sha1_until = def.sha1_until.map(date).unwrap_or(i64::MIN);
            let (from, to) = if def.parent.is_some() {
                (date(def.active.0), date(def.active.1).min(NOW))
            } else {
                (0, 0)
            };
            all.push(Ca {
                def,
                name_der,
                key_id,
                key_hash,
                cert,
                root,
                from,
                to,
                sha1_until,
            });
        }
        Authorities { all }
    }

    /// Indices of the issuing CAs active at `t` that satisfy `keep`.
    pub fn active(&self, t: i64, keep: impl Fn(&Ca) -> bool) -> Vec<usize> {
        (0..self.all.len())
            .filter(|&i| {
                let c = &self.all[i];
                c.def.parent.is_some() && c.from <= t && t <= c.to && keep(c)
            })
            .collect()
    }

    /// Picks an issuing CA active at `t` by weight among those `keep`
    /// accepts; GoDaddy (active throughout) when none is.
    pub fn pick(&self, rng: &mut impl Rng, t: i64, keep: impl Fn(&Ca) -> bool) -> usize {
        let candidates = self.active(t, keep);
        let total: u32 = candidates.iter().map(|&i| self.all[i].def.weight).sum();
        if total == 0 {
            return self
                .all
                .iter()
                .position(|c| c.def.id == "godaddy_g2")
                .expect("godaddy_g2 exists");
        }
        let mut x = rng.random_range(0..total);
        for &i in &candidates {
            let w = self.all[i].def.weight;
            if x < w {
                return i;
            }
            x -= w;
        }
        candidates[candidates.len() - 1]
    }
}
