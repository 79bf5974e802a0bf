//! SQL helper functions over DNS names and hashes, registered as DataFusion
//! scalar UDFs: `registrable_domain`, `public_suffix`, `is_public_suffix`,
//! `parent_domain`, `tld_is_delegated`, `is_reserved_ip`; the list tests
//! `any_unregistrable`, `any_undelegated_tld`, `any_reserved_ip`,
//! `any_public_suffix`, `any_contains`; and `hex`, `prefix64`, `hash64`.
//!
//! Names are looked up in the Public Suffix List carried by the `psl` crate
//! (ICANN and private sections). Every function works a whole Arrow array at a
//! time and allocates per value only to lowercase a name that has capitals.
//! All of them return NULL for NULL; a leading `*.` and a trailing `.` are
//! ignored; IDNs are expected as encoded in certificates (`xn--` A-labels).

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use psl::Psl as _;

/// The name functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NameFn {
    RegistrableDomain,
    PublicSuffix,
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

/// Lowercases and trims a name: no leading `*.`, no trailing `.`.
/// Returns `None` for an empty result.
pub fn normalize(name: &str) -> Option<Cow<'_, str>> {
    trim(name).map(lowercase_all)
}

/// `name` without a leading `*.` and a trailing `.` (byte tests: both are
/// ASCII, so the slice stays on character boundaries); `None` if empty.
fn trim(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    let start = if b.starts_with(b"*.") { 2 } else { 0 };
    let end = if b.len() > start && b[b.len() - 1] == b'.' {
        b.len() - 1
    } else {
        b.len()
    };
    (start < end).then(|| &name[start..end])
}

/// The last label of a name (all of it if it has no `.`).
fn last_label(name: &str) -> &str {
    match name.as_bytes().iter().rposition(|&b| b == b'.') {
        Some(dot) => &name[dot + 1..],
        None => name,
    }
}

/// `n` lowercased (ASCII), allocating only if it has capitals. The test
/// has no early exit, so it vectorises: capitals are rare.
fn lowercase_all(n: &str) -> Cow<'_, str> {
    if n.bytes()
        .fold(false, |upper, b| upper | b.is_ascii_uppercase())
    {
        Cow::Owned(n.to_ascii_lowercase())
    } else {
        Cow::Borrowed(n)
    }
}

/// eTLD+1 of `name` (already normalised), if it has one.
pub fn registrable_domain(name: &str) -> Option<&str> {
    let d = psl::List.domain(name.as_bytes())?;
    tail(name, d.as_bytes().len())
}

/// The public suffix of `name` (already normalised); unlisted TLDs count as suffixes.
pub fn public_suffix(name: &str) -> Option<&str> {
    let s = psl::List.suffix(name.as_bytes())?;
    tail(name, s.as_bytes().len())
}

/// The last `len` bytes of `name` (a suffix the PSL found in it, so no
/// UTF-8 check is needed); `None` if that is not a character boundary.
fn tail(name: &str, len: usize) -> Option<&str> {
    name.get(name.len().checked_sub(len)?..)
}

/// Whether `name` (already normalised) is itself a listed public suffix.
pub fn is_public_suffix(name: &str) -> bool {
    psl::List
        .suffix(name.as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes() == name.as_bytes())
}

/// `name` without its first label (`*.a.b` → `a.b`, `x.a.b` → `a.b`); `None` for one label.
pub fn parent_domain(name: &str) -> Option<&str> {
    let n = name.strip_suffix('.').unwrap_or(name);
    n.split_once('.')
        .map(|(_, rest)| rest)
        .filter(|r| !r.is_empty())
}

/// Lowercased (allocating only when needed), without a trailing `.`.
fn lowercase(name: &str) -> Cow<'_, str> {
    lowercase_all(name.strip_suffix('.').unwrap_or(name))
}

/// Whether the last label of `name` (already normalised) is a TLD in the PSL's ICANN section.
pub fn tld_is_delegated(name: &str) -> bool {
    is_icann_tld(last_label(name).as_bytes())
}

/// Whether a lowercase label is a TLD in the PSL's ICANN section.
fn is_icann_tld(label: &[u8]) -> bool {
    psl::List
        .suffix(label)
        .is_some_and(|s| s.is_known() && s.typ() == Some(psl::Type::Icann))
}

/// The last TLD looked up by `any_undelegated_tld` and its answer: the
/// names of one certificate mostly share their TLD. Kept lowercased in a
/// fixed buffer (a DNS label has at most 63 bytes), so nothing allocates.
struct TldMemo {
    tld: [u8; 63],
    len: Option<usize>,
    delegated: bool,
}

impl TldMemo {
    fn new() -> Self {
        TldMemo {
            tld: [0; 63],
            len: None,
            delegated: false,
        }
    }

    /// `tld_is_delegated` of a name whose last label is `tld` (any case).
    fn delegated(&mut self, tld: &str) -> bool {
        let len = tld.len();
        if len > self.tld.len() {
            return false;
        }
        if self.len == Some(len) && self.tld[..len].eq_ignore_ascii_case(tld.as_bytes()) {
            return self.delegated;
        }
        self.tld[..len].copy_from_slice(tld.as_bytes());
        self.tld[..len].make_ascii_lowercase();
        self.len = Some(len);
        self.delegated = is_icann_tld(&self.tld[..len]);
        self.delegated
    }
}

/// Whether `text` is an IP address in a private or reserved range (IANA
/// special-purpose registries: RFC 1918, loopback, link-local, CGNAT,
/// documentation, benchmarking, multicast, future use; IPv6 ULA, link-local,
/// site-local, documentation, discard, IETF protocol assignments, and
/// IPv4-mapped addresses by their IPv4 value). Text that is no address: false.
pub fn is_reserved_ip(text: &str) -> bool {
    use std::net::{IpAddr, Ipv4Addr};
    fn v4(ip: Ipv4Addr) -> bool {
        let [a, b, c, _] = ip.octets();
        a == 0
            || a == 10
            || a == 127
            || a >= 224
            || (a == 100 && (64..128).contains(&b))
            || (a == 169 && b == 254)
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && b == 0 && (c == 0 || c == 2))
            || (a == 192 && b == 88 && c == 99)
            || (a == 192 && b == 168)
            || (a == 198 && (b == 18 || b == 19))
            || (a == 198 && b == 51 && c == 100)
            || (a == 203 && b == 0 && c == 113)
    }
    match text.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => v4(ip),
        Ok(IpAddr::V6(ip)) => {
            if let Some(mapped) = ip.to_ipv4_mapped() {
                return v4(mapped);
            }
            let seg = ip.segments();
            ip.is_unspecified()
                || ip.is_loopback()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xffc0) == 0xfec0
                || (seg[0] & 0xff00) == 0xff00
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)
                || (seg[0] == 0x2001 && seg[1] < 0x0200)
                || (seg[0] == 0x0100 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0)
        }
        Err(_) => false,
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

/// Whether a name has no registrable domain (a public suffix, listed or not,
/// or empty): the test of `any_unregistrable`.
fn unregistrable(name: Option<&str>) -> bool {
    name.and_then(normalize)
        .is_none_or(|n| registrable_domain(&n).is_none())
}

/// Whether a name's TLD is not delegated: `NOT tld_is_delegated(name)` for
/// a non-NULL name, the test of `any_undelegated_tld`.
fn undelegated(name: Option<&str>, memo: &mut TldMemo) -> bool {
    name.is_some_and(|n| trim(n).is_none_or(|n| !memo.delegated(last_label(n))))
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

/// Every UDF of this module.
pub fn all() -> Vec<ScalarUDF> {
    let mut udfs: Vec<ScalarUDF> = [
        NameFn::RegistrableDomain,
        NameFn::PublicSuffix,
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
    udfs
}

/// Registers every UDF with `ctx`.
pub fn register(ctx: &SessionContext) {
    for udf in all() {
        ctx.register_udf(udf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).unwrap().into_owned()
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(
            registrable_domain(&n("www.Example.co.UK")),
            Some("example.co.uk")
        );
        assert_eq!(registrable_domain(&n("*.x.github.io")), Some("x.github.io"));
        assert_eq!(registrable_domain(&n("github.io")), None);
        assert_eq!(registrable_domain(&n("example.com.")), Some("example.com"));
        assert_eq!(
            registrable_domain(&n("www.xn--85x722f.xn--55qx5d.cn")),
            Some("xn--85x722f.xn--55qx5d.cn")
        );
        assert!(normalize("").is_none() && normalize("*.").is_none());
    }

    #[test]
    fn trims_names_and_memoises_tlds() {
        assert_eq!(trim("*.a.com."), Some("a.com"));
        assert_eq!(trim("*"), Some("*"));
        for empty in ["", ".", "*.", "*.."] {
            assert_eq!(trim(empty), None, "{empty:?}");
        }
        let mut memo = TldMemo::new();
        for (name, expected) in [
            ("a.com", false),
            ("B.COM", false),
            ("x.corp", true),
            ("y.CORP", true),
            ("z.com.", false),
            ("*.", true),
            ("host", false),
            ("fileserver01", true),
            ("a.xn--p1ai", false),
            ("a.xn--P1AI", false),
        ] {
            assert_eq!(undelegated(Some(name), &mut memo), expected, "{name}");
        }
        assert!(!undelegated(None, &mut memo));
        let long = format!("a.{}", "x".repeat(70));
        assert!(undelegated(Some(&long), &mut memo));
    }

    #[test]
    fn public_suffixes() {
        assert_eq!(public_suffix("a.b.blogspot.com"), Some("blogspot.com"));
        assert!(is_public_suffix("github.io"));
        assert!(is_public_suffix("co.uk"));
        assert!(is_public_suffix(&n("*.blogspot.com")));
        assert!(!is_public_suffix("example.com"));
        assert!(
            !is_public_suffix("local"),
            "unlisted TLDs are not listed suffixes"
        );
    }

    #[test]
    fn parents_and_tlds() {
        assert_eq!(parent_domain("x.github.io"), Some("github.io"));
        assert_eq!(parent_domain("*.example.com"), Some("example.com"));
        assert_eq!(parent_domain("com"), None);
        assert!(tld_is_delegated("www.example.com"));
        assert!(tld_is_delegated("xn--p1ai"));
        assert!(!tld_is_delegated("server.local"));
        assert!(!tld_is_delegated("mail.corp"));
        assert!(!tld_is_delegated("host.internal"));
    }

    #[test]
    fn reserved_ips() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.31.255.255",
            "127.0.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::5",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_reserved_ip(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "example.com",
        ] {
            assert!(!is_reserved_ip(ip), "{ip}");
        }
    }
}
