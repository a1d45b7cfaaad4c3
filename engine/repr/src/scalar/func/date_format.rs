//! Flink's `DATE_FORMAT(timestamp, pattern)`: a timestamp as text in a Java date pattern
//! (`java.time.format.DateTimeFormatter`, which agrees with `SimpleDateFormat` on the
//! common letters).
//!
//! Letters: `G` era, `y` year (`yy` two digits), `M`/`L` month (`MMM` Jan, `MMMM`
//! January, `MMMMM` J), `d` day of month, `D` day of year, `E` day of week (`E`..`EEE`
//! Mon, `EEEE` Monday, `EEEEE` M), `a` AM/PM, `H` hour 0-23, `k` 1-24, `K` 0-11, `h`
//! 1-12, `m` minute, `s` second, `S` fraction of a second (`SSS` milliseconds,
//! truncated), `z` `Z` `X` `x` the zone (always UTC). A run of one letter picks the
//! width (zero padded). Text in single quotes is literal (`''` is a quote); other
//! characters are copied; `[` and `]` (optional sections) print their contents. Other
//! letters are an error, as in Java.

use crate::strconv::datetime::{
    MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND, civil_from_days, days_from_civil,
    split_timestamp,
};
use crate::{Datum, EvalError};

use super::to_char::{DAYS, MONTHS};

pub(super) fn date_format(value: &Datum, pattern: &str) -> Result<Datum, EvalError> {
    let ts = match value {
        Datum::Timestamp(ts) | Datum::TimestampTz(ts) => *ts,
        Datum::Date(d) => crate::cast::date_to_timestamp(*d)?,
        other => {
            return Err(EvalError::UndefinedFunction(format!(
                "function date_format({}, text) does not exist",
                crate::cast::datum_type_name(other)
            )));
        }
    };
    if ts == i64::MAX || ts == i64::MIN {
        return Err(EvalError::OutOfRange("timestamp".to_string()));
    }
    format_timestamp(ts, pattern).map(|text| Datum::text(&text))
}

/// The fields of a timestamp that patterns print.
struct Fields {
    /// Astronomical year (0 is 1 BC).
    year: i64,
    month: i64,
    day: i64,
    day_of_year: i64,
    /// 0 = Sunday.
    weekday: usize,
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
}

impl Fields {
    fn new(ts: i64) -> Fields {
        let (days, time) = split_timestamp(ts);
        let (year, month, day) = civil_from_days(days);
        Fields {
            year,
            month: i64::from(month),
            day: i64::from(day),
            day_of_year: days - days_from_civil(year, 1, 1) + 1,
            weekday: (days + 4).rem_euclid(7) as usize,
            hour: time / MICROS_PER_HOUR,
            minute: time / MICROS_PER_MINUTE % 60,
            second: time / MICROS_PER_SECOND % 60,
            micros: time % MICROS_PER_SECOND,
        }
    }
}

fn invalid_pattern(message: String) -> EvalError {
    EvalError::InvalidParameter(format!("invalid date format pattern: {message}"))
}

fn push_padded(out: &mut String, value: i64, width: usize) {
    out.push_str(&format!("{value:0width$}"));
}

fn format_timestamp(ts: i64, pattern: &str) -> Result<String, EvalError> {
    let f = Fields::new(ts);
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        out.push('\'');
                    }
                    Some('\'') => break,
                    Some(other) => out.push(other),
                    None => {
                        return Err(invalid_pattern(format!(
                            "unterminated quote in \"{pattern}\""
                        )));
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c != '[' && c != ']' {
                out.push(c);
            }
            continue;
        }
        let mut count = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            count += 1;
        }
        format_field(&mut out, &f, c, count)?;
    }
    Ok(out)
}

/// Appends the field that `count` repetitions of `letter` print.
fn format_field(out: &mut String, f: &Fields, letter: char, count: usize) -> Result<(), EvalError> {
    let year_of_era = if f.year <= 0 { 1 - f.year } else { f.year };
    let hour12 = match f.hour % 12 {
        0 => 12,
        h => h,
    };
    match letter {
        'G' => out.push_str(match (f.year > 0, count) {
            (true, 4) => "Anno Domini",
            (false, 4) => "Before Christ",
            (true, 5) => "A",
            (false, 5) => "B",
            (true, _) => "AD",
            (false, _) => "BC",
        }),
        'y' if count == 2 => push_padded(out, year_of_era % 100, 2),
        'y' => push_padded(out, year_of_era, count),
        'M' | 'L' => match count {
            1 | 2 => push_padded(out, f.month, count),
            _ => {
                let name = MONTHS[usize::try_from(f.month - 1).unwrap_or(0) % 12];
                push_name(out, name, count);
            }
        },
        'd' => push_padded(out, f.day, count),
        'D' => push_padded(out, f.day_of_year, count),
        'E' => push_name(out, DAYS[f.weekday % 7], count.max(3)),
        'a' => out.push_str(if f.hour < 12 { "AM" } else { "PM" }),
        'H' => push_padded(out, f.hour, count),
        'k' => push_padded(out, if f.hour == 0 { 24 } else { f.hour }, count),
        'K' => push_padded(out, f.hour % 12, count),
        'h' => push_padded(out, hour12, count),
        'm' => push_padded(out, f.minute, count),
        's' => push_padded(out, f.second, count),
        'S' => {
            if count > 9 {
                return Err(invalid_pattern(format!(
                    "too many pattern letters: {}",
                    "S".repeat(count)
                )));
            }
            let digits = format!("{:06}000", f.micros);
            out.push_str(&digits[..count]);
        }
        'z' => out.push_str(if count >= 4 {
            "Coordinated Universal Time"
        } else {
            "UTC"
        }),
        'Z' => out.push_str(match count {
            1..=3 => "+0000",
            4 => "GMT",
            _ => "Z",
        }),
        'X' => out.push('Z'),
        'x' => out.push_str(match count {
            1 => "+00",
            2 | 4 => "+0000",
            _ => "+00:00",
        }),
        other => {
            return Err(invalid_pattern(format!(
                "unsupported pattern letter \"{other}\""
            )));
        }
    }
    Ok(())
}

/// A month or day name: 3 letters abbreviate, 4 print it whole, 5 print the initial.
fn push_name(out: &mut String, name: &str, count: usize) {
    match count {
        4 => out.push_str(name),
        5 => out.push_str(&name[..1]),
        _ => out.push_str(&name[..3]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarType;
    use crate::strconv::parse_datum;

    fn fmt(ts: &str, pattern: &str) -> String {
        let value = parse_datum(ts, &ScalarType::Timestamp).unwrap();
        match date_format(&value, pattern).unwrap() {
            Datum::Text(t) => t.to_string(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn java_patterns() {
        let ts = "2015-07-05 08:09:03.045678";
        assert_eq!(fmt(ts, "yyyy-MM-dd"), "2015-07-05");
        assert_eq!(fmt(ts, "HH:mm"), "08:09");
        assert_eq!(
            fmt(ts, "yyyy-MM-dd HH:mm:ss.SSS"),
            "2015-07-05 08:09:03.045"
        );
        assert_eq!(fmt(ts, "yy/M/d H:m:s"), "15/7/5 8:9:3");
        assert_eq!(fmt(ts, "S SS SSSSSS SSSSSSSSS"), "0 04 045678 045678000");
        assert_eq!(fmt(ts, "EEE, d MMM yyyy"), "Sun, 5 Jul 2015");
        assert_eq!(fmt(ts, "EEEE MMMM"), "Sunday July");
        assert_eq!(fmt(ts, "EEEEE MMMMM"), "S J");
        assert_eq!(fmt(ts, "D DDD"), "186 186");
        assert_eq!(fmt(ts, "'T'HH 'o''clock' ''"), "T08 o'clock '");
        assert_eq!(fmt(ts, "yyyyMMdd'T'HHmmssX"), "20150705T080903Z");
        assert_eq!(fmt(ts, "G Z z"), "AD +0000 UTC");
        assert_eq!(fmt(ts, "[yyyy]"), "2015");
        assert_eq!(fmt("2015-07-05 00:30:00", "h:mm a k K"), "12:30 AM 24 0");
        assert_eq!(fmt("2015-07-05 13:30:00", "hh:mm a k K"), "01:30 PM 13 1");
        assert_eq!(fmt("0044-03-15 BC", "y G"), "44 BC");
        assert_eq!(
            fmt("2024-02-29 23:59:59.999999", "yyyy-MM-dd HH:mm:ss.SSS"),
            "2024-02-29 23:59:59.999"
        );
    }

    #[test]
    fn bad_patterns_error() {
        let value = parse_datum("2015-07-05", &ScalarType::Timestamp).unwrap();
        let err = date_format(&value, "yyyy-qq").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid date format pattern: unsupported pattern letter \"q\""
        );
        assert!(date_format(&value, "yyyy 'open").is_err());
        assert!(date_format(&value, "SSSSSSSSSS").is_err());
        assert!(date_format(&Datum::Timestamp(i64::MAX), "yyyy").is_err());
        assert!(date_format(&Datum::Int32(1), "yyyy").is_err());
        let date = parse_datum("2015-07-05", &ScalarType::Date).unwrap();
        assert_eq!(
            date_format(&date, "dd.MM.yyyy HH").unwrap(),
            Datum::text("05.07.2015 00")
        );
    }
}
