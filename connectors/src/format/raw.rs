//! `'format' = 'raw'`: the message is one value — a table of exactly one `TEXT`,
//! `VARCHAR` or `BYTEA` column. Text must be UTF-8 (declare `BYTEA` for anything else);
//! an empty message is the empty string or byte string, as in Flink.

use std::sync::Arc;

use laaster_repr::{Datum, Diff, RelationDesc, Row, ScalarType};

use super::{Decoder, Encoder, FormatError, OptionError};

/// Checks the table has the one column `raw` fills.
pub(crate) fn check_columns(columns: &RelationDesc) -> Result<(), OptionError> {
    match columns.columns.as_slice() {
        [column]
            if matches!(
                column.typ.scalar,
                ScalarType::Text | ScalarType::VarChar { .. } | ScalarType::Bytea
            ) =>
        {
            Ok(())
        }
        _ => Err(OptionError::new(
            format!(
                "format 'raw' needs exactly one TEXT or BYTEA column, the table has {}",
                columns
                    .columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.typ.scalar))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "declare one column, e.g. (line TEXT) or (payload BYTEA), or use 'format' = 'json'",
        )),
    }
}

/// Decodes a whole message into one column.
pub struct RawDecoder {
    bytes: bool,
    name: String,
}

impl RawDecoder {
    pub fn new(columns: &RelationDesc) -> RawDecoder {
        let column = columns.columns.first();
        RawDecoder {
            bytes: column.is_some_and(|c| c.typ.scalar == ScalarType::Bytea),
            name: column.map(|c| c.name.clone()).unwrap_or_default(),
        }
    }
}

impl Decoder for RawDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<(Row, Diff)>) -> Result<(), FormatError> {
        let datum = if self.bytes {
            Datum::Bytes(Arc::from(payload))
        } else {
            let text = std::str::from_utf8(payload).map_err(|e| {
                FormatError::new(format!("message is not valid UTF-8: {e}"))
                    .at(self.name.clone())
                    .hint("declare the column as BYTEA to read arbitrary bytes")
            })?;
            Datum::text(text)
        };
        out.push((Row::new(vec![datum]), 1));
        Ok(())
    }
}

/// Encodes the first column's value as the whole message (`NULL` is an empty message).
pub struct RawEncoder;

impl Encoder for RawEncoder {
    fn encode(&mut self, row: &Row, _diff: Diff, out: &mut Vec<u8>) -> Result<(), FormatError> {
        match row.first() {
            Some(Datum::Bytes(bytes)) => out.extend_from_slice(bytes),
            Some(Datum::Text(text)) => out.extend_from_slice(text.as_bytes()),
            Some(Datum::Null) | None => {}
            Some(other) => {
                out.extend_from_slice(laaster_repr::strconv::format_datum(other).as_bytes())
            }
        }
        Ok(())
    }
}
