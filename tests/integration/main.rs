//! Integration tests: real CT entries and real certificates first, then
//! planted garbage, compression, accounting and robustness.

mod fixtures;

mod accounting;
mod cert_folders;
#[cfg(feature = "cluster")]
mod cluster;
mod fetch;
mod fetch_rfc6962;
mod first_hour;
mod fuzz;
mod incremental;
mod nightly_job;
mod object_storage;
mod real_certs;
mod real_entries;
mod report;
mod report_browser;
mod robustness;
mod rules;
mod schema_docs;
mod sql;
mod synth;
mod tampering;
mod tiles;
