//! What a log serves to `pipeline fetch`, and what a fetch leaves on disk:
//! a checkpoint, a get-sth response, a data tile's entries (hashed as the
//! fetch hashes them), a saved fetch state. Each is read or refused with an
//! error, never a panic, whatever its lengths.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pipeline::ct::leaf::tile_leaf_hash;
use pipeline::ct::tree_head::{verify_checkpoint, verify_sth, LogKey};
use pipeline::fetch::state::VerifiedState;

fn key() -> &'static LogKey {
    static KEY: OnceLock<LogKey> = OnceLock::new();
    KEY.get_or_init(|| {
        LogKey::from_spki(&pipeline::synth::log_tree::public_key_spki())
            .expect("the synthetic log key")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = verify_checkpoint(data, "synth-1", key());
    let _ = verify_sth(data, key());
    let mut at = 0;
    while at < data.len() {
        match tile_leaf_hash(&data[at..]) {
            Ok((_, used)) => {
                assert!(used > 0 && used <= data.len() - at);
                at += used;
            }
            Err(_) => break,
        }
    }
    if let Ok(state) = serde_json::from_slice::<VerifiedState>(data) {
        if let Ok((tree, tail)) = state.tree(std::path::Path::new("fuzz")) {
            assert_eq!(tree.size() + tail.len() as u64, state.size);
        }
    }
});
