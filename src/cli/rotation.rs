//! `rotate`, `status`, `revoke` and `purge-keys`: the rotator driven from the command line.

use std::time::{Duration, Instant};

use cfcookie_config::{self as config, Env};
use cfcookie_rotator::driver::{rotate_in_process, status};
use cfcookie_rotator::model::stage;
use cfcookie_rotator::ports::SecretStore as _;
use cfcookie_rotator::{sdk_rotator_with, Config};
use clap::Args;

use super::{CliError, Outcome};

/// What the rotator maintains, as flags with the `CFCOOKIE_*` variables as fallback.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The secret that holds the key (name or ARN).
    #[arg(long, env = "CFCOOKIE_SECRET_ID")]
    pub secret_id: Option<String>,
    /// The trusted key group to maintain.
    #[arg(long, env = "CFCOOKIE_KEY_GROUP_ID")]
    pub key_group_id: Option<String>,
    /// SSM parameter(s), comma-separated, that receive the active key id (required: the
    /// retirement gate counts from when the first one changed).
    #[arg(long, env = "CFCOOKIE_KEY_ID_PARAMETER")]
    pub key_id_parameter: Option<String>,
    /// Name prefix of managed public keys.
    #[arg(long, env = "CFCOOKIE_KEY_NAME_PREFIX")]
    pub key_name_prefix: Option<String>,
}

impl TargetArgs {
    fn secret(&self) -> Result<&str, CliError> {
        self.secret_id
            .as_deref()
            .ok_or_else(|| CliError::input("--secret-id (or CFCOOKIE_SECRET_ID) is required"))
    }

    /// The rotator's settings from `env`, with this command's flags over them.
    fn config(&self, env: &Env) -> Result<Config, CliError> {
        let mut env = env.clone();
        for (setting, v) in [
            (&config::KEY_GROUP_ID, &self.key_group_id),
            (&config::KEY_ID_PARAMETER, &self.key_id_parameter),
            (&config::KEY_NAME_PREFIX, &self.key_name_prefix),
        ] {
            if let Some(v) = v {
                env.set(setting, v.clone());
            }
        }
        Config::from_settings(&env).map_err(|e| CliError::input(e.to_string()))
    }
}

/// Flags of `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Carry on a rotation left AWSPENDING instead of refusing.
    #[arg(long, conflicts_with = "via_secrets_manager")]
    pub resume: bool,
    /// Ask Secrets Manager to rotate now (RotateSecret, running the deployed Lambda) and wait.
    #[arg(long)]
    pub via_secrets_manager: bool,
    /// With --via-secrets-manager: how long to wait, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Rotate the local key ring of `cfcookie serve --dev` instead (no AWS).
    #[arg(long, conflicts_with_all = ["via_secrets_manager", "resume"])]
    pub dev: bool,
    /// With --dev: the dev state directory.
    #[arg(long, default_value = ".cfcookie-dev")]
    pub state_dir: std::path::PathBuf,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))
}

/// The rotator for a command run on an operator's machine: its clock set to AWS's time. The
/// retirement gate compares now with instants AWS stamped, and a laptop's clock may run fast.
async fn cli_rotator(config: Config, secret: &str) -> cfcookie_rotator::SdkRotator {
    let aws = cfcookie_rotator::sdk::load_aws_config().await;
    let mut rotator = sdk_rotator_with(&aws, config);
    match cfcookie_rotator::sdk::AwsClock::measure(&aws, secret).await {
        Some(clock) => {
            let off = clock.offset().num_seconds();
            if off.abs() >= 5 {
                tracing::warn!(
                    offset_seconds = off,
                    "this machine's clock differs from AWS's; the rotation keeps AWS's time"
                );
            }
            rotator.clock = clock;
        }
        None => tracing::warn!("AWS's time could not be read; the rotation keeps this machine's"),
    }
    rotator
}

pub(super) fn rotate(args: &RotateArgs, env: &Env) -> Result<Outcome, CliError> {
    if args.dev {
        // The same delay as a real rotation: a dev rotation shows the same timeline.
        let delay = env
            .seconds(&config::ACTIVATION_DELAY)
            .map_err(|e| CliError::input(e.to_string()))?;
        let value = crate::dev::DevKeyRing::new(&args.state_dir)
            .rotate(delay)
            .map_err(CliError::input)?;
        let body = serde_json::json!({"key_id": value.key_id, "active_from": value.active_from.to_rfc3339(), "state_dir": args.state_dir});
        return Ok(Outcome::print(body.to_string()));
    }
    let config = args.target.config(env)?;
    let secret = args.target.secret()?.to_owned();
    runtime()?.block_on(async {
        let rotator = cli_rotator(config, &secret).await;
        let secret = &secret;
        if args.via_secrets_manager {
            return via_secrets_manager(&rotator, secret, Duration::from_secs(args.timeout)).await;
        }
        let report = rotate_in_process(&rotator, secret, args.resume)
            .await
            .map_err(|e| CliError::input(e.to_string()))?;
        Ok(Outcome::print(
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        ))
    })
}

async fn via_secrets_manager(
    rotator: &cfcookie_rotator::SdkRotator,
    secret: &str,
    timeout: Duration,
) -> Result<Outcome, CliError> {
    let fail = |e: &dyn std::fmt::Display| CliError::input(e.to_string());
    let out = rotator
        .secrets
        .0
        .rotate_secret()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| {
            CliError::input(format!(
                "RotateSecret: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ))
        })?;
    let token = out.version_id().unwrap_or_default().to_owned();
    let started = Instant::now();
    loop {
        let desc = rotator
            .secrets
            .describe(secret)
            .await
            .map_err(|e| fail(&e))?;
        if desc.has(&token, stage::CURRENT) && !desc.has(&token, stage::PENDING) {
            let report = status(rotator, secret).await.map_err(|e| fail(&e))?;
            let key_id = report
                .versions
                .iter()
                .find(|v| v.id == token)
                .and_then(|v| v.key_id.clone());
            let body = serde_json::json!({"token": token, "key_id": key_id, "seconds": started.elapsed().as_secs()});
            return Ok(Outcome::print(body.to_string()));
        }
        if started.elapsed() > timeout {
            return Err(CliError::input(format!(
                "version {token} is still not AWSCURRENT after {}s; the rotation Lambda's logs say why (see docs/rotation.md, 'A failed rotation')",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(super) fn status_command(args: &TargetArgs, env: &Env) -> Result<Outcome, CliError> {
    let config = args.config(env)?;
    let secret = args.secret()?.to_owned();
    runtime()?.block_on(async {
        let rotator = cli_rotator(config, &secret).await;
        let report = status(&rotator, &secret)
            .await
            .map_err(|e| CliError::input(e.to_string()))?;
        let code = if report.consistent { 0 } else { 1 };
        Ok(Outcome {
            stdout: serde_json::to_string_pretty(&report).unwrap_or_default(),
            code,
        })
    })
}

/// Flags of `purge-keys`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Delete public keys named PREFIX-… (the managed keys of a stack, CFCOOKIE_KEY_NAME_PREFIX).
    #[arg(long, env = "CFCOOKIE_KEY_NAME_PREFIX")]
    pub key_name_prefix: String,
    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

pub(super) fn purge_keys(args: &PurgeArgs) -> Result<Outcome, CliError> {
    use cfcookie_rotator::ports::KeyRegistry as _;
    use cfcookie_rotator::steps::{delete_public_key, Deletion};
    let prefix = format!("{}-", args.key_name_prefix);
    runtime()?.block_on(async {
        let aws = cfcookie_rotator::sdk::load_aws_config().await;
        let registry = cfcookie_rotator::sdk::SdkKeyRegistry::new(&aws);
        let fail = |e: &dyn std::fmt::Display| CliError::input(e.to_string());
        let (mut deleted, mut in_use) = (Vec::new(), Vec::new());
        for key in registry
            .list_public_keys()
            .await
            .map_err(|e| fail(&e))?
            .into_iter()
            .filter(|k| k.name.starts_with(&prefix))
        {
            if args.dry_run {
                deleted.push(key.id);
                continue;
            }
            match delete_public_key(&registry, &key.id)
                .await
                .map_err(|e| fail(&e))?
            {
                Deletion::Deleted => deleted.push(key.id),
                // CloudFront refuses to delete a key a key group still holds: that stack is alive.
                Deletion::InUse => in_use.push(key.id),
            }
        }
        let body =
            serde_json::json!({"deleted": deleted, "in_use": in_use, "dry_run": args.dry_run});
        Ok(Outcome {
            stdout: body.to_string(),
            code: if in_use.is_empty() { 0 } else { 1 },
        })
    })
}

/// Flags of `revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The CloudFront key id to take out of the key group.
    #[arg(long)]
    pub key_id: String,
    /// Do it. Without this flag, only the cost is printed and nothing changes.
    #[arg(long)]
    pub yes: bool,
}

pub(super) fn revoke(args: &RevokeArgs, env: &Env) -> Result<Outcome, CliError> {
    let config = args.target.config(env)?;
    let secret = args.target.secret()?.to_owned();
    if !args.yes {
        let body = serde_json::json!({
            "key_id": args.key_id,
            "changed": false,
            "cost": [
                format!("every cookie signed by {} is refused by CloudFront at once (cookies live up to {}s)", args.key_id, config.cookie_lifetime),
                format!("endpoint instances may keep signing with it for up to {}s (their key cache TTL), and those cookies are refused too", config.key_cache_ttl),
                format!("when it is the current key, an emergency rotation makes a new key that signs only {}s later; until then cookies are refused", config.activation_delay),
                format!("when it is the previous key and the current key is younger than {}s (not active yet), signers still sign with it until the current key's active_from; until then cookies are refused", config.activation_delay),
            ],
            "to_proceed": "run again with --yes",
        });
        return Ok(Outcome {
            stdout: serde_json::to_string_pretty(&body).unwrap_or_default(),
            code: 1,
        });
    }
    runtime()?.block_on(async {
        let rotator = cli_rotator(config, &secret).await;
        let report = cfcookie_rotator::driver::revoke(&rotator, &secret, &args.key_id)
            .await
            .map_err(|e| CliError::input(e.to_string()))?;
        Ok(Outcome::print(
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        ))
    })
}
