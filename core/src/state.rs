//! Merge rules for one member's state (ARCHITECTURE.md, "Protocol decisions"), as a
//! join-semilattice.
//!
//! A member's state is two independent parts, each merged by taking the maximum under a total
//! order, so merging is commutative, associative and idempotent (proven by the property tests
//! below): replicas that have seen the same updates, in any order and any number of times,
//! agree.
//!
//! - **Liveness** `(incarnation, status)`: higher incarnation wins; at equal incarnation
//!   `Left > Dead > Suspect > Alive` — a graceful leave is final for its incarnation, and a
//!   failure beats a suspicion beats an alive claim.
//! - **Payload** `(incarnation, addr, meta)` from the highest-incarnation alive claim; address
//!   and metadata break ties so two conflicting claims at one incarnation still converge.
//!
//! Keeping the payload apart is what makes the merge order-free: a suspicion at incarnation 5
//! that overtakes the alive claim at 5 that carried a new address must not lose that address.

use core::net::SocketAddr;

use thin_vec::ThinVec;

use crate::wire::Addr;

/// A member's liveness status. The order is the merge priority at equal incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Answering probes (or not yet suspected).
    Alive,
    /// A probe failed; it has until the suspicion timeout to refute.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left gracefully.
    Left,
}

/// `(incarnation, status)`; the derived order is the merge order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Liveness {
    /// Incarnation the status holds for.
    pub incarnation: u32,
    /// The status.
    pub status: Status,
}

/// What the highest-incarnation alive claim said; the derived order is the merge order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Payload {
    /// Incarnation of the alive claim.
    pub incarnation: u32,
    /// Address the member is reached at, as the wire carries it (the members' addresses all
    /// come from the wire; 20 bytes instead of a `SocketAddr`'s 32, which counts at 10 000
    /// members per node). It orders exactly as the `SocketAddr` would.
    pub addr: Addr,
    /// Application metadata. A thin vector (one pointer, no allocation when empty) rather
    /// than a boxed slice: 8 bytes less in every member record.
    pub meta: ThinVec<u8>,
}

/// One update about a member, as carried by an Alive / Suspect / Dead / Left message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update<'a> {
    /// Alive at an incarnation, with address and metadata.
    Alive {
        /// Incarnation.
        incarnation: u32,
        /// Address.
        addr: SocketAddr,
        /// Metadata.
        meta: &'a [u8],
    },
    /// Suspected, failed or left at an incarnation.
    Status(Liveness),
}

/// A member's merged state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Merged liveness.
    pub liveness: Liveness,
    /// Merged alive payload; `None` until an alive claim has been seen (such a member is not
    /// reported to the application).
    pub payload: Option<Payload>,
}

/// What a merge changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Merged {
    /// The liveness part grew.
    pub liveness: bool,
    /// The payload part grew.
    pub payload: bool,
}

impl Merged {
    /// Whether anything changed (the update was news and should be re-gossiped).
    pub fn any(self) -> bool {
        self.liveness || self.payload
    }
}

impl State {
    /// The state after only `update`.
    pub fn from_update(update: Update<'_>) -> Self {
        let mut s = State { liveness: Liveness { incarnation: 0, status: Status::Alive }, payload: None };
        match update {
            Update::Status(l) => s.liveness = l,
            Update::Alive { incarnation, addr, meta } => {
                s.liveness.incarnation = incarnation;
                s.payload = Some(Payload { incarnation, addr: addr.into(), meta: meta.into() });
            }
        }
        s
    }

    /// Merges `update` in place.
    pub fn merge(&mut self, update: Update<'_>) -> Merged {
        let mut merged = Merged::default();
        let liveness = match update {
            Update::Status(l) => l,
            Update::Alive { incarnation, addr, meta } => {
                let addr = Addr::from(addr);
                let newer = match &self.payload {
                    None => true,
                    // Most gossip repeats what is known: settle it on the incarnation alone.
                    Some(p) if incarnation != p.incarnation => incarnation > p.incarnation,
                    Some(p) if addr == p.addr && *meta == *p.meta => false,
                    Some(p) => (addr, meta) > (p.addr, &p.meta[..]),
                };
                if newer {
                    match &mut self.payload {
                        // A refutation or address change usually keeps the metadata: reuse it.
                        Some(p) if *p.meta == *meta => {
                            p.incarnation = incarnation;
                            p.addr = addr;
                        }
                        _ => self.payload = Some(Payload { incarnation, addr, meta: meta.into() }),
                    }
                    merged.payload = true;
                }
                Liveness { incarnation, status: Status::Alive }
            }
        };
        if liveness > self.liveness {
            self.liveness = liveness;
            merged.liveness = true;
        }
        merged
    }

    /// Merges another replica's whole state in place (the lattice join).
    pub fn join(&mut self, other: &State) -> Merged {
        let mut merged = Merged::default();
        if other.liveness > self.liveness {
            self.liveness = other.liveness;
            merged.liveness = true;
        }
        if other.payload > self.payload {
            self.payload.clone_from(&other.payload);
            merged.payload = true;
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::net::{IpAddr, Ipv4Addr};
    use proptest::prelude::*;

    fn update_strategy() -> impl Strategy<Value = (u32, u8, u8, Vec<u8>)> {
        (0u32..4, 0u8..5, 0u8..3, proptest::collection::vec(any::<u8>(), 0..3))
    }

    fn to_update((inc, kind, port, meta): &(u32, u8, u8, Vec<u8>)) -> Update<'_> {
        let status = match kind {
            0 | 4 => {
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7000 + u16::from(*port));
                return Update::Alive { incarnation: *inc, addr, meta };
            }
            1 => Status::Suspect,
            2 => Status::Dead,
            _ => Status::Left,
        };
        Update::Status(Liveness { incarnation: *inc, status })
    }

    fn fold<'a>(updates: impl IntoIterator<Item = &'a (u32, u8, u8, Vec<u8>)>) -> Option<State> {
        let mut state: Option<State> = None;
        for u in updates {
            let u = to_update(u);
            match &mut state {
                None => state = Some(State::from_update(u)),
                Some(s) => {
                    s.merge(u);
                }
            }
        }
        state
    }

    fn arb_addr() -> impl Strategy<Value = Addr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| Addr::V4(ip, port)),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| Addr::V6(ip, port)),
            // Close values, so equal octets and equal ports both occur.
            (0u8..2, 0u8..2, 0u16..2).prop_map(|(a, b, port)| Addr::V4([10, 0, a, b], port)),
        ]
    }

    proptest! {
        /// The payload stores the wire `Addr`; it must order exactly as the `SocketAddr` it
        /// stands for, or the tie-break between conflicting alive claims would change.
        #[test]
        fn addr_orders_as_socket_addr(a in arb_addr(), b in arb_addr()) {
            prop_assert_eq!(a.cmp(&b), SocketAddr::from(a).cmp(&SocketAddr::from(b)));
            prop_assert_eq!(Addr::from(SocketAddr::from(a)), a);
        }
    }

    proptest! {
        /// Any order of the same updates gives the same state (commutativity + associativity
        /// of applying updates).
        #[test]
        fn merge_is_order_free(updates in proptest::collection::vec(update_strategy(), 1..12), seed in any::<u64>()) {
            let mut shuffled = updates.clone();
            // A deterministic Fisher-Yates from the seed: proptest shrinks the seed too.
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(fold(&updates), fold(&shuffled));
        }

        /// Applying an update twice is the same as once.
        #[test]
        fn merge_is_idempotent(updates in proptest::collection::vec(update_strategy(), 1..8)) {
            let twice: Vec<_> = updates.iter().flat_map(|u| [u, u]).collect();
            prop_assert_eq!(fold(&updates), fold(twice));
        }

        /// The join of whole states is commutative, associative and idempotent, and agrees with
        /// applying all updates to one replica.
        #[test]
        fn join_is_a_semilattice(
            a in proptest::collection::vec(update_strategy(), 1..6),
            b in proptest::collection::vec(update_strategy(), 1..6),
            c in proptest::collection::vec(update_strategy(), 1..6),
        ) {
            let (sa, sb, sc) = (fold(&a).expect("non-empty"), fold(&b).expect("non-empty"), fold(&c).expect("non-empty"));
            let join = |x: &State, y: &State| { let mut z = x.clone(); z.join(y); z };
            prop_assert_eq!(join(&sa, &sb), join(&sb, &sa));
            prop_assert_eq!(join(&join(&sa, &sb), &sc), join(&sa, &join(&sb, &sc)));
            prop_assert_eq!(join(&sa, &sa), sa.clone());
            let all: Vec<_> = a.iter().chain(&b).chain(&c).collect();
            prop_assert_eq!(fold(all), Some(join(&join(&sa, &sb), &sc)));
        }
    }

    #[test]
    fn priority_rules() {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
        let st = |incarnation, status| Update::Status(Liveness { incarnation, status });
        let mut s = State::from_update(Update::Alive { incarnation: 1, addr, meta: b"" });
        assert!(s.merge(st(1, Status::Suspect)).liveness);
        assert!(
            !s.merge(Update::Alive { incarnation: 1, addr, meta: b"" }).any(),
            "alive does not refute at equal incarnation"
        );
        assert!(s.merge(st(1, Status::Dead)).liveness);
        assert!(!s.merge(st(1, Status::Suspect)).any());
        assert!(s.merge(st(1, Status::Left)).liveness, "left is final for its incarnation");
        assert!(!s.merge(st(1, Status::Dead)).any());
        assert!(s.merge(Update::Alive { incarnation: 2, addr, meta: b"m" }).liveness, "a higher incarnation wins");
        assert_eq!(s.liveness, Liveness { incarnation: 2, status: Status::Alive });
        assert_eq!(s.payload.as_ref().map(|p| &p.meta[..]), Some(&b"m"[..]));
    }
}
