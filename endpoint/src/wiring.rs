//! Building the deployed endpoint from the environment (`CFCOOKIE_*`), the same for every host:
//! keys from Secrets Manager (with their background refresh) or a file, the Cognito verifier with
//! its JWKS fetched before the first request, and the resource template from SSM.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cfcookie_secret::sdk::{load_aws_config, SdkSecretStore};
use cfcookie_secret::{Clock as _, SystemClock};
use cfcookie_signer::{KeyGroup, Signer};

use cfcookie_config::{self as config, Env};

use crate::endpoint::{Endpoint, EndpointConfig};
use crate::keysource::{
    KeySource, KeyUnavailable, SecretKeySource, SecretsManagerReader, StaticKeySource,
};
use crate::token::{CognitoVerifier, HttpJwks};

/// Every AWS API call the endpoint makes, as IAM actions (the infra test holds the endpoint's
/// role to exactly these).
pub const ENDPOINT_API_CALLS: &[&str] = &["secretsmanager:GetSecretValue", "ssm:GetParameter"];

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WiringError {
    /// A setting is missing, malformed or inconsistent.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The key file cannot be used.
    #[error(transparent)]
    Keys(#[from] crate::keysource::KeyLoadError),
    /// `CFCOOKIE_RESOURCE_PARAMETER` could not be read from SSM.
    #[error("CFCOOKIE_RESOURCE_PARAMETER {name}: {message}")]
    ResourceParameter {
        /// The parameter's name.
        name: String,
        /// SSM's error.
        message: String,
    },
    /// Neither a key file nor a secret is configured, or only half of a key file.
    #[error("{0}")]
    NoKeys(&'static str),
}

async fn read_resource_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<String, WiringError> {
    let out = ssm.get_parameter().name(name).send().await.map_err(|e| {
        WiringError::ResourceParameter {
            name: name.to_owned(),
            message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        }
    })?;
    Ok(out
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_owned())
}

/// Reads `CFCOOKIE_RESOURCE_PARAMETER` (SSM) into `CFCOOKIE_RESOURCE`. Terraform writes the
/// distribution's domain there after creating it: the endpoint's own environment cannot hold
/// it, because the distribution's origin is this function's URL.
async fn with_resource_parameter(
    env: &Env,
    name: &str,
    ssm: &aws_sdk_ssm::Client,
) -> Result<Env, WiringError> {
    let mut env = env.clone();
    let value = read_resource_parameter(ssm, name).await?;
    env.set(&config::RESOURCE, value);
    Ok(env)
}

/// Re-reads `CFCOOKIE_RESOURCE_PARAMETER` every `period` (the key cache TTL, so a changed
/// domain reaches warm instances as fast as a new key does) and swaps a changed template into
/// `resource`. A new value is held to the start-up checks (the whole configuration is read again
/// with it); one that fails them, or a failed read, leaves the template in use and is logged.
pub fn spawn_resource_refresh(
    env: Env,
    ssm: aws_sdk_ssm::Client,
    resource: crate::resource::SharedResource,
    period: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    let name = env.text(&config::RESOURCE_PARAMETER)?;
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            refresh_resource(&env, &ssm, &name, &resource).await;
        }
    }))
}

/// One refresh of [`spawn_resource_refresh`]: reads the parameter and swaps in a changed,
/// valid template.
pub async fn refresh_resource(
    env: &Env,
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    resource: &crate::resource::SharedResource,
) {
    let value = match read_resource_parameter(ssm, name).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "resource refresh failed; keeping the template in use");
            return;
        }
    };
    if resource == &value.as_str() {
        return;
    }
    let mut candidate = env.clone();
    candidate.set(&config::RESOURCE, value.clone());
    match EndpointConfig::from_env(&candidate) {
        Ok((checked, _)) => {
            tracing::info!(parameter = name, resource = %value, "resource template changed");
            resource.set_from(&checked.resource);
        }
        Err(e) => {
            tracing::warn!(parameter = name, error = %e, "new resource template refused; keeping the one in use");
        }
    }
}

/// Logs the active key's age with every key refresh (`key_age_seconds`): infra turns the line
/// into a metric and alarms when the key is older than about two rotation intervals, which a
/// stopped rotation would otherwise never tell anyone.
fn spawn_key_age_log<R: crate::keysource::SecretReader + 'static>(
    source: Arc<SecretKeySource<R>>,
    period: Duration,
) {
    tokio::spawn(async move {
        loop {
            if let Some((key_id, active_from)) = source.current_key() {
                let age = SystemClock.epoch() - active_from;
                tracing::info!(key_id = %key_id, key_age_seconds = age.max(0), "active key age");
            }
            tokio::time::sleep(period).await;
        }
    });
}

/// The key source the environment selects.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyKeySource {
    /// `CFCOOKIE_KEY_FILE` + `CFCOOKIE_KEY_PAIR_ID`.
    File(StaticKeySource),
    /// `CFCOOKIE_SECRET_ID`.
    Secret(Arc<SecretKeySource<SecretsManagerReader<SdkSecretStore>>>),
}

impl KeySource for AnyKeySource {
    fn signer(&self, now: i64) -> Result<Arc<Signer>, KeyUnavailable> {
        match self {
            AnyKeySource::File(k) => k.signer(now),
            AnyKeySource::Secret(k) => k.signer(now),
        }
    }
    fn catch_up(&self, now: i64) -> Option<crate::keysource::CatchUp<'_>> {
        match self {
            AnyKeySource::File(_) => None,
            AnyKeySource::Secret(k) => k.catch_up(now),
        }
    }
    fn key_group(&self) -> KeyGroup {
        match self {
            AnyKeySource::File(k) => k.key_group(),
            AnyKeySource::Secret(k) => k.key_group(),
        }
    }
}

/// The endpoint as deployed: Cognito tokens, keys from Secrets Manager or a file.
pub type DeployedEndpoint = Endpoint<CognitoVerifier<HttpJwks>, AnyKeySource>;

/// Builds the endpoint from `CFCOOKIE_*` variables: loads the keys (and starts their background
/// refresh) and the JWKS before the first request.
pub async fn endpoint_from_env(
    env: &HashMap<String, String>,
) -> Result<DeployedEndpoint, WiringError> {
    endpoint_from(&Env::from_map(env)).await
}

/// As [`endpoint_from_env`], from the settings reader.
pub async fn endpoint_from(env: &Env) -> Result<DeployedEndpoint, WiringError> {
    // One AWS configuration for every client, loaded at most once and only when one is needed:
    // resolving it is part of every cold start.
    let aws = tokio::sync::OnceCell::new();
    let resource_parameter = match env.text(&config::RESOURCE_PARAMETER) {
        Some(name) => {
            let ssm = aws_sdk_ssm::Client::new(aws.get_or_init(load_aws_config).await);
            Some((name, ssm))
        }
        None => None,
    };
    let env = &match &resource_parameter {
        Some((name, ssm)) => with_resource_parameter(env, name, ssm).await?,
        None => env.clone(),
    };
    let (settings, verifier_config) = EndpointConfig::from_env(env)?;
    let ttl = settings.key_cache_ttl;
    let keys = match (env.text(&config::KEY_FILE), env.text(&config::KEY_PAIR_ID), env.text(&config::SECRET_ID)) {
        (Some(file), Some(id), _) => {
            let pass = env.text(&config::KEY_PASSPHRASE).map(String::into_bytes);
            AnyKeySource::File(StaticKeySource::from_file(std::path::Path::new(&file), &id, pass.as_deref())?)
        }
        (Some(_), None, _) => return Err(WiringError::NoKeys("CFCOOKIE_KEY_FILE needs CFCOOKIE_KEY_PAIR_ID (its CloudFront public key id)")),
        (None, _, Some(secret)) => {
            let aws = aws.get_or_init(load_aws_config).await;
            let source = Arc::new(SecretKeySource::new(SecretsManagerReader::new(SdkSecretStore::new(aws), secret)));
            let loaded = source.refresh().await;
            if let Err(e) = &loaded {
                // Start anyway: requests get 503 until a refresh succeeds.
                tracing::error!(error = %e, "cannot load the signing keys yet");
            }
            let now = SystemClock.epoch();
            crate::metrics::key_refresh(loaded.is_ok(), 0.0, source.active_since(now).map(|s| (now - s) as f64));
            source.spawn_refresh(Duration::from_secs(ttl));
            spawn_key_age_log(Arc::clone(&source), Duration::from_secs(ttl));
            AnyKeySource::Secret(source)
        }
        (None, _, None) => return Err(WiringError::NoKeys("set CFCOOKIE_SECRET_ID (keys from Secrets Manager) or CFCOOKIE_KEY_FILE + CFCOOKIE_KEY_PAIR_ID")),
    };
    if let Some((_, ssm)) = resource_parameter {
        spawn_resource_refresh(
            env.clone(),
            ssm,
            settings.resource.clone(),
            Duration::from_secs(ttl),
        );
    }
    let verifier = CognitoVerifier::new(verifier_config, HttpJwks);
    if let Err(e) = verifier.prefetch().await {
        tracing::warn!(error = %e, "cannot fetch the JWKS yet; will retry on the first token");
    }
    Ok(Endpoint {
        verifier,
        keys: Arc::new(keys),
        config: settings,
        clock: Arc::new(SystemClock),
    })
}
