//! What cfcookie's binaries share to be observed: the log set-up (JSON lines for the Lambdas
//! and servers, text for the CLI, with the filter that keeps tokens, cookies and keys out of
//! every log) and the CloudWatch Embedded Metric Format exporter of both Lambdas. A crate of its
//! own so that the endpoint's Lambda and the rotator's take it without taking each other.
//!
//! # Layout
//! - `logging`: [`logging::filter`], [`logging::init_json`], [`logging::init_text`],
//!   [`logging::warn_unknown_settings`].
//! - `emf`: [`emf::install`] and [`emf::flush`], the metrics recorder of the Lambdas.
#![forbid(unsafe_code)]

pub mod emf;
pub mod logging;
