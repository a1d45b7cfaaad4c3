//! The Nexmark generator against the numbers of `../shared/nexmark/generator.md`:
//! event mix, id arithmetic, hot keys, timestamps, splits, sizes, JSON and rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use laaster_connectors::nexmark::json::format_timestamp;
use laaster_connectors::nexmark::{
    Event, EventInfo, EventType, NexmarkConfig, NexmarkGenerator, NexmarkStream, event_schema,
    event_to_row, write_json_line,
};
use laaster_repr::{Datum, ScalarType};

const BASE: i64 = laaster_connectors::nexmark::config::DEFAULT_BASE_TIME_MS;

fn config(pairs: &[(&str, &str)]) -> NexmarkConfig {
    let options: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    NexmarkConfig::from_options(&options).expect("valid options")
}

fn stream(pairs: &[(&str, &str)]) -> NexmarkStream {
    NexmarkStream::new(config(pairs)).expect("valid config")
}

fn with_info(generator: NexmarkGenerator) -> Vec<(Event, EventInfo)> {
    let mut generator = generator;
    std::iter::from_fn(|| generator.next_with_info()).collect()
}

/// `lastBase0PersonId` of the spec, for 1:3:46.
fn last_person(event_id: i64) -> i64 {
    event_id / 50
}

/// `lastBase0AuctionId` of the spec, for 1:3:46.
fn last_auction(event_id: i64) -> i64 {
    let (epoch, offset) = (event_id / 50, event_id % 50);
    if offset < 1 {
        (epoch - 1) * 3 + 2
    } else if offset >= 4 {
        epoch * 3 + 2
    } else {
        epoch * 3 + offset - 1
    }
}

/// Cold person ids (base 0) `nextBase0PersonId` can return at `event_id`.
fn cold_people(event_id: i64) -> std::ops::RangeInclusive<i64> {
    let people = last_person(event_id) + 1;
    let active = people.min(1000);
    people - active..=people + 9
}

/// Cold auction ids (base 0) `nextBase0AuctionId` can return at `event_id`.
fn cold_auctions(event_id: i64) -> std::ops::RangeInclusive<i64> {
    let max = last_auction(event_id);
    (max - 100).max(0)..=max + 10
}

#[test]
fn event_mix_is_exactly_1_3_46() {
    let events = with_info(stream(&[("events.num", "50000")]).generator());
    assert_eq!(events.len(), 50_000);
    let mut counts = BTreeMap::new();
    for (event, info) in &events {
        *counts.entry(event.event_type()).or_insert(0) += 1;
        let expected = match info.event_id % 50 {
            0 => EventType::Person,
            1..=3 => EventType::Auction,
            _ => EventType::Bid,
        };
        assert_eq!(event.event_type(), expected, "event id {}", info.event_id);
        assert_eq!(info.event_type, expected);
    }
    assert_eq!(counts[&EventType::Person], 1_000);
    assert_eq!(counts[&EventType::Auction], 3_000);
    assert_eq!(counts[&EventType::Bid], 46_000);
    // Every 50 consecutive events hold exactly 1 person, 3 auctions and 46 bids.
    for window in events.chunks(50) {
        let persons = window
            .iter()
            .filter(|(e, _)| e.event_type() == EventType::Person)
            .count();
        let auctions = window
            .iter()
            .filter(|(e, _)| e.event_type() == EventType::Auction)
            .count();
        assert_eq!((persons, auctions), (1, 3));
    }
}

#[test]
fn first_events_match_the_spec_sanity_table() {
    // Spec §8: V1 settings (100M events, 10M events/s, 8 generators), split 0.
    let v1 = stream(&[
        ("events.num", "100000000"),
        ("first-event.rate", "10000000"),
        ("next-event.rate", "10000000"),
        ("event-generators", "8"),
    ]);
    assert_eq!(v1.config().inter_event_delay_us(), 0.8);
    let split0 = with_info(v1.range(0, 50));
    let ids: Vec<i64> = split0.iter().map(|(_, info)| info.event_id).collect();
    assert_eq!(ids, (2..52).collect::<Vec<_>>());
    for (event, info) in &split0 {
        let k = info.index_in_split;
        // dateTime = baseTime + floor(eventNumber * 0.8 µs) / 1000 ms, eventNumber = k + 1.
        assert_eq!(
            event.date_time(),
            BASE + ((k + 1) as f64 * 0.8) as i64 / 1000
        );
        match (k, event) {
            (0, Event::Auction(a)) => {
                assert_eq!(a.id, 1001);
                assert!(a.seller == 1000 || (1000..=1010).contains(&a.seller));
            }
            (1, Event::Auction(a)) => assert_eq!(a.id, 1002),
            (2..=47, Event::Bid(b)) => {
                let hot_or_cold_auction =
                    b.auction == 1000 || cold_auctions(info.event_id).contains(&(b.auction - 1000));
                assert!(hot_or_cold_auction, "{b:?}");
                let hot_or_cold_bidder =
                    b.bidder == 2001 || cold_people(info.event_id).contains(&(b.bidder - 2000));
                assert!(hot_or_cold_bidder, "{b:?}");
            }
            (48, Event::Person(p)) => assert_eq!(p.id, 1001),
            (49, Event::Auction(a)) => assert_eq!(a.id, 1003),
            _ => panic!("unexpected event {k}: {event:?}"),
        }
    }
    let bids: Vec<_> = split0
        .iter()
        .filter_map(|(e, _)| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .collect();
    assert!(bids.iter().filter(|b| b.auction == 1000).count() >= 15);
    assert!(bids.iter().filter(|b| b.bidder == 2001).count() >= 25);

    // Worker 0 of 8 is split 0.
    assert_eq!(v1.worker(0, 8).remaining(), 12_500_000);
    assert_eq!(
        v1.worker(1, 8).peek_info().map(|i| i.event_id),
        Some(12_500_002)
    );
    // Split 1 starts at event id 12 500 002: auctions 751 001, 751 002, hot bidder 252 001.
    let split1 = with_info(v1.range(12_500_000, 12_500_050));
    assert_eq!(split1[0].1.event_id, 12_500_002);
    assert_eq!(split1[0].1.timestamp_ms, BASE);
    assert!(matches!(&split1[0].0, Event::Auction(a) if a.id == 751_001));
    assert!(matches!(&split1[1].0, Event::Auction(a) if a.id == 751_002));
    let hot_bidders = split1
        .iter()
        .filter(|(e, _)| matches!(e, Event::Bid(b) if b.bidder == 252_001))
        .count();
    assert!(hot_bidders >= 25, "{hot_bidders}");
    assert!(
        split1
            .iter()
            .any(|(e, _)| matches!(e, Event::Bid(b) if b.auction == 751_000))
    );
}

#[test]
fn ids_follow_the_formulas() {
    let events = with_info(stream(&[("events.num", "50000")]).generator());
    let (mut next_person, mut next_auction) = (1001, 1001);
    for (event, info) in &events {
        let eid = info.event_id;
        match event {
            Event::Person(p) => {
                assert_eq!(p.id, last_person(eid) + 1000);
                assert_eq!(p.id, next_person);
                next_person += 1;
            }
            Event::Auction(a) => {
                assert_eq!(a.id, last_auction(eid) + 1000);
                assert_eq!(a.id, next_auction);
                next_auction += 1;
                let hot = last_person(eid) / 100 * 100;
                assert!(a.seller - 1000 == hot || cold_people(eid).contains(&(a.seller - 1000)));
                assert!((10..15).contains(&a.category));
            }
            Event::Bid(b) => {
                let hot_auction = last_auction(eid) / 100 * 100;
                let auction = b.auction - 1000;
                assert!(auction == hot_auction || cold_auctions(eid).contains(&auction));
                let hot_bidder = last_person(eid) / 100 * 100 + 1;
                let bidder = b.bidder - 2000;
                assert!(bidder == hot_bidder || cold_people(eid).contains(&bidder));
            }
        }
    }
    assert_eq!((next_person, next_auction), (1001 + 1000, 1001 + 3000));

    // Beam-style bidders: +1000 once.
    let beam =
        with_info(stream(&[("events.num", "5000"), ("bid.bidder-offset", "beam")]).generator());
    for (event, info) in &beam {
        if let Event::Bid(b) = event {
            let bidder = b.bidder - 1000;
            let hot = last_person(info.event_id) / 100 * 100 + 1;
            assert!(bidder == hot || cold_people(info.event_id).contains(&bidder));
        }
    }
}

fn share(count: usize, total: usize) -> f64 {
    count as f64 / total as f64
}

#[test]
fn hot_keys_have_the_configured_ratios() {
    let events = with_info(stream(&[("events.num", "200000")]).generator());
    let (mut bids, mut hot_auctions, mut hot_bidders) = (0, 0, 0);
    let (mut auctions, mut hot_sellers) = (0, 0);
    for (event, info) in &events {
        let eid = info.event_id;
        match event {
            Event::Bid(b) => {
                bids += 1;
                hot_auctions += usize::from(b.auction - 1000 == last_auction(eid) / 100 * 100);
                hot_bidders += usize::from(b.bidder - 2000 == last_person(eid) / 100 * 100 + 1);
            }
            Event::Auction(a) => {
                auctions += 1;
                hot_sellers += usize::from(a.seller - 1000 == last_person(eid) / 100 * 100);
            }
            Event::Person(_) => {}
        }
    }
    // 1 - 1/ratio is hot; a cold draw hits the hot key now and then (≤ 1 %).
    let hot_auction_share = share(hot_auctions, bids);
    assert!(
        (0.49..0.53).contains(&hot_auction_share),
        "{hot_auction_share}"
    );
    let hot_bidder_share = share(hot_bidders, bids);
    assert!(
        (0.74..0.77).contains(&hot_bidder_share),
        "{hot_bidder_share}"
    );
    let hot_seller_share = share(hot_sellers, auctions);
    assert!(
        (0.73..0.78).contains(&hot_seller_share),
        "{hot_seller_share}"
    );

    // The ratio options change the shares.
    let skewed = stream(&[("events.num", "50000"), ("bid.hot-ratio.auctions", "10")]);
    let (mut bids, mut hot) = (0, 0);
    for (event, info) in with_info(skewed.generator()) {
        if let Event::Bid(b) = event {
            bids += 1;
            hot += usize::from(b.auction - 1000 == last_auction(info.event_id) / 100 * 100);
        }
    }
    let hot_share = share(hot, bids);
    assert!((0.89..0.92).contains(&hot_share), "{hot_share}");
}

#[test]
fn prices_are_log_uniform_thirds() {
    let bids: Vec<i64> = stream(&[("events.num", "100000")])
        .generator()
        .filter_map(|e| match e {
            Event::Bid(b) => Some(b.price),
            _ => None,
        })
        .collect();
    assert!(bids.iter().all(|p| (100..=100_000_000).contains(p)));
    let low = share(bids.iter().filter(|&&p| p < 10_000).count(), bids.len());
    let high = share(bids.iter().filter(|&&p| p >= 1_000_000).count(), bids.len());
    assert!((0.32..0.35).contains(&low), "{low}");
    assert!((0.32..0.35).contains(&high), "{high}");
}

#[test]
fn timestamps_follow_the_event_rate() {
    // 10 000 events/s, one generator: 100 µs apart, dateTime = base + eventNumber / 10.
    let events = with_info(stream(&[("events.num", "20000")]).generator());
    let mut previous = i64::MIN;
    for (event, info) in &events {
        let event_number = info.index_in_split + 1;
        assert_eq!(event.date_time(), BASE + event_number / 10);
        assert_eq!(info.timestamp_ms, event.date_time());
        assert_eq!(info.emit_offset_ms, event_number / 10);
        assert!(event.date_time() >= previous);
        previous = event.date_time();
        if let Event::Auction(a) = event {
            // Horizon: the next (100 * 50) / 3 = 1666 events, 166 ms; length 1..=2 * horizon.
            let length = a.expires - a.date_time;
            assert!((1..=334).contains(&length), "{length}");
        }
    }
    assert_eq!(
        format_timestamp(events[0].0.date_time()),
        "2015-07-15 00:00:00.000"
    );
    assert_eq!(
        format_timestamp(events[9].0.date_time()),
        "2015-07-15 00:00:00.001"
    );

    // 4 generators at 1000 events/s: each on its own timeline, 4 ms apart, all from base.
    let parallel = stream(&[
        ("events.num", "2000"),
        ("first-event.rate", "1000"),
        ("event-generators", "4"),
    ]);
    for worker in 0..4 {
        let events = with_info(parallel.worker(worker, 4));
        assert_eq!(events.len(), 500);
        for (event, info) in &events {
            assert_eq!(info.split, worker);
            assert_eq!(event.date_time(), BASE + (info.index_in_split + 1) * 4);
        }
    }
}

#[test]
fn same_seed_same_events_other_seed_same_skeleton() {
    let a: Vec<Event> = stream(&[("events.num", "3000"), ("seed", "7")])
        .generator()
        .collect();
    let b: Vec<Event> = stream(&[("events.num", "3000"), ("seed", "7")])
        .generator()
        .collect();
    let c: Vec<Event> = stream(&[("events.num", "3000"), ("seed", "8")])
        .generator()
        .collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    for (x, y) in a.iter().zip(&c) {
        assert_eq!(x.event_type(), y.event_type());
        assert_eq!(x.date_time(), y.date_time());
        match (x, y) {
            (Event::Person(p), Event::Person(q)) => assert_eq!(p.id, q.id),
            (Event::Auction(p), Event::Auction(q)) => assert_eq!(p.id, q.id),
            _ => {}
        }
    }
    // Bounded and unbounded streams start alike.
    let unbounded: Vec<Event> = stream(&[("seed", "7")]).generator().take(3000).collect();
    assert_eq!(unbounded, a);
    assert_eq!(stream(&[]).len(), i64::MAX / (50 * 500));
}

#[test]
fn workers_partition_the_stream() {
    for generators in ["1", "2", "4"] {
        let s = stream(&[("events.num", "10003"), ("event-generators", generators)]);
        let whole: Vec<Event> = s.generator().collect();
        assert_eq!(whole.len(), 10_003);
        for workers in [1, 2, 3, 4] {
            let joined: Vec<Event> = (0..workers).flat_map(|w| s.worker(w, workers)).collect();
            assert_eq!(joined, whole, "generators {generators}, workers {workers}");
        }
        // Random access agrees with iteration.
        assert_eq!(s.event_at(5_001).as_ref(), whole.get(5_001));
        assert_eq!(s.event_at(10_003), None);
    }
}

#[test]
fn flink_splits_keep_ids_and_fields_but_not_times() {
    // Split 4 ways, Flink gives every split its own timeline; the event ids are those of
    // the single generator, and every field except the times is the same.
    let single = with_info(stream(&[("events.num", "8000")]).generator());
    let split = with_info(stream(&[("events.num", "8000"), ("event-generators", "4")]).generator());
    let ids = |events: &[(Event, EventInfo)]| -> Vec<i64> {
        let mut ids: Vec<i64> = events.iter().map(|(_, i)| i.event_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&single), ids(&split));
    assert_eq!(ids(&single), (2..8002).collect::<Vec<_>>());
    let by_id: HashMap<i64, &Event> = single.iter().map(|(e, i)| (i.event_id, e)).collect();
    let starts: HashSet<i64> = split
        .iter()
        .filter(|(_, i)| i.index_in_split == 0)
        .map(|(_, i)| i.event_id)
        .collect();
    assert_eq!(starts, HashSet::from([2, 2002, 4002, 6002]));
    for (event, info) in &split {
        let mut other = by_id[&info.event_id].clone();
        match (&mut other, event) {
            (Event::Person(p), Event::Person(q)) => p.date_time = q.date_time,
            (Event::Bid(p), Event::Bid(q)) => p.date_time = q.date_time,
            (Event::Auction(p), Event::Auction(q)) => {
                assert_eq!(
                    (p.id, p.seller, p.initial_bid, &p.item_name),
                    (q.id, q.seller, q.initial_bid, &q.item_name)
                );
                continue;
            }
            _ => panic!("types differ at {}", info.event_id),
        }
        assert_eq!(&other, event);
    }
}

#[test]
fn sizes_average_the_configured_sizes() {
    let averages = |s: NexmarkStream| -> BTreeMap<EventType, f64> {
        let mut sums: BTreeMap<EventType, (usize, usize)> = BTreeMap::new();
        for event in s.generator() {
            let entry = sums.entry(event.event_type()).or_default();
            entry.0 += event.accounted_size();
            entry.1 += 1;
        }
        sums.into_iter()
            .map(|(t, (sum, n))| (t, sum as f64 / n as f64))
            .collect()
    };
    let defaults = averages(stream(&[("events.num", "100000")]));
    for (event_type, target) in [
        (EventType::Person, 200.0),
        (EventType::Auction, 500.0),
        (EventType::Bid, 100.0),
    ] {
        let average = defaults[&event_type];
        assert!(
            (average / target - 1.0).abs() < 0.02,
            "{event_type:?}: {average}"
        );
    }
    let large = averages(stream(&[
        ("events.num", "20000"),
        ("bid.avg-size", "1kb"),
        ("person.avg-size", "10"),
    ]));
    assert!((large[&EventType::Bid] / 1024.0 - 1.0).abs() < 0.02);
    // Persons larger than the target get no padding.
    assert!(large[&EventType::Person] > 10.0);
}

#[test]
fn fields_look_like_flinks() {
    let states = HashSet::from(["AZ", "CA", "ID", "OR", "WA", "WY"]);
    let mut channels = HashSet::new();
    let mut with_channel_id = 0;
    let mut numbered = 0;
    for event in stream(&[("events.num", "50000")]).generator() {
        match event {
            Event::Person(p) => {
                assert!(states.contains(p.state));
                assert_eq!(p.credit_card.len(), 19);
                assert!(p.email_address.ends_with(".com") && p.email_address.contains('@'));
                assert!(p.name.contains(' '));
                assert!(p.extra.bytes().all(|b| (72..=122).contains(&b)));
            }
            Event::Auction(a) => {
                assert!(a.item_name.len() < 20 && a.description.len() < 100);
                assert!(a.reserve > a.initial_bid);
                assert!(a.expires > a.date_time);
            }
            Event::Bid(b) => {
                let parts: Vec<&str> = b.url.split('/').collect();
                assert_eq!(&parts[..3], ["https:", "", "www.nexmark.com"]);
                assert!(parts[3..6].iter().all(|p| (3..=4).contains(&p.len())));
                assert!(parts[6].starts_with("item.htm?query=1"));
                if b.channel.starts_with("channel-") {
                    numbered += 1;
                    with_channel_id += usize::from(b.url.contains("&channel_id="));
                } else {
                    assert!(["Google", "Facebook", "Baidu", "Apple"].contains(&&*b.channel));
                }
                channels.insert(b.channel.clone());
                assert_eq!(b.extra.len(), b.extra.len().clamp(54, 81));
            }
        }
    }
    let numbered_share = share(numbered, 46_000);
    assert!((0.48..0.52).contains(&numbered_share), "{numbered_share}");
    let channel_id_share = share(with_channel_id, numbered);
    assert!(
        (0.87..0.93).contains(&channel_id_share),
        "{channel_id_share}"
    );
    assert!(channels.len() > 5_000);
}

#[test]
fn json_lines_parse_back_with_the_ddl_keys() {
    let person_keys = [
        "id",
        "name",
        "emailAddress",
        "creditCard",
        "city",
        "state",
        "dateTime",
        "extra",
    ];
    let auction_keys = [
        "id",
        "itemName",
        "description",
        "initialBid",
        "reserve",
        "dateTime",
        "expires",
        "seller",
        "category",
        "extra",
    ];
    let bid_keys = [
        "auction", "bidder", "price", "channel", "url", "dateTime", "extra",
    ];
    let mut out = Vec::new();
    let events: Vec<Event> = stream(&[("events.num", "2000")]).generator().collect();
    for event in &events {
        write_json_line(event, &mut out);
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), events.len());
    assert!(text.ends_with('\n'));
    for (line, event) in lines.iter().zip(&events) {
        let value: serde_json::Value = serde_json::from_str(line).expect(line);
        let object = value.as_object().unwrap();
        let top: HashSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(
            top,
            HashSet::from(["event_type", "person", "auction", "bid"])
        );
        let event_type = event.event_type() as i64;
        assert_eq!(object["event_type"].as_i64(), Some(event_type));
        let (present, keys): (&str, &[&str]) = match event {
            Event::Person(_) => ("person", &person_keys),
            Event::Auction(_) => ("auction", &auction_keys),
            Event::Bid(_) => ("bid", &bid_keys),
        };
        for name in ["person", "auction", "bid"] {
            assert_eq!(object[name].is_null(), name != present, "{line}");
        }
        let record = object[present].as_object().unwrap();
        let found: HashSet<&str> = record.keys().map(String::as_str).collect();
        assert_eq!(found, keys.iter().copied().collect::<HashSet<_>>());
        // Keys in DDL order.
        let positions: Vec<usize> = keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
        let date_time = record["dateTime"].as_str().unwrap();
        assert_eq!(date_time, format_timestamp(event.date_time()));
        assert_eq!(date_time.len(), 23);
        match event {
            Event::Bid(b) => {
                assert!(line.starts_with(
                    r#"{"event_type":2,"person":null,"auction":null,"bid":{"auction":"#
                ));
                assert_eq!(record["auction"].as_i64(), Some(b.auction));
                assert_eq!(record["bidder"].as_i64(), Some(b.bidder));
                assert_eq!(record["price"].as_i64(), Some(b.price));
                assert_eq!(record["url"].as_str(), Some(&*b.url));
                assert_eq!(record["extra"].as_str(), Some(b.extra.as_str()));
            }
            Event::Auction(a) => {
                assert_eq!(
                    record["expires"].as_str(),
                    Some(&*format_timestamp(a.expires))
                );
                assert_eq!(record["description"].as_str(), Some(a.description.as_str()));
                assert_eq!(record["category"].as_i64(), Some(a.category));
            }
            Event::Person(p) => {
                assert_eq!(record["creditCard"].as_str(), Some(p.credit_card.as_str()));
                assert_eq!(record["extra"].as_str(), Some(p.extra.as_str()));
            }
        }
    }
}

#[test]
fn rows_follow_the_ddl_schema() {
    let schema = event_schema();
    let names: Vec<&str> = schema.names().collect();
    assert_eq!(names, ["event_type", "person", "auction", "bid"]);
    let field_count = |i: usize| match &schema.columns[i].typ.scalar {
        ScalarType::Record(fields) => fields.len(),
        other => panic!("{other}"),
    };
    assert_eq!((field_count(1), field_count(2), field_count(3)), (8, 10, 7));
    for event in stream(&[("events.num", "100")]).generator() {
        let row = event_to_row(&event);
        let datums = row.into_datums();
        assert_eq!(datums.len(), 4);
        let kind = event.event_type() as usize;
        assert_eq!(datums[0], Datum::Int32(kind as i32));
        for (i, datum) in datums[1..].iter().enumerate() {
            match datum {
                Datum::Record(fields) => {
                    assert_eq!(i, kind);
                    assert_eq!(fields.len(), field_count(i + 1));
                    let date_time = match &event {
                        Event::Person(_) => &fields[6],
                        Event::Auction(_) => &fields[5],
                        Event::Bid(_) => &fields[5],
                    };
                    assert_eq!(date_time, &Datum::Timestamp(event.date_time() * 1000));
                }
                Datum::Null => assert_ne!(i, kind),
                other => panic!("{other:?}"),
            }
        }
        if let Event::Bid(b) = &event {
            let row = event_to_row(&event).into_datums();
            let Datum::Record(fields) = &row[3] else {
                panic!()
            };
            assert_eq!(fields[0], Datum::Int64(b.auction));
            assert_eq!(fields[3], Datum::text(&b.channel));
        }
    }
}

#[test]
fn other_options_shape_the_stream() {
    // stop-at caps the stream; out-of-order groups permute ids within each group.
    assert_eq!(
        stream(&[("events.num", "100"), ("stop-at", "30")]).len(),
        30
    );
    let shuffled =
        with_info(stream(&[("events.num", "1000"), ("out-of-order.group-size", "10")]).generator());
    let ids: HashSet<i64> = shuffled.iter().map(|(_, i)| i.event_id).collect();
    assert_eq!(ids.len(), 1000);
    assert!(
        shuffled
            .windows(2)
            .any(|w| w[1].1.event_id < w[0].1.event_id)
    );
    // A bid-only stream and more generators than events do not break anything.
    let bids_only = stream(&[
        ("events.num", "500"),
        ("person.proportion", "0"),
        ("auction.proportion", "0"),
        ("event-generators", "1000"),
    ]);
    assert!(
        bids_only
            .generator()
            .all(|e| e.event_type() == EventType::Bid)
    );
    assert_eq!(bids_only.generator().count(), 500);
}
