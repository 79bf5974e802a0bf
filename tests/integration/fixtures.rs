//! Helpers shared by the tests: building RFC 6962 entries, writing dumps,
//! running ingest into a temporary directory and reading the Parquet back.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{
    Array, AsArray, BinaryArray, BooleanArray, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pipeline::ingest::{ingest, IngestOptions, IngestSummary};
use pipeline::notes::Silent;

/// The keys of a finding in `check --format json`, and the CSV header, in
/// order: a contract scripts depend on.
pub const FINDING_KEYS: &[&str] = &[
    "rule",
    "severity",
    "log",
    "entry_index",
    "cert_sha256",
    "issuer_cn",
    "not_before",
    "detail",
    "serial",
    "subject_dn",
    "san_count",
    "san_first",
    "issuer_dn",
    "issuer_org",
    "crt_sh",
];

/// The rule files of `queries/`, the built-in rules: every one must load
/// and run.
pub fn rule_file_count() -> usize {
    fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("queries"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count()
}

/// The repository's test data directory.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

// An RFC 6962 encoder of its own, kept apart from `pipeline::ct::encode` on
// purpose: entries built here check the decoder against the wire format as
// the RFC lays it out, not against the library's idea of it.

fn u24(n: usize) -> [u8; 3] {
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

/// extra_data chain list.
pub fn chain_bytes(chain: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for c in chain {
        body.extend_from_slice(&u24(c.len()));
        body.extend_from_slice(c);
    }
    let mut v = u24(body.len()).to_vec();
    v.extend(body);
    v
}

/// (leaf_input, extra_data) bytes of an x509_entry.
pub fn x509_entry(ts: u64, cert: &[u8], chain: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
    let mut leaf = vec![0, 0];
    leaf.extend_from_slice(&ts.to_be_bytes());
    leaf.extend_from_slice(&[0, 0]);
    leaf.extend_from_slice(&u24(cert.len()));
    leaf.extend_from_slice(cert);
    leaf.extend_from_slice(&[0, 0]);
    (leaf, chain_bytes(chain))
}

/// A JSON entry object from raw bytes.
pub fn json_entry(leaf: &[u8], extra: &[u8]) -> serde_json::Value {
    serde_json::json!({"leaf_input": STANDARD.encode(leaf), "extra_data": STANDARD.encode(extra)})
}

/// Writes a page file.
pub fn write_page(path: &Path, entries: &[serde_json::Value]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::json!({ "entries": entries }).to_string()).unwrap();
}

/// Ingests `inputs` into `out` quietly.
pub fn run_ingest(inputs: &[PathBuf], out: &Path, log: Option<&str>) -> IngestSummary {
    ingest_with(inputs, out, log, None)
}

/// Ingests with an explicit thread count.
pub fn ingest_with(
    inputs: &[PathBuf],
    out: &Path,
    log: Option<&str>,
    threads: Option<usize>,
) -> IngestSummary {
    ingest(
        &IngestOptions {
            inputs: inputs.to_vec(),
            out: out.to_path_buf(),
            log: log.map(str::to_owned),
            threads,
            ..IngestOptions::default()
        },
        &Silent,
    )
    .expect("ingest")
}

/// Reads every Parquet file of `DIR/<table>/log=<log>/`, in name order.
pub fn read_table(out: &Path, table: &str, log: &str) -> Vec<RecordBatch> {
    let dir = out.join(table).join(format!("log={log}"));
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => return Vec::new(),
    };
    files.retain(|p| p.extension().is_some_and(|e| e == "parquet"));
    files.sort();
    let mut batches = Vec::new();
    for f in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            batches.push(b.unwrap());
        }
    }
    batches
}

/// One row of a table, as JSON values keyed by column (hashes as hex).
pub fn rows(batches: &[RecordBatch]) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let mut row = serde_json::Map::new();
            for (f, col) in b.schema().fields().iter().zip(b.columns()) {
                row.insert(f.name().clone(), cell(col.as_ref(), i));
            }
            out.push(row);
        }
    }
    out
}

fn cell(col: &dyn Array, i: usize) -> serde_json::Value {
    use serde_json::Value;
    if col.is_null(i) {
        return Value::Null;
    }
    let any = col.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Value::from(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Value::from(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<Int32Array>() {
        return Value::from(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return Value::from(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<BinaryArray>() {
        return Value::from(hex::encode(a.value(i)));
    }
    if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
        return Value::from(a.value(i));
    }
    if let Some(a) = any.downcast_ref::<ListArray>() {
        let inner = a.value(i);
        return Value::Array((0..inner.len()).map(|j| cell(inner.as_ref(), j)).collect());
    }
    let _ = col.as_string_opt::<i32>();
    panic!("unhandled column type {:?}", col.data_type())
}

/// Runs the `pipeline` binary in `cwd`, whatever its exit status.
pub fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run pipeline")
}

/// Runs the `pipeline` binary in `cwd` and requires exit status 0 or 1.
pub fn pipeline_ok(args: &[&str], cwd: &Path) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run pipeline");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "pipeline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON values of a JSON-lines output.
pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Copies dump files into `dir/drop/<log>/` (the log is each file's directory name),
/// as a nightly job's drop folder receives them.
pub fn copy_into_drop(dir: &Path, files: &[PathBuf]) {
    for f in files {
        let log = f.parent().unwrap().file_name().unwrap();
        let target = dir.join("drop").join(log);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(f, target.join(f.file_name().unwrap())).unwrap();
    }
}

/// `raw`, gunzipped if it is gzip (a tile may be either).
pub fn gunzip_if_gzip(raw: Vec<u8>) -> Vec<u8> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return raw;
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out).unwrap();
    out
}

/// Reads one HTTP/1.1 request (its line and headers) from a test server's
/// connection: the request target, or `None` once the client has gone.
pub fn read_request(reader: &mut impl std::io::BufRead) -> Option<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            return Some(target);
        }
    }
}
