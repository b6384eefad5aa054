//! Token buckets that cap inbound packets per source IP and in total, before decryption.

use alloc::collections::VecDeque;
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
    /// Tracked sources, oldest first: the next to forget. Sources leave only from the front,
    /// so forgetting one is O(1) even when the table is full and every packet is from a new
    /// source (a large cluster).
    order: VecDeque<IpAddr>,
}

impl RateLimiter {
    pub(crate) fn new(limits: RateLimit, now: Instant, hash_seed: u64) -> Self {
        RateLimiter {
            limits,
            global: Bucket::full(limits.global_burst, now),
            peers: IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed)),
            order: VecDeque::new(),
        }
    }

    /// Whether one more packet from `ip` is allowed now. A refused packet costs the global
    /// bucket nothing, so one flooding source cannot starve the others.
    pub(crate) fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let l = self.limits;
        let peer = match self.peers.get_index_of(&ip) {
            Some(i) => self.peers.get_index_mut(i).map(|(_, b)| b),
            None => {
                while self.peers.len() >= l.max_tracked_peers.max(1) {
                    let Some(oldest) = self.order.pop_front() else { break };
                    self.peers.swap_remove(&oldest);
                }
                self.order.push_back(ip);
                let (i, _) = self.peers.insert_full(ip, Bucket::full(l.per_peer_burst, now));
                self.peers.get_index_mut(i).map(|(_, b)| b)
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
}
