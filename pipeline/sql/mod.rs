//! The SQL side: a DataFusion session over a dataset snapshot, the UDFs,
//! the rules of `queries/`, `pipeline check` and `pipeline query`, and the
//! output formats. The only code that uses DataFusion.

pub mod builtin_rules;
pub mod check;
pub mod output;
pub mod query;
pub mod rules;
pub mod script;
pub mod session;
pub mod snapshot_store;
pub mod sorted_read;
pub mod udfs;
