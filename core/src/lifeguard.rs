//! Lifeguard's local health awareness and dynamic suspicion timeout.

use core::time::Duration;

/// Local health multiplier (Lifeguard §4.1): a score in `0..max` that rises when this node
/// shows signs of being the slow one (missed nacks, having to refute suspicions about itself)
/// and falls with every successful probe. Probe interval and timeouts are multiplied by
/// `score + 1`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Awareness {
    score: u32,
    max: u32,
    enabled: bool,
}

impl Awareness {
    pub(crate) fn new(max: u32, enabled: bool) -> Self {
        Awareness { score: 0, max, enabled }
    }

    pub(crate) fn score(&self) -> u32 {
        self.score
    }

    pub(crate) fn apply(&mut self, delta: i32) {
        if !self.enabled {
            return;
        }
        let next = i64::from(self.score) + i64::from(delta);
        self.score = u32::try_from(next.clamp(0, i64::from(self.max.saturating_sub(1)))).unwrap_or(0);
    }

    pub(crate) fn scale(&self, d: Duration) -> Duration {
        d.saturating_mul(self.score + 1)
    }
}

/// Suspicion timeout bounds for a cluster with `live` live members (memberlist's formula):
/// `min = mult × max(1, log10(live)) × probe_interval`, `max = max_mult × min`.
pub(crate) fn suspicion_bounds(
    mult: u32,
    max_mult: u32,
    live: usize,
    probe_interval: Duration,
) -> (Duration, Duration) {
    #[allow(clippy::cast_precision_loss)] // member counts are far below 2^52
    let scale = libm::log10(live.max(1) as f64).max(1.0);
    let min = probe_interval.mul_f64(f64::from(mult) * scale);
    (min, min.saturating_mul(max_mult))
}

/// Dynamic suspicion timeout (Lifeguard §4.2): starts at `max` and falls logarithmically to
/// `min` as `confirmations` out of the expected `k` independent suspicions arrive.
pub(crate) fn suspicion_timeout(min: Duration, max: Duration, k: u32, confirmations: u32) -> Duration {
    if k == 0 || max <= min {
        return min;
    }
    let frac = libm::log(f64::from(confirmations) + 1.0) / libm::log(f64::from(k) + 1.0);
    let span = (max - min).as_secs_f64();
    let raw = max.as_secs_f64() - frac * span;
    // Whole milliseconds, as memberlist does, so timeouts are stable across platforms.
    let raw = Duration::from_millis(libm::floor(raw * 1000.0).max(0.0) as u64);
    raw.max(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awareness_is_bounded_and_scales() {
        let mut a = Awareness::new(8, true);
        a.apply(-1);
        assert_eq!(a.score(), 0);
        a.apply(100);
        assert_eq!(a.score(), 7);
        assert_eq!(a.scale(Duration::from_millis(500)), Duration::from_secs(4));
        let mut off = Awareness::new(8, false);
        off.apply(5);
        assert_eq!(off.score(), 0);
    }

    #[test]
    fn suspicion_timeout_shrinks_with_confirmations() {
        let (min, max) = suspicion_bounds(4, 6, 1000, Duration::from_secs(1));
        assert_eq!(min, Duration::from_secs(12), "memberlist's LAN minimum at n = 1000");
        assert_eq!(max, Duration::from_secs(72));
        let timeouts: alloc::vec::Vec<_> = (0..=4).map(|c| suspicion_timeout(min, max, 3, c)).collect();
        assert_eq!(timeouts[0], max);
        assert!(timeouts.windows(2).all(|w| w[1] <= w[0]));
        assert_eq!(timeouts[3], min);
        assert_eq!(timeouts[4], min);
        assert_eq!(suspicion_timeout(min, max, 0, 0), min);
        assert_eq!(suspicion_bounds(4, 6, 1, Duration::from_secs(1)).0, Duration::from_secs(4));
    }
}
