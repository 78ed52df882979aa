//! cfcookie: CloudFront signed cookies for signed-in users, with keys that rotate themselves.
//!
//! # Layout
//! - [`token`]: Cognito JWT verification (JWKS cache, aws-jwt-verify's checks).
//! - [`keysource`]: the key to sign with: Secrets Manager (cached, `active_from`-aware) or a file.
//! - [`endpoint`]: `/cookie` and `/cookie/remove`, independent of the host.
//! - [`server`]: the HTTP server host and wiring from the environment; the Lambda host is the
//!   `cfcookie-endpoint` binary.
//! - [`dev`]: `serve --dev`: local key ring, dev token issuer, guarded content, walkthrough.
//! - [`cli`]: the `cfcookie` command line (thin: parses, calls the pieces, prints).
//! - [`time`]: epoch-or-RFC-3339 times; [`logging`]: log set-up.
//!
//! The signer is re-exported as [`signer`]; the rotator as [`rotator`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod dev;
pub mod endpoint;
pub mod keysource;
pub mod logging;
pub mod server;
pub mod time;
pub mod token;

pub use cfcookie_signer as signer;
