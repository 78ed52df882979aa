//! createSecret, setSecret, testSecret and finishSecret over the ports.
//!
//! Every step is idempotent: it may be retried any number of times, after a crash between any
//! two AWS calls, and converges on the same end state. See `docs/rotation.md` for the state
//! table.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use cfcookie_signer::{HashAlgorithm, Policy, PrivateKey, PublicKey, Signer};
use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::config::{Config, CANARY_BUDGET_SECS};
use crate::error::RotationError;
use crate::model::{
    stage, KeyGroupRecord, PublicKeyRecord, SecretDescription, SecretValue, Spacing, VersionRef,
    FORMAT,
};
use crate::ports::{
    Clock, KeyGenerator, KeyRegistry, ParameterStore, Probe, SecretStore, ServiceError,
};

/// The four steps, named as Secrets Manager names them in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// `createSecret`.
    Create,
    /// `setSecret`.
    Set,
    /// `testSecret`.
    Test,
    /// `finishSecret`.
    Finish,
}

impl Step {
    /// All steps in order.
    pub const ALL: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

    /// The AWS name (`createSecret`, …).
    pub fn aws_name(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }

    /// Parses the AWS name.
    pub fn from_aws_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.aws_name() == name)
    }
}

/// Who is driving the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Secrets Manager invoked the Lambda: the template's guard, rotation must be enabled, the
    /// token's version already exists (Secrets Manager staged it).
    Lambda,
    /// `cfcookie rotate` plays Secrets Manager: rotation may be disabled, and createSecret
    /// creates the version itself (the public API cannot stage an empty one).
    InProcess,
    /// `cfcookie revoke`'s emergency rotation: in process, and the previous key leaves the
    /// group at once. The one mode that breaks S2, on purpose, for a leaked key.
    Revoke,
}

/// Outcome of the guard.
enum Guard {
    Proceed(SecretDescription),
    AlreadyCurrent,
}

/// Retries of the key group read-modify-write on PreconditionFailed.
const GROUP_RETRIES: u32 = 6;

/// One conditional write of the key group.
enum Written {
    /// Written, or nothing to change: the ids that left the group.
    Done(Vec<String>),
    /// The group changed since it was read (PreconditionFailed): read it again.
    Conflict,
}

/// What became of a public key [`delete_public_key`] was asked to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted, or already gone.
    Deleted,
    /// Some key group still holds it, and CloudFront refuses to delete it (PublicKeyInUse).
    InUse,
}

/// DeletePublicKey with If-Match: reads the key's ETag and deletes it, reading the ETag again
/// when it went stale meanwhile.
/// <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_DeletePublicKey.html>
pub async fn delete_public_key(
    registry: &impl KeyRegistry,
    id: &str,
) -> Result<Deletion, RotationError> {
    for _ in 0..GROUP_RETRIES {
        let Some((_, etag)) = registry.get_public_key(id).await? else {
            return Ok(Deletion::Deleted);
        };
        match registry.delete_public_key(id, &etag).await {
            Ok(()) | Err(ServiceError::NotFound(_)) => return Ok(Deletion::Deleted),
            Err(ServiceError::InUse) => return Ok(Deletion::InUse),
            Err(ServiceError::PreconditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RotationError::Conflict(format!("public key {id}")))
}

/// `items` without `ids`, in their order.
fn without(items: &[String], ids: &[String]) -> Vec<String> {
    items.iter().filter(|i| !ids.contains(i)).cloned().collect()
}

/// The wait before the next read of a key group that changed under us.
async fn conflict_backoff(attempt: u32) {
    warn!(attempt, "key group changed under us; re-reading");
    tokio::time::sleep(Duration::from_millis(50 << attempt.min(5))).await;
}

/// Reads of the key group before a key is believed missing from it, and the wait between them.
const GROUP_READS: u32 = 3;
const GROUP_REREAD_SECS: u64 = 2;

/// A managed public key younger than this may belong to a createSecret running right now
/// (twice the rotator Lambda's 120 s timeout); older ones with no stored value are orphans.
const STALE_KEY_AFTER_SECS: i64 = 240;

/// The services a [`Rotator`] talks to, as six types: written once here, so that code driving
/// a rotator (the in-process driver, `status`, `revoke`, the Lambda handler) takes
/// `&Rotator<W>` with one bound, `W: Ports`. Any six implementations wire up as a tuple, in
/// this order: `Rotator<(secrets, registry, params, keygen, clock, probe)>`.
pub trait Ports {
    /// Secrets Manager.
    type Secrets: SecretStore;
    /// CloudFront.
    type Registry: KeyRegistry;
    /// SSM Parameter Store.
    type Params: ParameterStore;
    /// Key pair generation.
    type Keygen: KeyGenerator;
    /// Time.
    type Clock: Clock;
    /// The testSecret canary.
    type Probe: Probe;
}

impl<S, R, P, G, C, Pr> Ports for (S, R, P, G, C, Pr)
where
    S: SecretStore,
    R: KeyRegistry,
    P: ParameterStore,
    G: KeyGenerator,
    C: Clock,
    Pr: Probe,
{
    type Secrets = S;
    type Registry = R;
    type Params = P;
    type Keygen = G;
    type Clock = C;
    type Probe = Pr;
}

/// The rotation over its ports.
pub struct Rotator<W: Ports> {
    /// Secrets Manager.
    pub secrets: W::Secrets,
    /// CloudFront.
    pub registry: W::Registry,
    /// SSM.
    pub params: W::Params,
    /// Key pairs.
    pub keygen: W::Keygen,
    /// Time.
    pub clock: W::Clock,
    /// Canary fetcher.
    pub probe: W::Probe,
    /// Settings.
    pub config: Config,
}

impl<W: Ports> std::fmt::Debug for Rotator<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotator")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<W: Ports> Rotator<W> {
    /// Runs one step.
    pub async fn run_step(
        &self,
        step: Step,
        secret_id: &str,
        token: &str,
        mode: Mode,
    ) -> Result<(), RotationError> {
        info!(
            step = step.aws_name(),
            secret = secret_id,
            token,
            "rotation step"
        );
        match step {
            Step::Create => self.create(secret_id, token, mode).await,
            Step::Set => self.set(secret_id, token, mode).await,
            Step::Test => self.test(secret_id, token, mode).await,
            Step::Finish => self.finish(secret_id, token, mode).await,
        }
    }

    /// The official templates' guard: rotation enabled; token is a version; token already
    /// AWSCURRENT means nothing to do; token not AWSPENDING is an error.
    async fn guard(
        &self,
        secret_id: &str,
        token: &str,
        step: Step,
        mode: Mode,
    ) -> Result<Guard, RotationError> {
        let desc = self.secrets.describe(secret_id).await?;
        if mode == Mode::Lambda && !desc.rotation_enabled {
            return Err(RotationError::NotEnabled(desc.name));
        }
        if !desc.versions.contains_key(token) {
            if mode != Mode::Lambda && step == Step::Create {
                return Ok(Guard::Proceed(desc));
            }
            return Err(RotationError::TokenNotAVersion {
                token: token.to_owned(),
                secret: desc.name,
            });
        }
        if desc.has(token, stage::CURRENT) {
            return Ok(Guard::AlreadyCurrent);
        }
        if !desc.has(token, stage::PENDING) {
            return Err(RotationError::NotPending(token.to_owned()));
        }
        Ok(Guard::Proceed(desc))
    }

    /// Reads and parses one version; `None` when it has no value or is not our format.
    async fn read(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretValue>, RotationError> {
        let Some(text) = self.secrets.get_value(secret_id, version).await? else {
            return Ok(None);
        };
        let label = match version {
            VersionRef::Stage(s) => s.to_owned(),
            VersionRef::IdAndStage(id, _) => id.to_owned(),
        };
        SecretValue::parse(&text).map_err(|why| RotationError::BadSecretValue {
            version: label,
            why,
        })
    }

    /// The AWSCURRENT value; `None` while it is not a key (the bootstrap placeholder).
    pub async fn read_current(
        &self,
        secret_id: &str,
    ) -> Result<Option<SecretValue>, RotationError> {
        self.read(secret_id, VersionRef::Stage(stage::CURRENT))
            .await
    }

    async fn pending(&self, secret_id: &str, token: &str) -> Result<SecretValue, RotationError> {
        match self
            .secrets
            .get_value(secret_id, VersionRef::IdAndStage(token, stage::PENDING))
            .await?
        {
            None => Err(RotationError::PendingMissing(token.to_owned())),
            Some(text) => SecretValue::parse(&text)
                .and_then(|v| {
                    v.ok_or_else(|| format!("AWSPENDING holds a value that is not {FORMAT}"))
                })
                .map_err(|why| RotationError::BadSecretValue {
                    version: token.to_owned(),
                    why,
                }),
        }
    }

    /// The key that setSecret must not retire yet, and from when it may: S2 (retired after
    /// use). The predecessor of the current key may still be signing until its successor (the
    /// current key) became signable — `max(active_from, when it became AWSCURRENT)` — plus the
    /// signers' cache TTL, and its cookies live L more. When it became AWSCURRENT is when
    /// finishSecret published its id to SSM (the parameter's LastModifiedDate); when SSM does
    /// not hold it yet (a finishSecret cut before publishing), it is published now and counted
    /// from now. `None` when nothing needs protecting, or in `revoke`'s emergency rotation.
    async fn protected_key(
        &self,
        secret_id: &str,
        current: Option<&SecretValue>,
        mode: Mode,
    ) -> Result<Option<(String, DateTime<Utc>)>, RotationError> {
        if mode == Mode::Revoke {
            return Ok(None);
        }
        self.retirement(secret_id, current, true).await
    }

    /// When the predecessor of `current` may leave the key group (S2): `(key id, instant)`, or
    /// `None` when it already may (or there is none). With `repair`, a key id missing from SSM
    /// is published (and counted from now); without, it is only counted from now.
    pub async fn retirement(
        &self,
        secret_id: &str,
        current: Option<&SecretValue>,
        repair: bool,
    ) -> Result<Option<(String, DateTime<Utc>)>, RotationError> {
        let Some(current) = current else {
            return Ok(None);
        };
        let Some(previous) = self
            .read(secret_id, VersionRef::Stage(stage::PREVIOUS))
            .await?
            .filter(|p| p.key_id != current.key_id)
        else {
            return Ok(None);
        };
        let mut became_current = current.active_from;
        if let Some(name) = self.config.key_id_parameters.first() {
            became_current = match self.params.get_dated(name).await? {
                Some((value, at)) if value == current.key_id => at,
                _ => {
                    if repair {
                        self.publish(&current.key_id).await?;
                    }
                    self.clock.now()
                }
            };
        }
        let safe_at = current.active_from.max(became_current)
            + chrono::Duration::seconds(self.config.key_cache_ttl + self.config.cookie_lifetime);
        Ok((self.clock.now() < safe_at).then(|| (previous.key_id.clone(), safe_at)))
    }

    /// A current key that is not active yet and follows another key: a rotation now would make
    /// it the predecessor, and signers sign with the predecessor only once it is active, so
    /// they would hold no key to sign with until then. `revoke` leaves exactly that (its
    /// emergency key, not active for P, follows the revoked key, whose place in the group is
    /// gone, so no S2 gate holds the next rotation back). The very first key (no predecessor
    /// read) is the documented first-deploy window and is not held back. `(key id, its
    /// active_from)`.
    async fn inactive_current(
        &self,
        secret_id: &str,
        current: Option<&SecretValue>,
        mode: Mode,
    ) -> Result<Option<(String, DateTime<Utc>)>, RotationError> {
        let Some(c) = current.filter(|c| mode != Mode::Revoke && c.active_from > self.clock.now())
        else {
            return Ok(None);
        };
        let follows = self
            .read(secret_id, VersionRef::Stage(stage::PREVIOUS))
            .await?
            .is_some_and(|p| p.key_id != c.key_id);
        Ok(follows.then(|| (c.key_id.clone(), c.active_from)))
    }

    /// createSecret: sweep orphans, generate, upload the public key, add it to the key group
    /// (the moment it entered the group, G, plus P is when it may sign), and store key id +
    /// PEMs + `active_from` under AWSPENDING. Refuses with `Rotation.TooSoon` when this
    /// rotation's setSecret could not retire the previous key yet, before anything is made.
    pub async fn create(
        &self,
        secret_id: &str,
        token: &str,
        mode: Mode,
    ) -> Result<(), RotationError> {
        let desc = match self.guard(secret_id, token, Step::Create, mode).await? {
            Guard::AlreadyCurrent => return Ok(()),
            Guard::Proceed(d) => d,
        };
        match &desc.rotation_spacing {
            Spacing::AtLeast(interval) if *interval < self.config.minimum_interval() => {
                return Err(RotationError::IntervalTooShort {
                    interval: *interval,
                    needed: self.config.minimum_interval(),
                });
            }
            Spacing::Unbounded(why) => return Err(RotationError::ScheduleUnreadable(why.clone())),
            _ => {}
        }
        if let Some(other) = desc
            .version_with(stage::PENDING)
            .filter(|v| *v != token && !desc.has(v, stage::CURRENT))
        {
            return Err(RotationError::InProgress(other.to_owned()));
        }
        if desc.versions.contains_key(token) {
            if let Some(existing) = self
                .read(secret_id, VersionRef::IdAndStage(token, stage::PENDING))
                .await?
            {
                info!(key_id = %existing.key_id, "createSecret: pending key already stored");
                return Ok(());
            }
        }
        // The current value must be readable (a broken one is an error, not "no key yet").
        let current = self
            .read(secret_id, VersionRef::Stage(stage::CURRENT))
            .await?;
        let group = self.read_group().await?;
        let keys = self.registry.list_public_keys().await?;
        let dead = self.dead_in_group(&desc, &group.items, &keys);
        if !dead.is_empty() {
            warn!(keys = ?dead, "createSecret: taking keys whose createSecret died before storing them out of the key group");
            self.remove_from_group(&dead).await?;
        }
        let protected = self
            .protected_key(secret_id, current.as_ref(), mode)
            .await?
            .filter(|(key_id, _)| group.items.contains(key_id));
        let protected = match protected {
            Some(p) => Some(p),
            None => {
                self.inactive_current(secret_id, current.as_ref(), mode)
                    .await?
            }
        };
        if let Some((key_id, safe_at)) = protected {
            if mode == Mode::Lambda && desc.has(token, stage::PENDING) {
                // Nothing was made: let the empty version go, so Secrets Manager's next
                // scheduled rotation is not refused as "a previous rotation isn't complete".
                self.secrets
                    .move_label(secret_id, stage::PENDING, None, Some(token))
                    .await?;
            }
            return Err(RotationError::TooSoon { key_id, safe_at });
        }
        // Orphans go first, so that they never count against the account's quota.
        self.sweep(&desc, &keys, &without(&group.items, &dead), &dead)
            .await?;
        let name = key_name(&self.config.key_name_prefix, &desc.arn, token);
        self.clear_name(&name, &keys).await?;
        let now = self.clock.now();
        let Some((key, key_id, keygen_ms)) =
            self.make_key(secret_id, &desc, token, &name, now).await?
        else {
            return Ok(());
        };
        // The key enters the key group now; edges trust it within P of this moment.
        let add = key_id.clone();
        if let Err(e) = self
            .edit_group(move |items| {
                let mut v = items.to_vec();
                if !v.contains(&add) {
                    v.push(add.clone());
                }
                v
            })
            .await
        {
            // Its private key dies with this run, and the write may have landed with its answer
            // lost: take the key out again (best effort), or it holds this version's name and
            // a place in the group until a later createSecret finds it dead, and the retry of
            // this step is refused as `Rotation.KeyNameTaken` meanwhile.
            if let Err(cleanup) = self.retire_key(&key_id).await {
                warn!(key_id = %key_id, error = %cleanup, "createSecret: could not take the new key out again; a later createSecret retires it once it is older than a Lambda run");
            }
            return Err(e);
        }
        let entered = self.clock.now();
        let value = SecretValue {
            format: FORMAT.to_owned(),
            key_id: key_id.clone(),
            algorithm: key.algorithm().as_str().to_owned(),
            private_key_pem: key.to_pkcs8_pem()?.to_string(),
            public_key_pem: key.public_key().to_pem(),
            created_at: now,
            active_from: entered + chrono::Duration::seconds(self.config.activation_delay),
        };
        self.store_pending(secret_id, token, &value).await?;
        info!(key_id = %key_id, name = %name, keygen_ms, active_from = %value.active_from, "createSecret: new key in the key group, stored as AWSPENDING");
        Ok(())
    }

    /// Keys in the group that a createSecret of this secret made and no labelled version names,
    /// older than a Lambda run: that run died between its CreatePublicKey and its
    /// PutSecretValue, and its private key died with it, so no cookie can need them. Left in
    /// the group, such a key stays through every refused rotation, and the next rotation's
    /// group holds four keys. A younger one may be a concurrent createSecret's, on its way.
    fn dead_in_group(
        &self,
        desc: &SecretDescription,
        items: &[String],
        keys: &[PublicKeyRecord],
    ) -> Vec<String> {
        let ours = format!("{}-{}-", self.config.key_name_prefix, secret_tag(&desc.arn));
        let labelled: BTreeSet<String> = desc
            .versions
            .iter()
            .filter(|(_, stages)| !stages.is_empty())
            .map(|(v, _)| key_name(&self.config.key_name_prefix, &desc.arn, v))
            .collect();
        let now = self.clock.now();
        keys.iter()
            .filter(|k| items.contains(&k.id) && k.name.starts_with(&ours))
            .filter(|k| !labelled.contains(&k.name))
            .filter(|k| {
                k.created_at
                    .is_some_and(|t| now - t >= chrono::Duration::seconds(STALE_KEY_AFTER_SECS))
            })
            .map(|k| k.id.clone())
            .collect()
    }

    /// Makes way for this version's key name. A key with the name but no stored value is left
    /// from a crash between CreatePublicKey and PutSecretValue: its private key is gone, so it
    /// goes. A young one belongs to a createSecret for the same version running now (a retry
    /// racing a resume): leave it, and refuse with `Rotation.KeyNameTaken`.
    async fn clear_name(&self, name: &str, keys: &[PublicKeyRecord]) -> Result<(), RotationError> {
        let now = self.clock.now();
        for stale in keys.iter().filter(|k| k.name == name) {
            if stale
                .created_at
                .is_some_and(|t| now - t < chrono::Duration::seconds(STALE_KEY_AFTER_SECS))
            {
                return Err(RotationError::KeyNameTaken(name.to_owned()));
            }
            warn!(key_id = %stale.id, "createSecret: removing a public key left by an interrupted createSecret");
            self.retire_key(&stale.id).await?;
        }
        Ok(())
    }

    /// Generates the key pair and registers its public half with CloudFront as `name`: the key,
    /// its CloudFront id, and how long generation took in milliseconds. `None` when a
    /// concurrent createSecret for this version registered the name first and has stored its
    /// value by now: the step is done.
    async fn make_key(
        &self,
        secret_id: &str,
        desc: &SecretDescription,
        token: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(cfcookie_signer::PrivateKey, String, u128)>, RotationError> {
        let started = std::time::Instant::now();
        let key = self.keygen.generate()?;
        let keygen_ms = started.elapsed().as_millis();
        let caller_reference = format!("{name}-{}", now.timestamp_millis());
        let comment = format!("cfcookie rotation of {} version {token}", desc.name);
        let comment: String = comment.chars().take(128).collect();
        match self
            .registry
            .create_public_key(
                name,
                &caller_reference,
                &key.public_key().to_pem(),
                &comment,
            )
            .await
        {
            Ok(id) => Ok(Some((key, id, keygen_ms))),
            Err(ServiceError::AlreadyExists(_)) => {
                // A concurrent createSecret for this version made it between our list and our
                // create.
                match self
                    .read(secret_id, VersionRef::IdAndStage(token, stage::PENDING))
                    .await
                {
                    Ok(Some(_)) => Ok(None),
                    _ => Err(RotationError::KeyNameTaken(name.to_owned())),
                }
            }
            Err(ServiceError::QuotaExceeded(m)) => Err(RotationError::TooManyPublicKeys(m)),
            Err(e) => Err(e.into()),
        }
    }

    /// PutSecretValue of the new key's value as AWSPENDING. When it cannot be stored, the new
    /// public key is taken out of the group and deleted: its private key goes with this run.
    async fn store_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretValue,
    ) -> Result<(), RotationError> {
        let key_id = &value.key_id;
        match self
            .secrets
            .put_value(secret_id, token, &value.to_json(), stage::PENDING)
            .await
        {
            Ok(()) => Ok(()),
            Err(ServiceError::AlreadyExists(_)) => {
                // A concurrent createSecret with the same token stored first; ours is an orphan.
                warn!(key_id = %key_id, "createSecret: lost a race for version {token}; removing our key");
                self.retire_key(key_id).await
            }
            Err(e) => {
                // Unless the value was stored after all (an answer lost after the call), the new
                // public key is an orphan already: take it out now (best effort), before a
                // concurrent rotation spares it as a young key in flight and the group holds it
                // for a whole interval.
                if let Ok(None) = self
                    .secrets
                    .get_value(secret_id, VersionRef::IdAndStage(token, stage::PENDING))
                    .await
                {
                    let _ = self.retire_key(key_id).await;
                }
                Err(e.into())
            }
        }
    }

    /// setSecret: key group := {current, pending}; managed keys that leave it are deleted.
    /// Refuses with `Rotation.TooSoon` (nothing changed) while the previous key may still be
    /// signing or hold valid cookies.
    ///
    /// Each attempt reads the key group first and the secret's labels after it: a finishSecret
    /// or `revoke` that moved the labels before the group was read is seen, and one that changed
    /// the group after it fails the write's If-Match and is re-read. An attempt therefore never
    /// writes a group planned from labels older than the group it replaces (a process paused
    /// between the two, a laptop asleep under `cfcookie rotate`, would otherwise put back a
    /// key retired meanwhile, or drop a newer rotation's key).
    pub async fn set(&self, secret_id: &str, token: &str, mode: Mode) -> Result<(), RotationError> {
        for attempt in 0..GROUP_RETRIES {
            let group = self.read_group().await?;
            let desc = match self.guard(secret_id, token, Step::Set, mode).await? {
                Guard::AlreadyCurrent => return Ok(()),
                Guard::Proceed(d) => d,
            };
            let pending = self.pending(secret_id, token).await?;
            if !group.items.contains(&pending.key_id) {
                if self.group_holds(&pending.key_id).await? {
                    continue; // that read was a moment old
                }
                return Err(self
                    .pending_left_the_group(secret_id, token, &pending)
                    .await?);
            }
            let current = self
                .read(secret_id, VersionRef::Stage(stage::CURRENT))
                .await?;
            let mut desired = Vec::new();
            if let Some(c) = &current {
                if c.key_id != pending.key_id {
                    desired.push(c.key_id.clone());
                }
            }
            desired.push(pending.key_id.clone());
            let protected = self
                .protected_key(secret_id, current.as_ref(), mode)
                .await?;
            let keys = self.registry.list_public_keys().await?;
            let in_flight = self.in_flight_keys(&desc, &keys);
            let items: Vec<String> = desired
                .iter()
                .chain(
                    group
                        .items
                        .iter()
                        .filter(|i| in_flight.contains(i) && !desired.contains(i)),
                )
                .cloned()
                .collect();
            match self.write_group(group, items, protected.as_ref()).await? {
                Written::Done(retired) => {
                    let keep: Vec<String> = desired.iter().chain(&in_flight).cloned().collect();
                    self.sweep(&desc, &keys, &keep, &retired).await?;
                    info!(group = %self.config.key_group_id, items = ?desired, retired = ?retired, "setSecret: key group updated");
                    return Ok(());
                }
                Written::Conflict => conflict_backoff(attempt).await,
            }
        }
        Err(RotationError::Conflict(self.config.key_group_id.clone()))
    }

    /// setSecret's answer when the pending key is not in the key group although createSecret
    /// put it there: the key was deleted (a concurrent rotation's setSecret retired it, or
    /// someone deleted it), or taken out of the group by hand (an operator undoing a stuck
    /// rotation in the console, whose deletion may not have followed). Either way the version's
    /// `active_from` no longer holds (edges may have dropped the key) and a version's value
    /// never changes, so the version cannot finish. No signer ever signed with a pending key,
    /// so nothing is lost by letting it go: its key is deleted if it still exists, AWSPENDING
    /// leaves the version, and the next rotation starts afresh instead of this one failing on
    /// every retry until someone cancels it.
    async fn pending_left_the_group(
        &self,
        secret_id: &str,
        token: &str,
        pending: &SecretValue,
    ) -> Result<RotationError, RotationError> {
        // Deleted now, or already gone: either way it can never sign.
        if delete_public_key(&self.registry, &pending.key_id).await? == Deletion::InUse {
            // CloudFront says a group holds it after all: the group reads were older than
            // that, or another key group holds it. Nothing changed; a retry reads again.
            return Ok(RotationError::KeyMismatch {
                key_id: pending.key_id.clone(),
                why: format!(
                    "it is missing from key group {} as read, but CloudFront refuses to delete it because a key group holds it: retry (a stale read passes; if another key group holds it, take it out there)",
                    self.config.key_group_id
                ),
            });
        }
        self.secrets
            .move_label(secret_id, stage::PENDING, None, Some(token))
            .await?;
        warn!(key_id = %pending.key_id, token, "setSecret: the pending key left the key group; AWSPENDING removed from its version");
        Ok(RotationError::Abandoned {
            token: token.to_owned(),
            key_id: pending.key_id.clone(),
        })
    }

    /// Managed keys of this secret that a createSecret running now may have made: younger
    /// than a Lambda run and named after no version of the secret. `cfcookie rotate` makes its
    /// key and puts it into the key group before its PutSecretValue creates the version (the
    /// public API cannot create a version without a value, as Secrets Manager does before it
    /// invokes createSecret:
    /// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html>),
    /// so a scheduled rotation may start in that gap. Its setSecret leaves such a key where it
    /// is; had it retired and deleted it, the in-process rotation would store a version naming a
    /// deleted key. If it belongs to no rotation after all (a crash before PutSecretValue), the
    /// next setSecret retires it.
    fn in_flight_keys(&self, desc: &SecretDescription, keys: &[PublicKeyRecord]) -> Vec<String> {
        let ours = format!("{}-{}-", self.config.key_name_prefix, secret_tag(&desc.arn));
        let named: BTreeSet<String> = desc
            .versions
            .keys()
            .map(|v| key_name(&self.config.key_name_prefix, &desc.arn, v))
            .collect();
        let now = self.clock.now();
        keys.iter()
            .filter(|k| k.name.starts_with(&ours) && !named.contains(&k.name))
            .filter(|k| {
                k.created_at
                    .is_some_and(|t| now - t < chrono::Duration::seconds(STALE_KEY_AFTER_SECS))
            })
            .map(|k| k.id.clone())
            .collect()
    }

    /// Read-modify-write of the key group with If-Match: `edit` maps the items read to the
    /// items wanted. Returns the ids that left the group.
    pub(crate) async fn edit_group<F>(&self, edit: F) -> Result<Vec<String>, RotationError>
    where
        F: Fn(&[String]) -> Vec<String>,
    {
        for attempt in 0..GROUP_RETRIES {
            let group = self.read_group().await?;
            let desired = edit(&group.items);
            match self.write_group(group, desired, None).await? {
                Written::Done(retired) => return Ok(retired),
                Written::Conflict => conflict_backoff(attempt).await,
            }
        }
        Err(RotationError::Conflict(self.config.key_group_id.clone()))
    }

    /// Takes `key_id` out of the key group, then deletes it (a key this run made and cannot
    /// use, or one `revoke` retires).
    pub(crate) async fn retire_key(&self, key_id: &str) -> Result<(), RotationError> {
        self.remove_from_group(&[key_id.to_owned()]).await?;
        self.delete_key(key_id).await
    }

    /// Takes `ids` out of the key group (those it holds); returns the ids that left it.
    pub(crate) async fn remove_from_group(
        &self,
        ids: &[String],
    ) -> Result<Vec<String>, RotationError> {
        self.edit_group(|items| without(items, ids)).await
    }

    /// The key group as it is now, with its ETag.
    async fn read_group(&self) -> Result<KeyGroupRecord, RotationError> {
        let gid = &self.config.key_group_id;
        self.registry
            .get_key_group(gid)
            .await?
            .ok_or_else(|| RotationError::KeyGroupNotFound(gid.clone()))
    }

    /// Writes `desired` over `group` (as read, with its ETag). Refuses with `Rotation.TooSoon`
    /// when that would drop the `protected` key.
    async fn write_group(
        &self,
        mut group: KeyGroupRecord,
        desired: Vec<String>,
        protected: Option<&(String, DateTime<Utc>)>,
    ) -> Result<Written, RotationError> {
        let want: BTreeSet<&String> = desired.iter().collect();
        if group.items.iter().collect::<BTreeSet<_>>() == want {
            return Ok(Written::Done(Vec::new()));
        }
        let retired: Vec<String> = group
            .items
            .iter()
            .filter(|i| !want.contains(i))
            .cloned()
            .collect();
        if let Some((key_id, safe_at)) = protected {
            if retired.contains(key_id) {
                return Err(RotationError::TooSoon {
                    key_id: key_id.clone(),
                    safe_at: *safe_at,
                });
            }
        }
        group.items = desired;
        match self.registry.update_key_group(&group).await {
            Ok(_) => Ok(Written::Done(retired)),
            Err(ServiceError::PreconditionFailed) => Ok(Written::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes managed keys that left the group or were orphaned: keys of this secret that are
    /// neither in the group nor the key of a staged (AWSCURRENT/AWSPENDING) version, and managed
    /// keys this setSecret just retired; and infra's bootstrap key once it is in no group. Keys
    /// of other secrets sharing the prefix are left alone; a key still in some other key group
    /// is refused by CloudFront (PublicKeyInUse) and left too. An orphan younger than a Lambda
    /// run may be a concurrent createSecret's key on its way into the group: it waits.
    ///
    /// `keys` is the step's one ListPublicKeys, made before its group write: a key created
    /// since is not in it, and would be too young to sweep anyway.
    async fn sweep(
        &self,
        desc: &SecretDescription,
        keys: &[PublicKeyRecord],
        keep: &[String],
        retired: &[String],
    ) -> Result<(), RotationError> {
        let managed = format!("{}-", self.config.key_name_prefix);
        let ours = format!("{}{}-", managed, secret_tag(&desc.arn));
        // Keys of staged versions are kept even outside the group (a pending key before
        // setSecret, say); their names derive from their version ids.
        let live_names: BTreeSet<String> = desc
            .versions
            .iter()
            .filter(|(_, stages)| {
                stages
                    .iter()
                    .any(|s| s == stage::PENDING || s == stage::CURRENT)
            })
            .map(|(v, _)| key_name(&self.config.key_name_prefix, &desc.arn, v))
            .collect();
        let now = self.clock.now();
        for key in keys {
            if keep.contains(&key.id) {
                continue;
            }
            if self.config.bootstrap_key_name.as_deref() == Some(key.name.as_str()) {
                // No private half exists: nothing was ever signed with it (decision 0002).
                self.delete_key(&key.id).await?;
                continue;
            }
            if !key.name.starts_with(&managed) || live_names.contains(&key.name) {
                continue;
            }
            let young = key
                .created_at
                .is_some_and(|t| now - t < chrono::Duration::seconds(STALE_KEY_AFTER_SECS));
            if retired.contains(&key.id) || (key.name.starts_with(&ours) && !young) {
                self.delete_key(&key.id).await?;
            }
        }
        Ok(())
    }

    /// Whether the key group holds `key_id`. A "no" is read again, [`GROUP_REREAD_SECS`]
    /// apart, before it is believed: the read may come a moment after our own UpdateKeyGroup,
    /// and the CloudFront API reference promises no read-after-write
    /// (<https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_GetKeyGroup.html>), so
    /// one stale answer must not fail testSecret and page someone.
    async fn group_holds(&self, key_id: &str) -> Result<bool, RotationError> {
        for attempt in 0..GROUP_READS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(GROUP_REREAD_SECS)).await;
            }
            let holds = self
                .registry
                .get_key_group(&self.config.key_group_id)
                .await?
                .is_some_and(|g| g.items.iter().any(|i| i == key_id));
            if holds {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes a public key ([`delete_public_key`]); one still in some (other) key group is
    /// left alone and logged.
    pub(crate) async fn delete_key(&self, id: &str) -> Result<(), RotationError> {
        match delete_public_key(&self.registry, id).await? {
            Deletion::Deleted => info!(key_id = id, "deleted public key"),
            Deletion::InUse => warn!(
                key_id = id,
                "public key is still in some key group; leaving it"
            ),
        }
        Ok(())
    }

    /// testSecret: the pending key signs, CloudFront's copy of its public key verifies, and the
    /// key group holds it. Called on the current version (RotateImmediately=false), it checks
    /// the current key the same way and changes nothing.
    pub async fn test(
        &self,
        secret_id: &str,
        token: &str,
        mode: Mode,
    ) -> Result<(), RotationError> {
        let value = match self.guard(secret_id, token, Step::Test, mode).await? {
            Guard::AlreadyCurrent => {
                match self
                    .read(secret_id, VersionRef::Stage(stage::CURRENT))
                    .await?
                {
                    Some(v) => v,
                    None => {
                        info!("testSecret: current version holds no key yet (bootstrap); nothing to test");
                        return Ok(());
                    }
                }
            }
            Guard::Proceed(_) => {
                // RotateImmediately=false: Secrets Manager stages a new AWSPENDING version with
                // no value and calls testSecret alone, to test the configuration, then removes
                // it (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html).
                // In a real rotation createSecret has stored a value before testSecret runs.
                let stored = self
                    .secrets
                    .get_value(secret_id, VersionRef::IdAndStage(token, stage::PENDING))
                    .await?;
                if stored.is_none() && mode == Mode::Lambda {
                    match self
                        .read(secret_id, VersionRef::Stage(stage::CURRENT))
                        .await?
                    {
                        Some(v) => {
                            info!("testSecret on an empty AWSPENDING version (RotateImmediately=false): testing the current key");
                            v
                        }
                        None => {
                            info!("testSecret on an empty AWSPENDING version (RotateImmediately=false); the secret holds no key yet");
                            return Ok(());
                        }
                    }
                } else {
                    self.pending(secret_id, token).await?
                }
            }
        };
        self.check_key(&value).await?;
        if let Some(url) = &self.config.canary_url {
            self.canary(url, &value).await?;
        }
        info!(key_id = %value.key_id, "testSecret: key verified against CloudFront");
        Ok(())
    }

    /// Signs a probe policy with the stored private key and verifies it with the public key as
    /// CloudFront returns it; checks the key group holds the key.
    pub async fn check_key(&self, value: &SecretValue) -> Result<(), RotationError> {
        let mismatch = |why: String| RotationError::KeyMismatch {
            key_id: value.key_id.clone(),
            why,
        };
        let private = PrivateKey::from_pem(&value.private_key_pem, None)
            .map_err(|e| mismatch(format!("stored private key: {e}")))?;
        let (record, _) = self
            .registry
            .get_public_key(&value.key_id)
            .await?
            .ok_or_else(|| mismatch("CloudFront has no public key with this id".into()))?;
        let cloudfront_key = PublicKey::from_pem(&record.encoded_key)
            .map_err(|e| mismatch(format!("CloudFront's public key: {e}")))?;
        let probe = Policy::new(
            "https://cfcookie.invalid/rotation-probe/*",
            self.clock.now().timestamp() + 60,
        )
        .to_json();
        // One probe: whether CloudFront's public key belongs to the stored private key does not
        // depend on the hash. SHA-256, because a SHA-1 signature needs a second parse of the key
        // (`PrivateKey::sign`), and a second probe would double the step's cryptography to learn
        // nothing more about the key.
        let hash = HashAlgorithm::Sha256;
        let sig = private.sign(hash, probe.as_bytes())?;
        if !cloudfront_key.verify(hash, probe.as_bytes(), &sig) {
            return Err(mismatch(format!("a {hash} signature by the stored private key does not verify with CloudFront's public key")));
        }
        if !self.group_holds(&value.key_id).await? {
            return Err(mismatch(format!(
                "key group {} does not hold it",
                self.config.key_group_id
            )));
        }
        Ok(())
    }

    /// Requests the canary URL with cookies signed by the key under test until it is not
    /// refused, with doubling backoff; every try and wait fits in [`CANARY_BUDGET_SECS`], so the
    /// worst case ends inside the Lambda's timeout instead of being cut by it.
    ///
    /// The edges have until the key's `active_from` (G(k) + P) to trust it, and testSecret runs
    /// about a second after G(k): a refusal before `active_from` says the edges have not caught
    /// up yet, not that the key is broken (check_key has verified it against CloudFront's copy
    /// and the group), so it is logged and the step passes; no signer uses the key before then
    /// (S1). From `active_from` on a refusal is an error: in testSecret on the current key
    /// (RotateImmediately=false) and in the scheduled key check, which judges the canary once
    /// the edges should have the key (docs/rotation.md, "The canary and P").
    pub async fn canary(&self, url: &str, value: &SecretValue) -> Result<(), RotationError> {
        let key = PrivateKey::from_pem(&value.private_key_pem, None)?;
        let signer = Signer::new(value.key_id.clone(), Arc::new(key))
            .map_err(|e| RotationError::Config(format!("canary: {e}")))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(CANARY_BUDGET_SECS);
        let mut last = String::new();
        for attempt in 0..self.config.canary_attempts {
            let policy = Policy::new(
                format!("{}*", url.split('?').next().unwrap_or(url)),
                self.clock.now().timestamp() + 300,
            );
            let cookies = signer
                .cookies(&policy)
                .map_err(|e| RotationError::Config(format!("canary: {e}")))?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.probe.fetch(url, &cookies.cookie_header())).await
            {
                Ok(Ok(status)) if status != 403 && status < 500 => {
                    info!(
                        url,
                        status, attempt, "testSecret: canary accepted the pending key"
                    );
                    return Ok(());
                }
                Ok(Ok(status)) => last = status.to_string(),
                Ok(Err(e)) => last = e,
                Err(_) => {
                    last = format!("no answer within the canary's {CANARY_BUDGET_SECS}s budget");
                    break;
                }
            }
            let wait = Duration::from_millis(self.config.canary_backoff_ms << attempt.min(6));
            if attempt + 1 >= self.config.canary_attempts
                || tokio::time::Instant::now() + wait >= deadline
            {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        if self.clock.now() < value.active_from {
            warn!(
                url,
                key_id = %value.key_id,
                last_status = %last,
                active_from = %value.active_from,
                "testSecret: canary refused before the edges' propagation allowance ran out; not judged until active_from"
            );
            return Ok(());
        }
        Err(RotationError::Canary {
            url: url.to_owned(),
            key_id: value.key_id.clone(),
            status: last,
        })
    }

    /// finishSecret: AWSCURRENT moves to the token; the SSM parameter(s) get its key id.
    pub async fn finish(
        &self,
        secret_id: &str,
        token: &str,
        mode: Mode,
    ) -> Result<(), RotationError> {
        let desc = match self.guard(secret_id, token, Step::Finish, mode).await? {
            Guard::AlreadyCurrent => {
                // A retry after the label moved but before SSM was written still writes SSM.
                if let Some(current) = self
                    .read(secret_id, VersionRef::Stage(stage::CURRENT))
                    .await?
                {
                    self.publish(&current.key_id).await?;
                }
                let desc = self.secrets.describe(secret_id).await?;
                if desc.has(token, stage::PENDING) {
                    self.secrets
                        .move_label(secret_id, stage::PENDING, None, Some(token))
                        .await?;
                }
                return Ok(());
            }
            Guard::Proceed(d) => d,
        };
        let pending = self.pending(secret_id, token).await?;
        let from = desc.version_with(stage::CURRENT).map(str::to_owned);
        self.secrets
            .move_label(secret_id, stage::CURRENT, Some(token), from.as_deref())
            .await?;
        // AWSPENDING leaves the new current version: after a successful rotation AWS documents
        // it "might be attached to the same version as the AWSCURRENT version, or it might not
        // be attached to any version"; removing it here leaves one state, not two
        // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html).
        self.secrets
            .move_label(secret_id, stage::PENDING, None, Some(token))
            .await?;
        self.publish(&pending.key_id).await?;
        info!(key_id = %pending.key_id, "finishSecret: AWSCURRENT moved; key id published");
        Ok(())
    }

    async fn publish(&self, key_id: &str) -> Result<(), RotationError> {
        for name in &self.config.key_id_parameters {
            if self.params.get(name).await?.as_deref() != Some(key_id) {
                self.params.put(name, key_id).await?;
            }
        }
        Ok(())
    }
}

/// The first `n` lowercase hex digits of `bytes` (names are derived on every sweep).
fn hex(bytes: &[u8], n: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]])
        .take(n)
        .map(char::from)
        .collect()
}

/// Short stable tag of a secret ARN, so two secrets sharing a prefix never sweep each other.
pub fn secret_tag(arn: &str) -> String {
    hex(digest::digest(&digest::SHA256, arn.as_bytes()).as_ref(), 8)
}

/// The public key name for a version: `PREFIX-SECRETTAG-VERSIONTAG`. Derived, so a key can be
/// matched to its version without reading any secret value.
pub fn key_name(prefix: &str, arn: &str, version_id: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        secret_tag(arn),
        hex(
            digest::digest(&digest::SHA256, version_id.as_bytes()).as_ref(),
            20
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_the_prefix_and_hex_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        // (FIPS 180-2, appendix B.1): the names of keys already in CloudFront must not change.
        assert_eq!(secret_tag("abc"), "ba7816bf");
        assert_eq!(
            key_name("cfcookie", "abc", "abc"),
            "cfcookie-ba7816bf-ba7816bf8f01cfea4141"
        );
    }
}
