//! Administration: users (search, role, disable/enable), portal settings and invitations.

pub mod service_tokens;
pub mod sso;

use crate::components::{
    action_error, field_errors, EmptyState, ErrorView, Field, FormError, Loading, PageTitle, Pager,
    ScrollRegion,
};
use crate::domain::{MfaPolicy, Role, SignupMode, UserStatus};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::platform::settings;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

pub const USERS_PER_PAGE: i64 = 25;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: String,
    pub last_sign_in_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsersPage {
    pub users: Vec<UserSummary>,
    pub total: i64,
    pub page: i64,
    /// The admin looking at the list (they cannot demote or disable themselves).
    pub me: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationSummary {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingsView {
    pub signup_mode: SignupMode,
    pub mfa_policy: MfaPolicy,
    pub invitations: Vec<InvitationSummary>,
}

/// A new invitation: its link is shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedInvitation {
    pub email: String,
    pub link: String,
}

#[cfg(feature = "ssr")]
pub mod service {
    use super::*;
    use crate::auth::users;
    use crate::auth::CurrentUser;
    use crate::platform::audit::Event;
    use crate::platform::session;
    use crate::platform::Ctx;

    pub fn summary(u: users::UserRow) -> UserSummary {
        UserSummary {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            status: u.status,
            created_at: crate::platform::state::fmt_time(u.created_at),
            last_sign_in_at: u.last_sign_in_at.map(crate::platform::state::fmt_time),
        }
    }

    async fn target(ctx: &Ctx, user_id: &str) -> Result<users::UserRow, AppError> {
        users::find_by_id(&ctx.state.db, user_id)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// Refuses changes that would leave no active admin.
    async fn keep_an_admin(ctx: &Ctx, target: &users::UserRow) -> Result<(), AppError> {
        if target.role == Role::Admin
            && target.status == UserStatus::Active
            && users::count_active_admins(&ctx.state.db).await? <= 1
        {
            return Err(AppError::Conflict {
                message: "This is the last active admin. Make someone else admin first.".into(),
            });
        }
        Ok(())
    }

    pub async fn set_role(
        ctx: &Ctx,
        admin: &CurrentUser,
        user_id: &str,
        role: Role,
    ) -> Result<(), AppError> {
        let target = target(ctx, user_id).await?;
        if target.role == role {
            return Ok(());
        }
        if role != Role::Admin {
            keep_an_admin(ctx, &target).await?;
        }
        users::set_role(&ctx.state.db, user_id, role, ctx.now).await?;
        ctx.audit(
            Event::new("user.role_change")
                .actor(&admin.id, &admin.email)
                .target("user", user_id)
                .details(
                    serde_json::json!({ "email": target.email, "from": target.role, "to": role }),
                ),
        )
        .await
    }

    /// Disabling also ends every session of the user.
    pub async fn set_status(
        ctx: &Ctx,
        admin: &CurrentUser,
        user_id: &str,
        status: UserStatus,
    ) -> Result<(), AppError> {
        let target = target(ctx, user_id).await?;
        if target.status == status {
            return Ok(());
        }
        if status == UserStatus::Disabled {
            if target.id == admin.id {
                return Err(AppError::Conflict {
                    message: "You cannot disable your own account.".into(),
                });
            }
            keep_an_admin(ctx, &target).await?;
        }
        users::set_status(&ctx.state.db, user_id, status, ctx.now).await?;
        let ended = if status == UserStatus::Disabled {
            session::delete_for_user(&ctx.state.db, user_id, None).await?
        } else {
            0
        };
        let action = match status {
            UserStatus::Disabled => "user.disable",
            UserStatus::Active => "user.enable",
        };
        ctx.audit(
            Event::new(action)
                .actor(&admin.id, &admin.email)
                .target("user", user_id)
                .details(serde_json::json!({ "email": target.email, "sessions_ended": ended })),
        )
        .await
    }
}

#[cfg(feature = "ssr")]
fn parse_field<T: std::str::FromStr<Err = String>>(field: &str, raw: &str) -> Result<T, AppError> {
    raw.parse().map_err(|e: String| AppError::field(field, e))
}

#[server(prefix = "/api", endpoint = "list_users")]
pub async fn list_users(q: Option<String>, page: Option<i64>) -> Result<UsersPage, AppError> {
    let admin = crate::auth::guard::require_role(&[Role::Admin], "user.list").await?;
    let state = crate::platform::state::app_state()?;
    let page = page.unwrap_or(1).clamp(1, 1_000_000);
    let (rows, total) = crate::auth::users::list(
        &state.db,
        q.as_deref().unwrap_or(""),
        USERS_PER_PAGE,
        (page - 1) * USERS_PER_PAGE,
    )
    .await?;
    Ok(UsersPage {
        users: rows.into_iter().map(service::summary).collect(),
        total,
        page,
        me: admin.id,
    })
}

#[server(prefix = "/api", endpoint = "set_user_role")]
pub async fn set_user_role(
    user_id: String,
    role: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let admin = crate::auth::guard::require_role(&[Role::Admin], "user.role_change").await?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let role: Role = parse_field("role", &role)?;
    let ctx = crate::platform::Ctx::current().await?;
    service::set_role(&ctx, &admin, &user_id, role).await
}

#[server(prefix = "/api", endpoint = "set_user_status")]
pub async fn set_user_status(
    user_id: String,
    status: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let admin = crate::auth::guard::require_role(&[Role::Admin], "user.status_change").await?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let status: UserStatus = parse_field("status", &status)?;
    let ctx = crate::platform::Ctx::current().await?;
    service::set_status(&ctx, &admin, &user_id, status).await
}

#[server(prefix = "/api", endpoint = "get_settings")]
pub async fn get_settings() -> Result<SettingsView, AppError> {
    crate::auth::guard::require_role(&[Role::Admin], "settings.read").await?;
    let state = crate::platform::state::app_state()?;
    let now = state.clock.now();
    let invitations = settings::pending_invitations(&state.db, now)
        .await?
        .into_iter()
        .map(|i| InvitationSummary {
            id: i.id,
            email: i.email,
            role: i.role,
            expires_at: crate::platform::state::fmt_time(i.expires_at),
        })
        .collect();
    Ok(SettingsView {
        signup_mode: settings::signup_mode(&state.db).await?,
        mfa_policy: settings::mfa_policy(&state.db).await?,
        invitations,
    })
}

#[server(prefix = "/api", endpoint = "update_settings")]
pub async fn update_settings(
    signup_mode: String,
    mfa_policy: Option<String>,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    use crate::platform::audit::Event;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "settings.update").await?;
    let mode: SignupMode = parse_field("signup_mode", &signup_mode)?;
    let policy: Option<MfaPolicy> = mfa_policy
        .as_deref()
        .map(|p| parse_field("mfa_policy", p))
        .transpose()?;
    // Sign-up and the MFA policy decide who gets in and how.
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    let before = settings::signup_mode(&ctx.state.db).await?;
    settings::set_signup_mode(&ctx.state.db, mode, &admin.id, ctx.now).await?;
    let policy_before = settings::mfa_policy(&ctx.state.db).await?;
    if let Some(policy) = policy {
        settings::set_mfa_policy(&ctx.state.db, policy, &admin.id, ctx.now).await?;
    }
    ctx.audit(
        Event::new("settings.update")
            .actor(&admin.id, &admin.email)
            .target("setting", "portal")
            .details(serde_json::json!({
                "signup_mode": { "from": before, "to": mode },
                "mfa_policy": { "from": policy_before, "to": policy.unwrap_or(policy_before) },
            })),
    )
    .await
}

#[server(prefix = "/api", endpoint = "create_invitation")]
pub async fn create_invitation(
    email: String,
    role: String,
    step_up_code: Option<String>,
) -> Result<CreatedInvitation, AppError> {
    use crate::domain::Email;
    use crate::error::FormErrors;
    use crate::platform::audit::Event;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "invitation.create").await?;
    let mut errors = FormErrors::new();
    let email = errors.check("email", Email::parse(&email));
    let role = errors.check("role", role.parse::<Role>());
    let (email, role) = match (email, role) {
        (Some(e), Some(r)) if errors.is_empty() => (e, r),
        _ => return Err(errors.into_error()),
    };
    // An invitation grants a role, as a role change does.
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    if crate::auth::users::find_by_email(&ctx.state.db, &email)
        .await?
        .is_some()
    {
        return Err(AppError::field(
            "email",
            "This person already has an account.",
        ));
    }
    let (invitation, token) =
        settings::create_invitation(&ctx.state.db, &email, role, &admin.id, ctx.now).await?;
    ctx.audit(
        Event::new("invitation.create")
            .actor(&admin.id, &admin.email)
            .target("invitation", &invitation.id)
            .details(serde_json::json!({ "email": invitation.email, "role": role })),
    )
    .await?;
    Ok(CreatedInvitation {
        email: invitation.email,
        link: format!("{}/sign-up?invite={token}", ctx.state.config.base_url()),
    })
}

#[server(prefix = "/api", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(id: String) -> Result<(), AppError> {
    use crate::platform::audit::Event;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "invitation.revoke").await?;
    let ctx = crate::platform::Ctx::current().await?;
    if !settings::delete_invitation(&ctx.state.db, &id).await? {
        return Err(AppError::NotFound);
    }
    ctx.audit(
        Event::new("invitation.revoke")
            .actor(&admin.id, &admin.email)
            .target("invitation", &id),
    )
    .await
}

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
                        <label for=role_id.clone() class="sr-only">{format!("Role of {}", user.email)}</label>
                        <select id=role_id name="role" class="input py-1" disabled=is_me>
                            {Role::ALL
                                .iter()
                                .map(|r| view! { <option value=r.as_str() selected=*r == current_role>{r.label()}</option> })
                                .collect_view()}
                        </select>
                        <button type="submit" class="btn-secondary py-1" disabled=is_me>"Save"</button>
                    </div>
                </ActionForm>
            </td>
            <td class="py-3 pr-4"><span class=status_badge>{user.status.label()}</span></td>
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
            <service_tokens::ServiceTokensSection />
        </div>
    }
}
