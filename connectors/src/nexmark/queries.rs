//! Running Flink's Nexmark query texts (`../shared/nexmark/flink-queries/`) on Laaster
//! with no edits but the `${...}` placeholders and the sink: shared by the Nexmark runner
//! (`benches/benches/nexmark.rs`) and the correctness test (`tests/nexmark_oracle.rs`).

use std::path::{Path, PathBuf};

/// Values for the `${...}` placeholders of Flink's DDL.
#[derive(Clone, Debug)]
pub struct Placeholders {
    pub events: u64,
    /// `${TPS}`: events per second of event time.
    pub tps: u64,
    pub person_proportion: u64,
    pub auction_proportion: u64,
    pub bid_proportion: u64,
    /// `${NEXMARK_TABLE}`.
    pub table: String,
}

impl Placeholders {
    /// The benchmark's defaults (1:3:46, table `datagen`).
    pub fn new(events: u64, tps: u64) -> Self {
        Placeholders {
            events,
            tps,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            table: "datagen".to_string(),
        }
    }

    /// `text` with every placeholder replaced.
    pub fn substitute(&self, text: &str) -> String {
        text.replace("${TPS}", &self.tps.to_string())
            .replace("${EVENTS_NUM}", &self.events.to_string())
            .replace("${PERSON_PROPORTION}", &self.person_proportion.to_string())
            .replace(
                "${AUCTION_PROPORTION}",
                &self.auction_proportion.to_string(),
            )
            .replace("${BID_PROPORTION}", &self.bid_proportion.to_string())
            .replace("${NEXMARK_TABLE}", &self.table)
    }
}

/// Where Flink's query texts are: `LAASTER_NEXMARK_QUERIES`, else `../shared` beside the
/// checkout whose root is `project_root`, else this machine's `/work/shared`.
pub fn queries_dir(project_root: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LAASTER_NEXMARK_QUERIES") {
        return Some(PathBuf::from(dir));
    }
    [
        project_root.join("../shared/nexmark/flink-queries"),
        PathBuf::from("/work/shared/nexmark/flink-queries"),
    ]
    .into_iter()
    .find(|dir| dir.join("ddl_gen.sql").is_file())
}

/// Splits a script into statements at semicolons, dropping `--` comments (Flink's files
/// have no semicolons inside literals).
pub fn statements(text: &str) -> Vec<String> {
    let without_comments: String = text
        .lines()
        .map(|line| match line.find("--") {
            Some(at) if !line[..at].contains('\'') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A query file made runnable: the sink table is gone and `INSERT INTO sink SELECT ...`
/// is `CREATE MATERIALIZED VIEW sink (the sink's column names) AS SELECT ...`.
#[derive(Clone, Debug)]
pub struct RewrittenQuery {
    pub statements: Vec<String>,
    /// The view that holds the query's result.
    pub sink: Option<String>,
}

/// What to do with a query file's sink table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkMode {
    /// Replace it by a materialized view holding the result (see [`rewrite_query`]).
    MaterializedView,
    /// Keep Flink's sink table (`'connector' = 'blackhole'`) and `INSERT INTO` as
    /// written: the result is computed and discarded, as in Flink's benchmark. A sink
    /// with any other connector (q10's filesystem) still becomes a view.
    Keep,
}

/// Makes a query file runnable with the given sink handling.
pub fn rewrite_query_with(text: &str, mode: SinkMode) -> RewrittenQuery {
    let rewritten = rewrite_query(text);
    if mode == SinkMode::MaterializedView {
        return rewritten;
    }
    let all = statements(text);
    let keeps_blackhole = all.iter().any(|s| {
        s.to_uppercase().starts_with("CREATE TABLE")
            && s.replace(' ', "")
                .to_lowercase()
                .contains("'connector'='blackhole'")
    });
    if !keeps_blackhole {
        return rewritten;
    }
    RewrittenQuery {
        statements: all,
        sink: rewritten.sink,
    }
}

/// Rewrites a query file's sink (see [`RewrittenQuery`]). The sink is whatever table the
/// `INSERT INTO` targets (blackhole, or q10's filesystem table); its column names name
/// the view's columns, since INSERT maps by position.
pub fn rewrite_query(text: &str) -> RewrittenQuery {
    let all = statements(text);
    let leading_name = |rest: &str| -> String {
        rest.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let target = all.iter().find_map(|s| {
        let upper = s.to_uppercase();
        upper
            .starts_with("INSERT INTO")
            .then(|| leading_name(&s["INSERT INTO".len()..]).to_lowercase())
    });
    let mut out = Vec::new();
    let mut sink = None;
    let mut sink_columns = Vec::new();
    for statement in all {
        let upper = statement.to_uppercase();
        if upper.starts_with("CREATE TABLE")
            && target.as_deref()
                == Some(
                    leading_name(&statement["CREATE TABLE".len()..])
                        .to_lowercase()
                        .as_str(),
                )
        {
            sink_columns = column_names(&statement);
            continue;
        }
        if upper.starts_with("INSERT INTO") {
            let rest = statement["INSERT INTO".len()..].trim_start();
            let name = leading_name(rest);
            let query = rest[name.len()..].trim_start();
            let columns = if sink_columns.is_empty() {
                String::new()
            } else {
                format!(" ({})", sink_columns.join(", "))
            };
            out.push(format!(
                "CREATE MATERIALIZED VIEW {name}{columns} AS {query}"
            ));
            sink = Some(name);
            continue;
        }
        out.push(statement);
    }
    RewrittenQuery {
        statements: out,
        sink,
    }
}

/// The column names of `CREATE TABLE name (col type, ...) ...`, quoted where they are
/// not plain lower-case identifiers (so `dateTime` keeps its case).
pub fn column_names(statement: &str) -> Vec<String> {
    let Some(open) = statement.find('(') else {
        return Vec::new();
    };
    let mut depth = 0;
    let mut current = String::new();
    let mut definitions = Vec::new();
    for c in statement[open + 1..].chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' if depth > 0 => depth -= 1,
            ')' => {
                definitions.push(std::mem::take(&mut current));
                break;
            }
            ',' if depth == 0 => {
                definitions.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    definitions
        .iter()
        .filter_map(|definition| definition.split_whitespace().next())
        .map(|name| {
            let bare = name.trim_matches('`');
            if bare
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bare.to_string()
            } else {
                format!("\"{bare}\"")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_becomes_a_view_named_by_the_sink_columns() {
        let text = "-- comment\nCREATE TABLE nexmark_q1 (\n  auction BIGINT,\n  `dateTime` TIMESTAMP(3),\n  r ROW<a INT, b INT>\n) WITH ('connector' = 'blackhole');\nINSERT INTO nexmark_q1 SELECT auction, `dateTime`, r FROM bid;";
        let rewritten = rewrite_query(text);
        assert_eq!(rewritten.sink.as_deref(), Some("nexmark_q1"));
        assert_eq!(
            rewritten.statements,
            vec![
                "CREATE MATERIALIZED VIEW nexmark_q1 (auction, \"dateTime\", r) AS SELECT auction, `dateTime`, r FROM bid"
                    .to_string()
            ]
        );
        let kept = rewrite_query_with(text, SinkMode::Keep);
        assert_eq!(kept.statements.len(), 2);
        assert!(kept.statements[1].starts_with("INSERT INTO nexmark_q1"));
        let placeholders = Placeholders::new(5, 7);
        assert_eq!(
            placeholders.substitute("${EVENTS_NUM}/${TPS}/${NEXMARK_TABLE}"),
            "5/7/datagen"
        );
    }
}
