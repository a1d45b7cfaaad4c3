//! Avro: binary Avro records with an inline schema, optionally in the Confluent wire
//! format (magic byte `0`, the 4-byte big-endian schema id, then the Avro body).
//!
//! ```sql
//! WITH ('format' = 'avro',
//!       'avro.schema' = '{"type":"record","name":"bid","fields":[{"name":"id","type":"long"}]}',
//!       'avro.confluent' = 'true', 'avro.schema-id' = '7')      -- Confluent framing
//! WITH ('format' = 'avro', 'schema-registry.url' = 'http://127.0.0.1:8081')
//! ```
//!
//! Options (with a `key.`/`value.` prefix when the format is `key.format`/`value.format`):
//!
//! - `'avro.schema'`: the record schema as JSON. Required unless a registry is given.
//!   Decoding reads each message with it (as the reader schema when the writer schema
//!   comes from the registry, so Avro schema resolution applies); encoding writes it.
//! - `'avro.confluent'` = `'true'`: messages carry the Confluent framing. Implied by
//!   `'schema-registry.url'`.
//! - `'avro.schema-id'`: the id written in the framing when encoding; when decoding
//!   without a registry, messages must carry this id (any id if it is not set).
//! - `'schema-registry.url'`: an `http://` Confluent-compatible schema registry; the
//!   writer schema of each id seen is fetched once (`GET /schemas/ids/{id}`) and cached.
//!
//! Table columns match the record's top-level fields by name, ignoring case; a field the
//! table lacks is ignored, a column the record lacks is NULL. Types: null, boolean,
//! int, long, float, double, string, bytes, fixed, enum (as text), arrays, nested
//! records, unions (`["null", T]` for nullable columns), and the logical types decimal,
//! date, time-millis/micros, timestamp-millis/micros/nanos and their local variants.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::types::Value;
use laaster_repr::{Datum, Diff, RelationDesc, Row, ScalarType};
use rust_decimal::Decimal;

use crate::format::{Decoder, Encoder, FormatError, OptionError, bool_option, unknown_option};

/// The checked options of format `avro`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AvroOptions {
    /// The inline record schema (JSON text), when given.
    pub schema: Option<String>,
    /// Messages carry the Confluent framing.
    pub confluent: bool,
    /// The schema id written (and, without a registry, expected) in the framing.
    pub schema_id: Option<u32>,
    /// The schema registry the writer schemas are fetched from.
    pub registry_url: Option<String>,
}

const KNOWN: &[&str] = &["schema", "confluent", "schema-id"];

impl AvroOptions {
    /// Parses the `avro.*` options (`own`, prefix stripped) and the registry URL.
    pub fn parse(
        prefix: &str,
        own: &[(String, String)],
        registry_url: Option<String>,
    ) -> Result<AvroOptions, OptionError> {
        let mut options = AvroOptions {
            registry_url: registry_url.clone(),
            confluent: registry_url.is_some(),
            ..AvroOptions::default()
        };
        for (key, value) in own {
            match key.as_str() {
                "schema" => {
                    parse_schema(value).map_err(|e| {
                        OptionError::new(
                            format!("option '{prefix}schema' is not a usable Avro schema: {e}"),
                            "give a record schema as JSON, e.g. '{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}'",
                        )
                    })?;
                    options.schema = Some(value.clone());
                }
                "confluent" => {
                    options.confluent =
                        bool_option(&format!("{prefix}{key}"), value)? || registry_url.is_some();
                }
                "schema-id" => {
                    options.schema_id = Some(value.trim().parse().map_err(|_| {
                        OptionError::new(
                            format!("option '{prefix}schema-id' must be a schema id (0 to 4294967295), not '{value}'"),
                            format!("write '{prefix}schema-id' = '1'"),
                        )
                    })?);
                }
                other => return Err(unknown_option(prefix, other, KNOWN)),
            }
        }
        if let Some(url) = &registry_url
            && !url.starts_with("http://")
        {
            return Err(OptionError::new(
                format!("schema registry URL '{url}' is not supported: only http:// URLs are"),
                "write 'schema-registry.url' = 'http://host:8081'",
            ));
        }
        if options.schema.is_none() && registry_url.is_none() {
            return Err(OptionError::new(
                format!("format 'avro' needs option '{prefix}schema' (or 'schema-registry.url')"),
                format!(
                    "add '{prefix}schema' = '{{\"type\":\"record\",\"name\":\"r\",\"fields\":[...]}}'"
                ),
            ));
        }
        Ok(options)
    }
}

/// Parses a schema and checks it is a record.
fn parse_schema(text: &str) -> Result<Schema, String> {
    let schema = Schema::parse_str(text).map_err(|e| e.to_string())?;
    match &schema {
        Schema::Record(_) => Ok(schema),
        other => Err(format!(
            "the top-level type must be a record, not {}",
            format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase()
        )),
    }
}

/// Checks, at `CREATE` time, that every table column the inline record schema has a
/// field for can hold that field's values.
pub fn check_columns(options: &AvroOptions, columns: &RelationDesc) -> Result<(), OptionError> {
    let Some(text) = &options.schema else {
        return Ok(());
    };
    let Ok(Schema::Record(record)) = parse_schema(text) else {
        return Ok(());
    };
    for column in &columns.columns {
        let field = record
            .fields
            .iter()
            .find(|f| f.name == column.name)
            .or_else(|| {
                record
                    .fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(&column.name))
            });
        if let Some(field) = field
            && !fits(&field.schema, &column.typ.scalar)
        {
            return Err(OptionError::new(
                format!(
                    "column \"{}\" is {} in the table, but Avro field \"{}\" is {}",
                    column.name,
                    column.typ.scalar,
                    field.name,
                    schema_name(&field.schema)
                ),
                "declare the column with a type the Avro field converts to (long → BIGINT, string → TEXT, timestamp-micros → TIMESTAMPTZ, decimal → NUMERIC, ...)",
            ));
        }
    }
    Ok(())
}

fn schema_name(schema: &Schema) -> String {
    match schema {
        Schema::Union(union) => format!(
            "[{}]",
            union
                .variants()
                .iter()
                .map(schema_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase(),
    }
}

/// Whether values of Avro schema `schema` convert to SQL type `to` (as [`to_datum`]
/// converts them).
fn fits(schema: &Schema, to: &ScalarType) -> bool {
    use ScalarType as S;
    match schema {
        Schema::Null => true,
        Schema::Union(union) => union
            .variants()
            .iter()
            .any(|v| !matches!(v, Schema::Null) && fits(v, to)),
        Schema::Boolean => matches!(to, S::Bool),
        Schema::Int | Schema::Long => matches!(
            to,
            S::Int16 | S::Int32 | S::Int64 | S::Float32 | S::Float64 | S::Decimal { .. }
        ),
        Schema::Float | Schema::Double => matches!(to, S::Float32 | S::Float64),
        Schema::String | Schema::Enum(_) => {
            !matches!(to, S::Bytea | S::Array(_) | S::Record(_) | S::Unknown)
        }
        Schema::Uuid => matches!(to, S::Text | S::VarChar { .. }),
        Schema::Bytes | Schema::Fixed(_) => matches!(to, S::Bytea),
        Schema::Date => matches!(to, S::Date),
        Schema::TimeMillis | Schema::TimeMicros => matches!(to, S::Time),
        Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => matches!(to, S::Timestamp | S::TimestampTz),
        Schema::Decimal(_) => matches!(to, S::Decimal { .. }),
        Schema::Array(array) => match to {
            S::Array(element) => fits(&array.items, element),
            _ => false,
        },
        Schema::Record(record) => match to {
            S::Record(fields) => fields.iter().all(|(name, typ)| {
                record
                    .fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(name))
                    .is_none_or(|f| fits(&f.schema, typ))
            }),
            _ => false,
        },
        _ => false,
    }
}

/// Splits a Confluent-framed message into its schema id and Avro body.
pub fn split_confluent(payload: &[u8]) -> Result<(u32, &[u8]), FormatError> {
    if payload.len() < 5 {
        return Err(FormatError::new(format!(
            "message of {} byte(s) is too short for the Confluent wire format (magic byte 0, a 4-byte schema id, then the Avro body)",
            payload.len()
        ))
        .hint("set 'avro.confluent' = 'false' if the messages are plain Avro"));
    }
    if payload[0] != 0 {
        return Err(FormatError::new(format!(
            "message starts with byte {}, not the Confluent magic byte 0",
            payload[0]
        ))
        .hint("set 'avro.confluent' = 'false' if the messages are plain Avro"));
    }
    let id = u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
    Ok((id, &payload[5..]))
}

/// Appends the Confluent framing of schema `id` to `out`.
pub fn write_confluent_header(id: u32, out: &mut Vec<u8>) {
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Decodes Avro messages into rows.
pub struct AvroDecoder {
    columns: RelationDesc,
    options: AvroOptions,
    /// The inline schema, parsed.
    schema: Result<Arc<Schema>, String>,
    /// Writer schemas fetched from the registry, by id.
    fetched: HashMap<u32, Arc<Schema>>,
}

impl AvroDecoder {
    pub fn new(columns: &RelationDesc, options: AvroOptions) -> AvroDecoder {
        let schema = match &options.schema {
            Some(text) => parse_schema(text).map(Arc::new),
            None => Err("no inline schema".into()),
        };
        AvroDecoder {
            columns: columns.clone(),
            options,
            schema,
            fetched: HashMap::new(),
        }
    }

    fn registry_schema(&mut self, url: &str, id: u32) -> Result<Arc<Schema>, FormatError> {
        if let Some(schema) = self.fetched.get(&id) {
            return Ok(schema.clone());
        }
        let schema = Arc::new(fetch_schema(url, id)?);
        self.fetched.insert(id, schema.clone());
        Ok(schema)
    }
}

impl Decoder for AvroDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<(Row, Diff)>) -> Result<(), FormatError> {
        let inline = self.schema.clone();
        let (writer, body) = if self.options.confluent {
            let (id, body) = split_confluent(payload)?;
            match self.options.registry_url.clone() {
                Some(url) => (self.registry_schema(&url, id)?, body),
                None => {
                    if let Some(expected) = self.options.schema_id
                        && expected != id
                    {
                        return Err(FormatError::new(format!(
                            "the message was written with schema id {id}, but 'avro.schema-id' is {expected} and no 'schema-registry.url' is given to fetch schema {id}"
                        ))
                        .hint("add 'schema-registry.url', or set 'avro.schema-id' to the id the producer uses"));
                    }
                    (inline.clone().map_err(FormatError::new)?, body)
                }
            }
        } else {
            (inline.clone().map_err(FormatError::new)?, payload)
        };
        let reader = inline.ok().filter(|r| **r != *writer);
        let mut cursor = body;
        let value = apache_avro::from_avro_datum(&writer, &mut cursor, reader.as_deref())
            .map_err(|e| {
                FormatError::new(format!(
                    "not an Avro record of the schema ({} byte(s)): {e}",
                    body.len()
                ))
                .hint("check that the producer writes binary Avro with this schema ('avro.schema'), with the Confluent framing only if 'avro.confluent' = 'true'")
            })?;
        if !cursor.is_empty() {
            return Err(FormatError::new(format!(
                "{} byte(s) left after the Avro record ({} byte(s) read)",
                cursor.len(),
                body.len() - cursor.len()
            ))
            .hint("the message was written with a different schema, or several records were concatenated"));
        }
        let schema = reader.as_deref().unwrap_or(&writer);
        let row = record_row(&value, schema, &self.columns)?;
        out.push((row, 1));
        Ok(())
    }
}

/// The table row of a top-level record value.
fn record_row(value: &Value, schema: &Schema, columns: &RelationDesc) -> Result<Row, FormatError> {
    let (value, schema) = unwrap_union(value, schema);
    let (Value::Record(fields), Schema::Record(record)) = (value, schema) else {
        return Err(FormatError::new(format!(
            "expected an Avro record, got {}",
            value_kind(value)
        )));
    };
    let mut datums = Vec::with_capacity(columns.arity());
    for column in &columns.columns {
        let found = fields
            .iter()
            .position(|(n, _)| *n == column.name)
            .or_else(|| {
                fields
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(&column.name))
            });
        let datum = match found {
            Some(i) => {
                let (name, field_value) = &fields[i];
                let field_schema = record
                    .fields
                    .iter()
                    .find(|f| f.name == *name)
                    .map(|f| &f.schema)
                    .unwrap_or(&Schema::Null);
                to_datum(field_value, field_schema, &column.typ.scalar, &column.name)?
            }
            None => Datum::Null,
        };
        if datum.is_null() && !column.typ.nullable {
            return Err(FormatError::new("NULL in a NOT NULL column")
                .at(column.name.clone())
                .hint("declare the column without NOT NULL or have the producer fill it"));
        }
        datums.push(datum);
    }
    Ok(Row::new(datums))
}

fn unwrap_union<'a>(value: &'a Value, schema: &'a Schema) -> (&'a Value, &'a Schema) {
    match (value, schema) {
        (Value::Union(index, inner), Schema::Union(union)) => {
            let variant = union
                .variants()
                .get(*index as usize)
                .unwrap_or(&Schema::Null);
            unwrap_union(inner, variant)
        }
        (Value::Union(_, inner), other) => unwrap_union(inner, other),
        _ => (value, schema),
    }
}

fn value_kind(value: &Value) -> String {
    let text = format!("{value:?}");
    let kind = text.split(['(', ' ']).next().unwrap_or("value");
    kind.to_lowercase()
}

fn mismatch(value: &Value, to: &ScalarType, path: &str) -> FormatError {
    let mut shown = format!("{value:?}");
    if shown.len() > 60 {
        let mut cut = 60;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    FormatError::new(format!("expected {to}, got Avro {shown}"))
        .at(path.to_string())
        .hint("declare the column with a type the Avro field converts to")
}

fn int_datum(v: i64, value: &Value, to: &ScalarType, path: &str) -> Result<Datum, FormatError> {
    let range = || FormatError::new(format!("{v} is out of range for {to}")).at(path.to_string());
    Ok(match to {
        ScalarType::Int16 => Datum::Int16(i16::try_from(v).map_err(|_| range())?),
        ScalarType::Int32 => Datum::Int32(i32::try_from(v).map_err(|_| range())?),
        ScalarType::Int64 => Datum::Int64(v),
        ScalarType::Float32 => Datum::float32(v as f32),
        ScalarType::Float64 => Datum::float64(v as f64),
        ScalarType::Decimal { .. } => Datum::Decimal(Decimal::from(v)),
        _ => return Err(mismatch(value, to, path)),
    })
}

fn micros_datum(
    micros: Option<i64>,
    value: &Value,
    to: &ScalarType,
    path: &str,
) -> Result<Datum, FormatError> {
    let micros =
        micros.ok_or_else(|| FormatError::new("timestamp out of range").at(path.to_string()))?;
    match to {
        ScalarType::Timestamp => Ok(Datum::Timestamp(micros)),
        ScalarType::TimestampTz => Ok(Datum::TimestampTz(micros)),
        _ => Err(mismatch(value, to, path)),
    }
}

/// Converts one Avro value of schema `schema` into a datum of type `to`.
fn to_datum(
    value: &Value,
    schema: &Schema,
    to: &ScalarType,
    path: &str,
) -> Result<Datum, FormatError> {
    let (value, schema) = unwrap_union(value, schema);
    Ok(match value {
        Value::Null => Datum::Null,
        Value::Boolean(b) => match to {
            ScalarType::Bool => Datum::Bool(*b),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::Int(v) => int_datum(i64::from(*v), value, to, path)?,
        Value::Long(v) => int_datum(*v, value, to, path)?,
        Value::Float(f) => match to {
            ScalarType::Float32 => Datum::float32(*f),
            ScalarType::Float64 => Datum::float64(f64::from(*f)),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::Double(f) => match to {
            ScalarType::Float32 => Datum::float32(*f as f32),
            ScalarType::Float64 => Datum::float64(*f),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::String(s) | Value::Enum(_, s) => match to {
            ScalarType::Text | ScalarType::VarChar { .. } => Datum::text(s),
            other => laaster_repr::strconv::parse_datum(s, other).map_err(|e| {
                FormatError::new(format!("text {s:?} is not a valid {other}: {e}"))
                    .at(path.to_string())
            })?,
        },
        Value::Uuid(u) => match to {
            ScalarType::Text | ScalarType::VarChar { .. } => Datum::text(&u.to_string()),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::Bytes(b) | Value::Fixed(_, b) => match to {
            ScalarType::Bytea => Datum::Bytes(Arc::from(b.as_slice())),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::Date(d) => match to {
            ScalarType::Date => Datum::Date(*d),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::TimeMillis(ms) => match to {
            ScalarType::Time => Datum::Time(i64::from(*ms) * 1_000),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::TimeMicros(us) => match to {
            ScalarType::Time => Datum::Time(*us),
            _ => return Err(mismatch(value, to, path)),
        },
        Value::TimestampMillis(v) | Value::LocalTimestampMillis(v) => {
            micros_datum(v.checked_mul(1_000), value, to, path)?
        }
        Value::TimestampMicros(v) | Value::LocalTimestampMicros(v) => {
            micros_datum(Some(*v), value, to, path)?
        }
        Value::TimestampNanos(v) | Value::LocalTimestampNanos(v) => {
            micros_datum(Some(v.div_euclid(1_000)), value, to, path)?
        }
        Value::Decimal(d) => {
            let ScalarType::Decimal { .. } = to else {
                return Err(mismatch(value, to, path));
            };
            let scale = match schema {
                Schema::Decimal(ds) => ds.scale,
                _ => 0,
            };
            let bytes: Vec<u8> = Vec::try_from(d)
                .map_err(|e| FormatError::new(format!("bad decimal: {e}")).at(path.to_string()))?;
            decimal_from_bytes(&bytes, scale).ok_or_else(|| {
                FormatError::new(format!(
                    "decimal of {} byte(s) with scale {scale} does not fit NUMERIC (28 digits)",
                    bytes.len()
                ))
                .at(path.to_string())
            })?
        }
        Value::Array(items) => {
            let ScalarType::Array(element) = to else {
                return Err(mismatch(value, to, path));
            };
            let item_schema = match schema {
                Schema::Array(a) => a.items.as_ref(),
                _ => &Schema::Null,
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(to_datum(
                    item,
                    item_schema,
                    element,
                    &format!("{path}[{i}]"),
                )?);
            }
            Datum::Array(out.into())
        }
        Value::Record(fields) => {
            let ScalarType::Record(record) = to else {
                return Err(mismatch(value, to, path));
            };
            let mut out = Vec::with_capacity(record.len());
            for (name, typ) in record {
                let found = fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .or_else(|| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)));
                out.push(match found {
                    Some((field_name, v)) => {
                        let field_schema = match schema {
                            Schema::Record(r) => r
                                .fields
                                .iter()
                                .find(|f| f.name == *field_name)
                                .map(|f| &f.schema)
                                .unwrap_or(&Schema::Null),
                            _ => &Schema::Null,
                        };
                        to_datum(v, field_schema, typ, &format!("{path}.{name}"))?
                    }
                    None => Datum::Null,
                });
            }
            Datum::Record(out.into())
        }
        _ => return Err(mismatch(value, to, path)),
    })
}

/// A decimal from big-endian two's complement bytes and a scale.
fn decimal_from_bytes(bytes: &[u8], scale: usize) -> Option<Datum> {
    if bytes.len() > 16 {
        return None;
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut buffer = if negative { [0xff; 16] } else { [0; 16] };
    buffer[16 - bytes.len()..].copy_from_slice(bytes);
    let mantissa = i128::from_be_bytes(buffer);
    let scale = u32::try_from(scale).ok()?;
    Decimal::try_from_i128_with_scale(mantissa, scale)
        .ok()
        .map(Datum::Decimal)
}

/// The minimal big-endian two's complement bytes of `v`.
fn decimal_bytes(v: i128) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// Encodes rows as Avro records of the inline schema.
pub struct AvroEncoder {
    columns: RelationDesc,
    options: AvroOptions,
    schema: Result<Schema, String>,
}

impl AvroEncoder {
    pub fn new(columns: &RelationDesc, options: AvroOptions) -> AvroEncoder {
        let schema = match &options.schema {
            Some(text) => parse_schema(text),
            None => Err("format 'avro' encodes with 'avro.schema', which is not given (the registry is only read, never written to)".into()),
        };
        AvroEncoder {
            columns: columns.clone(),
            options,
            schema,
        }
    }
}

impl Encoder for AvroEncoder {
    fn encode(&mut self, row: &Row, _diff: Diff, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let schema = self.schema.as_ref().map_err(|e| {
            FormatError::new(e.clone()).hint("add 'avro.schema' with the record schema to write")
        })?;
        let Schema::Record(record) = schema else {
            return Err(FormatError::new("the Avro schema is not a record"));
        };
        let mut fields = Vec::with_capacity(record.fields.len());
        for field in &record.fields {
            let index = self
                .columns
                .columns
                .iter()
                .position(|c| c.name == field.name)
                .or_else(|| {
                    self.columns
                        .columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(&field.name))
                });
            let datum = index.and_then(|i| row.get(i)).unwrap_or(&Datum::Null);
            fields.push((
                field.name.clone(),
                to_value(datum, &field.schema, &field.name)?,
            ));
        }
        if self.options.confluent {
            let Some(id) = self.options.schema_id else {
                return Err(FormatError::new(
                    "the Confluent wire format needs the schema id to write",
                )
                .hint("add 'avro.schema-id' = '<the id the registry gave this schema>'"));
            };
            write_confluent_header(id, out);
        }
        let body = apache_avro::to_avro_datum(schema, Value::Record(fields))
            .map_err(|e| FormatError::new(format!("the row does not fit the Avro schema: {e}")))?;
        out.extend_from_slice(&body);
        Ok(())
    }
}

fn encode_error(datum: &Datum, schema: &Schema, path: &str) -> FormatError {
    FormatError::new(format!(
        "{datum:?} cannot be written as Avro {}",
        format!("{:?}", apache_avro::schema::SchemaKind::from(schema)).to_lowercase()
    ))
    .at(path.to_string())
    .hint("make the Avro schema's field type match the column's type")
}

/// Converts a datum to an Avro value of schema `schema`.
fn to_value(datum: &Datum, schema: &Schema, path: &str) -> Result<Value, FormatError> {
    if let Schema::Union(union) = schema {
        let variants = union.variants();
        if datum.is_null() {
            return match variants.iter().position(|s| matches!(s, Schema::Null)) {
                Some(i) => Ok(Value::Union(i as u32, Box::new(Value::Null))),
                None => Err(FormatError::new("NULL, but the Avro union has no null")
                    .at(path.to_string())
                    .hint("add \"null\" to the field's union")),
            };
        }
        let mut last = None;
        for (i, variant) in variants.iter().enumerate() {
            if matches!(variant, Schema::Null) {
                continue;
            }
            match to_value(datum, variant, path) {
                Ok(v) => return Ok(Value::Union(i as u32, Box::new(v))),
                Err(e) => last = Some(e),
            }
        }
        return Err(last.unwrap_or_else(|| encode_error(datum, schema, path)));
    }
    if datum.is_null() {
        return match schema {
            Schema::Null => Ok(Value::Null),
            _ => Err(FormatError::new("NULL, but the Avro field is not nullable")
                .at(path.to_string())
                .hint("make the field's type a union with \"null\", e.g. [\"null\", \"long\"]")),
        };
    }
    let fail = || encode_error(datum, schema, path);
    Ok(match schema {
        Schema::Boolean => Value::Boolean(datum.as_bool().ok_or_else(fail)?),
        Schema::Int => Value::Int(
            datum
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(fail)?,
        ),
        Schema::Long => Value::Long(datum.as_i64().ok_or_else(fail)?),
        Schema::Float => match datum {
            Datum::Float32(f) => Value::Float(f.0),
            Datum::Float64(f) => Value::Float(f.0 as f32),
            _ => return Err(fail()),
        },
        Schema::Double => match datum {
            Datum::Float32(f) => Value::Double(f64::from(f.0)),
            Datum::Float64(f) => Value::Double(f.0),
            _ => return Err(fail()),
        },
        Schema::String => match datum {
            Datum::Text(s) => Value::String(s.to_string()),
            d => Value::String(laaster_repr::strconv::format_datum(d)),
        },
        Schema::Bytes => match datum {
            Datum::Bytes(b) => Value::Bytes(b.to_vec()),
            _ => return Err(fail()),
        },
        Schema::Fixed(fixed) => match datum {
            Datum::Bytes(b) if b.len() == fixed.size => Value::Fixed(fixed.size, b.to_vec()),
            _ => return Err(fail()),
        },
        Schema::Enum(e) => match datum {
            Datum::Text(s) => match e.symbols.iter().position(|x| **x == **s) {
                Some(i) => Value::Enum(i as u32, s.to_string()),
                None => {
                    return Err(FormatError::new(format!(
                        "{s:?} is not a symbol of the enum ({})",
                        e.symbols.join(", ")
                    ))
                    .at(path.to_string()));
                }
            },
            _ => return Err(fail()),
        },
        Schema::Date => match datum {
            Datum::Date(d) => Value::Date(*d),
            _ => return Err(fail()),
        },
        Schema::TimeMillis => match datum {
            Datum::Time(us) => Value::TimeMillis(i32::try_from(us / 1_000).map_err(|_| fail())?),
            _ => return Err(fail()),
        },
        Schema::TimeMicros => match datum {
            Datum::Time(us) => Value::TimeMicros(*us),
            _ => return Err(fail()),
        },
        Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => {
            let us = match datum {
                Datum::Timestamp(us) | Datum::TimestampTz(us) => *us,
                _ => return Err(fail()),
            };
            match schema {
                Schema::TimestampMillis => Value::TimestampMillis(us.div_euclid(1_000)),
                Schema::TimestampMicros => Value::TimestampMicros(us),
                Schema::TimestampNanos => {
                    Value::TimestampNanos(us.checked_mul(1_000).ok_or_else(fail)?)
                }
                Schema::LocalTimestampMillis => Value::LocalTimestampMillis(us.div_euclid(1_000)),
                Schema::LocalTimestampMicros => Value::LocalTimestampMicros(us),
                _ => Value::LocalTimestampNanos(us.checked_mul(1_000).ok_or_else(fail)?),
            }
        }
        Schema::Decimal(ds) => {
            let mut v = match datum {
                Datum::Decimal(v) => *v,
                d => Decimal::from(d.as_i64().ok_or_else(fail)?),
            };
            let scale = u32::try_from(ds.scale).map_err(|_| fail())?;
            v.rescale(scale);
            if v.scale() != scale {
                return Err(FormatError::new(format!(
                    "{v} does not fit the Avro decimal's scale {scale}"
                ))
                .at(path.to_string()));
            }
            Value::Decimal(apache_avro::Decimal::from(decimal_bytes(v.mantissa())))
        }
        Schema::Array(array) => match datum {
            Datum::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| to_value(item, &array.items, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(fail()),
        },
        Schema::Record(record) => match datum {
            Datum::Record(items) if items.len() == record.fields.len() => Value::Record(
                record
                    .fields
                    .iter()
                    .zip(items.iter())
                    .map(|(field, item)| {
                        to_value(item, &field.schema, &format!("{path}.{}", field.name))
                            .map(|v| (field.name.clone(), v))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(fail()),
        },
        _ => return Err(fail()),
    })
}

/// Fetches the writer schema `id` from the Confluent-compatible registry at `url`
/// (`GET {url}/schemas/ids/{id}`, plain HTTP/1.1).
pub fn fetch_schema(url: &str, id: u32) -> Result<Schema, FormatError> {
    let failed = |why: String| {
        FormatError::new(format!(
            "cannot fetch schema {id} from the schema registry at {url}: {why}"
        ))
        .hint("check 'schema-registry.url' and that the registry is up and knows the id")
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| failed("only http:// URLs are supported".into()))?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let socket = address
        .to_socket_addrs()
        .map_err(|e| failed(format!("cannot resolve {address}: {e}")))?
        .next()
        .ok_or_else(|| failed(format!("{address} resolves to no address")))?;
    let timeout = Duration::from_secs(10);
    let mut stream = TcpStream::connect_timeout(&socket, timeout)
        .map_err(|e| failed(format!("cannot connect to {address}: {e}")))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!(
        "GET {base}/schemas/ids/{id} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/vnd.schemaregistry.v1+json, application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| failed(format!("cannot send the request: {e}")))?;
    let mut response = Vec::new();
    stream
        .take(16 << 20)
        .read_to_end(&mut response)
        .map_err(|e| failed(format!("cannot read the response: {e}")))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| failed("the response has no HTTP header".into()))?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut body = response[split + 4..].to_vec();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    if head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    }) {
        body = dechunk(&body).ok_or_else(|| failed("bad chunked response".into()))?;
    }
    let text = String::from_utf8_lossy(&body).to_string();
    if status != "200" {
        return Err(failed(format!("HTTP {status}: {}", text.trim())));
    }
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| failed(format!("the response is not JSON: {e}")))?;
    if let Some(kind) = json.get("schemaType").and_then(|k| k.as_str())
        && kind != "AVRO"
    {
        return Err(failed(format!("schema {id} is {kind}, not AVRO")));
    }
    let schema = json
        .get("schema")
        .and_then(|s| s.as_str())
        .ok_or_else(|| failed("the response has no \"schema\"".into()))?;
    Schema::parse_str(schema).map_err(|e| failed(format!("the schema does not parse: {e}")))
}

fn dechunk(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}
