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
use crate::sql::check::{CheckReport, RuleInfo};
use crate::sql::rules::Severity;
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
            "warning: {} input files or file tails could not be read (kind = 'io' in {}/rejects):",
            s.unreadable,
            text::path(out)
        );
        for f in &s.unreadable_files {
            eprintln!(
                "  {}: {}",
                text::escape(&f.file),
                text::escape_lines(&f.reason)
            );
        }
    }
}

/// One issuer's line in the check summary.
#[derive(Debug, Default)]
struct IssuerLine<'a> {
    errors: usize,
    warnings: usize,
    notices: usize,
    rules: BTreeMap<&'a str, usize>,
}

/// The per-issuer summary of a check as a text table: issuers named by CN,
/// else organisation, else DN; most error findings first, then the
/// highest rate of findings per 10,000 certificates.
pub fn check_summary(w: &mut dyn Write, report: &CheckReport) -> std::io::Result<()> {
    let mut issuers: BTreeMap<&str, IssuerLine> = BTreeMap::new();
    for f in &report.findings {
        let line = issuers.entry(f.issuer_name()).or_default();
        match f.severity {
            Severity::Error => line.errors += 1,
            Severity::Warning => line.warnings += 1,
            Severity::Notice => line.notices += 1,
        }
        *line.rules.entry(&*f.rule).or_default() += 1;
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
    if issuers.is_empty() {
        return Ok(());
    }
    let rate = |name: &str, line: &IssuerLine| {
        let certs = report.issuer_certs.get(name).copied().unwrap_or(0);
        let n = line.errors + line.warnings + line.notices;
        (
            certs,
            if certs > 0 {
                n as f64 * 1e4 / certs as f64
            } else {
                0.0
            },
        )
    };
    let mut rows: Vec<(&str, &IssuerLine, i64, f64)> = issuers
        .iter()
        .map(|(name, line)| {
            let (certs, r) = rate(name, line);
            (*name, line, certs, r)
        })
        .collect();
    rows.sort_by(|a, b| {
        b.1.errors
            .cmp(&a.1.errors)
            .then(b.3.total_cmp(&a.3))
            .then(a.0.cmp(b.0))
    });
    let esc = crate::text::escape;
    let shown = |name: &str| {
        if name.is_empty() {
            "(no issuer name)".to_owned()
        } else {
            esc(name).into_owned()
        }
    };
    let iwidth = rows
        .iter()
        .map(|r| shown(r.0).chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 48);
    writeln!(
        w,
        "{:iwidth$}  {:>6}  {:>8}  {:>7}  {:>12}  {:>10}  rules",
        "issuer", "errors", "warnings", "notices", "certificates", "per_10k"
    )?;
    for (name, line, certs, per) in rows {
        let mut name = shown(name);
        if name.chars().count() > iwidth {
            name = name.chars().take(iwidth - 1).collect::<String>() + "…";
        }
        let rules: Vec<String> = line
            .rules
            .iter()
            .map(|(r, n)| format!("{} {n}", esc(r)))
            .collect();
        writeln!(
            w,
            "{name:iwidth$}  {:>6}  {:>8}  {:>7}  {certs:>12}  {per:>10.1}  {}",
            line.errors,
            line.warnings,
            line.notices,
            rules.join(", ")
        )?;
    }
    Ok(())
}

/// `check --list-rules` as text: one block per rule.
pub fn rule_list(w: &mut dyn Write, rules: &[RuleInfo]) -> std::io::Result<()> {
    for r in rules {
        writeln!(w, "{}  [{}]", esc_owned(&r.id), r.severity)?;
        writeln!(w, "  source: {}", esc_owned(&r.source))?;
        writeln!(w, "  {}", esc_owned(&r.description))?;
        for p in &r.params {
            writeln!(
                w,
                "  param {} ({}, default {}): {}",
                esc_owned(&p.name),
                p.param_type,
                esc_owned(&p.default),
                esc_owned(&p.description)
            )?;
        }
        writeln!(w, "  file: {}", esc_owned(&r.file))?;
        writeln!(w)?;
    }
    writeln!(w, "{} rules", rules.len())
}

fn esc_owned(s: &str) -> String {
    text::escape(s).into_owned()
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
    if report.names_tested {
        eprintln!(
            "note: name_suspects tested every name: some certs files lack this release's \
             stored name facts (written by an older release or with another Public Suffix \
             List); `pipeline compact --data DIR` stores them, and check then reads them"
        );
    }
    if timings {
        for (step, seconds) in &report.before_rules_seconds {
            eprintln!("timing: ({step}) {seconds:.3} s");
        }
        if let Some(kept) = report.shared_rows {
            eprintln!(
                "note: name_suspects kept in memory: {} rows, {} bytes",
                kept.rows, kept.bytes
            );
        }
        for (rule, seconds) in &report.rule_seconds {
            eprintln!("timing: {rule} {seconds:.3} s");
        }
        for (step, seconds) in &report.after_rules_seconds {
            eprintln!("timing: ({step}) {seconds:.3} s");
        }
    }
    if let Some((compared, known)) = &report.previous_run {
        eprintln!(
            "{} new findings; {known} were already reported by {}",
            report.findings.len(),
            if compared.is_empty() {
                "no earlier run (every finding is new)".to_owned()
            } else {
                text::escape(compared).into_owned()
            }
        );
    }
}

/// The status as a text table.
pub fn status_table(w: &mut dyn Write, st: &Status) -> std::io::Result<()> {
    for p in &st.problems {
        writeln!(w, "warning: damaged dataset: {p}")?;
    }
    if st.certs_files_without_name_facts > 0 {
        writeln!(
            w,
            "note: {} certs files lack this release's stored name facts, so `check` tests \
             every name (slower); `pipeline compact --data {}` stores them",
            st.certs_files_without_name_facts,
            crate::text::escape(&st.data)
        )?;
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
        "verified",
    ];
    let rows: Vec<Vec<String>> = st.logs.iter().map(status_row).collect();
    aligned(w, &header, &rows)?;
    for l in &st.logs {
        if let Some(v) = &l.verified {
            verified_line(w, &l.log, v)?;
        }
    }
    Ok(())
}

/// What a fetch proved of `log`, and whether the dataset holds it all.
fn verified_line(
    w: &mut dyn Write,
    log: &str,
    v: &crate::dataset::status::Verified,
) -> std::io::Result<()> {
    let e = crate::text::escape;
    let of = if v.log.signed_size > v.log.size {
        format!(
            "the first {} of its signed tree head of {} entries",
            v.log.size, v.log.signed_size
        )
    } else {
        format!("its signed tree head of {} entries", v.log.signed_size)
    };
    let held = if v.missing == 0 {
        "the dataset holds all of them".to_owned()
    } else {
        format!(
            "the dataset lacks {} of them: ingest {}",
            v.missing,
            e(&v.log.dump)
        )
    };
    writeln!(
        w,
        "{}: entries 0..{} verified against {of} (root {}, signed {}), by a fetch at {}; {held}",
        e(log),
        v.log.size,
        e(&v.log.signed_root),
        e(&v.log.tree_head_time),
        e(&v.log.verified_at),
    )
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
        match &l.verified {
            Some(v) if v.missing > 0 => format!("{} (lacks {})", v.log.size, v.missing),
            Some(v) => v.log.size.to_string(),
            None => "-".into(),
        },
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

/// `pipeline show` as text: each entry as `column: value` lines, then the
/// stored findings.
pub fn shown(w: &mut dyn Write, s: &crate::sql::show::Shown) -> std::io::Result<()> {
    let esc = |v: &str| text::escape(v).into_owned();
    let value = |v: &serde_json::Value| match v {
        serde_json::Value::String(t) => esc(t),
        serde_json::Value::Null => "NULL".to_owned(),
        other => esc(&other.to_string()),
    };
    let n = s.entries.len();
    writeln!(
        w,
        "{}: {n} entr{} in the dataset",
        esc(&s.query),
        if n == 1 { "y" } else { "ies" }
    )?;
    for (i, e) in s.entries.iter().enumerate() {
        writeln!(w)?;
        writeln!(w, "== entry {} of {n} ({})", i + 1, e.relation)?;
        let width = e.columns.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
        for (name, v) in &e.columns {
            if name == "der" {
                continue;
            }
            writeln!(w, "{name:width$}  {}", value(v))?;
            if name == "log" {
                if let Some(d) = &e.log_description {
                    writeln!(w, "{:width$}  {}", "", esc(d))?;
                }
            }
        }
        for (j, l) in e.sct_logs.iter().enumerate() {
            writeln!(w, "{:width$}  {}", format!("sct_log[{j}]"), esc(l))?;
        }
        if let Some(link) = &e.crt_sh {
            writeln!(w, "{:width$}  {link}", "crt.sh")?;
        }
        if let Some(pem) = &e.pem {
            write!(w, "{pem}")?;
        }
    }
    writeln!(w)?;
    if s.findings.is_empty() {
        return writeln!(
            w,
            "no stored findings (runs of `pipeline check --new` or `--store` are stored)"
        );
    }
    writeln!(w, "== stored findings")?;
    for f in &s.findings {
        writeln!(
            w,
            "{} [{}] {}#{}: {} (runs {} .. {})",
            esc(&f.rule),
            esc(&f.severity),
            esc(f.log.as_deref().unwrap_or("")),
            f.entry_index.map_or(String::new(), |i| i.to_string()),
            esc(f.detail.as_deref().unwrap_or("")),
            esc(&f.first_run),
            esc(&f.last_run)
        )?;
    }
    Ok(())
}

/// What `pipeline prune` did, on stderr.
pub fn pruned(p: &crate::sql::baseline::Pruned, dry_run: bool) {
    let verb = if dry_run { "would remove" } else { "removed" };
    eprintln!(
        "{verb} {} stored runs, kept {} ({} of them because `check --new` compares with them)",
        p.removed.len(),
        p.kept.len(),
        p.kept_as_baseline.len()
    );
}
