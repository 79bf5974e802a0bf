//! Opening input files: gzip and zstd are detected by their magic bytes, not
//! by the file name, and the compressed bytes read are counted for progress.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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

/// What kind of file `ty` is, for a message refusing it.
pub fn kind_of(ty: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ty.is_dir() {
        "a directory"
    } else if ty.is_fifo() {
        "a FIFO"
    } else if ty.is_socket() {
        "a socket"
    } else if ty.is_char_device() {
        "a character device"
    } else if ty.is_block_device() {
        "a block device"
    } else if ty.is_symlink() {
        "a symlink"
    } else {
        "a regular file"
    }
}

/// Opens an input file for reading, refusing anything but a regular file
/// (a FIFO, device or socket could block or never end). The file is opened
/// without blocking, so a FIFO with no writer cannot hang the open itself;
/// regular files ignore that flag when read.
pub fn open_input(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let ty = file.metadata()?.file_type();
    if !ty.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({}): refused", kind_of(&ty)),
        ));
    }
    Ok(file)
}

/// BLAKE3 of a file's bytes as stored (the manifest's content hash), fed by
/// the reader as it reads them (no second pass) and completed from disk by
/// [`FileDigest::finish`] when the decompressor stopped early (a corrupt
/// file).
#[derive(Clone, Default)]
pub struct FileDigest(Arc<Mutex<(blake3::Hasher, u64)>>);

impl FileDigest {
    fn update(&self, bytes: &[u8]) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.0.update(bytes);
        state.1 += bytes.len() as u64;
    }

    /// Hashes whatever of `path` was not read yet and returns the digest.
    pub fn finish(&self, path: &Path) -> io::Result<[u8; 32]> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let offset = state.1;
        let hashed = rest_of_file(path, offset, |bytes| {
            state.0.update(bytes);
        })?;
        state.1 += hashed;
        Ok(*std::mem::take(&mut state.0).finalize().as_bytes())
    }
}

/// Feeds `path`'s bytes from `offset` on to `feed`, 256 KiB at a time;
/// returns how many it fed.
fn rest_of_file(path: &Path, offset: u64, mut feed: impl FnMut(&[u8])) -> io::Result<u64> {
    let mut file = open_input(path)?;
    file.seek(SeekFrom::Start(offset))?;
    // Nearly always everything was read: no buffer for the final, empty read.
    let mut first = [0u8; 1];
    if file.read(&mut first)? == 0 {
        return Ok(0);
    }
    feed(&first);
    let mut total = 1;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        feed(&buf[..n]);
        total += n as u64;
    }
}

/// BLAKE3 of a whole file, read from disk.
pub fn file_blake3(path: &Path) -> io::Result<[u8; 32]> {
    FileDigest::default().finish(path)
}

/// SHA-256 of a whole file, read from disk: what manifests written before
/// BLAKE3 recorded, so an input they list is compared like with like.
pub fn file_sha256(path: &Path) -> io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    rest_of_file(path, 0, |bytes| hasher.update(bytes))?;
    Ok(hasher.finalize().into())
}

/// Counts the bytes read through it into a shared counter (and hashes them).
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
    digest: Option<FileDigest>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(d) = &self.digest {
            d.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Opens `path` and returns a reader of its decompressed content.
/// `counter` accumulates the on-disk bytes read. For a look at the start of
/// a file (the layout, the log a CSV names) or a count: it reads 32 KiB at a
/// time, so a look at many files does not read a quarter megabyte of each.
pub fn open(path: &Path, counter: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    buffered(open_input(path)?, counter, None, 32 * 1024)
}

/// Like [`open`], also feeding the raw bytes read to `digest`.
pub fn open_hashing(
    path: &Path,
    counter: Arc<AtomicU64>,
    digest: Option<FileDigest>,
) -> io::Result<Box<dyn Read + Send>> {
    decompressing(open_input(path)?, counter, digest)
}

/// A reader of the decompressed content of `file`, read from its current
/// position, counting and hashing the raw bytes.
pub fn decompressing(
    file: File,
    counter: Arc<AtomicU64>,
    digest: Option<FileDigest>,
) -> io::Result<Box<dyn Read + Send>> {
    buffered(file, counter, digest, 256 * 1024)
}

/// [`decompressing`] with reads of `capacity` bytes.
fn buffered(
    file: File,
    counter: Arc<AtomicU64>,
    digest: Option<FileDigest>,
    capacity: usize,
) -> io::Result<Box<dyn Read + Send>> {
    let mut reader = BufReader::with_capacity(
        capacity,
        CountingReader {
            inner: file,
            counter,
            digest,
        },
    );
    Ok(match Compression::detect(reader.fill_buf()?) {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
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
