//! What the report shows, asked of the dataset as aggregates: a few
//! GROUP BYs over `certs` and one stored run of `findings`, never the rows
//! themselves, so memory stays bounded by the session's limit whatever the
//! dataset's size.

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::error::Result;
use crate::sql::rows::query_rows;

/// How an issuer is named, as `check`'s summary names it (an issuer with
/// no name at all as '').
static ISSUER: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("coalesce({}, '')", crate::sql::check::ISSUER_NAME));

/// Earliest evidence of issuance minus notBefore, in milliseconds (NULL
/// without evidence), as the rules compute it.
const DELAY_MS: &str = "CAST(least(array_min(sct_timestamps), \
     CASE WHEN entry_type = 'precert' THEN entry_timestamp END) AS BIGINT) \
     - CAST(not_before AS BIGINT)";

/// A SQL string literal of `s`.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `issuer IN (...)` of the issuer names `names` (FALSE for none).
fn issuer_in(names: &[String]) -> String {
    let issuer = ISSUER.as_str();
    if names.is_empty() {
        return "FALSE".to_owned();
    }
    let list: Vec<String> = names.iter().map(|n| literal(n)).collect();
    format!("{issuer} IN ({})", list.join(", "))
}

/// One issuer's entries in `certs`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuerEntries {
    /// Its name.
    pub issuer: String,
    /// Its organisation, when it has one.
    pub org: Option<String>,
    /// Its DN.
    pub dn: Option<String>,
    /// Its entries (a precertificate and its certificate are two).
    pub entries: i64,
}

/// Findings of one rule at one issuer.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuerRule {
    /// The issuer's name.
    pub issuer: String,
    /// The rule.
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// Findings.
    pub findings: i64,
    /// Earliest and latest notBefore among them (ms).
    pub first_not_before: Option<i64>,
    /// See `first_not_before`.
    pub last_not_before: Option<i64>,
}

/// Findings of a rule at an issuer in one month of notBefore.
#[derive(Debug, Clone, Deserialize)]
pub struct MonthCount {
    /// The issuer's name.
    pub issuer: String,
    /// The rule.
    pub rule: String,
    /// First millisecond of the month (UTC).
    pub month: i64,
    /// Findings.
    pub findings: i64,
}

/// An example finding.
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    /// The issuer's name.
    pub issuer: String,
    /// The rule.
    pub rule: String,
    /// Serial, hex.
    pub serial: Option<String>,
    /// Subject DN.
    pub subject_dn: Option<String>,
    /// The first SAN names.
    pub san_first: Option<Vec<Option<String>>>,
    /// SAN names in all.
    pub san_count: Option<i64>,
    /// The crt.sh link.
    pub crt_sh: Option<String>,
    /// notBefore (ms).
    pub not_before: Option<i64>,
    /// What the rule says.
    pub detail: Option<String>,
}

/// A count in a bucket of a forensic chart of one issuer.
#[derive(Debug, Clone, Deserialize)]
pub struct Bucket {
    /// The issuer's name.
    pub issuer: String,
    /// The bucket (a weekday and hour as `d*24+h`, or a bucket number).
    pub bucket: Option<i64>,
    /// Entries in it.
    pub entries: i64,
}

/// A notBefore shared by several entries of one issuer.
#[derive(Debug, Clone, Deserialize)]
pub struct SharedNotBefore {
    /// The issuer's name.
    pub issuer: String,
    /// The notBefore (ms).
    pub not_before: i64,
    /// Entries with it.
    pub entries: i64,
    /// Distinct certificates (tbs_sha256) with it.
    pub certs: i64,
    /// Earliest and latest evidence of issuance among them (ms).
    pub first_evidence: Option<i64>,
    /// See `first_evidence`.
    pub last_evidence: Option<i64>,
}

/// Bucket upper bounds (ms, exclusive) of the evidence-delay histogram;
/// bucket 0 is "before notBefore", the last "more than 90 days".
pub const DELAY_BUCKETS: &[(i64, &str)] = &[
    (0, "before"),
    (3_600_000, "< 1 h"),
    (6 * 3_600_000, "1-6 h"),
    (24 * 3_600_000, "6-24 h"),
    (48 * 3_600_000, "1-2 d"),
    (72 * 3_600_000, "2-3 d"),
    (7 * 86_400_000, "3-7 d"),
    (30 * 86_400_000, "7-30 d"),
    (90 * 86_400_000, "30-90 d"),
    (i64::MAX, "> 90 d"),
];

/// Bucket upper bounds (days, inclusive) of the validity histogram.
pub const VALIDITY_BUCKETS: &[(i64, &str)] = &[
    (90, "≤ 90 d"),
    (200, "91-200 d"),
    (398, "201-398 d"),
    (825, "399-825 d"),
    (1186, "826-1186 d"),
    (1827, "1187-1827 d"),
    (i64::MAX, "> 5 y"),
];

/// A CASE expression numbering `value`'s bucket among `bounds` (`<` or
/// `<=` each bound); NULL stays NULL.
fn bucket_case(value: &str, bounds: &[(i64, &str)], inclusive: bool) -> String {
    let op = if inclusive { "<=" } else { "<" };
    let mut s = format!("CASE WHEN {value} IS NULL THEN NULL");
    for (i, (bound, _)) in bounds.iter().enumerate() {
        if *bound == i64::MAX {
            s.push_str(&format!(" ELSE {i}"));
        } else {
            s.push_str(&format!(" WHEN {value} {op} {bound} THEN {i}"));
        }
    }
    s.push_str(" END");
    s
}

/// Entries per issuer.
pub async fn issuer_entries(ctx: &SessionContext) -> Result<Vec<IssuerEntries>> {
    let issuer = ISSUER.as_str();
    query_rows(
        ctx,
        "entries per issuer",
        &format!(
            "SELECT {issuer} AS issuer, min(issuer_org) AS org, min(issuer_dn) AS dn, \
             count(*) AS entries FROM certs GROUP BY 1"
        ),
    )
    .await
}

/// `findings` of one run only.
fn run_findings(run: &str) -> String {
    format!("(SELECT * FROM findings WHERE run = {})", literal(run))
}

/// Findings per issuer and rule in `run`.
pub async fn issuer_rules(ctx: &SessionContext, run: &str) -> Result<Vec<IssuerRule>> {
    let issuer = ISSUER.as_str();
    query_rows(
        ctx,
        "findings per issuer and rule",
        &format!(
            "SELECT {issuer} AS issuer, rule, min(severity) AS severity, count(*) AS findings, \
               CAST(min(not_before) AS BIGINT) AS first_not_before, \
               CAST(max(not_before) AS BIGINT) AS last_not_before \
             FROM {} f GROUP BY 1, 2",
            run_findings(run)
        ),
    )
    .await
}

/// Findings per month of notBefore, rule and issuer, for `issuers`.
pub async fn months(
    ctx: &SessionContext,
    run: &str,
    issuers: &[String],
) -> Result<Vec<MonthCount>> {
    let issuer = ISSUER.as_str();
    query_rows(
        ctx,
        "findings per month",
        &format!(
            "SELECT {issuer} AS issuer, rule, \
               CAST(date_trunc('month', not_before) AS BIGINT) AS month, count(*) AS findings \
             FROM {} f WHERE not_before IS NOT NULL AND {} GROUP BY 1, 2, 3",
            run_findings(run),
            issuer_in(issuers)
        ),
    )
    .await
}

/// Up to `per` example findings per rule and issuer, for `issuers`: the
/// earliest by notBefore.
pub async fn examples(
    ctx: &SessionContext,
    run: &str,
    issuers: &[String],
    per: usize,
) -> Result<Vec<Example>> {
    let issuer = ISSUER.as_str();
    query_rows(
        ctx,
        "example findings",
        &format!(
            "SELECT issuer, rule, serial, subject_dn, san_first, san_count, crt_sh, not_before, detail \
             FROM (SELECT {issuer} AS issuer, rule, serial, subject_dn, san_first, san_count, crt_sh, \
                          CAST(not_before AS BIGINT) AS not_before, detail, \
                          row_number() OVER (PARTITION BY {issuer}, rule \
                                             ORDER BY not_before, log, entry_index) AS k \
                   FROM {} f WHERE {}) \
             WHERE k <= {per} ORDER BY issuer, rule, k",
            run_findings(run),
            issuer_in(issuers)
        ),
    )
    .await
}

/// The forensic histograms of `issuers` over `certs`: notBefore by weekday
/// and hour (bucket `weekday * 24 + hour`, Sunday 0), evidence delay
/// ([`DELAY_BUCKETS`]; NULL without evidence) and validity
/// ([`VALIDITY_BUCKETS`]).
pub async fn forensics(
    ctx: &SessionContext,
    issuers: &[String],
) -> Result<BTreeMap<&'static str, Vec<Bucket>>> {
    let issuer = ISSUER.as_str();
    let filter = format!(
        "NOT coalesce(is_ca, false) AND not_before IS NOT NULL AND {}",
        issuer_in(issuers)
    );
    let validity_days = "(CAST(not_after AS BIGINT) - CAST(not_before AS BIGINT)) / 86400000";
    let questions = [
        (
            "weekday_hour",
            "CAST(extract(dow FROM not_before) AS BIGINT) * 24 + CAST(extract(hour FROM not_before) AS BIGINT)"
                .to_owned(),
        ),
        ("delay", bucket_case(DELAY_MS, DELAY_BUCKETS, false)),
        ("validity", bucket_case(validity_days, VALIDITY_BUCKETS, true)),
    ];
    let mut out = BTreeMap::new();
    for (name, expr) in questions {
        let rows = query_rows(
            ctx,
            name,
            &format!(
                "SELECT {issuer} AS issuer, {expr} AS bucket, count(*) AS entries \
                 FROM certs WHERE {filter} GROUP BY 1, 2"
            ),
        )
        .await?;
        out.insert(name, rows);
    }
    Ok(out)
}

/// Per issuer of `issuers`, the `per` notBefore values most shared (by at
/// least `min` entries), with their certificates and evidence span.
pub async fn shared_not_before(
    ctx: &SessionContext,
    issuers: &[String],
    min: usize,
    per: usize,
) -> Result<Vec<SharedNotBefore>> {
    let issuer = ISSUER.as_str();
    query_rows(
        ctx,
        "shared notBefore values",
        &format!(
            "WITH shared AS ( \
               SELECT not_before FROM certs \
               WHERE NOT coalesce(is_ca, false) AND not_before IS NOT NULL \
               GROUP BY not_before HAVING count(*) >= {min}), \
             grouped AS ( \
               SELECT {issuer} AS issuer, CAST(c.not_before AS BIGINT) AS not_before, count(*) AS entries, \
                      count(DISTINCT tbs_sha256) AS certs, \
                      CAST(min(least(array_min(sct_timestamps), CASE WHEN entry_type = 'precert' THEN entry_timestamp END)) AS BIGINT) AS first_evidence, \
                      CAST(max(least(array_min(sct_timestamps), CASE WHEN entry_type = 'precert' THEN entry_timestamp END)) AS BIGINT) AS last_evidence \
               FROM certs c JOIN shared ON c.not_before = shared.not_before \
               WHERE NOT coalesce(is_ca, false) AND {} \
               GROUP BY 1, 2 HAVING count(*) >= {min}) \
             SELECT issuer, not_before, entries, certs, first_evidence, last_evidence FROM ( \
               SELECT *, row_number() OVER (PARTITION BY issuer ORDER BY certs DESC, not_before) AS k \
               FROM grouped) WHERE k <= {per} ORDER BY issuer, k",
            issuer_in(issuers)
        ),
    )
    .await
}
