//! Kong's declarative configuration on the Admin API, lunagate's backup and
//! restore.
//!
//! The redb file is locked while the gateway runs, so a copy of it cannot be
//! taken from outside. `GET /config` reads every entity in one read
//! transaction (a consistent copy while writes go on) and returns it as the
//! document `kong config db_export` writes: `_format_version: "3.0"`, then
//! every kind in Kong's export order (its schemas sorted topologically,
//! alphabetically otherwise): `ca_certificates`, `certificates`,
//! `consumers`, `services`, `routes`, `plugins`, `snis`, `upstreams`,
//! `targets`. Foreign keys are
//! plain ids, SNIs a top-level section (a certificate carries no `snis`
//! there), and private keys are written as they are stored, as Kong writes
//! them. `POST /config` takes such a document (or a hand-written `kong.yml`
//! in JSON, with routes and plugins nested under their service, SNIs under
//! their certificate) and replaces the whole configuration with it in one
//! write transaction — Kong's DB-less semantics: what the document does not
//! name is gone, and a document with one invalid entity changes nothing.
//!
//! Every entity goes through the same checks as a `POST` to its collection
//! (`Admin::prepare`); uniqueness and foreign keys are checked by the store
//! inside the replacing transaction.

use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::body::Encoding;
use super::errors::AdminError;
use super::Admin;
use crate::entities::Kind;
use crate::snapshot::Change;
use crate::store::{Entity, StoreError};

/// The versions Kong's own parser accepts.
const FORMAT_VERSIONS: [&str; 3] = ["1.1", "2.1", "3.0"];

/// Top-level sections, in Kong's export order, which is also the order
/// entities are written: a foreign key always points at a kind written
/// before it (a service's `client_certificate`, an SNI's `certificate`).
const SECTIONS: [(&str, Kind); 9] = [
    ("ca_certificates", Kind::CaCertificate),
    ("certificates", Kind::Certificate),
    ("consumers", Kind::Consumer),
    ("services", Kind::Service),
    ("routes", Kind::Route),
    ("plugins", Kind::Plugin),
    ("snis", Kind::Sni),
    ("upstreams", Kind::Upstream),
    ("targets", Kind::Target),
];

/// Kong entities lunagate does not have yet: a document that holds some is
/// refused rather than half applied.
const UNSUPPORTED: [&str; 4] = ["vaults", "keys", "key_sets", "filter_chains"];

/// Where an entity sits in the document: `services[2].routes[1]` is
/// `[("services", 1), ("routes", 0)]`.
type DocPath = Vec<(&'static str, usize)>;

/// One entity taken out of the document, with the parent it was nested in.
struct Item {
    kind: Kind,
    path: DocPath,
    body: Map<String, Value>,
    /// The foreign-key field a nested entity gets, and its parent's item.
    parent: Option<(&'static str, usize)>,
}

impl Admin {
    /// `GET /config`: the whole configuration as one declarative document.
    pub(super) fn export_config(&self) -> Result<Value, AdminError> {
        let mut dump = self.store.dump()?;
        let mut doc = Map::new();
        doc.insert("_format_version".into(), json!("3.0"));
        doc.insert("_transform".into(), json!(false));
        for (section, kind) in SECTIONS {
            let Some(pos) = dump.iter().position(|(k, _)| *k == kind) else {
                continue;
            };
            let (_, rows) = dump.swap_remove(pos);
            if rows.is_empty() {
                continue;
            }
            let rows: Vec<Value> = rows
                .into_iter()
                .map(|mut e| {
                    // `db_export` writes a foreign key as the bare id.
                    for (field, _) in kind.foreign_keys() {
                        if let Some(id) = e.get(*field).and_then(|v| v.get("id")).cloned() {
                            e.insert(field.to_string(), id);
                        }
                    }
                    Value::Object(e)
                })
                .collect();
            doc.insert(section.into(), Value::Array(rows));
        }
        Ok(Value::Object(doc))
    }

    /// `POST /config`: replaces the configuration with the document in the
    /// body (itself, or as the `config` field, Kong's `-F config=@file`).
    pub(super) async fn import_config(
        &self,
        body: Map<String, Value>,
        enc: Encoding,
    ) -> Result<(StatusCode, Option<Value>), AdminError> {
        let doc = document(body, enc)?;
        let mut items = match flatten(doc) {
            Ok(items) => items,
            Err(errors) => return Ok(invalid(errors)),
        };
        let mut errors = Vec::new();
        let names = assign_ids(&mut items);
        let mut entities: Vec<(Kind, Entity)> = Vec::with_capacity(items.len());
        for i in 0..items.len() {
            let mut body = std::mem::take(&mut items[i].body);
            if let Err(e) = link(&items, &names, i, &mut body) {
                errors.push((items[i].path.clone(), e));
                continue;
            }
            let updated_at = body.get("updated_at").filter(|v| v.is_number()).cloned();
            match self.prepare(items[i].kind, body, Encoding::Json, None, None) {
                Ok(mut entity) => {
                    if let Some(t) = updated_at {
                        entity.insert("updated_at".into(), t);
                    }
                    // The Admin API's `snis` shorthand: here SNIs are
                    // entities of their own (a section, or nested).
                    if items[i].kind == Kind::Certificate {
                        entity.remove("snis");
                    }
                    entities.push((items[i].kind, entity));
                }
                Err(e) => errors.push((items[i].path.clone(), entity_errors(e))),
            }
        }
        if !errors.is_empty() {
            return Ok(invalid(errors));
        }

        let store = self.store.clone();
        let refused = Arc::new(Mutex::new(None));
        let slot = refused.clone();
        let written = entities.clone();
        let result = self
            .commit(move || {
                store
                    .replace_all(&written)
                    .map(|()| vec![Change::Everything])
                    .map_err(|e| {
                        if let Some(i) = e.entity {
                            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(i);
                        }
                        e.error
                    })
            })
            .await;
        if let Err(AdminError::Store(e)) = &result {
            let at = *refused.lock().unwrap_or_else(|p| p.into_inner());
            if let (Some(i), Some(message)) = (at, store_message(e)) {
                let path = items[i].path.clone();
                return Ok(invalid(vec![(path, message)]));
            }
        }
        result?;

        // Kong answers with the entities it loaded, per kind and by id.
        let mut out = Map::new();
        for (section, kind) in SECTIONS {
            let by_id: Map<String, Value> = entities
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, e)| {
                    let id = e.get("id").and_then(Value::as_str).unwrap_or_default();
                    (id.to_string(), Value::Object(e.clone()))
                })
                .collect();
            out.insert(section.into(), Value::Object(by_id));
        }
        Ok((StatusCode::CREATED, Some(Value::Object(out))))
    }
}

/// The declarative document in a request body.
fn document(mut body: Map<String, Value>, enc: Encoding) -> Result<Map<String, Value>, AdminError> {
    if enc == Encoding::Json && body.contains_key("_format_version") {
        return Ok(body);
    }
    let config = match body.remove("config") {
        Some(Value::Object(doc)) => return Ok(doc),
        Some(Value::String(text)) => text,
        _ => {
            return Err(AdminError::bad_request(
                "expected a declarative configuration",
            ))
        }
    };
    match serde_json::from_str::<Value>(&config) {
        Ok(Value::Object(doc)) => Ok(doc),
        _ => Err(AdminError::bad_request(
            "expected a declarative configuration in JSON (lunagate reads no YAML: \
             convert the file first, e.g. `yq -o json kong.yml`)",
        )),
    }
}

/// Takes every entity out of the document, nested ones after their parent
/// section's own, in write order.
fn flatten(mut doc: Map<String, Value>) -> Result<Vec<Item>, Vec<(DocPath, Value)>> {
    let mut errors: Vec<(DocPath, Value)> = Vec::new();
    match doc.get("_format_version") {
        Some(Value::String(v)) if FORMAT_VERSIONS.contains(&v.as_str()) => {}
        Some(_) => errors.push((
            Vec::new(),
            json!({"_format_version": format!("expected one of: {}", FORMAT_VERSIONS.join(", "))}),
        )),
        None => errors.push((Vec::new(), json!({"_format_version": "expected a string"}))),
    }
    for (key, value) in &doc {
        let known = key.starts_with('_') || SECTIONS.iter().any(|(s, _)| s == key);
        let empty = value.as_array().is_some_and(Vec::is_empty) || value.is_null();
        if UNSUPPORTED.contains(&key.as_str()) && !empty {
            errors.push((
                Vec::new(),
                json!({ key: "lunagate does not support these entities yet" }),
            ));
        } else if !known && !UNSUPPORTED.contains(&key.as_str()) {
            errors.push((Vec::new(), json!({ key: "unknown field" })));
        }
    }
    let mut items: Vec<Item> = Vec::new();
    // Nested entities wait here until their kind's turn, so that every
    // foreign key points backwards.
    let mut nested: Vec<Vec<Item>> = SECTIONS.iter().map(|_| Vec::new()).collect();
    for (s, (section, kind)) in SECTIONS.iter().enumerate() {
        let mut queue: Vec<Item> = Vec::new();
        match doc.remove(*section) {
            None | Some(Value::Null) => {}
            Some(Value::Array(rows)) => {
                for (i, row) in rows.into_iter().enumerate() {
                    let path = vec![(*section, i)];
                    match row {
                        Value::Object(mut body) => {
                            // Kong's workspace id, meaningless here.
                            body.remove("ws_id");
                            queue.push(Item {
                                kind: *kind,
                                path,
                                body,
                                parent: None,
                            })
                        }
                        _ => errors.push((path, json!({"@entity": ["expected a record"]}))),
                    }
                }
            }
            Some(_) => errors.push((Vec::new(), json!({ *section: "expected an array" }))),
        }
        queue.append(&mut nested[s]);
        for mut item in queue {
            let index = items.len();
            for (child_section, child_kind, field) in children(item.kind) {
                let rows = match item.body.remove(*child_section) {
                    None | Some(Value::Null) => continue,
                    Some(Value::Array(rows)) => rows,
                    Some(_) => {
                        errors.push((
                            item.path.clone(),
                            json!({ *child_section: "expected an array" }),
                        ));
                        continue;
                    }
                };
                let target = SECTIONS
                    .iter()
                    .position(|(_, k)| k == child_kind)
                    .unwrap_or(s);
                for (i, row) in rows.into_iter().enumerate() {
                    let mut path = item.path.clone();
                    path.push((*child_section, i));
                    match row {
                        Value::Object(mut body) => {
                            body.remove("ws_id");
                            nested[target].push(Item {
                                kind: *child_kind,
                                path,
                                body,
                                parent: Some((*field, index)),
                            })
                        }
                        _ => errors.push((path, json!({"@entity": ["expected a record"]}))),
                    }
                }
            }
            items.push(item);
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}

/// The sections an entity of `kind` may hold nested entities in, and the
/// foreign-key field those entities get.
fn children(kind: Kind) -> &'static [(&'static str, Kind, &'static str)] {
    match kind {
        Kind::Service => &[
            ("routes", Kind::Route, "service"),
            ("plugins", Kind::Plugin, "service"),
        ],
        Kind::Route => &[("plugins", Kind::Plugin, "route")],
        Kind::Consumer => &[("plugins", Kind::Plugin, "consumer")],
        Kind::Certificate => &[
            ("snis", Kind::Sni, "certificate"),
            ("services", Kind::Service, "client_certificate"),
        ],
        Kind::Upstream => &[("targets", Kind::Target, "upstream")],
        Kind::Plugin | Kind::Sni | Kind::CaCertificate | Kind::Target => &[],
    }
}

/// How other entities may refer to an item: its id and its endpoint key.
struct Names {
    id: Option<String>,
    key: Option<String>,
}

/// Gives every item an id (its own, or a new one) so that references can be
/// resolved before anything is written, and notes each item's names.
fn assign_ids(items: &mut [Item]) -> Vec<Names> {
    items
        .iter_mut()
        .map(|item| {
            let id = match item.body.get("id") {
                Some(Value::String(id)) => Some(id.clone()),
                Some(_) => None,
                None => {
                    let id = Uuid::new_v4().to_string();
                    item.body.insert("id".into(), json!(id));
                    Some(id)
                }
            };
            let key = item
                .body
                .get(item.kind.endpoint_key())
                .and_then(Value::as_str)
                .map(str::to_string);
            Names { id, key }
        })
        .collect()
}

/// Points the item's foreign keys at ids: its parent's for a nested entity;
/// for one given as an id, a name or `{"name": …}`, the document's entity of
/// that id or endpoint key. References reach only into the document.
fn link(
    items: &[Item],
    names: &[Names],
    i: usize,
    body: &mut Map<String, Value>,
) -> Result<(), Value> {
    let item = &items[i];
    if let Some((field, parent)) = item.parent {
        body.insert(field.into(), json!({"id": names[parent].id}));
    }
    let mut errors = Map::new();
    for (field, target) in item.kind.foreign_keys() {
        if item.parent.is_some_and(|(f, _)| f == *field) {
            continue;
        }
        let wanted = match body.get(*field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(fk)) => match fk
                .get("id")
                .or_else(|| fk.get(target.endpoint_key()))
                .and_then(Value::as_str)
            {
                Some(s) => s.to_string(),
                None => continue, // the schema check reports it
            },
            Some(_) => continue,
        };
        let found = items.iter().zip(names).find(|(other, names)| {
            other.kind == *target
                && (names.id.as_deref() == Some(wanted.as_str())
                    || names.key.as_deref() == Some(wanted.as_str()))
        });
        match found.and_then(|(_, names)| names.id.as_ref()) {
            Some(id) => {
                body.insert(field.to_string(), json!({"id": id}));
            }
            _ => {
                errors.insert(
                    field.to_string(),
                    json!(format!(
                        "could not find {} with id or {} '{wanted}' in the configuration",
                        target.collection().trim_end_matches('s'),
                        target.endpoint_key()
                    )),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Value::Object(errors))
    }
}

/// An entity's errors as Kong nests them: field → message, `@entity` for
/// the rest.
fn entity_errors(e: AdminError) -> Value {
    match e {
        AdminError::Schema(fields) | AdminError::Unresolved(fields) => Value::Object(fields),
        other => json!({"@entity": [other.to_string()]}),
    }
}

/// What the store refused in one entity, as its field errors; `None` for a
/// database failure (a 500, not the document's fault).
fn store_message(e: &StoreError) -> Option<Value> {
    match e {
        StoreError::Unique { field, .. } => {
            Some(json!({ field: format!("uniqueness violation: {e}") }))
        }
        StoreError::PrimaryKey(_) => Some(json!({"id": e.to_string()})),
        StoreError::ForeignKey { field, .. } => Some(json!({ *field: e.to_string() })),
        StoreError::ReferencedBy { .. } | StoreError::CaReferenced { .. } => {
            Some(json!({"@entity": [e.to_string()]}))
        }
        StoreError::Db(_) | StoreError::Io(_) => None,
    }
}

/// Kong's answer to an invalid document: code 14, the errors nested the way
/// the document is (arrays by position, `null` where an entity is fine).
fn invalid(errors: Vec<(DocPath, Value)>) -> (StatusCode, Option<Value>) {
    let mut fields = Value::Object(Map::new());
    let mut lines = Vec::new();
    for (path, err) in errors {
        let mut where_ = String::new();
        for (section, i) in &path {
            if !where_.is_empty() {
                where_.push('.');
            }
            where_.push_str(&format!("{section}[{}]", i + 1));
        }
        describe(&where_, &err, &mut lines);
        insert_at(&mut fields, &path, err);
    }
    let message = format!("declarative config is invalid: {}", lines.join("; "));
    (
        StatusCode::BAD_REQUEST,
        Some(json!({
            "code": 14,
            "name": "invalid declarative configuration",
            "message": message,
            "fields": fields,
        })),
    )
}

fn describe(prefix: &str, err: &Value, out: &mut Vec<String>) {
    match err {
        Value::Object(m) => {
            for (k, v) in m {
                let at = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                describe(&at, v, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                describe(prefix, v, out);
            }
        }
        Value::String(s) => out.push(format!("{prefix}: {s}")),
        other => out.push(format!("{prefix}: {other}")),
    }
}

/// Merges `err` into `fields` at `path` (`services[2].routes[1]` becomes
/// `{"services": [null, {"routes": [{…}]}]}`).
fn insert_at(fields: &mut Value, path: &[(&'static str, usize)], err: Value) {
    let Some(((section, i), rest)) = path.split_first() else {
        if let (Value::Object(into), Value::Object(from)) = (&mut *fields, err) {
            into.extend(from);
        }
        return;
    };
    let Value::Object(map) = fields else {
        return;
    };
    let list = map
        .entry(section.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = list else {
        return;
    };
    if list.len() <= *i {
        list.resize(*i + 1, Value::Null);
    }
    if list[*i].is_null() {
        list[*i] = Value::Object(Map::new());
    }
    insert_at(&mut list[*i], rest, err);
}
