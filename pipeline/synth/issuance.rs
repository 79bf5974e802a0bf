//! What a generated certificate is: its issuer, dates, names, key and how it
//! reaches the log, before any encoding. Background issuances follow the
//! rules of their era; planted ones break exactly the rules they list;
//! decoys come as close to a rule as a compliant certificate can.

use std::net::IpAddr;

use rand::Rng;

use super::authorities::{Authorities, Ca};
use super::names;
use super::time::{add_months, date, DAY, NOW};
use super::x509_der::KeyKind;

/// How a certificate reaches the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logging {
    /// A precert entry, then the final certificate as an x509 entry (with the
    /// embedded SCT list when `final_scts`).
    Pair {
        /// Whether the final certificate embeds its SCTs.
        final_scts: bool,
    },
    /// Only the final certificate, embedding SCTs of precerts logged elsewhere.
    FinalWithScts,
    /// Only the final certificate, without SCTs (submitted by a crawler).
    FinalWithoutScts,
}

/// A subscriber certificate to generate.
#[derive(Debug, Clone)]
pub struct Issuance {
    /// Index of the issuing CA in [`Authorities::all`].
    pub ca: usize,
    /// Serial number content octets.
    pub serial: Vec<u8>,
    /// Signed with SHA-1.
    pub sha1: bool,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Subject CN (none: an empty subject).
    pub subject_cn: Option<String>,
    /// Whether the subject carries organisation details (OV).
    pub ov: bool,
    /// SAN dNSNames.
    pub san_dns: Vec<String>,
    /// SAN iPAddresses.
    pub san_ip: Vec<IpAddr>,
    /// Whether the certificate has a subjectAltName extension.
    pub has_san: bool,
    /// The subscriber key.
    pub key: KeyKind,
    /// How it is logged.
    pub logging: Logging,
    /// Seconds from notBefore to the first SCT (the precert's log entry).
    pub evidence_delay: i64,
    /// Rule ids it is planted to trigger.
    pub rules: Vec<&'static str>,
    /// The decoy it is, if any.
    pub decoy: Option<&'static str>,
    /// Its TBS is made unparseable (a `parse_error` row).
    pub broken: bool,
    /// The CA whose OCSP, caIssuers and CRL URLs it names, when not its
    /// issuer's own (index in [`Authorities::all`]).
    pub infra: Option<usize>,
    /// Whether the certificate names no OCSP, caIssuers or CRL URL (no AIA
    /// or CRL distribution point extension).
    pub without_urls: bool,
}

/// Anomalies planted at a known rate, each triggering the listed rules.
pub const PLANTS: &[&str] = &[
    "sha1_after_2016",
    "backdated",
    "sha1_backdated_past_deadline",
    "public_suffix_san",
    "unvalidated_parent_domain",
    "missing_sct_after_promise",
    "validity_too_long",
    "rsa_key_too_small",
    "duplicate_serial",
    "internal_name",
    "underscore_in_dnsname",
    "wildcard_misplaced",
    "cn_not_in_san",
    "san_missing",
    "low_serial_entropy",
    "foreign_issuance_infrastructure",
];

/// Compliant certificates that come close to a rule.
pub const DECOYS: &[&str] = &[
    "sha1_before_2016",
    "www_parent",
    "validity_at_cap",
    "backdated_47h",
    "wosign_before_promise",
    "wosign_precert_logged",
    "underscore_before_2019",
    "rsa1024_expired_2013",
    "internal_name_expired",
    "short_serial_before_2016_09_30",
    "ip_common_name",
    "sha1_prompt_before_2016",
    "sibling_ca_infrastructure",
];

const YEAR_WEIGHTS: &[(i32, u32)] = &[
    (2013, 2),
    (2014, 3),
    (2015, 4),
    (2016, 6),
    (2017, 7),
    (2018, 8),
    (2019, 9),
    (2020, 10),
    (2021, 11),
    (2022, 11),
    (2023, 11),
    (2024, 11),
    (2025, 11),
    (2026, 10),
];

fn between(rng: &mut impl Rng, from: i64, to: i64) -> i64 {
    if to <= from {
        from
    } else {
        rng.random_range(from..to)
    }
}

fn background_not_before(rng: &mut impl Rng) -> i64 {
    let total: u32 = YEAR_WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    let mut year = 2026;
    for &(y, w) in YEAR_WEIGHTS {
        if x < w {
            year = y;
            break;
        }
        x -= w;
    }
    let from = date(&format!("{year}-01-01"));
    let to = date(&format!("{}-01-01", year + 1)).min(NOW - 2 * DAY);
    between(rng, from, to)
}

/// The maximum validity at `not_before`: `not_after` must stay below
/// `not_before` + this (the `validity_too_long` rule's table).
pub fn validity_cap_end(not_before: i64) -> i64 {
    if not_before < date("2015-04-01") {
        add_months(not_before, 60)
    } else if not_before < date("2018-03-01") {
        add_months(not_before, 39)
    } else if not_before < date("2020-09-01") {
        not_before + 825 * DAY
    } else if not_before < date("2026-03-15") {
        not_before + 398 * DAY
    } else if not_before < date("2027-03-15") {
        not_before + 200 * DAY
    } else if not_before < date("2029-03-15") {
        not_before + 100 * DAY
    } else {
        not_before + 47 * DAY
    }
}

fn typical_validity_days(rng: &mut impl Rng, ca: &Ca, not_before: i64) -> i64 {
    if ca.def.acme {
        return 90;
    }
    let choices: &[i64] = if not_before < date("2015-04-01") {
        &[365, 730, 1095]
    } else if not_before < date("2020-09-01") {
        &[365, 730]
    } else if not_before < date("2026-03-15") {
        &[365, 397]
    } else {
        &[90, 199]
    };
    choices[rng.random_range(0..choices.len())]
}

fn typical_logging(rng: &mut impl Rng, ca: &Ca, not_before: i64) -> Logging {
    let x = rng.random_range(0..100);
    let logging = if not_before < date("2015-01-01") {
        Logging::FinalWithoutScts
    } else if not_before < date("2018-04-15") {
        match x {
            0..35 => Logging::Pair { final_scts: true },
            35..50 => Logging::FinalWithScts,
            _ => Logging::FinalWithoutScts,
        }
    } else {
        match x {
            0..55 => Logging::Pair { final_scts: true },
            55..95 => Logging::FinalWithScts,
            _ => Logging::FinalWithoutScts,
        }
    };
    // WoSign promised to log everything from 2016-07-05.
    if ca.def.wosign && not_before >= date("2016-07-05") && logging == Logging::FinalWithoutScts {
        Logging::FinalWithScts
    } else {
        logging
    }
}

/// Midnight of `t`'s day, moved back into the 28th if later in the month, so
/// that adding calendar months never clamps the day.
fn early_midnight(t: i64) -> i64 {
    use chrono::Datelike;
    let midnight = t - t.rem_euclid(DAY);
    let day = chrono::DateTime::from_timestamp(midnight, 0).map_or(1, |d| d.day());
    midnight - i64::from(day.saturating_sub(28)) * DAY
}

fn random_serial(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut s = vec![0u8; len];
    rng.fill(&mut s[..]);
    s[0] = (s[0] & 0x7f).max(0x01);
    s
}

fn typical_key(rng: &mut impl Rng) -> KeyKind {
    match rng.random_range(0..100) {
        0..60 => KeyKind::Rsa(2048),
        60..68 => KeyKind::Rsa(4096),
        68..95 => KeyKind::P256,
        _ => KeyKind::P384,
    }
}

/// Constraints on [`base`].
struct Want<'a> {
    from: i64,
    to: i64,
    ca: &'a dyn Fn(&Ca) -> bool,
}

/// Planted and decoy certificates come from RSA CAs that are neither
/// WoSign nor ACME, so that nothing but the planted change matters.
pub fn plain_ca(c: &Ca) -> bool {
    !c.def.wosign && !c.def.acme && matches!(c.def.key, KeyKind::Rsa(_))
}

fn base(rng: &mut impl Rng, cas: &Authorities, want: &Want<'_>) -> Issuance {
    let not_before = between(rng, want.from, want.to);
    let ca = cas.pick(rng, not_before, want.ca);
    let c = &cas.all[ca];
    let days = typical_validity_days(rng, c, not_before);
    let serial_len = if c.def.acme {
        18
    } else if not_before < date("2016-09-30") {
        rng.random_range(8..=16)
    } else {
        rng.random_range(16..=20)
    };
    let sha1 = not_before < c.sha1_until.min(date("2015-12-01"))
        && matches!(c.def.key, KeyKind::Rsa(_))
        && rng.random_bool(if not_before < date("2014-06-01") {
            0.5
        } else {
            0.2
        });
    let san_dns = names::san_set(rng);
    let san_ip = if rng.random_bool(0.02) {
        (0..rng.random_range(1..=2))
            .map(|_| names::public_ip(rng))
            .collect()
    } else {
        Vec::new()
    };
    let subject_cn = if not_before > date("2020-01-01") && rng.random_bool(0.05) {
        None
    } else {
        Some(san_dns[0].clone())
    };
    Issuance {
        ca,
        serial: random_serial(rng, serial_len),
        sha1,
        not_before,
        not_after: not_before + days * DAY - 1,
        subject_cn,
        ov: !c.def.acme && rng.random_bool(0.3),
        san_dns,
        san_ip,
        has_san: true,
        key: typical_key(rng),
        logging: typical_logging(rng, c, not_before),
        evidence_delay: between(rng, 20 * 60, 2 * 3600),
        rules: Vec::new(),
        decoy: None,
        broken: false,
        infra: None,
        without_urls: false,
    }
}

/// A compliant certificate of a random era and CA.
pub fn background(rng: &mut impl Rng, cas: &Authorities) -> Issuance {
    let nb = background_not_before(rng);
    base(
        rng,
        cas,
        &Want {
            from: nb,
            to: nb + 1,
            ca: &|_| true,
        },
    )
}

fn plain(rng: &mut impl Rng, cas: &Authorities, from: &str, to: &str) -> Issuance {
    let (from, to) = (date(from), date(to).min(NOW - 2 * DAY));
    let mut is = base(
        rng,
        cas,
        &Want {
            from,
            to,
            ca: &plain_ca,
        },
    );
    is.sha1 = false;
    is
}

/// A WoSign certificate issued between the two days, logged as given.
fn wosign(
    rng: &mut impl Rng,
    cas: &Authorities,
    from: &str,
    to: &str,
    logging: Logging,
) -> Issuance {
    let want = Want {
        from: date(from),
        to: date(to),
        ca: &|c: &Ca| c.def.wosign,
    };
    let mut is = base(rng, cas, &want);
    is.logging = logging;
    is
}

fn with_evidence(rng: &mut impl Rng, is: &mut Issuance) {
    if is.logging == Logging::FinalWithoutScts {
        is.logging = if rng.random_bool(0.6) {
            Logging::Pair { final_scts: true }
        } else {
            Logging::FinalWithScts
        };
    }
}

/// A certificate planted to trigger the rule `rule` (one of [`PLANTS`]).
/// One arm per rule, kept in one match: each reads as the anomaly it
/// plants, and the rules' list reads as a table.
/// For `duplicate_serial` this is the first of the two certificates; see
/// [`duplicate_of`].
pub fn plant(rng: &mut impl Rng, cas: &Authorities, rule: &'static str) -> Issuance {
    let mut is;
    match rule {
        "sha1_after_2016" => {
            is = plain(rng, cas, "2016-01-01", "2017-12-31");
            is.sha1 = true;
        }
        "backdated" => {
            is = plain(rng, cas, "2015-01-01", "2026-09-01");
            with_evidence(rng, &mut is);
            is.evidence_delay = between(rng, 3 * DAY, 60 * DAY);
        }
        "sha1_backdated_past_deadline" => {
            is = plain(rng, cas, "2015-11-15", "2015-12-28");
            is.sha1 = true;
            with_evidence(rng, &mut is);
            let evidence = between(rng, date("2016-01-01"), date("2016-02-28"));
            is.evidence_delay = evidence - is.not_before;
            is.rules.push("backdated");
        }
        "public_suffix_san" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            let suffix = names::PLANTED_SUFFIXES
                .iter()
                .find(|s| !is.san_dns.iter().any(|n| n.ends_with(&format!(".{s}"))))
                .expect("five suffixes cannot all be taken");
            let at = rng.random_range(1..=is.san_dns.len());
            is.san_dns.insert(at, (*suffix).to_owned());
        }
        "unvalidated_parent_domain" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            let suffix =
                names::PLANTED_SUFFIXES[rng.random_range(0..names::PLANTED_SUFFIXES.len())];
            let child = format!(
                "{}{}.{suffix}",
                ["x", "user", "my"][rng.random_range(0..3)],
                rng.random_range(1..10_000)
            );
            is.san_dns = vec![child.clone(), suffix.to_owned()];
            is.subject_cn = Some(child);
            is.rules.push("public_suffix_san");
        }
        "missing_sct_after_promise" => {
            is = wosign(
                rng,
                cas,
                "2016-07-05",
                "2016-10-20",
                Logging::FinalWithoutScts,
            );
        }
        "validity_too_long" => {
            is = plain(rng, cas, "2013-01-01", "2026-10-01");
            is.not_before = early_midnight(is.not_before);
            let cap_end = validity_cap_end(is.not_before);
            is.not_after = if rng.random_bool(0.3) {
                cap_end
            } else {
                cap_end + between(rng, DAY, 60 * DAY)
            };
        }
        "rsa_key_too_small" => {
            is = plain(rng, cas, "2013-01-01", "2013-12-31");
            is.key = KeyKind::Rsa(1024);
            is.not_after = is.not_before + 730 * DAY - 1;
        }
        "duplicate_serial" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            is.logging = Logging::FinalWithoutScts;
        }
        "internal_name" => {
            is = plain(rng, cas, "2016-01-01", "2026-11-01");
            if rng.random_bool(0.6) {
                let name = names::internal_name(rng);
                let at = rng.random_range(0..=is.san_dns.len());
                is.san_dns.insert(at, name);
            } else {
                is.san_ip.push(names::reserved_ip(rng));
            }
        }
        "underscore_in_dnsname" => {
            is = plain(rng, cas, "2019-04-01", "2026-11-01");
            let domain = names::registrable(rng);
            is.san_dns.push(format!(
                "{}_{}.{domain}",
                ["my", "dev", "srv"][rng.random_range(0..3)],
                rng.random_range(1..100)
            ));
        }
        "wildcard_misplaced" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            let domain = names::registrable(rng);
            let bad = match rng.random_range(0..3) {
                0 => format!("f*.{domain}"),
                1 => format!("www.*.{domain}"),
                _ => format!("*.*.{domain}"),
            };
            is.san_dns.push(bad);
        }
        "cn_not_in_san" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            let domain = names::registrable(rng);
            is.san_dns = vec![domain.clone(), format!("mail.{domain}")];
            is.subject_cn = Some(format!("www.{domain}"));
        }
        "san_missing" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            is.has_san = false;
            is.subject_cn = Some(is.san_dns[0].trim_start_matches("*.").to_owned());
            is.san_dns.clear();
            is.san_ip.clear();
            // No SAN at all also means the CN is not among the SANs.
            is.rules.push("cn_not_in_san");
        }
        "low_serial_entropy" => {
            is = plain(rng, cas, "2016-10-01", "2026-11-01");
            let len = rng.random_range(6..=7);
            is.serial = random_serial(rng, len);
        }
        "foreign_issuance_infrastructure" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            // The busiest CA of another organisation active then: its
            // hosts are its own by a wide margin at any dump size.
            let own = cas.all[is.ca].def.org();
            let other = cas
                .active(is.not_before, |c| c.def.org() != own)
                .into_iter()
                .max_by_key(|&i| (cas.all[i].def.weight, std::cmp::Reverse(i)));
            is.infra = Some(other.expect("another organisation's CA is always active"));
        }
        other => unreachable!("no plant for {other}"),
    }
    is.rules.insert(0, rule);
    // A name at a suffix of the PSL's private section (github.io) is
    // private_suffix_san's; one of the ICANN section (co.uk) public_suffix_san's.
    let private = is.san_dns.iter().any(|n| {
        let n = n.trim_start_matches("*.");
        crate::dns::is_public_suffix(n) && crate::dns::public_suffix_section(n) == Some("private")
    });
    for r in is.rules.iter_mut() {
        if *r == "public_suffix_san" && private {
            *r = "private_suffix_san";
        }
    }
    is
}

/// The second certificate of a `duplicate_serial` plant: same CA and serial,
/// other names, issued within a few days.
pub fn duplicate_of(rng: &mut impl Rng, cas: &Authorities, first: &Issuance) -> Issuance {
    let from = first.not_before;
    let mut is = base(
        rng,
        cas,
        &Want {
            from,
            to: (from + 5 * DAY).min(NOW - 2 * DAY),
            ca: &|_| true,
        },
    );
    is.ca = first.ca;
    is.sha1 = false;
    is.serial = first.serial.clone();
    is.logging = Logging::FinalWithoutScts;
    // The first certificate's validity, unless the later notBefore falls in an
    // era with a lower cap.
    is.not_after = (is.not_before + (first.not_after - first.not_before))
        .min(validity_cap_end(is.not_before) - DAY);
    is.rules = vec!["duplicate_serial"];
    is
}

/// A compliant certificate close to a rule (one of [`DECOYS`]).
pub fn decoy(rng: &mut impl Rng, cas: &Authorities, which: &'static str) -> Issuance {
    let mut is;
    match which {
        "sha1_before_2016" => {
            is = plain(rng, cas, "2013-01-01", "2015-11-30");
            is.sha1 = true;
        }
        "www_parent" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            let domain = names::registrable(rng);
            is.san_dns = vec![domain.clone(), format!("www.{domain}")];
            is.subject_cn = Some(domain);
        }
        "validity_at_cap" => {
            is = plain(rng, cas, "2013-01-01", "2026-10-01");
            is.not_before = early_midnight(is.not_before);
            is.not_after = validity_cap_end(is.not_before) - 1;
        }
        "backdated_47h" => {
            is = plain(rng, cas, "2015-01-01", "2026-11-01");
            with_evidence(rng, &mut is);
            is.evidence_delay = 47 * 3600;
        }
        "wosign_before_promise" => {
            is = wosign(
                rng,
                cas,
                "2015-01-01",
                "2016-07-03",
                Logging::FinalWithoutScts,
            );
        }
        "wosign_precert_logged" => {
            is = wosign(
                rng,
                cas,
                "2016-07-05",
                "2016-10-20",
                Logging::Pair { final_scts: false },
            );
        }
        "underscore_before_2019" => {
            is = plain(rng, cas, "2016-01-01", "2019-03-01");
            let domain = names::registrable(rng);
            is.san_dns
                .push(format!("_dmarc{}.{domain}", rng.random_range(1..100)));
        }
        "rsa1024_expired_2013" => {
            is = plain(rng, cas, "2013-01-01", "2013-03-31");
            is.key = KeyKind::Rsa(1024);
            is.not_after = is.not_before + between(rng, 180, 270) * DAY;
        }
        "internal_name_expired" => {
            is = plain(rng, cas, "2013-01-01", "2014-06-30");
            is.not_after = is.not_before + 365 * DAY - 1;
            let name = names::internal_name(rng);
            is.san_dns.push(name);
        }
        "short_serial_before_2016_09_30" => {
            is = plain(rng, cas, "2013-01-01", "2016-09-01");
            let len = rng.random_range(6..=7);
            is.serial = random_serial(rng, len);
        }
        "ip_common_name" => {
            is = plain(rng, cas, "2013-01-01", "2026-11-01");
            let ip = names::public_ip(rng);
            is.san_ip = vec![ip];
            is.subject_cn = Some(ip.to_string());
        }
        "sha1_prompt_before_2016" => {
            is = plain(rng, cas, "2015-12-01", "2015-12-30");
            is.sha1 = true;
            with_evidence(rng, &mut is);
            is.evidence_delay = between(rng, 10 * 60, 2 * 3600);
        }
        "sibling_ca_infrastructure" => {
            // A Let's Encrypt R3 certificate naming the URLs of Let's
            // Encrypt's X3: another CA's hosts, but its own organisation's.
            let want = Want {
                from: date("2021-01-01"),
                to: date("2025-11-01"),
                ca: &|c: &Ca| c.def.id == "le_r3",
            };
            is = base(rng, cas, &want);
            is.infra = cas.all.iter().position(|c| c.def.id == "le_x3");
        }
        other => unreachable!("no decoy {other}"),
    }
    is.decoy = Some(which);
    is
}

/// What a group of certificates sharing one notBefore is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// `notbefore_template`: the notBefore is a template; issuance (the
    /// earliest evidence) spreads over weeks.
    Template,
    /// A decoy: a burst of issuance within the same second, all logged
    /// within hours.
    Burst,
}

/// Hours within which a template group's prompt members are logged, and
/// days after which its late members are (both clear of the 48-hour
/// `backdated` tolerance and the 3-day `issuer_backdating_profile` line).
const PROMPT_MAX: i64 = 40 * 3600;
const LATE_MIN: i64 = 4 * DAY;

/// `size` certificates of CA `ca` with notBefore `t` (a group of `kind`),
/// every one with evidence of its issuance.
pub fn group(
    rng: &mut impl Rng,
    cas: &Authorities,
    ca: usize,
    t: i64,
    size: usize,
    kind: GroupKind,
) -> Vec<Issuance> {
    let id = cas.all[ca].def.id;
    let want = Want {
        from: t,
        to: t + 1,
        ca: &|c: &Ca| c.def.id == id,
    };
    (0..size)
        .map(|k| {
            let mut is = base(rng, cas, &want);
            is.sha1 = false;
            with_evidence(rng, &mut is);
            match kind {
                GroupKind::Template => {
                    // The first is prompt and the second weeks late, so the
                    // evidence always spans more than the rule's 7 days.
                    let late = k == 1 || (k != 0 && rng.random_bool(0.5));
                    is.evidence_delay = if late {
                        between(rng, LATE_MIN, 40 * DAY)
                    } else {
                        between(rng, 30 * 60, PROMPT_MAX)
                    };
                    is.rules.push("notbefore_template");
                    if is.evidence_delay > 48 * 3600 {
                        is.rules.push("backdated");
                    }
                }
                GroupKind::Burst => {
                    is.evidence_delay = between(rng, 20 * 60, 2 * 3600);
                    is.decoy = Some("notbefore_burst");
                }
            }
            is
        })
        .collect()
}

/// A certificate of `ca` with notBefore in `[from, to)`: of a month where a
/// share of that CA's issuance is backdated (`late`: by 4 to 40 days, the
/// `backdated` rule's and perhaps `issuer_backdating_profile`'s), or only
/// by 40 to 47 hours (`within_tolerance`: a decoy), or neither.
pub fn in_month(
    rng: &mut impl Rng,
    cas: &Authorities,
    ca: usize,
    (from, to): (i64, i64),
    late: bool,
    within_tolerance: bool,
) -> Issuance {
    let id = cas.all[ca].def.id;
    let want = Want {
        from,
        to,
        ca: &|c: &Ca| c.def.id == id,
    };
    let mut is = base(rng, cas, &want);
    is.sha1 = false;
    if late {
        with_evidence(rng, &mut is);
        is.evidence_delay = between(rng, LATE_MIN, 40 * DAY);
        is.rules.push("backdated");
    } else if within_tolerance {
        with_evidence(rng, &mut is);
        is.evidence_delay = between(rng, PROMPT_MAX, 47 * 3600);
        is.decoy = Some("backdated_within_tolerance");
    }
    is
}
