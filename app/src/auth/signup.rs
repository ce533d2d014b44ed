//! Open sign-up confirms the address before an account exists. Whatever the address, the
//! answer is the same ("check your inbox") and takes the same work (a password hash and a
//! mail sent in the background): a new address gets a link that creates the account, an
//! address that has one already gets a note saying so. Nobody learns from the portal which
//! addresses have accounts.

use super::throttle;
use crate::domain::{DisplayName, Email};
use crate::error::AppError;
use crate::platform::mail::Mail;
use crate::platform::state::{new_id, new_token, token_digest, Db};
use crate::platform::Ctx;

/// How long a sign-up link works.
pub const LINK_MS: i64 = 24 * 3_600_000;

/// Notes to an address that has an account: at most this many an hour.
const NOTES_TO_AN_ACCOUNT: throttle::Policy = throttle::Policy {
    max_attempts: 3,
    window_ms: 60 * 60_000,
    base_lock_ms: 60 * 60_000,
    max_lock_ms: 60 * 60_000,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
}

/// Stores a request for `email` (replacing any earlier one) and returns its token.
async fn insert(
    db: &Db,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
    now: i64,
) -> Result<String, AppError> {
    let (token, digest) = new_token(32);
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM signup_requests WHERE email = $1 OR expires_at <= $2")
        .bind(email.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO signup_requests (id, email, display_name, password_hash, token_digest, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(email.as_str())
    .bind(name.as_str())
    .bind(password_hash)
    .bind(digest)
    .bind(now)
    .bind(now + LINK_MS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The live request a link's token belongs to.
pub async fn find(db: &Db, token: &str, now: i64) -> Result<Option<RequestRow>, AppError> {
    Ok(sqlx::query_as::<_, RequestRow>(
        "SELECT id, email, display_name, password_hash FROM signup_requests \
         WHERE token_digest = $1 AND expires_at > $2",
    )
    .bind(token_digest(token))
    .bind(now)
    .fetch_optional(db)
    .await?)
}

/// Uses a request up; false when another tab used it first.
pub async fn take(db: &Db, id: &str) -> Result<bool, AppError> {
    let done = sqlx::query("DELETE FROM signup_requests WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sends `mail` when SMTP is configured; otherwise writes it to the log, so a portal
/// without mail (a developer's machine) can still finish a sign-up.
fn deliver(ctx: &Ctx, mail: Mail) {
    match &ctx.state.mailer {
        Some(mailer) => mailer.send_later(mail),
        None => tracing::warn!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.body,
            "KEYPORT_SMTP_URL is not set: this sign-up email was not sent"
        ),
    }
}

/// The open sign-up of an address: a link for a new one, a note for one with an account.
pub async fn request(
    ctx: &Ctx,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
) -> Result<(), AppError> {
    let db = &ctx.state.db;
    let base = ctx.state.config.base_url();
    if crate::auth::users::find_by_email(db, email)
        .await?
        .is_some()
    {
        // Reserved quietly: past the allowance the note is simply not sent again.
        let key = format!("sign-up-note:{email}");
        if throttle::reserve(db, &key, NOTES_TO_AN_ACCOUNT, ctx.now)
            .await
            .is_ok()
        {
            deliver(
                ctx,
                Mail {
                    to: email.to_string(),
                    subject: "You already have a Keyport account".into(),
                    body: format!(
                        "Someone, probably you, asked to create a Keyport account for this address, \
                         which has one already. Sign in at {base}/sign-in instead.\n\n\
                         If it was not you, nothing changed and you can ignore this email.\n"
                    ),
                },
            );
        }
        return Ok(());
    }
    let token = insert(db, email, name, password_hash, ctx.now).await?;
    deliver(
        ctx,
        Mail {
            to: email.to_string(),
            subject: "Confirm your email to create your Keyport account".into(),
            body: format!(
                "Hello {name},\n\nOpen this link to create your Keyport account (it works for 24 hours):\n\n\
                 {base}/sign-up/confirm?token={token}\n\n\
                 If you did not ask for an account, ignore this email: nothing is created without it.\n",
                name = name.as_str()
            ),
        },
    );
    Ok(())
}
