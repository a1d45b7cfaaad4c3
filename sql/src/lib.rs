//! # laaster-sql: from SQL text to dataflow plans
//!
//! Stage: the front end. Input: SQL text and a [`Catalog`]. Output: a
//! [`StatementPlan`] per statement; queries become a [`QueryPlan`] holding a
//! [`laaster_repr::plan::Plan`] (the dataflow IR) plus the result schema.
//!
//! ```text
//! SQL text ──parse──▶ Statement (sqlparser AST + Laaster extensions)
//!          ──plan_statement──▶ StatementPlan
//!              └─ queries: plan_query ──▶ LogicalPlan ──optimize──▶ LogicalPlan ──lower──▶ Plan
//! ```
//!
//! Start reading at [`parse::parse_statements`] and [`statement::plan_statement`]. This
//! crate never links timely; it depends only on `laaster-repr`.

pub mod catalog;
pub mod error;
pub mod explain;
pub mod expr;
pub mod interval_join;
pub mod logical;
pub mod lower;
pub mod monotonic;
pub mod optimize;
pub mod parse;
pub mod plans;
pub mod query;
mod stack;
pub mod statement;
pub mod window_aggregate;
pub mod window_top_n;

pub use catalog::{Catalog, CatalogItem, ItemKind, TableInfo};
pub use error::PlanError;
pub use plans::{PlanContext, QueryPlan, StatementPlan};
