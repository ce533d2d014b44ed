//! The developer side of the catalog: browsing and searching APIs, and an API's page with
//! its documentation, plans, reference and the "Subscribe" action.

use super::openapi::{Content, Operation, OperationLine, Outline, SchemaNode};
use super::*;
use crate::components::{
    action_error, field_errors, state_badge, CopyField, EmptyState, ErrorView, FormError, Loading,
    Notice, PageTitle, Pager, ScrollRegion,
};
use leptos_router::hooks::{use_params_map, use_query_map};

/// The badge for a lifecycle state.
pub fn lifecycle_badge(l: Lifecycle) -> impl IntoView {
    let class = match l {
        Lifecycle::Draft => "badge bg-slate-200 text-slate-700",
        Lifecycle::Published => "badge bg-emerald-100 text-emerald-800",
        Lifecycle::Deprecated => "badge bg-amber-100 text-amber-800",
        Lifecycle::Retired => "badge bg-slate-300 text-slate-700",
    };
    view! { <span class=class>{l.label()}</span> }
}

#[component]
pub fn CatalogPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).unwrap_or_default();
    let page = move || query.read().get("page").and_then(|p| p.parse::<i64>().ok());
    let data = Resource::new(
        move || (get("q"), get("tag"), page()),
        |(q, tag, page)| catalog(Some(q), Some(tag), page),
    );
    view! {
        <PageTitle text="API catalog · Keyport" />
        <div class="space-y-6">
            <div class="flex flex-wrap items-end justify-between gap-4">
                <div>
                    <h1 class="text-2xl font-semibold">"API catalog"</h1>
                    <p class="text-sm text-slate-600">"Find an API, read its docs and subscribe one of your applications."</p>
                </div>
                <form method="get" action="/catalog" class="flex flex-wrap items-end gap-2" role="search">
                    <div class="space-y-1">
                        <label for="catalog-search" class="label">"Search by name, summary or tag"</label>
                        <input id="catalog-search" name="q" type="search" class="input w-72" value=move || get("q") />
                    </div>
                    {move || (!get("tag").is_empty()).then(|| view! { <input type="hidden" name="tag" value=get("tag") /> })}
                    <button type="submit" class="btn">"Search"</button>
                </form>
            </div>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(c) => {
                            let current_tag = get("tag");
                            let q = get("q");
                            let tag_links = c.tags.iter().map(|t| {
                                let selected = *t == current_tag;
                                let href = if selected { format!("/catalog?q={}", crate::components::urlencode(&q)) } else { format!("/catalog?q={}&tag={}", crate::components::urlencode(&q), crate::components::urlencode(t)) };
                                view! {
                                    <a href=href class=if selected { "badge bg-brand-600 text-white" } else { "badge hover:bg-slate-200" } aria-current=selected.then_some("true")>
                                        {format!("#{t}")}
                                    </a>
                                }
                            }).collect_view();
                            let body = if c.apis.is_empty() {
                                view! {
                                    <EmptyState title="No APIs match.">
                                        {if q.is_empty() && current_tag.is_empty() {
                                            "Nothing is published yet. Publishers add APIs under Publish."
                                        } else {
                                            "Try fewer words or another tag."
                                        }}
                                    </EmptyState>
                                }.into_any()
                            } else {
                                let (q2, t2) = (q.clone(), current_tag.clone());
                                let href = move |n: i64| format!("/catalog?q={}&tag={}&page={n}", crate::components::urlencode(&q2), crate::components::urlencode(&t2));
                                view! {
                                    <ul class="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" aria-label="APIs">
                                        {c.apis.into_iter().map(|a| view! { <ApiCardView api=a /> }).collect_view()}
                                    </ul>
                                    <Pager page=c.page per_page=CATALOG_PER_PAGE total=c.total href />
                                }.into_any()
                            };
                            view! {
                                {(!c.tags.is_empty()).then(|| view! {
                                    <nav aria-label="Tags" class="flex flex-wrap gap-2">{tag_links}</nav>
                                })}
                                {body}
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn ApiCardView(api: ApiCard) -> impl IntoView {
    let href = format!("/catalog/{}", api.slug);
    view! {
        <li class="card flex flex-col gap-3 p-5" data-api=api.slug.clone()>
            <div class="flex items-start justify-between gap-2">
                <h2 class="font-semibold"><a class="link" href=href>{api.name}</a></h2>
                <span class="badge">{api.version}</span>
            </div>
            <p class="flex-1 text-sm text-slate-600">{api.summary}</p>
            <div class="flex flex-wrap items-center gap-2">
                {(api.lifecycle == Lifecycle::Deprecated).then(|| lifecycle_badge(api.lifecycle))}
                {api.sunset.map(|s| view! { <span class="text-xs text-amber-800">{format!("Sunset {s}")}</span> })}
                {api.tags.into_iter().map(|t| view! { <span class="badge">{format!("#{t}")}</span> }).collect_view()}
            </div>
        </li>
    }
}

#[component]
pub fn ApiPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let open = move || query.read().get("op");
    let subscribe = ServerAction::<Subscribe>::new();
    let data = Resource::new(
        move || (slug(), open(), subscribe.version().get()),
        |(slug, open, _)| api_detail(slug, open),
    );
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(api) => view! { <ApiDetailView api subscribe /> }.into_any(),
                    Err(error) => view! { <ErrorView error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ApiDetailView(api: ApiView, subscribe: ServerAction<Subscribe>) -> impl IntoView {
    let title = format!("{} · Keyport", api.name);
    let deprecated = (api.lifecycle == Lifecycle::Deprecated).then(|| {
        let when = api.sunset.clone().unwrap_or_default();
        view! {
            <div role="note" class="rounded-md border border-amber-300 bg-amber-50 p-4 text-sm text-amber-900">
                <strong>"This API is deprecated."</strong>
                {format!(" It will be retired on {when}. Plan your move; existing subscriptions end then.")}
            </div>
        }
    });
    let not_listed = (!api.lifecycle.is_listed()).then(|| view! {
        <div role="note" class="rounded-md border border-slate-300 bg-slate-100 p-4 text-sm text-slate-700">
            {format!("This API is {} and not in the catalog; only its publishers see this page.", api.lifecycle.label().to_lowercase())}
        </div>
    });
    let manage = api.can_manage.then(|| {
        let href = format!("/publish/{}", api.slug);
        view! { <a class="btn-secondary" href=href>"Edit API"</a> }
    });
    let apps = api.applications.clone();
    let listed = api.lifecycle.is_listed();
    view! {
        <PageTitle text=title />
        <article class="space-y-8">
            <header class="space-y-3">
                <nav aria-label="Breadcrumb" class="text-sm"><a class="link" href="/catalog">"Catalog"</a>" / "{api.name.clone()}</nav>
                <div class="flex flex-wrap items-center gap-3">
                    <h1 class="text-3xl font-semibold">{api.name.clone()}</h1>
                    <span class="badge">{api.version.clone()}</span>
                    {lifecycle_badge(api.lifecycle)}
                    <span class="flex-1"></span>
                    {manage}
                </div>
                <p class="text-slate-600">{api.summary.clone()}</p>
                <div class="flex flex-wrap gap-2">
                    {api.tags.iter().map(|t| {
                        let href = format!("/catalog?tag={}", crate::components::urlencode(t));
                        view! { <a class="badge hover:bg-slate-200" href=href>{format!("#{t}")}</a> }
                    }).collect_view()}
                </div>
                {deprecated}
                {not_listed}
            </header>
            {(!api.description_html.is_empty()).then(|| view! {
                <section class="card prose" aria-label="Description" inner_html=api.description_html.clone()></section>
            })}
            <section aria-labelledby="plans-heading" class="space-y-4">
                <h2 id="plans-heading" class="text-xl font-semibold">"Plans"</h2>
                <MySubscriptions apps=apps.clone() />
                {move || match subscribe.value().get() {
                    Some(Ok(state)) => Some(view! {
                        <Notice text=if state == SubscriptionState::Active {
                            "Subscribed. Your application can use this API now."
                        } else {
                            "Requested. The publisher reviews it; you will get a notification."
                        } />
                    }.into_any()),
                    _ => None,
                }}
                <FormError error=action_error(subscribe) />
                {if api.plans.is_empty() {
                    view! { <EmptyState title="No plans yet.">"The publisher has not added a plan."</EmptyState> }.into_any()
                } else {
                    view! {
                        <div class="grid gap-4 md:grid-cols-2">
                            {api.plans.iter().cloned().map(|plan| view! { <PlanCard plan apps=apps.clone() subscribe listed /> }).collect_view()}
                        </div>
                    }.into_any()
                }}
            </section>
            {api.gateway_url.clone().map(|url| view! { <GatewayCard url key_param=api.key_param.clone() has_sandbox=api.has_sandbox /> })}
            {api.reference.clone().map(|outline| {
                let slug = api.slug.clone();
                let open = api.open_operation.clone();
                view! { <ReferenceView outline slug open /> }
            })}
        </article>
    }
}

/// The caller's applications that have (or had) a subscription to this API.
#[component]
fn MySubscriptions(apps: Vec<AppChoice>) -> impl IntoView {
    let with: Vec<_> = apps
        .into_iter()
        .filter_map(|a| a.subscription.map(|s| (a.name, s)))
        .collect();
    (!with.is_empty()).then(|| view! {
        <div class="card space-y-2 p-4" aria-label="Your subscriptions">
            <h3 class="text-sm font-semibold">"Your applications"</h3>
            <ul class="space-y-2 text-sm">
                {with.into_iter().map(|(name, s)| view! {
                    <li class="flex flex-wrap items-center gap-2" data-subscription=s.id.clone()>
                        <span class="font-medium">{name}</span>
                        <span class="text-slate-500">{format!("on {}", s.plan)}</span>
                        {state_badge(s.state)}
                        {s.reason.map(|r| view! { <span class="text-slate-600">{format!("Reason: {r}")}</span> })}
                    </li>
                }).collect_view()}
            </ul>
            <a class="link text-sm" href="/applications">"Manage your applications"</a>
        </div>
    })
}

#[component]
fn PlanCard(
    plan: PlanView,
    apps: Vec<AppChoice>,
    subscribe: ServerAction<Subscribe>,
    listed: bool,
) -> impl IntoView {
    let select_id = format!("subscribe-app-{}", plan.id);
    let free: Vec<AppChoice> = apps
        .into_iter()
        .filter(|a| !a.subscription.as_ref().is_some_and(|s| s.state.is_live()))
        .collect();
    let approval = match plan.approval {
        Approval::Automatic => "Starts right away",
        Approval::Manual => "Needs the publisher's approval",
    };
    let action = if !listed {
        None
    } else if free.is_empty() {
        Some(view! {
            <p class="text-sm text-slate-600">
                "To subscribe, "<a class="link" href="/applications">"create an application"</a>" (each application holds one subscription per API)."
            </p>
        }.into_any())
    } else {
        let plan_id = plan.id.clone();
        let button = format!("Subscribe to {}", plan.name);
        Some(view! {
            <ActionForm action=subscribe attr:class="space-y-2">
                <input type="hidden" name="plan_id" value=plan_id />
                <label for=select_id.clone() class="label">"Application"</label>
                <div class="flex gap-2">
                    <select id=select_id name="application_id" class="input">
                        {free.into_iter().map(|a| view! { <option value=a.id>{a.name}</option> }).collect_view()}
                    </select>
                    <button type="submit" class="btn shrink-0">{button}</button>
                </div>
                <crate::components::FieldMessages errors=field_errors(subscribe, "application_id") />
            </ActionForm>
        }.into_any())
    };
    view! {
        <div class="card space-y-3" data-plan=plan.name.clone()>
            <div class="flex items-center justify-between gap-2">
                <h3 class="text-lg font-semibold">{plan.name.clone()}</h3>
                <span class=if plan.approval == Approval::Manual { "badge bg-amber-100 text-amber-800" } else { "badge bg-emerald-100 text-emerald-800" }>{approval}</span>
            </div>
            {(!plan.description.is_empty()).then(|| view! { <p class="text-sm text-slate-600">{plan.description.clone()}</p> })}
            <dl class="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
                <dt class="text-slate-500">"Rate"</dt><dd>{plan.rate_text()}</dd>
                <dt class="text-slate-500">"Quota"</dt><dd>{plan.quota_text()}</dd>
                <dt class="text-slate-500">"Keys"</dt><dd>{plan.lifetime_text()}</dd>
                <dt class="text-slate-500">"Scopes"</dt>
                <dd class="flex flex-wrap gap-1">
                    {if plan.scopes.is_empty() {
                        view! { <span class="text-slate-500">"None"</span> }.into_any()
                    } else {
                        plan.scopes.iter().map(|s| view! { <code class="badge font-mono">{s.clone()}</code> }).collect_view().into_any()
                    }}
                </dd>
            </dl>
            {action}
        </div>
    }
}

/// Where and how to call the API through Keyport's gateway.
#[component]
fn GatewayCard(url: String, key_param: Option<String>, has_sandbox: bool) -> impl IntoView {
    let curl = format!("curl -H \"X-Api-Key: $KEYPORT_KEY\" {url}/");
    view! {
        <section class="card space-y-3" aria-labelledby="gateway-heading">
            <h2 id="gateway-heading" class="text-xl font-semibold">"Call it through the gateway"</h2>
            <p class="text-sm text-slate-600">
                "Send your application's key in the " <code class="badge font-mono">"X-Api-Key"</code>
                " header (or " <code class="badge font-mono">"Authorization: Bearer"</code>
                {key_param.map(|p| view! { ", or the " <code class="badge font-mono">{format!("?{p}=")}</code> " query parameter" })}
                "); add the operation's path after the address. Refusals come back as JSON problem documents with a code."
            </p>
            <p class="text-sm text-slate-600">
                {if has_sandbox {
                    "Live keys reach the production service, test keys its sandbox."
                } else {
                    "This API has no sandbox: use a live key (test keys are refused with NO_SANDBOX)."
                }}
            </p>
            <CopyField label="Gateway address" value=url />
            <CopyField label="Example with curl" value=curl />
        </section>
    }
}

/// The OpenAPI reference: operations grouped by tag, each expandable. The page carries only
/// each operation's line; its details are fetched when it is opened (with JavaScript), or
/// follow a link that opens it in the page (without). Every `*_html` value was rendered from
/// Markdown and sanitized by ammonia when the document was uploaded (`openapi::parse`), so
/// it goes in with `inner_html` as is.
#[component]
pub fn ReferenceView(outline: Outline, slug: String, open: Option<Operation>) -> impl IntoView {
    let count = outline.operation_count();
    view! {
        <section aria-labelledby="reference-heading" class="space-y-4">
            <div class="flex flex-wrap items-baseline gap-3">
                <h2 id="reference-heading" class="text-xl font-semibold">"API reference"</h2>
                <span class="text-sm text-slate-500">{format!("OpenAPI {} · {count} operations", outline.openapi)}</span>
            </div>
            {(!outline.servers.is_empty()).then(|| view! {
                <p class="text-sm text-slate-600">"Servers: "{outline.servers.iter().map(|s| view! { <code class="badge font-mono">{s.clone()}</code>" " }).collect_view()}</p>
            })}
            {outline.groups.into_iter().map(|g| view! {
                <div class="card space-y-3 p-4">
                    <h3 class="text-lg font-semibold">{g.tag}</h3>
                    {g.description_html.map(|d| view! { <div class="prose text-slate-600" inner_html=d></div> })}
                    <ul class="space-y-2">
                        {g.operations.into_iter().map(|line| {
                            let open = open.clone().filter(|op| op.anchor == line.anchor);
                            view! { <OperationView line slug=slug.clone() open /> }
                        }).collect_view()}
                    </ul>
                </div>
            }).collect_view()}
        </section>
    }
}

/// One operation: its line, and its details once opened.
#[component]
fn OperationView(line: OperationLine, slug: String, open: Option<Operation>) -> impl IntoView {
    let method_class = match line.method.as_str() {
        "GET" => "method method-get",
        "POST" => "method method-post",
        "PUT" => "method method-put",
        "PATCH" => "method method-patch",
        "DELETE" => "method method-delete",
        _ => "method method-other",
    };
    let is_open = open.is_some();
    let load = Action::new(|(slug, anchor): &(String, String)| {
        api_operation(slug.clone(), anchor.clone())
    });
    let details = NodeRef::<leptos::html::Details>::new();
    let anchor = line.anchor.clone();
    let href = format!("/catalog/{slug}?op={anchor}#{anchor}");
    let on_toggle = move |_| {
        let opened = details.get().is_some_and(|d| d.open());
        // Fetched once; after a failure, opening it again tries again.
        if opened
            && !is_open
            && !matches!(load.value().get_untracked(), Some(Ok(_)))
            && !load.pending().get_untracked()
        {
            load.dispatch((slug.clone(), anchor.clone()));
        }
    };
    let label = format!("{} {}", line.method, line.path);
    view! {
        <li id=line.anchor.clone()>
            <details class="rounded-md border border-slate-200" open=is_open node_ref=details on:toggle=on_toggle>
                <summary class="flex cursor-pointer flex-wrap items-center gap-3 p-3">
                    <span class=method_class>{line.method.clone()}</span>
                    <code class=if line.deprecated { "font-mono text-sm line-through" } else { "font-mono text-sm" }>{line.path.clone()}</code>
                    <span class="text-sm text-slate-600" inner_html=line.summary_html.clone().unwrap_or_default()></span>
                    {line.deprecated.then(|| view! { <span class="badge bg-amber-100 text-amber-800">"Deprecated"</span> })}
                </summary>
                {move || match (open.clone(), load.value().get()) {
                    (Some(op), _) | (None, Some(Ok(op))) => view! { <OperationDetails op /> }.into_any(),
                    (None, Some(Err(error))) => view! { <div class="border-t border-slate-200 p-4"><ErrorView error /></div> }.into_any(),
                    (None, None) => {
                        let (href, label) = (href.clone(), label.clone());
                        view! {
                        <p class="border-t border-slate-200 p-4 text-sm text-slate-600" aria-live="polite">
                            {move || if load.pending().get() {
                                "Loading the details…".into_any()
                            } else {
                                view! { <a class="link" href=href.clone() aria-label=format!("Show the details of {label}")>"Show the details"</a> }.into_any()
                            }}
                        </p>
                        }.into_any()
                    }
                }}
            </details>
        </li>
    }
}

/// An operation's parameters, request body and responses.
#[component]
fn OperationDetails(op: Operation) -> impl IntoView {
    view! {
    <div class="space-y-4 border-t border-slate-200 p-4 text-sm">
        {op.description_html.clone().map(|d| view! { <div class="prose text-slate-700" inner_html=d></div> })}
        {(!op.parameters.is_empty()).then(|| view! {
            <div>
                <h4 class="mb-1 font-semibold">"Parameters"</h4>
                <ScrollRegion label=format!("Parameters of {} {}", op.method, op.path)>
                <table class="min-w-full text-left">
                    <thead class="text-xs uppercase text-slate-500">
                        <tr><th scope="col" class="pr-4">"Name"</th><th scope="col" class="pr-4">"In"</th><th scope="col" class="pr-4">"Type"</th><th scope="col">"Description"</th></tr>
                    </thead>
                    <tbody>
                        {op.parameters.iter().cloned().map(|p| view! {
                            <tr class="border-t border-slate-100">
                                <td class="py-1 pr-4 font-mono">{p.name}{p.required.then_some(" *")}</td>
                                <td class="py-1 pr-4">{p.location}</td>
                                <td class="py-1 pr-4 font-mono text-xs">{p.ty}</td>
                                <td class="prose py-1" inner_html=p.description_html.unwrap_or_default()></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                </ScrollRegion>
            </div>
        })}
        {op.request.clone().map(|b| view! {
            <div class="space-y-1">
                <h4 class="font-semibold">{if b.required { "Request body (required)" } else { "Request body" }}</h4>
                {b.description_html.map(|d| view! { <div class="prose text-slate-600" inner_html=d></div> })}
                {contents(b.content)}
            </div>
        })}
        {(!op.responses.is_empty()).then(|| view! {
            <div class="space-y-2">
                <h4 class="font-semibold">"Responses"</h4>
                {op.responses.iter().cloned().map(|r| view! {
                    <div class="space-y-1">
                        <div class="flex flex-wrap items-baseline gap-2">
                            <code class="badge font-mono">{r.status}</code>
                            <div class="prose" inner_html=r.description_html.unwrap_or_default()></div>
                        </div>
                        {contents(r.content)}
                    </div>
                }).collect_view()}
            </div>
        })}
    </div>
    }
}

fn contents(content: Vec<Content>) -> impl IntoView {
    content
        .into_iter()
        .map(|c| {
            view! {
                <div class="rounded bg-slate-50 p-2">
                    <p class="font-mono text-xs text-slate-500">{c.media_type}</p>
                    {c.schema.map(|s| view! { <SchemaTree node=s /> })}
                </div>
            }
        })
        .collect_view()
}

/// A schema that refers back to one it is part of is not expanded again: say so.
fn recursion(node: &SchemaNode) -> Option<impl IntoView> {
    node.recursive.clone().map(|name| {
        view! {
            <span class="ml-1 font-sans text-xs text-amber-800" title="This schema contains itself; its fields are shown above." data-recursive=name.clone()>
                {format!("(recursive: {name})")}
            </span>
        }
    })
}

#[component]
fn SchemaTree(node: SchemaNode) -> impl IntoView {
    view! {
        <div class="font-mono text-xs">
            <span class="text-slate-500">{node.ty.clone()}</span>
            {recursion(&node)}
            {(!node.fields.is_empty()).then(|| view! { <FieldList fields=node.fields.clone() /> })}
        </div>
    }
}

#[component]
fn FieldList(fields: Vec<SchemaNode>) -> impl IntoView {
    view! {
        <ul class="ml-4 border-l border-slate-200 pl-3">
            {fields.into_iter().map(|f| {
                let nested = (!f.fields.is_empty()).then(|| f.fields.clone());
                view! {
                    <li class="py-0.5">
                        <span class="text-slate-900">{f.name.clone().unwrap_or_default()}</span>
                        {f.required.then(|| view! { <span class="text-red-700" title="required">"*"</span> })}
                        ": "<span class="text-slate-500">{f.ty.clone()}</span>
                        {recursion(&f)}
                        {f.description_html.clone().map(|d| view! { <div class="prose font-sans text-slate-600" inner_html=d></div> })}
                        {nested.map(|n| view! { <FieldListBoxed fields=n /> })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// Recursion through a boxed view (a component cannot name itself in its own view type).
#[component]
fn FieldListBoxed(fields: Vec<SchemaNode>) -> impl IntoView {
    view! { <FieldList fields /> }.into_any()
}
