//! The notifications page: newest first, unread marked, mark one or all read.

use super::*;
use crate::components::{
    action_error, EmptyState, ErrorView, FormError, Loading, PageTitle, Pager,
};
use leptos_router::hooks::use_query_map;

#[component]
pub fn NotificationsPageView() -> impl IntoView {
    let query = use_query_map();
    let page = move || query.read().get("page").and_then(|p| p.parse::<i64>().ok());
    let mark = ServerAction::<MarkNotificationsRead>::new();
    if let Some(Seen(seen)) = use_context::<Seen>() {
        Effect::new(move |_| {
            if matches!(mark.value().get(), Some(Ok(_))) {
                seen.update(|n| *n += 1);
            }
        });
    }
    let data = Resource::new(
        move || (page(), mark.version().get()),
        |(page, _)| list_notifications(page),
    );
    view! {
        <PageTitle text="Notifications · Keyport" />
        <div class="mx-auto max-w-3xl space-y-6">
            <div class="flex flex-wrap items-center justify-between gap-4">
                <h1 class="text-2xl font-semibold">"Notifications"</h1>
                <ActionForm action=mark>
                    <button type="submit" class="btn-secondary">"Mark all as read"</button>
                </ActionForm>
            </div>
            <FormError error=action_error(mark) />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(p) if p.items.is_empty() => view! {
                            <EmptyState title="No notifications yet.">
                                "You will hear here when a subscription is approved, rejected or changes state."
                            </EmptyState>
                        }.into_any(),
                        Ok(p) => view! {
                            <p class="text-sm text-slate-600" aria-live="polite">{format!("{} unread", p.unread)}</p>
                            <ul class="card divide-y divide-slate-100 p-0" aria-label="Notifications">
                                {p.items.into_iter().map(|n| {
                                    let id = n.id.clone();
                                    view! {
                                        <li class=if n.unread { "flex gap-4 bg-brand-50/60 p-4" } else { "flex gap-4 p-4" } data-unread=n.unread.to_string()>
                                            <div class="flex-1 space-y-1">
                                                <p class="font-medium">
                                                    {n.unread.then(|| view! { <span class="sr-only">"Unread: "</span> })}
                                                    {match n.link.clone() {
                                                        Some(link) => view! { <a class="link" href=link>{n.title.clone()}</a> }.into_any(),
                                                        None => view! { <span>{n.title.clone()}</span> }.into_any(),
                                                    }}
                                                </p>
                                                <p class="text-sm text-slate-700">{n.body}</p>
                                                <p class="text-xs text-slate-500">{n.at}</p>
                                            </div>
                                            {n.unread.then(|| view! {
                                                <ActionForm action=mark>
                                                    <input type="hidden" name="id" value=id />
                                                    <button type="submit" class="btn-secondary py-1 text-xs">"Mark read"</button>
                                                </ActionForm>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                            <Pager page=p.page per_page=PER_PAGE total=p.total href=|n| format!("/notifications?page={n}") />
                        }.into_any(),
                        Err(error) => view! { <ErrorView error /> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}
