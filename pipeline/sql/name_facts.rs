//! `name_facts(names)`: the names' part of [`crate::table::name_facts`] as
//! an SQL function, one bitmask per list of DNS names, computed in one pass
//! over the names.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Builder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::dns::TldMemo;
use crate::table::name_facts::{facts_of, string_at};

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
                let name = string_at(values, i)
                    .map_err(|e| DataFusionError::Execution(format!("name_facts(): {e}")))?;
                facts |= facts_of(name, &mut memo);
            }
            out.append_value(facts);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
