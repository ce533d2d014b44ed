//! Notifications: what happened to a user's subscriptions (and, for publishers, new
//! requests), listed in the portal with an unread count and emailed when SMTP is set up.

mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
mod store;

pub use pages::NotificationsPageView;
#[cfg(feature = "ssr")]
pub use service::{notify, Notice};

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const PER_PAGE: i64 = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub at: String,
    pub unread: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationsPage {
    pub items: Vec<NotificationView>,
    pub total: i64,
    pub unread: i64,
    pub page: i64,
}

#[server(prefix = "/api", endpoint = "list_notifications")]
pub async fn list_notifications(page: Option<i64>) -> Result<NotificationsPage, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    let page = page.unwrap_or(1).clamp(1, 100_000);
    let (rows, total) = store::list(&state.db, &user.id, PER_PAGE, (page - 1) * PER_PAGE).await?;
    Ok(NotificationsPage {
        items: rows
            .into_iter()
            .map(|r| NotificationView {
                id: r.id,
                title: r.title,
                body: r.body,
                link: r.link,
                at: crate::platform::state::fmt_time(r.created_at),
                unread: r.read_at.is_none(),
            })
            .collect(),
        total,
        unread: store::unread(&state.db, &user.id).await?,
        page,
    })
}

/// The unread count for the header (0 when signed out).
#[server(prefix = "/api", endpoint = "unread_notifications")]
pub async fn unread_notifications() -> Result<i64, AppError> {
    let user = match crate::auth::guard::require_signed_in().await {
        Ok(user) => user,
        Err(AppError::Unauthorized) => return Ok(0),
        Err(e) => return Err(e),
    };
    let state = crate::platform::state::app_state()?;
    store::unread(&state.db, &user.id).await
}

/// Marks one of the caller's notifications read, or all of them without `id`.
#[server(prefix = "/api", endpoint = "mark_notifications_read")]
pub async fn mark_notifications_read(id: Option<String>) -> Result<u64, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    let id = id.filter(|s| !s.is_empty());
    // Only the caller's own rows match: someone else's id changes nothing.
    store::mark_read(&state.db, &user.id, id.as_deref(), state.clock.now()).await
}

/// Bumped when notifications are marked read, so the header's unread count follows.
#[derive(Clone, Copy)]
pub struct Seen(RwSignal<u32>);

impl Seen {
    pub fn provide() -> RwSignal<u32> {
        let signal = RwSignal::new(0);
        provide_context(Seen(signal));
        signal
    }
}
