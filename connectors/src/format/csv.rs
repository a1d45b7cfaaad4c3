//! `'format' = 'csv'`: one CSV record per message (RFC 4180 quoting), fields in column
//! order, each read with Postgres' text input rules for its column type (so nested rows
//! and arrays use Postgres' `(a,b)` and `{a,b}` literals). An empty unquoted field is
//! `NULL` for every type but text; `'csv.null-literal'` names another `NULL` spelling.
//!
//! Options (Flink's): `csv.field-delimiter` (one character, default `,`),
//! `csv.quote-character` (default `"`), `csv.disable-quote-character`,
//! `csv.allow-comments` (lines starting with `#` are skipped), `csv.ignore-parse-errors`,
//! `csv.null-literal`.

use laaster_repr::strconv::{format_datum, parse_datum};
use laaster_repr::{Datum, Diff, RelationDesc, Row, ScalarType};

use super::{Decoder, Encoder, FormatError, OptionError, bool_option, unknown_option};

/// The `csv.*` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote: Option<u8>,
    pub allow_comments: bool,
    pub ignore_parse_errors: bool,
    pub null_literal: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            quote: Some(b'"'),
            allow_comments: false,
            ignore_parse_errors: false,
            null_literal: None,
        }
    }
}

const KNOWN: &[&str] = &[
    "field-delimiter",
    "quote-character",
    "disable-quote-character",
    "allow-comments",
    "ignore-parse-errors",
    "null-literal",
];

fn one_byte(full: &str, value: &str) -> Result<u8, OptionError> {
    let unescaped = match value {
        "\\t" => "\t",
        other => other,
    };
    match unescaped.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(OptionError::new(
            format!("option '{full}' must be one ASCII character, not '{value}'"),
            format!("e.g. '{full}' = ';' (or '\\t' for a tab)"),
        )),
    }
}

impl CsvOptions {
    /// Parses options given without their prefix.
    pub fn parse(prefix: &str, options: &[(String, String)]) -> Result<CsvOptions, OptionError> {
        let mut parsed = CsvOptions::default();
        for (key, value) in options {
            let full = format!("{prefix}{key}");
            match key.as_str() {
                "field-delimiter" => parsed.delimiter = one_byte(&full, value)?,
                "quote-character" => parsed.quote = Some(one_byte(&full, value)?),
                "disable-quote-character" => {
                    if bool_option(&full, value)? {
                        parsed.quote = None;
                    }
                }
                "allow-comments" => parsed.allow_comments = bool_option(&full, value)?,
                "ignore-parse-errors" => parsed.ignore_parse_errors = bool_option(&full, value)?,
                "null-literal" => parsed.null_literal = Some(value.clone()),
                other => return Err(unknown_option(prefix, other, KNOWN)),
            }
        }
        Ok(parsed)
    }
}

/// Decodes CSV records into rows.
pub struct CsvDecoder {
    columns: Vec<(String, ScalarType)>,
    options: CsvOptions,
    record: csv::ByteRecord,
}

impl CsvDecoder {
    pub fn new(columns: &RelationDesc, options: CsvOptions) -> CsvDecoder {
        CsvDecoder {
            columns: columns
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.typ.scalar.clone()))
                .collect(),
            options,
            record: csv::ByteRecord::new(),
        }
    }

    fn reader<'a>(&self, payload: &'a [u8]) -> csv::Reader<&'a [u8]> {
        let mut builder = csv::ReaderBuilder::new();
        builder
            .has_headers(false)
            .flexible(true)
            .delimiter(self.options.delimiter);
        match self.options.quote {
            Some(q) => builder.quote(q),
            None => builder.quoting(false),
        };
        builder.from_reader(payload)
    }
}

impl Decoder for CsvDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<(Row, Diff)>) -> Result<(), FormatError> {
        if self.options.allow_comments && payload.first() == Some(&b'#') {
            return Ok(());
        }
        let mut reader = self.reader(payload);
        let mut record = std::mem::take(&mut self.record);
        let read = reader.read_byte_record(&mut record);
        let result = match read {
            Err(e) => Err(FormatError::new(format!("invalid CSV: {e}"))),
            // An empty message, or only a comment: no row.
            Ok(false) => Ok(()),
            Ok(true) => self.record_to_row(&record).map(|row| out.push((row, 1))),
        };
        self.record = record;
        result
    }
}

impl CsvDecoder {
    fn record_to_row(&self, record: &csv::ByteRecord) -> Result<Row, FormatError> {
        if record.len() != self.columns.len() {
            return Err(FormatError::new(format!(
                "expected {} fields ({}), got {}",
                self.columns.len(),
                self.columns
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                record.len()
            ))
            .hint("check 'csv.field-delimiter' and quoting"));
        }
        let mut datums = Vec::with_capacity(record.len());
        for ((name, typ), field) in self.columns.iter().zip(record.iter()) {
            let text = std::str::from_utf8(field)
                .map_err(|e| FormatError::new(format!("not valid UTF-8: {e}")).at(name.clone()))?;
            let is_null = match &self.options.null_literal {
                Some(literal) => text == literal,
                None => {
                    text.is_empty() && !matches!(typ, ScalarType::Text | ScalarType::VarChar { .. })
                }
            };
            if is_null {
                datums.push(Datum::Null);
                continue;
            }
            let datum = parse_datum(text, typ).map_err(|e| {
                FormatError::new(e.to_string())
                    .at(name.clone())
                    .hint(format!(
                        "column {name} is {}",
                        typ.to_string().to_uppercase()
                    ))
            })?;
            datums.push(datum);
        }
        Ok(Row::new(datums))
    }
}

/// Encodes rows as CSV records (no trailing newline; values in Postgres text form).
pub struct CsvEncoder {
    options: CsvOptions,
    fields: Vec<String>,
}

impl CsvEncoder {
    pub fn new(_columns: &RelationDesc, options: CsvOptions) -> CsvEncoder {
        CsvEncoder {
            options,
            fields: Vec::new(),
        }
    }
}

impl Encoder for CsvEncoder {
    fn encode(&mut self, row: &Row, _diff: Diff, out: &mut Vec<u8>) -> Result<(), FormatError> {
        self.fields.clear();
        for datum in row.iter() {
            self.fields.push(match datum {
                Datum::Null => self.options.null_literal.clone().unwrap_or_default(),
                other => format_datum(other),
            });
        }
        let mut builder = csv::WriterBuilder::new();
        builder
            .delimiter(self.options.delimiter)
            .terminator(csv::Terminator::Any(b'\n'));
        match self.options.quote {
            Some(q) => builder.quote(q),
            None => builder.quote_style(csv::QuoteStyle::Never),
        };
        let mut writer = builder.from_writer(Vec::new());
        writer
            .write_record(&self.fields)
            .map_err(|e| FormatError::new(format!("cannot write CSV: {e}")))?;
        let mut bytes = writer
            .into_inner()
            .map_err(|e| FormatError::new(format!("cannot write CSV: {e}")))?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        out.extend_from_slice(&bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use laaster_repr::{Column, ColumnType};

    use super::*;

    fn columns() -> RelationDesc {
        RelationDesc::new(
            [
                ("id", ScalarType::Int64),
                ("name", ScalarType::Text),
                ("ts", ScalarType::Timestamp),
                ("price", ScalarType::NUMERIC),
            ]
            .into_iter()
            .map(|(n, t)| Column {
                name: n.into(),
                typ: ColumnType::nullable(t),
            })
            .collect(),
        )
    }

    fn decode(options: CsvOptions, text: &str) -> Result<Vec<(Row, Diff)>, FormatError> {
        let mut out = Vec::new();
        CsvDecoder::new(&columns(), options).decode(text.as_bytes(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn quoting_nulls_and_round_trip() {
        let rows = decode(
            CsvOptions::default(),
            "7,\"a, \"\"quoted\"\" name\",2015-07-15 00:00:00.001,",
        )
        .unwrap();
        let row = &rows[0].0;
        assert_eq!(format_datum(&row[1]), "a, \"quoted\" name");
        assert_eq!(row[3], Datum::Null);
        let mut out = Vec::new();
        CsvEncoder::new(&columns(), CsvOptions::default())
            .encode(row, 1, &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "7,\"a, \"\"quoted\"\" name\",2015-07-15 00:00:00.001,"
        );
        assert_eq!(decode(CsvOptions::default(), &text).unwrap()[0].0, *row);
    }

    #[test]
    fn delimiter_comments_and_errors() {
        let options = CsvOptions::parse(
            "csv.",
            &[
                ("field-delimiter".into(), ";".into()),
                ("allow-comments".into(), "true".into()),
                ("null-literal".into(), "\\N".into()),
            ],
        )
        .unwrap();
        assert!(decode(options.clone(), "# a comment").unwrap().is_empty());
        let rows = decode(options.clone(), "1;\\N;\\N;2.5").unwrap();
        assert_eq!(rows[0].0[1], Datum::Null);
        let err = decode(options.clone(), "1;x").unwrap_err();
        assert!(err.message.contains("expected 4 fields"), "{err}");
        let err = decode(options, "x;a;2015-07-15;1").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("id"));
        assert!(err.to_string().contains("\"x\""), "{err}");
        let err =
            CsvOptions::parse("csv.", &[("field-delimiter".into(), ";;".into())]).unwrap_err();
        assert!(err.message.contains("one ASCII character"));
    }
}
