//! X.509 certificates: a minimal DER walker, the extraction of one
//! certificate into a `certs` row, and the names of the OIDs it meets.

pub mod cert_record;
pub mod der;
pub(crate) mod oid_names;
