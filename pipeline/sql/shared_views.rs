//! `name_suspects`: the subscriber certificates of `certs` with a name the
//! name rules look for (`facts`, from [`crate::sql::name_facts`], is not 0).
//!
//! Every session has it as a view. `check` reads it once for all the rules
//! that name it and keeps the rows in memory (a few in a hundred
//! certificates on any realistic dataset), so the names of `certs` are
//! read and tested once rather than once per rule. Above
//! [`MATERIALIZE_CAP`] bytes, or on a cluster, each rule reads the view.

use std::sync::Arc;

use datafusion::datasource::{MemTable, ViewTable};
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

/// The view's name.
pub const NAME_SUSPECTS: &str = "name_suspects";

/// Its definition.
pub const NAME_SUSPECTS_SQL: &str = "\
SELECT log, entry_index, cert_sha256, issuer_cn, not_before, not_after, subject_cn, \
       san_dns, san_ip, facts \
FROM (SELECT log, entry_index, cert_sha256, issuer_cn, not_before, not_after, subject_cn, \
             san_dns, san_ip, name_facts(san_dns) AS facts \
      FROM certs WHERE NOT coalesce(is_ca, false)) \
WHERE facts <> 0";

/// The most memory `check` keeps the view's rows in.
pub const MATERIALIZE_CAP: usize = 512 << 20;

/// Registers the view with `ctx` (which has `certs` and the UDFs).
pub async fn register(ctx: &SessionContext) -> Result<()> {
    let plan = ctx.sql(NAME_SUSPECTS_SQL).await?.into_unoptimized_plan();
    let view = ViewTable::new(plan, Some(NAME_SUSPECTS_SQL.to_owned()));
    ctx.register_table(NAME_SUSPECTS, Arc::new(view))?;
    Ok(())
}

/// Whether SQL text names the view (as a word).
pub fn names_view(sql: &str) -> bool {
    sql.match_indices(NAME_SUSPECTS).any(|(at, _)| {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let before = sql[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = sql[at + NAME_SUSPECTS.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

/// Reads the view once and puts its rows in its place in `ctx`, unless
/// they exceed `cap` bytes (the view then stays). Returns whether it did.
pub async fn materialize(ctx: &SessionContext, cap: usize) -> Result<bool> {
    // The scan tests the names first and decodes the other columns only
    // for the rows that pass (a few in a hundred).
    let mut state = ctx.state();
    state
        .config_mut()
        .options_mut()
        .execution
        .parquet
        .pushdown_filters = true;
    let own = SessionContext::new_with_state(state);
    let frame = own.table(NAME_SUSPECTS).await?;
    let mut stream = frame.execute_stream().await?;
    let schema = stream.schema();
    let mut batches = Vec::new();
    let mut bytes = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        bytes += batch.get_array_memory_size();
        if bytes > cap {
            return Ok(false);
        }
        batches.push(batch);
    }
    let table = MemTable::try_new(schema, vec![batches])?;
    ctx.deregister_table(NAME_SUSPECTS)?;
    ctx.register_table(NAME_SUSPECTS, Arc::new(table))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_view_as_a_word_only() {
        assert!(names_view(
            "SELECT * FROM name_suspects WHERE facts & 1 <> 0"
        ));
        assert!(names_view("FROM name_suspects\n"));
        assert!(!names_view("SELECT * FROM certs"));
        assert!(!names_view("SELECT * FROM my_name_suspects"));
        assert!(!names_view("SELECT name_suspects_count FROM t"));
    }
}
