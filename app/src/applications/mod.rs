//! Applications: what a developer's subscriptions and keys belong to, and who owns each.
//! The "My applications" page, which shows them with their subscriptions and keys, is the
//! dashboard's.

#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
mod store;

#[cfg(feature = "ssr")]
pub use service::owner_of;

use crate::error::AppError;
use leptos::prelude::*;

/// How many applications one owner may have.
pub const MAX_APPLICATIONS: usize = 200;

/// Creates (no `id`) or renames/describes one of the caller's applications; returns its id.
#[server(prefix = "/api", endpoint = "save_application")]
pub async fn save_application(
    id: Option<String>,
    name: String,
    description: String,
) -> Result<String, AppError> {
    use crate::error::FormErrors;
    let user = crate::auth::guard::require_user().await?;
    let mut e = FormErrors::new();
    let name = e.check(
        "name",
        crate::domain::line(&name, "a name for the application", crate::domain::NAME_MAX),
    );
    let description = e.check("description", crate::domain::text(&description, 1_000));
    let (Some(name), Some(description)) = (name, description) else {
        return Err(e.into_error());
    };
    let ctx = crate::platform::Ctx::current().await?;
    service::save(&ctx, &user, id.as_deref(), &name, &description).await
}
