//! The one error type of Keyport: what a user can act on, shared by server functions,
//! HTTP handlers and the browser. Internal failures carry only a reference id; the cause
//! is logged on the server under that id and never sent to the client.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Field name → messages, for forms and JSON bodies alike.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthorized,
    #[error("Invalid email or password.")]
    InvalidCredentials,
    #[error("You do not have permission to do that.")]
    Forbidden,
    #[error("{message}")]
    NotAllowed { message: String },
    #[error("Not found.")]
    NotFound,
    #[error("Confirm it's you: enter a code from your authenticator app.")]
    MfaRequired,
    #[error("Set up two-factor authentication first (Account → Security).")]
    MfaEnrolmentRequired,
    #[error("Please correct the highlighted fields.")]
    Validation { fields: FieldErrors },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    BadRequest { message: String },
    #[error("{message}")]
    TooLarge { message: String },
    #[error("{message}")]
    Unsupported { message: String },
    #[error("Too many attempts. Try again in {retry_after_secs} seconds.")]
    RateLimited { retry_after_secs: u64 },
    #[error("Keyport could not be reached. Check your connection and try again.")]
    Unavailable,
    #[error("Keyport cannot reach its database at the moment. Nothing was changed; try again in a few seconds.")]
    StorageUnavailable,
    #[error("Something went wrong on our side (reference {reference}).")]
    Internal { reference: String },
}

impl AppError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut fields = FieldErrors::new();
        fields.insert(field.to_string(), vec![message.into()]);
        AppError::Validation { fields }
    }

    /// Messages for one form field, empty when the error is not about that field.
    pub fn field_messages(&self, field: &str) -> Vec<String> {
        match self {
            AppError::Validation { fields } => fields.get(field).cloned().unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::InvalidCredentials => 401,
            AppError::Forbidden
            | AppError::NotAllowed { .. }
            | AppError::MfaRequired
            | AppError::MfaEnrolmentRequired => 403,
            AppError::NotFound => 404,
            AppError::Conflict { .. } => 409,
            AppError::Validation { .. } => 422,
            AppError::BadRequest { .. } => 400,
            AppError::TooLarge { .. } => 413,
            AppError::Unsupported { .. } => 415,
            AppError::RateLimited { .. } => 429,
            AppError::Unavailable | AppError::StorageUnavailable => 503,
            AppError::Internal { .. } => 500,
        }
    }

    /// The JSON every HTTP answer carries: the error's fields and a human `message`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("message".into(), self.to_string().into());
        }
        body
    }

    /// When a client may try again (`Retry-After`), for the errors that say so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            AppError::StorageUnavailable => Some(5),
            _ => None,
        }
    }

    /// Logs an internal failure and returns what the user may see: its reference is the
    /// request's id (answered in `X-Request-Id`), or a fresh one outside a request.
    #[cfg(feature = "ssr")]
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let reference = REQUEST_ID
            .try_with(Clone::clone)
            .unwrap_or_else(|_| new_request_id());
        tracing::error!(%reference, %cause, "internal error");
        AppError::Internal { reference }
    }
}

#[cfg(feature = "ssr")]
tokio::task_local! {
    /// The id of the request being answered (set by the server's request-id middleware).
    static REQUEST_ID: String;
}

/// Runs `work` as the request `id`: internal errors raised in it carry that reference.
#[cfg(feature = "ssr")]
pub async fn with_request_id<F: std::future::Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// A fresh request id: 16 hex digits.
#[cfg(feature = "ssr")]
pub fn new_request_id() -> String {
    // The thread's generator, seeded from the OS: no system call per request.
    format!("{:016x}", rand::random::<u64>())
}

/// Collects field errors while parsing a form, so every bad field is reported at once.
#[derive(Default)]
pub struct FormErrors(FieldErrors);

impl FormErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of a parse result and returns its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    pub fn into_error(self) -> AppError {
        AppError::Validation { fields: self.0 }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message)
            | ServerFnErrorErr::MissingArg(message)
            | ServerFnErrorErr::Deserialization(message) => AppError::BadRequest {
                message: format!("The request could not be read: {message}"),
            },
            ServerFnErrorErr::UnsupportedRequestMethod(message) => AppError::BadRequest { message },
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Unavailable,
            #[cfg(feature = "ssr")]
            other => AppError::internal(other),
            #[cfg(not(feature = "ssr"))]
            _ => AppError::Internal {
                reference: "client".into(),
            },
        }
    }
}

/// Whether a database error means the database cannot be reached (the client may retry)
/// rather than that a statement failed.
#[cfg(feature = "ssr")]
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: connection exceptions (class 08), shutting down or not accepting
        // connections (57P0x, 55000 for a database closed to connections), too many
        // connections (53300).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P0") || code == "55000" || code == "53300"
        }),
        _ => false,
    }
}

/// How the session store marks an unreachable database in its (string) errors.
#[cfg(feature = "ssr")]
pub const UNREACHABLE: &str = "database unreachable: ";

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    /// A database that cannot be reached is a 503; anything else is an internal error with
    /// a reference.
    fn from(e: sqlx::Error) -> Self {
        if is_unreachable(&e) {
            tracing::warn!(error = %e, "database unreachable");
            AppError::StorageUnavailable
        } else {
            AppError::internal(e)
        }
    }
}

#[cfg(feature = "ssr")]
impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        if e.to_string().contains(UNREACHABLE) {
            tracing::warn!(error = %e, "session store unreachable");
            AppError::StorageUnavailable
        } else {
            AppError::internal(e)
        }
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.to_json())).into_response();
        if let Some(secs) = self.retry_after_secs() {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_serialises_without_its_cause() {
        let e = AppError::Internal {
            reference: "abc".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"error":"internal","reference":"abc"}"#);
    }

    #[test]
    fn errors_with_their_message_still_read_back() {
        for e in [
            AppError::Unauthorized,
            AppError::field("name", "Enter a name."),
            AppError::RateLimited {
                retry_after_secs: 3,
            },
            AppError::StorageUnavailable,
        ] {
            let json = e.to_json();
            assert!(json["message"].is_string());
            assert_eq!(serde_json::from_value::<AppError>(json).unwrap(), e);
        }
        assert_eq!(
            AppError::RateLimited {
                retry_after_secs: 0
            }
            .retry_after_secs(),
            Some(1)
        );
        assert_eq!(AppError::StorageUnavailable.status(), 503);
    }

    #[test]
    fn form_errors_collect_every_field() {
        let mut f = FormErrors::new();
        assert_eq!(f.check("a", Ok::<_, String>(1)), Some(1));
        f.check::<()>("b", Err("bad".into()));
        f.add("b", "worse");
        let e = f.finish().unwrap_err();
        assert_eq!(e.field_messages("b"), vec!["bad", "worse"]);
        assert!(e.field_messages("a").is_empty());
        assert_eq!(e.status(), 422);
    }
}
