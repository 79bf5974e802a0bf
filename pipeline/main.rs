//! The `pipeline` binary: parse flags, run the library, map the outcome to an
//! exit status: 0 clean; 1 finished with error-severity findings (`check`) or
//! unreadable input (`ingest`); 2 failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use pipeline::cli::{
    CheckArgs, Cli, Command, CompactArgs, IngestArgs, QueryArgs, StatusArgs, StatusFormat,
    SynthArgs, VerifyArgs,
};
use pipeline::ingest::{self, IngestSummary};
use pipeline::sql::{check, query};
use pipeline::{synth, text};

/// mimalloc: decoding makes many small short-lived allocations per entry,
/// which glibc's allocator serves markedly slower across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (v3's `mi_option_e`, index 15).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Two settings that cut the kernel's page zeroing, which took a fifth of
/// ingest's CPU and half of `check`'s: freed memory waits `purge_delay_ms`,
/// not mimalloc's 10 ms, before it goes back to the kernel (ingest frees and
/// reallocates megabytes per page; `MIMALLOC_PURGE_DELAY` still wins), and
/// no transparent huge pages for this process (each fault on a returned
/// region zeroed 2 MiB at once).
#[allow(unsafe_code)]
fn tune_allocator(purge_delay_ms: std::ffi::c_long) {
    // SAFETY: sets one numeric allocator option before any other thread
    // exists; mimalloc reads it each time it considers returning memory.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, purge_delay_ms) }
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    panic_message::install();
    // Ingest keeps its memory flat (1 s); queries and rules build and drop
    // hash tables of hundreds of MB one after another, and keeping freed
    // memory 10 s saved a tenth of `check`'s system time at 10M entries.
    tune_allocator(match cli.command {
        Command::Query(_) | Command::Check(_) => 10_000,
        _ => 1000,
    });
    let result = catch_unwind(AssertUnwindSafe(|| {
        if std::env::var_os("PIPELINE_CRASH_AT").is_some_and(|p| p == "panic") {
            panic!("PIPELINE_CRASH_AT=panic");
        }
        dispatch(&cli.command)
    }));
    let message = match result {
        Ok(Ok(code)) => return code,
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => format!(
            "internal error in `pipeline {}`: {}",
            command_name(&cli.command),
            panic_message::take().unwrap_or_else(|| "a panic".into())
        ),
    };
    eprintln!("error: {}", text::escape_lines(&message));
    // A reader that failed on a data file names the damaged file.
    if let Some(data) = dataset_read(&cli.command) {
        for problem in pipeline::dataset::verify::damaged_files(data) {
            eprintln!("error: damaged data file: {problem}");
        }
    }
    ExitCode::from(2)
}

/// Runs the subcommand.
fn dispatch(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Ingest(args) => run_ingest(args),
        Command::Query(args) => run_query(args),
        Command::Check(args) => run_check(args),
        Command::Synth(args) => run_synth(args),
        Command::Status(args) => run_status(args),
        Command::Compact(args) => run_compact(args),
        Command::Verify(args) => run_verify(args),
    }
}

/// The subcommand's name, for messages.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Ingest(_) => "ingest",
        Command::Query(_) => "query",
        Command::Check(_) => "check",
        Command::Synth(_) => "synth",
        Command::Status(_) => "status",
        Command::Compact(_) => "compact",
        Command::Verify(_) => "verify",
    }
}

/// The dataset a reading command reads.
fn dataset_read(command: &Command) -> Option<&std::path::Path> {
    match command {
        Command::Query(a) => Some(&a.data),
        Command::Check(a) => Some(&a.data),
        Command::Status(a) => Some(&a.data),
        Command::Compact(a) => Some(&a.data),
        _ => None,
    }
}

/// The message of the last panic, kept by a hook instead of printed, so
/// that the command reports it as an error (exit 2) in its own words.
mod panic_message {
    use std::sync::Mutex;

    static LAST: Mutex<Option<String>> = Mutex::new(None);

    /// Installs the hook.
    pub fn install() {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            let at = info
                .location()
                .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                .unwrap_or_default();
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("a worker thread");
            let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
            *last = Some(format!("{text}{at} in {name}"));
        }));
    }

    /// The last panic's message, if any.
    pub fn take() -> Option<String> {
        LAST.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn run_ingest(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let summary = ingest::ingest(&args.options()).context("ingest failed")?;
    print_summary(&summary, args);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(if summary.unreadable > 0 || summary.refused_files > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Runtime::new()?)
}

fn run_query(args: &QueryArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(query::run(&args.options()))?;
    Ok(ExitCode::SUCCESS)
}

fn run_check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(check::run(&args.options()))?;
    Ok(if !report.broken.is_empty() {
        ExitCode::from(2)
    } else if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let st = pipeline::dataset::status::status(&args.data)?;
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string(&st)?),
        StatusFormat::Table => pipeline::dataset::status::write_table(&mut std::io::stdout(), &st)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_compact(args: &CompactArgs) -> anyhow::Result<ExitCode> {
    let opts = pipeline::dataset::compact::CompactOptions {
        data: args.data.clone(),
        min_files: args.min_files,
        wait: args.wait,
    };
    let done = runtime()?
        .block_on(pipeline::dataset::compact::compact(&opts))
        .context("compact failed")?;
    if done.is_empty() {
        eprintln!(
            "nothing to compact: no partition of {} has {} or more files",
            text::path(&args.data),
            args.min_files.max(2)
        );
    }
    for c in &done {
        eprintln!(
            "compacted {}/log={}: {} files -> {} ({} rows)",
            c.table,
            text::escape(&c.log),
            c.files_before,
            c.files_after,
            c.rows
        );
    }
    if args.json {
        println!("{}", serde_json::json!({ "compacted": done }));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let v = pipeline::dataset::verify::verify(&args.data)?;
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string(&v)?),
        StatusFormat::Table => {
            for p in &v.problems {
                println!("{p}");
            }
            eprintln!(
                "{}: {} data files, {} rows, generation {}: {}",
                pipeline::text::path(&args.data),
                v.files,
                v.rows,
                v.generation,
                if v.is_clean() {
                    "clean".to_owned()
                } else {
                    format!("{} problems", v.problems.len())
                }
            );
        }
    }
    Ok(if v.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_synth(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    let s = synth::run(&args.options()).context("synth failed")?;
    let planted: u64 = s.planted.values().sum();
    let rejects: u64 = s.rejects.values().sum();
    eprintln!(
        "wrote {} entries in {} logs to {} ({} files, {:.1} MB) in {:.2} s ({:.0} entries/s): {} precert entries, {} planted rule hits, {} decoys, {} malformed, {} unparseable, {} truncated files",
        s.entries,
        s.logs.len(),
        text::path(&args.out),
        s.files,
        s.bytes as f64 / 1e6,
        s.elapsed_seconds,
        s.entries_per_second,
        s.precert_entries,
        planted,
        s.decoys.values().sum::<u64>(),
        rejects,
        s.parse_errors,
        s.truncated_files.len()
    );
    eprintln!(
        "ground truth: {}; ingest with: pipeline ingest {}/*/ --out DATASET",
        text::path(&args.out.join("ground_truth.jsonl")),
        text::path(&args.out)
    );
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &IngestSummary, args: &IngestArgs) {
    if s.files == 0 {
        eprintln!(
            "nothing new to ingest: {} input files already in {}",
            s.already_ingested,
            text::path(&args.out)
        );
        return;
    }
    if s.already_ingested > 0 {
        eprintln!(
            "{} input files already ingested were left alone",
            s.already_ingested
        );
    }
    if s.replaced > 0 {
        eprintln!(
            "{} changed inputs replaced: {} rows and {} rejects of their old content taken out",
            s.replaced, s.rows_removed, s.rejects_removed
        );
    }
    if s.duplicates > 0 {
        eprintln!(
            "{} entries were already in the dataset (same log and index) and were not stored again",
            s.duplicates
        );
    }
    eprintln!(
        "ingested {} files ({:.1} MB) in {:.2} s: {} entries read -> {} rows, {} rejects, {} parse errors; {:.0} entries/s",
        s.files,
        s.input_bytes as f64 / 1e6,
        s.elapsed_seconds,
        s.entries_read,
        s.rows,
        s.rejects,
        s.parse_errors,
        s.entries_per_second
    );
    eprintln!(
        "wrote {} Parquet files under {}",
        s.output_files.len(),
        text::path(&args.out)
    );
    if s.unreadable > 0 {
        eprintln!(
            "warning: {} input files or file tails could not be read (kind = 'io' in {}/rejects)",
            s.unreadable,
            text::path(&args.out)
        );
    }
}
