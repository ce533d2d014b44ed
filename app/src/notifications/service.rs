//! Telling a user: the notice is stored for the portal and, when SMTP is configured,
//! emailed in the background.

use super::store;
use crate::error::AppError;
use crate::platform::state::AppState;

/// What to tell a user.
pub struct Notice {
    pub title: String,
    pub body: String,
    /// A portal path (`/applications`), made absolute in emails.
    pub link: Option<String>,
}

/// Stores the notice for `user_id` and, when SMTP is configured, emails it (in the
/// background).
pub async fn notify(
    state: &AppState,
    user_id: &str,
    notice: Notice,
    now: i64,
) -> Result<(), AppError> {
    store::insert(
        &state.db,
        user_id,
        &notice.title,
        &notice.body,
        notice.link.as_deref(),
        now,
    )
    .await?;
    if let Some(mailer) = &state.mailer {
        if let Some(user) = crate::auth::users::find_by_id(&state.db, user_id).await? {
            let link = notice
                .link
                .map(|l| format!("\n\n{}{l}", state.config.base_url()))
                .unwrap_or_default();
            mailer.send_later(crate::platform::mail::Mail {
                to: user.email,
                subject: notice.title,
                body: format!("{}{link}\n\n— Keyport", notice.body),
            });
        }
    }
    Ok(())
}
