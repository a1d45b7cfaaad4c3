//! The Nexmark records: [`Person`], [`Auction`], [`Bid`], and [`Event`], one of them.
//! Field names and order follow Flink's `ddl_gen.sql` (camelCase in JSON and rows);
//! times are milliseconds since the Unix epoch (Flink's `TIMESTAMP(3)`, read as UTC).

use std::sync::Arc;

/// A new person registers (event type 0).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub email_address: String,
    pub credit_card: String,
    pub city: &'static str,
    pub state: &'static str,
    /// Event time, ms since the epoch.
    pub date_time: i64,
    pub extra: String,
}

/// A person opens an auction (event type 1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Auction {
    pub id: i64,
    pub item_name: String,
    pub description: String,
    /// Price in cents.
    pub initial_bid: i64,
    pub reserve: i64,
    /// Event time, ms since the epoch.
    pub date_time: i64,
    /// When the auction closes, ms since the epoch (after `date_time`).
    pub expires: i64,
    pub seller: i64,
    pub category: i64,
    pub extra: String,
}

/// A person bids on an auction (event type 2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bid {
    pub auction: i64,
    pub bidder: i64,
    /// Price in cents.
    pub price: i64,
    /// Shared with every other bid of the same channel.
    pub channel: Arc<str>,
    pub url: Arc<str>,
    /// Event time, ms since the epoch.
    pub date_time: i64,
    pub extra: String,
}

/// The `event_type` column: 0 person, 1 auction, 2 bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    Person = 0,
    Auction = 1,
    Bid = 2,
}

/// One event of the combined stream: exactly one of the three records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    Person(Person),
    Auction(Auction),
    Bid(Bid),
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::Person(_) => EventType::Person,
            Event::Auction(_) => EventType::Auction,
            Event::Bid(_) => EventType::Bid,
        }
    }

    /// The event time: the record's `dateTime` (the DDL's computed `dateTime` column).
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(person) => person.date_time,
            Event::Auction(auction) => auction.date_time,
            Event::Bid(bid) => bid.date_time,
        }
    }

    /// The size the generator aims `extra` at (spec §5): 8 bytes per number or time
    /// plus the string lengths. Averages `*.avg-size` over many events.
    pub fn accounted_size(&self) -> usize {
        match self {
            Event::Person(p) => {
                8 + p.name.len()
                    + p.email_address.len()
                    + p.credit_card.len()
                    + p.city.len()
                    + p.state.len()
                    + p.extra.len()
            }
            Event::Auction(a) => 8 + a.item_name.len() + a.description.len() + 40 + a.extra.len(),
            Event::Bid(b) => 32 + b.extra.len(),
        }
    }
}
