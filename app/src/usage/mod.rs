//! Usage analytics. Developers: their requests over time by outcome, for all their
//! applications, one application or one key (both keys side by side while a rotation's
//! grace runs), broken down by application, key and API, with each quota's use and where
//! it is heading. Publishers: their APIs' traffic, top applications, usage per subscription
//! and new subscriptions. Admins: the same for the platform, with the top keys and the
//! usage queue's health. Read from the usage levels (`platform::rollup`), one statement per
//! chart or table, in the viewer's time zone. Alerts from usage (`alerts`) tell owners what
//! looks wrong.

#[cfg(feature = "ssr")]
pub mod alerts;
#[cfg(feature = "ssr")]
pub mod buckets;
#[cfg(feature = "ssr")]
pub mod csv;
mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

pub use pages::{OverviewPage, UsagePage};

use crate::components::chart::ChartData;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The period a chart covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UsageRange {
    Hour,
    #[default]
    Day,
    Week,
    Month,
}

impl UsageRange {
    pub const ALL: [UsageRange; 4] = [
        UsageRange::Hour,
        UsageRange::Day,
        UsageRange::Week,
        UsageRange::Month,
    ];

    /// `1h`, `24h`, `7d` or `30d`; anything else is the default (24 hours).
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UsageRange::Hour => "1h",
            UsageRange::Day => "24h",
            UsageRange::Week => "7d",
            UsageRange::Month => "30d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            UsageRange::Hour => "Last hour",
            UsageRange::Day => "Last 24 hours",
            UsageRange::Week => "Last 7 days",
            UsageRange::Month => "Last 30 days",
        }
    }
}

/// A decision code as people read it, and its colour in charts (see `chart::PALETTE`).
pub fn outcome(code: &str) -> (&'static str, usize) {
    match code {
        "VALID" => ("Allowed", 0),
        "RATE_LIMITED" => ("Rate limited", 1),
        "QUOTA_EXCEEDED" => ("Quota exceeded", 2),
        "EXHAUSTED" => ("Uses exhausted", 2),
        "REVOKED" => ("Revoked key", 3),
        "EXPIRED" => ("Expired key", 3),
        "OWNER_DISABLED" => ("Owner disabled", 3),
        "SCOPE_DENIED" => ("Scope denied", 4),
        "API_NOT_ALLOWED" => ("API not allowed", 4),
        "SUBSCRIPTION_INACTIVE" => ("Subscription inactive", 4),
        "NO_SANDBOX" => ("Test key, no sandbox", 4),
        "IP_NOT_ALLOWED" => ("IP not allowed", 5),
        "NOT_FOUND" | "MALFORMED" => ("Unknown key", 6),
        _ => ("Other", 6),
    }
}

/// Whose usage a report shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UsageScope {
    /// Every application of the caller.
    All,
    Application {
        id: String,
        name: String,
    },
    Key {
        id: String,
        name: String,
        masked: String,
        application_id: String,
        application_name: String,
    },
}

/// A line of a breakdown table: allowed and refused requests of one application, key or
/// API, with a link to its own chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub label: String,
    pub detail: String,
    pub link: Option<String>,
    pub allowed: i64,
    pub refused: i64,
    /// The most frequent refusal, as read ("Rate limited").
    pub top_refusal: Option<String>,
}

/// A subscription's quota in its current period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaUse {
    pub application: String,
    pub api: String,
    pub plan: String,
    pub used: i64,
    pub limit: i64,
    /// Where the period ends at the current pace.
    pub projected: i64,
    /// "today (UTC)" or "this month (UTC)".
    pub period: String,
    /// When it resets, in the viewer's time zone.
    pub resets: String,
}

/// Facts about one key beside its chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyFacts {
    pub remaining_uses: Option<i64>,
    pub max_uses: Option<i64>,
    pub last_used: Option<String>,
    pub last_ip: Option<String>,
    pub state: String,
    /// The busiest client addresses since the first UTC day of the range.
    pub clients: Vec<ClientUse>,
    /// That day, in the viewer's time zone.
    pub clients_since: String,
}

/// Requests from one client address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientUse {
    pub ip: String,
    pub network: String,
    pub requests: i64,
    pub last_seen: String,
}

/// One call, as the usage page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentCall {
    /// When, in the viewer's time zone, to the second.
    pub at: String,
    /// The key's name (empty on a key's own page).
    pub key: String,
    pub api: String,
    /// The decision, as read ("Allowed", "Rate limited").
    pub outcome: String,
    pub code: String,
    /// The upstream's status (through the gateway).
    pub status: Option<u16>,
    /// "12 ms" (through the gateway).
    pub latency: Option<String>,
    /// The answer's size, "1.2 KB" (through the gateway).
    pub size: Option<String>,
    pub client: Option<String>,
}

/// An application's or a key's latest calls, from the raw events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentCalls {
    pub calls: Vec<RecentCall>,
    /// How many days calls are kept one by one (0: not at all).
    pub kept_days: u32,
    /// Among how many of the installation's latest calls they were looked for.
    pub searched: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageData {
    pub range: UsageRange,
    pub time_zone: String,
    pub scope: UsageScope,
    pub chart: ChartData,
    /// Per application (all) or per key (one application).
    pub breakdown: Vec<UsageRow>,
    /// Per API.
    pub apis: Vec<UsageRow>,
    pub quotas: Vec<QuotaUse>,
    /// A key and the key it replaced or that replaced it: their allowed requests side by side.
    pub rotation: Option<ChartData>,
    pub key: Option<KeyFacts>,
    /// The latest calls of one application or key (none for all applications together).
    pub recent: Option<RecentCalls>,
    /// The caller's applications, for the scope picker.
    pub applications: Vec<(String, String)>,
}

/// The caller's usage for `range` (`1h`, `24h`, `7d`, `30d`): of all their applications, of
/// the application `app` or of the key `key` (theirs; another's is "not found").
/// `tz`, the browser's time zone, counts when the caller has none in their profile.
#[server(prefix = "/api", endpoint = "usage_report")]
pub async fn usage_report(
    range: Option<String>,
    app: Option<String>,
    key: Option<String>,
    tz: Option<String>,
) -> Result<UsageData, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let state = crate::platform::state::app_state()?;
    let range = UsageRange::parse(range.as_deref().unwrap_or_default());
    let scope = service::Wanted::from_query(app.as_deref(), key.as_deref());
    let at = service::When::new(state.clock.now(), &user, tz.as_deref());
    service::report(&state, &user, range, scope, at).await
}

/// The usage writer and the roll-up, for admins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueHealth {
    pub written: u64,
    pub dropped: u64,
    pub raw_skipped: u64,
    pub capacity: usize,
    /// How far the roll-up into hours and days is behind ("2 min": as designed).
    pub rollup_behind: String,
}

/// A publisher's APIs or the whole platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverviewData {
    pub range: UsageRange,
    pub time_zone: String,
    pub platform: bool,
    /// The API shown alone, when one was picked: (id, name).
    pub api: Option<(String, String)>,
    pub chart: ChartData,
    pub apis: Vec<UsageRow>,
    pub applications: Vec<UsageRow>,
    /// The busiest keys (platform only).
    pub keys: Vec<UsageRow>,
    /// Per subscription (application and API), for billing.
    pub subscriptions: Vec<UsageRow>,
    /// Per plan (label: the plan, detail: its API).
    pub plans: Vec<UsageRow>,
    pub new_subscriptions: ChartData,
    pub health: Option<QueueHealth>,
    /// The APIs one may pick: (id, name).
    pub choices: Vec<(String, String)>,
}

/// The traffic of the caller's APIs (a publisher's own; every API for admins), or of the
/// API `api` among them.
#[server(prefix = "/api", endpoint = "api_usage")]
pub async fn api_usage(
    range: Option<String>,
    api: Option<String>,
    tz: Option<String>,
) -> Result<OverviewData, AppError> {
    use crate::domain::Role;
    let user =
        crate::auth::guard::require_role(&[Role::Publisher, Role::Admin], "api_usage").await?;
    let state = crate::platform::state::app_state()?;
    let range = UsageRange::parse(range.as_deref().unwrap_or_default());
    let api = api.filter(|a| !a.is_empty());
    let at = service::When::new(state.clock.now(), &user, tz.as_deref());
    service::overview(&state, &user, range, api.as_deref(), false, at).await
}

/// The platform's traffic, for admins.
#[server(prefix = "/api", endpoint = "platform_usage")]
pub async fn platform_usage(
    range: Option<String>,
    tz: Option<String>,
) -> Result<OverviewData, AppError> {
    use crate::domain::Role;
    let user = crate::auth::guard::require_role(&[Role::Admin], "platform_usage").await?;
    let state = crate::platform::state::app_state()?;
    let range = UsageRange::parse(range.as_deref().unwrap_or_default());
    let at = service::When::new(state.clock.now(), &user, tz.as_deref());
    service::overview(&state, &user, range, None, true, at).await
}
