//! DNS names and IP addresses, pure: the Public Suffix List (carried by
//! the `psl` crate, ICANN and private sections), TLD delegation and
//! reserved IP ranges. The SQL helper functions of [`crate::sql::udfs`] and
//! the synthetic name generator both use these.
//!
//! A leading `*.` and a trailing `.` are ignored; IDNs are expected as
//! encoded in certificates (`xn--` A-labels); nothing allocates except to
//! lowercase a name that has capitals.

use std::borrow::Cow;

use psl::Psl as _;

/// Lowercases and trims a name: no leading `*.`, no trailing `.`.
/// Returns `None` for an empty result.
pub fn normalize(name: &str) -> Option<Cow<'_, str>> {
    trim(name).map(lowercase_all)
}

/// `name` without a leading `*.` and a trailing `.` (byte tests: both are
/// ASCII, so the slice stays on character boundaries); `None` if empty.
pub fn trim(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    let start = if b.starts_with(b"*.") { 2 } else { 0 };
    let end = if b.len() > start && b[b.len() - 1] == b'.' {
        b.len() - 1
    } else {
        b.len()
    };
    (start < end).then(|| &name[start..end])
}

/// The last label of a name (all of it if it has no `.`).
pub fn last_label(name: &str) -> &str {
    match name.as_bytes().iter().rposition(|&b| b == b'.') {
        Some(dot) => &name[dot + 1..],
        None => name,
    }
}

/// `n` lowercased (ASCII), allocating only if it has capitals. The test
/// has no early exit, so it vectorises: capitals are rare.
fn lowercase_all(n: &str) -> Cow<'_, str> {
    if n.bytes()
        .fold(false, |upper, b| upper | b.is_ascii_uppercase())
    {
        Cow::Owned(n.to_ascii_lowercase())
    } else {
        Cow::Borrowed(n)
    }
}

/// eTLD+1 of `name` (already normalised), if it has one.
pub fn registrable_domain(name: &str) -> Option<&str> {
    let d = psl::List.domain(name.as_bytes())?;
    tail(name, d.as_bytes().len())
}

/// The public suffix of `name` (already normalised); unlisted TLDs count as suffixes.
pub fn public_suffix(name: &str) -> Option<&str> {
    let s = psl::List.suffix(name.as_bytes())?;
    tail(name, s.as_bytes().len())
}

/// The last `len` bytes of `name` (a suffix the PSL found in it, so no
/// UTF-8 check is needed); `None` if that is not a character boundary.
fn tail(name: &str, len: usize) -> Option<&str> {
    name.get(name.len().checked_sub(len)?..)
}

/// Whether `name` (already normalised) is itself a listed public suffix.
pub fn is_public_suffix(name: &str) -> bool {
    psl::List
        .suffix(name.as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes() == name.as_bytes())
}

/// What one Public Suffix List lookup says of `name` (already
/// normalised): whether it is itself a listed public suffix
/// ([`is_public_suffix`]) and whether it has a registrable domain
/// ([`registrable_domain`] is `Some`).
pub fn suffix_facts(name: &str) -> (bool, bool) {
    let Some(s) = psl::List.suffix(name.as_bytes()) else {
        return (false, false);
    };
    let (len, suffix_len) = (name.len(), s.as_bytes().len());
    let public = s.is_known() && suffix_len == len;
    // As psl's `domain`: a label (possibly empty) and a dot before the
    // suffix; the slice then starts after a dot, on a character boundary.
    let registrable = len >= suffix_len + 2 && {
        let before = &name.as_bytes()[..len - suffix_len - 1];
        let root = before.iter().rposition(|&b| b == b'.').map_or(0, |d| d + 1);
        name.is_char_boundary(root)
    };
    (public, registrable)
}

/// The Public Suffix List section of `name`'s public suffix (already
/// normalised): `icann` (delegated by ICANN's registries: `co.uk`) or
/// `private` (a company's own domain for its users: `github.io`); `None`
/// when the suffix is not listed.
pub fn public_suffix_section(name: &str) -> Option<&'static str> {
    let s = psl::List.suffix(name.as_bytes())?;
    if !s.is_known() {
        return None;
    }
    match s.typ()? {
        psl::Type::Icann => Some("icann"),
        psl::Type::Private => Some("private"),
    }
}

/// `name` without its first label (`*.a.b` → `a.b`, `x.a.b` → `a.b`); `None` for one label.
pub fn parent_domain(name: &str) -> Option<&str> {
    let n = name.strip_suffix('.').unwrap_or(name);
    n.split_once('.')
        .map(|(_, rest)| rest)
        .filter(|r| !r.is_empty())
}

/// Lowercased (allocating only when needed), without a trailing `.`.
pub fn lowercase(name: &str) -> Cow<'_, str> {
    lowercase_all(name.strip_suffix('.').unwrap_or(name))
}

/// Whether the last label of `name` (already normalised) is a TLD in the PSL's ICANN section.
pub fn tld_is_delegated(name: &str) -> bool {
    is_icann_tld(last_label(name).as_bytes())
}

/// Whether a lowercase label is a TLD in the PSL's ICANN section.
fn is_icann_tld(label: &[u8]) -> bool {
    psl::List
        .suffix(label)
        .is_some_and(|s| s.is_known() && s.typ() == Some(psl::Type::Icann))
}

/// The last TLD looked up by `any_undelegated_tld` and its answer: the
/// names of one certificate mostly share their TLD. Kept lowercased in a
/// fixed buffer (a DNS label has at most 63 bytes), so nothing allocates.
pub struct TldMemo {
    tld: [u8; 63],
    len: Option<usize>,
    delegated: bool,
}

impl Default for TldMemo {
    fn default() -> Self {
        Self::new()
    }
}

impl TldMemo {
    /// An empty memo.
    pub fn new() -> Self {
        TldMemo {
            tld: [0; 63],
            len: None,
            delegated: false,
        }
    }

    /// `tld_is_delegated` of a name whose last label is `tld` (any case).
    pub fn delegated(&mut self, tld: &str) -> bool {
        let len = tld.len();
        if len > self.tld.len() {
            return false;
        }
        if self.len == Some(len) && self.tld[..len].eq_ignore_ascii_case(tld.as_bytes()) {
            return self.delegated;
        }
        self.tld[..len].copy_from_slice(tld.as_bytes());
        self.tld[..len].make_ascii_lowercase();
        self.len = Some(len);
        self.delegated = is_icann_tld(&self.tld[..len]);
        self.delegated
    }
}

/// Whether `text` is an IP address in a private or reserved range (IANA
/// special-purpose registries: RFC 1918, loopback, link-local, CGNAT,
/// documentation, benchmarking, multicast, future use; IPv6 ULA, link-local,
/// site-local, documentation, discard, IETF protocol assignments, and
/// IPv4-mapped addresses by their IPv4 value). Text that is no address: false.
pub fn is_reserved_ip(text: &str) -> bool {
    use std::net::{IpAddr, Ipv4Addr};
    fn v4(ip: Ipv4Addr) -> bool {
        let [a, b, c, _] = ip.octets();
        a == 0
            || a == 10
            || a == 127
            || a >= 224
            || (a == 100 && (64..128).contains(&b))
            || (a == 169 && b == 254)
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && b == 0 && (c == 0 || c == 2))
            || (a == 192 && b == 88 && c == 99)
            || (a == 192 && b == 168)
            || (a == 198 && (b == 18 || b == 19))
            || (a == 198 && b == 51 && c == 100)
            || (a == 203 && b == 0 && c == 113)
    }
    match text.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => v4(ip),
        Ok(IpAddr::V6(ip)) => {
            if let Some(mapped) = ip.to_ipv4_mapped() {
                return v4(mapped);
            }
            let seg = ip.segments();
            ip.is_unspecified()
                || ip.is_loopback()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xffc0) == 0xfec0
                || (seg[0] & 0xff00) == 0xff00
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)
                || (seg[0] == 0x2001 && seg[1] < 0x0200)
                || (seg[0] == 0x0100 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0)
        }
        Err(_) => false,
    }
}

/// Whether a name has no registrable domain (a public suffix, listed or not,
/// or empty): the test of `any_unregistrable`.
pub fn unregistrable(name: Option<&str>) -> bool {
    name.and_then(normalize)
        .is_none_or(|n| registrable_domain(&n).is_none())
}

/// Whether a name's TLD is not delegated: `NOT tld_is_delegated(name)` for
/// a non-NULL name, the test of `any_undelegated_tld`.
pub fn undelegated(name: Option<&str>, memo: &mut TldMemo) -> bool {
    name.is_some_and(|n| trim(n).is_none_or(|n| !memo.delegated(last_label(n))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).unwrap().into_owned()
    }

    #[test]
    fn one_lookup_says_what_the_two_do() {
        for name in [
            "example.com",
            "com",
            "github.io",
            "x.github.io",
            "*.x.github.io",
            "co.uk",
            "www.example.co.uk",
            "localhost",
            "a.local",
            "a..com",
            ".com",
            "..",
            "a.b.c.d",
            "xn--85x722f.xn--55qx5d.cn",
            "例子.中国",
            "a.例子.中国",
            "com.",
            "s3.amazonaws.com",
            "b.s3.amazonaws.com",
            "unknowntld",
            "x.unknowntld",
            "192.168.0.1",
            "_dmarc.example.com",
        ] {
            let n = normalize(name).unwrap().into_owned();
            assert_eq!(
                suffix_facts(&n),
                (is_public_suffix(&n), registrable_domain(&n).is_some()),
                "{name}"
            );
        }
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(
            registrable_domain(&n("www.Example.co.UK")),
            Some("example.co.uk")
        );
        assert_eq!(registrable_domain(&n("*.x.github.io")), Some("x.github.io"));
        assert_eq!(registrable_domain(&n("github.io")), None);
        assert_eq!(registrable_domain(&n("example.com.")), Some("example.com"));
        assert_eq!(
            registrable_domain(&n("www.xn--85x722f.xn--55qx5d.cn")),
            Some("xn--85x722f.xn--55qx5d.cn")
        );
        assert!(normalize("").is_none() && normalize("*.").is_none());
    }

    #[test]
    fn trims_names_and_memoises_tlds() {
        assert_eq!(trim("*.a.com."), Some("a.com"));
        assert_eq!(trim("*"), Some("*"));
        for empty in ["", ".", "*.", "*.."] {
            assert_eq!(trim(empty), None, "{empty:?}");
        }
        let mut memo = TldMemo::new();
        for (name, expected) in [
            ("a.com", false),
            ("B.COM", false),
            ("x.corp", true),
            ("y.CORP", true),
            ("z.com.", false),
            ("*.", true),
            ("host", false),
            ("fileserver01", true),
            ("a.xn--p1ai", false),
            ("a.xn--P1AI", false),
        ] {
            assert_eq!(undelegated(Some(name), &mut memo), expected, "{name}");
        }
        assert!(!undelegated(None, &mut memo));
        let long = format!("a.{}", "x".repeat(70));
        assert!(undelegated(Some(&long), &mut memo));
    }

    #[test]
    fn public_suffixes() {
        assert_eq!(public_suffix("a.b.blogspot.com"), Some("blogspot.com"));
        assert!(is_public_suffix("github.io"));
        assert!(is_public_suffix("co.uk"));
        assert!(is_public_suffix(&n("*.blogspot.com")));
        assert!(!is_public_suffix("example.com"));
        assert!(
            !is_public_suffix("local"),
            "unlisted TLDs are not listed suffixes"
        );
    }

    #[test]
    fn parents_and_tlds() {
        assert_eq!(parent_domain("x.github.io"), Some("github.io"));
        assert_eq!(parent_domain("*.example.com"), Some("example.com"));
        assert_eq!(parent_domain("com"), None);
        assert!(tld_is_delegated("www.example.com"));
        assert!(tld_is_delegated("xn--p1ai"));
        assert!(!tld_is_delegated("server.local"));
        assert!(!tld_is_delegated("mail.corp"));
        assert!(!tld_is_delegated("host.internal"));
    }

    #[test]
    fn reserved_ips() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.31.255.255",
            "127.0.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::5",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_reserved_ip(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "example.com",
        ] {
            assert!(!is_reserved_ip(ip), "{ip}");
        }
    }
}
