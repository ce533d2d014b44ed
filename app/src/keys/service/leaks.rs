//! Leak reports in GitHub's secret-scanning partner format: each reported token that is one
//! of our keys is revoked or flagged (the admin's choice), its owner told and the event
//! audited. The answer never echoes a token: it names each by its SHA-256, as GitHub does.

use crate::domain::{ApiKey, LeakAction};
use crate::error::AppError;
use crate::keys::store;
use crate::platform::audit::{record, Event};
use crate::platform::state::{token_digest, AppState, ClientInfo};
use serde::{Deserialize, Serialize};

/// One finding, as GitHub posts it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LeakReport {
    /// The text found (a Keyport key, or not).
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*(?![\s\S])")]
    pub token: String,
    /// The secret type GitHub matched (`keyport_api_key`).
    #[serde(rename = "type", default)]
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*(?![\s\S])")]
    pub kind: String,
    /// Where it was found.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*(?![\s\S])")]
    pub url: String,
    /// `content`, `commit`, …
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*(?![\s\S])")]
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakOutcome {
    Revoked,
    Flagged,
    AlreadyRevoked,
    NotFound,
    Malformed,
}

/// GitHub's answer shape (`token_hash`, `token_type`, `label`) and what Keyport did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeakAnswer {
    pub token_hash: String,
    pub token_type: String,
    /// `true_positive` when the token is (or was) one of our keys.
    pub label: String,
    pub outcome: LeakOutcome,
}

pub const MAX_REPORTS: usize = 1000;

pub async fn handle(
    state: &AppState,
    reports: &[LeakReport],
    client: &ClientInfo,
    now: i64,
) -> Result<Vec<LeakAnswer>, AppError> {
    if reports.len() > MAX_REPORTS {
        return Err(AppError::BadRequest {
            message: format!("Send at most {MAX_REPORTS} findings per request."),
        });
    }
    let action = crate::keys::store::policy(&state.db).await?.leak_action;
    let mut answers = Vec::with_capacity(reports.len());
    for report in reports {
        let digest = token_digest(&report.token);
        let outcome = decide(state, report, &digest, action, client, now).await?;
        answers.push(LeakAnswer {
            token_hash: digest,
            token_type: report.kind.clone(),
            label: match outcome {
                LeakOutcome::NotFound | LeakOutcome::Malformed => "false_positive",
                _ => "true_positive",
            }
            .into(),
            outcome,
        });
    }
    Ok(answers)
}

async fn decide(
    state: &AppState,
    report: &LeakReport,
    digest: &str,
    action: LeakAction,
    client: &ClientInfo,
    now: i64,
) -> Result<LeakOutcome, AppError> {
    if ApiKey::parse(&report.token).is_err() {
        return Ok(LeakOutcome::Malformed);
    }
    let Some(key) = store::find_by_digest(&state.db, digest).await? else {
        return Ok(LeakOutcome::NotFound);
    };
    let found_at = if report.url.is_empty() {
        "a public place".to_string()
    } else {
        report.url.chars().take(300).collect()
    };
    let reason = format!("Leaked: found at {found_at}");
    let outcome = if key.revoked_at.is_some() {
        LeakOutcome::AlreadyRevoked
    } else if action == LeakAction::Revoke
        && store::revoke(&state.db, &key.id, None, &reason, now).await?
    {
        LeakOutcome::Revoked
    } else {
        store::flag(&state.db, &key.id, &reason, now).await?;
        LeakOutcome::Flagged
    };
    record(
        &state.db,
        now,
        client,
        Event::new("key.leak")
            .target("api_key", &key.id)
            .details(serde_json::json!({
                "application": key.application_name, "key": key.masked(), "url": found_at,
                "source": report.source, "type": report.kind, "outcome": outcome,
            })),
    )
    .await?;
    if outcome != LeakOutcome::AlreadyRevoked {
        let what = if outcome == LeakOutcome::Revoked {
            "Keyport revoked it: issue a new key and replace it where it is used."
        } else {
            "It still works: rotate or revoke it now."
        };
        crate::notifications::notify(
            state,
            &key.owner_id,
            crate::notifications::Notice {
                title: format!(
                    "Key {} of {} was found in public",
                    key.name, key.application_name
                ),
                body: format!(
                    "A secret scanner ({}) found the key {} at {found_at}. {what}",
                    if report.source.is_empty() {
                        "unknown source"
                    } else {
                        &report.source
                    },
                    key.masked()
                ),
                link: Some("/applications".into()),
            },
            now,
        )
        .await?;
    }
    Ok(outcome)
}

/// The leaked-key alert's suspension: revokes a rotated-out key still in use late in its
/// grace period (its replacement keeps working) and audits it; `false` when it was revoked
/// already.
pub async fn suspend(
    state: &AppState,
    key_id: &str,
    details: serde_json::Value,
    now: i64,
) -> Result<bool, AppError> {
    let reason = "Suspended automatically: still in use late in its rotation grace period";
    if !store::revoke(&state.db, key_id, None, reason, now).await? {
        return Ok(false);
    }
    record(
        &state.db,
        now,
        &ClientInfo::default(),
        Event::new("key.suspend")
            .target("api_key", key_id)
            .details(details),
    )
    .await?;
    Ok(true)
}
