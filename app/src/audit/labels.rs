//! Audit events in words for people: what an action code means ("Issued an API key") and
//! what it was done to, named from the event's details rather than by its id.

use serde_json::Value;

/// The words for an audit action: `key.issue` → "Issued an API key". A code this list does
/// not know yet still reads as words: `widget.spin_up` → "Widget: spin up".
pub fn action_label(action: &str) -> String {
    let known = match action {
        "auth.sign_in" => "Signed in",
        "auth.first_factor" => "Entered the password (two-factor code next)",
        "auth.sign_out" => "Signed out",
        "auth.sign_up" => "Created an account",
        "auth.sign_up_requested" => "Asked to sign up (confirmation email sent)",
        "auth.setup_admin" => "Set up the first admin account",
        "account.profile_update" => "Updated the profile",
        "account.time_zone_update" => "Changed the time zone",
        "account.password_change" => "Changed the password",
        "identity.link" => "Linked a sign-in provider",
        "identity.unlink" => "Unlinked a sign-in provider",
        "user.create" => "Created a user",
        "user.role_change" => "Changed a user's role",
        "user.disable" => "Disabled a user",
        "user.enable" => "Enabled a user",
        "settings.update" => "Changed the portal settings",
        "invitation.create" => "Invited someone",
        "invitation.revoke" => "Revoked an invitation",
        "authz.denied" => "Was refused access",
        "mfa.enable" => "Turned on two-factor authentication",
        "mfa.disable" => "Turned off two-factor authentication",
        "mfa.verify" => "Entered a two-factor code",
        "mfa.step_up" => "Confirmed a sensitive action with a two-factor code",
        "mfa.recovery_codes_regenerate" => "Made new recovery codes",
        "session.end" => "Ended a session",
        "session.end_others" => "Signed out the other sessions",
        "api.create" => "Created an API",
        "api.update" => "Updated an API",
        "api.delete" => "Deleted an API",
        "api.lifecycle" => "Changed an API's lifecycle",
        "api.openapi_upload" => "Uploaded an OpenAPI document",
        "api.openapi_remove" => "Removed an OpenAPI document",
        "plan.create" => "Added a plan",
        "plan.update" => "Changed a plan",
        "plan.delete" => "Deleted a plan",
        "application.create" => "Created an application",
        "application.update" => "Updated an application",
        "application.delete" => "Deleted an application",
        "subscription.request" => "Requested a subscription",
        "subscription.approve" => "Approved a subscription",
        "subscription.reject" => "Rejected a subscription",
        "subscription.suspend" => "Suspended a subscription",
        "subscription.resume" => "Resumed a subscription",
        "subscription.cancel" => "Cancelled a subscription",
        "subscription.end" => "Ended a subscription",
        "key.issue" => "Issued an API key",
        "key.revoke" => "Revoked an API key",
        "key.rotate" => "Rotated an API key",
        "key.revoke_all" => "Revoked every key of an application",
        "key.leak" => "A leak of an API key was reported",
        "key.suspend" => "A rotated-out key still in use was revoked automatically",
        "key.rotation_age" => "Stopped keys past the rotation age",
        "service_token.create" => "Created a gateway service token",
        "service_token.revoke" => "Revoked a gateway service token",
        _ => return words_of(action),
    };
    known.to_string()
}

/// An unknown code as words: its area, then what happened.
fn words_of(code: &str) -> String {
    let spaced = |s: &str| s.replace(['_', '-'], " ").trim().to_string();
    match code.split_once('.') {
        Some((area, what)) if !area.is_empty() && !what.is_empty() => {
            format!(
                "{}: {}",
                capitalised(&spaced(area)),
                spaced(&what.replace('.', " "))
            )
        }
        _ if code.trim().is_empty() => "Unknown action".to_string(),
        _ => capitalised(&spaced(code)),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How an event ended, in words.
pub fn outcome_label(outcome: &str) -> String {
    match outcome {
        "success" => "Done".to_string(),
        "failure" => "Failed".to_string(),
        "denied" => "Refused".to_string(),
        other => capitalised(&other.replace('_', " ")),
    }
}

/// What an event was done to, by name: the user's email, the key's or application's name,
/// the API's slug… taken from the event's details (written when it happened, so a deleted
/// thing keeps its name). Never an id: without a name it says what kind of thing it was.
pub fn target_name(
    target_type: Option<&str>,
    target_id: Option<&str>,
    target_email: Option<&str>,
    details: &Value,
) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_string).filter(|s| !s.is_empty());
    let field = |key: &str| text(&details[key]);
    let joined = |parts: &[Option<String>], sep: &str| {
        let parts: Vec<String> = parts.iter().flatten().cloned().collect();
        (!parts.is_empty()).then(|| parts.join(sep))
    };
    let kind = target_type?;
    let named = match kind {
        "user" => target_email.map(str::to_string).or_else(|| field("email")),
        "api_key" => joined(&[field("name"), field("application")], " · "),
        "application" => field("name").or_else(|| field("application")),
        "api" => field("slug"),
        "plan" => {
            let name = field("name")
                .or_else(|| text(&details["plan"]["name"]))
                .or_else(|| text(&details["after"]["name"]));
            joined(&[name, field("api")], " · ")
        }
        "subscription" => {
            let route = joined(&[field("application"), field("api")], " → ");
            joined(&[route, field("plan")], " · ")
        }
        "invitation" => field("email"),
        "service_token" => field("name"),
        "setting" => Some(
            match target_id.unwrap_or_default() {
                "portal" => "Access and two-factor settings",
                "oidc_jit" => "Single sign-on settings",
                "key_policy" => "API key policy",
                _ => "Portal settings",
            }
            .to_string(),
        ),
        _ => None,
    };
    Some(named.unwrap_or_else(|| kind_words(kind)))
}

/// A kind of target, for an event whose details name nothing.
fn kind_words(kind: &str) -> String {
    match kind {
        "user" => "a deleted user",
        "api_key" => "an API key",
        "application" => "an application",
        "api" => "an API",
        "plan" => "a plan",
        "subscription" => "a subscription",
        "invitation" => "an invitation",
        "service_token" => "a service token",
        "setting" => "the settings",
        other => return other.replace('_', " "),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_action_the_log_knows_has_words() {
        for action in super::super::ACTIONS {
            let label = action_label(action);
            assert_ne!(label, words_of(action), "{action} has no label of its own");
            assert!(
                !label.contains('.') && !label.contains('_'),
                "{action}: {label}"
            );
        }
        assert_eq!(action_label("key.issue"), "Issued an API key");
        assert_eq!(action_label("auth.sign_in"), "Signed in");
        assert_eq!(action_label("identity.link"), "Linked a sign-in provider");
    }

    #[test]
    fn unknown_actions_read_as_words() {
        assert_eq!(action_label("widget.spin_up"), "Widget: spin up");
        assert_eq!(
            action_label("billing.invoice.paid"),
            "Billing: invoice paid"
        );
        assert_eq!(action_label("reindex_all"), "Reindex all");
        assert_eq!(action_label(""), "Unknown action");
        assert_eq!(action_label("."), ".");
    }

    #[test]
    fn outcomes_read_as_words() {
        assert_eq!(outcome_label("success"), "Done");
        assert_eq!(outcome_label("failure"), "Failed");
        assert_eq!(outcome_label("denied"), "Refused");
        assert_eq!(outcome_label("rate_limited"), "Rate limited");
    }

    #[test]
    fn targets_are_named_from_the_details_never_by_id() {
        let id = Some("01a2182a-be29-75d8-950c-d796a5449ce0");
        let name = |kind, details: Value| target_name(Some(kind), id, None, &details);
        assert_eq!(
            target_name(Some("user"), id, Some("dev@example.com"), &json!({})),
            Some("dev@example.com".into())
        );
        assert_eq!(
            name("user", json!({ "email": "gone@example.com" })),
            Some("gone@example.com".into())
        );
        assert_eq!(
            name("api_key", json!({ "name": "CI", "application": "Shop" })),
            Some("CI · Shop".into())
        );
        assert_eq!(
            name("application", json!({ "name": "Shop" })),
            Some("Shop".into())
        );
        assert_eq!(name("api", json!({ "slug": "pets" })), Some("pets".into()));
        assert_eq!(
            name("plan", json!({ "api": "pets", "plan": { "name": "Gold" } })),
            Some("Gold · pets".into())
        );
        assert_eq!(
            name(
                "plan",
                json!({ "api": "pets", "after": { "name": "Gold" } })
            ),
            Some("Gold · pets".into())
        );
        assert_eq!(
            name(
                "subscription",
                json!({ "application": "Shop", "api": "pets", "plan": "Gold" })
            ),
            Some("Shop → pets · Gold".into())
        );
        assert_eq!(
            name("service_token", json!({ "name": "edge nginx" })),
            Some("edge nginx".into())
        );
        assert_eq!(
            target_name(Some("setting"), Some("oidc_jit"), None, &json!({})),
            Some("Single sign-on settings".into())
        );
        // Nothing to name it by: the kind of thing, not its id.
        assert_eq!(name("api_key", json!({})), Some("an API key".into()));
        assert_eq!(
            name("invitation", json!(null)),
            Some("an invitation".into())
        );
        assert_eq!(name("gadget_part", json!({})), Some("gadget part".into()));
        assert_eq!(target_name(None, None, None, &json!({})), None);
    }
}
