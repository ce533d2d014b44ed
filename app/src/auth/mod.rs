//! Signing in and out, signing up (open, by invitation), the first-run admin setup, and the
//! guards every server function starts with.

mod pages;
pub use pages::{ConfirmSignUpPage, SetupPage, SignInPage, SignUpPage};

pub mod mfa;
pub mod oidc;

#[cfg(feature = "ssr")]
pub mod guard;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod signup;
#[cfg(feature = "ssr")]
pub mod throttle;
#[cfg(feature = "ssr")]
pub mod users;

use crate::domain::{Role, SignupMode};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in user, as pages see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub mfa_enabled: bool,
    /// The IANA zone their usage charts are cut in; `None`: the browser's.
    pub time_zone: Option<String>,
}

/// What the sign-up page needs to know before showing its form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignupContext {
    pub mode: SignupMode,
    /// The invited email, when the page was opened from a valid invitation link.
    pub invited_email: Option<String>,
    pub invitation_invalid: bool,
}

/// Only same-origin paths are followed after sign-in (no open redirect), else the
/// dashboard. Browsers parse a `Location` by the WHATWG URL rules: they drop tabs and line
/// breaks and read `\\` as `/`, so `/\t/evil.example` and `/\\evil.example` become
/// `//evil.example`, another host. Accepted: `/` followed by visible ASCII only (anything
/// else arrives percent-encoded), never `//`, and no backslash anywhere. The same check
/// keeps the value a valid header.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(p) if is_same_origin_path(p) => p.to_string(),
        _ => "/dashboard".to_string(),
    }
}

fn is_same_origin_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && p.len() <= 2048
        && p.bytes().all(|b| b.is_ascii_graphic())
}

#[server(prefix = "/api", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<CurrentUser>, AppError> {
    match guard::require_signed_in().await {
        Ok(user) => Ok(Some(user)),
        Err(AppError::Unauthorized) => Ok(None),
        Err(e) => Err(e),
    }
}

#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    let (_, step) = service::sign_in(&ctx, &email, &password).await?;
    leptos_axum::redirect(&step.redirect(next.as_deref()));
    Ok(())
}

#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    service::sign_out(&ctx).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/api", endpoint = "signup_info")]
pub async fn signup_info(invite: Option<String>) -> Result<SignupContext, AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    service::signup_context(&ctx, invite.as_deref()).await
}

#[server(prefix = "/api", endpoint = "sign_up")]
pub async fn sign_up(
    display_name: String,
    email: String,
    password: String,
    invite: Option<String>,
) -> Result<(), AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    let form = service::SignUpForm {
        display_name: &display_name,
        email: &email,
        password: &password,
        invite: invite.as_deref().filter(|t| !t.is_empty()),
    };
    match service::sign_up(&ctx, form).await? {
        service::SignedUp::SignedIn => leptos_axum::redirect("/dashboard"),
        service::SignedUp::CheckEmail => leptos_axum::redirect("/sign-up?sent=1"),
    }
    Ok(())
}

/// Creates the account of an open sign-up from its emailed link (a button on the page the
/// link opens: mail scanners that fetch links create nothing).
#[server(prefix = "/api", endpoint = "confirm_sign_up")]
pub async fn confirm_sign_up(token: String) -> Result<(), AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    service::confirm_sign_up(&ctx, &token).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Whether a first-run setup token is valid (and no admin exists yet).
#[server(prefix = "/api", endpoint = "setup_status")]
pub async fn setup_status(token: String) -> Result<bool, AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    service::setup_open(&ctx, &token).await
}

#[server(prefix = "/api", endpoint = "complete_setup")]
pub async fn complete_setup(
    token: String,
    display_name: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    let ctx = crate::platform::Ctx::current().await?;
    let form = service::SignUpForm {
        display_name: &display_name,
        email: &email,
        password: &password,
        invite: None,
    };
    service::complete_setup(&ctx, &token, form).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_only_ever_a_same_origin_path() {
        for fine in [
            "/catalog",
            "/catalog/pets?tab=plans#x",
            "/a%20b",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(safe_next(Some(fine)), fine);
        }
        for evil in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/x",
            "/\\evil.example",
            "\\/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "evil.example",
            "/\u{0}x",
            "/caf\u{e9}",
            " /catalog",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/dashboard", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/dashboard");
    }
}
