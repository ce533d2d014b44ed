//! The account page: profile, password and the ways to sign in.

use super::*;
use crate::components::{
    action_error, field_errors, ErrorView, Field, FormError, Loading, Notice, PageTitle,
    PasswordField,
};
use crate::domain::PASSWORD_MIN_CHARS;

#[component]
pub fn AccountPage() -> impl IntoView {
    let profile = ServerAction::<UpdateProfile>::new();
    let password = ServerAction::<ChangePassword>::new();
    let zone = ServerAction::<UpdateTimeZone>::new();
    let me = Resource::new(
        move || (profile.version().get(), zone.version().get()),
        |_| whoami(),
    );
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
                                <ActionForm action=zone attr:class="mt-6 border-t border-slate-100 pt-6">
                                    <div class="space-y-4">
                                        {move || matches!(zone.value().get(), Some(Ok(()))).then(|| view! { <Notice text="Time zone saved." /> })}
                                        <Field label="Time zone" name="time_zone" autocomplete="off"
                                            value=user.time_zone.unwrap_or_default()
                                            hint="Usage charts cut hours and days in it: an IANA name such as Europe/Berlin or America/New_York. Empty: your browser's (UTC without JavaScript)."
                                            errors=field_errors(zone, "time_zone") />
                                        <button type="submit" class="btn-secondary">"Save time zone"</button>
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
