//! The browser round trip: `start` sends the browser to the provider (PKCE S256, `state`,
//! `nonce` kept in the session); `callback` checks what comes back, exchanges the code,
//! verifies the ID token and signs the user in (or links the identity to the signed-in
//! user). Both answer with where the browser goes next, never with an error page: a
//! refusal is audited and becomes `?error=<code>` on the sign-in or account page.

use super::client::{Provider, ALLOWED_ALGS};
use super::{store as identities, OidcProblem};
use crate::accounts::store::{self as users, NewUser, UserRow};
use crate::admin::store as settings;
use crate::audit::store::Event;
use crate::auth::service::{complete_primary_auth, Ctx};
use crate::auth::session::OidcPending;
use crate::auth::{constant_time_eq, safe_next};
use crate::domain::{DisplayName, Email, JitPolicy, Outcome, Role, UserStatus};
use crate::error::AppError;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, Scope,
    TokenResponse as _,
};

/// A round trip must come back within this time.
const PENDING_TTL_MS: i64 = 10 * 60 * 1000;

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: providers that send it name themselves, which defeats mix-up attacks.
    pub iss: Option<String>,
}

impl CallbackParams {
    /// From the query's pairs; the first of repeated names counts (a duplicate is not an
    /// error page), unknown names are ignored.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut params = CallbackParams::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "code" => &mut params.code,
                "state" => &mut params.state,
                "error" => &mut params.error,
                "iss" => &mut params.iss,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        params
    }
}

/// Why a round trip stops: a refusal (expected, audited, shown as a message) or a failure
/// of Keyport itself (already logged with a reference by `AppError::internal`).
enum Stop {
    Refused {
        problem: OidcProblem,
        outcome: Outcome,
        /// For the audit log only; never shown to the user.
        reason: String,
        user: Option<(String, String)>,
    },
    Failed(AppError),
}

impl From<AppError> for Stop {
    fn from(e: AppError) -> Self {
        Stop::Failed(e)
    }
}

fn refused(problem: OidcProblem, reason: impl Into<String>) -> Stop {
    Stop::Refused {
        problem,
        outcome: Outcome::Failure,
        reason: reason.into(),
        user: None,
    }
}

/// A refusal by policy (not a protocol failure), about a known user when there is one.
fn denied(problem: OidcProblem, reason: &str, user: Option<&UserRow>) -> Stop {
    Stop::Refused {
        problem,
        outcome: Outcome::Denied,
        reason: reason.into(),
        user: user.map(|u| (u.id.clone(), u.email.clone())),
    }
}

fn problem_location(problem: OidcProblem, linking: bool) -> String {
    let page = if linking { "/account" } else { "/sign-in" };
    format!("{page}?error={}", problem.code())
}

/// Where to send the browser to sign in with `provider_id` (or, with `link`, to link an
/// identity to the signed-in user).
pub async fn start(ctx: &Ctx, provider_id: &str, next: Option<&str>, link: bool) -> String {
    match begin(ctx, provider_id, next, link).await {
        Ok(url) => url,
        Err(Stop::Refused {
            problem, reason, ..
        }) => {
            tracing::info!(provider = %provider_id, %reason, "OpenID Connect sign-in not started");
            problem_location(problem, link)
        }
        Err(Stop::Failed(e)) => {
            tracing::warn!(provider = %provider_id, error = %e, "OpenID Connect start failed");
            problem_location(OidcProblem::Internal, link)
        }
    }
}

async fn begin(
    ctx: &Ctx,
    provider_id: &str,
    next: Option<&str>,
    link: bool,
) -> Result<String, Stop> {
    let providers = &ctx.state.oidc;
    let provider = providers
        .get(provider_id)
        .ok_or_else(|| refused(OidcProblem::UnknownProvider, "unknown provider"))?;
    let link_user_id = match link {
        true => Some(
            ctx.session
                .user_id()
                .await?
                .ok_or_else(|| refused(OidcProblem::SignInFirst, "link without a session"))?,
        ),
        false => None,
    };
    let client = provider
        .client(providers.http())
        .await
        .map_err(|cause| refused(OidcProblem::Unavailable, cause))?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    // The library always asks for `openid`.
    for scope in provider.config.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    ctx.session
        .set_oidc_pending(&OidcPending {
            provider: provider.config.id.clone(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            next: safe_next(next),
            link_user_id,
            started_at: ctx.now,
        })
        .await?;
    Ok(url.to_string())
}

/// Handles the provider's redirect back; returns where the browser goes next.
pub async fn callback(ctx: &Ctx, provider_id: &str, params: CallbackParams) -> String {
    // Taken out before anything else: whatever happens next, this state cannot be used twice.
    let pending = match ctx.session.take_oidc_pending().await {
        Ok(pending) => pending,
        Err(_) => return problem_location(OidcProblem::Internal, false),
    };
    let linking = pending.as_ref().is_some_and(|p| p.link_user_id.is_some());
    match finish(ctx, provider_id, pending, params).await {
        Ok(location) => location,
        Err(Stop::Refused {
            problem,
            outcome,
            reason,
            user,
        }) => {
            let action = if linking {
                "identity.link"
            } else {
                "auth.sign_in"
            };
            let mut event = Event::new(action)
                .outcome(outcome)
                .details(serde_json::json!({
                    "method": "oidc",
                    "provider": provider_id,
                    "problem": problem.code(),
                    "reason": reason,
                }));
            if let Some((id, email)) = &user {
                event = event.actor(id, email).target("user", id);
            }
            // The user still gets their answer if the audit write fails; the log has it.
            if let Err(e) = ctx.audit(event).await {
                tracing::error!(error = %e, "could not audit a refused OpenID Connect callback");
            }
            problem_location(problem, linking)
        }
        Err(Stop::Failed(e)) => {
            tracing::warn!(provider = %provider_id, error = %e, "OpenID Connect callback failed");
            problem_location(OidcProblem::Internal, linking)
        }
    }
}

/// What a verified ID token says about the user.
struct Asserted {
    issuer: String,
    subject: String,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    role: Role,
}

async fn finish(
    ctx: &Ctx,
    provider_id: &str,
    pending: Option<OidcPending>,
    params: CallbackParams,
) -> Result<String, Stop> {
    let providers = &ctx.state.oidc;
    let provider = providers
        .get(provider_id)
        .ok_or_else(|| refused(OidcProblem::UnknownProvider, "unknown provider"))?;
    if let Some(error) = params.error {
        let problem = match error.as_str() {
            "access_denied" => OidcProblem::Denied,
            _ => OidcProblem::ProviderError,
        };
        let error: String = error.chars().take(64).collect();
        return Err(refused(problem, format!("provider answered error={error}")));
    }
    let pending = pending.ok_or_else(|| {
        refused(
            OidcProblem::State,
            "no sign-in pending (never started, already used, or session expired)",
        )
    })?;
    let state = params
        .state
        .ok_or_else(|| refused(OidcProblem::State, "callback without state"))?;
    if !constant_time_eq(&state, &pending.state) || pending.provider != provider.config.id {
        return Err(refused(OidcProblem::State, "state mismatch"));
    }
    if let Some(iss) = &params.iss {
        if iss.trim_end_matches('/') != provider.config.issuer.trim_end_matches('/') {
            return Err(refused(
                OidcProblem::ProviderError,
                "iss parameter names another issuer",
            ));
        }
    }
    if ctx.now - pending.started_at > PENDING_TTL_MS {
        return Err(refused(OidcProblem::State, "sign-in took too long"));
    }
    let code = params
        .code
        .ok_or_else(|| refused(OidcProblem::ProviderError, "callback without code"))?;
    let asserted = verify(ctx, provider, code, &pending).await?;
    match pending.link_user_id {
        Some(user_id) => link(ctx, provider, &user_id, asserted).await,
        None => sign_in(ctx, provider, asserted, &pending.next).await,
    }
}

/// Exchanges the code (with the PKCE verifier) and verifies the ID token: signature with a
/// JWKS key and an asymmetric algorithm, issuer, audience, expiry and nonce.
async fn verify(
    ctx: &Ctx,
    provider: &Provider,
    code: String,
    pending: &OidcPending,
) -> Result<Asserted, Stop> {
    let http = ctx.state.oidc.http();
    let client = provider
        .client(http)
        .await
        .map_err(|cause| refused(OidcProblem::Unavailable, cause))?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| refused(OidcProblem::Unavailable, e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(http)
        .await
        .map_err(|e| refused(OidcProblem::ProviderError, format!("code exchange: {e}")))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| refused(OidcProblem::InvalidToken, "no id_token in the answer"))?;
    let clock = ctx.state.clock.clone();
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(ALLOWED_ALGS.iter().cloned())
        // Expiry is judged by Keyport's clock (which tests can move).
        .set_time_fn(move || {
            chrono::DateTime::from_timestamp_millis(clock.now()).unwrap_or_default()
        });
    let claims = id_token
        .claims(&verifier, &Nonce::new(pending.nonce.clone()))
        .map_err(|e| refused(OidcProblem::InvalidToken, format!("id_token: {e:?}")))?;
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.to_string())
        .or_else(|| claims.preferred_username().map(|u| u.to_string()));
    Ok(Asserted {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified(),
        name,
        role: provider.mapped_role(claims.additional_claims()),
    })
}

async fn sign_in(
    ctx: &Ctx,
    provider: &Provider,
    asserted: Asserted,
    next: &str,
) -> Result<String, Stop> {
    let db = &ctx.state.db;
    let user = match identities::find(db, &asserted.issuer, &asserted.subject).await? {
        Some(identity) => {
            identities::touch(db, &identity.id, asserted.email.as_deref(), ctx.now).await?;
            users::find_by_id(db, &identity.user_id)
                .await?
                .ok_or_else(|| AppError::internal("identity without a user"))?
        }
        None => provision(ctx, provider, &asserted).await?,
    };
    if user.status == UserStatus::Disabled {
        return Err(denied(OidcProblem::Disabled, "disabled", Some(&user)));
    }
    let user = reevaluate_role(ctx, provider, user, asserted.role).await?;
    // Accounts with MFA still owe their code: the sign-in code page comes next.
    let step = complete_primary_auth(ctx, &user, "oidc").await?;
    Ok(step.redirect(Some(next)))
}

/// Just-in-time provisioning under the admin's policy. Never matches an existing account
/// by email: whoever controls that address at the provider is not necessarily its owner here.
async fn provision(ctx: &Ctx, provider: &Provider, asserted: &Asserted) -> Result<UserRow, Stop> {
    let db = &ctx.state.db;
    let email = asserted
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| denied(OidcProblem::NoEmail, "no usable email claim", None))?;
    if asserted.email_verified == Some(false) {
        return Err(denied(
            OidcProblem::NoEmail,
            "email_verified is false",
            None,
        ));
    }
    match settings::jit_policy(db).await? {
        JitPolicy::Allow => {}
        JitPolicy::Existing => {
            return Err(denied(
                OidcProblem::NotAllowed,
                "policy: existing only",
                None,
            ))
        }
        JitPolicy::Domains => {
            let domain = email.as_str().rsplit('@').next().unwrap_or_default();
            if !settings::jit_domains(db).await?.iter().any(|d| d == domain) {
                return Err(denied(
                    OidcProblem::NotAllowed,
                    "policy: domain not listed",
                    None,
                ));
            }
        }
    }
    if let Some(existing) = users::find_by_email(db, &email).await? {
        return Err(denied(
            OidcProblem::AccountExists,
            "a local account has this email",
            Some(&existing),
        ));
    }
    let local_part = email.as_str().split('@').next().unwrap_or("user");
    let display_name = asserted
        .name
        .as_deref()
        .and_then(|n| DisplayName::parse(n).ok())
        .or_else(|| DisplayName::parse(local_part).ok())
        .ok_or_else(|| AppError::internal("no display name"))?;
    let user = users::create(
        db,
        NewUser {
            email: &email,
            display_name: &display_name,
            password_hash: None,
            role: asserted.role,
        },
        ctx.now,
    )
    .await?;
    let linked = identities::insert(
        db,
        &user.id,
        &asserted.issuer,
        &asserted.subject,
        Some(email.as_str()),
        ctx.now,
    )
    .await?;
    if linked.is_none() {
        // The same identity signed up a moment ago (two callbacks in flight).
        return Err(AppError::Conflict {
            message: "This identity was linked a moment ago.".into(),
        }
        .into());
    }
    ctx.audit(
        Event::new("auth.sign_up")
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(serde_json::json!({
                "method": "oidc",
                "provider": provider.config.id,
                "role": user.role,
            })),
    )
    .await?;
    Ok(user)
}

/// When the provider's configuration maps a claim to roles, the provider owns the role:
/// it is set again at every sign-in. The last active admin is never demoted this way.
async fn reevaluate_role(
    ctx: &Ctx,
    provider: &Provider,
    user: UserRow,
    mapped: Role,
) -> Result<UserRow, Stop> {
    if !provider.maps_roles() || user.role == mapped {
        return Ok(user);
    }
    let db = &ctx.state.db;
    let event = Event::new("user.role_change")
        .actor(&user.id, &user.email)
        .target("user", &user.id);
    let details = serde_json::json!({
        "email": user.email, "from": user.role, "to": mapped,
        "source": "oidc", "provider": provider.config.id,
    });
    if user.role == Role::Admin && users::count_active_admins(db).await? <= 1 {
        ctx.audit(
            event
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "change": details, "reason": "last active admin" })),
        )
        .await?;
        return Ok(user);
    }
    users::set_role(db, &user.id, mapped, ctx.now).await?;
    ctx.audit(event.details(details)).await?;
    Ok(UserRow {
        role: mapped,
        ..user
    })
}

/// Attaches the identity to the user who started the round trip (still signed in).
async fn link(
    ctx: &Ctx,
    provider: &Provider,
    user_id: &str,
    asserted: Asserted,
) -> Result<String, Stop> {
    let db = &ctx.state.db;
    if ctx.session.user_id().await?.as_deref() != Some(user_id) {
        return Err(refused(
            OidcProblem::SignInFirst,
            "signed out during the round trip",
        ));
    }
    let user = users::find_by_id(db, user_id)
        .await?
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(|| refused(OidcProblem::SignInFirst, "user gone or disabled"))?;
    let done = format!("/account?linked={}", provider.config.id);
    if let Some(identity) = identities::find(db, &asserted.issuer, &asserted.subject).await? {
        if identity.user_id == user.id {
            identities::touch(db, &identity.id, asserted.email.as_deref(), ctx.now).await?;
            return Ok(done);
        }
        return Err(denied(
            OidcProblem::IdentityTaken,
            "identity belongs to another user",
            Some(&user),
        ));
    }
    let Some(identity_id) = identities::insert(
        db,
        &user.id,
        &asserted.issuer,
        &asserted.subject,
        asserted.email.as_deref(),
        ctx.now,
    )
    .await?
    else {
        return Err(denied(
            OidcProblem::IdentityTaken,
            "identity linked concurrently",
            Some(&user),
        ));
    };
    ctx.audit(
        Event::new("identity.link")
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(serde_json::json!({
                "identity": identity_id,
                "provider": provider.config.id,
                "issuer": asserted.issuer,
                "subject": asserted.subject,
                "email": asserted.email,
            })),
    )
    .await?;
    Ok(done)
}
