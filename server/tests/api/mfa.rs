//! TOTP MFA, step-up and the sessions list (security checklist 10–18).

use crate::backends;
use crate::helpers::{TestApp, PASSWORD};
use app::domain::Role;

backends!(
    enrolment_needs_a_correct_code_and_shows_recovery_codes_once,
    sign_in_asks_for_the_code_and_cycles_the_session,
    a_code_is_accepted_once,
    one_step_of_skew_is_tolerated_not_two,
    code_guessing_is_throttled_and_audited,
    a_recovery_code_works_once,
    step_up_expires_and_is_renewed_by_a_code,
    turning_mfa_off_needs_a_current_code,
    the_policy_sends_unenrolled_admins_to_enrol,
    secrets_and_recovery_codes_are_not_stored_in_plain_text,
    users_end_their_own_sessions_only,
    a_parallel_burst_of_codes_gets_the_allowance_not_more,
    adding_a_second_factor_to_an_old_session_needs_the_password,
);

/// A session that signed in a while ago (a laptop left open) must show the password before
/// it can add an authenticator to the account.
async fn adding_a_second_factor_to_an_old_session_needs_the_password(app: TestApp) {
    let email = "late@example.com";
    let (c, _) = app.signed_in(email, Role::Developer).await;
    app.clock
        .advance(app::auth::mfa::service::RECENT_SIGN_IN_MS + 1_000);
    let started = c.call("start_mfa_enrolment", &[]).await;
    let base32 = started.ok()["secret_base32"].as_str().unwrap().to_string();
    let secret = totp_rs::Secret::try_from_base32(&base32)
        .unwrap()
        .as_bytes()
        .to_vec();
    let code = app.code(&secret, email, 0);
    let refused = c.call("confirm_mfa_enrolment", &[("code", &code)]).await;
    assert_eq!(refused.status, 422);
    assert!(
        !refused.field("current_password").is_empty(),
        "{}",
        refused.body
    );
    let wrong = c
        .call(
            "confirm_mfa_enrolment",
            &[("code", &code), ("current_password", "not it at all")],
        )
        .await;
    assert!(wrong.field("current_password")[0].contains("not your current password"));
    let done = c
        .call(
            "confirm_mfa_enrolment",
            &[("code", &code), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(done.ok().as_array().unwrap().len(), 10);
}

async fn enrolment_needs_a_correct_code_and_shows_recovery_codes_once(app: TestApp) {
    let (c, _) = app.signed_in("m@example.com", Role::Developer).await;
    let started = c.call("start_mfa_enrolment", &[]).await;
    let body = started.ok().clone();
    assert!(body["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Keyport:m%40example.com?"));
    assert!(!body["qr_png_base64"].as_str().unwrap().is_empty());
    let secret = totp_rs::Secret::try_from_base32(body["secret_base32"].as_str().unwrap()).unwrap();
    let secret = secret.as_bytes().to_vec();
    let wrong = c.call("confirm_mfa_enrolment", &[("code", "123456")]).await;
    assert_eq!(wrong.status, 422);
    assert_eq!(
        c.call("mfa_status", &[]).await.ok()["enabled"],
        false,
        "not active before a correct code"
    );
    let codes = c
        .call(
            "confirm_mfa_enrolment",
            &[("code", &app.code(&secret, "m@example.com", 0))],
        )
        .await;
    assert_eq!(codes.ok().as_array().unwrap().len(), 10);
    let status = c.call("mfa_status", &[]).await;
    assert_eq!(status.ok()["enabled"], true);
    assert_eq!(status.body["recovery_codes_left"], 10);
    assert_eq!(c.call("start_mfa_enrolment", &[]).await.status, 409);
    assert_eq!(app.audit("mfa.enable").await.len(), 1);
}

async fn sign_in_asks_for_the_code_and_cycles_the_session(app: TestApp) {
    let (c, _, secret) = app
        .signed_in_with_mfa("m@example.com", Role::Developer)
        .await;
    c.call("sign_out", &[]).await.ok();
    let first = c.sign_in("m@example.com", PASSWORD).await;
    assert_eq!(
        first.headers["location"].to_str().unwrap(),
        "/sign-in/mfa?next=/dashboard"
    );
    assert_eq!(
        c.whoami().await,
        serde_json::Value::Null,
        "not signed in before the code"
    );
    let pending_cookie = c.cookies().unwrap();
    app.next_step();
    let wrong = c.call("complete_sign_in", &[("code", "000000")]).await;
    assert_eq!(wrong.status, 422);
    c.call(
        "complete_sign_in",
        &[
            ("code", &app.code(&secret, "m@example.com", 0)),
            ("next", "/account"),
        ],
    )
    .await
    .ok();
    assert_eq!(c.whoami().await["email"], "m@example.com");
    assert_ne!(
        c.cookies().unwrap(),
        pending_cookie,
        "a new session id after the code"
    );
    let signins = app.audit("auth.sign_in").await;
    assert!(
        signins[0].details.contains("password+totp"),
        "{}",
        signins[0].details
    );
    // The code step expires.
    c.call("sign_out", &[]).await.ok();
    c.sign_in("m@example.com", PASSWORD).await.ok();
    app.clock.advance(6 * 60_000);
    let late = c
        .call(
            "complete_sign_in",
            &[("code", &app.code(&secret, "m@example.com", 0))],
        )
        .await;
    assert_eq!(late.status, 403);
}

async fn a_code_is_accepted_once(app: TestApp) {
    let (c, _, secret) = app
        .signed_in_with_mfa("m@example.com", Role::Developer)
        .await;
    let used_at_enrolment = app.code(&secret, "m@example.com", 0);
    let replay = c
        .call("confirm_step_up", &[("code", &used_at_enrolment)])
        .await;
    assert_eq!(replay.status, 422);
    assert!(replay.field("code")[0].contains("used already"));
    let failures = app.audit("mfa.verify").await;
    assert!(
        failures[0].details.contains("replayed"),
        "{}",
        failures[0].details
    );
    app.next_step();
    c.call(
        "confirm_step_up",
        &[("code", &app.code(&secret, "m@example.com", 0))],
    )
    .await
    .ok();
}

async fn one_step_of_skew_is_tolerated_not_two(app: TestApp) {
    let (c, _, secret) = app
        .signed_in_with_mfa("m@example.com", Role::Developer)
        .await;
    app.clock.advance(10 * 30_000);
    let two_behind = app.code(&secret, "m@example.com", -2);
    assert_eq!(
        c.call("confirm_step_up", &[("code", &two_behind)])
            .await
            .status,
        422
    );
    let one_behind = app.code(&secret, "m@example.com", -1);
    c.call("confirm_step_up", &[("code", &one_behind)])
        .await
        .ok();
    let two_ahead = app.code(&secret, "m@example.com", 2);
    assert_eq!(
        c.call("confirm_step_up", &[("code", &two_ahead)])
            .await
            .status,
        422
    );
    let one_ahead = app.code(&secret, "m@example.com", 1);
    c.call("confirm_step_up", &[("code", &one_ahead)])
        .await
        .ok();
}

async fn code_guessing_is_throttled_and_audited(app: TestApp) {
    let (c, _, secret) = app
        .signed_in_with_mfa("m@example.com", Role::Developer)
        .await;
    for guess in ["111111", "222222", "333333", "444444", "555555"] {
        assert_eq!(
            c.call("confirm_step_up", &[("code", guess)]).await.status,
            422
        );
    }
    let right = app.code(&secret, "m@example.com", 1);
    let locked = c.call("confirm_step_up", &[("code", &right)]).await;
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    assert!(app.audit("mfa.verify").await[0]
        .details
        .contains("throttled"));
    app.clock.advance(31_000);
    c.call(
        "confirm_step_up",
        &[("code", &app.code(&secret, "m@example.com", 0))],
    )
    .await
    .ok();
}

async fn a_recovery_code_works_once(app: TestApp) {
    let (c, _) = app.signed_in("r@example.com", Role::Developer).await;
    let started = c.call("start_mfa_enrolment", &[]).await;
    let secret =
        totp_rs::Secret::try_from_base32(started.ok()["secret_base32"].as_str().unwrap()).unwrap();
    let code = app.code(secret.as_bytes(), "r@example.com", 0);
    let codes = c.call("confirm_mfa_enrolment", &[("code", &code)]).await;
    let recovery = codes.ok()[0].as_str().unwrap().to_string();
    c.call("sign_out", &[]).await.ok();
    c.sign_in("r@example.com", PASSWORD).await.ok();
    c.call("complete_sign_in", &[("code", &recovery.to_uppercase())])
        .await
        .ok();
    assert_eq!(c.whoami().await["email"], "r@example.com");
    assert_eq!(
        c.call("mfa_status", &[]).await.ok()["recovery_codes_left"],
        9
    );
    c.call("sign_out", &[]).await.ok();
    c.sign_in("r@example.com", PASSWORD).await.ok();
    let again = c.call("complete_sign_in", &[("code", &recovery)]).await;
    assert_eq!(again.status, 422);
    assert!(again.field("code")[0].contains("recovery code"));
}

async fn step_up_expires_and_is_renewed_by_a_code(app: TestApp) {
    let (admin, _, secret) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    let dev = app.user("dev@example.com", Role::Developer).await;
    admin
        .call("set_user_role", &[("user_id", &dev), ("role", "publisher")])
        .await
        .ok();
    app.clock.advance(5 * 60_000 + 1_000);
    let stale = admin
        .call("set_user_role", &[("user_id", &dev), ("role", "developer")])
        .await;
    assert_eq!((stale.status, stale.error_kind()), (403, "mfa_required"));
    let before = admin.cookies().unwrap();
    admin
        .call(
            "confirm_step_up",
            &[("code", &app.code(&secret, "root@example.com", 0))],
        )
        .await
        .ok();
    assert_ne!(
        admin.cookies().unwrap(),
        before,
        "step-up cycles the session id"
    );
    admin
        .call("set_user_role", &[("user_id", &dev), ("role", "developer")])
        .await
        .ok();
    assert_eq!(app.audit("mfa.step_up").await.len(), 1);
    // Without MFA, a sensitive action leads to enrolment.
    let (plain_admin, _) = app.signed_in("plain@example.com", Role::Admin).await;
    let refused = plain_admin
        .call("set_user_role", &[("user_id", &dev), ("role", "publisher")])
        .await;
    assert_eq!(
        (refused.status, refused.error_kind()),
        (403, "mfa_enrolment_required")
    );
}

async fn turning_mfa_off_needs_a_current_code(app: TestApp) {
    let (c, _, secret) = app
        .signed_in_with_mfa("m@example.com", Role::Developer)
        .await;
    app.next_step();
    let bad = c.call("disable_mfa", &[("code", "000000")]).await;
    assert_eq!(bad.status, 422);
    c.call(
        "disable_mfa",
        &[("code", &app.code(&secret, "m@example.com", 0))],
    )
    .await
    .ok();
    assert_eq!(c.call("mfa_status", &[]).await.ok()["enabled"], false);
    assert_eq!(app.audit("mfa.disable").await.len(), 1);
}

async fn the_policy_sends_unenrolled_admins_to_enrol(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;
    admin
        .call(
            "update_settings",
            &[("signup_mode", "open"), ("mfa_policy", "privileged")],
        )
        .await
        .ok();
    let (other, _) = app.signed_in("second@example.com", Role::Admin).await;
    let refused = other.call("list_users", &[]).await;
    assert_eq!(
        (refused.status, refused.error_kind()),
        (403, "mfa_enrolment_required")
    );
    other.call("dashboard", &[]).await.ok();
    assert_eq!(other.call("mfa_status", &[]).await.ok()["required"], true);
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    dev.call("dashboard", &[]).await.ok();
    dev.call(
        "update_profile",
        &[("display_name", "Dev"), ("email", "dev@example.com")],
    )
    .await
    .ok();
    other.enrol_mfa(&app, "second@example.com").await;
    other.call("list_users", &[]).await.ok();
}

async fn secrets_and_recovery_codes_are_not_stored_in_plain_text(app: TestApp) {
    let (c, id) = app.signed_in("s@example.com", Role::Developer).await;
    let started = c.call("start_mfa_enrolment", &[]).await;
    let base32 = started.ok()["secret_base32"].as_str().unwrap().to_string();
    let secret = totp_rs::Secret::try_from_base32(&base32).unwrap();
    let codes = c
        .call(
            "confirm_mfa_enrolment",
            &[("code", &app.code(secret.as_bytes(), "s@example.com", 0))],
        )
        .await;
    let codes: Vec<String> = codes
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let (stored,): (String,) = sqlx::query_as("SELECT secret_enc FROM mfa_totp WHERE user_id = $1")
        .bind(&id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert!(!stored.contains(&base32));
    let digests: Vec<(String,)> =
        sqlx::query_as("SELECT code_digest FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(&id)
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(digests.len(), 10);
    for (digest,) in digests {
        assert!(codes.iter().all(|c| !digest.contains(c.as_str())));
    }
}

async fn users_end_their_own_sessions_only(app: TestApp) {
    let (laptop, _) = app.signed_in("a@example.com", Role::Developer).await;
    let phone = app.client();
    phone.sign_in("a@example.com", PASSWORD).await.ok();
    let (mallory, _) = app.signed_in("mallory@example.com", Role::Developer).await;
    let list = laptop.call("list_sessions", &[]).await;
    let sessions = list.ok().as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    let phone_handle = sessions.iter().find(|s| s["current"] == false).unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !phone.cookies().unwrap().contains(&phone_handle),
        "handles are not session ids"
    );
    let stolen = mallory
        .call("end_session", &[("handle", &phone_handle)])
        .await;
    assert_eq!(stolen.status, 404);
    assert_eq!(phone.whoami().await["email"], "a@example.com");
    laptop
        .call("end_session", &[("handle", &phone_handle)])
        .await
        .ok();
    assert_eq!(phone.whoami().await, serde_json::Value::Null);
    phone.sign_in("a@example.com", PASSWORD).await.ok();
    assert_eq!(
        laptop.call("end_other_sessions", &[]).await.ok(),
        &serde_json::json!(1)
    );
    assert_eq!(phone.whoami().await, serde_json::Value::Null);
    assert_eq!(laptop.whoami().await["email"], "a@example.com");
}

/// Attempts are reserved before a code is checked: of a parallel burst of wrong codes, at
/// most the allowance is checked and the rest are refused with 429.
async fn a_parallel_burst_of_codes_gets_the_allowance_not_more(app: TestApp) {
    let email = "burst@example.com";
    let (c, _, secret) = app.signed_in_with_mfa(email, Role::Developer).await;
    let right = app.code(&secret, email, 0);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let http = c.http.clone();
            let url = format!("{}/api/confirm_step_up", c.base);
            tokio::spawn(async move {
                http.post(url)
                    .header("Accept", "application/json")
                    .form(&[("code", wrong)])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 422).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(checked <= 5, "{checked} codes were checked");
    assert_eq!(checked + refused, 200, "{statuses:?}");
    let wrong_codes = app
        .audit("mfa.verify")
        .await
        .into_iter()
        .filter(|e| e.details.contains("wrong_code"))
        .count();
    assert!(
        wrong_codes <= 5,
        "{wrong_codes} wrong codes audited as checked"
    );
    // Locked: even the right code waits.
    let locked = c.call("confirm_step_up", &[("code", &right)]).await;
    assert_eq!(locked.status, 429);
}
