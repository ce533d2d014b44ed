//! The gateway data plane against a real upstream (a small axum server started by the
//! test): a valid call is proxied with the key and hop-by-hop headers removed and the
//! forwarding and identity headers added; every refusal is a problem document with its
//! code; bodies of 50 MB stream both ways; an upstream that refuses connections is 502 and
//! one that does not answer in time 504 (a timeout of its own); each call is a usage event with the upstream's
//! status.

use crate::helpers::{
    draft, issue_key, plan, publish, set_plan_limits, spawn_app, spawn_app_with,
    subscribed_application, Backend, TestApp,
};
use app::domain::Role;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Value};
use std::net::SocketAddr;

crate::backends!(
    a_valid_call_is_proxied_with_headers_stripped_and_added,
    refusals_are_problem_documents_with_their_codes,
    bodies_of_fifty_megabytes_stream_both_ways,
    an_unreachable_upstream_is_502,
    metrics_count_calls_and_refusals_for_service_tokens_only,
    scopes_come_from_the_operation_in_the_openapi_document,
    a_key_may_come_in_the_apis_query_parameter,
    test_keys_reach_the_sandbox_and_nothing_else,
    an_api_may_ask_for_http2_to_its_cleartext_upstream,
    an_api_answers_at_its_own_host_name,
    http2_clients_and_grpc_pass_through
);

crate::backends!(setup = crate::gateway::strict; internal_upstreams_are_refused_when_saved_and_when_connecting);
crate::backends!(setup = crate::gateway::impatient; a_slow_upstream_is_504);
crate::backends!(setup = crate::gateway::small; a_body_over_the_cap_is_413_or_cut);
crate::backends!(setup = crate::gateway::trusting; an_https_upstream_is_reached_over_http2);

/// A Keyport whose gateway trusts the test upstreams' certificate authority
/// (`KEYPORT_GATEWAY_UPSTREAM_CA_FILE`).
async fn trusting(backend: Backend) -> TestApp {
    let ca = test_certificate().2.clone();
    spawn_app_with(backend, move |c| c.gateway_upstream_ca_file = Some(ca)).await
}

/// A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM, the file holding the
/// certificate).
fn test_certificate() -> &'static (String, String, std::path::PathBuf) {
    static CERT: std::sync::OnceLock<(String, String, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let (cert, key) = (made.cert.pem(), made.key_pair.serialize_pem());
        let path = std::env::temp_dir().join(format!("keyport-test-ca-{}.pem", std::process::id()));
        std::fs::write(&path, &cert).unwrap();
        (cert, key, path)
    })
}

/// An `https://` upstream offering HTTP/2 and HTTP/1.1 (ALPN), answering with the HTTP
/// version and path of what it received.
async fn https_upstream() -> SocketAddr {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let (cert, key, _) = test_certificate();
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let router = Router::new().fallback(any(|req: Request| async move {
        axum::Json(json!({
            "version": format!("{:?}", req.version()),
            "path": req.uri().path(),
            "has_key": req.headers().contains_key("x-api-key"),
        }))
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    addr
}

/// An `https://` upstream is reached over TLS, with HTTP/2 when it offers it, once its
/// authority is trusted; a gateway that does not trust it answers 502.
async fn an_https_upstream_is_reached_over_http2(app: TestApp) {
    let up = https_upstream().await;
    let api = proxied_api_with(
        &app,
        "pets",
        &[("upstream_url", &format!("https://{up}/base"))],
    )
    .await;
    for _ in 0..2 {
        let res = get_with_key(&app, "/pets/v1/dogs", &api.key).await;
        assert_eq!(res.status(), 200);
        let echo: Value = res.json().await.unwrap();
        assert_eq!(echo["version"], "HTTP/2.0");
        assert_eq!(echo["path"], "/base/v1/dogs");
        assert_eq!(echo["has_key"], false);
    }

    // The same upstream, to a gateway with only the public authorities.
    let other = spawn_app_with(app.backend(), |_| {}).await;
    let api = proxied_api_with(
        &other,
        "pets",
        &[("upstream_url", &format!("https://{up}/base"))],
    )
    .await;
    let (status, body) = problem(get_with_key(&other, "/pets/v1/dogs", &api.key).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("UPSTREAM_UNREACHABLE"))
    );
}

/// A Keyport that refuses internal upstreams (the other tests' upstreams are on loopback).
async fn strict(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.gateway_allow_internal_upstreams = false).await
}

/// A Keyport whose gateway forwards bodies of at most 1 MB.
async fn small(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.gateway_max_body_bytes = 1024 * 1024).await
}

/// A Keyport whose gateway waits one second for an upstream.
async fn impatient(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.gateway_timeout_secs = 1).await
}

/// Without KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS: a loopback or metadata upstream is
/// refused when saved; one stored anyway (saved before the setting changed) is refused when
/// the gateway would connect, as an address literal and as a name resolving to loopback.
async fn internal_upstreams_are_refused_when_saved_and_when_connecting(app: TestApp) {
    let up = upstream().await;
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let save = |upstream: String, sandbox: &'static str| {
        let p = &p;
        async move {
            let form = [
                ("name", "Meta"),
                ("slug", "meta"),
                ("version", "v1"),
                ("summary", "s"),
                ("description", "d"),
                ("tags", ""),
                ("upstream_url", upstream.as_str()),
                ("sandbox_url", sandbox),
                ("visibility", "public"),
            ];
            let saved = p.call("save_api", &form).await;
            assert_eq!(saved.status, 422, "{upstream}: {}", saved.body);
            saved
        }
    };
    for url in [
        format!("http://{up}/base"),
        "http://169.254.169.254/latest".to_string(),
        "http://localhost:8080".to_string(),
        "http://[::1]:8080".to_string(),
    ] {
        let saved = save(url, "").await;
        assert!(saved.field("upstream_url")[0].contains("KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS"));
    }
    // A sandbox upstream is held to the same rule.
    let saved = save(
        "http://10.255.255.1:9".into(),
        "http://169.254.169.254/latest",
    )
    .await;
    assert!(saved.field("sandbox_url")[0].contains("KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS"));
    assert!(saved.field("upstream_url").is_empty());
    // A private network address is an ordinary upstream.
    let (key, _, _) = proxied_api(&app, "pets", "http://10.255.255.1:9").await;
    for stored in [
        format!("http://{up}/base"),
        format!("http://localhost:{}/base", up.port()),
    ] {
        sqlx::query("UPDATE apis SET upstream_url = $1 WHERE slug = 'pets'")
            .bind(&stored)
            .execute(&app.state.db)
            .await
            .unwrap();
        app.settle().await;
        let res = get_with_key(&app, "/pets/echo", &key).await;
        let (status, body) = problem(res).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (502, Some("UPSTREAM_FORBIDDEN")),
            "{stored}"
        );
    }
}

/// With a gateway timeout of one second, the upstream's three-second answer is 504, and an
/// answer that stalls for three seconds after its first bytes is cut off.
async fn a_slow_upstream_is_504(app: TestApp) {
    let up = upstream().await;
    let (key, _, _) = proxied_api(&app, "sloth", &format!("http://{up}/base")).await;
    let started = std::time::Instant::now();
    let res = get_with_key(&app, "/sloth/slow", &key).await;
    let (status, body) = problem(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (504, Some("UPSTREAM_TIMEOUT"))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    // An answer whose body stalls as long is cut off; the call counts what was sent.
    let started = std::time::Instant::now();
    let mut res = get_with_key(&app, "/sloth/stall", &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.chunk().await.unwrap().map(|c| c.len()), Some(1000));
    assert!(res.chunk().await.is_err(), "the answer ends early");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    app.settle().await;
    let sent: Vec<Option<i64>> =
        sqlx::query_scalar("SELECT bytes FROM usage_events WHERE upstream_status = 200")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(sent, [Some(1000)]);
}

const BIG: usize = 50 * 1024 * 1024;

/// The upstream: `/echo…` answers with what it received; `/big` sends 50 MB; `/stream`
/// 3,000 bytes without a length; `/upload` counts what it is sent; `/slow` answers after
/// three seconds; `/stall` sends 1,000 bytes, then the rest three seconds later.
async fn upstream() -> SocketAddr {
    async fn echo(req: Request) -> axum::Json<Value> {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), json!(v.to_str().unwrap_or(""))))
            .collect();
        axum::Json(json!({
            "version": format!("{:?}", req.version()),
            "method": req.method().as_str(),
            "path": req.uri().path(),
            "query": req.uri().query(),
            "headers": headers,
        }))
    }
    let router = Router::new()
        .route("/base/big", get(|| async { vec![7u8; BIG] }))
        .route(
            "/base/stall",
            get(|| async {
                let first = futures::stream::iter([Ok::<_, std::io::Error>(vec![b'b'; 1000])]);
                let late = futures::stream::once(async {
                    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                    Ok(vec![b'e'; 10])
                });
                Body::from_stream(futures::StreamExt::chain(first, late))
            }),
        )
        .route(
            "/base/stream",
            get(|| async {
                let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(vec![b's'; 1000]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/base/upload",
            post(|body: Body| async move {
                let mut body = body.into_data_stream();
                let mut n = 0usize;
                while let Some(chunk) = futures::StreamExt::next(&mut body).await {
                    n += chunk.unwrap().len();
                }
                n.to_string()
            }),
        )
        .route(
            "/base/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                "late"
            }),
        )
        .fallback(any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A published API `slug` proxied to `upstream_url`, one automatic plan (10 requests/s,
/// burst 5), and a developer's key for it: (key, key id, application id).
async fn proxied_api(app: &TestApp, slug: &str, upstream_url: &str) -> (String, String, String) {
    let api = proxied_api_with(app, slug, &[("upstream_url", upstream_url)]).await;
    (api.key, api.key_id, api.app_id)
}

/// What [`proxied_api_with`] made.
struct Proxied {
    publisher: crate::helpers::Client,
    developer: crate::helpers::Client,
    api_id: String,
    key: String,
    key_id: String,
    app_id: String,
}

/// [`proxied_api`] with the API form's fields `fields` (its upstream among them).
async fn proxied_api_with(app: &TestApp, slug: &str, fields: &[(&str, &str)]) -> Proxied {
    let (publisher, _) = app
        .signed_in(&format!("pub-{slug}@example.com"), Role::Publisher)
        .await;
    let api_id = draft(&publisher, slug, fields).await;
    let plan_id = plan(&publisher, &api_id, "Standard", "automatic").await;
    publish(&publisher, &api_id).await;
    let (developer, _, _) = app
        .signed_in_with_mfa(&format!("dev-{slug}@example.com"), Role::Developer)
        .await;
    let app_id = subscribed_application(&developer, "Shop", &plan_id).await;
    let issued = issue_key(&developer, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    Proxied {
        publisher,
        developer,
        api_id,
        key: issued["key"].as_str().unwrap().to_string(),
        key_id: issued["view"]["id"].as_str().unwrap().to_string(),
        app_id,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A client speaking HTTP/2 with prior knowledge (h2c), as gRPC clients do.
fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

/// `GET path` on the gateway with `key` in `X-Api-Key`.
async fn get_with_key(app: &TestApp, path: &str, key: &str) -> reqwest::Response {
    client()
        .get(url(app, path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

fn url(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.gateway)
}

async fn problem(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "a problem document"
    );
    (status, res.json().await.unwrap())
}

async fn a_valid_call_is_proxied_with_headers_stripped_and_added(app: TestApp) {
    let up = upstream().await;
    let upstream_url = format!("http://{up}/base/");
    let api = proxied_api_with(&app, "pets", &[("upstream_url", &upstream_url)]).await;
    let (key, key_id, app_id) = (api.key.clone(), api.key_id.clone(), api.app_id.clone());
    let res = client()
        .get(url(&app, "/pets/v1/dogs?size=small&page=2"))
        .header("x-api-key", &key)
        .header("x-keyport-application", "spoofed")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .header("x-forwarded-for", "203.0.113.50")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["via"], "1.1 keyport");
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/base/v1/dogs");
    assert_eq!(echo["query"], "size=small&page=2");
    let h = &echo["headers"];
    assert!(h.get("x-api-key").is_none(), "the key is not forwarded");
    assert!(
        h.get("x-drop-me").is_none(),
        "named by Connection: hop-by-hop"
    );
    assert_eq!(h["accept"], "application/json");
    assert_eq!(
        h["x-keyport-application"],
        app_id.as_str(),
        "not the spoofed one"
    );
    assert_eq!(h["x-keyport-key-id"], key_id.as_str());
    assert!(h["x-keyport-plan"].as_str().is_some_and(|p| !p.is_empty()));
    assert_eq!(
        h["x-forwarded-for"], "127.0.0.1",
        "an untrusted client's own X-Forwarded-For is replaced"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], app.gateway.to_string().as_str());
    assert_eq!(h["via"], "1.1 keyport");

    // `Authorization: Bearer <key>` works too and is not forwarded; a POST with its body.
    let res = client()
        .post(url(&app, "/pets/v1/dogs"))
        .header("authorization", format!("Bearer {key}"))
        .body("{\"name\":\"Rex\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert!(echo["headers"].get("authorization").is_none());

    // Each call is a usage event with the upstream's status.
    app.settle().await;
    let (requests, status): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MAX(upstream_status) FROM usage_events WHERE key_id = $1")
            .bind(&key_id)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!((requests, status), (2, Some(200)));

    // The developer sees each call with the upstream's status, the latency and the size.
    let report = api
        .developer
        .call("usage_report", &[("app", app_id.as_str())])
        .await;
    let calls = report.ok()["recent"]["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(
            (&call["api"], &call["outcome"]),
            (&json!("pets"), &json!("Allowed"))
        );
        assert_eq!(call["status"], 200);
        assert!(call["latency"].as_str().unwrap().ends_with(" ms"), "{call}");
        assert!(call["size"].as_str().unwrap().ends_with(" B"), "{call}");
        assert_eq!(call["client"], "127.0.0.1");
    }
}

async fn refusals_are_problem_documents_with_their_codes(app: TestApp) {
    let up = upstream().await;
    let (key, _, _) = proxied_api(&app, "pets", &format!("http://{up}/base")).await;
    let get = |path: &'static str, key: Option<String>| {
        let mut req = client().get(url(&app, path));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        async move { problem(req.send().await.unwrap()).await }
    };
    let (status, body) = get("/pets/x", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("MISSING_KEY")));
    assert_eq!(body["status"], 401);
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:keyport:problem:"));
    let (status, body) = get("/pets/x", Some("kp_live_made_up".into())).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("MALFORMED")));
    let (status, body) = get("/nothing-here/x", Some(key.clone())).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("UNKNOWN_API")));
    let (status, body) = get("/pets/../admin", Some(key.clone())).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("UNKNOWN_API")));

    // The plan's limit (10 a second, burst 5): beyond it 429 with Retry-After.
    let mut limited = None;
    for _ in 0..40 {
        let res = get_with_key(&app, "/pets/x", &key).await;
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("ratelimit-remaining"));
    }
    let res = limited.expect("the plan's rate limit refuses within 40 calls");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    let (_, body) = problem(res).await;
    assert_eq!(body["code"], "RATE_LIMITED");
}

async fn bodies_of_fifty_megabytes_stream_both_ways(app: TestApp) {
    let up = upstream().await;
    let (key, _, _) = proxied_api(&app, "files", &format!("http://{up}/base")).await;
    let res = get_with_key(&app, "/files/big", &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), BIG);
    // The upload is sent chunked (no length known in advance) and arrives whole.
    let chunks =
        futures::stream::iter((0..50).map(|_| Ok::<_, std::io::Error>(vec![1u8; 1024 * 1024])));
    let res = client()
        .post(url(&app, "/files/upload"))
        .header("x-api-key", &key)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), BIG.to_string());

    // Each call's usage event counts the bytes that were sent: 50 MB declared, an answer
    // streamed without a length, and a download the client gave up on.
    let res = get_with_key(&app, "/files/stream", &key).await;
    assert_eq!(res.headers().get("content-length"), None);
    assert_eq!(res.text().await.unwrap().len(), 3 * 1000);
    let mut cut = get_with_key(&app, "/files/big", &key).await;
    assert!(!cut.chunk().await.unwrap().unwrap().is_empty());
    drop(cut);
    let mut sent: Vec<Option<i64>> = Vec::new();
    for _ in 0..100 {
        app.settle().await;
        sent = sqlx::query_scalar("SELECT bytes FROM usage_events ORDER BY id")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
        if sent.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let big = BIG as i64;
    assert_eq!(
        sent[..3],
        [Some(big), Some(BIG.to_string().len() as i64), Some(3000)]
    );
    assert!(
        sent.get(3)
            .copied()
            .flatten()
            .is_some_and(|n| 0 < n && n < big),
        "the cut download counts what was sent: {sent:?}"
    );
}

async fn an_unreachable_upstream_is_502(app: TestApp) {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (key, key_id, _) = proxied_api(&app, "gone", &format!("http://{closed}")).await;
    let res = get_with_key(&app, "/gone/x", &key).await;
    let (status, body) = problem(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("UPSTREAM_UNREACHABLE"))
    );
    app.settle().await;
    let status: Option<i64> =
        sqlx::query_scalar("SELECT MAX(upstream_status) FROM usage_events WHERE key_id = $1")
            .bind(&key_id)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(status, Some(502));
}

async fn metrics_count_calls_and_refusals_for_service_tokens_only(app: TestApp) {
    let up = upstream().await;
    let (key, _, _) = proxied_api(&app, "pets", &format!("http://{up}/base")).await;
    for _ in 0..2 {
        let res = get_with_key(&app, "/pets/echo", &key).await;
        assert_eq!(res.status(), 200);
    }
    let res = client().get(url(&app, "/pets/echo")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = client().get(url(&app, "/nope/x")).send().await.unwrap();
    assert_eq!(res.status(), 404);

    let metrics = url(&app, "/_keyport/metrics");
    let refused = client().get(&metrics).send().await.unwrap();
    assert_eq!(refused.status(), 401, "metrics need a service token");
    let refused = client()
        .get(&metrics)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "an API key is no service token");
    let token = app.service_token("prometheus").await;
    let posted = client()
        .post(&metrics)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 405);
    assert_eq!(posted.headers()["allow"], "GET, HEAD");
    app.state.quotas.settled().await;
    let res = client()
        .get(&metrics)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    for line in [
        "keyport_gateway_requests_total{api=\"pets\",outcome=\"2xx\"} 2",
        "keyport_gateway_requests_total{api=\"pets\",outcome=\"MISSING_KEY\"} 1",
        "keyport_gateway_requests_total{api=\"\",outcome=\"UNKNOWN_API\"} 1",
        "keyport_gateway_refusals_total{code=\"MISSING_KEY\"} 1",
        "keyport_gateway_upstream_seconds_count 2",
        "keyport_gateway_added_seconds_count 4",
        "keyport_view_keys 1",
        "keyport_database_up 1",
        "keyport_feed_changes_behind 0",
        "keyport_usage_events_dropped_total 0",
        // The plan's monthly quota: blocks of 1, 2 and 4 leased (each when half of the
        // last one was used), 2 requests passed.
        "keyport_quota_leased_unused 5",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    assert!(text.contains("keyport_usage_queue_depth "));
}

/// PostgreSQL unreachable (connections refused and the open ones ended): the gateway keeps
/// deciding from its view — a key without a quota passes, a revoked key stays refused —
/// says `degraded`, refuses with 503 the calls whose decision needs the database (a quota),
/// and recovers by itself when the database is back. (SQLite lives in the process's own
/// file: it is down only with the disk.)
#[tokio::test]
async fn with_the_database_down_a_warm_gateway_keeps_deciding_and_recovers() {
    let app = spawn_app(Backend::Postgres).await;
    let up = upstream().await;
    let (quota_key, _, _) = proxied_api(&app, "metered", &format!("http://{up}/base")).await;
    // An API whose plan has no quota: decided from memory alone.
    let (p, _) = app.signed_in("pub-free@example.com", Role::Publisher).await;
    let api_id = draft(
        &p,
        "free",
        &[("upstream_url", &format!("http://{up}/base"))],
    )
    .await;
    let plan_id = plan(&p, &api_id, "Standard", "automatic").await;
    set_plan_limits(&p, (&api_id, &plan_id), ("", "second"), ("", "month")).await;
    publish(&p, &api_id).await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev-free@example.com", Role::Developer)
        .await;
    let app_id = subscribed_application(&dev, "Free", &plan_id).await;
    let free_key = issue_key(&dev, &app_id, "1d", "pets:read").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = issue_key(&dev, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    dev.call(
        "revoke_key",
        &[
            ("id", revoked["view"]["id"].as_str().unwrap()),
            ("reason", "x"),
        ],
    )
    .await
    .ok();
    let revoked = revoked["key"].as_str().unwrap().to_string();
    let get = |path: &'static str, key: String| {
        let app = &app;
        async move { get_with_key(app, path, &key).await }
    };
    let ready = || async {
        let res = client()
            .get(url(&app, "/_keyport/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(ready().await, "ready");

    let database = Switch::of(&app).await;
    database.set(false).await;

    assert_eq!(ready().await, "degraded");
    assert_eq!(get("/free/echo", free_key.clone()).await.status(), 200);
    let refused = get("/free/echo", revoked.clone()).await;
    assert_eq!(problem(refused).await.1["code"], "REVOKED");
    let res = get("/metered/echo", quota_key.clone()).await;
    assert!(res.headers().contains_key("retry-after"));
    let (status, body) = problem(res).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("UNAVAILABLE")));

    database.set(true).await;
    // Back by itself: the pool reconnects on the next use.
    let mut back = false;
    for _ in 0..50 {
        if ready().await == "ready" {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "ready again once the database is");
    assert_eq!(get("/metered/echo", quota_key).await.status(), 200);
}

/// Turns a test's PostgreSQL database off (connections refused, the open ones ended) and on.
struct Switch {
    admin: sqlx::AnyPool,
    name: String,
}

impl Switch {
    async fn of(app: &TestApp) -> Switch {
        let url = app.state.config.database_url.expose().to_string();
        let (server, name) = url.rsplit_once('/').unwrap();
        let admin = sqlx::AnyPool::connect(&format!("{server}/postgres"))
            .await
            .unwrap();
        Switch {
            admin,
            name: name.to_string(),
        }
    }

    async fn set(&self, on: bool) {
        let name = &self.name;
        sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {on}"))
            .execute(&self.admin)
            .await
            .unwrap();
        if !on {
            sqlx::query(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .execute(&self.admin)
            .await
            .unwrap();
        }
    }
}

/// `keyport gateway` started while its database refuses connections: it starts, every call
/// is 503 `UNAVAILABLE` (nothing is decided from an empty view; a valid key is not called
/// unknown) and `/_keyport/readyz` is 503 `starting`; once the database answers, the change
/// feed loads the view and the same call passes, without a restart.
#[tokio::test]
async fn a_gateway_started_without_its_database_refuses_until_it_answers() {
    let app = spawn_app(Backend::Postgres).await;
    let up = upstream().await;
    let (key, _, _) = proxied_api(&app, "pets", &format!("http://{up}/base")).await;
    let database = Switch::of(&app).await;
    database.set(false).await;

    let config = (*app.state.config).clone();
    let cold = keyport::build_gateway_state(config, app.clock.clone())
        .await
        .expect("starts without its database");
    assert!(!cold.view.loaded());
    keyport::feed::spawn(cold.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let gateway = keyport::gateway::Gateway::new(cold.clone()).unwrap();
    tokio::spawn(keyport::gateway::serve(
        gateway,
        listener,
        std::future::pending(),
    ));
    let get = |path: &'static str| {
        let req = client()
            .get(format!("http://{address}{path}"))
            .header("x-api-key", &key);
        async move { req.send().await.unwrap() }
    };
    let res = get("/pets/echo").await;
    assert_eq!(res.headers()["retry-after"], "1");
    let (status, body) = problem(res).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("UNAVAILABLE")));
    let ready = get("/_keyport/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "starting");

    database.set(true).await;
    let mut loaded = false;
    for _ in 0..100 {
        if get("/_keyport/readyz").await.status() == 200 {
            loaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(loaded, "the view loads once the database answers");
    let res = get("/pets/echo").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["path"], "/base/echo");
}

/// A body declared larger than the cap is 413 before anything is sent upstream; one sent
/// chunked that grows past it is cut, so the upstream never receives more than the cap.
async fn a_body_over_the_cap_is_413_or_cut(app: TestApp) {
    let up = upstream().await;
    let (key, _, _) = proxied_api(&app, "files", &format!("http://{up}/base")).await;
    // A new client for each upload (an answer before the whole body was read leaves its
    // connection unusable).
    let upload = |http: fn() -> reqwest::Client| {
        http()
            .post(url(&app, "/files/upload"))
            .header("x-api-key", &key)
    };
    // The same caps for a client speaking HTTP/1.1 and one speaking HTTP/2.
    for (http, version) in [
        (client as fn() -> reqwest::Client, reqwest::Version::HTTP_11),
        (h2_client, reqwest::Version::HTTP_2),
    ] {
        let res = upload(http)
            .body(vec![0u8; 1024 * 1024 + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(res.version(), version);
        let (status, body) = problem(res).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (413, Some("BODY_TOO_LARGE"))
        );
        let at_cap = upload(http)
            .body(vec![0u8; 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(at_cap.text().await.unwrap(), (1024 * 1024).to_string());
        let chunks =
            futures::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![1u8; 512 * 1024])));
        let res = upload(http)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await;
        // The upload is cut at the cap: the upstream's answer, if any, is not a count of 2 MB.
        if let Ok(res) = res {
            assert_ne!(
                res.text().await.unwrap_or_default(),
                (2 * 1024 * 1024).to_string()
            );
        }
    }
    // An HTTP/2 client's headers are capped too (16 KB).
    let huge = upload(h2_client)
        .header("x-padding", "p".repeat(20_000))
        .body("small")
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 431);
    let fine = upload(h2_client).body("small").send().await.unwrap();
    assert_eq!(fine.text().await.unwrap(), "5");
}

/// Scopes come from the API's OpenAPI document: the operation a call makes (method and path
/// template, the most literal template first, on the decoded path) needs the scopes its
/// `security` (or the document's) asks for; a call the document does not describe is 404
/// `UNKNOWN_OPERATION`; method overrides are not forwarded. A new document is in force on
/// the gateway as soon as the change feed carries it.
async fn scopes_come_from_the_operation_in_the_openapi_document(app: TestApp) {
    let up = upstream().await;
    let api = proxied_api_with(
        &app,
        "pets",
        &[("upstream_url", &format!("http://{up}/base"))],
    )
    .await;
    let document = |post_scope: &str| {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "Pets", "version": "1"},
            "components": {"securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
            }},
            "security": [{"key": ["pets:read"]}],
            "paths": {
                "/pets": {
                    "get": {"responses": {"200": {"description": "ok"}}},
                    "post": {"security": [{"key": [post_scope]}],
                             "responses": {"201": {"description": "ok"}}}
                },
                "/pets/{petId}": {
                    "delete": {"security": [{"key": ["pets:admin"]}],
                               "responses": {"204": {"description": "ok"}}}
                },
                "/pets/mine": {"delete": {"security": [], "responses": {"204": {"description": "ok"}}}}
            }
        })
        .to_string()
    };
    upload(&app, &api, &document("pets:write")).await;
    let call = |method: reqwest::Method, path: &'static str| {
        let req = client()
            .request(method, url(&app, path))
            .header("x-api-key", &api.key);
        async move { req.send().await.unwrap() }
    };
    // The key holds pets:read (its plan grants pets:read and pets:write).
    assert_eq!(call(reqwest::Method::GET, "/pets/pets").await.status(), 200);
    let (status, body) = problem(call(reqwest::Method::POST, "/pets/pets").await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("SCOPE_DENIED")));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("POST /pets needs the scope pets:write"),
        "{body}"
    );
    let (status, body) = problem(call(reqwest::Method::DELETE, "/pets/pets/7").await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("SCOPE_DENIED")));
    assert_eq!(
        call(reqwest::Method::DELETE, "/pets/pets/mine")
            .await
            .status(),
        200,
        "the literal template wins, and its security: [] needs nothing"
    );
    let (status, body) = problem(call(reqwest::Method::GET, "/pets/undocumented").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("UNKNOWN_OPERATION")),
        "a document that asks for scopes describes the API"
    );
    // The path as the upstream reads it: an encoded letter is no way around a scope.
    let (status, body) = problem(call(reqwest::Method::POST, "/pets/%70ets").await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("SCOPE_DENIED")));
    assert_eq!(
        call(reqwest::Method::GET, "/pets/%70ets").await.status(),
        200
    );
    // Nor is a method override: the upstream never sees one.
    let echo: Value = client()
        .get(url(&app, "/pets/pets"))
        .header("x-api-key", &api.key)
        .header("x-http-method-override", "DELETE")
        .header("x-method-override", "DELETE")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(echo["headers"].get("x-http-method-override").is_none());
    assert!(echo["headers"].get("x-method-override").is_none());

    // The publisher lowers POST to pets:read: in force after the feed carries it.
    upload(&app, &api, &document("pets:read")).await;
    assert_eq!(
        call(reqwest::Method::POST, "/pets/pets").await.status(),
        200
    );

    // Refusals by scope are usage events like any other.
    let refused: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM usage_events WHERE key_id = $1 AND code = 'SCOPE_DENIED'",
    )
    .bind(&api.key_id)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(refused, 3);
}

/// `document` becomes the API's OpenAPI document, in force once the feed has carried it.
async fn upload(app: &TestApp, api: &Proxied, document: &str) {
    api.publisher
        .call(
            "upload_openapi",
            &[("api_id", &api.api_id), ("document", document)],
        )
        .await
        .ok();
    app.settle().await;
}

/// With a key query parameter set on the API, the key may come in it; it is taken out of
/// the query before forwarding (the other parameters stay as sent). Without one, a key in
/// the query is no key. A bad parameter name is a field error.
async fn a_key_may_come_in_the_apis_query_parameter(app: TestApp) {
    let up = upstream().await;
    let api = proxied_api_with(
        &app,
        "pets",
        &[
            ("upstream_url", &format!("http://{up}/base")),
            ("key_param", "api_key"),
        ],
    )
    .await;
    let res = client()
        .get(url(
            &app,
            &format!("/pets/echo?size=s%20m&api_key={}&page=2", api.key),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["query"], "size=s%20m&page=2");
    let res = client()
        .get(url(&app, &format!("/pets/echo?api_key={}", api.key)))
        .send()
        .await
        .unwrap();
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["query"], Value::Null, "nothing else was in the query");

    let other = proxied_api_with(
        &app,
        "cats",
        &[("upstream_url", &format!("http://{up}/base"))],
    )
    .await;
    let res = client()
        .get(url(&app, &format!("/cats/echo?api_key={}", other.key)))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(res).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("MISSING_KEY")));

    let upstream_url = format!("http://{up}/base");
    let fields = [
        ("upstream_url", upstream_url.as_str()),
        ("key_param", "api key&x"),
    ];
    let saved = save_api(&api.publisher, &api.api_id, "pets", &fields).await;
    assert_eq!(saved.status, 422);
    assert!(!saved.field("key_param").is_empty(), "{}", saved.body);
}

/// The API form saved by `publisher` for the API `id` (empty: a new draft), with `fields`
/// over the defaults.
async fn save_api(
    publisher: &crate::helpers::Client,
    id: &str,
    slug: &str,
    fields: &[(&str, &str)],
) -> crate::helpers::Answer {
    let mut form = crate::helpers::api_form(slug, fields);
    form.push(("id", id));
    publisher.call("save_api", &form).await
}

/// A response's JSON body.
async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

/// A `test` key of the application `app_id` for pets:read.
async fn test_key(dev: &crate::helpers::Client, app_id: &str) -> String {
    dev.call(
        "issue_key",
        &[
            ("application_id", app_id),
            ("name", "Tests"),
            ("environment", "test"),
            ("expires_in", "1d"),
            ("scopes", "pets:read"),
        ],
    )
    .await
    .ok()["key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Test keys reach the API's sandbox upstream and live keys its production one; on an API
/// without a sandbox a test key is refused with NO_SANDBOX, through the gateway and the
/// verify API alike.
async fn test_keys_reach_the_sandbox_and_nothing_else(app: TestApp) {
    let up = upstream().await;
    let api = proxied_api_with(
        &app,
        "pets",
        &[
            ("upstream_url", &format!("http://{up}/base")),
            ("sandbox_url", &format!("http://{up}/sandbox/")),
        ],
    )
    .await;
    let test = test_key(&api.developer, &api.app_id).await;
    let path = |key: &str| {
        let req = client()
            .get(url(&app, "/pets/echo"))
            .header("x-api-key", key);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["path"].clone()
        }
    };
    assert_eq!(path(&test).await, "/sandbox/echo");
    assert_eq!(path(&api.key).await, "/base/echo");

    let bare = proxied_api_with(
        &app,
        "cats",
        &[("upstream_url", &format!("http://{up}/base"))],
    )
    .await;
    let test = test_key(&bare.developer, &bare.app_id).await;
    let (status, body) = problem(get_with_key(&app, "/cats/echo", &test).await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("NO_SANDBOX")));
    let token = app.service_token("nginx").await;
    let verified = client()
        .post(app.url("/v1/keys/verify"))
        .bearer_auth(&token)
        .json(&json!({"key": test, "api": "cats"}))
        .send()
        .await
        .unwrap();
    let answer: Value = verified.json().await.unwrap();
    assert_eq!(
        (answer["valid"].as_bool(), answer["code"].as_str()),
        (Some(false), Some("NO_SANDBOX"))
    );
}

/// An API whose publisher chose "HTTP/2 only" reaches its `http://` upstream over h2c (prior
/// knowledge, as gRPC-style and mesh servers expect); the default stays HTTP/1.1. Changing
/// the choice takes effect on the next call.
async fn an_api_may_ask_for_http2_to_its_cleartext_upstream(app: TestApp) {
    let up = upstream().await;
    let base = format!("http://{up}/base");
    let h2 = proxied_api_with(
        &app,
        "pets",
        &[("upstream_url", &base), ("upstream_protocol", "http2")],
    )
    .await;
    assert_eq!(
        crate::helpers::edit_view(&h2.publisher, "pets").await["upstream_protocol"],
        "http2"
    );
    let plain = proxied_api_with(&app, "cats", &[("upstream_url", &base)]).await;
    for _ in 0..2 {
        let echo = json_of(get_with_key(&app, "/pets/v1/dogs", &h2.key).await).await;
        assert_eq!(echo["version"], "HTTP/2.0");
        assert_eq!(echo["path"], "/base/v1/dogs");
        assert!(echo["headers"].get("x-api-key").is_none());
        assert_eq!(echo["headers"]["x-keyport-key-id"], h2.key_id.as_str());
        let echo = json_of(get_with_key(&app, "/cats/v1", &plain.key).await).await;
        assert_eq!(echo["version"], "HTTP/1.1");
    }
    // A POST's body goes over HTTP/2 too.
    let res = client()
        .post(url(&app, "/pets/v1/dogs"))
        .header("x-api-key", &h2.key)
        .body("{\"name\":\"Rex\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let echo: Value = res.json().await.unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["version"].as_str()),
        (Some("POST"), Some("HTTP/2.0"))
    );

    // Back to the default: HTTP/1.1 on the next call.
    let saved = save_api(
        &h2.publisher,
        &h2.api_id,
        "pets",
        &[("upstream_url", &base), ("upstream_protocol", "auto")],
    )
    .await;
    assert_eq!(saved.ok().as_str(), Some("pets"));
    app.settle().await;
    let echo = json_of(get_with_key(&app, "/pets/v1/dogs", &h2.key).await).await;
    assert_eq!(echo["version"], "HTTP/1.1");

    // Anything else is a field error.
    let (p, _) = app
        .signed_in("other-pub@example.com", Role::Publisher)
        .await;
    let fields = [("upstream_url", base.as_str()), ("upstream_protocol", "h2")];
    let saved = save_api(&p, "", "birds", &fields).await;
    assert_eq!(saved.status, 422, "{}", saved.body);
    assert!(saved.field("upstream_protocol")[0].contains("auto, http2"));
}

/// An API with a gateway host name answers there with its whole path (any port, any case);
/// at every other host it is still `/<slug>/…`. A host name is one API's, never the
/// gateway's own, and a new one takes over on the next call.
async fn an_api_answers_at_its_own_host_name(app: TestApp) {
    let up = upstream().await;
    let base = format!("http://{up}/base");
    let api = proxied_api_with(
        &app,
        "pets",
        &[
            ("upstream_url", &base),
            ("gateway_host", "Pets.Example.TEST"),
        ],
    )
    .await;
    let port = app.gateway.port();
    let at = |host: String, path: &'static str| {
        let key = api.key.clone();
        let url = url(&app, path);
        async move {
            client()
                .get(url)
                .header("host", host)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
        }
    };
    for host in [
        format!("pets.example.test:{port}"),
        "PETS.example.test".to_string(),
        "pets.example.test.".to_string(),
    ] {
        let res = at(host.clone(), "/v1/dogs?size=small").await;
        assert_eq!(res.status(), 200, "{host}");
        let echo: Value = res.json().await.unwrap();
        assert_eq!(echo["path"], "/base/v1/dogs", "{host}");
        assert_eq!(echo["query"], "size=small");
        assert_eq!(echo["headers"]["x-forwarded-host"], host.as_str());
        assert_eq!(echo["headers"]["x-keyport-key-id"], api.key_id.as_str());
    }
    // The whole path is the API's: a slug in it is just part of the path.
    let echo = json_of(at("pets.example.test".into(), "/pets/v1").await).await;
    assert_eq!(echo["path"], "/base/pets/v1");
    // The key is still needed, and a non-canonical path is refused.
    let res = client()
        .get(url(&app, "/v1/dogs"))
        .header("host", "pets.example.test")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(res).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("MISSING_KEY")));
    let (status, body) = problem(at("pets.example.test".into(), "/v1/%2F/admin").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("URI_NOT_CANONICAL"))
    );
    // Elsewhere, the slug routes as ever.
    let echo = json_of(get_with_key(&app, "/pets/v1/dogs", &api.key).await).await;
    assert_eq!(echo["path"], "/base/v1/dogs");
    let (status, body) = problem(at("cats.example.test".into(), "/v1/dogs").await).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("UNKNOWN_API")));

    // The API page shows the address at the host name (the gateway's public URL is
    // http://gateway.test/ here).
    let page = api.developer.call("api_detail", &[("slug", "pets")]).await;
    assert_eq!(page.ok()["gateway_url"], "http://pets.example.test");
    assert_eq!(
        crate::helpers::edit_view(&api.publisher, "pets").await["gateway_host"],
        "pets.example.test"
    );

    // One API per host name; not the gateway's own; a plain DNS name.
    let (p, _) = app
        .signed_in("other-pub@example.com", Role::Publisher)
        .await;
    let save = |host: &'static str| {
        let (p, base) = (&p, base.clone());
        async move {
            let fields = [("upstream_url", base.as_str()), ("gateway_host", host)];
            save_api(p, "", "cats", &fields).await
        }
    };
    for (host, says) in [
        ("pets.example.test", "Another API"),
        ("Gateway.test", "the gateway's own host name"),
        ("https://cats.example.test", "only a host name"),
        ("cats.example.test:8080", "only a host name"),
    ] {
        let saved = save(host).await;
        assert_eq!(saved.status, 422, "{host}: {}", saved.body);
        assert!(
            saved.field("gateway_host")[0].contains(says),
            "{host}: {}",
            saved.body
        );
    }
    assert_eq!(save("cats.example.test").await.ok().as_str(), Some("cats"));

    // A new host name for pets: the old one no longer routes to it.
    let fields = [
        ("upstream_url", base.as_str()),
        ("gateway_host", "dogs.example.test"),
    ];
    let saved = save_api(&api.publisher, &api.api_id, "pets", &fields).await;
    assert_eq!(saved.ok().as_str(), Some("pets"));
    app.settle().await;
    let echo = json_of(at("dogs.example.test".into(), "/v1").await).await;
    assert_eq!(echo["path"], "/base/v1");
    let (status, body) = problem(at("pets.example.test".into(), "/v1").await).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("UNKNOWN_API")));
}

/// A client speaking HTTP/2 with prior knowledge (h2c) is served on the same listener as
/// HTTP/1.1 ones, and a gRPC client reaches a real gRPC server (tonic's health service)
/// at its API's host name: unary and streaming calls, trailers and all. The gateway's
/// refusals of gRPC calls are gRPC statuses the client reads, not problem documents.
async fn http2_clients_and_grpc_pass_through(app: TestApp) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

    // Plain HTTP/2 to an HTTP/1.1 upstream: converted, with `TE: trailers` passed on.
    let up = upstream().await;
    let echo = proxied_api_with(
        &app,
        "pets",
        &[("upstream_url", &format!("http://{up}/base"))],
    )
    .await;
    let h2 = h2_client();
    let res = h2
        .get(url(&app, "/pets/v1/dogs"))
        .header("x-api-key", &echo.key)
        .header("te", "trailers")
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["via"], "1.1 keyport");
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["version"], "HTTP/1.1");
    assert_eq!(seen["path"], "/base/v1/dogs");
    assert_eq!(seen["headers"]["te"], "trailers");
    assert_eq!(seen["headers"]["via"], "2 keyport");
    assert_eq!(seen["headers"]["x-forwarded-host"], app.gateway.to_string());
    assert!(seen["headers"].get("x-api-key").is_none());
    // An HTTP/2 client's refusal is still a problem document.
    let (status, body) = problem(h2.get(url(&app, "/pets/v1")).send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("MISSING_KEY")));

    // A real gRPC server behind an API that asks for HTTP/2, at its own host name.
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("pets.Pets", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_at = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let api = proxied_api_with(
        &app,
        "health",
        &[
            ("upstream_url", &format!("http://{grpc_at}")),
            ("upstream_protocol", "http2"),
            ("gateway_host", "health.grpc.test"),
        ],
    )
    .await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.gateway))
        .unwrap()
        .origin("http://health.grpc.test".parse().unwrap())
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let ask = |key: Option<&str>, service: &str| {
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: service.into(),
        });
        if let Some(key) = key {
            req.metadata_mut().insert("x-api-key", key.parse().unwrap());
        }
        req
    };
    let serving = health
        .check(ask(Some(&api.key), "pets.Pets"))
        .await
        .expect("a gRPC call through the gateway");
    assert_eq!(serving.get_ref().status, ServingStatus::Serving as i32);
    // The server's own statuses pass as they are (here NOT_FOUND, in its trailers).
    let unknown = health
        .check(ask(Some(&api.key), "cats.Cats"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert!(unknown.metadata().get("x-keyport-code").is_none());
    // A server-streaming call: each message as the server sends it.
    let mut watch = health
        .watch(ask(Some(&api.key), "pets.Pets"))
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    reporter
        .set_service_status("pets.Pets", tonic_health::ServingStatus::NotServing)
        .await;
    let next = watch.message().await.unwrap().unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);

    // The gateway's refusals, read by the gRPC client as statuses.
    let missing = health.check(ask(None, "pets.Pets")).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated);
    assert!(missing.message().contains("X-Api-Key"), "{missing:?}");
    assert_eq!(
        missing.metadata().get("x-keyport-code").unwrap(),
        "MISSING_KEY"
    );
    let made_up = health
        .check(ask(Some("kp_live_made_up"), "pets.Pets"))
        .await
        .unwrap_err();
    assert_eq!(made_up.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        made_up.metadata().get("x-keyport-code").unwrap(),
        "MALFORMED"
    );
    // The plan's limit (10 a second, burst 5).
    let mut limited = None;
    for _ in 0..40 {
        if let Err(status) = health.check(ask(Some(&api.key), "pets.Pets")).await {
            limited = Some(status);
            break;
        }
    }
    let limited = limited.expect("the plan's rate limit refuses within 40 calls");
    assert_eq!(limited.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        limited.metadata().get("x-keyport-code").unwrap(),
        "RATE_LIMITED"
    );
    assert!(limited.metadata().get("retry-after").is_some());
    // An upstream that is gone: UNAVAILABLE.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_at = gone.local_addr().unwrap();
    drop(gone);
    let saved = save_api(
        &api.publisher,
        &api.api_id,
        "health",
        &[
            ("upstream_url", &format!("http://{gone_at}")),
            ("upstream_protocol", "http2"),
            ("gateway_host", "health.grpc.test"),
        ],
    )
    .await;
    assert_eq!(saved.ok().as_str(), Some("health"));
    app.settle().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the limit's window
    let unreachable = health
        .check(ask(Some(&api.key), "pets.Pets"))
        .await
        .unwrap_err();
    assert_eq!(unreachable.code(), tonic::Code::Unavailable);
    assert_eq!(
        unreachable.metadata().get("x-keyport-code").unwrap(),
        "UPSTREAM_UNREACHABLE"
    );
}
