//! Anti-entropy: every `push_pull_interval` (scaled with the cluster's size) a node exchanges
//! state with one random member, starting with a digest so that converged views cost one
//! small packet; every `reconnect_interval` it tries one recently failed member (so the two
//! sides of a healed partition find each other) and, when alone, a seed.

use alloc::vec;
use alloc::vec::Vec;
use core::hash::Hasher;
use core::net::SocketAddr;
use core::time::Duration;

use rand::RngExt;
use siphasher::sip::SipHasher13;

use super::Node;
use super::transmit::{Body, encode_msgs};
use crate::config::Config;
use crate::ratelimit::Bucket;
use crate::state::{Liveness, Status};
use crate::table::PayloadRef;
use crate::time::Instant;
use crate::wire::{self, Addr, Message};

/// Anti-entropy's timers, the rate limit on answers, and the digest of this node's view.
pub(super) struct AntiEntropy {
    next_push_pull: Instant,
    next_reconnect: Instant,
    /// Bounds the state this node sends in answer to requests (`RateLimit::sync_replies_*`).
    replies: Bucket,
    /// The digest of this node's view and the generations of the member table and of this
    /// node's own claim it was computed at: any change of either makes it stale.
    digest: Option<((u64, u64), (u64, u32))>,
}

impl AntiEntropy {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, next_push_pull, next_reconnect, replies, digest);
    }

    pub(super) fn new(config: &Config, now: Instant, next_push_pull: Instant, next_reconnect: Instant) -> Self {
        AntiEntropy {
            next_push_pull,
            next_reconnect,
            replies: Bucket::full(config.rate_limit.sync_replies_burst, now),
            digest: None,
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        self.next_push_pull.min(self.next_reconnect)
    }

    pub(super) fn push_pull_due(&self, now: Instant) -> bool {
        now >= self.next_push_pull
    }

    pub(super) fn schedule_push_pull(&mut self, at: Instant) {
        self.next_push_pull = at;
    }

    /// Brings the next exchange forward to `at` if it is later (after a join).
    pub(super) fn push_pull_by(&mut self, at: Instant) {
        self.next_push_pull = self.next_push_pull.min(at);
    }

    /// Whether a reconnect tick is due at `now`; if so, schedules the next one.
    pub(super) fn reconnect_due(&mut self, now: Instant, interval: Duration) -> bool {
        if now < self.next_reconnect {
            return false;
        }
        self.next_reconnect = now + interval;
        true
    }
}

/// memberlist's pushPullScale: above 32 members, one more interval per doubling, so the
/// cluster-wide anti-entropy load grows like n·log n instead of n².
pub(super) fn push_pull_interval(config: &Config, live: usize) -> Duration {
    let n = live + 1;
    if n <= 32 {
        return config.push_pull_interval;
    }
    #[allow(clippy::cast_precision_loss)]
    let mult = libm::ceil(libm::log2(n as f64) - 5.0) + 1.0;
    config.push_pull_interval.mul_f64(mult)
}

impl Node {
    /// Starts an anti-entropy exchange with `dst` by sending the digest of our state. A peer
    /// whose digest differs answers with its full state as a request (so we merge it and
    /// answer with ours); an equal digest ends the exchange there, at the cost of one small
    /// packet instead of two full states.
    pub(super) fn start_sync(&mut self, dst: SocketAddr) {
        self.stats.syncs_started += 1;
        let (digest, members) = self.state_digest_cached();
        let body = encode_msgs(&[Message::Digest { from: &self.local.name, digest, members }]);
        self.push_outgoing(dst, body, true);
    }

    /// Answers a state request with our state, and a digest that differs from ours with our
    /// state as a request (so that the sender merges it and answers with its own), within
    /// the rate limit. Our state holds every correction the answer to the datagram would
    /// carry, so that answer is dropped.
    pub(super) fn answer_sync(&mut self, now: Instant, from: SocketAddr, request: bool) {
        let rl = self.config.rate_limit;
        if self.sync.replies.take(now, rl.sync_replies_per_sec, rl.sync_replies_burst) {
            self.send_state(from, request);
            self.outbound.clear_answer();
        } else {
            self.stats.sync_replies_refused += 1;
        }
    }

    /// The digest of this node's state, from the cache when nothing changed since it was
    /// last computed.
    pub(super) fn state_digest_cached(&mut self) -> (u64, u32) {
        let generation = (self.members.table().generation(), self.local.generation);
        if let Some((at, d)) = self.sync.digest {
            if at == generation {
                debug_assert_eq!(d, self.state_digest(), "a state change did not change a generation");
                return d;
            }
        }
        let d = self.state_digest();
        self.sync.digest = Some((generation, d));
        d
    }

    /// The anti-entropy digest of this node's view: the sum (mod 2⁶⁴) of one SipHash-1-3 per
    /// member, this node included, over the member's merged state, and the number of
    /// members summed. Two nodes with equal views have equal digests whatever order they
    /// learnt things in (docs/wire-format.md §4.3.1 defines the hashed bytes). O(members);
    /// the node caches it between state changes.
    pub fn state_digest(&self) -> (u64, u32) {
        let l = &self.local;
        let me = Liveness { incarnation: l.incarnation, status: Status::Alive };
        let payload = PayloadRef { incarnation: l.incarnation, addr: Addr::from(l.addr), meta: &l.meta };
        let mut sum = member_hash(&l.name, me, Some(payload));
        for m in self.members.iter() {
            sum = sum.wrapping_add(member_hash(m.name(), m.liveness(), m.payload()));
        }
        (sum, u32::try_from(self.members.len() + 1).unwrap_or(u32::MAX))
    }

    /// Sends this node's whole state to `dst`, split into MTU-sized chunks.
    pub(super) fn send_state(&mut self, dst: SocketAddr, reply: bool) {
        let space = self.packet_space();
        let mut buf = vec![0u8; space];
        let name = &self.local.name;
        // Only a request's first chunk asks for an answer; the others (and every chunk of an
        // answer) say `reply: true`, so one request costs one answer, not one per chunk.
        let first = Message::Sync { from: name, reply };
        let later = Message::Sync { from: name, reply: true };
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut pos = 0;
        wire::encode_into(&first, &mut buf, &mut pos);
        let mut push = |msg: &Message<'_>, buf: &mut Vec<u8>, pos: &mut usize| {
            if !wire::encode_into(msg, buf, pos) {
                chunks.push(buf.get(..*pos).unwrap_or_default().to_vec());
                *pos = 0;
                wire::encode_into(&later, buf, pos);
                wire::encode_into(msg, buf, pos);
            }
        };
        push(&self.local.alive(), &mut buf, &mut pos);
        for m in self.members.iter() {
            let member = m.name();
            if let Some(p) = m.payload() {
                let alive = Message::Alive { name: member, incarnation: p.incarnation, addr: p.addr, meta: p.meta };
                push(&alive, &mut buf, &mut pos);
            }
            let Liveness { incarnation, status } = m.liveness();
            let msg = match status {
                Status::Alive => continue,
                Status::Suspect => Message::Suspect { name: member, incarnation, from: name },
                Status::Dead => Message::Dead { name: member, incarnation, from: name },
                Status::Left => Message::Left { name: member, incarnation },
            };
            push(&msg, &mut buf, &mut pos);
        }
        chunks.push(buf.get(..pos).unwrap_or_default().to_vec());
        for chunk in chunks {
            self.push_outgoing(dst, Body::Heap(chunk), false);
        }
    }

    /// Tries one recently failed member, so two sides of a healed partition find each other;
    /// and a seed when this node is alone.
    pub(super) fn reconnect(&mut self, now: Instant) {
        let window = self.config.reconnect_timeout;
        let n = self.members.len();
        // Sampling reads random member entries (cache misses in a large table): skip it when
        // no member can qualify, because none died within the window.
        if n > 0 && self.members.last_death().is_some_and(|t| now - t < window) {
            for _ in 0..16 {
                let i = self.rng.random_range(0..n);
                let Some(m) = self.members.get(i) else { continue };
                if m.status() == Status::Dead && m.changed_at().is_some_and(|at| now - at < window) {
                    if let Some(addr) = m.addr().map(SocketAddr::from) {
                        self.start_sync(addr);
                    }
                    break;
                }
            }
        }
        if self.members.live() == 0 && self.lifecycle.joined {
            if let Some(seed) = self.lifecycle.random_seed(&mut self.rng) {
                self.stats.syncs_started += 1;
                self.send_state(seed, false);
            }
        }
    }
}

/// SipHash-1-3 (keys 0, 0) of one member's merged state, as the anti-entropy digest sums it:
/// name length (u8) and bytes, status (u8: alive 0, suspect 1, dead 2, left 3), incarnation
/// (u32 LE), then 0 without an alive payload, or 1, the payload's incarnation (u32 LE), the
/// address (4 or 6, octets, port u16 LE), metadata length (u16 LE) and bytes.
fn member_hash(name: &str, liveness: Liveness, payload: Option<PayloadRef<'_>>) -> u64 {
    let mut h = SipHasher13::new_with_keys(0, 0);
    h.write(&[u8::try_from(name.len()).unwrap_or(u8::MAX)]);
    h.write(name.as_bytes());
    let Liveness { incarnation, status } = liveness;
    h.write(&[status as u8]);
    h.write(&incarnation.to_le_bytes());
    match payload {
        None => h.write(&[0]),
        Some(p) => {
            h.write(&[1]);
            h.write(&p.incarnation.to_le_bytes());
            match p.addr {
                Addr::V4(ip, port) => {
                    h.write(&[4]);
                    h.write(&ip);
                    h.write(&port.to_le_bytes());
                }
                Addr::V6(ip, port) => {
                    h.write(&[6]);
                    h.write(&ip);
                    h.write(&port.to_le_bytes());
                }
            }
            h.write(&u16::try_from(p.meta.len()).unwrap_or(u16::MAX).to_le_bytes());
            h.write(p.meta);
        }
    }
    h.finish()
}
