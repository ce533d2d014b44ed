//! Subscription rules: who may subscribe, decide, cancel; the state machine applied with a
//! compare-and-set; notifications and audit for every change. Retiring an API ends its live
//! subscriptions in the same transaction as the lifecycle change.

use super::store::{self, Live};
pub use super::store::{requested_since, SubRow};
use super::*;
use super::{AppChoice, SubscriptionBrief};
use crate::applications::owner_of;
use crate::applications::service::{self as apps, AppRow};
use crate::auth::CurrentUser;
use crate::domain::{Approval, Role, SubscriptionEvent, SubscriptionState};
use crate::notifications::{notify, Notice};
use crate::platform::audit::{record, Event};
use crate::platform::state::{fmt_time, AppState, ClientInfo, Db};
use crate::platform::Ctx;

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
        propagation: None,
    }
}

/// Subscriptions changed in the last minutes say where the change is in effect (a
/// suspension stops the application's keys on every gateway instance).
async fn with_propagation(
    db: &Db,
    mut items: Vec<SubscriptionView>,
) -> Result<Vec<SubscriptionView>, AppError> {
    let ids: Vec<String> = items.iter().map(|i| i.application_id.clone()).collect();
    let propagations = crate::platform::feed::recent_propagations(
        db,
        crate::platform::feed::Kind::Subscriptions,
        &ids,
    )
    .await?;
    for item in &mut items {
        item.propagation = propagations.get(&item.application_id).cloned();
    }
    Ok(items)
}

/// The caller's applications, each with its most relevant subscription to `api_id` (the
/// live one, else the latest).
pub async fn choices_for(
    state: &AppState,
    user: &CurrentUser,
    api_id: &str,
) -> Result<Vec<AppChoice>, AppError> {
    let owned = apps::mine(&state.db, user).await?;
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

/// The plan a subscription asks for, as the catalog found it: visible to the caller and
/// taking new subscriptions.
pub struct Target<'a> {
    pub api_id: &'a str,
    pub api_slug: &'a str,
    pub api_name: &'a str,
    pub api_owner: Option<&'a str>,
    pub plan_id: &'a str,
    pub plan_name: &'a str,
    pub approval: Approval,
}

/// Subscribes one of the caller's applications to a plan: active at once on automatic
/// plans, pending (and the publisher told) on manual ones.
pub async fn subscribe(
    ctx: &Ctx,
    user: &CurrentUser,
    app: &AppRow,
    target: &Target<'_>,
) -> Result<SubscriptionState, AppError> {
    let db = &ctx.state.db;
    // Only the publisher (or an admin) lifts a suspension or overrides a rejection: after
    // either, a new subscription waits for approval whatever the plan says.
    let refused_before = store::was_refused(db, &app.owner_id, target.api_id).await?;
    let state = match target.approval {
        Approval::Automatic if !refused_before => SubscriptionState::Active,
        _ => SubscriptionState::Pending,
    };
    let id = store::insert(
        db,
        &app.id,
        target.api_id,
        target.plan_id,
        state,
        &user.id,
        ctx.now,
    )
    .await?
    .ok_or_else(|| {
        AppError::field(
            "application_id",
            format!(
                "{} already has a subscription to {}. Cancel it first to change plans.",
                app.name, target.api_name
            ),
        )
    })?;
    ctx.audit(
        Event::new("subscription.request")
            .actor(&user.id, &user.email)
            .target("subscription", &id)
            .details(serde_json::json!({
                "application": app.name, "api": target.api_slug, "plan": target.plan_name, "state": state,
                "refused_before": refused_before,
            })),
    )
    .await?;
    if state == SubscriptionState::Pending {
        for reviewer in reviewers(&ctx.state, target.api_owner).await? {
            notify(
                &ctx.state,
                &reviewer,
                Notice {
                    title: format!("Approval needed: {} → {}", app.name, target.api_name),
                    body: format!(
                        "{} asks for the {} plan of {} for the application {}.{}",
                        user.email,
                        target.plan_name,
                        target.api_name,
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
async fn reviewers(state: &AppState, api_owner: Option<&str>) -> Result<Vec<String>, AppError> {
    match api_owner {
        Some(owner) => Ok(vec![owner.to_string()]),
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

/// Ends the live subscriptions of an API being retired, in the caller's transaction (the
/// one that retires it). Returns them for [`tell_ended`] once that transaction commits.
pub async fn end_for_api(
    tx: &mut sqlx::AnyConnection,
    api_id: &str,
    actor: Option<&CurrentUser>,
    now: i64,
) -> Result<Vec<SubRow>, AppError> {
    let live = store::live_of(&mut *tx, Live::Api, api_id).await?;
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
    Ok(live)
}

/// Audits each subscription [`end_for_api`] ended and tells its application's owner.
/// `actor` is `None` when Keyport did it (the sunset date passed).
pub async fn tell_ended(
    state: &AppState,
    now: i64,
    client: &ClientInfo,
    actor: Option<&CurrentUser>,
    ended: &[SubRow],
) -> Result<(), AppError> {
    for sub in ended {
        let mut event = Event::new("subscription.end")
            .target("subscription", &sub.id)
            .details(serde_json::json!({ "application": sub.application_name, "api": sub.api_slug, "from": sub.state, "to": "ended" }));
        if let Some(a) = actor {
            event = event.actor(&a.id, &a.email);
        }
        record(&state.db, now, client, event).await?;
        tell_owner(state, sub, SubscriptionEvent::End, None, now).await?;
    }
    Ok(())
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
    let apis = store::decided_apis(&state.db, owner).await?;
    Ok(QueuePage {
        items: with_propagation(&state.db, rows.into_iter().map(view).collect()).await?,
        total,
        page,
        apis,
    })
}

/// The subscriptions of these applications, newest first.
pub async fn of_applications(db: &Db, app_ids: &[String]) -> Result<Vec<SubRow>, AppError> {
    store::of_applications(db, app_ids).await
}

/// Requests waiting for a decision, on the APIs `api_owner` publishes (all when `None`).
pub async fn pending_count(db: &Db, api_owner: Option<&str>) -> Result<i64, AppError> {
    store::pending_count(db, api_owner).await
}

/// Subscriptions of an API that are pending, active or suspended.
pub async fn live_count(db: &Db, api_id: &str) -> Result<i64, AppError> {
    store::live_count(db, api_id).await
}

/// Cancels the live subscriptions of an application being deleted, in the caller's
/// transaction (the one that deletes it). Returns them.
pub async fn cancel_for_application(
    tx: &mut sqlx::AnyConnection,
    app_id: &str,
    actor: &CurrentUser,
    now: i64,
) -> Result<Vec<SubRow>, AppError> {
    let live = store::live_of(&mut *tx, Live::Application, app_id).await?;
    for sub in &live {
        store::transition(
            &mut *tx,
            &sub.id,
            sub.state,
            SubscriptionState::Cancelled,
            Some("The application was deleted."),
            Some(&actor.id),
            now,
        )
        .await?;
    }
    Ok(live)
}
