//! Applications: what a developer's keys belong to. "My applications" lists them with
//! their subscriptions; deleting one cancels its subscriptions.

mod pages;
#[cfg(feature = "ssr")]
pub mod store;

pub use pages::ApplicationsPage;

use crate::error::AppError;
use crate::subscriptions::SubscriptionView;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How many applications one owner may have.
pub const MAX_APPLICATIONS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created: String,
    pub subscriptions: Vec<SubscriptionView>,
    pub keys: Vec<crate::keys::KeyView>,
    pub key_policy: crate::keys::KeyPolicy,
}

#[server(prefix = "/api", endpoint = "my_applications")]
pub async fn my_applications() -> Result<Vec<ApplicationView>, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    crate::subscriptions::service::my_applications(&state, &user).await
}

/// Creates (no `id`) or renames/describes one of the caller's applications; returns its id.
#[server(prefix = "/api", endpoint = "save_application")]
pub async fn save_application(
    id: Option<String>,
    name: String,
    description: String,
) -> Result<String, AppError> {
    use crate::error::FormErrors;
    use crate::platform::audit::Event;
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
    let owner = crate::subscriptions::service::owner_of(&user);
    let (id, action) = match id.filter(|s| !s.is_empty()) {
        Some(id) => {
            if !store::update(&ctx.state.db, &id, &owner, &name, &description, ctx.now).await? {
                return Err(AppError::NotFound);
            }
            (id, "application.update")
        }
        None => {
            if store::list_owned(&ctx.state.db, &owner).await?.len() >= MAX_APPLICATIONS {
                return Err(AppError::Conflict {
                    message: format!(
                        "You have {MAX_APPLICATIONS} applications, the most one person may have."
                    ),
                });
            }
            let id = store::insert(
                &ctx.state.db,
                &owner,
                &name,
                &description,
                &user.id,
                ctx.now,
            )
            .await?;
            (id, "application.create")
        }
    };
    ctx.audit(
        Event::new(action)
            .actor(&user.id, &user.email)
            .target("application", &id)
            .details(serde_json::json!({ "name": name })),
    )
    .await?;
    Ok(id)
}

/// Deletes one of the caller's applications and cancels its live subscriptions.
#[server(prefix = "/api", endpoint = "delete_application")]
pub async fn delete_application(id: String) -> Result<usize, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    crate::subscriptions::service::delete_application(&ctx, &user, &id).await
}
