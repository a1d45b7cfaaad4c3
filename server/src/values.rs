//! Conversions at the edge: engine values and errors into protobuf messages, JSON and
//! gRPC statuses, and JSON rows into typed engine rows (for Ingest).

use laaster_engine::{ErrorResponse, RowSet};
use laaster_repr::cast::cast_datum;
use laaster_repr::strconv::format_datum;
use laaster_repr::{Datum, RelationDesc, Row, ScalarType};
use serde_json::{Value as Json, json};

use crate::proto;

impl From<&ErrorResponse> for proto::Error {
    fn from(error: &ErrorResponse) -> Self {
        proto::Error {
            code: error.code.clone(),
            message: error.message.clone(),
            detail: error.detail.clone().unwrap_or_default(),
            hint: error.hint.clone().unwrap_or_default(),
            line: error.position.map_or(0, |p| p.line),
            column: error.position.map_or(0, |p| p.column),
            resume_as_of: None,
        }
    }
}

/// A gRPC status for an engine error: the code follows the SQLSTATE class, the message
/// is the Postgres-style rendering, and `x-laaster-sqlstate` carries the SQLSTATE.
pub fn status_for(error: &ErrorResponse, sql: Option<&str>) -> tonic::Status {
    let code = match error.code.as_str() {
        "42P01" => tonic::Code::NotFound,
        "57P01" => tonic::Code::Unavailable,
        c if ["42", "22", "23", "0A", "P0"]
            .iter()
            .any(|p| c.starts_with(p)) =>
        {
            tonic::Code::InvalidArgument
        }
        _ => tonic::Code::Internal,
    };
    let mut status = tonic::Status::new(code, error.render(sql));
    if let Ok(value) = error.code.parse() {
        status.metadata_mut().insert("x-laaster-sqlstate", value);
    }
    status
}

/// The columns of a schema as protobuf.
pub fn columns(desc: &RelationDesc) -> Vec<proto::Column> {
    desc.columns
        .iter()
        .map(|c| proto::Column {
            name: c.name.clone(),
            r#type: c.typ.scalar.to_string(),
            nullable: c.typ.nullable,
        })
        .collect()
}

/// A row as protobuf text values.
pub fn proto_row(row: &Row) -> proto::Row {
    proto::Row {
        values: row
            .iter()
            .map(|datum| proto::Value {
                text: (!datum.is_null()).then(|| format_datum(datum)),
            })
            .collect(),
    }
}

/// A result set as protobuf.
pub fn proto_row_set(rows: &RowSet) -> proto::RowSet {
    proto::RowSet {
        columns: columns(&rows.desc),
        rows: rows.rows.iter().map(proto_row).collect(),
        timestamp: rows.timestamp,
    }
}

/// One value as JSON: numbers and booleans natively (non-finite floats as strings),
/// NULL as null, everything else as its Postgres text.
pub fn datum_json(datum: &Datum) -> Json {
    match datum {
        Datum::Null => Json::Null,
        Datum::Bool(b) => Json::Bool(*b),
        Datum::Int16(i) => json!(i),
        Datum::Int32(i) => json!(i),
        Datum::Int64(i) => json!(i),
        Datum::Float32(f) if f.is_finite() => json!(f.into_inner()),
        Datum::Float64(f) if f.is_finite() => json!(f.into_inner()),
        other => Json::String(format_datum(other)),
    }
}

/// A row as a JSON array.
pub fn row_json(row: &Row) -> Json {
    Json::Array(row.iter().map(datum_json).collect())
}

/// Columns as JSON `[{"name", "type"}]`.
pub fn columns_json(desc: &RelationDesc) -> Json {
    Json::Array(
        desc.columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.typ.scalar.to_string()}))
            .collect(),
    )
}

/// An error as JSON, Postgres fields.
pub fn error_json(error: &ErrorResponse) -> Json {
    json!({
        "code": error.code,
        "message": error.message,
        "detail": error.detail,
        "hint": error.hint,
        "line": error.position.map(|p| p.line),
        "column": error.position.map(|p| p.column),
    })
}

/// Why one JSON row could not become a table row.
#[derive(Debug)]
pub struct RowConversionError {
    /// The column at fault, if the problem is one value.
    pub column: Option<String>,
    pub error: Box<ErrorResponse>,
}

/// A table's columns and what Ingest fills in for the columns a row leaves out.
#[derive(Clone, Debug, Default)]
pub struct TableSchema {
    pub desc: RelationDesc,
    /// Per column: the value of its DEFAULT (or why it could not be computed); `None`
    /// when the column has no DEFAULT, so a missing value is NULL.
    pub defaults: Vec<Option<Result<Datum, ErrorResponse>>>,
    /// The table's `CREATE TABLE` text, from which the DEFAULTs are computed again for
    /// each Ingest request (`DEFAULT now()` is the request's time).
    pub create_sql: Option<String>,
}

impl TableSchema {
    /// A schema whose columns have no DEFAULTs.
    pub fn without_defaults(desc: RelationDesc) -> TableSchema {
        TableSchema {
            defaults: vec![None; desc.arity()],
            desc,
            create_sql: None,
        }
    }

    /// The value of column `index` for a row that leaves it out.
    pub fn missing_value(&self, index: usize) -> Result<Datum, RowConversionError> {
        match self.defaults.get(index) {
            Some(Some(Ok(datum))) => Ok(datum.clone()),
            Some(Some(Err(error))) => Err(RowConversionError {
                column: self.desc.columns.get(index).map(|c| c.name.clone()),
                error: Box::new(error.clone()),
            }),
            _ => Ok(Datum::Null),
        }
    }

    /// A row of `datums` (one per column, in order) once every NOT NULL column has a
    /// value.
    pub fn finish_row(&self, datums: Vec<Datum>) -> Result<Row, RowConversionError> {
        for (datum, column) in datums.iter().zip(&self.desc.columns) {
            if datum.is_null() && !column.typ.nullable {
                return Err(RowConversionError {
                    column: Some(column.name.clone()),
                    error: Box::new(
                        ErrorResponse::new(
                            "23502",
                            format!(
                                "null value in column \"{}\" violates not-null constraint",
                                column.name
                            ),
                        )
                        .with_hint(
                            "give the column a value (it has no DEFAULT, or its DEFAULT is NULL)",
                        ),
                    ),
                });
            }
        }
        Ok(Row::new(datums))
    }
}

/// Parses one JSON row (an object by column name, or an array in column order) into a
/// row of the table's types. Missing object keys take the column's DEFAULT (else NULL);
/// an explicit `null` is NULL.
pub fn json_row(text: &str, schema: &TableSchema) -> Result<Row, RowConversionError> {
    let desc = &schema.desc;
    let whole = |error: ErrorResponse| RowConversionError {
        column: None,
        error: Box::new(error),
    };
    let value: Json = serde_json::from_str(text).map_err(|e| {
        whole(
            ErrorResponse::new("22P02", format!("invalid JSON: {e}")).with_hint(
                "each row is a JSON object {\"column\": value} or an array [value, ...]",
            ),
        )
    })?;
    let values: Vec<Option<Json>> = match value {
        Json::Array(items) => {
            if items.len() != desc.arity() {
                return Err(whole(
                    ErrorResponse::new(
                        "22023",
                        format!(
                            "row has {} values but the table has {} columns",
                            items.len(),
                            desc.arity()
                        ),
                    )
                    .with_hint(
                        "an array row lists every column; use an object to leave columns out",
                    ),
                ));
            }
            items.into_iter().map(Some).collect()
        }
        Json::Object(mut fields) => {
            let values = desc
                .columns
                .iter()
                .map(|c| fields.remove(&c.name))
                .collect();
            if let Some(unknown) = fields.keys().next() {
                let names: Vec<&str> = desc.names().collect();
                return Err(RowConversionError {
                    column: Some(unknown.clone()),
                    error: Box::new(
                        ErrorResponse::new("42703", format!("column \"{unknown}\" does not exist"))
                            .with_hint(format!("the table's columns are {}", names.join(", "))),
                    ),
                });
            }
            values
        }
        other => {
            return Err(whole(ErrorResponse::new(
                "22023",
                format!("a row must be a JSON object or array, not {other}"),
            )));
        }
    };
    let mut datums = Vec::with_capacity(values.len());
    for (index, (value, column)) in values.iter().zip(&desc.columns).enumerate() {
        let Some(value) = value else {
            datums.push(schema.missing_value(index)?);
            continue;
        };
        let datum = json_datum(value, &column.typ.scalar).map_err(|e| RowConversionError {
            column: Some(column.name.clone()),
            error: Box::new(ErrorResponse::from(e).with_detail(format!(
                "column \"{}\" is {}",
                column.name, column.typ.scalar
            ))),
        })?;
        datums.push(datum);
    }
    schema.finish_row(datums)
}

/// One JSON value as a datum of `typ`, through the type's text input (arrays element by
/// element).
fn json_datum(value: &Json, typ: &ScalarType) -> Result<Datum, laaster_repr::EvalError> {
    let text = match value {
        Json::Null => return Ok(Datum::Null),
        Json::Array(items) if matches!(typ, ScalarType::Array(_)) => {
            let ScalarType::Array(element) = typ else {
                unreachable!("checked by the guard")
            };
            let elements = items
                .iter()
                .map(|item| json_datum(item, element))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Datum::Array(elements.into()));
        }
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Array(_) | Json::Object(_) => value.to_string(),
    };
    cast_datum(&Datum::text(&text), typ)
}

#[cfg(test)]
mod tests {
    use super::*;
    use laaster_repr::{Column, ColumnType};

    fn desc() -> RelationDesc {
        RelationDesc::new(vec![
            Column {
                name: "id".into(),
                typ: ColumnType::new(ScalarType::Int64, false),
            },
            Column {
                name: "name".into(),
                typ: ColumnType::new(ScalarType::Text, true),
            },
        ])
    }

    fn schema() -> TableSchema {
        TableSchema::without_defaults(desc())
    }

    #[test]
    fn objects_and_arrays_convert() {
        let row = json_row(r#"{"id": 7, "name": "B"}"#, &schema()).unwrap();
        assert_eq!(row_json(&row), json!([7, "B"]));
        let row = json_row(r#"["8", null]"#, &schema()).unwrap();
        assert_eq!(row_json(&row), json!([8, null]));
        let row = json_row(r#"{"id": 9}"#, &schema()).unwrap();
        assert_eq!(row_json(&row), json!([9, null]));
    }

    #[test]
    fn missing_columns_take_their_defaults() {
        let schema = TableSchema {
            desc: desc(),
            defaults: vec![Some(Ok(Datum::Int64(42))), Some(Ok(Datum::text("anon")))],
            create_sql: None,
        };
        let row = json_row(r#"{"id": 1}"#, &schema).unwrap();
        assert_eq!(row_json(&row), json!([1, "anon"]));
        let row = json_row(r#"{"name": null}"#, &schema).unwrap();
        assert_eq!(row_json(&row), json!([42, null]), "explicit null is NULL");
    }

    #[test]
    fn errors_name_the_column() {
        let err = json_row(r#"{"id": "x"}"#, &schema()).unwrap_err();
        assert_eq!(err.column.as_deref(), Some("id"));
        assert_eq!(err.error.code, "22P02");
        let err = json_row(r#"{"name": "a"}"#, &schema()).unwrap_err();
        assert_eq!(err.error.code, "23502");
        let err = json_row(r#"{"id": 1, "nme": "a"}"#, &schema()).unwrap_err();
        assert_eq!(err.column.as_deref(), Some("nme"));
        assert!(json_row("[1]", &schema()).is_err());
        assert!(json_row("{", &schema()).is_err());
    }
}

/// The SQL type a column's `type` name (as [`ScalarType`]'s `Display` writes it) stands
/// for; composite types and unknown names come back as text. Clients use it to turn
/// text values back into typed values.
pub fn parse_type_name(name: &str) -> ScalarType {
    let name = name.trim();
    if let Some(element) = name.strip_suffix("[]") {
        return ScalarType::Array(Box::new(parse_type_name(element)));
    }
    let (base, arguments) = match name.split_once('(') {
        Some((base, rest)) => (base.trim(), rest.trim_end_matches(')')),
        None => (name, ""),
    };
    let numbers: Vec<u32> = arguments
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    match base {
        "boolean" => ScalarType::Bool,
        "smallint" => ScalarType::Int16,
        "integer" => ScalarType::Int32,
        "bigint" => ScalarType::Int64,
        "real" => ScalarType::Float32,
        "double precision" => ScalarType::Float64,
        "numeric" => ScalarType::Decimal {
            precision: numbers.first().and_then(|&p| u8::try_from(p).ok()),
            scale: numbers.get(1).and_then(|&s| u8::try_from(s).ok()),
        },
        "character varying" => ScalarType::VarChar {
            max_length: numbers.first().copied(),
        },
        "bytea" => ScalarType::Bytea,
        "date" => ScalarType::Date,
        "time without time zone" => ScalarType::Time,
        "timestamp without time zone" => ScalarType::Timestamp,
        "timestamp with time zone" => ScalarType::TimestampTz,
        "interval" => ScalarType::Interval,
        "jsonb" => ScalarType::Jsonb,
        _ => ScalarType::Text,
    }
}

/// A protobuf row as typed datums of `types` (values that do not parse stay text).
pub fn typed_row(row: &proto::Row, types: &[ScalarType]) -> Row {
    Row::new(
        row.values
            .iter()
            .enumerate()
            .map(|(i, value)| match &value.text {
                None => Datum::Null,
                Some(text) => {
                    let text_datum = Datum::text(text);
                    match types.get(i) {
                        Some(ScalarType::Text) | None => text_datum,
                        Some(typ) => cast_datum(&text_datum, typ).unwrap_or(text_datum),
                    }
                }
            })
            .collect(),
    )
}

/// A schema from protobuf columns.
pub fn desc_from_columns(columns: &[proto::Column]) -> RelationDesc {
    RelationDesc::new(
        columns
            .iter()
            .map(|c| laaster_repr::Column {
                name: c.name.clone(),
                typ: laaster_repr::ColumnType::new(parse_type_name(&c.r#type), c.nullable),
            })
            .collect(),
    )
}

/// A protobuf error as an engine error.
pub fn error_from_proto(error: &proto::Error) -> ErrorResponse {
    let mut response = ErrorResponse::new(&error.code, error.message.clone());
    if !error.detail.is_empty() {
        response = response.with_detail(error.detail.clone());
    }
    if !error.hint.is_empty() {
        response = response.with_hint(error.hint.clone());
    }
    if error.line > 0 {
        response = response.with_position(laaster_repr::Position {
            line: error.line,
            column: error.column,
        });
    }
    response
}

#[cfg(test)]
mod type_name_tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for typ in [
            ScalarType::Bool,
            ScalarType::Int16,
            ScalarType::Int32,
            ScalarType::Int64,
            ScalarType::Float32,
            ScalarType::Float64,
            ScalarType::NUMERIC,
            ScalarType::Decimal {
                precision: Some(10),
                scale: Some(2),
            },
            ScalarType::Text,
            ScalarType::VarChar {
                max_length: Some(5),
            },
            ScalarType::Date,
            ScalarType::Time,
            ScalarType::Timestamp,
            ScalarType::TimestampTz,
            ScalarType::Interval,
            ScalarType::Jsonb,
            ScalarType::Array(Box::new(ScalarType::Int32)),
        ] {
            assert_eq!(parse_type_name(&typ.to_string()), typ, "{typ}");
        }
    }
}
