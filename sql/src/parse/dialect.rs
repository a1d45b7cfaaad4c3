//! [`LaasterDialect`]: Postgres' SQL dialect plus backtick-quoted identifiers (for
//! Flink-style DDL such as ``CREATE TABLE `orders` (...)``).
//!
//! sqlparser tests the dialect's type in places (`dialect_of!(self is
//! PostgreSqlDialect)`), so [`Dialect::dialect`] reports `PostgreSqlDialect`'s type id,
//! and every method that `PostgreSqlDialect` overrides in sqlparser 0.64 is delegated to
//! it. Methods it does not override keep the trait's defaults, exactly as for Postgres.
//! The test `parses_like_postgres` guards the delegation when sqlparser is upgraded.

use std::any::TypeId;

use sqlparser::ast::Statement;
use sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};

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
    fn accepts_backtick_identifiers() {
        let parsed = Parser::parse_sql(&LaasterDialect::default(), "SELECT `a b` FROM `t`");
        let statement = parsed.expect("parses").remove(0);
        assert_eq!(statement.to_string(), "SELECT `a b` FROM `t`");
    }
}
