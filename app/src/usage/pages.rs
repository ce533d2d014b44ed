//! `/usage`: the developer's analytics. Everything is in the address (`range`, `app`,
//! `key`), so the range and scope links work without JavaScript and, hydrated, switch
//! without a full reload.

use super::*;
use crate::components::chart::{count, BarChart};
use crate::components::{urlencode, EmptyState, ErrorView, Loading, PageTitle, ScrollRegion};
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

#[component]
pub fn UsagePage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).filter(|v| !v.is_empty());
    // Hydrated, the charts are cut in the browser's zone unless the profile names one.
    let browser = RwSignal::new(None::<String>);
    Effect::new(move |_| browser.set(crate::components::browser_time_zone()));
    let data = Resource::new(
        move || (get("range"), get("app"), get("key"), browser.get()),
        |(range, app, key, tz)| usage_report(range, app, key, tz),
    );
    view! {
        <PageTitle text="Usage · Keyport" />
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(report) => view! { <Report report /> }.into_any(),
                    Err(error) => view! { <ErrorView error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A usage page's heading: a way back, the title, what it shows, and the period links.
#[component]
fn Heading(
    back: Option<(String, String)>,
    title: String,
    subtitle: String,
    range: UsageRange,
    href: impl Fn(UsageRange) -> String + 'static,
) -> impl IntoView {
    let links = UsageRange::ALL
        .into_iter()
        .map(|r| {
            let current = r == range;
            view! {
                <li>
                    <A
                        href=href(r)
                        attr:class=if current { "badge bg-brand-600 text-white" } else { "badge hover:bg-slate-200" }
                        attr:aria-current=current.then_some("page")
                    >
                        {r.label()}
                    </A>
                </li>
            }
        })
        .collect_view();
    view! {
        <header class="flex flex-wrap items-end justify-between gap-4">
            <div class="space-y-1">
                {back.map(|(link, label)| view! {
                    <A href=link attr:class="link text-sm">{format!("← {label}")}</A>
                })}
                <h1 class="text-2xl font-semibold">{title}</h1>
                <p class="text-sm text-slate-600">{subtitle}</p>
            </div>
            <nav aria-label="Period">
                <ul class="flex flex-wrap gap-2">{links}</ul>
            </nav>
        </header>
    }
}

/// `/usage?…` for this scope and `range`.
fn href(scope: &UsageScope, range: UsageRange) -> String {
    let r = range.as_str();
    match scope {
        UsageScope::All => format!("/usage?range={r}"),
        UsageScope::Application { id, .. } => format!("/usage?app={}&range={r}", urlencode(id)),
        UsageScope::Key { id, .. } => format!("/usage?key={}&range={r}", urlencode(id)),
    }
}

#[component]
fn Report(report: UsageData) -> impl IntoView {
    let UsageData {
        range,
        time_zone,
        scope,
        chart,
        breakdown,
        apis,
        quotas,
        rotation,
        key,
        recent,
        applications,
    } = report;
    let (title, subtitle) = match &scope {
        UsageScope::All => ("Usage".to_string(), "All your applications".to_string()),
        UsageScope::Application { name, .. } => (format!("Usage of {name}"), "Application".into()),
        UsageScope::Key {
            name,
            masked,
            application_name,
            ..
        } => (
            format!("Usage of key {name}"),
            format!("{masked} · {application_name}"),
        ),
    };
    let chart_label = format!(
        "Requests of {}, {}",
        subtitle.to_lowercase(),
        range.label().to_lowercase()
    );
    let back = match &scope {
        UsageScope::All => None,
        UsageScope::Application { .. } => {
            Some(("/usage".to_string(), "All applications".to_string()))
        }
        UsageScope::Key {
            application_id,
            application_name,
            ..
        } => Some((
            format!(
                "/usage?app={}&range={}",
                urlencode(application_id),
                range.as_str()
            ),
            application_name.clone(),
        )),
    };
    let breakdown_title = match &scope {
        UsageScope::All => Some("By application"),
        UsageScope::Application { .. } => Some("By key"),
        UsageScope::Key { .. } => None,
    };
    let is_empty_portal = applications.is_empty();
    let scope_for_links = scope.clone();
    let export = {
        let page = href(&scope, range);
        let query = page.trim_start_matches("/usage?").to_string();
        move |table: &str| format!("/usage/export.csv?{query}&table={table}")
    };
    view! {
        <div class="space-y-6">
            <Heading back title subtitle=format!("{subtitle} · times in {time_zone}") range href=move |r| href(&scope_for_links, r) />
            {is_empty_portal.then(|| view! {
                <EmptyState title="No applications yet.">
                    "Create an application, subscribe it to an API and issue a key: its requests show here. "
                    <A href="/applications" attr:class="link">"Go to your applications"</A>
                </EmptyState>
            })}
            <section class="card space-y-3" aria-labelledby="requests-heading">
                <div class="flex items-baseline justify-between gap-2">
                    <h2 id="requests-heading" class="text-lg font-semibold">{format!("Requests · {}", range.label())}</h2>
                    <CsvLink href=export("time") label="Requests over time as CSV" />
                </div>
                <BarChart data=chart label=chart_label unit="requests" />
            </section>
            {key.map(|k| view! { <KeyFactsCard k /> })}
            {rotation.map(|data| view! {
                <section class="card space-y-3" aria-labelledby="rotation-heading">
                    <h2 id="rotation-heading" class="text-lg font-semibold">"Rotation: has the traffic moved?"</h2>
                    <p class="text-sm text-slate-600">"Allowed requests of the old key and the new one. When the old key's bars stop, every client uses the new key."</p>
                    <BarChart data label="Allowed requests of the old and the new key" unit="allowed requests" />
                </section>
            })}
            {(!quotas.is_empty()).then(|| view! { <Quotas quotas /> })}
            <div class="grid gap-6 lg:grid-cols-2">
                {breakdown_title.map(|t| view! { <Breakdown title=t rows=breakdown first="Name" csv=export("breakdown") /> })}
                <Breakdown title="By API" rows=apis first="API" csv=export("apis") />
            </div>
            {match recent {
                Some(recent) => view! { <LatestCalls recent per_key=matches!(scope, UsageScope::Application { .. }) /> }.into_any(),
                None => (!is_empty_portal).then(|| view! {
                    <p class="text-sm text-slate-600">"Pick an application above to see its latest calls one by one: status, latency and size through the gateway."</p>
                }).into_any(),
            }}
        </div>
    }
}

/// An application's or key's latest calls: the decision, and through the gateway the
/// upstream's status, the time to its answer and the answer's size.
#[component]
fn LatestCalls(recent: RecentCalls, per_key: bool) -> impl IntoView {
    let RecentCalls {
        calls,
        kept_days,
        searched,
    } = recent;
    let kept = format!(
        "Looked for among the installation's latest {} calls in this period. Calls are kept one by one for {kept_days} days; under heavy load some are not, while the charts above count every call.",
        count(searched)
    );
    let note = match (kept_days, calls.len()) {
        (0, _) => "This installation keeps no calls one by one (KEYPORT_USAGE_RETENTION_DAYS is 0); the charts above count every call.".to_string(),
        (_, 0) => kept,
        (_, 1) => format!("The latest call in this period. {kept}"),
        (_, n) => format!("The latest {n} calls in this period, newest first. {kept}"),
    };
    let body = if calls.is_empty() {
        view! {
            <p class="text-sm text-slate-500">"No calls in this period. A call through the gateway or the verify API shows here within seconds."</p>
        }
        .into_any()
    } else {
        let rows = calls
            .into_iter()
            .map(|c| {
                let refused = c.code != "VALID";
                view! {
                    <tr class="border-t border-slate-100">
                        <td class="whitespace-nowrap py-1 pr-3 tabular-nums">{c.at}</td>
                        {per_key.then(|| view! { <td class="py-1 pr-3">{c.key}</td> })}
                        <td class="py-1 pr-3">{c.api}</td>
                        <td class="py-1 pr-3" class:text-rose-700=refused title=c.code.clone()>{c.outcome}</td>
                        <td class="py-1 pr-3 text-right tabular-nums">{c.status.map_or_else(|| "—".to_string(), |s| s.to_string())}</td>
                        <td class="py-1 pr-3 text-right tabular-nums">{c.latency.unwrap_or_else(|| "—".into())}</td>
                        <td class="py-1 pr-3 text-right tabular-nums">{c.size.unwrap_or_else(|| "—".into())}</td>
                        <td class="py-1 font-mono text-xs">{c.client.unwrap_or_else(|| "—".into())}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <ScrollRegion label="Latest calls, newest first">
                <table class="min-w-full text-sm">
                    <thead class="text-left text-slate-500">
                        <tr>
                            <th scope="col" class="py-1 pr-3 font-medium">"Time"</th>
                            {per_key.then(|| view! { <th scope="col" class="py-1 pr-3 font-medium">"Key"</th> })}
                            <th scope="col" class="py-1 pr-3 font-medium">"API"</th>
                            <th scope="col" class="py-1 pr-3 font-medium">"Outcome"</th>
                            <th scope="col" class="py-1 pr-3 text-right font-medium">"Status"</th>
                            <th scope="col" class="py-1 pr-3 text-right font-medium">"Latency"</th>
                            <th scope="col" class="py-1 pr-3 text-right font-medium">"Size"</th>
                            <th scope="col" class="py-1 font-medium">"Client"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </ScrollRegion>
        }
        .into_any()
    };
    view! {
        <section class="card space-y-2" aria-labelledby="latest-calls-heading">
            <h2 id="latest-calls-heading" class="text-lg font-semibold">"Latest calls"</h2>
            {body}
            <p class="text-xs text-slate-500">{note}</p>
        </section>
    }
}

#[component]
fn KeyFactsCard(k: KeyFacts) -> impl IntoView {
    let uses = match (k.remaining_uses, k.max_uses) {
        (Some(left), Some(max)) => format!("{} of {} uses left", count(left), count(max)),
        (Some(left), None) => format!("{} uses left", count(left)),
        _ => "No use limit".to_string(),
    };
    view! {
        <section class="card" aria-label="This key">
            <dl class="grid gap-4 text-sm sm:grid-cols-4">
                <div><dt class="text-slate-500">"State"</dt><dd class="font-medium">{k.state}</dd></div>
                <div><dt class="text-slate-500">"Uses"</dt><dd class="font-medium">{uses}</dd></div>
                <div><dt class="text-slate-500">"Last used"</dt><dd class="font-medium">{k.last_used.unwrap_or_else(|| "Never".into())}</dd></div>
                <div><dt class="text-slate-500">"Last address"</dt><dd class="font-medium">{k.last_ip.unwrap_or_else(|| "—".into())}</dd></div>
            </dl>
            <h3 class="mt-5 text-sm font-semibold">"Top client addresses"</h3>
            {if k.clients.is_empty() {
                view! { <p class="text-sm text-slate-500">{format!("No requests with this key since {}.", k.clients_since)}</p> }.into_any()
            } else {
                view! {
                    <div class="overflow-x-auto">
                        <table class="mt-2 w-full text-sm">
                            <caption class="sr-only">{format!("The key's busiest client addresses since {}", k.clients_since)}</caption>
                            <thead class="text-left text-slate-500">
                                <tr><th scope="col" class="py-1 pr-4 font-medium">"Address"</th><th scope="col" class="py-1 pr-4 font-medium">"Network"</th><th scope="col" class="py-1 pr-4 text-right font-medium">"Requests"</th><th scope="col" class="py-1 font-medium">"Last seen"</th></tr>
                            </thead>
                            <tbody>
                                {k.clients.into_iter().map(|c| view! {
                                    <tr class="border-t border-slate-100">
                                        <td class="py-1 pr-4 font-mono">{c.ip}</td>
                                        <td class="py-1 pr-4 font-mono text-slate-500">{c.network}</td>
                                        <td class="py-1 pr-4 text-right tabular-nums">{count(c.requests)}</td>
                                        <td class="py-1">{c.last_seen}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <p class="mt-1 text-xs text-slate-500">{format!("Since {} (whole days, UTC); refused tries included.", k.clients_since)}</p>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Quotas(quotas: Vec<QuotaUse>) -> impl IntoView {
    let items = quotas
        .into_iter()
        .map(|q| {
            let pct = if q.limit > 0 { (q.used * 100 / q.limit).min(100) } else { 100 };
            let heading = q.projected > q.limit;
            let bar = if pct >= 100 {
                "fill-rose-600"
            } else if pct >= 80 || heading {
                "fill-amber-500"
            } else {
                "fill-emerald-500"
            };
            let outlook = if q.used >= q.limit {
                format!("Reached: requests are refused until {}.", q.resets)
            } else if heading {
                format!("At this pace it runs out before {} ({} projected).", q.resets, count(q.projected))
            } else {
                format!("At this pace: {} by {}.", count(q.projected), q.resets)
            };
            let label = format!("{} of {} {}", count(q.used), count(q.limit), q.period);
            view! {
                <li class="space-y-1">
                    <div class="flex flex-wrap items-baseline justify-between gap-2 text-sm">
                        <span class="font-medium">{format!("{} → {} ({})", q.application, q.api, q.plan)}</span>
                        <span class="tabular-nums text-slate-600">{label.clone()}</span>
                    </div>
                    // An SVG bar: its width is an attribute (the CSP allows no inline style).
                    <svg class="block h-2 w-full overflow-hidden rounded bg-slate-200" role="meter" aria-valuemin="0" aria-valuemax=q.limit aria-valuenow=q.used aria-label=format!("Quota used: {label}")>
                        <rect class=bar x="0" y="0" height="100%" width=format!("{pct}%") />
                    </svg>
                    <p class="text-xs text-slate-500">{outlook}</p>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card space-y-3" aria-labelledby="quota-heading">
            <h2 id="quota-heading" class="text-lg font-semibold">"Quotas"</h2>
            <ul class="space-y-4">{items}</ul>
        </section>
    }
}

/// A link that downloads a CSV (the router leaves it to the browser).
#[component]
fn CsvLink(href: String, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <a class="link text-sm" href=href rel="external" download="" aria-label=label>"CSV"</a>
    }
}

#[component]
fn Breakdown(
    title: &'static str,
    rows: Vec<UsageRow>,
    first: &'static str,
    /// Where the table downloads as CSV.
    #[prop(optional)]
    csv: Option<String>,
) -> impl IntoView {
    let csv = csv.map(|href| view! { <CsvLink href label=format!("{title} as CSV") /> });
    if rows.is_empty() {
        return view! {
            <section class="card space-y-2" aria-label=title>
                <h2 class="text-lg font-semibold">{title}</h2>
                <p class="text-sm text-slate-500">"No requests in this period."</p>
            </section>
        }
        .into_any();
    }
    let body = rows
        .into_iter()
        .map(|r| {
            let name = match r.link {
                Some(link) => view! { <A href=link attr:class="link">{r.label}</A> }.into_any(),
                None => view! { <span>{r.label}</span> }.into_any(),
            };
            view! {
                <tr class="border-t border-slate-100">
                    <td class="py-2 pr-3">
                        {name}
                        {(!r.detail.is_empty()).then(|| view! { <div class="font-mono text-xs text-slate-500">{r.detail}</div> })}
                    </td>
                    <td class="py-2 pr-3 text-right tabular-nums">{count(r.allowed)}</td>
                    <td class="py-2 pr-3 text-right tabular-nums">{count(r.refused)}</td>
                    <td class="py-2 text-slate-600">{r.top_refusal.unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card space-y-2" aria-label=title>
            <div class="flex items-baseline justify-between gap-2">
                <h2 class="text-lg font-semibold">{title}</h2>
                {csv}
            </div>
            <ScrollRegion label=title>
                <table class="min-w-full text-sm">
                    <thead class="text-left text-slate-500">
                        <tr>
                            <th scope="col" class="py-1 pr-3 font-medium">{first}</th>
                            <th scope="col" class="py-1 pr-3 text-right font-medium">"Allowed"</th>
                            <th scope="col" class="py-1 pr-3 text-right font-medium">"Refused"</th>
                            <th scope="col" class="py-1 font-medium">"Most refused as"</th>
                        </tr>
                    </thead>
                    <tbody>{body}</tbody>
                </table>
            </ScrollRegion>
        </section>
    }
    .into_any()
}

/// `/publish/usage` (a publisher's APIs; `platform`: false) and `/admin/usage` (the
/// platform).
#[component]
pub fn OverviewPage(platform: bool) -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).filter(|v| !v.is_empty());
    let browser = RwSignal::new(None::<String>);
    Effect::new(move |_| browser.set(crate::components::browser_time_zone()));
    let data = Resource::new(
        move || (get("range"), get("api"), browser.get()),
        move |(range, api, tz)| async move {
            if platform {
                platform_usage(range, tz).await
            } else {
                api_usage(range, api, tz).await
            }
        },
    );
    let title = if platform {
        "Platform usage · Keyport"
    } else {
        "API usage · Keyport"
    };
    view! {
        <PageTitle text=title />
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Overview data /> }.into_any(),
                    Err(error) => view! { <ErrorView error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(data: OverviewData) -> impl IntoView {
    let OverviewData {
        range,
        time_zone,
        platform,
        api,
        chart,
        apis,
        applications,
        keys,
        subscriptions,
        plans,
        new_subscriptions,
        health,
        choices,
    } = data;
    let base = if platform {
        "/admin/usage"
    } else {
        "/publish/usage"
    };
    let api_part = api
        .as_ref()
        .map(|(id, _)| format!("&api={}", urlencode(id)))
        .unwrap_or_default();
    let (title, subtitle) = match (&api, platform) {
        (Some((_, name)), _) => (format!("Usage of {name}"), "One API".to_string()),
        (None, true) => (
            "Platform usage".to_string(),
            "Every API and application".to_string(),
        ),
        (None, false) => (
            "Usage of your APIs".to_string(),
            format!("{} API(s)", choices.len()),
        ),
    };
    let refused: i64 = chart
        .series
        .iter()
        .filter(|s| s.label != "Allowed")
        .flat_map(|s| s.values.iter())
        .sum();
    let all: i64 = chart.series.iter().flat_map(|s| s.values.iter()).sum();
    let share = if all > 0 {
        format!(
            "{:.1}% of {} requests refused",
            refused as f64 * 100.0 / all as f64,
            count(all)
        )
    } else {
        "No requests in this period.".to_string()
    };
    let chart_label = format!("Requests, {}", range.label().to_lowercase());
    let no_apis = choices.is_empty() && !platform;
    let export = {
        let query = format!("range={}{api_part}", range.as_str());
        move |table: &str| format!("{base}/export.csv?{query}&table={table}")
    };
    view! {
        <div class="space-y-6">
            <Heading
                back=api.is_some().then(|| (format!("{base}?range={}", range.as_str()), "All APIs".to_string()))
                title
                subtitle=format!("{subtitle} · {share} · times in {time_zone}")
                range
                href=move |r| format!("{base}?range={}{api_part}", r.as_str())
            />
            {no_apis.then(|| view! {
                <EmptyState title="You publish no API yet.">
                    "Publish an API: once applications call it, its traffic shows here. "
                    <A href="/publish/new" attr:class="link">"Create an API"</A>
                </EmptyState>
            })}
            {health.map(|h| view! { <Health h /> })}
            <section class="card space-y-3" aria-labelledby="requests-heading">
                <div class="flex items-baseline justify-between gap-2">
                    <h2 id="requests-heading" class="text-lg font-semibold">{format!("Requests · {}", range.label())}</h2>
                    <CsvLink href=export("time") label="Requests over time as CSV" />
                </div>
                <BarChart data=chart label=chart_label unit="requests" />
            </section>
            <p class="text-sm text-slate-600">
                "Billing: usage per subscription and UTC day, this month so far: "
                <a class="link" href="/usage/billing.csv" rel="external" download="">"billing CSV"</a>
                " (or "<code class="text-xs">"GET /v1/usage"</code>" with a service token)."
            </p>
            <div class="grid gap-6 lg:grid-cols-2">
                <Breakdown title="By API" rows=apis first="API" csv=export("apis") />
                <Breakdown title="Top applications" rows=applications first="Application" csv=export("applications") />
                {platform.then(|| view! { <Breakdown title="Top keys" rows=keys first="Key" csv=export("keys") /> })}
                <Breakdown title="By plan" rows=plans first="Plan" csv=export("plans") />
                <Breakdown title="By subscription" rows=subscriptions first="Application → API" csv=export("subscriptions") />
            </div>
            <section class="card space-y-3" aria-labelledby="subs-heading">
                <h2 id="subs-heading" class="text-lg font-semibold">"New subscriptions"</h2>
                <BarChart data=new_subscriptions label="New subscriptions over time" unit="new subscriptions" />
            </section>
        </div>
    }
}

#[component]
fn Health(h: QueueHealth) -> impl IntoView {
    let warn = h.dropped > 0;
    view! {
        <section class="card" aria-labelledby="health-heading">
            <h2 id="health-heading" class="mb-3 text-lg font-semibold">"Usage recording (this instance, since it started)"</h2>
            <dl class="grid gap-4 text-sm sm:grid-cols-4">
                <div><dt class="text-slate-500">"Events stored"</dt><dd class="text-xl font-semibold tabular-nums">{count(h.written as i64)}</dd></div>
                <div>
                    <dt class="text-slate-500">"Dropped (queue full or database down)"</dt>
                    <dd class=if warn { "text-xl font-semibold tabular-nums text-rose-700" } else { "text-xl font-semibold tabular-nums" }>{count(h.dropped as i64)}</dd>
                    <dd class="text-xs text-slate-500">{format!("queue holds {}", count(h.capacity as i64))}</dd>
                </div>
                <div><dt class="text-slate-500">"Raw events skipped (writer behind)"</dt><dd class="text-xl font-semibold tabular-nums">{count(h.raw_skipped as i64)}</dd></div>
                <div><dt class="text-slate-500">"Roll-up into hours and days"</dt><dd class="font-medium">{h.rollup_behind}</dd></div>
            </dl>
        </section>
    }
}
