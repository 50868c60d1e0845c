//! The Consumer entity: an API client that plugins can be scoped to.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::schema::{Field, FieldType};

pub fn fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut f = super::common_fields();
        f.extend([
            Field::new("username", FieldType::String),
            Field::new("custom_id", FieldType::String),
        ]);
        f
    })
}

pub fn check(obj: &Map<String, Value>, errors: &mut Map<String, Value>) {
    let set = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    if !set("username") && !set("custom_id") {
        super::entity_error(
            errors,
            "at least one of these fields must be non-empty: 'custom_id', 'username'",
        );
    }
}
