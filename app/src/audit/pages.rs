//! The audit log page (admins) and the table of events the dashboards show.

use super::*;
use crate::components::{EmptyState, ErrorView, Loading, PageTitle, Pager, ScrollRegion};
use leptos_router::hooks::use_query_map;

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
