//! Catalog vocabulary: slugs, names, tags, URLs, scopes, plan limits, the API lifecycle and
//! the subscription state machine. Pure and shared, so the browser shows the server's messages.

use super::Role;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A URL-safe identifier: 3–64 lower-case letters, digits and single hyphens, starting with
/// a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slug(String);

impl Slug {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.len() < 3 || s.len() > 64 {
            return Err("Use 3 to 64 characters.".into());
        }
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok_chars {
            return Err("Use lower-case letters, digits and hyphens only.".into());
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err("Start with a letter.".into());
        }
        if s.ends_with('-') || s.contains("--") {
            return Err("Hyphens go between letters or digits, one at a time.".into());
        }
        if s == "new" {
            return Err("\"new\" is reserved; choose another slug.".into());
        }
        Ok(Slug(s.to_string()))
    }

    /// A slug suggestion derived from a name ("Payments API v2" → "payments-api-v2").
    pub fn suggest(name: &str) -> String {
        let mut out = String::new();
        for c in name.trim().to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_end_matches('-').chars().take(64).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trimmed single-line text of 1..=`max` characters without control characters.
pub fn line(input: &str, what: &str, max: usize) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("Enter {what}."));
    }
    if s.chars().count() > max {
        return Err(format!("Use at most {max} characters."));
    }
    if s.chars().any(char::is_control) {
        return Err("Use a single line without control characters.".into());
    }
    Ok(s.to_string())
}

/// Free text (Markdown or plain) of at most `max` characters; may be empty.
pub fn text(input: &str, max: usize) -> Result<String, String> {
    let s = input.trim();
    if s.chars().count() > max {
        return Err(format!("Use at most {max} characters."));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("Remove control characters.".into());
    }
    Ok(s.to_string())
}

pub const NAME_MAX: usize = 80;
pub const SUMMARY_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 50_000;
pub const TAGS_MAX: usize = 10;

/// Tags from a comma-separated list: lower-cased, 1–32 of `a-z 0-9 -`, at most 10, deduplicated.
pub fn parse_tags(input: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for raw in input.split(',') {
        let t = raw.trim().to_lowercase();
        if t.is_empty() {
            continue;
        }
        if t.len() > 32 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "\"{t}\" is not a tag: use up to 32 letters, digits or hyphens."
            ));
        }
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > TAGS_MAX {
        return Err(format!("Use at most {TAGS_MAX} tags."));
    }
    Ok(tags)
}

/// The upstream an API's gateway route forwards to: an absolute http(s) URL with a host,
/// no credentials and no fragment. Returned without a trailing slash.
pub fn parse_upstream(input: &str) -> Result<String, String> {
    let s = input.trim();
    let hint = "Enter an http:// or https:// URL, like https://api.internal:8443/v1.";
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| hint.to_string())?;
    if s.len() > 2048 {
        return Err("Use at most 2048 characters.".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.starts_with(':') {
        return Err(hint.into());
    }
    if authority.contains('@') {
        return Err("Leave credentials out of the URL.".into());
    }
    if s.contains('#') {
        return Err("Leave the #fragment out of the URL.".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("A URL cannot contain spaces.".into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or_else(|| hint.to_string())?;
            if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                return Err(hint.into());
            }
            ("v6", after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !host_ok {
        return Err(hint.into());
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err("The port must be a number from 1 to 65535.".into());
        }
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// An optional sandbox upstream ([`parse_upstream`]), or none when left empty.
pub fn parse_sandbox(input: &str) -> Result<Option<String>, String> {
    match input.trim() {
        "" => Ok(None),
        s => parse_upstream(s).map(Some),
    }
}

/// The host name an API also answers at on the gateway (such as `pets.api.example.com`:
/// calls to it go upstream with their whole path), or none when left empty. Lowercased,
/// without a trailing dot; DNS labels of letters, digits and `-`.
pub fn parse_gateway_host(input: &str) -> Result<Option<String>, String> {
    let s = input.trim().trim_end_matches('.').to_ascii_lowercase();
    if s.is_empty() {
        return Ok(None);
    }
    let hint = "Enter only a host name, such as pets.api.example.com (no scheme, port or path), or leave it empty.";
    if s.contains("://") || s.contains([':', '/', '?', '#', '@']) {
        return Err(hint.into());
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if s.len() > 253 || !s.split('.').all(label_ok) {
        return Err(hint.into());
    }
    Ok(Some(s))
}

/// The scheme and the authority (`host[:port]`) of an `http(s)://` URL.
fn scheme_and_authority(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    Some((scheme, rest.split(['/', '?', '#']).next()?))
}

/// The host of an `http(s)://` URL (an IPv6 literal without its brackets).
pub fn url_host(url: &str) -> Option<&str> {
    let (_, authority) = scheme_and_authority(url)?;
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next(),
        None => authority.split(':').next(),
    }
    .filter(|h| !h.is_empty())
}

/// The gateway's URL `base` with its host replaced by `host` (scheme and port kept, path
/// dropped): where an API with its own host name is called.
pub fn at_host(base: &str, host: &str) -> Option<String> {
    let (scheme, authority) = scheme_and_authority(base)?;
    // A port is after the last `:` that follows an IPv6 literal's `]`.
    let port = authority
        .rfind(':')
        .filter(|&i| authority.rfind(']').is_none_or(|j| i > j))
        .map_or("", |i| &authority[i..]);
    Some(format!("{scheme}://{host}{port}"))
}

/// The query parameter a key may come in at the gateway (such as `api_key`), or none when
/// left empty: letters, digits, `_`, `-` and `.`, up to 64.
pub fn parse_key_param(input: &str) -> Result<Option<String>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 64
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(
            "Use up to 64 letters, digits, _, - or . (such as api_key), or leave it empty.".into(),
        );
    }
    Ok(Some(s.to_string()))
}

/// Whether the gateway refuses to connect to `ip` (unless the operator allows internal
/// upstreams): loopback, link-local (which holds the cloud metadata address
/// 169.254.169.254), unspecified, and the metadata addresses outside those (AWS's
/// `fd00:ec2::254`, Alibaba Cloud's 100.100.100.200). IPv4-mapped addresses count as their
/// IPv4 address.
pub fn internal_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets() == [100, 100, 100, 200]
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

/// Why an upstream URL (as [`parse_upstream`] accepts it) is refused when internal upstreams
/// are not allowed: its host is `localhost` or an internal address literal. Names are
/// checked again on the addresses they resolve to when the gateway connects.
pub fn internal_upstream(url: &str) -> Option<String> {
    let host = url_host(url)?;
    let internal = host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(internal_address);
    internal.then(|| {
        format!(
            "{host} is a loopback, link-local or cloud metadata address: the gateway does not \
             connect to those unless the operator sets KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS."
        )
    })
}

/// A permission an API's operation asks for and a key may carry (`orders:read`): `a-z`
/// first, then `a-z 0-9 : . _ -`, up to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope(String);

impl Scope {
    pub const MAX_PER_LIST: usize = 32;

    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '.' | '_' | '-')
            });
        if ok {
            Ok(Scope(s.to_string()))
        } else {
            Err(format!(
                "\"{s}\" is not a scope: start with a letter and use a-z, 0-9, : . _ - (like orders:read)."
            ))
        }
    }

    /// Scopes from a space- or comma-separated list, at most 32, deduplicated in order.
    pub fn parse_list(input: &str) -> Result<Vec<Self>, String> {
        let mut scopes: Vec<Scope> = Vec::new();
        for s in input
            .split([' ', ',', '\n', '\t', '\r'])
            .filter(|s| !s.is_empty())
        {
            let scope = Scope::parse(s)?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.len() > Self::MAX_PER_LIST {
            return Err("Use at most 32 scopes.".into());
        }
        Ok(scopes)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.0
    }
}

/// An optional whole number in `min..=max` ("" means none).
pub fn optional_count(input: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
    let s = input.trim().replace('_', "");
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "Enter a whole number from {min} to {max}, or leave it empty."
        )),
    }
}

string_enum!(
    /// Where an API is in its life. Only published and deprecated APIs take new subscriptions.
    Lifecycle {
        Draft => "draft" / "Draft",
        Published => "published" / "Published",
        Deprecated => "deprecated" / "Deprecated",
        Retired => "retired" / "Retired",
    }
);

impl Lifecycle {
    /// draft → published → deprecated → retired; a deprecation can be withdrawn, retiring
    /// is final.
    pub fn can_become(self, next: Lifecycle) -> bool {
        use Lifecycle::*;
        matches!(
            (self, next),
            (Draft, Published)
                | (Published, Deprecated)
                | (Deprecated, Published)
                | (Published, Retired)
                | (Deprecated, Retired)
        )
    }

    /// Whether developers see it in the catalog and may subscribe.
    pub fn is_listed(self) -> bool {
        matches!(self, Lifecycle::Published | Lifecycle::Deprecated)
    }
}

string_enum!(
    /// Who sees an API in the catalog.
    Visibility {
        Public => "public" / "Every signed-in user",
        Roles => "roles" / "Only the chosen roles",
    }
);

string_enum!(
    /// How the gateway talks to an API's upstream.
    UpstreamProtocol {
        Auto => "auto" / "HTTP/1.1 (HTTP/2 when an https:// upstream offers it)",
        Http2 => "http2" / "HTTP/2 only (h2c with prior knowledge on http://)",
    }
);

string_enum!(
    RatePeriod {
        Second => "second" / "per second",
        Minute => "minute" / "per minute",
    }
);

string_enum!(
    QuotaPeriod {
        Day => "day" / "per day",
        Month => "month" / "per month",
    }
);

const DAY_MS: i64 = 24 * 3_600_000;

impl QuotaPeriod {
    /// The first instant (unix ms) of `now`'s UTC day or month.
    pub fn start(self, now: i64) -> i64 {
        let day = now.div_euclid(DAY_MS) * DAY_MS;
        match self {
            QuotaPeriod::Day => day,
            QuotaPeriod::Month => {
                let date = time::OffsetDateTime::from_unix_timestamp(day / 1000)
                    .map(|t| t.date())
                    .unwrap_or(time::Date::MIN);
                let first = date.replace_day(1).unwrap_or(date);
                first.midnight().assume_utc().unix_timestamp() * 1000
            }
        }
    }

    /// The first instant of the next period (when a quota resets).
    pub fn end(self, now: i64) -> i64 {
        match self {
            QuotaPeriod::Day => self.start(now) + DAY_MS,
            // 32 days after the first of a month is always in the next one.
            QuotaPeriod::Month => self.start(self.start(now) + 32 * DAY_MS),
        }
    }
}

string_enum!(
    /// Whether a subscription to a plan starts right away or waits for a decision.
    Approval {
        Automatic => "automatic" / "Automatic",
        Manual => "manual" / "Manual approval",
    }
);

string_enum!(
    /// The state of an application's subscription to a plan; keys work only when `Active`.
    SubscriptionState {
        Pending => "pending" / "Pending approval",
        Active => "active" / "Active",
        Rejected => "rejected" / "Rejected",
        Suspended => "suspended" / "Suspended",
        Cancelled => "cancelled" / "Cancelled",
        Ended => "ended" / "Ended",
    }
);

string_enum!(
    /// What can happen to a subscription.
    SubscriptionEvent {
        Approve => "approve" / "Approve",
        Reject => "reject" / "Reject",
        Suspend => "suspend" / "Suspend",
        Resume => "resume" / "Resume",
        Cancel => "cancel" / "Cancel",
        End => "end" / "End",
    }
);

impl SubscriptionEvent {
    /// Rejections and suspensions tell the developer why.
    pub fn needs_reason(self) -> bool {
        matches!(self, SubscriptionEvent::Reject | SubscriptionEvent::Suspend)
    }

    /// Decisions taken by the API's publisher or an admin (step-up MFA actions).
    pub fn is_decision(self) -> bool {
        matches!(
            self,
            SubscriptionEvent::Approve
                | SubscriptionEvent::Reject
                | SubscriptionEvent::Suspend
                | SubscriptionEvent::Resume
        )
    }
}

impl SubscriptionState {
    /// Live subscriptions hold the application's one place for an API.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            SubscriptionState::Pending | SubscriptionState::Active | SubscriptionState::Suspended
        )
    }

    /// The state machine: pending → active | rejected; active ↔ suspended; live →
    /// cancelled (by the developer) or ended (the API retired). Every other pair is refused.
    pub fn apply(self, event: SubscriptionEvent) -> Result<SubscriptionState, String> {
        use SubscriptionEvent as E;
        use SubscriptionState as S;
        match (self, event) {
            (S::Pending, E::Approve) => Ok(S::Active),
            (S::Pending, E::Reject) => Ok(S::Rejected),
            (S::Active, E::Suspend) => Ok(S::Suspended),
            (S::Suspended, E::Resume) => Ok(S::Active),
            (s, E::Cancel) if s.is_live() => Ok(S::Cancelled),
            (s, E::End) if s.is_live() => Ok(S::Ended),
            (s, e) => Err(format!(
                "A subscription that is {} cannot be {}.",
                s.label().to_lowercase(),
                e.past_tense()
            )),
        }
    }
}

impl SubscriptionEvent {
    pub fn past_tense(self) -> &'static str {
        match self {
            SubscriptionEvent::Approve => "approved",
            SubscriptionEvent::Reject => "rejected",
            SubscriptionEvent::Suspend => "suspended",
            SubscriptionEvent::Resume => "resumed",
            SubscriptionEvent::Cancel => "cancelled",
            SubscriptionEvent::End => "ended",
        }
    }
}

/// Roles from a list of checkbox values; an empty list is refused for restricted APIs.
pub fn parse_roles(values: &[String]) -> Result<Vec<Role>, String> {
    let mut roles = Vec::new();
    for v in values {
        let r: Role = v.parse()?;
        if !roles.contains(&r) {
            roles.push(r);
        }
    }
    Ok(roles)
}

impl FromStr for Slug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Slug::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quota_periods_are_utc_days_and_months() {
        use super::QuotaPeriod;
        // 2026-11-23 16:06:27.5 UTC
        let now = 1_795_449_987_500;
        assert_eq!(QuotaPeriod::Day.start(now), 1_795_392_000_000);
        assert_eq!(QuotaPeriod::Month.start(now), 1_793_491_200_000);
        let midnight = QuotaPeriod::Day.start(now);
        assert_eq!(QuotaPeriod::Day.start(midnight), midnight);
        assert_eq!(
            QuotaPeriod::Day.start(midnight - 1),
            midnight - super::DAY_MS
        );
        assert_eq!(QuotaPeriod::Day.end(now), midnight + super::DAY_MS);
        // 2026-12-01 00:00 UTC, then 2027-01-01 (December has 31 days).
        assert_eq!(QuotaPeriod::Month.end(now), 1_796_083_200_000);
        assert_eq!(QuotaPeriod::Month.end(1_796_083_200_000), 1_798_761_600_000);
        assert_eq!(
            QuotaPeriod::Month.start(1_796_083_200_000 - 1),
            1_793_491_200_000
        );
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs() {
        for ok in ["pets", "payments-v2", "a1b", "orders-api"] {
            assert_eq!(Slug::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "", "ab", "Pets", "1pets", "pets-", "pe--ts", "pets api", "new", "pets/x",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Slug::suggest("  Payments API v2!"), "payments-api-v2");
    }

    #[test]
    fn internal_upstreams_are_loopback_link_local_and_metadata_addresses() {
        for host in [
            "http://127.0.0.1:9000",
            "http://127.8.0.1",
            "http://localhost:8080/x",
            "http://api.localhost",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:80",
            "http://[fe80::1]",
            "http://[::ffff:127.0.0.1]",
            "http://[fd00:ec2::254]",
            "http://100.100.100.200",
            "http://0.0.0.0",
        ] {
            assert!(internal_upstream(host).is_some(), "{host} allowed");
        }
        for host in [
            "https://api.internal:8443/v1",
            "http://10.0.0.5",
            "http://192.168.1.20:8080",
            "http://[fd12::1]",
            "https://example.com",
        ] {
            assert!(internal_upstream(host).is_none(), "{host} refused");
        }
    }

    #[test]
    fn gateway_host_names_are_plain_lowercase_dns_names() {
        assert_eq!(parse_gateway_host(" "), Ok(None));
        assert_eq!(
            parse_gateway_host(" Pets.API.example.com. "),
            Ok(Some("pets.api.example.com".into()))
        );
        assert_eq!(
            parse_gateway_host("localhost"),
            Ok(Some("localhost".into()))
        );
        for bad in [
            "https://pets.example.com",
            "pets.example.com:8080",
            "pets.example.com/v1",
            "-pets.example.com",
            "pets..example.com",
            "pets_api.example.com",
            "user@pets.example.com",
            "[::1]",
        ] {
            assert!(parse_gateway_host(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_gateway_host(&format!("{}.com", "a".repeat(64))).is_err());
        assert_eq!("http2".parse(), Ok(UpstreamProtocol::Http2));
        assert_eq!(url_host("http://gateway.test/"), Some("gateway.test"));
        assert_eq!(url_host("https://[::1]:8443/x"), Some("::1"));
        assert_eq!(url_host("http://127.0.0.1:3102"), Some("127.0.0.1"));
        assert_eq!(url_host("gateway.test"), None);
        let at = |base| at_host(base, "pets.example.com");
        assert_eq!(
            at("http://127.0.0.1:3102"),
            Some("http://pets.example.com:3102".into())
        );
        assert_eq!(
            at("https://gw.example.com/edge"),
            Some("https://pets.example.com".into())
        );
        assert_eq!(
            at("http://[::1]:8081"),
            Some("http://pets.example.com:8081".into())
        );
        assert_eq!(at("http://[::1]"), Some("http://pets.example.com".into()));
        assert!("h2".parse::<UpstreamProtocol>().is_err());
    }

    #[test]
    fn sandboxes_and_key_parameters_are_optional() {
        assert_eq!(parse_sandbox("  "), Ok(None));
        assert_eq!(
            parse_sandbox("https://sandbox.example.com/v1/"),
            Ok(Some("https://sandbox.example.com/v1".into()))
        );
        assert!(parse_sandbox("ftp://x").is_err());
        assert_eq!(parse_key_param(""), Ok(None));
        assert_eq!(parse_key_param(" api_key "), Ok(Some("api_key".into())));
        for bad in ["api key", "a&b", "k=v", &"k".repeat(65)] {
            assert!(parse_key_param(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn upstream_urls() {
        assert_eq!(
            parse_upstream("https://api.internal:8443/v1/").unwrap(),
            "https://api.internal:8443/v1"
        );
        assert!(parse_upstream("http://127.0.0.1:9000").is_ok());
        assert!(parse_upstream("http://[::1]:9000/x").is_ok());
        for bad in [
            "",
            "ftp://x.example",
            "https://",
            "https://user:pw@x.example",
            "https://x.example/#frag",
            "https://x example",
            "javascript:alert(1)",
            "https://x.example:0",
            "https://x.example:99999",
            "https://<x>/",
        ] {
            assert!(parse_upstream(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tags_and_scopes() {
        assert_eq!(
            parse_tags(" Pets, store ,pets,,").unwrap(),
            vec!["pets", "store"]
        );
        assert!(parse_tags("a b").is_err());
        assert!(parse_tags(
            &(0..11)
                .map(|i| format!("t{i}"))
                .collect::<Vec<_>>()
                .join(",")
        )
        .is_err());
        assert_eq!(
            Scope::parse_list("orders:read, orders:write orders:read")
                .unwrap()
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>(),
            vec!["orders:read", "orders:write"]
        );
        assert!(Scope::parse_list("Orders").is_err());
        assert!(Scope::parse_list("1x").is_err());
        assert!(Scope::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn counts() {
        assert_eq!(optional_count("", 1, 10).unwrap(), None);
        assert_eq!(optional_count(" 1_000 ", 1, 10_000).unwrap(), Some(1000));
        assert!(optional_count("0", 1, 10).is_err());
        assert!(optional_count("11", 1, 10).is_err());
        assert!(optional_count("x", 1, 10).is_err());
    }

    #[test]
    fn lines_and_text() {
        assert_eq!(line("  Pets ", "a name", 80).unwrap(), "Pets");
        assert!(line(" ", "a name", 80).is_err());
        assert!(line("a\nb", "a name", 80).is_err());
        assert!(line(&"x".repeat(81), "a name", 80).is_err());
        assert_eq!(text("# Title\n\nBody", 100).unwrap(), "# Title\n\nBody");
        assert!(text("a\u{7}", 100).is_err());
    }

    #[test]
    fn lifecycle_moves() {
        use Lifecycle::*;
        let allowed = [
            (Draft, Published),
            (Published, Deprecated),
            (Deprecated, Published),
            (Published, Retired),
            (Deprecated, Retired),
        ];
        for from in Lifecycle::ALL {
            for to in Lifecycle::ALL {
                assert_eq!(
                    from.can_become(*to),
                    allowed.contains(&(*from, *to)),
                    "{from} → {to}"
                );
            }
        }
    }

    /// Every (state, event) pair: 6 × 6 = 36 cases, 12 allowed.
    #[test]
    fn subscription_state_machine() {
        use SubscriptionEvent as E;
        use SubscriptionState as S;
        let allowed = [
            (S::Pending, E::Approve, S::Active),
            (S::Pending, E::Reject, S::Rejected),
            (S::Active, E::Suspend, S::Suspended),
            (S::Suspended, E::Resume, S::Active),
            (S::Pending, E::Cancel, S::Cancelled),
            (S::Active, E::Cancel, S::Cancelled),
            (S::Suspended, E::Cancel, S::Cancelled),
            (S::Pending, E::End, S::Ended),
            (S::Active, E::End, S::Ended),
            (S::Suspended, E::End, S::Ended),
        ];
        let mut cases = 0;
        for from in S::ALL {
            for event in E::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, e, _)| f == from && e == event)
                    .map(|(_, _, to)| *to);
                match (from.apply(*event), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} + {event}"),
                    (Err(message), None) => assert!(message.contains("cannot"), "{message}"),
                    (got, want) => panic!("{from} + {event}: got {got:?}, expected {want:?}"),
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 36);
        for terminal in [S::Rejected, S::Cancelled, S::Ended] {
            assert!(!terminal.is_live());
        }
    }

    proptest! {
        #[test]
        fn suggested_slugs_parse(name in "[A-Za-z][A-Za-z0-9 ]{4,40}[A-Za-z0-9]") {
            let s = Slug::suggest(&name);
            if s.len() >= 3 && s != "new" {
                prop_assert!(Slug::parse(&s).is_ok(), "{}", s);
            }
        }

        #[test]
        fn a_scope_reads_back_as_written(s in "[a-z][a-z0-9:._-]{0,63}") {
            let scope = Scope::parse(&s).unwrap();
            prop_assert_eq!(scope.as_str(), s.as_str());
            let list = Scope::parse_list(&format!("{s}, {s}\n{s}")).unwrap();
            prop_assert_eq!(list.len(), 1);
        }

        #[test]
        fn a_scope_never_holds_a_separator_or_capital(s in ".{1,70}") {
            if let Ok(scope) = Scope::parse(&s) {
                prop_assert!(scope.as_str().len() <= 64);
                prop_assert!(!scope.as_str().contains([' ', ',', '\n']));
                prop_assert!(!scope.as_str().chars().any(|c| c.is_ascii_uppercase()));
            }
        }

        #[test]
        fn parsers_never_panic(s in ".*") {
            let _ = Slug::parse(&s);
            let _ = parse_upstream(&s);
            let _ = Scope::parse_list(&s);
            let _ = parse_tags(&s);
        }
    }
}
