//! Planner tests over a small in-memory catalog: EXPLAIN text, output schemas, errors.

use laaster_repr::plan::{GlobalId, Plan};
use laaster_repr::{Column, ColumnType, RelationDesc, ScalarType};
use sqlparser::ast;

use super::{QueryContext, plan_query};
use crate::catalog::{Catalog, CatalogItem, ItemKind};
use crate::error::PlanError;
use crate::explain::{ExplainStage, explain_query};
use crate::plans::{PlanContext, QueryPlan};

pub(crate) struct TestCatalog {
    items: Vec<CatalogItem>,
}

fn column(name: &str, scalar: ScalarType, nullable: bool) -> Column {
    Column {
        name: name.into(),
        typ: ColumnType::new(scalar, nullable),
    }
}

fn table(id: GlobalId, name: &str, columns: Vec<Column>) -> CatalogItem {
    CatalogItem {
        id,
        name: name.into(),
        kind: ItemKind::Table,
        desc: RelationDesc::new(columns),
        create_sql: String::new(),
        query_sql: None,
        uses: Vec::new(),
        table: None,
    }
}

impl TestCatalog {
    pub(crate) fn new() -> Self {
        use ScalarType as T;
        let mut items = vec![
            table(
                1,
                "t",
                vec![
                    column("a", T::Int32, false),
                    column("b", T::Text, true),
                    column("c", T::Int32, true),
                ],
            ),
            table(
                2,
                "s",
                vec![column("x", T::Int32, true), column("y", T::Int64, true)],
            ),
            table(
                3,
                "u",
                vec![
                    column("k", T::Int32, true),
                    column(
                        "v",
                        T::VarChar {
                            max_length: Some(5),
                        },
                        true,
                    ),
                    column("ts", T::Timestamp, true),
                    column("d", T::NUMERIC, true),
                    column("f", T::Float64, true),
                    column("j", T::Jsonb, true),
                ],
            ),
        ];
        items.push(CatalogItem {
            id: 4,
            name: "big_t".into(),
            kind: ItemKind::View,
            desc: RelationDesc::new(vec![
                column("a", T::Int32, false),
                column("c", T::Int32, true),
            ]),
            create_sql: String::new(),
            query_sql: Some("SELECT a, c FROM t WHERE a > 10".into()),
            uses: vec![1],
            table: None,
        });
        TestCatalog { items }
    }
}

impl Catalog for TestCatalog {
    fn get(&self, name: &str) -> Option<&CatalogItem> {
        self.items.iter().find(|i| i.name == name)
    }
    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.items.iter().find(|i| i.id == id)
    }
    fn items(&self) -> Vec<&CatalogItem> {
        self.items.iter().collect()
    }
}

fn parse(sql: &str) -> ast::Query {
    let dialect = crate::parse::LaasterDialect::default();
    let mut statements =
        sqlparser::parser::Parser::parse_sql(&dialect, sql).expect("test SQL parses");
    match statements.remove(0) {
        ast::Statement::Query(q) => *q,
        other => panic!("not a query: {other}"),
    }
}

fn ctx() -> PlanContext {
    PlanContext {
        now_micros: 1_700_000_000_000_000,
    }
}

fn plan(sql: &str) -> Result<QueryPlan, PlanError> {
    plan_query(
        &TestCatalog::new(),
        &parse(sql),
        &ctx(),
        QueryContext::AdHoc,
    )
}

fn plan_maintained(sql: &str) -> Result<QueryPlan, PlanError> {
    plan_query(
        &TestCatalog::new(),
        &parse(sql),
        &ctx(),
        QueryContext::Maintained,
    )
}

fn explain(sql: &str) -> String {
    explain_query(
        &TestCatalog::new(),
        &parse(sql),
        &ctx(),
        ExplainStage::Dataflow,
    )
    .unwrap_or_else(|e| panic!("{sql}: {}", e.to_response()))
}

fn error(sql: &str) -> String {
    match plan(sql) {
        Ok(p) => panic!("expected an error for {sql}, got {:?}", p.plan),
        Err(e) => e.to_response().to_string(),
    }
}

fn schema(sql: &str) -> Vec<(String, String, bool)> {
    let plan = plan(sql).unwrap_or_else(|e| panic!("{sql}: {}", e.to_response()));
    plan.desc
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.typ.scalar.to_string(), c.typ.nullable))
        .collect()
}

fn types(sql: &str) -> Vec<String> {
    schema(sql).into_iter().map(|(_, t, _)| t).collect()
}

fn names(sql: &str) -> Vec<String> {
    schema(sql).into_iter().map(|(n, _, _)| n).collect()
}

#[test]
fn simple_select_filter_project() {
    assert_eq!(
        explain("SELECT a, b FROM t WHERE c > 5"),
        "Mfp filter=[(#2 > 5)] project=[#0, #1]\n  Get t\n"
    );
    assert_eq!(
        names("SELECT *, a AS z, t.b FROM t"),
        ["a", "b", "c", "z", "b"]
    );
}

#[test]
fn order_limit_becomes_finishing_or_topk() {
    let adhoc = plan("SELECT a FROM t ORDER BY c DESC LIMIT 3 OFFSET 1").unwrap();
    assert_eq!(adhoc.finishing.limit, Some(3));
    assert_eq!(adhoc.finishing.offset, 1);
    assert_eq!(adhoc.finishing.projection, vec![0]);
    assert_eq!(adhoc.plan.arity(), 2);
    let view = plan_maintained("SELECT a FROM t ORDER BY c DESC LIMIT 3").unwrap();
    assert!(
        matches!(view.plan, Plan::Mfp { ref input, .. } if matches!(**input, Plan::TopK { .. }))
    );
    assert_eq!(view.plan.arity(), 1);
    let unordered = plan_maintained("SELECT a FROM t ORDER BY c").unwrap();
    assert!(unordered.finishing.order.is_empty());
}

#[test]
fn errors_name_columns_and_types() {
    assert_eq!(
        error("SELECT bb FROM t"),
        "column \"bb\" does not exist\nHINT:  Perhaps you meant \"b\"."
    );
    assert_eq!(
        error("SELECT a FROM t, t AS t2"),
        "column reference \"a\" is ambiguous"
    );
    assert!(
        error("SELECT a FROM t WHERE a = b").starts_with("operator does not exist: integer = text")
    );
    assert!(error("SELECT * FROM tt").starts_with("relation \"tt\" does not exist"));
    assert!(
        error("SELECT b, count(*) FROM t GROUP BY a")
            .contains("must appear in the GROUP BY clause")
    );
    assert!(
        error("SELECT a FROM t WHERE count(*) > 1")
            .contains("aggregate functions are not allowed in WHERE")
    );
    assert!(error("SELECT lower(1) FROM t").starts_with("function lower(integer) does not exist"));
    assert!(
        error("SELECT CASE WHEN true THEN 1 ELSE 'x'::text END")
            .contains("CASE types integer and text cannot be matched")
    );
    assert!(
        error("SELECT a FROM t UNION SELECT b FROM t")
            .contains("UNION types integer and text cannot be matched")
    );
}

#[test]
fn literal_and_arithmetic_types() {
    assert_eq!(
        types(
            "SELECT 1, 3000000000, 1.5, 'x', 1 + 2.5, c / 2, c::bigint * 2, 1 + 2.0::float8, NULL FROM t"
        ),
        [
            "integer",
            "bigint",
            "numeric",
            "text",
            "numeric",
            "integer",
            "bigint",
            "double precision",
            "text"
        ]
    );
    assert_eq!(
        types("SELECT ts + INTERVAL '1 day', ts - ts, d + 1, f * 2, v || 'x', length(v) FROM u"),
        [
            "timestamp without time zone",
            "interval",
            "numeric",
            "double precision",
            "text",
            "integer"
        ]
    );
    assert_eq!(
        types("SELECT j -> 'a', j ->> 'a', ARRAY[1, 2], extract(year from ts) FROM u"),
        ["jsonb", "text", "integer[]", "numeric"]
    );
}

#[test]
fn aggregates_have_postgres_types() {
    assert_eq!(
        types(
            "SELECT count(*), sum(a), sum(y), avg(a), avg(f), min(b), bool_and(a > 1), string_agg(b, ',') FROM t, s, u"
        ),
        [
            "bigint",
            "bigint",
            "numeric",
            "numeric",
            "double precision",
            "text",
            "boolean",
            "text"
        ]
    );
    assert_eq!(
        explain("SELECT a, count(*) FROM t GROUP BY a"),
        "Reduce group_key=[#0] aggregates=[count(true)]\n  Get t\n"
    );
    let global = explain("SELECT count(c) FILTER (WHERE c > 1) FROM t");
    assert!(global.contains("global"), "{global}");
    assert!(
        global.contains("CASE WHEN (#2 > 1) THEN #2 ELSE null END"),
        "{global}"
    );
}

#[test]
fn group_by_ordinal_and_alias() {
    assert_eq!(
        names("SELECT c + 1 AS k, count(*) FROM t GROUP BY 1"),
        ["k", "count"]
    );
    assert_eq!(
        names("SELECT c + 1 AS k, count(*) FROM t GROUP BY k HAVING count(*) > 1"),
        ["k", "count"]
    );
}

#[test]
fn joins_extract_keys_and_null_extend() {
    let text = explain("SELECT * FROM t JOIN s ON t.a = s.x AND t.c < s.x");
    assert!(
        text.starts_with("Join kind=inner left_key=[#0] right_key=[#0] residual=(#2 < #3)"),
        "{text}"
    );
    let comma = explain("SELECT t.a FROM t, s WHERE t.a = s.x AND s.y > 1");
    assert!(
        comma.contains("Join kind=inner left_key=[#0] right_key=[#0]"),
        "{comma}"
    );
    assert!(
        comma.contains("filter=[(#1 > 1::bigint)]") || comma.contains("filter=[(#1 > 1)]"),
        "{comma}"
    );
    let left = schema("SELECT t.a, s.x FROM t LEFT JOIN s ON t.a = s.x");
    assert!(!left[0].2);
    assert!(left[1].2);
    assert_eq!(
        names("SELECT * FROM t JOIN t AS t2 USING (a, b)"),
        ["a", "b", "c", "c"]
    );
    assert_eq!(
        names("SELECT * FROM t NATURAL FULL JOIN t AS t2"),
        ["a", "b", "c"]
    );
}

#[test]
fn set_operations_and_values() {
    let text = explain("SELECT a FROM t EXCEPT ALL SELECT x FROM s");
    assert!(text.starts_with("Threshold\n  Union\n"), "{text}");
    assert!(text.contains("Negate"), "{text}");
    assert_eq!(types("SELECT a FROM t UNION SELECT y FROM s"), ["bigint"]);
    assert_eq!(
        explain("VALUES (1, 'a'), (2, 'b')"),
        "Constant [(1, 'a'), (2, 'b')]\n"
    );
    assert_eq!(
        names("SELECT * FROM (VALUES (1, 2)) AS v(p, q)"),
        ["p", "q"]
    );
}

#[test]
fn ctes_views_and_distinct_on() {
    assert_eq!(
        names("WITH w AS (SELECT a AS z FROM t) SELECT * FROM w, w AS w2"),
        ["z", "z"]
    );
    assert_eq!(
        explain("SELECT * FROM big_t"),
        "Mfp filter=[(#0 > 10)] project=[#0, #2]\n  Get t\n"
    );
    let text = explain("SELECT DISTINCT ON (c) a, c FROM t ORDER BY c, a DESC");
    assert!(
        text.contains("TopK group_key=[#1] order=[#1, #0 desc] limit=1"),
        "{text}"
    );
}

#[test]
fn scalar_and_correlated_subqueries_become_joins() {
    let text = explain("SELECT a, (SELECT max(x) FROM s) FROM t");
    assert!(text.contains("Join kind=left_outer"), "{text}");
    assert!(
        text.contains("more than one row returned by a subquery"),
        "{text}"
    );
    let correlated = explain("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM s WHERE s.x = t.c)");
    assert!(correlated.contains("Distinct"), "{correlated}");
    assert!(!correlated.contains("#1099511627"), "{correlated}");
    let count = explain("SELECT a, (SELECT count(*) FROM s WHERE s.x = t.c) FROM t");
    assert!(count.contains("coalesce("), "count bug handled: {count}");
    let in_list = explain("SELECT a FROM t WHERE c NOT IN (SELECT x FROM s)");
    assert!(in_list.contains("count(#0)"), "{in_list}");
}

#[test]
fn window_top_n() {
    let text = explain(
        "SELECT * FROM (SELECT a, row_number() OVER (PARTITION BY c ORDER BY a DESC) AS rn FROM t) q WHERE rn <= 3",
    );
    assert!(
        text.contains("Window func=row_number partition=[#2] order=[#0 desc] limit=3"),
        "{text}"
    );
    assert!(
        error("SELECT sum(a) OVER () FROM t").contains("window function sum() is not supported")
    );
}

#[test]
fn now_is_literal_ad_hoc_and_rejected_in_views() {
    assert_eq!(types("SELECT now()"), ["timestamp with time zone"]);
    let err = plan_maintained("SELECT now()").unwrap_err();
    assert!(
        err.to_string()
            .contains("now() is not allowed in materialized views")
    );
}

#[test]
fn flink_builtins_resolve_with_flink_result_types() {
    assert_eq!(
        schema("SELECT DATE_FORMAT(ts, 'yyyy-MM-dd'), date_format(v, 'HH:mm') FROM u"),
        [
            ("date_format".into(), "text".into(), true),
            ("date_format".into(), "text".into(), true)
        ]
    );
    assert_eq!(
        schema("SELECT regexp_extract(b, 'x(.)'), SPLIT_INDEX(b, ',', a) FROM t"),
        [
            ("regexp_extract".into(), "text".into(), true),
            ("split_index".into(), "text".into(), true)
        ]
    );
    // Always nullable: no match or an index out of range is NULL.
    assert_eq!(
        schema("SELECT regexp_extract('a', 'a', 0), split_index('a', ',', 0)")
            .iter()
            .map(|c| c.2)
            .collect::<Vec<_>>(),
        [true, true]
    );
    assert_eq!(
        types(
            "SELECT YEAR(ts), QUARTER(ts), MONTH(ts), WEEK(ts), DAYOFYEAR(ts), DAYOFMONTH(ts), \
             DAYOFWEEK(ts), HOUR(ts), MINUTE(ts), SECOND(ts), HOUR(TIME '10:00'), YEAR(DATE '2024-01-01') FROM u"
        ),
        vec!["bigint"; 12]
    );
    assert_eq!(
        types("SELECT LOCALTIMESTAMP, CURRENT_TIMESTAMP"),
        ["timestamp without time zone", "timestamp with time zone"]
    );
    assert!(
        error("SELECT DATE_FORMAT(a, 'yyyy') FROM t")
            .contains("function date_format(integer, unknown) does not exist")
    );
    assert!(error("SELECT HOUR(a) FROM t").contains("function hour(integer) does not exist"));
    assert!(
        error("SELECT split_index(b, ',') FROM t")
            .contains("function split_index(text, unknown) does not exist")
    );
    assert!(
        plan_maintained("SELECT LOCALTIMESTAMP")
            .unwrap_err()
            .to_string()
            .contains("now() is not allowed in materialized views")
    );
}

#[test]
fn failing_constants_are_left_for_run_time() {
    // Division by zero must not fail planning.
    assert!(plan("SELECT 1 / 0").is_ok());
}

#[test]
fn scalar_over_and_assignment_casts() {
    use crate::expr::{plan_assignment_cast, plan_scalar_over, scalar_type_from_ast};
    let catalog = TestCatalog::new();
    let desc = catalog.get("t").unwrap().desc.clone();
    let dialect = crate::parse::LaasterDialect::default();
    let expr = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql("a + 1 > c")
        .unwrap()
        .parse_expr()
        .unwrap();
    let (_, typ) = plan_scalar_over(&catalog, &expr, "t", &desc, &ctx()).unwrap();
    assert_eq!(typ.scalar, ScalarType::Bool);
    let cast = plan_assignment_cast(
        laaster_repr::ScalarExpr::column(0),
        &ScalarType::Text,
        &ScalarType::VarChar {
            max_length: Some(3),
        },
    )
    .unwrap();
    assert!(crate::explain::expr(&cast).contains("value too long for type character varying(3)"));
    let data_type = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql("NUMERIC(10,2)[]")
        .unwrap()
        .parse_data_type()
        .unwrap();
    assert_eq!(
        scalar_type_from_ast(&data_type).unwrap().to_string(),
        "numeric(10,2)[]"
    );
}

#[test]
fn view_body_does_not_see_query_ctes() {
    assert_eq!(
        names("WITH t AS (SELECT 1 AS a) SELECT big_t.a, t.a FROM big_t, t"),
        ["a", "a"]
    );
}

#[test]
#[ignore]
fn print_plans() {
    for sql in [
        "SELECT a, (SELECT count(*) FROM s WHERE s.x = t.c) FROM t",
        "SELECT a FROM t WHERE c NOT IN (SELECT x FROM s WHERE s.y = t.a)",
        "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM s WHERE s.x = t.c) ORDER BY b LIMIT 2",
        "SELECT * FROM t JOIN t AS t2 USING (a, b)",
        "SELECT a FROM t INTERSECT ALL SELECT x FROM s",
        "SELECT c, avg(a), count(DISTINCT b) FROM t GROUP BY c HAVING sum(a) > 3",
        "SELECT * FROM t LEFT JOIN s ON t.a = s.x AND s.y > 2 WHERE t.c = 1",
        "SELECT * FROM (SELECT a, rank() OVER (ORDER BY c) AS r FROM t) q WHERE r = 1",
    ] {
        println!("{sql}\n{}", explain(sql));
    }
}

#[test]
fn ungrouped_column_error_names_the_table_like_postgres() {
    // PostgreSQL qualifies the column by the table (or alias) it resolved to.
    assert_eq!(
        error("SELECT b, count(*) FROM t GROUP BY a"),
        "column \"t.b\" must appear in the GROUP BY clause or be used in an aggregate function"
    );
    assert!(error("SELECT x.b FROM t AS x GROUP BY a").starts_with("column \"x.b\" must appear"));
    assert!(
        error("SELECT a FROM t GROUP BY a HAVING c > 1").starts_with("column \"t.c\" must appear")
    );
}

#[test]
fn distinct_on_must_match_initial_order_by() {
    const MISMATCH: &str = "SELECT DISTINCT ON expressions must match initial ORDER BY expressions";
    assert_eq!(
        error("SELECT DISTINCT ON (c) c, a FROM t ORDER BY a"),
        MISMATCH
    );
    assert_eq!(
        error("SELECT DISTINCT ON (c) c, a FROM t ORDER BY a, c"),
        MISMATCH
    );
    assert_eq!(
        error("SELECT DISTINCT ON (a, c) a FROM t ORDER BY a, b"),
        MISMATCH
    );
    // Accepted by PostgreSQL: DISTINCT ON keys first (in any order), extra keys after,
    // fewer ORDER BY keys than DISTINCT ON keys, or no ORDER BY at all.
    for ok in [
        "SELECT DISTINCT ON (c) c, a FROM t ORDER BY c, a",
        "SELECT DISTINCT ON (a, c) a FROM t ORDER BY c DESC, a, b",
        "SELECT DISTINCT ON (a, c) a FROM t ORDER BY c",
        "SELECT DISTINCT ON (c) a FROM t ORDER BY t.c",
        "SELECT DISTINCT ON (c) a FROM t",
    ] {
        plan_maintained(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn math_functions_resolve_overloads_like_postgres() {
    // numeric converts implicitly to double precision (not the other way round).
    assert_eq!(
        types("SELECT power(2::float8, 0.5), power(0.5, 2::float4)"),
        ["double precision", "double precision"]
    );
    // An exact match picks numeric; otherwise the preferred double precision wins.
    assert_eq!(
        types("SELECT power(2, 2.5), power(2, 3), pow('2', '3'), sqrt(2), sqrt(2.0)"),
        [
            "numeric",
            "double precision",
            "double precision",
            "double precision",
            "numeric"
        ]
    );
    assert_eq!(
        types("SELECT mod(7::int2, 3::int8), mod(a, 2.5), mod(a, '3') FROM t"),
        ["bigint", "numeric", "integer"]
    );
    assert!(
        error("SELECT mod(2::float8, 1)")
            .starts_with("function mod(double precision, integer) does not exist")
    );
    assert!(
        error("SELECT mod('5', '3')").starts_with("function mod(unknown, unknown) is not unique")
    );
    assert!(
        error("SELECT power(b, 2) FROM t")
            .starts_with("function power(text, integer) does not exist")
    );
}

#[test]
fn row_constructors_compare_field_wise() {
    assert_eq!(
        explain("SELECT ROW(a, c) = ROW(1, 2), ROW(a, c) <> (1, 2), ROW(a, c) <= ROW(1, 2) FROM t"),
        "Mfp map=[((#0 = 1) AND (#2 = 2)), ((#0 <> 1) OR (#2 <> 2)), \
         CASE WHEN (#0 = 1) THEN (#2 <= 2) ELSE (#0 < 1) END] project=[#3, #4, #5]\n  Get t\n"
    );
    assert_eq!(
        explain("SELECT ROW(a, c) IS NULL, ROW(a, c) IS NOT NULL FROM t"),
        "Mfp map=[(#0 IS NULL AND #2 IS NULL), (NOT #0 IS NULL AND NOT #2 IS NULL)] \
         project=[#3, #4]\n  Get t\n"
    );
    assert_eq!(
        explain("SELECT ROW(a, c) IN (ROW(1, 2)) FROM t"),
        "Mfp map=[((#0 = 1) AND (#2 = 2))] project=[#3]\n  Get t\n"
    );
    // Constants fold with three-valued logic.
    assert_eq!(
        explain("SELECT ROW(1, NULL) = ROW(1, NULL)"),
        explain("SELECT NULL::bool")
    );
    assert_eq!(
        explain("SELECT ROW(NULL, NULL) IS NULL"),
        explain("SELECT true")
    );
    assert_eq!(
        explain("SELECT ROW(1, NULL) IS NOT NULL"),
        explain("SELECT false")
    );
    // A record *value* (not a constructor) tests its fields for IS NULL.
    assert!(
        explain("SELECT r IS NULL FROM (SELECT ROW(a, c) AS r FROM t) s")
            .contains("(record_get_0(#3) IS NULL AND record_get_1(#3) IS NULL)")
    );
    assert!(
        error("SELECT ROW(1, 2) = ROW(1)")
            .starts_with("unequal number of entries in row expressions")
    );
}

/// The test catalog plus `people (id INT, person ROW(name TEXT, age INT, address
/// ROW(city TEXT, zip VARCHAR(5))))`, queries parsed with Laaster's dialect (row types).
fn plan_with_people(sql: &str) -> Result<QueryPlan, PlanError> {
    use ScalarType as T;
    let mut catalog = TestCatalog::new();
    let address = T::Record(vec![
        ("city".into(), T::Text),
        (
            "zip".into(),
            T::VarChar {
                max_length: Some(5),
            },
        ),
    ]);
    let person = T::Record(vec![
        ("name".into(), T::Text),
        ("age".into(), T::Int32),
        ("address".into(), address),
    ]);
    catalog.items.push(table(
        5,
        "people",
        vec![
            column("id", T::Int32, false),
            column("person", person, true),
        ],
    ));
    let dialect = crate::parse::LaasterDialect::default();
    let mut statements =
        sqlparser::parser::Parser::parse_sql(&dialect, sql).expect("test SQL parses");
    let ast::Statement::Query(query) = statements.remove(0) else {
        panic!("not a query: {sql}");
    };
    plan_query(&catalog, &query, &ctx(), QueryContext::AdHoc)
}

fn people_schema(sql: &str) -> Vec<(String, String)> {
    let plan = plan_with_people(sql).unwrap_or_else(|e| panic!("{sql}: {}", e.to_response()));
    plan.desc
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.typ.scalar.to_string()))
        .collect()
}

fn people_error(sql: &str) -> String {
    match plan_with_people(sql) {
        Ok(p) => panic!("expected an error for {sql}, got {:?}", p.plan),
        Err(e) => e.to_response().render(None),
    }
}

#[test]
fn record_fields_resolve_postgres_and_flink_style() {
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        people_schema(
            "SELECT (person).name, person.age, p.person.address.city, \
             (p.person).address.zip, person.address FROM people p"
        ),
        pairs(&[
            ("name", "text"),
            ("age", "integer"),
            ("city", "text"),
            ("zip", "character varying(5)"),
            ("address", "record(city text, zip character varying(5))"),
        ])
    );
    // `a.b` is table.column first: a table alias shadows a record column of that name.
    assert!(
        people_error("SELECT person.name FROM people AS person")
            .contains("column \"person.name\" does not exist")
    );
    // Grouping by a field, and the field in the select list, match.
    assert_eq!(
        people_schema(
            "SELECT person.address.city, count(*) FROM people GROUP BY person.address.city"
        ),
        pairs(&[("city", "text"), ("count", "bigint")])
    );
    assert!(
        people_error("SELECT person.nope FROM people").contains(
            "column \"nope\" not found in data type record(name text, age integer, address"
        )
    );
    assert!(
        people_error("SELECT id.x FROM people")
            .contains("column notation .x applied to type integer, which is not a composite type")
    );
    assert!(
        people_error("SELECT x.y FROM people")
            .contains("missing FROM-clause entry for table \"x\"")
    );
}

#[test]
fn record_casts_go_field_by_field() {
    assert_eq!(
        people_schema("SELECT CAST(ROW('ann', '30') AS ROW(name TEXT, age INT)) AS r"),
        [(
            "r".to_string(),
            "record(name text, age integer)".to_string()
        )]
    );
    // A constant row folds; the string literal converted like a bare literal would.
    let plan = plan_with_people("SELECT (CAST(ROW('ann', '30') AS ROW(n TEXT, a INT))).a").unwrap();
    assert!(format!("{:?}", plan.plan).contains("Int32(30)"));
    let error = people_error("SELECT CAST(ROW('ann', 30, 1) AS ROW(name TEXT, age INT))");
    assert!(
        error.contains(
            "cannot cast type record(f1 text, f2 integer, f3 integer) to record(name text, age integer)"
        ) && error.contains("Input has too many columns."),
        "{error}"
    );
    assert!(
        people_error("SELECT CAST(person AS ROW(a INT, b INT, c INT)) FROM people")
            .contains("cannot cast type record(name text")
    );
}

#[test]
fn record_assignment_casts_and_row_types() {
    use crate::expr::{plan_assignment_cast, scalar_type_from_ast};
    use ScalarType as T;
    let dialect = crate::parse::LaasterDialect::default();
    let data_type = |sql: &str| {
        let parsed = sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(sql)
            .unwrap()
            .parse_data_type()
            .unwrap();
        scalar_type_from_ast(&parsed).unwrap().to_string()
    };
    assert_eq!(
        data_type("ROW<a STRING, b ROW<c INT, d ARRAY<ROW<e BIGINT>>>>[]"),
        "record(a text, b record(c integer, d record(e bigint)[]))[]"
    );
    assert_eq!(
        data_type("ROW(\"Name\" VARCHAR(3), age INT)"),
        "record(Name character varying(3), age integer)"
    );
    // A record value converts field by field: a string literal of a row constructor
    // (still `unknown`) is parsed as the field's type, varchar(n) is checked, and a
    // NULL record stays NULL.
    let from = T::Record(vec![("f1".into(), T::Unknown), ("f2".into(), T::Text)]);
    let to = T::Record(vec![
        ("day".into(), T::Date),
        (
            "tag".into(),
            T::VarChar {
                max_length: Some(3),
            },
        ),
    ]);
    let cast = plan_assignment_cast(laaster_repr::ScalarExpr::column(0), &from, &to).unwrap();
    let text = crate::explain::expr(&cast);
    assert!(text.contains("#0 IS NULL"), "{text}");
    assert!(text.contains("record_get_0(#0)"), "{text}");
    assert!(
        text.contains("value too long for type character varying(3)"),
        "{text}"
    );
    let wrong = T::Record(vec![("f1".into(), T::Int32), ("f2".into(), T::Date)]);
    assert!(matches!(
        plan_assignment_cast(laaster_repr::ScalarExpr::column(0), &wrong, &to),
        Err(PlanError::InvalidCast { .. })
    ));
    let short = T::Record(vec![("f1".into(), T::Text)]);
    let error = plan_assignment_cast(laaster_repr::ScalarExpr::column(0), &short, &to)
        .unwrap_err()
        .to_response()
        .render(None);
    assert!(error.contains("Input has too few columns."), "{error}");
}

#[test]
fn window_table_functions_plan_to_windows() {
    let tumble = "Windows time=#2 tumble size=10s\n  Get u\n";
    for sql in [
        "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '10' SECOND))",
        "SELECT * FROM TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '10' SECOND)",
        "SELECT * FROM TUMBLE(u, ts, INTERVAL '10' SECOND)",
        "SELECT * FROM TABLE(TUMBLE(DATA => TABLE u, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL '10' SECOND))",
        "SELECT * FROM TABLE(TUMBLE(TABLE u, SIZE => INTERVAL '10' SECOND, TIMECOL => DESCRIPTOR(ts)))",
        "SELECT * FROM TABLE(TUMBLE(TABLE public.u, DESCRIPTOR(ts), INTERVAL '1' SECOND * 10))",
    ] {
        assert_eq!(explain(sql), tumble, "{sql}");
    }
    assert_eq!(
        explain(
            "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '1' DAY, INTERVAL '-8' HOUR))"
        ),
        "Windows time=#2 tumble size=86400s offset=-28800s\n  Get u\n"
    );
    assert_eq!(
        explain(
            "SELECT k, window_start, count(*) FROM TABLE(HOP(TABLE u, DESCRIPTOR(ts), \
             INTERVAL '2' SECOND, INTERVAL '10' SECOND)) GROUP BY k, window_start, window_end"
        ),
        "Mfp project=[#0, #1, #3]\n  Reduce group_key=[#0, #6, #7] aggregates=[count(true)]\n    \
         Windows time=#2 hop slide=2s size=10s\n      Get u\n"
    );
    assert_eq!(
        explain(
            "SELECT w.k, w.window_end FROM TABLE(CUMULATE(DATA => TABLE u, TIMECOL => DESCRIPTOR(ts), \
             STEP => INTERVAL '2' SECOND, SIZE => INTERVAL '10' SECOND)) AS w WHERE w.k > 1"
        ),
        "Mfp project=[#0, #7]\n  Windows time=#2 cumulate step=2s max=10s\n    \
         Mfp filter=[(#0 > 1)] project=[#0, #1, #2, #3, #4, #5]\n      Get u\n"
    );
    // A view and a CTE are relations too; the window columns follow the relation's.
    assert_eq!(
        explain(
            "WITH c AS (SELECT k, ts FROM u) SELECT * FROM TABLE(TUMBLE(TABLE c, DESCRIPTOR(ts), INTERVAL '1' HOUR))"
        ),
        "Windows time=#1 tumble size=3600s\n  Mfp project=[#0, #2]\n    Get u\n"
    );
    assert_eq!(
        schema(
            "SELECT u.k, window_start, u.window_end, window_time FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '10' SECOND))"
        ),
        [
            ("k".into(), "integer".into(), true),
            (
                "window_start".into(),
                "timestamp without time zone".into(),
                false
            ),
            (
                "window_end".into(),
                "timestamp without time zone".into(),
                false
            ),
            (
                "window_time".into(),
                "timestamp without time zone".into(),
                false
            ),
        ]
    );
}

#[test]
fn legacy_group_windows_rewrite_to_windows() {
    assert_eq!(
        explain(
            "SELECT k, TUMBLE_START(ts, INTERVAL '10' SECOND), TUMBLE_END(ts, INTERVAL '10' SECOND) AS e, \
             count(*) FROM u WHERE k > 0 GROUP BY TUMBLE(ts, INTERVAL '10' SECOND), k"
        ),
        "Mfp project=[#3, #0, #1, #4]\n  Reduce group_key=[#6, #7, #8, #0] aggregates=[count(true)]\n    \
         Windows time=#2 tumble size=10s\n      Mfp filter=[(#0 > 0)] project=[#0, #1, #2, #3, #4, #5]\n        Get u\n"
    );
    assert_eq!(
        names(
            "SELECT TUMBLE_START(ts, INTERVAL '10' SECOND), TUMBLE_ROWTIME(ts, INTERVAL '10' SECOND), count(*) \
             FROM u GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)"
        ),
        ["tumble_start", "tumble_rowtime", "count"]
    );
    assert_eq!(
        explain(
            "SELECT HOP_END(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND) AS e, sum(k) FROM u \
             GROUP BY HOP(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND) \
             HAVING HOP_START(ts, INTERVAL '5' SECOND, INTERVAL '10' SECOND) > '2024-01-01'"
        ),
        "Mfp project=[#1, #3]\n  Reduce group_key=[#6, #7, #8] aggregates=[sum(#0::bigint)]\n    \
         Mfp filter=[(#6 > timestamp(1704067200000000))] project=[#0, #1, #2, #3, #4, #5, #6, #7, #8]\n      \
         Windows time=#2 hop slide=5s size=10s\n        Get u\n"
    );
    // `*` does not show the hidden window columns.
    assert_eq!(
        names(
            "SELECT * FROM (SELECT count(*) FROM u GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)) AS x"
        ),
        ["count"]
    );
}

#[test]
fn window_errors_are_clear() {
    let cases = [
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(a), INTERVAL '10' SECOND))",
            "the time column of TUMBLE must be of type timestamp, not integer",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '1' MONTH))",
            "the size of TUMBLE cannot be measured in months or years",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), 10))",
            "the size of TUMBLE must be a constant interval such as INTERVAL '10' SECOND, not 10",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '0' SECOND))",
            "the size of TUMBLE must be a positive interval",
        ),
        (
            "SELECT * FROM TABLE(HOP(TABLE u, DESCRIPTOR(ts), INTERVAL '3' SECOND, INTERVAL '10' SECOND))",
            "HOP window size must be an integral multiple of the slide",
        ),
        (
            "SELECT * FROM TABLE(CUMULATE(TABLE u, DESCRIPTOR(ts), INTERVAL '3' SECOND, INTERVAL '10' SECOND))",
            "CUMULATE window size must be an integral multiple of the step",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts)))",
            "missing argument SIZE of TUMBLE(DATA, TIMECOL, SIZE, [OFFSET])",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), GAP => INTERVAL '1' SECOND))",
            "TUMBLE has no parameter named gap",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE nope, DESCRIPTOR(ts), INTERVAL '1' SECOND))",
            "relation \"nope\" does not exist",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(tss), INTERVAL '1' SECOND))",
            "column \"tss\" does not exist",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE((SELECT 1), DESCRIPTOR(ts), INTERVAL '1' SECOND))",
            "the first argument of TUMBLE must be a table",
        ),
        (
            "SELECT * FROM TABLE(TUMBLE(TABLE u PARTITION BY k, DESCRIPTOR(ts), INTERVAL '1' SECOND))",
            "TUMBLE does not take PARTITION BY",
        ),
        (
            "SELECT * FROM TABLE(SESSION(TABLE u PARTITION BY nope, DESCRIPTOR(ts), INTERVAL '1' SECOND))",
            "column \"nope\" does not exist",
        ),
        (
            "SELECT * FROM TABLE(SESSION(TABLE u, DESCRIPTOR(ts), INTERVAL '0' SECOND))",
            "the gap of SESSION must be a positive interval",
        ),
        (
            "SELECT count(*) FROM u GROUP BY SESSION(ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND)",
            "group window SESSION takes 2 arguments: SESSION(time_attr, gap)",
        ),
        (
            "SELECT SESSION_START(ts, INTERVAL '2' SECOND) FROM u GROUP BY SESSION(ts, INTERVAL '1' SECOND)",
            "the arguments of SESSION_START() must be those of SESSION(...) in GROUP BY",
        ),
        (
            "SELECT TUMBLE_START(ts, INTERVAL '5' SECOND) FROM u GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)",
            "the arguments of TUMBLE_START() must be those of TUMBLE(...) in GROUP BY",
        ),
        (
            "SELECT HOP_START(ts, INTERVAL '5' SECOND) FROM u GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)",
            "HOP_START() does not match the group window TUMBLE(...) in GROUP BY",
        ),
        (
            "SELECT count(*) FROM u GROUP BY TUMBLE(k, INTERVAL '10' SECOND)",
            "the time column of TUMBLE must be of type timestamp, not integer",
        ),
    ];
    for (sql, expected) in cases {
        let message = error(sql);
        assert!(message.contains(expected), "{sql}: {message}");
    }
}

#[test]
fn window_table_functions_in_logical_explain() {
    let text = explain_query(
        &TestCatalog::new(),
        &parse("SELECT k FROM TABLE(TUMBLE(TABLE u, DESCRIPTOR(ts), INTERVAL '10' SECOND))"),
        &ctx(),
        ExplainStage::Logical,
    )
    .expect("plans");
    assert_eq!(
        text,
        "Project [#0]\n  Windows time=#2 tumble size=10s\n    Get u\n"
    );
}

#[test]
fn session_windows_plan_to_a_partitioned_operator() {
    for (sql, expected) in [
        (
            "SELECT * FROM TABLE(SESSION(TABLE u PARTITION BY k, DESCRIPTOR(ts), INTERVAL '10' SECOND))",
            "SessionWindows partition=[#0] time=#2 gap=10s\n  Get u\n",
        ),
        (
            "SELECT * FROM TABLE(SESSION(TABLE u PARTITION BY (k, v), DESCRIPTOR(ts), INTERVAL '10' SECOND))",
            "SessionWindows partition=[#0, #1] time=#2 gap=10s\n  Get u\n",
        ),
        (
            "SELECT * FROM TABLE(SESSION(DATA => TABLE u, TIMECOL => DESCRIPTOR(ts), GAP => INTERVAL '1' MINUTE))",
            "SessionWindows partition=[] time=#2 gap=60s\n  Get u\n",
        ),
    ] {
        assert_eq!(explain(sql), expected, "{sql}");
    }
    // Legacy: the other GROUP BY keys are the partition; SESSION_START/END name the bounds.
    let legacy = explain(
        "SELECT k, count(*), SESSION_START(ts, INTERVAL '10' SECOND), SESSION_END(ts, INTERVAL '10' SECOND) \
         FROM u WHERE k > 0 GROUP BY k, SESSION(ts, INTERVAL '10' SECOND)",
    );
    assert!(
        legacy.contains("SessionWindows partition=[#0] time=#2 gap=10s"),
        "{legacy}"
    );
    // A filter on the partition key runs below the sessions; others may not.
    let pushed = explain(
        "SELECT * FROM TABLE(SESSION(TABLE u PARTITION BY k, DESCRIPTOR(ts), INTERVAL '10' SECOND)) WHERE k = 1 AND v = 'a'",
    );
    let session_line = pushed
        .lines()
        .position(|l| l.contains("SessionWindows"))
        .expect("session node");
    let k_filter = pushed
        .lines()
        .position(|l| l.contains("(#0 = 1)"))
        .expect("k filter");
    let v_filter = pushed
        .lines()
        .position(|l| l.contains("'a'"))
        .expect("v filter");
    assert!(
        k_filter > session_line && v_filter < session_line,
        "{pushed}"
    );
    // An expression key is appended as a hidden column.
    let expression_key =
        explain("SELECT count(*) FROM u GROUP BY k + 1, SESSION(ts, INTERVAL '10' SECOND)");
    assert!(
        expression_key.contains("SessionWindows partition=[#6] time=#2 gap=10s"),
        "{expression_key}"
    );
}
