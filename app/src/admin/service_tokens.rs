//! Service tokens: the credentials gateways present to the verify API. Admins create them
//! (step-up; shown once) and revoke them; only digests are stored.

use crate::components::{
    action_error, field_errors, CopyField, EmptyState, ErrorView, Field, FormError, Loading,
};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What a service token looks like: `kps_` and 43 base64url characters (256 bits).
pub const TOKEN_PREFIX: &str = "kps_";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceTokenView {
    pub id: String,
    pub name: String,
    pub created: String,
    pub created_by: Option<String>,
    pub last_used: Option<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedServiceToken {
    pub name: String,
    pub token: String,
}

#[cfg(feature = "ssr")]
pub mod store {
    use super::*;
    use crate::platform::state::{fmt_time, new_id, new_token, token_digest, Db};
    use sqlx::Row;

    /// Creates a token; returns (id, token). The token is not kept.
    pub async fn create(
        db: &Db,
        name: &str,
        created_by: Option<&str>,
        now: i64,
    ) -> Result<(String, String), AppError> {
        let (raw, _) = new_token(32);
        let token = format!("{TOKEN_PREFIX}{raw}");
        let id = new_id();
        sqlx::query(
            "INSERT INTO service_tokens (id, name, token_digest, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(token_digest(&token))
        .bind(created_by)
        .bind(now)
        .execute(db)
        .await?;
        Ok((id, token))
    }

    pub async fn list(db: &Db) -> Result<Vec<ServiceTokenView>, AppError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.created_at, t.last_used_at, t.revoked_at, u.email FROM service_tokens t \
             LEFT JOIN users u ON u.id = t.created_by ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC LIMIT 200",
        )
        .fetch_all(db)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(ServiceTokenView {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created: fmt_time(r.try_get("created_at")?),
                    created_by: r.try_get("email")?,
                    last_used: r.try_get::<Option<i64>, _>("last_used_at")?.map(fmt_time),
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    pub async fn revoke(db: &Db, id: &str, now: i64) -> Result<Option<String>, AppError> {
        let row = sqlx::query("UPDATE service_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name")
            .bind(now)
            .bind(id)
            .fetch_optional(db)
            .await?;
        Ok(row.map(|r| r.try_get("name")).transpose()?)
    }

    /// The id of the live token `token`, if any: from the cache, or looked up by digest.
    /// The last use is written at most once a minute, so verifications do not each write.
    pub async fn authenticate(
        state: &crate::platform::state::AppState,
        token: &str,
        now: i64,
    ) -> Result<Option<String>, AppError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Ok(None);
        }
        let digest = token_digest(token);
        if let Some(id) = state.service_tokens.get(&digest, now) {
            return Ok(Some(id));
        }
        let generation = state.service_tokens.generation();
        let db = &state.db;
        let row = sqlx::query(
            "SELECT id, last_used_at FROM service_tokens WHERE token_digest = $1 AND revoked_at IS NULL",
        )
        .bind(&digest)
        .fetch_optional(db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let last: Option<i64> = row.try_get("last_used_at")?;
        if last.is_none_or(|t| now - t >= 60_000) {
            sqlx::query("UPDATE service_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(db)
                .await?;
        }
        state
            .service_tokens
            .put(digest, id.clone(), now, generation);
        Ok(Some(id))
    }
}

#[server(prefix = "/api", endpoint = "list_service_tokens")]
pub async fn list_service_tokens() -> Result<Vec<ServiceTokenView>, AppError> {
    crate::auth::guard::require_role(&[crate::domain::Role::Admin], "service_token.list").await?;
    store::list(&crate::platform::state::app_state()?.db).await
}

/// Creates a service token for a gateway (step-up); the token is shown once.
#[server(prefix = "/api", endpoint = "create_service_token")]
pub async fn create_service_token(
    name: String,
    step_up_code: Option<String>,
) -> Result<CreatedServiceToken, AppError> {
    use crate::platform::audit::Event;
    let admin =
        crate::auth::guard::require_role(&[crate::domain::Role::Admin], "service_token.create")
            .await?;
    let name = crate::domain::line(&name, "a name, such as the gateway it is for", 60)
        .map_err(|e| AppError::field("name", e))?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    let (id, token) = store::create(&ctx.state.db, &name, Some(&admin.id), ctx.now).await?;
    ctx.audit(
        Event::new("service_token.create")
            .actor(&admin.id, &admin.email)
            .target("service_token", &id)
            .details(serde_json::json!({ "name": name })),
    )
    .await?;
    Ok(CreatedServiceToken { name, token })
}

#[server(prefix = "/api", endpoint = "revoke_service_token")]
pub async fn revoke_service_token(
    id: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    use crate::platform::audit::Event;
    let admin =
        crate::auth::guard::require_role(&[crate::domain::Role::Admin], "service_token.revoke")
            .await?;
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    let name = store::revoke(&ctx.state.db, &id, ctx.now)
        .await?
        .ok_or(AppError::NotFound)?;
    ctx.state.service_tokens.clear();
    ctx.audit(
        Event::new("service_token.revoke")
            .actor(&admin.id, &admin.email)
            .target("service_token", &id)
            .details(serde_json::json!({ "name": name })),
    )
    .await
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
