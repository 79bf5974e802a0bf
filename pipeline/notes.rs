//! What a running command tells its user, through one interface the caller
//! supplies: notes (skipped files, recovered runs, conflicts, waits) and
//! ingest progress. The library never prints; the CLI's reporter writes
//! notes to stderr (escaped) and draws the progress bar, and a test can
//! collect the notes and assert on them.

use std::sync::Mutex;

/// How much a note matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// What happened, for the record (`skipped ...`, `finished the commit of ...`).
    Info,
    /// Something the user may want to act on; the command goes on.
    Warning,
    /// Something failed for one input; the command goes on and exits non-zero.
    Error,
}

/// One note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// How much it matters.
    pub level: Level,
    /// What to say; text from files and certificates is already escaped.
    pub text: String,
}

/// Receives what a command has to say while it runs.
pub trait Reporter: Sync {
    /// A note.
    fn note(&self, level: Level, text: String);

    /// Reading starts: `total_bytes` of input.
    fn start(&self, _total_bytes: u64) {}

    /// `entries` entries decoded and `bytes` input bytes read so far.
    fn progress(&self, _entries: u64, _bytes: u64) {}

    /// Reading is over.
    fn finish(&self) {}
}

/// Keeps the notes, for a caller (a test, a library user) to look at.
#[derive(Debug, Default)]
pub struct Collect(Mutex<Vec<Note>>);

impl Collect {
    /// The notes so far.
    pub fn notes(&self) -> Vec<Note> {
        self.0.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

impl Reporter for Collect {
    fn note(&self, level: Level, text: String) {
        if let Ok(mut notes) = self.0.lock() {
            notes.push(Note { level, text });
        }
    }
}

/// Says nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn note(&self, _level: Level, _text: String) {}
}
