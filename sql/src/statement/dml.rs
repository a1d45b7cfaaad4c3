//! `INSERT`, `UPDATE` and `DELETE` on tables.
//!
//! An INSERT's source query is planned like a view's ([`QueryContext::Maintained`]) and
//! wrapped in one [`Plan::Mfp`] that produces the table's full row in column order:
//! listed columns come from the source (with Postgres' assignment casts), the others
//! from their DEFAULT or NULL. A `DEFAULT` inside `VALUES` is handled by rewriting the
//! rows before planning: a column that is `DEFAULT` in every row is dropped from the
//! source (so it takes its default), and a column that is `DEFAULT` in only some rows
//! gets a boolean marker column that selects between the value and the default.

use laaster_repr::plan::{MapFilterProject, Plan, RowSetFinishing};
use laaster_repr::{Column, Row, ScalarExpr, ScalarType};
use sqlparser::ast;

use super::{error, object_name, resolve_item, unsupported};
use crate::catalog::{Catalog, CatalogItem, ItemKind};
use crate::error::PlanError;
use crate::expr::{plan_assignment_cast, plan_scalar_over};
use crate::parse::{Statement, normalize_ident, parse_statement, quote_identifier};
use crate::plans::{PlanContext, QueryPlan, StatementPlan};
use crate::query::{QueryContext, plan_query};

/// Which DML statement, for Postgres' error wording.
#[derive(Clone, Copy)]
enum DmlKind {
    Insert,
    Update,
    Delete,
}

impl DmlKind {
    /// The verb as Postgres words it: "insert into", "update", "delete from".
    fn verb(self) -> &'static str {
        match self {
            DmlKind::Insert => "insert into",
            DmlKind::Update => "update",
            DmlKind::Delete => "delete from",
        }
    }

    fn gerund(self) -> &'static str {
        match self {
            DmlKind::Insert => "inserting into",
            DmlKind::Update => "updating",
            DmlKind::Delete => "deleting from",
        }
    }

    fn keyword(self) -> &'static str {
        match self {
            DmlKind::Insert => "INSERT",
            DmlKind::Update => "UPDATE",
            DmlKind::Delete => "DELETE",
        }
    }
}

/// Resolves the target of a DML statement, which must be a table.
fn resolve_table<'a>(
    catalog: &'a dyn Catalog,
    name: &ast::ObjectName,
    kind: DmlKind,
) -> Result<&'a CatalogItem, PlanError> {
    let item = resolve_item(catalog, &object_name(name)?)?;
    match item.kind {
        ItemKind::Table => Ok(item),
        ItemKind::View => Err(PlanError::Response(
            laaster_repr::ErrorResponse::new(
                "55000",
                format!("cannot {} view \"{}\"", kind.verb(), item.name),
            )
            .with_detail(
                "Views that do not select from a single table or view are not automatically updatable.",
            )
            .with_hint(format!(
                "To enable {} the view, provide an INSTEAD OF {k} trigger or an unconditional ON {k} DO INSTEAD rule.",
                kind.gerund(),
                k = kind.keyword()
            )),
        )),
        ItemKind::MaterializedView => Err(error(
            "42809",
            format!("cannot change materialized view \"{}\"", item.name),
        )),
        ItemKind::Sink if matches!(kind, DmlKind::Insert) => Ok(item),
        ItemKind::Source if matches!(kind, DmlKind::Insert) && catalog.source_writable(item.id) => {
            Ok(item)
        }
        ItemKind::Sink => Err(PlanError::Response(
            laaster_repr::ErrorResponse::new(
                "42809",
                format!("cannot {} sink table \"{}\"", kind.verb(), item.name),
            )
            .with_detail("A sink table keeps no rows; its changes go to its connector.")
            .with_hint("INSERT INTO it SELECT ... to stream a query's changes into it."),
        )),
        ItemKind::Source => Err(PlanError::Response(
            laaster_repr::ErrorResponse::new(
                "42809",
                format!("cannot {} source table \"{}\"", kind.verb(), item.name),
            )
            .with_detail("Its rows come from its connector; a source table is append-only.")
            .with_hint("Write to a table without a connector, or to the connector's system."),
        )),
    }
}

/// The column's DEFAULT expression, or a typed NULL. The DEFAULT is planned again for
/// this statement, so a volatile one (`now()`) takes the statement's time rather than
/// the time the table was created.
fn default_value(
    catalog: &dyn Catalog,
    table: &CatalogItem,
    index: usize,
    column: &Column,
    ctx: &PlanContext,
) -> Result<ScalarExpr, PlanError> {
    let Some(info) = table.table.as_ref() else {
        return Ok(ScalarExpr::null(column.typ.scalar.clone()));
    };
    if let Some(Some(expr)) = info.default_exprs.get(index) {
        return super::ddl::plan_default(catalog, expr, &table.name, column, ctx);
    }
    Ok(info
        .defaults
        .get(index)
        .cloned()
        .flatten()
        .unwrap_or_else(|| ScalarExpr::null(column.typ.scalar.clone())))
}

/// The index of a target column, or Postgres' `column "x" of relation "t" does not exist`.
fn column_index(table: &CatalogItem, name: &ast::ObjectName) -> Result<usize, PlanError> {
    let column = match name.0.as_slice() {
        [part] => part.as_ident().map(normalize_ident),
        _ => None,
    }
    .ok_or_else(|| unsupported(format!("assignment to {name}")))?;
    table.desc.index_of(&column).ok_or_else(|| {
        error(
            "42703",
            format!(
                "column \"{column}\" of relation \"{}\" does not exist",
                table.name
            ),
        )
    })
}

/// Casts a value of type `from` for storing into `column`, with Postgres' wording when
/// the types do not match.
fn assignment_cast(
    expr: ScalarExpr,
    from: &ScalarType,
    column: &Column,
) -> Result<ScalarExpr, PlanError> {
    plan_assignment_cast(expr, from, &column.typ.scalar).map_err(|err| match err {
        PlanError::InvalidCast { from, to } => PlanError::Response(
            laaster_repr::ErrorResponse::new(
                "42804",
                format!(
                    "column \"{}\" is of type {to} but expression is of type {from}",
                    column.name
                ),
            )
            .with_hint("You will need to rewrite or cast the expression."),
        ),
        other => other,
    })
}

/// `SET col.field.subfield = value`: the field path below the column, and the value.
type FieldAssignment<'a> = (Vec<String>, &'a ast::Expr);

/// The new value of record column `column` (currently `base`, of type `typ`) after the
/// field assignments `list` (`SET person.address.city = 'x'` has the path `[address,
/// city]`): a `ROW(...)` of the assigned values and the fields left as they are, like
/// Postgres' field assignment (a NULL record gets NULL in the other fields).
fn assign_fields(
    column: &str,
    base: ast::Expr,
    typ: &ScalarType,
    list: &[FieldAssignment],
) -> Result<ast::Expr, PlanError> {
    let ScalarType::Record(fields) = typ else {
        let field = list.first().and_then(|(path, _)| path.first());
        return Err(error(
            "42804",
            format!(
                "cannot assign to field \"{}\" of column \"{column}\" because its type {typ} is not a composite type",
                field.map_or("", String::as_str)
            ),
        ));
    };
    if let Some((path, _)) = list
        .iter()
        .find(|(path, _)| !fields.iter().any(|(name, _)| Some(name) == path.first()))
    {
        return Err(error(
            "42703",
            format!(
                "cannot assign to field \"{}\" of column \"{column}\" because there is no such column in data type {typ}",
                path[0]
            ),
        ));
    }
    let mut args = Vec::with_capacity(fields.len());
    for (name, field_type) in fields {
        let current = ast::Expr::CompoundFieldAccess {
            root: Box::new(ast::Expr::Nested(Box::new(base.clone()))),
            access_chain: vec![ast::AccessExpr::Dot(ast::Expr::Identifier(
                ast::Ident::with_quote('"', name.as_str()),
            ))],
        };
        let mine: Vec<&FieldAssignment> = list
            .iter()
            .filter(|(path, _)| path.first() == Some(name))
            .collect();
        let whole: Vec<&ast::Expr> = mine
            .iter()
            .filter(|(path, _)| path.len() == 1)
            .map(|(_, value)| *value)
            .collect();
        let value = match (whole.as_slice(), mine.len()) {
            (_, 0) => current,
            ([value], 1) => (*value).clone(),
            ([], _) => {
                let nested: Vec<FieldAssignment> = mine
                    .iter()
                    .map(|(path, value)| (path[1..].to_vec(), *value))
                    .collect();
                assign_fields(&format!("{column}.{name}"), current, field_type, &nested)?
            }
            _ => {
                return Err(error(
                    "42601",
                    format!("multiple assignments to same column \"{column}.{name}\""),
                ));
            }
        };
        args.push(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(value)));
    }
    Ok(ast::Expr::Function(ast::Function {
        name: ast::ObjectName(vec![ast::ObjectNamePart::Identifier(ast::Ident::new(
            "ROW",
        ))]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

/// The planned type `typ` of an UPDATE's SET expression, with the fields of a row
/// constructor that are untyped literals (`ROW('2024-01-01', NULL)`) typed `unknown`
/// again (the planned query typed them text), so they convert to the column's field
/// types the way a bare literal does.
fn untyped_fields(expr: &ast::Expr, typ: ScalarType) -> ScalarType {
    let args: Vec<&ast::Expr> = match expr {
        ast::Expr::Nested(inner) => return untyped_fields(inner, typ),
        ast::Expr::Tuple(items) => items.iter().collect(),
        ast::Expr::Function(function)
            if crate::expr::function_name_of(function) == "row"
                && let ast::FunctionArguments::List(list) = &function.args =>
        {
            let args: Option<Vec<&ast::Expr>> = list
                .args
                .iter()
                .map(|arg| match arg {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect();
            match args {
                Some(args) => args,
                None => return typ,
            }
        }
        _ => return typ,
    };
    match typ {
        ScalarType::Record(fields) if fields.len() == args.len() => ScalarType::Record(
            fields
                .into_iter()
                .zip(args)
                .map(|((name, field), arg)| {
                    let field = if is_untyped_literal(arg) {
                        ScalarType::Unknown
                    } else {
                        untyped_fields(arg, field)
                    };
                    (name, field)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Whether `expr` is the `DEFAULT` keyword (sqlparser reads it as an identifier).
pub(super) fn is_default(expr: &ast::Expr) -> bool {
    matches!(expr, ast::Expr::Identifier(ident)
        if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default"))
}

/// Whether `expr` is a literal of Postgres' type `unknown` (a quoted string or NULL),
/// which converts to any column type the way an input function reads text.
pub(super) fn is_untyped_literal(expr: &ast::Expr) -> bool {
    use ast::Value as V;
    match expr {
        ast::Expr::Value(value) => matches!(
            value.value,
            V::SingleQuotedString(_)
                | V::EscapedStringLiteral(_)
                | V::UnicodeStringLiteral(_)
                | V::DollarQuotedString(_)
                | V::Null
        ),
        ast::Expr::Nested(inner) => is_untyped_literal(inner),
        _ => false,
    }
}

/// Where a table column's value comes from in the source rows.
#[derive(Clone, Copy)]
struct SourceColumn {
    /// Column of the source row.
    index: usize,
    /// The source column holds only untyped literals (its type is Postgres' `unknown`).
    untyped: bool,
    /// A boolean source column that is true where the row said `DEFAULT`.
    default_marker: Option<usize>,
}

/// The planned source of an INSERT and, per table column, where its value comes from.
struct InsertSource {
    query: QueryPlan,
    columns: Vec<Option<SourceColumn>>,
}

/// `INSERT INTO t [(columns)] VALUES ... | query | DEFAULT VALUES`.
pub(super) fn plan_insert(
    catalog: &dyn Catalog,
    insert: &ast::Insert,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    check_insert_clauses(insert)?;
    let ast::TableObject::TableName(name) = &insert.table else {
        return Err(unsupported("INSERT INTO TABLE FUNCTION"));
    };
    let table = resolve_table(catalog, name, DmlKind::Insert)?;
    let mut targets = insert_targets(table, &insert.columns)?;
    if insert.columns.is_empty()
        && let Some(query) = &insert.source
    {
        // Without a column list, a narrower source fills the leading columns and the rest
        // take their defaults, as in Postgres.
        let width = match values_only(query) {
            Some(values) => values.rows.first().map_or(0, |row| row.content.len()),
            None => plan_query(catalog, query, ctx, write_context(table))?
                .desc
                .arity(),
        };
        if width < targets.len() {
            targets.truncate(width);
        }
    }
    let source = match &insert.source {
        None => default_values_source(table.desc.arity()),
        Some(query) => match values_only(query) {
            Some(values) => plan_values_source(catalog, query, values, &targets, table, ctx)?,
            None => plan_query_source(catalog, query, &targets, table, ctx)?,
        },
    };
    let input_arity = source.query.plan.arity();
    let finishing_projection = &source.query.finishing.projection;
    let source_index = |i: usize| finishing_projection.get(i).copied().unwrap_or(i);
    let mut expressions = Vec::with_capacity(table.desc.arity());
    for (index, column) in table.desc.columns.iter().enumerate() {
        let default = default_value(catalog, table, index, column, ctx)?;
        let value = match source.columns.get(index).copied().flatten() {
            None => default,
            Some(from) => {
                let from_type = if from.untyped {
                    ScalarType::Unknown
                } else {
                    source
                        .query
                        .desc
                        .columns
                        .get(from.index)
                        .map_or(ScalarType::Unknown, |c| c.typ.scalar.clone())
                };
                let value = assignment_cast(
                    ScalarExpr::column(source_index(from.index)),
                    &from_type,
                    column,
                )?;
                match from.default_marker {
                    None => value,
                    Some(marker) => ScalarExpr::If {
                        cond: Box::new(ScalarExpr::column(source_index(marker))),
                        then: Box::new(default),
                        els: Box::new(value),
                    },
                }
            }
        };
        expressions.push(value);
    }
    let arity = expressions.len();
    let mfp = MapFilterProject::identity(input_arity)
        .map(expressions)
        .project((input_arity..input_arity + arity).collect());
    if matches!(table.kind, ItemKind::Sink | ItemKind::Source) {
        let plan = Plan::Mfp {
            input: Box::new(source.query.plan),
            mfp,
        };
        return Ok(StatementPlan::InsertIntoSink {
            sink: table.id,
            uses: plan.imports(),
            query: QueryPlan {
                plan,
                desc: table.desc.clone(),
                finishing: identity_finishing(arity),
            },
        });
    }
    Ok(StatementPlan::Insert {
        table: table.id,
        source: QueryPlan {
            plan: Plan::Mfp {
                input: Box::new(source.query.plan),
                mfp,
            },
            desc: table.desc.clone(),
            finishing: identity_finishing(arity),
        },
    })
}

/// How an INSERT's source query is planned: evaluated once for a table, maintained
/// (continuously, so `now()` is refused) for a sink table.
fn write_context(table: &CatalogItem) -> QueryContext {
    if matches!(table.kind, ItemKind::Sink | ItemKind::Source) {
        QueryContext::Maintained
    } else {
        QueryContext::Write
    }
}

fn identity_finishing(arity: usize) -> RowSetFinishing {
    RowSetFinishing {
        order: Vec::new(),
        limit: None,
        offset: 0,
        projection: (0..arity).collect(),
    }
}

fn check_insert_clauses(insert: &ast::Insert) -> Result<(), PlanError> {
    let feature = if insert.on.is_some() {
        "INSERT ... ON CONFLICT"
    } else if insert.returning.is_some() {
        "INSERT ... RETURNING"
    } else if insert.or.is_some() || insert.replace_into {
        "INSERT OR REPLACE"
    } else if insert.ignore {
        "INSERT IGNORE"
    } else if insert.overwrite {
        "INSERT OVERWRITE"
    } else if insert.partitioned.is_some() || !insert.after_columns.is_empty() {
        "INSERT ... PARTITION"
    } else if !insert.assignments.is_empty() {
        "INSERT ... SET"
    } else if insert.by_name {
        "INSERT ... BY NAME"
    } else if insert.overriding.is_some() {
        "INSERT ... OVERRIDING"
    } else {
        return Ok(());
    };
    Err(unsupported(feature))
}

/// The table columns an INSERT names, in the order given (all columns if none).
fn insert_targets(
    table: &CatalogItem,
    columns: &[ast::ObjectName],
) -> Result<Vec<usize>, PlanError> {
    if columns.is_empty() {
        return Ok((0..table.desc.arity()).collect());
    }
    let mut targets = Vec::with_capacity(columns.len());
    for column in columns {
        let index = column_index(table, column)?;
        if targets.contains(&index) {
            return Err(error(
                "42701",
                format!(
                    "column \"{}\" specified more than once",
                    table.desc.columns[index].name
                ),
            ));
        }
        targets.push(index);
    }
    Ok(targets)
}

/// The rows of a bare `VALUES` query (no WITH, ORDER BY, LIMIT), if it is one.
fn values_only(query: &ast::Query) -> Option<&ast::Values> {
    let ast::SetExpr::Values(values) = query.body.as_ref() else {
        return None;
    };
    let bare = query.with.is_none()
        && query.order_by.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none();
    bare.then_some(values)
}

/// `INSERT ... DEFAULT VALUES`: one row, every column from its default.
fn default_values_source(arity: usize) -> InsertSource {
    InsertSource {
        query: QueryPlan {
            plan: Plan::Constant {
                rows: vec![(Row::empty(), 1)],
                arity: 0,
            },
            desc: Default::default(),
            finishing: identity_finishing(0),
        },
        columns: vec![None; arity],
    }
}

fn arity_error(expressions: usize, targets: usize) -> Result<(), PlanError> {
    if expressions > targets {
        Err(error(
            "42601",
            "INSERT has more expressions than target columns",
        ))
    } else if expressions < targets {
        Err(error(
            "42601",
            "INSERT has more target columns than expressions",
        ))
    } else {
        Ok(())
    }
}

/// Plans `VALUES` rows, rewriting `DEFAULT` cells (see the module docs).
fn plan_values_source(
    catalog: &dyn Catalog,
    query: &ast::Query,
    values: &ast::Values,
    targets: &[usize],
    table: &CatalogItem,
    ctx: &PlanContext,
) -> Result<InsertSource, PlanError> {
    for row in &values.rows {
        arity_error(row.content.len(), targets.len())?;
    }
    let cells = |position: usize| values.rows.iter().map(move |row| &row.content[position]);
    // Target positions kept in the source, and those among them needing a marker.
    let mut kept = Vec::new();
    let mut marked = Vec::new();
    for position in 0..targets.len() {
        let defaults = cells(position).filter(|cell| is_default(cell)).count();
        if defaults < values.rows.len() {
            kept.push(position);
            if defaults > 0 {
                marked.push(position);
            }
        }
    }
    let mut columns = vec![None; table.desc.arity()];
    if kept.is_empty() {
        let rows = vec![(Row::empty(), 1); values.rows.len()];
        let source = QueryPlan {
            plan: Plan::Constant { rows, arity: 0 },
            desc: Default::default(),
            finishing: identity_finishing(0),
        };
        return Ok(InsertSource {
            query: source,
            columns,
        });
    }
    let null = ast::Expr::Value(ast::Value::Null.into());
    let mut rewritten = query.clone();
    let mut rewritten_values = values.clone();
    for row in &mut rewritten_values.rows {
        let original = std::mem::take(&mut row.content);
        let mut content: Vec<ast::Expr> = kept
            .iter()
            .map(|&p| {
                if is_default(&original[p]) {
                    null.clone()
                } else {
                    original[p].clone()
                }
            })
            .collect();
        content.extend(
            marked
                .iter()
                .map(|&p| ast::Expr::Value(ast::Value::Boolean(is_default(&original[p])).into())),
        );
        row.content = content;
    }
    *rewritten.body = ast::SetExpr::Values(rewritten_values);
    let planned = plan_query(catalog, &rewritten, ctx, QueryContext::Write)?;
    for (index, &position) in kept.iter().enumerate() {
        columns[targets[position]] = Some(SourceColumn {
            index,
            untyped: cells(position).all(|cell| is_default(cell) || is_untyped_literal(cell)),
            default_marker: marked
                .iter()
                .position(|&p| p == position)
                .map(|m| kept.len() + m),
        });
    }
    Ok(InsertSource {
        query: planned,
        columns,
    })
}

/// Plans any other INSERT source query.
fn plan_query_source(
    catalog: &dyn Catalog,
    query: &ast::Query,
    targets: &[usize],
    table: &CatalogItem,
    ctx: &PlanContext,
) -> Result<InsertSource, PlanError> {
    let planned = plan_query(catalog, query, ctx, write_context(table))?;
    arity_error(planned.desc.arity(), targets.len())?;
    let untyped = untyped_select_items(query);
    let mut columns = vec![None; table.desc.arity()];
    for (index, &target) in targets.iter().enumerate() {
        columns[target] = Some(SourceColumn {
            index,
            untyped: untyped.get(index).copied().unwrap_or(false),
            default_marker: None,
        });
    }
    Ok(InsertSource {
        query: planned,
        columns,
    })
}

/// For `SELECT 'a', x, NULL ...` (no `*`): which output columns are untyped literals.
fn untyped_select_items(query: &ast::Query) -> Vec<bool> {
    let ast::SetExpr::Select(select) = query.body.as_ref() else {
        return Vec::new();
    };
    let mut untyped = Vec::with_capacity(select.projection.len());
    for item in &select.projection {
        match item {
            ast::SelectItem::UnnamedExpr(expr) | ast::SelectItem::ExprWithAlias { expr, .. } => {
                untyped.push(is_untyped_literal(expr));
            }
            _ => return Vec::new(),
        }
    }
    untyped
}

/// The table an UPDATE or DELETE targets and the name its columns are qualified by.
fn dml_target<'a>(
    catalog: &'a dyn Catalog,
    target: &ast::TableWithJoins,
    kind: DmlKind,
) -> Result<(&'a CatalogItem, String), PlanError> {
    if !target.joins.is_empty() {
        return Err(unsupported(format!("{} with joins", kind.keyword())));
    }
    let ast::TableFactor::Table {
        name, alias, args, ..
    } = &target.relation
    else {
        return Err(unsupported(format!(
            "{} of {}",
            kind.keyword(),
            target.relation
        )));
    };
    if args.is_some() {
        return Err(unsupported(format!(
            "{} of a table function",
            kind.keyword()
        )));
    }
    let table = resolve_table(catalog, name, kind)?;
    let scope = match alias {
        Some(alias) if !alias.columns.is_empty() => {
            return Err(unsupported("column aliases in UPDATE or DELETE"));
        }
        Some(alias) => normalize_ident(&alias.name),
        None => table.name.clone(),
    };
    Ok((table, scope))
}

/// `UPDATE t [AS x] SET col = expr | DEFAULT, ... [WHERE p]`.
pub(super) fn plan_update(
    catalog: &dyn Catalog,
    update: &ast::Update,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    let feature = if update.from.is_some() {
        Some("UPDATE ... FROM")
    } else if update.returning.is_some() || update.output.is_some() {
        Some("UPDATE ... RETURNING")
    } else if update.or.is_some() {
        Some("UPDATE OR")
    } else if !update.order_by.is_empty() || update.limit.is_some() {
        Some("UPDATE ... ORDER BY / LIMIT")
    } else {
        None
    };
    if let Some(feature) = feature {
        return Err(unsupported(feature));
    }
    let (table, scope) = dml_target(catalog, &update.table, DmlKind::Update)?;
    let arity = table.desc.arity();
    let mut targets: Vec<usize> = Vec::new();
    let mut values: Vec<ast::Expr> = Vec::new();
    // `SET person.age = v`: the assignments to fields of each record column.
    let mut field_assignments: Vec<(usize, Vec<FieldAssignment>)> = Vec::new();
    for assignment in &update.assignments {
        let ast::AssignmentTarget::ColumnName(target) = &assignment.target else {
            return Err(unsupported("multiple-column assignment in UPDATE"));
        };
        if let [column, fields @ ..] = target.0.as_slice()
            && !fields.is_empty()
        {
            let column = ast::ObjectName(vec![column.clone()]);
            let index = column_index(table, &column)?;
            let path = fields
                .iter()
                .map(|part| part.as_ident().map(normalize_ident))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| unsupported(format!("assignment to {target}")))?;
            if is_default(&assignment.value) {
                return Err(unsupported("assigning DEFAULT to a field of a row"));
            }
            match field_assignments.iter_mut().find(|(i, _)| *i == index) {
                Some((_, list)) => list.push((path, &assignment.value)),
                None => field_assignments.push((index, vec![(path, &assignment.value)])),
            }
            continue;
        }
        let index = column_index(table, target)?;
        if targets.contains(&index) || field_assignments.iter().any(|(i, _)| *i == index) {
            return Err(error(
                "42601",
                format!(
                    "multiple assignments to same column \"{}\"",
                    table.desc.columns[index].name
                ),
            ));
        }
        targets.push(index);
        values.push(assignment.value.clone());
    }
    for (index, list) in field_assignments {
        let column = &table.desc.columns[index];
        if targets.contains(&index) {
            return Err(error(
                "42601",
                format!("multiple assignments to same column \"{}\"", column.name),
            ));
        }
        let base = ast::Expr::Identifier(ast::Ident::with_quote('"', column.name.as_str()));
        let value = assign_fields(&column.name, base, &column.typ.scalar, &list)?;
        targets.push(index);
        values.push(value);
    }
    // The SET expressions ride along as extra columns of the read, so subqueries in them
    // (and in WHERE) are planned, and decorrelated, like any query.
    let computed: Vec<&ast::Expr> = values.iter().filter(|v| !is_default(v)).collect();
    let selection = plan_selection(
        catalog,
        table,
        &scope,
        &computed,
        update.selection.as_ref(),
        ctx,
    )?;
    let mut assignments = Vec::with_capacity(targets.len());
    let mut next = arity;
    for (&index, value) in targets.iter().zip(&values) {
        let column = &table.desc.columns[index];
        let expr = if is_default(value) {
            default_value(catalog, table, index, column, ctx)?
        } else {
            let from = if is_untyped_literal(value) {
                ScalarType::Unknown
            } else {
                untyped_fields(value, selection.desc.columns[next].typ.scalar.clone())
            };
            let cast = assignment_cast(ScalarExpr::Column(next), &from, column)?;
            next += 1;
            cast
        };
        assignments.push((index, expr));
    }
    Ok(StatementPlan::Update {
        table: table.id,
        selection,
        assignments,
    })
}

/// Plans `SELECT scope.*, extra... FROM table AS scope [WHERE predicate]`: the read half
/// of an UPDATE or DELETE.
fn plan_selection(
    catalog: &dyn Catalog,
    table: &CatalogItem,
    scope: &str,
    extra: &[&ast::Expr],
    predicate: Option<&ast::Expr>,
    ctx: &PlanContext,
) -> Result<QueryPlan, PlanError> {
    if let Some(predicate) = predicate {
        // Postgres' wording for a non-boolean WHERE, checked on the plain expression when
        // it has no subquery (the query planner reports it otherwise).
        if let Ok((_, typ)) = plan_scalar_over(catalog, predicate, scope, &table.desc, ctx)
            && !matches!(typ.scalar, ScalarType::Bool | ScalarType::Unknown)
        {
            return Err(error(
                "42804",
                format!(
                    "argument of WHERE must be type boolean, not type {}",
                    typ.scalar
                ),
            ));
        }
    }
    let scope_name = quote_identifier(scope);
    let mut sql = format!("SELECT {scope_name}.*");
    for expr in extra {
        sql.push_str(&format!(", ({expr})"));
    }
    sql.push_str(&format!(
        " FROM {} AS {scope_name}",
        quote_identifier(&table.name)
    ));
    if let Some(predicate) = predicate {
        sql.push_str(&format!(" WHERE {predicate}"));
    }
    let statement = parse_statement(&sql)?;
    let Statement::Sql(statement) = statement else {
        return Err(unsupported("this UPDATE or DELETE"));
    };
    let ast::Statement::Query(query) = *statement else {
        return Err(unsupported("this UPDATE or DELETE"));
    };
    plan_query(catalog, &query, ctx, QueryContext::Write)
}

/// `DELETE FROM t [AS x] [WHERE p]`.
pub(super) fn plan_delete(
    catalog: &dyn Catalog,
    delete: &ast::Delete,
    ctx: &PlanContext,
) -> Result<StatementPlan, PlanError> {
    let feature = if delete.using.is_some() {
        Some("DELETE ... USING")
    } else if delete.returning.is_some() || delete.output.is_some() {
        Some("DELETE ... RETURNING")
    } else if !delete.tables.is_empty() {
        Some("multiple-table DELETE")
    } else if !delete.order_by.is_empty() || delete.limit.is_some() {
        Some("DELETE ... ORDER BY / LIMIT")
    } else {
        None
    };
    if let Some(feature) = feature {
        return Err(unsupported(feature));
    }
    let (ast::FromTable::WithFromKeyword(from) | ast::FromTable::WithoutKeyword(from)) =
        &delete.from;
    let [target] = from.as_slice() else {
        return Err(unsupported("DELETE from several tables"));
    };
    let (table, scope) = dml_target(catalog, target, DmlKind::Delete)?;
    let selection = plan_selection(catalog, table, &scope, &[], delete.selection.as_ref(), ctx)?;
    Ok(StatementPlan::Delete {
        table: table.id,
        selection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keyword_and_untyped_literals() {
        let default = ast::Expr::Identifier(ast::Ident::new("DEFAULT"));
        let quoted = ast::Expr::Identifier(ast::Ident::with_quote('"', "default"));
        assert!(is_default(&default));
        assert!(!is_default(&quoted));
        let text = ast::Expr::Value(ast::Value::SingleQuotedString("x".into()).into());
        let number = ast::Expr::Value(ast::Value::Number("1".into(), false).into());
        assert!(is_untyped_literal(&text));
        assert!(!is_untyped_literal(&number));
    }
}
