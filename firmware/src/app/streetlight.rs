//! Streetlight controller logic: lamp faults from the measured current, and day-burning.

use crate::payload::Fault;

/// Thresholds for fault detection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Below this current a lamp that should be lit is dark.
    pub min_current_a: f32,
    /// Supply below this voltage is a power failure.
    pub min_voltage_v: f32,
    /// Power factor below this with current flowing points at a failed driver.
    pub min_power_factor: f32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_current_a: 0.05,
            min_voltage_v: 170.0,
            min_power_factor: 0.5,
        }
    }
}

/// One measurement of the lamp circuit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Electrical {
    pub voltage_v: f32,
    pub current_a: f32,
    pub power_w: f32,
}

/// Faults of a lamp whose relay is `relay_on`; at most one of lamp/driver/power.
pub fn faults(relay_on: bool, e: &Electrical, l: &Limits) -> heapless::Vec<Fault, 4> {
    let mut out = heapless::Vec::new();
    if e.voltage_v < l.min_voltage_v {
        let _ = out.push(Fault::PowerFailure);
    } else if relay_on && e.current_a < l.min_current_a {
        // Should be lit but draws no current (DOMAIN.md §5.3 lampFailure).
        let _ = out.push(Fault::LampFailure);
    } else if relay_on && e.current_a >= l.min_current_a {
        let apparent = e.voltage_v * e.current_a;
        if apparent > 0.0 && e.power_w / apparent < l.min_power_factor {
            let _ = out.push(Fault::DriverFailure);
        }
    }
    out
}

/// Lit outside its schedule (day-burning): the relay is off or the lamp should be dark, yet
/// current flows.
pub fn day_burning(scheduled_on: bool, e: &Electrical, l: &Limits) -> bool {
    !scheduled_on && e.current_a >= l.min_current_a
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Electrical = Electrical {
        voltage_v: 230.0,
        current_a: 0.45,
        power_w: 98.0,
    };

    #[test]
    fn lamp_faults() {
        let l = Limits::default();
        assert!(faults(true, &OK, &l).is_empty());
        let dark = Electrical {
            current_a: 0.0,
            power_w: 0.0,
            ..OK
        };
        assert_eq!(faults(true, &dark, &l).as_slice(), &[Fault::LampFailure]);
        assert!(faults(false, &dark, &l).is_empty(), "off and dark is fine");
        let no_supply = Electrical {
            voltage_v: 0.0,
            ..dark
        };
        assert_eq!(
            faults(true, &no_supply, &l).as_slice(),
            &[Fault::PowerFailure]
        );
        let bad_driver = Electrical {
            power_w: 20.0,
            ..OK
        };
        assert_eq!(
            faults(true, &bad_driver, &l).as_slice(),
            &[Fault::DriverFailure]
        );
    }

    #[test]
    fn day_burning_is_current_outside_the_schedule() {
        let l = Limits::default();
        assert!(day_burning(false, &OK, &l));
        assert!(!day_burning(true, &OK, &l));
        assert!(!day_burning(
            false,
            &Electrical {
                current_a: 0.0,
                ..OK
            },
            &l
        ));
    }
}
