//! cfcookie: CloudFront signed cookies for signed-in users, with keys that rotate themselves.
//!
//! # Layout
//! - [`token`]: Cognito JWT verification (JWKS cache, aws-jwt-verify's checks).
//! - [`keysource`]: the key to sign with: Secrets Manager (cached, `active_from`-aware) or a file.
//! - [`endpoint`]: `/cookie` and `/cookie/remove`, independent of the host.
//! - [`server`]: the HTTP server host and wiring from the environment; the Lambda host is the
//!   `cfcookie-endpoint` binary.
//! - [`sigcache`]: the optional cache of signatures for identical policies.
//! - [`dev`]: `serve --dev`: local key ring, dev token issuer, guarded content, walkthrough.
//! - [`cli`]: the `cfcookie` command line (thin: parses, calls the pieces, prints).
//! - [`time`]: epoch-or-RFC-3339 times; [`logging`]: log set-up; [`metrics`]: the endpoint's
//!   metrics (names documented in `docs/metrics.md`).
//! - [`resource`]: the endpoint's resource template, refreshed from SSM while it runs.
//!
//! - [`issuer`]: library use by backend services ([`Issuer`]).
//!
//! The signer is re-exported as [`signer`].
//!
//! # Issuing cookies from a backend service
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! // In production: `cfcookie::Issuer::from_secret("media/cfcookie/signing-key").await?`,
//! // which follows the rotator's keys (cache, activation delay, previous key).
//! let issuer = cfcookie::Issuer::from_key_file("signer/tests/data/rsa2048.pkcs8.pem", "K2JCJMDEHXQW5F")?;
//! let issued = issuer.cookies("https://media.example.com/users/42/*", Duration::from_secs(900))?;
//! assert_eq!(issued.set_cookie.len(), 3);
//! assert!(issued.set_cookie[0].starts_with("CloudFront-Policy="));
//! let url = issuer.signed_url("https://media.example.com/users/42/report.pdf", Duration::from_secs(3600))?;
//! assert!(url.contains("&Signature=") && url.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod cli;
pub mod dev;
pub mod endpoint;
pub mod issuer;
pub mod keysource;
pub mod logging;
pub mod metrics;
pub mod resource;
pub mod server;
pub mod sigcache;
pub mod time;
pub mod token;

pub use cfcookie_signer as signer;
pub use issuer::Issuer;
