//! `ProbeOrder`: the member positions in the shuffled round-robin order of probing (SWIM
//! §4.3), 2 bytes each while every position fits in 16 bits (up to 65 536 members, which is
//! every cluster but the largest), else 4. A node keeps one entry per member, so this is a
//! tenth of an agent's member memory at 2 bytes instead of 4.

use alloc::vec::Vec;
use rand::seq::SliceRandom;
use rand_core::Rng;

#[derive(Clone, Debug)]
pub(crate) enum ProbeOrder {
    Short(Vec<u16>),
    Long(Vec<u32>),
}

impl ProbeOrder {
    pub(crate) fn new() -> Self {
        ProbeOrder::Short(Vec::new())
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ProbeOrder::Short(v) => v.len(),
            ProbeOrder::Long(v) => v.len(),
        }
    }

    /// The position at `i` of the order.
    pub(crate) fn get(&self, i: usize) -> Option<usize> {
        match self {
            ProbeOrder::Short(v) => v.get(i).map(|&p| usize::from(p)),
            ProbeOrder::Long(v) => v.get(i).map(|&p| p as usize),
        }
    }

    /// Prefetches the entry at `i` (a hint).
    #[cfg(feature = "prefetch")]
    pub(crate) fn prefetch(&self, i: usize) {
        match self {
            ProbeOrder::Short(v) => {
                if let Some(p) = v.get(i) {
                    crate::hint::prefetch(p);
                }
            }
            ProbeOrder::Long(v) => {
                if let Some(p) = v.get(i) {
                    crate::hint::prefetch(p);
                }
            }
        }
    }

    /// Appends `pos`, widening the entries the first time a position needs more than 16 bits.
    pub(crate) fn push(&mut self, pos: u32) {
        if let ProbeOrder::Short(v) = self {
            match u16::try_from(pos) {
                Ok(p) => return v.push(p),
                Err(_) => *self = ProbeOrder::Long(v.iter().map(|&p| u32::from(p)).collect()),
            }
        }
        if let ProbeOrder::Long(v) = self {
            v.push(pos);
        }
    }

    pub(crate) fn swap(&mut self, a: usize, b: usize) {
        match self {
            ProbeOrder::Short(v) => v.swap(a, b),
            ProbeOrder::Long(v) => v.swap(a, b),
        }
    }

    /// Drops the positions at or past `n` (members that are gone).
    pub(crate) fn retain_below(&mut self, n: usize) {
        match self {
            ProbeOrder::Short(v) => v.retain(|&p| usize::from(p) < n),
            ProbeOrder::Long(v) => v.retain(|&p| (p as usize) < n),
        }
    }

    pub(crate) fn shuffle<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        match self {
            ProbeOrder::Short(v) => v.shuffle(rng),
            ProbeOrder::Long(v) => v.shuffle(rng),
        }
    }

    /// Positions `0..n`, shuffled.
    pub(crate) fn reset<R: Rng + ?Sized>(&mut self, n: usize, rng: &mut R) {
        *self = match u16::try_from(n.saturating_sub(1)) {
            Ok(_) => ProbeOrder::Short((0..n).filter_map(|p| u16::try_from(p).ok()).collect()),
            Err(_) => ProbeOrder::Long((0..n).filter_map(|p| u32::try_from(p).ok()).collect()),
        };
        self.shuffle(rng);
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        match self {
            ProbeOrder::Short(v) => v.shrink_to_fit(),
            ProbeOrder::Long(v) => v.shrink_to_fit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    /// The same positions and the same random choices as a plain `Vec<u32>`, across the
    /// switch to 4-byte entries.
    #[test]
    fn behaves_like_a_vector_of_u32() {
        let mut rng_a = rand_chacha::ChaCha12Rng::seed_from_u64(1);
        let mut rng_b = rand_chacha::ChaCha12Rng::seed_from_u64(1);
        let mut order = ProbeOrder::new();
        let mut model: Vec<u32> = Vec::new();
        for p in (0..70_000u32).step_by(7) {
            order.push(p);
            model.push(p);
        }
        assert!(matches!(order, ProbeOrder::Long(_)), "widened past 65 535");
        order.swap(3, 9000);
        model.swap(3, 9000);
        order.shuffle(&mut rng_a);
        model.shuffle(&mut rng_b);
        order.retain_below(30_000);
        model.retain(|&p| p < 30_000);
        assert_eq!(order.len(), model.len());
        assert!(model.iter().enumerate().all(|(i, &p)| order.get(i) == Some(p as usize)));
        order.reset(1000, &mut rng_a);
        let mut fresh: Vec<u32> = (0..1000).collect();
        fresh.shuffle(&mut rng_b);
        assert!(matches!(order, ProbeOrder::Short(_)));
        assert!(fresh.iter().enumerate().all(|(i, &p)| order.get(i) == Some(p as usize)));
        assert_eq!(order.get(1000), None);
    }
}
