//! [`LaasterDialect`]: Postgres' SQL dialect plus backtick-quoted identifiers (for
//! Flink-style DDL such as ``CREATE TABLE `orders` (...)``).
//!
//! sqlparser tests the dialect's type in places (`dialect_of!(self is
//! PostgreSqlDialect)`), so [`Dialect::dialect`] reports `PostgreSqlDialect`'s type id,
//! and every method that `PostgreSqlDialect` overrides in sqlparser 0.64 is delegated to
//! it. Methods it does not override keep the trait's defaults, exactly as for Postgres.
//! The test `parses_like_postgres` guards the delegation when sqlparser is upgraded.
//!
//! One addition to the grammar: nested row types, which Postgres only has as named
//! composite types (`CREATE TYPE`). `ROW(name TEXT, age INT)` and Flink's
//! `ROW<name STRING, age INT>` (also spelled `STRUCT(...)` / `STRUCT<...>`, which is how
//! sqlparser prints them back) parse to [`DataType::Struct`], nested arbitrarily, also
//! inside `ARRAY<...>` and with `[]` suffixes.

use std::any::TypeId;

use sqlparser::ast::{ArrayElemTypeDef, DataType, Statement, StructBracketKind, StructField};
use sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// Laaster's dialect. See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct LaasterDialect {
    postgres: PostgreSqlDialect,
}

/// Delegates `fn name(&self) -> bool` methods to Postgres' dialect.
macro_rules! delegate_flags {
    ($($name:ident),* $(,)?) => {
        $(
            fn $name(&self) -> bool {
                self.postgres.$name()
            }
        )*
    };
}

impl Dialect for LaasterDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    /// `"name"` as in Postgres, and `` `name` `` as in Flink SQL.
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"' || ch == '`'
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.postgres.identifier_quote_style(identifier)
    }

    fn ordered_bind_placeholder_style(&self) -> Option<sqlparser::dialect::BindPlaceholderStyle> {
        self.postgres.ordered_bind_placeholder_style()
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.postgres.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.postgres.is_identifier_part(ch)
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        self.postgres.is_reserved_for_identifier(kw)
    }

    fn is_table_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool {
        self.postgres.is_table_alias(kw, parser)
    }

    fn supports_string_literal_column_alias(&self, explicit: bool) -> bool {
        self.postgres.supports_string_literal_column_alias(explicit)
    }

    fn supports_string_literal_table_alias(&self, explicit: bool) -> bool {
        self.postgres.supports_string_literal_table_alias(explicit)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.postgres.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.postgres.get_next_precedence(parser)
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        self.postgres.prec_value(prec)
    }

    fn is_interval_qualifier(&self, kw: Keyword) -> bool {
        self.postgres.is_interval_qualifier(kw)
    }

    fn is_custom_type_typed_string(&self, first_keyword: Keyword, qualified: bool) -> bool {
        self.postgres
            .is_custom_type_typed_string(first_keyword, qualified)
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        self.postgres.parse_statement(parser)
    }

    /// Row types (see the module docs); everything else parses as in Postgres.
    fn parse_data_type(&self, parser: &mut Parser) -> Option<Result<DataType, ParserError>> {
        if !starts_nested_type(parser) {
            return None;
        }
        Some(
            parse_nested_type(parser).and_then(|(data_type, closed_outer)| {
                if closed_outer > 0 {
                    parser.expected_ref("end of data type", parser.peek_token_ref())
                } else {
                    Ok(data_type)
                }
            }),
        )
    }

    delegate_flags!(
        supports_cte_materialization,
        supports_unicode_string_literal,
        supports_filter_during_aggregation,
        supports_group_by_expr,
        supports_drop_group,
        supports_alter_user_as_alter_role,
        supports_create_group,
        supports_create_role_if_not_exists,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_create_index_with_clause,
        supports_sql_option_without_value,
        supports_explain_with_utility_options,
        supports_listen_notify,
        supports_exclude_constraint,
        supports_factorial_operator,
        supports_bitwise_shift_operators,
        supports_tilde_like_match_operator,
        supports_comparison_in_between_low_bound,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_colon_operator,
        supports_named_fn_args_with_expr_name,
        supports_named_fn_args_with_assignment_operator,
        supports_empty_projections,
        supports_nested_comments,
        supports_copy_from_stdin_data,
        supports_string_escape_constant,
        supports_numeric_literal_underscores,
        supports_non_decimal_integer_literals,
        supports_array_typedef_with_brackets,
        supports_geometric_types,
        supports_order_by_using_operator,
        supports_set_names,
        supports_alter_column_type_using,
        supports_left_associative_joins_without_parens,
        supports_notnull_operator,
        supports_interval_options,
        supports_insert_table_alias,
        supports_create_table_like_parenthesized,
        supports_select_wildcard_with_alias,
        supports_comma_separated_trim,
        supports_xml_expressions,
        supports_aliased_function_args,
        supports_comment_optimizer_hint,
        supports_add_column_if_not_exists,
        supports_attach_partition_of,
        supports_detach_partition_of,
        supports_table_inheritance_markers,
        supports_column_generic_options,
    );
}

/// Whether the next tokens start a type this dialect parses itself: `ROW (`, `ROW <`,
/// `STRUCT (`, `STRUCT <` or `ARRAY <`.
fn starts_nested_type(parser: &Parser) -> bool {
    let Token::Word(word) = &parser.peek_token_ref().token else {
        return false;
    };
    let next = &parser.peek_nth_token_ref(1).token;
    match word.keyword {
        Keyword::ROW | Keyword::STRUCT => matches!(next, Token::LParen | Token::Lt),
        Keyword::ARRAY => matches!(next, Token::Lt),
        _ => false,
    }
}

/// Parses a data type where a row type may appear inside angle brackets. Returns the
/// type and how many enclosing `<` its closing token closed as well (the tokenizer reads
/// `ROW<a ROW<b INT>>` with a single `>>` token, and `>>>` as one operator).
fn parse_nested_type(parser: &mut Parser) -> Result<(DataType, usize), ParserError> {
    if !starts_nested_type(parser) {
        return Ok((parser.parse_data_type()?, 0));
    }
    let keyword = match parser.next_token().token {
        Token::Word(word) => word.keyword,
        _ => unreachable!("checked by starts_nested_type"),
    };
    let angle = parser.next_token().token == Token::Lt;
    let (mut data_type, closed_outer) = if keyword == Keyword::ARRAY {
        let (element, closed) = parse_nested_type(parser)?;
        // A `>>` closing the element type closed this array as well.
        let closed_outer = match closed {
            0 => close_angle(parser)?,
            n => n - 1,
        };
        let element = ArrayElemTypeDef::AngleBracket(Box::new(element));
        (DataType::Array(element), closed_outer)
    } else {
        let mut fields = Vec::new();
        let mut closed_outer = 0;
        loop {
            let name = parser.parse_identifier()?;
            let (field_type, closed) = parse_nested_type(parser)?;
            fields.push(StructField {
                field_name: Some(name),
                field_type,
                options: None,
            });
            if closed > 0 {
                // `>>` ended the field's own type and this row's field list.
                if !angle {
                    return parser.expected_ref(")", parser.peek_token_ref());
                }
                closed_outer = closed - 1;
                break;
            }
            // Flink's optional field description: `name STRING 'the name'`.
            if angle && matches!(parser.peek_token_ref().token, Token::SingleQuotedString(_)) {
                parser.next_token();
            }
            if !parser.consume_token(&Token::Comma) {
                if angle {
                    closed_outer = close_angle(parser)?;
                } else {
                    parser.expect_token(&Token::RParen)?;
                }
                break;
            }
        }
        let bracket = if angle {
            StructBracketKind::AngleBrackets
        } else {
            StructBracketKind::Parentheses
        };
        (DataType::Struct(fields, bracket), closed_outer)
    };
    if closed_outer == 0 {
        // `ROW(a INT)[]`, like any Postgres type.
        while parser.consume_token(&Token::LBracket) {
            let size = match parser.peek_token_ref().token {
                Token::Number(..) => Some(parser.parse_literal_uint()?),
                _ => None,
            };
            parser.expect_token(&Token::RBracket)?;
            data_type = DataType::Array(ArrayElemTypeDef::SquareBracket(Box::new(data_type), size));
        }
    }
    Ok((data_type, closed_outer))
}

/// Consumes the `>` closing an angle-bracketed list; returns how many enclosing lists
/// the token closed as well (1 for `>>`, 2 for `>>>`, ...).
fn close_angle(parser: &mut Parser) -> Result<usize, ParserError> {
    let extra = match &parser.peek_token_ref().token {
        Token::Gt => 0,
        Token::ShiftRight => 1,
        Token::CustomBinaryOperator(op) if !op.is_empty() && op.chars().all(|c| c == '>') => {
            op.len() - 1
        }
        _ => return parser.expected_ref(">", parser.peek_token_ref()),
    };
    parser.next_token();
    Ok(extra)
}

#[cfg(test)]
mod tests {
    use sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn parses_like_postgres() {
        let statements = [
            "SELECT a::int, b ~ 'x', c -> 'k', d ->> 0, e @> f, 5 ! FROM t AS x WHERE a NOTNULL",
            "SELECT $1, E'a\\nb', U&'d\\0061t', INTERVAL '1' DAY, x COLLATE \"C\" FROM t",
            "SELECT count(*) FILTER (WHERE a > 1), array_agg(b ORDER BY c) FROM t GROUP BY 1",
            "WITH w AS MATERIALIZED (SELECT 1) SELECT * FROM w, LATERAL (SELECT 2) AS l",
            "SELECT 1 << 2, trim(both 'x' from y), extract('day' from ts), a[1][2] FROM t",
            "CREATE TABLE t (a INT[] NOT NULL, b NUMERIC(10,2) DEFAULT 0, PRIMARY KEY (a))",
        ];
        for sql in statements {
            let postgres = Parser::parse_sql(&PostgreSqlDialect {}, sql);
            let laaster = Parser::parse_sql(&LaasterDialect::default(), sql);
            assert_eq!(format!("{postgres:?}"), format!("{laaster:?}"), "{sql}");
        }
    }

    #[test]
    fn parses_row_types() {
        let parse = |sql: &str| {
            let mut statements = Parser::parse_sql(&LaasterDialect::default(), sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            statements.remove(0).to_string()
        };
        assert_eq!(
            parse("CREATE TABLE t (p ROW(name TEXT, age INT), q ROW(a ROW(b INT))[])"),
            "CREATE TABLE t (p STRUCT(name TEXT, age INT), q STRUCT(a STRUCT(b INT))[])"
        );
        assert_eq!(
            parse("CREATE TABLE t (p ROW<name STRING 'doc', a ROW<b INT>>, q ARRAY<ROW<c INT>>)"),
            "CREATE TABLE t (p STRUCT<name STRING, a STRUCT<b INT>>, q ARRAY<STRUCT<c INT>>)"
        );
        assert_eq!(
            parse("SELECT CAST(ROW(1) AS ROW(a VARCHAR(3))), ROW(1, 'a'), row < 1 FROM t"),
            "SELECT CAST(ROW(1) AS STRUCT(a VARCHAR(3))), ROW(1, 'a'), row < 1 FROM t"
        );
        // What sqlparser prints parses back to the same statement.
        let printed = parse("SELECT x::ROW<a ROW<b INT>>[] FROM t");
        assert_eq!(parse(&printed), printed);
        assert_eq!(
            parse("CREATE TABLE t (p ROW<a ROW<b ROW<c ARRAY<ROW<d INT>>>>>, e INT)"),
            "CREATE TABLE t (p STRUCT<a STRUCT<b STRUCT<c ARRAY<STRUCT<d INT>>>>>, e INT)"
        );
        for bad in [
            "CREATE TABLE t (p ROW<a INT)",
            "CREATE TABLE t (p ROW(a ROW<b INT>>)",
            "CREATE TABLE t (p ROW<a INT>>)",
        ] {
            assert!(
                Parser::parse_sql(&LaasterDialect::default(), bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn accepts_backtick_identifiers() {
        let parsed = Parser::parse_sql(&LaasterDialect::default(), "SELECT `a b` FROM `t`");
        let statement = parsed.expect("parses").remove(0);
        assert_eq!(statement.to_string(), "SELECT `a b` FROM `t`");
    }
}
