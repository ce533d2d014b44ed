//! Access control: the role × server-function matrix (BFLA), CSRF, and no state change by GET.

use crate::backends;
use crate::helpers::{Client, TestApp};
use app::domain::Role;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Anyone,
    User,
    /// Publishers and admins.
    Publisher,
    Admin,
}

/// Whether a function changes who can do what (or spends a secret) and so needs a second
/// factor checked within the step-up window, besides the role.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Factor {
    Any,
    Recent,
}

/// A server function, who may call it, whether it needs a recent second factor, and a
/// well-formed call.
type Row = (
    &'static str,
    Needs,
    Factor,
    &'static [(&'static str, &'static str)],
);

/// Every server function.
const MATRIX: &[Row] = &[
    ("whoami", Needs::Anyone, Factor::Any, &[]),
    (
        "sign_in",
        Needs::Anyone,
        Factor::Any,
        &[("email", "x@example.com"), ("password", "whatever it is")],
    ),
    ("sign_out", Needs::Anyone, Factor::Any, &[]),
    (
        "sign_up",
        Needs::Anyone,
        Factor::Any,
        &[
            ("display_name", "X"),
            ("email", "new@example.com"),
            ("password", "short"),
        ],
    ),
    ("signup_info", Needs::Anyone, Factor::Any, &[]),
    (
        "confirm_sign_up",
        Needs::Anyone,
        Factor::Any,
        &[("token", "not-a-token")],
    ),
    (
        "setup_status",
        Needs::Anyone,
        Factor::Any,
        &[("token", "t")],
    ),
    (
        "complete_setup",
        Needs::Anyone,
        Factor::Any,
        &[
            ("token", "t"),
            ("display_name", "X"),
            ("email", "x@example.com"),
            ("password", "short"),
        ],
    ),
    ("dashboard", Needs::User, Factor::Any, &[]),
    ("mfa_status", Needs::User, Factor::Any, &[]),
    ("start_mfa_enrolment", Needs::User, Factor::Any, &[]),
    (
        "confirm_mfa_enrolment",
        Needs::User,
        Factor::Any,
        &[("code", "000000")],
    ),
    (
        "disable_mfa",
        Needs::User,
        Factor::Any,
        &[("code", "000000")],
    ),
    (
        "regenerate_recovery_codes",
        Needs::User,
        Factor::Recent,
        &[],
    ),
    (
        "confirm_step_up",
        Needs::User,
        Factor::Any,
        &[("code", "000000")],
    ),
    (
        "complete_sign_in",
        Needs::Anyone,
        Factor::Any,
        &[("code", "000000")],
    ),
    ("list_sessions", Needs::User, Factor::Any, &[]),
    (
        "end_session",
        Needs::User,
        Factor::Any,
        &[("handle", "0000000000000000")],
    ),
    ("end_other_sessions", Needs::User, Factor::Any, &[]),
    (
        "update_profile",
        Needs::User,
        Factor::Any,
        &[("display_name", "Same"), ("email", "{self}")],
    ),
    (
        "change_password",
        Needs::User,
        Factor::Any,
        &[
            ("current_password", "x"),
            ("new_password", "y"),
            ("confirm_password", "y"),
        ],
    ),
    ("list_users", Needs::Admin, Factor::Any, &[]),
    (
        "set_user_role",
        Needs::Admin,
        Factor::Recent,
        &[("user_id", "{other}"), ("role", "developer")],
    ),
    (
        "set_user_status",
        Needs::Admin,
        Factor::Recent,
        &[("user_id", "{other}"), ("status", "active")],
    ),
    ("get_settings", Needs::Admin, Factor::Any, &[]),
    (
        "update_settings",
        Needs::Admin,
        Factor::Recent,
        &[("signup_mode", "open")],
    ),
    (
        "create_invitation",
        Needs::Admin,
        Factor::Recent,
        &[("email", "invitee@example.com"), ("role", "developer")],
    ),
    (
        "revoke_invitation",
        Needs::Admin,
        Factor::Any,
        &[("id", "missing")],
    ),
    ("list_audit", Needs::Admin, Factor::Any, &[]),
    ("sign_in_providers", Needs::Anyone, Factor::Any, &[]),
    ("list_sign_in_methods", Needs::User, Factor::Any, &[]),
    (
        "unlink_identity",
        Needs::User,
        Factor::Any,
        &[("id", "missing")],
    ),
    ("get_sso_settings", Needs::Admin, Factor::Any, &[]),
    (
        "update_sso_settings",
        Needs::Admin,
        Factor::Recent,
        &[("jit_policy", "allow"), ("jit_domains", "")],
    ),
    ("catalog", Needs::User, Factor::Any, &[]),
    (
        "api_detail",
        Needs::User,
        Factor::Any,
        &[("slug", "missing")],
    ),
    (
        "api_operation",
        Needs::User,
        Factor::Any,
        &[("slug", "missing"), ("anchor", "missing")],
    ),
    ("managed_apis", Needs::Publisher, Factor::Any, &[]),
    (
        "api_for_edit",
        Needs::Publisher,
        Factor::Any,
        &[("slug", "missing")],
    ),
    (
        "save_api",
        Needs::Publisher,
        Factor::Any,
        &[
            ("name", ""),
            ("slug", ""),
            ("version", ""),
            ("summary", ""),
            ("description", ""),
            ("tags", ""),
            ("upstream_url", ""),
            ("visibility", "public"),
        ],
    ),
    (
        "upload_openapi",
        Needs::Publisher,
        Factor::Any,
        &[("api_id", "missing"), ("document", "")],
    ),
    // Sent as multipart/form-data (see `call`).
    (
        "upload_openapi_file",
        Needs::Publisher,
        Factor::Any,
        &[("api_id", "missing"), ("file", ""), ("document", "")],
    ),
    (
        "change_lifecycle",
        Needs::Publisher,
        Factor::Any,
        &[("api_id", "missing"), ("lifecycle", "published")],
    ),
    (
        "delete_api",
        Needs::Publisher,
        Factor::Any,
        &[("api_id", "missing")],
    ),
    (
        "save_plan",
        Needs::Publisher,
        Factor::Any,
        &[
            ("api_id", "missing"),
            ("name", ""),
            ("description", ""),
            ("rate_limit", ""),
            ("rate_period", "second"),
            ("burst", ""),
            ("quota", ""),
            ("quota_period", "day"),
            ("approval", "automatic"),
            ("scopes", ""),
            ("max_key_lifetime_days", ""),
        ],
    ),
    (
        "delete_plan",
        Needs::Publisher,
        Factor::Any,
        &[("plan_id", "missing")],
    ),
    ("my_applications", Needs::User, Factor::Any, &[]),
    (
        "usage_report",
        Needs::User,
        Factor::Any,
        &[("range", "24h")],
    ),
    (
        "update_time_zone",
        Needs::User,
        Factor::Any,
        &[("time_zone", "")],
    ),
    (
        "api_usage",
        Needs::Publisher,
        Factor::Any,
        &[("range", "24h")],
    ),
    (
        "platform_usage",
        Needs::Admin,
        Factor::Any,
        &[("range", "24h")],
    ),
    (
        "save_application",
        Needs::User,
        Factor::Any,
        &[("name", ""), ("description", "")],
    ),
    (
        "delete_application",
        Needs::User,
        Factor::Any,
        &[("id", "missing")],
    ),
    (
        "subscribe",
        Needs::User,
        Factor::Any,
        &[("application_id", "missing"), ("plan_id", "missing")],
    ),
    (
        "cancel_subscription",
        Needs::User,
        Factor::Any,
        &[("id", "missing")],
    ),
    ("approval_queue", Needs::Publisher, Factor::Any, &[]),
    (
        "decide_subscription",
        Needs::Publisher,
        Factor::Recent,
        &[("id", "missing"), ("decision", "approve")],
    ),
    ("list_notifications", Needs::User, Factor::Any, &[]),
    ("unread_notifications", Needs::Anyone, Factor::Any, &[]),
    ("mark_notifications_read", Needs::User, Factor::Any, &[]),
    (
        "issue_key",
        Needs::User,
        Factor::Recent,
        &[
            ("application_id", "missing"),
            ("name", "k"),
            ("environment", "test"),
            ("expires_in", "1d"),
            ("scopes", ""),
        ],
    ),
    (
        "revoke_key",
        Needs::User,
        Factor::Recent,
        &[("id", "missing"), ("reason", "test")],
    ),
    (
        "rotate_key",
        Needs::User,
        Factor::Recent,
        &[("id", "missing"), ("grace", "1h")],
    ),
    (
        "revoke_application_keys",
        Needs::User,
        Factor::Recent,
        &[("application_id", "missing"), ("reason", "test")],
    ),
    ("all_keys", Needs::Admin, Factor::Any, &[]),
    ("get_key_settings", Needs::Admin, Factor::Any, &[]),
    (
        "update_key_settings",
        Needs::Admin,
        Factor::Recent,
        &[
            ("max_lifetime_days", ""),
            ("rotation_days", ""),
            ("reminder_days", "7"),
            ("leak_action", "revoke"),
        ],
    ),
    ("gateway_instances", Needs::Admin, Factor::Any, &[]),
    ("list_service_tokens", Needs::Admin, Factor::Any, &[]),
    (
        "create_service_token",
        Needs::Admin,
        Factor::Recent,
        &[("name", "edge")],
    ),
    (
        "revoke_service_token",
        Needs::Admin,
        Factor::Recent,
        &[("id", "missing")],
    ),
];

backends!(
    every_server_function_checks_its_caller,
    sensitive_functions_need_a_recent_second_factor,
    cross_site_posts_are_refused,
    server_functions_do_not_answer_get,
    no_server_function_takes_control_characters
);

#[test]
fn the_matrix_names_every_server_function() {
    // Registering happens at start-up through `inventory`; touching the app links it in.
    let _ = app::App;
    let mut registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    registered.sort();
    let mut listed: Vec<String> = MATRIX
        .iter()
        .map(|(name, _, _, _)| name.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        registered, listed,
        "add new server functions to the access matrix"
    );
}

/// The status and error kind of a call (`""` on success).
async fn call<'a>(
    c: &Client,
    name: &str,
    form: &[(&'a str, &'a str)],
    me: &'a str,
    other: &'a str,
) -> (u16, String) {
    let fill = |v: &'a str| match v {
        "{self}" => me,
        "{other}" => other,
        v => v,
    };
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, fill(v))).collect();
    let answer = if name == "upload_openapi_file" {
        c.call_multipart(name, &form).await
    } else {
        c.call(name, &form).await
    };
    (answer.status, answer.error_kind().to_string())
}

async fn every_server_function_checks_its_caller(app: TestApp) {
    let other = app.user("other@example.com", Role::Developer).await;
    let callers = [
        ("anonymous", None),
        ("developer", Some(Role::Developer)),
        ("publisher", Some(Role::Publisher)),
        ("admin", Some(Role::Admin)),
    ];
    let mut cases = 0;
    for (label, role) in callers {
        let email = format!("{label}@example.com");
        let client = match role {
            Some(Role::Admin) => app.signed_in_with_mfa(&email, Role::Admin).await.0,
            Some(role) => app.signed_in(&email, role).await.0,
            None => app.client(),
        };
        for (name, needs, _, form) in MATRIX {
            if *name == "sign_out" || *name == "sign_in" {
                continue; // would change who is calling; covered in auth and sessions
            }
            let (status, kind) = call(&client, name, form, &email, &other).await;
            let expected_denial = match (needs, role) {
                (Needs::Anyone, _) => None,
                (_, None) => Some((401, "unauthorized")),
                (Needs::Admin, Some(r)) if r != Role::Admin => Some((403, "forbidden")),
                (Needs::Publisher, Some(Role::Developer)) => Some((403, "forbidden")),
                _ => None,
            };
            match expected_denial {
                Some((code, expected)) => {
                    assert_eq!(
                        (status, kind.as_str()),
                        (code, expected),
                        "{label} calling {name}"
                    )
                }
                // The caller is let in; the request itself may still be refused (a wrong code).
                None => assert!(
                    kind != "unauthorized" && kind != "forbidden",
                    "{label} calling {name} got {status} {kind}"
                ),
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 4 * (MATRIX.len() - 2));
    let denied = app.audit("authz.denied").await;
    let needs = |n: Needs| MATRIX.iter().filter(|(_, needs, _, _)| *needs == n).count();
    assert_eq!(
        denied.len(),
        2 * needs(Needs::Admin) + needs(Needs::Publisher),
        "each refused call by a developer or publisher is audited"
    );
}

async fn cross_site_posts_are_refused(app: TestApp) {
    let (c, _) = app.signed_in("victim@example.com", Role::Developer).await;
    let form = [("display_name", "Pwned"), ("email", "victim@example.com")];
    let cross = c
        .call_with("update_profile", &form, &[("Sec-Fetch-Site", "cross-site")])
        .await;
    assert_eq!(cross.status, 403);
    assert_eq!(cross.error_kind(), "not_allowed");
    let same_site = c
        .call_with("update_profile", &form, &[("Sec-Fetch-Site", "same-site")])
        .await;
    assert_eq!(
        same_site.status, 403,
        "a sibling subdomain is not the same origin"
    );
    let evil_origin = c
        .call_with(
            "update_profile",
            &form,
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(evil_origin.status, 403);
    assert_eq!(
        c.whoami().await["display_name"],
        "victim",
        "nothing changed"
    );
    let own = format!("http://{}", app.addr);
    c.call_with(
        "update_profile",
        &form,
        &[("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")],
    )
    .await
    .ok();
    assert_eq!(c.whoami().await["display_name"], "Pwned");
    // Login CSRF is refused too.
    let login = app
        .client()
        .call_with(
            "sign_in",
            &[("email", "victim@example.com"), ("password", "x")],
            &[("Sec-Fetch-Site", "cross-site")],
        )
        .await;
    assert_eq!(login.status, 403);
}

async fn server_functions_do_not_answer_get(app: TestApp) {
    let (c, _) = app.signed_in("g@example.com", Role::Developer).await;
    let res = c.get("/api/sign_out").await;
    assert!(
        res.status() == 405 || res.status() == 404,
        "{}",
        res.status()
    );
    assert_eq!(c.whoami().await["email"], "g@example.com");
}

/// NUL (which PostgreSQL cannot store) and other control characters in any argument of any
/// server function are refused with a 422 naming the field, on both backends, before the
/// function runs; so are line breaks in a query string.
async fn no_server_function_takes_control_characters(app: TestApp) {
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let mut cases = 0;
    for (name, _, _, form) in MATRIX {
        for (field, _) in form.iter() {
            for bad in ["\u{0}", "x\u{0}y", "\u{1b}[31m", "\u{7f}"] {
                let form: Vec<(&str, &str)> = form
                    .iter()
                    .map(|(k, v)| if k == field { (*k, bad) } else { (*k, *v) })
                    .collect();
                let answer = if *name == "upload_openapi_file" {
                    admin.call_multipart(name, &form).await
                } else {
                    admin.call(name, &form).await
                };
                assert_eq!(
                    (answer.status, answer.error_kind()),
                    (422, "validation"),
                    "{name}({field}={bad:?}): {}",
                    answer.body
                );
                // The uploaded file is the document: its errors show on the document field.
                let shown_on = if *field == "file" { "document" } else { field };
                assert!(
                    !answer.field(shown_on).is_empty(),
                    "{name}: {}",
                    answer.body
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 200, "{cases}");
    // Searches and filters that are not in the matrix's well-formed calls.
    for (name, field) in [
        ("catalog", "q"),
        ("catalog", "tag"),
        ("all_keys", "search"),
        ("all_keys", "state"),
        ("list_users", "q"),
        ("list_audit", "action"),
        ("approval_queue", "state"),
    ] {
        let answer = admin.call(name, &[(field, "a\u{0}")]).await;
        assert_eq!(answer.status, 422, "{name}({field}): {}", answer.body);
    }
    // Still alive and unchanged.
    assert_eq!(admin.whoami().await["email"], "admin@example.com");
}

/// The matrix's second-factor column: with a step-up older than the window, every function
/// marked `Recent` answers `mfa_required` (and runs once a code is given in the form, as the
/// pages do without JavaScript); no other function asks. Changing a lifecycle is `Any` in
/// the matrix (its call publishes); retiring needs a recent factor (catalog tests).
async fn sensitive_functions_need_a_recent_second_factor(app: TestApp) {
    let other = app.user("other@example.com", Role::Developer).await;
    let email = "admin@example.com";
    let (admin, _, secret) = app.signed_in_with_mfa(email, Role::Admin).await;
    let window = app.state.config.step_up_window_secs as i64 * 1000;
    let mut recent = 0;
    for (name, _, factor, form) in MATRIX {
        if matches!(*name, "sign_out" | "sign_in" | "end_other_sessions") {
            continue;
        }
        app.clock.advance(window + 1_000);
        let (status, kind) = call(&admin, name, form, email, &other).await;
        match factor {
            Factor::Recent => {
                assert_eq!((status, kind.as_str()), (403, "mfa_required"), "{name}");
                let code = app.code(&secret, email, 0);
                let mut with_code: Vec<(&str, &str)> = form.to_vec();
                with_code.push(("step_up_code", &code));
                let (status, kind) = call(&admin, name, &with_code, email, &other).await;
                assert!(
                    kind != "mfa_required" && kind != "forbidden" && kind != "unauthorized",
                    "{name} with a code in the form: {status} {kind}"
                );
                recent += 1;
            }
            Factor::Any => assert_ne!(kind, "mfa_required", "{name} ({status})"),
        }
    }
    assert!(recent >= 14, "{recent}");
}
