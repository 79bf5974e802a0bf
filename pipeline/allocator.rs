//! The process's allocator (mimalloc, set by the binary): returning the
//! memory a finished phase freed to the kernel at once.

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
