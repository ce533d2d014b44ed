//! The catalog: publishing, visibility, OpenAPI and Markdown handling, publishers managing
//! only their own APIs, plan changes, deprecation and retirement (which ends subscriptions).

use crate::backends;
use crate::helpers::*;
use app::domain::Role;

const PETSTORE: &str = "openapi: 3.0.3\ninfo: {title: Pets, version: '1'}\ntags: [{name: pets}]\npaths:\n  /pets:\n    get:\n      tags: [pets]\n      summary: List pets\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}\ncomponents:\n  schemas:\n    Pet:\n      type: object\n      required: [name]\n      properties:\n        name: {type: string}\n";

backends!(
    publishers_describe_and_publish_apis,
    bad_api_input_gets_field_errors,
    restricted_apis_are_seen_only_by_their_roles,
    markdown_descriptions_are_sanitized,
    openapi_documents_are_validated_and_rendered,
    publishers_manage_only_their_own_apis,
    retiring_an_api_ends_its_subscriptions,
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
    p.call(
        "upload_openapi",
        &[("api_id", &api), ("document", PETSTORE)],
    )
    .await
    .ok();
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
    // Nor any operation of its reference, which the other publisher reads.
    let op = [("slug", "internal"), ("anchor", "op-get-pets")];
    assert_eq!(dev.call("api_operation", &op).await.status, 404);
    assert_eq!(
        other_pub.call("api_operation", &op).await.ok()["path"],
        "/pets"
    );
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
    let reference = dev.reference_in_full("pets").await;
    let op = &reference["groups"][0]["operations"][0];
    assert_eq!(op["method"], "GET");
    let unknown = [("slug", "pets"), ("anchor", "op-get-nothing")];
    assert_eq!(dev.call("api_operation", &unknown).await.status, 404);
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
    let (owner, api, plan_id) = publisher_with_api(&app, "pets", "manual").await;
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

async fn retiring_an_api_ends_its_subscriptions(app: TestApp) {
    let (publisher, api, plan_id) = publisher_with_api(&app, "pets", "automatic").await;
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

async fn plan_changes_apply_to_existing_subscriptions_and_are_audited(app: TestApp) {
    let (publisher, api, plan_id) = publisher_with_api(&app, "pets", "automatic").await;
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
    let (publisher, api, _) = publisher_with_api(&app, "pets", "automatic").await;
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
