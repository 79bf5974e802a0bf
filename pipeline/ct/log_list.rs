//! Google's CT log list (v3 schema) as the table `ct_logs`, so SCT log IDs
//! (`certs.sct_log_ids`) join to log names, operators and states, and a
//! dataset's `log` names can be checked against the logs that exist.
//!
//! The list of `pipeline/ct/loglist/` is compiled in; `--log-list FILE` reads a
//! newer one.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, BooleanBuilder, Int64Builder, StringBuilder};
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use serde_json::Value;

use crate::ct::tile::log_name_from_url;
use crate::error::{Error, Result};

/// The log list compiled into the binary.
pub const BUILTIN: &str = include_str!("loglist/google_all_logs_list_v3_53.34.json");

/// What the compiled-in list is called in messages.
pub const BUILTIN_NAME: &str = "Google all_logs_list v3 53.34 (2025-05-05)";

/// One log of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct CtLog {
    /// SHA-256 of the log's public key.
    pub log_id: Vec<u8>,
    /// Its description (`Google 'Argon2024' log`).
    pub description: String,
    /// The operator's name.
    pub operator: String,
    /// The submission URL (RFC 6962 `url`, tiled `submission_url`).
    pub url: String,
    /// The tiled log's monitoring URL.
    pub monitoring_url: Option<String>,
    /// A static-ct-api (tiled) log.
    pub tiled: bool,
    /// `usable`, `qualified`, `readonly`, `retired`, `rejected`, `pending`.
    pub state: Option<String>,
    /// When it entered that state.
    pub state_since: Option<String>,
    /// Start of the notAfter range it accepts (inclusive).
    pub temporal_start: Option<String>,
    /// End of that range (exclusive).
    pub temporal_end: Option<String>,
    /// Maximum merge delay, seconds.
    pub mmd: Option<i64>,
    /// The key, base64 SubjectPublicKeyInfo.
    pub key: String,
    /// The name `pipeline` gives the log when a tile archive names it by
    /// its URL: the URL without scheme, `/` as `_`.
    pub log_name: String,
}

/// A parsed log list.
#[derive(Debug, Clone, PartialEq)]
pub struct LogList {
    /// The list's `version`.
    pub version: String,
    /// Its `log_list_timestamp`.
    pub timestamp: String,
    /// Every log, RFC 6962 and tiled.
    pub logs: Vec<CtLog>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Parses a v3 log list; `origin` names it in errors.
pub fn parse(json: &str, origin: &Path) -> Result<LogList> {
    let bad = |message: String| Error::Input {
        path: origin.to_path_buf(),
        message,
    };
    let root: Value =
        serde_json::from_str(json).map_err(|e| bad(format!("not a JSON log list: {e}")))?;
    let operators = root["operators"]
        .as_array()
        .ok_or_else(|| bad("no \"operators\" array: not a v3 log list".into()))?;
    let mut logs = Vec::new();
    for op in operators {
        let operator = text(&op["name"]).unwrap_or_default();
        for (key, tiled) in [("logs", false), ("tiled_logs", true)] {
            for log in op[key].as_array().into_iter().flatten() {
                let id = text(&log["log_id"]).unwrap_or_default();
                let log_id = base64::engine::general_purpose::STANDARD
                    .decode(&id)
                    .map_err(|e| bad(format!("log_id {id:?} is not base64: {e}")))?;
                let url = text(&log["url"])
                    .or_else(|| text(&log["submission_url"]))
                    .unwrap_or_default();
                let (state, state_since) = match log["state"].as_object() {
                    Some(m) => match m.iter().next() {
                        Some((k, v)) => (Some(k.clone()), text(&v["timestamp"])),
                        None => (None, None),
                    },
                    None => (None, None),
                };
                logs.push(CtLog {
                    log_id,
                    description: text(&log["description"]).unwrap_or_default(),
                    operator: operator.clone(),
                    log_name: log_name_from_url(&url).unwrap_or_default(),
                    url,
                    monitoring_url: text(&log["monitoring_url"]),
                    tiled,
                    state,
                    state_since,
                    temporal_start: text(&log["temporal_interval"]["start_inclusive"]),
                    temporal_end: text(&log["temporal_interval"]["end_exclusive"]),
                    mmd: log["mmd"].as_i64(),
                    key: text(&log["key"]).unwrap_or_default(),
                });
            }
        }
    }
    Ok(LogList {
        version: text(&root["version"]).unwrap_or_default(),
        timestamp: text(&root["log_list_timestamp"]).unwrap_or_default(),
        logs,
    })
}

/// The compiled-in list, or the one at `path`.
pub fn load(path: Option<&Path>) -> Result<LogList> {
    match path {
        None => parse(BUILTIN, Path::new(BUILTIN_NAME)),
        Some(p) => {
            let json = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            parse(&json, p)
        }
    }
}

fn millis(text: &Option<String>) -> Option<i64> {
    text.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
}

/// The list as one `ct_logs` batch.
pub fn to_batch(list: &LogList) -> Result<RecordBatch> {
    let n = list.logs.len();
    let mut log_id = BinaryBuilder::new();
    let mut strings: Vec<StringBuilder> = (0..10).map(|_| StringBuilder::new()).collect();
    let mut tiled = BooleanBuilder::new();
    let mut times: Vec<arrow::array::TimestampMillisecondBuilder> = (0..3)
        .map(|_| {
            arrow::array::TimestampMillisecondBuilder::new()
                .with_timezone(crate::table::schema::UTC)
        })
        .collect();
    let mut mmd = Int64Builder::new();
    for l in &list.logs {
        log_id.append_value(&l.log_id);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&l.log_id);
        let values = [
            Some(hex::encode(&l.log_id)),
            Some(b64),
            Some(l.description.clone()),
            Some(l.operator.clone()),
            Some(l.url.clone()),
            l.monitoring_url.clone(),
            l.state.clone(),
            Some(l.key.clone()),
            Some(l.log_name.clone()),
            Some(list.version.clone()),
        ];
        for (b, v) in strings.iter_mut().zip(values) {
            b.append_option(v);
        }
        tiled.append_value(l.tiled);
        for (b, v) in times
            .iter_mut()
            .zip([&l.state_since, &l.temporal_start, &l.temporal_end])
        {
            b.append_option(millis(v));
        }
        mmd.append_option(l.mmd);
    }
    let mut s: Vec<ArrayRef> = strings
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    let mut t: Vec<ArrayRef> = times
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    let take = |v: &mut Vec<ArrayRef>| v.remove(0);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(log_id.finish()),
        take(&mut s), // log_id_hex
        take(&mut s), // log_id_base64
        take(&mut s), // description
        take(&mut s), // operator
        take(&mut s), // url
        take(&mut s), // monitoring_url
        Arc::new(tiled.finish()),
        take(&mut s), // state
        take(&mut t), // state_since
        take(&mut t), // temporal_start
        take(&mut t), // temporal_end
        Arc::new(mmd.finish()),
        take(&mut s), // key
        take(&mut s), // log_name
        take(&mut s), // list_version
    ];
    debug_assert_eq!(columns[0].len(), n);
    RecordBatch::try_new(crate::table::schema::ct_logs_schema(), columns)
        .map_err(|e| Error::arrow("building the ct_logs table", e))
}

/// Whether `name` is a log's `log_name` in the list (what `ct_logs.log_name`
/// joins `certs.log` on), ignoring case.
pub fn knows(list: &LogList, name: &str) -> bool {
    list.logs
        .iter()
        .any(|l| l.log_name.eq_ignore_ascii_case(name))
}

/// The `log_name`s a user probably meant by `name`: logs whose URL ends in
/// it (`pilot` for `https://ct.googleapis.com/pilot/`), else whose name
/// contains it; at most five.
pub fn suggest<'a>(list: &'a LogList, name: &str) -> Vec<&'a str> {
    let name = name.to_ascii_lowercase();
    if name.is_empty() {
        return Vec::new();
    }
    let last_segment = |url: &str| {
        url.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let by_url: Vec<&str> = list
        .logs
        .iter()
        .filter(|l| last_segment(&l.url) == name)
        .map(|l| l.log_name.as_str())
        .collect();
    let found = if by_url.is_empty() {
        list.logs
            .iter()
            .filter(|l| l.log_name.to_ascii_lowercase().contains(&name))
            .map(|l| l.log_name.as_str())
            .collect()
    } else {
        by_url
    };
    found.into_iter().take(5).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_list_has_every_log() {
        let list = load(None).unwrap();
        assert_eq!(list.version, "53.34");
        assert_eq!(list.logs.len(), 181);
        assert_eq!(list.logs.iter().filter(|l| l.tiled).count(), 6);
        let argon = list
            .logs
            .iter()
            .find(|l| l.description == "Google 'Argon2020' log")
            .unwrap();
        assert_eq!(
            hex::encode(&argon.log_id),
            "b21e05cc8ba2cd8a204e8766f92bb98a2520676bdafa70e7b249532def8b905e"
        );
        assert_eq!(argon.state.as_deref(), Some("rejected"));
        assert_eq!(argon.log_name, "ct.googleapis.com_logs_argon2020");
        assert!(list.logs.iter().any(|l| l.description == "WoSign log"));
        assert!(!knows(&list, "argon2020"));
        assert!(knows(&list, "ct.googleapis.com_logs_argon2020"));
        assert!(knows(&list, "CT.googleapis.com_logs_argon2020"));
        assert!(!knows(&list, "synth-1"));
        assert_eq!(
            suggest(&list, "argon2020"),
            ["ct.googleapis.com_logs_argon2020"]
        );
        assert_eq!(suggest(&list, "pilot"), ["ct.googleapis.com_pilot"]);
        assert!(suggest(&list, "synth-1").is_empty());
        let batch = to_batch(&list).unwrap();
        assert_eq!(batch.num_rows(), 181);
    }

    #[test]
    fn a_file_that_is_not_a_log_list_is_an_error_naming_it() {
        let err = parse("{\"logs\": []}", Path::new("/tmp/x.json")).unwrap_err();
        assert!(err.to_string().contains("/tmp/x.json"), "{err}");
        assert!(err.to_string().contains("operators"), "{err}");
    }
}
