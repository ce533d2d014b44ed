//! Subscriptions: an application's access to an API through one of its plans, with the
//! approval queue where publishers and admins decide (a step-up MFA action). The state is
//! the single source of truth key verification reads.

mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
mod store;

pub use pages::ApprovalsPage;

use crate::domain::{SubscriptionEvent, SubscriptionState};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const QUEUE_PER_PAGE: i64 = 25;

/// One of the caller's applications, with its subscription to the API being viewed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppChoice {
    pub id: String,
    pub name: String,
    pub subscription: Option<SubscriptionBrief>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionBrief {
    pub id: String,
    pub state: SubscriptionState,
    pub plan: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionView {
    pub id: String,
    pub application_id: String,
    pub application: String,
    pub api_slug: String,
    pub api: String,
    pub plan: String,
    pub state: SubscriptionState,
    pub reason: Option<String>,
    pub requested_by: Option<String>,
    pub requested: String,
    pub updated: String,
    /// Where a change of the last minutes (such as a suspension) is in effect.
    pub propagation: Option<crate::domain::Propagation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuePage {
    pub items: Vec<SubscriptionView>,
    pub total: i64,
    pub page: i64,
    /// (slug, name) of the APIs the caller decides on, for the filter.
    pub apis: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
pub struct QueueQuery {
    pub state: Option<SubscriptionState>,
    pub api: Option<String>,
    pub page: i64,
}

/// The application's owner ends a subscription (pending, active or suspended).
#[server(prefix = "/api", endpoint = "cancel_subscription")]
pub async fn cancel_subscription(id: String) -> Result<SubscriptionState, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::apply(&ctx, &user, &id, SubscriptionEvent::Cancel, None).await
}

/// Subscriptions to the APIs the caller decides on (all APIs for admins); pending ones by
/// default.
#[server(prefix = "/api", endpoint = "approval_queue")]
pub async fn approval_queue(
    state: Option<String>,
    api: Option<String>,
    page: Option<i64>,
) -> Result<QueuePage, AppError> {
    let user = crate::auth::guard::require_role(
        &[crate::domain::Role::Admin, crate::domain::Role::Publisher],
        "subscription.queue",
    )
    .await?;
    let app_state = crate::platform::state::app_state()?;
    let state = match state.as_deref().unwrap_or("pending") {
        "" | "all" => None,
        s => Some(
            s.parse::<SubscriptionState>()
                .map_err(|e| AppError::field("state", e))?,
        ),
    };
    let query = QueueQuery {
        state,
        api: api.filter(|a| !a.is_empty()),
        page: page.unwrap_or(1),
    };
    service::queue(&app_state, &user, query).await
}

/// Approve, reject (with a reason), suspend (with a reason) or resume a subscription:
/// the API's publisher or an admin, after a recent second-factor check.
#[server(prefix = "/api", endpoint = "decide_subscription")]
pub async fn decide_subscription(
    id: String,
    decision: String,
    reason: Option<String>,
    step_up_code: Option<String>,
) -> Result<SubscriptionState, AppError> {
    let user = crate::auth::guard::require_role(
        &[crate::domain::Role::Admin, crate::domain::Role::Publisher],
        "subscription.decide",
    )
    .await?;
    let event: SubscriptionEvent = decision
        .parse()
        .map_err(|e: String| AppError::field("decision", e))?;
    if !event.is_decision() {
        return Err(AppError::field(
            "decision",
            "Choose approve, reject, suspend or resume.",
        ));
    }
    if event.needs_reason() && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(AppError::field(
            "reason",
            "Say why, so the developer knows what to change.",
        ));
    }
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::apply(&ctx, &user, &id, event, reason.as_deref()).await
}
