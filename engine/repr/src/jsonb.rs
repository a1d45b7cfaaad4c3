//! `jsonb` values: parsing JSON text into Postgres' canonical jsonb text, and reading
//! into it (`->`, `->>`, casts).
//!
//! A [`Datum::Jsonb`] holds the canonical text, so equal documents are equal datums.
//! Canonical means what Postgres prints for a jsonb value: object keys ordered by
//! (length, bytes) with the last of duplicate keys kept, numbers in `numeric`'s output
//! form (`1e5` → `100000`, `1.50` stays `1.50`), one space after `:` and `,`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::strconv::normalize_number_text;
use crate::{Datum, EvalError};

/// The value of a [`Datum::Jsonb`]: the canonical text of the document, with equality,
/// hashing and ordering that follow Postgres' jsonb semantics rather than the bytes.
///
/// Why text with manual impls: the canonical text is exactly what Postgres prints
/// (numbers keep their scale, `1.0` stays `1.0`), so output stays a plain copy, while
/// jsonb compares numbers by value (`{"a": 1} = {"a": 1.0}`). Equality and hashing use
/// the *comparison form* of the text, where trailing fractional zeros of numbers are
/// dropped; since canonical text already fixes key order, duplicates, spacing, escapes
/// and exponents, two documents are equal exactly when their comparison forms are. The
/// comparison form is the text itself (no allocation) unless the document has a `.`.
/// Ordering is Postgres' `compareJsonbContainers` order (see [`compare_jsonb`]); it
/// parses the documents, after fast paths for identical text and scalars.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonbText(Arc<str>);

impl JsonbText {
    /// Wraps text that is already canonical (see [`canonical_jsonb`]).
    pub fn from_canonical(text: impl Into<Arc<str>>) -> JsonbText {
        JsonbText(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text equality and hashing look at.
    fn comparison_form(&self) -> Cow<'_, str> {
        comparison_form(&self.0)
    }
}

impl Deref for JsonbText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq for JsonbText {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.comparison_form() == other.comparison_form()
    }
}

impl Eq for JsonbText {}

impl Hash for JsonbText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.comparison_form().hash(state);
    }
}

impl PartialOrd for JsonbText {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JsonbText {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.0 == other.0 {
            return Ordering::Equal;
        }
        compare_jsonb(&self.0, &other.0)
    }
}

/// Canonical jsonb text with the numbers' trailing fractional zeros removed (`1.50` →
/// `1.5`, `2.0` → `2`), so numerically equal documents have equal forms.
fn comparison_form(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes.contains(&b'.') {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'-' | b'0'..=b'9' | b'.') {
                    i += 1;
                }
                let number = &text[start..i];
                if number.contains('.') {
                    let trimmed = number.trim_end_matches('0').trim_end_matches('.');
                    let trimmed = if trimmed == "-0" { "0" } else { trimmed };
                    let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    out.push_str(&text[copied..start]);
                    out.push_str(trimmed);
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    match out {
        Some(mut out) => {
            out.push_str(&text[copied.min(text.len())..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(text),
    }
}

/// Postgres' jsonb order (`compareJsonbContainers`) of two canonical documents:
/// null < string < number < boolean < array < object; containers with more elements
/// (pairs) are greater; otherwise elements compare in order (objects: key, value, key,
/// ... in storage order). Strings compare bytewise (the `C` collation), numbers by
/// value. One quirk is kept: a top-level scalar counts as a one-element array against
/// a top-level array, so `'5' > '[]'` but `'5' < '[5]'`.
pub fn compare_jsonb(a: &str, b: &str) -> Ordering {
    // Scalars other than strings need no parse.
    let kind = |t: &str| match t.as_bytes().first() {
        Some(b'n') => 0,
        Some(b'"') => 1,
        Some(b'-' | b'0'..=b'9') => 2,
        Some(b't' | b'f') => 3,
        Some(b'[') => 4,
        Some(b'{') => 5,
        _ => 6,
    };
    match (kind(a), kind(b)) {
        (2, 2) => return compare_number_text(a, b),
        (3, 3) => return a.starts_with('t').cmp(&b.starts_with('t')),
        (0, 0) => return Ordering::Equal,
        (x, y) if x != y && x != 4 && y != 4 => return x.cmp(&y),
        _ => {}
    }
    match (parse_json(a), parse_json(b)) {
        (Ok(x), Ok(y)) => compare_top_level(&x, &y),
        _ => comparison_form(a).cmp(&comparison_form(b)),
    }
}

fn compare_top_level(a: &JsonValue, b: &JsonValue) -> Ordering {
    let scalar = |v: &JsonValue| !matches!(v, JsonValue::Array(_) | JsonValue::Object(_));
    match (a, b) {
        (JsonValue::Array(items), s) if scalar(s) => items.len().cmp(&1).then(Ordering::Greater),
        (s, JsonValue::Array(items)) if scalar(s) => 1.cmp(&items.len()).then(Ordering::Less),
        _ => compare_values(a, b),
    }
}

fn compare_values(a: &JsonValue, b: &JsonValue) -> Ordering {
    use JsonValue as J;
    let rank = |v: &JsonValue| match v {
        J::Null => 0,
        J::String(_) => 1,
        J::Number(_) => 2,
        J::Bool(_) => 3,
        J::Array(_) => 4,
        J::Object(_) => 5,
    };
    match (a, b) {
        (J::Null, J::Null) => Ordering::Equal,
        (J::String(x), J::String(y)) => x.cmp(y),
        (J::Number(x), J::Number(y)) => compare_number_text(x, y),
        (J::Bool(x), J::Bool(y)) => x.cmp(y),
        (J::Array(x), J::Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|(a, b)| compare_values(a, b))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        }),
        (J::Object(x), J::Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|((ka, va), (kb, vb))| ka.cmp(kb).then_with(|| compare_values(va, vb)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        }),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Compares two numbers in numeric's output form (`-12.50`) by value, at any size.
fn compare_number_text(a: &str, b: &str) -> Ordering {
    // (negative, integer digits without leading zeros, fraction without trailing zeros)
    fn parts(text: &str) -> (bool, &str, &str) {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let (int, frac) = (int.trim_start_matches('0'), frac.trim_end_matches('0'));
        (negative && !(int.is_empty() && frac.is_empty()), int, frac)
    }
    if a.contains(['e', 'E']) || b.contains(['e', 'E']) {
        // Not canonical; normalize first.
        let (a, b) = (
            normalize_number_text(a).unwrap_or_else(|| a.to_string()),
            normalize_number_text(b).unwrap_or_else(|| b.to_string()),
        );
        if !a.contains(['e', 'E']) && !b.contains(['e', 'E']) {
            return compare_number_text(&a, &b);
        }
        return a.cmp(&b);
    }
    let (na, ia, fa) = parts(a);
    let (nb, ib, fb) = parts(b);
    let magnitude = ia
        .len()
        .cmp(&ib.len())
        .then_with(|| ia.cmp(ib))
        .then_with(|| fa.cmp(fb));
    match (na, nb) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

/// A parsed JSON value. Numbers keep their normalized text.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<JsonValue>),
    /// Keys sorted in jsonb order, without duplicates.
    Object(Vec<(String, JsonValue)>),
}

impl JsonValue {
    /// Postgres' name for the value's kind, as in `cannot cast jsonb object to ...`.
    pub fn kind(&self) -> &'static str {
        match self {
            JsonValue::Null => "null",
            JsonValue::Bool(_) => "boolean",
            JsonValue::Number(_) => "numeric",
            JsonValue::String(_) => "string",
            JsonValue::Array(_) => "array",
            JsonValue::Object(_) => "object",
        }
    }

    /// The canonical jsonb text of the value.
    pub fn to_canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut String) {
        match self {
            JsonValue::Null => out.push_str("null"),
            JsonValue::Bool(true) => out.push_str("true"),
            JsonValue::Bool(false) => out.push_str("false"),
            JsonValue::Number(n) => out.push_str(n),
            JsonValue::String(s) => write_json_string(out, s),
            JsonValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_canonical(out);
                }
                out.push(']');
            }
            JsonValue::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_json_string(out, key);
                    out.push_str(": ");
                    value.write_canonical(out);
                }
                out.push('}');
            }
        }
    }
}

/// Appends a JSON string literal with Postgres' escaping.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Postgres' error for bad JSON text. Postgres adds the cause as a DETAIL line, which
/// [`EvalError`] has no place for, so `_detail` only documents the cause here.
/// How deeply JSON arrays and objects may nest.
pub const MAX_JSON_DEPTH: usize = 256;

fn invalid_json(_detail: &str) -> EvalError {
    EvalError::InvalidTextRepresentation("invalid input syntax for type json".to_string())
}

/// Parses JSON text (errors read `invalid input syntax for type json`).
pub fn parse_json(text: &str) -> Result<JsonValue, EvalError> {
    let mut parser = JsonParser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        depth: 0,
    };
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        return Err(invalid_json("Expected end of input."));
    }
    Ok(value)
}

/// The canonical jsonb text of JSON text, for building [`Datum::Jsonb`].
pub fn canonical_jsonb(text: &str) -> Result<String, EvalError> {
    parse_json(text).map(|v| v.to_canonical())
}

/// Orders object keys the way jsonb stores them: shorter first, then bytewise.
fn jsonb_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl JsonParser<'_> {
    fn skip_whitespace(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<JsonValue, EvalError> {
        match self.bytes.get(self.pos) {
            None => Err(invalid_json("The input string ended unexpectedly.")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(JsonValue::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.literal(),
        }
    }

    fn enter(&mut self) -> Result<(), EvalError> {
        self.depth += 1;
        // Bounded so that parsing (and dropping, printing, comparing) a hostile document
        // cannot overflow the stack: a level of parsing takes about 2 KiB of stack in
        // debug builds, and documents are parsed on threads with 2 MiB stacks.
        if self.depth > MAX_JSON_DEPTH {
            return Err(EvalError::StackDepthLimitExceeded);
        }
        Ok(())
    }

    fn object(&mut self) -> Result<JsonValue, EvalError> {
        self.enter()?;
        self.pos += 1;
        let mut entries: Vec<(String, JsonValue)> = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(JsonValue::Object(entries));
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(invalid_json("Expected string or \"}\"."));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(invalid_json("Expected \":\"."));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value()?;
            entries.push((key, value));
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(invalid_json("Expected \",\" or \"}\".")),
            }
        }
        // Stable sort keeps duplicates in input order; keep the last of each run.
        entries.sort_by(|a, b| jsonb_key_order(&a.0, &b.0));
        let mut deduped: Vec<(String, JsonValue)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match deduped.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => deduped.push(entry),
            }
        }
        self.depth -= 1;
        Ok(JsonValue::Object(deduped))
    }

    fn array(&mut self) -> Result<JsonValue, EvalError> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(JsonValue::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value()?);
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(invalid_json("Expected \",\" or \"]\".")),
            }
        }
        self.depth -= 1;
        Ok(JsonValue::Array(items))
    }

    fn hex4(&mut self) -> Result<u32, EvalError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| invalid_json("\"\\u\" must be followed by four hexadecimal digits."))?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid_json(
                "\"\\u\" must be followed by four hexadecimal digits.",
            ));
        }
        let value = u32::from_str_radix(digits, 16)
            .map_err(|_| invalid_json("\"\\u\" must be followed by four hexadecimal digits."))?;
        self.pos += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, EvalError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while self
                .bytes
                .get(self.pos)
                .is_some_and(|b| *b != b'"' && *b != b'\\' && *b >= 0x20)
            {
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.bytes.get(self.pos) {
                None => return Err(invalid_json("The input string ended unexpectedly.")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self
                        .bytes
                        .get(self.pos)
                        .copied()
                        .ok_or_else(|| invalid_json("The input string ended unexpectedly."))?;
                    self.pos += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&first) {
                                if self.text.get(self.pos..self.pos + 2) != Some("\\u") {
                                    return Err(invalid_json(
                                        "Unicode high surrogate must not be followed by another character.",
                                    ));
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&second) {
                                    return Err(invalid_json(
                                        "Unicode low surrogate must follow a high surrogate.",
                                    ));
                                }
                                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                            } else {
                                first
                            };
                            if code == 0 {
                                return Err(EvalError::UntranslatableCharacter(
                                    "unsupported Unicode escape sequence (\\u0000 cannot be converted to text)"
                                        .to_string(),
                                ));
                            }
                            let c = char::from_u32(code).ok_or_else(|| {
                                invalid_json("Unicode low surrogate must follow a high surrogate.")
                            })?;
                            out.push(c);
                        }
                        _ => return Err(invalid_json("Escape sequence is invalid.")),
                    }
                }
                Some(_) => {
                    return Err(invalid_json(
                        "Character with value 0x00-0x1f must be escaped.",
                    ));
                }
            }
        }
    }

    fn number(&mut self) -> Result<JsonValue, EvalError> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        let int_len = self.pos - int_start;
        if int_len == 0 || (int_len > 1 && self.bytes[int_start] == b'0') {
            return Err(invalid_json("Token is invalid."));
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            let frac_start = self.pos;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == frac_start {
                return Err(invalid_json("Token is invalid."));
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp_start = self.pos;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == exp_start {
                return Err(invalid_json("Token is invalid."));
            }
        }
        if self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')
        {
            return Err(invalid_json("Token is invalid."));
        }
        let text = &self.text[start..self.pos];
        let normalized = normalize_number_text(text).ok_or_else(|| {
            EvalError::NumericValueOutOfRange(format!("value overflows numeric format: {text}"))
        })?;
        Ok(JsonValue::Number(normalized))
    }

    fn literal(&mut self) -> Result<JsonValue, EvalError> {
        let start = self.pos;
        while self
            .bytes
            .get(self.pos)
            .is_some_and(u8::is_ascii_alphanumeric)
        {
            self.pos += 1;
        }
        match &self.text[start..self.pos] {
            "true" => Ok(JsonValue::Bool(true)),
            "false" => Ok(JsonValue::Bool(false)),
            "null" => Ok(JsonValue::Null),
            "" => {
                let token: String = self.text[start..].chars().take(1).collect();
                Err(invalid_json(&format!("Token \"{token}\" is invalid.")))
            }
            token => Err(invalid_json(&format!("Token \"{token}\" is invalid."))),
        }
    }
}

/// A key or index into a jsonb document.
pub enum JsonbPath<'a> {
    Key(&'a str),
    Index(i64),
}

/// `j -> key` / `j -> index`: the element, or `None` when it does not exist.
pub fn jsonb_get(canonical: &str, path: JsonbPath) -> Result<Option<JsonValue>, EvalError> {
    let value = parse_json(canonical)?;
    Ok(match (value, path) {
        (JsonValue::Object(entries), JsonbPath::Key(key)) => {
            entries.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }
        (JsonValue::Array(mut items), JsonbPath::Index(index)) => {
            let len = items.len() as i64;
            let index = if index < 0 { len + index } else { index };
            if (0..len).contains(&index) {
                Some(items.swap_remove(index as usize))
            } else {
                None
            }
        }
        // Postgres stores a top-level scalar as a one-element "raw scalar" array, and
        // `->`/`->>` with an index see it as one: `'"x"'::jsonb ->> 0` is `x` (also
        // with index -1).
        (JsonValue::Object(_), JsonbPath::Index(_)) => None,
        (scalar, JsonbPath::Index(0 | -1)) => Some(scalar),
        _ => None,
    })
}

/// `j -> path` as a datum (jsonb, or `NULL`).
pub fn jsonb_get_datum(canonical: &str, path: JsonbPath) -> Result<Datum, EvalError> {
    Ok(match jsonb_get(canonical, path)? {
        Some(value) => Datum::Jsonb(JsonbText::from_canonical(value.to_canonical())),
        None => Datum::Null,
    })
}

/// `j ->> path` as a datum: strings unquoted, JSON null as SQL `NULL`.
pub fn jsonb_get_text_datum(canonical: &str, path: JsonbPath) -> Result<Datum, EvalError> {
    Ok(match jsonb_get(canonical, path)? {
        Some(JsonValue::String(s)) => Datum::text(&s),
        Some(JsonValue::Null) | None => Datum::Null,
        Some(value) => Datum::text(&value.to_canonical()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_documents_fail_with_a_depth_error() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_json(&nested(MAX_JSON_DEPTH)).is_ok());
        for n in [MAX_JSON_DEPTH + 1, 100_000] {
            let err = parse_json(&nested(n)).unwrap_err();
            assert_eq!(err, EvalError::StackDepthLimitExceeded);
            assert_eq!(err.code(), "54001");
        }
        let objects = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
        assert_eq!(
            parse_json(&objects).unwrap_err(),
            EvalError::StackDepthLimitExceeded
        );
    }

    #[test]
    fn canonical_text_matches_postgres() {
        let cases = [
            (
                r#"{"b":1,"a":[1,2],"aa":{"c":1.50}}"#,
                r#"{"a": [1, 2], "b": 1, "aa": {"c": 1.50}}"#,
            ),
            (r#"{"a":1,"a":2}"#, r#"{"a": 2}"#),
            (r#""\u00e9x\n""#, r#""éx\n""#),
            ("[]", "[]"),
            ("{}", "{}"),
            ("1e5", "100000"),
            ("-0", "0"),
            ("1.0E+2", "100"),
            (" [true, false , null] ", "[true, false, null]"),
            (r#""a\/b\"\\""#, r#""a/b\"\\""#),
            (r#""\ud83d\ude00""#, "\"😀\""),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical_jsonb(input).unwrap(), expected, "{input}");
            assert_eq!(canonical_jsonb(expected).unwrap(), expected, "{expected}");
        }
        for bad in [
            "x",
            "{",
            "[1,]",
            "01",
            "1.",
            "{\"a\" 1}",
            "\"\u{1}\"",
            "tru",
            "",
        ] {
            let err = canonical_jsonb(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid input syntax for type json"),
                "{bad}: {err}"
            );
        }
    }

    fn jsonb(text: &str) -> JsonbText {
        JsonbText::from_canonical(canonical_jsonb(text).unwrap())
    }

    #[test]
    fn numbers_compare_by_value_but_keep_their_text() {
        let pairs = [
            (r#"{"a": 1}"#, r#"{"a": 1.0}"#),
            ("[1.50, 2]", "[1.5, 2.000]"),
            ("0", "-0.0"),
            ("100", "1.00e2"),
            (r#"{"x": "1.0", "y": 10.10}"#, r#"{"x": "1.0", "y": 10.1}"#),
        ];
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        for (a, b) in pairs {
            let (x, y) = (jsonb(a), jsonb(b));
            assert_eq!(x, y, "{a} = {b}");
            assert_eq!(x.cmp(&y), Ordering::Equal, "{a} cmp {b}");
            assert_eq!(state.hash_one(&x), state.hash_one(&y), "{a} hash {b}");
        }
        // Strings holding number-like text are not numbers.
        assert_ne!(jsonb(r#""1.0""#), jsonb(r#""1""#));
        assert_ne!(jsonb("[1.01]"), jsonb("[1.1]"));
        assert_ne!(jsonb("10"), jsonb("1"));
        // Output keeps the input's scale, as Postgres prints it.
        assert_eq!(jsonb(r#"{"a": 1.0}"#).as_str(), r#"{"a": 1.0}"#);
        assert_eq!(
            Datum::Jsonb(jsonb("[1.0]")),
            Datum::Jsonb(jsonb("[1]")),
            "datums compare the same way"
        );
    }

    #[test]
    fn order_matches_postgres() {
        // Each is less than the next; checked against PostgreSQL 15.
        let ascending = [
            "null",
            r#""""#,
            r#""a\"""#,
            r#""a#""#,
            "-1.50",
            "-1.4",
            "0",
            "0.45",
            "0.5",
            "9",
            "10",
            "1e100",
            "false",
            "true",
            "[5]",
            "[[]]",
            "[1, 2]",
            "{}",
            r#"{"aa": 1}"#,
            r#"{"b": 1}"#,
            r#"{"b": 2}"#,
            r#"{"a": 1, "b": 1}"#,
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(jsonb(a).cmp(&jsonb(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
        // A top-level scalar counts as a one-element array against an array.
        assert_eq!(jsonb("5").cmp(&jsonb("[]")), Ordering::Greater);
        assert_eq!(jsonb("5").cmp(&jsonb("[1]")), Ordering::Less);
        assert_eq!(jsonb("5").cmp(&jsonb("[1, 2]")), Ordering::Less);
        assert_eq!(jsonb("[]").cmp(&jsonb("5")), Ordering::Less);
        assert_eq!(jsonb("5").cmp(&jsonb("{}")), Ordering::Less);
        assert_eq!(jsonb("[]").cmp(&jsonb("{}")), Ordering::Less);
    }

    #[test]
    fn scalar_is_a_one_element_array_for_index_access() {
        assert_eq!(
            jsonb_get_text_datum(r#""text""#, JsonbPath::Index(0)).unwrap(),
            Datum::text("text")
        );
        assert_eq!(
            jsonb_get_datum("5", JsonbPath::Index(-1)).unwrap(),
            Datum::Jsonb(jsonb("5"))
        );
        assert_eq!(
            jsonb_get_datum("null", JsonbPath::Index(0)).unwrap(),
            Datum::Jsonb(jsonb("null"))
        );
        assert_eq!(
            jsonb_get_text_datum("5", JsonbPath::Index(1)).unwrap(),
            Datum::Null
        );
        assert_eq!(
            jsonb_get_text_datum("5", JsonbPath::Key("a")).unwrap(),
            Datum::Null
        );
        assert_eq!(
            jsonb_get_text_datum("{}", JsonbPath::Index(0)).unwrap(),
            Datum::Null
        );
    }

    #[test]
    fn access_by_key_and_index() {
        let doc =
            canonical_jsonb(r#"{"a": {"b": [1, "x", null]}, "s": "str", "n": null}"#).unwrap();
        assert_eq!(
            jsonb_get_datum(&doc, JsonbPath::Key("a")).unwrap(),
            Datum::Jsonb(JsonbText::from_canonical(r#"{"b": [1, "x", null]}"#))
        );
        assert_eq!(
            jsonb_get_text_datum(&doc, JsonbPath::Key("s")).unwrap(),
            Datum::text("str")
        );
        assert_eq!(
            jsonb_get_datum(&doc, JsonbPath::Key("s")).unwrap(),
            Datum::Jsonb(JsonbText::from_canonical("\"str\""))
        );
        assert_eq!(
            jsonb_get_text_datum(&doc, JsonbPath::Key("n")).unwrap(),
            Datum::Null
        );
        assert_eq!(
            jsonb_get_datum(&doc, JsonbPath::Key("n")).unwrap(),
            Datum::Jsonb(JsonbText::from_canonical("null"))
        );
        assert_eq!(
            jsonb_get_datum(&doc, JsonbPath::Key("zz")).unwrap(),
            Datum::Null
        );
        assert_eq!(
            jsonb_get_datum(&doc, JsonbPath::Index(0)).unwrap(),
            Datum::Null
        );
        let array = "[1, \"x\", null]";
        assert_eq!(
            jsonb_get_text_datum(array, JsonbPath::Index(1)).unwrap(),
            Datum::text("x")
        );
        assert_eq!(
            jsonb_get_text_datum(array, JsonbPath::Index(-3)).unwrap(),
            Datum::text("1")
        );
        assert_eq!(
            jsonb_get_text_datum(array, JsonbPath::Index(3)).unwrap(),
            Datum::Null
        );
        assert_eq!(
            jsonb_get_text_datum(array, JsonbPath::Index(-4)).unwrap(),
            Datum::Null
        );
    }
}
