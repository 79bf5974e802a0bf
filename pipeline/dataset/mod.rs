//! A dataset directory: its layout, the manifest that names its live files,
//! the one commit every change goes through, and the commands that inspect
//! or rewrite it.

pub mod adopt;
pub mod commit;
pub mod compact;
pub mod conflicts;
pub mod footer;
pub mod layout;
pub mod manifest;
pub mod replace;
pub mod snapshot;
pub mod status;
pub mod verify;
