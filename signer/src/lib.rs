//! CloudFront signed cookies and signed URLs: policies, keys, constant-time signing, and a
//! verifier that answers what CloudFront would.
//!
//! # Layout
//! - [`policy`]: policy statements, their compact JSON, CloudFront's wildcard match.
//! - [`encoding`]: CloudFront's URL-safe base64.
//! - [`keys`]: RSA-2048 and ECDSA P-256 keys (PKCS#1, PKCS#8, SEC1, encrypted PKCS#8), signing
//!   with SHA-1 or SHA-256 on AWS-LC, verification.
//! - [`sign`]: [`Signer`] mints cookie sets, `Set-Cookie` values and signed URLs.
//! - [`verify`]: [`KeyGroup`] and the CloudFront-equivalent decision, with a [`Refusal`] reason.
//!
//! Signing is constant-time: AWS-LC, never the `rsa` crate (RUSTSEC-2023-0071). The one
//! `unsafe` module wraps AWS-LC's SHA-1 signing, which aws-lc-rs does not expose.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use cfcookie_signer::{CookieAttributes, KeyAlgorithm, KeyGroup, Policy, PrivateKey, Signer, ViewerRequest};
//!
//! let key = Arc::new(PrivateKey::generate(KeyAlgorithm::Rsa2048)?);
//! let signer = Signer::new("K2JCJMDEHXQW5F", key.clone())?;
//!
//! // Everything under the distribution, for an hour from 2026-11-22T10:00:00Z.
//! let now = 1_795_341_600;
//! let policy = Policy::new("https://d111111abcdef8.cloudfront.net/*", now + 3600);
//! let cookies = signer.cookies(&policy)?;
//! for header in cookies.set_cookie_headers(&CookieAttributes::default()) {
//!     assert!(header.starts_with("CloudFront-"));
//! }
//!
//! // What CloudFront would decide for a request carrying them.
//! let mut group = KeyGroup::new();
//! group.insert("K2JCJMDEHXQW5F", key.public_key().clone());
//! let header = cookies.cookie_header();
//! let request = ViewerRequest {
//!     url: "https://d111111abcdef8.cloudfront.net/photos/cat.jpg",
//!     cookie_header: Some(&header),
//!     client_ip: None,
//!     now: now + 60,
//! };
//! assert!(cfcookie_signer::verify_cookies(&group, &request).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod encoding;
pub mod keys;
mod legacy_sha1;
pub mod policy;
pub mod sign;
pub mod verify;

pub use keys::{HashAlgorithm, KeyAlgorithm, KeyError, PrivateKey, PublicKey};
pub use policy::{Ipv4Cidr, Policy, PolicyError};
pub use sign::{
    CookieAttributes, PolicyKind, SameSite, SignError, SignedCookies, SignedPolicy, Signer,
};
pub use verify::{verify_cookies, verify_signed_url, Grant, KeyGroup, Refusal, ViewerRequest};
