//! OpenID Connect sign-in against a tiny provider served by the test itself (discovery,
//! JWKS, authorize, token, userinfo), which signs ID tokens with a test RSA key — or
//! forges them. Standard providers configured the usual ways are in `oidc_provider`.

use crate::backends;
use crate::helpers::{spawn_app_with, Backend, Client, TestApp};
use app::domain::Role;
use app::platform::state::{OidcProviderConfig, Secret};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const KEY_PEM: &str = include_str!("oidc_test_key.pem");
const CLIENT_ID: &str = "keyport";

/// How the next ID token is signed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Signing {
    #[default]
    Rs256,
    /// `alg: none`, no signature.
    None,
    /// HS256 with the provider's public key (PEM) as the HMAC secret.
    Hs256WithPublicKey,
    /// RS256 header, signature with a flipped byte.
    Corrupted,
}

/// How the userinfo endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum UserInfoMode {
    #[default]
    Json,
    /// `application/jwt`, signed like an ID token (with `iss` and `aud`).
    Jwt(Signing),
    /// 500, as a provider in trouble does.
    Error,
}

struct Grant {
    nonce: String,
    challenge: String,
}

#[derive(Default)]
struct Recorded {
    down: bool,
    grants: HashMap<String, Grant>,
    /// Merged over the default claims of the next ID tokens (`null` removes a claim).
    claims: serde_json::Map<String, Value>,
    signing: Signing,
    authorize: Vec<HashMap<String, String>>,
    token: Vec<HashMap<String, String>>,
    /// Access tokens issued, and the subject each is for.
    access: HashMap<String, String>,
    /// Merged over `{"sub": <the access token's subject>}` in userinfo answers.
    userinfo: serde_json::Map<String, Value>,
    userinfo_mode: UserInfoMode,
    /// The `Authorization` header of each userinfo request.
    userinfo_calls: Vec<String>,
}

#[derive(Clone)]
pub struct Idp {
    pub issuer: String,
    key: Arc<RsaPrivateKey>,
    state: Arc<Mutex<Recorded>>,
}

impl Idp {
    async fn start() -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let idp = Idp {
            issuer: format!("http://{}", listener.local_addr().unwrap()),
            key: Arc::new(RsaPrivateKey::from_pkcs8_pem(KEY_PEM).unwrap()),
            state: Arc::default(),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(idp.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        idp
    }

    fn set_claims(&self, claims: Value) {
        let mut s = self.state.lock().unwrap();
        s.claims = claims.as_object().unwrap().clone();
    }

    fn set_userinfo(&self, claims: Value, mode: UserInfoMode) {
        let mut s = self.state.lock().unwrap();
        s.userinfo = claims.as_object().unwrap().clone();
        s.userinfo_mode = mode;
    }

    fn userinfo_calls(&self) -> Vec<String> {
        self.state.lock().unwrap().userinfo_calls.clone()
    }

    fn set_signing(&self, signing: Signing) {
        self.state.lock().unwrap().signing = signing;
    }

    fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    fn last_authorize(&self) -> HashMap<String, String> {
        self.state.lock().unwrap().authorize.last().unwrap().clone()
    }

    fn last_token(&self) -> HashMap<String, String> {
        self.state.lock().unwrap().token.last().unwrap().clone()
    }

    fn sign(&self, claims: &Value, signing: Signing) -> String {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let header = match signing {
            Signing::None => json!({ "alg": "none", "typ": "JWT" }),
            Signing::Hs256WithPublicKey => json!({ "alg": "HS256", "typ": "JWT", "kid": "k1" }),
            Signing::Rs256 | Signing::Corrupted => {
                json!({ "alg": "RS256", "typ": "JWT", "kid": "k1" })
            }
        };
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rs256 = || {
            rsa::pkcs1v15::SigningKey::<Sha256>::new((*self.key).clone())
                .sign(input.as_bytes())
                .to_vec()
        };
        let signature = match signing {
            Signing::Rs256 => rs256(),
            Signing::Corrupted => {
                let mut s = rs256();
                s[20] ^= 0x55;
                s
            }
            Signing::None => Vec::new(),
            Signing::Hs256WithPublicKey => {
                use hmac::Mac;
                let pem = self
                    .key
                    .to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap();
                let mut mac = hmac::Hmac::<Sha256>::new_from_slice(pem.as_bytes()).unwrap();
                mac.update(input.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
        };
        format!("{input}.{}", b64(&signature))
    }
}

async fn discovery(State(idp): State<Idp>) -> Response {
    if idp.state.lock().unwrap().down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let i = &idp.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        // Advertised on purpose: Keyport must refuse them anyway.
        "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

async fn jwks(State(idp): State<Idp>) -> Json<Value> {
    let b64 = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
    Json(json!({ "keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
        "n": b64(idp.key.n().to_bytes_be()),
        "e": b64(idp.key.e().to_bytes_be()),
    }]}))
}

/// Signs the user in at once (no login page) and sends the browser back with a code.
async fn authorize(State(idp): State<Idp>, Query(q): Query<HashMap<String, String>>) -> Redirect {
    let code = uuid::Uuid::new_v4().simple().to_string();
    let mut s = idp.state.lock().unwrap();
    s.authorize.push(q.clone());
    s.grants.insert(
        code.clone(),
        Grant {
            nonce: q.get("nonce").cloned().unwrap_or_default(),
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
        },
    );
    let mut back = reqwest::Url::parse(&q["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"])
        .append_pair("iss", &idp.issuer);
    Redirect::to(back.as_str())
}

/// Redeems a code once, checking PKCE S256, and answers with a (possibly forged) ID token.
async fn token(State(idp): State<Idp>, Form(form): Form<HashMap<String, String>>) -> Response {
    let (grant, claims, signing) = {
        let mut s = idp.state.lock().unwrap();
        s.token.push(form.clone());
        let grant = s.grants.remove(form.get("code").map_or("", String::as_str));
        (grant, s.claims.clone(), s.signing)
    };
    let invalid = || {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        )
    };
    let Some(grant) = grant else {
        return invalid().into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return invalid().into_response();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut all = json!({
        "iss": idp.issuer, "sub": "alice-sub", "aud": CLIENT_ID,
        "iat": now, "exp": now + 300, "nonce": grant.nonce,
        "email": "alice@corp.example", "email_verified": true, "name": "Alice",
    });
    let obj = all.as_object_mut().unwrap();
    for (k, v) in claims {
        if v.is_null() {
            obj.remove(&k);
        } else {
            obj.insert(k, v);
        }
    }
    let access_token = format!("at-{}", uuid::Uuid::new_v4().simple());
    idp.state.lock().unwrap().access.insert(
        access_token.clone(),
        all["sub"].as_str().unwrap().to_string(),
    );
    Json(json!({
        "access_token": access_token, "token_type": "Bearer", "expires_in": 300,
        "id_token": idp.sign(&all, signing),
    }))
    .into_response()
}

/// Answers for the bearer of an access token: its subject, with the configured claims over.
async fn userinfo(State(idp): State<Idp>, headers: HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (subject, overrides, mode) = {
        let mut s = idp.state.lock().unwrap();
        s.userinfo_calls.push(authorization.clone());
        let subject = authorization
            .strip_prefix("Bearer ")
            .and_then(|token| s.access.get(token).cloned());
        (subject, s.userinfo.clone(), s.userinfo_mode)
    };
    let Some(subject) = subject else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    };
    let mut claims = json!({ "sub": subject });
    let obj = claims.as_object_mut().unwrap();
    for (k, v) in overrides {
        if v.is_null() {
            obj.remove(&k);
        } else {
            obj.insert(k, v);
        }
    }
    match mode {
        UserInfoMode::Json => Json(claims).into_response(),
        UserInfoMode::Jwt(signing) => {
            let obj = claims.as_object_mut().unwrap();
            obj.entry("iss").or_insert(json!(idp.issuer));
            obj.entry("aud").or_insert(json!(CLIENT_ID));
            (
                [(header::CONTENT_TYPE, "application/jwt")],
                idp.sign(&claims, signing),
            )
                .into_response()
        }
        UserInfoMode::Error => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A Keyport with provider `test` pointing at a fresh test provider.
pub async fn setup(backend: Backend) -> (TestApp, Idp) {
    let idp = Idp::start().await;
    let issuer = idp.issuer.clone();
    let app = spawn_app_with(backend, move |c| {
        c.oidc_providers = vec![OidcProviderConfig {
            id: "test".into(),
            label: "Test IdP".into(),
            issuer,
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new("keyport-secret".into()),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            role_claim: "groups".into(),
            admin_values: vec!["keyport-admins".into()],
            publisher_values: vec!["keyport-publishers".into()],
        }];
    })
    .await;
    (app, idp)
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The browser's part up to the provider's redirect back: the callback path with its query.
async fn authorize_at_idp(c: &Client, idp: &Idp, start: &str) -> String {
    let res = c.get(start).await;
    assert_eq!(res.status(), 303, "start redirects to the provider");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let to_idp = location(&res);
    assert!(to_idp.starts_with(&idp.issuer), "{to_idp}");
    let res = c.http.get(&to_idp).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = reqwest::Url::parse(&location(&res)).unwrap();
    format!("{}?{}", back.path(), back.query().unwrap())
}

/// Follows the callback; returns where Keyport sends the browser.
async fn callback(c: &Client, path_and_query: &str) -> String {
    let res = c.get(path_and_query).await;
    assert_eq!(res.status(), 303, "the callback always redirects");
    location(&res)
}

async fn sign_in_via_idp(c: &Client, idp: &Idp) -> String {
    let back = authorize_at_idp(c, idp, "/auth/oidc/test/start").await;
    callback(c, &back).await
}

async fn count_users(app: &TestApp) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&app.state.db)
        .await
        .unwrap()
        .get("n")
}

async fn identities_of(app: &TestApp, user_id: &str) -> Vec<app::auth::oidc::store::IdentityRow> {
    app::auth::oidc::store::list_for_user(&app.state.db, user_id)
        .await
        .unwrap()
}

async fn set_policy(app: &TestApp, policy: &str, domains: &str) {
    let email = format!("root-{}@example.com", uuid::Uuid::new_v4().simple());
    let (admin, _, _) = app.signed_in_with_mfa(&email, Role::Admin).await;
    admin
        .call(
            "update_sso_settings",
            &[("jit_policy", policy), ("jit_domains", domains)],
        )
        .await
        .ok();
}

backends!(setup = crate::oidc::setup;
    first_sign_in_provisions_a_user_with_the_mapped_role,
    pkce_s256_state_and_nonce_are_sent_and_checked,
    a_returning_user_is_found_by_issuer_and_subject_not_email,
    a_state_mismatch_is_refused,
    a_callback_without_state_is_refused,
    a_replayed_callback_is_refused,
    forged_or_invalid_id_tokens_are_refused,
    a_provider_error_gives_a_clear_message,
    jit_policy_allow_domains_and_existing,
    an_existing_local_email_is_not_linked_automatically,
    link_and_unlink_an_identity,
    unlink_never_removes_the_last_way_in,
    the_role_follows_the_claim_at_each_sign_in,
    disabled_users_are_refused,
    a_provider_that_is_down_is_retried_later,
    the_sign_in_page_shows_providers_and_messages,
    an_idp_sign_in_of_an_mfa_account_still_asks_for_the_code,
    userinfo_about_another_subject_is_refused_never_merged,
    userinfo_claims_complete_what_the_id_token_leaves_out,
    a_failing_or_forged_userinfo_answer_stops_the_sign_in,
    next_never_leaves_the_portal_through_an_idp_sign_in,
);

/// Every variant browsers would turn into another host ends at the dashboard; control
/// characters are refused at the door (a 422, never a panic).
async fn next_never_leaves_the_portal_through_an_idp_sign_in((app, idp): (TestApp, Idp)) {
    for (i, next) in [
        "%2F%5Cevil.example",
        "%5C%2Fevil.example",
        "https:%2F%2Fevil.example",
        "%2F%2Fevil.example",
    ]
    .into_iter()
    .enumerate()
    {
        let c = app.client();
        idp.set_claims(json!({ "sub": format!("u{i}"), "email": format!("u{i}@corp.example") }));
        let back = authorize_at_idp(&c, &idp, &format!("/auth/oidc/test/start?next={next}")).await;
        assert_eq!(callback(&c, &back).await, "/dashboard", "{next}");
    }
    for next in [
        "%2F%09%2Fevil.example",
        "%2F%0A%2Fevil.example",
        "%2F%0D%0ASet-Cookie:x=1",
    ] {
        let res = app
            .client()
            .get(&format!("/auth/oidc/test/start?next={next}"))
            .await;
        assert_eq!(res.status(), 422, "{next}");
    }
}

async fn first_sign_in_provisions_a_user_with_the_mapped_role((app, idp): (TestApp, Idp)) {
    idp.set_claims(json!({ "groups": ["staff", "keyport-publishers"] }));
    let c = app.client();
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start?next=/account").await;
    assert_eq!(callback(&c, &back).await, "/account");
    let me = c.whoami().await;
    assert_eq!(me["email"], "alice@corp.example");
    assert_eq!(me["display_name"], "Alice");
    assert_eq!(me["role"], "publisher");
    let ids = identities_of(&app, me["id"].as_str().unwrap()).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(
        (ids[0].issuer.as_str(), ids[0].subject.as_str()),
        (idp.issuer.as_str(), "alice-sub")
    );
    let sign_up = app.audit("auth.sign_up").await;
    assert_eq!(sign_up.len(), 1);
    assert!(sign_up[0].details.contains("\"method\":\"oidc\""));
    let sign_in = app.audit("auth.sign_in").await;
    assert_eq!(sign_in[0].outcome, "success");
    assert!(sign_in[0].details.contains("oidc"));
    // An open redirect is not followed.
    let other = app.client();
    idp.set_claims(json!({ "sub": "bob-sub", "email": "bob@corp.example" }));
    let back = authorize_at_idp(&other, &idp, "/auth/oidc/test/start?next=//evil.example").await;
    assert_eq!(callback(&other, &back).await, "/dashboard");
}

async fn pkce_s256_state_and_nonce_are_sent_and_checked((app, idp): (TestApp, Idp)) {
    let c = app.client();
    sign_in_via_idp(&c, &idp).await;
    let auth = idp.last_authorize();
    assert_eq!(auth["code_challenge_method"], "S256");
    assert_eq!(auth["response_type"], "code");
    assert_eq!(auth["client_id"], CLIENT_ID);
    assert!(auth["state"].len() >= 16 && auth["nonce"].len() >= 16);
    let scopes: Vec<&str> = auth["scope"].split(' ').collect();
    assert!(scopes.contains(&"openid") && scopes.contains(&"email") && scopes.contains(&"profile"));
    let token = idp.last_token();
    assert_eq!(token["grant_type"], "authorization_code");
    let verifier = &token["code_verifier"];
    assert!(verifier.len() >= 43, "RFC 7636 verifier length");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        auth["code_challenge"],
        "the verifier sent to the token endpoint matches the S256 challenge"
    );
    assert_eq!(c.whoami().await["email"], "alice@corp.example");
    // Every round trip gets its own state, nonce and challenge.
    let again = app.client();
    sign_in_via_idp(&again, &idp).await;
    let second = idp.last_authorize();
    for k in ["state", "nonce", "code_challenge"] {
        assert_ne!(auth[k], second[k], "{k} is fresh");
    }
}

async fn a_returning_user_is_found_by_issuer_and_subject_not_email((app, idp): (TestApp, Idp)) {
    let first = app.client();
    sign_in_via_idp(&first, &idp).await;
    let id = first.whoami().await["id"].clone();
    idp.set_claims(json!({ "email": "alice.renamed@corp.example" }));
    let second = app.client();
    assert_eq!(sign_in_via_idp(&second, &idp).await, "/dashboard");
    assert_eq!(
        second.whoami().await["id"],
        id,
        "same (issuer, subject), same user"
    );
    assert_eq!(count_users(&app).await, 1);
    let ids = identities_of(&app, id.as_str().unwrap()).await;
    assert_eq!(ids[0].email.as_deref(), Some("alice.renamed@corp.example"));
    // Another subject with the first user's email is not that user.
    idp.set_claims(json!({ "sub": "mallory-sub", "email": "alice@corp.example" }));
    let third = app.client();
    assert_eq!(
        sign_in_via_idp(&third, &idp).await,
        "/sign-in?error=oidc_account_exists"
    );
    assert_eq!(third.whoami().await, Value::Null);
}

async fn a_state_mismatch_is_refused((app, idp): (TestApp, Idp)) {
    let c = app.client();
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start").await;
    let tampered = back.replace("state=", "state=x");
    assert_eq!(callback(&c, &tampered).await, "/sign-in?error=oidc_state");
    assert_eq!(c.whoami().await, Value::Null);
    // The real state was used up by the failed attempt.
    assert_eq!(callback(&c, &back).await, "/sign-in?error=oidc_state");
    assert_eq!(count_users(&app).await, 0);
    assert!(
        idp.state.lock().unwrap().token.is_empty(),
        "no code was exchanged"
    );
    let failures = app.audit("auth.sign_in").await;
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().all(|e| e.outcome == "failure"));
    assert!(
        failures[1].details.contains("state mismatch"),
        "{}",
        failures[1].details
    );
    // A browser that never started (login CSRF: an attacker's callback link) is refused too.
    let victim = app.client();
    let back = authorize_at_idp(&app.client(), &idp, "/auth/oidc/test/start").await;
    assert_eq!(callback(&victim, &back).await, "/sign-in?error=oidc_state");
}

async fn a_callback_without_state_is_refused((app, idp): (TestApp, Idp)) {
    let c = app.client();
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start").await;
    let code = reqwest::Url::parse(&format!("http://x{back}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let without = format!("/auth/oidc/test/callback?code={code}");
    assert_eq!(callback(&c, &without).await, "/sign-in?error=oidc_state");
    assert_eq!(c.whoami().await, Value::Null);
    assert_eq!(
        callback(&c, "/auth/oidc/test/callback").await,
        "/sign-in?error=oidc_state"
    );
}

async fn a_replayed_callback_is_refused((app, idp): (TestApp, Idp)) {
    let c = app.client();
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start").await;
    assert_eq!(callback(&c, &back).await, "/dashboard");
    let cookie = c.cookies().unwrap();
    // The same browser (now signed in) and a copy of its cookie both fail to replay it.
    assert_eq!(callback(&c, &back).await, "/sign-in?error=oidc_state");
    let copy = app.client_with_cookie(&cookie);
    assert_eq!(callback(&copy, &back).await, "/sign-in?error=oidc_state");
    assert_eq!(
        idp.state.lock().unwrap().token.len(),
        1,
        "the code was redeemed once"
    );
}

async fn forged_or_invalid_id_tokens_are_refused((app, idp): (TestApp, Idp)) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // (case, claims over the defaults, signing, why Keyport refuses it — from the audit log)
    let cases: Vec<(&str, Value, Signing, &str)> = vec![
        (
            "wrong nonce",
            json!({ "nonce": "not-the-one-sent" }),
            Signing::Rs256,
            "nonce mismatch",
        ),
        (
            "missing nonce",
            json!({ "nonce": null }),
            Signing::Rs256,
            "missing nonce",
        ),
        (
            "wrong issuer",
            json!({ "iss": "http://evil.example" }),
            Signing::Rs256,
            "InvalidIssuer",
        ),
        (
            "wrong audience",
            json!({ "aud": "someone-else" }),
            Signing::Rs256,
            "must contain `keyport`",
        ),
        (
            "extra untrusted audience",
            json!({ "aud": [CLIENT_ID, "someone-else"] }),
            Signing::Rs256,
            "not a trusted audience",
        ),
        (
            "expired",
            json!({ "exp": now - 60, "iat": now - 600 }),
            Signing::Rs256,
            "Expired",
        ),
        ("alg none", json!({}), Signing::None, "NoSignature"),
        (
            "HS256 signed with the public key",
            json!({}),
            Signing::Hs256WithPublicKey,
            "DisallowedAlg",
        ),
        (
            "bad signature",
            json!({}),
            Signing::Corrupted,
            "bad signature",
        ),
    ];
    for (label, claims, signing, why) in &cases {
        idp.set_claims(claims.clone());
        idp.set_signing(*signing);
        let c = app.client();
        assert_eq!(
            sign_in_via_idp(&c, &idp).await,
            "/sign-in?error=oidc_invalid_token",
            "{label}"
        );
        assert_eq!(c.whoami().await, Value::Null, "{label}");
        let refusal = &app.audit("auth.sign_in").await[0];
        assert_eq!(refusal.outcome, "failure", "{label}");
        assert!(
            refusal.details.contains(why),
            "{label}: {}",
            refusal.details
        );
    }
    assert_eq!(count_users(&app).await, 0);
    assert_eq!(app.audit("auth.sign_in").await.len(), cases.len());
    // The same provider with a sound token works: the refusals were about the tokens.
    idp.set_claims(json!({}));
    idp.set_signing(Signing::Rs256);
    assert_eq!(sign_in_via_idp(&app.client(), &idp).await, "/dashboard");
}

async fn a_provider_error_gives_a_clear_message((app, idp): (TestApp, Idp)) {
    let c = app.client();
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start").await;
    let state = back.split("state=").nth(1).unwrap().to_string();
    let denied =
        format!("/auth/oidc/test/callback?error=access_denied&error_description=no&state={state}");
    let to = callback(&c, &denied).await;
    assert_eq!(to, "/sign-in?error=oidc_denied");
    let page = c.get(&to).await.text().await.unwrap();
    assert!(
        page.contains("Sign-in was cancelled at the identity provider."),
        "{page}"
    );
    let other = callback(&c, "/auth/oidc/test/callback?error=server_error").await;
    assert_eq!(other, "/sign-in?error=oidc_provider_error");
    assert_eq!(
        callback(&c, "/auth/oidc/nope/callback?code=x&state=y").await,
        "/sign-in?error=oidc_unknown_provider"
    );
    // RFC 9207: an `iss` naming another provider (mix-up) is refused before any exchange.
    let c = app.client();
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start").await;
    let mixed_up = back.replace(
        &format!("iss={}", idp.issuer.replace(':', "%3A").replace('/', "%2F")),
        "iss=http%3A%2F%2Fevil.example",
    );
    assert_ne!(mixed_up, back);
    assert_eq!(
        callback(&c, &mixed_up).await,
        "/sign-in?error=oidc_provider_error"
    );
    let res = c.get("/auth/oidc/nope/start").await;
    assert_eq!(location(&res), "/sign-in?error=oidc_unknown_provider");
    assert_eq!(app.audit("auth.sign_in").await.len(), 4);
}

async fn jit_policy_allow_domains_and_existing((app, idp): (TestApp, Idp)) {
    set_policy(&app, "existing", "").await;
    assert_eq!(
        sign_in_via_idp(&app.client(), &idp).await,
        "/sign-in?error=oidc_not_allowed"
    );
    let denied = app.audit("auth.sign_in").await;
    assert_eq!(denied[0].outcome, "denied");

    set_policy(&app, "domains", "corp.example").await;
    assert_eq!(sign_in_via_idp(&app.client(), &idp).await, "/dashboard");
    idp.set_claims(json!({ "sub": "bob-sub", "email": "bob@other.example" }));
    assert_eq!(
        sign_in_via_idp(&app.client(), &idp).await,
        "/sign-in?error=oidc_not_allowed"
    );
    idp.set_claims(json!({ "sub": "eve-sub", "email": "eve@sub.corp.example" }));
    assert_eq!(
        sign_in_via_idp(&app.client(), &idp).await,
        "/sign-in?error=oidc_not_allowed",
        "subdomains are not listed domains"
    );
    idp.set_claims(
        json!({ "sub": "carol-sub", "email": "carol@corp.example", "email_verified": false }),
    );
    assert_eq!(
        sign_in_via_idp(&app.client(), &idp).await,
        "/sign-in?error=oidc_no_email",
        "an unverified email does not count"
    );

    // Under "existing", people who already linked still get in.
    set_policy(&app, "existing", "").await;
    idp.set_claims(json!({}));
    assert_eq!(sign_in_via_idp(&app.client(), &idp).await, "/dashboard");

    set_policy(&app, "allow", "").await;
    idp.set_claims(json!({ "sub": "bob-sub", "email": "bob@other.example" }));
    assert_eq!(sign_in_via_idp(&app.client(), &idp).await, "/dashboard");

    // The domain policy needs domains.
    let (admin, _) = app
        .signed_in("settings-admin@example.com", Role::Admin)
        .await;
    let bad = admin
        .call(
            "update_sso_settings",
            &[("jit_policy", "domains"), ("jit_domains", "")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(!bad.field("jit_domains").is_empty());
    let settings = admin.call("get_sso_settings", &[]).await;
    assert_eq!(settings.ok()["policy"], "allow");
    assert_eq!(settings.ok()["providers"][0]["id"], "test");
}

async fn an_existing_local_email_is_not_linked_automatically((app, idp): (TestApp, Idp)) {
    let local = app.user("alice@corp.example", Role::Admin).await;
    let c = app.client();
    assert_eq!(
        sign_in_via_idp(&c, &idp).await,
        "/sign-in?error=oidc_account_exists"
    );
    assert_eq!(c.whoami().await, Value::Null);
    assert!(identities_of(&app, &local).await.is_empty());
    let page = c
        .get("/sign-in?error=oidc_account_exists")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with your password, then link this provider"));
    let refusal = &app.audit("auth.sign_in").await[0];
    assert_eq!(refusal.outcome, "denied");
    assert_eq!(refusal.target_id.as_deref(), Some(local.as_str()));
}

async fn link_and_unlink_an_identity((app, idp): (TestApp, Idp)) {
    // Not signed in: linking starts nowhere.
    let anon = app.client().get("/auth/oidc/test/start?link=1").await;
    assert_eq!(location(&anon), "/account?error=oidc_sign_in_first");

    // A new way into the account needs two-factor authentication, checked recently.
    let (plain, _) = app.signed_in("plain@example.com", Role::Developer).await;
    let res = plain.get("/auth/oidc/test/start?link=1").await;
    assert_eq!(location(&res), "/account?error=oidc_mfa_first");
    let (c, me, secret) = app
        .signed_in_with_mfa("ada@example.com", Role::Developer)
        .await;
    idp.set_claims(json!({ "sub": "ada-sub", "email": "ada.at.work@corp.example" }));
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start?link=1").await;
    assert_eq!(callback(&c, &back).await, "/account?linked=test");
    assert_eq!(
        c.whoami().await["id"],
        me.as_str(),
        "still the same session user"
    );
    let methods = c.call("list_sign_in_methods", &[]).await;
    let view = methods.ok();
    assert_eq!(view["has_password"], true);
    assert_eq!(view["identities"][0]["provider"], "Test IdP");
    let identity_id = view["identities"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(app.audit("identity.link").await[0].outcome, "success");

    // The linked identity signs in as Ada.
    let elsewhere = app.client();
    assert_eq!(
        sign_in_via_idp(&elsewhere, &idp).await,
        "/sign-in/mfa?next=/dashboard",
        "Ada has MFA: her code comes next"
    );
    app.next_step();
    elsewhere
        .call(
            "complete_sign_in",
            &[("code", &app.code(&secret, "ada@example.com", 0))],
        )
        .await
        .ok();
    assert_eq!(elsewhere.whoami().await["id"], me.as_str());

    // Bob cannot link Ada's identity, nor unlink it (BOLA).
    let (bob, _, _) = app
        .signed_in_with_mfa("bob@example.com", Role::Developer)
        .await;
    let back = authorize_at_idp(&bob, &idp, "/auth/oidc/test/start?link=1").await;
    assert_eq!(
        callback(&bob, &back).await,
        "/account?error=oidc_identity_taken"
    );
    let steal = bob.call("unlink_identity", &[("id", &identity_id)]).await;
    assert_eq!(steal.status, 404);
    assert_eq!(identities_of(&app, &me).await.len(), 1);
    let page = bob
        .get("/account?error=oidc_identity_taken")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("already linked to another Keyport account"));

    // Ada has a password, so she may unlink it.
    c.call("unlink_identity", &[("id", &identity_id)])
        .await
        .ok();
    assert!(identities_of(&app, &me).await.is_empty());
    let unlinks = app.audit("identity.unlink").await;
    assert_eq!(unlinks[0].outcome, "success");
    assert_eq!(unlinks[1].outcome, "denied", "Bob's attempt is on record");
    let denied_links = app.audit("identity.link").await;
    assert_eq!(denied_links[0].outcome, "denied");

    // Once the step-up is stale, linking asks for a code first (last: the test provider's
    // tokens live in real time, the app clock jumps).
    app.clock
        .advance(app.state.config.step_up_window_secs as i64 * 1000 + 1_000);
    let res = c.get("/auth/oidc/test/start?link=1").await;
    assert_eq!(location(&res), "/account?error=oidc_step_up");
    let page = c
        .get("/account?error=oidc_step_up")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("link-step-up-code"),
        "the page asks for a code"
    );
    let confirmed = c
        .call(
            "confirm_step_up",
            &[
                ("code", &app.code(&secret, "ada@example.com", 0)),
                ("next", "/account?confirmed=1"),
            ],
        )
        .await;
    assert_eq!(confirmed.headers["location"], "/account?confirmed=1");
    let res = c.get("/auth/oidc/test/start?link=1").await;
    assert!(
        location(&res).starts_with(&idp.issuer),
        "linking may start now"
    );
}

async fn unlink_never_removes_the_last_way_in((app, idp): (TestApp, Idp)) {
    let c = app.client();
    sign_in_via_idp(&c, &idp).await;
    let me = c.whoami().await["id"].as_str().unwrap().to_string();
    let only = identities_of(&app, &me).await[0].id.clone();
    let res = c.call("unlink_identity", &[("id", &only)]).await;
    assert_eq!(res.status, 409);
    assert!(res.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("only way into your account"));
    assert_eq!(identities_of(&app, &me).await.len(), 1);

    // With a second identity linked (after turning on MFA, which linking needs), one of
    // them can go.
    let email = c.whoami().await["email"].as_str().unwrap().to_string();
    c.enrol_mfa(&app, &email).await;
    idp.set_claims(json!({ "sub": "alice-second-sub" }));
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start?link=1").await;
    assert_eq!(callback(&c, &back).await, "/account?linked=test");
    c.call("unlink_identity", &[("id", &only)]).await.ok();
    let left = identities_of(&app, &me).await;
    assert_eq!(left.len(), 1);
    let res = c.call("unlink_identity", &[("id", &left[0].id)]).await;
    assert_eq!(res.status, 409);
}

async fn the_role_follows_the_claim_at_each_sign_in((app, idp): (TestApp, Idp)) {
    app.user("root@example.com", Role::Admin).await;
    idp.set_claims(json!({ "groups": ["keyport-admins"] }));
    let c = app.client();
    sign_in_via_idp(&c, &idp).await;
    assert_eq!(c.whoami().await["role"], "admin");
    idp.set_claims(json!({ "groups": "keyport-publishers" }));
    let c = app.client();
    sign_in_via_idp(&c, &idp).await;
    assert_eq!(c.whoami().await["role"], "publisher");
    idp.set_claims(json!({ "groups": [] }));
    let c = app.client();
    sign_in_via_idp(&c, &idp).await;
    assert_eq!(c.whoami().await["role"], "developer");
    let changes = app.audit("user.role_change").await;
    assert_eq!(changes.len(), 2);
    assert!(changes[0].details.contains("\"source\":\"oidc\""));
    assert!(changes[0].details.contains("\"to\":\"developer\""));

    // The last active admin is not demoted by a claim.
    idp.set_claims(
        json!({ "sub": "solo-sub", "email": "solo@corp.example", "groups": ["keyport-admins"] }),
    );
    sign_in_via_idp(&app.client(), &idp).await;
    let root = app::auth::users::find_by_email(
        &app.state.db,
        &app::domain::Email::parse("root@example.com").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    app::auth::users::set_status(
        &app.state.db,
        &root.id,
        app::domain::UserStatus::Disabled,
        0,
    )
    .await
    .unwrap();
    idp.set_claims(json!({ "sub": "solo-sub", "email": "solo@corp.example", "groups": [] }));
    let c = app.client();
    sign_in_via_idp(&c, &idp).await;
    assert_eq!(c.whoami().await["role"], "admin");
    assert_eq!(app.audit("user.role_change").await[0].outcome, "denied");
}

async fn disabled_users_are_refused((app, idp): (TestApp, Idp)) {
    let c = app.client();
    sign_in_via_idp(&c, &idp).await;
    let me = c.whoami().await["id"].as_str().unwrap().to_string();
    app::auth::users::set_status(&app.state.db, &me, app::domain::UserStatus::Disabled, 0)
        .await
        .unwrap();
    let again = app.client();
    assert_eq!(
        sign_in_via_idp(&again, &idp).await,
        "/sign-in?error=oidc_disabled"
    );
    assert_eq!(again.whoami().await, Value::Null);
    assert_eq!(app.audit("auth.sign_in").await[0].outcome, "denied");
}

async fn a_provider_that_is_down_is_retried_later((app, idp): (TestApp, Idp)) {
    idp.set_down(true);
    let res = app.client().get("/auth/oidc/test/start").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/sign-in?error=oidc_unavailable");
    idp.set_down(false);
    assert_eq!(sign_in_via_idp(&app.client(), &idp).await, "/dashboard");
}

async fn the_sign_in_page_shows_providers_and_messages((app, _idp): (TestApp, Idp)) {
    let page = app
        .client()
        .get("/sign-in?next=/account&error=oidc_state")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with Test IdP"), "{page}");
    assert!(page.contains("/auth/oidc/test/start?next=/account"));
    assert!(page.contains("no longer valid"));
    // Unknown codes show nothing (no text from the URL reaches the page).
    let page = app
        .client()
        .get("/sign-in?error=%3Cb%3Ehi")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<b>hi"));
    let providers = app.client().call("sign_in_providers", &[]).await;
    assert_eq!(providers.ok()[0]["label"], "Test IdP");
}

async fn an_idp_sign_in_of_an_mfa_account_still_asks_for_the_code((app, idp): (TestApp, Idp)) {
    let (c, me, secret) = app
        .signed_in_with_mfa("ada@example.com", Role::Developer)
        .await;
    idp.set_claims(json!({ "sub": "ada-sub", "email": "ada@corp.example" }));
    let back = authorize_at_idp(&c, &idp, "/auth/oidc/test/start?link=1").await;
    assert_eq!(callback(&c, &back).await, "/account?linked=test");

    let laptop = app.client();
    assert_eq!(
        sign_in_via_idp(&laptop, &idp).await,
        "/sign-in/mfa?next=/dashboard"
    );
    assert_eq!(
        laptop.whoami().await,
        Value::Null,
        "the provider alone does not sign in"
    );
    app.next_step();
    laptop
        .call(
            "complete_sign_in",
            &[("code", &app.code(&secret, "ada@example.com", 0))],
        )
        .await
        .ok();
    assert_eq!(laptop.whoami().await["id"], me.as_str());
    let signins = app.audit("auth.sign_in").await;
    assert!(
        signins[0].details.contains("\"oidc+totp\""),
        "{}",
        signins[0].details
    );
}

/// Checklist 34: userinfo's claims count only when its `sub` is the ID token's.
async fn userinfo_about_another_subject_is_refused_never_merged((app, idp): (TestApp, Idp)) {
    let others = json!({
        "sub": "mallory-sub", "email": "mallory@corp.example", "email_verified": true,
        "groups": ["keyport-admins"],
    });
    for mode in [UserInfoMode::Json, UserInfoMode::Jwt(Signing::Rs256)] {
        idp.set_claims(json!({ "email": null, "groups": null }));
        idp.set_userinfo(others.clone(), mode);
        let c = app.client();
        assert_eq!(
            sign_in_via_idp(&c, &idp).await,
            "/sign-in?error=oidc_userinfo_mismatch",
            "{mode:?}"
        );
        assert_eq!(c.whoami().await, Value::Null, "{mode:?}");
        assert_eq!(count_users(&app).await, 0, "{mode:?}");
        let refusal = &app.audit("auth.sign_in").await[0];
        assert_eq!(refusal.outcome, "failure");
        assert!(
            refusal.details.contains("userinfo") && refusal.details.contains("mallory-sub"),
            "{mode:?}: {}",
            refusal.details
        );
    }
    let page = app
        .client()
        .get("/sign-in?error=oidc_userinfo_mismatch")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("about someone else"), "{page}");

    // A known user is not signed in either, nor does their role follow the other answer.
    idp.set_claims(json!({}));
    idp.set_userinfo(json!({}), UserInfoMode::Json);
    let c = app.client();
    assert_eq!(sign_in_via_idp(&c, &idp).await, "/dashboard");
    assert_eq!(c.whoami().await["role"], "developer");
    idp.set_userinfo(others, UserInfoMode::Json);
    let again = app.client();
    assert_eq!(
        sign_in_via_idp(&again, &idp).await,
        "/sign-in?error=oidc_userinfo_mismatch"
    );
    assert_eq!(again.whoami().await, Value::Null);
    assert!(app.audit("user.role_change").await.is_empty());
}

/// Providers that keep profile claims out of the ID token release them from userinfo;
/// where both say something, the ID token's word stands (email and email_verified as a
/// pair, never one from each).
async fn userinfo_claims_complete_what_the_id_token_leaves_out((app, idp): (TestApp, Idp)) {
    idp.set_claims(json!({ "email": null, "email_verified": null, "name": null }));
    idp.set_userinfo(
        json!({
            "email": "alice@corp.example", "email_verified": true,
            "name": "Alice Userinfo", "groups": "keyport-admins staff",
        }),
        UserInfoMode::Json,
    );
    let c = app.client();
    assert_eq!(sign_in_via_idp(&c, &idp).await, "/dashboard");
    let me = c.whoami().await;
    assert_eq!(me["email"], "alice@corp.example");
    assert_eq!(me["display_name"], "Alice Userinfo");
    assert_eq!(
        me["role"], "admin",
        "a space-separated string is a list of values"
    );
    let calls = idp.userinfo_calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].starts_with("Bearer at-"), "{calls:?}");

    // Both answer: the ID token's claims stand, userinfo only fills gaps.
    idp.set_claims(json!({
        "sub": "bob-sub", "email": "bob@corp.example", "groups": ["keyport-publishers"],
    }));
    idp.set_userinfo(
        json!({
            "email": "someone.else@corp.example", "email_verified": false,
            "name": "Bob Userinfo", "groups": ["keyport-admins"],
        }),
        UserInfoMode::Json,
    );
    let bob = app.client();
    assert_eq!(sign_in_via_idp(&bob, &idp).await, "/dashboard");
    let me = bob.whoami().await;
    assert_eq!(me["email"], "bob@corp.example");
    assert_eq!(me["role"], "publisher");
    assert_eq!(
        me["display_name"], "Alice",
        "the ID token's name (a default claim)"
    );

    // An unverified email from userinfo does not provision an account.
    idp.set_claims(json!({ "sub": "carol-sub", "email": null, "email_verified": null }));
    idp.set_userinfo(
        json!({ "email": "carol@corp.example", "email_verified": false }),
        UserInfoMode::Json,
    );
    assert_eq!(
        sign_in_via_idp(&app.client(), &idp).await,
        "/sign-in?error=oidc_no_email"
    );

    // A signed (JWT) userinfo answer is read the same way.
    idp.set_claims(json!({ "sub": "dave-sub", "email": null, "email_verified": null }));
    idp.set_userinfo(
        json!({ "email": "dave@corp.example", "groups": "staff keyport-publishers" }),
        UserInfoMode::Jwt(Signing::Rs256),
    );
    let dave = app.client();
    assert_eq!(sign_in_via_idp(&dave, &idp).await, "/dashboard");
    let me = dave.whoami().await;
    assert_eq!(me["email"], "dave@corp.example");
    assert_eq!(me["role"], "publisher");
}

async fn a_failing_or_forged_userinfo_answer_stops_the_sign_in((app, idp): (TestApp, Idp)) {
    let cases = [
        (
            UserInfoMode::Error,
            "/sign-in?error=oidc_provider_error",
            "500",
        ),
        (
            UserInfoMode::Jwt(Signing::Corrupted),
            "/sign-in?error=oidc_invalid_token",
            "userinfo",
        ),
        (
            UserInfoMode::Jwt(Signing::None),
            "/sign-in?error=oidc_invalid_token",
            "userinfo",
        ),
    ];
    for (mode, to, why) in cases {
        idp.set_userinfo(json!({ "groups": ["keyport-admins"] }), mode);
        let c = app.client();
        assert_eq!(sign_in_via_idp(&c, &idp).await, to, "{mode:?}");
        assert_eq!(c.whoami().await, Value::Null, "{mode:?}");
        let refusal = &app.audit("auth.sign_in").await[0];
        assert_eq!(refusal.outcome, "failure", "{mode:?}");
        assert!(
            refusal.details.contains("userinfo") && refusal.details.contains(why),
            "{mode:?}: {}",
            refusal.details
        );
    }
    assert_eq!(count_users(&app).await, 0);
}
