//! Entity storage in one redb file. Every table is declared here, and
//! nothing outside this module opens a transaction.
//!
//! Entities are stored as JSON objects keyed by id, one table per kind. A
//! second table indexes unique values (`services/name/x` → id), so that
//! uniqueness and foreign keys are checked inside the same write
//! transaction that changes the entity: a write is all or nothing.
//!
//! An I/O error (a full disk) leaves a redb `Database` refusing every later
//! operation ("previous I/O error"). The store then reopens the file at
//! its next operation, which repairs it from the last commit; until the
//! disk has room again that fails and the request gets a 500, and the first
//! operation after that works: no restart needed. How the file is created
//! and opened is in `file.rs`.

mod file;
mod refs;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::entities::Kind;

const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
const ROUTES: TableDefinition<&str, &[u8]> = TableDefinition::new("routes");
const PLUGINS: TableDefinition<&str, &[u8]> = TableDefinition::new("plugins");
const CONSUMERS: TableDefinition<&str, &[u8]> = TableDefinition::new("consumers");
const CERTIFICATES: TableDefinition<&str, &[u8]> = TableDefinition::new("certificates");
const SNIS: TableDefinition<&str, &[u8]> = TableDefinition::new("snis");
const CA_CERTIFICATES: TableDefinition<&str, &[u8]> = TableDefinition::new("ca_certificates");
const UPSTREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("upstreams");
const TARGETS: TableDefinition<&str, &[u8]> = TableDefinition::new("targets");
/// `kind/field/value` → id, for every unique field that is set.
const UNIQUE: TableDefinition<&str, &str> = TableDefinition::new("unique");
/// `version` → number of committed changes, for snapshots.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Every table a complete database file has.
const TABLE_NAMES: [&str; 12] = [
    "services",
    "routes",
    "plugins",
    "consumers",
    "certificates",
    "snis",
    "ca_certificates",
    "upstreams",
    "targets",
    "unique",
    "meta",
    "refs",
];

/// Creates the tables `present` lacks (all of them in a new file), and
/// fills the references index when it is new.
fn create_tables(txn: &WriteTransaction, present: &[String]) -> Result<(), StoreError> {
    for kind in Kind::ALL {
        txn.open_table(table(kind))?;
    }
    txn.open_table(UNIQUE)?;
    txn.open_table(META)?;
    txn.open_table(refs::REFS)?;
    if !present.iter().any(|t| t == "refs") {
        refs::rebuild(txn)?;
    }
    Ok(())
}

fn table(kind: Kind) -> TableDefinition<'static, &'static str, &'static [u8]> {
    match kind {
        Kind::Service => SERVICES,
        Kind::Route => ROUTES,
        Kind::Plugin => PLUGINS,
        Kind::Consumer => CONSUMERS,
        Kind::Certificate => CERTIFICATES,
        Kind::Sni => SNIS,
        Kind::CaCertificate => CA_CERTIFICATES,
        Kind::Upstream => UPSTREAMS,
        Kind::Target => TARGETS,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field (or a plugin's scope) is already taken.
    #[error("UNIQUE violation detected on '{{{}}}'", unique_text(.field, .value))]
    Unique { field: String, value: Value },
    /// The same id exists already (a POST with an explicit id).
    #[error("already exists with value '{0}'")]
    PrimaryKey(Uuid),
    /// A foreign key points at nothing.
    #[error("the foreign key '{{id=\"{id}\"}}' does not reference an existing '{}' entity.", .target.collection())]
    ForeignKey {
        field: &'static str,
        target: Kind,
        id: String,
    },
    /// Deleting an entity that others still reference.
    #[error("an existing '{}' entity references this '{}' entity", .by.collection(), .kind.collection())]
    ReferencedBy { kind: Kind, by: Kind },
    /// Deleting a CA certificate a service still lists (Kong's code 19).
    #[error("ca certificate {ca} is still referenced by services (id = {service})")]
    CaReferenced { ca: Uuid, service: String },
    #[error("database error: {0}")]
    Db(String),
    /// The file could not be read or written (a full disk …): the database
    /// is reopened at the next operation.
    #[error("database I/O error: {0}")]
    Io(String),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                match redb::Error::from(e) {
                    e @ (redb::Error::Io(_) | redb::Error::PreviousIo) => StoreError::Io(e.to_string()),
                    e => StoreError::Db(e.to_string()),
                }
            }
        }
    )*};
}
db_err!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

pub type Entity = Map<String, Value>;

/// Why `Store::replace_all` refused: the error, and the position of the
/// entity that caused it (none when the database itself failed).
#[derive(Debug)]
pub struct ReplaceError {
    pub entity: Option<usize>,
    pub error: StoreError,
}

pub struct Store {
    path: PathBuf,
    /// `None` only between a failed reopen and the next attempt.
    db: RwLock<Option<Database>>,
    /// An operation failed with an I/O error: reopen before the next one.
    broken: AtomicBool,
    /// How many times the file was reopened.
    reopened: AtomicU64,
}

impl Store {
    /// Opens the database file, creating it atomically when missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = file::open_database(path)?;
        Ok(Store {
            path: path.to_path_buf(),
            db: RwLock::new(Some(db)),
            broken: AtomicBool::new(false),
            reopened: AtomicU64::new(0),
        })
    }

    /// Runs `f` on the database, reopening it first after an I/O error.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.broken.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let db = guard
            .as_ref()
            .ok_or_else(|| StoreError::Io("the database is closed after an I/O error".into()))?;
        let result = f(db);
        if let Err(StoreError::Io(e)) = &result {
            tracing::warn!("database I/O error, the file will be reopened: {e}");
            self.broken.store(true, Ordering::Release);
        }
        result
    }

    /// Closes the failed `Database` (it holds the file lock) and opens the
    /// file again; redb repairs it from the last commit. On failure the
    /// store stays broken and the next operation tries again.
    fn reopen(&self) -> Result<(), StoreError> {
        let mut guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if !self.broken.load(Ordering::Acquire) {
            return Ok(());
        }
        *guard = None;
        let db = file::open_database(&self.path)?;
        *guard = Some(db);
        self.broken.store(false, Ordering::Release);
        self.reopened.fetch_add(1, Ordering::AcqRel);
        tracing::warn!(
            "database {} reopened after an I/O error",
            self.path.display()
        );
        Ok(())
    }

    /// Changes whenever the file was reopened after an I/O error (what the
    /// Admin API keeps in memory is then read again).
    pub fn generation(&self) -> u64 {
        self.reopened.load(Ordering::Acquire)
    }

    pub fn version(&self) -> Result<u64, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            Ok(meta.get("version")?.map(|v| v.value()).unwrap_or(0))
        })
    }

    pub fn get(&self, kind: Kind, id: &Uuid) -> Result<Option<Entity>, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let t = txn.open_table(table(kind))?;
            let key = id.to_string();
            let found = t.get(key.as_str())?;
            found.map(|v| decode(v.value())).transpose()
        })
    }

    /// Looks an entity up by its endpoint key (`name`, `username`…).
    pub fn find_by_key(&self, kind: Kind, value: &str) -> Result<Option<Entity>, StoreError> {
        let id = self.with_db(|db| {
            let txn = db.begin_read()?;
            let unique = txn.open_table(UNIQUE)?;
            let key = unique_key(kind, kind.endpoint_key(), &Value::from(value));
            let found = unique.get(key.as_str())?;
            Ok(found.map(|v| v.value().to_string()))
        })?;
        match id.and_then(|id| Uuid::parse_str(&id).ok()) {
            Some(id) => self.get(kind, &id),
            None => Ok(None),
        }
    }

    /// The target `target` (`host:port`) of the upstream `upstream`.
    pub fn find_target(&self, upstream: &str, target: &str) -> Result<Option<Entity>, StoreError> {
        let id = self.with_db(|db| {
            let txn = db.begin_read()?;
            let unique = txn.open_table(UNIQUE)?;
            let found = unique.get(target_key(upstream, target).as_str())?;
            Ok(found.map(|v| v.value().to_string()))
        })?;
        match id.and_then(|id| Uuid::parse_str(&id).ok()) {
            Some(id) => self.get(Kind::Target, &id),
            None => Ok(None),
        }
    }

    /// Every entity of a kind, ordered by id.
    pub fn list(&self, kind: Kind) -> Result<Vec<Entity>, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let t = txn.open_table(table(kind))?;
            let mut out = Vec::with_capacity(t.len()? as usize);
            for row in t.iter()? {
                let (_, v) = row?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// One page of entities with ids after `after`, plus whether more follow.
    pub fn page(
        &self,
        kind: Kind,
        after: Option<&str>,
        size: usize,
        filter: &dyn Fn(&Entity) -> bool,
    ) -> Result<(Vec<Entity>, bool), StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let t = txn.open_table(table(kind))?;
            let mut out = Vec::new();
            let iter = match after {
                Some(a) => {
                    t.range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?
                }
                None => t.range::<&str>(..)?,
            };
            for row in iter {
                let (_, v) = row?;
                let e = decode(v.value())?;
                if filter(&e) {
                    if out.len() == size {
                        return Ok((out, true));
                    }
                    out.push(e);
                }
            }
            Ok((out, false))
        })
    }

    /// Writes an entity (insert or replace), checking unique fields and
    /// foreign keys in the same transaction. `expect_new` refuses an
    /// existing id (POST).
    pub fn put(&self, kind: Kind, entity: &Entity, expect_new: bool) -> Result<(), StoreError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            write_entity(&txn, kind, entity, expect_new)?;
            bump_version(&txn)?;
            txn.commit()?;
            Ok(())
        })
    }

    /// Writes a certificate and, when `snis` is given, makes those names
    /// its SNIs (creating, keeping and deleting `snis` entities), in one
    /// transaction.
    pub fn put_certificate(
        &self,
        entity: &Entity,
        snis: Option<&[String]>,
        expect_new: bool,
    ) -> Result<(), StoreError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            write_entity(&txn, Kind::Certificate, entity, expect_new)?;
            if let Some(names) = snis {
                let id = entity_id(entity)?;
                let current = children(&txn, Kind::Sni, "certificate", &id)?;
                for (sid, sni) in &current {
                    let name = sni.get("name").and_then(Value::as_str).unwrap_or_default();
                    if !names.iter().any(|n| n == name) {
                        txn.open_table(SNIS)?.remove(sid.as_str())?;
                        refs::update(&txn, Kind::Sni, Some(sni), None)?;
                        let mut unique = txn.open_table(UNIQUE)?;
                        for (k, _) in unique_entries(Kind::Sni, sni) {
                            unique.remove(k.as_str())?;
                        }
                    }
                }
                let now = crate::entities::now_seconds();
                for name in names {
                    let exists = current
                        .iter()
                        .any(|(_, e)| e.get("name").and_then(Value::as_str) == Some(name));
                    if exists {
                        continue;
                    }
                    let mut sni = Entity::new();
                    sni.insert("id".into(), Value::from(Uuid::new_v4().to_string()));
                    sni.insert("name".into(), Value::from(name.as_str()));
                    sni.insert("certificate".into(), serde_json::json!({ "id": id }));
                    sni.insert("created_at".into(), Value::from(now));
                    sni.insert("updated_at".into(), Value::from(now));
                    sni.insert("tags".into(), Value::Null);
                    write_entity(&txn, Kind::Sni, &sni, true)?;
                }
            }
            bump_version(&txn)?;
            txn.commit()?;
            Ok(())
        })
    }

    /// Every entity of every kind, read in one transaction: a consistent
    /// copy of the configuration while writes go on (the backup).
    pub fn dump(&self) -> Result<Vec<(Kind, Vec<Entity>)>, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let mut out = Vec::new();
            for kind in Kind::ALL {
                let t = txn.open_table(table(kind))?;
                let mut rows = Vec::with_capacity(t.len()? as usize);
                for row in t.iter()? {
                    let (_, v) = row?;
                    rows.push(decode(v.value())?);
                }
                out.push((kind, rows));
            }
            Ok(out)
        })
    }

    /// Replaces the whole configuration with `entities`, in one write
    /// transaction: on any error nothing changes. Each entity's foreign keys
    /// must point at entities earlier in the list.
    pub fn replace_all(&self, entities: &[(Kind, Entity)]) -> Result<(), ReplaceError> {
        let mut failed_at = None;
        self.with_db(|db| {
            let txn = db.begin_write()?;
            clear(&txn)?;
            for (i, (kind, entity)) in entities.iter().enumerate() {
                failed_at = Some(i);
                write_entity(&txn, *kind, entity, true)?;
            }
            failed_at = None;
            bump_version(&txn)?;
            txn.commit()?;
            Ok(())
        })
        .map_err(|error| ReplaceError {
            entity: failed_at,
            error,
        })
    }

    /// Deletes an entity; plugins scoped to it go with it. Refused while
    /// routes still reference a service. Returns what was removed (nothing
    /// when the entity did not exist).
    pub fn delete(&self, kind: Kind, id: &Uuid) -> Result<Vec<(Kind, Uuid)>, StoreError> {
        self.with_db(|db| {
            let key = id.to_string();
            let txn = db.begin_write()?;
            let mut removed = vec![(kind, *id)];
            {
                let mut t = txn.open_table(table(kind))?;
                let Some(old) = t
                    .get(key.as_str())?
                    .map(|v| decode(v.value()))
                    .transpose()?
                else {
                    return Ok(Vec::new());
                };
                // Plugins, SNIs and targets go with what they belong to;
                // any other reference refuses the delete, as Kong's
                // foreign keys do.
                for by in Kind::ALL {
                    if matches!(by, Kind::Plugin | Kind::Sni | Kind::Target) {
                        continue;
                    }
                    for (field, _) in by.foreign_keys().iter().filter(|(_, t)| *t == kind) {
                        if !refs::referencing(&txn, by, field, &key)?.is_empty() {
                            return Err(StoreError::ReferencedBy { kind, by });
                        }
                    }
                }
                if kind == Kind::CaCertificate {
                    if let Some(service) = ca_user(&txn, &key)? {
                        return Err(StoreError::CaReferenced { ca: *id, service });
                    }
                }
                t.remove(key.as_str())?;
                refs::update(&txn, kind, Some(&old), None)?;
                let mut unique = txn.open_table(UNIQUE)?;
                for (k, _) in unique_entries(kind, &old) {
                    unique.remove(k.as_str())?;
                }
                if kind == Kind::Certificate {
                    for (sid, sni) in children(&txn, Kind::Sni, "certificate", &key)? {
                        txn.open_table(SNIS)?.remove(sid.as_str())?;
                        refs::update(&txn, Kind::Sni, Some(&sni), None)?;
                        removed.push((Kind::Sni, sid_uuid(&sid)));
                        for (k, _) in unique_entries(Kind::Sni, &sni) {
                            unique.remove(k.as_str())?;
                        }
                    }
                }
                if kind == Kind::Upstream {
                    let mut targets = txn.open_table(TARGETS)?;
                    for tid in refs::referencing(&txn, Kind::Target, "upstream", &key)? {
                        let Some(target) = targets
                            .remove(tid.as_str())?
                            .map(|v| decode(v.value()))
                            .transpose()?
                        else {
                            continue;
                        };
                        refs::update(&txn, Kind::Target, Some(&target), None)?;
                        removed.push((Kind::Target, sid_uuid(&tid)));
                        for (k, _) in unique_entries(Kind::Target, &target) {
                            unique.remove(k.as_str())?;
                        }
                    }
                }
                if let Some((field, _)) =
                    Kind::Plugin.foreign_keys().iter().find(|(_, k)| *k == kind)
                {
                    let mut plugins = txn.open_table(PLUGINS)?;
                    for pid in refs::referencing(&txn, Kind::Plugin, field, &key)? {
                        let Some(p) = plugins
                            .remove(pid.as_str())?
                            .map(|v| decode(v.value()))
                            .transpose()?
                        else {
                            continue;
                        };
                        refs::update(&txn, Kind::Plugin, Some(&p), None)?;
                        if let Ok(uuid) = Uuid::parse_str(&pid) {
                            removed.push((Kind::Plugin, uuid));
                        }
                        for (k, _) in unique_entries(Kind::Plugin, &p) {
                            unique.remove(k.as_str())?;
                        }
                    }
                }
            }
            bump_version(&txn)?;
            txn.commit()?;
            Ok(removed)
        })
    }
}

/// Empties every entity table (the declarative configuration holds every
/// kind), and with them the unique and references indexes.
fn clear(txn: &WriteTransaction) -> Result<(), StoreError> {
    for kind in Kind::ALL {
        txn.delete_table(table(kind))?;
        txn.open_table(table(kind))?;
    }
    txn.delete_table(UNIQUE)?;
    txn.open_table(UNIQUE)?;
    txn.delete_table(refs::REFS)?;
    txn.open_table(refs::REFS)?;
    Ok(())
}

/// The entities of `kind` whose `field` points at `id`, with their ids.
fn children(
    txn: &WriteTransaction,
    kind: Kind,
    field: &str,
    id: &str,
) -> Result<Vec<(String, Entity)>, StoreError> {
    let t = txn.open_table(table(kind))?;
    let mut out = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        let e = decode(v.value())?;
        if fk_id(&e, field) == Some(id) {
            out.push((k.value().to_string(), e));
        }
    }
    Ok(out)
}

fn sid_uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_default()
}

/// The id of a service whose `ca_certificates` lists `ca`, if any.
fn ca_user(txn: &WriteTransaction, ca: &str) -> Result<Option<String>, StoreError> {
    let t = txn.open_table(SERVICES)?;
    for row in t.iter()? {
        let (k, v) = row?;
        let e = decode(v.value())?;
        let listed = e
            .get("ca_certificates")
            .and_then(Value::as_array)
            .is_some_and(|ids| ids.iter().any(|v| v.as_str() == Some(ca)));
        if listed {
            return Ok(Some(k.value().to_string()));
        }
    }
    Ok(None)
}

/// Inserts or replaces one entity inside `txn`: unique fields and foreign
/// keys are checked against what the transaction sees.
fn write_entity(
    txn: &WriteTransaction,
    kind: Kind,
    entity: &Entity,
    expect_new: bool,
) -> Result<(), StoreError> {
    let id = entity_id(entity)?;
    let mut t = txn.open_table(table(kind))?;
    let old = t.get(id.as_str())?.map(|v| decode(v.value())).transpose()?;
    if old.is_some() && expect_new {
        return Err(StoreError::PrimaryKey(
            Uuid::parse_str(&id).unwrap_or_default(),
        ));
    }
    check_foreign_keys(txn, kind, entity)?;
    let mut unique = txn.open_table(UNIQUE)?;
    if let Some(old) = &old {
        for (k, _) in unique_entries(kind, old) {
            unique.remove(k.as_str())?;
        }
    }
    for (k, (field, value)) in unique_entries(kind, entity) {
        let taken = unique
            .get(k.as_str())?
            .map(|v| v.value() != id)
            .unwrap_or(false);
        if taken {
            return Err(StoreError::Unique { field, value });
        }
        unique.insert(k.as_str(), id.as_str())?;
    }
    t.insert(id.as_str(), serde_json::to_vec(entity)?.as_slice())?;
    refs::update(txn, kind, old.as_ref(), Some(entity))?;
    Ok(())
}

/// `name="x"`, or the plugin scope as Kong prints its cache key
/// (`consumer=null,name="x",route={id="…"},service=null`).
fn unique_text(field: &str, value: &Value) -> String {
    match (field, value) {
        ("cache_key", Value::Object(m)) => lua_fields(m),
        (_, v) => format!("{field}={}", lua_value(v)),
    }
}

/// A table as penlight's one-line pretty writer prints it, keys sorted.
fn lua_fields(m: &serde_json::Map<String, Value>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys.iter()
        .map(|k| format!("{k}={}", lua_value(&m[k.as_str()])))
        .collect::<Vec<_>>()
        .join(",")
}

fn lua_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Object(m) => format!("{{{}}}", lua_fields(m)),
        other => other.to_string(),
    }
}

fn decode(bytes: &[u8]) -> Result<Entity, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

fn entity_id(entity: &Entity) -> Result<String, StoreError> {
    entity
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StoreError::Db("entity without id".into()))
}

/// The id inside a foreign-key field (`{"id": "…"}`), if set.
pub fn fk_id<'a>(entity: &'a Entity, field: &str) -> Option<&'a str> {
    entity.get(field)?.get("id")?.as_str()
}

fn unique_key(kind: Kind, field: &str, value: &Value) -> String {
    match value {
        Value::String(s) => format!("{}/{field}/{s}", kind.collection()),
        other => format!("{}/{field}/{other}", kind.collection()),
    }
}

/// The unique-index rows an entity owns, with the field and value each one
/// stands for (for the error message). A plugin is unique per name and
/// scope, as Kong's cache key is.
fn unique_entries(kind: Kind, entity: &Entity) -> Vec<(String, (String, Value))> {
    let mut out = Vec::new();
    for field in kind.unique_fields() {
        if let Some(v) = entity.get(*field).filter(|v| !v.is_null()) {
            out.push((unique_key(kind, field, v), (field.to_string(), v.clone())));
        }
    }
    if kind == Kind::Plugin {
        let scope = |f: &str| fk_id(entity, f).unwrap_or("null").to_string();
        let name = entity
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = format!(
            "plugins/cache_key/{name}|{}|{}|{}",
            scope("route"),
            scope("service"),
            scope("consumer")
        );
        // Kong's 409 names the plugin's scope as its fields.
        let scope_fk = |f: &str| match fk_id(entity, f) {
            Some(id) => serde_json::json!({ "id": id }),
            None => Value::Null,
        };
        let value = serde_json::json!({
            "consumer": scope_fk("consumer"),
            "name": name,
            "route": scope_fk("route"),
            "service": scope_fk("service"),
        });
        out.push((key, ("cache_key".into(), value)));
    }
    if kind == Kind::Target {
        // Kong's cache key: a target is unique within its upstream.
        let upstream = fk_id(entity, "upstream").unwrap_or("null");
        let target = entity
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = serde_json::json!({"target": target, "upstream": {"id": upstream}});
        out.push((target_key(upstream, target), ("cache_key".into(), value)));
    }
    out
}

fn target_key(upstream: &str, target: &str) -> String {
    format!("targets/cache_key/{upstream}|{target}")
}

fn check_foreign_keys(
    txn: &WriteTransaction,
    kind: Kind,
    entity: &Entity,
) -> Result<(), StoreError> {
    for (field, target) in kind.foreign_keys() {
        if let Some(id) = fk_id(entity, field) {
            let t = txn.open_table(table(*target))?;
            if t.get(id)?.is_none() {
                return Err(StoreError::ForeignKey {
                    field,
                    target: *target,
                    id: id.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn bump_version(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META)?;
    let v = meta.get("version")?.map(|v| v.value()).unwrap_or(0);
    meta.insert("version", v + 1)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity(v: Value) -> Entity {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn unique_names_and_foreign_keys_are_enforced_in_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        let s1 = Uuid::new_v4().to_string();
        store
            .put(Kind::Service, &entity(json!({"id": s1, "name": "a"})), true)
            .unwrap();
        let dup = store.put(
            Kind::Service,
            &entity(json!({"id": Uuid::new_v4().to_string(), "name": "a"})),
            true,
        );
        assert!(matches!(dup, Err(StoreError::Unique { .. })));

        let r = Uuid::new_v4().to_string();
        let bad = store.put(
            Kind::Route,
            &entity(json!({"id": r, "service": {"id": Uuid::new_v4().to_string()}})),
            true,
        );
        assert!(matches!(bad, Err(StoreError::ForeignKey { .. })));
        assert!(store.list(Kind::Route).unwrap().is_empty());

        store
            .put(
                Kind::Route,
                &entity(json!({"id": r, "service": {"id": s1}})),
                true,
            )
            .unwrap();
        let sid = Uuid::parse_str(&s1).unwrap();
        assert!(matches!(
            store.delete(Kind::Service, &sid),
            Err(StoreError::ReferencedBy { .. })
        ));
        let p = Uuid::new_v4().to_string();
        store
            .put(
                Kind::Plugin,
                &entity(json!({"id": p, "name": "pre-function", "route": {"id": r}})),
                true,
            )
            .unwrap();
        let removed = store
            .delete(Kind::Route, &Uuid::parse_str(&r).unwrap())
            .unwrap();
        assert_eq!(removed.len(), 2, "the route and its plugin");
        assert!(
            store.list(Kind::Plugin).unwrap().is_empty(),
            "plugins cascade with their route"
        );
        assert_eq!(store.delete(Kind::Service, &sid).unwrap().len(), 1);
        assert_eq!(store.find_by_key(Kind::Service, "a").unwrap(), None);
    }

    /// A file written before the references index existed gets it built
    /// when opened; cascades then work from it.
    #[test]
    fn the_references_index_is_built_for_older_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (s, r, p) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        {
            let store = Store::open(&path).unwrap();
            store
                .put(Kind::Service, &entity(json!({"id": s.to_string()})), true)
                .unwrap();
            store
                .put(
                    Kind::Route,
                    &entity(json!({"id": r.to_string(), "service": {"id": s.to_string()}})),
                    true,
                )
                .unwrap();
            store
                .put(
                    Kind::Plugin,
                    &entity(json!({"id": p.to_string(), "name": "pre-function", "route": {"id": r.to_string()}})),
                    true,
                )
                .unwrap();
            let guard = store.db.read().unwrap();
            let txn = guard.as_ref().unwrap().begin_write().unwrap();
            txn.delete_table(refs::REFS).unwrap();
            txn.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert!(matches!(
            store.delete(Kind::Service, &s),
            Err(StoreError::ReferencedBy { .. })
        ));
        assert_eq!(
            store.delete(Kind::Route, &r).unwrap(),
            vec![(Kind::Route, r), (Kind::Plugin, p)]
        );
        assert_eq!(
            store.delete(Kind::Service, &s).unwrap(),
            vec![(Kind::Service, s)]
        );
    }
}
