//! Single sign-on settings: who gets an account at their first identity-provider sign-in
//! (just-in-time provisioning policy and its email domains).

use crate::auth::oidc::ProviderButton;
use crate::components::{action_error, field_errors, FormError, Loading, Notice, TextArea};
use crate::domain::JitPolicy;
#[cfg(feature = "ssr")]
use crate::domain::Role;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoSettings {
    pub policy: JitPolicy,
    pub domains: Vec<String>,
    pub providers: Vec<ProviderButton>,
}

/// Domains separated by commas, spaces or new lines: `example.com, corp.example.org`.
pub fn parse_domains(input: &str) -> Result<Vec<String>, String> {
    let mut domains: Vec<String> = Vec::new();
    for raw in input.split(|c: char| c == ',' || c.is_whitespace()) {
        let d = raw.trim().trim_start_matches('@').to_lowercase();
        if d.is_empty() {
            continue;
        }
        if crate::domain::Email::parse(&format!("x@{d}")).is_err() {
            return Err(format!("{d:?} is not a domain name like example.com."));
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if domains.len() > 100 {
        return Err("List at most 100 domains.".into());
    }
    Ok(domains)
}

#[server(prefix = "/api", endpoint = "get_sso_settings")]
pub async fn get_sso_settings() -> Result<SsoSettings, AppError> {
    crate::auth::guard::require_role(&[Role::Admin], "settings.read").await?;
    let state = crate::platform::state::app_state()?;
    Ok(SsoSettings {
        policy: crate::platform::settings::jit_policy(&state.db).await?,
        domains: crate::platform::settings::jit_domains(&state.db).await?,
        providers: crate::auth::oidc::buttons(&state.oidc),
    })
}

#[server(prefix = "/api", endpoint = "update_sso_settings")]
pub async fn update_sso_settings(
    jit_policy: String,
    jit_domains: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    use crate::error::FormErrors;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "settings.update").await?;
    let mut errors = FormErrors::new();
    let policy = errors.check("jit_policy", jit_policy.parse::<JitPolicy>());
    let domains = errors.check("jit_domains", parse_domains(&jit_domains));
    if policy == Some(JitPolicy::Domains) && domains.as_ref().is_some_and(Vec::is_empty) {
        errors.add("jit_domains", "List at least one domain for this policy.");
    }
    let (policy, domains) = match (policy, domains) {
        (Some(p), Some(d)) if errors.is_empty() => (p, d),
        _ => return Err(errors.into_error()),
    };
    // Who gets an account at a first IdP sign-in.
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    super::service::update_sso(&ctx, &admin, policy, domains).await
}

/// The "Single sign-on" card of the settings page.
#[component]
pub fn SsoSettingsSection() -> impl IntoView {
    let update = ServerAction::<UpdateSsoSettings>::new();
    let data = Resource::new(move || update.version().get(), |_| get_sso_settings());
    view! {
        <section class="card space-y-4" aria-labelledby="sso-heading">
            <h2 id="sso-heading" class="text-lg font-semibold">"Single sign-on"</h2>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    let s = match data.await {
                        Ok(s) => s,
                        // The page's main section already explains a refusal.
                        Err(_) => return ().into_any(),
                    };
                    let providers = if s.providers.is_empty() {
                        "No identity provider is configured (see oidc_providers in the configuration).".to_string()
                    } else {
                        format!("Identity providers: {}.", s.providers.iter().map(|p| p.label.as_str()).collect::<Vec<_>>().join(", "))
                    };
                    view! {
                        <p class="text-sm text-slate-600">{providers}</p>
                        <ActionForm action=update>
                            <div class="space-y-4">
                                {move || matches!(update.value().get(), Some(Ok(()))).then(|| view! { <Notice text="Single sign-on settings saved." /> })}
                                <FormError error=action_error(update) />
                                <fieldset class="space-y-2">
                                    <legend class="label">"Who gets an account at their first sign-in with a provider"</legend>
                                    {JitPolicy::ALL.iter().map(|p| {
                                        let id = format!("jit-{}", p.as_str());
                                        view! {
                                            <div class="flex items-center gap-2">
                                                <input type="radio" id=id.clone() name="jit_policy" value=p.as_str() checked=*p == s.policy />
                                                <label for=id>{p.label()}</label>
                                            </div>
                                        }
                                    }).collect_view()}
                                </fieldset>
                                <TextArea
                                    id="jit-domains"
                                    label="Email domains (for the domain policy)"
                                    name="jit_domains"
                                    value=s.domains.join("\n")
                                    rows=3
                                    hint="One per line, e.g. example.com. Subdomains are not included."
                                    errors=field_errors(update, "jit_domains")
                                />
                                <button type="submit" class="btn">"Save"</button>
                            </div>
                        </ActionForm>
                    }
                    .into_any()
                })}
            </Transition>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            parse_domains(" Example.com,\n@corp.example.org example.com ").unwrap(),
            vec!["example.com", "corp.example.org"]
        );
        assert!(parse_domains("not a domain!").is_err());
        assert_eq!(parse_domains("").unwrap(), Vec::<String>::new());
    }
}
