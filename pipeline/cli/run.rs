//! Running a subcommand: its arguments become library options, the
//! library computes, and [`super::render`] shows the result. Returns the
//! exit status: 0 clean; 1 finished with error-severity findings (`check`),
//! unreadable input (`ingest`) or problems (`verify`); 2 failure.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;

use super::notes::StderrReporter;
use super::progress::{EntryProgress, ProgressMode};
use super::render;
use super::{
    Command, CompactArgs, DatasetArgs, FetchArgs, IngestArgs, PruneArgs, PublishArgs, ReportArgs,
    ShowArgs, StatusArgs, StatusFormat, SynthArgs,
};
use crate::dataset::remote::{self, Location};
use crate::ingest;
use crate::sql::check::{self, CheckOptions};
use crate::sql::output::{Output, OutputFormat};
use crate::sql::query::{self, QueryOptions};
use crate::synth;

/// Runs the subcommand.
pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Ingest(args) => run_ingest(&args),
        Command::Query(args) => run_query(&args),
        Command::Check(args) => run_check(&args),
        Command::Show(args) => run_show(&args),
        Command::Prune(args) => run_prune(&args),
        Command::Report(args) => run_report(&args),
        Command::Synth(args) => run_synth(&args),
        Command::Fetch(args) => run_fetch(&args),
        Command::Status(args) => run_status(&args),
        Command::Compact(args) => run_compact(&args),
        Command::Publish(args) => run_publish(&args),
        Command::Verify(args) => run_verify(&args),
        #[cfg(feature = "cluster")]
        Command::Scheduler(opts) => serve(crate::sql::cluster::scheduler::run(opts)),
        #[cfg(feature = "cluster")]
        Command::Executor(opts) => serve(crate::sql::cluster::executor::run(opts)),
    }
}

/// Runs a scheduler or executor until it stops.
#[cfg(feature = "cluster")]
fn serve(
    process: impl std::future::Future<Output = crate::error::Result<()>>,
) -> anyhow::Result<ExitCode> {
    crate::sql::cluster::runtime()?.block_on(process)?;
    Ok(ExitCode::SUCCESS)
}

fn run_ingest(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let reporter = StderrReporter::new(args.progress);
    let summary = ingest::ingest(&args.options, &reporter).context("ingest failed")?;
    render::ingest_summary(&summary, &args.options.out);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(if summary.unreadable > 0 || summary.refused_files > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The runtime the commands run on (see [`crate::allocator::BLOCKING_THREAD_IDLE`]).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_keep_alive(crate::allocator::BLOCKING_THREAD_IDLE)
        .build()?)
}

fn run_query(opts: &QueryOptions) -> anyhow::Result<ExitCode> {
    let reporter = StderrReporter::new(ProgressMode::Quiet);
    runtime()?.block_on(query::run(opts, &reporter))?;
    Ok(ExitCode::SUCCESS)
}

fn run_show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let opts = &args.options;
    let shown = runtime()?.block_on(crate::sql::show::show(opts))?;
    if shown.entries.is_empty() {
        eprintln!(
            "no certificate with {} {} in the dataset",
            if opts.serial { "serial" } else { "SHA-256" },
            crate::text::escape(&opts.key)
        );
        return Ok(ExitCode::from(1));
    }
    let mut out = Output::stdout();
    match opts.format {
        crate::sql::show::ShowFormat::Json => {
            out.write_text(&format!("{}\n", serde_json::to_string(&shown)?))?
        }
        crate::sql::show::ShowFormat::Table => {
            let mut text = Vec::new();
            render::shown(&mut text, &shown)?;
            out.write_text(&String::from_utf8_lossy(&text))?;
        }
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

fn run_prune(args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let done = crate::sql::baseline::prune(&args.options).context("prune failed")?;
    render::pruned(&done, args.options.dry_run);
    if args.json {
        println!("{}", serde_json::to_string(&done)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let done = runtime()?
        .block_on(crate::report::run(&args.options))
        .context("report failed")?;
    eprintln!(
        "wrote {} ({} bytes): run {}, {} findings, {} issuers ({} detailed) in {:.1} s",
        done.out, done.bytes, done.run, done.findings, done.issuers, done.detailed, done.seconds
    );
    if args.json {
        println!("{}", serde_json::to_string(&done)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_check(opts: &CheckOptions) -> anyhow::Result<ExitCode> {
    if opts.list_rules {
        let (rules, broken) = check::list_rules(opts)?;
        for e in &broken {
            eprintln!("error: rule {}", crate::text::escape_lines(&e.to_string()));
        }
        let mut text = Vec::new();
        if opts.format == OutputFormat::Json {
            for r in &rules {
                writeln!(text, "{}", serde_json::to_string(r)?)?;
            }
        } else {
            render::rule_list(&mut text, &rules)?;
        }
        let mut out = Output::open(opts.out.as_deref())?;
        out.write_text(&String::from_utf8_lossy(&text))?;
        out.finish()?;
        return Ok(if broken.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    let report = runtime()?.block_on(check::run(opts))?;
    render::check_notes(&report, opts.timings);
    // Line-oriented formats keep stdout machine-readable: the summary goes to stderr.
    if opts.format == OutputFormat::Table {
        let mut stdout = std::io::stdout();
        render::check_summary(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        render::check_summary(&mut std::io::stderr(), &report)?;
    }
    let mut out = Output::open(opts.out.as_deref())?;
    if !report.findings.is_empty() || opts.format != OutputFormat::Table {
        out.write_each(opts.format, check::shown_batches(&report.findings))?;
    }
    out.finish()?;
    Ok(if !report.broken.is_empty() {
        ExitCode::from(2)
    } else if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let mut each = Vec::with_capacity(args.data.len());
    for data in &args.data {
        each.push(match remote::locate(data, &args.store)? {
            Location::Local(dir) => crate::dataset::status::status(&dir)?,
            Location::Remote(r) => runtime()?.block_on(remote::status(&r))?,
        });
    }
    let st = if each.len() == 1 {
        each.remove(0)
    } else {
        crate::dataset::status::merge(each)
    };
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string(&st)?),
        StatusFormat::Table => render::status_table(&mut std::io::stdout(), &st)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_compact(args: &CompactArgs) -> anyhow::Result<ExitCode> {
    let opts = &args.options;
    let done = runtime()?
        .block_on(crate::dataset::compact::compact(
            opts,
            &StderrReporter::new(ProgressMode::Quiet),
        ))
        .context("compact failed")?;
    render::compacted(&done, &opts.data, opts.min_files);
    if args.json {
        println!("{}", serde_json::json!({ "compacted": done }));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_publish(args: &PublishArgs) -> anyhow::Result<ExitCode> {
    let done = runtime()?
        .block_on(crate::dataset::publish::publish(&args.options))
        .context("publish failed")?;
    render::published(&done);
    if args.json {
        println!("{}", serde_json::to_string(&done)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_verify(args: &DatasetArgs) -> anyhow::Result<ExitCode> {
    let v = crate::dataset::verify::verify(&args.data)?;
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string(&v)?),
        StatusFormat::Table => render::verification(&v, &args.data),
    }
    Ok(if v.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_fetch(args: &FetchArgs) -> anyhow::Result<ExitCode> {
    let progress = EntryProgress::new(args.progress);
    let r = crate::fetch::run(&args.options, &progress.bar);
    drop(progress);
    let r = r?;
    let log = crate::text::escape(&r.log);
    if r.dry_run {
        let what = if r.pages > 0 {
            format!("about {} page(s)", r.pages)
        } else {
            format!("{} tile(s)", r.tiles)
        };
        eprintln!(
            "{log}: would fetch entries {}..{}: {what}{} (signed tree head: {} entries)",
            r.previous_size,
            r.verified_size,
            if r.would_fetch.is_empty() {
                String::new()
            } else {
                format!(", {}", r.would_fetch.join(" to "))
            },
            r.signed_size
        );
    } else if r.verified_size == r.previous_size {
        eprintln!(
            "{log}: nothing new; {} entries verified (signed tree head: {} entries)",
            r.verified_size, r.signed_size
        );
    } else {
        let files = if r.pages > 0 {
            format!("{} pages, {} resumed", r.pages, r.pages_resumed)
        } else {
            format!(
                "{} tiles, {} resumed; {} issuers",
                r.tiles, r.tiles_resumed, r.issuers
            )
        };
        let against = if r.verified_size < r.signed_size {
            format!(
                "the first {} of the signed tree of {} (root {}), by {}",
                r.verified_size, r.signed_size, r.signed_root, r.proof
            )
        } else {
            format!("the signed root {}", r.signed_root)
        };
        eprintln!(
            "{log}: verified {} entries against {against} ({} new; {files}; {} bytes)",
            r.verified_size,
            r.verified_size - r.previous_size,
            r.bytes
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_synth(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    let s = synth::run(&args.options).context("synth failed")?;
    render::synth_summary(&s, &args.options.out);
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    }
    Ok(ExitCode::SUCCESS)
}
