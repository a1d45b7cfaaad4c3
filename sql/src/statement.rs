//! Statement planning: a parsed [`Statement`] into a [`StatementPlan`], resolved against
//! the [`Catalog`].
//!
//! Input: one [`Statement`] from [`crate::parse`]. Output: a [`StatementPlan`] the
//! engine executes. Queries are planned by [`crate::query::plan_query`] (ad hoc reads with
//! [`QueryContext::AdHoc`]; views, subscriptions and INSERT sources with
//! [`QueryContext::Maintained`]); scalar expressions of UPDATE, DELETE and column
//! DEFAULTs by [`crate::expr::plan_scalar_over`]. DDL lives in [`ddl`], DML in [`dml`];
//! this file dispatches and plans the small statements (SUBSCRIBE, SHOW, DROP, EXPLAIN).
//!
//! Errors follow Postgres' wording and SQLSTATE codes. Statements Laaster does not run
//! yet (transactions, SET, ALTER, indexes, ...) are [`PlanError::Unsupported`].

mod ddl;
mod dml;
mod sink;
mod source;
#[cfg(test)]
mod tests;

use laaster_repr::ErrorResponse;
use sqlparser::ast;
use sqlparser::parser::Parser;

use crate::catalog::{Catalog, CatalogItem, ItemKind};
use crate::error::{PlanError, closest_name};
use crate::explain::explain_query;
use crate::parse::{
    LaasterDialect, ShowStatement, Statement, SubscribeStatement, SubscribeTarget, normalize_ident,
    quote_identifier,
};
use crate::plans::{PlanContext, StatementPlan};
use crate::query::{QueryContext, plan_query};

/// Plans one statement against the catalog. Never panics on user input: every
/// unsupported or invalid statement is a [`PlanError`].
pub fn plan_statement(
    catalog: &dyn Catalog,
    stmt: &Statement,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    match stmt {
        Statement::Sql(statement) => plan_sql_statement(catalog, statement, ctx),
        Statement::Subscribe(subscribe) => plan_subscribe(catalog, subscribe, ctx),
        Statement::Explain { stage, query } => Ok(StatementPlan::Explain {
            text: explain_query(catalog, query, ctx, *stage)?,
        }),
        Statement::Show(show) => plan_show(catalog, show),
        Statement::CreateFunction { name, class, .. } => plan_create_function(name, class),
        Statement::CreateSink {
            name,
            from,
            options,
            if_not_exists,
        } => sink::plan_create_sink_from(
            catalog,
            name,
            from,
            options,
            *if_not_exists,
            &stmt.to_string(),
            ctx,
        ),
        Statement::DropSink {
            names,
            if_exists,
            cascade,
        } => plan_drop_sink(catalog, names, *if_exists, *cascade),
    }
}

fn plan_sql_statement(
    catalog: &dyn Catalog,
    statement: &ast::Statement,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    match statement {
        ast::Statement::Query(query) => Ok(StatementPlan::Select(plan_query(
            catalog,
            query,
            ctx,
            QueryContext::AdHoc,
        )?)),
        ast::Statement::CreateTable(create) => {
            ddl::plan_create_table(catalog, create, &statement.to_string(), ctx)
        }
        ast::Statement::CreateView(create) => {
            ddl::plan_create_view(catalog, create, &statement.to_string(), ctx)
        }
        ast::Statement::Insert(insert) => dml::plan_insert(catalog, insert, ctx),
        ast::Statement::Update(update) => dml::plan_update(catalog, update, ctx),
        ast::Statement::Delete(delete) => dml::plan_delete(catalog, delete, ctx),
        ast::Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => plan_drop(catalog, object_type, *if_exists, names, *cascade),
        other => Err(unsupported_statement(other)),
    }
}

/// Java UDF classes Laaster knows, each with the built-in function implementing it.
const KNOWN_FUNCTION_CLASSES: &[(&str, &str)] = &[
    // Nexmark q14: count_char(s, c) = occurrences of the first character of c in s.
    ("com.github.nexmark.flink.udf.CountChar", "count_char"),
];

/// Flink's `CREATE FUNCTION name AS 'class'`: Laaster cannot load Java classes; a known
/// class is accepted when `name` is the name of the built-in implementing it (which is
/// always available, with or without this statement).
fn plan_create_function(name: &str, class: &str) -> Result<StatementPlan, PlanError> {
    let Some((_, builtin)) = KNOWN_FUNCTION_CLASSES.iter().find(|(c, _)| *c == class) else {
        let known: Vec<&str> = KNOWN_FUNCTION_CLASSES.iter().map(|(c, _)| *c).collect();
        return Err(PlanError::Response(
            ErrorResponse::new(
                "0A000",
                format!("cannot create function \"{name}\": class '{class}' is not known"),
            )
            .with_detail(
                "Laaster does not load Java classes; it maps a few known user-defined function classes to built-in functions.",
            )
            .with_hint(format!("Known classes: {}.", known.join(", "))),
        ));
    };
    if name != *builtin {
        return Err(PlanError::Response(
            ErrorResponse::new(
                "0A000",
                format!("class '{class}' is Laaster's built-in function {builtin}, not \"{name}\""),
            )
            .with_hint(format!(
                "Name it {builtin}: CREATE FUNCTION {builtin} AS '{class}'."
            )),
        ));
    }
    Ok(StatementPlan::CreateFunction {
        name: name.to_string(),
    })
}

/// `SUBSCRIBE name` subscribes to `SELECT * FROM name`; `SUBSCRIBE (query)` to the query.
fn plan_subscribe(
    catalog: &dyn Catalog,
    subscribe: &SubscribeStatement,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    let query = match &subscribe.target {
        SubscribeTarget::Name(name) => {
            resolve_item(catalog, name)?;
            let select = select_star_from(name)?;
            plan_query(catalog, &select, ctx, QueryContext::Maintained)?
        }
        SubscribeTarget::Query(query) => plan_query(catalog, query, ctx, QueryContext::Maintained)?,
    };
    Ok(StatementPlan::Subscribe {
        query,
        snapshot: subscribe.snapshot,
        as_of: subscribe.as_of,
    })
}

/// The AST of `SELECT * FROM name`.
fn select_star_from(name: &str) -> Result<ast::Query, PlanError> {
    let sql = format!("SELECT * FROM {}", quote_identifier(name));
    let dialect = LaasterDialect::default();
    Parser::new(&dialect)
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_query())
        .map(|query| *query)
        .map_err(|err| {
            PlanError::Response(ErrorResponse::new(
                "XX000",
                format!("internal error: cannot parse {sql}: {err}"),
            ))
        })
}

fn plan_show(catalog: &dyn Catalog, show: &ShowStatement) -> Result<StatementPlan, PlanError> {
    match show {
        ShowStatement::Tables => Ok(StatementPlan::ShowTables),
        ShowStatement::Sources => Ok(StatementPlan::ShowSources),
        ShowStatement::Sinks => Ok(StatementPlan::ShowSinks),
        ShowStatement::Views { .. } => Ok(StatementPlan::ShowViews),
        ShowStatement::Columns { name } => Ok(StatementPlan::ShowColumns {
            id: resolve_item(catalog, name)?.id,
        }),
        ShowStatement::Create { kind, name } => {
            let item = resolve_item(catalog, name)?;
            if !kind_matches(item.kind, *kind) {
                return Err(PlanError::WrongObjectKind {
                    name: item.name.clone(),
                    expected: kind.name(),
                });
            }
            Ok(StatementPlan::ShowCreate { id: item.id })
        }
    }
}

/// `DROP TABLE | VIEW | MATERIALIZED VIEW [IF EXISTS] names [CASCADE | RESTRICT]`:
/// resolves the names; dependency checks and cascading are the engine's (via `uses`).
fn plan_drop(
    catalog: &dyn Catalog,
    object_type: &ast::ObjectType,
    if_exists: bool,
    names: &[ast::ObjectName],
    cascade: bool,
) -> Result<StatementPlan, PlanError> {
    let kind = match object_type {
        ast::ObjectType::Table => ItemKind::Table,
        ast::ObjectType::View => ItemKind::View,
        ast::ObjectType::MaterializedView => ItemKind::MaterializedView,
        other => return Err(unsupported(format!("DROP {other}"))),
    };
    let mut ids = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        let name = object_name(name)?;
        match catalog.get(&name) {
            None if if_exists => missing.push(name),
            None => return Err(drop_missing(catalog, kind, &name)),
            Some(item) if !kind_matches(item.kind, kind) => {
                return Err(drop_wrong_kind(item, kind));
            }
            Some(item) if !ids.contains(&item.id) => ids.push(item.id),
            Some(_) => {}
        }
    }
    Ok(StatementPlan::Drop {
        kind,
        ids,
        cascade,
        missing,
    })
}

/// `DROP SINK [IF EXISTS] names [CASCADE]`: sinks made by `CREATE SINK` or `CREATE TABLE`.
fn plan_drop_sink(
    catalog: &dyn Catalog,
    names: &[String],
    if_exists: bool,
    cascade: bool,
) -> Result<StatementPlan, PlanError> {
    let mut ids = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match catalog.get(name) {
            None if if_exists => missing.push(name.clone()),
            None => return Err(drop_missing(catalog, ItemKind::Sink, name)),
            Some(item) if item.kind != ItemKind::Sink => {
                return Err(drop_wrong_kind(item, ItemKind::Sink));
            }
            Some(item) if !ids.contains(&item.id) => ids.push(item.id),
            Some(_) => {}
        }
    }
    Ok(StatementPlan::Drop {
        kind: ItemKind::Sink,
        ids,
        cascade,
        missing,
    })
}

/// Whether an item of kind `actual` answers to `DROP`/`SHOW CREATE` of kind `named`:
/// source tables are tables there (`DROP TABLE`, `SHOW CREATE TABLE`).
fn kind_matches(actual: ItemKind, named: ItemKind) -> bool {
    actual == named
        || (matches!(actual, ItemKind::Source | ItemKind::Sink) && named == ItemKind::Table)
}

/// Postgres: `table "x" does not exist` (42P01).
fn drop_missing(catalog: &dyn Catalog, kind: ItemKind, name: &str) -> PlanError {
    let items = catalog.items();
    let candidates = items
        .iter()
        .filter(|item| kind_matches(item.kind, kind))
        .map(|item| item.name.as_str());
    let mut response = ErrorResponse::new(
        "42P01",
        format!("{} \"{name}\" does not exist", kind.name()),
    );
    if let Some(suggestion) = closest_name(name, candidates) {
        response = response.with_hint(format!("Perhaps you meant \"{suggestion}\"."));
    }
    PlanError::Response(response)
}

/// Postgres: `"v" is not a table` with `HINT: Use DROP VIEW to remove a view.` (42809).
fn drop_wrong_kind(item: &CatalogItem, expected: ItemKind) -> PlanError {
    let actual = item.kind.name();
    PlanError::Response(
        ErrorResponse::new(
            "42809",
            format!("\"{}\" is not a {}", item.name, expected.name()),
        )
        .with_hint(format!(
            "Use DROP {} to remove a {actual}.",
            match item.kind {
                ItemKind::Source | ItemKind::Sink => "TABLE".to_string(),
                other => other.name().to_uppercase(),
            }
        )),
    )
}

/// The catalog name an object name refers to. Laaster has one namespace: `public.x`
/// is `x`; other qualifiers are errors.
pub(crate) fn object_name(name: &ast::ObjectName) -> Result<String, PlanError> {
    let parts = name
        .0
        .iter()
        .map(|part| part.as_ident().map(normalize_ident))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| unsupported(format!("object name {name}")))?;
    match parts.as_slice() {
        [name] => Ok(name.clone()),
        [schema, name] if schema == "public" => Ok(name.clone()),
        [schema, _] => Err(PlanError::Response(ErrorResponse::new(
            "3F000",
            format!("schema \"{schema}\" does not exist"),
        ))),
        _ => Err(PlanError::Response(ErrorResponse::new(
            "0A000",
            format!("cross-database references are not implemented: {name}"),
        ))),
    }
}

/// The item named `name`, or `relation "name" does not exist` with a suggestion.
pub(crate) fn resolve_item<'a>(
    catalog: &'a dyn Catalog,
    name: &str,
) -> Result<&'a CatalogItem, PlanError> {
    catalog.get(name).ok_or_else(|| {
        let items = catalog.items();
        PlanError::UnknownRelation {
            name: name.to_string(),
            suggestion: closest_name(name, items.iter().map(|item| item.name.as_str())),
        }
    })
}

pub(crate) fn unsupported(feature: impl Into<String>) -> PlanError {
    PlanError::Unsupported {
        feature: feature.into(),
        hint: None,
    }
}

/// A user-facing error with a SQLSTATE code and Postgres' message.
pub(crate) fn error(code: &str, message: impl Into<String>) -> PlanError {
    PlanError::Response(ErrorResponse::new(code, message))
}

/// `Unsupported` naming the statement kind, e.g. "CREATE INDEX is not supported".
fn unsupported_statement(statement: &ast::Statement) -> PlanError {
    use ast::Statement as S;
    let (feature, hint) = match statement {
        S::StartTransaction { .. } | S::Commit { .. } | S::Rollback { .. } => (
            "transactions".to_string(),
            Some("Each statement runs in its own transaction.".to_string()),
        ),
        S::Set(_) => ("SET".to_string(), None),
        S::CreateIndex(_) => (
            "CREATE INDEX".to_string(),
            Some("Tables and materialized views are always indexed.".to_string()),
        ),
        S::AlterTable(_) => ("ALTER TABLE".to_string(), None),
        S::Explain { .. } | S::ExplainTable { .. } => (
            "this form of EXPLAIN".to_string(),
            Some("Use EXPLAIN [LOGICAL | OPTIMIZED | DATAFLOW] PLAN FOR <query>.".to_string()),
        ),
        other => (leading_keywords(&other.to_string()), None),
    };
    PlanError::Unsupported { feature, hint }
}

/// The first one or two upper-case keywords of a statement's text ("CREATE SCHEMA").
fn leading_keywords(sql: &str) -> String {
    let words: Vec<&str> = sql
        .split_whitespace()
        .take(2)
        .take_while(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    if words.is_empty() {
        "this statement".to_string()
    } else {
        words.join(" ")
    }
}
