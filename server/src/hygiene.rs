//! Input hygiene, in one place for every request: text with control characters is refused
//! before any handler sees it (PostgreSQL cannot store NUL, and a CR or LF must never reach
//! a header), server functions accept only the form encoding they read, and an unknown
//! server function is a 404. Each refusal is the usual JSON error.

use app::error::AppError;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use std::sync::OnceLock;

/// Control characters other than tab, line feed and carriage return (which multi-line
/// fields may hold; single-line fields refuse them when they are parsed).
fn forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// In a path or a query nothing of the kind is ever meant, not even a line break.
fn forbidden_in_url(c: char) -> bool {
    c.is_control()
}

fn refused(field: &str) -> Response {
    AppError::field(
        field,
        "Remove control characters (such as NUL or line breaks where they cannot be): Keyport does not accept them.",
    )
    .into_response()
}

/// The first field of a form-encoded text holding a refused character.
fn bad_form_field(text: &[u8], bad: fn(char) -> bool) -> Option<String> {
    form_urlencoded::parse(text)
        .find(|(k, v)| k.chars().any(bad) || v.chars().any(bad))
        .map(|(k, _)| k.chars().filter(|c| !c.is_control()).take(64).collect())
}

/// The first JSON member (by name, `value` for a bare string) holding a refused character.
fn bad_json_field(value: &serde_json::Value, name: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.chars().any(forbidden).then(|| name.to_string()),
        serde_json::Value::Array(items) => items.iter().find_map(|v| bad_json_field(v, name)),
        serde_json::Value::Object(members) => members.iter().find_map(|(k, v)| {
            if k.chars().any(forbidden) {
                Some("(member name)".to_string())
            } else {
                bad_json_field(v, k)
            }
        }),
        _ => None,
    }
}

/// The server functions this binary has, by path (built once).
fn server_fn_paths() -> &'static HashSet<&'static str> {
    static PATHS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    PATHS.get_or_init(|| {
        leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path)
            .collect()
    })
}

fn content_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The middleware: URL first, then (for server functions and the gateway APIs) the body.
pub async fn guard(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let decoded_path = form_urlencoded::parse(format!("p={path}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if decoded_path.chars().any(forbidden_in_url) {
        return refused("path");
    }
    if let Some(field) = req
        .uri()
        .query()
        .and_then(|q| bad_form_field(q.as_bytes(), forbidden_in_url))
    {
        return refused(&field);
    }
    let server_fn = path.starts_with("/api/");
    if req.method() != Method::POST || !(server_fn || path.starts_with("/v1/")) {
        return next.run(req).await;
    }
    if server_fn && !server_fn_paths().contains(path) {
        return AppError::NotFound.into_response();
    }
    let kind = content_type(&req);
    let form = kind == "application/x-www-form-urlencoded";
    let json = kind == "application/json";
    if server_fn && !form && !kind.is_empty() && kind != "multipart/form-data" {
        return AppError::Unsupported {
            message: format!("Send the form as application/x-www-form-urlencoded, not {kind}."),
        }
        .into_response();
    }
    if !form && !json {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        // Over the body limit (the limit layer outside answers for itself) or cut off.
        Err(_) => {
            return AppError::TooLarge {
                message: "The request is larger than Keyport accepts.".into(),
            }
            .into_response()
        }
    };
    let bad = if form {
        bad_form_field(&bytes, forbidden)
    } else {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| bad_json_field(&v, "value"))
    };
    if let Some(field) = bad {
        return refused(&field);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_in_forms_and_json() {
        assert_eq!(bad_form_field(b"q=a%00b", forbidden).as_deref(), Some("q"));
        assert_eq!(
            bad_form_field(b"a=1&next=%2F%0A%2Fx", forbidden_in_url).as_deref(),
            Some("next")
        );
        assert_eq!(bad_form_field(b"description=line%0Aline", forbidden), None);
        assert_eq!(
            bad_form_field(b"name=caf%C3%A9&x=%E2%80%94", forbidden),
            None
        );
        let json: serde_json::Value =
            serde_json::from_str(r#"{"key":"k","api":"a","nested":[{"ip":"1\u0000"}]}"#).unwrap();
        assert_eq!(bad_json_field(&json, "value").as_deref(), Some("ip"));
        let fine: serde_json::Value = serde_json::from_str(r#"{"text":"a\nb\tc","n":1}"#).unwrap();
        assert_eq!(bad_json_field(&fine, "value"), None);
        let c1: serde_json::Value = serde_json::from_str(r#"["\u0085"]"#).unwrap();
        assert_eq!(bad_json_field(&c1, "value").as_deref(), Some("value"));
    }
}
