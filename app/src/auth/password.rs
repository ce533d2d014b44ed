//! Argon2id password hashing, run off the async executor, and the current-password check
//! that sensitive account changes ask for (throttled like sign-in).

use crate::domain::Password;
use crate::error::AppError;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Hashes with Argon2id and the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's minimum).
pub async fn hash(password: &Password) -> Result<String, AppError> {
    let password = password.expose().to_string();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(AppError::internal)?
}

pub fn hash_blocking(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

/// Whether `password` matches `stored`. Always does the full Argon2 work.
pub async fn verify(stored: &str, password: &str) -> Result<bool, AppError> {
    let stored = stored.to_string();
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored).map_err(AppError::internal)?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(AppError::internal)?
}

/// Whether `given` is the user's current password. Each check is reserved against the
/// account's sign-in allowance first, so it is no side door for guessing; a match clears it.
/// An account without a password (identity provider only) never matches.
pub async fn check_current(
    ctx: &crate::platform::Ctx,
    user: &super::CurrentUser,
    given: &str,
) -> Result<bool, AppError> {
    let db = &ctx.state.db;
    let key = format!("account:{}", user.email);
    super::throttle::reserve(db, &key, super::throttle::ACCOUNT, ctx.now).await?;
    let stored = crate::auth::users::find_by_id(db, &user.id)
        .await?
        .and_then(|u| u.password_hash);
    let matches = match stored {
        Some(hash) => verify(&hash, given).await?,
        None => false,
    };
    if matches {
        super::throttle::clear(db, &key).await?;
    }
    Ok(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let p = Password::parse("correct horse battery staple", None).unwrap();
        let a = hash(&p).await.unwrap();
        let b = hash(&p).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify(&a, p.expose()).await.unwrap());
        assert!(!verify(&a, "wrong horse battery staple").await.unwrap());
    }
}
