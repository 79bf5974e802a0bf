//! What makes a finding evidence on its own: the certificate's serial,
//! subject, names, issuer and a crt.sh link, looked up in `certs` by the
//! finding's (log, entry_index) once for all rules of a run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::sql::check::Finding;
use crate::sql::rerun;

/// How many names (dNSNames, then IP addresses) a finding lists.
pub const FIRST_NAMES: usize = 5;

/// A finding's certificate, as `certs` holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The serial, lowercase hex as encoded.
    pub serial: Option<String>,
    /// The subject DN.
    pub subject_dn: Option<String>,
    /// How many SAN dNSNames and iPAddresses it has.
    pub san_count: Option<i64>,
    /// The first [`FIRST_NAMES`] of them, dNSNames first.
    pub san_first: Vec<String>,
    /// The issuer DN.
    pub issuer_dn: Option<String>,
    /// The issuer's organizationName.
    pub issuer_org: Option<String>,
}

/// The crt.sh page of a certificate (by its SHA-256).
pub fn crt_sh_link(sha256: &[u8]) -> String {
    format!("https://crt.sh/?sha256={}", hex::encode_upper(sha256))
}

/// The table the findings' keys are joined from.
const KEYS_TABLE: &str = "pipeline_finding_keys";

/// Fills each finding's evidence from `certs` (one join per log: the
/// join's key is then the entry index alone, and the log's partition is
/// the only one read).
pub async fn attach(ctx: &SessionContext, findings: &mut [Finding]) -> Result<()> {
    // Per log, per entry index, the findings of that entry.
    let mut wanted: BTreeMap<String, HashMap<i64, Vec<usize>>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        let (Some(log), Some(index)) = (&f.log, f.entry_index) else {
            continue;
        };
        if !wanted.contains_key(log) {
            wanted.insert(log.clone(), HashMap::new());
        }
        let entries = wanted.get_mut(log).expect("inserted above");
        entries.entry(index).or_default().push(i);
    }
    for (log, entries) in &wanted {
        let keys: Vec<i64> = entries.keys().copied().collect();
        for (index, evidence) in look_up(ctx, log, &keys).await? {
            for &i in &entries[&index] {
                findings[i].evidence = evidence.clone();
            }
        }
    }
    Ok(())
}

/// The evidence of the entries `keys` of log `log`, by entry index.
async fn look_up(ctx: &SessionContext, log: &str, keys: &[i64]) -> Result<Vec<(i64, Evidence)>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "entry_index",
        DataType::Int64,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from_iter_values(keys.iter().copied()))],
    )
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
    let result = rerun::rerun_if_lost(|| async { own.sql(&sql).await?.collect().await }).await;
    ctx.deregister_table(KEYS_TABLE)?;
    let mut out = Vec::new();
    for b in &result? {
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
        let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
        for row in 0..b.num_rows() {
            let first: Vec<String> = if names.is_null(row) {
                Vec::new()
            } else {
                let v = names.value(row);
                v.as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect()
            };
            let evidence = Evidence {
                serial: opt(&serial, row),
                subject_dn: opt(&subject, row),
                san_count: (!count.is_null(row)).then(|| count.value(row)),
                san_first: first,
                issuer_dn: opt(&issuer_dn, row),
                issuer_org: opt(&issuer_org, row),
            };
            out.push((index.value(row), evidence));
        }
    }
    Ok(out)
}
