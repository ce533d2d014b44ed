//! A user's ways in: their password and the identity-provider identities linked to the
//! account, with "Link" (a round trip to the provider) and "Unlink" (never the last way in).

use crate::auth::oidc::{problem_message, ProviderButton};
use crate::components::{action_error, ErrorView, FormError, Loading, Notice};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    pub id: String,
    /// The provider's label, or its issuer when it is no longer configured.
    pub provider: String,
    pub email: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInMethodsView {
    pub has_password: bool,
    pub identities: Vec<LinkedIdentity>,
    pub providers: Vec<ProviderButton>,
}

#[cfg(feature = "ssr")]
pub mod service {
    use super::*;
    use crate::auth::oidc::store as identities;
    use crate::auth::users;
    use crate::auth::CurrentUser;
    use crate::domain::Outcome;
    use crate::platform::audit::Event;
    use crate::platform::state::fmt_time;
    use crate::platform::Ctx;

    pub async fn list(ctx: &Ctx, user: &CurrentUser) -> Result<SignInMethodsView, AppError> {
        let db = &ctx.state.db;
        let has_password = users::find_by_id(db, &user.id)
            .await?
            .is_some_and(|u| u.password_hash.is_some());
        let identities = identities::list_for_user(db, &user.id)
            .await?
            .into_iter()
            .map(|i| LinkedIdentity {
                provider: ctx
                    .state
                    .oidc
                    .by_issuer(&i.issuer)
                    .map_or(i.issuer.clone(), |p| p.config.label.clone()),
                id: i.id,
                email: i.email,
                created_at: fmt_time(i.created_at),
                last_used_at: i.last_used_at.map(fmt_time),
            })
            .collect();
        Ok(SignInMethodsView {
            has_password,
            identities,
            providers: crate::auth::oidc::buttons(&ctx.state.oidc),
        })
    }

    /// Only the caller's own identities (someone else's answers "not found"), and never
    /// the last way into the account.
    pub async fn unlink(ctx: &Ctx, user: &CurrentUser, identity_id: &str) -> Result<(), AppError> {
        let db = &ctx.state.db;
        let event = Event::new("identity.unlink")
            .actor(&user.id, &user.email)
            .target("user", &user.id);
        let Some(identity) = identities::find_for_user(db, identity_id, &user.id).await? else {
            ctx.audit(event.outcome(Outcome::Denied).details(serde_json::json!({
                "identity": identity_id, "reason": "not one of the caller's identities",
            })))
            .await?;
            return Err(AppError::NotFound);
        };
        let details = serde_json::json!({
            "identity": identity.id, "issuer": identity.issuer, "subject": identity.subject,
        });
        if !identities::delete_unless_last(db, &identity.id, &user.id).await? {
            ctx.audit(event.outcome(Outcome::Denied).details(serde_json::json!({
                "identity": identity.id, "reason": "last way in",
            })))
            .await?;
            return Err(AppError::Conflict {
                message: "This is the only way into your account. Link another provider before unlinking this one.".into(),
            });
        }
        ctx.audit(event.details(details)).await
    }
}

#[server(prefix = "/api", endpoint = "list_sign_in_methods")]
pub async fn list_sign_in_methods() -> Result<SignInMethodsView, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::list(&ctx, &user).await
}

#[server(prefix = "/api", endpoint = "unlink_identity")]
pub async fn unlink_identity(id: String) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::unlink(&ctx, &user, &id).await
}

/// The "Sign-in methods" card of the account page.
#[component]
pub fn SignInMethods() -> impl IntoView {
    let unlink = ServerAction::<UnlinkIdentity>::new();
    let data = Resource::new(move || unlink.version().get(), |_| list_sign_in_methods());
    let query = use_query_map();
    let problem = move || problem_message(query.read().get("error"));
    let step_up = ServerAction::<crate::auth::mfa::ConfirmStepUp>::new();
    let wants_step_up = move || query.read().get("error").as_deref() == Some("oidc_step_up");
    let stepped_up = move || query.read().get("confirmed").is_some();
    let linked = move || query.read().get("linked").is_some();
    view! {
        <section class="card space-y-4" aria-labelledby="methods-heading">
            <h2 id="methods-heading" class="text-lg font-semibold">"Sign-in methods"</h2>
            {move || problem().map(|m| view! {
                <div role="alert" class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800">{m}</div>
            })}
            {move || linked().then(|| view! { <Notice text="The identity provider is now linked to your account." /> })}
            {move || wants_step_up().then(|| view! {
                <ActionForm action=step_up attr:class="flex flex-wrap items-end gap-2">
                    <input type="hidden" name="next" value="/account?confirmed=1" />
                    <div class="space-y-1">
                        <label for="link-step-up-code" class="label">"Code from your authenticator app"</label>
                        <input id="link-step-up-code" name="code" class="input w-40" inputmode="numeric" autocomplete="one-time-code" required />
                    </div>
                    <button type="submit" class="btn">"Confirm"</button>
                    <div class="w-full"><FormError error=action_error(step_up) /></div>
                </ActionForm>
            })}
            {move || stepped_up().then(|| view! { <Notice text="Confirmed. Now choose the provider to link." /> })}
            <FormError error=action_error(unlink) />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <MethodsList view=v unlink /> }.into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn MethodsList(view: SignInMethodsView, unlink: ServerAction<UnlinkIdentity>) -> impl IntoView {
    let password = if view.has_password {
        "Password: set."
    } else {
        "Password: none (you sign in through an identity provider)."
    };
    let identities = view
        .identities
        .into_iter()
        .map(|i| {
            let used = i.last_used_at.unwrap_or_else(|| "never".into());
            let what = format!(
                "{}{} · linked {} · last used {}",
                i.provider,
                i.email.map(|e| format!(" ({e})")).unwrap_or_default(),
                i.created_at,
                used
            );
            view! {
                <li class="flex items-center justify-between gap-4 py-2 text-sm">
                    <span>{what}</span>
                    <ActionForm action=unlink>
                        <input type="hidden" name="id" value=i.id />
                        <button type="submit" class="btn-secondary py-1">"Unlink"</button>
                    </ActionForm>
                </li>
            }
        })
        .collect_view();
    let links = view
        .providers
        .into_iter()
        .map(|p| {
            view! {
                <a href=format!("/auth/oidc/{}/start?link=1", p.id) rel="external" class="btn-secondary py-1">
                    {format!("Link {}", p.label)}
                </a>
            }
        })
        .collect_view();
    view! {
        <p class="text-sm text-slate-600">{password}</p>
        <ul class="divide-y divide-slate-100">{identities}</ul>
        <div class="flex flex-wrap gap-2">{links}</div>
    }
}
