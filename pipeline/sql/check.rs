//! `pipeline check`: run the rule files over a dataset, summarise findings per
//! rule and issuer, print them, and store them as `DIR/findings/run=<UTC>/`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use futures::{FutureExt, StreamExt};

use crate::dataset::remote::{self, Location, StoreOptions};
use crate::error::{Error, Result};
use crate::sql::baseline::{self, RuleRun};
use crate::sql::evidence::{self, crt_sh_link, Evidence};
use crate::sql::hex_literals::decode_hex;
use crate::sql::interner::Interner;
use crate::sql::output::OutputFormat;
use crate::sql::rerun;
use crate::sql::rules::{self, Rule, RuleError, Severity};
use crate::sql::script;
use crate::sql::session::{self, SessionOptions};
use crate::sql::shared_views;
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
    #[arg(long, value_name = "DIR", required_unless_present = "list_rules")]
    pub data: Vec<PathBuf>,
    /// Run only this rule (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    pub rules: Vec<String>,
    /// A folder of rule files (every *.sql in it is a rule), instead of the
    /// default rules: ./queries if it exists, else the rules built into the
    /// binary. Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules_dir: Vec<PathBuf>,
    /// A folder of one's own rule files run beside the default (or
    /// --rules) ones. Repeatable; a rule id may be defined only once.
    #[arg(long = "add-rules", value_name = "DIR")]
    pub add_rules: Vec<PathBuf>,
    /// Override a rule parameter, e.g. --param backdated.max_hours=72
    /// (repeatable). The value must be of the parameter's type (see
    /// --list-rules).
    #[arg(long = "param", value_name = "RULE.NAME=VALUE")]
    pub params: Vec<String>,
    /// List the rules (id, severity, source, parameters with their types and
    /// defaults, description) and run nothing; with --format json, one JSON
    /// object per rule.
    #[arg(long)]
    pub list_rules: bool,
    /// Output format of the findings (the summary goes to stderr for csv and json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the findings to a file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Store the findings under DIR/findings/run=<UTC>/ (table `findings`).
    /// Runs with --new are stored unless --no-store; other runs only with
    /// --store, so an ad-hoc check never moves the baseline of `--new`.
    #[arg(long, conflicts_with = "no_store")]
    pub store: bool,
    /// Do not store the findings, even with --new (a run in which a rule
    /// failed is never stored).
    #[arg(long)]
    pub no_store: bool,
    /// Print each rule's run time (seconds) to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Report only new findings: for each rule, those the latest earlier
    /// stored run that ran that rule with the same parameters did not
    /// report (same rule and cert_sha256). Stores this run's findings.
    #[arg(long)]
    pub new: bool,
    /// How many rules run at once. Each rule already uses every core; two
    /// at a time fill the gaps while one waits on a join or an aggregation
    /// (a few percent faster, for two rules' hash tables in memory at once).
    /// With more than 1, a rule's time in --timings includes sharing the CPU.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// The SQL session: log list and memory.
    #[command(flatten)]
    pub session: SessionOptions,
}

impl CheckOptions {
    /// Whether this run's findings are stored.
    pub fn stores(&self) -> bool {
        (self.store || self.new) && !self.no_store
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Rule id.
    pub rule: Arc<str>,
    /// Rule severity.
    pub severity: Severity,
    /// The log.
    pub log: Option<Arc<str>>,
    /// The entry's index.
    pub entry_index: Option<i64>,
    /// SHA-256 of the certificate (32 bytes).
    pub cert_sha256: Option<Box<[u8]>>,
    /// The issuer's CN.
    pub issuer_cn: Option<Arc<str>>,
    /// not_before, ms since the epoch.
    pub not_before_ms: Option<i64>,
    /// Why.
    pub detail: Option<Box<str>>,
    /// The certificate's serial, subject, names and issuer (shared by the
    /// findings of one entry).
    pub evidence: Arc<Evidence>,
}

impl Finding {
    /// How the issuer is named: its CN, else its organisation, else its DN
    /// (empty when none is known).
    pub fn issuer_name(&self) -> &str {
        fn nonempty(s: &Option<Arc<str>>) -> Option<&str> {
            s.as_deref().filter(|s| !s.is_empty())
        }
        nonempty(&self.issuer_cn)
            .or_else(|| nonempty(&self.evidence.issuer_org))
            .or_else(|| nonempty(&self.evidence.issuer_dn))
            .unwrap_or("")
    }

    /// The crt.sh page of the certificate.
    pub fn crt_sh(&self) -> Option<String> {
        self.cert_sha256.as_deref().map(crt_sh_link)
    }
}

/// The result of a check run.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every finding, by rule then log and index.
    pub findings: Vec<Finding>,
    /// Rules that ran.
    pub rules_run: Vec<String>,
    /// Each rule as it ran (parameter values), with its defaults.
    pub rule_runs: Vec<(RuleRun, BTreeMap<String, String>)>,
    /// Rules that could not run.
    pub broken: Vec<RuleError>,
    /// Certificates per issuer (named as [`Finding::issuer_name`]) in the dataset.
    pub issuer_certs: BTreeMap<String, i64>,
    /// Where the findings were stored.
    pub stored: Vec<PathBuf>,
    /// Seconds each rule took (planning, execution and collecting its findings).
    pub rule_seconds: Vec<(String, f64)>,
    /// Seconds spent reading `name_suspects` once for the rules that name it
    /// (when it was kept in memory), before the rules.
    pub before_rules_seconds: Vec<(&'static str, f64)>,
    /// The rows of `name_suspects` kept in memory for the rules, if they were.
    pub shared_rows: Option<shared_views::Kept>,
    /// Whether the rules read `name_suspects` by testing every name, as
    /// some `certs` file lacks this binary's stored name facts.
    pub names_tested: bool,
    /// Seconds spent looking the findings' certificates up, and counting
    /// each issuer's certificates, after the rules.
    pub after_rules_seconds: Vec<(&'static str, f64)>,
    /// With `--new`: what was compared with (the runs), and how many
    /// findings they already had.
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

/// A rule's `cert_sha256` column as bytes: binary as it is in `certs`, or
/// hex text (either case) as rules written before hashes were binary
/// everywhere return it.
fn hash_column(col: &ArrayRef) -> std::result::Result<Vec<Option<Box<[u8]>>>, String> {
    let binary = cast(col, &DataType::Binary).map_err(|e| e.to_string())?;
    let binary = binary.as_binary::<i32>();
    let text = matches!(
        col.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    binary
        .iter()
        .map(|v| {
            v.map(|bytes| {
                if !text {
                    return Ok(bytes.into());
                }
                let t = String::from_utf8_lossy(bytes);
                decode_hex(&t)
                    .map(Vec::into_boxed_slice)
                    .ok_or_else(|| format!("cert_sha256 {t:?} is neither bytes nor hex"))
            })
            .transpose()
        })
        .collect()
}

/// Turns a rule's result batches into findings, checking the required columns.
fn to_findings(rule: &Rule, batches: &[RecordBatch]) -> std::result::Result<Vec<Finding>, String> {
    let mut out = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    let id: Arc<str> = Arc::from(rule.id.as_str());
    let none = Arc::new(Evidence::default());
    let mut shared = Interner::default();
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
        let sha = hash_column(get("cert_sha256"))?;
        let issuer = strings(get("issuer_cn")).map_err(conv)?;
        let detail = strings(get("detail")).map_err(conv)?;
        let index = cast(get("entry_index"), &DataType::Int64).map_err(|e| e.to_string())?;
        let index: &Int64Array = index.as_primitive();
        let ts_type = timestamp_type();
        let nb = cast(get("not_before"), &ts_type).map_err(|e| e.to_string())?;
        let nb: &TimestampMillisecondArray = nb.as_primitive();
        fn text(a: &StringArray, i: usize) -> Option<&str> {
            (!a.is_null(i)).then(|| a.value(i))
        }
        for (i, sha) in sha.into_iter().enumerate() {
            out.push(Finding {
                rule: id.clone(),
                severity: rule.severity,
                log: text(&log, i).map(|l| shared.get(l)),
                entry_index: (!index.is_null(i)).then(|| index.value(i)),
                cert_sha256: sha,
                issuer_cn: text(&issuer, i).map(|c| shared.get(c)),
                not_before_ms: (!nb.is_null(i)).then(|| nb.value(i)),
                detail: text(&detail, i).map(Box::from),
                evidence: none.clone(),
            });
        }
    }
    Ok(out)
}

/// The rules `opts` asks for: the folders of `--rules` (else ./queries if
/// it exists, else the built-in rules) and of `--add-rules`, with the
/// unusable files, and how to name where they came from.
pub fn load_rules(opts: &CheckOptions) -> Result<(Vec<Rule>, Vec<RuleError>, String)> {
    let local = Path::new("queries");
    let mut dirs: Vec<Option<&Path>> = if !opts.rules_dir.is_empty() {
        opts.rules_dir.iter().map(|d| Some(d.as_path())).collect()
    } else if local.is_dir() {
        vec![Some(local)]
    } else {
        vec![None]
    };
    dirs.extend(opts.add_rules.iter().map(|d| Some(d.as_path())));
    let mut rules: Vec<Rule> = Vec::new();
    let mut broken = Vec::new();
    let mut names = Vec::new();
    for dir in dirs {
        let (found, bad) = match dir {
            Some(d) => {
                if !d.is_dir() {
                    return Err(Error::Usage(format!(
                        "rule folder {} is not a folder",
                        crate::text::path(d)
                    )));
                }
                rules::load_dir(d).map_err(|e| Error::io(d, e))?
            }
            None => rules::load_builtin(),
        };
        names.push(dir.map_or("the built-in rules".to_owned(), |d| {
            crate::text::path(d).to_string()
        }));
        for rule in found {
            if let Some(other) = rules.iter().find(|r| r.id == rule.id) {
                return Err(Error::Usage(format!(
                    "rule {} is defined twice: {} and {}",
                    rule.id,
                    other.path.display(),
                    rule.path.display()
                )));
            }
            rules.push(rule);
        }
        broken.extend(bad);
    }
    Ok((rules, broken, names.join(" and ")))
}

/// A rule as `check --list-rules` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleInfo {
    /// The rule id.
    pub id: String,
    /// `error`, `warning` or `notice`.
    pub severity: &'static str,
    /// The requirement, policy or incident it comes from.
    pub source: String,
    /// What it finds.
    pub description: String,
    /// Its parameters.
    pub params: Vec<ParamInfo>,
    /// The file it was read from (`<built-in>/...` for the built-in rules).
    pub file: String,
}

/// A rule parameter as `check --list-rules` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParamInfo {
    /// Its name (`--param RULE.NAME=VALUE`).
    pub name: String,
    /// `number`, `text` or `timestamp`.
    #[serde(rename = "type")]
    pub param_type: &'static str,
    /// Its default value.
    pub default: String,
    /// What it means.
    pub description: String,
}

/// The rules `opts` selects (`--rules`, `--add-rules`, `--rule`), as
/// `--list-rules` shows them, and the rule files that cannot be used.
pub fn list_rules(opts: &CheckOptions) -> Result<(Vec<RuleInfo>, Vec<RuleError>)> {
    let (mut rules, mut broken, where_from) = load_rules(opts)?;
    let unchecked = CheckOptions {
        params: Vec::new(),
        ..opts.clone()
    };
    select_rules(&unchecked, &mut rules, &mut broken, &where_from)?;
    let infos = rules
        .iter()
        .map(|r| {
            let types = r.param_types();
            RuleInfo {
                id: r.id.clone(),
                severity: r.severity.as_str(),
                source: r.source.clone(),
                description: r.description.clone(),
                params: r
                    .params
                    .iter()
                    .map(|p| ParamInfo {
                        name: p.name.clone(),
                        param_type: types
                            .iter()
                            .find(|(n, _)| *n == p.name)
                            .map_or("unused", |(_, t)| t.as_str()),
                        default: p.default.clone(),
                        description: p.description.clone(),
                    })
                    .collect(),
                file: r.path.display().to_string(),
            }
        })
        .collect();
    Ok((infos, broken))
}

/// A rule that ran: its findings or what went wrong, and its seconds.
type RuleDone = (Rule, std::result::Result<Vec<Finding>, RuleError>, f64);

/// Runs the rules and gathers the report (nothing is printed or stored).
pub async fn run_rules(ctx: &SessionContext, opts: &CheckOptions) -> Result<CheckReport> {
    let (mut rules, broken, where_from) = load_rules(opts)?;
    let mut report = CheckReport {
        broken,
        ..CheckReport::default()
    };
    let overrides = select_rules(opts, &mut rules, &mut report.broken, &where_from)?;
    for rule in &rules {
        let params = overrides.get(&rule.id).cloned().unwrap_or_default();
        report.rule_runs.push(rule_run(rule, &params));
    }
    let names_read = rules.iter().any(|r| shared_views::names_view(&r.sql));
    report.names_tested = names_read && !shared_views::reads_stored_facts(ctx).await?;
    // The rules that read `name_suspects` share one read of it.
    if opts.session.cluster.is_none() && names_read {
        let started = std::time::Instant::now();
        if let Some(kept) = shared_views::materialize(ctx, shared_views::MATERIALIZE_CAP).await? {
            report.before_rules_seconds =
                vec![(shared_views::NAME_SUSPECTS, started.elapsed().as_secs_f64())];
            report.shared_rows = Some(kept);
        }
        crate::allocator::release_freed();
    }
    // The rules that read the kept rows run first, so that the rows can go
    // before the others run; the report lists the rules in their order.
    let mut order: Vec<(usize, Rule)> = rules.into_iter().enumerate().collect();
    order.sort_by_key(|(_, rule)| !shared_views::names_view(&rule.sql));
    let mut names_left = match report.shared_rows {
        Some(_) => order
            .iter()
            .filter(|(_, r)| shared_views::names_view(&r.sql))
            .count(),
        None => 0,
    };
    let mut done: Vec<Option<RuleDone>> = (0..order.len()).map(|_| None).collect();
    // Rules run `jobs` at a time, each on its own task (a rule's plan then
    // keeps the cores busy while another one waits on a join or a final
    // aggregation).
    let runs = order.into_iter().map(|(at, rule)| {
        let ctx = ctx.clone();
        let params = overrides.get(&rule.id).cloned().unwrap_or_default();
        let id = rule.id.clone();
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = run_rule(&ctx, &rule, &params).await;
            (at, rule, result, started.elapsed().as_secs_f64())
        });
        // A rule that panics (a bug in a UDF, say) is named in the error.
        task.map(move |joined| {
            joined.map_err(|e| Error::Internal(format!("rule {id} failed: {}", panic_text(e))))
        })
    });
    let mut runs = futures::stream::iter(runs).buffered(usize::from(opts.jobs.max(1)));
    while let Some(run) = runs.next().await {
        let (at, rule, result, seconds) = run?;
        if names_left > 0 && shared_views::names_view(&rule.sql) {
            names_left -= 1;
            if names_left == 0 {
                shared_views::register(ctx, !report.names_tested).await?;
            }
        }
        // The rule's hash tables are gone: their memory goes back now, so
        // that the next rules' peaks do not stack on it.
        crate::allocator::release_freed();
        done[at] = Some((rule, result, seconds));
    }
    for (rule, result, seconds) in done.into_iter().flatten() {
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
    let started = std::time::Instant::now();
    evidence::attach(ctx, &mut report.findings).await?;
    let looked_up = std::time::Instant::now();
    report.issuer_certs = issuer_certs(ctx).await?;
    // What the lookups freed goes back before the findings are written.
    crate::allocator::release_freed();
    report.after_rules_seconds = vec![
        ("evidence", (looked_up - started).as_secs_f64()),
        ("issuer counts", looked_up.elapsed().as_secs_f64()),
    ];
    Ok(report)
}

/// `rule` as run with `overrides`: every parameter's value, and its defaults.
fn rule_run(
    rule: &Rule,
    overrides: &BTreeMap<String, String>,
) -> (RuleRun, BTreeMap<String, String>) {
    let defaults: BTreeMap<String, String> = rule
        .params
        .iter()
        .map(|p| (p.name.clone(), p.default.clone()))
        .collect();
    let mut params = defaults.clone();
    params.extend(overrides.clone());
    (
        RuleRun {
            rule: rule.id.clone(),
            params,
        },
        defaults,
    )
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
                let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
                return Err(Error::Usage(format!(
                    "no rule {id:?} in {where_from}; the rules are: {} (see --list-rules)",
                    ids.join(", ")
                )));
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
            let names: Vec<&str> = rule.params.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "rule {} has no parameter {bad:?}; its parameters are: {}",
                rule.id,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        }
        // A value of the wrong type is the command line's mistake, said
        // before anything runs, not a broken rule.
        let types = rule.param_types();
        for (name, value) in params.into_iter().flatten() {
            let Some((_, kind)) = types.iter().find(|(n, _)| n == name) else {
                continue;
            };
            if let Err(why) = script::typed_value(*kind, name, value) {
                return Err(Error::Usage(format!(
                    "--param {}.{name}={value:?}: expected {} ({why})",
                    rule.id,
                    kind.describe()
                )));
            }
        }
    }
    Ok(overrides)
}

/// Certificates per issuer in the dataset, named as
/// [`Finding::issuer_name`] names them (what an issuer's findings are
/// compared with).
/// How an issuer is named, in `certs` and `findings` alike: its CN, else
/// its organisation, else its DN.
pub(crate) const ISSUER_NAME: &str =
    "coalesce(nullif(issuer_cn, ''), nullif(issuer_org, ''), issuer_dn)";

async fn issuer_certs(ctx: &SessionContext) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    let sql = format!("SELECT {ISSUER_NAME} AS issuer, count(*) AS n FROM certs GROUP BY 1");
    let counts = rerun::rerun_if_lost(|| async { ctx.sql(&sql).await?.collect().await }).await?;
    for b in &counts {
        let names = strings(b.column(0))?;
        let n = cast(b.column(1), &DataType::Int64)
            .map_err(|e| Error::arrow("reading finding counts", e))?;
        let n: &Int64Array = n.as_primitive();
        for i in 0..b.num_rows() {
            let name = if names.is_null(i) { "" } else { names.value(i) };
            *out.entry(name.to_owned()).or_default() += n.value(i);
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
    // On a cluster, a run stopped because an executor was lost is run
    // again on the executors left.
    let batches = rerun::rerun_if_lost(|| async {
        ctx.sql_with_options(&sql, session::read_only())
            .await?
            .with_param_values(session::param_values(&values))?
            .collect()
            .await
    })
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

/// Findings put in one record batch by [`findings_batches`].
const FINDINGS_BATCH_ROWS: usize = 8192;

/// The findings as record batches of [`finding_schema`], a few thousand
/// rows each (one batch without rows when there are none), built one at a
/// time as they are taken.
pub fn findings_batches(
    findings: &[Finding],
    run_time_ms: i64,
) -> impl Iterator<Item = Result<RecordBatch>> + '_ {
    let none = findings.is_empty().then_some(&findings[..0]);
    findings
        .chunks(FINDINGS_BATCH_ROWS)
        .chain(none)
        .map(move |chunk| findings_batch(chunk, run_time_ms))
}

/// The findings as `pipeline check` shows them: [`findings_batches`]
/// without the `run_time` column.
pub fn shown_batches(findings: &[Finding]) -> impl Iterator<Item = Result<RecordBatch>> + '_ {
    findings_batches(findings, 0).map(|b| {
        let b = b?;
        let last = b.num_columns() - 1;
        b.project(&(0..last).collect::<Vec<_>>())
            .map_err(|e| Error::arrow("choosing the findings columns to show", e))
    })
}

/// The findings as a record batch of [`finding_schema`].
pub fn findings_batch(findings: &[Finding], run_time_ms: i64) -> Result<RecordBatch> {
    fn text<'a>(findings: &'a [Finding], f: impl Fn(&'a Finding) -> Option<&'a str>) -> ArrayRef {
        Arc::new(findings.iter().map(f).collect::<StringArray>())
    }
    let s = |f: fn(&Finding) -> Option<&str>| text(findings, f);
    let ts = |v: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(v).with_timezone(UTC))
    };
    let mut names = ListBuilder::new(StringBuilder::new());
    for f in findings {
        for n in &f.evidence.san_first {
            names.values().append_value(n);
        }
        names.append(f.evidence.san_count.is_some());
    }
    let links: Vec<Option<String>> = findings.iter().map(Finding::crt_sh).collect();
    let columns: Vec<ArrayRef> = vec![
        s(|f| Some(&f.rule)),
        s(|f| Some(f.severity.as_str())),
        s(|f| f.log.as_deref()),
        Arc::new(
            findings
                .iter()
                .map(|f| f.entry_index)
                .collect::<Int64Array>(),
        ),
        Arc::new(
            findings
                .iter()
                .map(|f| f.cert_sha256.as_deref())
                .collect::<BinaryArray>(),
        ),
        s(|f| f.issuer_cn.as_deref()),
        ts(findings.iter().map(|f| f.not_before_ms).collect()),
        s(|f| f.detail.as_deref()),
        s(|f| f.evidence.serial.as_deref()),
        s(|f| f.evidence.subject_dn.as_deref()),
        Arc::new(
            findings
                .iter()
                .map(|f| f.evidence.san_count)
                .collect::<Int64Array>(),
        ),
        Arc::new(names.finish()),
        s(|f| f.evidence.issuer_dn.as_deref()),
        s(|f| f.evidence.issuer_org.as_deref()),
        Arc::new(links.iter().map(Option::as_deref).collect::<StringArray>()),
        ts(vec![Some(run_time_ms); findings.len()]),
    ];
    RecordBatch::try_new(finding_schema(), columns)
        .map_err(|e| Error::arrow("building the findings batch", e))
}

/// Stores the findings as `DIR/findings/run=<UTC>/part-00000.parquet`,
/// with the rules the run ran in the file's metadata (see
/// [`crate::sql::baseline`]).
pub fn store(
    data: &Path,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
    run: &str,
    rules_run: &[RuleRun],
) -> Result<Vec<PathBuf>> {
    let dir = data.join("findings").join(format!("run={run}"));
    let mut w = PartitionWriter::new(dir, "part".into(), finding_schema());
    let listed = serde_json::to_string(rules_run)
        .map_err(|e| Error::Internal(format!("listing the rules run: {e}")))?;
    w.add_metadata(baseline::RULES_KEY, &listed);
    // A run without findings is stored too (an empty file), so that the
    // next `check --new` compares with it and not with an older run.
    for batch in batches {
        w.write_even_if_empty(&batch?)?;
    }
    w.finish()
}

/// Stores the findings of run `run` in the dataset at `data`: on disk, or
/// on object storage (written to a temporary directory, then uploaded).
async fn store_run(
    data: &Path,
    store_options: &StoreOptions,
    findings: &[Finding],
    run_time_ms: i64,
    run: &str,
    rules_run: &[RuleRun],
) -> Result<Vec<PathBuf>> {
    let batches = || findings_batches(findings, run_time_ms);
    let remote = match remote::locate(data, store_options)? {
        Location::Local(dir) => {
            // Runs stored before hashes were binary get today's columns
            // first, so that the table keeps one schema.
            baseline::upgrade_local_runs(&dir)?;
            return store(&dir, batches(), run, rules_run);
        }
        Location::Remote(r) => r,
    };
    let tmp = std::env::temp_dir().join(format!("pipeline-findings-{}-{run}", std::process::id()));
    let result = async {
        let mut stored = Vec::new();
        for file in store(&tmp, batches(), run, rules_run)? {
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

/// The findings of the given stored runs, as (run, rule, cert_sha256).
async fn stored_keys(
    ctx: &SessionContext,
    runs: &BTreeSet<&str>,
) -> Result<HashSet<(String, String, Vec<u8>)>> {
    let mut set = HashSet::new();
    if runs.is_empty() {
        return Ok(set);
    }
    let list: Vec<String> = runs
        .iter()
        .map(|r| format!("'{}'", r.replace('\'', "''")))
        .collect();
    let batches = ctx
        .sql(&format!(
            "SELECT run, rule, cert_sha256 FROM findings WHERE run IN ({})",
            list.join(", ")
        ))
        .await?
        .collect()
        .await?;
    for b in &batches {
        let (runs, rules) = (strings(b.column(0))?, strings(b.column(1))?);
        let hashes = hash_column(b.column(2)).map_err(Error::Internal)?;
        for (i, h) in hashes.into_iter().enumerate() {
            set.insert((
                runs.value(i).to_owned(),
                rules.value(i).to_owned(),
                h.unwrap_or_default().into_vec(),
            ));
        }
    }
    Ok(set)
}

/// With `--new`: which findings of each rule its baseline run (see
/// [`crate::sql::baseline`]) did not report, and what was compared with.
async fn new_findings(
    ctx: &SessionContext,
    opts: &CheckOptions,
    report: &CheckReport,
) -> Result<(String, Vec<bool>)> {
    let runs = baseline::stored_runs(&opts.data[0], &opts.session.store).await?;
    let chosen = baseline::baselines(&runs, &report.rule_runs);
    let names: BTreeSet<&str> = chosen.values().map(|r| r.run.as_str()).collect();
    let seen = stored_keys(ctx, &names).await?;
    let new = report
        .findings
        .iter()
        .map(|f| {
            let Some(run) = chosen.get(&*f.rule) else {
                return true;
            };
            let key = (
                run.run.clone(),
                f.rule.to_string(),
                f.cert_sha256.as_deref().unwrap_or_default().to_vec(),
            );
            !seen.contains(&key)
        })
        .collect();
    let compared = match names.len() {
        0 => String::new(),
        1 => format!("run {}", names.first().expect("one")),
        n => format!(
            "{n} runs (each rule's latest, up to {})",
            names.last().expect("several")
        ),
    };
    Ok((compared, new))
}

/// Runs `pipeline check`: runs the rules, stores the findings (see
/// [`CheckOptions::stores`]), and with `new` keeps only findings the
/// earlier runs did not report. Returns the report; the caller renders it
/// (the findings with [`shown_batches`]) and maps it to an exit status.
pub async fn run(opts: &CheckOptions) -> Result<CheckReport> {
    if opts.format == OutputFormat::Parquet && opts.out.is_none() {
        return Err(Error::Usage("--format parquet needs --out FILE".into()));
    }
    if opts.data.is_empty() {
        return Err(Error::Usage("check needs --data DIR".into()));
    }
    let ctx = session::open_datasets(&opts.data, &opts.session, false).await?;
    let now = chrono::Utc::now();
    let mut report = run_rules(&ctx, opts).await?;
    // The comparison is made before this run is stored, against the runs
    // before it.
    let known = if opts.new {
        Some(new_findings(&ctx, opts, &report).await?)
    } else {
        None
    };
    // Every finding is stored, new or not: the next run compares with all.
    // A run in which a rule failed (a broken file, a lost executor) is not
    // stored: its findings are partial, and `--new` would later call the
    // missing rule's findings new.
    if opts.stores() && report.broken.is_empty() {
        let run = now.format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let rules_run: Vec<RuleRun> = report.rule_runs.iter().map(|(r, _)| r.clone()).collect();
        report.stored = store_run(
            &opts.data[0],
            &opts.session.store,
            &report.findings,
            now.timestamp_millis(),
            &run,
            &rules_run,
        )
        .await?;
    }
    if let Some((compared, new)) = known {
        // Only the new findings are shown.
        let before = report.findings.len();
        let mut new = new.into_iter();
        report.findings.retain(|_| new.next().unwrap_or(true));
        report.previous_run = Some((compared, before - report.findings.len()));
    }
    Ok(report)
}
