//! Deciding from memory: the view follows every write (each mutating server function leaves
//! it equal to a fresh load of the database), decides as the database would (a property
//! test against the statement the view replaced), and two instances on one PostgreSQL
//! database agree within a second.

use crate::backends;
use crate::helpers::{spawn_app_with, Answer, Backend, Client, TestApp};
use app::domain::{Role, SubscriptionState, UserStatus};
use app::keys::verify::{decide, Ask};
use app::platform::view::{self, AppEntry, Facts, KeyEntry, PlanEntry, SubEntry, UserEntry};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

backends!(
    the_view_follows_every_mutating_server_function,
    decisions_from_memory_agree_with_the_database,
    the_reconciliation_finds_what_the_feed_missed
);

/// Server functions that change nothing a decision reads (sessions, MFA, settings of
/// sign-up and SSO, invitations, notifications, documents), or only read.
const NO_DECISION_WRITES: &[&str] = &[
    // Read-only.
    "whoami",
    "signup_info",
    "setup_status",
    "dashboard",
    "mfa_status",
    "list_sessions",
    "list_users",
    "get_settings",
    "list_audit",
    "sign_in_providers",
    "list_sign_in_methods",
    "get_sso_settings",
    "catalog",
    "api_detail",
    "api_operation",
    "managed_apis",
    "api_for_edit",
    "my_applications",
    "approval_queue",
    "list_notifications",
    "unread_notifications",
    "all_keys",
    "get_key_settings",
    "list_service_tokens",
    "key_propagation",
    "gateway_instances",
    "usage_report",
    "api_usage",
    "platform_usage",
    // Sessions, factors and passwords: not read by decisions.
    "sign_in",
    "sign_out",
    "complete_sign_in",
    "start_mfa_enrolment",
    "confirm_mfa_enrolment",
    "disable_mfa",
    "regenerate_recovery_codes",
    "confirm_step_up",
    "end_session",
    "end_other_sessions",
    "change_password",
    "unlink_identity",
    // The zone usage charts are cut in.
    "update_time_zone",
    // Portal settings, invitations, notifications, documents.
    "update_settings",
    "create_invitation",
    "revoke_invitation",
    "update_sso_settings",
    "mark_notifications_read",
    "upload_openapi",
    "upload_openapi_file",
    // A pending sign-up only; confirming it inserts a user as complete_setup does (below).
    "sign_up",
    "confirm_sign_up",
];

/// Calls server functions, and after each checks that this instance's view equals a
/// fresh load of the database.
struct Journey<'a> {
    app: &'a TestApp,
    called: BTreeSet<String>,
}

impl Journey<'_> {
    async fn call(&mut self, c: &Client, name: &str, form: &[(&str, &str)]) -> Value {
        let answer: Answer = c.call(name, form).await;
        let body = answer.ok().clone();
        self.called.insert(name.to_string());
        self.check(name).await;
        body
    }

    /// A new application of `c`, subscribed to `plan_id`.
    async fn subscribed(&mut self, c: &Client, name: &str, plan_id: &str) -> String {
        let id = self
            .call(
                c,
                "save_application",
                &[("name", name), ("description", "")],
            )
            .await
            .as_str()
            .unwrap()
            .to_string();
        self.call(
            c,
            "subscribe",
            &[("application_id", &id), ("plan_id", plan_id)],
        )
        .await;
        id
    }

    async fn check(&self, after: &str) {
        let fresh = view::load(&self.app.state.db).await.unwrap();
        assert!(
            self.app.state.view.same_as(&fresh),
            "after {after}, the view differs from the database"
        );
    }
}

async fn the_view_follows_every_mutating_server_function(app: TestApp) {
    let mut j = Journey {
        app: &app,
        called: BTreeSet::new(),
    };
    let link = keyport::setup_link(&app.state).await.unwrap().unwrap();
    let token = link.split("token=").nth(1).unwrap();
    j.call(
        &app.client(),
        "complete_setup",
        &[
            ("token", token),
            ("display_name", "First"),
            ("email", "first@example.com"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    let (admin, _, _) = app
        .signed_in_with_mfa("admin@example.com", Role::Admin)
        .await;
    let (publisher, _, _) = app
        .signed_in_with_mfa("pub@example.com", Role::Publisher)
        .await;
    let (dev, dev_id, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    j.check("signing in").await;

    let api = |slug: &'static str| {
        [
            ("name", slug),
            ("slug", slug),
            ("version", "1"),
            ("summary", "x"),
            ("description", ""),
            ("tags", ""),
            ("upstream_url", "http://up.internal"),
            ("visibility", "public"),
        ]
    };
    j.call(&publisher, "save_api", &api("pets")).await;
    let api_id = j
        .call(&publisher, "api_for_edit", &[("slug", "pets")])
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let plan = |approval: &str, scopes: &str| -> Vec<(&'static str, String)> {
        vec![
            ("api_id", api_id.clone()),
            ("name", format!("{approval} plan")),
            ("description", String::new()),
            ("rate_limit", "100".into()),
            ("rate_period", "second".into()),
            ("burst", String::new()),
            ("quota", String::new()),
            ("quota_period", "day".into()),
            ("approval", approval.into()),
            ("scopes", scopes.into()),
            ("max_key_lifetime_days", String::new()),
        ]
    };
    let auto = plan("automatic", "pets:read pets:write");
    j.call(&publisher, "save_plan", &pairs(&auto)).await;
    j.call(
        &publisher,
        "save_plan",
        &pairs(&plan("manual", "pets:read")),
    )
    .await;
    let plans = j
        .call(&publisher, "api_for_edit", &[("slug", "pets")])
        .await["plans"]
        .clone();
    let plan_id = |approval: &str| {
        plans
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["approval"] == approval)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (auto_id, manual_id) = (plan_id("automatic"), plan_id("manual"));
    j.call(
        &publisher,
        "change_lifecycle",
        &[("api_id", &api_id), ("lifecycle", "published")],
    )
    .await;

    // A plan change (scopes narrowed) and an API renamed (slug).
    let mut narrowed = auto.clone();
    narrowed.push(("plan_id", auto_id.clone()));
    for (k, v) in narrowed.iter_mut() {
        if *k == "scopes" {
            *v = "pets:read".into();
        }
    }
    j.call(&publisher, "save_plan", &pairs(&narrowed)).await;
    let mut renamed: Vec<(&str, &str)> = api("pets").to_vec();
    renamed.retain(|(k, _)| *k != "slug");
    renamed.push(("slug", "pets-v2"));
    renamed.push(("id", &api_id));
    j.call(&publisher, "save_api", &renamed).await;

    // Applications, subscriptions (automatic, and manual with every decision), keys.
    let shop = j.subscribed(&dev, "Shop", &auto_id).await;
    j.call(
        &dev,
        "save_application",
        &[("id", &shop), ("name", "Shop 2"), ("description", "")],
    )
    .await;
    let key = j
        .call(
            &dev,
            "issue_key",
            &[
                ("application_id", &shop),
                ("name", "CI"),
                ("environment", "live"),
                ("expires_in", "1d"),
                ("scopes", "pets:read"),
            ],
        )
        .await;
    let key_id = key["view"]["id"].as_str().unwrap().to_string();
    let rotated = j
        .call(&dev, "rotate_key", &[("id", &key_id), ("grace", "1h")])
        .await;
    let new_key = rotated["key"].as_str().unwrap().to_string();
    j.call(&dev, "revoke_key", &[("id", &key_id), ("reason", "done")])
        .await;

    let lab = j.subscribed(&dev, "Lab", &manual_id).await;
    let sub_id = crate::helpers::subscription_of(&dev, &lab).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for decision in ["approve", "suspend", "resume"] {
        j.call(
            &publisher,
            "decide_subscription",
            &[
                ("id", &sub_id),
                ("decision", decision),
                ("reason", "checking"),
            ],
        )
        .await;
    }
    j.call(&dev, "cancel_subscription", &[("id", &sub_id)])
        .await;

    // Users, settings, service tokens, a leak report.
    for (status, role) in [("disabled", "publisher"), ("active", "developer")] {
        j.call(
            &admin,
            "set_user_status",
            &[("user_id", &dev_id), ("status", status)],
        )
        .await;
        j.call(
            &admin,
            "set_user_role",
            &[("user_id", &dev_id), ("role", role)],
        )
        .await;
    }
    // (The developer's sessions ended when disabled; the publisher edits their own.)
    j.call(
        &publisher,
        "update_profile",
        &[
            ("display_name", "Pub"),
            ("email", "publisher@example.com"),
            ("current_password", crate::helpers::PASSWORD),
        ],
    )
    .await;
    j.call(
        &admin,
        "update_key_settings",
        &[
            ("max_lifetime_days", "30"),
            ("rotation_days", "60"),
            ("reminder_days", "7"),
            ("leak_action", "revoke"),
        ],
    )
    .await;
    let created = j
        .call(&admin, "create_service_token", &[("name", "edge")])
        .await;
    let service = created["token"].as_str().unwrap().to_string();
    let finding = json!([{ "token": new_key, "type": "keyport_api_key", "url": "https://github.com/o/r", "source": "content" }]);
    let res = reqwest::Client::new()
        .post(app.url("/v1/leaks"))
        .bearer_auth(&service)
        .json(&finding)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    j.check("a leak report").await;
    let tokens = j.call(&admin, "list_service_tokens", &[]).await;
    let token_id = tokens[0]["id"].as_str().unwrap().to_string();
    j.call(&admin, "revoke_service_token", &[("id", &token_id)])
        .await;

    // Bulk revocation, deletions.
    let (dev, _, _) = app
        .signed_in_with_mfa("dev2@example.com", Role::Developer)
        .await;
    let tools = j.subscribed(&dev, "Tools", &auto_id).await;
    for _ in 0..3 {
        j.call(
            &dev,
            "issue_key",
            &[
                ("application_id", &tools),
                ("name", "bulk"),
                ("environment", "test"),
                ("expires_in", "1d"),
                ("scopes", ""),
            ],
        )
        .await;
    }
    j.call(
        &dev,
        "revoke_application_keys",
        &[("application_id", &tools), ("reason", "all")],
    )
    .await;
    j.call(&dev, "delete_application", &[("id", &tools)]).await;
    let mut spare = auto.clone();
    spare[1].1 = "Spare".into();
    j.call(&publisher, "save_plan", &pairs(&spare)).await;
    let plans = j
        .call(&publisher, "api_for_edit", &[("slug", "pets-v2")])
        .await["plans"]
        .clone();
    let spare_id = plans
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Spare")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    j.call(&publisher, "delete_plan", &[("plan_id", &spare_id)])
        .await;
    j.call(&publisher, "save_api", &api("draft")).await;
    let draft = j
        .call(&publisher, "api_for_edit", &[("slug", "draft")])
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    j.call(&publisher, "delete_api", &[("api_id", &draft)])
        .await;

    // Every server function is either called above or listed as writing nothing a
    // decision reads: a new one must be placed.
    let unplaced: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/"))
        .filter(|name| !j.called.contains(*name) && !NO_DECISION_WRITES.contains(name))
        .collect();
    assert!(
        unplaced.is_empty(),
        "call these in this journey or list them in NO_DECISION_WRITES: {unplaced:?}"
    );
}

/// The statement the view replaced, as the reference: it reads the key, its application,
/// the owner, and the application's subscription to the API (the live one if any, else the
/// latest) with its plan, straight from the database.
async fn reference_facts(db: &app::platform::state::Db, digest: &str, api: &str) -> Option<Facts> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        application_id: String,
        environment: String,
        scopes: String,
        api_ids: String,
        expires_at: Option<i64>,
        revoked_at: Option<i64>,
        ip_allowlist: String,
        max_uses: Option<i64>,
        rate_limit: Option<i64>,
        rate_period: Option<String>,
        rotated_at: Option<i64>,
        application: String,
        owner_id: Option<String>,
        owner: Option<String>,
        owner_status: Option<String>,
        sub_id: Option<String>,
        sub_api_id: Option<String>,
        sub_state: Option<String>,
        plan_id: Option<String>,
        plan_scopes: Option<String>,
        plan_rate: Option<i64>,
        plan_period: Option<String>,
        plan_burst: Option<i64>,
        plan_quota: Option<i64>,
        plan_quota_period: Option<String>,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT k.id, k.application_id, k.environment, k.scopes, k.api_ids, k.expires_at, k.revoked_at, \
         k.ip_allowlist, k.max_uses, k.rate_limit, k.rate_period, k.rotated_at, ap.name AS application, \
         CASE WHEN ap.owner_kind = 'user' THEN ap.owner_id END AS owner_id, \
         u.email AS owner, u.status AS owner_status, \
         s.id AS sub_id, s.api_id AS sub_api_id, s.state AS sub_state, s.plan_id, p.scopes AS plan_scopes, \
         p.rate_limit AS plan_rate, p.rate_period AS plan_period, p.burst AS plan_burst, \
         p.quota AS plan_quota, p.quota_period AS plan_quota_period \
         FROM api_keys k JOIN applications ap ON ap.id = k.application_id \
         LEFT JOIN users u ON ap.owner_kind = 'user' AND u.id = ap.owner_id \
         LEFT JOIN subscriptions s ON s.id = (SELECT s2.id FROM subscriptions s2 \
           JOIN apis a ON a.id = s2.api_id WHERE s2.application_id = k.application_id AND a.slug = $2 \
           ORDER BY CASE WHEN s2.state IN ('pending', 'active', 'suspended') THEN 0 ELSE 1 END, \
           s2.updated_at DESC, s2.id DESC LIMIT 1) \
         LEFT JOIN plans p ON p.id = s.plan_id \
         WHERE k.digest = $1",
    )
    .bind(digest)
    .bind(api)
    .fetch_optional(db)
    .await
    .unwrap()?;
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    Some(Facts {
        key: Arc::new(KeyEntry {
            id: row.id.into(),
            application_id: row.application_id.into(),
            environment: ["live", "test"]
                .into_iter()
                .find(|e| *e == row.environment)
                .unwrap(),
            scopes: words(&row.scopes).into(),
            api_ids: words(&row.api_ids).into(),
            ip_allowlist: row
                .ip_allowlist
                .split_whitespace()
                .filter_map(|c| app::domain::Cidr::parse(c).ok())
                .collect(),
            expires_at: row.expires_at,
            revoked: row.revoked_at.is_some(),
            limited: row.max_uses.is_some(),
            rotated: row.rotated_at.is_some(),
            rate: row
                .rate_limit
                .zip(row.rate_period.map(|p| match p.as_str() {
                    "minute" => "minute",
                    "second" => "second",
                    other => panic!("a rate period of {other}"),
                })),
        }),
        application: Arc::new(AppEntry {
            name: row.application,
            owner_user: row.owner_id,
        }),
        owner: row.owner.zip(row.owner_status).map(|(email, status)| {
            Arc::new(UserEntry {
                email,
                status: status.parse().unwrap(),
            })
        }),
        subscription: row.sub_state.map(|state| {
            (
                Arc::new(SubEntry {
                    id: row.sub_id.unwrap().into(),
                    api_id: row.sub_api_id.unwrap(),
                    state: state.parse().unwrap(),
                    plan_id: row.plan_id.unwrap(),
                }),
                row.plan_scopes.map(|s| {
                    Arc::new(PlanEntry {
                        scopes: words(&s),
                        rate: row.plan_rate.map(|limit| app::platform::limits::Rate {
                            limit: limit as u32,
                            period_ms: view::period_ms(row.plan_period.as_deref().unwrap_or("")),
                            burst: row.plan_burst.unwrap_or(0) as u32,
                        }),
                        quota: row.plan_quota.zip(
                            row.plan_quota_period
                                .as_deref()
                                .and_then(|p| p.parse().ok()),
                        ),
                    })
                }),
            )
        }),
    })
}

/// Random states written straight to the database (then applied from the feed), each
/// decided for every key, API, scope and address both ways.
async fn decisions_from_memory_agree_with_the_database(app: TestApp) {
    let db = &app.state.db;
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    const SCOPES: &[&str] = &["a:read", "a:write", "b"];
    let pick = |rng: &mut rand::rngs::StdRng| -> String {
        SCOPES
            .iter()
            .filter(|_| rng.gen_bool(0.5))
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut keys: Vec<String> = Vec::new();
    let mut at: i64 = 1_000;
    for round in 0..6 {
        let tag = format!("r{round}");
        // Users, some disabled; applications, one owned by a user who does not exist.
        let mut users = Vec::new();
        for u in 0..3 {
            let id = format!("{tag}-u{u}");
            let status = if rng.gen_bool(0.3) {
                UserStatus::Disabled
            } else {
                UserStatus::Active
            };
            sqlx::query("INSERT INTO users (id, email, display_name, role, status, created_at, updated_at) VALUES ($1, $2, 'U', 'developer', $3, 0, 0)")
                .bind(&id).bind(format!("{id}@example.com")).bind(status.as_str())
                .execute(db).await.unwrap();
            users.push(id);
        }
        let mut apis = Vec::new();
        let mut plans = Vec::new();
        for a in 0..2 {
            let id = format!("{tag}-api{a}");
            sqlx::query("INSERT INTO apis (id, slug, name, version, summary, description, description_html, upstream_url, visibility, visible_roles, lifecycle, created_at, updated_at) VALUES ($1, $2, 'A', '1', '', '', '', 'http://x', 'public', '', 'published', 0, 0)")
                .bind(&id).bind(format!("{tag}-slug{a}"))
                .execute(db).await.unwrap();
            for p in 0..2 {
                let pid = format!("{id}-p{p}");
                sqlx::query("INSERT INTO plans (id, api_id, name, description, rate_limit, rate_period, burst, quota, quota_period, approval, scopes, created_at, updated_at) VALUES ($1, $2, $3, '', $4, $5, $6, $7, $8, 'automatic', $9, 0, 0)")
                    .bind(&pid).bind(&id).bind(format!("p{p}"))
                    .bind(if rng.gen_bool(0.5) { Some(rng.gen_range(1..100_i64)) } else { None })
                    .bind(["second", "minute"][rng.gen_range(0..2)])
                    .bind(rng.gen_range(0..5_i64))
                    .bind(if rng.gen_bool(0.5) { Some(rng.gen_range(1..10_000_i64)) } else { None })
                    .bind(["day", "month"][rng.gen_range(0..2)])
                    .bind(pick(&mut rng))
                    .execute(db).await.unwrap();
                plans.push((id.clone(), pid));
            }
            apis.push(id);
        }
        for x in 0..3 {
            let app_id = format!("{tag}-app{x}");
            let owner = if x == 2 {
                format!("{tag}-gone")
            } else {
                users[rng.gen_range(0..users.len())].clone()
            };
            sqlx::query("INSERT INTO applications (id, owner_kind, owner_id, name, description, created_at, updated_at) VALUES ($1, 'user', $2, $3, '', 0, 0)")
                .bind(&app_id).bind(&owner).bind(format!("App {x}"))
                .execute(db).await.unwrap();
            // Subscriptions: per API, some ended ones and at most one live one.
            for api in &apis {
                let states = [
                    SubscriptionState::Ended,
                    SubscriptionState::Rejected,
                    SubscriptionState::Cancelled,
                ];
                // One of this API's two plans.
                let plan_of = |rng: &mut rand::rngs::StdRng| {
                    let n = rng.gen_range(0..2);
                    plans
                        .iter()
                        .filter(|(a, _)| a == api)
                        .nth(n)
                        .unwrap()
                        .1
                        .clone()
                };
                let subscription = |id: String, plan: String, state: SubscriptionState, at: i64| {
                    let (app_id, api) = (app_id.clone(), api.clone());
                    async move {
                        sqlx::query("INSERT INTO subscriptions (id, application_id, api_id, plan_id, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6)")
                            .bind(id).bind(app_id).bind(api).bind(plan).bind(state.as_str()).bind(at)
                            .execute(db).await.unwrap();
                    }
                };
                for n in 0..rng.gen_range(0..3) {
                    at += 1;
                    let plan = plan_of(&mut rng);
                    let state = states[rng.gen_range(0..3)];
                    subscription(format!("{app_id}-{api}-old{n}"), plan, state, at).await;
                }
                if rng.gen_bool(0.7) {
                    let live = [
                        SubscriptionState::Active,
                        SubscriptionState::Active,
                        SubscriptionState::Pending,
                        SubscriptionState::Suspended,
                    ];
                    at += 1;
                    let plan = plan_of(&mut rng);
                    let (state, when) = (live[rng.gen_range(0..4)], rng.gen_range(0..at));
                    subscription(format!("{app_id}-{api}-live"), plan, state, when).await;
                }
            }
            for k in 0..3 {
                let key = app::domain::ApiKey::generate("kp", app::domain::KeyEnvironment::Live);
                let allow =
                    ["", "203.0.113.0/24", "2001:db8::/32 198.51.100.7/32"][rng.gen_range(0..3)];
                let api_ids = if rng.gen_bool(0.3) {
                    apis[rng.gen_range(0..2)].clone()
                } else {
                    String::new()
                };
                sqlx::query("INSERT INTO api_keys (id, application_id, name, environment, digest, display_prefix, last4, scopes, expires_at, max_uses, remaining_uses, ip_allowlist, revoked_at, created_at, api_ids) VALUES ($1, $2, 'k', 'live', $3, 'kp_live_', 'abcd', $4, $5, $6, $6, $7, $8, 0, $9)")
                    .bind(format!("{app_id}-k{k}")).bind(&app_id)
                    .bind(app::platform::state::token_digest(key.expose()))
                    .bind(pick(&mut rng))
                    .bind(if rng.gen_bool(0.5) { Some(rng.gen_range(500..1500_i64)) } else { None })
                    .bind(if rng.gen_bool(0.2) { Some(5_i64) } else { None })
                    .bind(allow)
                    .bind(if rng.gen_bool(0.2) { Some(1_i64) } else { None })
                    .bind(api_ids)
                    .execute(db).await.unwrap();
                keys.push(key.expose().to_string());
            }
        }
        // Changes after the fact: a user disabled, a plan narrowed, a key revoked, an
        // application handed to another owner, an API renamed, a subscription suspended.
        sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
            .bind(&users[0])
            .execute(db)
            .await
            .unwrap();
        sqlx::query("UPDATE plans SET scopes = $1 WHERE id = $2")
            .bind(pick(&mut rng))
            .bind(&plans[0].1)
            .execute(db)
            .await
            .unwrap();
        sqlx::query("UPDATE api_keys SET revoked_at = 2 WHERE id = $1")
            .bind(format!("{tag}-app0-k0"))
            .execute(db)
            .await
            .unwrap();
        sqlx::query("UPDATE applications SET owner_id = $1 WHERE id = $2")
            .bind(&users[1])
            .bind(format!("{tag}-app1"))
            .execute(db)
            .await
            .unwrap();
        sqlx::query("UPDATE apis SET slug = $1 WHERE id = $2")
            .bind(format!("{tag}-renamed"))
            .bind(&apis[1])
            .execute(db)
            .await
            .unwrap();
        at += 1;
        sqlx::query("UPDATE subscriptions SET state = 'suspended', updated_at = $1 WHERE state = 'active' AND application_id = $2").bind(at).bind(format!("{tag}-app0")).execute(db).await.unwrap();
        app.settle().await;

        let mut slugs: Vec<String> = (0..2).map(|a| format!("{tag}-slug{a}")).collect();
        slugs.push(format!("{tag}-renamed"));
        slugs.push("r0-slug0".into());
        for key in &keys {
            let digest = app::platform::state::digest_bytes(key);
            for api in &slugs {
                for scope in [None, Some("a:read"), Some("b")] {
                    for ip in [None, Some("203.0.113.9"), Some("2001:db8::1")] {
                        let ask = Ask {
                            api: api.clone(),
                            scope: scope.map(str::to_string),
                            ip: ip.map(|s| s.parse().unwrap()),
                            operation: None,
                        };
                        let now = 1_000;
                        let mine = app.state.view.lookup(&digest, api).facts;
                        let theirs = reference_facts(db, &hex(&digest), api).await;
                        assert_eq!(
                            mine.as_ref().map(|f| decide(f, &ask, now)),
                            theirs.as_ref().map(|f| decide(f, &ask, now)),
                            "seed {seed}: {ask:?}"
                        );
                        assert_eq!(mine, theirs, "seed {seed}: the facts for {api}");
                    }
                }
            }
        }
    }
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, x)| (*k, x.as_str())).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Two instances on one PostgreSQL database: what one writes, the other decides on
/// within a second (it hears the change through NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_agree_within_a_second() {
    let a = crate::helpers::spawn_app(Backend::Postgres).await;
    let url = a.state.config.database_url.clone();
    let b = spawn_app_with(Backend::Postgres, |c| c.database_url = url).await;
    a.follow_feed();
    b.follow_feed();
    let token = a.service_token("edge").await;
    let (dev, _, app_id) = crate::helpers::subscribed_developer(&a, "dev@example.com").await;
    let until = |instance: &'static str, want: &'static str, started: Instant| {
        move |code: &str| {
            let waited = started.elapsed();
            assert!(
                waited < Duration::from_secs(1) || code == want,
                "{instance} still answers {code} after {waited:?}"
            );
            code == want
        }
    };
    let issued = crate::helpers::issue_key(&dev, &app_id, "1d", "")
        .await
        .ok()
        .clone();
    let key = issued["key"].as_str().unwrap().to_string();
    let key_id = issued["view"]["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let done = until("B", "VALID", started);
    while !done(&b.decision(&token, &key, "api-dev").await) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let accepted_after = started.elapsed();
    dev.call("revoke_key", &[("id", &key_id), ("reason", "test")])
        .await
        .ok();
    let started = Instant::now();
    let done = until("B", "REVOKED", started);
    while !done(&b.decision(&token, &key, "api-dev").await) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused_after = started.elapsed();
    eprintln!("issued → accepted by B after {accepted_after:?}; revoked → refused by B after {refused_after:?}");
    assert_eq!(a.decision(&token, &key, "api-dev").await, "REVOKED");

    // The key's list says where the revocation is in effect, once both instances have
    // reported (heartbeats come every second).
    let started = Instant::now();
    let sentence = loop {
        let apps = dev.call("my_applications", &[]).await.ok().clone();
        let shown = apps[0]["keys"][0]["propagation"].clone();
        if shown["instances"] == 2 && shown["applied"] == 2 {
            break app::domain::Propagation {
                instances: 2,
                applied: 2,
                after_ms: shown["after_ms"].as_i64(),
            }
            .sentence();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        sentence.starts_with("In effect on 2 of 2 gateway instances after "),
        "{sentence}"
    );
    let (admin, _, _) = a.signed_in_with_mfa("admin@example.com", Role::Admin).await;
    let instances = admin.call("gateway_instances", &[]).await.ok().clone();
    let running: Vec<&Value> = instances
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["running"] == true)
        .collect();
    assert_eq!(running.len(), 2, "{instances}");

    // A suspension and a disabled owner reach B within a second too, and the admin's pages
    // say where they are in effect.
    let issued = crate::helpers::issue_key(&dev, &app_id, "1d", "")
        .await
        .ok()
        .clone();
    let key = issued["key"].as_str().unwrap().to_string();
    let started = Instant::now();
    let done = until("B", "VALID", started);
    while !done(&b.decision(&token, &key, "api-dev").await) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let queue = admin
        .call("approval_queue", &[("state", "all")])
        .await
        .ok()
        .clone();
    let sub_id = queue["items"][0]["id"].as_str().unwrap().to_string();
    admin
        .call(
            "decide_subscription",
            &[
                ("id", &sub_id),
                ("decision", "suspend"),
                ("reason", "checking"),
            ],
        )
        .await
        .ok();
    let started = Instant::now();
    let done = until("B", "SUBSCRIPTION_INACTIVE", started);
    while !done(&b.decision(&token, &key, "api-dev").await) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let shown = |list: Value, pointer: &str| list.pointer(pointer).cloned().unwrap_or(Value::Null);
    let started = Instant::now();
    loop {
        let queue = admin
            .call("approval_queue", &[("state", "all")])
            .await
            .ok()
            .clone();
        let p = shown(queue, "/items/0/propagation");
        if p["applied"] == 2 && p["instances"] == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin
        .call(
            "decide_subscription",
            &[("id", &sub_id), ("decision", "resume")],
        )
        .await
        .ok();
    let dev_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'dev@example.com'")
        .fetch_one(&a.state.db)
        .await
        .unwrap();
    admin
        .call(
            "set_user_status",
            &[("user_id", &dev_id), ("status", "disabled")],
        )
        .await
        .ok();
    let started = Instant::now();
    let done = until("B", "OWNER_DISABLED", started);
    while !done(&b.decision(&token, &key, "api-dev").await) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    loop {
        let users = admin.call("list_users", &[]).await.ok().clone();
        let row = users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "dev@example.com")
            .cloned()
            .unwrap();
        if row["propagation"]["applied"] == 2 && row["propagation"]["instances"] == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{row}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Revocation through A seen by B: p50 and maximum over 100 revocations (README,
/// Measurements); each within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_revocations_reach_the_other_instance() {
    let a = crate::helpers::spawn_app(Backend::Postgres).await;
    let url = a.state.config.database_url.clone();
    let b = spawn_app_with(Backend::Postgres, |c| c.database_url = url).await;
    a.follow_feed();
    b.follow_feed();
    let token = a.service_token("edge").await;
    b.settle().await;
    let (dev, _, app_id) = crate::helpers::subscribed_developer(&a, "dev@example.com").await;
    let mut waits = Vec::new();
    for _ in 0..100 {
        let issued = crate::helpers::issue_key(&dev, &app_id, "1d", "")
            .await
            .ok()
            .clone();
        let key = issued["key"].as_str().unwrap().to_string();
        let id = issued["view"]["id"].as_str().unwrap().to_string();
        while b.decision(&token, &key, "api-dev").await != "VALID" {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        dev.call("revoke_key", &[("id", &id), ("reason", "measure")])
            .await
            .ok();
        let started = Instant::now();
        while b.decision(&token, &key, "api-dev").await != "REVOKED" {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "B still takes the key"
            );
        }
        waits.push(started.elapsed());
    }
    waits.sort();
    eprintln!(
        "revoked through A, refused by B after: p50 {:?}, max {:?} (100 revocations)",
        waits[49], waits[99]
    );
}

/// Two instances on one PostgreSQL database never pass more than a key's uses or a plan's
/// quota between them: random limits, parallel requests split over both. Each leases
/// blocks of the quota; once both gave back what they did not use, the rest of the quota
/// passes, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_overspend_uses_or_quotas() {
    let a = crate::helpers::spawn_app(Backend::Postgres).await;
    let url = a.state.config.database_url.clone();
    let b = spawn_app_with(Backend::Postgres, |c| c.database_url = url).await;
    a.follow_feed();
    b.follow_feed();
    let token = a.service_token("edge").await;
    b.settle().await;
    let (p, _) = a.signed_in("pub@example.com", Role::Publisher).await;
    let plan_id = crate::helpers::published_api(&p, "metered", "").await;
    let api_id = p.call("api_for_edit", &[("slug", "metered")]).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (dev, _, _) = a
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = crate::helpers::subscribed_application(&dev, "Shop", &plan_id).await;
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for round in 0..3 {
        // A quota of what today used so far plus 10 to 40 more.
        let used_before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(used), 0) FROM quota_usage")
            .fetch_one(&a.state.db)
            .await
            .unwrap();
        let left: i64 = rng.gen_range(10..40);
        let quota = (used_before + left).to_string();
        crate::helpers::set_plan_limits(&p, (&api_id, &plan_id), ("", "second"), (&quota, "day"))
            .await;
        let uses: i64 = rng.gen_range(5..30);
        let key = dev
            .call(
                "issue_key",
                &[
                    ("application_id", app_id.as_str()),
                    ("name", "limited"),
                    ("environment", "live"),
                    ("expires_in", "1d"),
                    ("scopes", ""),
                    ("max_uses", &uses.to_string()),
                ],
            )
            .await
            .ok()["key"]
            .as_str()
            .unwrap()
            .to_string();
        let free = crate::helpers::issue_key(&dev, &app_id, "1d", "")
            .await
            .ok()["key"]
            .as_str()
            .unwrap()
            .to_string();
        // Both instances know both keys before the burst.
        for instance in [&a, &b] {
            instance.settle().await;
        }
        let fire = |key: String, n: usize| {
            let urls = [a.url("/v1/keys/verify"), b.url("/v1/keys/verify")];
            let token = token.clone();
            async move {
                let http = reqwest::Client::new();
                let calls = (0..n).map(|i| {
                    let (http, url, token, key) = (
                        http.clone(),
                        urls[i % 2].clone(),
                        token.clone(),
                        key.clone(),
                    );
                    tokio::spawn(async move {
                        let res = http
                            .post(url)
                            .bearer_auth(token)
                            .json(&json!({ "key": key, "api": "metered" }))
                            .send()
                            .await
                            .unwrap();
                        res.json::<Value>().await.unwrap()["code"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                });
                let mut codes = Vec::new();
                for call in calls.collect::<Vec<_>>() {
                    codes.push(call.await.unwrap());
                }
                codes
            }
        };
        let release = || async {
            for instance in [&a, &b] {
                instance
                    .state
                    .quotas
                    .release(&instance.state.db)
                    .await
                    .unwrap();
            }
        };
        let codes = fire(key, (uses as usize) * 3).await;
        let valid = codes.iter().filter(|c| *c == "VALID").count() as i64;
        assert!(
            valid <= uses.min(left),
            "seed {seed}, round {round}: {uses} uses, {left} of the quota left: {codes:?}"
        );
        assert!(codes
            .iter()
            .all(|c| c == "VALID" || c == "EXHAUSTED" || c == "QUOTA_EXCEEDED"));
        if valid < uses {
            assert!(
                codes.iter().any(|c| c == "QUOTA_EXCEEDED"),
                "seed {seed}, round {round}: uses left, so the quota refused: {codes:?}"
            );
        }
        // What an instance leased and did not use goes back (as when it is idle or stops):
        // then the rest of the quota passes, and no more.
        release().await;
        let mut passed = valid;
        loop {
            let codes = fire(free.clone(), (left - passed) as usize + 25).await;
            let valid = codes.iter().filter(|c| *c == "VALID").count() as i64;
            assert!(codes.iter().all(|c| c == "VALID" || c == "QUOTA_EXCEEDED"));
            release().await;
            if valid == 0 {
                break;
            }
            passed += valid;
            assert!(
                passed <= left,
                "seed {seed}, round {round}: {passed} passed of {left}"
            );
        }
        assert_eq!(
            passed, left,
            "seed {seed}, round {round}: the whole quota, and no more"
        );
        let used: i64 = sqlx::query_scalar("SELECT MAX(used) FROM quota_usage")
            .fetch_one(&a.state.db)
            .await
            .unwrap();
        assert_eq!(used.to_string(), quota, "nothing leased is left out");
    }
}

/// A change that reached the database around the feed (its change record removed in the
/// same transaction) is found by the reconciliation, which runs on a thread of its own
/// (not on the threads that answer calls) and leaves the view equal to the database.
async fn the_reconciliation_finds_what_the_feed_missed(app: TestApp) {
    let token = app.service_token("edge").await;
    let (_, _, _, key, key_id) = crate::helpers::metered_key(&app, "dev@example.com", "").await;
    let code = |key: String| {
        let (app, token) = (&app, token.clone());
        async move {
            let body = json!({ "key": key, "api": "api-dev" });
            app.verify(&token, body).await.1["code"].clone()
        }
    };
    assert_eq!(code(key.clone()).await, "VALID");
    let mut tx = app.state.db.begin().await.unwrap();
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
        .bind(app.clock.now())
        .bind(&key_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM changes WHERE entity_id = $1")
        .bind(&key_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.settle().await;
    assert_eq!(
        code(key.clone()).await,
        "VALID",
        "the feed did not carry it"
    );

    keyport::feed::spawn_reconciler(&app.state, Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    while code(key.clone()).await != "REVOKED" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not reconciled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fresh = view::load(&app.state.db).await.unwrap();
    assert!(app.state.view.same_as(&fresh));
}
