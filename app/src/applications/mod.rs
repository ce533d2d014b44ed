//! Applications: what a developer's subscriptions and keys belong to, and who owns each.
//! The "My applications" page, which shows them with their subscriptions and keys, is the
//! dashboard's.

#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

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
    let owner = crate::applications::owner_of(&user);
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
