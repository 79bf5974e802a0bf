//! What makes a finding evidence on its own: the certificate's serial,
//! subject, names, issuer and a crt.sh link, looked up in `certs` by the
//! finding's (log, entry_index) once for all rules of a run.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::sql::check::Finding;
use crate::sql::interner::Interner;
use crate::sql::rerun;

/// How many names (dNSNames, then IP addresses) a finding lists.
pub const FIRST_NAMES: usize = 5;

/// A finding's certificate, as `certs` holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The serial, lowercase hex as encoded.
    pub serial: Option<Box<str>>,
    /// The subject DN.
    pub subject_dn: Option<Box<str>>,
    /// How many SAN dNSNames and iPAddresses it has.
    pub san_count: Option<i64>,
    /// The first [`FIRST_NAMES`] of them, dNSNames first.
    pub san_first: Box<[Box<str>]>,
    /// The issuer DN.
    pub issuer_dn: Option<Arc<str>>,
    /// The issuer's organizationName.
    pub issuer_org: Option<Arc<str>>,
}

/// The crt.sh page of a certificate (by its SHA-256).
pub fn crt_sh_link(sha256: &[u8]) -> String {
    format!("https://crt.sh/?sha256={}", hex::encode_upper(sha256))
}

/// The table the findings' keys are joined from.
const KEYS_TABLE: &str = "pipeline_finding_keys";

/// A finding's entry: its log, its index, and the finding's position.
type Wanted = (Arc<str>, i64, usize);

/// Fills each finding's evidence from `certs` (one join per log: the
/// join's key is then the entry index alone, and the log's partition is
/// the only one read). The findings of one entry share its evidence, and
/// each row of the join is used as it arrives.
pub async fn attach(ctx: &SessionContext, findings: &mut [Finding]) -> Result<()> {
    let mut wanted: Vec<Wanted> = findings
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((f.log.clone()?, f.entry_index?, i)))
        .collect();
    wanted.sort_unstable();
    let mut shared = Interner::default();
    for of_log in wanted.chunk_by(|a, b| a.0 == b.0) {
        let mut tries = 1;
        loop {
            match fill(ctx, of_log, findings, &mut shared).await {
                Err(e) if tries < rerun::ATTEMPTS && rerun::is_lost(&e.to_string()) => tries += 1,
                done => break done?,
            }
        }
        // The log's decoded pages go back before the next log is read.
        crate::allocator::release_freed();
    }
    Ok(())
}

/// Fills the evidence of the findings `wanted` (one log's, sorted by
/// entry index) from that log's `certs`.
async fn fill(
    ctx: &SessionContext,
    wanted: &[Wanted],
    findings: &mut [Finding],
    shared: &mut Interner,
) -> Result<()> {
    let log = &wanted[0].0;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "entry_index",
        DataType::Int64,
        false,
    )]));
    let mut keys: Vec<i64> = wanted.iter().map(|w| w.1).collect();
    keys.dedup();
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(keys))])
        .map_err(|e| Error::arrow("listing the findings' entries", e))?;
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    ctx.register_table(KEYS_TABLE, Arc::new(table))?;
    let sql = format!(
        "SELECT c.entry_index, c.serial, c.subject_dn, \
           CAST(cardinality(c.san_dns) + cardinality(c.san_ip) AS BIGINT) AS san_count, \
           array_slice(array_concat(c.san_dns, c.san_ip), 1, {FIRST_NAMES}) AS san_first, \
           c.issuer_dn, c.issuer_org \
         FROM {KEYS_TABLE} k JOIN certs c ON c.entry_index = k.entry_index \
         WHERE c.log = '{}'",
        log.replace('\'', "''")
    );
    // The join hands the wanted entry indices to the Parquet scan, which
    // then decodes names and DNs only for those rows.
    let own = crate::sql::session::with_pushdown_filters(ctx);
    let result = async {
        let mut rows = own.sql(&sql).await?.execute_stream().await?;
        while let Some(batch) = rows.next().await {
            apply(&batch?, wanted, findings, shared)?;
        }
        Ok(())
    }
    .await;
    ctx.deregister_table(KEYS_TABLE)?;
    result
}

/// Gives the findings of each row's entry that row's evidence.
fn apply(
    b: &RecordBatch,
    wanted: &[Wanted],
    findings: &mut [Finding],
    shared: &mut Interner,
) -> Result<()> {
    let text = |i: usize| -> Result<StringArray> {
        let c = cast(b.column(i), &DataType::Utf8)
            .map_err(|e| Error::arrow("reading the findings' certificates", e))?;
        Ok(c.as_string::<i32>().clone())
    };
    let index: &Int64Array = b.column(0).as_primitive();
    let (serial, subject, issuer_dn, issuer_org) = (text(1)?, text(2)?, text(5)?, text(6)?);
    let count: &Int64Array = b.column(3).as_primitive();
    let names = cast(
        b.column(4),
        &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
    )
    .map_err(|e| Error::arrow("reading the findings' names", e))?;
    let names = names.as_list::<i32>();
    fn value(a: &StringArray, i: usize) -> Option<&str> {
        (!a.is_null(i)).then(|| a.value(i))
    }
    for row in 0..b.num_rows() {
        let first: Box<[Box<str>]> = if names.is_null(row) {
            Box::default()
        } else {
            let v = names.value(row);
            v.as_string::<i32>()
                .iter()
                .flatten()
                .map(Box::from)
                .collect()
        };
        let evidence = Arc::new(Evidence {
            serial: value(&serial, row).map(Box::from),
            subject_dn: value(&subject, row).map(Box::from),
            san_count: (!count.is_null(row)).then(|| count.value(row)),
            san_first: first,
            issuer_dn: value(&issuer_dn, row).map(|d| shared.get(d)),
            issuer_org: value(&issuer_org, row).map(|o| shared.get(o)),
        });
        let at = index.value(row);
        let from = wanted.partition_point(|w| w.1 < at);
        for w in wanted[from..].iter().take_while(|w| w.1 == at) {
            findings[w.2].evidence = evidence.clone();
        }
    }
    Ok(())
}
