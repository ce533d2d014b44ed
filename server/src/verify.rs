//! The HTTP APIs for gateways, each authenticated with a service token:
//! - `POST /v1/keys/verify` (`Authorization: Bearer kps_…`): JSON in, `{valid, code, …}` out.
//! - `GET /v1/auth_request` for nginx `auth_request` (token in `X-Keyport-Token`; the key in
//!   `X-Api-Key` or `Authorization: Bearer`): 204, 401 or 403 with `X-Keyport-*` headers.
//!   Envoy's `ext_authz` (HTTP) calls `/v1/auth_request/<original path>` with the original
//!   method: the same answer, the API from that path.
//! - `POST /v1/leaks`: findings in GitHub's secret-scanning format; matching keys revoked or
//!   flagged.
//!
//! A missing or wrong service token is 401 and a malformed body 400, both with a JSON error.
//! The OpenAPI document of these endpoints is served at `/v1/openapi.json` (utoipa).

use app::error::AppError;
use app::keys::leaks::{self, LeakAnswer, LeakOutcome, LeakReport};
use app::keys::verify::{verify, Code, KeyRate, VerifyAnswer, VerifyRequest};
use app::state::{AppState, ClientInfo};
use axum::extract::{rejection::JsonRejection, State};
use axum::http::Uri;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/keys/verify", post(verify_key))
        .route("/v1/auth_request", get(auth_request))
        .route("/v1/auth_request/{*path}", any(auth_request))
        .route("/v1/leaks", post(report_leaks))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(ApiDoc::openapi()) }),
        )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyport gateway API",
        description = "Key verification for gateways (JSON, or nginx `auth_request` from headers) and leak reports in GitHub's secret-scanning format. Every endpoint needs a service token created by an admin (Settings → Service tokens) or with `keyport service-token create --name N`."
    ),
    paths(verify_key, auth_request, report_leaks),
    components(schemas(VerifyRequest, VerifyAnswer, Code, KeyRate, LeakReport, LeakAnswer, LeakOutcome, ErrorBody)),
    modifiers(&ServiceTokens)
)]
pub struct ApiDoc;

/// The two ways gateways present their service token.
struct ServiceTokens;

impl utoipa::Modify for ServiceTokens {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "service_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "service_token_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Keyport-Token"))),
        );
    }
}

/// Every 4xx and 5xx answer of these endpoints.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes AppError's JSON for the document
struct ErrorBody {
    /// `unauthorized`, `bad_request`, `internal`, …
    error: String,
    /// What went wrong, for people.
    message: String,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    header(headers, header::AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "))
}

/// Checks the service token; the refusal to send when it is missing or wrong.
async fn gateway(state: &AppState, token: Option<&str>, now: i64) -> Result<(), Response> {
    match app::admin::service_tokens::store::authenticate(state, token.unwrap_or(""), now).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(AppError::Unauthorized.into_response()),
        Err(e) => Err(e.into_response()),
    }
}

fn bad_json(example: &str, rejection: JsonRejection) -> Response {
    AppError::BadRequest {
        message: format!("Send JSON like {example}: {}", rejection.body_text()),
    }
    .into_response()
}

/// Verifies a key for a call to an API; a valid verification counts one use.
#[utoipa::path(
    post,
    path = "/v1/keys/verify",
    request_body = VerifyRequest,
    security(("service_token" = [])),
    responses(
        (status = 200, description = "The decision (valid or not, with its code)", body = VerifyAnswer),
        (status = 400, description = "The body is not the JSON described", body = ErrorBody),
        (status = 401, description = "Missing, wrong or revoked service token", body = ErrorBody),
    )
)]
async fn verify_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    let now = state.clock.now();
    if let Err(refused) = gateway(&state, bearer(&headers), now).await {
        return refused;
    }
    let Json(req) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_json(r#"{"key": "kp_live_…", "api": "slug"}"#, rejection),
    };
    match verify(&state, &req, now).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

/// nginx `auth_request`: the API is `X-Keyport-Api` or else the first segment of
/// `X-Original-URI`; the scope `X-Keyport-Scope`; the client `X-Real-IP`.
#[utoipa::path(
    get,
    path = "/v1/auth_request",
    security(("service_token_header" = [])),
    params(
        ("X-Api-Key" = Option<String>, Header, description = "The client's API key (or `Authorization: Bearer <key>`)"),
        ("X-Original-URI" = Option<String>, Header, description = "The original request URI; its first segment is the API slug"),
        ("X-Keyport-Api" = Option<String>, Header, description = "The API slug, when the URI does not start with it"),
        ("X-Keyport-Scope" = Option<String>, Header, description = "A scope the call needs"),
        ("X-Real-IP" = Option<String>, Header, description = "The client's address"),
    ),
    responses(
        (status = 204, description = "Valid: `X-Keyport-Code: VALID` and identity headers `X-Keyport-Key-Id`, `-Application`, `-Owner`, `-Environment`, `-Scopes`, `-Remaining`, `-Expires-At`, `-Rate-Limit`"),
        (status = 401, description = "No usable key (`X-Keyport-Code`: MISSING_KEY, MALFORMED, NOT_FOUND, EXPIRED, REVOKED), or a missing or wrong service token (JSON body)"),
        (status = 403, description = "The key may not make this call (`X-Keyport-Code`: API_NOT_ALLOWED, SUBSCRIPTION_INACTIVE, SCOPE_DENIED, IP_NOT_ALLOWED, EXHAUSTED)"),
    )
)]
async fn auth_request(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    if let Err(refused) = gateway(&state, header(&headers, "x-keyport-token"), now).await {
        return refused;
    }
    let Some(key) = header(&headers, "x-api-key").or_else(|| bearer(&headers)) else {
        return decision(StatusCode::UNAUTHORIZED, "MISSING_KEY", &[]);
    };
    // The original URI: nginx sends it in a header, Envoy appends its path to ours.
    let original =
        header(&headers, "x-original-uri").or_else(|| uri.path().strip_prefix("/v1/auth_request"));
    let api = header(&headers, "x-keyport-api")
        .map(str::to_string)
        .or_else(|| {
            original
                .and_then(|uri| uri.trim_start_matches('/').split(['/', '?']).next())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
    let Some(api) = api else {
        return decision(StatusCode::FORBIDDEN, "API_NOT_ALLOWED", &[]);
    };
    let req = VerifyRequest {
        key: key.to_string(),
        api,
        scope: header(&headers, "x-keyport-scope").map(str::to_string),
        ip: header(&headers, "x-real-ip").map(str::to_string),
    };
    match verify(&state, &req, now).await {
        Ok(answer) => answer_headers(&answer),
        Err(e) => e.into_response(),
    }
}

fn answer_headers(a: &VerifyAnswer) -> Response {
    let status = match a.code {
        Code::Valid => StatusCode::NO_CONTENT,
        Code::Malformed | Code::NotFound | Code::Expired | Code::Revoked => {
            StatusCode::UNAUTHORIZED
        }
        _ => StatusCode::FORBIDDEN,
    };
    let code = serde_json::to_value(a.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let identity = [
        ("x-keyport-key-id", a.key_id.clone()),
        ("x-keyport-application", a.application.clone()),
        ("x-keyport-owner", a.owner.clone()),
        ("x-keyport-environment", a.environment.clone()),
        ("x-keyport-scopes", a.scopes.as_ref().map(|s| s.join(" "))),
        ("x-keyport-remaining", a.remaining.map(|n| n.to_string())),
        ("x-keyport-expires-at", a.expires_at.clone()),
        (
            "x-keyport-rate-limit",
            a.rate_limit
                .as_ref()
                .map(|r| format!("{}/{}", r.requests, r.period)),
        ),
    ];
    let present: Vec<(&'static str, String)> = identity
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect();
    decision(status, &code, &present)
}

fn decision(status: StatusCode, code: &str, identity: &[(&'static str, String)]) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    for (name, value) in std::iter::once(&("x-keyport-code", code.to_string())).chain(identity) {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// Leak reports (GitHub secret-scanning partner format): matching keys are revoked or
/// flagged, per the admin's key policy; each finding's outcome is answered.
#[utoipa::path(
    post,
    path = "/v1/leaks",
    request_body = Vec<LeakReport>,
    security(("service_token" = [])),
    responses(
        (status = 200, description = "One answer per finding, in order", body = Vec<LeakAnswer>),
        (status = 400, description = "The body is not a list of findings, or more than 1,000", body = ErrorBody),
        (status = 401, description = "Missing, wrong or revoked service token", body = ErrorBody),
    )
)]
async fn report_leaks(
    State(state): State<AppState>,
    client: Option<Extension<ClientInfo>>,
    headers: HeaderMap,
    body: Result<Json<Vec<LeakReport>>, JsonRejection>,
) -> Response {
    let now = state.clock.now();
    if let Err(refused) = gateway(&state, bearer(&headers), now).await {
        return refused;
    }
    let Json(reports) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return bad_json(
                r#"[{"token": "kp_live_…", "type": "keyport_api_key", "url": "https://…", "source": "content"}]"#,
                rejection,
            )
        }
    };
    let client = client.map(|Extension(c)| c).unwrap_or_default();
    match leaks::handle(&state, &reports, &client, now).await {
        Ok(answers) => Json(answers).into_response(),
        Err(e) => e.into_response(),
    }
}
