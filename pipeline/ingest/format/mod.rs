//! Dump formats: detection, log naming and decoding of each.

pub mod axeman_csv;
pub mod cert_files;
pub mod ct_archive;
pub mod get_entries;
pub mod tiles;
