#![allow(dead_code)]
//! Shared by the targets: an input file of a layout, and reading bytes as
//! ingest reads a file of it.

use pipeline::ingest::decode::{decode_chunk, ChunkOutput};
use pipeline::ingest::{ChunkReader, InputFile, Layout};
use pipeline::x509::cert_record::ExtractOptions;

/// An input file of `layout` whose entries start at index 0.
pub fn input(layout: Layout) -> InputFile {
    InputFile::detached(std::path::Path::new("fuzz"), layout)
}

/// Reads `data` as a file of `layout` (streamed in chunks) and decodes it.
pub fn read(data: &[u8], layout: Layout) -> Vec<ChunkOutput> {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    ChunkReader::from_reader(input(layout), reader)
        .map(|chunk| decode_chunk(chunk, ExtractOptions::default()))
        .collect()
}

/// Every entry's position (ordinal, or line and byte offset) is reported
/// once, in order. (CSV ends a record at a lone CR too, so two records may
/// share a line; their byte offsets differ.)
pub fn check_order(outputs: &[ChunkOutput]) {
    use pipeline::ingest::reject::Position;
    let mut last: Option<(u64, u64)> = None;
    for out in outputs {
        for r in &out.rejects {
            let at = match r.position {
                Position::Entry { ordinal } => (ordinal, 0),
                Position::Line { line, byte_offset } => (line, byte_offset),
                _ => continue,
            };
            assert!(
                last.is_none_or(|l| at > l),
                "position {at:?} after {last:?}"
            );
            last = Some(at);
        }
    }
}
