//! A user's own account: profile (name, email, time zone) and password.

mod pages;
pub mod sign_in_methods;

pub use pages::AccountPage;

use crate::auth::whoami;
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod service;

#[server(prefix = "/api", endpoint = "update_profile")]
pub async fn update_profile(
    display_name: String,
    email: String,
    current_password: Option<String>,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::update_profile(
        &ctx,
        &user,
        &display_name,
        &email,
        current_password.as_deref().unwrap_or(""),
    )
    .await
}

/// Sets the IANA time zone (`Europe/Berlin`) usage charts are cut in; empty: the browser's.
#[server(prefix = "/api", endpoint = "update_time_zone")]
pub async fn update_time_zone(time_zone: String) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::update_time_zone(&ctx, &user, &time_zone).await
}

#[server(prefix = "/api", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::change_password(
        &ctx,
        &user,
        &current_password,
        &new_password,
        &confirm_password,
    )
    .await
}
