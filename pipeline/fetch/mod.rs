//! `pipeline fetch LOG --out DUMP_DIR`: downloads a log's entries into the
//! layout `ingest` reads, proving them against the log's signed tree head
//! (RFC 6962 Merkle hashing), incrementally: each log's directory keeps the
//! verified size, root and the tree's compact right edge, so a later fetch
//! downloads only new entries and proves old plus new.
//!
//! The flow: resolve the log in a log list ([`resolve`]), read and verify
//! its tree head, download what is new ([`http`]), hash and verify
//! ([`tiled`], [`rfc6962`]; a prefix of the signed tree by [`prefix`]), move into place ([`staging`]), save the state
//! ([`state`]).

pub mod http;
pub mod prefix;
pub mod rfc6962;
pub mod staging;
pub mod state;
pub mod tiled;

use std::path::PathBuf;

use crate::ct::log_list::{self, CtLog};
use crate::ct::tree_head::LogKey;
use crate::error::{Error, Result};

/// The options of `pipeline fetch`.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchOptions {
    /// The log: its URL (monitoring URL of a tiled log) or its name in the
    /// log list (`log_name`, or words of its description).
    pub log: String,
    /// The dump directory; the log's files go to `DUMP_DIR/<log name>/`.
    #[arg(long)]
    pub out: PathBuf,
    /// A v3 log list (JSON) to find the log and its key in, instead of the
    /// compiled-in one.
    #[arg(long, value_name = "FILE")]
    pub log_list: Option<PathBuf>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Requests per second at most (0: no limit).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Say what would be fetched, and fetch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Fetch the log up to this tree size at most (its first SIZE
    /// entries), proved a prefix of the signed tree (hash tiles, or the
    /// log's consistency proof).
    #[arg(long, value_name = "SIZE")]
    pub to: Option<u64>,
    /// Fetch at most N new entries this time (proved like --to).
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
}

impl FetchOptions {
    /// The tree size to fetch up to: the signed `size`, or less by `--to`
    /// and `--max-entries`; never below `previous` (what is verified).
    pub fn target(&self, previous: u64, size: u64) -> u64 {
        let by_count = self
            .max_entries
            .map_or(u64::MAX, |n| previous.saturating_add(n));
        size.min(self.to.unwrap_or(u64::MAX))
            .min(by_count)
            .max(previous)
    }
}

/// The log `name` (a URL or a name) in `list`.
pub fn resolve<'a>(list: &'a log_list::LogList, name: &str) -> Result<&'a CtLog> {
    let norm = |u: &str| {
        u.trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    let wanted = norm(name);
    let found = list.logs.iter().find(|l| {
        norm(&l.url) == wanted
            || l.monitoring_url
                .as_deref()
                .is_some_and(|m| norm(m) == wanted)
            || l.log_name.eq_ignore_ascii_case(name)
    });
    if let Some(log) = found {
        return Ok(log);
    }
    let by_words: Vec<&CtLog> = list
        .logs
        .iter()
        .filter(|l| {
            l.description
                .to_ascii_lowercase()
                .contains(&name.to_ascii_lowercase())
        })
        .collect();
    if let [one] = by_words.as_slice() {
        return Ok(one);
    }
    let suggestions = log_list::suggest(list, name);
    Err(Error::Usage(format!(
        "fetch: no log {:?} in the log list{}",
        crate::text::escape(name),
        if suggestions.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", suggestions.join(", "))
        }
    )))
}

/// Runs `pipeline fetch`; `bar` is given the number of entries to fetch
/// and moved as they are verified.
pub fn run(opts: &FetchOptions, bar: &indicatif::ProgressBar) -> Result<tiled::FetchReport> {
    let list = log_list::load(opts.log_list.as_deref())?;
    let log = resolve(&list, &opts.log)?;
    let key = LogKey::from_base64(&log.key)
        .map_err(|e| Error::Usage(format!("fetch {}: {e}", log.description)))?;
    let client = http::Client::new(http::ClientOptions {
        rate: opts.rate,
        ..http::ClientOptions::default()
    })
    .map_err(Error::Usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the runtime: {e}")))?;
    if !log.tiled {
        let mut url = log.url.clone();
        if !url.ends_with('/') {
            url.push('/');
        }
        let rfc = rfc6962::Rfc6962Log {
            url,
            name: log.log_name.clone(),
            key,
        };
        return runtime.block_on(rfc6962::fetch(&client, &rfc, opts, bar));
    }
    let mut url = log.monitoring_url.clone().ok_or_else(|| {
        Error::Usage(format!(
            "fetch {}: the list gives no monitoring_url",
            log.description
        ))
    })?;
    if !url.ends_with('/') {
        url.push('/');
    }
    let tiled_log = tiled::TiledLog {
        monitoring_url: url,
        key,
    };
    runtime.block_on(tiled::fetch(&client, &tiled_log, opts, bar))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_found_by_url_name_or_words_of_their_description() {
        let list = log_list::load(None).unwrap();
        let argon = resolve(&list, "argon2026h1").unwrap();
        assert_eq!(argon.description, "Google 'Argon2026h1' log");
        assert!(!argon.tiled);
        let oak = resolve(&list, "oak2026h1").unwrap();
        assert_eq!(oak.description, "Let's Encrypt 'Oak2026h1'");
        assert_eq!(resolve(&list, &argon.url).unwrap().log_id, argon.log_id);
        assert_eq!(
            resolve(&list, &argon.log_name).unwrap().log_id,
            argon.log_id
        );
        // Words that name several logs name none.
        assert!(resolve(&list, "2026h1").is_err());
    }

    #[test]
    fn the_target_size_is_bounded_by_to_and_max_entries_and_never_shrinks() {
        let opts = |to, max_entries| FetchOptions {
            log: String::new(),
            out: PathBuf::new(),
            log_list: None,
            parallel: 1,
            rate: 0.0,
            dry_run: false,
            to,
            max_entries,
        };
        assert_eq!(opts(None, None).target(100, 1000), 1000);
        assert_eq!(opts(Some(500), None).target(100, 1000), 500);
        assert_eq!(opts(Some(5000), None).target(100, 1000), 1000);
        assert_eq!(opts(None, Some(50)).target(100, 1000), 150);
        assert_eq!(opts(Some(120), Some(50)).target(100, 1000), 120);
        // Already past --to: nothing to fetch.
        assert_eq!(opts(Some(10), None).target(100, 1000), 100);
    }
}
