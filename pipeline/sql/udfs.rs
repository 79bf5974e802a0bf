//! SQL helper functions over DNS names and hashes, registered as DataFusion
//! scalar UDFs: `registrable_domain`, `public_suffix`,
//! `public_suffix_section`, `is_public_suffix`,
//! `parent_domain`, `tld_is_delegated`, `is_reserved_ip`; the list tests
//! `any_unregistrable`, `any_undelegated_tld`, `any_reserved_ip`,
//! `any_public_suffix`, `any_contains`; `hex`, `prefix64`, `hash64`; and
//! `url_hosts` ([`super::url_hosts`]).
//!
//! The name logic itself is [`crate::dns`]'s; here it is applied a whole
//! Arrow array at a time. All of them return NULL for NULL.

use std::sync::{Arc, OnceLock};

use crate::dns::{
    is_public_suffix, is_reserved_ip, lowercase, normalize, parent_domain, public_suffix,
    public_suffix_section, registrable_domain, tld_is_delegated, undelegated, unregistrable,
    TldMemo,
};
use arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// The name functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NameFn {
    RegistrableDomain,
    PublicSuffix,
    PublicSuffixSection,
    IsPublicSuffix,
    ParentDomain,
    TldIsDelegated,
    IsReservedIp,
}

impl NameFn {
    fn sql_name(self) -> &'static str {
        match self {
            NameFn::RegistrableDomain => "registrable_domain",
            NameFn::PublicSuffix => "public_suffix",
            NameFn::PublicSuffixSection => "public_suffix_section",
            NameFn::IsPublicSuffix => "is_public_suffix",
            NameFn::ParentDomain => "parent_domain",
            NameFn::TldIsDelegated => "tld_is_delegated",
            NameFn::IsReservedIp => "is_reserved_ip",
        }
    }

    fn returns_bool(self) -> bool {
        matches!(
            self,
            NameFn::IsPublicSuffix | NameFn::TldIsDelegated | NameFn::IsReservedIp
        )
    }
}

/// Calls `f` with each value of a string array (Utf8, LargeUtf8 or Utf8View).
fn for_each_str<'a>(array: &'a ArrayRef, mut f: impl FnMut(Option<&'a str>)) -> Result<()> {
    if let Some(a) = array.as_string_opt::<i32>() {
        a.iter().for_each(&mut f);
    } else if let Some(a) = array.as_string_opt::<i64>() {
        a.iter().for_each(&mut f);
    } else if let Some(a) = array.as_string_view_opt() {
        a.iter().for_each(&mut f);
    } else if array.data_type() == &DataType::Null {
        (0..array.len()).for_each(|_| f(None));
    } else {
        return exec_err!("expected a string argument, got {}", array.data_type());
    }
    Ok(())
}

/// Calls `f` with the bytes of each value of a binary or string array (NULL
/// for a NULL array); `function` names the caller in the error for other types.
fn for_each_bytes<'a>(
    array: &'a ArrayRef,
    function: &str,
    mut f: impl FnMut(Option<&'a [u8]>),
) -> Result<()> {
    match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().iter().for_each(&mut f),
        DataType::LargeBinary => array.as_binary::<i64>().iter().for_each(&mut f),
        DataType::BinaryView => array.as_binary_view().iter().for_each(&mut f),
        DataType::FixedSizeBinary(_) => array.as_fixed_size_binary().iter().for_each(&mut f),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            for_each_str(array, |v| f(v.map(str::as_bytes)))?
        }
        DataType::Null => (0..array.len()).for_each(|_| f(None)),
        other => return exec_err!("{function}() expects a binary or string argument, got {other}"),
    }
    Ok(())
}

/// A name function as a DataFusion UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NameUdf {
    func: NameFn,
    signature: Signature,
}

impl ScalarUDFImpl for NameUdf {
    fn name(&self) -> &str {
        self.func.sql_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        documentation(self.name())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(if self.func.returns_bool() {
            DataType::Boolean
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = &arrays[0];
        let out: ArrayRef = if self.func.returns_bool() {
            let mut b = BooleanBuilder::with_capacity(input.len());
            for_each_str(input, |v| {
                b.append_option(v.map(|name| match (self.func, normalize(name)) {
                    (NameFn::IsReservedIp, _) => is_reserved_ip(name),
                    (_, None) => false,
                    (NameFn::IsPublicSuffix, Some(n)) => is_public_suffix(&n),
                    (_, Some(n)) => tld_is_delegated(&n),
                }))
            })?;
            Arc::new(b.finish())
        } else {
            let mut b = StringBuilder::with_capacity(input.len(), input.len() * 16);
            for_each_str(input, |v| {
                let Some(name) = v else {
                    b.append_null();
                    return;
                };
                if self.func == NameFn::ParentDomain {
                    b.append_option(parent_domain(&lowercase(name)));
                    return;
                }
                match normalize(name) {
                    Some(n) if self.func == NameFn::RegistrableDomain => {
                        b.append_option(registrable_domain(&n))
                    }
                    Some(n) if self.func == NameFn::PublicSuffixSection => {
                        b.append_option(public_suffix_section(&n))
                    }
                    Some(n) => b.append_option(public_suffix(&n)),
                    None => b.append_null(),
                }
            })?;
            Arc::new(b.finish())
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// `hex(binary)`: lowercase hex of a binary value.
#[derive(Debug, PartialEq, Eq, Hash)]
struct HexUdf {
    signature: Signature,
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

impl ScalarUDFImpl for HexUdf {
    fn name(&self) -> &str {
        "hex"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        documentation(self.name())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = &arrays[0];
        let mut b = StringBuilder::with_capacity(input.len(), input.len() * 64);
        let mut scratch = String::new();
        let emit = |v: Option<&[u8]>| match v {
            Some(bytes) => {
                scratch.clear();
                push_hex(&mut scratch, bytes);
                b.append_value(&scratch);
            }
            None => b.append_null(),
        };
        for_each_bytes(input, "hex", emit)?;
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// The functions from bytes to BIGINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Int64Fn {
    Prefix64,
    Hash64,
}

/// `prefix64(binary)`: the first 8 bytes of a value as a big-endian signed
/// BIGINT; NULL for NULL or a value shorter than 8 bytes. A SHA-256's prefix
/// is a grouping key as good as the hash for telling values apart (two
/// different hashes share it with probability 2^-64), and an integer groups
/// far faster than 32 bytes of binary.
///
/// `hash64(value)`: the XXH64 hash (seed 0) of a string's or binary's bytes
/// as a signed BIGINT; NULL for NULL. Equal values hash equal; use it as a
/// cheap grouping or join key for long values, and compare the values
/// themselves afterwards (different values collide with probability 2^-64).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Int64Udf {
    func: Int64Fn,
    signature: Signature,
}

impl ScalarUDFImpl for Int64Udf {
    fn name(&self) -> &str {
        match self.func {
            Int64Fn::Prefix64 => "prefix64",
            Int64Fn::Hash64 => "hash64",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        documentation(self.name())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = &arrays[0];
        let mut b = Int64Builder::with_capacity(input.len());
        let func = self.func;
        let emit = |v: Option<&[u8]>| {
            b.append_option(v.and_then(|bytes| {
                match func {
                    Int64Fn::Prefix64 => bytes
                        .get(..8)
                        .map(|p| i64::from_be_bytes(p.try_into().expect("8 bytes"))),
                    Int64Fn::Hash64 => Some(twox_hash::XxHash64::oneshot(0, bytes) as i64),
                }
            }))
        };
        for_each_bytes(input, self.name(), emit)?;
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// The per-element tests of the list predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ListTest {
    Unregistrable,
    UndelegatedTld,
    ReservedIp,
    PublicSuffix,
    Contains,
}

impl ListTest {
    fn sql_name(self) -> &'static str {
        match self {
            ListTest::Unregistrable => "any_unregistrable",
            ListTest::UndelegatedTld => "any_undelegated_tld",
            ListTest::ReservedIp => "any_reserved_ip",
            ListTest::PublicSuffix => "any_public_suffix",
            ListTest::Contains => "any_contains",
        }
    }

    /// How many arguments the SQL function takes.
    fn arity(self) -> usize {
        if self == ListTest::Contains {
            2
        } else {
            1
        }
    }

    /// The test of one element; `needle` is `any_contains`' second argument.
    fn test(self, value: Option<&str>, needle: &str, memo: &mut TldMemo) -> bool {
        match self {
            ListTest::Unregistrable => unregistrable(value),
            ListTest::UndelegatedTld => undelegated(value, memo),
            ListTest::ReservedIp => value.is_some_and(is_reserved_ip),
            ListTest::PublicSuffix => value
                .and_then(normalize)
                .is_some_and(|n| is_public_suffix(&n)),
            ListTest::Contains => value.is_some_and(|v| v.contains(needle)),
        }
    }
}

/// `any_unregistrable(names)`, `any_undelegated_tld(names)`,
/// `any_reserved_ip(ips)`, `any_public_suffix(names)`,
/// `any_contains(names, text)`: NULL for a NULL list, else whether any
/// element passes the test (a name without a registrable domain; a name for
/// which `tld_is_delegated` is false; an address for which `is_reserved_ip`
/// is true; a name for which `is_public_suffix` is true; a value containing
/// the constant `text`). Rules use them to select the few certificates worth
/// unnesting without unnesting every name.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AnyUdf {
    test: ListTest,
    signature: Signature,
}

impl ScalarUDFImpl for AnyUdf {
    fn name(&self) -> &str {
        self.test.sql_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        documentation(self.name())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let needle = match args.args.get(1) {
            None => String::new(),
            Some(ColumnarValue::Scalar(s)) if s.is_null() => {
                let nulls = arrow::array::new_null_array(&DataType::Boolean, args.number_rows);
                return Ok(ColumnarValue::Array(nulls));
            }
            Some(ColumnarValue::Scalar(s)) => match s.try_as_str() {
                Some(Some(text)) => text.to_owned(),
                _ => return exec_err!("{}() expects a string as its second argument", self.name()),
            },
            Some(ColumnarValue::Array(_)) => {
                return exec_err!("{}() expects a constant second argument", self.name())
            }
        };
        let input = &args.args[0].to_array(args.number_rows)?;
        let (mut offsets, values): (Vec<usize>, &ArrayRef) = match input.data_type() {
            DataType::List(_) => {
                let l = input.as_list::<i32>();
                (
                    l.value_offsets().iter().map(|&o| o as usize).collect(),
                    l.values(),
                )
            }
            DataType::LargeList(_) => {
                let l = input.as_list::<i64>();
                (
                    l.value_offsets().iter().map(|&o| o as usize).collect(),
                    l.values(),
                )
            }
            DataType::Null => {
                let nulls = arrow::array::new_null_array(&DataType::Boolean, input.len());
                return Ok(ColumnarValue::Array(nulls));
            }
            other => return exec_err!("{}() expects a list of strings, got {other}", self.name()),
        };
        // A sliced list shares a longer values array: test only its part.
        let first = offsets.first().copied().unwrap_or(0);
        let last = offsets.last().copied().unwrap_or(0);
        let values = values.slice(first, last - first);
        offsets.iter_mut().for_each(|o| *o -= first);
        // Every element is tested once (almost no list has a hit, so an early
        // exit per list would save nothing), then each list ORs its range.
        let mut hits: Vec<bool> = Vec::with_capacity(values.len());
        let mut memo = TldMemo::new();
        for_each_str(&values, |v| {
            hits.push(self.test.test(v, &needle, &mut memo))
        })?;
        let mut b = BooleanBuilder::with_capacity(input.len());
        for row in 0..input.len() {
            if input.is_null(row) {
                b.append_null();
            } else {
                b.append_value(hits[offsets[row]..offsets[row + 1]].contains(&true));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// Each function's description and an example, as `SHOW FUNCTIONS` and
/// `information_schema.routines` show them.
const DOCS: &[(&str, &str, &str)] = &[
    ("registrable_domain", "The registrable domain (public suffix plus one label) of a DNS name, by the Public Suffix List; NULL when there is none.", "registrable_domain('a.b.example.co.uk') = 'example.co.uk'"),
    ("public_suffix", "The public suffix of a DNS name, by the Public Suffix List (ICANN and private sections).", "public_suffix('user.github.io') = 'github.io'"),
    ("public_suffix_section", "The Public Suffix List section of a name's public suffix: 'icann' or 'private'; NULL when not listed.", "public_suffix_section('github.io') = 'private'"),
    ("is_public_suffix", "Whether a DNS name (without a leading '*.') is itself a listed public suffix.", "is_public_suffix('co.uk') = true"),
    ("parent_domain", "A DNS name without its first label; NULL for a single label.", "parent_domain('www.example.com') = 'example.com'"),
    ("tld_is_delegated", "Whether a name's top-level domain is in the Public Suffix List's ICANN section.", "tld_is_delegated('host.local') = false"),
    ("is_reserved_ip", "Whether an IP address (text) is in a reserved range (RFC 1918, loopback, link-local, documentation, ...).", "is_reserved_ip('10.0.0.1') = true"),
    ("any_unregistrable", "Whether any name of a list has no registrable domain.", "any_unregistrable(san_dns)"),
    ("any_undelegated_tld", "Whether any name of a list has a top-level domain outside the PSL's ICANN section.", "any_undelegated_tld(san_dns)"),
    ("any_reserved_ip", "Whether any IP address of a list is reserved.", "any_reserved_ip(san_ip)"),
    ("any_public_suffix", "Whether any name of a list (without '*.') is itself a public suffix.", "any_public_suffix(san_dns)"),
    ("any_contains", "Whether any string of a list contains the given text.", "any_contains(san_dns, '_')"),
    ("name_facts", "What the name rules look for in a list of DNS names, as bits: 1 a name is a public suffix, 2 a name has no registrable domain, 4 a name's TLD is undelegated, 8 a name has '_', 16 a '*' other than a whole leftmost label; NULL for a NULL list.", "name_facts(san_dns) & 8 <> 0"),
    ("prefix64", "The first 8 bytes of a binary value as a big-endian BIGINT (NULL when shorter): a fast grouping key for hashes.", "prefix64(tbs_sha256)"),
    ("hash64", "XXH64 (seed 0) of a string's or binary's bytes as a BIGINT: a short grouping or join key.", "hash64('abc') = 4952883123889572249"),
    ("hex", "Lowercase hex of a binary (or string) value.", "hex(cert_sha256)"),
    ("url_hosts", "The distinct hosts (lowercase, in order) of the URLs of one or more lists; URLs without a host are left out; NULL when every list is NULL.", "url_hosts(ocsp_urls, crl_urls) = ['ocsp.wosign.com', 'crl.wosign.com']"),
];

/// The names of this module's functions.
pub fn names() -> Vec<&'static str> {
    DOCS.iter().map(|(n, _, _)| *n).collect()
}

/// The documentation of the function `name`.
pub(crate) fn documentation(name: &str) -> Option<&'static Documentation> {
    static BUILT: OnceLock<Vec<(&'static str, Documentation)>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            DOCS.iter()
                .map(|(n, description, example)| {
                    let doc = Documentation::builder(DocSection::default(), *description, *example)
                        .build();
                    (*n, doc)
                })
                .collect()
        })
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| d)
}

/// Every UDF of this module.
pub fn all() -> Vec<ScalarUDF> {
    let mut udfs: Vec<ScalarUDF> = [
        NameFn::RegistrableDomain,
        NameFn::PublicSuffix,
        NameFn::PublicSuffixSection,
        NameFn::IsPublicSuffix,
        NameFn::ParentDomain,
        NameFn::TldIsDelegated,
        NameFn::IsReservedIp,
    ]
    .into_iter()
    .map(|func| {
        ScalarUDF::new_from_impl(NameUdf {
            func,
            signature: Signature::string(1, Volatility::Immutable),
        })
    })
    .collect();
    for test in [
        ListTest::Unregistrable,
        ListTest::UndelegatedTld,
        ListTest::ReservedIp,
        ListTest::PublicSuffix,
        ListTest::Contains,
    ] {
        udfs.push(ScalarUDF::new_from_impl(AnyUdf {
            test,
            signature: Signature::any(test.arity(), Volatility::Immutable),
        }));
    }
    for func in [Int64Fn::Prefix64, Int64Fn::Hash64] {
        udfs.push(ScalarUDF::new_from_impl(Int64Udf {
            func,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
    udfs.push(ScalarUDF::new_from_impl(HexUdf {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    udfs.push(ScalarUDF::new_from_impl(
        super::url_hosts::UrlHostsUdf::new(),
    ));
    udfs.push(ScalarUDF::new_from_impl(
        super::name_facts::NameFactsUdf::new(),
    ));
    udfs
}

/// Registers every UDF with `ctx`.
pub fn register(ctx: &SessionContext) {
    for udf in all() {
        ctx.register_udf(udf);
    }
}
