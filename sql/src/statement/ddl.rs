//! `CREATE TABLE` and `CREATE [MATERIALIZED] VIEW`; a CREATE TABLE with `WITH (...)`
//! options is a source table, planned in [`super::source`].

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use laaster_repr::plan::{GlobalId, Plan};
use laaster_repr::{Column, ColumnType, RelationDesc, ScalarExpr, ScalarType};
use sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use sqlparser::ast::{self, Visit, Visitor};

use super::{error, object_name, unsupported};
use crate::catalog::{Catalog, ItemKind, TableInfo};
use crate::error::PlanError;
use crate::expr::{plan_assignment_cast, plan_scalar_over, scalar_type_from_ast};
use crate::parse::normalize_ident;
use crate::plans::{PlanContext, StatementPlan};
use crate::query::{QueryContext, plan_query};

/// `CREATE TABLE [IF NOT EXISTS] name (column type [NULL | NOT NULL] [DEFAULT expr]
/// [PRIMARY KEY], ..., [PRIMARY KEY (a, b)])`.
pub(super) fn plan_create_table(
    catalog: &dyn Catalog,
    create: &ast::CreateTable,
    create_sql: &str,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    check_create_table_clauses(create)?;
    let name = object_name(&create.name)?;
    if catalog.get(&name).is_some() && !create.if_not_exists {
        return Err(PlanError::AlreadyExists {
            kind: "relation",
            name,
        });
    }
    if let ast::CreateTableOptions::With(options) = &create.table_options {
        return super::source::plan_create_source(catalog, create, name, options, create_sql, ctx);
    }
    super::source::reject_source_elements(create)?;
    let mut columns: Vec<Column> = Vec::new();
    let mut default_exprs = Vec::new();
    let mut primary_key = None;
    for column in &create.columns {
        let column_name = normalize_ident(&column.name);
        if columns.iter().any(|c| c.name == column_name) {
            return Err(error(
                "42701",
                format!("column \"{column_name}\" specified more than once"),
            ));
        }
        let scalar = scalar_type_from_ast(&column.data_type)?;
        let options = column_options(&name, &column_name, &column.options)?;
        if options.primary_key {
            set_primary_key(&mut primary_key, &name, vec![columns.len()])?;
        }
        default_exprs.push(options.default.cloned());
        columns.push(Column {
            name: column_name,
            typ: ColumnType::new(scalar, options.nullable),
        });
    }
    for constraint in &create.constraints {
        let key = table_constraint_key(constraint, &columns)?;
        set_primary_key(&mut primary_key, &name, key)?;
    }
    for &index in primary_key.iter().flatten() {
        columns[index].typ.nullable = false;
    }
    let mut defaults = Vec::with_capacity(columns.len());
    for (column, default) in columns.iter().zip(&default_exprs) {
        defaults.push(match default {
            Some(expr) => Some(plan_default(catalog, expr, &name, column, ctx)?),
            None => None,
        });
    }
    Ok(StatementPlan::CreateTable {
        name,
        desc: RelationDesc::new(columns),
        info: TableInfo {
            defaults,
            default_exprs,
            primary_key,
        },
        if_not_exists: create.if_not_exists,
        create_sql: create_sql.to_string(),
    })
}

/// Rejects every CREATE TABLE clause beyond columns, constraints and IF NOT EXISTS: the
/// statement must equal one built from just those.
fn check_create_table_clauses(create: &ast::CreateTable) -> Result<(), PlanError> {
    let options = match &create.table_options {
        with @ ast::CreateTableOptions::With(_) => with.clone(),
        _ => ast::CreateTableOptions::None,
    };
    let plain = CreateTableBuilder::new(create.name.clone())
        .columns(create.columns.clone())
        .constraints(create.constraints.clone())
        .if_not_exists(create.if_not_exists)
        .table_options(options)
        .build();
    if plain == *create {
        return Ok(());
    }
    let feature = if create.or_replace {
        "CREATE OR REPLACE TABLE"
    } else if create.temporary {
        "temporary tables"
    } else if create.unlogged {
        "UNLOGGED tables"
    } else if create.external {
        "external tables"
    } else if create.table_options != ast::CreateTableOptions::None {
        "CREATE TABLE options other than WITH (...)"
    } else if create.query.is_some() {
        "CREATE TABLE ... AS"
    } else if create.like.is_some() || create.clone.is_some() {
        "CREATE TABLE ... LIKE"
    } else if create.partition_by.is_some() || create.partition_of.is_some() {
        "partitioned tables"
    } else if create.inherits.is_some() {
        "table inheritance"
    } else if create.on_commit.is_some() {
        "ON COMMIT"
    } else {
        "this CREATE TABLE clause"
    };
    Err(unsupported(feature))
}

/// What a column's options declare.
pub(super) struct ColumnOptions<'a> {
    pub nullable: bool,
    pub default: Option<&'a ast::Expr>,
    pub primary_key: bool,
}

pub(super) fn column_options<'a>(
    table: &str,
    column: &str,
    options: &'a [ast::ColumnOptionDef],
) -> Result<ColumnOptions<'a>, PlanError> {
    let mut nullable: Option<bool> = None;
    let mut default = None;
    let mut primary_key = false;
    for option in options {
        let declared_nullable = match &option.option {
            ast::ColumnOption::Null => true,
            ast::ColumnOption::NotNull => false,
            ast::ColumnOption::Default(expr) => {
                if default.replace(expr).is_some() {
                    return Err(error(
                        "42601",
                        format!(
                            "multiple default values specified for column \"{column}\" of table \"{table}\""
                        ),
                    ));
                }
                continue;
            }
            ast::ColumnOption::PrimaryKey(_) => {
                primary_key = true;
                continue;
            }
            other => return Err(unsupported(column_option_feature(other))),
        };
        if nullable.is_some_and(|n| n != declared_nullable) {
            return Err(error(
                "42601",
                format!(
                    "conflicting NULL/NOT NULL declarations for column \"{column}\" of table \"{table}\""
                ),
            ));
        }
        nullable = Some(declared_nullable);
    }
    Ok(ColumnOptions {
        nullable: nullable.unwrap_or(true),
        default,
        primary_key,
    })
}

fn column_option_feature(option: &ast::ColumnOption) -> String {
    match option {
        ast::ColumnOption::Unique(_) => "UNIQUE constraints".into(),
        ast::ColumnOption::ForeignKey(_) => "FOREIGN KEY constraints".into(),
        ast::ColumnOption::Check(_) => "CHECK constraints".into(),
        ast::ColumnOption::Generated { .. } | ast::ColumnOption::Identity(_) => {
            "generated columns".into()
        }
        ast::ColumnOption::Collation(_) => "COLLATE".into(),
        other => format!("column option {other}"),
    }
}

/// The column indexes of a table-level PRIMARY KEY; other constraints are unsupported.
pub(super) fn table_constraint_key(
    constraint: &ast::TableConstraint,
    columns: &[Column],
) -> Result<Vec<usize>, PlanError> {
    let key = match constraint {
        ast::TableConstraint::PrimaryKey(key) => key,
        ast::TableConstraint::Unique(_) => return Err(unsupported("UNIQUE constraints")),
        ast::TableConstraint::ForeignKey(_) => return Err(unsupported("FOREIGN KEY constraints")),
        ast::TableConstraint::Check(_) => return Err(unsupported("CHECK constraints")),
        other => return Err(unsupported(format!("table constraint {other}"))),
    };
    let mut indexes = Vec::with_capacity(key.columns.len());
    for column in &key.columns {
        let ast::Expr::Identifier(ident) = &column.column.expr else {
            return Err(unsupported("expressions in PRIMARY KEY"));
        };
        let name = normalize_ident(ident);
        let index = columns.iter().position(|c| c.name == name).ok_or_else(|| {
            error(
                "42703",
                format!("column \"{name}\" named in key does not exist"),
            )
        })?;
        if indexes.contains(&index) {
            return Err(error(
                "42701",
                format!("column \"{name}\" appears twice in primary key constraint"),
            ));
        }
        indexes.push(index);
    }
    Ok(indexes)
}

pub(super) fn set_primary_key(
    primary_key: &mut Option<Vec<usize>>,
    table: &str,
    key: Vec<usize>,
) -> Result<(), PlanError> {
    if primary_key.replace(key).is_some() {
        return Err(error(
            "42P16",
            format!("multiple primary keys for table \"{table}\" are not allowed"),
        ));
    }
    Ok(())
}

/// A column DEFAULT: planned with no columns in scope, cast to the column's type.
pub(super) fn plan_default(
    catalog: &dyn Catalog,
    expr: &ast::Expr,
    table: &str,
    column: &Column,
    ctx: &PlanContext,
) -> Result<ScalarExpr, PlanError> {
    let (planned, typ) = plan_scalar_over(catalog, expr, table, &RelationDesc::default(), ctx)?;
    let from = if super::dml::is_untyped_literal(expr) {
        ScalarType::Unknown
    } else {
        typ.scalar
    };
    plan_assignment_cast(planned, &from, &column.typ.scalar).map_err(|err| match err {
        PlanError::InvalidCast { from, to } => error(
            "42804",
            format!(
                "column \"{}\" is of type {to} but default expression is of type {from}",
                column.name
            ),
        ),
        other => other,
    })
}

/// `CREATE [OR REPLACE] [MATERIALIZED] VIEW [IF NOT EXISTS] name [(aliases)] AS query`.
pub(super) fn plan_create_view(
    catalog: &dyn Catalog,
    create: &ast::CreateView,
    create_sql: &str,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    check_create_view_clauses(create)?;
    let name = object_name(&create.name)?;
    let kind = if create.materialized {
        ItemKind::MaterializedView
    } else {
        ItemKind::View
    };
    if let Some(existing) = catalog.get(&name) {
        if create.or_replace && existing.kind != kind {
            return Err(PlanError::WrongObjectKind {
                name,
                expected: kind.name(),
            });
        }
        if !create.or_replace && !create.if_not_exists {
            return Err(PlanError::AlreadyExists {
                kind: "relation",
                name,
            });
        }
    }
    let mut query = plan_query(catalog, &create.query, ctx, QueryContext::Maintained)?;
    apply_column_aliases(&mut query.desc, &create.columns)?;
    let uses = referenced_items(catalog, &create.query, &query.plan);
    Ok(StatementPlan::CreateView {
        name,
        materialized: create.materialized,
        query,
        query_sql: create.query.to_string(),
        uses,
        if_not_exists: create.if_not_exists,
        or_replace: create.or_replace,
        create_sql: create_sql.to_string(),
    })
}

fn check_create_view_clauses(create: &ast::CreateView) -> Result<(), PlanError> {
    let feature = if create.or_alter {
        "CREATE OR ALTER VIEW"
    } else if create.temporary {
        "temporary views"
    } else if create.secure {
        "SECURE views"
    } else if create.options != ast::CreateTableOptions::None {
        "CREATE VIEW ... WITH (...) options"
    } else if create.to.is_some() {
        "CREATE MATERIALIZED VIEW ... TO"
    } else if !create.cluster_by.is_empty() {
        "CLUSTER BY"
    } else if create.comment.is_some() {
        "view comments"
    } else if create.with_no_schema_binding || create.copy_grants || create.params.is_some() {
        "this CREATE VIEW clause"
    } else if create
        .columns
        .iter()
        .any(|c| c.data_type.is_some() || c.options.is_some())
    {
        "column types or options in CREATE VIEW"
    } else {
        return Ok(());
    };
    Err(unsupported(feature))
}

/// Renames the first columns to the given aliases; then no two columns may share a name.
fn apply_column_aliases(
    desc: &mut RelationDesc,
    aliases: &[ast::ViewColumnDef],
) -> Result<(), PlanError> {
    if aliases.len() > desc.arity() {
        return Err(error(
            "42601",
            "CREATE VIEW specifies more column names than columns",
        ));
    }
    for (column, alias) in desc.columns.iter_mut().zip(aliases) {
        column.name = normalize_ident(&alias.name);
    }
    for (i, column) in desc.columns.iter().enumerate() {
        if desc.columns[..i].iter().any(|c| c.name == column.name) {
            return Err(error(
                "42701",
                format!("column \"{}\" specified more than once", column.name),
            ));
        }
    }
    Ok(())
}

/// The catalog items a view's query reads directly: the relations named in its AST
/// (CTE names excluded), plus any item the plan imports that is not reached through
/// those (e.g. a table named inside a table function's arguments).
fn referenced_items(catalog: &dyn Catalog, query: &ast::Query, plan: &Plan) -> Vec<GlobalId> {
    let mut collector = RelationCollector::default();
    let _ = query.visit(&mut collector);
    let mut direct: Vec<GlobalId> = Vec::new();
    for relation in &collector.relations {
        if let [part] = relation.0.as_slice()
            && part
                .as_ident()
                .is_some_and(|ident| collector.ctes.contains(&normalize_ident(ident)))
        {
            continue;
        }
        let Ok(name) = object_name(relation) else {
            continue;
        };
        if let Some(item) = catalog.get(&name)
            && !direct.contains(&item.id)
        {
            direct.push(item.id);
        }
    }
    let reachable = transitive_uses(catalog, &direct);
    for id in plan.imports() {
        if !direct.contains(&id) && !reachable.contains(&id) {
            direct.push(id);
        }
    }
    direct
}

/// Every item reachable from `ids` through `uses`, excluding `ids` themselves.
fn transitive_uses(catalog: &dyn Catalog, ids: &[GlobalId]) -> BTreeSet<GlobalId> {
    let mut reachable = BTreeSet::new();
    let mut pending: Vec<GlobalId> = ids.to_vec();
    while let Some(id) = pending.pop() {
        let Some(item) = catalog.get_by_id(id) else {
            continue;
        };
        for &used in &item.uses {
            if reachable.insert(used) {
                pending.push(used);
            }
        }
    }
    reachable
}

/// Collects relation names and CTE names from a query's AST.
#[derive(Default)]
struct RelationCollector {
    relations: Vec<ast::ObjectName>,
    ctes: BTreeSet<String>,
}

impl Visitor for RelationCollector {
    type Break = ();

    fn pre_visit_query(&mut self, query: &ast::Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(normalize_ident(&cte.alias.name));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ast::ObjectName) -> ControlFlow<()> {
        self.relations.push(relation.clone());
        ControlFlow::Continue(())
    }

    /// The relation a window table function reads: `TUMBLE(TABLE t, ...)` or the
    /// short form `TUMBLE(t, ...)`.
    fn pre_visit_table_factor(&mut self, factor: &ast::TableFactor) -> ControlFlow<()> {
        let (name, args) = match factor {
            ast::TableFactor::Table {
                name,
                args: Some(args),
                ..
            } => (name, &args.args),
            ast::TableFactor::TableFunction {
                expr: ast::Expr::Function(function),
                ..
            } => match &function.args {
                ast::FunctionArguments::List(list) => (&function.name, &list.args),
                _ => return ControlFlow::Continue(()),
            },
            _ => return ControlFlow::Continue(()),
        };
        if crate::query::is_window_table_function(name) {
            // The table is the first argument, or the one named DATA.
            let data = args
                .iter()
                .enumerate()
                .find_map(|(position, arg)| match arg {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(value))
                        if position == 0 =>
                    {
                        Some(value)
                    }
                    ast::FunctionArg::Named {
                        name,
                        arg: ast::FunctionArgExpr::Expr(value),
                        ..
                    } if normalize_ident(name) == "data" => Some(value),
                    ast::FunctionArg::ExprNamed {
                        name: ast::Expr::Identifier(name),
                        arg: ast::FunctionArgExpr::Expr(value),
                        ..
                    } if normalize_ident(name) == "data" => Some(value),
                    _ => None,
                });
            let data = match data {
                Some(ast::Expr::Prefixed { value, .. }) => Some(&**value),
                other => other,
            };
            match data {
                Some(ast::Expr::Identifier(ident)) => {
                    self.relations
                        .push(ast::ObjectName::from(vec![ident.clone()]));
                }
                Some(ast::Expr::CompoundIdentifier(parts)) => {
                    self.relations.push(ast::ObjectName::from(parts.clone()));
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }
}
