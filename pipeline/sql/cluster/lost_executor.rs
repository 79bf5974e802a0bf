//! A job that loses an executor is stopped, not answered.
//!
//! Ballista 55 recovers a job whose executor is lost by re-running stages,
//! and its bookkeeping can then count a re-run task's output beside the
//! first run's (a final stage's locations are appended to, never replaced)
//! or miss a slice of it: the job completes with rows repeated or missing.
//! Findings are evidence, so the scheduler fails every job that is running
//! when an executor is removed, with [`MARKER`] in its error, and `check`
//! runs such a rule again on the executors left ([`crate::sql::rerun`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ballista_core::error::Result;
use ballista_core::serde::protobuf::ExecutorHeartbeat;
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_core::JobId;
use ballista_scheduler::cluster::{
    BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot, JobState,
};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::task_manager::JobInfoCache;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::sql::rerun::MARKER;

/// The scheduler as the cluster state sees it (set once it exists).
type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// Ballista's cluster state, which also stops the running jobs when an
/// executor that was registered is removed.
pub struct StopJobsOnLoss {
    inner: Arc<dyn ClusterState>,
    jobs: Arc<dyn JobState>,
    scheduler: OnceLock<Scheduler>,
}

impl StopJobsOnLoss {
    /// `inner`, watched; a stopped job's status is saved to `jobs` (which
    /// tells the clients that wait on it).
    pub fn new(inner: Arc<dyn ClusterState>, jobs: Arc<dyn JobState>) -> Self {
        Self {
            inner,
            jobs,
            scheduler: OnceLock::new(),
        }
    }

    /// The scheduler whose jobs are stopped (set once, after it is built).
    pub fn attach(&self, scheduler: Scheduler) {
        let _ = self.scheduler.set(scheduler);
    }

    /// Fails every running job with a message naming the lost executor and
    /// cancels its tasks; its state is dropped [`FORGET_AFTER`] later, once
    /// its client has read why (a cancelled job's status says only
    /// "Cancelled").
    async fn stop_running_jobs(&self, executor_id: &str) {
        let Some(scheduler) = self.scheduler.get() else {
            return;
        };
        let running = scheduler.state.task_manager.get_running_job_cache();
        for (job_id, info) in running.iter() {
            let message = format!(
                "{MARKER} (executor {executor_id}); Ballista's recovery can repeat or drop \
                 rows, so the job was stopped rather than answered: run it again"
            );
            log::warn!("job {job_id}: {message}");
            // Its running stages fail with it, so no re-run makes it succeed;
            // saving the failed graph tells the client that waits on it.
            let (tasks, failed) = {
                let mut graph = info.execution_graph.write().await;
                (graph.abort_running(message), graph.cloned())
            };
            if let Err(e) = self.jobs.save_job(job_id, &failed).await {
                log::warn!("job {job_id}: saving its failure: {e}");
            }
            if let Err(e) = scheduler
                .state
                .executor_manager
                .cancel_running_tasks(tasks)
                .await
            {
                log::warn!("job {job_id}: cancelling its tasks: {e}");
            }
            let (scheduler, job_id) = (scheduler.clone(), job_id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(FORGET_AFTER).await;
                if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
                    log::error!("job {job_id}: dropping its state: {e}");
                }
            });
        }
    }
}

/// How long a stopped job's status (and its reason) stays for its client,
/// which asks every 50 ms.
pub const FORGET_AFTER: Duration = Duration::from_secs(30);

#[async_trait::async_trait]
impl ClusterState for StopJobsOnLoss {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        self.inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots).await
    }

    async fn register_executor(
        &self,
        metadata: ExecutorMetadata,
        spec: ExecutorData,
    ) -> Result<()> {
        self.inner.register_executor(metadata, spec).await
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        // Only an executor that was there: removing one twice, or one that
        // never registered, loses nothing.
        let was_there = self.inner.get_executor_heartbeat(executor_id).is_some()
            || self.inner.get_executor_metadata(executor_id).await.is_ok();
        let removed = self.inner.remove_executor(executor_id).await;
        if was_there {
            self.stop_running_jobs(executor_id).await;
        }
        removed
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}
