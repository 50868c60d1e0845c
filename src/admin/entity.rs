//! The generic entity endpoints: list, create, read, replace (PUT), update
//! (PATCH) and delete, for every kind and for nested paths
//! (`/services/{s}/routes`). What differs per entity lives in
//! `crate::entities` (schema and checks); what is the same lives here once.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::body::Encoding;
use super::errors::AdminError;
use super::Admin;
use crate::entities::{self, certificates, plugins, schema, services, upstreams, Kind};
use crate::snapshot::Change;
use crate::store::{fk_id, Entity};

/// A parent in a nested path: `/services/{s}/routes` gives the routes'
/// `service` field and the service's id.
#[derive(Debug, Clone)]
pub struct Parent {
    pub field: &'static str,
    pub id: Uuid,
}

const MAX_PAGE: usize = 1000;

impl Admin {
    /// Finds an entity by id (UUID-looking values) or by its endpoint key.
    pub fn lookup(&self, kind: Kind, ident: &str) -> Result<Option<Entity>, AdminError> {
        Ok(match Uuid::parse_str(ident) {
            Ok(id) => self.store.get(kind, &id)?,
            Err(_) if kind == Kind::Certificate => self.certificate_by_sni(ident)?,
            Err(_) => self.store.find_by_key(kind, ident)?,
        })
    }

    /// Like `lookup`, but the entity must belong to `parent` (nested paths).
    fn lookup_in(
        &self,
        kind: Kind,
        ident: &str,
        parent: Option<&Parent>,
    ) -> Result<Option<Entity>, AdminError> {
        // A target's `host:port` names it only within its upstream.
        if let (Kind::Target, Some(p), Err(_)) = (kind, parent, Uuid::parse_str(ident)) {
            return Ok(self.store.find_target(&p.id.to_string(), ident)?);
        }
        let found = self.lookup(kind, ident)?;
        Ok(found.filter(|e| {
            parent.is_none_or(|p| fk_id(e, p.field) == Some(p.id.to_string().as_str()))
        }))
    }

    pub fn list(
        &self,
        kind: Kind,
        parent: Option<&Parent>,
        query: &str,
        base_path: &str,
    ) -> Result<Value, AdminError> {
        let mut size = 100;
        let mut offset = None;
        let mut tags: Option<String> = None;
        let mut filters: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "size" => {
                    size = v.parse::<usize>().map_err(|_| AdminError::Coded {
                        code: 9,
                        name: "invalid size",
                        message: "size must be a number".into(),
                    })?;
                    if !(1..=MAX_PAGE).contains(&size) {
                        return Err(AdminError::Coded {
                            code: 9,
                            name: "invalid size",
                            message: format!("size must be an integer between 1 and {MAX_PAGE}"),
                        });
                    }
                }
                "offset" => offset = Some(decode_offset(&v)?),
                "tags" if v.is_empty() => {
                    return Err(AdminError::Coded {
                        code: 11,
                        name: "invalid options",
                        message: "invalid option (tags: cannot be null)".into(),
                    })
                }
                "tags" => tags = Some(v.into_owned()),
                "custom_id" if v.is_empty() && kind == Kind::Consumer => {
                    return Err(AdminError::bad_request(
                        "custom_id must be an unempty string",
                    ))
                }
                "custom_id" | "username" | "name" => filters.push((k.into_owned(), v.into_owned())),
                _ => {}
            }
        }
        let tag_match = |e: &Entity| -> bool {
            let Some(query) = &tags else { return true };
            let have: Vec<&str> = e
                .get("tags")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if query.contains('/') {
                query.split('/').any(|t| have.contains(&t))
            } else {
                query.split(',').all(|t| have.contains(&t))
            }
        };
        let filter = |e: &Entity| {
            parent.is_none_or(|p| fk_id(e, p.field) == Some(p.id.to_string().as_str()))
                && tag_match(e)
                && filters
                    .iter()
                    .all(|(k, v)| e.get(k).and_then(Value::as_str) == Some(v.as_str()))
        };
        let (mut page, more) = self.store.page(kind, offset.as_deref(), size, &filter)?;
        if kind == Kind::Certificate {
            self.add_snis(&mut page)?;
        }
        let mut body = json!({"data": page, "next": null});
        if more {
            if let Some(last) = page
                .last()
                .and_then(|e| e.get("id"))
                .and_then(Value::as_str)
            {
                let token = encode_offset(last);
                let mut next = format!("{base_path}?offset=");
                next.extend(form_urlencoded::byte_serialize(token.as_bytes()));
                if size != 100 {
                    next.push_str(&format!("&size={size}"));
                }
                if let Some(t) = &tags {
                    next.push_str("&tags=");
                    next.extend(form_urlencoded::byte_serialize(t.as_bytes()));
                }
                body["next"] = json!(next);
                body["offset"] = json!(token);
            }
        }
        Ok(body)
    }

    pub fn read(
        &self,
        kind: Kind,
        ident: &str,
        parent: Option<&Parent>,
    ) -> Result<Entity, AdminError> {
        let mut found = self
            .lookup_in(kind, ident, parent)?
            .ok_or(AdminError::NotFound)?;
        if kind == Kind::Certificate {
            self.add_snis(std::slice::from_mut(&mut found))?;
        }
        Ok(found)
    }

    pub async fn create(
        &self,
        kind: Kind,
        body: Map<String, Value>,
        enc: Encoding,
        parent: Option<&Parent>,
    ) -> Result<Entity, AdminError> {
        let entity = self.prepare(kind, body, enc, None, parent)?;
        self.write(kind, entity, true).await
    }

    /// PUT: replaces the entity entirely (absent fields return to their
    /// defaults), creating it when missing. A non-UUID identifier becomes the
    /// entity's endpoint key.
    pub async fn replace(
        &self,
        kind: Kind,
        ident: &str,
        mut body: Map<String, Value>,
        enc: Encoding,
        parent: Option<&Parent>,
    ) -> Result<Entity, AdminError> {
        let existing = self.lookup(kind, ident)?;
        if let (Some(e), Some(p)) = (&existing, parent) {
            if fk_id(e, p.field) != Some(p.id.to_string().as_str()) {
                return Err(AdminError::NotFound);
            }
        }
        // Kong checks an upstream's name in the URL first, and answers its
        // message alone.
        let bad_name = match kind {
            Kind::Upstream if Uuid::parse_str(ident).is_err() => upstreams::name_error(ident),
            _ => None,
        };
        if let Some(why) = bad_name {
            return Err(AdminError::bad_request(why));
        }
        match Uuid::parse_str(ident) {
            Ok(id) => {
                body.insert("id".into(), json!(id.to_string()));
            }
            Err(_) if kind == Kind::Certificate => {
                super::tls::put_by_sni(ident, existing.as_ref(), &mut body);
            }
            Err(_) => {
                let key = kind.endpoint_key();
                if let Some(other) = body
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|v| *v != ident)
                {
                    return Err(AdminError::field(
                        key,
                        format!("must match the value in the URL ('{ident}'), got '{other}'"),
                    ));
                }
                body.insert(key.into(), json!(ident));
                if let Some(e) = &existing {
                    body.insert("id".into(), e["id"].clone());
                }
            }
        }
        if let Some(e) = &existing {
            body.insert(
                "created_at".into(),
                e.get("created_at").cloned().unwrap_or(Value::Null),
            );
        }
        let entity = self.prepare(kind, body, enc, None, parent)?;
        self.write(kind, entity, false).await
    }

    /// PATCH: merges the body into the stored entity, then validates the whole.
    pub async fn update(
        &self,
        kind: Kind,
        ident: &str,
        body: Map<String, Value>,
        enc: Encoding,
        parent: Option<&Parent>,
    ) -> Result<Entity, AdminError> {
        let existing = self
            .lookup_in(kind, ident, parent)?
            .ok_or(AdminError::NotFound)?;
        // A certificate PATCH without `snis` keeps the ones it has.
        let keep_snis = kind == Kind::Certificate && !body.contains_key("snis");
        let mut entity = self.prepare(kind, body, enc, Some(&existing), parent)?;
        if keep_snis {
            entity.remove("snis");
        }
        self.write(kind, entity, false).await
    }

    pub async fn remove(
        &self,
        kind: Kind,
        ident: &str,
        parent: Option<&Parent>,
    ) -> Result<(), AdminError> {
        let Some(existing) = self.lookup_in(kind, ident, parent)? else {
            // Kong: deleting a missing top-level entity succeeds; nested paths 404.
            return if parent.is_some() {
                Err(AdminError::NotFound)
            } else {
                Ok(())
            };
        };
        let id = existing
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(AdminError::NotFound)?;
        let store = self.store.clone();
        self.commit(move || {
            Ok(store
                .delete(kind, &id)?
                .into_iter()
                .map(|(kind, id)| Change::Removed(kind, id))
                .collect())
        })
        .await
    }

    async fn write(
        &self,
        kind: Kind,
        entity: Entity,
        expect_new: bool,
    ) -> Result<Entity, AdminError> {
        if kind == Kind::Certificate {
            return self.write_certificate(entity, expect_new).await;
        }
        let store = self.store.clone();
        let stored = entity.clone();
        self.commit(move || {
            store.put(kind, &stored, expect_new)?;
            Ok(vec![Change::Put(kind, stored)])
        })
        .await?;
        Ok(entity)
    }

    /// Turns a decoded body into a complete, valid entity: types form
    /// values, merges over `existing` (PATCH), resolves foreign keys given by
    /// name, checks the schema and the entity's own rules, and fills
    /// defaults, id and timestamps. Writes nothing.
    pub fn prepare(
        &self,
        kind: Kind,
        mut body: Map<String, Value>,
        enc: Encoding,
        existing: Option<&Entity>,
        parent: Option<&Parent>,
    ) -> Result<Entity, AdminError> {
        let fields = kind.fields();
        let plugin_name = body
            .get("name")
            .or_else(|| existing.and_then(|e| e.get("name")))
            .and_then(Value::as_str)
            .map(str::to_string);
        if enc == Encoding::Form {
            schema::coerce_form(fields, &mut body);
            if let (Some(name), Some(Value::Object(config))) =
                (&plugin_name, body.get_mut("config"))
            {
                if let Some(config_fields) = plugins::config_fields(name) {
                    schema::coerce_form(config_fields, config);
                    unescape_commas(name, config);
                }
            }
        }
        // A nested path names the parent of what it creates or replaces;
        // a PATCH there may still unset it (`{"service": null}`), as Kong's.
        if let Some(p) = parent.filter(|_| existing.is_none()) {
            body.insert(p.field.into(), json!({"id": p.id.to_string()}));
        }
        let mut errors = Map::new();
        match kind {
            Kind::Service => services::expand_url(&mut body, &mut errors),
            Kind::Upstream => upstreams::apply_shorthands(&mut body),
            Kind::Target => {
                // Kong's targets DAO formats the target before the schema
                // is checked, and answers its error alone.
                upstreams::normalize_target(&mut body, &mut errors);
                if !errors.is_empty() {
                    return Err(AdminError::Schema(errors));
                }
            }
            _ => {}
        }
        let mut obj = match existing {
            Some(e) => {
                let mut merged = e.clone();
                merge(&mut merged, body);
                merged
            }
            None => body,
        };
        if kind == Kind::Upstream {
            upstreams::normalize_healthchecks(&mut obj, &mut errors);
        }
        let unresolved = self.reduce_foreign_keys(kind, &mut obj, enc, &mut errors)?;
        schema::validate(fields, &obj, &mut errors);
        if kind == Kind::Upstream {
            // Kong runs these with the field checks: a conditional's
            // message replaces the field's own.
            upstreams::check_upstream(&obj, &mut errors);
        }
        if !errors.is_empty() {
            return Err(AdminError::Schema(errors));
        }
        if !unresolved.is_empty() {
            return Err(AdminError::Unresolved(unresolved));
        }
        match kind {
            Kind::Route => entities::routes::fill_protocol_defaults(&mut obj),
            Kind::Plugin => plugins::fill_protocols_default(&mut obj),
            _ => {}
        }
        schema::fill_defaults(fields, &mut obj);
        match kind {
            Kind::Service => services::check(&obj, &mut errors),
            Kind::Route => entities::routes::check(&obj, &mut errors),
            Kind::Plugin => plugins::check(&mut obj, &mut errors),
            Kind::Consumer => entities::consumers::check(&obj, &mut errors),
            Kind::Certificate => certificates::check_certificate(&obj, &mut errors),
            Kind::Sni => certificates::check_sni(&obj, &mut errors),
            Kind::CaCertificate => certificates::check_ca_certificate(&mut obj, &mut errors),
            Kind::Upstream | Kind::Target => {}
        }
        if !errors.is_empty() {
            return Err(AdminError::Schema(errors));
        }
        schema::strip_write_only(fields, &mut obj);
        // Kong's targets are timed in milliseconds (seconds with three
        // decimals), every other entity in seconds.
        let now = match kind {
            Kind::Target => json!(entities::now_millis() as f64 / 1000.0),
            _ => json!(entities::now_seconds()),
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) => {
                Uuid::parse_str(s).map_err(|_| AdminError::field("id", "expected a valid UUID"))?
            }
            _ => Uuid::new_v4(),
        };
        obj.insert("id".into(), json!(id.to_string()));
        if obj.get("created_at").is_none_or(Value::is_null) {
            obj.insert("created_at".into(), json!(now));
        }
        obj.insert("updated_at".into(), json!(now));
        Ok(obj)
    }

    /// Reduces every foreign key to `{"id": …}`, as Kong does: the record
    /// given (a whole entity, as GET returned it, or `{"name": "x"}`) is
    /// checked against the referenced entity's schema, then its `id` is
    /// used, or the entity its endpoint key names is looked up. Schema
    /// errors go to `errors`; keys that name no entity are returned (Kong's
    /// code 13, reported only when the schema is otherwise valid).
    fn reduce_foreign_keys(
        &self,
        kind: Kind,
        obj: &mut Entity,
        enc: Encoding,
        errors: &mut Map<String, Value>,
    ) -> Result<Map<String, Value>, AdminError> {
        let mut unresolved = Map::new();
        for (field, target) in kind.foreign_keys() {
            let Some(Value::Object(fk)) = obj.get_mut(*field) else {
                continue;
            };
            if enc == Encoding::Form {
                schema::coerce_form(target.fields(), fk);
            }
            let mut sub = Map::new();
            schema::validate_given(target.fields(), fk, &mut sub);
            if !sub.is_empty() {
                errors.insert(field.to_string(), Value::Object(sub));
                obj.remove(*field);
                continue;
            }
            let key_name = target.endpoint_key();
            let reduced = match (fk.get("id"), fk.get(key_name)) {
                (Some(Value::String(id)), _) => match Uuid::parse_str(id) {
                    Ok(id) => json!({"id": id.to_string()}),
                    Err(_) => {
                        errors.insert(field.to_string(), json!({"id": "expected a valid UUID"}));
                        obj.remove(*field);
                        continue;
                    }
                },
                (_, Some(Value::String(key))) if key_name != "id" => {
                    match self.store.find_by_key(*target, key)? {
                        Some(found) => json!({"id": found["id"]}),
                        None => {
                            let mut m = Map::new();
                            m.insert(
                                key_name.to_string(),
                                json!(format!(
                                    "the foreign key cannot be resolved with '{{{key_name}={}}}' for an existing '{}' entity",
                                    lua_quote(key),
                                    target.collection()
                                )),
                            );
                            unresolved.insert(field.to_string(), Value::Object(m));
                            continue;
                        }
                    }
                }
                _ => {
                    errors.insert(field.to_string(), json!({"id": "missing primary key"}));
                    obj.remove(*field);
                    continue;
                }
            };
            obj.insert(field.to_string(), reduced);
        }
        Ok(unresolved)
    }
}

/// A string as Lua's `%q` (penlight's pretty writer) shows it.
fn lua_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The serverless README's "Escaping Commas" note tells form users to
/// write `\,` for commas; Kong stopped splitting form values on commas
/// in 1.0, so the backslashes reach the compiler. Lua has no `\,` outside
/// a string, so a function that fails to compile with them and compiles
/// without them is stored without them, with a warning. Anything else
/// (code that compiles as sent, or fails either way) is left for the
/// plugin's own checks.
fn unescape_commas(plugin: &str, config: &mut Map<String, Value>) {
    for (phase, functions) in config.iter_mut() {
        let Value::Array(items) = functions else {
            continue;
        };
        for (i, item) in items.iter_mut().enumerate() {
            let Value::String(code) = item else { continue };
            if !code.contains("\\,") || lua_stdlib::Chunk::compile(code.as_bytes(), code).is_ok() {
                continue;
            }
            let unescaped = code.replace("\\,", ",");
            if lua_stdlib::Chunk::compile(unescaped.as_bytes(), &unescaped).is_ok() {
                tracing::warn!(
                    "[{plugin}] config.{phase}[{}] compiles only without the backslashes before \
                     its commas (the README's \"Escaping Commas\" advice, unneeded since Kong \
                     1.0): stored without them",
                    i + 1
                );
                *code = unescaped;
            }
        }
    }
}

/// A page offset is opaque, as Kong's: the base64 of the last id seen.
fn encode_offset(id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(id)
}

/// Reads an offset (or, as older answers gave, a bare id), with Kong's
/// `invalid offset` errors.
fn decode_offset(v: &str) -> Result<String, AdminError> {
    use base64::Engine;
    let invalid = |why: &str| AdminError::Coded {
        code: 7,
        name: "invalid offset",
        message: format!("'{v}' is not a valid offset: {why}"),
    };
    if let Ok(id) = Uuid::parse_str(v) {
        return Ok(id.to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(v))
        .map_err(|_| invalid("bad base64 encoding"))?;
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| Uuid::parse_str(s).ok())
        .map(|id| id.to_string())
        .ok_or_else(|| invalid("bad offset"))
}

/// PATCH semantics: the plugin `config` record merges key by key, an
/// upstream's `healthchecks` record at every level; every other field is
/// replaced.
fn merge(into: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(old)), Value::Object(new)) if k == "config" => merge(old, new),
            (Some(Value::Object(old)), Value::Object(new)) if k == "healthchecks" => {
                merge_deep(old, new)
            }
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn merge_deep(into: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(old)), Value::Object(new)) => merge_deep(old, new),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}
