//! Command-line arguments in two stages, as ripgrep does it: clap derives the raw
//! arguments ([`RawArgs`], what the user typed), and [`resolve`] turns them, once, into a
//! [`Config`] that the rest of the program reads (defaults filled, environment consulted,
//! `-e`/`-f` merged in the order they were given, the input mode decided).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use laaster_engine::EngineConfig;

use crate::format::OutputFormat;
use crate::slt::SltOptions;

/// The raw command line.
#[derive(Debug, Parser)]
#[command(name = "laaster", version, about = "The Laaster streaming SQL engine.")]
pub struct RawArgs {
    /// Log filter (`warn`, `info`, `laaster_engine=debug`, ...); overrides RUST_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: RawCommand,
}

#[derive(Debug, Subcommand)]
pub enum RawCommand {
    /// Run SQL against an embedded engine: a REPL, or scripts from -e, -f or stdin.
    Sql(RawSqlArgs),
    /// Run sqllogictest files against a fresh embedded engine per file.
    Test(RawTestArgs),
    /// Write Nexmark events as JSON lines in the layout of Flink's ddl_kafka.sql.
    NexmarkGen(RawNexmarkGenArgs),
    /// Run the server: gRPC, WebSocket change feeds, HTTP metrics and the console.
    Serve(RawServeArgs),
    /// Print the change feed of a view or query from a server.
    Subscribe(RawSubscribeArgs),
    /// Run one query on a server and print the rows.
    Query(RawQueryArgs),
}

#[derive(Debug, Args)]
pub struct RawServeArgs {
    /// gRPC address (default 127.0.0.1:6875; env LAASTER_GRPC_ADDR).
    #[arg(long, value_name = "ADDR")]
    pub grpc_addr: Option<std::net::SocketAddr>,
    /// HTTP address (default 127.0.0.1:6876; env LAASTER_HTTP_ADDR).
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<std::net::SocketAddr>,
    /// Timely worker threads (default: the number of cores; env LAASTER_WORKERS).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Where the catalog is kept (default ./laaster-data; env LAASTER_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A laaster.toml with any of these settings (flags and environment win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory served under /examples/ (default: the repository's examples/).
    #[arg(long, value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Messages queued per WebSocket client before it is resynced (default 256).
    #[arg(long, value_name = "N")]
    pub ws_buffer: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RawSubscribeArgs {
    /// A view name or a SELECT query.
    #[arg(value_name = "VIEW_OR_QUERY")]
    pub target: String,
    /// The server's gRPC URL, e.g. http://127.0.0.1:6875.
    #[arg(long, env = "LAASTER_SERVER", value_name = "URL")]
    pub server: String,
    /// Output format of the feed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Skip the snapshot: only changes from now on.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Resume from this logical time (with --no-snapshot: continue a feed without gaps).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<u64>,
    /// Stop after this many update rows.
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// Print every progress mark.
    #[arg(long)]
    pub progress: bool,
}

#[derive(Debug, Args)]
pub struct RawQueryArgs {
    /// The SELECT (or SHOW/EXPLAIN) to run.
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// The server's gRPC URL, e.g. http://127.0.0.1:6875.
    #[arg(long, env = "LAASTER_SERVER", value_name = "URL")]
    pub server: String,
    /// Output format; `arrow` writes the Arrow IPC stream to stdout.
    #[arg(long, value_enum, default_value_t = crate::remote::QueryFormat::Table)]
    pub format: crate::remote::QueryFormat,
}

#[derive(Debug, Args)]
pub struct RawSqlArgs {
    /// Timely worker threads (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Output format for rows and change feeds.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// SQL to run (repeatable; runs in order with -f).
    #[arg(short = 'e', long = "execute", value_name = "SQL")]
    pub execute: Vec<String>,
    /// A SQL script file to run (repeatable; runs in order with -e).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// How often the engine's clock ticks, in milliseconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub tick_ms: Option<u64>,
    /// Stop a SUBSCRIBE after this many update rows.
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// Print every progress mark of a SUBSCRIBE (also in csv/tsv).
    #[arg(long)]
    pub progress: bool,
    /// Run against a `laaster serve` at this gRPC URL instead of an embedded engine.
    #[arg(long, env = "LAASTER_SERVER", value_name = "URL")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct RawTestArgs {
    /// Timely worker threads per engine (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Stop at the first failing record.
    #[arg(long)]
    pub fail_fast: bool,
    /// Print every file and record as it runs.
    #[arg(long)]
    pub verbose: bool,
    /// `.slt` files, or directories searched recursively for them.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RawNexmarkGenArgs {
    /// Number of events (the `events.num` option); 0 = unbounded.
    #[arg(long, value_name = "N")]
    pub events: u64,
    /// Seed of the field values (the `seed` option; default 0).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub seed: Option<String>,
    /// Events per second of event time (sets `first-event.rate` and `next-event.rate`;
    /// default 10000). Output is never throttled.
    #[arg(long, value_name = "R")]
    pub rate: Option<u64>,
    /// Output file (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Any nexmark connector option, e.g. `--option bid.proportion=92` (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
}

/// `key=value` → `(key, value)`.
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected KEY=VALUE, got '{text}'")),
    }
}

/// The resolved configuration the program runs from.
#[derive(Debug)]
pub struct Config {
    /// The tracing filter directive.
    pub log_filter: String,
    pub command: Command,
}

#[derive(Debug)]
pub enum Command {
    Sql(SqlConfig),
    Test {
        paths: Vec<PathBuf>,
        options: SltOptions,
    },
    NexmarkGen(NexmarkGenConfig),
    Serve(laaster_server::ConfigOverrides),
    Subscribe(RemoteSubscribeConfig),
    Query {
        server: String,
        sql: String,
        format: crate::remote::QueryFormat,
    },
}

/// Settings of `laaster subscribe`.
#[derive(Debug)]
pub struct RemoteSubscribeConfig {
    pub server: String,
    pub target: String,
    pub snapshot: bool,
    pub as_of: Option<u64>,
    pub format: OutputFormat,
    pub subscribe: SubscribeOptions,
}

/// Settings of `laaster nexmark-gen`.
#[derive(Debug, PartialEq, Eq)]
pub struct NexmarkGenConfig {
    /// The nexmark connector options: the flags first, then every `--option`, in order
    /// (an option given twice is refused when they are parsed).
    pub options: Vec<(String, String)>,
    /// Where the JSON lines go; `None` is stdout.
    pub out: Option<PathBuf>,
}

/// Settings of `laaster sql`.
#[derive(Debug)]
pub struct SqlConfig {
    pub engine: EngineConfig,
    pub format: OutputFormat,
    pub input: SqlInput,
    pub subscribe: SubscribeOptions,
    /// Where the REPL keeps its history; `None` when no home directory is known.
    pub history_path: Option<PathBuf>,
    /// `--server`: run against this server instead of an embedded engine.
    pub server: Option<String>,
}

/// Where `laaster sql` reads statements from.
#[derive(Debug, PartialEq, Eq)]
pub enum SqlInput {
    /// The interactive REPL (stdin is a terminal and no -e/-f was given).
    Interactive,
    /// The whole of stdin as one script.
    Stdin,
    /// The -e and -f arguments, in command-line order.
    Scripts(Vec<ScriptSource>),
}

/// One -e or -f argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptSource {
    Inline(String),
    File(PathBuf),
}

/// How SUBSCRIBE output is streamed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Stop after this many update rows.
    pub max_events: Option<u64>,
    /// Print every progress mark, not only those that close a time with updates.
    pub all_progress: bool,
}

/// What the resolution step reads from outside the command line.
pub struct Environment<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub stdin_is_terminal: bool,
}

impl Environment<'static> {
    /// The process environment.
    pub fn process() -> Self {
        use std::io::IsTerminal;
        Environment {
            var: &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            stdin_is_terminal: std::io::stdin().is_terminal(),
        }
    }
}

/// Parses the command line (clap prints help/version/usage errors through the returned
/// error) and resolves it against `env`.
pub fn parse<I, T>(args: I, env: &Environment<'_>) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = RawArgs::command().try_get_matches_from(args)?;
    let raw = RawArgs::from_arg_matches(&matches)?;
    Ok(resolve(raw, &matches, env))
}

/// Builds the [`Config`] from the raw arguments. `matches` supplies the positions of
/// repeated -e/-f arguments so that they run in the order given.
pub fn resolve(raw: RawArgs, matches: &ArgMatches, env: &Environment<'_>) -> Config {
    // The server logs what it does (listening, catalog replayed, feeds); other
    // commands only warnings.
    let default_filter = if matches!(raw.command, RawCommand::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let log_filter = raw
        .log_level
        .or_else(|| (env.var)("RUST_LOG"))
        .unwrap_or_else(|| default_filter.to_string());
    let command = match raw.command {
        RawCommand::Sql(sql) => {
            let sub_matches = matches.subcommand_matches("sql");
            Command::Sql(resolve_sql(sql, sub_matches, env))
        }
        RawCommand::Test(test) => Command::Test {
            paths: test.paths,
            options: SltOptions {
                workers: test.workers.map(|n| n as usize),
                fail_fast: test.fail_fast,
                verbose: test.verbose,
            },
        },
        RawCommand::NexmarkGen(nexmark) => Command::NexmarkGen(resolve_nexmark_gen(nexmark)),
        RawCommand::Serve(serve) => Command::Serve(laaster_server::ConfigOverrides {
            config_file: serve.config,
            grpc_addr: serve.grpc_addr,
            http_addr: serve.http_addr,
            workers: serve.workers.map(|n| n as usize),
            data_dir: serve.data_dir,
            static_dir: serve.static_dir,
            ws_buffer: serve.ws_buffer,
        }),
        RawCommand::Subscribe(sub) => Command::Subscribe(RemoteSubscribeConfig {
            server: sub.server,
            target: sub.target,
            snapshot: !sub.no_snapshot,
            as_of: sub.as_of,
            format: sub.format,
            subscribe: SubscribeOptions {
                max_events: sub.max_events,
                all_progress: sub.progress,
            },
        }),
        RawCommand::Query(query) => Command::Query {
            server: query.server,
            sql: query.sql,
            format: query.format,
        },
    };
    Config {
        log_filter,
        command,
    }
}

fn resolve_sql(raw: RawSqlArgs, matches: Option<&ArgMatches>, env: &Environment<'_>) -> SqlConfig {
    let mut engine = EngineConfig::default();
    if let Some(workers) = raw.workers {
        engine.workers = workers as usize;
    }
    if let Some(tick_ms) = raw.tick_ms {
        engine.tick = Duration::from_millis(tick_ms);
    }
    let sources = ordered_sources(raw.execute, raw.file, matches);
    let input = if !sources.is_empty() {
        SqlInput::Scripts(sources)
    } else if env.stdin_is_terminal {
        SqlInput::Interactive
    } else {
        SqlInput::Stdin
    };
    let history_path = (env.var)("LAASTER_HISTORY")
        .map(PathBuf::from)
        .or_else(|| (env.var)("HOME").map(|home| PathBuf::from(home).join(".laaster_history")));
    SqlConfig {
        engine,
        format: raw.format,
        input,
        subscribe: SubscribeOptions {
            max_events: raw.max_events,
            all_progress: raw.progress,
        },
        history_path,
        server: raw.server,
    }
}

fn resolve_nexmark_gen(raw: RawNexmarkGenArgs) -> NexmarkGenConfig {
    let mut options = vec![("events.num".to_string(), raw.events.to_string())];
    if let Some(seed) = raw.seed {
        options.push(("seed".to_string(), seed));
    }
    if let Some(rate) = raw.rate {
        options.push(("first-event.rate".to_string(), rate.to_string()));
        options.push(("next-event.rate".to_string(), rate.to_string()));
    }
    options.extend(raw.options);
    NexmarkGenConfig {
        options,
        out: raw.out,
    }
}

/// Interleaves -e and -f values by their position on the command line.
fn ordered_sources(
    execute: Vec<String>,
    files: Vec<PathBuf>,
    matches: Option<&ArgMatches>,
) -> Vec<ScriptSource> {
    let indices = |id: &str| -> Vec<usize> {
        matches
            .and_then(|m| m.indices_of(id))
            .map(|i| i.collect())
            .unwrap_or_default()
    };
    let (execute_at, file_at) = (indices("execute"), indices("file"));
    let mut tagged: Vec<(usize, ScriptSource)> = Vec::new();
    for (i, sql) in execute.into_iter().enumerate() {
        tagged.push((
            execute_at.get(i).copied().unwrap_or(usize::MAX),
            ScriptSource::Inline(sql),
        ));
    }
    for (i, path) in files.into_iter().enumerate() {
        tagged.push((
            file_at.get(i).copied().unwrap_or(usize::MAX),
            ScriptSource::File(path),
        ));
    }
    // Stable: without positions (never expected) the -e values stay before the -f ones.
    tagged.sort_by_key(|(at, _)| *at);
    tagged.into_iter().map(|(_, source)| source).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(args: &[&str], tty: bool) -> Config {
        let var = |name: &str| match name {
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        let env = Environment {
            var: &var,
            stdin_is_terminal: tty,
        };
        parse(args.iter().copied(), &env).expect("valid arguments")
    }

    #[test]
    fn execute_and_file_keep_command_line_order() {
        let config = parse_with(
            &[
                "laaster", "sql", "-f", "a.sql", "-e", "SELECT 1", "-f", "b.sql",
            ],
            false,
        );
        let Command::Sql(sql) = config.command else {
            panic!("expected sql")
        };
        assert_eq!(
            sql.input,
            SqlInput::Scripts(vec![
                ScriptSource::File("a.sql".into()),
                ScriptSource::Inline("SELECT 1".into()),
                ScriptSource::File("b.sql".into()),
            ])
        );
        assert_eq!(
            sql.history_path,
            Some(PathBuf::from("/home/u/.laaster_history"))
        );
    }

    #[test]
    fn input_mode_follows_the_terminal() {
        let Command::Sql(sql) = parse_with(&["laaster", "sql"], true).command else {
            panic!("expected sql")
        };
        assert_eq!(sql.input, SqlInput::Interactive);
        let Command::Sql(sql) = parse_with(&["laaster", "sql", "--workers", "3"], false).command
        else {
            panic!("expected sql")
        };
        assert_eq!(sql.input, SqlInput::Stdin);
        assert_eq!(sql.engine.workers, 3);
    }

    #[test]
    fn nexmark_gen_flags_become_options() {
        let config = parse_with(
            &[
                "laaster",
                "nexmark-gen",
                "--events",
                "10",
                "--seed",
                "-4",
                "--rate",
                "500",
                "--option",
                "bid.proportion=92",
                "--out",
                "/tmp/x.jsonl",
            ],
            false,
        );
        let Command::NexmarkGen(nexmark) = config.command else {
            panic!("expected nexmark-gen")
        };
        let pairs: Vec<(&str, &str)> = nexmark
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("events.num", "10"),
                ("seed", "-4"),
                ("first-event.rate", "500"),
                ("next-event.rate", "500"),
                ("bid.proportion", "92"),
            ]
        );
        assert_eq!(nexmark.out, Some(PathBuf::from("/tmp/x.jsonl")));
        let env = Environment {
            var: &|_| None,
            stdin_is_terminal: false,
        };
        let bad = [
            "laaster",
            "nexmark-gen",
            "--events",
            "1",
            "--option",
            "novalue",
        ];
        assert!(parse(bad, &env).is_err());
    }

    #[test]
    fn zero_workers_is_rejected() {
        let env = Environment {
            var: &|_| None,
            stdin_is_terminal: false,
        };
        assert!(parse(["laaster", "sql", "--workers", "0"], &env).is_err());
    }
}
