//! The `pipeline` binary: parse flags, run the library, map the outcome to an
//! exit status: 0 clean; 1 finished with error-severity findings (`check`) or
//! unreadable input (`ingest`); 2 failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

use clap::Parser;
use pipeline::cli::{Cli, Command};
use pipeline::text;

/// mimalloc: decoding makes many small short-lived allocations per entry,
/// which glibc's allocator serves markedly slower across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (v3's `mi_option_e`, index 15).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Two settings that cut the kernel's page zeroing (README, "Benchmarks",
/// has what it cost): freed memory waits `purge_delay_ms`, not mimalloc's
/// 10 ms, before it goes back to the kernel (ingest frees and reallocates
/// megabytes per page; `MIMALLOC_PURGE_DELAY` still wins), and no
/// transparent huge pages for this process (each fault on a returned region
/// zeroes 2 MiB at once).
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
    // hash tables of hundreds of MB one after another, so freed memory is
    // kept 10 s for the next one.
    tune_allocator(match cli.command {
        Command::Query(_) | Command::Check(_) | Command::Show(_) => 10_000,
        #[cfg(feature = "cluster")]
        Command::Executor(_) => 10_000,
        _ => 1000,
    });
    let name = command_name(&cli.command);
    let data = dataset_read(&cli.command).map(std::path::Path::to_path_buf);
    let result = catch_unwind(AssertUnwindSafe(move || {
        if std::env::var_os("PIPELINE_CRASH_AT").is_some_and(|p| p == "panic") {
            panic!("PIPELINE_CRASH_AT=panic");
        }
        pipeline::cli::run::dispatch(cli.command)
    }));
    let message = match result {
        Ok(Ok(code)) => return code,
        // The reader went away (`pipeline query ... | head`): done, as for
        // other Unix tools.
        Ok(Err(e)) if is_broken_pipe(&e) => return ExitCode::SUCCESS,
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => format!(
            "internal error in `pipeline {}`: {}",
            name,
            panic_message::take().unwrap_or_else(|| "a panic".into())
        ),
    };
    eprintln!("error: {}", text::escape_lines(&message));
    // A reader that failed on a data file names the damaged file.
    if let Some(data) = data {
        for problem in pipeline::dataset::verify::damaged_files(&data) {
            eprintln!("error: damaged data file: {problem}");
        }
    }
    ExitCode::from(2)
}

/// Whether `e` comes from writing to a pipe whose reader has closed it
/// (`Output` says so as an I/O error, whatever the writer made of it).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The subcommand's name, for messages.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Ingest(_) => "ingest",
        Command::Query(_) => "query",
        Command::Check(_) => "check",
        Command::Show(_) => "show",
        Command::Prune(_) => "prune",
        Command::Report(_) => "report",
        Command::Synth(_) => "synth",
        Command::Fetch(_) => "fetch",
        Command::Status(_) => "status",
        Command::Compact(_) => "compact",
        Command::Publish(_) => "publish",
        Command::Verify(_) => "verify",
        #[cfg(feature = "cluster")]
        Command::Scheduler(_) => "scheduler",
        #[cfg(feature = "cluster")]
        Command::Executor(_) => "executor",
    }
}

/// The dataset a reading command reads.
fn dataset_read(command: &Command) -> Option<&std::path::Path> {
    match command {
        Command::Query(a) => a.data.first().map(|d| d.as_path()),
        Command::Check(a) => a.data.first().map(|d| d.as_path()),
        Command::Status(a) => a.data.first().map(|d| d.as_path()),
        Command::Show(a) => a.options.data.first().map(|d| d.as_path()),
        Command::Compact(a) => Some(&a.options.data),
        Command::Report(a) => Some(&a.options.data),
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
