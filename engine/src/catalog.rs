//! The coordinator's catalog: every table and view, by id and by name.

use std::collections::{BTreeMap, HashMap, HashSet};

use laaster_repr::Row;
use laaster_repr::plan::GlobalId;
use laaster_sql::{Catalog, CatalogItem};

/// Tables and views, plus each keyed table's primary-key index (used to reject
/// duplicate keys on INSERT and UPDATE).
#[derive(Default)]
pub(crate) struct CatalogState {
    items: BTreeMap<GlobalId, CatalogItem>,
    names: HashMap<String, GlobalId>,
    next_id: GlobalId,
    /// For tables with a PRIMARY KEY: how many rows hold each key (0 or 1).
    pub primary_keys: HashMap<GlobalId, HashMap<Row, i64>>,
    /// Streamed source tables with a WATERMARK: their event time (for window operators).
    pub event_times: HashMap<GlobalId, laaster_sql::catalog::EventTime>,
    /// Source tables whose connector also writes (`INSERT INTO` them starts a sink).
    pub writable_sources: HashSet<GlobalId>,
    /// Source tables that carry changes (`debezium-json`, `'scan.mode' = 'upsert'`).
    pub retracting_sources: HashSet<GlobalId>,
    /// Streamed source tables whose connector only appends: every dataflow reading one
    /// sees insertions only (monotonic aggregates and Top-N may rely on it).
    pub append_only_sources: HashSet<GlobalId>,
    /// Tables a source owns (its `<source>_errors` dead-letter table), dropped with it
    /// without CASCADE: owned id -> owner id.
    pub owned_by: HashMap<GlobalId, GlobalId>,
}

impl CatalogState {
    pub fn allocate_id(&mut self) -> GlobalId {
        self.next_id += 1;
        self.next_id
    }

    pub fn insert(&mut self, item: CatalogItem) {
        if item.table.as_ref().is_some_and(|t| t.primary_key.is_some()) {
            self.primary_keys.insert(item.id, HashMap::new());
        }
        self.names.insert(item.name.clone(), item.id);
        self.items.insert(item.id, item);
    }

    pub fn remove(&mut self, id: GlobalId) -> Option<CatalogItem> {
        let item = self.items.remove(&id)?;
        self.names.remove(&item.name);
        self.primary_keys.remove(&id);
        self.writable_sources.remove(&id);
        self.retracting_sources.remove(&id);
        self.append_only_sources.remove(&id);
        self.owned_by.remove(&id);
        Some(item)
    }

    /// Items that read `id` directly.
    pub fn dependents_of(&self, id: GlobalId) -> Vec<GlobalId> {
        self.items
            .values()
            .filter(|item| item.uses.contains(&id))
            .map(|item| item.id)
            .collect()
    }
}

impl Catalog for CatalogState {
    fn get(&self, name: &str) -> Option<&CatalogItem> {
        self.names.get(name).and_then(|id| self.items.get(id))
    }

    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.items.get(&id)
    }

    fn event_time(&self, id: GlobalId) -> Option<laaster_sql::catalog::EventTime> {
        self.event_times.get(&id).copied()
    }

    fn source_writable(&self, id: GlobalId) -> bool {
        self.writable_sources.contains(&id)
    }

    fn source_retracts(&self, id: GlobalId) -> bool {
        self.retracting_sources.contains(&id)
    }

    fn append_only(&self, id: GlobalId) -> bool {
        self.append_only_sources.contains(&id)
    }

    fn items(&self) -> Vec<&CatalogItem> {
        self.items.values().collect()
    }
}
