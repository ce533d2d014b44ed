//! API key format: `<prefix>_<test|live>_<43 base62 characters of CSPRNG output (256 bits)>
//! <6-character base62 CRC32 of everything before it>`. The checksum lets anyone (a form, the
//! verify API, a secret scanner) reject a mistyped or made-up key without a lookup.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters: 43 × log2(62) ≈ 256 bits.
pub const SECRET_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;

/// `test` keys are for sandboxes; `live` keys for production traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyEnvironment {
    Test,
    Live,
}

impl KeyEnvironment {
    pub const ALL: &'static [KeyEnvironment] = &[KeyEnvironment::Test, KeyEnvironment::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyEnvironment::Test => "test",
            KeyEnvironment::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "test" => Ok(KeyEnvironment::Test),
            "live" => Ok(KeyEnvironment::Live),
            _ => Err("Choose test or live.".into()),
        }
    }
}

/// A well-formed key (prefix, environment and checksum verified). `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    text: String,
    environment: KeyEnvironment,
}

/// A key prefix: 2 to 10 lower-case letters or digits, starting with a letter.
pub fn valid_prefix(prefix: &str) -> bool {
    (2..=10).contains(&prefix.len())
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn checksum(text: &str) -> String {
    let mut n = crc32fast::hash(text.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ApiKey {
    /// Checks the shape and the checksum; says what is wrong otherwise.
    pub fn parse(input: &str) -> Result<Self, String> {
        let text = input.trim();
        let mut parts = text.splitn(3, '_');
        let (Some(prefix), Some(env), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("This is not a Keyport key (expected prefix_env_secret).".into());
        };
        if !valid_prefix(prefix) {
            return Err("This is not a Keyport key (bad prefix).".into());
        }
        let environment = KeyEnvironment::parse(env).map_err(|_| {
            "This is not a Keyport key (the environment is test or live).".to_string()
        })?;
        if rest.len() != SECRET_CHARS + CHECKSUM_CHARS
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err("This is not a Keyport key (wrong length or characters).".into());
        }
        let (body, sum) = text.split_at(text.len() - CHECKSUM_CHARS);
        if checksum(body) != sum {
            return Err("This key's checksum does not match: it was mistyped or made up.".into());
        }
        Ok(ApiKey {
            text: text.to_string(),
            environment,
        })
    }

    /// A new key from the operating system's CSPRNG.
    #[cfg(feature = "ssr")]
    pub fn generate(prefix: &str, environment: KeyEnvironment) -> ApiKey {
        use rand::Rng;
        let mut rng = rand::rngs::OsRng;
        let secret: String = (0..SECRET_CHARS)
            .map(|_| BASE62[rng.gen_range(0..62)] as char)
            .collect();
        let body = format!("{prefix}_{}_{secret}", environment.as_str());
        let text = format!("{body}{}", checksum(&body));
        ApiKey { text, environment }
    }

    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn environment(&self) -> KeyEnvironment {
        self.environment
    }

    /// What lists show before the `…`: the prefix, the environment and four characters.
    pub fn display_prefix(&self) -> String {
        let cut = self.text.len() - SECRET_CHARS - CHECKSUM_CHARS + 4;
        self.text[..cut].to_string()
    }

    pub fn last4(&self) -> String {
        self.text[self.text.len() - 4..].to_string()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…{})", self.display_prefix(), self.last4())
    }
}

/// An IPv4 or IPv6 network a key may be used from: `203.0.113.0/24`, `2001:db8::/32`, or
/// one address (`198.51.100.7`, read as `/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    len: u8,
}

impl Cidr {
    pub const MAX_PER_LIST: usize = 50;

    pub fn parse(item: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "\"{item}\" is not an IP address or CIDR (like 203.0.113.0/24 or 2001:db8::/32)."
            )
        };
        let (addr, len) = match item.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (item, None),
        };
        let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) if l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        Ok(Cidr { addr, len })
    }

    /// An allowlist from a space- or comma-separated list, at most 50, deduplicated in order.
    pub fn parse_list(input: &str) -> Result<Vec<Self>, String> {
        let mut out: Vec<Cidr> = Vec::new();
        for item in input
            .split([' ', ',', '\n', '\t', '\r'])
            .filter(|s| !s.is_empty())
        {
            let cidr = Cidr::parse(item)?;
            if !out.contains(&cidr) {
                out.push(cidr);
            }
        }
        if out.len() > Self::MAX_PER_LIST {
            return Err("Use at most 50 addresses or ranges.".into());
        }
        Ok(out)
    }

    /// Whether `ip` is in this network (an IPv4 address is never in an IPv6 network).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.len);
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        net & mask == ip & mask
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

string_enum!(
    /// What a leak report does to a key it matches.
    LeakAction {
        Revoke => "revoke" / "Revoke the key at once",
        Flag => "flag" / "Only flag it and tell the owner",
    }
);

/// The longest grace period a rotated key may keep working.
pub const MAX_GRACE_MS: i64 = 7 * 24 * 3_600_000;

/// A rotation grace period: `0` (the old key stops at once) or a number with a unit,
/// `30m`, `12h`, `3d`, up to 7 days. In milliseconds.
pub fn parse_grace(input: &str) -> Result<i64, String> {
    let s = input.trim().to_ascii_lowercase();
    let bad = || "Enter 0 or a duration such as 30m, 12h or 3d (at most 7 days).".to_string();
    if s == "0" {
        return Ok(0);
    }
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 24 * 3_600_000,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_ms)
        .filter(|ms| *ms <= MAX_GRACE_MS)
        .ok_or_else(|| "A grace period is at most 7 days.".to_string())
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grace_periods_are_zero_or_a_duration_up_to_seven_days() {
        assert_eq!(parse_grace("0"), Ok(0));
        assert_eq!(parse_grace("30m"), Ok(30 * 60_000));
        assert_eq!(parse_grace(" 12H "), Ok(12 * 3_600_000));
        assert_eq!(parse_grace("7d"), Ok(MAX_GRACE_MS));
        assert_eq!(parse_grace("168h"), Ok(MAX_GRACE_MS));
        for bad in [
            "",
            "8d",
            "169h",
            "1w",
            "-1h",
            "h",
            "1.5h",
            "99999999999999999d",
        ] {
            assert!(parse_grace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = ApiKey::generate("kp", KeyEnvironment::Live);
        let text = key.expose();
        assert!(text.starts_with("kp_live_"), "{text}");
        assert_eq!(text.len(), "kp_live_".len() + 43 + 6);
        assert_eq!(ApiKey::parse(text).unwrap(), key);
        assert_eq!(key.display_prefix().len(), "kp_live_".len() + 4);
        assert!(
            !format!("{key:?}").contains(&text[12..40]),
            "Debug hides the secret"
        );
        assert_ne!(ApiKey::generate("kp", KeyEnvironment::Live), key);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let good = ApiKey::generate("kp", KeyEnvironment::Test)
            .expose()
            .to_string();
        let cases = [
            String::new(),
            "kp_test".into(),
            good.replace("_test_", "_prod_"),
            good.replacen("kp", "KP", 1),
            good[..good.len() - 1].to_string(),
            format!("{good}x"),
            good.replacen('_', "-", 1),
        ];
        for bad in cases {
            assert!(ApiKey::parse(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn allowlists_are_normalised_cidrs() {
        assert_eq!(
            Cidr::parse_list("203.0.113.0/24, 198.51.100.7 2001:db8::/32")
                .unwrap()
                .iter()
                .map(Cidr::to_string)
                .collect::<Vec<_>>(),
            vec!["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]
        );
        assert!(Cidr::parse_list("").unwrap().is_empty());
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0",
            "10.0.0.1/x",
        ] {
            assert!(Cidr::parse_list(bad).is_err(), "{bad} accepted");
        }
    }

    proptest! {
        #[test]
        fn every_generated_key_validates(env in prop::sample::select(KeyEnvironment::ALL.to_vec()), prefix in "[a-z][a-z0-9]{1,9}") {
            let key = ApiKey::generate(&prefix, env);
            prop_assert_eq!(ApiKey::parse(key.expose()).unwrap().environment(), env);
        }

        #[test]
        fn any_single_character_change_is_caught(at in 0usize..57, to in 0usize..62) {
            let key = ApiKey::generate("kp", KeyEnvironment::Live);
            let mut bytes = key.expose().as_bytes().to_vec();
            let i = at % bytes.len();
            let replacement = BASE62[to];
            prop_assume!(bytes[i] != replacement);
            bytes[i] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(ApiKey::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = ApiKey::parse(&s);
            let _ = Cidr::parse_list(&s);
        }

        #[test]
        fn a_cidr_reads_back_and_contains_as_ipnet_does(
            v4 in any::<u32>(), v6 in any::<u128>(), len4 in 0u8..=32, len6 in 0u8..=128,
            probe4 in any::<u32>(), probe6 in any::<u128>(),
        ) {
            use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
            let cases = [
                (IpAddr::V4(Ipv4Addr::from(v4)), len4, IpAddr::V4(Ipv4Addr::from(probe4))),
                (IpAddr::V6(Ipv6Addr::from(v6)), len6, IpAddr::V6(Ipv6Addr::from(probe6))),
            ];
            for (addr, len, probe) in cases {
                let text = format!("{addr}/{len}");
                let cidr = Cidr::parse(&text).unwrap();
                prop_assert_eq!(cidr.to_string(), text.clone());
                let net: ipnet::IpNet = text.parse().unwrap();
                prop_assert_eq!(cidr.contains(probe), net.contains(&probe), "{} {}", text, probe);
                let other_family = match probe {
                    IpAddr::V4(v) => IpAddr::V6(v.to_ipv6_mapped()),
                    IpAddr::V6(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                };
                prop_assert!(!cidr.contains(other_family));
            }
            // Changing only host bits stays inside.
            let host_mask = u32::MAX.checked_shr(u32::from(len4)).unwrap_or(0);
            let cidr = Cidr::parse(&format!("{}/{len4}", Ipv4Addr::from(v4))).unwrap();
            prop_assert!(cidr.contains(IpAddr::V4(Ipv4Addr::from(v4 ^ (probe4 & host_mask)))));
        }
    }
}
