//! The offline ring buffer: while the gateway is unreachable a device keeps its newest `N`
//! readings; the oldest are dropped (and counted) when it is full. On reconnect they are
//! uploaded as JSON arrays (CONTRACT §2 backlog upload), removed only once the broker has
//! acknowledged them.

use heapless::Deque;

use crate::payload::{encode_batch, EncodeError, Reading};

pub struct Offline<const N: usize> {
    queue: Deque<Reading, N>,
    /// Readings dropped because the buffer was full (reported in the device's status).
    pub dropped: u32,
}

impl<const N: usize> Default for Offline<N> {
    fn default() -> Self {
        Offline {
            queue: Deque::new(),
            dropped: 0,
        }
    }
}

impl<const N: usize> Offline<N> {
    /// Keep a reading, dropping the oldest when full.
    pub fn push(&mut self, r: Reading) {
        if self.queue.is_full() {
            let _ = self.queue.pop_front();
            self.dropped = self.dropped.wrapping_add(1);
        }
        let _ = self.queue.push_back(r);
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Encode the oldest readings (at most `max`) that fit in `buf` as one JSON array; returns
    /// (bytes, readings). Nothing is removed until [`Offline::commit`].
    pub fn batch(&self, max: usize, buf: &mut [u8]) -> Result<(usize, usize), EncodeError> {
        let mut tmp: heapless::Vec<Reading, 32> = heapless::Vec::new();
        let mut best = None;
        for r in self.queue.iter().take(max.min(32)) {
            if tmp.push(r.clone()).is_err() {
                break;
            }
            match encode_batch(&tmp, buf) {
                Ok(n) => best = Some((n, tmp.len())),
                Err(_) => break,
            }
        }
        match best {
            // Re-encode the largest batch that fitted (the last attempt may have failed).
            Some((_, k)) => Ok((encode_batch(&tmp[..k], buf)?, k)),
            None => Err(EncodeError),
        }
    }

    /// The broker acknowledged the oldest `n` readings.
    pub fn commit(&mut self, n: usize) {
        for _ in 0..n {
            let _ = self.queue.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(seq: u32) -> Reading {
        Reading {
            laeq: Some(50.0),
            ..Reading::new(seq, 1_793_462_400 + i64::from(seq) * 60, 60)
        }
    }

    #[test]
    fn overflow_drops_the_oldest_and_counts() {
        let mut q: Offline<4> = Offline::default();
        for s in 1..=6 {
            q.push(r(s));
        }
        assert_eq!((q.len(), q.dropped), (4, 2));
        let mut buf = [0u8; 1024];
        let (n, k) = q.batch(10, &mut buf).unwrap();
        assert_eq!(k, 4);
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("[{\"v\":1,\"seq\":3,"), "{text}");
        q.commit(k);
        assert!(q.is_empty());
    }

    #[test]
    fn batches_fit_the_buffer_and_wait_for_the_ack() {
        let mut q: Offline<16> = Offline::default();
        for s in 1..=10 {
            q.push(r(s));
        }
        let mut small = [0u8; 200];
        let (n, k) = q.batch(10, &mut small).unwrap();
        assert!(
            (1..10).contains(&k) && n <= 200,
            "{k} readings in {n} bytes"
        );
        assert_eq!(q.len(), 10, "nothing removed before the ack");
        q.commit(k);
        assert_eq!(q.len(), 10 - k);
        assert!(q.batch(10, &mut [0u8; 10]).is_err());
    }
}
