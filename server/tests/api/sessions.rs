use crate::backends;
use crate::helpers::{spawn_app_with, Backend, TestApp, PASSWORD};
use app::domain::Role;
use tower_sessions::session_store::ExpiredDeletion;

backends!(
    assets_never_touch_the_session,
    sign_in_issues_a_new_session_id,
    sign_out_kills_the_server_side_session,
    idle_sessions_expire,
    sessions_end_at_the_absolute_timeout_however_active,
    changing_password_ends_other_sessions,
    expired_sessions_are_cleaned_up,
    an_ended_session_stays_ended_when_a_request_in_flight_finishes,
    session_ids_are_stored_as_digests,
);

/// Starts a server-function call whose body is still to come: the session is loaded (and,
/// a minute after the last write, marked seen) before the handler waits for the body.
async fn held_request(app: &TestApp, cookie: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/whoami HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Let the request pass the middleware and block on its body.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stream
}

async fn an_ended_session_stays_ended_when_a_request_in_flight_finishes(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for end in ["sign_out", "end_other_sessions", "change_password"] {
        let email = format!("{end}@example.com");
        let (c, _) = app.signed_in(&email, Role::Developer).await;
        // A second browser whose session the first one ends (except for sign-out, which
        // ends its own).
        let other = app.client();
        other.sign_in(&email, PASSWORD).await.ok();
        let (victim, ender) = if end == "sign_out" {
            (&c, &c)
        } else {
            (&other, &c)
        };
        let victim_cookie = victim.cookies().unwrap();
        app.clock.advance(61_000);
        let mut in_flight = held_request(&app, &victim_cookie).await;
        let form: &[(&str, &str)] = if end == "change_password" {
            &[
                ("current_password", PASSWORD),
                ("new_password", "another long passphrase"),
                ("confirm_password", "another long passphrase"),
            ]
        } else {
            &[]
        };
        ender.call(end, form).await.ok();
        in_flight.write_all(b"a=1").await.unwrap();
        let mut answer = String::new();
        in_flight.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // The request finished after the session ended: it did not write it back.
        let replay = app.client_with_cookie(&victim_cookie);
        assert_eq!(replay.whoami().await, serde_json::Value::Null, "{end}");
        assert_eq!(replay.call("dashboard", &[]).await.status, 401, "{end}");
        if end != "sign_out" {
            assert_eq!(ender.whoami().await["email"], email.as_str(), "{end}");
        }
    }
}

async fn session_ids_are_stored_as_digests(app: TestApp) {
    let (c, _) = app.signed_in("digest@example.com", Role::Developer).await;
    let cookie = c.cookies().unwrap();
    let id = cookie.split_once('=').unwrap().1.trim().to_string();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored, vec![app::platform::state::token_digest(&id)]);
    // Whoever reads the table cannot take a session over with what is stored.
    let forged = app.client_with_cookie(&format!("keyport_session={}", stored[0]));
    assert_eq!(forged.whoami().await, serde_json::Value::Null);
    // The sessions list still names and ends sessions by a handle.
    let listed = c.call("list_sessions", &[]).await.ok().clone();
    assert_eq!(listed[0]["current"], true);
}

async fn sign_in_issues_a_new_session_id(app: TestApp) {
    app.user("a@example.com", Role::Developer).await;
    app.user("b@example.com", Role::Developer).await;
    let c = app.client();
    c.sign_in("a@example.com", PASSWORD).await.ok();
    let first = c.cookies().unwrap();
    c.sign_in("b@example.com", PASSWORD).await.ok();
    let second = c.cookies().unwrap();
    assert_ne!(first, second);
    assert_eq!(c.whoami().await["email"], "b@example.com");
    assert_eq!(
        app.client_with_cookie(&first).whoami().await,
        serde_json::Value::Null
    );
}

async fn sign_out_kills_the_server_side_session(app: TestApp) {
    let (c, _) = app.signed_in("out@example.com", Role::Developer).await;
    let cookie = c.cookies().unwrap();
    assert_eq!(
        app.client_with_cookie(&cookie).whoami().await["email"],
        "out@example.com"
    );
    let res = c.call("sign_out", &[]).await;
    res.ok();
    assert_eq!(res.headers["location"], "/");
    assert_eq!(c.whoami().await, serde_json::Value::Null);
    let replay = app.client_with_cookie(&cookie);
    assert_eq!(replay.whoami().await, serde_json::Value::Null);
    assert_eq!(replay.call("dashboard", &[]).await.status, 401);
    assert_eq!(app.audit("auth.sign_out").await.len(), 1);
}

async fn idle_sessions_expire(app: TestApp) {
    let (c, _) = app.signed_in("idle@example.com", Role::Developer).await;
    app.clock.advance(29 * 60_000);
    assert_eq!(
        c.whoami().await["email"],
        "idle@example.com",
        "29 idle minutes are fine"
    );
    app.clock.advance(31 * 60_000);
    assert_eq!(
        c.whoami().await,
        serde_json::Value::Null,
        "31 idle minutes are not"
    );
}

async fn sessions_end_at_the_absolute_timeout_however_active(app: TestApp) {
    let (c, _) = app.signed_in("busy@example.com", Role::Developer).await;
    for _ in 0..28 {
        app.clock.advance(25 * 60_000);
        assert_eq!(c.whoami().await["email"], "busy@example.com");
    }
    app.clock.advance(25 * 60_000); // 12 h 5 min after sign-in
    assert_eq!(c.whoami().await, serde_json::Value::Null);
}

async fn changing_password_ends_other_sessions(app: TestApp) {
    let (laptop, _) = app.signed_in("pw@example.com", Role::Developer).await;
    let phone = app.client();
    phone.sign_in("pw@example.com", PASSWORD).await.ok();
    let before = laptop.cookies().unwrap();

    let wrong = laptop
        .call(
            "change_password",
            &[
                ("current_password", "nope nope nope"),
                ("new_password", "a brand new passphrase"),
                ("confirm_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(!wrong.field("current_password").is_empty());

    laptop
        .call(
            "change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
                ("confirm_password", "a brand new passphrase"),
            ],
        )
        .await
        .ok();
    assert_ne!(
        laptop.cookies().unwrap(),
        before,
        "the session id is cycled"
    );
    assert_eq!(laptop.whoami().await["email"], "pw@example.com");
    assert_eq!(phone.whoami().await, serde_json::Value::Null);
    assert_eq!(
        app.client()
            .sign_in("pw@example.com", PASSWORD)
            .await
            .status,
        401
    );
    app.client()
        .sign_in("pw@example.com", "a brand new passphrase")
        .await
        .ok();
}

async fn expired_sessions_are_cleaned_up(app: TestApp) {
    app.signed_in("old@example.com", Role::Developer).await;
    let count = || async {
        let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
        row.0
    };
    assert_eq!(count().await, 1);
    app.clock.advance(31 * 60_000);
    app::platform::session::DbSessionStore::new(app.state.db.clone(), app.clock.clone())
        .delete_expired()
        .await
        .unwrap();
    assert_eq!(count().await, 0);
}

#[tokio::test]
async fn cookies_are_httponly_lax_and_host_prefixed_over_https() {
    let plain = crate::helpers::spawn_app(Backend::Sqlite).await;
    plain.user("c@example.com", Role::Developer).await;
    let res = plain.client().sign_in("c@example.com", PASSWORD).await;
    let cookie = res.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("keyport_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");

    let tls = spawn_app_with(Backend::Sqlite, |c| {
        c.public_url = Some("https://portal.example".into())
    })
    .await;
    tls.user("c@example.com", Role::Developer).await;
    let res = tls.client().sign_in("c@example.com", PASSWORD).await;
    let cookie = res.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-keyport_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain="), "{cookie}");
}

/// The browser's code and stylesheet are served without the session: a preload that still
/// carries the cookie a step-up has just replaced must not answer with a cookie (a removal
/// would sign the user out).
async fn assets_never_touch_the_session(app: TestApp) {
    let (c, _) = app
        .signed_in("assets@example.com", app::domain::Role::Developer)
        .await;
    let cookie = c.cookies().unwrap();
    for cookie in [cookie.as_str(), "keyport_session=no-such-session"] {
        let res = reqwest::Client::new()
            .get(app.url("/v/0123456789abcdef/pkg/keyport.css"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{cookie}: {:?}",
            res.headers()
        );
    }
}
