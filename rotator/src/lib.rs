//! The four-step Secrets Manager rotation of CloudFront signing keys.
//!
//! # Layout
//! - [`model`]: what the ports return (public keys, key groups); the secret value format
//!   (`cfcookie/1`) is `cfcookie-secret`'s, re-exported here.
//! - [`ports`]: the narrow capabilities rotation needs — [`ports::SecretStore`],
//!   [`ports::KeyRegistry`], [`ports::ParameterStore`], [`ports::KeyGenerator`],
//!   [`ports::Clock`], [`ports::Probe`] — and [`ports::ServiceError`].
//! - [`steps`]: [`steps::Rotator`] with createSecret / setSecret / testSecret / finishSecret,
//!   over any six port implementations ([`Ports`]).
//! - [`driver`]: playing Secrets Manager in process (`cfcookie rotate`), `status` and `revoke`.
//! - [`sdk`]: adapters over the AWS SDK for Rust, and the table of API calls they make.
//! - [`check`]: the scheduled key check (key age, rotation on, the canary once the edges
//!   should trust the current key), independent of viewer traffic.
//! - [`lambda`]: the Lambda handler and its metrics; [`config`]: `CFCOOKIE_*` settings;
//!   [`error`]: errors with stable Lambda error types. Log set-up and the metrics exporter are
//!   `cfcookie-telemetry`'s, shared with the endpoint's Lambda.
//!
//! The in-memory fakes, crash injection and the emulator launcher are test support, in the
//! dev-only `cfcookie-testing` crate (`tests/support`). The crate graph is drawn in
//! `docs/architecture.md`.
#![forbid(unsafe_code)]

pub mod check;
pub mod config;
pub mod driver;
pub mod error;
pub mod lambda;
pub mod model;
pub mod ports;
pub mod sdk;
pub mod steps;

pub use config::Config;
pub use error::RotationError;
pub use steps::{Mode, Ports, Rotator, Step};

/// The rotator wired to AWS.
pub type SdkRotator = Rotator<(
    sdk::SdkSecretStore,
    sdk::SdkKeyRegistry,
    sdk::SdkParameterStore,
    ports::AwsLcKeyGenerator,
    sdk::AwsClock,
    ports::HttpProbe,
)>;

/// Builds the AWS-wired rotator from the standard AWS environment and `config`.
pub async fn sdk_rotator(config: Config) -> SdkRotator {
    sdk_rotator_with(&sdk::load_aws_config().await, config)
}

/// As [`sdk_rotator`], with an AWS configuration already loaded.
pub fn sdk_rotator_with(aws: &aws_config::SdkConfig, config: Config) -> SdkRotator {
    Rotator {
        secrets: sdk::SdkSecretStore::new(aws),
        registry: sdk::SdkKeyRegistry::new(aws),
        params: sdk::SdkParameterStore::new(aws),
        keygen: ports::AwsLcKeyGenerator(config.key_algorithm),
        clock: sdk::AwsClock::default(),
        probe: ports::HttpProbe,
        config,
    }
}
