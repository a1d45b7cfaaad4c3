//! The interactive REPL: rustyline with history, tab completion of SQL keywords and
//! catalog names, psql-style meta-commands, and a continuation prompt until a statement
//! ends with `;`.
//!
//! Keys: Ctrl-C drops the line being typed (and stops a running SUBSCRIBE, returning to
//! the prompt); Ctrl-D on an empty line exits.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use crate::format::OutputFormat;
use crate::script::{ScriptError, SqlRunner, StatementError, render_error};
use crate::statements::is_complete;
use crate::subscribe;

const PROMPT: &str = "laaster> ";
const CONTINUATION_PROMPT: &str = "     -> ";

const HELP: &str = "\
Meta-commands:
  \\?               show this help
  \\q               quit (also Ctrl-D, `quit`, `exit`)
  \\d               list tables and views
  \\d NAME          list the columns of a table or view
  \\timing          toggle printing how long each statement takes
  \\format FORMAT   set the output format: table, csv, json or tsv

Statements end with `;` and may span lines:
  CREATE TABLE name (col type, ...) [WITH ('connector' = ..., ...)]
  CREATE [MATERIALIZED] VIEW name AS SELECT ...
  INSERT INTO name VALUES (...), ...   UPDATE ... SET ...   DELETE FROM ...
  SELECT ...                           read once, at one timestamp
  SUBSCRIBE TO name | SUBSCRIBE (SELECT ...)
                                       stream every change; Ctrl-C stops
  SHOW TABLES | SHOW VIEWS | SHOW COLUMNS FROM name | SHOW CREATE ...
  EXPLAIN SELECT ...
  DROP TABLE | VIEW name [CASCADE]
";

/// SQL keywords offered by tab completion.
const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BIGINT",
    "BOOLEAN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "COALESCE",
    "COLUMNS",
    "COUNT",
    "CREATE",
    "CROSS",
    "DATE",
    "DECIMAL",
    "DELETE",
    "DESC",
    "DESCRIPTOR",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "EXPLAIN",
    "FALSE",
    "FILTER",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "HOP",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTEGER",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "JSONB",
    "LATERAL",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MATERIALIZED",
    "NOT",
    "NULL",
    "NUMERIC",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PRIMARY",
    "REAL",
    "REPLACE",
    "RIGHT",
    "SELECT",
    "SET",
    "SHOW",
    "SMALLINT",
    "SUBSCRIBE",
    "TABLE",
    "TABLES",
    "TEXT",
    "THEN",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "TO",
    "TRUE",
    "TUMBLE",
    "UNION",
    "UPDATE",
    "USING",
    "VALUES",
    "VARCHAR",
    "VIEW",
    "VIEWS",
    "WATERMARK",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// A meta-command typed at the main prompt.
#[derive(Debug, PartialEq, Eq)]
pub enum MetaCommand {
    Quit,
    Help,
    /// `\d` (no name) or `\d NAME`.
    Describe(Option<String>),
    Timing,
    /// `\format` with its argument, if any.
    Format(Option<String>),
    Unknown(String),
}

/// Parses a line starting with `\`.
pub fn parse_meta_command(line: &str) -> MetaCommand {
    let line = line.trim().trim_end_matches(';').trim_end();
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.collect::<Vec<_>>().join(" ");
    let argument = (!argument.is_empty()).then_some(argument);
    match command {
        "\\q" | "\\quit" => MetaCommand::Quit,
        "\\?" | "\\h" | "\\help" => MetaCommand::Help,
        "\\d" => MetaCommand::Describe(argument),
        "\\timing" => MetaCommand::Timing,
        "\\format" => MetaCommand::Format(argument),
        other => MetaCommand::Unknown(other.to_string()),
    }
}

/// Tab completion: keywords (in the case the user types) and catalog names.
#[derive(Default)]
pub struct SqlHelper {
    names: Vec<String>,
}

impl Completer for SqlHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let start = word_start(line, pos);
        Ok((start, completions(&line[start..pos], &self.names)))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}
impl Highlighter for SqlHelper {}
impl Validator for SqlHelper {}
impl Helper for SqlHelper {}

/// Where the identifier-like word ending at byte `pos` starts.
fn word_start(line: &str, pos: usize) -> usize {
    let pos = pos.min(line.len());
    let Some(before) = line.get(..pos) else {
        return pos;
    };
    before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i)
}

/// Completions of `word`: catalog names (as they are), then keywords (lowercase when the
/// word is typed in lowercase), each matching case-insensitively.
pub fn completions(word: &str, names: &[String]) -> Vec<String> {
    if word.is_empty() {
        return Vec::new();
    }
    let upper = word.to_uppercase();
    let lowercase = word.chars().all(|c| !c.is_uppercase());
    let mut found: Vec<String> = names
        .iter()
        .filter(|name| name.to_uppercase().starts_with(&upper))
        .cloned()
        .collect();
    found.sort();
    found.extend(
        KEYWORDS
            .iter()
            .filter(|keyword| keyword.starts_with(&upper))
            .map(|keyword| {
                if lowercase {
                    keyword.to_lowercase()
                } else {
                    keyword.to_string()
                }
            }),
    );
    found.dedup();
    found
}

/// Runs the REPL until `\q` or Ctrl-D. The exit code is 0 unless the terminal fails.
pub fn run(mut runner: SqlRunner, history_path: Option<PathBuf>) -> ExitCode {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<SqlHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(err) => {
            eprintln!("laaster: cannot start the line editor: {err}");
            return ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(SqlHelper::default()));
    if let Some(path) = &history_path {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    println!(
        "laaster {} — type \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    refresh_names(&mut editor, &mut runner);
    let code = read_eval_print(&mut editor, &mut runner);
    if let Some(path) = &history_path
        && let Err(err) = editor.save_history(path)
    {
        eprintln!(
            "laaster: could not save history to {}: {err}",
            path.display()
        );
    }
    code
}

fn read_eval_print(
    editor: &mut Editor<SqlHelper, DefaultHistory>,
    runner: &mut SqlRunner,
) -> ExitCode {
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => return ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("laaster: {err}");
                return ExitCode::FAILURE;
            }
        };
        if buffer.is_empty() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with('\\') {
                let _ = editor.add_history_entry(trimmed);
                match parse_meta_command(trimmed) {
                    MetaCommand::Quit => return ExitCode::SUCCESS,
                    command => run_meta_command(command, runner),
                }
                continue;
            }
            if matches!(trimmed.to_ascii_lowercase().as_str(), "quit" | "exit") {
                return ExitCode::SUCCESS;
            }
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if is_complete(&buffer) {
            let entry = buffer.trim().replace('\n', " ");
            let _ = editor.add_history_entry(entry);
            if execute_buffer(runner, &buffer) {
                refresh_names(editor, runner);
            }
            buffer.clear();
        }
    }
}

/// Runs typed statements; returns whether completion names should be refreshed.
fn execute_buffer(runner: &mut SqlRunner, buffer: &str) -> bool {
    subscribe::clear_interrupt();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = runner.run_script(buffer, None, &mut out);
    let _ = out.flush();
    drop(out);
    match result {
        Ok(outcome) => outcome.changed_catalog,
        Err(ScriptError::Statement(message)) => {
            eprintln!("{message}");
            true
        }
        Err(ScriptError::Io(err)) => {
            eprintln!("laaster: {err}");
            false
        }
        Err(ScriptError::Interrupted) => false,
    }
}

fn run_meta_command(command: MetaCommand, runner: &mut SqlRunner) {
    match command {
        MetaCommand::Quit => {}
        MetaCommand::Help => print!("{HELP}"),
        MetaCommand::Describe(None) => {
            run_and_report(runner, "SHOW TABLES");
            run_and_report(runner, "SHOW VIEWS");
        }
        MetaCommand::Describe(Some(name)) => {
            run_and_report(runner, &format!("SHOW COLUMNS FROM {name}"));
        }
        MetaCommand::Timing => {
            runner.timing = !runner.timing;
            println!("Timing is {}.", if runner.timing { "on" } else { "off" });
        }
        MetaCommand::Format(None) => println!("Output format is {}.", runner.format),
        MetaCommand::Format(Some(name)) => match name.parse::<OutputFormat>() {
            Ok(format) => {
                runner.format = format;
                println!("Output format is {format}.");
            }
            Err(message) => eprintln!("\\format: {message}"),
        },
        MetaCommand::Unknown(command) => {
            eprintln!("invalid command {command}\nTry \\? for help.");
        }
    }
}

fn run_and_report(runner: &mut SqlRunner, sql: &str) {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = runner.run_statement(sql, &mut out);
    let _ = out.flush();
    drop(out);
    match result {
        Ok(_) => {}
        Err(StatementError::Engine(err)) => eprintln!("{}", render_error(&err, sql, 1, None)),
        Err(StatementError::Io(err)) => eprintln!("laaster: {err}"),
    }
}

/// Reloads the names offered by completion from `SHOW TABLES` and `SHOW VIEWS`.
fn refresh_names(editor: &mut Editor<SqlHelper, DefaultHistory>, runner: &mut SqlRunner) {
    let mut names = runner.first_column("SHOW TABLES");
    names.extend(runner.first_column("SHOW VIEWS"));
    names.sort();
    names.dedup();
    if let Some(helper) = editor.helper_mut() {
        helper.names = names;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_commands_parse() {
        assert_eq!(parse_meta_command("\\q"), MetaCommand::Quit);
        assert_eq!(parse_meta_command(" \\? "), MetaCommand::Help);
        assert_eq!(parse_meta_command("\\d"), MetaCommand::Describe(None));
        assert_eq!(
            parse_meta_command("\\d tally;"),
            MetaCommand::Describe(Some("tally".into()))
        );
        assert_eq!(parse_meta_command("\\timing"), MetaCommand::Timing);
        assert_eq!(
            parse_meta_command("\\format csv"),
            MetaCommand::Format(Some("csv".into()))
        );
        assert_eq!(
            parse_meta_command("\\x"),
            MetaCommand::Unknown("\\x".into())
        );
    }

    #[test]
    fn completes_keywords_and_names() {
        let names = vec!["sales".to_string(), "Selections".to_string()];
        assert_eq!(
            completions("se", &names),
            vec!["Selections", "select", "set"]
        );
        assert_eq!(
            completions("SE", &names),
            vec!["Selections", "SELECT", "SET"]
        );
        assert_eq!(completions("SUBS", &[]), vec!["SUBSCRIBE"]);
        assert_eq!(completions("sa", &names), vec!["sales"]);
        assert!(completions("", &names).is_empty());
    }

    #[test]
    fn completion_word_boundaries() {
        assert_eq!(word_start("SELECT * FROM sa", 16), 14);
        assert_eq!(word_start("SELECT ", 7), 7);
        assert_eq!(word_start("x", 1), 0);
        assert_eq!(word_start("é_1", "é_1".len()), 0);
    }
}
