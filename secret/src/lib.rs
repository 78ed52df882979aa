//! The `cfcookie/1` secret format and the Secrets Manager side of it: the one place both the
//! rotator (which writes key pairs) and the endpoint (which reads them to sign) agree on.
//!
//! # Layout
//! - [`mod@format`]: the secret value ([`SecretValue`], [`FORMAT`]), staging labels ([`stage`]),
//!   a secret's description and version references.
//! - [`store`]: the Secrets Manager port ([`SecretStore`]) and the error every AWS port of
//!   this project returns ([`ServiceError`]).
//! - [`sdk`]: [`sdk::SdkSecretStore`], the port over the AWS SDK for Rust, and the error mapping
//!   the other adapters share.
//! - [`schedule`]: how close together a rotation schedule lets two rotations fall.
//! - [`clock`]: [`Clock`], the one abstraction of time, injected everywhere.
//!
//! ```
//! use cfcookie_secret::SecretValue;
//! // Infra's placeholder is not a cfcookie/1 value: "no key yet", not an error.
//! assert!(matches!(SecretValue::parse(r#"{"placeholder":true}"#), Ok(None)));
//! // A value that claims the format but is broken is an error: it must not be replaced silently.
//! assert!(SecretValue::parse(r#"{"format":"cfcookie/1","key_id":"K1"}"#).is_err());
//! ```
#![forbid(unsafe_code)]

pub mod clock;
pub mod format;
pub mod schedule;
#[cfg(feature = "aws")]
pub mod sdk;
pub mod store;

pub use clock::{Clock, SystemClock};
pub use format::{stage, uuid_text, SecretDescription, SecretValue, VersionRef, FORMAT};
pub use schedule::{min_spacing_secs, Spacing};
pub use store::{SecretStore, ServiceError, ServiceResult};
