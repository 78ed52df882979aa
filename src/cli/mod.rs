//! The `cfcookie` command line. `main` parses [`Cli`] and calls [`run`].

use cfcookie_config::Env;
use clap::{Parser, Subcommand};

pub mod edge;
pub mod rotation;
pub mod serve;
pub mod signing;

/// CloudFront signed cookies for signed-in users, with keys that rotate themselves.
#[derive(Debug, Parser)]
#[command(name = "cfcookie", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  cfcookie keygen --private-key-out key.pem --public-key-out pub.pem
  cfcookie sign-cookies --url 'https://d111111abcdef8.cloudfront.net/*' \\
      --key-pair-id K2JCJMDEHXQW5F --private-key key.pem --date-less-than 2026-12-01T00:00:00Z
  cfcookie verify --public-key K2JCJMDEHXQW5F=pub.pem \\
      --url https://d111111abcdef8.cloudfront.net/cat.jpg --cookie 'CloudFront-Policy=...; ...'

Exit codes: 0 success (verify: allowed), 1 verify refused, 2 bad input or failure.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a signed URL (canned policy unless a start time, an address, a wildcard or a
    /// distinct --policy-resource calls for a custom one).
    #[command(
        after_help = "Example:\n  cfcookie sign --url https://d111111abcdef8.cloudfront.net/video.mp4 \\\n      --key-pair-id K2JCJMDEHXQW5F --private-key key.pem --date-less-than 2026-12-01T00:00:00Z"
    )]
    Sign(signing::SignArgs),
    /// Print the CloudFront signed cookies for a URL or URL pattern, as JSON or Set-Cookie lines.
    #[command(
        after_help = "Example:\n  cfcookie sign-cookies --url 'https://d111111abcdef8.cloudfront.net/*' \\\n      --key-pair-id K2JCJMDEHXQW5F --private-key key.pem --date-less-than 2026-12-01T00:00:00Z \\\n      --format set-cookie --domain media.example.com\n\nA '*' in --url makes a custom policy (wildcards need one); otherwise the policy is canned and\nthe cookies open exactly that URL."
    )]
    SignCookies(signing::CookieArgs),
    /// Decide as CloudFront would whether a signed URL, or a URL with cookies, is allowed.
    #[command(
        after_help = "Prints {\"allowed\": true|false, \"reason\": CODE, ...} and exits 0 when allowed, 1 when refused.\nReasons: missing_cookie, malformed_policy, bad_signature, unknown_key_id, expired,\nnot_yet_valid, resource_mismatch, ip_mismatch, hash_mismatch.\n\nExample:\n  cfcookie verify --public-key K2JCJMDEHXQW5F=pub.pem --client-ip 192.0.2.7 \\\n      --url 'https://d111111abcdef8.cloudfront.net/cat.jpg?Expires=...&Signature=...&Key-Pair-Id=K2JCJMDEHXQW5F'"
    )]
    Verify(signing::VerifyArgs),
    /// Generate a key pair for CloudFront (RSA-2048 by default).
    #[command(
        after_help = "Example:\n  cfcookie keygen --private-key-out key.pem --public-key-out pub.pem\n  aws cloudfront create-public-key --public-key-config \\\n      \"CallerReference=$(date +%s),Name=my-key,EncodedKey=$(cat pub.pem)\""
    )]
    Keygen(signing::KeygenArgs),
    /// Rotate the signing key now: the four steps in process, as Secrets Manager would run
    /// them (works whether or not rotation is enabled), or --via-secrets-manager.
    #[command(
        after_help = "Reads the rotator's settings (README, \"Configuration\"): CFCOOKIE_KEY_GROUP_ID,\nCFCOOKIE_KEY_ID_PARAMETER, CFCOOKIE_KEY_NAME_PREFIX, CFCOOKIE_ACTIVATION_DELAY,\nCFCOOKIE_COOKIE_LIFETIME, CFCOOKIE_KEY_CACHE_TTL, CFCOOKIE_KEY_ALGORITHM,\nCFCOOKIE_BOOTSTRAP_KEY_NAME, CFCOOKIE_CANARY_URL, CFCOOKIE_CANARY_ATTEMPTS and\nCFCOOKIE_CANARY_BACKOFF_MS, and the standard AWS environment (AWS_REGION,\nAWS_ENDPOINT_URL, credentials). Prints JSON {token, key_id, step_ms, retried}.\n\nExample:\n  CFCOOKIE_KEY_GROUP_ID=2f6c... CFCOOKIE_KEY_ID_PARAMETER=/media/cfcookie/key-id \\\n      cfcookie rotate --secret-id media/cfcookie/signing-key"
    )]
    Rotate(rotation::RotateArgs),
    /// Show the rotation state across Secrets Manager, CloudFront and SSM, and check the
    /// invariants. Exits 0 when consistent, 1 when not.
    #[command(
        after_help = "Example:\n  cfcookie status --secret-id media/cfcookie/signing-key --key-group-id 2f6c...\n\nPrints JSON with \"consistent\": true|false and each broken invariant in \"problems\"."
    )]
    Status(rotation::TargetArgs),
    /// Serve /cookie and /cookie/remove (configured by CFCOOKIE_* variables), or with --dev the
    /// whole flow locally.
    #[command(
        after_help = "Examples:\n  cfcookie serve --dev                      # open the printed URL in a browser\n  CFCOOKIE_USER_POOL_ID=eu-west-1_AbC CFCOOKIE_CLIENT_IDS=4f2... \\\n  CFCOOKIE_SECRET_ID=media/cfcookie/signing-key CFCOOKIE_ALLOWED_HOSTS=media.example.com \\\n      cfcookie serve --listen 0.0.0.0:8080\n\nStops gracefully on SIGTERM or Ctrl-C."
    )]
    Serve(serve::ServeArgs),
    /// Delete a stack's managed public keys after `terraform destroy` (they are the rotator's,
    /// not in Terraform's state). Keys a key group still holds are refused by CloudFront and
    /// listed as in_use (exit 1).
    #[command(
        after_help = "Example:\n  terraform -chdir=infra destroy && cfcookie purge-keys --key-name-prefix media-prod-cfk"
    )]
    PurgeKeys(rotation::PurgeArgs),
    /// Take a leaked key out of the key group now (the emergency path). Every cookie it signed
    /// is refused at once; when it is the current key, an emergency rotation makes a new one
    /// first. Without --yes, prints what it would cost and changes nothing.
    #[command(
        after_help = "Example:\n  cfcookie revoke --secret-id media/cfcookie/signing-key --key-group-id 2f6c... --key-id K2JCJMDEHXQW5F --yes\n\nSee the runbook in docs/rotation.md (\"a key has leaked\")."
    )]
    Revoke(rotation::RevokeArgs),
    /// Serve one CloudFront distribution locally, as its edges would: behaviors, allowed
    /// methods, trusted key groups, policies and OAC, read through the CloudFront API.
    #[command(
        after_help = "Example:\n  AWS_ENDPOINT_URL=http://127.0.0.1:5000 cfcookie edge --distribution-id E2QWRUHAPOMQZL \\\n      --origin abc.lambda-url.us-east-1.on.aws=http://127.0.0.1:8080 --propagation-delay 60\n\nA refusal is CloudFront's status with a header x-cfcookie-refusal: REASON. See docs/edge.md."
    )]
    Edge(edge::EdgeArgs),
}

/// What a command prints and the exit code it ends with.
#[derive(Debug)]
pub struct Outcome {
    /// Printed to stdout, with a final newline.
    pub stdout: String,
    /// Process exit code.
    pub code: i32,
}

impl Outcome {
    fn print(stdout: String) -> Outcome {
        Outcome { stdout, code: 0 }
    }
}

/// A failure reported as one line on stderr with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    message: String,
}

impl CliError {
    /// Bad input or a failed operation.
    pub fn input(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
        }
    }
}

/// A clap value parser that reads a number by the settings reader's rules and bounds, so a
/// flag and its variable accept exactly the same values.
pub(crate) fn number_setting(
    setting: &'static cfcookie_config::Setting,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |v| {
        cfcookie_config::Env::from_pairs([(setting.variable, v)])
            .number(setting)
            .map_err(|e| e.problem)
    }
}

/// Runs one command with the settings `env` (read once, by `main`); flags override them.
pub fn run(cli: Cli, env: &Env) -> Result<Outcome, CliError> {
    if matches!(
        cli.command,
        Command::Rotate(_)
            | Command::Status(_)
            | Command::Serve(_)
            | Command::PurgeKeys(_)
            | Command::Revoke(_)
    ) {
        crate::logging::warn_unknown_settings(env);
    }
    match cli.command {
        Command::Sign(args) => signing::sign(&args, env),
        Command::SignCookies(args) => signing::sign_cookies(&args, env),
        Command::Verify(args) => signing::verify(&args),
        Command::Keygen(args) => signing::keygen(&args),
        Command::Rotate(args) => rotation::rotate(&args, env),
        Command::Status(args) => rotation::status_command(&args, env),
        Command::Serve(args) => serve::serve(&args, env),
        Command::PurgeKeys(args) => rotation::purge_keys(&args),
        Command::Revoke(args) => rotation::revoke(&args, env),
        Command::Edge(args) => edge::edge(&args),
    }
}
