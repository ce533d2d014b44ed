//! Applications: BOLA between developers, and deleting one cancels its subscriptions.

use crate::backends;
use crate::helpers::*;
use app::domain::Role;

backends!(
    developers_never_touch_each_others_applications,
    deleting_an_application_cancels_its_subscriptions,
);

async fn developers_never_touch_each_others_applications(app: TestApp) {
    let (_, _, plan_id) = publisher_with_api(&app, "pets", "automatic").await;
    let (alice, alice_id) = app.signed_in("alice@example.com", Role::Developer).await;
    let (mallory, _) = app.signed_in("mallory@example.com", Role::Developer).await;
    let alice_app = new_application(&alice, "Alice's shop").await;
    alice
        .call(
            "subscribe",
            &[("application_id", &alice_app), ("plan_id", &plan_id)],
        )
        .await
        .ok();
    let sub_id = subscription_of(&alice, &alice_app).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    assert!(mallory
        .call("my_applications", &[])
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
    let rename = mallory
        .call(
            "save_application",
            &[("id", &alice_app), ("name", "pwned"), ("description", "")],
        )
        .await;
    assert_eq!(rename.status, 404);
    assert_eq!(
        mallory
            .call("delete_application", &[("id", &alice_app)])
            .await
            .status,
        404
    );
    assert_eq!(
        mallory
            .call("cancel_subscription", &[("id", &sub_id)])
            .await
            .status,
        404
    );
    let borrow = mallory
        .call(
            "subscribe",
            &[("application_id", &alice_app), ("plan_id", &plan_id)],
        )
        .await;
    assert_eq!(borrow.status, 422);
    // The catalog page shows Mallory only her own applications.
    let detail = mallory
        .call("api_detail", &[("slug", "pets")])
        .await
        .ok()
        .clone();
    assert!(detail["applications"].as_array().unwrap().is_empty());
    let view = subscription_of(&alice, &alice_app).await;
    assert_eq!(view["state"], "active");
    assert_eq!(
        alice.call("my_applications", &[]).await.ok()[0]["name"],
        "Alice's shop"
    );
    // Mass assignment: no owner field is read.
    let own = mallory
        .call(
            "save_application",
            &[
                ("name", "Mine"),
                ("description", ""),
                ("owner_id", &alice_id),
            ],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(
        alice
            .call("my_applications", &[])
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Notifications are per user: marking someone else's does nothing.
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
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
    let note_id = alice.call("list_notifications", &[]).await.ok()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        mallory
            .call("mark_notifications_read", &[("id", &note_id)])
            .await
            .ok(),
        0
    );
    assert_eq!(alice.call("unread_notifications", &[]).await.ok(), 1);
    assert_eq!(
        mallory.call("list_notifications", &[]).await.ok()["total"],
        0
    );
}

async fn deleting_an_application_cancels_its_subscriptions(app: TestApp) {
    let (publisher, _, plan_id) = publisher_with_api(&app, "pets", "manual").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (app_id, _) = subscribed(&dev, "Shop", &plan_id).await;
    assert_eq!(
        dev.call("delete_application", &[("id", &app_id)])
            .await
            .ok(),
        1
    );
    assert!(dev
        .call("my_applications", &[])
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
    publisher.enrol_mfa(&app, "pub-pets@example.com").await;
    let queue = publisher
        .call("approval_queue", &[("state", "all")])
        .await
        .ok()
        .clone();
    assert_eq!(queue["items"][0]["state"], "cancelled");
    assert_eq!(queue["items"][0]["reason"], "The application was deleted.");
    assert_eq!(publisher.call("approval_queue", &[]).await.ok()["total"], 0);
    assert_eq!(
        dev.call("delete_application", &[("id", &app_id)])
            .await
            .status,
        404
    );
}
