//! API keys (first slice): issuing and revoking behind step-up, the plans' limits on scopes
//! and lifetime, digests only at rest, BOLA between developers, admins revoking any key.

use crate::backends;
use crate::helpers::*;
use app::domain::{ApiKey, Role};

async fn keys_of(c: &Client) -> serde_json::Value {
    c.call("my_applications", &[]).await.ok()[0]["keys"].clone()
}

backends!(
    a_key_is_shown_once_and_only_its_digest_is_kept,
    issuing_needs_step_up_and_an_active_subscription,
    scopes_and_lifetime_stay_within_the_plans,
    developers_never_touch_each_others_keys,
    revoking_needs_a_reason_and_admins_may_revoke_any_key,
    without_javascript_a_key_is_shown_in_the_answer_and_step_up_takes_a_code,
    without_javascript_other_secrets_are_refused_before_anything_is_made,
    searches_ignore_case_alike_on_both_backends_and_filters_are_checked,
);

async fn searches_ignore_case_alike_on_both_backends_and_filters_are_checked(app: TestApp) {
    let (dev, _, app_id) = subscribed_developer(&app, "devperson@example.com").await;
    // "k-1" cannot occur by chance in a key's shown characters (base62), only in names.
    for name in ["K-1 build", "deploy k-1", "other"] {
        dev.call(
            "issue_key",
            &[
                ("application_id", &app_id),
                ("name", name),
                ("environment", "test"),
                ("expires_in", "1d"),
                ("scopes", ""),
            ],
        )
        .await
        .ok();
    }
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    for search in ["K-1", "k-1", " k-1 "] {
        let page = admin.call("all_keys", &[("search", search)]).await;
        assert_eq!(page.ok()["total"], 2, "{search:?}");
    }
    assert_eq!(
        admin.call("all_keys", &[("search", "SHOP")]).await.ok()["total"],
        3
    );
    assert_eq!(
        admin
            .call("all_keys", &[("search", "DEVPERSON@")])
            .await
            .ok()["total"],
        3
    );
    assert_eq!(
        admin.call("list_users", &[("q", "ADMIN@")]).await.ok()["total"],
        1
    );
    assert_eq!(
        dev.call("catalog", &[("q", "API-DEVPERSON")]).await.ok()["total"],
        1
    );
    assert_eq!(
        dev.call("catalog", &[("q", "Api-DevPerson")]).await.ok()["total"],
        1
    );
    // `%` and `_` are literal.
    assert_eq!(
        admin.call("all_keys", &[("search", "%")]).await.ok()["total"],
        0
    );
    // Unknown filter values are refused, not ignored.
    let bogus = admin.call("all_keys", &[("state", "bogus")]).await;
    assert_eq!(bogus.status, 422);
    assert!(!bogus.field("state").is_empty());
    let bogus = admin.call("approval_queue", &[("state", "bogus")]).await;
    assert_eq!(bogus.status, 422);
}

/// Posts `form` to a server function as a browser without JavaScript does (an HTML form
/// from `page`).
async fn form_post(c: &Client, name: &str, form: &[(&str, &str)], page: &str) -> reqwest::Response {
    c.http
        .post(format!("{}/api/{name}", c.base))
        .header("Accept", "text/html,application/xhtml+xml")
        .header("Referer", format!("{}{page}", c.base))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The error a form posted without JavaScript was sent back with (`__err` in the URL).
fn url_error(location: &str) -> serde_json::Value {
    use base64::Engine;
    let url = reqwest::Url::parse(location).unwrap();
    let err = url
        .query_pairs()
        .find(|(k, _)| k == "__err")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no error in {location}"));
    let json = base64::engine::general_purpose::URL_SAFE
        .decode(err.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(&err))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(err.trim_end_matches('='))
        })
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

fn as_refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn without_javascript_a_key_is_shown_in_the_answer_and_step_up_takes_a_code(app: TestApp) {
    let (dev, secret, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let form = |code: &'static str| {
        vec![
            ("application_id", app_id.clone()),
            ("name", "Server without JS".to_string()),
            ("environment", "live".to_string()),
            ("expires_in", "30d".to_string()),
            ("scopes", "".to_string()),
            ("step_up_code", code.to_string()),
        ]
    };
    // Fresh step-up: the answer is the applications page with the key in it, never cached.
    let res = form_post(&dev, "issue_key", &as_refs(&form("")), "/applications").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = res.text().await.unwrap();
    let start = page.find("kp_live_").expect("the key is on the page");
    let key: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert!(app::domain::ApiKey::parse(&key).is_ok(), "{key}");
    assert!(page.contains("copy it now"));
    // Step-up gone stale: refused before anything is made, back to the form with the error…
    app.clock
        .advance(app.state.config.step_up_window_secs as i64 * 1000 + 1_000);
    let before = keys_of(&dev).await.as_array().unwrap().len();
    let res = form_post(&dev, "issue_key", &as_refs(&form("")), "/applications").await;
    assert!(res.status().is_redirection(), "{}", res.status());
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.starts_with(&format!("{}/applications", dev.base)),
        "{back}"
    );
    assert_eq!(url_error(&back)["error"], "mfa_required");
    let page = dev
        .get(back.trim_start_matches(&dev.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"step_up_code\""),
        "the form asks for a code"
    );
    assert_eq!(keys_of(&dev).await.as_array().unwrap().len(), before);
    // …where a code in the form does the step-up.
    let code = app.code(&secret, "dev@example.com", 0);
    let with_code: Vec<(&str, String)> = form("")
        .into_iter()
        .map(|(k, v)| {
            if k == "step_up_code" {
                (k, code.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    let res = form_post(&dev, "issue_key", &as_refs(&with_code), "/applications").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("kp_live_"));
    assert_eq!(keys_of(&dev).await.as_array().unwrap().len(), before + 1);
}

async fn without_javascript_other_secrets_are_refused_before_anything_is_made(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    for (name, form) in [
        ("create_service_token", vec![("name", "edge")]),
        (
            "create_invitation",
            vec![("email", "x@example.com"), ("role", "developer")],
        ),
        ("regenerate_recovery_codes", vec![]),
    ] {
        let res = form_post(&admin, name, &form, "/admin/settings").await;
        assert!(res.status().is_redirection(), "{name}: {}", res.status());
        let back = res.headers()["location"].to_str().unwrap().to_string();
        assert!(
            url_error(&back)["message"]
                .as_str()
                .unwrap()
                .contains("JavaScript"),
            "{name}: {back}"
        );
    }
    let tokens = admin.call("list_service_tokens", &[]).await;
    assert_eq!(
        tokens.ok().as_array().unwrap().len(),
        0,
        "no token was made"
    );
    let settings = admin.call("get_settings", &[]).await;
    assert!(settings.ok()["invitations"].as_array().unwrap().is_empty());
}

async fn a_key_is_shown_once_and_only_its_digest_is_kept(app: TestApp) {
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let issued = issue_key(&dev, &app_id, "30d", "pets:read").await;
    let key = issued.ok()["key"].as_str().unwrap().to_string();
    let parsed = ApiKey::parse(&key).expect("a well-formed key");
    assert!(key.starts_with("kp_live_"));
    let listed = keys_of(&dev).await;
    assert_eq!(listed[0]["prefix"], parsed.display_prefix());
    assert_eq!(listed[0]["last4"], parsed.last4());
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["scopes"], serde_json::json!(["pets:read"]));
    assert!(
        !listed.to_string().contains(&key),
        "lists never show the key"
    );
    // Nothing at rest holds the key: not the keys table, not the audit log.
    let secret_part = &key[12..40];
    let rows = sqlx::query("SELECT digest, display_prefix, last4, scopes FROM api_keys")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    use sqlx::Row;
    let digest: String = rows[0].try_get("digest").unwrap();
    assert_eq!(digest, app::platform::state::token_digest(&key));
    for r in &rows {
        for col in ["digest", "display_prefix", "last4", "scopes"] {
            let v: String = r.try_get(col).unwrap();
            assert!(!v.contains(secret_part), "{col} holds the key");
        }
    }
    for event in app.audit("key.issue").await {
        assert!(
            !event.details.contains(secret_part),
            "audit holds the key: {}",
            event.details
        );
    }
    if let Some(path) = sqlite_file(&app) {
        app.state.db.close().await;
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let hit = bytes
                    .windows(secret_part.len())
                    .any(|w| w == secret_part.as_bytes());
                assert!(!hit, "{file} holds the key in plain text");
            }
        }
    }
}

fn sqlite_file(app: &TestApp) -> Option<String> {
    app.state
        .config
        .database_url
        .expose()
        .strip_prefix("sqlite://")
        .map(str::to_string)
}

async fn issuing_needs_step_up_and_an_active_subscription(app: TestApp) {
    let (dev, secret, app_id) = subscribed_developer(&app, "dev@example.com").await;
    app.clock.advance(10 * 60_000);
    let stale = issue_key(&dev, &app_id, "1d", "").await;
    assert_eq!((stale.status, stale.error_kind()), (403, "mfa_required"));
    assert!(keys_of(&dev).await.as_array().unwrap().is_empty());
    dev.call(
        "confirm_step_up",
        &[("code", &app.code(&secret, "dev@example.com", 0))],
    )
    .await
    .ok();
    issue_key(&dev, &app_id, "1d", "").await.ok();
    // Without MFA a developer is sent to enrol first.
    let (plain, _) = app.signed_in("plain@example.com", Role::Developer).await;
    let own = plain
        .call("save_application", &[("name", "Mine"), ("description", "")])
        .await
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        issue_key(&plain, &own, "1d", "").await.error_kind(),
        "mfa_enrolment_required"
    );
    // An application without an active subscription gets no key.
    dev.call(
        "confirm_step_up",
        &[("code", &app.code(&secret, "dev@example.com", 1))],
    )
    .await
    .ok();
    let lonely = dev
        .call(
            "save_application",
            &[("name", "Lonely"), ("description", "")],
        )
        .await
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    let refused = issue_key(&dev, &lonely, "1d", "").await;
    assert_eq!(refused.status, 409);
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("no active subscription"));
    assert_eq!(app.audit("key.issue").await.len(), 1);
}

async fn scopes_and_lifetime_stay_within_the_plans(app: TestApp) {
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let bad_scope = issue_key(&dev, &app_id, "1d", "pets:read admin:all").await;
    assert_eq!(bad_scope.status, 422);
    assert!(bad_scope.field("scopes")[0].contains("admin:all"));
    let forever = issue_key(&dev, &app_id, "never", "").await;
    assert!(forever.field("expires_in")[0].contains("at most 90 days"));
    let too_long = issue_key(&dev, &app_id, "365d", "").await;
    assert_eq!(too_long.status, 422);
    let bad_input = dev
        .call(
            "issue_key",
            &[
                ("application_id", &app_id),
                ("name", ""),
                ("environment", "prod"),
                ("expires_in", "2w"),
                ("scopes", "Bad"),
            ],
        )
        .await;
    for field in ["name", "environment", "expires_in", "scopes"] {
        assert!(
            !bad_input.field(field).is_empty(),
            "{field}: {}",
            bad_input.body
        );
    }
    let ok = issue_key(&dev, &app_id, "90d", "pets:write").await;
    let expires = ok.ok()["view"]["expires"].as_str().unwrap().to_string();
    assert!(!expires.is_empty());
    assert!(keys_of(&dev).await.as_array().unwrap().len() == 1);
}

async fn developers_never_touch_each_others_keys(app: TestApp) {
    let (alice, _, alice_app) = subscribed_developer(&app, "alice@example.com").await;
    let key_id = issue_key(&alice, &alice_app, "1d", "").await.ok()["view"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (mallory, _, _) = subscribed_developer(&app, "mallory@example.com").await;
    let steal = issue_key(&mallory, &alice_app, "1d", "").await;
    assert_eq!(steal.status, 404);
    let revoke = mallory
        .call("revoke_key", &[("id", &key_id), ("reason", "mine now")])
        .await;
    assert_eq!(revoke.status, 404);
    assert_eq!(keys_of(&alice).await[0]["state"], "active");
    assert_eq!(keys_of(&alice).await.as_array().unwrap().len(), 1);
    // A publisher is no admin either.
    let (publisher, _, _) = app
        .signed_in_with_mfa("pub@example.com", Role::Publisher)
        .await;
    assert_eq!(
        publisher
            .call("revoke_key", &[("id", &key_id), ("reason", "x")])
            .await
            .status,
        404
    );
}

async fn revoking_needs_a_reason_and_admins_may_revoke_any_key(app: TestApp) {
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let first = issue_key(&dev, &app_id, "1d", "").await.ok()["view"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let no_reason = dev
        .call("revoke_key", &[("id", &first), ("reason", " ")])
        .await;
    assert_eq!(no_reason.status, 422);
    dev.call("revoke_key", &[("id", &first), ("reason", "Rotated")])
        .await
        .ok();
    let keys = keys_of(&dev).await;
    assert_eq!(keys[0]["state"], "revoked");
    assert_eq!(keys[0]["revoke_reason"], "Rotated");
    assert_eq!(
        dev.call("revoke_key", &[("id", &first), ("reason", "again")])
            .await
            .status,
        409
    );

    let second = issue_key(&dev, &app_id, "1d", "").await.ok()["view"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    admin
        .call(
            "revoke_key",
            &[("id", &second), ("reason", "Leaked in a public repository")],
        )
        .await
        .ok();
    let notes = dev.call("list_notifications", &[]).await.ok().clone();
    assert_eq!(notes["items"][0]["title"], "Key revoked: CI");
    assert!(notes["items"][0]["body"]
        .as_str()
        .unwrap()
        .contains("Leaked in a public repository"));
    let audit = app.audit("key.revoke").await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].actor_email.as_deref(), Some("admin@example.com"));
}
