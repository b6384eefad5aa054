//! The allocator of the `rumor` binary.
//!
//! An agent's memory peaks while it joins: it learns every member at once and queues gossip
//! about each. glibc's malloc keeps such a peak resident for good (freed chunks between live
//! ones are not returned), which left a 1000-member agent at ~2.7× its live heap. With the
//! `jemalloc` feature (on by default) the binary uses jemalloc, whose background threads give
//! freed pages back to the system after about a second (`dirty_decay_ms`, set at build time in
//! `.cargo/config.toml`): resident memory then follows the live heap. The library itself sets
//! no allocator; an embedding program keeps its own.

#[cfg(feature = "jemalloc")]
pub use tikv_jemallocator::Jemalloc;

/// Turns on jemalloc's background purging; it matters only where [`Jemalloc`] is the global
/// allocator. The build-time defaults already enable it; this keeps it on for builds made
/// without them. Returns false without the `jemalloc` feature or if jemalloc refused.
pub fn purge_in_background() -> bool {
    #[cfg(feature = "jemalloc")]
    {
        tikv_jemalloc_ctl::background_thread::write(true).is_ok()
    }
    #[cfg(not(feature = "jemalloc"))]
    {
        false
    }
}

/// What jemalloc holds, in bytes (see its `stats.*` documentation): `allocated` by the
/// program, `active` in pages with allocations (the difference is rounding up to size classes
/// and free slots in slabs), `resident` in physically resident pages it maps (including
/// `metadata` and freed pages not yet purged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Bytes allocated by the program.
    pub allocated: usize,
    /// Bytes in active pages.
    pub active: usize,
    /// Bytes in resident pages.
    pub resident: usize,
    /// Bytes of jemalloc's own metadata.
    pub metadata: usize,
}

/// The allocator's statistics, refreshed now; `None` without the `jemalloc` feature.
pub fn allocator_stats() -> Option<AllocatorStats> {
    #[cfg(feature = "jemalloc")]
    {
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().ok()?;
        Some(AllocatorStats {
            allocated: stats::allocated::read().ok()?,
            active: stats::active::read().ok()?,
            resident: stats::resident::read().ok()?,
            metadata: stats::metadata::read().ok()?,
        })
    }
    #[cfg(not(feature = "jemalloc"))]
    {
        None
    }
}
