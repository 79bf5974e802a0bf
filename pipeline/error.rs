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
    /// Another run holds the dataset (its lock) and the command did not wait.
    #[error("{0}")]
    Busy(String),
    /// Reading or writing a Parquet file failed (the cause follows in the error chain).
    #[error("{operation} {}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// `reading` or `writing`.
        operation: &'static str,
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
    /// An Arrow operation failed; `context` says which and on what
    /// (`reading data/certs/log=x/a.parquet`, `writing out.csv`, `building
    /// the certs batch`).
    #[error("{context}")]
    Arrow {
        /// What was being done, naming the file or table.
        context: String,
        /// The underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// An object-store request failed; `url` names the object or dataset
    /// (never a credential).
    #[error("{operation} {url}: {message}")]
    Remote {
        /// The object's or dataset's URL.
        url: String,
        /// `reading`, `writing`, `listing`, `deleting` or `connecting to`.
        operation: &'static str,
        /// The store's message.
        message: String,
    },
    /// A bug, not a problem of the input: a thread or a rule panicked, an
    /// invariant broke. The message says where; please report it.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Wraps an Arrow error with what was being done (naming the file or table).
    pub fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source,
        }
    }

    /// Wraps a Parquet error on `path`; `operation` is `reading` or `writing`.
    pub fn parquet(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: parquet::errors::ParquetError,
    ) -> Self {
        Error::Parquet {
            path: path.into(),
            operation,
            source,
        }
    }

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
