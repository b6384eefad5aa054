//! Counters the core keeps; runtimes export them (Prometheus, Python, JS, Swift).

/// Monotonic counters since the node was created. Every dropped datagram is counted under
/// exactly one `dropped_*` reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub packets_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams produced by `poll_transmit`.
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Probes this node started.
    pub probes_sent: u64,
    /// Larger than `max_inbound_packet`.
    pub dropped_oversized: u64,
    /// Over the per-source or global rate limit.
    pub dropped_rate_limited: u64,
    /// Not a well-formed frame or body (bad magic, truncated, malformed, bad names, …).
    pub dropped_malformed: u64,
    /// A wire version this node does not speak, or unknown flags.
    pub dropped_version: u64,
    /// Another cluster's label.
    pub dropped_label: u64,
    /// Failed authentication: wrong key, tampered, or encrypted/plain mismatch.
    pub dropped_auth: u64,
    /// A replayed nonce.
    pub dropped_replay: u64,
    /// Plaintext datagrams whose CRC-32 did not match: corrupted in transit.
    pub dropped_checksum: u64,
    /// Messages of types newer than this version knows, skipped (the rest of their packet
    /// was processed).
    pub unknown_messages_skipped: u64,
    /// Pings for a name other than ours (a stale address); not answered.
    pub misdirected_pings: u64,
    /// Probes that got no ack, directly or indirectly.
    pub probes_failed: u64,
    /// Pings sent a second time because no ack had come: the direct ping when the indirect
    /// probes go out, and a ping relayed for another member halfway to its nack.
    pub pings_resent: u64,
    /// Indirect probe requests (PING-REQ) sent.
    pub indirect_probes_sent: u64,
    /// Nacks received from indirect probers.
    pub nacks_received: u64,
    /// Suspicions this node raised from its own failed probes.
    pub suspicions_raised: u64,
    /// Suspect members that came back alive (refuted) in this node's view.
    pub suspicions_refuted: u64,
    /// Times this node refuted a suspicion, failure or stale claim about itself.
    pub refutations: u64,
    /// Members this node declared failed when their suspicion timed out.
    pub failures_declared: u64,
    /// Alive claims for a known live name from another address, ignored.
    pub name_conflicts: u64,
    /// Updates about new names ignored because `max_members` was reached.
    pub members_over_limit: u64,
    /// User broadcasts evicted from the queue before being fully retransmitted.
    pub user_broadcasts_dropped: u64,
    /// Stale suspicions or failures answered directly with the newer alive claim or the
    /// member's leave.
    pub stale_repairs: u64,
    /// Anti-entropy exchanges started (digests sent, and full-state requests to seeds).
    pub syncs_started: u64,
    /// Anti-entropy digests received that matched this node's own: the views already
    /// agreed, so no state was exchanged.
    pub syncs_in_sync: u64,
    /// Anti-entropy requests not answered because of `RateLimit::sync_replies_per_sec`.
    pub sync_replies_refused: u64,
    /// Outgoing packets dropped because the caller stopped draining `poll_transmit`.
    pub outbox_dropped: u64,
}

/// Why a datagram was dropped: what [`Node::handle_datagram`](crate::Node::handle_datagram)
/// returns for a datagram it refused, one reason per `Stats::dropped_*` counter, so a runtime
/// can say what happened (the agent logs it, rate-limited, per reason and source).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dropped {
    /// Larger than `max_inbound_packet` ([`Stats::dropped_oversized`]).
    Oversized,
    /// Over the per-source or global rate limit ([`Stats::dropped_rate_limited`]).
    RateLimited,
    /// Not a well-formed frame or body ([`Stats::dropped_malformed`]).
    Malformed,
    /// A wire version this node does not speak, or unknown flags ([`Stats::dropped_version`]).
    Version,
    /// Another cluster's label ([`Stats::dropped_label`]).
    Label,
    /// Failed authentication: sealed with a key this node does not hold, tampered with, or
    /// sealed where this node expects plaintext or the reverse ([`Stats::dropped_auth`]).
    Auth,
    /// A replayed nonce ([`Stats::dropped_replay`]).
    Replay,
    /// A plaintext frame whose CRC-32 does not match ([`Stats::dropped_checksum`]).
    Checksum,
}

impl Dropped {
    /// Every reason, in the order of the counters.
    pub const ALL: [Dropped; 8] = [
        Dropped::Oversized,
        Dropped::RateLimited,
        Dropped::Malformed,
        Dropped::Version,
        Dropped::Label,
        Dropped::Auth,
        Dropped::Replay,
        Dropped::Checksum,
    ];

    /// The reason's name as metrics label it (`rumor_dropped_packets_total{reason="auth"}`):
    /// `oversized`, `rate_limit`, `decode`, `version`, `label`, `auth`, `replay`, `checksum`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dropped::Oversized => "oversized",
            Dropped::RateLimited => "rate_limit",
            Dropped::Malformed => "decode",
            Dropped::Version => "version",
            Dropped::Label => "label",
            Dropped::Auth => "auth",
            Dropped::Replay => "replay",
            Dropped::Checksum => "checksum",
        }
    }

    /// What an operator should check when datagrams are dropped for this reason.
    pub const fn hint(self) -> &'static str {
        match self {
            Dropped::Oversized => "larger than max_inbound_packet: is the sender's mtu larger than ours?",
            Dropped::RateLimited => "over the inbound rate limit: a flood, or a sender far busier than a member",
            Dropped::Malformed => "not a valid Rumor frame: is something else sending to this port?",
            Dropped::Version => "a wire version or flags this node does not speak: mixed software versions?",
            Dropped::Label => "another cluster's label: is --label the same on both sides?",
            Dropped::Auth => {
                "not authenticated: same key on both sides (--keyring)? one side encrypted and the other not?"
            }
            Dropped::Replay => "a replayed frame (a nonce seen before): a replay attack, or a duplicating network",
            Dropped::Checksum => {
                "a plaintext frame corrupted in transit (its checksum does not match): a faulty link or NIC?"
            }
        }
    }
}

impl core::fmt::Display for Dropped {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Stats {
    /// Datagrams dropped for `reason` (its `dropped_*` counter), so a runtime can export every
    /// reason by iterating [`Dropped::ALL`].
    pub fn dropped(&self, reason: Dropped) -> u64 {
        // Through a copy, so that the reason-to-counter mapping is written once (`dropped_mut`).
        let mut copy = *self;
        *copy.dropped_mut(reason)
    }

    /// Counts one dropped datagram under its reason.
    pub(crate) fn count_drop(&mut self, reason: Dropped) {
        *self.dropped_mut(reason) += 1;
    }

    fn dropped_mut(&mut self, reason: Dropped) -> &mut u64 {
        match reason {
            Dropped::Oversized => &mut self.dropped_oversized,
            Dropped::RateLimited => &mut self.dropped_rate_limited,
            Dropped::Malformed => &mut self.dropped_malformed,
            Dropped::Version => &mut self.dropped_version,
            Dropped::Label => &mut self.dropped_label,
            Dropped::Auth => &mut self.dropped_auth,
            Dropped::Replay => &mut self.dropped_replay,
            Dropped::Checksum => &mut self.dropped_checksum,
        }
    }
}

/// Round-trip times of this node's answered probes (ping sent to ack received, directly or
/// through the indirect probers), as histogram buckets: runtimes export it as a Prometheus
/// histogram. Cumulative since the node was created, like [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProbeRtt {
    /// Answered probes per bucket: `counts[i]` took at most [`ProbeRtt::BOUNDS_MICROS`]`[i]`
    /// and more than the bound before it; the last bucket holds everything slower than the
    /// last bound. Not cumulative.
    pub counts: [u64; ProbeRtt::BUCKETS],
    /// Sum of every round trip, in microseconds.
    pub sum_micros: u64,
}

impl ProbeRtt {
    /// Upper bounds of the buckets in microseconds (the last bucket has none): 0.25 ms to 5 s.
    pub const BOUNDS_MICROS: [u64; 14] = [
        250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
        5_000_000,
    ];
    /// Number of buckets: one per bound, and one above the last.
    pub const BUCKETS: usize = ProbeRtt::BOUNDS_MICROS.len() + 1;

    /// Counts one round trip.
    pub fn record(&mut self, rtt: core::time::Duration) {
        let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        let bucket = ProbeRtt::BOUNDS_MICROS.iter().position(|&b| micros <= b).unwrap_or(ProbeRtt::BOUNDS_MICROS.len());
        if let Some(c) = self.counts.get_mut(bucket) {
            *c += 1;
        }
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    /// Round trips counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn each_drop_reason_has_its_own_counter() {
        for (i, &reason) in Dropped::ALL.iter().enumerate() {
            let mut s = Stats::default();
            s.count_drop(reason);
            let counts: [u64; 8] = Dropped::ALL.map(|r| s.dropped(r));
            assert_eq!(counts.iter().sum::<u64>(), 1, "{reason}");
            assert_eq!(counts[i], 1, "{reason}");
        }
        let names: alloc::collections::BTreeSet<&str> = Dropped::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Dropped::ALL.len());
    }

    #[test]
    fn rtt_buckets_by_upper_bound() {
        let mut h = ProbeRtt::default();
        h.record(Duration::from_micros(250));
        h.record(Duration::from_micros(251));
        h.record(Duration::from_secs(9));
        assert_eq!(&h.counts[..3], &[1, 1, 0]);
        assert_eq!(h.counts[ProbeRtt::BUCKETS - 1], 1);
        assert_eq!((h.count(), h.sum_micros), (3, 9_000_501));
    }
}
