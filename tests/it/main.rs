//! Integration tests of the whole: the real `cfcookie` binary, reference signers, the emulator.
#![allow(unreachable_pub)] // test helpers are shared between modules of one test binary
//!
//! Tools these tests need (node + `tests/node` packages, python3 + botocore/cryptography,
//! openssl) are installed by `scripts/test`; a missing one fails the test, never skips it.

mod util;

/// `serve --dev` in headless Chromium: sign in, protected image, sign out, refused.
mod browser;
/// `cfcookie rotate` and `status` against the emulator, and the built rotator Lambda run
/// through cargo-lambda's Runtime API by the emulator's RotateSecret.
mod cli_rotation;
/// The CLI's signing commands: outputs, exit codes, and refusals of bad input.
mod cli_signing;
/// 240 generated cases compared byte for byte with botocore and @aws-sdk/cloudfront-signer, and
/// checked with `openssl dgst -verify`.
mod conformance;
/// 60+ hostile requests through `serve` (raw TCP) and the Lambda handler (recorded events).
mod corpus;
/// `cfcookie edge`: one distribution from the emulator, viewers signed by botocore and npm,
/// key group propagation, behaviors and what reaches the origin.
mod edge;
/// The cookie endpoint: bad tokens, JWKS, CORS, hosts, real Cognito tokens, Lambda vs server.
mod endpoint;
/// Findings of a security review: one test each (claims, hosts, cookies, timeouts, dev mode).
mod hardening;
/// `CFCOOKIE_KEY_ALGORITHM` switched RSA -> ECDSA -> RSA by rotation under a live `serve`, each
/// cookie checked with openssl against the key group of that moment.
mod key_migration;
/// The built Lambda binary for the endpoint against a local Lambda Runtime API.
mod lambda_host;
/// `docs/architecture.md` against the workspace and the endpoint library's dependency graph.
mod layout;
/// With debug logs on, no token, signature or key material reaches a log line.
mod logs;
/// EMF from the endpoint Lambda, Prometheus from `serve`, docs and README table in step.
mod metrics;
/// The endpoint re-reads its resource template from SSM while it runs.
mod resource_refresh;
/// Key rollover: the endpoint across a rotation run by the rotator against the emulator.
mod rollover;
/// The optional signature cache: shared policies reuse one signature, per-user ones never.
mod signature_cache;
