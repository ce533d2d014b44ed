//! Key lifecycle: rotation with a grace period (boundaries with time passed in), API
//! subsets, per-key rate limits, refills, "revoke all", the admin's list, the lifecycle job
//! (rotation age, reminders), leak reports and nginx `auth_request`, on both backends.

use crate::backends;
use crate::helpers::{issue_key, published_api, subscribed_application, subscribed_developer};
use crate::helpers::{Client, TestApp};
use app::domain::Role;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

async fn keys_of(c: &Client) -> Vec<Value> {
    c.call("my_applications", &[]).await.ok()[0]["keys"]
        .as_array()
        .unwrap()
        .clone()
}

fn by_id<'a>(keys: &'a [Value], id: &Value) -> &'a Value {
    keys.iter()
        .find(|k| &k["id"] == id)
        .expect("the key is listed")
}

backends!(
    rotation_keeps_the_old_key_for_the_grace_period,
    rotation_grace_never_outlives_the_old_key,
    keys_limited_to_apis_with_their_own_rate_and_refills,
    revoke_all_and_the_admins_list_of_every_key,
    the_lifecycle_job_caps_rotation_age_and_reminds_once,
    leak_reports_revoke_or_flag_matching_keys,
    nginx_auth_request_answers_with_status_and_headers,
    apis_past_their_sunset_date_retire_and_their_keys_stop,
);

async fn apis_past_their_sunset_date_retire_and_their_keys_stop(app: TestApp) {
    let token = app.service_token("edge").await;
    let (p, _) = app.signed_in("sun@example.com", Role::Publisher).await;
    let plan = published_api(&p, "sunny", "").await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = subscribed_application(&dev, "Solar", &plan).await;
    let key = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let api_id = p.call("api_for_edit", &[("slug", "sunny")]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let day = time::OffsetDateTime::from_unix_timestamp(app.clock.now() / 1000 + 2 * 86_400)
        .unwrap()
        .date()
        .to_string();
    p.call(
        "change_lifecycle",
        &[
            ("api_id", &api_id),
            ("lifecycle", "deprecated"),
            ("sunset", &day),
        ],
    )
    .await
    .ok();
    assert_eq!(
        app.decision(&token, &key, "sunny").await,
        "VALID",
        "deprecated still works"
    );
    let sunset_at: i64 = sqlx::query_scalar("SELECT sunset_at FROM apis WHERE id = $1")
        .bind(&api_id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let retire = |now: i64| {
        let state = app.state.clone();
        async move {
            app::catalog::service::retire_at_sunset(&state, now)
                .await
                .unwrap()
        }
    };
    assert!(
        retire(sunset_at - 1).await.is_empty(),
        "not before its date"
    );
    assert_eq!(retire(sunset_at).await, ["sunny"]);
    assert!(retire(sunset_at + HOUR).await.is_empty(), "once");
    app.settle().await;
    assert_eq!(
        app.decision(&token, &key, "sunny").await,
        "SUBSCRIPTION_INACTIVE"
    );
    let api = p
        .call("api_for_edit", &[("slug", "sunny")])
        .await
        .ok()
        .clone();
    assert_eq!(api["lifecycle"], "retired");
    let audit = app.audit("api.lifecycle").await;
    let by_keyport = audit
        .iter()
        .find(|e| e.details.contains("sunset date reached"))
        .expect("the retirement is audited");
    assert!(by_keyport.actor_id.is_none());
    assert!(p
        .call("list_notifications", &[])
        .await
        .ok()
        .to_string()
        .contains("sunny was retired"));
    let mine = dev.call("my_applications", &[]).await.ok()[0]["subscriptions"][0].clone();
    assert_eq!(mine["state"], "ended");
}

async fn rotation_keeps_the_old_key_for_the_grace_period(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let old = issue_key(&dev, &app_id, "30d", "pets:read")
        .await
        .ok()
        .clone();
    let old_key = old["key"].as_str().unwrap().to_string();
    assert_eq!(app.decision(&token, &old_key, "api-dev").await, "VALID");

    let bad = dev
        .call(
            "rotate_key",
            &[("id", old["view"]["id"].as_str().unwrap()), ("grace", "8d")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(!bad.field("grace").is_empty(), "{}", bad.body);

    let rotated = dev
        .call(
            "rotate_key",
            &[("id", old["view"]["id"].as_str().unwrap()), ("grace", "1h")],
        )
        .await
        .ok()
        .clone();
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, old_key);
    // Same attributes, fresh lifetime of the same length.
    assert_eq!(rotated["view"]["scopes"], json!(["pets:read"]));
    assert_eq!(rotated["view"]["name"], old["view"]["name"]);
    let masked = |v: &Value| {
        format!(
            "{}…{}",
            v["prefix"].as_str().unwrap(),
            v["last4"].as_str().unwrap()
        )
    };
    assert_eq!(rotated["view"]["replaces"], masked(&old["view"]));
    // Both work while the grace period runs; the page shows the old key's traffic since.
    assert_eq!(app.decision(&token, &new_key, "api-dev").await, "VALID");
    assert_eq!(app.decision(&token, &old_key, "api-dev").await, "VALID");
    assert_eq!(app.decision(&token, &old_key, "api-dev").await, "VALID");
    app.settle().await; // uses are stored in batches
    let keys = keys_of(&dev).await;
    let old_view = by_id(&keys, &old["view"]["id"]);
    let new_view = by_id(&keys, &rotated["view"]["id"]);
    assert_eq!(old_view["state"], "grace");
    assert_eq!(old_view["rotation"]["uses_since"], 2);
    assert_eq!(
        old_view["rotation"]["successor"],
        format!(
            "{}…{}",
            new_view["prefix"].as_str().unwrap(),
            new_view["last4"].as_str().unwrap()
        )
    );
    assert!(old_view["rotation"]["last_used"].is_string());
    assert_eq!(
        new_view["replaces"],
        format!(
            "{}…{}",
            old_view["prefix"].as_str().unwrap(),
            old_view["last4"].as_str().unwrap()
        )
    );
    assert_eq!(new_view["state"], "active");
    // Rotating it again is refused: rotate the successor instead.
    let again = dev
        .call(
            "rotate_key",
            &[("id", old["view"]["id"].as_str().unwrap()), ("grace", "0")],
        )
        .await;
    assert_eq!(again.error_kind(), "conflict");
    // The audit names both keys, never either key.
    let audit = app.audit("key.rotate").await;
    assert_eq!(audit.len(), 1);
    assert!(
        !audit[0].details.contains(&old_key[10..40])
            && !audit[0].details.contains(&new_key[10..40])
    );
    assert!(
        audit[0].details.contains("\"grace_minutes\":60"),
        "{}",
        audit[0].details
    );
    // Boundary, with the time passed in: valid up to the last millisecond of the grace
    // period, refused at its end.
    let (rotated_at, until): (i64, i64) =
        sqlx::query_as("SELECT rotated_at, expires_at FROM api_keys WHERE id = $1")
            .bind(old["view"]["id"].as_str().unwrap())
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(until, rotated_at + HOUR);
    let at = |key: &str, now: i64| {
        let ask = app::keys::verify::Ask {
            api: "api-dev".into(),
            scope: None,
            ip: None,
            operation: None,
        };
        let (state, key) = (app.state.clone(), key.to_string());
        async move {
            app::keys::verify::verify(&state, &key, &ask, now)
                .await
                .unwrap()
                .code
        }
    };
    use app::keys::verify::Code;
    assert_eq!(at(&old_key, until - 1).await, Code::Valid);
    assert_eq!(at(&old_key, until).await, Code::Expired);
    assert_eq!(at(&new_key, until).await, Code::Valid);
}

async fn rotation_grace_never_outlives_the_old_key(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    // Grace 0: the old key stops at once.
    let first = issue_key(&dev, &app_id, "30d", "").await.ok().clone();
    let next = dev
        .call(
            "rotate_key",
            &[
                ("id", first["view"]["id"].as_str().unwrap()),
                ("grace", "0"),
            ],
        )
        .await
        .ok()
        .clone();
    assert_eq!(
        app.decision(&token, first["key"].as_str().unwrap(), "api-dev")
            .await,
        "EXPIRED"
    );
    assert_eq!(
        app.decision(&token, next["key"].as_str().unwrap(), "api-dev")
            .await,
        "VALID"
    );
    assert_eq!(
        by_id(&keys_of(&dev).await, &first["view"]["id"])["state"],
        "rotated"
    );
    // A 1-hour key rotated with 7 days of grace still stops after its hour, and its
    // successor lives one hour too.
    let short = issue_key(&dev, &app_id, "1h", "").await.ok().clone();
    let successor = dev
        .call(
            "rotate_key",
            &[
                ("id", short["view"]["id"].as_str().unwrap()),
                ("grace", "7d"),
            ],
        )
        .await
        .ok()
        .clone();
    assert_eq!(
        by_id(&keys_of(&dev).await, &short["view"]["id"])["expires"],
        short["view"]["expires"]
    );
    // Another developer can neither rotate nor see it.
    let (other, _, _) = app
        .signed_in_with_mfa("other@example.com", Role::Developer)
        .await;
    let stolen = other
        .call(
            "rotate_key",
            &[
                ("id", successor["view"]["id"].as_str().unwrap()),
                ("grace", "0"),
            ],
        )
        .await;
    assert_eq!(stolen.status, 404);
    // Rotation needs a recent second factor (the step-up window is 5 minutes).
    app.clock.advance(6 * 60_000);
    let stale = dev
        .call(
            "rotate_key",
            &[("id", next["view"]["id"].as_str().unwrap()), ("grace", "0")],
        )
        .await;
    assert_eq!(stale.error_kind(), "mfa_required");
    app.clock.advance(HOUR - 6 * 60_000);
    assert_eq!(
        app.decision(&token, short["key"].as_str().unwrap(), "api-dev")
            .await,
        "EXPIRED"
    );
    assert_eq!(
        app.decision(&token, successor["key"].as_str().unwrap(), "api-dev")
            .await,
        "EXPIRED"
    );
}

async fn keys_limited_to_apis_with_their_own_rate_and_refills(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    // A second API with a plan limited to 10 requests per second.
    let (p, _) = app.signed_in("pub2@example.com", Role::Publisher).await;
    let plan = published_api(&p, "metered", "10").await;
    dev.call(
        "subscribe",
        &[("application_id", &app_id), ("plan_id", &plan)],
    )
    .await
    .ok();
    let policy = dev.call("my_applications", &[]).await.ok()[0]["key_policy"].clone();
    let apis = policy["apis"].as_array().unwrap();
    assert_eq!(apis.len(), 2);
    let metered = apis.iter().find(|a| a["name"] == "metered").unwrap();
    assert_eq!(metered["rate"], "10 requests per second");
    let metered_id = metered["id"].as_str().unwrap();

    let form = |extra: Vec<(&'static str, String)>| {
        let mut f: Vec<(&'static str, String)> = vec![
            ("application_id", app_id.clone()),
            ("name", "scoped".into()),
            ("environment", "live".into()),
            ("expires_in", "1d".into()),
            ("scopes", "".into()),
        ];
        f.extend(extra);
        f
    };
    let call = |f: Vec<(&'static str, String)>| {
        let dev = &dev;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            dev.call("issue_key", &f).await
        }
    };
    // Field errors: a limit above the plan's, a refill without uses, an API not subscribed.
    let bad = call(form(vec![("refill", "day".into())])).await;
    assert_eq!(bad.status, 422);
    assert!(!bad.field("refill").is_empty(), "{}", bad.body);
    let bad = call(form(vec![
        ("apis[]", metered_id.into()),
        ("rate_limit", "11".into()),
        ("rate_period", "second".into()),
    ]))
    .await;
    assert!(
        bad.field("rate_limit")
            .join(" ")
            .contains("metered allows 10 requests per second"),
        "{}",
        bad.body
    );
    let bad = call(form(vec![("apis[]", "no-such-api".into())])).await;
    assert!(!bad.field("apis").is_empty(), "{}", bad.body);
    // 600 per minute is the plan's 10 per second: allowed.
    let key = call(form(vec![
        ("apis[]", metered_id.into()),
        ("rate_limit", "600".into()),
        ("rate_period", "minute".into()),
        ("max_uses", "2".into()),
        ("refill", "day".into()),
    ]))
    .await
    .ok()
    .clone();
    assert_eq!(key["view"]["apis"], json!(["metered"]));
    assert_eq!(key["view"]["rate"], "600 requests per minute");
    assert_eq!(key["view"]["refill"], "per day");
    let key = key["key"].as_str().unwrap().to_string();
    assert_eq!(
        app.decision(&token, &key, "api-dev").await,
        "API_NOT_ALLOWED"
    );
    let answer = reqwest::Client::new()
        .post(app.url("/v1/keys/verify"))
        .bearer_auth(&token)
        .json(&json!({ "key": key, "api": "metered" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(answer["code"], "VALID");
    assert_eq!(
        answer["rate_limit"],
        json!({ "requests": 600, "period": "minute" })
    );
    assert_eq!(app.decision(&token, &key, "metered").await, "VALID");
    assert_eq!(app.decision(&token, &key, "metered").await, "EXHAUSTED");
    // The job refills at the next UTC midnight, not before.
    let now = app.clock.now();
    let midnight = app::domain::QuotaPeriod::Day.start(now) + DAY;
    let early = app::keys::service::lifecycle::run(&app.state, midnight - 1)
        .await
        .unwrap();
    assert_eq!(early.refilled, 0);
    let report = app::keys::service::lifecycle::run(&app.state, midnight)
        .await
        .unwrap();
    assert_eq!(report.refilled, 1);
    assert_eq!(app.decision(&token, &key, "metered").await, "VALID");
    let again = app::keys::service::lifecycle::run(&app.state, midnight + HOUR)
        .await
        .unwrap();
    assert_eq!(again.refilled, 0, "once per day");
}

async fn revoke_all_and_the_admins_list_of_every_key(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let a = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let b = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (other, _, _) = app
        .signed_in_with_mfa("other@example.com", Role::Developer)
        .await;
    let stolen = other
        .call(
            "revoke_application_keys",
            &[("application_id", &app_id), ("reason", "x")],
        )
        .await;
    assert_eq!(stolen.status, 404);
    assert_eq!(app.decision(&token, &a, "api-dev").await, "VALID");
    let none = dev
        .call(
            "revoke_application_keys",
            &[("application_id", &app_id), ("reason", "")],
        )
        .await;
    assert!(!none.field("reason").is_empty());
    let done = dev
        .call(
            "revoke_application_keys",
            &[
                ("application_id", &app_id),
                ("reason", "Server compromised"),
            ],
        )
        .await;
    assert_eq!(done.ok(), &json!(2));
    assert_eq!(app.decision(&token, &a, "api-dev").await, "REVOKED");
    assert_eq!(app.decision(&token, &b, "api-dev").await, "REVOKED");
    assert_eq!(app.audit("key.revoke_all").await.len(), 1);

    // The admin's list: every key, searchable, filterable; refused to others.
    let c = issue_key(&dev, &app_id, "1d", "").await.ok().clone();
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let all = admin.call("all_keys", &[]).await.ok().clone();
    assert_eq!(all["total"], 3);
    assert_eq!(all["items"][0]["owner"], "dev@example.com");
    assert_eq!(all["items"][0]["application"], "Shop");
    let live = admin
        .call("all_keys", &[("state", "live")])
        .await
        .ok()
        .clone();
    assert_eq!(live["total"], 1);
    assert_eq!(live["items"][0]["id"], c["view"]["id"]);
    assert_eq!(
        admin.call("all_keys", &[("state", "revoked")]).await.ok()["total"],
        2
    );
    assert_eq!(
        admin.call("all_keys", &[("search", "dev@exa")]).await.ok()["total"],
        3
    );
    assert_eq!(
        admin.call("all_keys", &[("search", "100%")]).await.ok()["total"],
        0
    );
    assert_eq!(dev.call("all_keys", &[]).await.status, 403);
    // An admin revoking all of someone's keys tells the owner.
    admin
        .call(
            "revoke_application_keys",
            &[("application_id", &app_id), ("reason", "Abuse")],
        )
        .await
        .ok();
    let notes = dev.call("list_notifications", &[]).await.ok().to_string();
    assert!(notes.contains("All keys of Shop revoked"), "{notes}");
}

async fn the_lifecycle_job_caps_rotation_age_and_reminds_once(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let bad = admin
        .call(
            "update_key_settings",
            &[
                ("max_lifetime_days", "0"),
                ("rotation_days", "x"),
                ("reminder_days", ""),
                ("leak_action", "shred"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    for f in [
        "max_lifetime_days",
        "rotation_days",
        "reminder_days",
        "leak_action",
    ] {
        assert!(!bad.field(f).is_empty(), "{f}: {}", bad.body);
    }
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let old = issue_key(&dev, &app_id, "90d", "").await.ok().clone();
    let temporary = issue_key(&dev, &app_id, "1d", "").await.ok().clone();
    admin
        .call(
            "update_key_settings",
            &[
                ("max_lifetime_days", "30"),
                ("rotation_days", "60"),
                ("reminder_days", "7"),
                ("leak_action", "revoke"),
            ],
        )
        .await
        .ok();
    assert_eq!(app.audit("settings.update").await.len(), 1);
    let settings = admin.call("get_key_settings", &[]).await.ok().clone();
    assert_eq!(settings["rotation_days"], 60);
    // The portal's maximum now caps what developers choose.
    let refused = issue_key(&dev, &app_id, "90d", "").await;
    assert!(
        refused.field("expires_in").join(" ").contains("30 days"),
        "{}",
        refused.body
    );
    let column = |column: &'static str, id: &Value| {
        let id = id.as_str().unwrap().to_string();
        let db = app.state.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT {column} FROM api_keys WHERE id = $1"))
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let created = column("created_at", &old["view"]["id"]).await;
    // The job runs with the time passed in: 40 days later, the 90-day key stops at day 60;
    // the expired 1-day key is left alone.
    let report = app::keys::service::lifecycle::run(&app.state, created + 40 * DAY)
        .await
        .unwrap();
    assert_eq!(
        (report.capped, report.reminded),
        (1, 0),
        "20 days left: no reminder yet"
    );
    assert_eq!(
        column("expires_at", &old["view"]["id"]).await,
        created + 60 * DAY
    );
    assert!(column("expires_at", &temporary["view"]["id"]).await < created + 2 * DAY);
    assert_eq!(app.audit("key.rotation_age").await.len(), 1);
    // Seven days before: one reminder, however often the job runs.
    let remind_at = created + 53 * DAY;
    assert_eq!(
        app::keys::service::lifecycle::run(&app.state, remind_at - 1)
            .await
            .unwrap()
            .reminded,
        0
    );
    assert_eq!(
        app::keys::service::lifecycle::run(&app.state, remind_at)
            .await
            .unwrap()
            .reminded,
        1
    );
    assert_eq!(
        app::keys::service::lifecycle::run(&app.state, remind_at + HOUR)
            .await
            .unwrap()
            .reminded,
        0
    );
    let notes = dev.call("list_notifications", &[]).await.ok().to_string();
    assert_eq!(notes.matches("stops working at").count(), 1, "{notes}");
    // A key already past the rotation age gets the lead time, not an instant stop.
    let later = created + 200 * DAY;
    sqlx::query("UPDATE api_keys SET expires_at = NULL WHERE id = $1")
        .bind(old["view"]["id"].as_str().unwrap())
        .execute(&app.state.db)
        .await
        .unwrap();
    app::keys::service::lifecycle::run(&app.state, later)
        .await
        .unwrap();
    assert_eq!(
        column("expires_at", &old["view"]["id"]).await,
        later + 7 * DAY
    );
}

async fn post_leaks(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/v1/leaks"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn leak_reports_revoke_or_flag_matching_keys(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let key = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let finding = |t: &str| json!({ "token": t, "type": "keyport_api_key", "url": "https://github.com/o/r/blob/x/.env", "source": "content" });
    assert_eq!(
        post_leaks(&app, "kps_wrong", &json!([finding(&key)]))
            .await
            .0,
        401
    );
    let (status, answer) = post_leaks(&app, &token, &json!({ "token": key })).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("bad_request"))
    );
    assert_eq!(
        app.decision(&token, &key, "api-dev").await,
        "VALID",
        "a refused report changes nothing"
    );

    let unknown = app::domain::ApiKey::generate("kp", app::domain::KeyEnvironment::Live);
    let (status, answer) = post_leaks(
        &app,
        &token,
        &json!([
            finding(&key),
            finding(unknown.expose()),
            finding("ghp_notours")
        ]),
    )
    .await;
    assert_eq!(status, 200);
    let outcomes: Vec<(&str, &str)> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["label"].as_str().unwrap(), a["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("true_positive", "revoked"),
            ("false_positive", "not_found"),
            ("false_positive", "malformed")
        ]
    );
    assert_eq!(
        answer[0]["token_hash"],
        app::platform::state::token_digest(&key)
    );
    assert!(!answer.to_string().contains(&key), "tokens are not echoed");
    assert_eq!(app.decision(&token, &key, "api-dev").await, "REVOKED");
    let notes = dev.call("list_notifications", &[]).await.ok().to_string();
    assert!(
        notes.contains("was found in public") && notes.contains("github.com/o/r"),
        "{notes}"
    );
    let audit = app.audit("key.leak").await;
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].details.contains(&key[10..40]));
    // Reported again: already revoked, still a true positive.
    let (_, answer) = post_leaks(&app, &token, &json!([finding(&key)])).await;
    assert_eq!(answer[0]["outcome"], "already_revoked");

    // Flag-only policy: the key keeps working and is marked in the lists.
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    admin
        .call(
            "update_key_settings",
            &[
                ("max_lifetime_days", ""),
                ("rotation_days", ""),
                ("reminder_days", "7"),
                ("leak_action", "flag"),
            ],
        )
        .await
        .ok();
    let second = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, answer) = post_leaks(&app, &token, &json!([finding(&second)])).await;
    assert_eq!(answer[0]["outcome"], "flagged");
    assert_eq!(app.decision(&token, &second, "api-dev").await, "VALID");
    let flagged = admin
        .call("all_keys", &[("state", "flagged")])
        .await
        .ok()
        .clone();
    assert_eq!(flagged["total"], 1);
    assert!(flagged["items"][0]["flagged"]
        .as_str()
        .unwrap()
        .contains("github.com/o/r"));
}

async fn nginx_auth_request_answers_with_status_and_headers(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let key = issue_key(&dev, &app_id, "1d", "pets:read").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let ask_at = |query: &'static str, headers: Vec<(&'static str, String)>| {
        let mut req = reqwest::Client::new().get(app.url(&format!("/v1/auth_request{query}")));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap() }
    };
    let ask = |headers: Vec<(&'static str, String)>| ask_at("", headers);
    let h = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string())
    };
    // Without the gateway's service token: 401 with a JSON error.
    let res = ask(vec![
        ("x-api-key", key.clone()),
        ("x-original-uri", "/api-dev/pets".into()),
    ])
    .await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "unauthorized");

    let t = || ("x-keyport-token", token.clone());
    let res = ask(vec![
        t(),
        ("x-api-key", key.clone()),
        ("x-original-uri", "/api-dev/pets?limit=2".into()),
        ("x-real-ip", "198.51.100.4".into()),
    ])
    .await;
    assert_eq!(res.status(), 204);
    app.settle().await; // uses are stored in batches
    let listed = dev.call("my_applications", &[]).await.ok()[0]["keys"][0].clone();
    assert_eq!(listed["last_used_ip"], "198.51.100.4");
    assert_eq!(h(&res, "x-keyport-code").as_deref(), Some("VALID"));
    assert_eq!(h(&res, "x-keyport-application").as_deref(), Some("Shop"));
    assert_eq!(
        h(&res, "x-keyport-owner").as_deref(),
        Some("dev@example.com")
    );
    assert_eq!(h(&res, "x-keyport-scopes").as_deref(), Some("pets:read"));
    assert_eq!(h(&res, "x-keyport-environment").as_deref(), Some("live"));
    assert!(h(&res, "x-keyport-key-id").is_some());
    // Bearer works too; the operator's `api` names the API when the path does not.
    let res = ask_at(
        "?api=api-dev",
        vec![
            t(),
            ("authorization", format!("Bearer {key}")),
            ("x-original-uri", "/v2/pets".into()),
        ],
    )
    .await;
    assert_eq!(res.status(), 204);
    // What the client sends never chooses the API or the scope: nginx forwards the
    // client's own X-Keyport-Api and X-Keyport-Scope headers to the subrequest.
    let res = ask(vec![
        t(),
        ("x-api-key", key.clone()),
        ("x-keyport-api", "api-dev".into()),
        ("x-original-uri", "/elsewhere/x".into()),
    ])
    .await;
    assert_eq!(
        (res.status().as_u16(), h(&res, "x-keyport-code").as_deref()),
        (403, Some("API_NOT_ALLOWED"))
    );
    let res = ask_at(
        "?api=api-dev&scope=pets:write",
        vec![
            t(),
            ("x-api-key", key.clone()),
            ("x-keyport-scope", "".into()),
            ("x-original-uri", "/v2/pets".into()),
        ],
    )
    .await;
    assert_eq!(h(&res, "x-keyport-code").as_deref(), Some("SCOPE_DENIED"));
    // An original URI that nginx would route elsewhere than it reads is refused.
    for uri in [
        "/elsewhere/../api-dev/x",
        "/api-dev/./x",
        "//api-dev/x",
        "/elsewhere/%2e%2e/api-dev/x",
        "/elsewhere%2F..%2Fapi-dev/x",
        "/api-dev/..",
        "/elsewhere\\..\\api-dev",
    ] {
        let res = ask(vec![
            t(),
            ("x-api-key", key.clone()),
            ("x-original-uri", uri.into()),
        ])
        .await;
        assert_eq!(
            (res.status().as_u16(), h(&res, "x-keyport-code").as_deref()),
            (403, Some("URI_NOT_CANONICAL")),
            "{uri}"
        );
    }
    // A configuration the gateway cannot read is a 422 (nginx then fails the request).
    let res = ask_at("?api=Not+A+Slug", vec![t(), ("x-api-key", key.clone())]).await;
    assert_eq!(res.status(), 422);
    let res = ask_at("?apis=api-dev", vec![t(), ("x-api-key", key.clone())]).await;
    assert_eq!(res.status(), 422);
    // Envoy ext_authz (HTTP): the original method and path appended to ours, and a
    // browser's headers forwarded (no cross-site refusal on the gateway APIs).
    let envoy = reqwest::Client::new()
        .post(app.url("/v1/auth_request/api-dev/pets/7"))
        .header("x-keyport-token", &token)
        .header("x-api-key", &key)
        .header("origin", "https://shop.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(envoy.status(), 204);
    assert_eq!(h(&envoy, "x-keyport-code").as_deref(), Some("VALID"));
    // Envoy appends the client's own query: it never names the API.
    let elsewhere = reqwest::Client::new()
        .get(app.url("/v1/auth_request/other/pets?api=api-dev"))
        .header("x-keyport-token", &token)
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 403);
    for (headers, status, expected) in [
        (
            vec![t(), ("x-original-uri", "/api-dev/pets".to_string())],
            401,
            "MISSING_KEY",
        ),
        (
            vec![
                t(),
                ("x-api-key", "kp_live_bad".into()),
                ("x-original-uri", "/api-dev".into()),
            ],
            401,
            "MALFORMED",
        ),
        (
            vec![
                t(),
                ("x-api-key", key.clone()),
                ("x-original-uri", "/elsewhere/x".into()),
            ],
            403,
            "API_NOT_ALLOWED",
        ),
    ] {
        let res = ask(headers).await;
        assert_eq!(
            (res.status().as_u16(), h(&res, "x-keyport-code").as_deref()),
            (status, Some(expected))
        );
        assert!(
            h(&res, "x-keyport-application").is_none(),
            "no identity on refusals"
        );
    }
}
