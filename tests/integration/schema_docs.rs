//! schemas/*.md documents exactly the columns the code writes.

use std::fs;

use arrow::datatypes::{DataType, SchemaRef};
use pipeline::table::schema::{
    cert_schema, ct_logs_schema, finding_schema, manifest_schema, reject_schema,
};

use crate::fixtures::data_dir;

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::Boolean => "bool".into(),
        DataType::Binary => "binary".into(),
        DataType::Timestamp(_, _) => "timestamp[ms, UTC]".into(),
        DataType::List(f) => format!("list<{}>", type_name(f.data_type())),
        other => panic!("undocumented type {other:?}"),
    }
}

/// (name, type, nullable) rows of the markdown table in `file`.
fn documented(file: &str) -> Vec<(String, String, String)> {
    let text = fs::read_to_string(data_dir().join("../../schemas").join(file)).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_owned(),
                cells[2].trim_matches('`').to_owned(),
                cells[3].to_owned(),
            )
        })
        .collect()
}

fn actual(schema: SchemaRef) -> Vec<(String, String, String)> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let nullable = if f.is_nullable() { "yes" } else { "no" };
            (
                f.name().clone(),
                type_name(f.data_type()),
                nullable.to_owned(),
            )
        })
        .collect()
}

#[test]
fn certs_schema_is_documented() {
    let mut want = vec![("log".to_owned(), "string".to_owned(), "no".to_owned())];
    want.extend(actual(cert_schema(true)));
    assert_eq!(documented("certs.md"), want);
}

#[test]
fn rejects_schema_is_documented() {
    let mut want = vec![("log".to_owned(), "string".to_owned(), "no".to_owned())];
    want.extend(actual(reject_schema()));
    assert_eq!(documented("rejects.md"), want);
}

#[test]
fn findings_schema_is_documented() {
    assert_eq!(documented("findings.md"), actual(finding_schema()));
}

#[test]
fn manifest_schema_is_documented() {
    assert_eq!(documented("manifest.md"), actual(manifest_schema()));
}

#[test]
fn ct_logs_schema_is_documented() {
    assert_eq!(documented("ct_logs.md"), actual(ct_logs_schema()));
}

/// The long flags of a usage block `pipeline CMD ...` (and its indented
/// continuation lines) in the README's section on CMD.
fn readme_flags(readme: &str, cmd: &str) -> std::collections::BTreeSet<String> {
    let section = readme
        .split(&format!("## `pipeline {cmd}`"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has no section on pipeline {cmd}"));
    let start = format!("pipeline {cmd} ");
    let mut lines = section.lines().skip_while(|l| !l.starts_with(&start));
    let first = lines.next().unwrap_or_else(|| panic!("no usage of {cmd}"));
    let usage: Vec<&str> = std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with(' ')))
        .collect();
    long_flags(&usage.join(" "))
}

fn long_flags(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let flag: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if !flag.is_empty() && !matches!(flag.as_str(), "help" | "version") {
            out.insert(flag);
        }
    }
    out
}

/// The README's usage line of every subcommand names exactly the flags
/// `--help` lists, and the top-level help names every subcommand.
#[test]
fn help_and_readme_name_the_same_flags() {
    let readme = fs::read_to_string(data_dir().join("../../README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let commands = [
        "ingest", "query", "check", "show", "prune", "report", "synth", "status", "compact",
        "publish", "verify", "fetch",
    ];
    let top = crate::fixtures::run(&["--help"], dir.path());
    let top = String::from_utf8_lossy(&top.stdout);
    for cmd in commands {
        assert!(
            top.contains(&format!("  {cmd} ")),
            "--help lacks {cmd}:\n{top}"
        );
        let help = crate::fixtures::run(&[cmd, "--help"], dir.path());
        assert!(help.status.success());
        let help = String::from_utf8_lossy(&help.stdout);
        let listed: std::collections::BTreeSet<String> = help
            .lines()
            .map(str::trim_start)
            .filter_map(|l| l.strip_prefix("-").map(|_| l))
            .flat_map(long_flags)
            .collect();
        assert_eq!(readme_flags(&readme, cmd), listed, "pipeline {cmd}");
    }
    // The cluster's processes take Ballista's own flags (its documentation
    // applies); the README names the ones a user needs, and each exists.
    #[cfg(feature = "cluster")]
    for cmd in ["scheduler", "executor"] {
        assert!(top.contains(&format!("  {cmd} ")), "--help lacks {cmd}");
        let help = crate::fixtures::run(&[cmd, "--help"], dir.path());
        let help = String::from_utf8_lossy(&help.stdout);
        let mut flags = vec![
            "--bind-host",
            "--bind-port",
            "--external-host",
            "--storage-option",
        ];
        if cmd == "executor" {
            flags.extend([
                "--scheduler-host",
                "--scheduler-port",
                "--bind-grpc-port",
                "--bind-health-port",
                "--vcores",
                "--work-dir",
                "--memory-pool-size",
            ]);
        }
        for flag in flags {
            assert!(help.contains(flag), "pipeline {cmd} --help lacks {flag}");
            assert!(readme.contains(flag), "README lacks {flag}");
        }
        assert!(
            help.contains("[default: 127.0.0.1]"),
            "{cmd} binds loopback by default:\n{help}"
        );
    }
}

/// The README's example ingest summary is what ingesting the bundled sample
/// (as `scripts/demo` does) prints.
#[test]
fn readme_ingest_summary_is_the_sample_s() {
    let readme = fs::read_to_string(data_dir().join("../../README.md")).unwrap();
    let shown = readme
        .lines()
        .find(|l| l.starts_with("ingested 6 files"))
        .expect("README shows the sample's ingest summary");
    let counts = |line: &str| -> String {
        let after = line.split_once(": ").map_or("", |(_, a)| a);
        after.split(';').next().unwrap_or("").to_owned()
    };
    let dir = tempfile::tempdir().unwrap();
    let sample = data_dir().join("../../sample");
    let mut args: Vec<String> = vec!["ingest".into()];
    for log in [
        "pilot",
        "icarus",
        "ctgo-test",
        "scrape",
        "rocketeer",
        "real-certs",
    ] {
        args.push(sample.join(log).display().to_string());
    }
    args.extend(["--out".into(), "ds".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = crate::fixtures::pipeline_ok(&args, dir.path());
    let said = String::from_utf8_lossy(&out.stderr);
    let line = said.lines().find(|l| l.starts_with("ingested ")).unwrap();
    assert_eq!(counts(line), counts(shown), "{said}");
}
