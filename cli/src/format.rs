//! Printing results: row sets as a psql-like table, CSV (RFC 4180), TSV (Postgres COPY
//! text) or JSON lines, and command tags. Values come from
//! [`laaster_repr::strconv::format_datum`], Postgres' text output.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use comfy_table::{Cell, CellAlignment, ContentLineStyle, LineStyle, Table, TableStyle};
use laaster_engine::RowSet;
use laaster_repr::strconv::format_datum;
use laaster_repr::{Datum, RelationDesc, Row, ScalarType};

/// How rows are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table with a header and a `(N rows)` footer, as psql prints.
    #[default]
    Table,
    /// Comma-separated values with a header line; NULL is an empty field.
    Csv,
    /// One JSON object per row.
    Json,
    /// Tab-separated values with a header line; NULL is `\N`, as Postgres' COPY.
    Tsv,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            "tsv" => Ok(OutputFormat::Tsv),
            other => Err(format!(
                "unknown format \"{other}\" (expected table, csv, json or tsv)"
            )),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Tsv => "tsv",
        })
    }
}

/// Prints a command's tag (`CREATE TABLE`, `INSERT 0 3`); only the table format shows
/// tags, so that csv/json/tsv output stays machine-readable.
pub fn write_command(out: &mut dyn Write, tag: &str, format: OutputFormat) -> io::Result<()> {
    if format == OutputFormat::Table {
        writeln!(out, "{tag}")?;
    }
    Ok(())
}

/// Prints a result set in `format`.
pub fn write_rows(out: &mut dyn Write, rows: &RowSet, format: OutputFormat) -> io::Result<()> {
    let types: Vec<&ScalarType> = rows.desc.columns.iter().map(|c| &c.typ.scalar).collect();
    match format {
        OutputFormat::Table => {
            let table = render_table(&rows.desc, &rows.rows);
            if !table.is_empty() {
                writeln!(out, "{table}")?;
            }
            writeln!(out, "{}\n", row_count_footer(rows.rows.len()))
        }
        OutputFormat::Csv => {
            writeln!(out, "{}", csv_line(rows.desc.names().map(csv_quote)))?;
            for row in &rows.rows {
                writeln!(out, "{}", csv_line(row.iter().map(csv_field)))?;
            }
            Ok(())
        }
        OutputFormat::Tsv => {
            writeln!(out, "{}", tsv_line(rows.desc.names().map(tsv_escape)))?;
            for row in &rows.rows {
                writeln!(out, "{}", tsv_line(row.iter().map(tsv_field)))?;
            }
            Ok(())
        }
        OutputFormat::Json => {
            for row in &rows.rows {
                writeln!(out, "{}", json_object(&rows.desc, &types, row))?;
            }
            Ok(())
        }
    }
}

/// psql's footer: `(1 row)`, `(N rows)`.
pub fn row_count_footer(count: usize) -> String {
    if count == 1 {
        "(1 row)".to_string()
    } else {
        format!("({count} rows)")
    }
}

/// The psql look: no outer border, `|` between columns, `-+-` under the header.
const PSQL_STYLE: TableStyle = TableStyle::new()
    .header_lines(ContentLineStyle::none().junction('|'))
    .header_separator(LineStyle::none().fill('-').junction('+'))
    .content_lines(ContentLineStyle::none().junction('|'));

/// An aligned table: header centered, numeric columns right-aligned, trailing blanks
/// trimmed. Empty when the relation has no columns.
pub fn render_table(desc: &RelationDesc, rows: &[Row]) -> String {
    if desc.arity() == 0 {
        return String::new();
    }
    let mut table = Table::new();
    table.load_style(PSQL_STYLE);
    table.set_header(
        desc.names()
            .map(|name| Cell::new(name).set_alignment(CellAlignment::Center)),
    );
    for row in rows {
        table.add_row(row.iter().map(|datum| Cell::new(format_datum(datum))));
    }
    for (index, column) in desc.columns.iter().enumerate() {
        if column.typ.scalar.is_numeric()
            && let Some(table_column) = table.column_mut(index)
        {
            table_column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.trim_fmt()
}

/// A CSV field: NULL is empty, the empty string is `""`, and fields holding a comma,
/// quote, CR or LF are quoted with quotes doubled (RFC 4180).
pub fn csv_field(datum: &Datum) -> String {
    if datum.is_null() {
        return String::new();
    }
    let text = format_datum(datum);
    if text.is_empty() {
        return "\"\"".to_string();
    }
    csv_quote(&text)
}

pub fn csv_quote(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Joins already-formatted CSV fields.
pub fn csv_line(fields: impl Iterator<Item = String>) -> String {
    fields.collect::<Vec<_>>().join(",")
}

/// A TSV field in Postgres COPY text form: NULL is `\N`; backslash, tab, LF and CR are
/// escaped.
pub fn tsv_field(datum: &Datum) -> String {
    if datum.is_null() {
        "\\N".to_string()
    } else {
        tsv_escape(&format_datum(datum))
    }
}

pub fn tsv_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

pub fn tsv_line(fields: impl Iterator<Item = String>) -> String {
    fields.collect::<Vec<_>>().join("\t")
}

/// One row as a JSON object `{"col": value, ...}` in column order.
pub fn json_object(desc: &RelationDesc, types: &[&ScalarType], row: &Row) -> String {
    let mut out = String::from("{");
    for (index, (name, datum)) in desc.names().zip(row.iter()).enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&json_string(name));
        out.push(':');
        let typ = types.get(index).copied().unwrap_or(&ScalarType::Unknown);
        out.push_str(&json_value(datum, typ));
    }
    out.push('}');
    out
}

/// A value as JSON: null; booleans as booleans; integer, float and numeric values as
/// numbers (NaN and infinities, which JSON cannot hold, as strings); everything else as
/// its Postgres text in a string.
pub fn json_value(datum: &Datum, typ: &ScalarType) -> String {
    match datum {
        Datum::Null => "null".to_string(),
        Datum::Bool(b) => b.to_string(),
        _ => {
            let text = format_datum(datum);
            if typ.is_numeric() && is_json_number(&text) {
                text
            } else {
                json_string(&text)
            }
        }
    }
}

pub fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// Whether `text` is a number in JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if bytes.first() == Some(&b'-') {
        i += 1;
    }
    let integer_start = i;
    let integer_digits = digits(&mut i);
    if integer_digits == 0 || (integer_digits > 1 && bytes[integer_start] == b'0') {
        return false;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use laaster_repr::{Column, ColumnType};
    use rust_decimal::Decimal;

    use super::*;

    fn desc(columns: &[(&str, ScalarType)]) -> RelationDesc {
        RelationDesc::new(
            columns
                .iter()
                .map(|(name, typ)| Column {
                    name: name.to_string(),
                    typ: ColumnType::nullable(typ.clone()),
                })
                .collect(),
        )
    }

    fn row_set(desc: RelationDesc, rows: Vec<Vec<Datum>>) -> RowSet {
        RowSet {
            desc,
            rows: rows.into_iter().map(Row::new).collect(),
            timestamp: 0,
        }
    }

    fn print(rows: &RowSet, format: OutputFormat) -> String {
        let mut out = Vec::new();
        write_rows(&mut out, rows, format).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        assert_eq!(csv_field(&Datum::text("plain")), "plain");
        assert_eq!(csv_field(&Datum::text("a,b")), "\"a,b\"");
        assert_eq!(csv_field(&Datum::text("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(&Datum::text("two\nlines")), "\"two\nlines\"");
        assert_eq!(csv_field(&Datum::Null), "");
        assert_eq!(csv_field(&Datum::text("")), "\"\"");
        let rows = row_set(
            desc(&[("n", ScalarType::Int64), ("s,t", ScalarType::Text)]),
            vec![
                vec![Datum::Int64(1), Datum::text("x,y")],
                vec![Datum::Null, Datum::Null],
            ],
        );
        assert_eq!(print(&rows, OutputFormat::Csv), "n,\"s,t\"\n1,\"x,y\"\n,\n");
    }

    #[test]
    fn tsv_escapes_like_copy() {
        let rows = row_set(
            desc(&[("a", ScalarType::Text), ("b", ScalarType::Int32)]),
            vec![vec![Datum::text("tab\there\\"), Datum::Null]],
        );
        assert_eq!(
            print(&rows, OutputFormat::Tsv),
            "a\tb\ntab\\there\\\\\t\\N\n"
        );
    }

    #[test]
    fn json_types_values() {
        let rows = row_set(
            desc(&[
                ("n", ScalarType::Int64),
                ("d", ScalarType::NUMERIC),
                ("b", ScalarType::Bool),
                ("s", ScalarType::Text),
                ("z", ScalarType::Int32),
            ]),
            vec![vec![
                Datum::Int64(-3),
                Datum::Decimal(Decimal::new(1074, 2)),
                Datum::Bool(true),
                Datum::text("he said \"1\""),
                Datum::Null,
            ]],
        );
        assert_eq!(
            print(&rows, OutputFormat::Json),
            "{\"n\":-3,\"d\":10.74,\"b\":true,\"s\":\"he said \\\"1\\\"\",\"z\":null}\n"
        );
        // A numeric column whose text is not a JSON number stays a string.
        assert_eq!(
            json_value(&Datum::text("NaN"), &ScalarType::Float64),
            "\"NaN\""
        );
        assert_eq!(json_value(&Datum::text("12"), &ScalarType::Text), "\"12\"");
    }

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "12", "1.5", "-0.25", "1e10", "2.5E-3"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "NaN", "Infinity", "1e", "1 ", "+1",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn table_has_psql_shape_and_footer() {
        let rows = row_set(
            desc(&[("name", ScalarType::Text), ("n", ScalarType::Int64)]),
            vec![
                vec![Datum::text("A"), Datum::Int64(2)],
                vec![Datum::text("Bob"), Datum::Int64(10)],
            ],
        );
        assert_eq!(
            print(&rows, OutputFormat::Table),
            " name |  n\n------+----\n A    |  2\n Bob  | 10\n(2 rows)\n\n"
        );
        let one = row_set(
            desc(&[("x", ScalarType::Int32)]),
            vec![vec![Datum::Int32(7)]],
        );
        assert!(print(&one, OutputFormat::Table).ends_with("(1 row)\n\n"));
        let none = row_set(desc(&[("x", ScalarType::Int32)]), vec![]);
        assert!(print(&none, OutputFormat::Table).ends_with("(0 rows)\n\n"));
    }

    #[test]
    fn command_tags_only_in_table_format() {
        let mut out = Vec::new();
        write_command(&mut out, "INSERT 0 3", OutputFormat::Table).unwrap();
        write_command(&mut out, "INSERT 0 3", OutputFormat::Csv).unwrap();
        write_command(&mut out, "INSERT 0 3", OutputFormat::Json).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "INSERT 0 3\n");
    }

    #[test]
    fn formats_parse() {
        assert_eq!("CSV".parse::<OutputFormat>(), Ok(OutputFormat::Csv));
        assert!("xml".parse::<OutputFormat>().is_err());
    }
}
