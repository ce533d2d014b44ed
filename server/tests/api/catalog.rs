//! Catalog, plans, applications, subscriptions and notifications: publishing, visibility,
//! OpenAPI and Markdown handling, the subscription state machine through the server
//! functions, approval with step-up, BOLA between developers and between publishers, and
//! notification emails through a local SMTP sink.

use crate::backends;
use crate::helpers::{Client, TestApp};
use app::domain::Role;
use std::sync::{Arc, Mutex};

const PETSTORE: &str = "openapi: 3.0.3\ninfo: {title: Pets, version: '1'}\ntags: [{name: pets}]\npaths:\n  /pets:\n    get:\n      tags: [pets]\n      summary: List pets\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}\ncomponents:\n  schemas:\n    Pet:\n      type: object\n      required: [name]\n      properties:\n        name: {type: string}\n";

/// Creates a draft API as `c`; returns its id.
pub(crate) async fn draft(c: &Client, slug: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("name", slug),
        ("slug", slug),
        ("version", "v1"),
        ("summary", "Things, as a service"),
        ("description", "# Hello"),
        ("tags", "pets, store"),
        ("upstream_url", "https://upstream.internal/v1"),
        ("visibility", "public"),
    ];
    for (k, v) in extra {
        form.retain(|(key, _)| key != k);
        form.push((k, v));
    }
    let saved = c.call("save_api", &form).await;
    assert_eq!(saved.ok().as_str(), Some(slug));
    edit_view(c, slug).await["id"].as_str().unwrap().to_string()
}

pub(crate) async fn edit_view(c: &Client, slug: &str) -> serde_json::Value {
    c.call("api_for_edit", &[("slug", slug)]).await.ok().clone()
}

/// Adds a plan; returns its id.
pub(crate) async fn plan(c: &Client, api_id: &str, name: &str, approval: &str) -> String {
    c.call(
        "save_plan",
        &[
            ("api_id", api_id),
            ("name", name),
            ("description", ""),
            ("rate_limit", "10"),
            ("rate_period", "second"),
            ("burst", "5"),
            ("quota", "1000"),
            ("quota_period", "month"),
            ("approval", approval),
            ("scopes", "pets:read pets:write"),
            ("max_key_lifetime_days", "90"),
        ],
    )
    .await
    .ok();
    let plans = edit_view(c, &slug_of(c, api_id).await).await["plans"].clone();
    plans
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn slug_of(c: &Client, api_id: &str) -> String {
    let list = c.call("managed_apis", &[]).await.ok().clone();
    let all = list.as_array().unwrap();
    for a in all {
        let v = edit_view(c, a["slug"].as_str().unwrap()).await;
        if v["id"] == api_id {
            return a["slug"].as_str().unwrap().to_string();
        }
    }
    panic!("no API {api_id}")
}

pub(crate) async fn publish(c: &Client, api_id: &str) {
    c.call(
        "change_lifecycle",
        &[("api_id", api_id), ("lifecycle", "published")],
    )
    .await
    .ok();
}

/// A published API with one plan of `approval`, by a new publisher. Returns (publisher
/// client, api id, plan id).
async fn published_api(app: &TestApp, slug: &str, approval: &str) -> (Client, String, String) {
    let (p, _) = app
        .signed_in(&format!("pub-{slug}@example.com"), Role::Publisher)
        .await;
    let api = draft(&p, slug, &[]).await;
    let plan_id = plan(&p, &api, "Standard", approval).await;
    publish(&p, &api).await;
    (p, api, plan_id)
}

async fn new_application(c: &Client, name: &str) -> String {
    c.call("save_application", &[("name", name), ("description", "")])
        .await
        .ok()
        .as_str()
        .unwrap()
        .to_string()
}

/// A new application of `dev` subscribed to `plan_id`: (application id, subscription id).
async fn subscribed(dev: &Client, name: &str, plan_id: &str) -> (String, String) {
    let app_id = new_application(dev, name).await;
    dev.call(
        "subscribe",
        &[("application_id", &app_id), ("plan_id", plan_id)],
    )
    .await
    .ok();
    let sub_id = subscription_of(dev, &app_id).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (app_id, sub_id)
}

async fn subscription_of(c: &Client, app_id: &str) -> serde_json::Value {
    let apps = c.call("my_applications", &[]).await.ok().clone();
    apps.as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == app_id)
        .unwrap()["subscriptions"][0]
        .clone()
}

backends!(
    publishers_describe_and_publish_apis,
    bad_api_input_gets_field_errors,
    restricted_apis_are_seen_only_by_their_roles,
    markdown_descriptions_are_sanitized,
    openapi_documents_are_validated_and_rendered,
    publishers_manage_only_their_own_apis,
    automatic_plans_start_active_and_one_live_subscription_per_api,
    manual_approval_needs_step_up_and_tells_the_developer,
    rejection_needs_a_reason_the_developer_sees,
    every_transition_through_the_server_functions,
    developers_never_touch_each_others_applications,
    retiring_an_api_ends_its_subscriptions,
    deleting_an_application_cancels_its_subscriptions,
    plan_changes_apply_to_existing_subscriptions_and_are_audited,
    deprecation_needs_a_future_sunset_date,
);

async fn publishers_describe_and_publish_apis(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let api = draft(&p, "pets", &[]).await;

    // A draft is the publisher's alone.
    let empty = dev.call("catalog", &[]).await;
    assert_eq!(empty.ok()["total"], 0);
    assert_eq!(
        dev.call("api_detail", &[("slug", "pets")]).await.status,
        404
    );

    // Publishing needs a plan.
    let refused = p
        .call(
            "change_lifecycle",
            &[("api_id", &api), ("lifecycle", "published")],
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(refused.body["message"].as_str().unwrap().contains("plan"));
    plan(&p, &api, "Free", "automatic").await;
    publish(&p, &api).await;

    let listed = dev.call("catalog", &[]).await.ok().clone();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["apis"][0]["slug"], "pets");
    assert_eq!(
        listed["apis"][0]["tags"],
        serde_json::json!(["pets", "store"])
    );
    for (q, tag, hits) in [
        ("PET", "", 1),
        ("things", "", 1),
        ("", "store", 1),
        ("zebra", "", 0),
        ("", "nope", 0),
        // LIKE wildcards in a search are literal.
        ("%", "", 0),
        ("_", "", 0),
    ] {
        let found = dev
            .call("catalog", &[("q", q), ("tag", tag)])
            .await
            .ok()
            .clone();
        assert_eq!(found["total"], hits, "q={q} tag={tag}");
    }
    let detail = dev
        .call("api_detail", &[("slug", "pets")])
        .await
        .ok()
        .clone();
    assert_eq!(detail["plans"][0]["name"], "Free");
    assert_eq!(
        detail["plans"][0]["scopes"],
        serde_json::json!(["pets:read", "pets:write"])
    );
    assert_eq!(detail["can_manage"], false);
    assert!(
        detail.get("upstream_url").is_none(),
        "the upstream stays internal"
    );

    // A slug is unique.
    let taken = p
        .call(
            "save_api",
            &[
                ("name", "Other"),
                ("slug", "pets"),
                ("version", "1"),
                ("summary", "x"),
                ("description", ""),
                ("tags", ""),
                ("upstream_url", "http://x.internal"),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert!(taken.field("slug")[0].contains("Another API"));
    for action in ["api.create", "plan.create", "api.lifecycle"] {
        assert_eq!(app.audit(action).await.len(), 1, "{action}");
    }
}

async fn bad_api_input_gets_field_errors(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let bad = p
        .call(
            "save_api",
            &[
                ("name", ""),
                ("slug", "Bad Slug"),
                ("version", ""),
                ("summary", ""),
                ("description", ""),
                ("tags", "no spaces allowed"),
                ("upstream_url", "ftp://files.example"),
                ("visibility", "roles"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    for field in [
        "name",
        "slug",
        "version",
        "summary",
        "tags",
        "upstream_url",
        "roles",
    ] {
        assert!(!bad.field(field).is_empty(), "{field}: {}", bad.body);
    }
    let api = draft(&p, "pets", &[]).await;
    let bad_plan = p
        .call(
            "save_plan",
            &[
                ("api_id", &api),
                ("name", ""),
                ("description", ""),
                ("rate_limit", "-1"),
                ("rate_period", "hour"),
                ("burst", "x"),
                ("quota", "0"),
                ("quota_period", "year"),
                ("approval", "sometimes"),
                ("scopes", "Bad Scope"),
                ("max_key_lifetime_days", "99999"),
            ],
        )
        .await;
    assert_eq!(bad_plan.status, 422);
    for field in [
        "name",
        "rate_limit",
        "rate_period",
        "burst",
        "quota",
        "quota_period",
        "approval",
        "scopes",
        "max_key_lifetime_days",
    ] {
        assert!(
            !bad_plan.field(field).is_empty(),
            "{field}: {}",
            bad_plan.body
        );
    }
    assert!(edit_view(&p, "pets").await["plans"]
        .as_array()
        .unwrap()
        .is_empty());
}

async fn restricted_apis_are_seen_only_by_their_roles(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (other_pub, _) = app.signed_in("pub2@example.com", Role::Publisher).await;
    let api = draft(
        &p,
        "internal",
        &[("visibility", "roles"), ("role_publisher", "on")],
    )
    .await;
    plan(&p, &api, "Free", "automatic").await;
    publish(&p, &api).await;
    let hidden = dev.call("catalog", &[]).await.ok().clone();
    assert_eq!(hidden["total"], 0);
    assert_eq!(hidden["tags"], serde_json::json!([]), "not even its tags");
    assert_eq!(
        dev.call("api_detail", &[("slug", "internal")]).await.status,
        404
    );
    assert_eq!(other_pub.call("catalog", &[]).await.ok()["total"], 1);
    other_pub
        .call("api_detail", &[("slug", "internal")])
        .await
        .ok();
    // A developer cannot subscribe to what they cannot see.
    let app_id = new_application(&dev, "Mine").await;
    let plan_id = edit_view(&p, "internal").await["plans"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sub = dev
        .call(
            "subscribe",
            &[("application_id", &app_id), ("plan_id", &plan_id)],
        )
        .await;
    assert_eq!(sub.status, 404);
}

async fn markdown_descriptions_are_sanitized(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let evil = "# Pets\n\n<script>alert('x')</script><img src=x onerror=\"alert(1)\">\n\n[click](javascript:alert(2)) **bold**";
    let api = draft(&p, "pets", &[("description", evil)]).await;
    plan(&p, &api, "Free", "automatic").await;
    publish(&p, &api).await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let detail = dev
        .call("api_detail", &[("slug", "pets")])
        .await
        .ok()
        .clone();
    let html = detail["description_html"].as_str().unwrap();
    assert!(
        html.contains("<h1>Pets</h1>") && html.contains("<strong>bold</strong>"),
        "{html}"
    );
    for bad in ["<script", "onerror", "javascript:"] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    // The page as served holds no script from the description either.
    let page = dev.get("/catalog/pets").await.text().await.unwrap();
    assert!(page.contains("<h1>Pets</h1>"));
    assert!(!page.contains("alert('x')") && !page.contains("onerror=\"alert"));
    // The Markdown source is kept for the editor.
    assert_eq!(edit_view(&p, "pets").await["description"], evil);
}

async fn openapi_documents_are_validated_and_rendered(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&p, "pets", &[]).await;
    let saved = p
        .call(
            "upload_openapi",
            &[("api_id", &api), ("document", PETSTORE)],
        )
        .await;
    assert_eq!(saved.ok(), &serde_json::json!(1));
    plan(&p, &api, "Free", "automatic").await;
    publish(&p, &api).await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let detail = dev
        .call("api_detail", &[("slug", "pets")])
        .await
        .ok()
        .clone();
    let op = &detail["reference"]["groups"][0]["operations"][0];
    assert_eq!(op["method"], "GET");
    assert_eq!(op["path"], "/pets");
    assert_eq!(
        op["responses"][0]["content"][0]["schema"]["ty"],
        "array of Pet"
    );

    let bad = p
        .call(
            "upload_openapi",
            &[("api_id", &api), ("document", "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n  /x:\n    get:\n      parameters: 5\n")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.field("document")[0].contains("paths./x.get.parameters"),
        "{}",
        bad.body
    );
    let syntax = p
        .call(
            "upload_openapi",
            &[("api_id", &api), ("document", "{\"openapi\": ")],
        )
        .await;
    assert!(
        syntax.field("document")[0].contains("line 1"),
        "{}",
        syntax.body
    );
    // A refused document leaves the old one in place.
    assert_eq!(edit_view(&p, "pets").await["operations"], 1);
    assert_eq!(app.audit("api.openapi_upload").await.len(), 1);

    p.call("upload_openapi", &[("api_id", &api), ("document", "")])
        .await
        .ok();
    assert!(edit_view(&p, "pets").await["openapi_source"].is_null());
}

async fn publishers_manage_only_their_own_apis(app: TestApp) {
    let (owner, api, plan_id) = published_api(&app, "pets", "manual").await;
    let (intruder, _) = app.signed_in("intruder@example.com", Role::Publisher).await;
    assert_eq!(
        intruder
            .call("api_for_edit", &[("slug", "pets")])
            .await
            .status,
        404
    );
    let attempts: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "upload_openapi",
            vec![("api_id", &api), ("document", PETSTORE)],
        ),
        (
            "change_lifecycle",
            vec![
                ("api_id", &api),
                ("lifecycle", "deprecated"),
                ("sunset", "2099-01-01"),
            ],
        ),
        ("delete_plan", vec![("plan_id", &plan_id)]),
        ("delete_api", vec![("api_id", &api)]),
        (
            "save_api",
            vec![
                ("id", &api),
                ("name", "Mine now"),
                ("slug", "pets"),
                ("version", "1"),
                ("summary", "x"),
                ("description", ""),
                ("tags", ""),
                ("upstream_url", "http://evil.example"),
                ("visibility", "public"),
            ],
        ),
    ];
    for (name, form) in attempts {
        let answer = intruder.call(name, &form).await;
        assert_eq!(answer.status, 404, "{name}: {}", answer.body);
    }
    assert!(intruder
        .call("managed_apis", &[])
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
    let plan_edit = intruder
        .call(
            "save_plan",
            &[
                ("api_id", &api),
                ("plan_id", &plan_id),
                ("name", "Stolen"),
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
        )
        .await;
    assert_eq!(plan_edit.status, 404);
    let still = edit_view(&owner, "pets").await;
    assert_eq!(still["upstream_url"], "https://upstream.internal/v1");
    assert_eq!(still["plans"][0]["name"], "Standard");
    // Admins manage every API.
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    assert_eq!(
        admin
            .call("managed_apis", &[])
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    admin.call("api_for_edit", &[("slug", "pets")]).await.ok();
}

async fn automatic_plans_start_active_and_one_live_subscription_per_api(app: TestApp) {
    let (_, _, plan_id) = published_api(&app, "pets", "automatic").await;
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
    let (publisher, _, plan_id) = published_api(&app, "pets", "manual").await;
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
    let (_, _, plan_id) = published_api(&app, "pets", "manual").await;
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
    let (publisher, _, plan_id) = published_api(&app, "pets", "manual").await;
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

async fn developers_never_touch_each_others_applications(app: TestApp) {
    let (_, _, plan_id) = published_api(&app, "pets", "automatic").await;
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

async fn retiring_an_api_ends_its_subscriptions(app: TestApp) {
    let (publisher, api, plan_id) = published_api(&app, "pets", "automatic").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (app_id, _) = subscribed(&dev, "Shop", &plan_id).await;
    // Retiring is a step-up action.
    let unenrolled = publisher
        .call(
            "change_lifecycle",
            &[("api_id", &api), ("lifecycle", "retired")],
        )
        .await;
    assert_eq!(unenrolled.error_kind(), "mfa_enrolment_required");
    publisher.enrol_mfa(&app, "pub-pets@example.com").await;
    publisher
        .call(
            "change_lifecycle",
            &[("api_id", &api), ("lifecycle", "retired")],
        )
        .await
        .ok();
    let view = subscription_of(&dev, &app_id).await;
    assert_eq!(view["state"], "ended");
    assert_eq!(view["reason"], "The API was retired.");
    assert_eq!(
        dev.call("list_notifications", &[]).await.ok()["items"][0]["title"],
        "pets was retired"
    );
    assert_eq!(dev.call("catalog", &[]).await.ok()["total"], 0);
    let again = dev
        .call(
            "subscribe",
            &[("application_id", &app_id), ("plan_id", &plan_id)],
        )
        .await;
    assert_eq!(again.status, 404);
    // Retired is final.
    let back = publisher
        .call(
            "change_lifecycle",
            &[("api_id", &api), ("lifecycle", "published")],
        )
        .await;
    assert_eq!(back.status, 409);
    assert_eq!(app.audit("subscription.end").await.len(), 1);
    assert!(app.audit("api.lifecycle").await[0]
        .details
        .contains("\"subscriptions_ended\":1"));
}

async fn deleting_an_application_cancels_its_subscriptions(app: TestApp) {
    let (publisher, _, plan_id) = published_api(&app, "pets", "manual").await;
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

async fn plan_changes_apply_to_existing_subscriptions_and_are_audited(app: TestApp) {
    let (publisher, api, plan_id) = published_api(&app, "pets", "automatic").await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let _ = subscribed(&dev, "Shop", &plan_id).await;
    publisher
        .call(
            "save_plan",
            &[
                ("api_id", &api),
                ("plan_id", &plan_id),
                ("name", "Standard"),
                ("description", "More"),
                ("rate_limit", "50"),
                ("rate_period", "minute"),
                ("burst", "0"),
                ("quota", ""),
                ("quota_period", "day"),
                ("approval", "automatic"),
                ("scopes", "pets:read"),
                ("max_key_lifetime_days", ""),
            ],
        )
        .await
        .ok();
    let detail = dev
        .call("api_detail", &[("slug", "pets")])
        .await
        .ok()
        .clone();
    assert_eq!(detail["plans"][0]["rate_limit"], 50);
    assert_eq!(detail["plans"][0]["rate_period"], "minute");
    assert!(detail["plans"][0]["quota"].is_null());
    assert_eq!(detail["applications"][0]["subscription"]["state"], "active");
    let audit = app.audit("plan.update").await;
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0].details.contains("\"before\""),
        "{}",
        audit[0].details
    );
    assert!(
        audit[0].details.contains("\"rate_limit\":10"),
        "{}",
        audit[0].details
    );
    assert!(
        audit[0].details.contains("\"rate_limit\":50"),
        "{}",
        audit[0].details
    );
    // A plan with subscriptions stays (and so does the last plan of a published API).
    let delete = publisher
        .call("delete_plan", &[("plan_id", &plan_id)])
        .await;
    assert_eq!(delete.status, 409);
}

async fn deprecation_needs_a_future_sunset_date(app: TestApp) {
    let (publisher, api, _) = published_api(&app, "pets", "automatic").await;
    let missing = publisher
        .call(
            "change_lifecycle",
            &[("api_id", &api), ("lifecycle", "deprecated")],
        )
        .await;
    assert!(!missing.field("sunset").is_empty());
    let past = publisher
        .call(
            "change_lifecycle",
            &[
                ("api_id", &api),
                ("lifecycle", "deprecated"),
                ("sunset", "2001-01-01"),
            ],
        )
        .await;
    assert!(past.field("sunset")[0].contains("future"));
    publisher
        .call(
            "change_lifecycle",
            &[
                ("api_id", &api),
                ("lifecycle", "deprecated"),
                ("sunset", "2099-06-30"),
            ],
        )
        .await
        .ok();
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let detail = dev
        .call("api_detail", &[("slug", "pets")])
        .await
        .ok()
        .clone();
    assert_eq!(detail["lifecycle"], "deprecated");
    assert_eq!(detail["sunset"], "2099-06-30");
    let page = dev.get("/catalog/pets").await.text().await.unwrap();
    assert!(page.contains("will be retired on 2099-06-30"));
}

backends!(setup = crate::helpers::with_smtp; notifications_are_emailed_when_smtp_is_configured);

async fn notifications_are_emailed_when_smtp_is_configured(
    (app, inbox): (TestApp, Arc<Mutex<Vec<String>>>),
) {
    let (_, _, plan_id) = published_api(&app, "pets", "manual").await;
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
