//! Parsing: SQL text into Laaster [`Statement`]s.
//!
//! Input: a script of one or more statements separated by semicolons. Output: one
//! [`ParsedStatement`] per statement, holding the [`Statement`] and the statement's own
//! text. Standard SQL is parsed by sqlparser with [`LaasterDialect`] (Postgres' dialect
//! plus backtick identifiers, row types, Flink's computed columns and `WATERMARK FOR` in
//! CREATE TABLE, and `TABLE name` arguments of window table functions); the statements sqlparser does not know are parsed here
//! with sqlparser's [`Parser`] API: `SUBSCRIBE`, `EXPLAIN [stage] [PLAN FOR]`, and the
//! `SHOW` forms Laaster answers (`TABLES`, `[MATERIALIZED] VIEWS`, `COLUMNS FROM`,
//! `CREATE TABLE|VIEW|MATERIALIZED VIEW`).
//!
//! The whole script is tokenized once, so token positions (and therefore syntax error
//! positions) are line and column in the original text; errors read like Postgres'
//! (`syntax error at or near "FORM"`). Every [`Statement`] prints (via `Display`) as SQL
//! that parses back to an equal statement.
//!
//! Start reading at [`parse_statements`].

mod dialect;

use std::fmt;

use laaster_repr::Position;
use sqlparser::ast;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer, TokenizerError};

pub use dialect::{LaasterDialect, PARTITION_BY, parse_metadata, parse_watermark};

use crate::catalog::ItemKind;
use crate::error::PlanError;
use crate::explain::ExplainStage;

/// One Laaster statement: standard SQL (as sqlparser's AST) or a Laaster extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// Any statement sqlparser parses (DDL, DML, queries, ...). Whether Laaster supports
    /// it is decided by the planner.
    Sql(Box<ast::Statement>),
    /// `SUBSCRIBE [TO] name | (query) [WITH (SNAPSHOT = bool)] [AS OF n]`.
    Subscribe(SubscribeStatement),
    /// `EXPLAIN [LOGICAL | OPTIMIZED | DATAFLOW] [PLAN [FOR]] query`.
    Explain {
        stage: ExplainStage,
        query: Box<ast::Query>,
    },
    /// The `SHOW` forms Laaster answers.
    Show(ShowStatement),
    /// Flink's `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'class'
    /// [LANGUAGE JAVA]`: a user-defined function named by its Java class. Laaster maps a
    /// few known classes to built-in functions (see `crate::statement`).
    CreateFunction {
        name: String,
        class: String,
        if_not_exists: bool,
    },
    /// `CREATE SINK [IF NOT EXISTS] name FROM view WITH ('connector' = ..., ...)`: every
    /// change of `from` (a table or view; the sink's columns are its columns) goes to
    /// the connector.
    CreateSink {
        name: String,
        from: String,
        options: Vec<ast::SqlOption>,
        if_not_exists: bool,
    },
    /// `DROP SINK [IF EXISTS] name [, ...] [CASCADE | RESTRICT]`.
    DropSink {
        names: Vec<String>,
        if_exists: bool,
        cascade: bool,
    },
}

/// `SUBSCRIBE`: a change feed of a relation or query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeStatement {
    pub target: SubscribeTarget,
    /// Whether the feed starts with the current contents (default true).
    pub snapshot: bool,
    /// The logical time to start at (default: now).
    pub as_of: Option<u64>,
}

/// What a `SUBSCRIBE` follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscribeTarget {
    /// A table or view, by normalized name.
    Name(String),
    /// A query written in parentheses.
    Query(Box<ast::Query>),
}

/// `SHOW ...`. Names are normalized (unquoted identifiers folded to lower case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShowStatement {
    /// `SHOW TABLES`.
    Tables,
    /// `SHOW VIEWS` / `SHOW MATERIALIZED VIEWS`.
    Views { materialized: bool },
    /// `SHOW COLUMNS FROM name`.
    Columns { name: String },
    /// `SHOW CREATE TABLE|VIEW|MATERIALIZED VIEW name`.
    Create { kind: ItemKind, name: String },
    /// `SHOW SOURCES`: source tables with their progress, watermark and late rows.
    Sources,
    /// `SHOW SINKS`: sink tables with the rows written to them.
    Sinks,
}

/// A statement and its own text (without the terminating semicolon, trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedStatement {
    pub statement: Statement,
    pub sql: String,
    /// The statement ended in `EMIT ON WINDOW CLOSE` (RisingWave's clause, after the query
    /// of `CREATE MATERIALIZED VIEW` or `SUBSCRIBE`), removed before parsing.
    pub emit_on_window_close: bool,
}

/// Removes a trailing `EMIT ON WINDOW CLOSE` from a statement's tokens; returns whether
/// there was one.
fn strip_emit_on_window_close(chunk: &mut Vec<TokenWithSpan>) -> bool {
    const CLAUSE: [&str; 4] = ["EMIT", "ON", "WINDOW", "CLOSE"];
    let significant: Vec<usize> = chunk
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::SemiColon))
        .map(|(index, _)| index)
        .collect();
    if significant.len() <= CLAUSE.len() {
        return false;
    }
    let tail = &significant[significant.len() - CLAUSE.len()..];
    let matches = tail.iter().zip(CLAUSE).all(|(&index, word)| {
        matches!(&chunk[index].token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    });
    if matches {
        chunk.truncate(tail[0]);
    }
    matches
}

/// Splits `sql` into statements at semicolons (quotes and comments respected) and
/// parses each. Empty statements (and input holding only whitespace and comments) yield
/// nothing. The first syntax error stops parsing and is returned as
/// [`PlanError::Syntax`] with its line and column in `sql`.
pub fn parse_statements(sql: &str) -> Result<Vec<ParsedStatement>, PlanError> {
    let dialect = LaasterDialect::default();
    let source = SourceText::new(sql);
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|err| source.tokenizer_error(&err))?;
    let mut parsed = Vec::new();
    for chunk in split_at_semicolons(tokens) {
        let mut significant = chunk
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::SemiColon));
        let Some(first) = significant.next() else {
            continue;
        };
        let last = significant.next_back().unwrap_or(first);
        let text = source
            .slice(first.span.start, last.span.end)
            .trim()
            .to_string();
        let start = to_position(first.span.start);
        let mut chunk = chunk.clone();
        let emit_on_window_close = strip_emit_on_window_close(&mut chunk);
        let mut tokens = chunk.clone();
        let end = source.end_location();
        tokens.push(TokenWithSpan::new(Token::EOF, Span::new(end, end)));
        let statement = with_stack_for(tokens.len(), || {
            let statement =
                parse_tokens(&dialect, tokens).map_err(|err| source.parser_error(&err, &chunk))?;
            // A statement that is too deep is dropped here, on the big stack.
            check_nesting(&statement).map_err(|e| match e {
                PlanError::Response(r) => PlanError::Response(r.with_position(start)),
                other => other,
            })?;
            Ok::<_, PlanError>(statement)
        })?;
        parsed.push(ParsedStatement {
            statement,
            sql: text,
            emit_on_window_close,
        });
    }
    Ok(parsed)
}

/// How deeply expressions (and set operations) may nest in one statement.
///
/// sqlparser bounds the nesting of parentheses, subqueries and prefix operators, but a
/// chain of left-associative operators (`1 + 1 + ... + 1`, `a::t::t::...`, `x -> 'a' ->
/// 'a' ...`, `SELECT ... UNION SELECT ... UNION ...`) parses in a loop into a tree as
/// deep as the chain is long, and every later stage (planning, optimizing, evaluating,
/// dropping) walks it recursively. Beyond this depth the statement is rejected like
/// Postgres rejects one that exhausts its stack.
pub const MAX_NESTING: usize = 1000;

/// How many set operations (`UNION`, `INTERSECT`, `EXCEPT`) may be chained in one query
/// body: each becomes a level of the dataflow plan, which is walked recursively while
/// optimizing and rendering.
pub const MAX_SET_OPERATIONS: usize = 100;

/// Runs `f`, which parses (and perhaps drops) a statement of `tokens` tokens, on a stack
/// that fits it. The AST of a chain of operators nests as deep as the chain is long, and
/// dropping it (also inside the parser, after a syntax error late in the chain) recurses
/// once per level: a few hundred thousand tokens would overflow any fixed stack.
fn with_stack_for<R>(tokens: usize, f: impl FnOnce() -> R) -> R {
    /// Statements this short fit on any thread's stack.
    const SMALL: usize = 4096;
    /// Generous stack per level of nesting when dropping an AST (about 100 bytes are used
    /// in debug builds); a level takes at least one token.
    const BYTES_PER_TOKEN: usize = 256;
    if tokens <= SMALL {
        f()
    } else {
        stacker::grow(tokens.saturating_mul(BYTES_PER_TOKEN), f)
    }
}

/// Rejects a statement whose expressions or set operations nest deeper than
/// [`MAX_NESTING`]. The walk stops as soon as the limit is passed, so it recurses at most
/// that deep itself.
fn check_nesting(statement: &Statement) -> Result<(), PlanError> {
    use std::ops::ControlFlow;

    use sqlparser::ast::{Visit, Visitor};

    struct Depth {
        depth: usize,
    }

    fn set_ops_too_deep(body: &ast::SetExpr, depth: usize) -> bool {
        if depth > MAX_SET_OPERATIONS {
            return true;
        }
        match body {
            ast::SetExpr::SetOperation { left, right, .. } => {
                set_ops_too_deep(left, depth + 1) || set_ops_too_deep(right, depth + 1)
            }
            _ => false,
        }
    }

    impl Visitor for Depth {
        type Break = ();

        fn pre_visit_query(&mut self, query: &ast::Query) -> ControlFlow<()> {
            if set_ops_too_deep(&query.body, 0) {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }

        fn pre_visit_expr(&mut self, _: &ast::Expr) -> ControlFlow<()> {
            self.depth += 1;
            if self.depth > MAX_NESTING {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }

        fn post_visit_expr(&mut self, _: &ast::Expr) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }

    let mut visitor = Depth { depth: 0 };
    let flow = match statement {
        Statement::Sql(statement) => statement.visit(&mut visitor),
        Statement::Subscribe(SubscribeStatement {
            target: SubscribeTarget::Query(query),
            ..
        })
        | Statement::Explain { query, .. } => query.visit(&mut visitor),
        Statement::Subscribe(_)
        | Statement::Show(_)
        | Statement::CreateFunction { .. }
        | Statement::CreateSink { .. }
        | Statement::DropSink { .. } => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(PlanError::Response(
            laaster_repr::ErrorResponse::new("54001", "stack depth limit exceeded")
                .with_detail(format!(
                    "The statement nests expressions more than {MAX_NESTING} levels deep, or chains more than {MAX_SET_OPERATIONS} set operations."
                ))
                .with_hint(
                    "Rewrite long chains of operators, e.g. `x = 1 OR x = 2 OR ...` as `x IN (1, 2, ...)`, or split the statement.",
                ),
        )),
    }
}

/// Parses exactly one statement (a trailing semicolon is allowed). Errors when `sql`
/// holds no statement or more than one.
pub fn parse_statement(sql: &str) -> Result<Statement, PlanError> {
    let mut statements = parse_statements(sql)?;
    match statements.len() {
        1 => Ok(statements.remove(0).statement),
        0 => Err(PlanError::Syntax {
            message: "syntax error at end of input".into(),
            position: Some(to_position(SourceText::new(sql).end_location())),
        }),
        n => Err(PlanError::Syntax {
            message: format!("expected one statement, found {n}"),
            position: None,
        }),
    }
}

/// The name an identifier stands for: unquoted identifiers fold to lower case, quoted
/// ones are kept as written (Postgres' rule).
pub fn normalize_ident(ident: &ast::Ident) -> String {
    match ident.quote_style {
        None => ident.value.to_lowercase(),
        Some(_) => ident.value.clone(),
    }
}

/// `name` as an SQL identifier: bare when that reads back as the same name, otherwise
/// double-quoted.
pub fn quote_identifier(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && POSTGRES_RESERVED_WORDS
            .binary_search(&name.to_ascii_uppercase().as_str())
            .is_err();
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Postgres' reserved key words (sorted), which must be quoted to be used as names.
const POSTGRES_RESERVED_WORDS: &[&str] = &[
    "ALL",
    "ANALYSE",
    "ANALYZE",
    "AND",
    "ANY",
    "ARRAY",
    "AS",
    "ASC",
    "ASYMMETRIC",
    "BOTH",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "CONSTRAINT",
    "CREATE",
    "CURRENT_CATALOG",
    "CURRENT_DATE",
    "CURRENT_ROLE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DEFAULT",
    "DEFERRABLE",
    "DESC",
    "DISTINCT",
    "DO",
    "ELSE",
    "END",
    "EXCEPT",
    "FALSE",
    "FETCH",
    "FOR",
    "FOREIGN",
    "FROM",
    "GRANT",
    "GROUP",
    "HAVING",
    "IN",
    "INITIALLY",
    "INTERSECT",
    "INTO",
    "LATERAL",
    "LEADING",
    "LIMIT",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "ONLY",
    "OR",
    "ORDER",
    "PLACING",
    "PRIMARY",
    "REFERENCES",
    "RETURNING",
    "SELECT",
    "SESSION_USER",
    "SOME",
    "SYMMETRIC",
    "TABLE",
    "THEN",
    "TO",
    "TRAILING",
    "TRUE",
    "UNION",
    "UNIQUE",
    "USER",
    "USING",
    "VARIADIC",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// Splits tokens into statements; each chunk keeps its terminating semicolon.
fn split_at_semicolons(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    for token in tokens {
        match token.token {
            Token::EOF => {}
            Token::SemiColon => {
                current.push(token);
                chunks.push(std::mem::take(&mut current));
            }
            _ => current.push(token),
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Parses the statement in `tokens`, which end with an optional `;` and then EOF.
fn parse_tokens(
    dialect: &LaasterDialect,
    tokens: Vec<TokenWithSpan>,
) -> Result<Statement, ParserError> {
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let statement = parse_one(&mut parser)?;
    match parser.peek_token_ref().token {
        Token::SemiColon | Token::EOF => Ok(statement),
        _ => parser.expected("end of statement", parser.peek_token()),
    }
}

/// Parses one statement: a Laaster extension or, failing that, standard SQL.
fn parse_one(parser: &mut Parser) -> Result<Statement, ParserError> {
    if parse_word(parser, "SUBSCRIBE") {
        return parse_subscribe(parser).map(Statement::Subscribe);
    }
    if parser.parse_keyword(Keyword::EXPLAIN) {
        return parse_explain(parser);
    }
    if let Some(statement) = parse_create_function_as(parser)? {
        return Ok(statement);
    }
    if let Some(statement) = parse_sink_statement(parser)? {
        return Ok(statement);
    }
    if parser.peek_keyword(Keyword::SHOW) {
        let form = &parser.peek_nth_token_ref(1).token;
        let ours = [
            Keyword::TABLES,
            Keyword::VIEWS,
            Keyword::MATERIALIZED,
            Keyword::COLUMNS,
            Keyword::CREATE,
        ];
        if matches!(form, Token::Word(w) if w.quote_style.is_none() && ours.contains(&w.keyword)) {
            parser.advance_token();
            return parse_show(parser).map(Statement::Show);
        }
        if matches!(form, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("SOURCES"))
        {
            parser.advance_token();
            parser.advance_token();
            return Ok(Statement::Show(ShowStatement::Sources));
        }
        if matches!(form, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("SINKS"))
        {
            parser.advance_token();
            parser.advance_token();
            return Ok(Statement::Show(ShowStatement::Sinks));
        }
    }
    Ok(Statement::Sql(Box::new(parser.parse_statement()?)))
}

/// After `SUBSCRIBE`: `[TO] name | (query)`, then `WITH (...)` and `AS OF n` in any order.
fn parse_subscribe(parser: &mut Parser) -> Result<SubscribeStatement, ParserError> {
    let _ = parser.parse_keyword(Keyword::TO);
    let target = if parser.consume_token(&Token::LParen) {
        let query = parser.parse_query()?;
        parser.expect_token(&Token::RParen)?;
        SubscribeTarget::Query(query)
    } else {
        SubscribeTarget::Name(normalize_ident(&parser.parse_identifier()?))
    };
    let mut snapshot = None;
    let mut as_of = None;
    loop {
        let start = parser.peek_token();
        if parser.parse_keyword(Keyword::WITH) {
            if snapshot.is_some() {
                return error_at("WITH specified more than once", &start);
            }
            snapshot = Some(parse_subscribe_options(parser)?);
        } else if parser.parse_keywords(&[Keyword::AS, Keyword::OF]) {
            if as_of.is_some() {
                return error_at("AS OF specified more than once", &start);
            }
            as_of = Some(parser.parse_literal_uint()?);
        } else {
            break;
        }
    }
    Ok(SubscribeStatement {
        target,
        snapshot: snapshot.unwrap_or(true),
        as_of,
    })
}

/// `(SNAPSHOT [= TRUE | FALSE])`; returns the snapshot flag.
fn parse_subscribe_options(parser: &mut Parser) -> Result<bool, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut snapshot = true;
    loop {
        let name = parser.peek_token();
        if !parse_word(parser, "SNAPSHOT") {
            let option = parser.parse_identifier()?;
            return error_at(
                &format!(
                    "unrecognized SUBSCRIBE option \"{}\"",
                    normalize_ident(&option)
                ),
                &name,
            );
        }
        let _ = parser.consume_token(&Token::Eq);
        if parser.parse_keyword(Keyword::FALSE) {
            snapshot = false;
        } else if parser.parse_keyword(Keyword::TRUE) {
            snapshot = true;
        } else if !matches!(parser.peek_token_ref().token, Token::Comma | Token::RParen) {
            return parser.expected("TRUE or FALSE", parser.peek_token());
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(snapshot)
}

/// After `EXPLAIN`: `[LOGICAL | OPTIMIZED | DATAFLOW] [PLAN [FOR]] query`.
fn parse_explain(parser: &mut Parser) -> Result<Statement, ParserError> {
    let stage = if parse_word(parser, "LOGICAL") {
        ExplainStage::Logical
    } else if parse_word(parser, "DATAFLOW") {
        ExplainStage::Dataflow
    } else {
        let _ = parse_word(parser, "OPTIMIZED");
        ExplainStage::Optimized
    };
    if parser.parse_keyword(Keyword::PLAN) {
        let _ = parser.parse_keyword(Keyword::FOR);
    }
    let query = parser.parse_query()?;
    Ok(Statement::Explain { stage, query })
}

/// After `SHOW`, one of the forms in [`ShowStatement`].
fn parse_show(parser: &mut Parser) -> Result<ShowStatement, ParserError> {
    if parser.parse_keyword(Keyword::TABLES) {
        Ok(ShowStatement::Tables)
    } else if parser.parse_keyword(Keyword::VIEWS) {
        Ok(ShowStatement::Views {
            materialized: false,
        })
    } else if parser.parse_keywords(&[Keyword::MATERIALIZED, Keyword::VIEWS]) {
        Ok(ShowStatement::Views { materialized: true })
    } else if parser.parse_keyword(Keyword::COLUMNS) {
        if parser
            .parse_one_of_keywords(&[Keyword::FROM, Keyword::IN])
            .is_none()
        {
            return parser.expected("FROM", parser.peek_token());
        }
        let name = normalize_ident(&parser.parse_identifier()?);
        Ok(ShowStatement::Columns { name })
    } else {
        parser.expect_keyword(Keyword::CREATE)?;
        let kind = if parser.parse_keyword(Keyword::TABLE) {
            ItemKind::Table
        } else if parser.parse_keyword(Keyword::VIEW) {
            ItemKind::View
        } else if parser.parse_keywords(&[Keyword::MATERIALIZED, Keyword::VIEW]) {
            ItemKind::MaterializedView
        } else {
            return parser.expected("TABLE, VIEW or MATERIALIZED VIEW", parser.peek_token());
        };
        let name = normalize_ident(&parser.parse_identifier()?);
        Ok(ShowStatement::Create { kind, name })
    }
}

/// Flink's `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'class'
/// [LANGUAGE JAVA|SCALA]`; `None` (nothing consumed) for any other statement, such as
/// Postgres' `CREATE FUNCTION name(args) ...`.
fn parse_create_function_as(parser: &mut Parser) -> Result<Option<Statement>, ParserError> {
    let head = parser.maybe_parse(|p| {
        p.expect_keyword(Keyword::CREATE)?;
        if p.parse_keyword(Keyword::TEMPORARY) {
            let _ = p.parse_keyword(Keyword::SYSTEM);
        }
        p.expect_keyword(Keyword::FUNCTION)?;
        let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let name = p.parse_identifier()?;
        p.expect_keyword(Keyword::AS)?;
        Ok((name, if_not_exists))
    })?;
    let Some((name, if_not_exists)) = head else {
        return Ok(None);
    };
    let class = parser.parse_literal_string()?;
    if parser.parse_keyword(Keyword::LANGUAGE) {
        parser.parse_identifier()?;
    }
    Ok(Some(Statement::CreateFunction {
        name: normalize_ident(&name),
        class,
        if_not_exists,
    }))
}

/// `CREATE SINK [IF NOT EXISTS] name FROM relation WITH (options)` and `DROP SINK [IF
/// EXISTS] names [CASCADE | RESTRICT]`; `None` (nothing consumed) for any other statement.
fn parse_sink_statement(parser: &mut Parser) -> Result<Option<Statement>, ParserError> {
    let is_word = |parser: &Parser, n: usize, word: &str| {
        matches!(
            &parser.peek_nth_token_ref(n).token,
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word)
        )
    };
    if parser.peek_keyword(Keyword::CREATE) && is_word(parser, 1, "SINK") {
        parser.advance_token();
        parser.advance_token();
        let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let name = normalize_ident(&parser.parse_identifier()?);
        parser.expect_keyword(Keyword::FROM)?;
        let from = normalize_ident(&parser.parse_identifier()?);
        if !parser.peek_keyword(Keyword::WITH) {
            return parser.expected("WITH ('connector' = ..., ...)", parser.peek_token());
        }
        let options = parser.parse_options(Keyword::WITH)?;
        return Ok(Some(Statement::CreateSink {
            name,
            from,
            options,
            if_not_exists,
        }));
    }
    if parser.peek_keyword(Keyword::DROP) && is_word(parser, 1, "SINK") {
        parser.advance_token();
        parser.advance_token();
        let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let names = parser
            .parse_comma_separated(|p| p.parse_identifier())?
            .iter()
            .map(normalize_ident)
            .collect();
        let cascade = parser.parse_keyword(Keyword::CASCADE);
        if !cascade {
            let _ = parser.parse_keyword(Keyword::RESTRICT);
        }
        return Ok(Some(Statement::DropSink {
            names,
            if_exists,
            cascade,
        }));
    }
    Ok(None)
}

/// Whether the next token is the unquoted word `word` (case-insensitive); consumes it
/// if so. For words sqlparser has no keyword for (SUBSCRIBE, LOGICAL, DATAFLOW).
fn parse_word(parser: &mut Parser, word: &str) -> bool {
    let found = matches!(
        &parser.peek_token_ref().token,
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word)
    );
    if found {
        parser.advance_token();
    }
    found
}

/// An error with a final (user-facing) message at `token`.
fn error_at<T>(message: &str, token: &TokenWithSpan) -> Result<T, ParserError> {
    let Location { line, column } = token.span.start;
    Err(ParserError::ParserError(format!(
        "{message} at Line: {line}, Column: {column}"
    )))
}

fn to_position(location: Location) -> Position {
    Position {
        line: location.line,
        column: location.column,
    }
}

/// The script being parsed, for turning token locations into text and errors.
struct SourceText<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceText { text, line_starts }
    }

    /// The byte offset of a (1-based) line and column; clamped to the text.
    fn offset(&self, location: Location) -> usize {
        let line = usize::try_from(location.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(&start) = self.line_starts.get(line) else {
            return self.text.len();
        };
        let column = usize::try_from(location.column.saturating_sub(1)).unwrap_or(usize::MAX);
        self.text[start..]
            .char_indices()
            .nth(column)
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    fn slice(&self, start: Location, end: Location) -> &'a str {
        let (start, end) = (self.offset(start), self.offset(end));
        self.text.get(start..end.max(start)).unwrap_or("")
    }

    /// The location just past the last character.
    fn end_location(&self) -> Location {
        let last_start = self.line_starts.last().copied().unwrap_or(0);
        let column = self.text[last_start..].chars().count() as u64 + 1;
        Location::new(self.line_starts.len() as u64, column)
    }

    fn tokenizer_error(&self, err: &TokenizerError) -> PlanError {
        let rest = self.text[self.offset(err.location)..].trim_end();
        let message = if err.message.starts_with("Unterminated string literal") {
            format!("unterminated quoted string at or near \"{rest}\"")
        } else {
            format!("{} at or near \"{rest}\"", lowercase_first(&err.message))
        };
        PlanError::Syntax {
            message,
            position: Some(to_position(err.location)),
        }
    }

    /// A Postgres-style syntax error from a parser error raised while parsing `tokens`.
    fn parser_error(&self, err: &ParserError, tokens: &[TokenWithSpan]) -> PlanError {
        let raw = match err {
            ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
            ParserError::RecursionLimitExceeded => {
                return PlanError::Syntax {
                    message: "statement is nested too deeply".into(),
                    position: None,
                };
            }
        };
        let (message, location) = split_location(raw);
        let at_end = || PlanError::Syntax {
            message: "syntax error at end of input".into(),
            position: Some(to_position(self.end_location())),
        };
        if message.ends_with("found: EOF") {
            return at_end();
        }
        let Some(location) = location else {
            return PlanError::Syntax {
                message: lowercase_first(message),
                position: None,
            };
        };
        if !message.starts_with("Expected") {
            return PlanError::Syntax {
                message: message.to_string(),
                position: Some(to_position(location)),
            };
        }
        let token = tokens.iter().find(|t| t.span.start == location);
        let near = match token {
            Some(t) => self.slice(t.span.start, t.span.end).to_string(),
            None if location == self.end_location() => return at_end(),
            None => message
                .rsplit_once("found: ")
                .map_or(String::new(), |(_, found)| found.to_string()),
        };
        PlanError::Syntax {
            message: format!("syntax error at or near \"{near}\""),
            position: Some(to_position(location)),
        }
    }
}

/// Splits sqlparser's `"... at Line: 3, Column: 7"` into the message and the location.
fn split_location(message: &str) -> (&str, Option<Location>) {
    let Some((text, place)) = message.rsplit_once(" at Line: ") else {
        return (message, None);
    };
    let parsed = place.split_once(", Column: ").and_then(|(line, column)| {
        Some(Location::new(
            line.trim().parse().ok()?,
            column.trim().parse().ok()?,
        ))
    });
    match parsed {
        Some(location) => (text, Some(location)),
        None => (message, None),
    }
}

fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Sql(statement) => write!(f, "{statement}"),
            Statement::Subscribe(subscribe) => write!(f, "{subscribe}"),
            Statement::Explain { stage, query } => {
                let stage = match stage {
                    ExplainStage::Logical => "LOGICAL",
                    ExplainStage::Optimized => "OPTIMIZED",
                    ExplainStage::Dataflow => "DATAFLOW",
                };
                write!(f, "EXPLAIN {stage} PLAN FOR {query}")
            }
            Statement::Show(show) => write!(f, "{show}"),
            Statement::CreateFunction {
                name,
                class,
                if_not_exists,
            } => write!(
                f,
                "CREATE FUNCTION {}{} AS '{}'",
                if *if_not_exists { "IF NOT EXISTS " } else { "" },
                quote_identifier(name),
                class.replace('\'', "''")
            ),
            Statement::CreateSink {
                name,
                from,
                options,
                if_not_exists,
            } => write!(
                f,
                "CREATE SINK {}{} FROM {} WITH ({})",
                if *if_not_exists { "IF NOT EXISTS " } else { "" },
                quote_identifier(name),
                quote_identifier(from),
                options
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Statement::DropSink {
                names,
                if_exists,
                cascade,
            } => write!(
                f,
                "DROP SINK {}{}{}",
                if *if_exists { "IF EXISTS " } else { "" },
                names
                    .iter()
                    .map(|n| quote_identifier(n))
                    .collect::<Vec<_>>()
                    .join(", "),
                if *cascade { " CASCADE" } else { "" }
            ),
        }
    }
}

impl fmt::Display for SubscribeStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            SubscribeTarget::Name(name) => write!(f, "SUBSCRIBE TO {}", quote_identifier(name))?,
            SubscribeTarget::Query(query) => write!(f, "SUBSCRIBE TO ({query})")?,
        }
        if !self.snapshot {
            f.write_str(" WITH (SNAPSHOT = FALSE)")?;
        }
        if let Some(as_of) = self.as_of {
            write!(f, " AS OF {as_of}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ShowStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShowStatement::Tables => f.write_str("SHOW TABLES"),
            ShowStatement::Sources => f.write_str("SHOW SOURCES"),
            ShowStatement::Sinks => f.write_str("SHOW SINKS"),
            ShowStatement::Views { materialized } => {
                let materialized = if *materialized { "MATERIALIZED " } else { "" };
                write!(f, "SHOW {materialized}VIEWS")
            }
            ShowStatement::Columns { name } => {
                write!(f, "SHOW COLUMNS FROM {}", quote_identifier(name))
            }
            ShowStatement::Create { kind, name } => write!(
                f,
                "SHOW CREATE {} {}",
                kind.name().to_uppercase(),
                quote_identifier(name)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_error(sql: &str) -> (String, Position) {
        match parse_statements(sql) {
            Err(PlanError::Syntax {
                message,
                position: Some(position),
            }) => (message, position),
            other => panic!("expected a syntax error with a position, got {other:?}"),
        }
    }

    #[test]
    fn long_operator_chains_are_bounded() {
        let chain = |n: usize| format!("SELECT 1{}", " + 1".repeat(n));
        assert!(parse_statements(&chain(MAX_NESTING - 10)).is_ok());
        for sql in [
            chain(MAX_NESTING + 1),
            chain(100_000),
            chain(300_000),
            format!("SELECT 'a'{}", "::text".repeat(MAX_NESTING + 1)),
            format!(
                "SELECT 1 FROM t WHERE {}",
                vec!["x"; MAX_NESTING + 2].join(" AND ")
            ),
            vec!["SELECT 1"; MAX_SET_OPERATIONS + 2].join(" UNION ALL "),
            format!("SUBSCRIBE ({})", chain(MAX_NESTING + 1)),
            format!("EXPLAIN {}", chain(MAX_NESTING + 1)),
        ] {
            match parse_statements(&sql) {
                Err(PlanError::Response(r)) => {
                    assert_eq!(r.code, "54001", "{r:?}");
                    assert_eq!(r.message, "stack depth limit exceeded");
                }
                other => panic!("expected a depth error, got {other:?}"),
            }
        }
        assert!(
            parse_statements(&vec!["SELECT 1"; MAX_SET_OPERATIONS + 1].join(" UNION ALL ")).is_ok()
        );
        // A syntax error at the end of a long chain: the parser drops what it built.
        assert!(matches!(
            parse_statements(&format!("{} +", chain(300_000))),
            Err(PlanError::Syntax { .. })
        ));
    }

    #[test]
    fn splits_scripts_respecting_quotes_and_comments() {
        let script = "SELECT ';' ; -- a; comment\n/* x; y */ SELECT 2;;\n SHOW TABLES ";
        let parsed = parse_statements(script).expect("parses");
        let texts: Vec<_> = parsed.iter().map(|p| p.sql.as_str()).collect();
        assert_eq!(texts, ["SELECT ';'", "SELECT 2", "SHOW TABLES"]);
        assert!(
            parse_statements("  -- nothing\n /* at all */ ;")
                .expect("parses")
                .is_empty()
        );
        assert!(parse_statements("").expect("parses").is_empty());
    }

    #[test]
    fn syntax_errors_read_like_postgres() {
        assert_eq!(
            syntax_error("SELECT a FORM t"),
            (
                "syntax error at or near \"t\"".into(),
                Position {
                    line: 1,
                    column: 15
                }
            )
        );
        assert_eq!(
            syntax_error("SELECT 1 +;"),
            (
                "syntax error at or near \";\"".into(),
                Position {
                    line: 1,
                    column: 11
                }
            )
        );
        assert_eq!(syntax_error("SELECT 1 +").0, "syntax error at end of input");
        assert_eq!(
            syntax_error("SELECT 'abc"),
            (
                "unterminated quoted string at or near \"'abc\"".into(),
                Position { line: 1, column: 8 }
            )
        );
        assert_eq!(
            syntax_error("SUBSCRIBE t WITH (progress = true)").0,
            "unrecognized SUBSCRIBE option \"progress\""
        );
    }

    #[test]
    fn sink_statements_round_trip() {
        for sql in [
            "CREATE SINK out FROM tally WITH ('connector' = 'nats-jetstream', 'stream' = 'S', 'sink.mode' = 'upsert')",
            "CREATE SINK IF NOT EXISTS \"Out\" FROM v WITH ('connector' = 'blackhole')",
            "DROP SINK out",
            "DROP SINK IF EXISTS a, b CASCADE",
        ] {
            let parsed = parse_statement(sql).expect(sql);
            assert_eq!(parsed.to_string(), sql);
            assert_eq!(parse_statement(&parsed.to_string()).expect(sql), parsed);
        }
        assert!(matches!(
            parse_statement("create sink s from v with ('connector' = 'print')"),
            Ok(Statement::CreateSink { name, from, .. }) if name == "s" && from == "v"
        ));
        assert_eq!(
            syntax_error("CREATE SINK s FROM v").0,
            "syntax error at end of input"
        );
        assert_eq!(
            syntax_error("CREATE SINK s v WITH ('connector' = 'print')").0,
            "syntax error at or near \"v\""
        );
        // Not a sink statement: left to sqlparser.
        assert!(matches!(
            parse_statement("DROP TABLE sink"),
            Ok(Statement::Sql(_))
        ));
    }

    #[test]
    fn quotes_identifiers_only_when_needed() {
        assert_eq!(quote_identifier("orders"), "orders");
        assert_eq!(quote_identifier("Orders"), "\"Orders\"");
        assert_eq!(quote_identifier("select"), "\"select\"");
        assert_eq!(quote_identifier("account"), "account");
        assert!(POSTGRES_RESERVED_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_identifier(""), "\"\"");
    }
}
