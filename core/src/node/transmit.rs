//! Outgoing datagrams: queued bodies (the outbox), assembled into frames when the runtime
//! asks ([`Node::poll_transmit`]), with queued gossip piggybacked and the frame sealed; and
//! the answer to the datagram being handled, collected while it is processed and sent as one
//! datagram after it.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::SocketAddr;

use super::{Node, Transmit};
use crate::crypto::NonceSeq;
use crate::wire::{self, CHECKSUM_LEN, Header, Message, NONCE_LEN, TAG_LEN};

/// Packets waiting for `poll_transmit`, at most; the oldest is dropped first.
const MAX_OUTBOX: usize = 4096;
/// Queued datagrams' room kept once the outbox is empty; more is released.
const RETAINED_OUTGOING: usize = 8;
/// Answer buffer capacity kept between datagrams; a longer one (a state-exchange chunk full
/// of stale records was answered) is released.
const RETAINED_ANSWER: usize = 256;
/// Longest body kept inline: a probe, an ack, a ping-req or a suspicion with names of up to
/// 64 bytes.
const INLINE_BODY: usize = 110;

/// The primary messages of an outgoing packet. Most are a few dozen bytes (probes, acks), so
/// they are stored inline, without an allocation per packet; state-exchange chunks and alive
/// claims with long metadata go on the heap.
#[derive(Clone, Debug)]
pub(super) enum Body {
    Inline { len: u8, bytes: [u8; INLINE_BODY] },
    Heap(Vec<u8>),
}

impl Body {
    pub(super) fn new() -> Self {
        Body::Inline { len: 0, bytes: [0; INLINE_BODY] }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Body::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Body::Heap(v) => v,
        }
    }

    pub(super) fn extend_from_slice(&mut self, more: &[u8]) {
        if let Body::Inline { len, bytes } = self {
            let at = usize::from(*len);
            if let (Some(dst), Ok(new_len)) = (bytes.get_mut(at..at + more.len()), u8::try_from(at + more.len())) {
                dst.copy_from_slice(more);
                *len = new_len;
                return;
            }
            *self = Body::Heap(self.as_slice().to_vec());
        }
        if let Body::Heap(v) = self {
            v.extend_from_slice(more);
        }
    }

    /// Appends one length-prefixed message, exactly as [`wire::encode_to_vec`] encodes it.
    fn push_message(&mut self, msg: &Message<'_>) {
        if let Body::Inline { len, bytes } = self {
            let mut pos = usize::from(*len);
            if wire::encode_into(msg, bytes, &mut pos) {
                if let Ok(new_len) = u8::try_from(pos) {
                    *len = new_len;
                    return;
                }
            }
        }
        self.extend_from_slice(&wire::encode_to_vec(msg));
    }
}

/// The body of `msgs`, each length-prefixed.
pub(super) fn encode_msgs(msgs: &[Message<'_>]) -> Body {
    let mut out = Body::new();
    for m in msgs {
        out.push_message(m);
    }
    out
}

#[derive(Clone, Debug)]
struct Outgoing {
    destination: SocketAddr,
    body: Body,
    /// Whether queued gossip may be appended.
    piggyback: bool,
}

/// The datagrams waiting for [`Node::poll_transmit`], oldest first. Nearly every input makes
/// at most one (a probe, an ack), so the oldest is kept in the node itself and only a
/// backlog reaches the heap: the common path touches no second allocation.
#[derive(Debug, Default)]
struct Outbox {
    head: Option<Outgoing>,
    rest: VecDeque<Outgoing>,
}

impl Outbox {
    fn len(&self) -> usize {
        usize::from(self.head.is_some()) + self.rest.len()
    }

    fn push_back(&mut self, out: Outgoing) {
        if self.head.is_none() && self.rest.is_empty() {
            self.head = Some(out);
        } else {
            self.rest.push_back(out);
        }
    }

    fn pop_front(&mut self) -> Option<Outgoing> {
        let out = self.head.take().or_else(|| self.rest.pop_front());
        if self.rest.is_empty() && self.rest.capacity() > RETAINED_OUTGOING {
            // A burst (a join's state exchanges) grew it; an idle agent would keep ~150
            // bytes per slot of it (19 KiB for 128 slots, measured).
            self.rest = VecDeque::new();
        }
        out
    }
}

/// What leaves the node: the outbox, the answer being collected, the nonce sequence.
pub(super) struct Outbound {
    outbox: Outbox,
    /// Corrections for the sender of the datagram being handled (see [`Node::answer`]):
    /// encoded messages, sent as one datagram when the datagram is done. Empty in between.
    answer: Vec<u8>,
    nonces: NonceSeq,
}

impl Outbound {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, answer, nonces);
        crate::hint::prefetch_fields!(self.outbox, head, rest);
    }

    pub(super) fn new(nonce: [u8; NONCE_LEN]) -> Self {
        Outbound { outbox: Outbox::default(), answer: Vec::new(), nonces: NonceSeq::new(nonce) }
    }

    /// Drops the answer collected so far (a state exchange carries it all).
    pub(super) fn clear_answer(&mut self) {
        self.answer.clear();
    }

    /// Gives back the room a burst grew while nothing is waiting.
    pub(super) fn release(&mut self) {
        if self.outbox.len() == 0 {
            self.outbox.rest = VecDeque::new();
        }
    }
}

impl Node {
    pub(super) fn transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(out) = self.outbound.outbox.pop_front() {
            if let Some(size) = self.assemble(&out, buf) {
                self.stats.packets_out += 1;
                self.stats.bytes_out += size as u64;
                return Some(Transmit { destination: out.destination, size });
            }
        }
        None
    }

    /// Frames one outgoing packet; `None` if there is nothing worth sending or it cannot fit.
    fn assemble(&mut self, out: &Outgoing, buf: &mut [u8]) -> Option<usize> {
        let limit = buf.len().min(self.config.mtu);
        let buf = buf.get_mut(..limit)?;
        let encrypted = self.config.keyring.is_enabled();
        let label = self.config.label.as_bytes();
        let header_len = Header::encoded_len(label, encrypted);
        let body_end = limit.checked_sub(if encrypted { TAG_LEN } else { CHECKSUM_LEN })?;
        let mut pos = header_len;
        let out_body = out.body.as_slice();
        let body = buf.get_mut(pos..pos + out_body.len()).filter(|_| pos + out_body.len() <= body_end);
        let Some(body) = body else {
            self.stats.outbox_dropped += 1;
            return None;
        };
        body.copy_from_slice(out_body);
        pos += out_body.len();
        if out.piggyback {
            let scale = self.members.retransmit_scale();
            self.gossip.fill(buf.get_mut(..body_end)?, &mut pos, scale, &self.config);
        }
        if pos == header_len {
            return None;
        }
        if !encrypted {
            Header::write(buf, label, None)?;
            let crc = wire::checksum(buf.get(..pos)?);
            buf.get_mut(pos..pos + CHECKSUM_LEN)?.copy_from_slice(&crc);
            return Some(pos + CHECKSUM_LEN);
        }
        let nonce = self.outbound.nonces.next_nonce();
        let key_id = self.config.keyring.primary_id()?;
        Header::write(buf, label, Some((key_id, nonce)))?;
        let (head, rest) = buf.split_at_mut(header_len);
        let sealed_body = rest.get_mut(..pos - header_len)?;
        let (_, tag) = self.config.keyring.seal(nonce, head, sealed_body)?;
        buf.get_mut(pos..pos + TAG_LEN)?.copy_from_slice(&tag);
        Some(pos + TAG_LEN)
    }

    /// Body bytes available in a packet. Always leaves room for encryption, so a packet sized
    /// before a key is installed still fits after.
    pub(super) fn packet_space(&self) -> usize {
        self.config.mtu - Header::encoded_len(self.config.label.as_bytes(), true) - TAG_LEN
    }

    pub(super) fn send(&mut self, dst: SocketAddr, msgs: &[Message<'_>], piggyback: bool) {
        self.push_outgoing(dst, encode_msgs(msgs), piggyback);
    }

    pub(super) fn push_outgoing(&mut self, destination: SocketAddr, body: Body, piggyback: bool) {
        let outbox = &mut self.outbound.outbox;
        if outbox.len() >= MAX_OUTBOX {
            let _ = outbox.pop_front();
            self.stats.outbox_dropped += 1;
        }
        outbox.push_back(Outgoing { destination, body, piggyback });
    }

    /// Adds one encoded correction to the answer to the datagram being handled, which comes
    /// from `dst`. Whatever one datagram says that we know better (refuted suspicions, a
    /// suspicion of this node, a leave) is answered by one datagram, sent after it is handled
    /// and without piggybacked gossip: an answer per stale message, each carrying gossip
    /// that other nodes may hold stale too, was most of the traffic under heavy loss.
    pub(super) fn answer(&mut self, dst: SocketAddr, encoded: &[u8]) {
        if self.outbound.answer.len() + encoded.len() > self.packet_space() {
            self.flush_answer(dst);
        }
        self.outbound.answer.extend_from_slice(encoded);
    }

    /// Sends the answer collected for the datagram from `dst`, if any.
    pub(super) fn flush_answer(&mut self, dst: SocketAddr) {
        if self.outbound.answer.is_empty() {
            return;
        }
        let mut body = Body::new();
        body.extend_from_slice(&self.outbound.answer);
        self.outbound.answer.clear();
        if self.outbound.answer.capacity() > RETAINED_ANSWER {
            self.outbound.answer = Vec::new();
        }
        self.push_outgoing(dst, body, false);
    }
}
