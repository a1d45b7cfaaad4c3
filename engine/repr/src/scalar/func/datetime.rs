//! Date/time functions: arithmetic on dates, times, timestamps and intervals,
//! `extract`/`date_part` and `date_trunc`. Time zones are UTC throughout, so
//! `timestamptz` behaves as `timestamp` here.

use rust_decimal::Decimal;

use super::unsupported;
use crate::cast::date_to_timestamp;
use crate::datum::MICROS_PER_DAY;
use crate::strconv::datetime::{
    MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND, check_date, check_timestamp,
    civil_from_days, days_from_civil, days_in_month, split_timestamp,
};
use crate::{Datum, EvalError, Func, Interval};

use super::DateTimeField;

fn interval_out_of_range() -> EvalError {
    EvalError::OutOfRange("interval".to_string())
}

fn timestamp_out_of_range() -> EvalError {
    EvalError::OutOfRange("timestamp".to_string())
}

fn is_infinite(micros: i64) -> bool {
    micros == i64::MAX || micros == i64::MIN
}

/// A date or timestamp as timestamp microseconds (for comparisons across the types).
pub(super) fn to_timestamp(d: &Datum) -> Result<i64, EvalError> {
    match d {
        Datum::Date(days) => date_to_timestamp(*days),
        Datum::Timestamp(ts) | Datum::TimestampTz(ts) => Ok(*ts),
        other => Err(EvalError::Other(format!(
            "cannot convert {} to timestamp",
            crate::cast::datum_type_name(other)
        ))),
    }
}

pub(super) fn negate_interval(iv: &Interval) -> Result<Interval, EvalError> {
    Ok(Interval::new(
        iv.months.checked_neg().ok_or_else(interval_out_of_range)?,
        iv.days.checked_neg().ok_or_else(interval_out_of_range)?,
        iv.micros.checked_neg().ok_or_else(interval_out_of_range)?,
    ))
}

fn add_intervals(a: &Interval, b: &Interval) -> Result<Interval, EvalError> {
    Ok(Interval::new(
        a.months
            .checked_add(b.months)
            .ok_or_else(interval_out_of_range)?,
        a.days
            .checked_add(b.days)
            .ok_or_else(interval_out_of_range)?,
        a.micros
            .checked_add(b.micros)
            .ok_or_else(interval_out_of_range)?,
    ))
}

/// `timestamp + interval`: months first (clamping the day to the month's end), then
/// days, then microseconds, as Postgres does.
pub(super) fn timestamp_plus_interval(ts: i64, iv: &Interval) -> Result<i64, EvalError> {
    if is_infinite(ts) {
        return Ok(ts);
    }
    let (mut days, time) = split_timestamp(ts);
    if iv.months != 0 {
        let (year, month, day) = civil_from_days(days);
        let total = year * 12 + i64::from(month) - 1 + i64::from(iv.months);
        let (new_year, new_month) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
        let new_day = day.min(days_in_month(new_year, new_month));
        days = days_from_civil(new_year, new_month, new_day);
    }
    days = days
        .checked_add(i64::from(iv.days))
        .ok_or_else(timestamp_out_of_range)?;
    let micros = days
        .checked_mul(MICROS_PER_DAY)
        .and_then(|m| m.checked_add(time))
        .and_then(|m| m.checked_add(iv.micros))
        .ok_or_else(timestamp_out_of_range)?;
    check_timestamp(micros)
}

/// `timestamp - timestamp`: an interval of days and microseconds (hours justified into
/// days, never months).
fn timestamp_difference(a: i64, b: i64) -> Result<Interval, EvalError> {
    if is_infinite(a) || is_infinite(b) {
        return Err(interval_out_of_range());
    }
    let diff = a.checked_sub(b).ok_or_else(interval_out_of_range)?;
    let days = i32::try_from(diff / MICROS_PER_DAY).map_err(|_| interval_out_of_range())?;
    Ok(Interval::new(0, days, diff % MICROS_PER_DAY))
}

/// `interval * factor` with Postgres 15's cascade of fractional months into days and
/// fractional days into time.
fn interval_times(iv: &Interval, factor: f64) -> Result<Interval, EvalError> {
    let ts_round = |v: f64| (v * 1_000_000.0).round_ties_even() / 1_000_000.0;
    let fits_i32 = |v: f64| !v.is_nan() && (-2_147_483_648.0..2_147_483_648.0).contains(&v);
    let months_f = f64::from(iv.months) * factor;
    if !fits_i32(months_f) {
        return Err(interval_out_of_range());
    }
    let months = months_f as i32;
    let days_f = f64::from(iv.days) * factor;
    if !fits_i32(days_f) {
        return Err(interval_out_of_range());
    }
    let mut days = days_f as i32;
    let month_remainder_days = ts_round((months_f - f64::from(months)) * 30.0);
    let mut sec_remainder = ts_round(
        (days_f - f64::from(days) + month_remainder_days - month_remainder_days.trunc()) * 86_400.0,
    );
    if sec_remainder.abs() >= 86_400.0 {
        let extra = (sec_remainder / 86_400.0).trunc();
        days = days
            .checked_add(extra as i32)
            .ok_or_else(interval_out_of_range)?;
        sec_remainder -= extra * 86_400.0;
    }
    days = days
        .checked_add(month_remainder_days.trunc() as i32)
        .ok_or_else(interval_out_of_range)?;
    let micros_f = (iv.micros as f64 * factor + sec_remainder * 1_000_000.0).round_ties_even();
    if micros_f.is_nan()
        || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&micros_f)
    {
        return Err(interval_out_of_range());
    }
    Ok(Interval::new(months, days, micros_f as i64))
}

fn factor_of(d: &Datum) -> Option<f64> {
    match d {
        Datum::Float64(f) => Some(f.0),
        Datum::Float32(f) => Some(f64::from(f.0)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => d.as_i64().map(|v| v as f64),
        Datum::Decimal(v) => Some(crate::cast::decimal_to_f64(v)),
        _ => None,
    }
}

/// `+`, `-`, `*`, `/` where an operand is a date, time, timestamp or interval.
pub(super) fn arithmetic(func: &Func, a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    let unsupported = || unsupported(func, &[a.clone(), b.clone()]);
    match (func, a, b) {
        (Func::Add, Date(d), Int16(_) | Int32(_) | Int64(_))
        | (Func::Add, Int16(_) | Int32(_) | Int64(_), Date(d)) => {
            let n = if matches!(a, Date(_)) { b } else { a }
                .as_i64()
                .unwrap_or_default();
            date_plus_days(*d, n)
        }
        (Func::Sub, Date(d), Int16(_) | Int32(_) | Int64(_)) => {
            let n = b.as_i64().unwrap_or_default();
            date_plus_days(
                *d,
                n.checked_neg()
                    .ok_or_else(|| EvalError::OutOfRange("date".into()))?,
            )
        }
        (Func::Sub, Date(x), Date(y)) => {
            if *x == i32::MAX || *x == i32::MIN || *y == i32::MAX || *y == i32::MIN {
                return Err(EvalError::DatetimeFieldOverflow(
                    "cannot subtract infinite dates".to_string(),
                ));
            }
            x.checked_sub(*y)
                .map(Int32)
                .ok_or_else(|| EvalError::OutOfRange("integer".into()))
        }
        (Func::Add, Date(d), Interval(iv)) | (Func::Add, Interval(iv), Date(d)) => {
            timestamp_plus_interval(date_to_timestamp(*d)?, iv).map(Timestamp)
        }
        (Func::Sub, Date(d), Interval(iv)) => {
            timestamp_plus_interval(date_to_timestamp(*d)?, &negate_interval(iv)?).map(Timestamp)
        }
        (Func::Add, Date(d), Time(t)) | (Func::Add, Time(t), Date(d)) => {
            let ts = date_to_timestamp(*d)?;
            if is_infinite(ts) {
                return Ok(Timestamp(ts));
            }
            ts.checked_add(*t)
                .ok_or_else(timestamp_out_of_range)
                .and_then(check_timestamp)
                .map(Timestamp)
        }
        (Func::Add, Timestamp(ts), Interval(iv)) | (Func::Add, Interval(iv), Timestamp(ts)) => {
            timestamp_plus_interval(*ts, iv).map(Timestamp)
        }
        (Func::Add, TimestampTz(ts), Interval(iv)) | (Func::Add, Interval(iv), TimestampTz(ts)) => {
            timestamp_plus_interval(*ts, iv).map(TimestampTz)
        }
        (Func::Sub, Timestamp(ts), Interval(iv)) => {
            timestamp_plus_interval(*ts, &negate_interval(iv)?).map(Timestamp)
        }
        (Func::Sub, TimestampTz(ts), Interval(iv)) => {
            timestamp_plus_interval(*ts, &negate_interval(iv)?).map(TimestampTz)
        }
        (Func::Sub, Timestamp(x), Timestamp(y)) | (Func::Sub, TimestampTz(x), TimestampTz(y)) => {
            timestamp_difference(*x, *y).map(Interval)
        }
        (Func::Add, Time(t), Interval(iv)) | (Func::Add, Interval(iv), Time(t)) => {
            Ok(Time(t.wrapping_add(iv.micros).rem_euclid(MICROS_PER_DAY)))
        }
        (Func::Sub, Time(t), Interval(iv)) => {
            Ok(Time(t.wrapping_sub(iv.micros).rem_euclid(MICROS_PER_DAY)))
        }
        (Func::Sub, Time(x), Time(y)) => x
            .checked_sub(*y)
            .map(|micros| Interval(crate::Interval::new(0, 0, micros)))
            .ok_or_else(interval_out_of_range),
        (Func::Add, Interval(x), Interval(y)) => add_intervals(x, y).map(Interval),
        (Func::Sub, Interval(x), Interval(y)) => {
            add_intervals(x, &negate_interval(y)?).map(Interval)
        }
        (Func::Mul, Interval(iv), factor) | (Func::Mul, factor, Interval(iv)) => {
            let factor = factor_of(factor).ok_or_else(unsupported)?;
            interval_times(iv, factor).map(Interval)
        }
        (Func::Div, Interval(iv), divisor) => {
            let divisor = factor_of(divisor).ok_or_else(unsupported)?;
            if divisor == 0.0 {
                return Err(EvalError::DivisionByZero);
            }
            interval_times(iv, 1.0 / divisor).map(Interval)
        }
        _ => Err(unsupported()),
    }
}

fn date_plus_days(date: i32, days: i64) -> Result<Datum, EvalError> {
    if date == i32::MAX || date == i32::MIN {
        return Ok(Datum::Date(date));
    }
    let result = i64::from(date)
        .checked_add(days)
        .ok_or_else(|| EvalError::OutOfRange("date".to_string()))?;
    check_date(result).map(Datum::Date)
}

/// The broken-down fields of a date/time value, as `extract` sees them.
struct Fields {
    /// Astronomical year (0 is 1 BC) for dates; the year count for intervals.
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    /// Microseconds within the minute (seconds and fraction).
    second_micros: i64,
    /// Days since 1970-01-01 (dates and timestamps only).
    epoch_days: Option<i64>,
}

fn timestamp_fields(ts: i64) -> Fields {
    let (days, time) = split_timestamp(ts);
    let (year, month, day) = civil_from_days(days);
    Fields {
        year,
        month: i64::from(month),
        day: i64::from(day),
        hour: time / MICROS_PER_HOUR,
        minute: time / MICROS_PER_MINUTE % 60,
        second_micros: time % MICROS_PER_MINUTE,
        epoch_days: Some(days),
    }
}

fn interval_fields(iv: &Interval) -> Fields {
    Fields {
        year: i64::from(iv.months / 12),
        month: i64::from(iv.months % 12),
        day: i64::from(iv.days),
        hour: iv.micros / MICROS_PER_HOUR,
        minute: iv.micros / MICROS_PER_MINUTE % 60,
        second_micros: iv.micros % MICROS_PER_MINUTE,
        epoch_days: None,
    }
}

fn field_name(field: DateTimeField) -> &'static str {
    match field {
        DateTimeField::Millennium => "millennium",
        DateTimeField::Century => "century",
        DateTimeField::Decade => "decade",
        DateTimeField::Year => "year",
        DateTimeField::Quarter => "quarter",
        DateTimeField::Month => "month",
        DateTimeField::Week => "week",
        DateTimeField::Day => "day",
        DateTimeField::DayOfWeek => "dow",
        DateTimeField::IsoDayOfWeek => "isodow",
        DateTimeField::DayOfYear => "doy",
        DateTimeField::Hour => "hour",
        DateTimeField::Minute => "minute",
        DateTimeField::Second => "second",
        DateTimeField::Milliseconds => "milliseconds",
        DateTimeField::Microseconds => "microseconds",
        DateTimeField::Epoch => "epoch",
    }
}

fn not_supported(field: DateTimeField, type_name: &str) -> EvalError {
    EvalError::InvalidParameter(format!(
        "unit \"{}\" not supported for type {type_name}",
        field_name(field)
    ))
}

/// ISO 8601 week number and ISO year of a day.
pub(super) fn iso_week(days: i64) -> (i64, i64) {
    let iso_weekday = (days + 3).rem_euclid(7) + 1; // Monday = 1
    // The Thursday of this week decides the ISO year.
    let thursday = days - iso_weekday + 4;
    let (iso_year, _, _) = civil_from_days(thursday);
    let first_day = days_from_civil(iso_year, 1, 1);
    ((thursday - first_day) / 7 + 1, iso_year)
}

/// Date fields shared by dates and timestamps.
fn calendar_field(field: DateTimeField, f: &Fields, days: i64) -> Option<i64> {
    let year = f.year;
    Some(match field {
        DateTimeField::Millennium => {
            if year > 0 {
                (year + 999) / 1000
            } else {
                -((999 - (year - 1)) / 1000)
            }
        }
        DateTimeField::Century => {
            if year > 0 {
                (year + 99) / 100
            } else {
                -((99 - (year - 1)) / 100)
            }
        }
        DateTimeField::Decade => {
            if year >= 0 {
                year / 10
            } else {
                -((8 - (year - 1)) / 10)
            }
        }
        DateTimeField::Year => {
            if year > 0 {
                year
            } else {
                year - 1
            }
        }
        DateTimeField::Quarter => (f.month - 1) / 3 + 1,
        DateTimeField::Month => f.month,
        DateTimeField::Day => f.day,
        DateTimeField::Week => iso_week(days).0,
        DateTimeField::DayOfWeek => (days + 4).rem_euclid(7),
        DateTimeField::IsoDayOfWeek => (days + 3).rem_euclid(7) + 1,
        DateTimeField::DayOfYear => days - days_from_civil(year, 1, 1) + 1,
        _ => return None,
    })
}

/// Time-of-day fields as numerics (seconds keep 6 decimals, milliseconds 3).
fn time_field(field: DateTimeField, f: &Fields) -> Option<Decimal> {
    Some(match field {
        DateTimeField::Hour => Decimal::from(f.hour),
        DateTimeField::Minute => Decimal::from(f.minute),
        DateTimeField::Second => Decimal::new(f.second_micros, 6),
        DateTimeField::Milliseconds => Decimal::new(f.second_micros, 3),
        DateTimeField::Microseconds => Decimal::from(f.second_micros),
        _ => return None,
    })
}

/// `extract(field FROM x)` → numeric, Postgres 14+ semantics.
pub(super) fn extract(field: DateTimeField, value: &Datum) -> Result<Datum, EvalError> {
    extract_decimal(field, value).map(Datum::Decimal)
}

fn extract_decimal(field: DateTimeField, value: &Datum) -> Result<Decimal, EvalError> {
    match value {
        Datum::Timestamp(ts) | Datum::TimestampTz(ts) => {
            if is_infinite(*ts) {
                return Err(EvalError::FeatureNotSupported(
                    "extract from an infinite timestamp is not supported".to_string(),
                ));
            }
            let f = timestamp_fields(*ts);
            if field == DateTimeField::Epoch {
                return Ok(Decimal::new(*ts, 6));
            }
            let days = f.epoch_days.unwrap_or_default();
            if let Some(v) = calendar_field(field, &f, days) {
                return Ok(Decimal::from(v));
            }
            time_field(field, &f).ok_or_else(|| not_supported(field, "timestamp"))
        }
        Datum::Date(d) => {
            if *d == i32::MAX || *d == i32::MIN {
                return Err(EvalError::FeatureNotSupported(
                    "extract from an infinite date is not supported".to_string(),
                ));
            }
            let days = i64::from(*d);
            if field == DateTimeField::Epoch {
                return Ok(Decimal::from(days * 86_400));
            }
            let (year, month, day) = civil_from_days(days);
            let f = Fields {
                year,
                month: i64::from(month),
                day: i64::from(day),
                hour: 0,
                minute: 0,
                second_micros: 0,
                epoch_days: Some(days),
            };
            calendar_field(field, &f, days)
                .map(Decimal::from)
                .ok_or_else(|| not_supported(field, "date"))
        }
        Datum::Time(t) => {
            if field == DateTimeField::Epoch {
                return Ok(Decimal::new(*t, 6));
            }
            let f = timestamp_fields(*t);
            time_field(field, &f).ok_or_else(|| not_supported(field, "time without time zone"))
        }
        Datum::Interval(iv) => {
            let f = interval_fields(iv);
            if field == DateTimeField::Epoch {
                let months = i64::from(iv.months);
                // A year counts 365.25 days, a month 30 (in quarter days to stay exact).
                let seconds =
                    (1461 * (months / 12) + 120 * (months % 12) + 4 * i64::from(iv.days)) * 21_600;
                let micros = i128::from(seconds) * 1_000_000 + i128::from(iv.micros);
                return Decimal::try_from_i128_with_scale(micros, 6)
                    .map_err(|_| EvalError::NumericFieldOverflow);
            }
            let value = match field {
                DateTimeField::Millennium => f.year / 1000,
                DateTimeField::Century => f.year / 100,
                DateTimeField::Decade => f.year / 10,
                DateTimeField::Year => f.year,
                DateTimeField::Quarter => f.month / 3 + 1,
                DateTimeField::Month => f.month,
                DateTimeField::Day => f.day,
                _ => {
                    return time_field(field, &f).ok_or_else(|| not_supported(field, "interval"));
                }
            };
            Ok(Decimal::from(value))
        }
        other => Err(EvalError::Other(format!(
            "cannot extract {} from {}",
            field_name(field),
            crate::cast::datum_type_name(other)
        ))),
    }
}

/// Flink's `HOUR(x)`, `YEAR(x)`, ... (`EXTRACT` returning bigint): the field rounded
/// down to a whole number (`SECOND` drops the fraction).
pub(super) fn extract_bigint(field: DateTimeField, value: &Datum) -> Result<Datum, EvalError> {
    use rust_decimal::prelude::ToPrimitive;
    extract_decimal(field, value)?
        .floor()
        .to_i64()
        .map(Datum::Int64)
        .ok_or_else(|| EvalError::OutOfRange("bigint".to_string()))
}

/// `date_part('field', x)` → double precision.
///
/// Postgres computes the fractional fields in floating point (not via numeric), so
/// they are computed the same way here to round identically.
pub(super) fn date_part(field: DateTimeField, value: &Datum) -> Result<Datum, EvalError> {
    let seconds_fields = |micros_in_minute: i64| {
        let (seconds, fraction) = (micros_in_minute / 1_000_000, micros_in_minute % 1_000_000);
        match field {
            DateTimeField::Second => Some(seconds as f64 + fraction as f64 / 1_000_000.0),
            DateTimeField::Milliseconds => Some(seconds as f64 * 1000.0 + fraction as f64 / 1000.0),
            _ => None,
        }
    };
    let float = match value {
        Datum::Timestamp(ts) | Datum::TimestampTz(ts) if !is_infinite(*ts) => match field {
            DateTimeField::Epoch => Some(*ts as f64 / 1_000_000.0),
            _ => seconds_fields(ts.rem_euclid(MICROS_PER_MINUTE)),
        },
        Datum::Time(t) => match field {
            DateTimeField::Epoch => Some(*t as f64 / 1_000_000.0),
            _ => seconds_fields(t % MICROS_PER_MINUTE),
        },
        Datum::Interval(iv) => match field {
            DateTimeField::Epoch => Some(
                iv.micros as f64 / 1_000_000.0
                    + (365.25 * 86_400.0) * f64::from(iv.months / 12)
                    + (30.0 * 86_400.0) * f64::from(iv.months % 12)
                    + 86_400.0 * f64::from(iv.days),
            ),
            _ => seconds_fields(iv.micros % MICROS_PER_MINUTE),
        },
        _ => None,
    };
    match float {
        Some(f) => Ok(Datum::float64(f)),
        None => {
            let d = extract_decimal(field, value)?;
            Ok(Datum::float64(crate::cast::decimal_to_f64(&d)))
        }
    }
}

/// A `date_trunc` unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TruncUnit {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
}

fn trunc_unit(unit: &str) -> Option<TruncUnit> {
    use TruncUnit::*;
    Some(match unit.trim().to_ascii_lowercase().as_str() {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => Microseconds,
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => Milliseconds,
        "second" | "seconds" | "s" | "sec" | "secs" => Second,
        "minute" | "minutes" | "m" | "min" | "mins" => Minute,
        "hour" | "hours" | "h" | "hr" | "hrs" => Hour,
        "day" | "days" | "d" => Day,
        "week" | "weeks" | "w" => Week,
        "month" | "months" | "mon" | "mons" => Month,
        "quarter" | "qtr" => Quarter,
        "year" | "years" | "y" | "yr" | "yrs" => Year,
        "decade" | "decades" | "dec" | "decs" => Decade,
        "century" | "centuries" | "c" | "cent" => Century,
        "millennium" | "millennia" | "mil" | "mils" => Millennium,
        _ => return None,
    })
}

/// `date_trunc('unit', x)` for timestamps, timestamptz (UTC), dates (as timestamps) and
/// intervals.
pub(super) fn date_trunc(unit_text: &str, value: &Datum) -> Result<Datum, EvalError> {
    let type_name = match value {
        Datum::Interval(_) => "interval",
        Datum::TimestampTz(_) => "timestamp with time zone",
        _ => "timestamp without time zone",
    };
    let unit = trunc_unit(unit_text).ok_or_else(|| {
        EvalError::InvalidParameter(format!(
            "unit \"{}\" not recognized for type {type_name}",
            unit_text.to_ascii_lowercase()
        ))
    })?;
    match value {
        Datum::Timestamp(ts) => truncate_timestamp(unit, *ts).map(Datum::Timestamp),
        Datum::TimestampTz(ts) => truncate_timestamp(unit, *ts).map(Datum::TimestampTz),
        Datum::Date(d) => truncate_timestamp(unit, date_to_timestamp(*d)?).map(Datum::Timestamp),
        Datum::Interval(iv) => truncate_interval(unit, unit_text, iv).map(Datum::Interval),
        other => Err(EvalError::Other(format!(
            "date_trunc is not supported for {}",
            crate::cast::datum_type_name(other)
        ))),
    }
}

fn truncate_timestamp(unit: TruncUnit, ts: i64) -> Result<i64, EvalError> {
    if is_infinite(ts) {
        return Ok(ts);
    }
    let (days, time) = split_timestamp(ts);
    let (year, month, _) = civil_from_days(days);
    let at_day = |d: i64| d * MICROS_PER_DAY;
    let year_start = |y: i64| at_day(days_from_civil(y, 1, 1));
    Ok(match unit {
        TruncUnit::Microseconds => ts,
        TruncUnit::Milliseconds => at_day(days) + time - time % 1000,
        TruncUnit::Second => at_day(days) + time - time % MICROS_PER_SECOND,
        TruncUnit::Minute => at_day(days) + time - time % MICROS_PER_MINUTE,
        TruncUnit::Hour => at_day(days) + time - time % MICROS_PER_HOUR,
        TruncUnit::Day => at_day(days),
        TruncUnit::Week => at_day(days - (days + 3).rem_euclid(7)),
        TruncUnit::Month => at_day(days_from_civil(year, month, 1)),
        TruncUnit::Quarter => at_day(days_from_civil(year, (month - 1) / 3 * 3 + 1, 1)),
        TruncUnit::Year => year_start(year),
        TruncUnit::Decade => year_start(if year > 0 {
            year / 10 * 10
        } else {
            -((8 - (year - 1)) / 10) * 10
        }),
        TruncUnit::Century => year_start(if year > 0 {
            (year + 99) / 100 * 100 - 99
        } else {
            -((99 - (year - 1)) / 100) * 100 + 1
        }),
        TruncUnit::Millennium => year_start(if year > 0 {
            (year + 999) / 1000 * 1000 - 999
        } else {
            -((999 - (year - 1)) / 1000) * 1000 + 1
        }),
    })
}

fn truncate_interval(
    unit: TruncUnit,
    unit_text: &str,
    iv: &Interval,
) -> Result<Interval, EvalError> {
    let years = iv.months / 12;
    let months = iv.months % 12;
    let micros = iv.micros;
    let keep_years = |step: i32| Interval::new(years / step * step * 12, 0, 0);
    Ok(match unit {
        TruncUnit::Millennium => keep_years(1000),
        TruncUnit::Century => keep_years(100),
        TruncUnit::Decade => keep_years(10),
        TruncUnit::Year => keep_years(1),
        TruncUnit::Quarter => Interval::new(years * 12 + months / 3 * 3, 0, 0),
        TruncUnit::Month => Interval::new(iv.months, 0, 0),
        TruncUnit::Week => {
            return Err(EvalError::InvalidParameter(format!(
                "unit \"{}\" not supported for type interval",
                unit_text.to_ascii_lowercase()
            )));
        }
        TruncUnit::Day => Interval::new(iv.months, iv.days, 0),
        TruncUnit::Hour => Interval::new(iv.months, iv.days, micros - micros % MICROS_PER_HOUR),
        TruncUnit::Minute => Interval::new(iv.months, iv.days, micros - micros % MICROS_PER_MINUTE),
        TruncUnit::Second => Interval::new(iv.months, iv.days, micros - micros % MICROS_PER_SECOND),
        TruncUnit::Milliseconds => Interval::new(iv.months, iv.days, micros - micros % 1000),
        TruncUnit::Microseconds => *iv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarType;
    use crate::strconv::{format_datum, parse_datum};

    fn ts(text: &str) -> Datum {
        parse_datum(text, &ScalarType::Timestamp).unwrap()
    }

    fn iv(text: &str) -> Datum {
        parse_datum(text, &ScalarType::Interval).unwrap()
    }

    fn date(text: &str) -> Datum {
        parse_datum(text, &ScalarType::Date).unwrap()
    }

    fn call(func: Func, args: &[Datum]) -> String {
        format_datum(&func.apply(args).unwrap())
    }

    #[test]
    fn date_time_arithmetic_matches_postgres() {
        assert_eq!(
            call(Func::Add, &[ts("2024-01-31"), iv("1 month")]),
            "2024-02-29 00:00:00"
        );
        assert_eq!(
            call(Func::Sub, &[ts("2024-03-31"), iv("1 month")]),
            "2024-02-29 00:00:00"
        );
        assert_eq!(
            call(Func::Add, &[date("2024-01-31"), iv("1 month 1 day")]),
            "2024-03-01 00:00:00"
        );
        assert_eq!(
            call(Func::Sub, &[ts("2024-01-02 03:00"), ts("2024-01-01")]),
            "1 day 03:00:00"
        );
        assert_eq!(
            call(Func::Sub, &[ts("2024-01-01"), ts("2024-01-02 03:00")]),
            "-1 days -03:00:00"
        );
        assert_eq!(
            call(Func::Sub, &[date("2024-03-01"), date("2024-02-01")]),
            "29"
        );
        assert_eq!(
            call(Func::Add, &[date("2024-02-28"), Datum::Int32(2)]),
            "2024-03-01"
        );
        assert_eq!(
            call(Func::Sub, &[date("2024-03-01"), Datum::Int32(1)]),
            "2024-02-29"
        );
        let time = |s: &str| parse_datum(s, &ScalarType::Time).unwrap();
        assert_eq!(
            call(Func::Add, &[date("2024-01-01"), time("03:04")]),
            "2024-01-01 03:04:00"
        );
        assert_eq!(call(Func::Add, &[time("23:00"), iv("2 hours")]), "01:00:00");
        assert_eq!(call(Func::Sub, &[time("01:00"), iv("2 hours")]), "23:00:00");
        assert_eq!(call(Func::Sub, &[time("03:00"), time("01:30")]), "01:30:00");
        assert_eq!(
            call(Func::Mul, &[iv("1 day"), Datum::float64(1.5)]),
            "1 day 12:00:00"
        );
        assert_eq!(
            call(Func::Div, &[iv("1 month"), Datum::float64(3.0)]),
            "10 days"
        );
        assert_eq!(
            call(Func::Mul, &[iv("1 mon 1 day"), Datum::float64(0.7)]),
            "21 days 16:48:00"
        );
        assert_eq!(
            call(Func::Div, &[iv("1 year"), Datum::float64(7.0)]),
            "1 mon 21 days 10:17:08.5344"
        );
        assert_eq!(call(Func::Neg, &[iv("1 day 02:00")]), "-1 days -02:00:00");
        assert_eq!(
            call(Func::Add, &[iv("1 day"), iv("-2 hours")]),
            "1 day -02:00:00"
        );
        assert_eq!(
            Func::Div
                .apply(&[iv("1 day"), Datum::float64(0.0)])
                .unwrap_err(),
            EvalError::DivisionByZero
        );
        let tz = parse_datum("2024-01-31 00:00+00", &ScalarType::TimestampTz).unwrap();
        assert_eq!(
            call(Func::Add, &[tz, iv("1 month")]),
            "2024-02-29 00:00:00+00"
        );
        assert_eq!(
            Func::Add
                .apply(&[ts("294246-12-31"), iv("1 day")])
                .unwrap_err()
                .to_string(),
            "timestamp out of range"
        );
    }

    #[test]
    fn flink_extract_shorthands_return_bigint() {
        let x = |field, d: Datum| Func::ExtractBigint(field).apply(&[d]).unwrap();
        use DateTimeField::*;
        assert_eq!(x(Hour, ts("2024-01-02 03:04:05.9")), Datum::Int64(3));
        assert_eq!(x(Minute, ts("2024-01-02 03:04:05.9")), Datum::Int64(4));
        assert_eq!(x(Second, ts("2024-01-02 03:04:05.9")), Datum::Int64(5));
        assert_eq!(x(Second, ts("1969-12-31 23:59:59.5")), Datum::Int64(59));
        assert_eq!(x(Year, date("2024-01-02")), Datum::Int64(2024));
        assert_eq!(x(Day, date("2024-01-02")), Datum::Int64(2));
        assert_eq!(x(Week, date("1994-09-27")), Datum::Int64(39));
        assert_eq!(
            Func::ExtractBigint(Hour).apply(&[Datum::Null]).unwrap(),
            Datum::Null
        );
        assert!(
            Func::ExtractBigint(Hour)
                .apply(&[date("2024-01-01")])
                .is_err()
        );
    }

    #[test]
    fn extract_matches_postgres() {
        let x = |field, d: Datum| call(Func::Extract(field), &[d]);
        use DateTimeField::*;
        assert_eq!(x(Second, ts("2024-01-02 03:04:05")), "5.000000");
        assert_eq!(x(Epoch, ts("2024-01-02 03:04:05.5")), "1704164645.500000");
        assert_eq!(x(Milliseconds, ts("2024-01-02 03:04:05.5")), "5500.000");
        assert_eq!(x(Microseconds, ts("2024-01-02 03:04:05.5")), "5500000");
        assert_eq!(x(Epoch, date("2024-01-02")), "1704153600");
        assert_eq!(x(Year, date("2024-01-02")), "2024");
        assert_eq!(
            x(Epoch, iv("1 year 1 month 1 day 1 second")),
            "34236001.000000"
        );
        assert_eq!(x(Second, iv("1 min 5.5 sec")), "5.500000");
        assert_eq!(
            x(Epoch, parse_datum("01:00:01.5", &ScalarType::Time).unwrap()),
            "3601.500000"
        );
        assert_eq!(x(Quarter, iv("5 months")), "2");
        assert_eq!(x(Year, ts("0001-06-01 BC")), "-1");
        assert_eq!(x(Century, ts("0001-06-01 BC")), "-1");
        assert_eq!(x(Decade, ts("0001-06-01 BC")), "0");
        assert_eq!(x(Millennium, ts("2001-01-01")), "3");
        assert_eq!(x(Week, date("2024-12-30")), "1");
        assert_eq!(x(DayOfWeek, date("2024-01-07")), "0");
        assert_eq!(x(IsoDayOfWeek, date("2024-01-07")), "7");
        assert_eq!(x(DayOfYear, date("2024-02-01")), "32");
        assert_eq!(x(Hour, iv("-25 hours")), "-25");
        assert_eq!(
            call(Func::DatePart(Second), &[ts("2024-01-02 03:04:05.5")]),
            "5.5"
        );
        assert_eq!(
            call(Func::DatePart(Epoch), &[ts("2024-01-02 03:04:05.5")]),
            "1704164645.5"
        );
        assert_eq!(
            Func::Extract(Hour)
                .apply(&[date("2024-01-01")])
                .unwrap_err()
                .to_string(),
            "unit \"hour\" not supported for type date"
        );
        assert_eq!(
            Func::Extract(Week)
                .apply(&[iv("1 day")])
                .unwrap_err()
                .to_string(),
            "unit \"week\" not supported for type interval"
        );
    }

    #[test]
    fn date_trunc_matches_postgres() {
        let t = |unit: &str, d: Datum| call(Func::DateTrunc, &[Datum::text(unit), d]);
        assert_eq!(t("week", ts("2024-01-03 05:00")), "2024-01-01 00:00:00");
        assert_eq!(t("quarter", ts("2024-05-03")), "2024-04-01 00:00:00");
        assert_eq!(t("decade", ts("2024-05-03")), "2020-01-01 00:00:00");
        assert_eq!(t("century", ts("2024-05-03")), "2001-01-01 00:00:00");
        assert_eq!(t("millennium", ts("2024-05-03")), "2001-01-01 00:00:00");
        assert_eq!(
            t("hour", iv("1 year 2 mons 3 days 04:05:06")),
            "1 year 2 mons 3 days 04:00:00"
        );
        assert_eq!(t("quarter", iv("1 year 5 mons 3 days")), "1 year 3 mons");
        assert_eq!(
            t("milliseconds", ts("2024-01-02 03:04:05.123456")),
            "2024-01-02 03:04:05.123"
        );
        assert_eq!(t("HOURS", ts("2024-01-02 03:04:05")), "2024-01-02 03:00:00");
        assert_eq!(t("day", ts("1969-12-31 23:00")), "1969-12-31 00:00:00");
        assert_eq!(
            Func::DateTrunc
                .apply(&[Datum::text("foo"), ts("2024-01-01")])
                .unwrap_err()
                .to_string(),
            "unit \"foo\" not recognized for type timestamp without time zone"
        );
        assert!(
            Func::DateTrunc
                .apply(&[Datum::text("week"), iv("1 day")])
                .is_err()
        );
    }
}
