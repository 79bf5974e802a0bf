//! What this binary was built from: shown by `pipeline --version`, and
//! compared across the processes of a cluster (see `cluster::same_build`).

/// `pipeline --version`'s text, ending with `$tail`.
macro_rules! version {
    ($tail:expr) => {
        concat!(
            env!("CARGO_PKG_VERSION"),
            " (source ",
            env!("PIPELINE_SOURCE_DIGEST"),
            "; Public Suffix List: psl crate ",
            env!("PIPELINE_PSL_VERSION"),
            "; DataFusion ",
            env!("PIPELINE_DATAFUSION_VERSION"),
            $tail,
            ")"
        )
    };
}

/// `pipeline --version`: the crate version, a digest of the sources and
/// rules it was built from, and the versions of what is compiled in that
/// changes answers: the Public Suffix List (the `psl` crate's release) and
/// the query engine.
#[cfg(feature = "cluster")]
pub const VERSION: &str = version!(concat!("; Ballista ", env!("PIPELINE_BALLISTA_VERSION")));

/// `pipeline --version` of a build without cluster support.
#[cfg(not(feature = "cluster"))]
pub const VERSION: &str = version!("; no cluster support");

/// This build's identity: equal in two processes exactly when they run the
/// same sources, rules, locked dependencies and Public Suffix List.
pub const BUILD: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "+",
    env!("PIPELINE_SOURCE_DIGEST"),
    ".psl-",
    env!("PIPELINE_PSL_VERSION")
);
