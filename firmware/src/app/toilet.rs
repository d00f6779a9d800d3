//! Toilet inputs: per-stall occupancy from door-lock switches or PIR (`InputPin`), debounced,
//! with a stuck-sensor check; an entry counter from a beam-break input.

use embedded_hal::digital::InputPin;

/// A debounced binary input: a new level counts once it has been read `stable` times in a row.
#[derive(Debug, Clone, Copy)]
pub struct Debounce {
    level: bool,
    candidate: bool,
    count: u8,
    stable: u8,
    /// Samples since the level last changed (for the stuck check).
    pub unchanged: u32,
}

impl Debounce {
    pub const fn new(stable: u8) -> Self {
        Debounce {
            level: false,
            candidate: false,
            count: 0,
            stable,
            unchanged: 0,
        }
    }

    /// The debounced level.
    pub fn level(&self) -> bool {
        self.level
    }

    /// Feed one raw sample; returns the debounced level and whether it just changed.
    pub fn sample(&mut self, raw: bool) -> (bool, bool) {
        self.unchanged = self.unchanged.saturating_add(1);
        if raw == self.level {
            self.count = 0;
            return (self.level, false);
        }
        if raw != self.candidate {
            self.candidate = raw;
            self.count = 0;
        }
        self.count += 1;
        if self.count >= self.stable {
            self.level = raw;
            self.count = 0;
            self.unchanged = 0;
            return (raw, true);
        }
        (self.level, false)
    }
}

/// Stalls of one toilet block.
pub struct Stalls<P, const N: usize> {
    pins: [P; N],
    state: [Debounce; N],
    /// A stall whose sensor has not changed for this many samples is reported stuck.
    stuck_after: u32,
}

impl<P: InputPin, const N: usize> Stalls<P, N> {
    pub fn new(pins: [P; N], stable: u8, stuck_after: u32) -> Self {
        Stalls {
            pins,
            state: [Debounce::new(stable); N],
            stuck_after,
        }
    }

    pub fn release(self) -> [P; N] {
        self.pins
    }

    /// Sample every stall (a high pin = occupied); returns how many are occupied.
    pub fn sample(&mut self) -> Result<u16, P::Error> {
        let mut occupied = 0;
        for (pin, s) in self.pins.iter_mut().zip(self.state.iter_mut()) {
            if s.sample(pin.is_high()?).0 {
                occupied += 1;
            }
        }
        Ok(occupied)
    }

    /// Stalls whose sensor looks stuck (a bit per stall).
    pub fn stuck(&self) -> u32 {
        self.state
            .iter()
            .enumerate()
            .filter(|(_, s)| s.unchanged >= self.stuck_after)
            .fold(0, |m, (i, _)| m | (1 << i))
    }
}

/// People counted by a beam-break input: one per debounced break (falling edge of "clear").
pub struct BeamCounter {
    input: Debounce,
    /// Cumulative, wraps (the daemon handles resets and wraps).
    pub entries: u32,
}

impl BeamCounter {
    pub const fn new(stable: u8) -> Self {
        BeamCounter {
            input: Debounce::new(stable),
            entries: 0,
        }
    }

    /// Feed one sample: `broken` = the beam is interrupted.
    pub fn sample(&mut self, broken: bool) {
        if let (true, true) = self.input.sample(broken) {
            self.entries = self.entries.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_ignores_bounces() {
        let mut d = Debounce::new(3);
        let raw = [true, false, true, true, false, true, true, true, true];
        let levels: std::vec::Vec<bool> = raw.iter().map(|&r| d.sample(r).0).collect();
        // Only the run of three highs at the end switches the level.
        assert_eq!(
            levels,
            std::vec![false, false, false, false, false, false, false, true, true]
        );
    }

    struct Pin(std::rc::Rc<std::cell::Cell<bool>>);
    impl embedded_hal::digital::ErrorType for Pin {
        type Error = core::convert::Infallible;
    }
    impl InputPin for Pin {
        fn is_high(&mut self) -> Result<bool, Self::Error> {
            Ok(self.0.get())
        }
        fn is_low(&mut self) -> Result<bool, Self::Error> {
            Ok(!self.0.get())
        }
    }

    #[test]
    fn stalls_occupancy_and_stuck_sensor() {
        let levels: [std::rc::Rc<std::cell::Cell<bool>>; 3] = Default::default();
        let pins = [
            Pin(levels[0].clone()),
            Pin(levels[1].clone()),
            Pin(levels[2].clone()),
        ];
        let mut s = Stalls::new(pins, 2, 100);
        levels[1].set(true);
        assert_eq!(s.sample().unwrap(), 0, "not yet stable");
        assert_eq!(s.sample().unwrap(), 1);
        for i in 0..100 {
            // Stalls 0 and 1 change regularly; stall 2 never does.
            levels[0].set(i % 20 < 10);
            levels[1].set(i % 30 < 15);
            s.sample().unwrap();
        }
        assert_eq!(s.stuck(), 0b100);
    }

    #[test]
    fn beam_counts_debounced_breaks() {
        let mut b = BeamCounter::new(2);
        for &x in &[
            false, true, false, true, true, true, false, false, true, true, false, false,
        ] {
            b.sample(x);
        }
        assert_eq!(b.entries, 2);
    }
}
