//! Subscriptions: automatic and manual plans, approval with step-up, reasons the developer
//! sees, and every transition of the state machine through the server functions.

use crate::backends;
use crate::helpers::*;
use app::domain::Role;

backends!(
    automatic_plans_start_active_and_one_live_subscription_per_api,
    manual_approval_needs_step_up_and_tells_the_developer,
    rejection_needs_a_reason_the_developer_sees,
    every_transition_through_the_server_functions,
);

async fn automatic_plans_start_active_and_one_live_subscription_per_api(app: TestApp) {
    let (_, _, plan_id) = publisher_with_api(&app, "pets", "automatic").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let app_id = new_application(&dev, "Shop").await;
    let sub = dev
        .call(
            "subscribe",
            &[("application_id", &app_id), ("plan_id", &plan_id)],
        )
        .await;
    assert_eq!(sub.ok(), "active");
    let again = dev
        .call(
            "subscribe",
            &[("application_id", &app_id), ("plan_id", &plan_id)],
        )
        .await;
    assert_eq!(again.status, 422);
    assert!(again.field("application_id")[0].contains("already has a subscription"));
    let view = subscription_of(&dev, &app_id).await;
    assert_eq!(view["state"], "active");
    assert_eq!(view["api"], "pets");
    // After cancelling, the application may subscribe again.
    dev.call(
        "cancel_subscription",
        &[("id", view["id"].as_str().unwrap())],
    )
    .await
    .ok();
    dev.call(
        "subscribe",
        &[("application_id", &app_id), ("plan_id", &plan_id)],
    )
    .await
    .ok();
    assert_eq!(app.audit("subscription.request").await.len(), 2);
}

async fn manual_approval_needs_step_up_and_tells_the_developer(app: TestApp) {
    let (publisher, _, plan_id) = publisher_with_api(&app, "pets", "manual").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let app_id = new_application(&dev, "Shop").await;
    let state = dev
        .call(
            "subscribe",
            &[("application_id", &app_id), ("plan_id", &plan_id)],
        )
        .await;
    assert_eq!(state.ok(), "pending");
    // The publisher hears about the request.
    assert_eq!(publisher.call("unread_notifications", &[]).await.ok(), 1);
    let sub_id = subscription_of(&dev, &app_id).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (admin, _, secret) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let queue = admin.call("approval_queue", &[]).await.ok().clone();
    assert_eq!(queue["total"], 1);
    assert_eq!(queue["items"][0]["requested_by"], "dev@example.com");
    // A publisher without MFA is sent to enrol before deciding.
    let unenrolled = publisher
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "approve")],
        )
        .await;
    assert_eq!(unenrolled.error_kind(), "mfa_enrolment_required");
    // An old second-factor check is not enough.
    app.clock.advance(10 * 60_000);
    let stale = admin
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "approve")],
        )
        .await;
    assert_eq!((stale.status, stale.error_kind()), (403, "mfa_required"));
    assert_eq!(subscription_of(&dev, &app_id).await["state"], "pending");
    admin
        .call(
            "confirm_step_up",
            &[("code", &app.code(&secret, "admin@example.com", 0))],
        )
        .await
        .ok();
    let approved = admin
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "approve")],
        )
        .await;
    assert_eq!(approved.ok(), "active");
    assert_eq!(subscription_of(&dev, &app_id).await["state"], "active");
    let twice = admin
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "approve")],
        )
        .await;
    assert_eq!(twice.status, 409);

    assert_eq!(dev.call("unread_notifications", &[]).await.ok(), 1);
    let list = dev.call("list_notifications", &[]).await.ok().clone();
    assert_eq!(list["items"][0]["title"], "Subscription approved: pets");
    assert_eq!(list["items"][0]["link"], "/applications");
    dev.call("mark_notifications_read", &[]).await.ok();
    assert_eq!(dev.call("unread_notifications", &[]).await.ok(), 0);
    let audit = app.audit("subscription.approve").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor_email.as_deref(), Some("admin@example.com"));
}

async fn rejection_needs_a_reason_the_developer_sees(app: TestApp) {
    let (_, _, plan_id) = publisher_with_api(&app, "pets", "manual").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (app_id, sub_id) = subscribed(&dev, "Shop", &plan_id).await;
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let no_reason = admin
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "reject"), ("reason", "  ")],
        )
        .await;
    assert_eq!(no_reason.status, 422);
    assert!(!no_reason.field("reason").is_empty());
    admin
        .call(
            "decide_subscription",
            &[
                ("id", &sub_id),
                ("decision", "reject"),
                ("reason", "Use the sandbox plan first."),
            ],
        )
        .await
        .ok();
    let view = subscription_of(&dev, &app_id).await;
    assert_eq!(view["state"], "rejected");
    assert_eq!(view["reason"], "Use the sandbox plan first.");
    let note = dev.call("list_notifications", &[]).await.ok().clone();
    assert!(note["items"][0]["body"]
        .as_str()
        .unwrap()
        .contains("Use the sandbox plan first."));
    // A rejected request frees the application's place: it may ask again.
    assert_eq!(
        dev.call(
            "subscribe",
            &[("application_id", &app_id), ("plan_id", &plan_id)]
        )
        .await
        .ok(),
        "pending"
    );
}

async fn every_transition_through_the_server_functions(app: TestApp) {
    let (publisher, _, plan_id) = publisher_with_api(&app, "pets", "manual").await;
    publisher.enrol_mfa(&app, "pub-pets@example.com").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (other_pub, _, _) = app
        .signed_in_with_mfa("other-pub@example.com", Role::Publisher)
        .await;
    let (app_id, id) = subscribed(&dev, "Shop", &plan_id).await;
    let decide = |client: &Client, decision: &str, reason: &str| {
        let form = [
            ("id", id.clone()),
            ("decision", decision.to_string()),
            ("reason", reason.to_string()),
        ];
        let http = client.http.clone();
        let base = client.base.clone();
        async move {
            let c = Client {
                http,
                jar: Default::default(),
                base,
            };
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.call("decide_subscription", &form).await
        }
    };
    // Developers may not decide; another API's publisher does not see it.
    assert_eq!(decide(&dev, "approve", "").await.status, 403);
    assert_eq!(decide(&other_pub, "approve", "").await.status, 404);
    // Refused from pending: suspend, resume.
    assert_eq!(decide(&publisher, "suspend", "x").await.status, 409);
    assert_eq!(decide(&publisher, "resume", "").await.status, 409);
    assert_eq!(decide(&publisher, "approve", "").await.ok(), "active");
    assert_eq!(decide(&publisher, "approve", "").await.status, 409);
    assert_eq!(decide(&publisher, "reject", "late").await.status, 409);
    assert_eq!(decide(&publisher, "resume", "").await.status, 409);
    assert_eq!(
        decide(&publisher, "suspend", "Unpaid invoice").await.ok(),
        "suspended"
    );
    assert_eq!(
        subscription_of(&dev, &app_id).await["reason"],
        "Unpaid invoice"
    );
    assert_eq!(decide(&publisher, "suspend", "again").await.status, 409);
    assert_eq!(decide(&publisher, "approve", "").await.status, 409);
    assert_eq!(decide(&publisher, "resume", "").await.ok(), "active");
    // "End" and "cancel" are not decisions.
    assert_eq!(decide(&publisher, "end", "").await.status, 422);
    assert_eq!(decide(&publisher, "cancel", "").await.status, 422);
    // The publisher cannot cancel the developer's subscription; the developer can.
    assert_eq!(
        publisher
            .call("cancel_subscription", &[("id", &id)])
            .await
            .status,
        404
    );
    assert_eq!(
        dev.call("cancel_subscription", &[("id", &id)]).await.ok(),
        "cancelled"
    );
    assert_eq!(
        dev.call("cancel_subscription", &[("id", &id)]).await.status,
        409
    );
    assert_eq!(decide(&publisher, "resume", "").await.status, 409);
    let notes = dev.call("list_notifications", &[]).await.ok().clone();
    let titles: Vec<&str> = notes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Subscription resumed: pets",
            "Subscription suspended: pets",
            "Subscription approved: pets"
        ]
    );
    for action in [
        "subscription.approve",
        "subscription.suspend",
        "subscription.resume",
        "subscription.cancel",
    ] {
        assert_eq!(app.audit(action).await.len(), 1, "{action}");
    }
}
