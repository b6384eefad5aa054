//! The CPU's prefetch instruction, for the cache hints of feature `prefetch` (see
//! `node/hints.rs`): the lowest layer, so that the member table, the probe order and the rate
//! limiter can each name the lines of their own they are asked to load.

/// Starts loading the cache line that holds `value` into every cache level. A no-op where the
/// target has no prefetch instruction the build may use (the workspace forbids `unsafe`; on
/// x86 `safe_arch` wraps the instruction).
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse"))]
    safe_arch::prefetch_t0(value);
    #[cfg(not(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse")))]
    let _ = value;
}

/// Prefetches the line of each named field of `$s`: how a structure names the lines of its
/// own that a caller asks it to load.
macro_rules! prefetch_fields {
    ($s:expr, $($field:ident),+ $(,)?) => {
        $( $crate::hint::prefetch(&$s.$field); )+
    };
}
pub(crate) use prefetch_fields;
