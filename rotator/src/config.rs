//! Rotation settings, from `CFCOOKIE_*` environment variables.

use std::collections::HashMap;

use cfcookie_config::{self as config, ConfigError, Env};
use cfcookie_signer::KeyAlgorithm;

use crate::error::RotationError;

// The defaults below are also declared in the shared reader (cfcookie-config), which is what
// reads the environment; a test there checks they agree.
/// Default activation delay: time for CloudFront edges to see the new key group.
pub const DEFAULT_ACTIVATION_DELAY: i64 = 300;
/// Default maximum cookie lifetime.
pub const DEFAULT_COOKIE_LIFETIME: i64 = 3600;
/// Default signer key-cache TTL (how stale a signer's view of the secret may be).
pub const DEFAULT_KEY_CACHE_TTL: i64 = 300;
/// Default managed key name prefix.
pub const DEFAULT_PREFIX: &str = "cfcookie";

/// What the rotator maintains and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `CFCOOKIE_KEY_GROUP_ID` (required): the trusted key group.
    pub key_group_id: String,
    /// `CFCOOKIE_KEY_ID_PARAMETER`: SSM parameter(s), comma-separated, that receive the active key id.
    pub key_id_parameters: Vec<String>,
    /// `CFCOOKIE_KEY_NAME_PREFIX` (default `cfcookie`): managed public keys are named `PREFIX-…`.
    pub key_name_prefix: String,
    /// `CFCOOKIE_ACTIVATION_DELAY` seconds (default 300).
    pub activation_delay: i64,
    /// `CFCOOKIE_COOKIE_LIFETIME` seconds (default 3600).
    pub cookie_lifetime: i64,
    /// `CFCOOKIE_KEY_CACHE_TTL` seconds (default 300): the signers' secret cache TTL.
    pub key_cache_ttl: i64,
    /// `CFCOOKIE_CANARY_URL`: optional URL fetched with pending-key cookies in testSecret.
    pub canary_url: Option<String>,
    /// `CFCOOKIE_CANARY_ATTEMPTS` (default 6): tries, with doubling backoff.
    pub canary_attempts: u32,
    /// `CFCOOKIE_CANARY_BACKOFF_MS` (default 2000): the first wait between tries.
    pub canary_backoff_ms: u64,
    /// `CFCOOKIE_BOOTSTRAP_KEY_NAME`: the exact name of infra's bootstrap public key (no private
    /// half exists), deleted once it is in no key group (docs/decisions/0002).
    pub bootstrap_key_name: Option<String>,
    /// `CFCOOKIE_KEY_ALGORITHM` (default `RSA_2048`, or `ECDSA_P256`): the algorithm of the keys
    /// createSecret makes. A change takes effect at the next rotation.
    pub key_algorithm: KeyAlgorithm,
}

/// `CFCOOKIE_KEY_ALGORITHM`: exactly `RSA_2048` or `ECDSA_P256` (the names the secret's
/// `algorithm` field and infra's `key_algorithm` use), default `RSA_2048`.
pub fn key_algorithm(value: Option<&str>) -> Result<KeyAlgorithm, RotationError> {
    match value {
        None | Some("RSA_2048") => Ok(KeyAlgorithm::Rsa2048),
        Some("ECDSA_P256") => Ok(KeyAlgorithm::EcdsaP256),
        Some(other) => Err(RotationError::Config(format!(
            "CFCOOKIE_KEY_ALGORITHM={other:?} must be RSA_2048 or ECDSA_P256"
        ))),
    }
}

/// `CFCOOKIE_KEY_ID_PARAMETER`, required: finishSecret publishes the new key id there, and the
/// first parameter's LastModifiedDate is the only record of when the current key became
/// current (F). The retirement gate (S2) counts the previous key's last signing from F + TTL;
/// without it, it could count only from `active_from`, which is earlier than F whenever a
/// rotation finishes late (a testSecret or finishSecret retried for hours), and would retire
/// a key whose cookies are still valid.
fn key_id_parameters(env: &Env) -> Result<Vec<String>, RotationError> {
    let names = env.list(&config::KEY_ID_PARAMETER);
    if names.is_empty() {
        return Err(RotationError::Config(
            ConfigError::new(
                &config::KEY_ID_PARAMETER,
                "is required: finishSecret publishes the active key id there, and the retirement gate counts from when it changed (docs/rotation.md, \"The time model\")",
            )
            .to_string(),
        ));
    }
    Ok(names)
}

/// How long testSecret's canary may take in all, so that its worst case ends well inside the
/// rotator Lambda's 120 s timeout (infra/lambdas.tf) with the other calls of the step.
pub const CANARY_BUDGET_SECS: u64 = 80;

impl Config {
    /// Reads settings from a map (tests).
    pub fn from_map(env: &HashMap<String, String>) -> Result<Config, RotationError> {
        Config::from_settings(&Env::from_map(env))
    }

    /// Reads settings through the shared reader (the CLI overlays its flags on it).
    pub fn from_settings(env: &Env) -> Result<Config, RotationError> {
        let bad = |e: ConfigError| RotationError::Config(e.to_string());
        let prefix = env.required(&config::KEY_NAME_PREFIX).map_err(bad)?;
        if prefix.len() > 64
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(bad(ConfigError::new(
                &config::KEY_NAME_PREFIX,
                format!(
                    "{prefix:?} must be 1-64 letters, digits, '-' or '_' (CloudFront key names)"
                ),
            )));
        }
        Ok(Config {
            key_group_id: env.required(&config::KEY_GROUP_ID).map_err(bad)?,
            key_id_parameters: key_id_parameters(env)?,
            key_name_prefix: prefix,
            activation_delay: env.seconds(&config::ACTIVATION_DELAY).map_err(bad)?,
            cookie_lifetime: env.seconds(&config::COOKIE_LIFETIME).map_err(bad)?,
            key_cache_ttl: env.seconds(&config::KEY_CACHE_TTL).map_err(bad)?,
            canary_url: env.text(&config::CANARY_URL),
            canary_attempts: u32::try_from(env.number(&config::CANARY_ATTEMPTS).map_err(bad)?)
                .unwrap_or(u32::MAX),
            canary_backoff_ms: env.number(&config::CANARY_BACKOFF_MS).map_err(bad)?,
            bootstrap_key_name: env.text(&config::BOOTSTRAP_KEY_NAME),
            key_algorithm: key_algorithm(Some(env.choice(&config::KEY_ALGORITHM).map_err(bad)?))?,
        })
    }

    /// The shortest spacing of two scheduled rotations that lets the second retire the key
    /// the first one replaced: the first one's key becomes signable P after it entered the
    /// group, signers drop its predecessor within TTL, and the predecessor's cookies live L.
    pub fn minimum_interval(&self) -> i64 {
        self.cookie_lifetime + self.activation_delay + self.key_cache_ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_map(&map(&[
            ("CFCOOKIE_KEY_GROUP_ID", "g"),
            ("CFCOOKIE_KEY_ID_PARAMETER", "/a, /b"),
        ]))
        .unwrap();
        assert_eq!(c.key_id_parameters, ["/a", "/b"]);
        assert_eq!(
            (c.activation_delay, c.cookie_lifetime, c.key_cache_ttl),
            (300, 3600, 300)
        );
        assert_eq!(c.key_name_prefix, "cfcookie");
        assert_eq!(c.minimum_interval(), 4200);
        assert_eq!(c.key_algorithm, KeyAlgorithm::Rsa2048);
    }

    #[test]
    fn key_algorithm_is_one_of_two_names() {
        let with = |v: &str| {
            Config::from_map(&map(&[
                ("CFCOOKIE_KEY_GROUP_ID", "g"),
                ("CFCOOKIE_KEY_ID_PARAMETER", "/p"),
                ("CFCOOKIE_KEY_ALGORITHM", v),
            ]))
            .map(|c| c.key_algorithm)
        };
        assert_eq!(with("ECDSA_P256").unwrap(), KeyAlgorithm::EcdsaP256);
        assert_eq!(with("RSA_2048").unwrap(), KeyAlgorithm::Rsa2048);
        for bad in ["ECDSA_P384", "RSA_4096", "rsa", "ed25519"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("CFCOOKIE_KEY_ALGORITHM"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_defaults_are_the_readers() {
        let c = Config::from_map(&map(&[
            ("CFCOOKIE_KEY_GROUP_ID", "g"),
            ("CFCOOKIE_KEY_ID_PARAMETER", "/p"),
        ]))
        .unwrap();
        assert_eq!(
            (
                c.activation_delay,
                c.cookie_lifetime,
                c.key_cache_ttl,
                c.key_name_prefix.as_str()
            ),
            (
                DEFAULT_ACTIVATION_DELAY,
                DEFAULT_COOKIE_LIFETIME,
                DEFAULT_KEY_CACHE_TTL,
                DEFAULT_PREFIX
            )
        );
    }

    #[test]
    fn the_key_id_parameter_is_required() {
        for value in [None, Some(""), Some(" , ")] {
            let mut env = map(&[("CFCOOKIE_KEY_GROUP_ID", "g")]);
            if let Some(v) = value {
                env.insert("CFCOOKIE_KEY_ID_PARAMETER".into(), v.into());
            }
            let err = Config::from_map(&env).unwrap_err().to_string();
            assert!(
                err.contains("CFCOOKIE_KEY_ID_PARAMETER") && err.contains("required"),
                "{value:?}: {err}"
            );
        }
    }

    #[test]
    fn refusals() {
        assert!(Config::from_map(&map(&[])).is_err());
        assert!(Config::from_map(&map(&[
            ("CFCOOKIE_KEY_GROUP_ID", "g"),
            ("CFCOOKIE_KEY_ID_PARAMETER", "/p"),
            ("CFCOOKIE_KEY_NAME_PREFIX", "bad prefix!")
        ]))
        .is_err());
        assert!(Config::from_map(&map(&[
            ("CFCOOKIE_KEY_GROUP_ID", "g"),
            ("CFCOOKIE_KEY_ID_PARAMETER", "/p"),
            ("CFCOOKIE_ACTIVATION_DELAY", "-1")
        ]))
        .is_err());
        assert!(Config::from_map(&map(&[
            ("CFCOOKIE_KEY_GROUP_ID", "g"),
            ("CFCOOKIE_KEY_ID_PARAMETER", "/p"),
            ("CFCOOKIE_COOKIE_LIFETIME", "0")
        ]))
        .is_err());
    }
}
