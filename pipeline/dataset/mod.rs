//! A dataset directory: its layout, the manifest that names its live files,
//! the one commit every change goes through, and the commands that inspect
//! or rewrite it.

pub(crate) mod adopt;
pub mod commit;
pub(crate) mod compact;
pub(crate) mod conflicts;
pub(crate) mod data_file;
pub(crate) mod layout;
pub mod manifest;
pub(crate) mod publish;
pub mod remote;
pub(crate) mod replace;
pub mod snapshot;
pub(crate) mod status;
pub mod verify;
