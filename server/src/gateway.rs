//! The gateway data plane: Keyport proxies `/<api-slug>/<rest>` (or, at an API's own host
//! name, the whole path) to the API's upstream URL (from the in-memory view, kept current by
//! the change feed) after the decision core has decided the call, on a listener of its own
//! (`KEYPORT_GATEWAY_LISTEN`) that speaks HTTP/1.1 and h2c (HTTP/2 with prior knowledge:
//! gRPC clients pass, and the gateway's refusals of their calls are gRPC statuses).
//!
//! The key comes from `X-Api-Key`, `Authorization: Bearer` or the API's query parameter
//! (when its publisher names one), and is removed before the request goes upstream, with
//! the hop-by-hop headers and any `X-Keyport-*` header the client sent;
//! `X-Forwarded-For/-Proto/-Host`, `Via` and `X-Keyport-Application`, `-Key-Id`, `-Plan`
//! are added. The call's operation is found in the API's OpenAPI document (method and path
//! template), and the scopes its `security` asks for are needed (`SCOPE_DENIED`). Live keys
//! reach the API's upstream, test keys its sandbox (`NO_SANDBOX` when it has none). Bodies
//! stream both ways (hyper's pooled client, keep-alive, `TCP_NODELAY`; `https://` upstreams
//! through rustls, HTTP/2 when the upstream offers it; HTTP/2 only, h2c on `http://`, for an
//! API whose publisher asks for it); a body larger than `KEYPORT_GATEWAY_MAX_BODY_BYTES` is
//! refused (413, or the upload is cut). An upstream that cannot be reached is 502, one that
//! does not begin to answer within `KEYPORT_GATEWAY_TIMEOUT_SECS` 504, and an answer whose
//! body stalls that long is cut off. Refusals are RFC 9457 problem documents carrying the
//! decision code, with `RateLimit-*` and `Retry-After` headers.
//! Each call's usage event carries the upstream's status, latency and the bytes of its
//! answer that were sent (counted as they stream, recorded when the answer ends).
//!
//! Started while its database does not answer (`keyport gateway`), the gateway refuses every
//! call with 503 and `/_keyport/readyz` is 503 `starting` until the change feed has loaded
//! its first view. With the database down later the gateway goes on deciding from its last
//! view (keys, rate limits, revocations it has applied) and says so at `/_keyport/readyz`
//! (`degraded`) and in the metrics (`keyport_database_up 0`); calls whose decision needs the
//! database (a quota, a use limit) are 503 until it is back, and it recovers by itself.
//!
//! Upstreams at loopback, link-local or cloud metadata addresses are refused (502
//! `UPSTREAM_FORBIDDEN`) unless `KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS` is set: an
//! address literal before sending, a name on the addresses it resolves to (the connector's
//! resolver drops internal ones), so a name that resolves differently than when it was
//! saved gains nothing.

use crate::verify::{add_limit_headers, api_key, bearer};
use app::keys::verify::{decide_call, Ask, Code, Decided, Decision};
use app::platform::state::AppState;
use app::platform::view::Facts;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type Upstreams = Client<HttpsConnector<HttpConnector<Resolver>>, Body>;

/// What every gateway request shares: the portal's state and the pooled upstream clients.
#[derive(Clone)]
pub struct Gateway {
    state: AppState,
    /// HTTP/1.1, or HTTP/2 when an `https://` upstream offers it.
    client: Upstreams,
    /// HTTP/2 only (h2c with prior knowledge on `http://`), for APIs that ask for it.
    http2: Upstreams,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// The system resolver, keeping only addresses the gateway may connect to.
#[derive(Clone)]
struct Resolver {
    system: GaiResolver,
    allow_internal: bool,
}

/// The error a name that resolves only to internal addresses ends in.
#[derive(Debug, thiserror::Error)]
#[error("the upstream resolves only to internal addresses")]
struct InternalAddress;

/// `addrs` without the internal ones (unless allowed); an error when none is left.
fn permitted(
    addrs: impl Iterator<Item = SocketAddr>,
    allow_internal: bool,
) -> std::io::Result<std::vec::IntoIter<SocketAddr>> {
    let kept: Vec<SocketAddr> = addrs
        .filter(|a| allow_internal || !app::domain::internal_address(a.ip()))
        .collect();
    if kept.is_empty() {
        return Err(std::io::Error::other(InternalAddress));
    }
    Ok(kept.into_iter())
}

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.system.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolving = self.system.call(name);
        let allow_internal = self.allow_internal;
        Box::pin(async move { permitted(resolving.await?, allow_internal) })
    }
}

/// Whether `error` (a chain of sources) ends in [`InternalAddress`].
fn is_internal_address(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<InternalAddress>());
        if inner || e.is::<InternalAddress>() {
            return true;
        }
        next = e.source();
    }
    false
}

impl Gateway {
    /// Fails when `KEYPORT_GATEWAY_UPSTREAM_CA_FILE` cannot be read.
    pub fn new(state: AppState) -> std::io::Result<Self> {
        let resolver = Resolver {
            system: GaiResolver::new(),
            allow_internal: state.config.gateway_allow_internal_upstreams,
        };
        let mut connector = HttpConnector::new_with_resolver(resolver);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(
            state.config.gateway_connect_timeout_ms,
        )));
        connector.enforce_http(false);
        let tls = tls_config(state.config.gateway_upstream_ca_file.as_deref())?;
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector.clone());
        let http2 = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .http2_only(true)
            .build(connector);
        Ok(Gateway {
            state,
            client,
            http2,
            metrics: Default::default(),
        })
    }
}

/// TLS to `https://` upstreams: Mozilla's roots (webpki-roots), and the authorities in
/// `ca_file` (PEM) when given. HTTP/2 is offered by ALPN and used when the upstream takes it.
fn tls_config(ca_file: Option<&std::path::Path>) -> std::io::Result<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let unreadable = |e: &dyn std::fmt::Display| {
            std::io::Error::other(format!(
                "KEYPORT_GATEWAY_UPSTREAM_CA_FILE {}: {e}",
                path.display()
            ))
        };
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
            roots
                .add(cert.map_err(|e| unreadable(&e))?)
                .map_err(|e| unreadable(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(unreadable(&"no certificate in it"));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// `/_keyport/metrics`, `/_keyport/readyz`, and every other path to [`proxy`].
async fn handle(gw: &Gateway, peer: SocketAddr, req: hyper::Request<Incoming>) -> Response {
    const METRICS: &str = "/_keyport/metrics";
    const READYZ: &str = "/_keyport/readyz";
    let path = req.uri().path();
    if path != METRICS && path != READYZ {
        return observed(gw, peer, req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Only GET (and HEAD) are served here.",
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    if path == METRICS {
        metrics(gw, req.headers()).await
    } else {
        readyz(gw).await
    }
}

/// Prometheus metrics, for a caller with a service token (`Authorization: Bearer kps_…`).
async fn metrics(gw: &Gateway, headers: &HeaderMap) -> Response {
    let state = &gw.state;
    if !crate::verify::gateway(state, bearer(headers), state.clock.now()) {
        return crate::verify::no_service_token();
    }
    let body = gw.metrics.render(state).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Whether this gateway decides calls: 200 `ready` with the database, 200 `degraded` while
/// the database does not answer (keys, limits and revocations decided from the last view;
/// calls under a quota or a use limit refused with 503 until it is back).
async fn readyz(gw: &Gateway) -> Response {
    let state = &gw.state;
    if !state.view.loaded() {
        let body = serde_json::json!({ "status": "starting", "database": "down" });
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(body),
        )
            .into_response();
    }
    let database = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await;
    let up = matches!(database, Ok(Ok(_)));
    let body = serde_json::json!({
        "status": if up { "ready" } else { "degraded" },
        "database": if up { "up" } else { "down" },
        "view_keys": state.view.key_count(),
        "view_applied": state.view.applied().await,
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// What [`proxy`] tells the metrics about a request: the API it routed to and how long the
/// upstream took.
#[derive(Clone)]
struct Routed {
    api: String,
    upstream: Option<Duration>,
}

/// [`proxy`], counted in the metrics; a gRPC call's refusal in gRPC's terms.
async fn observed(gw: &Gateway, peer: SocketAddr, req: hyper::Request<Incoming>) -> Response {
    let started = Instant::now();
    let grpc = is_grpc(req.headers());
    let mut res = proxy(gw, peer, req).await;
    let routed = res.extensions_mut().remove::<Routed>();
    let code = res
        .headers()
        .get("x-keyport-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let outcome = code
        .clone()
        .unwrap_or_else(|| format!("{}xx", res.status().as_u16() / 100));
    let refused = code.is_some_and(|c| !c.starts_with("UPSTREAM_"));
    let (api, upstream) = routed.map_or((String::new(), None), |r| (r.api, r.upstream));
    gw.metrics
        .observe(&api, &outcome, refused, upstream, started.elapsed());
    match grpc {
        true => grpc_refusal(res),
        false => res,
    }
}

/// A gRPC call (`Content-Type: application/grpc`, `+proto`, `+json`, …).
fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The gateway's own refusal of a gRPC call (a problem document, which gRPC clients cannot
/// read) as gRPC's "trailers-only" answer: 200 with `grpc-status` and `grpc-message` in
/// its head and no body, keeping `X-Keyport-Code`, `Retry-After` and `RateLimit-*`.
/// Anything the upstream answered passes as it is.
fn grpc_refusal(res: Response) -> Response {
    let (mut parts, body) = res.into_parts();
    let Some(Problem(detail)) = parts.extensions.remove::<Problem>() else {
        return Response::from_parts(parts, body);
    };
    let status = grpc_status(parts.status);
    // The message is percent-encoded (gRPC over HTTP/2: printable ASCII but `%` as is).
    const ENCODED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');
    let message = percent_encoding::utf8_percent_encode(&detail, ENCODED).to_string();
    parts.status = StatusCode::OK;
    let headers = &mut parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from(status));
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", value);
    }
    Response::from_parts(parts, Body::empty())
}

/// The gRPC status code for one of the gateway's refusals, by its HTTP status.
fn grpc_status(status: StatusCode) -> u16 {
    match status {
        StatusCode::BAD_REQUEST => 3,   // INVALID_ARGUMENT
        StatusCode::UNAUTHORIZED => 16, // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,     // PERMISSION_DENIED
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => 12, // UNIMPLEMENTED
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8, // RESOURCE_EXHAUSTED
        StatusCode::GATEWAY_TIMEOUT => 4, // DEADLINE_EXCEEDED
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
        _ => 2,                         // UNKNOWN
    }
}

/// How long a client may take to send a request's head (or, on HTTP/2, its first bytes).
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often an idle HTTP/2 client is pinged, and how long its answer may take before the
/// connection is closed as dead.
const H2_PING_EVERY: Duration = Duration::from_secs(60);
const H2_PING_PATIENCE: Duration = Duration::from_secs(20);

/// HTTP/2's connection preface (RFC 9113 3.4): a client that opens with it speaks HTTP/2.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The connection builders, one per protocol.
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

/// Serves `gateway` on `listener` until `shutdown` resolves, then lets the requests in
/// flight finish. Straight on hyper's connections (`TCP_NODELAY`, a 30 s limit on a
/// request's head), no router: a quarter more requests per second than through
/// `axum::serve` with the same proxy. HTTP/1.1, and HTTP/2 for a client that opens with its
/// preface (h2c with prior knowledge, as gRPC clients speak to a cleartext server), told
/// apart by peeking at the first bytes (nothing is consumed or copied).
pub async fn serve(
    gateway: Gateway,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Shared, so a request's future takes one reference, not a copy of every field.
    let gateway = std::sync::Arc::new(gateway);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut protocols = Protocols {
        http1: hyper::server::conn::http1::Builder::new(),
        http2: hyper::server::conn::http2::Builder::new(TokioExecutor::new()),
    };
    protocols
        .http1
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    protocols
        .http2
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_PATIENCE);
    let protocols = std::sync::Arc::new(protocols);
    // Connections still waiting for their first bytes end when the gateway stops.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait and go on accepting.
                Err(e) => {
                    tracing::warn!(error = %e, "the gateway could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let gw = gateway.clone();
        let service = hyper::service::service_fn(move |req| {
            let gw = gw.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&gw, peer, req).await) }
        });
        let (protocols, watcher, mut stop) = (protocols.clone(), graceful.watcher(), stop.clone());
        tokio::spawn(async move {
            let http2 = tokio::select! {
                http2 = opens_with_http2(&tcp, HEAD_TIMEOUT) => http2,
                _ = stop.wait_for(|stopping| *stopping) => None,
            };
            let io = TokioIo::new(tcp);
            let ended = match http2 {
                None => return,
                Some(true) => {
                    watcher
                        .watch(protocols.http2.serve_connection(io, service))
                        .await
                }
                Some(false) => {
                    watcher
                        .watch(protocols.http1.serve_connection(io, service))
                        .await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "gateway connection ended");
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
    Ok(())
}

/// Whether a new connection's client speaks HTTP/2, by its first bytes, peeked at (left
/// for hyper to read); `None` when it closes, or has not told within `patience` (nothing
/// sent, or only part of the preface).
async fn opens_with_http2(tcp: &tokio::net::TcpStream, patience: Duration) -> Option<bool> {
    let mut first = [0u8; H2_PREFACE.len()];
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let n = tokio::time::timeout_at(deadline, tcp.peek(&mut first))
            .await
            .ok()?
            .ok()?;
        match n {
            0 => return None,
            n if !H2_PREFACE.starts_with(&first[..n]) => return Some(false),
            n if n == H2_PREFACE.len() => return Some(true),
            // Part of the preface, which a peek shows again at once: the deadline is checked
            // here, or a client that stops halfway would be looked at forever.
            _ if tokio::time::Instant::now() >= deadline => return None,
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Headers that belong to one connection, never forwarded (RFC 9110 7.6.1), and those named
/// by `Connection`.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_APPLICATION: HeaderName = HeaderName::from_static("x-keyport-application");
const X_KEY_ID: HeaderName = HeaderName::from_static("x-keyport-key-id");
const X_PLAN: HeaderName = HeaderName::from_static("x-keyport-plan");

/// Headers some frameworks read as the request's real method.
const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most requests and answers carry none (or only `Connection`): one pass to find out.
    if !headers.keys().any(|n| HOP_BY_HOP.contains(&n.as_str())) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP.map(HeaderName::from_static)) {
        headers.remove(name);
    }
}

async fn proxy(gw: &Gateway, peer: SocketAddr, req: hyper::Request<Incoming>) -> Response {
    let state = &gw.state;
    let now = state.clock.now();
    let (parts, body) = req.into_parts();
    // An API at its own host name takes the whole path; any other host, /<slug>/<rest>.
    let at_host = host_name(&parts).and_then(|host| state.view.api_at_host(&host));
    let (api, rest) = if let Some(api) = at_host {
        let Some(path) = crate::verify::canonical_path(parts.uri.path()) else {
            return problem(
                StatusCode::BAD_REQUEST,
                "URI_NOT_CANONICAL",
                "The path has dot segments, an empty segment, or an encoded dot, slash or \
                 backslash: call the API with its plain path.",
            );
        };
        (api, path.to_string())
    } else {
        let Some((slug, rest)) = route(parts.uri.path()) else {
            return problem(
                StatusCode::NOT_FOUND,
                "UNKNOWN_API",
                "No API here: call /<api-slug>/<path> with a published API's slug.",
            );
        };
        if !state.view.loaded() {
            return unavailable(
                "This gateway has not loaded its APIs and keys yet (its database does not \
                 answer); retry in a moment.",
            );
        }
        let Some(api) = state.view.api(slug) else {
            return problem(
                StatusCode::NOT_FOUND,
                "UNKNOWN_API",
                &format!("There is no API {slug:?} on this gateway."),
            );
        };
        (api, rest.to_string())
    };
    let mut res = call(gw, &api, &rest, parts, body, peer, now).await;
    if res.extensions().get::<Routed>().is_none() {
        res.extensions_mut().insert(Routed {
            api: api.slug.clone(),
            upstream: None,
        });
    }
    res
}

/// Decides a call to `api` and, when valid, forwards it upstream.
async fn call(
    gw: &Gateway,
    api: &app::platform::view::ApiEntry,
    rest: &str,
    mut parts: http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
    now: i64,
) -> Response {
    let state = &gw.state;
    // A key in the API's query parameter is taken out of the query before it goes upstream.
    let (query_key, query) = match &api.key_param {
        Some(param) => take_query_key(parts.uri.query(), param),
        None => (None, parts.uri.query().map(str::to_string)),
    };
    let Some(key) = api_key(&parts.headers).map(str::to_string).or(query_key) else {
        let detail = match &api.key_param {
            Some(param) => format!(
                "Send your API key in the X-Api-Key header (or Authorization: Bearer, or the \
                 {param} query parameter)."
            ),
            None => "Send your API key in the X-Api-Key header (or Authorization: Bearer).".into(),
        };
        let mut res = problem(StatusCode::UNAUTHORIZED, "MISSING_KEY", &detail);
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"keyport\""),
        );
        return res;
    };
    let forwarded_for = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ip = crate::web::client_ip(
        peer.ip(),
        forwarded_for.as_deref(),
        &state.config.trusted_proxies,
    );
    // The operation, by the path as the upstream will read it (percent-decoded: encoded
    // slashes and dots were refused with the path). When the document asks for scopes, a
    // call that is none of its operations does not pass unchecked.
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
    let operation = api.routes.find(parts.method.as_str(), &decoded).cloned();
    if operation.is_none() && api.routes.guarded() {
        return problem(
            StatusCode::NOT_FOUND,
            "UNKNOWN_OPERATION",
            &format!(
                "{} {} is not an operation of this API's OpenAPI document.",
                parts.method,
                if rest.is_empty() { "/" } else { rest }
            ),
        );
    }
    let ask = Ask {
        api: api.slug.clone(),
        scope: None,
        ip: Some(ip),
        operation,
    };
    let Decided {
        decision,
        mut event,
        facts,
    } = match decide_call(state, &key, &ask, now).await {
        Ok(decided) => decided,
        // The counters of a quota or a use limit live in the database: without it, such a
        // call cannot be decided and is refused (fail closed), briefly.
        Err(e) => {
            tracing::warn!(error = %e, api = %api.slug, "a decision needed the database");
            return unavailable("This call cannot be decided right now; retry in a moment.");
        }
    };
    if decision.code != Code::Valid {
        state.usage.record(event);
        return refusal(decision, &ask);
    }
    let too_large = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > state.config.gateway_max_body_bytes);
    if too_large {
        state.usage.record(event);
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            &format!(
                "The body is larger than this gateway forwards ({} bytes).",
                state.config.gateway_max_body_bytes
            ),
        );
    }

    // Test keys reach the sandbox (the core refused them on an API without one).
    let base = if facts.as_ref().is_some_and(|f| f.key.environment == "test") {
        api.sandbox.as_deref().unwrap_or_default()
    } else {
        &api.upstream
    };
    let target = match upstream_uri(base, rest, query.as_deref()) {
        Some(uri) => uri,
        None => {
            state.usage.record(event);
            return problem(
                StatusCode::BAD_GATEWAY,
                "UPSTREAM_INVALID",
                "The API's upstream URL is not a valid http:// or https:// URL.",
            );
        }
    };
    let literal = target
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<std::net::IpAddr>().ok());
    if !state.config.gateway_allow_internal_upstreams
        && literal.is_some_and(app::domain::internal_address)
    {
        state.usage.record(event);
        return forbidden_upstream();
    }
    // HTTP/2 names the host in the request's authority, HTTP/1.1 in `Host`.
    let host = match parts.headers.get(header::HOST) {
        Some(host) => Some(host.clone()),
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    };
    let received = via(parts.version);
    let headers = &mut parts.headers;
    // `TE: trailers` (which gRPC sends) says the client takes trailers, and they pass
    // through: on a request it goes on, unlike the rest of the hop-by-hop headers.
    let trailers = headers
        .get(header::TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    strip_hop_by_hop(headers);
    if trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    headers.remove("x-api-key");
    // The call was decided as its own method: no header may make it another one upstream.
    for name in METHOD_OVERRIDES {
        headers.remove(name);
    }
    if bearer(headers).is_some_and(|b| b == key) {
        headers.remove(header::AUTHORIZATION);
    }
    headers.remove(header::HOST);
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-keyport-"))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    let chain = match forwarded_for {
        Some(before)
            if state
                .config
                .trusted_proxies
                .iter()
                .any(|n| n.contains(&peer.ip())) =>
        {
            format!("{before}, {}", peer.ip())
        }
        _ => peer.ip().to_string(),
    };
    let value = |text: &str| HeaderValue::from_str(text).ok();
    let added = [
        (X_FORWARDED_FOR, value(&chain)),
        (X_FORWARDED_PROTO, Some(HeaderValue::from_static("http"))),
        // As sent, when it is visible text (as before: no raw bytes passed on).
        (X_FORWARDED_HOST, host.filter(|h| h.to_str().is_ok())),
        (
            X_APPLICATION,
            event.application_id.as_deref().and_then(value),
        ),
        (X_KEY_ID, event.key_id.as_deref().and_then(value)),
        (X_PLAN, plan_id(facts.as_ref()).and_then(value)),
    ];
    for (name, value) in added {
        if let Some(value) = value {
            headers.insert(name, value);
        }
    }
    headers.append(header::VIA, received);
    parts.uri = target;
    parts.version = http::Version::HTTP_11;
    let limit = state.config.gateway_max_body_bytes as usize;
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let upstream = axum::http::Request::from_parts(parts, body);

    let started = Instant::now();
    let wait = Duration::from_secs(state.config.gateway_timeout_secs);
    let client = if api.http2 { &gw.http2 } else { &gw.client };
    let answered = tokio::time::timeout(wait, client.request(upstream)).await;
    let took = started.elapsed();
    event.latency_ms = Some(took.as_millis().min(u32::MAX as u128) as u32);
    let timed = |mut res: Response| {
        res.extensions_mut().insert(Routed {
            api: api.slug.clone(),
            upstream: Some(took),
        });
        res
    };
    let res = match answered {
        Ok(Ok(res)) => res,
        Ok(Err(e)) if is_internal_address(&e) => {
            state.usage.record(event);
            return forbidden_upstream();
        }
        failed => {
            let (status, code, detail) = match failed {
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, api = %api.slug, "upstream unreachable");
                    (
                        StatusCode::BAD_GATEWAY,
                        "UPSTREAM_UNREACHABLE",
                        "The API's server could not be reached.",
                    )
                }
                _ => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "UPSTREAM_TIMEOUT",
                    "The API's server did not answer in time.",
                ),
            };
            event.upstream_status = Some(status.as_u16());
            state.usage.record(event);
            return timed(problem(status, code, detail));
        }
    };
    let (mut parts, body) = res.into_parts();
    event.upstream_status = Some(parts.status.as_u16());
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.append(header::VIA, via(parts.version));
    let body = Metered {
        inner: body,
        sent: 0,
        event: Some(event),
        usage: state.usage.clone(),
        patience: wait,
        stalled: None,
    };
    let mut res = Response::from_parts(parts, Body::new(body));
    add_limit_headers(&mut res, decision.limit);
    timed(res)
}

/// The upstream's answer on its way to the client, counted: the call's usage event is
/// recorded with the bytes that passed when the answer ends, fails, or the client goes away
/// (so a streamed answer without a declared length, or a download cut short, counts what
/// was really sent). A body that stalls for the gateway's timeout is cut off (the client
/// sees the answer end early, as behind nginx's `proxy_read_timeout`).
struct Metered {
    inner: Incoming,
    sent: u64,
    event: Option<app::platform::usage::Event>,
    usage: std::sync::Arc<app::platform::usage::Recorder>,
    patience: Duration,
    /// Armed only while the upstream keeps the body waiting.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why an answer was cut off.
#[derive(Debug, thiserror::Error)]
#[error("the upstream's answer stalled for longer than the gateway's timeout")]
struct Stalled;

impl Metered {
    fn finish(&mut self) {
        if let Some(mut event) = self.event.take() {
            event.bytes = Some(self.sent);
            self.usage.record(event);
        }
    }
}

impl hyper::body::Body for Metered {
    type Data = hyper::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.stalled = None;
                self.sent += frame.data_ref().map_or(0, |d| d.len() as u64);
                if self.inner.is_end_stream() {
                    self.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.finish();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                self.finish();
                Poll::Ready(None)
            }
            Poll::Pending => {
                let patience = self.patience;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(patience)));
                if stalled.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                tracing::warn!("an upstream's answer stalled: cut off");
                self.finish();
                Poll::Ready(Some(Err(Box::new(Stalled))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The API slug and the rest of the path (with its leading `/`, possibly empty) of a
/// gateway path, `None` when the path is not in canonical form or names no slug.
fn route(path: &str) -> Option<(&str, &str)> {
    let path = crate::verify::canonical_path(path)?;
    let trimmed = path.strip_prefix('/')?;
    let (slug, rest) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    };
    app::domain::Slug::parse(slug)
        .ok()
        .filter(|s| s.as_str() == slug)?;
    Some((slug, rest))
}

/// The host name a request was sent to (its absolute URI's, else its `Host` header's),
/// lowercase and without a port.
fn host_name(parts: &http::request::Parts) -> Option<std::borrow::Cow<'_, str>> {
    let host = match parts.uri.host() {
        Some(host) => host,
        None => {
            let value = parts.headers.get(header::HOST)?.to_str().ok()?;
            // Not an IPv6 literal (no API's host name is one): the port goes.
            match value.starts_with('[') {
                true => value,
                false => value.split(':').next()?,
            }
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    Some(match host.bytes().any(|b| b.is_ascii_uppercase()) {
        true => host.to_ascii_lowercase().into(),
        false => host.into(),
    })
}

/// This gateway in `Via`, after the protocol the message came in (RFC 9110 7.6.3).
fn via(version: http::Version) -> HeaderValue {
    HeaderValue::from_static(match version {
        http::Version::HTTP_2 => "2 keyport",
        http::Version::HTTP_10 => "1.0 keyport",
        _ => "1.1 keyport",
    })
}

/// The upstream URL for `rest` (and the query) under the API's base URL.
fn upstream_uri(base: &str, rest: &str, query: Option<&str>) -> Option<Uri> {
    let base = base.trim_end_matches('/');
    if !base.starts_with("http://") && !base.starts_with("https://") {
        return None;
    }
    let mut uri = format!("{base}{rest}");
    if rest.is_empty() {
        uri.push('/');
    }
    if let Some(q) = query {
        uri.push('?');
        uri.push_str(q);
    }
    uri.parse().ok()
}

/// The key in the query parameter `param` (percent-decoded), and the query without it (none
/// when nothing else is left); the other parameters are kept exactly as sent.
fn take_query_key(query: Option<&str>, param: &str) -> (Option<String>, Option<String>) {
    let Some(query) = query else {
        return (None, None);
    };
    let mut key = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&') {
        let name = pair.split('=').next().unwrap_or("");
        let decoded = form_urlencoded::parse(name.as_bytes())
            .next()
            .map(|(n, _)| n);
        if decoded.as_deref() == Some(param) {
            if key.is_none() {
                key = form_urlencoded::parse(pair.as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .filter(|v| !v.is_empty());
            }
        } else if !pair.is_empty() {
            kept.push(pair);
        }
    }
    let rest = (!kept.is_empty()).then(|| kept.join("&"));
    (key, rest)
}

/// 503 `UNAVAILABLE` with `Retry-After: 1`: the call cannot be decided without the database.
fn unavailable(detail: &str) -> Response {
    let mut res = problem(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", detail);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// The upstream is at an internal address the gateway may not connect to.
fn forbidden_upstream() -> Response {
    problem(
        StatusCode::BAD_GATEWAY,
        "UPSTREAM_FORBIDDEN",
        "The API's upstream is at a loopback, link-local or cloud metadata address, which this \
         gateway does not connect to.",
    )
}

/// An RFC 9457 problem document.
fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": format!("urn:keyport:problem:{}", code.to_ascii_lowercase()),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    let mut res = (status, body.to_string()).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(code) {
        headers.insert(HeaderName::from_static("x-keyport-code"), value);
    }
    res.extensions_mut().insert(Problem(detail.into()));
    res
}

/// A problem document's detail, for a refusal that is told in gRPC's terms instead.
#[derive(Clone)]
struct Problem(String);

/// The plan the call was decided under.
fn plan_id(facts: Option<&Facts>) -> Option<&str> {
    let (sub, _) = facts?.subscription.as_ref()?;
    Some(&sub.plan_id)
}

/// A refused decision: 401 for a key that cannot be used, 429 for a rate limit or quota,
/// 403 otherwise.
fn refusal(a: Decision, ask: &Ask) -> Response {
    let needed = ask.operation.as_ref().filter(|op| !op.scopes.is_empty());
    let (status, detail) = match (a.code, needed) {
        (Code::ScopeDenied, Some(op)) => (
            StatusCode::FORBIDDEN,
            format!(
                "This API key may not make this call: {} {} needs the scope {}.",
                op.method,
                op.path,
                op.needs()
            ),
        ),
        (Code::NoSandbox, _) => (
            StatusCode::FORBIDDEN,
            "This API has no sandbox: test keys cannot call it. Use a live key.".into(),
        ),
        (Code::RateLimited, _) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests: slow down and retry after the time in Retry-After.".into(),
        ),
        (Code::QuotaExceeded, _) => (
            StatusCode::TOO_MANY_REQUESTS,
            "The quota of this plan is used up until the period ends (see Retry-After).".into(),
        ),
        (code, _) if code.is_unusable_key() => (
            StatusCode::UNAUTHORIZED,
            "This API key cannot be used (unknown, expired, revoked or its owner disabled).".into(),
        ),
        _ => (
            StatusCode::FORBIDDEN,
            "This API key may not make this call.".into(),
        ),
    };
    let mut res = problem(status, a.code.as_str(), &detail);
    add_limit_headers(&mut res, a.limit);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_the_query_is_taken_out_of_it() {
        let take = |q: Option<&str>| take_query_key(q, "api_key");
        assert_eq!(
            take(Some("a=1&api_key=kp%5Fx&b=%2F")),
            (Some("kp_x".into()), Some("a=1&b=%2F".into()))
        );
        assert_eq!(take(Some("api_key=k")), (Some("k".into()), None));
        assert_eq!(
            take(Some("api%5Fkey=k&api_key=other")),
            (Some("k".into()), None)
        );
        assert_eq!(take(Some("api_key=&x")), (None, Some("x".into())));
        assert_eq!(take(Some("apikey=k")), (None, Some("apikey=k".into())));
        assert_eq!(take(None), (None, None));
    }

    #[test]
    fn a_gateway_path_is_a_slug_and_the_rest() {
        assert_eq!(route("/pets/v1/dogs"), Some(("pets", "/v1/dogs")));
        assert_eq!(route("/pets"), Some(("pets", "")));
        assert_eq!(route("/pets/"), Some(("pets", "/")));
        assert_eq!(route("/"), None);
        assert_eq!(route("/Pets/x"), None, "not a slug");
        assert_eq!(route("/pets/../admin"), None, "not canonical");
        assert_eq!(route("/pets/%2e%2e/x"), None);
    }

    #[test]
    fn the_upstream_url_joins_base_rest_and_query() {
        let u = |b, r, q| upstream_uri(b, r, q).map(|u| u.to_string());
        assert_eq!(
            u("http://10.0.0.1:8080/base/", "/v1/dogs", Some("a=1")),
            Some("http://10.0.0.1:8080/base/v1/dogs?a=1".into())
        );
        assert_eq!(u("http://up", "", None), Some("http://up/".into()));
        assert_eq!(u("https://up", "/x", None), Some("https://up/x".into()));
        assert_eq!(u("ftp://up", "/x", None), None);
    }

    #[test]
    fn internal_addresses_are_dropped_from_a_resolution_unless_allowed() {
        let addrs = || {
            [
                "127.0.0.1:80",
                "10.0.0.7:80",
                "[::1]:80",
                "169.254.169.254:80",
            ]
            .map(|a| a.parse::<SocketAddr>().unwrap())
            .into_iter()
        };
        let kept: Vec<SocketAddr> = permitted(addrs(), false).unwrap().collect();
        assert_eq!(kept, vec!["10.0.0.7:80".parse().unwrap()]);
        assert_eq!(permitted(addrs(), true).unwrap().count(), 4);
        let err = permitted(addrs().take(1), false).unwrap_err();
        assert!(is_internal_address(&err));
        let other = std::io::Error::other("refused");
        assert!(!is_internal_address(&other));
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "5"),
            ("te", "trailers"),
            ("accept", "application/json"),
        ] {
            h.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    /// What a client's first bytes say, over real sockets: HTTP/1.1, HTTP/2's preface (also
    /// in two parts), or nothing (silent, stopped halfway through the preface, gone).
    #[tokio::test]
    async fn a_connection_speaks_http2_when_it_opens_with_the_preface() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let patience = Duration::from_millis(300);
        for (parts, told) in [
            (&[&b"GET / HTTP/1.1\r\n"[..]][..], Some(false)),
            (&[&H2_PREFACE[..]][..], Some(true)),
            (&[&H2_PREFACE[..10], &H2_PREFACE[10..]][..], Some(true)),
            (&[][..], None),
            (&[&H2_PREFACE[..12]][..], None),
            (&[&b"P"[..], &b"UT / HTTP/1.1\r\n"[..]][..], Some(false)),
        ] {
            let mut client = tokio::net::TcpStream::connect(at).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let sending = async {
                for part in parts {
                    client.write_all(part).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            let (_, seen) = tokio::join!(sending, opens_with_http2(&server, patience));
            assert_eq!(seen, told, "{parts:?}");
        }
        // A client that goes away before saying anything.
        let client = tokio::net::TcpStream::connect(at).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        drop(client);
        assert_eq!(opens_with_http2(&server, patience).await, None);
    }
}
