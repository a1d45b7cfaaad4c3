//! [`NexmarkConfig`]: the generator's parameters, read from SQL `WITH` options under
//! the names of Flink's `NexmarkSourceOptions` (`events.num`, `first-event.rate`, ...),
//! plus a few Laaster options (`seed`, `base-time`, `event-generators`, ...) that Flink
//! fixes in code. Unknown options and bad values are refused with a [`ConfigError`] that
//! names the option, says why, and hints at the fix.

mod values;

use std::fmt;
use std::time::Duration;

use self::values::{parse_base_time, parse_duration, parse_memory_size};

/// `2015-07-15 00:00:00` UTC in milliseconds: Beam's fixed base time, the default here so
/// that a seed alone determines the stream (Flink uses the wall clock at planning time).
pub const DEFAULT_BASE_TIME_MS: i64 = 1_436_918_400_000;

/// The largest accepted `*.avg-size` (64 MiB): Flink takes any `int`, but one event of
/// gigabytes would only exhaust memory.
pub const MAX_AVG_SIZE_BYTES: i64 = 64 << 20;

/// The largest accepted `events.num`, `first-event.id` and `first-event.number` (2^60),
/// so that id and event-number arithmetic never overflows a 64-bit integer.
pub const MAX_EVENT_COUNT: i64 = 1 << 60;

/// The largest base time accepted: `9999-12-31 23:59:59.999` UTC.
pub(crate) const MAX_BASE_TIME_MS: i64 = 253_402_300_799_999;

/// How Flink varies the event rate over time. The Flink generator accepts the option
/// but ignores it (a single constant rate); so does this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateShape {
    Square,
    Sine,
}

/// How many times `FIRST_PERSON_ID` (1000) is added to a bid's bidder (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BidderOffset {
    /// Twice (base-0 id + 2000), as Flink's `BidGenerator` does: reproduces Flink's
    /// join selectivities. The default.
    Flink,
    /// Once (base-0 id + 1000), as Beam, nexmark-rs and Feldera do: bidders are real
    /// person ids.
    Beam,
}

impl BidderOffset {
    /// What is added to a base-0 bidder id.
    pub fn added(self) -> i64 {
        match self {
            BidderOffset::Flink => 2 * super::FIRST_PERSON_ID,
            BidderOffset::Beam => super::FIRST_PERSON_ID,
        }
    }
}

/// Every parameter of the Nexmark generator. Field names follow Flink's
/// `NexmarkConfiguration`; [`NexmarkConfig::from_options`] lists the option names.
/// `Default` is Flink's default configuration (1:3:46, 10 000 events/s, unbounded) with
/// seed 0 and base time [`DEFAULT_BASE_TIME_MS`].
#[derive(Clone, Debug, PartialEq)]
pub struct NexmarkConfig {
    /// `events.num`: events in the whole stream; 0 = unbounded (in practice
    /// `i64::MAX / (total proportion * largest avg size)`, as in Flink).
    pub num_events: i64,
    /// `first-event.rate`: events per second of event time (over all generators).
    pub first_event_rate: i64,
    /// `next-event.rate`: accepted, ignored like in Flink (single constant rate).
    pub next_event_rate: i64,
    /// `rate.shape`: accepted, ignored.
    pub rate_shape: RateShape,
    /// `rate.period`: accepted, ignored.
    pub rate_period: Duration,
    /// `rate.limited`: accepted, ignored (see `max_emit_speed`).
    pub rate_limited: bool,
    /// `person.proportion`, `auction.proportion`, `bid.proportion`.
    pub person_proportion: i64,
    pub auction_proportion: i64,
    pub bid_proportion: i64,
    /// `person.avg-size`, `auction.avg-size`, `bid.avg-size`, in bytes (Flink memory
    /// sizes: `200`, `200b`, `1kb`, `1 mb`).
    pub avg_person_byte_size: i64,
    pub avg_auction_byte_size: i64,
    pub avg_bid_byte_size: i64,
    /// `bid.hot-ratio.auctions`: a bid goes to the hot auction with probability
    /// `1 - 1/ratio`.
    pub hot_auction_ratio: i64,
    /// `bid.hot-ratio.bidders`.
    pub hot_bidders_ratio: i64,
    /// `auction.hot-ratio.sellers`.
    pub hot_sellers_ratio: i64,
    /// `auction.in-flight` (Laaster; Flink: `numInFlightAuctions`, not a SQL option).
    pub num_in_flight_auctions: i64,
    /// `person.active` (Laaster; Flink: `numActivePeople`).
    pub num_active_people: i64,
    /// `out-of-order.group-size` (Laaster; Flink: `outOfOrderGroupSize`); 1 = in order.
    pub out_of_order_group_size: i64,
    /// `keep-alive`: a bounded source stays open after its last event.
    pub keep_alive: bool,
    /// `stop-at`: stop after this many events (split over the generators like
    /// `events.num`); `None` (Flink: `-1`) = no stop.
    pub stop_at: Option<i64>,
    /// `max-emit-speed`: emit as fast as possible (true, the default) or pace events by
    /// their event time. The generator only reports the pace; sources apply it.
    pub max_emit_speed: bool,
    /// `event-generators` (Laaster; Flink: `numEventGenerators`, set to the job's
    /// parallelism): how many parallel timelines the stream is made of (spec §3).
    pub num_event_generators: i64,
    /// `first-event.id` (Laaster; Flink's SQL source: 1).
    pub first_event_id: i64,
    /// `first-event.number` (Laaster; Flink's SQL source: 1).
    pub first_event_number: i64,
    /// `base-time` (Laaster): event time of event number 0, ms since the Unix epoch.
    pub base_time_ms: i64,
    /// `seed` (Laaster): seeds every field value; the same seed gives the same events.
    pub seed: u64,
    /// `bid.bidder-offset` (Laaster): `flink` (+2000) or `beam` (+1000).
    pub bidder_offset: BidderOffset,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            num_events: 0,
            first_event_rate: 10_000,
            next_event_rate: 10_000,
            rate_shape: RateShape::Square,
            rate_period: Duration::from_secs(600),
            rate_limited: false,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            hot_auction_ratio: 2,
            hot_bidders_ratio: 4,
            hot_sellers_ratio: 4,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
            out_of_order_group_size: 1,
            keep_alive: false,
            stop_at: None,
            max_emit_speed: true,
            num_event_generators: 1,
            first_event_id: 1,
            first_event_number: 1,
            base_time_ms: DEFAULT_BASE_TIME_MS,
            seed: 0,
            bidder_offset: BidderOffset::Flink,
        }
    }
}

/// A rejected option: which one, why, and what to do. Rendered Postgres-style by
/// callers (`ERROR: {message}`, `DETAIL: {detail}`, `HINT: {hint}`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// The option at fault (`events.num`), or the pair of options that conflict.
    pub option: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ConfigError {
    fn new(option: &str, message: String) -> Self {
        ConfigError {
            option: option.to_string(),
            message,
            detail: None,
            hint: None,
        }
    }

    fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `message`, then `DETAIL:` and `HINT:` lines when present.
    pub fn render(&self) -> String {
        let mut text = self.message.clone();
        if let Some(detail) = &self.detail {
            text.push_str("\nDETAIL:  ");
            text.push_str(detail);
        }
        if let Some(hint) = &self.hint {
            text.push_str("\nHINT:  ");
            text.push_str(hint);
        }
        text
    }
}

/// What an option's value must look like; drives parsing and the error text.
#[derive(Clone, Copy)]
enum Kind {
    /// An integer in `min..=max`.
    Integer {
        min: i64,
        max: i64,
    },
    /// A Flink memory size (`200b`, `1 kb`) in bytes, `0..=MAX_AVG_SIZE_BYTES`.
    MemorySize,
    Boolean,
    /// A Flink duration (`600 s`, `10min`; a plain number is milliseconds).
    Duration,
    /// `square` or `sine`.
    RateShape,
    /// `flink` or `beam`.
    BidderOffset,
    /// Milliseconds since the epoch, or `yyyy-MM-dd HH:mm:ss[.SSS]` (UTC).
    Timestamp,
    /// Any 64-bit integer, signed or unsigned.
    Seed,
    /// Must equal `nexmark`.
    ConnectorName,
}

impl Kind {
    fn expected(self) -> String {
        match self {
            Kind::Integer { min, max } if max == i64::MAX => format!("an integer >= {min}"),
            Kind::Integer { min, max } => format!("an integer between {min} and {max}"),
            Kind::MemorySize => format!(
                "a size in bytes such as '200', '200b', '1kb' or '2 mb', at most {MAX_AVG_SIZE_BYTES} bytes"
            ),
            Kind::Boolean => "'true' or 'false'".to_string(),
            Kind::Duration => "a duration such as '600 s', '10 min' or '1h'".to_string(),
            Kind::RateShape => "'square' or 'sine'".to_string(),
            Kind::BidderOffset => "'flink' (bidder + 2000) or 'beam' (bidder + 1000)".to_string(),
            Kind::Timestamp => {
                "milliseconds since 1970-01-01 UTC, or 'yyyy-MM-dd HH:mm:ss[.SSS]' (UTC)"
                    .to_string()
            }
            Kind::Seed => "a 64-bit integer".to_string(),
            Kind::ConnectorName => "'nexmark'".to_string(),
        }
    }
}

const INT_MAX: i64 = i32::MAX as i64;

/// Every accepted option, its kind, and a one-line description (for errors and docs).
const OPTIONS: &[(&str, Kind, &str)] = &[
    ("connector", Kind::ConnectorName, "the connector name"),
    (
        "events.num",
        Kind::Integer {
            min: 0,
            max: MAX_EVENT_COUNT,
        },
        "number of events; 0 = unbounded",
    ),
    (
        "first-event.rate",
        Kind::Integer {
            min: 1,
            max: INT_MAX,
        },
        "events per second of event time",
    ),
    (
        "next-event.rate",
        Kind::Integer {
            min: 1,
            max: INT_MAX,
        },
        "ignored, as in Flink",
    ),
    ("rate.shape", Kind::RateShape, "ignored, as in Flink"),
    ("rate.period", Kind::Duration, "ignored, as in Flink"),
    ("rate.limited", Kind::Boolean, "ignored, as in Flink"),
    (
        "person.proportion",
        Kind::Integer {
            min: 0,
            max: INT_MAX,
        },
        "persons per total proportion",
    ),
    (
        "auction.proportion",
        Kind::Integer {
            min: 0,
            max: INT_MAX,
        },
        "auctions per total proportion",
    ),
    (
        "bid.proportion",
        Kind::Integer {
            min: 0,
            max: INT_MAX,
        },
        "bids per total proportion",
    ),
    ("person.avg-size", Kind::MemorySize, "average person size"),
    ("auction.avg-size", Kind::MemorySize, "average auction size"),
    ("bid.avg-size", Kind::MemorySize, "average bid size"),
    (
        "bid.hot-ratio.auctions",
        Kind::Integer {
            min: 1,
            max: INT_MAX,
        },
        "1 - 1/ratio of bids go to the hot auction",
    ),
    (
        "bid.hot-ratio.bidders",
        Kind::Integer {
            min: 1,
            max: INT_MAX,
        },
        "1 - 1/ratio of bids come from the hot bidder",
    ),
    (
        "auction.hot-ratio.sellers",
        Kind::Integer {
            min: 1,
            max: INT_MAX,
        },
        "1 - 1/ratio of auctions come from the hot seller",
    ),
    (
        "auction.in-flight",
        Kind::Integer {
            min: 0,
            max: INT_MAX,
        },
        "auctions a cold bid chooses among",
    ),
    (
        "person.active",
        Kind::Integer {
            min: 0,
            max: INT_MAX,
        },
        "persons a cold seller or bidder is chosen among",
    ),
    (
        "out-of-order.group-size",
        Kind::Integer {
            min: 1,
            max: INT_MAX,
        },
        "events shuffled within groups of this size; 1 = in order",
    ),
    (
        "keep-alive",
        Kind::Boolean,
        "stay open after the last event",
    ),
    (
        "stop-at",
        Kind::Integer {
            min: i64::MIN,
            max: MAX_EVENT_COUNT,
        },
        "stop after this many events; negative = never",
    ),
    ("max-emit-speed", Kind::Boolean, "emit unthrottled"),
    (
        "event-generators",
        Kind::Integer {
            min: 1,
            max: 65_536,
        },
        "parallel timelines (Flink: the job's parallelism)",
    ),
    (
        "first-event.id",
        Kind::Integer {
            min: 0,
            max: MAX_EVENT_COUNT,
        },
        "id offset of the first generator",
    ),
    (
        "first-event.number",
        Kind::Integer {
            min: 0,
            max: MAX_EVENT_COUNT,
        },
        "event number of each generator's first event",
    ),
    ("base-time", Kind::Timestamp, "event time of event number 0"),
    ("seed", Kind::Seed, "seed of all field values"),
    ("bid.bidder-offset", Kind::BidderOffset, "bidder id offset"),
];

/// A parsed option value.
enum Value {
    Integer(i64),
    Boolean(bool),
    Duration(Duration),
    RateShape(RateShape),
    BidderOffset(BidderOffset),
    Seed(u64),
    Unit,
}

impl NexmarkConfig {
    /// The names of every accepted option, in documentation order.
    pub fn option_names() -> impl Iterator<Item = &'static str> {
        OPTIONS.iter().map(|(name, _, _)| *name)
    }

    /// Builds a configuration from SQL `WITH` options (keys are case-sensitive, like
    /// Flink's). Options not given keep their [`Default`]. Refuses unknown options,
    /// options given twice, malformed or out-of-range values and inconsistent
    /// combinations (all proportions zero). Never panics.
    pub fn from_options(options: &[(String, String)]) -> Result<NexmarkConfig, ConfigError> {
        let mut config = NexmarkConfig::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, raw) in options {
            let Some((name, kind, _)) = OPTIONS.iter().find(|(name, _, _)| *name == key) else {
                return Err(unknown_option(key));
            };
            if seen.contains(name) {
                return Err(ConfigError::new(
                    name,
                    format!("nexmark option '{name}' is given more than once"),
                )
                .with_hint("give each option once"));
            }
            seen.push(name);
            let value = parse_value(*kind, raw.trim()).map_err(|why| {
                let mut err = ConfigError::new(
                    name,
                    format!("invalid value '{raw}' for nexmark option '{name}'"),
                )
                .with_hint(format!("'{name}' takes {}", kind.expected()));
                if let Some(why) = why {
                    err = err.with_detail(why);
                }
                err
            })?;
            config.set(name, value);
        }
        config.validate()?;
        Ok(config)
    }

    fn set(&mut self, name: &str, value: Value) {
        let int = match value {
            Value::Integer(i) => i,
            Value::Boolean(b) => {
                match name {
                    "rate.limited" => self.rate_limited = b,
                    "keep-alive" => self.keep_alive = b,
                    _ => self.max_emit_speed = b,
                }
                return;
            }
            Value::Duration(d) => {
                self.rate_period = d;
                return;
            }
            Value::RateShape(shape) => {
                self.rate_shape = shape;
                return;
            }
            Value::BidderOffset(offset) => {
                self.bidder_offset = offset;
                return;
            }
            Value::Seed(seed) => {
                self.seed = seed;
                return;
            }
            Value::Unit => return,
        };
        let field = match name {
            "events.num" => &mut self.num_events,
            "first-event.rate" => &mut self.first_event_rate,
            "next-event.rate" => &mut self.next_event_rate,
            "person.proportion" => &mut self.person_proportion,
            "auction.proportion" => &mut self.auction_proportion,
            "bid.proportion" => &mut self.bid_proportion,
            "person.avg-size" => &mut self.avg_person_byte_size,
            "auction.avg-size" => &mut self.avg_auction_byte_size,
            "bid.avg-size" => &mut self.avg_bid_byte_size,
            "bid.hot-ratio.auctions" => &mut self.hot_auction_ratio,
            "bid.hot-ratio.bidders" => &mut self.hot_bidders_ratio,
            "auction.hot-ratio.sellers" => &mut self.hot_sellers_ratio,
            "auction.in-flight" => &mut self.num_in_flight_auctions,
            "person.active" => &mut self.num_active_people,
            "out-of-order.group-size" => &mut self.out_of_order_group_size,
            "event-generators" => &mut self.num_event_generators,
            "first-event.id" => &mut self.first_event_id,
            "first-event.number" => &mut self.first_event_number,
            "base-time" => &mut self.base_time_ms,
            "stop-at" => {
                self.stop_at = (int >= 0).then_some(int);
                return;
            }
            _ => return,
        };
        *field = int;
    }

    /// Checks the whole configuration (also one built in code rather than from
    /// options): every value in its option's range, and at least one non-zero
    /// proportion.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let integers = [
            ("events.num", self.num_events),
            ("first-event.rate", self.first_event_rate),
            ("next-event.rate", self.next_event_rate),
            ("person.proportion", self.person_proportion),
            ("auction.proportion", self.auction_proportion),
            ("bid.proportion", self.bid_proportion),
            ("person.avg-size", self.avg_person_byte_size),
            ("auction.avg-size", self.avg_auction_byte_size),
            ("bid.avg-size", self.avg_bid_byte_size),
            ("bid.hot-ratio.auctions", self.hot_auction_ratio),
            ("bid.hot-ratio.bidders", self.hot_bidders_ratio),
            ("auction.hot-ratio.sellers", self.hot_sellers_ratio),
            ("auction.in-flight", self.num_in_flight_auctions),
            ("person.active", self.num_active_people),
            ("out-of-order.group-size", self.out_of_order_group_size),
            ("stop-at", self.stop_at.unwrap_or(-1)),
            ("event-generators", self.num_event_generators),
            ("first-event.id", self.first_event_id),
            ("first-event.number", self.first_event_number),
            ("base-time", self.base_time_ms),
        ];
        for (name, value) in integers {
            let (min, max) = match option_kind(name) {
                Some(Kind::Integer { min, max }) => (min, max),
                Some(Kind::MemorySize) => (0, MAX_AVG_SIZE_BYTES),
                _ => (0, MAX_BASE_TIME_MS),
            };
            if value < min || value > max {
                return Err(ConfigError::new(
                    name,
                    format!("nexmark option '{name}' is out of range: {value}"),
                )
                .with_hint(format!("'{name}' must be between {min} and {max}")));
            }
        }
        if self.total_proportion() == 0 {
            return Err(ConfigError::new(
                "person.proportion",
                "nexmark options 'person.proportion', 'auction.proportion' and 'bid.proportion' are all 0"
                    .to_string(),
            )
            .with_detail("the stream would have no events of any type")
            .with_hint("give at least one a positive value (the default is 1:3:46)"));
        }
        Ok(())
    }

    /// `person.proportion + auction.proportion + bid.proportion`.
    pub fn total_proportion(&self) -> i64 {
        self.person_proportion + self.auction_proportion + self.bid_proportion
    }

    /// Event-time spacing of consecutive events of one generator, in microseconds:
    /// `1e6 / first-event.rate * event-generators` (a double, as in Flink).
    pub fn inter_event_delay_us(&self) -> f64 {
        1_000_000.0 / self.first_event_rate.max(1) as f64 * self.num_event_generators as f64
    }

    /// Events in the whole stream before any split: `events.num`, or Flink's
    /// "unbounded" count `i64::MAX / (total proportion * largest avg size)` when it is 0.
    pub fn max_events(&self) -> i64 {
        if self.num_events > 0 {
            return self.num_events;
        }
        let largest = self
            .avg_person_byte_size
            .max(self.avg_auction_byte_size)
            .max(self.avg_bid_byte_size)
            .max(1);
        i64::MAX / (self.total_proportion().max(1) * largest)
    }

    /// Whether `events.num = 0` (the stream is unbounded for practical purposes).
    pub fn is_unbounded(&self) -> bool {
        self.num_events == 0
    }
}

fn option_kind(name: &str) -> Option<Kind> {
    OPTIONS
        .iter()
        .find(|(option, _, _)| *option == name)
        .map(|(_, kind, _)| *kind)
}

fn unknown_option(key: &str) -> ConfigError {
    let closest = OPTIONS
        .iter()
        .map(|(name, _, _)| (strsim::jaro_winkler(key, name), *name))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let err = ConfigError::new(key, format!("unknown nexmark option '{key}'"));
    match closest {
        Some((score, name)) if score >= 0.8 => err.with_hint(format!("did you mean '{name}'?")),
        _ => err.with_hint(format!(
            "the nexmark options are: {}",
            NexmarkConfig::option_names().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Parses one value; `Err(Some(why))` adds a detail line to the error.
fn parse_value(kind: Kind, text: &str) -> Result<Value, Option<String>> {
    match kind {
        Kind::Integer { min, max } => {
            let value: i64 = text.parse().map_err(|_| None)?;
            if value < min || value > max {
                return Err(Some(format!("{value} is out of range")));
            }
            Ok(Value::Integer(value))
        }
        Kind::MemorySize => {
            let bytes = parse_memory_size(text)?;
            if bytes > MAX_AVG_SIZE_BYTES {
                return Err(Some(format!("{bytes} bytes is too large")));
            }
            Ok(Value::Integer(bytes))
        }
        Kind::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(None),
        },
        Kind::Duration => parse_duration(text).map(Value::Duration),
        Kind::RateShape => match text.to_ascii_lowercase().as_str() {
            "square" => Ok(Value::RateShape(RateShape::Square)),
            "sine" => Ok(Value::RateShape(RateShape::Sine)),
            _ => Err(None),
        },
        Kind::BidderOffset => match text.to_ascii_lowercase().as_str() {
            "flink" => Ok(Value::BidderOffset(BidderOffset::Flink)),
            "beam" => Ok(Value::BidderOffset(BidderOffset::Beam)),
            _ => Err(None),
        },
        Kind::Timestamp => parse_base_time(text).map(Value::Integer),
        Kind::Seed => text
            .parse::<u64>()
            .or_else(|_| text.parse::<i64>().map(|s| s as u64))
            .map(Value::Seed)
            .map_err(|_| None),
        Kind::ConnectorName if text == "nexmark" => Ok(Value::Unit),
        Kind::ConnectorName => Err(Some("these options configure the nexmark connector".into())),
    }
}

impl fmt::Display for RateShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateShape::Square => "square",
            RateShape::Sine => "sine",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_flinks() {
        let config = NexmarkConfig::from_options(&[]).unwrap();
        assert_eq!(config, NexmarkConfig::default());
        assert_eq!(config.total_proportion(), 50);
        assert_eq!(config.inter_event_delay_us(), 100.0);
        assert_eq!(config.max_events(), i64::MAX / (50 * 500));
    }

    #[test]
    fn flink_ddl_options_parse() {
        let config = NexmarkConfig::from_options(&options(&[
            ("connector", "nexmark"),
            ("first-event.rate", "10000000"),
            ("next-event.rate", "10000000"),
            ("events.num", "100000000"),
            ("person.proportion", "1"),
            ("auction.proportion", "3"),
            ("bid.proportion", "46"),
            ("person.avg-size", "1kb"),
            ("bid.avg-size", "100 b"),
            ("rate.period", "10 min"),
            ("rate.shape", "SINE"),
            ("keep-alive", "TRUE"),
            ("stop-at", "-1"),
            ("seed", "-3"),
            ("base-time", "2015-07-15 00:00:01.5"),
            ("bid.bidder-offset", "beam"),
        ]))
        .unwrap();
        assert_eq!(config.num_events, 100_000_000);
        assert_eq!(config.first_event_rate, 10_000_000);
        assert_eq!(config.avg_person_byte_size, 1024);
        assert_eq!(config.avg_bid_byte_size, 100);
        assert_eq!(config.rate_period, Duration::from_secs(600));
        assert_eq!(config.rate_shape, RateShape::Sine);
        assert!(config.keep_alive);
        assert_eq!(config.stop_at, None);
        assert_eq!(config.seed, (-3_i64) as u64);
        assert_eq!(config.base_time_ms, DEFAULT_BASE_TIME_MS + 1500);
        assert_eq!(config.bidder_offset, BidderOffset::Beam);
    }

    /// Options, the option the error must name, and a part of its hint.
    type BadCase = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );

    #[test]
    fn bad_options_are_refused_with_the_option_named() {
        let cases: &[BadCase] = &[
            (
                &[("events.nm", "1")],
                "events.nm",
                "did you mean 'events.num'?",
            ),
            (
                &[("events.num", "-1")],
                "events.num",
                "an integer between 0",
            ),
            (&[("events.num", "ten")], "events.num", "an integer"),
            (
                &[("first-event.rate", "0")],
                "first-event.rate",
                "between 1 and",
            ),
            (
                &[("bid.hot-ratio.auctions", "0")],
                "bid.hot-ratio.auctions",
                "",
            ),
            (&[("person.avg-size", "2 zb")], "person.avg-size", "size"),
            (
                &[("person.avg-size", "99999999999999999999")],
                "person.avg-size",
                "",
            ),
            (&[("bid.avg-size", "1gb")], "bid.avg-size", ""),
            (&[("keep-alive", "yes")], "keep-alive", "'true' or 'false'"),
            (&[("connector", "kafka")], "connector", "'nexmark'"),
            (&[("base-time", "2015-02-30 00:00:00")], "base-time", ""),
            (&[("base-time", "-5")], "base-time", ""),
            (&[("seed", "0x1")], "seed", ""),
            (&[("rate.period", "5 fortnights")], "rate.period", ""),
            (
                &[("bid.proportion", "1"), ("bid.proportion", "2")],
                "bid.proportion",
                "once",
            ),
            (
                &[
                    ("person.proportion", "0"),
                    ("auction.proportion", "0"),
                    ("bid.proportion", "0"),
                ],
                "person.proportion",
                "1:3:46",
            ),
        ];
        for (pairs, option, hint_part) in cases {
            let err = NexmarkConfig::from_options(&options(pairs)).unwrap_err();
            assert_eq!(&err.option, option, "{pairs:?}: {}", err.render());
            let hint = err.hint.clone().unwrap_or_default();
            assert!(hint.contains(hint_part), "{pairs:?}: {}", err.render());
            assert!(err.message.contains(option), "{}", err.render());
        }
    }

    #[test]
    fn hostile_values_never_panic() {
        let values = [
            "",
            " ",
            "-",
            "9223372036854775807",
            "-9223372036854775808",
            "1e9",
            "ü",
            "1 ü",
            "18446744073709551616",
            "0",
            "2015-07-15 00:00:00.",
            "9999-12-31 23:59:59.999x",
        ];
        for name in NexmarkConfig::option_names() {
            for value in values {
                let _ = NexmarkConfig::from_options(&options(&[(name, value)]));
            }
        }
    }
}
