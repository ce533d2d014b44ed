use crate::auth::password;
use crate::auth::users;
use crate::auth::CurrentUser;
use crate::domain::{DisplayName, Email, Password};
use crate::error::{AppError, FormErrors};
use crate::platform::audit::Event;
use crate::platform::session;
use crate::platform::Ctx;

/// Name and email; changing the email needs the current password.
pub async fn update_profile(
    ctx: &Ctx,
    user: &CurrentUser,
    display_name: &str,
    email: &str,
    current_password: &str,
) -> Result<(), AppError> {
    let mut errors = FormErrors::new();
    let name = errors.check("display_name", DisplayName::parse(display_name));
    let email = errors.check("email", Email::parse(email));
    let (name, email) = match (name, email) {
        (Some(n), Some(e)) if errors.is_empty() => (n, e),
        _ => return Err(errors.into_error()),
    };
    let email_changed = email.as_str() != user.email;
    if email_changed && !password::check_current(ctx, user, current_password).await? {
        return Err(AppError::field(
            "current_password",
            "Enter your current password to change your email address.",
        ));
    }
    users::update_profile(&ctx.state.db, &user.id, &name, &email, ctx.now).await?;
    ctx.audit(
        Event::new("account.profile_update")
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(
                serde_json::json!({ "email_changed": email_changed, "new_email": email.as_str() }),
            ),
    )
    .await
}

/// The zone usage charts are cut in: an IANA name (`Europe/Berlin`), or empty for the
/// browser's.
pub async fn update_time_zone(ctx: &Ctx, user: &CurrentUser, zone: &str) -> Result<(), AppError> {
    let zone = zone.trim();
    let zone = if zone.is_empty() {
        None
    } else {
        match zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz.name()),
            Err(_) => {
                return Err(AppError::field(
                    "time_zone",
                    "Not a time zone name. Use one like Europe/Berlin or America/New_York, or leave it empty.",
                ))
            }
        }
    };
    users::set_time_zone(&ctx.state.db, &user.id, zone, ctx.now).await?;
    ctx.audit(
        Event::new("account.time_zone_update")
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(serde_json::json!({ "time_zone": zone })),
    )
    .await
}

/// Needs the current password; signs out every other session of the user.
pub async fn change_password(
    ctx: &Ctx,
    user: &CurrentUser,
    current: &str,
    new: &str,
    confirm: &str,
) -> Result<(), AppError> {
    let mut errors = FormErrors::new();
    let new_password = errors.check("new_password", Password::parse(new, Some(&user.email)));
    if new != confirm {
        errors.add("confirm_password", "The two new passwords differ.");
    }
    let new_password = match new_password {
        Some(p) if errors.is_empty() => p,
        _ => return Err(errors.into_error()),
    };
    if !password::check_current(ctx, user, current).await? {
        ctx.audit(
            Event::new("account.password_change")
                .actor(&user.id, &user.email)
                .target("user", &user.id)
                .outcome(crate::domain::Outcome::Failure),
        )
        .await?;
        return Err(AppError::field(
            "current_password",
            "This is not your current password.",
        ));
    }
    let hash = password::hash(&new_password).await?;
    users::set_password_hash(&ctx.state.db, &user.id, &hash, ctx.now).await?;
    ctx.session.cycle().await?;
    let keep = ctx.session.id();
    let ended = session::delete_for_user(&ctx.state.db, &user.id, keep.as_deref()).await?;
    ctx.audit(
        Event::new("account.password_change")
            .actor(&user.id, &user.email)
            .target("user", &user.id)
            .details(serde_json::json!({ "other_sessions_ended": ended })),
    )
    .await
}
