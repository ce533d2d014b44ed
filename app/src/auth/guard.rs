//! `require_user` / `require_role`: the explicit first line of every protected server
//! function and handler.

use super::CurrentUser;
use crate::auth::users;
use crate::domain::{Outcome, Role, UserStatus};
use crate::error::AppError;
use crate::platform::audit::{record, Event};
use crate::platform::session::AuthSession;
use crate::platform::state::{app_state, AppState, ClientInfo};

/// The signed-in, active user of this request, or `Unauthorized`; `MfaEnrolmentRequired`
/// when the portal's MFA policy asks them to enrol and they have not.
pub async fn require_user() -> Result<CurrentUser, AppError> {
    let user = require_signed_in().await?;
    enrolled(&app_state()?, user).await
}

/// `user`, unless the MFA policy wants them to enrol a second factor first.
pub async fn enrolled(state: &AppState, user: CurrentUser) -> Result<CurrentUser, AppError> {
    if !user.mfa_enabled {
        let policy = crate::platform::settings::mfa_policy(&state.db).await?;
        if crate::auth::mfa::service::policy_requires(policy, user.role) {
            return Err(AppError::MfaEnrolmentRequired);
        }
    }
    Ok(user)
}

/// Like [`require_user`] but without the MFA policy: for what a user needs to enrol (their
/// status, the enrolment itself, their sessions, the dashboard).
pub async fn require_signed_in() -> Result<CurrentUser, AppError> {
    signed_in(&app_state()?, &AuthSession::current().await?).await
}

/// The active user signed in with `session` (handlers outside Leptos build it from their
/// request's session); `Unauthorized` otherwise.
pub async fn signed_in(state: &AppState, session: &AuthSession) -> Result<CurrentUser, AppError> {
    let Some(user_id) = session.user_id().await? else {
        return Err(AppError::Unauthorized);
    };
    match users::find_by_id(&state.db, &user_id).await? {
        Some(user) if user.status == UserStatus::Active => Ok(CurrentUser {
            mfa_enabled: crate::auth::mfa::store::is_enabled(&state.db, &user.id).await?,
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            time_zone: user.time_zone,
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
    in_role(
        &app_state()?,
        user,
        allowed,
        attempted,
        &ClientInfo::current(),
    )
    .await
}

/// `user` if their role is one of `allowed`; otherwise `Forbidden`, audited as a denied
/// `attempted` action from `client`.
pub async fn in_role(
    state: &AppState,
    user: CurrentUser,
    allowed: &[Role],
    attempted: &'static str,
    client: &ClientInfo,
) -> Result<CurrentUser, AppError> {
    if allowed.contains(&user.role) {
        return Ok(user);
    }
    let event = Event::new("authz.denied")
        .actor(&user.id, &user.email)
        .outcome(Outcome::Denied)
        .details(serde_json::json!({ "attempted": attempted, "role": user.role }));
    record(&state.db, state.clock.now(), client, event).await?;
    Err(AppError::Forbidden)
}

/// For sensitive actions: a second-factor check within the step-up window, or
/// `MfaRequired` (the UI then asks for a code and retries). Users without MFA are sent to
/// enrol, unless the configuration lets them through. `code` is the form's own
/// `step_up_code` field, which pages show when JavaScript (and with it the step-up dialog)
/// is off: a correct code there counts as the check.
pub async fn require_step_up(user: &CurrentUser, code: Option<&str>) -> Result<(), AppError> {
    if let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) {
        if user.mfa_enabled {
            let ctx = crate::platform::Ctx::current().await?;
            return crate::auth::mfa::service::step_up(&ctx, user, code).await;
        }
    }
    let state = app_state()?;
    let session = AuthSession::current().await?;
    check_recent_mfa(&state, &session, user.mfa_enabled).await
}

/// The step-up rule for a session, outside server functions too (the identity-provider
/// link round trip).
pub async fn check_recent_mfa(
    state: &crate::platform::state::AppState,
    session: &AuthSession,
    mfa_enabled: bool,
) -> Result<(), AppError> {
    if !mfa_enabled {
        return if state.config.step_up_requires_mfa {
            Err(AppError::MfaEnrolmentRequired)
        } else {
            Ok(())
        };
    }
    let window = state.config.step_up_window_secs as i64 * 1000;
    match session.mfa_at().await? {
        Some(at) if state.clock.now() - at <= window => Ok(()),
        _ => Err(AppError::MfaRequired),
    }
}
