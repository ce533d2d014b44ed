//! API keys: developers issue, rotate (with a grace period) and revoke keys for their
//! applications, each after a recent second-factor check; admins see and revoke every key
//! and set the lifecycle policy. Only a digest is stored; the key is shown once.

// A server function's arguments are its form's fields.
#![allow(clippy::too_many_arguments)]

mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
mod store;
#[cfg(feature = "ssr")]
pub mod verify;

pub use pages::{AllKeysPage, IssuedKeyNotice, KeySettingsSection, KeysSection};

use crate::domain::{
    Cidr, KeyEnvironment, LeakAction, Propagation, QuotaPeriod, RatePeriod, Scope,
};

use crate::error::{AppError, FormErrors};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Expiry presets offered when issuing: (value, label, hours; 0 = no expiry, -1 = the
/// date and time in `expires_at`).
pub const EXPIRY_PRESETS: &[(&str, &str, i64)] = &[
    ("1h", "1 hour", 1),
    ("1d", "1 day", 24),
    ("7d", "7 days", 7 * 24),
    ("30d", "30 days", 30 * 24),
    ("90d", "90 days", 90 * 24),
    ("365d", "1 year", 365 * 24),
    ("never", "No expiry", 0),
    ("at", "At a date and time…", -1),
];

/// What the issue form sends, as typed: the server parses it, and so does the browser while
/// the form is filled in (the same messages, before anything is sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IssueForm {
    pub name: String,
    pub environment: String,
    pub expires_in: String,
    /// With `expires_in = "at"`: `YYYY-MM-DDTHH:MM[:SS]`, UTC.
    pub expires_at: String,
    pub scopes: String,
    pub max_uses: String,
    pub ip_allowlist: String,
    pub apis: Vec<String>,
    pub rate_limit: String,
    pub rate_period: String,
    pub refill: String,
}

/// When a key stops working.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expiry {
    Never,
    /// This long after it is issued, in milliseconds.
    After(i64),
    /// At this instant (unix milliseconds).
    At(i64),
}

impl Expiry {
    pub fn at(self, now: i64) -> Option<i64> {
        match self {
            Expiry::Never => None,
            Expiry::After(ms) => Some(now + ms),
            Expiry::At(t) => Some(t),
        }
    }
}

/// `2026-12-01T09:30` or `2026-12-01T09:30:15` (a `datetime-local` value), read as UTC.
fn parse_utc(input: &str) -> Result<i64, String> {
    use time::macros::format_description;
    let input = input.trim();
    let with_seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let without = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(input, with_seconds)
        .or_else(|_| time::PrimitiveDateTime::parse(input, without))
        .map(|t| t.assume_utc().unix_timestamp() * 1000)
        .map_err(|_| "Enter a date and time, such as 2026-12-31T18:00 (UTC).".to_string())
}

/// A key's attributes, checked: scopes and networks in their canonical form.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyIssue {
    pub name: String,
    pub environment: KeyEnvironment,
    pub expiry: Expiry,
    pub scopes: Vec<String>,
    pub max_uses: Option<i64>,
    pub ip_allowlist: Vec<String>,
    pub api_ids: Vec<String>,
    pub rate_limit: Option<(i64, RatePeriod)>,
    pub refill: Option<QuotaPeriod>,
}

impl IssueForm {
    /// The form's values checked one by one: every field's message at once.
    pub fn parse(&self) -> Result<KeyIssue, AppError> {
        let mut e = FormErrors::new();
        let name = e.check(
            "name",
            crate::domain::line(&self.name, "a name for the key", 60),
        );
        let environment = e.check("environment", KeyEnvironment::parse(&self.environment));
        let lifetime = if self.expires_in == "at" {
            e.check("expires_at", parse_utc(&self.expires_at).map(Expiry::At))
        } else {
            e.check(
                "expires_in",
                EXPIRY_PRESETS
                    .iter()
                    .find(|(value, ..)| *value == self.expires_in)
                    .map(|(_, _, hours)| match *hours {
                        0 => Expiry::Never,
                        h => Expiry::After(h * 3_600_000),
                    })
                    .ok_or_else(|| "Choose how long the key lives.".to_string()),
            )
        };
        let scopes = e.check(
            "scopes",
            Scope::parse_list(&self.scopes).map(|l| l.into_iter().map(String::from).collect()),
        );
        let max_uses = e.check(
            "max_uses",
            crate::domain::optional_count(&self.max_uses, 1, 1_000_000_000),
        );
        let ip_allowlist = e.check(
            "ip_allowlist",
            Cidr::parse_list(&self.ip_allowlist).map(|l| l.iter().map(Cidr::to_string).collect()),
        );
        let rate = e.check(
            "rate_limit",
            crate::domain::optional_count(&self.rate_limit, 1, 1_000_000),
        );
        let period = e.check("rate_limit", self.rate_period.parse::<RatePeriod>());
        let refill = e.check(
            "refill",
            match self.refill.as_str() {
                "" | "none" => Ok(None),
                other => other.parse::<QuotaPeriod>().map(Some),
            },
        );
        if matches!((&refill, &max_uses), (Some(Some(_)), Some(None))) {
            e.add("refill", "Refills need a maximum number of uses.");
        }
        let mut api_ids: Vec<String> = Vec::new();
        for id in &self.apis {
            if !api_ids.contains(id) {
                api_ids.push(id.clone());
            }
        }
        match (
            name,
            environment,
            lifetime,
            scopes,
            max_uses,
            ip_allowlist,
            rate,
            period,
            refill,
        ) {
            (
                Some(name),
                Some(environment),
                Some(expiry),
                Some(scopes),
                Some(max_uses),
                Some(ip_allowlist),
                Some(rate),
                Some(period),
                Some(refill),
            ) if e.is_empty() => Ok(KeyIssue {
                name,
                environment,
                expiry,
                scopes,
                max_uses,
                ip_allowlist,
                api_ids,
                rate_limit: rate.map(|n| (n, period)),
                refill,
            }),
            _ => Err(e.into_error()),
        }
    }
}

/// Grace periods offered when rotating: (value, label).
pub const GRACE_PRESETS: &[(&str, &str)] = &[
    ("0", "None: the old key stops now"),
    ("5m", "5 minutes"),
    ("15m", "15 minutes"),
    ("30m", "30 minutes"),
    ("1h", "1 hour"),
    ("6h", "6 hours"),
    ("24h", "1 day"),
    ("3d", "3 days"),
    ("7d", "7 days"),
];

/// A key as lists show it: never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub environment: String,
    pub prefix: String,
    pub last4: String,
    pub scopes: Vec<String>,
    pub created: String,
    pub created_by: Option<String>,
    pub expires: Option<String>,
    pub max_uses: Option<i64>,
    pub remaining_uses: Option<i64>,
    pub ip_allowlist: Vec<String>,
    /// The APIs it may call (empty: all of its application's).
    pub apis: Vec<String>,
    /// "5 requests per second" when the key has its own limit.
    pub rate: Option<String>,
    /// "per day" or "per month" when its uses are refilled.
    pub refill: Option<String>,
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    /// `active`, `grace` (rotated, still valid), `rotated`, `expired`, `exhausted` or `revoked`.
    pub state: String,
    pub revoke_reason: Option<String>,
    /// The key this one replaced (prefix…last4).
    pub replaces: Option<String>,
    pub rotation: Option<RotationView>,
    /// Why a leak report flagged it.
    pub flagged: Option<String>,
    pub application: String,
    pub owner: Option<String>,
    /// Where its latest change (issue, rotation, revocation) is in effect, shown for a few
    /// minutes after it.
    pub propagation: Option<Propagation>,
}

/// A rotated key: its successor, and its traffic since, to see when clients have moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationView {
    pub successor: String,
    pub rotated: String,
    /// When it stops working.
    pub until: Option<String>,
    pub uses_since: i64,
    pub last_used: Option<String>,
}

/// An API an application's keys may be limited to, with its plan's rate limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyApi {
    pub id: String,
    pub name: String,
    /// The plan's limit, "10 requests per second".
    pub rate: Option<String>,
    /// The same in requests per minute, to check a key's own limit against (server only).
    #[serde(skip)]
    pub per_minute: Option<i64>,
}

/// What an application's keys may carry (from its active subscriptions' plans).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPolicy {
    pub scopes: Vec<String>,
    /// The shortest maximum key lifetime among the plans and the portal's policy, in days.
    pub max_lifetime_days: Option<i64>,
    pub active_subscriptions: usize,
    /// The APIs of the active subscriptions.
    pub apis: Vec<PolicyApi>,
}

/// The portal-wide key lifecycle policy (admin settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySettings {
    /// No key may live longer (plans may set less).
    pub max_lifetime_days: Option<i64>,
    /// Keys older than this stop working: rotate before.
    pub rotation_days: Option<i64>,
    /// Owners are reminded this many days before a key expires or reaches the rotation age.
    pub reminder_days: i64,
    pub leak_action: LeakAction,
    /// A rotated-out key still used late in its grace period (the leaked-key alert) is
    /// revoked at once.
    #[serde(default)]
    pub suspend_leaked: bool,
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            max_lifetime_days: None,
            rotation_days: None,
            reminder_days: 7,
            leak_action: LeakAction::Revoke,
            suspend_leaked: false,
        }
    }
}

impl KeySettings {
    /// The settings form: days as whole numbers (empty: no limit), the leak action by name.
    pub fn parse(
        max_lifetime_days: &str,
        rotation_days: &str,
        reminder_days: &str,
        leak_action: &str,
        suspend_leaked: bool,
    ) -> Result<Self, AppError> {
        use crate::domain::optional_count;
        let mut e = FormErrors::new();
        let max = e.check(
            "max_lifetime_days",
            optional_count(max_lifetime_days, 1, 3650),
        );
        let rotation = e.check("rotation_days", optional_count(rotation_days, 1, 3650));
        let reminder = e.check(
            "reminder_days",
            optional_count(reminder_days, 1, 90).and_then(|d| {
                d.ok_or_else(|| "Enter how many days ahead to remind (1 to 90).".to_string())
            }),
        );
        let leak = e.check("leak_action", leak_action.parse::<LeakAction>());
        match (max, rotation, reminder, leak) {
            (
                Some(max_lifetime_days),
                Some(rotation_days),
                Some(reminder_days),
                Some(leak_action),
            ) if e.is_empty() => Ok(KeySettings {
                max_lifetime_days,
                rotation_days,
                reminder_days,
                leak_action,
                suspend_leaked,
            }),
            _ => Err(e.into_error()),
        }
    }
}

/// One page of the admin's list of every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeysPage {
    pub items: Vec<KeyView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// A key issued (or rotated) by a form posted without JavaScript: the server renders the
/// applications page with it, in the answer to the post (server only).
#[derive(Debug, Clone)]
pub struct JustIssued(pub IssuedKey);

/// A key just issued: `key` is shown this once and stored nowhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedKey {
    pub key: String,
    pub application: String,
    pub view: KeyView,
}

/// Issues a key for one of the caller's applications (step-up).
#[server(prefix = "/api", endpoint = "issue_key")]
pub async fn issue_key(
    application_id: String,
    name: String,
    environment: String,
    expires_in: String,
    scopes: String,
    expires_at: Option<String>,
    max_uses: Option<String>,
    ip_allowlist: Option<String>,
    apis: Option<Vec<String>>,
    rate_limit: Option<String>,
    rate_period: Option<String>,
    refill: Option<String>,
    step_up_code: Option<String>,
) -> Result<IssuedKey, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let input = IssueForm {
        name,
        environment,
        expires_in,
        expires_at: expires_at.unwrap_or_default(),
        scopes,
        max_uses: max_uses.unwrap_or_default(),
        ip_allowlist: ip_allowlist.unwrap_or_default(),
        apis: apis.unwrap_or_default(),
        rate_limit: rate_limit.unwrap_or_default(),
        rate_period: rate_period.unwrap_or_else(|| "second".into()),
        refill: refill.unwrap_or_default(),
    };
    let parsed = input.parse()?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::issue(&ctx, &user, &application_id, parsed).await
}

/// Replaces a key by a new one with the same attributes; the old one keeps working for the
/// grace period (`0`, `30m`, `12h`, up to `7d`), never past its own expiry (step-up).
#[server(prefix = "/api", endpoint = "rotate_key")]
pub async fn rotate_key(
    id: String,
    grace: String,
    step_up_code: Option<String>,
) -> Result<IssuedKey, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let grace_ms = crate::domain::parse_grace(&grace).map_err(|e| AppError::field("grace", e))?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::rotate(&ctx, &user, &id, grace_ms).await
}

/// Revokes every key of an application still in force: its owner, or an admin (step-up).
/// Answers how many keys were revoked.
#[server(prefix = "/api", endpoint = "revoke_application_keys")]
pub async fn revoke_application_keys(
    application_id: String,
    reason: String,
    step_up_code: Option<String>,
) -> Result<usize, AppError> {
    let user = crate::auth::guard::require_user().await?;
    let reason =
        crate::domain::line(&reason, "a reason", 200).map_err(|e| AppError::field("reason", e))?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::revoke_all(&ctx, &user, &application_id, &reason).await
}

/// Every key in the portal (admins): search, state filter (`live`, `revoked`, `flagged`).
#[server(prefix = "/api", endpoint = "all_keys")]
pub async fn all_keys(
    search: Option<String>,
    state: Option<String>,
    page: Option<i64>,
) -> Result<KeysPage, AppError> {
    use crate::domain::Role;
    crate::auth::guard::require_role(&[Role::Admin], "keys.list").await?;
    let state = match state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ ("live" | "revoked" | "flagged")) => Some(s),
        Some(_) => {
            return Err(AppError::field(
                "state",
                "Choose live, revoked or flagged (or nothing for every key).",
            ))
        }
    };
    let app = crate::platform::state::app_state()?;
    service::list_all(&app, search.as_deref(), state, page.unwrap_or(1)).await
}

#[server(prefix = "/api", endpoint = "get_key_settings")]
pub async fn get_key_settings() -> Result<KeySettings, AppError> {
    use crate::domain::Role;
    crate::auth::guard::require_role(&[Role::Admin], "settings.read").await?;
    service::portal_policy(&crate::platform::state::app_state()?.db).await
}

#[server(prefix = "/api", endpoint = "update_key_settings")]
pub async fn update_key_settings(
    max_lifetime_days: String,
    rotation_days: String,
    reminder_days: String,
    leak_action: String,
    /// A checkbox: present (any value) when ticked.
    suspend_leaked: Option<String>,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    use crate::domain::Role;
    let admin = crate::auth::guard::require_role(&[Role::Admin], "settings.update").await?;
    let new = KeySettings::parse(
        &max_lifetime_days,
        &rotation_days,
        &reminder_days,
        &leak_action,
        suspend_leaked.is_some(),
    )?;
    // The policy decides how long keys live and what a leak does to them.
    crate::auth::guard::require_step_up(&admin, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::save_policy(&ctx, &admin, &new).await
}

/// Revokes a key at once, with a reason: the application's owner, or an admin (step-up).
#[server(prefix = "/api", endpoint = "revoke_key")]
pub async fn revoke_key(
    id: String,
    reason: String,
    step_up_code: Option<String>,
) -> Result<(), AppError> {
    let user = crate::auth::guard::require_user().await?;
    let reason =
        crate::domain::line(&reason, "a reason", 200).map_err(|e| AppError::field("reason", e))?;
    crate::auth::guard::require_step_up(&user, step_up_code.as_deref()).await?;
    let ctx = crate::platform::Ctx::current().await?;
    service::revoke(&ctx, &user, &id, &reason).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> IssueForm {
        IssueForm {
            name: "CI".into(),
            environment: "live".into(),
            expires_in: "30d".into(),
            rate_period: "second".into(),
            ..IssueForm::default()
        }
    }

    #[test]
    fn an_issue_form_parses_into_canonical_scopes_and_networks() {
        let parsed = IssueForm {
            scopes: "pets:read, pets:write pets:read".into(),
            ip_allowlist: "198.51.100.7 2001:db8::/32".into(),
            max_uses: "1_000".into(),
            refill: "day".into(),
            ..form()
        }
        .parse()
        .unwrap();
        assert_eq!(parsed.scopes, ["pets:read", "pets:write"]);
        assert_eq!(parsed.ip_allowlist, ["198.51.100.7/32", "2001:db8::/32"]);
        assert_eq!(parsed.max_uses, Some(1_000));
        assert_eq!(parsed.expiry, Expiry::After(30 * 24 * 3_600_000));
    }

    #[test]
    fn every_bad_field_of_an_issue_form_has_its_message_at_once() {
        let error = IssueForm {
            name: " ".into(),
            expires_in: "at".into(),
            expires_at: "tomorrow".into(),
            scopes: "Pets".into(),
            ip_allowlist: "10.0.0.0/33".into(),
            refill: "day".into(),
            ..form()
        }
        .parse()
        .unwrap_err();
        for field in ["name", "expires_at", "scopes", "ip_allowlist", "refill"] {
            assert!(!error.field_messages(field).is_empty(), "{field}");
        }
        assert_eq!(
            error.field_messages("refill"),
            ["Refills need a maximum number of uses."]
        );
        assert_eq!(
            IssueForm {
                expires_in: "at".into(),
                expires_at: "2026-12-31T18:00".into(),
                ..form()
            }
            .parse()
            .unwrap()
            .expiry,
            Expiry::At(1_798_740_000_000)
        );
    }
}
