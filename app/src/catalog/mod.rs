//! The API catalog: publishers describe APIs (Markdown docs, an OpenAPI reference, tags,
//! visibility, lifecycle) and their plans; developers browse, read and subscribe.

// A server function takes one argument per form field (that is how a form posts without
// JavaScript), and the API and plan forms have more than clippy's seven.
#![allow(clippy::too_many_arguments)]

#[cfg(feature = "ssr")]
pub mod markdown;
pub mod openapi;
mod pages;
mod publish;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
mod store;

pub use pages::{lifecycle_badge, ApiPage, CatalogPage};
pub use publish::{ApiEditorPage, NewApiPage, PublishPage};

use crate::domain::{
    Approval, Lifecycle, QuotaPeriod, RatePeriod, Role, SubscriptionState, UpstreamProtocol,
    Visibility,
};
use crate::error::AppError;
use crate::subscriptions::AppChoice;
use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};

pub const CATALOG_PER_PAGE: i64 = 24;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiCard {
    pub slug: String,
    pub name: String,
    pub version: String,
    pub summary: String,
    pub tags: Vec<String>,
    pub lifecycle: Lifecycle,
    pub sunset: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogView {
    pub apis: Vec<ApiCard>,
    pub total: i64,
    pub page: i64,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rate_limit: Option<i64>,
    pub rate_period: RatePeriod,
    pub burst: i64,
    pub quota: Option<i64>,
    pub quota_period: QuotaPeriod,
    pub approval: Approval,
    pub scopes: Vec<String>,
    pub max_key_lifetime_days: Option<i64>,
}

impl PlanView {
    /// "10 requests per second (burst 20)" or "Unlimited rate".
    pub fn rate_text(&self) -> String {
        match self.rate_limit {
            Some(n) if self.burst > 0 => format!(
                "{n} requests {} (burst {})",
                self.rate_period.label(),
                self.burst
            ),
            Some(n) => format!("{n} requests {}", self.rate_period.label()),
            None => "Unlimited rate".into(),
        }
    }

    pub fn quota_text(&self) -> String {
        match self.quota {
            Some(n) => format!("{n} requests {}", self.quota_period.label()),
            None => "No quota".into(),
        }
    }

    pub fn lifetime_text(&self) -> String {
        match self.max_key_lifetime_days {
            Some(1) => "Keys live at most 1 day".into(),
            Some(d) => format!("Keys live at most {d} days"),
            None => "Keys may live until revoked".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub version: String,
    pub summary: String,
    pub description_html: String,
    pub tags: Vec<String>,
    pub lifecycle: Lifecycle,
    pub sunset: Option<String>,
    pub plans: Vec<PlanView>,
    /// The reference's outline; each operation's details come from [`api_operation`].
    pub reference: Option<openapi::Outline>,
    /// The operation named in the address (`?op=<anchor>`), shown open: how a browser
    /// without JavaScript reads an operation's details.
    pub open_operation: Option<openapi::Operation>,
    pub can_manage: bool,
    pub applications: Vec<AppChoice>,
    /// Where to call the API through Keyport's gateway (`None` without a gateway).
    pub gateway_url: Option<String>,
    /// The query parameter the gateway also takes the key from.
    pub key_param: Option<String>,
    /// Whether test keys reach a sandbox (else they are refused).
    pub has_sandbox: bool,
}

/// An API as its editor shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiEditView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub version: String,
    pub summary: String,
    pub description: String,
    pub tags: String,
    pub upstream_url: String,
    /// Empty when the API has none.
    pub sandbox_url: String,
    pub key_param: String,
    pub upstream_protocol: UpstreamProtocol,
    /// Empty when the API answers only at `/<slug>/` on the gateway.
    pub gateway_host: String,
    pub visibility: Visibility,
    pub visible_roles: Vec<Role>,
    pub lifecycle: Lifecycle,
    pub sunset: Option<String>,
    /// The document, when it is small enough to show in a text area
    /// ([`openapi::MAX_PASTE_BYTES`]).
    pub openapi_source: Option<String>,
    /// The document's size, whether or not it is shown.
    pub openapi_bytes: Option<usize>,
    pub operations: Option<usize>,
    pub plans: Vec<PlanView>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedApi {
    pub slug: String,
    pub name: String,
    pub version: String,
    pub lifecycle: Lifecycle,
    pub owner: Option<String>,
    pub plans: i64,
    pub pending: i64,
    pub live: i64,
    pub updated: String,
}

#[cfg(feature = "ssr")]
const PUBLISHERS: &[Role] = &[Role::Admin, Role::Publisher];

#[server(prefix = "/api", endpoint = "catalog")]
pub async fn catalog(
    q: Option<String>,
    tag: Option<String>,
    page: Option<i64>,
) -> Result<CatalogView, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    service::catalog(
        &state,
        &user,
        q.as_deref().unwrap_or(""),
        tag.as_deref().unwrap_or(""),
        page.unwrap_or(1),
    )
    .await
}

#[server(prefix = "/api", endpoint = "api_detail")]
pub async fn api_detail(slug: String, op: Option<String>) -> Result<ApiView, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    service::detail(&state, &user, &slug, op.as_deref()).await
}

/// One operation of an API's reference, by its anchor (`op-get-pets-id`).
#[server(prefix = "/api", endpoint = "api_operation")]
pub async fn api_operation(slug: String, anchor: String) -> Result<openapi::Operation, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    service::operation(&state, &user, &slug, &anchor).await
}

#[server(prefix = "/api", endpoint = "managed_apis")]
pub async fn managed_apis() -> Result<Vec<ManagedApi>, AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "api.list_managed").await?;
    let state = crate::platform::state::app_state()?;
    service::managed(&state, &user).await
}

#[server(prefix = "/api", endpoint = "api_for_edit")]
pub async fn api_for_edit(slug: String) -> Result<ApiEditView, AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "api.read_for_edit").await?;
    let state = crate::platform::state::app_state()?;
    service::for_edit(&state, &user, &slug).await
}

/// Creates a draft (no `id`) or saves an API's description. Returns its slug.
#[server(prefix = "/api", endpoint = "save_api")]
pub async fn save_api(
    id: Option<String>,
    name: String,
    slug: String,
    version: String,
    summary: String,
    description: String,
    tags: String,
    upstream_url: String,
    sandbox_url: Option<String>,
    key_param: Option<String>,
    upstream_protocol: Option<String>,
    gateway_host: Option<String>,
    visibility: String,
    role_admin: Option<String>,
    role_publisher: Option<String>,
    role_developer: Option<String>,
) -> Result<String, AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "api.save").await?;
    let roles: Vec<String> = [
        ("admin", role_admin),
        ("publisher", role_publisher),
        ("developer", role_developer),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(r, _)| r.to_string())
    .collect();
    let input = service::ApiInput {
        name,
        slug,
        version,
        summary,
        description,
        tags,
        upstream_url,
        sandbox_url: sandbox_url.unwrap_or_default(),
        key_param: key_param.unwrap_or_default(),
        upstream_protocol: upstream_protocol.unwrap_or_default(),
        gateway_host: gateway_host.unwrap_or_default(),
        visibility,
        roles,
    };
    let fields = service::parse_api(&input)?;
    let ctx = crate::platform::Ctx::current().await?;
    service::save(&ctx, &user, id.as_deref().filter(|s| !s.is_empty()), fields).await
}

/// Stores an OpenAPI document (JSON or YAML) for an API, or removes it when `document` is
/// empty. Returns the number of operations. Bound by the general request body limit: large
/// documents go through [`upload_openapi_file`].
#[server(prefix = "/api", endpoint = "upload_openapi")]
pub async fn upload_openapi(api_id: String, document: String) -> Result<usize, AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "api.openapi_upload").await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::upload_openapi(&ctx, &user, &api_id, document).await
}

/// The path of [`upload_openapi_file`]: the server lets bodies up to
/// [`openapi::MAX_DOCUMENT_BYTES`] (plus the form's own bytes) through to it only.
pub const OPENAPI_UPLOAD_PATH: &str = "/api/upload_openapi_file";

/// The OpenAPI form as `multipart/form-data` (how a file input posts, with or without
/// JavaScript): `api_id`, and a `file` or else a pasted `document`. Returns the number of
/// operations.
#[server(prefix = "/api", endpoint = "upload_openapi_file", input = MultipartFormData)]
pub async fn upload_openapi_file(data: MultipartData) -> Result<usize, AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "api.openapi_upload").await?;
    let form = service::read_openapi_form(data).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::upload_openapi(&ctx, &user, &form.api_id, form.document).await
}

/// Moves an API through its lifecycle. Retiring ends every subscription, so it is a
/// step-up action.
#[server(prefix = "/api", endpoint = "change_lifecycle")]
pub async fn change_lifecycle(
    api_id: String,
    lifecycle: String,
    sunset: Option<String>,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "api.lifecycle").await?;
    let to: Lifecycle = lifecycle
        .parse()
        .map_err(|e: String| AppError::field("lifecycle", e))?;
    if to == Lifecycle::Retired {
        crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    }
    let sunset = match sunset.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(day) => Some(crate::audit::parse_day(day).map_err(|e| AppError::field("sunset", e))?),
        None => None,
    };
    let ctx = crate::platform::Ctx::current().await?;
    service::change_lifecycle(&ctx, &user, &api_id, to, sunset).await
}

#[server(prefix = "/api", endpoint = "delete_api")]
pub async fn delete_api(api_id: String) -> Result<(), AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "api.delete").await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::delete_draft(&ctx, &user, &api_id).await
}

/// Creates (no `plan_id`) or updates a plan. New limits apply to existing subscriptions.
#[server(prefix = "/api", endpoint = "save_plan")]
pub async fn save_plan(
    api_id: String,
    plan_id: Option<String>,
    name: String,
    description: String,
    rate_limit: String,
    rate_period: String,
    burst: String,
    quota: String,
    quota_period: String,
    approval: String,
    scopes: String,
    max_key_lifetime_days: String,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "plan.save").await?;
    let input = service::PlanInput {
        name,
        description,
        rate_limit,
        rate_period,
        burst,
        quota,
        quota_period,
        approval,
        scopes,
        max_key_lifetime_days,
    };
    let fields = service::parse_plan(&input)?;
    let ctx = crate::platform::Ctx::current().await?;
    service::save_plan(
        &ctx,
        &user,
        &api_id,
        plan_id.as_deref().filter(|s| !s.is_empty()),
        fields,
    )
    .await
}

#[server(prefix = "/api", endpoint = "delete_plan")]
pub async fn delete_plan(plan_id: String) -> Result<(), AppError> {
    let user = crate::auth::guard::require_role(PUBLISHERS, "plan.delete").await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::delete_plan(&ctx, &user, &plan_id).await
}

/// Subscribes one of the caller's applications to a plan. Returns the new state (active on
/// automatic plans, pending on manual ones).
#[server(prefix = "/api", endpoint = "subscribe")]
pub async fn subscribe(
    application_id: String,
    plan_id: String,
) -> Result<SubscriptionState, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::subscribe(&ctx, &user, &application_id, &plan_id).await
}
