//! Name facts: what the name rules look for in a certificate's names,
//! subject CN and SAN IPs, as one bitmask. Ingest stores them in `certs`
//! (column [`COLUMN`]); the SQL function `name_facts(names)`
//! ([`crate::sql::name_facts`]) computes the names' part, and the view
//! `name_suspects` ([`crate::sql::shared_views`]) selects the certificates
//! whose facts are not 0, so the rules that read `san_dns` do not each scan
//! every name of `certs` with their own `any_*` test.
//!
//! Each bit is exactly one `any_*` test (or a rule's own condition), so a
//! rule that filters on a bit selects the same certificates as before.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int32Builder, ListArray, RecordBatch};
use arrow::datatypes::DataType;

use crate::dns::{is_reserved_ip, normalize, suffix_facts, tld_is_delegated, undelegated, TldMemo};
use crate::table::writer::PartitionWriter;

/// A name (without `*.`) is itself a public suffix: `any_public_suffix`.
pub const PUBLIC_SUFFIX: i32 = 1;
/// A name has no registrable domain: `any_unregistrable`.
pub const UNREGISTRABLE: i32 = 2;
/// A name's TLD is not delegated: `any_undelegated_tld`.
pub const UNDELEGATED_TLD: i32 = 4;
/// A name contains `_`: `any_contains(names, '_')`.
pub const UNDERSCORE: i32 = 8;
/// A name has a `*` anywhere but as its whole leftmost label.
pub const MISPLACED_WILDCARD: i32 = 16;

/// The subject CN looks like a host name (not IPv4) and its TLD is not
/// delegated.
pub const CN_UNDELEGATED: i32 = 32;
/// A SAN iPAddress is reserved: `any_reserved_ip(san_ip)`.
pub const RESERVED_IP: i32 = 64;
/// The subject CN is neither a dNSName nor an iPAddress of the SAN.
pub const CN_NOT_IN_SAN: i32 = 128;

/// The `certs` column holding each certificate's facts, computed at ingest
/// exactly as the view `name_suspects` computes them (see
/// [`crate::sql::shared_views`]).
pub const COLUMN: &str = "name_facts";

/// The footer key of a `certs` file whose [`COLUMN`] was computed by this
/// writer, and the manifest key listing such files. Its value is [`STAMP`].
pub const FOOTER_KEY: &str = "pipeline.name_facts";

/// What the stored facts were computed with: the meaning of the bits (one
/// more whenever [`cert_facts`] or [`facts_of`] changes what they say) and
/// the Public Suffix List compiled in. A session reads the stored column
/// only when every `certs` file has this binary's stamp; otherwise the view
/// computes the facts from the names, as a file from another release or
/// another Public Suffix List needs.
pub const STAMP: &str = concat!("1;psl-", env!("PIPELINE_PSL_VERSION"));

/// `writer` with [`FOOTER_KEY`] set to [`STAMP`] in every file it writes:
/// for writers of `certs` whose batches' [`COLUMN`] was computed by this
/// binary ([`crate::table::batch`] at ingest, [`with_facts`] elsewhere).
pub(crate) fn stamped(mut writer: PartitionWriter) -> PartitionWriter {
    writer.add_metadata(FOOTER_KEY, STAMP);
    writer
}

/// `batch` (of the `certs` schema) with its [`COLUMN`] computed again from
/// its names, whatever it held.
pub fn with_facts(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| format!("the batch has no column {name}"))
    };
    let facts = cert_facts_column(
        &column("san_dns")?,
        &column("subject_cn")?,
        &column("san_ip")?,
    )?;
    let at = batch
        .schema()
        .index_of(COLUMN)
        .map_err(|_| format!("the batch has no column {COLUMN}"))?;
    let mut columns = batch.columns().to_vec();
    columns[at] = Arc::new(facts);
    RecordBatch::try_new(batch.schema(), columns).map_err(|e| e.to_string())
}

/// The subject CN tests of the view (`regexp_like`, the same `regex` crate).
static HOST_LIKE: LazyLock<(regex::Regex, regex::Regex)> = LazyLock::new(|| {
    (
        regex::Regex::new(r"^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*\.?$").expect("valid"),
        regex::Regex::new(r"^[0-9.]+$").expect("valid"),
    )
});

/// The facts of one certificate, as `name_suspects` computes them: the OR
/// of its names' [`facts_of`], and the bits of its subject CN and SAN IPs.
pub fn cert_facts<'a>(
    san_dns: impl IntoIterator<Item = Option<&'a str>>,
    subject_cn: Option<&str>,
    san_ip: &[Option<&str>],
    memo: &mut TldMemo,
) -> i32 {
    let mut facts = 0;
    let mut cn_in_san = false;
    for name in san_dns {
        facts |= facts_of(name, memo);
        cn_in_san |= subject_cn.is_some() && name == subject_cn;
    }
    if let Some(cn) = subject_cn {
        let delegated = normalize(cn).is_some_and(|n| tld_is_delegated(&n));
        let (host, ipv4) = &*HOST_LIKE;
        if !delegated && host.is_match(cn) && !ipv4.is_match(cn) {
            facts |= CN_UNDELEGATED;
        }
        if !cn_in_san && !san_ip.contains(&Some(cn)) {
            facts |= CN_NOT_IN_SAN;
        }
    }
    if san_ip.iter().any(|ip| ip.is_some_and(is_reserved_ip)) {
        facts |= RESERVED_IP;
    }
    facts
}

/// [`cert_facts`] of every row of a `certs` batch's columns (lists of
/// strings of any string type; a NULL `san_dns` list gives NULL, as the
/// view's `name_facts(san_dns)` does).
pub fn cert_facts_column(
    san_dns: &ArrayRef,
    subject_cn: &ArrayRef,
    san_ip: &ArrayRef,
) -> Result<Int32Array, String> {
    let lists = |a: &ArrayRef, what: &str| -> Result<ListArray, String> {
        match a.data_type() {
            DataType::List(_) => Ok(a.as_list::<i32>().clone()),
            other => Err(format!("{what} must be a list of strings, got {other}")),
        }
    };
    let (dns, ips) = (lists(san_dns, "san_dns")?, lists(san_ip, "san_ip")?);
    let (dns_values, ip_values) = (dns.values(), ips.values());
    let mut memo = TldMemo::new();
    let mut out = Int32Builder::with_capacity(dns.len());
    let (mut names, mut ip_row): (Vec<Option<&str>>, Vec<Option<&str>>) = (vec![], vec![]);
    for row in 0..dns.len() {
        if dns.is_null(row) {
            out.append_null();
            continue;
        }
        let range = |l: &ListArray| {
            let o = l.value_offsets();
            o[row] as usize..o[row + 1] as usize
        };
        names.clear();
        for i in range(&dns) {
            names.push(string_at(dns_values, i)?);
        }
        ip_row.clear();
        for i in range(&ips) {
            ip_row.push(string_at(ip_values, i)?);
        }
        let cn = string_at(subject_cn, row)?;
        let mut facts = cert_facts(names.iter().copied(), cn, &ip_row, &mut memo);
        if ips.is_null(row) {
            // The view's tests of a NULL list are NULL: no bit.
            facts &= !(CN_NOT_IN_SAN | RESERVED_IP);
        }
        out.append_value(facts);
    }
    Ok(out.finish())
}

/// The facts of one name (NULL included, as the `any_*` tests see it).
pub fn facts_of(name: Option<&str>, memo: &mut TldMemo) -> i32 {
    let mut facts = 0;
    // One normalisation and one PSL lookup for both tests; a NULL or empty
    // name has no registrable domain (`unregistrable`).
    let (public, registrable) = name
        .and_then(normalize)
        .map_or((false, false), |n| suffix_facts(&n));
    if public {
        facts |= PUBLIC_SUFFIX;
    }
    if !registrable {
        facts |= UNREGISTRABLE;
    }
    if undelegated(name, memo) {
        facts |= UNDELEGATED_TLD;
    }
    if let Some(n) = name {
        if n.contains('_') {
            facts |= UNDERSCORE;
        }
        if n.contains('*') && !(n == "*" || n.strip_prefix("*.").is_some_and(|r| !r.contains('*')))
        {
            facts |= MISPLACED_WILDCARD;
        }
    }
    facts
}

/// Element `i` of a string array of any string type.
pub fn string_at(values: &ArrayRef, i: usize) -> Result<Option<&str>, String> {
    if values.is_null(i) {
        return Ok(None);
    }
    Ok(Some(match values.data_type() {
        DataType::Utf8 => values.as_string::<i32>().value(i),
        DataType::LargeUtf8 => values.as_string::<i64>().value(i),
        DataType::Utf8View => values.as_string_view().value(i),
        other => return Err(format!("expected strings, got {other}")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bit_is_its_test() {
        let mut memo = TldMemo::new();
        let mut f = |n: &str| facts_of(Some(n), &mut memo);
        assert_eq!(f("www.example.com"), 0);
        assert_eq!(f("co.uk") & PUBLIC_SUFFIX, PUBLIC_SUFFIX);
        assert_eq!(f("co.uk") & UNREGISTRABLE, UNREGISTRABLE);
        assert_eq!(f("github.io") & PUBLIC_SUFFIX, PUBLIC_SUFFIX);
        assert_eq!(f("server.corp") & UNDELEGATED_TLD, UNDELEGATED_TLD);
        assert_eq!(f("_dmarc.example.net"), UNDERSCORE);
        assert_eq!(f("*.example.com"), 0);
        assert_eq!(f("*"), f("*") & !MISPLACED_WILDCARD);
        assert_eq!(f("f*.example.net"), MISPLACED_WILDCARD);
        assert_eq!(f("www.*.example.com"), MISPLACED_WILDCARD);
        assert_eq!(f("*.*.example.com"), MISPLACED_WILDCARD);
        // A NULL element: unregistrable, as any_unregistrable sees it.
        assert_eq!(facts_of(None, &mut memo), UNREGISTRABLE);
    }
}
