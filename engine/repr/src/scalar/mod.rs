//! Scalar expressions: [`ScalarExpr`] is evaluated against one row and yields one
//! [`Datum`] or an [`EvalError`].
//!
//! The planner (`laaster-sql`) resolves names, picks function overloads and inserts
//! casts, so by the time an expression reaches this crate every call's arguments have
//! the types its [`Func`] expects. Evaluation dispatches on the datum variants.
//!
//! Null handling: most functions are *strict* ([`Func::is_strict`]): any `NULL` argument
//! makes the result `NULL` without calling the function. `AND`, `OR`, `IF` and
//! `COALESCE` are lazy and follow SQL's three-valued logic; errors in a branch that does
//! not decide the result are ignored (`false AND 1/0 = 1` is `false`).

mod func;

pub use func::{DateTimeField, TrimSide};

use serde::{Deserialize, Serialize};

use crate::{Datum, EvalError, ScalarType};

/// An expression over the columns of one input row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarExpr {
    /// The input row's column at this index.
    Column(usize),
    /// A constant with its type.
    Literal(Datum, ScalarType),
    /// A runtime error that evaluating this expression raises (used for
    /// "more than one row returned by a subquery" and similar checks).
    Error(EvalError),
    /// A function call; see [`Func`].
    Call { func: Func, args: Vec<ScalarExpr> },
    /// `CASE WHEN cond THEN then ELSE els END`; a `NULL` condition takes `els`.
    If {
        cond: Box<ScalarExpr>,
        then: Box<ScalarExpr>,
        els: Box<ScalarExpr>,
    },
    /// Conjunction with three-valued logic (lazy).
    And(Vec<ScalarExpr>),
    /// Disjunction with three-valued logic (lazy).
    Or(Vec<ScalarExpr>),
    /// First non-null argument (lazy).
    Coalesce(Vec<ScalarExpr>),
}

/// Every built-in scalar function. The planner decides argument types; see the
/// `sql` crate's function resolution for the SQL names and overloads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Func {
    // ---- logic and comparison ----
    Not,
    IsNull,
    IsTrue,
    IsFalse,
    Eq,
    NotEq,
    Lt,
    Lte,
    Gt,
    Gte,
    /// `a IS DISTINCT FROM b` (not strict: `NULL IS DISTINCT FROM NULL` is false).
    IsDistinctFrom,
    // ---- arithmetic (ints with overflow checks; numeric exact; floats IEEE) ----
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Power,
    Abs,
    Sqrt,
    Ln,
    Log10,
    Exp,
    Sign,
    Floor,
    Ceil,
    /// `round(x)`; with a second integer argument, `round(numeric, digits)`.
    Round,
    Trunc,
    // ---- casts ----
    /// Cast the argument to this type with Postgres semantics (text parsing, numeric
    /// rounding, range checks, varchar truncation rules).
    Cast(ScalarType),
    // ---- strings ----
    Lower,
    Upper,
    /// Characters in text (`length`, `char_length`); bytes for bytea.
    Length,
    OctetLength,
    /// `substring(s, from [, for])`, 1-based like Postgres.
    Substring,
    /// `trim([side] [chars] from s)`: args are `(s)` or `(s, chars)`.
    Trim(TrimSide),
    /// `concat(...)`: not strict, skips nulls, formats non-text arguments as text.
    Concat,
    /// `a || b` on text (strict), also array concatenation.
    ConcatOp,
    /// `position(needle IN haystack)`: args are `(needle, haystack)`.
    Position,
    Replace,
    SplitPart,
    Left,
    Right,
    Lpad,
    Rpad,
    /// `regexp_match(s, pattern [, flags])` → text[] of the capture groups, or NULL.
    RegexpMatch,
    /// `regexp_replace(s, pattern, replacement [, flags])`.
    RegexpReplace,
    /// Flink's `REGEXP_EXTRACT(s, pattern [, group])` → text: the group (default 0, the
    /// whole match) of the first match; NULL without a match, for a group the pattern
    /// does not have, or a group that did not participate.
    RegexpExtract,
    /// Flink's `SPLIT_INDEX(s, separator, index)` → text: the 0-based `index`-th piece of
    /// `s` split at every `separator` (empty pieces kept); NULL when out of range.
    SplitIndex,
    StartsWith,
    /// `a LIKE b` / `a ILIKE b` (with `\` as the escape character).
    Like {
        case_insensitive: bool,
    },
    // ---- null handling ----
    NullIf,
    Greatest,
    Least,
    // ---- date and time ----
    /// `extract(field FROM x)` → numeric (Postgres 14+).
    Extract(DateTimeField),
    /// `date_part('field', x)` → double precision.
    DatePart(DateTimeField),
    /// `date_trunc('unit', x)`: args are `(unit text, x)`.
    DateTrunc,
    /// `to_char(x, format)`.
    ToChar,
    /// Flink's `DATE_FORMAT(timestamp, format)` with a Java date pattern
    /// (`yyyy-MM-dd HH:mm:ss.SSS`); args are `(timestamp, format text)`.
    DateFormat,
    /// Flink's `HOUR(x)`, `YEAR(x)`, ...: the field as bigint (seconds truncated).
    ExtractBigint(DateTimeField),
    // ---- jsonb ----
    /// `j -> key` (text key or integer index) → jsonb.
    JsonbGet,
    /// `j ->> key` → text.
    JsonbGetText,
    // ---- arrays and records ----
    /// `ARRAY[a, b, ...]` (not strict: elements may be null).
    MakeArray,
    /// `a[i]`, 1-based; out of range is NULL.
    ArrayIndex,
    ArrayLength,
    /// `ROW(a, b, ...)` (not strict).
    MakeRecord,
    /// Field `i` of a record.
    RecordGet(usize),
    /// `PROCTIME()`: the wall-clock time (UTC) at which the expression is evaluated, as
    /// a TIMESTAMP. Not constant: never folded at planning time.
    Proctime,
    /// `count_char(s, c)` (Nexmark's `CountChar` UDF): how many characters of `s` equal
    /// the first character of `c`; 0 for a NULL `s`.
    CountChar,
}

impl Func {
    /// Whether a `NULL` argument makes the result `NULL` without evaluating the function.
    pub fn is_strict(&self) -> bool {
        !matches!(
            self,
            Func::IsNull
                | Func::IsTrue
                | Func::IsFalse
                | Func::IsDistinctFrom
                | Func::Concat
                | Func::NullIf
                | Func::Greatest
                | Func::Least
                | Func::MakeArray
                | Func::MakeRecord
                | Func::CountChar
        )
    }

    /// Applies the function to already evaluated arguments.
    pub fn apply(&self, args: &[Datum]) -> Result<Datum, EvalError> {
        if self.is_strict() && args.iter().any(Datum::is_null) {
            return Ok(Datum::Null);
        }
        func::apply(self, args)
    }
}

impl ScalarExpr {
    pub fn column(index: usize) -> ScalarExpr {
        ScalarExpr::Column(index)
    }

    pub fn literal(datum: Datum, typ: ScalarType) -> ScalarExpr {
        ScalarExpr::Literal(datum, typ)
    }

    pub fn literal_true() -> ScalarExpr {
        ScalarExpr::Literal(Datum::Bool(true), ScalarType::Bool)
    }

    pub fn null(typ: ScalarType) -> ScalarExpr {
        ScalarExpr::Literal(Datum::Null, typ)
    }

    pub fn call(func: Func, args: Vec<ScalarExpr>) -> ScalarExpr {
        ScalarExpr::Call { func, args }
    }

    pub fn call1(func: Func, arg: ScalarExpr) -> ScalarExpr {
        ScalarExpr::Call {
            func,
            args: vec![arg],
        }
    }

    pub fn call2(func: Func, left: ScalarExpr, right: ScalarExpr) -> ScalarExpr {
        ScalarExpr::Call {
            func,
            args: vec![left, right],
        }
    }

    /// Evaluates the expression on a row.
    pub fn eval(&self, row: &[Datum]) -> Result<Datum, EvalError> {
        self.eval_in(row)
    }

    /// Evaluates the expression over `input` followed by `appended` (columns past the
    /// input's end read `appended`), without copying either.
    pub fn eval_split(&self, input: &[Datum], appended: &[Datum]) -> Result<Datum, EvalError> {
        self.eval_in(&(input, appended))
    }

    fn eval_in<C: Columns + ?Sized>(&self, row: &C) -> Result<Datum, EvalError> {
        match self {
            ScalarExpr::Column(index) => Ok(row.column(*index).clone()),
            ScalarExpr::Literal(datum, _) => Ok(datum.clone()),
            ScalarExpr::Error(err) => Err(err.clone()),
            ScalarExpr::Call { func, args } => match args.as_slice() {
                [] => func.apply(&[]),
                [a] => func.apply(&[a.eval_in(row)?]),
                [a, b] => func.apply(&[a.eval_in(row)?, b.eval_in(row)?]),
                _ => {
                    let values = args
                        .iter()
                        .map(|a| a.eval_in(row))
                        .collect::<Result<Vec<_>, _>>()?;
                    func.apply(&values)
                }
            },
            ScalarExpr::If { cond, then, els } => match cond.eval_in(row)? {
                Datum::Bool(true) => then.eval_in(row),
                _ => els.eval_in(row),
            },
            ScalarExpr::And(args) => eval_and(args, row),
            ScalarExpr::Or(args) => eval_or(args, row),
            ScalarExpr::Coalesce(args) => {
                for arg in args {
                    let value = arg.eval_in(row)?;
                    if !value.is_null() {
                        return Ok(value);
                    }
                }
                Ok(Datum::Null)
            }
        }
    }

    /// Whether evaluating the expression can fail. Conservative: only column references
    /// and literals are known not to.
    pub fn could_error(&self) -> bool {
        !matches!(self, ScalarExpr::Column(_) | ScalarExpr::Literal(..))
    }

    /// Whether the expression is a literal (and so the same for every row).
    pub fn is_literal(&self) -> bool {
        matches!(self, ScalarExpr::Literal(..))
    }

    /// Whether the expression reads no column (and so can be folded once).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            if matches!(
                e,
                ScalarExpr::Column(_)
                    | ScalarExpr::Call {
                        func: Func::Proctime,
                        ..
                    }
            ) {
                constant = false;
            }
        });
        constant
    }

    /// Calls `f` on this expression and every subexpression, parents first.
    pub fn visit(&self, f: &mut impl FnMut(&ScalarExpr)) {
        f(self);
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(..) | ScalarExpr::Error(_) => {}
            ScalarExpr::Call { args, .. }
            | ScalarExpr::And(args)
            | ScalarExpr::Or(args)
            | ScalarExpr::Coalesce(args) => args.iter().for_each(|a| a.visit(f)),
            ScalarExpr::If { cond, then, els } => {
                cond.visit(f);
                then.visit(f);
                els.visit(f);
            }
        }
    }

    /// Calls `f` on this expression and every subexpression, children first, letting
    /// `f` rewrite them in place.
    pub fn visit_mut(&mut self, f: &mut impl FnMut(&mut ScalarExpr)) {
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(..) | ScalarExpr::Error(_) => {}
            ScalarExpr::Call { args, .. }
            | ScalarExpr::And(args)
            | ScalarExpr::Or(args)
            | ScalarExpr::Coalesce(args) => args.iter_mut().for_each(|a| a.visit_mut(f)),
            ScalarExpr::If { cond, then, els } => {
                cond.visit_mut(f);
                then.visit_mut(f);
                els.visit_mut(f);
            }
        }
        f(self);
    }

    /// The set of columns the expression reads.
    pub fn columns(&self) -> Vec<usize> {
        let mut columns = Vec::new();
        self.visit(&mut |e| {
            if let ScalarExpr::Column(c) = e {
                columns.push(*c);
            }
        });
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    /// Renumbers column references through `map` (old index → new index).
    pub fn permute(&mut self, map: &impl Fn(usize) -> usize) {
        self.visit_mut(&mut |e| {
            if let ScalarExpr::Column(c) = e {
                *c = map(*c);
            }
        });
    }
}

fn eval_and<C: Columns + ?Sized>(args: &[ScalarExpr], row: &C) -> Result<Datum, EvalError> {
    let mut null = false;
    let mut error = None;
    for arg in args {
        match arg.eval_in(row) {
            Ok(Datum::Bool(false)) => return Ok(Datum::Bool(false)),
            Ok(Datum::Null) => null = true,
            Ok(_) => {}
            Err(e) => error = error.or(Some(e)),
        }
    }
    match error {
        Some(e) => Err(e),
        None if null => Ok(Datum::Null),
        None => Ok(Datum::Bool(true)),
    }
}

fn eval_or<C: Columns + ?Sized>(args: &[ScalarExpr], row: &C) -> Result<Datum, EvalError> {
    let mut null = false;
    let mut error = None;
    for arg in args {
        match arg.eval_in(row) {
            Ok(Datum::Bool(true)) => return Ok(Datum::Bool(true)),
            Ok(Datum::Null) => null = true,
            Ok(_) => {}
            Err(e) => error = error.or(Some(e)),
        }
    }
    match error {
        Some(e) => Err(e),
        None if null => Ok(Datum::Null),
        None => Ok(Datum::Bool(false)),
    }
}

/// Where an expression's column references read from: one row, or a row followed by
/// values appended to it (so map-filter-project need not copy the row).
trait Columns {
    fn column(&self, index: usize) -> &Datum;
}

impl Columns for [Datum] {
    #[inline]
    fn column(&self, index: usize) -> &Datum {
        &self[index]
    }
}

impl Columns for (&[Datum], &[Datum]) {
    #[inline]
    fn column(&self, index: usize) -> &Datum {
        match self.0.get(index) {
            Some(datum) => datum,
            None => &self.1[index - self.0.len()],
        }
    }
}
