//! Sign-in, sign-up and first-run setup pages. All of them work without JavaScript.

use super::{
    setup_status, signup_info, CompleteSetup, ConfirmSignUp, SignIn, SignUp, SignupContext,
};
use crate::components::{
    action_error, field_errors, ErrorView, Field, FormError, Loading, PageTitle, PasswordField,
};
use crate::domain::{SignupMode, PASSWORD_MIN_CHARS};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

#[component]
fn AuthCard(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <section class="mx-auto w-full max-w-md">
            <div class="card space-y-6">
                <h1 class="text-2xl font-semibold tracking-tight">{title}</h1>
                {children()}
            </div>
        </section>
    }
}

fn password_hint() -> String {
    format!("At least {PASSWORD_MIN_CHARS} characters, and not your email address.")
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let problem = move || super::oidc::problem_message(query.read().get("error"));
    view! {
        <PageTitle text="Sign in · Keyport" />
        <AuthCard title="Sign in to Keyport">
            {move || problem().map(|m| view! {
                <div role="alert" class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800">{m}</div>
            })}
            <ActionForm action=action>
                <div class="space-y-4">
                    <FormError error=action_error(action) />
                    <Field
                        label="Email"
                        name="email"
                        kind="email"
                        autocomplete="username"
                        required=true
                        errors=field_errors(action, "email")
                    />
                    <PasswordField
                        label="Password"
                        name="password"
                        autocomplete="current-password"
                        errors=field_errors(action, "password")
                    />
                    <input type="hidden" name="next" value=next />
                    <button type="submit" class="btn w-full">
                        "Sign in"
                    </button>
                </div>
            </ActionForm>
            <super::oidc::ProviderButtons next=Signal::derive(next) />
            <p class="text-sm text-slate-600">
                "New here? " <A href="/sign-up" attr:class="link">"Create an account"</A>
            </p>
        </AuthCard>
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let query = use_query_map();
    let invite = move || query.read().get("invite").filter(|t| !t.is_empty());
    let context = Resource::new(invite, signup_info);
    let sent = move || query.read().get("sent").is_some();
    view! {
        <PageTitle text="Create an account · Keyport" />
        <AuthCard title="Create your Keyport account">
            <Show when=sent>
                <div role="status" class="space-y-2 rounded-md border border-emerald-200 bg-emerald-50 p-4 text-sm text-emerald-900">
                    <p class="font-semibold">"Check your inbox"</p>
                    <p>"We sent an email to the address you entered. Open the link in it within 24 hours to create your account. Nothing arrived? Look in the spam folder, or sign up again."</p>
                </div>
            </Show>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match context.await {
                        Ok(ctx) => view! { <SignUpForm ctx invite=invite() /> }.into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}

#[component]
fn SignUpForm(ctx: SignupContext, invite: Option<String>) -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    if ctx.invitation_invalid {
        return view! {
            <p role="alert" class="text-slate-700">
                "This invitation link is invalid, used or expired. Ask the person who invited you for a new one."
            </p>
        }
        .into_any();
    }
    if ctx.invited_email.is_none() && ctx.mode != SignupMode::Open {
        let text = match ctx.mode {
            SignupMode::InviteOnly => {
                "Sign-up on this portal needs an invitation. Ask an administrator to invite you."
            }
            _ => "Sign-up on this portal is closed. Ask an administrator to create your account.",
        };
        return view! {
            <p role="status" class="text-slate-700">{text}</p>
            <A href="/sign-in" attr:class="link">"Back to sign-in"</A>
        }
        .into_any();
    }
    let invited = ctx.invited_email.is_some();
    view! {
        <ActionForm action=action>
            <div class="space-y-4">
                <FormError error=action_error(action) />
                <Field
                    label="Name"
                    name="display_name"
                    autocomplete="name"
                    required=true
                    errors=field_errors(action, "display_name")
                />
                <Field
                    label="Email"
                    name="email"
                    kind="email"
                    autocomplete="username"
                    value=ctx.invited_email.unwrap_or_default()
                    readonly=invited
                    required=true
                    errors=field_errors(action, "email")
                />
                <PasswordField
                    label="Password"
                    name="password"
                    autocomplete="new-password"
                    hint=password_hint()
                    errors=field_errors(action, "password")
                />
                <input type="hidden" name="invite" value=invite.unwrap_or_default() />
                <button type="submit" class="btn w-full">
                    "Create account"
                </button>
            </div>
        </ActionForm>
        <p class="text-sm text-slate-600">
            "Already have an account? " <A href="/sign-in" attr:class="link">"Sign in"</A>
        </p>
    }
    .into_any()
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let open = Resource::new(token, setup_status);
    let action = ServerAction::<CompleteSetup>::new();
    view! {
        <PageTitle text="Set up Keyport" />
        <AuthCard title="Create the first administrator">
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match open.await {
                        Ok(true) => view! {
                            <p class="text-sm text-slate-600">
                                "This one-time link lets you create the account that administers this Keyport."
                            </p>
                            <ActionForm action=action>
                                <div class="space-y-4">
                                    <FormError error=action_error(action) />
                                    <input type="hidden" name="token" value=token() />
                                    <Field label="Name" name="display_name" autocomplete="name" required=true
                                        errors=field_errors(action, "display_name") />
                                    <Field label="Email" name="email" kind="email" autocomplete="username"
                                        required=true errors=field_errors(action, "email") />
                                    <PasswordField label="Password" name="password" autocomplete="new-password"
                                        hint=password_hint() errors=field_errors(action, "password") />
                                    <button type="submit" class="btn w-full">"Create administrator"</button>
                                </div>
                            </ActionForm>
                        }
                        .into_any(),
                        Ok(false) => view! {
                            <p role="alert" class="text-slate-700">
                                "This setup link is invalid, used or expired, or an administrator already exists. "
                                "Run " <code>"keyport setup-link"</code> " on the server for a new link."
                            </p>
                        }
                        .into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}

/// Where the emailed sign-up link lands: one button creates the account (a link alone
/// creates nothing, so a mail scanner that opens it does no harm).
#[component]
pub fn ConfirmSignUpPage() -> impl IntoView {
    let action = ServerAction::<ConfirmSignUp>::new();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    view! {
        <PageTitle text="Confirm your email · Keyport" />
        <AuthCard title="Create your account">
            <p class="text-slate-700">"Your email address is confirmed. Create the account to sign in."</p>
            <ActionForm action=action>
                <div class="space-y-4">
                    <FormError error=action_error(action) />
                    <input type="hidden" name="token" value=token />
                    <button type="submit" class="btn w-full">"Create my account"</button>
                </div>
            </ActionForm>
        </AuthCard>
    }
}
