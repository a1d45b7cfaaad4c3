//! Streaming a SUBSCRIBE to the terminal or a pipe, and Ctrl-C.
//!
//! Each update prints as one line (`time diff col1 col2 ...` in the table format, a CSV
//! or TSV row, or a JSON object); progress marks print as `-- progress: t` /
//! `{"progress":t}`. A feed runs until Ctrl-C, until `--max-events` update rows, or until
//! the engine ends it. Dropping the [`Subscription`] cancels it in the engine.
//!
//! Ctrl-C: [`install_interrupt_handler`] installs one process-wide handler. While a feed
//! streams (or always, in the REPL) it only raises a flag that the streaming loop polls;
//! otherwise it exits the process with status 130, as a shell would.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use laaster_engine::{ErrorResponse, SubscribeEvent, Subscription, Timestamp};
use laaster_repr::strconv::format_datum;
use laaster_repr::{Diff, RelationDesc, Row, ScalarType};

use crate::args::SubscribeOptions;
use crate::format::{self, OutputFormat};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static CATCHING: AtomicBool = AtomicBool::new(false);
static ALWAYS_CATCH: AtomicBool = AtomicBool::new(false);

/// How often the streaming loop looks at the Ctrl-C flag.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Installs the Ctrl-C handler. With `always_catch` (the REPL), Ctrl-C never exits the
/// process; it only raises the flag.
pub fn install_interrupt_handler(always_catch: bool) -> Result<(), ctrlc::Error> {
    ALWAYS_CATCH.store(always_catch, Ordering::SeqCst);
    ctrlc::set_handler(|| {
        if CATCHING.load(Ordering::SeqCst) || ALWAYS_CATCH.load(Ordering::SeqCst) {
            INTERRUPTED.store(true, Ordering::SeqCst);
        } else {
            std::process::exit(130);
        }
    })
}

/// Clears a Ctrl-C seen earlier (the REPL calls this before each statement).
pub fn clear_interrupt() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

/// Whether Ctrl-C was pressed since the last [`clear_interrupt`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// While alive, Ctrl-C raises the flag instead of exiting.
struct CatchInterrupts;

impl CatchInterrupts {
    fn new() -> Self {
        clear_interrupt();
        CATCHING.store(true, Ordering::SeqCst);
        CatchInterrupts
    }
}

impl Drop for CatchInterrupts {
    fn drop(&mut self) {
        CATCHING.store(false, Ordering::SeqCst);
    }
}

/// Why a feed stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum FeedEnd {
    /// The user pressed Ctrl-C.
    Interrupted,
    /// `--max-events` update rows were printed.
    MaxEvents,
    /// The engine closed the feed.
    Closed,
}

/// A failure while streaming.
#[derive(Debug)]
pub enum FeedError {
    /// The subscription reported an error; no more events follow.
    Engine(ErrorResponse),
    Io(io::Error),
}

impl From<io::Error> for FeedError {
    fn from(err: io::Error) -> Self {
        FeedError::Io(err)
    }
}

/// Prints the feed's events until it ends (see [`FeedEnd`]). Output is flushed after
/// every event so that pipes see changes as they happen.
pub fn stream(
    feed: Subscription,
    format: OutputFormat,
    options: SubscribeOptions,
    out: &mut dyn Write,
) -> Result<FeedEnd, FeedError> {
    let desc = feed.desc.clone();
    stream_events(
        &desc,
        |timeout| feed.recv_timeout(timeout).map_err(|_| ()),
        format,
        options,
        out,
    )
}

/// [`stream`] over any source of events: `next_event(timeout)` waits up to `timeout`
/// and gives `Ok(None)` on timeout, `Err(())` once the feed has ended. The remote
/// client (`--server`) feeds gRPC events through it.
pub fn stream_events(
    desc: &RelationDesc,
    mut next_event: impl FnMut(Duration) -> Result<Option<SubscribeEvent>, ()>,
    format: OutputFormat,
    options: SubscribeOptions,
    out: &mut dyn Write,
) -> Result<FeedEnd, FeedError> {
    let _catch = CatchInterrupts::new();
    let printer = FeedPrinter::new(desc, format);
    printer.write_header(out)?;
    out.flush()?;
    let mut printed: u64 = 0;
    let mut updates_since_progress = false;
    loop {
        if interrupted() {
            return Ok(FeedEnd::Interrupted);
        }
        let event = match next_event(POLL_INTERVAL) {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            Err(()) => return Ok(FeedEnd::Closed),
        };
        match event {
            SubscribeEvent::Updates(updates) => {
                for (row, time, diff) in &updates {
                    if options.max_events.is_some_and(|max| printed >= max) {
                        out.flush()?;
                        return Ok(FeedEnd::MaxEvents);
                    }
                    printer.write_update(out, row, *time, *diff)?;
                    printed += 1;
                    updates_since_progress = true;
                }
                if options.max_events.is_some_and(|max| printed >= max) {
                    out.flush()?;
                    return Ok(FeedEnd::MaxEvents);
                }
            }
            SubscribeEvent::Progress(time) => {
                if printer.shows_progress(options.all_progress, updates_since_progress) {
                    printer.write_progress(out, time)?;
                }
                updates_since_progress = false;
            }
            SubscribeEvent::Error(err) => return Err(FeedError::Engine(err)),
        }
        out.flush()?;
    }
}

/// Formats one feed's lines.
pub struct FeedPrinter {
    format: OutputFormat,
    desc: RelationDesc,
}

impl FeedPrinter {
    pub fn new(desc: &RelationDesc, format: OutputFormat) -> Self {
        FeedPrinter {
            format,
            desc: desc.clone(),
        }
    }

    /// Progress marks show by default in the table and JSON formats when they close a
    /// time that had updates (a mark every tick would flood the screen); with
    /// `--progress`, every mark shows, in every format.
    fn shows_progress(&self, all_progress: bool, updates_since_progress: bool) -> bool {
        all_progress
            || (updates_since_progress
                && matches!(self.format, OutputFormat::Table | OutputFormat::Json))
    }

    pub fn write_header(&self, out: &mut dyn Write) -> io::Result<()> {
        let columns = || ["time", "diff"].into_iter().chain(self.desc.names());
        match self.format {
            OutputFormat::Table => writeln!(out, "{}", columns().collect::<Vec<_>>().join("  ")),
            OutputFormat::Csv => writeln!(
                out,
                "{}",
                format::csv_line(columns().map(format::csv_quote))
            ),
            OutputFormat::Tsv => writeln!(
                out,
                "{}",
                format::tsv_line(columns().map(format::tsv_escape))
            ),
            OutputFormat::Json => Ok(()),
        }
    }

    pub fn write_update(
        &self,
        out: &mut dyn Write,
        row: &Row,
        time: Timestamp,
        diff: Diff,
    ) -> io::Result<()> {
        match self.format {
            OutputFormat::Table => {
                let values = row.iter().map(format_datum).collect::<Vec<_>>().join("  ");
                writeln!(out, "{time}  {diff:+}  {values}")
            }
            OutputFormat::Csv => {
                let values = row.iter().map(format::csv_field);
                let fields = [time.to_string(), diff.to_string()]
                    .into_iter()
                    .chain(values);
                writeln!(out, "{}", format::csv_line(fields))
            }
            OutputFormat::Tsv => {
                let values = row.iter().map(format::tsv_field);
                let fields = [time.to_string(), diff.to_string()]
                    .into_iter()
                    .chain(values);
                writeln!(out, "{}", format::tsv_line(fields))
            }
            OutputFormat::Json => {
                let types: Vec<&ScalarType> =
                    self.desc.columns.iter().map(|c| &c.typ.scalar).collect();
                let object = format::json_object(&self.desc, &types, row);
                writeln!(out, "{{\"time\":{time},\"diff\":{diff},\"row\":{object}}}")
            }
        }
    }

    pub fn write_progress(&self, out: &mut dyn Write, time: Timestamp) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => writeln!(out, "{{\"progress\":{time}}}"),
            _ => writeln!(out, "-- progress: {time}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use laaster_repr::{Column, ColumnType, Datum};

    use super::*;

    fn printer(format: OutputFormat) -> FeedPrinter {
        let desc = RelationDesc::new(vec![
            Column {
                name: "contestant".into(),
                typ: ColumnType::nullable(ScalarType::Text),
            },
            Column {
                name: "n".into(),
                typ: ColumnType::nullable(ScalarType::Int64),
            },
        ]);
        FeedPrinter::new(&desc, format)
    }

    fn lines(format: OutputFormat) -> String {
        let printer = printer(format);
        let mut out = Vec::new();
        printer.write_header(&mut out).unwrap();
        let row = Row::new(vec![Datum::text("A"), Datum::Int64(2)]);
        printer
            .write_update(&mut out, &row, 1764272400123, 1)
            .unwrap();
        printer
            .write_update(&mut out, &row, 1764272400124, -1)
            .unwrap();
        printer.write_progress(&mut out, 1764272400125).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn feed_lines_per_format() {
        assert_eq!(
            lines(OutputFormat::Table),
            "time  diff  contestant  n\n1764272400123  +1  A  2\n1764272400124  -1  A  2\n-- progress: 1764272400125\n"
        );
        assert!(
            lines(OutputFormat::Csv).starts_with("time,diff,contestant,n\n1764272400123,1,A,2\n")
        );
        assert!(
            lines(OutputFormat::Tsv)
                .starts_with("time\tdiff\tcontestant\tn\n1764272400123\t1\tA\t2\n")
        );
        assert_eq!(
            lines(OutputFormat::Json),
            "{\"time\":1764272400123,\"diff\":1,\"row\":{\"contestant\":\"A\",\"n\":2}}\n\
             {\"time\":1764272400124,\"diff\":-1,\"row\":{\"contestant\":\"A\",\"n\":2}}\n\
             {\"progress\":1764272400125}\n"
        );
    }

    #[test]
    fn progress_marks_shown_by_default_only_after_updates() {
        assert!(printer(OutputFormat::Table).shows_progress(false, true));
        assert!(!printer(OutputFormat::Table).shows_progress(false, false));
        assert!(!printer(OutputFormat::Csv).shows_progress(false, true));
        assert!(printer(OutputFormat::Csv).shows_progress(true, false));
    }
}
