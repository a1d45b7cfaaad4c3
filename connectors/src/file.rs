//! Files: line-oriented sources (JSON lines, CSV, raw text) over one file, a directory
//! or a glob, bounded or tailing new files; and a sink writing rolling files.
//!
//! ```sql
//! CREATE TABLE events (id BIGINT, name TEXT) WITH ('connector' = 'filesystem',
//!   'path' = '/data/events/*.jsonl', 'format' = 'json',
//!   'source.monitor-interval' = '1 s');            -- omit for a bounded read
//! CREATE SINK out FROM v WITH ('connector' = 'filesystem', 'path' = '/data/out',
//!   'format' = 'json', 'sink.rolling-policy.file-size' = '128MB');
//! ```
//!
//! Source: the files matching `path` (a file, every file of a directory, or a glob with
//! `*`, `?` and `[...]` in the last component), in name order; file `i` is read by split
//! `i mod n`, one message per line (`\n` or `\r\n`; a last line without newline counts).
//! Positions are `file@line`. Bounded unless `'source.monitor-interval'` is set: then
//! files that appear later are read too (files are read once, when they appear; write a
//! file elsewhere and rename it into the directory so it is complete when seen).
//!
//! Sink: each worker writes `part-<worker>-<n>.<ext>` in the `path` directory, first as a
//! hidden `.part-...inprogress` file that is renamed when it is complete: when it passes
//! `'sink.rolling-policy.file-size'` (default 128 MB) at a completed timestamp, or when
//! the writer is dropped. A completed timestamp is flushed to the in-progress file.
//!
//! `'format' = 'parquet'` uses the same listing and split assignment but reads whole
//! Parquet files with the Arrow reader and writes Parquet files closed at every
//! completed timestamp: see [`crate::format::parquet`].

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use laaster_repr::{Diff, Row, Timestamp};

use crate::api::{ConnectorError, Message, Poll, Position, SinkWriter, SourceReader};
use crate::format::Encoder;

/// Parses a size such as `128MB`, `64 kb`, `1000` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// Matches a glob pattern (`*`, `?`, `[abc]`, `[a-z]`) against a file name.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(b'['), Some(&c)) => {
            let Some(close) = pattern.iter().position(|&b| b == b']') else {
                return false;
            };
            let class = &pattern[1..close];
            let mut matched = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    matched |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    matched |= class[i] == c;
                    i += 1;
                }
            }
            matched && glob_match(&pattern[close + 1..], &name[1..])
        }
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The files `path` names now, in name order.
pub fn list_files(path: &str) -> Result<Vec<PathBuf>, ConnectorError> {
    let as_path = Path::new(path);
    let has_glob = path.contains(['*', '?', '[']);
    let (dir, pattern) = if has_glob {
        let dir = as_path.parent().unwrap_or(Path::new("."));
        let pattern = as_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if dir.to_string_lossy().contains(['*', '?', '[']) {
            return Err(ConnectorError::new(format!(
                "path '{path}': wildcards are supported in the last component only"
            ))
            .hint("point 'path' at one directory, e.g. '/data/events/*.jsonl'"));
        }
        (dir.to_path_buf(), Some(pattern))
    } else if as_path.is_file() {
        return Ok(vec![as_path.to_path_buf()]);
    } else {
        (as_path.to_path_buf(), None)
    };
    let entries = fs::read_dir(&dir).map_err(|e| {
        ConnectorError::new(format!("cannot read directory '{}': {e}", dir.display()))
            .hint("'path' must name an existing file, directory or glob")
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Hidden and in-progress files are never read.
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if pattern
            .as_ref()
            .is_some_and(|p| !glob_match(p.as_bytes(), name.as_bytes()))
        {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The options of a file source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSourceOptions {
    pub path: String,
    /// `Some`: keep looking for new files this often.
    pub monitor_interval: Option<Duration>,
}

/// Reads one split's files line by line.
pub struct FileReader {
    options: FileSourceOptions,
    split: usize,
    splits: usize,
    /// Every file seen so far (assigned to any split), so new ones are recognized.
    seen: BTreeSet<PathBuf>,
    /// Files of this split not yet read.
    queue: Vec<PathBuf>,
    current: Option<(PathBuf, BufReader<File>, u64)>,
    last_listing: Instant,
    line: Vec<u8>,
}

impl FileReader {
    pub fn open(
        options: &FileSourceOptions,
        split: usize,
        splits: usize,
    ) -> Result<FileReader, ConnectorError> {
        let mut reader = FileReader {
            options: options.clone(),
            split,
            splits: splits.max(1),
            seen: BTreeSet::new(),
            queue: Vec::new(),
            current: None,
            last_listing: Instant::now(),
            line: Vec::new(),
        };
        reader.list()?;
        Ok(reader)
    }

    /// Adds files not seen before; each goes to split `index mod splits` of the global
    /// name order at the time it is first seen.
    fn list(&mut self) -> Result<(), ConnectorError> {
        self.last_listing = Instant::now();
        for file in list_files(&self.options.path)? {
            if self.seen.insert(file.clone()) && (self.seen.len() - 1) % self.splits == self.split {
                self.queue.push(file);
            }
        }
        Ok(())
    }
}

impl SourceReader for FileReader {
    fn poll(
        &mut self,
        max: usize,
        _timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        let mut produced = 0;
        while produced < max {
            if self.current.is_none() {
                if self.queue.is_empty() {
                    if let Some(interval) = self.options.monitor_interval
                        && self.last_listing.elapsed() >= interval
                    {
                        self.list()?;
                    }
                    if self.queue.is_empty() {
                        break;
                    }
                }
                let path = self.queue.remove(0);
                let file = File::open(&path).map_err(|e| {
                    ConnectorError::new(format!("cannot open '{}': {e}", path.display()))
                })?;
                self.current = Some((path, BufReader::with_capacity(1 << 16, file), 0));
            }
            let Some((path, reader, line_number)) = self.current.as_mut() else {
                break;
            };
            self.line.clear();
            let read = reader.read_until(b'\n', &mut self.line).map_err(|e| {
                ConnectorError::new(format!("cannot read '{}': {e}", path.display()))
            })?;
            if read == 0 {
                self.current = None;
                continue;
            }
            *line_number += 1;
            if self.line.last() == Some(&b'\n') {
                self.line.pop();
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
            }
            out.push(Message {
                position: Position {
                    partition: path.display().to_string(),
                    offset: line_number.to_string(),
                },
                key: None,
                payload: self.line.clone(),
                metadata: Default::default(),
            });
            produced += 1;
        }
        Ok(if produced > 0 {
            Poll::Ready
        } else if self.options.monitor_interval.is_some() {
            Poll::Idle
        } else {
            Poll::Done
        })
    }

    fn commit(&mut self, _through: &Position) -> Result<(), ConnectorError> {
        // Files are re-read from the start after a restart; nothing to acknowledge.
        Ok(())
    }
}

/// Writes one worker's changes as rolling line files.
pub struct FileWriter {
    dir: PathBuf,
    worker: usize,
    extension: String,
    max_bytes: u64,
    encoder: Box<dyn Encoder>,
    /// Only inserts are written (json, csv); `true` also writes retractions (the format
    /// carries them, e.g. debezium-json).
    writes_retractions: bool,
    next_part: u64,
    current: Option<(PathBuf, BufWriter<File>, u64)>,
    message: Vec<u8>,
    /// Retractions an insert-only format could not write.
    pub dropped_retractions: u64,
}

impl FileWriter {
    pub fn open(
        dir: &str,
        worker: usize,
        extension: &str,
        max_bytes: u64,
        writes_retractions: bool,
        encoder: Box<dyn Encoder>,
    ) -> Result<FileWriter, ConnectorError> {
        let next_part = prepare_sink_dir(dir, worker)?;
        Ok(FileWriter {
            dir: PathBuf::from(dir),
            worker,
            extension: extension.to_string(),
            max_bytes,
            encoder,
            writes_retractions,
            next_part,
            current: None,
            message: Vec::new(),
            dropped_retractions: 0,
        })
    }

    fn final_name(&self, part: u64) -> PathBuf {
        self.dir
            .join(format!("part-{}-{part}.{}", self.worker, self.extension))
    }

    fn roll(&mut self) -> Result<(), ConnectorError> {
        if let Some((path, mut writer, _)) = self.current.take() {
            writer.flush().map_err(|e| {
                ConnectorError::new(format!("cannot write '{}': {e}", path.display()))
            })?;
            let part = self.next_part - 1;
            let target = self.final_name(part);
            fs::rename(&path, &target).map_err(|e| {
                ConnectorError::new(format!(
                    "cannot rename '{}' to '{}': {e}",
                    path.display(),
                    target.display()
                ))
            })?;
        }
        Ok(())
    }
}

impl SinkWriter for FileWriter {
    fn write(&mut self, updates: &[(Row, Timestamp, Diff)]) -> Result<(), ConnectorError> {
        for (row, _, diff) in updates {
            if *diff < 0 && !self.writes_retractions {
                self.dropped_retractions += diff.unsigned_abs();
                continue;
            }
            if self.current.is_none() {
                let part = self.next_part;
                self.next_part += 1;
                let path = self.dir.join(format!(
                    ".part-{}-{part}.{}.inprogress",
                    self.worker, self.extension
                ));
                let file = File::create(&path).map_err(|e| {
                    ConnectorError::new(format!("cannot create '{}': {e}", path.display()))
                })?;
                self.current = Some((path, BufWriter::with_capacity(1 << 16, file), 0));
            }
            self.message.clear();
            self.encoder
                .encode(row, *diff, &mut self.message)
                .map_err(|e| ConnectorError::new(format!("cannot encode a row: {e}")))?;
            self.message.push(b'\n');
            if let Some((path, writer, bytes)) = self.current.as_mut() {
                for _ in 0..diff.unsigned_abs() {
                    writer.write_all(&self.message).map_err(|e| {
                        ConnectorError::new(format!("cannot write '{}': {e}", path.display()))
                    })?;
                    *bytes += self.message.len() as u64;
                }
            }
        }
        Ok(())
    }

    fn complete(&mut self, _upper: Timestamp) -> Result<(), ConnectorError> {
        if let Some((path, writer, bytes)) = self.current.as_mut() {
            writer.flush().map_err(|e| {
                ConnectorError::new(format!("cannot write '{}': {e}", path.display()))
            })?;
            if *bytes >= self.max_bytes {
                self.roll()?;
            }
        }
        Ok(())
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        let _ = self.roll();
    }
}

/// Creates a sink directory if needed and returns the number of worker `worker`'s next
/// part file (`part-<worker>-<n>...`), continuing after files an earlier run left.
pub(crate) fn prepare_sink_dir(dir: &str, worker: usize) -> Result<u64, ConnectorError> {
    fs::create_dir_all(dir)
        .map_err(|e| ConnectorError::new(format!("cannot create sink directory '{dir}': {e}")))?;
    let prefix = format!("part-{worker}-");
    Ok(fs::read_dir(dir)
        .map_err(|e| ConnectorError::new(format!("cannot read sink directory '{dir}': {e}")))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.trim_start_matches('.')
                .strip_prefix(&prefix)?
                .split('.')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .map_or(0, |n| n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_sizes() {
        assert!(glob_match(b"*.jsonl", b"a.jsonl"));
        assert!(!glob_match(b"*.jsonl", b"a.json"));
        assert!(glob_match(b"part-[0-9]?.csv", b"part-42.csv"));
        assert!(!glob_match(b"part-[0-9]?.csv", b"part-x2.csv"));
        assert_eq!(parse_size("128MB"), Some(128 << 20));
        assert_eq!(parse_size("64 kb"), Some(64 << 10));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("12 parsecs"), None);
    }
}
