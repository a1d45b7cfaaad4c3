//! Source tables: Flink's DDL `CREATE TABLE name (physical columns, computed AS expr,
//! WATERMARK FOR ts AS expr) WITH ('connector' = '...', ...)`.
//!
//! The connector produces the physical columns (a metadata column, `name TYPE METADATA
//! [FROM 'key'] [VIRTUAL]`, is a physical column the connector fills from the message's
//! envelope rather than its value; see `laaster_connectors::metadata`); computed columns
//! follow them (whatever
//! order they were declared in), each an expression over the physical row; the watermark
//! is an expression over the full row. See [`CreateSourcePlan`].

use std::ops::ControlFlow;

use laaster_repr::{Column, ColumnType, ErrorResponse, RelationDesc, ScalarExpr, ScalarType};
use sqlparser::ast::{self, Visit};

use super::ddl::column_options;
use super::{error, unsupported};
use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::expr::{plan_scalar_over, scalar_type_from_ast};
use crate::parse::{normalize_ident, parse_metadata, parse_watermark};
use crate::plans::{CreateSourcePlan, PlanContext, StatementPlan};

/// One element of a source table's column list.
enum Element<'a> {
    Physical(&'a ast::ColumnDef),
    Computed(&'a ast::ColumnDef, &'a ast::Expr),
    Watermark(Box<(ast::Ident, ast::Expr)>),
}

fn classify(column: &ast::ColumnDef) -> Result<Element<'_>, PlanError> {
    if let Some(watermark) = parse_watermark(column) {
        let (ident, expr) = watermark.map_err(|err| {
            error(
                "XX000",
                format!("internal error: cannot read WATERMARK clause: {err}"),
            )
        })?;
        return Ok(Element::Watermark(Box::new((ident, expr))));
    }
    if let [option] = column.options.as_slice()
        && let ast::ColumnOption::Generated {
            generation_expr: Some(expr),
            generated_keyword: false,
            ..
        } = &option.option
        && column.data_type == ast::DataType::Unspecified
    {
        return Ok(Element::Computed(column, expr));
    }
    Ok(Element::Physical(column))
}

/// A column's `METADATA [FROM 'key'] [VIRTUAL]` option: the key (the column's name when
/// `FROM` is omitted), or `None` for an ordinary column. More than one is an error.
fn metadata_key(column: &ast::ColumnDef) -> Result<Option<String>, PlanError> {
    let mut found = None;
    for option in &column.options {
        if let Some((key, _virtual)) = parse_metadata(&option.option) {
            let key = key.unwrap_or_else(|| normalize_ident(&column.name));
            if found.replace(key).is_some() {
                return Err(error(
                    "42601",
                    format!(
                        "multiple METADATA clauses for column \"{}\"",
                        normalize_ident(&column.name)
                    ),
                ));
            }
        }
    }
    Ok(found)
}

/// A plain table (no WITH options) may not have computed columns, metadata columns or a
/// watermark.
pub(super) fn reject_source_elements(create: &ast::CreateTable) -> Result<(), PlanError> {
    for column in &create.columns {
        let feature = match classify(column)? {
            Element::Physical(column) if metadata_key(column)?.is_some() => {
                "METADATA columns in a table without a connector"
            }
            Element::Physical(_) => continue,
            Element::Computed(..) => "computed columns in a table without a connector",
            Element::Watermark(..) => "WATERMARK in a table without a connector",
        };
        return Err(PlanError::Unsupported {
            feature: feature.into(),
            hint: Some(
                "Add WITH ('connector' = '...', ...) to declare a source table, e.g. WITH ('connector' = 'nexmark')."
                    .into(),
            ),
        });
    }
    Ok(())
}

/// Plans `CREATE TABLE ... WITH (options)` into [`StatementPlan::CreateSource`].
pub(super) fn plan_create_source(
    catalog: &dyn Catalog,
    create: &ast::CreateTable,
    name: String,
    with: &[ast::SqlOption],
    create_sql: &str,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    let (connector, options) = connector_options(with)?;

    let mut physical = Vec::new();
    let mut computed = Vec::new();
    let mut watermark: Option<(ast::Ident, ast::Expr)> = None;
    for column in &create.columns {
        match classify(column)? {
            Element::Physical(column) => physical.push(column),
            Element::Computed(column, expr) => computed.push((column, expr)),
            Element::Watermark(clause) => {
                if watermark.replace(*clause).is_some() {
                    return Err(error(
                        "42601",
                        format!("multiple WATERMARK clauses for table \"{name}\""),
                    ));
                }
            }
        }
    }

    // Column names: physical then computed, no duplicates.
    let physical_names: Vec<String> = physical.iter().map(|c| normalize_ident(&c.name)).collect();
    let computed_names: Vec<String> = computed
        .iter()
        .map(|(c, _)| normalize_ident(&c.name))
        .collect();
    let all_names: Vec<&String> = physical_names.iter().chain(&computed_names).collect();
    for (i, column_name) in all_names.iter().enumerate() {
        if all_names[..i].contains(column_name) {
            return Err(error(
                "42701",
                format!("column \"{column_name}\" specified more than once"),
            ));
        }
    }

    // A PRIMARY KEY (Flink: `PRIMARY KEY (k) NOT ENFORCED`) names the key of an upsert
    // source or sink; it is not enforced.
    let mut primary_key = None;
    let mut metadata = Vec::new();
    let mut columns = Vec::with_capacity(all_names.len());
    for (column, column_name) in physical.iter().zip(&physical_names) {
        let scalar = scalar_type_from_ast(&column.data_type)?;
        if let Some(key) = metadata_key(column)? {
            metadata.push((columns.len(), key));
        }
        let options: Vec<ast::ColumnOptionDef> = column
            .options
            .iter()
            .filter(|option| parse_metadata(&option.option).is_none())
            .cloned()
            .collect();
        let declared = column_options(&name, column_name, &options)?;
        if declared.default.is_some() {
            return Err(unsupported("DEFAULT on a source table column"));
        }
        if declared.primary_key {
            super::ddl::set_primary_key(&mut primary_key, &name, vec![columns.len()])?;
        }
        columns.push(Column {
            name: column_name.clone(),
            typ: ColumnType::new(scalar, declared.nullable),
        });
    }
    for constraint in &create.constraints {
        let key = super::ddl::table_constraint_key(constraint, &columns)?;
        super::ddl::set_primary_key(&mut primary_key, &name, key)?;
    }
    let physical_desc = RelationDesc::new(columns.clone());

    let mut computed_exprs = Vec::with_capacity(computed.len());
    for ((_, expr), column_name) in computed.iter().zip(&computed_names) {
        if let Some(other) = referenced_name(expr, &computed_names, &physical_names) {
            return Err(PlanError::Response(
                ErrorResponse::new(
                    "42P17",
                    format!(
                        "computed column \"{column_name}\" cannot reference computed column \"{other}\""
                    ),
                )
                .with_hint("Write the other column's expression out in full."),
            ));
        }
        let (planned, typ) = plan_scalar_over(catalog, expr, &name, &physical_desc, ctx)?;
        columns.push(Column {
            name: column_name.clone(),
            typ,
        });
        computed_exprs.push(planned);
    }
    let desc = RelationDesc::new(columns);

    let watermark = match watermark {
        None => None,
        Some((ident, expr)) => Some(plan_watermark(catalog, &name, &desc, &ident, &expr, ctx)?),
    };

    if super::sink::is_sink_connector(&connector) {
        if let Some((index, key)) = metadata.first() {
            return Err(PlanError::Response(
                ErrorResponse::new(
                    "0A000",
                    format!(
                        "sink table \"{name}\" cannot have the metadata column \"{}\" (METADATA FROM '{key}')",
                        physical_names[*index]
                    ),
                )
                .with_hint("Metadata columns are read from source messages; declare an ordinary column."),
            ));
        }
        return super::sink::plan_create_sink(super::sink::SinkTable {
            name,
            desc,
            physical_arity: physical.len(),
            has_watermark: watermark.is_some(),
            connector,
            options,
            primary_key,
            if_not_exists: create.if_not_exists,
            create_sql: create_sql.to_string(),
        });
    }
    Ok(StatementPlan::CreateSource(CreateSourcePlan {
        name,
        desc,
        physical_arity: physical.len(),
        computed: computed_exprs,
        watermark,
        connector,
        options,
        primary_key,
        metadata,
        if_not_exists: create.if_not_exists,
        create_sql: create_sql.to_string(),
    }))
}

/// `WATERMARK FOR column AS expr`: the column must be a TIMESTAMP (or TIMESTAMPTZ)
/// column and the expression, over the full row, of the same type.
fn plan_watermark(
    catalog: &dyn Catalog,
    table: &str,
    desc: &RelationDesc,
    ident: &ast::Ident,
    expr: &ast::Expr,
    ctx: &PlanContext,
) -> Result<(usize, ScalarExpr), PlanError> {
    let column_name = normalize_ident(ident);
    let Some(index) = desc.columns.iter().position(|c| c.name == column_name) else {
        return Err(error(
            "42703",
            format!("column \"{column_name}\" named in WATERMARK FOR does not exist"),
        ));
    };
    let column_type = &desc.columns[index].typ.scalar;
    if !matches!(column_type, ScalarType::Timestamp | ScalarType::TimestampTz) {
        return Err(PlanError::Response(
            ErrorResponse::new(
                "42804",
                format!(
                    "WATERMARK FOR column \"{column_name}\" must be of type timestamp, not {column_type}"
                ),
            )
            .with_hint("The event-time column of a source is a TIMESTAMP column, e.g. `ts TIMESTAMP(3)`."),
        ));
    }
    let (planned, typ) = plan_scalar_over(catalog, expr, table, desc, ctx)?;
    if typ.scalar != *column_type {
        return Err(error(
            "42804",
            format!(
                "WATERMARK expression for column \"{column_name}\" must be of type {column_type}, not {}",
                typ.scalar
            ),
        ));
    }
    Ok((index, planned))
}

/// The first name in `expr` that is one of `computed` and not one of `physical`.
fn referenced_name(expr: &ast::Expr, computed: &[String], physical: &[String]) -> Option<String> {
    let mut found = None;
    let _ = expr.visit(&mut ColumnNames(|ident: &ast::Ident| {
        let name = normalize_ident(ident);
        if computed.contains(&name) && !physical.contains(&name) {
            found = Some(name);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }));
    found
}

/// Calls the closure on every identifier (or first part of a compound identifier).
struct ColumnNames<F>(F);

impl<F: FnMut(&ast::Ident) -> ControlFlow<()>> ast::Visitor for ColumnNames<F> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &ast::Expr) -> ControlFlow<()> {
        match expr {
            ast::Expr::Identifier(ident) => (self.0)(ident),
            ast::Expr::CompoundIdentifier(parts) => match parts.first() {
                Some(first) => (self.0)(first),
                None => ControlFlow::Continue(()),
            },
            _ => ControlFlow::Continue(()),
        }
    }
}

/// The `connector` option (lower-cased) and every other option in order.
pub(super) fn connector_options(
    with: &[ast::SqlOption],
) -> Result<(String, Vec<(String, String)>), PlanError> {
    let mut connector = None;
    let mut options: Vec<(String, String)> = Vec::new();
    for option in with {
        let ast::SqlOption::KeyValue { key, value } = option else {
            return Err(error(
                "42601",
                format!("invalid WITH option {option}: expected 'key' = 'value'"),
            ));
        };
        let key = key
            .0
            .iter()
            .map(|part| {
                part.as_ident()
                    .map_or_else(|| part.to_string(), |i| i.value.clone())
            })
            .collect::<Vec<_>>()
            .join(".");
        let value = match value {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) => Some(s.clone()),
                ast::Value::Number(n, _) => Some(n.clone()),
                ast::Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            },
            _ => None,
        };
        let Some(value) = value else {
            return Err(error(
                "42601",
                format!(
                    "the value of option '{key}' must be a string literal, e.g. '{key}' = '...'"
                ),
            ));
        };
        if key == "connector" {
            if connector.replace(value.to_lowercase()).is_some() {
                return Err(error(
                    "42601",
                    "option 'connector' specified more than once",
                ));
            }
            continue;
        }
        if options.iter().any(|(k, _)| *k == key) {
            return Err(error(
                "42601",
                format!("option '{key}' specified more than once"),
            ));
        }
        options.push((key, value));
    }
    let Some(connector) = connector else {
        return Err(PlanError::Response(
            ErrorResponse::new(
                "42601",
                "CREATE TABLE ... WITH (...) requires a 'connector' option",
            )
            .with_hint(
                "Name the table's source, e.g. WITH ('connector' = 'nexmark', ...); a table without a connector takes no WITH options.",
            ),
        ));
    };
    Ok((connector, options))
}
