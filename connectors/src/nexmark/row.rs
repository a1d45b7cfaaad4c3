//! Events as engine rows, in the physical schema of Flink's `ddl_gen.sql`:
//! `(event_type INT, person ROW<...>, auction ROW<...>, bid ROW<...>)`, the absent records
//! `NULL`, times as [`Datum::Timestamp`] in microseconds. The DDL's computed `dateTime`
//! column and its watermark are the SQL layer's business ([`Event::date_time`] gives
//! the same value).

use std::sync::Arc;

use laaster_repr::{Column, ColumnType, Datum, RelationDesc, Row, ScalarType};

use super::model::{Auction, Bid, Event, Person};

/// Field names and types of the `person` record, in DDL order.
pub fn person_fields() -> Vec<(String, ScalarType)> {
    fields(&[
        ("id", ScalarType::Int64),
        ("name", ScalarType::Text),
        ("emailAddress", ScalarType::Text),
        ("creditCard", ScalarType::Text),
        ("city", ScalarType::Text),
        ("state", ScalarType::Text),
        ("dateTime", ScalarType::Timestamp),
        ("extra", ScalarType::Text),
    ])
}

/// Field names and types of the `auction` record, in DDL order.
pub fn auction_fields() -> Vec<(String, ScalarType)> {
    fields(&[
        ("id", ScalarType::Int64),
        ("itemName", ScalarType::Text),
        ("description", ScalarType::Text),
        ("initialBid", ScalarType::Int64),
        ("reserve", ScalarType::Int64),
        ("dateTime", ScalarType::Timestamp),
        ("expires", ScalarType::Timestamp),
        ("seller", ScalarType::Int64),
        ("category", ScalarType::Int64),
        ("extra", ScalarType::Text),
    ])
}

/// Field names and types of the `bid` record, in DDL order.
pub fn bid_fields() -> Vec<(String, ScalarType)> {
    fields(&[
        ("auction", ScalarType::Int64),
        ("bidder", ScalarType::Int64),
        ("price", ScalarType::Int64),
        ("channel", ScalarType::Text),
        ("url", ScalarType::Text),
        ("dateTime", ScalarType::Timestamp),
        ("extra", ScalarType::Text),
    ])
}

fn fields(list: &[(&str, ScalarType)]) -> Vec<(String, ScalarType)> {
    list.iter()
        .map(|(name, typ)| (name.to_string(), typ.clone()))
        .collect()
}

/// The physical columns of a Nexmark source table, the order [`event_to_row`] fills.
pub fn event_schema() -> RelationDesc {
    let column = |name: &str, scalar| Column {
        name: name.to_string(),
        typ: ColumnType::nullable(scalar),
    };
    RelationDesc::new(vec![
        column("event_type", ScalarType::Int32),
        column("person", ScalarType::Record(person_fields())),
        column("auction", ScalarType::Record(auction_fields())),
        column("bid", ScalarType::Record(bid_fields())),
    ])
}

/// `event` as a row of [`event_schema`].
pub fn event_to_row(event: &Event) -> Row {
    let event_type = Datum::Int32(event.event_type() as i32);
    let (person, auction, bid) = match event {
        Event::Person(p) => (person_datum(p), Datum::Null, Datum::Null),
        Event::Auction(a) => (Datum::Null, auction_datum(a), Datum::Null),
        Event::Bid(b) => (Datum::Null, Datum::Null, bid_datum(b)),
    };
    Row::new(vec![event_type, person, auction, bid])
}

/// Milliseconds since the epoch → a `TIMESTAMP` datum (microseconds).
fn timestamp(millis: i64) -> Datum {
    Datum::Timestamp(millis.saturating_mul(1000))
}

fn record(values: Vec<Datum>) -> Datum {
    Datum::Record(Arc::from(values))
}

fn person_datum(p: &Person) -> Datum {
    record(vec![
        Datum::Int64(p.id),
        Datum::text(&p.name),
        Datum::text(&p.email_address),
        Datum::text(&p.credit_card),
        Datum::text(p.city),
        Datum::text(p.state),
        timestamp(p.date_time),
        Datum::text(&p.extra),
    ])
}

fn auction_datum(a: &Auction) -> Datum {
    record(vec![
        Datum::Int64(a.id),
        Datum::text(&a.item_name),
        Datum::text(&a.description),
        Datum::Int64(a.initial_bid),
        Datum::Int64(a.reserve),
        timestamp(a.date_time),
        timestamp(a.expires),
        Datum::Int64(a.seller),
        Datum::Int64(a.category),
        Datum::text(&a.extra),
    ])
}

fn bid_datum(b: &Bid) -> Datum {
    record(vec![
        Datum::Int64(b.auction),
        Datum::Int64(b.bidder),
        Datum::Int64(b.price),
        Datum::Text(Arc::clone(&b.channel)),
        Datum::Text(Arc::clone(&b.url)),
        timestamp(b.date_time),
        Datum::text(&b.extra),
    ])
}
