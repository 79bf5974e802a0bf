//! `pipeline` turns bulk Certificate Transparency dumps into a Parquet dataset
//! and asks it SQL questions.
//!
//! Data flows one way, through one folder per stage:
//!
//! ```text
//! dump files ─▶ ingest (format/*) ─▶ ct (leaf framing) ─▶ x509 (certs row) ─▶ table (Arrow, Parquet)
//!            ─▶ dataset (staged files, one commit, manifest = snapshot)
//! dataset snapshot ─▶ sql (session + udfs) ─▶ sql::check (rules) / sql::query ─▶ cli renders
//! ```
//!
//! - [`ingest`] finds input files, cuts them into chunks and decodes the chunks
//!   in parallel; each dump format lives in [`ingest::format`];
//! - [`ct`] holds the CT wire objects (RFC 6962 leaves, the log list);
//! - [`x509`] extracts one certificate into a row of the `certs` table;
//! - [`dns`] holds the Public Suffix List, TLD and reserved-IP logic, pure;
//! - [`table`] owns the table schemas, the Arrow builders and the Parquet settings;
//! - [`dataset`] owns every change to a dataset, through one commit, and
//!   every read of it, through a manifest snapshot;
//! - [`sql`] is the only code that uses DataFusion: session, UDFs, rules,
//!   `check` and `query`, and (in `sql::cluster`) the Ballista scheduler,
//!   executor and client that run them on a cluster;
//! - [`cli`] defines the flags and renders what the library returns;
//! - [`synth`] writes realistic dumps with planted anomalies and their ground truth;
//! - [`allocator`] hands the memory a finished phase or an idle thread freed back to the kernel.

pub mod allocator;
pub mod build_info;
pub mod cli;
pub mod ct;
pub mod dataset;
pub mod dns;
pub mod error;
pub mod fetch;
pub mod ingest;
pub mod notes;
pub mod report;
pub mod sql;
pub mod synth;
pub mod table;
pub mod text;
pub mod x509;
