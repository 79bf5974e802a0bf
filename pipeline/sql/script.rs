//! SQL text handling that DataFusion does not do for us: splitting a script
//! into statements (remembering the line each starts on, for error messages),
//! and binding the `${param}`s of rule files to typed values.

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

/// A rule parameter bound to a typed value: the SQL holds a placeholder
/// `$name`, never the value's text.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A whole number (`${p}` outside quotes).
    Int(i64),
    /// A number with a fraction (`${p}` outside quotes).
    Float(f64),
    /// Text (`'${p}'`: the parameter is a whole string literal).
    Text(String),
    /// An instant, ms since the Unix epoch (`TIMESTAMP '${p}'`).
    Timestamp(i64),
}

/// Why parameters could not be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindError {
    /// Parameters with no value.
    Unknown(Vec<String>),
    /// A value that is not of its place's type, or a place that is not a
    /// whole literal.
    Invalid(String),
}

/// Parses a timestamp parameter: RFC 3339, or a UTC date / date-time.
fn parse_instant(v: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// The type of value a parameter takes, from where it stands in the SQL:
/// a bare `${p}` a number, `'${p}'` text, `TIMESTAMP '${p}'` an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A bare `${p}`: an integer or a decimal number.
    Number,
    /// `'${p}'`: text.
    Text,
    /// `TIMESTAMP '${p}'`: an instant.
    Timestamp,
}

impl ParamType {
    /// Its name in `--list-rules`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Number => "number",
            ParamType::Text => "text",
            ParamType::Timestamp => "timestamp",
        }
    }

    /// What a value of this type looks like, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            ParamType::Number => "a number (72, 0.5)",
            ParamType::Text => "text",
            ParamType::Timestamp => {
                "a timestamp (2016-01-01, or RFC 3339 such as 2016-01-01T00:00:00Z)"
            }
        }
    }
}

/// The value `v` of parameter `name` as a value of `kind`, or why it is not one.
pub fn typed_value(kind: ParamType, name: &str, v: &str) -> Result<ParamValue, String> {
    match kind {
        ParamType::Timestamp => parse_instant(v.trim())
            .map(ParamValue::Timestamp)
            .ok_or_else(|| {
                format!(
                    "parameter {name} = {v:?} is not a timestamp (2016-01-01 or 2016-01-01T00:00:00Z)"
                )
            }),
        ParamType::Text => Ok(ParamValue::Text(v.to_owned())),
        ParamType::Number => {
            if let Ok(i) = v.trim().parse::<i64>() {
                Ok(ParamValue::Int(i))
            } else if let Some(f) = v.trim().parse::<f64>().ok().filter(|f| f.is_finite()) {
                Ok(ParamValue::Float(f))
            } else {
                Err(format!("parameter {name} = {v:?} is not a number"))
            }
        }
    }
}

/// Replaces each `${name}` of a rule with the placeholder `$name` and
/// returns the values to bind, typed by where the parameter stands:
/// `TIMESTAMP '${p}'` binds an instant, `'${p}'` text, a bare `${p}` a
/// number. A value that does not fit its place (`0 OR true` for a number)
/// is refused; no value ever becomes SQL text.
pub fn bind(
    sql: &str,
    value: impl Fn(&str) -> Option<String>,
) -> Result<(String, Vec<(String, ParamValue)>), BindError> {
    let mut out = String::with_capacity(sql.len());
    let mut bound: Vec<(String, ParamValue)> = Vec::new();
    let mut missing = Vec::new();
    let mut rest = sql;
    while let Some(pos) = rest.find("${") {
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = after[..end].trim().to_owned();
        let mut before = &rest[..pos];
        let mut tail = &after[end + 1..];
        let quoted = before.ends_with('\'') && tail.starts_with('\'');
        let mut timestamp = false;
        if quoted {
            before = &before[..before.len() - 1];
            tail = &tail[1..];
            let trimmed = before.trim_end();
            if trimmed.len() >= 9 && trimmed[trimmed.len() - 9..].eq_ignore_ascii_case("TIMESTAMP")
            {
                before = &trimmed[..trimmed.len() - 9];
                timestamp = true;
            }
        } else if before.ends_with('\'') || tail.starts_with('\'') {
            return Err(BindError::Invalid(format!(
                "parameter ${{{name}}} is part of a string literal: a parameter must be a whole literal ('${{{name}}}')"
            )));
        }
        out.push_str(before);
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
            return Err(BindError::Invalid(format!(
                "parameter name {name:?} is not a name"
            )));
        }
        match value(&name) {
            None => missing.push(name.clone()),
            Some(v) => {
                let kind = if timestamp {
                    ParamType::Timestamp
                } else if quoted {
                    ParamType::Text
                } else {
                    ParamType::Number
                };
                let typed = typed_value(kind, &name, &v).map_err(BindError::Invalid)?;
                if let Some((_, old)) = bound.iter().find(|(n, _)| *n == name) {
                    if *old != typed {
                        return Err(BindError::Invalid(format!(
                            "parameter {name} is used as two different types"
                        )));
                    }
                } else {
                    bound.push((name.clone(), typed));
                }
            }
        }
        out.push('$');
        out.push_str(&name);
        rest = tail;
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok((out, bound))
    } else {
        missing.dedup();
        Err(BindError::Unknown(missing))
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
    fn parameters_are_bound_by_type_never_pasted() {
        let v = |n: &str| match n {
            "bits" => Some("2048".to_owned()),
            "ratio" => Some("0.5".to_owned()),
            "since" => Some("2016-01-01".to_owned()),
            "who" => Some("it's".to_owned()),
            "evil" => Some("0 OR true".to_owned()),
            _ => None,
        };
        let (sql, values) = bind(
            "a < ${bits} AND b > ${ratio} AND c >= TIMESTAMP '${since}' AND d LIKE '${who}'",
            v,
        )
        .unwrap();
        assert_eq!(
            sql,
            "a < $bits AND b > $ratio AND c >= $since AND d LIKE $who"
        );
        assert_eq!(
            values,
            vec![
                ("bits".into(), ParamValue::Int(2048)),
                ("ratio".into(), ParamValue::Float(0.5)),
                ("since".into(), ParamValue::Timestamp(1_451_606_400_000)),
                ("who".into(), ParamValue::Text("it's".into())),
            ]
        );
        assert!(
            matches!(bind("x < ${evil}", v), Err(BindError::Invalid(m)) if m.contains("not a number"))
        );
        assert!(
            matches!(bind("TIMESTAMP '${bits}'", v), Err(BindError::Invalid(m)) if m.contains("not a timestamp"))
        );
        assert!(matches!(
            bind("LIKE '%${who}%'", v),
            Err(BindError::Invalid(_))
        ));
        assert_eq!(bind("${q}", v), Err(BindError::Unknown(vec!["q".into()])));
    }
}
