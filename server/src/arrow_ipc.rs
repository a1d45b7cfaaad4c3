//! Arrow IPC at the edge: result sets encoded as a stream (the `Query` RPC), and
//! ingested record batches decoded into table rows (the `Ingest` RPC's `arrow_ipc`).
//!
//! Query results:
//! SQL types map to Arrow as: boolean → Boolean; smallint/integer/bigint →
//! Int16/Int32/Int64; real/double → Float32/Float64; date → Date32; time →
//! Time64(µs); timestamp → Timestamp(µs); timestamptz → Timestamp(µs, "UTC"); every
//! other type (numeric, text, varchar, interval, jsonb, bytea, arrays, rows) → Utf8 in
//! its Postgres text form, so no value is lost or rounded.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};
use laaster_engine::{ErrorResponse, RowSet};
use laaster_repr::cast::cast_datum;
use laaster_repr::strconv::format_datum;
use laaster_repr::{Datum, Row, ScalarType};

use crate::values::{RowConversionError, TableSchema};

/// One piece of the IPC stream and the rows of the record batch it holds.
pub struct IpcChunk {
    pub bytes: Vec<u8>,
    pub rows: u64,
}

/// The Arrow type a SQL type is sent as.
pub fn arrow_type(typ: &ScalarType) -> DataType {
    match typ {
        ScalarType::Bool => DataType::Boolean,
        ScalarType::Int16 => DataType::Int16,
        ScalarType::Int32 => DataType::Int32,
        ScalarType::Int64 => DataType::Int64,
        ScalarType::Float32 => DataType::Float32,
        ScalarType::Float64 => DataType::Float64,
        ScalarType::Date => DataType::Date32,
        ScalarType::Time => DataType::Time64(TimeUnit::Microsecond),
        ScalarType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        ScalarType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => DataType::Utf8,
    }
}

/// Encodes `rows` as an IPC stream: the schema chunk, one chunk per `batch_rows` rows,
/// and the end-of-stream chunk.
pub fn encode(rows: &RowSet, batch_rows: usize) -> Result<Vec<IpcChunk>, ArrowError> {
    let fields: Vec<Field> = rows
        .desc
        .columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(&c.typ.scalar), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut writer = StreamWriter::try_new(Vec::new(), &schema)?;
    let mut chunks = vec![IpcChunk {
        bytes: std::mem::take(writer.get_mut()),
        rows: 0,
    }];
    for batch_rows in rows.rows.chunks(batch_rows.max(1)) {
        let columns = (0..rows.desc.arity())
            .map(|i| column_array(batch_rows, i, schema.field(i).data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        writer.write(&batch)?;
        chunks.push(IpcChunk {
            bytes: std::mem::take(writer.get_mut()),
            rows: batch_rows.len() as u64,
        });
    }
    writer.finish()?;
    chunks.push(IpcChunk {
        bytes: std::mem::take(writer.get_mut()),
        rows: 0,
    });
    Ok(chunks)
}

/// Column `index` of `rows` as an array of `data_type`.
fn column_array(rows: &[Row], index: usize, data_type: &DataType) -> Result<ArrayRef, ArrowError> {
    let values = rows
        .iter()
        .map(|row| row.get(index).unwrap_or(&Datum::Null));
    let mismatch = |datum: &Datum| {
        ArrowError::InvalidArgumentError(format!(
            "value {} does not match column type {data_type}",
            format_datum(datum)
        ))
    };
    macro_rules! build {
        ($builder:expr, $pattern:pat => $value:expr) => {{
            let mut builder = $builder;
            for datum in values {
                match datum {
                    Datum::Null => builder.append_null(),
                    $pattern => builder.append_value($value),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    Ok(match data_type {
        DataType::Boolean => build!(BooleanBuilder::new(), Datum::Bool(b) => *b),
        DataType::Int16 => build!(Int16Builder::new(), Datum::Int16(i) => *i),
        DataType::Int32 => build!(Int32Builder::new(), Datum::Int32(i) => *i),
        DataType::Int64 => build!(Int64Builder::new(), Datum::Int64(i) => *i),
        DataType::Float32 => build!(Float32Builder::new(), Datum::Float32(f) => f.into_inner()),
        DataType::Float64 => build!(Float64Builder::new(), Datum::Float64(f) => f.into_inner()),
        DataType::Date32 => build!(Date32Builder::new(), Datum::Date(d) => *d),
        DataType::Time64(_) => build!(Time64MicrosecondBuilder::new(), Datum::Time(t) => *t),
        DataType::Timestamp(_, None) => {
            build!(TimestampMicrosecondBuilder::new(), Datum::Timestamp(t) => *t)
        }
        DataType::Timestamp(_, Some(_)) => build!(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            Datum::TimestampTz(t) => *t
        ),
        _ => {
            let mut builder = StringBuilder::new();
            for datum in values {
                if datum.is_null() {
                    builder.append_null();
                } else {
                    builder.append_value(format_datum(datum));
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }
    })
}

/// The rows of one ingested Arrow IPC stream, each converted or with why not; `Err`
/// when the stream as a whole cannot be used (unreadable, a field the table lacks, a
/// field type that cannot become its column's type).
pub fn decode_rows(
    bytes: &[u8],
    schema: &TableSchema,
) -> Result<Vec<Result<Row, RowConversionError>>, ErrorResponse> {
    let unreadable = |e: ArrowError| {
        ErrorResponse::new("22P02", format!("invalid Arrow IPC stream: {e}")).with_hint(
            "send one complete IPC stream (schema message, then record batches), as \
             pyarrow.ipc.new_stream or arrow's StreamWriter write it",
        )
    };
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(unreadable)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(unreadable)?;
        let fields = match_fields(batch.schema_ref(), schema)?;
        for row in 0..batch.num_rows() {
            rows.push(decode_row(&batch, &fields, row, schema));
        }
    }
    Ok(rows)
}

/// For each table column, the index of the batch field that fills it (matched by name,
/// exactly or else ignoring ASCII case).
fn match_fields(arrow: &Schema, schema: &TableSchema) -> Result<Vec<Option<usize>>, ErrorResponse> {
    let columns = &schema.desc.columns;
    let mut fields = vec![None; columns.len()];
    for (index, field) in arrow.fields().iter().enumerate() {
        let column = columns
            .iter()
            .position(|c| c.name == *field.name())
            .or_else(|| {
                columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(field.name()))
            });
        let Some(column) = column else {
            let names: Vec<&str> = schema.desc.names().collect();
            return Err(ErrorResponse::new(
                "42703",
                format!("column \"{}\" does not exist", field.name()),
            )
            .with_detail("the Arrow record batch has a field the table lacks")
            .with_hint(format!("the table's columns are {}", names.join(", "))));
        };
        if !readable(field.data_type()) {
            return Err(ErrorResponse::new(
                "42804",
                format!(
                    "column \"{}\" cannot be read from Arrow type {}",
                    columns[column].name,
                    field.data_type()
                ),
            )
            .with_hint(
                "send a boolean, integer, float, decimal, utf8, binary, date, time or \
                 timestamp array, or utf8 in the column type's text form",
            ));
        }
        if fields[column].replace(index).is_some() {
            return Err(ErrorResponse::new(
                "42701",
                format!(
                    "column \"{}\" is given twice in the record batch",
                    columns[column].name
                ),
            ));
        }
    }
    Ok(fields)
}

/// Whether [`arrow_datum`] reads arrays of this type.
fn readable(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Null | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal128(..)
            | Decimal256(..)
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | Date32
            | Date64
            | Time32(_)
            | Time64(_)
            | Timestamp(..)
    )
}

fn decode_row(
    batch: &RecordBatch,
    fields: &[Option<usize>],
    row: usize,
    schema: &TableSchema,
) -> Result<Row, RowConversionError> {
    let mut datums = Vec::with_capacity(fields.len());
    for (index, (field, column)) in fields.iter().zip(&schema.desc.columns).enumerate() {
        let Some(field) = field else {
            datums.push(schema.missing_value(index)?);
            continue;
        };
        let datum = arrow_datum(batch.column(*field), row, &column.typ.scalar).map_err(|e| {
            RowConversionError {
                column: Some(column.name.clone()),
                error: Box::new(e.with_detail(format!(
                    "column \"{}\" is {}; the Arrow field is {}",
                    column.name,
                    column.typ.scalar,
                    batch.column(*field).data_type()
                ))),
            }
        })?;
        datums.push(datum);
    }
    schema.finish_row(datums)
}

/// Value `row` of `array` as a datum of `target`: read as the Arrow type's natural SQL
/// type, then cast the way an explicit CAST would.
fn arrow_datum(array: &ArrayRef, row: usize, target: &ScalarType) -> Result<Datum, ErrorResponse> {
    use arrow_array::types::*;
    if array.is_null(row) || *array.data_type() == DataType::Null {
        return Ok(Datum::Null);
    }
    let overflow = || ErrorResponse::new("22008", "timestamp out of range");
    let micros = |value: i64, per_second: i64| -> Result<i64, ErrorResponse> {
        match per_second {
            1 => value.checked_mul(1_000_000).ok_or_else(overflow),
            1_000 => value.checked_mul(1_000).ok_or_else(overflow),
            1_000_000 => Ok(value),
            _ => Ok(value.div_euclid(1_000)),
        }
    };
    let per_second = |unit: &TimeUnit| match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let natural = match array.data_type() {
        DataType::Boolean => Datum::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Datum::Int16(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Datum::Int16(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Datum::Int32(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Datum::Int64(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Datum::Int16(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Datum::Int32(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Datum::Int64(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => {
            let value = array.as_primitive::<UInt64Type>().value(row);
            match i64::try_from(value) {
                Ok(value) => Datum::Int64(value),
                Err(_) => Datum::text(&value.to_string()),
            }
        }
        DataType::Float16 => Datum::Float32(
            array
                .as_primitive::<Float16Type>()
                .value(row)
                .to_f32()
                .into(),
        ),
        DataType::Float32 => Datum::Float32(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Datum::Float64(array.as_primitive::<Float64Type>().value(row).into()),
        DataType::Decimal128(..) => {
            Datum::text(&array.as_primitive::<Decimal128Type>().value_as_string(row))
        }
        DataType::Decimal256(..) => {
            Datum::text(&array.as_primitive::<Decimal256Type>().value_as_string(row))
        }
        DataType::Utf8 => Datum::text(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Datum::text(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Datum::text(array.as_string_view().value(row)),
        DataType::Binary => Datum::Bytes(array.as_binary::<i32>().value(row).into()),
        DataType::LargeBinary => Datum::Bytes(array.as_binary::<i64>().value(row).into()),
        DataType::Date32 => Datum::Date(array.as_primitive::<Date32Type>().value(row)),
        DataType::Date64 => {
            let days = array
                .as_primitive::<Date64Type>()
                .value(row)
                .div_euclid(86_400_000);
            Datum::Date(
                i32::try_from(days)
                    .map_err(|_| ErrorResponse::new("22008", "date out of range"))?,
            )
        }
        DataType::Time32(unit) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<Time32SecondType>().value(row),
                _ => array.as_primitive::<Time32MillisecondType>().value(row),
            };
            Datum::Time(micros(value.into(), per_second(unit))?)
        }
        DataType::Time64(unit) => {
            let value = match unit {
                TimeUnit::Nanosecond => array.as_primitive::<Time64NanosecondType>().value(row),
                _ => array.as_primitive::<Time64MicrosecondType>().value(row),
            };
            Datum::Time(micros(value, per_second(unit))?)
        }
        DataType::Timestamp(unit, zone) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            let value = micros(value, per_second(unit))?;
            if zone.is_some() {
                Datum::TimestampTz(value)
            } else {
                Datum::Timestamp(value)
            }
        }
        other => {
            return Err(ErrorResponse::new(
                "42804",
                format!("cannot read Arrow type {other}"),
            ));
        }
    };
    let same = matches!(
        (&natural, target),
        (Datum::Bool(_), ScalarType::Bool)
            | (Datum::Int16(_), ScalarType::Int16)
            | (Datum::Int32(_), ScalarType::Int32)
            | (Datum::Int64(_), ScalarType::Int64)
            | (Datum::Float32(_), ScalarType::Float32)
            | (Datum::Float64(_), ScalarType::Float64)
            | (Datum::Text(_), ScalarType::Text)
            | (Datum::Bytes(_), ScalarType::Bytea)
            | (Datum::Date(_), ScalarType::Date)
            | (Datum::Time(_), ScalarType::Time)
            | (Datum::Timestamp(_), ScalarType::Timestamp)
            | (Datum::TimestampTz(_), ScalarType::TimestampTz)
    );
    if same {
        Ok(natural)
    } else {
        cast_datum(&natural, target).map_err(ErrorResponse::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int64Type;
    use laaster_repr::{Column, ColumnType, RelationDesc};

    #[test]
    fn round_trips_through_the_ipc_reader() {
        let desc = RelationDesc::new(vec![
            Column {
                name: "n".into(),
                typ: ColumnType::new(ScalarType::Int64, true),
            },
            Column {
                name: "d".into(),
                typ: ColumnType::new(ScalarType::NUMERIC, true),
            },
        ]);
        let rows = RowSet {
            desc,
            rows: (0..5)
                .map(|i| {
                    Row::new(vec![
                        if i == 2 { Datum::Null } else { Datum::Int64(i) },
                        Datum::text("1.50"),
                    ])
                })
                .collect(),
            timestamp: 1,
        };
        let chunks = encode(&rows, 2).unwrap();
        assert_eq!(chunks.len(), 5); // schema, 3 batches (2+2+1), end
        assert_eq!(chunks.iter().map(|c| c.rows).sum::<u64>(), 5);
        let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.bytes).collect();
        let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let first = batches[0].column(0).as_primitive::<Int64Type>();
        assert_eq!(first.value(1), 1);
        assert!(batches[1].column(0).is_null(0));
        assert_eq!(batches[2].column(1).as_string::<i32>().value(0), "1.50");
    }
}
