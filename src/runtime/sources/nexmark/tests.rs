//! The model's promises, on the records the reader writes: the 1:3:46 mix,
//! ids that agree across kinds, the hot shares, the average sizes, the
//! same events at every parallelism, and columns that do not depend on
//! which other columns the schema names.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::check::program::Value;
use crate::check::types::Field;

fn source(kind: NexmarkKind, fields: &[&str], events: u64, seed: u64) -> (NexmarkSource, Arc<RecordType>) {
    let chosen: Vec<_> =
        kind.fields().iter().filter(|(_, name, _)| fields.is_empty() || fields.contains(name)).collect();
    let record =
        RecordType::new(chosen.iter().map(|(_, name, ty)| Field { name: name.to_string(), ty: *ty }).collect());
    let source = NexmarkSource {
        kind,
        events: Some(events),
        seed,
        event_rate: 10_000.0,
        rate_per_second: None,
        columns: chosen.iter().map(|(field, _, _)| *field).collect(),
    };
    (source, record)
}

/// Every record of one subtask, each as a map from field name to value.
fn subtask_records(
    kind: NexmarkKind,
    fields: &[&str],
    events: u64,
    subtask: u32,
    parallelism: u32,
) -> Vec<HashMap<String, Value>> {
    let (source, record) = source(kind, fields, events, 0);
    let mut reader = NexmarkReader::new(&source, &record, false, subtask, parallelism);
    let mut records = Vec::new();
    let mut batch = Batch::new(&record);
    loop {
        batch.clear();
        // An odd batch size, so batches end mid-group.
        match reader.produce(&mut batch, 997) {
            Ok(Produced::Records(_)) => {}
            Ok(Produced::Done) => break,
            _ => panic!("an unthrottled source neither waits nor fails"),
        }
        for row in 0..batch.len() {
            let values = batch.row(row, &record).values();
            records.push(record.field_names().map(str::to_string).zip(values).collect());
        }
    }
    records
}

fn records(kind: NexmarkKind, fields: &[&str], events: u64) -> Vec<HashMap<String, Value>> {
    subtask_records(kind, fields, events, 0, 1)
}

fn int(record: &HashMap<String, Value>, field: &str) -> i64 {
    match record[field] {
        Value::Int(n) | Value::Timestamp(n) => n,
        ref other => panic!("{field} is {other:?}"),
    }
}

fn string(record: &HashMap<String, Value>, field: &str) -> String {
    match &record[field] {
        Value::Str(text) => text.to_string(),
        other => panic!("{field} is {other:?}"),
    }
}

#[test]
fn the_kinds_come_one_three_forty_six_in_fifty() {
    let counts: Vec<usize> = [NexmarkKind::Person, NexmarkKind::Auction, NexmarkKind::Bid]
        .map(|kind| records(kind, &["dateTime"], 10_007).len())
        .into();
    // 10,007 events: 200 whole groups of 50, then a person, three auctions and three bids.
    assert_eq!(counts, [201, 603, 9_203]);
    assert!(records(NexmarkKind::Bid, &[], 0).is_empty());
}

#[test]
fn bids_and_auctions_name_auctions_and_people_of_the_same_sequence() {
    let events = 200_000;
    let people = records(NexmarkKind::Person, &["id"], events);
    let auctions = records(NexmarkKind::Auction, &["id", "seller"], events);
    let bids = records(NexmarkKind::Bid, &["auction", "bidder"], events);
    // Ids are dense from 1000, in event order.
    assert!(people.iter().enumerate().all(|(i, person)| int(person, "id") == 1000 + i as i64));
    assert!(auctions.iter().enumerate().all(|(i, auction)| int(auction, "id") == 1000 + i as i64));
    // Each refers to what exists at its event, or (the model's lead) to
    // one of the next 10.
    let mut existing = 0;
    for (index, bid) in bids.iter().enumerate() {
        let event = model::event_number(NexmarkKind::Bid, index as u64);
        let last_auction = 1000 + model::events_of_kind(NexmarkKind::Auction, event) as i64 - 1;
        let last_person = 1000 + model::events_of_kind(NexmarkKind::Person, event) as i64 - 1;
        let (auction, bidder) = (int(bid, "auction"), int(bid, "bidder"));
        assert!((1000..=last_auction + model::AUCTION_ID_LEAD).contains(&auction), "bid {index}: {auction}");
        assert!((1000..=last_person + model::PERSON_ID_LEAD).contains(&bidder), "bid {index}: {bidder}");
        existing += usize::from(auction <= last_auction && bidder <= last_person);
    }
    // The model's leads: a random auction (half the bids) is one of the
    // next ten 10 times in 111, and a hot bidder is the next person when
    // the latest ends a hundred: about 5.5% of bids name what comes later.
    let share = existing as f64 / bids.len() as f64;
    assert!((0.93..0.96).contains(&share), "{existing} of {}", bids.len());
    for (index, auction) in auctions.iter().enumerate() {
        let event = model::event_number(NexmarkKind::Auction, index as u64);
        let last_person = 1000 + model::events_of_kind(NexmarkKind::Person, event) as i64 - 1;
        assert!((1000..=last_person + model::PERSON_ID_LEAD).contains(&int(auction, "seller")));
    }
}

#[test]
fn hot_auctions_bidders_and_sellers_take_the_model_shares() {
    let events = 500_000;
    let bids = records(NexmarkKind::Bid, &["auction", "bidder"], events);
    let share = |hits: usize, of: usize| hits as f64 / of as f64;
    let hot_auction = bids
        .iter()
        .enumerate()
        .filter(|(index, bid)| {
            let event = model::event_number(NexmarkKind::Bid, *index as u64);
            int(bid, "auction") == 1000 + model::last_auction(event) / 100 * 100
        })
        .count();
    // 1/2 by the hot draw, and a random pick lands there now and then.
    assert!((0.49..0.53).contains(&share(hot_auction, bids.len())), "{}", share(hot_auction, bids.len()));
    let hot_bidder = bids
        .iter()
        .enumerate()
        .filter(|(index, bid)| {
            let event = model::event_number(NexmarkKind::Bid, *index as u64);
            int(bid, "bidder") == 1000 + model::last_person(event) / 100 * 100 + 1
        })
        .count();
    assert!((0.74..0.77).contains(&share(hot_bidder, bids.len())), "{}", share(hot_bidder, bids.len()));
    let auctions = records(NexmarkKind::Auction, &["seller"], events);
    let hot_seller = auctions
        .iter()
        .enumerate()
        .filter(|(index, auction)| {
            let event = model::event_number(NexmarkKind::Auction, *index as u64);
            int(auction, "seller") == 1000 + model::last_person(event) / 100 * 100
        })
        .count();
    assert!((0.73..0.78).contains(&share(hot_seller, auctions.len())), "{}", share(hot_seller, auctions.len()));
    // Half the bids come through the four hot channels.
    let channels = records(NexmarkKind::Bid, &["channel", "url"], 100_000);
    let hot = channels.iter().filter(|bid| text::HOT_CHANNELS.contains(&string(bid, "channel").as_str())).count();
    assert!((0.48..0.52).contains(&share(hot, channels.len())));
    let other = channels.iter().find(|bid| string(bid, "channel").starts_with("channel-")).expect("a cold channel");
    assert!(string(other, "url").starts_with("https://www.nexmark.com/"));
}

#[test]
fn every_kind_is_padded_to_its_average_size() {
    let size = |record: &HashMap<String, Value>| -> usize {
        record.values().map(|value| if let Value::Str(text) = value { text.len() } else { 8 }).sum()
    };
    let average = |kind, without: &[&str]| {
        let all: Vec<&str> = kind_fields(kind).into_iter().filter(|name| !without.contains(name)).collect();
        let records = records(kind, &all, 50_000);
        records.iter().map(size).sum::<usize>() as f64 / records.len() as f64
    };
    // The reference counts a person's strings and 8 bytes for its id; an
    // auction's strings and five numbers; a bid's four numbers, time
    // included, and not its channel and URL.
    assert!((195.0..205.0).contains(&average(NexmarkKind::Person, &["dateTime"])));
    assert!((490.0..510.0).contains(&average(NexmarkKind::Auction, &["dateTime"])));
    assert!((95.0..105.0).contains(&average(NexmarkKind::Bid, &["channel", "url"])));
}

fn kind_fields(kind: NexmarkKind) -> Vec<&'static str> {
    kind.fields().iter().map(|(_, name, _)| *name).collect()
}

#[test]
fn every_parallelism_makes_the_same_events_each_subtask_in_time_order() {
    for kind in [NexmarkKind::Person, NexmarkKind::Auction, NexmarkKind::Bid] {
        let sorted = |mut records: Vec<String>| {
            records.sort();
            records
        };
        let as_text = |record: &HashMap<String, Value>| {
            kind_fields(kind).iter().map(|name| format!("{:?}", record[*name])).collect::<Vec<_>>().join("|")
        };
        let one: Vec<String> = sorted(records(kind, &[], 20_011).iter().map(as_text).collect());
        for parallelism in [2, 4] {
            let mut all = Vec::new();
            for subtask in 0..parallelism {
                let records = subtask_records(kind, &[], 20_011, subtask, parallelism);
                let times: Vec<i64> = records.iter().map(|record| int(record, "dateTime")).collect();
                assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{kind:?} {subtask}/{parallelism}");
                all.extend(records.iter().map(as_text));
            }
            assert_eq!(sorted(all), one, "{kind:?} at parallelism {parallelism}");
        }
    }
}

#[test]
fn a_column_is_the_same_whichever_other_columns_the_schema_names() {
    for kind in [NexmarkKind::Person, NexmarkKind::Auction, NexmarkKind::Bid] {
        let full = records(kind, &[], 3_000);
        for name in kind_fields(kind) {
            let alone = records(kind, &[name], 3_000);
            assert!(full.iter().zip(&alone).all(|(a, b)| a[name] == b[name]), "{kind:?}.{name}");
        }
    }
}

#[test]
fn another_seed_makes_other_events_with_the_same_ids_and_times() {
    let (one, other) = (source(NexmarkKind::Bid, &[], 1_000, 0), source(NexmarkKind::Bid, &[], 1_000, 7));
    let read = |(source, record): &(NexmarkSource, Arc<RecordType>)| {
        let mut reader = NexmarkReader::new(source, record, false, 0, 1);
        let mut batch = Batch::new(record);
        let _ = reader.produce(&mut batch, 1_000);
        (0..batch.len()).map(|row| batch.row(row, record).values()).collect::<Vec<_>>()
    };
    let (a, b) = (read(&one), read(&other));
    assert_eq!(a.len(), 920);
    assert_ne!(a, b);
    let times = |rows: &[Vec<Value>]| rows.iter().map(|row| row[5].clone()).collect::<Vec<_>>();
    assert_eq!(times(&a), times(&b));
}

#[test]
fn auctions_expire_after_they_open_and_reserves_exceed_initial_bids() {
    for auction in records(NexmarkKind::Auction, &[], 20_000) {
        assert!(int(&auction, "expires") > int(&auction, "dateTime"));
        assert!(int(&auction, "reserve") > int(&auction, "initialBid"));
        assert!((10..15).contains(&int(&auction, "category")));
    }
}
