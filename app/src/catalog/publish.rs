//! The publisher side of the catalog: the list of one's APIs, the new-API form and the API
//! editor (details, OpenAPI document, plans, lifecycle).

use super::pages::lifecycle_badge;
use super::*;
use crate::components::{
    action_error, field_errors, EmptyState, ErrorView, Field, FieldMessages, FormError, Loading,
    Notice, PageTitle, ScrollRegion, TextArea,
};
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
pub fn PublishPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| managed_apis());
    view! {
        <PageTitle text="Publish · Keyport" />
        <div class="space-y-6">
            <div class="flex flex-wrap items-center justify-between gap-4">
                <div>
                    <h1 class="text-2xl font-semibold">"Your APIs"</h1>
                    <p class="text-sm text-slate-600">"Describe an API, add plans, then publish it to the catalog."</p>
                </div>
                <div class="flex gap-2">
                    <a class="btn-secondary" href="/approvals">"Approvals"</a>
                    <a class="btn-secondary" href="/publish/usage">"Usage"</a>
                    <a class="btn" href="/publish/new">"New API"</a>
                </div>
            </div>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="You have not described an API yet.">
                                <a class="link" href="/publish/new">"Create your first API"</a>
                                " — it stays a draft until you publish it."
                            </EmptyState>
                        }.into_any(),
                        Ok(list) => view! {
                            <section class="card p-0">
                                <ScrollRegion label="Your APIs">
                                <table class="min-w-full text-left text-sm">
                                    <thead class="border-b border-slate-200 text-xs uppercase text-slate-500">
                                        <tr>
                                            <th scope="col" class="px-4 py-2">"API"</th>
                                            <th scope="col" class="px-4 py-2">"State"</th>
                                            <th scope="col" class="px-4 py-2">"Plans"</th>
                                            <th scope="col" class="px-4 py-2">"Subscriptions"</th>
                                            <th scope="col" class="px-4 py-2">"Pending"</th>
                                            <th scope="col" class="px-4 py-2">"Publisher"</th>
                                            <th scope="col" class="px-4 py-2">"Updated"</th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {list.into_iter().map(|a| {
                                            let href = format!("/publish/{}", a.slug);
                                            let pending = format!("/approvals?api={}", a.slug);
                                            view! {
                                                <tr data-api=a.slug.clone()>
                                                    <td class="px-4 py-3"><a class="link" href=href>{a.name}</a>" "<span class="text-slate-500">{a.version}</span></td>
                                                    <td class="px-4 py-3">{lifecycle_badge(a.lifecycle)}</td>
                                                    <td class="px-4 py-3">{a.plans}</td>
                                                    <td class="px-4 py-3">{a.live}</td>
                                                    <td class="px-4 py-3">{if a.pending > 0 { view! { <a class="link" href=pending>{a.pending}</a> }.into_any() } else { view! { <span>"0"</span> }.into_any() }}</td>
                                                    <td class="px-4 py-3 text-slate-600">{a.owner.unwrap_or_else(|| "—".into())}</td>
                                                    <td class="whitespace-nowrap px-4 py-3 text-slate-500">{a.updated}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                </ScrollRegion>
                            </section>
                        }.into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
pub fn NewApiPage() -> impl IntoView {
    let save = ServerAction::<SaveApi>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(slug)) = save.value().get() {
            navigate(&format!("/publish/{slug}"), Default::default());
        }
    });
    view! {
        <PageTitle text="New API · Keyport" />
        <div class="mx-auto max-w-3xl space-y-6">
            <nav aria-label="Breadcrumb" class="text-sm"><a class="link" href="/publish">"Your APIs"</a>" / New"</nav>
            <h1 class="text-2xl font-semibold">"New API"</h1>
            {move || match save.value().get() {
                Some(Ok(slug)) => Some(view! {
                    <p role="status" class="text-sm">"Saved as a draft. "<a class="link" href=format!("/publish/{slug}")>"Continue with plans and docs"</a></p>
                }),
                _ => None,
            }}
            <section class="card">
                <ApiForm save api=None />
            </section>
        </div>
    }
}

/// The API's descriptive fields (new or existing).
#[component]
fn ApiForm(save: ServerAction<SaveApi>, api: Option<ApiEditView>) -> impl IntoView {
    let v = {
        let api = api.clone();
        move |f: fn(&ApiEditView) -> String| api.as_ref().map(f).unwrap_or_default()
    };
    let editing = api.is_some();
    let visibility = api.as_ref().map_or(Visibility::Public, |a| a.visibility);
    let protocol = api
        .as_ref()
        .map_or(UpstreamProtocol::Auto, |a| a.upstream_protocol);
    let roles = api
        .as_ref()
        .map(|a| a.visible_roles.clone())
        .unwrap_or_default();
    let id = api.as_ref().map(|a| a.id.clone()).unwrap_or_default();
    view! {
        <ActionForm action=save attr:class="space-y-4">
            <input type="hidden" name="id" value=id />
            <div class="grid gap-4 sm:grid-cols-2">
                <Field label="Name" name="name" value=v(|a| a.name.clone()) required=true errors=field_errors(save, "name") />
                <Field label="Slug" name="slug" value=v(|a| a.slug.clone()) hint="In the URL: lower-case letters, digits, hyphens. Left empty, it comes from the name." errors=field_errors(save, "slug") />
                <Field label="Version" name="version" value=v(|a| a.version.clone()) required=true hint="Such as v1 or 2.3.0" errors=field_errors(save, "version") />
                <Field label="Tags" name="tags" value=v(|a| a.tags.clone()) hint="Comma-separated, such as payments, eu" errors=field_errors(save, "tags") />
            </div>
            <Field label="Summary" name="summary" value=v(|a| a.summary.clone()) required=true hint="One line for the catalog card." errors=field_errors(save, "summary") />
            <TextArea label="Description (Markdown)" name="description" value=v(|a| a.description.clone()) rows=8 hint="Shown on the API's page. HTML is sanitized: scripts and event handlers are removed." errors=field_errors(save, "description") />
            <div class="grid gap-4 sm:grid-cols-2">
                <Field label="Upstream URL" name="upstream_url" kind="url" value=v(|a| a.upstream_url.clone()) required=true hint="Where the gateway forwards live keys' requests, such as https://orders.internal:8443/v1" errors=field_errors(save, "upstream_url") />
                <Field label="Sandbox URL" name="sandbox_url" kind="url" value=v(|a| a.sandbox_url.clone()) hint="Where test keys' requests go. Empty: test keys are refused (NO_SANDBOX)." errors=field_errors(save, "sandbox_url") />
            </div>
            <div class="grid gap-4 sm:grid-cols-2">
                <Field label="Key query parameter" name="key_param" value=v(|a| a.key_param.clone()) hint="Also accept the key in this query parameter, such as api_key (removed before forwarding). Empty: only the X-Api-Key or Authorization header." errors=field_errors(save, "key_param") />
                <Field label="Gateway host name" name="gateway_host" value=v(|a| a.gateway_host.clone()) hint="Optional: the API also answers at this host name on the gateway, such as pets.api.example.com (point its DNS at the gateway); calls there keep their whole path. Empty: only /<slug>/ on the gateway." errors=field_errors(save, "gateway_host") />
            </div>
            <div class="space-y-1">
                <label for="field-upstream_protocol" class="label">"Upstream protocol"</label>
                <select id="field-upstream_protocol" name="upstream_protocol" class="input" aria-describedby="field-upstream_protocol-hint">
                    {UpstreamProtocol::ALL.iter().map(|p| view! { <option value=p.as_str() selected=*p == protocol>{p.label()}</option> }).collect_view()}
                </select>
                <p id="field-upstream_protocol-hint" class="text-xs text-slate-500">"HTTP/2 only suits upstreams that speak cleartext HTTP/2 (h2c), such as many gRPC-style and service-mesh servers: every call to it multiplexes over a few connections."</p>
                <FieldMessages errors=field_errors(save, "upstream_protocol") />
            </div>
            <fieldset class="space-y-2">
                <legend class="label">"Who sees it in the catalog"</legend>
                {Visibility::ALL.iter().map(|vis| {
                    let radio_id = format!("visibility-{}", vis.as_str());
                    view! {
                        <div class="flex items-center gap-2">
                            <input type="radio" id=radio_id.clone() name="visibility" value=vis.as_str() checked=*vis == visibility />
                            <label for=radio_id>{vis.label()}</label>
                        </div>
                    }
                }).collect_view()}
                <div class="ml-6 flex flex-wrap gap-4">
                    {Role::ALL.iter().map(|r| {
                        let box_id = format!("role-{}", r.as_str());
                        let name = format!("role_{}", r.as_str());
                        view! {
                            <div class="flex items-center gap-2">
                                <input type="checkbox" id=box_id.clone() name=name value="on" checked=roles.contains(r) />
                                <label for=box_id>{format!("{}s", r.label())}</label>
                            </div>
                        }
                    }).collect_view()}
                </div>
                <FieldMessages errors=field_errors(save, "roles") />
                <FieldMessages errors=field_errors(save, "visibility") />
            </fieldset>
            <FormError error=action_error(save) />
            <button type="submit" class="btn">{if editing { "Save details" } else { "Create draft" }}</button>
        </ActionForm>
    }
}

#[component]
pub fn ApiEditorPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let save = ServerAction::<SaveApi>::new();
    let upload = ServerAction::<UploadOpenapi>::new();
    let file_upload = OpenApiUpload::new();
    let lifecycle = ServerAction::<ChangeLifecycle>::new();
    let delete = ServerAction::<DeleteApi>::new();
    let plan_changes = RwSignal::new(0u32);
    crate::auth::mfa::pages_step_up(lifecycle);
    let data = Resource::new(
        move || {
            (
                slug(),
                upload.version().get(),
                file_upload.version.get(),
                lifecycle.version().get(),
                plan_changes.get(),
            )
        },
        |(slug, ..)| api_for_edit(slug),
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(new_slug)) = save.value().get() {
            navigate(&format!("/publish/{new_slug}"), Default::default());
        }
    });
    let to_list = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            to_list("/publish", Default::default());
        }
    });
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(api) => view! { <Editor api save upload file_upload lifecycle delete plan_changes /> }.into_any(),
                    Err(error) => view! { <ErrorView error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Editor(
    api: ApiEditView,
    save: ServerAction<SaveApi>,
    upload: ServerAction<UploadOpenapi>,
    file_upload: OpenApiUpload,
    lifecycle: ServerAction<ChangeLifecycle>,
    delete: ServerAction<DeleteApi>,
    plan_changes: RwSignal<u32>,
) -> impl IntoView {
    let title = format!("Edit {} · Keyport", api.name);
    let catalog_href = format!("/catalog/{}", api.slug);
    let retired = api.lifecycle == Lifecycle::Retired;
    view! {
        <PageTitle text=title />
        <div class="space-y-8">
            <header class="space-y-2">
                <nav aria-label="Breadcrumb" class="text-sm"><a class="link" href="/publish">"Your APIs"</a>" / "{api.name.clone()}</nav>
                <div class="flex flex-wrap items-center gap-3">
                    <h1 class="text-2xl font-semibold">{api.name.clone()}</h1>
                    {lifecycle_badge(api.lifecycle)}
                    <span class="flex-1"></span>
                    <a class="btn-secondary" href=catalog_href>"View page"</a>
                </div>
                {api.owner.clone().map(|o| view! { <p class="text-sm text-slate-500">{format!("Publisher: {o}")}</p> })}
            </header>
            <LifecycleSection api=api.clone() lifecycle delete />
            {(!retired).then(|| view! {
                <section class="card space-y-4" aria-labelledby="details-heading">
                    <h2 id="details-heading" class="text-lg font-semibold">"Details"</h2>
                    <ApiForm save api=Some(api.clone()) />
                </section>
                <OpenApiSection api=api.clone() remove=upload upload=file_upload />
                <PlansSection api=api.clone() plan_changes />
            })}
        </div>
    }
}

#[component]
fn LifecycleSection(
    api: ApiEditView,
    lifecycle: ServerAction<ChangeLifecycle>,
    delete: ServerAction<DeleteApi>,
) -> impl IntoView {
    let id = api.id.clone();
    let explain = match api.lifecycle {
        Lifecycle::Draft => "Only you and admins see a draft. Publish it to list it in the catalog; it needs at least one plan.",
        Lifecycle::Published => "Listed in the catalog and open for subscriptions.",
        Lifecycle::Deprecated => "Still listed and working, with a banner giving the sunset date.",
        Lifecycle::Retired => "Retired: not listed, no new subscriptions, and every subscription has ended.",
    };
    let move_to = move |to: Lifecycle, label: &'static str, class: &'static str| {
        let id = id.clone();
        view! {
            <ActionForm action=lifecycle>
                <input type="hidden" name="api_id" value=id />
                <input type="hidden" name="lifecycle" value=to.as_str() />
                <button type="submit" class=class>{label}</button>
            </ActionForm>
        }
    };
    let retire = {
        let id = api.id.clone();
        view! {
            <details class="relative">
                <summary class="btn-danger cursor-pointer list-none">"Retire…"</summary>
                <div class="absolute z-10 mt-2 w-80 space-y-2 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                    <p class="text-sm">"Retiring ends every subscription of this API at once and cannot be undone. You will be asked for a two-factor code."</p>
                    <ActionForm action=lifecycle>
                        <input type="hidden" name="api_id" value=id />
                        <input type="hidden" name="lifecycle" value="retired" />
                        <crate::components::StepUpCode id="retire-step-up" />
                        <button type="submit" class="btn-danger w-full">"Yes, retire this API"</button>
                    </ActionForm>
                </div>
            </details>
        }
    };
    let deprecate = {
        let id = api.id.clone();
        view! {
            <ActionForm action=lifecycle attr:class="flex flex-wrap items-end gap-2">
                <input type="hidden" name="api_id" value=id />
                <input type="hidden" name="lifecycle" value="deprecated" />
                <div class="space-y-1">
                    <label for="sunset" class="label">"Sunset date (UTC)"</label>
                    <input id="sunset" name="sunset" type="date" class="input" />
                </div>
                <button type="submit" class="btn-secondary">"Deprecate"</button>
            </ActionForm>
            <FieldMessages errors=field_errors(lifecycle, "sunset") />
        }
    };
    let controls = match api.lifecycle {
        Lifecycle::Draft => {
            let id = api.id.clone();
            view! {
                <div class="flex flex-wrap items-start gap-3">
                    {move_to(Lifecycle::Published, "Publish", "btn")}
                    <details class="relative">
                        <summary class="btn-secondary cursor-pointer list-none">"Delete draft…"</summary>
                        <div class="absolute z-10 mt-2 w-64 space-y-2 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                            <p class="text-sm">"Delete this draft and its plans?"</p>
                            <ActionForm action=delete>
                                <input type="hidden" name="api_id" value=id />
                                <button type="submit" class="btn-danger w-full">"Yes, delete"</button>
                            </ActionForm>
                        </div>
                    </details>
                </div>
            }.into_any()
        }
        Lifecycle::Published => view! {
            <div class="flex flex-wrap items-start gap-6">{deprecate}{retire}</div>
        }
        .into_any(),
        Lifecycle::Deprecated => view! {
            <p class="text-sm">{format!("Sunset: {}", api.sunset.clone().unwrap_or_default())}</p>
            <div class="flex flex-wrap items-start gap-3">
                {move_to(Lifecycle::Published, "Withdraw the deprecation", "btn-secondary")}
                {retire}
            </div>
        }
        .into_any(),
        Lifecycle::Retired => ().into_any(),
    };
    view! {
        <section class="card space-y-3" aria-labelledby="lifecycle-heading">
            <h2 id="lifecycle-heading" class="text-lg font-semibold">"Lifecycle"</h2>
            <p class="text-sm text-slate-600">{explain}</p>
            <FormError error=action_error(lifecycle) />
            <FormError error=action_error(delete) />
            {controls}
        </section>
    }
}

/// The OpenAPI upload's outcome, kept by the editor page: a successful upload reloads the
/// editor, and the notice must outlive that.
#[derive(Clone, Copy)]
struct OpenApiUpload {
    result: RwSignal<Option<Result<usize, AppError>>>,
    sending: RwSignal<bool>,
    /// Bumped after each successful upload (the editor's data depends on it).
    version: RwSignal<u32>,
}

impl OpenApiUpload {
    fn new() -> Self {
        // Posted without JavaScript, the form comes back to this page with its error in the
        // URL.
        let from_url = use_context::<ServerActionError>()
            .filter(|e| e.path() == OPENAPI_UPLOAD_PATH)
            .map(|e| {
                Err(leptos::server_fn::error::ServerFnUrlError::<AppError>::decode_err(e.err()))
            });
        OpenApiUpload {
            result: RwSignal::new(from_url),
            sending: RwSignal::new(false),
            version: RwSignal::new(0),
        }
    }

    fn error(self) -> Signal<Option<AppError>> {
        Signal::derive(move || {
            self.result
                .with(|r| r.as_ref().and_then(|r| r.as_ref().err().cloned()))
        })
    }

    fn field_errors(self) -> Signal<Vec<String>> {
        Signal::derive(move || {
            self.result.with(|r| match r {
                Some(Err(e)) => e.field_messages("document"),
                _ => Vec::new(),
            })
        })
    }
}

/// The size of the file chosen in the OpenAPI form, if any.
#[cfg(feature = "hydrate")]
fn chosen_file_size() -> Option<usize> {
    use wasm_bindgen::JsCast;
    let input = document()
        .get_element_by_id("openapi-file")?
        .dyn_into::<web_sys::HtmlInputElement>()
        .ok()?;
    Some(input.files()?.get(0)?.size() as usize)
}

#[component]
fn OpenApiSection(
    api: ApiEditView,
    remove: ServerAction<UploadOpenapi>,
    upload: OpenApiUpload,
) -> impl IntoView {
    let id = api.id.clone();
    let remove_id = api.id.clone();
    let limit = openapi::megabytes(openapi::MAX_DOCUMENT_BYTES);
    let status = match (api.operations, api.openapi_bytes) {
        (Some(n), Some(bytes)) => format!(
            "{n} operations in the reference · document of {}",
            openapi::megabytes(bytes)
        ),
        (None, Some(bytes)) => format!(
            "A document of {} that shows no reference; upload it again to see why",
            openapi::megabytes(bytes)
        ),
        _ => "None yet: the page shows no reference".into(),
    };
    // A large document is not put in the text area: the page would carry it twice and the
    // browser would crawl. The publisher replaces it with a file instead.
    let too_big_to_show = api.openapi_bytes.is_some() && api.openapi_source.is_none();
    // Checked before sending, so a document over the limit is not uploaded for nothing;
    // the server checks again.
    let check_size = move || {
        #[cfg(feature = "hydrate")]
        if let Some(size) = chosen_file_size().filter(|&s| s > openapi::MAX_DOCUMENT_BYTES) {
            upload.result.set(Some(Err(AppError::field(
                "document",
                openapi::too_large(size),
            ))));
            return false;
        }
        true
    };
    let on_change = move |_| {
        if check_size() && upload.result.with(|r| matches!(r, Some(Err(_)))) {
            upload.result.set(None);
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            ev.prevent_default();
            if upload.sending.get_untracked() || !check_size() {
                return;
            }
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            else {
                return;
            };
            let Ok(data) = web_sys::FormData::new_with_form(&form) else {
                return;
            };
            upload.sending.set(true);
            upload.result.set(None);
            leptos::task::spawn_local(async move {
                let result = upload_openapi_file(data.into()).await;
                upload.sending.set(false);
                if result.is_ok() {
                    upload.version.update(|v| *v += 1);
                }
                upload.result.set(Some(result));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <section class="card space-y-4" aria-labelledby="openapi-heading">
            <div class="flex flex-wrap items-baseline gap-3">
                <h2 id="openapi-heading" class="text-lg font-semibold">"OpenAPI document"</h2>
                <span class="text-sm text-slate-500" data-openapi-status="">{status}</span>
            </div>
            {move || match remove.value().get() {
                Some(Ok(0)) => Some(view! { <Notice text="The document was removed." /> }),
                _ => None,
            }}
            {move || match upload.result.get() {
                Some(Ok(n)) => Some(view! { <Notice text=format!("Saved: {n} operations.") /> }),
                _ => None,
            }}
            <form
                method="post"
                action=OPENAPI_UPLOAD_PATH
                enctype="multipart/form-data"
                class="space-y-3"
                on:submit=on_submit
            >
                <input type="hidden" name="api_id" value=id />
                <div class="space-y-1">
                    <label for="openapi-file" class="label">"OpenAPI file (JSON or YAML)"</label>
                    <input
                        id="openapi-file"
                        name="file"
                        type="file"
                        accept=".json,.yaml,.yml,application/json,application/yaml"
                        class="block text-sm"
                        aria-describedby="openapi-file-hint field-document-error"
                        on:change=on_change
                    />
                    <p id="openapi-file-hint" class="text-xs text-slate-500">
                        {format!("OpenAPI 3.0 or 3.1, up to {limit}. Saving replaces the current document; a document that is refused changes nothing.")}
                    </p>
                </div>
                {too_big_to_show.then(|| view! {
                    <p class="text-sm text-slate-600">"The current document is too large to show here. Choose a file to replace it."</p>
                })}
                <TextArea
                    label="Or paste a small document"
                    name="document"
                    value=api.openapi_source.clone().unwrap_or_default()
                    rows=10
                    mono=true
                    hint=format!("Used when no file is chosen; for documents up to {} KB. Larger documents: choose the file.", openapi::MAX_PASTE_BYTES / 1024)
                    errors=upload.field_errors()
                />
                <FormError error=upload.error() />
                <button type="submit" class="btn" disabled=move || upload.sending.get()>
                    {move || if upload.sending.get() { "Saving…" } else { "Save document" }}
                </button>
            </form>
            {api.openapi_bytes.is_some().then(|| view! {
                <ActionForm action=remove>
                    <input type="hidden" name="api_id" value=remove_id />
                    <input type="hidden" name="document" value="" />
                    <button type="submit" class="btn-secondary">"Remove the document"</button>
                </ActionForm>
                <FormError error=action_error(remove) />
            })}
        </section>
    }
}

#[component]
fn PlansSection(api: ApiEditView, plan_changes: RwSignal<u32>) -> impl IntoView {
    let api_id = api.id.clone();
    view! {
        <section class="space-y-4" aria-labelledby="plans-heading">
            <h2 id="plans-heading" class="text-lg font-semibold">"Plans"</h2>
            <p class="text-sm text-slate-600">"Limits apply to every subscription of a plan, including existing ones: a change takes effect for them right away."</p>
            {if api.plans.is_empty() {
                view! { <EmptyState title="No plans yet.">"Add one below; publishing needs at least one."</EmptyState> }.into_any()
            } else {
                api.plans.into_iter().map(|p| view! { <PlanForm api_id=api_id.clone() plan=Some(p) plan_changes /> }).collect_view().into_any()
            }}
            <PlanForm api_id=api.id.clone() plan=None plan_changes />
        </section>
    }
}

#[component]
fn PlanForm(api_id: String, plan: Option<PlanView>, plan_changes: RwSignal<u32>) -> impl IntoView {
    let save = ServerAction::<SavePlan>::new();
    let remove = ServerAction::<DeletePlan>::new();
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        let saved = matches!(save.value().get(), Some(Ok(())));
        if saved || matches!(remove.value().get(), Some(Ok(()))) {
            plan_changes.update(|n| *n += 1);
        }
        // The "Add a plan" form starts empty again for the next plan.
        if let (true, Some(form)) = (saved, form.get_untracked()) {
            form.reset();
        }
    });
    let key = plan.as_ref().map_or("new".to_string(), |p| p.id.clone());
    let fid = move |f: &str| format!("plan-{key}-{f}");
    let v = {
        let plan = plan.clone();
        move |f: fn(&PlanView) -> String| plan.as_ref().map(f).unwrap_or_default()
    };
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let rate_period = plan.as_ref().map_or(RatePeriod::Second, |p| p.rate_period);
    let quota_period = plan.as_ref().map_or(QuotaPeriod::Month, |p| p.quota_period);
    let approval = plan.as_ref().map_or(Approval::Automatic, |p| p.approval);
    let heading = plan
        .as_ref()
        .map_or("Add a plan".to_string(), |p| p.name.clone());
    let heading_attr = heading.clone();
    let summary = plan.as_ref().map(|p| {
        format!(
            "{} · {} · {}",
            p.rate_text(),
            p.quota_text(),
            p.approval.label()
        )
    });
    let plan_id = plan.as_ref().map(|p| p.id.clone()).unwrap_or_default();
    let delete_id = plan_id.clone();
    let existing = plan.is_some();
    let select_fid = fid.clone();
    let select = move |name: &'static str,
                       label: &'static str,
                       options: Vec<(&'static str, &'static str)>,
                       selected: &'static str| {
        let id = select_fid(name);
        view! {
            <div class="space-y-1">
                <label for=id.clone() class="label">{label}</label>
                <select id=id name=name class="input">
                    {options.into_iter().map(|(value, text)| view! { <option value=value selected=value == selected>{text}</option> }).collect_view()}
                </select>
            </div>
        }
    };
    view! {
        <details class="card p-0" open=!existing data-plan-form=heading_attr>
            <summary class="flex cursor-pointer flex-wrap items-baseline gap-3 p-4">
                <span class="font-semibold">{heading}</span>
                {summary.map(|s| view! { <span class="text-sm text-slate-500">{s}</span> })}
            </summary>
            <div class="space-y-4 border-t border-slate-200 p-4">
                <ActionForm action=save node_ref=form attr:class="space-y-4">
                    <input type="hidden" name="api_id" value=api_id />
                    <input type="hidden" name="plan_id" value=plan_id />
                    <div class="grid gap-4 sm:grid-cols-2">
                        <Field id=fid("name") label="Plan name" name="name" value=v(|p| p.name.clone()) required=true errors=field_errors(save, "name") />
                        {select("approval", "Approval", Approval::ALL.iter().map(|a| (a.as_str(), a.label())).collect(), approval.as_str())}
                    </div>
                    <TextArea id=fid("description") label="Description" name="description" value=v(|p| p.description.clone()) rows=2 errors=field_errors(save, "description") />
                    <div class="grid gap-4 sm:grid-cols-3">
                        <Field id=fid("rate_limit") label="Rate limit (requests)" name="rate_limit" value=num(plan.as_ref().and_then(|p| p.rate_limit)) hint="Empty: unlimited" errors=field_errors(save, "rate_limit") />
                        {select("rate_period", "Per", RatePeriod::ALL.iter().map(|r| (r.as_str(), r.label())).collect(), rate_period.as_str())}
                        <Field id=fid("burst") label="Burst" name="burst" value=plan.as_ref().map(|p| p.burst.to_string()).unwrap_or_default() hint="Extra requests allowed at once" errors=field_errors(save, "burst") />
                        <Field id=fid("quota") label="Quota (requests)" name="quota" value=num(plan.as_ref().and_then(|p| p.quota)) hint="Empty: no quota" errors=field_errors(save, "quota") />
                        {select("quota_period", "Per", QuotaPeriod::ALL.iter().map(|q| (q.as_str(), q.label())).collect(), quota_period.as_str())}
                        <Field id=fid("max_key_lifetime_days") label="Max key lifetime (days)" name="max_key_lifetime_days" value=num(plan.as_ref().and_then(|p| p.max_key_lifetime_days)) hint="Empty: until revoked" errors=field_errors(save, "max_key_lifetime_days") />
                    </div>
                    <Field id=fid("scopes") label="Scopes keys may carry" name="scopes" value=v(|p| p.scopes.join(" ")) hint="Space-separated, such as orders:read orders:write" errors=field_errors(save, "scopes") />
                    <FormError error=action_error(save) />
                    <button type="submit" class="btn">{if existing { "Save plan" } else { "Add plan" }}</button>
                </ActionForm>
                {existing.then(|| view! {
                    <ActionForm action=remove>
                        <input type="hidden" name="plan_id" value=delete_id />
                        <button type="submit" class="btn-secondary">"Delete plan"</button>
                    </ActionForm>
                    <FormError error=action_error(remove) />
                })}
            </div>
        </details>
    }
}
