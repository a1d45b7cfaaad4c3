//! [`EventRng`]: the generator's random numbers, with the draw methods of Java's
//! `Random`/`SplittableRandom` that the Flink generator calls (`nextInt(bound)`,
//! `nextInt()`, `nextDouble()`, and `LongGenerator.nextLong(n)`).
//!
//! Flink's generator is unseeded; here every event gets its own SplitMix64 stream seeded
//! from `(seed, eventId)` (the spec's §10 recommendation, as Beam and nexmark-rs do), so
//! an event's fields do not depend on which worker generates it or what came before.

/// SplitMix64's increment (the golden ratio in 64-bit fixed point).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small, fast SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct EventRng {
    state: u64,
}

impl EventRng {
    /// The stream for one event: depends on the seed and the event id only.
    pub(crate) fn for_event(seed: u64, event_id: i64) -> Self {
        EventRng {
            state: mix64(seed ^ mix64((event_id as u64).wrapping_add(GOLDEN_GAMMA))),
        }
    }

    /// A stream for tables built once per seed (URLs, the big `extra` string); `purpose`
    /// keeps the tables' streams apart.
    pub(crate) fn for_table(seed: u64, purpose: u64) -> Self {
        EventRng {
            state: mix64(mix64(seed) ^ purpose.wrapping_mul(GOLDEN_GAMMA)),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Java's `nextInt()`: any `i32`.
    pub(crate) fn next_i32(&mut self) -> i32 {
        (self.next_u64() >> 32) as i32
    }

    /// Java's `nextInt(bound)`: uniform in `0..bound` (Lemire's unbiased multiply-shift).
    /// A non-positive bound (Java throws) gives 0.
    pub(crate) fn next_int(&mut self, bound: i32) -> i32 {
        if bound <= 0 {
            return 0;
        }
        let bound = bound as u64;
        let mut product = (self.next_u64() >> 32) * bound;
        if (product & 0xFFFF_FFFF) < bound {
            let threshold = (1_u64 << 32).wrapping_sub(bound) % bound;
            while (product & 0xFFFF_FFFF) < threshold {
                product = (self.next_u64() >> 32) * bound;
            }
        }
        (product >> 32) as i32
    }

    /// Java's `nextDouble()`: uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn next_double(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
    }

    /// Flink's `LongGenerator.nextLong(rng, n)`: `nextInt(n)` when `n` fits an `int`,
    /// else `abs(nextLong() % n)`. A non-positive `n` gives 0.
    pub(crate) fn next_long(&mut self, n: i64) -> i64 {
        if n <= 0 {
            0
        } else if n < i32::MAX as i64 {
            self.next_int(n as i32) as i64
        } else {
            (self.next_u64() as i64).wrapping_rem(n).abs()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_draws_stay_in_range_and_cover_it() {
        let mut rng = EventRng::for_event(7, 42);
        let mut seen = [0_u32; 13];
        for _ in 0..13_000 {
            let v = rng.next_int(13);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        for _ in 0..1000 {
            let d = rng.next_double();
            assert!((0.0..1.0).contains(&d));
            assert!((0..5_000_000_000).contains(&rng.next_long(5_000_000_000)));
        }
        assert_eq!(rng.next_int(0), 0);
        assert_eq!(rng.next_long(-3), 0);
    }

    #[test]
    fn streams_depend_on_seed_and_event() {
        let draw = |seed, id| EventRng::for_event(seed, id).next_u64();
        assert_eq!(draw(1, 2), draw(1, 2));
        assert_ne!(draw(1, 2), draw(1, 3));
        assert_ne!(draw(1, 2), draw(2, 2));
    }
}
