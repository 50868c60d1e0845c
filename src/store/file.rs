//! The database file's life: creating it atomically, recognising a creation
//! that never finished, and opening it (redb repairs a file that was not
//! closed cleanly).
//!
//! A first start on a full disk used to leave a `lunagate.redb` of zeros
//! that every later start refused ("invalid data"). Now a new database is
//! built as `lunagate.redb.creating`, synced, and renamed into place: the
//! real name only ever holds a complete database. A file left by an older
//! build is recognised too: redb writes its magic number last when it
//! initialises a file, so a header still all zeros means nothing was ever
//! stored, and the file is set aside and created again.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use redb::{Database, TableHandle};

use super::{create_tables, StoreError, TABLE_NAMES};

/// Bytes redb writes first in a finished file (its magic number's length).
const HEADER_PROBE: usize = 9;

/// Opens the database at `path`, creating it (atomically) when missing.
pub fn open_database(path: &Path) -> Result<Database, StoreError> {
    if incomplete_creation(path)? {
        let aside = sibling(path, "incomplete");
        tracing::warn!(
            "{} was never fully created (a start on a full disk?): moving it to {} and creating it again",
            path.display(),
            aside.display()
        );
        fs::rename(path, &aside)?;
    }
    if !path.exists() {
        create_atomically(path)?;
    }
    let db = Database::create(path)?;
    ensure_tables(&db)?;
    Ok(db)
}

/// Whether `path` is a file redb started to initialise but never finished.
fn incomplete_creation(path: &Path) -> Result<bool, StoreError> {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut head = Vec::with_capacity(HEADER_PROBE);
    file.by_ref()
        .take(HEADER_PROBE as u64)
        .read_to_end(&mut head)?;
    // An empty file is one redb initialises itself.
    Ok(!head.is_empty() && head.iter().all(|b| *b == 0))
}

/// Builds a new database next to `path`, syncs it, and renames it into
/// place. On failure nothing is left under either name.
fn create_atomically(path: &Path) -> Result<(), StoreError> {
    let temp = sibling(path, "creating");
    let _ = fs::remove_file(&temp);
    let built = (|| {
        let db = Database::create(&temp)?;
        ensure_tables(&db)?;
        drop(db);
        fs::File::open(&temp)?.sync_all()?;
        fs::rename(&temp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is synced.
            fs::File::open(dir)?.sync_all()?;
        }
        Ok::<(), StoreError>(())
    })();
    if built.is_err() {
        let _ = fs::remove_file(&temp);
    }
    built
}

/// Creates the tables a file lacks (all of them in a new file). A file
/// that has them all is not written to, so a start on a full disk with an
/// existing database works.
fn ensure_tables(db: &Database) -> Result<(), StoreError> {
    let present: Vec<String> = db
        .begin_read()?
        .list_tables()?
        .map(|t| t.name().to_string())
        .collect();
    if TABLE_NAMES.iter().all(|t| present.iter().any(|p| p == t)) {
        return Ok(());
    }
    let txn = db.begin_write()?;
    create_tables(&txn, &present)?;
    txn.commit()?;
    Ok(())
}

/// `lunagate.redb` → `lunagate.redb.<suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}
