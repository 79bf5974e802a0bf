//! `pipeline show`: everything the dataset knows about one certificate,
//! found by its SHA-256 (of the certificate, or of the precertificate, in
//! either case) or by its serial: every entry of it in every log (the
//! precertificate and final certificate of one TBSCertificate are the same
//! certificate), the names of the logs that hold it and that signed its
//! SCTs (from `ct_logs`), its stored findings, a crt.sh link, and its PEM
//! when the dataset kept the DER (`ingest --keep-der`).

use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use base64::Engine as _;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::sql::evidence::crt_sh_link;
use crate::sql::hex_literals::decode_hex;
use crate::sql::output::hex_binary_columns;
use crate::sql::session::{self, SessionOptions};

/// What `pipeline show` was asked: its command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowOptions {
    /// The dataset directory, or s3://BUCKET/PREFIX. Repeatable: several
    /// datasets searched as one.
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Vec<PathBuf>,
    /// The certificate's SHA-256 (64 hex digits, either case, `:` between
    /// bytes allowed), of the certificate or the precertificate; with
    /// --serial, a serial number in hex.
    #[arg(value_name = "SHA256")]
    pub key: String,
    /// Look the certificate up by serial (hex, as `certs.serial` holds it;
    /// either case, `:` allowed, leading 00 optional).
    #[arg(long)]
    pub serial: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
    pub format: ShowFormat,
    /// The SQL session: log list and memory.
    #[command(flatten)]
    pub session: SessionOptions,
}

/// Output format of `pipeline show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// One block of `column: value` lines per entry.
    Table,
    /// One JSON object.
    Json,
}

/// One log entry of the certificate: every `certs` column, as text.
#[derive(Debug, Clone, Serialize)]
pub struct ShownEntry {
    /// Why it is shown: `match` (the hash or serial asked for) or
    /// `same certificate` (another entry with the same tbs_sha256: the
    /// precertificate of a final certificate, or the reverse).
    pub relation: &'static str,
    /// (column, value) in table order; lists as JSON arrays, binary as
    /// lowercase hex, timestamps as RFC 3339 (one JSON object in JSON).
    #[serde(serialize_with = "as_object")]
    pub columns: Vec<(String, serde_json::Value)>,
    /// The entry's log as the log list describes it (description, operator, URL).
    pub log_description: Option<String>,
    /// The logs that signed its embedded SCTs, by the log list.
    pub sct_logs: Vec<String>,
    /// The certificate's crt.sh page.
    pub crt_sh: Option<String>,
    /// The DER as PEM, when the dataset kept it.
    pub pem: Option<String>,
}

/// The columns as one JSON object.
fn as_object<S: serde::Serializer>(
    columns: &[(String, serde_json::Value)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(columns.len()))?;
    for (k, v) in columns {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// A stored finding about the certificate.
#[derive(Debug, Clone, Serialize)]
pub struct ShownFinding {
    /// Rule id.
    pub rule: String,
    /// Severity.
    pub severity: String,
    /// The log and index the finding is about.
    pub log: Option<String>,
    /// Index of the entry.
    pub entry_index: Option<i64>,
    /// Why.
    pub detail: Option<String>,
    /// The first and last stored run that reported it.
    pub first_run: String,
    /// See `first_run`.
    pub last_run: String,
}

/// What `pipeline show` found.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// What was looked up, as asked.
    pub query: String,
    /// Every entry, matches first.
    pub entries: Vec<ShownEntry>,
    /// Stored findings about any of these entries.
    pub findings: Vec<ShownFinding>,
}

/// The bytes of a SHA-256 written as hex.
fn sha256_arg(text: &str) -> Result<Vec<u8>> {
    match decode_hex(text) {
        Some(b) if b.len() == 32 => Ok(b),
        _ => Err(Error::Usage(format!(
            "{text:?} is not a SHA-256: expected 64 hex digits (either case); \
             look a serial up with --serial"
        ))),
    }
}

/// A serial as `certs.serial` holds it (lowercase hex), and the same with
/// a leading `00` (an INTEGER whose first byte is >= 0x80 is encoded so).
fn serial_args(text: &str) -> Result<(String, String)> {
    let digits: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "{text:?} is not a serial in hex (as crt.sh and `openssl x509 -serial` show it)"
        )));
    }
    let even = if !digits.len().is_multiple_of(2) {
        format!("0{digits}")
    } else {
        digits
    };
    let bare = even.trim_start_matches("00").to_owned();
    Ok((bare.clone(), format!("00{bare}")))
}

async fn collect(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    Ok(ctx
        .sql_with_options(sql, session::read_only())
        .await?
        .with_param_values(params)?
        .collect()
        .await?)
}

/// A cell as JSON: text, numbers and booleans as themselves, lists as
/// arrays, everything else as its display text.
fn cell(col: &dyn Array, row: usize, formatter: &ArrayFormatter) -> serde_json::Value {
    use arrow::datatypes::DataType::*;
    if col.is_null(row) {
        return serde_json::Value::Null;
    }
    match col.data_type() {
        Boolean => col.as_boolean().value(row).into(),
        Int32 => col
            .as_primitive::<arrow::datatypes::Int32Type>()
            .value(row)
            .into(),
        Int64 => col
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(row)
            .into(),
        List(_) => {
            let list = col.as_list::<i32>().value(row);
            let options = FormatOptions::default().with_display_error(true);
            let shown: serde_json::Value = match ArrayFormatter::try_new(list.as_ref(), &options) {
                Ok(f) => (0..list.len())
                    .map(|i| cell(list.as_ref(), i, &f))
                    .collect(),
                Err(_) => serde_json::Value::Null,
            };
            shown
        }
        _ => formatter.value(row).to_string().into(),
    }
}

/// Every row of `batches` as (column, value) pairs.
fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<(String, serde_json::Value)>>> {
    let mut out = Vec::new();
    let options = FormatOptions::default()
        .with_display_error(true)
        .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.3fZ"));
    for b in batches {
        let b = hex_binary_columns(b).map_err(|e| Error::arrow("showing the certificate", e))?;
        let formatters = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::arrow("showing the certificate", e))?;
        for row in 0..b.num_rows() {
            out.push(
                b.schema()
                    .fields()
                    .iter()
                    .zip(b.columns())
                    .zip(&formatters)
                    .map(|((f, c), fmt)| (f.name().clone(), cell(c.as_ref(), row, fmt)))
                    .collect(),
            );
        }
    }
    Ok(out)
}

fn text_of<'a>(row: &'a [(String, serde_json::Value)], name: &str) -> Option<&'a str> {
    row.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_str())
}

/// Looks the certificate up (see the module documentation).
pub async fn show(opts: &ShowOptions) -> Result<Shown> {
    // The argument is checked before the dataset is opened.
    let (filter, params) = if opts.serial {
        let (bare, padded) = serial_args(&opts.key)?;
        (
            "serial IN ($1, $2)",
            vec![
                ScalarValue::Utf8(Some(bare)),
                ScalarValue::Utf8(Some(padded)),
            ],
        )
    } else {
        let bytes = sha256_arg(&opts.key)?;
        ("cert_sha256 = $1", vec![ScalarValue::Binary(Some(bytes))])
    };
    let ctx = session::open_datasets(&opts.data, &opts.session, false).await?;
    // Matches, then every other entry of the same TBSCertificate.
    let sql = format!(
        "WITH hit AS (SELECT log, entry_index, tbs_sha256 FROM certs WHERE {filter}), \
         wanted AS ( \
           SELECT log, entry_index, 'match' AS relation FROM hit \
           UNION ALL \
           SELECT c.log, c.entry_index, 'same certificate' AS relation \
           FROM certs c JOIN hit h ON c.tbs_sha256 = h.tbs_sha256), \
         keys AS (SELECT log, entry_index, min(relation) AS relation FROM wanted \
                  GROUP BY log, entry_index) \
         SELECT k.relation, c.* FROM certs c \
         JOIN keys k ON c.log = k.log AND c.entry_index = k.entry_index \
         ORDER BY k.relation, c.log, c.entry_index"
    );
    let found = rows(&collect(&ctx, &sql, params).await?)?;
    let logs = rows(
        &collect(
            &ctx,
            "SELECT log_name, log_id_hex, description, operator, url FROM ct_logs",
            vec![],
        )
        .await?,
    )?;
    let describe = |row: &[(String, serde_json::Value)]| {
        format!(
            "{} ({}, {})",
            text_of(row, "description").unwrap_or(""),
            text_of(row, "operator").unwrap_or(""),
            text_of(row, "url").unwrap_or("")
        )
    };
    let mut entries = Vec::new();
    for mut row in found {
        let relation = match row.first().and_then(|(_, v)| v.as_str()) {
            Some("match") => "match",
            _ => "same certificate",
        };
        row.remove(0);
        let log = text_of(&row, "log").unwrap_or("").to_owned();
        let log_description = logs
            .iter()
            .find(|l| text_of(l, "log_name") == Some(log.as_str()))
            .map(|l| describe(l));
        let sct_ids: Vec<String> = row
            .iter()
            .find(|(n, _)| n == "sct_log_ids")
            .and_then(|(_, v)| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let sct_logs = sct_ids
            .iter()
            .map(|id| {
                logs.iter()
                    .find(|l| text_of(l, "log_id_hex") == Some(id.as_str()))
                    .map_or_else(|| format!("{id} (not in the log list)"), |l| describe(l))
            })
            .collect();
        let sha = text_of(&row, "cert_sha256").and_then(|h| hex::decode(h).ok());
        let pem = text_of(&row, "der")
            .and_then(|h| hex::decode(h).ok())
            .map(|der| pem(&der));
        entries.push(ShownEntry {
            relation,
            columns: row,
            log_description,
            sct_logs,
            crt_sh: sha.as_deref().map(crt_sh_link),
            pem,
        });
    }
    let findings = findings_of(&ctx, &entries).await?;
    Ok(Shown {
        query: opts.key.clone(),
        entries,
        findings,
    })
}

/// The DER as a PEM block.
fn pem(der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The stored findings about any of `entries`' certificates.
async fn findings_of(ctx: &SessionContext, entries: &[ShownEntry]) -> Result<Vec<ShownFinding>> {
    let mut hashes: Vec<Vec<u8>> = entries
        .iter()
        .filter_map(|e| text_of(&e.columns, "cert_sha256").and_then(|h| hex::decode(h).ok()))
        .collect();
    hashes.sort();
    hashes.dedup();
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let places: Vec<String> = (1..=hashes.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT rule, severity, log, entry_index, detail, min(run) AS first_run, max(run) AS last_run \
         FROM findings WHERE cert_sha256 IN ({}) \
         GROUP BY rule, severity, log, entry_index, detail ORDER BY rule, log, entry_index",
        places.join(", ")
    );
    let params = hashes
        .into_iter()
        .map(|h| ScalarValue::Binary(Some(h)))
        .collect();
    let batches = collect(ctx, &sql, params).await?;
    let mut out = Vec::new();
    for row in rows(&batches)? {
        let s = |n: &str| text_of(&row, n).map(str::to_owned);
        out.push(ShownFinding {
            rule: s("rule").unwrap_or_default(),
            severity: s("severity").unwrap_or_default(),
            log: s("log"),
            entry_index: row
                .iter()
                .find(|(n, _)| n == "entry_index")
                .and_then(|(_, v)| v.as_i64()),
            detail: s("detail"),
            first_run: s("first_run").unwrap_or_default(),
            last_run: s("last_run").unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked() {
        let sha = "3111500C4A66012CDAE333EC3FCA1C9DDE45C954440E7EE413716BFF3663C074";
        assert_eq!(sha256_arg(sha).unwrap().len(), 32);
        assert_eq!(
            sha256_arg(&sha.to_lowercase()).unwrap(),
            sha256_arg(sha).unwrap()
        );
        assert!(sha256_arg(&sha[..62]).is_err());
        assert_eq!(
            serial_args("0A:BC").unwrap(),
            ("0abc".to_owned(), "000abc".to_owned())
        );
        assert_eq!(
            serial_args("abc").unwrap(),
            ("0abc".to_owned(), "000abc".to_owned())
        );
        assert_eq!(
            serial_args("00ff").unwrap(),
            ("ff".to_owned(), "00ff".to_owned())
        );
        assert!(serial_args("xyz").is_err());
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let p = pem(&[0u8; 100]);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
    }
}
