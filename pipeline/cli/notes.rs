//! The command line's [`Reporter`]: notes to stderr, escaped, and ingest
//! progress as a bar or plain lines.

use std::sync::Mutex;

use super::progress::{Progress, ProgressMode};
use crate::notes::{Level, Reporter};

/// Writes notes to stderr and shows progress in `mode`.
pub struct StderrReporter {
    mode: ProgressMode,
    progress: Mutex<Option<Progress>>,
}

impl StderrReporter {
    /// A reporter showing progress in `mode`.
    pub fn new(mode: ProgressMode) -> Self {
        StderrReporter {
            mode,
            progress: Mutex::new(None),
        }
    }

    fn with_progress(&self, f: impl FnOnce(&mut Option<Progress>)) {
        if let Ok(mut p) = self.progress.lock() {
            f(&mut p);
        }
    }
}

impl Reporter for StderrReporter {
    fn note(&self, _level: Level, text: String) {
        // Clear a bar first so the note is not drawn over it.
        self.with_progress(|p| {
            if let Some(p) = p {
                p.suspend(|| eprintln!("{}", crate::text::escape_lines(&text)));
            } else {
                eprintln!("{}", crate::text::escape_lines(&text));
            }
        });
    }

    fn start(&self, total_bytes: u64) {
        self.with_progress(|p| *p = Some(Progress::new(total_bytes, self.mode)));
    }

    fn progress(&self, entries: u64, bytes: u64) {
        self.with_progress(|p| {
            if let Some(p) = p {
                p.update(entries, bytes);
            }
        });
    }

    fn finish(&self) {
        self.with_progress(|p| {
            if let Some(p) = p.take() {
                p.finish();
            }
        });
    }
}
