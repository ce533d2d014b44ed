//! The configured providers and their OpenID Connect clients. Discovery (metadata + JWKS)
//! happens on first use, not at start-up, so Keyport starts even when a provider is down;
//! a failed discovery is retried on the next sign-in, and a successful one is refreshed
//! hourly so that rotated signing keys are picked up.

use crate::domain::Role;
use crate::platform::state::OidcProviderConfig;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, Client, ClientId, ClientSecret, EmptyExtraTokenFields, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, RedirectUrl, StandardErrorResponse,
    StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Claims beyond the standard ones, kept as JSON: the role claim's name is configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

pub type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// A client built from discovery: authorization endpoint set, token endpoint maybe.
pub type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// ID tokens must be signed with a provider key published in its JWKS: symmetric (`HS*`,
/// whose "key" would be the client secret or, in the classic attack, the public key) and
/// `none` are refused whatever the provider advertises.
pub const ALLOWED_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

const REDISCOVER_AFTER: Duration = Duration::from_secs(3600);

/// Every configured provider, and one HTTP client for talking to them.
pub struct Providers {
    http: openidconnect::reqwest::Client,
    list: Vec<Provider>,
}

pub struct Provider {
    pub config: OidcProviderConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    discovered: tokio::sync::Mutex<Option<(Arc<OidcClient>, Instant)>>,
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Providers {
    /// Checks the configuration (a bad provider is a start-up error, with its id).
    pub fn from_config(configs: &[OidcProviderConfig], base_url: &str) -> Result<Self, String> {
        let http = openidconnect::reqwest::Client::builder()
            // The library's advice: following redirects from a provider invites SSRF.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the OpenID Connect HTTP client: {e}"))?;
        let mut list: Vec<Provider> = Vec::new();
        for config in configs {
            let id = &config.id;
            if !is_slug(id) {
                return Err(format!(
                    "oidc_providers: id {id:?} must be 1-40 characters of a-z, 0-9 and -"
                ));
            }
            if list.iter().any(|p| &p.config.id == id) {
                return Err(format!("oidc_providers: id {id:?} appears twice"));
            }
            if config.label.trim().is_empty() || config.client_id.is_empty() {
                return Err(format!(
                    "oidc_providers: provider {id:?} needs a label and a client_id"
                ));
            }
            let issuer = IssuerUrl::new(config.issuer.clone())
                .map_err(|e| format!("oidc_providers: provider {id:?}: bad issuer URL: {e}"))?;
            let redirect = RedirectUrl::new(format!("{base_url}/auth/oidc/{id}/callback"))
                .map_err(|e| format!("oidc_providers: provider {id:?}: bad redirect URL: {e}"))?;
            list.push(Provider {
                config: config.clone(),
                issuer,
                redirect,
                discovered: tokio::sync::Mutex::new(None),
            });
        }
        Ok(Providers { http, list })
    }

    pub fn http(&self) -> &openidconnect::reqwest::Client {
        &self.http
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.list.iter()
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.config.id == id)
    }

    /// The provider whose issuer this is (identities store the issuer, not the id).
    pub fn by_issuer(&self, issuer: &str) -> Option<&Provider> {
        self.list
            .iter()
            .find(|p| p.issuer.as_str().trim_end_matches('/') == issuer.trim_end_matches('/'))
    }
}

impl Provider {
    /// The discovered client; discovers on first use, again when the last discovery is an
    /// hour old (an old client keeps serving while the provider is unreachable).
    pub async fn client(
        &self,
        http: &openidconnect::reqwest::Client,
    ) -> Result<Arc<OidcClient>, String> {
        // One discovery at a time per provider; the others wait for its result.
        let mut discovered = self.discovered.lock().await;
        if let Some((client, at)) = discovered.as_ref() {
            if at.elapsed() < REDISCOVER_AFTER {
                return Ok(client.clone());
            }
        }
        match CoreProviderMetadata::discover_async(self.issuer.clone(), http).await {
            Ok(metadata) => {
                let metadata =
                    metadata.set_id_token_signing_alg_values_supported(ALLOWED_ALGS.to_vec());
                let client: OidcClient = Client::from_provider_metadata(
                    metadata,
                    ClientId::new(self.config.client_id.clone()),
                    Some(ClientSecret::new(
                        self.config.client_secret.expose().to_string(),
                    )),
                )
                .set_redirect_uri(self.redirect.clone());
                let client = Arc::new(client);
                *discovered = Some((client.clone(), Instant::now()));
                Ok(client)
            }
            Err(e) => {
                let cause = format!("discovery at {} failed: {e}", self.issuer.as_str());
                match discovered.as_ref() {
                    Some((client, _)) => {
                        tracing::warn!(provider = %self.config.id, %cause, "using the earlier discovery");
                        Ok(client.clone())
                    }
                    None => Err(cause),
                }
            }
        }
    }

    /// Whether this provider's configuration maps a claim to roles (and so owns them).
    pub fn maps_roles(&self) -> bool {
        !self.config.admin_values.is_empty() || !self.config.publisher_values.is_empty()
    }

    /// The role the configured claim gives (see [`mapped_role`]).
    pub fn mapped_role(&self, claims: &OtherClaims) -> Role {
        mapped_role(&self.config, claims)
    }
}

/// The role the configured claim gives: admin values win over publisher values; anything
/// else is a developer. The claim may be a list of strings or one string; a string counts
/// as itself and as each of its whitespace-separated parts, because several providers send
/// scope-like claims as `"keyport-admins staff"`. Commas do not separate values: group
/// names given as LDAP DNs (`cn=admins,ou=groups,dc=corp`) contain them. Items of a list
/// are taken whole.
pub fn mapped_role(config: &OidcProviderConfig, claims: &OtherClaims) -> Role {
    let values: Vec<&str> = match claims.claims.get(&config.role_claim) {
        Some(serde_json::Value::String(s)) => std::iter::once(s.as_str())
            .chain(s.split_whitespace())
            .collect(),
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(serde_json::Value::as_str).collect()
        }
        _ => Vec::new(),
    };
    let has = |wanted: &[String]| values.iter().any(|v| wanted.iter().any(|w| w == v));
    if has(&config.admin_values) {
        Role::Admin
    } else if has(&config.publisher_values) {
        Role::Publisher
    } else {
        Role::Developer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::state::Secret;

    fn config(id: &str) -> OidcProviderConfig {
        OidcProviderConfig {
            id: id.into(),
            label: "Corp".into(),
            issuer: "https://idp.example.com".into(),
            client_id: "keyport".into(),
            client_secret: Secret::new("s3cret".into()),
            scopes: vec!["openid".into()],
            role_claim: "groups".into(),
            admin_values: vec!["keyport-admins".into()],
            publisher_values: vec!["keyport-publishers".into()],
        }
    }

    fn claims(v: serde_json::Value) -> OtherClaims {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn role_claim_maps_lists_and_strings() {
        let c = config("corp");
        let role = |v| mapped_role(&c, &claims(v));
        assert_eq!(
            role(serde_json::json!({"groups": ["x", "keyport-admins"]})),
            Role::Admin
        );
        assert_eq!(
            role(serde_json::json!({"groups": "keyport-publishers"})),
            Role::Publisher
        );
        assert_eq!(
            role(serde_json::json!({"groups": ["keyport-publishers", "keyport-admins"]})),
            Role::Admin
        );
        assert_eq!(role(serde_json::json!({"groups": 7})), Role::Developer);
        assert_eq!(role(serde_json::json!({})), Role::Developer);
    }

    #[test]
    fn a_role_string_is_split_on_whitespace_not_commas() {
        let mut c = config("corp");
        c.publisher_values.push("API Publishers".into());
        let role = |v| mapped_role(&c, &claims(v));
        assert_eq!(
            role(serde_json::json!({"groups": "keyport-admins staff"})),
            Role::Admin
        );
        assert_eq!(
            role(serde_json::json!({"groups": " staff\tkeyport-publishers\n"})),
            Role::Publisher
        );
        assert_eq!(
            role(serde_json::json!({"groups": "API Publishers"})),
            Role::Publisher,
            "the whole string counts too"
        );
        assert_eq!(
            role(serde_json::json!({"groups": "keyport-admins,staff"})),
            Role::Developer
        );
        assert_eq!(
            role(serde_json::json!({"groups": "cn=keyport-admins,ou=groups"})),
            Role::Developer
        );
        assert_eq!(
            role(serde_json::json!({"groups": ["keyport-admins staff"]})),
            Role::Developer,
            "list items are whole values"
        );
        assert_eq!(
            role(serde_json::json!({"groups": "xkeyport-admins keyport-adminsx"})),
            Role::Developer
        );
    }

    #[test]
    fn bad_provider_configuration_is_refused_at_start() {
        assert!(Providers::from_config(&[config("Corp!")], "http://x").is_err());
        assert!(Providers::from_config(&[config("a"), config("a")], "http://x").is_err());
        let mut bad_issuer = config("corp");
        bad_issuer.issuer = "not a url".into();
        assert!(Providers::from_config(&[bad_issuer], "http://x").is_err());
        let ok = Providers::from_config(&[config("corp")], "http://x").unwrap();
        assert_eq!(ok.iter().next().map(|p| p.config.id.as_str()), Some("corp"));
        assert!(ok.by_issuer("https://idp.example.com/").is_some());
    }

    #[test]
    fn secrets_do_not_print() {
        assert!(!format!("{:?}", config("corp")).contains("s3cret"));
    }
}
