//! `url_hosts(list, ...)`: the distinct hosts of the URLs in one or more
//! lists of URL strings (`url_hosts(ocsp_urls, crl_urls)`), the way the
//! issuer forensics rules group certificates by the infrastructure that
//! serves their revocation status.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The host of a URL, lowercase; `None` when it does not parse as a URL with
/// a host (`urn:...`, a bare path, text that is not a URL).
pub fn url_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    let host = parsed.host_str()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UrlHostsUdf {
    signature: Signature,
}

impl UrlHostsUdf {
    /// `url_hosts` of one or more list arguments.
    pub fn new() -> Self {
        UrlHostsUdf {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for UrlHostsUdf {
    fn default() -> Self {
        Self::new()
    }
}

fn item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Utf8, true))
}

impl ScalarUDFImpl for UrlHostsUdf {
    fn name(&self) -> &str {
        "url_hosts"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        super::udfs::documentation(self.name())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(item()))
    }

    /// Per row: the hosts of every URL of every list argument, lowercase, in
    /// order of first appearance, each once. NULL when every argument is
    /// NULL (a dataset written before the URL columns existed); URLs that
    /// do not parse, or have no host, are left out.
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        hosts_of(&arrays)
    }
}

/// [`UrlHostsUdf`]'s work over its argument arrays.
fn hosts_of<'a>(arrays: &'a [ArrayRef]) -> Result<ColumnarValue> {
    let Some(first) = arrays.first() else {
        return exec_err!("url_hosts() needs at least one list of URLs");
    };
    let rows = first.len();
    let mut lists = Vec::with_capacity(arrays.len());
    for a in arrays {
        match a.data_type() {
            DataType::List(_) => lists.push(Some(a.as_list::<i32>())),
            DataType::LargeList(_) => {
                return exec_err!("url_hosts() expects List arguments, got LargeList")
            }
            DataType::Null => lists.push(None),
            other => return exec_err!("url_hosts() expects lists of URLs, got {other}"),
        }
    }
    let mut out = ListBuilder::new(StringBuilder::new()).with_field(item());
    let mut hosts: Vec<std::rc::Rc<str>> = Vec::new();
    // A CA names the same few URLs on every certificate: each distinct
    // URL of a batch is parsed once.
    let mut memo: HashMap<&str, Option<std::rc::Rc<str>>> = HashMap::new();
    for row in 0..rows {
        hosts.clear();
        let mut any = false;
        for list in lists.iter().flatten() {
            if list.is_null(row) {
                continue;
            }
            any = true;
            let (start, end) = (
                list.value_offsets()[row] as usize,
                list.value_offsets()[row + 1] as usize,
            );
            let mut add = |v: Option<&'a str>| {
                let Some(url) = v else { return };
                let host = memo
                    .entry(url)
                    .or_insert_with(|| url_host(url).map(std::rc::Rc::from));
                if let Some(h) = host {
                    if !hosts.contains(h) {
                        hosts.push(h.clone());
                    }
                }
            };
            let values = list.values();
            if let Some(s) = values.as_string_opt::<i32>() {
                (start..end).for_each(|i| add((!s.is_null(i)).then(|| s.value(i))));
            } else if let Some(s) = values.as_string_view_opt() {
                (start..end).for_each(|i| add((!s.is_null(i)).then(|| s.value(i))));
            } else if let Some(s) = values.as_string_opt::<i64>() {
                (start..end).for_each(|i| add((!s.is_null(i)).then(|| s.value(i))));
            } else if values.data_type() != &DataType::Null {
                return exec_err!(
                    "url_hosts() expects lists of strings, got a list of {}",
                    values.data_type()
                );
            }
        }
        if any {
            for h in &hosts {
                out.values().append_value(h);
            }
            out.append(true);
        } else {
            out.append(false);
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_real_aia_and_crl_urls() {
        assert_eq!(
            url_host("http://ocsp.digicert.com").as_deref(),
            Some("ocsp.digicert.com")
        );
        assert_eq!(
            url_host("http://CRL.WoSign.com/ca1-ssl-free.crl").as_deref(),
            Some("crl.wosign.com")
        );
        assert_eq!(
            url_host("http://user@ocsp.example.com:8080/x").as_deref(),
            Some("ocsp.example.com")
        );
        assert_eq!(
            url_host("ldap://directory.d-trust.net/CN=D-TRUST").as_deref(),
            Some("directory.d-trust.net")
        );
        assert_eq!(url_host("not a url"), None);
        assert_eq!(url_host("urn:oid:1.2.3"), None);
    }
}
