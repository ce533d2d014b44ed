use crate::backends;
use crate::helpers::{mail_with, Inbox, TestApp, PASSWORD};
use app::domain::{Role, SignupMode};
use serde_json::json;

backends!(setup = crate::helpers::with_smtp; open_sign_up_confirms_the_address_and_never_tells_who_has_an_account);

backends!(
    sign_ups_are_limited_per_address,
    sign_up_checks_every_field_and_keeps_the_policy,
    closed_and_invite_only_sign_up_refuse_strangers,
    an_invitation_fixes_email_and_role_and_works_once,
    wrong_password_and_unknown_email_get_the_same_answer,
    guessing_is_throttled_per_account_and_audited,
    one_address_spraying_many_accounts_is_throttled,
    disabled_accounts_cannot_sign_in,
    setup_link_creates_the_first_admin_once,
    sign_in_redirects_only_to_local_paths,
    current_password_checks_are_throttled_like_sign_in,
);

/// `change_password` and the email change check the current password: each check counts
/// against the account's allowance, so a stolen session cannot guess the password there.
async fn current_password_checks_are_throttled_like_sign_in(app: TestApp) {
    let email = "victim@example.com";
    let (c, _) = app.signed_in(email, Role::Developer).await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let guess = format!("guess number {i} of many");
        let answer = if i % 2 == 0 {
            c.call(
                "change_password",
                &[
                    ("current_password", &guess),
                    ("new_password", "a brand new passphrase"),
                    ("confirm_password", "a brand new passphrase"),
                ],
            )
            .await
        } else {
            c.call(
                "update_profile",
                &[
                    ("display_name", "V"),
                    ("email", "thief@example.com"),
                    ("current_password", &guess),
                ],
            )
            .await
        };
        statuses.push(answer.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        25,
        "{statuses:?}"
    );
    // The right password, now: refused while locked (it was a guess like the others).
    let right = c
        .call(
            "change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
                ("confirm_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(right.status, 429);
    assert_eq!(c.whoami().await["email"], email, "nothing changed");
    // Sign-in shares the allowance.
    assert_eq!(app.client().sign_in(email, PASSWORD).await.status, 429);
}

/// Open sign-up answers the same for every address: a link to a new one, a note to one
/// with an account; the account exists once the link is used.
async fn open_sign_up_confirms_the_address_and_never_tells_who_has_an_account(
    (app, inbox): (TestApp, Inbox),
) {
    app.user("taken@example.com", Role::Developer).await;
    let sign_up = |email: &'static str| {
        let c = app.client();
        async move {
            let answer = c
                .call(
                    "sign_up",
                    &[
                        ("display_name", "Ada"),
                        ("email", email),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            (c, answer)
        }
    };
    let (c, new) = sign_up("Ada@Example.com").await;
    let (other, taken) = sign_up("taken@example.com").await;
    for (answer, client) in [(&new, &c), (&taken, &other)] {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.headers["location"], "/sign-up?sent=1");
        assert_eq!(
            client.whoami().await,
            serde_json::Value::Null,
            "nobody is signed in yet"
        );
    }
    assert_eq!(new.body, taken.body, "the same answer");
    let note = mail_with(&inbox, "To: taken@example.com").await;
    assert!(note.contains("which has one already"), "{note}");
    assert!(!note.contains("token="), "no link for an existing account");
    let mail = mail_with(&inbox, "To: ada@example.com").await;
    let token = mail
        .split("/sign-up/confirm?token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a link")
        .to_string();
    // The link's page creates nothing by itself.
    let page = c.get(&format!("/sign-up/confirm?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(c.whoami().await, serde_json::Value::Null);
    c.call("confirm_sign_up", &[("token", &token)]).await.ok();
    let me = c.whoami().await;
    assert_eq!(
        (me["email"].clone(), me["role"].clone()),
        (json!("ada@example.com"), json!("developer"))
    );
    assert_eq!(app.audit("auth.sign_up").await.len(), 1);
    let again = app
        .client()
        .call("confirm_sign_up", &[("token", &token)])
        .await;
    assert_eq!((again.status, again.error_kind()), (403, "not_allowed"));
    // Expired links create nothing either.
    let (late, _) = sign_up("late@example.com").await;
    let mail = mail_with(&inbox, "To: late@example.com").await;
    let token = mail
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    app.clock.advance(app::auth::signup::LINK_MS + 1);
    assert_eq!(
        late.call("confirm_sign_up", &[("token", &token)])
            .await
            .status,
        403
    );
}

/// Sign-ups from one address are limited; the refusal says when to retry.
async fn sign_ups_are_limited_per_address(app: TestApp) {
    let mut statuses = Vec::new();
    for i in 0..15 {
        let email = format!("bulk{i}@example.com");
        let answer = app
            .client()
            .call(
                "sign_up",
                &[
                    ("display_name", "Bulk"),
                    ("email", &email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        if answer.status == 429 {
            assert!(answer.headers.contains_key("retry-after"));
        }
        statuses.push(answer.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
}

async fn sign_up_checks_every_field_and_keeps_the_policy(app: TestApp) {
    let c = app.client();
    let res = c
        .call(
            "sign_up",
            &[
                ("display_name", " "),
                ("email", "nope"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(res.status, 422);
    assert!(!res.field("display_name").is_empty());
    assert!(!res.field("email").is_empty());
    assert!(res.field("password")[0].contains("12 characters"));
    let same = c
        .call(
            "sign_up",
            &[
                ("display_name", "Bob"),
                ("email", "bob.builder@example.com"),
                ("password", "bob.builder@example.com"),
            ],
        )
        .await;
    assert!(same.field("password")[0].contains("not be your email"));
    assert_eq!(c.whoami().await, serde_json::Value::Null);
}

async fn closed_and_invite_only_sign_up_refuse_strangers(app: TestApp) {
    for mode in [SignupMode::Closed, SignupMode::InviteOnly] {
        app::platform::settings::set_signup_mode(&app.state.db, mode, "test", app.clock.now())
            .await
            .unwrap();
        let res = app
            .client()
            .call(
                "sign_up",
                &[
                    ("display_name", "Mallory"),
                    ("email", "mallory@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status, 403, "{mode:?}: {:?}", res.body);
        assert_eq!(res.error_kind(), "not_allowed");
    }
}

async fn an_invitation_fixes_email_and_role_and_works_once(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    admin
        .call("update_settings", &[("signup_mode", "invite_only")])
        .await
        .ok();
    let created = admin
        .call(
            "create_invitation",
            &[("email", "pub@example.com"), ("role", "publisher")],
        )
        .await;
    let link = created.ok()["link"].as_str().unwrap().to_string();
    let token = link.split("invite=").nth(1).unwrap().to_string();

    let info = app
        .client()
        .call("signup_info", &[("invite", &token)])
        .await;
    assert_eq!(info.ok()["invited_email"], "pub@example.com");

    let wrong_email = app
        .client()
        .call(
            "sign_up",
            &[
                ("display_name", "P"),
                ("email", "other@example.com"),
                ("password", PASSWORD),
                ("invite", &token),
            ],
        )
        .await;
    assert_eq!(wrong_email.status, 422);

    let c = app.client();
    c.call(
        "sign_up",
        &[
            ("display_name", "P"),
            ("email", "pub@example.com"),
            ("password", PASSWORD),
            ("invite", &token),
        ],
    )
    .await
    .ok();
    assert_eq!(c.whoami().await["role"], "publisher");

    let reuse = app
        .client()
        .call(
            "sign_up",
            &[
                ("display_name", "Q"),
                ("email", "pub2@example.com"),
                ("password", PASSWORD),
                ("invite", &token),
            ],
        )
        .await;
    assert_eq!(reuse.status, 403);
}

async fn wrong_password_and_unknown_email_get_the_same_answer(app: TestApp) {
    app.user("known@example.com", Role::Developer).await;
    let c = app.client();
    let wrong = c
        .sign_in("known@example.com", "not the password at all")
        .await;
    let unknown = c
        .sign_in("unknown@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["error"], "invalid_credentials");
    let failures = app.audit("auth.sign_in").await;
    assert_eq!(failures.len(), 2);
    assert!(failures
        .iter()
        .all(|e| e.outcome == "failure" && e.ip.as_deref() == Some("127.0.0.1")));
    assert!(failures
        .iter()
        .all(|e| e.user_agent.as_deref() == Some("keyport-tests/1.0")));
}

async fn guessing_is_throttled_per_account_and_audited(app: TestApp) {
    app.user("target@example.com", Role::Developer).await;
    let c = app.client();
    for _ in 0..5 {
        assert_eq!(
            c.sign_in("target@example.com", "guess guess guess")
                .await
                .status,
            401
        );
    }
    let locked = c.sign_in("target@example.com", PASSWORD).await;
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    assert!(locked.body["retry_after_secs"].as_u64().unwrap() > 0);
    let throttled = app.audit("auth.sign_in").await;
    assert!(throttled[0].details.contains("throttled"));
    // Other accounts are not locked by this one.
    app.user("bystander@example.com", Role::Developer).await;
    app.client()
        .sign_in("bystander@example.com", PASSWORD)
        .await
        .ok();
    // After the back-off the right password works again.
    app.clock.advance(31_000);
    c.sign_in("target@example.com", PASSWORD).await.ok();
}

async fn disabled_accounts_cannot_sign_in(app: TestApp) {
    let id = app.user("gone@example.com", Role::Developer).await;
    app::auth::users::set_status(
        &app.state.db,
        &id,
        app::domain::UserStatus::Disabled,
        app.clock.now(),
    )
    .await
    .unwrap();
    let res = app.client().sign_in("gone@example.com", PASSWORD).await;
    assert_eq!(res.status, 403);
    assert!(res.body["message"].is_null() || res.body["error"] == "not_allowed");
}

async fn setup_link_creates_the_first_admin_once(app: TestApp) {
    let link = keyport::setup_link(&app.state).await.unwrap().unwrap();
    let token = link.split("token=").nth(1).unwrap().to_string();
    let bad = app
        .client()
        .call("setup_status", &[("token", "forged")])
        .await;
    assert_eq!(bad.ok(), &serde_json::json!(false));
    let c = app.client();
    assert_eq!(
        c.call("setup_status", &[("token", &token)]).await.ok(),
        &serde_json::json!(true)
    );
    c.call(
        "complete_setup",
        &[
            ("token", &token),
            ("display_name", "Root"),
            ("email", "root@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await
    .ok();
    assert_eq!(c.whoami().await["role"], "admin");
    let reuse = app
        .client()
        .call(
            "complete_setup",
            &[
                ("token", &token),
                ("display_name", "Evil"),
                ("email", "evil@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reuse.status, 403);
    assert!(
        keyport::setup_link(&app.state).await.unwrap().is_none(),
        "no setup link once an admin exists"
    );
}

async fn sign_in_redirects_only_to_local_paths(app: TestApp) {
    app.user("nav@example.com", Role::Developer).await;
    let c = app.client();
    let ok = c
        .call(
            "sign_in",
            &[
                ("email", "nav@example.com"),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(ok.headers["location"], "/account");
    let evil = app
        .client()
        .call(
            "sign_in",
            &[
                ("email", "nav@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(evil.headers["location"], "/dashboard");
}

async fn one_address_spraying_many_accounts_is_throttled(app: TestApp) {
    app.user("real@example.com", Role::Developer).await;
    let c = app.client();
    for i in 0..20 {
        let res = c
            .sign_in(&format!("guess{i}@example.com"), "password123456")
            .await;
        assert_eq!(res.status, 401, "attempt {i}");
    }
    let locked = c.sign_in("real@example.com", PASSWORD).await;
    assert_eq!(
        locked.status, 429,
        "the address is locked, whichever account it tries"
    );
    app.clock.advance(61_000);
    c.sign_in("real@example.com", PASSWORD).await.ok();
}
