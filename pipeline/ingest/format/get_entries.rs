//! RFC 6962 `get-entries` JSON: whole pages (`{"entries":[...]}`) and JSON
//! lines (`{"index":N,"leaf_input":...,"extra_data":...}`, `i` also accepted).
//!
//! Strings borrow from the input buffer unless they contain JSON escapes.
//! A page that breaks off part-way still yields the entries before the break.

use crate::ingest::Layout;
use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use std::sync::Arc;

use base64::Engine as _;

use crate::ct::leaf;
use crate::ingest::decode::{decode_each, index_at, ChunkOutput, Outcome, Scratch, BASE64};
use crate::ingest::reject::{Position, RejectKind, RejectRecord};
use crate::ingest::streams::Records;
use crate::ingest::{InputFile, PageEnd, TextRecords};

use super::RecordFormat;
use crate::x509::cert_record::{self, ExtractOptions};

/// A JSON string that borrows from the input unless it holds escapes.
/// (serde does not borrow through `Option<Cow<str>>` directly.)
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct JsonStr<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// One JSON entry, as found in a page or on a line.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct JsonEntry<'a> {
    /// Base64 MerkleTreeLeaf.
    #[serde(borrow, default)]
    pub leaf_input: Option<JsonStr<'a>>,
    /// Base64 extra_data.
    #[serde(borrow, default)]
    pub extra_data: Option<JsonStr<'a>>,
    /// Explicit index (JSON lines).
    #[serde(default, alias = "i")]
    pub index: Option<u64>,
}

/// Decides the layout of a JSON dump from the start of the decompressed content: a page
/// names `"entries"` before any `"leaf_input"`.
pub fn detect_layout(head: &[u8]) -> Layout {
    let find = |needle: &[u8]| memchr::memmem::find(head, needle);
    match (find(b"\"entries\""), find(b"\"leaf_input\"")) {
        (Some(e), Some(l)) if e < l => Layout::Page,
        (Some(_), None) => Layout::Page,
        _ => Layout::Records(&JSON_LINES),
    }
}

/// Whether the start of a JSON file is a signed tree head (a `get-sth`
/// response: `tree_size` and `sha256_root_hash`, no entries) rather than
/// entries.
pub fn is_tree_head(head: &[u8]) -> bool {
    // Pages and lines are not parsed whole just to learn they are not one.
    if memchr::memmem::find(head, b"\"tree_size\"").is_none() {
        return false;
    }
    let Ok(serde_json::Value::Object(o)) = serde_json::from_slice::<serde_json::Value>(head) else {
        return false;
    };
    o.contains_key("tree_size")
        && o.contains_key("sha256_root_hash")
        && !o.contains_key("entries")
        && !o.contains_key("leaf_input")
}

/// Parses one JSON line.
pub fn parse_line(line: &[u8]) -> Result<JsonEntry<'_>, serde_json::Error> {
    serde_json::from_slice(line)
}

/// One element of a page's `entries` array: the entry, or why it is not one.
pub type PageEntry<'a> = Result<JsonEntry<'a>, String>;

/// Parses one element of a page's `entries` array (its bytes alone): a
/// syntax error is the outer error; well-formed JSON of the wrong shape is
/// an inner `Err`.
pub fn parse_element(data: &[u8]) -> Result<PageEntry<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let entry = EntrySeed.deserialize(&mut de)?;
    de.end()?;
    Ok(entry)
}

/// Reads one element of `entries` whatever its shape: syntax errors stop the
/// page, but a well-formed element of the wrong shape only becomes an `Err`.
struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = PageEntry<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

fn not_an_object<'a>(what: &str) -> PageEntry<'a> {
    Err(format!("invalid type: {what}, expected an entry object"))
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = PageEntry<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entry = JsonEntry {
            leaf_input: None,
            extra_data: None,
            index: None,
        };
        let mut problem = None;
        // Keys are read as Lenient so they borrow (a Cow<str> key allocates).
        while let Some(key) = map.next_key::<Lenient<'de>>()? {
            let key = match key {
                Lenient::Str(k) => k,
                Lenient::Other(what) => Cow::Borrowed(what),
            };
            let slot = match key.as_ref() {
                "leaf_input" => &mut entry.leaf_input,
                "extra_data" => &mut entry.extra_data,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            match map.next_value::<Lenient<'de>>()? {
                Lenient::Str(text) if slot.is_none() => *slot = Some(JsonStr(text)),
                Lenient::Str(_) => problem = Some(format!("duplicate field `{key}`")),
                Lenient::Other(what) => {
                    problem = Some(format!(
                        "invalid type: {what}, expected a string for `{key}`"
                    ))
                }
            }
        }
        Ok(match problem {
            Some(p) => Err(p),
            None => Ok(entry),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(not_an_object("sequence"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(not_an_object("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(not_an_object("integer"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(not_an_object("integer"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(not_an_object("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(not_an_object("string"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(not_an_object("null"))
    }
}

/// A field value: a string (borrowed unless escaped), or the kind of value
/// found instead.
enum Lenient<'a> {
    Str(Cow<'a, str>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Lenient<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor)
    }
}

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Lenient<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Lenient::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Lenient::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Lenient::Str(Cow::Owned(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Lenient::Other("map"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Lenient::Other("sequence"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Lenient::Other("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Lenient::Other("integer"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Lenient::Other("integer"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Lenient::Other("number"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Lenient::Other("null"))
    }
}

/// Decodes consecutive elements of a page's `entries` array: each is parsed
/// on its own, so a malformed element is one reject and the others stand.
/// `end` is the reject for the rest of a page that stopped early.
pub(crate) fn decode_page(
    file: Arc<InputFile>,
    data: &[u8],
    elements: &[(usize, usize)],
    first_ordinal: u64,
    end: Option<PageEnd>,
    opts: ExtractOptions,
) -> ChunkOutput {
    let start = file.start_index;
    let mut out = decode_each(
        file.clone(),
        elements,
        opts,
        |scratch: &mut Scratch, i, &(from, to)| {
            let ordinal = first_ordinal + i as u64;
            let index = match start {
                Some(s) => index_at(s, ordinal),
                None => Err(NO_INDEX.into()),
            };
            let position = Position::Entry { ordinal };
            let reject = |why: String| {
                Outcome::Reject(RejectRecord {
                    entry_index: index.as_ref().ok().copied(),
                    source_file: file.name.clone(),
                    position,
                    kind: RejectKind::Json,
                    reason: why,
                })
            };
            match parse_element(&data[from..to]) {
                Ok(Ok(entry)) => {
                    decode_entry(&file, index.clone(), position, &entry, scratch, opts)
                }
                Ok(Err(e)) => reject(format!("entry is not a get-entries object: {e}")),
                Err(e) => reject(format!("entry is not valid JSON: {e}")),
            }
        },
    );
    if let Some(end) = end {
        out.rejects.push(RejectRecord {
            entry_index: start.and_then(|s| index_at(s, end.ordinal).ok()),
            source_file: file.name.clone(),
            position: end.position,
            kind: end.kind,
            reason: end.reason,
        });
    }
    out
}

/// The non-blank lines of a chunk: (line number, byte offset, text without
/// its line end).
fn split_lines(data: &[u8], first_line: u64, first_byte: u64) -> Vec<(u64, u64, &[u8])> {
    let mut lines = Vec::new();
    let mut offset = 0usize;
    for (i, raw) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if !text.iter().all(u8::is_ascii_whitespace) {
            lines.push((first_line + i as u64, first_byte + offset as u64, text));
        }
        offset += raw.len();
    }
    lines
}

/// JSON lines: one entry object per line. Told apart from a page by
/// content ([`detect_layout`]), so never by name; the log is the folder's.
pub static JSON_LINES: RecordFormat = RecordFormat {
    name: "JSON lines",
    cut: Records::Lines,
    is_name: |_| false,
    stated_log_name: |_| None,
    decode: decode_lines,
};

fn decode_lines(chunk: &TextRecords, opts: ExtractOptions) -> ChunkOutput {
    let file = &chunk.file;
    let lines = split_lines(&chunk.data, chunk.first_line, chunk.first_byte);
    decode_each(
        file.clone(),
        &lines,
        opts,
        |scratch: &mut Scratch, _, &(line, byte_offset, text)| {
            let position = Position::Line { line, byte_offset };
            match parse_line(text) {
                Ok(entry) => {
                    let index = match (entry.index, file.start_index) {
                        (Some(i), _) => index_at(i, 0),
                        (None, Some(s)) => index_at(s, line - 1),
                        (None, None) => Err(NO_INDEX.into()),
                    };
                    decode_entry(file, index, position, &entry, scratch, opts)
                }
                Err(e) => Outcome::Reject(RejectRecord {
                    entry_index: None,
                    source_file: file.name.clone(),
                    position,
                    kind: RejectKind::Json,
                    reason: format!("line is not a JSON entry: {e}"),
                }),
            }
        },
    )
}

/// Why an entry of a JSON-lines file without `index` has no index.
const NO_INDEX: &str = "entry has no index: add \"index\" to each line or pass --start-index";

/// Decodes one JSON entry: base64, then RFC 6962 framing, then X.509.
fn decode_entry(
    file: &InputFile,
    index: Result<i64, String>,
    position: Position,
    entry: &JsonEntry<'_>,
    scratch: &mut Scratch,
    opts: ExtractOptions,
) -> Outcome {
    let reject = |kind: RejectKind, reason: String| {
        Outcome::Reject(RejectRecord {
            entry_index: index.as_ref().ok().copied(),
            source_file: file.name.clone(),
            position,
            kind,
            reason,
        })
    };
    let index = match &index {
        Ok(i) => *i,
        Err(why) => return reject(RejectKind::Index, why.clone()),
    };
    let (Some(leaf_b64), Some(extra_b64)) = (&entry.leaf_input, &entry.extra_data) else {
        let missing = if entry.leaf_input.is_none() {
            "leaf_input"
        } else {
            "extra_data"
        };
        return reject(RejectKind::MissingField, format!("{missing} is missing"));
    };
    scratch.leaf.clear();
    if let Err(e) = BASE64.decode_vec(leaf_b64.0.as_bytes(), &mut scratch.leaf) {
        return reject(
            RejectKind::Base64,
            format!("leaf_input is not valid base64: {e}"),
        );
    }
    scratch.extra.clear();
    if let Err(e) = BASE64.decode_vec(extra_b64.0.as_bytes(), &mut scratch.extra) {
        return reject(
            RejectKind::Base64,
            format!("extra_data is not valid base64: {e}"),
        );
    }
    match leaf::decode(&scratch.leaf, &scratch.extra) {
        Ok(leaf) => Outcome::Cert(cert_record::extract(index, &leaf, opts)),
        Err(e) => reject(RejectKind::Framing, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::page_stream::{PageSplitter, Scan};

    /// A whole page through the splitter and the element parser.
    fn parse_page(data: &[u8]) -> (Vec<PageEntry<'_>>, Option<String>) {
        let mut splitter = PageSplitter::default();
        let mut ranges = Vec::new();
        let result = splitter.scan(data, &mut ranges, usize::MAX);
        let entries = ranges
            .iter()
            .map(|&(a, b)| parse_element(&data[a..b]).unwrap())
            .collect();
        let err = match result {
            Err(e) => Some(e.message),
            Ok(Scan::Done) => None,
            Ok(_) => splitter.eof_error(data.len()).map(|e| e.message),
        };
        (entries, err)
    }

    #[test]
    fn detects_layouts() {
        assert_eq!(
            detect_layout(br#"{"entries":[{"leaf_input":"AA"}]}"#),
            Layout::Page
        );
        assert_eq!(detect_layout(br#" { "entries" : [ ] }"#), Layout::Page);
        assert_eq!(
            detect_layout(br#"{"index":1,"leaf_input":"AA"}"#),
            Layout::Records(&JSON_LINES)
        );
        assert_eq!(detect_layout(b""), Layout::Records(&JSON_LINES));
        let sth = br#"{"tree_size":1005,"timestamp":1,"sha256_root_hash":"AA==","tree_head_signature":"BB=="}"#;
        assert!(is_tree_head(sth));
        assert!(!is_tree_head(br#"{"entries":[]}"#));
        assert!(!is_tree_head(br#"{"leaf_input":"AA=="}"#));
    }

    #[test]
    fn page_borrows_and_handles_escapes() {
        let data = br#"{"entries":[{"leaf_input":"AAA=","extra_data":"BB\/B"}],"x":1}"#;
        let (mut entries, err) = parse_page(data);
        assert!(err.is_none());
        assert_eq!(entries.len(), 1);
        let e = entries.remove(0).unwrap();
        assert!(matches!(e.leaf_input, Some(JsonStr(Cow::Borrowed("AAA=")))));
        assert_eq!(e.extra_data.unwrap().0, "BB/B");
    }

    #[test]
    fn truncated_page_keeps_the_entries_before_the_break() {
        let data = br#"{"entries":[{"leaf_input":"A","extra_data":"B"},{"leaf_input":"C","extra_data":"D"},{"leaf_in"#;
        let (entries, err) = parse_page(data);
        assert_eq!(entries.len(), 2);
        let err = err.expect("truncated");
        assert!(err.contains("EOF"), "{err}");
    }

    #[test]
    fn a_malformed_entry_does_not_stop_the_page() {
        let data = br#"{"entries":[{"leaf_input":5},[1,{"a":2}],null,{"leaf_input":"A","leaf_input":"B"},{"leaf_input":"C","extra_data":"D","x":{"y":[1]}}]}"#;
        let (mut entries, err) = parse_page(data);
        assert!(err.is_none());
        assert_eq!(entries.len(), 5);
        assert!(entries[0].as_ref().unwrap_err().contains("integer"));
        assert!(entries[1].as_ref().unwrap_err().contains("sequence"));
        assert!(entries[2].as_ref().unwrap_err().contains("null"));
        assert!(entries[3].as_ref().unwrap_err().contains("duplicate"));
        let e = entries.remove(4).unwrap();
        assert_eq!(
            (e.leaf_input.unwrap().0, e.extra_data.unwrap().0),
            ("C".into(), "D".into())
        );
    }

    #[test]
    fn page_without_entries_is_an_error() {
        let (entries, err) = parse_page(br#"{"foo":[]}"#);
        assert!(entries.is_empty());
        assert!(err.unwrap().contains("entries"));
    }

    #[test]
    fn an_element_with_a_syntax_error_is_an_error_of_its_own() {
        assert!(parse_element(br#"{"leaf_input":"A" "extra_data":"B"}"#).is_err());
        assert!(parse_element(br#"{"leaf_input":"A"} x"#).is_err());
        assert!(parse_element(br#"{"leaf_input":"A"}"#).unwrap().is_ok());
    }

    #[test]
    fn lines_accept_i_and_index() {
        let e = parse_line(br#"{"i":5,"leaf_input":"A","extra_data":"B"}"#).unwrap();
        assert_eq!(e.index, Some(5));
        let e = parse_line(br#"{"index":7,"leaf_input":"A"}"#).unwrap();
        assert_eq!(e.index, Some(7));
        assert_eq!(e.extra_data, None);
        assert!(parse_line(b"{not json").is_err());
    }
}
