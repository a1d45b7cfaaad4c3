//! `to_char(value, format)`: Postgres' template formatting of timestamps, dates,
//! intervals and numbers.
//!
//! Date/time templates support `YYYY YYY YY Y Y,YYY IYYY MM DD DDD D ID HH HH12 HH24 MI
//! SS MS US SSSS AM PM A.M. P.M. Month MONTH month Mon MON mon Day DAY day Dy DY dy Q WW
//! W IW CC J TZ tz OF BC AD`, the `FM` prefix, the `TH`/`th` suffix, `"quoted text"`
//! and `\` escapes. Number templates support `9 0 . D , G S MI PL SG FM` and literal
//! text.

use rust_decimal::{Decimal, RoundingStrategy};

use super::datetime::iso_week;
use crate::strconv::datetime::{
    MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND, civil_from_days, days_from_civil,
    split_timestamp,
};
use crate::{Datum, EvalError, Interval};

pub(super) fn to_char(value: &Datum, format: &str) -> Result<Datum, EvalError> {
    let text = match value {
        Datum::Timestamp(ts) => format_date_time(&Moment::timestamp(*ts)?, format, false),
        Datum::TimestampTz(ts) => format_date_time(&Moment::timestamp(*ts)?, format, true),
        Datum::Date(d) => {
            let ts = crate::cast::date_to_timestamp(*d)?;
            format_date_time(&Moment::timestamp(ts)?, format, false)
        }
        Datum::Interval(iv) => format_date_time(&Moment::interval(iv), format, false),
        Datum::Time(t) => {
            format_date_time(&Moment::interval(&Interval::new(0, 0, *t)), format, false)
        }
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            let digits = NumberDigits::from_integer(value.as_i64().unwrap_or_default());
            format_number(digits, format)?
        }
        Datum::Decimal(d) => format_number(NumberDigits::Decimal(*d), format)?,
        Datum::Float64(f) => format_number(NumberDigits::Float(f.0, 15), format)?,
        Datum::Float32(f) => format_number(NumberDigits::Float(f64::from(f.0), 6), format)?,
        other => {
            return Err(EvalError::UndefinedFunction(format!(
                "function to_char({}, text) does not exist",
                crate::cast::datum_type_name(other)
            )));
        }
    };
    Ok(Datum::text(&text))
}

/// The broken-down fields a date/time template reads.
struct Moment {
    /// Astronomical year (0 is 1 BC); for intervals, the years.
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
    /// Days since 1970-01-01; `None` for intervals.
    days: Option<i64>,
}

impl Moment {
    fn timestamp(ts: i64) -> Result<Moment, EvalError> {
        if ts == i64::MAX || ts == i64::MIN {
            return Err(EvalError::OutOfRange("timestamp".to_string()));
        }
        let (days, time) = split_timestamp(ts);
        let (year, month, day) = civil_from_days(days);
        Ok(Moment {
            year,
            month: i64::from(month),
            day: i64::from(day),
            hour: time / MICROS_PER_HOUR,
            minute: time / MICROS_PER_MINUTE % 60,
            second: time / MICROS_PER_SECOND % 60,
            micros: time % MICROS_PER_SECOND,
            days: Some(days),
        })
    }

    fn interval(iv: &Interval) -> Moment {
        Moment {
            year: i64::from(iv.months / 12),
            month: i64::from(iv.months % 12),
            day: i64::from(iv.days),
            hour: iv.micros / MICROS_PER_HOUR,
            minute: iv.micros / MICROS_PER_MINUTE % 60,
            second: iv.micros / MICROS_PER_SECOND % 60,
            micros: iv.micros % MICROS_PER_SECOND,
            days: None,
        }
    }

    /// The year as printed (no year zero: 1 BC prints as 1).
    fn display_year(&self) -> i64 {
        if self.days.is_some() && self.year <= 0 {
            1 - self.year
        } else {
            self.year
        }
    }

    fn day_of_year(&self) -> i64 {
        match self.days {
            Some(days) => days - days_from_civil(self.year, 1, 1) + 1,
            None => self.day,
        }
    }

    /// Day of week, 0 = Sunday.
    fn weekday(&self) -> i64 {
        self.days.map_or(0, |d| (d + 4).rem_euclid(7))
    }
}

/// English month names, January first (shared with `date_format`).
pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// English day names, Sunday first (shared with `date_format`).
pub(super) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Date/time template keywords, longest first where one is a prefix of another.
const KEYWORDS: &[&str] = &[
    "Y,YYY", "y,yyy", "YYYY", "yyyy", "YYY", "yyy", "YY", "yy", "IYYY", "iyyy", "HH24", "hh24",
    "HH12", "hh12", "HH", "hh", "MI", "mi", "SSSS", "ssss", "SS", "ss", "MS", "ms", "US", "us",
    "A.M.", "a.m.", "P.M.", "p.m.", "AM", "am", "PM", "pm", "B.C.", "b.c.", "A.D.", "a.d.", "BC",
    "bc", "AD", "ad", "MONTH", "Month", "month", "MON", "Mon", "mon", "MM", "mm", "DAY", "Day",
    "day", "DY", "Dy", "dy", "DDD", "ddd", "DD", "dd", "D", "d", "ID", "id", "IW", "iw", "WW",
    "ww", "W", "w", "Q", "q", "CC", "cc", "J", "j", "TZ", "tz", "OF", "of", "Y", "y",
];

/// Name in the case the keyword asks for, padded to 9 unless `fill_mode`.
fn cased_name(name: &str, keyword: &str, fill_mode: bool, pad: usize) -> String {
    let first = keyword.chars().next().unwrap_or('M');
    let second = keyword.chars().nth(1).unwrap_or('a');
    let text = if first.is_ascii_lowercase() {
        name.to_lowercase()
    } else if second.is_ascii_uppercase() {
        name.to_uppercase()
    } else {
        name.to_string()
    };
    if fill_mode {
        text
    } else {
        format!("{text:<pad$}")
    }
}

fn ordinal_suffix(n: i64, upper: bool) -> &'static str {
    let n = n.unsigned_abs();
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    match (upper, suffix) {
        (false, s) => s,
        (true, "st") => "ST",
        (true, "nd") => "ND",
        (true, "rd") => "RD",
        (true, _) => "TH",
    }
}

fn format_date_time(m: &Moment, format: &str, with_zone: bool) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut rest = format;
    while !rest.is_empty() {
        let mut fill_mode = false;
        if let Some(after) = rest.strip_prefix("FM").or_else(|| rest.strip_prefix("fm")) {
            fill_mode = true;
            rest = after;
        }
        if let Some(keyword) = KEYWORDS.iter().find(|k| rest.starts_with(*k)) {
            rest = &rest[keyword.len()..];
            let (text, number) = date_time_field(m, keyword, fill_mode, with_zone);
            out.push_str(&text);
            if let Some(n) = number {
                if let Some(after) = rest.strip_prefix("TH") {
                    out.push_str(ordinal_suffix(n, true));
                    rest = after;
                } else if let Some(after) = rest.strip_prefix("th") {
                    out.push_str(ordinal_suffix(n, false));
                    rest = after;
                }
            }
            continue;
        }
        let mut chars = rest.chars();
        match chars.next() {
            Some('"') => {
                let mut escaped = false;
                let mut consumed = 1;
                for c in chars {
                    consumed += c.len_utf8();
                    if escaped {
                        out.push(c);
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    } else {
                        out.push(c);
                    }
                }
                rest = &rest[consumed.min(rest.len())..];
            }
            Some('\\') => match chars.next() {
                Some(c) => {
                    out.push(c);
                    rest = &rest[1 + c.len_utf8()..];
                }
                None => {
                    out.push('\\');
                    rest = "";
                }
            },
            Some(c) => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
            None => break,
        }
    }
    out
}

/// One keyword's text, and its numeric value when it has one (for `TH`).
fn date_time_field(
    m: &Moment,
    keyword: &str,
    fill_mode: bool,
    with_zone: bool,
) -> (String, Option<i64>) {
    let number = |value: i64, width: usize| -> (String, Option<i64>) {
        let text = if fill_mode {
            value.to_string()
        } else {
            format!("{value:0width$}")
        };
        (text, Some(value))
    };
    let year = m.display_year();
    let hour12 = if m.hour % 12 == 0 { 12 } else { m.hour % 12 };
    let is_pm = m.hour % 24 >= 12;
    let is_bc = m.days.is_some() && m.year <= 0;
    let upper = keyword
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase());
    let month_index = (m.month - 1).clamp(0, 11) as usize;
    let weekday = m.weekday() as usize;
    let text = |s: &str| (s.to_string(), None);
    match keyword.to_ascii_uppercase().as_str() {
        "Y,YYY" => (format!("{},{:03}", year / 1000, year % 1000), Some(year)),
        "YYYY" => number(year, 4),
        "YYY" => number(year % 1000, 3),
        "YY" => number(year % 100, 2),
        "Y" => number(year % 10, 1),
        "IYYY" => number(m.days.map_or(year, |d| iso_week(d).1), 4),
        "HH24" => number(m.hour, 2),
        "HH12" | "HH" => number(hour12, 2),
        "MI" => number(m.minute, 2),
        "SS" => number(m.second, 2),
        "SSSS" => (
            (m.hour * 3600 + m.minute * 60 + m.second).to_string(),
            Some(m.hour * 3600 + m.minute * 60 + m.second),
        ),
        "MS" => number(m.micros / 1000, 3),
        "US" => number(m.micros, 6),
        "AM" | "PM" => text(match (is_pm, upper) {
            (true, true) => "PM",
            (true, false) => "pm",
            (false, true) => "AM",
            (false, false) => "am",
        }),
        "A.M." | "P.M." => text(match (is_pm, upper) {
            (true, true) => "P.M.",
            (true, false) => "p.m.",
            (false, true) => "A.M.",
            (false, false) => "a.m.",
        }),
        "BC" | "AD" => text(match (is_bc, upper) {
            (true, true) => "BC",
            (true, false) => "bc",
            (false, true) => "AD",
            (false, false) => "ad",
        }),
        "B.C." | "A.D." => text(match (is_bc, upper) {
            (true, true) => "B.C.",
            (true, false) => "b.c.",
            (false, true) => "A.D.",
            (false, false) => "a.d.",
        }),
        "MONTH" => (cased_name(MONTHS[month_index], keyword, fill_mode, 9), None),
        "MON" => (
            cased_name(&MONTHS[month_index][..3], keyword, true, 0),
            None,
        ),
        "MM" => number(m.month, 2),
        "DAY" => (cased_name(DAYS[weekday], keyword, fill_mode, 9), None),
        "DY" => (cased_name(&DAYS[weekday][..3], keyword, true, 0), None),
        "DDD" => number(m.day_of_year(), 3),
        "DD" => number(m.day, 2),
        "D" => number(m.weekday() + 1, 1),
        "ID" => number(if m.weekday() == 0 { 7 } else { m.weekday() }, 1),
        "IW" => number(m.days.map_or(0, |d| iso_week(d).0), 2),
        "WW" => number((m.day_of_year() - 1) / 7 + 1, 2),
        "W" => number((m.day - 1) / 7 + 1, 1),
        "Q" => number((m.month - 1) / 3 + 1, 1),
        "CC" => {
            let century = if m.year > 0 {
                (m.year + 99) / 100
            } else {
                -((99 - (m.year - 1)) / 100)
            };
            number(century, 2)
        }
        "J" => number(m.days.map_or(0, |d| d + 2_440_588), 1),
        "TZ" => text(match (with_zone, upper) {
            (false, _) => "",
            (true, true) => "UTC",
            (true, false) => "utc",
        }),
        "OF" => text(if with_zone { "+00" } else { "" }),
        _ => text(keyword),
    }
}

/// The digits of a number to format.
enum NumberDigits {
    Decimal(Decimal),
    /// A float and how many significant digits it holds.
    Float(f64, usize),
}

impl NumberDigits {
    fn from_integer(value: i64) -> NumberDigits {
        NumberDigits::Decimal(Decimal::from(value))
    }

    /// Sign, integer digits and `fraction` fractional digits after rounding.
    fn digits(&self, fraction: usize) -> (bool, String, String) {
        let text = match self {
            NumberDigits::Decimal(d) => {
                let rounded = d.round_dp_with_strategy(
                    fraction.min(28) as u32,
                    RoundingStrategy::MidpointAwayFromZero,
                );
                crate::strconv::format_decimal(&rounded)
            }
            NumberDigits::Float(f, significant) => {
                if !f.is_finite() {
                    return (false, String::new(), String::new());
                }
                let int_len = format!("{:.0}", f.abs()).len();
                let post = if int_len >= *significant {
                    0
                } else {
                    fraction.min(significant - int_len)
                };
                format!("{f:.post$}")
            }
        };
        let negative = text.starts_with('-');
        let unsigned = text.trim_start_matches('-');
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let mut frac = frac.to_string();
        while frac.len() < fraction {
            frac.push('0');
        }
        frac.truncate(fraction);
        let int = int.trim_start_matches('0').to_string();
        let is_zero = int.is_empty() && frac.bytes().all(|b| b == b'0');
        (negative && !is_zero, int, frac)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum NumberToken {
    Nine,
    Zero,
    Point,
    Group,
    SignAnchored,
    Minus,
    Plus,
    PlusMinus,
    Literal(char),
}

fn format_number(value: NumberDigits, format: &str) -> Result<String, EvalError> {
    let mut tokens = Vec::new();
    let mut fill_mode = false;
    let mut rest = format;
    let mut seen_point = false;
    while let Some(c) = rest.chars().next() {
        let upper = rest.to_ascii_uppercase();
        let (token, len) = if upper.starts_with("FM") {
            fill_mode = true;
            rest = &rest[2..];
            continue;
        } else if upper.starts_with("MI") {
            (NumberToken::Minus, 2)
        } else if upper.starts_with("PL") {
            (NumberToken::Plus, 2)
        } else if upper.starts_with("SG") {
            (NumberToken::PlusMinus, 2)
        } else {
            let token = match c {
                '9' => NumberToken::Nine,
                '0' => NumberToken::Zero,
                '.' | 'D' | 'd' if !seen_point => {
                    seen_point = true;
                    NumberToken::Point
                }
                ',' | 'G' | 'g' => NumberToken::Group,
                'S' | 's' => NumberToken::SignAnchored,
                c => NumberToken::Literal(c),
            };
            (token, c.len_utf8())
        };
        tokens.push(token);
        rest = &rest[len..];
    }
    let point_at = tokens.iter().position(|t| *t == NumberToken::Point);
    let is_digit = |t: &NumberToken| matches!(t, NumberToken::Nine | NumberToken::Zero);
    let int_tokens = &tokens[..point_at.unwrap_or(tokens.len())];
    let int_positions = int_tokens.iter().filter(|t| is_digit(t)).count();
    let frac_positions = point_at.map_or(0, |p| {
        tokens[p + 1..].iter().filter(|t| is_digit(t)).count()
    });
    let (negative, int_digits, frac_digits) = value.digits(frac_positions);
    let mut int_digits = int_digits;
    if int_digits.is_empty() && point_at.is_none() {
        int_digits = "0".to_string();
    }
    let overflow = int_digits.len() > int_positions;
    let first_zero = int_tokens
        .iter()
        .filter(|t| is_digit(t))
        .position(|t| *t == NumberToken::Zero);
    // Integer digit positions before the number starts print as padding.
    let lead = int_positions.saturating_sub(int_digits.len());
    let explicit_sign = tokens.iter().any(|t| {
        matches!(
            t,
            NumberToken::SignAnchored
                | NumberToken::Minus
                | NumberToken::Plus
                | NumberToken::PlusMinus
        )
    });
    let sign_char = |plus: char| if negative { '-' } else { plus };

    let mut out = String::new();
    let mut digit_index = 0; // among integer positions
    let mut frac_index = 0;
    let mut started = false;
    let mut sign_pending = !explicit_sign;
    let mut anchored_sign = tokens.contains(&NumberToken::SignAnchored);
    let mut after_point = false;
    let int_chars: Vec<char> = int_digits.chars().collect();
    let frac_chars: Vec<char> = frac_digits.chars().collect();
    let start_sign = |out: &mut String, pending: &mut bool, anchored: &mut bool| {
        if *pending {
            if negative {
                out.push('-');
            } else if !fill_mode {
                out.push(' ');
            }
            *pending = false;
        }
        if *anchored {
            out.push(sign_char('+'));
            *anchored = false;
        }
    };
    for token in &tokens {
        match token {
            NumberToken::Nine | NumberToken::Zero if !after_point => {
                let position = digit_index;
                digit_index += 1;
                if overflow {
                    start_sign(&mut out, &mut sign_pending, &mut anchored_sign);
                    out.push('#');
                    continue;
                }
                if position < lead {
                    if first_zero.is_some_and(|z| position >= z) {
                        start_sign(&mut out, &mut sign_pending, &mut anchored_sign);
                        started = true;
                        out.push('0');
                    } else if !fill_mode {
                        out.push(' ');
                    }
                } else {
                    start_sign(&mut out, &mut sign_pending, &mut anchored_sign);
                    started = true;
                    out.push(int_chars[position - lead]);
                }
            }
            NumberToken::Nine | NumberToken::Zero => {
                if overflow {
                    out.push('#');
                } else {
                    out.push(frac_chars.get(frac_index).copied().unwrap_or('0'));
                }
                frac_index += 1;
            }
            NumberToken::Point => {
                start_sign(&mut out, &mut sign_pending, &mut anchored_sign);
                after_point = true;
                out.push('.');
            }
            NumberToken::Group => {
                if started || overflow {
                    out.push(',');
                } else if !fill_mode {
                    out.push(' ');
                }
            }
            NumberToken::SignAnchored => {
                if !anchored_sign {
                    // A trailing `S` after the digits.
                    out.push(sign_char('+'));
                }
            }
            NumberToken::Minus => {
                if negative {
                    out.push('-');
                } else if !fill_mode {
                    out.push(' ');
                }
            }
            NumberToken::Plus => out.push(if negative { ' ' } else { '+' }),
            NumberToken::PlusMinus => out.push(sign_char('+')),
            NumberToken::Literal(c) => out.push(*c),
        }
    }
    if fill_mode && !overflow {
        // Fill mode drops trailing zeros of `9` fraction positions and a bare point.
        if let Some(p) = point_at {
            let trailing_nines = tokens[p + 1..]
                .iter()
                .rev()
                .take_while(|t| **t == NumberToken::Nine)
                .count();
            let mut removable = trailing_nines;
            if tokens.last().is_some_and(is_digit) || tokens.last() == Some(&NumberToken::Point) {
                while removable > 0 && out.ends_with('0') {
                    out.pop();
                    removable -= 1;
                }
                if !out.chars().any(|c| c.is_ascii_digit()) {
                    // Nothing but the point is left: Postgres prints `0.`.
                    out = out.replacen('.', "0.", 1);
                } else if out.ends_with('.') && p + 1 == tokens.len() {
                    out.pop();
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarType;
    use crate::strconv::parse_datum;

    fn fmt(value: Datum, format: &str) -> String {
        match to_char(&value, format).unwrap() {
            Datum::Text(s) => s.to_string(),
            other => panic!("{other:?}"),
        }
    }

    fn dec(s: &str) -> Datum {
        parse_datum(s, &ScalarType::NUMERIC).unwrap()
    }

    #[test]
    fn numbers_format_like_postgres() {
        let cases: &[(Datum, &str, &str)] = &[
            (Datum::Int32(5), "999", "   5"),
            (Datum::Int32(-5), "999", "  -5"),
            (Datum::Int32(5), "0000", " 0005"),
            (Datum::Int32(-5), "0000", "-0005"),
            (dec("1.5"), "9990.00", "    1.50"),
            (dec("0.5"), "999.99", "    .50"),
            (dec("0.5"), "9990.99", "    0.50"),
            (dec("1.5"), "FM999.00", "1.50"),
            (dec("1.5"), "FM999.99", "1.5"),
            (dec("0.5"), "FM999.99", ".5"),
            (Datum::Int32(12345), "999", " ###"),
            (dec("12345.678"), "99,999.9", " 12,345.7"),
            (dec("-12345.678"), "FM99,999.9", "-12,345.7"),
            (Datum::Int32(5), "FM999", "5"),
            (Datum::Int32(0), "999", "   0"),
            (Datum::Int32(0), "FM999", "0"),
            (dec("-0.5"), "999.9", "   -.5"),
            (Datum::Int32(5), "S999", "  +5"),
            (Datum::Int32(-5), "999MI", "  5-"),
            (Datum::float64(5.5), "999.9", "   5.5"),
            (Datum::float64(1234567.891), "9999999.999", " 1234567.891"),
            (dec("2.5"), "9", " 3"),
            (Datum::Int32(12), "9.9", " #.#"),
            (Datum::Int32(1), "FM9.", "1"),
            (dec("1.0"), "FM0.0", "1.0"),
            (Datum::Int32(233935), "FM9999999999999.999999", "233935."),
            (Datum::Int32(0), "FM999.99", "0."),
            (dec("-0.004"), "FM9.99", "0."),
            (Datum::Int32(0), "999.99", "    .00"),
        ];
        for (value, format, expected) in cases {
            assert_eq!(&fmt(value.clone(), format), expected, "{value:?} {format}");
        }
    }

    #[test]
    fn date_times_format_like_postgres() {
        let ts = |s: &str| parse_datum(s, &ScalarType::Timestamp).unwrap();
        assert_eq!(
            fmt(
                ts("2024-01-02 03:04:05.123456"),
                "YYYY-MM-DD HH24:MI:SS.MS.US"
            ),
            "2024-01-02 03:04:05.123.123456"
        );
        assert_eq!(
            fmt(ts("2024-01-02 15:04:05"), "HH12 HH AM am PM a.m. P.M."),
            "03 03 PM pm PM p.m. P.M."
        );
        assert_eq!(fmt(ts("2024-01-02 00:04:05"), "HH12 AM"), "12 AM");
        assert_eq!(
            fmt(
                ts("2024-03-02"),
                "Mon MON mon Month MONTH month|Day DAY day Dy DY dy|D DDD Q WW IW CC J YY Y YYY"
            ),
            "Mar MAR mar March     MARCH     march    |Saturday  SATURDAY  saturday  Sat SAT sat|7 062 1 09 09 21 2460372 24 4 024"
        );
        assert_eq!(
            fmt(
                ts("2024-03-02"),
                "FMMonth FMDay FMDD FMMM FMHH24 DDth FMDDth"
            ),
            "March Saturday 2 3 0 02nd 2nd"
        );
        let tz = parse_datum("2024-03-02 01:02:03+00", &ScalarType::TimestampTz).unwrap();
        assert_eq!(fmt(tz, "YYYY TZ tz OF"), "2024 UTC utc +00");
        let iv = |s: &str| parse_datum(s, &ScalarType::Interval).unwrap();
        assert_eq!(fmt(iv("1 day 25:03:04"), "HH24:MI:SS DD"), "25:03:04 01");
        assert_eq!(fmt(iv("-1 day 02:00"), "HH24 DD"), "02 -1");
        assert_eq!(fmt(iv("3 years 2 months"), "YYYY MM"), "0003 02");
        let date = parse_datum("2024-03-02", &ScalarType::Date).unwrap();
        assert_eq!(fmt(date, "YYYY/MM/DD"), "2024/03/02");
        assert_eq!(
            fmt(ts("2024-03-02"), "\"quoted YYYY\" \\\"YYYY"),
            "quoted YYYY \"2024"
        );
        assert_eq!(fmt(ts("2024-03-02 13:00"), "SSSS W"), "46800 1");
        assert_eq!(fmt(ts("0002-03-02 BC"), "YYYY BC AD"), "0002 BC BC");
        assert_eq!(fmt(ts("2024-01-02 00:00:00"), "ID IYYY"), "2 2024");
    }
}
