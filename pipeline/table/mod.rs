//! The tables the pipeline writes: their schemas, the Arrow builders that
//! fill them and the Parquet writer settings.

pub(crate) mod batch;
pub mod name_facts;
pub mod schema;
pub(crate) mod writer;
