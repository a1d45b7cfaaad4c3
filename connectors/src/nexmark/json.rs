//! Events as JSON lines in the layout of Flink's `ddl_kafka.sql` (`'format' = 'json'`,
//! timestamps in Flink's SQL format `yyyy-MM-dd HH:mm:ss.SSS`, read as UTC here):
//!
//! ```text
//! {"event_type":2,"person":null,"auction":null,"bid":{"auction":1000,"bidder":2001,"price":1234,"channel":"Google","url":"https://...","dateTime":"2015-07-15 00:00:00.001","extra":"..."}}
//! ```
//!
//! Keys appear in the DDL's column order; absent records are `null`. This is what
//! `../shared/bench/flink_nexmark.py` reads (a filesystem table with `ddl_gen.sql`'s
//! schema and `'json.timestamp-format.standard' = 'SQL'`).

use super::model::{Auction, Bid, Event, Person};

/// Appends `event` as one JSON object and a `\n` to `out`.
pub fn write_json_line(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"event_type\":");
    match event {
        Event::Person(person) => {
            out.extend_from_slice(b"0,\"person\":");
            write_person(person, out);
            out.extend_from_slice(b",\"auction\":null,\"bid\":null}\n");
        }
        Event::Auction(auction) => {
            out.extend_from_slice(b"1,\"person\":null,\"auction\":");
            write_auction(auction, out);
            out.extend_from_slice(b",\"bid\":null}\n");
        }
        Event::Bid(bid) => {
            out.extend_from_slice(b"2,\"person\":null,\"auction\":null,\"bid\":");
            write_bid(bid, out);
            out.extend_from_slice(b"}\n");
        }
    }
}

/// `event` as one JSON object (no newline).
pub fn to_json(event: &Event) -> String {
    let mut out = Vec::with_capacity(256);
    write_json_line(event, &mut out);
    out.pop();
    String::from_utf8_lossy(&out).into_owned()
}

fn write_person(p: &Person, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    write_i64(p.id, out);
    write_string_field(b",\"name\":", &p.name, out);
    write_string_field(b",\"emailAddress\":", &p.email_address, out);
    write_string_field(b",\"creditCard\":", &p.credit_card, out);
    write_string_field(b",\"city\":", p.city, out);
    write_string_field(b",\"state\":", p.state, out);
    write_timestamp_field(b",\"dateTime\":", p.date_time, out);
    write_string_field(b",\"extra\":", &p.extra, out);
    out.push(b'}');
}

fn write_auction(a: &Auction, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":");
    write_i64(a.id, out);
    write_string_field(b",\"itemName\":", &a.item_name, out);
    write_string_field(b",\"description\":", &a.description, out);
    out.extend_from_slice(b",\"initialBid\":");
    write_i64(a.initial_bid, out);
    out.extend_from_slice(b",\"reserve\":");
    write_i64(a.reserve, out);
    write_timestamp_field(b",\"dateTime\":", a.date_time, out);
    write_timestamp_field(b",\"expires\":", a.expires, out);
    out.extend_from_slice(b",\"seller\":");
    write_i64(a.seller, out);
    out.extend_from_slice(b",\"category\":");
    write_i64(a.category, out);
    write_string_field(b",\"extra\":", &a.extra, out);
    out.push(b'}');
}

fn write_bid(b: &Bid, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"auction\":");
    write_i64(b.auction, out);
    out.extend_from_slice(b",\"bidder\":");
    write_i64(b.bidder, out);
    out.extend_from_slice(b",\"price\":");
    write_i64(b.price, out);
    write_string_field(b",\"channel\":", &b.channel, out);
    write_string_field(b",\"url\":", &b.url, out);
    write_timestamp_field(b",\"dateTime\":", b.date_time, out);
    write_string_field(b",\"extra\":", &b.extra, out);
    out.push(b'}');
}

fn write_string_field(key: &[u8], value: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(key);
    write_json_string(value, out);
}

fn write_timestamp_field(key: &[u8], millis: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(key);
    out.push(b'"');
    write_timestamp(millis, out);
    out.push(b'"');
}

/// A JSON string literal; escapes `"`, `\` and control characters.
fn write_json_string(value: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut clean_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[clean_from..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        clean_from = i + 1;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

/// Decimal digits of `value`, without going through `fmt`.
fn write_i64(value: i64, out: &mut Vec<u8>) {
    if value < 0 {
        out.push(b'-');
    }
    let mut magnitude = value.unsigned_abs();
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `value` zero-padded to `width` digits (non-negative values).
fn write_padded(value: i64, width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    write_i64(value, out);
    let written = out.len() - start;
    if written < width {
        let pad = width - written;
        out.splice(start..start, std::iter::repeat_n(b'0', pad));
    }
}

/// Milliseconds since the epoch as `yyyy-MM-dd HH:mm:ss.SSS` (UTC).
pub fn write_timestamp(millis: i64, out: &mut Vec<u8>) {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    if year < 0 {
        out.push(b'-');
    }
    write_padded(year.abs(), 4, out);
    out.push(b'-');
    write_padded(month, 2, out);
    out.push(b'-');
    write_padded(day, 2, out);
    out.push(b' ');
    write_padded(in_day / 3_600_000, 2, out);
    out.push(b':');
    write_padded(in_day / 60_000 % 60, 2, out);
    out.push(b':');
    write_padded(in_day / 1000 % 60, 2, out);
    out.push(b'.');
    write_padded(in_day % 1000, 3, out);
}

/// [`write_timestamp`] into a `String`.
pub fn format_timestamp(millis: i64) -> String {
    let mut out = Vec::with_capacity(23);
    write_timestamp(millis, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01 (Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * mp + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_flinks_sql_format() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(
            format_timestamp(1_436_918_400_001),
            "2015-07-15 00:00:00.001"
        );
        assert_eq!(
            format_timestamp(951_782_400_000 - 1),
            "2000-02-28 23:59:59.999"
        );
        assert_eq!(
            format_timestamp(951_782_400_000 + 86_400_000),
            "2000-03-01 00:00:00.000"
        );
        assert_eq!(
            format_timestamp(253_402_300_799_999),
            "9999-12-31 23:59:59.999"
        );
        assert_eq!(format_timestamp(-1), "1969-12-31 23:59:59.999");
        let _ = format_timestamp(i64::MAX);
        let _ = format_timestamp(i64::MIN);
        for days in [-800_000, -1, 0, 1, 59, 60, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_json_string("a\"b\\c\u{1}d`", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\u0001d`""#);
        let mut out = Vec::new();
        write_i64(i64::MIN, &mut out);
        write_i64(0, &mut out);
        assert_eq!(out, b"-92233720368547758080");
    }
}
