//! The `cfcookie` binaries' shared code: the hosts around the endpoint library and the command
//! line. Backend services depend on `cfcookie-endpoint` instead, which has none of this (no
//! clap, axum, Lambda runtime or rotator).
//!
//! # Layout
//! - [`cli`]: the `cfcookie` command line (thin: parses, calls the pieces, prints); `serve` is
//!   [`cli::serve`], rotation and status [`cli::rotation`], signing [`cli::signing`].
//! - [`serve`]: the plain HTTP server host (axum over hyper).
//! - [`lambda`]: the Lambda host's request adaptation (the `cfcookie-endpoint` binary).
//! - [`dev`]: `serve --dev`: local key ring, a local token issuer, guarded content, walkthrough.
//! - [`prometheus`]: `--metrics-listen`; [`logging`]: log set-up; [`time`]: epoch-or-RFC-3339
//!   times on the command line; [`files`]: writing private files.
//!
//! The whole picture, crates and arrows, is `docs/architecture.md`.
#![forbid(unsafe_code)]
// The command line's --help texts are its doc comments, written for a terminal, not rustdoc.
#![allow(rustdoc::bare_urls)]

pub mod cli;
pub mod dev;
pub mod files;
pub mod lambda;
pub mod logging;
pub mod prometheus;
pub mod serve;
pub mod time;
