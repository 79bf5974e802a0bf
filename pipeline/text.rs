//! Text that came from certificates, dumps or file names, made safe to show
//! on a terminal.
//!
//! A certificate's subject can hold ESC, BEL, NUL or Unicode bidirectional
//! overrides: printed raw they can retitle a terminal, move the cursor or
//! hide the rest of a line. Everything shown to a person goes through
//! [`escape`] (table output, summaries, messages), which writes such
//! characters visibly as `\xNN` or `\u{NNNN}`, so the evidence stays on
//! screen. CSV, JSON and Parquet output keep values exact.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls, DEL,
/// and the bidirectional formatting characters that reorder what follows.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every [unsafe](is_unsafe) character written as `\xNN` (below
/// U+0100) or `\u{NNNN}`; borrowed when nothing needed escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
    } else if (c as u32) < 0x100 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:04x}}}", c as u32);
    }
}

/// Like [`escape`], keeping line breaks: for messages of several lines.
pub fn escape_lines(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// A path as shown to a person: [escaped](escape), with bytes that are not
/// UTF-8 written as `\xNN`.
pub fn path(p: &Path) -> String {
    let bytes = p.as_os_str().as_encoded_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(escape("plain ünïcode 沃通"), "plain ünïcode 沃通");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\u{1b}]0;pwned\u{7}b\0c\u{7f}"),
            "a\\x1b]0;pwned\\x07b\\x00c\\x7f"
        );
        assert_eq!(escape("x\u{202e}gpj.exe\u{9b}"), "x\\u{202e}gpj.exe\\x9b");
        assert_eq!(escape("tab\tnl\n"), "tab\\x09nl\\x0a");
    }

    #[test]
    fn paths_show_non_utf8_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/d/\xff\x1b.json"));
        assert_eq!(path(p), "/d/\\xff\\x1b.json");
    }
}
