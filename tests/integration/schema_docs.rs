//! schemas/*.md documents exactly the columns the code writes.

use std::fs;

use arrow::datatypes::{DataType, SchemaRef};
use pipeline::table::schema::{cert_schema, ct_logs_schema, manifest_schema, reject_schema};

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
fn manifest_schema_is_documented() {
    assert_eq!(documented("manifest.md"), actual(manifest_schema()));
}

#[test]
fn ct_logs_schema_is_documented() {
    assert_eq!(documented("ct_logs.md"), actual(ct_logs_schema()));
}
