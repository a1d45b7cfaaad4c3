//! Parsers for the value syntaxes Flink's options use: memory sizes (`MemorySize.parse`),
//! durations (`TimeUtils.parseDuration`), and (Laaster's `base-time`) timestamps. Each
//! returns `Err(Some(why))` when it can say more than "malformed".

use std::time::Duration;

use super::MAX_BASE_TIME_MS;

/// Splits `"200 kb"` into `(200, "kb")`.
fn split_number_unit(text: &str) -> Result<(i64, String), Option<String>> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return Err(None);
    }
    let number: i64 = text[..digits]
        .parse()
        .map_err(|_| Some("the number is too large".to_string()))?;
    Ok((number, text[digits..].trim().to_ascii_lowercase()))
}

/// Flink's `MemorySize.parse`: a number, optionally followed by a unit.
pub(super) fn parse_memory_size(text: &str) -> Result<i64, Option<String>> {
    let (number, unit) = split_number_unit(text)?;
    let shift = match unit.as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        _ => return Err(Some(format!("unknown size unit '{unit}'"))),
    };
    number
        .checked_mul(1_i64 << shift)
        .ok_or_else(|| Some("the size is too large".to_string()))
}

/// Flink's `TimeUtils.parseDuration`: a number, optionally followed by a unit (a plain
/// number is milliseconds).
pub(super) fn parse_duration(text: &str) -> Result<Duration, Option<String>> {
    let (number, unit) = split_number_unit(text)?;
    let number = number as u64;
    let duration = match unit.as_str() {
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => Duration::from_nanos(number),
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => {
            Duration::from_micros(number)
        }
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => {
            Duration::from_millis(number)
        }
        "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(number),
        "m" | "min" | "minute" | "minutes" => Duration::from_secs(number.saturating_mul(60)),
        "h" | "hour" | "hours" => Duration::from_secs(number.saturating_mul(3600)),
        "d" | "day" | "days" => Duration::from_secs(number.saturating_mul(86_400)),
        _ => return Err(Some(format!("unknown time unit '{unit}'"))),
    };
    Ok(duration)
}

/// Milliseconds since the epoch, or `yyyy-MM-dd HH:mm:ss[.SSS]` / `yyyy-MM-ddTHH:mm:ss[.SSS]`
/// in UTC.
pub(super) fn parse_base_time(text: &str) -> Result<i64, Option<String>> {
    if let Ok(ms) = text.parse::<i64>() {
        return if (0..=MAX_BASE_TIME_MS).contains(&ms) {
            Ok(ms)
        } else {
            Err(Some(format!("{ms} is out of range")))
        };
    }
    let bytes = text.as_bytes();
    let field = |range: std::ops::Range<usize>| -> Result<i64, Option<String>> {
        let part = text.get(range).ok_or(None)?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(None);
        }
        part.parse::<i64>().map_err(|_| None)
    };
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !(bytes[10] == b' ' || bytes[10] == b'T')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return Err(None);
    }
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (hour, minute, second) = (field(11..13)?, field(14..16)?, field(17..19)?);
    let millis = match text.get(19..) {
        None | Some("") => 0,
        Some(rest) if rest.starts_with('.') && rest.len() <= 4 && rest.len() >= 2 => {
            let digits = field(20..text.len())?;
            digits * 10_i64.pow((4 - rest.len()) as u32)
        }
        Some(_) => return Err(None),
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(Some("not a valid date and time".to_string()));
    }
    let days = crate::nexmark::json::days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
