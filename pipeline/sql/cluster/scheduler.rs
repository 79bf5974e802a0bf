//! `pipeline scheduler`: Ballista's scheduler, with our functions in its
//! sessions and our dataset stores, taking Ballista's own flags (so its
//! documentation applies) and binding to 127.0.0.1 unless told otherwise.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::dataset::remote::StoreOptions;
use crate::error::{Error, Result};
use crate::sql::cluster::lost_executor::StopJobsOnLoss;
use crate::sql::cluster::{codec::TableCodec, config_producer, session_state, Logging};

/// The flags of `pipeline scheduler`: Ballista's scheduler's, and how to
/// reach datasets on object storage.
#[derive(Debug, clap::Args)]
#[command(mut_arg("bind_host", |a| a.default_value("127.0.0.1")
    .help("Local IP address to bind to (127.0.0.1: this machine only; Ballista has no authentication)")))]
// Pull-staged: with Ballista's default (push-staged), a query that lost an
// executor hung (its reset tasks were never launched again); pulled, they
// run on the executors left.
#[command(mut_arg("scheduler_policy", |a| a.default_value("pull-staged")))]
pub struct SchedulerOptions {
    /// Ballista's scheduler flags.
    #[command(flatten)]
    pub ballista: Config,
    /// How to reach datasets on object storage.
    #[command(flatten)]
    pub store: StoreOptions,
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("scheduler: {e}"))
}

/// Runs the scheduler until it is stopped.
pub async fn run(opts: SchedulerOptions) -> Result<()> {
    let o = &opts.ballista;
    Logging {
        level: &o.log_level_setting,
        dir: o.log_dir.as_deref(),
        file_prefix: format!(
            "scheduler_{}_{}_{}",
            o.namespace, o.external_host, o.bind_port
        ),
        rotation: o.log_rotation_policy,
        thread_info: o.print_thread_info,
    }
    .init();
    let addr: SocketAddr = format!("{}:{}", o.bind_host, o.bind_port)
        .parse()
        .map_err(|e| {
            Error::Usage(format!(
                "--bind-host {} --bind-port {}: {e}",
                o.bind_host, o.bind_port
            ))
        })?;
    let store = opts.store.clone();
    let mut config: SchedulerConfig = opts.ballista.try_into().map_err(failed)?;
    config = config
        .with_override_config_producer(Arc::new(config_producer))
        .with_override_session_builder(Arc::new(move |c| session_state(c, &store)));
    config.override_logical_codec = Some(Arc::new(TableCodec::default()));
    let memory = BallistaCluster::new_from_config(&config)
        .await
        .map_err(failed)?;
    // Ballista's own start_server, with a cluster state that stops the
    // jobs running when an executor is lost (see lost_executor).
    let watched = Arc::new(StopJobsOnLoss::new(
        memory.cluster_state(),
        memory.job_state(),
    ));
    let cluster = BallistaCluster::new(watched.clone(), memory.job_state());
    let config = Arc::new(config);
    config.validate().map_err(failed)?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(failed)?;
    watched.attach(scheduler.clone());
    log::info!("scheduler listening on {addr}");
    start_grpc_service(addr, scheduler).await.map_err(failed)?;
    Ok(())
}
