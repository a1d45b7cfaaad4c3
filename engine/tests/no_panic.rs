//! No panic, no hang, whatever the SQL: a deterministic, seeded fuzz of the whole engine.
//!
//! Starts an embedded engine with two workers, creates tables holding every type, and
//! runs a few thousand generated statements: random expressions over the supported
//! functions and operators with edge-case literals (extreme integers, `-0.0`, `NaN`,
//! `Infinity`, huge and tiny numerics, unicode with multi-byte and combining characters,
//! NULs, very long strings, malformed dates/intervals/json, invalid regular
//! expressions, ...), deep nesting and very long operator chains, random queries (joins,
//! aggregates, subqueries, set operations, windows, ORDER BY/LIMIT/OFFSET with extreme
//! values), materialized views followed by inserts/updates/deletes, `SUBSCRIBE`, and
//! truncated or garbage SQL.
//!
//! Every statement must come back, within [`DEADLINE`], as rows, a command tag or a clean
//! `ErrorResponse` (any message). A panic on any thread (the session's, the
//! coordinator's, a timely worker's) is recorded by a panic hook and fails the test, as
//! does a statement that does not return in time; the report names the statement. After
//! a failure the engine is replaced (a hung one is leaked) and the run goes on, so one
//! run reports up to [`MAX_FAILURES`] distinct problems.
//!
//! A stack overflow aborts the process before anything can be reported; the statement
//! being executed is therefore also written to `$TMPDIR/laaster_no_panic_current.sql`.
//!
//! Knobs: `LAASTER_FUZZ_SEED` (default fixed), `LAASTER_FUZZ_STATEMENTS` (default
//! [`STATEMENTS`]). The run stops early (successfully) after [`TIME_BUDGET`] so that it
//! stays fast on a loaded machine; it reports how many statements ran.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use laaster_engine::{Engine, EngineConfig, ErrorResponse, ExecuteResult};

const STATEMENTS: usize = 2500;
const DEADLINE: Duration = Duration::from_secs(10);
const TIME_BUDGET: Duration = Duration::from_secs(14);
const MAX_FAILURES: usize = 25;
const DEFAULT_SEED: u64 = 0x1aa5_7e12_f022_2024;

/// Panic messages from every thread, recorded by the hook installed in [`install_hook`].
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>").to_string();
        PANICS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("thread '{name}' {info}"));
        previous(info);
    }));
}

fn take_panics() -> Vec<String> {
    std::mem::take(&mut *PANICS.lock().unwrap_or_else(|e| e.into_inner()))
}

// ---------------------------------------------------------------------------------------
// Deterministic randomness (SplitMix64).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

// ---------------------------------------------------------------------------------------
// Types, columns, literals.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Int,
    Num,
    Float,
    Text,
    Bool,
    Date,
    Ts,
    Interval,
    Jsonb,
    Array,
}

const ALL_TYPES: &[Ty] = &[
    Ty::Int,
    Ty::Num,
    Ty::Float,
    Ty::Text,
    Ty::Bool,
    Ty::Date,
    Ty::Ts,
    Ty::Interval,
    Ty::Jsonb,
    Ty::Array,
];

/// Columns of the fuzzed tables: (name, type).
const T1: &[(&str, Ty)] = &[
    ("id", Ty::Int),
    ("a", Ty::Int),
    ("b", Ty::Int),
    ("c", Ty::Int),
    ("n", Ty::Num),
    ("f", Ty::Float),
    ("s", Ty::Text),
    ("ok", Ty::Bool),
    ("d", Ty::Date),
    ("ts", Ty::Ts),
    ("iv", Ty::Interval),
    ("j", Ty::Jsonb),
    ("arr", Ty::Array),
];
const T1_DDL: &str = "CREATE TABLE t1 (id INT, a SMALLINT, b INT, c BIGINT, n NUMERIC(10,2), \
     f DOUBLE PRECISION, s TEXT, ok BOOLEAN, d DATE, ts TIMESTAMP, iv INTERVAL, j JSONB, arr INT[])";
const T2: &[(&str, Ty)] = &[
    ("id", Ty::Int),
    ("c", Ty::Int),
    ("n", Ty::Num),
    ("f", Ty::Float),
    ("s", Ty::Text),
    ("d", Ty::Date),
    ("ts", Ty::Ts),
    ("j", Ty::Jsonb),
];
const T2_DDL: &str = "CREATE TABLE t2 (id BIGINT PRIMARY KEY, c BIGINT, n NUMERIC(10,2), \
     f FLOAT8, s TEXT NOT NULL DEFAULT 'dflt', d DATE, ts TIMESTAMP, j JSONB)";

const SEED_ROWS: &[&str] = &[
    "INSERT INTO t1 VALUES \
     (1, 1, 10, 100, 1.50, 1.5, 'alpha', true, '2024-01-31', '2024-01-31 12:00:00', '1 day', '{\"a\": 1, \"b\": [1, 2]}', ARRAY[1,2,3]), \
     (2, -32768, 2147483647, 9223372036854775807, 99999999.99, 'NaN', 'héllo wörld', false, '0001-01-01', '2000-02-29 23:59:59.999999', '-1 year 2 mons', '[1, \"two\", null]', '{}'), \
     (3, 32767, -2147483648, -9223372036854775808, -99999999.99, '-Infinity', '', NULL, '9999-12-31', '1970-01-01 00:00:00', '1 mon -1 day 00:00:01', 'null', ARRAY[NULL, 7]::INT[]), \
     (4, 0, 0, 0, 0, -0.0, 'e\u{301}🎉日本', true, '2000-02-29', '1999-12-31 23:59:59', '00:00:00', '\"str\"', ARRAY[2147483647, -2147483648]), \
     (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
     (6, 7, 7, 7, 0.01, 1e308, 'a%b_c\\d', false, '1970-01-01', '2262-04-11 23:47:16', '178000000 years', '{\"a\": {\"b\": {\"c\": [10, 20]}}}', ARRAY[1])",
    "INSERT INTO t2 VALUES \
     (1, 10, 1.50, 2.5, 'alpha', '2024-01-31', '2024-01-31 12:00:00', '{\"a\": 1}'), \
     (2, 9223372036854775807, -0.01, 'Infinity', 'beta', '1999-01-01', '1999-01-01 00:00:00', '[]'), \
     (3, -1, 12345678.90, -1e-300, 'héllo wörld', NULL, NULL, '{\"a\": null}'), \
     (4, NULL, NULL, NULL, 'x', '2000-02-29', '2000-02-29 00:00:00', NULL)",
];

fn columns_of(table: &[(&'static str, Ty)], qualifier: Option<&str>) -> Vec<(String, Ty)> {
    table
        .iter()
        .map(|(name, ty)| match qualifier {
            Some(q) => (format!("{q}.{name}"), *ty),
            None => (name.to_string(), *ty),
        })
        .collect()
}

fn long_string(rng: &mut Rng) -> String {
    let unit = rng.pick(&["x", "é", "日", "🎉", "e\u{301}", "ab"]);
    let n = *rng.pick(&[&100usize, &1000, &10_000, &50_000]);
    format!("'{}'", unit.repeat(n))
}

fn int_literal(rng: &mut Rng) -> String {
    if rng.chance(40) {
        return rng.range(-10, 10).to_string();
    }
    rng.pick(&[
        "0",
        "-1",
        "1",
        "2147483647",
        "-2147483648",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "32767",
        "-32768",
        "65536",
        "(-9223372036854775807 - 1)",
        "CAST(-32768 AS SMALLINT)",
        "32767::SMALLINT",
        "(-2147483648)::INT",
        "9223372036854775807::BIGINT",
        "(-9223372036854775808)::BIGINT",
        "2000000000",
        "1000000",
        "'12'::INT",
        "'  -7 '::INT",
        "'1e3'::INT",
        "'99999999999999999999'::BIGINT",
        "'0x10'::INT",
        "''::INT",
        "'١٢'::INT",
        "NULL::INT",
        "1.5::INT",
        "'NaN'::FLOAT8::INT",
        "1e30::BIGINT",
        "(-0.5)::INT",
        "2.5::SMALLINT",
        "99999.5::SMALLINT",
    ])
    .to_string()
}

fn num_literal(rng: &mut Rng) -> String {
    if rng.chance(30) {
        return format!("{}.{:02}", rng.range(-1000, 1000), rng.below(100));
    }
    rng.pick(&[
        "0.00",
        "-0.0",
        "99999999.99",
        "-99999999.99",
        "0.000000000000000000000000001",
        "0.0000000000000000000000000000000000001",
        "79228162514264337593543950335",
        "-79228162514264337593543950335",
        "792281625142643375935439503350",
        "123456789012345678901234567890.123456789",
        "1e27",
        "1e28",
        "1e-28",
        "1e100",
        "1.5e-30",
        "9999999999999999999999999999",
        "'NaN'::NUMERIC",
        "'Infinity'::NUMERIC",
        "'-inf'::NUMERIC",
        "'1e1000'::NUMERIC",
        "' 1.5 '::NUMERIC",
        "'1.2.3'::NUMERIC",
        "''::NUMERIC",
        "'-'::NUMERIC",
        "'1e-1000'::NUMERIC",
        "1.005::NUMERIC(10,2)",
        "123456789.99::NUMERIC(10,2)",
        "1::NUMERIC(28,28)",
        "1::NUMERIC(1000,2)",
        "1::NUMERIC(2,5)",
        "5::NUMERIC(0,0)",
        "0.5::NUMERIC(1,-3)",
        "'1e28'::NUMERIC",
        "1e308::FLOAT8::NUMERIC",
        "'NaN'::FLOAT8::NUMERIC",
        "9223372036854775807::NUMERIC",
        "NULL::NUMERIC",
    ])
    .to_string()
}

fn float_literal(rng: &mut Rng) -> String {
    if rng.chance(25) {
        return format!("{}.{}::FLOAT8", rng.range(-1000, 1000), rng.below(1000));
    }
    rng.pick(&[
        "0.0::FLOAT8",
        "-0.0::FLOAT8",
        "'-0'::FLOAT8",
        "'NaN'::FLOAT8",
        "'Infinity'::FLOAT8",
        "'-Infinity'::FLOAT8",
        "'inf'::DOUBLE PRECISION",
        "1e308::FLOAT8",
        "1.7976931348623157e308::FLOAT8",
        "'1e309'::FLOAT8",
        "'1e-400'::FLOAT8",
        "5e-324::FLOAT8",
        "1e-308::FLOAT8",
        "'nan'::REAL",
        "3.4e38::REAL",
        "'3.5e38'::REAL",
        "1e-50::REAL",
        "'abc'::FLOAT8",
        "''::FLOAT8",
        "'  2.5e3  '::FLOAT8",
        "9223372036854775807::FLOAT8",
        "NULL::FLOAT8",
    ])
    .to_string()
}

fn text_literal(rng: &mut Rng) -> String {
    if rng.chance(5) {
        return long_string(rng);
    }
    rng.pick(&[
        "''",
        "'a'",
        "'alpha'",
        "'héllo wörld'",
        "'日本語テキスト'",
        "'e\u{301}\u{301}\u{301}'",
        "'🎉👍🏽🇳🇴'",
        "'\u{200b}\u{feff}'",
        "'\u{0}'",
        "E'\\x00'",
        "E'\\u0000'",
        "E'\\xff\\xfe'",
        "E'\\uD800'",
        "E'\\U0010FFFF'",
        "E'\\777'",
        "E'tab\\there\\nnewline'",
        "'it''s'",
        "'%'",
        "'_'",
        "'\\'",
        "'a%b_c\\d'",
        "'%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%a'",
        "'  padded  '",
        "'NULL'",
        "'2024-01-01'",
        "'{\"a\": 1}'",
        "'{1,2,3}'",
        "'1e400'",
        "'-'",
        "'ǅ'",
        "'ß'",
        "'İ'",
        "'ﬃ'",
        "U&'\\0041'",
        "$$dollar$$",
        "NULL::TEXT",
        "CAST(12 AS TEXT)",
        "'x'::VARCHAR(1)",
        "'toolong'::VARCHAR(3)",
        "'abc'::CHAR(2)",
        "'\\x41'::BYTEA::TEXT",
    ])
    .to_string()
}

fn bool_literal(rng: &mut Rng) -> String {
    rng.pick(&[
        "true",
        "false",
        "NULL::BOOLEAN",
        "'t'::BOOLEAN",
        "'yes'::BOOLEAN",
        "'maybe'::BOOLEAN",
        "''::BOOLEAN",
        "1::BOOLEAN",
        "'  off '::BOOL",
    ])
    .to_string()
}

fn date_literal(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return format!(
            "DATE '{:04}-{:02}-{:02}'",
            rng.range(1, 9999),
            rng.range(1, 12),
            rng.range(1, 28)
        );
    }
    rng.pick(&[
        "DATE '2024-02-29'",
        "DATE '2023-02-29'",
        "DATE '0001-01-01'",
        "DATE '9999-12-31'",
        "'4713-01-01 BC'::DATE",
        "'4714-11-24 BC'::DATE",
        "'4715-01-01 BC'::DATE",
        "'5874897-12-31'::DATE",
        "'5874898-01-01'::DATE",
        "'294276-12-31'::DATE",
        "'infinity'::DATE",
        "'-infinity'::DATE",
        "'epoch'::DATE",
        "'today'::DATE",
        "'2024-13-01'::DATE",
        "'2024-00-10'::DATE",
        "'2024-1-1'::DATE",
        "'20240101'::DATE",
        "'99999999-01-01'::DATE",
        "'0000-01-01'::DATE",
        "''::DATE",
        "'garbage'::DATE",
        "'2024-01-01 12:00'::DATE",
        "'2024-02-31'::DATE",
        "'-2024-01-01'::DATE",
        "'2024-01-01abc'::DATE",
        "'２０２４-01-01'::DATE",
        "current_date",
        "NULL::DATE",
    ])
    .to_string()
}

fn ts_literal(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return format!(
            "TIMESTAMP '{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{}'",
            rng.range(1, 9999),
            rng.range(1, 12),
            rng.range(1, 28),
            rng.range(0, 23),
            rng.range(0, 59),
            rng.range(0, 59),
            rng.range(0, 999_999)
        );
    }
    rng.pick(&[
        "TIMESTAMP '2024-01-01 12:34:56.789'",
        "TIMESTAMP '1970-01-01 00:00:00'",
        "'294276-12-31 23:59:59.999999'::TIMESTAMP",
        "'294277-01-01 00:00:00'::TIMESTAMP",
        "'4714-11-24 00:00:00 BC'::TIMESTAMP",
        "'4714-11-23 23:59:59 BC'::TIMESTAMP",
        "'infinity'::TIMESTAMP",
        "'-infinity'::TIMESTAMP",
        "'epoch'::TIMESTAMP",
        "'2024-01-01 25:00:00'::TIMESTAMP",
        "'2024-01-01 23:60:00'::TIMESTAMP",
        "'2024-01-01 23:59:60'::TIMESTAMP",
        "'2024-01-01T00:00:00Z'::TIMESTAMP",
        "'2024-01-01 00:00:00+05:30'::TIMESTAMPTZ",
        "'2024-01-01 00:00:00+99:99'::TIMESTAMPTZ",
        "'1999-01-08 04:05:06.1234567'::TIMESTAMP",
        "'1999-01-08 04:05:06.99999999999999999999'::TIMESTAMP",
        "'2024-01-01 12:00:00.'::TIMESTAMP",
        "''::TIMESTAMP",
        "'now'::TIMESTAMP",
        "'12:00'::TIMESTAMP",
        "'2024-01-01 12'::TIMESTAMP",
        "'9999999-01-01'::TIMESTAMP",
        "now()",
        "current_timestamp",
        "NULL::TIMESTAMP",
    ])
    .to_string()
}

fn interval_literal(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return format!(
            "INTERVAL '{} days {} hours'",
            rng.range(-1000, 1000),
            rng.range(-100, 100)
        );
    }
    rng.pick(&[
        "INTERVAL '1 day'",
        "INTERVAL '-1 day'",
        "INTERVAL '1 year 2 months 3 days 04:05:06.789'",
        "INTERVAL '178000000 years'",
        "INTERVAL '178956970 years 7 months'",
        "INTERVAL '-178956970 years -8 months'",
        "'178956971 years'::INTERVAL",
        "'2147483647 days'::INTERVAL",
        "'2147483648 days'::INTERVAL",
        "'-2147483648 months'::INTERVAL",
        "'2147483647 months 2147483647 days'::INTERVAL",
        "'9223372036854775807 microseconds'::INTERVAL",
        "'9223372036854775808 microseconds'::INTERVAL",
        "'2562047788 hours'::INTERVAL",
        "'2562047789 hours'::INTERVAL",
        "'153722867280 minutes'::INTERVAL",
        "'100000000000000 hours'::INTERVAL",
        "'1e10 seconds'::INTERVAL",
        "'1.5 months'::INTERVAL",
        "'0.000001 seconds'::INTERVAL",
        "'1.9999999 seconds'::INTERVAL",
        "'P1Y2M3DT4H5M6S'::INTERVAL",
        "'P-1Y'::INTERVAL",
        "'PT'::INTERVAL",
        "'@ 1 minute ago'::INTERVAL",
        "'1 fortnight'::INTERVAL",
        "'1 millennium 1 century 1 decade'::INTERVAL",
        "'99999 millennium'::INTERVAL",
        "'1 week'::INTERVAL",
        "'00:00:00'::INTERVAL",
        "'-00:00:01'::INTERVAL",
        "'99999999:00:00'::INTERVAL",
        "'25:61:61'::INTERVAL",
        "''::INTERVAL",
        "'1'::INTERVAL",
        "'day'::INTERVAL",
        "'1 day 1 day'::INTERVAL",
        "'1 dayz'::INTERVAL",
        "'- 1 day'::INTERVAL",
        "NULL::INTERVAL",
    ])
    .to_string()
}

fn jsonb_literal(rng: &mut Rng) -> String {
    if rng.chance(3) {
        let depth = *rng.pick(&[&100usize, &127, &128, &129, &1000, &20_000]);
        return format!("'{}{}'::JSONB", "[".repeat(depth), "]".repeat(depth));
    }
    if rng.chance(3) {
        let depth = *rng.pick(&[&100usize, &200, &5000]);
        return format!("'{}1{}'::JSONB", "{\"a\":".repeat(depth), "}".repeat(depth));
    }
    rng.pick(&[
        "'{}'::JSONB",
        "'[]'::JSONB",
        "'null'::JSONB",
        "'{\"a\": 1, \"b\": [1, 2, {\"c\": \"d\"}]}'::JSONB",
        "'{\"a\": 1, \"a\": 2}'::JSONB",
        "'1e400'::JSONB",
        "'-0'::JSONB",
        "'1.0e-400'::JSONB",
        "'123456789012345678901234567890'::JSONB",
        "'\"\\u0000\"'::JSONB",
        "'\"\\ud800\"'::JSONB",
        "'\"\\uDFFF\\uD800\"'::JSONB",
        "'\"é日🎉\"'::JSONB",
        "'{'::JSONB",
        "'{\"a\":}'::JSONB",
        "'[1,]'::JSONB",
        "''::JSONB",
        "'nul'::JSONB",
        "'{\"a\": NaN}'::JSONB",
        "'[1, 2' ::JSONB",
        "'true false'::JSONB",
        "'  {\"k\" : \"v\"}  '::JSONB",
        "'{\"\": {\"\": []}}'::JSONB",
        "NULL::JSONB",
    ])
    .to_string()
}

fn array_literal(rng: &mut Rng) -> String {
    rng.pick(&[
        "ARRAY[1, 2, 3]",
        "ARRAY[]::INT[]",
        "'{}'::INT[]",
        "'{1,2,3}'::INT[]",
        "'{1,NULL,3}'::INT[]",
        "ARRAY[NULL]::INT[]",
        "ARRAY[2147483647, -2147483648]",
        "'{1,{2}}'::INT[]",
        "'{{1,2},{3,4}}'::INT[]",
        "'{a,b}'::INT[]",
        "'{'::INT[]",
        "'1,2'::INT[]",
        "'{2147483648}'::INT[]",
        "'[1:2]={1,2}'::INT[]",
        "ARRAY[ARRAY[1,2],ARRAY[3]]",
        "NULL::INT[]",
    ])
    .to_string()
}

fn literal(rng: &mut Rng, ty: Ty) -> String {
    if rng.chance(4) {
        return "NULL".to_string();
    }
    match ty {
        Ty::Int => int_literal(rng),
        Ty::Num => num_literal(rng),
        Ty::Float => float_literal(rng),
        Ty::Text => text_literal(rng),
        Ty::Bool => bool_literal(rng),
        Ty::Date => date_literal(rng),
        Ty::Ts => ts_literal(rng),
        Ty::Interval => interval_literal(rng),
        Ty::Jsonb => jsonb_literal(rng),
        Ty::Array => array_literal(rng),
    }
}

const REGEXES: &[&str] = &[
    "'a'",
    "'.*'",
    "'^$'",
    "'(a*)*b'",
    "'\\d+'",
    "'(\\w+)\\s(\\w+)'",
    "'('",
    "'['",
    "')'",
    "'a{2,1}'",
    "'a{1000000}'",
    "'(x{1000}){1000}'",
    "'\\'",
    "'[[:alpha:]]+'",
    "'(?i)É'",
    "'\\p{Greek}'",
    "'(?P<n>l)'",
    "'(a)\\1'",
    "'(?=a)'",
    "'.'",
    "''",
    "'\\b'",
    "'[^]'",
    "'*'",
    "'x**'",
    "'\u{301}'",
];

const TO_CHAR_FORMATS: &[&str] = &[
    "'YYYY-MM-DD HH24:MI:SS.US'",
    "'FMDay, DDth FMMonth YYYY'",
    "'Q WW IW J DDD D ID IYYY'",
    "'HH12:MI AM PM a.m.'",
    "'MS US FF1 FF6 TZ OF SSSS'",
    "'9999.99'",
    "'FM999,999,999.00'",
    "'S9.99EEEE'",
    "'RN'",
    "'rn'",
    "'FMRN'",
    "'999th'",
    "'PL999MI'",
    "'0000V99'",
    "'9G9D9'",
    "'999999999999999999999999999999999999999999999999'",
    "'.999999999999999999999999999999'",
    "'\"text\" YYYY \"unterminated'",
    "'\\'",
    "''",
    "'Y,YYY CC BC AD b.c.'",
    "'TMMonth TMDay'",
    "'é日🎉 YYYY'",
    "'FXYYYY'",
    "'SP'",
];

const DATE_UNITS: &[&str] = &[
    "'microseconds'",
    "'milliseconds'",
    "'second'",
    "'minute'",
    "'hour'",
    "'day'",
    "'week'",
    "'month'",
    "'quarter'",
    "'year'",
    "'decade'",
    "'century'",
    "'millennium'",
    "'DAY'",
    "'fortnight'",
    "''",
    "'días'",
];

const EXTRACT_FIELDS: &[&str] = &[
    "YEAR",
    "MONTH",
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "MICROSECONDS",
    "MILLISECONDS",
    "EPOCH",
    "DOW",
    "DOY",
    "ISODOW",
    "ISOYEAR",
    "WEEK",
    "QUARTER",
    "DECADE",
    "CENTURY",
    "MILLENNIUM",
    "JULIAN",
    "TIMEZONE",
];

// ---------------------------------------------------------------------------------------
// Expressions.

struct Gen<'a> {
    rng: &'a mut Rng,
    /// Columns in scope (possibly qualified), with their types.
    cols: Vec<(String, Ty)>,
    /// Whether subqueries may appear (kept off inside views some of the time).
    subqueries: bool,
}

impl Gen<'_> {
    fn column(&mut self, ty: Ty) -> Option<String> {
        let matching: Vec<&String> = self
            .cols
            .iter()
            .filter(|(_, t)| *t == ty)
            .map(|(n, _)| n)
            .collect();
        if matching.is_empty() {
            None
        } else {
            Some(matching[self.rng.below(matching.len())].clone())
        }
    }

    fn one_of(&mut self, types: &[Ty]) -> Ty {
        types[self.rng.below(types.len())]
    }

    fn any_type(&mut self) -> Ty {
        ALL_TYPES[self.rng.below(ALL_TYPES.len())]
    }

    fn leaf(&mut self, ty: Ty) -> String {
        if self.rng.chance(60)
            && let Some(c) = self.column(ty)
        {
            return c;
        }
        literal(self.rng, ty)
    }

    /// An expression of (roughly) type `ty`; sometimes deliberately ill-typed.
    fn expr(&mut self, ty: Ty, depth: u32) -> String {
        if depth == 0 || self.rng.chance(25) {
            return self.leaf(ty);
        }
        if self.rng.chance(3) {
            // Ill-typed on purpose: any expression, cast or not.
            let other = self.any_type();
            let e = self.expr(other, depth - 1);
            return if self.rng.chance(50) {
                format!("CAST({e} AS {})", sql_type(ty))
            } else {
                e
            };
        }
        let d = depth - 1;
        match self.rng.below(6) {
            0 => self.generic(ty, d),
            _ => match ty {
                Ty::Int => self.int_expr(d),
                Ty::Num => self.num_expr(d),
                Ty::Float => self.float_expr(d),
                Ty::Text => self.text_expr(d),
                Ty::Bool => self.bool_expr(d),
                Ty::Date => self.date_expr(d),
                Ty::Ts => self.ts_expr(d),
                Ty::Interval => self.interval_expr(d),
                Ty::Jsonb => self.jsonb_expr(d),
                Ty::Array => self.array_expr(d),
            },
        }
    }

    /// Constructs that work at any type.
    fn generic(&mut self, ty: Ty, d: u32) -> String {
        match self.rng.below(9) {
            0 => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                self.expr(Ty::Bool, d),
                self.expr(ty, d),
                self.expr(ty, d)
            ),
            1 => format!("coalesce({}, {})", self.expr(ty, d), self.expr(ty, d)),
            2 => format!("nullif({}, {})", self.expr(ty, d), self.expr(ty, d)),
            3 => format!(
                "greatest({}, {}, {})",
                self.expr(ty, d),
                self.expr(ty, d),
                self.expr(ty, d)
            ),
            4 => format!("least({}, {})", self.expr(ty, d), self.expr(ty, d)),
            5 => format!("({})", self.expr(ty, d)),
            6 => {
                let from = self.any_type();
                format!("CAST({} AS {})", self.expr(from, d), sql_type(ty))
            }
            7 => {
                let from = self.any_type();
                format!("({})::TEXT::{}", self.expr(from, d), sql_type(ty))
            }
            _ if self.subqueries => {
                let col = self.column_or_literal_from_t2(ty);
                format!(
                    "(SELECT {col} FROM t2 ORDER BY 1 LIMIT {})",
                    self.rng.pick(&["1", "2", "0", "-1"])
                )
            }
            _ => self.leaf(ty),
        }
    }

    fn column_or_literal_from_t2(&mut self, ty: Ty) -> String {
        let matching: Vec<&str> = T2
            .iter()
            .filter(|(_, t)| *t == ty)
            .map(|(n, _)| *n)
            .collect();
        if matching.is_empty() {
            literal(self.rng, ty)
        } else {
            format!("t2.{}", matching[self.rng.below(matching.len())])
        }
    }

    fn int_expr(&mut self, d: u32) -> String {
        match self.rng.below(24) {
            0..=4 => {
                let op = self.rng.pick(&["+", "-", "*", "/", "%"]);
                format!("({} {op} {})", self.expr(Ty::Int, d), self.expr(Ty::Int, d))
            }
            5 => format!("(-{})", self.expr(Ty::Int, d)),
            6 => format!("abs({})", self.expr(Ty::Int, d)),
            7 => format!("mod({}, {})", self.expr(Ty::Int, d), self.expr(Ty::Int, d)),
            8 => format!("sign({})", self.expr(Ty::Int, d)),
            9 => format!(
                "{}({})",
                self.rng
                    .pick(&["length", "char_length", "octet_length", "character_length"]),
                self.expr(Ty::Text, d)
            ),
            10 => format!(
                "position({} IN {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d)
            ),
            11 => format!(
                "strpos({}, {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d)
            ),
            12 => format!(
                "array_length({}, {})",
                self.expr(Ty::Array, d),
                self.expr(Ty::Int, d)
            ),
            13 => format!("cardinality({})", self.expr(Ty::Array, d)),
            14 => format!("({})[{}]", self.expr(Ty::Array, d), self.expr(Ty::Int, d)),
            15 => format!("({} - {})", self.expr(Ty::Date, d), self.expr(Ty::Date, d)),
            16 => format!("(({}) ->> 'a')::INT", self.expr(Ty::Jsonb, d)),
            17 => format!("CAST({} AS BIGINT)", self.expr(Ty::Num, d)),
            18 => format!("CAST({} AS SMALLINT)", self.expr(Ty::Float, d)),
            19 => format!(
                "EXTRACT({} FROM {})::BIGINT",
                self.rng.pick(EXTRACT_FIELDS),
                self.expr(Ty::Ts, d)
            ),
            20 => format!("{}::INT", self.expr(Ty::Text, d)),
            21 => format!(
                "({} {} {})",
                self.expr(Ty::Int, d),
                self.rng.pick(&["&", "|", "#", "<<", ">>", "^"]),
                self.expr(Ty::Int, d)
            ),
            22 => format!("(~{})", self.expr(Ty::Int, d)),
            _ => format!("CAST({} AS INT)", self.expr(Ty::Int, d)),
        }
    }

    fn num_expr(&mut self, d: u32) -> String {
        match self.rng.below(20) {
            0..=3 => {
                let op = self.rng.pick(&["+", "-", "*", "/", "%", "^"]);
                format!("({} {op} {})", self.expr(Ty::Num, d), self.expr(Ty::Num, d))
            }
            4 => format!(
                "round({}, {})",
                self.expr(Ty::Num, d),
                self.expr(Ty::Int, d)
            ),
            5 => format!(
                "trunc({}, {})",
                self.expr(Ty::Num, d),
                self.expr(Ty::Int, d)
            ),
            6 => format!(
                "{}({})",
                self.rng.pick(&[
                    "round", "trunc", "floor", "ceil", "ceiling", "abs", "sign", "sqrt", "ln",
                    "log", "log10", "exp"
                ]),
                self.expr(Ty::Num, d)
            ),
            7 => format!(
                "{}({}, {})",
                self.rng.pick(&["power", "pow", "mod", "log"]),
                self.expr(Ty::Num, d),
                self.expr(Ty::Num, d)
            ),
            8 => format!("({} * {})", self.expr(Ty::Num, d), self.expr(Ty::Int, d)),
            9 => format!("({} / {})", self.expr(Ty::Int, d), self.expr(Ty::Num, d)),
            10 => format!("CAST({} AS NUMERIC)", self.expr(Ty::Float, d)),
            11 => format!("CAST({} AS NUMERIC(10,2))", self.expr(Ty::Num, d)),
            12 => format!("{}::NUMERIC", self.expr(Ty::Text, d)),
            13 => format!("EXTRACT({} FROM {})", self.rng.pick(EXTRACT_FIELDS), {
                let t = self.one_of(&[Ty::Ts, Ty::Date, Ty::Interval, Ty::Text]);
                self.expr(t, d)
            }),
            14 => format!("(-{})", self.expr(Ty::Num, d)),
            15 => format!("(({}) -> 'a')::NUMERIC", self.expr(Ty::Jsonb, d)),
            16 => format!(
                "round({}, {})",
                self.expr(Ty::Num, d),
                int_literal(self.rng)
            ),
            17 => format!(
                "power({}, {})",
                self.expr(Ty::Num, d),
                int_literal(self.rng)
            ),
            _ => format!("({} + 0.001)", self.expr(Ty::Num, d)),
        }
    }

    fn float_expr(&mut self, d: u32) -> String {
        match self.rng.below(12) {
            0..=3 => {
                let op = self.rng.pick(&["+", "-", "*", "/", "^"]);
                format!(
                    "({} {op} {})",
                    self.expr(Ty::Float, d),
                    self.expr(Ty::Float, d)
                )
            }
            4 => format!(
                "{}({})",
                self.rng.pick(&[
                    "round", "trunc", "floor", "ceil", "abs", "sign", "sqrt", "ln", "log", "log10",
                    "exp"
                ]),
                self.expr(Ty::Float, d)
            ),
            5 => format!(
                "{}({}, {})",
                self.rng.pick(&["power", "mod", "round"]),
                self.expr(Ty::Float, d),
                self.expr(Ty::Float, d)
            ),
            6 => format!(
                "date_part({}, {})",
                self.rng.pick(&[
                    "'epoch'",
                    "'year'",
                    "'second'",
                    "'julian'",
                    "'dow'",
                    "'nonsense'",
                    "''"
                ]),
                {
                    let t = self.one_of(&[Ty::Ts, Ty::Date, Ty::Interval]);
                    self.expr(t, d)
                }
            ),
            7 => format!("CAST({} AS DOUBLE PRECISION)", self.expr(Ty::Num, d)),
            8 => format!("{}::FLOAT8", self.expr(Ty::Int, d)),
            9 => format!("{}::REAL", self.expr(Ty::Float, d)),
            10 => format!("(-{})", self.expr(Ty::Float, d)),
            _ => format!("({} * {})", self.expr(Ty::Float, d), self.expr(Ty::Int, d)),
        }
    }

    fn text_expr(&mut self, d: u32) -> String {
        match self.rng.below(30) {
            0 => format!(
                "{}({})",
                self.rng
                    .pick(&["lower", "upper", "btrim", "ltrim", "rtrim"]),
                self.expr(Ty::Text, d)
            ),
            1 => format!(
                "substring({} FROM {} FOR {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Int, d),
                self.expr(Ty::Int, d)
            ),
            2 => format!(
                "substring({}, {}, {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Int, d),
                self.expr(Ty::Int, d)
            ),
            3 => format!(
                "substr({}, {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Int, d)
            ),
            4 => format!(
                "substring({} FROM {})",
                self.expr(Ty::Text, d),
                self.rng.pick(REGEXES)
            ),
            5 => format!(
                "concat({}, {}, {})",
                self.expr(Ty::Text, d),
                {
                    let t = self.any_type();
                    self.expr(t, d)
                },
                self.expr(Ty::Text, d)
            ),
            6 => format!("({} || {})", self.expr(Ty::Text, d), {
                let t = self.any_type();
                self.expr(t, d)
            }),
            7 => format!(
                "replace({}, {}, {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d)
            ),
            8 => format!(
                "split_part({}, {}, {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d),
                self.expr(Ty::Int, d)
            ),
            9 => format!(
                "{}({}, {})",
                self.rng.pick(&["left", "right"]),
                self.expr(Ty::Text, d),
                self.expr(Ty::Int, d)
            ),
            10 => format!(
                "{}({}, {}, {})",
                self.rng.pick(&["lpad", "rpad"]),
                self.expr(Ty::Text, d),
                self.expr(Ty::Int, d),
                self.expr(Ty::Text, d)
            ),
            11 => format!(
                "{}({}, {})",
                self.rng.pick(&["lpad", "rpad"]),
                self.expr(Ty::Text, d),
                self.rng.pick(&[
                    "2000000000",
                    "2147483647",
                    "-5",
                    "0",
                    "100000",
                    "-2147483648",
                    "1073741824"
                ])
            ),
            12 => format!(
                "regexp_replace({}, {}, {})",
                self.expr(Ty::Text, d),
                self.rng.pick(REGEXES),
                self.expr(Ty::Text, d)
            ),
            13 => format!(
                "regexp_replace({}, {}, {}, {})",
                self.expr(Ty::Text, d),
                self.rng.pick(REGEXES),
                self.rng
                    .pick(&["'\\1'", "'$1'", "'\\\\'", "'x'", "'$'", "'${name}'"]),
                self.rng
                    .pick(&["'g'", "'i'", "'gi'", "'x'", "'z'", "''", "'gggg'"])
            ),
            14 => format!(
                "(regexp_match({}, {}))[{}]",
                self.expr(Ty::Text, d),
                self.rng.pick(REGEXES),
                self.expr(Ty::Int, d)
            ),
            15 => format!(
                "array_length(regexp_match({}, {}, {}), 1)::TEXT",
                self.expr(Ty::Text, d),
                self.rng.pick(REGEXES),
                self.rng.pick(&["'i'", "'g'", "''", "'q'"])
            ),
            16 => format!(
                "trim({} {} FROM {})",
                self.rng.pick(&["BOTH", "LEADING", "TRAILING"]),
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d)
            ),
            17 => format!(
                "to_char({}, {})",
                self.expr(Ty::Ts, d),
                self.rng.pick(TO_CHAR_FORMATS)
            ),
            18 => format!(
                "to_char({}, {})",
                {
                    let t = self.one_of(&[Ty::Int, Ty::Num, Ty::Float, Ty::Interval, Ty::Date]);
                    self.expr(t, d)
                },
                self.rng.pick(TO_CHAR_FORMATS)
            ),
            19 => format!(
                "to_char({}, {})",
                self.expr(Ty::Ts, d),
                self.expr(Ty::Text, d)
            ),
            20 => format!("(({}) ->> {})", self.expr(Ty::Jsonb, d), self.json_key(d)),
            21 => format!("CAST({} AS TEXT)", {
                let t = self.any_type();
                self.expr(t, d)
            }),
            22 => format!("({}) -> {}", self.expr(Ty::Jsonb, d), self.json_key(d)) + "::TEXT",
            23 => format!("{}::VARCHAR(5)", self.expr(Ty::Text, d)),
            24 => format!(
                "{}({}, {})",
                self.rng.pick(&["btrim", "ltrim", "rtrim"]),
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d)
            ),
            25 => format!(
                "substring({} FROM {} FOR {})",
                self.expr(Ty::Text, d),
                int_literal(self.rng),
                int_literal(self.rng)
            ),
            26 => format!(
                "substr({}, {}, {})",
                self.expr(Ty::Text, d),
                int_literal(self.rng),
                int_literal(self.rng)
            ),
            27 => format!(
                "{}({}, {})",
                self.rng.pick(&["left", "right"]),
                self.expr(Ty::Text, d),
                int_literal(self.rng)
            ),
            28 => format!(
                "split_part({}, {}, {})",
                self.expr(Ty::Text, d),
                self.rng.pick(&["''", "' '", "'é'", "'l'"]),
                int_literal(self.rng)
            ),
            _ => format!("date_trunc({}, {})::TEXT", self.rng.pick(DATE_UNITS), {
                let t = *self.rng.pick(&[&Ty::Ts, &Ty::Interval, &Ty::Date]);
                self.expr(t, d)
            }),
        }
    }

    fn json_key(&mut self, d: u32) -> String {
        match self.rng.below(4) {
            0 => self.expr(Ty::Int, d),
            1 => self.expr(Ty::Text, d),
            _ => self
                .rng
                .pick(&[
                    "'a'",
                    "'b'",
                    "0",
                    "1",
                    "-1",
                    "-2147483648",
                    "9223372036854775807",
                    "''",
                    "'é'",
                ])
                .to_string(),
        }
    }

    fn bool_expr(&mut self, d: u32) -> String {
        match self.rng.below(18) {
            0..=3 => {
                let t = self.any_type();
                let op =
                    self.rng
                        .pick(&["=", "<>", "<", "<=", ">", ">=", "!=", "IS DISTINCT FROM"]);
                format!("({} {op} {})", self.expr(t, d), self.expr(t, d))
            }
            4 => format!(
                "({} {} {})",
                self.expr(Ty::Bool, d),
                self.rng.pick(&["AND", "OR"]),
                self.expr(Ty::Bool, d)
            ),
            5 => format!("(NOT {})", self.expr(Ty::Bool, d)),
            6 => {
                let t = self.any_type();
                format!(
                    "({} IS {}NULL)",
                    self.expr(t, d),
                    self.rng.pick(&["", "NOT "])
                )
            }
            7 => {
                let t = self.any_type();
                format!(
                    "({} {}BETWEEN {} AND {})",
                    self.expr(t, d),
                    self.rng.pick(&["", "NOT "]),
                    self.expr(t, d),
                    self.expr(t, d)
                )
            }
            8 => {
                let t = self.any_type();
                format!(
                    "({} {}IN ({}, {}, {}))",
                    self.expr(t, d),
                    self.rng.pick(&["", "NOT "]),
                    self.expr(t, d),
                    self.expr(t, d),
                    self.leaf(t)
                )
            }
            9 => format!(
                "({} {} {})",
                self.expr(Ty::Text, d),
                self.rng.pick(&[
                    "LIKE",
                    "ILIKE",
                    "NOT LIKE",
                    "NOT ILIKE",
                    "~",
                    "~*",
                    "SIMILAR TO"
                ]),
                self.rng.pick(&[
                    "'%'",
                    "'_'",
                    "'a%'",
                    "'%\\'",
                    "'\\%'",
                    "'%é_'",
                    "'%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%b'",
                    "'_%_%_%_%_%_%_%_%_%_%_%_%_%_%'",
                    "'\\'",
                    "'['",
                    "''",
                    "'(a*)*'"
                ])
            ),
            10 => format!(
                "({} LIKE {} ESCAPE {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d),
                self.rng.pick(&["'!'", "''", "'ab'"])
            ),
            11 => format!(
                "starts_with({}, {})",
                self.expr(Ty::Text, d),
                self.expr(Ty::Text, d)
            ),
            12 if self.subqueries => format!(
                "{}EXISTS (SELECT 1 FROM t2 WHERE t2.c > {})",
                self.rng.pick(&["", "NOT "]),
                self.expr(Ty::Int, d)
            ),
            13 if self.subqueries => format!(
                "({} {}IN (SELECT c FROM t2))",
                self.expr(Ty::Int, d),
                self.rng.pick(&["", "NOT "])
            ),
            14 => format!(
                "({} IS {}TRUE)",
                self.expr(Ty::Bool, d),
                self.rng.pick(&["", "NOT "])
            ),
            15 => format!(
                "({} = ANY({}))",
                self.expr(Ty::Int, d),
                self.expr(Ty::Array, d)
            ),
            _ => self.leaf(Ty::Bool),
        }
    }

    fn date_expr(&mut self, d: u32) -> String {
        match self.rng.below(6) {
            0 => format!(
                "({} {} {})",
                self.expr(Ty::Date, d),
                self.rng.pick(&["+", "-"]),
                self.expr(Ty::Int, d)
            ),
            1 => format!("({} + {})", self.expr(Ty::Int, d), self.expr(Ty::Date, d)),
            2 => format!("CAST({} AS DATE)", self.expr(Ty::Ts, d)),
            3 => format!("{}::DATE", self.expr(Ty::Text, d)),
            4 => format!(
                "date_trunc({}, {})::DATE",
                self.rng.pick(DATE_UNITS),
                self.expr(Ty::Date, d)
            ),
            _ => self.leaf(Ty::Date),
        }
    }

    fn ts_expr(&mut self, d: u32) -> String {
        match self.rng.below(7) {
            0 | 1 => format!(
                "({} {} {})",
                self.expr(Ty::Ts, d),
                self.rng.pick(&["+", "-"]),
                self.expr(Ty::Interval, d)
            ),
            2 => format!(
                "({} + {})",
                self.expr(Ty::Date, d),
                self.expr(Ty::Interval, d)
            ),
            3 => format!(
                "date_trunc({}, {})",
                self.rng.pick(DATE_UNITS),
                self.expr(Ty::Ts, d)
            ),
            4 => format!("{}::TIMESTAMP", self.expr(Ty::Text, d)),
            5 => format!("CAST({} AS TIMESTAMP)", self.expr(Ty::Date, d)),
            _ => format!("({} + TIME '12:34:56')", self.expr(Ty::Date, d)),
        }
    }

    fn interval_expr(&mut self, d: u32) -> String {
        match self.rng.below(8) {
            0 => format!(
                "({} {} {})",
                self.expr(Ty::Interval, d),
                self.rng.pick(&["+", "-"]),
                self.expr(Ty::Interval, d)
            ),
            1 => format!(
                "({} {} {})",
                self.expr(Ty::Interval, d),
                self.rng.pick(&["*", "/"]),
                {
                    let t = self.one_of(&[Ty::Int, Ty::Float, Ty::Num]);
                    self.expr(t, d)
                }
            ),
            2 => format!("({} - {})", self.expr(Ty::Ts, d), self.expr(Ty::Ts, d)),
            3 => format!("(-{})", self.expr(Ty::Interval, d)),
            4 => format!("{}::INTERVAL", self.expr(Ty::Text, d)),
            5 => format!(
                "date_trunc({}, {})",
                self.rng.pick(DATE_UNITS),
                self.expr(Ty::Interval, d)
            ),
            6 => format!(
                "({} * {})",
                self.expr(Ty::Int, d),
                self.expr(Ty::Interval, d)
            ),
            _ => format!(
                "({} * INTERVAL '1 day')",
                self.rng.pick(&[
                    "2147483647",
                    "-2147483648",
                    "1e300",
                    "'NaN'::FLOAT8",
                    "'Infinity'::FLOAT8",
                    "9223372036854775807"
                ])
            ),
        }
    }

    fn jsonb_expr(&mut self, d: u32) -> String {
        match self.rng.below(4) {
            0 => format!("(({}) -> {})", self.expr(Ty::Jsonb, d), self.json_key(d)),
            1 => format!("{}::JSONB", self.expr(Ty::Text, d)),
            2 => format!(
                "((({}) -> {}) -> {})",
                self.expr(Ty::Jsonb, d),
                self.json_key(d),
                self.json_key(d)
            ),
            _ => self.leaf(Ty::Jsonb),
        }
    }

    fn array_expr(&mut self, d: u32) -> String {
        match self.rng.below(4) {
            0 => format!(
                "ARRAY[{}, {}]",
                self.expr(Ty::Int, d),
                self.expr(Ty::Int, d)
            ),
            1 => format!("{}::INT[]", self.expr(Ty::Text, d)),
            2 => format!("ARRAY[{}]", self.expr(Ty::Array, d)),
            _ => self.leaf(Ty::Array),
        }
    }

    fn any_expr(&mut self, depth: u32) -> String {
        let t = self.any_type();
        self.expr(t, depth)
    }
}

fn sql_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Int => "BIGINT",
        Ty::Num => "NUMERIC(10,2)",
        Ty::Float => "DOUBLE PRECISION",
        Ty::Text => "TEXT",
        Ty::Bool => "BOOLEAN",
        Ty::Date => "DATE",
        Ty::Ts => "TIMESTAMP",
        Ty::Interval => "INTERVAL",
        Ty::Jsonb => "JSONB",
        Ty::Array => "INT[]",
    }
}

// ---------------------------------------------------------------------------------------
// Statements.

const EXTREME_COUNTS: &[&str] = &[
    "0",
    "1",
    "3",
    "-1",
    "-9223372036854775808",
    "9223372036854775807",
    "9223372036854775808",
    "2147483648",
    "4294967296",
    "1e30",
    "NULL",
    "'a'",
    "'5'",
    "2.5",
    "(SELECT 2)",
    "1 + 1",
    "-0",
];

struct Fuzzer {
    rng: Rng,
    /// Live materialized views (name, columns).
    views: Vec<String>,
    next_view: usize,
}

impl Fuzzer {
    fn exprs(&mut self, cols: Vec<(String, Ty)>, subqueries: bool) -> Gen<'_> {
        Gen {
            rng: &mut self.rng,
            cols,
            subqueries,
        }
    }

    fn depth(&mut self) -> u32 {
        *self.rng.pick(&[&1u32, &2, &3, &3, &4, &5])
    }

    /// A SELECT over t1 (or nothing), random projections, filter, order, limit.
    fn simple_select(&mut self, from_table: bool) -> String {
        let depth = self.depth();
        let cols = if from_table {
            columns_of(T1, None)
        } else {
            Vec::new()
        };
        let subqueries = self.rng.chance(70);
        let mut g = self.exprs(cols, subqueries);
        let n = 1 + g.rng.below(3);
        let items: Vec<String> = (0..n).map(|_| g.any_expr(depth)).collect();
        let mut sql = format!("SELECT {}", items.join(", "));
        if from_table {
            sql.push_str(" FROM t1");
            if g.rng.chance(60) {
                let _ = write!(sql, " WHERE {}", g.expr(Ty::Bool, depth));
            }
        }
        if g.rng.chance(40) {
            let _ = write!(
                sql,
                " ORDER BY {}{}",
                g.rng
                    .pick(&["1", "2", "0", "99", "-1", "1 DESC", "1 NULLS FIRST"]),
                if from_table { ", id" } else { "" }
            );
        }
        if g.rng.chance(30) {
            let _ = write!(sql, " LIMIT {}", g.rng.pick(EXTREME_COUNTS));
        }
        if g.rng.chance(20) {
            let _ = write!(sql, " OFFSET {}", g.rng.pick(EXTREME_COUNTS));
        }
        sql
    }

    fn join_select(&mut self) -> String {
        let depth = self.depth().min(3);
        let mut cols = columns_of(T1, Some("x"));
        cols.extend(columns_of(T2, Some("y")));
        let kind = self.rng.pick(&[
            "JOIN",
            "LEFT JOIN",
            "RIGHT JOIN",
            "FULL JOIN",
            "INNER JOIN",
            "CROSS JOIN",
        ]);
        let mut g = self.exprs(cols, false);
        let on = match g.rng.below(4) {
            0 => "ON x.id = y.id".to_string(),
            1 => format!("ON {}", g.expr(Ty::Bool, depth)),
            2 => format!("ON x.c = y.c AND {}", g.expr(Ty::Bool, 1)),
            _ => "ON x.s = y.s".to_string(),
        };
        let on = if kind == "CROSS JOIN" {
            String::new()
        } else {
            on
        };
        let items: Vec<String> = (0..2).map(|_| g.any_expr(depth)).collect();
        let mut sql = format!("SELECT {} FROM t1 x {kind} t2 y {on}", items.join(", "));
        if g.rng.chance(40) {
            let _ = write!(sql, " WHERE {}", g.expr(Ty::Bool, depth));
        }
        if g.rng.chance(30) {
            let _ = write!(sql, " LIMIT {}", g.rng.pick(EXTREME_COUNTS));
        }
        sql
    }

    fn aggregate_select(&mut self) -> String {
        let depth = self.depth().min(3);
        let mut g = self.exprs(columns_of(T1, None), false);
        let group = g.any_expr(depth.min(2));
        let aggregate = match g.rng.below(12) {
            0 => "count(*)".to_string(),
            1 => format!("sum({})", g.expr(Ty::Int, depth)),
            2 => format!("sum({})", g.expr(Ty::Num, depth)),
            3 => format!("avg({})", {
                let t = g.one_of(&[Ty::Int, Ty::Num, Ty::Float, Ty::Interval]);
                g.expr(t, depth)
            }),
            4 => {
                let t = g.any_type();
                format!(
                    "{}({})",
                    g.rng.pick(&["min", "max", "count"]),
                    g.expr(t, depth)
                )
            }
            5 => format!(
                "string_agg({}, {})",
                g.expr(Ty::Text, depth),
                g.expr(Ty::Text, 1)
            ),
            6 => {
                let t = g.any_type();
                format!("array_agg({})", g.expr(t, depth))
            }
            7 => format!(
                "{}({})",
                g.rng.pick(&["bool_and", "bool_or", "every"]),
                g.expr(Ty::Bool, depth)
            ),
            8 => {
                let t = g.any_type();
                format!("count(DISTINCT {})", g.expr(t, depth))
            }
            9 => format!(
                "sum({}) FILTER (WHERE {})",
                g.expr(Ty::Int, depth),
                g.expr(Ty::Bool, depth)
            ),
            10 => "sum(c * 1000000000000)".to_string(),
            _ => format!("sum({}) + count(*)", g.expr(Ty::Float, depth)),
        };
        let mut sql = format!("SELECT {group}, {aggregate} FROM t1 GROUP BY 1");
        if g.rng.chance(30) {
            let _ = write!(sql, " HAVING count(*) > {}", int_literal(g.rng));
        }
        if g.rng.chance(30) {
            let _ = write!(sql, " ORDER BY 2 LIMIT {}", g.rng.pick(EXTREME_COUNTS));
        }
        sql
    }

    fn setop_select(&mut self) -> String {
        let ty = self.rng.pick(&[&Ty::Int, &Ty::Text, &Ty::Num, &Ty::Date]);
        let depth = self.depth().min(2);
        let op = self.rng.pick(&[
            "UNION",
            "UNION ALL",
            "INTERSECT",
            "INTERSECT ALL",
            "EXCEPT",
            "EXCEPT ALL",
        ]);
        let mut g = self.exprs(columns_of(T1, None), false);
        let left = g.expr(*ty, depth);
        g.cols = columns_of(T2, None);
        let other = if g.rng.chance(10) { g.any_type() } else { *ty };
        let right = g.expr(other, depth);
        format!("SELECT {left} FROM t1 {op} SELECT {right} FROM t2")
    }

    fn window_select(&mut self) -> String {
        let f = self
            .rng
            .pick(&["ROW_NUMBER()", "RANK()", "DENSE_RANK()", "ROW_NUMBER()"]);
        let mut g = self.exprs(columns_of(T1, None), false);
        let part = g.any_expr(1);
        let order = g.any_expr(1);
        let cond = g.rng.pick(&[
            "rn <= 2",
            "rn <= 0",
            "rn <= -1",
            "rn <= 9223372036854775807",
            "rn < -9223372036854775808",
            "rn = 1",
            "rn <= 2147483648",
            "rn > 1",
        ]);
        format!(
            "SELECT * FROM (SELECT id, s, {f} OVER (PARTITION BY {part} ORDER BY {order}) AS rn FROM t1) w WHERE {cond}"
        )
    }

    fn subquery_select(&mut self) -> String {
        let depth = self.depth().min(3);
        let mut g = self.exprs(columns_of(T1, None), true);
        match g.rng.below(4) {
            0 => format!(
                "SELECT id, (SELECT max(t2.c) FROM t2 WHERE t2.id = t1.id) FROM t1 WHERE {}",
                g.expr(Ty::Bool, depth)
            ),
            1 => format!(
                "SELECT * FROM (SELECT {} AS v FROM t1) q WHERE v IS NOT NULL",
                g.any_expr(depth)
            ),
            2 => format!(
                "WITH q AS (SELECT {} AS v, id FROM t1) SELECT count(*) FROM q WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.id = q.id)",
                g.any_expr(depth)
            ),
            _ => format!(
                "SELECT DISTINCT ON ({}) id FROM t1 ORDER BY {}, id",
                g.any_expr(1),
                g.rng.pick(&["1", "id"])
            ),
        }
    }

    fn any_query(&mut self) -> String {
        match self.rng.below(10) {
            0..=2 => self.simple_select(true),
            3 => self.simple_select(false),
            4 => self.join_select(),
            5 => self.aggregate_select(),
            6 => self.setop_select(),
            7 => self.window_select(),
            _ => self.subquery_select(),
        }
    }

    fn insert_t1(&mut self) -> String {
        let rows = 1 + self.rng.below(3);
        let mut values = Vec::new();
        for _ in 0..rows {
            let mut g = self.exprs(Vec::new(), false);
            let id = if g.rng.chance(90) {
                g.rng.range(1, 30).to_string()
            } else {
                int_literal(g.rng)
            };
            let mut fields = vec![id];
            for (_, ty) in &T1[1..] {
                fields.push(if g.rng.chance(70) {
                    literal(g.rng, *ty)
                } else {
                    g.expr(*ty, 2)
                });
            }
            values.push(format!("({})", fields.join(", ")));
        }
        format!("INSERT INTO t1 VALUES {}", values.join(", "))
    }

    fn dml(&mut self) -> String {
        match self.rng.below(9) {
            0..=2 => self.insert_t1(),
            3 => {
                let g = self.exprs(Vec::new(), false);
                let id = if g.rng.chance(80) {
                    g.rng.range(1, 40).to_string()
                } else {
                    int_literal(g.rng)
                };
                let c = literal(g.rng, Ty::Int);
                let n = literal(g.rng, Ty::Num);
                let s = if g.rng.chance(20) {
                    "DEFAULT".to_string()
                } else {
                    literal(g.rng, Ty::Text)
                };
                let j = literal(g.rng, Ty::Jsonb);
                format!("INSERT INTO t2 (id, c, n, s, j) VALUES ({id}, {c}, {n}, {s}, {j})")
            }
            4 | 5 => {
                let depth = self.depth().min(3);
                let mut g = self.exprs(columns_of(T1, None), true);
                let (col, ty) = T1[g.rng.below(T1.len())];
                format!(
                    "UPDATE t1 SET {col} = {} WHERE {}",
                    g.expr(ty, depth),
                    g.expr(Ty::Bool, depth)
                )
            }
            6 => {
                let depth = self.depth().min(3);
                let mut g = self.exprs(columns_of(T1, None), true);
                format!("DELETE FROM t1 WHERE {}", g.expr(Ty::Bool, depth))
            }
            7 => {
                let depth = self.depth().min(2);
                let mut g = self.exprs(columns_of(T2, None), false);
                format!(
                    "UPDATE t2 SET c = {}, s = {} WHERE {}",
                    g.expr(Ty::Int, depth),
                    g.expr(Ty::Text, depth),
                    g.expr(Ty::Bool, depth)
                )
            }
            _ => {
                let q = if self.rng.chance(50) {
                    "SELECT * FROM t1 WHERE id < 3".to_string()
                } else {
                    let mut g = self.exprs(columns_of(T1, None), false);
                    let exprs: Vec<String> = T1.iter().map(|(_, ty)| g.expr(*ty, 1)).collect();
                    format!("SELECT {} FROM t1 LIMIT 3", exprs.join(", "))
                };
                format!("INSERT INTO t1 {q}")
            }
        }
    }

    fn create_view(&mut self) -> String {
        let name = format!("mv{}", self.next_view);
        self.next_view += 1;
        let query = match self.rng.below(6) {
            0 | 1 => {
                let depth = self.depth().min(3);
                let subqueries = self.rng.chance(30);
                let mut g = self.exprs(columns_of(T1, None), subqueries);
                let items: Vec<String> = (0..2).map(|_| g.any_expr(depth)).collect();
                format!(
                    "SELECT id, {} FROM t1 WHERE {}",
                    items.join(", "),
                    g.expr(Ty::Bool, depth)
                )
            }
            2 => self.aggregate_select(),
            3 => self.join_select(),
            4 => self.window_select(),
            _ => {
                let q = self.setop_select();
                if self.rng.chance(50) {
                    format!("{q} ORDER BY 1 LIMIT {}", self.rng.pick(EXTREME_COUNTS))
                } else {
                    q
                }
            }
        };
        self.views.push(name.clone());
        format!("CREATE MATERIALIZED VIEW {name} AS {query}")
    }

    fn drop_view(&mut self) -> Option<String> {
        if self.views.is_empty() {
            return None;
        }
        let name = self.views.remove(0);
        Some(format!("DROP MATERIALIZED VIEW IF EXISTS {name}"))
    }

    fn subscribe(&mut self) -> String {
        if !self.views.is_empty() && self.rng.chance(50) {
            let v = self.views[self.rng.below(self.views.len())].clone();
            return format!("SUBSCRIBE TO {v}");
        }
        let q = match self.rng.below(3) {
            0 => self.simple_select(true),
            1 => self.aggregate_select(),
            _ => self.join_select(),
        };
        let options = self.rng.pick(&[
            "",
            " WITH (snapshot = false)",
            " AS OF 0",
            " AS OF 18446744073709551615",
            " AS OF 9223372036854775807",
            " WITH (snapshot = 'maybe')",
            " WITH (bogus = 1)",
        ]);
        format!("SUBSCRIBE ({q}){options}")
    }

    /// Deep nesting and very long chains.
    fn deep(&mut self) -> String {
        let depth = *self.rng.pick(&[&50usize, &100, &200, &200, &1000]);
        let long = *self.rng.pick(&[&990usize, &1000, &5000, &20_000]);
        match self.rng.below(16) {
            0 => format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth)),
            1 => format!("SELECT {}1", "-".repeat(depth)),
            2 => format!("SELECT {}1", "- ".repeat(depth)),
            3 => format!("SELECT {}true", "NOT ".repeat(depth)),
            4 => format!(
                "SELECT {}1{}",
                "coalesce(".repeat(depth),
                ", 2)".repeat(depth)
            ),
            5 => {
                format!(
                    "SELECT {}0{}",
                    "CASE WHEN id > 0 THEN ".repeat(depth.min(300)),
                    " ELSE 1 END".repeat(depth.min(300))
                ) + " FROM t1"
            }
            6 => format!(
                "SELECT * FROM {}SELECT 1 AS x{}",
                "(SELECT * FROM (".repeat(depth.min(300)),
                ") s) s".repeat(depth.min(300))
            ),
            7 => format!("SELECT 1{}", " + 1".repeat(long)),
            8 => format!(
                "SELECT id FROM t1 WHERE {}",
                vec!["id > 0"; long].join(" AND ")
            ),
            9 => format!("SELECT 'a'{}", " || 'a'".repeat(long)),
            10 => {
                let list: Vec<String> = (0..long).map(|i| i.to_string()).collect();
                format!("SELECT id FROM t1 WHERE id IN ({})", list.join(", "))
            }
            11 => vec!["SELECT id FROM t1"; long.min(2000)].join(" UNION ALL "),
            12 => format!("SELECT {}", vec!["1"; long].join(", ")),
            13 => format!("SELECT c{} FROM t1", " * 2".repeat(long)),
            14 => format!(
                "SELECT {}ARRAY[1]{}",
                "ARRAY[".repeat(depth),
                "]".repeat(depth)
            ),
            _ => format!(
                "SELECT {}'{{}}'::JSONB{}",
                "(".repeat(depth),
                " -> 'a')".repeat(depth)
            ),
        }
    }

    fn garbage(&mut self, previous: &str) -> String {
        match self.rng.below(8) {
            0 | 1 => {
                // A truncated statement (at a char boundary).
                let chars: Vec<char> = previous.chars().collect();
                if chars.is_empty() {
                    return "SELECT".to_string();
                }
                let cut = self.rng.below(chars.len());
                chars[..cut].iter().collect()
            }
            2 => {
                // Token soup.
                const TOKENS: &[&str] = &[
                    "SELECT", "FROM", "WHERE", "(", ")", ",", "'", "\"", "1", "t1", "id", "+",
                    "::", "AS", "JOIN", "ON", "GROUP", "BY", "ORDER", "LIMIT", "*", ";", "NULL",
                    "CASE", "END", "[", "]", "$1", "?", "é", "--", "/*", "E'\\", "ARRAY",
                    "OVER", "UNION", "SUBSCRIBE", "TO", "CREATE", "VIEW", "INSERT", "VALUES",
                ];
                let n = 1 + self.rng.below(20);
                (0..n)
                    .map(|_| self.rng.pick(TOKENS))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            3 => {
                // Random characters, including control and multi-byte ones.
                let n = self.rng.below(60);
                (0..n)
                    .map(|_| {
                        let c = match self.rng.below(4) {
                            0 => self.rng.below(0x80) as u32,
                            1 => 0x80 + self.rng.below(0x780) as u32,
                            2 => 0x3000 + self.rng.below(0x1000) as u32,
                            _ => 0x1F300 + self.rng.below(0x300) as u32,
                        };
                        char::from_u32(c).unwrap_or('?')
                    })
                    .collect()
            }
            _ => self
                .rng
                .pick(&[
                    "",
                    "   ",
                    ";",
                    ";;;;",
                    "SELECT 'unterminated",
                    "SELECT \"unterminated",
                    "SELECT E'\\",
                    "SELECT $1",
                    "SELECT ?",
                    "/* unterminated comment",
                    "-- only a comment",
                    "SELECT 1 /* nested /* comment */",
                    "SELECT $$unterminated",
                    "SELECT $tag$x$other$",
                    "SELECT \u{0}",
                    "SELECT 1\u{0}",
                    "SELECT 'a\u{0}b'",
                    "SELECT U&'\\D800'",
                    "SELECT U&'\\+110000'",
                    "SELECT E'\\U00110000'",
                    "SELECT E'\\xZZ'",
                    "SELECT B'102'",
                    "SELECT X'GG'",
                    "SELECT 0x",
                    "SELECT 1e",
                    "SELECT 1..2",
                    "SELECT 99999999999999999999999999999999999999999999999999999",
                    "SELECT -99999999999999999999999999999999999999999999999999999",
                    "SELECT 1e999999999999",
                    "SELECT .e1",
                    "SELECT * FROM",
                    "SELECT * FROM t1 WHERE",
                    "SELECT * FROM t1 ORDER BY",
                    "SELECT * FROM t1 LIMIT ALL",
                    "SELECT * FROM t1 FETCH FIRST 9223372036854775807 ROWS ONLY",
                    "SELECT * FROM t1 OFFSET -1 ROWS",
                    "SELECT * FROM t1 GROUP BY ()",
                    "SELECT * FROM t1 GROUP BY ROLLUP(id)",
                    "SELECT id FROM t1 GROUP BY 99",
                    "SELECT id FROM t1 GROUP BY -1",
                    "SELECT id FROM t1 GROUP BY 0",
                    "SELECT id FROM t1 ORDER BY 9223372036854775807",
                    "SELECT id FROM t1 ORDER BY -9223372036854775808",
                    "SELECT id FROM t1 ORDER BY 18446744073709551616",
                    "SELECT count(*) OVER () FROM t1",
                    "SELECT sum(id) OVER (ROWS BETWEEN 9223372036854775807 PRECEDING AND CURRENT ROW) FROM t1",
                    "SELECT lag(id, -1) OVER (ORDER BY id) FROM t1",
                    "SELECT ntile(0) OVER (ORDER BY id) FROM t1",
                    "SELECT * FROM t1, LATERAL (SELECT t1.id) q",
                    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
                    "WITH a AS (SELECT * FROM a) SELECT * FROM a",
                    "WITH a AS (SELECT 1), a AS (SELECT 2) SELECT * FROM a",
                    "SELECT (1, 2) IN (SELECT 1, 2)",
                    "SELECT ROW(1, 2) = ROW(1)",
                    "SELECT ROW()",
                    "SELECT (ROW(1, 'a')).f3",
                    "SELECT ARRAY[1][1][1]",
                    "SELECT ARRAY[1,2][2147483648]",
                    "SELECT ARRAY[1,2][1:2]",
                    "SELECT ('{1,2}'::INT[])[-2147483648]",
                    "SELECT ('{1,2}'::INT[])[9223372036854775807]",
                    "SELECT array_length(ARRAY[1], -2147483648)",
                    "SELECT array_length(ARRAY[1], 9223372036854775807)",
                    "SELECT lpad('x', 2000000000)",
                    "SELECT rpad('x', 2147483647, 'yz')",
                    "SELECT lpad('', 2000000000, '')",
                    "SELECT repeat('x', 2000000000)",
                    "SELECT string_agg(s, repeat('x', 1000)) FROM t1",
                    "SELECT substring('abc' FROM -2147483648 FOR 2147483647)",
                    "SELECT substring('abc' FROM 2147483647 FOR 2147483647)",
                    "SELECT substring('abc', -9223372036854775808, 9223372036854775807)",
                    "SELECT substring('héllo', 2, -1)",
                    "SELECT left('héllo', -9223372036854775808)",
                    "SELECT right('héllo', -9223372036854775808)",
                    "SELECT split_part('a,b', ',', -9223372036854775808)",
                    "SELECT split_part('a,b', ',', 0)",
                    "SELECT round(1.5, 2147483647)",
                    "SELECT round(1.5, -2147483648)",
                    "SELECT trunc(1.5::NUMERIC, -2147483648)",
                    "SELECT round(1e300::FLOAT8, 9223372036854775807)",
                    "SELECT power(10::NUMERIC, 2147483647)",
                    "SELECT power(0::NUMERIC, -1)",
                    "SELECT power(-8::NUMERIC, 1.0/3)",
                    "SELECT power(2::NUMERIC, -2147483648)",
                    "SELECT exp(1e10::NUMERIC)",
                    "SELECT exp(-1e10::NUMERIC)",
                    "SELECT ln(0::NUMERIC)",
                    "SELECT log(1::NUMERIC, 10::NUMERIC)",
                    "SELECT log(0::NUMERIC, 0::NUMERIC)",
                    "SELECT sqrt(-1::NUMERIC)",
                    "SELECT mod(-9223372036854775808, -1)",
                    "SELECT (-9223372036854775808)::BIGINT / -1",
                    "SELECT (-2147483648)::INT / -1",
                    "SELECT (-32768)::SMALLINT / (-1)::SMALLINT",
                    "SELECT (-2147483648)::INT % -1",
                    "SELECT abs((-9223372036854775808)::BIGINT)",
                    "SELECT abs((-32768)::SMALLINT)",
                    "SELECT -((-2147483648)::INT)",
                    "SELECT 79228162514264337593543950335 + 1",
                    "SELECT 79228162514264337593543950335 * 79228162514264337593543950335",
                    "SELECT 1 / 0.0000000000000000000000000001",
                    "SELECT 0.0000000000000000000000000001 * 0.0000000000000000000000000001",
                    "SELECT 1e-28 / 1e28",
                    "SELECT 99999999.99::NUMERIC(10,2) * 10",
                    "SELECT sum(c) FROM t1",
                    "SELECT avg(c) FROM t1",
                    "SELECT sum(iv) FROM t1",
                    "SELECT avg(iv) FROM t1",
                    "SELECT sum(f), avg(f) FROM t1",
                    "SELECT sum(n), avg(n) FROM t1",
                    "SELECT DATE '9999-12-31' + 2147483647",
                    "SELECT '5874897-12-31'::DATE + 1",
                    "SELECT '4713-01-01 BC'::DATE - 1",
                    "SELECT 'infinity'::DATE - DATE '2024-01-01'",
                    "SELECT 'infinity'::TIMESTAMP - TIMESTAMP '2024-01-01'",
                    "SELECT '294276-12-31'::TIMESTAMP + INTERVAL '178000000 years'",
                    "SELECT TIMESTAMP '2024-01-31' + INTERVAL '1 month'",
                    "SELECT '-infinity'::TIMESTAMP + INTERVAL '1 day'",
                    "SELECT INTERVAL '2147483647 months' + INTERVAL '1 month'",
                    "SELECT INTERVAL '2147483647 days' * 2",
                    "SELECT INTERVAL '1 day' * 'NaN'::FLOAT8",
                    "SELECT INTERVAL '1 day' / 0",
                    "SELECT INTERVAL '1 day' / 0.0",
                    "SELECT INTERVAL '1 day' / 1e-300",
                    "SELECT -INTERVAL '-2147483648 months'",
                    "SELECT -INTERVAL '-9223372036854775808 microseconds'",
                    "SELECT '294276-12-31 23:59:59'::TIMESTAMP - '4714-11-24 00:00:00 BC'::TIMESTAMP",
                    "SELECT extract(epoch FROM INTERVAL '178000000 years')",
                    "SELECT extract(julian FROM '294276-12-31'::TIMESTAMP)",
                    "SELECT extract(millennium FROM '4714-11-24 BC'::DATE)",
                    "SELECT extract(century FROM DATE '0001-01-01')",
                    "SELECT extract(isoyear FROM '4714-11-24 BC'::DATE)",
                    "SELECT extract(week FROM 'infinity'::DATE)",
                    "SELECT date_part('epoch', 'infinity'::TIMESTAMP)",
                    "SELECT date_trunc('week', '4714-11-24 00:00:00 BC'::TIMESTAMP)",
                    "SELECT date_trunc('millennium', '294276-12-31 23:59:59'::TIMESTAMP)",
                    "SELECT date_trunc('year', INTERVAL '178000000 years 11 months')",
                    "SELECT date_trunc('week', INTERVAL '1 day')",
                    "SELECT to_char('294276-12-31 23:59:59'::TIMESTAMP, 'YYYY J IYYY IW')",
                    "SELECT to_char('4714-11-24 00:00:00 BC'::TIMESTAMP, 'YYYY BC IYYY IW WW Q CC J')",
                    "SELECT to_char(INTERVAL '178000000 years', 'YYYY MM DD HH24 MI SS')",
                    "SELECT to_char(INTERVAL '-9223372036854775807 microseconds', 'HH12 HH24 SSSS')",
                    "SELECT to_char(-9223372036854775808::BIGINT, '9999999999999999999')",
                    "SELECT to_char(-9223372036854775808::BIGINT, 'RN')",
                    "SELECT to_char(4000, 'RN')",
                    "SELECT to_char(0, 'RN')",
                    "SELECT to_char(-1, 'RN')",
                    "SELECT to_char(1e300::FLOAT8, '9.99EEEE')",
                    "SELECT to_char('NaN'::FLOAT8, '999.99')",
                    "SELECT to_char('Infinity'::FLOAT8, '9.9EEEE')",
                    "SELECT to_char(79228162514264337593543950335, 'FM999999999999999999999999999999.999999999999999999999999999999')",
                    "SELECT to_char(1.5, repeat('9', 100000))",
                    "SELECT to_char(now(), repeat('YYYY', 100000))",
                    "SELECT '{\"a\":1}'::JSONB -> -9223372036854775808",
                    "SELECT '[1,2,3]'::JSONB -> -4",
                    "SELECT '[1,2,3]'::JSONB -> 9223372036854775807",
                    "SELECT '[1,2,3]'::JSONB ->> -9223372036854775808",
                    "SELECT '[1,2,3]'::JSONB ->> 2147483648",
                    "SELECT ''::JSONB",
                    "SELECT E'\"\\\\ud800\"'::JSONB",
                    "SELECT '{\"a\":1e999}'::JSONB",
                    "SELECT '-1e-999'::JSONB",
                    "SELECT '123456789012345678901234567890123456789012345678901234567890'::JSONB ->> 0",
                    "SELECT '1e400'::JSONB::TEXT",
                    "SELECT regexp_replace('aaa', 'a{1000}{1000}{1000}', 'b')",
                    "SELECT regexp_match('x', '(')",
                    "SELECT regexp_replace('abc', '(b)', '\\9')",
                    "SELECT regexp_replace('abc', 'b', '\\', 'g')",
                    "SELECT regexp_match('héllo', '(?u)\\w', 'gx')",
                    "SELECT 'abc' LIKE 'a\\'",
                    "SELECT 'abc' ILIKE '\\'",
                    "SELECT 'ǅ' ILIKE 'ǆ'",
                    "SELECT lower('İ'), upper('ß'), upper('ﬃ')",
                    "SELECT length(E'e\\u0301'), octet_length('🎉'), position('́' IN 'é')",
                    "SELECT replace('aaaa', '', 'b')",
                    "SELECT replace(repeat('a', 1000), 'a', repeat('b', 1000))",
                    "SELECT replace('a', 'a', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')",
                    "SELECT btrim('xxhéllo🎉xx', '🎉x')",
                    "SELECT trim(BOTH '' FROM 'abc')",
                    "SELECT concat()",
                    "SELECT coalesce()",
                    "SELECT greatest()",
                    "SELECT nullif(1)",
                    "SELECT substring('abc')",
                    "SELECT lpad()",
                    "SELECT now(1)",
                    "SELECT date_part('year')",
                    "SELECT unknown_function(1)",
                    "SELECT t1.nonexistent FROM t1",
                    "SELECT * FROM nonexistent",
                    "SELECT * FROM t1 AS a JOIN t1 AS a ON true",
                    "SELECT id FROM t1 NATURAL JOIN t2",
                    "SELECT id FROM t1 JOIN t2 USING (id, s)",
                    "SELECT id FROM t1 JOIN t2 USING (nope)",
                    "SELECT * FROM t1 WHERE id = (SELECT id FROM t1)",
                    "SELECT * FROM t1 WHERE id = (SELECT 1, 2)",
                    "SELECT (SELECT c FROM t2)",
                    "SELECT * FROM t1 WHERE EXISTS (SELECT * FROM t2 WHERE t2.id = (SELECT t1.id FROM t2 x WHERE x.id = t2.id))",
                    "SELECT count(*) FROM t1 HAVING sum(id) > 0",
                    "SELECT id, count(*) FROM t1",
                    "SELECT sum(sum(id)) FROM t1",
                    "SELECT count(*) FROM t1 WHERE count(*) > 0",
                    "SELECT string_agg(DISTINCT s, ',' ORDER BY s) FROM t1",
                    "SELECT array_agg(arr) FROM t1",
                    "SELECT array_agg(j) FROM t1",
                    "SELECT min(arr), max(j) FROM t1",
                    "SELECT count(DISTINCT arr) FROM t1",
                    "SELECT DISTINCT j, arr, iv FROM t1",
                    "SELECT * FROM t1 ORDER BY j, arr, iv",
                    "SELECT * FROM t1 x JOIN t1 y ON x.j = y.j",
                    "SELECT * FROM t1 x JOIN t1 y ON x.arr = y.arr",
                    "SELECT j FROM t1 UNION SELECT '1'::JSONB",
                    "SELECT arr FROM t1 INTERSECT SELECT ARRAY[1]",
                    "INSERT INTO t1 (id, id) VALUES (1, 2)",
                    "INSERT INTO t1 (nope) VALUES (1)",
                    "INSERT INTO t1 VALUES (1, 2)",
                    "INSERT INTO t1 VALUES ()",
                    "INSERT INTO t1 VALUES (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)",
                    "INSERT INTO t1 (id, a) VALUES (1, 99999)",
                    "INSERT INTO t1 (id, n) VALUES (1, 123456789.123)",
                    "INSERT INTO t2 VALUES (1, 1, 1, 1, NULL, NULL, NULL, NULL)",
                    "INSERT INTO t2 (id) VALUES (NULL)",
                    "INSERT INTO t2 (id) VALUES (1), (1)",
                    "INSERT INTO t2 SELECT * FROM t2",
                    "INSERT INTO t1 (id, arr) VALUES (1, '{1,2,3'), (2, '{}')",
                    "UPDATE t1 SET id = id + 9223372036854775807",
                    "UPDATE t1 SET c = c * 2",
                    "UPDATE t1 SET c = c + 1 WHERE c > 0",
                    "UPDATE t1 SET a = a * 1000",
                    "UPDATE t1 SET n = n * 1000",
                    "UPDATE t1 SET nope = 1",
                    "UPDATE t1 SET id = (SELECT id FROM t2)",
                    "UPDATE t2 SET id = 1",
                    "UPDATE t2 SET s = NULL",
                    "DELETE FROM t1 WHERE 1 / 0 = 1",
                    "DELETE FROM t1 WHERE id IN (SELECT 1 / 0)",
                    "DELETE FROM nope",
                    "CREATE TABLE t1 (x INT)",
                    "CREATE TABLE IF NOT EXISTS t1 (x INT)",
                    "CREATE TABLE tx (x INT, x INT)",
                    "CREATE TABLE tx (x NOSUCHTYPE)",
                    "CREATE TABLE tx (x NUMERIC(1000, 2000))",
                    "CREATE TABLE tx (x VARCHAR(0))",
                    "CREATE TABLE tx (x VARCHAR(99999999999))",
                    "CREATE TABLE tx (x INT DEFAULT 1 / 0)",
                    "CREATE TABLE tx (x INT DEFAULT (SELECT 1))",
                    "CREATE TABLE tx (x INT PRIMARY KEY, PRIMARY KEY (x))",
                    "CREATE TABLE tx (x INT[][])",
                    "CREATE TABLE tx ()",
                    "CREATE VIEW vx AS SELECT now()",
                    "CREATE MATERIALIZED VIEW mvx AS SELECT now() FROM t1",
                    "CREATE MATERIALIZED VIEW mvx AS SELECT 1 / 0 FROM t1",
                    "CREATE MATERIALIZED VIEW mvx AS SELECT * FROM t1 ORDER BY id LIMIT -1",
                    "CREATE MATERIALIZED VIEW mvx AS SELECT * FROM t1 OFFSET 9223372036854775807",
                    "CREATE MATERIALIZED VIEW mvx AS SELECT * FROM t1 ORDER BY id LIMIT 9223372036854775807 OFFSET 9223372036854775807",
                    "CREATE MATERIALIZED VIEW mvx AS SELECT 1",
                    "CREATE MATERIALIZED VIEW mvx (a, b) AS SELECT 1",
                    "CREATE OR REPLACE MATERIALIZED VIEW mvx AS SELECT * FROM mvx",
                    "DROP MATERIALIZED VIEW IF EXISTS mvx",
                    "DROP VIEW IF EXISTS vx",
                    "DROP TABLE t1",
                    "DROP TABLE nope",
                    "DROP TABLE IF EXISTS tx CASCADE",
                    "SHOW TABLES",
                    "SHOW VIEWS",
                    "SHOW MATERIALIZED VIEWS",
                    "SHOW COLUMNS FROM t1",
                    "SHOW COLUMNS FROM nope",
                    "SHOW CREATE TABLE t1",
                    "SHOW CREATE VIEW t1",
                    "SHOW CREATE MATERIALIZED VIEW nope",
                    "SHOW nope",
                    "EXPLAIN SELECT * FROM t1 x JOIN t2 y ON x.id = y.id",
                    "EXPLAIN DATAFLOW SELECT count(*) FROM t1 GROUP BY s",
                    "EXPLAIN OPTIMIZED PLAN FOR SELECT * FROM t1 WHERE id IN (SELECT id FROM t2)",
                    "EXPLAIN LOGICAL SELECT 1 / 0",
                    "EXPLAIN INSERT INTO t1 VALUES (1)",
                    "SUBSCRIBE TO nope",
                    "SUBSCRIBE TO t1",
                    "SUBSCRIBE t1 AS OF 99999999999999999999",
                    "SUBSCRIBE (SELECT 1 / 0 FROM t1)",
                    "SUBSCRIBE (SELECT now())",
                    "BEGIN",
                    "COMMIT",
                    "ROLLBACK",
                    "SET x = 1",
                    "ALTER TABLE t1 ADD COLUMN z INT",
                    "CREATE INDEX i ON t1 (id)",
                    "COPY t1 FROM STDIN",
                    "TRUNCATE t1",
                    "VALUES (1), ('a')",
                    "VALUES (1, 2), (3)",
                    "SELECT * FROM (VALUES (1), (2)) v(x, y)",
                    "SELECT 1 FROM t1 t1",
                    "SELECT \"\"",
                    "SELECT 1 AS \"\"",
                    "SELECT * FROM \"t1\"\"\"",
                    "SELECT * FROM t1 WHERE s = 'x' COLLATE \"C\"",
                    "SELECT CAST(1 AS nosuchtype)",
                    "SELECT 1::INT[][]",
                    "SELECT 1::\"char\"",
                    "SELECT 'a'::BYTEA",
                    "SELECT '\\xZZ'::BYTEA",
                    "SELECT '\\x4'::BYTEA",
                    "SELECT '25:00:00'::TIME",
                    "SELECT '23:59:60.5'::TIME",
                    "SELECT TIME '12:00' + INTERVAL '99999999 hours'",
                    "SELECT TIME '12:00' - TIME '13:00'",
                    "SELECT '2024-01-01 00:00:00+14:00'::TIMESTAMPTZ::DATE",
                    "SELECT ROW(1, ROW(2, ROW(3)))",
                    "SELECT (1, 2) < (1, 'a')",
                    "SELECT ARRAY[1, 'a']",
                    "SELECT ARRAY[]",
                    "SELECT ARRAY[NULL]",
                    "SELECT ARRAY[ARRAY[1], ARRAY[1, 2]]",
                    "SELECT cardinality('{}'::INT[])",
                    "SELECT 1 IN ()",
                    "SELECT 1 BETWEEN SYMMETRIC 2 AND 0",
                    "SELECT 'abc' SIMILAR TO 'a%'",
                    "SELECT 'a' ~ '('",
                    "SELECT 1 IS OF (INT)",
                    "SELECT INTERVAL '1' YEAR TO MONTH",
                    "SELECT INTERVAL '1 day' HOUR",
                    "SELECT EXTRACT(nope FROM now())",
                    "SELECT EXTRACT(DAY FROM 1)",
                    "SELECT date_part('day', 'x')",
                    "SELECT date_part(NULL, now())",
                    "SELECT date_trunc(NULL, now())",
                    "SELECT to_char(now(), NULL)",
                    "SELECT to_char(NULL::TIMESTAMP, 'YYYY')",
                    "SELECT to_char(1)",
                    "SELECT regexp_replace(NULL, NULL, NULL)",
                    "SELECT lpad('x', NULL)",
                    "SELECT 'x' || NULL || 1 || true || now() || ARRAY[1] || '{}'::JSONB",
                    "SELECT ARRAY[1] || ARRAY[2]",
                    "SELECT '{}'::JSONB || '[]'::JSONB",
                    "SELECT '{}'::JSONB @> '{}'::JSONB",
                    "SELECT j #> '{a,b}' FROM t1",
                    "SELECT j ? 'a' FROM t1",
                    "SELECT 1 OPERATOR(pg_catalog.+) 2",
                    "SELECT 2 ! ",
                    "SELECT |/ 4",
                    "SELECT @ -5",
                    "SELECT 5 !! 3",
                ])
                .to_string(),
        }
    }

    /// The next statement, given the previous one (for truncation).
    fn statement(&mut self, previous: &str) -> String {
        match self.rng.below(100) {
            0..=29 => {
                let from_table = self.rng.chance(70);
                self.simple_select(from_table)
            }
            30..=34 => self.join_select(),
            35..=41 => self.aggregate_select(),
            42..=44 => self.setop_select(),
            45..=47 => self.window_select(),
            48..=52 => self.subquery_select(),
            53..=64 => self.dml(),
            65..=69 => {
                if self.views.len() >= 3 {
                    self.drop_view().unwrap_or_default()
                } else {
                    self.create_view()
                }
            }
            70..=72 => {
                if self.views.is_empty() {
                    self.create_view()
                } else {
                    let v = self.views[self.rng.below(self.views.len())].clone();
                    format!("SELECT * FROM {v} ORDER BY 1 LIMIT 50")
                }
            }
            73..=74 => self.subscribe(),
            75..=78 => self.deep(),
            79..=86 => self.garbage(previous),
            87..=89 => {
                let q = self.any_query();
                format!("EXPLAIN {q}")
            }
            90..=91 => {
                // Keep the tables small.
                let lo = self.rng.range(1, 40);
                format!("DELETE FROM t1 WHERE id > {lo} OR id IS NULL OR id < 0")
            }
            _ => self.any_query(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Execution with a watchdog.

enum Outcome {
    Ok,
    Error(ErrorResponse),
}

/// An engine and a helper thread that runs statements on it, so the test thread can
/// time each one out.
struct Runner {
    engine: Option<Engine>,
    requests: Option<mpsc::Sender<String>>,
    replies: mpsc::Receiver<Outcome>,
}

impl Runner {
    fn start() -> Runner {
        let engine = Engine::start(EngineConfig {
            workers: 2,
            ..EngineConfig::default()
        })
        .expect("engine starts");
        let mut session = engine.session();
        let (requests, inbox) = mpsc::channel::<String>();
        let (outbox, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name("no-panic-session".into())
            .spawn(move || {
                for sql in inbox {
                    let outcome = match session.execute(&sql) {
                        Ok(results) => {
                            for result in results {
                                if let ExecuteResult::Subscription(feed) = result {
                                    // Look at the first event, then drop the feed.
                                    let _ = feed.recv_timeout(Duration::from_millis(20));
                                }
                            }
                            Outcome::Ok
                        }
                        Err(e) => Outcome::Error(e),
                    };
                    if outbox.send(outcome).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn session thread");
        Runner {
            engine: Some(engine),
            requests: Some(requests),
            replies,
        }
    }

    /// Runs `sql`: `Ok(outcome)`, or `Err(reason)` if the statement hung or its thread
    /// died.
    fn run(&mut self, sql: &str) -> Result<Outcome, String> {
        let Some(requests) = &self.requests else {
            return Err("runner is gone".into());
        };
        if requests.send(sql.to_string()).is_err() {
            return Err("the session thread died".into());
        }
        match self.replies.recv_timeout(DEADLINE) {
            Ok(outcome) => Ok(outcome),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("no answer within {} s (hang)", DEADLINE.as_secs()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("the session thread died (panic?)".into())
            }
        }
    }

    /// Abandons a hung engine without waiting for it.
    fn leak(mut self) {
        std::mem::forget(self.engine.take());
        std::mem::forget(self.requests.take());
    }
}

fn setup(runner: &mut Runner) {
    for sql in [T1_DDL, T2_DDL].iter().chain(SEED_ROWS) {
        match runner.run(sql) {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Error(e)) => panic!("setup statement failed: {sql}\n{e:?}"),
            Err(reason) => panic!("setup statement failed: {sql}\n{reason}"),
        }
    }
}

fn abbreviate(sql: &str) -> String {
    const MAX: usize = 600;
    if sql.chars().count() <= MAX {
        return sql.to_string();
    }
    let head: String = sql.chars().take(MAX).collect();
    format!("{head}... ({} chars)", sql.chars().count())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn no_sql_input_panics_or_hangs() {
    install_hook();

    // The harness can fail: a panic on another thread is seen by the hook.
    let _ = std::thread::Builder::new()
        .name("no-panic-self-check".into())
        .spawn(|| panic!("deliberate self-check panic"))
        .expect("spawn")
        .join();
    let seen = take_panics();
    assert!(
        seen.iter()
            .any(|p| p.contains("deliberate self-check panic")),
        "the panic hook did not record a panic: {seen:?}"
    );

    let seed = env_number("LAASTER_FUZZ_SEED", DEFAULT_SEED);
    let statements = env_number("LAASTER_FUZZ_STATEMENTS", STATEMENTS as u64) as usize;
    let current_path = std::env::temp_dir().join("laaster_no_panic_current.sql");

    let mut fuzzer = Fuzzer {
        rng: Rng(seed),
        views: Vec::new(),
        next_view: 0,
    };
    let mut runner = Runner::start();
    setup(&mut runner);

    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let mut recent: Vec<String> = Vec::new();
    let mut previous = String::new();
    let mut ran = 0;
    let mut oks = 0;
    let mut errors = 0;
    let mut internal_errors: Vec<String> = Vec::new();
    let mut slow: Vec<(Duration, String)> = Vec::new();
    for i in 0..statements {
        if started.elapsed() > TIME_BUDGET || failures.len() >= MAX_FAILURES {
            break;
        }
        let sql = fuzzer.statement(&previous);
        let _ = std::fs::write(&current_path, &sql);
        let statement_started = Instant::now();
        let result = runner.run(&sql);
        let took = statement_started.elapsed();
        if took > Duration::from_millis(500) {
            slow.push((took, abbreviate(&sql).chars().take(300).collect::<String>()));
        }
        ran += 1;
        let panics = take_panics();
        let problem = match (&result, panics.is_empty()) {
            (Ok(_), true) => None,
            (Ok(_), false) => Some(format!("panicked:\n  {}", panics.join("\n  "))),
            (Err(reason), _) => Some(format!("{reason}\n  panics: {panics:?}")),
        };
        match result {
            Ok(Outcome::Ok) => oks += 1,
            Ok(Outcome::Error(e)) => {
                errors += 1;
                if e.code == "XX000" || e.code == "57P01" {
                    internal_errors.push(format!(
                        "{} [{}]: {}",
                        abbreviate(&sql),
                        e.code,
                        e.message
                    ));
                }
            }
            Err(_) => {}
        }
        if let Some(problem) = problem {
            failures.push(format!(
                "statement #{i} (seed {seed:#x}):\n  {}\n  {problem}\n  recent statements:\n    {}",
                abbreviate(&sql),
                recent.join("\n    ")
            ));
            // A panicked or hung engine cannot be trusted: replace it.
            let old = std::mem::replace(&mut runner, Runner::start());
            old.leak();
            let _ = take_panics();
            fuzzer.views.clear();
            setup(&mut runner);
            let _ = take_panics();
            recent.clear();
        }
        recent.push(abbreviate(&sql).chars().take(200).collect());
        if recent.len() > 3 {
            recent.remove(0);
        }
        previous = sql;
    }
    let _ = std::fs::remove_file(&current_path);
    eprintln!(
        "no_panic: {ran} statements ({oks} ok, {errors} errors) in {:.1} s, seed {seed:#x}",
        started.elapsed().as_secs_f64()
    );
    slow.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (took, sql) in slow.iter().take(5) {
        eprintln!("no_panic: slow ({:.1} s): {sql}", took.as_secs_f64());
    }
    if !internal_errors.is_empty() {
        eprintln!(
            "no_panic: {} internal (XX000/57P01) errors, e.g.:\n  {}",
            internal_errors.len(),
            internal_errors
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    assert!(
        failures.is_empty(),
        "{} statements panicked or hung:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        ran >= 200,
        "only {ran} statements ran within the time budget"
    );
    drop(runner);
    let late = take_panics();
    assert!(late.is_empty(), "panics at shutdown: {late:?}");
}
