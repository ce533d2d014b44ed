//! What the dashboard and "My applications" show, read from the areas below, and deleting an
//! application (which cancels its live subscriptions in the same transaction).

use super::*;
use crate::applications::service as apps;
use crate::auth::CurrentUser;
use crate::platform::audit::{list, Event, Filter};
use crate::platform::session::list_for_user;
use crate::platform::state::{fmt_time, AppState};
use crate::platform::Ctx;
use crate::subscriptions::service::{self as subscriptions, SubRow};

/// The signed-in home of `user`: their sessions (`current` marks this one), recent
/// activity, and what their role looks after.
pub async fn dashboard(
    state: &AppState,
    user: CurrentUser,
    current: Option<&str>,
) -> Result<Dashboard, AppError> {
    let now = state.clock.now();
    let row = crate::auth::users::find_by_id(&state.db, &user.id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let sessions = list_for_user(&state.db, &user.id, now)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: current == Some(s.id.as_str()),
            created_at: fmt_time(s.created_at),
            last_seen_at: fmt_time(s.last_seen_at),
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    let mine = Filter {
        involving_user: Some(user.id.clone()),
        ..Filter::default()
    };
    let activity = list(&state.db, &mine, 10, 0)
        .await?
        .0
        .into_iter()
        .map(Into::into)
        .collect();
    let admin = if user.role == Role::Admin {
        let mut counts: Vec<RoleCount> = Role::ALL
            .iter()
            .map(|r| RoleCount {
                role: *r,
                active: 0,
                disabled: 0,
            })
            .collect();
        for (role, status, n) in crate::auth::users::counts(&state.db).await? {
            if let Some(c) = counts.iter_mut().find(|c| c.role == role) {
                match status {
                    crate::domain::UserStatus::Active => c.active = n,
                    crate::domain::UserStatus::Disabled => c.disabled = n,
                }
            }
        }
        Some(AdminOverview {
            counts,
            signup_mode: crate::platform::settings::signup_mode(&state.db).await?,
            open_invitations: crate::platform::settings::pending_invitations(&state.db, now)
                .await?
                .len(),
            recent: list(&state.db, &Filter::default(), 10, 0)
                .await?
                .0
                .into_iter()
                .map(Into::into)
                .collect(),
        })
    } else {
        None
    };
    let pending_approvals = match user.role {
        Role::Admin => Some(subscriptions::pending_count(&state.db, None).await?),
        Role::Publisher => Some(subscriptions::pending_count(&state.db, Some(&user.id)).await?),
        Role::Developer => None,
    };
    Ok(Dashboard {
        pending_approvals,
        recovery_codes_left: crate::auth::mfa::service::recovery_codes_left(&state.db, &user.id)
            .await?,
        user,
        member_since: fmt_time(row.created_at),
        sessions,
        activity,
        admin,
    })
}

/// Deletes one of the caller's applications, cancelling its live subscriptions in the same
/// transaction. Returns how many were cancelled.
pub async fn delete_application(
    ctx: &Ctx,
    user: &CurrentUser,
    application_id: &str,
) -> Result<usize, AppError> {
    let mut tx = ctx.state.db.begin().await?;
    let app = apps::owned(&mut *tx, user, application_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let live = subscriptions::cancel_for_application(&mut tx, &app.id, user, ctx.now).await?;
    apps::mark_deleted(&mut *tx, &app.id, ctx.now).await?;
    tx.commit().await?;
    ctx.audit(
        Event::new("application.delete")
            .actor(&user.id, &user.email)
            .target("application", &app.id)
            .details(
                serde_json::json!({ "name": app.name, "subscriptions_cancelled": live.len() }),
            ),
    )
    .await?;
    Ok(live.len())
}

/// The caller's applications with every subscription, newest first.
pub async fn my_applications(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<ApplicationView>, AppError> {
    let owned = apps::mine(&state.db, user).await?;
    let ids: Vec<String> = owned.iter().map(|a| a.id.clone()).collect();
    let subs = subscriptions::of_applications(&state.db, &ids).await?;
    let rows = crate::keys::service::of_applications(&state.db, &ids).await?;
    let names: crate::keys::service::ApiNames = subs
        .iter()
        .map(|s| (s.api_id.clone(), s.api_name.clone()))
        .collect();
    let portal = crate::keys::service::portal_policy(&state.db).await?;
    let plans = crate::keys::service::plans_of(state, &subs).await?;
    let now = state.clock.now();
    let keys = crate::keys::service::views(&state.db, rows, now, &names).await?;
    let mut out = Vec::with_capacity(owned.len());
    for a in owned {
        let mine: Vec<SubRow> = subs
            .iter()
            .filter(|s| s.application_id == a.id)
            .cloned()
            .collect();
        out.push(ApplicationView {
            key_policy: crate::keys::service::policy_of(&mine, &plans, &portal),
            subscriptions: mine.into_iter().map(subscriptions::view).collect(),
            keys: keys
                .iter()
                .filter(|(app_id, _)| *app_id == a.id)
                .map(|(_, k)| k.clone())
                .collect(),
            id: a.id,
            name: a.name,
            description: a.description,
            created: fmt_time(a.created_at),
        });
    }
    Ok(out)
}
