//! `spawn_app()`: a real Keyport on a fresh database (SQLite file or a new PostgreSQL
//! database) listening on a free port, and a cookie-keeping HTTP client.

use app::domain::{DisplayName, Email, Role};
use app::platform::state::{AppState, Clock, Config, Secret};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::net::SocketAddr;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The gateway's listener (the proxy data plane).
    pub gateway: SocketAddr,
    pub state: AppState,
    pub clock: Clock,
    _dir: tempfile::TempDir,
    pg_database: Option<(String, String)>,
}

/// Runs a test body once per backend: `backends!(name);` next to `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! backends {
    // `backends!(setup = crate::area::setup; name, …)`: `setup(backend)` builds what each
    // test receives (e.g. a Keyport wired to a test peer).
    (setup = $setup:path; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($setup($crate::helpers::Backend::Sqlite).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($setup($crate::helpers::Backend::Postgres).await).await
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await).await
                }
            }
        )*
    };
}

pub fn postgres_base() -> String {
    std::env::var("KEYPORT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// With `KEYPORT_TEST_TRACE=<file>`, every test server logs into that file (one access line
/// per request with its span, warnings and errors): for finding what a failing test's server
/// did, e.g. `KEYPORT_TEST_TRACE=/tmp/trace.log cargo test -p server --test api`.
fn trace_to_file() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let Ok(path) = std::env::var("KEYPORT_TEST_TRACE") else {
        return;
    };
    ONCE.call_once(|| {
        let file = std::fs::File::create(path).unwrap();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,sqlx=warn"))
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    });
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// `spawn_app` with a configuration tweak.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    trace_to_file();
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_database) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}/keyport.db", dir.path().display()),
            None,
        ),
        Backend::Postgres => {
            let base = postgres_base();
            let name = format!("keyport_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&base)
                .await
                .expect("PostgreSQL on 127.0.0.1:5432");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let url = match base.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => unreachable!("a PostgreSQL URL has a path"),
            };
            (url, Some((base, name)))
        }
    };
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: Secret::new(url),
        data_dir: dir.path().to_path_buf(),
        secret_key: Some(Secret::new(
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
        )),
        // The tests' upstreams listen on loopback (the refusal has tests of its own).
        gateway_allow_internal_upstreams: true,
        // How API pages name the gateway (the tests' gateway listens on a port of its own).
        gateway_public_url: Some("http://gateway.test/".into()),
        ..Config::default()
    };
    tweak(&mut config);
    let clock = Clock::default();
    let state = keyport::build_state(config, clock.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    keyport::spawn_usage_writer(&state).unwrap();
    let router = keyport::web::router(state.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = gateway_listener.local_addr().unwrap();
    tokio::spawn(keyport::gateway::serve(
        keyport::gateway::Gateway::new(state.clone()).unwrap(),
        gateway_listener,
        std::future::pending(),
    ));
    TestApp {
        addr,
        gateway,
        state,
        clock,
        _dir: dir,
        pg_database,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((base, name)) = self.pg_database.take() {
            // Dropped from a blocking thread: the test's runtime may be shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(admin) = sqlx::AnyPool::connect(&base).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub struct Client {
    pub http: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub base: String,
}

/// A server function's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> &Value {
        assert!(
            self.status < 300,
            "expected success, got {} {}",
            self.status,
            self.body
        );
        &self.body
    }

    pub fn error_kind(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    pub fn field(&self, name: &str) -> Vec<String> {
        self.body["fields"][name]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    /// The database this Keyport runs on.
    pub fn backend(&self) -> Backend {
        match self.pg_database {
            Some(_) => Backend::Postgres,
            None => Backend::Sqlite,
        }
    }

    /// Applies the change feed to this instance's view, as a write through the portal
    /// does (for tests that write to the database directly or run a job), and stores the
    /// usage events queued so far (last use, use counts, rollups).
    pub async fn settle(&self) {
        app::platform::feed::catch_up(&self.state.view, &self.state.db)
            .await
            .unwrap();
        self.state.usage.flush().await;
    }

    /// A live service token made straight in the database (as `keyport service-token
    /// create` does), in effect on this instance.
    pub async fn service_token(&self, name: &str) -> String {
        let token =
            app::admin::store::create_service_token(&self.state.db, name, None, self.clock.now())
                .await
                .unwrap()
                .1;
        self.settle().await;
        token
    }

    /// `POST /v1/keys/verify` with `token`: the status and the JSON answer.
    pub async fn verify(&self, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let res = reqwest::Client::new()
            .post(self.url("/v1/keys/verify"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The decision code for `key` calling `api`.
    pub async fn decision(&self, token: &str, key: &str, api: &str) -> String {
        let answer = self
            .verify(token, serde_json::json!({ "key": key, "api": api }))
            .await
            .1;
        answer["code"].as_str().unwrap_or_default().to_string()
    }

    /// Follows the feed in the background as a served instance does (tick, heartbeat, and
    /// on PostgreSQL the listener).
    pub fn follow_feed(&self) {
        keyport::feed::spawn(self.state.clone());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn client(&self) -> Client {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Client {
            jar: jar.clone(),
            http: reqwest::Client::builder()
                .cookie_provider(jar)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("keyport-tests/1.0")
                .build()
                .unwrap(),
            base: self.url(""),
        }
    }

    /// Creates an active user straight in the store.
    pub async fn user(&self, email: &str, role: Role) -> String {
        let hash = app::auth::password::hash_blocking(PASSWORD).unwrap();
        app::auth::users::create(
            &self.state.db,
            app::auth::users::NewUser {
                email: &Email::parse(email).unwrap(),
                display_name: &DisplayName::parse(email.split('@').next().unwrap()).unwrap(),
                password_hash: Some(&hash),
                role,
            },
            self.clock.now(),
        )
        .await
        .unwrap()
        .id
    }

    /// A client that sends exactly this `Cookie` header (to replay an old session).
    pub fn client_with_cookie(&self, cookie: &str) -> Client {
        let client = self.client();
        client
            .jar
            .add_cookie_str(cookie, &self.url("/").parse().unwrap());
        client
    }

    /// A client signed in as a new user with `role`.
    pub async fn signed_in(&self, email: &str, role: Role) -> (Client, String) {
        let id = self.user(email, role).await;
        let client = self.client();
        client.sign_in(email, PASSWORD).await.ok();
        (client, id)
    }

    /// A client signed in as a new user with `role` who has just turned on TOTP MFA (so a
    /// step-up is fresh). Returns the TOTP secret too.
    pub async fn signed_in_with_mfa(&self, email: &str, role: Role) -> (Client, String, Vec<u8>) {
        let (client, id) = self.signed_in(email, role).await;
        let secret = client.enrol_mfa(self, email).await;
        (client, id, secret)
    }

    /// The TOTP code of `secret` for the app clock's time plus `steps` 30-second steps.
    pub fn code(&self, secret: &[u8], email: &str, steps: i64) -> String {
        let at = (self.clock.now() / 1000 + steps * 30) as u64;
        app::auth::mfa::totp::totp(secret, email)
            .unwrap()
            .generate(at)
            .to_string()
    }

    /// Moves the app clock to the next TOTP step (codes are accepted once per step).
    pub fn next_step(&self) {
        self.clock.advance(30_000);
    }

    /// Audit events with `action`, newest first.
    pub async fn audit(&self, action: &str) -> Vec<app::platform::audit::EventRow> {
        let filter = app::platform::audit::Filter {
            action: Some(action.to_string()),
            ..Default::default()
        };
        app::platform::audit::list(&self.state.db, &filter, 100, 0)
            .await
            .unwrap()
            .0
    }
}

impl Client {
    /// An API's reference as the page assembles it: the outline from `api_detail`, each
    /// operation's details from `api_operation`.
    pub async fn reference_in_full(&self, slug: &str) -> Value {
        let mut reference =
            self.call("api_detail", &[("slug", slug)]).await.ok()["reference"].clone();
        for group in reference["groups"].as_array_mut().unwrap() {
            for op in group["operations"].as_array_mut().unwrap() {
                let anchor = op["anchor"].as_str().unwrap().to_string();
                let full = self
                    .call("api_operation", &[("slug", slug), ("anchor", &anchor)])
                    .await;
                *op = full.ok().clone();
            }
        }
        reference
    }

    /// Calls a server function the way the hydrated app does (form-encoded POST).
    pub async fn call(&self, name: &str, form: &[(&str, &str)]) -> Answer {
        self.call_with(name, form, &[]).await
    }

    /// Calls a `multipart/form-data` server function (a file upload form) with text fields.
    pub async fn call_multipart(&self, name: &str, fields: &[(&str, &str)]) -> Answer {
        const BOUNDARY: &str = "keyport-tests-4f9d2c1a";
        let mut body = String::new();
        for (k, v) in fields {
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        let res = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .header("Accept", "application/json")
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn call_with(
        &self,
        name: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .header("Accept", "application/json")
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Turns on MFA through the portal's own server functions; returns the secret.
    pub async fn enrol_mfa(&self, app: &TestApp, email: &str) -> Vec<u8> {
        let started = self.call("start_mfa_enrolment", &[]).await;
        let base32 = started.ok()["secret_base32"].as_str().unwrap().to_string();
        let secret = totp_rs::Secret::try_from_base32(&base32)
            .unwrap()
            .as_bytes()
            .to_vec();
        let code = app.code(&secret, email, 0);
        let codes = self.call("confirm_mfa_enrolment", &[("code", &code)]).await;
        assert_eq!(codes.ok().as_array().unwrap().len(), 10);
        secret
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Answer {
        self.call("sign_in", &[("email", email), ("password", password)])
            .await
    }

    pub async fn whoami(&self) -> Value {
        self.call("whoami", &[]).await.ok().clone()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// The `Cookie` header this client would send.
    pub fn cookies(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&self.base.parse().unwrap())
            .map(|v| v.to_str().unwrap_or_default().to_string())
    }
}

/// The messages an [`smtp_sink`] received, each its DATA.
pub type Inbox = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Waits (up to 5 s) until `inbox` holds a message that contains `needle`.
pub async fn mail_with(inbox: &Inbox, needle: &str) -> String {
    for _ in 0..100 {
        if let Some(m) = inbox.lock().unwrap().iter().find(|m| m.contains(needle)) {
            return m.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail containing {needle:?}: {:?}", inbox.lock().unwrap());
}

/// A minimal SMTP server that keeps each message's DATA.
pub async fn smtp_sink() -> (String, Inbox) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let inbox = Inbox::default();
    let kept = inbox.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let inbox = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            // Undo quoted-printable soft line breaks and `=` for the assertions.
                            let message =
                                data.take().unwrap().replace("=\n", "").replace("=3D", "=");
                            inbox.lock().unwrap().push(message);
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (url, inbox)
}

/// A Keyport that mails through a fresh [`smtp_sink`]; the sink's inbox.
pub async fn with_smtp(backend: Backend) -> (TestApp, Inbox) {
    let (url, inbox) = smtp_sink().await;
    let app = spawn_app_with(backend, |c| {
        c.smtp_url = Some(app::platform::state::Secret::new(url));
        c.smtp_from = "Keyport <portal@example.com>".into();
        c.public_url = Some("https://portal.example.com".into());
    })
    .await;
    (app, inbox)
}

// Catalog, applications, subscriptions and keys, made through the server functions as the
// pages do.

/// The API form for `slug`, with `extra` fields over its defaults.
pub fn api_form<'a>(slug: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("name", slug),
        ("slug", slug),
        ("version", "v1"),
        ("summary", "Things, as a service"),
        ("description", "# Hello"),
        ("tags", "pets, store"),
        ("upstream_url", "https://upstream.internal/v1"),
        ("visibility", "public"),
    ];
    for (k, v) in extra {
        form.retain(|(key, _)| key != k);
        form.push((k, v));
    }
    form
}

/// Creates a draft API as `c`; returns its id.
pub async fn draft(c: &Client, slug: &str, extra: &[(&str, &str)]) -> String {
    let saved = c.call("save_api", &api_form(slug, extra)).await;
    assert_eq!(saved.ok().as_str(), Some(slug));
    edit_view(c, slug).await["id"].as_str().unwrap().to_string()
}

pub async fn edit_view(c: &Client, slug: &str) -> serde_json::Value {
    c.call("api_for_edit", &[("slug", slug)]).await.ok().clone()
}

/// Adds a plan; returns its id.
pub async fn plan(c: &Client, api_id: &str, name: &str, approval: &str) -> String {
    c.call(
        "save_plan",
        &[
            ("api_id", api_id),
            ("name", name),
            ("description", ""),
            ("rate_limit", "10"),
            ("rate_period", "second"),
            ("burst", "5"),
            ("quota", "1000"),
            ("quota_period", "month"),
            ("approval", approval),
            ("scopes", "pets:read pets:write"),
            ("max_key_lifetime_days", "90"),
        ],
    )
    .await
    .ok();
    let plans = edit_view(c, &slug_of(c, api_id).await).await["plans"].clone();
    plans
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn slug_of(c: &Client, api_id: &str) -> String {
    let list = c.call("managed_apis", &[]).await.ok().clone();
    let all = list.as_array().unwrap();
    for a in all {
        let v = edit_view(c, a["slug"].as_str().unwrap()).await;
        if v["id"] == api_id {
            return a["slug"].as_str().unwrap().to_string();
        }
    }
    panic!("no API {api_id}")
}

pub async fn publish(c: &Client, api_id: &str) {
    c.call(
        "change_lifecycle",
        &[("api_id", api_id), ("lifecycle", "published")],
    )
    .await
    .ok();
}

/// A published API with one plan of `approval`, by a new publisher. Returns (publisher
/// client, api id, plan id).
pub async fn publisher_with_api(
    app: &TestApp,
    slug: &str,
    approval: &str,
) -> (Client, String, String) {
    let (p, _) = app
        .signed_in(&format!("pub-{slug}@example.com"), Role::Publisher)
        .await;
    let api = draft(&p, slug, &[]).await;
    let plan_id = plan(&p, &api, "Standard", approval).await;
    publish(&p, &api).await;
    (p, api, plan_id)
}

pub async fn new_application(c: &Client, name: &str) -> String {
    c.call("save_application", &[("name", name), ("description", "")])
        .await
        .ok()
        .as_str()
        .unwrap()
        .to_string()
}

/// A new application of `dev` subscribed to `plan_id`: (application id, subscription id).
pub async fn subscribed(dev: &Client, name: &str, plan_id: &str) -> (String, String) {
    let app_id = subscribed_application(dev, name, plan_id).await;
    let sub_id = subscription_of(dev, &app_id).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (app_id, sub_id)
}

pub async fn subscription_of(c: &Client, app_id: &str) -> serde_json::Value {
    let apps = c.call("my_applications", &[]).await.ok().clone();
    apps.as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == app_id)
        .unwrap()["subscriptions"][0]
        .clone()
}

/// Publishes an API `slug` with one automatic plan (scopes `pets:read pets:write`, keys
/// ≤ 90 days, `rate_limit` requests per second or unlimited); returns the plan's id.
pub async fn published_api(p: &Client, slug: &str, rate_limit: &str) -> String {
    p.call(
        "save_api",
        &[
            ("name", slug),
            ("slug", slug),
            ("version", "1"),
            ("summary", "x"),
            ("description", ""),
            ("tags", ""),
            ("upstream_url", "http://up.internal"),
            ("visibility", "public"),
        ],
    )
    .await
    .ok();
    let api_id = p.call("api_for_edit", &[("slug", slug)]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    p.call(
        "save_plan",
        &[
            ("api_id", &api_id),
            ("name", "Std"),
            ("description", ""),
            ("rate_limit", rate_limit),
            ("rate_period", "second"),
            ("burst", ""),
            ("quota", ""),
            ("quota_period", "day"),
            ("approval", "automatic"),
            ("scopes", "pets:read pets:write"),
            ("max_key_lifetime_days", "90"),
        ],
    )
    .await
    .ok();
    let plan_id = p.call("api_for_edit", &[("slug", slug)]).await.ok()["plans"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    p.call(
        "change_lifecycle",
        &[("api_id", &api_id), ("lifecycle", "published")],
    )
    .await
    .ok();
    plan_id
}

/// Changes the limits of the plan [`published_api`] made (same name, scopes and key
/// lifetime): its rate per `second` or `minute` (empty: none) and its quota (empty: none)
/// per `day` or `month`.
pub async fn set_plan_limits(
    p: &Client,
    (api_id, plan_id): (&str, &str),
    (rate_limit, rate_period): (&str, &str),
    (quota, period): (&str, &str),
) {
    p.call(
        "save_plan",
        &[
            ("api_id", api_id),
            ("plan_id", plan_id),
            ("name", "Std"),
            ("description", ""),
            ("rate_limit", rate_limit),
            ("rate_period", rate_period),
            ("burst", ""),
            ("quota", quota),
            ("quota_period", period),
            ("approval", "automatic"),
            ("scopes", "pets:read pets:write"),
            ("max_key_lifetime_days", "90"),
        ],
    )
    .await
    .ok();
}

/// A published API (see [`published_api`]) and a developer with MFA whose application
/// "Shop" subscribes to it. Returns (developer client, TOTP secret, application id).
pub async fn subscribed_developer(app: &TestApp, email: &str) -> (Client, Vec<u8>, String) {
    let (p, _) = app
        .signed_in(&format!("pub-{email}"), Role::Publisher)
        .await;
    let slug = format!("api-{}", email.split('@').next().unwrap());
    let plan_id = published_api(&p, &slug, "").await;
    let (dev, _, secret) = app.signed_in_with_mfa(email, Role::Developer).await;
    let app_id = subscribed_application(&dev, "Shop", &plan_id).await;
    (dev, secret, app_id)
}

/// Creates the application `name` for `dev` and subscribes it to `plan_id`; its id.
pub async fn subscribed_application(dev: &Client, name: &str, plan_id: &str) -> String {
    let app_id = new_application(dev, name).await;
    dev.call(
        "subscribe",
        &[("application_id", &app_id), ("plan_id", plan_id)],
    )
    .await
    .ok();
    app_id
}

pub async fn issue_key(
    c: &Client,
    app_id: &str,
    expires_in: &str,
    scopes: &str,
) -> crate::helpers::Answer {
    c.call(
        "issue_key",
        &[
            ("application_id", app_id),
            ("name", "CI"),
            ("environment", "live"),
            ("expires_in", expires_in),
            ("scopes", scopes),
        ],
    )
    .await
}

/// A publisher whose API `api-<name of email>` has a plan with a daily `quota` (empty:
/// none), and a developer with MFA whose application "Shop" subscribes to it and holds one
/// key "CI" for `pets:read`. Returns (publisher, developer, application id, key, key id).
pub async fn metered_key(
    app: &TestApp,
    email: &str,
    quota: &str,
) -> (Client, Client, String, String, String) {
    let (p, _) = app
        .signed_in(&format!("pub-{email}"), Role::Publisher)
        .await;
    let slug = format!("api-{}", email.split('@').next().unwrap());
    let plan_id = published_api(&p, &slug, "").await;
    let api_id = p.call("api_for_edit", &[("slug", &slug)]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    set_plan_limits(&p, (&api_id, &plan_id), ("", "second"), (quota, "day")).await;
    let (dev, _, _) = app.signed_in_with_mfa(email, Role::Developer).await;
    let app_id = subscribed_application(&dev, "Shop", &plan_id).await;
    let issued = issue_key(&dev, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    (
        p,
        dev,
        app_id,
        issued["key"].as_str().unwrap().to_string(),
        issued["view"]["id"].as_str().unwrap().to_string(),
    )
}
