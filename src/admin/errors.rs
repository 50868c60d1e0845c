//! Every way an Admin API request can fail, and the one place that turns
//! each into Kong's JSON shape and status (§3.4 of the Kong reference).

use hyper::StatusCode;
use serde_json::{json, Map, Value};

use crate::entities::schema::{self, FieldErrors};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("Not found")]
    NotFound,
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("schema violation")]
    Schema(FieldErrors),
    /// Foreign keys given by endpoint key that name no entity (Kong's
    /// code 13): `{"service": {"name": "<message>"}}`.
    #[error("foreign keys unresolved")]
    Unresolved(FieldErrors),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A 4xx with just a message: bad JSON, unsupported content type …
    #[error("{1}")]
    Message(StatusCode, String),
    /// Kong's `invalid size` / `invalid offset` errors.
    #[error("{message}")]
    Coded {
        code: u16,
        name: &'static str,
        message: String,
    },
}

impl AdminError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        AdminError::Message(StatusCode::BAD_REQUEST, msg.into())
    }

    /// A schema violation on a single field.
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        let mut m = Map::new();
        m.insert(field.into(), Value::String(msg.into()));
        AdminError::Schema(m)
    }

    pub fn status_and_body(&self) -> (StatusCode, Value) {
        match self {
            AdminError::NotFound => (StatusCode::NOT_FOUND, json!({"message": "Not found"})),
            AdminError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"message": "Method not allowed"}),
            ),
            AdminError::Message(status, msg) => (*status, json!({"message": msg})),
            AdminError::Coded {
                code,
                name,
                message,
            } => (
                StatusCode::BAD_REQUEST,
                json!({"code": code, "name": name, "message": message}),
            ),
            AdminError::Schema(fields) => {
                let parts = schema::describe(fields);
                let message = if parts.len() == 1 {
                    format!("schema violation ({})", parts[0])
                } else {
                    format!("{} schema violations ({})", parts.len(), parts.join("; "))
                };
                (
                    StatusCode::BAD_REQUEST,
                    json!({"code": 2, "name": "schema violation", "message": message, "fields": fields}),
                )
            }
            AdminError::Unresolved(fields) => {
                let parts = schema::describe(fields);
                let message = if parts.len() == 1 {
                    format!("foreign key unresolved ({})", parts[0])
                } else {
                    format!(
                        "{} foreign keys unresolved ({})",
                        parts.len(),
                        parts.join("; ")
                    )
                };
                (
                    StatusCode::BAD_REQUEST,
                    json!({"code": 13, "name": "foreign keys unresolved", "message": message, "fields": fields}),
                )
            }
            AdminError::Store(e) => store_error(e),
        }
    }
}

fn store_error(e: &StoreError) -> (StatusCode, Value) {
    let message = e.to_string();
    match e {
        StoreError::Unique { field, value } => {
            // A plugin's scope is its unique key: Kong lists its fields.
            let fields = match (field.as_str(), value) {
                ("cache_key", Value::Object(m)) => Value::Object(m.clone()),
                _ => json!({field: value}),
            };
            (
                StatusCode::CONFLICT,
                json!({"code": 5, "name": "unique constraint violation", "message": message, "fields": fields}),
            )
        }
        StoreError::PrimaryKey(id) => (
            StatusCode::CONFLICT,
            json!({"code": 3, "name": "primary key violation",
                   "message": format!("primary key violation on key '{{id=\"{id}\"}}'"),
                   "fields": {"id": id.to_string()}}),
        ),
        StoreError::ForeignKey { field, id, .. } => (
            StatusCode::BAD_REQUEST,
            json!({"code": 4, "name": "foreign key violation", "message": message, "fields": {*field: {"id": id}}}),
        ),
        StoreError::ReferencedBy { by, .. } => (
            StatusCode::BAD_REQUEST,
            json!({"code": 4, "name": "foreign key violation", "message": message,
                   "fields": {"@referenced_by": by.collection()}}),
        ),
        StoreError::CaReferenced { .. } => (
            StatusCode::BAD_REQUEST,
            json!({"code": 19, "name": "referenced by others", "message": message}),
        ),
        StoreError::Db(detail) | StoreError::Io(detail) => {
            tracing::error!("database error: {detail}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "An unexpected error occurred"}),
            )
        }
    }
}
