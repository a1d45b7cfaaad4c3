//! The combined watermark of one source as an operator sees it: the latest update of each
//! reader (by sequence number) and their minimum, readers that report themselves idle
//! excluded. Operators that free state behind the watermark (interval joins, window
//! Top-N) keep one per source they read; every worker receives the same updates at the
//! same logical times (they are broadcast), so every worker computes the same value.

use crate::source::WatermarkUpdate;

/// One source's readers and their combined watermark (monotone).
#[derive(Clone, Debug)]
pub struct CombinedWatermark {
    /// Per reader (worker index): the latest (sequence, watermark, idle).
    readers: Vec<Option<(u64, i64, bool)>>,
    /// `None` until every reader reported.
    current: Option<i64>,
}

impl CombinedWatermark {
    /// A watermark over `peers` readers (one per worker), none reported yet.
    pub fn new(peers: usize) -> CombinedWatermark {
        CombinedWatermark {
            readers: vec![None; peers],
            current: None,
        }
    }

    /// The combined watermark: `None` until every reader has reported.
    pub fn get(&self) -> Option<i64> {
        self.current
    }

    /// Takes one reader update; returns the new combined watermark when it advanced.
    /// An update older than the reader's latest (smaller sequence number) is ignored;
    /// when every reader is idle the watermark stays where it is.
    pub fn update(&mut self, update: WatermarkUpdate) -> Option<i64> {
        let (worker, sequence, watermark, idle) = update;
        let slot = self.readers.get_mut(usize::try_from(worker).ok()?)?;
        if slot.is_none_or(|(seen, _, _)| seen < sequence) {
            *slot = Some((sequence, watermark, idle));
        }
        if self.readers.iter().any(Option::is_none) {
            return None;
        }
        let combined = self
            .readers
            .iter()
            .flatten()
            .filter(|(_, _, idle)| !idle)
            .map(|(_, watermark, _)| *watermark)
            .min()?;
        if self.current.is_some_and(|w| w >= combined) {
            return None;
        }
        self.current = Some(combined);
        Some(combined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_over_readers_not_idle_and_monotone() {
        let mut watermark = CombinedWatermark::new(2);
        assert_eq!(watermark.update((0, 1, 500, false)), None);
        assert_eq!(watermark.get(), None, "one reader has not reported");
        assert_eq!(watermark.update((1, 1, 150, false)), Some(150));
        // The slow reader goes idle: it no longer holds the watermark back.
        assert_eq!(watermark.update((1, 2, 150, true)), Some(500));
        // An older update is ignored; a lower one never moves it back.
        assert_eq!(watermark.update((1, 1, 100, false)), None);
        assert_eq!(watermark.update((1, 3, 120, false)), None);
        assert_eq!(watermark.get(), Some(500));
        // All idle: it stays.
        assert_eq!(watermark.update((0, 2, 900, true)), None);
        assert_eq!(watermark.get(), Some(500));
        // An unknown reader index is ignored.
        assert_eq!(watermark.update((7, 1, 1_000, false)), None);
    }
}
