//! The scheduled key check: a signal of the signing key's age that does not depend on viewer
//! traffic (docs/decisions/0005-key-age-check.md).
//!
//! EventBridge Scheduler invokes the rotator Lambda every few minutes with
//! `{"Check": "keyAge", "SecretId": ARN}`. The check
//! - sets the gauge [`metric::KEY_AGE`] to the age of the secret's AWSCURRENT version (from its
//!   CreatedDate, so it counts from deploy while only the placeholder exists) whatever else
//!   happens, and
//! - fails with `Rotation.NotEnabled` when rotation is off, so a stack whose rotation was turned
//!   off pages within minutes instead of after two rotation intervals, and
//! - once the edges should trust the current key (its `active_from`), verifies it against
//!   CloudFront and runs the canary on it: a canary refusal that testSecret let pass because
//!   the edges still had time is judged here.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing::info;

use crate::error::RotationError;
use crate::model::stage;
use crate::ports::{Clock, SecretStore, ServiceResult};
use crate::steps::{Ports, Rotator};

/// The value of `Check` that asks for this check.
pub const KEY_AGE: &str = "keyAge";

/// The event the schedule sends (its target's `Input`).
#[derive(Debug, Clone, Deserialize)]
pub struct CheckEvent {
    /// Which check: [`KEY_AGE`].
    #[serde(rename = "Check")]
    pub check: String,
    /// Secret ARN.
    #[serde(rename = "SecretId")]
    pub secret_id: String,
}

/// When each version of a secret was created: Secrets Manager's ListSecretVersionIds
/// (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecretVersionIds.html>,
/// `Versions[].CreatedDate`); DescribeSecret names the versions but gives no dates.
pub trait VersionDates: Send + Sync {
    /// The version holding `label` and its CreatedDate, if some version holds it.
    fn created(
        &self,
        secret_id: &str,
        label: &str,
    ) -> impl Future<Output = ServiceResult<Option<(String, DateTime<Utc>)>>> + Send;
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAge {
    /// The AWSCURRENT version.
    pub version: String,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Seconds since then.
    pub age_secs: i64,
    /// Whether the current version holds a key (not the bootstrap placeholder).
    pub has_key: bool,
}

/// The check's metrics.
pub mod metric {
    /// Seconds since the secret's AWSCURRENT version was created, by `secret` (the secret's
    /// name, so several stacks in one account keep apart). Alarm: infra's `key-too-old`.
    pub const KEY_AGE: &str = "signing_key_age_seconds";
}

/// Runs the key check for `secret_id`.
pub async fn key_age<W: Ports>(
    rotator: &Rotator<W>,
    dates: &impl VersionDates,
    secret_id: &str,
) -> Result<KeyAge, RotationError> {
    let desc = rotator.secrets.describe(secret_id).await?;
    let (version, created) = dates
        .created(secret_id, stage::CURRENT)
        .await?
        .ok_or_else(|| RotationError::BadSecretValue {
            version: stage::CURRENT.to_owned(),
            why: "no version of the secret holds AWSCURRENT".into(),
        })?;
    let now = rotator.clock.now();
    let age_secs = (now - created).num_seconds().max(0);
    // Whatever follows, the age is recorded: an alarm on it needs no rotation to be healthy.
    metrics::gauge!(metric::KEY_AGE, "secret" => desc.name.clone()).set(age_secs as f64);
    if !desc.rotation_enabled {
        return Err(RotationError::NotEnabled(desc.name));
    }
    let current = rotator.read_current(secret_id).await?;
    if let Some(value) = &current {
        if now >= value.active_from {
            rotator.check_key(value).await?;
            if let Some(url) = &rotator.config.canary_url {
                rotator.canary(url, value).await?;
            }
        }
    }
    info!(
        secret = %desc.name,
        version = %version,
        age_secs,
        has_key = current.is_some(),
        "key check: current version's age"
    );
    Ok(KeyAge {
        version,
        created,
        age_secs,
        has_key: current.is_some(),
    })
}
