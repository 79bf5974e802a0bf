//! Folders of certificates (no log): PEM files holding one or more
//! `CERTIFICATE` blocks, or DER files holding one certificate. Each becomes
//! an entry of the log named after the folder, numbered in file-name order
//! and then in order within a file.

use x509_parser::pem::Pem;

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
