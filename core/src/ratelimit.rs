//! Token buckets that cap inbound packets per source IP and in total, before decryption.

use core::net::IpAddr;

use indexmap::IndexMap;

use crate::config::RateLimit;
use crate::time::Instant;

/// Tokens are counted in millionths so refill needs no floating point.
const SCALE: u64 = 1_000_000;

/// One token bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    tokens: u64,
    updated: Instant,
}

impl Bucket {
    pub(crate) fn full(burst: u32, now: Instant) -> Self {
        Bucket { tokens: u64::from(burst) * SCALE, updated: now }
    }

    pub(crate) fn take(&mut self, now: Instant, per_sec: u32, burst: u32) -> bool {
        let elapsed = now.as_micros().saturating_sub(self.updated.as_micros());
        // per_sec tokens per 10^6 µs, in units of 1/SCALE token: exactly per_sec per µs.
        let refill = elapsed.saturating_mul(u64::from(per_sec));
        self.tokens = self.tokens.saturating_add(refill).min(u64::from(burst) * SCALE);
        self.updated = self.updated.max(now);
        if self.tokens >= SCALE {
            self.tokens -= SCALE;
            true
        } else {
            false
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RateLimiter {
    limits: RateLimit,
    global: Bucket,
    peers: IndexMap<IpAddr, Bucket, foldhash::fast::FixedState>,
    /// Once the table is full, the position of the oldest tracked source: a new source takes
    /// its place and the position after it becomes the oldest. The positions form a ring in
    /// insertion order, so forgetting the oldest is O(1) even when every packet comes from a
    /// new source (a large cluster), with no second list of sources.
    oldest: usize,
}

impl RateLimiter {
    pub(crate) fn new(limits: RateLimit, now: Instant, hash_seed: u64) -> Self {
        RateLimiter {
            limits,
            global: Bucket::full(limits.global_burst, now),
            peers: IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed)),
            oldest: 0,
        }
    }

    /// Whether one more packet from `ip` is allowed now. A refused packet costs the global
    /// bucket nothing, so one flooding source cannot starve the others.
    pub(crate) fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let l = self.limits;
        let max = l.max_tracked_peers.max(1);
        let peer = match self.peers.get_index_of(&ip) {
            Some(i) => self.peers.get_index_mut(i).map(|(_, b)| b),
            None if self.peers.len() < max => {
                if self.peers.len() == self.peers.capacity() {
                    // Grow by a quarter, never past the limit: thousands of nodes in one
                    // process (the simulator) each keep a full table.
                    let room = (self.peers.len() / 4 + 16).min(max - self.peers.len());
                    self.peers.reserve_exact(room);
                }
                let (i, _) = self.peers.insert_full(ip, Bucket::full(l.per_peer_burst, now));
                self.peers.get_index_mut(i).map(|(_, b)| b)
            }
            None => {
                let i = self.oldest % self.peers.len();
                self.oldest = (i + 1) % self.peers.len();
                // `ip` is not in the table, so the replacement cannot collide.
                if self.peers.replace_index(i, ip).is_err() {
                    return false;
                }
                let slot = self.peers.get_index_mut(i).map(|(_, b)| b);
                slot.map(|b| {
                    *b = Bucket::full(l.per_peer_burst, now);
                    b
                })
            }
        };
        let Some(peer) = peer else { return false };
        if !peer.take(now, l.per_peer_per_sec, l.per_peer_burst) {
            return false;
        }
        self.global.take(now, l.global_per_sec, l.global_burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn per_peer_and_global_limits() {
        let limits = RateLimit {
            per_peer_per_sec: 10,
            per_peer_burst: 5,
            global_per_sec: 100,
            global_burst: 8,
            max_tracked_peers: 2,
            ..RateLimit::default()
        };
        let t0 = Instant::from_millis(1000);
        let mut rl = RateLimiter::new(limits, t0, 1);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((0..10).filter(|_| rl.allow(t0, a)).count(), 5, "per-peer burst");
        assert_eq!((0..10).filter(|_| rl.allow(t0, b)).count(), 3, "global burst left after a");
        let t1 = Instant::from_millis(1100);
        assert!(rl.allow(t1, a), "one token refilled after 100 ms at 10/s");
        assert!(!rl.allow(t1, a));
    }

    #[test]
    fn the_oldest_source_is_forgotten_first() {
        let limits = RateLimit { per_peer_per_sec: 1, per_peer_burst: 2, max_tracked_peers: 2, ..RateLimit::default() };
        let t0 = Instant::from_millis(1000);
        let mut rl = RateLimiter::new(limits, t0, 1);
        let ip = |b| IpAddr::V4(Ipv4Addr::new(10, 0, 0, b));
        for b in [1, 2] {
            assert!(rl.allow(t0, ip(b)) && rl.allow(t0, ip(b)) && !rl.allow(t0, ip(b)), "source {b} used its burst");
        }
        // A third source forgets the first (the oldest), not the second.
        assert!(rl.allow(t0, ip(3)));
        assert!(!rl.allow(t0, ip(2)), "source 2 is still tracked and empty");
        // Source 1 was forgotten and starts full; tracking it again forgets source 2.
        assert!(rl.allow(t0, ip(1)) && rl.allow(t0, ip(1)) && !rl.allow(t0, ip(1)));
        assert!(rl.allow(t0, ip(2)), "source 2 was forgotten and starts full");
    }

    /// The limiter as first written, forgetting the oldest source with an O(n) shift.
    struct Reference {
        limits: RateLimit,
        global: Bucket,
        peers: IndexMap<IpAddr, Bucket, foldhash::fast::FixedState>,
    }

    impl Reference {
        fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
            let l = self.limits;
            if !self.peers.contains_key(&ip) && self.peers.len() >= l.max_tracked_peers {
                self.peers.shift_remove_index(0);
            }
            let peer = self.peers.entry(ip).or_insert_with(|| Bucket::full(l.per_peer_burst, now));
            if !peer.take(now, l.per_peer_per_sec, l.per_peer_burst) {
                return false;
            }
            self.global.take(now, l.global_per_sec, l.global_burst)
        }
    }

    proptest::proptest! {
        #[test]
        fn decides_exactly_like_the_reference(
            max in 1usize..6,
            packets in proptest::collection::vec((0u8..9, 0u64..300), 1..300),
        ) {
            let limits = RateLimit {
                per_peer_per_sec: 5,
                per_peer_burst: 3,
                global_per_sec: 40,
                global_burst: 12,
                max_tracked_peers: max,
                ..RateLimit::default()
            };
            let t0 = Instant::from_millis(0);
            let mut rl = RateLimiter::new(limits, t0, 1);
            let mut r = Reference {
                limits,
                global: Bucket::full(limits.global_burst, t0),
                peers: IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(1)),
            };
            let mut now = t0;
            for (source, step_ms) in packets {
                now += core::time::Duration::from_millis(step_ms);
                let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, source));
                proptest::prop_assert_eq!(rl.allow(now, ip), r.allow(now, ip));
            }
        }
    }
}
