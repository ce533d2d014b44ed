use crate::backends;
use crate::helpers::TestApp;

backends!(
    oversized_bodies_are_refused,
    probes_answer_200,
    pages_carry_security_headers_and_a_nonce_csp,
    unknown_pages_are_404,
    api_errors_are_json_with_a_status,
    every_answer_names_its_request_and_internal_errors_refer_to_it,
    pages_load_while_another_router_is_built,
    answers_are_gzipped_for_clients_that_accept_it_except_secrets,
    browser_assets_load_under_their_version_and_are_cached_for_good
);

async fn probes_answer_200(app: TestApp) {
    let c = app.client();
    assert_eq!(c.get("/healthz").await.status(), 200);
    let ready = c.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

async fn pages_carry_security_headers_and_a_nonce_csp(app: TestApp) {
    let res = app.client().get("/sign-in").await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the CSP nonce"
    );
    // A fresh nonce per page.
    let again = app.client().get("/sign-in").await;
    assert!(!again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&nonce));
}

async fn unknown_pages_are_404(app: TestApp) {
    let res = app.client().get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Page not found"));
}

async fn api_errors_are_json_with_a_status(app: TestApp) {
    let c = app.client();
    let answer = c
        .call("sign_in", &[("email", "not-an-email"), ("password", "")])
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.error_kind(), "validation");
    assert!(!answer.field("email").is_empty());
    assert_eq!(answer.field("password"), vec!["Enter your password."]);
    let missing = c.call("sign_in", &[]).await;
    assert_eq!(missing.status, 400, "{:?}", missing.body);
    assert_eq!(missing.error_kind(), "bad_request");
}

async fn every_answer_names_its_request_and_internal_errors_refer_to_it(app: TestApp) {
    use app::domain::Role;
    let c = app.client();
    let id = |res: &reqwest::Response| res.headers()["x-request-id"].to_str().unwrap().to_string();
    let (first, second) = (c.get("/healthz").await, c.get("/sign-in").await);
    let (first, second) = (id(&first), id(&second));
    assert_eq!(first.len(), 16, "{first}");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    assert_ne!(first, second, "every request gets its own id");

    // A proxy's id carries through; one that is not a short plain token is replaced.
    let mine = |value: &'static str| {
        c.http
            .get(app.url("/healthz"))
            .header("X-Request-Id", value)
            .send()
    };
    assert_eq!(id(&mine("nginx-7f3a.1").await.unwrap()), "nginx-7f3a.1");
    let forged = id(&mine("a b\"injected\"").await.unwrap());
    assert_eq!(forged.len(), 16, "{forged}");

    // An internal error (the audit log's table is gone) names the request it failed in.
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    sqlx::query("DROP TABLE audit_events")
        .execute(&app.state.db)
        .await
        .unwrap();
    let answer = admin.call("list_audit", &[]).await;
    assert_eq!(answer.status, 500, "{:?}", answer.body);
    assert_eq!(answer.error_kind(), "internal");
    assert_eq!(
        answer.body["reference"].as_str().unwrap(),
        answer.headers["x-request-id"].to_str().unwrap()
    );
}

async fn oversized_bodies_are_refused(app: TestApp) {
    let big = "x".repeat(2 * 1024 * 1024);
    let c = app.client();
    let res = c
        .call(
            "sign_in",
            &[("email", "a@example.com"), ("password", big.as_str())],
        )
        .await;
    assert_eq!(res.status, 413);
}

backends!(
    the_write_ahead_log_is_emptied_by_the_checkpoint,
    a_slug_in_use_cannot_be_renamed_away
);

/// Under load SQLite's own checkpoints never finish while readers read: Keyport's
/// minutely checkpoint empties the log whatever it holds (PostgreSQL: nothing to do).
async fn the_write_ahead_log_is_emptied_by_the_checkpoint(app: TestApp) {
    let url = app.state.config.database_url.expose().to_string();
    for i in 0..2_000 {
        sqlx::query(
            "INSERT INTO throttle (key, failures, window_start, locked_until) VALUES ($1, 1, 0, 0)",
        )
        .bind(format!("fill:{i}:{}", "x".repeat(500)))
        .execute(&app.state.db)
        .await
        .unwrap();
    }
    // A long reader holds the log open meanwhile, as a busy portal does.
    let mut reader = app.state.db.begin().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM throttle")
        .fetch_one(&mut *reader)
        .await
        .unwrap();
    let checkpoint = keyport::db::checkpoint(&app.state.db, &url);
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        reader.rollback().await.unwrap();
    };
    let (done, ()) = tokio::join!(checkpoint, release);
    done.unwrap();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let wal = format!("{}-wal", path.split('?').next().unwrap());
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(size, 0, "{wal} holds {size} bytes after the checkpoint");
    }
}

async fn a_slug_in_use_cannot_be_renamed_away(app: TestApp) {
    // A publisher's API with one live subscription.
    crate::helpers::subscribed_developer(&app, "dev@example.com").await;
    let p = app.client();
    p.sign_in("pub-dev@example.com", crate::helpers::PASSWORD)
        .await
        .ok();
    let api = p
        .call("api_for_edit", &[("slug", "api-dev")])
        .await
        .ok()
        .clone();
    let rename = |slug: &'static str| {
        let id = api["id"].as_str().unwrap().to_string();
        let p = &p;
        async move {
            p.call(
                "save_api",
                &[
                    ("id", id.as_str()),
                    ("name", "api-dev"),
                    ("slug", slug),
                    ("version", "1"),
                    ("summary", "x"),
                    ("description", ""),
                    ("tags", ""),
                    ("upstream_url", "http://up.internal"),
                    ("visibility", "public"),
                ],
            )
            .await
        }
    };
    let refused = rename("renamed-api").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.field("slug")[0].contains("live subscriptions"));
    // Other fields still change.
    rename("api-dev").await.ok();
}

/// A second router built in the same process (as every test does) while pages are served:
/// the pages still load their data and answer (listing the routes once per process).
async fn pages_load_while_another_router_is_built(app: TestApp) {
    use app::domain::Role;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let state = app.state.clone();
    let builder = tokio::task::spawn_blocking(move || {
        for _ in 0..200 {
            drop(keyport::web::router(state.clone()));
        }
    });
    for _ in 0..40 {
        let res = admin
            .http
            .get(app.url("/admin/settings"))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .expect("the page answers within 5 s");
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("Settings"));
    }
    builder.await.unwrap();
}

/// Pages and data go out gzipped to clients that accept it (a real API page is megabytes of
/// HTML); an answer carrying a secret never is (its length must tell nothing, BREACH).
async fn answers_are_gzipped_for_clients_that_accept_it_except_secrets(app: TestApp) {
    use std::io::Read;
    let c = app.client();
    let get = |encoding: &'static str| {
        c.http
            .get(app.url("/sign-in"))
            .header("Accept-Encoding", encoding)
            .send()
    };
    let plain = get("identity").await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.text().await.unwrap();
    let zipped = get("gzip").await.unwrap();
    assert_eq!(zipped.status(), 200);
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let bytes = zipped.bytes().await.unwrap();
    let mut html = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut html)
        .unwrap();
    assert!(html.contains("Sign in"), "{html}");
    assert!(
        bytes.len() * 2 < plain.len(),
        "{} bytes gzipped of {}",
        bytes.len(),
        plain.len()
    );

    let (dev, _, app_id) = crate::helpers::subscribed_developer(&app, "gz@example.com").await;
    let fields = [
        ("application_id", app_id.as_str()),
        ("name", "CI"),
        ("environment", "live"),
        ("expires_in", "1d"),
        ("scopes", ""),
    ];
    let issued = dev
        .call_with("issue_key", &fields, &[("Accept-Encoding", "gzip")])
        .await;
    assert!(issued.ok()["key"].as_str().is_some(), "{:?}", issued.body);
    assert!(issued.headers.get("content-encoding").is_none());
    // Other data is compressed.
    let listed = dev
        .call_with("my_applications", &[], &[("Accept-Encoding", "gzip")])
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.headers["content-encoding"], "gzip");
}

async fn browser_assets_load_under_their_version_and_are_cached_for_good(app: TestApp) {
    let page = app.client().get("/sign-in").await.text().await.unwrap();
    let at = page.find("/v/").expect("a versioned asset") + 3;
    let version = &page[at..at + 16];
    assert!(version.chars().all(|c| c.is_ascii_hexdigit()), "{version}");
    for asset in ["keyport.js", "keyport.css"] {
        assert!(
            page.contains(&format!("/v/{version}/pkg/{asset}")),
            "{asset}"
        );
    }
    // A file in the folder the assets are served from (the tests have no build of their own).
    let dir = app::platform::assets::dir(&app.state.leptos_options);
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("probe-{}.css", app::platform::state::new_id());
    std::fs::write(dir.join(&name), "body { margin: 0 }").unwrap();
    let get = |path: String| {
        let url = app.url(&path);
        async move { reqwest::get(url).await.unwrap() }
    };
    let cache =
        |res: &reqwest::Response| res.headers()["cache-control"].to_str().unwrap().to_string();

    let current = get(format!("/v/{version}/pkg/{name}")).await;
    assert_eq!(current.status(), 200);
    assert_eq!(cache(&current), "public, max-age=31536000, immutable");
    assert_eq!(current.text().await.unwrap(), "body { margin: 0 }");
    // A page from before a new build gets today's file, revalidated.
    let old = get(format!("/v/0000000000000000/pkg/{name}")).await;
    assert_eq!(
        (old.status().as_u16(), cache(&old)),
        (200, "no-cache".to_string())
    );
    let missing = get(format!("/v/{version}/pkg/missing-{name}")).await;
    assert_eq!(
        (missing.status().as_u16(), cache(&missing)),
        (404, "no-cache".to_string())
    );
    std::fs::remove_file(dir.join(&name)).unwrap();
}
