//! `pipeline query`: ad-hoc SQL over a dataset, from the command line, a
//! file, standard input, or an interactive prompt with history.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

use crate::error::{with_causes, Error, Result};
use crate::notes::{Level, Reporter};
use crate::sql::output::{Output, OutputFormat};
use crate::sql::script::{split_statements, Statement};
use crate::sql::session::{self, SessionOptions};

/// What `pipeline query` was asked to do: its command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryOptions {
    /// The dataset directory (as written by `pipeline ingest --out`), or
    /// s3://BUCKET/PREFIX (as written by `pipeline publish`). Repeatable:
    /// several datasets read as one (each table the union of theirs).
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Vec<PathBuf>,
    /// SQL to run (statements separated by `;`). Without it: -f FILE, standard
    /// input, or an interactive prompt on a terminal.
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,
    /// Read the SQL from a file.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the result to a file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print each statement's time (planning, execution, collecting; not
    /// writing) to stderr.
    #[arg(long)]
    pub timings: bool,
    /// The SQL session: log list and memory.
    #[command(flatten)]
    pub session: SessionOptions,
    /// Let statements write and change things: CREATE, DROP, INSERT, COPY
    /// ... TO, SET. Without it only queries run (the dataset itself is never
    /// written either way).
    #[arg(long)]
    pub allow_write: bool,
}

/// Runs the statements of `script`, writing each result; `origin` names the
/// script in error messages. With `timings`, each statement's time (without
/// writing the result) is a note `timing: ORIGIN:LINE SECONDS s`.
#[allow(clippy::too_many_arguments)] // one script run, told where to write and what to note
pub async fn run_script(
    ctx: &SessionContext,
    script: &str,
    origin: &str,
    format: OutputFormat,
    out: &mut Output,
    timings: bool,
    options: SQLOptions,
    reporter: &dyn Reporter,
) -> Result<()> {
    for Statement { line, sql } in split_statements(script) {
        let sql_error = |e: datafusion::error::DataFusionError| Error::Sql {
            origin: origin.to_owned(),
            line,
            message: session::error_message(&e),
        };
        let started = std::time::Instant::now();
        let df = ctx
            .sql_with_options(&sql, options)
            .await
            .map_err(|e| match e {
                DataFusionError::Plan(m)
                    if ["DDL", "DML", "Statement"]
                        .iter()
                        .any(|k| m.starts_with(&format!("{k} not supported"))) =>
                {
                    DataFusionError::Plan(format!("{m} (a statement that writes or changes settings runs only with --allow-write)"))
                }
                e => e,
            })
            .map_err(sql_error)?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut batches = df.collect().await.map_err(sql_error)?;
        if batches.is_empty() && !schema.fields().is_empty() {
            // No rows still has columns: they are printed, with "0 rows".
            batches.push(RecordBatch::new_empty(schema));
        }
        if timings {
            reporter.note(
                Level::Info,
                format!(
                    "timing: {}:{line} {:.4} s",
                    crate::text::escape(origin),
                    started.elapsed().as_secs_f64()
                ),
            );
        }
        out.write(format, &batches)?;
    }
    Ok(())
}

/// Runs `pipeline query`; timings and the prompt's messages are notes.
pub async fn run(opts: &QueryOptions, reporter: &dyn Reporter) -> Result<()> {
    if opts.format == OutputFormat::Parquet && opts.out.is_none() {
        return Err(Error::Usage("--format parquet needs --out FILE".into()));
    }
    let options = if opts.allow_write {
        SQLOptions::new()
    } else {
        session::read_only()
    };
    let open =
        || async { session::open_datasets(&opts.data, &opts.session, opts.allow_write).await };
    let (script, origin) = match (&opts.sql, &opts.file) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage("give SQL or -f FILE, not both".into()));
        }
        (Some(sql), None) => (sql.clone(), "<command line>".to_owned()),
        (None, Some(path)) => (
            std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?,
            path.display().to_string(),
        ),
        (None, None) if std::io::stdin().is_terminal() => {
            return interactive(open, options, reporter).await
        }
        (None, None) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::io("<stdin>", e))?;
            (s, "<stdin>".to_owned())
        }
    };
    let ctx = open().await?;
    let mut out = Output::open(opts.out.as_deref())?;
    run_script(
        &ctx,
        &script,
        &origin,
        opts.format,
        &mut out,
        opts.timings,
        options,
        reporter,
    )
    .await?;
    out.finish()
}

/// What the prompt says when it opens.
const BANNER: &str = "SQL over certs, rejects, findings, manifest, ct_logs (and the view name_suspects). End statements with ';'. \\? help, \\d [TABLE] describes, \\df functions, \\q quits.";

/// What `\?` (or `help`) at the prompt prints.
const PROMPT_HELP: &str = "\
Tables: certs (one row per log entry), rejects (entries that could not be framed),
  findings (stored `check` runs), manifest (inputs ingested), ct_logs (the CT log list).
Commands: \\d lists the tables; \\d TABLE shows its columns; \\df lists the helper
  functions; \\? or help shows this; \\q quits. Statements end with ';'.
Hashes are binary; compare them with hex text of either case:
  SELECT * FROM certs WHERE cert_sha256 = '3111500C...';
Look one certificate up from the shell: pipeline show --data DIR SHA256
Examples:
  SELECT issuer_cn, count(*) FROM certs GROUP BY 1 ORDER BY 2 DESC LIMIT 10;
  SELECT l.description, count(*) FROM certs c JOIN ct_logs l ON l.log_name = c.log GROUP BY 1;";

/// A backslash command typed at the prompt.
#[derive(Debug, PartialEq, Eq)]
enum PromptCommand {
    /// `\q`.
    Quit,
    /// `\?`, `\h`, `help`.
    Help,
    /// A command that is a statement (`\d`, `\d TABLE`, `\df`).
    Sql(String),
    /// Anything else.
    Unknown,
}

fn prompt_command(typed: &str) -> PromptCommand {
    match typed.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["\\q"] => PromptCommand::Quit,
        ["\\?"] | ["\\h"] | ["help"] => PromptCommand::Help,
        ["\\d"] => PromptCommand::Sql("SHOW TABLES".to_owned()),
        ["\\d", table] => PromptCommand::Sql(format!("DESCRIBE {table}")),
        ["\\df"] => PromptCommand::Sql(format!(
            "SELECT routine_name AS function, description FROM information_schema.routines \
             WHERE routine_name IN ({}) ORDER BY 1",
            crate::sql::udfs::names()
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => PromptCommand::Unknown,
    }
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pipeline_history"))
}

/// The prompt: statements end with `;`; `\d` lists tables, `\d TABLE` shows
/// its columns, `\q` quits. Each statement reads the dataset's current
/// snapshot, and none is held between statements, so a prompt left open
/// never keeps a commit waiting.
async fn interactive<F, Fut>(open: F, options: SQLOptions, reporter: &dyn Reporter) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<SessionContext>>,
{
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Error::Usage(format!("cannot start the prompt: {e}")))?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    reporter.note(Level::Info, BANNER.into());
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "pipeline> "
        } else {
            "     ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(_) => break,
        };
        let trimmed = line.trim();
        if buffer.is_empty() && (trimmed.starts_with('\\') || trimmed == "help") {
            let _ = editor.add_history_entry(trimmed);
            let sql = match prompt_command(trimmed) {
                PromptCommand::Quit => break,
                PromptCommand::Help => {
                    reporter.note(Level::Info, PROMPT_HELP.into());
                    continue;
                }
                PromptCommand::Sql(sql) => sql,
                PromptCommand::Unknown => {
                    reporter.note(
                        Level::Error,
                        format!(
                            "unknown command {}: \\? for help, \\d, \\d TABLE, \\df, \\q",
                            crate::text::escape(trimmed)
                        ),
                    );
                    continue;
                }
            };
            report(run_prompt(&open, &sql, options, reporter).await, reporter);
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            let _ = editor.add_history_entry(buffer.trim());
            let script = std::mem::take(&mut buffer);
            report(
                run_prompt(&open, &script, options, reporter).await,
                reporter,
            );
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// Runs what was typed at the prompt on a fresh snapshot.
async fn run_prompt<F, Fut>(
    open: &F,
    script: &str,
    options: SQLOptions,
    reporter: &dyn Reporter,
) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<SessionContext>>,
{
    let ctx = open().await?;
    let mut out = Output::stdout();
    run_script(
        &ctx,
        script,
        "<prompt>",
        OutputFormat::Table,
        &mut out,
        false,
        options,
        reporter,
    )
    .await?;
    out.finish()
}

/// A failed statement at the prompt is a note; the prompt goes on.
fn report(result: Result<()>, reporter: &dyn Reporter) {
    if let Err(e) = result {
        reporter.note(
            Level::Error,
            format!("error: {}", crate::text::escape_lines(&with_causes(&e))),
        );
    }
}

#[cfg(test)]
mod prompt_tests {
    use super::*;

    #[test]
    fn prompt_commands() {
        assert_eq!(prompt_command("\\q"), PromptCommand::Quit);
        assert_eq!(prompt_command("\\?"), PromptCommand::Help);
        assert_eq!(prompt_command("help"), PromptCommand::Help);
        assert_eq!(
            prompt_command("\\d certs"),
            PromptCommand::Sql("DESCRIBE certs".into())
        );
        let PromptCommand::Sql(sql) = prompt_command("\\df") else {
            panic!("\\df is a statement");
        };
        assert!(sql.contains("'registrable_domain'"), "{sql}");
        assert_eq!(prompt_command("\\x"), PromptCommand::Unknown);
        assert!(BANNER.contains("manifest") && BANNER.contains("ct_logs"));
        assert!(PROMPT_HELP.contains("ct_logs"));
    }
}
