//! Reading a set of Parquet files back in `entry_index` order, with
//! DataFusion's sort (which spills to disk past its memory budget): what
//! `pipeline compact` merges a partition's files with.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::{Stream, StreamExt};

use crate::error::Result;
use crate::sql::memory_limit::{runtime_within, MemoryLimit};

/// Batches in `entry_index` order (nulls last).
pub type SortedBatches = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// The rows of `files`, sorted by `entry_index`, and the names of their
/// columns (as the files' common schema has them). The sort holds at most
/// `limit` in memory and spills the rest to files in TMPDIR.
pub async fn by_entry_index(
    files: &[PathBuf],
    limit: MemoryLimit,
) -> Result<(Vec<String>, SortedBatches)> {
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new().with_target_partitions(1),
        runtime_within(limit).build_arc()?,
    );
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(f.display().to_string()))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await?;
    ctx.register_table("t", Arc::new(ListingTable::try_new(config)?))?;
    let df = ctx
        .sql("SELECT * FROM t ORDER BY entry_index ASC NULLS LAST")
        .await?;
    let columns = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let stream = df.execute_stream().await?;
    Ok((columns, Box::pin(stream.map(|b| b.map_err(Into::into)))))
}
