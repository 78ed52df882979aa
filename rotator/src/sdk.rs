//! Adapters over the AWS SDK for Rust. Each maps SDK errors to [`ServiceError`] by error code,
//! so NotFound becomes `None`, PreconditionFailed a retry, and so on.

use aws_sdk_cloudfront::types::{KeyGroupConfig, PublicKeyConfig};
use aws_sdk_ssm::types::ParameterType;
pub use cfcookie_secret::sdk::{load_aws_config, map_error, SdkSecretStore};
use cfcookie_secret::sdk::{not_found_is_none, time};

use chrono::{DateTime, Utc};

use crate::check::VersionDates;
use crate::model::{KeyGroupRecord, PublicKeyRecord};
use crate::ports::{Clock, KeyRegistry, ParameterStore, ServiceError, ServiceResult};

/// Every AWS API call the rotator (and `cfcookie rotate`/`status`) makes, as IAM actions. The
/// infra test holds the rotator's IAM policy to exactly this list, and an emulator test holds
/// this list to the calls the adapters really make.
pub const ROTATOR_API_CALLS: &[&str] = &[
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
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

/// CloudFront over the SDK.
#[derive(Debug, Clone)]
pub struct SdkKeyRegistry(pub aws_sdk_cloudfront::Client);

/// SSM over the SDK.
#[derive(Debug, Clone)]
pub struct SdkParameterStore(pub aws_sdk_ssm::Client);

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

impl VersionDates for SdkSecretStore {
    async fn created(
        &self,
        secret_id: &str,
        label: &str,
    ) -> ServiceResult<Option<(String, chrono::DateTime<chrono::Utc>)>> {
        // Versions without a staging label are left out by default (IncludeDeprecated), and a
        // label is on at most one version: the first page that has it is enough.
        let mut pages = self
            .0
            .list_secret_version_ids()
            .secret_id(secret_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_error("ListSecretVersionIds", e))?;
            for v in page.versions() {
                if v.version_stages().iter().any(|s| s == label) {
                    let created = time(v.created_date()).ok_or_else(|| ServiceError::Other {
                        operation: "ListSecretVersionIds",
                        message: "a version without CreatedDate".into(),
                    })?;
                    return Ok(Some((
                        v.version_id().unwrap_or_default().to_owned(),
                        created,
                    )));
                }
            }
        }
        Ok(None)
    }
}

/// The time as AWS keeps it: the local clock corrected by the offset measured against the
/// `Date` header of one Secrets Manager response. `cfcookie rotate` runs on operators'
/// machines, whose clocks may run fast, while the retirement gate (S2) compares now with
/// instants AWS stamped (SSM's LastModifiedDate of the key id parameter): a clock Δ fast would
/// retire the previous key Δ early, while cookies it signed are still valid. The header has
/// whole seconds and is written before the response travels, so an offset under two seconds
/// cannot be told from those and is taken as none; a larger one is corrected to within them.
/// The Lambda runs on AWS's synchronised clocks and uses [`AwsClock::default`].
/// <https://www.rfc-editor.org/rfc/rfc9110#field.date>
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsClock {
    offset: chrono::Duration,
}

impl AwsClock {
    /// The local clock corrected by `offset` (AWS's time minus the local time).
    pub fn with_offset(offset: chrono::Duration) -> AwsClock {
        AwsClock { offset }
    }

    /// AWS's time minus the local time, read from the `Date` of a DescribeSecret of
    /// `secret_id`; `None` when the call fails or its answer carries no usable `Date`.
    pub async fn measure(aws: &aws_config::SdkConfig, secret_id: &str) -> Option<AwsClock> {
        let capture = DateCapture::default();
        let _ = aws_sdk_secretsmanager::Client::new(aws)
            .describe_secret()
            .secret_id(secret_id)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await;
        let (server, local) = capture.taken()?;
        let offset = server - local;
        // Within the header's resolution and the call's latency the two clocks agree: a
        // correction that small would only make now lag AWS's by a fraction of a second.
        Some(AwsClock::with_offset(if offset.num_seconds().abs() < 2 {
            chrono::Duration::zero()
        } else {
            offset
        }))
    }

    /// AWS's time minus the local time.
    pub fn offset(&self) -> chrono::Duration {
        self.offset
    }
}

impl Clock for AwsClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// Keeps the `Date` of a response and the local time it arrived.
#[derive(Debug, Clone, Default)]
struct DateCapture(std::sync::Arc<std::sync::Mutex<Option<Arrival>>>);

/// A response's `Date`, and the local time it arrived.
type Arrival = (DateTime<Utc>, DateTime<Utc>);

impl DateCapture {
    fn taken(&self) -> Option<Arrival> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An HTTP `Date` (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for DateCapture {
    fn name(&self) -> &'static str {
        "DateCapture"
    }

    fn read_before_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let local = Utc::now();
        if let Some(server) = context.response().headers().get("date").and_then(http_date) {
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((server, local));
        }
        Ok(())
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn http_dates_parse_and_the_offset_corrects_the_local_clock() {
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT").map(|t| t.timestamp()),
            Some(784_111_777)
        );
        assert_eq!(http_date("yesterday"), None);
        // A local clock ten minutes fast: AWS's time is ten minutes behind it.
        let clock = AwsClock::with_offset(chrono::Duration::minutes(-10));
        let behind = Utc::now() - clock.now();
        assert!(
            (behind - chrono::Duration::minutes(10)).num_seconds().abs() <= 1,
            "{behind}"
        );
    }
}
