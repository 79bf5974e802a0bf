//! A query's answer as typed rows: for callers outside `sql` (the HTML
//! report) that ask small aggregate questions and want structs, not Arrow.

use arrow::json::ArrayWriter;
use datafusion::prelude::SessionContext;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sql::session::{error_message, read_only};

/// Runs the read-only statement `sql` and reads each row of its answer as a
/// `T` (columns by name, as JSON: integers, floats, strings, lists; a
/// timestamp should be cast to BIGINT milliseconds, a binary to `hex()`).
/// `what` names the question in an error.
pub async fn query_rows<T: DeserializeOwned>(
    ctx: &SessionContext,
    what: &str,
    sql: &str,
) -> Result<Vec<T>> {
    let failed = |message: String| Error::Sql {
        origin: format!("<{what}>"),
        line: 1,
        message,
    };
    let df = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(|e| failed(error_message(&e)))?;
    let batches = df.collect().await.map_err(|e| failed(error_message(&e)))?;
    let mut writer = ArrayWriter::new(Vec::new());
    for b in &batches {
        writer
            .write(b)
            .map_err(|e| failed(format!("reading the answer: {e}")))?;
    }
    writer
        .finish()
        .map_err(|e| failed(format!("reading the answer: {e}")))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| failed(format!("reading the answer: {e}")))
}
