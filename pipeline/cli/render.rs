//! Everything the command line shows a person: summaries, tables and
//! notes, rendered from what the library returns. Text that came from
//! files or certificates is escaped here (see [`crate::text`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::dataset::compact::Compacted;
use crate::dataset::publish::Published;
use crate::dataset::status::{LogStatus, Status};
use crate::dataset::verify::Verification;
use crate::ingest::IngestSummary;
use crate::sql::check::CheckReport;
use crate::synth::SynthSummary;
use crate::text;

/// The ingest summary, on stderr.
pub fn ingest_summary(s: &IngestSummary, out: &Path) {
    if s.files == 0 {
        eprintln!(
            "nothing new to ingest: {} input files already in {}",
            s.already_ingested,
            text::path(out)
        );
        return;
    }
    if s.already_ingested > 0 {
        eprintln!(
            "{} input files already ingested were left alone",
            s.already_ingested
        );
    }
    if s.replaced > 0 {
        eprintln!(
            "{} changed inputs replaced: {} rows and {} rejects of their old content taken out",
            s.replaced, s.rows_removed, s.rejects_removed
        );
    }
    if s.duplicates > 0 {
        eprintln!(
            "{} entries were already in the dataset (same log and index) and were not stored again",
            s.duplicates
        );
    }
    eprintln!(
        "ingested {} files ({:.1} MB) in {:.2} s: {} entries read -> {} rows, {} rejects, {} parse errors; {:.0} entries/s",
        s.files,
        s.input_bytes as f64 / 1e6,
        s.elapsed_seconds,
        s.entries_read,
        s.rows,
        s.rejects,
        s.parse_errors,
        s.entries_per_second
    );
    eprintln!(
        "wrote {} Parquet files under {}",
        s.output_files.len(),
        text::path(out)
    );
    if s.unreadable > 0 {
        eprintln!(
            "warning: {} input files or file tails could not be read (kind = 'io' in {}/rejects)",
            s.unreadable,
            text::path(out)
        );
    }
}

/// The per-rule, per-issuer summary of a check as a text table.
pub fn check_summary(w: &mut dyn Write, report: &CheckReport) -> std::io::Result<()> {
    let mut groups: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for f in &report.findings {
        let issuer = f.issuer_cn.as_deref().unwrap_or("");
        *groups
            .entry((f.rule.as_str(), f.severity.as_str(), issuer))
            .or_default() += 1;
    }
    writeln!(
        w,
        "{} rules run, {} findings{}",
        report.rules_run.len(),
        report.findings.len(),
        if report.broken.is_empty() {
            String::new()
        } else {
            format!(", {} rules broken", report.broken.len())
        }
    )?;
    if groups.is_empty() {
        return Ok(());
    }
    let esc = crate::text::escape;
    let width = groups
        .keys()
        .map(|k| esc(k.0).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let iwidth = groups
        .keys()
        .map(|k| esc(k.2).chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        w,
        "{:width$}  {:8}  {:iwidth$}  {:>8}  {:>12}",
        "rule", "severity", "issuer", "findings", "issuer_certs"
    )?;
    for ((rule, severity, issuer), n) in &groups {
        let total = report.issuer_certs.get(*issuer).copied().unwrap_or(0);
        let (rule, issuer) = (esc(rule), esc(issuer));
        writeln!(
            w,
            "{rule:width$}  {severity:8}  {issuer:iwidth$}  {n:>8}  {total:>12}"
        )?;
    }
    Ok(())
}

/// What `pipeline check` says on stderr before its summary: rules that
/// could not run, each rule's time (with `--timings`), and with `--new`
/// how many findings an earlier run already had.
pub fn check_notes(report: &CheckReport, timings: bool) {
    for e in &report.broken {
        eprintln!("error: rule {}", text::escape_lines(&e.to_string()));
    }
    if !report.broken.is_empty() {
        eprintln!("note: the findings of this run were not stored (a rule failed)");
    }
    if timings {
        for (rule, seconds) in &report.rule_seconds {
            eprintln!("timing: {rule} {seconds:.3} s");
        }
    }
    if let Some((run, known)) = &report.previous_run {
        eprintln!(
            "{} new findings; {known} were already reported by {}",
            report.findings.len(),
            if run.is_empty() {
                "no earlier run (every finding is new)".to_owned()
            } else {
                format!("run {}", text::escape(run))
            }
        );
    }
}

/// The status as a text table.
pub fn status_table(w: &mut dyn Write, st: &Status) -> std::io::Result<()> {
    for p in &st.problems {
        writeln!(w, "warning: damaged dataset: {p}")?;
    }
    if !st.problems.is_empty() {
        writeln!(
            w,
            "warning: logs marked * show what their remaining files hold; run `pipeline verify --data {}`",
            crate::text::escape(&st.data)
        )?;
    }
    if st.interrupted_run_pending {
        writeln!(
            w,
            "note: an interrupted run left work in {}/_staging; the next ingest finishes or removes it",
            crate::text::escape(&st.data)
        )?;
    }
    if st.logs.is_empty() {
        return writeln!(w, "{}: no entries yet", crate::text::escape(&st.data));
    }
    let header = [
        "log",
        "entries",
        "rows",
        "rejects",
        "parse_err",
        "indices",
        "gaps",
        "missing",
        "first_entry",
        "last_entry",
        "MB",
        "files",
        "dups",
        "last_ingest",
    ];
    let rows: Vec<Vec<String>> = st.logs.iter().map(status_row).collect();
    aligned(w, &header, &rows)
}

/// One log's line of the status table.
fn status_row(l: &LogStatus) -> Vec<String> {
    let indices = match (l.first_index, l.last_index) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "-".into(),
    };
    let gaps = if l.gaps.is_empty() {
        "-".into()
    } else {
        l.gaps.clone()
    };
    vec![
        format!(
            "{}{}",
            crate::text::escape(&l.log),
            if l.damaged { " *" } else { "" }
        ),
        l.entries.to_string(),
        l.rows.to_string(),
        l.rejects.to_string(),
        l.parse_errors.to_string(),
        indices,
        gaps,
        l.missing.to_string(),
        l.first_entry_time.clone().unwrap_or_else(|| "-".into()),
        l.last_entry_time.clone().unwrap_or_else(|| "-".into()),
        format!("{:.1}", l.bytes_on_disk as f64 / 1e6),
        l.input_files.to_string(),
        l.duplicates.to_string(),
        l.last_ingest.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// Writes `header` and `rows` as columns padded to their widest cell.
fn aligned(w: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(w, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(w, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// What `pipeline compact` did, on stderr.
pub fn compacted(done: &[Compacted], data: &Path, min_files: usize) {
    if done.is_empty() {
        eprintln!(
            "nothing to compact: no partition of {} has {} or more files",
            text::path(data),
            min_files.max(2)
        );
    }
    for c in done {
        eprintln!(
            "compacted {}/log={}: {} files -> {} ({} rows)",
            c.table,
            text::escape(&c.log),
            c.files_before,
            c.files_after,
            c.rows
        );
    }
}

/// What `pipeline publish` did (stderr).
pub fn published(p: &Published) {
    eprintln!(
        "published generation {} to {}: {} files uploaded ({:.1} MB), {} already there, manifest {}; \
         {} files deleted, {} kept for readers of the previous snapshot",
        p.generation,
        text::escape(&p.url),
        p.files_uploaded,
        p.bytes_uploaded as f64 / 1e6,
        p.files_present,
        if p.manifest_uploaded { "uploaded" } else { "unchanged" },
        p.files_deleted,
        p.files_kept_for_readers
    );
}

/// The problems `pipeline verify` found (stdout) and its verdict (stderr).
pub fn verification(v: &Verification, data: &Path) {
    for p in &v.problems {
        println!("{p}");
    }
    eprintln!(
        "{}: {} data files, {} rows, generation {}: {}",
        text::path(data),
        v.files,
        v.rows,
        v.generation,
        if v.is_clean() {
            "clean".to_owned()
        } else {
            format!("{} problems", v.problems.len())
        }
    );
}

/// What `pipeline synth` wrote, on stderr.
pub fn synth_summary(s: &SynthSummary, out: &Path) {
    let planted: u64 = s.planted.values().sum();
    let rejects: u64 = s.rejects.values().sum();
    eprintln!(
        "wrote {} entries in {} logs to {} ({} files, {:.1} MB) in {:.2} s ({:.0} entries/s): {} precert entries, {} planted rule hits, {} decoys, {} malformed, {} unparseable, {} truncated files",
        s.entries,
        s.logs.len(),
        text::path(out),
        s.files,
        s.bytes as f64 / 1e6,
        s.elapsed_seconds,
        s.entries_per_second,
        s.precert_entries,
        planted,
        s.decoys.values().sum::<u64>(),
        rejects,
        s.parse_errors,
        s.truncated_files.len()
    );
    eprintln!(
        "ground truth: {}; ingest with: pipeline ingest {}/*/ --out DATASET",
        text::path(&out.join("ground_truth.jsonl")),
        text::path(out)
    );
}
