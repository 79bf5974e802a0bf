//! X.509 extraction: a framed [`LogEntry`] becomes an owned [`CertRecord`],
//! one row of the `certs` table.
//!
//! Real certificates are messy. A malformed extension, an undecodable name or
//! trailing bytes are recorded in `parse_error` and every other field is still
//! filled; a certificate that x509-parser rejects outright still gets a row
//! with its hashes and, where the DER framing allows, its serial.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::{Any, Tag};
use x509_parser::certificate::{TbsCertificate, TbsCertificateParser, X509CertificateParser};
use x509_parser::extensions::{
    parse_ct_signed_certificate_timestamp_list, AuthorityInfoAccess, BasicConstraints,
    CRLDistributionPoints, DistributionPointName, ExtendedKeyUsage, GeneralName,
    SubjectAlternativeName,
};
use x509_parser::nom::Parser as _;
use x509_parser::oid_registry::{
    OID_CT_LIST_SCT, OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP,
    OID_PKIX_AUTHORITY_INFO_ACCESS, OID_X509_EXT_BASIC_CONSTRAINTS,
    OID_X509_EXT_CERTIFICATE_POLICIES, OID_X509_EXT_CRL_DISTRIBUTION_POINTS,
    OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::{FromDer, X509Name};
use x509_parser::x509::AlgorithmIdentifier;

use crate::ct::leaf::{Chain, EntryKind, EntryType, LogEntry};
use crate::x509::der;
use crate::x509::oid_names::{
    self, CURVES, DN_ATTRIBUTES, EXTRA_EKUS, KEY_ALGORITHMS, SIGNATURE_ALGORITHMS,
};

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// One row of the `certs` table (without the `log` partition column).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertRecord {
    /// Index of the entry in its log.
    pub entry_index: i64,
    /// The entry's log timestamp, ms since the Unix epoch (UTC).
    pub entry_timestamp_ms: i64,
    /// `x509` or `precert`.
    pub entry_type: &'static str,
    /// SHA-256 of the certificate DER (of the pre_certificate for precert entries).
    pub cert_sha256: Sha256Digest,
    /// SHA-256 of the TBSCertificate without the CT poison and SCT-list extensions.
    pub tbs_sha256: Option<Sha256Digest>,
    /// X.509 version (1, 2 or 3).
    pub cert_version: Option<i32>,
    /// Lowercase hex of the serial's INTEGER content octets, as encoded.
    pub serial: Option<String>,
    /// Issuer distinguished name, attributes in certificate order.
    pub issuer_dn: Option<String>,
    /// First issuer commonName.
    pub issuer_cn: Option<String>,
    /// First issuer organizationName.
    pub issuer_org: Option<String>,
    /// Subject distinguished name, attributes in certificate order.
    pub subject_dn: Option<String>,
    /// First subject commonName.
    pub subject_cn: Option<String>,
    /// First subject organizationName.
    pub subject_org: Option<String>,
    /// Whether a subjectAltName extension is present.
    pub has_san: bool,
    /// SAN dNSNames, in certificate order.
    pub san_dns: Vec<String>,
    /// SAN iPAddresses, as text.
    pub san_ip: Vec<String>,
    /// Signature algorithm name (OpenSSL's), or the dotted OID when unknown.
    pub signature_algorithm: Option<Cow<'static, str>>,
    /// Signature algorithm OID, dotted.
    pub signature_oid: Option<Cow<'static, str>>,
    /// Key algorithm: RSA, EC, Ed25519, DSA, ...
    pub key_algorithm: Option<Cow<'static, str>>,
    /// Key size in bits (RSA modulus, DSA p, curve size).
    pub key_bits: Option<i32>,
    /// EC curve name (P-256, ...).
    pub key_curve: Option<Cow<'static, str>>,
    /// SHA-256 of the SubjectPublicKeyInfo DER.
    pub spki_sha256: Option<Sha256Digest>,
    /// notBefore, ms since the Unix epoch (UTC).
    pub not_before_ms: Option<i64>,
    /// notAfter, ms since the Unix epoch (UTC).
    pub not_after_ms: Option<i64>,
    /// basicConstraints cA (false when the extension is absent).
    pub is_ca: Option<bool>,
    /// certificatePolicies policy OIDs.
    pub policy_oids: Vec<String>,
    /// Extended key usages (names for the common ones, else dotted OIDs).
    pub eku: Vec<Cow<'static, str>>,
    /// authorityInfoAccess OCSP URIs, in certificate order.
    pub ocsp_urls: Vec<String>,
    /// authorityInfoAccess caIssuers URIs, in certificate order.
    pub ca_issuers_urls: Vec<String>,
    /// cRLDistributionPoints fullName URIs, in certificate order.
    pub crl_urls: Vec<String>,
    /// Embedded SCTs, in list order: (log id, timestamp ms).
    pub scts: Vec<(Sha256Digest, i64)>,
    /// issuer_key_hash of a precert entry.
    pub issuer_key_hash: Option<Sha256Digest>,
    /// SHA-256 of each extra_data chain certificate, issuer first.
    pub chain_sha256: Vec<Sha256Digest>,
    /// Everything that failed to parse, `; `-separated; `None` when all parsed.
    pub parse_error: Option<String>,
    /// Raw certificate DER, kept only with `--keep-der`.
    pub der: Option<Vec<u8>>,
}

/// Options for [`extract`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Keep the certificate DER in the `der` column.
    pub keep_der: bool,
}

fn sha256(data: &[u8]) -> Sha256Digest {
    Sha256::digest(data).into()
}

/// SHA-256 of chain certificates, remembered per thread: a log's entries
/// repeat the same few issuer certificates, so each is hashed once. Keyed by
/// length and last 32 bytes (signature bytes), confirmed by comparing the
/// whole certificate, so a key collision costs a hash, never a wrong digest.
struct ChainDigests {
    map: std::collections::HashMap<ChainKey, (Box<[u8]>, Sha256Digest)>,
}

/// A chain certificate's length and last 32 bytes.
type ChainKey = (usize, [u8; 32]);

impl ChainDigests {
    const MAX: usize = 4096;

    fn digest(&mut self, cert: &[u8]) -> Sha256Digest {
        if cert.len() < 64 {
            return sha256(cert);
        }
        let mut tail = [0u8; 32];
        tail.copy_from_slice(&cert[cert.len() - 32..]);
        let key = (cert.len(), tail);
        if let Some((bytes, digest)) = self.map.get(&key) {
            if **bytes == *cert {
                return *digest;
            }
        }
        if self.map.len() >= Self::MAX {
            self.map.clear();
        }
        let digest = sha256(cert);
        self.map.insert(key, (cert.into(), digest));
        digest
    }
}

thread_local! {
    static CHAIN_DIGESTS: std::cell::RefCell<ChainDigests> = std::cell::RefCell::new(ChainDigests {
        map: std::collections::HashMap::new(),
    });
}

fn chain_digests(chain: &[&[u8]]) -> Vec<Sha256Digest> {
    CHAIN_DIGESTS.with(|cache| {
        let mut cache = cache.borrow_mut();
        chain.iter().map(|c| cache.digest(c)).collect()
    })
}

/// Collects parse problems for `parse_error`.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }

    fn into_option(self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }
}

/// Extracts the `certs` row of one framed entry.
pub fn extract(entry_index: i64, entry: &LogEntry<'_>, opts: ExtractOptions) -> CertRecord {
    let mut rec = CertRecord {
        entry_index,
        entry_timestamp_ms: entry.timestamp_ms as i64,
        entry_type: entry.entry_type().as_str(),
        chain_sha256: match &entry.chain {
            Chain::Certs(certs) => chain_digests(certs),
            Chain::Fingerprints(fps) => fps.clone(),
        },
        ..CertRecord::default()
    };
    let mut problems = Problems::default();
    match entry.kind {
        EntryKind::X509 { cert } => {
            rec.cert_sha256 = sha256(cert);
            if opts.keep_der {
                rec.der = Some(cert.to_vec());
            }
            extract_certificate(cert, &mut rec, &mut problems);
        }
        EntryKind::Precert {
            issuer_key_hash,
            tbs,
            pre_certificate,
        } => {
            rec.cert_sha256 = sha256(pre_certificate);
            rec.issuer_key_hash = Some(issuer_key_hash);
            if opts.keep_der {
                rec.der = Some(pre_certificate.to_vec());
            }
            extract_precert_tbs(tbs, &mut rec, &mut problems);
        }
    }
    debug_assert!(matches!(rec.entry_type, "x509" | "precert"));
    debug_assert_eq!(
        rec.entry_type == EntryType::Precert.as_str(),
        rec.issuer_key_hash.is_some()
    );
    rec.parse_error = problems.into_option();
    rec
}

/// The row of a certificate that comes without a log entry (a file, a CSV
/// row): a precert entry when it carries the poison extension; no chain, no
/// issuer key hash; its notBefore as the entry time.
pub fn extract_unlogged(index: i64, der: &[u8], opts: ExtractOptions) -> CertRecord {
    let tbs = der::tbs_of_certificate(der);
    let kind = match tbs {
        Some(tbs) if der::has_poison(tbs) => EntryKind::Precert {
            issuer_key_hash: [0; 32],
            tbs: tbs.raw,
            pre_certificate: der,
        },
        _ => EntryKind::X509 { cert: der },
    };
    let entry = LogEntry {
        timestamp_ms: 0,
        kind,
        extensions: &[],
        chain: Chain::Certs(Vec::new()),
    };
    let mut rec = extract(index, &entry, opts);
    rec.issuer_key_hash = None;
    rec.entry_timestamp_ms = rec.not_before_ms.unwrap_or(0);
    rec
}

fn extract_certificate(cert: &[u8], rec: &mut CertRecord, problems: &mut Problems) {
    let tbs_tlv = der::tbs_of_certificate(cert);
    rec.tbs_sha256 = tbs_tlv.and_then(der::ct_tbs_sha256);
    match X509CertificateParser::new()
        .with_deep_parse_extensions(false)
        .parse(cert)
    {
        Ok((rest, x509)) => {
            if !rest.is_empty() {
                problems.add(format!("{} trailing bytes after certificate", rest.len()));
            }
            fill_tbs(&x509.tbs_certificate, rec, problems);
            set_signature(&x509.signature_algorithm, rec);
            if x509.signature_algorithm != x509.tbs_certificate.signature {
                problems.add("outer signatureAlgorithm differs from TBSCertificate signature");
            }
        }
        Err(e) => {
            problems.add(format!("certificate: {e}"));
            fill_fallback(tbs_tlv, rec);
        }
    }
}

fn extract_precert_tbs(tbs: &[u8], rec: &mut CertRecord, problems: &mut Problems) {
    let tbs_tlv = der::read_tlv(tbs).map(|(t, _)| t);
    rec.tbs_sha256 = tbs_tlv.and_then(der::ct_tbs_sha256);
    match TbsCertificateParser::new()
        .with_deep_parse_extensions(false)
        .parse(tbs)
    {
        Ok((rest, parsed)) => {
            if !rest.is_empty() {
                problems.add(format!(
                    "{} trailing bytes after tbs_certificate",
                    rest.len()
                ));
            }
            fill_tbs(&parsed, rec, problems);
            set_signature(&parsed.signature, rec);
        }
        Err(e) => {
            problems.add(format!("tbs_certificate: {e}"));
            fill_fallback(tbs_tlv, rec);
        }
    }
}

/// What can be read without x509-parser when it rejects the certificate.
fn fill_fallback(tbs: Option<der::Tlv<'_>>, rec: &mut CertRecord) {
    if let Some(serial) = tbs.and_then(der::serial_of_tbs) {
        rec.serial = Some(lower_hex(serial));
    }
}

fn set_signature(alg: &AlgorithmIdentifier<'_>, rec: &mut CertRecord) {
    let (name, dotted) = oid_names::name_and_dotted(SIGNATURE_ALGORITHMS, &alg.algorithm);
    rec.signature_algorithm = Some(name);
    rec.signature_oid = Some(dotted);
}

fn fill_tbs(tbs: &TbsCertificate<'_>, rec: &mut CertRecord, problems: &mut Problems) {
    rec.cert_version = Some(tbs.version.0 as i32 + 1);
    rec.serial = Some(lower_hex(tbs.raw_serial()));
    let issuer = describe_name(tbs.issuer(), "issuer", problems);
    rec.issuer_dn = Some(issuer.dn);
    rec.issuer_cn = issuer.cn;
    rec.issuer_org = issuer.org;
    let subject = describe_name(tbs.subject(), "subject", problems);
    rec.subject_dn = Some(subject.dn);
    rec.subject_cn = subject.cn;
    rec.subject_org = subject.org;
    rec.not_before_ms = Some(tbs.validity.not_before.timestamp() * 1000);
    rec.not_after_ms = Some(tbs.validity.not_after.timestamp() * 1000);
    fill_key(tbs, rec, problems);
    rec.is_ca = Some(false);
    fill_extensions(tbs, rec, problems);
}

fn fill_key(tbs: &TbsCertificate<'_>, rec: &mut CertRecord, problems: &mut Problems) {
    let spki = tbs.public_key();
    rec.spki_sha256 = Some(sha256(spki.raw));
    let alg = &spki.algorithm.algorithm;
    let known = oid_names::lookup(KEY_ALGORITHMS, alg);
    rec.key_algorithm = Some(known.map_or_else(
        || Cow::Owned(oid_names::oid_text(alg)),
        |k| Cow::Borrowed(k.name),
    ));
    if let Some(k) = known.filter(|k| k.bits > 0) {
        rec.key_bits = Some(k.bits as i32);
    }
    match known.map(|k| k.name) {
        Some("RSA") => {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let modulus = der::read_tlv(&spki.subject_public_key.data)
                .filter(|(seq, _)| seq.tag == 0x30)
                .and_then(|(seq, _)| der::Children::new(seq.content).next())
                .filter(|m| m.tag == 0x02);
            match modulus {
                Some(m) => rec.key_bits = Some(unsigned_bits(m.content)),
                None => problems.add("RSA public key: invalid encoding"),
            }
        }
        Some("EC") => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(c) => match oid_names::lookup(CURVES, &c) {
                    Some(named) => {
                        rec.key_curve = Some(Cow::Borrowed(named.name));
                        rec.key_bits = Some(named.bits as i32);
                    }
                    None => rec.key_curve = Some(Cow::Owned(oid_names::oid_text(&c))),
                },
                None => problems.add("EC public key: parameters are not a named curve"),
            }
        }
        Some("DSA") => {
            let p = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|params| der::Children::new(params.data).next());
            match p {
                Some(p) if p.tag == 0x02 => rec.key_bits = Some(unsigned_bits(p.content)),
                _ => problems.add("DSA public key: missing domain parameters"),
            }
        }
        _ => {}
    }
}

/// Bit length of an unsigned big-endian integer, ignoring leading zero bytes.
fn unsigned_bits(bytes: &[u8]) -> i32 {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (trimmed.len() as i32 - 1) * 8 + (8 - trimmed[0].leading_zeros() as i32)
}

/// Decodes the extensions the table keeps (subjectAltName, basicConstraints,
/// extendedKeyUsage, certificatePolicies, authorityInfoAccess,
/// cRLDistributionPoints, the embedded SCT list). The others are left
/// undecoded: their malformations are not `parse_error`s.
fn fill_extensions(tbs: &TbsCertificate<'_>, rec: &mut CertRecord, problems: &mut Problems) {
    let mut seen_san = false;
    for ext in tbs.extensions() {
        let failed = |problems: &mut Problems, error: &dyn std::fmt::Display| {
            problems.add(format!(
                "extension {}: {error}",
                oid_names::oid_text(&ext.oid)
            ));
        };
        let oid = &ext.oid;
        if *oid == OID_X509_EXT_SUBJECT_ALT_NAME {
            if seen_san {
                problems.add("duplicate subjectAltName extension");
            }
            seen_san = true;
            rec.has_san = true;
            match SubjectAlternativeName::from_der(ext.value) {
                Ok((_, san)) => {
                    for name in &san.general_names {
                        add_general_name(name, rec, problems);
                    }
                }
                Err(e) => failed(problems, &e),
            }
        } else if *oid == OID_X509_EXT_BASIC_CONSTRAINTS {
            match BasicConstraints::from_der(ext.value) {
                Ok((_, bc)) => rec.is_ca = Some(bc.ca),
                Err(e) => failed(problems, &e),
            }
        } else if *oid == OID_X509_EXT_EXTENDED_KEY_USAGE {
            match ExtendedKeyUsage::from_der(ext.value) {
                Ok((_, eku)) => add_ekus(&eku, rec),
                Err(e) => failed(problems, &e),
            }
        } else if *oid == OID_X509_EXT_CERTIFICATE_POLICIES {
            if !add_policies(ext.value, rec) {
                failed(problems, &"not a sequence of PolicyInformation");
            }
        } else if *oid == OID_PKIX_AUTHORITY_INFO_ACCESS {
            match AuthorityInfoAccess::from_der(ext.value) {
                Ok((_, aia)) => add_access_urls(&aia, rec, problems),
                Err(e) => failed(problems, &e),
            }
        } else if *oid == OID_X509_EXT_CRL_DISTRIBUTION_POINTS {
            match CRLDistributionPoints::from_der(ext.value) {
                Ok((_, points)) => add_crl_urls(&points, rec, problems),
                Err(e) => failed(problems, &e),
            }
        } else if *oid == OID_CT_LIST_SCT {
            match sct_list(ext.value) {
                Ok(scts) => rec.scts.extend(scts),
                Err(e) => failed(problems, &e),
            }
        }
    }
}

/// The (log ID, timestamp ms) of each SCT of an embedded SCT list
/// extension's value. A timestamp past the last instant a timestamp column
/// can show is clamped to it (documented in schemas/certs.md).
pub fn sct_list(value: &[u8]) -> Result<Vec<(Sha256Digest, i64)>, String> {
    let (_, scts) = parse_ct_signed_certificate_timestamp_list(value).map_err(|e| e.to_string())?;
    Ok(scts
        .iter()
        .map(|s| {
            let ms = s.timestamp.min(crate::ct::leaf::MAX_TIMESTAMP_MS);
            (*s.id.key_id, ms as i64)
        })
        .collect())
}

/// The OCSP and caIssuers URIs of an authorityInfoAccess value; other
/// access methods and non-URI locations are not kept.
fn add_access_urls(aia: &AuthorityInfoAccess<'_>, rec: &mut CertRecord, problems: &mut Problems) {
    for desc in &aia.accessdescs {
        let urls = if desc.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
            &mut rec.ocsp_urls
        } else if desc.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS {
            &mut rec.ca_issuers_urls
        } else {
            continue;
        };
        push_uri(&desc.access_location, urls, "authorityInfoAccess", problems);
    }
}

/// The fullName URIs of every distribution point of a cRLDistributionPoints
/// value; names relative to the CRL issuer and non-URI names are not kept.
fn add_crl_urls(points: &CRLDistributionPoints<'_>, rec: &mut CertRecord, problems: &mut Problems) {
    for point in &points.points {
        if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
            for name in names {
                push_uri(name, &mut rec.crl_urls, "cRLDistributionPoints", problems);
            }
        }
    }
}

/// Adds `name` to `urls` when it is a URI. A URI that is not valid IA5String
/// is kept as read (invalid UTF-8 replaced) and noted in `parse_error`.
fn push_uri(name: &GeneralName<'_>, urls: &mut Vec<String>, ext: &str, problems: &mut Problems) {
    match name {
        GeneralName::URI(uri) => urls.push((*uri).to_owned()),
        GeneralName::Invalid(tag, data) if *tag == Tag(6) => {
            problems.add(format!("{ext} URI is not valid IA5String"));
            urls.push(String::from_utf8_lossy(data).into_owned());
        }
        _ => {}
    }
}

fn add_ekus(eku: &ExtendedKeyUsage<'_>, rec: &mut CertRecord) {
    let flags = [
        (eku.any, "anyExtendedKeyUsage"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ];
    rec.eku
        .extend(flags.iter().filter(|f| f.0).map(|f| Cow::Borrowed(f.1)));
    rec.eku.extend(
        eku.other
            .iter()
            .map(|o| oid_names::name_or_dotted(EXTRA_EKUS, o)),
    );
}

/// Adds the policy OIDs of a certificatePolicies value (a SEQUENCE OF
/// PolicyInformation, each a SEQUENCE that starts with the policy OID; the
/// qualifiers are not read). False, adding nothing, when it is not one.
fn add_policies(value: &[u8], rec: &mut CertRecord) -> bool {
    let Some((seq, _)) = der::read_tlv(value).filter(|(t, _)| t.tag == 0x30) else {
        return false;
    };
    let mut infos = der::Children::new(seq.content);
    let mut oids = Vec::new();
    for info in infos.by_ref() {
        let oid = (info.tag == 0x30)
            .then(|| der::Children::new(info.content).next())
            .flatten()
            .filter(|o| o.tag == 0x06 && !o.content.is_empty());
        match oid {
            Some(oid) => oids.push(oid_names::oid_text_from_raw(oid.content)),
            None => return false,
        }
    }
    if !infos.complete() {
        return false;
    }
    rec.policy_oids.extend(oids);
    true
}

fn add_general_name(name: &GeneralName<'_>, rec: &mut CertRecord, problems: &mut Problems) {
    match name {
        GeneralName::DNSName(s) => rec.san_dns.push((*s).to_owned()),
        GeneralName::IPAddress(bytes) => match ip_to_string(bytes) {
            Some(ip) if matches!(bytes.len(), 4 | 16) => rec.san_ip.push(ip),
            Some(ip) => {
                problems.add(format!("SAN iPAddress of {} bytes", bytes.len()));
                rec.san_ip.push(ip);
            }
            None => {
                problems.add(format!("SAN iPAddress of {} bytes", bytes.len()));
                rec.san_ip.push(hex::encode(bytes));
            }
        },
        GeneralName::Invalid(tag, data) => {
            if *tag == Tag(2) {
                problems.add("SAN dNSName is not valid IA5String");
                rec.san_dns.push(String::from_utf8_lossy(data).into_owned());
            } else {
                problems.add(format!("invalid SAN entry with tag [{}]", tag.0));
            }
        }
        _ => {}
    }
}

/// An iPAddress as text. 8 and 32 bytes (address and mask, valid only in
/// name constraints) show as `address/prefix` when the mask is contiguous.
fn ip_to_string(bytes: &[u8]) -> Option<String> {
    let prefix = |mask: &[u8]| {
        let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
        let contiguous = mask
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1))
            .skip_while(|&bit| bit == 1)
            .all(|bit| bit == 0);
        contiguous.then_some(ones)
    };
    match bytes.len() {
        4 => Some(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        8 => Some(format!(
            "{}/{}",
            Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[..4]).ok()?),
            prefix(&bytes[4..])?
        )),
        32 => Some(format!(
            "{}/{}",
            Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..16]).ok()?),
            prefix(&bytes[16..])?
        )),
        _ => None,
    }
}

/// `bytes` as lowercase hex.
fn lower_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    push_hex(&mut s, bytes);
    s
}

/// Appends `bytes` to `out` as lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// The text forms of a distinguished name.
struct NameText {
    dn: String,
    cn: Option<String>,
    org: Option<String>,
}

/// Formats a name as `C=US, O=Example, CN=example.com` (certificate order,
/// multi-valued RDNs joined by ` + `), decoding every directory string type.
fn describe_name(name: &X509Name<'_>, which: &str, problems: &mut Problems) -> NameText {
    let mut out = NameText {
        // The text is about as long as the DER (its tags and lengths become
        // attribute names and separators), so one allocation mostly does.
        dn: String::with_capacity(name.as_raw().len()),
        cn: None,
        org: None,
    };
    for (i, rdn) in name.iter().enumerate() {
        if i > 0 {
            out.dn.push_str(", ");
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.dn.push_str(" + ");
            }
            let known = oid_names::lookup(DN_ATTRIBUTES, attr.attr_type());
            match known {
                Some(k) => out.dn.push_str(k.name),
                None => out.dn.push_str(&oid_names::oid_text(attr.attr_type())),
            }
            out.dn.push('=');
            let (value, lossy) = directory_string(attr.attr_value());
            if lossy {
                let label = known.map_or("attribute", |k| k.name);
                problems.add(format!("{which} {label}: invalid string encoding"));
            }
            out.dn.push_str(&value);
            match known.map(|k| k.name) {
                Some("CN") if out.cn.is_none() => out.cn = Some(value.into_owned()),
                Some("O") if out.org.is_none() => out.org = Some(value.into_owned()),
                _ => {}
            }
        }
    }
    out
}

/// Decodes an attribute value to text (borrowed when the bytes already are
/// UTF-8); the flag is true when bytes were lost.
fn directory_string<'a>(value: &Any<'a>) -> (Cow<'a, str>, bool) {
    let data = value.data;
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => match std::str::from_utf8(data) {
            Ok(s) => (Cow::Borrowed(s), false),
            Err(_) => (String::from_utf8_lossy(data), true),
        },
        // T.61 in practice holds Latin-1.
        Tag::TeletexString => (data.iter().map(|&b| char::from(b)).collect(), false),
        Tag::BmpString => {
            let units = data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            let mut lossy = !data.len().is_multiple_of(2);
            let s = char::decode_utf16(units)
                .map(|r| {
                    r.unwrap_or_else(|_| {
                        lossy = true;
                        char::REPLACEMENT_CHARACTER
                    })
                })
                .collect();
            (s, lossy)
        }
        Tag::UniversalString => {
            let mut lossy = !data.len().is_multiple_of(4);
            let s = data
                .chunks_exact(4)
                .map(|c| {
                    char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap_or_else(
                        || {
                            lossy = true;
                            char::REPLACEMENT_CHARACTER
                        },
                    )
                })
                .collect();
            (s, lossy)
        }
        _ => {
            let mut s = String::with_capacity(1 + 2 * data.len());
            s.push('#');
            push_hex(&mut s, data);
            (Cow::Owned(s), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_ignore_leading_zeros() {
        assert_eq!(unsigned_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(unsigned_bits(&[0x01]), 1);
        assert_eq!(unsigned_bits(&[0x00]), 0);
        assert_eq!(unsigned_bits(&[0x7f, 0xff]), 15);
    }

    #[test]
    fn ip_text_forms() {
        assert_eq!(ip_to_string(&[10, 0, 0, 1]).as_deref(), Some("10.0.0.1"));
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip_to_string(&v6).as_deref(), Some("::1"));
        assert_eq!(ip_to_string(&[1, 2, 3]), None);
        assert_eq!(
            ip_to_string(&[10, 0, 0, 0, 255, 255, 255, 0]).as_deref(),
            Some("10.0.0.0/24")
        );
        assert_eq!(ip_to_string(&[10, 0, 0, 0, 255, 0, 255, 0]), None);
    }

    #[test]
    fn directory_strings_decode() {
        let bmp = Any::from_tag_and_data(Tag::BmpString, &[0x6c, 0x83, 0x90, 0x1a]);
        assert_eq!(directory_string(&bmp), (Cow::from("沃通"), false));
        let t61 = Any::from_tag_and_data(Tag::TeletexString, &[0x4d, 0xfc]);
        assert_eq!(directory_string(&t61), (Cow::from("Mü"), false));
        let bad = Any::from_tag_and_data(Tag::Utf8String, &[0x41, 0xff]);
        assert_eq!(directory_string(&bad), (Cow::from("A\u{fffd}"), true));
        let other = Any::from_tag_and_data(Tag::OctetString, &[0xab]);
        assert_eq!(directory_string(&other), (Cow::from("#ab"), false));
    }

    #[test]
    fn policies_are_read_without_their_qualifiers() {
        // SEQUENCE { SEQUENCE { 2.23.140.1.2.1 }, SEQUENCE { 1.3.6.1.4.1.44947.1.1.1,
        //   SEQUENCE { SEQUENCE { 1.3.6.1.5.5.7.2.1, IA5String "x" } } } }
        let dv = [0x06, 0x06, 0x67, 0x81, 0x0c, 0x01, 0x02, 0x01];
        let le = [
            0x06, 0x0b, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdf, 0x13, 0x01, 0x01, 0x01,
        ];
        let qualifier = [
            0x30, 0x0f, 0x30, 0x0d, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x02, 0x01,
            0x16, 0x01, b'x',
        ];
        let info = |parts: &[&[u8]]| {
            let body: Vec<u8> = parts.concat();
            [&[0x30, body.len() as u8][..], &body].concat()
        };
        let list = |infos: &[Vec<u8>]| {
            let body: Vec<u8> = infos.concat();
            [&[0x30, body.len() as u8][..], &body].concat()
        };
        let mut rec = CertRecord::default();
        let value = list(&[info(&[&dv]), info(&[&le, &qualifier])]);
        assert!(add_policies(&value, &mut rec));
        assert_eq!(
            rec.policy_oids,
            ["2.23.140.1.2.1", "1.3.6.1.4.1.44947.1.1.1"]
        );

        let mut rec = CertRecord::default();
        // A PolicyInformation that does not start with an OID, a cut-off list,
        // and a value that is not a SEQUENCE: nothing is added.
        assert!(!add_policies(&list(&[info(&[&qualifier])]), &mut rec));
        assert!(!add_policies(&value[..value.len() - 3], &mut rec));
        assert!(!add_policies(&dv, &mut rec));
        assert!(rec.policy_oids.is_empty());
    }

    #[test]
    fn chain_digests_are_exact_even_when_keys_collide() {
        let a = vec![7u8; 300];
        let mut b = a.clone();
        b[10] = 8; // same length and last 32 bytes: same cache key
        let short = [1u8, 2, 3];
        let expect = |c: &[u8]| -> Sha256Digest { Sha256::digest(c).into() };
        for _ in 0..3 {
            let got = chain_digests(&[&a, &b, &short, &a]);
            assert_eq!(
                got,
                vec![expect(&a), expect(&b), expect(&short), expect(&a)]
            );
        }
    }
}
