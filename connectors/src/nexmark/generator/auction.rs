//! Auctions (Flink's `AuctionGenerator`): auction ids as functions of the event id,
//! hot sellers, and the random fields of a new auction.

use super::GeneratorContext;
use super::person::{last_base0_person_id, next_base0_person_id};
use super::price::next_price;
use super::random::EventRng;
use super::strings::next_string;
use crate::nexmark::model::Auction;
use crate::nexmark::{FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, HOT_BLOCK_SIZE};

/// Categories are `10..15`.
const NUM_CATEGORIES: i32 = 5;

/// Auctions ahead of the last generated one that a bid may reference.
const AUCTION_ID_LEAD: i64 = 10;

/// The last auction id (base 0) generated at or before `event_id`; the new auction's
/// id when `event_id` is an auction slot.
pub(crate) fn last_base0_auction_id(context: &GeneratorContext, event_id: i64) -> i64 {
    let config = &context.config;
    let (persons, auctions) = (config.person_proportion, config.auction_proportion);
    let total = context.total_proportion;
    let mut epoch = event_id / total;
    let mut offset = event_id % total;
    if offset < persons {
        // A person slot: the last auction of the previous epoch.
        epoch -= 1;
        offset = auctions - 1;
    } else if offset >= persons + auctions {
        // A bid slot: the last auction of this epoch.
        offset = auctions - 1;
    } else {
        offset -= persons;
    }
    epoch * auctions + offset
}

/// A random auction (base 0) likely still in flight: one of the last
/// `auction.in-flight + 1`, or up to 10 not generated yet.
pub(crate) fn next_base0_auction_id(
    context: &GeneratorContext,
    event_id: i64,
    rng: &mut EventRng,
) -> i64 {
    let max_auction = last_base0_auction_id(context, event_id);
    let min_auction = (max_auction - context.config.num_in_flight_auctions).max(0);
    min_auction + rng.next_long(max_auction - min_auction + 1 + AUCTION_ID_LEAD)
}

/// The auction of event `event_id`, the generator's event with adjusted event number
/// `adjusted_event_number`, at event time `timestamp`.
pub(crate) fn next_auction(
    context: &GeneratorContext,
    adjusted_event_number: i64,
    event_id: i64,
    rng: &mut EventRng,
    timestamp: i64,
) -> Auction {
    let config = &context.config;
    let id = last_base0_auction_id(context, event_id) + FIRST_AUCTION_ID;
    let seller = if rng.next_int(config.hot_sellers_ratio as i32) > 0 {
        // The first person of the current block of 100.
        (last_base0_person_id(context, event_id) / HOT_BLOCK_SIZE) * HOT_BLOCK_SIZE
    } else {
        next_base0_person_id(context, event_id, rng)
    } + FIRST_PERSON_ID;
    let category = FIRST_CATEGORY_ID + rng.next_int(NUM_CATEGORIES) as i64;
    let initial_bid = next_price(rng);
    let expires =
        timestamp + next_auction_length_ms(context, adjusted_event_number, rng, timestamp);
    let item_name = next_string(rng, 20, b' ');
    let description = next_string(rng, 100, b' ');
    let reserve = initial_bid + next_price(rng);
    let current_size = 8 + item_name.len() + description.len() + 8 * 5;
    let extra =
        context
            .tables
            .padding
            .next_extra(rng, current_size as i64, config.avg_auction_byte_size);
    Auction {
        id,
        item_name,
        description,
        initial_bid,
        reserve,
        date_time: timestamp,
        expires,
        seller,
        category,
        extra,
    }
}

/// `1 + nextLong(max(2 * horizon, 1))` ms, where the horizon is the event time until
/// `auction.in-flight` more auctions have been generated.
fn next_auction_length_ms(
    context: &GeneratorContext,
    adjusted_event_number: i64,
    rng: &mut EventRng,
    timestamp: i64,
) -> i64 {
    let config = &context.config;
    let events_for_auctions = (config.num_in_flight_auctions * context.total_proportion)
        .checked_div(config.auction_proportion)
        .unwrap_or(0);
    let future_auction = context
        .timeline
        .timestamp_for_event(adjusted_event_number.saturating_add(events_for_auctions));
    let horizon_ms = future_auction - timestamp;
    1 + rng.next_long(horizon_ms.saturating_mul(2).max(1))
}
