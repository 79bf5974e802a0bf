//! `name_facts(names)`: what the name rules look for in a list of DNS names,
//! as one bitmask per list, computed in one pass over the names. The rules
//! that read `san_dns` select their few certificates with it from
//! `name_suspects` (see [`crate::sql::shared_views`]) instead of each
//! scanning every name of `certs` with its own `any_*` test.
//!
//! Each bit is exactly one `any_*` test (or a rule's own condition), so a
//! rule that filters on a bit selects the same certificates as before.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Builder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::dns::{normalize, suffix_facts, undelegated, TldMemo};

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

/// The UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NameFactsUdf {
    signature: Signature,
}

impl NameFactsUdf {
    /// `name_facts(list)`.
    pub fn new() -> Self {
        NameFactsUdf {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for NameFactsUdf {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for NameFactsUdf {
    fn name(&self) -> &str {
        "name_facts"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        super::udfs::documentation(self.name())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    /// Per row: the OR of its names' facts; NULL for a NULL list.
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let list = match input.data_type() {
            DataType::List(_) => input.as_list::<i32>(),
            DataType::Null => {
                let nulls = arrow::array::new_null_array(&DataType::Int32, input.len());
                return Ok(ColumnarValue::Array(nulls));
            }
            other => return exec_err!("name_facts() expects a list of names, got {other}"),
        };
        let offsets = list.value_offsets();
        let values: &ArrayRef = list.values();
        let mut memo = TldMemo::new();
        let mut out = Int32Builder::with_capacity(list.len());
        for row in 0..list.len() {
            if list.is_null(row) {
                out.append_null();
                continue;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            let mut facts = 0;
            for i in start..end {
                facts |= facts_of(string_at(values, i)?, &mut memo);
            }
            out.append_value(facts);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Element `i` of a string array of any string type.
fn string_at(values: &ArrayRef, i: usize) -> Result<Option<&str>> {
    if values.is_null(i) {
        return Ok(None);
    }
    Ok(Some(match values.data_type() {
        DataType::Utf8 => values.as_string::<i32>().value(i),
        DataType::LargeUtf8 => values.as_string::<i64>().value(i),
        DataType::Utf8View => values.as_string_view().value(i),
        other => return exec_err!("name_facts() expects strings, got {other}"),
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
