//! Public keys of generated certificates: RSA moduli drawn at random (odd,
//! top bit set, the requested size) and EC points from a pool of real
//! P-256/P-384 public keys (`ec_points.bin`, made by
//! `scripts/make_ec_points.py`), since a point must lie on its curve.

use rand::Rng;

use super::x509_der::{self as der, KeyKind};

const EC_POINTS: &[u8] = include_bytes!("ec_points.bin");
const P256_LEN: usize = 65;
const P384_LEN: usize = 97;
const P256_COUNT: usize = 256;
const P384_COUNT: usize = 64;

/// The pool of EC points.
#[derive(Debug, Clone, Copy)]
pub struct KeyPool {
    p256: &'static [u8],
    p384: &'static [u8],
}

impl Default for KeyPool {
    fn default() -> Self {
        let (p256, p384) = EC_POINTS.split_at(P256_LEN * P256_COUNT);
        assert_eq!(p384.len(), P384_LEN * P384_COUNT, "ec_points.bin layout");
        KeyPool { p256, p384 }
    }
}

impl KeyPool {
    /// A SubjectPublicKeyInfo of this kind.
    pub fn spki(&self, kind: KeyKind, rng: &mut impl Rng) -> Vec<u8> {
        match kind {
            KeyKind::Rsa(bits) => {
                let mut n = vec![0u8; bits.div_ceil(8) as usize];
                rng.fill(&mut n[..]);
                n[0] |= 0x80;
                let last = n.len() - 1;
                n[last] |= 1;
                der::rsa_spki(&n)
            }
            KeyKind::P256 => {
                let i = rng.random_range(0..P256_COUNT) * P256_LEN;
                der::ec_spki(kind, &self.p256[i..i + P256_LEN])
            }
            KeyKind::P384 => {
                let i = rng.random_range(0..P384_COUNT) * P384_LEN;
                der::ec_spki(kind, &self.p384[i..i + P384_LEN])
            }
        }
    }
}
