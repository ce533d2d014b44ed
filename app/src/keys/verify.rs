//! The verify decision: what a gateway asks ("may this key call this API, with this scope,
//! from this address?") and Keyport's answer with a machine-readable code.
//!
//! Three steps: [`VerifyRequest::parse`] turns the wire form into an [`Ask`] (bad input is a
//! 422, never a refusal code); the in-memory view hands out the [`Facts`] (the key, its
//! application, the owner's status and the application's subscription to the asked API with
//! its plan); [`decide`] is a pure function of those facts, the ask and the time. Every
//! gateway endpoint goes through [`verify`]: there is no second copy of the rules. A key
//! that passes then meets its limits: the rate buckets in memory (`RATE_LIMITED`), the
//! plan's quota from this instance's lease on it (`QUOTA_EXCEEDED`, see
//! [`crate::platform::quota`]), the key's uses in one atomic statement (`EXHAUSTED`); every
//! decision becomes a usage event.

use super::store;
use crate::domain::{ApiKey, Route, Scope, Slug, SubscriptionState, UserStatus};
use crate::error::{AppError, FormErrors};
use crate::platform::limits::{Bucket, Rate, Verdict};
use crate::platform::quota::Slot;
use crate::platform::state::{digest_bytes, fmt_time, AppState};
use crate::platform::usage::Event;
use crate::platform::view::period_ms;
use crate::platform::view::{Facts, Lookup};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;

/// What a gateway asks.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The API key the client presented.
    #[schema(
        example = "kp_live_…",
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*(?![\s\S])"
    )]
    pub key: String,
    /// The slug of the API being called.
    #[schema(
        example = "pet-store",
        min_length = 3,
        max_length = 64,
        pattern = r"^(?!new(?![\s\S]))[a-z][a-z0-9]*(-[a-z0-9]+)*(?![\s\S])"
    )]
    pub api: String,
    /// A scope the call needs (optional; empty means none).
    #[schema(
        example = "pets:read",
        pattern = r"^([a-z][a-z0-9:._-]{0,63})?(?![\s\S])"
    )]
    pub scope: Option<String>,
    /// The client's IP address (IPv4 or IPv6), checked against the key's allowlist
    /// (optional; a key with an allowlist needs it).
    #[schema(schema_with = ip_address_or_null)]
    pub ip: Option<String>,
}

/// A request after parsing: the API, the scope the call needs and the client's address;
/// from the gateway, also the operation of the API's OpenAPI document the call makes (its
/// scopes are needed too).
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub api: String,
    pub scope: Option<String>,
    pub ip: Option<IpAddr>,
    pub operation: Option<Arc<Route>>,
}

impl VerifyRequest {
    /// The ask, or a 422 naming each bad field (an `ip` that is not an address, an `api`
    /// that is not a slug, a `scope` that is not one scope).
    pub fn parse(&self) -> Result<Ask, AppError> {
        let mut e = FormErrors::new();
        let api = e.check(
            "api",
            Slug::parse(&self.api).and_then(|slug| {
                (slug.as_str() == self.api)
                    .then(|| slug.as_str().to_string())
                    .ok_or_else(|| "Send the slug without spaces around it.".to_string())
            }),
        );
        let scope = e.check("scope", parse_scope(self.scope.as_deref().unwrap_or("")));
        let ip = e.check("ip", parse_ip(self.ip.as_deref()));
        match (api, scope, ip) {
            (Some(api), Some(scope), Some(ip)) if e.is_empty() => Ok(Ask {
                api,
                scope,
                ip,
                operation: None,
            }),
            _ => Err(e.into_error()),
        }
    }
}

/// One scope, exactly (gateways send what their configuration says), or none when empty.
pub fn parse_scope(input: &str) -> Result<Option<String>, String> {
    if input.is_empty() {
        return Ok(None);
    }
    match Scope::parse_list(input)?.as_slice() {
        [one] if one.as_str() == input => Ok(Some(one.as_str().to_string())),
        _ => Err("Name one scope, like orders:read, without spaces or commas.".into()),
    }
}

/// An IPv4 or IPv6 address, or none when absent or empty (a gateway's unset variable).
pub fn parse_ip(input: Option<&str>) -> Result<Option<IpAddr>, String> {
    match input.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            "Send the client's IP address, such as 203.0.113.9 or 2001:db8::1.".into()
        }),
    }
}

/// The document's schema of an IP address: IPv4 or IPv6.
pub fn ip_address() -> utoipa::openapi::schema::AnyOf {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let format = |known| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(known)))
    };
    AnyOfBuilder::new()
        .item(format(KnownFormat::Ipv4))
        .item(format(KnownFormat::Ipv6))
        .build()
}

/// [`ip_address`], empty, or null (both meaning none).
fn ip_address_or_null() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let mut any = ip_address();
    any.items.push(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(0))
            .into(),
    );
    any.items
        .push(ObjectBuilder::new().schema_type(Type::Null).into());
    utoipa::openapi::Schema::AnyOf(any)
}

/// Why a key is valid or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Valid,
    Malformed,
    NotFound,
    Expired,
    Revoked,
    OwnerDisabled,
    Exhausted,
    IpNotAllowed,
    ScopeDenied,
    ApiNotAllowed,
    SubscriptionInactive,
    RateLimited,
    QuotaExceeded,
    /// A `test` key on an API without a sandbox upstream.
    NoSandbox,
}

impl Code {
    /// `SCOPE_DENIED`, as in JSON and the `X-Keyport-Code` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Valid => "VALID",
            Code::Malformed => "MALFORMED",
            Code::NotFound => "NOT_FOUND",
            Code::Expired => "EXPIRED",
            Code::Revoked => "REVOKED",
            Code::OwnerDisabled => "OWNER_DISABLED",
            Code::Exhausted => "EXHAUSTED",
            Code::IpNotAllowed => "IP_NOT_ALLOWED",
            Code::ScopeDenied => "SCOPE_DENIED",
            Code::ApiNotAllowed => "API_NOT_ALLOWED",
            Code::SubscriptionInactive => "SUBSCRIPTION_INACTIVE",
            Code::RateLimited => "RATE_LIMITED",
            Code::QuotaExceeded => "QUOTA_EXCEEDED",
            Code::NoSandbox => "NO_SANDBOX",
        }
    }

    /// Whether the key itself is unusable (whatever the call): gateways answer 401 for
    /// these, 403 for a key that may not make this call.
    pub fn is_unusable_key(self) -> bool {
        matches!(
            self,
            Code::Malformed | Code::NotFound | Code::Expired | Code::Revoked | Code::OwnerDisabled
        )
    }
}

/// Keyport's answer; the identity fields are present only when `valid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifyAnswer {
    pub valid: bool,
    pub code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The scopes the key may use on this API: its own, as far as the API's plan grants them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Uses left (`null`: unlimited).
    pub remaining: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The key's own rate limit, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<KeyRate>,
    /// The tightest limit on this call (the key's own rate, its plan's rate per
    /// subscription, or the plan's quota), as Keyport enforced it; absent when none applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitStatus>,
}

/// Where a rate limit stands after this call (the `RateLimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LimitStatus {
    /// Requests per period.
    pub limit: u32,
    /// Requests that would pass right now.
    pub remaining: u32,
    /// Seconds until the limit is whole again.
    pub reset: i64,
    /// When refused (`RATE_LIMITED`, `QUOTA_EXCEEDED`): seconds to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}

impl From<Verdict> for LimitStatus {
    fn from(v: Verdict) -> Self {
        LimitStatus {
            limit: v.limit,
            remaining: v.remaining,
            reset: seconds(v.reset_ms),
            retry_after: v.retry_after_ms.map(|ms| seconds(ms).max(1)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRate {
    pub requests: i64,
    /// `second` or `minute`.
    pub period: String,
}

impl VerifyAnswer {
    fn refused(code: Code) -> Self {
        VerifyAnswer {
            valid: false,
            code,
            key_id: None,
            application: None,
            owner: None,
            environment: None,
            scopes: None,
            remaining: None,
            expires_at: None,
            rate_limit: None,
            limit: None,
        }
    }
}

/// The decision on `ask` at `now` from what the view holds about the key: whether the key
/// may make the call, or why not. Pure: the use count (`EXHAUSTED`) is settled afterwards,
/// atomically, for limited keys that pass.
pub fn decide(facts: &Facts, ask: &Ask, now: i64) -> Result<(), Code> {
    let key = &facts.key;
    if key.revoked {
        return Err(Code::Revoked);
    }
    if key.expires_at.is_some_and(|t| t <= now) {
        return Err(Code::Expired);
    }
    if facts.owner.as_ref().map(|o| o.status) != Some(UserStatus::Active) {
        return Err(Code::OwnerDisabled);
    }
    if !key.ip_allowlist.is_empty()
        && !ask
            .ip
            .is_some_and(|ip| key.ip_allowlist.iter().any(|net| net.contains(ip)))
    {
        return Err(Code::IpNotAllowed);
    }
    let Some((sub, plan)) = &facts.subscription else {
        return Err(Code::ApiNotAllowed);
    };
    if !key.api_ids.is_empty() && !key.api_ids.contains(&sub.api_id) {
        return Err(Code::ApiNotAllowed);
    }
    if sub.state != SubscriptionState::Active {
        return Err(Code::SubscriptionInactive);
    }
    // A scope counts on this API only while this API's plan grants it: the key's scopes
    // came from all of its application's plans.
    let granted = plan.as_ref().map(|p| p.scopes.as_slice()).unwrap_or(&[]);
    let held = |s: &str| key.scopes.iter().any(|k| k == s) && granted.iter().any(|g| g == s);
    if ask.scope.as_ref().is_some_and(|s| !held(s))
        || ask.operation.as_ref().is_some_and(|op| !op.allows(held))
    {
        return Err(Code::ScopeDenied);
    }
    Ok(())
}

/// The scopes the key may use on the asked API: its own, as far as the API's plan grants
/// them.
pub fn usable_scopes(facts: &Facts) -> Vec<String> {
    let granted = match &facts.subscription {
        Some((_, Some(plan))) => plan.scopes.as_slice(),
        _ => &[],
    };
    facts
        .key
        .scopes
        .iter()
        .filter(|s| granted.contains(s))
        .cloned()
        .collect()
}

/// Decides on `ask` for `key` at `now` from the in-memory view, and records the decision
/// as a usage event (queued; never waited for). A made-up key (bad checksum) or an unknown
/// one never reaches the database; nor does any other, except that a key with a maximum
/// number of uses counts the request atomically and a quota's lease, when used up, takes
/// a new block.
pub async fn verify(
    state: &AppState,
    key: &str,
    ask: &Ask,
    now: i64,
) -> Result<VerifyAnswer, AppError> {
    let decided = decide_call(state, key, ask, now).await?;
    let answer = decided.answer();
    state.usage.record(decided.event);
    Ok(answer)
}

/// What the core decided on one call: all the gateway needs ([`Decided::answer`] adds
/// what the verify API tells about the key, built only there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub code: Code,
    /// The tightest limit on this call, as enforced (the `RateLimit-*` headers).
    pub limit: Option<LimitStatus>,
    /// A key with a maximum number of uses: how many are left.
    pub remaining: Option<i64>,
}

impl Decision {
    fn refused(code: Code, limit: Option<LimitStatus>) -> Self {
        Decision {
            code,
            limit,
            remaining: None,
        }
    }
}

/// A decision and its usage event, not recorded yet: the gateway adds the upstream's answer
/// to the event first.
#[derive(Debug)]
pub struct Decided {
    pub decision: Decision,
    pub event: Event,
    /// What the view knew about the key (shared with the view: no copy).
    pub facts: Option<Facts>,
}

impl Decided {
    /// The verify API's answer: the decision, and for a call that passed, who the key is.
    pub fn answer(&self) -> VerifyAnswer {
        let Decision {
            code,
            limit,
            remaining,
        } = self.decision;
        let (Code::Valid, Some(facts)) = (code, &self.facts) else {
            let mut answer = VerifyAnswer::refused(code);
            answer.limit = limit;
            return answer;
        };
        let k = &facts.key;
        VerifyAnswer {
            valid: true,
            code,
            key_id: Some(k.id.to_string()),
            application: Some(facts.application.name.clone()),
            owner: facts.owner.as_ref().map(|o| o.email.clone()),
            environment: Some(k.environment.to_string()),
            scopes: Some(usable_scopes(facts)),
            remaining,
            expires_at: k.expires_at.map(fmt_time),
            rate_limit: k.rate.map(|(requests, period)| KeyRate {
                requests,
                period: period.to_string(),
            }),
            limit,
        }
    }
}

/// [`verify`] without recording.
pub async fn decide_call(
    state: &AppState,
    key: &str,
    ask: &Ask,
    now: i64,
) -> Result<Decided, AppError> {
    // Started without its database and not loaded since: no key is known, so none is
    // decided (503, not a wrong NOT_FOUND).
    if !state.view.loaded() {
        return Err(AppError::StorageUnavailable);
    }
    let parsed = ApiKey::parse(key);
    let Lookup { api, facts } = match &parsed {
        Ok(key) => state.view.lookup(&digest_bytes(key.expose()), &ask.api),
        Err(_) => Lookup {
            api: state.view.api(&ask.api),
            facts: None,
        },
    };
    let has_sandbox = api.as_ref().is_some_and(|a| a.sandbox.is_some());
    let decision = match (&parsed, &facts) {
        (Err(_), _) => Decision::refused(Code::Malformed, None),
        (Ok(_), None) => Decision::refused(Code::NotFound, None),
        (Ok(_), Some(facts)) => decision(state, facts, has_sandbox, ask, now).await?,
    };
    let event = Event {
        at: now,
        key_id: facts.as_ref().map(|f| f.key.id.clone()),
        application_id: facts.as_ref().map(|f| f.key.application_id.clone()),
        api_id: api.map(|a| a.id.clone()),
        code: decision.code.as_str(),
        rotated: facts.as_ref().is_some_and(|f| f.key.rotated),
        client_ip: ask.ip,
        upstream_status: None,
        latency_ms: None,
        bytes: None,
    };
    Ok(Decided {
        decision,
        event,
        facts,
    })
}

/// The decision on a known key, from `facts`. A `test` key reaches only an API with a
/// sandbox upstream (the gateway sends it there): elsewhere it would call production.
async fn decision(
    state: &AppState,
    facts: &Facts,
    has_sandbox: bool,
    ask: &Ask,
    now: i64,
) -> Result<Decision, AppError> {
    let refused = Decision::refused;
    match decide(facts, ask, now) {
        Ok(()) if facts.key.environment == "test" && !has_sandbox => {
            return Ok(refused(Code::NoSandbox, None))
        }
        Ok(()) => {}
        Err(code) => return Ok(refused(code, None)),
    };
    let k = &facts.key;
    // Limits from memory, then the plan's quota (from this instance's lease) and the key's
    // uses (counted in the database); a refusal gives back what the checks before it took.
    let (mut limit, taken) = match rate_limits(state, facts, now) {
        Ok((verdict, taken)) => (verdict.map(LimitStatus::from), taken),
        Err(verdict) => return Ok(refused(Code::RateLimited, Some(verdict.into()))),
    };
    let give_back = || {
        for (bucket, rate) in &taken {
            state.limiter.refund(*bucket, *rate);
        }
    };
    let mut quota_spent = None;
    if let Some((sub, Some(plan))) = &facts.subscription {
        if let Some((quota, period)) = plan.quota {
            let reset = seconds(period.end(now) - now);
            let capped = quota.clamp(0, i64::from(u32::MAX)) as u32;
            let slot = Slot {
                subscription_id: sub.id.clone(),
                period,
                start: period.start(now),
            };
            match state.quotas.spend(&state.db, slot, quota, now).await? {
                Some(spent) => {
                    let status = LimitStatus {
                        limit: capped,
                        remaining: spent.remaining.clamp(0, i64::from(u32::MAX)) as u32,
                        reset,
                        retry_after: None,
                    };
                    if limit.is_none_or(|l| status.remaining < l.remaining) {
                        limit = Some(status);
                    }
                    quota_spent = Some(spent);
                }
                None => {
                    give_back();
                    let status = LimitStatus {
                        limit: capped,
                        remaining: 0,
                        reset,
                        retry_after: Some(reset.max(1)),
                    };
                    return Ok(refused(Code::QuotaExceeded, Some(status)));
                }
            }
        }
    }
    let remaining = if k.limited {
        match store::spend_use(&state.db, &k.id).await? {
            Some(left) => Some(left),
            None => {
                give_back();
                if let Some(spent) = quota_spent {
                    state.quotas.refund(&state.db, spent).await?;
                }
                return Ok(refused(Code::Exhausted, None));
            }
        }
    } else {
        None
    };
    Ok(Decision {
        code: Code::Valid,
        limit,
        remaining,
    })
}

/// A rate-limit bucket a request was taken from, and its rate (to give it back).
type Taken<'a> = Vec<(Bucket<'a>, Rate)>;

/// Takes the request from the key's own bucket, then from its subscription's (the plan's
/// rate, shared by the application's keys); a refusal by the second gives the first its
/// request back, so a refused request costs nothing. The tightest verdict and the buckets
/// taken from, or the refusal.
fn rate_limits<'a>(
    state: &AppState,
    facts: &'a Facts,
    now: i64,
) -> Result<(Option<Verdict>, Taken<'a>), Verdict> {
    let mut taken = Taken::new();
    let key = &facts.key;
    let key_rate = key.rate.as_ref().map(|(limit, period)| Rate {
        limit: (*limit).clamp(1, i64::from(u32::MAX)) as u32,
        period_ms: period_ms(period),
        burst: 0,
    });
    let key_bucket = Bucket::Key(&key.id);
    let mut tightest: Option<Verdict> = None;
    if let Some(rate) = key_rate {
        let v = state.limiter.check(key_bucket, rate, now);
        if !v.allowed {
            return Err(v);
        }
        tightest = Some(v);
        taken.push((key_bucket, rate));
    }
    if let Some((sub, Some(plan))) = &facts.subscription {
        if let Some(rate) = plan.rate {
            let bucket = Bucket::Subscription(&sub.id);
            let v = state.limiter.check(bucket, rate, now);
            if !v.allowed {
                if let Some(rate) = key_rate {
                    state.limiter.refund(key_bucket, rate);
                }
                return Err(v);
            }
            if tightest.is_none_or(|t| v.remaining < t.remaining) {
                tightest = Some(v);
            }
            taken.push((bucket, rate));
        }
    }
    Ok((tightest, taken))
}

/// Milliseconds as whole seconds, rounded up (the `RateLimit-Reset` unit).
fn seconds(ms: i64) -> i64 {
    (ms.max(0) + 999) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Cidr;
    use crate::platform::view::{AppEntry, KeyEntry, PlanEntry, SubEntry, UserEntry};
    use std::sync::Arc;

    const NOW: i64 = 1_800_000_000_000;

    /// The facts a case varies, flat.
    #[derive(Clone)]
    struct KeyFacts {
        revoked: bool,
        expires_at: Option<i64>,
        owner_status: Option<UserStatus>,
        ip_allowlist: Vec<Cidr>,
        api_ids: Vec<String>,
        scopes: Vec<String>,
        subscription: Option<SubscriptionFacts>,
    }

    #[derive(Clone)]
    struct SubscriptionFacts {
        api_id: String,
        state: SubscriptionState,
        plan_scopes: Vec<String>,
    }

    impl KeyFacts {
        fn facts(&self) -> Facts {
            Facts {
                key: Arc::new(KeyEntry {
                    id: "key-1".into(),
                    application_id: "app-1".into(),
                    environment: "live",
                    scopes: self.scopes.clone().into(),
                    api_ids: self.api_ids.clone().into(),
                    ip_allowlist: self.ip_allowlist.clone().into(),
                    expires_at: self.expires_at,
                    revoked: self.revoked,
                    limited: false,
                    rotated: false,
                    rate: None,
                }),
                application: Arc::new(AppEntry {
                    name: "App".into(),
                    owner_user: Some("user-1".into()),
                }),
                owner: self.owner_status.map(|status| {
                    Arc::new(UserEntry {
                        email: "dev@example.com".into(),
                        status,
                    })
                }),
                subscription: self.subscription.as_ref().map(|s| {
                    (
                        Arc::new(SubEntry {
                            id: "sub-1".into(),
                            api_id: s.api_id.clone(),
                            state: s.state,
                            plan_id: "plan-1".into(),
                        }),
                        Some(Arc::new(PlanEntry {
                            scopes: s.plan_scopes.clone(),
                            rate: None,
                            quota: None,
                        })),
                    )
                }),
            }
        }
    }

    fn active_key() -> KeyFacts {
        KeyFacts {
            revoked: false,
            expires_at: Some(NOW + 1),
            owner_status: Some(UserStatus::Active),
            ip_allowlist: Vec::new(),
            api_ids: Vec::new(),
            scopes: vec!["pets:read".into(), "pets:write".into()],
            subscription: Some(SubscriptionFacts {
                api_id: "api-1".into(),
                state: SubscriptionState::Active,
                plan_scopes: vec!["pets:read".into(), "pets:write".into()],
            }),
        }
    }

    fn ask(scope: Option<&str>, ip: Option<&str>) -> Ask {
        Ask {
            api: "pets".into(),
            scope: scope.map(str::to_string),
            ip: ip.map(|s| s.parse().unwrap()),
            operation: None,
        }
    }

    #[test]
    fn the_decision_table() {
        let valid = active_key();
        let with = |change: &dyn Fn(&mut KeyFacts)| {
            let mut k = active_key();
            change(&mut k);
            k
        };
        let sub = |change: &dyn Fn(&mut SubscriptionFacts)| {
            with(&|k| change(k.subscription.as_mut().unwrap()))
        };
        type Case = (&'static str, KeyFacts, Ask, Result<Vec<String>, Code>);
        let cases: Vec<Case> = vec![
            (
                "valid, no scope asked",
                valid.clone(),
                ask(None, None),
                Ok(valid.scopes.clone()),
            ),
            (
                "valid with a granted scope",
                valid.clone(),
                ask(Some("pets:read"), None),
                Ok(valid.scopes.clone()),
            ),
            (
                "revoked",
                with(&|k| k.revoked = true),
                ask(None, None),
                Err(Code::Revoked),
            ),
            (
                "revoked and expired: revoked first",
                with(&|k| {
                    k.revoked = true;
                    k.expires_at = Some(NOW)
                }),
                ask(None, None),
                Err(Code::Revoked),
            ),
            (
                "expired at this very instant",
                with(&|k| k.expires_at = Some(NOW)),
                ask(None, None),
                Err(Code::Expired),
            ),
            (
                "no expiry",
                with(&|k| k.expires_at = None),
                ask(None, None),
                Ok(valid.scopes.clone()),
            ),
            (
                "owner disabled",
                with(&|k| k.owner_status = Some(UserStatus::Disabled)),
                ask(None, None),
                Err(Code::OwnerDisabled),
            ),
            (
                "owner gone",
                with(&|k| k.owner_status = None),
                ask(None, None),
                Err(Code::OwnerDisabled),
            ),
            (
                "allowlist, address inside",
                with(&|k| k.ip_allowlist = vec![Cidr::parse("203.0.113.0/24").unwrap()]),
                ask(None, Some("203.0.113.9")),
                Ok(valid.scopes.clone()),
            ),
            (
                "allowlist, address outside",
                with(&|k| k.ip_allowlist = vec![Cidr::parse("203.0.113.0/24").unwrap()]),
                ask(None, Some("198.51.100.1")),
                Err(Code::IpNotAllowed),
            ),
            (
                "allowlist, no address",
                with(&|k| k.ip_allowlist = vec![Cidr::parse("2001:db8::/32").unwrap()]),
                ask(None, None),
                Err(Code::IpNotAllowed),
            ),
            (
                "no subscription to the API",
                with(&|k| k.subscription = None),
                ask(None, None),
                Err(Code::ApiNotAllowed),
            ),
            (
                "key limited to other APIs",
                with(&|k| k.api_ids = vec!["api-2".into()]),
                ask(None, None),
                Err(Code::ApiNotAllowed),
            ),
            (
                "key limited to this API",
                with(&|k| k.api_ids = vec!["api-1".into()]),
                ask(None, None),
                Ok(valid.scopes.clone()),
            ),
            (
                "subscription suspended",
                sub(&|s| s.state = SubscriptionState::Suspended),
                ask(None, None),
                Err(Code::SubscriptionInactive),
            ),
            (
                "subscription pending",
                sub(&|s| s.state = SubscriptionState::Pending),
                ask(None, None),
                Err(Code::SubscriptionInactive),
            ),
            (
                "subscription ended",
                sub(&|s| s.state = SubscriptionState::Ended),
                ask(None, None),
                Err(Code::SubscriptionInactive),
            ),
            (
                "scope the key lacks",
                with(&|k| k.scopes = vec!["pets:read".into()]),
                ask(Some("pets:write"), None),
                Err(Code::ScopeDenied),
            ),
            (
                "scope this API's plan no longer grants",
                sub(&|s| s.plan_scopes = vec!["pets:read".into()]),
                ask(Some("pets:write"), None),
                Err(Code::ScopeDenied),
            ),
            (
                "answered scopes are the plan's share",
                sub(&|s| s.plan_scopes = vec!["pets:read".into(), "admin".into()]),
                ask(None, None),
                Ok(vec!["pets:read".into()]),
            ),
        ];
        for (name, facts, ask, expected) in cases {
            let facts = facts.facts();
            let decided = decide(&facts, &ask, NOW).map(|()| usable_scopes(&facts));
            assert_eq!(decided, expected, "{name}");
        }
    }

    #[test]
    fn requests_are_parsed_before_any_decision() {
        let req = |api: &str, scope: Option<&str>, ip: Option<&str>| VerifyRequest {
            key: "kp_live_x".into(),
            api: api.into(),
            scope: scope.map(str::to_string),
            ip: ip.map(str::to_string),
        };
        let ok = req("pet-store", Some("pets:read"), Some(" 2001:db8::1 "))
            .parse()
            .unwrap();
        assert_eq!(ok.ip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(ok.scope.as_deref(), Some("pets:read"));
        assert_eq!(
            req("pet-store", Some(""), Some("")).parse().unwrap().scope,
            None
        );
        for (bad, field) in [
            (req("pet-store", None, Some("<script>")), "ip"),
            (req("pet-store", None, Some(&"1".repeat(900_000))), "ip"),
            (req("pet-store", Some("a b"), None), "scope"),
            (req("Pet Store", None, None), "api"),
        ] {
            let e = bad.parse().unwrap_err();
            assert!(!e.field_messages(field).is_empty(), "{field}: {e:?}");
        }
    }
}
