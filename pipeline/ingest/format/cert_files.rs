//! Folders of certificates (no log): PEM files holding one or more
//! `CERTIFICATE` blocks, or DER files holding one certificate. Each becomes
//! an entry of the log named after the folder, numbered in file-name order
//! and then in order within a file.

use x509_parser::pem::Pem;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::ingest::decode::{decode_each, index_at, ChunkOutput, Outcome};
use crate::ingest::reject::{Position, RejectKind, RejectRecord};
use crate::ingest::{Chunk, InputFile, Layout};
use crate::x509::cert_record::{self, ExtractOptions};

/// The largest DER certificate file read (a certificate is kilobytes; a
/// file past this is not one, and is an `io` reject).
pub const MAX_DER_BYTES: usize = 16 << 20;

/// How far into a certificate file to look for a PEM block.
pub const PEM_SNIFF_BYTES: usize = 1 << 20;

/// File names taken as certificate files.
const CERT_SUFFIXES: &[&str] = &[".pem", ".crt", ".cer", ".der"];

/// Whether a file name (without `.gz`/`.zst`) is a certificate file's.
pub fn is_cert_name(base: &str) -> bool {
    let lower = base.to_ascii_lowercase();
    CERT_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// PEM labels of certificates.
const CERT_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];

/// The certificates of a file, in order: each the DER bytes, or why a block
/// could not be read. PEM if the file has a `-----BEGIN ` line (blocks of
/// other kinds, such as keys, are not entries), else one DER certificate.
pub fn cert_blobs(data: &[u8]) -> Vec<Result<Vec<u8>, String>> {
    if !is_pem(data) {
        return if data.is_empty() {
            Vec::new()
        } else {
            vec![Ok(data.to_vec())]
        };
    }
    pem_blobs(data)
}

/// Whether `data` holds a PEM block (a `-----BEGIN ` line).
pub fn is_pem(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"-----BEGIN ").is_some()
}

/// The certificate blocks of PEM text (a piece of a file cut after an
/// `-----END ` line gives the same blocks as the whole).
pub fn pem_blobs(data: &[u8]) -> Vec<Result<Vec<u8>, String>> {
    // RFC 1421 header lines ("Proc-Type: ...") inside a block are not
    // base64; the PEM reader would take them as such. No base64 line holds ':'.
    let mut cleaned = Vec::with_capacity(data.len());
    for line in data.split_inclusive(|&b| b == b'\n') {
        if !line.contains(&b':') {
            cleaned.extend_from_slice(line);
        }
    }
    Pem::iter_from_buffer(&cleaned)
        .filter_map(|block| match block {
            Ok(pem) if CERT_LABELS.contains(&pem.label.as_str()) => Some(Ok(pem.contents)),
            Ok(_) => None,
            Err(e) => Some(Err(format!("PEM block could not be read: {e}"))),
        })
        .collect()
}

/// Decodes a file of certificates (PEM or DER, no log): entry i is the
/// file's i-th certificate at index `start + i`, a precert entry when it
/// carries the poison extension. With no log timestamp, `entry_timestamp`
/// is the certificate's notBefore (so no timing rule reads a gap into it).
pub(crate) fn decode_certs(
    file: Arc<InputFile>,
    data: &[u8],
    first_ordinal: u64,
    pem: bool,
    read_error: Option<String>,
    opts: ExtractOptions,
) -> ChunkOutput {
    let blobs = if pem {
        pem_blobs(data)
    } else {
        cert_blobs(data)
    };
    let start = file.start_index.unwrap_or(0);
    let reject = |ordinal: u64, kind: RejectKind, reason: String| RejectRecord {
        entry_index: index_at(start, ordinal).ok(),
        source_file: file.name.clone(),
        position: Position::Entry { ordinal },
        kind,
        reason,
    };
    let mut out = decode_each(file.clone(), &blobs, opts, |_: &mut (), i, blob| {
        let ordinal = first_ordinal + i as u64;
        let der = match blob {
            Ok(der) if !der.is_empty() => der,
            Ok(_) => {
                return Outcome::Reject(reject(
                    ordinal,
                    RejectKind::Framing,
                    "empty certificate".into(),
                ))
            }
            Err(e) => return Outcome::Reject(reject(ordinal, RejectKind::Base64, e.clone())),
        };
        match index_at(start, ordinal) {
            Ok(index) => Outcome::Cert(cert_record::extract_unlogged(index, der, opts)),
            Err(why) => Outcome::Reject(reject(ordinal, RejectKind::Index, why)),
        }
    });
    let n = first_ordinal + blobs.len() as u64;
    if let Some(why) = read_error {
        out.rejects.push(reject(
            n,
            RejectKind::Io,
            format!("{why}; certificates from ordinal {n} on could not be read"),
        ));
    }
    out
}

/// How many certificate entries a certificate file holds, read as the
/// ingest reads it (PEM in chunks; a DER file is one), in bounded memory.
pub fn count_certificates(path: &Path) -> u64 {
    let Ok(mut reader) = crate::ingest::compression::open(path, Arc::new(AtomicU64::new(0))) else {
        return 0;
    };
    let mut head = Vec::new();
    if crate::ingest::compression::read_up_to(&mut reader, &mut head, PEM_SNIFF_BYTES).is_err() {
        return 0;
    }
    if !is_pem(&head) {
        return u64::from(!head.is_empty());
    }
    let file = Arc::new(InputFile::detached(path, Layout::Certs));
    let digest = crate::ingest::compression::FileDigest::default();
    let mut stream = crate::ingest::streams::RecordStream::new(
        file,
        digest,
        reader,
        crate::ingest::streams::Records::Pem,
        head,
    );
    let mut pending = VecDeque::new();
    let mut count = 0u64;
    loop {
        let done = stream.read_next(&mut pending);
        for chunk in pending.drain(..) {
            if let Chunk::Certs { data, .. } = chunk {
                count += pem_blobs(&data).len() as u64;
                crate::ingest::buffers::give(data);
            }
        }
        if done {
            return count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_der_files_and_other_blocks() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n\
-----BEGIN PRIVATE KEY-----\nBAUG\n-----END PRIVATE KEY-----\n\
-----BEGIN CERTIFICATE-----\nProc-Type: 4,CRL\nBwgJ\n-----END CERTIFICATE-----\n\
-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let blobs = cert_blobs(pem);
        assert_eq!(blobs.len(), 3);
        assert_eq!(blobs[0], Ok(vec![1, 2, 3]));
        assert_eq!(blobs[1], Ok(vec![7, 8, 9]));
        assert!(blobs[2].is_err());
        assert_eq!(
            cert_blobs(&[0x30, 0x03, 1, 2, 3]),
            vec![Ok(vec![0x30, 3, 1, 2, 3])]
        );
        assert!(cert_blobs(b"").is_empty());
        assert!(is_cert_name("a.PEM") && is_cert_name("x.der") && !is_cert_name("x.json"));
    }
}
