//! Administration rules: changing a user's role or status (never the last active admin),
//! and recognising the service tokens gateways present.

use super::*;
use crate::auth::users;
use crate::auth::CurrentUser;
use crate::domain::{Email, JitPolicy};
use crate::platform::audit::Event;
use crate::platform::feed;
use crate::platform::session;
use crate::platform::state::{digest_bytes, AppState, Db};
use crate::platform::Ctx;

/// The users as the admin's list shows them; one changed in the last minutes says where
/// the change is in effect (a disabled owner's keys stop on every gateway instance).
pub async fn summaries(db: &Db, rows: Vec<users::UserRow>) -> Result<Vec<UserSummary>, AppError> {
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let mut propagations = feed::recent_propagations(db, feed::Kind::User, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|u| {
            let propagation = propagations.remove(&u.id);
            summary(u, propagation)
        })
        .collect())
}

fn summary(u: users::UserRow, propagation: Option<crate::domain::Propagation>) -> UserSummary {
    UserSummary {
        propagation,
        id: u.id,
        email: u.email,
        display_name: u.display_name,
        role: u.role,
        status: u.status,
        created_at: crate::platform::state::fmt_time(u.created_at),
        last_sign_in_at: u.last_sign_in_at.map(crate::platform::state::fmt_time),
    }
}

async fn target(ctx: &Ctx, user_id: &str) -> Result<users::UserRow, AppError> {
    users::find_by_id(&ctx.state.db, user_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Refuses changes that would leave no active admin.
async fn keep_an_admin(ctx: &Ctx, target: &users::UserRow) -> Result<(), AppError> {
    if target.role == Role::Admin
        && target.status == UserStatus::Active
        && users::count_active_admins(&ctx.state.db).await? <= 1
    {
        return Err(AppError::Conflict {
            message: "This is the last active admin. Make someone else admin first.".into(),
        });
    }
    Ok(())
}

pub async fn set_role(
    ctx: &Ctx,
    admin: &CurrentUser,
    user_id: &str,
    role: Role,
) -> Result<(), AppError> {
    let target = target(ctx, user_id).await?;
    if target.role == role {
        return Ok(());
    }
    if role != Role::Admin {
        keep_an_admin(ctx, &target).await?;
    }
    users::set_role(&ctx.state.db, user_id, role, ctx.now).await?;
    ctx.audit(
        Event::new("user.role_change")
            .actor(&admin.id, &admin.email)
            .target("user", user_id)
            .details(serde_json::json!({ "email": target.email, "from": target.role, "to": role })),
    )
    .await
}

/// Disabling also ends every session of the user.
pub async fn set_status(
    ctx: &Ctx,
    admin: &CurrentUser,
    user_id: &str,
    status: UserStatus,
) -> Result<(), AppError> {
    let target = target(ctx, user_id).await?;
    if target.status == status {
        return Ok(());
    }
    if status == UserStatus::Disabled {
        if target.id == admin.id {
            return Err(AppError::Conflict {
                message: "You cannot disable your own account.".into(),
            });
        }
        keep_an_admin(ctx, &target).await?;
    }
    users::set_status(&ctx.state.db, user_id, status, ctx.now).await?;
    let ended = if status == UserStatus::Disabled {
        session::delete_for_user(&ctx.state.db, user_id, None).await?
    } else {
        0
    };
    let action = match status {
        UserStatus::Disabled => "user.disable",
        UserStatus::Active => "user.enable",
    };
    ctx.audit(
        Event::new(action)
            .actor(&admin.id, &admin.email)
            .target("user", user_id)
            .details(serde_json::json!({ "email": target.email, "sessions_ended": ended })),
    )
    .await
}

/// The id of the live token `token`, if any, from the in-memory view (the verify hot path
/// does no lookup). Its last use is written at most once a minute, in the background.
pub fn authenticate_service_token(state: &AppState, token: &str, now: i64) -> Option<String> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
        return None;
    }
    let entry = state.view.service_token(&digest_bytes(token))?;
    if entry.mark(now) {
        let (db, id) = (state.db.clone(), entry.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store::service_token_used(&db, &id, now).await {
                tracing::warn!(error = ?e, "recording a service token's use failed");
            }
        });
    }
    Some(entry.id.clone())
}

/// Sets who may sign up and who must use a second factor; audited with the values before.
pub async fn update_settings(
    ctx: &Ctx,
    admin: &CurrentUser,
    mode: SignupMode,
    policy: Option<MfaPolicy>,
) -> Result<(), AppError> {
    let before = settings::signup_mode(&ctx.state.db).await?;
    settings::set_signup_mode(&ctx.state.db, mode, &admin.id, ctx.now).await?;
    let policy_before = settings::mfa_policy(&ctx.state.db).await?;
    if let Some(policy) = policy {
        settings::set_mfa_policy(&ctx.state.db, policy, &admin.id, ctx.now).await?;
    }
    ctx.audit(
        Event::new("settings.update")
            .actor(&admin.id, &admin.email)
            .target("setting", "portal")
            .details(serde_json::json!({
                "signup_mode": { "from": before, "to": mode },
                "mfa_policy": { "from": policy_before, "to": policy.unwrap_or(policy_before) },
            })),
    )
    .await
}

/// Invites `email` with `role` (not someone who already has an account); the link carries
/// a one-time token.
pub async fn create_invitation(
    ctx: &Ctx,
    admin: &CurrentUser,
    email: &Email,
    role: Role,
) -> Result<CreatedInvitation, AppError> {
    if crate::auth::users::find_by_email(&ctx.state.db, email)
        .await?
        .is_some()
    {
        return Err(AppError::field(
            "email",
            "This person already has an account.",
        ));
    }
    let (invitation, token) =
        settings::create_invitation(&ctx.state.db, email, role, &admin.id, ctx.now).await?;
    ctx.audit(
        Event::new("invitation.create")
            .actor(&admin.id, &admin.email)
            .target("invitation", &invitation.id)
            .details(serde_json::json!({ "email": invitation.email, "role": role })),
    )
    .await?;
    Ok(CreatedInvitation {
        email: invitation.email,
        link: format!("{}/sign-up?invite={token}", ctx.state.config.base_url()),
    })
}

/// Sets who gets an account at a first sign-in with an identity provider.
pub async fn update_sso(
    ctx: &Ctx,
    admin: &CurrentUser,
    policy: JitPolicy,
    domains: Vec<String>,
) -> Result<(), AppError> {
    let db = &ctx.state.db;
    let before = (
        crate::platform::settings::jit_policy(db).await?,
        crate::platform::settings::jit_domains(db).await?,
    );
    crate::platform::settings::set_jit(db, policy, &domains, &admin.id, ctx.now).await?;
    ctx.audit(
        Event::new("settings.update")
            .actor(&admin.id, &admin.email)
            .target("setting", "oidc_jit")
            .details(serde_json::json!({
                "from": { "policy": before.0, "domains": before.1 },
                "to": { "policy": policy, "domains": domains },
            })),
    )
    .await
}
