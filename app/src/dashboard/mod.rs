//! The signed-in home: the account's real state for everyone (sessions, recent activity) and,
//! for admins, user counts and the latest audit events.

use crate::audit::{AuditEventView, AuditTable};
use crate::auth::CurrentUser;
use crate::components::{ErrorView, Loading, PageTitle};
use crate::domain::{Role, SignupMode};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionView {
    pub created_at: String,
    pub last_seen_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleCount {
    pub role: Role,
    pub active: i64,
    pub disabled: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminOverview {
    pub counts: Vec<RoleCount>,
    pub signup_mode: SignupMode,
    pub open_invitations: usize,
    pub recent: Vec<AuditEventView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dashboard {
    pub user: CurrentUser,
    pub recovery_codes_left: i64,
    pub member_since: String,
    pub sessions: Vec<SessionView>,
    pub activity: Vec<AuditEventView>,
    pub admin: Option<AdminOverview>,
    /// Subscription requests waiting for the caller (publishers: their APIs; admins: all).
    pub pending_approvals: Option<i64>,
}

#[server(prefix = "/api", endpoint = "dashboard")]
pub async fn load_dashboard() -> Result<Dashboard, AppError> {
    use crate::platform::audit::{list, Filter};
    use crate::platform::session::{list_for_user, AuthSession};
    use crate::platform::state::fmt_time;
    let user = crate::auth::guard::require_signed_in().await?;
    let state = crate::platform::state::app_state()?;
    let now = state.clock.now();
    let current_id = AuthSession::current().await?.id();
    let row = crate::auth::users::find_by_id(&state.db, &user.id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let sessions = list_for_user(&state.db, &user.id, now)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: current_id.as_deref() == Some(s.id.as_str()),
            created_at: fmt_time(s.created_at),
            last_seen_at: fmt_time(s.last_seen_at),
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    let mine = Filter {
        involving_user: Some(user.id.clone()),
        ..Filter::default()
    };
    let activity = list(&state.db, &mine, 10, 0)
        .await?
        .0
        .into_iter()
        .map(Into::into)
        .collect();
    let admin = if user.role == Role::Admin {
        let mut counts: Vec<RoleCount> = Role::ALL
            .iter()
            .map(|r| RoleCount {
                role: *r,
                active: 0,
                disabled: 0,
            })
            .collect();
        for (role, status, n) in crate::auth::users::counts(&state.db).await? {
            if let Some(c) = counts.iter_mut().find(|c| c.role == role) {
                match status {
                    crate::domain::UserStatus::Active => c.active = n,
                    crate::domain::UserStatus::Disabled => c.disabled = n,
                }
            }
        }
        Some(AdminOverview {
            counts,
            signup_mode: crate::platform::settings::signup_mode(&state.db).await?,
            open_invitations: crate::platform::settings::pending_invitations(&state.db, now)
                .await?
                .len(),
            recent: list(&state.db, &Filter::default(), 10, 0)
                .await?
                .0
                .into_iter()
                .map(Into::into)
                .collect(),
        })
    } else {
        None
    };
    let pending_approvals = match user.role {
        Role::Admin => Some(crate::subscriptions::store::pending_count(&state.db, None).await?),
        Role::Publisher => {
            Some(crate::subscriptions::store::pending_count(&state.db, Some(&user.id)).await?)
        }
        Role::Developer => None,
    };
    Ok(Dashboard {
        pending_approvals,
        recovery_codes_left: crate::auth::mfa::store::recovery_codes_left(&state.db, &user.id)
            .await?,
        user,
        member_since: fmt_time(row.created_at),
        sessions,
        activity,
        admin,
    })
}

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
