//! Parser round trips: every statement form Laaster adds or relies on parses, prints as
//! the expected canonical SQL, and that text parses back to an equal statement. Also:
//! syntax error messages and positions within multi-statement scripts.

use laaster_repr::Position;
use laaster_sql::PlanError;
use laaster_sql::catalog::ItemKind;
use laaster_sql::explain::ExplainStage;
use laaster_sql::parse::{
    ShowStatement, Statement, SubscribeStatement, SubscribeTarget, parse_statement,
    parse_statements,
};

/// Parses `sql`, checks it prints as `canonical`, and that `canonical` parses to an
/// equal statement which prints the same again.
fn round_trip(sql: &str, canonical: &str) -> Statement {
    let first = parse(sql);
    let printed = first.to_string();
    assert_eq!(printed, canonical, "printing the parse of {sql:?}");
    let second = parse(&printed);
    assert_eq!(first, second, "re-parsing {printed:?}");
    assert_eq!(
        second.to_string(),
        canonical,
        "printing the re-parse of {printed:?}"
    );
    first
}

/// A statement whose canonical form is its own text.
fn verified(sql: &str) -> Statement {
    round_trip(sql, sql)
}

fn parse(sql: &str) -> Statement {
    match parse_statement(sql) {
        Ok(statement) => statement,
        Err(err) => panic!(
            "{sql:?} does not parse: {}",
            err.to_response().render(Some(sql))
        ),
    }
}

fn syntax_error(script: &str) -> (String, Position) {
    match parse_statements(script) {
        Err(PlanError::Syntax {
            message,
            position: Some(position),
        }) => (message, position),
        other => panic!("expected a syntax error with a position, got {other:?}"),
    }
}

#[test]
fn subscribe() {
    let statement = round_trip("subscribe T", "SUBSCRIBE TO t");
    assert_eq!(
        statement,
        Statement::Subscribe(SubscribeStatement {
            target: SubscribeTarget::Name("t".into()),
            snapshot: true,
            as_of: None,
        })
    );
    let statement = round_trip(
        "SUBSCRIBE TO t WITH (snapshot = false) AS OF 42",
        "SUBSCRIBE TO t WITH (SNAPSHOT = FALSE) AS OF 42",
    );
    assert!(matches!(
        statement,
        Statement::Subscribe(SubscribeStatement {
            snapshot: false,
            as_of: Some(42),
            ..
        })
    ));
    round_trip(
        "SUBSCRIBE t AS OF 3 WITH (SNAPSHOT = TRUE)",
        "SUBSCRIBE TO t AS OF 3",
    );
    round_trip("SUBSCRIBE TO t WITH (SNAPSHOT)", "SUBSCRIBE TO t");
    verified("SUBSCRIBE TO \"Mixed Case\"");
    verified("SUBSCRIBE TO \"select\"");
    let statement = round_trip(
        "SUBSCRIBE TO (select a, count(*) from t group by a) with (snapshot = false)",
        "SUBSCRIBE TO (SELECT a, count(*) FROM t GROUP BY a) WITH (SNAPSHOT = FALSE)",
    );
    assert!(matches!(
        statement,
        Statement::Subscribe(SubscribeStatement {
            target: SubscribeTarget::Query(_),
            ..
        })
    ));
    verified("SUBSCRIBE TO (SELECT * FROM t ORDER BY a LIMIT 3) AS OF 0");
}

#[test]
fn show() {
    assert_eq!(
        verified("SHOW TABLES"),
        Statement::Show(ShowStatement::Tables)
    );
    round_trip("show views", "SHOW VIEWS");
    assert_eq!(
        verified("SHOW MATERIALIZED VIEWS"),
        Statement::Show(ShowStatement::Views { materialized: true })
    );
    assert_eq!(
        round_trip("SHOW COLUMNS IN Acct", "SHOW COLUMNS FROM acct"),
        Statement::Show(ShowStatement::Columns {
            name: "acct".into()
        })
    );
    verified("SHOW CREATE TABLE t");
    verified("SHOW CREATE VIEW v");
    assert_eq!(
        verified("SHOW CREATE MATERIALIZED VIEW mv"),
        Statement::Show(ShowStatement::Create {
            kind: ItemKind::MaterializedView,
            name: "mv".into()
        })
    );
}

#[test]
fn explain() {
    let statement = round_trip("EXPLAIN SELECT 1", "EXPLAIN OPTIMIZED PLAN FOR SELECT 1");
    assert!(matches!(
        statement,
        Statement::Explain {
            stage: ExplainStage::Optimized,
            ..
        }
    ));
    let statement = verified("EXPLAIN LOGICAL PLAN FOR SELECT * FROM t");
    assert!(matches!(
        statement,
        Statement::Explain {
            stage: ExplainStage::Logical,
            ..
        }
    ));
    round_trip(
        "explain dataflow plan select a from t where a > 1",
        "EXPLAIN DATAFLOW PLAN FOR SELECT a FROM t WHERE a > 1",
    );
    round_trip(
        "EXPLAIN OPTIMIZED WITH x AS (SELECT 1) SELECT * FROM x",
        "EXPLAIN OPTIMIZED PLAN FOR WITH x AS (SELECT 1) SELECT * FROM x",
    );
}

#[test]
fn create_table() {
    verified(
        "CREATE TABLE acct (id INT PRIMARY KEY, owner TEXT NOT NULL, balance NUMERIC(10,2) DEFAULT 0, active BOOLEAN DEFAULT true, note TEXT)",
    );
    verified("CREATE TABLE IF NOT EXISTS pk2 (a INT, b INT, c TEXT, PRIMARY KEY (a, b))");
    verified(
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v INT NOT NULL DEFAULT 42, d DATE DEFAULT '2024-01-01', tags TEXT[] DEFAULT '{}')",
    );
    round_trip(
        "create table t (a int null, b varchar(3), c timestamp, d double precision)",
        "CREATE TABLE t (a INT NULL, b VARCHAR(3), c TIMESTAMP, d DOUBLE PRECISION)",
    );
    verified("CREATE TABLE `orders` (`order id` BIGINT, price DECIMAL(10,2))");
}

#[test]
fn create_source_table() {
    // Flink's source DDL: nested ROW types, backticks, a computed column, a watermark.
    round_trip(
        "CREATE TABLE datagen (\n    event_type int,\n    person ROW<id BIGINT, `dateTime` TIMESTAMP(3)>,\n    \
         bid ROW<auction BIGINT, url VARCHAR, extra STRING, `dateTime` TIMESTAMP(3)>,\n    \
         `dateTime` AS\n        CASE\n            WHEN event_type = 0 THEN person.`dateTime`\n            \
         ELSE bid.`dateTime`\n        END,\n    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND\n\
         ) WITH (\n    'connector' = 'nexmark',\n    'first-event.rate' = '10000000',\n    'events.num' = '1000'\n)",
        "CREATE TABLE datagen (event_type INT, person STRUCT<id BIGINT, `dateTime` TIMESTAMP(3)>, \
         bid STRUCT<auction BIGINT, url VARCHAR, extra STRING, `dateTime` TIMESTAMP(3)>, \
         `dateTime` AS (CASE WHEN event_type = 0 THEN person.`dateTime` ELSE bid.`dateTime` END), \
         WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND) \
         WITH ('connector' = 'nexmark', 'first-event.rate' = '10000000', 'events.num' = '1000')",
    );
    verified(
        "CREATE TABLE s (a BIGINT, ts TIMESTAMP(3), b AS (a * 2), WATERMARK FOR ts AS ts) WITH ('connector' = 'datagen')",
    );
    round_trip(
        "create table s (a int, b as (a) + (1), c as a, watermark for c as c) with ('connector' = 'x')",
        "CREATE TABLE s (a INT, b AS ((a) + (1)), c AS (a), watermark FOR c AS c) WITH ('connector' = 'x')",
    );
    // `watermark` stays an ordinary column name.
    verified("CREATE TABLE t (watermark TIMESTAMP, \"WATERMARK\" INT)");
    // The shipped Flink DDL files parse.
    for file in ["ddl_gen.sql", "ddl_kafka.sql"] {
        let path = format!("../../shared/nexmark/flink-queries/{file}");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let statement = parse(&text);
        let printed = statement.to_string();
        assert_eq!(parse(&printed), statement, "{file}");
    }
}

#[test]
fn source_ddl_syntax_errors_are_positioned() {
    let (message, position) = syntax_error(
        "CREATE TABLE s (\n  ts TIMESTAMP,\n  WATERMARK FOR ts AS ts -\n) WITH ('connector' = 'x')",
    );
    assert_eq!(message, "syntax error at or near \")\"");
    assert_eq!(position, Position { line: 4, column: 1 });
    let (message, position) =
        syntax_error("CREATE TABLE s (ts TIMESTAMP, WATERMARK FOR ts ts) WITH ('connector' = 'x')");
    assert_eq!(message, "syntax error at or near \"ts\"");
    assert_eq!(
        position,
        Position {
            line: 1,
            column: 48
        }
    );
    let (message, _) = syntax_error("CREATE TABLE s (a INT, b AS) WITH ('connector' = 'x')");
    assert_eq!(message, "syntax error at or near \")\"");
}

#[test]
fn window_table_functions() {
    verified("SELECT * FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))");
    verified(
        "SELECT window_start, count(*) FROM TABLE(HOP(TABLE public.t, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND)) AS w GROUP BY window_start, window_end",
    );
    verified(
        "SELECT * FROM TABLE(CUMULATE(DATA => TABLE t, TIMECOL => DESCRIPTOR(ts), STEP => INTERVAL '2' SECOND, SIZE => INTERVAL '10' SECOND))",
    );
    verified("SELECT * FROM TUMBLE(t, ts, INTERVAL '10' SECOND)");
    verified("SELECT * FROM TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND)");
    verified(
        "SELECT TUMBLE_START(ts, INTERVAL '10' SECOND), count(*) FROM t GROUP BY TUMBLE(ts, INTERVAL '10' SECOND), k",
    );
    round_trip(
        "create view v as select * from table(tumble(table t, descriptor(ts), interval '1' minute))",
        "CREATE VIEW v AS SELECT * FROM TABLE(tumble(TABLE t, descriptor(ts), INTERVAL '1' MINUTE))",
    );
}

#[test]
fn create_view() {
    verified("CREATE VIEW v1 AS SELECT id, v FROM base WHERE v > 5");
    verified("CREATE MATERIALIZED VIEW mv2 AS SELECT count(*) AS n FROM v1");
    verified("CREATE OR REPLACE VIEW v (a, b) AS SELECT 1, 2");
    verified("CREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT a FROM t ORDER BY a LIMIT 3");
    let Statement::Sql(statement) = parse("CREATE MATERIALIZED VIEW m AS SELECT 1") else {
        panic!("not standard SQL");
    };
    assert!(matches!(
        *statement,
        sqlparser::ast::Statement::CreateView(sqlparser::ast::CreateView {
            materialized: true,
            ..
        })
    ));
}

#[test]
fn drop() {
    verified("DROP TABLE base CASCADE");
    verified("DROP VIEW IF EXISTS a, b RESTRICT");
    verified("DROP MATERIALIZED VIEW mv");
    round_trip(
        "drop materialized view if exists A, b cascade",
        "DROP MATERIALIZED VIEW IF EXISTS A, b CASCADE",
    );
}

#[test]
fn insert_update_delete() {
    verified("INSERT INTO acct VALUES (1, 'ann', 100.00, true, 'first')");
    verified("INSERT INTO acct (id, owner) VALUES (2, 'bob'), (3, DEFAULT)");
    verified("INSERT INTO archive SELECT id, owner, balance FROM acct WHERE balance > 0");
    verified("INSERT INTO kv VALUES ('b', 1, NULL, ARRAY['t1'])");
    verified("UPDATE acct SET balance = balance + 10 WHERE id <= 2");
    verified("UPDATE acct SET balance = DEFAULT, note = upper(owner)");
    verified("DELETE FROM acct WHERE id IN (SELECT id FROM acct WHERE owner = 'cy')");
    verified("DELETE FROM acct");
}

#[test]
fn queries() {
    verified("SELECT * FROM t ORDER BY a DESC NULLS LAST LIMIT 10 OFFSET 2");
    verified("VALUES (1, 'a'), (2, 'b')");
    verified("WITH w AS (SELECT 1 AS x) SELECT x FROM w");
}

#[test]
fn scripts_split_into_statements_with_their_text() {
    let script = "CREATE TABLE t (a INT);\n-- note; not a statement\nINSERT INTO t VALUES (';');\n\
                  SUBSCRIBE t;  /* trailing */ ;\n";
    let parsed = parse_statements(script).expect("parses");
    let texts: Vec<_> = parsed.iter().map(|p| p.sql.as_str()).collect();
    assert_eq!(
        texts,
        [
            "CREATE TABLE t (a INT)",
            "INSERT INTO t VALUES (';')",
            "SUBSCRIBE t"
        ]
    );
    assert!(
        parse_statements("-- only a comment\n")
            .expect("parses")
            .is_empty()
    );
    assert!(parse_statements(" ; ;; ").expect("parses").is_empty());
}

#[test]
fn syntax_error_on_line_three_reports_line_three() {
    let script = "SELECT 1;\nSELECT 2;\nSELECT a FORM t;\n";
    let (message, position) = syntax_error(script);
    assert_eq!(message, "syntax error at or near \"t\"");
    assert_eq!(
        position,
        Position {
            line: 3,
            column: 15
        }
    );
    let err = parse_statements(script).expect_err("fails");
    let rendered = err.to_response().render(Some(script));
    assert_eq!(
        rendered,
        "ERROR:  syntax error at or near \"t\"\nLINE 3: SELECT a FORM t;\n                      ^"
    );
}

#[test]
fn syntax_error_positions_count_characters_not_bytes() {
    let script = "SELECT 'é';\n\n  SELECT * FROM WHERE";
    assert_eq!(
        syntax_error(script),
        (
            "syntax error at or near \"WHERE\"".into(),
            Position {
                line: 3,
                column: 17
            }
        )
    );
}

#[test]
fn syntax_errors_in_laaster_statements() {
    let script = "SHOW TABLES;\n-- comment\nSUBSCRIBE TO t WITH (snapshot = maybe)";
    assert_eq!(
        syntax_error(script),
        (
            "syntax error at or near \"maybe\"".into(),
            Position {
                line: 3,
                column: 33
            }
        )
    );
    let script = "EXPLAIN\nLOGICAL\nPLAN FOR SELEC 1";
    assert_eq!(
        syntax_error(script),
        (
            "syntax error at or near \"SELEC\"".into(),
            Position {
                line: 3,
                column: 10
            }
        )
    );
    assert_eq!(
        syntax_error("SHOW CREATE INDEX i").0,
        "syntax error at or near \"INDEX\""
    );
}

#[test]
fn syntax_errors_at_end_of_input_and_in_tokens() {
    let (message, position) = syntax_error("SELECT 1;\nSELECT (1 +");
    assert_eq!(message, "syntax error at end of input");
    assert_eq!(
        position,
        Position {
            line: 2,
            column: 12
        }
    );
    let (message, position) = syntax_error("SELECT 1;\nSELECT (1 +;");
    assert_eq!(message, "syntax error at or near \";\"");
    assert_eq!(
        position,
        Position {
            line: 2,
            column: 12
        }
    );
    let (message, position) = syntax_error("SELECT 1;\n  SELECT 'abc");
    assert_eq!(message, "unterminated quoted string at or near \"'abc\"");
    assert_eq!(
        position,
        Position {
            line: 2,
            column: 10
        }
    );
    let (message, position) = syntax_error("SELECT 1 2");
    assert_eq!(message, "syntax error at or near \"2\"");
    assert_eq!(
        position,
        Position {
            line: 1,
            column: 10
        }
    );
}
