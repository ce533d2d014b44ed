//! The browser round trip: `start` sends the browser to the provider (PKCE S256, `state`,
//! `nonce` kept in the session); `callback` checks what comes back, exchanges the code,
//! verifies the ID token, reads userinfo when the provider has it, and signs the user in
//! (or links the identity to the signed-in user). Both answer with where the browser goes
//! next, never with an error page: a refusal is audited and becomes `?error=<code>` on the
//! sign-in or account page.

use super::{store as identities, OidcProblem};
use crate::auth::safe_next;
use crate::auth::service::complete_primary_auth;
use crate::auth::users::{self, NewUser, UserRow};
use crate::domain::{DisplayName, Email, JitPolicy, Outcome, Role, UserStatus};
use crate::error::AppError;
use crate::platform::audit::Event;
use crate::platform::oidc::{OidcClient, OtherClaims, Provider, ALLOWED_ALGS};
use crate::platform::session::OidcPending;
use crate::platform::settings;
use crate::platform::state::constant_time_eq;
use crate::platform::Ctx;
use openidconnect::core::{CoreAuthenticationFlow, CoreGenderClaim};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, CsrfToken, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, Scope, SubjectIdentifier,
    TokenResponse as _, UserInfoClaims, UserInfoError,
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
    // A new way into the account, as sensitive as a role change: a stale session (a laptop
    // left open) must not add the attacker's identity.
    if let Some(user_id) = &link_user_id {
        let mfa_enabled = crate::auth::mfa::store::is_enabled(&ctx.state.db, user_id).await?;
        match crate::auth::guard::check_recent_mfa(&ctx.state, &ctx.session, mfa_enabled).await {
            Ok(()) => {}
            Err(AppError::MfaRequired) => {
                return Err(refused(
                    OidcProblem::StepUpRequired,
                    "link without a recent second factor",
                ))
            }
            Err(AppError::MfaEnrolmentRequired) => {
                return Err(refused(
                    OidcProblem::MfaFirst,
                    "link without two-factor authentication",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
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

/// What the provider says about the user: its verified ID token, completed by userinfo.
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

/// The claims Keyport reads, as one source (the ID token or userinfo) gives them.
#[derive(Debug)]
struct Profile {
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    username: Option<String>,
    /// The rest, where the role claim is.
    other: OtherClaims,
}

impl Profile {
    /// The ID token's claims (`self`) completed by userinfo's. Where both say something the
    /// ID token's word stands (it is what the provider signed for this sign-in); userinfo
    /// fills what it leaves out, as providers that keep scope claims out of ID tokens
    /// expect. The email and its `email_verified` come from one source, so an address is
    /// never taken as verified on the strength of another one.
    fn completed_by(mut self, userinfo: Profile) -> Profile {
        match (&self.email, &userinfo.email) {
            (None, _) => {
                self.email = userinfo.email;
                self.email_verified = userinfo.email_verified;
            }
            (Some(mine), Some(theirs)) if mine == theirs && self.email_verified.is_none() => {
                self.email_verified = userinfo.email_verified;
            }
            _ => {}
        }
        self.name = self.name.or(userinfo.name);
        self.username = self.username.or(userinfo.username);
        for (claim, value) in userinfo.other.claims {
            self.other.claims.entry(claim).or_insert(value);
        }
        self
    }
}

/// An error and its causes on one line (the library's top-level messages are terse).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Userinfo's claims when the provider has the endpoint; `None` when it has not (the ID
/// token is then all there is). The answer (JSON, or a JWT the library verifies with the
/// provider's keys — RS256 only, the library's rule for signed userinfo) counts only when
/// its `sub` is the ID token's, as OIDC Core §5.3.2 requires: another subject means a
/// mixed-up or substituted token, and is refused rather than ignored.
async fn userinfo(
    client: &OidcClient,
    http: &openidconnect::reqwest::Client,
    access_token: AccessToken,
    subject: &SubjectIdentifier,
) -> Result<Option<Profile>, Stop> {
    let Ok(request) = client.user_info(access_token, Some(subject.clone())) else {
        return Ok(None);
    };
    let info: UserInfoClaims<OtherClaims, CoreGenderClaim> =
        request.request_async(http).await.map_err(|e| {
            let (problem, reason) = match &e {
                UserInfoError::ClaimsVerification(ClaimsVerificationError::InvalidSubject(m)) => (
                    OidcProblem::UserInfoMismatch,
                    format!("userinfo is about another subject: {m}"),
                ),
                UserInfoError::ClaimsVerification(v) => {
                    (OidcProblem::InvalidToken, format!("userinfo: {v:?}"))
                }
                UserInfoError::Request(_) => (
                    OidcProblem::Unavailable,
                    format!("userinfo: {}", with_causes(&e)),
                ),
                // The body is not logged: it is the provider's, of unknown content and size.
                UserInfoError::Response(status, _, m) => (
                    OidcProblem::ProviderError,
                    format!("userinfo: HTTP {status}: {m}"),
                ),
                _ => (
                    OidcProblem::ProviderError,
                    format!("userinfo: {}", with_causes(&e)),
                ),
            };
            refused(problem, reason)
        })?;
    // The library compares already; checked here too so that no change there can merge
    // another user's claims.
    if info.subject() != subject {
        return Err(refused(
            OidcProblem::UserInfoMismatch,
            format!(
                "userinfo is about another subject: expected `{}` (found `{}`)",
                subject.as_str(),
                info.subject().as_str()
            ),
        ));
    }
    Ok(Some(Profile {
        email: info.email().map(|e| e.to_string()),
        email_verified: info.email_verified(),
        name: info.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
        username: info.preferred_username().map(|u| u.to_string()),
        other: info.additional_claims().clone(),
    }))
}

/// Exchanges the code (with the PKCE verifier), verifies the ID token (signature with a
/// JWKS key and an asymmetric algorithm, issuer, audience, expiry and nonce) and completes
/// its claims with userinfo's.
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
    let mut profile = Profile {
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified(),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        username: claims.preferred_username().map(|u| u.to_string()),
        other: claims.additional_claims().clone(),
    };
    if let Some(info) = userinfo(
        &client,
        http,
        token.access_token().clone(),
        claims.subject(),
    )
    .await?
    {
        profile = profile.completed_by(info);
    }
    Ok(Asserted {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        email: profile.email,
        email_verified: profile.email_verified,
        name: profile.name.or(profile.username),
        role: provider.mapped_role(&profile.other),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> Profile {
        let text = |k: &str| v[k].as_str().map(str::to_string);
        Profile {
            email: text("email"),
            email_verified: v["email_verified"].as_bool(),
            name: text("name"),
            username: text("preferred_username"),
            other: serde_json::from_value(v["other"].clone()).unwrap_or_default(),
        }
    }

    #[test]
    fn userinfo_fills_what_the_id_token_leaves_out() {
        let merged = profile(serde_json::json!({ "other": { "sid": "s1" } })).completed_by(
            profile(serde_json::json!({
                "email": "a@corp.example", "email_verified": true, "name": "A",
                "preferred_username": "a", "other": { "groups": "x y" },
            })),
        );
        assert_eq!(merged.email.as_deref(), Some("a@corp.example"));
        assert_eq!(merged.email_verified, Some(true));
        assert_eq!(merged.name.as_deref(), Some("A"));
        assert_eq!(merged.username.as_deref(), Some("a"));
        assert_eq!(merged.other.claims["groups"], "x y");
        assert_eq!(merged.other.claims["sid"], "s1");
    }

    #[test]
    fn the_id_token_wins_and_an_email_keeps_its_own_verification() {
        let id_token = || {
            profile(serde_json::json!({
                "email": "a@corp.example", "name": "From the ID token",
                "other": { "groups": [] },
            }))
        };
        let merged = id_token().completed_by(profile(serde_json::json!({
            "email": "b@corp.example", "email_verified": true, "name": "From userinfo",
            "other": { "groups": ["admins"] },
        })));
        assert_eq!(merged.email.as_deref(), Some("a@corp.example"));
        assert_eq!(
            merged.email_verified, None,
            "b's verification says nothing about a"
        );
        assert_eq!(merged.name.as_deref(), Some("From the ID token"));
        assert_eq!(merged.other.claims["groups"], serde_json::json!([]));
        // The same address: userinfo's verdict on it counts.
        let merged = id_token().completed_by(profile(serde_json::json!({
            "email": "a@corp.example", "email_verified": false,
        })));
        assert_eq!(merged.email_verified, Some(false));
        // Without userinfo's email, the ID token's pair stays as it is.
        let merged = id_token().completed_by(profile(serde_json::json!({
            "email_verified": false,
        })));
        assert_eq!(merged.email_verified, None);
    }
}
