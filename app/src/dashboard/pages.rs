//! The dashboard and "My applications": create, rename and delete applications, follow
//! each one's subscriptions (state, reason, cancel) and keys.

use super::*;
use crate::applications::SaveApplication;
use crate::components::{
    action_error, field_errors, state_badge, EmptyState, Field, FormError, Notice, TextArea,
};
use crate::subscriptions::CancelSubscription;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_dashboard());
    view! {
        <PageTitle text="Dashboard · Keyport" />
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <DashboardView d /> }.into_any(),
                    Err(error) => view! { <ErrorView error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DashboardView(d: Dashboard) -> impl IntoView {
    let session_count = d.sessions.len();
    view! {
        <div class="space-y-8">
            <header class="space-y-1">
                <h1 class="text-2xl font-semibold">{format!("Welcome, {}", d.user.display_name)}</h1>
                <p class="text-slate-600">
                    {format!("{} · {} · member since {}", d.user.email, d.user.role.label(), d.member_since)}
                </p>
            </header>
            <section class="card flex flex-wrap items-center justify-between gap-3" aria-label="Two-factor authentication">
                {if d.user.mfa_enabled {
                    view! {
                        <p class="flex items-center gap-2">
                            <span class="badge bg-emerald-100 text-emerald-800">"2FA on"</span>
                            {format!("Two-factor authentication protects your account ({} recovery codes left).", d.recovery_codes_left)}
                        </p>
                    }
                    .into_any()
                } else {
                    view! {
                        <p class="flex items-center gap-2">
                            <span class="badge bg-amber-100 text-amber-800">"2FA off"</span>
                            "Turn on two-factor authentication: issuing and revoking API keys will need it."
                        </p>
                    }
                    .into_any()
                }}
                <A href="/account/security" attr:class="btn-secondary">"Security settings"</A>
            </section>
            {d.pending_approvals.map(|n| view! {
                <section class="card flex flex-wrap items-center justify-between gap-4" aria-labelledby="approvals-heading">
                    <div>
                        <h2 id="approvals-heading" class="text-lg font-semibold">"Subscription approvals"</h2>
                        <p class="text-sm text-slate-600">{match n {
                            0 => "No request is waiting for you.".to_string(),
                            1 => "1 request is waiting for your decision.".to_string(),
                            n => format!("{n} requests are waiting for your decision."),
                        }}</p>
                    </div>
                    <A href="/approvals" attr:class={if n > 0 { "btn" } else { "btn-secondary" }}>"Open the approval queue"</A>
                </section>
            })}
            {d.admin.map(|a| view! { <AdminSection a /> })}
            <div class="grid gap-6 lg:grid-cols-2">
                <section class="card space-y-3" aria-labelledby="sessions-heading">
                    <div class="flex items-baseline justify-between">
                        <h2 id="sessions-heading" class="text-lg font-semibold">"Signed-in sessions"</h2>
                        <span class="text-sm text-slate-500">{format!("{session_count} active")}</span>
                    </div>
                    <ul class="divide-y divide-slate-100 text-sm">
                        {d.sessions.into_iter().map(|s| {
                            let ua_title = s.user_agent.clone().unwrap_or_default();
                            view! {
                            <li class="py-2">
                                <div class="flex items-center gap-2">
                                    <span class="font-medium">{s.ip.unwrap_or_else(|| "unknown address".into())}</span>
                                    {s.current.then(|| view! { <span class="badge bg-indigo-100 text-indigo-800">"This session"</span> })}
                                </div>
                                <div class="truncate text-slate-500" title=ua_title>
                                    {s.user_agent.unwrap_or_else(|| "unknown browser".into())}
                                </div>
                                <div class="text-xs text-slate-500">{format!("Signed in {} · last seen {}", s.created_at, s.last_seen_at)}</div>
                            </li>
                        }}).collect_view()}
                    </ul>
                    <p class="text-sm text-slate-600">
                        "Not you? " <A href="/account" attr:class="link">"Change your password"</A> " to sign out every other session."
                    </p>
                </section>
                <section class="card space-y-3" aria-labelledby="activity-heading">
                    <h2 id="activity-heading" class="text-lg font-semibold">"Your recent activity"</h2>
                    <AuditTable events=d.activity label="Your recent activity" me=d.user.email.clone() />
                </section>
            </div>
        </div>
    }
}

#[component]
fn AdminSection(a: AdminOverview) -> impl IntoView {
    let total: i64 = a.counts.iter().map(|c| c.active + c.disabled).sum();
    view! {
        <section class="space-y-4" aria-labelledby="admin-heading">
            <h2 id="admin-heading" class="text-lg font-semibold">"Portal overview"</h2>
            <dl class="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
                <div class="card">
                    <dt class="text-sm text-slate-500">"Users"</dt>
                    <dd class="text-3xl font-semibold">{total}</dd>
                </div>
                {a.counts.into_iter().map(|c| view! {
                    <div class="card">
                        <dt class="text-sm text-slate-500">{format!("{}s", c.role.label())}</dt>
                        <dd class="text-3xl font-semibold">{c.active}</dd>
                        <dd class="text-xs text-slate-500">{format!("{} disabled", c.disabled)}</dd>
                    </div>
                }).collect_view()}
            </dl>
            <p class="text-sm text-slate-600">
                {format!("Sign-up: {} · {} open invitation(s). ", a.signup_mode.label(), a.open_invitations)}
                <A href="/admin/settings" attr:class="link">"Change"</A>
            </p>
            <div class="card space-y-3">
                <div class="flex items-baseline justify-between">
                    <h3 class="font-semibold">"Latest audit events"</h3>
                    <A href="/admin/audit" attr:class="link text-sm">"Full audit log"</A>
                </div>
                <AuditTable events=a.recent label="Latest audit events" />
            </div>
        </section>
    }
}

#[component]
pub fn ApplicationsPage() -> impl IntoView {
    let create = ServerAction::<SaveApplication>::new();
    let edit = ServerAction::<SaveApplication>::new();
    let delete = ServerAction::<DeleteApplication>::new();
    let cancel = ServerAction::<CancelSubscription>::new();
    let create_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(form)) = (create.value().get(), create_form.get_untracked()) {
            form.reset();
        }
    });
    // Without JavaScript the key comes with the page that answers the form.
    let issued = RwSignal::new(use_context::<crate::keys::JustIssued>().map(|j| j.0));
    let keys_changed = RwSignal::new(0u32);
    let data = Resource::new(
        move || {
            (
                create.version().get(),
                edit.version().get(),
                delete.version().get(),
                cancel.version().get(),
                keys_changed.get(),
            )
        },
        |_| my_applications(),
    );
    view! {
        <PageTitle text="Applications · Keyport" />
        <div class="space-y-6">
            <div>
                <h1 class="text-2xl font-semibold">"Your applications"</h1>
                <p class="text-sm text-slate-600">"An application is what subscribes to APIs and holds keys. Use one per program or environment."</p>
            </div>
            <section class="card space-y-4" aria-labelledby="new-app-heading">
                <h2 id="new-app-heading" class="text-lg font-semibold">"New application"</h2>
                <ActionForm action=create node_ref=create_form attr:class="space-y-3">
                    <div class="grid gap-4 sm:grid-cols-2">
                        <Field label="Name" name="name" required=true errors=field_errors(create, "name") />
                        <Field label="Description" name="description" hint="Optional: what it is for" errors=field_errors(create, "description") />
                    </div>
                    <FormError error=action_error(create) />
                    <button type="submit" class="btn">"Create application"</button>
                </ActionForm>
                {move || matches!(create.value().get(), Some(Ok(_))).then(|| view! {
                    <Notice text="Created. Find an API in the catalog and subscribe this application." />
                })}
            </section>
            <crate::keys::IssuedKeyNotice issued />
            <FormError error=action_error(edit) />
            <FormError error=action_error(delete) />
            <FormError error=action_error(cancel) />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No applications yet.">
                                "Create one above, then subscribe it to an API from the "<a class="link" href="/catalog">"catalog"</a>"."
                            </EmptyState>
                        }.into_any(),
                        Ok(list) => list.into_iter().map(|a| view! { <AppCard app=a edit delete cancel issued keys_changed /> }).collect_view().into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn AppCard(
    app: ApplicationView,
    edit: ServerAction<SaveApplication>,
    delete: ServerAction<DeleteApplication>,
    cancel: ServerAction<CancelSubscription>,
    issued: RwSignal<Option<crate::keys::IssuedKey>>,
    keys_changed: RwSignal<u32>,
) -> impl IntoView {
    let (keys, key_policy, keys_app) = (app.keys.clone(), app.key_policy.clone(), app.id.clone());
    let live = app
        .subscriptions
        .iter()
        .filter(|s| s.state.is_live())
        .count();
    let confirm = if live == 0 {
        "Delete this application?".to_string()
    } else {
        format!("Delete this application? Its {live} live subscription(s) will be cancelled.")
    };
    let (id_edit, id_delete) = (app.id.clone(), app.id.clone());
    let name_id = format!("app-{}-name", app.id);
    let desc_id = format!("app-{}-description", app.id);
    let label = app.name.clone();
    view! {
        <section class="card space-y-4" data-application=label.clone() aria-label=label>
            <div class="flex flex-wrap items-start justify-between gap-3">
                <div>
                    <h2 class="text-lg font-semibold">{app.name.clone()}</h2>
                    {(!app.description.is_empty()).then(|| view! { <p class="text-sm text-slate-600">{app.description.clone()}</p> })}
                    <p class="text-xs text-slate-500">{format!("Created {}", app.created)}</p>
                </div>
                <div class="flex gap-2">
                    <details class="relative">
                        <summary class="btn-secondary cursor-pointer list-none py-1">"Edit"</summary>
                        <div class="absolute right-0 z-10 mt-2 w-80 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                            <ActionForm action=edit attr:class="space-y-2">
                                <input type="hidden" name="id" value=id_edit />
                                <Field id=name_id label="Name" name="name" value=app.name.clone() required=true errors=field_errors(edit, "name") />
                                <TextArea id=desc_id label="Description" name="description" value=app.description.clone() rows=2 errors=field_errors(edit, "description") />
                                <button type="submit" class="btn w-full">"Save"</button>
                            </ActionForm>
                        </div>
                    </details>
                    <details class="relative">
                        <summary class="btn-secondary cursor-pointer list-none py-1">"Delete…"</summary>
                        <div class="absolute right-0 z-10 mt-2 w-72 space-y-2 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                            <p class="text-sm">{confirm}</p>
                            <ActionForm action=delete>
                                <input type="hidden" name="id" value=id_delete />
                                <button type="submit" class="btn-danger w-full">"Yes, delete"</button>
                            </ActionForm>
                        </div>
                    </details>
                </div>
            </div>
            {if app.subscriptions.is_empty() {
                view! {
                    <p class="text-sm text-slate-500">"No subscriptions. "<a class="link" href="/catalog">"Browse the catalog"</a>" to subscribe."</p>
                }.into_any()
            } else {
                view! {
                    <ul class="divide-y divide-slate-100 text-sm" aria-label="Subscriptions">
                        {app.subscriptions.into_iter().map(|s| {
                            let href = format!("/catalog/{}", s.api_slug);
                            let sid = s.id.clone();
                            view! {
                                <li class="flex flex-wrap items-center gap-3 py-2" data-subscription=s.id.clone()>
                                    <a class="link" href=href>{s.api.clone()}</a>
                                    <span class="text-slate-500">{format!("{} plan", s.plan)}</span>
                                    {state_badge(s.state)}
                                    {s.reason.clone().map(|r| view! { <span class="text-slate-600">{format!("Reason: {r}")}</span> })}
                                    <span class="flex-1"></span>
                                    <span class="text-xs text-slate-500">{format!("Updated {}", s.updated)}</span>
                                    {s.state.is_live().then(|| view! {
                                        <details class="relative">
                                            <summary class="btn-secondary cursor-pointer list-none py-1 text-xs">"Cancel…"</summary>
                                            <div class="absolute right-0 z-10 mt-2 w-64 space-y-2 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                                                <p class="text-sm">"Cancel this subscription? Its keys stop working for this API."</p>
                                                <ActionForm action=cancel>
                                                    <input type="hidden" name="id" value=sid />
                                                    <button type="submit" class="btn-danger w-full">"Yes, cancel it"</button>
                                                </ActionForm>
                                            </div>
                                        </details>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <crate::keys::KeysSection application_id=keys_app keys policy=key_policy issued refresh=keys_changed />
        </section>
    }
}
