//! The pages loaded on demand. Each is a split point: with `cargo leptos build --split`, its
//! code (and what only it uses) goes into a WASM chunk of its own that the browser fetches
//! when the page is first shown; a page loaded from its address hydrates once they are in.
//! The landing and sign-in pages, where visitors arrive, stay in the main bundle.

use crate::*;
use leptos_router::{lazy_route, LazyRoute};

/// `/dashboard`: the signed-in home.
pub struct Dashboard;

#[lazy_route]
impl LazyRoute for Dashboard {
    fn data() -> Self {
        Dashboard
    }

    fn view(_this: Self) -> AnyView {
        use dashboard::DashboardPage;
        view! { <DashboardPage /> }.into_any()
    }
}

/// `/account`: profile and password.
pub struct Account;

#[lazy_route]
impl LazyRoute for Account {
    fn data() -> Self {
        Account
    }

    fn view(_this: Self) -> AnyView {
        use accounts::AccountPage;
        view! { <AccountPage /> }.into_any()
    }
}

/// `/account/security`: TOTP enrolment and recovery codes.
pub struct Security;

#[lazy_route]
impl LazyRoute for Security {
    fn data() -> Self {
        Security
    }

    fn view(_this: Self) -> AnyView {
        use auth::mfa::SecurityPage;
        view! { <SecurityPage /> }.into_any()
    }
}

/// `/account/sessions`: the caller's sessions.
pub struct Sessions;

#[lazy_route]
impl LazyRoute for Sessions {
    fn data() -> Self {
        Sessions
    }

    fn view(_this: Self) -> AnyView {
        use auth::mfa::SessionsPage;
        view! { <SessionsPage /> }.into_any()
    }
}

/// `/admin/users`: users and roles.
pub struct Users;

#[lazy_route]
impl LazyRoute for Users {
    fn data() -> Self {
        Users
    }

    fn view(_this: Self) -> AnyView {
        use admin::UsersPageView;
        view! { <UsersPageView /> }.into_any()
    }
}

/// `/admin/settings`: portal settings.
pub struct Settings;

#[lazy_route]
impl LazyRoute for Settings {
    fn data() -> Self {
        Settings
    }

    fn view(_this: Self) -> AnyView {
        use admin::SettingsPageView;
        view! { <SettingsPageView /> }.into_any()
    }
}

/// `/admin/audit`: the audit log.
pub struct Audit;

#[lazy_route]
impl LazyRoute for Audit {
    fn data() -> Self {
        Audit
    }

    fn view(_this: Self) -> AnyView {
        use audit::AuditPageView;
        view! { <AuditPageView /> }.into_any()
    }
}

/// `/admin/keys`: every key.
pub struct AllKeys;

#[lazy_route]
impl LazyRoute for AllKeys {
    fn data() -> Self {
        AllKeys
    }

    fn view(_this: Self) -> AnyView {
        use keys::AllKeysPage;
        view! { <AllKeysPage /> }.into_any()
    }
}

/// `/catalog`: the catalog.
pub struct Catalog;

#[lazy_route]
impl LazyRoute for Catalog {
    fn data() -> Self {
        Catalog
    }

    fn view(_this: Self) -> AnyView {
        use catalog::CatalogPage;
        view! { <CatalogPage /> }.into_any()
    }
}

/// `/catalog/:slug`: an API's page.
pub struct Api;

#[lazy_route]
impl LazyRoute for Api {
    fn data() -> Self {
        Api
    }

    fn view(_this: Self) -> AnyView {
        use catalog::ApiPage;
        view! { <ApiPage /> }.into_any()
    }
}

/// `/applications`: "My applications" and their keys.
pub struct Applications;

#[lazy_route]
impl LazyRoute for Applications {
    fn data() -> Self {
        Applications
    }

    fn view(_this: Self) -> AnyView {
        use dashboard::ApplicationsPage;
        view! { <ApplicationsPage /> }.into_any()
    }
}

/// `/publish`: the publisher's APIs.
pub struct Publish;

#[lazy_route]
impl LazyRoute for Publish {
    fn data() -> Self {
        Publish
    }

    fn view(_this: Self) -> AnyView {
        use catalog::PublishPage;
        view! { <PublishPage /> }.into_any()
    }
}

/// `/publish/new`: a new API.
pub struct NewApi;

#[lazy_route]
impl LazyRoute for NewApi {
    fn data() -> Self {
        NewApi
    }

    fn view(_this: Self) -> AnyView {
        use catalog::NewApiPage;
        view! { <NewApiPage /> }.into_any()
    }
}

/// `/publish/:slug`: an API's editor.
pub struct ApiEditor;

#[lazy_route]
impl LazyRoute for ApiEditor {
    fn data() -> Self {
        ApiEditor
    }

    fn view(_this: Self) -> AnyView {
        use catalog::ApiEditorPage;
        view! { <ApiEditorPage /> }.into_any()
    }
}

/// `/approvals`: the approval queue.
pub struct Approvals;

#[lazy_route]
impl LazyRoute for Approvals {
    fn data() -> Self {
        Approvals
    }

    fn view(_this: Self) -> AnyView {
        use subscriptions::ApprovalsPage;
        view! { <ApprovalsPage /> }.into_any()
    }
}

/// `/notifications`: notifications.
pub struct Notifications;

#[lazy_route]
impl LazyRoute for Notifications {
    fn data() -> Self {
        Notifications
    }

    fn view(_this: Self) -> AnyView {
        use notifications::NotificationsPageView;
        view! { <NotificationsPageView /> }.into_any()
    }
}

/// `/usage`: the developer's usage analytics.
pub struct Usage;

#[lazy_route]
impl LazyRoute for Usage {
    fn data() -> Self {
        Usage
    }

    fn view(_this: Self) -> AnyView {
        use usage::UsagePage;
        view! { <UsagePage /> }.into_any()
    }
}

/// `/publish/usage`: the traffic of a publisher's APIs.
pub struct ApiUsage;

#[lazy_route]
impl LazyRoute for ApiUsage {
    fn data() -> Self {
        ApiUsage
    }

    fn view(_this: Self) -> AnyView {
        use usage::OverviewPage;
        view! { <OverviewPage platform=false /> }.into_any()
    }
}

/// `/admin/usage`: the platform's traffic.
pub struct PlatformUsage;

#[lazy_route]
impl LazyRoute for PlatformUsage {
    fn data() -> Self {
        PlatformUsage
    }

    fn view(_this: Self) -> AnyView {
        use usage::OverviewPage;
        view! { <OverviewPage platform=true /> }.into_any()
    }
}
