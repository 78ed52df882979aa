//! cfcookie's endpoint library: verify a signed-in user's Amazon Cognito token and answer with
//! CloudFront signed cookies, signed by the key the rotator keeps fresh in Secrets Manager. The
//! same code runs in the `/cookie` endpoint (behind any host) and in backend services that issue
//! cookies or signed URLs themselves ([`Issuer`]).
//!
//! It knows nothing of HTTP servers, Lambda or the command line (those hosts live in the
//! `cfcookie` binaries), and nothing of CloudFront's API (that is the rotator's).
//!
//! # Layout
//! The modules are private; what they offer is re-exported here.
//! - `token`: Cognito JWT verification ([`CognitoVerifier`]: JWKS cache, aws-jwt-verify's
//!   checks).
//! - `keysource`: the key to sign with ([`KeySource`]): Secrets Manager ([`SecretKeySource`],
//!   cached, `active_from`-aware) or a file ([`StaticKeySource`]).
//! - `endpoint`: `/cookie` and `/cookie/remove` as a function of method, path and headers
//!   ([`Endpoint::handle`]).
//! - `sigcache`: the optional cache of signatures for identical policies ([`SignatureCache`]).
//! - `resource`: the resource template, refreshed from SSM while the endpoint runs.
//! - `issuer`: library use by backend services ([`Issuer`]).
//! - [`wiring`]: the deployed endpoint built from `CFCOOKIE_*` settings, for every host.
//! - [`metrics`]: the endpoint's metrics (names documented in `docs/metrics.md`).
//!
//! The secret format is `cfcookie-secret`'s; time comes from its [`Clock`]; the signer is
//! re-exported as [`signer`].
//!
//! # Issuing cookies from a backend service
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! // In production: `cfcookie_endpoint::Issuer::from_secret("media/cfcookie/signing-key", Duration::from_secs(300)).await?`,
//! // which follows the rotator's keys (cache, activation delay, previous key).
//! let key = concat!(env!("CARGO_MANIFEST_DIR"), "/../signer/tests/data/rsa2048.pkcs8.pem");
//! let issuer = cfcookie_endpoint::Issuer::from_key_file(key, "K2JCJMDEHXQW5F")?;
//! let issued = issuer.cookies("https://media.example.com/users/42/*", Duration::from_secs(900))?;
//! assert_eq!(issued.set_cookie.len(), 3);
//! assert!(issued.set_cookie[0].starts_with("CloudFront-Policy="));
//! let url = issuer.signed_url("https://media.example.com/users/42/report.pdf", Duration::from_secs(3600))?;
//! assert!(url.contains("&Signature=") && url.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod endpoint;
mod issuer;
mod keysource;
pub mod metrics;
mod resource;
mod sigcache;
mod token;
#[cfg(feature = "aws")]
pub mod wiring;

pub use cfcookie_secret::{Clock, SystemClock};
pub use cfcookie_signer as signer;
pub use endpoint::{Endpoint, EndpointConfig, ResourceTemplate, TemplateError, TokenVerifier};
pub use issuer::{IssueError, IssuedCookies, Issuer};
pub use keysource::{
    CatchUp, KeyLoadError, KeySource, KeyUnavailable, SecretKeySource, SecretReader,
    SecretsManagerReader, StaticKeySource, CATCH_UP_WAIT,
};
pub use resource::SharedResource;
pub use sigcache::SignatureCache;
pub use token::{
    Claims, CognitoVerifier, HttpJwks, JwksFetcher, TokenError, TokenUse, VerifierConfig,
};
