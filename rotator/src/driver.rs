//! Playing Secrets Manager's part in process (`cfcookie rotate`), and `status`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::error::RotationError;
use crate::model::{stage, SecretValue, VersionRef};
use crate::ports::{Clock, KeyRegistry, ParameterStore, SecretStore};
use crate::steps::{key_name, secret_tag, Mode, Ports, Rotator, Step};

/// What one in-process rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// The new version id.
    pub token: String,
    /// The new CloudFront key id.
    pub key_id: String,
    /// Milliseconds per step (including retries).
    pub step_ms: BTreeMap<&'static str, u128>,
    /// Steps that needed a retry.
    pub retried: Vec<&'static str>,
}

/// A fresh ClientRequestToken (UUID v4 text, as Secrets Manager makes them).
pub fn new_token() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    cfcookie_secret::uuid_text(&b)
}

/// Runs the four steps in order as Secrets Manager would (the whole rotation retried once after
/// a failed step),
/// then removes AWSPENDING from the new current version, as Secrets Manager does. With
/// `resume`, a rotation left pending is carried on instead of refused.
pub async fn rotate_in_process<W: Ports>(
    rotator: &Rotator<W>,
    secret_id: &str,
    resume: bool,
) -> Result<RotationReport, RotationError> {
    rotate_in_process_with(rotator, secret_id, resume, new_token).await
}

/// [`rotate_in_process`] with new version ids from `token` (a simulation replays its seed).
pub async fn rotate_in_process_with<W: Ports>(
    rotator: &Rotator<W>,
    secret_id: &str,
    resume: bool,
    new_token: impl FnMut() -> String,
) -> Result<RotationReport, RotationError> {
    drive(rotator, secret_id, resume, new_token, Mode::InProcess).await
}

/// Runs the four steps in `mode` ([`Mode::InProcess`], or [`Mode::Revoke`]'s emergency
/// rotation).
async fn drive<W: Ports>(
    rotator: &Rotator<W>,
    secret_id: &str,
    resume: bool,
    mut new_token: impl FnMut() -> String,
    mode: Mode,
) -> Result<RotationReport, RotationError> {
    let desc = rotator.secrets.describe(secret_id).await?;
    let stuck = desc
        .version_with(stage::PENDING)
        .filter(|v| !desc.has(v, stage::CURRENT))
        .map(str::to_owned);
    let token = match stuck {
        Some(v) if resume => {
            info!(token = %v, "resuming the pending rotation");
            v
        }
        Some(v) => return Err(RotationError::InProgress(v)),
        None => new_token(),
    };
    let mut token: String = token;
    let mut report = RotationReport {
        token: token.clone(),
        key_id: String::new(),
        step_ms: BTreeMap::new(),
        retried: Vec::new(),
    };
    // Secrets Manager retries a failed rotation as a whole, with the same token
    // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda.html);
    // so does this, once. A refusal that names when it becomes safe is not retried. A version
    // that setSecret abandoned (its key was retired by a concurrent rotation) cannot finish:
    // the retry is a new rotation with a new token.
    let mut attempt = 0;
    'rotation: loop {
        for step in Step::ALL {
            let started = Instant::now();
            let result = rotator.run_step(step, secret_id, &token, mode).await;
            *report.step_ms.entry(step.aws_name()).or_default() += started.elapsed().as_millis();
            if let Err(e) = result {
                if attempt > 0 || matches!(e, RotationError::TooSoon { .. }) {
                    return Err(e);
                }
                warn!(step = step.aws_name(), error = %e, "step failed; retrying the whole rotation once, as Secrets Manager does");
                report.retried.push(step.aws_name());
                if matches!(e, RotationError::Abandoned { .. }) {
                    token = new_token();
                    report.token = token.clone();
                }
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue 'rotation;
            }
        }
        break;
    }
    let mut attempt = 0;
    while let Err(e) = clear_pending(&rotator.secrets, secret_id, &token).await {
        attempt += 1;
        if attempt > 1 {
            return Err(e);
        }
        warn!(error = %e, "removing AWSPENDING failed; retrying once");
    }
    if let Some(v) = rotator
        .secrets
        .get_value(secret_id, VersionRef::Stage(stage::CURRENT))
        .await?
    {
        if let Ok(Some(v)) = SecretValue::parse(&v) {
            report.key_id = v.key_id.clone();
        }
    }
    Ok(report)
}

/// Removes AWSPENDING from `token`'s version once it is AWSCURRENT, as Secrets Manager does
/// after finishSecret. Idempotent: a retry after the label already left is a no-op.
pub async fn clear_pending<S: SecretStore>(
    secrets: &S,
    secret_id: &str,
    token: &str,
) -> Result<(), RotationError> {
    let desc = secrets.describe(secret_id).await?;
    if desc.has(token, stage::PENDING) {
        secrets
            .move_label(secret_id, stage::PENDING, None, Some(token))
            .await?;
    }
    Ok(())
}

/// One version in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    /// Version id.
    pub id: String,
    /// Staging labels.
    pub stages: Vec<String>,
    /// CloudFront key id stored in it (staged versions only; `null` for the placeholder).
    pub key_id: Option<String>,
    /// When it may sign.
    pub active_from: Option<String>,
}

/// A managed public key in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    /// Key id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether the key group holds it.
    pub in_group: bool,
    /// The version whose name it carries, if any.
    pub version: Option<String>,
}

/// `cfcookie status`: the state across the three services and the invariant check.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Secret name.
    pub secret: String,
    /// Whether rotation is enabled.
    pub rotation_enabled: bool,
    /// Versions, newest labels first.
    pub versions: Vec<VersionStatus>,
    /// Key group id.
    pub key_group: String,
    /// Key ids in the key group.
    pub key_group_items: Vec<String>,
    /// SSM parameter -> value (null when missing).
    pub parameters: BTreeMap<String, Option<String>>,
    /// Managed keys of this secret in CloudFront.
    pub managed_keys: Vec<KeyStatus>,
    /// The time questions: which key signers sign with now, when the predecessor may leave the
    /// key group, when the next rotation becomes safe.
    pub time: TimeStatus,
    /// Whether every invariant holds.
    pub consistent: bool,
    /// Each broken invariant, named.
    pub problems: Vec<String>,
}

/// When things may happen (docs/rotation.md, "the time model").
#[derive(Debug, Clone, Serialize)]
pub struct TimeStatus {
    /// Now, by the rotator's clock.
    pub now: String,
    /// The key a signer with a fresh view signs with now: AWSCURRENT once its `active_from`
    /// has passed, AWSPREVIOUS before if it is active (the very first key has no predecessor);
    /// none while neither is active (after `revoke` of a current key not active yet, or a
    /// second rotation within P of the first).
    pub signers_sign_with: Option<String>,
    /// Keys a signer that has not refreshed for up to the cache TTL may still sign with.
    pub signers_may_still_sign_with: Vec<String>,
    /// When AWSCURRENT's key becomes signable (G + P).
    pub current_active_from: Option<String>,
    /// The predecessor that the next setSecret will take out of the key group.
    pub predecessor: Option<String>,
    /// When it may leave the key group (S2): null when it already may or there is none.
    pub predecessor_may_leave_group_at: Option<String>,
    /// When the next rotation becomes safe (the same instant, or now).
    pub next_rotation_safe_at: String,
}

/// Reads everything and checks the invariants of a completed rotation.
pub async fn status<W: Ports>(
    rotator: &Rotator<W>,
    secret_id: &str,
) -> Result<Status, RotationError> {
    let config = &rotator.config;
    let desc = rotator.secrets.describe(secret_id).await?;
    let mut problems = Vec::new();
    let mut versions = Vec::new();
    let mut staged: BTreeMap<&'static str, SecretValue> = BTreeMap::new();
    for (id, stages) in &desc.versions {
        let mut vs = VersionStatus {
            id: id.clone(),
            stages: stages.clone(),
            key_id: None,
            active_from: None,
        };
        for label in [stage::CURRENT, stage::PREVIOUS, stage::PENDING] {
            if stages.iter().any(|s| s == label) {
                match rotator
                    .secrets
                    .get_value(secret_id, VersionRef::IdAndStage(id, label))
                    .await?
                {
                    Some(text) => match SecretValue::parse(&text) {
                        Ok(Some(v)) => {
                            vs.key_id = Some(v.key_id.clone());
                            vs.active_from = Some(v.active_from.to_rfc3339());
                            staged.insert(label, v);
                        }
                        Ok(None) => {}
                        Err(why) => problems.push(format!("version {id} ({label}): {why}")),
                    },
                    None if label == stage::PENDING => {}
                    None => problems.push(format!("version {id} ({label}) has no value")),
                }
                break;
            }
        }
        if !vs.stages.is_empty() {
            versions.push(vs);
        }
    }
    if let Some(p) = desc
        .version_with(stage::PENDING)
        .filter(|v| !desc.has(v, stage::CURRENT))
    {
        problems.push(format!(
            "version {p} is AWSPENDING: a rotation is in progress or stuck (see docs/rotation.md)"
        ));
    }
    let current = staged.get(stage::CURRENT);
    if current.is_none() {
        problems.push(
            "AWSCURRENT holds no key yet (bootstrap placeholder): run the first rotation".into(),
        );
    }
    let group = rotator.registry.get_key_group(&config.key_group_id).await?;
    let items: Vec<String> = group.as_ref().map(|g| g.items.clone()).unwrap_or_default();
    if group.is_none() {
        problems.push(format!("key group {} does not exist", config.key_group_id));
    }
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for label in [stage::CURRENT, stage::PREVIOUS] {
        if let Some(v) = staged.get(label) {
            expected.insert(v.key_id.clone());
        }
    }
    let have: BTreeSet<String> = items.iter().cloned().collect();
    if current.is_some() && have != expected {
        problems.push(format!(
            "key group holds {have:?}, expected AWSCURRENT + AWSPREVIOUS keys {expected:?}"
        ));
    }
    let mut parameters = BTreeMap::new();
    for name in &config.key_id_parameters {
        let value = rotator.params.get(name).await?;
        if let Some(c) = current {
            if value.as_deref() != Some(c.key_id.as_str()) {
                problems.push(format!(
                    "SSM {name} = {value:?}, expected the AWSCURRENT key id {}",
                    c.key_id
                ));
            }
        }
        parameters.insert(name.clone(), value);
    }
    let ours = format!("{}-{}-", config.key_name_prefix, secret_tag(&desc.arn));
    let names: BTreeMap<String, String> = desc
        .versions
        .keys()
        .map(|v| (key_name(&config.key_name_prefix, &desc.arn, v), v.clone()))
        .collect();
    let mut managed_keys = Vec::new();
    for key in rotator
        .registry
        .list_public_keys()
        .await?
        .into_iter()
        .filter(|k| k.name.starts_with(&ours))
    {
        let version = names.get(&key.name).cloned();
        if version.is_none() {
            problems.push(format!(
                "managed public key {} ({}) is referenced by no secret version (orphan)",
                key.id, key.name
            ));
        }
        managed_keys.push(KeyStatus {
            in_group: have.contains(&key.id),
            id: key.id,
            name: key.name,
            version,
        });
    }
    for (label, value) in &staged {
        if have.contains(&value.key_id) || *label == stage::PENDING {
            if let Err(e) = rotator.check_key(value).await {
                if *label != stage::PENDING {
                    problems.push(format!("{label}: {e}"));
                }
            }
        }
    }
    for item in &items {
        if rotator.registry.get_public_key(item).await?.is_none() {
            problems.push(format!(
                "key group lists {item}, which CloudFront does not have"
            ));
        }
    }
    let now = rotator.clock.now();
    let previous = staged.get(stage::PREVIOUS);
    // As the key source chooses: none while neither key is active.
    let signing = current.and_then(|c| match previous {
        Some(p) if c.active_from > now => (p.active_from <= now).then(|| p.key_id.clone()),
        _ => Some(c.key_id.clone()),
    });
    let mut may_still: Vec<String> = Vec::new();
    if let Some(p) = previous {
        let cache = chrono::Duration::seconds(config.key_cache_ttl);
        if signing.as_deref() != Some(p.key_id.as_str())
            && current.is_some_and(|c| now < c.active_from + cache)
        {
            may_still.push(p.key_id.clone());
        }
    }
    let retirement = rotator.retirement(secret_id, current, false).await?;
    let time = TimeStatus {
        now: now.to_rfc3339(),
        signers_sign_with: signing,
        signers_may_still_sign_with: may_still,
        current_active_from: current.map(|c| c.active_from.to_rfc3339()),
        predecessor: previous
            .filter(|p| have.contains(&p.key_id))
            .map(|p| p.key_id.clone()),
        predecessor_may_leave_group_at: retirement.as_ref().map(|(_, t)| t.to_rfc3339()),
        next_rotation_safe_at: retirement.as_ref().map_or(now, |(_, t)| *t).to_rfc3339(),
    };
    Ok(Status {
        secret: desc.name,
        rotation_enabled: desc.rotation_enabled,
        time,
        versions,
        key_group: config.key_group_id.clone(),
        key_group_items: items,
        parameters,
        managed_keys,
        consistent: problems.is_empty(),
        problems,
    })
}

/// What `cfcookie revoke` did, and what it cost.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RevokeReport {
    /// The revoked key.
    pub key_id: String,
    /// What it was: `AWSCURRENT`, `AWSPREVIOUS` or `other`.
    pub was: &'static str,
    /// The key that replaced it, when it was AWSCURRENT (an emergency rotation ran first).
    pub new_key_id: Option<String>,
    /// Whether the public key was deleted from CloudFront (managed and bootstrap keys only).
    pub deleted: bool,
    /// What this costs, in plain words.
    pub cost: Vec<String>,
    /// Until when endpoint instances may still sign cookies with a key this took out of the
    /// group (CloudFront refuses those cookies): the later of the `active_from` of the key
    /// signers move to and now + TTL (an instance signs from a view up to TTL old). From this
    /// instant on, no signer uses it, as long as signers' clocks agree with the rotator's and
    /// each refuses a view older than TTL (cfcookie's endpoint and `Issuer` do).
    pub refused_signing_until: DateTime<Utc>,
}

/// The key-leak path: takes `key_id` out of the key group now, breaking S2 on purpose. When it
/// is the AWSCURRENT key, an emergency rotation first makes a new one (without waiting for the
/// previous key's retirement either). Refuses to empty the key group.
pub async fn revoke<W: Ports>(
    rotator: &Rotator<W>,
    secret_id: &str,
    key_id: &str,
) -> Result<RevokeReport, RotationError> {
    revoke_with(rotator, secret_id, key_id, new_token).await
}

/// [`revoke`] with the emergency rotation's version ids from `new_token` (a simulation replays
/// its seed).
pub async fn revoke_with<W: Ports>(
    rotator: &Rotator<W>,
    secret_id: &str,
    key_id: &str,
    new_token: impl FnMut() -> String,
) -> Result<RevokeReport, RotationError> {
    let current = read_ours(&rotator.secrets, secret_id, stage::CURRENT).await?;
    let previous = read_ours(&rotator.secrets, secret_id, stage::PREVIOUS).await?;
    let group = rotator
        .registry
        .get_key_group(&rotator.config.key_group_id)
        .await?
        .ok_or_else(|| RotationError::KeyGroupNotFound(rotator.config.key_group_id.clone()))?;
    if !group.items.iter().any(|i| i == key_id) {
        return Err(RotationError::Config(format!(
            "key {key_id} is not in key group {}: CloudFront already refuses its cookies",
            rotator.config.key_group_id
        )));
    }
    let was = if current.as_ref().is_some_and(|c| c.key_id == key_id) {
        "AWSCURRENT"
    } else if previous.as_ref().is_some_and(|p| p.key_id == key_id) {
        "AWSPREVIOUS"
    } else {
        "other"
    };
    let (p, ttl, l) = (
        rotator.config.activation_delay,
        rotator.config.key_cache_ttl,
        rotator.config.cookie_lifetime,
    );
    let mut cost = vec![format!(
        "every cookie signed by {key_id} is refused by CloudFront from now on (they were valid for up to {l}s more)"
    )];
    let mut new_key_id = None;
    // When signers with a fresh view stop signing with the revoked key(s).
    let mut switch_at = rotator.clock.now();
    if was == "AWSCURRENT" {
        let report = drive(rotator, secret_id, true, new_token, Mode::Revoke).await?;
        if let Some(new) = read_ours(&rotator.secrets, secret_id, stage::CURRENT).await? {
            switch_at = switch_at.max(new.active_from);
        }
        cost.push(format!(
            "an emergency rotation made {} now; it signs only from its active_from, {p}s from now, so until then signers still sign with {key_id} and those cookies are refused too; that rotation also retired the key before {key_id} at once",
            report.key_id
        ));
        if let Some(from) = current
            .as_ref()
            .map(|c| c.active_from)
            .filter(|&from| from > rotator.clock.now())
        {
            cost.push(format!(
                "{key_id} was not active yet, so neither it nor {} is: endpoints answer 503 until {} and from then sign with {key_id} (refused) until {}'s active_from",
                report.key_id,
                from.to_rfc3339(),
                report.key_id
            ));
        }
        new_key_id = Some(report.key_id);
    } else if group.items.iter().all(|i| i == key_id) {
        return Err(RotationError::Config(format!(
            "{key_id} is the key group's only key and CloudFront refuses an empty group: run `cfcookie rotate` first"
        )));
    } else {
        // Signers sign with the previous key until the current one's active_from: revoking it
        // before then refuses every new cookie until that instant.
        let current_from = current
            .as_ref()
            .map(|c| c.active_from)
            .filter(|&from| was == "AWSPREVIOUS" && from > rotator.clock.now());
        if let Some(from) = current_from {
            switch_at = from;
            cost.push(format!(
                "{key_id} is still the key signers sign with: {} becomes active only at {}, so until then every new cookie is signed with {key_id} and refused",
                current.as_ref().map_or("", |c| c.key_id.as_str()),
                from.to_rfc3339()
            ));
        }
        cost.push(format!(
            "endpoint instances that have not re-read the secret for up to {ttl}s may still sign with {key_id} if it was signing recently; their cookies are refused"
        ));
    }
    let managed = format!("{}-", rotator.config.key_name_prefix);
    let deleted = match rotator.registry.get_public_key(key_id).await? {
        Some((k, _))
            if k.name.starts_with(&managed)
                || rotator.config.bootstrap_key_name.as_deref() == Some(k.name.as_str()) =>
        {
            rotator.retire_key(key_id).await?;
            true
        }
        _ => {
            rotator.remove_from_group(&[key_id.to_owned()]).await?;
            false
        }
    };
    info!(
        key_id,
        was, deleted, "revoked: the key left the key group at once"
    );
    let ttl_later = rotator.clock.now() + chrono::Duration::seconds(ttl);
    Ok(RevokeReport {
        key_id: key_id.to_owned(),
        was,
        new_key_id,
        deleted,
        cost,
        refused_signing_until: switch_at.max(ttl_later),
    })
}

/// One staged value in our format, `None` when absent or not ours.
async fn read_ours<S: SecretStore>(
    secrets: &S,
    secret_id: &str,
    label: &str,
) -> Result<Option<SecretValue>, RotationError> {
    match secrets
        .get_value(secret_id, VersionRef::Stage(label))
        .await?
    {
        Some(t) => Ok(SecretValue::parse(&t).ok().flatten()),
        None => Ok(None),
    }
}
