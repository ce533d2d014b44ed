//! Alerts from usage, driven by real traffic through the verify API: a quota at 80% and
//! 100%, a revoked key still tried, a spike of refusals and a key used from a new network
//! each raise one notification (once, however often the rules run) linking to the chart;
//! a rotated-out key still used late in its grace is revoked only when the admin asked for
//! it, and its replacement keeps working.

use crate::helpers::{issue_key, metered_key, Client, TestApp};
use app::domain::Role;
use app::platform::rollup::MINUTE_MS;
use app::usage::alerts::{self, Raised};
use serde_json::{json, Value};

crate::backends!(
    usage_alerts_are_raised_once_and_link_to_the_chart,
    a_rotated_out_key_still_in_use_is_suspended_only_when_asked
);

/// [`metered_key`] without the publisher: (developer, application id, key, key id).
async fn shop(app: &TestApp, email: &str, quota: &str) -> (Client, String, String, String) {
    let (_, dev, app_id, key, key_id) = metered_key(app, email, quota).await;
    (dev, app_id, key, key_id)
}

async fn verify(app: &TestApp, token: &str, key: &str, scope: Option<&str>, ip: &str) -> String {
    verify_at(app, token, key, "api-dev", scope, ip).await
}

async fn verify_at(
    app: &TestApp,
    token: &str,
    key: &str,
    api: &str,
    scope: Option<&str>,
    ip: &str,
) -> String {
    let body = json!({ "key": key, "api": api, "scope": scope, "ip": ip });
    app.verify(token, body).await.1["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Stores what is queued, then runs the rules at the app clock's time.
async fn run(app: &TestApp) -> Raised {
    app.settle().await;
    alerts::run(&app.state, app.clock.now()).await.unwrap()
}

async fn notifications(dev: &Client) -> Vec<Value> {
    dev.call("list_notifications", &[]).await.ok()["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn titled<'a>(notes: &'a [Value], needle: &str) -> Vec<&'a Value> {
    notes
        .iter()
        .filter(|n| n["title"].as_str().unwrap().contains(needle))
        .collect()
}

async fn usage_alerts_are_raised_once_and_link_to_the_chart(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, app_id, key, key_id) = shop(&app, "dev@example.com", "10").await;
    let home = "198.51.100.7";

    // Nothing unusual: nothing raised.
    for _ in 0..7 {
        assert_eq!(verify(&app, &token, &key, None, home).await, "VALID");
    }
    assert_eq!(run(&app).await, Raised::default());

    // The eighth of ten: 80%, once.
    assert_eq!(verify(&app, &token, &key, None, home).await, "VALID");
    assert_eq!(run(&app).await.quota, 1);
    assert_eq!(run(&app).await.quota, 0, "raised once");
    for _ in 0..2 {
        assert_eq!(verify(&app, &token, &key, None, home).await, "VALID");
    }
    assert_eq!(
        verify(&app, &token, &key, None, home).await,
        "QUOTA_EXCEEDED"
    );
    assert_eq!(run(&app).await.quota, 1, "100%");
    let notes = notifications(&dev).await;
    let chart = format!("/usage?app={app_id}&range=30d");
    let at_80 = titled(&notes, "used 80% of its api-dev quota");
    assert_eq!(at_80.len(), 1, "{notes:?}");
    assert_eq!(at_80[0]["link"], chart.as_str());
    assert!(at_80[0]["body"]
        .as_str()
        .unwrap()
        .contains("used 8 of its 10 requests"));
    let reached = titled(&notes, "reached its api-dev quota");
    assert_eq!(reached.len(), 1, "{notes:?}");
    assert_eq!(reached[0]["link"], chart.as_str());

    // A spike of refusals: 20 scope refusals in a quarter of an hour, none the day before.
    let (other_dev, _, other, other_id) = shop(&app, "spiky@example.com", "").await;
    let denied = || verify_at(&app, &token, &other, "api-spiky", Some("pets:write"), home);
    for _ in 0..19 {
        assert_eq!(denied().await, "SCOPE_DENIED");
    }
    assert_eq!(run(&app).await.spikes, 0, "19 is no spike");
    denied().await;
    assert_eq!(run(&app).await.spikes, 1);
    assert_eq!(run(&app).await.spikes, 0, "once an hour");
    let notes = notifications(&other_dev).await;
    let spike = titled(&notes, "Refusals for a key of Shop spiked");
    assert_eq!(spike.len(), 1, "{notes:?}");
    assert_eq!(
        spike[0]["link"],
        format!("/usage?key={other_id}&range=1h").as_str()
    );
    assert!(spike[0]["body"]
        .as_str()
        .unwrap()
        .contains("refused 20 times"));
    assert!(
        titled(&notifications(&dev).await, "spiked").is_empty(),
        "another owner hears nothing of it"
    );

    // The first key, used so far only from one network, is used from another: once per
    // network; another address in a known network is nothing new.
    verify(&app, &token, &key, None, "203.0.113.5").await;
    verify(&app, &token, &key, None, "198.51.100.99").await;
    assert_eq!(run(&app).await.networks, 1);
    verify(&app, &token, &key, None, "203.0.113.6").await;
    assert_eq!(run(&app).await.networks, 0);
    let notes = notifications(&dev).await;
    let network = titled(&notes, "used from a new network");
    assert_eq!(network.len(), 1, "{notes:?}");
    assert!(network[0]["body"]
        .as_str()
        .unwrap()
        .contains("203.0.113.5 (network 203.0.113.0/24)"));
    assert_eq!(
        network[0]["link"],
        format!("/usage?key={key_id}&range=24h").as_str()
    );
    // The key's page lists where it is called from, busiest first.
    let report = dev
        .call("usage_report", &[("key", &key_id), ("range", "24h")])
        .await
        .ok()
        .clone();
    let clients = report["key"]["clients"].as_array().unwrap();
    assert_eq!(clients[0]["ip"], home);
    assert_eq!(clients[0]["network"], "198.51.100.0/24");
    assert_eq!(clients[0]["requests"], 11);
    assert_eq!(clients.len(), 4);

    // The key revoked, then tried five times: a leaked key in use, once a day.
    dev.call("revoke_key", &[("id", &key_id), ("reason", "Replaced")])
        .await
        .ok();
    for _ in 0..4 {
        assert_eq!(verify(&app, &token, &key, None, home).await, "REVOKED");
    }
    assert_eq!(run(&app).await.leaked, 0, "four tries");
    verify(&app, &token, &key, None, home).await;
    assert_eq!(run(&app).await.leaked, 1);
    verify(&app, &token, &key, None, home).await;
    assert_eq!(run(&app).await.leaked, 0, "once a day");
    let notes = notifications(&dev).await;
    let leaked = titled(&notes, "A revoked key of Shop is still tried");
    assert_eq!(leaked.len(), 1, "{notes:?}");
    assert!(leaked[0]["body"]
        .as_str()
        .unwrap()
        .contains("tried 5 times"));

    // A quarter of an hour later the window has moved on: quiet.
    app.clock.advance(16 * MINUTE_MS);
    assert_eq!(run(&app).await, Raised::default());
}

async fn a_rotated_out_key_still_in_use_is_suspended_only_when_asked(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, app_id, _, _) = shop(&app, "dev@example.com", "").await;
    let home = "198.51.100.7";
    // Two keys rotated with an hour's grace: one while the policy only alerts, one after
    // the admin asked for suspension.
    let rotate = |id: String| {
        let dev = &dev;
        async move {
            let new = dev
                .call("rotate_key", &[("id", &id), ("grace", "1h")])
                .await
                .ok()
                .clone();
            new["key"].as_str().unwrap().to_string()
        }
    };
    let first = issue_key(&dev, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    let second = issue_key(&dev, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    let (first_key, first_id) = (
        first["key"].as_str().unwrap().to_string(),
        first["view"]["id"].as_str().unwrap().to_string(),
    );
    let (second_key, second_id) = (
        second["key"].as_str().unwrap().to_string(),
        second["view"]["id"].as_str().unwrap().to_string(),
    );
    let first_new = rotate(first_id.clone()).await;
    let second_new = rotate(second_id.clone()).await;

    // Early in the grace period, use of the old key is expected.
    for _ in 0..5 {
        assert_eq!(verify(&app, &token, &first_key, None, home).await, "VALID");
    }
    assert_eq!(run(&app).await.leaked, 0);

    // Past half of it, five uses within a quarter of an hour raise the alert; the policy
    // (by default) leaves the key working.
    // (The developer's session stays alive on the way: it ends after 30 idle minutes.)
    app.clock.advance(20 * MINUTE_MS);
    notifications(&dev).await;
    for _ in 0..5 {
        assert_eq!(verify(&app, &token, &first_key, None, home).await, "VALID");
    }
    app.clock.advance(11 * MINUTE_MS);
    assert_eq!(
        run(&app).await.leaked,
        0,
        "uses in the window but before the middle of the grace do not count"
    );
    for _ in 0..5 {
        assert_eq!(verify(&app, &token, &first_key, None, home).await, "VALID");
    }
    let raised = run(&app).await;
    assert_eq!((raised.leaked, raised.suspended), (1, 0));
    assert_eq!(verify(&app, &token, &first_key, None, home).await, "VALID");
    let notes = notifications(&dev).await;
    let alert = titled(&notes, "A rotated-out key of Shop is still in use");
    assert_eq!(alert.len(), 1, "{notes:?}");
    assert!(alert[0]["body"].as_str().unwrap().contains("revoke it now"));

    // The admin turns suspension on (step-up fresh from enrolment).
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
                ("leak_action", "revoke"),
                ("suspend_leaked", "on"),
            ],
        )
        .await
        .ok();
    assert!(admin.call("get_key_settings", &[]).await.ok()["suspend_leaked"] == true);
    for _ in 0..5 {
        assert_eq!(verify(&app, &token, &second_key, None, home).await, "VALID");
    }
    // Every rotated-out key still in use late in its grace is revoked now, the first one
    // too, and its owner told.
    let raised = run(&app).await;
    assert_eq!((raised.leaked, raised.suspended), (2, 2));
    app.settle().await;
    assert_eq!(
        verify(&app, &token, &second_key, None, home).await,
        "REVOKED",
        "suspended"
    );
    assert_eq!(
        verify(&app, &token, &second_new, None, home).await,
        "VALID",
        "its replacement keeps working"
    );
    assert_eq!(
        verify(&app, &token, &first_key, None, home).await,
        "REVOKED"
    );
    assert_eq!(verify(&app, &token, &first_new, None, home).await, "VALID");
    assert_eq!(app.audit("key.suspend").await.len(), 2);
    assert_eq!(run(&app).await.suspended, 0, "revoked once");
    let notes = notifications(&dev).await;
    let revoked: Vec<_> = titled(&notes, "A rotated-out key of Shop is still in use")
        .into_iter()
        .filter(|n| n["body"].as_str().unwrap().contains("Keyport revoked it"))
        .collect();
    assert_eq!(revoked.len(), 2, "{notes:?}");
}
