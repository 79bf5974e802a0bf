//! Writing query results: a text table, CSV, JSON lines or Parquet, to
//! stdout or a file. Binary columns (hashes) are shown as lowercase hex in
//! every text format.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

/// Output formats of `query` and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
    /// A Parquet file (needs --out).
    Parquet,
}

/// A binary column as hex strings; other columns unchanged.
fn hex_column(col: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let mut b = StringBuilder::new();
    let mut emit = |v: Option<&[u8]>| b.append_option(v.map(hex::encode));
    match col.data_type() {
        DataType::Binary => col.as_binary::<i32>().iter().for_each(&mut emit),
        DataType::LargeBinary => col.as_binary::<i64>().iter().for_each(&mut emit),
        DataType::BinaryView => col.as_binary_view().iter().for_each(&mut emit),
        DataType::FixedSizeBinary(_) => col.as_fixed_size_binary().iter().for_each(&mut emit),
        DataType::List(_) => {
            let list = col.as_list::<i32>();
            let values = hex_column(list.values())?;
            let field = Arc::new(Field::new("item", values.data_type().clone(), true));
            return Ok(Arc::new(ListArray::try_new(
                field,
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?));
        }
        _ => return Ok(col.clone()),
    }
    Ok(Arc::new(b.finish()))
}

/// The batch with every binary column (and list of binary) turned into hex text.
pub fn hex_binary_columns(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .map(hex_column)
        .collect::<Result<Vec<_>, _>>()?;
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), f.is_nullable()))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// A buffered writer to `path`, or to stdout when there is none.
pub fn open(path: Option<&Path>) -> crate::error::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).map_err(|e| crate::error::Error::io(p, e))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

/// Writes `batches` in `format` to `w` (nothing for Parquet without rows).
pub fn write_batches(
    w: &mut (dyn Write + Send),
    format: OutputFormat,
    batches: &[RecordBatch],
) -> Result<(), ArrowError> {
    if format == OutputFormat::Parquet {
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let mut writer = ArrowWriter::try_new(w, first.schema(), None)
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        for b in batches {
            writer
                .write(b)
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        }
        writer
            .close()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        return Ok(());
    }
    let shown = batches
        .iter()
        .map(hex_binary_columns)
        .collect::<Result<Vec<_>, _>>()?;
    match format {
        OutputFormat::Table => {
            writeln!(w, "{}", arrow::util::pretty::pretty_format_batches(&shown)?)?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(w);
            for b in &shown {
                writer.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(w);
            for b in &shown {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        OutputFormat::Parquet => unreachable!("handled above"),
    }
    Ok(())
}
