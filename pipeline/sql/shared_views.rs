//! `name_suspects`: the subscriber certificates of `certs` with a name,
//! subject CN or SAN IP the name rules look for (`facts`, mostly from
//! [`crate::sql::name_facts`], is not 0).
//!
//! Every session has it as a view: over the facts ingest stored in `certs`
//! when every file has this binary's (see [`crate::table::name_facts`]),
//! else computing them from the names. `check` reads it once for all the rules
//! that name it and keeps the rows in memory (a few in a hundred
//! certificates on any realistic dataset), so the names of `certs` are
//! read and tested once rather than once per rule. Above
//! [`MATERIALIZE_CAP`] bytes, or on a cluster, each rule reads the view.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::{MemTable, ViewTable};
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

/// The view's name.
pub const NAME_SUSPECTS: &str = "name_suspects";

/// Its definition when the stored facts are used: the same rows and
/// columns as [`NAME_SUSPECTS_SQL`], read from `certs.name_facts` (which
/// [`crate::table::name_facts::cert_facts`] computed as that view does).
pub const NAME_SUSPECTS_STORED_SQL: &str = r"
SELECT log, entry_index, cert_sha256, issuer_cn, not_before, not_after, subject_cn,
       san_dns, san_ip, name_facts AS facts
FROM certs WHERE name_facts <> 0 AND NOT coalesce(is_ca, false)";

/// Its definition: `facts` is [`name_facts`](crate::sql::name_facts)'s
/// bits for `san_dns` (1 to 16) and those of the subject CN and the SAN
/// IPs: 32 the CN looks like a host name (not IPv4) and its TLD is not
/// delegated, 64 a SAN IP is reserved, 128 the CN is not among the SANs.
/// (No `coalesce` around `name_facts`: DataFusion rewrites it to a CASE
/// that calls the function twice; `san_dns` is never NULL.)
pub const NAME_SUSPECTS_SQL: &str = r"
SELECT log, entry_index, cert_sha256, issuer_cn, not_before, not_after, subject_cn,
       san_dns, san_ip, CAST(facts AS INT) AS facts
FROM (SELECT log, entry_index, cert_sha256, issuer_cn, not_before, not_after, subject_cn,
             san_dns, san_ip,
             name_facts(san_dns)
             | CASE WHEN NOT tld_is_delegated(subject_cn) THEN
                 CASE WHEN regexp_like(subject_cn, '^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*\.?$')
                       AND NOT regexp_like(subject_cn, '^[0-9.]+$') THEN 32 ELSE 0 END
               ELSE 0 END
             | CASE WHEN any_reserved_ip(san_ip) THEN 64 ELSE 0 END
             | CASE WHEN subject_cn IS NOT NULL AND NOT array_has(san_dns, subject_cn)
                         AND NOT array_has(san_ip, subject_cn) THEN 128 ELSE 0 END AS facts
      FROM certs WHERE NOT coalesce(is_ca, false))
WHERE facts <> 0";

/// The most memory `check` keeps the view's rows in.
pub const MATERIALIZE_CAP: usize = 512 << 20;

/// Registers the view with `ctx` (which has `certs` and the UDFs): over the
/// stored facts if `stored` (every `certs` file has this binary's). It
/// replaces the rows [`materialize`] kept, if any.
pub async fn register(ctx: &SessionContext, stored: bool) -> Result<()> {
    let sql = if stored {
        NAME_SUSPECTS_STORED_SQL
    } else {
        NAME_SUSPECTS_SQL
    };
    let plan = ctx.sql(sql).await?.into_unoptimized_plan();
    let view = ViewTable::new(plan, Some(sql.to_owned()));
    ctx.deregister_table(NAME_SUSPECTS)?;
    ctx.register_table(NAME_SUSPECTS, Arc::new(view))?;
    Ok(())
}

/// Whether the view of `ctx` reads the stored facts (else it tests every
/// name); asked before [`materialize`] replaces it.
pub async fn reads_stored_facts(ctx: &SessionContext) -> Result<bool> {
    let provider = ctx.table_provider(NAME_SUSPECTS).await?;
    Ok(provider
        .downcast_ref::<ViewTable>()
        .and_then(ViewTable::definition)
        .is_some_and(|d| d == NAME_SUSPECTS_STORED_SQL))
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

/// What [`materialize`] kept in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// Rows of the view.
    pub rows: usize,
    /// Bytes of their Arrow arrays.
    pub bytes: usize,
}

/// Reads the view once and puts its rows in its place in `ctx`, unless
/// they exceed `cap` bytes (the view then stays, and `None` is returned).
pub async fn materialize(ctx: &SessionContext, cap: usize) -> Result<Option<Kept>> {
    // The scan tests the names first and decodes the other columns only
    // for the rows that pass (a few in a hundred).
    let own = crate::sql::session::with_pushdown_filters(ctx);
    let frame = own.table(NAME_SUSPECTS).await?;
    let mut stream = frame.execute_stream().await?;
    let schema = plain_schema(&stream.schema());
    let mut batches = Vec::new();
    let mut bytes = 0;
    while let Some(batch) = stream.next().await {
        let batch = plain(&batch?, &schema)?;
        bytes += batch.get_array_memory_size();
        if bytes > cap {
            return Ok(None);
        }
        batches.push(batch);
    }
    // As many partitions as the session scans with, so the rules that
    // read the rows use every core.
    let parts = ctx.state().config().target_partitions().max(1);
    let mut partitions = vec![Vec::new(); parts];
    for (i, b) in batches.into_iter().enumerate() {
        partitions[i % parts].push(b);
    }
    let rows = partitions.iter().flatten().map(RecordBatch::num_rows).sum();
    let table = MemTable::try_new(schema, partitions)?;
    ctx.deregister_table(NAME_SUSPECTS)?;
    ctx.register_table(NAME_SUSPECTS, Arc::new(table))?;
    Ok(Some(Kept { rows, bytes }))
}

/// `t` with plain strings and binaries for views, in lists too.
fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(Arc::new(
            f.as_ref().clone().with_data_type(plain_type(f.data_type())),
        )),
        other => other.clone(),
    }
}

/// `schema` with [`plain_type`]s.
fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(plain_type(f.data_type())))
        .collect();
    Arc::new(Schema::new(fields))
}

/// `batch` copied into `schema`'s plain types: a string view keeps the
/// whole page it points into, so the few rows kept would hold (and count
/// as) most of the names read.
fn plain(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
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
