//! Who references whom: `routes/service/<service>/<route>` and
//! `plugins/<field>/<target>/<plugin>` keys, kept in the same transaction
//! as the entities. Deleting a route finds its plugins, and deleting a
//! service finds whether routes still use it, with one range read instead
//! of decoding a whole table: a delete costs the same with 10 routes or
//! 10,000.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{decode, fk_id, table, Entity, StoreError};
use crate::entities::Kind;

pub(super) const REFS: TableDefinition<&str, ()> = TableDefinition::new("refs");

/// The index keys `entity` owns.
fn keys(kind: Kind, entity: &Entity) -> Vec<String> {
    let own = entity
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    kind.foreign_keys()
        .iter()
        .filter_map(|(field, _)| {
            fk_id(entity, field)
                .map(|target| format!("{}/{field}/{target}/{own}", kind.collection()))
        })
        .collect()
}

/// Replaces the keys of `old` (if any) by those of `new` (if any).
pub(super) fn update(
    txn: &WriteTransaction,
    kind: Kind,
    old: Option<&Entity>,
    new: Option<&Entity>,
) -> Result<(), StoreError> {
    let mut refs = txn.open_table(REFS)?;
    for key in old.map(|e| keys(kind, e)).unwrap_or_default() {
        refs.remove(key.as_str())?;
    }
    for key in new.map(|e| keys(kind, e)).unwrap_or_default() {
        refs.insert(key.as_str(), ())?;
    }
    Ok(())
}

/// The ids of the `kind` entities whose `field` points at `target`.
pub(super) fn referencing(
    txn: &WriteTransaction,
    kind: Kind,
    field: &str,
    target: &str,
) -> Result<Vec<String>, StoreError> {
    let prefix = format!("{}/{field}/{target}/", kind.collection());
    let refs = txn.open_table(REFS)?;
    let mut out = Vec::new();
    for row in refs.range(prefix.as_str()..)? {
        let (key, _) = row?;
        let Some(id) = key.value().strip_prefix(prefix.as_str()) else {
            break;
        };
        out.push(id.to_string());
    }
    Ok(out)
}

/// Fills the index from the entity tables (a file written before it
/// existed).
pub(super) fn rebuild(txn: &WriteTransaction) -> Result<(), StoreError> {
    for kind in [Kind::Route, Kind::Plugin, Kind::Target] {
        let t = txn.open_table(table(kind))?;
        for row in t.iter()? {
            let (_, v) = row?;
            update(txn, kind, None, Some(&decode(v.value())?))?;
        }
    }
    Ok(())
}
