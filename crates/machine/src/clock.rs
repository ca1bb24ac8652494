//! The simulated clock: a monotonic [`SimTime`] that only the cost model
//! moves. Nothing in boot-sim reads the host's clock for simulated time.

use super::units::SimTime;

/// Monotonic simulated time. Advancing saturates at `u64::MAX` ns
/// (584 years), so a pathological cost model cannot wrap the clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimClock {
    now: SimTime,
}

impl SimClock {
    pub const fn new() -> SimClock {
        SimClock { now: SimTime::ZERO }
    }

    /// A clock that starts at `t` (a path that continues another's time).
    pub const fn starting_at(t: SimTime) -> SimClock {
        SimClock { now: t }
    }

    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Moves time forward by `ns` and returns the new time.
    #[inline]
    pub fn advance(&mut self, ns: u64) -> SimTime {
        self.now = self.now.saturating_add(ns);
        self.now
    }

    /// Moves time forward to `t` if `t` is later; time never goes back.
    #[inline]
    pub fn advance_to(&mut self, t: SimTime) -> SimTime {
        if t > self.now {
            self.now = t;
        }
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_saturating() {
        let mut c = SimClock::new();
        assert_eq!(c.advance(5), SimTime(5));
        assert_eq!(c.advance_to(SimTime(3)), SimTime(5));
        assert_eq!(c.advance_to(SimTime(9)), SimTime(9));
        assert_eq!(c.advance(u64::MAX), SimTime(u64::MAX));
        assert_eq!(SimClock::starting_at(SimTime(7)).now(), SimTime(7));
    }
}
