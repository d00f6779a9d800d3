//! Per lamp and lighting day: lamp-time, the inspection snapshot and the last fault state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rows::sample::{DARK_FAULTS, LIT_ONLY_FAULTS};
use crate::standards::lighting::{self, LampTime};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LampDay {
    /// `[on, off)` when the lamp should be lit.
    pub window: (i64, i64),
    pub time: LampTime,
    /// Lit at the inspection instant (when a reading covered it).
    pub snapshot: Option<bool>,
    /// Fault bits of the latest reading (lamp and driver failures seen earlier in the day
    /// kept while the lamp is off), and its time.
    pub last_ts: i64,
    pub last_faults: u8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Acc {
    pub days: BTreeMap<i64, LampDay>,
}

/// What the engine knows about a lighting day when a reading arrives.
#[derive(Debug, Clone, Copy)]
pub struct DayFrame {
    /// `[noon D, noon D+1)`.
    pub bounds: (i64, i64),
    pub window: (i64, i64),
    pub inspection: i64,
}

impl Acc {
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        lday: i64,
        frame: DayFrame,
        span: (i64, i64),
        ts: i64,
        on: bool,
        faults: u8,
        power_w: Option<f64>,
    ) {
        // A dead tube seen last night is still dead until the lamp is seen lit again.
        let before = self
            .days
            .range(..lday)
            .next_back()
            .map_or(0, |(_, p)| p.last_faults & LIT_ONLY_FAULTS);
        let d = self.days.entry(lday).or_insert(LampDay {
            window: frame.window,
            time: LampTime::default(),
            snapshot: None,
            last_ts: i64::MIN,
            last_faults: before,
        });
        let lit = on && faults & DARK_FAULTS == 0;
        d.time.add(&lighting::account(
            span,
            on,
            lit,
            power_w,
            frame.window,
            frame.bounds,
        ));
        if span.0 < frame.inspection && frame.inspection <= span.1 {
            d.snapshot = Some(lit);
        }
        if ts > d.last_ts {
            d.last_ts = ts;
            // A dead tube seen at night stays a fault through the off readings that follow.
            let carried = if on {
                0
            } else {
                d.last_faults & LIT_ONLY_FAULTS
            };
            d.last_faults = faults | carried;
        }
    }

    pub fn prune(&mut self, before_day: i64) {
        self.days = self.days.split_off(&before_day);
    }
}
