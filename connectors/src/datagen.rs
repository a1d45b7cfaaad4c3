//! The `datagen` connector: rows generated from the declared columns, Flink-style.
//!
//! ```sql
//! CREATE TABLE orders (id BIGINT, amount DOUBLE, customer TEXT) WITH (
//!   'connector' = 'datagen', 'number-of-rows' = '1000', 'rows-per-second' = '100',
//!   'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000',
//!   'fields.amount.min' = '1', 'fields.amount.max' = '500', 'fields.customer.length' = '8');
//! ```
//!
//! Each field is `random` (default) or `sequence`. Values are a pure function of the row
//! number, the field and the seed, so any split across workers (row `i` goes to worker
//! `i mod n`) produces the same rows.

use laaster_repr::{Datum, RelationDesc, Row, ScalarType};
use rust_decimal::Decimal;

/// How one column is generated.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    /// `start + row number`, ending the stream after `end` if given.
    Sequence { start: i64, end: Option<i64> },
    /// Uniform in `[min, max]` for numbers; `length` characters for text.
    Random { min: f64, max: f64, length: usize },
}

/// A parsed `datagen` configuration.
#[derive(Clone, Debug)]
pub struct DatagenConfig {
    /// Rows in total; `None` is unbounded.
    pub rows: Option<u64>,
    /// Rows per second over all workers; `None` is as fast as possible.
    pub rows_per_second: Option<u64>,
    pub seed: u64,
    pub fields: Vec<(String, ScalarType, FieldKind)>,
}

/// A configuration error: which option, why, and what would work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DatagenError {
    pub message: String,
    pub hint: String,
}

fn error(message: String, hint: &str) -> DatagenError {
    DatagenError {
        message,
        hint: hint.to_string(),
    }
}

impl DatagenConfig {
    /// Parses the `WITH` options (without `connector`) for a table with `columns`.
    pub fn from_options(
        columns: &RelationDesc,
        options: &[(String, String)],
    ) -> Result<DatagenConfig, DatagenError> {
        let get = |key: &str| {
            options
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        let number = |key: &str| -> Result<Option<f64>, DatagenError> {
            get(key)
                .map(|v| {
                    v.trim().parse::<f64>().map_err(|_| {
                        error(
                            format!("option '{key}' must be a number, not \"{v}\""),
                            "Write the value as a quoted number, e.g. '100'.",
                        )
                    })
                })
                .transpose()
        };
        for (key, _) in options {
            let known = matches!(
                key.to_ascii_lowercase().as_str(),
                "number-of-rows" | "rows-per-second" | "seed"
            ) || key.to_ascii_lowercase().starts_with("fields.");
            if !known {
                return Err(error(
                    format!("unknown option '{key}' for connector 'datagen'"),
                    "Options: 'number-of-rows', 'rows-per-second', 'seed', 'fields.<column>.kind|start|end|min|max|length'.",
                ));
            }
        }
        let whole = |key: &str| -> Result<Option<u64>, DatagenError> {
            match number(key)? {
                Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= 1e15 => Ok(Some(v as u64)),
                Some(v) => Err(error(
                    format!("option '{key}' must be a whole number from 0, not {v}"),
                    "Use e.g. '1000'.",
                )),
                None => Ok(None),
            }
        };
        let mut fields = Vec::new();
        for column in &columns.columns {
            let prefix = format!("fields.{}.", column.name);
            let field = |name: &str| get(&format!("{prefix}{name}"));
            let field_number = |name: &str| number(&format!("{prefix}{name}"));
            let kind = match field("kind").map(str::to_ascii_lowercase).as_deref() {
                Some("sequence") => {
                    if !column.typ.scalar.is_integer() {
                        return Err(error(
                            format!(
                                "column \"{}\" of type {} cannot be a sequence",
                                column.name, column.typ.scalar
                            ),
                            "Sequences are for integer columns.",
                        ));
                    }
                    FieldKind::Sequence {
                        start: field_number("start")?.unwrap_or(0.0) as i64,
                        end: field_number("end")?.map(|e| e as i64),
                    }
                }
                Some("random") | None => FieldKind::Random {
                    min: field_number("min")?.unwrap_or(0.0),
                    max: field_number("max")?.unwrap_or(1_000_000.0),
                    length: field_number("length")?.unwrap_or(10.0).clamp(0.0, 65_536.0) as usize,
                },
                Some(other) => {
                    return Err(error(
                        format!(
                            "option '{prefix}kind' must be 'random' or 'sequence', not \"{other}\""
                        ),
                        "Use 'sequence' for counters and 'random' otherwise.",
                    ));
                }
            };
            if !supported(&column.typ.scalar) {
                return Err(error(
                    format!(
                        "datagen cannot generate column \"{}\" of type {}",
                        column.name, column.typ.scalar
                    ),
                    "Supported: boolean, integers, real, double, numeric, text, varchar, timestamp.",
                ));
            }
            fields.push((column.name.clone(), column.typ.scalar.clone(), kind));
        }
        // A bounded sequence bounds the stream.
        let sequence_rows = fields
            .iter()
            .filter_map(|(_, _, kind)| match kind {
                FieldKind::Sequence {
                    start,
                    end: Some(end),
                } => Some((end - start + 1).max(0) as u64),
                _ => None,
            })
            .min();
        let rows = match (whole("number-of-rows")?, sequence_rows) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(DatagenConfig {
            rows,
            rows_per_second: whole("rows-per-second")?.filter(|r| *r > 0),
            seed: whole("seed")?.unwrap_or(0),
            fields,
        })
    }

    /// Row number `index` (0-based).
    pub fn row(&self, index: u64) -> Row {
        self.fields
            .iter()
            .enumerate()
            .map(|(position, (_, typ, kind))| self.value(index, position as u64, typ, kind))
            .collect()
    }

    fn value(&self, index: u64, field: u64, typ: &ScalarType, kind: &FieldKind) -> Datum {
        match kind {
            FieldKind::Sequence { start, .. } => {
                let value = start.saturating_add(index as i64);
                match typ {
                    ScalarType::Int16 => i16::try_from(value).map_or(Datum::Null, Datum::Int16),
                    ScalarType::Int32 => i32::try_from(value).map_or(Datum::Null, Datum::Int32),
                    _ => Datum::Int64(value),
                }
            }
            FieldKind::Random { min, max, length } => {
                let bits = mix(self.seed, index, field);
                let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
                let number = min + unit * (max - min);
                match typ {
                    ScalarType::Bool => Datum::Bool(bits & 1 == 1),
                    ScalarType::Int16 => Datum::Int16(number.round() as i16),
                    ScalarType::Int32 => Datum::Int32(number.round() as i32),
                    ScalarType::Int64 => Datum::Int64(number.round() as i64),
                    ScalarType::Float32 => Datum::float32(number as f32),
                    ScalarType::Float64 => Datum::float64(number),
                    ScalarType::Decimal { scale, .. } => Decimal::from_f64_retain(number)
                        .map(|d| d.round_dp(u32::from(scale.unwrap_or(2))))
                        .map_or(Datum::Null, Datum::Decimal),
                    ScalarType::Timestamp => {
                        Datum::Timestamp(1_700_000_000_000_000 + index as i64 * 1_000)
                    }
                    _ => {
                        let mut state = bits;
                        let text: String = (0..*length)
                            .map(|_| {
                                state = state
                                    .wrapping_mul(6364136223846793005)
                                    .wrapping_add(1442695040888963407);
                                char::from(b'a' + ((state >> 33) % 26) as u8)
                            })
                            .collect();
                        Datum::text(&text)
                    }
                }
            }
        }
    }
}

fn supported(typ: &ScalarType) -> bool {
    typ.is_numeric() || typ.is_string() || matches!(typ, ScalarType::Bool | ScalarType::Timestamp)
}

/// SplitMix64 of (seed, row, field): the randomness of one value.
fn mix(seed: u64, index: u64, field: u64) -> u64 {
    let mut z = seed
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(field.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use laaster_repr::{Column, ColumnType};

    fn columns() -> RelationDesc {
        let column = |name: &str, scalar| Column {
            name: name.into(),
            typ: ColumnType::nullable(scalar),
        };
        RelationDesc::new(vec![
            column("id", ScalarType::Int64),
            column("amount", ScalarType::Float64),
            column("name", ScalarType::Text),
        ])
    }

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sequences_randoms_and_bounds() {
        let config = DatagenConfig::from_options(
            &columns(),
            &options(&[
                ("fields.id.kind", "sequence"),
                ("fields.id.start", "10"),
                ("fields.id.end", "19"),
                ("fields.amount.min", "5"),
                ("fields.amount.max", "6"),
                ("fields.name.length", "4"),
            ]),
        )
        .unwrap();
        assert_eq!(config.rows, Some(10));
        let row = config.row(3);
        assert_eq!(row[0], Datum::Int64(13));
        let Datum::Float64(amount) = row[1] else {
            panic!()
        };
        assert!((5.0..=6.0).contains(&amount.0));
        assert_eq!(row[2].as_str().map(str::len), Some(4));
        assert_eq!(config.row(3), row, "deterministic");
    }

    #[test]
    fn bad_options_are_refused_with_a_hint() {
        let err = DatagenConfig::from_options(&columns(), &options(&[("rows", "5")])).unwrap_err();
        assert!(err.message.contains("unknown option 'rows'"));
        let err =
            DatagenConfig::from_options(&columns(), &options(&[("fields.name.kind", "sequence")]))
                .unwrap_err();
        assert!(err.message.contains("cannot be a sequence"));
        let err = DatagenConfig::from_options(&columns(), &options(&[("number-of-rows", "-1")]))
            .unwrap_err();
        assert!(err.message.contains("whole number"));
    }
}
