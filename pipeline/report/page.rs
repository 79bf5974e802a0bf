//! The report page: the aggregates of [`super::data`] arranged for the
//! reader and rendered with the askama template `report.html`, which
//! escapes every value it inserts. Text from certificates is also passed
//! through [`crate::text::escape`] first, so control characters show as
//! `\xNN` rather than vanish.

use std::collections::BTreeMap;

use askama::Template;
use datafusion::prelude::SessionContext;

use super::charts::{self, month_number};
use super::data::{self, DELAY_BUCKETS, VALIDITY_BUCKETS};
use super::ReportOptions;
use crate::dataset::status::Status;
use crate::error::{Error, Result};
use crate::sql::baseline::StoredRun;

/// Dates rules took effect, marked on the monthly charts.
const MILESTONES: &[(&str, &str)] = &[
    ("2015-04-01", "39-month cap"),
    ("2016-01-01", "SHA-1 ban"),
    ("2016-09-30", "64-bit serials"),
    ("2018-03-01", "825-day cap"),
    ("2019-04-30", "no underscores"),
    ("2020-09-01", "398-day cap"),
    ("2026-03-15", "200-day cap"),
];

/// Shown text: control and bidi characters made visible.
fn shown(s: &str) -> String {
    if s.is_empty() {
        "(no issuer name)".to_owned()
    } else {
        crate::text::escape(s).into_owned()
    }
}

fn day(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn second(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A rule of the run.
pub struct RuleRow {
    id: String,
    severity: String,
    description: String,
    source: String,
    params: String,
    findings: i64,
}

/// A log of the dataset.
pub struct LogRow {
    log: String,
    entries: u64,
    parse_errors: u64,
    rejects: u64,
    ranges: String,
    gaps: String,
    missing: u64,
    first: String,
    last: String,
}

/// A line of the league table.
pub struct LeagueRow {
    anchor: Option<String>,
    issuer: String,
    org: String,
    entries: i64,
    errors: i64,
    warnings: i64,
    notices: i64,
    per_10k: String,
    rules: String,
    first: String,
    last: String,
}

/// An example certificate.
pub struct ExampleRow {
    serial: String,
    names: String,
    subject: String,
    not_before: String,
    crt_sh: String,
    detail: String,
}

/// A rule's examples at an issuer.
pub struct RuleExamples {
    rule: String,
    findings: i64,
    rows: Vec<ExampleRow>,
}

/// A shared notBefore.
pub struct SharedRow {
    not_before: String,
    entries: i64,
    certs: i64,
    span: String,
}

/// One detailed issuer.
pub struct IssuerSection {
    anchor: String,
    issuer: String,
    org: String,
    dn: String,
    entries: i64,
    findings: i64,
    monthly: String,
    examples: Vec<RuleExamples>,
    weekday_hour: String,
    delay: String,
    delay_none: i64,
    validity: String,
    shared: Vec<SharedRow>,
}

/// The page.
#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    data: String,
    run: String,
    generated: String,
    version: String,
    total_entries: u64,
    findings: i64,
    logs: Vec<LogRow>,
    problems: Vec<String>,
    rules: Vec<RuleRow>,
    league: Vec<LeagueRow>,
    heat_map: String,
    heat_note: String,
    sections: Vec<IssuerSection>,
}

/// The rendered page and what it holds.
pub struct Built {
    /// The HTML.
    pub text: String,
    /// Findings of the run.
    pub findings: i64,
    /// Issuers in the league table.
    pub issuers: usize,
    /// Issuers detailed.
    pub detailed: usize,
}

/// Per issuer: findings by severity and rule.
#[derive(Default)]
struct Tally {
    errors: i64,
    warnings: i64,
    notices: i64,
    rules: BTreeMap<String, i64>,
    first: Option<i64>,
    last: Option<i64>,
}

impl Tally {
    fn total(&self) -> i64 {
        self.errors + self.warnings + self.notices
    }
}

/// Builds the page for `run` of the dataset open in `ctx`.
pub async fn build(
    ctx: &SessionContext,
    opts: &ReportOptions,
    run: &StoredRun,
    status: &Status,
) -> Result<Built> {
    let entries = data::issuer_entries(ctx).await?;
    let per_rule = data::issuer_rules(ctx, &run.run).await?;
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut rule_totals: BTreeMap<String, i64> = BTreeMap::new();
    for r in &per_rule {
        let t = tallies.entry(r.issuer.clone()).or_default();
        match r.severity.as_str() {
            "error" => t.errors += r.findings,
            "warning" => t.warnings += r.findings,
            _ => t.notices += r.findings,
        }
        *t.rules.entry(r.rule.clone()).or_default() += r.findings;
        *rule_totals.entry(r.rule.clone()).or_default() += r.findings;
        t.first = t.first.min(r.first_not_before).or(r.first_not_before);
        t.last = t.last.max(r.last_not_before);
    }
    let by_name: BTreeMap<&str, &data::IssuerEntries> =
        entries.iter().map(|e| (e.issuer.as_str(), e)).collect();
    // Issuers with findings, most errors first, then the highest rate.
    let rate = |name: &str, t: &Tally| {
        let n = by_name.get(name).map_or(0, |e| e.entries);
        if n > 0 {
            t.total() as f64 * 1e4 / n as f64
        } else {
            0.0
        }
    };
    let mut order: Vec<(&String, &Tally)> = tallies.iter().collect();
    order.sort_by(|a, b| {
        b.1.errors
            .cmp(&a.1.errors)
            .then(rate(b.0, b.1).total_cmp(&rate(a.0, a.1)))
            .then(a.0.cmp(b.0))
    });
    let patterns: Vec<String> = opts.issuer.iter().map(|p| p.to_lowercase()).collect();
    let matches = |name: &str| {
        let e = by_name.get(name);
        let hay = [
            Some(name),
            e.and_then(|e| e.org.as_deref()),
            e.and_then(|e| e.dn.as_deref()),
        ];
        patterns.iter().any(|p| {
            hay.iter()
                .flatten()
                .any(|h| h.to_lowercase().contains(p.as_str()))
        })
    };
    let mut detailed: Vec<String> = order
        .iter()
        .take(opts.top)
        .map(|(n, _)| (*n).clone())
        .collect();
    for e in &entries {
        if matches(&e.issuer) && !detailed.contains(&e.issuer) {
            detailed.push(e.issuer.clone());
        }
    }
    let anchor = |name: &str| {
        detailed
            .iter()
            .position(|d| d == name)
            .map(|i| format!("issuer-{i}"))
    };
    let league: Vec<LeagueRow> = order
        .iter()
        .map(|(name, t)| {
            let e = by_name.get(name.as_str());
            LeagueRow {
                anchor: anchor(name),
                issuer: shown(name),
                org: shown(e.and_then(|e| e.org.as_deref()).unwrap_or("")),
                entries: e.map_or(0, |e| e.entries),
                errors: t.errors,
                warnings: t.warnings,
                notices: t.notices,
                per_10k: format!("{:.1}", rate(name, t)),
                rules: t
                    .rules
                    .iter()
                    .map(|(r, n)| format!("{r} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                first: day(t.first),
                last: day(t.last),
            }
        })
        .collect();
    let findings: i64 = tallies.values().map(Tally::total).sum();

    // The heat map: the league's top 25 against every rule with findings.
    let heat_rows: Vec<&String> = order.iter().take(25).map(|(n, _)| *n).collect();
    let heat_cols: Vec<String> = rule_totals.keys().cloned().collect();
    let values: Vec<Vec<i64>> = heat_rows
        .iter()
        .map(|n| {
            heat_cols
                .iter()
                .map(|r| tallies[*n].rules.get(r).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    let heat_map = if heat_rows.is_empty() {
        String::new()
    } else {
        charts::heat_map(
            &heat_rows.iter().map(|n| shown(n)).collect::<Vec<_>>(),
            &heat_cols,
            &values,
        )?
    };
    let heat_note = if order.len() > heat_rows.len() {
        format!("the first {} issuers of the league table", heat_rows.len())
    } else {
        "every issuer with findings".to_owned()
    };

    let sections = sections(ctx, &run.run, &detailed, &tallies, &by_name).await?;
    let rules = rule_rows(run, &rule_totals);
    let logs = status
        .logs
        .iter()
        .map(|l| LogRow {
            log: shown(&l.log),
            entries: l.entries,
            parse_errors: l.parse_errors,
            rejects: l.rejects,
            ranges: l.ranges.clone(),
            gaps: if l.gaps.is_empty() {
                "none".to_owned()
            } else {
                l.gaps.clone()
            },
            missing: l.missing,
            first: l.first_entry_time.clone().unwrap_or_default(),
            last: l.last_entry_time.clone().unwrap_or_default(),
        })
        .collect();
    let page = Page {
        data: crate::text::path(&opts.data),
        run: run.run.clone(),
        generated: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        version: crate::build_info::VERSION.to_owned(),
        total_entries: status.logs.iter().map(|l| l.entries).sum(),
        findings,
        logs,
        problems: status.problems.iter().map(|p| shown(p)).collect(),
        rules,
        league,
        heat_map,
        heat_note,
        sections,
    };
    let text = page
        .render()
        .map_err(|e| Error::Internal(format!("rendering the report: {e}")))?;
    Ok(Built {
        text,
        findings,
        issuers: tallies.len(),
        detailed: detailed.len(),
    })
}

/// The rules the run ran, with their descriptions where this build knows them.
fn rule_rows(run: &StoredRun, totals: &BTreeMap<String, i64>) -> Vec<RuleRow> {
    let (builtin, _) = crate::sql::rules::load_builtin();
    let known: BTreeMap<&str, &crate::sql::rules::Rule> =
        builtin.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut ran: BTreeMap<String, String> = BTreeMap::new();
    for r in run.rules.iter().flatten() {
        let params = r
            .params
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        ran.insert(r.rule.clone(), params);
    }
    for r in totals.keys() {
        ran.entry(r.clone()).or_default();
    }
    ran.into_iter()
        .map(|(id, params)| {
            let rule = known.get(id.as_str());
            RuleRow {
                severity: rule.map_or("", |r| r.severity.as_str()).to_owned(),
                description: rule.map_or(String::new(), |r| r.description.clone()),
                source: rule.map_or(String::new(), |r| r.source.clone()),
                findings: totals.get(&id).copied().unwrap_or(0),
                params,
                id: shown(&id),
            }
        })
        .collect()
}

/// The detailed sections of `issuers`.
async fn sections(
    ctx: &SessionContext,
    run: &str,
    issuers: &[String],
    tallies: &BTreeMap<String, Tally>,
    by_name: &BTreeMap<&str, &data::IssuerEntries>,
) -> Result<Vec<IssuerSection>> {
    if issuers.is_empty() {
        return Ok(Vec::new());
    }
    let months = data::months(ctx, run, issuers).await?;
    let examples = data::examples(ctx, run, issuers, 3).await?;
    let forensics = data::forensics(ctx, issuers).await?;
    let shared = data::shared_not_before(ctx, issuers, 5, 8).await?;
    // One time axis for every issuer's panels.
    let span = months
        .iter()
        .map(|m| month_number(m.month))
        .fold(None, |acc: Option<(i64, i64)>, m| {
            Some(acc.map_or((m, m), |(a, b)| (a.min(m), b.max(m))))
        })
        .unwrap_or((2016 * 12, 2016 * 12));
    let markers: Vec<(i64, &str)> = MILESTONES
        .iter()
        .map(|(d, label)| {
            let ms = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map(|d| {
                    d.and_hms_opt(0, 0, 0)
                        .unwrap_or_default()
                        .and_utc()
                        .timestamp_millis()
                })
                .unwrap_or(0);
            (month_number(ms), *label)
        })
        .collect();
    let mut out = Vec::with_capacity(issuers.len());
    for (i, name) in issuers.iter().enumerate() {
        let tally = tallies.get(name);
        let mut series: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
        for m in months.iter().filter(|m| &m.issuer == name) {
            series
                .entry(m.rule.as_str())
                .or_default()
                .push((month_number(m.month), m.findings));
        }
        let series: Vec<(String, Vec<(i64, i64)>)> =
            series.into_iter().map(|(r, p)| (r.to_owned(), p)).collect();
        let monthly = if series.is_empty() {
            String::new()
        } else {
            charts::small_multiples(&series, span, &markers)?
        };
        let mut by_rule: BTreeMap<&str, Vec<ExampleRow>> = BTreeMap::new();
        for e in examples.iter().filter(|e| &e.issuer == name) {
            let names: Vec<String> = e
                .san_first
                .iter()
                .flatten()
                .flatten()
                .map(|n| shown(n))
                .collect();
            let more = e.san_count.unwrap_or(0) - names.len() as i64;
            by_rule
                .entry(e.rule.as_str())
                .or_default()
                .push(ExampleRow {
                    serial: e.serial.clone().unwrap_or_default(),
                    names: if more > 0 {
                        format!("{} (+{more})", names.join(", "))
                    } else {
                        names.join(", ")
                    },
                    subject: shown(e.subject_dn.as_deref().unwrap_or("")),
                    not_before: day(e.not_before),
                    crt_sh: e.crt_sh.clone().unwrap_or_default(),
                    detail: shown(e.detail.as_deref().unwrap_or("")),
                });
        }
        let examples = by_rule
            .into_iter()
            .map(|(rule, rows)| RuleExamples {
                findings: tally.and_then(|t| t.rules.get(rule)).copied().unwrap_or(0),
                rule: rule.to_owned(),
                rows,
            })
            .collect();
        let buckets = |which: &str| -> Vec<&data::Bucket> {
            forensics
                .get(which)
                .map(|v| v.iter().filter(|b| &b.issuer == name).collect())
                .unwrap_or_default()
        };
        let mut grid = [[0i64; 24]; 7];
        for b in buckets("weekday_hour") {
            if let Some(k) = b.bucket.filter(|k| (0..168).contains(k)) {
                grid[(k / 24) as usize][(k % 24) as usize] += b.entries;
            }
        }
        let histogram = |which: &str, bounds: &[(i64, &str)]| {
            let mut counts = vec![0i64; bounds.len()];
            let mut none = 0;
            for b in buckets(which) {
                match b.bucket {
                    Some(k) if (0..bounds.len() as i64).contains(&k) => {
                        counts[k as usize] += b.entries
                    }
                    _ => none += b.entries,
                }
            }
            (counts, none)
        };
        let (delays, delay_none) = histogram("delay", DELAY_BUCKETS);
        let (validity, _) = histogram("validity", VALIDITY_BUCKETS);
        let labels = |b: &[(i64, &'static str)]| b.iter().map(|x| x.1).collect::<Vec<&str>>();
        // Past 3 days is what the backdating rules look at.
        let late_from = DELAY_BUCKETS.iter().position(|b| b.0 > 3 * 86_400_000);
        let e = by_name.get(name.as_str());
        out.push(IssuerSection {
            anchor: format!("issuer-{i}"),
            issuer: shown(name),
            org: shown(e.and_then(|e| e.org.as_deref()).unwrap_or("")),
            dn: shown(e.and_then(|e| e.dn.as_deref()).unwrap_or("")),
            entries: e.map_or(0, |e| e.entries),
            findings: tally.map_or(0, Tally::total),
            monthly,
            examples,
            weekday_hour: charts::weekday_hour(&grid)?,
            delay: charts::bars(&labels(DELAY_BUCKETS), &delays, late_from)?,
            delay_none,
            validity: charts::bars(&labels(VALIDITY_BUCKETS), &validity, None)?,
            shared: shared
                .iter()
                .filter(|s| &s.issuer == name)
                .map(|s| SharedRow {
                    not_before: second(s.not_before),
                    entries: s.entries,
                    certs: s.certs,
                    span: match (s.first_evidence, s.last_evidence) {
                        (Some(a), Some(b)) => format!("{:.1} days", (b - a) as f64 / 86_400_000.0),
                        _ => "no evidence".to_owned(),
                    },
                })
                .collect(),
        });
    }
    Ok(out)
}
