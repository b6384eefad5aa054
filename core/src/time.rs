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

    /// An instant `millis` milliseconds after the origin, from a floating-point count (a
    /// JavaScript `performance.now()`), rounded to the nearest microsecond, so an instant
    /// read back with [`Instant::as_millis_f64`] (and scaled to seconds and back by a
    /// binding) is the same instant, not one microsecond short of it. Never panics: a
    /// negative count or NaN is [`Instant::ZERO`], a count past the largest instant (or
    /// infinity) is the largest instant.
    pub fn from_millis_f64(millis: f64) -> Self {
        // A float-to-integer `as` saturates at the type's bounds and takes NaN to zero, so
        // every input has an instant and none panics.
        // `+ 0.5` then truncation rounds a non-negative count (no `f64::round` without std).
        Instant { micros: (millis * 1000.0 + 0.5) as u64 }
    }

    /// Milliseconds since the origin as a floating-point count (for JavaScript). Exact up to
    /// 2⁵³ microseconds (285 years); beyond, the nearest representable value.
    pub fn as_millis_f64(self) -> f64 {
        self.micros as f64 / 1000.0
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

    #[test]
    fn float_milliseconds() {
        assert_eq!(Instant::from_millis_f64(1234.5678), Instant::from_micros(1_234_568), "nearest microsecond");
        assert_eq!(Instant::from_millis_f64(1234.5674), Instant::from_micros(1_234_567));
        assert_eq!(Instant::from_millis_f64(0.0), Instant::ZERO);
        assert_eq!(Instant::from_millis_f64(-0.0), Instant::ZERO);
        assert_eq!(Instant::from_millis_f64(-5.0), Instant::ZERO);
        assert_eq!(Instant::from_millis_f64(f64::NAN), Instant::ZERO);
        assert_eq!(Instant::from_millis_f64(f64::NEG_INFINITY), Instant::ZERO);
        assert_eq!(Instant::from_millis_f64(f64::INFINITY), Instant::from_micros(u64::MAX));
        assert_eq!(Instant::from_millis_f64(1e300), Instant::from_micros(u64::MAX));
        assert_eq!(Instant::from_millis_f64(f64::MAX), Instant::from_micros(u64::MAX));
        assert_eq!(Instant::from_micros(1_234_567).as_millis_f64(), 1234.567);
        assert_eq!(Instant::ZERO.as_millis_f64(), 0.0);
        for ms in [0.001, 1.0, 16.5, 86_400_000.25] {
            assert_eq!(Instant::from_millis_f64(ms).as_millis_f64(), ms, "{ms} ms round-trips");
        }
        // An instant read out as milliseconds, scaled to seconds and back (as the Python and
        // Swift bindings do), is the same instant: a deadline handed back is due, not 1 µs early.
        for micros in (0..200_000u64).map(|i| i * 7_919 + 32_646_621) {
            let t = Instant::from_micros(micros);
            let seconds = t.as_millis_f64() / 1000.0;
            assert_eq!(Instant::from_millis_f64(seconds * 1000.0), t, "{micros} µs via {seconds} s");
        }
    }
}
