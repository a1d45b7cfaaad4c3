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
//!
//! Flink's source DDL and window table functions:
//! - computed columns `name AS expr` (no type): [`ColumnOption::Generated`] without the
//!   `GENERATED ALWAYS` keywords (printed `name AS (expr)`);
//! - metadata columns `name TYPE METADATA [FROM 'key'] [VIRTUAL]`: the option as
//!   [`ColumnOption::DialectSpecific`] tokens (printed as written); [`parse_metadata`]
//!   reads it;
//! - `WATERMARK FOR column AS expr` among the table elements: a pseudo-column named
//!   `WATERMARK` without a type holding the clause's tokens as
//!   [`ColumnOption::DialectSpecific`] (printed as written); [`parse_watermark`] reads it;
//! - `TABLE name` as an expression (the table argument of `TUMBLE(TABLE t, ...)`):
//!   [`Expr::Prefixed`] with prefix `TABLE`; `TABLE name PARTITION BY k` (SESSION's
//!   partitioned table argument) is prefixed `name PARTITION BY k` (see
//!   [`PARTITION_BY`]).

use std::any::TypeId;

use sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, ColumnDef, ColumnOption, DataType, Expr, GeneratedAs, Ident,
    ObjectName, Statement, StructBracketKind, StructField,
};
use sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

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

    /// Flink's temporal joins: `JOIN t FOR SYSTEM_TIME AS OF probe.proctime`.
    fn supports_table_versioning(&self) -> bool {
        true
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        self.postgres.parse_statement(parser)
    }

    /// `TABLE name` as a table function argument (see the module docs).
    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let [table, name] = parser.peek_tokens_ref();
        let is_table = matches!(&table.token, Token::Word(w) if w.keyword == Keyword::TABLE && w.quote_style.is_none());
        if !is_table || !matches!(name.token, Token::Word(_)) {
            return None;
        }
        parser.advance_token();
        Some(parse_table_argument(parser))
    }

    /// Flink's computed columns and watermark (see the module docs).
    fn parse_column_option(
        &self,
        parser: &mut Parser,
    ) -> Result<Option<Result<Option<ColumnOption>, ParserError>>, ParserError> {
        if parser.peek_keyword(Keyword::METADATA) {
            return Ok(Some(parse_metadata_tokens(parser).map(Some)));
        }
        if !at_untyped_column(parser) {
            return Ok(None);
        }
        if parser.parse_keyword(Keyword::AS) {
            let expr = parser.parse_expr().map(|expr| match expr {
                Expr::Nested(inner) => *inner,
                other => other,
            });
            return Ok(Some(expr.map(|expr| {
                Some(ColumnOption::Generated {
                    generated_as: GeneratedAs::ExpStored,
                    sequence_options: None,
                    generation_expr: Some(expr),
                    generation_expr_mode: None,
                    generated_keyword: false,
                })
            })));
        }
        if at_watermark(parser) {
            return Ok(Some(parse_watermark_tokens(parser).map(Some)));
        }
        Ok(None)
    }

    /// Row types (see the module docs); no type before a computed column's `AS` or in
    /// `WATERMARK FOR`; everything else parses as in Postgres.
    fn parse_data_type(&self, parser: &mut Parser) -> Option<Result<DataType, ParserError>> {
        if at_untyped_column(parser) && (parser.peek_keyword(Keyword::AS) || at_watermark(parser)) {
            return Some(Ok(DataType::Unspecified));
        }
        if starts_map_type(parser) {
            return Some(parser.expected_ref(
                "a type other than MAP (Laaster has no map type: declare a JSONB column, e.g. Kafka headers as `headers JSONB METADATA`)",
                parser.peek_token_ref(),
            ));
        }
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

/// After `TABLE`: `name [PARTITION BY key | PARTITION BY (key, ...)]` (the data
/// argument of `SESSION`). With a partition the value is `name PARTITION BY keys` as a
/// [`BinaryOperator::Custom`] `PARTITION BY` whose right side is the key, or the
/// parenthesized keys (a tuple for several), so it prints back as written.
fn parse_table_argument(parser: &mut Parser) -> Result<Expr, ParserError> {
    let name = object_name_expr(parser.parse_object_name(false)?);
    let value = if parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
        let keys = if parser.consume_token(&Token::LParen) {
            let mut keys = parser.parse_comma_separated(|p| p.parse_identifier())?;
            parser.expect_token(&Token::RParen)?;
            if keys.len() == 1 {
                Expr::Nested(Box::new(Expr::Identifier(keys.remove(0))))
            } else {
                Expr::Tuple(keys.into_iter().map(Expr::Identifier).collect())
            }
        } else {
            Expr::Identifier(parser.parse_identifier()?)
        };
        Expr::BinaryOp {
            left: Box::new(name),
            op: BinaryOperator::Custom(PARTITION_BY.to_string()),
            right: Box::new(keys),
        }
    } else {
        name
    };
    Ok(Expr::Prefixed {
        prefix: Ident::new("TABLE"),
        value: Box::new(value),
    })
}

/// The operator joining a table argument's name and its partition keys.
pub const PARTITION_BY: &str = "PARTITION BY";

/// `a.b.c` as an identifier expression.
fn object_name_expr(name: ObjectName) -> Expr {
    let mut parts: Vec<Ident> = name
        .0
        .into_iter()
        .filter_map(|part| part.as_ident().cloned())
        .collect();
    if parts.len() == 1 {
        Expr::Identifier(parts.remove(0))
    } else {
        Expr::CompoundIdentifier(parts)
    }
}

/// The last consumed non-whitespace token and the one before it.
fn previous_tokens<'a>(parser: &'a Parser) -> [&'a Token; 2] {
    let mut found = [&Token::EOF, &Token::EOF];
    let mut index = parser.index();
    let mut slot = 0;
    while slot < 2 && index > 0 {
        index -= 1;
        let token = &parser.token_at(index).token;
        if !matches!(token, Token::Whitespace(_)) {
            found[slot] = token;
            slot += 1;
        }
    }
    found
}

/// Whether the parser just read a table element's first word (a column name): the
/// tokens before are `(` or `,` and then a word. Where a computed column (`name AS
/// expr`) or `WATERMARK FOR` has no data type.
fn at_untyped_column(parser: &Parser) -> bool {
    let [name, before] = previous_tokens(parser);
    matches!(name, Token::Word(_)) && matches!(before, Token::LParen | Token::Comma)
}

/// Whether the parser just read an unquoted `WATERMARK` and `FOR` follows.
fn at_watermark(parser: &Parser) -> bool {
    let [word, _] = previous_tokens(parser);
    matches!(word, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("WATERMARK"))
        && parser.peek_keyword(Keyword::FOR)
}

/// After `WATERMARK`: `FOR column AS expr`, parsed here (so syntax errors have their
/// position) and kept as the tokens of its canonical text; [`parse_watermark`] reads
/// them back.
fn parse_watermark_tokens(parser: &mut Parser) -> Result<ColumnOption, ParserError> {
    parser.expect_keyword(Keyword::FOR)?;
    let column = parser.parse_identifier()?;
    parser.expect_keyword(Keyword::AS)?;
    let expr = parser.parse_expr()?;
    let canonical = format!("FOR {column} AS {expr}");
    let tokens = Tokenizer::new(&LaasterDialect::default(), &canonical)
        .tokenize()?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    Ok(ColumnOption::DialectSpecific(tokens))
}

/// A `WATERMARK FOR column AS expr` table element as [`LaasterDialect`] parses it: a
/// pseudo-column named `WATERMARK` without a type whose only option holds the tokens
/// `FOR column AS expr`. Returns the column and the expression; `None` for any other
/// column.
pub fn parse_watermark(column: &ColumnDef) -> Option<Result<(Ident, Expr), ParserError>> {
    let [option] = column.options.as_slice() else {
        return None;
    };
    let ColumnOption::DialectSpecific(tokens) = &option.option else {
        return None;
    };
    let is_watermark = column.name.quote_style.is_none()
        && column.name.value.eq_ignore_ascii_case("WATERMARK")
        && column.data_type == DataType::Unspecified
        && matches!(tokens.first(), Some(Token::Word(w)) if w.keyword == Keyword::FOR);
    if !is_watermark {
        return None;
    }
    let dialect = LaasterDialect::default();
    let mut parser = Parser::new(&dialect).with_tokens(tokens.clone());
    let parsed = (|| {
        parser.expect_keyword(Keyword::FOR)?;
        let column = parser.parse_identifier()?;
        parser.expect_keyword(Keyword::AS)?;
        let expr = parser.parse_expr()?;
        parser.expect_token(&Token::EOF)?;
        Ok((column, expr))
    })();
    Some(parsed)
}

/// `METADATA [FROM 'key'] [VIRTUAL]` after a column's type (Flink's metadata columns),
/// kept as the tokens of its canonical text; [`parse_metadata`] reads them back.
fn parse_metadata_tokens(parser: &mut Parser) -> Result<ColumnOption, ParserError> {
    parser.expect_keyword(Keyword::METADATA)?;
    let mut tokens = vec![Token::make_keyword("METADATA")];
    if parser.parse_keyword(Keyword::FROM) {
        let key = parser.parse_literal_string()?;
        tokens.push(Token::make_keyword("FROM"));
        tokens.push(Token::SingleQuotedString(key));
    }
    if parser.parse_keyword(Keyword::VIRTUAL) {
        tokens.push(Token::make_keyword("VIRTUAL"));
    }
    Ok(ColumnOption::DialectSpecific(tokens))
}

/// A column's `METADATA [FROM 'key'] [VIRTUAL]` option as [`LaasterDialect`] parses it:
/// the metadata key (`None` when `FROM` is omitted: the column's name is the key) and
/// whether it is `VIRTUAL`. `None` when the option is not a metadata option.
pub fn parse_metadata(option: &ColumnOption) -> Option<(Option<String>, bool)> {
    let ColumnOption::DialectSpecific(tokens) = option else {
        return None;
    };
    let is_word =
        |token: &Token, keyword: Keyword| matches!(token, Token::Word(w) if w.keyword == keyword);
    let (first, rest) = tokens.split_first()?;
    if !is_word(first, Keyword::METADATA) {
        return None;
    }
    match rest {
        [] => Some((None, false)),
        [v] if is_word(v, Keyword::VIRTUAL) => Some((None, true)),
        [f, Token::SingleQuotedString(key)] if is_word(f, Keyword::FROM) => {
            Some((Some(key.clone()), false))
        }
        [f, Token::SingleQuotedString(key), v]
            if is_word(f, Keyword::FROM) && is_word(v, Keyword::VIRTUAL) =>
        {
            Some((Some(key.clone()), true))
        }
        _ => None,
    }
}

/// Whether the next tokens are Flink's `MAP <` (a type Laaster does not have).
fn starts_map_type(parser: &Parser) -> bool {
    matches!(&parser.peek_token_ref().token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("MAP"))
        && parser.peek_nth_token_ref(1).token == Token::Lt
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
    fn metadata_columns_round_trip() {
        let sql = "CREATE TABLE t (url TEXT, k BYTEA METADATA FROM 'key', \
                   off BIGINT METADATA FROM 'offset' VIRTUAL, headers JSONB METADATA, \
                   p INT METADATA VIRTUAL) WITH ('connector' = 'kafka')";
        let mut statements = Parser::parse_sql(&LaasterDialect::default(), sql).expect("parses");
        let statement = statements.remove(0);
        assert_eq!(statement.to_string(), sql);
        let Statement::CreateTable(create) = statement else {
            panic!("not a CREATE TABLE");
        };
        let read: Vec<_> = create
            .columns
            .iter()
            .map(|c| c.options.iter().find_map(|o| parse_metadata(&o.option)))
            .collect();
        assert_eq!(
            read,
            [
                None,
                Some((Some("key".to_string()), false)),
                Some((Some("offset".to_string()), true)),
                Some((None, false)),
                Some((None, true)),
            ]
        );
        let err = Parser::parse_sql(
            &LaasterDialect::default(),
            "CREATE TABLE t (h MAP<TEXT, BYTEA>)",
        )
        .unwrap_err();
        assert!(err.to_string().contains("no map type"), "{err}");
    }

    #[test]
    fn accepts_backtick_identifiers() {
        let parsed = Parser::parse_sql(&LaasterDialect::default(), "SELECT `a b` FROM `t`");
        let statement = parsed.expect("parses").remove(0);
        assert_eq!(statement.to_string(), "SELECT `a b` FROM `t`");
    }
}
