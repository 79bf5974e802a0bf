//! Opening input files: gzip and zstd are detected by their magic bytes, not
//! by the file name, and the compressed bytes read are counted for progress.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The compression of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (one or more members).
    Gzip,
    /// zstd (one or more frames).
    Zstd,
}

impl Compression {
    /// Detects the compression from a file's first bytes.
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Counts the bytes read through it into a shared counter.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path` and returns a reader of its decompressed content.
/// `counter` accumulates the on-disk bytes read.
pub fn open(path: &Path, counter: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    open_detected(path, counter).map(|(reader, _)| reader)
}

/// Like [`open`], also saying which compression was detected.
pub fn open_detected(
    path: &Path,
    counter: Arc<AtomicU64>,
) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let file = File::open(path)?;
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        CountingReader {
            inner: file,
            counter,
        },
    );
    let compression = Compression::detect(reader.fill_buf()?);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    };
    Ok((reader, compression))
}

/// Reads up to `limit` bytes into `buf`; on error returns what was read and the error.
///
/// Reads straight into `buf`'s spare capacity (no bounce buffer); callers
/// reserve what they expect so the vector rarely reallocates.
pub fn read_up_to(reader: &mut dyn Read, buf: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    let want = limit.saturating_sub(buf.len()) as u64;
    reader.take(want).read_to_end(buf).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_magic() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"{\"entries\""), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }
}
