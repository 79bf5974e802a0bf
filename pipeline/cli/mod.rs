//! Command-line interface: the subcommands and the flags only the command
//! line has. A command's other flags are the fields of its library options
//! (`IngestOptions`, `QueryOptions`, ...), flattened in here, so each flag
//! and its help text are written once.

pub(crate) mod notes;
pub(crate) mod progress;
pub(crate) mod render;
pub mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cli::progress::ProgressMode;
use crate::dataset::compact::CompactOptions;
use crate::dataset::publish::PublishOptions;
use crate::dataset::remote::StoreOptions;
use crate::ingest::IngestOptions;
use crate::sql::check::CheckOptions;
use crate::sql::query::QueryOptions;
use crate::synth::SynthOptions;

/// Turns bulk Certificate Transparency dumps into a Parquet dataset and hunts
/// certificate mis-issuance with SQL.
#[derive(Debug, Parser)]
#[command(name = "pipeline", version = crate::build_info::VERSION, about)]
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
    Query(QueryOptions),
    /// Run the mis-issuance rules (queries/*.sql) and report findings.
    Check(CheckOptions),
    /// Everything the dataset holds about one certificate, by SHA-256 (of
    /// the certificate or precertificate) or --serial: every entry, log
    /// names, stored findings, a crt.sh link, the PEM when kept.
    Show(ShowArgs),
    /// Remove old stored runs of `check`, keeping the newest N and what
    /// `check --new` compares with.
    Prune(PruneArgs),
    /// Write one self-contained HTML report of a stored `check` run: the
    /// dataset, an issuer league table, an issuer x rule heat map, and per
    /// issuer findings per month, example certificates and forensic charts.
    Report(ReportArgs),
    /// Generate a realistic CT dump with planted anomalies and its ground truth.
    Synth(SynthArgs),
    /// Download a log's entries into DUMP_DIR/<log>/ (the layout `ingest`
    /// reads), verified against its signed tree head; each later fetch
    /// downloads only new entries and proves old plus new.
    Fetch(FetchArgs),
    /// Show what a dataset covers per log: entries, index ranges and gaps,
    /// rejects, parse errors, entry times, bytes on disk, last ingest.
    Status(StatusArgs),
    /// Merge each log partition's many small files into large files sorted
    /// by entry_index, atomically, keeping the manifest true (and refresh
    /// stale stored name facts).
    Compact(CompactArgs),
    /// Upload a local dataset to object storage (s3://BUCKET/PREFIX) so that
    /// its readers see the old snapshot or the new one, never a mix: data
    /// files first, the manifest as the commit point, retired files last.
    Publish(PublishArgs),
    /// Check a dataset against its manifest (like `git fsck`): every data
    /// file present with its recorded size, rows and a readable footer, no
    /// entry stored twice, no stray files, no interrupted commit pending.
    Verify(DatasetArgs),
    /// Run a Ballista scheduler with this build's SQL functions: `query`
    /// and `check --cluster HOST:PORT` run on it (flags as Ballista's own
    /// scheduler; binds 127.0.0.1 unless --bind-host says otherwise).
    #[cfg(feature = "cluster")]
    Scheduler(crate::sql::cluster::scheduler::SchedulerOptions),
    /// Run a Ballista executor with this build's SQL functions, working for
    /// the scheduler at --scheduler-host/--scheduler-port (flags as
    /// Ballista's own executor; binds 127.0.0.1 unless --bind-host says
    /// otherwise).
    #[cfg(feature = "cluster")]
    Executor(crate::sql::cluster::executor::ExecutorOptions),
}

/// Arguments of `pipeline ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// What to ingest, and where.
    #[command(flatten)]
    pub options: IngestOptions,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pipeline show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// What to look up, and where.
    #[command(flatten)]
    pub options: crate::sql::show::ShowOptions,
}

/// Arguments of `pipeline prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Which runs to keep.
    #[command(flatten)]
    pub options: crate::sql::baseline::PruneOptions,
    /// Print the runs kept and removed as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pipeline report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// What to report, and where.
    #[command(flatten)]
    pub options: crate::report::ReportOptions,
    /// Print what was written as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pipeline fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// What to fetch, and where.
    #[command(flatten)]
    pub options: crate::fetch::FetchOptions,
    /// Progress display: a bar on a terminal, else a line every ten seconds.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Print what was fetched as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pipeline synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// What to generate.
    #[command(flatten)]
    pub options: SynthOptions,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pipeline compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// What to compact.
    #[command(flatten)]
    pub options: CompactOptions,
    /// Print what was merged as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pipeline publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// What to publish, and where.
    #[command(flatten)]
    pub options: PublishOptions,
    /// Print what was done as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pipeline status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The dataset directory, or s3://BUCKET/PREFIX. Repeatable: several
    /// datasets shown as one, with the entries two of them both hold
    /// reported as overlaps.
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
    /// How to reach a dataset on object storage (--data s3://BUCKET/PREFIX).
    #[command(flatten)]
    pub store: StoreOptions,
}

/// Output format of `pipeline status` and `pipeline verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// An aligned text table.
    Table,
    /// One JSON object (`status`: {"data", "logs": [...], "interrupted_run_pending"}).
    Json,
}

/// Arguments of `pipeline status` and `pipeline verify`: a dataset and how
/// to show what was found.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::memory_limit::{auto_memory_limit, MemoryLimit};

    #[test]
    fn check_and_query_bound_their_memory_by_default() {
        let cli = Cli::parse_from(["pipeline", "check", "--data", "d"]);
        let Command::Check(opts) = cli.command else {
            panic!("not check: {cli:?}")
        };
        assert_eq!(opts.session.memory_limit, MemoryLimit(auto_memory_limit()));
        let cli = Cli::parse_from([
            "pipeline",
            "query",
            "--data",
            "d",
            "--memory-limit",
            "none",
            "SELECT 1",
        ]);
        let Command::Query(opts) = cli.command else {
            panic!("not query: {cli:?}")
        };
        assert_eq!(opts.session.memory_limit, MemoryLimit(None));
    }

    #[test]
    fn flattened_options_keep_their_flags() {
        let cli = Cli::parse_from([
            "pipeline", "ingest", "--out", "o", "--log", "x", "--json", "a", "b",
        ]);
        let Command::Ingest(args) = cli.command else {
            panic!("not ingest: {cli:?}")
        };
        assert_eq!(
            args.options.inputs,
            [PathBuf::from("a"), PathBuf::from("b")]
        );
        assert_eq!(args.options.log.as_deref(), Some("x"));
        assert!(args.json && !args.options.wait);
        let cli = Cli::parse_from(["pipeline", "synth", "--out", "s", "--format", "tiles"]);
        let Command::Synth(args) = cli.command else {
            panic!("not synth: {cli:?}")
        };
        assert_eq!(args.options.format, crate::synth::SynthFormat::Tiles);
        assert_eq!(args.options.entries, 100_000);
        assert!(Cli::try_parse_from(["pipeline", "check", "--data", "d", "--jobs", "0"]).is_err());
    }
}
