//! The simulated world: Secrets Manager, CloudFront (account, key group, edges), SSM, on one
//! simulated clock (tokio's paused clock), behind the rotator's real ports.
//!
//! The services are `cfcookie-testing`'s in-memory fakes (the ones the rotator suite checks
//! against the emulator), following the simulated clock. The simulation wraps each in what
//! happens in time: faults, slow calls, reads a moment old, edges, and its own log.
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
//!   allowance P must cover), in order: two changes due at an edge in the same second wake in
//!   no set order, and the edge never applies one older than a change it already has.
//! - Any call may be throttled, may be slow (so the Lambda's timeout cuts the step after it),
//!   and ListPublicKeys / GetKeyGroup may return a state a moment old (an assumption:
//!   `InMemoryKeyRegistry::public_keys_as_of`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::atomic::{AtomicI64, Ordering};
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

use cfcookie_testing::memory::{InMemoryKeyRegistry, InMemoryParameterStore, InMemorySecretStore};

use crate::schedule::Rules;

/// The secret's name.
pub(crate) const SECRET: &str = "sim/cfcookie";
/// The SSM parameter the rotator publishes the active key id to.
pub(crate) const KEY_ID_PARAMETER: &str = "/sim/key-id";
/// The second stack's secret and parameter, on the seeds that have one.
pub(crate) const MEDIA_SECRET: &str = "sim/cfcookie-media";
pub(crate) const MEDIA_KEY_ID_PARAMETER: &str = "/sim/media/key-id";
/// Its key name prefix: the main stack's managed prefix (`cfcookie-`) is a prefix of it.
pub(crate) const MEDIA_PREFIX: &str = "cfcookie-media";

/// Whole-rotation retries after a failed step.
pub(crate) const SM_RETRIES: u32 = 3;
/// The longest wait before one (seconds); the shortest is a minute.
pub(crate) const SM_RETRY_WAIT_MAX: i64 = 1800;
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
    /// A second stack rotates in the same account (its own secret, key group and prefix,
    /// which extends the main stack's), sharing the public key quota.
    pub second_stack: bool,
    /// Swarm testing: each seed draws its own fault rates (some none at all), so that a run
    /// covers mixes a fixed set of rates would not, as TigerBeetle's VOPR draws its options.
    /// A call is throttled before it happens.
    pub p_throttle: f64,
    /// A write waits 20–200 s before it happens (the Lambda's timeout may cut the step first).
    pub p_slow: f64,
    /// ListPublicKeys or GetKeyGroup answers from a state a moment old.
    pub p_lag: f64,
    /// A write lands and its answer is lost: the caller sees an error, the service changed.
    pub p_lost: f64,
    /// A write lands and its answer comes 20–200 s later (the Lambda's timeout may cut the
    /// step after the write).
    pub p_late: f64,
    /// On some seeds an operator runs `cfcookie revoke` on a key that has leaked: when (seconds
    /// after the start, or that long and then just after the next completed rotation) and which.
    pub revoke: Option<Revoke>,
    /// Whether an endpoint instance's refreshes that can change nothing are skipped and
    /// replayed when read (`check::catch_up`); off, the key source's own refresh loop
    /// (`SecretKeySource::spawn_refresh`) runs every refresh at its time on the paused clock.
    /// The two give the same timeline (`skipping_refreshes_changes_no_timeline`).
    pub skip_refreshes: bool,
    /// How often, on average, an endpoint instance is a Lambda environment left idle and
    /// frozen (days; `None`: never), for 1 hour to 3 days. Lambda freezes an idle environment
    /// and keeps it "for some time", terminating it "every few hours"
    /// (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html>); how
    /// long is not published, so the longest freezes here are an assumption chosen to span
    /// rotations. Frozen, it neither refreshes nor serves; on thaw a request comes before its
    /// refresh timer's read.
    pub freeze_every_days: Option<i64>,
}

/// A key `cfcookie revoke` took out of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Revoked {
    /// When the UpdateKeyGroup that took it out landed.
    pub at: i64,
    /// Until when signers may still sign with it (`i64::MAX` until revoke reports).
    pub until: i64,
}

/// An operator's `cfcookie revoke`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revoke {
    pub at: i64,
    /// Wait for the next completed rotation after `at`, then revoke within P of it: the
    /// moments when the previous key is still the one signers sign with.
    pub after_rotation: bool,
    /// The AWSCURRENT key (an emergency rotation first), or the AWSPREVIOUS one.
    pub current: bool,
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
            second_stack: false,
            p_throttle: 0.0,
            p_slow: 0.0,
            p_lag: 0.0,
            p_lost: 0.0,
            p_late: 0.0,
            revoke: None,
            skip_refreshes: true,
            freeze_every_days: None,
        }
        .swarm()
    }

    /// The swarm draws, from an RNG of their own so that the draws above stay each seed's:
    /// the fault rates, and on one seed in four the production default key cache TTL (300 s).
    fn swarm(mut self) -> Params {
        let mut r = StdRng::seed_from_u64(self.seed ^ 0x5a4a_4e11);
        let mut rate = |choices: &[f64]| choices[r.random_range(0..choices.len())];
        // A throttle here is one that outlasted the SDK's own retries (five attempts, standard
        // mode: `secret/src/sdk.rs`): rarer than a throttled request.
        self.p_throttle = rate(&[0.0, 0.002, 0.004, 0.008]);
        self.p_slow = rate(&[0.0, 0.003, 0.003, 0.01]);
        self.p_lag = rate(&[0.0, 0.03, 0.03, 0.2]);
        self.p_lost = rate(&[0.0, 0.003, 0.003, 0.01]);
        self.p_late = rate(&[0.0, 0.002, 0.002, 0.01]);
        if r.random_range(0..4) == 0 {
            self.key_cache_ttl = 300;
        }
        // Two stacks at two keys each (previous, current) and up to five static keys leave
        // room for one rotation's pending key at a time, and none when both stacks are
        // mid-rotation: contention at the account's quota of ten, not a permanently full
        // account.
        self.second_stack = r.random_range(0..4) == 0;
        if self.second_stack {
            self.other_stack_keys = self.other_stack_keys.min(5);
        }
        let days = i64::from(self.days);
        self.revoke = (r.random_range(0..16) == 0).then(|| Revoke {
            at: r.random_range(86_400..(days * 86_400 * 3 / 4).max(86_401)),
            after_rotation: r.random_bool(0.5),
            current: r.random_bool(0.5),
        });
        self.freeze_every_days = [None, Some(10), Some(3)][r.random_range(0..3)];
        self
    }
}

/// The simulated time: tokio's paused clock from the epoch, or the instant a skipped refresh
/// is replayed at (`check::catch_up`). Read without the world's lock, so that the fakes,
/// which stamp what they store with it, can be called while the lock is held.
#[derive(Debug)]
pub(crate) struct SimTime {
    start: tokio::time::Instant,
    replay: AtomicI64,
}

impl SimTime {
    const LIVE: i64 = i64::MIN;

    fn new() -> SimTime {
        SimTime {
            start: tokio::time::Instant::now(),
            replay: AtomicI64::new(Self::LIVE),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        match self.replay.load(Ordering::SeqCst) {
            Self::LIVE => EPOCH + (tokio::time::Instant::now() - self.start).as_secs() as i64,
            t => t,
        }
    }

    /// The paused clock's instant of epoch second `t`.
    pub(crate) fn instant(&self, t: i64) -> tokio::time::Instant {
        self.start + std::time::Duration::from_secs((t - EPOCH).max(0) as u64)
    }

    /// The last whole second an endpoint instance's refresh on it has already run: this one
    /// from an instance's own task (half a second past it), else the one before.
    pub(crate) fn refreshed_through(&self) -> i64 {
        let now = self.now();
        let into = (tokio::time::Instant::now() - self.start).subsec_millis();
        if into >= 500 {
            now
        } else {
            now - 1
        }
    }

    /// Reads as `t` until [`SimTime::live`].
    pub(crate) fn replay_at(&self, t: i64) {
        self.replay.store(t, Ordering::SeqCst);
    }

    pub(crate) fn live(&self) {
        self.replay.store(Self::LIVE, Ordering::SeqCst);
    }
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
    pub time: Arc<SimTime>,
    // The services
    pub secrets: InMemorySecretStore,
    pub cloud: InMemoryKeyRegistry,
    pub ssm: InMemoryParameterStore,
    pub group_id: String,
    /// The start of the names of the main stack's keys (`cfcookie-<secret tag>-`).
    pub main_names: String,
    /// The second stack's key group and the start of its keys' names, on seeds with one.
    pub media: Option<(String, String)>,
    /// Version id -> the key id and `active_from` it stores (parsed once, when stored); only
    /// versions that exist.
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
    /// Public key id -> the algorithm of its EncodedKey, for the keys the rotator made.
    pub algorithms: BTreeMap<String, KeyAlgorithm>,
    /// Which of the shared key pool the next generated key is (per world: deterministic).
    pub keys_generated: usize,
    // CloudFront's edges
    pub edges: Vec<BTreeSet<String>>,
    pub edge_ever: Vec<BTreeSet<String>>,
    pub edge_next_apply: Vec<i64>,
    /// Per edge: how many key group changes were sent to it, and the last it applied.
    pub edge_sent: Vec<u64>,
    pub edge_applied: Vec<u64>,
    pub bootstrap_key: String,
    // Observation
    pub timeline: Vec<Event>,
    pub last_signed: BTreeMap<String, i64>,
    /// Keys whose signatures were checked against CloudFront's copy (`check::signers`).
    pub verified: BTreeSet<String>,
    /// Keys an operator's `cfcookie revoke` took out of the group, as CloudFront saw it
    /// happen: their refused cookies are its documented cost, not an S2 violation, until its
    /// report's `refused_signing_until`.
    pub revoked: BTreeMap<String, Revoked>,
    /// Keys an operator ran `cfcookie revoke` on.
    pub revoke_targets: BTreeSet<String>,
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
    /// Viewers' presentations still to come, earliest first (`check::present_due`).
    pub presentations: BinaryHeap<Reverse<Presentation>>,
    presentations_queued: u64,
    /// Notified at the first violation: the run stops there.
    pub stop: Arc<tokio::sync::Notify>,
}

impl World {
    pub(crate) fn now(&self) -> i64 {
        self.time.now()
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

    /// A fresh version id, reproducible from the seed.
    pub(crate) fn token(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        cfcookie_rotator::model::uuid_text(&b)
    }

    pub(crate) fn version_with(&self, label: &str) -> Option<String> {
        self.secrets.version_with(SECRET, label)
    }

    /// The key id and `active_from` stored under `label` (parsed once, when stored).
    pub(crate) fn key_of(&self, label: &str) -> Option<(String, i64)> {
        self.parsed.get(&self.version_with(label)?).cloned()
    }

    /// The key group now.
    pub(crate) fn group(&self) -> KeyGroupRecord {
        self.cloud
            .key_group(&self.group_id)
            .expect("the simulation's key group exists")
    }

    /// Secrets Manager deletes versions with no label (it may, at any time): the simulation
    /// forgets what it parsed from them.
    pub(crate) fn delete_deprecated(&mut self) {
        for id in self.secrets.delete_deprecated(SECRET) {
            self.parsed.remove(&id);
            self.values.remove(&id);
        }
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
        let time = Arc::new(SimTime::new());
        let secrets = InMemorySecretStore::default();
        let cloud = InMemoryKeyRegistry::default();
        cloud.clock.follow(SimClock(time.clone()));
        let ssm = InMemoryParameterStore::default();
        ssm.clock.follow(SimClock(time.clone()));
        // What infra makes: the placeholder secret, a bootstrap key outside the managed
        // names, a key group trusting it, the parameter, and other stacks' keys.
        let placeholder = r#"{"placeholder":"set by Terraform"}"#;
        secrets.create(SECRET, placeholder);
        let pem = |i: usize| {
            pooled_key(KeyAlgorithm::EcdsaP256, i)
                .expect("a P-256 key")
                .public_key()
                .to_pem()
        };
        let boot = cloud
            .add_public_key("sim-bootstrap", &pem(0))
            .expect("the bootstrap key");
        for i in 0..p.other_stack_keys {
            cloud
                .add_public_key(&format!("other-stack-{i}"), &pem(i + 1))
                .expect("other stacks' keys fit the account");
        }
        let group_id = cloud.create_key_group("sim", std::slice::from_ref(&boot));
        ssm.set(KEY_ID_PARAMETER, "none-yet");
        let names = |prefix: &str, secret: &str| {
            let arn = InMemorySecretStore::arn(secret);
            format!("{prefix}-{}-", cfcookie_rotator::steps::secret_tag(&arn))
        };
        let main_names = names(cfcookie_rotator::config::DEFAULT_PREFIX, SECRET);
        let media = p.second_stack.then(|| {
            secrets.create(MEDIA_SECRET, placeholder);
            secrets.set_rotation(MEDIA_SECRET, true, (None, Some("rate(1 day)"), Some("4h")));
            let boot = cloud
                .add_public_key("sim-media-bootstrap", &pem(7))
                .expect("the second stack's bootstrap key");
            ssm.set(MEDIA_KEY_ID_PARAMETER, "none-yet");
            (
                cloud.create_key_group("sim-media", &[boot]),
                names(MEDIA_PREFIX, MEDIA_SECRET),
            )
        });
        let mut w = World {
            rng,
            time,
            secrets,
            cloud,
            ssm,
            group_id,
            main_names,
            media,
            parsed: BTreeMap::new(),
            values: BTreeMap::new(),
            rules: p.rules.clone(),
            rules_refused: false,
            algorithm: KeyAlgorithm::EcdsaP256,
            algorithm_switched: false,
            rotation_failed: 0,
            algorithms: BTreeMap::new(),
            keys_generated: 0,
            edges: vec![BTreeSet::new(); edges],
            edge_ever: vec![BTreeSet::new(); edges],
            edge_next_apply: vec![EPOCH; edges],
            edge_sent: vec![0; edges],
            edge_applied: vec![0; edges],
            bootstrap_key: boot.clone(),
            timeline: Vec::new(),
            last_signed: BTreeMap::new(),
            verified: BTreeSet::new(),
            revoked: BTreeMap::new(),
            revoke_targets: BTreeSet::new(),
            first_key: None,
            first_key_at: 0,
            violations: Vec::new(),
            rotations_done: 0,
            last_rotation: EPOCH,
            last_key_change: EPOCH,
            stats: BTreeMap::new(),
            signing: vec![Vec::new(); signers],
            edge_lanes: vec![Vec::new(); edges],
            presentations: BinaryHeap::new(),
            presentations_queued: 0,
            stop: Arc::default(),
            slots: (0..signers)
                .map(|_| crate::check::Slot::default())
                .collect(),
            p,
        };
        if let Some(v) = w.version_with(stage::CURRENT) {
            w.values.insert(v, SecretValue::parse(placeholder));
        }
        for e in 0..edges {
            w.edges[e].insert(boot.clone());
            w.edge_ever[e].insert(boot.clone());
            w.edge_lanes[e].push((EPOCH, vec![boot.clone()]));
        }
        Sim(Arc::new(Mutex::new(w)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle on one of the fakes for a call of `operation`, after a fault drawn for it when
    /// `faults` (each handle shares its fake's state).
    fn enter<T: Clone>(
        &self,
        operation: &'static str,
        faults: bool,
        fake: impl FnOnce(&World) -> &T,
    ) -> ServiceResult<T> {
        let mut w = self.lock();
        if faults {
            w.fault(operation)?;
        }
        Ok(fake(&w).clone())
    }

    /// Whether this read answers from a state a moment old, and from when.
    fn lagging(&self) -> Option<DateTime<Utc>> {
        let mut w = self.lock();
        let p_lag = w.p.p_lag;
        let since = w.now() - 1;
        w.rng
            .random_bool(p_lag)
            .then(|| Utc.timestamp_opt(since, 0).single().unwrap_or_default())
    }

    /// After a write that took effect: its answer may be lost (the caller sees an error
    /// although the service changed), or late (the Lambda's timeout may cut the step after
    /// the write). Both are what a network between a Lambda and an AWS endpoint does; the SDK's
    /// retries make them rarer, not impossible.
    async fn after_write(&self, operation: &'static str) -> ServiceResult<()> {
        let (lost, late) = {
            let mut w = self.lock();
            let (p_lost, p_late) = (w.p.p_lost, w.p.p_late);
            let lost = w.rng.random_bool(p_lost);
            let late = (!lost && w.rng.random_bool(p_late)).then(|| w.rng.random_range(20..200));
            if lost {
                w.bump("answers lost after the write");
                w.log(
                    Lane::CloudFront,
                    format!("{operation}: applied; answer lost"),
                );
            } else if late.is_some() {
                w.bump("answers late after the write");
            }
            (lost, late)
        };
        if lost {
            return Err(ServiceError::Other {
                operation,
                message: "dispatch failure: connection reset after the request was sent".into(),
            });
        }
        if let Some(d) = late {
            tokio::time::sleep(std::time::Duration::from_secs(d)).await;
        }
        Ok(())
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
            // Changes due in the same second wake in no set order: the edge applies none older
            // than one it has.
            w.edge_sent[e] += 1;
            let seq = w.edge_sent[e];
            let sim = self.clone();
            let items = items.clone();
            tokio::spawn(async move {
                let wait = {
                    let w = sim.lock();
                    (at - w.now()).max(0) as u64
                };
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                crate::check::catch_up(&sim, false);
                crate::check::edge_applies(&sim, e, seq, items);
            });
        }
    }
}

/// Which stack a rotator rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Of {
    /// The stack whose edges, signers and viewers the checks watch.
    Main,
    /// The second stack sharing the account, on seeds with one.
    Media,
}

impl Of {
    pub(crate) fn secret(self) -> &'static str {
        match self {
            Of::Main => SECRET,
            Of::Media => MEDIA_SECRET,
        }
    }

    /// Whether `secret_id` (a name or an ARN) is the main stack's secret.
    fn is_main(secret_id: &str) -> bool {
        secret_id == SECRET || secret_id == InMemorySecretStore::arn(SECRET)
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
    /// The fake behind it, unless this endpoint instance's reads are out, after a fault drawn
    /// for `op` on the rotator's calls.
    pub(crate) fn enter(&self, op: &'static str) -> ServiceResult<InMemorySecretStore> {
        if let Lane::Signer(i) = self.lane {
            let w = self.sim.lock();
            if w.slots[i].failing_until > w.now() {
                return Err(ServiceError::Other {
                    operation: op,
                    message: "simulated outage of this instance's reads".into(),
                });
            }
        }
        self.sim.enter(op, self.faults, |w| &w.secrets)
    }

    /// The answer to a write that took effect ([`Sim::after_write`]), for the rotator's calls.
    async fn answer(&self, operation: &'static str) -> ServiceResult<()> {
        if self.faults {
            self.sim.after_write(operation).await
        } else {
            Ok(())
        }
    }
}

impl SecretStore for SimSecrets {
    async fn describe(&self, secret_id: &str) -> ServiceResult<SecretDescription> {
        self.enter("DescribeSecret")?.describe(secret_id).await
    }

    async fn get_value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> ServiceResult<Option<Zeroizing<String>>> {
        self.enter("GetSecretValue")?
            .get_value(secret_id, version)
            .await
    }

    async fn put_value(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
        label: &str,
    ) -> ServiceResult<()> {
        let inner = self.enter("PutSecretValue")?;
        self.sim.maybe_slow().await;
        if !Of::is_main(secret_id) {
            inner.put_value(secret_id, token, value, label).await?;
            return self.answer("PutSecretValue").await;
        }
        crate::check::catch_up(&self.sim, true);
        inner.put_value(secret_id, token, value, label).await?;
        {
            let mut w = self.sim.lock();
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
        }
        crate::check::all(&self.sim);
        self.answer("PutSecretValue").await
    }

    async fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> ServiceResult<()> {
        let inner = self.enter("UpdateSecretVersionStage")?;
        self.sim.maybe_slow().await;
        if !Of::is_main(secret_id) {
            inner.move_label(secret_id, label, to, from).await?;
            inner.delete_deprecated(secret_id);
            return self.answer("UpdateSecretVersionStage").await;
        }
        crate::check::catch_up(&self.sim, true);
        let before = self.sim.lock().version_with(stage::CURRENT);
        inner.move_label(secret_id, label, to, from).await?;
        {
            let mut w = self.sim.lock();
            if label == stage::CURRENT && to.is_some() && w.version_with(stage::CURRENT) != before {
                w.last_key_change = w.now();
            }
            w.delete_deprecated();
            let lane = self.lane.clone();
            w.log(
                lane,
                format!(
                    "UpdateSecretVersionStage {label} -> {} (from {})",
                    to.map(short).unwrap_or("-".into()),
                    from.map(short).unwrap_or("-".into())
                ),
            );
        }
        crate::check::all(&self.sim);
        self.answer("UpdateSecretVersionStage").await
    }
}

pub(crate) fn short(token: &str) -> String {
    token.chars().take(8).collect()
}

/// CloudFront as a stack's rotator sees it.
#[derive(Debug, Clone)]
pub(crate) struct SimCloudFront {
    pub sim: Sim,
    pub of: Of,
    /// The operator's `cfcookie revoke` calls through it: keys its group updates take out
    /// are recorded in `World::revoked`.
    pub revoking: bool,
}

impl SimCloudFront {
    /// The fake behind it, after a fault drawn for `operation`.
    fn enter(&self, operation: &'static str) -> ServiceResult<InMemoryKeyRegistry> {
        self.sim.enter(operation, true, |w| &w.cloud)
    }

    fn lagging(&self) -> Option<DateTime<Utc>> {
        self.sim.lagging()
    }
}

impl SimCloudFront {
    /// Records a write's outcome in the world, then answers it as the network does
    /// ([`Sim::after_write`]) when it took effect.
    async fn answered<T>(
        &self,
        operation: &'static str,
        result: ServiceResult<T>,
        record: impl FnOnce(&mut World, &ServiceResult<T>),
    ) -> ServiceResult<T> {
        record(&mut self.sim.lock(), &result);
        if result.is_ok() {
            self.sim.after_write(operation).await?;
        }
        result
    }
}

impl KeyRegistry for SimCloudFront {
    async fn create_public_key(
        &self,
        name: &str,
        caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> ServiceResult<String> {
        let inner = self.enter("CreatePublicKey")?;
        self.sim.maybe_slow().await;
        let result = inner
            .create_public_key(name, caller_reference, encoded_key, comment)
            .await;
        self.answered("CreatePublicKey", result, |w, result| match result {
            Ok(id) => {
                // The simulation reads the EncodedKey CloudFront accepted to know its algorithm.
                if let Ok(k) = cfcookie_signer::PublicKey::from_pem(encoded_key) {
                    w.algorithms.insert(id.clone(), k.algorithm());
                }
                let n = w.cloud.public_keys().len();
                w.log(
                    Lane::CloudFront,
                    format!("CreatePublicKey {id} ({n} keys in the account)"),
                );
            }
            Err(ServiceError::QuotaExceeded(_)) => {
                w.log(
                    Lane::CloudFront,
                    format!("CreatePublicKey {name}: TooManyPublicKeys"),
                );
                w.bump("TooManyPublicKeys");
            }
            Err(e) => w.log(Lane::CloudFront, format!("CreatePublicKey {name}: {e}")),
        })
        .await
    }

    async fn list_public_keys(&self) -> ServiceResult<Vec<PublicKeyRecord>> {
        let inner = self.enter("ListPublicKeys")?;
        match self.lagging() {
            Some(since) => Ok(inner.public_keys_as_of(since)),
            None => inner.list_public_keys().await,
        }
    }

    async fn get_public_key(&self, id: &str) -> ServiceResult<Option<(PublicKeyRecord, String)>> {
        self.enter("GetPublicKey")?.get_public_key(id).await
    }

    async fn delete_public_key(&self, id: &str, etag: &str) -> ServiceResult<()> {
        let inner = self.enter("DeletePublicKey")?;
        self.sim.maybe_slow().await;
        let name = inner
            .public_keys()
            .into_iter()
            .find(|k| k.id == id)
            .map(|k| k.name);
        let result = inner.delete_public_key(id, etag).await;
        self.answered("DeletePublicKey", result, |w, result| match result {
            Ok(()) => {
                // A stack deletes only its own keys, whatever the prefixes share.
                let name = name.unwrap_or_default();
                let theirs = match self.of {
                    Of::Main => w
                        .media
                        .as_ref()
                        .is_some_and(|(_, n)| name.starts_with(n.as_str())),
                    Of::Media => name.starts_with(&w.main_names) || id == w.bootstrap_key,
                };
                if theirs {
                    w.violate(
                        "XSTACK",
                        format!(
                            "the {:?} stack's rotator deleted {id} ({name}), another stack's key",
                            self.of
                        ),
                    );
                }
                let n = w.cloud.public_keys().len();
                w.log(
                    Lane::CloudFront,
                    format!("DeletePublicKey {id} ({n} keys in the account)"),
                );
            }
            Err(ServiceError::PreconditionFailed) => w.bump("PreconditionFailed"),
            Err(_) => {}
        })
        .await
    }

    async fn get_key_group(&self, id: &str) -> ServiceResult<Option<KeyGroupRecord>> {
        let inner = self.enter("GetKeyGroup")?;
        match self.lagging() {
            Some(since) => Ok(inner.key_group_as_of(id, since)),
            None => inner.get_key_group(id).await,
        }
    }

    async fn update_key_group(&self, group: &KeyGroupRecord) -> ServiceResult<String> {
        let inner = self.enter("UpdateKeyGroup")?;
        self.sim.maybe_slow().await;
        let before = self.sim.lock().group().items;
        let result = inner.update_key_group(group).await;
        self.answered("UpdateKeyGroup", result, |w, result| match result {
            Ok(_) if group.id == w.group_id => {
                w.log(
                    Lane::CloudFront,
                    format!("UpdateKeyGroup -> {:?}", group.items),
                );
                if self.revoking {
                    let at = w.now();
                    for k in before.iter().filter(|k| !group.items.contains(k)) {
                        let until = i64::MAX;
                        w.revoked.insert(k.clone(), Revoked { at, until });
                    }
                }
                self.sim.propagate(w, group.items.clone());
            }
            Ok(_) => w.log(
                Lane::CloudFront,
                format!("UpdateKeyGroup (second stack) -> {:?}", group.items),
            ),
            Err(ServiceError::PreconditionFailed) => w.bump("PreconditionFailed"),
            Err(_) => {}
        })
        .await
    }
}

/// SSM.
#[derive(Debug, Clone)]
pub(crate) struct SimParams {
    pub sim: Sim,
}

impl SimParams {
    /// The fake behind it, after a fault drawn for `operation`.
    fn enter(&self, operation: &'static str) -> ServiceResult<InMemoryParameterStore> {
        self.sim.enter(operation, true, |w| &w.ssm)
    }
}

/// SSM as the rotator sees it: faults, slow writes, and reads a moment old, as CloudFront's.
impl ParameterStore for SimParams {
    async fn get(&self, name: &str) -> ServiceResult<Option<String>> {
        Ok(self.get_dated(name).await?.map(|(value, _)| value))
    }

    async fn get_dated(&self, name: &str) -> ServiceResult<Option<(String, DateTime<Utc>)>> {
        let inner = self.enter("GetParameter")?;
        let now = inner.get_dated(name).await?;
        match self.sim.lagging() {
            Some(since) => {
                let then = inner.get_dated_as_of(name, since);
                if then != now {
                    self.sim
                        .lock()
                        .bump("SSM answers missing the last PutParameter");
                }
                Ok(then)
            }
            None => Ok(now),
        }
    }

    async fn put(&self, name: &str, value: &str) -> ServiceResult<()> {
        let inner = self.enter("PutParameter")?;
        self.sim.maybe_slow().await;
        inner.put(name, value).await?;
        self.sim
            .lock()
            .log(Lane::Rotator, format!("PutParameter {name} = {value}"));
        self.sim.after_write("PutParameter").await
    }
}

/// The simulated clock, for the rotator, the endpoint instances and the fakes.
#[derive(Debug, Clone)]
pub(crate) struct SimClock(pub Arc<SimTime>);

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.0.now(), 0)
            .single()
            .unwrap_or_default()
    }
}

/// The `i`th of a few key pairs of `algorithm` made once per process.
///
/// Generating a pair is the costly part (an RSA-2048 one takes tens of milliseconds, a P-256
/// one a point multiplication), so a few of each are made once and handed out in turn: the
/// simulation tells keys apart by their CloudFront ids, which stay distinct, and every step
/// that uses the key material (testSecret's sign-and-verify against CloudFront's copy; the
/// endpoint parsing the stored PEM) still runs on a real key.
fn pooled_key(algorithm: KeyAlgorithm, i: usize) -> Result<PrivateKey, cfcookie_signer::KeyError> {
    type Pool = std::sync::OnceLock<Vec<PrivateKey>>;
    static RSA: Pool = std::sync::OnceLock::new();
    static EC: Pool = std::sync::OnceLock::new();
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
    pool.get(i % pool.len().max(1))
        .cloned()
        .ok_or(cfcookie_signer::KeyError::Generate)
}

/// Key pairs of the algorithm the rotator Lambda's `CFCOOKIE_KEY_ALGORITHM` names now, from
/// the pool, in an order that depends on the seed alone.
#[derive(Debug, Clone)]
pub(crate) struct SimKeys(pub Sim);

impl KeyGenerator for SimKeys {
    fn generate(&self) -> Result<PrivateKey, cfcookie_signer::KeyError> {
        let (algorithm, i) = {
            let mut w = self.0.lock();
            w.keys_generated += 1;
            (w.algorithm, w.keys_generated)
        };
        pooled_key(algorithm, i)
    }
}
