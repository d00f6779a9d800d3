//! How often a reader reads under load. Every append wakes every reader; reading after each
//! one costs a thread hand-off per reader per append (a read runs on the blocking pool). A
//! reader that read less than `min` ago waits out the rest first, so under load it reads
//! larger steps less often; an idle reader, woken by the first append after a quiet spell,
//! reads at once (no added latency).

use std::time::Duration;

use tokio::time::Instant;

pub struct Pace {
    min: Duration,
    last: Option<Instant>,
}

impl Pace {
    pub fn new(min: Duration) -> Pace {
        Pace { min, last: None }
    }

    /// Wait until `min` has passed since the previous call's return.
    pub async fn wait(&mut self) {
        if let Some(due) = self.due(Instant::now()) {
            tokio::time::sleep_until(due).await;
        }
        self.last = Some(Instant::now());
    }

    /// When a read at `now` must wait until, if at all.
    fn due(&self, now: Instant) -> Option<Instant> {
        self.last.map(|l| l + self.min).filter(|d| *d > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_reader_reads_at_once_a_busy_one_waits() {
        let ms = Duration::from_millis;
        let mut p = Pace::new(ms(10));
        let t0 = Instant::now();
        assert_eq!(p.due(t0), None, "the first read");
        p.last = Some(t0);
        assert_eq!(p.due(t0 + ms(3)), Some(t0 + ms(10)), "3 ms after a read");
        assert_eq!(p.due(t0 + ms(10)), None);
        assert_eq!(p.due(t0 + ms(500)), None, "after a quiet spell");
    }
}
