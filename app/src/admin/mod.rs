//! Administration: users (search, role, disable/enable), portal settings and invitations.

mod pages;
pub mod sso;
#[cfg(feature = "ssr")]
pub mod store;

pub use pages::{SettingsPageView, UsersPageView};

use crate::domain::{MfaPolicy, Role, SignupMode, UserStatus};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::platform::settings;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const USERS_PER_PAGE: i64 = 25;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: String,
    pub last_sign_in_at: Option<String>,
    /// Where a change of the last minutes (such as disabling) is in effect.
    pub propagation: Option<crate::domain::Propagation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsersPage {
    pub users: Vec<UserSummary>,
    pub total: i64,
    pub page: i64,
    /// The admin looking at the list (they cannot demote or disable themselves).
    pub me: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationSummary {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingsView {
    pub signup_mode: SignupMode,
    pub mfa_policy: MfaPolicy,
    pub invitations: Vec<InvitationSummary>,
}

/// A new invitation: its link is shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedInvitation {
    pub email: String,
    pub link: String,
}

#[cfg(feature = "ssr")]
pub mod service;

#[cfg(feature = "ssr")]
fn parse_field<T: std::str::FromStr<Err = String>>(field: &str, raw: &str) -> Result<T, AppError> {
    raw.parse().map_err(|e: String| AppError::field(field, e))
}

#[server(prefix = "/api", endpoint = "list_users")]
pub async fn list_users(q: Option<String>, page: Option<i64>) -> Result<UsersPage, AppError> {
    let admin = crate::auth::guard::require_role(&[Role::Admin], "user.list").await?;
    let state = crate::platform::state::app_state()?;
    let page = page.unwrap_or(1).clamp(1, 1_000_000);
    let (rows, total) = crate::auth::users::list(
        &state.db,
        q.as_deref().unwrap_or(""),
        USERS_PER_PAGE,
        (page - 1) * USERS_PER_PAGE,
    )
    .await?;
    Ok(UsersPage {
        users: service::summaries(&state.db, rows).await?,
        total,
        page,
        me: admin.id,
    })
}

#[server(prefix = "/api", endpoint = "set_user_role")]
pub async fn set_user_role(
    user_id: String,
    role: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let admin = crate::auth::guard::require_role(&[Role::Admin], "user.role_change").await?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let role: Role = parse_field("role", &role)?;
    let ctx = crate::platform::Ctx::current().await?;
    service::set_role(&ctx, &admin, &user_id, role).await
}

#[server(prefix = "/api", endpoint = "set_user_status")]
pub async fn set_user_status(
    user_id: String,
    status: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let admin = crate::auth::guard::require_role(&[Role::Admin], "user.status_change").await?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let status: UserStatus = parse_field("status", &status)?;
    let ctx = crate::platform::Ctx::current().await?;
    service::set_status(&ctx, &admin, &user_id, status).await
}

#[server(prefix = "/api", endpoint = "get_settings")]
pub async fn get_settings() -> Result<SettingsView, AppError> {
    crate::auth::guard::require_role(&[Role::Admin], "settings.read").await?;
    let state = crate::platform::state::app_state()?;
    let now = state.clock.now();
    let invitations = settings::pending_invitations(&state.db, now)
        .await?
        .into_iter()
        .map(|i| InvitationSummary {
            id: i.id,
            email: i.email,
            role: i.role,
            expires_at: crate::platform::state::fmt_time(i.expires_at),
        })
        .collect();
    Ok(SettingsView {
        signup_mode: settings::signup_mode(&state.db).await?,
        mfa_policy: settings::mfa_policy(&state.db).await?,
        invitations,
    })
}

#[server(prefix = "/api", endpoint = "update_settings")]
pub async fn update_settings(
    signup_mode: String,
    mfa_policy: Option<String>,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let admin = crate::auth::guard::require_role(&[Role::Admin], "settings.update").await?;
    let mode: SignupMode = parse_field("signup_mode", &signup_mode)?;
    let policy: Option<MfaPolicy> = mfa_policy
        .as_deref()
        .map(|p| parse_field("mfa_policy", p))
        .transpose()?;
    // Sign-up and the MFA policy decide who gets in and how.
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::update_settings(&ctx, &admin, mode, policy).await
}

#[server(prefix = "/api", endpoint = "create_invitation")]
pub async fn create_invitation(
    email: String,
    role: String,
    step_up_code: Option<String>,
) -> Result<CreatedInvitation, AppError> {
    use crate::domain::Email;
    use crate::error::FormErrors;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "invitation.create").await?;
    let mut errors = FormErrors::new();
    let email = errors.check("email", Email::parse(&email));
    let role = errors.check("role", role.parse::<Role>());
    let (email, role) = match (email, role) {
        (Some(e), Some(r)) if errors.is_empty() => (e, r),
        _ => return Err(errors.into_error()),
    };
    // An invitation grants a role, as a role change does.
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::create_invitation(&ctx, &admin, &email, role).await
}

#[server(prefix = "/api", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(id: String) -> Result<(), AppError> {
    use crate::platform::audit::Event;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "invitation.revoke").await?;
    let ctx = crate::platform::Ctx::current().await?;
    if !settings::delete_invitation(&ctx.state.db, &id).await? {
        return Err(AppError::NotFound);
    }
    ctx.audit(
        Event::new("invitation.revoke")
            .actor(&admin.id, &admin.email)
            .target("invitation", &id),
    )
    .await
}

/// What a service token looks like: `kps_` and 43 base64url characters (256 bits).
pub const TOKEN_PREFIX: &str = "kps_";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceTokenView {
    pub id: String,
    pub name: String,
    pub created: String,
    pub created_by: Option<String>,
    pub last_used: Option<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedServiceToken {
    pub name: String,
    pub token: String,
}

#[server(prefix = "/api", endpoint = "list_service_tokens")]
pub async fn list_service_tokens() -> Result<Vec<ServiceTokenView>, AppError> {
    crate::auth::guard::require_role(&[crate::domain::Role::Admin], "service_token.list").await?;
    let rows = store::list_service_tokens(&crate::platform::state::app_state()?.db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The Keyport instances following the change feed (each one serves gateways), with how
/// far behind each is.
#[server(prefix = "/api", endpoint = "gateway_instances")]
pub async fn gateway_instances() -> Result<Vec<crate::domain::InstanceStatus>, AppError> {
    crate::auth::guard::require_role(&[crate::domain::Role::Admin], "gateway.instances").await?;
    crate::platform::feed::instances(&crate::platform::state::app_state()?.db).await
}

/// Creates a service token for a gateway (step-up); the token is shown once.
#[server(prefix = "/api", endpoint = "create_service_token")]
pub async fn create_service_token(
    name: String,
    step_up_code: Option<String>,
) -> Result<CreatedServiceToken, AppError> {
    use crate::platform::audit::Event;
    let admin =
        crate::auth::guard::require_role(&[crate::domain::Role::Admin], "service_token.create")
            .await?;
    let name = crate::domain::line(&name, "a name, such as the gateway it is for", 60)
        .map_err(|e| AppError::field("name", e))?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    let (id, token) =
        store::create_service_token(&ctx.state.db, &name, Some(&admin.id), ctx.now).await?;
    ctx.audit(
        Event::new("service_token.create")
            .actor(&admin.id, &admin.email)
            .target("service_token", &id)
            .details(serde_json::json!({ "name": name })),
    )
    .await?;
    Ok(CreatedServiceToken { name, token })
}

#[server(prefix = "/api", endpoint = "revoke_service_token")]
pub async fn revoke_service_token(
    id: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    use crate::platform::audit::Event;
    let admin =
        crate::auth::guard::require_role(&[crate::domain::Role::Admin], "service_token.revoke")
            .await?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    let name = store::revoke_service_token(&ctx.state.db, &id, ctx.now)
        .await?
        .ok_or(AppError::NotFound)?;
    ctx.audit(
        Event::new("service_token.revoke")
            .actor(&admin.id, &admin.email)
            .target("service_token", &id)
            .details(serde_json::json!({ "name": name })),
    )
    .await
}
