//! Token buckets that cap inbound packets per source IP and in total, before decryption.
//!
//! The global limit is one [`Bucket`]. The per-source limit is a fixed table of `S` compact
//! [`Slot`]s (8 bytes each; `S` comes from [`RateLimit::max_tracked_peers`], 512 by default:
//! 4 KiB), allocated once in [`RateLimiter::new`] and never grown, whatever the number of
//! sources. Sources are not tracked one by one:
//!
//! - Each source IP hashes to **two distinct slots**, with a keyed hash (foldhash seeded from
//!   the node's secret `hash_seed`), so a remote party cannot choose addresses that collide
//!   with a victim's slots.
//! - Each slot holds **half** of a source's allowance: `per_peer_burst / 2` packets, refilled
//!   at `per_peer_per_sec / 2` per second. A packet is accepted while the source's two slots
//!   **together** hold one packet's worth, which is taken from the fuller slot, or split so
//!   that the two end level when the fuller one would otherwise drop below the other. A
//!   source that shares no slot therefore gets exactly `per_peer_burst` and
//!   `per_peer_per_sec`, the same decisions as one [`Bucket`] (on a millisecond grid).
//! - A flooding source drains its own two slots and gets no more than its allowance. Another
//!   source that shares one of them keeps its other slot (half its allowance: 1000 packets of
//!   burst and 250 a second by default, still far above what a peer sends); it is refused
//!   only when both of its slots are drained by flooders, for `F` flooders a probability of
//!   about `(2F / S)²`. The global bucket comes after, as before: a packet refused per source
//!   costs it nothing.
//!
//! Units and time. Slot tokens count `1 / 2000` of a packet, so refill is exact integer
//! arithmetic: `per_peer_per_sec / 2` packets a second is `per_peer_per_sec` units a
//! millisecond, and a full slot is `per_peer_burst * 1000` units (at most 4.3 · 10¹², 42
//! bits: every `u32` burst is exact). A slot's timestamp is whole milliseconds since the
//! limiter's `epoch`, in the other 22 bits (up to about 70 minutes). When `now` gets further
//! than that from the epoch, every slot is first refilled up to `now` and the epoch moves to
//! `now` (a pass over the table, at most once per 70 minutes of the caller's clock, or on the
//! first packet after a longer silence). So a stored timestamp never wraps and every elapsed
//! time is exact: a slot untouched for days is simply full. A `now` earlier than a slot's
//! timestamp (a clock that is not perfectly monotonic) refills nothing and leaves the
//! timestamp where it was, like [`Bucket`].

use alloc::boxed::Box;
use alloc::vec;
use core::hash::BuildHasher;
use core::net::IpAddr;

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

/// The most slots a limiter has, whatever `max_tracked_peers` asks for (512 KiB).
const MAX_SLOTS: usize = 1 << 16;
/// What one packet costs a source's two slots together, in slot units. A slot refills at
/// `per_peer_per_sec` units a millisecond, which is `per_peer_per_sec / 2` packets a second.
const COST: u64 = 2_000;
/// Bits of a slot's timestamp (milliseconds since the epoch); the tokens take the rest.
const TIME_BITS: u32 = 22;
/// The latest timestamp a slot can hold, about 70 minutes after the epoch.
const TIME_MAX: u64 = (1 << TIME_BITS) - 1;
/// The most tokens a slot can hold: 2⁴² - 1 units, above the largest capacity
/// (`u32::MAX * COST / 2`).
const TOKENS_MAX: u64 = u64::MAX >> TIME_BITS;

/// Half of a source's token bucket, shared by every source hashed to it: tokens in the high
/// 42 bits (units of `1 / COST` packet), the time of the last refill in the low 22 bits
/// (whole milliseconds since the limiter's epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot(u64);

impl Slot {
    fn new(tokens: u64, updated: u64) -> Slot {
        Slot((tokens.min(TOKENS_MAX) << TIME_BITS) | updated.min(TIME_MAX))
    }

    fn tokens(self) -> u64 {
        self.0 >> TIME_BITS
    }

    fn updated(self) -> u64 {
        self.0 & TIME_MAX
    }

    /// This slot refilled up to `now` (milliseconds since the epoch) at `per_ms` units a
    /// millisecond, up to `cap`. An earlier `now` refills nothing and keeps the timestamp.
    fn refilled(self, now: u64, per_ms: u32, cap: u64) -> Slot {
        let elapsed = now.saturating_sub(self.updated());
        let tokens = self.tokens().saturating_add(elapsed.saturating_mul(u64::from(per_ms))).min(cap);
        Slot::new(tokens, self.updated().max(now))
    }
}

/// The number of slots for `max_tracked_peers`: rounded up to a power of two, at least 2 (a
/// source needs two distinct slots) and at most [`MAX_SLOTS`].
fn slot_count(max_tracked_peers: usize) -> usize {
    max_tracked_peers.clamp(2, MAX_SLOTS).next_power_of_two()
}

#[derive(Clone, Debug)]
pub(crate) struct RateLimiter {
    limits: RateLimit,
    global: Bucket,
    /// A full slot: half the per-source burst, in slot units.
    slot_cap: u64,
    /// The caller's clock, in whole milliseconds, that slot timestamps count from.
    epoch_ms: u64,
    hasher: foldhash::quality::FixedState,
    /// A power of two of them, at least 2; never resized.
    slots: Box<[Slot]>,
}

impl RateLimiter {
    #[cfg(feature = "prefetch")]
    /// Prefetches the limiter's own fields (not its slots).
    pub(crate) fn prefetch_header(&self) {
        crate::hint::prefetch_fields!(self, limits, global, slot_cap, epoch_ms, hasher, slots);
    }

    pub(crate) fn new(limits: RateLimit, now: Instant, hash_seed: u64) -> Self {
        let slot_cap = u64::from(limits.per_peer_burst) * (COST / 2);
        RateLimiter {
            limits,
            global: Bucket::full(limits.global_burst, now),
            slot_cap,
            epoch_ms: now.as_micros() / 1000,
            // The quality variant: both slot indices come from one hash, low and high bits.
            hasher: foldhash::quality::FixedState::with_seed(hash_seed),
            slots: vec![Slot::new(slot_cap, 0); slot_count(limits.max_tracked_peers)].into_boxed_slice(),
        }
    }

    /// Whether one more packet from `ip` is allowed now. A refused packet costs the global
    /// bucket nothing, so one flooding source cannot starve the others.
    pub(crate) fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let l = self.limits;
        let t = self.clock(now);
        let (i, j) = self.slots_of(ip);
        let (Some(a), Some(b)) = (self.slots.get(i), self.slots.get(j)) else { return false };
        let a = a.refilled(t, l.per_peer_per_sec, self.slot_cap);
        let b = b.refilled(t, l.per_peer_per_sec, self.slot_cap);
        let (ta, tb) = (a.tokens(), b.tokens());
        // Both at most 2⁴², so the sum cannot overflow. A refused packet writes nothing: the
        // refill is credited the next time, the same up to the cap.
        let Some(left) = (ta + tb).checked_sub(COST) else { return false };
        // Take from the fuller slot; if that would leave it below the other, take from both
        // so that they end level (the odd unit stays in the fuller one).
        let low = ta.min(tb).min(left / 2);
        let high = left - low;
        let (ta, tb) = if ta >= tb { (high, low) } else { (low, high) };
        if let Some(s) = self.slots.get_mut(i) {
            *s = Slot::new(ta, a.updated());
        }
        if let Some(s) = self.slots.get_mut(j) {
            *s = Slot::new(tb, b.updated());
        }
        self.global.take(now, l.global_per_sec, l.global_burst)
    }

    /// Starts loading the two slots a packet from `ip` reads (see `Node::prefetch_input`).
    #[cfg(feature = "prefetch")]
    pub(crate) fn prefetch(&self, ip: IpAddr) {
        let (i, j) = self.slots_of(ip);
        if let (Some(a), Some(b)) = (self.slots.get(i), self.slots.get(j)) {
            crate::hint::prefetch(a);
            crate::hint::prefetch(b);
        }
    }

    /// `now` in whole milliseconds since the epoch (0 if earlier). When that does not fit a
    /// slot's timestamp, every slot is first refilled up to `now` and the epoch moves to
    /// `now`, so that no timestamp ever wraps.
    fn clock(&mut self, now: Instant) -> u64 {
        let ms = now.as_micros() / 1000;
        let t = ms.saturating_sub(self.epoch_ms);
        if t <= TIME_MAX {
            return t;
        }
        let (per_ms, cap) = (self.limits.per_peer_per_sec, self.slot_cap);
        for s in self.slots.iter_mut() {
            // Every timestamp is at most TIME_MAX < t: the elapsed time is exact.
            *s = Slot::new(s.refilled(t, per_ms, cap).tokens(), 0);
        }
        self.epoch_ms = ms;
        0
    }

    /// The two distinct slots of `ip`: the first from the hash's low bits, the second at a
    /// nonzero XOR distance from the high bits.
    fn slots_of(&self, ip: IpAddr) -> (usize, usize) {
        let h = self.hasher.hash_one(ip);
        let mask = (self.slots.len() as u64).saturating_sub(1);
        let first = h & mask;
        let distance = 1 + (h >> 32).checked_rem(mask).unwrap_or(0);
        (first as usize, (first ^ distance) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use core::time::Duration;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    /// Packets from `ip` allowed out of `n` sent at `now`.
    fn allowed(rl: &mut RateLimiter, now: Instant, ip: IpAddr, n: usize) -> usize {
        (0..n).filter(|_| rl.allow(now, ip)).count()
    }

    fn pair(rl: &RateLimiter, ip: IpAddr) -> BTreeSet<usize> {
        let (i, j) = rl.slots_of(ip);
        assert_ne!(i, j, "a source's two slots are distinct");
        assert!(i < rl.slots.len() && j < rl.slots.len());
        [i, j].into()
    }

    #[test]
    fn the_slot_count_is_a_capped_power_of_two() {
        assert_eq!(slot_count(1), 2);
        assert_eq!(slot_count(2), 2);
        assert_eq!(slot_count(3), 4);
        assert_eq!(slot_count(512), 512);
        assert_eq!(slot_count(513), 1024);
        assert_eq!(slot_count(4096), 4096);
        assert_eq!(slot_count(usize::MAX), MAX_SLOTS);
        assert_eq!(slot_count(RateLimit::default().max_tracked_peers), 512);
        let rl = RateLimiter::new(RateLimit::default(), Instant::ZERO, 1);
        assert_eq!(core::mem::size_of_val(&*rl.slots), 4096, "the default table is 4 KiB");
    }

    #[test]
    fn per_peer_and_global_limits() {
        let limits = RateLimit {
            per_peer_per_sec: 10,
            per_peer_burst: 5,
            global_per_sec: 100,
            global_burst: 8,
            ..RateLimit::default()
        };
        let t0 = Instant::from_millis(1000);
        let mut rl = RateLimiter::new(limits, t0, 1);
        let (a, b) = (ip(0x0a00_0001), ip(0x0a00_0002));
        assert!(pair(&rl, a).is_disjoint(&pair(&rl, b)), "with this seed, a and b share no slot");
        assert_eq!(allowed(&mut rl, t0, a, 10), 5, "per-peer burst");
        assert_eq!(allowed(&mut rl, t0, b, 10), 3, "global burst left after a");
        let t1 = Instant::from_millis(1100);
        assert_eq!(allowed(&mut rl, t1, a, 10), 1, "one token refilled after 100 ms at 10/s");
        // 150 ms more is 1.5 tokens: one now, and the half carries over.
        assert_eq!(allowed(&mut rl, Instant::from_millis(1250), a, 10), 1);
        assert_eq!(allowed(&mut rl, Instant::from_millis(1299), a, 10), 0);
        assert_eq!(allowed(&mut rl, Instant::from_millis(1300), a, 10), 1, "the carried half");
        // A whole second refills the whole burst, and no more.
        assert_eq!(allowed(&mut rl, Instant::from_millis(5000), a, 10), 5);
    }

    #[test]
    fn flooders_do_not_shut_out_other_sources() {
        // Per-source limits only: the global bucket is opened up.
        let limits = RateLimit { global_per_sec: u32::MAX, global_burst: u32::MAX, ..RateLimit::default() };
        let (flooders, innocents, seeds) = (8u32, 1000u32, 20u64);
        let t = Instant::from_millis(5);
        let mut refused = 0;
        for seed in 0..seeds {
            let mut rl = RateLimiter::new(limits, Instant::ZERO, seed);
            for f in 0..flooders {
                let got = allowed(&mut rl, t, ip(0xc633_6400 + f), 3 * limits.per_peer_burst as usize);
                assert!(got <= limits.per_peer_burst as usize, "a flooder gets at most its burst");
            }
            // Each innocent source sends a few packets, at the same instant (no refill).
            refused += (0..innocents).filter(|&i| allowed(&mut rl, t, ip(0x0a01_0000 + i), 3) < 3).count();
        }
        // An innocent source is refused only if both its slots are among the (at most) 2F
        // drained ones: probability at most (2F/S)² = (16/512)² ≈ 0.1%, about one source in
        // 1000. Over 20 000 trials the mean is under 20; allow twice that.
        let s = slot_count(limits.max_tracked_peers) as f64;
        let expected = (seeds * u64::from(innocents)) as f64 * (2.0 * f64::from(flooders) / s).powi(2);
        assert!((refused as f64) <= 2.0 * expected, "{refused} innocent sources refused, expected about {expected}");
    }

    #[test]
    fn a_source_sharing_one_slot_with_a_flooder_keeps_half_its_allowance() {
        let limits =
            RateLimit { per_peer_burst: 10, per_peer_per_sec: 10, max_tracked_peers: 64, ..RateLimit::default() };
        let t = Instant::from_millis(5);
        let mut rl = RateLimiter::new(limits, Instant::ZERO, 7);
        let flooder = ip(0xc633_6401);
        let f = pair(&rl, flooder);
        let find = |shared: usize| {
            (0..1_000_000).map(|n| ip(0x0a00_0000 + n)).find(|&x| pair(&rl, x).intersection(&f).count() == shared)
        };
        let (one, both) = (find(1).unwrap(), find(2).unwrap());
        assert_eq!(allowed(&mut rl, t, flooder, 1000), 10, "the flooder gets its burst");
        assert_eq!(allowed(&mut rl, t, one, 100), 5, "half the burst, from its own slot");
        assert_eq!(allowed(&mut rl, t, both, 100), 0, "both its slots are drained");
        // One second later, every slot is full again.
        assert_eq!(allowed(&mut rl, t + Duration::from_secs(1), both, 100), 10);
    }

    #[test]
    fn memory_is_fixed_whatever_the_number_of_sources() {
        let mut rl = RateLimiter::new(RateLimit::default(), Instant::ZERO, 3);
        let size = (core::mem::size_of::<RateLimiter>(), rl.slots.len(), core::mem::size_of_val(&*rl.slots));
        assert_eq!(size.1, 512);
        let mut now = Instant::ZERO;
        for n in 0..100_000u32 {
            now += Duration::from_micros(37);
            let source = if n % 2 == 0 {
                ip(n)
            } else {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (n >> 16) as u16, n as u16))
            };
            rl.allow(now, source);
        }
        assert_eq!((core::mem::size_of::<RateLimiter>(), rl.slots.len(), core::mem::size_of_val(&*rl.slots)), size);
    }

    #[test]
    fn a_slot_untouched_for_60_days_is_full() {
        let limits = RateLimit { per_peer_burst: 5, per_peer_per_sec: 1, ..RateLimit::default() };
        let t0 = Instant::from_millis(123_456);
        let a = ip(0x0a00_0001);
        let sixty_days = Duration::from_secs(60 * 86_400);
        // In one jump, and with other sources touching the table every hour meanwhile (the
        // epoch moves about 1400 times while a's slots stay untouched).
        for hourly in [false, true] {
            let mut rl = RateLimiter::new(limits, t0, 11);
            assert_eq!(allowed(&mut rl, t0, a, 10), 5);
            if hourly {
                for h in 1..60 * 24 {
                    rl.allow(t0 + Duration::from_secs(3600 * h), ip(0x0b00_0000 + h as u32));
                }
            }
            assert_eq!(allowed(&mut rl, t0 + sixty_days, a, 10), 5, "full again, and no more than full");
        }
    }

    #[test]
    fn refill_is_exact_across_the_epoch_moving() {
        let limits = RateLimit { per_peer_burst: 10_000, per_peer_per_sec: 1, ..RateLimit::default() };
        let t0 = Instant::from_micros(7_777_777);
        let a = ip(0x0a00_0001);
        for elapsed_ms in [TIME_MAX - 1, TIME_MAX, TIME_MAX + 1, TIME_MAX + 999, 2 * TIME_MAX + 5] {
            let mut rl = RateLimiter::new(limits, t0, 5);
            assert_eq!(allowed(&mut rl, t0, a, 20_000), 10_000);
            let later = t0 + Duration::from_millis(elapsed_ms);
            // One packet a second: one per whole second since t0.
            assert_eq!(allowed(&mut rl, later, a, 20_000) as u64, elapsed_ms / 1000, "after {elapsed_ms} ms");
        }
    }

    #[test]
    fn now_going_backwards_neither_panics_nor_mints_tokens() {
        let limits = RateLimit { per_peer_burst: 5, per_peer_per_sec: 10, ..RateLimit::default() };
        let a = ip(0x0a00_0001);
        let t1 = Instant::from_millis(10_000);
        let mut rl = RateLimiter::new(limits, t1, 2);
        assert_eq!(allowed(&mut rl, t1, a, 10), 5);
        for back in [Instant::from_millis(9_999), Instant::from_millis(5_000), Instant::ZERO] {
            assert_eq!(allowed(&mut rl, back, a, 10), 0);
        }
        assert_eq!(allowed(&mut rl, t1 + Duration::from_millis(100), a, 10), 1);
        // Again right after the epoch moved.
        let t2 = t1 + Duration::from_secs(3 * 3600);
        assert_eq!(allowed(&mut rl, t2, a, 10), 5);
        assert_eq!(allowed(&mut rl, t2 - Duration::from_millis(3), a, 10), 0);
        assert_eq!(allowed(&mut rl, t2 - Duration::from_secs(2 * 3600), a, 10), 0);
        assert_eq!(allowed(&mut rl, t2 + Duration::from_millis(100), a, 10), 1);
        // The ends of the clock.
        assert_eq!(allowed(&mut rl, Instant::from_micros(u64::MAX), a, 10), 5);
        assert_eq!(allowed(&mut rl, Instant::ZERO, a, 10), 0);
    }

    /// A time step in µs: none, within a few milliseconds, backwards, or long enough to move
    /// the epoch.
    fn step() -> impl proptest::strategy::Strategy<Value = i64> {
        proptest::prop_oneof![
            3 => proptest::strategy::Just(0i64),
            4 => 0i64..3_000,
            2 => 0i64..400_000,
            2 => -5_000i64..0,
            1 => 0i64..10_000_000_000,
        ]
    }

    fn advance(now: Instant, step: i64) -> Instant {
        Instant::from_micros(now.as_micros().saturating_add_signed(step))
    }

    proptest::proptest! {
        /// A source that shares its slots with no one decides exactly like one `Bucket` of
        /// the configured size, on the millisecond grid, then the global bucket.
        #[test]
        fn a_lone_source_decides_like_one_bucket(
            per_sec in 1u32..3_000,
            burst in 1u32..40,
            global_per_sec in 1u32..3_000,
            global_burst in 1u32..60,
            t0 in 0u64..10_000_000_000,
            steps in proptest::collection::vec((step(), 1usize..20), 1..100),
        ) {
            let limits = RateLimit {
                per_peer_per_sec: per_sec,
                per_peer_burst: burst,
                global_per_sec,
                global_burst,
                ..RateLimit::default()
            };
            let mut now = Instant::from_micros(t0);
            let mut rl = RateLimiter::new(limits, now, 9);
            let ms = |t: Instant| Instant::from_millis(t.as_micros() / 1000);
            let mut peer = Bucket::full(burst, ms(now));
            let mut global = Bucket::full(global_burst, now);
            let a = ip(0x0a00_0001);
            for (s, packets) in steps {
                now = advance(now, s);
                for _ in 0..packets {
                    let expected =
                        peer.take(ms(now), per_sec, burst) && global.take(now, global_per_sec, global_burst);
                    proptest::prop_assert_eq!(rl.allow(now, a), expected, "at {:?}", now);
                }
            }
        }

        /// Whatever the sources and times, the sources whose slots lie in a set of `k` slots
        /// get at most `k / 2 · (burst + rate · elapsed)`: for one source (k = 2) its own
        /// allowance, for sources that share slots less than their sum.
        #[test]
        fn sources_never_get_more_than_their_slots_hold(
            max_tracked_peers in 1usize..9,
            per_sec in 1u32..2_000,
            burst in 1u32..30,
            seed in 0u64..1000,
            packets in proptest::collection::vec((0u32..12, step(), 1usize..40), 1..100),
        ) {
            let limits = RateLimit {
                per_peer_per_sec: per_sec,
                per_peer_burst: burst,
                global_per_sec: u32::MAX,
                global_burst: u32::MAX,
                max_tracked_peers,
                ..RateLimit::default()
            };
            let t0 = Instant::from_millis(1_000_000);
            let mut rl = RateLimiter::new(limits, t0, seed);
            let mut now = t0;
            let mut latest = t0;
            let mut got = [0u64; 12];
            for (source, s, n) in packets {
                now = advance(now, s);
                latest = latest.max(now);
                got[source as usize] += allowed(&mut rl, now, ip(source), n) as u64;
            }
            // Half a source's allowance, in thousandths of a packet, per slot.
            let elapsed_ms = latest.as_micros() / 1000 - t0.as_micros() / 1000;
            let per_slot = u64::from(burst) * 1000 + u64::from(per_sec) * elapsed_ms;
            let check = |sources: &[u32]| {
                let slots: BTreeSet<usize> = sources.iter().flat_map(|&x| pair(&rl, ip(x))).collect();
                let total: u64 = sources.iter().map(|&x| got[x as usize]).sum();
                (total * 2000 <= slots.len() as u64 * per_slot, total, slots.len())
            };
            for x in 0..12 {
                let (ok, total, _) = check(&[x]);
                proptest::prop_assert!(ok, "source {} got {} packets in {} ms", x, total, elapsed_ms);
                for y in x + 1..12 {
                    let (ok, total, k) = check(&[x, y]);
                    proptest::prop_assert!(ok, "sources {} and {} got {} on {} slots", x, y, total, k);
                }
            }
            let all: Vec<u32> = (0..12).collect();
            proptest::prop_assert!(check(&all).0);
        }
    }
}
