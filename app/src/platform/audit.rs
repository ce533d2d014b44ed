//! Writing and reading audit events. Every security-relevant action goes through
//! [`record`]; nothing else writes the table.

use crate::domain::Outcome;
use crate::error::AppError;
use crate::platform::sql::{Arg, Where};
use crate::platform::state::{ClientInfo, Db};
use sqlx::FromRow;

/// Who did it, to what, and how it ended.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: &'static str,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl Event {
    pub fn new(action: &'static str) -> Self {
        Event {
            action,
            actor_id: None,
            actor_email: None,
            target_type: None,
            target_id: None,
            outcome: Outcome::Success,
            details: serde_json::json!({}),
        }
    }

    pub fn actor(mut self, id: &str, email: &str) -> Self {
        self.actor_id = Some(id.to_string());
        self.actor_email = Some(email.to_string());
        self
    }

    pub fn target(mut self, kind: &'static str, id: &str) -> Self {
        self.target_type = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

pub async fn record(db: &Db, now: i64, client: &ClientInfo, event: Event) -> Result<(), AppError> {
    let user_agent = client
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(512).collect::<String>());
    sqlx::query(
        "INSERT INTO audit_events (at, actor_id, actor_email, action, target_type, target_id, ip, user_agent, outcome, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now)
    .bind(event.actor_id)
    .bind(event.actor_email)
    .bind(event.action)
    .bind(event.target_type)
    .bind(event.target_id)
    .bind(client.ip_string())
    .bind(user_agent)
    .bind(event.outcome.as_str())
    .bind(event.details.to_string())
    .execute(db)
    .await?;
    Ok(())
}

/// One stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    /// The target's email when the target is a user who still exists.
    pub target_email: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub details: String,
}

/// What to list. All filters are optional and combine with AND.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor_email: Option<String>,
    pub action: Option<String>,
    /// Events by this user or about this user.
    pub involving_user: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

pub async fn list(
    db: &Db,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<EventRow>, i64), AppError> {
    let mut w = Where::default();
    if let Some(email) = &filter.actor_email {
        w.and("actor_email = ?", [Arg::Text(email.clone())]);
    }
    if let Some(action) = &filter.action {
        w.and("action = ?", [Arg::Text(action.clone())]);
    }
    if let Some(user) = &filter.involving_user {
        w.and(
            "(actor_id = ? OR (target_type = 'user' AND target_id = ?))",
            [Arg::Text(user.clone()), Arg::Text(user.clone())],
        );
    }
    if let Some(from) = filter.from_ms {
        w.and("at >= ?", [Arg::Int(from)]);
    }
    if let Some(to) = filter.to_ms {
        w.and("at < ?", [Arg::Int(to)]);
    }
    w.page(
        db,
        "SELECT a.id, a.at, a.actor_id, a.actor_email, a.action, a.target_type, a.target_id, a.ip, \
         a.user_agent, a.outcome, a.details, t.email AS target_email \
         FROM audit_events a LEFT JOIN users t ON a.target_type = 'user' AND t.id = a.target_id",
        "ORDER BY a.id DESC",
        "FROM audit_events",
        (limit, offset),
        |r| EventRow::from_row(r),
    )
    .await
}
