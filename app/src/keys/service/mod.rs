//! Issuing and revoking keys: ownership, the limits the application's plans set (scopes,
//! maximum lifetime), digests, audit without the key.

pub mod leaks;
pub mod lifecycle;

pub use super::store::KeyRow;
use super::store::{self, NewKey};
use super::*;
use crate::applications::service::{self as apps, AppRow};
use crate::auth::CurrentUser;
use crate::domain::{ApiKey, KeyEnvironment, RatePeriod, Role, SubscriptionState};
use crate::error::FormErrors;
use crate::platform::audit::Event;
use crate::platform::feed;
use crate::platform::state::{fmt_time, new_id, token_digest, AppState, Db};
use crate::platform::Ctx;

/// API id → name, for showing the APIs a key is limited to.
pub type ApiNames = std::collections::HashMap<String, String>;

/// The keys as lists show them, each with its application's id; a key changed in the last
/// minutes says on how many gateway instances the change is in effect.
pub async fn views(
    db: &Db,
    rows: Vec<KeyRow>,
    now: i64,
    names: &ApiNames,
) -> Result<Vec<(String, KeyView)>, AppError> {
    let ids: Vec<String> = rows.iter().map(|k| k.id.clone()).collect();
    let mut propagations = feed::recent_propagations(db, feed::Kind::Key, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|k| {
            let propagation = propagations.remove(&k.id);
            (k.application_id.clone(), view(k, now, names, propagation))
        })
        .collect())
}

fn view(k: KeyRow, now: i64, names: &ApiNames, propagation: Option<Propagation>) -> KeyView {
    let expired = k.expires_at.is_some_and(|t| t <= now);
    let state = if k.revoked_at.is_some() {
        "revoked"
    } else if k.replaced_by.is_some() {
        if expired {
            "rotated"
        } else {
            "grace"
        }
    } else if expired {
        "expired"
    } else if k.remaining_uses == Some(0) {
        "exhausted"
    } else {
        "active"
    };
    let rotation = k.rotated_at.map(|at| RotationView {
        successor: k.successor.clone().unwrap_or_default(),
        rotated: fmt_time(at),
        until: k.expires_at.map(fmt_time),
        uses_since: k.uses_since_rotation,
        last_used: k.last_used_at.map(fmt_time),
    });
    KeyView {
        state: state.into(),
        rotation,
        replaces: k.predecessor.clone(),
        apis: k
            .api_ids
            .iter()
            .map(|id| {
                names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "(removed API)".into())
            })
            .collect(),
        rate: k
            .rate_limit
            .map(|(n, p)| format!("{n} requests {}", p.label())),
        refill: k.refill_period.map(|p| p.label().to_string()),
        flagged: k.flag_reason.clone(),
        application: k.application_name,
        owner: k.owner_email,
        id: k.id,
        name: k.name,
        environment: k.environment,
        prefix: k.display_prefix,
        last4: k.last4,
        scopes: k.scopes,
        created: fmt_time(k.created_at),
        created_by: k.created_by_email,
        expires: k.expires_at.map(fmt_time),
        max_uses: k.max_uses,
        remaining_uses: k.remaining_uses,
        ip_allowlist: k.ip_allowlist,
        last_used: k.last_used_at.map(fmt_time),
        last_used_ip: k.last_used_ip,
        revoke_reason: k.revoke_reason,
        propagation,
    }
}

/// What keys of `app` may carry, from its active subscriptions' plans and the portal policy.
pub async fn policy(state: &AppState, app_id: &str) -> Result<KeyPolicy, AppError> {
    let subs =
        crate::subscriptions::service::of_applications(&state.db, &[app_id.to_string()]).await?;
    let plans = plans_of(state, &subs).await?;
    let portal = store::policy(&state.db).await?;
    Ok(policy_of(&subs, &plans, &portal))
}

/// The plans of `subs`, by id, in one query.
pub async fn plans_of(
    state: &AppState,
    subs: &[crate::subscriptions::service::SubRow],
) -> Result<std::collections::HashMap<String, crate::catalog::service::PlanRow>, AppError> {
    let ids: Vec<String> = subs.iter().map(|s| s.plan_id.clone()).collect();
    crate::catalog::service::plans(&state.db, &ids).await
}

/// The policy from subscriptions and plans already loaded (`subs` of one application).
pub fn policy_of(
    subs: &[crate::subscriptions::service::SubRow],
    plans: &std::collections::HashMap<String, crate::catalog::service::PlanRow>,
    portal: &KeySettings,
) -> KeyPolicy {
    let mut policy = KeyPolicy {
        scopes: Vec::new(),
        max_lifetime_days: portal.max_lifetime_days,
        active_subscriptions: 0,
        apis: Vec::new(),
    };
    for sub in subs.iter().filter(|s| s.state == SubscriptionState::Active) {
        let Some(plan) = plans.get(&sub.plan_id) else {
            continue;
        };
        policy.active_subscriptions += 1;
        policy.apis.push(PolicyApi {
            id: sub.api_id.clone(),
            name: sub.api_name.clone(),
            rate: plan.rate_limit.map(|_| plan.rate_text()),
            per_minute: plan.rate_limit.map(|n| per_minute((n, plan.rate_period))),
        });
        for scope in &plan.scopes {
            if !policy.scopes.contains(scope) {
                policy.scopes.push(scope.clone());
            }
        }
        if let Some(days) = plan.max_key_lifetime_days {
            policy.max_lifetime_days = Some(policy.max_lifetime_days.map_or(days, |m| m.min(days)));
        }
    }
    policy
}

/// Requests per minute, to compare limits of either period.
fn per_minute((n, period): (i64, RatePeriod)) -> i64 {
    match period {
        RatePeriod::Second => n * 60,
        RatePeriod::Minute => n,
    }
}

async fn owned_app(ctx: &Ctx, user: &CurrentUser, app_id: &str) -> Result<AppRow, AppError> {
    apps::owned(&ctx.state.db, user, app_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// The checks an issued key's attributes must pass against the application's policy.
fn check_against(policy: &KeyPolicy, p: &KeyIssue, now: i64) -> Result<(), AppError> {
    let mut e = FormErrors::new();
    let expires_at = p.expiry.at(now);
    let field = match p.expiry {
        Expiry::At(_) => "expires_at",
        _ => "expires_in",
    };
    if expires_at.is_some_and(|t| t <= now) {
        e.add(field, "Choose a time in the future.");
    }
    let unknown: Vec<&str> = p
        .scopes
        .iter()
        .filter(|s| !policy.scopes.contains(s))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        e.add(
            "scopes",
            format!("Your plans do not offer: {}.", unknown.join(", ")),
        );
    }
    if let Some(days) = policy.max_lifetime_days {
        if expires_at.is_none_or(|t| t - now > days * 24 * 3_600_000) {
            e.add(field, format!("Keys may live at most {days} days here."));
        }
    }
    if p.api_ids
        .iter()
        .any(|id| !policy.apis.iter().any(|a| &a.id == id))
    {
        e.add(
            "apis",
            "Choose among the APIs this application has an active subscription to.",
        );
    }
    if let Some(limit) = p.rate_limit {
        let chosen = policy
            .apis
            .iter()
            .filter(|a| p.api_ids.is_empty() || p.api_ids.contains(&a.id));
        for api in chosen {
            if api.per_minute.is_some_and(|plan| per_minute(limit) > plan) {
                e.add(
                    "rate_limit",
                    format!(
                        "A key's limit must be below its plan's: {} allows {}.",
                        api.name,
                        api.rate.clone().unwrap_or_default()
                    ),
                );
                break;
            }
        }
    }
    e.finish()
}

/// Stores a new key with `p`'s attributes (in `db`, a pool or a transaction); the key
/// itself is returned and kept nowhere.
async fn create<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    ctx: &Ctx,
    user: &CurrentUser,
    app_id: &str,
    p: &KeyIssue,
    expires_at: Option<i64>,
    replaces: Option<&str>,
) -> Result<(String, ApiKey), AppError> {
    let key = ApiKey::generate(&ctx.state.config.key_prefix, p.environment);
    let id = new_id();
    store::insert(
        db,
        &id,
        &NewKey {
            application_id: app_id,
            name: &p.name,
            environment: p.environment.as_str(),
            digest: &token_digest(key.expose()),
            display_prefix: &key.display_prefix(),
            last4: &key.last4(),
            scopes: &p.scopes,
            api_ids: &p.api_ids,
            expires_at,
            max_uses: p.max_uses,
            refill_period: p.refill,
            rate_limit: p.rate_limit,
            ip_allowlist: &p.ip_allowlist,
            created_by: &user.id,
            replaces,
        },
        ctx.now,
    )
    .await?;
    Ok((id, key))
}

async fn issued(ctx: &Ctx, app: AppRow, id: &str, key: ApiKey) -> Result<IssuedKey, AppError> {
    let row = store::find(&ctx.state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let names = crate::catalog::service::api_names(&ctx.state.db, &row.api_ids).await?;
    Ok(IssuedKey {
        key: key.expose().to_string(),
        application: app.name,
        view: view(row, ctx.now, &names, None),
    })
}

pub async fn issue(
    ctx: &Ctx,
    user: &CurrentUser,
    app_id: &str,
    p: KeyIssue,
) -> Result<IssuedKey, AppError> {
    let app = owned_app(ctx, user, app_id).await?;
    let policy = policy(&ctx.state, &app.id).await?;
    if policy.active_subscriptions == 0 {
        return Err(AppError::Conflict {
            message: "This application has no active subscription: subscribe it to an API first."
                .into(),
        });
    }
    check_against(&policy, &p, ctx.now)?;
    let expires_at = p.expiry.at(ctx.now);
    let (id, key) = create(&ctx.state.db, ctx, user, &app.id, &p, expires_at, None).await?;
    ctx.audit(
        Event::new("key.issue")
            .actor(&user.id, &user.email)
            .target("api_key", &id)
            .details(serde_json::json!({
                "application": app.name, "name": p.name,
                "key": format!("{}…{}", key.display_prefix(), key.last4()),
                "environment": p.environment.as_str(), "scopes": p.scopes, "apis": p.api_ids,
                "expires": expires_at.map(fmt_time), "max_uses": p.max_uses,
                "refill": p.refill.map(|r| r.as_str()), "ip_allowlist": p.ip_allowlist,
                "rate_limit": p.rate_limit.map(|(n, r)| format!("{n}/{}", r.as_str())),
            })),
    )
    .await?;
    issued(ctx, app, &id, key).await
}

/// A new key with the attributes of `key_id` (one of the caller's); the old one keeps
/// working `grace_ms` longer, never past its own expiry. The new key lives as long as the
/// old one was meant to, within today's policy.
pub async fn rotate(
    ctx: &Ctx,
    user: &CurrentUser,
    key_id: &str,
    grace_ms: i64,
) -> Result<IssuedKey, AppError> {
    let old = store::find(&ctx.state.db, key_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let app = owned_app(ctx, user, &old.application_id).await?;
    let refused = |message: &str| {
        Err(AppError::Conflict {
            message: message.into(),
        })
    };
    if old.revoked_at.is_some() {
        return refused("A revoked key cannot be rotated: issue a new one.");
    }
    if old.replaced_by.is_some() {
        return refused("This key was rotated already: rotate its successor.");
    }
    if old.expires_at.is_some_and(|t| t <= ctx.now) {
        return refused("An expired key cannot be rotated: issue a new one.");
    }
    let policy = policy(&ctx.state, &app.id).await?;
    let max_ms = policy.max_lifetime_days.map(|d| d * 24 * 3_600_000);
    let lifetime = match (old.expires_at.map(|t| t - old.created_at), max_ms) {
        (Some(l), Some(m)) => Some(l.min(m)),
        (l, m) => l.or(m),
    };
    let p = KeyIssue {
        name: old.name.clone(),
        environment: KeyEnvironment::parse(&old.environment).map_err(AppError::internal)?,
        expiry: Expiry::Never,
        // Only what the plans still grant: a scope taken away from a plan is not carried over.
        scopes: old
            .scopes
            .iter()
            .filter(|s| policy.scopes.contains(s))
            .cloned()
            .collect(),
        max_uses: old.max_uses,
        ip_allowlist: old.ip_allowlist.clone(),
        api_ids: old.api_ids.clone(),
        rate_limit: old.rate_limit,
        refill: old.refill_period,
    };
    let expires_at = lifetime.map(|l| ctx.now + l);
    let grace_until = ctx.now + grace_ms;
    let mut tx = ctx.state.db.begin().await?;
    let (id, key) = create(&mut *tx, ctx, user, &app.id, &p, expires_at, Some(&old.id)).await?;
    if !store::mark_rotated(&mut *tx, &old.id, &id, grace_until, ctx.now).await? {
        return refused("This key changed meanwhile; reload and try again.");
    }
    tx.commit().await?;
    ctx.audit(
        Event::new("key.rotate")
            .actor(&user.id, &user.email)
            .target("api_key", &old.id)
            .details(serde_json::json!({
                "application": app.name, "name": old.name, "old": old.masked(),
                "new": format!("{}…{}", key.display_prefix(), key.last4()), "new_id": id,
                "grace_minutes": grace_ms / 60_000,
                "old_valid_until": fmt_time(old.expires_at.map_or(grace_until, |t| t.min(grace_until))),
            })),
    )
    .await?;
    issued(ctx, app, &id, key).await
}

/// The application of `key`, if the caller owns it or is an admin.
async fn app_for_revoke(ctx: &Ctx, user: &CurrentUser, app_id: &str) -> Result<AppRow, AppError> {
    match apps::owned(&ctx.state.db, user, app_id).await? {
        Some(app) => Ok(app),
        None if user.role == Role::Admin => apps::any(&ctx.state.db, app_id)
            .await?
            .ok_or(AppError::NotFound),
        None => Err(AppError::NotFound),
    }
}

/// Tells the owner when someone else (an admin) acted on their keys.
async fn tell_owner(
    ctx: &Ctx,
    user: &CurrentUser,
    app: &AppRow,
    title: String,
    body: String,
) -> Result<(), AppError> {
    if app.owner_id == user.id {
        return Ok(());
    }
    crate::notifications::notify(
        &ctx.state,
        &app.owner_id,
        crate::notifications::Notice {
            title,
            body,
            link: Some("/applications".into()),
        },
        ctx.now,
    )
    .await
}

/// The application's owner revokes their key; an admin may revoke any key (the owner is told).
pub async fn revoke(
    ctx: &Ctx,
    user: &CurrentUser,
    key_id: &str,
    reason: &str,
) -> Result<(), AppError> {
    let key = store::find(&ctx.state.db, key_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let app = app_for_revoke(ctx, user, &key.application_id).await?;
    if !store::revoke(&ctx.state.db, &key.id, Some(&user.id), reason, ctx.now).await? {
        return Err(AppError::Conflict {
            message: "This key is revoked already.".into(),
        });
    }
    ctx.audit(
        Event::new("key.revoke")
            .actor(&user.id, &user.email)
            .target("api_key", &key.id)
            .details(serde_json::json!({
                "application": app.name, "name": key.name, "key": key.masked(), "reason": reason,
            })),
    )
    .await?;
    tell_owner(
        ctx,
        user,
        &app,
        format!("Key revoked: {}", key.name),
        format!(
            "An admin revoked the key {} of {}. Reason: {reason}",
            key.masked(),
            app.name
        ),
    )
    .await
}

/// Revokes every key of the application still in force; how many.
pub async fn revoke_all(
    ctx: &Ctx,
    user: &CurrentUser,
    app_id: &str,
    reason: &str,
) -> Result<usize, AppError> {
    let app = app_for_revoke(ctx, user, app_id).await?;
    let revoked =
        store::revoke_all(&ctx.state.db, &app.id, Some(&user.id), reason, ctx.now).await?;
    ctx.audit(
        Event::new("key.revoke_all")
            .actor(&user.id, &user.email)
            .target("application", &app.id)
            .details(
                serde_json::json!({ "application": app.name, "keys": revoked, "reason": reason }),
            ),
    )
    .await?;
    if !revoked.is_empty() {
        tell_owner(
            ctx,
            user,
            &app,
            format!("All keys of {} revoked", app.name),
            format!(
                "An admin revoked {} key(s) of {}. Reason: {reason}",
                revoked.len(),
                app.name
            ),
        )
        .await?;
    }
    Ok(revoked.len())
}

pub const KEYS_PER_PAGE: i64 = 50;

pub async fn list_all(
    state: &AppState,
    search: Option<&str>,
    key_state: Option<&str>,
    page: i64,
) -> Result<KeysPage, AppError> {
    let page = page.clamp(1, 100_000);
    let (rows, total) = store::list_all(
        &state.db,
        &store::KeyFilter {
            search,
            state: key_state,
            application_id: None,
        },
        state.clock.now(),
        (KEYS_PER_PAGE, (page - 1) * KEYS_PER_PAGE),
    )
    .await?;
    let ids: Vec<String> = rows.iter().flat_map(|k| k.api_ids.clone()).collect();
    let names = crate::catalog::service::api_names(&state.db, &ids).await?;
    Ok(KeysPage {
        items: views(&state.db, rows, state.clock.now(), &names)
            .await?
            .into_iter()
            .map(|(_, k)| k)
            .collect(),
        total,
        page,
        per_page: KEYS_PER_PAGE,
    })
}

/// What subscriptions used of their quotas (see the store); keys by id.
pub use super::store::{find_many, quota_used};

/// The keys of these applications, newest first.
pub async fn of_applications(db: &Db, app_ids: &[String]) -> Result<Vec<KeyRow>, AppError> {
    store::of_applications(db, app_ids).await
}

/// The portal's key policy.
pub use super::store::policy as portal_policy;

/// Replaces the portal's key policy, audited with what it was.
pub async fn save_policy(
    ctx: &Ctx,
    admin: &CurrentUser,
    new: &KeySettings,
) -> Result<(), AppError> {
    let before = store::policy(&ctx.state.db).await?;
    store::save_policy(&ctx.state.db, new, &admin.id, ctx.now).await?;
    ctx.audit(
        Event::new("settings.update")
            .actor(&admin.id, &admin.email)
            .target("setting", "key_policy")
            .details(serde_json::json!({ "from": before, "to": new })),
    )
    .await
}
