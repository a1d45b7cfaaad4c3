//! `laaster nexmark-gen`: Nexmark events as JSON lines in the layout of Flink's
//! `ddl_kafka.sql`, for feeding the same events to Flink
//! (`../shared/bench/flink_nexmark.py`), DuckDB, or a Laaster source.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use laaster_connectors::nexmark::{NexmarkConfig, NexmarkGenerator, write_json_line};

use crate::args::NexmarkGenConfig;

/// Events are formatted into a buffer and handed to the writer in chunks of this size.
const CHUNK_BYTES: usize = 1 << 20;

/// Generates the configured events and writes them, one JSON object per line, to the
/// output file or stdout. Exit 1 on a bad option or an I/O error; a closed pipe
/// (`| head`) ends the output normally.
pub fn run_nexmark_gen(config: &NexmarkGenConfig) -> ExitCode {
    let generator =
        match NexmarkConfig::from_options(&config.options).and_then(NexmarkGenerator::new) {
            Ok(generator) => generator,
            Err(err) => {
                eprintln!("ERROR:  {}", err.render());
                return ExitCode::FAILURE;
            }
        };
    let result = match &config.out {
        Some(path) => match File::create(path) {
            Ok(file) => write_events(generator, file),
            Err(err) => {
                eprintln!("laaster: cannot create {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => write_events(generator, io::stdout().lock()),
    };
    match result {
        Ok(count) => {
            if let Some(path) = &config.out {
                eprintln!("laaster: wrote {count} events to {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("laaster: cannot write events: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every event of `generator` as a JSON line; returns how many were written.
pub fn write_events(generator: NexmarkGenerator, out: impl Write) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(CHUNK_BYTES, out);
    let mut buffer = Vec::with_capacity(CHUNK_BYTES + 4096);
    let mut count = 0_u64;
    for event in generator {
        write_json_line(&event, &mut buffer);
        count += 1;
        if buffer.len() >= CHUNK_BYTES {
            out.write_all(&buffer)?;
            buffer.clear();
        }
    }
    out.write_all(&buffer)?;
    out.flush()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_line_per_event() {
        let options = vec![("events.num".to_string(), "1000".to_string())];
        let generator = NexmarkGenerator::new(NexmarkConfig::from_options(&options).unwrap());
        let mut out = Vec::new();
        assert_eq!(write_events(generator.unwrap(), &mut out).unwrap(), 1000);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert!(text.starts_with("{\"event_type\":1,\"person\":null,\"auction\":{\"id\":1001,"));
    }

    #[test]
    fn bad_options_fail() {
        let config = NexmarkGenConfig {
            options: vec![("events.num".to_string(), "-1".to_string())],
            out: None,
        };
        assert_eq!(run_nexmark_gen(&config), ExitCode::FAILURE);
    }
}
