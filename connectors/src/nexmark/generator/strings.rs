//! Strings (Flink's `StringsGenerator`): short random words for names and descriptions,
//! and `extra` padding that brings each record to its configured average size.

use super::price::java_round;
use super::random::EventRng;

/// The shortest string `next_string` returns before trimming.
const MIN_STRING_LENGTH: i32 = 3;

/// Size of the string `extra` padding is cut from (Flink: 1 MiB, built once per JVM).
const BIG_STRING_LENGTH: usize = 1 << 20;

/// `nextString(max, special)`: `3..max` characters, each `special` with probability
/// 1/13 and otherwise `a..z`; then trimmed of spaces at both ends (Java's `trim`).
pub(crate) fn next_string(rng: &mut EventRng, max_length: i32, special: u8) -> String {
    let len = MIN_STRING_LENGTH + rng.next_int(max_length - MIN_STRING_LENGTH);
    let mut bytes = Vec::with_capacity(len.max(0) as usize);
    for _ in 0..len {
        if rng.next_int(13) == 0 {
            bytes.push(special);
        } else {
            bytes.push(b'a' + rng.next_int(26) as u8);
        }
    }
    let start = bytes.iter().position(|&b| b > b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b > b' ')
        .map_or(start, |i| i + 1);
    ascii_string(&bytes[start..end])
}

/// The source of `extra` padding: Flink's 1 MiB random string, built from a seed here.
#[derive(Debug)]
pub(crate) struct PaddingSource {
    big: Box<[u8]>,
}

impl PaddingSource {
    pub(crate) fn new(rng: &mut EventRng) -> Self {
        PaddingSource {
            big: java_exact_bytes(rng, BIG_STRING_LENGTH).into_boxed_slice(),
        }
    }

    /// `nextExtra(current, average)`: a string such that `current + len` averages
    /// `average`: empty when `current > average`, else `d = average - current`,
    /// `delta = round(0.2 d)`, length `d - delta + nextInt(2 delta)`.
    pub(crate) fn next_extra(&self, rng: &mut EventRng, current: i64, average: i64) -> String {
        if current > average {
            return String::new();
        }
        let desired = average - current;
        let delta = java_round(desired as f64 * 0.2);
        let random = if delta == 0 {
            0
        } else {
            rng.next_int(i32::try_from(2 * delta).unwrap_or(i32::MAX)) as i64
        };
        self.next_exact_string(rng, (desired - delta + random).max(0) as usize)
    }

    /// `nextExactString(len)`: a random substring of the big string (for `len` under
    /// 512 KiB, as Flink does), else `len` fresh characters.
    pub(crate) fn next_exact_string(&self, rng: &mut EventRng, len: usize) -> String {
        if len < BIG_STRING_LENGTH / 2 {
            let offset = rng.next_int((BIG_STRING_LENGTH - len) as i32) as usize;
            ascii_string(&self.big[offset..offset + len])
        } else {
            ascii_string(&java_exact_bytes(rng, len))
        }
    }
}

/// Flink's character recipe, 6 characters per `nextInt()`: `'a' + rnd % 26`, then
/// `rnd /= 26`. `rnd` may be negative, so the characters range over ASCII 72..=122
/// (`H`..`z`, including `[\]^_` and the backtick), not only `a..z`.
fn java_exact_bytes(rng: &mut EventRng, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    let (mut rnd, mut left) = (0_i32, 0);
    for _ in 0..len {
        if left == 0 {
            rnd = rng.next_i32();
            left = 6;
        }
        bytes.push((i32::from(b'a') + rnd % 26) as u8);
        rnd /= 26;
        left -= 1;
    }
    bytes
}

/// The bytes here are always ASCII; a lossy conversion keeps this panic-free anyway.
fn ascii_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_string_lengths_and_alphabet() {
        let mut rng = EventRng::for_event(1, 1);
        for _ in 0..2000 {
            let s = next_string(&mut rng, 20, b' ');
            assert!(s.len() <= 19, "{s:?}");
            assert_eq!(s.trim(), s);
            assert!(s.bytes().all(|b| b == b' ' || b.is_ascii_lowercase()));
            let u = next_string(&mut rng, 5, b'_');
            assert!((3..=4).contains(&u.len()), "{u:?}");
            assert!(u.bytes().all(|b| b == b'_' || b.is_ascii_lowercase()));
        }
    }

    #[test]
    fn extra_lengths_follow_the_formula() {
        let mut rng = EventRng::for_event(1, 2);
        let padding = PaddingSource::new(&mut rng);
        assert!(padding.big.iter().all(|b| (72..=122).contains(b)));
        // Bids: nextExtra(32, 100): d = 68, delta = 14, length 54..=81.
        let (mut min, mut max) = (usize::MAX, 0);
        for _ in 0..20_000 {
            let len = padding.next_extra(&mut rng, 32, 100).len();
            min = min.min(len);
            max = max.max(len);
        }
        assert_eq!((min, max), (54, 81));
        assert_eq!(padding.next_extra(&mut rng, 101, 100), "");
        assert_eq!(padding.next_extra(&mut rng, 100, 100), "");
        assert_eq!(padding.next_exact_string(&mut rng, 600_000).len(), 600_000);
    }
}
