//! In-memory fakes of Secrets Manager, CloudFront and SSM for fast tests. They refuse what the
//! real services refuse (stale If-Match, a key still in a group, more than 5 keys in a group,
//! unknown keys, a second PutSecretValue with the same token and another value, moving
//! AWSCURRENT from the wrong version); a fake that cannot fail proves nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use zeroize::Zeroizing;

use cfcookie_rotator::model::{
    min_spacing_secs, stage, KeyGroupRecord, PublicKeyRecord, SecretDescription, Spacing,
    VersionRef,
};
use cfcookie_rotator::ports::{
    Clock, KeyRegistry, ParameterStore, SecretStore, ServiceError, ServiceResult,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fakes' notion of now: the system clock, or the clock a test or the simulation moves (so
/// that CreatedTime, LastModifiedTime and LastModifiedDate agree with the rotator's clock).
#[derive(Debug, Clone, Default)]
pub struct ServiceClock(Arc<Mutex<Option<Arc<dyn Clock>>>>);

impl ServiceClock {
    /// Follows `clock` from now on. The fakes read it while holding their own state, so it
    /// must not wait on anything that calls into them.
    pub fn follow(&self, clock: impl Clock + 'static) {
        *lock(&self.0) = Some(Arc::new(clock));
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        lock(&self.0)
            .as_ref()
            .map_or_else(chrono::Utc::now, |c| c.now())
    }
}

/// One version of a secret: its value and its staging labels.
#[derive(Debug, Clone, Default)]
pub struct Version {
    /// SecretString.
    pub value: Option<String>,
    /// Staging labels.
    pub stages: Vec<String>,
}

/// A secret's versions by id. The functions below are Secrets Manager's rules for them, shared
/// by [`InMemorySecretStore`] and the rotation simulation's Secrets Manager.
pub type Versions = BTreeMap<String, Version>;

/// DescribeSecret's VersionIdsToStages.
pub fn stages_of(versions: &Versions) -> BTreeMap<String, Vec<String>> {
    versions
        .iter()
        .map(|(k, v)| (k.clone(), v.stages.clone()))
        .collect()
}

/// GetSecretValue: by label, or by id where the version must also hold the label.
pub fn read_value(
    versions: &Versions,
    version: VersionRef<'_>,
) -> ServiceResult<Option<Zeroizing<String>>> {
    let v = match version {
        VersionRef::Stage(label) => versions
            .values()
            .find(|v| v.stages.iter().any(|x| x == label)),
        VersionRef::IdAndStage(id, label) => match versions.get(id) {
            Some(v) if !v.stages.iter().any(|x| x == label) => {
                return Err(ServiceError::Other {
                    operation: "GetSecretValue",
                    message: format!("version {id} does not hold {label}"),
                })
            }
            other => other,
        },
    };
    Ok(v.and_then(|v| v.value.clone()).map(Zeroizing::new))
}

/// PutSecretValue with `token` as the version id: a second call with another value is refused;
/// `label` moves to the version.
pub fn put_value(
    versions: &mut Versions,
    token: &str,
    value: &str,
    label: &str,
) -> ServiceResult<()> {
    if let Some(existing) = versions.get(token).and_then(|v| v.value.as_deref()) {
        if existing != value {
            return Err(ServiceError::AlreadyExists(format!(
                "version {token} has another value"
            )));
        }
    }
    for v in versions.values_mut() {
        v.stages.retain(|x| x != label);
    }
    let v = versions.entry(token.to_owned()).or_default();
    v.value = Some(value.to_owned());
    v.stages.push(label.to_owned());
    Ok(())
}

/// UpdateSecretVersionStage: a label held elsewhere must be named by `from`; moving AWSCURRENT
/// moves AWSPREVIOUS to the version it left.
pub fn move_label(
    versions: &mut Versions,
    label: &str,
    to: Option<&str>,
    from: Option<&str>,
) -> ServiceResult<()> {
    let holder = versions
        .iter()
        .find(|(_, v)| v.stages.iter().any(|x| x == label))
        .map(|(k, _)| k.clone());
    if holder.is_some() && holder.as_deref() != from && holder.as_deref() != to {
        return Err(ServiceError::Other {
            operation: "UpdateSecretVersionStage",
            message: format!("{label} is attached to {holder:?}; RemoveFromVersionId must name it"),
        });
    }
    if let Some(to) = to {
        if !versions.contains_key(to) {
            return Err(ServiceError::NotFound(format!("version {to}")));
        }
    }
    if let Some(from) = from {
        if let Some(v) = versions.get_mut(from) {
            v.stages.retain(|x| x != label);
        }
    }
    if let Some(to) = to {
        if label == stage::CURRENT {
            for v in versions.values_mut() {
                v.stages.retain(|x| x != stage::PREVIOUS);
            }
            if let Some(prev) = from.and_then(|f| versions.get_mut(f)) {
                prev.stages.push(stage::PREVIOUS.to_owned());
            }
        }
        let v = versions
            .get_mut(to)
            .ok_or_else(|| ServiceError::NotFound(format!("version {to}")))?;
        if !v.stages.iter().any(|x| x == label) {
            v.stages.push(label.to_owned());
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Secret {
    arn: String,
    name: String,
    rotation_enabled: bool,
    spacing: Spacing,
    versions: Versions,
}

/// Secrets Manager, in memory. One secret per name.
#[derive(Debug, Clone, Default)]
pub struct InMemorySecretStore {
    secrets: Arc<Mutex<BTreeMap<String, Secret>>>,
}

impl InMemorySecretStore {
    /// The ARN [`Self::create`] gives the secret `name`.
    pub fn arn(name: &str) -> String {
        format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf")
    }

    /// Creates a secret whose first version (AWSCURRENT) holds `value`.
    pub fn create(&self, name: &str, value: &str) {
        let mut versions = BTreeMap::new();
        versions.insert(
            "v-initial".to_owned(),
            Version {
                value: Some(value.to_owned()),
                stages: vec![stage::CURRENT.to_owned()],
            },
        );
        let arn = Self::arn(name);
        lock(&self.secrets).insert(
            name.to_owned(),
            Secret {
                arn,
                name: name.to_owned(),
                versions,
                ..Default::default()
            },
        );
    }

    /// Turns rotation on or off, with RotateSecret's rules (`AutomaticallyAfterDays`,
    /// `ScheduleExpression`, `Duration`), which DescribeSecret reads back as the SDK adapter does.
    pub fn set_rotation(
        &self,
        name: &str,
        enabled: bool,
        (days, schedule, duration): (Option<i64>, Option<&str>, Option<&str>),
    ) {
        if let Some(s) = lock(&self.secrets).get_mut(name) {
            s.rotation_enabled = enabled;
            s.spacing = min_spacing_secs(days, schedule, duration);
        }
    }

    /// What Secrets Manager's RotateSecret does before invoking the Lambda: a new version with
    /// AWSPENDING and no value. Refused while another rotation is pending.
    pub fn stage_pending(&self, name: &str, token: &str) -> ServiceResult<()> {
        let mut secrets = lock(&self.secrets);
        let s = secrets
            .get_mut(name)
            .ok_or_else(|| ServiceError::NotFound(name.to_owned()))?;
        if s.versions.values().any(|v| {
            v.stages.iter().any(|x| x == stage::PENDING)
                && !v.stages.iter().any(|x| x == stage::CURRENT)
        }) {
            return Err(ServiceError::Other {
                operation: "RotateSecret",
                message: "a previous rotation isn't complete".into(),
            });
        }
        for v in s.versions.values_mut() {
            v.stages.retain(|x| x != stage::PENDING);
        }
        s.versions.insert(
            token.to_owned(),
            Version {
                value: None,
                stages: vec![stage::PENDING.to_owned()],
            },
        );
        Ok(())
    }

    /// The version holding `label`.
    pub fn version_with(&self, name: &str, label: &str) -> Option<String> {
        let secrets = lock(&self.secrets);
        let (id, _) = secrets
            .get(name)?
            .versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|x| x == label))?;
        Some(id.clone())
    }

    /// The version a rotation in progress staged: AWSPENDING on a version other than
    /// AWSCURRENT (RotateSecret then refuses to start another).
    pub fn rotation_in_progress(&self, name: &str) -> Option<String> {
        let secrets = lock(&self.secrets);
        let (id, _) = secrets.get(name)?.versions.iter().find(|(_, v)| {
            v.stages.iter().any(|x| x == stage::PENDING)
                && !v.stages.iter().any(|x| x == stage::CURRENT)
        })?;
        Some(id.clone())
    }

    /// What Secrets Manager does once a rotation succeeded, and after the testSecret of
    /// RotateImmediately=false: AWSPENDING leaves the version.
    pub fn clear_pending(&self, name: &str, token: &str) {
        if let Some(v) = lock(&self.secrets)
            .get_mut(name)
            .and_then(|s| s.versions.get_mut(token))
        {
            v.stages.retain(|x| x != stage::PENDING);
        }
    }

    /// Deletes the versions with no staging label and returns their ids. "Versions that don't
    /// have staging labels are considered deprecated and Secrets Manager can delete them"
    /// (VersionIdsToStages, <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html>).
    pub fn delete_deprecated(&self, name: &str) -> Vec<String> {
        let mut secrets = lock(&self.secrets);
        let Some(s) = secrets.get_mut(name) else {
            return Vec::new();
        };
        let gone: Vec<String> = s
            .versions
            .iter()
            .filter(|(_, v)| v.stages.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        s.versions.retain(|_, v| !v.stages.is_empty());
        gone
    }

    /// The spacing DescribeSecret's RotationRules give the rotator's interval guard.
    pub fn rotation_spacing(&self, name: &str) -> Option<Spacing> {
        lock(&self.secrets).get(name).map(|s| s.spacing.clone())
    }

    fn with<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Secret) -> ServiceResult<T>,
    ) -> ServiceResult<T> {
        let mut secrets = lock(&self.secrets);
        let s = secrets
            .values_mut()
            .find(|s| s.name == id || s.arn == id)
            .ok_or_else(|| ServiceError::NotFound(format!("secret {id}")))?;
        f(s)
    }
}

impl SecretStore for InMemorySecretStore {
    async fn describe(&self, secret_id: &str) -> ServiceResult<SecretDescription> {
        self.with(secret_id, |s| {
            Ok(SecretDescription {
                arn: s.arn.clone(),
                name: s.name.clone(),
                rotation_enabled: s.rotation_enabled,
                rotation_spacing: s.spacing.clone(),
                versions: stages_of(&s.versions),
            })
        })
    }

    async fn get_value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> ServiceResult<Option<Zeroizing<String>>> {
        self.with(secret_id, |s| read_value(&s.versions, version))
    }

    async fn put_value(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
        label: &str,
    ) -> ServiceResult<()> {
        self.with(secret_id, |s| {
            put_value(&mut s.versions, token, value, label)
        })
    }

    async fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> ServiceResult<()> {
        self.with(secret_id, |s| move_label(&mut s.versions, label, to, from))
    }
}

/// Public keys per account (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html>).
pub const PUBLIC_KEYS_PER_ACCOUNT: usize = 10;

/// How long the fake remembers a deleted key or a replaced key group, for reads "a moment ago".
const HISTORY_SECS: i64 = 60;

#[derive(Debug, Default)]
struct Cloud {
    keys: BTreeMap<String, (PublicKeyRecord, String, String)>, // id -> (record, etag, caller ref)
    groups: BTreeMap<String, KeyGroupRecord>,
    counter: u64,
    quota: Option<usize>,
    /// Keys deleted in the last [`HISTORY_SECS`], with when.
    deleted: Vec<(chrono::DateTime<chrono::Utc>, PublicKeyRecord)>,
    /// Each group as it was before its last update.
    replaced: BTreeMap<String, KeyGroupRecord>,
}

impl Cloud {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:012}", self.counter)
    }
}

/// CloudFront public keys and key groups, in memory.
#[derive(Debug, Clone, Default)]
pub struct InMemoryKeyRegistry {
    cloud: Arc<Mutex<Cloud>>,
    /// Where CreatedTime and LastModifiedTime come from.
    pub clock: ServiceClock,
}

impl InMemoryKeyRegistry {
    /// Creates a key group holding `items`; returns its id.
    pub fn create_key_group(&self, name: &str, items: &[String]) -> String {
        let mut c = lock(&self.cloud);
        let id = c.next("G");
        let etag = c.next("E");
        c.groups.insert(
            id.clone(),
            KeyGroupRecord {
                id: id.clone(),
                name: name.into(),
                items: items.to_vec(),
                comment: String::new(),
                etag,
                last_modified: Some(self.clock.now()),
            },
        );
        id
    }

    /// Lowers the account's public key quota (default [`PUBLIC_KEYS_PER_ACCOUNT`]), as if
    /// other stacks held the rest.
    pub fn set_quota(&self, quota: usize) {
        lock(&self.cloud).quota = Some(quota);
    }

    /// Registers a public key outside any test's steps (what infrastructure or another stack
    /// made), by CreatePublicKey's rules.
    pub fn add_public_key(&self, name: &str, encoded_key: &str) -> ServiceResult<String> {
        self.create(name, name, encoded_key, "")
    }

    /// Every public key in the account, as a raw listing.
    pub fn public_keys(&self) -> Vec<PublicKeyRecord> {
        lock(&self.cloud)
            .keys
            .values()
            .map(|(r, _, _)| r.clone())
            .collect()
    }

    /// The key group now.
    pub fn key_group(&self, id: &str) -> Option<KeyGroupRecord> {
        lock(&self.cloud).groups.get(id).cloned()
    }

    /// ListPublicKeys answered from a state a moment old: as if nothing had changed at or
    /// after `since` (keys created since are missing, keys deleted since are still listed).
    /// An assumption, not a documented behaviour: CloudFront's control plane is a distributed
    /// system, and a reader must not rely on reading its own write at once.
    pub fn public_keys_as_of(&self, since: chrono::DateTime<chrono::Utc>) -> Vec<PublicKeyRecord> {
        let c = lock(&self.cloud);
        c.keys
            .values()
            .map(|(r, _, _)| r)
            .filter(|r| r.created_at.is_none_or(|t| t < since))
            .chain(
                c.deleted
                    .iter()
                    .filter(|(t, _)| *t >= since)
                    .map(|(_, r)| r),
            )
            .cloned()
            .collect()
    }

    /// GetKeyGroup answered from a state a moment old: the group before its last update when
    /// that update came at or after `since` (with its ETag then, so a write from it is refused
    /// as stale). The same assumption as [`Self::public_keys_as_of`].
    pub fn key_group_as_of(
        &self,
        id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Option<KeyGroupRecord> {
        let c = lock(&self.cloud);
        let now = c.groups.get(id)?;
        match c.replaced.get(id) {
            Some(before) if now.last_modified.is_some_and(|t| t >= since) => Some(before.clone()),
            _ => Some(now.clone()),
        }
    }

    /// CreatePublicKey's rules.
    fn create(
        &self,
        name: &str,
        caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> ServiceResult<String> {
        let mut c = lock(&self.cloud);
        if name.is_empty()
            || name.len() > 128
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ServiceError::Other {
                operation: "CreatePublicKey",
                message: format!("invalid name {name:?}"),
            });
        }
        check_encoded_key(encoded_key)?;
        if c.keys.values().any(|(_, _, r)| r == caller_reference) {
            return Err(ServiceError::AlreadyExists(format!(
                "caller reference {caller_reference}"
            )));
        }
        // Names are unique per account (PublicKeyAlreadyExists), and an account holds at most
        // 10 public keys (TooManyPublicKeys):
        // https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreatePublicKey.html
        if c.keys.values().any(|(k, _, _)| k.name == name) {
            return Err(ServiceError::AlreadyExists(format!(
                "PublicKeyAlreadyExists: a public key named {name} exists"
            )));
        }
        let quota = c.quota.unwrap_or(PUBLIC_KEYS_PER_ACCOUNT);
        if c.keys.len() >= quota {
            return Err(ServiceError::QuotaExceeded(format!(
                "TooManyPublicKeys: the account holds {} public keys",
                c.keys.len()
            )));
        }
        let id = c.next("K");
        let etag = c.next("E");
        let record = PublicKeyRecord {
            id: id.clone(),
            name: name.into(),
            encoded_key: encoded_key.into(),
            comment: comment.into(),
            created_at: Some(self.clock.now()),
        };
        c.keys
            .insert(id.clone(), (record, etag, caller_reference.into()));
        Ok(id)
    }

    /// Changes the group's ETag, as a concurrent writer would.
    pub fn touch_group(&self, id: &str) {
        let mut c = lock(&self.cloud);
        let etag = c.next("E");
        if let Some(g) = c.groups.get_mut(id) {
            g.etag = etag;
        }
    }
}

/// CreatePublicKey's `EncodedKey`: a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`) of an
/// RSA-2048 or EC P-256 key; anything else is CloudFront's `InvalidArgument`. "CloudFront
/// supports signed URLs and signed cookies with RSA 2048 or ECDSA 256 key signatures":
/// <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_PublicKeyConfig.html>;
/// errors: <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreatePublicKey.html>.
pub fn check_encoded_key(encoded_key: &str) -> ServiceResult<()> {
    let refuse = |why: String| ServiceError::Other {
        operation: "CreatePublicKey",
        message: format!("InvalidArgument: EncodedKey {why}"),
    };
    if !encoded_key
        .trim_start()
        .starts_with("-----BEGIN PUBLIC KEY-----")
    {
        return Err(refuse(
            "is not a PUBLIC KEY (SubjectPublicKeyInfo) PEM block".into(),
        ));
    }
    cfcookie_signer::PublicKey::from_pem(encoded_key)
        .map(|_| ())
        .map_err(|e| refuse(e.to_string()))
}

impl KeyRegistry for InMemoryKeyRegistry {
    async fn create_public_key(
        &self,
        name: &str,
        caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> ServiceResult<String> {
        self.create(name, caller_reference, encoded_key, comment)
    }

    async fn list_public_keys(&self) -> ServiceResult<Vec<PublicKeyRecord>> {
        Ok(lock(&self.cloud)
            .keys
            .values()
            .map(|(r, _, _)| r.clone())
            .collect())
    }

    async fn get_public_key(&self, id: &str) -> ServiceResult<Option<(PublicKeyRecord, String)>> {
        Ok(lock(&self.cloud)
            .keys
            .get(id)
            .map(|(r, e, _)| (r.clone(), e.clone())))
    }

    async fn delete_public_key(&self, id: &str, etag: &str) -> ServiceResult<()> {
        let mut c = lock(&self.cloud);
        let (_, current, _) = c
            .keys
            .get(id)
            .ok_or_else(|| ServiceError::NotFound(format!("public key {id}")))?;
        if current != etag {
            return Err(ServiceError::PreconditionFailed);
        }
        if c.groups.values().any(|g| g.items.iter().any(|i| i == id)) {
            return Err(ServiceError::InUse);
        }
        let now = self.clock.now();
        c.deleted
            .retain(|(t, _)| (now - *t).num_seconds() < HISTORY_SECS);
        if let Some((record, _, _)) = c.keys.remove(id) {
            c.deleted.push((now, record));
        }
        Ok(())
    }

    async fn get_key_group(&self, id: &str) -> ServiceResult<Option<KeyGroupRecord>> {
        Ok(lock(&self.cloud).groups.get(id).cloned())
    }

    async fn update_key_group(&self, group: &KeyGroupRecord) -> ServiceResult<String> {
        let mut c = lock(&self.cloud);
        let current = c
            .groups
            .get(&group.id)
            .ok_or_else(|| ServiceError::NotFound(format!("key group {}", group.id)))?;
        if current.etag != group.etag {
            return Err(ServiceError::PreconditionFailed);
        }
        if group.items.is_empty() || group.items.len() > 5 {
            return Err(if group.items.is_empty() {
                ServiceError::Other {
                    operation: "UpdateKeyGroup",
                    message: "a key group needs a key".into(),
                }
            } else {
                ServiceError::TooManyKeys
            });
        }
        if let Some(missing) = group.items.iter().find(|i| !c.keys.contains_key(*i)) {
            return Err(ServiceError::NotFound(format!("public key {missing}")));
        }
        let etag = c.next("E");
        let mut stored = group.clone();
        stored.etag = etag.clone();
        stored.last_modified = Some(self.clock.now());
        if let Some(before) = c.groups.insert(group.id.clone(), stored) {
            c.replaced.insert(group.id.clone(), before);
        }
        Ok(etag)
    }
}

/// A parameter's value and LastModifiedDate.
type Dated = (String, chrono::DateTime<chrono::Utc>);

/// A parameter now, and before its last change (`None`: it did not exist).
type ParameterVersions = (Dated, Option<Dated>);

/// SSM parameters, in memory.
#[derive(Debug, Clone, Default)]
pub struct InMemoryParameterStore {
    values: Arc<Mutex<BTreeMap<String, ParameterVersions>>>,
    /// Where LastModifiedDate comes from.
    pub clock: ServiceClock,
}

impl InMemoryParameterStore {
    /// Sets a parameter outside any test's steps (what infrastructure made).
    pub fn set(&self, name: &str, value: &str) {
        let now = (value.to_owned(), self.clock.now());
        let mut values = lock(&self.values);
        let before = values.get(name).map(|(then, _)| then.clone());
        values.insert(name.to_owned(), (now, before));
    }

    /// GetParameter answered from a state a moment old: the value and date before the last
    /// change when that change came at or after `since` (`None` when the parameter did not
    /// exist then). An assumption, as [`InMemoryKeyRegistry::public_keys_as_of`]: Parameter
    /// Store documents no read-after-write guarantee for GetParameter, so the simulation lets
    /// a read just after a PutParameter miss it.
    pub fn get_dated_as_of(
        &self,
        name: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Option<Dated> {
        let values = lock(&self.values);
        let (now, before) = values.get(name)?;
        if now.1 >= since {
            before.clone()
        } else {
            Some(now.clone())
        }
    }
}

impl ParameterStore for InMemoryParameterStore {
    async fn get(&self, name: &str) -> ServiceResult<Option<String>> {
        Ok(lock(&self.values).get(name).map(|((v, _), _)| v.clone()))
    }

    async fn get_dated(
        &self,
        name: &str,
    ) -> ServiceResult<Option<(String, chrono::DateTime<chrono::Utc>)>> {
        Ok(lock(&self.values).get(name).map(|(now, _)| now.clone()))
    }

    async fn put(&self, name: &str, value: &str) -> ServiceResult<()> {
        self.set(name, value);
        Ok(())
    }
}

#[cfg(test)]
mod encoded_key_tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};

    use super::*;

    fn spki_pem(der: &[u8]) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", der.to_vec()))
    }

    fn rsa(size: KeySize) -> String {
        let k = RsaKeyPair::generate(size).unwrap();
        spki_pem(k.public_key().as_der().unwrap().as_ref())
    }

    fn ec(alg: &'static signature::EcdsaSigningAlgorithm) -> String {
        let k = EcdsaKeyPair::generate(alg).unwrap();
        spki_pem(k.public_key().as_der().unwrap().as_ref())
    }

    fn refused(pem: &str) -> bool {
        let r = block_on(InMemoryKeyRegistry::default().create_public_key("n", "r", pem, ""));
        matches!(r, Err(ServiceError::Other { operation: "CreatePublicKey", ref message }) if message.starts_with("InvalidArgument"))
    }

    /// The fake's futures never wait; run one to completion without a runtime.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(f)
    }

    #[test]
    fn only_rsa_2048_and_p256_spki_are_accepted() {
        assert!(!refused(&rsa(KeySize::Rsa2048)));
        assert!(!refused(&ec(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)));
        assert!(refused(&rsa(KeySize::Rsa3072)));
        assert!(refused(&rsa(KeySize::Rsa4096)));
        assert!(refused(&ec(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)));
        assert!(refused("not a key"));
        let p256 = ec(&signature::ECDSA_P256_SHA256_ASN1_SIGNING);
        assert!(refused(&p256.replace("PUBLIC KEY", "RSA PUBLIC KEY")));
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    fn at(t: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(t, 0).unwrap()
    }

    fn pem() -> String {
        cfcookie_signer::PrivateKey::generate(cfcookie_signer::KeyAlgorithm::EcdsaP256)
            .unwrap()
            .public_key()
            .to_pem()
    }

    #[tokio::test]
    async fn a_parameter_read_a_moment_old_misses_the_last_put() {
        let clock = crate::FixedClock::at_epoch(1_000);
        let ssm = InMemoryParameterStore::default();
        ssm.clock.follow(clock.clone());
        ssm.put("/k", "K1").await.unwrap();
        assert_eq!(
            ssm.get_dated_as_of("/k", at(1_000)),
            None,
            "it did not exist"
        );
        clock.set(at(2_000));
        ssm.put("/k", "K2").await.unwrap();
        assert_eq!(
            ssm.get_dated_as_of("/k", at(2_000)),
            Some(("K1".to_owned(), at(1_000)))
        );
        assert_eq!(
            ssm.get_dated_as_of("/k", at(2_001)),
            Some(("K2".to_owned(), at(2_000)))
        );
        assert_eq!(ssm.get("/k").await.unwrap().as_deref(), Some("K2"));
    }

    #[tokio::test]
    async fn reads_a_moment_old_miss_what_changed_since_and_see_what_went() {
        let clock = crate::FixedClock::at_epoch(1_000);
        let cloud = InMemoryKeyRegistry::default();
        cloud.clock.follow(clock.clone());
        let old = cloud.add_public_key("old", &pem()).unwrap();
        let group = cloud.create_key_group("g", std::slice::from_ref(&old));
        clock.set(at(2_000));
        let new = cloud.add_public_key("new", &pem()).unwrap();
        let mut g = cloud.key_group(&group).unwrap();
        g.items = vec![new.clone()];
        cloud.update_key_group(&g).await.unwrap();
        let (_, etag) = cloud.get_public_key(&old).await.unwrap().unwrap();
        cloud.delete_public_key(&old, &etag).await.unwrap();

        let ids = |keys: Vec<PublicKeyRecord>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
        assert_eq!(ids(cloud.public_keys()), vec![new.clone()]);
        assert_eq!(ids(cloud.public_keys_as_of(at(2_000))), vec![old.clone()]);
        assert_eq!(ids(cloud.public_keys_as_of(at(2_001))), vec![new.clone()]);
        let before = cloud.key_group_as_of(&group, at(2_000)).unwrap();
        assert_eq!(before.items, vec![old]);
        let stale = KeyGroupRecord {
            items: vec![new.clone()],
            ..before
        };
        assert!(matches!(
            cloud.update_key_group(&stale).await,
            Err(ServiceError::PreconditionFailed)
        ));
        assert_eq!(
            cloud.key_group_as_of(&group, at(2_001)).unwrap().items,
            vec![new]
        );
    }

    #[tokio::test]
    async fn deprecated_versions_go_and_labelled_ones_stay() {
        let secrets = InMemorySecretStore::default();
        secrets.create("s", "v0");
        secrets.stage_pending("s", "t1").unwrap();
        assert_eq!(secrets.rotation_in_progress("s").as_deref(), Some("t1"));
        secrets.clear_pending("s", "t1");
        assert_eq!(secrets.rotation_in_progress("s"), None);
        assert_eq!(secrets.delete_deprecated("s"), vec!["t1".to_owned()]);
        assert_eq!(
            secrets.version_with("s", stage::CURRENT).as_deref(),
            Some("v-initial")
        );
        assert!(secrets.delete_deprecated("s").is_empty());
    }
}
