use crate::backends;
use crate::helpers::{TestApp, PASSWORD};
use app::domain::Role;

backends!(
    admins_search_and_page_through_users,
    a_role_change_applies_at_once,
    disabling_a_user_kills_their_sessions,
    the_last_admin_cannot_be_demoted_or_disabled,
    settings_change_sign_up_mode,
    profile_updates_cannot_change_role_or_status,
    changing_email_needs_the_current_password,
);

async fn admins_search_and_page_through_users(app: TestApp) {
    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;
    for i in 0..30 {
        app.user(&format!("dev{i:02}@example.com"), Role::Developer)
            .await;
    }
    let first = admin.call("list_users", &[("page", "1")]).await;
    assert_eq!(first.ok()["total"], 31);
    assert_eq!(first.body["users"].as_array().unwrap().len(), 25);
    let second = admin.call("list_users", &[("page", "2")]).await;
    assert_eq!(second.ok()["users"].as_array().unwrap().len(), 6);
    let found = admin.call("list_users", &[("q", "DEV1")]).await;
    assert_eq!(found.ok()["total"], 10);
    let none = admin.call("list_users", &[("q", "%")]).await;
    assert_eq!(
        none.ok()["total"],
        0,
        "LIKE wildcards are matched literally"
    );
}

async fn a_role_change_applies_at_once(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    let (dev, dev_id) = app.signed_in("dev@example.com", Role::Developer).await;
    assert_eq!(dev.call("list_users", &[]).await.status, 403);
    let bad = admin
        .call("set_user_role", &[("user_id", &dev_id), ("role", "root")])
        .await;
    assert_eq!(bad.status, 422);
    admin
        .call("set_user_role", &[("user_id", &dev_id), ("role", "admin")])
        .await
        .ok();
    dev.call("list_users", &[]).await.ok();
    let events = app.audit("user.role_change").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_email.as_deref(), Some("root@example.com"));
    assert_eq!(events[0].target_id.as_deref(), Some(dev_id.as_str()));
    assert!(events[0].details.contains("\"to\":\"admin\""));
    let missing = admin
        .call("set_user_role", &[("user_id", "nope"), ("role", "admin")])
        .await;
    assert_eq!(missing.status, 404);
}

async fn disabling_a_user_kills_their_sessions(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    let (dev, dev_id) = app.signed_in("dev@example.com", Role::Developer).await;
    let second_device = app.client();
    second_device
        .sign_in("dev@example.com", PASSWORD)
        .await
        .ok();
    admin
        .call(
            "set_user_status",
            &[("user_id", &dev_id), ("status", "disabled")],
        )
        .await
        .ok();
    assert_eq!(dev.whoami().await, serde_json::Value::Null);
    assert_eq!(second_device.call("dashboard", &[]).await.status, 401);
    assert_eq!(
        app.client()
            .sign_in("dev@example.com", PASSWORD)
            .await
            .status,
        403
    );
    let event = &app.audit("user.disable").await[0];
    assert!(
        event.details.contains("\"sessions_ended\":2"),
        "{}",
        event.details
    );
    admin
        .call(
            "set_user_status",
            &[("user_id", &dev_id), ("status", "active")],
        )
        .await
        .ok();
    app.client().sign_in("dev@example.com", PASSWORD).await.ok();
}

async fn the_last_admin_cannot_be_demoted_or_disabled(app: TestApp) {
    let (admin, admin_id, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    let demote = admin
        .call(
            "set_user_role",
            &[("user_id", &admin_id), ("role", "developer")],
        )
        .await;
    assert_eq!(demote.status, 409);
    let (second, other, _) = app
        .signed_in_with_mfa("second@example.com", Role::Admin)
        .await;
    let disable_self = admin
        .call(
            "set_user_status",
            &[("user_id", &admin_id), ("status", "disabled")],
        )
        .await;
    assert_eq!(disable_self.status, 409, "nobody disables themselves");
    second
        .call(
            "set_user_status",
            &[("user_id", &admin_id), ("status", "disabled")],
        )
        .await
        .ok();
    let last = app.user("third@example.com", Role::Admin).await;
    second
        .call(
            "set_user_role",
            &[("user_id", &last), ("role", "developer")],
        )
        .await
        .ok();
    let only_one_left = second
        .call(
            "set_user_role",
            &[("user_id", &other), ("role", "developer")],
        )
        .await;
    assert_eq!(only_one_left.status, 409);
}

async fn settings_change_sign_up_mode(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    assert_eq!(
        admin.call("get_settings", &[]).await.ok()["signup_mode"],
        "open"
    );
    let bad = admin
        .call("update_settings", &[("signup_mode", "sometimes")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(!bad.field("signup_mode").is_empty());
    admin
        .call("update_settings", &[("signup_mode", "closed")])
        .await
        .ok();
    assert_eq!(
        admin.call("get_settings", &[]).await.ok()["signup_mode"],
        "closed"
    );
    let event = &app.audit("settings.update").await[0];
    assert!(event.details.contains("\"to\":\"closed\""));
}

async fn profile_updates_cannot_change_role_or_status(app: TestApp) {
    let (dev, dev_id) = app.signed_in("dev@example.com", Role::Developer).await;
    dev.call(
        "update_profile",
        &[
            ("display_name", "Dev Eloper"),
            ("email", "dev@example.com"),
            ("role", "admin"),
            ("status", "active"),
            ("id", "someone-else"),
        ],
    )
    .await
    .ok();
    let me = dev.whoami().await;
    assert_eq!(me["role"], "developer");
    assert_eq!(me["display_name"], "Dev Eloper");
    assert_eq!(me["id"], dev_id.as_str());
}

async fn changing_email_needs_the_current_password(app: TestApp) {
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let res = dev
        .call(
            "update_profile",
            &[
                ("display_name", "Dev"),
                ("email", "new@example.com"),
                ("current_password", ""),
            ],
        )
        .await;
    assert_eq!(res.status, 422);
    assert!(!res.field("current_password").is_empty());
    dev.call(
        "update_profile",
        &[
            ("display_name", "Dev"),
            ("email", "new@example.com"),
            ("current_password", PASSWORD),
        ],
    )
    .await
    .ok();
    assert_eq!(dev.whoami().await["email"], "new@example.com");
    app.user("taken@example.com", Role::Developer).await;
    let taken = dev
        .call(
            "update_profile",
            &[
                ("display_name", "Dev"),
                ("email", "taken@example.com"),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(taken.status, 422);
}
