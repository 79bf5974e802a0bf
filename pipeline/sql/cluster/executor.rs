//! `pipeline executor`: Ballista's executor, with our functions in its
//! registry, our codec, our dataset stores and the build check, taking
//! Ballista's own flags and binding to 127.0.0.1 unless told otherwise.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_executor::config::Config;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_executor::health::spawn_health_server;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use crate::dataset::remote::StoreOptions;
use crate::error::{Error, Result};
use crate::sql::cluster::{
    codec::TableCodec, config_producer, function_registry, same_build, stores, Logging,
};

/// The flags of `pipeline executor`: Ballista's executor's, and how to
/// reach datasets on object storage.
#[derive(Debug, clap::Args)]
#[command(mut_arg("bind_host", |a| a.default_value("127.0.0.1")
    .help("Local IP address to bind to (127.0.0.1: this machine only; Ballista has no authentication)")))]
// Pull-staged: with Ballista's default (push-staged), a query that lost an
// executor hung (its reset tasks were never launched again); pulled, they
// run on the executors left.
#[command(mut_arg("task_scheduling_policy", |a| a.default_value("pull-staged")))]
pub struct ExecutorOptions {
    /// Ballista's executor flags.
    #[command(flatten)]
    pub ballista: Config,
    /// How to reach datasets on object storage.
    #[command(flatten)]
    pub store: StoreOptions,
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("executor: {e}"))
}

/// Runs the executor until it is stopped.
pub async fn run(opts: ExecutorOptions) -> Result<()> {
    let bind_host = opts.ballista.bind_host.clone();
    let health_port = opts.ballista.bind_health_port;
    let work_dir = opts.ballista.work_dir.clone();
    let store = opts.store.clone();
    let mut config: ExecutorProcessConfig = opts.ballista.try_into().map_err(failed)?;
    Logging {
        level: &config.special_mod_log_level,
        dir: config.log_dir.as_deref(),
        file_prefix: config.log_file_name_prefix(),
        rotation: config.log_rotation_policy,
        thread_info: config.print_thread_info,
    }
    .init();
    config.override_config_producer = Some(Arc::new(config_producer));
    config.override_function_registry = Some(Arc::new(function_registry()));
    config.override_logical_codec = Some(Arc::new(TableCodec::default()));
    config.override_runtime_producer = Some(Arc::new(move |c: &SessionConfig| {
        same_build::check(c, "executor")?;
        let mut runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(stores::DatasetStores::new(store.clone())));
        if let Some(dir) = &work_dir {
            runtime = runtime.with_temp_file_path(dir);
        }
        runtime.build_arc()
    }));
    let health_addr: SocketAddr = format!("{bind_host}:{health_port}").parse().map_err(|e| {
        Error::Usage(format!(
            "--bind-host {bind_host} --bind-health-port {health_port}: {e}"
        ))
    })?;
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let health = spawn_health_server(health_addr, config.health.clone(), health_stopped);
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    let _ = health.await;
    result.map_err(failed)
}
