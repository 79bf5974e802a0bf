//! Writing query results: a text table, CSV, JSON lines or Parquet, to
//! stdout or a file. Binary columns (hashes) are shown as lowercase hex in
//! every text format.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

use crate::error::Error;

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

/// A text column (or list of text) with control and bidirectional
/// characters escaped for a terminal ([`crate::text::escape`]).
fn escape_column(col: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let escaped = |values: &mut dyn Iterator<Item = Option<&str>>| -> ArrayRef {
        let mut b = StringBuilder::new();
        for v in values {
            b.append_option(v.map(crate::text::escape));
        }
        Arc::new(b.finish())
    };
    Ok(match col.data_type() {
        DataType::Utf8 => escaped(&mut col.as_string::<i32>().iter()),
        DataType::LargeUtf8 => escaped(&mut col.as_string::<i64>().iter()),
        DataType::Utf8View => escaped(&mut col.as_string_view().iter()),
        DataType::List(_) => {
            let list = col.as_list::<i32>();
            let values = escape_column(list.values())?;
            let field = Arc::new(Field::new("item", values.data_type().clone(), true));
            Arc::new(ListArray::try_new(
                field,
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?)
        }
        _ => col.clone(),
    })
}

/// The batch with each column passed through `f` and each name through
/// `name` (types follow the new columns).
fn map_columns(
    batch: &RecordBatch,
    f: fn(&ArrayRef) -> Result<ArrayRef, ArrowError>,
    name: fn(&str) -> String,
) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .map(f)
        .collect::<Result<Vec<_>, _>>()?;
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(name(f.name()), c.data_type().clone(), f.is_nullable()))
        .collect();
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

/// The batch with its text made safe for a terminal (column names too).
pub fn escape_text_columns(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    map_columns(batch, escape_column, |n| {
        crate::text::escape(n).into_owned()
    })
}

/// Whether CSV cannot hold a column of this type as it is.
fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
    )
}

/// A nested column (list, struct, map) as text for CSV, which has none:
/// each value as the JSON the JSON format writes for it (`["a","b"]`,
/// `{"k":1}`), so values stay exact and parse back.
fn nested_as_json(col: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    if !is_nested(col.data_type()) {
        return Ok(col.clone());
    }
    let field = Field::new("v", col.data_type().clone(), true);
    let one = RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![col.clone()])?;
    let mut lines = Vec::new();
    {
        let mut w = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut lines);
        w.write(&one)?;
        w.finish()?;
    }
    // Each line is `{"v":VALUE}`: the cell is VALUE.
    let mut b = StringBuilder::new();
    for (row, line) in lines.split(|c| *c == b'\n').take(col.len()).enumerate() {
        let value = line
            .strip_prefix(b"{\"v\":")
            .and_then(|l| l.strip_suffix(b"}"))
            .ok_or_else(|| ArrowError::JsonError("unexpected JSON line".into()))?;
        if col.is_null(row) {
            b.append_null();
        } else {
            b.append_value(String::from_utf8_lossy(value));
        }
    }
    Ok(Arc::new(b.finish()))
}

/// The batch with its nested columns as JSON text, for CSV.
fn nested_as_json_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    map_columns(batch, nested_as_json, str::to_owned)
}

/// Seconds of a duration column, as a number (CSV and JSON): `None` for
/// a column that is not a duration.
fn duration_seconds(col: &ArrayRef) -> Option<ArrayRef> {
    let DataType::Duration(unit) = col.data_type() else {
        return None;
    };
    let per_second = match unit {
        TimeUnit::Second => 1.0,
        TimeUnit::Millisecond => 1e3,
        TimeUnit::Microsecond => 1e6,
        TimeUnit::Nanosecond => 1e9,
    };
    let as_i64 = arrow::compute::cast(col, &DataType::Int64).ok()?;
    let values = as_i64.as_primitive::<arrow::datatypes::Int64Type>();
    Some(Arc::new(
        values
            .iter()
            .map(|v| v.map(|v| v as f64 / per_second))
            .collect::<Float64Array>(),
    ))
}

/// The batch with each duration column as seconds (a number), renamed
/// `<name>_seconds` so the unit is in the header: CSV and JSON readers get
/// a number they can compute with, not `PT65448000S`.
fn durations_as_seconds(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Duration(_)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        match duration_seconds(c) {
            Some(seconds) => {
                fields.push(Field::new(
                    format!("{}_seconds", f.name()),
                    DataType::Float64,
                    f.is_nullable(),
                ));
                columns.push(seconds);
            }
            None => {
                fields.push(f.as_ref().clone());
                columns.push(c.clone());
            }
        }
    }
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

/// The batch with every binary column (and list of binary) turned into hex text.
pub fn hex_binary_columns(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    map_columns(batch, hex_column, str::to_owned)
}

/// Where results go: `--out FILE` or standard output, named in errors.
pub struct Output {
    w: PipeWatch<Box<dyn Write + Send>>,
    name: PathBuf,
}

/// A writer that remembers whether its reader went away (a broken pipe):
/// Arrow's CSV writer reports that only as text.
struct PipeWatch<W> {
    inner: W,
    broken: bool,
}

impl<W: Write> Write for PipeWatch<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

impl<W> PipeWatch<W> {
    fn new(inner: W) -> Self {
        PipeWatch {
            inner,
            broken: false,
        }
    }

    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            self.broken |= e.kind() == std::io::ErrorKind::BrokenPipe;
        }
        r
    }
}

impl Output {
    /// A buffered writer to `path`, or to stdout when there is none.
    pub fn open(path: Option<&Path>) -> crate::error::Result<Self> {
        Ok(match path {
            Some(p) => Output {
                w: PipeWatch::new(Box::new(BufWriter::new(
                    std::fs::File::create(p).map_err(|e| Error::io(p, e))?,
                ))),
                name: p.to_path_buf(),
            },
            None => Output::stdout(),
        })
    }

    /// Standard output.
    pub fn stdout() -> Self {
        Output {
            w: PipeWatch::new(Box::new(BufWriter::new(std::io::stdout()))),
            name: PathBuf::from("<stdout>"),
        }
    }

    /// Writes `batches` in `format`; an error names the destination.
    pub fn write(
        &mut self,
        format: OutputFormat,
        batches: &[RecordBatch],
    ) -> crate::error::Result<()> {
        self.write_each(format, batches.iter().cloned().map(Ok))
    }

    /// Writes the batches `batches` yields in `format`, one at a time (only
    /// a table is formatted from all of them at once); stops at the first
    /// error, which names the destination or is the batches' own.
    pub fn write_each(
        &mut self,
        format: OutputFormat,
        batches: impl IntoIterator<Item = crate::error::Result<RecordBatch>>,
    ) -> crate::error::Result<()> {
        let mut failed = None;
        let mut each = batches.into_iter().map_while(|b| match b {
            Ok(b) => Some(b),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
        let written = write_batches(&mut self.w, format, &mut each);
        if let Some(e) = failed {
            return Err(e);
        }
        if self.w.broken {
            // Said as an I/O error, whatever the writer made of it.
            let e = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
            return Err(Error::io(&self.name, e));
        }
        written.map_err(|e| Error::arrow(format!("writing {}", self.name.display()), e))
    }

    /// Writes text as it is (already made safe to print by the caller).
    pub fn write_text(&mut self, text: &str) -> crate::error::Result<()> {
        self.w
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(&self.name, e))
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> crate::error::Result<()> {
        self.w.flush().map_err(|e| Error::io(&self.name, e))
    }
}

/// Writes `batches` in `format` to `w` (nothing for Parquet without a
/// batch).
fn write_batches(
    w: &mut (dyn Write + Send),
    format: OutputFormat,
    batches: &mut dyn Iterator<Item = RecordBatch>,
) -> Result<(), ArrowError> {
    if format == OutputFormat::Parquet {
        let Some(first) = batches.next() else {
            return Ok(());
        };
        let mut writer = ArrowWriter::try_new(w, first.schema(), None)
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        for b in std::iter::once(first).chain(batches) {
            writer
                .write(&b)
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        }
        writer
            .close()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        return Ok(());
    }
    if format != OutputFormat::Table {
        return write_lines(w, format, batches);
    }
    let shown = batches
        .map(|b| hex_binary_columns(&b))
        .collect::<Result<Vec<_>, _>>()?;
    let safe = shown
        .iter()
        .map(escape_text_columns)
        .collect::<Result<Vec<_>, _>>()?;
    // Durations read as `757 days 12 hours 0 mins 0 secs`, not ISO
    // 8601's `PT65448000S`.
    let options = arrow::util::display::FormatOptions::default()
        .with_duration_format(arrow::util::display::DurationFormat::Pretty);
    writeln!(
        w,
        "{}",
        arrow::util::pretty::pretty_format_batches_with_options(&safe, &options)?
    )?;
    if safe.iter().all(|b| b.num_rows() == 0) {
        writeln!(w, "0 rows")?;
    }
    Ok(())
}

/// Rows written at a time by [`write_lines`].
const SLICE_ROWS: usize = 8192;

/// `batch` as zero-copy slices of at most [`SLICE_ROWS`] rows (itself when
/// it has none: a CSV header is still written for it).
fn slices(batch: RecordBatch) -> Vec<RecordBatch> {
    if batch.num_rows() == 0 {
        return vec![batch];
    }
    (0..batch.num_rows())
        .step_by(SLICE_ROWS)
        .map(|at| batch.slice(at, SLICE_ROWS.min(batch.num_rows() - at)))
        .collect()
}

/// Writes `batches` as CSV or JSON lines, a slice at a time: the text
/// copies of a slice's columns live only while it is written.
fn write_lines(
    w: &mut (dyn Write + Send),
    format: OutputFormat,
    batches: &mut dyn Iterator<Item = RecordBatch>,
) -> Result<(), ArrowError> {
    if format == OutputFormat::Csv {
        let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(w);
        for b in batches.flat_map(slices) {
            let b = hex_binary_columns(&b)?;
            writer.write(&nested_as_json_text(&durations_as_seconds(&b)?)?)?;
        }
        return Ok(());
    }
    // Every column is a key of every object, null or not.
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::LineDelimited>(w);
    for b in batches.flat_map(slices) {
        writer.write(&durations_as_seconds(&hex_binary_columns(&b)?)?)?;
    }
    writer.finish()
}
