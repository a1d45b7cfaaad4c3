//! Persons (Flink's `PersonGenerator`): person ids as functions of the event id, and
//! the random fields of a new person.

use super::GeneratorContext;
use super::random::EventRng;
use super::strings::next_string;
use crate::nexmark::FIRST_PERSON_ID;
use crate::nexmark::model::Person;

/// Persons ahead of the last generated one that a seller or bidder may reference.
const PERSON_ID_LEAD: i64 = 10;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// The last person id (base 0) generated at or before `event_id`; the new person's id
/// when `event_id` is a person slot.
pub(crate) fn last_base0_person_id(context: &GeneratorContext, event_id: i64) -> i64 {
    let (persons, total) = (context.config.person_proportion, context.total_proportion);
    let epoch = event_id / total;
    let mut offset = event_id % total;
    if offset >= persons {
        offset = persons - 1;
    }
    epoch * persons + offset
}

/// A random "active" person (base 0): one of the last `person.active`, or up to 10
/// not generated yet.
pub(crate) fn next_base0_person_id(
    context: &GeneratorContext,
    event_id: i64,
    rng: &mut EventRng,
) -> i64 {
    let num_people = last_base0_person_id(context, event_id) + 1;
    let active = num_people.min(context.config.num_active_people);
    let n = rng.next_long(active + PERSON_ID_LEAD);
    num_people - active + n
}

/// The person of event `event_id` with event time `timestamp`.
pub(crate) fn next_person(
    context: &GeneratorContext,
    event_id: i64,
    rng: &mut EventRng,
    timestamp: i64,
) -> Person {
    let id = last_base0_person_id(context, event_id) + FIRST_PERSON_ID;
    let mut name = String::with_capacity(16);
    name.push_str(FIRST_NAMES[rng.next_int(FIRST_NAMES.len() as i32) as usize]);
    name.push(' ');
    name.push_str(LAST_NAMES[rng.next_int(LAST_NAMES.len() as i32) as usize]);
    let email_address = format!(
        "{}@{}.com",
        next_string(rng, 7, b' '),
        next_string(rng, 5, b' ')
    );
    let credit_card = format!(
        "{:04} {:04} {:04} {:04}",
        rng.next_int(10_000),
        rng.next_int(10_000),
        rng.next_int(10_000),
        rng.next_int(10_000)
    );
    let city = US_CITIES[rng.next_int(US_CITIES.len() as i32) as usize];
    let state = US_STATES[rng.next_int(US_STATES.len() as i32) as usize];
    let current_size =
        8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
    let extra = context.tables.padding.next_extra(
        rng,
        current_size as i64,
        context.config.avg_person_byte_size,
    );
    Person {
        id,
        name,
        email_address,
        credit_card,
        city,
        state,
        date_time: timestamp,
        extra,
    }
}
