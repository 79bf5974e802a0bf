//! RFC 6962 `get-entries` JSON: whole pages (`{"entries":[...]}`) and JSON
//! lines (`{"index":N,"leaf_input":...,"extra_data":...}`, `i` also accepted).
//!
//! Strings borrow from the input buffer unless they contain JSON escapes.
//! A page that breaks off part-way still yields the entries before the break.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

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

/// The layout of a get-entries file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One `{"entries":[...]}` document.
    Page,
    /// One entry object per line.
    Lines,
}

/// Decides the layout from the start of the decompressed content: a page
/// names `"entries"` before any `"leaf_input"`.
pub fn detect_layout(head: &[u8]) -> Layout {
    let find = |needle: &[u8]| head.windows(needle.len()).position(|w| w == needle);
    match (find(b"\"entries\""), find(b"\"leaf_input\"")) {
        (Some(e), Some(l)) if e < l => Layout::Page,
        (Some(_), None) => Layout::Page,
        _ => Layout::Lines,
    }
}

/// Parses one JSON line.
pub fn parse_line(line: &[u8]) -> Result<JsonEntry<'_>, serde_json::Error> {
    serde_json::from_slice(line)
}

/// Parses one element of a page's `entries` array.
pub fn parse_entry(raw: &RawValue) -> Result<JsonEntry<'_>, serde_json::Error> {
    serde_json::from_str(raw.get())
}

/// Splits a page into its raw entries, so one malformed entry does not cost
/// the others. Returns the entries read and the syntax error that stopped the
/// parse early, if any (the entries before it are still returned).
pub fn parse_page(data: &[u8]) -> (Vec<&RawValue>, Option<serde_json::Error>) {
    let mut entries = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(data);
    let result = PageSeed {
        entries: &mut entries,
    }
    .deserialize(&mut de)
    .and_then(|found| {
        de.end()?;
        if found {
            Ok(())
        } else {
            Err(serde::de::Error::missing_field("entries"))
        }
    });
    (entries, result.err())
}

/// Deserialises a page object, pushing entries as they are read.
struct PageSeed<'v, 'a> {
    entries: &'v mut Vec<&'a RawValue>,
}

impl<'de, 'v> DeserializeSeed<'de> for PageSeed<'v, 'de> {
    /// Whether an `entries` key was found.
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'v> Visitor<'de> for PageSeed<'v, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a get-entries page object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "entries" {
                found = true;
                map.next_value_seed(EntriesSeed {
                    entries: &mut *self.entries,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct EntriesSeed<'v, 'a> {
    entries: &'v mut Vec<&'a RawValue>,
}

impl<'de, 'v> DeserializeSeed<'de> for EntriesSeed<'v, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, 'v> Visitor<'de> for EntriesSeed<'v, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<&'de RawValue>()? {
            self.entries.push(entry);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_layouts() {
        assert_eq!(
            detect_layout(br#"{"entries":[{"leaf_input":"AA"}]}"#),
            Layout::Page
        );
        assert_eq!(detect_layout(br#" { "entries" : [ ] }"#), Layout::Page);
        assert_eq!(
            detect_layout(br#"{"index":1,"leaf_input":"AA"}"#),
            Layout::Lines
        );
        assert_eq!(detect_layout(b""), Layout::Lines);
    }

    #[test]
    fn page_borrows_and_handles_escapes() {
        let data = br#"{"entries":[{"leaf_input":"AAA=","extra_data":"BB\/B"}],"x":1}"#;
        let (entries, err) = parse_page(data);
        assert!(err.is_none());
        assert_eq!(entries.len(), 1);
        let e = parse_entry(entries[0]).unwrap();
        assert!(matches!(e.leaf_input, Some(JsonStr(Cow::Borrowed("AAA=")))));
        assert_eq!(e.extra_data.unwrap().0, "BB/B");
    }

    #[test]
    fn truncated_page_keeps_the_entries_before_the_break() {
        let data = br#"{"entries":[{"leaf_input":"A","extra_data":"B"},{"leaf_input":"C","extra_data":"D"},{"leaf_in"#;
        let (entries, err) = parse_page(data);
        assert_eq!(entries.len(), 2);
        let err = err.expect("truncated");
        assert!(err.is_eof(), "{err}");
    }

    #[test]
    fn a_malformed_entry_does_not_stop_the_page() {
        let data = br#"{"entries":[{"leaf_input":5},{"leaf_input":"C","extra_data":"D"}]}"#;
        let (entries, err) = parse_page(data);
        assert!(err.is_none());
        assert!(parse_entry(entries[0]).is_err());
        assert_eq!(parse_entry(entries[1]).unwrap().leaf_input.unwrap().0, "C");
    }

    #[test]
    fn page_without_entries_is_an_error() {
        let (entries, err) = parse_page(br#"{"foo":[]}"#);
        assert!(entries.is_empty());
        assert!(err.unwrap().to_string().contains("entries"));
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
