//! The simulated world: Secrets Manager, CloudFront (account, key group, edges), SSM, on one
//! simulated clock (tokio's paused clock), behind the rotator's real ports.
//!
//! What is modelled, and where AWS documents it:
//! - Secrets Manager retries a failed rotation as a whole, with the same token: "If any rotation
//!   step fails, Secrets Manager retries the entire rotation process multiple times."
//!   <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda.html>.
//!   How many times and how far apart is not documented; the simulation retries up to
//!   [`SM_RETRIES`] times, 1 to 30 minutes apart.
//! - RotateSecret refuses while AWSPENDING is on a version other than AWSCURRENT, and
//!   RotateImmediately=false runs testSecret alone on a new AWSPENDING version that it then
//!   removes: <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html>.
//!   The version is staged with no value, as for every rotation start (moto does the same,
//!   getmoto/moto#8504).
//! - Rotation schedules (`rate()`, `cron()`, `Duration`) and their windows: see `schedule.rs`.
//! - CloudFront: 10 public keys per account, 5 public keys per key group
//!   (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html>);
//!   CreatePublicKey refuses a second key with the same name (PublicKeyAlreadyExists) and an 11th
//!   key (TooManyPublicKeys): <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreatePublicKey.html>.
//!   Key groups carry LastModifiedTime: <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_KeyGroup.html>.
//! - Edges see a key group change after their own delay (bounded by `max_edge_delay`, which the
//!   allowance P must cover), in order.
//! - Any call may be throttled, may be slow (so the Lambda's timeout cuts the step after it),
//!   and ListPublicKeys / GetKeyGroup may return a state a moment old.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::{Arc, Mutex, MutexGuard};

use cfcookie_rotator::model::{
    stage, KeyGroupRecord, PublicKeyRecord, SecretDescription, SecretValue, VersionRef,
};
use cfcookie_rotator::ports::{
    Clock, KeyGenerator, KeyRegistry, ParameterStore, SecretStore, ServiceError, ServiceResult,
};
use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zeroize::Zeroizing;

use cfcookie_signer::{KeyAlgorithm, PrivateKey};

use cfcookie_testing::memory;

use crate::schedule::Rules;

/// Whole-rotation retries after a failed step.
pub(crate) const SM_RETRIES: u32 = 3;
/// The longest wait before one (seconds); the shortest is a minute.
pub(crate) const SM_RETRY_WAIT_MAX: i64 = 1800;
/// Public keys per account.
pub(crate) const ACCOUNT_QUOTA: usize = 10;
/// The rotator Lambda's timeout (infra/lambdas.tf).
pub(crate) const LAMBDA_TIMEOUT_SECS: u64 = 120;
/// The simulated epoch: 2027-01-01T00:00:00Z.
pub(crate) const EPOCH: i64 = 1_798_761_600;

/// Per-seed settings.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub seed: u64,
    pub days: u32,
    pub activation_delay: i64,
    pub key_cache_ttl: i64,
    pub cookie_lifetime: i64,
    pub max_edge_delay: i64,
    pub edges: usize,
    pub signers: usize,
    /// The rotation rules the secret starts with.
    pub rules: Rules,
    /// When an operator switches `CFCOOKIE_KEY_ALGORITHM` to RSA_2048 and for how long before
    /// switching back to ECDSA_P256 (seconds after the start), on some seeds.
    pub algorithm_switch: Option<(i64, i64)>,
    pub other_stack_keys: usize,
    pub p_throttle: f64,
    pub p_slow: f64,
    pub p_lag: f64,
}

impl Params {
    pub(crate) fn for_seed(seed: u64, days: u32) -> Params {
        let mut r = StdRng::seed_from_u64(seed ^ 0x5eed);
        let activation_delay = [60, 300, 900][r.random_range(0..3)];
        Params {
            seed,
            days,
            activation_delay,
            key_cache_ttl: [600, 1800, 3600][r.random_range(0..3)],
            cookie_lifetime: [900, 3600, 7200][r.random_range(0..3)],
            max_edge_delay: activation_delay * 9 / 10,
            edges: r.random_range(2..=4),
            signers: r.random_range(2..=3),
            rules: Rules::for_seed(&mut r, EPOCH),
            algorithm_switch: r.random_bool(0.1).then(|| {
                let start = r.random_range(86_400..(i64::from(days) * 86_400 / 2).max(86_401));
                (start, r.random_range(2 * 86_400..7 * 86_400))
            }),
            other_stack_keys: r.random_range(0..=6),
            p_throttle: 0.004,
            p_slow: 0.003,
            p_lag: 0.03,
        }
    }
}

pub(crate) use cfcookie_testing::memory::Version;

#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub record: PublicKeyRecord,
    pub etag: String,
    pub created: i64,
    /// The algorithm of its EncodedKey (`None` for the keys infra and other stacks made).
    pub algorithm: Option<KeyAlgorithm>,
}

/// A lane of the timeline and the swimlane picture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Lane {
    SecretsManager,
    Operator,
    Rotator,
    CloudFront,
    Edge(usize),
    Signer(usize),
    Check,
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lane::SecretsManager => write!(f, "secretsmanager"),
            Lane::Operator => write!(f, "operator"),
            Lane::Rotator => write!(f, "rotator"),
            Lane::CloudFront => write!(f, "cloudfront"),
            Lane::Edge(i) => write!(f, "edge-{i}"),
            Lane::Signer(i) => write!(f, "signer-{i}"),
            Lane::Check => write!(f, "CHECK"),
        }
    }
}

/// A viewer's presentation of a cookie to an edge (ordered by time, then by when it was queued).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Presentation {
    pub when: i64,
    pub order: u64,
    pub edge: usize,
    pub key: Arc<str>,
    /// Seconds since the cookie was signed.
    pub age: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub t: i64,
    pub lane: Lane,
    pub text: String,
}

/// Everything, behind one lock.
#[derive(Debug)]
pub(crate) struct World {
    pub p: Params,
    pub rng: StdRng,
    pub start: tokio::time::Instant,
    // Secrets Manager
    pub arn: String,
    pub name: String,
    pub versions: BTreeMap<String, Version>,
    pub parsed: BTreeMap<String, (String, i64)>,
    /// Version id -> `SecretValue::parse` of its value (which never changes once stored).
    pub values: BTreeMap<String, Result<Option<SecretValue>, String>>,
    /// RotationRules now (an operator may change them).
    pub rules: Rules,
    /// Whether the rotator's interval guard refuses the rules now.
    pub rules_refused: bool,
    /// The rotator Lambda's `CFCOOKIE_KEY_ALGORITHM`.
    pub algorithm: KeyAlgorithm,
    /// Whether it was ever changed.
    pub algorithm_switched: bool,
    pub rotation_failed: u32,
    // CloudFront
    pub keys: BTreeMap<String, Key>,
    pub deleted: Vec<(i64, Key)>,
    pub group: KeyGroupRecord,
    pub group_modified: i64,
    pub prev_group: Option<(i64, KeyGroupRecord)>,
    pub edges: Vec<BTreeSet<String>>,
    pub edge_ever: Vec<BTreeSet<String>>,
    pub edge_next_apply: Vec<i64>,
    pub bootstrap_key: String,
    // SSM
    pub params: BTreeMap<String, (String, i64)>,
    counter: u64,
    // Observation
    pub timeline: Vec<Event>,
    pub last_signed: BTreeMap<String, i64>,
    pub first_key: Option<String>,
    pub first_key_at: i64,
    pub violations: Vec<(String, i64, String)>,
    pub rotations_done: u64,
    pub last_rotation: i64,
    /// When a new version last became AWSCURRENT.
    pub last_key_change: i64,
    pub stats: BTreeMap<&'static str, u64>,
    /// Per signer: the key it signs with and since when (for the picture).
    pub signing: Vec<Vec<(i64, Option<String>)>>,
    pub edge_lanes: Vec<Vec<(i64, Vec<String>)>>,
    /// The endpoint instances.
    pub slots: Vec<crate::check::Slot>,
    /// The time while a skipped refresh is replayed at its own time (`check::catch_up`).
    pub clock_override: Option<i64>,
    /// Viewers' presentations still to come, earliest first (`check::present_due`).
    pub presentations: BinaryHeap<Reverse<Presentation>>,
    presentations_queued: u64,
    /// Notified at the first violation: the run stops there.
    pub stop: Arc<tokio::sync::Notify>,
}

impl World {
    pub(crate) fn now(&self) -> i64 {
        if let Some(t) = self.clock_override {
            return t;
        }
        EPOCH + (tokio::time::Instant::now() - self.start).as_secs() as i64
    }

    /// Adds to the timeline, in time order (a replayed refresh or a queued presentation logs
    /// at an instant already passed).
    pub(crate) fn log(&mut self, lane: Lane, text: impl Into<String>) {
        let t = self.now();
        let at = if self.timeline.last().is_some_and(|e| e.t > t) {
            self.timeline.partition_point(|e| e.t <= t)
        } else {
            self.timeline.len()
        };
        self.timeline.insert(
            at,
            Event {
                t,
                lane,
                text: text.into(),
            },
        );
    }

    /// Queues a viewer's presentation of a cookie signed by `key` to `edge` at `when`, `age`
    /// seconds after it was signed.
    pub(crate) fn present_later(&mut self, when: i64, edge: usize, key: Arc<str>, age: i64) {
        self.presentations_queued += 1;
        self.presentations.push(Reverse(Presentation {
            when,
            order: self.presentations_queued,
            edge,
            key,
            age,
        }));
    }

    pub(crate) fn violate(&mut self, kind: &str, text: String) {
        let t = self.now();
        let ignored = std::env::var("CFCOOKIE_SIM_IGNORE")
            .is_ok_and(|v| v.split(',').any(|k| k.trim() == kind));
        if ignored {
            self.log(Lane::Check, format!("(ignored) {kind}: {text}"));
            return;
        }
        self.log(Lane::Check, format!("VIOLATION {kind}: {text}"));
        self.violations.push((kind.to_owned(), t, text));
        self.stop.notify_one();
    }

    pub(crate) fn bump(&mut self, what: &'static str) {
        *self.stats.entry(what).or_default() += 1;
    }

    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:06}", self.counter)
    }

    /// A fresh version id, reproducible from the seed.
    pub(crate) fn token(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        cfcookie_rotator::model::uuid_text(&b)
    }

    pub(crate) fn version_with(&self, label: &str) -> Option<String> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|s| s == label))
            .map(|(k, _)| k.clone())
    }

    /// The key id and `active_from` stored under `label` (parsed once, when stored).
    pub(crate) fn key_of(&self, label: &str) -> Option<(String, i64)> {
        self.parsed.get(&self.version_with(label)?).cloned()
    }

    /// AWSPENDING on a version other than AWSCURRENT: RotateSecret refuses.
    pub(crate) fn rotation_in_progress(&self) -> bool {
        self.versions.values().any(|v| {
            v.stages.iter().any(|s| s == stage::PENDING)
                && !v.stages.iter().any(|s| s == stage::CURRENT)
        })
    }

    /// RotateSecret's staging of a new empty AWSPENDING version.
    pub(crate) fn stage_pending(&mut self, token: &str) -> Result<(), String> {
        if self.rotation_in_progress() {
            return Err(
                "A previous rotation isn't complete. That rotation will be reattempted.".into(),
            );
        }
        for v in self.versions.values_mut() {
            v.stages.retain(|s| s != stage::PENDING);
        }
        self.versions.insert(
            token.to_owned(),
            Version {
                value: None,
                stages: vec![stage::PENDING.to_owned()],
            },
        );
        Ok(())
    }

    /// What Secrets Manager does after a successful finishSecret: AWSPENDING leaves the version.
    pub(crate) fn clear_pending(&mut self, token: &str) {
        if let Some(v) = self.versions.get_mut(token) {
            v.stages.retain(|s| s != stage::PENDING);
        }
        self.gc_versions();
    }

    /// Versions with no label are deprecated and eventually deleted.
    pub(crate) fn gc_versions(&mut self) {
        self.versions.retain(|_, v| !v.stages.is_empty());
        let versions = &self.versions;
        self.values.retain(|k, _| versions.contains_key(k));
    }

    fn fault(&mut self, operation: &'static str) -> ServiceResult<()> {
        if self.rng.random_bool(self.p.p_throttle) {
            self.bump("throttled");
            self.log(
                Lane::CloudFront,
                format!("{operation}: ThrottlingException"),
            );
            return Err(ServiceError::Other {
                operation,
                message: "ThrottlingException: Rate exceeded".into(),
            });
        }
        Ok(())
    }

    fn slow(&mut self) -> Option<std::time::Duration> {
        self.rng
            .random_bool(self.p.p_slow)
            .then(|| std::time::Duration::from_secs(self.rng.random_range(20..200)))
    }
}

/// The shared simulation handle.
#[derive(Debug, Clone)]
pub(crate) struct Sim(pub Arc<Mutex<World>>);

impl Sim {
    pub(crate) fn new(p: Params) -> Sim {
        let rng = StdRng::seed_from_u64(p.seed);
        let edges = p.edges;
        let signers = p.signers;
        let mut w = World {
            rng,
            start: tokio::time::Instant::now(),
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:sim/cfcookie-AbCdEf".into(),
            name: "sim/cfcookie".into(),
            versions: BTreeMap::new(),
            parsed: BTreeMap::new(),
            values: BTreeMap::new(),
            rules: p.rules.clone(),
            rules_refused: false,
            algorithm: KeyAlgorithm::EcdsaP256,
            algorithm_switched: false,
            rotation_failed: 0,
            keys: BTreeMap::new(),
            deleted: Vec::new(),
            group: KeyGroupRecord {
                id: "KG-SIM".into(),
                name: "sim".into(),
                items: vec![],
                comment: String::new(),
                etag: "E0".into(),
                last_modified: None,
            },
            group_modified: EPOCH,
            prev_group: None,
            edges: vec![BTreeSet::new(); edges],
            edge_ever: vec![BTreeSet::new(); edges],
            edge_next_apply: vec![EPOCH; edges],
            bootstrap_key: String::new(),
            params: BTreeMap::new(),
            counter: 0,
            timeline: Vec::new(),
            last_signed: BTreeMap::new(),
            first_key: None,
            first_key_at: 0,
            violations: Vec::new(),
            rotations_done: 0,
            last_rotation: EPOCH,
            last_key_change: EPOCH,
            stats: BTreeMap::new(),
            signing: vec![Vec::new(); signers],
            edge_lanes: vec![Vec::new(); edges],
            clock_override: None,
            presentations: BinaryHeap::new(),
            presentations_queued: 0,
            stop: Arc::default(),
            slots: (0..signers)
                .map(|_| crate::check::Slot::default())
                .collect(),
            p,
        };
        // What infra makes: the placeholder secret, a bootstrap key outside the managed
        // names, a key group trusting it, the parameter, and other stacks' keys.
        let placeholder = r#"{"placeholder":"set by Terraform"}"#;
        w.versions.insert(
            "v-placeholder".into(),
            Version {
                value: Some(placeholder.into()),
                stages: vec![stage::CURRENT.into()],
            },
        );
        w.values
            .insert("v-placeholder".into(), SecretValue::parse(placeholder));
        let boot = w.next("KBOOT");
        w.keys.insert(
            boot.clone(),
            Key {
                record: PublicKeyRecord {
                    id: boot.clone(),
                    name: "sim-bootstrap".into(),
                    encoded_key: String::new(),
                    comment: "bootstrap".into(),
                    created_at: None,
                },
                etag: "E-boot".into(),
                created: EPOCH,
                algorithm: None,
            },
        );
        for i in 0..w.p.other_stack_keys {
            let id = w.next("KOTHER");
            w.keys.insert(
                id.clone(),
                Key {
                    record: PublicKeyRecord {
                        id,
                        name: format!("other-stack-{i}"),
                        encoded_key: String::new(),
                        comment: String::new(),
                        created_at: None,
                    },
                    etag: "E-other".into(),
                    created: EPOCH,
                    algorithm: None,
                },
            );
        }
        w.bootstrap_key = boot.clone();
        w.group.items = vec![boot.clone()];
        for e in 0..edges {
            w.edges[e].insert(boot.clone());
            w.edge_ever[e].insert(boot.clone());
            w.edge_lanes[e].push((EPOCH, vec![boot.clone()]));
        }
        w.params
            .insert("/sim/key-id".into(), ("none-yet".into(), EPOCH));
        Sim(Arc::new(Mutex::new(w)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps when the call is slow (the Lambda timeout may cut the step here).
    async fn maybe_slow(&self) {
        let slow = self.lock().slow();
        if let Some(d) = slow {
            self.lock().bump("slow calls");
            tokio::time::sleep(d).await;
        }
    }

    /// Schedules every edge's view of the new group.
    fn propagate(&self, w: &mut World, items: Vec<String>) {
        let now = w.now();
        for e in 0..w.p.edges {
            let d = w.rng.random_range(0..=w.p.max_edge_delay);
            let at = (now + d).max(w.edge_next_apply[e]);
            w.edge_next_apply[e] = at;
            let sim = self.clone();
            let items = items.clone();
            tokio::spawn(async move {
                let wait = {
                    let w = sim.lock();
                    (at - w.now()).max(0) as u64
                };
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                crate::check::catch_up(&sim, false);
                crate::check::edge_applies(&sim, e, items);
            });
        }
    }
}

/// Secrets Manager as the rotator (or a signer) sees it.
#[derive(Debug, Clone)]
pub(crate) struct SimSecrets {
    pub sim: Sim,
    pub lane: Lane,
    pub faults: bool,
}

impl SimSecrets {
    pub(crate) fn enter(&self, op: &'static str) -> ServiceResult<()> {
        if let Lane::Signer(i) = self.lane {
            let w = self.sim.lock();
            if w.slots[i].failing_until > w.now() {
                return Err(ServiceError::Other {
                    operation: op,
                    message: "simulated outage of this instance's reads".into(),
                });
            }
        }
        if self.faults {
            self.sim.lock().fault(op)?;
        }
        Ok(())
    }
}

impl SecretStore for SimSecrets {
    async fn describe(&self, _secret_id: &str) -> ServiceResult<SecretDescription> {
        self.enter("DescribeSecret")?;
        let w = self.sim.lock();
        Ok(SecretDescription {
            arn: w.arn.clone(),
            name: w.name.clone(),
            rotation_enabled: true,
            rotation_spacing: crate::compat::interval(&w),
            versions: memory::stages_of(&w.versions),
        })
    }

    async fn get_value(
        &self,
        _secret_id: &str,
        version: VersionRef<'_>,
    ) -> ServiceResult<Option<Zeroizing<String>>> {
        self.enter("GetSecretValue")?;
        memory::read_value(&self.sim.lock().versions, version)
    }

    async fn put_value(
        &self,
        _secret_id: &str,
        token: &str,
        value: &str,
        label: &str,
    ) -> ServiceResult<()> {
        self.enter("PutSecretValue")?;
        self.sim.maybe_slow().await;
        crate::check::catch_up(&self.sim, true);
        let mut w = self.sim.lock();
        memory::put_value(&mut w.versions, token, value, label)?;
        let parsed = SecretValue::parse(value);
        let key = parsed
            .as_ref()
            .ok()
            .and_then(|v| v.as_ref())
            .map(|v| v.key_id.clone());
        if let Ok(Some(v)) = &parsed {
            w.parsed.insert(
                token.to_owned(),
                (v.key_id.clone(), v.active_from.timestamp()),
            );
        }
        w.values.insert(token.to_owned(), parsed);
        w.log(
            self.lane.clone(),
            format!("PutSecretValue {label} {} key {key:?}", short(token)),
        );
        drop(w);
        crate::check::all(&self.sim);
        Ok(())
    }

    async fn move_label(
        &self,
        _secret_id: &str,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> ServiceResult<()> {
        self.enter("UpdateSecretVersionStage")?;
        self.sim.maybe_slow().await;
        crate::check::catch_up(&self.sim, true);
        let mut w = self.sim.lock();
        let before = w.version_with(stage::CURRENT);
        memory::move_label(&mut w.versions, label, to, from)?;
        if label == stage::CURRENT && to.is_some() && w.version_with(stage::CURRENT) != before {
            w.last_key_change = w.now();
        }
        w.gc_versions();
        let lane = self.lane.clone();
        w.log(
            lane,
            format!(
                "UpdateSecretVersionStage {label} -> {} (from {})",
                to.map(short).unwrap_or("-".into()),
                from.map(short).unwrap_or("-".into())
            ),
        );
        drop(w);
        crate::check::all(&self.sim);
        Ok(())
    }
}

pub(crate) fn short(token: &str) -> String {
    token.chars().take(8).collect()
}

/// CloudFront as the rotator sees it.
#[derive(Debug, Clone)]
pub(crate) struct SimCloudFront {
    pub sim: Sim,
}

impl KeyRegistry for SimCloudFront {
    async fn create_public_key(
        &self,
        name: &str,
        _caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> ServiceResult<String> {
        self.sim.lock().fault("CreatePublicKey")?;
        self.sim.maybe_slow().await;
        let mut w = self.sim.lock();
        if w.keys.values().any(|k| k.record.name == name) {
            w.log(
                Lane::CloudFront,
                format!("CreatePublicKey {name}: PublicKeyAlreadyExists"),
            );
            return Err(crate::compat::already_exists(name));
        }
        if w.keys.len() >= ACCOUNT_QUOTA {
            w.log(
                Lane::CloudFront,
                format!("CreatePublicKey {name}: TooManyPublicKeys"),
            );
            w.bump("TooManyPublicKeys");
            return Err(crate::compat::too_many_public_keys());
        }
        // CloudFront refuses an EncodedKey that is not an RSA-2048 or ECDSA P-256 public key
        // (InvalidArgument); the simulation reads it the same way to know the key's algorithm.
        let algorithm = cfcookie_signer::PublicKey::from_pem(encoded_key)
            .map_err(|e| ServiceError::Other {
                operation: "CreatePublicKey",
                message: format!("InvalidArgument: EncodedKey: {e}"),
            })?
            .algorithm();
        let id = w.next("K");
        let etag = w.next("E");
        let now = w.now();
        w.keys.insert(
            id.clone(),
            Key {
                record: PublicKeyRecord {
                    id: id.clone(),
                    name: name.to_owned(),
                    encoded_key: encoded_key.to_owned(),
                    comment: comment.to_owned(),
                    created_at: chrono::DateTime::from_timestamp(now, 0),
                },
                etag,
                created: now,
                algorithm: Some(algorithm),
            },
        );
        let n = w.keys.len();
        w.log(
            Lane::CloudFront,
            format!("CreatePublicKey {id} ({n} keys in the account)"),
        );
        Ok(id)
    }

    async fn list_public_keys(&self) -> ServiceResult<Vec<PublicKeyRecord>> {
        let mut w = self.sim.lock();
        w.fault("ListPublicKeys")?;
        let now = w.now();
        let p_lag = w.p.p_lag;
        let lag = w.rng.random_bool(p_lag);
        let mut out: Vec<PublicKeyRecord> = w
            .keys
            .values()
            .filter(|k| !lag || k.created < now - 1)
            .map(|k| k.record.clone())
            .collect();
        if lag {
            out.extend(
                w.deleted
                    .iter()
                    .filter(|(t, _)| *t >= now - 1)
                    .map(|(_, k)| k.record.clone()),
            );
        }
        Ok(out)
    }

    async fn get_public_key(&self, id: &str) -> ServiceResult<Option<(PublicKeyRecord, String)>> {
        let mut w = self.sim.lock();
        w.fault("GetPublicKey")?;
        Ok(w.keys.get(id).map(|k| (k.record.clone(), k.etag.clone())))
    }

    async fn delete_public_key(&self, id: &str, etag: &str) -> ServiceResult<()> {
        self.sim.lock().fault("DeletePublicKey")?;
        self.sim.maybe_slow().await;
        let mut w = self.sim.lock();
        let key = w
            .keys
            .get(id)
            .ok_or_else(|| ServiceError::NotFound(format!("public key {id}")))?;
        if key.etag != etag {
            w.bump("PreconditionFailed");
            return Err(ServiceError::PreconditionFailed);
        }
        if w.group.items.iter().any(|i| i == id) {
            return Err(ServiceError::InUse);
        }
        let now = w.now();
        if let Some(k) = w.keys.remove(id) {
            w.deleted.push((now, k));
        }
        let n = w.keys.len();
        w.log(
            Lane::CloudFront,
            format!("DeletePublicKey {id} ({n} keys in the account)"),
        );
        Ok(())
    }

    async fn get_key_group(&self, _id: &str) -> ServiceResult<Option<KeyGroupRecord>> {
        let mut w = self.sim.lock();
        w.fault("GetKeyGroup")?;
        let now = w.now();
        let p_lag = w.p.p_lag;
        if w.rng.random_bool(p_lag) {
            if let Some((t, g)) = &w.prev_group {
                if *t >= now - 1 {
                    return Ok(Some(crate::compat::with_modified(g.clone(), *t)));
                }
            }
        }
        Ok(Some(crate::compat::with_modified(
            w.group.clone(),
            w.group_modified,
        )))
    }

    async fn update_key_group(&self, group: &KeyGroupRecord) -> ServiceResult<String> {
        self.sim.lock().fault("UpdateKeyGroup")?;
        self.sim.maybe_slow().await;
        let mut w = self.sim.lock();
        if w.group.etag != group.etag {
            w.bump("PreconditionFailed");
            return Err(ServiceError::PreconditionFailed);
        }
        if group.items.is_empty() {
            return Err(ServiceError::Other {
                operation: "UpdateKeyGroup",
                message: "a key group needs a key".into(),
            });
        }
        if group.items.len() > 5 {
            return Err(ServiceError::TooManyKeys);
        }
        if let Some(missing) = group.items.iter().find(|i| !w.keys.contains_key(*i)) {
            return Err(ServiceError::NotFound(format!("public key {missing}")));
        }
        let now = w.now();
        let etag = w.next("E");
        let old = std::mem::replace(&mut w.group, group.clone());
        w.prev_group = Some((w.group_modified, old));
        w.group.etag = etag.clone();
        w.group_modified = now;
        w.log(
            Lane::CloudFront,
            format!("UpdateKeyGroup -> {:?}", group.items),
        );
        let items = group.items.clone();
        self.sim.propagate(&mut w, items);
        Ok(etag)
    }
}

/// SSM.
#[derive(Debug, Clone)]
pub(crate) struct SimParams {
    pub sim: Sim,
}

impl ParameterStore for SimParams {
    async fn get(&self, name: &str) -> ServiceResult<Option<String>> {
        let mut w = self.sim.lock();
        w.fault("GetParameter")?;
        Ok(w.params.get(name).map(|(v, _)| v.clone()))
    }

    async fn get_dated(&self, name: &str) -> ServiceResult<Option<(String, DateTime<Utc>)>> {
        let mut w = self.sim.lock();
        w.fault("GetParameter")?;
        Ok(w.params.get(name).map(|(v, t)| {
            (
                v.clone(),
                Utc.timestamp_opt(*t, 0).single().unwrap_or_default(),
            )
        }))
    }

    async fn put(&self, name: &str, value: &str) -> ServiceResult<()> {
        let mut w = self.sim.lock();
        w.fault("PutParameter")?;
        let now = w.now();
        w.params.insert(name.to_owned(), (value.to_owned(), now));
        w.log(Lane::Rotator, format!("PutParameter {name} = {value}"));
        Ok(())
    }
}

/// The simulated clock, for the rotator.
#[derive(Debug, Clone)]
pub(crate) struct SimClock(pub Sim);

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let t = self.0.lock().now();
        Utc.timestamp_opt(t, 0).single().unwrap_or_default()
    }
}

/// Key pairs of the algorithm the rotator Lambda's `CFCOOKIE_KEY_ALGORITHM` names now.
///
/// Generating a pair is the costly part (an RSA-2048 one takes tens of milliseconds, a P-256
/// one a point multiplication), so a few of each are made once per process and handed out in
/// turn: the simulation tells keys apart by their CloudFront ids, which stay distinct, and
/// every step that uses the key material (testSecret's sign-and-verify against CloudFront's
/// copy; the endpoint parsing the stored PEM) still runs on a real key.
#[derive(Debug, Clone)]
pub(crate) struct SimKeys(pub Sim);

impl KeyGenerator for SimKeys {
    fn generate(&self) -> Result<PrivateKey, cfcookie_signer::KeyError> {
        type Pool = std::sync::OnceLock<Vec<PrivateKey>>;
        static RSA: Pool = std::sync::OnceLock::new();
        static EC: Pool = std::sync::OnceLock::new();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let algorithm = self.0.lock().algorithm;
        let (pool, size) = match algorithm {
            KeyAlgorithm::Rsa2048 => (&RSA, 3),
            KeyAlgorithm::EcdsaP256 => (&EC, 16),
            _ => return PrivateKey::generate(algorithm),
        };
        let pool = pool.get_or_init(|| {
            (0..size)
                .filter_map(|_| PrivateKey::generate(algorithm).ok())
                .collect()
        });
        let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        pool.get(i % pool.len().max(1))
            .cloned()
            .ok_or(cfcookie_signer::KeyError::Generate)
    }
}
