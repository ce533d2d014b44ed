//! Domain newtypes shared by the browser and the server: parsing them is the validation,
//! so both sides show the same messages.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim().to_lowercase();
        if s.is_empty() {
            return Err("Enter your email address.".into());
        }
        if s.len() > 254 {
            return Err("An email address has at most 254 characters.".into());
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("Enter an email address like name@example.com.".into());
        };
        let domain_ok = !domain.is_empty()
            && domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        if !local_ok || !domain_ok {
            return Err("Enter an email address like name@example.com.".into());
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 256;

/// A password that meets the policy: 12 to 256 characters and not the account's email.
/// Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(input: &str, email: Option<&str>) -> Result<Self, String> {
        let chars = input.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err(format!(
                "Use at least {PASSWORD_MIN_CHARS} characters (a few words make a good password)."
            ));
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(format!("Use at most {PASSWORD_MAX_CHARS} characters."));
        }
        if let Some(email) = email {
            if input.trim().eq_ignore_ascii_case(email.trim()) {
                return Err("Your password must not be your email address.".into());
            }
        }
        Ok(Password(input.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

/// A person's name as shown in the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("Enter a name.".into());
        }
        if s.chars().count() > 80 {
            return Err("A name has at most 80 characters.".into());
        }
        if s.chars().any(char::is_control) {
            return Err("A name cannot contain control characters.".into());
        }
        Ok(DisplayName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal / $label:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The human label shown in the UI.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($text => Ok($name::$variant),)+
                    _ => Err(format!("Choose one of: {}.", [$($text),+].join(", "))) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        /// Rows decode the stored text through this (`#[sqlx(try_from = "String")]`).
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> { s.parse() }
        }
    };
}

string_enum!(
    /// What a user may do. Admins manage everything, publishers publish APIs,
    /// developers consume them.
    Role {
        Admin => "admin" / "Admin",
        Publisher => "publisher" / "Publisher",
        Developer => "developer" / "Developer",
    }
);

string_enum!(
    /// Whether an account may sign in.
    UserStatus {
        Active => "active" / "Active",
        Disabled => "disabled" / "Disabled",
    }
);

string_enum!(
    /// Who may create a local account.
    SignupMode {
        Open => "open" / "Open: anyone can sign up",
        InviteOnly => "invite_only" / "Invite only: sign-up needs an invitation link",
        Closed => "closed" / "Closed: only admins create accounts",
    }
);

string_enum!(
    /// Who must use two-factor authentication.
    MfaPolicy {
        Optional => "optional" / "Optional: everyone may turn it on",
        Privileged => "privileged" / "Required for admins and publishers",
        Everyone => "everyone" / "Required for everyone",
    }
);

string_enum!(
    /// How an audited action ended.
    Outcome {
        Success => "success" / "Success",
        Failure => "failure" / "Failure",
        Denied => "denied" / "Denied",
    }
);

string_enum!(
    /// Who gets an account the first time they sign in through an identity provider.
    JitPolicy {
        Allow => "allow" / "Anyone the identity provider signs in",
        Domains => "domains" / "Only email addresses of the listed domains",
        Existing => "existing" / "Only people who already linked an identity to their account",
    }
);

mod catalog;
mod gateway;
mod key;
pub use catalog::*;
pub use gateway::*;
pub use key::*;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@-example.com",
            "ada@exa_mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn password_policy() {
        assert!(Password::parse("short", None).is_err());
        assert!(Password::parse("exactly12chr", None).is_ok());
        assert!(Password::parse("ada@example.com", Some("ADA@example.com")).is_err());
        assert!(Password::parse(&"x".repeat(257), None).is_err());
        assert_eq!(
            format!(
                "{:?}",
                Password::parse("a long secret phrase", None).unwrap()
            ),
            "Password(****)"
        );
    }

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(81)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn enums_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
        }
        for m in SignupMode::ALL {
            assert_eq!(m.as_str().parse::<SignupMode>().unwrap(), *m);
        }
        assert!("root".parse::<Role>().is_err());
    }

    proptest! {
        #[test]
        fn parsed_emails_are_stable(local in "[a-z0-9._%+-]{1,20}", domain in "[a-z0-9]{1,10}", tld in "[a-z]{2,6}") {
            let raw = format!("{local}@{domain}.{tld}");
            let once = Email::parse(&raw).unwrap();
            let twice = Email::parse(once.as_str()).unwrap();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn passwords_shorter_than_policy_are_refused(p in ".{0,11}") {
            prop_assert!(Password::parse(&p, None).is_err());
        }

        #[test]
        fn email_parse_never_panics(s in ".*") {
            let _ = Email::parse(&s);
        }
    }
}
