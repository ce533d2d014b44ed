//! Sign-in through OpenID Connect providers: the provider buttons and the problem messages
//! (both targets); behind `ssr`, the discovered clients, the browser round trip and the
//! `identities` table that keys users by (issuer, subject).

#[cfg(feature = "ssr")]
pub mod flow;
#[cfg(feature = "ssr")]
pub mod store;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A configured provider, as a button shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderButton {
    pub id: String,
    pub label: String,
}

/// Why an identity-provider round trip did not sign anyone in. The callback redirects to
/// `/sign-in?error=<code>` (or `/account?error=<code>` when linking); pages turn the code
/// back into a message, so no text from the URL is ever shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcProblem {
    UnknownProvider,
    Unavailable,
    State,
    Denied,
    ProviderError,
    InvalidToken,
    /// Userinfo answered about another subject than the ID token's (OIDC Core §5.3.2).
    UserInfoMismatch,
    NoEmail,
    AccountExists,
    NotAllowed,
    Disabled,
    IdentityTaken,
    SignInFirst,
    /// Linking needs a second-factor check within the step-up window.
    StepUpRequired,
    /// Linking needs two-factor authentication set up first.
    MfaFirst,
    Internal,
}

impl OidcProblem {
    pub const ALL: &'static [OidcProblem] = &[
        OidcProblem::UnknownProvider,
        OidcProblem::Unavailable,
        OidcProblem::State,
        OidcProblem::Denied,
        OidcProblem::ProviderError,
        OidcProblem::InvalidToken,
        OidcProblem::UserInfoMismatch,
        OidcProblem::NoEmail,
        OidcProblem::AccountExists,
        OidcProblem::NotAllowed,
        OidcProblem::Disabled,
        OidcProblem::IdentityTaken,
        OidcProblem::SignInFirst,
        OidcProblem::StepUpRequired,
        OidcProblem::MfaFirst,
        OidcProblem::Internal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OidcProblem::UnknownProvider => "oidc_unknown_provider",
            OidcProblem::Unavailable => "oidc_unavailable",
            OidcProblem::State => "oidc_state",
            OidcProblem::Denied => "oidc_denied",
            OidcProblem::ProviderError => "oidc_provider_error",
            OidcProblem::InvalidToken => "oidc_invalid_token",
            OidcProblem::UserInfoMismatch => "oidc_userinfo_mismatch",
            OidcProblem::NoEmail => "oidc_no_email",
            OidcProblem::AccountExists => "oidc_account_exists",
            OidcProblem::NotAllowed => "oidc_not_allowed",
            OidcProblem::Disabled => "oidc_disabled",
            OidcProblem::IdentityTaken => "oidc_identity_taken",
            OidcProblem::SignInFirst => "oidc_sign_in_first",
            OidcProblem::StepUpRequired => "oidc_step_up",
            OidcProblem::MfaFirst => "oidc_mfa_first",
            OidcProblem::Internal => "oidc_internal",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.code() == code)
    }

    /// What the user reads, and what they can do about it.
    pub fn message(self) -> &'static str {
        match self {
            OidcProblem::UnknownProvider => "This sign-in provider is not configured on this portal.",
            OidcProblem::Unavailable => {
                "The identity provider could not be reached. Try again in a moment."
            }
            OidcProblem::State => {
                "This sign-in attempt is no longer valid: it was used already, took too long, or was started in another tab. Please start again."
            }
            OidcProblem::Denied => "Sign-in was cancelled at the identity provider.",
            OidcProblem::ProviderError => {
                "The identity provider could not sign you in. Try again, or ask your administrator."
            }
            OidcProblem::InvalidToken => {
                "The identity provider's answer could not be verified, so you were not signed in. Ask your administrator to check the provider's configuration."
            }
            OidcProblem::UserInfoMismatch => {
                "The identity provider's profile answer was about someone else, so you were not signed in. Ask your administrator to check the provider's configuration."
            }
            OidcProblem::NoEmail => {
                "The identity provider did not share a verified email address, which Keyport needs to create your account."
            }
            OidcProblem::AccountExists => {
                "An account with this email address already exists. Sign in with your password, then link this provider from your account page."
            }
            OidcProblem::NotAllowed => {
                "This portal does not create accounts for this identity. Ask an administrator to invite you, or sign in with your password and link the provider from your account page."
            }
            OidcProblem::Disabled => "This account is disabled. Ask an administrator to enable it.",
            OidcProblem::IdentityTaken => {
                "This identity is already linked to another Keyport account."
            }
            OidcProblem::SignInFirst => "Sign in first to link an identity provider to your account.",
            OidcProblem::StepUpRequired => {
                "Linking a provider adds a way into your account: confirm it's you with a code from your authenticator app below, then link again."
            }
            OidcProblem::MfaFirst => {
                "Linking a provider adds a way into your account: set up two-factor authentication (Security) first."
            }
            OidcProblem::Internal => "Something went wrong on our side. Please try again.",
        }
    }
}

/// The providers shown on the sign-in page.
#[server(prefix = "/api", endpoint = "sign_in_providers")]
pub async fn sign_in_providers() -> Result<Vec<ProviderButton>, AppError> {
    Ok(buttons(&crate::platform::state::app_state()?.oidc))
}

/// A sign-in button for each configured provider.
#[cfg(feature = "ssr")]
pub fn buttons(providers: &crate::platform::oidc::Providers) -> Vec<ProviderButton> {
    providers
        .iter()
        .map(|p| ProviderButton {
            id: p.config.id.clone(),
            label: p.config.label.clone(),
        })
        .collect()
}

/// One plain link per provider (works without JavaScript), carrying `next` along.
#[component]
pub fn ProviderButtons(#[prop(into)] next: Signal<String>) -> impl IntoView {
    let providers = Resource::new(|| (), |_| sign_in_providers());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let list = providers.await.unwrap_or_default();
                (!list.is_empty()).then(|| {
                    let links = list
                        .into_iter()
                        .map(|p| {
                            let next = next.get();
                            let href = if next.is_empty() {
                                format!("/auth/oidc/{}/start", p.id)
                            } else {
                                format!(
                                    "/auth/oidc/{}/start?next={}",
                                    p.id,
                                    crate::components::urlencode(&next),
                                )
                            };
                            view! {
                                <a href=href rel="external" class="btn-secondary block w-full text-center" data-provider=p.id>
                                    {format!("Sign in with {}", p.label)}
                                </a>
                            }
                        })
                        .collect_view();
                    view! {
                        <div class="space-y-2" aria-label="Other ways to sign in" role="group">
                            <p class="text-center text-sm text-slate-500">"or"</p>
                            {links}
                        </div>
                    }
                })
            })}
        </Suspense>
    }
}

/// The message for `?error=<code>`, when the code is one of ours.
pub fn problem_message(code: Option<String>) -> Option<&'static str> {
    code.as_deref()
        .and_then(OidcProblem::from_code)
        .map(OidcProblem::message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_code_round_trips() {
        for p in OidcProblem::ALL {
            assert_eq!(OidcProblem::from_code(p.code()), Some(*p));
        }
        assert_eq!(OidcProblem::from_code("<script>"), None);
    }
}
