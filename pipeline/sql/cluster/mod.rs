//! Running queries and rules on an Apache DataFusion Ballista cluster:
//! `pipeline scheduler` and `pipeline executor` are Ballista's scheduler
//! and executor carrying our SQL helper functions, and `--cluster
//! HOST:PORT` makes `query` and `check` plan locally and run there.
//!
//! What every process of a cluster shares, so a query means the same on
//! each: the helper functions ([`function_registry`], [`session_state`]),
//! the codec that carries in-memory tables ([`codec`]), the build check
//! ([`same_build`]) and the dataset stores that show a manifest's snapshot
//! ([`stores`]). Ballista has no authentication: see README "Scaling out".

pub mod client;
pub mod codec;
pub mod executor;
pub mod lost_executor;
pub mod same_build;
pub mod scheduler;
pub mod stores;

use std::sync::Arc;

use ballista_core::config::LogRotationPolicy;
use ballista_core::extension::{
    ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
    SessionConfigExt,
};
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::error::Result;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use tracing_subscriber::EnvFilter;

use crate::dataset::remote::StoreOptions;
use crate::sql::udfs;

/// The base settings of a scheduler's or executor's sessions: Ballista's,
/// our codec, and room for the client's `pipeline.*` settings.
pub fn config_producer() -> SessionConfig {
    same_build::receiving(SessionConfig::new_with_ballista())
        .with_ballista_logical_extension_codec(Arc::new(codec::TableCodec::default()))
}

/// A scheduler's session for a client's `config`: refused when the client
/// runs another build; datasets read through [`stores::DatasetStores`];
/// DataFusion's, Ballista's and our functions.
pub fn session_state(config: SessionConfig, store: &StoreOptions) -> Result<SessionState> {
    same_build::check(&config, "scheduler")?;
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(stores::DatasetStores::new(store.clone())))
        .build_arc()?;
    let mut scalar = ballista_scalar_functions();
    scalar.extend(udfs::all().into_iter().map(Arc::new));
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(scalar)
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build())
}

/// An executor's functions: the ones a scheduler's session has (Ballista's
/// registry alone lacks DataFusion's array functions, which rules use).
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    let ours = udfs::all().into_iter().map(Arc::new);
    for f in ballista_scalar_functions().into_iter().chain(ours) {
        for alias in f.aliases() {
            registry.scalar_functions.insert(alias.clone(), f.clone());
        }
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    registry
}

/// How a scheduler or executor logs, as Ballista's own binaries do:
/// `RUST_LOG` or `--log-level-setting`, to stdout or to rotated files in
/// `--log-dir`.
pub(crate) struct Logging<'a> {
    pub level: &'a str,
    pub dir: Option<&'a str>,
    pub file_prefix: String,
    pub rotation: LogRotationPolicy,
    pub thread_info: bool,
}

impl Logging<'_> {
    /// Starts logging for this process.
    pub(crate) fn init(self) {
        let filter =
            std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_else(|_| self.level.to_string());
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_thread_names(self.thread_info)
            .with_thread_ids(self.thread_info)
            .with_env_filter(EnvFilter::new(filter));
        let Some(dir) = self.dir else {
            builder.with_writer(std::io::stdout).init();
            return;
        };
        use tracing_appender::rolling;
        let prefix = self.file_prefix.as_str();
        let writer = match self.rotation {
            LogRotationPolicy::Minutely => rolling::minutely(dir, prefix),
            LogRotationPolicy::Hourly => rolling::hourly(dir, prefix),
            LogRotationPolicy::Daily => rolling::daily(dir, prefix),
            LogRotationPolicy::Never => rolling::never(dir, prefix),
        };
        builder.with_writer(writer).init();
    }
}

/// The runtime a scheduler or executor runs on (deep plans recurse: Ballista's
/// binaries give their threads 32 MiB stacks too; idle reader threads end
/// soon, see [`crate::allocator::BLOCKING_THREAD_IDLE`]).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .thread_keep_alive(crate::allocator::BLOCKING_THREAD_IDLE)
        .build()
}
