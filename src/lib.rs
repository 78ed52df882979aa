//! cfcookie: CloudFront signed cookies for signed-in users, with keys that rotate themselves.
//!
//! # Layout
//! - [`cli`]: the `cfcookie` command line (thin: parses, calls the pieces, prints).
//! - [`time`]: epoch-or-RFC-3339 times.
//!
//! The signer is re-exported as [`signer`]; the rotator as [`rotator`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod time;

pub use cfcookie_signer as signer;
