//! The catalog kept in the data directory: every DDL statement that succeeded, in order,
//! in `catalog.sql` (one statement per entry, each ending in `;` and a blank line).
//! On start the server replays the file into a fresh engine, which brings back the same
//! tables, views and sources (not the rows of tables: data is not persisted).
//!
//! Appends are flushed and synced before the client is answered, so an acknowledged
//! `CREATE` survives a crash. A statement that fails on replay (e.g. after an upgrade
//! changed the SQL accepted) is logged and skipped; the rest still load.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The append-only DDL log of one data directory.
pub struct CatalogStore {
    path: PathBuf,
    file: Mutex<File>,
}

/// Whether a command tag is DDL that must be persisted.
pub fn is_catalog_change(tag: &str) -> bool {
    let tag = tag.trim_start();
    ["CREATE ", "DROP ", "ALTER "]
        .iter()
        .any(|prefix| tag.starts_with(prefix))
}

impl CatalogStore {
    /// Opens (creating the directory and file if needed) `data_dir/catalog.sql`.
    pub fn open(data_dir: &Path) -> std::io::Result<CatalogStore> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("catalog.sql");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(CatalogStore {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The statements recorded so far, in order.
    pub fn statements(&self) -> std::io::Result<Vec<String>> {
        let text = std::fs::read_to_string(&self.path)?;
        Ok(split_entries(&text))
    }

    /// Appends one statement and syncs it to disk.
    pub fn append(&self, statement: &str) -> std::io::Result<()> {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let statement = statement.trim().trim_end_matches(';').trim_end();
        // Entries are separated by a line holding only the marker, so statements may
        // contain blank lines, semicolons and anything else SQL allows.
        writeln!(file, "{statement};\n{ENTRY_END}")?;
        file.sync_data()
    }
}

const ENTRY_END: &str = "-- laaster:end";

fn split_entries(text: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line == ENTRY_END {
            let entry = current.trim();
            if !entry.is_empty() {
                entries.push(entry.to_string());
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    // A torn last entry (crash mid-write) has no marker and is ignored.
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back_in_order() {
        let dir = std::env::temp_dir().join(format!("laaster-catalog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = CatalogStore::open(&dir).unwrap();
        store.append("CREATE TABLE t (a INT)").unwrap();
        store
            .append("CREATE VIEW v AS\n\nSELECT ';' AS s FROM t;")
            .unwrap();
        drop(store);
        let store = CatalogStore::open(&dir).unwrap();
        assert_eq!(
            store.statements().unwrap(),
            vec![
                "CREATE TABLE t (a INT);".to_string(),
                "CREATE VIEW v AS\n\nSELECT ';' AS s FROM t;".to_string()
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn classifies_tags() {
        assert!(is_catalog_change("CREATE MATERIALIZED VIEW"));
        assert!(is_catalog_change("DROP TABLE"));
        assert!(!is_catalog_change("INSERT 0 1"));
        assert!(!is_catalog_change("CREATE"));
    }
}
