//! The audit log: one mechanism ([`crate::platform::audit::record`]) for every security-relevant action, the
//! admin page that searches it, and the table the dashboards show it in, in words
//! ([`labels`]).

pub mod labels;
mod pages;

pub use pages::{AuditPageView, AuditTable};

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const PER_PAGE: i64 = 50;

/// Actions the audit log knows, for the filter.
pub const ACTIONS: &[&str] = &[
    "auth.sign_in",
    "auth.first_factor",
    "auth.sign_out",
    "auth.sign_up",
    "auth.setup_admin",
    "account.profile_update",
    "account.password_change",
    "user.create",
    "user.role_change",
    "user.disable",
    "user.enable",
    "settings.update",
    "invitation.create",
    "invitation.revoke",
    "authz.denied",
    "mfa.enable",
    "mfa.disable",
    "mfa.verify",
    "mfa.step_up",
    "mfa.recovery_codes_regenerate",
    "session.end",
    "session.end_others",
    "identity.link",
    "identity.unlink",
    "api.create",
    "api.update",
    "api.delete",
    "api.lifecycle",
    "api.openapi_upload",
    "api.openapi_remove",
    "plan.create",
    "plan.update",
    "plan.delete",
    "application.create",
    "application.update",
    "application.delete",
    "subscription.request",
    "subscription.approve",
    "subscription.reject",
    "subscription.suspend",
    "subscription.resume",
    "subscription.cancel",
    "subscription.end",
    "key.issue",
    "key.revoke",
    "key.rotate",
    "key.revoke_all",
    "key.leak",
    "key.rotation_age",
    "key.suspend",
    "service_token.create",
    "service_token.revoke",
];

/// One audit event as shown in the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: i64,
    pub at: String,
    pub actor: Option<String>,
    /// The action's code, such as `key.issue`.
    pub action: String,
    /// The action in words, such as "Issued an API key".
    pub label: String,
    /// What it was done to, by name (an email, a key's name), never by id.
    pub target: Option<String>,
    /// The target as stored (`api_key:<id>`), for the admin's audit log only.
    pub target_ref: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub details: String,
}

#[cfg(feature = "ssr")]
impl From<crate::platform::audit::EventRow> for AuditEventView {
    fn from(r: crate::platform::audit::EventRow) -> Self {
        let details = serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null);
        AuditEventView {
            id: r.id,
            at: crate::platform::state::fmt_time(r.at),
            actor: r.actor_email,
            label: labels::action_label(&r.action),
            action: r.action,
            target: labels::target_name(
                r.target_type.as_deref(),
                r.target_id.as_deref(),
                r.target_email.as_deref(),
                &details,
            ),
            target_ref: r
                .target_type
                .map(|t| format!("{t}:{}", r.target_id.unwrap_or_default())),
            ip: r.ip,
            user_agent: r.user_agent,
            outcome: r.outcome,
            details: r.details,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub total: i64,
    pub page: i64,
}

/// `YYYY-MM-DD` (UTC) → unix ms at the start of that day.
pub fn parse_day(input: &str) -> Result<i64, String> {
    let bad = || "Use a date like 2026-01-31.".to_string();
    let mut parts = input.trim().splitn(3, '-');
    let mut next = || parts.next().and_then(|p| p.parse::<i64>().ok());
    let (y, m, d) = (
        next().ok_or_else(bad)?,
        next().ok_or_else(bad)?,
        next().ok_or_else(bad)?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400_000)
}

#[server(prefix = "/api", endpoint = "list_audit")]
pub async fn list_audit(
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<i64>,
) -> Result<AuditPage, AppError> {
    use crate::domain::Role;
    use crate::error::FormErrors;
    crate::auth::guard::require_role(&[Role::Admin], "audit.list").await?;
    let state = crate::platform::state::app_state()?;
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut errors = FormErrors::new();
    let from_ms = nonempty(from).and_then(|d| errors.check("from", parse_day(&d)));
    let to_ms = nonempty(to)
        .and_then(|d| errors.check("to", parse_day(&d)))
        .map(|ms| ms + 86_400_000);
    errors.finish()?;
    let filter = crate::platform::audit::Filter {
        actor_email: nonempty(actor).map(|a| a.to_lowercase()),
        action: nonempty(action),
        involving_user: None,
        from_ms,
        to_ms,
    };
    let page = page.unwrap_or(1).clamp(1, 1_000_000);
    let (rows, total) =
        crate::platform::audit::list(&state.db, &filter, PER_PAGE, (page - 1) * PER_PAGE).await?;
    Ok(AuditPage {
        events: rows.into_iter().map(Into::into).collect(),
        total,
        page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_to_utc_midnight() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(parse_day("2026-11-23"), Ok(1_795_392_000_000));
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
