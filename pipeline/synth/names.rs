//! Names of generated certificates: registrable domains under ICANN and
//! private public suffixes (checked against the same Public Suffix List the
//! rules use), host names under them, IDNs as A-labels, public IP addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::Rng;

use crate::dns;

/// ICANN suffixes and their relative weights.
const ICANN: &[(&str, u32)] = &[
    ("com", 40),
    ("net", 8),
    ("org", 8),
    ("de", 5),
    ("co.uk", 4),
    ("io", 3),
    ("fr", 3),
    ("com.br", 3),
    ("ru", 3),
    ("co.jp", 2),
    ("nl", 2),
    ("com.au", 2),
    ("cn", 2),
    ("in", 2),
    ("info", 2),
    ("xyz", 2),
    ("app", 1),
    ("dev", 1),
    ("xn--p1ai", 1),
];

/// Suffixes of the PSL's private section: `user.github.io` is registrable.
pub const PRIVATE: &[&str] = &[
    "github.io",
    "herokuapp.com",
    "blogspot.com",
    "azurewebsites.net",
    "netlify.app",
    "pages.dev",
];

/// Public suffixes a planted certificate names directly.
pub const PLANTED_SUFFIXES: &[&str] = &[
    "github.io",
    "co.uk",
    "blogspot.com",
    "com.au",
    "herokuapp.com",
];

/// Names whose top-level domain is not delegated.
pub const INTERNAL: &[&str] = &[
    "local",
    "corp",
    "internal",
    "lan",
    "intranet",
    "localdomain",
];

const SYLLABLES: &[&str] = &[
    "ka", "ri", "to", "mo", "lan", "ver", "sun", "net", "blu", "tech", "shop", "cloud", "data",
    "ne", "sa", "po", "li", "qu", "zen", "mar", "tor", "vel", "fin", "gro", "hub", "pix", "ora",
    "dex", "lum", "nova", "terra", "via", "max", "bit", "web", "sky", "red", "green", "star",
];

const UNICODE_LABELS: &[&str] = &[
    "bücher",
    "münchen",
    "café",
    "straße",
    "пример",
    "例え",
    "中文网",
    "παράδειγμα",
    "köln",
    "españa",
    "日本語",
    "tienda-ñ",
    "zürich",
    "москва",
    "서울",
];

const HOSTS: &[&str] = &[
    "www",
    "mail",
    "api",
    "cdn",
    "shop",
    "blog",
    "m",
    "dev",
    "static",
    "app",
    "portal",
    "vpn",
    "secure",
    "login",
    "img",
    "autodiscover",
    "webmail",
    "ftp",
    "admin",
    "test",
    "staging",
];

fn weighted<'a>(rng: &mut impl Rng, table: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (s, w) in table {
        if x < *w {
            return s;
        }
        x -= w;
    }
    table[0].0
}

fn ascii_label(rng: &mut impl Rng) -> String {
    let mut label = String::new();
    for _ in 0..rng.random_range(2..=4) {
        label.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
    }
    if rng.random_bool(0.4) {
        label.push_str(&rng.random_range(1..10_000).to_string());
    } else if rng.random_bool(0.1) {
        label.push('-');
        label.push_str(SYLLABLES[rng.random_range(0..SYLLABLES.len())]);
    }
    label
}

fn idn_label(rng: &mut impl Rng) -> String {
    let base = UNICODE_LABELS[rng.random_range(0..UNICODE_LABELS.len())];
    let unicode = format!("{base}{}", rng.random_range(1..1000));
    idna::domain_to_ascii(&unicode).unwrap_or_else(|_| ascii_label(rng))
}

/// A registrable domain (eTLD+1): 2% IDN labels, 5% under private suffixes.
/// Every domain returned is its own registrable domain by the PSL.
pub fn registrable(rng: &mut impl Rng) -> String {
    loop {
        let label = if rng.random_bool(0.02) {
            idn_label(rng)
        } else {
            ascii_label(rng)
        };
        let suffix = if rng.random_bool(0.05) {
            PRIVATE[rng.random_range(0..PRIVATE.len())]
        } else {
            weighted(rng, ICANN)
        };
        let domain = format!("{label}.{suffix}");
        if dns::registrable_domain(&domain) == Some(domain.as_str()) {
            return domain;
        }
    }
}

/// A host name under `domain` (one or two labels deep).
pub fn host(rng: &mut impl Rng, domain: &str) -> String {
    let first = if rng.random_bool(0.8) {
        HOSTS[rng.random_range(0..HOSTS.len())].to_owned()
    } else {
        format!("srv{}", rng.random_range(1..500))
    };
    if rng.random_bool(0.1) {
        format!(
            "{first}.{}.{domain}",
            HOSTS[rng.random_range(0..HOSTS.len())]
        )
    } else {
        format!("{first}.{domain}")
    }
}

/// The dNSNames of a subscriber certificate: 1-40 names under one or more
/// registrable domains, sometimes with a wildcard. The first name is the
/// one the subject CN repeats.
pub fn san_set(rng: &mut impl Rng) -> Vec<String> {
    let count = match rng.random_range(0..100) {
        0..30 => 1,
        30..70 => 2,
        70..90 => rng.random_range(3..=10),
        _ => rng.random_range(11..=40),
    };
    let domains = if count > 10 {
        rng.random_range(2..=count / 3)
    } else if count > 3 && rng.random_bool(0.3) {
        2
    } else {
        1
    };
    let mut names: Vec<String> = Vec::with_capacity(count);
    let push = |names: &mut Vec<String>, n: String| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    for d in 0..domains {
        let domain = registrable(rng);
        if d == 0 && rng.random_bool(0.1) {
            push(&mut names, format!("*.{domain}"));
        }
        push(&mut names, domain.clone());
        if names.len() < count {
            push(&mut names, format!("www.{domain}"));
        }
        let share = count.div_ceil(domains);
        let mut tries = 0;
        while names.len() < (share * (d + 1)).min(count) && tries < 4 * count {
            push(&mut names, host(rng, &domain));
            tries += 1;
        }
    }
    names.truncate(count.max(1));
    names
}

/// A public IP address (never in a reserved range).
pub fn public_ip(rng: &mut impl Rng) -> IpAddr {
    if rng.random_bool(0.8) {
        let prefixes: [[u8; 2]; 5] = [[93, 184], [151, 101], [104, 16], [185, 199], [52, 84]];
        let [a, b] = prefixes[rng.random_range(0..prefixes.len())];
        IpAddr::V4(Ipv4Addr::new(a, b, rng.random(), rng.random_range(1..255)))
    } else {
        let top: [u16; 2] = [0x2606, 0x2a00];
        let second: [u16; 2] = [0x4700, 0x1450];
        let i = rng.random_range(0..2);
        IpAddr::V6(Ipv6Addr::new(
            top[i],
            second[i],
            rng.random(),
            0,
            0,
            0,
            0,
            rng.random_range(1..0xffff),
        ))
    }
}

/// A private or reserved IP address.
pub fn reserved_ip(rng: &mut impl Rng) -> IpAddr {
    match rng.random_range(0..3) {
        0 => IpAddr::V4(Ipv4Addr::new(
            10,
            rng.random(),
            rng.random(),
            rng.random_range(1..255),
        )),
        1 => IpAddr::V4(Ipv4Addr::new(
            192,
            168,
            rng.random(),
            rng.random_range(1..255),
        )),
        _ => IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            rng.random(),
            0,
            0,
            0,
            0,
            0,
            rng.random_range(1..0xffff),
        )),
    }
}

/// An internal host name (an undelegated top-level domain).
pub fn internal_name(rng: &mut impl Rng) -> String {
    let tld = INTERNAL[rng.random_range(0..INTERNAL.len())];
    format!("{}.{tld}", HOSTS[rng.random_range(0..HOSTS.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn generated_names_are_clean_by_the_rules_own_functions() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut idn = 0;
        let mut private = 0;
        for _ in 0..5000 {
            for name in san_set(&mut rng) {
                let n = name.strip_prefix("*.").unwrap_or(&name);
                assert!(!dns::is_public_suffix(n), "{name}");
                assert!(dns::tld_is_delegated(n), "{name}");
                assert!(dns::registrable_domain(n).is_some(), "{name}");
                assert!(!name.contains('_') && !n.contains('*'), "{name}");
                idn += usize::from(name.contains("xn--"));
                private += usize::from(PRIVATE.iter().any(|p| name.ends_with(p)));
            }
        }
        assert!(idn > 50 && private > 100, "idn {idn}, private {private}");
        for s in PLANTED_SUFFIXES.iter().chain(PRIVATE) {
            assert!(dns::is_public_suffix(s), "{s}");
        }
        for _ in 0..200 {
            assert!(!dns::is_reserved_ip(&public_ip(&mut rng).to_string()));
            assert!(dns::is_reserved_ip(&reserved_ip(&mut rng).to_string()));
            assert!(!dns::tld_is_delegated(&internal_name(&mut rng)));
        }
    }
}
