//! `--cluster HOST:PORT` of `query` and `check`: the session is planned
//! here, as locally (same tables, same snapshot, same functions), and runs
//! on the cluster's scheduler; `--cluster standalone` starts an in-process
//! scheduler and executor instead (to try a rule on Ballista).

use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::error::Result;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use crate::sql::cluster::{codec::TableCodec, same_build};
use crate::sql::udfs;

/// The `--cluster` value that runs an in-process cluster.
pub const STANDALONE: &str = "standalone";

/// `ctx` (tables and functions registered) made to run its queries on the
/// cluster at `cluster` (`HOST:PORT`, or [`STANDALONE`]).
pub async fn connect(ctx: SessionContext, cluster: &str) -> Result<SessionContext> {
    let state = ctx.state();
    // The tables are registered already: building the state again must not
    // replace their catalog with an empty default one.
    let config = same_build::stamped(state.config().clone())
        .with_create_default_catalog_and_schema(false)
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(TableCodec::default()))
        // The static planner: Ballista's adaptive one (on by default since
        // 55) does not recover a job when an executor is lost mid-stage
        // (apache/datafusion-ballista#1986), and the job then never ends.
        .set_bool(
            ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED,
            false,
        );
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let ctx = if cluster == STANDALONE {
        SessionContext::standalone_with_state(state).await?
    } else {
        SessionContext::remote_with_state(&format!("df://{cluster}"), state).await?
    };
    // Connecting rebuilds the function map: ours are registered again.
    udfs::register(&ctx);
    Ok(ctx)
}
