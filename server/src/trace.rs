//! Request tracing and logging. Every request gets an id — the caller's `X-Request-Id` when
//! it is a short token (so a proxy's id carries through), a fresh one otherwise — that is
//! answered in `X-Request-Id` and is the reference of any internal error it meets. One span
//! per request carries the id, method, route, path, status and latency; its closing event
//! (target `keyport::http`, INFO) is the access log.

use app::error::{new_request_id, with_request_id};
use app::platform::state::LogFormat;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for the span (the request-id middleware puts it in the extensions).
#[derive(Clone)]
struct RequestId(String);

/// Ids a caller may choose: 1–64 letters, digits, `-`, `_` or `.` (nothing that could
/// forge a log line or a header).
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The request's id: the caller's when it is acceptable, a fresh one otherwise.
pub fn request_id_of(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(new_request_id, str::to_owned)
}

/// Outermost middleware: names the request and answers its id.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = request_id_of(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = with_request_id(id.clone(), next.run(req)).await;
    answer_id(&mut response, &id);
    response
}

/// Answers the request's id in `X-Request-Id`.
pub fn answer_id(response: &mut Response, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
}

/// The span of one request: its id, method, route, path, and (recorded by [`answered`])
/// status and latency.
pub fn span<B>(req: &http::Request<B>, id: &str) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("-", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        id,
        method = %req.method(),
        route,
        path = req.uri().path(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

/// Records status and latency on the span, then logs the answer (the access log line).
pub fn answered(status: http::StatusCode, latency: Duration, span: &Span) {
    span.record("status", status.as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!(target: "keyport::http", "answered"));
}

/// The span of one request, for the portal's trace layer.
#[derive(Clone)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &http::Request<B>) -> Span {
        let id = req
            .extensions()
            .get::<RequestId>()
            .map_or("-", |id| id.0.as_str());
        span(req, id)
    }
}

/// [`answered`], for the portal's trace layer.
#[derive(Clone)]
pub struct Answered;

impl<B> OnResponse<B> for Answered {
    fn on_response(self, res: &http::Response<B>, latency: Duration, span: &Span) {
        answered(res.status(), latency, span);
    }
}

pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), Answered> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(Answered)
}

/// Installs the global subscriber: `filter` (or `RUST_LOG`) decides what is written to
/// standard error, as text or as one JSON object per line.
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colours only for a terminal: log files and collectors get plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn callers_may_name_requests_with_short_plain_tokens_only() {
        for id in [
            "a",
            "req-1.2_3",
            &"x".repeat(64),
            "5f0c2d9e-8b1a-4c1e-9f7a-2b6d8e1c3a4f",
        ] {
            assert!(acceptable(id), "{id}");
        }
        for id in ["", &"x".repeat(65), "a b", "a\nb", "a\"b", "é", "a/b"] {
            assert!(!acceptable(id), "{id:?}");
        }
    }
}
