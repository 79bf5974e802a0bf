//! Progress reporting for long commands: an indicatif bar on a terminal,
//! a plain line every few seconds otherwise (logs of nightly jobs), or nothing.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else plain lines.
    #[default]
    Auto,
    /// Always a bar.
    Bar,
    /// A plain line every ten seconds.
    Plain,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// `Auto` made `Bar` on a terminal, `Plain` elsewhere.
    fn resolved(self) -> Self {
        match self {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        }
    }
}

/// Interval between plain progress lines.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Reports entries decoded and input bytes read.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    started: Instant,
    last_line: Instant,
    total_bytes: u64,
}

impl Progress {
    /// Starts reporting on `total_bytes` of input.
    pub fn new(total_bytes: u64, mode: ProgressMode) -> Self {
        let mode = mode.resolved();
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
            )
            .expect("static template is valid");
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            plain: mode == ProgressMode::Plain,
            started: now,
            last_line: now,
            total_bytes,
        }
    }

    /// Records that `entries` entries are done and `bytes` input bytes read.
    pub fn update(&mut self, entries: u64, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{entries} entries"));
        } else if self.plain && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            let secs = self.started.elapsed().as_secs_f64();
            let pct = if self.total_bytes == 0 {
                100.0
            } else {
                100.0 * bytes as f64 / self.total_bytes as f64
            };
            eprintln!(
                "progress: {entries} entries, {:.1} of {:.1} MB read ({pct:.0}%), {:.0} entries/s",
                bytes as f64 / 1e6,
                self.total_bytes as f64 / 1e6,
                entries as f64 / secs.max(1e-9)
            );
        }
    }

    /// Runs `f` (which prints) with the bar hidden.
    pub fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Progress in entries (for `fetch`): a bar on a terminal, a plain line
/// every ten seconds otherwise, or nothing; the command moves
/// [`EntryProgress::bar`] (hidden unless drawn).
pub struct EntryProgress {
    /// What the command updates: its length and position in entries.
    pub bar: ProgressBar,
    ticker: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl EntryProgress {
    /// Starts showing progress as `mode` says.
    pub fn new(mode: ProgressMode) -> Self {
        let mode = mode.resolved();
        if mode == ProgressMode::Bar {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} entries ({per_sec}, eta {eta})",
                )
                .expect("static template is valid"),
            );
            return EntryProgress { bar, ticker: None };
        }
        let bar = ProgressBar::hidden();
        if mode == ProgressMode::Quiet {
            return EntryProgress { bar, ticker: None };
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, shown) = (stop.clone(), bar.clone());
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !seen.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if last.elapsed() < PLAIN_EVERY {
                    continue;
                }
                last = Instant::now();
                if let Some(len) = shown.length().filter(|l| *l > 0) {
                    let pos = shown.position();
                    eprintln!(
                        "progress: {pos} of {len} entries fetched and verified ({:.0}%), {:.0} entries/s",
                        100.0 * pos as f64 / len as f64,
                        pos as f64 / started.elapsed().as_secs_f64().max(1e-9)
                    );
                }
            }
        });
        EntryProgress {
            bar,
            ticker: Some((stop, thread)),
        }
    }
}

impl Drop for EntryProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        if let Some((stop, thread)) = self.ticker.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}
