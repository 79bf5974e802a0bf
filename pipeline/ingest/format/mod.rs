//! Dump formats: one file each, holding the format's detection, log naming
//! and decoding.
//!
//! A format whose files are streams of text records (lines, CSV rows) is a
//! [`RecordFormat`]: adding one is its file here, its `mod` line, and its
//! entry in [`BY_NAME`] (a format told apart by content instead is returned
//! by `get_entries::detect_layout`). The reader cuts its files into chunks
//! of whole records and the decoder calls its `decode`; nothing else names it.

pub mod axeman_csv;
pub mod cert_files;
pub mod ct_archive;
pub mod get_entries;
pub mod tiles;

use std::fmt;
use std::path::Path;

use crate::ingest::decode::ChunkOutput;
use crate::ingest::streams::Records;
use crate::ingest::TextRecords;
use crate::x509::cert_record::ExtractOptions;

/// A dump format whose files are streams of text records.
pub struct RecordFormat {
    /// Its name, in messages.
    pub name: &'static str,
    /// How its records are cut.
    pub cut: Records,
    /// Whether a file name (without `.gz`/`.zst`) is one of this format's.
    pub is_name: fn(&str) -> bool,
    /// The log a file states in its content, if any (taken unless `--log`).
    pub stated_log_name: fn(&Path) -> Option<String>,
    /// Decodes a chunk of whole records into rows and rejects.
    pub decode: fn(&TextRecords, ExtractOptions) -> ChunkOutput,
}

/// The record formats recognised by file name, tried in this order.
pub static BY_NAME: &[&RecordFormat] = &[&axeman_csv::FORMAT];

impl PartialEq for RecordFormat {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for RecordFormat {}

impl fmt::Debug for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
