//! `rotate` and `status`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cfcookie_rotator::driver::{rotate_in_process, status};
use cfcookie_rotator::model::stage;
use cfcookie_rotator::ports::SecretStore as _;
use cfcookie_rotator::{sdk_rotator, Config};
use clap::Args;

use super::{CliError, Outcome};

/// What the rotator maintains, as flags with the `CFCOOKIE_*` variables as fallback.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The secret that holds the key (name or ARN).
    #[arg(long, env = "CFCOOKIE_SECRET_ID")]
    pub secret_id: String,
    /// The trusted key group to maintain.
    #[arg(long, env = "CFCOOKIE_KEY_GROUP_ID")]
    pub key_group_id: Option<String>,
    /// SSM parameter(s), comma-separated, that receive the active key id.
    #[arg(long, env = "CFCOOKIE_KEY_ID_PARAMETER")]
    pub key_id_parameter: Option<String>,
    /// Name prefix of managed public keys.
    #[arg(long, env = "CFCOOKIE_KEY_NAME_PREFIX")]
    pub key_name_prefix: Option<String>,
}

impl TargetArgs {
    fn config(&self) -> Result<Config, CliError> {
        let mut env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("CFCOOKIE_")).collect();
        for (k, v) in [
            ("CFCOOKIE_KEY_GROUP_ID", &self.key_group_id),
            ("CFCOOKIE_KEY_ID_PARAMETER", &self.key_id_parameter),
            ("CFCOOKIE_KEY_NAME_PREFIX", &self.key_name_prefix),
        ] {
            if let Some(v) = v {
                env.insert(k.to_owned(), v.clone());
            }
        }
        Config::from_map(&env).map_err(|e| CliError::input(e.to_string()))
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
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))
}

pub(super) fn rotate(args: &RotateArgs) -> Result<Outcome, CliError> {
    let config = args.target.config()?;
    runtime()?.block_on(async {
        let rotator = sdk_rotator(config).await;
        let secret = &args.target.secret_id;
        if args.via_secrets_manager {
            return via_secrets_manager(&rotator, secret, Duration::from_secs(args.timeout)).await;
        }
        let report = rotate_in_process(&rotator, secret, args.resume).await.map_err(|e| CliError::input(e.to_string()))?;
        Ok(Outcome::print(serde_json::to_string_pretty(&report).unwrap_or_default()))
    })
}

async fn via_secrets_manager(rotator: &cfcookie_rotator::SdkRotator, secret: &str, timeout: Duration) -> Result<Outcome, CliError> {
    let fail = |e: &dyn std::fmt::Display| CliError::input(e.to_string());
    let out = rotator.secrets.0.rotate_secret().secret_id(secret).send().await.map_err(|e| {
        CliError::input(format!("RotateSecret: {}", aws_smithy_types::error::display::DisplayErrorContext(&e)))
    })?;
    let token = out.version_id().unwrap_or_default().to_owned();
    let started = Instant::now();
    loop {
        let desc = rotator.secrets.describe(secret).await.map_err(|e| fail(&e))?;
        if desc.has(&token, stage::CURRENT) && !desc.has(&token, stage::PENDING) {
            let report = status(rotator, secret).await.map_err(|e| fail(&e))?;
            let key_id = report.versions.iter().find(|v| v.id == token).and_then(|v| v.key_id.clone());
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

pub(super) fn status_command(args: &TargetArgs) -> Result<Outcome, CliError> {
    let config = args.config()?;
    runtime()?.block_on(async {
        let rotator = sdk_rotator(config).await;
        let report = status(&rotator, &args.secret_id).await.map_err(|e| CliError::input(e.to_string()))?;
        let code = if report.consistent { 0 } else { 1 };
        Ok(Outcome { stdout: serde_json::to_string_pretty(&report).unwrap_or_default(), code })
    })
}
