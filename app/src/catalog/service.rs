//! Catalog rules: who sees and who manages an API, input parsing, lifecycle moves (retiring
//! ends every live subscription), OpenAPI uploads and plans. Every change is audited.

use super::openapi::{Operation, Reference};
pub use super::store::PlanRow;
use super::store::{self, ApiFields, ApiRow, By, PlanFields};
use super::*;
use crate::applications;
use crate::auth::CurrentUser;
use crate::domain::{self as d, Slug};
use crate::error::FormErrors;
use crate::platform::audit::Event;
use crate::platform::state::{fmt_time, AppState, ClientInfo, Db};
use crate::platform::Ctx;
use crate::subscriptions::service as subscriptions;

/// Admins manage every API; publishers the ones they own.
pub fn can_manage(user: &CurrentUser, api: &ApiRow) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Publisher && api.owner_id.as_deref() == Some(user.id.as_str()))
}

/// Whether `user` may see the API's page: managers always; others when it is listed
/// (published or deprecated) and visible to their role.
pub fn can_see(user: &CurrentUser, api: &ApiRow) -> bool {
    can_manage(user, api)
        || (api.lifecycle.is_listed() && (user.role == Role::Admin || api.visible_to(user.role)))
}

/// The API `id` if `user` manages it; `NotFound` otherwise (an API you may not manage is
/// not acknowledged to exist).
pub async fn managed_api(
    state: &AppState,
    user: &CurrentUser,
    by: By<'_>,
) -> Result<ApiRow, AppError> {
    match store::find(&state.db, by).await? {
        Some(api) if can_manage(user, &api) => Ok(api),
        _ => Err(AppError::NotFound),
    }
}

fn sunset(api: &ApiRow) -> Option<String> {
    api.sunset_at.map(|t| fmt_time(t)[..10].to_string())
}

pub async fn catalog(
    state: &AppState,
    user: &CurrentUser,
    text: &str,
    tag: &str,
    page: i64,
) -> Result<CatalogView, AppError> {
    let page = page.clamp(1, 100_000);
    let text: String = text.chars().take(100).collect();
    let tag: String = tag.chars().take(32).collect();
    let (rows, total) = store::catalog(
        &state.db,
        &store::CatalogQuery {
            role: user.role,
            text: &text,
            tag: &tag,
            limit: CATALOG_PER_PAGE,
            offset: (page - 1) * CATALOG_PER_PAGE,
        },
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let tags = store::tags_of(&state.db, &ids).await?;
    let apis = rows
        .into_iter()
        .map(|r| ApiCard {
            tags: tags
                .iter()
                .filter(|(id, _)| *id == r.id)
                .map(|(_, t)| t.clone())
                .collect(),
            slug: r.slug,
            name: r.name,
            version: r.version,
            summary: r.summary,
            lifecycle: r.lifecycle,
            sunset: r.sunset_at.map(|t| fmt_time(t)[..10].to_string()),
        })
        .collect();
    Ok(CatalogView {
        apis,
        total,
        page,
        tags: store::popular_tags(&state.db, user.role, 20).await?,
    })
}

/// An API the caller may see, by slug (not found otherwise, whether or not it exists).
async fn visible(state: &AppState, user: &CurrentUser, slug: &str) -> Result<ApiRow, AppError> {
    match store::find(&state.db, By::Slug(slug)).await? {
        Some(api) if can_see(user, &api) => Ok(api),
        _ => Err(AppError::NotFound),
    }
}

/// The API page: the API, its plans, the caller's applications and the reference's outline
/// (with `open`, the operation of that anchor, in full).
pub async fn detail(
    state: &AppState,
    user: &CurrentUser,
    slug: &str,
    open: Option<&str>,
) -> Result<ApiView, AppError> {
    let api = visible(state, user, slug).await?;
    let plans = store::plans(&state.db, &api.id).await?;
    let tags = store::tags_of(&state.db, std::slice::from_ref(&api.id)).await?;
    let reference = stored_reference(state, &api).await?;
    let outline = reference.as_ref().map(Reference::outline);
    let open_operation = reference.zip(open).and_then(|(r, a)| r.into_operation(a));
    let applications = subscriptions::choices_for(state, user, &api.id).await?;
    Ok(ApiView {
        gateway_url: gateway_url_of(state, &api),
        key_param: api.key_param.clone(),
        has_sandbox: api.sandbox_url.is_some(),
        can_manage: can_manage(user, &api),
        sunset: sunset(&api),
        id: api.id,
        slug: api.slug,
        name: api.name,
        version: api.version,
        summary: api.summary,
        description_html: api.description_html,
        tags: tags.into_iter().map(|(_, t)| t).collect(),
        lifecycle: api.lifecycle,
        plans: plans.into_iter().map(|p| p.plan).collect(),
        reference: outline,
        open_operation,
        applications,
    })
}

/// One operation of the API's reference, in full.
pub async fn operation(
    state: &AppState,
    user: &CurrentUser,
    slug: &str,
    anchor: &str,
) -> Result<Operation, AppError> {
    let api = visible(state, user, slug).await?;
    stored_reference(state, &api)
        .await?
        .and_then(|r| r.into_operation(anchor))
        .ok_or(AppError::NotFound)
}

pub async fn managed(state: &AppState, user: &CurrentUser) -> Result<Vec<ManagedApi>, AppError> {
    let owner = (user.role != Role::Admin).then_some(user.id.as_str());
    Ok(store::managed(&state.db, owner)
        .await?
        .into_iter()
        .map(|m| ManagedApi {
            slug: m.api.slug,
            name: m.api.name,
            version: m.api.version,
            lifecycle: m.api.lifecycle,
            owner: m.api.owner_email,
            plans: m.plans,
            pending: m.pending,
            live: m.live,
            updated: fmt_time(m.api.updated_at),
        })
        .collect())
}

/// The ids and names of the APIs `user` manages (every API for admins).
pub async fn managed_ids(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<(String, String)>, AppError> {
    let owner = (user.role != Role::Admin).then_some(user.id.as_str());
    Ok(store::managed(&state.db, owner)
        .await?
        .into_iter()
        .map(|m| (m.api.id, m.api.name))
        .collect())
}

pub async fn for_edit(
    state: &AppState,
    user: &CurrentUser,
    slug: &str,
) -> Result<ApiEditView, AppError> {
    let api = managed_api(state, user, By::Slug(slug)).await?;
    let plans = store::plans(&state.db, &api.id).await?;
    let tags = store::tags_of(&state.db, std::slice::from_ref(&api.id)).await?;
    let operations = stored_reference(state, &api)
        .await?
        .map(|r| r.operation_count());
    let openapi_bytes = api.openapi_source.as_ref().map(String::len);
    Ok(ApiEditView {
        sunset: sunset(&api),
        id: api.id,
        slug: api.slug,
        name: api.name,
        version: api.version,
        summary: api.summary,
        description: api.description,
        tags: tags
            .into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
            .join(", "),
        upstream_url: api.upstream_url,
        sandbox_url: api.sandbox_url.unwrap_or_default(),
        key_param: api.key_param.unwrap_or_default(),
        upstream_protocol: api.upstream_protocol,
        gateway_host: api.gateway_host.unwrap_or_default(),
        visibility: api.visibility,
        visible_roles: api.visible_roles,
        lifecycle: api.lifecycle,
        // A large document stays out of the page (it would sit in a text area and in the
        // hydration data); the editor offers to replace it with a file instead.
        openapi_source: api
            .openapi_source
            .filter(|s| s.len() <= openapi::MAX_PASTE_BYTES),
        openapi_bytes,
        operations,
        plans: plans.into_iter().map(|p| p.plan).collect(),
        owner: api.owner_email,
    })
}

fn host_in_use() -> AppError {
    AppError::field(
        "gateway_host",
        "Another API answers at this host name. Choose another.",
    )
}

/// The host name of the gateway's own URL (`KEYPORT_GATEWAY_PUBLIC_URL`, else its listener).
fn gateway_host(state: &AppState) -> Option<String> {
    d::url_host(&state.config.gateway_url()?).map(str::to_ascii_lowercase)
}

/// Where a developer calls the API through the gateway: at its own host name when it has
/// one, else at `/<slug>` under the gateway's URL.
fn gateway_url_of(state: &AppState, api: &ApiRow) -> Option<String> {
    let base = state.config.gateway_url()?;
    match &api.gateway_host {
        Some(host) => d::at_host(&base, host),
        None => Some(format!("{base}/{}", api.slug)),
    }
}

/// The API form as posted.
pub struct ApiInput {
    pub name: String,
    pub slug: String,
    pub version: String,
    pub summary: String,
    pub description: String,
    pub tags: String,
    pub upstream_url: String,
    pub sandbox_url: String,
    pub key_param: String,
    /// `auto` or `http2`; empty: `auto`.
    pub upstream_protocol: String,
    pub gateway_host: String,
    pub visibility: String,
    pub roles: Vec<String>,
}

/// The API form, parsed: every field's problem at once.
pub struct ParsedApi {
    pub slug: String,
    pub name: String,
    pub version: String,
    pub summary: String,
    pub description: String,
    pub description_html: String,
    pub upstream_url: String,
    pub sandbox_url: Option<String>,
    pub key_param: Option<String>,
    pub upstream_protocol: UpstreamProtocol,
    pub gateway_host: Option<String>,
    pub visibility: Visibility,
    pub roles: Vec<Role>,
    pub tags: Vec<String>,
}

pub fn parse_api(input: &ApiInput) -> Result<ParsedApi, AppError> {
    let mut e = FormErrors::new();
    let name = e.check("name", d::line(&input.name, "a name", d::NAME_MAX));
    let slug_raw = if input.slug.trim().is_empty() {
        Slug::suggest(&input.name)
    } else {
        input.slug.clone()
    };
    let slug = e.check("slug", Slug::parse(&slug_raw));
    let version = e.check(
        "version",
        d::line(&input.version, "a version, such as v1 or 2.3.0", 32),
    );
    let summary = e.check(
        "summary",
        d::line(&input.summary, "a one-line summary", d::SUMMARY_MAX),
    );
    let description = e.check(
        "description",
        d::text(&input.description, d::DESCRIPTION_MAX),
    );
    let tags = e.check("tags", d::parse_tags(&input.tags));
    let upstream_url = e.check("upstream_url", d::parse_upstream(&input.upstream_url));
    let sandbox_url = e.check("sandbox_url", d::parse_sandbox(&input.sandbox_url));
    let key_param = e.check("key_param", d::parse_key_param(&input.key_param));
    let upstream_protocol = e.check(
        "upstream_protocol",
        match input.upstream_protocol.trim() {
            "" => Ok(UpstreamProtocol::Auto),
            s => s.parse::<UpstreamProtocol>(),
        },
    );
    let gateway_host = e.check("gateway_host", d::parse_gateway_host(&input.gateway_host));
    let visibility = e.check("visibility", input.visibility.parse::<Visibility>());
    let roles = e.check("roles", d::parse_roles(&input.roles));
    if visibility == Some(Visibility::Roles) && roles.as_ref().is_some_and(|r| r.is_empty()) {
        e.add("roles", "Choose at least one role that may see this API.");
    }
    match (
        name,
        slug,
        version,
        summary,
        description,
        tags,
        upstream_url,
        sandbox_url,
        key_param,
        upstream_protocol,
        gateway_host,
        visibility,
        roles,
    ) {
        (
            Some(name),
            Some(slug),
            Some(version),
            Some(summary),
            Some(description),
            Some(tags),
            Some(upstream_url),
            Some(sandbox_url),
            Some(key_param),
            Some(upstream_protocol),
            Some(gateway_host),
            Some(visibility),
            Some(roles),
        ) if e.is_empty() => Ok(ParsedApi {
            description_html: super::markdown::render(&description),
            slug: slug.as_str().to_string(),
            name,
            version,
            summary,
            description,
            upstream_url,
            sandbox_url,
            key_param,
            upstream_protocol,
            gateway_host,
            roles: if visibility == Visibility::Roles {
                roles
            } else {
                Vec::new()
            },
            visibility,
            tags,
        }),
        _ => Err(e.into_error()),
    }
}

pub async fn save(
    ctx: &Ctx,
    user: &CurrentUser,
    id: Option<&str>,
    p: ParsedApi,
) -> Result<String, AppError> {
    if !ctx.state.config.gateway_allow_internal_upstreams {
        let mut e = FormErrors::new();
        let urls = [
            ("upstream_url", Some(&p.upstream_url)),
            ("sandbox_url", p.sandbox_url.as_ref()),
        ];
        for (field, url) in urls {
            if let Some(why) = url.and_then(|u| d::internal_upstream(u)) {
                e.add(field, why);
            }
        }
        if !e.is_empty() {
            return Err(e.into_error());
        }
    }
    let fields = ApiFields {
        slug: &p.slug,
        name: &p.name,
        version: &p.version,
        summary: &p.summary,
        description: &p.description,
        description_html: &p.description_html,
        upstream_url: &p.upstream_url,
        sandbox_url: p.sandbox_url.as_deref(),
        key_param: p.key_param.as_deref(),
        upstream_protocol: p.upstream_protocol,
        gateway_host: p.gateway_host.as_deref(),
        visibility: p.visibility,
        visible_roles: &p.roles,
        tags: &p.tags,
    };
    let before = match id {
        None => None,
        Some(id) => {
            let api = managed_api(&ctx.state, user, By::Id(id)).await?;
            if api.lifecycle == Lifecycle::Retired {
                return Err(AppError::Conflict {
                    message: "A retired API cannot be changed.".into(),
                });
            }
            // Gateways and keys name the API by its slug: while anyone may call it, a new
            // slug would free the old one for another API.
            if api.slug != p.slug && subscriptions::live_count(&ctx.state.db, &api.id).await? > 0 {
                return Err(AppError::field(
                    "slug",
                    "Subscribers' gateways and keys use this slug: it cannot change while the API has live subscriptions.",
                ));
            }
            Some(api)
        }
    };
    if let Some(host) = &p.gateway_host {
        if gateway_host(&ctx.state).as_deref() == Some(host.as_str()) {
            return Err(AppError::field(
                "gateway_host",
                "That is the gateway's own host name, where every API answers at /<slug>/. Choose a name of this API's own.",
            ));
        }
    }
    let host_taken = || async {
        let Some(host) = &p.gateway_host else {
            return Ok::<_, AppError>(false);
        };
        let holder = store::api_at_host(&ctx.state.db, host).await?;
        Ok(holder.is_some_and(|other| Some(other.as_str()) != id))
    };
    if host_taken().await? {
        return Err(host_in_use());
    }
    let Some(api_id) = store::save_api(&ctx.state.db, id, &fields, &user.id, ctx.now).await? else {
        // Taken meanwhile: the host name or the slug.
        if host_taken().await? {
            return Err(host_in_use());
        }
        return Err(AppError::field(
            "slug",
            "Another API uses this slug. Choose another.",
        ));
    };
    let action = if before.is_some() {
        "api.update"
    } else {
        "api.create"
    };
    let changed: Vec<&str> = match &before {
        None => Vec::new(),
        Some(b) => [
            ("slug", b.slug != p.slug),
            ("name", b.name != p.name),
            ("version", b.version != p.version),
            ("summary", b.summary != p.summary),
            ("description", b.description != p.description),
            ("upstream_url", b.upstream_url != p.upstream_url),
            ("sandbox_url", b.sandbox_url != p.sandbox_url),
            ("key_param", b.key_param != p.key_param),
            (
                "upstream_protocol",
                b.upstream_protocol != p.upstream_protocol,
            ),
            ("gateway_host", b.gateway_host != p.gateway_host),
            (
                "visibility",
                b.visibility != p.visibility || b.visible_roles != p.roles,
            ),
        ]
        .into_iter()
        .filter(|(_, c)| *c)
        .map(|(f, _)| f)
        .collect(),
    };
    ctx.audit(
        Event::new(action)
            .actor(&user.id, &user.email)
            .target("api", &api_id)
            .details(serde_json::json!({ "slug": p.slug, "changed": changed, "tags": p.tags })),
    )
    .await?;
    Ok(p.slug)
}

/// At most this many documents are parsed at once: each holds a blocking thread and, for a
/// large document, a few hundred MB while it is built.
static PARSING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Parses a document on a blocking thread (it is CPU-bound up to the reference builder's
/// work budget), so the async executor keeps serving other requests meanwhile. Hands the
/// document back with its reference.
pub async fn parse_openapi(document: String) -> Result<(openapi::Reference, String), AppError> {
    let _permit = PARSING.acquire().await.map_err(AppError::internal)?;
    let (parsed, document) = tokio::task::spawn_blocking(move || {
        let parsed = openapi::parse(&document);
        (parsed, document)
    })
    .await
    .map_err(AppError::internal)?;
    parsed
        .map(|r| (r, document))
        .map_err(|e| AppError::field("document", e))
}

/// The API's stored reference. One stored by an older version of Keyport, in another shape,
/// is rebuilt from the stored document, once: the result is stored (or, if the document no
/// longer builds, the reference is dropped, so pages do not parse it on every view).
async fn stored_reference(
    state: &AppState,
    api: &ApiRow,
) -> Result<Option<openapi::Reference>, AppError> {
    let Some(raw) = api.openapi_ref.as_deref() else {
        return Ok(None);
    };
    let stored = serde_json::from_str::<openapi::Reference>(raw)
        .ok()
        .filter(|r| r.format == openapi::REFERENCE_FORMAT);
    if stored.is_some() {
        return Ok(stored);
    }
    rebuild_reference(state, api).await
}

/// Builds the API's reference (and routes) again from its stored document, and stores them.
async fn rebuild_reference(
    state: &AppState,
    api: &ApiRow,
) -> Result<Option<openapi::Reference>, AppError> {
    let Some(source) = api.openapi_source.clone() else {
        return Ok(None);
    };
    let reference = match parse_openapi(source).await {
        Ok((r, _)) => r,
        Err(AppError::Validation { fields }) => {
            // Accepted before and refused now (such as by the work budget): no reference;
            // the publisher sees why when they upload it again.
            tracing::warn!(api = %api.id, ?fields, "stored OpenAPI document no longer builds");
            store::set_openapi_reference(&state.db, &api.id, None, api.updated_at).await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let (json, routes) = stored_forms(&reference)?;
    store::set_openapi_reference(&state.db, &api.id, Some((&json, &routes)), api.updated_at)
        .await?;
    Ok(Some(reference))
}

/// A reference as stored (JSON), and its routes as the gateway reads them (JSON).
fn stored_forms(reference: &openapi::Reference) -> Result<(String, String), AppError> {
    Ok((
        serde_json::to_string(reference).map_err(AppError::internal)?,
        serde_json::to_string(&reference.routes).map_err(AppError::internal)?,
    ))
}

/// Derives the gateway's routes of documents stored before Keyport derived them (their
/// references are rebuilt too, being of an older shape). Run once at start, in the
/// background: until then such an API's operations need no scope.
pub async fn derive_missing_routes(state: &AppState) -> Result<usize, AppError> {
    let mut derived = 0;
    for id in store::without_routes(&state.db).await? {
        if let Some(api) = store::find(&state.db, By::Id(&id)).await? {
            derived += usize::from(rebuild_reference(state, &api).await?.is_some());
        }
    }
    Ok(derived)
}

/// The OpenAPI upload form, read from its multipart body.
pub struct OpenApiForm {
    pub api_id: String,
    /// The chosen file's text, or else the pasted text.
    pub document: String,
}

pub async fn read_openapi_form(
    data: leptos::server_fn::codec::MultipartData,
) -> Result<OpenApiForm, AppError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        tracing::info!(error = %e, "unreadable OpenAPI upload");
        AppError::BadRequest {
            message: "The upload could not be read; please try again.".into(),
        }
    };
    let Some(mut form) = data.into_inner() else {
        return Err(unreadable(&"no multipart body"));
    };
    let (mut api_id, mut file, mut pasted) = (None, None, None);
    while let Some(field) = form.next_field().await.map_err(|e| unreadable(&e))? {
        match field.name() {
            Some("api_id") => api_id = Some(field.text().await.map_err(|e| unreadable(&e))?),
            Some("file") => file = Some(field.bytes().await.map_err(|e| unreadable(&e))?),
            Some("document") => pasted = Some(field.text().await.map_err(|e| unreadable(&e))?),
            // Other fields are ignored (and skipped by the next `next_field`).
            _ => {}
        }
    }
    let api_id = api_id.ok_or_else(|| unreadable(&"no api_id"))?;
    // A file input with no file chosen still posts an empty part.
    let document = match file.filter(|f| !f.is_empty()) {
        Some(bytes) => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                AppError::field(
                    "document",
                    "This file is not text in UTF-8: choose the JSON or YAML document itself.",
                )
            })?
        }
        None => pasted.unwrap_or_default(),
    };
    // Multipart bodies pass the input guard unread: the same rule, here.
    let control = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    };
    if control(&api_id) {
        return Err(AppError::field("api_id", "Remove control characters."));
    }
    if control(&document) {
        return Err(AppError::field(
            "document",
            "The document holds control characters (such as NUL): save it as plain UTF-8 text.",
        ));
    }
    if document.trim().is_empty() {
        // Removing the document is its own button: an empty form never removes it.
        return Err(AppError::field(
            "document",
            "Choose a file, or paste a document.",
        ));
    }
    Ok(OpenApiForm { api_id, document })
}

/// Stores a new OpenAPI document (JSON or YAML) for an API, or removes it when `document` is
/// blank. A document that is refused leaves the current one in place.
pub async fn upload_openapi(
    ctx: &Ctx,
    user: &CurrentUser,
    api_id: &str,
    document: String,
) -> Result<usize, AppError> {
    let api = managed_api(&ctx.state, user, By::Id(api_id)).await?;
    if document.trim().is_empty() {
        store::set_openapi(&ctx.state.db, &api.id, None, ctx.now).await?;
        ctx.audit(
            Event::new("api.openapi_remove")
                .actor(&user.id, &user.email)
                .target("api", &api.id),
        )
        .await?;
        return Ok(0);
    }
    if document.len() > openapi::MAX_DOCUMENT_BYTES {
        return Err(AppError::field(
            "document",
            openapi::too_large(document.len()),
        ));
    }
    let bytes = document.len();
    let (reference, document) = parse_openapi(document).await?;
    let operations = reference.operation_count();
    let (json, routes) = stored_forms(&reference)?;
    let stored = store::Document {
        source: &document,
        reference: &json,
        routes: &routes,
    };
    store::set_openapi(&ctx.state.db, &api.id, Some(stored), ctx.now).await?;
    ctx.audit(
        Event::new("api.openapi_upload")
            .actor(&user.id, &user.email)
            .target("api", &api.id)
            .details(serde_json::json!({ "openapi": reference.openapi, "operations": operations, "bytes": bytes })),
    )
    .await?;
    Ok(operations)
}

pub async fn change_lifecycle(
    ctx: &Ctx,
    user: &CurrentUser,
    api_id: &str,
    to: Lifecycle,
    sunset_at: Option<i64>,
) -> Result<(), AppError> {
    let api = managed_api(&ctx.state, user, By::Id(api_id)).await?;
    if !api.lifecycle.can_become(to) {
        return Err(AppError::Conflict {
            message: format!(
                "A {} API cannot become {}.",
                api.lifecycle.label().to_lowercase(),
                to.label().to_lowercase()
            ),
        });
    }
    if to == Lifecycle::Published && store::plans(&ctx.state.db, &api.id).await?.is_empty() {
        return Err(AppError::Conflict {
            message: "Add at least one plan before publishing.".into(),
        });
    }
    let sunset_at = match to {
        Lifecycle::Deprecated => match sunset_at {
            Some(t) if t > ctx.now => Some(t),
            Some(_) => {
                return Err(AppError::field(
                    "sunset",
                    "Choose a sunset date in the future.",
                ))
            }
            None => {
                return Err(AppError::field(
                    "sunset",
                    "Choose the date this API will be retired.",
                ))
            }
        },
        Lifecycle::Retired => api.sunset_at,
        _ => None,
    };
    let ended = if to == Lifecycle::Retired {
        retire(
            &ctx.state,
            ctx.now,
            &ctx.client,
            Some(user),
            &api,
            sunset_at,
        )
        .await?
    } else {
        if !store::set_lifecycle(
            &ctx.state.db,
            &api.id,
            api.lifecycle,
            to,
            sunset_at,
            ctx.now,
        )
        .await?
        {
            return Err(AppError::Conflict {
                message: "The API changed meanwhile; reload and try again.".into(),
            });
        }
        0
    };
    ctx.audit(
        Event::new("api.lifecycle")
            .actor(&user.id, &user.email)
            .target("api", &api.id)
            .details(serde_json::json!({
                "slug": api.slug, "from": api.lifecycle, "to": to,
                "sunset": sunset_at.map(fmt_time), "subscriptions_ended": ended,
            })),
    )
    .await
}

/// Retires `api` and ends its live subscriptions in one transaction; tells each
/// application's owner. `actor` is `None` when Keyport does it (the sunset date passed).
/// Returns how many subscriptions ended.
async fn retire(
    state: &AppState,
    now: i64,
    client: &ClientInfo,
    actor: Option<&CurrentUser>,
    api: &ApiRow,
    sunset_at: Option<i64>,
) -> Result<usize, AppError> {
    let mut tx = state.db.begin().await?;
    if !store::set_lifecycle(
        &mut *tx,
        &api.id,
        api.lifecycle,
        Lifecycle::Retired,
        sunset_at,
        now,
    )
    .await?
    {
        return Err(AppError::Conflict {
            message: "The API changed meanwhile; reload and try again.".into(),
        });
    }
    let ended = subscriptions::end_for_api(&mut tx, &api.id, actor, now).await?;
    tx.commit().await?;
    subscriptions::tell_ended(state, now, client, actor, &ended).await?;
    Ok(ended.len())
}

/// Subscribes one of the caller's applications to a plan of an API they can see that takes
/// new subscriptions. Returns the new state (active on automatic plans, pending on manual
/// ones, and after an earlier rejection or suspension).
pub async fn subscribe(
    ctx: &Ctx,
    user: &CurrentUser,
    application_id: &str,
    plan_id: &str,
) -> Result<SubscriptionState, AppError> {
    let db = &ctx.state.db;
    let app = applications::service::owned(db, user, application_id)
        .await?
        .ok_or_else(|| AppError::field("application_id", "Choose one of your applications."))?;
    let plan = store::find_plan(db, plan_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let api = store::find(db, By::Id(&plan.api_id))
        .await?
        .ok_or(AppError::NotFound)?;
    if !can_see(user, &api) {
        return Err(AppError::NotFound);
    }
    if !api.lifecycle.is_listed() {
        return Err(AppError::Conflict {
            message: format!(
                "{} is {} and takes no new subscriptions.",
                api.name,
                api.lifecycle.label().to_lowercase()
            ),
        });
    }
    let target = subscriptions::Target {
        api_id: &api.id,
        api_slug: &api.slug,
        api_name: &api.name,
        api_owner: api.owner_id.as_deref(),
        plan_id: &plan.id,
        plan_name: &plan.name,
        approval: plan.approval,
    };
    subscriptions::subscribe(ctx, user, &app, &target).await
}

/// Retires every deprecated API whose sunset date has passed (run by the server's minute
/// job, and by tests with the time passed in), as if its publisher had; ends its
/// subscriptions and tells the publisher. Returns the slugs retired.
pub async fn retire_at_sunset(state: &AppState, now: i64) -> Result<Vec<String>, AppError> {
    let mut retired = Vec::new();
    for id in store::past_sunset(&state.db, now).await? {
        let Some(api) = store::find(&state.db, By::Id(&id)).await? else {
            continue;
        };
        let client = ClientInfo::default();
        let ended = match retire(state, now, &client, None, &api, api.sunset_at).await {
            Ok(n) => n,
            // Retired meanwhile by its publisher or another instance.
            Err(AppError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        };
        crate::platform::audit::record(
            &state.db,
            now,
            &client,
            Event::new("api.lifecycle")
                .target("api", &api.id)
                .details(serde_json::json!({
                    "slug": api.slug, "from": api.lifecycle, "to": Lifecycle::Retired,
                    "sunset": api.sunset_at.map(fmt_time), "subscriptions_ended": ended,
                    "reason": "sunset date reached",
                })),
        )
        .await?;
        if let Some(owner) = &api.owner_id {
            crate::notifications::notify(
                state,
                owner,
                crate::notifications::Notice {
                    title: format!("{} was retired", api.name),
                    body: format!(
                        "{} reached its sunset date and is now retired; {ended} subscription(s) ended and their keys stopped working.",
                        api.name
                    ),
                    link: Some(format!("/publish/{}", api.slug)),
                },
                now,
            )
            .await?;
        }
        retired.push(api.slug);
    }
    Ok(retired)
}

pub async fn delete_draft(ctx: &Ctx, user: &CurrentUser, api_id: &str) -> Result<(), AppError> {
    let api = managed_api(&ctx.state, user, By::Id(api_id)).await?;
    if !store::delete_draft(&ctx.state.db, &api.id).await? {
        return Err(AppError::Conflict {
            message: "Only drafts can be deleted; retire a published API instead.".into(),
        });
    }
    ctx.audit(
        Event::new("api.delete")
            .actor(&user.id, &user.email)
            .target("api", &api.id)
            .details(serde_json::json!({ "slug": api.slug })),
    )
    .await
}

/// The plan form as posted.
pub struct PlanInput {
    pub name: String,
    pub description: String,
    pub rate_limit: String,
    pub rate_period: String,
    pub burst: String,
    pub quota: String,
    pub quota_period: String,
    pub approval: String,
    pub scopes: String,
    pub max_key_lifetime_days: String,
}

pub fn parse_plan(input: &PlanInput) -> Result<PlanFields, AppError> {
    let mut e = FormErrors::new();
    let name = e.check("name", d::line(&input.name, "a plan name", 60));
    let description = e.check("description", d::text(&input.description, 2_000));
    let rate_limit = e.check(
        "rate_limit",
        d::optional_count(&input.rate_limit, 1, 1_000_000),
    );
    let rate_period = e.check("rate_period", input.rate_period.parse::<RatePeriod>());
    let burst = e.check("burst", d::optional_count(&input.burst, 0, 1_000_000));
    let quota = e.check(
        "quota",
        d::optional_count(&input.quota, 1, 1_000_000_000_000),
    );
    let quota_period = e.check("quota_period", input.quota_period.parse::<QuotaPeriod>());
    let approval = e.check("approval", input.approval.parse::<Approval>());
    let scopes = e.check(
        "scopes",
        d::Scope::parse_list(&input.scopes).map(|l| l.into_iter().map(String::from).collect()),
    );
    let lifetime = e.check(
        "max_key_lifetime_days",
        d::optional_count(&input.max_key_lifetime_days, 1, 3650),
    );
    if rate_limit == Some(None) && burst.flatten().is_some_and(|b| b > 0) {
        e.add("burst", "A burst needs a rate limit.");
    }
    match (
        name,
        description,
        rate_limit,
        rate_period,
        burst,
        quota,
        quota_period,
        approval,
        scopes,
        lifetime,
    ) {
        (
            Some(name),
            Some(description),
            Some(rate_limit),
            Some(rate_period),
            Some(burst),
            Some(quota),
            Some(quota_period),
            Some(approval),
            Some(scopes),
            Some(lifetime),
        ) if e.is_empty() => Ok(PlanFields {
            name,
            description,
            rate_limit,
            rate_period,
            burst: burst.unwrap_or(0),
            quota,
            quota_period,
            approval,
            scopes,
            max_key_lifetime_days: lifetime,
        }),
        _ => Err(e.into_error()),
    }
}

pub async fn save_plan(
    ctx: &Ctx,
    user: &CurrentUser,
    api_id: &str,
    plan_id: Option<&str>,
    f: PlanFields,
) -> Result<(), AppError> {
    let api = managed_api(&ctx.state, user, By::Id(api_id)).await?;
    if api.lifecycle == Lifecycle::Retired {
        return Err(AppError::Conflict {
            message: "A retired API's plans cannot change.".into(),
        });
    }
    let before = match plan_id {
        Some(id) => match store::find_plan(&ctx.state.db, id).await? {
            Some(p) if p.api_id == api.id => Some(p.plan),
            _ => return Err(AppError::NotFound),
        },
        None => None,
    };
    let id = store::save_plan(&ctx.state.db, &api.id, plan_id, &f, ctx.now)
        .await?
        .ok_or_else(|| AppError::field("name", "This API already has a plan with this name."))?;
    let after = serde_json::to_value(&f).map_err(AppError::internal)?;
    let details = match &before {
        None => serde_json::json!({ "api": api.slug, "plan": after }),
        Some(b) => serde_json::json!({ "api": api.slug, "before": b, "after": after }),
    };
    let action = if before.is_some() {
        "plan.update"
    } else {
        "plan.create"
    };
    ctx.audit(
        Event::new(action)
            .actor(&user.id, &user.email)
            .target("plan", &id)
            .details(details),
    )
    .await
}

pub async fn delete_plan(ctx: &Ctx, user: &CurrentUser, plan_id: &str) -> Result<(), AppError> {
    let plan = store::find_plan(&ctx.state.db, plan_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let api = managed_api(&ctx.state, user, By::Id(&plan.api_id)).await?;
    if api.lifecycle.is_listed() && store::plans(&ctx.state.db, &api.id).await?.len() <= 1 {
        return Err(AppError::Conflict {
            message: "A published API needs at least one plan.".into(),
        });
    }
    if !store::delete_plan(&ctx.state.db, &plan.id).await? {
        return Err(AppError::Conflict {
            message: "This plan has subscriptions, so it stays (its history is kept). Change its limits instead.".into(),
        });
    }
    ctx.audit(
        Event::new("plan.delete")
            .actor(&user.id, &user.email)
            .target("plan", &plan.id)
            .details(serde_json::json!({ "api": api.slug, "name": plan.name })),
    )
    .await
}

/// Plans by id.
pub async fn plans(
    db: &Db,
    ids: &[String],
) -> Result<std::collections::HashMap<String, PlanRow>, AppError> {
    store::find_plans(db, ids).await
}

/// API names by id.
pub async fn api_names(
    db: &Db,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, AppError> {
    store::api_names(db, ids).await
}
