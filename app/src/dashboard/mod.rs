//! The signed-in home: the account's real state for everyone (sessions, recent activity)
//! and, for admins, user counts and the latest audit events; and "My applications", each
//! with its subscriptions and keys. Views over the areas below; the rules stay in theirs.

mod pages;
#[cfg(feature = "ssr")]
pub mod service;

pub use pages::{ApplicationsPage, DashboardPage};

use crate::audit::{AuditEventView, AuditTable};
use crate::auth::CurrentUser;
use crate::components::{ErrorView, Loading, PageTitle};
use crate::domain::{Role, SignupMode};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionView {
    pub created_at: String,
    pub last_seen_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleCount {
    pub role: Role,
    pub active: i64,
    pub disabled: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminOverview {
    pub counts: Vec<RoleCount>,
    pub signup_mode: SignupMode,
    pub open_invitations: usize,
    pub recent: Vec<AuditEventView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dashboard {
    pub user: CurrentUser,
    pub recovery_codes_left: i64,
    pub member_since: String,
    pub sessions: Vec<SessionView>,
    pub activity: Vec<AuditEventView>,
    pub admin: Option<AdminOverview>,
    /// Subscription requests waiting for the caller (publishers: their APIs; admins: all).
    pub pending_approvals: Option<i64>,
}

#[server(prefix = "/api", endpoint = "dashboard")]
pub async fn load_dashboard() -> Result<Dashboard, AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    let state = crate::platform::state::app_state()?;
    let current = crate::platform::session::AuthSession::current().await?.id();
    service::dashboard(&state, user, current.as_deref()).await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created: String,
    pub subscriptions: Vec<crate::subscriptions::SubscriptionView>,
    pub keys: Vec<crate::keys::KeyView>,
    pub key_policy: crate::keys::KeyPolicy,
}

#[server(prefix = "/api", endpoint = "my_applications")]
pub async fn my_applications() -> Result<Vec<ApplicationView>, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    service::my_applications(&state, &user).await
}

/// Deletes one of the caller's applications and cancels its live subscriptions.
#[server(prefix = "/api", endpoint = "delete_application")]
pub async fn delete_application(id: String) -> Result<usize, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::delete_application(&ctx, &user, &id).await
}
