#![recursion_limit = "512"]
//! Keyport's portal: the Leptos app shared by the server (SSR) and the browser (hydration).
//! One module per product area; shared UI in `components`, shared types in `domain`.

pub mod accounts;
pub mod admin;
pub mod applications;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod components;
pub mod dashboard;
pub mod domain;
pub mod error;
pub mod keys;
pub mod notifications;
pub mod platform;
mod routes;
pub mod subscriptions;
pub mod usage;

use auth::{whoami, CurrentUser, SignOut};
use components::PageTitle;
use domain::Role;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{path, Lazy, SsrMode};

/// The HTML document around the app (server side only). Scripts, the WASM bundle and the
/// stylesheet load under their version (`/v/<version>/pkg/…`), so they can be cached for good.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use leptos_meta::MetaTags;
    let root = format!("/v/{}", platform::assets::version(&options));
    let stylesheet = format!("{root}/{}/keyport.css", options.site_pkg_dir);
    view! {
        <!DOCTYPE html>
        <html lang="en" class="h-full bg-slate-50">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" id="leptos" href=stylesheet />
                <HydrationScripts options root />
                <MetaTags />
            </head>
            <body class="h-full text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Link rel="icon" href="data:," />
        <Meta name="description" content="Keyport: a self-hosted API portal for publishing APIs and self-serving API keys." />
        <PageTitle text="Keyport" />
        <Router>
            <Layout />
        </Router>
    }
}

/// Everything inside the router. Pages create their own actions (inside `<Routes>`, where a
/// form posted without JavaScript finds its error in the URL).
#[component]
fn Layout() -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let location = leptos_router::hooks::use_location();
    // Who is signed in is asked again after every navigation (sign-in and sign-up end in one).
    let user = Resource::new(
        move || (location.pathname.get(), sign_out.version().get()),
        |_| whoami(),
    );
    let seen = notifications::Seen::provide();
    let unread = Resource::new(
        move || {
            (
                location.pathname.get(),
                sign_out.version().get(),
                seen.get(),
            )
        },
        |_| notifications::unread_notifications(),
    );
    auth::mfa::StepUp::provide();
    view! {
        <div class="flex min-h-full flex-col">
            <Header user unread sign_out />
            <auth::mfa::StepUpDialog />
            <main id="main" class="mx-auto w-full max-w-6xl flex-1 px-4 py-8 sm:px-6">
                <ErrorBoundary fallback=|errors| view! {
                    <section class="card mx-auto max-w-lg space-y-3 text-center" role="alert">
                        <h1 class="text-xl font-semibold">"Something went wrong"</h1>
                        <ul class="text-slate-600">
                            {move || errors.get().into_iter().map(|(_, e)| view! { <li>{e.to_string()}</li> }).collect_view()}
                        </ul>
                        <a href="/" class="btn-secondary inline-block">"Go to the start page"</a>
                    </section>
                }>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Landing ssr=SsrMode::Async />
                    <Route path=path!("/sign-in") view=auth::SignInPage ssr=SsrMode::Async />
                    <Route path=path!("/sign-up") view=auth::SignUpPage ssr=SsrMode::Async />
                    <Route path=path!("/sign-up/confirm") view=auth::ConfirmSignUpPage ssr=SsrMode::Async />
                    <Route path=path!("/setup") view=auth::SetupPage ssr=SsrMode::Async />
                    <Route path=path!("/dashboard") view={Lazy::<routes::Dashboard>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/sign-in/mfa") view=auth::mfa::MfaSignInPage ssr=SsrMode::Async />
                    <Route path=path!("/account") view={Lazy::<routes::Account>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/account/security") view={Lazy::<routes::Security>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/account/sessions") view={Lazy::<routes::Sessions>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/users") view={Lazy::<routes::Users>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/settings") view={Lazy::<routes::Settings>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/audit") view={Lazy::<routes::Audit>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/keys") view={Lazy::<routes::AllKeys>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin/usage") view={Lazy::<routes::PlatformUsage>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/catalog") view={Lazy::<routes::Catalog>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/catalog/:slug") view={Lazy::<routes::Api>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/applications") view={Lazy::<routes::Applications>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/usage") view={Lazy::<routes::Usage>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/publish") view={Lazy::<routes::Publish>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/publish/new") view={Lazy::<routes::NewApi>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/publish/usage") view={Lazy::<routes::ApiUsage>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/publish/:slug") view={Lazy::<routes::ApiEditor>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/approvals") view={Lazy::<routes::Approvals>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/notifications") view={Lazy::<routes::Notifications>::new()} ssr=SsrMode::Async />
                </Routes>
                </ErrorBoundary>
            </main>
            <footer class="border-t border-slate-200 py-6 text-center text-xs text-slate-500">
                "Keyport · self-hosted API portal"
            </footer>
        </div>
    }
}

#[component]
fn Header(
    user: Resource<Result<Option<CurrentUser>, error::AppError>>,
    unread: Resource<Result<i64, error::AppError>>,
    sign_out: ServerAction<SignOut>,
) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    view! {
        <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-white focus:p-2">
            "Skip to content"
        </a>
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6">
                <A href="/" attr:class="flex items-center gap-2 text-lg font-bold text-brand-700">
                    <span aria-hidden="true" class="inline-block h-6 w-6 rounded bg-brand-600"></span>
                    "Keyport"
                </A>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(u)) => {
                                let admin = u.role == Role::Admin;
                                let publishes = matches!(u.role, Role::Admin | Role::Publisher);
                                let unread = unread.await.unwrap_or(0);
                                let bell_label = if unread == 0 { "Notifications".to_string() } else { format!("Notifications, {unread} unread") };
                                let path = location.pathname.get_untracked();
                                let on_admin_page = path.starts_with("/admin/");
                                let on_account_page = path == "/account" || path.starts_with("/account/");
                                // Phones show a short word; wider screens who is signed in (a long
                                // name is cut, in full on hover).
                                let who = format!("{} · {}", u.display_name, u.role.label());
                                let who_title = who.clone();
                                let account_button = view! {
                                    <span class="sm:hidden">"Account"</span>
                                    <span class="hidden max-w-[14rem] truncate sm:inline" title=who_title>{who}</span>
                                }
                                .into_any();
                                view! {
                                    // On a phone the links get a line of their own, under the logo
                                    // and the account's controls.
                                    <nav aria-label="Main" class="order-last flex w-full flex-wrap items-center gap-x-4 gap-y-1 text-sm sm:order-none sm:w-auto sm:flex-1">
                                        <A href="/dashboard" attr:class="nav-link">"Dashboard"</A>
                                        <A href="/catalog" attr:class="nav-link">"Catalog"</A>
                                        <A href="/applications" attr:class="nav-link">"Applications"</A>
                                        <A href="/usage" attr:class="nav-link">"Usage"</A>
                                        {publishes.then(|| view! {
                                            <A href="/publish" attr:class="nav-link">"Publish"</A>
                                            <A href="/approvals" attr:class="nav-link">"Approvals"</A>
                                        })}
                                        {admin.then(|| view! {
                                            <HeaderMenu label="Admin" id="admin-menu" active=on_admin_page opens_right=true button=view! { "Admin" }.into_any()>
                                                <li><A href="/admin/users" attr:class="menu-link">"Users"</A></li>
                                                <li><A href="/admin/audit" attr:class="menu-link">"Audit log"</A></li>
                                                <li><A href="/admin/keys" attr:class="menu-link">"Keys"</A></li>
                                                <li><A href="/admin/usage" attr:class="menu-link">"Usage"</A></li>
                                                <li><A href="/admin/settings" attr:class="menu-link">"Settings"</A></li>
                                            </HeaderMenu>
                                        })}
                                    </nav>
                                    <div class="ml-auto flex items-center gap-3 text-sm sm:ml-0">
                                        <A href="/notifications" attr:class="nav-link relative" attr:aria-label=bell_label attr:data-unread=unread.to_string()>
                                            <svg aria-hidden="true" class="inline h-5 w-5" viewBox="0 0 20 20" fill="currentColor"><path d="M10 2a6 6 0 0 0-6 6v3.6l-1.7 2.6A.5.5 0 0 0 2.7 15h14.6a.5.5 0 0 0 .4-.8L16 11.6V8a6 6 0 0 0-6-6Zm0 16a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 10 18Z"/></svg>
                                            {(unread > 0).then(|| view! { <span aria-hidden="true" class="absolute -right-2 -top-1 rounded-full bg-red-600 px-1.5 text-[10px] font-bold text-white">{unread}</span> })}
                                        </A>
                                        <nav aria-label="Account">
                                            <HeaderMenu label="Your account" id="account-menu" active=on_account_page button=account_button>
                                                <li><A href="/account" exact=true attr:class="menu-link">"Account"</A></li>
                                                <li><A href="/account/security" attr:class="menu-link">"Security"</A></li>
                                                <li><A href="/account/sessions" attr:class="menu-link">"Sessions"</A></li>
                                            </HeaderMenu>
                                        </nav>
                                        <ActionForm action=sign_out>
                                            <button type="submit" class="btn-secondary py-1">"Sign out"</button>
                                        </ActionForm>
                                    </div>
                                }
                                .into_any()
                            }
                            _ => view! {
                                <nav aria-label="Main" class="ml-auto flex items-center gap-3 text-sm">
                                    <A href="/sign-in" attr:class="nav-link">"Sign in"</A>
                                    <A href="/sign-up" attr:class="btn py-1">"Create account"</A>
                                </nav>
                            }
                            .into_any(),
                        }
                    })}
                </Transition>
            </div>
        </header>
    }
}

/// A group of header links behind one button, so the header keeps to one line on a desktop.
/// A `<details>` disclosure: it opens without JavaScript, its summary is a button that
/// assistive technology announces as expanded or collapsed, and Enter or Space toggles it.
/// Once hydrated, Escape closes it (focus back on its button), and so do following a link,
/// clicking elsewhere and moving the focus out of it.
#[component]
fn HeaderMenu(
    /// Names the list of links for screen readers.
    #[prop(into)]
    label: String,
    /// What the menu's button shows.
    button: AnyView,
    /// The id of the list, for `aria-controls`.
    #[prop(into)]
    id: String,
    /// The current page is one of the menu's.
    active: bool,
    /// On a phone, the list opens to the right of its button (for a button that may stand
    /// at the start of a line); on wider screens every menu opens to the left.
    #[prop(optional)]
    opens_right: bool,
    children: Children,
) -> impl IntoView {
    let details = NodeRef::<leptos::html::Details>::new();
    let close = move |refocus: bool| {
        #[cfg(feature = "hydrate")]
        if let Some(d) = details.get_untracked() {
            use wasm_bindgen::JsCast;
            if d.open() {
                d.set_open(false);
                let summary = d.query_selector("summary").ok().flatten();
                if let (true, Some(s)) = (
                    refocus,
                    summary.and_then(|s| s.dyn_into::<web_sys::HtmlElement>().ok()),
                ) {
                    let _ = s.focus();
                }
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (refocus, details);
    };
    // Closes the menu when a click or the focus lands outside it.
    let close_unless_inside = move |target: Option<leptos::web_sys::EventTarget>| {
        #[cfg(feature = "hydrate")]
        if let Some(d) = details.get_untracked() {
            use wasm_bindgen::JsCast;
            let node = target.and_then(|t| t.dyn_into::<web_sys::Node>().ok());
            if !node.is_some_and(|n| d.contains(Some(&n))) {
                close(false);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = target;
    };
    #[cfg(feature = "hydrate")]
    {
        let outside = window_event_listener(leptos::ev::click, move |ev| {
            close_unless_inside(ev.target())
        });
        on_cleanup(move || outside.remove());
    }
    view! {
        <details
            class="relative"
            node_ref=details
            on:keydown=move |ev| if ev.key() == "Escape" { close(true) }
            on:focusout=move |ev| close_unless_inside(ev.related_target())
        >
            <summary
                class=if active { "nav-link flex cursor-pointer list-none items-center gap-1 font-semibold text-brand-700" } else { "nav-link flex cursor-pointer list-none items-center gap-1" }
                aria-controls=id.clone()
            >
                {button}
                <svg aria-hidden="true" class="h-4 w-4" viewBox="0 0 20 20" fill="currentColor"><path d="M5.2 7.2a.75.75 0 0 1 1.06 0L10 10.94l3.74-3.74a.75.75 0 1 1 1.06 1.06l-4.27 4.27a.75.75 0 0 1-1.06 0L5.2 8.26a.75.75 0 0 1 0-1.06Z"/></svg>
            </summary>
            <ul
                id=id
                aria-label=label
                class=if opens_right {
                    "absolute left-0 z-20 mt-1 w-44 rounded-md border border-slate-200 bg-white py-1 shadow-lg sm:left-auto sm:right-0"
                } else {
                    "absolute right-0 z-20 mt-1 w-44 rounded-md border border-slate-200 bg-white py-1 shadow-lg"
                }
                on:click=move |_| close(false)
            >
                {children()}
            </ul>
        </details>
    }
}

#[component]
fn Landing() -> impl IntoView {
    let features = [
        ("Publish APIs", "Describe each API with its OpenAPI document, plans and lifecycle, and decide who may subscribe."),
        ("Self-serve keys", "Developers issue, rotate with a grace period and revoke their own keys, protected by MFA."),
        ("Verify anywhere", "Keyport's gateway or your nginx and Envoy check keys, limits and quotas on every request."),
        ("See usage", "Charts per key, application and API, from pre-aggregated usage, with a full audit trail."),
    ];
    view! {
        <PageTitle text="Keyport · self-hosted API portal" />
        <section class="space-y-12 py-8">
            <div class="max-w-3xl space-y-4">
                <h1 class="text-4xl font-bold tracking-tight sm:text-5xl">"Your APIs, their keys, one portal."</h1>
                <p class="text-lg text-slate-600">
                    "Keyport is a self-hosted API management portal: publishers list APIs and plans, developers subscribe and manage their own API keys, and admins keep an eye on everything. One binary, SQLite by default, PostgreSQL when you grow."
                </p>
                <div class="flex flex-wrap gap-3">
                    <A href="/sign-up" attr:class="btn">"Create an account"</A>
                    <A href="/sign-in" attr:class="btn-secondary">"Sign in"</A>
                </div>
            </div>
            <ul class="grid gap-6 sm:grid-cols-2 lg:grid-cols-4">
                {features.into_iter().map(|(title, text)| view! {
                    <li class="card space-y-2">
                        <h2 class="font-semibold">{title}</h2>
                        <p class="text-sm text-slate-600">{text}</p>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <PageTitle text="Not found · Keyport" />
        <section class="card mx-auto max-w-lg space-y-3 text-center">
            <h1 class="text-xl font-semibold">"Page not found"</h1>
            <p class="text-slate-600">"There is nothing at this address. Check the link, or go back to the start."</p>
            <A href="/" attr:class="btn-secondary inline-block">"Go to the start page"</A>
        </section>
    }
}
