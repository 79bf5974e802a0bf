//! A get-entries page read as a stream: the `entries` array is cut into its
//! elements as the bytes arrive, so a page of any size is read in bounded
//! memory (a chunk of elements at a time, never the whole page).
//!
//! The splitter follows the page's structure byte by byte (strings, escapes,
//! nesting), skipping the bulk of each string with `memchr`. It checks the
//! document's outline: one object, an `entries` array, nothing after the
//! object. Each element is then parsed on its own by the decoder, so a
//! malformed element costs only itself; an outline that breaks (an
//! unterminated string, a missing bracket, bytes after the page) stops the
//! page there, and the entries after that point are one reject.

/// Where the splitter is in the page's outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outline {
    /// Before the page object.
    Start,
    /// In the page object, before a key (or its end).
    Key {
        /// Whether a member came before (a `,` is needed first).
        after_member: bool,
        /// Whether a `,` was just read (a key must follow).
        after_comma: bool,
    },
    /// Inside a key's string.
    InKey,
    /// After a key, before its `:`.
    Colon {
        /// Whether the key was `entries`.
        entries: bool,
    },
    /// Before a member's value.
    Value {
        /// Whether the value is the `entries` array.
        entries: bool,
    },
    /// Skipping a member's value.
    Skip,
    /// In the `entries` array, before an element (or its end).
    Element {
        /// Whether an element came before.
        after_element: bool,
        /// Whether a `,` was just read.
        after_comma: bool,
    },
    /// Inside an element.
    InElement,
    /// After the page object: only whitespace may follow.
    Done,
}

/// Scanning state of one JSON value (an element, or a skipped value).
#[derive(Debug, Clone, Copy, Default)]
struct ValueScan {
    depth: u32,
    in_string: bool,
    escape: bool,
    /// A number, `true`, `false` or `null` at depth 0.
    scalar: bool,
    started: bool,
}

/// How far scanning a value got.
enum ValueEnd {
    /// The value needs more bytes.
    More,
    /// The value ends before this offset (which is not part of it).
    At(usize),
}

impl ValueScan {
    /// Scans `buf` from `pos`; the value ends where a container or string
    /// that opened it closes, or where a scalar meets a delimiter.
    fn scan(&mut self, buf: &[u8], mut pos: usize) -> (ValueEnd, usize) {
        while pos < buf.len() {
            if self.in_string {
                if self.escape {
                    // The byte after a backslash is escaped, whatever it is.
                    self.escape = false;
                    pos += 1;
                    continue;
                }
                let Some(i) = memchr::memchr2(b'"', b'\\', &buf[pos..]) else {
                    return (ValueEnd::More, buf.len());
                };
                pos += i;
                if buf[pos] == b'\\' {
                    self.escape = true;
                    pos += 1;
                    continue;
                }
                self.in_string = false;
                pos += 1;
                if self.depth == 0 {
                    return (ValueEnd::At(pos), pos);
                }
                continue;
            }
            let b = buf[pos];
            if self.scalar {
                if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                    return (ValueEnd::At(pos), pos);
                }
                pos += 1;
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.started = true;
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' | b',' if self.depth == 0 => {
                    // Closes the enclosing container, or separates: no value.
                    return (ValueEnd::At(pos), pos);
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return (ValueEnd::At(pos + 1), pos + 1);
                    }
                }
                _ if !self.started && !b.is_ascii_whitespace() => {
                    self.scalar = true;
                    self.started = true;
                }
                _ => {}
            }
            pos += 1;
        }
        (ValueEnd::More, pos)
    }
}

/// Why a page's outline broke, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineError {
    /// What was expected or found.
    pub message: String,
    /// 1-based line of the page where it broke.
    pub line: u64,
    /// 1-based column (bytes) of that line.
    pub column: u64,
}

/// Splits a page's bytes, fed in pieces, into the elements of `entries`.
#[derive(Debug)]
pub struct PageSplitter {
    outline: Outline,
    value: ValueScan,
    /// Start of the element being read, in the current buffer.
    element_start: usize,
    /// Bytes of the current buffer already scanned.
    pos: usize,
    /// Key bytes read so far (only the first few matter).
    key: Vec<u8>,
    key_escape: bool,
    found_entries: bool,
    /// Line and column bookkeeping for error positions.
    line: u64,
    line_start: u64,
    /// Absolute offset of the current buffer's first byte.
    base: u64,
}

impl Default for PageSplitter {
    fn default() -> Self {
        PageSplitter {
            outline: Outline::Start,
            value: ValueScan::default(),
            element_start: 0,
            pos: 0,
            key: Vec::new(),
            key_escape: false,
            found_entries: false,
            line: 1,
            line_start: 0,
            base: 0,
        }
    }
}

/// What [`PageSplitter::scan`] stopped at.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// Every byte given was scanned; more are needed.
    NeedMore,
    /// `max` elements were found; call again to go on.
    Full,
    /// The page object is complete (trailing whitespace may follow).
    Done,
}

impl PageSplitter {
    fn error(&self, message: impl Into<String>, at: usize) -> OutlineError {
        let offset = self.base + at as u64;
        OutlineError {
            message: message.into(),
            line: self.line,
            column: offset.saturating_sub(self.line_start) + 1,
        }
    }

    fn newline(&mut self, at: usize) {
        self.line += 1;
        self.line_start = self.base + at as u64 + 1;
    }

    /// Whether an element is partly read: its bytes from
    /// [`PageSplitter::pending_from`] on must be kept for the next buffer.
    pub fn pending_from(&self) -> Option<usize> {
        (self.outline == Outline::InElement).then_some(self.element_start)
    }

    /// Bytes of the current buffer scanned so far.
    pub fn scanned(&self) -> usize {
        self.pos
    }

    /// Tells the splitter that the buffer's bytes before `from` were handed
    /// on: offsets now count from there.
    pub fn rebase(&mut self, from: usize) {
        self.base += from as u64;
        self.pos -= from;
        self.element_start = self.element_start.saturating_sub(from);
    }

    /// Scans `buf` (the bytes after those already scanned are new), pushing
    /// the byte ranges of complete elements to `out`, up to `max` of them.
    ///
    /// One loop over a byte-level state machine, kept in one piece: each
    /// state's arm advances the same cursor and may hand over to any other
    /// state, and split into functions they would pass that cursor and the
    /// state back and forth on every byte of the hot path.
    pub fn scan(
        &mut self,
        buf: &[u8],
        out: &mut Vec<(usize, usize)>,
        max: usize,
    ) -> Result<Scan, OutlineError> {
        while self.pos < buf.len() {
            if out.len() >= max {
                return Ok(Scan::Full);
            }
            match self.outline {
                Outline::InKey => {
                    if let Some(entries) = self.read_key(buf) {
                        self.outline = Outline::Colon { entries };
                    }
                    continue;
                }
                Outline::InElement | Outline::Skip => {
                    let (end, pos) = self.value.scan(buf, self.pos);
                    self.count_lines(buf, self.pos, pos);
                    self.pos = pos;
                    let ValueEnd::At(end) = end else {
                        continue;
                    };
                    if self.outline == Outline::InElement {
                        if !self.value.started {
                            return Err(self.error("expected an entry before `]`", end));
                        }
                        out.push((self.element_start, end));
                        self.outline = Outline::Element {
                            after_element: true,
                            after_comma: false,
                        };
                    } else {
                        if !self.value.started {
                            return Err(self.error("expected a value", end));
                        }
                        self.outline = Outline::Key {
                            after_member: true,
                            after_comma: false,
                        };
                    }
                    continue;
                }
                _ => {}
            }
            let b = buf[self.pos];
            let at = self.pos;
            self.pos += 1;
            if b == b'\n' {
                self.newline(at);
            }
            if b.is_ascii_whitespace() {
                continue;
            }
            self.outline = match self.outline {
                Outline::Start if b == b'{' => Outline::Key {
                    after_member: false,
                    after_comma: false,
                },
                Outline::Start => {
                    return Err(self.error("expected `{`: a page is a JSON object", at))
                }
                Outline::Key {
                    after_member,
                    after_comma,
                } => match b {
                    b'}' if !after_comma => {
                        if !self.found_entries {
                            return Err(self.error("missing field `entries`", at));
                        }
                        Outline::Done
                    }
                    b',' if after_member && !after_comma => Outline::Key {
                        after_member,
                        after_comma: true,
                    },
                    b'"' if after_comma || !after_member => {
                        self.key.clear();
                        self.key_escape = false;
                        Outline::InKey
                    }
                    _ => return Err(self.error("expected a key, `,` or `}`", at)),
                },
                Outline::Colon { entries } if b == b':' => Outline::Value { entries },
                Outline::Colon { .. } => return Err(self.error("expected `:`", at)),
                Outline::Value { entries: true } if b == b'[' => {
                    self.found_entries = true;
                    Outline::Element {
                        after_element: false,
                        after_comma: false,
                    }
                }
                Outline::Value { entries: true } => {
                    return Err(self.error("`entries` is not an array", at))
                }
                Outline::Value { entries: false } => {
                    self.value = ValueScan::default();
                    self.pos = at;
                    Outline::Skip
                }
                Outline::Element {
                    after_element,
                    after_comma,
                } => match b {
                    b']' if !after_comma => Outline::Key {
                        after_member: true,
                        after_comma: false,
                    },
                    b',' if after_element && !after_comma => Outline::Element {
                        after_element,
                        after_comma: true,
                    },
                    _ if after_comma || !after_element => {
                        self.value = ValueScan::default();
                        self.element_start = at;
                        self.pos = at;
                        Outline::InElement
                    }
                    _ => return Err(self.error("expected `,` or `]` after an entry", at)),
                },
                Outline::Done => return Err(self.error("trailing characters after the page", at)),
                Outline::InKey | Outline::InElement | Outline::Skip => {
                    unreachable!("handled above")
                }
            };
        }
        Ok(if self.outline == Outline::Done {
            Scan::Done
        } else {
            Scan::NeedMore
        })
    }

    /// Reads key bytes up to the closing quote; returns whether the key is
    /// `entries` once it is complete (`None`: the buffer ended first).
    fn read_key(&mut self, buf: &[u8]) -> Option<bool> {
        while self.pos < buf.len() {
            let b = buf[self.pos];
            self.pos += 1;
            if self.key_escape {
                self.key_escape = false;
            } else if b == b'\\' {
                self.key_escape = true;
            } else if b == b'"' {
                return Some(self.key == b"entries");
            }
            if self.key.len() < 16 {
                self.key.push(b);
            }
        }
        None
    }

    /// Counts the line breaks of `buf[from..to]` (scanned inside a value).
    fn count_lines(&mut self, buf: &[u8], from: usize, to: usize) {
        for i in memchr::memchr_iter(b'\n', &buf[from..to]) {
            self.newline(from + i);
        }
    }

    /// The error for a page that ended before its outline did.
    pub fn eof_error(&self, at: usize) -> Option<OutlineError> {
        (self.outline != Outline::Done).then(|| self.error("EOF while parsing the page", at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(page: &[u8], piece: usize) -> (Vec<Vec<u8>>, Result<(), OutlineError>) {
        let mut s = PageSplitter::default();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut ranges = Vec::new();
        for block in page.chunks(piece.max(1)) {
            buf.extend_from_slice(block);
            loop {
                ranges.clear();
                match s.scan(&buf, &mut ranges, 2) {
                    Ok(step) => {
                        got.extend(ranges.iter().map(|&(a, b)| buf[a..b].to_vec()));
                        let keep = s.pending_from().unwrap_or(s.scanned());
                        buf.drain(..keep);
                        s.rebase(keep);
                        if step != Scan::Full {
                            break;
                        }
                    }
                    Err(e) => {
                        got.extend(ranges.iter().map(|&(a, b)| buf[a..b].to_vec()));
                        return (got, Err(e));
                    }
                }
            }
        }
        let end = match s.eof_error(buf.len()) {
            Some(e) => Err(e),
            None => Ok(()),
        };
        (got, end)
    }

    #[test]
    fn elements_are_found_whatever_the_pieces() {
        let page = br#" {"x": {"entries": [1]}, "entries" : [ {"leaf_input":"a\"],}","extra_data":"b"} ,[1,{"a":2}], "s\\" , 12 ,{}], "y":[] }
"#;
        for piece in [1, 2, 3, 7, 1000] {
            let (got, end) = split(page, piece);
            assert_eq!(end, Ok(()), "piece {piece}");
            let got: Vec<&str> = got
                .iter()
                .map(|g| std::str::from_utf8(g).unwrap())
                .collect();
            assert_eq!(
                got,
                vec![
                    r#"{"leaf_input":"a\"],}","extra_data":"b"}"#,
                    r#"[1,{"a":2}]"#,
                    r#""s\\""#,
                    "12",
                    "{}"
                ],
                "piece {piece}"
            );
        }
    }

    #[test]
    fn a_broken_outline_stops_where_it_breaks() {
        let (got, end) = split(br#"{"entries":[{},{}] "#, 4);
        assert_eq!(got.len(), 2);
        assert_eq!(end.unwrap_err().message, "EOF while parsing the page");
        let (got, end) = split(br#"{"entries":[{} {}]}"#, 3);
        assert_eq!(got.len(), 1);
        let e = end.unwrap_err();
        assert_eq!((e.line, e.column), (1, 16));
        let (_, end) = split(br#"{"entries":[]} x"#, 5);
        assert!(end.unwrap_err().message.contains("trailing"));
        let (_, end) = split(br#"{"other":[]}"#, 5);
        assert!(end.unwrap_err().message.contains("missing field"));
        let (_, end) = split(br#"[{}]"#, 5);
        assert!(end.unwrap_err().message.contains("object"));
        let (got, end) = split(br#"{"entries":[{},]}"#, 50);
        assert_eq!(got.len(), 1);
        assert!(end.is_err());
    }
}
