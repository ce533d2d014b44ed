//! Notifications: emailed through a local SMTP sink when SMTP is configured.

use crate::backends;
use crate::helpers::*;
use app::domain::Role;
use std::sync::{Arc, Mutex};

backends!(setup = crate::helpers::with_smtp; notifications_are_emailed_when_smtp_is_configured);

async fn notifications_are_emailed_when_smtp_is_configured(
    (app, inbox): (TestApp, Arc<Mutex<Vec<String>>>),
) {
    let (_, _, plan_id) = publisher_with_api(&app, "pets", "manual").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (_, sub_id) = subscribed(&dev, "Shop", &plan_id).await;
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    admin
        .call(
            "decide_subscription",
            &[
                ("id", &sub_id),
                ("decision", "reject"),
                ("reason", "Tell us more about your use case."),
            ],
        )
        .await
        .ok();
    // Mail goes out in the background: wait for both (publisher's request, developer's rejection).
    let mut mails = Vec::new();
    for _ in 0..100 {
        mails = inbox.lock().unwrap().clone();
        if mails.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(mails.len(), 2, "{mails:?}");
    let to_dev = mails
        .iter()
        .find(|m| m.contains("To: dev@example.com"))
        .expect("mail to the developer");
    assert!(
        to_dev.contains("Subject: Subscription rejected: pets"),
        "{to_dev}"
    );
    assert!(
        to_dev.contains("Tell us more about your use case."),
        "{to_dev}"
    );
    assert!(
        to_dev.contains("https://portal.example.com/applications"),
        "{to_dev}"
    );
    assert!(
        to_dev.contains("From: Keyport <portal@example.com>"),
        "{to_dev}"
    );
    let to_pub = mails
        .iter()
        .find(|m| m.contains("To: pub-pets@example.com"))
        .expect("mail to the publisher");
    assert!(to_pub.contains("Approval needed"), "{to_pub}");
}
