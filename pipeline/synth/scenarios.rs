//! Patterns across an issuer's output, planted once per dump and placed
//! before any page is generated, so that pages stay independent:
//!
//! - groups of certificates of one CA sharing one notBefore second, each
//!   group in one page: templates (`notbefore_template`, evidence spread
//!   over weeks) and bursts (a decoy: all logged within hours). Their
//!   (CA, notBefore) keys are reserved: no other certificate takes them.
//! - a CA month where a tenth of the issuance is backdated by days (what
//!   `issuer_backdating_profile` looks for), and another where a tenth is
//!   backdated only by 40 to 47 hours (a decoy).
//!
//! Whether a CA month is a backdating profile depends on everything else
//! issued in it, so the generator counts, per CA and month, the entries
//! with evidence of issuance it writes, and decides after all pages are
//! written (see [`MonthStats`]).
//!
//! Likewise whether a certificate made with another organisation's systems
//! is `foreign_issuance_infrastructure`'s depends on how many entries of
//! each organisation name each OCSP and CRL host in the whole dump (see
//! [`HostStats`]).

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::authorities::Authorities;
use super::issuance::{plain_ca, GroupKind};
use super::time::{date, DAY, NOW};

/// `issuer_backdating_profile`'s defaults (queries/issuer_backdating_profile.sql):
/// an entry is late past this many seconds after its notBefore.
pub const LATE_AFTER: i64 = 3 * DAY;
/// At least half of a month's entries must be within this many seconds.
pub const PROMPT_WITHIN: i64 = 24 * 3600;
/// Entries with evidence a CA month needs to be judged.
pub const MIN_ENTRIES: u64 = 100;

/// Share of issuances redirected into the backdating month, and into the
/// tolerance month; a tenth of each is backdated.
pub const PROFILE_SHARE: f64 = 0.01;
/// See [`PROFILE_SHARE`].
pub const TOLERANCE_SHARE: f64 = 0.005;
/// Share of a scenario month's issuances that are backdated.
pub const BACKDATED_SHARE: f64 = 0.1;

/// A CA and calendar month (UTC) of notBefore.
pub type MonthKey = (usize, i32, u32);

/// The month of `not_before` (Unix seconds) at CA `ca`.
pub fn month_key(ca: usize, not_before: i64) -> MonthKey {
    use chrono::Datelike;
    let d = chrono::DateTime::from_timestamp(not_before, 0).expect("in range");
    (ca, d.year(), d.month())
}

/// A group of certificates sharing one notBefore, placed in one page.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// Index of the CA.
    pub ca: usize,
    /// The shared notBefore.
    pub not_before: i64,
    /// Certificates in it.
    pub size: usize,
    /// Template or burst.
    pub kind: GroupKind,
}

/// A CA's month: `[from, to)` in Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Month {
    /// Index of the CA.
    pub ca: usize,
    /// First second of the month (or of the CA's activity).
    pub from: i64,
    /// First second after it.
    pub to: i64,
}

/// Everything planted across pages.
#[derive(Debug, Clone)]
pub struct Scenarios {
    /// The group of a page, by (log, page number).
    pub groups: BTreeMap<(usize, u64), Group>,
    /// (CA, notBefore) of every group: taken by nothing else.
    pub reserved: Vec<(usize, i64)>,
    /// The month with a backdated tenth.
    pub profile: Month,
    /// The month with a tenth backdated within the tolerance.
    pub tolerance: Month,
}

/// Counts of one CA month: entries with evidence, late ones, prompt ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonthStats {
    /// Entries with evidence of issuance.
    pub entries: u64,
    /// Of them, evidence more than [`LATE_AFTER`] after notBefore.
    pub late: u64,
    /// Of them, evidence within [`PROMPT_WITHIN`].
    pub prompt: u64,
}

impl MonthStats {
    /// Adds an entry whose evidence is `delay` seconds after notBefore.
    pub fn add(&mut self, delay: i64) {
        self.entries += 1;
        self.late += u64::from(delay > LATE_AFTER);
        self.prompt += u64::from(delay <= PROMPT_WITHIN);
    }

    /// Adds another page's counts.
    pub fn merge(&mut self, other: &MonthStats) {
        self.entries += other.entries;
        self.late += other.late;
        self.prompt += other.prompt;
    }

    /// Whether the month is a backdating profile: enough entries, more than
    /// 1% late (the 99th percentile past the line), half prompt (the median
    /// within it).
    pub fn is_profile(&self) -> bool {
        self.entries >= MIN_ENTRIES
            && self.late * 100 > self.entries
            && self.prompt * 2 >= self.entries
    }
}

/// `foreign_issuance_infrastructure`'s defaults
/// (queries/foreign_issuance_infrastructure.sql): entries of the owning
/// organisation that must name a host.
pub const OWNER_MIN_ENTRIES: u64 = 20;
/// The most a certificate's own organisation may name a foreign host, as a
/// percentage of its most-named host's entries.
pub const MAX_OWN_PERCENT: u64 = 1;

/// Entries naming each (issuer organisation, OCSP or CRL URL host), counted
/// as the rule counts them: each subscriber entry once per distinct host.
#[derive(Debug, Clone, Default)]
pub struct HostStats {
    counts: HashMap<(&'static str, String), u64>,
}

impl HostStats {
    /// Adds an entry of organisation `org` naming `hosts` (distinct).
    pub fn add(&mut self, org: &'static str, hosts: &[String]) {
        for h in hosts {
            *self.counts.entry((org, h.clone())).or_default() += 1;
        }
    }

    /// Adds another page's counts.
    pub fn merge(&mut self, other: &HostStats) {
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
    }

    /// Whether an entry of `org` naming `hosts` is the rule's: one of the
    /// hosts is named most (ties: the smallest organisation name) by another
    /// organisation, on at least [`OWNER_MIN_ENTRIES`] entries, and by `org`
    /// on fewer than [`MAX_OWN_PERCENT`] % of its most-named host's entries.
    pub fn is_foreign(&self, org: &str, hosts: &[String]) -> bool {
        let own = |host: &str| {
            self.counts
                .get(&(org, host.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        let own_top = self
            .counts
            .iter()
            .filter(|((o, _), _)| *o == org)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        hosts.iter().any(|host| {
            let owner = self
                .counts
                .iter()
                .filter(|((_, h), _)| h == host)
                .max_by(|((oa, _), na), ((ob, _), nb)| na.cmp(nb).then(ob.cmp(oa)));
            owner.is_some_and(|((owner, _), n)| {
                *owner != org
                    && *n >= OWNER_MIN_ENTRIES
                    && own(host) * 100 < MAX_OWN_PERCENT * own_top
            })
        })
    }
}

/// Merges per-page month counts.
pub fn merge_months(
    into: &mut HashMap<MonthKey, MonthStats>,
    from: &HashMap<MonthKey, MonthStats>,
) {
    for (k, v) in from {
        into.entry(*k).or_default().merge(v);
    }
}

/// A random month of a plain CA between 2017 and 2025, other than `not`.
fn pick_month(rng: &mut ChaCha8Rng, cas: &Authorities, not: Option<&Month>) -> Month {
    let plain: Vec<usize> = cas.active(date("2021-06-01"), plain_ca);
    loop {
        let ca = plain[rng.random_range(0..plain.len())];
        let c = &cas.all[ca];
        let from = c.from.max(date("2017-01-01"));
        let to = c.to.min(date("2025-12-01"));
        if from >= to {
            continue;
        }
        let (_, y, m) = month_key(ca, rng.random_range(from..to));
        let start = date(&format!("{y}-{m:02}-01"));
        let next = if m == 12 {
            date(&format!("{}-01-01", y + 1))
        } else {
            date(&format!("{y}-{:02}-01", m + 1))
        };
        let month = Month {
            ca,
            from: start.max(c.from),
            to: next.min(c.to),
        };
        if not.is_none_or(|n| n.ca != month.ca || n.from != month.from) {
            return month;
        }
    }
}

impl Scenarios {
    /// Plans the scenarios of a dump of `entries` entries whose pages are
    /// `pages` ((log, number, entries in it, whether it may hold a group)).
    pub fn plan(
        rng: &mut ChaCha8Rng,
        cas: &Authorities,
        entries: u64,
        plant_rate: f64,
        pages: &[(usize, u64, u64, bool)],
    ) -> Scenarios {
        let profile = pick_month(rng, cas, None);
        let tolerance = pick_month(rng, cas, Some(&profile));
        let templates = ((entries as f64 * plant_rate / 40.0).round() as usize).max(2);
        let bursts = (templates / 2).max(1);
        let eligible: Vec<(usize, u64)> = pages
            .iter()
            .filter(|p| p.3 && p.2 >= 200)
            .map(|p| (p.0, p.1))
            .collect();
        let total = (templates + bursts).min(eligible.len());
        let plain: Vec<usize> = (0..cas.all.len())
            .filter(|&i| cas.all[i].def.parent.is_some() && plain_ca(&cas.all[i]))
            .collect();
        let mut groups = BTreeMap::new();
        let mut reserved = Vec::new();
        for g in 0..total {
            let kind = if g % 3 == 2 {
                GroupKind::Burst
            } else {
                GroupKind::Template
            };
            let ca = plain[rng.random_range(0..plain.len())];
            let c = &cas.all[ca];
            let (from, to) = (c.from.max(date("2015-03-01")), c.to.min(NOW - 45 * DAY));
            if from >= to {
                continue;
            }
            let not_before = rng.random_range(from..to);
            if reserved.contains(&(ca, not_before)) {
                continue;
            }
            let size = match kind {
                GroupKind::Template => rng.random_range(20..=26),
                GroupKind::Burst => rng.random_range(20..=30),
            };
            reserved.push((ca, not_before));
            groups.insert(
                eligible[g * eligible.len() / total],
                Group {
                    ca,
                    not_before,
                    size,
                    kind,
                },
            );
        }
        Scenarios {
            groups,
            reserved,
            profile,
            tolerance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator's judgement of a month uses the rule's own defaults.
    #[test]
    fn thresholds_are_the_rule_defaults() {
        let sql = include_str!("../../queries/issuer_backdating_profile.sql");
        for (param, value) in [
            ("max_days", LATE_AFTER / DAY),
            ("max_median_hours", PROMPT_WITHIN / 3600),
            ("min_entries", MIN_ENTRIES as i64),
        ] {
            let line = format!("-- param: {param} = {value} |");
            assert!(sql.contains(&line), "{line}");
        }
    }

    #[test]
    fn host_thresholds_are_the_rule_defaults() {
        let sql = include_str!("../../queries/foreign_issuance_infrastructure.sql");
        for (param, value) in [
            ("min_entries", OWNER_MIN_ENTRIES),
            ("max_own_percent", MAX_OWN_PERCENT),
        ] {
            let line = format!("-- param: {param} = {value} |");
            assert!(sql.contains(&line), "{line}");
        }
    }

    #[test]
    fn a_host_is_foreign_when_another_organisation_owns_it_and_this_one_barely_names_it() {
        let hosts = |names: &[&str]| names.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        let mut s = HostStats::default();
        for _ in 0..OWNER_MIN_ENTRIES {
            s.add("WoSign", &hosts(&["ocsp.wosign.com", "crl.wosign.com"]));
        }
        for _ in 0..100 {
            s.add("StartCom", &hosts(&["ocsp.startssl.com"]));
        }
        s.add("StartCom", &hosts(&["ocsp.wosign.com"]));
        assert!(
            !s.is_foreign("StartCom", &hosts(&["ocsp.wosign.com"])),
            "1 against 100 is not under 1%"
        );
        s.add("StartCom", &hosts(&["ocsp.startssl.com"]));
        assert!(
            s.is_foreign("StartCom", &hosts(&["ocsp.wosign.com"])),
            "1 against 101"
        );
        assert!(!s.is_foreign("StartCom", &hosts(&["ocsp.startssl.com"])));
        assert!(
            !s.is_foreign("WoSign", &hosts(&["ocsp.wosign.com"])),
            "its own host"
        );
        // The owner needs its entries: one fewer and nobody owns it enough.
        let mut few = HostStats::default();
        for _ in 0..OWNER_MIN_ENTRIES - 1 {
            few.add("WoSign", &hosts(&["ocsp.wosign.com"]));
        }
        for _ in 0..1000 {
            few.add("StartCom", &hosts(&["ocsp.startssl.com"]));
        }
        few.add("StartCom", &hosts(&["ocsp.wosign.com"]));
        assert!(!few.is_foreign("StartCom", &hosts(&["ocsp.wosign.com"])));
        // Equal counts: the smaller organisation name owns the host.
        let mut tie = HostStats::default();
        for _ in 0..30 {
            tie.add("B", &hosts(&["h"]));
            tie.add("A", &hosts(&["h"]));
        }
        for _ in 0..10_000 {
            tie.add("B", &hosts(&["own.b"]));
        }
        assert!(
            tie.is_foreign("B", &hosts(&["h"])),
            "A's host: 30 of 10,000"
        );
        assert!(!tie.is_foreign("A", &hosts(&["h"])));
    }

    #[test]
    fn a_month_is_a_profile_past_one_percent_with_a_small_median() {
        let mut m = MonthStats::default();
        for _ in 0..198 {
            m.add(3600);
        }
        m.add(LATE_AFTER);
        m.add(LATE_AFTER + 1);
        assert_eq!((m.entries, m.late, m.prompt), (200, 1, 198));
        assert!(!m.is_profile(), "1 of 200 late is not more than 1%");
        m.add(LATE_AFTER + 1);
        assert!(!m.is_profile(), "2 of 201 late is not more than 1% either");
        m.add(LATE_AFTER + 1);
        assert!(m.is_profile(), "3 of 202");
        for _ in 0..203 {
            m.add(PROMPT_WITHIN + 1);
        }
        assert!(!m.is_profile(), "the median is past a day");
    }
}
