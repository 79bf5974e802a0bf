//! `pipeline report`: one self-contained HTML page about a stored `check`
//! run, for an incident bug or a root program's review: the dataset and
//! its coverage, an issuer league table, an issuer x rule heat map and,
//! per issuer, findings per month with the dates rules took effect,
//! example certificates and forensic charts (notBefore by weekday and
//! hour, the delay from notBefore to the earliest evidence of issuance,
//! validity lengths, notBefore values shared by many certificates).
//!
//! The flow: [`data`] asks the dataset aggregate questions, [`charts`]
//! draws them as SVG, [`page`] fills the HTML template (askama, escaping by
//! default), and [`run`] writes the file atomically.

pub mod charts;
pub mod data;
pub mod page;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::sql::session::SessionOptions;

/// What `pipeline report` is asked to do: its command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportOptions {
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The HTML file to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The stored `check` run to report (its id, as `findings/run=<id>`);
    /// default: the latest.
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Also detail every issuer whose name, organisation or DN contains
    /// PATTERN (case-insensitive). Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub issuer: Vec<String>,
    /// Issuers detailed, from the top of the league table.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// The SQL session (memory bound, log list).
    #[command(flatten)]
    pub session: SessionOptions,
}

/// What `pipeline report` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    /// The file.
    pub out: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The run reported.
    pub run: String,
    /// Findings in it.
    pub findings: i64,
    /// Issuers in the league table.
    pub issuers: usize,
    /// Issuers detailed.
    pub detailed: usize,
    /// Seconds taken.
    pub seconds: f64,
}

/// Writes the report.
pub async fn run(opts: &ReportOptions) -> Result<ReportSummary> {
    let started = Instant::now();
    let runs = crate::sql::baseline::stored_runs(&opts.data, &opts.session.store).await?;
    let chosen = match &opts.run {
        Some(id) => runs.iter().find(|r| &r.run == id).ok_or_else(|| {
            let known: Vec<&str> = runs.iter().map(|r| r.run.as_str()).collect();
            Error::Usage(format!(
                "no stored run {id:?} in {}; stored runs: {}",
                crate::text::path(&opts.data),
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ))
        })?,
        None => runs.last().ok_or_else(|| {
            Error::Usage(format!(
                "{} has no stored check run: run `pipeline check --data {} --store` (or `--new`) first",
                crate::text::path(&opts.data),
                crate::text::path(&opts.data)
            ))
        })?,
    };
    let ctx = crate::sql::session::open_with(&opts.data, &opts.session).await?;
    let status = crate::dataset::status::status(&opts.data)?;
    let html = page::build(&ctx, opts, chosen, &status).await?;
    let findings = html.findings;
    let (issuers, detailed) = (html.issuers, html.detailed);
    let bytes = write_atomically(&opts.out, html.text.as_bytes())?;
    Ok(ReportSummary {
        out: crate::text::path(&opts.out),
        bytes,
        run: chosen.run.clone(),
        findings,
        issuers,
        detailed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes `bytes` to `path` through a temporary file beside it and a
/// rename: a reader sees the old report or the new one, never a part. A
/// missing folder is made.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<u64> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        Error::Usage(format!(
            "--out {}: not a file name",
            crate::text::path(path)
        ))
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    Ok(bytes.len() as u64)
}
