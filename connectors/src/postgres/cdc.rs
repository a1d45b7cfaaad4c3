//! The `'postgres-cdc'` source: a table's changes through a logical replication slot.
//! See the parent module's docs for the protocol, positions and the snapshot.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::pgoutput::{Change, Relation, TupleValue, image, parse_pgoutput};
use super::{Session, TableInfo, describe_table, format_lsn, parse_lsn, pg_error, quote_ident};
use crate::api::{ConnectorError, Message, Poll, Position, SourceReader};

/// How often an idle CDC reader asks the slot for changes.
const IDLE_INTERVAL: Duration = Duration::from_millis(50);

/// Where a new slot starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupMode {
    /// A snapshot of the table, then its changes.
    Initial,
    /// Only changes after the slot is created.
    LatestOffset,
}

/// The options of `'connector' = 'postgres-cdc'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresCdcOptions {
    pub url: String,
    pub schema: String,
    pub table: String,
    pub slot: String,
    pub publication: String,
    pub startup: StartupMode,
    /// `true`: Debezium change events (`debezium-json`); `false`: the new row of each
    /// insert (`json`), and an update or delete is an error.
    pub changelog: bool,
}

/// One change decoded and not yet handed out.
#[derive(Debug)]
struct Pending {
    message: Message,
    /// The slot may advance to this LSN once this message is committed (the end of its
    /// transaction, when it is the transaction's last message).
    advance: Option<u64>,
    /// A transaction goes on after this message: do not stop a poll here.
    mid_transaction: bool,
    /// Committing this message completes the initial snapshot.
    ends_snapshot: bool,
}

/// Which transactions a snapshot sees (`pg_current_snapshot()`), as 32-bit xids.
#[derive(Clone, Debug)]
struct SnapshotXids {
    xmin: u32,
    xmax: u32,
    in_progress: Vec<u32>,
}

fn xid_precedes(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl SnapshotXids {
    /// Parses `xmin:xmax:xip,...` (64-bit xids, cut to the 32 bits pgoutput sends).
    fn parse(text: &str) -> Option<SnapshotXids> {
        let mut parts = text.splitn(3, ':');
        let xid = |s: &str| s.trim().parse::<u64>().ok().map(|v| v as u32);
        let xmin = xid(parts.next()?)?;
        let xmax = xid(parts.next()?)?;
        let in_progress = match parts.next() {
            Some(list) if !list.trim().is_empty() => {
                list.split(',').map(xid).collect::<Option<Vec<_>>>()?
            }
            _ => Vec::new(),
        };
        Some(SnapshotXids {
            xmin,
            xmax,
            in_progress,
        })
    }

    fn sees(&self, xid: u32) -> bool {
        xid_precedes(xid, self.xmin)
            || (xid_precedes(xid, self.xmax) && !self.in_progress.contains(&xid))
    }
}

/// The initial snapshot being read: a second connection in a repeatable-read
/// transaction with an open cursor over the table.
struct SnapshotRead {
    session: Session,
    xids: SnapshotXids,
    /// The WAL insert position right after the snapshot was taken.
    lsn: u64,
    rows: u64,
}

/// One change of the table, decoded.
enum TableChange {
    /// `op` is `c`, `u` or `d`; `before`/`after` are row images or `null`.
    Row {
        op: &'static str,
        before: Value,
        after: Value,
    },
    /// A `TRUNCATE`: not representable without the table's contents, so it becomes an
    /// event the format rejects and the 'on-error' policy counts.
    Truncate(Value),
}

/// One decoded transaction of the table.
struct Transaction {
    xid: u32,
    messages: Vec<TableChange>,
}

struct ActiveCdc {
    options: PostgresCdcOptions,
    session: Session,
    table: TableInfo,
    relations: HashMap<u32, Relation>,
    snapshot: Option<SnapshotRead>,
    queue: VecDeque<Pending>,
    /// Handed out, not yet committed: offset, advance, ends_snapshot.
    delivered: VecDeque<(String, Option<u64>, bool)>,
    /// End LSN of the last transaction decoded into the queue.
    read_upto: u64,
    /// The slot's confirmed position as we last set or read it.
    confirmed: u64,
    created_slot: bool,
    snapshot_done: bool,
    next_query: Instant,
}

/// Reads a table's changes through a logical replication slot. Only split 0 reads; the
/// others are idle. See the module docs.
pub struct PostgresCdcReader {
    active: Option<ActiveCdc>,
}

impl PostgresCdcReader {
    /// Opens split `split`: split 0 connects, checks the table, creates the publication
    /// and slot as needed and (new slot, `initial`) starts the snapshot.
    pub fn open(
        options: &PostgresCdcOptions,
        split: usize,
    ) -> Result<PostgresCdcReader, ConnectorError> {
        if split != 0 {
            return Ok(PostgresCdcReader { active: None });
        }
        Ok(PostgresCdcReader {
            active: Some(ActiveCdc::open(options)?),
        })
    }
}

fn slot_error(
    options: &PostgresCdcOptions,
    what: &str,
    e: tokio_postgres::Error,
) -> ConnectorError {
    let error = pg_error(format!("{what} (slot '{}')", options.slot), e);
    if error.message.contains("wal_level") {
        error.hint("logical decoding needs wal_level = logical: ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL (scripts/postgres-logical.sh does both)")
    } else {
        error
    }
}

/// Creates the publication for the table if it does not exist; checks that an existing
/// one covers the table.
fn ensure_publication(
    session: &Session,
    options: &PostgresCdcOptions,
    table: &TableInfo,
) -> Result<(), ConnectorError> {
    let what = format!("cannot set up publication '{}'", options.publication);
    let exists = session
        .query(
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1::text), \
                    EXISTS (SELECT 1 FROM pg_publication_tables \
                            WHERE pubname = $1::text AND schemaname = $2::text AND tablename = $3::text)",
            &[&options.publication, &options.schema, &options.table],
        )
        .map_err(|e| pg_error(&what, e))?;
    let (publication, covers) = (exists[0].get::<_, bool>(0), exists[0].get::<_, bool>(1));
    if !publication {
        let created = session.batch(&format!(
            "CREATE PUBLICATION {} FOR TABLE {} WITH (publish = 'insert, update, delete')",
            quote_ident(&options.publication),
            table.qualified
        ));
        // Two readers may race to create it: only a failure that left no publication
        // behind is an error.
        if let Err(e) = created {
            let again = session
                .query(
                    "SELECT 1 FROM pg_publication WHERE pubname = $1::text",
                    &[&options.publication],
                )
                .map_err(|e| pg_error(&what, e))?;
            if again.is_empty() {
                return Err(pg_error(&what, e));
            }
        }
    } else if !covers {
        return Err(ConnectorError::new(format!(
            "publication '{}' exists but does not publish table {}",
            options.publication, table.display
        ))
        .hint(format!(
            "ALTER PUBLICATION {} ADD TABLE {}, or choose another 'publication.name'",
            quote_ident(&options.publication),
            table.qualified
        )));
    }
    Ok(())
}

impl ActiveCdc {
    fn open(options: &PostgresCdcOptions) -> Result<ActiveCdc, ConnectorError> {
        let session = Session::connect(&options.url)?;
        let name = format!(
            "{}.{}",
            quote_ident(&options.schema),
            quote_ident(&options.table)
        );
        let table = describe_table(&session, &name, &options.url)?;
        if table.replica_identity != "f" {
            return Err(ConnectorError::new(format!(
                "table {} does not log old rows (REPLICA IDENTITY is not FULL), so its updates and deletes cannot become retractions",
                table.display
            ))
            .hint(format!("ALTER TABLE {} REPLICA IDENTITY FULL", table.qualified)));
        }
        ensure_publication(&session, options, &table)?;
        let existing = session
            .query(
                "SELECT plugin::text, database::text, slot_type, confirmed_flush_lsn::text, \
                        active_pid, current_database()::text \
                 FROM pg_replication_slots WHERE slot_name = $1::text",
                &[&options.slot],
            )
            .map_err(|e| slot_error(options, "cannot look up the replication slot", e))?;
        let mut reader = ActiveCdc {
            options: options.clone(),
            session,
            table,
            relations: HashMap::new(),
            snapshot: None,
            queue: VecDeque::new(),
            delivered: VecDeque::new(),
            read_upto: 0,
            confirmed: 0,
            created_slot: false,
            snapshot_done: true,
            next_query: Instant::now(),
        };
        match existing.first() {
            Some(slot) => {
                let plugin: Option<String> = slot.get(0);
                let database: Option<String> = slot.get(1);
                let active: Option<i32> = slot.get(4);
                let current: String = slot.get(5);
                if plugin.as_deref() != Some("pgoutput") || database.as_deref() != Some(&current) {
                    return Err(ConnectorError::new(format!(
                        "replication slot '{}' exists but is not a pgoutput slot of database '{current}' (plugin {plugin:?}, database {database:?})",
                        options.slot
                    ))
                    .hint("choose another 'slot.name'"));
                }
                if let Some(pid) = active {
                    return Err(ConnectorError::new(format!(
                        "replication slot '{}' is in use by process {pid}",
                        options.slot
                    ))
                    .hint("one reader per slot: give each source its own 'slot.name'"));
                }
                let confirmed: Option<String> = slot.get(3);
                reader.confirmed = confirmed.as_deref().and_then(parse_lsn).unwrap_or(0);
                reader.read_upto = reader.confirmed;
            }
            None => {
                let created = reader
                    .session
                    .query(
                        "SELECT lsn::text FROM pg_create_logical_replication_slot($1::text::name, 'pgoutput')",
                        &[&options.slot],
                    )
                    .map_err(|e| slot_error(options, "cannot create the replication slot", e))?;
                reader.created_slot = true;
                let lsn: String = created[0].get(0);
                reader.confirmed = parse_lsn(&lsn).unwrap_or(0);
                reader.read_upto = reader.confirmed;
                if options.startup == StartupMode::Initial {
                    reader.snapshot_done = false;
                    match reader.start_snapshot() {
                        Ok(snapshot) => reader.snapshot = Some(snapshot),
                        Err(e) => {
                            reader.drop_slot();
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(reader)
    }

    fn start_snapshot(&self) -> Result<SnapshotRead, ConnectorError> {
        let session = Session::connect(&self.options.url)?;
        let what = format!("cannot read the snapshot of table {}", self.table.display);
        session
            .batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(|e| pg_error(&what, e))?;
        // The first statement takes the transaction's snapshot; the WAL position is read
        // after it, so every transaction the snapshot sees ends before it.
        let row = session
            .query(
                "SELECT pg_current_snapshot()::text, pg_current_wal_insert_lsn()::text",
                &[],
            )
            .map_err(|e| pg_error(&what, e))?;
        let xids_text: String = row[0].get(0);
        let lsn_text: String = row[0].get(1);
        let (Some(xids), Some(lsn)) = (SnapshotXids::parse(&xids_text), parse_lsn(&lsn_text))
        else {
            return Err(ConnectorError::new(format!(
                "{what}: unexpected snapshot '{xids_text}' or LSN '{lsn_text}'"
            )));
        };
        let columns = self
            .table
            .columns
            .iter()
            .map(|c| format!("{}::text", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        session
            .batch(&format!(
                "DECLARE laaster_snapshot NO SCROLL CURSOR FOR SELECT {columns} FROM {}",
                self.table.qualified
            ))
            .map_err(|e| pg_error(&what, e))?;
        Ok(SnapshotRead {
            session,
            xids,
            lsn,
            rows: 0,
        })
    }

    fn drop_slot(&mut self) {
        let _ = self.session.query(
            "SELECT pg_drop_replication_slot($1::text::name)",
            &[&self.options.slot],
        );
    }

    fn partition(&self) -> String {
        self.table.display.clone()
    }

    fn envelope(&self, op: &str, before: Value, after: Value, lsn: u64, xid: u32) -> Value {
        json!({
            "before": before,
            "after": after,
            "op": op,
            "source": {
                "connector": "postgres",
                "schema": self.options.schema,
                "table": self.options.table,
                "lsn": format_lsn(lsn),
                "txId": xid,
            }
        })
    }

    /// Reads up to `max` snapshot rows into the queue; at the end of the table, appends
    /// the transactions the snapshot does not see and marks the snapshot's end.
    fn read_snapshot(&mut self, max: usize) -> Result<(), ConnectorError> {
        let Some(snapshot) = self.snapshot.as_mut() else {
            return Ok(());
        };
        let what = format!("reading the snapshot of table {}", self.table.display);
        let rows = snapshot
            .session
            .query(
                &format!("FETCH FORWARD {} FROM laaster_snapshot", max.max(1)),
                &[],
            )
            .map_err(|e| pg_error(&what, e))?;
        let columns: Vec<(String, u32)> = self
            .table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.type_oid))
            .collect();
        let lsn = snapshot.lsn;
        let first = snapshot.rows;
        snapshot.rows += rows.len() as u64;
        let exhausted = rows.len() < max.max(1);
        for (i, row) in rows.iter().enumerate() {
            let tuple: Vec<TupleValue> = (0..columns.len())
                .map(|c| match row.get::<_, Option<String>>(c) {
                    Some(text) => TupleValue::Text(text.into_bytes()),
                    None => TupleValue::Null,
                })
                .collect();
            let after = image(&columns, &tuple, None);
            let payload = if self.options.changelog {
                self.envelope("r", Value::Null, after, lsn, 0)
            } else {
                after
            };
            self.queue.push_back(Pending {
                message: Message {
                    position: Position {
                        partition: self.partition(),
                        offset: format!("snapshot#{}", first + i as u64),
                    },
                    key: None,
                    payload: payload.to_string().into_bytes(),
                    metadata: Default::default(),
                },
                advance: None,
                mid_transaction: false,
                ends_snapshot: false,
            });
        }
        if exhausted {
            let Some(snapshot) = self.snapshot.take() else {
                return Ok(());
            };
            let _ = snapshot.session.batch("CLOSE laaster_snapshot; COMMIT");
            self.finish_snapshot(snapshot)?;
        }
        Ok(())
    }

    /// Appends the slot's transactions before the snapshot's LSN that the snapshot does
    /// not see; committing the last message moves the slot to that LSN.
    fn finish_snapshot(&mut self, snapshot: SnapshotRead) -> Result<(), ConnectorError> {
        let (transactions, _) = self.peek(Some(snapshot.lsn), None)?;
        for (end_lsn, transaction) in transactions {
            if snapshot.xids.sees(transaction.xid) {
                continue;
            }
            self.enqueue(end_lsn, transaction)?;
        }
        for pending in self.queue.iter_mut() {
            pending.advance = None;
            pending.mid_transaction = false;
        }
        self.read_upto = self.read_upto.max(snapshot.lsn);
        if let Some(last) = self.queue.back_mut() {
            last.advance = Some(snapshot.lsn);
            last.ends_snapshot = true;
        } else if let Some(last) = self.delivered.back_mut() {
            last.1 = Some(snapshot.lsn);
            last.2 = true;
        } else {
            self.advance(snapshot.lsn)?;
            self.snapshot_done = true;
        }
        Ok(())
    }

    /// Decodes the slot's transactions (of our table) committed before `upto`, at most
    /// about `changes` messages, without consuming them.
    fn peek(
        &mut self,
        upto: Option<u64>,
        changes: Option<i32>,
    ) -> Result<(Vec<(u64, Transaction)>, usize), ConnectorError> {
        let upto_text = upto.map(format_lsn);
        let rows = self
            .session
            .query(
                "SELECT data FROM pg_logical_slot_peek_binary_changes($1::text::name, \
                     $2::text::pg_lsn, $3::int4, 'proto_version', '1', 'publication_names', $4::text)",
                &[
                    &self.options.slot,
                    &upto_text,
                    &changes,
                    &quote_ident(&self.options.publication),
                ],
            )
            .map_err(|e| slot_error(&self.options, "cannot read changes", e))?;
        let mut transactions = Vec::new();
        let mut current: Option<Transaction> = None;
        for row in &rows {
            let data: Vec<u8> = row.get(0);
            let change = parse_pgoutput(&data).map_err(|e| {
                ConnectorError::new(format!(
                    "cannot parse a pgoutput message of slot '{}': {e}",
                    self.options.slot
                ))
                .hint("this reader speaks pgoutput protocol version 1")
            })?;
            match change {
                Change::Begin { xid } => {
                    current = Some(Transaction {
                        xid,
                        messages: Vec::new(),
                    })
                }
                Change::Commit { end_lsn } => {
                    if let Some(transaction) = current.take() {
                        transactions.push((end_lsn, transaction));
                    }
                }
                Change::Relation(id, relation) => {
                    self.relations.insert(id, relation);
                }
                Change::Other => {}
                change => {
                    if let Some(transaction) = current.as_mut()
                        && let Some(message) = self.change_message(change)?
                    {
                        transaction.messages.push(message);
                    }
                }
            }
        }
        Ok((transactions, rows.len()))
    }

    /// A row change of our table (`None` for other tables).
    fn change_message(&self, change: Change) -> Result<Option<TableChange>, ConnectorError> {
        let ours = |id: &u32| {
            self.relations
                .get(id)
                .filter(|r| r.namespace == self.options.schema && r.name == self.options.table)
        };
        let (op, before, after) = match &change {
            Change::Insert { relation, new } => {
                let Some(r) = ours(relation) else {
                    return Ok(None);
                };
                ("c", Value::Null, image(&r.columns, new, None))
            }
            Change::Update { relation, old, new } => {
                let Some(r) = ours(relation) else {
                    return Ok(None);
                };
                let before = old
                    .as_ref()
                    .map_or(Value::Null, |old| image(&r.columns, old, None));
                ("u", before, image(&r.columns, new, old.as_deref()))
            }
            Change::Delete { relation, old } => {
                let Some(r) = ours(relation) else {
                    return Ok(None);
                };
                let before = old
                    .as_ref()
                    .map_or(Value::Null, |old| image(&r.columns, old, None));
                ("d", before, Value::Null)
            }
            Change::Truncate { relations } => {
                if !relations.iter().any(|id| ours(id).is_some()) {
                    return Ok(None);
                }
                return Ok(Some(TableChange::Truncate(json!({"op": "t", "source": {
                    "connector": "postgres", "schema": self.options.schema,
                    "table": self.options.table, "error": "TRUNCATE is not captured"}}))));
            }
            _ => return Ok(None),
        };
        Ok(Some(TableChange::Row { op, before, after }))
    }

    /// Puts a decoded transaction's messages in the queue.
    fn enqueue(&mut self, end_lsn: u64, transaction: Transaction) -> Result<(), ConnectorError> {
        let count = transaction.messages.len();
        let partition = self.partition();
        for (i, change) in transaction.messages.into_iter().enumerate() {
            let payload = match change {
                TableChange::Truncate(event) => event,
                TableChange::Row { op, before, after } => {
                    if self.options.changelog {
                        self.envelope(op, before, after, end_lsn, transaction.xid)
                    } else if op == "c" {
                        after
                    } else {
                        return Err(ConnectorError::new(format!(
                            "table {} had {} at LSN {} (transaction {}), but 'format' = 'json' reads inserts only",
                            self.table.display,
                            if op == "u" { "an UPDATE" } else { "a DELETE" },
                            format_lsn(end_lsn),
                            transaction.xid
                        ))
                        .hint("use 'format' = 'debezium-json' (the default) to read updates and deletes"));
                    }
                }
            };
            let last = i + 1 == count;
            self.queue.push_back(Pending {
                message: Message {
                    position: Position {
                        partition: partition.clone(),
                        offset: format!("{}#{i}", format_lsn(end_lsn)),
                    },
                    key: None,
                    payload: payload.to_string().into_bytes(),
                    metadata: Default::default(),
                },
                advance: last.then_some(end_lsn),
                mid_transaction: !last,
                ends_snapshot: false,
            });
        }
        self.read_upto = self.read_upto.max(end_lsn);
        Ok(())
    }

    /// Reads the slot's next transactions into the queue; when there are none and
    /// nothing is waiting for a commit, moves the slot past the WAL read.
    fn read_changes(&mut self, max: usize) -> Result<(), ConnectorError> {
        let current = self
            .session
            .query("SELECT pg_current_wal_lsn()::text", &[])
            .map_err(|e| slot_error(&self.options, "cannot read the WAL position", e))?;
        let current: String = current[0].get(0);
        let Some(upto) = parse_lsn(&current) else {
            return Err(ConnectorError::new(format!(
                "unexpected WAL position '{current}'"
            )));
        };
        // The slot gives transactions from its confirmed position on; those read and not
        // yet committed come first. Ask for more until something new (or the end) shows.
        let mut limit = i32::try_from(max.max(1)).unwrap_or(i32::MAX);
        loop {
            let (transactions, rows) = self.peek(Some(upto), Some(limit))?;
            // Fewer rows than asked: decoding reached `upto`.
            let complete = rows < limit as usize;
            let mut new = false;
            for (end_lsn, transaction) in transactions {
                if end_lsn <= self.read_upto {
                    continue;
                }
                new = true;
                if transaction.messages.is_empty() {
                    self.read_upto = end_lsn;
                } else {
                    self.enqueue(end_lsn, transaction)?;
                }
            }
            if self.queue.is_empty() && self.delivered.is_empty() && self.snapshot_done {
                // Everything read is committed: skip what holds nothing of ours.
                let target = if complete {
                    upto.max(self.read_upto)
                } else {
                    self.read_upto
                };
                self.read_upto = target;
                if target > self.confirmed {
                    self.advance(target)?;
                }
            }
            if new || complete || limit == i32::MAX {
                return Ok(());
            }
            limit = limit.saturating_mul(4);
        }
    }

    fn advance(&mut self, lsn: u64) -> Result<(), ConnectorError> {
        self.session
            .query(
                "SELECT pg_replication_slot_advance($1::text::name, $2::text::pg_lsn)",
                &[&self.options.slot, &format_lsn(lsn)],
            )
            .map_err(|e| slot_error(&self.options, "cannot advance the replication slot", e))?;
        self.confirmed = self.confirmed.max(lsn);
        Ok(())
    }

    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        if self.queue.is_empty() {
            if self.snapshot.is_some() {
                self.read_snapshot(max)?;
            } else {
                let now = Instant::now();
                if now < self.next_query {
                    let wait = self.next_query - now;
                    if timeout < wait {
                        return Ok(Poll::Idle);
                    }
                    std::thread::sleep(wait);
                }
                self.read_changes(max)?;
                if self.queue.is_empty() {
                    self.next_query = Instant::now() + IDLE_INTERVAL;
                }
            }
        }
        if self.queue.is_empty() {
            return Ok(Poll::Idle);
        }
        let mut taken = 0;
        while let Some(pending) = self.queue.pop_front() {
            taken += 1;
            let stop = taken >= max && !pending.mid_transaction;
            self.delivered.push_back((
                pending.message.position.offset.clone(),
                pending.advance,
                pending.ends_snapshot,
            ));
            out.push(pending.message);
            if stop {
                break;
            }
        }
        Ok(Poll::Ready)
    }

    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError> {
        let Some(end) = self
            .delivered
            .iter()
            .position(|(offset, _, _)| *offset == through.offset)
        else {
            return Ok(());
        };
        let mut target = None;
        for (_, advance, ends_snapshot) in self.delivered.drain(..=end) {
            if advance.is_some() {
                target = advance.max(target);
            }
            if ends_snapshot {
                self.snapshot_done = true;
            }
        }
        match target {
            Some(lsn) if lsn > self.confirmed => self.advance(lsn),
            _ => Ok(()),
        }
    }

    fn close(&mut self) {
        if let Some(snapshot) = self.snapshot.take() {
            let _ = snapshot.session.batch("ROLLBACK");
        }
        if self.created_slot && !self.snapshot_done {
            // The snapshot was not delivered whole: start over next time.
            self.drop_slot();
        }
    }
}

impl SourceReader for PostgresCdcReader {
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Message>,
    ) -> Result<Poll, ConnectorError> {
        match self.active.as_mut() {
            Some(active) => active.poll(max, timeout, out),
            None => {
                std::thread::sleep(timeout.min(IDLE_INTERVAL));
                Ok(Poll::Idle)
            }
        }
    }

    fn commit(&mut self, through: &Position) -> Result<(), ConnectorError> {
        match self.active.as_mut() {
            Some(active) => active.commit(through),
            None => Ok(()),
        }
    }

    fn close(&mut self) {
        if let Some(active) = self.active.as_mut() {
            active.close();
        }
        self.active = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_visibility() {
        let xids = SnapshotXids::parse("100:105:101,103").unwrap();
        assert!(xids.sees(99));
        assert!(!xids.sees(101));
        assert!(xids.sees(102));
        assert!(!xids.sees(103));
        assert!(!xids.sees(105));
        assert!(!xids.sees(200));
        assert!(SnapshotXids::parse("5:5:").is_some());
        assert!(SnapshotXids::parse("x").is_none());
    }
}
