//! Access control: the role × server-function matrix (BFLA), CSRF, and no state change by GET.

use crate::backends;
use crate::helpers::{Client, TestApp};
use app::domain::Role;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Anyone,
    User,
    Admin,
}

/// A server function, what it needs, and a well-formed call.
type Row = (&'static str, Needs, &'static [(&'static str, &'static str)]);

/// Every server function.
const MATRIX: &[Row] = &[
    ("whoami", Needs::Anyone, &[]),
    (
        "sign_in",
        Needs::Anyone,
        &[("email", "x@example.com"), ("password", "whatever it is")],
    ),
    ("sign_out", Needs::Anyone, &[]),
    (
        "sign_up",
        Needs::Anyone,
        &[
            ("display_name", "X"),
            ("email", "new@example.com"),
            ("password", "short"),
        ],
    ),
    ("signup_info", Needs::Anyone, &[]),
    ("setup_status", Needs::Anyone, &[("token", "t")]),
    (
        "complete_setup",
        Needs::Anyone,
        &[
            ("token", "t"),
            ("display_name", "X"),
            ("email", "x@example.com"),
            ("password", "short"),
        ],
    ),
    ("dashboard", Needs::User, &[]),
    (
        "update_profile",
        Needs::User,
        &[("display_name", "Same"), ("email", "{self}")],
    ),
    (
        "change_password",
        Needs::User,
        &[
            ("current_password", "x"),
            ("new_password", "y"),
            ("confirm_password", "y"),
        ],
    ),
    ("list_users", Needs::Admin, &[]),
    (
        "set_user_role",
        Needs::Admin,
        &[("user_id", "{other}"), ("role", "developer")],
    ),
    (
        "set_user_status",
        Needs::Admin,
        &[("user_id", "{other}"), ("status", "active")],
    ),
    ("get_settings", Needs::Admin, &[]),
    ("update_settings", Needs::Admin, &[("signup_mode", "open")]),
    (
        "create_invitation",
        Needs::Admin,
        &[("email", "invitee@example.com"), ("role", "developer")],
    ),
    ("revoke_invitation", Needs::Admin, &[("id", "missing")]),
    ("list_audit", Needs::Admin, &[]),
    ("sign_in_providers", Needs::Anyone, &[]),
    ("list_sign_in_methods", Needs::User, &[]),
    ("unlink_identity", Needs::User, &[("id", "missing")]),
    ("get_sso_settings", Needs::Admin, &[]),
    (
        "update_sso_settings",
        Needs::Admin,
        &[("jit_policy", "allow"), ("jit_domains", "")],
    ),
];

backends!(
    every_server_function_checks_its_caller,
    cross_site_posts_are_refused,
    server_functions_do_not_answer_get
);

#[test]
fn the_matrix_names_every_server_function() {
    // Registering happens at start-up through `inventory`; touching the app links it in.
    let _ = app::App;
    let mut registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    registered.sort();
    let mut listed: Vec<String> = MATRIX.iter().map(|(name, _, _)| name.to_string()).collect();
    listed.sort();
    assert_eq!(
        registered, listed,
        "add new server functions to the access matrix"
    );
}

async fn call(c: &Client, name: &str, form: &[(&str, &str)], me: &str, other: &str) -> u16 {
    let form: Vec<(&str, &str)> = form
        .iter()
        .map(|(k, v)| {
            (
                *k,
                if *v == "{self}" {
                    me
                } else if *v == "{other}" {
                    other
                } else {
                    *v
                },
            )
        })
        .collect();
    c.call(name, &form).await.status
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
            Some(role) => app.signed_in(&email, role).await.0,
            None => app.client(),
        };
        for (name, needs, form) in MATRIX {
            if *name == "sign_out" || *name == "sign_in" {
                continue; // would change who is calling; covered in auth and sessions
            }
            let status = call(&client, name, form, &email, &other).await;
            let expected_denial = match (needs, role) {
                (Needs::Anyone, _) => None,
                (_, None) => Some(401),
                (Needs::Admin, Some(r)) if r != Role::Admin => Some(403),
                _ => None,
            };
            match (expected_denial, needs) {
                (Some(code), _) => assert_eq!(status, code, "{label} calling {name}"),
                // Public functions may refuse the request itself (a bad setup token), never the caller.
                (None, Needs::Anyone) => assert_ne!(status, 401, "{label} calling {name}"),
                (None, _) => assert!(
                    status != 401 && status != 403,
                    "{label} calling {name} got {status}"
                ),
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 4 * (MATRIX.len() - 2));
    let denied = app.audit("authz.denied").await;
    assert_eq!(
        denied.len(),
        2 * 10,
        "each refused admin call by a developer or publisher is audited"
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
