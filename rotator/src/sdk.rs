//! Adapters over the AWS SDK for Rust. Each maps SDK errors to [`ServiceError`] by error code,
//! so NotFound becomes `None`, PreconditionFailed a retry, and so on.

use aws_sdk_cloudfront::types::{KeyGroupConfig, PublicKeyConfig};
use aws_sdk_ssm::types::ParameterType;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use zeroize::Zeroizing;

use crate::model::{
    min_spacing_secs, KeyGroupRecord, PublicKeyRecord, SecretDescription, VersionRef,
};
use crate::ports::{KeyRegistry, ParameterStore, SecretStore, ServiceError, ServiceResult};

/// Every AWS API call the rotator (and `cfcookie rotate`/`status`) makes, as IAM actions. The
/// infra test holds the rotator's IAM policy to exactly this list, and an emulator test holds
/// this list to the calls the adapters really make.
pub const ROTATOR_API_CALLS: &[&str] = &[
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "cloudfront:CreatePublicKey",
    "cloudfront:ListPublicKeys",
    "cloudfront:GetPublicKey",
    "cloudfront:DeletePublicKey",
    "cloudfront:GetKeyGroup",
    "cloudfront:UpdateKeyGroup",
    "ssm:GetParameter",
    "ssm:PutParameter",
];

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

fn not_found_is_none<T>(r: ServiceResult<T>) -> ServiceResult<Option<T>> {
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

/// CloudFront over the SDK.
#[derive(Debug, Clone)]
pub struct SdkKeyRegistry(pub aws_sdk_cloudfront::Client);

/// SSM over the SDK.
#[derive(Debug, Clone)]
pub struct SdkParameterStore(pub aws_sdk_ssm::Client);

impl SdkSecretStore {
    /// From a loaded configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkSecretStore(aws_sdk_secretsmanager::Client::new(config))
    }
}

impl SdkKeyRegistry {
    /// From a loaded configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkKeyRegistry(aws_sdk_cloudfront::Client::new(config))
    }
}

impl SdkParameterStore {
    /// From a loaded configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkParameterStore(aws_sdk_ssm::Client::new(config))
    }
}

/// Converts an AWS SDK timestamp.
fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
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
            rotation_interval_secs: rules.and_then(|r| {
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

impl KeyRegistry for SdkKeyRegistry {
    async fn create_public_key(
        &self,
        name: &str,
        caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> ServiceResult<String> {
        let config = PublicKeyConfig::builder()
            .caller_reference(caller_reference)
            .name(name)
            .encoded_key(encoded_key)
            .comment(comment)
            .build()
            .map_err(|e| ServiceError::Other {
                operation: "CreatePublicKey",
                message: e.to_string(),
            })?;
        let out = self
            .0
            .create_public_key()
            .public_key_config(config)
            .send()
            .await
            .map_err(|e| map_error("CreatePublicKey", e))?;
        out.public_key()
            .map(|k| k.id().to_owned())
            .ok_or_else(|| ServiceError::Other {
                operation: "CreatePublicKey",
                message: "no key in the answer".into(),
            })
    }

    async fn list_public_keys(&self) -> ServiceResult<Vec<PublicKeyRecord>> {
        let mut keys = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .0
                .list_public_keys()
                .set_marker(marker.clone())
                .max_items(100)
                .send()
                .await
                .map_err(|e| map_error("ListPublicKeys", e))?;
            let Some(list) = out.public_key_list() else {
                break;
            };
            for k in list.items() {
                keys.push(PublicKeyRecord {
                    id: k.id().to_owned(),
                    name: k.name().to_owned(),
                    encoded_key: k.encoded_key().to_owned(),
                    comment: k.comment().unwrap_or_default().to_owned(),
                    created_at: time(Some(k.created_time())),
                });
            }
            match list.next_marker().filter(|m| !m.is_empty()) {
                Some(m) if Some(m) != marker.as_deref() => marker = Some(m.to_owned()),
                _ => break,
            }
        }
        Ok(keys)
    }

    async fn get_public_key(&self, id: &str) -> ServiceResult<Option<(PublicKeyRecord, String)>> {
        let out = not_found_is_none(
            self.0
                .get_public_key()
                .id(id)
                .send()
                .await
                .map_err(|e| map_error("GetPublicKey", e)),
        )?;
        Ok(out.and_then(|o| {
            let etag = o.e_tag().unwrap_or_default().to_owned();
            o.public_key().and_then(|k| {
                k.public_key_config().map(|c| {
                    let record = PublicKeyRecord {
                        id: k.id().to_owned(),
                        name: c.name().to_owned(),
                        encoded_key: c.encoded_key().to_owned(),
                        comment: c.comment().unwrap_or_default().to_owned(),
                        created_at: time(Some(k.created_time())),
                    };
                    (record, etag)
                })
            })
        }))
    }

    async fn delete_public_key(&self, id: &str, etag: &str) -> ServiceResult<()> {
        self.0
            .delete_public_key()
            .id(id)
            .if_match(etag)
            .send()
            .await
            .map_err(|e| map_error("DeletePublicKey", e))?;
        Ok(())
    }

    async fn get_key_group(&self, id: &str) -> ServiceResult<Option<KeyGroupRecord>> {
        let out = not_found_is_none(
            self.0
                .get_key_group()
                .id(id)
                .send()
                .await
                .map_err(|e| map_error("GetKeyGroup", e)),
        )?;
        Ok(out.and_then(|o| {
            let etag = o.e_tag().unwrap_or_default().to_owned();
            o.key_group().and_then(|g| {
                g.key_group_config().map(|c| KeyGroupRecord {
                    id: g.id().to_owned(),
                    name: c.name().to_owned(),
                    items: c.items().to_vec(),
                    comment: c.comment().unwrap_or_default().to_owned(),
                    etag,
                    last_modified: time(Some(g.last_modified_time())),
                })
            })
        }))
    }

    async fn update_key_group(&self, group: &KeyGroupRecord) -> ServiceResult<String> {
        let config = KeyGroupConfig::builder()
            .name(&group.name)
            .set_items(Some(group.items.clone()))
            .set_comment((!group.comment.is_empty()).then(|| group.comment.clone()))
            .build()
            .map_err(|e| ServiceError::Other {
                operation: "UpdateKeyGroup",
                message: e.to_string(),
            })?;
        let out = self
            .0
            .update_key_group()
            .id(&group.id)
            .if_match(&group.etag)
            .key_group_config(config)
            .send()
            .await
            .map_err(|e| map_error("UpdateKeyGroup", e))?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }
}

impl ParameterStore for SdkParameterStore {
    async fn get(&self, name: &str) -> ServiceResult<Option<String>> {
        let out = not_found_is_none(
            self.0
                .get_parameter()
                .name(name)
                .send()
                .await
                .map_err(|e| map_error("GetParameter", e)),
        )?;
        Ok(out.and_then(|o| o.parameter().and_then(|p| p.value().map(str::to_owned))))
    }

    async fn get_dated(
        &self,
        name: &str,
    ) -> ServiceResult<Option<(String, chrono::DateTime<chrono::Utc>)>> {
        let out = not_found_is_none(
            self.0
                .get_parameter()
                .name(name)
                .send()
                .await
                .map_err(|e| map_error("GetParameter", e)),
        )?;
        Ok(out.and_then(|o| {
            o.parameter().and_then(|p| {
                let at = time(p.last_modified_date()).unwrap_or_else(chrono::Utc::now);
                p.value().map(|v| (v.to_owned(), at))
            })
        }))
    }

    async fn put(&self, name: &str, value: &str) -> ServiceResult<()> {
        self.0
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| map_error("PutParameter", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_intervals() {
        // The window shortens the spacing: the last instant of one window to the first of the
        // next. DescribeSecret's recomputed AutomaticallyAfterDays never overrides the expression.
        assert_eq!(min_spacing_secs(Some(30), None, None), Some(29 * 86_400));
        assert_eq!(
            min_spacing_secs(None, Some("rate(4 hours)"), None),
            Some(10_800)
        );
        assert_eq!(
            min_spacing_secs(Some(1), Some("rate(4 hours)"), Some("2h")),
            Some(7_200)
        );
        assert_eq!(min_spacing_secs(None, Some("rate(1 day)"), None), Some(0));
        assert_eq!(
            min_spacing_secs(None, Some("rate(2 days)"), Some("3h")),
            Some(162_000)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 * * ? *)"), None),
            Some(28_800)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 * * ? *)"), Some("1h")),
            Some(82_800)
        );
        assert_eq!(
            min_spacing_secs(None, Some("cron(0 8 ? * MON *)"), None),
            None
        );
        assert_eq!(min_spacing_secs(Some(0), None, None), None);
    }
}
