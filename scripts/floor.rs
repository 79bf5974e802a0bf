//! The floor under `pipeline ingest`: what the primitives alone cost per
//! entry, single-threaded, on a dump's files. Run by `scripts/bench` beside
//! ingest on the same dump (`cargo bench --bench floor -- DIR...`).
//!
//! Each file is read whole from the page cache and taken through the work
//! every entry needs and nothing else: the manifest's BLAKE3 of the bytes
//! as stored, decompression (gzip, zstd), the JSON of a page or line (or a
//! tile's framing), base64, the RFC 6962 leaf framing, x509-parser on the
//! certificate with the extensions the table keeps, and the SHA-256s of the
//! certificate, its CT TBS, its key and each chain certificate (a chain
//! certificate seen before is looked up, not hashed again: the same few
//! intermediates come with every entry, and ingest does the same). No Arrow, no
//! Parquet, no strings built, no threads. Prints one JSON object: entries,
//! files, and microseconds per entry for each primitive and in all.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::PAD_INDIFFERENT;
use base64::engine::Simd;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use x509_parser::certificate::{TbsCertificate, TbsCertificateParser, X509CertificateParser};
use x509_parser::extensions::{
    AuthorityInfoAccess, BasicConstraints, CRLDistributionPoints, ExtendedKeyUsage,
    SubjectAlternativeName,
};
use x509_parser::nom::Parser as _;
use x509_parser::oid_registry::{
    OID_CT_LIST_SCT, OID_PKIX_AUTHORITY_INFO_ACCESS, OID_X509_EXT_BASIC_CONSTRAINTS,
    OID_X509_EXT_CRL_DISTRIBUTION_POINTS, OID_X509_EXT_EXTENDED_KEY_USAGE,
    OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::FromDer;

use pipeline::ct::leaf::{self, Chain, EntryKind, LogEntry};
use pipeline::x509::der;

/// The primitives, in the order an entry meets them.
const STAGES: [&str; 8] = [
    "blake3",
    "decompress",
    "json",
    "base64",
    "framing",
    "x509",
    "sha256",
    "read",
];

/// Time spent per stage, and what was counted.
#[derive(Default)]
struct Floor {
    spent: [Duration; STAGES.len()],
    entries: u64,
    files: u64,
    bytes: u64,
    /// Entries whose leaf or certificate did not decode (they cost what
    /// they cost; a count far from the dump's rejects means a wrong floor).
    failed: u64,
    /// Chain certificates hashed so far, by length and last 32 bytes.
    chain_digests: HashMap<ChainKey, (Vec<u8>, [u8; 32])>,
}

/// A chain certificate's length and last 32 bytes.
type ChainKey = (usize, [u8; 32]);

impl Floor {
    /// A chain certificate's SHA-256: looked up when the same bytes were
    /// hashed before, else computed.
    fn chain_digest(&mut self, cert: &[u8]) -> [u8; 32] {
        let mut tail = [0u8; 32];
        let n = cert.len().min(32);
        tail[..n].copy_from_slice(&cert[cert.len() - n..]);
        let key = (cert.len(), tail);
        if let Some((bytes, digest)) = self.chain_digests.get(&key) {
            if bytes == cert {
                return *digest;
            }
        }
        let digest: [u8; 32] = Sha256::digest(cert).into();
        self.chain_digests.insert(key, (cert.to_vec(), digest));
        digest
    }
}

impl Floor {
    /// Runs `f`, adding its time to `stage`.
    fn time<T>(&mut self, stage: usize, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.spent[stage] += started.elapsed();
        out
    }
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    entries: Vec<Line<'a>>,
}

/// An entry; a field may be missing (the dump's planted rejects).
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    leaf_input: Cow<'a, str>,
    #[serde(borrow, default)]
    extra_data: Cow<'a, str>,
}

static BASE64: std::sync::LazyLock<Simd> =
    std::sync::LazyLock::new(|| Simd::standard(PAD_INDIFFERENT));

fn main() {
    let roots: Vec<PathBuf> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--bench")
        .map(PathBuf::from)
        .collect();
    if roots.is_empty() {
        eprintln!("usage: cargo bench --bench floor -- DIR...  (a get-entries or tiles dump)");
        std::process::exit(2);
    }
    let mut files = Vec::new();
    for root in &roots {
        walk(root, &mut files);
    }
    files.sort();
    let mut floor = Floor::default();
    for path in &files {
        let Some(kind) = kind_of(path) else { continue };
        let raw = floor.time(7, || std::fs::read(path)).unwrap_or_else(|e| {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1);
        });
        floor.files += 1;
        floor.bytes += raw.len() as u64;
        floor.time(0, || black_box(blake3::hash(&raw)));
        let data = floor.time(1, || decompress(raw));
        match kind {
            Kind::Page => page(&mut floor, &data),
            Kind::Lines => lines(&mut floor, &data),
            Kind::Tile => tile(&mut floor, &data),
        }
    }
    let per_entry = |d: Duration| d.as_secs_f64() * 1e6 / floor.entries.max(1) as f64;
    let total: Duration = floor.spent.iter().sum();
    let mut us = serde_json::Map::new();
    for (name, spent) in STAGES.iter().zip(floor.spent) {
        us.insert((*name).into(), round(per_entry(spent)).into());
    }
    let out = serde_json::json!({
        "entries": floor.entries,
        "files": floor.files,
        "input_bytes": floor.bytes,
        "failed": floor.failed,
        "us_per_entry": round(per_entry(total)),
        "stage_us_per_entry": us,
    });
    println!("{out}");
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What a dump file holds.
#[derive(Clone, Copy)]
enum Kind {
    Page,
    Lines,
    Tile,
}

/// A get-entries page (`*.json`, `.gz`, `.zst`), JSON lines (`*.ndjson`,
/// `*.jsonl`) or a data tile (`tile/data/...`, full tiles only: partial
/// ones repeat entries of the full tile). Anything else is skipped.
fn kind_of(path: &Path) -> Option<Kind> {
    let text = path.to_string_lossy();
    if text.contains("/tile/data/") {
        return (!text.contains(".p/")).then_some(Kind::Tile);
    }
    let name = path.file_name()?.to_string_lossy();
    if name.contains(".ndjson") || name.contains(".jsonl") {
        Some(Kind::Lines)
    } else if name.contains(".json") && name.starts_with(|c: char| c.is_ascii_digit()) {
        Some(Kind::Page)
    } else {
        None
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        out.push(dir.to_path_buf());
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The file's content, decompressed; of a corrupt or cut-short file, what
/// decompressed before the damage.
fn decompress(raw: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() * 4);
    if raw.starts_with(&[0x1f, 0x8b]) {
        let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out);
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        if let Ok(mut decoder) = zstd::stream::read::Decoder::new(&raw[..]) {
            let _ = decoder.read_to_end(&mut out);
        }
    } else {
        return raw;
    }
    out
}

fn page(floor: &mut Floor, data: &[u8]) {
    let parsed = floor.time(2, || match serde_json::from_slice::<Page<'_>>(data) {
        Ok(page) => page.entries,
        Err(_) => elements(data),
    });
    entries(floor, &parsed);
}

/// The entries of a page that is not valid JSON as a whole (cut short, or
/// an element that is not an entry): one element at a time, up to the first
/// that does not parse.
fn elements(data: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let Some(mut pos) = memchr::memchr(b'[', data).map(|p| p + 1) else {
        return out;
    };
    loop {
        while data
            .get(pos)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b',')
        {
            pos += 1;
        }
        if data.get(pos).is_none_or(|b| *b == b']') {
            return out;
        }
        let mut stream = serde_json::Deserializer::from_slice(&data[pos..]).into_iter::<Line<'_>>();
        match stream.next() {
            Some(Ok(line)) => out.push(line),
            _ => return out,
        }
        pos += stream.byte_offset();
    }
}

fn lines(floor: &mut Floor, data: &[u8]) {
    let parsed: Vec<Line<'_>> = floor.time(2, || {
        data.split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    });
    entries(floor, &parsed);
}

/// base64, framing, x509 and hashes of get-entries entries, stage by stage.
fn entries(floor: &mut Floor, lines: &[Line<'_>]) {
    floor.entries += lines.len() as u64;
    let decoded: Vec<(Vec<u8>, Vec<u8>)> = floor.time(3, || {
        lines
            .iter()
            .map(|l| {
                let leaf = BASE64.decode(l.leaf_input.as_bytes()).unwrap_or_default();
                let extra = BASE64.decode(l.extra_data.as_bytes()).unwrap_or_default();
                (leaf, extra)
            })
            .collect()
    });
    let framed: Vec<Option<LogEntry<'_>>> = floor.time(4, || {
        decoded
            .iter()
            .map(|(leaf, extra)| leaf::decode(leaf, extra).ok())
            .collect()
    });
    certificates(floor, &framed);
}

fn tile(floor: &mut Floor, data: &[u8]) {
    let framed: Vec<Option<LogEntry<'_>>> = floor.time(4, || {
        let mut out = Vec::with_capacity(256);
        let mut rest = data;
        while !rest.is_empty() {
            match leaf::decode_tile_leaf(rest) {
                Ok((entry, used)) => {
                    out.push(Some(entry));
                    rest = &rest[used..];
                }
                Err(_) => {
                    out.push(None);
                    break;
                }
            }
        }
        out
    });
    floor.entries += framed.len() as u64;
    certificates(floor, &framed);
}

/// x509-parser and the SHA-256s of framed entries.
fn certificates(floor: &mut Floor, framed: &[Option<LogEntry<'_>>]) {
    let failed = floor.time(5, || {
        framed
            .iter()
            .filter(|e| !e.as_ref().is_some_and(|e| black_box(parse_certificate(e))))
            .count()
    });
    floor.failed += failed as u64;
    let started = Instant::now();
    for entry in framed.iter().flatten() {
        black_box(hash_entry(entry));
        if let Chain::Certs(chain) = &entry.chain {
            for c in chain {
                black_box(floor.chain_digest(c));
            }
        }
    }
    floor.spent[6] += started.elapsed();
}

/// Parses an entry's certificate (or precert TBS) and the extensions the
/// table keeps; whether it parsed.
fn parse_certificate(entry: &LogEntry<'_>) -> bool {
    match entry.kind {
        EntryKind::X509 { cert } => X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(cert)
            .map(|(_, x)| black_box(touch(&x.tbs_certificate)))
            .is_ok(),
        EntryKind::Precert { tbs, .. } => TbsCertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(tbs)
            .map(|(_, t)| black_box(touch(&t)))
            .is_ok(),
    }
}

/// Reads the fields `certs` keeps, so the parse cannot be skipped.
fn touch(tbs: &TbsCertificate<'_>) -> usize {
    let mut n = tbs.raw_serial().len()
        + tbs.subject.iter_common_name().count()
        + tbs.issuer.iter_organization().count()
        + tbs.validity.not_before.timestamp() as usize
        + tbs.subject_pki.subject_public_key.data.len();
    for ext in tbs.extensions() {
        let oid = &ext.oid;
        n += if *oid == OID_X509_EXT_SUBJECT_ALT_NAME {
            SubjectAlternativeName::from_der(ext.value).map_or(0, |(_, s)| s.general_names.len())
        } else if *oid == OID_X509_EXT_BASIC_CONSTRAINTS {
            BasicConstraints::from_der(ext.value).map_or(0, |(_, b)| usize::from(b.ca))
        } else if *oid == OID_X509_EXT_EXTENDED_KEY_USAGE {
            ExtendedKeyUsage::from_der(ext.value).map_or(0, |(_, e)| e.other.len())
        } else if *oid == OID_PKIX_AUTHORITY_INFO_ACCESS {
            AuthorityInfoAccess::from_der(ext.value).map_or(0, |(_, a)| a.accessdescs.len())
        } else if *oid == OID_X509_EXT_CRL_DISTRIBUTION_POINTS {
            CRLDistributionPoints::from_der(ext.value).map_or(0, |(_, p)| p.points.len())
        } else if *oid == OID_CT_LIST_SCT {
            pipeline::x509::cert_record::sct_list(ext.value).map_or(0, |s| s.len())
        } else {
            0
        };
    }
    n
}

/// The certificate's, its CT TBS's and its key's SHA-256.
fn hash_entry(entry: &LogEntry<'_>) -> u8 {
    let (cert, tbs) = match entry.kind {
        EntryKind::X509 { cert } => (cert, der::tbs_of_certificate(cert)),
        EntryKind::Precert {
            tbs,
            pre_certificate,
            ..
        } => (pre_certificate, der::read_tlv(tbs).map(|(t, _)| t)),
    };
    let mut acc = Sha256::digest(cert)[0];
    if let Some(tbs) = tbs {
        acc ^= der::ct_tbs_sha256(tbs).map_or(0, |h| h[0]);
        if let Some(spki) = spki_of_tbs(tbs) {
            acc ^= Sha256::digest(spki)[0];
        }
    }
    acc
}

/// The SubjectPublicKeyInfo of a TBSCertificate: its 7th field (6th
/// without the explicit version).
fn spki_of_tbs(tbs: der::Tlv<'_>) -> Option<&[u8]> {
    let mut rest = tbs.content;
    let mut fields = Vec::with_capacity(7);
    while fields.len() < 7 && !rest.is_empty() {
        let (f, r) = der::read_tlv(rest)?;
        fields.push(f);
        rest = r;
    }
    let skip = usize::from(fields.first()?.tag == 0xa0);
    fields.get(5 + skip).map(|f| f.raw)
}
