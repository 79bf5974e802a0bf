//! A cluster runs one build: SQL helper functions travel by name, so a
//! scheduler or executor built from other sources (or another Public Suffix
//! List) would answer differently without anyone noticing. The client puts
//! its build into the session settings every query carries; the scheduler
//! (when it builds a session) and each executor (when it builds a task's
//! runtime) compare it with their own and refuse a different one.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionConfig;

use crate::build_info::BUILD;

extensions_options! {
    /// Settings of ours that travel with every query (`pipeline.*`).
    pub struct PipelineSettings {
        /// The build of the client that planned the query (`build_info::BUILD`).
        pub build: String, default = String::new()
    }
}

impl ConfigExtension for PipelineSettings {
    const PREFIX: &'static str = "pipeline";
}

/// `config` carrying this build, as a client sends it.
pub fn stamped(config: SessionConfig) -> SessionConfig {
    config.with_option_extension(PipelineSettings {
        build: BUILD.to_string(),
    })
}

/// `config` able to receive a client's `pipeline.*` settings (on the
/// scheduler and executors, before the client's settings are applied).
pub fn receiving(config: SessionConfig) -> SessionConfig {
    config.with_option_extension(PipelineSettings::default())
}

/// Refuses a query planned by another build of `pipeline`. `role` names
/// this process in the error (`scheduler`, `executor`). A client that is
/// not `pipeline` (no build sent) is let through: it cannot call our
/// functions by accident.
pub fn check(config: &SessionConfig, role: &str) -> Result<()> {
    let theirs = config
        .options()
        .extensions
        .get::<PipelineSettings>()
        .map_or("", |s| s.build.as_str());
    if theirs.is_empty() || theirs == BUILD {
        return Ok(());
    }
    Err(DataFusionError::Configuration(format!(
        "this {role} runs pipeline {BUILD} but the query comes from pipeline {theirs}: \
         a cluster's client, scheduler and executors must run the same build \
         (see `pipeline --version` on each host)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_from_another_build_is_refused_by_name() {
        let ours = stamped(SessionConfig::new());
        assert!(check(&ours, "executor").is_ok());
        let mut theirs = receiving(SessionConfig::new());
        assert!(
            check(&theirs, "executor").is_ok(),
            "no build sent: let through"
        );
        theirs
            .options_mut()
            .set("pipeline.build", "0.0.9+000000000000.psl-2.0.0")
            .unwrap();
        let e = check(&theirs, "executor").unwrap_err().to_string();
        assert!(e.contains("0.0.9+000000000000.psl-2.0.0"), "{e}");
        assert!(e.contains(BUILD), "{e}");
        assert!(e.contains("this executor"), "{e}");
    }
}
