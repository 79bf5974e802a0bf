//! Certificate Transparency wire objects: RFC 6962 leaves and entries, the
//! list of known logs, Merkle trees and proofs, and signed tree heads.

pub mod encode;
pub mod leaf;
pub(crate) mod log_list;
pub mod merkle;
pub mod tile;
pub mod tree_head;
