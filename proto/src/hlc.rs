//! Hybrid logical clock: wall-clock milliseconds plus a counter.
//!
//! Every record carries one. A device's clock never goes backwards in its own
//! log, and it moves past every time it has seen from peers, so a device with
//! a bad wall clock cannot reorder history behind what others wrote.

use serde::{Deserialize, Serialize};

/// A point on the hybrid logical clock. Ordered by `(ms, counter)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch, as far as this clock knows.
    pub ms: u64,
    /// Breaks ties within one millisecond.
    pub counter: u32,
}

impl Hlc {
    /// The time for a new local event, given the latest time this device has
    /// written or seen (`last`) and its wall clock now (`now_ms`).
    pub fn tick(last: Hlc, now_ms: u64) -> Hlc {
        if now_ms > last.ms {
            Hlc { ms: now_ms, counter: 0 }
        } else {
            Hlc {
                ms: last.ms,
                counter: last.counter.saturating_add(1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_monotonic_even_when_the_wall_clock_goes_back() {
        let a = Hlc::tick(Hlc::default(), 1_000);
        let b = Hlc::tick(a, 900);
        let c = Hlc::tick(b, 900);
        let d = Hlc::tick(c, 2_000);
        assert!(a < b && b < c && c < d);
        assert_eq!(d, Hlc { ms: 2_000, counter: 0 });
    }
}
