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

/// The middleware: [`check`], then the handler.
pub async fn guard(req: Request, next: Next) -> Response {
    match check(req).await {
        Ok(req) => next.run(req).await,
        Err(refusal) => refusal,
    }
}

/// URL first, then (for server functions and the gateway APIs) the body: the request to
/// pass on (its body read into memory when it was checked), or the refusal.
pub async fn check(req: Request) -> Result<Request, Response> {
    let path = req.uri().path();
    // Only a percent-escape can hide a control character in a path (the HTTP parser
    // refuses raw ones).
    if path.contains('%') {
        let decoded_path = form_urlencoded::parse(format!("p={path}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if decoded_path.chars().any(forbidden_in_url) {
            return Err(refused("path"));
        }
    }
    if let Some(field) = req
        .uri()
        .query()
        .and_then(|q| bad_form_field(q.as_bytes(), forbidden_in_url))
    {
        return Err(refused(&field));
    }
    let server_fn = path.starts_with("/api/");
    if req.method() != Method::POST || !(server_fn || path.starts_with("/v1/")) {
        return Ok(req);
    }
    if server_fn && !server_fn_paths().contains(path) {
        return Err(AppError::NotFound.into_response());
    }
    let kind = content_type(&req);
    let form = kind == "application/x-www-form-urlencoded";
    let json = kind == "application/json";
    if server_fn && !form && !kind.is_empty() && kind != "multipart/form-data" {
        return Err(AppError::Unsupported {
            message: format!("Send the form as application/x-www-form-urlencoded, not {kind}."),
        }
        .into_response());
    }
    if !form && !json {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        // Over the body limit (the limit layer outside answers for itself) or cut off.
        Err(_) => {
            return Err(AppError::TooLarge {
                message: "The request is larger than Keyport accepts.".into(),
            }
            .into_response())
        }
    };
    let bad = if form {
        bad_form_field(&bytes, forbidden)
    } else if may_hold_control_characters(&bytes) {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| bad_json_field(&v, "value"))
    } else {
        None
    };
    if let Some(field) = bad {
        return Err(refused(&field));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Whether a JSON text could hold a refused character in a string, looked at byte by byte
/// (no parse): a `\u` escape of one, DEL, or a C1 control (UTF-8 `C2 80`–`C2 9F`). Raw
/// bytes below 0x20 other than whitespace make the JSON invalid, which its parser refuses;
/// they are counted here too. Only a `true` costs a parse (to name the field).
fn may_hold_control_characters(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'\\' => {
                if json.get(i + 1) == Some(&b'u') {
                    let escaped = json
                        .get(i + 2..i + 6)
                        .and_then(|hex| std::str::from_utf8(hex).ok())
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                        .and_then(char::from_u32);
                    if escaped.is_none_or(forbidden) {
                        return true;
                    }
                    i += 6;
                } else {
                    i += 2;
                }
            }
            0x7f => return true,
            0xc2 if matches!(json.get(i + 1), Some(0x80..=0x9f)) => return true,
            b if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') => return true,
            _ => i += 1,
        }
    }
    false
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

    /// The byte scan never misses what the parse finds (it may send more to the parse).
    #[test]
    fn the_byte_scan_flags_every_json_text_the_parse_refuses() {
        use rand::Rng;
        let slow = |text: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| bad_json_field(&v, "value"))
                .is_some()
        };
        let alphabet = [
            'a', ' ', '\\', '"', 'u', '0', '\0', '\t', '\n', '\r', '\u{1f}', '\u{7f}', '\u{85}',
            '\u{9f}', '\u{a0}', 'é', '—', '😀',
        ];
        let mut rng = rand::thread_rng();
        for _ in 0..20_000 {
            let len = rng.gen_range(0..12);
            let text: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let name: String = (0..rng.gen_range(0..3))
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let json = serde_json::json!({ "key": "kp_x", name: [text] }).to_string();
            if slow(&json) {
                assert!(may_hold_control_characters(json.as_bytes()), "{json:?}");
            }
        }
        let clean = r#"{"key":"kp_live_abc","api":"pets","ip":"203.0.113.9","note":"a\nb \\u0000 caf\u00e9"}"#;
        assert!(!slow(clean));
        assert!(!may_hold_control_characters(clean.as_bytes()));
        for bad in [
            r#"{"a":"\u0000"}"#,
            r#"{"a":"\u007F"}"#,
            r#"{"a":["\u0085"]}"#,
            r#"{"a\u0001":1}"#,
            "{\"a\":\"\u{85}\"}",
        ] {
            assert!(slow(bad), "{bad}");
            assert!(may_hold_control_characters(bad.as_bytes()), "{bad}");
        }
    }
}
