//! [`Scope`]: the named columns an expression can see, and name resolution.

use laaster_repr::{Column, ColumnType, RelationDesc};
use sqlparser::ast;

use crate::error::{PlanError, closest_name};

/// One column of the relation being planned, as SQL names see it.
#[derive(Clone, Debug)]
pub struct ScopeColumn {
    /// The table (or alias) that qualifies the column, if any.
    pub table: Option<String>,
    pub name: String,
    pub typ: ColumnType,
    /// Left out of `*` (join helper columns, subquery results, USING duplicates).
    pub hidden: bool,
    /// Found by an unqualified name (false for the inputs of a USING column).
    pub unqualified: bool,
}

/// The columns of a relation in order; `columns[i]` is column `#i`.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub columns: Vec<ScopeColumn>,
}

/// The normalized form of an identifier: unquoted names fold to lower case.
pub fn normalize_ident(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The normalized dotted name of an object (`schema.table` keeps its last part).
pub fn normalize_object_name(name: &ast::ObjectName) -> Result<String, PlanError> {
    let mut parts = Vec::new();
    for part in &name.0 {
        match part {
            ast::ObjectNamePart::Identifier(ident) => parts.push(normalize_ident(ident)),
            ast::ObjectNamePart::Function(_) => {
                return Err(PlanError::Unsupported {
                    feature: format!("name {name}"),
                    hint: None,
                });
            }
        }
    }
    match parts.as_slice() {
        [name] => Ok(name.clone()),
        [schema, name] if schema == "public" => Ok(name.clone()),
        _ => Err(PlanError::Unsupported {
            feature: format!("qualified name {name}"),
            hint: Some("Laaster has a single schema; use the unqualified name.".into()),
        }),
    }
}

impl ScopeColumn {
    pub fn new(table: Option<String>, name: impl Into<String>, typ: ColumnType) -> Self {
        ScopeColumn {
            table,
            name: name.into(),
            typ,
            hidden: false,
            unqualified: true,
        }
    }

    /// A column no name can reach (subquery results, helper columns).
    pub fn anonymous(typ: ColumnType) -> Self {
        ScopeColumn {
            table: None,
            name: String::new(),
            typ,
            hidden: true,
            unqualified: false,
        }
    }
}

impl Scope {
    pub fn new(columns: Vec<ScopeColumn>) -> Self {
        Scope { columns }
    }

    /// The columns of `desc`, qualified by `table`.
    pub fn from_desc(table: Option<&str>, desc: &RelationDesc) -> Self {
        Scope::new(
            desc.columns
                .iter()
                .map(|c| ScopeColumn::new(table.map(str::to_string), c.name.clone(), c.typ.clone()))
                .collect(),
        )
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Appends unreachable columns until the scope has `arity` columns.
    pub fn pad_to(&mut self, arity: usize, typ: ColumnType) {
        while self.columns.len() < arity {
            self.columns.push(ScopeColumn::anonymous(typ.clone()));
        }
    }

    /// Left columns then right columns.
    pub fn concat(&self, right: &Scope) -> Scope {
        let mut columns = self.columns.clone();
        columns.extend(right.columns.iter().cloned());
        Scope::new(columns)
    }

    /// The same columns, all nullable (the null-extended side of an outer join).
    pub fn nullable(mut self) -> Scope {
        for column in &mut self.columns {
            column.typ.nullable = true;
        }
        self
    }

    /// Whether any column is qualified by `table`.
    pub fn has_table(&self, table: &str) -> bool {
        self.columns
            .iter()
            .any(|c| c.table.as_deref() == Some(table))
    }

    /// Resolves a possibly qualified column name. `Ok(None)` means no such column.
    pub fn resolve(&self, table: Option<&str>, name: &str) -> Result<Option<usize>, PlanError> {
        let mut found = None;
        for (i, column) in self.columns.iter().enumerate() {
            let matches = match table {
                Some(t) => column.table.as_deref() == Some(t) && column.name == name,
                None => column.unqualified && column.name == name,
            };
            if matches {
                if found.is_some() {
                    return Err(PlanError::AmbiguousColumn(display_name(table, name)));
                }
                found = Some(i);
            }
        }
        Ok(found)
    }

    /// A "Perhaps you meant" suggestion for an unknown column.
    pub fn suggest(&self, table: Option<&str>, name: &str) -> Option<String> {
        let candidates: Vec<String> = self
            .columns
            .iter()
            .filter(|c| !c.name.is_empty() && (c.unqualified || c.table.is_some()))
            .filter(|c| table.is_none() || c.table.as_deref() == table)
            .map(|c| match (&c.table, table) {
                (Some(t), Some(_)) => format!("{t}.{}", c.name),
                _ => c.name.clone(),
            })
            .collect();
        let wanted = display_name(table, name);
        closest_name(&wanted, candidates.iter().map(String::as_str))
    }

    /// The visible columns as a schema.
    pub fn desc(&self) -> RelationDesc {
        RelationDesc::new(
            self.columns
                .iter()
                .filter(|c| !c.hidden)
                .map(|c| Column {
                    name: c.name.clone(),
                    typ: c.typ.clone(),
                })
                .collect(),
        )
    }
}

/// `t.c` or `c`.
pub fn display_name(table: Option<&str>, name: &str) -> String {
    match table {
        Some(t) => format!("{t}.{name}"),
        None => name.to_string(),
    }
}
