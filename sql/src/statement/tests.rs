//! Unit tests of statement planning against a small in-memory catalog.
//!
//! Tests whose names start with `query_planner_` need `crate::query::plan_query` (views,
//! INSERT sources, SELECT, SUBSCRIBE); the others only need expression and type
//! planning or none at all.

use laaster_repr::plan::{GlobalId, Plan};
use laaster_repr::{Column, ColumnType, Datum, RelationDesc, ScalarExpr, ScalarType};

use super::plan_statement;
use crate::catalog::{Catalog, CatalogItem, ItemKind, TableInfo};
use crate::error::PlanError;
use crate::parse::parse_statement;
use crate::plans::{PlanContext, StatementPlan};

#[derive(Default)]
struct TestCatalog {
    items: Vec<CatalogItem>,
}

impl Catalog for TestCatalog {
    fn get(&self, name: &str) -> Option<&CatalogItem> {
        self.items.iter().find(|item| item.name == name)
    }

    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.items.iter().find(|item| item.id == id)
    }

    fn items(&self) -> Vec<&CatalogItem> {
        self.items.iter().collect()
    }
}

impl TestCatalog {
    /// Adds an item; tables get `defaults` (by column) and no key.
    fn add(
        &mut self,
        name: &str,
        kind: ItemKind,
        columns: &[(&str, ScalarType)],
        defaults: Vec<Option<ScalarExpr>>,
    ) -> GlobalId {
        let id = self.items.len() as GlobalId + 1;
        let desc = RelationDesc::new(
            columns
                .iter()
                .map(|(name, scalar)| Column {
                    name: (*name).to_string(),
                    typ: ColumnType::nullable(scalar.clone()),
                })
                .collect(),
        );
        let table = (kind == ItemKind::Table).then(|| TableInfo {
            defaults: if defaults.is_empty() {
                vec![None; columns.len()]
            } else {
                defaults
            },
            default_exprs: Vec::new(),
            primary_key: None,
        });
        self.items.push(CatalogItem {
            id,
            name: name.to_string(),
            kind,
            desc,
            create_sql: String::new(),
            query_sql: (kind != ItemKind::Table).then(|| "SELECT id FROM account".to_string()),
            uses: Vec::new(),
            table,
        });
        id
    }

    /// `account (id int, owner text, balance numeric)`, `v` (view), `mv` (materialized).
    fn bank() -> TestCatalog {
        let mut catalog = TestCatalog::default();
        let columns = [
            ("id", ScalarType::Int32),
            ("owner", ScalarType::Text),
            ("balance", ScalarType::NUMERIC),
        ];
        let zero = ScalarExpr::literal(Datum::Int32(0), ScalarType::Int32);
        catalog.add(
            "account",
            ItemKind::Table,
            &columns,
            vec![None, None, Some(zero)],
        );
        catalog.add("v", ItemKind::View, &columns[..1], vec![]);
        catalog.add("mv", ItemKind::MaterializedView, &columns[..1], vec![]);
        catalog
    }
}

fn plan(catalog: &TestCatalog, sql: &str) -> Result<StatementPlan, PlanError> {
    let statement = parse_statement(sql)?;
    plan_statement(catalog, &statement, &PlanContext { now_micros: 0 })
}

fn plan_ok(catalog: &TestCatalog, sql: &str) -> StatementPlan {
    match plan(catalog, sql) {
        Ok(plan) => plan,
        Err(err) => panic!("planning {sql}: {}", err.to_response().render(Some(sql))),
    }
}

/// The rendered error (message, detail, hint) for `sql`.
fn plan_err(catalog: &TestCatalog, sql: &str) -> String {
    match plan(catalog, sql) {
        Ok(plan) => panic!("expected an error for {sql}, got {plan:?}"),
        Err(err) => err.to_response().to_string(),
    }
}

#[test]
fn create_table_with_keys_defaults_and_not_null() {
    let catalog = TestCatalog::bank();
    let sql = "CREATE TABLE kv (k TEXT PRIMARY KEY, v INT NOT NULL DEFAULT 42, \
               d DATE DEFAULT '2024-01-01', n NUMERIC(10,2) NULL)";
    let StatementPlan::CreateTable {
        name,
        desc,
        info,
        if_not_exists,
        create_sql,
    } = plan_ok(&catalog, sql)
    else {
        panic!("not a CREATE TABLE plan");
    };
    assert_eq!(name, "kv");
    assert!(!if_not_exists);
    assert_eq!(create_sql, sql);
    let names: Vec<_> = desc.names().collect();
    assert_eq!(names, ["k", "v", "d", "n"]);
    let nullable: Vec<_> = desc.columns.iter().map(|c| c.typ.nullable).collect();
    assert_eq!(nullable, [false, false, true, true]);
    assert_eq!(desc.columns[0].typ.scalar, ScalarType::Text);
    assert_eq!(desc.columns[1].typ.scalar, ScalarType::Int32);
    assert_eq!(desc.columns[2].typ.scalar, ScalarType::Date);
    assert_eq!(info.primary_key, Some(vec![0]));
    let has_default: Vec<_> = info.defaults.iter().map(Option::is_some).collect();
    assert_eq!(has_default, [false, true, true, false]);
    assert!(
        info.defaults
            .iter()
            .flatten()
            .all(|d| d.columns().is_empty())
    );
}

#[test]
fn composite_primary_key_columns_are_not_null() {
    let catalog = TestCatalog::default();
    let planned = plan_ok(
        &catalog,
        "CREATE TABLE pk2 (a INT, b INT, c TEXT, PRIMARY KEY (b, a))",
    );
    let StatementPlan::CreateTable { desc, info, .. } = planned else {
        panic!("not a CREATE TABLE plan");
    };
    assert_eq!(info.primary_key, Some(vec![1, 0]));
    let nullable: Vec<_> = desc.columns.iter().map(|c| c.typ.nullable).collect();
    assert_eq!(nullable, [false, false, true]);
}

#[test]
fn create_table_errors() {
    let catalog = TestCatalog::bank();
    assert_eq!(
        plan_err(&catalog, "CREATE TABLE t (a INT, b TEXT, A TEXT)"),
        "column \"a\" specified more than once"
    );
    assert_eq!(
        plan_err(&catalog, "CREATE TABLE account (a INT)"),
        "relation \"account\" already exists"
    );
    assert_eq!(
        plan_err(&catalog, "CREATE TABLE v (a INT)"),
        "relation \"v\" already exists"
    );
    assert!(matches!(
        plan(&catalog, "CREATE TABLE IF NOT EXISTS account (a INT)"),
        Ok(StatementPlan::CreateTable {
            if_not_exists: true,
            ..
        })
    ));
    assert_eq!(
        plan_err(
            &catalog,
            "CREATE TABLE t (a INT PRIMARY KEY, b INT, PRIMARY KEY (b))"
        ),
        "multiple primary keys for table \"t\" are not allowed"
    );
    assert_eq!(
        plan_err(&catalog, "CREATE TABLE t (a INT, PRIMARY KEY (x))"),
        "column \"x\" named in key does not exist"
    );
    assert_eq!(
        plan_err(&catalog, "CREATE TABLE t (a INT NULL NOT NULL)"),
        "conflicting NULL/NOT NULL declarations for column \"a\" of table \"t\""
    );
    assert_eq!(
        plan_err(&catalog, "CREATE TABLE t (a INT DEFAULT 1 DEFAULT 2)"),
        "multiple default values specified for column \"a\" of table \"t\""
    );
}

#[test]
fn create_table_unsupported_clauses_are_named() {
    let catalog = TestCatalog::default();
    let cases = [
        ("CREATE TABLE t (a INT CHECK (a > 0))", "CHECK constraints"),
        ("CREATE TABLE t (a INT, CHECK (a > 0))", "CHECK constraints"),
        ("CREATE TABLE t (a INT UNIQUE)", "UNIQUE constraints"),
        ("CREATE TABLE t (a INT, UNIQUE (a))", "UNIQUE constraints"),
        (
            "CREATE TABLE t (a INT REFERENCES u (b))",
            "FOREIGN KEY constraints",
        ),
        (
            "CREATE TABLE t (a INT, b AS a + 1)",
            "computed columns in a table without a connector",
        ),
        (
            "CREATE TABLE t (a TIMESTAMP, WATERMARK FOR a AS a)",
            "WATERMARK in a table without a connector",
        ),
        (
            "CREATE TABLE t (a INT, UNIQUE (a)) WITH ('connector' = 'datagen')",
            "UNIQUE constraints",
        ),
        (
            "CREATE TABLE t (a INT) PARTITION BY RANGE (a)",
            "partitioned tables",
        ),
        ("CREATE TEMPORARY TABLE t (a INT)", "temporary tables"),
        ("CREATE TABLE t AS SELECT 1", "CREATE TABLE ... AS"),
    ];
    for (sql, feature) in cases {
        match plan(&catalog, sql) {
            Err(PlanError::Unsupported { feature: f, .. }) => {
                assert!(f.contains(feature), "{sql}: {f}")
            }
            other => panic!("{sql}: expected Unsupported, got {other:?}"),
        }
    } // A source's PRIMARY KEY (Flink: NOT ENFORCED) keys an upsert source.
    match plan(
        &catalog,
        "CREATE TABLE t (a INT, b TEXT, PRIMARY KEY (b) NOT ENFORCED) WITH ('connector' = 'redis-streams')",
    ) {
        Ok(StatementPlan::CreateSource(source)) => assert_eq!(source.primary_key, Some(vec![1])),
        other => panic!("expected a source plan, got {other:?}"),
    }
}

#[test]
fn unknown_relations_suggest_close_names() {
    let catalog = TestCatalog::bank();
    for sql in [
        "INSERT INTO acount VALUES (1)",
        "UPDATE acount SET id = 1",
        "DELETE FROM acount",
        "SHOW COLUMNS FROM acount",
        "SUBSCRIBE acount",
    ] {
        match plan(&catalog, sql) {
            Err(PlanError::UnknownRelation { name, suggestion }) => {
                assert_eq!(name, "acount");
                assert_eq!(suggestion.as_deref(), Some("account"), "{sql}");
            }
            other => panic!("{sql}: expected UnknownRelation, got {other:?}"),
        }
    }
    assert_eq!(
        plan_err(&catalog, "DELETE FROM acount"),
        "relation \"acount\" does not exist\nHINT:  Perhaps you meant \"account\"."
    );
}

#[test]
fn drop_resolves_names_and_checks_kinds() {
    let catalog = TestCatalog::bank();
    let StatementPlan::Drop {
        kind,
        ids,
        cascade,
        missing,
    } = plan_ok(
        &catalog,
        "DROP TABLE IF EXISTS account, nope, account CASCADE",
    )
    else {
        panic!("not a DROP plan");
    };
    assert_eq!(kind, ItemKind::Table);
    assert_eq!(ids, [1]);
    assert!(cascade);
    assert_eq!(missing, ["nope"]);
    assert!(matches!(
        plan_ok(&catalog, "DROP MATERIALIZED VIEW mv"),
        StatementPlan::Drop { ids, cascade: false, .. } if ids == [3]
    ));
    assert_eq!(
        plan_err(&catalog, "DROP TABLE v"),
        "\"v\" is not a table\nHINT:  Use DROP VIEW to remove a view."
    );
    assert_eq!(
        plan_err(&catalog, "DROP VIEW mv"),
        "\"mv\" is not a view\nHINT:  Use DROP MATERIALIZED VIEW to remove a materialized view."
    );
    assert_eq!(
        plan_err(&catalog, "DROP VIEW IF EXISTS account"),
        "\"account\" is not a view\nHINT:  Use DROP TABLE to remove a table."
    );
    assert_eq!(
        plan_err(&catalog, "DROP TABLE nope"),
        "table \"nope\" does not exist"
    );
    assert_eq!(
        plan_err(&catalog, "DROP TABLE acount"),
        "table \"acount\" does not exist\nHINT:  Perhaps you meant \"account\"."
    );
    assert!(matches!(
        plan(&catalog, "DROP INDEX i"),
        Err(PlanError::Unsupported { .. })
    ));
}

#[test]
fn dml_target_errors() {
    let catalog = TestCatalog::bank();
    assert!(plan_err(&catalog, "INSERT INTO v VALUES (1)").starts_with(
        "cannot insert into view \"v\"\nDETAIL:  Views that do not select from a single table"
    ));
    assert!(plan_err(&catalog, "DELETE FROM v").starts_with("cannot delete from view \"v\""));
    assert_eq!(
        plan_err(&catalog, "UPDATE mv SET id = 1"),
        "cannot change materialized view \"mv\""
    );
    assert_eq!(
        plan_err(&catalog, "INSERT INTO account (id, nope) VALUES (1, 2)"),
        "column \"nope\" of relation \"account\" does not exist"
    );
    assert_eq!(
        plan_err(&catalog, "INSERT INTO account (id, ID) VALUES (1, 2)"),
        "column \"id\" specified more than once"
    );
    assert_eq!(
        plan_err(
            &catalog,
            "INSERT INTO account (id, owner) VALUES (9, 'x', 1)"
        ),
        "INSERT has more expressions than target columns"
    );
    assert_eq!(
        plan_err(&catalog, "INSERT INTO account (id, owner) VALUES (9)"),
        "INSERT has more target columns than expressions"
    );
    assert_eq!(
        plan_err(&catalog, "UPDATE account SET nope = 1"),
        "column \"nope\" of relation \"account\" does not exist"
    );
    assert!(matches!(
        plan(
            &catalog,
            "INSERT INTO account VALUES (1) ON CONFLICT DO NOTHING"
        ),
        Err(PlanError::Unsupported { .. })
    ));
}

#[test]
fn update_and_delete_plan_expressions_over_the_row() {
    let catalog = TestCatalog::bank();
    let StatementPlan::Update {
        table,
        selection,
        assignments,
    } = plan_ok(
        &catalog,
        "UPDATE account AS a SET balance = DEFAULT, owner = a.owner WHERE id = 1",
    )
    else {
        panic!("not an UPDATE plan");
    };
    assert_eq!(table, 1);
    // The read: the table's row followed by the one computed SET value.
    let arity = catalog.get("account").map(|t| t.desc.arity()).unwrap_or(0);
    assert_eq!(selection.desc.arity(), arity + 1);
    assert_eq!(assignments.len(), 2);
    assert_eq!(assignments[0].0, 2);
    assert!(assignments[0].1.columns().is_empty());
    assert_eq!(assignments[1].0, 1);
    assert_eq!(assignments[1].1.columns(), vec![arity]);
    assert_eq!(
        plan_err(&catalog, "UPDATE account SET id = 1, id = 2"),
        "multiple assignments to same column \"id\""
    );
    assert_eq!(
        plan_err(&catalog, "DELETE FROM account WHERE id"),
        "argument of WHERE must be type boolean, not type integer"
    );
    let StatementPlan::Delete { table, selection } = plan_ok(&catalog, "DELETE FROM account")
    else {
        panic!("not a DELETE plan");
    };
    assert_eq!((table, selection.desc.arity()), (1, arity));
}

#[test]
fn show_statements_resolve_items() {
    let catalog = TestCatalog::bank();
    assert!(matches!(
        plan_ok(&catalog, "SHOW TABLES"),
        StatementPlan::ShowTables
    ));
    assert!(matches!(
        plan_ok(&catalog, "SHOW MATERIALIZED VIEWS"),
        StatementPlan::ShowViews
    ));
    assert!(matches!(
        plan_ok(&catalog, "SHOW COLUMNS FROM account"),
        StatementPlan::ShowColumns { id: 1 }
    ));
    assert!(matches!(
        plan_ok(&catalog, "SHOW CREATE MATERIALIZED VIEW mv"),
        StatementPlan::ShowCreate { id: 3 }
    ));
    assert_eq!(
        plan_err(&catalog, "SHOW CREATE VIEW account"),
        "\"account\" is not a view"
    );
}

#[test]
fn unsupported_statements_are_errors_not_panics() {
    let catalog = TestCatalog::bank();
    for (sql, feature) in [
        ("BEGIN", "transactions"),
        ("COMMIT", "transactions"),
        ("SET search_path = public", "SET"),
        ("CREATE INDEX i ON account (id)", "CREATE INDEX"),
        ("ALTER TABLE account ADD COLUMN x INT", "ALTER TABLE"),
        ("CREATE SCHEMA s", "CREATE SCHEMA"),
        ("SHOW search_path", "SHOW"),
    ] {
        match plan(&catalog, sql) {
            Err(PlanError::Unsupported { feature: f, .. }) => assert_eq!(f, feature, "{sql}"),
            other => panic!("{sql}: expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn query_planner_insert_fills_defaults_and_casts() {
    let catalog = TestCatalog::bank();
    let planned = plan_ok(
        &catalog,
        "INSERT INTO account (owner, id) VALUES ('ann', 1), ('bob', DEFAULT)",
    );
    let StatementPlan::Insert { table, source } = planned else {
        panic!("not an INSERT plan");
    };
    assert_eq!(table, 1);
    assert_eq!(source.desc, catalog.items[0].desc);
    let Plan::Mfp { input, mfp } = &source.plan else {
        panic!("INSERT source is not an Mfp: {:?}", source.plan);
    };
    // owner, id and the DEFAULT marker for id.
    assert_eq!(input.arity(), 3);
    assert_eq!(mfp.output_arity(), 3);
    assert!(matches!(mfp.expressions[0], ScalarExpr::If { .. }));
    assert_eq!(
        mfp.expressions[2],
        ScalarExpr::literal(Datum::Int32(0), ScalarType::Int32)
    );
}

#[test]
fn query_planner_insert_all_default_columns_are_dropped_from_the_source() {
    let catalog = TestCatalog::bank();
    let planned = plan_ok(
        &catalog,
        "INSERT INTO account VALUES (1, 'a', DEFAULT), (2, 'b', DEFAULT)",
    );
    let StatementPlan::Insert { source, .. } = planned else {
        panic!("not an INSERT plan");
    };
    let Plan::Mfp { input, .. } = &source.plan else {
        panic!("INSERT source is not an Mfp");
    };
    assert_eq!(input.arity(), 2);
    let planned = plan_ok(&catalog, "INSERT INTO account (balance) VALUES (DEFAULT)");
    assert!(matches!(planned, StatementPlan::Insert { .. }));
    assert!(matches!(
        plan_ok(&catalog, "INSERT INTO account DEFAULT VALUES"),
        StatementPlan::Insert { .. }
    ));
}

#[test]
fn query_planner_insert_select_checks_arity() {
    let catalog = TestCatalog::bank();
    assert_eq!(
        plan_err(
            &catalog,
            "INSERT INTO account (id) SELECT id, owner FROM account"
        ),
        "INSERT has more expressions than target columns"
    );
    assert!(matches!(
        plan_ok(
            &catalog,
            "INSERT INTO account (id, owner) SELECT id + 1, upper(owner) FROM account"
        ),
        StatementPlan::Insert { .. }
    ));
}

#[test]
fn query_planner_views_record_direct_uses() {
    let mut catalog = TestCatalog::bank();
    catalog.items[1].uses = vec![1];
    let planned = plan_ok(
        &catalog,
        "CREATE MATERIALIZED VIEW m2 (n, o) AS WITH account AS (SELECT 1 AS id) \
         SELECT v.id, account.id FROM v, account, mv",
    );
    let StatementPlan::CreateView {
        name,
        materialized,
        query,
        uses,
        ..
    } = planned
    else {
        panic!("not a CREATE VIEW plan");
    };
    assert_eq!(name, "m2");
    assert!(materialized);
    assert_eq!(uses, [2, 3]);
    let names: Vec<_> = query.desc.names().collect();
    assert_eq!(names, ["n", "o"]);
    assert_eq!(
        plan_err(&catalog, "CREATE VIEW w (a, b) AS SELECT 1"),
        "CREATE VIEW specifies more column names than columns"
    );
    assert_eq!(
        plan_err(&catalog, "CREATE VIEW v AS SELECT 1"),
        "relation \"v\" already exists"
    );
    assert!(matches!(
        plan_ok(&catalog, "CREATE OR REPLACE VIEW v AS SELECT 1 AS id"),
        StatementPlan::CreateView {
            or_replace: true,
            ..
        }
    ));
}

#[test]
fn query_planner_select_subscribe_explain() {
    let catalog = TestCatalog::bank();
    assert!(matches!(
        plan_ok(&catalog, "SELECT id FROM account ORDER BY id LIMIT 1"),
        StatementPlan::Select(_)
    ));
    let planned = plan_ok(
        &catalog,
        "SUBSCRIBE TO account WITH (SNAPSHOT = FALSE) AS OF 7",
    );
    let StatementPlan::Subscribe {
        query,
        snapshot,
        as_of,
    } = planned
    else {
        panic!("not a SUBSCRIBE plan");
    };
    assert!(!snapshot);
    assert_eq!(as_of, Some(7));
    assert_eq!(query.desc, catalog.items[0].desc);
    assert!(matches!(
        plan_ok(
            &catalog,
            "SUBSCRIBE (SELECT owner FROM account WHERE id > 1)"
        ),
        StatementPlan::Subscribe {
            snapshot: true,
            as_of: None,
            ..
        }
    ));
    assert!(matches!(
        plan_ok(&catalog, "EXPLAIN SELECT * FROM account"),
        StatementPlan::Explain { .. }
    ));
}

#[test]
fn query_planner_string_literals_convert_like_postgres() {
    let mut catalog = TestCatalog::default();
    let columns = [
        ("d", ScalarType::Date),
        ("a", ScalarType::Array(Box::new(ScalarType::Int32))),
        ("j", ScalarType::Jsonb),
        ("n", ScalarType::Int32),
    ];
    catalog.add("typed", ItemKind::Table, &columns, vec![]);
    let sql = "INSERT INTO typed VALUES ('2024-01-02', '{1,2}', '{\"a\":1}', NULL)";
    let StatementPlan::Insert { source, .. } = plan_ok(&catalog, sql) else {
        panic!("not an INSERT plan");
    };
    let Plan::Mfp { input, mfp } = &source.plan else {
        panic!("INSERT source is not an Mfp");
    };
    if let Plan::Constant { rows, .. } = input.as_ref() {
        let row = mfp.evaluate(&rows[0].0).expect("evaluates").expect("kept");
        assert_eq!(row[0], Datum::Date(19724));
        assert_eq!(
            row[1],
            Datum::Array(vec![Datum::Int32(1), Datum::Int32(2)].into())
        );
        assert_eq!(row[3], Datum::Null);
    }
    assert_eq!(
        plan_err(&catalog, "INSERT INTO typed (n) VALUES ('x'::text)"),
        "column \"n\" is of type integer but expression is of type text\n\
         HINT:  You will need to rewrite or cast the expression."
    );
    assert!(matches!(
        plan_ok(&catalog, "UPDATE typed SET d = '2024-03-01', n = '7'"),
        StatementPlan::Update { .. }
    ));
}

const NEXMARK_DDL: &str = "CREATE TABLE datagen (
    event_type int,
    person ROW<id BIGINT, name VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3)>,
    bid ROW<auction BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), extra STRING>,
    `dateTime` AS
        CASE
            WHEN event_type = 0 THEN person.`dateTime`
            WHEN event_type = 1 THEN auction.`dateTime`
            ELSE bid.`dateTime`
        END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'NexMark',
    'first-event.rate' = '10000000',
    'events.num' = '1000'
)";

#[test]
fn query_planner_flink_source_ddl_plans_a_source() {
    let catalog = TestCatalog::default();
    let StatementPlan::CreateSource(source) = plan_ok(&catalog, NEXMARK_DDL) else {
        panic!("not a CREATE SOURCE plan");
    };
    assert_eq!(source.name, "datagen");
    let names: Vec<_> = source.desc.names().collect();
    assert_eq!(
        names,
        ["event_type", "person", "auction", "bid", "dateTime"]
    );
    assert_eq!(source.physical_arity, 4);
    assert_eq!(source.computed.len(), 1);
    assert_eq!(source.desc.columns[4].typ.scalar, ScalarType::Timestamp);
    let (column, watermark) = source.watermark.expect("a watermark");
    assert_eq!(column, 4);
    assert!(watermark.columns().contains(&4), "{watermark:?}");
    assert!(source.computed[0].columns().iter().all(|&c| c < 4));
    assert_eq!(source.connector, "nexmark");
    assert_eq!(
        source.options,
        [
            ("first-event.rate".to_string(), "10000000".to_string()),
            ("events.num".to_string(), "1000".to_string())
        ]
    );
    assert!(!source.if_not_exists);
    // The normalized statement, which parses back to itself.
    assert!(
        source.create_sql.starts_with(
            "CREATE TABLE datagen (event_type INT, person STRUCT<id BIGINT, name VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,"
        ),
        "{}",
        source.create_sql
    );
    assert!(
        source.create_sql.ends_with(
            "`dateTime` AS (CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END), \
             WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND) \
             WITH ('connector' = 'NexMark', 'first-event.rate' = '10000000', 'events.num' = '1000')"
        ),
        "{}",
        source.create_sql
    );
    assert_eq!(
        parse_statement(&source.create_sql)
            .expect("parses")
            .to_string(),
        source.create_sql
    );

    // Computed columns follow the physical ones whatever the declaration order.
    let StatementPlan::CreateSource(source) = plan_ok(
        &catalog,
        "CREATE TABLE IF NOT EXISTS s (a INT, b AS a * 2, c TIMESTAMP NOT NULL) WITH ('connector' = 'datagen', 'rows-per-second' = 5)",
    ) else {
        panic!("not a CREATE SOURCE plan");
    };
    let names: Vec<_> = source.desc.names().collect();
    assert_eq!(names, ["a", "c", "b"]);
    assert_eq!(source.physical_arity, 2);
    assert!(!source.desc.columns[1].typ.nullable);
    assert!(source.watermark.is_none());
    assert!(source.if_not_exists);
    assert_eq!(
        source.options,
        [("rows-per-second".to_string(), "5".to_string())]
    );
}

#[test]
fn query_planner_source_ddl_errors() {
    let mut catalog = TestCatalog::bank();
    let cases = [
        (
            "CREATE TABLE s (a INT) WITH ('format' = 'json')",
            "CREATE TABLE ... WITH (...) requires a 'connector' option",
        ),
        (
            "CREATE TABLE s (a INT, b AS a + 1, c AS b + 1) WITH ('connector' = 'datagen')",
            "computed column \"c\" cannot reference computed column \"b\"",
        ),
        (
            "CREATE TABLE s (a INT, WATERMARK FOR a AS a - 1) WITH ('connector' = 'datagen')",
            "WATERMARK FOR column \"a\" must be of type timestamp, not integer",
        ),
        (
            "CREATE TABLE s (a TIMESTAMP, WATERMARK FOR b AS b) WITH ('connector' = 'datagen')",
            "column \"b\" named in WATERMARK FOR does not exist",
        ),
        (
            "CREATE TABLE s (a TIMESTAMP, WATERMARK FOR a AS 1) WITH ('connector' = 'datagen')",
            "WATERMARK expression for column \"a\" must be of type timestamp without time zone, not integer",
        ),
        (
            "CREATE TABLE s (a TIMESTAMP, WATERMARK FOR a AS a, WATERMARK FOR a AS a) WITH ('connector' = 'datagen')",
            "multiple WATERMARK clauses for table \"s\"",
        ),
        (
            "CREATE TABLE s (a INT, a AS 1) WITH ('connector' = 'datagen')",
            "column \"a\" specified more than once",
        ),
        (
            "CREATE TABLE s (a INT, b AS nope) WITH ('connector' = 'datagen')",
            "column \"nope\" does not exist",
        ),
        (
            "CREATE TABLE s (a INT) WITH ('connector' = 'datagen', 'x' = '1', 'x' = '2')",
            "option 'x' specified more than once",
        ),
        (
            "CREATE TABLE s (a INT) WITH ('connector' = 'datagen', 'x' = a)",
            "the value of option 'x' must be a string literal",
        ),
        (
            "CREATE TABLE account (a INT) WITH ('connector' = 'datagen')",
            "relation \"account\" already exists",
        ),
    ];
    for (sql, expected) in cases {
        let message = plan_err(&catalog, sql);
        assert!(message.contains(expected), "{sql}: {message}");
    }
    // A source answers to DROP TABLE and SHOW CREATE TABLE, and refuses writes.
    let id = catalog.add("src", ItemKind::Source, &[("a", ScalarType::Int32)], vec![]);
    catalog.items.last_mut().expect("added").query_sql = None;
    assert!(matches!(
        plan_ok(&catalog, "DROP TABLE src"),
        StatementPlan::Drop { ids, .. } if ids == [id]
    ));
    assert!(matches!(
        plan_ok(&catalog, "SHOW CREATE TABLE src"),
        StatementPlan::ShowCreate { id: shown } if shown == id
    ));
    assert!(
        plan_err(&catalog, "DROP VIEW src").contains("Use DROP TABLE to remove a source table.")
    );
    assert!(
        plan_err(&catalog, "INSERT INTO src VALUES (1)")
            .contains("cannot insert into source table \"src\"")
    );
}

#[test]
fn query_planner_views_over_window_functions_record_their_table() {
    let mut catalog = TestCatalog::default();
    let id = catalog.add(
        "e",
        ItemKind::Table,
        &[("k", ScalarType::Int32), ("ts", ScalarType::Timestamp)],
        vec![],
    );
    for sql in [
        "CREATE VIEW w AS SELECT * FROM TABLE(TUMBLE(TABLE e, DESCRIPTOR(ts), INTERVAL '1' SECOND))",
        "CREATE VIEW w AS SELECT * FROM HOP(e, ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND)",
        "CREATE VIEW w AS SELECT * FROM TABLE(CUMULATE(TIMECOL => DESCRIPTOR(ts), DATA => TABLE e, STEP => INTERVAL '1' SECOND, SIZE => INTERVAL '2' SECOND))",
    ] {
        let StatementPlan::CreateView { uses, query, .. } = plan_ok(&catalog, sql) else {
            panic!("not a CREATE VIEW plan");
        };
        assert_eq!(uses, [id], "{sql}");
        assert_eq!(query.desc.arity(), 5, "{sql}");
    }
}

#[test]
fn sink_tables_plan_and_refuse_bad_options() {
    let catalog = TestCatalog::default();
    let plan = |sql: &str| {
        plan_statement(
            &catalog,
            &parse_statement(sql).expect("parses"),
            &PlanContext { now_micros: 0 },
        )
    };
    match plan("CREATE TABLE s (a INT) WITH ('connector' = 'print', 'print-identifier' = 'x')") {
        Ok(StatementPlan::CreateSink(sink)) => {
            assert_eq!(sink.connector, "print");
            assert_eq!(sink.desc.arity(), 1);
        }
        other => panic!("expected a sink, got {other:?}"),
    }
    let message = |sql: &str| match plan(sql) {
        Ok(p) => panic!("{sql}: expected an error, got {p:?}"),
        Err(e) => e.to_response().message,
    };
    assert!(
        message("CREATE TABLE s (a INT) WITH ('connector' = 'blackhole', 'x' = '1')")
            .contains("unknown option 'x'")
    );
    assert!(
        message("CREATE TABLE s (a INT) WITH ('connector' = 'print', 'standard-error' = 'maybe')")
            .contains("must be true or false")
    );
}
