//! The approval queue: publishers see requests for their APIs, admins every request;
//! approve, reject (with a reason), suspend (with a reason) and resume, each after step-up.

use super::*;
use crate::components::{
    action_error, state_badge, EmptyState, ErrorView, FormError, Loading, Notice, PageTitle, Pager,
    StepUpCode, TextArea,
};
use leptos_router::hooks::use_query_map;

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k);
    let decide = ServerAction::<DecideSubscription>::new();
    crate::auth::mfa::pages_step_up(decide);
    let data = Resource::new(
        move || {
            (
                get("state"),
                get("api"),
                get("page").and_then(|p| p.parse::<i64>().ok()),
                decide.version().get(),
            )
        },
        |(state, api, page, _)| approval_queue(state, api, page),
    );
    let state_now = move || get("state").unwrap_or_else(|| "pending".into());
    view! {
        <PageTitle text="Approvals · Keyport" />
        <div class="space-y-6">
            <div class="flex flex-wrap items-end justify-between gap-4">
                <div>
                    <h1 class="text-2xl font-semibold">"Subscription approvals"</h1>
                    <p class="text-sm text-slate-600">"Decisions need a recent two-factor check; the developer is told the outcome and your reason."</p>
                </div>
            </div>
            {move || match decide.value().get() {
                Some(Ok(state)) => Some(view! { <Notice text=format!("Done: the subscription is now {}.", state.label().to_lowercase()) /> }),
                _ => None,
            }}
            <FormError error=action_error(decide) />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(q) => {
                            let current_api = get("api").unwrap_or_default();
                            let current_state = state_now();
                            let (s2, a2) = (current_state.clone(), current_api.clone());
                            let href = move |n: i64| format!("/approvals?state={}&api={}&page={n}", s2, crate::components::urlencode(&a2));
                            view! {
                                <form method="get" action="/approvals" class="flex flex-wrap items-end gap-3" aria-label="Filter">
                                    <div class="space-y-1">
                                        <label for="filter-state" class="label">"State"</label>
                                        <select id="filter-state" name="state" class="input">
                                            <option value="all" selected=current_state == "all">"All"</option>
                                            {SubscriptionState::ALL.iter().map(|s| view! {
                                                <option value=s.as_str() selected=current_state == s.as_str()>{s.label()}</option>
                                            }).collect_view()}
                                        </select>
                                    </div>
                                    <div class="space-y-1">
                                        <label for="filter-api" class="label">"API"</label>
                                        <select id="filter-api" name="api" class="input">
                                            <option value="">"All APIs"</option>
                                            {q.apis.iter().map(|(slug, name)| view! {
                                                <option value=slug.clone() selected=*slug == current_api>{name.clone()}</option>
                                            }).collect_view()}
                                        </select>
                                    </div>
                                    <button type="submit" class="btn-secondary">"Filter"</button>
                                </form>
                                {if q.items.is_empty() {
                                    view! {
                                        <EmptyState title="Nothing here.">
                                            {if current_state == "pending" { "No request is waiting for a decision." } else { "No subscription matches these filters." }}
                                        </EmptyState>
                                    }.into_any()
                                } else {
                                    view! {
                                        <ul class="space-y-3" aria-label="Subscriptions">
                                            {q.items.into_iter().map(|s| view! { <Request sub=s decide /> }).collect_view()}
                                        </ul>
                                        <Pager page=q.page per_page=QUEUE_PER_PAGE total=q.total href />
                                    }.into_any()
                                }}
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
fn Request(sub: SubscriptionView, decide: ServerAction<DecideSubscription>) -> impl IntoView {
    let simple = move |decision: SubscriptionEvent, class: &'static str, id: String| {
        let code_id = format!("code-{}-{}", decision.as_str(), id);
        view! {
            <ActionForm action=decide>
                <StepUpCode id=code_id />
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="decision" value=decision.as_str() />
                <button type="submit" class=class>{decision.label()}</button>
            </ActionForm>
        }
    };
    let with_reason = move |decision: SubscriptionEvent, id: String| {
        let field = format!("reason-{}-{}", decision.as_str(), id);
        let code_id = format!("code-{}-{}", decision.as_str(), id);
        view! {
            <details class="relative">
                <summary class="btn-secondary cursor-pointer list-none">{format!("{}…", decision.label())}</summary>
                <div class="absolute right-0 z-10 mt-2 w-80 rounded-md border border-slate-200 bg-white p-3 shadow-lg">
                    <ActionForm action=decide attr:class="space-y-2">
                        <input type="hidden" name="id" value=id />
                        <input type="hidden" name="decision" value=decision.as_str() />
                        <TextArea id=field label="Reason (the developer sees it)" name="reason" rows=3 required=true />
                        <StepUpCode id=code_id />
                        <button type="submit" class="btn-danger w-full">{decision.label()}</button>
                    </ActionForm>
                </div>
            </details>
        }
    };
    let controls = match sub.state {
        SubscriptionState::Pending => view! {
            {simple(SubscriptionEvent::Approve, "btn", sub.id.clone())}
            {with_reason(SubscriptionEvent::Reject, sub.id.clone())}
        }
        .into_any(),
        SubscriptionState::Active => {
            with_reason(SubscriptionEvent::Suspend, sub.id.clone()).into_any()
        }
        SubscriptionState::Suspended => {
            simple(SubscriptionEvent::Resume, "btn", sub.id.clone()).into_any()
        }
        _ => ().into_any(),
    };
    let api_href = format!("/catalog/{}", sub.api_slug);
    view! {
        <li class="card flex flex-wrap items-start gap-4 p-4" data-subscription=sub.id.clone() data-application=sub.application.clone()>
            <div class="flex-1 space-y-1 text-sm">
                <p class="font-medium">
                    {sub.application.clone()}" → "<a class="link" href=api_href>{sub.api.clone()}</a>
                    <span class="text-slate-500">{format!(" · {} plan", sub.plan)}</span>
                </p>
                <p class="text-slate-600">{format!("Requested by {} on {}", sub.requested_by.clone().unwrap_or_else(|| "a deleted user".into()), sub.requested)}</p>
                <p class="flex flex-wrap items-center gap-2">{state_badge(sub.state)}{sub.reason.clone().map(|r| view! { <span class="text-slate-600">{format!("Reason: {r}")}</span> })}</p>
                {sub.propagation.clone().map(|p| view! { <p class="text-xs text-slate-600" data-propagation="" role="status">{p.sentence()}</p> })}
            </div>
            <div class="flex flex-wrap items-start gap-2">{controls}</div>
        </li>
    }
}
