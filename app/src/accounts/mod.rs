//! A user's own account: profile (name, email) and password.

pub mod sign_in_methods;

use crate::auth::whoami;
use crate::components::{
    action_error, field_errors, ErrorView, Field, FormError, Loading, Notice, PageTitle,
    PasswordField,
};
use crate::domain::PASSWORD_MIN_CHARS;
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod service {
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
                .details(serde_json::json!({ "email_changed": email_changed, "new_email": email.as_str() })),
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
}

#[server(prefix = "/api", endpoint = "update_profile")]
pub async fn update_profile(
    display_name: String,
    email: String,
    current_password: Option<String>,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::update_profile(
        &ctx,
        &user,
        &display_name,
        &email,
        current_password.as_deref().unwrap_or(""),
    )
    .await
}

#[server(prefix = "/api", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::change_password(
        &ctx,
        &user,
        &current_password,
        &new_password,
        &confirm_password,
    )
    .await
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let profile = ServerAction::<UpdateProfile>::new();
    let password = ServerAction::<ChangePassword>::new();
    let me = Resource::new(move || profile.version().get(), |_| whoami());
    view! {
        <PageTitle text="Your account · Keyport" />
        <div class="mx-auto max-w-2xl space-y-8">
            <h1 class="text-2xl font-semibold">"Your account"</h1>
            <section class="card space-y-4" aria-labelledby="profile-heading">
                <h2 id="profile-heading" class="text-lg font-semibold">"Profile"</h2>
                <Transition fallback=Loading>
                    {move || Suspend::new(async move {
                        match me.await {
                            Ok(Some(user)) => view! {
                                <ActionForm action=profile>
                                    <div class="space-y-4">
                                        {move || matches!(profile.value().get(), Some(Ok(()))).then(|| view! { <Notice text="Profile saved." /> })}
                                        <FormError error=action_error(profile) />
                                        <Field label="Name" name="display_name" autocomplete="name" required=true
                                            value=user.display_name errors=field_errors(profile, "display_name") />
                                        <Field label="Email" name="email" kind="email" autocomplete="email" required=true
                                            value=user.email errors=field_errors(profile, "email") />
                                        <PasswordField label="Current password (only to change your email)" name="current_password"
                                            autocomplete="current-password" optional=true errors=field_errors(profile, "current_password") />
                                        <button type="submit" class="btn">"Save profile"</button>
                                    </div>
                                </ActionForm>
                            }
                            .into_any(),
                            Ok(None) => view! { <ErrorView error=AppError::Unauthorized /> }.into_any(),
                            Err(error) => view! { <ErrorView error /> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <sign_in_methods::SignInMethods />
            <section class="card space-y-4" aria-labelledby="password-heading">
                <h2 id="password-heading" class="text-lg font-semibold">"Change password"</h2>
                <p class="text-sm text-slate-600">"Changing your password signs out your other sessions."</p>
                <ActionForm action=password>
                    <div class="space-y-4">
                        {move || matches!(password.value().get(), Some(Ok(()))).then(|| view! { <Notice text="Password changed. Your other sessions were signed out." /> })}
                        <FormError error=action_error(password) />
                        <PasswordField label="Current password" name="current_password" autocomplete="current-password"
                            errors=field_errors(password, "current_password") />
                        <PasswordField label="New password" name="new_password" autocomplete="new-password"
                            hint=format!("At least {PASSWORD_MIN_CHARS} characters, and not your email address.")
                            errors=field_errors(password, "new_password") />
                        <PasswordField label="Repeat new password" name="confirm_password" autocomplete="new-password"
                            errors=field_errors(password, "confirm_password") />
                        <button type="submit" class="btn">"Change password"</button>
                    </div>
                </ActionForm>
            </section>
        </div>
    }
}
