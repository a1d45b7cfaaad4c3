//! Parquet files: a filesystem source that reads them with the Arrow reader, a batch at
//! a time, and a filesystem sink that writes rolling Parquet files with the Arrow writer.
//!
//! ```sql
//! CREATE TABLE trips (id BIGINT, fare NUMERIC(10,2), at TIMESTAMPTZ) WITH (
//!   'connector' = 'filesystem', 'path' = '/data/trips/*.parquet', 'format' = 'parquet');
//! CREATE SINK out FROM v WITH ('connector' = 'filesystem', 'path' = '/data/out',
//!   'format' = 'parquet', 'sink.rolling-policy.file-size' = '128MB');
//! ```
//!
//! # Source
//!
//! The files are listed as for the line formats ([`crate::file::list_files`]: one file,
//! a directory, or a glob; file `i` of the name order goes to split `i mod n`; tailing
//! with `'source.monitor-interval'`). Each file is read with the Parquet Arrow reader in
//! record batches of [`BATCH_ROWS`] rows, only the table's columns (a projection), so
//! memory holds one batch per reader. Table columns are matched to the file's top-level
//! columns by name, ignoring case; a file column the table does not declare is not read;
//! a table column the file lacks is `NULL` (if nullable). Types are checked when a file
//! is opened: a column whose Parquet/Arrow type cannot become the column's SQL type
//! refuses the whole file with one error naming the file, the column and both types,
//! which goes to the source's `'on-error'` policy like a bad message (its position is
//! `file@0`). A value that does not fit (an unsigned 64-bit integer above `BIGINT`'s
//! range, a decimal with more than 28 digits) is an error for that row only.
//!
//! Positions are `file@row`, the 1-based row index within the file.
//!
//! The reader hands each row to the engine as a [`Message`] whose payload is the row
//! already converted (byte 0, then the row's packed bytes) or the error's text (which
//! never starts with byte 0, and is what a dead-letter table shows as the payload);
//! [`ParquetRowDecoder`] turns it back. `'format' = 'parquet'` is
//! therefore only accepted by the `filesystem` connector.
//!
//! Accepted conversions (Arrow type → SQL type):
//!
//! | Arrow | SQL |
//! |---|---|
//! | Boolean | BOOLEAN |
//! | Int8..Int64, UInt8..UInt64 | SMALLINT, INT, BIGINT (range-checked), REAL, DOUBLE, NUMERIC |
//! | Float16/32/64 | REAL, DOUBLE |
//! | Decimal128(p, s), s ≤ 28 | NUMERIC |
//! | Utf8, LargeUtf8, Utf8View | TEXT, VARCHAR; NUMERIC, INTERVAL, JSONB (parsed) |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | BYTEA |
//! | Date32, Date64 | DATE |
//! | Time32, Time64 | TIME |
//! | Timestamp(s/ms/us/ns, no zone) | TIMESTAMP, TIMESTAMPTZ (as UTC) |
//! | Timestamp(s/ms/us/ns, zone) | TIMESTAMPTZ, TIMESTAMP (UTC wall time) |
//! | List, LargeList | arrays of a matching element type |
//! | Struct | records (fields matched by name, ignoring case) |
//!
//! # Sink
//!
//! Each worker writes `part-<worker>-<n>.parquet` in the `path` directory, first as a
//! hidden `.part-...parquet.inprogress` file renamed once closed. Rows are buffered up to
//! [`BATCH_ROWS`] and written as a record batch. A Parquet file is only readable once
//! its footer is written, so, as Flink does for bulk formats, the file is closed and
//! renamed at every completed timestamp that wrote rows to it (a completed timestamp is
//! durable and visible), and also as soon as it passes `'sink.rolling-policy.file-size'`.
//! Files are append-only: `'sink.mode'` = `'upsert'` is refused at `CREATE`; in the
//! default `'append-only'` mode the engine reports retractions in `SHOW SINKS` and does
//! not pass them on (one reaching the writer anyway is counted in `dropped_retractions`
//! and not written, as for JSON-lines files).
//!
//! The file schema follows the sink's columns: BOOLEAN → Boolean, SMALLINT/INT/BIGINT →
//! Int16/Int32/Int64, REAL/DOUBLE → Float32/Float64, NUMERIC(p, s) → Decimal128(p, s)
//! (an unconstrained NUMERIC, INTERVAL and JSONB as their text), TEXT/VARCHAR → Utf8,
//! BYTEA → Binary, DATE → Date32, TIME → Time64(µs), TIMESTAMP → Timestamp(µs),
//! TIMESTAMPTZ → Timestamp(µs, "UTC"), arrays → List, records → Struct.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    StructArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use laaster_repr::{Datum, Diff, PackedRow, RelationDesc, Row, ScalarType, Timestamp};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::api::{ConnectorError, Message, Poll, Position, SinkWriter, SourceReader};
use crate::file::{FileSourceOptions, list_files};
use crate::format::{Decoder, Encoder, FormatError};

/// The Arrow and Parquet crates this module reads and writes with, for callers that
/// build or inspect Parquet files (tests of other crates).
pub use ::parquet as parquet_crate;
pub use arrow_array;
pub use arrow_schema;

/// Rows per record batch, read or written.
pub const BATCH_ROWS: usize = 1024;

const TAG_ROW: u8 = 0;

// ---------------------------------------------------------------------------------------
// Source
// ---------------------------------------------------------------------------------------

/// The file being read: its batches, how its columns map to the table's, and how many
/// rows were handed out.
struct OpenFile {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    /// Rows converted from the last batch, not yet handed out: (1-based row, row or error).
    rows: VecDeque<(u64, Result<Row, String>)>,
    next_row: u64,
}

/// Reads one split's Parquet files.
pub struct ParquetReader {
    options: FileSourceOptions,
    columns: RelationDesc,
    split: usize,
    splits: usize,
    seen: BTreeSet<PathBuf>,
    queue: VecDeque<PathBuf>,
    current: Option<OpenFile>,
    last_listing: Instant,
    batch_rows: usize,
}

impl ParquetReader {
    pub fn open(
        options: &FileSourceOptions,
        columns: &RelationDesc,
        split: usize,
        splits: usize,
    ) -> Result<ParquetReader, ConnectorError> {
        let mut reader = ParquetReader {
            options: options.clone(),
            columns: columns.clone(),
            split,
            splits: splits.max(1),
            seen: BTreeSet::new(),
            queue: VecDeque::new(),
            current: None,
            last_listing: Instant::now(),
            batch_rows: BATCH_ROWS,
        };
        reader.list()?;
        Ok(reader)
    }

    /// Reads record batches of `rows` rows (default [`BATCH_ROWS`]).
    pub fn with_batch_rows(mut self, rows: usize) -> ParquetReader {
        self.batch_rows = rows.max(1);
        self
    }

    fn list(&mut self) -> Result<(), ConnectorError> {
        self.last_listing = Instant::now();
        for file in list_files(&self.options.path)? {
            if self.seen.insert(file.clone()) && (self.seen.len() - 1) % self.splits == self.split {
                self.queue.push_back(file);
            }
        }
        Ok(())
    }

    /// Opens `path`: `Err` with the message for the whole file when it cannot be read
    /// or its columns do not fit the table.
    fn open_file(&self, path: &Path) -> Result<OpenFile, String> {
        let file =
            File::open(path).map_err(|e| format!("cannot open '{}': {e}", path.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            format!(
                "'{}' is not a readable Parquet file: {e} (hint: every file matching 'path' must be Parquet; write files elsewhere and rename them into place when complete)",
                path.display()
            )
        })?;
        let schema = builder.schema().clone();
        let mut roots = Vec::new();
        for column in &self.columns.columns {
            match find_field(schema.fields(), &column.name) {
                Some(index) => {
                    let field = &schema.fields()[index];
                    if !compatible(field.data_type(), &column.typ.scalar) {
                        return Err(format!(
                            "file '{}': column \"{}\" is {} in the file but {} in the table (hint: declare the column with a type the file's type converts to, or cast it in a view over a TEXT/BIGINT column)",
                            path.display(),
                            column.name,
                            field.data_type(),
                            column.typ.scalar
                        ));
                    }
                    roots.push(index);
                }
                None if column.typ.nullable => {}
                None => {
                    return Err(format!(
                        "file '{}' has no column \"{}\", which is NOT NULL in the table (hint: the file's columns are {})",
                        path.display(),
                        column.name,
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        roots.sort_unstable();
        roots.dedup();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let batches = builder
            .with_projection(mask)
            .with_batch_size(self.batch_rows)
            .build()
            .map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
        Ok(OpenFile {
            path: path.to_path_buf(),
            batches,
            rows: VecDeque::new(),
            next_row: 1,
        })
    }
}

/// The index of the field named `name`: an exact match, else one ignoring case.
fn find_field(fields: &Fields, name: &str) -> Option<usize> {
    fields.iter().position(|f| f.name() == name).or_else(|| {
        fields
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(name))
    })
}

/// Whether values of Arrow type `from` convert to SQL type `to`.
fn compatible(from: &DataType, to: &ScalarType) -> bool {
    use DataType as D;
    use ScalarType as S;
    match (from, to) {
        (D::Null, _) => true,
        (D::Boolean, S::Bool) => true,
        (
            D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64,
            S::Int16 | S::Int32 | S::Int64 | S::Float32 | S::Float64 | S::Decimal { .. },
        ) => true,
        (D::Float16 | D::Float32 | D::Float64, S::Float32 | S::Float64) => true,
        (D::Decimal128(_, scale), S::Decimal { .. }) => (0..=28).contains(scale),
        (
            D::Utf8 | D::LargeUtf8 | D::Utf8View,
            S::Text | S::VarChar { .. } | S::Decimal { .. } | S::Interval | S::Jsonb,
        ) => true,
        (D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_), S::Bytea) => true,
        (D::Date32 | D::Date64, S::Date) => true,
        (
            D::Time32(TimeUnit::Second | TimeUnit::Millisecond)
            | D::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond),
            S::Time,
        ) => true,
        // Dictionary-encoded columns (pandas categoricals) are decoded to their values.
        (D::Dictionary(_, value), to) => compatible(value, to),
        (D::Timestamp(_, _), S::Timestamp | S::TimestampTz) => true,
        (D::List(element) | D::LargeList(element), S::Array(inner)) => {
            compatible(element.data_type(), inner)
        }
        (D::Struct(fields), S::Record(record)) => record.iter().all(|(name, typ)| {
            find_field(fields, name).is_none_or(|i| compatible(fields[i].data_type(), typ))
        }),
        _ => false,
    }
}

/// Converts the rows of `batch` (projected to the table's columns) to table rows.
fn convert_batch(
    batch: &RecordBatch,
    columns: &RelationDesc,
    first_row: u64,
    out: &mut VecDeque<(u64, Result<Row, String>)>,
) {
    let schema = batch.schema();
    let arrays: Vec<Option<Result<ArrayRef, String>>> = columns
        .columns
        .iter()
        .map(|c| {
            find_field(schema.fields(), &c.name).map(|i| {
                let array = batch.column(i);
                match array.data_type() {
                    DataType::Dictionary(_, value) => arrow_cast::cast(array, value)
                        .map_err(|e| format!("cannot decode the dictionary: {e}")),
                    _ => Ok(array.clone()),
                }
            })
        })
        .collect();
    for i in 0..batch.num_rows() {
        let mut datums = Vec::with_capacity(columns.arity());
        let mut error = None;
        for (column, array) in columns.columns.iter().zip(&arrays) {
            let datum = match array {
                Some(Err(e)) => {
                    error = Some(format!("column \"{}\": {e}", column.name));
                    break;
                }
                Some(Ok(array)) => match datum_at(array.as_ref(), i, &column.typ.scalar) {
                    Ok(datum) => datum,
                    Err(e) => {
                        error = Some(format!("column \"{}\": {e}", column.name));
                        break;
                    }
                },
                None => Datum::Null,
            };
            if datum.is_null() && !column.typ.nullable {
                error = Some(format!(
                    "column \"{}\" is NOT NULL in the table but the value is null",
                    column.name
                ));
                break;
            }
            datums.push(datum);
        }
        let row = first_row + i as u64;
        out.push_back((
            row,
            match error {
                None => Ok(Row::new(datums)),
                Some(e) => Err(e),
            },
        ));
    }
}

fn int_datum(value: i128, to: &ScalarType) -> Result<Datum, String> {
    let out_of_range = || format!("{value} is out of range for {to}");
    Ok(match to {
        ScalarType::Int16 => Datum::Int16(i16::try_from(value).map_err(|_| out_of_range())?),
        ScalarType::Int32 => Datum::Int32(i32::try_from(value).map_err(|_| out_of_range())?),
        ScalarType::Int64 => Datum::Int64(i64::try_from(value).map_err(|_| out_of_range())?),
        ScalarType::Float32 => Datum::float32(value as f32),
        ScalarType::Float64 => Datum::float64(value as f64),
        ScalarType::Decimal { .. } => {
            Datum::Decimal(Decimal::try_from_i128_with_scale(value, 0).map_err(|_| out_of_range())?)
        }
        other => return Err(format!("an integer cannot become {other}")),
    })
}

fn float_datum(value: f64, to: &ScalarType) -> Result<Datum, String> {
    Ok(match to {
        ScalarType::Float32 => Datum::float32(value as f32),
        ScalarType::Float64 => Datum::float64(value),
        other => return Err(format!("a float cannot become {other}")),
    })
}

/// Microseconds from a value in `unit`, rounding towards negative infinity.
fn to_micros(value: i64, unit: &TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => value.checked_mul(1_000_000),
        TimeUnit::Millisecond => value.checked_mul(1_000),
        TimeUnit::Microsecond => Some(value),
        TimeUnit::Nanosecond => Some(value.div_euclid(1_000)),
    }
}

/// The value of row `i` of `array` as a datum of SQL type `to` (the types were checked
/// with [`compatible`]).
fn datum_at(array: &dyn Array, i: usize, to: &ScalarType) -> Result<Datum, String> {
    use DataType as D;
    if array.is_null(i) {
        return Ok(Datum::Null);
    }
    Ok(match array.data_type() {
        D::Null => Datum::Null,
        D::Boolean => Datum::Bool(array.as_boolean().value(i)),
        D::Int8 => int_datum(array.as_primitive::<Int8Type>().value(i).into(), to)?,
        D::Int16 => int_datum(array.as_primitive::<Int16Type>().value(i).into(), to)?,
        D::Int32 => int_datum(array.as_primitive::<Int32Type>().value(i).into(), to)?,
        D::Int64 => int_datum(array.as_primitive::<Int64Type>().value(i).into(), to)?,
        D::UInt8 => int_datum(array.as_primitive::<UInt8Type>().value(i).into(), to)?,
        D::UInt16 => int_datum(array.as_primitive::<UInt16Type>().value(i).into(), to)?,
        D::UInt32 => int_datum(array.as_primitive::<UInt32Type>().value(i).into(), to)?,
        D::UInt64 => int_datum(array.as_primitive::<UInt64Type>().value(i).into(), to)?,
        D::Float16 => float_datum(array.as_primitive::<Float16Type>().value(i).to_f64(), to)?,
        D::Float32 => float_datum(array.as_primitive::<Float32Type>().value(i).into(), to)?,
        D::Float64 => float_datum(array.as_primitive::<Float64Type>().value(i), to)?,
        D::Decimal128(_, scale) => {
            let mantissa = array.as_primitive::<Decimal128Type>().value(i);
            let scale = u32::try_from(*scale).map_err(|_| format!("negative scale {scale}"))?;
            Datum::Decimal(
                Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| {
                    format!("decimal {mantissa}e-{scale} has more than 28 digits (NUMERIC's limit)")
                })?,
            )
        }
        D::Utf8 => text_datum(array.as_string::<i32>().value(i), to)?,
        D::LargeUtf8 => text_datum(array.as_string::<i64>().value(i), to)?,
        D::Utf8View => text_datum(array.as_string_view().value(i), to)?,
        D::Binary => Datum::Bytes(Arc::from(array.as_binary::<i32>().value(i))),
        D::LargeBinary => Datum::Bytes(Arc::from(array.as_binary::<i64>().value(i))),
        D::BinaryView => Datum::Bytes(Arc::from(array.as_binary_view().value(i))),
        D::FixedSizeBinary(_) => Datum::Bytes(Arc::from(array.as_fixed_size_binary().value(i))),
        D::Date32 => Datum::Date(array.as_primitive::<Date32Type>().value(i)),
        D::Date64 => {
            let millis = array.as_primitive::<Date64Type>().value(i);
            let days = millis.div_euclid(86_400_000);
            Datum::Date(
                i32::try_from(days).map_err(|_| format!("date64 {millis} is out of range"))?,
            )
        }
        D::Time32(TimeUnit::Second) => {
            Datum::Time(i64::from(array.as_primitive::<Time32SecondType>().value(i)) * 1_000_000)
        }
        D::Time32(TimeUnit::Millisecond) => {
            Datum::Time(i64::from(array.as_primitive::<Time32MillisecondType>().value(i)) * 1_000)
        }
        D::Time64(TimeUnit::Nanosecond) => {
            Datum::Time(array.as_primitive::<Time64NanosecondType>().value(i) / 1_000)
        }
        D::Time64(TimeUnit::Microsecond) => {
            Datum::Time(array.as_primitive::<Time64MicrosecondType>().value(i))
        }
        D::Timestamp(unit, _) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
            };
            let micros = to_micros(value, unit)
                .ok_or_else(|| format!("timestamp {value} is out of range"))?;
            match to {
                ScalarType::TimestampTz => Datum::TimestampTz(micros),
                _ => Datum::Timestamp(micros),
            }
        }
        D::List(_) => {
            let list = array.as_list::<i32>();
            list_datum(list.value(i).as_ref(), to)?
        }
        D::LargeList(_) => {
            let list = array.as_list::<i64>();
            list_datum(list.value(i).as_ref(), to)?
        }
        D::Struct(fields) => {
            let ScalarType::Record(record) = to else {
                return Err(format!("a struct cannot become {to}"));
            };
            let structs = array.as_struct();
            let mut values = Vec::with_capacity(record.len());
            for (name, typ) in record {
                values.push(match find_field(fields, name) {
                    Some(index) => datum_at(structs.column(index).as_ref(), i, typ)
                        .map_err(|e| format!("field \"{name}\": {e}"))?,
                    None => Datum::Null,
                });
            }
            Datum::Record(values.into())
        }
        other => return Err(format!("unsupported Arrow type {other}")),
    })
}

fn list_datum(values: &dyn Array, to: &ScalarType) -> Result<Datum, String> {
    let ScalarType::Array(element) = to else {
        return Err(format!("a list cannot become {to}"));
    };
    let mut out = Vec::with_capacity(values.len());
    for j in 0..values.len() {
        out.push(datum_at(values, j, element)?);
    }
    Ok(Datum::Array(out.into()))
}

fn text_datum(text: &str, to: &ScalarType) -> Result<Datum, String> {
    match to {
        ScalarType::Text | ScalarType::VarChar { .. } => Ok(Datum::text(text)),
        other => laaster_repr::strconv::parse_datum(text, other)
            .map_err(|e| format!("text {text:?} is not a valid {other}: {e}")),
    }
}

impl SourceReader for ParquetReader {
    fn poll(
        &mut self,
        max: usize,
        _timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        let mut produced = 0;
        while produced < max {
            if self.current.is_none() {
                if self.queue.is_empty() {
                    if let Some(interval) = self.options.monitor_interval
                        && self.last_listing.elapsed() >= interval
                    {
                        self.list()?;
                    }
                    if self.queue.is_empty() {
                        break;
                    }
                }
                let Some(path) = self.queue.pop_front() else {
                    break;
                };
                match self.open_file(&path) {
                    Ok(open) => self.current = Some(open),
                    Err(message) => {
                        // The whole file is refused: one error, at row 0.
                        out.push(error_message(&path, 0, &message));
                        produced += 1;
                        continue;
                    }
                }
            }
            let Some(open) = self.current.as_mut() else {
                break;
            };
            if let Some((row, converted)) = open.rows.pop_front() {
                out.push(match converted {
                    Ok(row_value) => Message {
                        position: position(&open.path, row),
                        key: None,
                        payload: encode_row(&row_value),
                        metadata: Default::default(),
                    },
                    Err(e) => error_message(
                        &open.path,
                        row,
                        &format!("file '{}', row {row}: {e}", open.path.display()),
                    ),
                });
                produced += 1;
                continue;
            }
            match open.batches.next() {
                None => self.current = None,
                Some(Ok(batch)) => {
                    let first = open.next_row;
                    open.next_row += batch.num_rows() as u64;
                    convert_batch(&batch, &self.columns, first, &mut open.rows);
                }
                Some(Err(e)) => {
                    // A corrupt page: the rest of the file cannot be read.
                    let message = format!(
                        "cannot read '{}' after row {}: {e}",
                        open.path.display(),
                        open.next_row - 1
                    );
                    let row = open.next_row;
                    let path = open.path.clone();
                    self.current = None;
                    out.push(error_message(&path, row, &message));
                    produced += 1;
                }
            }
        }
        Ok(if produced > 0 {
            Poll::Ready
        } else if self.options.monitor_interval.is_some() {
            Poll::Idle
        } else {
            Poll::Done
        })
    }

    fn commit(&mut self, _through: &Position) -> Result<(), ConnectorError> {
        // As for the line formats, files are re-read from the start after a restart.
        Ok(())
    }
}

fn position(path: &Path, row: u64) -> Position {
    Position {
        partition: path.display().to_string(),
        offset: row.to_string(),
    }
}

fn error_message(path: &Path, row: u64, message: &str) -> Message {
    let mut payload = message.as_bytes().to_vec();
    if payload.first() == Some(&TAG_ROW) {
        payload[0] = b' ';
    }
    Message {
        position: position(path, row),
        key: None,
        payload,
        metadata: Default::default(),
    }
}

fn encode_row(row: &Row) -> Vec<u8> {
    let packed = PackedRow::from(row);
    let bytes = packed.as_bytes();
    let mut payload = Vec::with_capacity(bytes.len() + 1);
    payload.push(TAG_ROW);
    payload.extend_from_slice(bytes);
    payload
}

/// Turns the messages of a [`ParquetReader`] back into rows (or their errors).
pub struct ParquetRowDecoder;

impl Decoder for ParquetRowDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<(Row, Diff)>) -> Result<(), FormatError> {
        match payload.split_first() {
            Some((&TAG_ROW, bytes)) => {
                let deserializer = serde::de::value::SeqDeserializer::<_, serde::de::value::Error>::new(
                    bytes.iter().copied(),
                );
                let packed = PackedRow::deserialize(deserializer).map_err(|e| {
                    FormatError::new(format!("internal error: a Parquet row does not unpack: {e}"))
                })?;
                out.push((packed.unpack(), 1));
                Ok(())
            }
            Some(_) => Err(FormatError::new(String::from_utf8_lossy(payload).into_owned())),
            None => Err(FormatError::new(
                "format 'parquet' decodes only rows read from Parquet files by the filesystem connector",
            )
            .hint("use 'connector' = 'filesystem' with 'format' = 'parquet'")),
        }
    }
}

/// Parquet has no per-message encoding: the filesystem sink writes whole files.
pub struct ParquetMessageEncoder;

impl Encoder for ParquetMessageEncoder {
    fn encode(&mut self, _row: &Row, _diff: Diff, _out: &mut Vec<u8>) -> Result<(), FormatError> {
        Err(
            FormatError::new("format 'parquet' writes files, not messages")
                .hint("use 'connector' = 'filesystem' with 'format' = 'parquet'"),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Sink
// ---------------------------------------------------------------------------------------

/// The Arrow type a sink column of SQL type `typ` is written as.
pub fn arrow_type(typ: &ScalarType) -> DataType {
    match typ {
        ScalarType::Bool => DataType::Boolean,
        ScalarType::Int16 => DataType::Int16,
        ScalarType::Int32 => DataType::Int32,
        ScalarType::Int64 => DataType::Int64,
        ScalarType::Float32 => DataType::Float32,
        ScalarType::Float64 => DataType::Float64,
        ScalarType::Decimal {
            precision: Some(precision),
            scale,
        } => DataType::Decimal128((*precision).clamp(1, 38), scale.unwrap_or(0) as i8),
        ScalarType::Bytea => DataType::Binary,
        ScalarType::Date => DataType::Date32,
        ScalarType::Time => DataType::Time64(TimeUnit::Microsecond),
        ScalarType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        ScalarType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ScalarType::Array(element) => {
            DataType::List(Arc::new(Field::new("item", arrow_type(element), true)))
        }
        ScalarType::Record(fields) => DataType::Struct(
            fields
                .iter()
                .map(|(name, typ)| Field::new(name, arrow_type(typ), true))
                .collect(),
        ),
        // Unconstrained NUMERIC, text, intervals, jsonb: their text.
        _ => DataType::Utf8,
    }
}

/// The Arrow schema of a sink's files.
pub fn sink_schema(columns: &RelationDesc) -> Schema {
    Schema::new(
        columns
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(&c.typ.scalar), true))
            .collect::<Vec<_>>(),
    )
}

fn type_error(datum: &Datum, typ: &ScalarType) -> String {
    format!("value {datum:?} does not fit a {typ} column")
}

/// Builds the Arrow array of SQL type `typ` holding `values`.
fn build_array(typ: &ScalarType, values: &[&Datum]) -> Result<ArrayRef, String> {
    fn each<T>(
        values: &[&Datum],
        typ: &ScalarType,
        f: impl Fn(&Datum) -> Option<T>,
    ) -> Result<Vec<Option<T>>, String> {
        values
            .iter()
            .map(|d| match d {
                Datum::Null => Ok(None),
                d => f(d).map(Some).ok_or_else(|| type_error(d, typ)),
            })
            .collect()
    }
    let int = |d: &Datum| d.as_i64();
    Ok(match typ {
        ScalarType::Bool => Arc::new(BooleanArray::from(each(values, typ, Datum::as_bool)?)),
        ScalarType::Int16 => Arc::new(Int16Array::from(each(values, typ, |d| {
            int(d).and_then(|v| i16::try_from(v).ok())
        })?)),
        ScalarType::Int32 => Arc::new(Int32Array::from(each(values, typ, |d| {
            int(d).and_then(|v| i32::try_from(v).ok())
        })?)),
        ScalarType::Int64 => Arc::new(Int64Array::from(each(values, typ, int)?)),
        ScalarType::Float32 => Arc::new(Float32Array::from(each(values, typ, |d| match d {
            Datum::Float32(f) => Some(f.0),
            Datum::Float64(f) => Some(f.0 as f32),
            _ => None,
        })?)),
        ScalarType::Float64 => Arc::new(Float64Array::from(each(values, typ, |d| match d {
            Datum::Float32(f) => Some(f64::from(f.0)),
            Datum::Float64(f) => Some(f.0),
            _ => None,
        })?)),
        ScalarType::Decimal {
            precision: Some(_), ..
        } => {
            let DataType::Decimal128(precision, scale) = arrow_type(typ) else {
                return Err(format!("internal error: no decimal type for {typ}"));
            };
            let mantissas = each(values, typ, |d| match d {
                Datum::Decimal(v) => {
                    let mut v = *v;
                    v.rescale(scale as u32);
                    (v.scale() == scale as u32).then(|| v.mantissa())
                }
                d => d.as_i64().map(|v| i128::from(v) * 10i128.pow(scale as u32)),
            })?;
            Arc::new(
                Decimal128Array::from(mantissas)
                    .with_precision_and_scale(precision, scale)
                    .map_err(|e| e.to_string())?,
            )
        }
        ScalarType::Bytea => {
            let mut bytes: Vec<Option<&[u8]>> = Vec::with_capacity(values.len());
            for d in values {
                bytes.push(match d {
                    Datum::Null => None,
                    Datum::Bytes(b) => Some(b.as_ref()),
                    d => return Err(type_error(d, typ)),
                });
            }
            Arc::new(BinaryArray::from(bytes))
        }
        ScalarType::Date => Arc::new(Date32Array::from(each(values, typ, |d| match d {
            Datum::Date(v) => Some(*v),
            _ => None,
        })?)),
        ScalarType::Time => Arc::new(Time64MicrosecondArray::from(each(
            values,
            typ,
            |d| match d {
                Datum::Time(v) => Some(*v),
                _ => None,
            },
        )?)),
        ScalarType::Timestamp => Arc::new(TimestampMicrosecondArray::from(each(
            values,
            typ,
            |d| match d {
                Datum::Timestamp(v) | Datum::TimestampTz(v) => Some(*v),
                _ => None,
            },
        )?)),
        ScalarType::TimestampTz => Arc::new(
            TimestampMicrosecondArray::from(each(values, typ, |d| match d {
                Datum::Timestamp(v) | Datum::TimestampTz(v) => Some(*v),
                _ => None,
            })?)
            .with_timezone("UTC"),
        ),
        ScalarType::Array(element) => {
            let mut offsets = vec![0i32];
            let mut items: Vec<&Datum> = Vec::new();
            let mut valid = Vec::with_capacity(values.len());
            for d in values {
                match d {
                    Datum::Null => valid.push(false),
                    Datum::Array(elements) => {
                        items.extend(elements.iter());
                        valid.push(true);
                    }
                    d => return Err(type_error(d, typ)),
                }
                offsets.push(
                    i32::try_from(items.len())
                        .map_err(|_| "a list batch is too long".to_string())?,
                );
            }
            let child = build_array(element, &items)?;
            let field = Arc::new(Field::new("item", arrow_type(element), true));
            Arc::new(
                ListArray::try_new(
                    field,
                    arrow_buffer_offsets(offsets),
                    child,
                    Some(valid.into()),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        ScalarType::Record(fields) if !fields.is_empty() => {
            let mut valid = Vec::with_capacity(values.len());
            let mut children: Vec<Vec<&Datum>> =
                vec![Vec::with_capacity(values.len()); fields.len()];
            for d in values {
                match d {
                    Datum::Null => {
                        valid.push(false);
                        for child in &mut children {
                            child.push(&Datum::Null);
                        }
                    }
                    Datum::Record(items) if items.len() == fields.len() => {
                        valid.push(true);
                        for (child, item) in children.iter_mut().zip(items.iter()) {
                            child.push(item);
                        }
                    }
                    d => return Err(type_error(d, typ)),
                }
            }
            let arrays = fields
                .iter()
                .zip(&children)
                .map(|((_, t), v)| build_array(t, v))
                .collect::<Result<Vec<_>, _>>()?;
            let DataType::Struct(arrow_fields) = arrow_type(typ) else {
                return Err(format!("internal error: no struct type for {typ}"));
            };
            Arc::new(
                StructArray::try_new(arrow_fields, arrays, Some(valid.into()))
                    .map_err(|e| e.to_string())?,
            )
        }
        _ => Arc::new(StringArray::from(
            values
                .iter()
                .map(|d| match d {
                    Datum::Null => None,
                    Datum::Text(s) => Some(s.to_string()),
                    d => Some(laaster_repr::strconv::format_datum(d)),
                })
                .collect::<Vec<_>>(),
        )),
    })
}

fn arrow_buffer_offsets(offsets: Vec<i32>) -> arrow_buffer::OffsetBuffer<i32> {
    arrow_buffer::OffsetBuffer::new(offsets.into())
}

/// The record batch of `rows` (rows of `columns`) in `schema`.
pub fn rows_to_batch(
    schema: &Arc<Schema>,
    columns: &RelationDesc,
    rows: &[Row],
) -> Result<RecordBatch, String> {
    let mut arrays = Vec::with_capacity(columns.arity());
    for (index, column) in columns.columns.iter().enumerate() {
        let values: Vec<&Datum> = rows
            .iter()
            .map(|r| r.get(index).unwrap_or(&Datum::Null))
            .collect();
        arrays.push(
            build_array(&column.typ.scalar, &values)
                .map_err(|e| format!("column \"{}\": {e}", column.name))?,
        );
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

/// Writes one worker's rows as rolling Parquet files.
pub struct ParquetWriter {
    dir: PathBuf,
    worker: usize,
    max_bytes: u64,
    columns: RelationDesc,
    schema: Arc<Schema>,
    next_part: u64,
    current: Option<(PathBuf, ArrowWriter<File>)>,
    buffer: Vec<Row>,
    /// Retractions an append-only file could not write.
    pub dropped_retractions: u64,
}

impl ParquetWriter {
    pub fn open(
        dir: &str,
        worker: usize,
        max_bytes: u64,
        columns: &RelationDesc,
    ) -> Result<ParquetWriter, ConnectorError> {
        let next_part = crate::file::prepare_sink_dir(dir, worker)?;
        Ok(ParquetWriter {
            dir: PathBuf::from(dir),
            worker,
            max_bytes,
            columns: columns.clone(),
            schema: Arc::new(sink_schema(columns)),
            next_part,
            current: None,
            buffer: Vec::new(),
            dropped_retractions: 0,
        })
    }

    /// Writes the buffered rows as one record batch to the in-progress file.
    fn write_buffer(&mut self) -> Result<(), ConnectorError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = rows_to_batch(&self.schema, &self.columns, &self.buffer)
            .map_err(|e| ConnectorError::new(format!("cannot build a Parquet batch: {e}")))?;
        if self.current.is_none() {
            let part = self.next_part;
            self.next_part += 1;
            let path = self
                .dir
                .join(format!(".part-{}-{part}.parquet.inprogress", self.worker));
            let file = File::create(&path).map_err(|e| {
                ConnectorError::new(format!("cannot create '{}': {e}", path.display()))
            })?;
            let writer = ArrowWriter::try_new(file, self.schema.clone(), None).map_err(|e| {
                ConnectorError::new(format!("cannot start '{}': {e}", path.display()))
            })?;
            self.current = Some((path, writer));
        }
        if let Some((path, writer)) = self.current.as_mut() {
            writer.write(&batch).map_err(|e| {
                ConnectorError::new(format!("cannot write '{}': {e}", path.display()))
            })?;
        }
        self.buffer.clear();
        Ok(())
    }

    /// Closes the in-progress file (writing its footer) and renames it into place.
    fn roll(&mut self) -> Result<(), ConnectorError> {
        if let Some((path, writer)) = self.current.take() {
            writer.close().map_err(|e| {
                ConnectorError::new(format!("cannot finish '{}': {e}", path.display()))
            })?;
            let target = self.dir.join(format!(
                "part-{}-{}.parquet",
                self.worker,
                self.next_part - 1
            ));
            fs::rename(&path, &target).map_err(|e| {
                ConnectorError::new(format!(
                    "cannot rename '{}' to '{}': {e}",
                    path.display(),
                    target.display()
                ))
            })?;
        }
        Ok(())
    }

    fn file_bytes(&self) -> u64 {
        self.current.as_ref().map_or(0, |(_, w)| {
            (w.bytes_written() + w.in_progress_size()) as u64
        })
    }
}

impl SinkWriter for ParquetWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        for (row, _, diff) in updates {
            if *diff < 0 {
                self.dropped_retractions += diff.unsigned_abs();
                continue;
            }
            for _ in 0..*diff {
                self.buffer.push(row.clone());
                if self.buffer.len() >= BATCH_ROWS {
                    self.write_buffer()?;
                    if self.file_bytes() >= self.max_bytes {
                        self.roll()?;
                    }
                }
            }
        }
        Ok(())
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        // A Parquet file is readable once closed: close it at every completed timestamp.
        self.write_buffer()?;
        self.roll()
    }
}

impl Drop for ParquetWriter {
    fn drop(&mut self) {
        let _ = self.write_buffer();
        let _ = self.roll();
    }
}
