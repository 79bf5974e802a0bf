//! `pipeline` turns bulk Certificate Transparency dumps into a Parquet dataset.
//!
//! Data flows one way:
//!
//! ```text
//! dump ──Chunk──▶ decode ──▶ ct_leaf ──LogEntry──▶ cert_record ──CertRecord──▶ batch ──RecordBatch──▶ parquet_sink
//! ```
//!
//! - [`dump`] finds input files, detects compression and layout, and cuts them into chunks;
//! - [`decode`] turns a chunk into rows in parallel: JSON, base64, then
//!   [`ct_leaf`] (RFC 6962 framing) and [`cert_record`] (X.509 fields);
//!   entries that cannot be framed become [`reject`] rows;
//! - [`batch`] owns the table schemas and builds Arrow batches;
//! - [`parquet_sink`] writes Hive-partitioned, atomically renamed Parquet files;
//! - [`ingest`] runs the stages with bounded queues between them.
//!
//! Questions flow the same way: [`rules`] (`queries/*.sql`) → [`checks`] →
//! [`session`] (tables and [`udfs`]) → [`output`]; [`query`] runs ad-hoc SQL.
//!
//! [`synth`] writes realistic dumps with planted anomalies and their ground truth.

pub mod adopt;
pub mod batch;
pub mod builtin_rules;
pub mod cert_record;
pub mod checks;
pub mod cli;
pub mod commit;
pub mod compact;
pub mod ct_leaf;
pub mod decode;
pub mod der;
pub mod dump;
pub mod error;
pub mod footer;
pub mod ingest;
pub mod log_list;
pub mod manifest;
pub mod memory_limit;
pub mod oid_names;
pub mod output;
pub mod overlap;
pub mod parquet_sink;
pub mod partition;
pub mod progress;
pub mod query;
pub mod reject;
pub mod replace;
pub mod rules;
pub mod session;
pub mod snapshot;
pub mod snapshot_store;
pub mod sql_text;
pub mod status;
pub mod synth;
pub mod text;
pub mod udfs;
pub mod verify;
