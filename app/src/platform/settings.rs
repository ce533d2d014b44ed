//! Portal settings (a key/value table) and invitations.

use crate::domain::{Email, JitPolicy, MfaPolicy, Role, SignupMode};
use crate::error::AppError;
use crate::platform::state::{new_id, new_token, token_digest, Db};

const SIGNUP_MODE: &str = "signup_mode";
const MFA_POLICY: &str = "mfa_policy";
const SETUP_TOKEN: &str = "setup_token";

/// An invitation link lives this long.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// A first-run setup link lives this long.
pub const SETUP_TTL_MS: i64 = 24 * 3600 * 1000;

pub(crate) async fn get(db: &Db, key: &str) -> Result<Option<String>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(db)
            .await?,
    )
}

pub(crate) async fn put(
    db: &Db,
    key: &str,
    value: &str,
    by: Option<&str>,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}

/// Sign-up is open until an admin says otherwise: a developer portal exists to let
/// developers in, and a new account can do nothing but browse and ask for access.
pub async fn signup_mode(db: &Db) -> Result<SignupMode, AppError> {
    Ok(get(db, SIGNUP_MODE)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(SignupMode::Open))
}

pub async fn set_signup_mode(
    db: &Db,
    mode: SignupMode,
    by: &str,
    now: i64,
) -> Result<(), AppError> {
    put(db, SIGNUP_MODE, mode.as_str(), Some(by), now).await
}

pub async fn mfa_policy(db: &Db) -> Result<MfaPolicy, AppError> {
    Ok(get(db, MFA_POLICY)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(MfaPolicy::Optional))
}

pub async fn set_mfa_policy(
    db: &Db,
    policy: MfaPolicy,
    by: &str,
    now: i64,
) -> Result<(), AppError> {
    put(db, MFA_POLICY, policy.as_str(), Some(by), now).await
}

/// Makes a new one-time setup token (replacing any earlier one) and returns it.
pub async fn new_setup_token(db: &Db, now: i64) -> Result<String, AppError> {
    let (token, digest) = new_token(32);
    let value = serde_json::json!({ "digest": digest, "expires_at": now + SETUP_TTL_MS });
    put(db, SETUP_TOKEN, &value.to_string(), None, now).await?;
    Ok(token)
}

/// Whether `token` is the live setup token.
pub async fn setup_token_valid(db: &Db, token: &str, now: i64) -> Result<bool, AppError> {
    let Some(value) = get(db, SETUP_TOKEN).await? else {
        return Ok(false);
    };
    let value: serde_json::Value = serde_json::from_str(&value).map_err(AppError::internal)?;
    let digest = value["digest"].as_str().unwrap_or_default();
    let expires_at = value["expires_at"].as_i64().unwrap_or(0);
    Ok(expires_at > now && crate::platform::state::constant_time_eq(digest, &token_digest(token)))
}

pub async fn clear_setup_token(db: &Db) -> Result<(), AppError> {
    sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(SETUP_TOKEN)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Creates an invitation and returns it with its one-time token.
pub async fn create_invitation(
    db: &Db,
    email: &Email,
    role: Role,
    by: &str,
    now: i64,
) -> Result<(InvitationRow, String), AppError> {
    let (token, digest) = new_token(32);
    let row = InvitationRow {
        id: new_id(),
        email: email.as_str().to_string(),
        role,
        created_at: now,
        expires_at: now + INVITATION_TTL_MS,
    };
    sqlx::query(
        "INSERT INTO invitations (id, email, role, token_digest, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.id)
    .bind(&row.email)
    .bind(role.as_str())
    .bind(digest)
    .bind(by)
    .bind(now)
    .bind(row.expires_at)
    .execute(db)
    .await?;
    Ok((row, token))
}

/// The open invitation a token belongs to (not accepted, not expired).
pub async fn find_invitation(
    db: &Db,
    token: &str,
    now: i64,
) -> Result<Option<InvitationRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, email, role, created_at, expires_at FROM invitations \
         WHERE token_digest = $1 AND accepted_at IS NULL AND expires_at > $2",
    )
    .bind(token_digest(token))
    .bind(now)
    .fetch_optional(db)
    .await?)
}

/// Marks an invitation used; false when someone else used it first.
pub async fn accept_invitation(
    db: &Db,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE invitations SET accepted_at = $1, accepted_user_id = $2 WHERE id = $3 AND accepted_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn pending_invitations(db: &Db, now: i64) -> Result<Vec<InvitationRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, email, role, created_at, expires_at FROM invitations \
         WHERE accepted_at IS NULL AND expires_at > $1 ORDER BY created_at DESC LIMIT 200",
    )
    .bind(now)
    .fetch_all(db)
    .await?)
}

pub async fn delete_invitation(db: &Db, id: &str) -> Result<bool, AppError> {
    let done = sqlx::query("DELETE FROM invitations WHERE id = $1 AND accepted_at IS NULL")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

const OIDC_JIT_POLICY: &str = "oidc_jit_policy";
const OIDC_JIT_DOMAINS: &str = "oidc_jit_domains";

/// Who gets an account at their first identity-provider sign-in. `allow` by default, as
/// for sign-up: the provider already decides who may authenticate.
pub async fn jit_policy(db: &Db) -> Result<JitPolicy, AppError> {
    Ok(get(db, OIDC_JIT_POLICY)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(JitPolicy::Allow))
}

/// The email domains the `domains` policy lets in (lower-case, exact match).
pub async fn jit_domains(db: &Db) -> Result<Vec<String>, AppError> {
    Ok(get(db, OIDC_JIT_DOMAINS)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

pub async fn set_jit(
    db: &Db,
    policy: JitPolicy,
    domains: &[String],
    by: &str,
    now: i64,
) -> Result<(), AppError> {
    let domains = serde_json::to_string(domains).map_err(AppError::internal)?;
    put(db, OIDC_JIT_POLICY, policy.as_str(), Some(by), now).await?;
    put(db, OIDC_JIT_DOMAINS, &domains, Some(by), now).await
}
