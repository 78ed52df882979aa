//! Secrets Manager over the AWS SDK for Rust, and the error mapping every AWS adapter of this
//! project uses (by AWS error code, so NotFound becomes `None`, PreconditionFailed a retry...).

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use zeroize::Zeroizing;

use crate::format::{SecretDescription, VersionRef};
use crate::schedule::{min_spacing_secs, Spacing};
use crate::store::{SecretStore, ServiceError, ServiceResult};

/// Maps an SDK error by its AWS error code.
pub fn map_error<E>(operation: &'static str, err: E) -> ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or_default().to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    match code.as_str() {
        "ResourceNotFoundException"
        | "NoSuchPublicKey"
        | "NoSuchResource"
        | "ParameterNotFound" => ServiceError::NotFound(format!("{code}: {message}")),
        "PreconditionFailed" => ServiceError::PreconditionFailed,
        "PublicKeyInUse" => ServiceError::InUse,
        "TooManyPublicKeysInKeyGroup" => ServiceError::TooManyKeys,
        "TooManyPublicKeys" => ServiceError::QuotaExceeded(format!("{code}: {message}")),
        "ResourceExistsException" | "PublicKeyAlreadyExists" => {
            ServiceError::AlreadyExists(format!("{code}: {message}"))
        }
        _ => ServiceError::Other {
            operation,
            message: DisplayErrorContext(&err).to_string(),
        },
    }
}

pub fn not_found_is_none<T>(r: ServiceResult<T>) -> ServiceResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ServiceError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Loads the standard AWS configuration (environment, profile, `AWS_ENDPOINT_URL`), with
/// retries of throttling and 5xx (5 attempts, exponential backoff with jitter).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await
}

/// Secrets Manager over the SDK.
#[derive(Debug, Clone)]
pub struct SdkSecretStore(pub aws_sdk_secretsmanager::Client);

impl SdkSecretStore {
    /// From a loaded configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkSecretStore(aws_sdk_secretsmanager::Client::new(config))
    }
}

/// Converts an AWS SDK timestamp.
pub fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

impl SecretStore for SdkSecretStore {
    async fn describe(&self, secret_id: &str) -> ServiceResult<SecretDescription> {
        let out = self
            .0
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| map_error("DescribeSecret", e))?;
        let rules = out.rotation_rules();
        Ok(SecretDescription {
            arn: out.arn().unwrap_or_default().to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            rotation_spacing: rules.map_or(Spacing::Unscheduled, |r| {
                min_spacing_secs(
                    r.automatically_after_days(),
                    r.schedule_expression(),
                    r.duration(),
                )
            }),
            versions: out
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    async fn get_value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> ServiceResult<Option<Zeroizing<String>>> {
        let mut req = self.0.get_secret_value().secret_id(secret_id);
        req = match version {
            VersionRef::Stage(label) => req.version_stage(label),
            VersionRef::IdAndStage(id, label) => req.version_id(id).version_stage(label),
        };
        let out = not_found_is_none(req.send().await.map_err(|e| map_error("GetSecretValue", e)))?;
        Ok(out.and_then(|o| o.secret_string().map(|s| Zeroizing::new(s.to_owned()))))
    }

    async fn put_value(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
        label: &str,
    ) -> ServiceResult<()> {
        self.0
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value)
            .version_stages(label)
            .send()
            .await
            .map_err(|e| map_error("PutSecretValue", e))?;
        Ok(())
    }

    async fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> ServiceResult<()> {
        self.0
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(label)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map_err(|e| map_error("UpdateSecretVersionStage", e))?;
        Ok(())
    }
}
