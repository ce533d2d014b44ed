//! Developer usage analytics over HTTP: traffic made through the verify API shows in the
//! developer's report by outcome, key and API, before and after the roll-up, with the
//! quota's use; another developer's usage is "not found" by id and absent from their totals.

use crate::helpers::{
    issue_key, published_api, set_plan_limits, subscribed_application, Client, TestApp,
};
use app::domain::Role;
use app::platform::rollup::{self, MINUTE_MS};
use serde_json::{json, Value};

crate::backends!(
    traffic_through_the_verify_api_shows_in_the_developers_report,
    another_developers_usage_is_not_found_and_not_counted
);

/// A developer whose application "Shop" subscribes to `api-dev` (quota 10 a day) and holds
/// one key "CI" for `pets:read`. Returns (developer, application id, key, key id).
async fn developer_with_key(app: &TestApp, email: &str) -> (Client, String, String, String) {
    let (p, _) = app
        .signed_in(&format!("pub-{email}"), Role::Publisher)
        .await;
    let slug = format!("api-{}", email.split('@').next().unwrap());
    let plan_id = published_api(&p, &slug, "").await;
    let api_id = p.call("api_for_edit", &[("slug", &slug)]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    set_plan_limits(&p, (&api_id, &plan_id), ("", "second"), ("10", "day")).await;
    let (dev, _, _) = app.signed_in_with_mfa(email, Role::Developer).await;
    let app_id = subscribed_application(&dev, "Shop", &plan_id).await;
    let issued = issue_key(&dev, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    (
        dev,
        app_id,
        issued["key"].as_str().unwrap().to_string(),
        issued["view"]["id"].as_str().unwrap().to_string(),
    )
}

async fn verify(app: &TestApp, token: &str, key: &str, api: &str, scope: Option<&str>) -> String {
    let body = json!({ "key": key, "api": api, "scope": scope, "ip": "198.51.100.7" });
    app.verify(token, body).await.1["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The total of the chart series labelled `label`.
fn series_total(report: &Value, label: &str) -> i64 {
    report["chart"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["label"] == label)
        .map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .sum()
        })
        .unwrap_or(0)
}

async fn report(dev: &Client, params: &[(&str, &str)]) -> Value {
    dev.call("usage_report", params).await.ok().clone()
}

async fn traffic_through_the_verify_api_shows_in_the_developers_report(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, app_id, key, key_id) = developer_with_key(&app, "dev@example.com").await;
    for _ in 0..3 {
        assert_eq!(verify(&app, &token, &key, "api-dev", None).await, "VALID");
    }
    assert_eq!(
        verify(&app, &token, &key, "api-dev", Some("pets:write")).await,
        "SCOPE_DENIED"
    );
    app.settle().await;

    for range in ["1h", "24h", "7d", "30d"] {
        let r = report(&dev, &[("range", range), ("app", &app_id)]).await;
        assert_eq!(
            r["range"],
            json!(match range {
                "1h" => "Hour",
                "24h" => "Day",
                "7d" => "Week",
                _ => "Month",
            })
        );
        assert_eq!(series_total(&r, "Allowed"), 3, "{range}");
        assert_eq!(series_total(&r, "Scope denied"), 1, "{range}");
        let by_key = &r["breakdown"][0];
        assert_eq!(by_key["label"], "CI");
        assert_eq!(
            (by_key["allowed"].as_i64(), by_key["refused"].as_i64()),
            (Some(3), Some(1))
        );
        assert_eq!(by_key["top_refusal"], "Scope denied");
        assert_eq!(by_key["link"], format!("/usage?key={key_id}&range={range}"));
        assert_eq!(r["apis"][0]["label"], "api-dev");
        assert_eq!(r["apis"][0]["allowed"], 3);
    }
    // The quota counted the three allowed requests (a scope refusal spends none).
    let r = report(&dev, &[("app", &app_id)]).await;
    let quota = &r["quotas"][0];
    assert_eq!(
        (quota["used"].as_i64(), quota["limit"].as_i64()),
        (Some(3), Some(10))
    );
    assert_eq!(quota["api"], "api-dev");
    assert_eq!(quota["period"], "today (UTC)");
    assert!(quota["projected"].as_i64().unwrap() >= 3);

    // Once rolled up into hours, the day's chart still counts each request once.
    rollup::roll_up(&app.state.db, app.clock.now() + 3 * MINUTE_MS)
        .await
        .unwrap();
    let r = report(&dev, &[("range", "24h"), ("app", &app_id)]).await;
    assert_eq!(series_total(&r, "Allowed"), 3);
    assert_eq!(series_total(&r, "Scope denied"), 1);

    // One key: its chart and facts.
    let r = report(&dev, &[("range", "30d"), ("key", &key_id)]).await;
    assert_eq!(series_total(&r, "Allowed"), 3);
    assert_eq!(r["scope"]["Key"]["application_id"], app_id.as_str());
    assert_eq!(r["key"]["last_ip"], "198.51.100.7");
    assert_eq!(r["key"]["state"], "Active");
    assert!(r["rotation"].is_null());

    // All applications: one row per application.
    let r = report(&dev, &[]).await;
    assert_eq!(r["range"], "Day");
    assert_eq!(r["breakdown"][0]["label"], "Shop");
    assert_eq!(r["breakdown"][0]["allowed"], 3);
    assert_eq!(
        r["breakdown"][0]["link"],
        format!("/usage?app={app_id}&range=24h")
    );
}

async fn another_developers_usage_is_not_found_and_not_counted(app: TestApp) {
    let token = app.service_token("edge").await;
    let (_alice, alice_app, alice_key, alice_key_id) =
        developer_with_key(&app, "alice@example.com").await;
    let (bob, bob_app, _, _) = developer_with_key(&app, "bob@example.com").await;
    assert_eq!(
        verify(&app, &token, &alice_key, "api-alice", None).await,
        "VALID"
    );
    app.settle().await;
    for params in [
        [("app", alice_app.as_str())],
        [("key", alice_key_id.as_str())],
    ] {
        let answer = bob.call("usage_report", &params).await;
        assert_eq!(answer.status, 404, "{params:?}: {}", answer.body);
        assert!(!answer.body.to_string().contains("Shop"), "{}", answer.body);
    }
    // Bob's own report has his application only, and none of Alice's traffic.
    let r = report(&bob, &[("range", "30d")]).await;
    assert_eq!(series_total(&r, "Allowed"), 0);
    assert_eq!(r["applications"], json!([[bob_app, "Shop"]]));
    assert_eq!(r["breakdown"], json!([]));
    // Signed out: no report at all.
    let anonymous = app.client();
    assert_eq!(anonymous.call("usage_report", &[]).await.status, 401);
}
