//! static-ct-api data tiles: TileLeaf framing of a whole tile, every entry
//! a row or a reject inside the tile's index range.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pipeline::ct::tile::TileCoord;
use pipeline::ingest::decode::decode_chunk;
use pipeline::ingest::{Chunk, Layout};
use pipeline::x509::cert_record::ExtractOptions;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&w, rest)) = data.split_first() else {
        return;
    };
    let coord = TileCoord {
        n: 3,
        width: u16::from(w) + 1,
    };
    let chunk = Chunk::Tile {
        file: Arc::new(common::input(Layout::Tile(coord))),
        data: rest.to_vec(),
        coord,
        member: None,
        read_error: None,
    };
    let out = decode_chunk(chunk, ExtractOptions::default());
    let range = coord.start_index() as i64..=(coord.start_index() + u64::from(coord.width)) as i64;
    assert!(out.entries() <= u64::from(coord.width) + 1);
    assert!(out.entry_indices().all(|i| range.contains(&i)));
});
