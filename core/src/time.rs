//! The core's own monotonic clock type.
//!
//! The core never reads a clock: every entry point takes `now`. An [`Instant`] is a count of
//! microseconds since an arbitrary origin chosen by the caller (process start, the simulator's
//! time zero, `performance.now()` in a browser). Only differences between instants matter.

use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point on the caller's monotonic clock, with microsecond resolution.
///
/// Eight bytes, `Copy`, totally ordered. Arithmetic saturates instead of panicking, so a
/// caller that passes a slightly older `now` (a clock that is not perfectly monotonic) cannot
/// crash the core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant { micros: millis.saturating_mul(1000) }
    }

    /// An instant `elapsed` after the origin (truncated to whole microseconds).
    pub fn from_duration(elapsed: Duration) -> Self {
        Instant { micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX) }
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Time since the origin.
    pub const fn as_duration(self) -> Duration {
        Duration::from_micros(self.micros)
    }

    /// `self - earlier`, or zero if `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant { micros: self.micros.saturating_add(micros(rhs)) }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant { micros: self.micros.saturating_sub(micros(rhs)) }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!(t - Instant::from_millis(7), Duration::ZERO);
        assert_eq!(t - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Instant::from_micros(u64::MAX) + Duration::from_secs(1), Instant::from_micros(u64::MAX));
        assert_eq!((t + Duration::from_millis(3)).as_micros(), 8_000);
    }
}
