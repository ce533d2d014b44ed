//! OpenID Connect sign-in against a real, OpenID Certified provider — panva's
//! `oidc-provider` (end2end/oidc/standard-provider.mjs, run with node) — configured the
//! ways providers usually are: profile and role claims released by userinfo only or in the
//! ID token too, RS256 or ES256 signing keys, an issuer URL with a path. The browser's part
//! (the provider's login and consent pages) is played with a cookie-keeping HTTP client.

use crate::backends;
use crate::helpers::{spawn_app_with, Backend, Client, TestApp};
use app::platform::state::{OidcProviderConfig, Secret};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the provider is configured (see the script's header for each setting).
#[derive(Debug, Clone, Copy)]
struct Setup {
    signing_alg: &'static str,
    claims_in: &'static str,
    userinfo: &'static str,
    groups_as: &'static str,
}

const ISSUER_PATH: &str = "/idp/tenant-a";

/// A running `oidc-provider`; the node process ends with it.
pub struct RealIdp {
    pub issuer: String,
    child: Child,
    /// Kept open: the script exits when it closes.
    stdin: ChildStdin,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for RealIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealIdp {
    /// The next handshake line (`keyport-test-idp <rest>`) from the script.
    async fn line(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(30), self.lines.recv()).await {
            Ok(Some(line)) => line,
            _ => panic!(
                "oidc-provider did not start; its stderr:\n{}",
                self.stderr.lock().unwrap()
            ),
        }
    }
}

/// Each test starts its own provider from the backend it runs on.
pub async fn backend(backend: Backend) -> Backend {
    backend
}

/// A Keyport whose provider `std` is a fresh `oidc-provider` set up as `setup` says.
async fn start(backend: Backend, setup: Setup) -> (TestApp, RealIdp) {
    let end2end = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../end2end");
    assert!(
        end2end.join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is not installed: run `cd end2end && npm ci` (or `bash .ci/setup`)"
    );
    let mut child = Command::new("node")
        .arg(end2end.join("oidc/standard-provider.mjs"))
        .current_dir(&end2end)
        .env("OIDC_ISSUER_PATH", ISSUER_PATH)
        .env("OIDC_SIGNING_ALG", setup.signing_alg)
        .env("OIDC_CLAIMS_IN", setup.claims_in)
        .env("OIDC_USERINFO", setup.userinfo)
        .env("OIDC_GROUPS_AS", setup.groups_as)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (Node 20) on PATH");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("keyport-test-idp ") {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr_pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut idp = RealIdp {
        issuer: String::new(),
        child,
        stdin,
        lines,
        stderr,
    };
    let first = idp.line().await;
    idp.issuer = first
        .strip_prefix("issuer=")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    assert!(idp.issuer.ends_with(ISSUER_PATH), "{}", idp.issuer);

    let issuer = idp.issuer.clone();
    let app = spawn_app_with(backend, move |c| {
        c.oidc_providers = vec![OidcProviderConfig {
            id: "std".into(),
            label: "Standard IdP".into(),
            issuer,
            client_id: "keyport".into(),
            client_secret: Secret::new("keyport-test-secret".into()),
            scopes: vec![
                "openid".into(),
                "email".into(),
                "profile".into(),
                "groups".into(),
            ],
            role_claim: "groups".into(),
            admin_values: vec!["keyport-admins".into()],
            publisher_values: vec!["keyport-publishers".into()],
        }];
    })
    .await;
    writeln!(idp.stdin, "{}", redirect_uri(&app)).unwrap();
    idp.stdin.flush().unwrap();
    assert_eq!(idp.line().await, "ready");

    // Ready means answering discovery at the issuer's path.
    let discovery = format!("{}/.well-known/openid-configuration", idp.issuer);
    let metadata: Value = reqwest::get(&discovery)
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], idp.issuer.as_str());
    (app, idp)
}

/// The redirect URI Keyport sends (from its configured base URL, not the test port).
fn redirect_uri(app: &TestApp) -> String {
    format!("{}/auth/oidc/std/callback", app.state.config.base_url())
}

fn location(res: &reqwest::Response) -> reqwest::Url {
    let to = res.headers()["location"].to_str().unwrap();
    res.url().join(to).unwrap()
}

/// The first `<form action>` of a devInteractions page, and its hidden `prompt` value.
fn form_of(page: &str) -> (String, String) {
    let attr = |from: &str, name: &str| -> String {
        let start = from.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        let len = from[start..].find('"').unwrap();
        from[start..start + len].replace("&amp;", "&")
    };
    let form = &page[page.find("<form").expect("a form on the provider's page")..];
    let action = attr(form, "action");
    let prompt = &form[form.find("name=\"prompt\"").expect("a prompt field")..];
    (action, attr(prompt, "value"))
}

/// Signs in as `login` at the provider (login page, then consent page) and returns where
/// Keyport's callback sends the browser.
async fn sign_in_at_provider(c: &Client, app: &TestApp, idp: &RealIdp, login: &str) -> String {
    let res = c.get("/auth/oidc/std/start").await;
    assert_eq!(res.status(), 303, "start redirects to the provider");
    let mut url = location(&res);
    assert!(url.as_str().starts_with(&idp.issuer), "{url}");
    let callback = redirect_uri(app);
    let mut pages = Vec::new();
    while !url.as_str().starts_with(&callback) {
        assert!(pages.len() < 12, "no way back to Keyport: {pages:?}");
        pages.push(url.to_string());
        let res = c.http.get(url.clone()).send().await.unwrap();
        if res.status().is_redirection() {
            url = location(&res);
            continue;
        }
        let status = res.status();
        let page = res.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {page}");
        let (action, prompt) = form_of(&page);
        let fields: Vec<(&str, &str)> = match prompt.as_str() {
            "login" => vec![
                ("prompt", "login"),
                ("login", login),
                ("password", "any password"),
            ],
            "consent" => vec![("prompt", "consent")],
            other => panic!("unexpected prompt {other:?} at {url}"),
        };
        let res = c
            .http
            .post(url.join(&action).unwrap())
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{prompt} at {url}");
        url = location(&res);
    }
    let query = url.query().unwrap_or_default();
    assert!(query.contains("code="), "{url}");
    let res = c.get(&format!("{}?{query}", url.path())).await;
    assert_eq!(res.status(), 303, "the callback always redirects");
    res.headers()["location"].to_str().unwrap().to_string()
}

/// Why the last sign-in was refused (the audit log's `reason`), for failure messages.
async fn last_refusal(app: &TestApp) -> String {
    app.audit("auth.sign_in")
        .await
        .first()
        .map(|e| e.details.clone())
        .unwrap_or_default()
}

async fn signs_in(app: &TestApp, idp: &RealIdp, login: &str) -> Value {
    let c = app.client();
    let to = sign_in_at_provider(&c, app, idp, login).await;
    assert_eq!(to, "/dashboard", "{login}: {}", last_refusal(app).await);
    c.whoami().await
}

backends!(setup = crate::oidc_provider::backend;
    claims_only_from_userinfo_sign_in_with_email_name_and_a_space_separated_role,
    claims_in_an_es256_id_token_sign_in,
    a_provider_without_userinfo_is_read_from_the_id_token,
    a_signed_userinfo_answer_is_verified_and_used,
);

/// oidc-provider's defaults (`conformIdTokenClaims: true`): the ID token carries `sub`
/// only, email, name and groups come from userinfo; groups as one space-separated string.
async fn claims_only_from_userinfo_sign_in_with_email_name_and_a_space_separated_role(
    backend: Backend,
) {
    let (app, idp) = start(
        backend,
        Setup {
            signing_alg: "RS256",
            claims_in: "userinfo",
            userinfo: "json",
            groups_as: "string",
        },
    )
    .await;
    let alice = signs_in(&app, &idp, "alice").await;
    assert_eq!(alice["email"], "alice@idp.example.org");
    assert_eq!(alice["display_name"], "Alice");
    assert_eq!(
        alice["role"], "admin",
        "\"keyport-admins staff\" holds keyport-admins"
    );
    let ids = app::auth::oidc::store::list_for_user(&app.state.db, alice["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (ids[0].issuer.as_str(), ids[0].subject.as_str()),
        (idp.issuer.as_str(), "alice"),
        "keyed by the issuer with its path"
    );
    let paul = signs_in(&app, &idp, "paul").await;
    assert_eq!(paul["role"], "publisher");
    let bob = signs_in(&app, &idp, "bob").await;
    assert_eq!(bob["email"], "bob@idp.example.org");
    assert_eq!(bob["role"], "developer");
    // Returning: the same subject is the same user.
    assert_eq!(signs_in(&app, &idp, "alice").await["id"], alice["id"]);
}

/// `conformIdTokenClaims: false`: the claims are in the ES256-signed ID token (and userinfo).
async fn claims_in_an_es256_id_token_sign_in(backend: Backend) {
    let (app, idp) = start(
        backend,
        Setup {
            signing_alg: "ES256",
            claims_in: "id_token",
            userinfo: "json",
            groups_as: "list",
        },
    )
    .await;
    let alice = signs_in(&app, &idp, "alice").await;
    assert_eq!(alice["email"], "alice@idp.example.org");
    assert_eq!(alice["display_name"], "Alice");
    assert_eq!(alice["role"], "admin");
    let paul = signs_in(&app, &idp, "paul").await;
    assert_eq!(paul["role"], "publisher");
}

/// No userinfo endpoint at all: the ID token alone decides.
async fn a_provider_without_userinfo_is_read_from_the_id_token(backend: Backend) {
    let (app, idp) = start(
        backend,
        Setup {
            signing_alg: "ES256",
            claims_in: "id_token",
            userinfo: "off",
            groups_as: "string",
        },
    )
    .await;
    let alice = signs_in(&app, &idp, "alice").await;
    assert_eq!(alice["email"], "alice@idp.example.org");
    assert_eq!(alice["role"], "admin");
}

/// Userinfo answered as a JWT signed by the provider (`userinfo_signed_response_alg`).
async fn a_signed_userinfo_answer_is_verified_and_used(backend: Backend) {
    let (app, idp) = start(
        backend,
        Setup {
            signing_alg: "RS256",
            claims_in: "userinfo",
            userinfo: "jwt",
            groups_as: "list",
        },
    )
    .await;
    let alice = signs_in(&app, &idp, "alice").await;
    assert_eq!(alice["email"], "alice@idp.example.org");
    assert_eq!(alice["display_name"], "Alice");
    assert_eq!(alice["role"], "admin");
}
