//! Ingestion: find the files of a dump, cut them into chunks, decode the
//! chunks in parallel into rows, and write them to staged Parquet files that
//! one commit makes live.

pub(crate) mod buffers;
pub mod compression;
pub mod decode;
mod discover;
pub mod format;
mod in_flight;
pub(crate) mod page_stream;
mod read;
pub mod reject;
mod run;
mod stages;
pub(crate) mod streams;
mod write;

pub use discover::{
    discover, page_range, validate_log_name, DiscoverOptions, Discovery, InputFile, Layout,
};
pub use read::{Chunk, ChunkReader, PageEnd, TextRecords};
pub use run::{ingest, IngestOptions, IngestSummary, UnreadableFile};
