//! [`PackedRow`]: a row encoded as bytes, the form rows take inside arrangements.
//!
//! Arrangements sort, merge and copy their records many times over; a [`Row`] (a vector
//! of 24-byte [`Datum`]s, text behind reference counts) makes every one of those steps
//! walk enum variants. A packed row is one byte string: rows of up to 22 bytes (three or
//! four small integers, a short text) live inline in a 24-byte value, longer rows in one heap
//! allocation. Expressions still evaluate over [`Row`]s: operators pack when they
//! arrange and unpack ([`PackedRow::unpack`]) when they read.
//!
//! # Encoding
//!
//! A header byte (bit 0: the row holds a datum whose byte form is not canonical, see
//! below), then each datum as a tag byte and its payload: 64-bit integers in as few
//! big-endian bytes as their value needs (the length in the tag), smaller integers,
//! dates and times as big-endian bytes with the sign bit flipped, floats as their bits, decimals as
//! `rust_decimal`'s 16 bytes, intervals as months, days and microseconds, text, bytes
//! and jsonb as a varint length and the bytes, arrays and records as a varint count and
//! the encoded elements.
//!
//! # Equality, order, hashing
//!
//! For most types two datums are equal exactly when their encodings are (*canonical*
//! types: null, booleans, integers, text, bytes, dates, times, timestamps). Floats
//! (`0.0 = -0.0`), numerics (`1.0 = 1.00`), intervals (`'1 month' = '30 days'`), jsonb,
//! arrays and records are not: rows holding one are flagged in the header and compare,
//! hash and order column by column, such columns through their decoded [`Datum`]. Rows
//! without one compare as plain byte strings. Equal rows hold the same variants, hence
//! the same flag; so equality is exactly [`Row`]'s, and the order is a total order
//! consistent with it — but **not** the order of [`Row`]: nothing may rely on the order
//! of packed rows for SQL semantics (operators that sort unpack first).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ordered_float::OrderedFloat;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Datum, Interval, Row};

/// Bytes a packed row holds without a heap allocation.
const INLINE_BYTES: usize = 22;

/// Encoding buffer: rows up to 64 bytes are encoded without a heap allocation.
type Buffer = smallvec::SmallVec<[u8; 64]>;

/// Header bit: some datum's encoding is not canonical (see the module docs).
const NON_CANONICAL: u8 = 1;

mod tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const INT16: u8 = 3;
    pub const INT32: u8 = 4;
    pub const FLOAT32: u8 = 6;
    pub const FLOAT64: u8 = 7;
    pub const DECIMAL: u8 = 8;
    pub const TEXT: u8 = 9;
    pub const BYTES: u8 = 10;
    pub const DATE: u8 = 11;
    pub const TIME: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_TZ: u8 = 14;
    pub const INTERVAL: u8 = 15;
    pub const JSONB: u8 = 16;
    pub const ARRAY: u8 = 17;
    pub const RECORD: u8 = 18;
    /// 64-bit integers in as few bytes as their value needs: `INT64_NEGATIVE - n` for
    /// negative values whose complement needs `n` bytes, `INT64_POSITIVE + n` for
    /// non-negative values that need `n` bytes (0 to 8). The payload is the value's low
    /// `n` bytes, big-endian, so the encodings order like the integers.
    pub const INT64_NEGATIVE: u8 = 40;
    pub const INT64_POSITIVE: u8 = 41;
    pub const INT64_FIRST: u8 = INT64_NEGATIVE - 8;
    pub const INT64_LAST: u8 = INT64_POSITIVE + 8;
}

/// Whether datums with this tag are equal exactly when their encodings are.
#[inline]
fn canonical_tag(tag: u8) -> bool {
    !matches!(
        tag,
        tag::FLOAT32
            | tag::FLOAT64
            | tag::DECIMAL
            | tag::INTERVAL
            | tag::JSONB
            | tag::ARRAY
            | tag::RECORD
    )
}

/// A row encoded as bytes (see the module docs).
#[derive(Clone)]
pub enum PackedRow {
    /// Rows of up to [`INLINE_BYTES`] bytes; bytes past `len` are zero.
    Inline {
        len: u8,
        bytes: [u8; INLINE_BYTES],
    },
    Heap(Box<[u8]>),
}

impl Default for PackedRow {
    fn default() -> Self {
        PackedRow::from_bytes(&[0])
    }
}

impl PackedRow {
    /// Packs `datums`.
    pub fn pack<'a>(datums: impl IntoIterator<Item = &'a Datum>) -> PackedRow {
        let mut packer = RowPacker::new();
        for datum in datums {
            packer.push(datum);
        }
        packer.finish()
    }

    fn from_bytes(bytes: &[u8]) -> PackedRow {
        if bytes.len() <= INLINE_BYTES {
            let mut inline = [0; INLINE_BYTES];
            inline[..bytes.len()].copy_from_slice(bytes);
            PackedRow::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            PackedRow::Heap(bytes.into())
        }
    }

    /// The encoding, header included.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            PackedRow::Inline { len, bytes } => &bytes[..usize::from(*len)],
            PackedRow::Heap(bytes) => bytes,
        }
    }

    #[inline]
    fn canonical(&self) -> bool {
        self.as_bytes()
            .first()
            .is_none_or(|h| h & NON_CANONICAL == 0)
    }

    /// The datums' encodings, one byte slice per column.
    #[inline]
    fn columns(&self) -> Columns<'_> {
        Columns {
            rest: self.as_bytes().get(1..).unwrap_or(&[]),
        }
    }

    /// The decoded datums.
    pub fn iter(&self) -> impl Iterator<Item = Datum> + '_ {
        self.columns().map(|mut column| decode(&mut column))
    }

    /// The decoded row.
    pub fn unpack(&self) -> Row {
        self.iter().collect()
    }

    /// Appends the decoded datums to `datums`.
    pub fn unpack_into(&self, datums: &mut Vec<Datum>) {
        datums.extend(self.iter());
    }

    /// Whether some column is NULL.
    pub fn has_null(&self) -> bool {
        self.columns().any(|column| column[0] == tag::NULL)
    }

    /// The number of columns.
    pub fn arity(&self) -> usize {
        self.columns().count()
    }

    /// A packed row of the given columns, in the given order, copied without decoding.
    /// Columns past the end are skipped.
    pub fn project(&self, columns: &[usize]) -> PackedRow {
        let slices: smallvec::SmallVec<[&[u8]; 8]> = self.columns().collect();
        let mut packer = RowPacker::new();
        for &c in columns {
            if let Some(slice) = slices.get(c) {
                packer.push_encoded(slice);
            }
        }
        packer.finish()
    }

    /// Column `column` as an integer, without decoding the row: `Some(Some(v))` for a
    /// SMALLINT, INT or BIGINT, `Some(None)` for NULL, `None` for any other type or a
    /// column past the end. How joins on one integer column key rows by an `i64`.
    #[inline]
    pub fn int_column(&self, column: usize) -> Option<Option<i64>> {
        let encoded = self.columns().nth(column)?;
        let payload = &encoded[1..];
        match encoded[0] {
            tag::NULL => Some(None),
            tag::INT16 => Some(Some(
                ((u16::from_be_bytes(array(payload)) ^ (1 << 15)) as i16).into(),
            )),
            tag::INT32 => Some(Some(
                ((u32::from_be_bytes(array(payload)) ^ (1 << 31)) as i32).into(),
            )),
            t @ tag::INT64_FIRST..=tag::INT64_NEGATIVE => Some(Some(decode_i64(
                payload,
                usize::from(tag::INT64_NEGATIVE - t),
                true,
            ))),
            t @ tag::INT64_POSITIVE..=tag::INT64_LAST => Some(Some(decode_i64(
                payload,
                usize::from(t - tag::INT64_POSITIVE),
                false,
            ))),
            _ => None,
        }
    }

    /// A packed row of the given columns of `self` followed by `other` (column
    /// `self.arity() + i` is `other`'s column `i`), copied without decoding: how a join
    /// builds its output row. Columns past the end are skipped.
    pub fn project_pair(&self, other: &PackedRow, columns: &[usize]) -> PackedRow {
        let mut slices: smallvec::SmallVec<[&[u8]; 8]> = self.columns().collect();
        slices.extend(other.columns());
        let mut packer = RowPacker::new();
        for &c in columns {
            if let Some(slice) = slices.get(c) {
                packer.push_encoded(slice);
            }
        }
        packer.finish()
    }
}

/// Iterates over the encoded columns of a row.
struct Columns<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Columns<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let length = encoded_length(self.rest);
        let (column, rest) = self.rest.split_at(length);
        self.rest = rest;
        Some(column)
    }
}

/// Reads a varint at the start of `bytes`: its value and its length in bytes.
#[inline]
fn read_varint(bytes: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    for (index, byte) in bytes.iter().enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return (value, index + 1);
        }
    }
    (value, bytes.len())
}

fn write_varint(out: &mut Buffer, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The length of the encoded datum at the start of `bytes`.
#[inline]
fn encoded_length(bytes: &[u8]) -> usize {
    let payload = match bytes[0] {
        tag::NULL | tag::FALSE | tag::TRUE => 0,
        tag::INT16 => 2,
        tag::INT32 | tag::FLOAT32 | tag::DATE => 4,
        tag::FLOAT64 | tag::TIME | tag::TIMESTAMP | tag::TIMESTAMP_TZ => 8,
        t @ tag::INT64_FIRST..=tag::INT64_NEGATIVE => usize::from(tag::INT64_NEGATIVE - t),
        t @ tag::INT64_POSITIVE..=tag::INT64_LAST => usize::from(t - tag::INT64_POSITIVE),
        tag::DECIMAL | tag::INTERVAL => 16,
        tag::TEXT | tag::BYTES | tag::JSONB => {
            let (length, width) = read_varint(&bytes[1..]);
            width + length
        }
        _ => {
            let (count, width) = read_varint(&bytes[1..]);
            let mut offset = 1 + width;
            for _ in 0..count {
                offset += encoded_length(&bytes[offset..]);
            }
            offset - 1
        }
    };
    1 + payload
}

/// Builds packed rows; keeps its buffer between rows.
#[derive(Default)]
pub struct RowPacker {
    buffer: Buffer,
}

impl RowPacker {
    pub fn new() -> Self {
        RowPacker {
            buffer: smallvec::smallvec![0],
        }
    }

    /// Appends a datum.
    pub fn push(&mut self, datum: &Datum) {
        if self.buffer.is_empty() {
            self.buffer.push(0);
        }
        if encode(&mut self.buffer, datum) {
            self.buffer[0] |= NON_CANONICAL;
        }
    }

    /// Appends every column of a packed row, copied without decoding.
    pub fn push_row(&mut self, row: &PackedRow) {
        for column in row.columns() {
            self.push_encoded(column);
        }
    }

    /// Appends an already encoded datum.
    fn push_encoded(&mut self, encoded: &[u8]) {
        if self.buffer.is_empty() {
            self.buffer.push(0);
        }
        if !canonical_tag(encoded[0]) {
            self.buffer[0] |= NON_CANONICAL;
        }
        self.buffer.extend_from_slice(encoded);
    }

    /// The packed row of the datums pushed since the last `finish`.
    pub fn finish(&mut self) -> PackedRow {
        if self.buffer.is_empty() {
            self.buffer.push(0);
        }
        let row = PackedRow::from_bytes(&self.buffer);
        self.buffer.clear();
        self.buffer.push(0);
        row
    }
}

/// Flips the sign bit so that big-endian bytes order like the signed integers.
#[inline]
fn ordered_i64(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

/// Appends the encoding of `datum`; returns whether it is not canonical.
fn encode(out: &mut Buffer, datum: &Datum) -> bool {
    let start = out.len();
    match datum {
        Datum::Null => out.push(tag::NULL),
        Datum::Bool(false) => out.push(tag::FALSE),
        Datum::Bool(true) => out.push(tag::TRUE),
        Datum::Int16(v) => {
            out.push(tag::INT16);
            out.extend_from_slice(&((*v as u16) ^ (1 << 15)).to_be_bytes());
        }
        Datum::Int32(v) => {
            out.push(tag::INT32);
            out.extend_from_slice(&((*v as u32) ^ (1 << 31)).to_be_bytes());
        }
        Datum::Int64(v) => encode_i64(out, *v),
        Datum::Float32(v) => {
            out.push(tag::FLOAT32);
            out.extend_from_slice(&v.0.to_bits().to_be_bytes());
        }
        Datum::Float64(v) => {
            out.push(tag::FLOAT64);
            out.extend_from_slice(&v.0.to_bits().to_be_bytes());
        }
        Datum::Decimal(d) => {
            out.push(tag::DECIMAL);
            out.extend_from_slice(&d.serialize());
        }
        Datum::Text(s) => encode_bytes(out, tag::TEXT, s.as_bytes()),
        Datum::Bytes(b) => encode_bytes(out, tag::BYTES, b),
        Datum::Date(d) => {
            out.push(tag::DATE);
            out.extend_from_slice(&((*d as u32) ^ (1 << 31)).to_be_bytes());
        }
        Datum::Time(t) => {
            out.push(tag::TIME);
            out.extend_from_slice(&ordered_i64(*t));
        }
        Datum::Timestamp(t) => {
            out.push(tag::TIMESTAMP);
            out.extend_from_slice(&ordered_i64(*t));
        }
        Datum::TimestampTz(t) => {
            out.push(tag::TIMESTAMP_TZ);
            out.extend_from_slice(&ordered_i64(*t));
        }
        Datum::Interval(i) => {
            out.push(tag::INTERVAL);
            out.extend_from_slice(&i.months.to_be_bytes());
            out.extend_from_slice(&i.days.to_be_bytes());
            out.extend_from_slice(&i.micros.to_be_bytes());
        }
        Datum::Jsonb(j) => encode_bytes(out, tag::JSONB, j.as_str().as_bytes()),
        Datum::Array(items) | Datum::Record(items) => {
            out.push(if matches!(datum, Datum::Array(_)) {
                tag::ARRAY
            } else {
                tag::RECORD
            });
            write_varint(out, items.len());
            for item in items.iter() {
                encode(out, item);
            }
        }
    }
    !canonical_tag(out[start])
}

/// A 64-bit integer in as few bytes as it needs (see [`tag::INT64_NEGATIVE`]).
#[inline]
fn encode_i64(out: &mut Buffer, value: i64) {
    // Bytes needed for the magnitude: of the value, or of its complement if negative.
    let magnitude = if value < 0 { !value } else { value } as u64;
    let n = (64 - magnitude.leading_zeros()).div_ceil(8) as u8;
    out.push(if value < 0 {
        tag::INT64_NEGATIVE - n
    } else {
        tag::INT64_POSITIVE + n
    });
    out.extend_from_slice(&value.to_be_bytes()[8 - usize::from(n)..]);
}

/// Decodes [`encode_i64`]'s payload of `n` bytes (`negative`: sign-extend).
#[inline]
fn decode_i64(payload: &[u8], n: usize, negative: bool) -> i64 {
    let mut bytes = if negative { [0xff; 8] } else { [0; 8] };
    bytes[8 - n..].copy_from_slice(&payload[..n]);
    i64::from_be_bytes(bytes)
}

fn encode_bytes(out: &mut Buffer, tag: u8, bytes: &[u8]) {
    out.push(tag);
    write_varint(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

#[inline]
fn unordered_i64(bytes: &[u8]) -> i64 {
    (u64::from_be_bytes(array(bytes)) ^ (1 << 63)) as i64
}

/// Decodes the datum at the start of `bytes` and advances past it.
fn decode(bytes: &mut &[u8]) -> Datum {
    let length = encoded_length(bytes);
    let (encoded, rest) = bytes.split_at(length);
    *bytes = rest;
    let payload = &encoded[1..];
    match encoded[0] {
        tag::NULL => Datum::Null,
        tag::FALSE => Datum::Bool(false),
        tag::TRUE => Datum::Bool(true),
        tag::INT16 => Datum::Int16((u16::from_be_bytes(array(payload)) ^ (1 << 15)) as i16),
        tag::INT32 => Datum::Int32((u32::from_be_bytes(array(payload)) ^ (1 << 31)) as i32),
        tag::FLOAT32 => Datum::Float32(OrderedFloat(f32::from_bits(u32::from_be_bytes(array(
            payload,
        ))))),
        tag::FLOAT64 => Datum::Float64(OrderedFloat(f64::from_bits(u64::from_be_bytes(array(
            payload,
        ))))),
        tag::DECIMAL => Datum::Decimal(Decimal::deserialize(array(payload))),
        tag::TEXT => Datum::Text(Arc::from(text(payload))),
        tag::BYTES => Datum::Bytes(Arc::from(varint_bytes(payload))),
        tag::DATE => Datum::Date((u32::from_be_bytes(array(payload)) ^ (1 << 31)) as i32),
        tag::TIME => Datum::Time(unordered_i64(payload)),
        tag::TIMESTAMP => Datum::Timestamp(unordered_i64(payload)),
        tag::TIMESTAMP_TZ => Datum::TimestampTz(unordered_i64(payload)),
        tag::INTERVAL => Datum::Interval(Interval::new(
            i32::from_be_bytes(array(payload)),
            i32::from_be_bytes(array(&payload[4..])),
            i64::from_be_bytes(array(&payload[8..])),
        )),
        tag::JSONB => Datum::Jsonb(crate::jsonb::JsonbText::from_canonical(text(payload))),
        t @ tag::INT64_FIRST..=tag::INT64_NEGATIVE => Datum::Int64(decode_i64(
            payload,
            usize::from(tag::INT64_NEGATIVE - t),
            true,
        )),
        t @ tag::INT64_POSITIVE..=tag::INT64_LAST => Datum::Int64(decode_i64(
            payload,
            usize::from(t - tag::INT64_POSITIVE),
            false,
        )),
        tag => {
            let (count, width) = read_varint(payload);
            let mut rest = &payload[width..];
            let items: Vec<Datum> = (0..count).map(|_| decode(&mut rest)).collect();
            if tag == tag::ARRAY {
                Datum::Array(items.into())
            } else {
                Datum::Record(items.into())
            }
        }
    }
}

fn varint_bytes(payload: &[u8]) -> &[u8] {
    let (length, width) = read_varint(payload);
    &payload[width..width + length]
}

fn text(payload: &[u8]) -> &str {
    // Written from a `str` by `encode`; a failure would be a bug in this module.
    std::str::from_utf8(varint_bytes(payload)).unwrap_or_default()
}

/// Compares two encoded columns (see the module docs).
fn compare_columns(a: &[u8], b: &[u8]) -> Ordering {
    match (canonical_tag(a[0]), canonical_tag(b[0])) {
        (true, true) => a.cmp(b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => decode(&mut &a[..]).cmp(&decode(&mut &b[..])),
    }
}

/// The inline bytes as two big-endian words: comparing the words compares the zero-padded
/// bytes lexicographically, without a call to `memcmp`.
#[inline(always)]
fn inline_words(bytes: &[u8; INLINE_BYTES]) -> (u128, u64) {
    let mut high = [0u8; 16];
    let mut low = [0u8; 8];
    high.copy_from_slice(&bytes[..16]);
    low[..INLINE_BYTES - 16].copy_from_slice(&bytes[16..]);
    (u128::from_be_bytes(high), u64::from_be_bytes(low))
}

impl PartialEq for PackedRow {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        if let (PackedRow::Inline { len: a, bytes: x }, PackedRow::Inline { len: b, bytes: y }) =
            (self, other)
            && x[0] & NON_CANONICAL == 0
        {
            // Equal canonical rows have equal bytes; bytes past `len` are zero.
            return a == b && inline_words(x) == inline_words(y);
        }
        if self.canonical() {
            self.as_bytes() == other.as_bytes()
        } else {
            self.cmp(other) == Ordering::Equal
        }
    }
}

impl Eq for PackedRow {}

impl PartialOrd for PackedRow {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PackedRow {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        if let (PackedRow::Inline { len: a, bytes: x }, PackedRow::Inline { len: b, bytes: y }) =
            (self, other)
            && (x[0] | y[0]) & NON_CANONICAL == 0
        {
            // Two canonical inline rows: the zero-padded bytes, then the length, order
            // exactly as the byte strings do (a proper prefix pads with zeros, which are
            // never greater, and is shorter), so this agrees with the general path.
            return inline_words(x).cmp(&inline_words(y)).then_with(|| a.cmp(b));
        }
        let (a, b) = (self.as_bytes(), other.as_bytes());
        let header = |bytes: &[u8]| bytes.first().map_or(0, |h| h & NON_CANONICAL);
        match header(a).cmp(&header(b)) {
            Ordering::Equal if header(a) == 0 => a.cmp(b),
            Ordering::Equal => {
                let mut left = self.columns();
                let mut right = other.columns();
                loop {
                    match (left.next(), right.next()) {
                        (Some(x), Some(y)) => match compare_columns(x, y) {
                            Ordering::Equal => {}
                            order => return order,
                        },
                        (x, y) => return x.is_some().cmp(&y.is_some()),
                    }
                }
            }
            order => order,
        }
    }
}

impl Hash for PackedRow {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        if self.canonical() {
            self.as_bytes().hash(state);
        } else {
            for column in self.columns() {
                if canonical_tag(column[0]) {
                    column.hash(state);
                } else {
                    decode(&mut &column[..]).hash(state);
                }
            }
        }
    }
}

impl fmt::Debug for PackedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for PackedRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.as_bytes())
    }
}

impl<'de> Deserialize<'de> for PackedRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde::de::Deserialize::deserialize(deserializer)?;
        Ok(PackedRow::from_bytes(&bytes))
    }
}

impl From<&Row> for PackedRow {
    fn from(row: &Row) -> Self {
        PackedRow::pack(row.iter())
    }
}

impl From<&PackedRow> for Row {
    fn from(row: &PackedRow) -> Self {
        row.unpack()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;

    fn hash(row: &PackedRow) -> u64 {
        let mut hasher = DefaultHasher::new();
        row.hash(&mut hasher);
        hasher.finish()
    }

    fn sample_datums() -> Vec<Datum> {
        vec![
            Datum::Null,
            Datum::Bool(false),
            Datum::Bool(true),
            Datum::Int16(-3),
            Datum::Int32(i32::MIN),
            Datum::Int64(i64::MAX),
            Datum::Int64(-1),
            Datum::float32(-0.0),
            Datum::float64(f64::NAN),
            Datum::float64(1.5),
            Datum::Decimal(Decimal::new(100, 2)),
            Datum::text(""),
            Datum::text(&"long text ".repeat(30)),
            Datum::Bytes(Arc::from(&[0u8, 255, 7][..])),
            Datum::Date(-5),
            Datum::Time(86_399_000_000),
            Datum::Timestamp(-1),
            Datum::TimestampTz(1_700_000_000_000_000),
            Datum::Interval(Interval::new(1, -2, 3)),
            Datum::Jsonb(crate::jsonb::JsonbText::from_canonical("{\"a\": 1}")),
            Datum::Array(Arc::from(vec![Datum::Int32(1), Datum::Null])),
            Datum::Record(Arc::from(vec![
                Datum::text("x"),
                Datum::Array(Arc::from(vec![Datum::float64(2.0)])),
            ])),
        ]
    }

    #[test]
    fn every_datum_round_trips_exactly() {
        let datums = sample_datums();
        let row = Row::new(datums.clone());
        let packed = PackedRow::from(&row);
        assert!(matches!(packed, PackedRow::Heap(_)));
        let unpacked = packed.unpack();
        assert_eq!(unpacked, row);
        assert_eq!(packed.arity(), datums.len());
        // Representations survive, not only equality: -0.0 and the scale of 1.00.
        assert_eq!(format!("{unpacked:?}"), format!("{row:?}"));
        for datum in datums {
            let single = PackedRow::pack([&datum]);
            assert_eq!(format!("{:?}", single.unpack()[0]), format!("{datum:?}"));
        }
    }

    #[test]
    fn short_rows_are_inline_and_project_without_decoding() {
        let row = Row::new(vec![Datum::Int64(7), Datum::Int64(-9), Datum::Int64(11)]);
        let packed = PackedRow::from(&row);
        assert!(matches!(packed, PackedRow::Inline { .. }));
        assert_eq!(packed.project(&[2, 0]).unpack(), row.project(&[2, 0]));
        assert_eq!(packed.project(&[]).unpack(), Row::empty());
        assert!(!packed.has_null());
        assert!(PackedRow::pack([&Datum::Int64(1), &Datum::Null]).has_null());
        assert_eq!(std::mem::size_of::<PackedRow>(), 24);
        assert_eq!(PackedRow::default().unpack(), Row::empty());
        assert_eq!(PackedRow::default(), PackedRow::pack([]));
        let other = PackedRow::pack([&Datum::text("x"), &Datum::float64(-0.0)]);
        let pair = packed.project_pair(&other, &[4, 0, 3]);
        assert_eq!(
            pair.unpack(),
            Row::new(vec![
                Datum::float64(-0.0),
                Datum::Int64(7),
                Datum::text("x")
            ])
        );
        assert_eq!(
            pair,
            PackedRow::pack([&Datum::float64(0.0), &Datum::Int64(7), &Datum::text("x")])
        );
        let mut packer = RowPacker::new();
        packer.push_row(&other);
        packer.push(&Datum::Int64(3));
        assert_eq!(
            packer.finish().unpack(),
            Row::new(vec![
                Datum::text("x"),
                Datum::float64(-0.0),
                Datum::Int64(3)
            ])
        );
    }

    #[test]
    fn equality_and_hash_follow_datum_equality() {
        let pairs = [
            (Datum::float64(0.0), Datum::float64(-0.0)),
            (
                Datum::Decimal(Decimal::new(1, 0)),
                Datum::Decimal(Decimal::new(100, 2)),
            ),
            (
                Datum::Interval(Interval::new(1, 0, 0)),
                Datum::Interval(Interval::new(0, 30, 0)),
            ),
        ];
        for (a, b) in pairs {
            let left = PackedRow::pack([&Datum::Int32(1), &a]);
            let right = PackedRow::pack([&Datum::Int32(1), &b]);
            assert_eq!(a, b);
            assert_eq!(left, right, "{a:?} = {b:?}");
            assert_eq!(left.cmp(&right), Ordering::Equal);
            assert_eq!(hash(&left), hash(&right));
        }
        let a = PackedRow::pack([&Datum::text("ab")]);
        let b = PackedRow::pack([&Datum::text("a"), &Datum::text("b")]);
        assert_ne!(a, b);
        assert_ne!(
            PackedRow::pack([&Datum::Int32(1)]),
            PackedRow::pack([&Datum::Int64(1)])
        );
    }

    #[test]
    fn order_is_total_and_agrees_with_equality() {
        let datums = sample_datums();
        let mut rows: Vec<(Row, PackedRow)> = Vec::new();
        for a in &datums {
            for b in datums.iter().take(8) {
                let row = Row::new(vec![a.clone(), b.clone()]);
                let packed = PackedRow::from(&row);
                rows.push((row, packed));
            }
        }
        rows.push((Row::empty(), PackedRow::pack([])));
        for (row_a, a) in &rows {
            for (row_b, b) in &rows {
                assert_eq!(row_a == row_b, a == b, "{row_a:?} vs {row_b:?}");
                assert_eq!(a.cmp(b), b.cmp(a).reverse());
                if a == b {
                    assert_eq!(hash(a), hash(b));
                }
            }
        }
        let mut sorted: Vec<PackedRow> = rows.iter().map(|(_, p)| p.clone()).collect();
        sorted.sort();
        for window in sorted.windows(3) {
            assert!(window[0] <= window[1] && window[1] <= window[2]);
            assert!(window[0] <= window[2]);
        }
    }

    #[test]
    fn canonical_rows_order_as_their_byte_strings() {
        // The inline fast path must agree with comparing the byte strings, including
        // rows that differ only by trailing NULLs (tag 0, like the padding) and rows on
        // both sides of the inline limit.
        let mut rows = vec![PackedRow::pack([])];
        for text in [
            "",
            "a",
            "ab",
            "abcdefghijklmnopqrstuvwxyz",
            "abcdefghijklmnopqrstuvwxyz01",
        ] {
            for nulls in 0..3 {
                let mut datums = vec![Datum::text(text)];
                datums.extend(std::iter::repeat_n(Datum::Null, nulls));
                rows.push(PackedRow::pack(&datums));
                datums.insert(0, Datum::Int64(-1));
                rows.push(PackedRow::pack(&datums));
            }
        }
        for a in &rows {
            for b in &rows {
                assert_eq!(a.cmp(b), a.as_bytes().cmp(b.as_bytes()), "{a:?} vs {b:?}");
                assert_eq!(a == b, a.as_bytes() == b.as_bytes());
            }
        }
    }

    #[test]
    fn integers_order_numerically() {
        let values = [
            i64::MIN,
            i64::MIN + 1,
            -(1 << 40),
            -65537,
            -65536,
            -257,
            -256,
            -255,
            -5,
            -1,
            0,
            1,
            255,
            256,
            300,
            65535,
            1 << 40,
            i64::MAX - 1,
            i64::MAX,
        ];
        for value in values {
            let packed = PackedRow::pack([&Datum::Int64(value)]);
            assert_eq!(packed.unpack(), Row::new(vec![Datum::Int64(value)]));
        }
        for pair in values.windows(2) {
            let a = PackedRow::pack([&Datum::Int64(pair[0])]);
            let b = PackedRow::pack([&Datum::Int64(pair[1])]);
            assert!(a < b);
        }
    }
}
