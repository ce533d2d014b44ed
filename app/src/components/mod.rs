//! UI pieces shared by every area: the page title, form fields with their errors, error
//! and empty states, pagination, scrollable table regions; charts ([`chart`]).

pub mod chart;

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::{Redirect, A};
use leptos_router::hooks::use_location;

/// The messages for `field` in the last result of an action.
pub fn field_errors<S>(action: ServerAction<S>, field: &'static str) -> Signal<Vec<String>>
where
    S: ServerFn<Error = AppError> + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
{
    Signal::derive(move || {
        action.value().with(|v| match v {
            Some(Err(e)) => e.field_messages(field),
            _ => Vec::new(),
        })
    })
}

/// The error of the last result of an action, if any.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: ServerFn<Error = AppError> + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
{
    Signal::derive(move || {
        action
            .value()
            .with(|v| v.as_ref().and_then(|r| r.as_ref().err().cloned()))
    })
}

/// The page's `<title>`. Every page sets its title through this, never through
/// `leptos_meta::Title` directly: on the server, leptos_meta writes the title's text into the
/// HTML as is, so an API named `</title><meta http-equiv="refresh" …>` would end the title
/// and put a real element in the head. The text is escaped for the server's HTML only; in
/// the browser leptos_meta sets `document.title`, which is text already (escaped there, the
/// tab would show `&lt;`).
#[component]
pub fn PageTitle(#[prop(into)] text: String) -> impl IntoView {
    let writes_html = use_context::<leptos_meta::ServerMetaContext>().is_some();
    let text = if writes_html {
        escape_text(&text)
    } else {
        text
    };
    view! { <leptos_meta::Title text /> }
}

/// A labelled input with its hint and error messages, wired for screen readers.
#[component]
pub fn Field(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(into, default = "text".to_string())] kind: String,
    #[prop(into, optional)] value: Option<String>,
    #[prop(into, optional)] autocomplete: Option<String>,
    #[prop(into, optional)] hint: Option<String>,
    #[prop(into, optional)] errors: Signal<Vec<String>>,
    #[prop(optional)] required: bool,
    #[prop(optional)] readonly: bool,
    /// The element id, when a page has several forms with this field name.
    #[prop(into, optional)]
    id: Option<String>,
) -> impl IntoView {
    let id = id.unwrap_or_else(|| format!("field-{name}"));
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = format!("{error_id} {hint_id}");
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="label">{label}</label>
            <input
                id=id
                name=name
                type=kind
                class="input"
                value=value
                autocomplete=autocomplete
                required=required
                readonly=readonly
                aria-invalid=move || if errors.with(Vec::is_empty) { "false" } else { "true" }
                aria-describedby=described_by
            />
            {hint.map(|h| view! { <p id=hint_id class="text-xs text-slate-500">{h}</p> })}
            <p id=error_id class="field-error">{move || errors.get().join(" ")}</p>
        </div>
    }
}

/// A labelled multi-line input (Markdown, documents) with its hint and errors.
#[component]
pub fn TextArea(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(into, optional)] value: Option<String>,
    #[prop(into, optional)] hint: Option<String>,
    #[prop(into, optional)] errors: Signal<Vec<String>>,
    #[prop(default = 6)] rows: u32,
    #[prop(optional)] mono: bool,
    #[prop(optional)] required: bool,
    #[prop(into, optional)] id: Option<String>,
) -> impl IntoView {
    let id = id.unwrap_or_else(|| format!("field-{name}"));
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = format!("{error_id} {hint_id}");
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="label">{label}</label>
            <textarea
                id=id
                name=name
                rows=rows
                class=if mono { "input font-mono text-xs" } else { "input" }
                required=required
                aria-invalid=move || if errors.with(Vec::is_empty) { "false" } else { "true" }
                aria-describedby=described_by
                // Leptos writes a text area's children into the page unescaped (it treats
                // `<textarea>` like `<script>`), so a value holding `</textarea><script>`
                // would end the element and run. Escaped here, the browser decodes it back
                // to the exact text.
                inner_html=escape_text(&value.unwrap_or_default())
            ></textarea>
            {hint.map(|h| view! { <p id=hint_id class="text-xs text-slate-500">{h}</p> })}
            <p id=error_id class="field-error">{move || errors.get().join(" ")}</p>
        </div>
    }
}

/// `text` as HTML text: `&`, `<` and `>` escaped.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Error messages for a custom control (a select, a group of checkboxes).
#[component]
pub fn FieldMessages(#[prop(into)] errors: Signal<Vec<String>>) -> impl IntoView {
    view! { <p class="field-error" role="alert">{move || errors.get().join(" ")}</p> }
}

/// A password input with a show/hide toggle (works once the page is hydrated).
#[component]
pub fn PasswordField(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(into)] autocomplete: String,
    #[prop(into, optional)] hint: Option<String>,
    #[prop(into, optional)] errors: Signal<Vec<String>>,
    /// The field may be left empty.
    #[prop(optional)]
    optional: bool,
) -> impl IntoView {
    let shown = RwSignal::new(false);
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = format!("{error_id} {hint_id}");
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="label">{label}</label>
            <div class="flex gap-2">
                <input
                    id=id.clone()
                    name=name
                    type=move || if shown.get() { "text" } else { "password" }
                    class="input"
                    autocomplete=autocomplete
                    required=!optional
                    aria-invalid=move || if errors.with(Vec::is_empty) { "false" } else { "true" }
                    aria-describedby=described_by
                />
                <button
                    type="button"
                    class="btn-secondary shrink-0"
                    aria-controls=id
                    aria-pressed=move || shown.get().to_string()
                    on:click=move |_| shown.update(|s| *s = !*s)
                >
                    {move || if shown.get() { "Hide" } else { "Show" }}
                </button>
            </div>
            {hint.map(|h| view! { <p id=hint_id class="text-xs text-slate-500">{h}</p> })}
            <p id=error_id class="field-error">{move || errors.get().join(" ")}</p>
        </div>
    }
}

/// The form-level error banner (field errors are shown next to their fields).
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            let enrol = e == AppError::MfaEnrolmentRequired;
            // `MfaRequired` is answered by the step-up dialog once hydrated; without
            // JavaScript the banner sends the user to the form's code field.
            let (class, extra) = if e == AppError::MfaRequired {
                ("nojs-only", " Enter it in the form's code field and send the form again.")
            } else {
                ("", "")
            };
            view! {
                <div role="alert" class=format!("{class} rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800")>
                    {e.to_string()}
                    {extra}
                    {enrol.then(|| view! { " " <a class="link" href="/account/security">"Set it up now"</a> })}
                </div>
            }
        })
    }
}

/// A success banner.
#[component]
pub fn Notice(#[prop(into)] text: String) -> impl IntoView {
    view! {
        <div role="status" class="rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm text-emerald-800">
            {text}
        </div>
    }
}

/// What a page shows when its data could not be had: sign-in for `Unauthorized`, a
/// 403/404 message (with that HTTP status on the server) otherwise.
#[component]
pub fn ErrorView(error: AppError) -> impl IntoView {
    if error == AppError::MfaEnrolmentRequired {
        return view! { <Redirect path="/account/security" /> }.into_any();
    }
    if error == AppError::Unauthorized {
        let location = use_location();
        let next = format!(
            "{}{}",
            location.pathname.get_untracked(),
            location.search.get_untracked()
        );
        let path = format!("/sign-in?next={}", urlencode(&next));
        return view! { <Redirect path=path /> }.into_any();
    }
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(
            http::StatusCode::from_u16(error.status())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        );
    }
    let title = match &error {
        AppError::Forbidden | AppError::NotAllowed { .. } => "Access denied",
        AppError::NotFound => "Not found",
        _ => "Something went wrong",
    };
    view! {
        <section class="card mx-auto max-w-lg space-y-3 text-center" role="alert">
            <h1 class="text-xl font-semibold">{title}</h1>
            <p class="text-slate-600">{error.to_string()}</p>
            <A href="/dashboard" attr:class="btn-secondary inline-block">"Back to your dashboard"</A>
        </section>
    }
    .into_any()
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The browser's time zone (`Europe/Berlin`), once hydrated; `None` on the server.
pub fn browser_time_zone() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let options =
            js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
                .resolved_options();
        js_sys::Reflect::get(&options, &"timeZone".into())
            .ok()
            .and_then(|zone| zone.as_string())
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

/// Shown while a page's data loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="text-slate-500" aria-live="polite">"Loading…"</p> }
}

/// An empty list, with what to do next.
#[component]
pub fn EmptyState(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <div class="rounded-lg border border-dashed border-slate-300 p-8 text-center">
            <p class="font-medium text-slate-700">{title}</p>
            <div class="mt-2 text-sm text-slate-500">{children()}</div>
        </div>
    }
}

/// A box that scrolls a wide table sideways. Keyboard users scroll it with the arrow keys
/// once it has focus, so it takes focus and is a named region (axe:
/// scrollable-region-focusable).
#[component]
pub fn ScrollRegion(
    /// What the region holds, for screen readers ("Audit events").
    #[prop(into)]
    label: String,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="overflow-x-auto" tabindex="0" role="region" aria-label=label>
            {children()}
        </div>
    }
}

/// Previous/next links for a list; `href(page)` builds a page's URL.
#[component]
pub fn Pager(
    page: i64,
    per_page: i64,
    total: i64,
    href: impl Fn(i64) -> String + 'static,
) -> impl IntoView {
    let pages = ((total + per_page - 1) / per_page).max(1);
    let prev = (page > 1).then(|| href(page - 1));
    let next = (page < pages).then(|| href(page + 1));
    view! {
        <nav class="flex items-center justify-between text-sm" aria-label="Pagination">
            <span class="text-slate-500">{format!("Page {page} of {pages} · {total} in all")}</span>
            <span class="flex gap-2">
                {prev.map(|h| view! { <a class="btn-secondary" href=h rel="prev">"Previous"</a> })}
                {next.map(|h| view! { <a class="btn-secondary" href=h rel="next">"Next"</a> })}
            </span>
        </nav>
    }
}

/// A read-only value with a copy-to-clipboard button (for links and keys shown once).
#[component]
pub fn CopyField(#[prop(into)] label: String, #[prop(into)] value: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let id = format!("copy-{}", label.to_lowercase().replace(' ', "-"));
    let text = value.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="label">{label}</label>
            <div class="flex gap-2">
                <input id=id readonly value=value class="input font-mono text-xs" on:focus=|ev| {
                    #[cfg(feature = "hydrate")]
                    {
                        use wasm_bindgen::JsCast;
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                } />
                <button type="button" class="btn-secondary shrink-0" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        </div>
    }
}

/// The code field of a sensitive action's form. With JavaScript the step-up dialog asks for
/// a code when one is due, so the field hides once the page is hydrated; without it, the
/// code travels with the form (`step_up_code`) and a refused form can be sent again with it.
#[component]
pub fn StepUpCode(#[prop(into)] id: String) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    view! {
        <div class="nojs-only space-y-1">
            <label for=id.clone() class="label">"Code from your authenticator app"</label>
            <input id=id name="step_up_code" class="input" inputmode="numeric" autocomplete="one-time-code"
                aria-describedby=hint_id.clone() />
            <p id=hint_id class="text-xs text-slate-500">"Needed when Keyport asks you to confirm it's you (at most every few minutes)."</p>
        </div>
    }
}

/// The badge for a subscription state.
pub fn state_badge(s: crate::domain::SubscriptionState) -> impl IntoView {
    let class = match s {
        crate::domain::SubscriptionState::Active => "badge bg-emerald-100 text-emerald-800",
        crate::domain::SubscriptionState::Pending => "badge bg-amber-100 text-amber-800",
        crate::domain::SubscriptionState::Suspended => "badge bg-orange-100 text-orange-800",
        crate::domain::SubscriptionState::Rejected => "badge bg-red-100 text-red-800",
        crate::domain::SubscriptionState::Cancelled | crate::domain::SubscriptionState::Ended => {
            "badge bg-slate-200 text-slate-700"
        }
    };
    view! { <span class=class data-state=s.as_str()>{s.label()}</span> }
}

/// A form's values by field name, as the browser would send them.
pub struct FormValues<'a>(pub &'a dyn Fn(&str) -> Vec<String>);

impl FormValues<'_> {
    pub fn get(&self, name: &str) -> String {
        (self.0)(name).into_iter().next().unwrap_or_default()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        (self.0)(name)
    }
}

/// Checks a form while it is filled in, with the parser the server runs, so the same
/// messages show before anything is sent. A field shows its live messages once it has been
/// edited since the last submission, and the server's answer otherwise.
#[derive(Clone, Copy)]
pub struct LiveCheck {
    errors: RwSignal<Option<AppError>>,
    touched: RwSignal<Vec<String>>,
}

impl LiveCheck {
    pub fn new() -> Self {
        LiveCheck {
            errors: RwSignal::new(None),
            touched: RwSignal::new(Vec::new()),
        }
    }

    /// The form's `input` handler: remembers the edited field and parses the whole form.
    pub fn on_input(
        self,
        parse: impl Fn(&FormValues) -> Option<AppError> + 'static,
    ) -> impl Fn(leptos::ev::Event) + 'static {
        move |ev| {
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast;
                let edited = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .and_then(|e| e.get_attribute("name"));
                let Some(form) = ev
                    .current_target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
                else {
                    return;
                };
                let Ok(data) = web_sys::FormData::new_with_form(&form) else {
                    return;
                };
                let read = |name: &str| -> Vec<String> {
                    data.get_all(name)
                        .iter()
                        .filter_map(|v| v.as_string())
                        .collect()
                };
                if let Some(name) = edited {
                    self.touched.update(|t| {
                        if !t.contains(&name) {
                            t.push(name);
                        }
                    });
                }
                self.errors.set(parse(&FormValues(&read)));
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (ev, &parse);
        }
    }

    /// The messages `field` shows: live once edited, else what the server answered.
    pub fn messages(self, field: &'static str, server: Signal<Vec<String>>) -> Signal<Vec<String>> {
        Signal::derive(move || {
            if self.touched.with(|t| t.iter().any(|n| n == field)) {
                self.errors.with(|e| {
                    e.as_ref()
                        .map(|e| e.field_messages(field))
                        .unwrap_or_default()
                })
            } else {
                server.get()
            }
        })
    }

    /// Forgets what was edited (on submission: the server's answer shows again).
    pub fn reset(self) {
        self.touched.set(Vec::new());
    }
}

impl Default for LiveCheck {
    fn default() -> Self {
        Self::new()
    }
}
