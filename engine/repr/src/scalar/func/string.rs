//! Text functions, `LIKE`/`ILIKE` and regular expressions.
//!
//! Positions and lengths count characters, never bytes, so no slicing lands inside a
//! UTF-8 sequence. Compiled `LIKE` patterns and regexes are cached per thread (patterns
//! are usually literals, so the cache hits on every row after the first).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use regex::{Regex, RegexBuilder};

use super::TrimSide;
use super::unsupported;
use crate::jsonb::{JsonValue, JsonbText, parse_json};
use crate::strconv::format_datum;
use crate::{Datum, EvalError, Func};

pub(super) fn apply(func: &Func, args: &[Datum]) -> Result<Datum, EvalError> {
    use Datum::{Bytes, Int16, Int32, Int64, Text};
    let unsupported = || unsupported(func, args);
    match (func, args) {
        (Func::Lower, [Text(s)]) => Ok(Datum::text(&pg_lower(s))),
        (Func::Upper, [Text(s)]) => Ok(Datum::text(&pg_upper(s))),
        (Func::Length, [Text(s)]) => count(s.chars().count()),
        (Func::Length | Func::OctetLength, [Bytes(b)]) => count(b.len()),
        (Func::OctetLength, [Text(s)]) => count(s.len()),
        (Func::Substring, [Text(s), from]) => {
            let from = int_arg(from).ok_or_else(unsupported)?;
            Ok(Datum::text(substring_chars(s, from, None)?))
        }
        (Func::Substring, [Text(s), from, length]) => {
            let from = int_arg(from).ok_or_else(unsupported)?;
            let length = int_arg(length).ok_or_else(unsupported)?;
            Ok(Datum::text(substring_chars(s, from, Some(length))?))
        }
        (Func::Substring, [Bytes(b), from, rest @ ..]) if rest.len() <= 1 => {
            let from = int_arg(from).ok_or_else(unsupported)?;
            let length = match rest {
                [length] => Some(int_arg(length).ok_or_else(unsupported)?),
                _ => None,
            };
            let (start, end) = substring_range(from, length, b.len())?;
            Ok(Bytes(Arc::from(&b[start..end])))
        }
        (Func::Trim(side), [Text(s)]) => Ok(Datum::text(trim(s, " ", *side))),
        (Func::Trim(side), [Text(s), Text(chars)]) => Ok(Datum::text(trim(s, chars, *side))),
        (Func::Concat, _) => {
            let mut out = String::new();
            for arg in args.iter().filter(|a| !a.is_null()) {
                crate::strconv::write_datum(&mut out, arg);
            }
            Ok(Datum::text(&out))
        }
        (Func::ConcatOp, [a, b]) => concat_op(func, a, b),
        (Func::Position, [Text(needle), Text(haystack)]) => {
            let position = match haystack.find(&**needle) {
                Some(byte) => haystack[..byte].chars().count() + 1,
                None => 0,
            };
            count(position)
        }
        (Func::Replace, [Text(s), Text(from), Text(to)]) => {
            if from.is_empty() {
                Ok(Datum::Text(s.clone()))
            } else {
                if to.len() > from.len() {
                    let growth = (to.len() - from.len()).saturating_mul(s.matches(&**from).count());
                    check_length(s.len().saturating_add(growth))?;
                }
                Ok(Datum::text(&s.replace(&**from, to)))
            }
        }
        (
            Func::SplitPart,
            [
                Text(s),
                Text(delimiter),
                n @ (Int16(_) | Int32(_) | Int64(_)),
            ],
        ) => split_part(s, delimiter, n.as_i64().unwrap_or_default()),
        (Func::Left, [Text(s), n]) => {
            let n = int_arg(n).ok_or_else(unsupported)?;
            let chars = s.chars().count() as i64;
            let keep = if n >= 0 {
                n.min(chars)
            } else {
                (chars + n).max(0)
            };
            Ok(Datum::text(take_chars(s, keep as usize)))
        }
        (Func::Right, [Text(s), n]) => {
            let n = int_arg(n).ok_or_else(unsupported)?;
            let chars = s.chars().count() as i64;
            let skip = if n >= 0 {
                (chars - n).max(0)
            } else {
                (-n).min(chars)
            };
            Ok(Datum::text(skip_chars(s, skip as usize)))
        }
        (Func::Lpad | Func::Rpad, [Text(s), length]) => {
            let length = int_arg(length).ok_or_else(unsupported)?;
            Ok(Datum::text(&pad(
                s,
                length,
                " ",
                matches!(func, Func::Lpad),
            )?))
        }
        (Func::Lpad | Func::Rpad, [Text(s), length, Text(fill)]) => {
            let length = int_arg(length).ok_or_else(unsupported)?;
            Ok(Datum::text(&pad(
                s,
                length,
                fill,
                matches!(func, Func::Lpad),
            )?))
        }
        (Func::RegexpMatch, [Text(s), Text(pattern)]) => regexp_match(s, pattern, ""),
        (Func::RegexpMatch, [Text(s), Text(pattern), Text(flags)]) => {
            regexp_match(s, pattern, flags)
        }
        (Func::RegexpReplace, [Text(s), Text(pattern), Text(replacement)]) => {
            regexp_replace(s, pattern, replacement, "")
        }
        (Func::RegexpReplace, [Text(s), Text(pattern), Text(replacement), Text(flags)]) => {
            regexp_replace(s, pattern, replacement, flags)
        }
        (Func::RegexpExtract, [Text(s), Text(pattern)]) => regexp_extract(s, pattern, 0),
        (Func::RegexpExtract, [Text(s), Text(pattern), index]) => {
            regexp_extract(s, pattern, int_arg(index).ok_or_else(unsupported)?)
        }
        (Func::SplitIndex, [Text(s), Text(separator), index]) => Ok(split_index(
            s,
            separator,
            int_arg(index).ok_or_else(unsupported)?,
        )),
        (Func::StartsWith, [Text(s), Text(prefix)]) => Ok(Datum::Bool(s.starts_with(&**prefix))),
        (Func::Like { case_insensitive }, [Text(s), Text(pattern)]) => {
            like(s, pattern, *case_insensitive).map(Datum::Bool)
        }
        _ => Err(unsupported()),
    }
}

fn count(n: usize) -> Result<Datum, EvalError> {
    i32::try_from(n)
        .map(Datum::Int32)
        .map_err(|_| EvalError::OutOfRange("integer".to_string()))
}

fn int_arg(d: &Datum) -> Option<i64> {
    d.as_i64()
}

/// The first `n` characters.
fn take_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((cut, _)) => &s[..cut],
        None => s,
    }
}

/// All but the first `n` characters.
fn skip_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((cut, _)) => &s[cut..],
        None => "",
    }
}

/// The 0-based `[start, end)` range `substring(from, for)` selects from `len` units:
/// positions before 1 count toward the length but select nothing (Postgres).
fn substring_range(
    from: i64,
    length: Option<i64>,
    len: usize,
) -> Result<(usize, usize), EvalError> {
    let end = match length {
        Some(l) if l < 0 => {
            return Err(EvalError::NegativeSubstringLength);
        }
        Some(l) => from.saturating_add(l),
        None => i64::MAX,
    };
    let len = len as i64;
    let start = from.max(1).min(len + 1) - 1;
    let end = (end.max(1).min(len + 1) - 1).max(start);
    Ok((start as usize, end as usize))
}

fn substring_chars(s: &str, from: i64, length: Option<i64>) -> Result<&str, EvalError> {
    let chars = s.chars().count();
    let (start, end) = substring_range(from, length, chars)?;
    Ok(take_chars(skip_chars(s, start), end - start))
}

fn trim<'a>(s: &'a str, chars: &str, side: TrimSide) -> &'a str {
    let strip = |c: char| chars.contains(c);
    match side {
        TrimSide::Both => s.trim_matches(strip),
        TrimSide::Leading => s.trim_start_matches(strip),
        TrimSide::Trailing => s.trim_end_matches(strip),
    }
}

/// The longest text (in bytes) that functions building text from a requested length or
/// by repetition (`lpad`, `rpad`, `replace`, `regexp_replace`) produce; longer results
/// fail with Postgres' `requested length too large` instead of exhausting memory.
pub const MAX_TEXT_BYTES: usize = 100 * 1024 * 1024;

fn check_length(bytes: usize) -> Result<(), EvalError> {
    if bytes > MAX_TEXT_BYTES {
        return Err(EvalError::ProgramLimitExceeded(
            "requested length too large".to_string(),
        ));
    }
    Ok(())
}

fn pad(s: &str, length: i64, fill: &str, left: bool) -> Result<String, EvalError> {
    if length <= 0 {
        return Ok(String::new());
    }
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    let chars = s.chars().count();
    if chars >= length || fill.is_empty() {
        return Ok(take_chars(s, length).to_string());
    }
    // Every padding character is at most as long as the longest in `fill`.
    let widest = fill.chars().map(char::len_utf8).max().unwrap_or(1);
    check_length(
        s.len()
            .saturating_add((length - chars).saturating_mul(widest)),
    )?;
    let padding: String = fill.chars().cycle().take(length - chars).collect();
    Ok(if left {
        padding + s
    } else {
        format!("{s}{padding}")
    })
}

fn split_part(s: &str, delimiter: &str, n: i64) -> Result<Datum, EvalError> {
    if n == 0 {
        return Err(EvalError::InvalidParameter(
            "field position must not be zero".to_string(),
        ));
    }
    if s.is_empty() {
        return Ok(Datum::text(""));
    }
    if delimiter.is_empty() {
        return Ok(Datum::text(if n == 1 || n == -1 { s } else { "" }));
    }
    let part = if n > 0 {
        s.split(delimiter).nth((n - 1) as usize)
    } else {
        s.rsplit(delimiter).nth((-(n + 1)) as usize)
    };
    Ok(Datum::text(part.unwrap_or("")))
}

/// Flink's `SPLIT_INDEX(s, separator, index)`: the 0-based `index`-th piece of `s` split
/// at each occurrence of the whole `separator`, keeping empty pieces (an empty separator
/// splits at each whitespace character). An empty string has no pieces; a negative or
/// too large index is NULL.
fn split_index(s: &str, separator: &str, index: i64) -> Datum {
    let Ok(index) = usize::try_from(index) else {
        return Datum::Null;
    };
    if s.is_empty() {
        return Datum::Null;
    }
    let piece = if separator.is_empty() {
        s.split(char::is_whitespace).nth(index)
    } else {
        s.split(separator).nth(index)
    };
    piece.map_or(Datum::Null, Datum::text)
}

/// `||`: text concatenation (non-text operands print as text), array concatenation and
/// append/prepend, bytea concatenation, jsonb concatenation.
fn concat_op(func: &Func, a: &Datum, b: &Datum) -> Result<Datum, EvalError> {
    match (a, b) {
        (Datum::Array(x), Datum::Array(y)) => {
            // Appending a one-level-deeper array adds it as an element.
            let x_nested = x.first().is_some_and(|e| matches!(e, Datum::Array(_)));
            let y_nested = y.first().is_some_and(|e| matches!(e, Datum::Array(_)));
            let mut out = Vec::with_capacity(x.len() + y.len() + 1);
            if x_nested && !y_nested && !y.is_empty() {
                out.extend(x.iter().cloned());
                out.push(b.clone());
            } else if y_nested && !x_nested && !x.is_empty() {
                out.push(a.clone());
                out.extend(y.iter().cloned());
            } else {
                out.extend(x.iter().cloned());
                out.extend(y.iter().cloned());
            }
            Ok(Datum::Array(Arc::from(out)))
        }
        (Datum::Array(x), element) => {
            let mut out = x.to_vec();
            out.push(element.clone());
            Ok(Datum::Array(Arc::from(out)))
        }
        (element, Datum::Array(y)) => {
            let mut out = Vec::with_capacity(y.len() + 1);
            out.push(element.clone());
            out.extend(y.iter().cloned());
            Ok(Datum::Array(Arc::from(out)))
        }
        (Datum::Bytes(x), Datum::Bytes(y)) => {
            let mut out = x.to_vec();
            out.extend_from_slice(y);
            Ok(Datum::Bytes(Arc::from(out)))
        }
        (Datum::Jsonb(x), Datum::Jsonb(y)) => jsonb_concat(x, y),
        (Datum::Text(_), _) | (_, Datum::Text(_)) => {
            let mut out = format_datum(a);
            out.push_str(&format_datum(b));
            Ok(Datum::text(&out))
        }
        _ => Err(unsupported(func, &[a.clone(), b.clone()])),
    }
}

/// jsonb `||`: objects merge (right wins); otherwise both sides become arrays and are
/// concatenated.
fn jsonb_concat(x: &str, y: &str) -> Result<Datum, EvalError> {
    let left = parse_json(x)?;
    let right = parse_json(y)?;
    let result = match (left, right) {
        (JsonValue::Object(a), JsonValue::Object(b)) => {
            let mut merged = a;
            for (key, value) in b {
                match merged.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = value,
                    None => merged.push((key, value)),
                }
            }
            merged.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            JsonValue::Object(merged)
        }
        (a, b) => {
            let as_items = |v: JsonValue| match v {
                JsonValue::Array(items) => items,
                other => vec![other],
            };
            let mut items = as_items(a);
            items.extend(as_items(b));
            JsonValue::Array(items)
        }
    };
    Ok(Datum::Jsonb(JsonbText::from_canonical(
        result.to_canonical(),
    )))
}

/// A compiled `LIKE` pattern.
#[derive(Clone, Debug)]
enum LikePattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    General(Vec<LikeToken>),
}

#[derive(Clone, Debug, PartialEq)]
enum LikeToken {
    Char(char),
    AnyChar,
    AnyString,
}

fn compile_like(pattern: &str) -> Result<LikePattern, EvalError> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(LikeToken::Char(escaped)),
                None => {
                    return Err(EvalError::InvalidParameter(
                        "LIKE pattern must not end with escape character".to_string(),
                    ));
                }
            },
            '%' => {
                if tokens.last() != Some(&LikeToken::AnyString) {
                    tokens.push(LikeToken::AnyString);
                }
            }
            '_' => tokens.push(LikeToken::AnyChar),
            c => tokens.push(LikeToken::Char(c)),
        }
    }
    let literal = |ts: &[LikeToken]| -> Option<String> {
        ts.iter()
            .map(|t| match t {
                LikeToken::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    };
    let n = tokens.len();
    let starts = tokens.first() == Some(&LikeToken::AnyString);
    let ends = n > 0 && tokens.last() == Some(&LikeToken::AnyString);
    let pattern = if let Some(text) = literal(&tokens) {
        LikePattern::Exact(text)
    } else if n >= 2
        && starts
        && ends
        && let Some(text) = literal(&tokens[1..n - 1])
    {
        LikePattern::Contains(text)
    } else if ends && let Some(text) = literal(&tokens[..n - 1]) {
        LikePattern::Prefix(text)
    } else if starts && let Some(text) = literal(&tokens[1..]) {
        LikePattern::Suffix(text)
    } else {
        LikePattern::General(tokens)
    };
    Ok(pattern)
}

fn like_general(text: &[char], pattern: &[LikeToken]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::AnyString) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(LikeToken::AnyChar) => {
                t += 1;
                p += 1;
            }
            Some(LikeToken::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match backtrack {
                Some((star, mark)) => {
                    p = star + 1;
                    t = mark + 1;
                    backtrack = Some((star, mark + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| *t == LikeToken::AnyString)
}

fn like_matches(text: &str, pattern: &LikePattern) -> bool {
    match pattern {
        LikePattern::Exact(s) => text == s,
        LikePattern::Prefix(s) => text.starts_with(s.as_str()),
        LikePattern::Suffix(s) => text.ends_with(s.as_str()),
        LikePattern::Contains(s) => text.contains(s.as_str()),
        LikePattern::General(tokens) => {
            let chars: Vec<char> = text.chars().collect();
            like_general(&chars, tokens)
        }
    }
}

/// Most distinct patterns a thread keeps compiled.
const CACHE_CAPACITY: usize = 64;

/// `upper(text)` as Postgres computes it under a UTF-8 `LC_CTYPE` (`towupper` on each
/// character): Unicode's *simple* one-to-one case mapping. Rust's `to_uppercase` is the
/// full mapping, which may expand a character (`ß` to `SS`, `ﬁ` to `FI`); Postgres
/// keeps such a character unchanged (`upper('straße')` = `STRAßE`).
pub(crate) fn pg_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(simple_upper).collect()
}

/// `lower(text)` as Postgres computes it (`towlower` on each character): the simple
/// mapping, and no context-dependent final sigma (`lower('ΑΣ')` = `ασ`).
pub(crate) fn pg_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(simple_lower).collect()
}

fn simple_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        // Expanding full mappings. Only the Greek letters with iota subscript have a
        // simple uppercase mapping (their titlecase form: U+1F80 to U+1F88); for the
        // rest (ß, ligatures, letters with no precomposed capital) it is the identity.
        _ => match c as u32 {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                char::from_u32(c as u32 + 8).unwrap_or(c)
            }
            0x1FB3 | 0x1FC3 | 0x1FF3 => char::from_u32(c as u32 + 9).unwrap_or(c),
            _ => c,
        },
    }
}

fn simple_lower(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        // The only expanding lowercase mapping is U+0130 (İ to i + combining dot);
        // its simple mapping is the first character, `i`.
        (Some(l), Some(_)) if c == '\u{130}' => l,
        _ => c,
    }
}

thread_local! {
    static LIKE_CACHE: RefCell<HashMap<(String, bool), LikePattern>> = RefCell::new(HashMap::new());
    static REGEX_CACHE: RefCell<HashMap<(String, String), Regex>> = RefCell::new(HashMap::new());
    static JAVA_REGEX_CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// `text LIKE pattern` / `ILIKE` (ILIKE lowercases both sides), `\` escapes.
fn like(text: &str, pattern: &str, case_insensitive: bool) -> Result<bool, EvalError> {
    let key = (pattern.to_string(), case_insensitive);
    let cached = LIKE_CACHE.with(|cache| cache.borrow().get(&key).cloned());
    let compiled = match cached {
        Some(compiled) => compiled,
        None => {
            let source = if case_insensitive {
                pg_lower(pattern)
            } else {
                pattern.to_string()
            };
            let compiled = compile_like(&source)?;
            LIKE_CACHE.with(|cache| {
                let mut cache = cache.borrow_mut();
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
                cache.insert(key, compiled.clone());
            });
            compiled
        }
    };
    if case_insensitive {
        Ok(like_matches(&pg_lower(text), &compiled))
    } else {
        Ok(like_matches(text, &compiled))
    }
}

/// Compiles a Postgres (ARE) regular expression with flags: `i` case-insensitive, `c`
/// case-sensitive, `n`/`m` newline-sensitive, `s` (default) dot matches newline, `x`
/// expanded; `g` is handled by the caller.
fn compile_regex(pattern: &str, flags: &str) -> Result<Regex, EvalError> {
    let key = (pattern.to_string(), flags.to_string());
    if let Some(regex) = REGEX_CACHE.with(|cache| cache.borrow().get(&key).cloned()) {
        return Ok(regex);
    }
    let mut builder = RegexBuilder::new(pattern);
    builder.dot_matches_new_line(true);
    for flag in flags.chars() {
        match flag {
            'i' => {
                builder.case_insensitive(true);
            }
            'c' => {
                builder.case_insensitive(false);
            }
            'n' | 'm' => {
                builder.dot_matches_new_line(false).multi_line(true);
            }
            's' => {
                builder.dot_matches_new_line(true).multi_line(false);
            }
            'x' => {
                builder.ignore_whitespace(true);
            }
            'g' => {}
            other => {
                return Err(EvalError::InvalidParameter(format!(
                    "invalid regular expression option: \"{other}\""
                )));
            }
        }
    }
    let regex = builder
        .build()
        .map_err(|e| EvalError::InvalidRegex(regex_error_message(&e)))?;
    REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, regex.clone());
    });
    Ok(regex)
}

/// A one-line description of a regex syntax error (Postgres' wording where it has a
/// close equivalent).
fn regex_error_message(err: &regex::Error) -> String {
    let text = err.to_string();
    if text.contains("unclosed group") || text.contains("unopened group") {
        return "parentheses () not balanced".to_string();
    }
    if text.contains("unclosed character class") {
        return "brackets [] not balanced".to_string();
    }
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string())
        .unwrap_or(text)
}

/// `regexp_match(s, pattern [, flags])`: the capture groups (or the whole match) as
/// text[], `NULL` without a match.
fn regexp_match(s: &str, pattern: &str, flags: &str) -> Result<Datum, EvalError> {
    if flags.contains('g') {
        return Err(EvalError::InvalidParameter(
            "regexp_match() does not support the \"global\" option".to_string(),
        ));
    }
    let regex = compile_regex(pattern, flags)?;
    let Some(captures) = regex.captures(s) else {
        return Ok(Datum::Null);
    };
    let elements: Vec<Datum> = if captures.len() == 1 {
        vec![Datum::text(captures.get(0).map_or("", |m| m.as_str()))]
    } else {
        (1..captures.len())
            .map(|i| {
                captures
                    .get(i)
                    .map_or(Datum::Null, |m| Datum::text(m.as_str()))
            })
            .collect()
    };
    Ok(Datum::Array(Arc::from(elements)))
}

/// Compiles a regular expression with Java's defaults (Flink's functions): `.` does
/// not match a newline, `^`/`$` anchor at the ends of the text. The syntax is the regex
/// crate's, which covers Java's except backreferences and lookaround (those fail with
/// an "invalid regular expression" error).
fn compile_java_regex(pattern: &str) -> Result<Regex, EvalError> {
    if let Some(regex) = JAVA_REGEX_CACHE.with(|cache| cache.borrow().get(pattern).cloned()) {
        return Ok(regex);
    }
    let regex = RegexBuilder::new(pattern)
        .build()
        .map_err(|e| EvalError::InvalidRegex(regex_error_message(&e)))?;
    JAVA_REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(pattern.to_string(), regex.clone());
    });
    Ok(regex)
}

/// Flink's `REGEXP_EXTRACT(s, pattern [, group])`: group `group` (0 is the whole match)
/// of the first match. NULL without a match, for a group number the pattern does not
/// have (Flink catches Java's IndexOutOfBoundsException), or for a group that did not
/// take part in the match.
fn regexp_extract(s: &str, pattern: &str, group: i64) -> Result<Datum, EvalError> {
    let regex = compile_java_regex(pattern)?;
    let Ok(group) = usize::try_from(group) else {
        return Ok(Datum::Null);
    };
    if group >= regex.captures_len() {
        return Ok(Datum::Null);
    }
    Ok(regex
        .captures(s)
        .and_then(|captures| captures.get(group))
        .map_or(Datum::Null, |m| Datum::text(m.as_str())))
}

/// Postgres' replacement syntax (`\1`..`\9`, `\&` for the whole match, `\\`) in the
/// regex crate's (`${1}`, `${0}`, `$$`).
fn translate_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len() + 4);
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek().copied() {
                Some(d @ '1'..='9') => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('&') => {
                    chars.next();
                    out.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// `regexp_replace(s, pattern, replacement [, flags])`: first match only unless `g`.
fn regexp_replace(
    s: &str,
    pattern: &str,
    replacement: &str,
    flags: &str,
) -> Result<Datum, EvalError> {
    let regex = compile_regex(pattern, flags)?;
    let replacement = translate_replacement(replacement);
    let global = flags.contains('g');
    // Like `Regex::replacen`, checking the size as the result grows (an empty pattern
    // with a long replacement multiplies the input).
    let mut out = String::new();
    let mut last = 0;
    for captures in regex.captures_iter(s) {
        let Some(matched) = captures.get(0) else {
            continue;
        };
        out.push_str(&s[last..matched.start()]);
        captures.expand(&replacement, &mut out);
        last = matched.end();
        check_length(out.len())?;
        if !global {
            break;
        }
    }
    out.push_str(&s[last..]);
    check_length(out.len())?;
    Ok(Datum::text(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strconv::format_datum;

    fn call(func: Func, args: &[Datum]) -> Result<Datum, EvalError> {
        func.apply(args)
    }

    fn text(func: Func, args: &[Datum]) -> String {
        format_datum(&call(func, args).unwrap())
    }

    fn t(s: &str) -> Datum {
        Datum::text(s)
    }

    #[test]
    fn huge_results_fail_instead_of_exhausting_memory() {
        let too_large = |r: Result<Datum, EvalError>| match r {
            Err(e @ EvalError::ProgramLimitExceeded(_)) => {
                assert_eq!(e.to_string(), "requested length too large");
                assert_eq!(e.code(), "54000");
            }
            other => panic!("expected requested length too large, got {other:?}"),
        };
        too_large(call(Func::Lpad, &[t("x"), Datum::Int32(2_000_000_000)]));
        too_large(call(Func::Rpad, &[t("x"), Datum::Int64(i64::MAX), t("é")]));
        let long = "x".repeat(20_000);
        too_large(call(Func::Replace, &[t(&long), t("x"), t(&long)]));
        too_large(call(
            Func::RegexpReplace,
            &[t(&long), t(""), t(&long), t("g")],
        ));
        // Below the limit everything is as before.
        assert_eq!(
            text(Func::Lpad, &[t("ab"), Datum::Int32(5), t("é")]),
            "éééab"
        );
        assert_eq!(text(Func::Rpad, &[t("ab"), Datum::Int32(-3)]), "");
        assert_eq!(
            text(Func::Replace, &[t("abab"), t("b"), t("xyz")]),
            "axyzaxyz"
        );
        assert_eq!(
            text(
                Func::RegexpReplace,
                &[t("abab"), t("(b)"), t("<\\1>"), t("g")]
            ),
            "a<b>a<b>"
        );
        assert_eq!(
            text(Func::RegexpReplace, &[t("abab"), t("b"), t("-")]),
            "a-ab"
        );
        assert_eq!(
            text(Func::RegexpReplace, &[t("ab"), t(""), t("-"), t("g")]),
            "-a-b-"
        );
    }

    #[test]
    fn case_mapping_is_per_character_like_postgres() {
        // Checked against PostgreSQL 15 with LC_CTYPE C.UTF-8.
        assert_eq!(
            text(Func::Upper, &[t("straße àb ǆ ǅ ﬁ ŉ ΐ ß")]),
            "STRAßE ÀB Ǆ Ǆ ﬁ ŉ ΐ ß"
        );
        assert_eq!(text(Func::Upper, &[t("ᾀ ᾈ ῳ ῼ ᾳ ǰ և")]), "ᾈ ᾈ ῼ ῼ ᾼ ǰ և");
        assert_eq!(text(Func::Lower, &[t("ÀB İ Ǆ ǅ ẞ ΑΣ")]), "àb i ǆ ǆ ß ασ");
        assert_eq!(text(Func::Lower, &[t("ᾈ ῼ")]), "ᾀ ῳ");
        assert_eq!(text(Func::Upper, &[t("abc")]), "ABC");
        assert_eq!(text(Func::Lower, &[t("ABC")]), "abc");
        // ILIKE folds both sides the same way.
        let ilike = Func::Like {
            case_insensitive: true,
        };
        assert_eq!(text(ilike.clone(), &[t("STRAßE"), t("straße")]), "t");
        assert_eq!(text(ilike, &[t("STRASSE"), t("straße")]), "f");
    }

    #[test]
    fn basic_string_functions() {
        assert_eq!(text(Func::Upper, &[t("straße")]), "STRAßE");
        assert_eq!(text(Func::Lower, &[t("ÀB")]), "àb");
        assert_eq!(text(Func::Length, &[t("héllo")]), "5");
        assert_eq!(text(Func::OctetLength, &[t("héllo")]), "6");
        assert_eq!(
            text(
                Func::Substring,
                &[t("hello"), Datum::Int32(0), Datum::Int32(3)]
            ),
            "he"
        );
        assert_eq!(
            text(Func::Substring, &[t("hello"), Datum::Int32(-1)]),
            "hello"
        );
        assert_eq!(
            text(Func::Substring, &[t("hello"), Datum::Int32(2)]),
            "ello"
        );
        assert_eq!(
            text(
                Func::Substring,
                &[t("héllo"), Datum::Int32(2), Datum::Int32(2)]
            ),
            "él"
        );
        assert_eq!(text(Func::Substring, &[t("hello"), Datum::Int32(10)]), "");
        assert_eq!(
            call(
                Func::Substring,
                &[t("hello"), Datum::Int32(1), Datum::Int32(-1)]
            )
            .unwrap_err()
            .to_string(),
            "negative substring length not allowed"
        );
        assert_eq!(text(Func::Trim(TrimSide::Both), &[t("  a b  ")]), "a b");
        assert_eq!(
            text(Func::Trim(TrimSide::Leading), &[t("xxaxx"), t("x")]),
            "axx"
        );
        assert_eq!(
            text(Func::Trim(TrimSide::Trailing), &[t("xxaxy"), t("xy")]),
            "xxa"
        );
        assert_eq!(
            text(
                Func::Concat,
                &[Datum::Bool(true), Datum::float64(1.5), Datum::Null, t("x")]
            ),
            "t1.5x"
        );
        assert_eq!(text(Func::ConcatOp, &[t("a"), Datum::Int32(1)]), "a1");
        assert_eq!(text(Func::Position, &[t(""), t("abc")]), "1");
        assert_eq!(text(Func::Position, &[t("l"), t("héllo")]), "3");
        assert_eq!(text(Func::Position, &[t("z"), t("abc")]), "0");
        assert_eq!(
            text(Func::Replace, &[t("abcabc"), t("b"), t("XY")]),
            "aXYcaXYc"
        );
        assert_eq!(
            text(Func::SplitPart, &[t("a,b,c"), t(","), Datum::Int32(-1)]),
            "c"
        );
        assert_eq!(
            text(Func::SplitPart, &[t("a,b,c"), t(","), Datum::Int32(2)]),
            "b"
        );
        assert_eq!(
            text(Func::SplitPart, &[t("a,b,c"), t(","), Datum::Int32(5)]),
            ""
        );
        assert_eq!(
            text(Func::SplitPart, &[t("abc"), t(""), Datum::Int32(1)]),
            "abc"
        );
        assert_eq!(
            text(Func::SplitPart, &[t("abc"), t(""), Datum::Int32(2)]),
            ""
        );
        assert_eq!(
            call(Func::SplitPart, &[t("a,b"), t(","), Datum::Int32(0)])
                .unwrap_err()
                .to_string(),
            "field position must not be zero"
        );
        assert_eq!(text(Func::Left, &[t("hello"), Datum::Int32(-2)]), "hel");
        assert_eq!(text(Func::Right, &[t("hello"), Datum::Int32(-2)]), "llo");
        assert_eq!(text(Func::Left, &[t("hello"), Datum::Int32(2)]), "he");
        assert_eq!(text(Func::Right, &[t("hello"), Datum::Int32(2)]), "lo");
        assert_eq!(
            text(Func::Lpad, &[t("hi"), Datum::Int32(5), t("xy")]),
            "xyxhi"
        );
        assert_eq!(text(Func::Lpad, &[t("hello"), Datum::Int32(3)]), "hel");
        assert_eq!(text(Func::Rpad, &[t("hi"), Datum::Int32(5)]), "hi   ");
        assert_eq!(text(Func::Lpad, &[t("hi"), Datum::Int32(5), t("")]), "hi");
        assert_eq!(text(Func::StartsWith, &[t("hello"), t("he")]), "t");
    }

    #[test]
    fn concatenation_operator() {
        let ints = |v: &[i32]| {
            Datum::Array(Arc::from(
                v.iter().map(|i| Datum::Int32(*i)).collect::<Vec<_>>(),
            ))
        };
        assert_eq!(
            text(Func::ConcatOp, &[ints(&[1, 2]), ints(&[3])]),
            "{1,2,3}"
        );
        assert_eq!(
            text(Func::ConcatOp, &[ints(&[1]), Datum::Int32(2)]),
            "{1,2}"
        );
        assert_eq!(
            text(Func::ConcatOp, &[Datum::Int32(0), ints(&[1])]),
            "{0,1}"
        );
        let j = |s: &str| {
            Datum::Jsonb(JsonbText::from_canonical(
                crate::jsonb::canonical_jsonb(s).unwrap(),
            ))
        };
        assert_eq!(
            text(Func::ConcatOp, &[j(r#"{"a":1}"#), j(r#"{"b":2}"#)]),
            r#"{"a": 1, "b": 2}"#
        );
        assert_eq!(text(Func::ConcatOp, &[j("[1]"), j("2")]), "[1, 2]");
        assert_eq!(
            text(Func::ConcatOp, &[j(r#"{"a":1}"#), j("[2]")]),
            r#"[{"a": 1}, 2]"#
        );
    }

    #[test]
    fn like_patterns() {
        let like = |s: &str, p: &str| {
            text(
                Func::Like {
                    case_insensitive: false,
                },
                &[t(s), t(p)],
            )
        };
        let ilike = |s: &str, p: &str| {
            text(
                Func::Like {
                    case_insensitive: true,
                },
                &[t(s), t(p)],
            )
        };
        assert_eq!(like("a_c", "a\\_c"), "t");
        assert_eq!(like("abc", "a\\_c"), "f");
        assert_eq!(like("abc", "a_c"), "t");
        assert_eq!(like("abc", "abc"), "t");
        assert_eq!(like("abc", "ab"), "f");
        assert_eq!(like("abc", "a%"), "t");
        assert_eq!(like("abc", "%c"), "t");
        assert_eq!(like("abc", "%b%"), "t");
        assert_eq!(like("abc", "%"), "t");
        assert_eq!(like("", "%"), "t");
        assert_eq!(like("100%", "100\\%"), "t");
        assert_eq!(like("1000", "100\\%"), "f");
        assert_eq!(like("mississippi", "%iss%ip_i"), "t");
        assert_eq!(like("mississippi", "m%s_s%x"), "f");
        assert_eq!(like("héllo", "h_llo"), "t");
        assert_eq!(ilike("ABC", "a%"), "t");
        assert_eq!(ilike("ÀBC", "àb_"), "t");
        assert!(
            call(
                Func::Like {
                    case_insensitive: false
                },
                &[t("x\\"), t("x\\")]
            )
            .is_err()
        );
    }

    #[test]
    fn flink_regexp_extract() {
        let extract = |s: &str, p: &str, g: i32| {
            call(Func::RegexpExtract, &[t(s), t(p), Datum::Int32(g)]).unwrap()
        };
        assert_eq!(extract("foothebar", "foo(.*?)(bar)", 2), t("bar"));
        assert_eq!(extract("foothebar", "foo(.*?)(bar)", 1), t("the"));
        assert_eq!(extract("foothebar", "foo(.*?)(bar)", 0), t("foothebar"));
        assert_eq!(extract("100-200", r"(\d+)-(\d+)", 1), t("100"));
        assert_eq!(
            call(Func::RegexpExtract, &[t("100-200"), t(r"(\d+)-(\d+)")]).unwrap(),
            t("100-200")
        );
        // Nexmark q21's pattern.
        let url = "https://www.nexmark.com/abc/item.htm?query=1&channel_id=1234";
        assert_eq!(extract(url, "(&|^)channel_id=([^&]*)", 2), t("1234"));
        assert_eq!(
            extract("channel_id=7&x=1", "(&|^)channel_id=([^&]*)", 2),
            t("7")
        );
        assert_eq!(
            extract("a=1&channel_id=42", "(&|^)channel_id=([^&]*)", 2),
            t("42")
        );
        // No match, a group the pattern lacks, a negative group, a group not taking part.
        assert_eq!(extract("xyz", "foo(.*)", 1), Datum::Null);
        assert_eq!(extract("foobar", "foo(.*)", 2), Datum::Null);
        assert_eq!(extract("foobar", "foo(.*)", -1), Datum::Null);
        assert_eq!(extract("ab", "a(x)?b", 1), Datum::Null);
        // Java's defaults: `.` stops at a newline.
        assert_eq!(extract("ab\ncd", "b.*", 0), t("b"));
        assert_eq!(
            call(Func::RegexpExtract, &[Datum::Null, t("a"), Datum::Int32(0)]).unwrap(),
            Datum::Null
        );
        let err = call(Func::RegexpExtract, &[t("a"), t("(a"), Datum::Int32(0)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid regular expression: parentheses () not balanced"
        );
    }

    #[test]
    fn flink_split_index() {
        let split = |s: &str, sep: &str, i: i32| {
            call(Func::SplitIndex, &[t(s), t(sep), Datum::Int32(i)]).unwrap()
        };
        assert_eq!(split("Jack,John,Mary", ",", 2), t("Mary"));
        assert_eq!(split("Jack,John,Mary", ",", 0), t("Jack"));
        assert_eq!(split("Jack,John,Mary", ",", 3), Datum::Null);
        assert_eq!(split("Jack,John,Mary", ",", -1), Datum::Null);
        assert_eq!(split("a,,b", ",", 1), t(""));
        assert_eq!(split("a,", ",", 1), t(""));
        assert_eq!(split("a--b--c", "--", 2), t("c"));
        assert_eq!(split("", ",", 0), Datum::Null);
        assert_eq!(split("no separator", ";", 0), t("no separator"));
        assert_eq!(split("a b  c", "", 3), t("c"));
        // Nexmark q22's URLs.
        let url = "https://www.nexmark.com/xyz/abc/def/item.htm?query=1";
        assert_eq!(split(url, "/", 3), t("xyz"));
        assert_eq!(split(url, "/", 5), t("def"));
        assert_eq!(split(url, "/", 7), Datum::Null);
        assert_eq!(
            call(Func::SplitIndex, &[t("a"), Datum::Null, Datum::Int32(0)]).unwrap(),
            Datum::Null
        );
    }

    #[test]
    fn regular_expressions() {
        assert_eq!(
            text(Func::RegexpMatch, &[t("foobar"), t("(o+)(x)?")]),
            "{oo,NULL}"
        );
        assert_eq!(text(Func::RegexpMatch, &[t("foobar"), t("o+")]), "{oo}");
        assert_eq!(
            text(Func::RegexpMatch, &[t("a\nb"), t("a.b")]),
            "{\"a\nb\"}"
        );
        assert_eq!(
            call(Func::RegexpMatch, &[t("abc"), t("x")]).unwrap(),
            Datum::Null
        );
        assert_eq!(text(Func::RegexpMatch, &[t("ABC"), t("b"), t("i")]), "{B}");
        assert_eq!(
            call(Func::RegexpMatch, &[t("abc"), t("b"), t("g")])
                .unwrap_err()
                .to_string(),
            "regexp_match() does not support the \"global\" option"
        );
        assert_eq!(
            call(Func::RegexpMatch, &[t("x"), t("(")])
                .unwrap_err()
                .to_string(),
            "invalid regular expression: parentheses () not balanced"
        );
        assert_eq!(
            text(
                Func::RegexpReplace,
                &[t("foobarbaz"), t("ba(.)"), t("X\\1\\&Y"), t("g")]
            ),
            "fooXrbarYXzbazY"
        );
        assert_eq!(
            text(Func::RegexpReplace, &[t("Foo"), t("f"), t("x"), t("i")]),
            "xoo"
        );
        assert_eq!(
            text(Func::RegexpReplace, &[t("aaa"), t("a"), t("b")]),
            "baa"
        );
        assert_eq!(text(Func::RegexpReplace, &[t("a"), t("a"), t("$1")]), "$1");
    }
}
