//! The SQL side: a DataFusion session over a dataset snapshot, the UDFs,
//! the rules of `queries/`, `pipeline check` and `pipeline query`, and the
//! output formats, and running them on a Ballista cluster. The only code
//! that uses DataFusion.

pub mod baseline;
pub(crate) mod builtin_rules;
pub mod check;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod evidence;
pub(crate) mod hex_literals;
pub(crate) mod interner;
pub mod memory_limit;
pub(crate) mod name_facts;
pub mod output;
pub(crate) mod query;
pub mod rerun;
pub(crate) mod rows;
pub(crate) mod rules;
pub(crate) mod script;
pub mod session;
pub mod shared_views;
pub mod show;
pub(crate) mod snapshot_store;
pub(crate) mod sorted_read;
pub(crate) mod udfs;
pub(crate) mod url_hosts;
