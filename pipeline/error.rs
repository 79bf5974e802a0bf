//! The library's error type: I/O and setup failures that stop a command.
//!
//! Bad *entries* are not errors: they become rows of the `rejects` table or
//! `parse_error` values (see [`crate::ct::leaf`] and [`crate::x509::cert_record`]).

use std::path::PathBuf;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file or directory (the cause follows in the error chain).
    #[error("{}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input that cannot be ingested as given (e.g. an unknown page start index).
    #[error("{}: {message}", path.display())]
    Input {
        /// The input file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Invalid command-line usage discovered after argument parsing.
    #[error("{0}")]
    Usage(String),
    /// Writing Parquet failed (the cause follows in the error chain).
    #[error("writing {}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A SQL statement failed; `origin` is the file (or `<command line>`), `line` where the statement starts.
    #[error("{origin}:{line}: {message}")]
    Sql {
        /// The file the SQL came from.
        origin: String,
        /// The 1-based line where the failing statement starts.
        line: usize,
        /// DataFusion's message.
        message: String,
    },
    /// A query engine error outside any particular statement.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Building an Arrow batch failed (a bug: the schema and builders disagree).
    #[error("building a record batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// An error and its causes, `: `-separated (what `anyhow` prints with `{:#}`).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
