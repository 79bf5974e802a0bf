//! The process's allocator (mimalloc, set by the binary) and the memory it
//! keeps: returning what a finished phase freed to the kernel at once, and
//! not letting idle threads hold what they freed.

/// Returns the memory freed so far to the kernel now, instead of after
/// mimalloc's purge delay (the binary's `tune_allocator`). A phase that
/// built and dropped large hash tables calls this before the next one, so
/// the peak is the largest phase, not the sum of the phases' leftovers.
/// Harmless under another allocator (tests): mimalloc then holds nothing.
#[allow(unsafe_code)]
pub fn release_freed() {
    // SAFETY: mi_collect only walks mimalloc's own free lists and arenas;
    // it takes no pointer and is safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// How long an idle blocking thread of a Tokio runtime lives (Tokio's
/// default is 10 s). DataFusion reads Parquet files on blocking threads;
/// the allocator hands a thread's freed pages back only when that thread
/// allocates again or ends, and an idle reader thread does neither, so a
/// long idle life keeps what it read resident: on `check` over 10M
/// entries, 0.25-0.3 GB between rules.
pub const BLOCKING_THREAD_IDLE: std::time::Duration = std::time::Duration::from_millis(100);
