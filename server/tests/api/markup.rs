//! No markup injection: text that users store (names, descriptions, reasons, emails, user
//! agents, OpenAPI documents, settings) comes back on every page that shows it as text —
//! never as an element or an attribute — in the `<title>`, in text areas, in attributes
//! and in the body. Each page is parsed with a real HTML parser, as a browser would.

use crate::backends;
use crate::helpers::{draft, edit_view, plan, publish, subscribed_application};
use crate::helpers::{Client, TestApp, PASSWORD};
use app::domain::{DisplayName, Email, Role};
use scraper::{ElementRef, Html, Selector};

/// Ends the title and refreshes to another site (the CSP does not stop a refresh).
const META: &str = r#"</title><meta http-equiv="refresh" content="0;url=http://evil.test/">"#;
/// Ends a text area (or a title) and runs a script.
const SCRIPT: &str = "</textarea><script>alert(1)</script>";
/// Ends an attribute and adds an element with an event handler.
const IMG: &str = r#""><img src=x onerror=alert(1)>"#;
/// Ends a style element, opens a comment, ends a CDATA section.
const REST: &str = "</style><!-- ]]>";

/// Every payload at once, for texts that may be that long.
fn all() -> String {
    format!("{META} {SCRIPT} {IMG} {REST}")
}

/// The same, over several lines (descriptions, reasons).
fn lines() -> String {
    format!("{META}\n\n{SCRIPT}\n{IMG}\n{REST}")
}

const API_SLUG: &str = "evil-api";
fn plan_name() -> String {
    format!("{SCRIPT}<!--")
}
fn app_name() -> String {
    format!("{IMG}</title><!--")
}
fn key_name() -> String {
    format!("{SCRIPT}]]>")
}
const DEV_EMAIL: &str = "dev\"onmouseover=alert(1)'@evil.test";
const INVITE_EMAIL: &str = "inv\"autofocus/onfocus=alert(1)@evil.test";

/// What a page must show, and how.
#[derive(Default)]
struct Expect {
    /// The decoded text of the `<title>`.
    title: String,
    /// Texts shown somewhere in the body, as text.
    texts: Vec<String>,
    /// Values that some text area holds exactly.
    textareas: Vec<String>,
    /// (attribute, value) pairs that some element carries exactly.
    attrs: Vec<(&'static str, String)>,
}

impl Expect {
    fn titled(title: impl Into<String>) -> Self {
        Expect {
            title: title.into(),
            ..Expect::default()
        }
    }
    fn text(mut self, t: impl Into<String>) -> Self {
        self.texts.push(t.into());
        self
    }
    fn textarea(mut self, t: impl Into<String>) -> Self {
        self.textareas.push(t.into());
        self
    }
    fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// GETs `path` as `c` and checks the served HTML against `expect` and against every sign of
/// injected markup.
async fn check(c: &Client, path: &str, expect: Expect) {
    let res = c.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    let body = res.text().await.unwrap();
    let doc = Html::parse_document(&body);
    let fail = |what: String| -> ! { panic!("GET {path}: {what}\n\n{body}") };

    // The head holds only what Keyport puts there.
    for meta in doc.select(&sel("meta")) {
        let m = meta.value();
        let ours = m.attr("charset").is_some()
            || m.attr("name") == Some("viewport")
            || (m.attr("name") == Some("description")
                && m.attr("content").is_some_and(|c| c.starts_with("Keyport:")));
        if !ours || m.attr("http-equiv").is_some() {
            fail(format!("a <meta> Keyport did not write: {}", meta.html()));
        }
    }
    for link in doc.select(&sel("link")) {
        let href = link.value().attr("href").unwrap_or_default();
        let versioned_asset = href
            .strip_prefix("/v/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(version, path)| {
                version.len() == 16
                    && version.chars().all(|c| c.is_ascii_hexdigit())
                    && path.starts_with("pkg/")
            });
        if !(versioned_asset || href.starts_with("data:")) {
            fail(format!("a <link> Keyport did not write: {}", link.html()));
        }
    }
    let nonce = doc
        .select(&sel("script[nonce]"))
        .next()
        .and_then(|s| s.value().attr("nonce"))
        .unwrap_or_default()
        .to_string();
    for script in doc.select(&sel("script")) {
        if nonce.is_empty() || !is_keyports_script(script, &nonce) {
            fail(format!(
                "a <script> Keyport did not write: {}",
                script.html()
            ));
        }
    }
    for tag in [
        "style", "iframe", "object", "embed", "base", "frame", "frameset",
    ] {
        if let Some(el) = doc.select(&sel(tag)).next() {
            fail(format!("an injected <{tag}>: {}", el.html()));
        }
    }
    // Images appear only in sanitized Markdown.
    for img in doc.select(&sel("img")) {
        let in_prose = img.ancestors().any(|a| {
            ElementRef::wrap(a).is_some_and(|e| e.value().classes().any(|c| c == "prose"))
        });
        if !in_prose {
            fail(format!("an injected <img>: {}", img.html()));
        }
    }
    // Leptos attaches event handlers in the browser; none is ever in the served HTML.
    for el in doc.select(&sel("*")) {
        if let Some((name, _)) = el.value().attrs().find(|(n, _)| n.starts_with("on")) {
            fail(format!("an event-handler attribute {name}: {}", el.html()));
        }
    }

    // The document's title (a chart's bars have SVG titles of their own).
    let titles: Vec<String> = doc
        .select(&sel("title"))
        .filter(|t| {
            !t.ancestors()
                .any(|a| ElementRef::wrap(a).is_some_and(|e| e.value().name() == "svg"))
        })
        .map(|t| t.text().collect())
        .collect();
    if titles != [expect.title.clone()] {
        fail(format!("title {titles:?}, expected {:?}", expect.title));
    }

    let areas: Vec<String> = doc
        .select(&sel("textarea"))
        .map(|t| t.text().collect())
        .collect();
    for want in &expect.textareas {
        if !areas.contains(want) {
            fail(format!("no text area holds {want:?}; they hold {areas:?}"));
        }
    }

    for (name, want) in &expect.attrs {
        let found = doc
            .select(&sel(&format!("[{name}]")))
            .any(|e| e.value().attr(name) == Some(want.as_str()));
        if !found {
            fail(format!("no element has {name}={want:?}"));
        }
    }

    let shown = body_text(&doc);
    for want in &expect.texts {
        if !shown.contains(want.as_str()) {
            fail(format!("the page does not show {want:?} as text"));
        }
    }
}

/// The text a reader sees in the body: text nodes outside scripts and text areas.
fn body_text(doc: &Html) -> String {
    let mut out = String::new();
    let Some(body) = doc.select(&sel("body")).next() else {
        return out;
    };
    for node in body.descendants() {
        let Some(text) = node.value().as_text() else {
            continue;
        };
        let parent = node
            .parent()
            .and_then(|p| p.value().as_element().map(|e| e.name().to_string()));
        if !matches!(parent.as_deref(), Some("script" | "textarea")) {
            out.push_str(text);
        }
    }
    out
}

/// Keyport's own scripts: the hydration loader and the data it streams for hydration, each
/// with the page's CSP nonce (an injected script cannot know it).
fn is_keyports_script(script: ElementRef, nonce: &str) -> bool {
    let code: String = script.text().collect();
    let code = code.trim_start();
    script.value().attr("nonce") == Some(nonce)
        && (code.starts_with("__") || code.starts_with("(function"))
}

/// A user created straight in the store with this display name, signed in; and their id.
async fn user_named(app: &TestApp, email: &str, name: &str, role: Role) -> (Client, String) {
    let hash = app::auth::password::hash_blocking(PASSWORD).unwrap();
    let id = app::auth::users::create(
        &app.state.db,
        app::auth::users::NewUser {
            email: &Email::parse(email).unwrap(),
            display_name: &DisplayName::parse(name).unwrap(),
            password_hash: Some(&hash),
            role,
        },
        app.clock.now(),
    )
    .await
    .unwrap()
    .id;
    let c = app.client();
    c.sign_in(email, PASSWORD).await.ok();
    (c, id)
}

/// An OpenAPI document whose every text holds a payload.
fn evil_openapi() -> String {
    serde_json::json!({
        "openapi": "3.0.3",
        "info": { "title": META, "version": IMG, "description": lines() },
        "servers": [{ "url": format!("https://api.evil.test/{SCRIPT}") }],
        "tags": [{ "name": SCRIPT, "description": lines() }],
        "paths": {
            "/things/{id}": {
                "get": {
                    "tags": [SCRIPT],
                    "summary": SCRIPT,
                    "description": lines(),
                    "parameters": [{
                        "name": "id", "in": "path", "required": true,
                        "description": all(), "schema": { "type": "string" },
                    }, {
                        "name": META, "in": "query",
                        "description": all(), "schema": { "type": "string" },
                    }],
                    "responses": {
                        "200": {
                            "description": all(),
                            "content": { "application/json": {
                                "schema": { "$ref": "#/components/schemas/Thing" },
                            } },
                        },
                    },
                },
            },
        },
        "components": { "schemas": { "Thing": {
            "type": "object",
            "description": lines(),
            "properties": { IMG: { "type": "string", "description": all() } },
        } } },
    })
    .to_string()
}

/// A published API by `publisher` whose texts all hold payloads, with a manual plan and an
/// automatic one, and an OpenAPI reference. Returns (api id, manual plan id, automatic
/// plan id).
async fn evil_api(publisher: &Client) -> (String, String, String) {
    let (summary, description) = (all(), lines());
    let api = draft(
        publisher,
        API_SLUG,
        &[
            ("name", META),
            ("version", IMG),
            ("summary", &summary),
            ("description", &description),
        ],
    )
    .await;
    let manual = plan(publisher, &api, &plan_name(), "manual").await;
    let automatic = plan(publisher, &api, "Open ]]>", "automatic").await;
    publisher
        .call(
            "save_plan",
            &[
                ("api_id", &api),
                ("plan_id", &manual),
                ("name", &plan_name()),
                ("description", &lines()),
                ("rate_limit", "10"),
                ("rate_period", "second"),
                ("burst", "5"),
                ("quota", "1000"),
                ("quota_period", "month"),
                ("approval", "manual"),
                ("scopes", "pets:read"),
                ("max_key_lifetime_days", "90"),
            ],
        )
        .await
        .ok();
    publisher
        .call(
            "upload_openapi",
            &[("api_id", &api), ("document", &evil_openapi())],
        )
        .await
        .ok();
    publish(publisher, &api).await;
    (api, manual, automatic)
}

backends!(
    api_texts_stay_text_on_the_catalog_and_publish_pages,
    developer_texts_stay_text_wherever_they_are_shown,
    admin_texts_stay_text_on_the_admin_pages
);

async fn api_texts_stay_text_on_the_catalog_and_publish_pages(app: TestApp) {
    let (publisher, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    evil_api(&publisher).await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;
    let stored = edit_view(&publisher, API_SLUG).await;
    let source = stored["openapi_source"].as_str().unwrap().to_string();
    assert!(source.contains(SCRIPT), "the document is kept as uploaded");
    assert!(stored["operations"].as_u64().unwrap() >= 1, "{stored}");

    check(
        &dev,
        "/catalog",
        Expect::titled("API catalog · Keyport")
            .text(META)
            .text(IMG)
            .text(all()),
    )
    .await;
    check(
        &dev,
        &format!("/catalog/{API_SLUG}"),
        Expect::titled(format!("{META} · Keyport"))
            .text(META)
            .text(IMG)
            .text(all())
            .text(plan_name())
            .text(lines())
            .text(SCRIPT)
            .attr("data-plan", plan_name()),
    )
    .await;
    for who in [&publisher, &admin] {
        check(
            who,
            "/publish",
            Expect::titled("Publish · Keyport").text(META).text(IMG),
        )
        .await;
        check(
            who,
            &format!("/publish/{API_SLUG}"),
            Expect::titled(format!("Edit {META} · Keyport"))
                .text(META)
                .text(plan_name())
                .textarea(lines())
                .textarea(source.clone())
                .attr("value", META)
                .attr("value", IMG)
                .attr("value", all())
                .attr("value", plan_name())
                .attr("data-plan-form", plan_name()),
        )
        .await;
    }
}

async fn developer_texts_stay_text_wherever_they_are_shown(app: TestApp) {
    let (publisher, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let (_, manual, automatic) = evil_api(&publisher).await;
    let (dev, _) = user_named(&app, DEV_EMAIL, META, Role::Developer).await;
    let dev_email = Email::parse(DEV_EMAIL).unwrap().to_string();
    // A session whose browser calls itself something nasty (signed in before MFA is on).
    let agent = all();
    let odd = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(agent.as_str())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = odd
        .post(app.url("/api/sign_in"))
        .header("Accept", "application/json")
        .form(&[("email", dev_email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(signed.status().is_success(), "{}", signed.status());

    dev.enrol_mfa(&app, &dev_email).await;
    let (admin, _, _) = app
        .signed_in_with_mfa("root@example.com", Role::Admin)
        .await;

    // An application with keys (subscribed before the rejection below: after a rejection,
    // the owner's next subscription to the API waits for approval).
    let keyed = subscribed_application(&dev, SCRIPT, &automatic).await;

    // A request the admin rejects, with a reason.
    let (name, description) = (app_name(), lines());
    let rejected = dev
        .call(
            "save_application",
            &[("name", &name), ("description", &description)],
        )
        .await
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    dev.call(
        "subscribe",
        &[("application_id", &rejected), ("plan_id", &manual)],
    )
    .await
    .ok();
    let queue = admin.call("approval_queue", &[]).await.ok().clone();
    let sub_id = queue["items"][0]["id"].as_str().unwrap().to_string();
    admin
        .call(
            "decide_subscription",
            &[
                ("id", &sub_id),
                ("decision", "reject"),
                ("reason", &lines()),
            ],
        )
        .await
        .ok();

    // Keys, revoked by their owner and by an admin, with reasons.
    let mut key_ids = Vec::new();
    for name in [key_name(), format!("{IMG}!")] {
        let issued = dev
            .call(
                "issue_key",
                &[
                    ("application_id", &keyed),
                    ("name", &name),
                    ("environment", "live"),
                    ("expires_in", "30d"),
                    ("scopes", ""),
                ],
            )
            .await;
        key_ids.push(issued.ok()["view"]["id"].as_str().unwrap().to_string());
    }
    dev.call("revoke_key", &[("id", &key_ids[0]), ("reason", &all())])
        .await
        .ok();
    admin
        .call("revoke_key", &[("id", &key_ids[1]), ("reason", META)])
        .await
        .ok();

    let reason = format!("Reason: {}", lines());
    check(
        &dev,
        "/applications",
        Expect::titled("Applications · Keyport")
            .text(app_name())
            .text(lines())
            .text(reason.clone())
            .text(SCRIPT)
            .text(key_name())
            .text(format!("Reason: {}", all()))
            .textarea(lines())
            .attr("data-application", app_name())
            .attr("aria-label", app_name())
            .attr("value", app_name()),
    )
    .await;
    check(
        &dev,
        &format!("/catalog/{API_SLUG}"),
        Expect::titled(format!("{META} · Keyport"))
            .text(app_name())
            .text(reason.clone()),
    )
    .await;
    check(
        &dev,
        &format!("/usage?key={}&range=24h", key_ids[0]),
        Expect::titled("Usage · Keyport")
            .text(format!("Usage of key {}", key_name()))
            .text(SCRIPT),
    )
    .await;
    check(
        &dev,
        &format!("/usage?app={keyed}&range=7d"),
        Expect::titled("Usage · Keyport").text(format!("Usage of {SCRIPT}")),
    )
    .await;
    check(
        &dev,
        "/notifications",
        Expect::titled("Notifications · Keyport")
            .text(format!("Subscription rejected: {META}"))
            .text(lines())
            .text(format!("Key revoked: {IMG}!"))
            .text(META),
    )
    .await;
    check(
        &dev,
        "/dashboard",
        Expect::titled("Dashboard · Keyport")
            .text(format!("Welcome, {META}"))
            .text(dev_email.clone())
            .text(agent.clone())
            .attr("title", agent.clone()),
    )
    .await;
    check(
        &dev,
        "/account/sessions",
        Expect::titled("Sessions · Keyport")
            .text(agent.clone())
            .attr("title", agent.clone()),
    )
    .await;
    check(
        &dev,
        "/account",
        Expect::titled("Your account · Keyport")
            .attr("value", META)
            .attr("value", dev_email.clone()),
    )
    .await;
    check(
        &admin,
        "/approvals?state=all",
        Expect::titled("Approvals · Keyport")
            .text(app_name())
            .text(reason)
            .text(META)
            .attr("data-application", app_name()),
    )
    .await;
    check(
        &admin,
        "/admin/keys",
        Expect::titled("All API keys · Keyport")
            .text(key_name())
            .text(SCRIPT),
    )
    .await;
    check(
        &admin,
        "/admin/users",
        Expect::titled("Users · Keyport")
            .text(META)
            .text(dev_email.clone())
            .attr("data-user", dev_email.clone()),
    )
    .await;
    check(
        &admin,
        "/admin/audit",
        Expect::titled("Audit log · Keyport"),
    )
    .await;
    check(&admin, "/dashboard", Expect::titled("Dashboard · Keyport")).await;
}

async fn admin_texts_stay_text_on_the_admin_pages(app: TestApp) {
    let (admin, admin_id) = user_named(&app, "root@example.com", META, Role::Admin).await;
    admin.enrol_mfa(&app, "root@example.com").await;
    let invited = admin
        .call(
            "create_invitation",
            &[("email", INVITE_EMAIL), ("role", "developer")],
        )
        .await;
    let invite_email = invited.ok()["email"].as_str().unwrap().to_string();
    admin
        .call("create_service_token", &[("name", SCRIPT)])
        .await
        .ok();
    // Domains are checked when an admin saves them; what the page shows must not depend on
    // that check (a database restored from elsewhere, a future import).
    let domains = vec![SCRIPT.to_string(), REST.to_string(), IMG.to_string()];
    app::platform::settings::set_jit(
        &app.state.db,
        app::domain::JitPolicy::Domains,
        &domains,
        &admin_id,
        app.clock.now(),
    )
    .await
    .unwrap();

    check(
        &admin,
        "/admin/settings",
        Expect::titled("Settings · Keyport")
            .text(invite_email.clone())
            .text(SCRIPT)
            .textarea(domains.join("\n")),
    )
    .await;
    check(
        &admin,
        "/admin/users",
        Expect::titled("Users · Keyport").text(META),
    )
    .await;
    check(
        &admin,
        "/admin/audit",
        Expect::titled("Audit log · Keyport"),
    )
    .await;
    check(
        &admin,
        "/dashboard",
        Expect::titled("Dashboard · Keyport").text(format!("Welcome, {META}")),
    )
    .await;
}
