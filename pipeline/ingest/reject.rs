//! Entries that could not be framed: one row of the `rejects` table each.

use std::fmt;
use std::sync::Arc;

/// Where in its source file an entry or problem sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A JSON-lines line (1-based) and the byte offset where it starts.
    Line {
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line start in the decompressed stream.
        byte_offset: u64,
    },
    /// The n-th (0-based) element of a page's `entries` array.
    Entry {
        /// 0-based ordinal within the page.
        ordinal: u64,
    },
    /// A place in a JSON document, as serde_json reports it.
    Json {
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
    },
    /// A byte offset in the decompressed stream.
    Byte(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { line, .. } => write!(f, "line {line}"),
            Position::Entry { ordinal } => write!(f, "entry {ordinal}"),
            Position::Json { line, column } => write!(f, "line {line} column {column}"),
            Position::Byte(offset) => write!(f, "byte {offset}"),
        }
    }
}

/// The kinds of reject; the `kind` column holds [`RejectKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// A JSON syntax error or an entry that is not a JSON object.
    Json,
    /// A CSV row that cannot be read (bad quoting, not UTF-8 where needed).
    Csv,
    /// leaf_input or extra_data missing.
    MissingField,
    /// leaf_input or extra_data is not valid base64.
    Base64,
    /// The TLS framing of the leaf or extra_data is wrong.
    Framing,
    /// The entry's index cannot be determined.
    Index,
    /// Reading or decompressing the file failed; the rest of it is lost.
    Io,
}

impl RejectKind {
    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Json => "json",
            RejectKind::Csv => "csv",
            RejectKind::MissingField => "missing_field",
            RejectKind::Base64 => "base64",
            RejectKind::Framing => "framing",
            RejectKind::Index => "index",
            RejectKind::Io => "io",
        }
    }
}

/// One row of the `rejects` table (without the `log` partition column).
#[derive(Debug, Clone, PartialEq)]
pub struct RejectRecord {
    /// The entry's index, when known.
    pub entry_index: Option<i64>,
    /// The input file, as given on the command line or found under it.
    pub source_file: Arc<str>,
    /// Where in the file.
    pub position: Position,
    /// The kind of failure.
    pub kind: RejectKind,
    /// A human explanation naming the failed field.
    pub reason: String,
}
