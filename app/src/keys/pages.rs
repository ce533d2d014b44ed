//! The keys part of "My applications": the list (prefix…last4, never the key), the issue
//! form, the one-time reveal with a copy button, and revocation with a reason.

use super::*;
use crate::components::{action_error, field_errors, CopyField, Field, FieldMessages, FormError};

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
                    <button type="button" class="btn-secondary" on:click=move |_| issued.set(None)>"I have stored it"</button>
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
    let revoke = ServerAction::<RevokeKey>::new();
    crate::mfa::pages_step_up(issue);
    crate::mfa::pages_step_up(revoke);
    Effect::new(move |_| {
        if let Some(Ok(key)) = issue.value().get() {
            issued.set(Some(key));
            refresh.update(|n| *n += 1);
        }
        if let Some(Ok(())) = revoke.value().get() {
            refresh.update(|n| *n += 1);
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
    view! {
        <div class="space-y-3 border-t border-slate-100 pt-4">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h3 class="font-semibold">"API keys"</h3>
                {can_issue.then(|| view! {
                    <details class="relative">
                        <summary class="btn cursor-pointer list-none py-1">"Issue a key…"</summary>
                        <div class="absolute right-0 z-10 mt-2 w-96 rounded-md border border-slate-200 bg-white p-4 shadow-lg">
                            <ActionForm action=issue attr:class="space-y-3">
                                <input type="hidden" name="application_id" value=application_id.clone() />
                                <Field id=fid("name") label="Key name" name="name" required=true hint="Where it is used, such as \"CI\" or \"prod server\"" errors=field_errors(issue, "name") />
                                <div class="grid grid-cols-2 gap-3">
                                    <div class="space-y-1">
                                        <label for=env_id.clone() class="label">"Environment"</label>
                                        <select id=env_id name="environment" class="input">
                                            <option value="test">"Test"</option>
                                            <option value="live">"Live"</option>
                                        </select>
                                    </div>
                                    <div class="space-y-1">
                                        <label for=exp_id.clone() class="label">"Expires after"</label>
                                        <select id=exp_id name="expires_in" class="input">
                                            {EXPIRY_PRESETS.iter().map(|(value, label, _)| view! { <option value=*value selected=*value == "30d">{*label}</option> }).collect_view()}
                                        </select>
                                    </div>
                                </div>
                                <FieldMessages errors=field_errors(issue, "expires_in") />
                                {lifetime_note.map(|n| view! { <p class="text-xs text-slate-500">{n}</p> })}
                                <Field id=fid("scopes") label="Scopes" name="scopes" hint=scopes_hint errors=field_errors(issue, "scopes") />
                                <Field id=fid("max_uses") label="Maximum uses" name="max_uses" hint="Empty: unlimited. Each valid verification uses one." errors=field_errors(issue, "max_uses") />
                                <Field id=fid("ip_allowlist") label="Allowed IP addresses" name="ip_allowlist" hint="Empty: anywhere. Addresses or CIDRs, such as 203.0.113.0/24 2001:db8::/32" errors=field_errors(issue, "ip_allowlist") />
                                <p class="text-xs text-slate-500">"You will be asked for a two-factor code."</p>
                                <FormError error=action_error(issue) />
                                <button type="submit" class="btn w-full">"Issue key"</button>
                            </ActionForm>
                        </div>
                    </details>
                })}
            </div>
            <FormError error=action_error(revoke) />
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
                        {keys.into_iter().map(|k| view! { <KeyRowView key=k revoke /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </div>
    }
}

#[component]
fn KeyRowView(key: KeyView, revoke: ServerAction<RevokeKey>) -> impl IntoView {
    let badge = match key.state.as_str() {
        "active" => "badge bg-emerald-100 text-emerald-800",
        "expired" | "exhausted" => "badge bg-slate-200 text-slate-700",
        _ => "badge bg-red-100 text-red-800",
    };
    let active = key.state == "active";
    let reason_id = format!("revoke-{}-reason", key.id);
    let id = key.id.clone();
    view! {
        <li class="flex flex-wrap items-center gap-3 py-2" data-key=key.name.clone()>
            <span class="font-medium">{key.name.clone()}</span>
            <code class="badge font-mono">{format!("{}…{}", key.prefix, key.last4)}</code>
            <span class=badge>{key.state.clone()}</span>
            <span class="text-slate-500">{key.environment.clone()}</span>
            {(!key.scopes.is_empty()).then(|| view! { <span class="text-xs text-slate-500">{key.scopes.join(" ")}</span> })}
            {key.max_uses.map(|m| view! { <span class="text-xs text-slate-600">{format!("{} of {m} uses left", key.remaining_uses.unwrap_or(0))}</span> })}
            {(!key.ip_allowlist.is_empty()).then(|| view! { <span class="text-xs text-slate-600">{format!("from {}", key.ip_allowlist.join(", "))}</span> })}
            {key.revoke_reason.clone().map(|r| view! { <span class="text-slate-600">{format!("Reason: {r}")}</span> })}
            <span class="flex-1"></span>
            <span class="text-xs text-slate-500">{format!(
                "Created {}{} · {} · last used {}",
                key.created,
                key.created_by.clone().map(|e| format!(" by {e}")).unwrap_or_default(),
                key.expires.clone().map(|e| format!("expires {e}")).unwrap_or_else(|| "no expiry".into()),
                key.last_used.clone().unwrap_or_else(|| "never".into()),
            )}</span>
            {active.then(|| view! {
                <details class="relative">
                    <summary class="btn-secondary cursor-pointer list-none py-1 text-xs">"Revoke…"</summary>
                    <div class="absolute right-0 z-10 mt-2 w-72 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                        <ActionForm action=revoke attr:class="space-y-2">
                            <input type="hidden" name="id" value=id />
                            <label for=reason_id.clone() class="label">"Reason"</label>
                            <input id=reason_id name="reason" class="input" required placeholder="Rotated, leaked, no longer used…" />
                            <p class="text-xs text-slate-600">"The key stops working at once. You will be asked for a two-factor code."</p>
                            <button type="submit" class="btn-danger w-full">"Revoke key"</button>
                        </ActionForm>
                    </div>
                </details>
            })}
        </li>
    }
}
