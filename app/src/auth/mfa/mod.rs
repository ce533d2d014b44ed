//! Two-factor authentication with TOTP: enrolment (QR code, recovery codes), the second step
//! of sign-in, step-up for sensitive actions (a dialog that then completes the action), and
//! the sessions list.

mod pages;
pub use pages::{
    use_step_up as pages_step_up, MfaSignInPage, SecurityPage, SessionsPage, StepUp, StepUpDialog,
};

#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod totp;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaStatus {
    pub enabled: bool,
    pub recovery_codes_left: i64,
    /// The portal's policy asks this user to enrol.
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolmentView {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_png_base64: String,
}

/// One signed-in session; `handle` names it without revealing the session id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionItem {
    pub handle: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[server(prefix = "/api", endpoint = "mfa_status")]
pub async fn get_mfa_status() -> Result<MfaStatus, AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    let state = crate::platform::state::app_state()?;
    let policy = crate::platform::settings::mfa_policy(&state.db).await?;
    Ok(MfaStatus {
        enabled: store::is_enabled(&state.db, &user.id).await?,
        recovery_codes_left: store::recovery_codes_left(&state.db, &user.id).await?,
        required: service::policy_requires(policy, user.role),
    })
}

#[server(prefix = "/api", endpoint = "start_mfa_enrolment")]
pub async fn start_mfa_enrolment() -> Result<EnrolmentView, AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    let ctx = crate::platform::Ctx::current().await?;
    let e = service::start_enrolment(&ctx, &user).await?;
    Ok(EnrolmentView {
        secret_base32: e.secret_base32,
        otpauth_uri: e.otpauth_uri,
        qr_png_base64: e.qr_png_base64,
    })
}

/// Turns MFA on; a session that signed in a while ago shows the password again.
#[server(prefix = "/api", endpoint = "confirm_mfa_enrolment")]
pub async fn confirm_mfa_enrolment(
    code: String,
    current_password: Option<String>,
) -> Result<Vec<String>, AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::confirm_enrolment(&ctx, &user, &code, current_password.as_deref()).await
}

/// Turning MFA off needs a current code from the device: that code is the second-factor
/// check, as fresh as a check can be.
#[server(prefix = "/api", endpoint = "disable_mfa")]
pub async fn disable_mfa(code: String) -> Result<(), AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::disable(&ctx, &user, &code).await
}

#[server(prefix = "/api", endpoint = "regenerate_recovery_codes")]
pub async fn regenerate_recovery_codes(
    step_up_code: Option<String>,
) -> Result<Vec<String>, AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::regenerate_recovery_codes(&ctx, &user).await
}

/// A second-factor check for sensitive actions; then to `next`, when given (forms that
/// work without JavaScript).
#[server(prefix = "/api", endpoint = "confirm_step_up")]
pub async fn confirm_step_up(code: String, next: Option<String>) -> Result<(), AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::step_up(&ctx, &user, &code).await?;
    if let Some(next) = next.filter(|n| !n.is_empty()) {
        leptos_axum::redirect(&crate::auth::safe_next(Some(&next)));
    }
    Ok(())
}

/// The second step of signing in, for accounts with MFA.
#[server(prefix = "/api", endpoint = "complete_sign_in")]
pub async fn complete_sign_in(code: String, next: Option<String>) -> Result<(), AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    crate::auth::service::complete_second_factor(&ctx, &code).await?;
    leptos_axum::redirect(&crate::auth::safe_next(next.as_deref()));
    Ok(())
}

#[server(prefix = "/api", endpoint = "list_sessions")]
pub async fn list_sessions() -> Result<Vec<SessionItem>, AppError> {
    let user = crate::auth::guard::require_signed_in().await?;
    let state = crate::platform::state::app_state()?;
    let current = crate::platform::session::AuthSession::current().await?.id();
    let rows =
        crate::platform::session::list_for_user(&state.db, &user.id, state.clock.now()).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionItem {
            handle: crate::platform::session::handle(&s.id),
            current: current.as_deref() == Some(s.id.as_str()),
            created_at: crate::platform::state::fmt_time(s.created_at),
            last_seen_at: crate::platform::state::fmt_time(s.last_seen_at),
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect())
}

/// Signs out one of the caller's own sessions (never anyone else's).
#[server(prefix = "/api", endpoint = "end_session")]
pub async fn end_session(handle: String) -> Result<(), AppError> {
    use crate::platform::audit::Event;
    let user = crate::auth::guard::require_signed_in().await?;
    let ctx = crate::platform::Ctx::current().await?;
    if !crate::platform::session::delete_by_handle(&ctx.state.db, &user.id, &handle, ctx.now)
        .await?
    {
        return Err(AppError::NotFound);
    }
    ctx.audit(
        Event::new("session.end")
            .actor(&user.id, &user.email)
            .target("user", &user.id),
    )
    .await
}

#[server(prefix = "/api", endpoint = "end_other_sessions")]
pub async fn end_other_sessions() -> Result<u64, AppError> {
    use crate::platform::audit::Event;
    let user = crate::auth::guard::require_signed_in().await?;
    let ctx = crate::platform::Ctx::current().await?;
    let keep = ctx.session.id();
    let ended =
        crate::platform::session::delete_for_user(&ctx.state.db, &user.id, keep.as_deref()).await?;
    ctx.audit(
        Event::new("session.end_others")
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(serde_json::json!({ "ended": ended })),
    )
    .await?;
    Ok(ended)
}
