//! Bids (Flink's `BidGenerator`): hot auctions and bidders, channels and URLs.

use std::sync::Arc;

use super::GeneratorContext;
use super::auction::{last_base0_auction_id, next_base0_auction_id};
use super::person::{last_base0_person_id, next_base0_person_id};
use super::price::next_price;
use super::random::EventRng;
use super::strings::next_string;
use crate::nexmark::model::Bid;
use crate::nexmark::{FIRST_AUCTION_ID, HOT_BLOCK_SIZE};

/// Half of the bids come through one of the hot channels.
const HOT_CHANNELS_RATIO: i32 = 2;
/// The other half through one of this many numbered channels.
const CHANNELS_NUMBER: i32 = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// `(channel, url)` pairs: Flink's `HOT_URLS` and `CHANNEL_URL_CACHE`, built once per
/// seed (Flink builds them once per JVM from an unseeded RNG).
#[derive(Debug)]
pub(crate) struct ChannelTable {
    hot: Vec<(Arc<str>, Arc<str>)>,
    numbered: Vec<(Arc<str>, Arc<str>)>,
}

impl ChannelTable {
    pub(crate) fn new(rng: &mut EventRng) -> Self {
        let hot = HOT_CHANNELS
            .iter()
            .map(|name| (Arc::from(*name), Arc::from(base_url(rng))))
            .collect();
        let numbered = (0..CHANNELS_NUMBER)
            .map(|i| {
                let mut url = base_url(rng);
                if rng.next_int(10) > 0 {
                    // Java's Math.abs(Integer.reverse(i)): abs(MIN_VALUE) stays negative.
                    url.push_str("&channel_id=");
                    url.push_str(&i.reverse_bits().wrapping_abs().to_string());
                }
                (Arc::from(format!("channel-{i}")), Arc::from(url))
            })
            .collect();
        ChannelTable { hot, numbered }
    }
}

/// `https://www.nexmark.com/s1/s2/s3/item.htm?query=1`, each `s` 3–4 of `a..z` or `_`.
fn base_url(rng: &mut EventRng) -> String {
    format!(
        "https://www.nexmark.com/{}/{}/{}/item.htm?query=1",
        next_string(rng, 5, b'_'),
        next_string(rng, 5, b'_'),
        next_string(rng, 5, b'_')
    )
}

/// The bid of event `event_id` at event time `timestamp`.
pub(crate) fn next_bid(
    context: &GeneratorContext,
    event_id: i64,
    rng: &mut EventRng,
    timestamp: i64,
) -> Bid {
    let config = &context.config;
    let auction = if rng.next_int(config.hot_auction_ratio as i32) > 0 {
        // The first auction of the current block of 100.
        (last_base0_auction_id(context, event_id) / HOT_BLOCK_SIZE) * HOT_BLOCK_SIZE
    } else {
        next_base0_auction_id(context, event_id, rng)
    } + FIRST_AUCTION_ID;
    let bidder = if rng.next_int(config.hot_bidders_ratio as i32) > 0 {
        // The second person of the current block of 100 (hot sellers are the first).
        (last_base0_person_id(context, event_id) / HOT_BLOCK_SIZE) * HOT_BLOCK_SIZE + 1
    } else {
        next_base0_person_id(context, event_id, rng)
    } + config.bidder_offset.added();
    let price = next_price(rng);
    let table = &context.tables.channels;
    let (channel, url) = if rng.next_int(HOT_CHANNELS_RATIO) > 0 {
        &table.hot[rng.next_int(table.hot.len() as i32) as usize]
    } else {
        &table.numbered[rng.next_int(table.numbered.len() as i32) as usize]
    };
    let extra = context
        .tables
        .padding
        .next_extra(rng, 32, config.avg_bid_byte_size);
    Bid {
        auction,
        bidder,
        price,
        channel: Arc::clone(channel),
        url: Arc::clone(url),
        date_time: timestamp,
        extra,
    }
}
