//! Subscription rules: who may subscribe, decide, cancel; the state machine applied with a
//! compare-and-set; notifications and audit for every change. Retiring an API ends its live
//! subscriptions in the same transaction as the lifecycle change.

use super::store::{self, Live, SubRow};
use super::*;
use crate::applications::store::{self as apps, Owner};
use crate::applications::ApplicationView;
use crate::auth::CurrentUser;
use crate::catalog::store::{self as catalog, ApiRow, By};
use crate::catalog::{AppChoice, SubscriptionBrief};
use crate::domain::{Approval, Lifecycle, Role, SubscriptionEvent, SubscriptionState};
use crate::notifications::{notify, Notice};
use crate::platform::audit::{record, Event};
use crate::platform::state::{fmt_time, AppState, ClientInfo};
use crate::platform::Ctx;

pub fn owner_of(user: &CurrentUser) -> Owner {
    Owner::User(user.id.clone())
}

fn owns(user: &CurrentUser, sub: &SubRow) -> bool {
    let owner = owner_of(user);
    sub.app_owner_kind == owner.kind() && sub.app_owner_id == owner.id()
}

/// Admins decide on every subscription; publishers on those to APIs they own.
pub fn can_decide(user: &CurrentUser, sub: &SubRow) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Publisher && sub.api_owner_id.as_deref() == Some(user.id.as_str()))
}

pub fn view(s: SubRow) -> SubscriptionView {
    SubscriptionView {
        id: s.id,
        application_id: s.application_id,
        application: s.application_name,
        api_slug: s.api_slug,
        api: s.api_name,
        plan: s.plan_name,
        state: s.state,
        reason: s.reason,
        requested_by: s.requested_by_email,
        requested: fmt_time(s.created_at),
        updated: fmt_time(s.updated_at),
    }
}

/// The caller's applications, each with its most relevant subscription to `api_id` (the
/// live one, else the latest).
pub async fn choices_for(
    state: &AppState,
    user: &CurrentUser,
    api_id: &str,
) -> Result<Vec<AppChoice>, AppError> {
    let owned = apps::list_owned(&state.db, &owner_of(user)).await?;
    let ids: Vec<String> = owned.iter().map(|a| a.id.clone()).collect();
    let subs = store::of_applications(&state.db, &ids).await?;
    Ok(owned
        .into_iter()
        .map(|a| {
            let mine = subs
                .iter()
                .filter(|s| s.application_id == a.id && s.api_id == api_id);
            let best = mine
                .clone()
                .find(|s| s.state.is_live())
                .or_else(|| mine.into_iter().next());
            AppChoice {
                subscription: best.map(|s| SubscriptionBrief {
                    id: s.id.clone(),
                    state: s.state,
                    plan: s.plan_name.clone(),
                    reason: s.reason.clone(),
                }),
                id: a.id,
                name: a.name,
            }
        })
        .collect())
}

/// Subscribes one of the caller's applications to a plan: active at once on automatic
/// plans, pending (and the publisher told) on manual ones.
pub async fn subscribe(
    ctx: &Ctx,
    user: &CurrentUser,
    application_id: &str,
    plan_id: &str,
) -> Result<SubscriptionState, AppError> {
    let db = &ctx.state.db;
    let app = apps::find_owned(db, application_id, &owner_of(user))
        .await?
        .ok_or_else(|| AppError::field("application_id", "Choose one of your applications."))?;
    let plan = catalog::find_plan(db, plan_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let api = catalog::find(db, By::Id(&plan.api_id))
        .await?
        .ok_or(AppError::NotFound)?;
    if !crate::catalog::service::can_see(user, &api) {
        return Err(AppError::NotFound);
    }
    if !api.lifecycle.is_listed() {
        return Err(AppError::Conflict {
            message: format!(
                "{} is {} and takes no new subscriptions.",
                api.name,
                api.lifecycle.label().to_lowercase()
            ),
        });
    }
    // Only the publisher (or an admin) lifts a suspension or overrides a rejection: after
    // either, a new subscription waits for approval whatever the plan says.
    let refused_before = store::was_refused(db, &app.owner_id, &api.id).await?;
    let state = match plan.approval {
        Approval::Automatic if !refused_before => SubscriptionState::Active,
        _ => SubscriptionState::Pending,
    };
    let id = store::insert(db, &app.id, &api.id, &plan.id, state, &user.id, ctx.now)
        .await?
        .ok_or_else(|| {
            AppError::field(
                "application_id",
                format!(
                    "{} already has a subscription to {}. Cancel it first to change plans.",
                    app.name, api.name
                ),
            )
        })?;
    ctx.audit(
        Event::new("subscription.request")
            .actor(&user.id, &user.email)
            .target("subscription", &id)
            .details(serde_json::json!({
                "application": app.name, "api": api.slug, "plan": plan.name, "state": state,
                "refused_before": refused_before,
            })),
    )
    .await?;
    if state == SubscriptionState::Pending {
        for reviewer in reviewers(&ctx.state, &api).await? {
            notify(
                &ctx.state,
                &reviewer,
                Notice {
                    title: format!("Approval needed: {} → {}", app.name, api.name),
                    body: format!(
                        "{} asks for the {} plan of {} for the application {}.{}",
                        user.email,
                        plan.name,
                        api.name,
                        app.name,
                        if refused_before {
                            " An earlier subscription of theirs to this API was rejected or suspended, so this one waits for you."
                        } else {
                            ""
                        }
                    ),
                    link: Some("/approvals".into()),
                },
                ctx.now,
            )
            .await?;
        }
    }
    Ok(state)
}

/// Who is told about a new request: the API's publisher, or the admins when it has none.
async fn reviewers(state: &AppState, api: &ApiRow) -> Result<Vec<String>, AppError> {
    match &api.owner_id {
        Some(owner) => Ok(vec![owner.clone()]),
        None => Ok(crate::auth::users::active_admin_ids(&state.db).await?),
    }
}

/// Applies `event` to subscription `id` for `actor`: decisions by the API's publisher or an
/// admin, cancellation by the application's owner. `NotFound` for anyone else.
pub async fn apply(
    ctx: &Ctx,
    actor: &CurrentUser,
    id: &str,
    event: SubscriptionEvent,
    reason: Option<&str>,
) -> Result<SubscriptionState, AppError> {
    let sub = store::find(&ctx.state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let allowed = match event {
        SubscriptionEvent::Cancel => owns(actor, &sub),
        SubscriptionEvent::End => false,
        _ => can_decide(actor, &sub),
    };
    if !allowed {
        return Err(AppError::NotFound);
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if event.needs_reason() && reason.is_none() {
        return Err(AppError::field(
            "reason",
            "Say why, so the developer knows what to change.",
        ));
    }
    if let Some(r) = reason {
        crate::domain::text(r, 500).map_err(|e| AppError::field("reason", e))?;
    }
    let to = sub
        .state
        .apply(event)
        .map_err(|message| AppError::Conflict { message })?;
    let kept_reason = if event.needs_reason() { reason } else { None };
    if !store::transition(
        &ctx.state.db,
        &sub.id,
        sub.state,
        to,
        kept_reason,
        Some(&actor.id),
        ctx.now,
    )
    .await?
    {
        return Err(AppError::Conflict {
            message: "This subscription changed meanwhile; reload to see its state.".into(),
        });
    }
    ctx.audit(
        Event::new(audit_action(event))
            .actor(&actor.id, &actor.email)
            .target("subscription", &sub.id)
            .details(serde_json::json!({
                "application": sub.application_name, "api": sub.api_slug, "plan": sub.plan_name,
                "from": sub.state, "to": to, "reason": kept_reason,
            })),
    )
    .await?;
    if event != SubscriptionEvent::Cancel {
        tell_owner(&ctx.state, &sub, event, kept_reason, ctx.now).await?;
    }
    Ok(to)
}

fn audit_action(event: SubscriptionEvent) -> &'static str {
    match event {
        SubscriptionEvent::Approve => "subscription.approve",
        SubscriptionEvent::Reject => "subscription.reject",
        SubscriptionEvent::Suspend => "subscription.suspend",
        SubscriptionEvent::Resume => "subscription.resume",
        SubscriptionEvent::Cancel => "subscription.cancel",
        SubscriptionEvent::End => "subscription.end",
    }
}

/// Tells the application's owner what happened to its subscription.
async fn tell_owner(
    state: &AppState,
    sub: &SubRow,
    event: SubscriptionEvent,
    reason: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    let because = reason.map(|r| format!(" Reason: {r}")).unwrap_or_default();
    let (title, body) = match event {
        SubscriptionEvent::Approve => (
            format!("Subscription approved: {}", sub.api_name),
            format!("{} can now use {} on the {} plan.", sub.application_name, sub.api_name, sub.plan_name),
        ),
        SubscriptionEvent::Reject => (
            format!("Subscription rejected: {}", sub.api_name),
            format!("The request of {} for {} ({}) was rejected.{because}", sub.application_name, sub.api_name, sub.plan_name),
        ),
        SubscriptionEvent::Suspend => (
            format!("Subscription suspended: {}", sub.api_name),
            format!("{}'s access to {} is suspended; its keys are refused until it is resumed.{because}", sub.application_name, sub.api_name),
        ),
        SubscriptionEvent::Resume => (
            format!("Subscription resumed: {}", sub.api_name),
            format!("{} can use {} again.", sub.application_name, sub.api_name),
        ),
        SubscriptionEvent::End => (
            format!("{} was retired", sub.api_name),
            format!("{}'s subscription to {} ended because the API was retired.", sub.application_name, sub.api_name),
        ),
        SubscriptionEvent::Cancel => return Ok(()),
    };
    // Applications are user-owned today; a team owner would notify its members here.
    notify(
        state,
        &sub.app_owner_id,
        Notice {
            title,
            body,
            link: Some("/applications".into()),
        },
        now,
    )
    .await
}

/// Retires `api` and ends its live subscriptions in one transaction; tells each
/// application's owner. `actor` is `None` when Keyport does it (the sunset date passed).
/// Returns how many subscriptions ended.
pub async fn retire_api(
    state: &AppState,
    now: i64,
    client: &ClientInfo,
    actor: Option<&CurrentUser>,
    api: &ApiRow,
    sunset_at: Option<i64>,
) -> Result<usize, AppError> {
    let mut tx = state.db.begin().await?;
    if !catalog::set_lifecycle(
        &mut *tx,
        &api.id,
        api.lifecycle,
        Lifecycle::Retired,
        sunset_at,
        now,
    )
    .await?
    {
        return Err(AppError::Conflict {
            message: "The API changed meanwhile; reload and try again.".into(),
        });
    }
    let live = store::live_of(&mut *tx, Live::Api, &api.id).await?;
    for sub in &live {
        store::transition(
            &mut *tx,
            &sub.id,
            sub.state,
            SubscriptionState::Ended,
            Some("The API was retired."),
            actor.map(|a| a.id.as_str()),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    for sub in &live {
        let mut event = Event::new("subscription.end")
            .target("subscription", &sub.id)
            .details(serde_json::json!({ "application": sub.application_name, "api": sub.api_slug, "from": sub.state, "to": "ended" }));
        if let Some(a) = actor {
            event = event.actor(&a.id, &a.email);
        }
        record(&state.db, now, client, event).await?;
        tell_owner(state, sub, SubscriptionEvent::End, None, now).await?;
    }
    Ok(live.len())
}

/// Deletes one of the caller's applications, cancelling its live subscriptions in the same
/// transaction. Returns how many were cancelled.
pub async fn delete_application(
    ctx: &Ctx,
    user: &CurrentUser,
    application_id: &str,
) -> Result<usize, AppError> {
    let mut tx = ctx.state.db.begin().await?;
    let app = apps::find_owned(&mut *tx, application_id, &owner_of(user))
        .await?
        .ok_or(AppError::NotFound)?;
    let live = store::live_of(&mut *tx, Live::Application, &app.id).await?;
    for sub in &live {
        store::transition(
            &mut *tx,
            &sub.id,
            sub.state,
            SubscriptionState::Cancelled,
            Some("The application was deleted."),
            Some(&user.id),
            ctx.now,
        )
        .await?;
    }
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
    let owned = apps::list_owned(&state.db, &owner_of(user)).await?;
    let ids: Vec<String> = owned.iter().map(|a| a.id.clone()).collect();
    let subs = store::of_applications(&state.db, &ids).await?;
    let keys = crate::keys::store::of_applications(&state.db, &ids).await?;
    let names: crate::keys::service::ApiNames = subs
        .iter()
        .map(|s| (s.api_id.clone(), s.api_name.clone()))
        .collect();
    let portal = crate::keys::settings::load(&state.db).await?;
    let plans = crate::keys::service::plans_of(state, &subs).await?;
    let now = state.clock.now();
    let mut out = Vec::with_capacity(owned.len());
    for a in owned {
        let mine: Vec<SubRow> = subs
            .iter()
            .filter(|s| s.application_id == a.id)
            .cloned()
            .collect();
        out.push(ApplicationView {
            key_policy: crate::keys::service::policy_of(&mine, &plans, &portal),
            subscriptions: mine.into_iter().map(view).collect(),
            keys: keys
                .iter()
                .filter(|k| k.application_id == a.id)
                .cloned()
                .map(|k| crate::keys::service::view(k, now, &names))
                .collect(),
            id: a.id,
            name: a.name,
            description: a.description,
            created: fmt_time(a.created_at),
        });
    }
    Ok(out)
}

pub async fn queue(
    state: &AppState,
    user: &CurrentUser,
    filter: QueueQuery,
) -> Result<QueuePage, AppError> {
    let page = filter.page.clamp(1, 100_000);
    let owner = (user.role != Role::Admin).then_some(user.id.as_str());
    let (rows, total) = store::queue(
        &state.db,
        &store::QueueFilter {
            api_owner: owner,
            state: filter.state,
            api_slug: filter.api.as_deref(),
            limit: QUEUE_PER_PAGE,
            offset: (page - 1) * QUEUE_PER_PAGE,
        },
    )
    .await?;
    let apis = catalog::managed(&state.db, owner)
        .await?
        .into_iter()
        .map(|m| (m.api.slug, m.api.name))
        .collect();
    Ok(QueuePage {
        items: rows.into_iter().map(view).collect(),
        total,
        page,
        apis,
    })
}
