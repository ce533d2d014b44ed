//! Pages: account security (enrol, recovery codes, turn off), the sign-in code step, the
//! sessions list, and the step-up dialog shared by every sensitive action.

use super::*;
use crate::components::{
    action_error, field_errors, CopyField, EmptyState, ErrorView, Field, FormError, Loading,
    PageTitle,
};
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;

/// The action waiting for a step-up code, if any (provided by the layout).
#[derive(Clone, Copy)]
pub struct StepUp {
    retry: RwSignal<Option<Callback<()>>>,
}

impl StepUp {
    pub fn provide() {
        provide_context(StepUp {
            retry: RwSignal::new(None),
        });
    }
}

/// When `action` is refused with `MfaRequired`, asks for a code and then runs it again with
/// the same input, so nobody fills a form twice.
pub fn use_step_up<S>(action: ServerAction<S>)
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    let Some(step_up) = use_context::<StepUp>() else {
        return;
    };
    let last = StoredValue::new(None::<S>);
    Effect::new(move |_| {
        if let Some(input) = action.input().get() {
            last.set_value(Some(input));
        }
    });
    Effect::new(move |_| {
        if action
            .value()
            .with(|v| matches!(v, Some(Err(AppError::MfaRequired))))
        {
            step_up.retry.set(Some(Callback::new(move |_| {
                if let Some(input) = last.get_value() {
                    action.dispatch(input);
                }
            })));
        }
    });
}

#[component]
pub fn StepUpDialog() -> impl IntoView {
    let step_up = expect_context::<StepUp>();
    let confirm = ServerAction::<ConfirmStepUp>::new();
    let handled = StoredValue::new(0usize);
    Effect::new(move |_| {
        let version = confirm.version().get();
        let ok = confirm.value().with(|v| matches!(v, Some(Ok(()))));
        if ok && version > handled.get_value() {
            handled.set_value(version);
            if let Some(retry) = step_up.retry.get_untracked() {
                step_up.retry.set(None);
                retry.run(());
            }
        }
    });
    view! {
        <Show when=move || step_up.retry.with(Option::is_some)>
            <div class="fixed inset-0 z-50 flex items-center justify-center bg-slate-900/50 p-4">
                <div role="dialog" aria-modal="true" aria-labelledby="step-up-title" class="card w-full max-w-sm space-y-4">
                    <h2 id="step-up-title" class="text-lg font-semibold">"Confirm it's you"</h2>
                    <p class="text-sm text-slate-600">
                        "This action needs a fresh code. Enter the 6-digit code from your authenticator app, or a recovery code."
                    </p>
                    <ActionForm action=confirm>
                        <div class="space-y-4">
                            <FormError error=action_error(confirm) />
                            <Field label="Authentication code" name="code" autocomplete="one-time-code" required=true
                                errors=field_errors(confirm, "code") />
                            <div class="flex gap-2">
                                <button type="submit" class="btn">"Confirm and continue"</button>
                                <button type="button" class="btn-secondary" on:click=move |_| step_up.retry.set(None)>"Cancel"</button>
                            </div>
                        </div>
                    </ActionForm>
                </div>
            </div>
        </Show>
    }
}

/// Recovery codes, shown once, with copy and download.
#[component]
fn RecoveryCodes(codes: Vec<String>) -> impl IntoView {
    let text = codes.join("\n");
    let href = format!(
        "data:text/plain;charset=utf-8,{}",
        crate::components::urlencode(&format!("Keyport recovery codes\n{text}\n"))
    );
    view! {
        <div role="status" class="space-y-3 rounded-md border border-amber-300 bg-amber-50 p-4">
            <h3 class="font-semibold">"Save your recovery codes"</h3>
            <p class="text-sm">"Each code signs you in once if you lose your device. They are shown only now."</p>
            <ul class="grid grid-cols-2 gap-1 font-mono text-sm" aria-label="Recovery codes">
                {codes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
            </ul>
            <div class="flex flex-wrap gap-2">
                <a class="btn-secondary" href=href download="keyport-recovery-codes.txt">"Download as text"</a>
            </div>
            <CopyField label="All codes" value=text.replace('\n', " ") />
        </div>
    }
}

#[component]
pub fn SecurityPage() -> impl IntoView {
    let start = ServerAction::<StartMfaEnrolment>::new();
    let confirm = ServerAction::<ConfirmMfaEnrolment>::new();
    let disable = ServerAction::<DisableMfa>::new();
    let regenerate = ServerAction::<RegenerateRecoveryCodes>::new();
    use_step_up(regenerate);
    let status = Resource::new(
        move || (confirm.version().get(), disable.version().get()),
        |_| get_mfa_status(),
    );
    let new_codes = move || match (confirm.value().get(), regenerate.value().get()) {
        (_, Some(Ok(codes))) | (Some(Ok(codes)), _) => Some(codes),
        _ => None,
    };
    view! {
        <PageTitle text="Security · Keyport" />
        <div class="mx-auto max-w-2xl space-y-6">
            <h1 class="text-2xl font-semibold">"Two-factor authentication"</h1>
            {move || new_codes().map(|codes| view! { <RecoveryCodes codes /> })}
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) if s.enabled => view! {
                            <section class="card space-y-4">
                                <p class="flex items-center gap-2">
                                    <span class="badge bg-emerald-100 text-emerald-800">"On"</span>
                                    "Sign-in and sensitive actions ask for a code from your authenticator app."
                                </p>
                                <p class="text-sm text-slate-600">{format!("{} unused recovery codes.", s.recovery_codes_left)}</p>
                                <ActionForm action=regenerate>
                                    <FormError error=action_error(regenerate) />
                                    <button type="submit" class="btn-secondary">"Make new recovery codes"</button>
                                </ActionForm>
                            </section>
                            <section class="card space-y-4" aria-labelledby="mfa-off-heading">
                                <h2 id="mfa-off-heading" class="text-lg font-semibold">"Turn off"</h2>
                                <p class="text-sm text-slate-600">"Enter a current code from your device to turn two-factor authentication off."</p>
                                <ActionForm action=disable>
                                    <div class="space-y-4">
                                        <FormError error=action_error(disable) />
                                        <Field label="Code from your device" name="code" autocomplete="one-time-code" required=true
                                            errors=field_errors(disable, "code") />
                                        <button type="submit" class="btn-danger">"Turn off two-factor authentication"</button>
                                    </div>
                                </ActionForm>
                            </section>
                        }
                        .into_any(),
                        Ok(s) => view! {
                            <section class="card space-y-4">
                                {s.required.then(|| view! {
                                    <p role="alert" class="rounded-md border border-amber-300 bg-amber-50 p-3 text-sm">
                                        "This portal requires two-factor authentication for your account. Set it up to continue."
                                    </p>
                                })}
                                <p>"Protect your account and your API keys with a code from an authenticator app (1Password, Google Authenticator, Aegis, …)."</p>
                                {move || match start.value().get() {
                                    Some(Ok(e)) => view! { <Enrol e confirm /> }.into_any(),
                                    other => view! {
                                        <ActionForm action=start>
                                            <FormError error=Signal::derive(move || other.clone().and_then(Result::err)) />
                                            <button type="submit" class="btn">"Set up two-factor authentication"</button>
                                        </ActionForm>
                                    }
                                    .into_any(),
                                }}
                            </section>
                        }
                        .into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn Enrol(e: EnrolmentView, confirm: ServerAction<ConfirmMfaEnrolment>) -> impl IntoView {
    view! {
        <ol class="list-decimal space-y-4 pl-5">
            <li class="space-y-2">
                <p>"Scan this QR code with your authenticator app."</p>
                <img
                    class="h-48 w-48 rounded border border-slate-200"
                    src=format!("data:image/png;base64,{}", e.qr_png_base64)
                    alt="QR code for your authenticator app"
                />
                <CopyField label="Or enter this key by hand" value=e.secret_base32 />
                <details class="text-sm">
                    <summary class="cursor-pointer text-slate-600">"Show the setup link"</summary>
                    <code class="break-all text-xs">{e.otpauth_uri}</code>
                </details>
            </li>
            <li>
                <ActionForm action=confirm>
                    <div class="space-y-4">
                        <FormError error=action_error(confirm) />
                        <Field label="Enter the 6-digit code it shows" name="code" autocomplete="one-time-code" required=true
                            errors=field_errors(confirm, "code") />
                        // Asked for when the session signed in a while ago.
                        {move || (!field_errors(confirm, "current_password").get().is_empty()).then(|| view! {
                            <crate::components::PasswordField label="Your password" name="current_password"
                                autocomplete="current-password" errors=field_errors(confirm, "current_password") />
                        })}
                        <button type="submit" class="btn">"Turn on"</button>
                    </div>
                </ActionForm>
            </li>
        </ol>
    }
}

#[component]
pub fn MfaSignInPage() -> impl IntoView {
    let action = ServerAction::<CompleteSignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <PageTitle text="Two-factor sign-in · Keyport" />
        <section class="mx-auto w-full max-w-md">
            <div class="card space-y-6">
                <h1 class="text-2xl font-semibold tracking-tight">"Enter your code"</h1>
                <ActionForm action=action>
                    <div class="space-y-4">
                        <FormError error=action_error(action) />
                        <Field
                            label="Authentication code"
                            name="code"
                            autocomplete="one-time-code"
                            required=true
                            hint="The 6-digit code from your authenticator app. Lost your device? Enter one of your recovery codes."
                            errors=field_errors(action, "code")
                        />
                        <input type="hidden" name="next" value=next />
                        <button type="submit" class="btn w-full">"Verify and sign in"</button>
                    </div>
                </ActionForm>
            </div>
        </section>
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let end = ServerAction::<EndSession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    let sessions = Resource::new(
        move || (end.version().get(), end_others.version().get()),
        |_| list_sessions(),
    );
    view! {
        <PageTitle text="Sessions · Keyport" />
        <div class="mx-auto max-w-3xl space-y-6">
            <div class="flex flex-wrap items-center justify-between gap-4">
                <h1 class="text-2xl font-semibold">"Where you're signed in"</h1>
                <ActionForm action=end_others>
                    <button type="submit" class="btn-secondary">"Sign out everywhere else"</button>
                </ActionForm>
            </div>
            <FormError error=action_error(end) />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No sessions.">"Sign in to see your sessions here."</EmptyState>
                        }
                        .into_any(),
                        Ok(list) => view! {
                            <ul class="card divide-y divide-slate-100">
                                {list.into_iter().map(|s| {
                                    let ua = s.user_agent.clone().unwrap_or_else(|| "unknown browser".into());
                                    let ua_title = ua.clone();
                                    let (handle_attr, handle_input) = (s.handle.clone(), s.handle.clone());
                                    view! {
                                        <li class="flex flex-wrap items-center justify-between gap-3 py-3" data-session=handle_attr>
                                            <div class="min-w-0">
                                                <div class="flex items-center gap-2 font-medium">
                                                    {s.ip.clone().unwrap_or_else(|| "unknown address".into())}
                                                    {s.current.then(|| view! { <span class="badge bg-indigo-100 text-indigo-800">"This session"</span> })}
                                                </div>
                                                <div class="truncate text-sm text-slate-500" title=ua_title>{ua}</div>
                                                <div class="text-xs text-slate-500">{format!("Signed in {} · last seen {}", s.created_at, s.last_seen_at)}</div>
                                            </div>
                                            {(!s.current).then(|| view! {
                                                <ActionForm action=end>
                                                    <input type="hidden" name="handle" value=handle_input.clone() />
                                                    <button type="submit" class="btn-secondary py-1">"Sign out"</button>
                                                </ActionForm>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }
                        .into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}
