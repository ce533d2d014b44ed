//! Loading configuration (defaults → optional TOML file → `KEYPORT_*` variables) and the
//! secret key (required in production; generated once and kept under the data folder in dev).

use anyhow::{bail, Context};
use app::platform::state::{Config, Mode};
use base64::Engine;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use std::path::Path;

/// Reads the configuration. `file` comes from `--config` or `KEYPORT_CONFIG`.
pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
    let mut figment = Figment::new();
    if let Some(file) = file {
        if !file.exists() {
            bail!("configuration file {} does not exist", file.display());
        }
        figment = figment.merge(Toml::file(file));
    }
    figment = figment.merge(
        Env::prefixed("KEYPORT_")
            // KEYPORT_CONFIG names the file; KEYPORT_TEST_* belongs to the test suite.
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && !key.starts_with("test_")
            }),
    );
    let config: Config = figment
        .extract()
        .context("invalid configuration (see the configuration table in README.md)")?;
    check_usage_retention(&config)?;
    Ok(config)
}

/// The charts read minutes for the last hour and hours for up to 30 days.
fn check_usage_retention(config: &Config) -> anyhow::Result<()> {
    if config.usage_minute_retention_days < 1 {
        bail!("KEYPORT_USAGE_MINUTE_RETENTION_DAYS must be at least 1 (the last hour's charts read minutes)");
    }
    if config.usage_hour_retention_days < 31 {
        bail!(
            "KEYPORT_USAGE_HOUR_RETENTION_DAYS must be at least 31 (the 30-day charts read hours)"
        );
    }
    let days = config.usage_day_retention_days;
    if days != 0 && days < config.usage_hour_retention_days {
        bail!("KEYPORT_USAGE_DAY_RETENTION_DAYS must be 0 (kept) or at least KEYPORT_USAGE_HOUR_RETENTION_DAYS ({})", config.usage_hour_retention_days);
    }
    Ok(())
}

/// The 32-byte key that encrypts secrets at rest.
pub fn secret_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    if let Some(secret) = &config.secret_key {
        return decode_key(secret.expose()).context(
            "KEYPORT_SECRET_KEY must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)",
        );
    }
    if config.mode == Mode::Production {
        bail!(
            "KEYPORT_SECRET_KEY is required in production mode: set it to 32 random bytes, \
             base64-encoded (e.g. `openssl rand -base64 32`)"
        );
    }
    let path = config.data_dir.join("secret.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return decode_key(text.trim())
            .with_context(|| format!("{} is not a valid key", path.display()));
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    write_private(
        &path,
        &base64::engine::general_purpose::STANDARD.encode(key),
    )?;
    tracing::warn!(path = %path.display(), "dev mode: generated a secret key; set KEYPORT_SECRET_KEY in production");
    Ok(key)
}

fn decode_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("expected 32 bytes, got {}", b.len()))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::platform::state::Secret;

    #[test]
    fn production_without_secret_is_refused() {
        let config = Config {
            mode: Mode::Production,
            ..Config::default()
        };
        let err = secret_key(&config).unwrap_err().to_string();
        assert!(err.contains("KEYPORT_SECRET_KEY is required"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config {
            secret_key: Some(Secret::new("c2VjcmV0".into())),
            database_url: Secret::new("postgres://u:pw@h/db".into()),
            ..Config::default()
        };
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("c2VjcmV0") && !printed.contains("pw@h"),
            "{printed}"
        );
    }

    #[test]
    fn explicit_key_must_be_32_bytes() {
        let config = Config {
            secret_key: Some(Secret::new("dG9vIHNob3J0".into())),
            ..Config::default()
        };
        assert!(secret_key(&config).is_err());
    }
}

#[cfg(test)]
mod oidc_config_tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure signature, not ours
    fn test_suite_variables_are_not_configuration_but_typos_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KEYPORT_TEST_POSTGRES_URL", "postgres://x");
            jail.set_env("KEYPORT_LISTEN", "127.0.0.1:4000");
            let config = load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.port(), 4000);
            jail.set_env("KEYPORT_LSITEN", "127.0.0.1:4001");
            assert!(
                load(None).is_err(),
                "an unknown key is an error, not ignored"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure signature, not ours
    fn oidc_providers_come_from_one_environment_variable_with_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "KEYPORT_OIDC_PROVIDERS",
                r#"[{id="corp", label="Corp SSO", issuer="https://idp.example.com", client_id="keyport", client_secret="s3cret", admin_values=["keyport-admins"]}]"#,
            );
            let config = load(None).map_err(|e| e.to_string())?;
            let p = &config.oidc_providers[0];
            assert_eq!((p.id.as_str(), p.label.as_str()), ("corp", "Corp SSO"));
            assert_eq!(p.scopes, ["openid", "email", "profile"]);
            assert_eq!(p.role_claim, "groups");
            assert_eq!(p.admin_values, ["keyport-admins"]);
            assert!(p.publisher_values.is_empty());
            assert_eq!(p.client_secret.expose(), "s3cret");
            assert!(!format!("{config:?}").contains("s3cret"));
            Ok(())
        });
    }
}

#[cfg(test)]
mod usage_retention_tests {
    use super::*;

    #[test]
    fn usage_retention_too_short_for_the_charts_is_refused_with_the_variable_named() {
        let check = |minute, hour, day| {
            check_usage_retention(&Config {
                usage_minute_retention_days: minute,
                usage_hour_retention_days: hour,
                usage_day_retention_days: day,
                ..Config::default()
            })
            .map_err(|e| e.to_string())
        };
        assert_eq!(check(2, 90, 0), Ok(()));
        assert_eq!(check(1, 31, 400), Ok(()));
        assert!(check(0, 90, 0)
            .unwrap_err()
            .contains("KEYPORT_USAGE_MINUTE_RETENTION_DAYS"));
        assert!(check(2, 30, 0)
            .unwrap_err()
            .contains("KEYPORT_USAGE_HOUR_RETENTION_DAYS"));
        assert!(check(2, 90, 60)
            .unwrap_err()
            .contains("KEYPORT_USAGE_DAY_RETENTION_DAYS"));
    }
}
