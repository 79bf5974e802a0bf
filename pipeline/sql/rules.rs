//! Rule files: `queries/<id>.sql`, one SELECT per file, with a header of
//! `-- key: value` comment lines:
//!
//! ```sql
//! -- id: backdated
//! -- severity: warning
//! -- source: CA/Browser Forum BRs 7.1.2 ...
//! -- description: the certificate existed later than its not_before claims
//! -- param: max_hours = 48 | hours allowed between not_before and the first evidence
//! SELECT log, entry_index, hex(cert_sha256) AS cert_sha256, issuer_cn, not_before, detail ...
//! ```
//!
//! Parameters are written `${name}` in the SQL and replaced by their value
//! (single quotes doubled, as values sit inside string literals).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::sql::script::{bind, BindError, ParamType, ParamValue};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A violation of a requirement.
    Error,
    /// Probably wrong; worth a look.
    Warning,
    /// For information.
    Notice,
}

impl Severity {
    /// The text form used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "notice" => Some(Severity::Notice),
            _ => None,
        }
    }
}

/// A named parameter with its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name, as written in `${name}`.
    pub name: String,
    /// The default value.
    pub default: String,
    /// What it means.
    pub description: String,
}

/// A DataFusion setting a rule runs with (`-- set: key = value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The configuration key, e.g. `datafusion.execution.parquet.pushdown_filters`.
    pub key: String,
    /// Its value as text.
    pub value: String,
    /// 1-based line of the header.
    pub line: usize,
}

/// One rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule id (the file stem).
    pub id: String,
    /// Severity of its findings.
    pub severity: Severity,
    /// BR section, browser policy or incident it comes from.
    pub source: String,
    /// What it finds.
    pub description: String,
    /// Its parameters.
    pub params: Vec<Param>,
    /// DataFusion settings for this rule only (`-- set: key = value`), with
    /// the line each was written on.
    pub settings: Vec<Setting>,
    /// The SQL (the whole file; comments included so lines stay true).
    pub sql: String,
    /// The file.
    pub path: PathBuf,
}

/// A rule file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// A `-- param: name = default | description` header.
fn param_line(value: &str) -> Result<Param, String> {
    let (decl, description) = value.split_once('|').unwrap_or((value, ""));
    let Some((name, default)) = decl.split_once('=') else {
        return Err("param needs `name = default`".into());
    };
    Ok(Param {
        name: name.trim().to_owned(),
        default: default.trim().to_owned(),
        description: description.trim().to_owned(),
    })
}

/// A `-- set: key = value` header, checked against DataFusion's settings.
fn set_line(value: &str, line: usize) -> Result<Setting, String> {
    let Some((key, value)) = value.split_once('=') else {
        return Err("set needs `key = value`".into());
    };
    let (key, value) = (key.trim(), value.trim());
    let mut probe = datafusion::config::ConfigOptions::new();
    if let Err(e) = probe.set(key, value) {
        return Err(format!("set {key} = {value}: {e}"));
    }
    Ok(Setting {
        key: key.to_owned(),
        value: value.to_owned(),
        line,
    })
}

impl Rule {
    /// Parses a rule file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Rule, RuleError> {
        let err = |line: usize, message: String| RuleError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let mut header: BTreeMap<&str, (usize, String)> = BTreeMap::new();
        let mut params = Vec::new();
        let mut settings = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let Some(comment) = line.trim().strip_prefix("--") else {
                if line.trim().is_empty() {
                    continue;
                }
                break;
            };
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "id" | "severity" | "source" | "description" => {
                    header.insert(key, (line_no, value.to_owned()));
                }
                "param" => params.push(param_line(value).map_err(|m| err(line_no, m))?),
                "set" => settings.push(set_line(value, line_no).map_err(|m| err(line_no, m))?),
                _ => {}
            }
        }
        let get = |key: &str| header.get(key).map(|(_, v)| v.clone());
        let id = get("id").ok_or_else(|| err(1, "missing `-- id:` header".into()))?;
        if id != stem {
            return Err(err(
                header["id"].0,
                format!("id {id:?} differs from the file name {stem:?}"),
            ));
        }
        let severity_text =
            get("severity").ok_or_else(|| err(1, "missing `-- severity:` header".into()))?;
        let severity = Severity::parse(&severity_text).ok_or_else(|| {
            err(
                header["severity"].0,
                format!("severity {severity_text:?} is not error, warning or notice"),
            )
        })?;
        Ok(Rule {
            id,
            severity,
            source: get("source").unwrap_or_default(),
            description: get("description").unwrap_or_default(),
            params,
            settings,
            sql: text.to_owned(),
            path: path.to_path_buf(),
        })
    }

    /// Each parameter's type, from binding the defaults (a parameter whose
    /// default does not bind is left out: the rule is broken anyway).
    pub fn param_types(&self) -> Vec<(String, ParamType)> {
        let Ok((_, values)) = self.render(&BTreeMap::new()) else {
            return Vec::new();
        };
        values
            .into_iter()
            .map(|(name, v)| {
                let t = match v {
                    ParamValue::Int(_) | ParamValue::Float(_) => ParamType::Number,
                    ParamValue::Text(_) => ParamType::Text,
                    ParamValue::Timestamp(_) => ParamType::Timestamp,
                };
                (name, t)
            })
            .collect()
    }

    /// The SQL with each parameter as a placeholder, and the typed values
    /// to bind (`overrides` win over defaults); see [`bind`].
    pub fn render(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<(String, Vec<(String, ParamValue)>), RuleError> {
        let value = |name: &str| {
            overrides.get(name).cloned().or_else(|| {
                self.params
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.default.clone())
            })
        };
        bind(&self.sql, value).map_err(|e| RuleError {
            path: self.path.clone(),
            line: 1,
            message: match e {
                BindError::Unknown(missing) => {
                    format!("unknown parameter(s): {}", missing.join(", "))
                }
                BindError::Invalid(why) => why,
            },
        })
    }
}

/// Loads every `*.sql` of `dir`, sorted by file name. Broken files are
/// returned separately so the others can still run.
pub fn load_dir(dir: &Path) -> std::io::Result<(Vec<Rule>, Vec<RuleError>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    paths.sort();
    Ok(split(paths.into_iter().map(|path| {
        std::fs::read_to_string(&path)
            .map_err(|e| RuleError {
                path: path.clone(),
                line: 1,
                message: e.to_string(),
            })
            .and_then(|text| Rule::parse(&path, &text))
    })))
}

/// Usable rules and broken ones, in order.
fn split(parsed: impl Iterator<Item = Result<Rule, RuleError>>) -> (Vec<Rule>, Vec<RuleError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for p in parsed {
        match p {
            Ok(r) => rules.push(r),
            Err(e) => errors.push(e),
        }
    }
    (rules, errors)
}

/// Parses the rules compiled into the binary (see [`crate::sql::builtin_rules`]).
pub fn load_builtin() -> (Vec<Rule>, Vec<RuleError>) {
    split(
        crate::sql::builtin_rules::RULES
            .iter()
            .map(|(name, text)| Rule::parse(&Path::new("<built-in>").join(name), text)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "-- id: demo\n-- severity: warning\n-- source: BR 1.2.3\n\
        -- description: a demo\n-- param: max_hours = 48 | hours allowed\n\
        SELECT ${max_hours} AS h\n";

    #[test]
    fn parses_header_and_params() {
        let r = Rule::parse(Path::new("q/demo.sql"), TEXT).unwrap();
        assert_eq!(r.severity, Severity::Warning);
        assert_eq!(r.source, "BR 1.2.3");
        assert_eq!(r.params[0].name, "max_hours");
        assert_eq!(r.params[0].default, "48");
        let (sql, values) = r.render(&BTreeMap::new()).unwrap();
        assert!(sql.contains("SELECT $max_hours AS h"), "{sql}");
        assert_eq!(values, vec![("max_hours".to_owned(), ParamValue::Int(48))]);
        let o = BTreeMap::from([("max_hours".to_owned(), "72".to_owned())]);
        assert_eq!(r.render(&o).unwrap().1[0].1, ParamValue::Int(72));
        let evil = BTreeMap::from([("max_hours".to_owned(), "0 OR true".to_owned())]);
        assert!(r
            .render(&evil)
            .unwrap_err()
            .message
            .contains("not a number"));
    }

    #[test]
    fn settings_are_checked_when_loading() {
        let text = "-- id: demo\n-- severity: notice\n\
            -- set: datafusion.execution.parquet.pushdown_filters = true\nSELECT 1\n";
        let r = Rule::parse(Path::new("demo.sql"), text).unwrap();
        assert_eq!(
            r.settings,
            vec![Setting {
                key: "datafusion.execution.parquet.pushdown_filters".into(),
                value: "true".into(),
                line: 3,
            }]
        );
        let bad = text.replace("pushdown_filters = true", "pushdown_filters = maybe");
        let e = Rule::parse(Path::new("demo.sql"), &bad).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("pushdown_filters"), "{e}");
        let unknown = text.replace("parquet.pushdown_filters", "parquet.no_such_thing");
        assert_eq!(
            Rule::parse(Path::new("demo.sql"), &unknown)
                .unwrap_err()
                .line,
            3
        );
        let no_value = text.replace(" = true", "");
        assert!(Rule::parse(Path::new("demo.sql"), &no_value)
            .unwrap_err()
            .message
            .contains("key = value"));
    }

    #[test]
    fn built_in_rules_are_the_queries_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let (on_disk, broken) = load_dir(&dir).unwrap();
        assert!(broken.is_empty());
        let (built_in, broken) = load_builtin();
        assert!(broken.is_empty());
        assert_eq!(on_disk.len(), built_in.len());
        for (a, b) in on_disk.iter().zip(&built_in) {
            assert_eq!(
                (&a.id, &a.sql),
                (&b.id, &b.sql),
                "queries/ and the binary disagree"
            );
        }
    }

    #[test]
    fn broken_headers_name_their_line() {
        let e = Rule::parse(Path::new("q/other.sql"), TEXT).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("differs"));
        let bad = TEXT.replace("warning", "fatal");
        let e = Rule::parse(Path::new("q/demo.sql"), &bad).unwrap_err();
        assert_eq!(e.line, 2);
    }
}
