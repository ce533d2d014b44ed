use crate::backends;
use crate::helpers::{TestApp, PASSWORD};
use app::domain::Role;

backends!(
    audit_log_filters_by_actor_action_and_time,
    dashboard_shows_the_accounts_real_state
);

async fn audit_log_filters_by_actor_action_and_time(app: TestApp) {
    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;
    app.signed_in("dev@example.com", Role::Developer).await;
    app.client()
        .sign_in("dev@example.com", "wrong wrong wrong")
        .await;
    let all = admin.call("list_audit", &[]).await;
    assert!(all.ok()["total"].as_i64().unwrap() >= 3);
    let failures = admin
        .call("list_audit", &[("action", "auth.sign_in"), ("actor", "")])
        .await;
    let events = failures.ok()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 3);
    assert!(events.iter().any(|e| e["outcome"] == "failure"));
    let by_actor = admin
        .call("list_audit", &[("actor", "DEV@example.com")])
        .await;
    assert_eq!(by_actor.ok()["total"], 1);
    assert_eq!(
        by_actor.body["events"][0]["target"], "dev@example.com",
        "user targets are shown by email"
    );
    let today = time::OffsetDateTime::from_unix_timestamp(app.clock.now() / 1000)
        .unwrap()
        .date();
    let tomorrow = today.next_day().unwrap().to_string();
    let future = admin.call("list_audit", &[("from", &tomorrow)]).await;
    assert_eq!(future.ok()["total"], 0);
    let today = today.to_string();
    let now = admin
        .call("list_audit", &[("from", &today), ("to", &today)])
        .await;
    assert!(now.ok()["total"].as_i64().unwrap() >= 3);
    let bad = admin.call("list_audit", &[("from", "last week")]).await;
    assert_eq!(bad.status, 422);
    assert!(!bad.field("from").is_empty());
}

async fn dashboard_shows_the_accounts_real_state(app: TestApp) {
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let other_device = app.client();
    other_device.sign_in("dev@example.com", PASSWORD).await.ok();
    let d = dev.call("dashboard", &[]).await;
    let d = d.ok();
    assert_eq!(d["user"]["email"], "dev@example.com");
    let sessions = d["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert!(d["activity"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"] == "auth.sign_in"));
    assert!(d["admin"].is_null(), "developers see no portal overview");

    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;
    let d = admin.call("dashboard", &[]).await;
    let overview = &d.ok()["admin"];
    let devs = overview["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "developer")
        .unwrap();
    assert_eq!(devs["active"], 1);
    assert!(!overview["recent"].as_array().unwrap().is_empty());
}
