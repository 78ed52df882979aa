//! CloudFront signed cookies and signed URLs: policies, keys, constant-time signing, and a
//! verifier that answers what CloudFront would.
//!
//! A [`Signer`] holds one [`PrivateKey`] under the id CloudFront gave its public key. It signs a
//! [`Policy`] (what may be fetched, until when, from where) into [`SignedCookies`] or a signed URL,
//! byte-identical to botocore's `CloudFrontSigner` and `@aws-sdk/cloudfront-signer`.
//! [`verify_cookies`] and [`verify_signed_url`] take a [`KeyGroup`] of trusted public keys and a
//! [`ViewerRequest`], and return the [`Grant`] CloudFront would honour or the [`Refusal`] it
//! would answer 403 with.
//!
//! Signing is constant-time: AWS-LC, never the `rsa` crate (RUSTSEC-2023-0071). The one
//! `unsafe` module wraps AWS-LC's SHA-1 signing, which aws-lc-rs does not expose.
//!
//! # Layout
//! The modules are private; everything public is re-exported here.
//! - `policy`: [`Policy`] statements, their compact JSON, [`Ipv4Cidr`], CloudFront's
//!   [`wildcard_match`], [`PolicyError`].
//! - `encoding`: CloudFront's URL-safe base64 ([`base64_encode`], [`base64_decode`]).
//! - `keys`: [`PrivateKey`] and [`PublicKey`], RSA-2048 and ECDSA P-256 (PKCS#1, PKCS#8, SEC1,
//!   encrypted PKCS#8), signing with SHA-1 or SHA-256 on AWS-LC, verification; [`KeyAlgorithm`],
//!   [`HashAlgorithm`], [`KeyError`], [`UnknownHash`].
//! - `legacy_sha1`: SHA-1 signing through AWS-LC's C API, the crate's only `unsafe`.
//! - `sign`: [`Signer`] mints [`SignedPolicy`], [`SignedCookies`], `Set-Cookie` values with
//!   [`CookieAttributes`], and signed URLs ([`browser_url`] encodes a URL as browsers send it);
//!   [`PolicyKind`], [`SameSite`], [`SignError`], [`CookieError`], [`UnknownSameSite`].
//! - `verify`: [`KeyGroup`], [`ViewerRequest`], [`verify_cookies`], [`verify_signed_url`],
//!   [`Grant`], [`Refusal`].
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
//! let request = ViewerRequest::new("https://d111111abcdef8.cloudfront.net/photos/cat.jpg", now + 60)
//!     .with_cookie_header(header.as_str());
//! assert!(cfcookie_signer::verify_cookies(&group, &request).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod encoding;
mod keys;
mod legacy_sha1;
mod policy;
mod sign;
mod verify;

pub use encoding::{decode as base64_decode, encode as base64_encode, sha256_hex};
pub use keys::{HashAlgorithm, KeyAlgorithm, KeyError, PrivateKey, PublicKey, UnknownHash};
pub use policy::{wildcard_match, Ipv4Cidr, Policy, PolicyError};
pub use sign::{
    browser_url, CookieAttributes, CookieError, PolicyKind, SameSite, SignError, SignedCookies,
    SignedPolicy, Signer, UnknownSameSite,
};
pub use verify::{verify_cookies, verify_signed_url, Grant, KeyGroup, Refusal, ViewerRequest};

// The README's example is compiled and run with the doctests, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
