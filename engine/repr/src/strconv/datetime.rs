//! Dates, times, timestamps and intervals as text (Postgres' ISO `DateStyle` and
//! `postgres` `IntervalStyle`, time zone UTC), and the proleptic Gregorian calendar
//! arithmetic behind them.
//!
//! Infinite dates and timestamps use the extreme values of their representation
//! (`i32::MAX`/`i32::MIN` days, `i64::MAX`/`i64::MIN` microseconds), as Postgres does.

use std::fmt::Write;

use crate::datum::MICROS_PER_DAY;
use crate::{EvalError, Interval};

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;

/// `date 'infinity'` and `date '-infinity'`.
pub const DATE_INFINITY: i32 = i32::MAX;
pub const DATE_NEG_INFINITY: i32 = i32::MIN;
/// `timestamp 'infinity'` and `timestamp '-infinity'`.
pub const TIMESTAMP_INFINITY: i64 = i64::MAX;
pub const TIMESTAMP_NEG_INFINITY: i64 = i64::MIN;

/// First valid date (4714-11-24 BC, Julian day 0), in days since 1970-01-01.
pub const DATE_MIN: i64 = days_from_civil(-4713, 11, 24);
/// One past the last valid date (5874897-12-31).
pub const DATE_END: i64 = days_from_civil(5_874_898, 1, 1);
/// First valid timestamp, in microseconds since 1970-01-01.
pub const TIMESTAMP_MIN: i64 = DATE_MIN * MICROS_PER_DAY;
/// One past the last valid timestamp. Postgres' limit is 294277-01-01, but counting
/// microseconds from 1970 rather than 2000 an `i64` ends 30 years earlier, so Laaster's
/// timestamps end at 294247-01-01.
pub const TIMESTAMP_END: i64 = days_from_civil(294_247, 1, 1) * MICROS_PER_DAY;

/// Days since 1970-01-01 of a proleptic Gregorian date (astronomical year: 0 is 1 BC).
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = month as i64;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (astronomical year, month, day) of a day count since 1970-01-01.
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

pub fn is_leap_year(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Splits a timestamp into days since 1970-01-01 and microseconds since midnight.
pub fn split_timestamp(micros: i64) -> (i64, i64) {
    (
        micros.div_euclid(MICROS_PER_DAY),
        micros.rem_euclid(MICROS_PER_DAY),
    )
}

/// Errors with `timestamp out of range` outside Postgres' timestamp range.
pub fn check_timestamp(micros: i64) -> Result<i64, EvalError> {
    if (TIMESTAMP_MIN..TIMESTAMP_END).contains(&micros)
        || micros == TIMESTAMP_INFINITY
        || micros == TIMESTAMP_NEG_INFINITY
    {
        Ok(micros)
    } else {
        Err(EvalError::OutOfRange("timestamp".to_string()))
    }
}

/// Errors with `date out of range` outside Postgres' date range.
pub fn check_date(days: i64) -> Result<i32, EvalError> {
    if (DATE_MIN..DATE_END).contains(&days) {
        i32::try_from(days).map_err(|_| EvalError::OutOfRange("date".to_string()))
    } else {
        Err(EvalError::OutOfRange("date".to_string()))
    }
}

fn write_ymd(out: &mut String, year: i64, month: u32, day: u32) {
    let shown = if year <= 0 { 1 - year } else { year };
    let _ = write!(out, "{shown:04}-{month:02}-{day:02}");
}

/// Appends `HH:MM:SS[.ffffff]` (fraction without trailing zeros).
fn write_time_of_day(out: &mut String, micros: i64) {
    let hours = micros / MICROS_PER_HOUR;
    let minutes = micros / MICROS_PER_MINUTE % 60;
    let seconds = micros / MICROS_PER_SECOND % 60;
    let _ = write!(out, "{hours:02}:{minutes:02}:{seconds:02}");
    write_fraction(out, micros % MICROS_PER_SECOND);
}

/// Appends `.ffffff` without trailing zeros, nothing for zero.
fn write_fraction(out: &mut String, fraction_micros: i64) {
    if fraction_micros != 0 {
        let text = format!("{:06}", fraction_micros.unsigned_abs());
        out.push('.');
        out.push_str(text.trim_end_matches('0'));
    }
}

/// `date` output: `2024-01-02`, `0001-12-31 BC`, `infinity`.
pub fn format_date(days: i32) -> String {
    match days {
        DATE_INFINITY => return "infinity".to_string(),
        DATE_NEG_INFINITY => return "-infinity".to_string(),
        _ => {}
    }
    let (year, month, day) = civil_from_days(i64::from(days));
    let mut out = String::with_capacity(13);
    write_ymd(&mut out, year, month, day);
    if year <= 0 {
        out.push_str(" BC");
    }
    out
}

/// `time` output: `03:04:05`, `03:04:05.123`.
pub fn format_time(micros: i64) -> String {
    let mut out = String::with_capacity(15);
    write_time_of_day(&mut out, micros);
    out
}

fn format_timestamp_with(micros: i64, zone: &str) -> String {
    match micros {
        TIMESTAMP_INFINITY => return "infinity".to_string(),
        TIMESTAMP_NEG_INFINITY => return "-infinity".to_string(),
        _ => {}
    }
    let (days, time) = split_timestamp(micros);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(32);
    write_ymd(&mut out, year, month, day);
    out.push(' ');
    write_time_of_day(&mut out, time);
    out.push_str(zone);
    if year <= 0 {
        out.push_str(" BC");
    }
    out
}

/// `timestamp` output: `2024-01-02 03:04:05[.fraction]`.
pub fn format_timestamp(micros: i64) -> String {
    format_timestamp_with(micros, "")
}

/// `timestamptz` output in UTC: `2024-01-02 03:04:05+00`.
pub fn format_timestamptz(micros: i64) -> String {
    format_timestamp_with(micros, "+00")
}

/// `interval` output in Postgres' `postgres` style:
/// `1 year 2 mons 3 days 04:05:06`, `-1 days +02:00:00`, `00:00:00`.
pub fn format_interval(interval: &Interval) -> String {
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    let years = interval.months / 12;
    let months = interval.months % 12;
    for (value, unit) in [
        (i64::from(years), "year"),
        (i64::from(months), "mon"),
        (i64::from(interval.days), "day"),
    ] {
        if value == 0 {
            continue;
        }
        let _ = write!(
            out,
            "{}{}{} {}{}",
            if is_zero { "" } else { " " },
            if is_before && value > 0 { "+" } else { "" },
            value,
            unit,
            if value != 1 { "s" } else { "" }
        );
        is_before = value < 0;
        is_zero = false;
    }
    let micros = interval.micros;
    if is_zero || micros != 0 {
        let minus = micros < 0;
        let abs = micros.unsigned_abs();
        let hours = abs / MICROS_PER_HOUR as u64;
        let minutes = abs / MICROS_PER_MINUTE as u64 % 60;
        let seconds = abs / MICROS_PER_SECOND as u64 % 60;
        let _ = write!(
            out,
            "{}{}{:02}:{:02}:{:02}",
            if is_zero { "" } else { " " },
            if minus {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            },
            hours,
            minutes,
            seconds
        );
        write_fraction(&mut out, (abs % MICROS_PER_SECOND as u64) as i64);
    }
    out
}

/// Why a date/time text failed to parse.
enum DateTimeError {
    /// Not date/time syntax: `invalid input syntax for type ...`.
    Syntax,
    /// Fields out of range: `date/time field value out of range`.
    FieldRange,
    /// A valid date/time outside the type's range.
    Range,
}

/// The pieces of a date/time literal.
#[derive(Default)]
struct DateTimeParts {
    /// Astronomical year (BC already applied), month, day.
    date: Option<(i64, u32, u32)>,
    time: Option<i64>,
    /// Zone offset east of UTC, in seconds.
    offset_seconds: Option<i64>,
    /// `infinity` (+1), `-infinity` (-1).
    infinite: i8,
}

/// A cursor over the lowercase ASCII text of a date/time literal.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// A run of digits, as text.
    fn digits(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.bytes[start..self.pos])
    }

    fn number(&mut self) -> Option<i64> {
        let digits = self.digits()?;
        if digits.len() > 12 {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    }

    /// A word of letters (`bc`, `utc`).
    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos.min(self.bytes.len())..]
    }
}

fn digits_value(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    })
}

/// Reads `YYYY-MM-DD`, `YYYYMMDD`, `MM/DD/YYYY` or `YYYY/MM/DD`.
fn parse_date_fields(cursor: &mut Cursor) -> Result<(i64, u32, u32), DateTimeError> {
    let first = cursor.digits().ok_or(DateTimeError::Syntax)?;
    let (year, month, day);
    if cursor.eat(b'-') || cursor.eat(b'/') || cursor.eat(b'.') {
        let separator = cursor.bytes[cursor.pos - 1];
        let second = cursor.number().ok_or(DateTimeError::Syntax)?;
        if !cursor.eat(separator) {
            return Err(DateTimeError::Syntax);
        }
        let third = cursor.digits().ok_or(DateTimeError::Syntax)?;
        if separator == b'/' && first.len() < 3 {
            (month, day, year) = (digits_value(first), second, digits_value(third));
        } else {
            (year, month, day) = (digits_value(first), second, digits_value(third));
        }
    } else if first.len() == 8 {
        year = digits_value(&first[..4]);
        month = digits_value(&first[4..6]);
        day = digits_value(&first[6..]);
    } else {
        return Err(DateTimeError::Syntax);
    }
    if !(1..=12).contains(&month) || day < 1 || year > 10_000_000 {
        return Err(DateTimeError::FieldRange);
    }
    if day > i64::from(days_in_month(year, month as u32)) {
        return Err(DateTimeError::FieldRange);
    }
    Ok((year, month as u32, day as u32))
}

/// Reads `HH:MM[:SS[.ffffff]]` into microseconds since midnight.
fn parse_time_fields(cursor: &mut Cursor) -> Result<i64, DateTimeError> {
    let hour = cursor.number().ok_or(DateTimeError::Syntax)?;
    if !cursor.eat(b':') {
        return Err(DateTimeError::Syntax);
    }
    let minute = cursor.number().ok_or(DateTimeError::Syntax)?;
    let mut second = 0;
    let mut fraction = 0;
    if cursor.eat(b':') {
        second = cursor.number().ok_or(DateTimeError::Syntax)?;
        if cursor.eat(b'.') {
            fraction = parse_fraction(cursor.digits().unwrap_or(b""));
        }
    }
    if hour > 24 || minute > 59 || second > 60 {
        return Err(DateTimeError::FieldRange);
    }
    let micros =
        hour * MICROS_PER_HOUR + minute * MICROS_PER_MINUTE + second * MICROS_PER_SECOND + fraction;
    if micros > MICROS_PER_DAY {
        return Err(DateTimeError::FieldRange);
    }
    Ok(micros)
}

/// Fractional-second digits to microseconds, rounding at the seventh digit.
fn parse_fraction(digits: &[u8]) -> i64 {
    let mut micros = 0;
    for i in 0..6 {
        micros = micros * 10 + digits.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    if digits.get(6).is_some_and(|d| *d >= b'5') {
        micros += 1;
    }
    micros
}

/// Reads a zone: `z`, `utc`, `gmt`, `+HH`, `+HH:MM`, `+HHMM`, `-HH:MM:SS`.
fn parse_zone(cursor: &mut Cursor) -> Result<Option<i64>, DateTimeError> {
    match cursor.peek() {
        Some(b'+') | Some(b'-') => {
            let negative = cursor.peek() == Some(b'-');
            cursor.pos += 1;
            let first = cursor.digits().ok_or(DateTimeError::Syntax)?;
            let (mut hours, mut minutes) = match first.len() {
                1 | 2 => (digits_value(first), 0),
                4 => (digits_value(&first[..2]), digits_value(&first[2..])),
                _ => return Err(DateTimeError::Syntax),
            };
            let mut seconds = 0;
            if first.len() <= 2 && cursor.eat(b':') {
                minutes = cursor.number().ok_or(DateTimeError::Syntax)?;
                if cursor.eat(b':') {
                    seconds = cursor.number().ok_or(DateTimeError::Syntax)?;
                }
            }
            if hours > 15 || minutes > 59 || seconds > 59 {
                return Err(DateTimeError::FieldRange);
            }
            hours = hours * 3600 + minutes * 60 + seconds;
            Ok(Some(if negative { -hours } else { hours }))
        }
        Some(b) if b.is_ascii_alphabetic() => {
            let save = cursor.pos;
            match cursor.word() {
                b"z" | b"utc" | b"gmt" | b"zulu" => Ok(Some(0)),
                _ => {
                    cursor.pos = save;
                    Ok(None)
                }
            }
        }
        _ => Ok(None),
    }
}

/// Parses a date, time or timestamp literal into its parts.
fn parse_date_time(text: &str) -> Result<DateTimeParts, DateTimeError> {
    let lower = text.trim().to_ascii_lowercase();
    let mut parts = DateTimeParts::default();
    match lower.as_str() {
        "infinity" | "+infinity" => {
            parts.infinite = 1;
            return Ok(parts);
        }
        "-infinity" => {
            parts.infinite = -1;
            return Ok(parts);
        }
        "epoch" => {
            parts.date = Some((1970, 1, 1));
            parts.time = Some(0);
            parts.offset_seconds = Some(0);
            return Ok(parts);
        }
        _ => {}
    }
    let mut cursor = Cursor::new(lower.as_bytes());
    let mut bc = false;
    // A leading time (`03:04:05`) means a time-only literal.
    let looks_like_time = {
        let mut probe = Cursor::new(lower.as_bytes());
        probe.digits().is_some() && probe.peek() == Some(b':')
    };
    if !looks_like_time {
        parts.date = Some(parse_date_fields(&mut cursor)?);
        let had_space = cursor.skip_spaces();
        if !had_space && cursor.eat(b't') {
            // ISO 8601 `T` separator.
        }
    }
    loop {
        cursor.skip_spaces();
        if cursor.at_end() {
            break;
        }
        match cursor.peek() {
            Some(b) if b.is_ascii_digit() && parts.time.is_none() => {
                parts.time = Some(parse_time_fields(&mut cursor)?);
            }
            Some(b'+') | Some(b'-') | Some(b'z') | Some(b'u') | Some(b'g')
                if parts.offset_seconds.is_none() =>
            {
                let zone = parse_zone(&mut cursor)?;
                if zone.is_none() {
                    return Err(DateTimeError::Syntax);
                }
                parts.offset_seconds = zone;
            }
            Some(b) if b.is_ascii_alphabetic() => match cursor.word() {
                b"bc" => bc = true,
                b"ad" => {}
                b"t" => {}
                _ => return Err(DateTimeError::Syntax),
            },
            _ => return Err(DateTimeError::Syntax),
        }
    }
    if !cursor.rest().is_empty() {
        return Err(DateTimeError::Syntax);
    }
    if bc {
        match &mut parts.date {
            Some((year, _, _)) if *year >= 1 => *year = 1 - *year,
            Some(_) => return Err(DateTimeError::FieldRange),
            None => return Err(DateTimeError::Syntax),
        }
    } else if let Some((0, _, _)) = parts.date {
        return Err(DateTimeError::FieldRange);
    }
    Ok(parts)
}

fn date_time_error(err: DateTimeError, typ: &str, text: &str) -> EvalError {
    match err {
        DateTimeError::Syntax => EvalError::InvalidInputSyntax {
            typ: typ.to_string(),
            input: text.to_string(),
        },
        DateTimeError::FieldRange => EvalError::DatetimeFieldOverflow(format!(
            "date/time field value out of range: \"{text}\""
        )),
        DateTimeError::Range => {
            EvalError::DatetimeFieldOverflow(format!("{typ} out of range: \"{text}\""))
        }
    }
}

/// `date` input: `2024-01-02`, `20240102`, `1/2/2024`, `0001-01-01 BC`, `infinity`.
pub fn parse_date(text: &str) -> Result<i32, EvalError> {
    let error = |e| date_time_error(e, "date", text);
    let parts = parse_date_time(text).map_err(error)?;
    match parts.infinite {
        1 => return Ok(DATE_INFINITY),
        -1 => return Ok(DATE_NEG_INFINITY),
        _ => {}
    }
    let (year, month, day) = parts.date.ok_or(DateTimeError::Syntax).map_err(error)?;
    let days = days_from_civil(year, month, day);
    if !(DATE_MIN..DATE_END).contains(&days) {
        return Err(error(DateTimeError::Range));
    }
    Ok(days as i32)
}

/// `time` input: `03:04:05`, `03:04:05.123`, `24:00:00`; a date prefix is ignored.
pub fn parse_time(text: &str) -> Result<i64, EvalError> {
    let error = |e| date_time_error(e, "time", text);
    let parts = parse_date_time(text).map_err(error)?;
    if parts.infinite != 0 {
        return Err(error(DateTimeError::Syntax));
    }
    parts.time.ok_or(DateTimeError::Syntax).map_err(error)
}

fn parse_timestamp_as(text: &str, typ: &str, with_zone: bool) -> Result<i64, EvalError> {
    let error = |e| date_time_error(e, typ, text);
    let parts = parse_date_time(text).map_err(error)?;
    match parts.infinite {
        1 => return Ok(TIMESTAMP_INFINITY),
        -1 => return Ok(TIMESTAMP_NEG_INFINITY),
        _ => {}
    }
    let (year, month, day) = parts.date.ok_or(DateTimeError::Syntax).map_err(error)?;
    let days = days_from_civil(year, month, day);
    let mut micros = days
        .checked_mul(MICROS_PER_DAY)
        .and_then(|m| m.checked_add(parts.time.unwrap_or(0)))
        .ok_or(DateTimeError::Range)
        .map_err(error)?;
    if with_zone {
        let offset = parts.offset_seconds.unwrap_or(0) * MICROS_PER_SECOND;
        micros = micros
            .checked_sub(offset)
            .ok_or(DateTimeError::Range)
            .map_err(error)?;
    }
    if !(TIMESTAMP_MIN..TIMESTAMP_END).contains(&micros) {
        return Err(error(DateTimeError::Range));
    }
    Ok(micros)
}

/// `timestamp` input: `2024-01-02 03:04:05.123`, `2024-01-02T03:04:05`, `2024-01-02`;
/// a zone, if given, is ignored (as Postgres does).
pub fn parse_timestamp(text: &str) -> Result<i64, EvalError> {
    parse_timestamp_as(text, "timestamp", false)
}

/// `timestamptz` input; the zone offset (`+02`, `+02:00`, `Z`) is applied, no zone
/// means UTC.
pub fn parse_timestamptz(text: &str) -> Result<i64, EvalError> {
    parse_timestamp_as(text, "timestamp with time zone", true)
}

/// An interval being accumulated from its fields.
#[derive(Default)]
struct IntervalBuilder {
    months: i64,
    days: i64,
    micros: i64,
    /// Units already given (Postgres rejects `1 day 2 days`).
    seen: u16,
}

impl IntervalBuilder {
    /// Adds `whole + fraction` of a unit, carrying the fraction down the way Postgres'
    /// `DecodeInterval` does (fractional years round to months; fractional months and
    /// weeks carry into days, fractional days into time).
    fn add(&mut self, whole: i64, fraction: f64, unit: IntervalUnit) -> Option<()> {
        let bit = match unit {
            // Fractional seconds also claim the millisecond and microsecond fields.
            IntervalUnit::Time(_, SECOND_BIT) if fraction != 0.0 => ALL_SECONDS_BITS,
            _ => unit.bit(),
        };
        self.mark(bit)?;
        match unit {
            IntervalUnit::Years(n) => {
                let months = whole.checked_mul(12 * n)?;
                let extra = f64_to_i64((fraction * (12 * n) as f64).round_ties_even())?;
                self.months = self.months.checked_add(months)?.checked_add(extra)?;
            }
            IntervalUnit::Month => {
                self.months = self.months.checked_add(whole)?;
                self.add_fraction_days(fraction * 30.0)?;
            }
            IntervalUnit::Week => {
                self.days = self.days.checked_add(whole.checked_mul(7)?)?;
                self.add_fraction_days(fraction * 7.0)?;
            }
            IntervalUnit::Day => {
                self.days = self.days.checked_add(whole)?;
                self.add_fraction_micros(fraction, MICROS_PER_DAY)?;
            }
            IntervalUnit::Time(scale, _) => {
                self.micros = self.micros.checked_add(whole.checked_mul(scale)?)?;
                self.add_fraction_micros(fraction, scale)?;
            }
        }
        Some(())
    }

    fn mark(&mut self, bit: u16) -> Option<()> {
        if self.seen & bit != 0 {
            return None;
        }
        self.seen |= bit;
        Some(())
    }

    fn add_fraction_days(&mut self, days: f64) -> Option<()> {
        let whole = days.trunc();
        self.days = self.days.checked_add(f64_to_i64(whole)?)?;
        self.add_fraction_micros(days - whole, MICROS_PER_DAY)
    }

    fn add_fraction_micros(&mut self, fraction: f64, scale: i64) -> Option<()> {
        let micros = fraction * scale as f64;
        let whole = micros.trunc();
        let rounded =
            f64_to_i64(whole)?.checked_add(f64_to_i64((micros - whole).round_ties_even())?)?;
        self.micros = self.micros.checked_add(rounded)?;
        Some(())
    }

    fn negate(&mut self) {
        self.months = -self.months;
        self.days = -self.days;
        self.micros = -self.micros;
    }

    fn finish(self) -> Option<Interval> {
        Some(Interval::new(
            i32::try_from(self.months).ok()?,
            i32::try_from(self.days).ok()?,
            self.micros,
        ))
    }
}

fn f64_to_i64(value: f64) -> Option<i64> {
    (-9.2e18..=9.2e18).contains(&value).then_some(value as i64)
}

/// An interval unit: how it accumulates, and its bit for the duplicate check.
#[derive(Clone, Copy)]
enum IntervalUnit {
    /// Years, decades (10), centuries (100), millennia (1000).
    Years(i64),
    Month,
    Week,
    Day,
    /// Microseconds per unit, and the unit's duplicate-check bit.
    Time(i64, u16),
}

const HOUR_BIT: u16 = 1 << 8;
const MINUTE_BIT: u16 = 1 << 9;
const SECOND_BIT: u16 = 1 << 10;
const MILLISECOND_BIT: u16 = 1 << 11;
const MICROSECOND_BIT: u16 = 1 << 12;
const ALL_SECONDS_BITS: u16 = SECOND_BIT | MILLISECOND_BIT | MICROSECOND_BIT;

impl IntervalUnit {
    fn bit(self) -> u16 {
        match self {
            IntervalUnit::Years(1) => 1,
            IntervalUnit::Years(10) => 1 << 1,
            IntervalUnit::Years(100) => 1 << 2,
            IntervalUnit::Years(_) => 1 << 3,
            IntervalUnit::Month => 1 << 4,
            IntervalUnit::Week => 1 << 5,
            IntervalUnit::Day => 1 << 6,
            IntervalUnit::Time(_, bit) => bit,
        }
    }
}

fn interval_unit(word: &str) -> Option<IntervalUnit> {
    use IntervalUnit::*;
    Some(match word {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => {
            Time(1, MICROSECOND_BIT)
        }
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => {
            Time(1000, MILLISECOND_BIT)
        }
        "second" | "seconds" | "s" | "sec" | "secs" => Time(MICROS_PER_SECOND, SECOND_BIT),
        "minute" | "minutes" | "m" | "min" | "mins" => Time(MICROS_PER_MINUTE, MINUTE_BIT),
        "hour" | "hours" | "h" | "hr" | "hrs" => Time(MICROS_PER_HOUR, HOUR_BIT),
        "day" | "days" | "d" => Day,
        "week" | "weeks" | "w" => Week,
        "month" | "months" | "mon" | "mons" => Month,
        "year" | "years" | "y" | "yr" | "yrs" => Years(1),
        "decade" | "decades" | "dec" | "decs" => Years(10),
        "century" | "centuries" | "c" | "cent" => Years(100),
        "millennium" | "millennia" | "mil" | "mils" => Years(1000),
        _ => return None,
    })
}

/// `interval` input: `1 day`, `2 hours 3 minutes`, `1 year 2 months`, `1 day 02:03:04`,
/// `00:00:10`, `-1 week`, `@ 1 day ago`, ISO 8601 `P1Y2M3DT4H5M6S`.
pub fn parse_interval(text: &str) -> Result<Interval, EvalError> {
    let syntax = || EvalError::InvalidInputSyntax {
        typ: "interval".to_string(),
        input: text.to_string(),
    };
    let lower = text.trim().to_ascii_lowercase();
    let builder = if let Some(iso) = lower.strip_prefix('p') {
        parse_iso_interval(iso).ok_or_else(syntax)?
    } else {
        parse_postgres_interval(&lower).ok_or_else(syntax)?
    };
    builder.finish().ok_or_else(|| {
        EvalError::IntervalFieldOverflow(format!("interval field value out of range: \"{text}\""))
    })
}

/// Splits a signed decimal number into its integer part and its fraction (both carrying
/// the sign), the way Postgres reads interval fields.
fn split_number(text: &str) -> Option<(i64, f64)> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || int_part.len() > 18
    {
        return None;
    }
    let whole: i64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let fraction: f64 = if frac_part.is_empty() {
        0.0
    } else {
        format!("0.{frac_part}").parse().ok()?
    };
    Some(if negative {
        (-whole, -fraction)
    } else {
        (whole, fraction)
    })
}

fn parse_postgres_interval(text: &str) -> Option<IntervalBuilder> {
    let text = text.strip_prefix('@').unwrap_or(text);
    let mut builder = IntervalBuilder::default();
    let mut tokens = tokenize_interval(text)?.into_iter().peekable();
    let mut any = false;
    while let Some(token) = tokens.next() {
        match token {
            IntervalToken::Number(number) => {
                let (whole, fraction) = split_number(&number)?;
                let unit = match tokens.peek() {
                    Some(IntervalToken::Word(word)) => {
                        let unit = interval_unit(word)?;
                        tokens.next();
                        unit
                    }
                    // A bare number is seconds.
                    None => IntervalUnit::Time(MICROS_PER_SECOND, SECOND_BIT),
                    _ => return None,
                };
                builder.add(whole, fraction, unit)?;
            }
            IntervalToken::Time(time) => {
                builder.mark(HOUR_BIT | MINUTE_BIT | ALL_SECONDS_BITS)?;
                builder.micros = builder.micros.checked_add(parse_interval_time(&time)?)?;
            }
            IntervalToken::Word(word) if word == "ago" && tokens.peek().is_none() && any => {
                builder.negate();
            }
            IntervalToken::Word(_) => return None,
        }
        any = true;
    }
    any.then_some(builder)
}

enum IntervalToken {
    Number(String),
    Time(String),
    Word(String),
}

fn tokenize_interval(text: &str) -> Option<Vec<IntervalToken>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() || b == b',' {
            i += 1;
        } else if b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.') {
            let start = i;
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || matches!(bytes[i], b'.' | b':'))
            {
                i += 1;
            }
            let token = &text[start..i];
            if token.contains(':') {
                tokens.push(IntervalToken::Time(token.to_string()));
            } else {
                tokens.push(IntervalToken::Number(token.to_string()));
            }
        } else if b.is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            tokens.push(IntervalToken::Word(text[start..i].to_string()));
        } else {
            return None;
        }
    }
    Some(tokens)
}

/// `[-]H:MM[:SS[.ffffff]]` (or `MM:SS.fff` when the first field has a fraction-less
/// minute form) into microseconds.
fn parse_interval_time(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let fields: Vec<&str> = body.split(':').collect();
    let number = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 12 {
            return None;
        }
        s.parse().ok()
    };
    let seconds_micros = |s: &str| -> Option<i64> {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seconds = number(whole)?;
        if seconds > 59 && !whole.is_empty() {
            return None;
        }
        Some(seconds * MICROS_PER_SECOND + parse_fraction(fraction.as_bytes()))
    };
    let micros = match fields.as_slice() {
        [hours, minutes] if minutes.contains('.') => {
            // `MM:SS.fff`
            number(hours)?
                .checked_mul(MICROS_PER_MINUTE)?
                .checked_add(seconds_micros(minutes)?)?
        }
        [hours, minutes] => {
            let minutes = number(minutes)?;
            if minutes > 59 {
                return None;
            }
            number(hours)?
                .checked_mul(MICROS_PER_HOUR)?
                .checked_add(minutes * MICROS_PER_MINUTE)?
        }
        [hours, minutes, seconds] => {
            let minutes = number(minutes)?;
            if minutes > 59 {
                return None;
            }
            number(hours)?
                .checked_mul(MICROS_PER_HOUR)?
                .checked_add(minutes * MICROS_PER_MINUTE + seconds_micros(seconds)?)?
        }
        _ => return None,
    };
    Some(if negative { -micros } else { micros })
}

/// ISO 8601 durations after the `P`: `1Y2M3DT4H5M6.5S`, `2W`.
fn parse_iso_interval(text: &str) -> Option<IntervalBuilder> {
    let mut builder = IntervalBuilder::default();
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        match c {
            't' if number.is_empty() && !in_time => in_time = true,
            '0'..='9' | '.' | '-' | '+' => number.push(c),
            unit => {
                let (whole, fraction) = split_number(&number)?;
                number.clear();
                let unit = match (unit, in_time) {
                    ('y', false) => IntervalUnit::Years(1),
                    ('m', false) => IntervalUnit::Month,
                    ('w', false) => IntervalUnit::Week,
                    ('d', false) => IntervalUnit::Day,
                    ('h', true) => IntervalUnit::Time(MICROS_PER_HOUR, HOUR_BIT),
                    ('m', true) => IntervalUnit::Time(MICROS_PER_MINUTE, MINUTE_BIT),
                    ('s', true) => IntervalUnit::Time(MICROS_PER_SECOND, SECOND_BIT),
                    _ => return None,
                };
                builder.add(whole, fraction, unit)?;
                any = true;
            }
        }
    }
    (number.is_empty() && any).then_some(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(text: &str) -> String {
        format_interval(&parse_interval(text).unwrap())
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000i64, -719_528, -1, 0, 1, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2024, 1, 2), 19_724);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
    }

    #[test]
    fn intervals_print_and_parse_like_postgres() {
        let cases = [
            (
                "1 year 2 months 3 days 4:05:06",
                "1 year 2 mons 3 days 04:05:06",
            ),
            ("-1 day", "-1 days"),
            ("0", "00:00:00"),
            ("2 days 1:00:00.5", "2 days 01:00:00.5"),
            ("-1 day 02:00:00", "-1 days +02:00:00"),
            ("1 day -02:00:00", "1 day -02:00:00"),
            ("-1 year -2 mons", "-1 years -2 mons"),
            ("-1 year 2 mons", "-10 mons"),
            ("1.5 days", "1 day 12:00:00"),
            ("1.5 months", "1 mon 15 days"),
            ("1.5 years", "1 year 6 mons"),
            ("10", "00:00:10"),
            ("-00:00:01.5", "-00:00:01.5"),
            ("100 hours", "100:00:00"),
            ("@ 1 day ago", "-1 days"),
            ("P1Y2M3DT4H5M6S", "1 year 2 mons 3 days 04:05:06"),
            ("1 week", "7 days"),
            ("-1 week", "-7 days"),
            ("1 millennium", "1000 years"),
            ("3 centuries 2 decades", "320 years"),
            ("1 ms", "00:00:00.001"),
            ("1 us", "00:00:00.000001"),
            ("1:2", "01:02:00"),
            ("1 day 1:2:3.1234567", "1 day 01:02:03.123457"),
            ("+1 day -1 hour", "1 day -01:00:00"),
            ("2 hours 3 minutes", "02:03:00"),
            ("10 seconds", "00:00:10"),
            ("1 mon", "1 mon"),
            ("1day", "1 day"),
            ("-3.4 year", "-3 years -5 mons"),
            ("26.3 year", "26 years 4 mons"),
            ("2.3 mons", "2 mons 9 days"),
            (
                "28.9 hours -18 days 23.242 year",
                "23 years 3 mons -18 days +28:54:00",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(interval(input), expected, "{input}");
            assert_eq!(interval(expected), expected, "{expected}");
        }
        assert_eq!(
            parse_interval("x").unwrap_err().to_string(),
            "invalid input syntax for type interval: \"x\""
        );
        assert!(parse_interval("1 fortnight").is_err());
        assert!(parse_interval("1 day 2 days").is_err());
        assert!(parse_interval("1 hour 01:00:00").is_err());
        assert!(parse_interval("1.5 second 5 ms").is_err());
        assert_eq!(interval("1 second 5 ms"), "00:00:01.005");
        assert_eq!(interval("5.5 ms 3 us"), "00:00:00.005503");
        assert!(parse_interval("").is_err());
    }

    #[test]
    fn dates_and_timestamps_parse_with_postgres_errors() {
        assert_eq!(parse_date("2024-01-02").unwrap(), 19_724);
        assert_eq!(parse_date("20240102").unwrap(), 19_724);
        assert_eq!(parse_date("1/2/2024").unwrap(), 19_724);
        assert_eq!(
            format_date(parse_date("0001-01-01").unwrap() - 1),
            "0001-12-31 BC"
        );
        assert_eq!(
            parse_date("2024-02-30").unwrap_err().to_string(),
            "date/time field value out of range: \"2024-02-30\""
        );
        assert_eq!(
            parse_date("x").unwrap_err().to_string(),
            "invalid input syntax for type date: \"x\""
        );
        assert_eq!(
            parse_timestamp("x").unwrap_err().to_string(),
            "invalid input syntax for type timestamp: \"x\""
        );
        assert_eq!(
            parse_timestamptz("x").unwrap_err().to_string(),
            "invalid input syntax for type timestamp with time zone: \"x\""
        );
        assert_eq!(
            parse_time("x").unwrap_err().to_string(),
            "invalid input syntax for type time: \"x\""
        );
        assert_eq!(
            parse_timestamp("2024-01-01 25:00").unwrap_err().to_string(),
            "date/time field value out of range: \"2024-01-01 25:00\""
        );
        assert_eq!(parse_timestamp("epoch").unwrap(), 0);
        assert_eq!(
            parse_timestamp("2024-01-02 03:04:05+02").unwrap(),
            parse_timestamp("2024-01-02 03:04:05").unwrap()
        );
        assert_eq!(
            parse_time("2024-01-02 03:04:05").unwrap(),
            3 * MICROS_PER_HOUR + 4 * MICROS_PER_MINUTE + 5 * MICROS_PER_SECOND
        );
        assert_eq!(
            format_timestamptz(parse_timestamptz("2024-01-02T03:04:05.5+0530").unwrap()),
            "2024-01-01 21:34:05.5+00"
        );
    }
}
