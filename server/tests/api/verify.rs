//! The verify API: service-token authentication, and one case per answer code on both
//! backends. The subscription state decides: suspending it refuses the key at once.

use crate::backends;
use crate::helpers::TestApp;
use crate::helpers::{issue_key, published_api, subscribed_application, subscribed_developer};
use app::domain::{ApiKey, KeyEnvironment, Role};
use serde_json::{json, Value};

backends!(
    gateways_need_a_live_service_token,
    one_answer_per_code,
    ip_allowlists_and_use_limits,
    parallel_verifications_never_overspend_uses,
    admins_create_service_tokens_with_step_up,
    the_openapi_document_describes_the_gateway_api,
    scopes_hold_only_on_the_api_whose_plan_grants_them,
    keys_of_a_disabled_owner_stop_until_re_enabled,
    bad_fields_are_a_422_and_answers_are_never_cached,
    a_suspension_is_not_undone_by_the_suspended_party,
    gateway_calls_skip_the_portal_session_and_csrf,
    plan_and_key_rate_limits_are_enforced,
    a_parallel_burst_gets_the_limit_and_the_quota_exactly,
    quotas_hold_per_utc_day_and_month,
    quota_leases_grow_and_go_back_when_quiet
);

/// 60 requests at once against a plan of 10 per minute and a quota of 25 a day: exactly 10
/// pass (the next one is due six seconds later), and each passed request is counted once
/// against the quota.
async fn a_parallel_burst_gets_the_limit_and_the_quota_exactly(app: TestApp) {
    let token = app.service_token("edge").await;
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let plan_id = crate::helpers::published_api(&p, "burst", "").await;
    let api_id = p.call("api_for_edit", &[("slug", "burst")]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    crate::helpers::set_plan_limits(&p, (&api_id, &plan_id), ("10", "minute"), ("25", "day")).await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = crate::helpers::subscribed_application(&dev, "Shop", &plan_id).await;
    let key = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (client, url) = (reqwest::Client::new(), app.url("/v1/keys/verify"));
    let body = json!({ "key": key, "api": "burst" });
    let burst = || {
        let answers = futures_join(60, |_| {
            let (client, url, token, body) =
                (client.clone(), url.clone(), token.clone(), body.clone());
            async move {
                let res = client.post(url).bearer_auth(token).json(&body).send().await;
                let answer: Value = res.unwrap().json().await.unwrap();
                answer["code"].as_str().unwrap().to_string()
            }
        });
        async move {
            let codes = answers.await;
            let count = |code: &str| codes.iter().filter(|c| *c == code).count();
            (count("VALID"), count("RATE_LIMITED"))
        }
    };
    assert_eq!(burst().await, (10, 50));
    // A minute later: 10 more; the quota (25) has counted 20 of them.
    app.clock.advance(60_000);
    assert_eq!(burst().await, (10, 50));
    // The instance leased blocks of the quota; what it did not use goes back when it is
    // idle or stops.
    app.state.quotas.release(&app.state.db).await.unwrap();
    let used: i64 = sqlx::query_scalar("SELECT used FROM quota_usage")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        used, 20,
        "each passed request counted once, refused ones not at all"
    );
    app.clock.advance(60_000);
    let (passed, _) = burst().await;
    assert_eq!(passed, 5, "the quota's last 5");
}

/// A plan's quota counts the requests of a subscription (all its keys) per UTC day or month
/// and resets at the boundary; the answer says what remains and when it resets.
async fn quotas_hold_per_utc_day_and_month(app: TestApp) {
    use app::domain::QuotaPeriod;
    let token = app.service_token("edge").await;
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let plan_id = crate::helpers::published_api(&p, "metered", "").await;
    let api_id = p.call("api_for_edit", &[("slug", "metered")]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let set_quota = |quota: &'static str, period: &'static str| {
        crate::helpers::set_plan_limits(&p, (&api_id, &plan_id), ("", "second"), (quota, period))
    };
    set_quota("3", "day").await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = crate::helpers::subscribed_application(&dev, "Shop", &plan_id).await;
    let key = |name: &'static str| {
        let (dev, app_id) = (&dev, app_id.clone());
        async move {
            dev.call(
                "issue_key",
                &[
                    ("application_id", app_id.as_str()),
                    ("name", name),
                    ("environment", "live"),
                    ("expires_in", "90d"),
                    ("scopes", ""),
                ],
            )
            .await
            .ok()["key"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (a, b) = (key("a").await, key("b").await);
    let body = |k: &str| json!({ "key": k, "api": "metered" });
    // Ten seconds before the next UTC midnight.
    let now = app.clock.now();
    app.clock.advance(QuotaPeriod::Day.end(now) - 10_000 - now);
    // (The app's clock is real time moved on: a few milliseconds pass between calls.)
    let reset_within = |answer: &Value, secs: i64| {
        let reset = answer["limit"]["reset"].as_i64().unwrap();
        assert!((secs - 1..=secs).contains(&reset), "{answer}");
    };
    for (k, left) in [(&a, 2), (&b, 1), (&a, 0)] {
        let (_, answer) = app.verify(&token, body(k)).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
        assert_eq!(answer["limit"]["limit"], 3);
        assert_eq!(answer["limit"]["remaining"], left);
        reset_within(&answer, 10);
    }
    let res = reqwest::Client::new()
        .post(app.url("/v1/keys/verify"))
        .bearer_auth(&token)
        .json(&body(&b))
        .send()
        .await
        .unwrap();
    let header = |name: &str| res.headers()[name].to_str().unwrap().to_string();
    let retry_after = header("retry-after");
    assert_eq!(retry_after, header("ratelimit-reset"));
    let over: Value = res.json().await.unwrap();
    assert_eq!(over["code"], "QUOTA_EXCEEDED");
    assert_eq!(over["limit"]["retry_after"].to_string(), retry_after);
    reset_within(&over, 10);
    // The new day starts at UTC midnight.
    app.clock.advance(5_000);
    assert_eq!(
        app.verify(&token, body(&a)).await.1["code"],
        "QUOTA_EXCEEDED"
    );
    app.clock.advance(5_000);
    assert_eq!(
        app.verify(&token, body(&a)).await.1["limit"]["remaining"],
        2
    );

    // Per month: five seconds before the next month begins. (A day passed: the publisher
    // signs in again.)
    p.sign_in("pub@example.com", crate::helpers::PASSWORD)
        .await
        .ok();
    set_quota("2", "month").await;
    let now = app.clock.now();
    app.clock.advance(QuotaPeriod::Month.end(now) - 5_000 - now);
    for left in [1, 0] {
        let (_, answer) = app.verify(&token, body(&b)).await;
        assert_eq!(
            (
                answer["limit"]["limit"].as_i64(),
                answer["limit"]["remaining"].as_i64()
            ),
            (Some(2), Some(left))
        );
        reset_within(&answer, 5);
    }
    assert_eq!(
        app.verify(&token, body(&a)).await.1["code"],
        "QUOTA_EXCEEDED"
    );
    app.clock.advance(5_000);
    assert_eq!(app.verify(&token, body(&a)).await.1["code"], "VALID");
}

/// An instance leases a subscription's quota in blocks that grow while requests come
/// quickly (1, 2, 4, 8, 16: 31 leased for 20 requests) and never past an eighth of what is
/// left; every answer still says exactly what remains. What was not used goes back once the
/// subscription has been quiet for ten seconds (the block size stays for when it is busy
/// again), and when the plan's quota changes.
async fn quota_leases_grow_and_go_back_when_quiet(app: TestApp) {
    let token = app.service_token("edge").await;
    let (p, _, _, key, _) = crate::helpers::metered_key(&app, "dev@example.com", "1000").await;
    let edit = p
        .call("api_for_edit", &[("slug", "api-dev")])
        .await
        .ok()
        .clone();
    let (api_id, plan_id) = (
        edit["id"].as_str().unwrap(),
        edit["plans"][0]["id"].as_str().unwrap(),
    );
    let body = json!({ "key": key, "api": "api-dev" });
    let used = || async {
        sqlx::query_scalar::<_, i64>("SELECT used FROM quota_usage")
            .fetch_one(&app.state.db)
            .await
            .unwrap()
    };
    for n in 1..=20 {
        let (_, answer) = app.verify(&token, body.clone()).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
        assert_eq!(answer["limit"]["remaining"], 1000 - n, "{answer}");
    }
    // Each block is leased when half of the last one is used, in the background; once
    // those have landed, the database counts the 20 passed and what this instance holds.
    let quotas = &app.state.quotas;
    quotas.settled().await;
    let held = quotas.held();
    assert!(held > 0, "the next block was leased ahead");
    assert_eq!(used().await, 20 + held);
    let now = app.clock.now();
    assert_eq!(
        quotas.sweep(&app.state.db, now).await.unwrap(),
        0,
        "not quiet yet"
    );
    assert_eq!(used().await, 20 + held);
    app.clock.advance(app::platform::quota::IDLE_MS);
    assert_eq!(
        quotas.sweep(&app.state.db, app.clock.now()).await.unwrap(),
        1
    );
    assert_eq!(used().await, 20, "what was leased and unused went back");
    // The block size outlives the quiet spell: the next request leases 16 again, not 1.
    let (_, answer) = app.verify(&token, body.clone()).await;
    assert_eq!(answer["limit"]["remaining"], 1000 - 21, "{answer}");
    quotas.settled().await;
    assert_eq!((used().await, quotas.held()), (20 + 16, 15));
    // Quiet for ten minutes, the subscription is forgotten.
    app.clock.advance(app::platform::quota::FORGET_MS);
    assert_eq!(
        quotas.sweep(&app.state.db, app.clock.now()).await.unwrap(),
        1
    );
    assert_eq!(used().await, 21);

    // A lease under the old quota goes back when the plan changes; near the end of a
    // quota, requests are leased one at a time.
    let (_, answer) = app.verify(&token, body.clone()).await;
    assert_eq!(answer["limit"]["remaining"], 1000 - 22, "{answer}");
    crate::helpers::set_plan_limits(&p, (api_id, plan_id), ("", "second"), ("25", "day")).await;
    app.settle().await;
    for left in (0..3).rev() {
        let (_, answer) = app.verify(&token, body.clone()).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
        assert_eq!(answer["limit"]["remaining"], left, "{answer}");
    }
    app.state.quotas.settled().await;
    assert_eq!(used().await, 25, "one at a time: never more than the quota");
    let (_, answer) = app.verify(&token, body.clone()).await;
    assert_eq!(answer["code"], "QUOTA_EXCEEDED", "{answer}");
}

/// A plan's rate (per subscription, shared by its keys) and a key's own rate are enforced
/// with GCRA: the answer says what remains and when it resets, a refusal says when to come
/// back, and a refused request costs nothing.
async fn plan_and_key_rate_limits_are_enforced(app: TestApp) {
    let token = app.service_token("edge").await;
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let plan_id = crate::helpers::published_api(&p, "limited", "5").await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = crate::helpers::subscribed_application(&dev, "Shop", &plan_id).await;
    let key = |own: &str| {
        let dev = &dev;
        let app_id = app_id.clone();
        let own = own.to_string();
        async move {
            dev.call(
                "issue_key",
                &[
                    ("application_id", app_id.as_str()),
                    ("name", "k"),
                    ("environment", "live"),
                    ("expires_in", "1d"),
                    ("scopes", ""),
                    ("rate_limit", own.as_str()),
                    ("rate_period", "second"),
                ],
            )
            .await
            .ok()["key"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (a, b, own) = (key("").await, key("").await, key("2").await);
    let body = |k: &str| json!({ "key": k, "api": "limited" });
    // The plan's 5 per second, for the whole subscription.
    for left in (0..5).rev() {
        let (_, answer) = app
            .verify(&token, body(if left % 2 == 0 { &a } else { &b }))
            .await;
        assert_eq!(answer["code"], "VALID");
        assert_eq!(answer["limit"]["limit"], 5);
        assert_eq!(answer["limit"]["remaining"], left);
    }
    let res = reqwest::Client::new()
        .post(app.url("/v1/keys/verify"))
        .bearer_auth(&token)
        .json(&body(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["ratelimit-limit"], "5");
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    assert_eq!(res.headers()["retry-after"], "1");
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["code"], "RATE_LIMITED");
    assert_eq!(refused["valid"], false);
    assert_eq!(refused["limit"]["retry_after"], 1);
    // The key with its own limit is refused by the plan's bucket, and gets its request back.
    assert_eq!(
        app.verify(&token, body(&own)).await.1["code"],
        "RATE_LIMITED"
    );
    // nginx gets 403 (auth_request accepts no other refusal), Envoy 429; both with headers.
    let ask = |path: &str| {
        reqwest::Client::new()
            .get(app.url(path))
            .header("x-keyport-token", &token)
            .header("x-api-key", &b)
            .send()
    };
    let nginx = ask("/v1/auth_request?api=limited").await.unwrap();
    assert_eq!(nginx.status(), 403);
    assert_eq!(nginx.headers()["x-keyport-code"], "RATE_LIMITED");
    assert_eq!(nginx.headers()["retry-after"], "1");
    let envoy = ask("/v1/auth_request/limited/pets").await.unwrap();
    assert_eq!(envoy.status(), 429);
    assert_eq!(envoy.headers()["ratelimit-remaining"], "0");

    // A second later the plan's bucket is whole: the key's own 2 per second now bind.
    app.clock.advance(1_000);
    for left in [1, 0] {
        let (_, answer) = app.verify(&token, body(&own)).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
        assert_eq!(answer["limit"]["limit"], 2);
        assert_eq!(answer["limit"]["remaining"], left);
    }
    let (_, refused) = app.verify(&token, body(&own)).await;
    assert_eq!(
        (refused["code"].as_str(), refused["limit"]["limit"].as_i64()),
        (Some("RATE_LIMITED"), Some(2))
    );
    // The other keys still have the plan's remaining 3.
    assert_eq!(
        app.verify(&token, body(&a)).await.1["limit"]["remaining"],
        2
    );
    // A key on a plan without a rate limit has no limit in its answer.
    let (dev2, _, app2) = subscribed_developer(&app, "free@example.com").await;
    let free = issue_key(&dev2, &app2, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, answer) = app
        .verify(&token, json!({ "key": free, "api": "api-free" }))
        .await;
    assert_eq!(answer["code"], "VALID");
    assert!(answer.get("limit").is_none(), "{answer}");
}

/// `/v1/*` is a router of its own: a browser's session cookie sent along is neither read
/// nor refreshed (nor answered with a cookie), and a cross-site origin is not refused
/// (gateways are not browsers; the service token is the check).
async fn gateway_calls_skip_the_portal_session_and_csrf(app: TestApp) {
    let token = app.service_token("edge").await;
    let (portal, _) = app.signed_in("both@example.com", Role::Developer).await;
    let cookie = portal.cookies().unwrap();
    for _ in 0..2 {
        app.clock.advance(20 * 60_000);
        let res = reqwest::Client::new()
            .post(app.url("/v1/keys/verify"))
            .bearer_auth(&token)
            .header("cookie", &cookie)
            .header("origin", "https://elsewhere.example")
            .header("sec-fetch-site", "cross-site")
            .json(&json!({ "key": "kp_live_made_up", "api": "pets" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "an answer, not a refusal of the caller");
        assert!(res.headers().get("set-cookie").is_none());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "MALFORMED");
    }
    // 40 minutes without a portal request: the gateway calls kept nothing alive.
    assert_eq!(portal.whoami().await, Value::Null);
}

/// The owner of a suspended subscription cannot lift it by cancelling and subscribing
/// again (nor with a new application): after a suspension or a rejection a subscription
/// waits for the publisher, even on an automatic plan, and the old keys stay refused.
async fn a_suspension_is_not_undone_by_the_suspended_party(app: TestApp) {
    let token = app.service_token("edge").await;
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let plan_id = published_api(&p, "api-dev", "").await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = subscribed_application(&dev, "Shop", &plan_id).await;
    let key = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = json!({ "key": key, "api": "api-dev" });
    let sub = dev.call("my_applications", &[]).await.ok()[0]["subscriptions"][0].clone();
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    admin
        .call(
            "decide_subscription",
            &[
                ("id", &sub_id),
                ("decision", "suspend"),
                ("reason", "abuse"),
            ],
        )
        .await
        .ok();
    // The owner may not resume it…
    let resumed = dev
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "resume")],
        )
        .await;
    assert!(
        resumed.status == 403 || resumed.status == 404,
        "{}",
        resumed.status
    );
    // …nor cancel and subscribe again to an automatic plan.
    dev.call("cancel_subscription", &[("id", &sub_id)])
        .await
        .ok();
    let again = dev
        .call(
            "subscribe",
            &[("application_id", &app_id), ("plan_id", &plan_id)],
        )
        .await;
    assert_eq!(again.ok(), &json!("pending"));
    assert_eq!(
        app.verify(&token, ask.clone()).await.1["code"],
        "SUBSCRIPTION_INACTIVE"
    );
    // A fresh application of the same owner waits too.
    let other = subscribed_application(&dev, "Shop 2", &plan_id).await;
    let apps = dev.call("my_applications", &[]).await.ok().clone();
    let state = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == other.as_str())
        .unwrap()["subscriptions"][0]["state"]
        .clone();
    assert_eq!(state, "pending");
    // The publisher decides: approved, the key works again.
    let pending = admin
        .call("approval_queue", &[("state", "pending")])
        .await
        .ok()
        .clone();
    let renewed = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["application"] == "Shop")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .call(
            "decide_subscription",
            &[("id", &renewed), ("decision", "approve")],
        )
        .await
        .ok();
    assert_eq!(app.verify(&token, ask).await.1["code"], "VALID");
}

async fn the_openapi_document_describes_the_gateway_api(app: TestApp) {
    let res = reqwest::get(app.url("/v1/openapi.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/auth_request",
            "/v1/keys/verify",
            "/v1/leaks",
            "/v1/usage"
        ]
    );
    let codes = doc["components"]["schemas"]["Code"]["enum"].clone();
    assert_eq!(
        codes,
        json!([
            "VALID",
            "MALFORMED",
            "NOT_FOUND",
            "EXPIRED",
            "REVOKED",
            "OWNER_DISABLED",
            "EXHAUSTED",
            "IP_NOT_ALLOWED",
            "SCOPE_DENIED",
            "API_NOT_ALLOWED",
            "SUBSCRIPTION_INACTIVE",
            "RATE_LIMITED",
            "QUOTA_EXCEEDED",
            "NO_SANDBOX"
        ])
    );
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("service_token") && schemes.contains_key("service_token_header"));
    assert_eq!(
        doc["paths"]["/v1/keys/verify"]["post"]["responses"]["401"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    // The body (POST /v1/keys/verify) and the query (GET /v1/auth_request) state the same
    // slug and scope rules, written in two places (utoipa takes only literals).
    let body = &doc["components"]["schemas"]["VerifyRequest"]["properties"];
    let query = doc["paths"]["/v1/auth_request"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let param =
        |name: &str| query.iter().find(|p| p["name"] == name).unwrap()["schema"]["pattern"].clone();
    assert_eq!(body["api"]["pattern"], param("api"));
    assert_eq!(body["scope"]["pattern"], param("scope"));
    assert!(body["api"]["pattern"]
        .as_str()
        .unwrap()
        .starts_with("^(?!new"));
}

async fn gateways_need_a_live_service_token(app: TestApp) {
    let body = json!({ "key": "kp_live_x", "api": "pets" });
    for token in ["", "kps_wrong", "Basic abc"] {
        let (status, answer) = app.verify(token, body.clone()).await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(answer["error"], "unauthorized");
    }
    let token = app.service_token("edge").await;
    assert_eq!(app.verify(&token, body.clone()).await.0, 200);
    let id = sqlx::query_scalar::<_, String>("SELECT id FROM service_tokens")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    // Revoked straight in the database (as another instance or the CLI would): the token
    // works until the feed is applied, and not after.
    app::admin::store::revoke_service_token(&app.state.db, &id, app.clock.now())
        .await
        .unwrap();
    assert_eq!(app.verify(&token, body.clone()).await.0, 200);
    app.settle().await;
    assert_eq!(
        app.verify(&token, body).await.0,
        401,
        "a revoked token is refused"
    );
    // A body that is not the documented JSON is a 400 with a JSON error.
    let other = app.service_token("edge").await;
    let (status, answer) = app.verify(&other, json!({ "api": "pets" })).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "bad_request");
}

async fn one_answer_per_code(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let issued = issue_key(&dev, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    let key = issued["key"].as_str().unwrap().to_string();
    let api = "api-dev";
    let ask = |key: &str, api: &str, scope: Option<&str>| json!({ "key": key, "api": api, "scope": scope, "ip": "203.0.113.9" });
    let code = |answer: &Value| answer["code"].as_str().unwrap().to_string();

    let (status, valid) = app.verify(&token, ask(&key, api, Some("pets:read"))).await;
    assert_eq!(status, 200);
    assert_eq!(valid["valid"], true);
    assert_eq!(code(&valid), "VALID");
    assert_eq!(valid["key_id"], issued["view"]["id"]);
    assert_eq!(valid["application"], "Shop");
    assert_eq!(valid["owner"], "dev@example.com");
    assert_eq!(valid["environment"], "live");
    assert_eq!(valid["scopes"], json!(["pets:read"]));
    app.settle().await; // uses are stored in batches
    let listed = dev.call("my_applications", &[]).await.ok()[0]["keys"][0].clone();
    assert_eq!(listed["last_used_ip"], "203.0.113.9");

    let cases = [
        (ask("kp_live_nonsense", api, None), "MALFORMED"),
        (
            ask(
                ApiKey::generate("kp", KeyEnvironment::Live).expose(),
                api,
                None,
            ),
            "NOT_FOUND",
        ),
        (ask(&key, api, Some("pets:write")), "SCOPE_DENIED"),
        (ask(&key, "someone-elses-api", None), "API_NOT_ALLOWED"),
    ];
    for (body, expected) in cases {
        let (status, answer) = app.verify(&token, body).await;
        assert_eq!(
            (status, code(&answer).as_str(), &answer["valid"]),
            (200, expected, &json!(false))
        );
    }

    // The subscription is the source of truth: suspended → refused, resumed → valid again.
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let sub_id = dev.call("my_applications", &[]).await.ok()[0]["subscriptions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .call(
            "decide_subscription",
            &[
                ("id", &sub_id),
                ("decision", "suspend"),
                ("reason", "audit"),
            ],
        )
        .await
        .ok();
    assert_eq!(
        code(&app.verify(&token, ask(&key, api, None)).await.1),
        "SUBSCRIPTION_INACTIVE"
    );
    admin
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "resume")],
        )
        .await
        .ok();
    assert_eq!(
        code(&app.verify(&token, ask(&key, api, None)).await.1),
        "VALID"
    );

    // Revocation refuses at once.
    let key_id = issued["view"]["id"].as_str().unwrap().to_string();
    admin
        .call("revoke_key", &[("id", &key_id), ("reason", "Leaked")])
        .await
        .ok();
    assert_eq!(
        code(&app.verify(&token, ask(&key, api, None)).await.1),
        "REVOKED"
    );
    // Expiry, with time passed in (last: sessions time out too).
    let short = issue_key(&dev, &app_id, "1h", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        code(&app.verify(&token, ask(&short, api, None)).await.1),
        "VALID"
    );
    app.clock.advance(60 * 60_000);
    assert_eq!(
        code(&app.verify(&token, ask(&short, api, None)).await.1),
        "EXPIRED"
    );
}

async fn admins_create_service_tokens_with_step_up(app: TestApp) {
    let (admin, _, secret) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let created = admin
        .call("create_service_token", &[("name", "edge nginx")])
        .await
        .ok()
        .clone();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("kps_"));
    assert_eq!(
        app.verify(&token, json!({ "key": "x", "api": "pets" }))
            .await
            .1["code"],
        "MALFORMED"
    );
    let list = admin.call("list_service_tokens", &[]).await.ok().clone();
    assert_eq!(list[0]["name"], "edge nginx");
    assert!(
        !list.to_string().contains(&token),
        "the token is shown once"
    );
    app.clock.advance(10 * 60_000);
    let stale = admin
        .call("create_service_token", &[("name", "another")])
        .await;
    assert_eq!(stale.error_kind(), "mfa_required");
    admin
        .call(
            "confirm_step_up",
            &[("code", &app.code(&secret, "admin@example.com", 0))],
        )
        .await
        .ok();
    let id = list[0]["id"].as_str().unwrap().to_string();
    admin
        .call("revoke_service_token", &[("id", &id)])
        .await
        .ok();
    assert_eq!(
        app.verify(&token, json!({ "key": "x", "api": "pets" }))
            .await
            .0,
        401
    );
    assert_eq!(app.audit("service_token.create").await.len(), 1);
    assert_eq!(app.audit("service_token.revoke").await.len(), 1);
}

async fn issue_with(
    dev: &crate::helpers::Client,
    app_id: &str,
    max_uses: &str,
    allowlist: &str,
) -> Value {
    dev.call(
        "issue_key",
        &[
            ("application_id", app_id),
            ("name", "limited"),
            ("environment", "live"),
            ("expires_in", "1d"),
            ("scopes", ""),
            ("max_uses", max_uses),
            ("ip_allowlist", allowlist),
        ],
    )
    .await
    .ok()
    .clone()
}

async fn ip_allowlists_and_use_limits(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let bad = dev
        .call(
            "issue_key",
            &[
                ("application_id", &app_id),
                ("name", "x"),
                ("environment", "test"),
                ("expires_in", "1d"),
                ("scopes", ""),
                ("max_uses", "0"),
                ("ip_allowlist", "10.0.0.0/33"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        !bad.field("max_uses").is_empty() && !bad.field("ip_allowlist").is_empty(),
        "{}",
        bad.body
    );

    let fenced = issue_with(&dev, &app_id, "", "203.0.113.0/24 2001:db8::/32").await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let from = |ip: Option<&str>| json!({ "key": fenced, "api": "api-dev", "ip": ip });
    for (ip, expected) in [
        (Some("203.0.113.77"), "VALID"),
        (Some("2001:db8::1"), "VALID"),
        (Some("198.51.100.1"), "IP_NOT_ALLOWED"),
        (None, "IP_NOT_ALLOWED"),
    ] {
        assert_eq!(
            app.verify(&token, from(ip)).await.1["code"],
            expected,
            "{ip:?}"
        );
    }

    let limited = issue_with(&dev, &app_id, "2", "").await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = json!({ "key": limited, "api": "api-dev" });
    // A refused verification spends nothing.
    let elsewhere = json!({ "key": limited, "api": "other-api" });
    assert_eq!(
        app.verify(&token, elsewhere).await.1["code"],
        "API_NOT_ALLOWED"
    );
    assert_eq!(app.verify(&token, ask.clone()).await.1["remaining"], 1);
    assert_eq!(app.verify(&token, ask.clone()).await.1["remaining"], 0);
    assert_eq!(app.verify(&token, ask.clone()).await.1["code"], "EXHAUSTED");
    // The list shows the count; unlimited keys report null.
    let keys = dev.call("my_applications", &[]).await.ok()[0]["keys"].clone();
    let shown = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["max_uses"] == 2)
        .unwrap()
        .clone();
    assert_eq!(
        (shown["remaining_uses"].clone(), shown["state"].clone()),
        (json!(0), json!("exhausted"))
    );
    let fenced_answer = app.verify(&token, from(Some("203.0.113.1"))).await.1;
    assert!(fenced_answer["remaining"].is_null());
}

async fn parallel_verifications_never_overspend_uses(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let key = issue_with(&dev, &app_id, "5", "").await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({ "key": key, "api": "api-dev" });
    let client = reqwest::Client::new();
    let url = app.url("/v1/keys/verify");
    let answers = futures_join(30, |_| {
        let (client, url, token, body) = (client.clone(), url.clone(), token.clone(), body.clone());
        async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()["code"]
                .as_str()
                .unwrap()
                .to_string()
        }
    })
    .await;
    let valid = answers.iter().filter(|c| *c == "VALID").count();
    let exhausted = answers.iter().filter(|c| *c == "EXHAUSTED").count();
    assert_eq!((valid, exhausted), (5, 25), "{answers:?}");
}

/// Runs `n` tasks at once and collects their results.
async fn futures_join<F, Fut>(n: usize, make: F) -> Vec<String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(make(i))).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Sets the scopes of `plan_id` (of the API `slug`), keeping the rest as `published_api` made it.
async fn set_plan_scopes(p: &crate::helpers::Client, slug: &str, plan_id: &str, scopes: &str) {
    let api_id = p.call("api_for_edit", &[("slug", slug)]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    p.call(
        "save_plan",
        &[
            ("api_id", &api_id),
            ("plan_id", plan_id),
            ("name", "Std"),
            ("description", ""),
            ("rate_limit", ""),
            ("rate_period", "second"),
            ("burst", ""),
            ("quota", ""),
            ("quota_period", "day"),
            ("approval", "automatic"),
            ("scopes", scopes),
            ("max_key_lifetime_days", "90"),
        ],
    )
    .await
    .ok();
}

async fn scopes_hold_only_on_the_api_whose_plan_grants_them(app: TestApp) {
    let token = app.service_token("edge").await;
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let plan_a = published_api(&p, "api-a", "").await;
    let plan_b = published_api(&p, "api-b", "").await;
    set_plan_scopes(&p, "api-b", &plan_b, "pets:read").await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = subscribed_application(&dev, "Shop", &plan_a).await;
    dev.call(
        "subscribe",
        &[("application_id", &app_id), ("plan_id", &plan_b)],
    )
    .await
    .ok();
    // The key may carry pets:write: plan A grants it.
    let issued = issue_key(&dev, &app_id, "1d", "pets:read pets:write")
        .await
        .ok()
        .clone();
    let key = issued["key"].as_str().unwrap().to_string();
    let ask = |api: &str, scope: Option<&str>| json!({ "key": key, "api": api, "scope": scope });
    assert_eq!(
        app.verify(&token, ask("api-a", Some("pets:write"))).await.1["code"],
        "VALID"
    );
    // …but not on API B, whose plan does not.
    assert_eq!(
        app.verify(&token, ask("api-b", Some("pets:write"))).await.1["code"],
        "SCOPE_DENIED"
    );
    let on_b = app.verify(&token, ask("api-b", None)).await.1;
    assert_eq!(
        (on_b["code"].clone(), on_b["scopes"].clone()),
        (json!("VALID"), json!(["pets:read"]))
    );
    // Taking the scope away from plan A takes effect at once for the existing key.
    set_plan_scopes(&p, "api-a", &plan_a, "pets:read").await;
    assert_eq!(
        app.verify(&token, ask("api-a", Some("pets:write"))).await.1["code"],
        "SCOPE_DENIED"
    );
    // A rotation carries over only the scopes still granted.
    let key_id = issued["view"]["id"].as_str().unwrap();
    let rotated = dev
        .call("rotate_key", &[("id", key_id), ("grace", "0")])
        .await
        .ok()
        .clone();
    assert_eq!(rotated["view"]["scopes"], json!(["pets:read"]));
}

async fn keys_of_a_disabled_owner_stop_until_re_enabled(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let dev_id = dev.whoami().await["id"].as_str().unwrap().to_string();
    let key = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = json!({ "key": key, "api": "api-dev" });
    assert_eq!(app.verify(&token, ask.clone()).await.1["code"], "VALID");
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let set = |status: &'static str| {
        let (admin, dev_id) = (&admin, dev_id.clone());
        async move {
            admin
                .call(
                    "set_user_status",
                    &[("user_id", &dev_id), ("status", status)],
                )
                .await
                .ok();
        }
    };
    set("disabled").await;
    let refused = app.verify(&token, ask.clone()).await.1;
    assert_eq!(
        (refused["code"].clone(), refused["valid"].clone()),
        (json!("OWNER_DISABLED"), json!(false))
    );
    let nginx = reqwest::Client::new()
        .get(app.url("/v1/auth_request?api=api-dev"))
        .header("x-keyport-token", &token)
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(nginx.status(), 401);
    assert_eq!(nginx.headers()["x-keyport-code"], "OWNER_DISABLED");
    set("active").await;
    assert_eq!(app.verify(&token, ask).await.1["code"], "VALID");
}

async fn bad_fields_are_a_422_and_answers_are_never_cached(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let key = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let huge = "1".repeat(900_000);
    for (body, field) in [
        (
            json!({ "key": key, "api": "api-dev", "ip": "<script>" }),
            "ip",
        ),
        (json!({ "key": key, "api": "api-dev", "ip": huge }), "ip"),
        (
            json!({ "key": key, "api": "api-dev", "ip": "not an ip" }),
            "ip",
        ),
        (
            json!({ "key": key, "api": "api-dev", "scope": "a b" }),
            "scope",
        ),
        (json!({ "key": key, "api": "<b>x</b>" }), "api"),
    ] {
        let (status, answer) = app.verify(&token, body).await;
        assert_eq!(status, 422, "{field}: {answer}");
        assert!(answer["fields"][field].is_array(), "{answer}");
        assert!(answer["message"].is_string());
    }
    // Nothing of the refused input was stored as the key's last use.
    let listed = dev.call("my_applications", &[]).await.ok()[0]["keys"][0].clone();
    assert!(listed["last_used_ip"].is_null(), "{listed}");
    // Every /v1 answer, valid or not, authenticated or not, is `no-store`, carries the
    // portal's security headers, and names its request (the caller's id when acceptable).
    let client = reqwest::Client::new();
    for (i, res) in [
        client
            .post(app.url("/v1/keys/verify"))
            .bearer_auth(&token)
            .header("X-Request-Id", "edge-42")
            .json(&json!({ "key": key, "api": "api-dev" }))
            .send()
            .await
            .unwrap(),
        client
            .post(app.url("/v1/keys/verify"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        client
            .get(app.url("/v1/auth_request"))
            .send()
            .await
            .unwrap(),
    ]
    .into_iter()
    .enumerate()
    {
        let h = res.headers();
        assert_eq!(h["cache-control"], "no-store", "{}", res.url());
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
        let id = h["x-request-id"].to_str().unwrap();
        if i == 0 {
            assert_eq!(id, "edge-42");
        } else {
            assert!(
                id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}"
            );
        }
    }
    // A gateway without a token is told what it lacks (not to sign in), with the scheme.
    let res = client
        .post(app.url("/v1/keys/verify"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("service token"),
        "{body}"
    );
}
