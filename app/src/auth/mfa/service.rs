//! Second-factor flows: enrolment, verification (each TOTP step once, each recovery code
//! once, guesses throttled, everything audited), step-up, and the MFA policy.

use super::{store, totp};
use crate::auth::throttle;
use crate::auth::CurrentUser;
use crate::domain::{MfaPolicy, Outcome, Role};
use crate::error::AppError;
use crate::platform::audit::Event;
use crate::platform::Ctx;

/// Per account: 5 wrong codes in 15 minutes, then 30 s, 1 min, … up to 15 minutes.
const GUESSES: throttle::Policy = throttle::ACCOUNT;

/// What an enrolment shows: the QR code, the URI and the secret for manual entry.
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_png_base64: String,
}

pub async fn start_enrolment(ctx: &Ctx, user: &CurrentUser) -> Result<Enrolment, AppError> {
    let db = &ctx.state.db;
    let secret = totp::new_secret();
    let sealed = totp::encrypt(&ctx.state.secret_key, &user.id, &secret)?;
    if !store::put_pending(db, &user.id, &sealed, ctx.now).await? {
        return Err(AppError::Conflict {
            message:
                "Two-factor authentication is already on. Turn it off first to set up a new device."
                    .into(),
        });
    }
    let t = totp::totp(&secret, &user.email)?;
    Ok(Enrolment {
        secret_base32: t.secret().to_base32(),
        otpauth_uri: t.to_url().map_err(AppError::internal)?,
        qr_png_base64: t.to_qr_base64().map_err(AppError::internal)?,
    })
}

fn bad_code(message: &str) -> AppError {
    AppError::field("code", message)
}

/// Which factor a verification used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
        }
    }
}

/// Checks `input` against the user's TOTP (enabled or, with `pending`, awaiting its first
/// code) or, when `allow_recovery`, a recovery code. Audited as `mfa.verify` with `purpose`.
pub async fn verify(
    ctx: &Ctx,
    user_id: &str,
    email: &str,
    input: &str,
    purpose: &'static str,
    allow_recovery: bool,
) -> Result<Factor, AppError> {
    let db = &ctx.state.db;
    let key = format!("mfa:{user_id}");
    let event = |outcome: Outcome, details: serde_json::Value| {
        Event::new("mfa.verify")
            .actor(user_id, email)
            .target("user", user_id)
            .outcome(outcome)
            .details(details)
    };
    if input.trim().is_empty() {
        return Err(bad_code(
            "Enter the 6-digit code from your authenticator app.",
        ));
    }
    if let Err(e) = throttle::reserve(db, &key, GUESSES, ctx.now).await {
        ctx.audit(event(
            Outcome::Failure,
            serde_json::json!({ "purpose": purpose, "reason": "throttled" }),
        ))
        .await?;
        return Err(e);
    }
    let row = store::get(db, user_id)
        .await?
        .ok_or_else(|| AppError::NotAllowed {
            message: "Two-factor authentication is not set up for this account.".into(),
        })?;
    let pending = purpose == "enrol";
    if row.enabled_at.is_some() == pending {
        return Err(AppError::NotAllowed {
            message: "Two-factor authentication is not set up for this account.".into(),
        });
    }
    let outcome = if totp::is_totp_code(input) {
        let secret = totp::decrypt(&ctx.state.secret_key, user_id, &row.secret_enc)?;
        match totp::matching_step(&totp::totp(&secret, email)?, input, ctx.now) {
            Some(step) if store::claim_step(db, user_id, step).await? => Ok(Factor::Totp),
            Some(_) => Err("replayed"),
            None => Err("wrong_code"),
        }
    } else if allow_recovery {
        let digest = totp::recovery_digest(&ctx.state.secret_key, user_id, input);
        if store::use_recovery_code(db, user_id, &digest, ctx.now).await? {
            Ok(Factor::RecoveryCode)
        } else {
            Err("wrong_recovery_code")
        }
    } else {
        Err("wrong_code")
    };
    match outcome {
        Ok(factor) => {
            throttle::clear(db, &key).await?;
            ctx.audit(event(
                Outcome::Success,
                serde_json::json!({ "purpose": purpose, "factor": factor.as_str() }),
            ))
            .await?;
            Ok(factor)
        }
        Err(reason) => {
            ctx.audit(event(
                Outcome::Failure,
                serde_json::json!({ "purpose": purpose, "reason": reason }),
            ))
            .await?;
            Err(bad_code(match reason {
                "replayed" => "This code was used already. Wait for the next one.",
                "wrong_recovery_code" => "This recovery code is not valid or was used already.",
                _ => "That code is not valid. Check your device's time and try again.",
            }))
        }
    }
}

/// How long after signing in a session may add a second factor without the password.
pub const RECENT_SIGN_IN_MS: i64 = 15 * 60_000;

/// Adding a second factor adds a way to pass every future check: a session that signed in
/// longer ago than [`RECENT_SIGN_IN_MS`] (a laptop left open) must show the password again.
/// Accounts without a password sign in again instead.
async fn require_recent_sign_in(
    ctx: &Ctx,
    user: &CurrentUser,
    current_password: Option<&str>,
) -> Result<(), AppError> {
    let signed_in = ctx.session.signed_in_at().await?.unwrap_or(0);
    if ctx.now - signed_in <= RECENT_SIGN_IN_MS {
        return Ok(());
    }
    let has_password = crate::auth::users::find_by_id(&ctx.state.db, &user.id)
        .await?
        .is_some_and(|u| u.password_hash.is_some());
    if !has_password {
        return Err(AppError::NotAllowed {
            message:
                "Sign out and in again, then set up two-factor authentication within a few minutes."
                    .into(),
        });
    }
    match current_password.filter(|p| !p.is_empty()) {
        None => Err(AppError::field(
            "current_password",
            "Enter your password to confirm it's you (you signed in a while ago).",
        )),
        Some(given) if crate::auth::password::check_current(ctx, user, given).await? => Ok(()),
        Some(_) => Err(AppError::field(
            "current_password",
            "This is not your current password.",
        )),
    }
}

/// Turns MFA on with the first correct code; returns the recovery codes (shown once).
pub async fn confirm_enrolment(
    ctx: &Ctx,
    user: &CurrentUser,
    code: &str,
    current_password: Option<&str>,
) -> Result<Vec<String>, AppError> {
    require_recent_sign_in(ctx, user, current_password).await?;
    verify(ctx, &user.id, &user.email, code, "enrol", false).await?;
    store::enable(&ctx.state.db, &user.id, ctx.now).await?;
    let codes = new_recovery_codes(ctx, user).await?;
    ctx.session.mark_mfa(ctx.now).await?;
    ctx.audit(
        Event::new("mfa.enable")
            .actor(&user.id, &user.email)
            .target("user", &user.id),
    )
    .await?;
    Ok(codes)
}

async fn new_recovery_codes(ctx: &Ctx, user: &CurrentUser) -> Result<Vec<String>, AppError> {
    let codes = totp::new_recovery_codes();
    let digests: Vec<String> = codes
        .iter()
        .map(|c| totp::recovery_digest(&ctx.state.secret_key, &user.id, c))
        .collect();
    store::replace_recovery_codes(&ctx.state.db, &user.id, &digests, ctx.now).await?;
    Ok(codes)
}

pub async fn regenerate_recovery_codes(
    ctx: &Ctx,
    user: &CurrentUser,
) -> Result<Vec<String>, AppError> {
    let codes = new_recovery_codes(ctx, user).await?;
    ctx.audit(
        Event::new("mfa.recovery_codes_regenerate")
            .actor(&user.id, &user.email)
            .target("user", &user.id),
    )
    .await?;
    Ok(codes)
}

/// Turning MFA off needs a current code from the device (not a recovery code).
pub async fn disable(ctx: &Ctx, user: &CurrentUser, code: &str) -> Result<(), AppError> {
    verify(ctx, &user.id, &user.email, code, "disable", false).await?;
    store::delete(&ctx.state.db, &user.id).await?;
    ctx.audit(
        Event::new("mfa.disable")
            .actor(&user.id, &user.email)
            .target("user", &user.id),
    )
    .await
}

/// Proves presence again for sensitive actions; a new session id follows.
pub async fn step_up(ctx: &Ctx, user: &CurrentUser, code: &str) -> Result<(), AppError> {
    let factor = verify(ctx, &user.id, &user.email, code, "step_up", true).await?;
    ctx.session.mark_mfa(ctx.now).await?;
    ctx.audit(
        Event::new("mfa.step_up")
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(serde_json::json!({ "factor": factor.as_str() })),
    )
    .await
}

/// Whether the portal's MFA policy asks `role` to enrol.
pub fn policy_requires(policy: MfaPolicy, role: Role) -> bool {
    match policy {
        MfaPolicy::Optional => false,
        MfaPolicy::Privileged => matches!(role, Role::Admin | Role::Publisher),
        MfaPolicy::Everyone => true,
    }
}

/// How many unused recovery codes `user_id` has left.
pub async fn recovery_codes_left(
    db: &crate::platform::state::Db,
    user_id: &str,
) -> Result<i64, AppError> {
    super::store::recovery_codes_left(db, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_covers_the_right_roles() {
        assert!(!policy_requires(MfaPolicy::Optional, Role::Admin));
        assert!(policy_requires(MfaPolicy::Privileged, Role::Admin));
        assert!(policy_requires(MfaPolicy::Privileged, Role::Publisher));
        assert!(!policy_requires(MfaPolicy::Privileged, Role::Developer));
        assert!(policy_requires(MfaPolicy::Everyone, Role::Developer));
    }
}
