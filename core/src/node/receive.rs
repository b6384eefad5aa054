//! Incoming datagrams: size and rate limits before anything else, then the frame is opened
//! (label, key, replay window) and the whole body decoded and validated before any message in
//! it is applied; then each message goes to the concern it is for.

use alloc::vec::Vec;
use core::net::SocketAddr;

use rand::RngExt;

use super::Node;
use crate::config::Config;
use crate::crypto::ReplayWindow;
use crate::event::Event;
use crate::ratelimit::RateLimiter;
use crate::state::{Liveness, Status, Update};
use crate::time::Instant;
use crate::wire::{self, DecodeError, Header, Message};

/// Replay-window streams (sender lifetimes) tracked, at most.
const MAX_REPLAY_STREAMS: usize = 8192;
/// Messages of one datagram decoded onto the stack before the node's message vector is used.
pub(super) const INLINE_MESSAGES: usize = 4;
/// Message vector capacity kept between datagrams (about 2 KiB); a longer one is released.
const RETAINED_MESSAGES: usize = 32;

/// What the receive path keeps between datagrams: the limits and the decode buffers.
pub(super) struct Inbound {
    limiter: RateLimiter,
    replay: ReplayWindow,
    /// Where encrypted bodies are opened.
    scratch: Vec<u8>,
    /// The decoded messages of a long datagram (empty in between).
    messages: Vec<Message<'static>>,
}

impl Inbound {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, limiter, replay, scratch, messages);
        self.limiter.prefetch_header();
    }

    pub(super) fn new(config: &Config, now: Instant, hash_seed: u64) -> Self {
        Inbound {
            limiter: RateLimiter::new(config.rate_limit, now, hash_seed ^ 1),
            replay: ReplayWindow::new(MAX_REPLAY_STREAMS, hash_seed ^ 2),
            scratch: Vec::new(),
            messages: Vec::new(),
        }
    }

    #[cfg(feature = "prefetch")]
    pub(super) fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Gives back the message vector (empty between datagrams).
    pub(super) fn release(&mut self) {
        self.messages = Vec::new();
    }
}

/// How an update reached us: anti-entropy merges are more cautious than gossip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Gossip,
    Sync,
}

impl Node {
    pub(super) fn receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.stats.packets_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        if self.has_left() {
            return;
        }
        if datagram.len() > self.config.max_inbound_packet {
            self.stats.dropped_oversized += 1;
            return;
        }
        if !self.inbound.limiter.allow(now, from.ip()) {
            self.stats.dropped_rate_limited += 1;
            return;
        }
        let mut scratch = core::mem::take(&mut self.inbound.scratch);
        match self.open_frame(datagram, &mut scratch) {
            Ok((nonce, body)) => {
                // Nearly every packet holds one or two messages: they are decoded onto the
                // stack. Longer packets (gossip, state exchange) go to the message vector,
                // whose allocation is kept between datagrams; it holds no messages in between,
                // so it can change lifetime without copying anything.
                let mut inline = [Message::Ack { seq: 0 }; INLINE_MESSAGES];
                let mut count = 0;
                let mut msgs = recycle(core::mem::take(&mut self.inbound.messages));
                let decoded = wire::decode_body_with(body, |msg| {
                    if let Some(slot) = inline.get_mut(count) {
                        *slot = msg;
                    } else {
                        if count == INLINE_MESSAGES {
                            msgs.extend_from_slice(&inline);
                        }
                        msgs.push(msg);
                    }
                    count += 1;
                });
                match decoded {
                    Ok(skipped) => {
                        if skipped > 0 {
                            self.stats.unknown_messages_skipped += skipped as u64;
                        }
                        if let Some(nonce) = nonce {
                            self.inbound.replay.record(&nonce);
                        }
                        let list =
                            if count <= INLINE_MESSAGES { inline.get(..count).unwrap_or_default() } else { &msgs };
                        self.process(now, from, list);
                    }
                    Err(e) => self.count_drop(e),
                }
                // A state-exchange chunk can hold a hundred messages: that allocation is
                // given back rather than kept by every node between exchanges.
                if msgs.capacity() > RETAINED_MESSAGES {
                    msgs = Vec::new();
                }
                self.inbound.messages = recycle(msgs);
            }
            Err(e) => self.count_drop(e),
        }
        self.inbound.scratch = scratch;
    }

    /// Checks the header and opens the body (in place for plaintext, decrypted into
    /// `scratch` otherwise); returns, for encrypted frames, the nonce to record once the body
    /// decodes. The replay check comes before decryption.
    fn open_frame<'a>(
        &self,
        datagram: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<(Option<[u8; wire::NONCE_LEN]>, &'a [u8]), DecodeError> {
        let header = Header::parse(datagram)?;
        let label = self.config.label.as_bytes();
        if header.encrypted && header.label == label && !self.inbound.replay.check(&header.nonce) {
            return Err(DecodeError::Replayed);
        }
        let (header, body) = wire::open_frame(&self.config.keyring, label, datagram, scratch)?;
        Ok((header.encrypted.then_some(header.nonce), body))
    }

    fn count_drop(&mut self, e: DecodeError) {
        let s = &mut self.stats;
        match e {
            DecodeError::UnknownVersion(_) | DecodeError::UnknownFlags(_) => s.dropped_version += 1,
            DecodeError::WrongLabel => s.dropped_label += 1,
            DecodeError::EncryptionMismatch | DecodeError::Unauthenticated => s.dropped_auth += 1,
            DecodeError::Replayed => s.dropped_replay += 1,
            DecodeError::Truncated
            | DecodeError::BadMagic
            | DecodeError::Malformed
            | DecodeError::BadName
            | DecodeError::MetaTooLong
            | DecodeError::TooManyMessages => s.dropped_malformed += 1,
            DecodeError::BadChecksum => s.dropped_checksum += 1,
        }
    }

    /// Applies the messages of one valid datagram from `from`, in order, then sends what
    /// answers it: our state for a state request or a differing digest, else the corrections
    /// collected.
    fn process(&mut self, now: Instant, from: SocketAddr, msgs: &[Message<'_>]) {
        let mut via = Via::Gossip;
        let mut sync_request = false;
        let mut digest_differs = false;
        let batch = self.hints.start_packet(self.members.table(), msgs);
        for (k, msg) in msgs.iter().enumerate() {
            self.hints.next_message(&batch, k);
            match *msg {
                Message::Ping { seq, target } => {
                    if target == &*self.local.name {
                        // The sender has this node's claim in its table.
                        self.local.accepted = true;
                        self.send(from, &[Message::Ack { seq }], true);
                    } else {
                        self.stats.misdirected_pings += 1;
                    }
                }
                Message::Ack { seq } => self.on_ack(seq),
                Message::Nack { seq } => {
                    if self.probe.nacked(seq) {
                        self.stats.nacks_received += 1;
                    }
                }
                Message::PingReq { seq, target, addr, nack } => {
                    self.on_ping_req(now, from, seq, target, addr.into(), nack)
                }
                Message::Alive { name, incarnation, addr, meta } => {
                    self.apply(now, name, Update::Alive { incarnation, addr: addr.into(), meta }, None, Some(from));
                }
                Message::Suspect { name, incarnation, from: by } => {
                    self.apply(now, name, status(incarnation, Status::Suspect), Some(by), Some(from));
                }
                Message::Dead { name, incarnation, from: by } => {
                    // A failure learnt through anti-entropy is only a suspicion here: this
                    // node checks for itself, which keeps one stale replica from killing
                    // members across a healed partition.
                    let s = if via == Via::Sync { Status::Suspect } else { Status::Dead };
                    self.apply(now, name, status(incarnation, s), Some(by), Some(from));
                }
                Message::Left { name, incarnation } => {
                    self.apply(now, name, status(incarnation, Status::Left), None, Some(from));
                }
                Message::User { origin, id, payload } => self.on_user(now, origin, id, payload, msg),
                Message::Digest { from: _, digest, members } => {
                    if self.state_digest_cached() == (digest, members) {
                        self.stats.syncs_in_sync += 1;
                    } else {
                        digest_differs = true;
                    }
                }
                Message::Sync { from: _, reply } => {
                    via = Via::Sync;
                    self.hints.sync_started();
                    sync_request |= !reply;
                    if !self.lifecycle.joined {
                        self.lifecycle.joined_now();
                        self.push_event(Event::Joined);
                        // The seed's answer may predate members that joined at the same time,
                        // and their alive gossip may have finished before anyone knew us:
                        // exchange state with a random member soon rather than in a full
                        // anti-entropy interval.
                        let soon = self.config.probe_interval.saturating_mul(2).mul_f64(1.0 + self.rng.random::<f64>());
                        self.sync.push_pull_by(now + soon);
                    }
                }
            }
        }
        self.hints.end_packet();
        if (sync_request || digest_differs) && self.lifecycle.leave.is_none() {
            self.answer_sync(now, from, sync_request);
        }
        self.flush_answer(from);
    }
}

fn status(incarnation: u32, status: Status) -> Update<'static> {
    Update::Status(Liveness { incarnation, status })
}

/// Empties `v` and hands its allocation over as a vector of another lifetime: collecting in
/// place reuses the buffer (same element layout) and there is no element to convert. This is
/// how one message vector serves every datagram without an allocation per packet.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(mut v: Vec<Message<'_>>) -> Vec<Message<'b>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}
