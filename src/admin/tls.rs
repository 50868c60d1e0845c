//! What the Admin API does differently for certificates (Kong's
//! `kong/api/routes/certificates.lua` and `kong/db/dao/certificates.lua`):
//! a certificate is also found by one of its SNI names
//! (`/certificates/example.com`), shows its SNIs as a sorted `snis` array,
//! and takes a `snis` array that replaces them (`null` removes them all;
//! a PATCH without it keeps them). A PUT to `/certificates/{name}` creates
//! the certificate with that SNI when none has it.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::errors::AdminError;
use super::Admin;
use crate::entities::Kind;
use crate::snapshot::Change;
use crate::store::{fk_id, Entity};

impl Admin {
    /// The certificate an SNI name belongs to.
    pub(super) fn certificate_by_sni(&self, name: &str) -> Result<Option<Entity>, AdminError> {
        let Some(sni) = self.store.find_by_key(Kind::Sni, name)? else {
            return Ok(None);
        };
        match fk_id(&sni, "certificate").and_then(|id| Uuid::parse_str(id).ok()) {
            Some(id) => Ok(self.store.get(Kind::Certificate, &id)?),
            None => Ok(None),
        }
    }

    /// Adds each certificate's `snis` (sorted names).
    pub(super) fn add_snis(&self, certs: &mut [Entity]) -> Result<(), AdminError> {
        if certs.is_empty() {
            return Ok(());
        }
        let snis = self.store.list(Kind::Sni)?;
        for cert in certs {
            let id = cert.get("id").and_then(Value::as_str).unwrap_or_default();
            let mut names: Vec<&str> = snis
                .iter()
                .filter(|s| fk_id(s, "certificate") == Some(id))
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .collect();
            names.sort_unstable();
            cert.insert("snis".into(), json!(names));
        }
        Ok(())
    }

    /// Writes a prepared certificate and its `snis`, if given: Kong's
    /// checks first (no name twice, no name another certificate has).
    pub(super) async fn write_certificate(
        &self,
        mut entity: Entity,
        expect_new: bool,
    ) -> Result<Entity, AdminError> {
        let id = entity
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let snis: Option<Vec<String>> = match entity.remove("snis") {
            None => None,
            Some(Value::Null) => Some(Vec::new()),
            Some(Value::Array(names)) => Some(
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
            ),
            Some(_) => return Err(AdminError::field("snis", "expected an array")),
        };
        if let Some(names) = &snis {
            for (i, name) in names.iter().enumerate() {
                if names[..i].contains(name) {
                    return Err(AdminError::field("snis", format!("{name} is duplicated")));
                }
                if let Some(other) = self.store.find_by_key(Kind::Sni, name)? {
                    let owner = fk_id(&other, "certificate").unwrap_or_default();
                    if owner != id {
                        return Err(AdminError::field(
                            "snis",
                            format!(
                                "{name} already associated with existing certificate '{owner}'"
                            ),
                        ));
                    }
                }
            }
        }
        let store = self.store.clone();
        let stored = entity.clone();
        self.commit(move || {
            store.put_certificate(&stored, snis.as_deref(), expect_new)?;
            Ok(vec![Change::Put(Kind::Certificate, stored)])
        })
        .await?;
        self.add_snis(std::slice::from_mut(&mut entity))?;
        Ok(entity)
    }
}

/// `PUT /certificates/{name}`: the certificate that has the SNI `name`, or
/// a new one that gets it; `name` joins the body's `snis`.
pub(super) fn put_by_sni(name: &str, existing: Option<&Entity>, body: &mut Map<String, Value>) {
    let id = existing
        .and_then(|e| e.get("id").cloned())
        .unwrap_or_else(|| json!(Uuid::new_v4().to_string()));
    body.insert("id".into(), id);
    let name = Value::from(name);
    match body.get_mut("snis") {
        Some(Value::Array(names)) => {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Some(Value::String(one)) if name.as_str() != Some(one.as_str()) => {
            let one = Value::from(one.as_str());
            body.insert("snis".into(), json!([one, name]));
        }
        _ => {
            body.insert("snis".into(), json!([name]));
        }
    }
}
