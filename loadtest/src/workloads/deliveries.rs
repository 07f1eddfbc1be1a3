//! The stamped messages of W2 and how their deliveries are counted and timed,
//! shared by the socket.io run ([`super::w2`]) and the floor run ([`super::w2_floor`]).
//!
//! Each message's text is its send time: 32 ASCII digits of nanoseconds since
//! the run's epoch, zero-padded. A receiver needs nothing but the text to
//! know a delivery's latency, whatever carried it.

use crate::report::{Errors, latency_histogram};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Counters shared by all sender and receiver tasks, for progress and totals.
#[derive(Default)]
pub(crate) struct Counters {
    /// Messages sent.
    pub sent: AtomicU64,
    /// Messages received, by all receivers together.
    pub received: AtomicU64,
}

/// A message's text: the time since `epoch`, as W2 sends it.
pub(crate) fn stamp(epoch: Instant) -> String {
    format!("{:032}", epoch.elapsed().as_nanos())
}

/// One receiver's deliveries: the latency of each, and the shared count.
pub(crate) struct Deliveries {
    epoch: Instant,
    counters: Arc<Counters>,
    histogram: Histogram<u64>,
}

impl Deliveries {
    /// No deliveries yet, timed against the senders' `epoch`.
    pub fn new(epoch: Instant, counters: Arc<Counters>) -> Deliveries {
        Deliveries {
            epoch,
            counters,
            histogram: latency_histogram(),
        }
    }

    /// Records the delivery of a message whose text is `text`; false (and
    /// nothing recorded) when `text` is not a [`stamp`].
    pub fn record(&mut self, text: &str) -> bool {
        let Ok(sent) = text.parse::<u128>() else {
            return false;
        };
        let micros = self.epoch.elapsed().as_nanos().saturating_sub(sent) / 1000;
        // The histogram's lowest value is 1 µs; a sub-microsecond delivery counts as 1.
        self.histogram.saturating_record((micros as u64).max(1));
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The latencies recorded, in microseconds.
    pub fn into_histogram(self) -> Histogram<u64> {
        self.histogram
    }
}

/// Waits until `expected` deliveries have arrived or `drain` has passed.
pub(crate) async fn drain(counters: &Counters, expected: u64, drain: Duration) {
    let drain_end = Instant::now() + drain;
    while counters.received.load(Ordering::Relaxed) < expected && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the receivers of a run recorded together.
pub(crate) struct Received {
    /// Every delivery's latency, in microseconds.
    pub histogram: Histogram<u64>,
    /// Receivers that recorded no delivery at all.
    pub silent: u64,
    /// Every receiver's errors.
    pub errors: Errors,
}

/// Waits for every receiver (told to stop beforehand) and merges what they recorded.
pub(crate) async fn collect(
    receivers: Vec<JoinHandle<(Histogram<u64>, Errors)>>,
) -> Result<Received, String> {
    let mut received = Received {
        histogram: latency_histogram(),
        silent: 0,
        errors: Errors::default(),
    };
    for receiver in receivers {
        let (h, errors) = receiver.await.map_err(|e| format!("receiver task: {e}"))?;
        received.silent += u64::from(h.is_empty());
        received
            .histogram
            .add(h)
            .map_err(|e| format!("merging histograms: {e}"))?;
        received.errors.merge(errors);
    }
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_recorded_and_other_text_is_not() {
        let epoch = Instant::now();
        let counters = Arc::new(Counters::default());
        let mut deliveries = Deliveries::new(epoch, Arc::clone(&counters));
        let text = stamp(epoch);
        assert_eq!(text.len(), 32);
        assert!(deliveries.record(&text));
        assert!(!deliveries.record("hello"));
        assert!(!deliveries.record(""));
        assert_eq!(counters.received.load(Ordering::Relaxed), 1);
        assert_eq!(deliveries.into_histogram().len(), 1);
    }
}
