//! Adapters over the AWS SDK for Rust. Each maps SDK errors to [`ServiceError`] by error code,
//! so NotFound becomes `None`, PreconditionFailed a retry, and so on.

use aws_sdk_cloudfront::types::{KeyGroupConfig, PublicKeyConfig};
use aws_sdk_ssm::types::ParameterType;
pub use cfcookie_secret::sdk::{load_aws_config, map_error, SdkSecretStore};
use cfcookie_secret::sdk::{not_found_is_none, time};

use crate::check::VersionDates;
use crate::model::{KeyGroupRecord, PublicKeyRecord};
use crate::ports::{KeyRegistry, ParameterStore, ServiceError, ServiceResult};

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
