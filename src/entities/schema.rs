//! A small schema language for Kong entities, so that one description of an
//! entity's fields drives everything the Admin API does with a body: typing
//! form values (`"80"` → `80`, one string → a one-element array), rejecting
//! unknown fields and wrong types with Kong's messages, and filling defaults.
//!
//! Semantic checks that span fields (a route must set one of paths/hosts/…)
//! live next to each entity, not here.

use serde_json::{Map, Value};

/// The most items an array, set or map field may hold unless its field
/// says otherwise. Kong sets no such bound; without one a single route
/// with 200,000 paths was accepted and made every later write slow.
pub const MAX_ITEMS: usize = 1000;

/// The type of one field, as Kong's schema library names them.
#[derive(Debug, Clone)]
pub enum FieldType {
    String,
    Integer,
    /// Any number (an integer or not).
    Number,
    Boolean,
    /// Ordered list.
    Array(Box<FieldType>),
    /// Unordered list without duplicates.
    Set(Box<FieldType>),
    /// String keys to values of one type.
    Map(Box<FieldType>),
    /// A foreign key: `{"id": "<uuid>"}` (or, on input, `{"name": …}`).
    Foreign,
    /// Anything JSON (checked elsewhere).
    Any,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    /// Value used when the field is absent on create/replace.
    pub default: Value,
    /// Inclusive integer range.
    pub between: Option<(i64, i64)>,
    /// Allowed string values.
    pub one_of: Option<&'static [&'static str]>,
    /// Accepted on input but never stored or returned (the Service `url`).
    pub write_only: bool,
    /// Most items of an array, set or map (and of the arrays in a map).
    pub max_items: usize,
    /// Longest string, in bytes (the field's own, or its elements').
    pub max_len: Option<usize>,
}

impl Field {
    pub fn new(name: &'static str, ty: FieldType) -> Self {
        Field {
            name,
            ty,
            required: false,
            default: Value::Null,
            between: None,
            one_of: None,
            write_only: false,
            max_items: MAX_ITEMS,
            max_len: None,
        }
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn default(mut self, v: Value) -> Self {
        self.default = v;
        self
    }
    pub fn between(mut self, lo: i64, hi: i64) -> Self {
        self.between = Some((lo, hi));
        self
    }
    pub fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.one_of = Some(values);
        self
    }
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    pub fn max_items(mut self, n: usize) -> Self {
        self.max_items = n;
        self
    }
    pub fn max_len(mut self, n: usize) -> Self {
        self.max_len = Some(n);
        self
    }
}

pub fn array_of(t: FieldType) -> FieldType {
    FieldType::Array(Box::new(t))
}
pub fn set_of(t: FieldType) -> FieldType {
    FieldType::Set(Box::new(t))
}

/// Field errors, shaped like Kong's `fields` object: keys are field names,
/// values are messages, nested objects, or arrays indexed like the input.
pub type FieldErrors = Map<String, Value>;

/// Converts form-decoded values (all strings) to the types the schema wants,
/// as Kong's `arguments.lua` does: numbers parsed, `"true"`/`"false"` made
/// booleans, a single value wrapped for array fields, `""` made null.
/// Values that cannot be converted are left alone for `validate` to report.
pub fn coerce_form(fields: &[Field], obj: &mut Map<String, Value>) {
    for field in fields {
        if let Some(v) = obj.get_mut(field.name) {
            coerce_value(&field.ty, v);
        }
    }
}

fn coerce_value(ty: &FieldType, v: &mut Value) {
    if let Value::String(s) = v {
        if s.is_empty() {
            *v = Value::Null;
            return;
        }
    }
    match ty {
        FieldType::Integer => {
            if let Value::String(s) = v {
                if let Ok(n) = s.trim().parse::<i64>() {
                    *v = Value::from(n);
                } else if let Ok(f) = s.trim().parse::<f64>() {
                    if f.fract() == 0.0 && f.abs() < 9.0e15 {
                        *v = Value::from(f as i64);
                    }
                }
            }
        }
        FieldType::Number => {
            if let Value::String(s) = v {
                if let Ok(n) = s.trim().parse::<f64>() {
                    if let Some(n) = serde_json::Number::from_f64(n) {
                        *v = Value::Number(n);
                    }
                }
            }
        }
        FieldType::Boolean => {
            if let Value::String(s) = v {
                match s.as_str() {
                    "true" => *v = Value::Bool(true),
                    "false" => *v = Value::Bool(false),
                    _ => {}
                }
            }
        }
        FieldType::Array(elem) | FieldType::Set(elem) => {
            if matches!(v, Value::String(_)) {
                *v = Value::Array(vec![v.take()]);
            }
            if let Value::Array(items) = v {
                for item in items {
                    coerce_value(elem, item);
                }
            }
        }
        FieldType::Map(elem) => {
            if let Value::Object(m) = v {
                for item in m.values_mut() {
                    coerce_value(elem, item);
                }
            }
        }
        FieldType::Foreign | FieldType::String | FieldType::Any => {}
    }
}

/// Fills defaults for absent fields, as Kong does on insert and on PUT
/// (which replaces the whole entity).
pub fn fill_defaults(fields: &[Field], obj: &mut Map<String, Value>) {
    for field in fields {
        if field.write_only {
            continue;
        }
        if !obj.contains_key(field.name) {
            obj.insert(field.name.to_string(), field.default.clone());
        }
    }
}

/// Checks types, ranges, enumerations, required fields and unknown fields.
pub fn validate(fields: &[Field], obj: &Map<String, Value>, errors: &mut FieldErrors) {
    for (key, _) in obj.iter() {
        if !fields.iter().any(|f| f.name == key) {
            errors.insert(key.clone(), Value::from("unknown field"));
        }
    }
    for field in fields {
        match obj.get(field.name) {
            None | Some(Value::Null) => {
                if field.required {
                    errors.insert(field.name.into(), Value::from("required field missing"));
                }
            }
            Some(v) => {
                if let Some(e) = check_value(field, &field.ty, v) {
                    errors.insert(field.name.into(), e);
                }
            }
        }
    }
}

/// Checks the fields a record gives, and only those: a foreign key given as
/// a whole entity (`"service": {…the GET result…}`) is checked against the
/// referenced entity's schema, as Kong does, before its `id` is taken.
pub fn validate_given(fields: &[Field], obj: &Map<String, Value>, errors: &mut FieldErrors) {
    for (key, v) in obj.iter() {
        let Some(field) = fields.iter().find(|f| f.name == key) else {
            errors.insert(key.clone(), Value::from("unknown field"));
            continue;
        };
        if v.is_null() {
            continue;
        }
        if let Some(e) = check_value(field, &field.ty, v) {
            errors.insert(key.clone(), e);
        }
    }
}

fn check_value(field: &Field, ty: &FieldType, v: &Value) -> Option<Value> {
    let msg = |s: &str| Some(Value::from(s));
    match ty {
        FieldType::String => {
            let Value::String(s) = v else {
                return msg("expected a string");
            };
            if s.is_empty() {
                return msg("length must be at least 1");
            }
            if let Some(max) = field.max_len.filter(|max| s.len() > *max) {
                return Some(Value::from(format!("length must be at most {max}")));
            }
            if let Some(allowed) = field.one_of {
                if !allowed.contains(&s.as_str()) {
                    return Some(Value::from(format!(
                        "expected one of: {}",
                        allowed.join(", ")
                    )));
                }
            }
            None
        }
        FieldType::Integer => {
            let Some(n) = v.as_i64() else {
                return msg("expected an integer");
            };
            if let Some((lo, hi)) = field.between {
                if n < lo || n > hi {
                    return Some(Value::from(format!(
                        "value should be between {lo} and {hi}"
                    )));
                }
            }
            None
        }
        FieldType::Number => {
            if v.is_number() {
                None
            } else {
                msg("expected a number")
            }
        }
        FieldType::Boolean => {
            if v.is_boolean() {
                None
            } else {
                msg("expected a boolean")
            }
        }
        FieldType::Array(elem) | FieldType::Set(elem) => {
            let Value::Array(items) = v else {
                return msg(if matches!(ty, FieldType::Set(_)) {
                    "expected a set"
                } else {
                    "expected an array"
                });
            };
            if items.len() > field.max_items {
                return Some(Value::from(format!(
                    "length must be at most {}",
                    field.max_items
                )));
            }
            // Kong reports element errors by position; JSON makes that an
            // array with nulls before the failing index.
            let mut per_item: Vec<Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let err = if item.is_null() {
                    Some(Value::from("required field missing"))
                } else {
                    check_value(field, elem, item)
                };
                if let Some(e) = err {
                    per_item.resize(i, Value::Null);
                    per_item.push(e);
                }
            }
            if per_item.is_empty() {
                None
            } else {
                Some(Value::Array(per_item))
            }
        }
        FieldType::Map(elem) => {
            let Value::Object(m) = v else {
                return msg("expected a map");
            };
            if m.len() > field.max_items {
                return Some(Value::from(format!(
                    "length must be at most {}",
                    field.max_items
                )));
            }
            let mut errs = Map::new();
            for (k, item) in m {
                if let Some(e) = check_value(field, elem, item) {
                    errs.insert(k.clone(), e);
                }
            }
            (!errs.is_empty()).then_some(Value::Object(errs))
        }
        FieldType::Foreign => {
            let Value::Object(m) = v else {
                return msg("expected a record");
            };
            let mut errs = Map::new();
            for (k, item) in m {
                match k.as_str() {
                    "id" => {
                        if item
                            .as_str()
                            .and_then(|s| uuid::Uuid::parse_str(s).ok())
                            .is_none()
                        {
                            errs.insert(k.clone(), Value::from("expected a valid UUID"));
                        }
                    }
                    "name" | "username" | "instance_name" if item.is_string() => {}
                    _ => {
                        errs.insert(k.clone(), Value::from("unknown field"));
                    }
                }
            }
            (!errs.is_empty()).then_some(Value::Object(errs))
        }
        FieldType::Any => None,
    }
}

/// Removes write-only fields before storing.
pub fn strip_write_only(fields: &[Field], obj: &mut Map<String, Value>) {
    for field in fields.iter().filter(|f| f.write_only) {
        obj.remove(field.name);
    }
}

/// Kong's human summary of field errors: `host: required field missing`,
/// nested paths joined with dots, array positions 1-based (`protocols.1`).
pub fn describe(errors: &FieldErrors) -> Vec<String> {
    // Kong's order: entity-level messages as they are, then fields sorted
    // by name.
    let mut out = Vec::new();
    if let Some(Value::Array(msgs)) = errors.get("@entity") {
        out.extend(msgs.iter().map(|m| match m {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    let mut keys: Vec<&String> = errors.keys().filter(|k| *k != "@entity").collect();
    keys.sort();
    for k in keys {
        describe_into(k, &errors[k.as_str()], &mut out);
    }
    out
}

fn describe_into(path: &str, v: &Value, out: &mut Vec<String>) {
    // Kong's paths: `service.protocol`, `protocols.1` (positions 1-based),
    // keys sorted at every level.
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                describe_into(&format!("{path}.{k}"), &m[k.as_str()], out);
            }
        }
        Value::Array(items) => {
            for (i, sub) in items.iter().enumerate() {
                if !sub.is_null() {
                    describe_into(&format!("{path}.{}", i + 1), sub, out);
                }
            }
        }
        Value::String(s) => out.push(format!("{path}: {s}")),
        other => out.push(format!("{path}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<Field> {
        vec![
            Field::new("port", FieldType::Integer)
                .default(json!(80))
                .between(0, 65535),
            Field::new("paths", array_of(FieldType::String)),
            Field::new("strip_path", FieldType::Boolean).default(json!(true)),
            Field::new("host", FieldType::String).required(),
        ]
    }

    #[test]
    fn form_values_are_typed_against_the_schema() {
        let mut obj = json!({"port": "8080", "paths": "/test", "strip_path": "false", "host": ""});
        coerce_form(&fields(), obj.as_object_mut().unwrap());
        assert_eq!(
            obj,
            json!({"port": 8080, "paths": ["/test"], "strip_path": false, "host": null})
        );
    }

    #[test]
    fn errors_use_kong_messages() {
        let obj = json!({"port": 70000, "paths": ["/a", 3], "foo": 1});
        let mut errs = Map::new();
        validate(&fields(), obj.as_object().unwrap(), &mut errs);
        assert_eq!(
            Value::Object(errs.clone()),
            json!({"foo": "unknown field", "port": "value should be between 0 and 65535",
                   "paths": [null, "expected a string"], "host": "required field missing"})
        );
        assert!(describe(&errs).contains(&"paths.2: expected a string".to_string()));
    }
}
