//! Hashes are bytes (`cert_sha256`, `tbs_sha256`, ... are `binary`), but
//! people write them as hex text, in either case, as crt.sh and `openssl`
//! show them. SQL would compare the bytes with the *characters* of the text
//! and find nothing. This analyzer rule, run after type coercion, turns a
//! text literal compared with a binary column (`=`, `<>`, `<`, ..., `IN`)
//! into the bytes its hex digits spell, so
//! `WHERE cert_sha256 = '3111500C...'` finds the certificate. A text literal
//! that is not hex, or one compared with a `*sha256` or `blake3` column that is not 32
//! bytes long, is an error rather than a silent empty answer.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::expr::{InList, TryCast};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;

/// The analyzer rule; see the module documentation.
#[derive(Debug, Default)]
pub struct HexLiterals;

/// Adds [`HexLiterals`] to `ctx`'s analyzer (after type coercion).
pub fn register(ctx: &SessionContext) {
    ctx.add_analyzer_rule(Arc::new(HexLiterals));
}

impl AnalyzerRule for HexLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|p| p.map_expressions(|e| e.transform_up(rewrite)))
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "hex text compared with a binary column"
    }
}

fn is_comparison(op: Operator) -> bool {
    use Operator::*;
    matches!(
        op,
        Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom
    )
}

fn rewrite(expr: Expr) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            let new_right = as_bytes(&right, &left)?;
            let new_left = as_bytes(&left, &right)?;
            let changed = new_right.is_some() || new_left.is_some();
            let expr = Expr::BinaryExpr(BinaryExpr {
                left: Box::new(new_left.unwrap_or(*left)),
                op,
                right: Box::new(new_right.unwrap_or(*right)),
            });
            Ok(if changed {
                Transformed::yes(expr)
            } else {
                Transformed::no(expr)
            })
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            let mut changed = false;
            let mut items = Vec::with_capacity(list.len());
            for item in list {
                match as_bytes(&item, &expr)? {
                    Some(bytes) => {
                        changed = true;
                        items.push(bytes);
                    }
                    None => items.push(item),
                }
            }
            let expr = Expr::InList(InList {
                expr,
                list: items,
                negated,
            });
            Ok(if changed {
                Transformed::yes(expr)
            } else {
                Transformed::no(expr)
            })
        }
        other => Ok(Transformed::no(other)),
    }
}

/// `side` as a binary literal when it is a text literal cast to a binary
/// type (what type coercion makes of `binary_column = 'text'`); `other` is
/// what it is compared with, named in errors.
fn as_bytes(side: &Expr, other: &Expr) -> Result<Option<Expr>> {
    let (inner, to) = match side {
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            (expr.as_ref(), field.data_type().clone())
        }
        _ => return Ok(None),
    };
    let text: &str = match inner {
        Expr::Literal(
            ScalarValue::Utf8(Some(t))
            | ScalarValue::LargeUtf8(Some(t))
            | ScalarValue::Utf8View(Some(t)),
            _,
        ) => t.as_str(),
        _ => return Ok(None),
    };
    use datafusion::arrow::datatypes::DataType::*;
    if !matches!(to, Binary | LargeBinary | BinaryView | FixedSizeBinary(_)) {
        return Ok(None);
    }
    let name = other
        .column_refs()
        .into_iter()
        .next()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| other.to_string());
    let Some(bytes) = decode_hex(text) else {
        return plan_err!(
            "{name} holds bytes and is compared with the text {text:?}, which is not hexadecimal: \
             write a hash as its hex digits ('3111500c...', either case) or X'3111500c...'"
        );
    };
    let hash = if name.ends_with("sha256") {
        Some("SHA-256")
    } else if name.ends_with("blake3") {
        Some("BLAKE3")
    } else {
        None
    };
    if let Some(hash) = hash.filter(|_| !bytes.is_empty() && bytes.len() != 32) {
        return plan_err!(
            "{name} is a {hash} (64 hex digits); {text:?} has {} hex digits",
            bytes.len() * 2
        );
    }
    let value = match to {
        Binary => ScalarValue::Binary(Some(bytes)),
        LargeBinary => ScalarValue::LargeBinary(Some(bytes)),
        BinaryView => ScalarValue::BinaryView(Some(bytes)),
        FixedSizeBinary(n) => {
            if usize::try_from(n).ok() != Some(bytes.len()) {
                return plan_err!("{name} holds {n} bytes; {text:?} spells {}", bytes.len());
            }
            ScalarValue::FixedSizeBinary(n, Some(bytes))
        }
        _ => unreachable!("checked above"),
    };
    Ok(Some(Expr::Literal(value, None)))
}

/// The bytes `text` spells in hex (either case; surrounding blanks and
/// `:` between bytes, as `openssl x509 -fingerprint` prints, are allowed;
/// the empty text is no bytes).
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits: String = text.trim().chars().filter(|c| *c != ':').collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    hex::decode(digits).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_in_either_case_with_or_without_colons() {
        assert_eq!(decode_hex("0aFF"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex(" 0A:ff "), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex(""), Some(vec![]));
    }
}
