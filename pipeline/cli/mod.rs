//! Command-line interface: every flag is defined here, once.

pub mod memory_limit;
pub mod progress;
pub mod render;
pub mod report;
pub mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cli::memory_limit::{parse_memory_limit, MemoryLimit, DEFAULT_MEMORY_LIMIT};
use crate::cli::progress::ProgressMode;
use crate::ingest::IngestOptions;
use crate::sql::check::CheckOptions;
use crate::sql::output::OutputFormat;
use crate::sql::query::QueryOptions;
use crate::synth::{Compress, SynthOptions};

/// Turns bulk Certificate Transparency dumps into a Parquet dataset and hunts
/// certificate mis-issuance with SQL.
#[derive(Debug, Parser)]
#[command(name = "pipeline", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode CT dumps (get-entries pages and JSON lines, static-ct-api tiles,
    /// ct-archive zips, certificate folders, Axeman CSV) into DIR/certs and
    /// DIR/rejects (Parquet).
    Ingest(IngestArgs),
    /// Run SQL over a dataset (tables certs, rejects, findings, manifest, ct_logs).
    Query(QueryArgs),
    /// Run the mis-issuance rules (queries/*.sql) and report findings.
    Check(CheckArgs),
    /// Generate a realistic CT dump with planted anomalies and its ground truth.
    Synth(SynthArgs),
    /// Show what a dataset covers per log: entries, index ranges and gaps,
    /// rejects, parse errors, entry times, bytes on disk, last ingest.
    Status(StatusArgs),
    /// Merge each log partition's many small files into large files sorted
    /// by entry_index, atomically, keeping the manifest true.
    Compact(CompactArgs),
    /// Check a dataset against its manifest (like `git fsck`): every data
    /// file present with its recorded size, rows and a readable footer, no
    /// entry stored twice, no stray files, no interrupted commit pending.
    Verify(VerifyArgs),
}

/// Arguments of `pipeline verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

/// Arguments of `pipeline compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Leave partitions with fewer files than this alone.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub min_files: usize,
    /// When another run is writing to DIR, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Print what was merged as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Output format of `pipeline status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// An aligned text table.
    Table,
    /// One JSON object: {"data", "logs": [...], "interrupted_run_pending"}.
    Json,
}

/// Arguments of `pipeline status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

/// Arguments of `pipeline synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Entries in all (split evenly across the logs).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub entries: u64,
    /// Random seed: the same seed and options write the same bytes.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// The directory to create (absent or empty). Logs go to OUT/synth-1, ...
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Dump format.
    #[arg(long, value_enum, default_value_t = SynthFormat::GetEntries)]
    pub format: SynthFormat,
    /// Number of logs.
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub logs: u32,
    /// Page compression.
    #[arg(long, value_enum, default_value_t = Compress::Mixed)]
    pub compress: Compress,
    /// Share of certificates planted with each rule's anomaly (0.003 = 0.3% per rule).
    #[arg(long, value_name = "RATE", default_value_t = 0.003)]
    pub plant_rate: f64,
    /// Generator threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Formats `pipeline synth` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthFormat {
    /// RFC 6962 get-entries pages (and a JSON-lines tail per log).
    GetEntries,
    /// static-ct-api data tiles with leaf_index and issuer/ files, one
    /// tiled log per directory (no malformed entries: tiles have no JSON).
    Tiles,
}

impl SynthArgs {
    /// The library options these arguments ask for.
    pub fn options(&self) -> SynthOptions {
        SynthOptions {
            out: self.out.clone(),
            entries: self.entries,
            seed: self.seed,
            logs: self.logs,
            compress: self.compress,
            plant_rate: self.plant_rate,
            threads: self.threads,
            tiles: self.format == SynthFormat::Tiles,
        }
    }
}

/// Arguments of every command that opens a SQL session (`query`, `check`).
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// A CT log list (Google's v3 JSON) served as table `ct_logs`, instead
    /// of the compiled-in one.
    #[arg(long, value_name = "FILE")]
    pub log_list: Option<PathBuf>,
    /// Memory that joins, sorts and aggregations may hold together, e.g.
    /// 512M or 8G (binary units); past it they spill to files in TMPDIR.
    /// `auto`: half the machine's memory (or of the cgroup's limit);
    /// `none`: no bound.
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_MEMORY_LIMIT, value_parser = parse_memory_limit)]
    pub memory_limit: MemoryLimit,
}

/// Arguments of `pipeline query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The dataset directory (as written by `pipeline ingest --out`).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// SQL to run (statements separated by `;`). Without it: -f FILE, standard
    /// input, or an interactive prompt on a terminal.
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,
    /// Read the SQL from a file.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the result to a file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print each statement's time (planning, execution, collecting; not
    /// writing) to stderr.
    #[arg(long)]
    pub timings: bool,
    /// The SQL session: log list and memory.
    #[command(flatten)]
    pub session: SessionArgs,
    /// Let statements write and change things: CREATE, DROP, INSERT, COPY
    /// ... TO, SET. Without it only queries run (the dataset itself is never
    /// written either way).
    #[arg(long)]
    pub allow_write: bool,
}

impl QueryArgs {
    /// The library options these arguments ask for.
    pub fn options(&self) -> QueryOptions {
        QueryOptions {
            data: self.data.clone(),
            sql: self.sql.clone(),
            file: self.file.clone(),
            format: self.format,
            out: self.out.clone(),
            timings: self.timings,
            log_list: self.session.log_list.clone(),
            memory_limit: self.session.memory_limit.0,
            allow_write: self.allow_write,
        }
    }
}

/// Arguments of `pipeline check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
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
    /// Do not store the findings under DIR/findings.
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
    pub session: SessionArgs,
}

impl CheckArgs {
    /// The library options these arguments ask for.
    pub fn options(&self) -> CheckOptions {
        CheckOptions {
            data: self.data.clone(),
            rules: self.rules.clone(),
            rules_dir: self.rules_dir.clone(),
            params: self.params.clone(),
            format: self.format,
            out: self.out.clone(),
            no_store: self.no_store,
            timings: self.timings,
            new: self.new,
            log_list: self.session.log_list.clone(),
            jobs: usize::from(self.jobs),
            memory_limit: self.session.memory_limit.0,
        }
    }
}

/// Arguments of `pipeline ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Dump files, or directories walked recursively: get-entries pages and
    /// JSON lines (.json, .jsonl, .ndjson), certificate files (.pem, .crt,
    /// .cer, .der) and Axeman CSV (.csv), each optionally .gz/.zst
    /// (compression is detected from the content); ct-archive .zip files; a
    /// directory holding tile/data/ is a static-ct-api tiled log.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The dataset directory to write (DIR/certs/log=NAME/*.parquet, DIR/rejects/...).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The log's name (default: the input directory's name).
    #[arg(long, value_name = "NAME")]
    pub log: Option<String>,
    /// Index of the first entry of a page not named <start>-<end>.json, or of
    /// the first line of JSON lines that carry no "index".
    #[arg(long, value_name = "N")]
    pub start_index: Option<u64>,
    /// Also store each certificate's DER in a `der` column.
    #[arg(long)]
    pub keep_der: bool,
    /// Decoder threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// When another run is writing to DIR, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// A CT log list (Google's v3 JSON) to check --log against, instead of
    /// the compiled-in one.
    #[arg(long, value_name = "FILE")]
    pub log_list: Option<PathBuf>,
    /// An input whose content changed since it was ingested: swap its old
    /// rows for its new ones in one commit (without it, that is an error).
    #[arg(long)]
    pub replace: bool,
}

impl IngestArgs {
    /// The library options these arguments ask for.
    pub fn options(&self) -> IngestOptions {
        IngestOptions {
            inputs: self.inputs.clone(),
            out: self.out.clone(),
            log: self.log.clone(),
            start_index: self.start_index,
            keep_der: self.keep_der,
            threads: self.threads,
            wait: self.wait,
            replace: self.replace,
            log_list: self.log_list.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::memory_limit::auto_memory_limit;

    #[test]
    fn check_and_query_bound_their_memory_by_default() {
        let cli = Cli::parse_from(["pipeline", "check", "--data", "d"]);
        let Command::Check(args) = cli.command else {
            panic!("not check: {cli:?}")
        };
        assert_eq!(args.options().memory_limit, auto_memory_limit());
        let cli = Cli::parse_from([
            "pipeline",
            "query",
            "--data",
            "d",
            "--memory-limit",
            "none",
            "SELECT 1",
        ]);
        let Command::Query(args) = cli.command else {
            panic!("not query: {cli:?}")
        };
        assert_eq!(args.options().memory_limit, None);
    }
}
