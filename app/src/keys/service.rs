//! Issuing and revoking keys: ownership, the limits the application's plans set (scopes,
//! maximum lifetime), digests, audit without the key.

use super::store::{self, KeyRow, NewKey};
use super::*;
use crate::applications::store::{self as apps, AppRow};
use crate::audit::store::Event;
use crate::auth::service::Ctx;
use crate::auth::CurrentUser;
use crate::domain::{self as d, ApiKey, KeyEnvironment, Role, SubscriptionState};
use crate::error::FormErrors;
use crate::state::{fmt_time, token_digest, AppState};

pub fn view(k: KeyRow, now: i64) -> KeyView {
    let state = if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.is_some_and(|t| t <= now) {
        "expired"
    } else if k.remaining_uses == Some(0) {
        "exhausted"
    } else {
        "active"
    };
    KeyView {
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
        state: state.into(),
        revoke_reason: k.revoke_reason,
    }
}

/// What keys of `app` may carry, from its active subscriptions' plans.
pub async fn policy(state: &AppState, app_id: &str) -> Result<KeyPolicy, AppError> {
    let subs =
        crate::subscriptions::store::of_applications(&state.db, &[app_id.to_string()]).await?;
    policy_of(state, &subs).await
}

/// The policy from subscriptions already loaded (`subs` of one application).
pub async fn policy_of(
    state: &AppState,
    subs: &[crate::subscriptions::store::SubRow],
) -> Result<KeyPolicy, AppError> {
    let mut policy = KeyPolicy {
        scopes: Vec::new(),
        max_lifetime_days: None,
        active_subscriptions: 0,
    };
    for sub in subs.iter().filter(|s| s.state == SubscriptionState::Active) {
        let Some(plan) = crate::catalog::store::find_plan(&state.db, &sub.plan_id).await? else {
            continue;
        };
        policy.active_subscriptions += 1;
        for scope in &plan.scopes {
            if !policy.scopes.contains(scope) {
                policy.scopes.push(scope.clone());
            }
        }
        if let Some(days) = plan.max_key_lifetime_days {
            policy.max_lifetime_days = Some(policy.max_lifetime_days.map_or(days, |m| m.min(days)));
        }
    }
    Ok(policy)
}

pub struct IssueInput {
    pub name: String,
    pub environment: String,
    pub expires_in: String,
    pub scopes: String,
    pub max_uses: String,
    pub ip_allowlist: String,
}

pub struct ParsedIssue {
    name: String,
    environment: KeyEnvironment,
    /// Hours; `None` for no expiry.
    lifetime_hours: Option<i64>,
    scopes: Vec<String>,
    max_uses: Option<i64>,
    ip_allowlist: Vec<String>,
}

pub fn parse_issue(input: &IssueInput) -> Result<ParsedIssue, AppError> {
    let mut e = FormErrors::new();
    let name = e.check("name", d::line(&input.name, "a name for the key", 60));
    let environment = e.check("environment", KeyEnvironment::parse(&input.environment));
    let lifetime = e.check(
        "expires_in",
        EXPIRY_PRESETS
            .iter()
            .find(|(value, ..)| *value == input.expires_in)
            .map(|(_, _, hours)| (*hours > 0).then_some(*hours))
            .ok_or_else(|| "Choose how long the key lives.".to_string()),
    );
    let scopes = e.check("scopes", d::parse_scopes(&input.scopes));
    let max_uses = e.check(
        "max_uses",
        d::optional_count(&input.max_uses, 1, 1_000_000_000),
    );
    let ip_allowlist = e.check("ip_allowlist", d::parse_allowlist(&input.ip_allowlist));
    match (name, environment, lifetime, scopes, max_uses, ip_allowlist) {
        (
            Some(name),
            Some(environment),
            Some(lifetime_hours),
            Some(scopes),
            Some(max_uses),
            Some(ip_allowlist),
        ) if e.is_empty() => Ok(ParsedIssue {
            name,
            environment,
            lifetime_hours,
            scopes,
            max_uses,
            ip_allowlist,
        }),
        _ => Err(e.into_error()),
    }
}

async fn owned_app(ctx: &Ctx, user: &CurrentUser, app_id: &str) -> Result<AppRow, AppError> {
    apps::find_owned(
        &ctx.state.db,
        app_id,
        &crate::subscriptions::service::owner_of(user),
    )
    .await?
    .ok_or(AppError::NotFound)
}

pub async fn issue(
    ctx: &Ctx,
    user: &CurrentUser,
    app_id: &str,
    p: ParsedIssue,
) -> Result<IssuedKey, AppError> {
    let app = owned_app(ctx, user, app_id).await?;
    let policy = policy(&ctx.state, &app.id).await?;
    if policy.active_subscriptions == 0 {
        return Err(AppError::Conflict {
            message: "This application has no active subscription: subscribe it to an API first."
                .into(),
        });
    }
    let mut e = FormErrors::new();
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
        if p.lifetime_hours.is_none_or(|h| h > days * 24) {
            e.add(
                "expires_in",
                format!("Your plan allows keys of at most {days} days."),
            );
        }
    }
    e.finish()?;
    let key = ApiKey::generate(&ctx.state.config.key_prefix, p.environment);
    let expires_at = p.lifetime_hours.map(|h| ctx.now + h * 3_600_000);
    let (prefix, last4) = (key.display_prefix(), key.last4());
    let id = store::insert(
        &ctx.state.db,
        &NewKey {
            application_id: &app.id,
            name: &p.name,
            environment: p.environment.as_str(),
            digest: &token_digest(key.expose()),
            display_prefix: &prefix,
            last4: &last4,
            scopes: &p.scopes,
            expires_at,
            max_uses: p.max_uses,
            ip_allowlist: &p.ip_allowlist,
            created_by: &user.id,
        },
        ctx.now,
    )
    .await?;
    ctx.audit(
        Event::new("key.issue")
            .actor(&user.id, &user.email)
            .target("api_key", &id)
            .details(serde_json::json!({
                "application": app.name, "name": p.name, "key": format!("{prefix}…{last4}"),
                "environment": p.environment.as_str(), "scopes": p.scopes, "expires": expires_at.map(fmt_time),
                "max_uses": p.max_uses, "ip_allowlist": p.ip_allowlist,
            })),
    )
    .await?;
    let row = store::find(&ctx.state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(IssuedKey {
        key: key.expose().to_string(),
        application: app.name,
        view: view(row, ctx.now),
    })
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
    let owner = crate::subscriptions::service::owner_of(user);
    let app = match apps::find_owned(&ctx.state.db, &key.application_id, &owner).await? {
        Some(app) => app,
        None if user.role == Role::Admin => apps::find_any(&ctx.state.db, &key.application_id)
            .await?
            .ok_or(AppError::NotFound)?,
        None => return Err(AppError::NotFound),
    };
    if !store::revoke(&ctx.state.db, &key.id, &user.id, reason, ctx.now).await? {
        return Err(AppError::Conflict {
            message: "This key is revoked already.".into(),
        });
    }
    ctx.audit(
        Event::new("key.revoke")
            .actor(&user.id, &user.email)
            .target("api_key", &key.id)
            .details(serde_json::json!({
                "application": app.name, "name": key.name,
                "key": format!("{}…{}", key.display_prefix, key.last4), "reason": reason,
            })),
    )
    .await?;
    if app.owner_id != user.id {
        crate::notifications::notify(
            &ctx.state,
            &app.owner_id,
            crate::notifications::Notice {
                title: format!("Key revoked: {}", key.name),
                body: format!(
                    "An admin revoked the key {}…{} of {}. Reason: {reason}",
                    key.display_prefix, key.last4, app.name
                ),
                link: Some("/applications".into()),
            },
            ctx.now,
        )
        .await?;
    }
    Ok(())
}
