//! Recycled read buffers. A page or chunk is read into a buffer on the
//! reader thread and dropped on a decoding thread once its entries are
//! extracted; allocating a fresh multi-megabyte buffer for every page makes
//! the kernel zero new memory for each one (README, "Benchmarks", has the cost).
//! Buffers handed back with [`give`] are reused by [`take`]; the pool keeps
//! at most [`MAX_POOLED_BYTES`] of them, so memory stays bounded.

use std::sync::Mutex;

/// The most buffer capacity the pool keeps.
pub const MAX_POOLED_BYTES: usize = 256 << 20;

/// Buffers larger than this are freed, not pooled.
const MAX_BUFFER_BYTES: usize = 64 << 20;

/// A bounded stack of reusable buffers.
pub struct BufferPool {
    buffers: Mutex<Vec<Vec<u8>>>,
    max_bytes: usize,
}

impl BufferPool {
    /// A pool that keeps at most `max_bytes` of buffer capacity.
    pub const fn new(max_bytes: usize) -> Self {
        BufferPool {
            buffers: Mutex::new(Vec::new()),
            max_bytes,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes: a pooled
    /// one when there is one, else a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let pooled = self.buffers.lock().ok().and_then(|mut p| {
            // The smallest buffer that fits, else the largest (grown once).
            let fits = (0..p.len())
                .filter(|&i| p[i].capacity() >= capacity)
                .min_by_key(|&i| p[i].capacity());
            let pick = fits.or_else(|| (0..p.len()).max_by_key(|&i| p[i].capacity()));
            pick.map(|i| p.swap_remove(i))
        });
        match pooled {
            Some(mut buf) => {
                buf.clear();
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Hands a buffer back for reuse (freed instead when it is too large or
    /// the pool is full).
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > MAX_BUFFER_BYTES {
            return;
        }
        if let Ok(mut pool) = self.buffers.lock() {
            let held: usize = pool.iter().map(Vec::capacity).sum();
            if held + buf.capacity() <= self.max_bytes {
                pool.push(buf);
            }
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.buffers
            .lock()
            .map(|p| p.iter().map(Vec::capacity).sum())
            .unwrap_or(0)
    }
}

static POOL: BufferPool = BufferPool::new(MAX_POOLED_BYTES);

/// A buffer from the process's pool (see [`BufferPool::take`]).
pub fn take(capacity: usize) -> Vec<u8> {
    POOL.take(capacity)
}

/// Hands a buffer back to the process's pool (see [`BufferPool::give`]).
pub fn give(buf: Vec<u8>) {
    POOL.give(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_given_buffers_and_bounds_the_pool() {
        let pool = BufferPool::new(4096);
        let mut a = pool.take(1000);
        a.extend_from_slice(b"abc");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take(10);
        assert!(b.is_empty(), "a reused buffer starts empty");
        assert!(b.capacity() >= 1000);
        assert_eq!(b.as_ptr(), ptr, "the given buffer is handed out again");
        pool.give(b);
        pool.give(Vec::with_capacity(3000));
        pool.give(Vec::with_capacity(MAX_BUFFER_BYTES + 1));
        let held = pool.held_bytes();
        assert!((1000..=4096).contains(&held), "held {held}");
    }
}
