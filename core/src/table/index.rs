//! The member table's index: open addressing over member positions, found by name hash.

use alloc::vec::Vec;

/// The open-addressing index: linear probing, at most 4/5 full (see [`slots_for`]). A slot
/// is 3 bytes while positions fit in 16 bits (up to 65 535 slots: every table but the
/// largest), else 4; either way its top byte is the tag and the rest the position plus one.
pub(super) struct Index {
    bytes: Vec<u8>,
    /// Bytes per slot: 3 or 4.
    pub(super) width: usize,
}

impl Index {
    pub(super) fn new(slots: usize) -> Self {
        let width = if slots <= usize::from(u16::MAX) { 3 } else { 4 };
        Index { bytes: alloc::vec![0; slots * width], width }
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len() / self.width
    }

    /// Bits of the position in a slot.
    pub(super) fn pos_bits(&self) -> u32 {
        8 * (self.width as u32 - 1)
    }

    /// The slot's tag: the hash's low 8 bits (the home slot comes from the high ones), above
    /// the position. (A used slot is never 0: its position has one added.)
    pub(super) fn tag(&self, h: u64) -> u32 {
        ((h & 0xff) as u32) << self.pos_bits()
    }

    /// The slot at `i` (0: empty).
    pub(super) fn get(&self, i: usize) -> Option<u32> {
        let b = self.bytes.get(i * self.width..(i + 1) * self.width)?;
        Some(b.iter().rev().fold(0, |v, &x| (v << 8) | u32::from(x)))
    }

    pub(super) fn set(&mut self, i: usize, v: u32) {
        if let Some(b) = self.bytes.get_mut(i * self.width..(i + 1) * self.width) {
            for (k, x) in b.iter_mut().enumerate() {
                *x = (v >> (8 * k)) as u8;
            }
        }
    }

    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self, i: usize) {
        if let Some(b) = self.bytes.get(i * self.width) {
            crate::hint::prefetch(b);
        }
    }

    /// The position in slot `s` if its tag is that of hash `h`.
    pub(super) fn position(&self, s: u32, h: u64) -> Option<usize> {
        let mask = (1u32 << self.pos_bits()) - 1;
        (s != 0 && s & !mask == self.tag(h)).then(|| ((s & mask) as usize).wrapping_sub(1))
    }

    /// The home slot of hash `h` (`None` while the index is empty).
    pub(super) fn home(&self, h: u64) -> Option<usize> {
        let n = self.len();
        // Below the slot count, so it fits.
        #[allow(clippy::cast_possible_truncation)]
        (n > 0).then(|| ((u128::from(h) * n as u128) >> 64) as usize)
    }

    /// The slot after `i`, wrapping around.
    pub(super) fn next(&self, i: usize) -> usize {
        if i + 1 == self.len() { 0 } else { i + 1 }
    }

    /// Stores position `pos` of hash `h` in the first free slot from its home.
    pub(super) fn place(&mut self, h: u64, pos: usize) {
        let Some(mut at) = self.home(h) else { return };
        let v = self.tag(h) | u32::try_from(pos + 1).unwrap_or(0);
        while let Some(s) = self.get(at) {
            if s == 0 {
                self.set(at, v);
                return;
            }
            at = self.next(at);
        }
    }
}

/// Slots for `n` records: `n` is at most 4/5 of them (0 for none).
pub(super) fn slots_for(n: usize) -> usize {
    if n == 0 { 0 } else { (n + n / 4 + 1).max(8) }
}
