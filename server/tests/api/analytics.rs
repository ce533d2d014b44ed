//! Developer usage analytics over HTTP: traffic made through the verify API shows in the
//! developer's report by outcome, key and API, before and after the roll-up, with the
//! quota's use; another developer's usage is "not found" by id and absent from their totals.

use crate::helpers::{metered_key, Client, TestApp};
use app::domain::Role;
use app::platform::rollup::{self, MINUTE_MS};
use serde_json::{json, Value};

crate::backends!(
    traffic_through_the_verify_api_shows_in_the_developers_report,
    another_developers_usage_is_not_found_and_not_counted,
    seeded_usage_is_realistic_consistent_and_shown_to_its_owner,
    publishers_see_their_apis_and_admins_the_platform,
    exports_are_csv_with_formulas_neutralised_and_only_ones_own,
    the_billing_json_needs_a_service_token_and_a_valid_period,
    charts_are_cut_in_the_profile_zone_else_the_browsers_else_utc
);

/// A developer whose application "Shop" subscribes to `api-dev` (quota 10 a day) and holds
/// one key "CI" for `pets:read`. Returns (developer, application id, key, key id).
async fn developer_with_key(app: &TestApp, email: &str) -> (Client, String, String, String) {
    let (_, dev, app_id, key, key_id) = metered_key(app, email, "10").await;
    (dev, app_id, key, key_id)
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

    // The latest calls one by one, newest first: the application's with their key, a key's
    // own without (verify-API calls have no upstream status, latency or size).
    let r = report(&dev, &[("app", &app_id)]).await;
    let calls = r["recent"]["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4);
    assert_eq!(r["recent"]["kept_days"], 30);
    let outcomes: Vec<&str> = calls
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["Scope denied", "Allowed", "Allowed", "Allowed"]);
    let latest = &calls[0];
    assert_eq!(
        (
            &latest["key"],
            &latest["api"],
            &latest["code"],
            &latest["client"]
        ),
        (
            &json!("CI"),
            &json!("api-dev"),
            &json!("SCOPE_DENIED"),
            &json!("198.51.100.7")
        )
    );
    assert!(latest["status"].is_null() && latest["latency"].is_null() && latest["size"].is_null());
    let r = report(&dev, &[("key", &key_id)]).await;
    assert_eq!(r["recent"]["calls"].as_array().unwrap().len(), 4);
    assert_eq!(r["recent"]["calls"][0]["key"], "");

    // All applications: one row per application (and no list of calls).
    let r = report(&dev, &[]).await;
    assert!(r["recent"].is_null());
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

async fn total(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

async fn seeded_usage_is_realistic_consistent_and_shown_to_its_owner(app: TestApp) {
    let (owner, _) = app.signed_in("owner@example.com", Role::Developer).await;
    let plan = keyport::seed::Plan {
        events: 40_000,
        keys: 120,
        days: 7,
        owner: Some("owner@example.com".into()),
        raw_days: 1,
        seed: 3,
    };
    let done = keyport::seed::seed(&app.state, &plan).await.unwrap();
    assert!(
        (39_000..=41_000).contains(&done.events),
        "about as many as asked: {}",
        done.events
    );
    assert_eq!((done.developers, done.applications), (2, 6));
    // Every level holds every event; minutes and raw events cover the newest days.
    for table in ["usage_hours", "usage_days", "usage_api_hours"] {
        let sum = total(
            &app,
            &format!("SELECT CAST(SUM(requests) AS BIGINT) FROM {table}"),
        )
        .await;
        assert_eq!(sum as u64, done.events, "{table}");
    }
    let minutes = total(
        &app,
        "SELECT CAST(SUM(requests) AS BIGINT) FROM usage_minutes",
    )
    .await;
    let raw = total(&app, "SELECT COUNT(*) FROM usage_events").await;
    assert!(
        minutes > raw && raw > 0,
        "two days of minutes ({minutes}) hold more than a day of raw events ({raw})"
    );
    assert_eq!(raw as u64, done.raw_events);
    // Afternoons are busier than nights, and there are abusive and leaked keys.
    let at_hour = |h: i64| {
        format!(
        "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_hours WHERE hour % 86400000 = {}",
        h * 3_600_000
    )
    };
    assert!(total(&app, &at_hour(14)).await > 2 * total(&app, &at_hour(2)).await);
    for code in ["RATE_LIMITED", "REVOKED", "SCOPE_DENIED"] {
        let n = total(
            &app,
            &format!("SELECT COUNT(*) FROM usage_days WHERE code = '{code}'"),
        )
        .await;
        assert!(n > 0, "{code}");
    }
    // The owner's report shows exactly the seeded traffic of their applications.
    let theirs = total(
        &app,
        "SELECT CAST(SUM(h.requests) AS BIGINT) FROM usage_hours h JOIN applications a \
         ON a.id = h.application_id JOIN users u ON u.id = a.owner_id WHERE u.email = 'owner@example.com'",
    )
    .await;
    let r = report(&owner, &[("range", "30d")]).await;
    let shown: i64 = r["chart"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
        })
        .sum();
    assert!(theirs > 0);
    assert_eq!(shown, theirs);
    assert_eq!(r["breakdown"].as_array().unwrap().len(), 3);
    // A second run is refused: the world exists already.
    let again = keyport::seed::seed(&app.state, &plan).await.unwrap_err();
    assert!(
        again.to_string().contains("seeded usage already"),
        "{again}"
    );
}

async fn publishers_see_their_apis_and_admins_the_platform(app: TestApp) {
    let token = app.service_token("edge").await;
    let (alice_pub, _, _, alice_key, _) = metered_key(&app, "alice@example.com", "10").await;
    let (bob_pub, _, _, bob_key, _) = metered_key(&app, "bob@example.com", "10").await;
    for _ in 0..2 {
        assert_eq!(
            verify(&app, &token, &alice_key, "api-alice", None).await,
            "VALID"
        );
    }
    assert_eq!(
        verify(&app, &token, &bob_key, "api-bob", None).await,
        "VALID"
    );
    assert_eq!(
        verify(&app, &token, &bob_key, "api-bob", Some("admin")).await,
        "SCOPE_DENIED"
    );
    app.settle().await;

    // Alice's publisher sees her API's traffic only.
    let r = alice_pub
        .call("api_usage", &[("range", "24h")])
        .await
        .ok()
        .clone();
    assert_eq!(series_total(&r, "Allowed"), 2);
    assert_eq!(series_total(&r, "Scope denied"), 0);
    assert_eq!(r["apis"][0]["label"], "api-alice");
    assert_eq!(r["applications"][0]["label"], "Shop");
    assert_eq!(r["subscriptions"][0]["label"], "Shop → api-alice");
    assert_eq!(r["subscriptions"][0]["allowed"], 2);
    assert_eq!(r["plans"][0]["label"], "Std");
    assert_eq!(r["plans"][0]["detail"], "api-alice");
    assert_eq!(r["plans"][0]["allowed"], 2);
    let new: i64 = r["new_subscriptions"]["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(new, 1);
    assert!(r["health"].is_null() && r["keys"] == json!([]));
    let alice_api = r["choices"][0][0].as_str().unwrap().to_string();
    let one = alice_pub
        .call("api_usage", &[("range", "1h"), ("api", &alice_api)])
        .await
        .ok()
        .clone();
    assert_eq!(series_total(&one, "Allowed"), 2);
    // Bob's API is not hers to read.
    let bob_api = bob_pub.call("api_usage", &[]).await.ok()["choices"][0][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        alice_pub
            .call("api_usage", &[("api", &bob_api)])
            .await
            .status,
        404
    );
    assert_eq!(alice_pub.call("platform_usage", &[]).await.status, 403);

    // The admin sees the platform: both APIs, the top keys and the queue's health.
    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;
    let r = admin
        .call("platform_usage", &[("range", "7d")])
        .await
        .ok()
        .clone();
    assert_eq!(series_total(&r, "Allowed"), 3);
    assert_eq!(series_total(&r, "Scope denied"), 1);
    assert_eq!(r["apis"].as_array().unwrap().len(), 2);
    assert_eq!(r["keys"].as_array().unwrap().len(), 2);
    assert!(r["keys"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("@example.com"));
    assert!(r["health"]["written"].as_u64().unwrap() >= 4);
    assert_eq!(r["health"]["dropped"], 0);
}

async fn csv_of(c: &Client, path: &str) -> (u16, String, String) {
    let res = c.get(path).await;
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

async fn exports_are_csv_with_formulas_neutralised_and_only_ones_own(app: TestApp) {
    let token = app.service_token("edge").await;
    let (alice_pub, alice, alice_app, alice_key, _) =
        metered_key(&app, "alice@example.com", "10").await;
    let (_, bob, _, _, _) = metered_key(&app, "bob@example.com", "10").await;
    // A hostile application name.
    alice
        .call(
            "save_application",
            &[
                ("id", &alice_app),
                ("name", "=HYPERLINK(\"http://evil\")"),
                ("description", ""),
            ],
        )
        .await
        .ok();
    for _ in 0..2 {
        assert_eq!(
            verify(&app, &token, &alice_key, "api-alice", None).await,
            "VALID"
        );
    }
    app.settle().await;

    let (status, kind, body) = csv_of(&alice, "/usage/export.csv?range=24h&table=breakdown").await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    let lines: Vec<&str> = body.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "name,detail,allowed,refused,total,most_refused_as"
    );
    assert_eq!(lines[1], "\"'=HYPERLINK(\"\"http://evil\"\")\",,2,0,2,");
    let (_, _, chart) = csv_of(
        &alice,
        &format!("/usage/export.csv?app={alice_app}&range=1h"),
    )
    .await;
    assert!(chart.starts_with("period,Allowed,total\r\n"), "{chart}");
    assert_eq!(
        chart.lines().count(),
        61,
        "a line per minute and the header"
    );
    // Bob cannot export Alice's application; a wrong table is a field error; no session: 401.
    let (status, _, body) = csv_of(&bob, &format!("/usage/export.csv?app={alice_app}")).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("HYPERLINK"));
    let (status, _, body) = csv_of(&alice, "/usage/export.csv?table=passwords").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("table"), "{body}");
    assert_eq!(csv_of(&app.client(), "/usage/export.csv").await.0, 401);

    // Billing: the publisher gets their API's subscriptions per day; a developer is refused.
    let (status, _, billing) = csv_of(&alice_pub, "/usage/billing.csv").await;
    assert_eq!(status, 200, "{billing}");
    let rows: Vec<&str> = billing.lines().collect();
    assert_eq!(rows.len(), 2, "{billing}");
    assert!(rows[0].starts_with("date,application,application_id,api,api_id,subscription_id,plan"));
    assert!(
        rows[1].contains("\"'=HYPERLINK(") && rows[1].ends_with(",Std,2,0,2"),
        "{}",
        rows[1]
    );
    assert_eq!(csv_of(&bob, "/usage/billing.csv").await.0, 403);
    assert_eq!(csv_of(&alice_pub, "/admin/usage/export.csv").await.0, 403);
    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;
    // Compressed for a browser that asks (the stream is read to its end once).
    let gzip = admin
        .http
        .get(format!("{}/usage/billing.csv", admin.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    assert!(!gzip
        .bytes()
        .await
        .expect("the whole body arrives")
        .is_empty());
    let (_, _, all) = csv_of(&admin, "/usage/billing.csv?per_day=false").await;
    assert_eq!(
        all.lines().count(),
        2,
        "only Alice's subscription was used: {all}"
    );
    let (status, _, keys) = csv_of(&admin, "/admin/usage/export.csv?table=keys&range=7d").await;
    assert_eq!(status, 200);
    assert!(
        keys.lines()
            .nth(1)
            .unwrap()
            .starts_with("\"CI · =HYPERLINK("),
        "a cell is neutralised only when it starts with a formula: {keys}"
    );
}

async fn the_billing_json_needs_a_service_token_and_a_valid_period(app: TestApp) {
    let token = app.service_token("billing").await;
    let (_, _, app_id, key, _) = metered_key(&app, "alice@example.com", "10").await;
    assert_eq!(verify(&app, &token, &key, "api-alice", None).await, "VALID");
    assert_eq!(
        verify(&app, &token, &key, "api-alice", Some("admin")).await,
        "SCOPE_DENIED"
    );
    app.settle().await;
    let http = reqwest::Client::new();
    let get = |query: &str| {
        http.get(app.url(&format!("/v1/usage{query}")))
            .bearer_auth(&token)
            .send()
    };
    let res = get("").await.unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    let row = &answer["rows"][0];
    assert_eq!(row["application_id"], app_id.as_str());
    assert_eq!(row["api"], "api-alice");
    assert_eq!(row["plan"], "Std");
    assert_eq!(
        (row["allowed"].as_i64(), row["refused"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(answer["rows"].as_array().unwrap().len(), 1);
    for (query, field) in [
        ("?from=yesterday", "from"),
        ("?to=", "to"),
        ("?from=2026-11-10&to=2026-11-01", "to"),
        ("?from=2024-01-01&to=2026-01-01", "to"),
    ] {
        let res = get(query).await.unwrap();
        assert_eq!(res.status(), 422, "{query}");
        let body: Value = res.json().await.unwrap();
        assert!(body["fields"][field].is_array(), "{query}: {body}");
    }
    let anonymous = reqwest::Client::new()
        .get(app.url("/v1/usage"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn charts_are_cut_in_the_profile_zone_else_the_browsers_else_utc(app: TestApp) {
    let (dev, _, _, _) = developer_with_key(&app, "dev@example.com").await;
    let zone_of = |r: &Value| r["time_zone"].as_str().unwrap().to_string();
    assert_eq!(zone_of(&report(&dev, &[]).await), "UTC");
    assert_eq!(
        zone_of(&report(&dev, &[("tz", "America/Adak")]).await),
        "America/Adak"
    );
    assert_eq!(
        zone_of(&report(&dev, &[("tz", "Mars/Olympus")]).await),
        "UTC"
    );
    // A profile zone wins over the browser's.
    dev.call("update_time_zone", &[("time_zone", " Pacific/Tongatapu ")])
        .await
        .ok();
    assert_eq!(dev.whoami().await["time_zone"], "Pacific/Tongatapu");
    let r = report(&dev, &[("range", "24h"), ("tz", "America/Adak")]).await;
    assert_eq!(zone_of(&r), "Pacific/Tongatapu");
    // Tonga is 13 hours ahead of UTC: the current hour's label says so.
    let now = app.clock.now();
    let hour = ((now / 3_600_000) % 24 + 13) % 24;
    let labels = r["chart"]["buckets"].as_array().unwrap();
    assert_eq!(labels[23]["short"], format!("{hour:02}:00"));
    // A wrong name is a field error and changes nothing; empty clears it.
    let wrong = dev
        .call("update_time_zone", &[("time_zone", "Europe/Atlantis")])
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body["fields"]["time_zone"].is_array(),
        "{}",
        wrong.body
    );
    assert_eq!(dev.whoami().await["time_zone"], "Pacific/Tongatapu");
    dev.call("update_time_zone", &[("time_zone", "")])
        .await
        .ok();
    assert!(dev.whoami().await["time_zone"].is_null());
}
