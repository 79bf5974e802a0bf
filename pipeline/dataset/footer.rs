//! Reading a Parquet file's footer without trusting it: a hostile footer
//! (a length past the file's start, absurd sizes) is an error naming what
//! is wrong, never a panic of the reader.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

/// The footer of the Parquet file at `path`, or why it cannot be read.
pub fn read(path: &Path) -> Result<ParquetMetaData, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    match catch_unwind(AssertUnwindSafe(|| SerializedFileReader::new(file))) {
        Ok(Ok(reader)) => Ok(reader.metadata().clone()),
        Ok(Err(e)) => Err(format!("unreadable footer: {e}")),
        Err(_) => Err("unreadable footer (the Parquet reader failed on it)".into()),
    }
}

/// The rows a Parquet file's footer states.
pub fn rows(path: &Path) -> Result<u64, String> {
    let rows = read(path)?.file_metadata().num_rows();
    u64::try_from(rows).map_err(|_| format!("footer states {rows} rows"))
}
