#![allow(dead_code)]
//! Shared by the targets: an input file of a layout, and reading bytes as
//! ingest reads a file of it.

use pipeline::cert_record::ExtractOptions;
use pipeline::decode::{decode_chunk, ChunkOutput};
use pipeline::dump::{ChunkReader, InputFile, Layout};

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

/// Every entry's ordinal or line position is reported once, in order.
pub fn check_order(outputs: &[ChunkOutput]) {
    use pipeline::reject::Position;
    let mut last: Option<u64> = None;
    for out in outputs {
        for r in &out.rejects {
            let at = match r.position {
                Position::Entry { ordinal } => ordinal,
                Position::Line { line, .. } => line,
                _ => continue,
            };
            assert!(last.is_none_or(|l| at > l), "position {at} after {last:?}");
            last = Some(at);
        }
    }
}
