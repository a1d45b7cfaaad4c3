//! The `pgoutput` logical decoding messages (protocol version 1), as PostgreSQL's
//! "Logical Replication Message Formats" describes them, and row images as the JSON
//! the table's format reads.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

/// One column value of a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TupleValue {
    Null,
    /// An unchanged TOASTed value, not in the WAL.
    Unchanged,
    Text(Vec<u8>),
}

#[derive(Clone, Debug)]
pub(super) struct Relation {
    pub(super) namespace: String,
    pub(super) name: String,
    /// Name and type oid of each column.
    pub(super) columns: Vec<(String, u32)>,
}

#[derive(Debug)]
pub(super) enum Change {
    Begin {
        xid: u32,
    },
    Commit {
        end_lsn: u64,
    },
    Relation(u32, Relation),
    Insert {
        relation: u32,
        new: Vec<TupleValue>,
    },
    Update {
        relation: u32,
        old: Option<Vec<TupleValue>>,
        new: Vec<TupleValue>,
    },
    Delete {
        relation: u32,
        old: Option<Vec<TupleValue>>,
    },
    Truncate {
        relations: Vec<u32>,
    },
    /// Origin, Type, Message: nothing for us.
    Other,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "message truncated: wanted {n} bytes at byte {} of {}",
                self.at,
                self.bytes.len()
            ));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut array = [0; 8];
        array.copy_from_slice(b);
        Ok(u64::from_be_bytes(array))
    }

    fn string(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(format!("unterminated string at byte {}", self.at));
        };
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.at += len + 1;
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<TupleValue>, String> {
        let count = self.i16()?;
        let mut values = Vec::with_capacity(count.max(0) as usize);
        for _ in 0..count {
            values.push(match self.u8()? {
                b'n' => TupleValue::Null,
                b'u' => TupleValue::Unchanged,
                b't' => {
                    let len = self.u32()? as usize;
                    TupleValue::Text(self.take(len)?.to_vec())
                }
                other => return Err(format!("unknown tuple value kind '{}'", other as char)),
            });
        }
        Ok(values)
    }
}

/// Parses one pgoutput message.
pub(super) fn parse_pgoutput(bytes: &[u8]) -> Result<Change, String> {
    let mut c = Cursor { bytes, at: 0 };
    Ok(match c.u8()? {
        b'B' => {
            let _final_lsn = c.u64()?;
            let _timestamp = c.u64()?;
            Change::Begin { xid: c.u32()? }
        }
        b'C' => {
            let _flags = c.u8()?;
            let _commit_lsn = c.u64()?;
            Change::Commit { end_lsn: c.u64()? }
        }
        b'R' => {
            let id = c.u32()?;
            let namespace = c.string()?;
            let name = c.string()?;
            let _identity = c.u8()?;
            let count = c.i16()?;
            let mut columns = Vec::with_capacity(count.max(0) as usize);
            for _ in 0..count {
                let _flags = c.u8()?;
                let column = c.string()?;
                let type_oid = c.u32()?;
                let _modifier = c.u32()?;
                columns.push((column, type_oid));
            }
            Change::Relation(
                id,
                Relation {
                    namespace: if namespace.is_empty() {
                        "pg_catalog".into()
                    } else {
                        namespace
                    },
                    name,
                    columns,
                },
            )
        }
        b'I' => {
            let relation = c.u32()?;
            match c.u8()? {
                b'N' => Change::Insert {
                    relation,
                    new: c.tuple()?,
                },
                other => return Err(format!("insert: expected 'N', got '{}'", other as char)),
            }
        }
        b'U' => {
            let relation = c.u32()?;
            let mut old = None;
            let mut kind = c.u8()?;
            if kind == b'K' || kind == b'O' {
                let tuple = c.tuple()?;
                // A key-only old tuple is not the old row: leave `before` out.
                if kind == b'O' {
                    old = Some(tuple);
                }
                kind = c.u8()?;
            }
            if kind != b'N' {
                return Err(format!("update: expected 'N', got '{}'", kind as char));
            }
            Change::Update {
                relation,
                old,
                new: c.tuple()?,
            }
        }
        b'D' => {
            let relation = c.u32()?;
            let kind = c.u8()?;
            let tuple = c.tuple()?;
            Change::Delete {
                relation,
                old: (kind == b'O').then_some(tuple),
            }
        }
        b'T' => {
            let count = c.u32()?;
            let _options = c.u8()?;
            let mut relations = Vec::new();
            for _ in 0..count {
                relations.push(c.u32()?);
            }
            Change::Truncate { relations }
        }
        b'O' | b'Y' | b'M' => Change::Other,
        other => return Err(format!("unknown pgoutput message '{}'", other as char)),
    })
}

const BYTEA_OID: u32 = 17;
const JSON_OID: u32 = 114;
const JSONB_OID: u32 = 3802;

/// A value's text output as the JSON the table's format reads.
pub(super) fn text_to_json(type_oid: u32, text: &[u8]) -> Value {
    let text = String::from_utf8_lossy(text);
    match type_oid {
        BYTEA_OID => match text.strip_prefix("\\x").map(decode_hex) {
            Some(Some(bytes)) => Value::String(BASE64.encode(bytes)),
            _ => Value::String(text.into_owned()),
        },
        JSON_OID | JSONB_OID => {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
        }
        _ => Value::String(text.into_owned()),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A tuple as a JSON object by column name. An unchanged TOASTed value is taken from
/// `fallback` (the old row) when it has it, and left out otherwise.
pub(super) fn image(
    columns: &[(String, u32)],
    tuple: &[TupleValue],
    fallback: Option<&[TupleValue]>,
) -> Value {
    let mut object = Map::new();
    for (i, ((name, type_oid), value)) in columns.iter().zip(tuple).enumerate() {
        let value = match value {
            TupleValue::Unchanged => match fallback.and_then(|old| old.get(i)) {
                Some(TupleValue::Text(text)) => text_to_json(*type_oid, text),
                Some(TupleValue::Null) => Value::Null,
                _ => continue,
            },
            TupleValue::Null => Value::Null,
            TupleValue::Text(text) => text_to_json(*type_oid, text),
        };
        object.insert(name.clone(), value);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pgoutput_messages_parse_and_truncation_is_an_error() {
        let mut relation = vec![b'R'];
        relation.extend(16384u32.to_be_bytes());
        relation.extend(b"public\0t\0");
        relation.push(b'f');
        relation.extend(2i16.to_be_bytes());
        for (name, oid) in [("id", 23u32), ("doc", JSONB_OID)] {
            relation.push(1);
            relation.extend(name.as_bytes());
            relation.push(0);
            relation.extend(oid.to_be_bytes());
            relation.extend((-1i32).to_be_bytes());
        }
        let Change::Relation(id, parsed) = parse_pgoutput(&relation).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!(id, 16384);
        assert_eq!(parsed.columns[1], ("doc".to_string(), JSONB_OID));
        let mut insert = vec![b'I'];
        insert.extend(16384u32.to_be_bytes());
        insert.push(b'N');
        insert.extend(2i16.to_be_bytes());
        insert.push(b't');
        insert.extend(1u32.to_be_bytes());
        insert.push(b'7');
        insert.push(b'n');
        let Change::Insert { new, .. } = parse_pgoutput(&insert).unwrap() else {
            panic!("not an insert")
        };
        assert_eq!(
            image(&parsed.columns, &new, None),
            json!({"id": "7", "doc": null})
        );
        for cut in 0..insert.len() {
            assert!(parse_pgoutput(&insert[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse_pgoutput(b"Z").is_err());
    }

    #[test]
    fn values_become_the_json_the_format_reads() {
        assert_eq!(text_to_json(BYTEA_OID, b"\\x0001ff"), json!("AAH/"));
        assert_eq!(text_to_json(JSONB_OID, br#"{"a": 1}"#), json!({"a": 1}));
        assert_eq!(text_to_json(25, b"hi"), json!("hi"));
    }
}
