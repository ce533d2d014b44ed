//! The HTTP surface: the Leptos portal and its server functions, health probes, and the
//! middleware every request passes (input hygiene, client facts, sessions and their
//! timeouts, CSRF, security headers, body and time limits, compression, request ids and
//! tracing).

use app::error::AppError;
use app::platform::session::{AuthSession, DbSessionStore};
use app::platform::state::{AppState, ClientInfo};
use app::{shell, App};
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes, ResponseOptions};
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// The name of the session cookie: `__Host-` prefixed when served over HTTPS.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyport_session"
    } else {
        "keyport_session"
    }
}

/// The portal's routes, listed once per process. Leptos lists them by rendering the app with
/// resource loading switched off through a process-wide flag: a second listing while pages
/// are being served (several routers in one process, as in the tests) would leave those
/// pages' resources unloaded and the pages hanging.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let routes = route_list();
    let context_state = state.clone();
    let context = move || {
        provide_context(context_state.clone());
        // Pages get a per-request nonce (provided by leptos_axum); the CSP names it so the
        // hydration script runs and nothing else inline does.
        if let (Some(nonce), Some(res)) =
            (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
        {
            if let Ok(value) = HeaderValue::from_str(&page_csp(&nonce)) {
                res.insert_header(header::CONTENT_SECURITY_POLICY, value);
            }
        }
    };
    let store = DbSessionStore::new(state.db.clone(), state.clock.clone());
    let secure = config.secure_cookies();
    let sessions = SessionManagerLayer::new(store)
        .with_name(cookie_name(secure))
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            config.session_idle_timeout_secs as i64,
        )));

    let fn_context = context.clone();
    let fallback_context = context.clone();
    let hsts = secure.then(|| HeaderValue::from_static(HSTS));
    // The gateway API (`/v1/*`): no session, no CSRF check (callers are gateways with a
    // service token, never browsers), no page middleware, no compression: one middleware
    // does what it needs (see `gateway_edge`).
    let gateway =
        crate::verify::routes().layer(middleware::from_fn_with_state(state.clone(), gateway_edge));
    // The browser's code and stylesheet: no session either. A preload sent with a cookie
    // the same page's answer had just replaced (a step-up cycles the session id) would
    // otherwise find no session and answer with a cookie removal, signing the user out.
    let assets = Router::new()
        .route("/v/{version}/pkg/{*file}", get(versioned_asset))
        .layer(compression());
    let portal = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::oidc::routes())
        .merge(crate::export::routes())
        .leptos_routes_with_context(&state, routes, context, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(fallback_context, shell))
        // A write's changes reach this instance's gateway view before its answer leaves.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::feed::after_writes,
        ))
        // It renders pages with the request's session.
        .layer(middleware::from_fn({
            let options = state.leptos_options.clone();
            move |req: Request, next: Next| {
                secret_forms(fn_context.clone(), options.clone(), req, next)
            }
        }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session_timeouts,
        ))
        // Inside the session layer: it saves a changed session only with a response that
        // is not a server error, so it must see the error's real status (a step-up inside a
        // refused call cycles the session id).
        .layer(middleware::from_fn(server_fn_status))
        .layer(sessions)
        // Inside the body limit: the guard reads bodies.
        .layer(middleware::from_fn(crate::hygiene::guard))
        // Inside `csrf`: a cross-site request is refused before its size is looked at.
        .layer(middleware::from_fn_with_state(state.clone(), body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), csrf))
        .layer(compression());
    let site = assets
        .merge(portal)
        .layer(middleware::from_fn_with_state(state.clone(), client_info))
        // Every response; pages replace this CSP with one naming their nonce.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(BASE_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static(NOSNIFF),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static(FRAME_OPTIONS),
        ))
        // `same-origin`, not `no-referrer`: a form posted without JavaScript is sent back
        // to its page (with its errors) through the Referer.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static(REFERRER_POLICY),
        ))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        // Outermost: the span and the request id cover everything above.
        .layer(crate::trace::layer())
        .layer(middleware::from_fn(crate::trace::request_id));
    gateway.merge(site).with_state(state)
}

const HSTS: &str = "max-age=31536000; includeSubDomains";
/// The CSP of every answer but pages (which name their nonce).
const BASE_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
const REFERRER_POLICY: &str = "same-origin";
const NOSNIFF: &str = "nosniff";
const FRAME_OPTIONS: &str = "DENY";

/// Everything a gateway API request passes, in one middleware (the portal's dozen layers,
/// each boxing the request on, cost a verification more than its decision): the request's
/// id and span (the access log), the time limit, the client's address, the body cap, input
/// hygiene, and the headers of every answer (the portal's security headers, and
/// `Cache-Control: no-store`: answers about keys are never stored by a cache in between).
async fn gateway_edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let id = crate::trace::request_id_of(&req);
    let span = crate::trace::span(&req, &id);
    let client = client_info_of(&state, &req);
    req.extensions_mut().insert(client);
    let work = async {
        let req = match limit_body(&state, req).await {
            Ok(req) => req,
            Err(refusal) => return refusal,
        };
        match crate::hygiene::check(req).await {
            Ok(req) => next.run(req).await,
            Err(refusal) => refusal,
        }
    };
    let limit = Duration::from_secs(state.config.request_timeout_secs);
    let work = app::error::with_request_id(id.clone(), tokio::time::timeout(limit, work));
    let mut res = match work.instrument(span.clone()).await {
        Ok(res) => res,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    };
    let headers = res.headers_mut();
    let fixed = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, NOSNIFF),
        (header::X_FRAME_OPTIONS, FRAME_OPTIONS),
        (header::REFERRER_POLICY, REFERRER_POLICY),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(BASE_CSP),
        );
    }
    if state.config.secure_cookies() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    crate::trace::answer_id(&mut res, &id);
    crate::trace::answered(res.status(), started.elapsed(), &span);
    res
}

/// Marks an answer that carries a secret shown once: it is never compressed, so that its
/// length tells nothing about the secret (BREACH).
#[derive(Clone, Copy)]
struct CarriesSecret;

/// gzip for clients that accept it (pages, scripts, the WASM bundle, JSON), except answers
/// that carry a secret.
fn compression() -> CompressionLayer<impl Predicate> {
    let no_secret = |_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions| {
        extensions.get::<CarriesSecret>().is_none()
    };
    CompressionLayer::new().compress_when(DefaultPredicate::new().and(no_secret))
}

/// Server functions that answer with a secret shown once (an API key issued or rotated).
const SHOWS_SECRET: &[&str] = &["/api/issue_key", "/api/rotate_key"];

/// Server functions whose secret (shown once) only the hydrated page can show: without
/// JavaScript they refuse before creating anything.
const SECRET_NEEDS_JS: &[&str] = &[
    "/api/start_mfa_enrolment",
    "/api/confirm_mfa_enrolment",
    "/api/regenerate_recovery_codes",
    "/api/create_service_token",
    "/api/create_invitation",
];

/// Server functions' answers are never cached. A form posted without JavaScript to one that
/// creates a secret gets the page that shows it, rendered into the answer: otherwise the
/// browser follows a redirect back to the form and the secret is lost. Those whose secret
/// only the hydrated page can show refuse such a form before making anything.
async fn secret_forms(
    context: impl Fn() + Clone + Send + Sync + 'static,
    options: LeptosOptions,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if !path.starts_with("/api/") || req.method() != Method::POST {
        return next.run(req).await;
    }
    let from_form = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if from_form && SECRET_NEEDS_JS.contains(&path.as_str()) {
        let error = AppError::NotAllowed {
            message: "This shows a secret only once, which needs JavaScript: turn it on and try again. Nothing was created.".into(),
        };
        return refuse(&req.into_parts().0, error);
    }
    let secret = SHOWS_SECRET.contains(&path.as_str()) || SECRET_NEEDS_JS.contains(&path.as_str());
    if !(from_form && SHOWS_SECRET.contains(&path.as_str())) {
        let mut res = next.run(req).await;
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if secret {
            res.extensions_mut().insert(CarriesSecret);
        }
        return res;
    }
    // The page to render afterwards: the caller's applications, as the caller.
    let mut page = Request::new(Body::empty());
    *page.uri_mut() = http::Uri::from_static("/applications");
    *page.headers_mut() = req.headers().clone();
    *page.extensions_mut() = req.extensions().clone();
    page.headers_mut().remove(header::CONTENT_TYPE);
    page.headers_mut().remove(header::CONTENT_LENGTH);
    let parts = {
        let mut probe = Request::new(());
        *probe.uri_mut() = req.uri().clone();
        *probe.headers_mut() = req.headers().clone();
        probe.into_parts().0
    };
    // Asked as the hydrated page asks: the answer is the key (or the error), not a redirect.
    req.headers_mut()
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let (head, body) = next.run(req).await.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return AppError::internal("unreadable server function answer").into_response();
    };
    let issued = match serde_json::from_slice::<app::keys::IssuedKey>(&bytes) {
        Ok(issued) if head.status.is_success() => issued,
        _ => {
            let error = serde_json::from_slice::<AppError>(&bytes)
                .unwrap_or_else(|_| AppError::internal("unreadable server function error"));
            return refuse(&parts, error);
        }
    };
    let render = leptos_axum::render_app_async_with_context(
        move || {
            context();
            provide_context(app::keys::JustIssued(issued.clone()));
        },
        move || shell(options.clone()),
    );
    let mut res = render(page).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.extensions_mut().insert(CarriesSecret);
    res
}

fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// A browser asset under its version (`/v/<version>/pkg/…`, see `app::platform::assets`):
/// cached for good when the version is this build's; an old page asking after a new build
/// gets today's file, revalidated each time.
async fn versioned_asset(
    State(state): State<AppState>,
    axum::extract::Path((version, file)): axum::extract::Path<(String, String)>,
    req: Request,
) -> Response {
    let options = &state.leptos_options;
    let (mut parts, body) = req.into_parts();
    parts.uri = match format!("/{file}").parse() {
        Ok(uri) => uri,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut res = match tower_http::services::ServeDir::new(app::platform::assets::dir(options))
        .try_call(Request::from_parts(parts, body))
        .await
    {
        Ok(res) => res.map(Body::new),
        Err(e) => {
            tracing::error!(error = %e, file, "reading an asset failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let cache = if version == app::platform::assets::version(options) && res.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "database unreachable" })),
            )
                .into_response()
        }
    }
}

/// What the OpenAPI upload form may add to its document (the API id, a pasted document
/// when a file is chosen too, multipart boundaries); the document itself is checked exactly
/// by the server function.
const UPLOAD_FORM_OVERHEAD: usize = 256 * 1024;

/// A body declared over its limit but no larger than this is read (and dropped) before the
/// answer: a browser still sending its body when the answer comes reports a reset
/// connection instead of the answer. Larger ones are answered at once.
const DRAIN_AT_MOST: usize = 64 * 1024 * 1024;

/// The request body limit: `max_body_bytes` for every request but the OpenAPI upload,
/// which takes documents up to `openapi::MAX_DOCUMENT_BYTES`. A body declared larger than
/// its limit is answered 413 with an `AppError` body saying the size and the limit (the
/// browser shows that message, never a parse error); a form posted without JavaScript is
/// sent back to its page with the error, as server functions do. A body that grows past
/// the limit without declaring its length fails to read.
async fn body_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match limit_body(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(refusal) => refusal,
    }
}

/// [`body_limit`]'s work: the request with its body capped, or the refusal.
async fn limit_body(state: &AppState, req: Request) -> Result<Request, Response> {
    use app::catalog::openapi::{megabytes, too_large, MAX_DOCUMENT_BYTES};
    use app::catalog::OPENAPI_UPLOAD_PATH;
    let (parts, body) = req.into_parts();
    let upload = parts.uri.path() == OPENAPI_UPLOAD_PATH;
    let multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data") && v.contains("boundary="));
    if upload && parts.method == Method::POST && !multipart {
        // The server function's multipart decoding needs a boundary (it panics without one).
        let error = AppError::Unsupported {
            message: "Send the document as a multipart/form-data upload.".into(),
        };
        return Err(refuse(&parts, error));
    }
    let limit = if upload {
        MAX_DOCUMENT_BYTES + UPLOAD_FORM_OVERHEAD
    } else {
        state.config.max_body_bytes
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(length) = declared.filter(|&n| n > limit) {
        if length <= DRAIN_AT_MOST {
            let mut body = body;
            while let Some(Ok(_)) = http_body_util::BodyExt::frame(&mut body).await {}
        }
        let message = if upload {
            too_large(length)
        } else {
            format!(
                "The request is {}; the limit is {}.",
                megabytes(length),
                megabytes(limit)
            )
        };
        return Err(refuse(&parts, AppError::TooLarge { message }));
    }
    let body = Body::new(http_body_util::Limited::new(body, limit));
    Ok(Request::from_parts(parts, body))
}

/// Answers `error`, or, for a form posted without JavaScript to a server function, sends
/// the browser back to the form's page with the error in the URL (where the page's action
/// finds it).
fn refuse(req: &http::request::Parts, error: AppError) -> Response {
    let get = |name| req.headers.get(name).and_then(|v| v.to_str().ok());
    let accepts_html = get(header::ACCEPT).is_some_and(|v| v.contains("text/html"));
    if let (true, Some(referer), true) = (
        accepts_html,
        get(header::REFERER),
        req.uri.path().starts_with("/api/"),
    ) {
        use leptos::server_fn::error::ServerFnUrlError;
        if let Ok(url) = ServerFnUrlError::new(req.uri.path(), error.clone()).to_url(referer) {
            if let Ok(location) = HeaderValue::from_str(url.as_str()) {
                return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
            }
        }
    }
    error.into_response()
}

/// Records the client IP (believing `X-Forwarded-For` only from trusted proxies) and user agent.
async fn client_info(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let client = client_info_of(&state, &req);
    req.extensions_mut().insert(client);
    next.run(req).await
}

fn client_info_of(state: &AppState, req: &Request) -> ClientInfo {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = peer.map(|peer| client_ip(peer, forwarded, &state.config.trusted_proxies));
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    ClientInfo { ip, user_agent }
}

/// The right-most address of the chain that is not a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let chain = forwarded_for.unwrap_or_default();
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => break,
        }
    }
    peer
}

/// Refuses cross-site state-changing requests (the algorithm of Go's
/// `http.CrossOriginProtection`): `Sec-Fetch-Site` when the browser sends it, otherwise
/// `Origin` against `Host`. Requests with neither are not from a browser. The gateway APIs
/// (`/v1/…`) take no cookies, only service tokens, so they are not subject to it (a gateway
/// may forward a browser's headers).
async fn csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let allowed = match get("sec-fetch-site") {
        Some("same-origin") | Some("none") => true,
        Some(_) => false,
        None => match get("origin") {
            None => true,
            Some(origin) => {
                let host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
                get("host") == Some(host)
                    || state
                        .config
                        .public_url
                        .as_deref()
                        .map(|u| u.trim_end_matches('/'))
                        == Some(origin)
            }
        },
    };
    if allowed {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "refused a cross-site request");
    AppError::NotAllowed {
        message: "Cross-site request refused.".into(),
    }
    .into_response()
}

/// Server functions answer errors with 500; give them the status of their `AppError`, its
/// human `message` and, where it applies, `Retry-After`.
async fn server_fn_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res.headers().contains_key("serverfnerror")
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, parts.headers).into_response();
    };
    let Ok(error) = serde_json::from_slice::<AppError>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.status =
        StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(secs) = error.retry_after_secs() {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(error.to_json().to_string()))
}

/// Idle and absolute session timeouts, measured with the app clock.
async fn session_timeouts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let (Some(session), Some(client)) = (
        req.extensions().get::<Session>().cloned(),
        req.extensions().get::<ClientInfo>().cloned(),
    ) {
        let idle = state.config.session_idle_timeout_secs as i64 * 1000;
        let absolute = state.config.session_absolute_timeout_secs as i64 * 1000;
        if let Err(e) = AuthSession::new(session)
            .enforce_timeouts(state.clock.now(), idle, absolute, &client)
            .await
        {
            return e.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_ip(proxy, Some("203.0.113.9"), &trusted), client);
        assert_eq!(
            client_ip(proxy, Some("1.1.1.1, 203.0.113.9, 10.9.9.9"), &trusted),
            client
        );
        assert_eq!(client_ip(stranger, Some("203.0.113.9"), &trusted), stranger);
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
    }
}
