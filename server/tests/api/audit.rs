use crate::backends;
use crate::helpers::{TestApp, PASSWORD};
use app::domain::Role;

backends!(
    audit_log_filters_by_actor_action_and_time,
    dashboard_shows_the_accounts_real_state,
    dashboards_show_words_and_names_not_codes_and_ids
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

/// Does `text` hold something shaped like a UUID (8-4-4-4-12 hex digits)?
fn has_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(36).any(|w| {
        w.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    })
}

/// The text of the region named `label` on `path`, fetched as `c`.
async fn region_text(c: &crate::helpers::Client, path: &str, label: &str) -> String {
    let body = c.get(path).await.text().await.unwrap();
    let doc = scraper::Html::parse_document(&body);
    let sel = scraper::Selector::parse(&format!("[role=region][aria-label=\"{label}\"]")).unwrap();
    let region = doc
        .select(&sel)
        .next()
        .unwrap_or_else(|| panic!("no region {label:?} on {path}:\n{body}"));
    region.text().collect::<Vec<_>>().join(" ")
}

async fn dashboards_show_words_and_names_not_codes_and_ids(app: TestApp) {
    let (dev, dev_id) = app.signed_in("dev@example.com", Role::Developer).await;
    let shop = dev
        .call(
            "save_application",
            &[("name", "Shop front"), ("description", "")],
        )
        .await
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    dev.call(
        "save_application",
        &[("id", &shop), ("name", "Shop window"), ("description", "")],
    )
    .await
    .ok();
    let (admin, _, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    admin
        .call(
            "set_user_role",
            &[("user_id", &dev_id), ("role", "publisher")],
        )
        .await
        .ok();

    let d = dev.call("dashboard", &[]).await.ok().clone();
    let labels: Vec<&str> = d["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    for want in [
        "Signed in",
        "Created an application",
        "Updated an application",
        "Changed a user's role",
    ] {
        assert!(labels.contains(&want), "{want:?} not in {labels:?}");
    }

    let mine = region_text(&dev, "/dashboard", "Your recent activity").await;
    for want in [
        "You",
        "Signed in",
        "Created an application",
        "Shop window",
        "Changed a user's role",
        "root@example.com",
        "dev@example.com",
    ] {
        assert!(mine.contains(want), "{want:?} not in {mine}");
    }
    let latest = region_text(&admin, "/dashboard", "Latest audit events").await;
    assert!(
        latest.contains("Turned on two-factor authentication"),
        "{latest}"
    );
    for text in [&mine, &latest] {
        for code in app::audit::ACTIONS {
            assert!(!text.contains(code), "the code {code} is shown: {text}");
        }
        assert!(!has_uuid(text), "an id is shown: {text}");
    }

    // The full log leads with the words, keeps the code beside them and the id on hover.
    let log = region_text(&admin, "/admin/audit", "Audit events").await;
    let words = log.find("Changed a user's role").expect("the words");
    let code = log.find("user.role_change").expect("the code");
    assert!(words < code, "{log}");
    let html = admin.get("/admin/audit").await.text().await.unwrap();
    assert!(html.contains(&format!("title=\"user:{dev_id}\"")), "{html}");
}
