//! Result sets as an Arrow IPC stream (the `Query` RPC).
//!
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
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};
use laaster_engine::RowSet;
use laaster_repr::strconv::format_datum;
use laaster_repr::{Datum, Row, ScalarType};

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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_ipc::reader::StreamReader;
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
