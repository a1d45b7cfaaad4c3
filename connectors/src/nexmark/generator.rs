//! The event sequence (spec §3): splits, event ids, event types and timestamps, and the
//! generators that walk it. Field generation lives in the sub-modules, one per Flink
//! class: `person`, `auction`, `bid`, `price`, `strings`, plus `random` (the RNG).
//!
//! ## The stream and its positions
//!
//! A [`NexmarkStream`] is Flink's event stream for one configuration: `event-generators`
//! splits (Flink: one per parallel source instance), split `i` with the ids
//! `first-event.id + i * sub + first-event.number + k` for `k = 0, 1, ...` and its own
//! timeline (every split starts at event number `first-event.number`, at the same base
//! time). Laid end to end, split 0 first, the splits number the stream's *positions*
//! `0..len`. A [`NexmarkGenerator`] yields the events of a range of positions, in order;
//! the event at a position is a pure function of the configuration (fields are drawn from
//! an RNG seeded by `(seed, eventId)`), so any partition of the positions among workers
//! yields the same events as one generator over the whole stream.
//!
//! [`NexmarkStream::worker`] hands worker `w` of `W` the contiguous range Flink's
//! `GeneratorConfig.split(W)` would: with `W = event-generators`, worker `i` generates
//! exactly Flink's split `i`.

pub(crate) mod auction;
pub(crate) mod bid;
pub(crate) mod person;
pub(crate) mod price;
pub(crate) mod random;
pub(crate) mod strings;

use std::sync::Arc;

use self::bid::ChannelTable;
use self::random::EventRng;
use self::strings::PaddingSource;
use super::config::{ConfigError, NexmarkConfig};
use super::model::{Event, EventType};

/// Event time as a function of a generator's event number.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeline {
    base_time_ms: i64,
    inter_event_delay_us: f64,
}

impl Timeline {
    /// Flink's `timestampForEvent`: `baseTime + (long)(n * interEventDelayUs) / 1000`.
    pub(crate) fn timestamp_for_event(&self, event_number: i64) -> i64 {
        let micros = (event_number as f64 * self.inter_event_delay_us) as i64;
        self.base_time_ms.saturating_add(micros / 1000)
    }
}

/// Tables built once per seed and shared by all generators of a stream.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) padding: PaddingSource,
    pub(crate) channels: ChannelTable,
}

/// One of the stream's splits (Flink: one `GeneratorConfig` of `split(n)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Split {
    first_event_id: i64,
    /// Events this split emits: its `maxEvents`, capped by its share of `stop-at`.
    len: i64,
    /// The stream position of its first event.
    start: i64,
}

/// What every generator of a stream shares: the configuration and derived constants.
#[derive(Debug)]
pub(crate) struct GeneratorContext {
    pub(crate) config: NexmarkConfig,
    pub(crate) total_proportion: i64,
    pub(crate) timeline: Timeline,
    pub(crate) tables: Tables,
    splits: Vec<Split>,
    len: i64,
}

/// The whole event stream of one configuration; hands out generators for ranges of it.
/// Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct NexmarkStream {
    context: Arc<GeneratorContext>,
}

impl NexmarkStream {
    /// Validates the configuration and builds the shared tables (a few milliseconds).
    pub fn new(config: NexmarkConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let splits = plan_splits(&config);
        let len = splits.last().map_or(0, |s| s.start + s.len);
        let tables = Tables {
            padding: PaddingSource::new(&mut EventRng::for_table(config.seed, 1)),
            channels: ChannelTable::new(&mut EventRng::for_table(config.seed, 2)),
        };
        let context = GeneratorContext {
            total_proportion: config.total_proportion(),
            timeline: Timeline {
                base_time_ms: config.base_time_ms,
                inter_event_delay_us: config.inter_event_delay_us(),
            },
            config,
            tables,
            splits,
            len,
        };
        Ok(NexmarkStream {
            context: Arc::new(context),
        })
    }

    pub fn config(&self) -> &NexmarkConfig {
        &self.context.config
    }

    /// Events in the stream (positions `0..len`).
    pub fn len(&self) -> i64 {
        self.context.len
    }

    pub fn is_empty(&self) -> bool {
        self.context.len == 0
    }

    /// A generator over the whole stream.
    pub fn generator(&self) -> NexmarkGenerator {
        self.range(0, self.len())
    }

    /// A generator over positions `start..end` (clamped to the stream).
    pub fn range(&self, start: i64, end: i64) -> NexmarkGenerator {
        let end = end.clamp(0, self.len());
        let start = start.clamp(0, end);
        let mut generator = NexmarkGenerator {
            context: Arc::clone(&self.context),
            position: start,
            end,
            split: 0,
            k: 0,
        };
        generator.seek(start);
        generator
    }

    /// Worker `worker`'s share of `workers` (0-based): a contiguous range of
    /// `len / workers` positions, the last worker taking the remainder (Flink's
    /// `GeneratorConfig.split`). An out-of-range worker gets an empty generator.
    pub fn worker(&self, worker: usize, workers: usize) -> NexmarkGenerator {
        let (start, end) = worker_range(self.len(), worker, workers);
        self.range(start, end)
    }

    /// The event at stream position `position`, if there is one.
    pub fn event_at(&self, position: i64) -> Option<Event> {
        self.range(position, position.saturating_add(1)).next()
    }
}

/// Positions `[start, end)` of worker `worker` of `workers`.
fn worker_range(len: i64, worker: usize, workers: usize) -> (i64, i64) {
    if workers == 0 || worker >= workers {
        return (0, 0);
    }
    let (worker, workers) = (worker as i64, workers as i64);
    let sub = len / workers;
    let start = worker * sub;
    let end = if worker == workers - 1 {
        len
    } else {
        start + sub
    };
    (start, end)
}

/// Flink's `GeneratorConfig.split(n)`: `sub = maxEvents / n`, split `i` starting at id
/// `firstEventId + i * sub`, the last split taking the remainder; `stop-at` is split
/// the same way.
fn plan_splits(config: &NexmarkConfig) -> Vec<Split> {
    let n = config.num_event_generators.max(1);
    let max_events = config.max_events();
    let sub = max_events / n;
    let stop_sub = config.stop_at.map(|stop| stop / n);
    let mut splits = Vec::with_capacity(n as usize);
    let mut start = 0_i64;
    for i in 0..n {
        let last = i == n - 1;
        let max_i = if last {
            max_events - sub * (n - 1)
        } else {
            sub
        };
        let len = match (config.stop_at, stop_sub) {
            (Some(stop), Some(stop_sub)) => {
                let stop_i = if last {
                    stop - stop_sub * (n - 1)
                } else {
                    stop_sub
                };
                max_i.min(stop_i)
            }
            _ => max_i,
        };
        splits.push(Split {
            first_event_id: config.first_event_id + i * sub,
            len,
            start,
        });
        start += len;
    }
    splits
}

/// Yields the events of a range of stream positions, in order. Deterministic: the same
/// configuration and range give the same events.
#[derive(Clone, Debug)]
pub struct NexmarkGenerator {
    context: Arc<GeneratorContext>,
    /// The next stream position; `end` is one past the last.
    position: i64,
    end: i64,
    /// The split and the index `k` within it of the next position.
    split: usize,
    k: i64,
}

/// The bookkeeping of one generated event (Flink's `NextEvent`, plus ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventInfo {
    /// The event's position in the stream.
    pub position: i64,
    /// The split (Flink: parallel generator) it belongs to.
    pub split: usize,
    /// Its index within the split (Flink: `eventsCountSoFar`).
    pub index_in_split: i64,
    /// Flink's event id: decides the event type and every entity id.
    pub event_id: i64,
    /// The event time in ms (the record's `dateTime`).
    pub timestamp_ms: i64,
    /// When to emit it when pacing by event time, in ms after the split's start
    /// (Flink: `wallclockTimestamp - wallclockBaseTime`).
    pub emit_offset_ms: i64,
    pub event_type: EventType,
}

impl NexmarkGenerator {
    /// A generator over the whole stream of `config`.
    pub fn new(config: NexmarkConfig) -> Result<Self, ConfigError> {
        Ok(NexmarkStream::new(config)?.generator())
    }

    /// The next stream position (one past the last generated).
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Events left.
    pub fn remaining(&self) -> i64 {
        self.end - self.position
    }

    /// The bookkeeping of the next event without generating it.
    pub fn peek_info(&self) -> Option<EventInfo> {
        if self.position >= self.end {
            return None;
        }
        let (split, k) = self.locate_next()?;
        Some(self.info(split, k))
    }

    /// The next event and its bookkeeping.
    pub fn next_with_info(&mut self) -> Option<(Event, EventInfo)> {
        if self.position >= self.end {
            return None;
        }
        let (split, k) = self.locate_next()?;
        let info = self.info(split, k);
        let event = self.generate(&info);
        self.split = split;
        self.k = k + 1;
        self.position += 1;
        Some((event, info))
    }

    /// Moves to stream position `position`.
    fn seek(&mut self, position: i64) {
        let splits = &self.context.splits;
        let split = splits
            .partition_point(|s| s.start + s.len <= position)
            .min(splits.len().saturating_sub(1));
        self.split = split;
        self.k = position - splits.get(split).map_or(0, |s| s.start);
        self.position = position;
    }

    /// The split and index of the next position (skipping exhausted splits).
    fn locate_next(&self) -> Option<(usize, i64)> {
        let (mut split, mut k) = (self.split, self.k);
        let splits = &self.context.splits;
        while k >= splits.get(split)?.len {
            split += 1;
            k = 0;
        }
        Some((split, k))
    }

    fn info(&self, split: usize, k: i64) -> EventInfo {
        let context = &self.context;
        let config = &context.config;
        let first_event_id = context.splits[split].first_event_id;
        let event_number = config.first_event_number + k;
        let group = config.out_of_order_group_size;
        let adjusted = (event_number / group) * group + event_number.wrapping_mul(953) % group;
        let event_id = first_event_id + adjusted;
        let rem = event_id % context.total_proportion;
        let event_type = if rem < config.person_proportion {
            EventType::Person
        } else if rem < config.person_proportion + config.auction_proportion {
            EventType::Auction
        } else {
            EventType::Bid
        };
        let timeline = &context.timeline;
        EventInfo {
            position: context.splits[split].start + k,
            split,
            index_in_split: k,
            event_id,
            timestamp_ms: timeline.timestamp_for_event(adjusted),
            emit_offset_ms: timeline.timestamp_for_event(event_number) - config.base_time_ms,
            event_type,
        }
    }

    fn generate(&self, info: &EventInfo) -> Event {
        let context = &*self.context;
        let mut rng = EventRng::for_event(context.config.seed, info.event_id);
        let (event_id, timestamp) = (info.event_id, info.timestamp_ms);
        match info.event_type {
            EventType::Person => {
                Event::Person(person::next_person(context, event_id, &mut rng, timestamp))
            }
            EventType::Auction => {
                let adjusted = event_id - context.splits[info.split].first_event_id;
                Event::Auction(auction::next_auction(
                    context, adjusted, event_id, &mut rng, timestamp,
                ))
            }
            EventType::Bid => Event::Bid(bid::next_bid(context, event_id, &mut rng, timestamp)),
        }
    }
}

impl Iterator for NexmarkGenerator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.next_with_info().map(|(event, _)| event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        (remaining, Some(remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ranges_cover_the_stream() {
        for len in [0, 1, 7, 100, 101] {
            for workers in 1..6 {
                let mut next = 0;
                for worker in 0..workers {
                    let (start, end) = worker_range(len, worker, workers);
                    assert_eq!(start, next);
                    next = end;
                }
                assert_eq!(next, len);
            }
        }
        assert_eq!(worker_range(10, 3, 3), (0, 0));
        assert_eq!(worker_range(10, 0, 0), (0, 0));
    }

    #[test]
    fn splits_follow_flinks_split() {
        let config = NexmarkConfig {
            num_events: 100_000_000,
            num_event_generators: 8,
            ..NexmarkConfig::default()
        };
        let splits = plan_splits(&config);
        assert_eq!(splits.len(), 8);
        assert_eq!(splits[1].first_event_id, 12_500_001);
        assert!(splits.iter().all(|s| s.len == 12_500_000));
        let config = NexmarkConfig {
            num_events: 10,
            num_event_generators: 3,
            stop_at: Some(7),
            ..NexmarkConfig::default()
        };
        let lens: Vec<i64> = plan_splits(&config).iter().map(|s| s.len).collect();
        // max 3, 3, 4; stop-at 2, 2, 3.
        assert_eq!(lens, vec![2, 2, 3]);
    }
}
