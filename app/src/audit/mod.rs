//! The audit log: one mechanism ([`crate::platform::audit::record`]) for every security-relevant action, the
//! admin page that searches it, and the table the dashboards show it in, in words
//! ([`labels`]).

pub mod labels;

use crate::components::{EmptyState, ErrorView, Loading, PageTitle, Pager, ScrollRegion};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

pub const PER_PAGE: i64 = 50;

/// Actions the audit log knows, for the filter.
pub const ACTIONS: &[&str] = &[
    "auth.sign_in",
    "auth.first_factor",
    "auth.sign_out",
    "auth.sign_up",
    "auth.setup_admin",
    "account.profile_update",
    "account.password_change",
    "user.create",
    "user.role_change",
    "user.disable",
    "user.enable",
    "settings.update",
    "invitation.create",
    "invitation.revoke",
    "authz.denied",
    "mfa.enable",
    "mfa.disable",
    "mfa.verify",
    "mfa.step_up",
    "mfa.recovery_codes_regenerate",
    "session.end",
    "session.end_others",
    "identity.link",
    "identity.unlink",
    "api.create",
    "api.update",
    "api.delete",
    "api.lifecycle",
    "api.openapi_upload",
    "api.openapi_remove",
    "plan.create",
    "plan.update",
    "plan.delete",
    "application.create",
    "application.update",
    "application.delete",
    "subscription.request",
    "subscription.approve",
    "subscription.reject",
    "subscription.suspend",
    "subscription.resume",
    "subscription.cancel",
    "subscription.end",
    "key.issue",
    "key.revoke",
    "key.rotate",
    "key.revoke_all",
    "key.leak",
    "key.rotation_age",
    "service_token.create",
    "service_token.revoke",
];

/// One audit event as shown in the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: i64,
    pub at: String,
    pub actor: Option<String>,
    /// The action's code, such as `key.issue`.
    pub action: String,
    /// The action in words, such as "Issued an API key".
    pub label: String,
    /// What it was done to, by name (an email, a key's name), never by id.
    pub target: Option<String>,
    /// The target as stored (`api_key:<id>`), for the admin's audit log only.
    pub target_ref: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub details: String,
}

#[cfg(feature = "ssr")]
impl From<crate::platform::audit::EventRow> for AuditEventView {
    fn from(r: crate::platform::audit::EventRow) -> Self {
        let details = serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null);
        AuditEventView {
            id: r.id,
            at: crate::platform::state::fmt_time(r.at),
            actor: r.actor_email,
            label: labels::action_label(&r.action),
            action: r.action,
            target: labels::target_name(
                r.target_type.as_deref(),
                r.target_id.as_deref(),
                r.target_email.as_deref(),
                &details,
            ),
            target_ref: r
                .target_type
                .map(|t| format!("{t}:{}", r.target_id.unwrap_or_default())),
            ip: r.ip,
            user_agent: r.user_agent,
            outcome: r.outcome,
            details: r.details,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub total: i64,
    pub page: i64,
}

/// `YYYY-MM-DD` (UTC) → unix ms at the start of that day.
pub fn parse_day(input: &str) -> Result<i64, String> {
    let bad = || "Use a date like 2026-01-31.".to_string();
    let mut parts = input.trim().splitn(3, '-');
    let mut next = || parts.next().and_then(|p| p.parse::<i64>().ok());
    let (y, m, d) = (
        next().ok_or_else(bad)?,
        next().ok_or_else(bad)?,
        next().ok_or_else(bad)?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400_000)
}

#[server(prefix = "/api", endpoint = "list_audit")]
pub async fn list_audit(
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<i64>,
) -> Result<AuditPage, AppError> {
    use crate::domain::Role;
    use crate::error::FormErrors;
    crate::auth::guard::require_role(&[Role::Admin], "audit.list").await?;
    let state = crate::platform::state::app_state()?;
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut errors = FormErrors::new();
    let from_ms = nonempty(from).and_then(|d| errors.check("from", parse_day(&d)));
    let to_ms = nonempty(to)
        .and_then(|d| errors.check("to", parse_day(&d)))
        .map(|ms| ms + 86_400_000);
    errors.finish()?;
    let filter = crate::platform::audit::Filter {
        actor_email: nonempty(actor).map(|a| a.to_lowercase()),
        action: nonempty(action),
        involving_user: None,
        from_ms,
        to_ms,
    };
    let page = page.unwrap_or(1).clamp(1, 1_000_000);
    let (rows, total) =
        crate::platform::audit::list(&state.db, &filter, PER_PAGE, (page - 1) * PER_PAGE).await?;
    Ok(AuditPage {
        events: rows.into_iter().map(Into::into).collect(),
        total,
        page,
    })
}

/// A table of audit events, in words. `full` (the admin's audit log) adds what an
/// investigation needs: the action's code, the target's id (on hover) and the raw details.
#[component]
pub fn AuditTable(
    events: Vec<AuditEventView>,
    /// Names the table's scrolling region for screen readers.
    #[prop(into)]
    label: String,
    #[prop(optional)] full: bool,
    /// The reader's email: their own events say "You".
    #[prop(into, optional)]
    me: Option<String>,
) -> impl IntoView {
    view! {
        <ScrollRegion label>
            <table class="min-w-full text-left text-sm">
                <thead class="border-b border-slate-200 text-xs uppercase text-slate-500">
                    <tr>
                        <th scope="col" class="py-2 pr-4">"Time"</th>
                        <th scope="col" class="py-2 pr-4">"Who"</th>
                        <th scope="col" class="py-2 pr-4">"What"</th>
                        <th scope="col" class="py-2 pr-4">"On"</th>
                        <th scope="col" class="py-2 pr-4">"Outcome"</th>
                        <th scope="col" class="py-2 pr-4">"IP"</th>
                        {full.then(|| view! { <th scope="col" class="py-2 pr-4">"Details"</th> })}
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {events
                        .into_iter()
                        .map(|e| {
                            let outcome_class = match e.outcome.as_str() {
                                "success" => "badge bg-emerald-100 text-emerald-800",
                                "denied" => "badge bg-amber-100 text-amber-800",
                                _ => "badge bg-red-100 text-red-800",
                            };
                            let details = e.details.clone();
                            let (code, target_ref) = (e.action.clone(), e.target_ref.clone());
                            view! {
                                <tr data-action=e.action.clone()>
                                    <td class="whitespace-nowrap py-2 pr-4 text-slate-500">{e.at}</td>
                                    <td class="py-2 pr-4">{match e.actor {
                                        Some(a) if me.as_ref() == Some(&a) => "You".to_string(),
                                        Some(a) => a,
                                        None => "—".to_string(),
                                    }}</td>
                                    <td class="py-2 pr-4">
                                        {e.label}
                                        {full.then(|| view! { <span class="block font-mono text-xs text-slate-500">{code}</span> })}
                                    </td>
                                    // The stored id is there on hover, for an investigation.
                                    <td class="py-2 pr-4" title=target_ref.filter(|_| full)>
                                        {e.target.unwrap_or_else(|| "—".into())}
                                    </td>
                                    <td class="py-2 pr-4"><span class=outcome_class>{labels::outcome_label(&e.outcome)}</span></td>
                                    <td class="py-2 pr-4 font-mono text-xs" title=e.user_agent.unwrap_or_default()>{e.ip.unwrap_or_default()}</td>
                                    {full.then(|| view! {
                                        <td class="max-w-xs truncate py-2 pr-4 font-mono text-xs" title=details.clone()>{details.clone()}</td>
                                    })}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

#[component]
pub fn AuditPageView() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).filter(|v| !v.is_empty());
    let data = Resource::new(
        move || {
            (
                get("actor"),
                get("action"),
                get("from"),
                get("to"),
                get("page").and_then(|p| p.parse::<i64>().ok()),
            )
        },
        |(actor, action, from, to, page)| list_audit(actor, action, from, to, page),
    );
    let href = move |page: i64| {
        let mut q: Vec<String> = ["actor", "action", "from", "to"]
            .iter()
            .filter_map(|k| get(k).map(|v| format!("{k}={}", crate::components::urlencode(&v))))
            .collect();
        q.push(format!("page={page}"));
        format!("/admin/audit?{}", q.join("&"))
    };
    view! {
        <PageTitle text="Audit log · Keyport" />
        <div class="space-y-6">
            <h1 class="text-2xl font-semibold">"Audit log"</h1>
            <form method="get" action="/admin/audit" class="card grid gap-4 sm:grid-cols-5 sm:items-end">
                <div class="space-y-1">
                    <label for="audit-actor" class="label">"Actor email"</label>
                    <input id="audit-actor" name="actor" type="search" class="input" value=move || get("actor") />
                </div>
                <div class="space-y-1">
                    <label for="audit-action" class="label">"Action"</label>
                    <select id="audit-action" name="action" class="input">
                        <option value="">"Any action"</option>
                        {ACTIONS
                            .iter()
                            .map(|a| view! { <option value=*a selected=move || get("action").as_deref() == Some(*a)>{labels::action_label(a)}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="space-y-1">
                    <label for="audit-from" class="label">"From (UTC)"</label>
                    <input id="audit-from" name="from" type="date" class="input" value=move || get("from") />
                </div>
                <div class="space-y-1">
                    <label for="audit-to" class="label">"To (UTC, inclusive)"</label>
                    <input id="audit-to" name="to" type="date" class="input" value=move || get("to") />
                </div>
                <button type="submit" class="btn">"Filter"</button>
            </form>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(page) if page.events.is_empty() => view! {
                            <EmptyState title="No events match these filters.">
                                "Clear a filter or widen the dates."
                            </EmptyState>
                        }
                        .into_any(),
                        Ok(page) => view! {
                            <section class="card space-y-4">
                                <AuditTable events=page.events label="Audit events" full=true />
                                <Pager page=page.page per_page=PER_PAGE total=page.total href=href />
                            </section>
                        }
                        .into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_to_utc_midnight() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(parse_day("2026-11-23"), Ok(1_795_392_000_000));
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
