//! What every request gets, whatever it asks: control characters refused (and never a
//! panic), a 415 for a content type a server function does not read, a 404 for an unknown
//! server function, a 503 when the database is down, `Retry-After` on every 429, a human
//! `message` in every JSON error, and `next` never leading off the portal.

use crate::backends;
use crate::helpers::{Backend, TestApp, PASSWORD};
use app::domain::Role;
use serde_json::{json, Value};

backends!(
    next_is_checked_by_the_rules_browsers_follow,
    a_line_break_in_next_is_refused_not_a_panic,
    gateway_and_page_input_with_control_characters_is_a_4xx,
    unknown_functions_and_unread_content_types,
    throttled_answers_say_when_to_retry,
    a_database_outage_is_a_503_and_heals
);

async fn next_is_checked_by_the_rules_browsers_follow(app: TestApp) {
    app.user("n@example.com", Role::Developer).await;
    for (next, expected) in [
        ("/catalog?q=x", "/catalog?q=x"),
        ("/\t/evil.example", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("\\/evil.example", "/dashboard"),
        ("//evil.example", "/dashboard"),
        ("/ /evil.example", "/dashboard"),
        ("https://evil.example", "/dashboard"),
    ] {
        let c = app.client();
        let answer = c
            .call(
                "sign_in",
                &[
                    ("email", "n@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        answer.ok();
        assert_eq!(answer.headers["location"], expected, "{next:?}");
    }
    // The code step of an MFA account follows the same rule.
    let (c, _, secret) = app
        .signed_in_with_mfa("m@example.com", Role::Developer)
        .await;
    c.call("sign_out", &[]).await.ok();
    let first = c.sign_in("m@example.com", PASSWORD).await;
    assert!(first.headers["location"]
        .to_str()
        .unwrap()
        .starts_with("/sign-in/mfa"));
    app.next_step();
    let answer = c
        .call(
            "complete_sign_in",
            &[
                ("code", &app.code(&secret, "m@example.com", 0)),
                ("next", "/\t/evil.example"),
            ],
        )
        .await;
    answer.ok();
    assert_eq!(answer.headers["location"], "/dashboard");
}

async fn a_line_break_in_next_is_refused_not_a_panic(app: TestApp) {
    app.user("lf@example.com", Role::Developer).await;
    for next in ["/\n/x", "/\r/x", "/\r\nSet-Cookie: a=b"] {
        let c = app.client();
        let answer = c
            .call(
                "sign_in",
                &[
                    ("email", "lf@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert!(answer.status < 500, "{next:?}: {}", answer.status);
        if let Some(location) = answer.headers.get("location") {
            assert_eq!(location, "/dashboard", "{next:?}");
        }
        // The connection survived and the server still answers.
        assert!(c.whoami().await.is_object() || c.whoami().await.is_null());
    }
}

async fn gateway_and_page_input_with_control_characters_is_a_4xx(app: TestApp) {
    let token = app.service_token("edge").await;
    let http = reqwest::Client::new();
    for body in [
        json!({ "key": "kp_live_x", "api": "pets\u{0}" }),
        json!({ "key": "kp_live_x", "api": "pets", "ip": "1.2.3.4\u{0}" }),
        json!({ "key": "kp_live_\u{0}", "api": "pets" }),
    ] {
        let res = http
            .post(app.url("/v1/keys/verify"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{body}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"], "validation");
    }
    let res = http
        .post(app.url("/v1/leaks"))
        .bearer_auth(&token)
        .json(&json!([{ "token": "kp_live_\u{0}", "type": "keyport_api_key", "url": "https://x", "source": "content" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let (c, _) = app.signed_in("p@example.com", Role::Developer).await;
    for path in [
        "/catalog?q=a%00b",
        "/catalog?tag=%00",
        "/applications?x=%0A",
        "/catalog/%00",
    ] {
        let res = c.get(path).await;
        assert_eq!(res.status(), 422, "{path}");
    }
    assert_eq!(c.get("/catalog?q=caf%C3%A9").await.status(), 200);
}

async fn unknown_functions_and_unread_content_types(app: TestApp) {
    let (c, _) = app.signed_in("u@example.com", Role::Developer).await;
    let unknown = c.call("no_such_function", &[]).await;
    assert_eq!((unknown.status, unknown.error_kind()), (404, "not_found"));
    assert!(unknown.body["message"].is_string());
    let json_body = c
        .http
        .post(format!("{}/api/save_application", c.base))
        .json(&json!({ "name": "x", "description": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 415);
    let answer: Value = json_body.json().await.unwrap();
    assert_eq!(answer["error"], "unsupported");
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("x-www-form-urlencoded"));
    // Every error of a server function carries a human message.
    let refused = c
        .call("save_application", &[("name", ""), ("description", "")])
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body["message"].is_string(), "{}", refused.body);
    let anonymous = app.client().call("dashboard", &[]).await;
    assert_eq!(anonymous.body["message"], "Please sign in to continue.");
}

async fn throttled_answers_say_when_to_retry(app: TestApp) {
    app.user("t@example.com", Role::Developer).await;
    let c = app.client();
    let mut last = None;
    for _ in 0..6 {
        last = Some(c.sign_in("t@example.com", "wrong password!!").await);
    }
    let last = last.unwrap();
    assert_eq!(last.status, 429);
    let retry: u64 = last.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(last.body["message"].as_str().unwrap().contains("Try again"));
}

async fn a_database_outage_is_a_503_and_heals(app: TestApp) {
    let (c, _) = app.signed_in("o@example.com", Role::Developer).await;
    let token = app.service_token("edge").await;
    let backend = if app.state.config.database_url.expose().starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    let database: Option<String> = match backend {
        // A real outage: the server refuses connections to the database, and those open
        // are cut.
        Backend::Postgres => {
            let name: String = sqlx::query_scalar("SELECT CAST(current_database() AS TEXT)")
                .fetch_one(&app.state.db)
                .await
                .unwrap();
            let admin = sqlx::AnyPool::connect(&crate::helpers::postgres_base())
                .await
                .unwrap();
            sqlx::query(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
            ))
            .execute(&admin)
            .await
            .unwrap();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(&name)
            .execute(&admin)
            .await
            .unwrap();
            Some(name)
        }
        // SQLite is a file in the process: its outage is the pool going away.
        Backend::Sqlite => {
            app.state.db.close().await;
            None
        }
    };
    let page = c.call("my_applications", &[]).await;
    assert_eq!(
        (page.status, page.error_kind()),
        (503, "storage_unavailable"),
        "{}",
        page.body
    );
    assert!(page.headers.contains_key("retry-after"));
    let res = reqwest::Client::new()
        .post(app.url("/v1/keys/verify"))
        .bearer_auth(&token)
        .json(&json!({ "key": app::domain::ApiKey::generate("kp", app::domain::KeyEnvironment::Live).expose(), "api": "pets" }))
        .send()
        .await
        .unwrap();
    // Gateways are answered from memory: an unknown key is refused without the database.
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND");
    assert_eq!(
        reqwest::get(app.url("/readyz")).await.unwrap().status(),
        503
    );
    if let Some(name) = database {
        let admin = sqlx::AnyPool::connect(&crate::helpers::postgres_base())
            .await
            .unwrap();
        sqlx::query(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
        ))
        .execute(&admin)
        .await
        .unwrap();
        // Recovery without a restart.
        let mut healed = false;
        for _ in 0..50 {
            if c.call("my_applications", &[]).await.status == 200 {
                healed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(healed, "the pool reconnects once the database is back");
    }
}
