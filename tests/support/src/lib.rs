//! Test support for cfcookie's crates, never shipped: a dev-dependency only.
//!
//! # Layout
//! - [`memory`]: in-memory fakes of Secrets Manager, CloudFront and SSM that refuse what the
//!   real services refuse.
//! - [`faults`]: crash injection around any port ([`faults::Faulty`]).
//! - [`emulator`]: starts the project's AWS emulator (moto server plus the project's extension).
//! - [`FixedClock`], a clock tests move; [`NoProbe`], a canary that is never configured;
//!   [`rotator_config`], a rotator configuration without an environment.
#![forbid(unsafe_code)]

pub mod emulator;
pub mod faults;
pub mod memory;

pub use cfcookie_secret::clock::FixedClock;

use cfcookie_rotator::config::{
    Config, DEFAULT_ACTIVATION_DELAY, DEFAULT_COOKIE_LIFETIME, DEFAULT_KEY_CACHE_TTL,
    DEFAULT_PREFIX,
};
use cfcookie_rotator::ports::Probe;
use cfcookie_signer::KeyAlgorithm;

/// No canary configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    async fn fetch(&self, _url: &str, _cookie_header: &str) -> Result<u16, String> {
        Err("no canary configured".into())
    }
}

/// A rotator configuration for tests: the defaults, no environment, no canary.
pub fn rotator_config(key_group_id: &str, parameter: &str) -> Config {
    Config {
        key_group_id: key_group_id.to_owned(),
        key_id_parameters: vec![parameter.to_owned()],
        key_name_prefix: DEFAULT_PREFIX.to_owned(),
        activation_delay: DEFAULT_ACTIVATION_DELAY,
        cookie_lifetime: DEFAULT_COOKIE_LIFETIME,
        key_cache_ttl: DEFAULT_KEY_CACHE_TTL,
        canary_url: None,
        canary_attempts: 1,
        canary_backoff_ms: 2000,
        bootstrap_key_name: None,
        key_algorithm: KeyAlgorithm::Rsa2048,
    }
}
