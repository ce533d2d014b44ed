//! Application rules: who owns an application (today its creator; teams later), and
//! creating, renaming and describing one.

pub use super::store::AppRow;
use super::store::{self, Owner};
use super::MAX_APPLICATIONS;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::platform::audit::Event;
use crate::platform::state::Db;
use crate::platform::Ctx;
use sqlx::{Any, Executor};

pub fn owner_of(user: &CurrentUser) -> Owner {
    Owner::User(user.id.clone())
}

/// Creates an application (no `id`; at most [`MAX_APPLICATIONS`] per owner) or renames and
/// describes one of the caller's. Returns its id.
pub async fn save(
    ctx: &Ctx,
    user: &CurrentUser,
    id: Option<&str>,
    name: &str,
    description: &str,
) -> Result<String, AppError> {
    let owner = owner_of(user);
    let (id, action) = match id.filter(|s| !s.is_empty()) {
        Some(id) => {
            if !store::update(&ctx.state.db, id, &owner, name, description, ctx.now).await? {
                return Err(AppError::NotFound);
            }
            (id.to_string(), "application.update")
        }
        None => {
            if store::list_owned(&ctx.state.db, &owner).await?.len() >= MAX_APPLICATIONS {
                return Err(AppError::Conflict {
                    message: format!(
                        "You have {MAX_APPLICATIONS} applications, the most one person may have."
                    ),
                });
            }
            let id =
                store::insert(&ctx.state.db, &owner, name, description, &user.id, ctx.now).await?;
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

/// One of `user`'s applications (not deleted).
pub async fn owned<'c>(
    db: impl Executor<'c, Database = Any>,
    user: &CurrentUser,
    id: &str,
) -> Result<Option<AppRow>, AppError> {
    store::find_owned(db, id, &owner_of(user)).await
}

/// Any application, deleted or not (an admin acting on one of its keys).
pub async fn any(db: &Db, id: &str) -> Result<Option<AppRow>, AppError> {
    store::find_any(db, id).await
}

/// The names of these applications, by id.
pub use super::store::names;

/// `user`'s applications, by name.
pub async fn mine(db: &Db, user: &CurrentUser) -> Result<Vec<AppRow>, AppError> {
    store::list_owned(db, &owner_of(user)).await
}

/// Marks an application deleted, in the caller's transaction.
pub async fn mark_deleted<'c>(
    db: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, AppError> {
    store::mark_deleted(db, id, now).await
}
