//! Prices (Flink's `PriceGenerator`): log-uniform integer cents in `[100, 10^8]`.

use super::random::EventRng;

/// `round(10^(nextDouble() * 6) * 100)`: a third of prices below 10 000, a third in
/// `[10 000, 1 000 000)`, a third from 1 000 000 on.
pub(crate) fn next_price(rng: &mut EventRng) -> i64 {
    java_round(10_f64.powf(rng.next_double() * 6.0) * 100.0)
}

/// Java's `Math.round(double)`: `floor(x + 0.5)`.
pub(crate) fn java_round(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}
