//! What the core tells the application: events and the members view.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

pub use crate::state::Status;

/// A read-only view of one member, borrowed from the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberView<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Address it is probed at.
    pub addr: SocketAddr,
    /// Liveness in this node's view.
    pub status: Status,
    /// Current incarnation.
    pub incarnation: u32,
    /// Application metadata.
    pub meta: &'a [u8],
}

impl MemberView<'_> {
    /// An owned copy.
    pub fn to_member(&self) -> Member {
        Member {
            name: self.name.into(),
            addr: self.addr,
            status: self.status,
            incarnation: self.incarnation,
            meta: self.meta.to_vec(),
        }
    }
}

/// How many members are in each status ([`Node::member_counts`](crate::Node::member_counts)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberCounts {
    /// Alive members.
    pub alive: u32,
    /// Suspected members.
    pub suspect: u32,
    /// Members declared failed (`Status::Dead`), until their tombstone is reaped.
    pub failed: u32,
    /// Members that left, until their tombstone is reaped.
    pub left: u32,
}

/// An owned snapshot of one member, as carried by events.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    /// Unique name.
    pub name: String,
    /// Address it is probed at.
    pub addr: SocketAddr,
    /// Liveness in this node's view.
    pub status: Status,
    /// Current incarnation.
    pub incarnation: u32,
    /// Application metadata.
    pub meta: Vec<u8>,
}

/// Something the application may want to know; drained with [`Node::poll_event`](crate::Node::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A member became alive in this node's view: new, or back after failing or leaving.
    MemberJoined(Member),
    /// An alive member changed its metadata or address.
    MemberUpdated(Member),
    /// A member is suspected of having failed.
    MemberSuspect(Member),
    /// A suspect member refuted the suspicion and is alive.
    MemberAlive(Member),
    /// A member was declared failed.
    MemberFailed(Member),
    /// A member left gracefully.
    MemberLeft(Member),
    /// An application broadcast arrived (delivered once per node).
    UserBroadcast {
        /// Name of the node that sent it.
        origin: String,
        /// Its bytes.
        payload: Vec<u8>,
    },
    /// Another node claims a name at a different address (two processes share a name, or a
    /// member moved before its old address was known failed). Neither side is changed; the
    /// incumbent keeps the name until it fails or leaves.
    NameConflict {
        /// The contested name.
        name: String,
        /// The address this node knows for it.
        known: SocketAddr,
        /// The address of the new claim.
        claimed: SocketAddr,
    },
    /// This node exchanged state with another member for the first time (a seed answered its
    /// join, or another node joined through it): it is part of a cluster.
    Joined,
    /// A graceful leave finished: the process may exit now.
    LeaveComplete {
        /// Members that acknowledged the leave notice (0 if the leave timed out or the node
        /// was alone).
        acknowledged: u32,
    },
}
