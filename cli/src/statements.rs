//! Splitting SQL text into statements at `;`, outside string literals, quoted
//! identifiers, dollar-quoted strings and comments. The REPL uses [`is_complete`] to
//! decide between the main and the continuation prompt; scripts are split with
//! [`split_statements`] so that an error can name the line its statement starts on.

/// One statement of a script: its text (from its first token up to, not including, the
/// `;`) and the 1-based line that text starts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    pub text: &'a str,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Normal,
    /// Inside `'...'`; `backslash_escapes` for `E'...'` strings.
    SingleQuote {
        backslash_escapes: bool,
    },
    DoubleQuote,
    LineComment,
    /// Inside `/* ... */`, which nests in Postgres.
    BlockComment {
        depth: usize,
    },
    /// Inside `$tag$ ... $tag$`; holds the whole delimiter.
    DollarQuote {
        delimiter: String,
    },
}

/// What a scan reports for each byte it classifies.
enum Event {
    /// A byte that belongs to a statement (not whitespace, not a comment).
    Significant,
    /// A `;` that ends a statement.
    Terminator,
    Other,
}

/// Scans `sql`, calling `on_event(byte_offset, event)` for every byte; returns the state
/// at the end.
fn scan(sql: &str, mut on_event: impl FnMut(usize, Event)) -> State {
    let bytes = sql.as_bytes();
    let mut state = State::Normal;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let next = bytes.get(i + 1).copied();
        // `consumed` bytes, starting at i, get the same event.
        let (event, consumed) = match &mut state {
            State::Normal => match byte {
                b';' => (Event::Terminator, 1),
                b'-' if next == Some(b'-') => {
                    state = State::LineComment;
                    (Event::Other, 2)
                }
                b'/' if next == Some(b'*') => {
                    state = State::BlockComment { depth: 1 };
                    (Event::Other, 2)
                }
                b'\'' => {
                    let escapes = i > 0
                        && matches!(bytes[i - 1], b'e' | b'E')
                        && (i < 2 || !is_identifier_byte(bytes[i - 2]));
                    state = State::SingleQuote {
                        backslash_escapes: escapes,
                    };
                    (Event::Significant, 1)
                }
                b'"' => {
                    state = State::DoubleQuote;
                    (Event::Significant, 1)
                }
                b'$' if i == 0 || !is_identifier_byte(bytes[i - 1]) => {
                    match dollar_delimiter(&bytes[i..]) {
                        Some(len) => {
                            state = State::DollarQuote {
                                delimiter: sql[i..i + len].to_string(),
                            };
                            (Event::Significant, len)
                        }
                        None => (Event::Significant, 1),
                    }
                }
                b if b.is_ascii_whitespace() => (Event::Other, 1),
                _ => (Event::Significant, 1),
            },
            State::SingleQuote { backslash_escapes } => {
                if *backslash_escapes && byte == b'\\' && next.is_some() {
                    (Event::Significant, 2)
                } else {
                    if byte == b'\'' {
                        // A doubled quote re-enters the literal on the next byte.
                        state = State::Normal;
                    }
                    (Event::Significant, 1)
                }
            }
            State::DoubleQuote => {
                if byte == b'"' {
                    state = State::Normal;
                }
                (Event::Significant, 1)
            }
            State::LineComment => {
                if byte == b'\n' {
                    state = State::Normal;
                }
                (Event::Other, 1)
            }
            State::BlockComment { depth } => {
                if byte == b'*' && next == Some(b'/') {
                    *depth -= 1;
                    if *depth == 0 {
                        state = State::Normal;
                    }
                    (Event::Other, 2)
                } else if byte == b'/' && next == Some(b'*') {
                    *depth += 1;
                    (Event::Other, 2)
                } else {
                    (Event::Other, 1)
                }
            }
            State::DollarQuote { delimiter } => {
                if bytes[i..].starts_with(delimiter.as_bytes()) {
                    let len = delimiter.len();
                    state = State::Normal;
                    (Event::Significant, len)
                } else {
                    (Event::Significant, 1)
                }
            }
        };
        match event {
            Event::Terminator => on_event(i, Event::Terminator),
            Event::Significant => (i..i + consumed).for_each(|at| on_event(at, Event::Significant)),
            Event::Other => (i..i + consumed).for_each(|at| on_event(at, Event::Other)),
        }
        i += consumed;
    }
    state
}

fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

/// The length of a `$tag$` delimiter at the start of `bytes`, if there is one.
fn dollar_delimiter(bytes: &[u8]) -> Option<usize> {
    let mut len = 1;
    while let Some(&byte) = bytes.get(len) {
        match byte {
            b'$' => return Some(len + 1),
            b'0'..=b'9' if len == 1 => return None,
            b if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 => len += 1,
            _ => return None,
        }
    }
    None
}

/// Splits a script into its statements. Empty statements (only whitespace, comments or
/// a lone `;`) are left out; the last statement needs no `;`.
pub fn split_statements(script: &str) -> Vec<Statement<'_>> {
    let mut statements = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    let mut line = 1;
    let mut line_counted_to = 0;
    let bytes = script.as_bytes();
    scan(script, |at, event| {
        while line_counted_to < at {
            if bytes[line_counted_to] == b'\n' {
                line += 1;
            }
            line_counted_to += 1;
        }
        match event {
            Event::Significant if start.is_none() => start = Some((at, line)),
            Event::Terminator => {
                if let Some(from) = start.take() {
                    push_statement(&mut statements, script, from, at);
                }
            }
            _ => {}
        }
    });
    if let Some(from) = start {
        push_statement(&mut statements, script, from, script.len());
    }
    statements
}

/// Adds `script[from.0..to]`, which starts on line `from.1`, unless it is blank.
fn push_statement<'a>(
    statements: &mut Vec<Statement<'a>>,
    script: &'a str,
    from: (usize, usize),
    to: usize,
) {
    let text = script[from.0..to].trim_end();
    if !text.is_empty() {
        statements.push(Statement { text, line: from.1 });
    }
}

/// Whether `buffer` ends a statement: its last token is a `;` outside any literal or
/// comment (trailing whitespace and comments are fine).
pub fn is_complete(buffer: &str) -> bool {
    let mut last_is_terminator = false;
    let end = scan(buffer, |_, event| match event {
        Event::Terminator => last_is_terminator = true,
        Event::Significant => last_is_terminator = false,
        Event::Other => {}
    });
    last_is_terminator && matches!(end, State::Normal | State::LineComment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<(&str, usize)> {
        split_statements(script)
            .into_iter()
            .map(|s| (s.text, s.line))
            .collect()
    }

    #[test]
    fn splits_on_semicolons_with_lines() {
        let script = "CREATE TABLE t (a INT);\n\n-- a comment; with a semicolon\nINSERT INTO t\n  VALUES (1);\nSELECT 1";
        assert_eq!(
            texts(script),
            vec![
                ("CREATE TABLE t (a INT)", 1),
                ("INSERT INTO t\n  VALUES (1)", 4),
                ("SELECT 1", 6),
            ]
        );
    }

    #[test]
    fn ignores_semicolons_in_literals_and_comments() {
        let script = "SELECT 'a;b', \"c;d\", E'x\\';y' /* ; /* nested ; */ ; */;\nSELECT $$;$$, $tag$ ; $ $tag$;";
        assert_eq!(
            texts(script),
            vec![
                (
                    "SELECT 'a;b', \"c;d\", E'x\\';y' /* ; /* nested ; */ ; */",
                    1
                ),
                ("SELECT $$;$$, $tag$ ; $ $tag$", 2),
            ]
        );
        // '' inside a literal is an escaped quote, not two literals around a `;`.
        assert_eq!(texts("SELECT 'it''s;';"), vec![("SELECT 'it''s;'", 1)]);
        // $1 is a parameter, not a dollar quote.
        assert_eq!(
            texts("SELECT $1; SELECT 2"),
            vec![("SELECT $1", 1), ("SELECT 2", 1)]
        );
    }

    #[test]
    fn drops_empty_statements() {
        assert!(texts("  ;; -- only a comment\n /* and this */ ;\n").is_empty());
        assert_eq!(texts("\n\n  SELECT 1 ;;"), vec![("SELECT 1", 3)]);
    }

    #[test]
    fn completeness_drives_continuation() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  \n"));
        assert!(is_complete("SELECT 1; -- trailing comment\n"));
        assert!(is_complete("SELECT 1; -- trailing comment"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT 'a;\n"));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(!is_complete("SELECT 1; SELECT 2"));
        assert!(!is_complete("SELECT $$ ;\n"));
        assert!(is_complete("SELECT 'a;\nb';\n"));
        assert!(!is_complete(""));
        assert!(!is_complete("-- ;\n"));
    }
}
