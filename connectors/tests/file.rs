//! The file connectors on real files in a temporary directory: JSON-lines and CSV files
//! split across readers with corrupt lines mixed in, tailing a directory for new files,
//! and the rolling file sink read back.

use std::collections::BTreeMap;
use std::time::Duration;

use laaster_connectors::api::{Poll, SinkWriter, SourceReader};
use laaster_connectors::file::{FileReader, FileSourceOptions, FileWriter};
use laaster_connectors::format::Format;
use laaster_repr::{Column, ColumnType, Datum, RelationDesc, Row, ScalarType};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "laaster-file-test-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn votes() -> RelationDesc {
    RelationDesc::new(vec![
        Column {
            name: "user_id".into(),
            typ: ColumnType::nullable(ScalarType::Int64),
        },
        Column {
            name: "contestant".into(),
            typ: ColumnType::nullable(ScalarType::Text),
        },
    ])
}

/// Reads every split to the end; returns the good rows and the bad messages' positions.
fn read_all(
    path: &str,
    format: &str,
    splits: usize,
    monitor: Option<Duration>,
) -> (Vec<(i64, String)>, Vec<String>) {
    let columns = votes();
    let format =
        Format::from_options("format", &[("format".into(), format.into())], &columns).unwrap();
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for split in 0..splits {
        let options = FileSourceOptions {
            path: path.into(),
            monitor_interval: monitor,
        };
        let mut reader = FileReader::open(&options, split, splits).unwrap();
        let mut decoder = format.decoder(&columns);
        loop {
            let mut messages = Vec::new();
            match reader.poll(100, Duration::ZERO, &mut messages).unwrap() {
                Poll::Done | Poll::Idle => break,
                Poll::Ready => {}
            }
            for message in messages {
                let mut rows = Vec::new();
                match decoder.decode(&message.payload, &mut rows) {
                    Ok(()) => {
                        good.extend(rows.into_iter().map(|(row, _)| match (&row[0], &row[1]) {
                            (Datum::Int64(id), Datum::Text(c)) => (*id, c.to_string()),
                            other => panic!("unexpected {other:?}"),
                        }))
                    }
                    Err(_) => bad.push(message.position.to_string()),
                }
            }
        }
    }
    good.sort();
    bad.sort();
    (good, bad)
}

#[test]
fn json_lines_over_a_glob_split_across_readers() {
    let dir = temp_dir("jsonl");
    let mut expected = Vec::new();
    let mut expected_bad = Vec::new();
    for file in 0..5 {
        let name = format!("votes-{file}.jsonl");
        let mut bytes = Vec::new();
        for line in 1..=400i64 {
            let id = file * 1000 + line;
            match line % 50 {
                7 => bytes.extend_from_slice(b"{\"user_id\": 1, \"contestant\": \"\xff\xfe\"}"),
                13 => bytes.extend_from_slice(b"{\"user_id\": [1], \"contestant\": \"A\"}"),
                21 => bytes.extend_from_slice(b"not json at all"),
                _ => {
                    let c = ["A", "B"][(id % 2) as usize];
                    bytes.extend_from_slice(
                        format!("{{\"user_id\": {id}, \"contestant\": \"{c}\"}}").as_bytes(),
                    );
                    expected.push((id, c.to_string()));
                }
            }
            if line % 50 == 7 || line % 50 == 13 || line % 50 == 21 {
                expected_bad.push(format!("{}@{line}", dir.join(&name).display()));
            }
            // Windows line endings on some lines; no newline after the last line.
            if line < 400 {
                bytes.extend_from_slice(if line % 3 == 0 { b"\r\n" } else { b"\n" });
            }
        }
        std::fs::write(dir.join(&name), bytes).unwrap();
    }
    // A file the glob does not match and a hidden in-progress file are not read.
    std::fs::write(
        dir.join("notes.txt"),
        "{\"user_id\": -1, \"contestant\": \"X\"}",
    )
    .unwrap();
    std::fs::write(
        dir.join(".votes-9.jsonl"),
        "{\"user_id\": -2, \"contestant\": \"X\"}",
    )
    .unwrap();
    expected.sort();
    expected_bad.sort();
    for splits in [1, 2, 3] {
        let (good, bad) = read_all(&format!("{}/*.jsonl", dir.display()), "json", splits, None);
        assert_eq!(good, expected, "{splits} splits");
        assert_eq!(bad, expected_bad, "{splits} splits");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn csv_directory_and_tailing_new_files() {
    let dir = temp_dir("csv");
    std::fs::write(dir.join("a.csv"), "1,A\n2,\"B, the second\"\nx,C\n").unwrap();
    let options = FileSourceOptions {
        path: dir.display().to_string(),
        monitor_interval: Some(Duration::from_millis(10)),
    };
    let columns = votes();
    let format =
        Format::from_options("format", &[("format".into(), "csv".into())], &columns).unwrap();
    let mut decoder = format.decoder(&columns);
    let mut reader = FileReader::open(&options, 0, 1).unwrap();
    let mut rows = Vec::new();
    let mut errors = 0;
    let mut read = |reader: &mut FileReader, rows: &mut Vec<Row>| {
        let mut messages = Vec::new();
        let poll = reader.poll(100, Duration::ZERO, &mut messages).unwrap();
        for message in messages {
            let mut out = Vec::new();
            match decoder.decode(&message.payload, &mut out) {
                Ok(()) => rows.extend(out.into_iter().map(|(row, _)| row)),
                Err(_) => errors += 1,
            }
        }
        poll
    };
    assert_eq!(read(&mut reader, &mut rows), Poll::Ready);
    assert_eq!(read(&mut reader, &mut rows), Poll::Idle);
    // A file written elsewhere and renamed in appears on a later poll.
    std::fs::write(dir.join(".b.csv.tmp"), "3,C\n").unwrap();
    std::fs::rename(dir.join(".b.csv.tmp"), dir.join("b.csv")).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(read(&mut reader, &mut rows), Poll::Ready);
    let text: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(laaster_repr::strconv::format_datum)
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    assert_eq!(text, vec!["1|A", "2|B, the second", "3|C"]);
    assert_eq!(errors, 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rolling_sink_files_read_back() {
    let dir = temp_dir("sink");
    let columns = votes();
    let format =
        Format::from_options("format", &[("format".into(), "json".into())], &columns).unwrap();
    let out = dir.join("out");
    {
        let mut writer = FileWriter::open(
            &out.display().to_string(),
            0,
            "jsonl",
            2000,
            false,
            format.encoder(&columns),
        )
        .unwrap();
        for batch in 0..10i64 {
            let updates: Vec<(Row, u64, i64)> = (0..20)
                .map(|i| {
                    (
                        Row::new(vec![Datum::Int64(batch * 100 + i), Datum::text("A")]),
                        batch as u64,
                        1,
                    )
                })
                .collect();
            writer.write(&updates).unwrap();
            writer.complete(batch as u64 + 1).unwrap();
        }
        writer
            .write(&[(Row::new(vec![Datum::Int64(0), Datum::text("A")]), 11, -1)])
            .unwrap();
        assert_eq!(writer.dropped_retractions, 1);
        // Completed files are visible while the writer runs; the rest once it is dropped.
        let visible = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .count();
        assert!(visible >= 2, "{visible} completed files");
    }
    let (good, bad) = read_all(&format!("{}/part-*.jsonl", out.display()), "json", 1, None);
    assert!(bad.is_empty());
    let mut expected: Vec<(i64, String)> = (0..10i64)
        .flat_map(|b| (0..20).map(move |i| (b * 100 + i, "A".to_string())))
        .collect();
    expected.sort();
    assert_eq!(good, expected);
    // No in-progress file is left.
    let names: BTreeMap<String, ()> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), ()))
        .collect();
    assert!(
        names
            .keys()
            .all(|n| n.starts_with("part-0-") && n.ends_with(".jsonl")),
        "{names:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
