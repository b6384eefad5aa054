//! What the core tells the application: events and the members view.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::str::FromStr;

pub use crate::state::Status;

impl Status {
    /// Every status, in merge order.
    pub const ALL: [Status; 4] = [Status::Alive, Status::Suspect, Status::Dead, Status::Left];

    /// The status's name as users see it (JSON, metrics, the CLI, every binding): `alive`,
    /// `suspect`, `failed` ([`Status::Dead`]) or `left`. [`FromStr`] reads the same names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Suspect => "suspect",
            Status::Dead => "failed",
            Status::Left => "left",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a status name ([`Status::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseStatusError;

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a member status (expected alive, suspect, failed or left)")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseStatusError {}

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|status| status.as_str() == s).ok_or(ParseStatusError)
    }
}

/// A status is serialized as its name ([`Status::as_str`]).
#[cfg(feature = "serde")]
impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("alive, suspect, failed or left")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Status, E> {
                s.parse().map_err(|_| E::unknown_variant(s, &["alive", "suspect", "failed", "left"]))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

impl MemberCounts {
    /// The count of members in `status`.
    pub const fn of(&self, status: Status) -> u32 {
        match status {
            Status::Alive => self.alive,
            Status::Suspect => self.suspect,
            Status::Dead => self.failed,
            Status::Left => self.left,
        }
    }

    /// Each status with its count, in [`Status::ALL`] order.
    pub fn by_status(&self) -> [(Status, u32); 4] {
        Status::ALL.map(|status| (status, self.of(status)))
    }
}

/// An owned snapshot of one member, as carried by events.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
///
/// With the `serde` feature an event serializes as an object whose `type` is its
/// [`kind`](Event::kind), beside the member's fields or the variant's own:
/// `{"type":"member-failed","name":"b","addr":"10.0.0.2:7946","status":"failed",…}`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "type", rename_all = "kebab-case")
)]
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
    /// An application broadcast arrived (delivered once per node). Its bytes are a user event
    /// ([`user_event::decode`](crate::user_event::decode)), hence the kind `user-event`.
    #[cfg_attr(feature = "serde", serde(rename = "user-event"))]
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

impl Event {
    /// The event's kind as users see it (JSON `type`, server-sent event names, every binding):
    /// `member-joined`, `member-updated`, `member-suspect`, `member-alive`, `member-failed`,
    /// `member-left`, `user-event`, `name-conflict`, `joined` or `leave-complete`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Event::MemberJoined(_) => "member-joined",
            Event::MemberUpdated(_) => "member-updated",
            Event::MemberSuspect(_) => "member-suspect",
            Event::MemberAlive(_) => "member-alive",
            Event::MemberFailed(_) => "member-failed",
            Event::MemberLeft(_) => "member-left",
            Event::UserBroadcast { .. } => "user-event",
            Event::NameConflict { .. } => "name-conflict",
            Event::Joined => "joined",
            Event::LeaveComplete { .. } => "leave-complete",
        }
    }

    /// The member the event is about, for the six member events.
    pub const fn member(&self) -> Option<&Member> {
        match self {
            Event::MemberJoined(m)
            | Event::MemberUpdated(m)
            | Event::MemberSuspect(m)
            | Event::MemberAlive(m)
            | Event::MemberFailed(m)
            | Event::MemberLeft(m) => Some(m),
            Event::UserBroadcast { .. } | Event::NameConflict { .. } | Event::Joined | Event::LeaveComplete { .. } => {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["alive", "suspect", "failed", "left"]);
        for s in Status::ALL {
            assert_eq!(s.as_str().parse(), Ok(s));
            assert_eq!(alloc::format!("{s}"), s.as_str());
        }
        assert_eq!("dead".parse::<Status>(), Err(ParseStatusError), "users never see `dead`");
        assert_eq!("Alive".parse::<Status>(), Err(ParseStatusError));
    }

    #[test]
    fn counts_by_status() {
        let c = MemberCounts { alive: 3, suspect: 1, failed: 0, left: 2 };
        assert_eq!(
            c.by_status().map(|(s, n)| (s.as_str(), n)),
            [("alive", 3), ("suspect", 1), ("failed", 0), ("left", 2)]
        );
    }

    /// The JSON shape bindings and tools see with the `serde` feature.
    #[cfg(feature = "serde")]
    #[test]
    fn json_shape() {
        use serde_json::json;
        let member = Member {
            name: "b".into(),
            addr: SocketAddr::from(([10, 0, 0, 2], 7946)),
            status: Status::Dead,
            incarnation: 3,
            meta: alloc::vec![1, 2],
        };
        let events = [
            (
                Event::MemberFailed(member.clone()),
                json!({"type": "member-failed", "name": "b", "addr": "10.0.0.2:7946", "status": "failed", "incarnation": 3, "meta": [1, 2]}),
            ),
            (
                Event::UserBroadcast { origin: "a".into(), payload: b"n\0p".to_vec() },
                json!({"type": "user-event", "origin": "a", "payload": [110, 0, 112]}),
            ),
            (
                Event::NameConflict {
                    name: "b".into(),
                    known: member.addr,
                    claimed: SocketAddr::from(([10, 0, 0, 3], 1)),
                },
                json!({"type": "name-conflict", "name": "b", "known": "10.0.0.2:7946", "claimed": "10.0.0.3:1"}),
            ),
            (Event::Joined, json!({"type": "joined"})),
            (Event::LeaveComplete { acknowledged: 2 }, json!({"type": "leave-complete", "acknowledged": 2})),
        ];
        for (event, want) in events {
            let got = serde_json::to_value(&event).unwrap();
            assert_eq!(got, want);
            assert_eq!(got["type"], event.kind(), "the serde tag is the kind");
            assert_eq!(serde_json::from_value::<Event>(got).unwrap(), event);
        }
        for kind in
            [Event::MemberJoined, Event::MemberUpdated, Event::MemberSuspect, Event::MemberAlive, Event::MemberLeft]
        {
            let event = kind(member.clone());
            assert_eq!(serde_json::to_value(&event).unwrap()["type"], event.kind());
        }
        assert_eq!(serde_json::to_value(Status::Left).unwrap(), json!("left"));
        assert!(serde_json::from_value::<Status>(json!("dead")).is_err());
        let counts = MemberCounts { alive: 3, suspect: 1, failed: 0, left: 2 };
        assert_eq!(serde_json::to_value(counts).unwrap(), json!({"alive": 3, "suspect": 1, "failed": 0, "left": 2}));
        let stats = serde_json::to_value(crate::Stats { packets_in: 5, ..Default::default() }).unwrap();
        assert_eq!(stats["packets_in"], 5);
        assert_eq!(stats["dropped_auth"], 0);
    }
}
