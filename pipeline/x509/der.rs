//! A minimal DER walker for the few things x509-parser does not give us:
//! the CT-normalised TBSCertificate hash (`tbs_sha256`), and the serial and
//! TBS of certificates that x509-parser rejects outright.
//!
//! It only splits tag-length-value elements; it never interprets content
//! beyond what these functions need, and every length is bounds-checked.

use sha2::{Digest, Sha256};

/// OID content octets of the CT precertificate poison, 1.3.6.1.4.1.11129.2.4.3.
const POISON_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];
/// OID content octets of the embedded SCT list, 1.3.6.1.4.1.11129.2.4.2.
const SCT_LIST_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

const TAG_INTEGER: u8 = 0x02;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_EXTENSIONS: u8 = 0xa3;

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The first tag byte (class, constructed bit and low tag number).
    pub tag: u8,
    /// The content octets.
    pub content: &'a [u8],
    /// The whole element: header and content.
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and the rest.
/// Returns `None` for truncated input, indefinite lengths, or lengths over 4 bytes.
pub fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    let mut pos = 1;
    if tag & 0x1f == 0x1f {
        // High tag number form: continuation bytes with the top bit set.
        loop {
            let b = *input.get(pos)?;
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos > 6 {
                return None;
            }
        }
    }
    let first = *input.get(pos)?;
    pos += 1;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(pos..pos + n)?;
        pos += n;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let end = pos.checked_add(len)?;
    let content = input.get(pos..end)?;
    Some((
        Tlv {
            tag,
            content,
            raw: &input[..end],
        },
        &input[end..],
    ))
}

/// Iterates the elements inside a constructed element's content.
/// Stops at the first malformed element; [`Children::complete`] tells whether all content was read.
pub struct Children<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Children<'a> {
    /// Iterates the elements of `content`.
    pub fn new(content: &'a [u8]) -> Self {
        Children {
            rest: content,
            failed: false,
        }
    }

    /// True when every byte was consumed by well-formed elements.
    pub fn complete(&self) -> bool {
        !self.failed && self.rest.is_empty()
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match read_tlv(self.rest) {
            Some((tlv, rest)) => {
                self.rest = rest;
                Some(tlv)
            }
            None => {
                self.failed = true;
                None
            }
        }
    }
}

/// The TBSCertificate element of a Certificate. Only the TBS itself must be
/// whole: a certificate cut short after it (or with a wrong outer length)
/// still yields its TBS.
pub fn tbs_of_certificate(cert: &[u8]) -> Option<Tlv<'_>> {
    if *cert.first()? != TAG_SEQUENCE {
        return None;
    }
    let first = *cert.get(1)?;
    let header = if first < 0x80 {
        2
    } else {
        2 + usize::from(first & 0x7f)
    };
    let (tbs, _) = read_tlv(cert.get(header..)?)?;
    (tbs.tag == TAG_SEQUENCE).then_some(tbs)
}

/// The serial number's content octets, read from a TBSCertificate.
pub fn serial_of_tbs(tbs: Tlv<'_>) -> Option<&[u8]> {
    let mut fields = Children::new(tbs.content);
    let mut field = fields.next()?;
    if field.tag == 0xa0 {
        field = fields.next()?;
    }
    (field.tag == TAG_INTEGER).then_some(field.content)
}

fn der_length(len: usize, out: &mut [u8; 5]) -> &[u8] {
    if len < 0x80 {
        out[0] = len as u8;
        return &out[..1];
    }
    let bytes = (len as u32).to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let n = 4 - skip;
    out[0] = 0x80 | n as u8;
    out[1..=n].copy_from_slice(&bytes[skip..]);
    &out[..=n]
}

fn hash_header(h: &mut Sha256, tag: u8, len: usize) {
    let mut buf = [0u8; 5];
    h.update([tag]);
    h.update(der_length(len, &mut buf));
}

fn header_len(len: usize) -> usize {
    let mut buf = [0u8; 5];
    1 + der_length(len, &mut buf).len()
}

fn is_ct_extension(ext: &Tlv<'_>) -> bool {
    match read_tlv(ext.content) {
        Some((oid, _)) if oid.tag == TAG_OID => {
            oid.content == POISON_OID || oid.content == SCT_LIST_OID
        }
        _ => false,
    }
}

/// Whether a TBSCertificate carries the CT precertificate poison extension.
pub fn has_poison(tbs: Tlv<'_>) -> bool {
    let Some(ext_field) = Children::new(tbs.content).find(|f| f.tag == TAG_EXTENSIONS) else {
        return false;
    };
    let Some((ext_seq, _)) = read_tlv(ext_field.content) else {
        return false;
    };
    Children::new(ext_seq.content).any(|ext| {
        matches!(read_tlv(ext.content), Some((oid, _)) if oid.tag == TAG_OID && oid.content == POISON_OID)
    })
}

/// SHA-256 of a TBSCertificate with the CT poison and SCT-list extensions
/// removed (RFC 6962 §3.2), so a precertificate and its final certificate hash
/// alike. `None` when the TBS is not well-formed DER.
pub fn ct_tbs_sha256(tbs: Tlv<'_>) -> Option<[u8; 32]> {
    if tbs.tag != TAG_SEQUENCE {
        return None;
    }
    // The fields and extensions are walked again rather than collected:
    // reading a header costs less than allocating.
    let mut fields = Children::new(tbs.content);
    let ext_field = fields
        .by_ref()
        .enumerate()
        .find(|(_, f)| f.tag == TAG_EXTENSIONS);
    // The rest must be well-formed too.
    fields.by_ref().for_each(drop);
    if !fields.complete() {
        return None;
    }
    let Some((ext_pos, ext_field)) = ext_field else {
        return Some(Sha256::digest(tbs.raw).into());
    };
    let (ext_seq, _) = read_tlv(ext_field.content)?;
    if ext_seq.tag != TAG_SEQUENCE {
        return None;
    }
    let extensions = || Children::new(ext_seq.content);
    let (mut kept, mut ct) = (0usize, false);
    let mut exts = extensions();
    for e in exts.by_ref() {
        if is_ct_extension(&e) {
            ct = true;
        } else {
            kept += e.raw.len();
        }
    }
    if !exts.complete() {
        return None;
    }
    if !ct {
        return Some(Sha256::digest(tbs.raw).into());
    }
    let seq_len = header_len(kept) + kept;
    let a3_len = if kept == 0 {
        0
    } else {
        header_len(seq_len) + seq_len
    };
    let body_len = tbs.content.len() - ext_field.raw.len() + a3_len;

    let mut h = Sha256::new();
    hash_header(&mut h, TAG_SEQUENCE, body_len);
    for (i, field) in Children::new(tbs.content).enumerate() {
        if i != ext_pos {
            h.update(field.raw);
        } else if kept > 0 {
            hash_header(&mut h, TAG_EXTENSIONS, seq_len);
            hash_header(&mut h, TAG_SEQUENCE, kept);
            for e in extensions().filter(|e| !is_ct_extension(e)) {
                h.update(e.raw);
            }
        }
    }
    Some(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 5];
        let mut v = vec![tag];
        v.extend_from_slice(der_length(content.len(), &mut buf));
        v.extend_from_slice(content);
        v
    }

    fn ext(oid: &[u8], value: &[u8]) -> Vec<u8> {
        let mut c = tlv(TAG_OID, oid);
        c.extend(tlv(0x04, value));
        tlv(TAG_SEQUENCE, &c)
    }

    fn tbs_with(exts: &[Vec<u8>]) -> Vec<u8> {
        let mut body = tlv(0xa0, &tlv(TAG_INTEGER, &[2]));
        body.extend(tlv(TAG_INTEGER, &[0x01, 0x02]));
        if !exts.is_empty() {
            let seq = tlv(TAG_SEQUENCE, &exts.concat());
            body.extend(tlv(TAG_EXTENSIONS, &seq));
        }
        tlv(TAG_SEQUENCE, &body)
    }

    #[test]
    fn long_lengths_round_trip() {
        for len in [0usize, 127, 128, 255, 256, 65535, 65536, 1 << 20] {
            let content = vec![7u8; len];
            let enc = tlv(0x04, &content);
            let (t, rest) = read_tlv(&enc).unwrap();
            assert_eq!(t.content.len(), len);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn truncated_and_indefinite_are_none() {
        assert!(read_tlv(&[0x30]).is_none());
        assert!(read_tlv(&[0x30, 0x05, 1, 2]).is_none());
        assert!(read_tlv(&[0x30, 0x80, 0, 0]).is_none());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }

    #[test]
    fn precert_and_final_tbs_hash_alike() {
        let san = ext(&[0x55, 0x1d, 0x11], b"san");
        let precert = tbs_with(&[san.clone(), ext(POISON_OID, &[0x05, 0x00])]);
        let final_cert = tbs_with(&[ext(SCT_LIST_OID, b"scts"), san.clone()]);
        let plain = tbs_with(&[san]);
        let h = |b: &[u8]| ct_tbs_sha256(read_tlv(b).unwrap().0).unwrap();
        assert_eq!(h(&precert), h(&plain));
        assert_eq!(h(&final_cert), h(&plain));
        assert!(has_poison(read_tlv(&precert).unwrap().0));
        assert!(!has_poison(read_tlv(&final_cert).unwrap().0));
        assert!(!has_poison(read_tlv(&plain).unwrap().0));
        let plain_digest: [u8; 32] = Sha256::digest(&plain).into();
        assert_eq!(h(&plain), plain_digest);
    }

    #[test]
    fn removing_the_only_extension_drops_the_field() {
        let only_poison = tbs_with(&[ext(POISON_OID, &[0x05, 0x00])]);
        assert!(has_poison(read_tlv(&only_poison).unwrap().0));
        let none = tbs_with(&[]);
        let got = ct_tbs_sha256(read_tlv(&only_poison).unwrap().0).unwrap();
        let want: [u8; 32] = Sha256::digest(&none).into();
        assert_eq!(got, want);
    }

    #[test]
    fn serial_found_with_and_without_version() {
        let tbs = tbs_with(&[]);
        assert_eq!(
            serial_of_tbs(read_tlv(&tbs).unwrap().0),
            Some(&[1u8, 2][..])
        );
        let v1 = tlv(TAG_SEQUENCE, &tlv(TAG_INTEGER, &[0xff]));
        assert_eq!(serial_of_tbs(read_tlv(&v1).unwrap().0), Some(&[0xffu8][..]));
    }
}
