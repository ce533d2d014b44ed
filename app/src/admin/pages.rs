//! The admin pages: users (search, role, disable/enable) and portal settings with
//! invitations, SSO and service tokens.

use super::*;
use crate::components::{
    action_error, field_errors, CopyField, EmptyState, ErrorView, Field, FormError, Loading,
    PageTitle, Pager, ScrollRegion,
};
use leptos_router::hooks::use_query_map;

#[component]
pub fn UsersPageView() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let page = move || query.read().get("page").and_then(|p| p.parse::<i64>().ok());
    let set_role = ServerAction::<SetUserRole>::new();
    let set_status = ServerAction::<SetUserStatus>::new();
    let data = Resource::new(
        move || {
            (
                q(),
                page(),
                set_role.version().get(),
                set_status.version().get(),
            )
        },
        |(q, page, _, _)| list_users(Some(q), page),
    );
    crate::auth::mfa::pages_step_up(set_role);
    crate::auth::mfa::pages_step_up(set_status);
    let role_error = action_error(set_role);
    let status_error = action_error(set_status);
    view! {
        <PageTitle text="Users · Keyport" />
        <div class="space-y-6">
            <div class="flex flex-wrap items-end justify-between gap-4">
                <h1 class="text-2xl font-semibold">"Users"</h1>
                <form method="get" action="/admin/users" class="flex items-end gap-2" role="search">
                    <div class="space-y-1">
                        <label for="user-search" class="label">"Search by email or name"</label>
                        <input id="user-search" name="q" type="search" class="input" value=q />
                    </div>
                    <button type="submit" class="btn">"Search"</button>
                </form>
            </div>
            <FormError error=role_error />
            <FormError error=status_error />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(p) if p.users.is_empty() => view! {
                            <EmptyState title="No users match this search.">
                                "Try part of an email address, or invite someone from Settings."
                            </EmptyState>
                        }
                        .into_any(),
                        Ok(p) => {
                            let q = q();
                            let href = move |n: i64| format!("/admin/users?q={}&page={n}", crate::components::urlencode(&q));
                            let me = p.me.clone();
                            view! {
                                <section class="card space-y-4">
                                    <ScrollRegion label="Users">
                                        <table class="min-w-full text-left text-sm">
                                            <thead class="border-b border-slate-200 text-xs uppercase text-slate-500">
                                                <tr>
                                                    <th scope="col" class="py-2 pr-4">"User"</th>
                                                    <th scope="col" class="py-2 pr-4">"Role"</th>
                                                    <th scope="col" class="py-2 pr-4">"Status"</th>
                                                    <th scope="col" class="py-2 pr-4">"Joined"</th>
                                                    <th scope="col" class="py-2 pr-4">"Last sign-in"</th>
                                                    <th scope="col" class="py-2 pr-4"><span class="sr-only">"Actions"</span></th>
                                                </tr>
                                            </thead>
                                            <tbody class="divide-y divide-slate-100">
                                                {p.users.into_iter().map(|u| view! { <UserRow user=u set_role set_status me=me.clone() /> }).collect_view()}
                                            </tbody>
                                        </table>
                                    </ScrollRegion>
                                    <Pager page=p.page per_page=USERS_PER_PAGE total=p.total href />
                                </section>
                            }
                            .into_any()
                        }
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn UserRow(
    user: UserSummary,
    set_role: ServerAction<SetUserRole>,
    set_status: ServerAction<SetUserStatus>,
    me: String,
) -> impl IntoView {
    let is_me = user.id == me;
    let role_id = format!("role-{}", user.id);
    let (next_status, verb, confirm) = match user.status {
        UserStatus::Active => (
            "disabled",
            "Disable",
            "Disabling signs this user out everywhere. Disable?",
        ),
        UserStatus::Disabled => ("active", "Enable", "Let this user sign in again?"),
    };
    let status_badge = match user.status {
        UserStatus::Active => "badge bg-emerald-100 text-emerald-800",
        UserStatus::Disabled => "badge bg-slate-200 text-slate-700",
    };
    let current_role = user.role;
    let (id_for_role, id_for_status, email) =
        (user.id.clone(), user.id.clone(), user.email.clone());
    view! {
        <tr data-user=email>
            <td class="py-3 pr-4">
                <div class="font-medium">{user.display_name.clone()}</div>
                <div class="text-slate-500">{user.email.clone()}</div>
            </td>
            <td class="py-3 pr-4">
                <ActionForm action=set_role>
                    <div class="flex items-center gap-2">
                        <input type="hidden" name="user_id" value=id_for_role />
                        // The value as a property too: a re-rendered row keeps the select the
                        // user changed, whose options no longer follow their attributes.
                        <label for=role_id.clone() class="sr-only">{format!("Role of {}", user.email)}</label>
                        <select id=role_id name="role" class="input py-1" disabled=is_me prop:value=current_role.as_str()>
                            {Role::ALL
                                .iter()
                                .map(|r| view! { <option value=r.as_str() selected=*r == current_role>{r.label()}</option> })
                                .collect_view()}
                        </select>
                        <button type="submit" class="btn-secondary py-1" disabled=is_me>"Save"</button>
                    </div>
                </ActionForm>
            </td>
            <td class="py-3 pr-4">
                <span class=status_badge>{user.status.label()}</span>
                {user.propagation.clone().map(|p| view! { <p class="mt-1 text-xs text-slate-600" data-propagation="" role="status">{p.sentence()}</p> })}
            </td>
            <td class="whitespace-nowrap py-3 pr-4 text-slate-500">{user.created_at}</td>
            <td class="whitespace-nowrap py-3 pr-4 text-slate-500">{user.last_sign_in_at.unwrap_or_else(|| "Never".into())}</td>
            <td class="py-3 pr-4">
                {(!is_me).then(|| view! {
                    <details class="relative">
                        <summary class="btn-secondary cursor-pointer list-none py-1">{format!("{verb}…")}</summary>
                        <div class="absolute right-0 z-10 mt-2 w-64 space-y-2 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                            <p class="text-sm">{confirm}</p>
                            <ActionForm action=set_status>
                                <input type="hidden" name="user_id" value=id_for_status.clone() />
                                <input type="hidden" name="status" value=next_status />
                                <button type="submit" class=if next_status == "disabled" { "btn-danger w-full" } else { "btn w-full" }>
                                    {format!("Yes, {}", verb.to_lowercase())}
                                </button>
                            </ActionForm>
                        </div>
                    </details>
                })}
            </td>
        </tr>
    }
}

#[component]
pub fn SettingsPageView() -> impl IntoView {
    let update = ServerAction::<UpdateSettings>::new();
    let invite = ServerAction::<CreateInvitation>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let data = Resource::new(
        move || {
            (
                update.version().get(),
                invite.version().get(),
                revoke.version().get(),
            )
        },
        |_| get_settings(),
    );
    let iv = invite.value();
    view! {
        <PageTitle text="Settings · Keyport" />
        <div class="mx-auto max-w-3xl space-y-8">
            <h1 class="text-2xl font-semibold">"Portal settings"</h1>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(s) => view! {
                            <section class="card space-y-4" aria-labelledby="signup-heading">
                                <h2 id="signup-heading" class="text-lg font-semibold">"Access"</h2>
                                <ActionForm action=update>
                                    <fieldset class="space-y-2">
                                        <legend class="label">"Who may create an account"</legend>
                                        {SignupMode::ALL.iter().map(|m| {
                                            let id = format!("signup-{}", m.as_str());
                                            view! {
                                                <div class="flex items-center gap-2">
                                                    <input type="radio" id=id.clone() name="signup_mode" value=m.as_str() checked=*m == s.signup_mode />
                                                    <label for=id>{m.label()}</label>
                                                </div>
                                            }
                                        }).collect_view()}
                                    </fieldset>
                                    <fieldset class="mt-6 space-y-2">
                                        <legend class="label">"Two-factor authentication"</legend>
                                        {MfaPolicy::ALL.iter().map(|p| {
                                            let id = format!("mfa-{}", p.as_str());
                                            view! {
                                                <div class="flex items-center gap-2">
                                                    <input type="radio" id=id.clone() name="mfa_policy" value=p.as_str() checked=*p == s.mfa_policy />
                                                    <label for=id>{p.label()}</label>
                                                </div>
                                            }
                                        }).collect_view()}
                                    </fieldset>
                                    <FormError error=action_error(update) />
                                    <button type="submit" class="btn mt-4">"Save"</button>
                                </ActionForm>
                            </section>
                            <section class="card space-y-4" aria-labelledby="invite-heading">
                                <h2 id="invite-heading" class="text-lg font-semibold">"Invitations"</h2>
                                <p class="text-sm text-slate-600">"An invitation link lets one person sign up with the role you choose, whatever the sign-up setting. It works for 7 days."</p>
                                <ActionForm action=invite>
                                    <div class="grid gap-4 sm:grid-cols-3 sm:items-start">
                                        <Field label="Email" name="email" kind="email" required=true errors=field_errors(invite, "email") />
                                        <div class="space-y-1">
                                            <label for="invite-role" class="label">"Role"</label>
                                            <select id="invite-role" name="role" class="input">
                                                {Role::ALL.iter().map(|r| view! { <option value=r.as_str() selected=*r == Role::Developer>{r.label()}</option> }).collect_view()}
                                            </select>
                                        </div>
                                        <button type="submit" class="btn sm:mt-6">"Create invitation"</button>
                                    </div>
                                </ActionForm>
                                {move || match iv.get() {
                                    Some(Ok(created)) => Some(view! {
                                        <div role="status" class="space-y-2 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm">
                                            <p>{format!("Send this link to {}. It is shown only once.", created.email)}</p>
                                            <crate::components::CopyField label="Invitation link" value=created.link />
                                        </div>
                                    }),
                                    _ => None,
                                }}
                                {if s.invitations.is_empty() {
                                    view! { <p class="text-sm text-slate-500">"No open invitations."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="divide-y divide-slate-100">
                                            {s.invitations.into_iter().map(|i| view! {
                                                <li class="flex items-center justify-between py-2 text-sm">
                                                    <span>{i.email}" · "{i.role.label()}" · expires "{i.expires_at}</span>
                                                    <ActionForm action=revoke>
                                                        <input type="hidden" name="id" value=i.id />
                                                        <button type="submit" class="btn-secondary py-1">"Revoke"</button>
                                                    </ActionForm>
                                                </li>
                                            }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            </section>
                        }
                        .into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
            <sso::SsoSettingsSection />
            <crate::keys::KeySettingsSection />
            <ServiceTokensSection />
            <InstancesSection />
        </div>
    }
}

/// The Settings section for gateway service tokens.
#[component]
pub fn ServiceTokensSection() -> impl IntoView {
    let create = ServerAction::<CreateServiceToken>::new();
    let revoke = ServerAction::<RevokeServiceToken>::new();
    crate::auth::mfa::pages_step_up(create);
    crate::auth::mfa::pages_step_up(revoke);
    let data = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_service_tokens(),
    );
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) => view! { <TokensCard list create revoke /> }.into_any(),
                    // The page's main section shows why it was refused; this one stays away.
                    Err(AppError::Forbidden | AppError::Unauthorized | AppError::MfaEnrolmentRequired) => ().into_any(),
                    Err(error) => view! { <ErrorView error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The Settings section listing the gateway instances and how far behind each is.
#[component]
pub fn InstancesSection() -> impl IntoView {
    let data = Resource::new(|| (), |_| gateway_instances());
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) => view! { <InstancesCard list /> }.into_any(),
                    Err(AppError::Forbidden | AppError::Unauthorized | AppError::MfaEnrolmentRequired) => ().into_any(),
                    Err(error) => view! { <ErrorView error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn InstancesCard(list: Vec<crate::domain::InstanceStatus>) -> impl IntoView {
    let running = list.iter().filter(|i| i.running).count();
    view! {
        <section class="card space-y-4" aria-labelledby="instances-heading">
            <h2 id="instances-heading" class="text-lg font-semibold">"Gateway instances"</h2>
            <p class="text-sm text-slate-600">{format!(
                "{running} running. Every Keyport instance decides gateway calls from memory and applies each change (a revocation, a suspension, a disabled account) from the database's change feed; \"behind\" counts the changes it has yet to apply."
            )}</p>
            {if list.is_empty() {
                view! { <EmptyState title="No instance has reported yet.">"Instances report every second once they are serving."</EmptyState> }.into_any()
            } else {
                view! {
                    <div class="overflow-x-auto">
                        <table class="min-w-full text-left text-sm" aria-label="Gateway instances">
                            <thead class="text-xs uppercase text-slate-500">
                                <tr><th class="py-2 pr-4">"Address"</th><th class="py-2 pr-4">"State"</th><th class="py-2 pr-4">"Last heard"</th><th class="py-2 pr-4">"Behind"</th><th class="py-2">"Started"</th></tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100">
                                {list.into_iter().map(|i| view! {
                                    <tr data-instance=i.id.clone()>
                                        <td class="py-2 pr-4 font-mono text-xs">{i.address}</td>
                                        <td class="py-2 pr-4"><span class=if i.running { "badge bg-emerald-100 text-emerald-800" } else { "badge bg-slate-200 text-slate-700" }>{if i.running { "Running" } else { "Gone" }}</span></td>
                                        <td class="py-2 pr-4">{format!("{:.1} s ago", i.seen_ms_ago as f64 / 1000.0)}</td>
                                        <td class="py-2 pr-4">{match i.changes_behind { 0 => "up to date".to_string(), 1 => "1 change".to_string(), n => format!("{n} changes") }}</td>
                                        <td class="py-2 text-slate-600">{i.started}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn TokensCard(
    list: Vec<ServiceTokenView>,
    create: ServerAction<CreateServiceToken>,
    revoke: ServerAction<RevokeServiceToken>,
) -> impl IntoView {
    view! {
        <section class="card space-y-4" aria-labelledby="tokens-heading">
            <h2 id="tokens-heading" class="text-lg font-semibold">"Gateway service tokens"</h2>
            <p class="text-sm text-slate-600">
                "Gateways send one of these as "<code class="badge font-mono">"Authorization: Bearer …"</code>
                " to the verify API ("<code class="badge font-mono">"POST /v1/keys/verify"</code>") and leak reports ("
                <code class="badge font-mono">"POST /v1/leaks"</code>"), or as "<code class="badge font-mono">"X-Keyport-Token"</code>
                " to nginx's "<code class="badge font-mono">"/v1/auth_request"</code>". The API is described at "
                <a class="link" href="/v1/openapi.json">"/v1/openapi.json"</a>". Creating or revoking a token asks for a two-factor code."
            </p>
            <ActionForm action=create attr:class="flex flex-wrap items-end gap-3">
                <div class="flex-1"><Field id="service-token-name" label="Name" name="name" hint="Such as \"edge nginx\"" errors=field_errors(create, "name") /></div>
                <button type="submit" class="btn">"Create token"</button>
            </ActionForm>
            <FormError error=action_error(create) />
            <FormError error=action_error(revoke) />
            {move || match create.value().get() {
                Some(Ok(created)) => Some(view! {
                    <div role="status" class="space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm">
                        <p>{format!("The token for \"{}\": copy it now, it is shown only once.", created.name)}</p>
                        <CopyField label="Service token" value=created.token />
                    </div>
                }),
                _ => None,
            }}
            {if list.is_empty() {
                view! { <EmptyState title="No service tokens.">"Create one for each gateway that verifies keys."</EmptyState> }.into_any()
            } else {
                view! {
                    <ul class="divide-y divide-slate-100 text-sm" aria-label="Service tokens">
                        {list.into_iter().map(|t| {
                            let id = t.id.clone();
                            view! {
                                <li class="flex flex-wrap items-center gap-3 py-2">
                                    <span class="font-medium">{t.name}</span>
                                    <span class=if t.revoked { "badge bg-red-100 text-red-800" } else { "badge bg-emerald-100 text-emerald-800" }>{if t.revoked { "Revoked" } else { "Active" }}</span>
                                    <span class="flex-1 text-xs text-slate-500">{format!(
                                        "Created {}{} · last used {}",
                                        t.created,
                                        t.created_by.map(|e| format!(" by {e}")).unwrap_or_default(),
                                        t.last_used.unwrap_or_else(|| "never".into()),
                                    )}</span>
                                    {(!t.revoked).then(|| view! {
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="id" value=id />
                                            <button type="submit" class="btn-secondary py-1">"Revoke"</button>
                                        </ActionForm>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
