//! Certificate Transparency wire objects: RFC 6962 leaves and entries, and
//! the list of known logs.

pub mod encode;
pub mod leaf;
pub(crate) mod log_list;
pub mod tile;
