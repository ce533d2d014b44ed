//! The keys part of "My applications": the list (prefix…last4, never the key), the issue
//! form, the one-time reveal with a copy button, rotation with a grace period, and
//! revocation with a reason (one key, or all of the application's); and the admin's
//! views: every key in the portal (search, state filter, revoke) and the key lifecycle
//! policy card of the settings page.

use super::*;
use crate::components::{
    action_error, field_errors, CopyField, EmptyState, ErrorView, Field, FieldMessages, FormError,
    LiveCheck, Loading, Notice, PageTitle, Pager, StepUpCode,
};
use crate::domain::LeakAction;
use leptos_router::hooks::use_query_map;

/// The key just issued, shown once at the top of the page.
#[component]
pub fn IssuedKeyNotice(issued: RwSignal<Option<IssuedKey>>) -> impl IntoView {
    move || {
        issued.get().map(|k| {
            view! {
                <section role="status" class="space-y-3 rounded-lg border border-amber-300 bg-amber-50 p-4" aria-labelledby="new-key-heading">
                    <h2 id="new-key-heading" class="font-semibold text-amber-900">{format!("Your new key for {}: copy it now", k.application)}</h2>
                    <p class="text-sm text-amber-900">"This is the only time Keyport shows it: only a fingerprint is kept. If you lose it, revoke it and issue another."</p>
                    <CopyField label="API key" value=k.key />
                    // A link, so it also leaves the page without JavaScript (the page that
                    // answered the form).
                    <a href="/applications" class="btn-secondary inline-block"
                        on:click=move |ev| { ev.prevent_default(); issued.set(None); }>"I have stored it"</a>
                </section>
            }
        })
    }
}

#[component]
pub fn KeysSection(
    application_id: String,
    keys: Vec<KeyView>,
    policy: KeyPolicy,
    issued: RwSignal<Option<IssuedKey>>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let issue = ServerAction::<IssueKey>::new();
    let rotate = ServerAction::<RotateKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let revoke_all = ServerAction::<RevokeApplicationKeys>::new();
    crate::auth::mfa::pages_step_up(issue);
    crate::auth::mfa::pages_step_up(rotate);
    crate::auth::mfa::pages_step_up(revoke);
    crate::auth::mfa::pages_step_up(revoke_all);
    // Once a key is shown, its panel closes and forgets what was typed: the list is where
    // the new key (and Rotate/Revoke) is.
    let issue_panel = NodeRef::<leptos::html::Details>::new();
    // The form checks itself as it is filled in; on submission the server's answer shows.
    let live = LiveCheck::new();
    Effect::new(move |_| {
        if issue.pending().get() {
            live.reset();
        }
    });
    let issue_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let Some(Ok(key)) = issue.value().get() {
            issued.set(Some(key));
            refresh.update(|n| *n += 1);
            if let Some(form) = issue_form.get_untracked() {
                form.reset();
            }
            if let Some(panel) = issue_panel.get_untracked() {
                panel.set_open(false);
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(key)) = rotate.value().get() {
            issued.set(Some(key));
            refresh.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if revoke.value().with(|v| matches!(v, Some(Ok(()))))
            || revoke_all.value().with(|v| matches!(v, Some(Ok(_))))
        {
            refresh.update(|n| *n += 1);
        }
    });
    // While a change is not yet in effect on every gateway instance, the list is read
    // again each second until it is.
    // (Effects run in the browser only.)
    let spreading = keys
        .iter()
        .any(|k| k.propagation.as_ref().is_some_and(|p| !p.complete()));
    Effect::new(move |_| {
        if spreading {
            set_timeout(
                move || refresh.update(|n| *n += 1),
                std::time::Duration::from_secs(1),
            );
        }
    });
    let fid = {
        let id = application_id.clone();
        move |f: &str| format!("key-{id}-{f}")
    };
    let can_issue = policy.active_subscriptions > 0;
    let scopes_hint = if policy.scopes.is_empty() {
        "Your plans define no scopes.".to_string()
    } else {
        format!("Space-separated, from: {}", policy.scopes.join(" "))
    };
    let lifetime_note = policy
        .max_lifetime_days
        .map(|d| format!("Your plan allows keys of at most {d} days."));
    let (env_id, exp_id) = (fid("environment"), fid("expires"));
    let (period_id, refill_id, at_id) = (fid("rate_period"), fid("refill"), fid("expires_at"));
    let in_force = keys
        .iter()
        .filter(|k| matches!(k.state.as_str(), "active" | "grace" | "exhausted"))
        .count();
    let api_choices = (policy.apis.len() > 1).then(|| {
        let apis = policy.apis.clone();
        let fid = fid.clone();
        view! {
            <fieldset class="space-y-1">
                <legend class="label">"APIs it may call"</legend>
                <p class="text-xs text-slate-500">"None ticked: all of this application's APIs."</p>
                {apis.into_iter().map(|a| {
                    let id = fid(&format!("api-{}", a.id));
                    view! {
                        <div class="flex items-center gap-2">
                            <input type="checkbox" id=id.clone() name="apis[]" value=a.id.clone() />
                            <label for=id class="text-sm">{a.name.clone()}</label>
                        </div>
                    }
                }).collect_view()}
                <FieldMessages errors=field_errors(issue, "apis") />
            </fieldset>
        }
    });
    let plan_rates: Vec<String> = policy
        .apis
        .iter()
        .filter_map(|a| a.rate.as_ref().map(|r| format!("{}: {r}", a.name)))
        .collect();
    let rate_hint = if plan_rates.is_empty() {
        "Empty: only the plan's limit applies.".to_string()
    } else {
        format!("Empty: the plan's limit ({}).", plan_rates.join("; "))
    };
    view! {
        <div class="space-y-3 border-t border-slate-100 pt-4">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h3 class="font-semibold">"API keys"</h3>
                <span class="flex-1"></span>
                {(in_force > 1).then(|| {
                    let reason_id = fid("revoke-all-reason");
                    let step_up_id = fid("revoke-all-step-up");
                    let application_id = application_id.clone();
                    view! {
                        <details class="relative">
                            <summary class="btn-secondary cursor-pointer list-none py-1">"Revoke all…"</summary>
                            <div class="absolute right-0 z-10 mt-2 w-80 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                                <ActionForm action=revoke_all attr:class="space-y-2">
                                    <input type="hidden" name="application_id" value=application_id.clone() />
                                    <label for=reason_id.clone() class="label">"Reason"</label>
                                    <input id=reason_id name="reason" class="input" required placeholder="Compromised server, app retired…" />
                                    <p class="text-xs text-slate-600">{format!("All {in_force} keys in force stop working at once. You will be asked for a two-factor code.")}</p>
                                    <StepUpCode id=step_up_id />
                                    <FieldMessages errors=field_errors(revoke_all, "reason") />
                                    <button type="submit" class="btn-danger w-full">"Revoke every key"</button>
                                </ActionForm>
                            </div>
                        </details>
                    }
                })}
                {can_issue.then(|| view! {
                    // Open again when the server refused the form (without JavaScript the
                    // page reloads with the error).
                    <details class="relative" node_ref=issue_panel open=move || matches!(issue.value().get(), Some(Err(_)))>
                        <summary class="btn cursor-pointer list-none py-1">"Issue a key…"</summary>
                        <div class="absolute right-0 z-10 mt-2 max-h-[80vh] w-96 max-w-[90vw] overflow-y-auto rounded-md border border-slate-200 bg-white p-4 shadow-lg">
                            <ActionForm action=issue node_ref=issue_form attr:class="space-y-3" on:input=live.on_input(|v| {
                                IssueForm {
                                    name: v.get("name"),
                                    environment: v.get("environment"),
                                    expires_in: v.get("expires_in"),
                                    expires_at: v.get("expires_at"),
                                    scopes: v.get("scopes"),
                                    max_uses: v.get("max_uses"),
                                    ip_allowlist: v.get("ip_allowlist"),
                                    apis: v.all("apis"),
                                    rate_limit: v.get("rate_limit"),
                                    rate_period: v.get("rate_period"),
                                    refill: v.get("refill"),
                                }
                                .parse()
                                .err()
                            })>
                                <input type="hidden" name="application_id" value=application_id.clone() />
                                <Field id=fid("name") label="Key name" name="name" required=true hint="Where it is used, such as \"CI\" or \"prod server\"" errors=live.messages("name", field_errors(issue, "name")) />
                                <div class="grid grid-cols-2 gap-3">
                                    <div class="space-y-1">
                                        <label for=env_id.clone() class="label">"Environment"</label>
                                        <select id=env_id.clone() name="environment" class="input" aria-describedby=format!("{env_id}-hint")>
                                            <option value="test">"Test"</option>
                                            <option value="live">"Live"</option>
                                        </select>
                                        <p id=format!("{env_id}-hint") class="text-xs text-slate-500">"Test keys reach an API's sandbox; APIs without one refuse them."</p>
                                    </div>
                                    <div class="space-y-1">
                                        <label for=exp_id.clone() class="label">"Expires after"</label>
                                        <select id=exp_id name="expires_in" class="input">
                                            {EXPIRY_PRESETS.iter().map(|(value, label, _)| view! { <option value=*value selected=*value == "30d">{*label}</option> }).collect_view()}
                                        </select>
                                    </div>
                                </div>
                                <FieldMessages errors=live.messages("expires_in", field_errors(issue, "expires_in")) />
                                <div class="when-at space-y-1">
                                    <label for=at_id.clone() class="label">"Expiry date and time (UTC)"</label>
                                    <input id=at_id.clone() name="expires_at" type="datetime-local" step="1" class="input" aria-describedby=format!("{at_id}-hint") />
                                    <p id=format!("{at_id}-hint") class="text-xs text-slate-500">"A temporary key stops working at this moment."</p>
                                </div>
                                <FieldMessages errors=live.messages("expires_at", field_errors(issue, "expires_at")) />
                                {lifetime_note.map(|n| view! { <p class="text-xs text-slate-500">{n}</p> })}
                                <Field id=fid("scopes") label="Scopes" name="scopes" hint=scopes_hint errors=live.messages("scopes", field_errors(issue, "scopes")) />
                                {api_choices}
                                <div class="grid grid-cols-2 gap-3">
                                    <Field id=fid("max_uses") label="Maximum uses" name="max_uses" hint="Empty: unlimited." errors=live.messages("max_uses", field_errors(issue, "max_uses")) />
                                    <div class="space-y-1">
                                        <label for=refill_id.clone() class="label">"Refill uses"</label>
                                        <select id=refill_id name="refill" class="input">
                                            <option value="">"Never"</option>
                                            <option value="day">"Every day"</option>
                                            <option value="month">"Every month"</option>
                                        </select>
                                        <FieldMessages errors=live.messages("refill", field_errors(issue, "refill")) />
                                    </div>
                                </div>
                                <div class="grid grid-cols-2 gap-3">
                                    <Field id=fid("rate_limit") label="Own rate limit" name="rate_limit" hint=rate_hint errors=live.messages("rate_limit", field_errors(issue, "rate_limit")) />
                                    <div class="space-y-1">
                                        <label for=period_id.clone() class="label">"Per"</label>
                                        <select id=period_id name="rate_period" class="input">
                                            <option value="second">"second"</option>
                                            <option value="minute">"minute"</option>
                                        </select>
                                    </div>
                                </div>
                                <Field id=fid("ip_allowlist") label="Allowed IP addresses" name="ip_allowlist" hint="Empty: anywhere. Addresses or CIDRs, such as 203.0.113.0/24 2001:db8::/32" errors=live.messages("ip_allowlist", field_errors(issue, "ip_allowlist")) />
                                <p class="text-xs text-slate-500">"You will be asked for a two-factor code."</p>
                                <StepUpCode id=fid("step-up") />
                                <FormError error=action_error(issue) />
                                <button type="submit" class="btn w-full">"Issue key"</button>
                            </ActionForm>
                        </div>
                    </details>
                })}
            </div>
            <FormError error=action_error(revoke) />
            <FormError error=action_error(rotate) />
            <FormError error=action_error(revoke_all) />
            {move || revoke_all.value().get().and_then(Result::ok).map(|n| view! { <Notice text=format!("{n} key(s) revoked.") /> })}
            {if keys.is_empty() {
                view! {
                    <p class="text-sm text-slate-500">{if can_issue {
                        "No keys yet. Issue one to call the APIs this application subscribes to."
                    } else {
                        "Keys need an active subscription: subscribe this application in the catalog first."
                    }}</p>
                }.into_any()
            } else {
                view! {
                    <ul class="divide-y divide-slate-100 text-sm" aria-label="API keys">
                        {keys.into_iter().map(|k| view! { <KeyRowView key=k revoke rotate=Some(rotate) /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </div>
    }
}

/// One key: what it is and may do, its state, and (while in force) rotate and revoke.
#[component]
pub(super) fn KeyRowView(
    key: KeyView,
    revoke: ServerAction<RevokeKey>,
    rotate: Option<ServerAction<RotateKey>>,
    /// Shows the application and owner (the admin's list).
    #[prop(optional)]
    admin: bool,
) -> impl IntoView {
    let badge = match key.state.as_str() {
        "active" => "badge bg-emerald-100 text-emerald-800",
        "grace" => "badge bg-amber-100 text-amber-900",
        "expired" | "exhausted" | "rotated" => "badge bg-slate-200 text-slate-700",
        _ => "badge bg-red-100 text-red-800",
    };
    let state_label = match key.state.as_str() {
        "grace" => "old key, in grace period".to_string(),
        other => other.to_string(),
    };
    let in_force = matches!(key.state.as_str(), "active" | "grace" | "exhausted");
    let can_rotate = matches!(key.state.as_str(), "active" | "exhausted");
    let (reason_id, grace_id) = (
        format!("revoke-{}-reason", key.id),
        format!("rotate-{}-grace", key.id),
    );
    let (rotate_code_id, revoke_code_id) = (
        format!("rotate-{}-step-up", key.id),
        format!("revoke-{}-step-up", key.id),
    );
    let id = key.id.clone();
    let details = [
        (!key.scopes.is_empty()).then(|| format!("scopes {}", key.scopes.join(" "))),
        (!key.apis.is_empty()).then(|| format!("only {}", key.apis.join(", "))),
        key.max_uses.map(|m| {
            format!(
                "{} of {m} uses left{}",
                key.remaining_uses.unwrap_or(0),
                key.refill
                    .as_ref()
                    .map(|r| format!(", refilled {r}"))
                    .unwrap_or_default()
            )
        }),
        key.rate.clone(),
        (!key.ip_allowlist.is_empty()).then(|| format!("from {}", key.ip_allowlist.join(", "))),
        key.replaces.as_ref().map(|r| format!("replaces {r}")),
        key.revoke_reason.as_ref().map(|r| format!("Reason: {r}")),
    ];
    let owner = admin.then(|| {
        format!(
            "{} · {}",
            key.application,
            key.owner.clone().unwrap_or_else(|| "no owner".into())
        )
    });
    view! {
        <li class="space-y-1 py-2" data-key=key.name.clone() data-state=key.state.clone()>
            <div class="flex flex-wrap items-center gap-3">
                <span class="font-medium">{key.name.clone()}</span>
                <code class="badge font-mono">{format!("{}…{}", key.prefix, key.last4)}</code>
                <span class=badge>{state_label}</span>
                <span class="text-slate-500">{key.environment.clone()}</span>
                {owner.map(|o| view! { <span class="text-slate-600">{o}</span> })}
                {key.flagged.clone().map(|f| view! { <span class="badge bg-red-100 text-red-800" title=f.clone()>{format!("Leak reported: {f}")}</span> })}
                <span class="flex-1"></span>
                {(can_rotate && rotate.is_some()).then(|| {
                    let rotate = rotate.expect("checked");
                    let id = id.clone();
                    view! {
                        <details class="relative">
                            <summary class="btn-secondary cursor-pointer list-none py-1 text-xs">"Rotate…"</summary>
                            <div class="absolute right-0 z-10 mt-2 w-80 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                                <ActionForm action=rotate attr:class="space-y-2">
                                    <input type="hidden" name="id" value=id />
                                    <label for=grace_id.clone() class="label">"Keep the old key working for"</label>
                                    <select id=grace_id name="grace" class="input">
                                        {GRACE_PRESETS.iter().map(|(v, l)| view! { <option value=*v selected=*v == "24h">{*l}</option> }).collect_view()}
                                    </select>
                                    <p class="text-xs text-slate-600">"You get a new key with the same settings; move your clients to it during the grace period. You will be asked for a two-factor code."</p>
                                    <StepUpCode id=rotate_code_id />
                                    <FieldMessages errors=field_errors(rotate, "grace") />
                                    <button type="submit" class="btn w-full">"Rotate key"</button>
                                </ActionForm>
                            </div>
                        </details>
                    }
                })}
                {in_force.then(|| view! {
                    <details class="relative">
                        <summary class="btn-secondary cursor-pointer list-none py-1 text-xs">"Revoke…"</summary>
                        <div class="absolute right-0 z-10 mt-2 w-72 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                            <ActionForm action=revoke attr:class="space-y-2">
                                <input type="hidden" name="id" value=id.clone() />
                                <label for=reason_id.clone() class="label">"Reason"</label>
                                <input id=reason_id name="reason" class="input" required placeholder="Rotated, leaked, no longer used…" />
                                <p class="text-xs text-slate-600">"The key stops working at once. You will be asked for a two-factor code."</p>
                                <StepUpCode id=revoke_code_id />
                                <button type="submit" class="btn-danger w-full">"Revoke key"</button>
                            </ActionForm>
                        </div>
                    </details>
                })}
            </div>
            <p class="text-xs text-slate-600">{details.into_iter().flatten().collect::<Vec<_>>().join(" · ")}</p>
            {key.rotation.clone().map(|r| {
                let until = match (key.state.as_str(), r.until.clone()) {
                    ("grace", Some(t)) => format!(" · works until {t}"),
                    ("rotated", Some(t)) => format!(" · stopped {t}"),
                    _ => String::new(),
                };
                view! {
                    <p class="text-xs text-amber-900" data-rotation="">{format!(
                        "Rotated {} to {}{until} · {} request(s) since rotation · last used {}",
                        r.rotated,
                        r.successor,
                        r.uses_since,
                        r.last_used.clone().unwrap_or_else(|| "never".into()),
                    )}</p>
                }
            })}
            {key.propagation.clone().map(|p| {
                let class = if p.complete() { "text-xs text-emerald-800" } else { "text-xs text-amber-900" };
                view! { <p class=class data-propagation="" role="status">{p.sentence()}</p> }
            })}
            <p class="text-xs text-slate-500">{format!(
                "Created {}{} · {} · last used {}{}",
                key.created,
                key.created_by.clone().map(|e| format!(" by {e}")).unwrap_or_default(),
                key.expires.clone().map(|e| format!("expires {e}")).unwrap_or_else(|| "no expiry".into()),
                key.last_used.clone().unwrap_or_else(|| "never".into()),
                key.last_used_ip.clone().map(|ip| format!(" from {ip}")).unwrap_or_default(),
            )}</p>
        </li>
    }
}

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
                                <div class="flex items-start gap-2">
                                    <input type="checkbox" id="kp-suspend-leaked" name="suspend_leaked" value="on" class="mt-1" checked=s.suspend_leaked aria-describedby="kp-suspend-leaked-hint" />
                                    <div>
                                        <label for="kp-suspend-leaked">"Revoke a rotated-out key still in use late in its grace period"</label>
                                        <p id="kp-suspend-leaked-hint" class="text-xs text-slate-500">"The leaked-key alert: used 5 times within 15 minutes after half of its grace period. Its replacement keeps working; the owner is told either way."</p>
                                    </div>
                                </div>
                                <button type="submit" class="btn">"Save"</button>
                            </div>
                        </ActionForm>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}
