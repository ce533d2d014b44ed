//! The sign-in, sign-up and setup flows behind the auth server functions.

use super::{password, throttle};
use crate::auth::users::{self, NewUser, UserRow};
use crate::domain::{DisplayName, Email, Outcome, Password, Role, SignupMode, UserStatus};
use crate::error::{AppError, FormErrors};
use crate::platform::audit::Event;
use crate::platform::settings;
use crate::platform::Ctx;

/// Checks email and password; one answer ("invalid email or password"), in the same time,
/// whether or not the account exists. Failures count against the account and the client IP.
pub async fn sign_in(
    ctx: &Ctx,
    email: &str,
    password_input: &str,
) -> Result<(UserRow, SignInStep), AppError> {
    let db = &ctx.state.db;
    let mut errors = FormErrors::new();
    let email = errors.check("email", Email::parse(email));
    if password_input.is_empty() {
        errors.add("password", "Enter your password.");
    }
    let email = match email {
        Some(email) if errors.is_empty() => email,
        _ => return Err(errors.into_error()),
    };
    let failed = |reason: &'static str| {
        Event::new("auth.sign_in")
            .outcome(Outcome::Failure)
            .details(serde_json::json!({ "email": email.as_str(), "reason": reason }))
    };

    // Both attempts are reserved before the password is checked (a parallel burst gets
    // the allowance, not more); a refused one gives back what it reserved.
    let account_key = format!("account:{email}");
    let ip_key = ctx.client.ip.map(|ip| format!("ip:{ip}"));
    let mut throttled = throttle::reserve(db, &account_key, throttle::ACCOUNT, ctx.now).await;
    if let (Ok(()), Some(key)) = (&throttled, &ip_key) {
        throttled = throttle::reserve(db, key, throttle::CLIENT_IP, ctx.now).await;
        if throttled.is_err() {
            throttle::release(db, &account_key).await?;
        }
    }
    if let Err(e) = throttled {
        ctx.audit(failed("throttled")).await?;
        return Err(e);
    }

    let user = users::find_by_email(db, &email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let matches = password::verify(stored.unwrap_or(&ctx.state.dummy_hash), password_input).await?
        && stored.is_some();
    let user = match user {
        Some(user) if matches => user,
        _ => {
            ctx.audit(failed("invalid_credentials")).await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    throttle::clear(db, &account_key).await?;
    if let Some(key) = &ip_key {
        throttle::release(db, key).await?;
    }
    if user.status == UserStatus::Disabled {
        ctx.audit(failed("disabled").target("user", &user.id))
            .await?;
        return Err(AppError::NotAllowed {
            message: "This account is disabled. Ask an administrator to enable it.".into(),
        });
    }
    let step = complete_primary_auth(ctx, &user, "password").await?;
    Ok((user, step))
}

/// Where a sign-in goes after its first factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInStep {
    Done,
    /// The account has MFA: the code page comes next.
    NeedsCode,
}

impl SignInStep {
    pub fn redirect(self, next: Option<&str>) -> String {
        let next = super::safe_next(next);
        match self {
            SignInStep::Done => next,
            SignInStep::NeedsCode => {
                format!("/sign-in/mfa?next={}", crate::components::urlencode(&next))
            }
        }
    }
}

/// Called once a user has proven who they are with a first factor (password, or an identity
/// provider): signs them in. `method` names the factor for the audit log.
pub async fn complete_primary_auth(
    ctx: &Ctx,
    user: &UserRow,
    method: &'static str,
) -> Result<SignInStep, AppError> {
    if crate::auth::mfa::store::is_enabled(&ctx.state.db, &user.id).await? {
        ctx.session.begin_pending(&user.id, method, ctx.now).await?;
        ctx.audit(
            Event::new("auth.first_factor")
                .actor(&user.id, &user.email)
                .target("user", &user.id)
                .details(serde_json::json!({ "method": method })),
        )
        .await?;
        return Ok(SignInStep::NeedsCode);
    }
    start_session(ctx, user, "auth.sign_in", method).await?;
    Ok(SignInStep::Done)
}

/// The code step of a sign-in: a TOTP code or a recovery code for the pending user.
pub async fn complete_second_factor(ctx: &Ctx, code: &str) -> Result<UserRow, AppError> {
    let expired = || AppError::NotAllowed {
        message: "Your sign-in took too long. Sign in again.".into(),
    };
    let (user_id, first) = ctx
        .session
        .pending_user(ctx.now)
        .await?
        .ok_or_else(expired)?;
    let user = users::find_by_id(&ctx.state.db, &user_id)
        .await?
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(expired)?;
    let factor =
        crate::auth::mfa::service::verify(ctx, &user.id, &user.email, code, "sign_in", true)
            .await?;
    let method = format!("{first}+{}", factor.as_str());
    start_session(ctx, &user, "auth.sign_in", &method).await?;
    ctx.session.mark_mfa(ctx.now).await?;
    Ok(user)
}

async fn start_session(
    ctx: &Ctx,
    user: &UserRow,
    action: &'static str,
    method: &str,
) -> Result<(), AppError> {
    ctx.session.begin(&user.id, &ctx.client, ctx.now).await?;
    users::touch_sign_in(&ctx.state.db, &user.id, ctx.now).await?;
    ctx.audit(
        Event::new(action)
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(serde_json::json!({ "method": method })),
    )
    .await
}

pub async fn sign_out(ctx: &Ctx) -> Result<(), AppError> {
    let Some(user_id) = ctx.session.user_id().await? else {
        return Ok(());
    };
    let user = users::find_by_id(&ctx.state.db, &user_id).await?;
    ctx.session.end().await?;
    if let Some(user) = user {
        ctx.audit(
            Event::new("auth.sign_out")
                .actor(&user.id, &user.email)
                .target("user", &user.id),
        )
        .await?;
    }
    Ok(())
}

pub async fn signup_context(
    ctx: &Ctx,
    invite: Option<&str>,
) -> Result<super::SignupContext, AppError> {
    let mode = settings::signup_mode(&ctx.state.db).await?;
    let invitation = match invite.filter(|t| !t.is_empty()) {
        Some(token) => Some(settings::find_invitation(&ctx.state.db, token, ctx.now).await?),
        None => None,
    };
    Ok(super::SignupContext {
        mode,
        invited_email: invitation.clone().flatten().map(|i| i.email),
        invitation_invalid: matches!(invitation, Some(None)),
    })
}

pub struct SignUpForm<'a> {
    pub display_name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub invite: Option<&'a str>,
}

struct ValidSignUp {
    display_name: DisplayName,
    email: Email,
    password: Password,
}

fn parse_sign_up(form: &SignUpForm<'_>) -> Result<ValidSignUp, AppError> {
    let mut errors = FormErrors::new();
    let display_name = errors.check("display_name", DisplayName::parse(form.display_name));
    let email = errors.check("email", Email::parse(form.email));
    let password = errors.check("password", Password::parse(form.password, Some(form.email)));
    match (display_name, email, password) {
        (Some(display_name), Some(email), Some(password)) if errors.is_empty() => Ok(ValidSignUp {
            display_name,
            email,
            password,
        }),
        _ => Err(errors.into_error()),
    }
}

/// How a sign-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedUp {
    /// An invitation: the account exists and is signed in.
    SignedIn,
    /// Open sign-up: a link (or, for an address with an account, a note) is on its way.
    CheckEmail,
}

/// Signs up. An invitation (valid in every mode) fixes the email and the role and creates
/// the account at once: its link proves the address. Open mode sends a link first (see
/// [`super::signup`]) and answers the same whether or not the address has an account.
/// Sign-ups are limited per client address.
pub async fn sign_up(ctx: &Ctx, form: SignUpForm<'_>) -> Result<SignedUp, AppError> {
    let db = &ctx.state.db;
    let invitation = match form.invite {
        Some(token) => Some(
            settings::find_invitation(db, token, ctx.now)
                .await?
                .ok_or_else(|| AppError::NotAllowed {
                    message: "This invitation link is invalid, used or expired. Ask for a new one."
                        .into(),
                })?,
        ),
        None => None,
    };
    if invitation.is_none() {
        match settings::signup_mode(db).await? {
            SignupMode::Open => {}
            SignupMode::InviteOnly => {
                return Err(AppError::NotAllowed {
                    message:
                        "Sign-up needs an invitation. Ask an administrator for an invitation link."
                            .into(),
                })
            }
            SignupMode::Closed => {
                return Err(AppError::NotAllowed {
                    message: "Sign-up is closed. Ask an administrator to create your account."
                        .into(),
                })
            }
        }
    }
    let valid = parse_sign_up(&form)?;
    if let Some(ip) = ctx.client.ip {
        throttle::reserve(db, &format!("sign-up:{ip}"), throttle::SIGN_UPS, ctx.now).await?;
    }
    let hash = password::hash(&valid.password).await?;
    let Some(inv) = invitation else {
        super::signup::request(ctx, &valid.email, &valid.display_name, &hash).await?;
        ctx.audit(
            Event::new("auth.sign_up_requested")
                .details(serde_json::json!({ "email": valid.email.as_str() })),
        )
        .await?;
        return Ok(SignedUp::CheckEmail);
    };
    if inv.email != valid.email.as_str() {
        return Err(AppError::field(
            "email",
            "Use the email address the invitation was sent to.",
        ));
    }
    let user = users::create(
        db,
        NewUser {
            email: &valid.email,
            display_name: &valid.display_name,
            password_hash: Some(&hash),
            role: inv.role,
        },
        ctx.now,
    )
    .await?;
    if !settings::accept_invitation(db, &inv.id, &user.id, ctx.now).await? {
        return Err(AppError::Conflict {
            message: "This invitation was used a moment ago.".into(),
        });
    }
    start_session(ctx, &user, "auth.sign_up", "password").await?;
    Ok(SignedUp::SignedIn)
}

/// Creates the account an open sign-up's link stands for, and signs it in.
pub async fn confirm_sign_up(ctx: &Ctx, token: &str) -> Result<UserRow, AppError> {
    let db = &ctx.state.db;
    let gone = || AppError::NotAllowed {
        message: "This sign-up link is invalid, used or expired. Sign up again for a new one."
            .into(),
    };
    let request = super::signup::find(db, token, ctx.now)
        .await?
        .ok_or_else(gone)?;
    if !super::signup::take(db, &request.id).await? {
        return Err(gone());
    }
    let (email, name) = (
        Email::parse(&request.email).map_err(AppError::internal)?,
        DisplayName::parse(&request.display_name).map_err(AppError::internal)?,
    );
    let user = users::create(
        db,
        NewUser {
            email: &email,
            display_name: &name,
            password_hash: Some(&request.password_hash),
            role: Role::Developer,
        },
        ctx.now,
    )
    .await
    .map_err(|e| match e {
        // Signed up meanwhile by another way (an invitation, an identity provider).
        AppError::Validation { .. } => AppError::Conflict {
            message: "An account with this email exists already: sign in.".into(),
        },
        other => other,
    })?;
    start_session(ctx, &user, "auth.sign_up", "password").await?;
    Ok(user)
}

/// A setup link works only while no active admin exists.
pub async fn setup_open(ctx: &Ctx, token: &str) -> Result<bool, AppError> {
    Ok(users::count_active_admins(&ctx.state.db).await? == 0
        && settings::setup_token_valid(&ctx.state.db, token, ctx.now).await?)
}

/// Creates the first admin from a one-time setup link.
pub async fn complete_setup(
    ctx: &Ctx,
    token: &str,
    form: SignUpForm<'_>,
) -> Result<UserRow, AppError> {
    if !setup_open(ctx, token).await? {
        ctx.audit(Event::new("auth.setup_admin").outcome(Outcome::Denied))
            .await?;
        return Err(AppError::NotAllowed {
            message: "This setup link is invalid, used or expired. Run `keyport setup-link` for a new one.".into(),
        });
    }
    let valid = parse_sign_up(&form)?;
    let hash = password::hash(&valid.password).await?;
    let user = users::create(
        &ctx.state.db,
        NewUser {
            email: &valid.email,
            display_name: &valid.display_name,
            password_hash: Some(&hash),
            role: Role::Admin,
        },
        ctx.now,
    )
    .await?;
    settings::clear_setup_token(&ctx.state.db).await?;
    start_session(ctx, &user, "auth.setup_admin", "password").await?;
    Ok(user)
}
