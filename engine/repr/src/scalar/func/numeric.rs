//! Arithmetic and math functions: integers with overflow checks, floats with Postgres'
//! overflow/underflow errors, numerics exact with Postgres' result scales. Mixed
//! date/time forms of `+`, `-`, `*`, `/` are forwarded to [`super::datetime`].

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy};

use super::{datetime, unsupported};
use crate::cast::decimal_to_f64;
use crate::strconv::decimal_with_scale;
use crate::{Datum, EvalError, Func};

/// Postgres' minimum significant digits of inexact numeric results.
const MIN_SIG_DIGITS: i32 = 16;

pub(super) fn apply(func: &Func, args: &[Datum]) -> Result<Datum, EvalError> {
    match (func, args) {
        (Func::Neg, [a]) => negate(func, a),
        (Func::Abs, [a]) => abs(func, a),
        (Func::Add | Func::Sub | Func::Mul | Func::Div | Func::Mod, [a, b]) => {
            if is_temporal(a) || is_temporal(b) {
                return datetime::arithmetic(func, a, b);
            }
            binary(func, a, b)
        }
        (Func::Power, [a, b]) => power(func, a, b),
        (Func::Sqrt, [a]) => sqrt(func, a),
        (Func::Ln, [a]) => logarithm(func, a, false),
        (Func::Log10, [a]) => logarithm(func, a, true),
        (Func::Exp, [a]) => exp(func, a),
        (Func::Sign, [a]) => sign(func, a),
        (Func::Floor, [a]) => {
            round_with(func, a, 0, RoundingStrategy::ToNegativeInfinity, f64::floor)
        }
        (Func::Ceil, [a]) => {
            round_with(func, a, 0, RoundingStrategy::ToPositiveInfinity, f64::ceil)
        }
        (Func::Round, [a]) => round_with(
            func,
            a,
            0,
            RoundingStrategy::MidpointAwayFromZero,
            f64::round_ties_even,
        ),
        (Func::Trunc, [a]) => round_with(func, a, 0, RoundingStrategy::ToZero, f64::trunc),
        (Func::Round | Func::Trunc, [a, digits]) => {
            let digits = digits.as_i64().ok_or_else(|| unsupported(func, args))?;
            let strategy = if matches!(func, Func::Round) {
                RoundingStrategy::MidpointAwayFromZero
            } else {
                RoundingStrategy::ToZero
            };
            match a {
                Datum::Decimal(d) => round_decimal_digits(*d, digits, strategy).map(Datum::Decimal),
                _ => Err(unsupported(func, args)),
            }
        }
        _ => Err(unsupported(func, args)),
    }
}

fn is_temporal(d: &Datum) -> bool {
    matches!(
        d,
        Datum::Date(_)
            | Datum::Time(_)
            | Datum::Timestamp(_)
            | Datum::TimestampTz(_)
            | Datum::Interval(_)
    )
}

fn overflow(type_name: &str) -> EvalError {
    EvalError::OutOfRange(type_name.to_string())
}

fn float_overflow() -> EvalError {
    EvalError::NumericValueOutOfRange("value out of range: overflow".to_string())
}

fn float_underflow() -> EvalError {
    EvalError::NumericValueOutOfRange("value out of range: underflow".to_string())
}

/// Any numeric datum as a `Decimal` (floats via their 15-digit text).
pub(super) fn to_decimal(d: &Datum) -> Result<Decimal, EvalError> {
    match d {
        Datum::Decimal(v) => Ok(*v),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            Ok(Decimal::from(d.as_i64().unwrap_or_default()))
        }
        Datum::Float32(f) => crate::cast::float_to_decimal(f64::from(f.0), 6),
        Datum::Float64(f) => crate::cast::float_to_decimal(f.0, 15),
        other => Err(EvalError::Other(format!(
            "cannot convert {} to numeric",
            crate::cast::datum_type_name(other)
        ))),
    }
}

/// Any numeric datum as an `f64`.
pub(super) fn to_f64(d: &Datum) -> Result<f64, EvalError> {
    match d {
        Datum::Float64(f) => Ok(f.0),
        Datum::Float32(f) => Ok(f64::from(f.0)),
        Datum::Decimal(v) => Ok(decimal_to_f64(v)),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => {
            Ok(d.as_i64().unwrap_or_default() as f64)
        }
        other => Err(EvalError::Other(format!(
            "cannot convert {} to double precision",
            crate::cast::datum_type_name(other)
        ))),
    }
}

fn negate(func: &Func, a: &Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Int16(v) => v
            .checked_neg()
            .map(Datum::Int16)
            .ok_or_else(|| overflow("smallint")),
        Datum::Int32(v) => v
            .checked_neg()
            .map(Datum::Int32)
            .ok_or_else(|| overflow("integer")),
        Datum::Int64(v) => v
            .checked_neg()
            .map(Datum::Int64)
            .ok_or_else(|| overflow("bigint")),
        Datum::Float32(v) => Ok(Datum::float32(-v.0)),
        Datum::Float64(v) => Ok(Datum::float64(-v.0)),
        Datum::Decimal(v) => Ok(Datum::Decimal(-*v)),
        Datum::Interval(iv) => datetime::negate_interval(iv).map(Datum::Interval),
        _ => Err(unsupported(func, std::slice::from_ref(a))),
    }
}

fn abs(func: &Func, a: &Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Int16(v) => v
            .checked_abs()
            .map(Datum::Int16)
            .ok_or_else(|| overflow("smallint")),
        Datum::Int32(v) => v
            .checked_abs()
            .map(Datum::Int32)
            .ok_or_else(|| overflow("integer")),
        Datum::Int64(v) => v
            .checked_abs()
            .map(Datum::Int64)
            .ok_or_else(|| overflow("bigint")),
        Datum::Float32(v) => Ok(Datum::float32(v.0.abs())),
        Datum::Float64(v) => Ok(Datum::float64(v.0.abs())),
        Datum::Decimal(v) => Ok(Datum::Decimal(v.abs())),
        _ => Err(unsupported(func, std::slice::from_ref(a))),
    }
}

macro_rules! int_binary {
    ($func:expr, $a:expr, $b:expr, $variant:path, $name:expr) => {{
        let (a, b) = ($a, $b);
        let result = match $func {
            Func::Add => a.checked_add(b),
            Func::Sub => a.checked_sub(b),
            Func::Mul => a.checked_mul(b),
            Func::Div => {
                if b == 0 {
                    return Err(EvalError::DivisionByZero);
                }
                a.checked_div(b)
            }
            _ => {
                if b == 0 {
                    return Err(EvalError::DivisionByZero);
                }
                // `MIN % -1` is 0 in Postgres, not an overflow.
                Some(a.checked_rem(b).unwrap_or(0))
            }
        };
        result.map($variant).ok_or_else(|| overflow($name))
    }};
}

fn binary(func: &Func, a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    match (a, b) {
        (Datum::Int16(x), Datum::Int16(y)) => int_binary!(func, *x, *y, Datum::Int16, "smallint"),
        (Datum::Int32(x), Datum::Int32(y)) => int_binary!(func, *x, *y, Datum::Int32, "integer"),
        (Datum::Int64(x), Datum::Int64(y)) => int_binary!(func, *x, *y, Datum::Int64, "bigint"),
        (Datum::Float64(x), Datum::Float64(y)) => float_binary(func, x.0, y.0).map(Datum::float64),
        (Datum::Float32(x), Datum::Float32(y)) => {
            float32_binary(func, x.0, y.0).map(Datum::float32)
        }
        (Datum::Decimal(x), Datum::Decimal(y)) => decimal_binary(func, *x, *y).map(Datum::Decimal),
        // Defensive promotion when the planner left integer widths mixed.
        (
            Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_),
            Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_),
        ) => {
            let (x, y) = (
                a.as_i64().unwrap_or_default(),
                b.as_i64().unwrap_or_default(),
            );
            int_binary!(func, x, y, Datum::Int64, "bigint")
        }
        (Datum::Decimal(_), _) | (_, Datum::Decimal(_))
            if !matches!(a, Datum::Float32(_) | Datum::Float64(_))
                && !matches!(b, Datum::Float32(_) | Datum::Float64(_)) =>
        {
            decimal_binary(func, to_decimal(a)?, to_decimal(b)?).map(Datum::Decimal)
        }
        _ => {
            let numeric = |d: &Datum| {
                matches!(
                    d,
                    Datum::Int16(_)
                        | Datum::Int32(_)
                        | Datum::Int64(_)
                        | Datum::Decimal(_)
                        | Datum::Float32(_)
                        | Datum::Float64(_)
                )
            };
            if numeric(a) && numeric(b) {
                float_binary(func, to_f64(a)?, to_f64(b)?).map(Datum::float64)
            } else {
                Err(unsupported(func, &[a.clone(), b.clone()]))
            }
        }
    }
}

/// The float types' arithmetic, for [`float_arith`].
trait Float:
    Copy
    + PartialEq
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Rem<Output = Self>
{
    const ZERO: Self;
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
}

impl Float for f64 {
    const ZERO: f64 = 0.0;
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn is_infinite(self) -> bool {
        f64::is_infinite(self)
    }
}

impl Float for f32 {
    const ZERO: f32 = 0.0;
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn is_infinite(self) -> bool {
        f32::is_infinite(self)
    }
}

/// Float arithmetic with Postgres' checks: an infinite result from finite inputs is an
/// overflow, a zero product/quotient from non-zero inputs an underflow.
fn float_arith<F: Float>(func: &Func, x: F, y: F) -> Result<F, EvalError> {
    let result = match func {
        Func::Add => x + y,
        Func::Sub => x - y,
        Func::Mul => x * y,
        Func::Div => {
            if y == F::ZERO && !x.is_nan() {
                return Err(EvalError::DivisionByZero);
            }
            x / y
        }
        _ => {
            if y == F::ZERO {
                return Err(EvalError::DivisionByZero);
            }
            x % y
        }
    };
    if result.is_infinite() && !x.is_infinite() && !y.is_infinite() {
        return Err(float_overflow());
    }
    let zero_from_nonzero = match func {
        Func::Mul => x != F::ZERO && y != F::ZERO,
        Func::Div => x != F::ZERO && !y.is_infinite(),
        _ => false,
    };
    if result == F::ZERO && zero_from_nonzero {
        return Err(float_underflow());
    }
    Ok(result)
}

fn float_binary(func: &Func, x: f64, y: f64) -> Result<f64, EvalError> {
    float_arith(func, x, y)
}

fn float32_binary(func: &Func, x: f32, y: f32) -> Result<f32, EvalError> {
    float_arith(func, x, y)
}

/// The weight (position of the first non-zero base-10000 digit, 0 for the units group)
/// and that digit of `value`, as Postgres' numeric representation has them.
fn base10000_weight(value: &Decimal) -> (i32, u32) {
    if value.is_zero() {
        return (0, 0);
    }
    let scale = value.scale();
    let pad = (4 - scale % 4) % 4;
    let mut mantissa = value.mantissa().unsigned_abs() * 10u128.pow(pad);
    let fraction_groups = ((scale + pad) / 4) as i32;
    let mut groups = 0i32;
    while mantissa >= 10_000 {
        mantissa /= 10_000;
        groups += 1;
    }
    (groups - fraction_groups, mantissa as u32)
}

/// Postgres' result scale for `x / y` (`select_div_scale`): at least 16 significant
/// digits, and no less than either input's scale.
fn division_scale(x: &Decimal, y: &Decimal) -> u32 {
    let (weight1, first1) = base10000_weight(x);
    let (weight2, first2) = base10000_weight(y);
    let mut quotient_weight = weight1 - weight2;
    if first1 <= first2 {
        quotient_weight -= 1;
    }
    let scale = (MIN_SIG_DIGITS - quotient_weight * 4)
        .max(x.scale() as i32)
        .max(y.scale() as i32)
        .clamp(0, 1000);
    scale as u32
}

fn decimal_binary(func: &Func, x: Decimal, y: Decimal) -> Result<Decimal, EvalError> {
    // Sums keep the larger scale and products the sum of scales, also when the 96-bit
    // arithmetic normalized them away (`0 * 7352.8` is `0.0`).
    let keep_scale = |result: Decimal, scale: u32| {
        if result.scale() < scale {
            decimal_with_scale(result, scale)
        } else {
            result
        }
    };
    let result = match func {
        Func::Add => x
            .checked_add(y)
            .map(|r| keep_scale(r, x.scale().max(y.scale()))),
        Func::Sub => x
            .checked_sub(y)
            .map(|r| keep_scale(r, x.scale().max(y.scale()))),
        Func::Mul => x
            .checked_mul(y)
            .map(|r| keep_scale(r, x.scale() + y.scale())),
        Func::Div => {
            if y.is_zero() {
                return Err(EvalError::DivisionByZero);
            }
            let scale = division_scale(&x, &y);
            x.checked_div(y).map(|q| decimal_with_scale(q, scale))
        }
        _ => {
            if y.is_zero() {
                return Err(EvalError::DivisionByZero);
            }
            let scale = x.scale().max(y.scale());
            x.checked_rem(y).map(|r| decimal_with_scale(r, scale))
        }
    };
    result.ok_or(EvalError::NumericFieldOverflow)
}

fn power(func: &Func, a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    match (a, b) {
        (Datum::Decimal(x), Datum::Decimal(y)) => decimal_power(*x, *y).map(Datum::Decimal),
        (Datum::Float64(_) | Datum::Float32(_), _) | (_, Datum::Float64(_) | Datum::Float32(_)) => {
            float_power(to_f64(a)?, to_f64(b)?).map(Datum::float64)
        }
        (
            Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) | Datum::Decimal(_),
            Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) | Datum::Decimal(_),
        ) => decimal_power(to_decimal(a)?, to_decimal(b)?).map(Datum::Decimal),
        _ => Err(unsupported(func, &[a.clone(), b.clone()])),
    }
}

fn zero_to_negative() -> EvalError {
    EvalError::InvalidArgumentForPower("zero raised to a negative power is undefined".to_string())
}

fn complex_result() -> EvalError {
    EvalError::InvalidArgumentForPower(
        "a negative number raised to a non-integer power yields a complex result".to_string(),
    )
}

fn float_power(x: f64, y: f64) -> Result<f64, EvalError> {
    if x.is_nan() {
        return Ok(if y == 0.0 { 1.0 } else { f64::NAN });
    }
    if y.is_nan() {
        return Ok(if x == 1.0 { 1.0 } else { f64::NAN });
    }
    if x == 0.0 && y < 0.0 {
        return Err(zero_to_negative());
    }
    if x < 0.0 && x.is_finite() && y.is_finite() && y.fract() != 0.0 {
        return Err(complex_result());
    }
    let result = x.powf(y);
    if result.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(float_overflow());
    }
    if result == 0.0 && x != 0.0 && x.is_finite() && y.is_finite() {
        return Err(float_underflow());
    }
    Ok(result)
}

fn decimal_power(x: Decimal, y: Decimal) -> Result<Decimal, EvalError> {
    if x.is_zero() && y.is_sign_negative() && !y.is_zero() {
        return Err(zero_to_negative());
    }
    if y.fract().is_zero()
        && let Some(exponent) = y.to_i64().filter(|e| i32::try_from(*e).is_ok())
    {
        let scale = (MIN_SIG_DIGITS as u32).max(x.scale());
        let result = if exponent >= 0 {
            x.checked_powi(exponent)
        } else {
            x.checked_powi(-exponent)
                .and_then(|p| Decimal::ONE.checked_div(p))
        };
        return result
            .map(|r| decimal_with_scale(r, scale))
            .ok_or(EvalError::NumericFieldOverflow);
    }
    if x.is_sign_negative() && !x.is_zero() {
        return Err(complex_result());
    }
    if x.is_zero() {
        return Ok(decimal_with_scale(
            Decimal::ZERO,
            (MIN_SIG_DIGITS as u32).max(x.scale()).max(y.scale()),
        ));
    }
    // Postgres picks the scale from the approximate decimal weight of the result.
    let weight = (decimal_to_f64(&x).ln() * decimal_to_f64(&y)) * std::f64::consts::LOG10_E;
    let scale = (MIN_SIG_DIGITS - weight.clamp(-2000.0, 2000.0) as i32)
        .max(x.scale() as i32)
        .max(y.scale() as i32)
        .clamp(0, 1000) as u32;
    x.checked_powd(y)
        .map(|r| decimal_with_scale(r, scale))
        .ok_or(EvalError::NumericFieldOverflow)
}

fn negative_sqrt() -> EvalError {
    EvalError::InvalidArgumentForPower("cannot take square root of a negative number".to_string())
}

fn sqrt(func: &Func, a: &Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Decimal(x) => {
            if x.is_sign_negative() && !x.is_zero() {
                return Err(negative_sqrt());
            }
            let (weight, _) = base10000_weight(x);
            let result_weight = (weight + 1) * 2 - 1;
            let scale = (MIN_SIG_DIGITS - result_weight)
                .max(x.scale() as i32)
                .clamp(0, 1000) as u32;
            x.sqrt()
                .map(|r| decimal_with_scale(r, scale))
                .map(Datum::Decimal)
                .ok_or_else(negative_sqrt)
        }
        Datum::Float32(_)
        | Datum::Float64(_)
        | Datum::Int16(_)
        | Datum::Int32(_)
        | Datum::Int64(_) => {
            let x = to_f64(a)?;
            if x < 0.0 {
                return Err(negative_sqrt());
            }
            Ok(Datum::float64(x.sqrt()))
        }
        _ => Err(unsupported(func, std::slice::from_ref(a))),
    }
}

/// Postgres' estimate of the decimal weight of `ln(x)` (`estimate_ln_dweight`).
fn ln_decimal_weight(x: &Decimal) -> i32 {
    let low = Decimal::new(9, 1);
    let high = Decimal::new(11, 1);
    if *x >= low && *x <= high {
        let delta = (*x - Decimal::ONE).abs();
        if delta.is_zero() {
            return 0;
        }
        return decimal_to_f64(&delta).log10().floor() as i32;
    }
    let ln = decimal_to_f64(x).ln();
    if ln == 0.0 || !ln.is_finite() {
        return 0;
    }
    ln.abs().log10() as i32
}

fn logarithm(func: &Func, a: &Datum, base10: bool) -> Result<Datum, EvalError> {
    let check = |zero: bool, negative: bool| {
        if zero {
            Err(EvalError::InvalidArgumentForLogarithm(
                "cannot take logarithm of zero".to_string(),
            ))
        } else if negative {
            Err(EvalError::InvalidArgumentForLogarithm(
                "cannot take logarithm of a negative number".to_string(),
            ))
        } else {
            Ok(())
        }
    };
    match a {
        Datum::Decimal(x) => {
            check(x.is_zero(), x.is_sign_negative())?;
            let weight = if base10 {
                ln_decimal_weight(x) - ln_decimal_weight(&Decimal::TEN)
            } else {
                ln_decimal_weight(x)
            };
            let scale = (MIN_SIG_DIGITS - weight)
                .max(x.scale() as i32)
                .clamp(0, 1000) as u32;
            let result = if base10 {
                x.checked_log10()
            } else {
                x.checked_ln()
            };
            result
                .map(|r| decimal_with_scale(r, scale))
                .map(Datum::Decimal)
                .ok_or(EvalError::NumericFieldOverflow)
        }
        Datum::Float32(_)
        | Datum::Float64(_)
        | Datum::Int16(_)
        | Datum::Int32(_)
        | Datum::Int64(_) => {
            let x = to_f64(a)?;
            check(x == 0.0, x < 0.0)?;
            Ok(Datum::float64(if base10 { x.log10() } else { x.ln() }))
        }
        _ => Err(unsupported(func, std::slice::from_ref(a))),
    }
}

fn exp(func: &Func, a: &Datum) -> Result<Datum, EvalError> {
    match a {
        Datum::Decimal(x) => {
            let weight = decimal_to_f64(x) * std::f64::consts::LOG10_E;
            let scale = (MIN_SIG_DIGITS - weight.clamp(-2000.0, 2000.0) as i32)
                .max(x.scale() as i32)
                .clamp(0, 1000) as u32;
            x.checked_exp()
                .map(|r| decimal_with_scale(r, scale))
                .map(Datum::Decimal)
                .ok_or(EvalError::NumericFieldOverflow)
        }
        Datum::Float32(_)
        | Datum::Float64(_)
        | Datum::Int16(_)
        | Datum::Int32(_)
        | Datum::Int64(_) => {
            let x = to_f64(a)?;
            let result = x.exp();
            if result.is_infinite() && x.is_finite() {
                return Err(float_overflow());
            }
            if result == 0.0 && x.is_finite() {
                return Err(float_underflow());
            }
            Ok(Datum::float64(result))
        }
        _ => Err(unsupported(func, std::slice::from_ref(a))),
    }
}

fn sign(func: &Func, a: &Datum) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Int16(v) => Datum::Int16(v.signum()),
        Datum::Int32(v) => Datum::Int32(v.signum()),
        Datum::Int64(v) => Datum::Int64(v.signum()),
        Datum::Float32(v) => Datum::float32(if v.0 == 0.0 || v.0.is_nan() {
            v.0
        } else {
            v.0.signum()
        }),
        Datum::Float64(v) => Datum::float64(if v.0 == 0.0 || v.0.is_nan() {
            v.0
        } else {
            v.0.signum()
        }),
        Datum::Decimal(v) => Datum::Decimal(if v.is_zero() {
            Decimal::ZERO
        } else if v.is_sign_negative() {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        }),
        _ => return Err(unsupported(func, std::slice::from_ref(a))),
    })
}

fn round_with(
    func: &Func,
    a: &Datum,
    digits: u32,
    strategy: RoundingStrategy,
    float: fn(f64) -> f64,
) -> Result<Datum, EvalError> {
    Ok(match a {
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => a.clone(),
        Datum::Float64(v) => Datum::float64(float(v.0)),
        Datum::Float32(v) => Datum::float32(float(f64::from(v.0)) as f32),
        Datum::Decimal(v) => Datum::Decimal(v.round_dp_with_strategy(digits, strategy)),
        _ => return Err(unsupported(func, std::slice::from_ref(a))),
    })
}

/// `round(numeric, digits)` / `trunc(numeric, digits)`: the result's scale is
/// `max(digits, 0)`; negative digits round to tens, hundreds, ...
fn round_decimal_digits(
    value: Decimal,
    digits: i64,
    strategy: RoundingStrategy,
) -> Result<Decimal, EvalError> {
    if digits >= 0 {
        let digits = digits.min(28) as u32;
        let rounded = value.round_dp_with_strategy(digits, strategy);
        return Ok(decimal_with_scale(rounded, digits));
    }
    let shift = digits.unsigned_abs();
    if shift > 28 {
        return Ok(Decimal::ZERO);
    }
    let factor = Decimal::from_i128_with_scale(10i128.pow(shift as u32), 0);
    let scaled = value
        .checked_div(factor)
        .ok_or(EvalError::NumericFieldOverflow)?
        .round_dp_with_strategy(0, strategy);
    scaled
        .checked_mul(factor)
        .map(|r| decimal_with_scale(r, 0))
        .ok_or(EvalError::NumericFieldOverflow)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::strconv::format_datum;

    fn dec(s: &str) -> Datum {
        Datum::Decimal(Decimal::from_str(s).unwrap())
    }

    fn call(func: Func, args: &[Datum]) -> Result<Datum, EvalError> {
        func.apply(args)
    }

    fn text(func: Func, args: &[Datum]) -> String {
        format_datum(&call(func, args).unwrap())
    }

    fn err(func: Func, args: &[Datum]) -> String {
        call(func, args).unwrap_err().to_string()
    }

    #[test]
    fn integer_overflow_and_division() {
        assert_eq!(
            err(Func::Add, &[Datum::Int32(i32::MAX), Datum::Int32(1)]),
            "integer out of range"
        );
        assert_eq!(
            err(Func::Mul, &[Datum::Int16(-32768), Datum::Int16(-1)]),
            "smallint out of range"
        );
        assert_eq!(
            err(Func::Sub, &[Datum::Int64(i64::MIN), Datum::Int64(1)]),
            "bigint out of range"
        );
        assert_eq!(
            err(Func::Neg, &[Datum::Int32(i32::MIN)]),
            "integer out of range"
        );
        assert_eq!(
            err(Func::Abs, &[Datum::Int64(i64::MIN)]),
            "bigint out of range"
        );
        assert_eq!(
            err(Func::Div, &[Datum::Int32(i32::MIN), Datum::Int32(-1)]),
            "integer out of range"
        );
        assert_eq!(
            err(Func::Div, &[Datum::Int32(1), Datum::Int32(0)]),
            "division by zero"
        );
        assert_eq!(
            err(Func::Mod, &[Datum::Int32(1), Datum::Int32(0)]),
            "division by zero"
        );
        assert_eq!(
            call(Func::Mod, &[Datum::Int32(i32::MIN), Datum::Int32(-1)]).unwrap(),
            Datum::Int32(0)
        );
        assert_eq!(
            call(Func::Div, &[Datum::Int32(-7), Datum::Int32(2)]).unwrap(),
            Datum::Int32(-3)
        );
        assert_eq!(
            call(Func::Mod, &[Datum::Int32(-7), Datum::Int32(2)]).unwrap(),
            Datum::Int32(-1)
        );
    }

    #[test]
    fn float_arithmetic_errors() {
        assert_eq!(
            err(Func::Div, &[Datum::float64(1.0), Datum::float64(0.0)]),
            "division by zero"
        );
        assert_eq!(
            err(Func::Mul, &[Datum::float64(1e300), Datum::float64(1e300)]),
            "value out of range: overflow"
        );
        assert_eq!(
            err(Func::Mul, &[Datum::float64(1e-300), Datum::float64(1e-300)]),
            "value out of range: underflow"
        );
        assert_eq!(
            err(Func::Sqrt, &[Datum::float64(-1.0)]),
            "cannot take square root of a negative number"
        );
        assert_eq!(
            err(Func::Ln, &[Datum::float64(0.0)]),
            "cannot take logarithm of zero"
        );
        assert_eq!(
            err(Func::Ln, &[Datum::float64(-1.0)]),
            "cannot take logarithm of a negative number"
        );
        assert_eq!(
            err(Func::Power, &[Datum::float64(0.0), Datum::float64(-1.0)]),
            "zero raised to a negative power is undefined"
        );
        assert_eq!(
            err(Func::Power, &[Datum::float64(-1.0), Datum::float64(0.5)]),
            "a negative number raised to a non-integer power yields a complex result"
        );
        assert_eq!(
            text(Func::Power, &[Datum::float64(2.0), Datum::float64(10.0)]),
            "1024"
        );
        assert_eq!(text(Func::Round, &[Datum::float64(2.5)]), "2");
        assert_eq!(text(Func::Round, &[Datum::float64(-2.5)]), "-2");
        assert_eq!(text(Func::Round, &[Datum::float64(3.5)]), "4");
        assert_eq!(text(Func::Sign, &[Datum::float64(-5.5)]), "-1");
        assert_eq!(text(Func::Trunc, &[Datum::float64(-1.57)]), "-1");
    }

    #[test]
    fn numeric_results_have_postgres_scales() {
        assert_eq!(
            text(Func::Div, &[dec("1"), dec("3")]),
            "0.33333333333333333333"
        );
        assert_eq!(
            text(Func::Div, &[dec("10"), dec("4")]),
            "2.5000000000000000"
        );
        assert_eq!(
            text(Func::Div, &[dec("7.0"), dec("2")]),
            "3.5000000000000000"
        );
        assert_eq!(
            text(Func::Div, &[dec("1"), dec("7")]),
            "0.14285714285714285714"
        );
        assert_eq!(
            text(Func::Div, &[dec("100000"), dec("3")]),
            "33333.333333333333"
        );
        assert_eq!(
            text(Func::Div, &[dec("0.001"), dec("7")]),
            "0.00014285714285714286"
        );
        assert_eq!(text(Func::Mul, &[dec("1.50"), dec("2.0")]), "3.000");
        assert_eq!(text(Func::Mul, &[dec("0"), dec("7352.8")]), "0.0");
        assert_eq!(text(Func::Sub, &[dec("1.50"), dec("1.5")]), "0.00");
        assert_eq!(text(Func::Mod, &[dec("5.5"), dec("2")]), "1.5");
        assert_eq!(err(Func::Div, &[dec("1.0"), dec("0")]), "division by zero");
        assert_eq!(err(Func::Mod, &[dec("1.0"), dec("0")]), "division by zero");
        assert_eq!(text(Func::Sqrt, &[dec("2")]), "1.414213562373095");
        assert_eq!(text(Func::Sqrt, &[dec("100")]), "10.000000000000000");
        assert_eq!(text(Func::Sqrt, &[dec("1.21")]), "1.100000000000000");
        assert_eq!(text(Func::Ln, &[dec("2")]), "0.6931471805599453");
        assert_eq!(text(Func::Ln, &[dec("1.05")]), "0.048790164169432003");
        assert_eq!(text(Func::Log10, &[dec("100")]), "2.0000000000000000");
        assert_eq!(text(Func::Log10, &[dec("2")]), "0.3010299956639812");
        assert_eq!(text(Func::Exp, &[dec("1")]), "2.7182818284590452");
        assert_eq!(text(Func::Exp, &[dec("10")]), "22026.465794806717");
        assert_eq!(
            text(Func::Power, &[dec("2"), dec("10")]),
            "1024.0000000000000000"
        );
        assert_eq!(
            text(Func::Power, &[dec("2"), dec("0.5")]),
            "1.4142135623730950"
        );
        assert_eq!(err(Func::Ln, &[dec("0")]), "cannot take logarithm of zero");
        assert_eq!(
            err(Func::Ln, &[dec("-1")]),
            "cannot take logarithm of a negative number"
        );
        assert_eq!(
            err(Func::Sqrt, &[dec("-1")]),
            "cannot take square root of a negative number"
        );
        assert_eq!(text(Func::Round, &[dec("2.5")]), "3");
        assert_eq!(text(Func::Round, &[dec("-2.5")]), "-3");
        assert_eq!(text(Func::Round, &[dec("1.2"), Datum::Int32(3)]), "1.200");
        assert_eq!(
            text(Func::Round, &[dec("1234.5"), Datum::Int32(-2)]),
            "1200"
        );
        assert_eq!(text(Func::Trunc, &[dec("-1.57"), Datum::Int32(1)]), "-1.5");
        assert_eq!(text(Func::Floor, &[dec("-5.5")]), "-6");
        assert_eq!(text(Func::Ceil, &[dec("5.5")]), "6");
        assert_eq!(text(Func::Sign, &[dec("-5.5")]), "-1");
        assert_eq!(text(Func::Abs, &[dec("-5.50")]), "5.50");
        assert_eq!(
            err(
                Func::Mul,
                &[
                    dec("10000000000000000000000000000"),
                    dec("10000000000000000000000000000")
                ]
            ),
            "numeric field overflow"
        );
    }
}
