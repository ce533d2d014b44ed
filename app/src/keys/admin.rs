//! The admin's views of keys: every key in the portal (search, state filter, revoke) and
//! the key lifecycle policy card of the settings page.

use super::pages::KeyRowView;
use super::*;
use crate::components::PageTitle;
use crate::components::{
    action_error, field_errors, EmptyState, ErrorView, FieldMessages, FormError, Loading, Notice,
    Pager,
};
use crate::domain::LeakAction;
use leptos_router::hooks::use_query_map;

/// `/admin/keys`: every key, newest first.
#[component]
pub fn AllKeysPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).filter(|v| !v.is_empty());
    let revoke = ServerAction::<RevokeKey>::new();
    crate::auth::mfa::pages_step_up(revoke);
    let data = Resource::new(
        move || {
            (
                get("q"),
                get("state"),
                get("page").and_then(|p| p.parse::<i64>().ok()),
                revoke.version().get(),
            )
        },
        |(q, state, page, _)| all_keys(q, state, page),
    );
    let href = move |page: i64| {
        let mut q: Vec<String> = ["q", "state"]
            .iter()
            .filter_map(|k| get(k).map(|v| format!("{k}={}", crate::components::urlencode(&v))))
            .collect();
        q.push(format!("page={page}"));
        format!("/admin/keys?{}", q.join("&"))
    };
    const STATES: [(&str, &str); 4] = [
        ("", "Any state"),
        ("live", "In force"),
        ("revoked", "Revoked"),
        ("flagged", "Flagged by a leak report"),
    ];
    view! {
        <PageTitle text="All API keys · Keyport" />
        <div class="space-y-6">
            <h1 class="text-2xl font-semibold">"All API keys"</h1>
            <form method="get" action="/admin/keys" class="card grid gap-4 sm:grid-cols-3 sm:items-end">
                <div class="space-y-1">
                    <label for="keys-q" class="label">"Search"</label>
                    <input id="keys-q" name="q" type="search" class="input" placeholder="Key name, kp_live_AbCd, application or owner" value=move || get("q") />
                </div>
                <div class="space-y-1">
                    <label for="keys-state" class="label">"State"</label>
                    <select id="keys-state" name="state" class="input">
                        {STATES.iter().map(|(v, l)| view! { <option value=*v selected=move || get("state").as_deref().unwrap_or("") == *v>{*l}</option> }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn">"Filter"</button>
            </form>
            <FormError error=action_error(revoke) />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(page) if page.items.is_empty() => view! {
                            <EmptyState title="No keys match.">
                                "Developers issue keys from My applications once a subscription is active. Clear the filters to see every key."
                            </EmptyState>
                        }.into_any(),
                        Ok(page) => view! {
                            <section class="card space-y-4">
                                <p class="text-sm text-slate-600">{format!("{} key(s)", page.total)}</p>
                                <ul class="divide-y divide-slate-100 text-sm" aria-label="API keys">
                                    {page.items.into_iter().map(|k| view! { <KeyRowView key=k revoke rotate=None admin=true /> }).collect_view()}
                                </ul>
                                <Pager page=page.page per_page=page.per_page total=page.total href=href />
                            </section>
                        }.into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// The "API key policy" card of the settings page.
#[component]
pub fn KeySettingsSection() -> impl IntoView {
    let update = ServerAction::<UpdateKeySettings>::new();
    let data = Resource::new(move || update.version().get(), |_| get_key_settings());
    let number = move |id: &'static str,
                       label: &'static str,
                       hint: &'static str,
                       value: Option<i64>| {
        view! {
            <div class="space-y-1">
                <label for=format!("kp-{id}") class="label">{label}</label>
                <input id=format!("kp-{id}") name=id type="number" min="1" class="input"
                    value=value.map(|v| v.to_string()).unwrap_or_default() aria-describedby=format!("kp-{id}-hint") />
                <p id=format!("kp-{id}-hint") class="text-xs text-slate-500">{hint}</p>
                <FieldMessages errors=field_errors(update, id) />
            </div>
        }
    };
    view! {
        <section class="card space-y-4" aria-labelledby="key-policy-heading">
            <h2 id="key-policy-heading" class="text-lg font-semibold">"API key policy"</h2>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    let Ok(s) = data.await else { return ().into_any() };
                    view! {
                        <ActionForm action=update>
                            <div class="space-y-4">
                                {move || matches!(update.value().get(), Some(Ok(()))).then(|| view! { <Notice text="Key policy saved." /> })}
                                <FormError error=action_error(update) />
                                <div class="grid gap-4 sm:grid-cols-3">
                                    {number("max_lifetime_days", "Maximum key lifetime (days)", "Empty: no limit. Plans may set less.", s.max_lifetime_days)}
                                    {number("rotation_days", "Rotation age (days)", "Keys older than this stop working. Empty: never.", s.rotation_days)}
                                    {number("reminder_days", "Remind owners (days ahead)", "Before a key expires or reaches the rotation age.", Some(s.reminder_days))}
                                </div>
                                <fieldset class="space-y-2">
                                    <legend class="label">"When a leak report matches a key"</legend>
                                    {LeakAction::ALL.iter().map(|a| {
                                        let id = format!("leak-{}", a.as_str());
                                        view! {
                                            <div class="flex items-center gap-2">
                                                <input type="radio" id=id.clone() name="leak_action" value=a.as_str() checked=*a == s.leak_action />
                                                <label for=id>{a.label()}</label>
                                            </div>
                                        }
                                    }).collect_view()}
                                </fieldset>
                                <button type="submit" class="btn">"Save"</button>
                            </div>
                        </ActionForm>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}
