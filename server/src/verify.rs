//! The HTTP APIs for gateways, each authenticated with a service token:
//! - `POST /v1/keys/verify` (`Authorization: Bearer kps_…`): JSON in, `{valid, code, …}` out.
//! - `GET /v1/auth_request` for nginx `auth_request` (token in `X-Keyport-Token`; the key in
//!   `X-Api-Key` or `Authorization: Bearer`): 204, 401 or 403 with `X-Keyport-*` headers.
//!   Envoy's `ext_authz` (HTTP) calls `/v1/auth_request/<original path>` with the original
//!   method: the same answer, the API from that path.
//! - `POST /v1/leaks`: findings in GitHub's secret-scanning format; matching keys revoked or
//!   flagged.
//!
//! What a key is checked against comes only from the operator: the `api` and `scope` query
//! parameters that nginx's configuration writes into the subrequest URI, or else the first
//! segment of the original URI (refused unless it is already in canonical form, since nginx
//! routes the normalised path). Headers the client could send (`X-Keyport-Api`,
//! `X-Keyport-Scope`) are never read: nginx forwards the client's headers to the subrequest.
//!
//! A missing or wrong service token is 401 and a malformed body 400 or 422, all with a JSON
//! error; every answer is `Cache-Control: no-store` (set with the gateway's other headers in
//! `web`). The OpenAPI document of these endpoints is served at `/v1/openapi.json` (utoipa).

use app::error::AppError;
use app::keys::service::leaks::{self, LeakAnswer, LeakOutcome, LeakReport};
use app::keys::verify::{
    parse_ip, parse_scope, verify, Ask, Code, KeyRate, LimitStatus, VerifyAnswer, VerifyRequest,
};
use app::platform::state::{AppState, ClientInfo};
use axum::extract::{rejection::JsonRejection, RawQuery, State};
use axum::http::Uri;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use utoipa::openapi::schema::{AdditionalProperties, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::OpenApi;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/keys/verify", post(verify_key))
        .route("/v1/auth_request", get(auth_request))
        .route("/v1/auth_request/{*path}", any(auth_request))
        .route("/v1/leaks", post(report_leaks))
        .route("/v1/usage", get(crate::export::usage_json))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(ApiDoc::openapi()) }),
        )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyport gateway API",
        description = "Key verification for gateways (JSON, or nginx `auth_request` from headers), leak reports in GitHub's secret-scanning format and usage per subscription and day for billing. Every endpoint needs a service token created by an admin (Settings → Service tokens) or with `keyport service-token create --name N`."
    ),
    paths(verify_key, auth_request, report_leaks, crate::export::usage_json),
    components(schemas(ClientIp, VerifyRequest, VerifyAnswer, Code, KeyRate, LimitStatus, LeakReport, LeakAnswer, LeakOutcome, ErrorBody, FieldErrorBody, crate::export::UsageAnswer, app::usage::store::DailyUse)),
    modifiers(&ServiceTokens)
)]
pub struct ApiDoc;

/// The two ways gateways present their service token; leak findings closed to other members.
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
        // A finding has these four members. Others are ignored rather than refused (GitHub
        // may add some), but a client should not send them.
        if let Some(RefOr::T(Schema::Object(report))) = components.schemas.get_mut("LeakReport") {
            report.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// The client's address in the document: IPv4 or IPv6.
struct ClientIp;

impl utoipa::PartialSchema for ClientIp {
    fn schema() -> RefOr<Schema> {
        Schema::AnyOf(app::keys::verify::ip_address()).into()
    }
}

impl utoipa::ToSchema for ClientIp {}

/// Every 4xx and 5xx answer of these endpoints.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes AppError's JSON for the document
pub(crate) struct ErrorBody {
    /// `unauthorized`, `bad_request`, `internal`, …
    error: String,
    /// What went wrong, for people.
    message: String,
}

/// A 422 answer: the fields that were refused and why.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes AppError's JSON for the document
pub(crate) struct FieldErrorBody {
    /// `validation`
    error: String,
    message: String,
    /// Field name → messages.
    fields: std::collections::BTreeMap<String, Vec<String>>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The caller's API key: `X-Api-Key`, else `Authorization: Bearer`.
pub(crate) fn api_key(headers: &HeaderMap) -> Option<&str> {
    header(headers, "x-api-key").or_else(|| bearer(headers))
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    header(headers, header::AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "))
}

/// Whether the caller sent a live service token (checked in memory).
pub(crate) fn gateway(state: &AppState, token: Option<&str>, now: i64) -> bool {
    app::admin::service::authenticate_service_token(state, token.unwrap_or(""), now).is_some()
}

/// 401 for a gateway: it needs a service token, not a sign-in.
pub(crate) fn no_service_token() -> Response {
    let body = serde_json::json!({
        "error": "unauthorized",
        "message": "Send a live service token: `Authorization: Bearer kps_…` (or `X-Keyport-Token` for auth_request). Admins create them under Settings → Service tokens.",
    });
    let mut res = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"keyport\""),
    );
    res
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
        (status = 422, description = "A field is not what it should be: `ip` not an IP address, `api` not a slug, `scope` not one scope", body = FieldErrorBody),
    )
)]
async fn verify_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    let now = state.clock.now();
    if !gateway(&state, bearer(&headers), now) {
        return no_service_token();
    }
    let Json(req) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_json(r#"{"key": "kp_live_…", "api": "slug"}"#, rejection),
    };
    let ask = match req.parse() {
        Ok(ask) => ask,
        Err(e) => return e.into_response(),
    };
    match verify(&state, &req.key, &ask, now).await {
        Ok(answer) => {
            let mut res = Json(&answer).into_response();
            add_limit_headers(&mut res, answer.limit);
            res
        }
        Err(e) => e.into_response(),
    }
}

/// What the operator configured for an nginx location: `proxy_pass
/// http://keyport/v1/auth_request?api=pet-store&scope=pets:read` (nginx adds none of the
/// client's query to a subrequest).
#[derive(Debug, Default, PartialEq)]
struct Target {
    api: Option<String>,
    scope: Option<String>,
}

impl Target {
    /// `api` and `scope` from the subrequest's query, exactly; empty values count as absent
    /// (an nginx variable that a location did not set); anything else is refused.
    fn from_query(query: Option<&str>) -> Result<Target, AppError> {
        let mut target = Target::default();
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match name.as_ref() {
                "api" => &mut target.api,
                "scope" => &mut target.scope,
                other => {
                    return Err(AppError::field(
                        other,
                        "Unknown parameter: only `api` and `scope` are read.",
                    ))
                }
            };
            *slot = Some(value.into_owned()).filter(|v| !v.is_empty());
        }
        Ok(target)
    }
}

/// The path of an original request URI, if it is in the canonical form nginx routes by:
/// no `.` or `..` segments, no empty segments (`//`), no encoded dot, slash or backslash,
/// no backslash. Anything else could be checked as one API and served as another.
pub fn canonical_path(uri: &str) -> Option<&str> {
    let path = uri.split(['?', '#']).next().unwrap_or("");
    // Most paths have no escape at all: no lowercase copy for them.
    let encoded = || {
        let lower = path.to_ascii_lowercase();
        ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|e| lower.contains(e))
    };
    let refused = !path.starts_with('/')
        || path.contains("//")
        || path.contains('\\')
        || (path.contains('%') && encoded())
        || path.split('/').any(|seg| seg == "." || seg == "..");
    (!refused).then_some(path)
}

/// nginx `auth_request` and Envoy `ext_authz`: the API is the `api` query parameter (nginx)
/// or else the first segment of the original URI; the scope the `scope` query parameter
/// (nginx); the client `X-Real-IP`.
#[utoipa::path(
    get,
    path = "/v1/auth_request",
    security(("service_token_header" = [])),
    params(
        ("api" = Option<String>, Query, min_length = 3, max_length = 64, pattern = r"^(?!new(?![\s\S]))[a-z][a-z0-9]*(-[a-z0-9]+)*(?![\s\S])", description = "The API slug this nginx location serves (written in nginx's configuration). Without it, the first segment of `X-Original-URI`."),
        ("scope" = Option<String>, Query, pattern = r"^([a-z][a-z0-9:._-]{0,63})?(?![\s\S])", description = "The scope calls to this location need (written in nginx's configuration)."),
        ("X-Api-Key" = Option<String>, Header, description = "The client's API key (or `Authorization: Bearer <key>`)"),
        ("X-Original-URI" = Option<String>, Header, description = "The original request URI (`$request_uri`). One with dot segments, `//`, or an encoded dot, slash or backslash is refused (403, `URI_NOT_CANONICAL`)."),
        ("X-Real-IP" = Option<ClientIp>, Header, nullable = false, description = "The client's address (`$remote_addr`): IPv4 or IPv6"),
    ),
    responses(
        (status = 204, description = "Valid: `X-Keyport-Code: VALID` and identity headers `X-Keyport-Key-Id`, `-Application`, `-Owner`, `-Environment`, `-Scopes`, `-Remaining`, `-Expires-At`, `-Rate-Limit`"),
        (status = 401, description = "No usable key (`X-Keyport-Code`: MISSING_KEY, MALFORMED, NOT_FOUND, EXPIRED, REVOKED, OWNER_DISABLED), or a missing or wrong service token (JSON body)"),
        (status = 403, description = "The key may not make this call (`X-Keyport-Code`: API_NOT_ALLOWED, SUBSCRIPTION_INACTIVE, SCOPE_DENIED, IP_NOT_ALLOWED, EXHAUSTED, NO_SANDBOX, URI_NOT_CANONICAL), or not now (RATE_LIMITED, QUOTA_EXCEEDED, with `Retry-After`). Every answer under a rate limit carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds)"),
        (status = 429, description = "Envoy's form only: rate limited or over quota (`X-Keyport-Code: RATE_LIMITED` or `QUOTA_EXCEEDED`, `Retry-After`)"),
        (status = 422, description = "The configuration sends something unreadable: an unknown query parameter, an `api` that is not a slug, a `scope` that is not one scope, an `X-Real-IP` that is not an address", body = FieldErrorBody),
    )
)]
async fn auth_request(
    State(state): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let now = state.clock.now();
    if !gateway(&state, header(&headers, "x-keyport-token"), now) {
        return no_service_token();
    }
    // nginx's form: the operator's query and the original URI in a header. Envoy's form:
    // the original path appended to ours, with the client's own query (never read).
    let envoy = uri
        .path()
        .strip_prefix("/v1/auth_request")
        .filter(|p| !p.is_empty());
    let target = match envoy {
        Some(_) => Target::default(),
        None => match Target::from_query(query.as_deref()) {
            Ok(target) => target,
            Err(e) => return e.into_response(),
        },
    };
    let original = envoy.or_else(|| header(&headers, "x-original-uri"));
    let path = match original {
        Some(uri) => match canonical_path(uri) {
            Some(path) => Some(path),
            None => return decision(StatusCode::FORBIDDEN, "URI_NOT_CANONICAL", &[]),
        },
        None => None,
    };
    let scope = match parse_scope(target.scope.as_deref().unwrap_or("")) {
        Ok(scope) => scope,
        Err(message) => return AppError::field("scope", message).into_response(),
    };
    let ip = match parse_ip(header(&headers, "x-real-ip")) {
        Ok(ip) => ip,
        Err(message) => return AppError::field("x-real-ip", message).into_response(),
    };
    let api = match target.api {
        Some(api) => match app::domain::Slug::parse(&api) {
            Ok(slug) => slug.as_str().to_string(),
            Err(message) => return AppError::field("api", message).into_response(),
        },
        // The client chose this path; a segment that is no slug is simply no API of theirs.
        None => match path
            .and_then(|p| p.trim_start_matches('/').split('/').next())
            .and_then(|first| app::domain::Slug::parse(first).ok())
        {
            Some(slug) => slug.as_str().to_string(),
            None => return decision(StatusCode::FORBIDDEN, Code::ApiNotAllowed.as_str(), &[]),
        },
    };
    let Some(key) = api_key(&headers) else {
        return decision(StatusCode::UNAUTHORIZED, "MISSING_KEY", &[]);
    };
    match verify(
        &state,
        key,
        &Ask {
            api,
            scope,
            ip,
            operation: None,
        },
        now,
    )
    .await
    {
        Ok(answer) => answer_headers(&answer, envoy.is_some()),
        Err(e) => e.into_response(),
    }
}

/// The decision as a status and headers. A rate-limited call is 429 for Envoy; nginx's
/// `auth_request` accepts only 2xx, 401 and 403 from the subrequest, so it gets 403 with
/// `X-Keyport-Code: RATE_LIMITED` (README: `error_page 403` maps it to 429).
fn answer_headers(a: &VerifyAnswer, envoy: bool) -> Response {
    let status = match a.code {
        Code::Valid => StatusCode::NO_CONTENT,
        Code::RateLimited | Code::QuotaExceeded if envoy => StatusCode::TOO_MANY_REQUESTS,
        code if code.is_unusable_key() => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    };
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
        .chain(limit_values(a.limit).map(|(name, n)| (name, n.to_string())))
        .collect();
    decision(status, a.code.as_str(), &present)
}

/// Adds [`limit_values`] to `res`.
pub(crate) fn add_limit_headers(res: &mut Response, limit: Option<LimitStatus>) {
    let headers = res.headers_mut();
    for (name, value) in limit_values(limit) {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// `RateLimit-Limit`, `-Remaining`, `-Reset` (seconds) when a rate limit applies, and
/// `Retry-After` when the call was refused by it.
fn limit_values(limit: Option<LimitStatus>) -> impl Iterator<Item = (&'static str, i64)> {
    let l = limit;
    [
        ("ratelimit-limit", l.map(|l| i64::from(l.limit))),
        ("ratelimit-remaining", l.map(|l| i64::from(l.remaining))),
        ("ratelimit-reset", l.map(|l| l.reset)),
        ("retry-after", l.and_then(|l| l.retry_after)),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)))
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
        (status = 422, description = "A text holds control characters (such as NUL)", body = FieldErrorBody),
    )
)]
async fn report_leaks(
    State(state): State<AppState>,
    client: Option<Extension<ClientInfo>>,
    headers: HeaderMap,
    body: Result<Json<Vec<LeakReport>>, JsonRejection>,
) -> Response {
    let now = state.clock.now();
    if !gateway(&state, bearer(&headers), now) {
        return no_service_token();
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
    let answer = match leaks::handle(&state, &reports, &client, now).await {
        Ok(answers) => Json(answers).into_response(),
        Err(e) => e.into_response(),
    };
    // Leaked keys it revoked are refused by this instance before the reporter hears back.
    crate::feed::follow(&state).await;
    answer
}
