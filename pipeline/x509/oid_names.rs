//! Names for the object identifiers the `certs` table shows as text:
//! signature algorithms (OpenSSL's names), key algorithms, EC curves,
//! extended key usages and distinguished-name attributes.
//!
//! Look-ups compare the OID's encoded bytes, so they do not allocate.

use std::borrow::Cow;

use x509_parser::asn1_rs::{oid, Oid};

/// One named OID.
#[derive(Debug, Clone, Copy)]
pub struct OidName {
    /// Content octets of the encoded OID.
    pub raw: &'static [u8],
    /// Dotted-decimal form.
    pub dotted: &'static str,
    /// The name shown in the dataset.
    pub name: &'static str,
    /// A size in bits where the name implies one (EC curves), else 0.
    pub bits: u32,
}

macro_rules! named {
    ($dotted:literal, $name:literal, $bits:literal, $($arc:literal).*) => {
        OidName { raw: &oid!(raw $($arc).*), dotted: $dotted, name: $name, bits: $bits }
    };
}

/// Signature algorithms, with the names `openssl x509 -text` prints.
pub const SIGNATURE_ALGORITHMS: &[OidName] = &[
    named!(
        "1.2.840.113549.1.1.2",
        "md2WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .2
    ),
    named!(
        "1.2.840.113549.1.1.3",
        "md4WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .3
    ),
    named!(
        "1.2.840.113549.1.1.4",
        "md5WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .4
    ),
    named!(
        "1.2.840.113549.1.1.5",
        "sha1WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .5
    ),
    named!(
        "1.2.840.113549.1.1.10",
        "rsassaPss",
        0,
        1.2.840 .113549 .1 .1 .10
    ),
    named!(
        "1.2.840.113549.1.1.11",
        "sha256WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .11
    ),
    named!(
        "1.2.840.113549.1.1.12",
        "sha384WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .12
    ),
    named!(
        "1.2.840.113549.1.1.13",
        "sha512WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .13
    ),
    named!(
        "1.2.840.113549.1.1.14",
        "sha224WithRSAEncryption",
        0,
        1.2.840 .113549 .1 .1 .14
    ),
    named!(
        "1.2.840.113549.1.1.1",
        "rsaEncryption",
        0,
        1.2.840 .113549 .1 .1 .1
    ),
    named!("1.3.14.3.2.29", "sha1WithRSA", 0, 1.3.14 .3 .2 .29),
    named!("1.2.840.10040.4.3", "dsaWithSHA1", 0, 1.2.840 .10040 .4 .3),
    named!(
        "2.16.840.1.101.3.4.3.1",
        "dsa_with_SHA224",
        0,
        2.16.840 .1 .101 .3 .4 .3 .1
    ),
    named!(
        "2.16.840.1.101.3.4.3.2",
        "dsa_with_SHA256",
        0,
        2.16.840 .1 .101 .3 .4 .3 .2
    ),
    named!(
        "1.2.840.10045.4.1",
        "ecdsa-with-SHA1",
        0,
        1.2.840 .10045 .4 .1
    ),
    named!(
        "1.2.840.10045.4.3.1",
        "ecdsa-with-SHA224",
        0,
        1.2.840 .10045 .4 .3 .1
    ),
    named!(
        "1.2.840.10045.4.3.2",
        "ecdsa-with-SHA256",
        0,
        1.2.840 .10045 .4 .3 .2
    ),
    named!(
        "1.2.840.10045.4.3.3",
        "ecdsa-with-SHA384",
        0,
        1.2.840 .10045 .4 .3 .3
    ),
    named!(
        "1.2.840.10045.4.3.4",
        "ecdsa-with-SHA512",
        0,
        1.2.840 .10045 .4 .3 .4
    ),
    named!("1.3.101.112", "ED25519", 0, 1.3.101 .112),
    named!("1.3.101.113", "ED448", 0, 1.3.101 .113),
    named!(
        "1.2.156.10197.1.501",
        "SM2-with-SM3",
        0,
        1.2.156 .10197 .1 .501
    ),
];

/// Public key algorithms of the SubjectPublicKeyInfo.
pub const KEY_ALGORITHMS: &[OidName] = &[
    named!("1.2.840.113549.1.1.1", "RSA", 0, 1.2.840 .113549 .1 .1 .1),
    named!("1.2.840.113549.1.1.10", "RSA", 0, 1.2.840 .113549 .1 .1 .10),
    named!("1.2.840.10045.2.1", "EC", 0, 1.2.840 .10045 .2 .1),
    named!("1.3.101.112", "Ed25519", 256, 1.3.101 .112),
    named!("1.3.101.113", "Ed448", 456, 1.3.101 .113),
    named!("1.3.101.110", "X25519", 256, 1.3.101 .110),
    named!("1.2.840.10040.4.1", "DSA", 0, 1.2.840 .10040 .4 .1),
    named!("1.2.840.10046.2.1", "DH", 0, 1.2.840 .10046 .2 .1),
    named!("1.2.643.2.2.19", "GOST2001", 256, 1.2.643 .2 .2 .19),
    named!("1.2.156.10197.1.301", "SM2", 256, 1.2.156 .10197 .1 .301),
];

/// Named elliptic curves (the `parameters` of an id-ecPublicKey SPKI).
pub const CURVES: &[OidName] = &[
    named!("1.2.840.10045.3.1.1", "P-192", 192, 1.2.840 .10045 .3 .1 .1),
    named!("1.3.132.0.33", "P-224", 224, 1.3.132 .0 .33),
    named!("1.2.840.10045.3.1.7", "P-256", 256, 1.2.840 .10045 .3 .1 .7),
    named!("1.3.132.0.34", "P-384", 384, 1.3.132 .0 .34),
    named!("1.3.132.0.35", "P-521", 521, 1.3.132 .0 .35),
    named!("1.3.132.0.10", "secp256k1", 256, 1.3.132 .0 .10),
    named!(
        "1.3.36.3.3.2.8.1.1.7",
        "brainpoolP256r1",
        256,
        1.3.36 .3 .3 .2 .8 .1 .1 .7
    ),
    named!(
        "1.3.36.3.3.2.8.1.1.11",
        "brainpoolP384r1",
        384,
        1.3.36 .3 .3 .2 .8 .1 .1 .11
    ),
    named!(
        "1.3.36.3.3.2.8.1.1.13",
        "brainpoolP512r1",
        512,
        1.3.36 .3 .3 .2 .8 .1 .1 .13
    ),
];

/// Extended key usages beyond the ones x509-parser flags itself.
pub const EXTRA_EKUS: &[OidName] = &[
    named!(
        "2.16.840.1.113730.4.1",
        "nsSGC",
        0,
        2.16.840 .1 .113730 .4 .1
    ),
    named!(
        "1.3.6.1.4.1.311.10.3.3",
        "msSGC",
        0,
        1.3.6 .1 .4 .1 .311 .10 .3 .3
    ),
    named!(
        "1.3.6.1.4.1.11129.2.4.4",
        "precertificateSigning",
        0,
        1.3.6 .1 .4 .1 .11129 .2 .4 .4
    ),
];

/// Distinguished-name attribute types, with OpenSSL's short names.
pub const DN_ATTRIBUTES: &[OidName] = &[
    named!("2.5.4.3", "CN", 0, 2.5.4 .3),
    named!("2.5.4.6", "C", 0, 2.5.4 .6),
    named!("2.5.4.10", "O", 0, 2.5.4 .10),
    named!("2.5.4.11", "OU", 0, 2.5.4 .11),
    named!("2.5.4.8", "ST", 0, 2.5.4 .8),
    named!("2.5.4.7", "L", 0, 2.5.4 .7),
    named!("2.5.4.5", "serialNumber", 0, 2.5.4 .5),
    named!("2.5.4.9", "street", 0, 2.5.4 .9),
    named!("2.5.4.17", "postalCode", 0, 2.5.4 .17),
    named!("2.5.4.4", "SN", 0, 2.5.4 .4),
    named!("2.5.4.42", "GN", 0, 2.5.4 .42),
    named!("2.5.4.12", "title", 0, 2.5.4 .12),
    named!("2.5.4.13", "description", 0, 2.5.4 .13),
    named!("2.5.4.15", "businessCategory", 0, 2.5.4 .15),
    named!("2.5.4.46", "dnQualifier", 0, 2.5.4 .46),
    named!("2.5.4.65", "pseudonym", 0, 2.5.4 .65),
    named!("2.5.4.97", "organizationIdentifier", 0, 2.5.4 .97),
    named!(
        "1.2.840.113549.1.9.1",
        "emailAddress",
        0,
        1.2.840 .113549 .1 .9 .1
    ),
    named!(
        "0.9.2342.19200300.100.1.25",
        "DC",
        0,
        0.9.2342 .19200300 .100 .1 .25
    ),
    named!(
        "0.9.2342.19200300.100.1.1",
        "UID",
        0,
        0.9.2342 .19200300 .100 .1 .1
    ),
    named!(
        "1.3.6.1.4.1.311.60.2.1.3",
        "jurisdictionC",
        0,
        1.3.6 .1 .4 .1 .311 .60 .2 .1 .3
    ),
    named!(
        "1.3.6.1.4.1.311.60.2.1.2",
        "jurisdictionST",
        0,
        1.3.6 .1 .4 .1 .311 .60 .2 .1 .2
    ),
    named!(
        "1.3.6.1.4.1.311.60.2.1.1",
        "jurisdictionL",
        0,
        1.3.6 .1 .4 .1 .311 .60 .2 .1 .1
    ),
];

/// The dotted-decimal form of an OID's content octets (`None` if malformed).
/// The first subidentifier holds two arcs: 0.x and 1.x below 80, 2.(n-80) above.
pub fn dotted_from_raw(raw: &[u8]) -> Option<String> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(4 * raw.len());
    let mut value: u128 = 0;
    let mut first = true;
    for (i, &b) in raw.iter().enumerate() {
        if value > (u128::MAX >> 7) {
            return None;
        }
        value = (value << 7) | u128::from(b & 0x7f);
        if b & 0x80 != 0 {
            if i + 1 == raw.len() {
                return None;
            }
            continue;
        }
        let arc = if first {
            let (a, rest) = match value {
                0..=39 => (0, value),
                40..=79 => (1, value - 40),
                _ => (2, value - 80),
            };
            first = false;
            out.push(char::from(b'0' + a));
            rest
        } else {
            value
        };
        out.push('.');
        // Writing to a String cannot fail; arcs nearly always fit 64 bits,
        // whose formatting is much the faster.
        let _ = match u64::try_from(arc) {
            Ok(small) => write!(out, "{small}"),
            Err(_) => write!(out, "{arc}"),
        };
        value = 0;
    }
    (!first).then_some(out)
}

/// The dotted form of OID content octets, falling back to hex for malformed encodings.
pub fn oid_text_from_raw(raw: &[u8]) -> String {
    dotted_from_raw(raw).unwrap_or_else(|| format!("#{}", hex::encode(raw)))
}

/// The dotted form of any OID, falling back to hex for malformed encodings.
pub fn oid_text(oid: &Oid<'_>) -> String {
    oid_text_from_raw(oid.as_bytes())
}

/// Finds `oid` in `table`.
pub fn lookup(table: &'static [OidName], oid: &Oid<'_>) -> Option<&'static OidName> {
    let raw = oid.as_bytes();
    table.iter().find(|e| e.raw == raw)
}

/// The table's name for `oid`, or its dotted form when the table lacks it.
pub fn name_or_dotted(table: &'static [OidName], oid: &Oid<'_>) -> Cow<'static, str> {
    match lookup(table, oid) {
        Some(e) => Cow::Borrowed(e.name),
        None => Cow::Owned(oid_text(oid)),
    }
}

/// The table's name and dotted form of `oid`, without allocating when the
/// table knows it.
pub fn name_and_dotted(
    table: &'static [OidName],
    oid: &Oid<'_>,
) -> (Cow<'static, str>, Cow<'static, str>) {
    match lookup(table, oid) {
        Some(e) => (Cow::Borrowed(e.name), Cow::Borrowed(e.dotted)),
        None => {
            let dotted = oid_text(oid);
            (Cow::Owned(dotted.clone()), Cow::Owned(dotted))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_edge_cases() {
        assert_eq!(dotted_from_raw(&[0x00]).as_deref(), Some("0.0"));
        assert_eq!(dotted_from_raw(&[0x88, 0x37]).as_deref(), Some("2.999"));
        // An arc past 64 bits (2^64).
        let big = [
            0x2a, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ];
        assert_eq!(
            dotted_from_raw(&big).as_deref(),
            Some("1.2.18446744073709551616")
        );
        assert_eq!(dotted_from_raw(&[0x2b, 0x81]), None);
        assert_eq!(dotted_from_raw(&[]), None);
    }

    #[test]
    fn dotted_forms_match_encodings() {
        for table in [
            SIGNATURE_ALGORITHMS,
            KEY_ALGORITHMS,
            CURVES,
            EXTRA_EKUS,
            DN_ATTRIBUTES,
        ] {
            for e in table {
                let oid = Oid::new(Cow::Borrowed(e.raw));
                assert_eq!(oid.to_id_string(), e.dotted, "{}", e.name);
                assert_eq!(
                    dotted_from_raw(e.raw).as_deref(),
                    Some(e.dotted),
                    "{}",
                    e.name
                );
            }
        }
    }
}
