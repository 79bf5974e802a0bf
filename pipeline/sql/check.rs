//! `pipeline check`: run the rule files over a dataset, summarise findings per
//! rule and issuer, print them, and store them as `DIR/findings/run=<UTC>/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use futures::{FutureExt, StreamExt};

use crate::dataset::remote::{self, Location, StoreOptions};
use crate::error::{Error, Result};
use crate::sql::output::OutputFormat;
use crate::sql::rules::{self, Rule, RuleError, Severity};
use crate::sql::session::{self, SessionOptions};
use crate::table::schema::{finding_schema, timestamp_type, UTC};
use crate::table::writer::PartitionWriter;

/// The columns every rule must return.
pub const FINDING_COLUMNS: &[&str] = &[
    "log",
    "entry_index",
    "cert_sha256",
    "issuer_cn",
    "not_before",
    "detail",
];

/// What `pipeline check` was asked to do: its command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckOptions {
    /// The dataset directory, or s3://BUCKET/PREFIX (`pipeline publish`).
    /// Repeatable: several datasets checked as one; the findings are stored
    /// in the first.
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Vec<PathBuf>,
    /// Run only this rule (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    pub rules: Vec<String>,
    /// The folder of rule files (every *.sql in it is a rule). Default:
    /// ./queries if it exists, else the rules built into the binary.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules_dir: Option<PathBuf>,
    /// Override a rule parameter, e.g. --param backdated.max_hours=72 (repeatable).
    #[arg(long = "param", value_name = "RULE.NAME=VALUE")]
    pub params: Vec<String>,
    /// Output format of the findings (the summary goes to stderr for csv and json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the findings to a file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Do not store the findings under DIR/findings (a run in which a rule
    /// failed is never stored).
    #[arg(long)]
    pub no_store: bool,
    /// Print each rule's run time (seconds) to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Report only findings absent from the previous stored run (same rule
    /// and cert_sha256); all findings are still stored.
    #[arg(long)]
    pub new: bool,
    /// How many rules run at once. Each rule already uses every core; two
    /// at a time fill the gaps while one waits on a join or an aggregation.
    /// With more than 1, a rule's time in --timings includes sharing the CPU.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// The SQL session: log list and memory.
    #[command(flatten)]
    pub session: SessionOptions,
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Rule id.
    pub rule: String,
    /// Rule severity.
    pub severity: Severity,
    /// The log.
    pub log: Option<String>,
    /// The entry's index.
    pub entry_index: Option<i64>,
    /// Lowercase hex SHA-256 of the certificate.
    pub cert_sha256: Option<String>,
    /// The issuer's CN.
    pub issuer_cn: Option<String>,
    /// not_before, ms since the epoch.
    pub not_before_ms: Option<i64>,
    /// Why.
    pub detail: Option<String>,
}

/// The result of a check run.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every finding, by rule then log and index.
    pub findings: Vec<Finding>,
    /// Rules that ran.
    pub rules_run: Vec<String>,
    /// Rules that could not run.
    pub broken: Vec<RuleError>,
    /// Certificates per issuer_cn in the dataset.
    pub issuer_certs: BTreeMap<String, i64>,
    /// Where the findings were stored.
    pub stored: Vec<PathBuf>,
    /// Seconds each rule took (planning, execution and collecting its findings).
    pub rule_seconds: Vec<(String, f64)>,
    /// With `--new`: the run compared against, and how many findings it already had.
    pub previous_run: Option<(String, usize)>,
}

impl CheckReport {
    /// Whether any finding has error severity.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

fn parse_overrides(params: &[String]) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for p in params {
        let parsed = p
            .split_once('=')
            .and_then(|(key, value)| key.split_once('.').map(|(r, n)| (r, n, value)));
        let Some((rule, name, value)) = parsed else {
            return Err(Error::Usage(format!(
                "--param {p:?}: expected RULE.NAME=VALUE"
            )));
        };
        out.entry(rule.to_owned())
            .or_default()
            .insert(name.to_owned(), value.to_owned());
    }
    Ok(out)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

/// What a failed rule task says: its panic message, or that it was cancelled.
fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into()),
        Err(e) => e.to_string(),
    }
}

fn strings(col: &ArrayRef) -> Result<StringArray> {
    let text = cast(col, &DataType::Utf8).map_err(|e| Error::arrow("reading rule results", e))?;
    Ok(text.as_string::<i32>().clone())
}

/// Turns a rule's result batches into findings, checking the required columns.
fn to_findings(rule: &Rule, batches: &[RecordBatch]) -> std::result::Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    for batch in batches {
        let missing: Vec<&str> = FINDING_COLUMNS
            .iter()
            .copied()
            .filter(|c| column(batch, c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!("result lacks column(s): {}", missing.join(", ")));
        }
        let get = |name: &str| column(batch, name).expect("checked above");
        let conv = |e: Error| e.to_string();
        let log = strings(get("log")).map_err(conv)?;
        let sha = strings(get("cert_sha256")).map_err(conv)?;
        let issuer = strings(get("issuer_cn")).map_err(conv)?;
        let detail = strings(get("detail")).map_err(conv)?;
        let index = cast(get("entry_index"), &DataType::Int64).map_err(|e| e.to_string())?;
        let index: &Int64Array = index.as_primitive();
        let ts_type = timestamp_type();
        let nb = cast(get("not_before"), &ts_type).map_err(|e| e.to_string())?;
        let nb: &TimestampMillisecondArray = nb.as_primitive();
        let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
        for i in 0..batch.num_rows() {
            out.push(Finding {
                rule: rule.id.clone(),
                severity: rule.severity,
                log: opt(&log, i),
                entry_index: (!index.is_null(i)).then(|| index.value(i)),
                cert_sha256: opt(&sha, i),
                issuer_cn: opt(&issuer, i),
                not_before_ms: (!nb.is_null(i)).then(|| nb.value(i)),
                detail: opt(&detail, i),
            });
        }
    }
    Ok(out)
}

/// Runs the rules and gathers the report (nothing is printed or stored).
pub async fn run_rules(ctx: &SessionContext, opts: &CheckOptions) -> Result<CheckReport> {
    let local = Path::new("queries");
    let dir = match &opts.rules_dir {
        Some(d) => Some(d.as_path()),
        None if local.is_dir() => Some(local),
        None => None,
    };
    let (mut rules, broken) = match dir {
        Some(d) => rules::load_dir(d).map_err(|e| Error::io(d, e))?,
        None => rules::load_builtin(),
    };
    let where_from = dir.map_or("the built-in rules".to_owned(), |d| d.display().to_string());
    let mut report = CheckReport {
        broken,
        ..CheckReport::default()
    };
    let overrides = select_rules(opts, &mut rules, &mut report.broken, &where_from)?;
    // Rules run `jobs` at a time, each on its own task (a rule's plan then
    // keeps the cores busy while another one waits on a join or a final
    // aggregation); results come back in rule order.
    let runs = rules.into_iter().map(|rule| {
        let ctx = ctx.clone();
        let params = overrides.get(&rule.id).cloned().unwrap_or_default();
        let id = rule.id.clone();
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = run_rule(&ctx, &rule, &params).await;
            (rule, result, started.elapsed().as_secs_f64())
        });
        // A rule that panics (a bug in a UDF, say) is named in the error.
        task.map(move |joined| {
            joined.map_err(|e| Error::Internal(format!("rule {id} failed: {}", panic_text(e))))
        })
    });
    let mut runs = futures::stream::iter(runs).buffered(usize::from(opts.jobs.max(1)));
    while let Some(run) = runs.next().await {
        let (rule, result, seconds) = run?;
        report.rule_seconds.push((rule.id.clone(), seconds));
        match result {
            Ok(mut findings) => {
                findings.sort_by(|a, b| (&a.log, a.entry_index).cmp(&(&b.log, b.entry_index)));
                report.findings.extend(findings);
                report.rules_run.push(rule.id.clone());
            }
            Err(e) => report.broken.push(e),
        }
    }
    report.issuer_certs = issuer_certs(ctx).await?;
    Ok(report)
}

/// Keeps the rules `--rule` names (all without it), and checks that every
/// `--param` names a rule and a parameter it has. Returns the parameter
/// values per rule.
fn select_rules(
    opts: &CheckOptions,
    rules: &mut Vec<Rule>,
    broken: &mut Vec<RuleError>,
    where_from: &str,
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    if !opts.rules.is_empty() {
        for id in &opts.rules {
            let known = rules.iter().any(|r| &r.id == id)
                || broken
                    .iter()
                    .any(|b| b.path.file_stem().is_some_and(|s| s == id.as_str()));
            if !known {
                return Err(Error::Usage(format!("no rule {id:?} in {where_from}")));
            }
        }
        rules.retain(|r| opts.rules.contains(&r.id));
        broken.retain(|b| {
            opts.rules
                .iter()
                .any(|id| b.path.file_stem().is_some_and(|s| s == id.as_str()))
        });
    }
    let overrides = parse_overrides(&opts.params)?;
    for id in overrides.keys() {
        if !rules.iter().any(|r| &r.id == id) {
            return Err(Error::Usage(format!("--param names unknown rule {id:?}")));
        }
    }
    for rule in rules.iter() {
        let params = overrides.get(&rule.id);
        if let Some(bad) = params
            .into_iter()
            .flat_map(|p| p.keys())
            .find(|k| !rule.params.iter().any(|p| &p.name == *k))
        {
            return Err(Error::Usage(format!(
                "rule {} has no parameter {bad:?}",
                rule.id
            )));
        }
    }
    Ok(overrides)
}

/// Certificates per issuer CN in the dataset (what a rule's findings per
/// issuer are compared with).
async fn issuer_certs(ctx: &SessionContext) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    let counts = ctx
        .sql("SELECT issuer_cn, count(*) AS n FROM certs GROUP BY issuer_cn")
        .await?
        .collect()
        .await?;
    for b in &counts {
        let names = strings(b.column(0))?;
        let n = cast(b.column(1), &DataType::Int64)
            .map_err(|e| Error::arrow("reading finding counts", e))?;
        let n: &Int64Array = n.as_primitive();
        for i in 0..b.num_rows() {
            let name = if names.is_null(i) { "" } else { names.value(i) };
            out.insert(name.to_owned(), n.value(i));
        }
    }
    Ok(out)
}

/// Runs one rule: its findings, or what went wrong, located in its file.
async fn run_rule(
    ctx: &SessionContext,
    rule: &Rule,
    params: &BTreeMap<String, String>,
) -> std::result::Result<Vec<Finding>, RuleError> {
    let (sql, values) = rule.render(params)?;
    let fail = |message: String| RuleError {
        path: rule.path.clone(),
        line: first_code_line(&rule.sql),
        message,
    };
    // A rule's own settings apply to a copy of the session (same tables),
    // so rules running beside it are not affected.
    let own;
    let ctx = if rule.settings.is_empty() {
        ctx
    } else {
        let mut state = ctx.state();
        for s in &rule.settings {
            state
                .config_mut()
                .options_mut()
                .set(&s.key, &s.value)
                .map_err(|e| RuleError {
                    path: rule.path.clone(),
                    line: s.line,
                    message: e.to_string(),
                })?;
        }
        own = SessionContext::new_with_state(state);
        &own
    };
    let batches = ctx
        .sql_with_options(&sql, session::read_only())
        .await
        .and_then(|df| df.with_param_values(session::param_values(&values)))
        .map_err(|e| fail(session::error_message(&e)))?
        .collect()
        .await
        .map_err(|e| fail(session::error_message(&e)))?;
    to_findings(rule, &batches).map_err(fail)
}

/// The line of the first SQL (non-comment, non-blank) line of a rule file.
fn first_code_line(sql: &str) -> usize {
    sql.lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("--")
        })
        .map_or(1, |i| i + 1)
}

/// The findings as a record batch of [`finding_schema`].
pub fn findings_batch(findings: &[Finding], run_time_ms: i64) -> Result<RecordBatch> {
    let s = |f: fn(&Finding) -> Option<&str>| -> ArrayRef {
        Arc::new(findings.iter().map(f).collect::<StringArray>())
    };
    let ts = |v: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(v).with_timezone(UTC))
    };
    let columns: Vec<ArrayRef> = vec![
        s(|f| Some(f.rule.as_str())),
        s(|f| Some(f.severity.as_str())),
        s(|f| f.log.as_deref()),
        Arc::new(
            findings
                .iter()
                .map(|f| f.entry_index)
                .collect::<Int64Array>(),
        ),
        s(|f| f.cert_sha256.as_deref()),
        s(|f| f.issuer_cn.as_deref()),
        ts(findings.iter().map(|f| f.not_before_ms).collect()),
        s(|f| f.detail.as_deref()),
        ts(vec![Some(run_time_ms); findings.len()]),
    ];
    RecordBatch::try_new(finding_schema(), columns)
        .map_err(|e| Error::arrow("building the findings batch", e))
}

/// Stores the findings as `DIR/findings/run=<UTC>/part-00000.parquet`.
pub fn store(data: &Path, batch: &RecordBatch, run: &str) -> Result<Vec<PathBuf>> {
    let dir = data.join("findings").join(format!("run={run}"));
    let mut w = PartitionWriter::new(dir, "part".into(), finding_schema());
    // A run without findings is stored too (an empty file), so that the
    // next `check --new` compares with it and not with an older run.
    w.write_even_if_empty(batch)?;
    w.finish()
}

/// Stores the findings of run `run` in the dataset at `data`: on disk, or
/// on object storage (written to a temporary directory, then uploaded).
async fn store_run(
    data: &Path,
    store_options: &StoreOptions,
    batch: &RecordBatch,
    run: &str,
) -> Result<Vec<PathBuf>> {
    let remote = match remote::locate(data, store_options)? {
        Location::Local(dir) => return store(&dir, batch, run),
        Location::Remote(r) => r,
    };
    let tmp = std::env::temp_dir().join(format!("pipeline-findings-{}-{run}", std::process::id()));
    let result = async {
        let mut stored = Vec::new();
        for file in store(&tmp, batch, run)? {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("part.parquet");
            let rel = format!("findings/run={run}/{name}");
            remote::upload(&remote, &rel, &file).await?;
            stored.push(PathBuf::from(remote.url_of(&rel)));
        }
        Ok(stored)
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// The most recent stored run, and its findings as (rule, cert_sha256).
async fn previous_findings(
    ctx: &SessionContext,
) -> Result<Option<(String, std::collections::HashSet<(String, String)>)>> {
    let batches = ctx
        .sql(
            "SELECT run, rule, cert_sha256 FROM findings \
             WHERE run = (SELECT max(run) FROM findings)",
        )
        .await?
        .collect()
        .await?;
    let mut run = None;
    let mut set = std::collections::HashSet::new();
    for b in &batches {
        let text = |i: usize| {
            cast(b.column(i), &DataType::Utf8)
                .map_err(|e| Error::arrow("reading stored findings", e))
        };
        let (runs, rules, certs) = (text(0)?, text(1)?, text(2)?);
        let (runs, rules, certs) = (
            runs.as_string::<i32>(),
            rules.as_string::<i32>(),
            certs.as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            run.get_or_insert_with(|| runs.value(i).to_owned());
            set.insert((rules.value(i).to_owned(), certs.value(i).to_owned()));
        }
    }
    if run.is_none() {
        // The latest run may have had no findings at all.
        let batches = ctx
            .sql("SELECT max(run) FROM findings")
            .await?
            .collect()
            .await?;
        run = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .filter_map(|b| {
                let c = cast(b.column(0), &DataType::Utf8).ok()?;
                let c = c.as_string::<i32>();
                (!c.is_null(0)).then(|| c.value(0).to_owned())
            })
            .next();
    }
    Ok(run.map(|r| (r, set)))
}

/// Runs `pipeline check`: runs the rules, stores the findings (unless
/// `no_store`), and with `new` keeps only findings no earlier run reported.
/// Returns the report and the findings batch to show; the caller renders
/// both and maps the report to an exit status.
pub async fn run(opts: &CheckOptions) -> Result<(CheckReport, RecordBatch)> {
    if opts.format == OutputFormat::Parquet && opts.out.is_none() {
        return Err(Error::Usage("--format parquet needs --out FILE".into()));
    }
    let ctx = session::open_datasets(&opts.data, &opts.session, false).await?;
    let now = chrono::Utc::now();
    let previous = if opts.new {
        previous_findings(&ctx).await?
    } else {
        None
    };
    let mut report = run_rules(&ctx, opts).await?;
    let batch = findings_batch(&report.findings, now.timestamp_millis())?;
    // A run in which a rule failed (a broken file, a lost executor) is not
    // stored: its findings are partial, and `--new` would later call the
    // missing rule's findings new.
    if !opts.no_store && report.broken.is_empty() {
        let run = now.format("%Y%m%dT%H%M%S%.3fZ").to_string();
        report.stored = store_run(&opts.data[0], &opts.session.store, &batch, &run).await?;
    }
    let batch = if opts.new {
        let (run, seen) = previous.unwrap_or_default();
        let before = report.findings.len();
        report.findings.retain(|f| {
            let key = (f.rule.clone(), f.cert_sha256.clone().unwrap_or_default());
            !seen.contains(&key)
        });
        report.previous_run = Some((run, before - report.findings.len()));
        findings_batch(&report.findings, now.timestamp_millis())?
    } else {
        batch
    };
    let shown = batch
        .project(&[0, 1, 2, 3, 4, 5, 6, 7])
        .map_err(|e| Error::arrow("choosing the findings columns to show", e))?;
    Ok((report, shown))
}
