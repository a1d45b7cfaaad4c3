//! # The Nexmark event generator
//!
//! Nexmark models an online auction: persons register, open auctions, and bid. This
//! module produces its event stream exactly as `../shared/nexmark/generator.md`
//! specifies, i.e. compatible with the Flink generator (`nexmark/nexmark`, folder
//! `nexmark-flink`) behind published Nexmark numbers: same event ids, event types
//! (1:3:46 by default, a pure function of the id), entity ids, hot keys, timestamps,
//! string lengths and padding. Field *values* cannot match Flink bit for bit (Flink's
//! RNG is unseeded); here they are a deterministic function of `(seed, eventId)`.
//!
//! - [`config`] — [`NexmarkConfig`], parsed from SQL `WITH` options with Flink's names.
//! - [`model`] — [`Person`], [`Auction`], [`Bid`], [`Event`].
//! - [`generator`] — [`NexmarkStream`] (the stream of a configuration, split like Flink)
//!   and [`NexmarkGenerator`] (an iterator over a range of it, e.g. one worker's share).
//! - [`json`] — JSON lines in the layout of Flink's `ddl_kafka.sql`.
//! - [`row`] — [`laaster_repr::Row`]s in the schema of Flink's `ddl_gen.sql`.
//!
//! ```
//! use laaster_connectors::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
//!
//! let options = vec![("events.num".to_string(), "100".to_string())];
//! let config = NexmarkConfig::from_options(&options).unwrap();
//! let events: Vec<Event> = NexmarkGenerator::new(config).unwrap().collect();
//! assert_eq!(events.len(), 100);
//! // Event id 2 (the first of Flink's SQL source) is an auction, id 1001.
//! assert!(matches!(&events[0], Event::Auction(a) if a.id == 1001));
//! ```
//!
//! Differences from the Flink generator are listed in `connectors/README.md`.

pub mod config;
pub mod generator;
pub mod json;
pub mod model;
pub mod queries;
pub mod row;

pub use config::{BidderOffset, ConfigError, NexmarkConfig, RateShape};
pub use generator::{EventInfo, NexmarkGenerator, NexmarkStream};
pub use json::write_json_line;
pub use model::{Auction, Bid, Event, EventType, Person};
pub use row::{event_schema, event_to_row};

/// Person ids start here (`GeneratorConfig.FIRST_PERSON_ID`).
pub const FIRST_PERSON_ID: i64 = 1000;
/// Auction ids start here (`GeneratorConfig.FIRST_AUCTION_ID`).
pub const FIRST_AUCTION_ID: i64 = 1000;
/// Categories are `FIRST_CATEGORY_ID..FIRST_CATEGORY_ID + 5`.
pub const FIRST_CATEGORY_ID: i64 = 10;
/// Hot sellers, bidders and auctions are the first (bidders: second) of each block of
/// this many ids (Flink's `HOT_SELLER_RATIO`, `HOT_BIDDER_RATIO`, `HOT_AUCTION_RATIO`).
pub const HOT_BLOCK_SIZE: i64 = 100;
