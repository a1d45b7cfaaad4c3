//! # laaster-cli: the `laaster` command
//!
//! Stage: the outermost layer, a thin shell over the embedded engine
//! ([`laaster_engine::Engine`]). Input: the command line, SQL text (REPL, `-e`, `-f`,
//! stdin) and sqllogictest files. Output: result tables/CSV/TSV/JSON, change feeds, and
//! test summaries.
//!
//! ```text
//!  argv ──args::parse──▶ Config (resolved once: flags + environment + terminal)
//!            │
//!            ├─ sql  ──▶ Session ──▶ script::SqlRunner ──▶ format (rows) / subscribe (feeds)
//!            │              ▲ statements::split_statements, repl (rustyline)
//!            ├─ test ──▶ slt::run_slt_files (sqllogictest runner, one engine per file)
//!            └─ nexmark-gen ──▶ nexmark::run_nexmark_gen (Nexmark events as JSON lines)
//! ```
//!
//! Start reading at [`run_from_env`]; tests call [`run_slt_files`] directly.

pub mod args;
pub mod format;
pub mod nexmark;
pub mod remote;
pub mod repl;
pub mod script;
pub mod slt;
pub mod statements;
pub mod subscribe;

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use laaster_engine::Engine;

pub use args::{
    Command, Config, NexmarkGenConfig, ScriptSource, SqlConfig, SqlInput, SubscribeOptions,
};
pub use format::OutputFormat;
pub use script::SqlRunner;
pub use slt::{SltOptions, SltSummary, run_slt_files};

/// The entry point of the binary: parses `std::env::args_os()`, sets up logging and
/// runs the chosen command.
pub fn run_from_env() -> ExitCode {
    let config = match args::parse(std::env::args_os(), &args::Environment::process()) {
        Ok(config) => config,
        Err(err) => {
            // Help and --version print to stdout and exit 0; usage errors exit 2.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    init_logging(&config.log_filter);
    run(config)
}

/// Runs a resolved configuration.
pub fn run(config: Config) -> ExitCode {
    match config.command {
        Command::Sql(sql) => run_sql(sql),
        Command::Test { paths, options } => {
            let summary = run_slt_files(&paths, &options);
            println!("{}", summary.summary_line());
            if summary.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::NexmarkGen(nexmark) => nexmark::run_nexmark_gen(&nexmark),
        Command::Serve(overrides) => run_serve(&overrides),
        Command::Subscribe(sub) => remote::run_subscribe(
            &sub.server,
            &sub.target,
            sub.snapshot,
            sub.as_of,
            sub.format,
            sub.subscribe,
        ),
        Command::Query {
            server,
            sql,
            format,
        } => remote::run_query(&server, &sql, format),
    }
}

/// `laaster serve`: resolves the settings (flags over environment over laaster.toml)
/// and runs the server until SIGINT/SIGTERM.
pub fn run_serve(overrides: &laaster_server::ConfigOverrides) -> ExitCode {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let config = match laaster_server::ServerConfig::resolve(overrides, env) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("laaster serve: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("laaster serve: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(laaster_server::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("laaster serve: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; the filter is `--log-level`, else `RUST_LOG`, else `warn`.
fn init_logging(filter: &str) {
    let env_filter = match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(env_filter) => env_filter,
        Err(err) => {
            eprintln!("laaster: invalid log filter \"{filter}\" ({err}); using \"warn\"");
            tracing_subscriber::EnvFilter::new("warn")
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(io::stderr)
        .try_init();
}

/// `laaster sql`: starts an engine, then runs the REPL or the scripts.
pub fn run_sql(config: SqlConfig) -> ExitCode {
    let interactive = config.input == SqlInput::Interactive;
    if let Err(err) = subscribe::install_interrupt_handler(interactive) {
        eprintln!("laaster: cannot install the Ctrl-C handler: {err}");
    }
    if let Some(url) = &config.server {
        let remote = match remote::RemoteSession::connect(url) {
            Ok(remote) => remote,
            Err(err) => {
                eprintln!("{}", err.render(None));
                return ExitCode::FAILURE;
            }
        };
        let backend = script::Backend::Remote(Box::new(remote));
        let runner = SqlRunner::with_backend(backend, config.format, config.subscribe);
        return run_input(runner, &config);
    }
    let engine = match Engine::start(config.engine.clone()) {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!("{}", err.render(None));
            return ExitCode::FAILURE;
        }
    };
    let runner = SqlRunner::new(engine.session(), config.format, config.subscribe);
    run_input(runner, &config)
}

/// Runs the REPL or the scripts of `config` on `runner`.
fn run_input(runner: SqlRunner, config: &SqlConfig) -> ExitCode {
    match &config.input {
        SqlInput::Interactive => repl::run(runner, config.history_path.clone()),
        SqlInput::Stdin => {
            let mut script = String::new();
            if let Err(err) = io::stdin().read_to_string(&mut script) {
                eprintln!("laaster: cannot read stdin: {err}");
                return ExitCode::FAILURE;
            }
            run_scripts(runner, &[(Some("<stdin>".to_string()), Ok(script))])
        }
        SqlInput::Scripts(sources) => {
            let scripts: Vec<_> = sources.iter().map(load_source).collect();
            run_scripts(runner, &scripts)
        }
    }
}

/// A script's name for error messages (`None` for -e) and its text (or why it could not
/// be read).
type LoadedScript = (Option<String>, Result<String, String>);

fn load_source(source: &ScriptSource) -> LoadedScript {
    match source {
        ScriptSource::Inline(sql) => (None, Ok(sql.clone())),
        ScriptSource::File(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("laaster: cannot read {name}: {err}"));
            (Some(name), text)
        }
    }
}

/// Runs scripts in order; stops at the first error (exit 1) or at Ctrl-C during a
/// SUBSCRIBE (exit 0). A file that cannot be read fails when its turn comes.
fn run_scripts(mut runner: SqlRunner, scripts: &[LoadedScript]) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (origin, text) in scripts {
        let text = match text {
            Ok(text) => text,
            Err(message) => {
                let _ = out.flush();
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        };
        match runner.run_script(text, origin.as_deref(), &mut out) {
            Ok(_) => {}
            Err(script::ScriptError::Statement(message)) => {
                let _ = out.flush();
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
            Err(script::ScriptError::Interrupted) => break,
            Err(script::ScriptError::Io(err)) => return io_failure(err),
        }
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => io_failure(err),
    }
}

/// A closed pipe (`laaster sql ... | head`) is a normal way for output to end.
fn io_failure(err: io::Error) -> ExitCode {
    if err.kind() == io::ErrorKind::BrokenPipe {
        ExitCode::SUCCESS
    } else {
        eprintln!("laaster: {err}");
        ExitCode::FAILURE
    }
}
