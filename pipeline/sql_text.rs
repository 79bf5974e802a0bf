//! SQL text handling that DataFusion does not do for us: splitting a script
//! into statements (remembering the line each starts on, for error messages),
//! and the header comments and `${param}` substitution of rule files.

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 1-based line where the statement's first non-blank character is.
    pub line: usize,
    /// The statement text, without the terminating `;`.
    pub sql: String,
}

/// Splits a script at `;` outside quotes and comments. Blank statements
/// (only whitespace and comments) are dropped.
pub fn split_statements(script: &str) -> Vec<Statement> {
    let bytes = script.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let push = |from: usize, to: usize, out: &mut Vec<Statement>| {
        let text = &script[from..to];
        if let Some(lead) = code_start(text) {
            let line = 1 + script[..from + lead].matches('\n').count();
            out.push(Statement {
                line,
                sql: text[lead..].trim_end().to_owned(),
            });
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                let q = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b';' => {
                push(start, i, &mut out);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < script.len() {
        push(start, script.len(), &mut out);
    }
    out
}

/// The offset of the first character of `text` that is not whitespace or
/// comment; `None` when there is none.
fn code_start(text: &str) -> Option<usize> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after);
        } else if rest.is_empty() {
            return None;
        } else {
            return Some(text.len() - rest.len());
        }
    }
}

/// Replaces each `${name}` with its value, doubling single quotes in the value
/// (values sit inside SQL string literals). Returns the unknown names, if any.
pub fn substitute(
    sql: &str,
    value: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(sql.len());
    let mut missing = Vec::new();
    let mut rest = sql;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        match after.find('}') {
            Some(end) => {
                let name = after[..end].trim();
                match value(name) {
                    Some(v) => out.push_str(&v.replace('\'', "''")),
                    None => missing.push(name.to_owned()),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[pos..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_comments() {
        let script = "-- a; comment\nSELECT ';' AS x;\n\n/* b; */ SELECT 2\n;  -- tail;\n";
        let st = split_statements(script);
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].line, 2);
        assert_eq!(st[0].sql, "SELECT ';' AS x");
        assert_eq!(st[1].line, 4);
        assert!(st[1].sql.ends_with("SELECT 2"));
    }

    #[test]
    fn substitutes_and_escapes() {
        let v = |n: &str| (n == "p").then(|| "it's".to_owned());
        assert_eq!(substitute("x = '${p}'", v).unwrap(), "x = 'it''s'");
        assert_eq!(substitute("${q}", v).unwrap_err(), vec!["q".to_owned()]);
    }
}
