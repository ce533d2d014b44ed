//! `require_user` / `require_role`: the explicit first line of every protected server
//! function and handler.

use super::session::AuthSession;
use super::CurrentUser;
use crate::accounts::store as users;
use crate::audit::store::{record, Event};
use crate::domain::{Outcome, Role, UserStatus};
use crate::error::AppError;
use crate::state::{app_state, ClientInfo};

/// The signed-in, active user of this request, or `Unauthorized`.
pub async fn require_user() -> Result<CurrentUser, AppError> {
    let state = app_state()?;
    let session = AuthSession::current().await?;
    let Some(user_id) = session.user_id().await? else {
        return Err(AppError::Unauthorized);
    };
    match users::find_by_id(&state.db, &user_id).await? {
        Some(user) if user.status == UserStatus::Active => Ok(CurrentUser {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
        }),
        _ => {
            session.end().await?;
            Err(AppError::Unauthorized)
        }
    }
}

/// The signed-in user if their role is one of `allowed`; otherwise `Forbidden`, audited
/// as a denied `attempted` action.
pub async fn require_role(
    allowed: &[Role],
    attempted: &'static str,
) -> Result<CurrentUser, AppError> {
    let user = require_user().await?;
    if allowed.contains(&user.role) {
        return Ok(user);
    }
    let state = app_state()?;
    let event = Event::new("authz.denied")
        .actor(&user.id, &user.email)
        .outcome(Outcome::Denied)
        .details(serde_json::json!({ "attempted": attempted, "role": user.role }));
    record(&state.db, state.clock.now(), &ClientInfo::current(), event).await?;
    Err(AppError::Forbidden)
}
