//! Every table schema, in one place: `certs`, `rejects`, `findings`, the
//! manifest and `ct_logs`, with the one timestamp type they share.
//! `schemas/*.md` documents the same columns; a test keeps the two in step.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};

/// The timezone of every timestamp column.
pub const UTC: &str = "UTC";

/// The type of every timestamp column: milliseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into()))
}

/// The child field of a list column (non-null items named `item`).
pub fn item(data_type: DataType) -> FieldRef {
    Arc::new(Field::new("item", data_type, false))
}

fn list(name: &str, data_type: DataType) -> Field {
    Field::new(name, DataType::List(item(data_type)), false)
}

/// The schema of `certs` files. The Hive partition column `log` is not stored
/// in the files; readers add it from the directory name.
pub fn cert_schema(keep_der: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("entry_index", DataType::Int64, false),
        Field::new("entry_timestamp", timestamp_type(), false),
        Field::new("entry_type", DataType::Utf8, false),
        Field::new("cert_sha256", DataType::Binary, false),
        Field::new("tbs_sha256", DataType::Binary, true),
        Field::new("cert_version", DataType::Int32, true),
        Field::new("serial", DataType::Utf8, true),
        Field::new("issuer_dn", DataType::Utf8, true),
        Field::new("issuer_cn", DataType::Utf8, true),
        Field::new("issuer_org", DataType::Utf8, true),
        Field::new("subject_dn", DataType::Utf8, true),
        Field::new("subject_cn", DataType::Utf8, true),
        Field::new("subject_org", DataType::Utf8, true),
        Field::new("has_san", DataType::Boolean, false),
        list("san_dns", DataType::Utf8),
        list("san_ip", DataType::Utf8),
        Field::new("signature_algorithm", DataType::Utf8, true),
        Field::new("signature_oid", DataType::Utf8, true),
        Field::new("key_algorithm", DataType::Utf8, true),
        Field::new("key_bits", DataType::Int32, true),
        Field::new("key_curve", DataType::Utf8, true),
        Field::new("spki_sha256", DataType::Binary, true),
        Field::new("not_before", timestamp_type(), true),
        Field::new("not_after", timestamp_type(), true),
        Field::new("is_ca", DataType::Boolean, true),
        list("policy_oids", DataType::Utf8),
        list("eku", DataType::Utf8),
        // Nullable: null in files written before these columns existed.
        Field::new("ocsp_urls", DataType::List(item(DataType::Utf8)), true),
        Field::new(
            "ca_issuers_urls",
            DataType::List(item(DataType::Utf8)),
            true,
        ),
        Field::new("crl_urls", DataType::List(item(DataType::Utf8)), true),
        Field::new("sct_count", DataType::Int32, false),
        list("sct_log_ids", DataType::Binary),
        list("sct_timestamps", timestamp_type()),
        Field::new("issuer_key_hash", DataType::Binary, true),
        list("chain_sha256", DataType::Binary),
        Field::new("parse_error", DataType::Utf8, true),
        Field::new("source_file", DataType::Utf8, true),
        // Null in files written before it existed; see `sql::name_facts`.
        Field::new(super::name_facts::COLUMN, DataType::Int32, true),
    ];
    if keep_der {
        fields.push(Field::new("der", DataType::Binary, false));
    }
    Arc::new(Schema::new(fields))
}

/// The schema of `rejects` files (the `log` partition column is in the path).
pub fn reject_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("entry_index", DataType::Int64, true),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("position", DataType::Utf8, false),
        Field::new("line", DataType::Int64, true),
        Field::new("entry_ordinal", DataType::Int64, true),
        Field::new("byte_offset", DataType::Int64, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

/// The schema of `findings` files (the `run` partition column is in the path).
pub fn finding_schema() -> SchemaRef {
    let ts = timestamp_type();
    let names = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    Arc::new(Schema::new(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("log", DataType::Utf8, true),
        Field::new("entry_index", DataType::Int64, true),
        Field::new("cert_sha256", DataType::Binary, true),
        Field::new("issuer_cn", DataType::Utf8, true),
        Field::new("not_before", ts.clone(), true),
        Field::new("detail", DataType::Utf8, true),
        Field::new("serial", DataType::Utf8, true),
        Field::new("subject_dn", DataType::Utf8, true),
        Field::new("san_count", DataType::Int64, true),
        Field::new("san_first", names, true),
        Field::new("issuer_dn", DataType::Utf8, true),
        Field::new("issuer_org", DataType::Utf8, true),
        Field::new("crt_sh", DataType::Utf8, true),
        Field::new("run_time", ts, false),
    ]))
}

/// The manifest's Arrow schema.
pub fn manifest_schema() -> SchemaRef {
    let ts = timestamp_type();
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("mtime_ns", DataType::Int64, false),
        Field::new("blake3", DataType::Binary, true),
        Field::new("log", DataType::Utf8, false),
        Field::new("first_index", DataType::Int64, true),
        Field::new("last_index", DataType::Int64, true),
        Field::new("index_ranges", DataType::Utf8, false),
        Field::new("entries", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("rejects", DataType::Int64, false),
        Field::new("parse_errors", DataType::Int64, false),
        Field::new("duplicates", DataType::Int64, false),
        Field::new("conflicts", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("ingested_at", ts, false),
        Field::new("output_files", list, false),
        Field::new("sha256", DataType::Binary, true),
    ]))
}

/// The schema of `ct_logs`.
pub fn ct_logs_schema() -> SchemaRef {
    let ts = timestamp_type();
    Arc::new(Schema::new(vec![
        Field::new("log_id", DataType::Binary, false),
        Field::new("log_id_hex", DataType::Utf8, false),
        Field::new("log_id_base64", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, false),
        Field::new("operator", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("monitoring_url", DataType::Utf8, true),
        Field::new("tiled", DataType::Boolean, false),
        Field::new("state", DataType::Utf8, true),
        Field::new("state_since", ts.clone(), true),
        Field::new("temporal_start", ts.clone(), true),
        Field::new("temporal_end", ts, true),
        Field::new("mmd", DataType::Int64, true),
        Field::new("key", DataType::Utf8, false),
        Field::new("log_name", DataType::Utf8, false),
        Field::new("list_version", DataType::Utf8, false),
    ]))
}
