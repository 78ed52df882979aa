//! One rotation suite, instantiated twice (rustls-style): on the in-memory fakes, and on the
//! emulator (moto + tests/emulator) through the real SDK adapters. Plus emulator-only tests
//! of retries of transient errors and of the API-call table.

use std::collections::BTreeSet;

use cfcookie_rotator::driver::{clear_pending, new_token, rotate_in_process, status, Status};
use cfcookie_rotator::lambda::{handle, RotationEvent};
use cfcookie_rotator::model::{stage, KeyGroupRecord, PublicKeyRecord, Spacing, VersionRef};
use cfcookie_rotator::ports::{
    AwsLcKeyGenerator, Clock as _, KeyRegistry, ParameterStore, Probe, SecretStore, ServiceResult,
};
use cfcookie_rotator::sdk::{SdkKeyRegistry, SdkParameterStore, SdkSecretStore, ROTATOR_API_CALLS};
use cfcookie_rotator::{Mode, RotationError, Rotator, Step};
use cfcookie_testing::emulator::{bootstrap, Emulator};
use cfcookie_testing::faults::{FaultPlan, Faulty, When};
use cfcookie_testing::memory::{InMemoryKeyRegistry, InMemoryParameterStore, InMemorySecretStore};
use cfcookie_testing::{FixedClock, NoProbe};

const PLACEHOLDER: &str = r#"{"placeholder":"set by infra; the first rotation replaces it"}"#;
const LAMBDA_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:cfcookie-rotator";
const BOOTSTRAP_PEM_NAME: &str = "bootstrap-cfcookie";

/// The tests' rotator: these services, the world's SSM with its faults, real key generation,
/// the test clock, and this probe.
type With<S, R, P, Pr> = Rotator<(S, R, Faulty<P>, AwsLcKeyGenerator, FixedClock, Pr)>;

type Rot<S, R, P> = With<Faulty<S>, Faulty<R>, P, NoProbe>;

struct World<S: SecretStore, R: KeyRegistry, P: ParameterStore> {
    rotator: Rot<S, R, P>,
    plan: FaultPlan,
    secret: String,
    bootstrap_key: String,
    admin: Admin,
}

/// Backend-specific moves that are Secrets Manager's or an operator's, not the rotator's.
enum Admin {
    Fakes(InMemorySecretStore),
    Emulator(aws_sdk_secretsmanager::Client),
}

impl Admin {
    /// What RotateSecret does before invoking the Lambda.
    async fn stage_pending(&self, secret: &str, token: &str) -> Result<(), String> {
        match self {
            Admin::Fakes(s) => s.stage_pending(secret, token).map_err(|e| e.to_string()),
            Admin::Emulator(sm) => sm
                .rotate_secret()
                .secret_id(secret)
                .client_request_token(token)
                .rotation_lambda_arn(LAMBDA_ARN)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "{}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    )
                }),
        }
    }

    /// Turns rotation on without starting one (RotateImmediately=false), every `days` days.
    async fn enable_rotation(&self, secret: &str, days: i64) {
        self.enable_rotation_rules(secret, Some(days), None).await
    }

    /// RotateSecret's rules: an interval in days or a schedule expression.
    async fn enable_rotation_rules(&self, secret: &str, days: Option<i64>, schedule: Option<&str>) {
        match self {
            Admin::Fakes(s) => s.set_rotation(secret, true, (days, schedule, None)),
            Admin::Emulator(sm) => {
                let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .set_automatically_after_days(days)
                    .set_schedule_expression(schedule.map(str::to_owned))
                    .build();
                sm.rotate_secret()
                    .secret_id(secret)
                    .rotation_lambda_arn(LAMBDA_ARN)
                    .rotation_rules(rules)
                    .rotate_immediately(false)
                    .send()
                    .await
                    .expect("enable rotation");
            }
        }
    }

    /// Writes AWSCURRENT directly, as an operator might.
    async fn put_current(&self, secret: &str, value: &str) {
        match self {
            Admin::Fakes(s) => {
                let token = new_token();
                s.put_value(secret, &token, value, "AWSCURRENT")
                    .await
                    .expect("put");
            }
            Admin::Emulator(sm) => {
                sm.put_secret_value()
                    .secret_id(secret)
                    .secret_string(value)
                    .send()
                    .await
                    .expect("put");
            }
        }
    }
}

trait Backend {
    type S: SecretStore + Clone;
    type R: KeyRegistry + Clone;
    type P: ParameterStore + Clone;
    async fn world(&self) -> World<Self::S, Self::R, Self::P>;
    /// Sets the account's public key quota.
    fn set_public_key_quota(&self, w: &World<Self::S, Self::R, Self::P>, n: usize);
}

struct Fakes;

impl Backend for Fakes {
    type S = InMemorySecretStore;
    type R = InMemoryKeyRegistry;
    type P = InMemoryParameterStore;
    async fn world(&self) -> World<Self::S, Self::R, Self::P> {
        let secrets = InMemorySecretStore::default();
        let registry = InMemoryKeyRegistry::default();
        secrets.create("cfcookie-key", PLACEHOLDER);
        let bootstrap = registry
            .create_public_key(BOOTSTRAP_PEM_NAME, "boot", &bootstrap_pem(), "")
            .await
            .expect("key");
        let group = registry.create_key_group("cfcookie", std::slice::from_ref(&bootstrap));
        assemble(
            secrets.clone(),
            registry.clone(),
            InMemoryParameterStore::default(),
            "cfcookie-key",
            &group,
            bootstrap,
            Admin::Fakes(secrets),
        )
    }
    fn set_public_key_quota(&self, w: &World<Self::S, Self::R, Self::P>, n: usize) {
        w.rotator.registry.inner.set_quota(n);
    }
}

struct Emu {
    emulator: Emulator,
    aws: aws_config::SdkConfig,
}

impl Emu {
    async fn start() -> Emu {
        let emulator = Emulator::start();
        // One emulator serves many worlds (stacks), more than CloudFront's 10 keys allow.
        emulator.set_public_key_quota(10_000);
        let aws = emulator.sdk_config().await;
        Emu { emulator, aws }
    }
}

impl Backend for Emu {
    type S = SdkSecretStore;
    type R = SdkKeyRegistry;
    type P = SdkParameterStore;
    async fn world(&self) -> World<Self::S, Self::R, Self::P> {
        // Fresh names per world, so one emulator serves many worlds.
        let b = bootstrap(&self.aws, &new_token()[..8]).await;
        let mut world = assemble(
            SdkSecretStore::new(&self.aws),
            SdkKeyRegistry::new(&self.aws),
            SdkParameterStore::new(&self.aws),
            &b.secret,
            &b.group,
            b.bootstrap_key,
            Admin::Emulator(aws_sdk_secretsmanager::Client::new(&self.aws)),
        );
        world.rotator.config.key_id_parameters = vec![b.parameter];
        world
    }
    fn set_public_key_quota(&self, _w: &World<Self::S, Self::R, Self::P>, n: usize) {
        self.emulator.set_public_key_quota(n);
    }
}

fn bootstrap_pem() -> String {
    cfcookie_signer::PrivateKey::generate(cfcookie_signer::KeyAlgorithm::Rsa2048)
        .expect("key")
        .public_key()
        .to_pem()
}

fn assemble<S: SecretStore, R: KeyRegistry, P: ParameterStore>(
    s: S,
    r: R,
    p: P,
    secret: &str,
    group: &str,
    bootstrap_key: String,
    admin: Admin,
) -> World<S, R, P> {
    let plan = FaultPlan::default();
    let rotator = Rotator {
        secrets: Faulty {
            inner: s,
            plan: plan.clone(),
        },
        registry: Faulty {
            inner: r,
            plan: plan.clone(),
        },
        params: Faulty {
            inner: p,
            plan: plan.clone(),
        },
        keygen: AwsLcKeyGenerator::default(),
        clock: FixedClock::new(chrono::Utc::now()),
        probe: NoProbe,
        config: cfcookie_testing::rotator_config(group, "/cfcookie/key-id"),
    };
    World {
        rotator,
        plan,
        secret: secret.to_owned(),
        bootstrap_key,
        admin,
    }
}

impl<S: SecretStore, R: KeyRegistry, P: ParameterStore> World<S, R, P> {
    /// AWSCURRENT's value as stored, read as plain JSON (an oracle apart from `SecretValue`).
    async fn current_json(&self) -> serde_json::Value {
        let text = self
            .rotator
            .secrets
            .get_value(&self.secret, VersionRef::Stage(stage::CURRENT))
            .await
            .expect("GetSecretValue")
            .expect("a current value");
        serde_json::from_str(&text).expect("JSON")
    }

    async fn status(&self) -> Status {
        status(&self.rotator, &self.secret).await.expect("status")
    }

    async fn assert_consistent(&self, context: &str) -> Status {
        let s = self.status().await;
        assert!(
            s.consistent,
            "{context}: invariants broken: {:#?}",
            s.problems
        );
        let current = s
            .versions
            .iter()
            .find(|v| v.stages.iter().any(|x| x == stage::CURRENT))
            .and_then(|v| v.key_id.clone());
        let previous = s
            .versions
            .iter()
            .find(|v| v.stages.iter().any(|x| x == stage::PREVIOUS))
            .and_then(|v| v.key_id.clone());
        let expected: BTreeSet<String> = current.iter().chain(previous.iter()).cloned().collect();
        let managed: BTreeSet<String> = s.managed_keys.iter().map(|k| k.id.clone()).collect();
        assert_eq!(
            managed, expected,
            "{context}: managed keys in CloudFront must be exactly current + previous"
        );
        s
    }

    /// Versions, labels, key ids, group, parameters, managed keys: what "no state change" means.
    async fn snapshot(&self) -> String {
        let s = self.status().await;
        serde_json::json!({
            "versions": s.versions.iter().map(|v| (v.id.clone(), v.stages.clone(), v.key_id.clone())).collect::<Vec<_>>(),
            "group": s.key_group_items.iter().collect::<BTreeSet<_>>(),
            "parameters": s.parameters,
            "keys": s.managed_keys.iter().map(|k| k.id.clone()).collect::<BTreeSet<_>>(),
        })
        .to_string()
    }

    /// One rotation, a safe while after the last: two hours on is past P + TTL + L, so the
    /// previous key may leave the group (S2).
    async fn rotate(&self) -> String {
        self.rotator.clock.advance(chrono::Duration::hours(2));
        rotate_in_process(&self.rotator, &self.secret, false)
            .await
            .expect("rotate")
            .key_id
    }

    /// Secrets Manager's part for a Lambda rotation: stage, run each step (retrying a step that
    /// crashed, as Secrets Manager retries a failed invocation), remove AWSPENDING.
    async fn lambda_rotation(&self, token: &str) {
        self.rotator.clock.advance(chrono::Duration::hours(2));
        self.lambda_rotation_now(token).await;
    }

    /// The same, at the clock as it is.
    async fn lambda_rotation_now(&self, token: &str) {
        self.admin
            .stage_pending(&self.secret, token)
            .await
            .expect("stage");
        for step in Step::ALL {
            self.retry(step, token).await;
        }
        let mut attempts = 0;
        while let Err(e) = clear_pending(&self.rotator.secrets, &self.secret, token).await {
            attempts += 1;
            assert!(
                attempts < 5
                    && matches!(&e, RotationError::Service(s) if cfcookie_testing::faults::is_injected(s)),
                "{e}"
            );
        }
    }

    async fn retry(&self, step: Step, token: &str) {
        for _ in 0..5 {
            match self
                .rotator
                .run_step(step, &self.secret, token, Mode::Lambda)
                .await
            {
                Ok(()) => return,
                Err(RotationError::Service(s)) if cfcookie_testing::faults::is_injected(&s) => {
                    continue
                }
                Err(e) => panic!("{} failed: {e}", step.aws_name()),
            }
        }
        panic!("{} never succeeded", step.aws_name());
    }

    /// Rotation on and two Lambda rotations: a current key and its predecessor, with the clock
    /// past the next rotation's gate.
    async fn current_and_previous(&self) {
        self.admin.enable_rotation(&self.secret, 30).await;
        self.lambda_rotation(&new_token()).await;
        self.lambda_rotation(&new_token()).await;
        self.rotator.clock.advance(chrono::Duration::hours(2));
    }

    /// Secrets Manager starts a rotation and its createSecret runs; returns its token.
    async fn start_rotation(&self) -> String {
        let token = new_token();
        self.admin
            .stage_pending(&self.secret, &token)
            .await
            .expect("stage");
        self.retry(Step::Create, &token).await;
        token
    }

    /// setSecret, testSecret and finishSecret of a started rotation.
    async fn end_rotation(&self, token: &str) {
        for step in [Step::Set, Step::Test, Step::Finish] {
            self.retry(step, token).await;
        }
    }

    async fn group_items(&self) -> BTreeSet<String> {
        self.status().await.key_group_items.into_iter().collect()
    }
}

// ------------------------------------------------------------------ scenarios

async fn three_rotations_from_bootstrap<B: Backend>(b: &B) {
    let w = b.world().await;
    let before = w.status().await;
    assert!(
        !before.consistent,
        "a bootstrap placeholder is not a rotated state"
    );
    let k1 = w.rotate().await;
    let s = w.assert_consistent("after rotation 1").await;
    assert_eq!(
        w.group_items().await,
        BTreeSet::from([k1.clone()]),
        "the bootstrap key leaves the group"
    );
    assert_eq!(
        s.parameters.values().next().cloned().flatten().as_deref(),
        Some(k1.as_str()),
        "missing SSM parameter was created"
    );
    let k2 = w.rotate().await;
    w.assert_consistent("after rotation 2").await;
    assert_eq!(
        w.group_items().await,
        BTreeSet::from([k1.clone(), k2.clone()])
    );
    let k3 = w.rotate().await;
    let s = w.assert_consistent("after rotation 3").await;
    assert_eq!(
        w.group_items().await,
        BTreeSet::from([k2.clone(), k3.clone()])
    );
    assert!(
        !s.managed_keys.iter().any(|k| k.id == k1),
        "the retired managed key was deleted"
    );
    // The unmanaged bootstrap key left the group but was never deleted.
    assert!(w
        .rotator
        .registry
        .get_public_key(&w.bootstrap_key)
        .await
        .expect("get")
        .is_some());
}

async fn each_step_twice_is_idempotent<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    w.admin.enable_rotation(&w.secret, 30).await;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    for step in Step::ALL {
        w.rotator
            .run_step(step, &w.secret, &token, Mode::Lambda)
            .await
            .expect("first");
        let once = w.snapshot().await;
        w.rotator
            .run_step(step, &w.secret, &token, Mode::Lambda)
            .await
            .expect("second");
        assert_eq!(
            once,
            w.snapshot().await,
            "{} run twice changed the state",
            step.aws_name()
        );
    }
    clear_pending(&w.rotator.secrets, &w.secret, &token)
        .await
        .expect("unstage");
    w.assert_consistent("after a rotation with every step doubled")
        .await;
}

async fn crash_before_and_after_every_call<B: Backend>(b: &B) {
    let mut covered = 0;
    for when in [When::Before, When::After] {
        for n in 0.. {
            let w = b.world().await;
            w.rotate().await; // a previous key exists, so retirement is exercised too
            w.admin.enable_rotation(&w.secret, 30).await;
            w.plan.arm(n, when);
            w.lambda_rotation(&new_token()).await;
            if !w.plan.fired() {
                break; // n is past the last call of a rotation
            }
            covered += 1;
            w.assert_consistent(&format!("crash {when:?} call {n}"))
                .await;
        }
    }
    println!("crash points covered: {covered}");
    assert!(
        covered >= 30,
        "only {covered} crash points: the rotation makes fewer calls than expected"
    );
}

async fn second_rotation_while_pending_is_refused<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    w.admin.enable_rotation(&w.secret, 30).await;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    w.rotator
        .run_step(Step::Create, &w.secret, &token, Mode::Lambda)
        .await
        .expect("create");
    let before = w.snapshot().await;
    let err = rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect_err("refused");
    assert_eq!(err.error_type(), "Rotation.InProgress", "{err}");
    assert!(
        w.admin
            .stage_pending(&w.secret, &new_token())
            .await
            .is_err(),
        "Secrets Manager refuses a second RotateSecret"
    );
    assert_eq!(
        before,
        w.snapshot().await,
        "the refused rotation changed something"
    );
    let report = rotate_in_process(&w.rotator, &w.secret, true)
        .await
        .expect("resume");
    assert_eq!(report.token, token);
    w.assert_consistent("after resuming").await;
}

async fn test_secret_alone_leaves_no_residue<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    w.rotate().await;
    w.admin.enable_rotation(&w.secret, 30).await;
    let before = w.snapshot().await;
    let current = w
        .status()
        .await
        .versions
        .into_iter()
        .find(|v| v.stages.iter().any(|s| s == stage::CURRENT))
        .expect("current")
        .id;
    // RotateImmediately=false: Secrets Manager runs testSecret alone.
    w.rotator
        .run_step(Step::Test, &w.secret, &current, Mode::Lambda)
        .await
        .expect("test alone");
    assert_eq!(before, w.snapshot().await);
    w.assert_consistent("after testSecret alone").await;
}

/// A CloudFront whose first UpdateKeyGroup (for a stale read, GetKeyGroup) meets
/// interference, once.
#[derive(Clone)]
struct FirstUpdate<R> {
    inner: R,
    happened: std::sync::Arc<std::sync::atomic::AtomicBool>,
    what: Interference,
}

#[derive(Clone)]
enum Interference {
    /// Another writer changes the key group between our read and our write.
    Race,
    /// The write waits until the test lets it go: a setSecret paused (a laptop asleep under
    /// `cfcookie rotate`, a debugger) after it planned its write.
    Hold {
        reached: std::sync::Arc<tokio::sync::Notify>,
        go: std::sync::Arc<tokio::sync::Notify>,
    },
    /// The read answers with this group, as it was a moment ago.
    StaleRead(KeyGroupRecord),
}

impl<R> FirstUpdate<R> {
    fn new(inner: R, what: Interference) -> Self {
        FirstUpdate {
            inner,
            happened: Default::default(),
            what,
        }
    }
}

impl<R: KeyRegistry> KeyRegistry for FirstUpdate<R> {
    async fn create_public_key(&self, a: &str, b: &str, c: &str, d: &str) -> ServiceResult<String> {
        self.inner.create_public_key(a, b, c, d).await
    }
    async fn list_public_keys(&self) -> ServiceResult<Vec<PublicKeyRecord>> {
        self.inner.list_public_keys().await
    }
    async fn get_public_key(&self, id: &str) -> ServiceResult<Option<(PublicKeyRecord, String)>> {
        self.inner.get_public_key(id).await
    }
    async fn delete_public_key(&self, id: &str, etag: &str) -> ServiceResult<()> {
        self.inner.delete_public_key(id, etag).await
    }
    async fn get_key_group(&self, id: &str) -> ServiceResult<Option<KeyGroupRecord>> {
        if let Interference::StaleRead(then) = &self.what {
            if !self
                .happened
                .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return Ok(Some(then.clone()));
            }
        }
        self.inner.get_key_group(id).await
    }
    async fn update_key_group(&self, group: &KeyGroupRecord) -> ServiceResult<String> {
        if !matches!(self.what, Interference::StaleRead(_))
            && !self
                .happened
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            match &self.what {
                Interference::Race => {
                    let theirs = self.inner.get_key_group(&group.id).await?.expect("group");
                    self.inner.update_key_group(&theirs).await?; // same content, new ETag
                }
                Interference::Hold { reached, go } => {
                    reached.notify_one();
                    go.notified().await;
                }
                Interference::StaleRead(_) => {}
            }
        }
        self.inner.update_key_group(group).await
    }
}

async fn etag_conflict_is_retried<B: Backend>(b: &B) {
    let w = b.world().await;
    let racing = rebuild(
        &w.rotator,
        FirstUpdate::new(w.rotator.registry.clone(), Interference::Race),
        NoProbe,
    );
    rotate_in_process(&racing, &w.secret, false)
        .await
        .expect("rotation despite a concurrent writer");
    assert!(
        racing
            .registry
            .happened
            .load(std::sync::atomic::Ordering::SeqCst),
        "the race happened"
    );
    w.assert_consistent("after an ETag conflict").await;
}

/// GetKeyGroup a moment after our own UpdateKeyGroup may answer with the group before it
/// (nothing in the CloudFront API reference promises read-after-write): setSecret and
/// testSecret read the group again before they call the new key missing from it.
async fn a_stale_read_of_the_group_fails_no_step<B: Backend>(b: &B) {
    let w = b.world().await;
    w.admin.enable_rotation(&w.secret, 30).await;
    let before = w
        .rotator
        .registry
        .get_key_group(&w.rotator.config.key_group_id)
        .await
        .expect("GetKeyGroup")
        .expect("the key group");
    let token = w.start_rotation().await;
    for step in [Step::Set, Step::Test] {
        let stale = rebuild(
            &w.rotator,
            FirstUpdate::new(
                w.rotator.registry.clone(),
                Interference::StaleRead(before.clone()),
            ),
            NoProbe,
        );
        stale
            .run_step(step, &w.secret, &token, Mode::Lambda)
            .await
            .unwrap_or_else(|e| panic!("{} after a stale read of the group: {e}", step.aws_name()));
        assert!(
            stale
                .registry
                .happened
                .load(std::sync::atomic::Ordering::SeqCst),
            "the stale read happened in {}",
            step.aws_name()
        );
    }
    w.retry(Step::Finish, &token).await;
    w.assert_consistent("after stale reads of the key group")
        .await;
}

async fn bad_input_changes_nothing<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    let before = w.snapshot().await;
    // Rotation disabled: the Lambda refuses; `cfcookie rotate` (in process) does not need it.
    let token = new_token();
    let err = w
        .rotator
        .run_step(Step::Create, &w.secret, &token, Mode::Lambda)
        .await
        .expect_err("disabled");
    assert_eq!(err.error_type(), "Rotation.NotEnabled");
    w.admin.enable_rotation(&w.secret, 30).await;
    // A token that is no version of the secret.
    let err = w
        .rotator
        .run_step(
            Step::Set,
            &w.secret,
            "not-a-version-0000000000000000000",
            Mode::Lambda,
        )
        .await
        .expect_err("no version");
    assert_eq!(err.error_type(), "Rotation.TokenNotAVersion");
    // An unknown step.
    let event = RotationEvent {
        step: "rollbackSecret".into(),
        secret_id: w.secret.clone(),
        client_request_token: token.clone(),
        rotation_token: None,
    };
    let err = handle(&w.rotator, event).await.expect_err("unknown step");
    assert_eq!(err.error_type, "Rotation.UnknownStep");
    // setSecret before createSecret.
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    let err = w
        .rotator
        .run_step(Step::Set, &w.secret, &token, Mode::Lambda)
        .await
        .expect_err("nothing created");
    assert_eq!(err.error_type(), "Rotation.PendingMissing");
    // Nothing above touched CloudFront, SSM or the stored keys.
    let after = w.snapshot().await;
    let strip = |s: &str| -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_str(s).expect("json");
        v["versions"] = serde_json::Value::Null; // only the staged, value-less version was added
        v
    };
    assert_eq!(strip(&before), strip(&after));
    // Finish the staged rotation: the world is still sound.
    for step in Step::ALL {
        w.retry(step, &token).await;
    }
    // finishSecret already took AWSPENDING off; what Secrets Manager does after it is a no-op.
    clear_pending(&w.rotator.secrets, &w.secret, &token)
        .await
        .expect("unstage");
    w.assert_consistent("after the bad inputs").await;
    // A version that holds neither AWSCURRENT nor AWSPENDING (the old current, now previous).
    let previous = w
        .status()
        .await
        .versions
        .into_iter()
        .find(|v| v.stages.iter().any(|s| s == stage::PREVIOUS))
        .expect("previous");
    let err = w
        .rotator
        .run_step(Step::Set, &w.secret, &previous.id, Mode::Lambda)
        .await
        .expect_err("not pending");
    assert_eq!(err.error_type(), "Rotation.NotPending");
}

async fn broken_values_and_missing_group_are_refused<B: Backend>(b: &B) {
    let w = b.world().await;
    // Not JSON at all: treated as "no key yet", like the placeholder.
    w.admin.put_current(&w.secret, "not json").await;
    w.rotate().await;
    w.assert_consistent("rotation from a non-JSON value").await;
    // Claims our format but is broken: an error, and nothing changes.
    w.admin
        .put_current(&w.secret, r#"{"format":"cfcookie/1","key_id":""}"#)
        .await;
    let before = w.snapshot().await;
    let err = rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect_err("broken value");
    assert_eq!(err.error_type(), "Rotation.BadSecretValue", "{err}");
    assert_eq!(before, w.snapshot().await);
    // A key group that does not exist.
    let w = b.world().await;
    let mut missing = clone_rotator(&w.rotator);
    missing.config.key_group_id = "no-such-group".into();
    let err = rotate_in_process(&missing, &w.secret, false)
        .await
        .expect_err("missing group");
    assert_eq!(err.error_type(), "Rotation.KeyGroupNotFound", "{err}");
    let group: BTreeSet<String> = w.group_items().await;
    assert_eq!(
        group,
        BTreeSet::from([w.bootstrap_key.clone()]),
        "the real group was not touched"
    );
}

/// Secrets Manager starts a rotation: a new AWSPENDING version, then createSecret.
async fn stage_and_create<S, R, P>(w: &World<S, R, P>) -> Result<(), RotationError>
where
    S: SecretStore + Clone,
    R: KeyRegistry + Clone,
    P: ParameterStore + Clone,
{
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    w.rotator
        .run_step(Step::Create, &w.secret, &token, Mode::Lambda)
        .await
}

/// Secrets Manager starts a rotation and its createSecret is refused: the error, once it is
/// checked that no key was made.
async fn create_is_refused<S, R, P>(w: &World<S, R, P>) -> RotationError
where
    S: SecretStore + Clone,
    R: KeyRegistry + Clone,
    P: ParameterStore + Clone,
{
    let before = w.snapshot().await;
    let err = stage_and_create(w)
        .await
        .expect_err("createSecret is refused");
    let after = w.snapshot().await;
    let keys =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json")["keys"].clone();
    assert_eq!(keys(&before), keys(&after), "no key was made");
    err
}

async fn interval_shorter_than_cookie_lifetime_is_refused<B: Backend>(b: &B) {
    let mut w = b.world().await;
    w.rotate().await;
    w.admin.enable_rotation(&w.secret, 1).await;
    w.rotator.config.cookie_lifetime = 86_400; // a day of cookies, rotated daily: unsafe
    let err = create_is_refused(&w).await;
    assert_eq!(err.error_type(), "Rotation.IntervalTooShort", "{err}");
}

/// A schedule the interval guard cannot bound is refused, naming why, and changes nothing: the
/// guard fails closed instead of letting rotations run unchecked.
/// The guard refuses rules under which two rotations may be closer than P + TTL + L, and
/// accepts them at exactly P + TTL + L (S2's gate opens at exactly `safe_at` too).
async fn an_interval_of_exactly_p_ttl_l_is_accepted<B: Backend>(b: &B) {
    for over in [1, 0] {
        let mut w = b.world().await;
        w.rotate().await;
        w.admin.enable_rotation(&w.secret, 7).await;
        let Spacing::AtLeast(spacing) = w
            .rotator
            .secrets
            .describe(&w.secret)
            .await
            .expect("DescribeSecret")
            .rotation_spacing
        else {
            panic!("seven days is a bounded schedule")
        };
        let c = &mut w.rotator.config;
        c.cookie_lifetime = spacing - c.activation_delay - c.key_cache_ttl + over;
        let result = stage_and_create(&w).await.map_err(|e| e.error_type());
        if over > 0 {
            assert_eq!(result, Err("Rotation.IntervalTooShort"), "{over}s over");
        } else {
            assert_ne!(
                result,
                Err("Rotation.IntervalTooShort"),
                "exactly P + TTL + L"
            );
        }
    }
}

async fn an_unreadable_schedule_is_refused<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    w.admin
        .enable_rotation_rules(&w.secret, None, Some("cron(0 8 * * ? 2031)"))
        .await;
    let err = create_is_refused(&w).await;
    assert_eq!(err.error_type(), "Rotation.ScheduleUnreadable", "{err}");
    assert!(err.to_string().contains("year"), "{err}");
}

/// S2: a rotation right after another would retire a key whose cookies are still valid (and
/// that signers may still use). It is refused as Rotation.TooSoon with the instant it becomes
/// safe, and changes nothing; at that instant it goes through.
async fn back_to_back_rotation_is_refused_until_safe<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    w.rotate().await;
    let before = w.snapshot().await;
    let err = rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect_err("too soon");
    assert_eq!(err.error_type(), "Rotation.TooSoon", "{err}");
    let RotationError::TooSoon { safe_at, .. } = err else {
        unreachable!()
    };
    assert!(safe_at > w.rotator.clock.now(), "safe_at is in the future");
    assert_eq!(
        before,
        w.snapshot().await,
        "the refused rotation changed something"
    );
    w.rotator
        .clock
        .advance(safe_at - w.rotator.clock.now() + chrono::Duration::seconds(1));
    rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect("safe now");
    w.assert_consistent("after the retried rotation").await;
}

/// F, the instant signers switch to the new key, is the key-id parameter's LastModifiedDate.
/// When finishSecret's publish was lost, the parameter still names the key before: its date
/// says nothing about the new key, so the gate counts from now (and republishes), not from
/// that date. A finishSecret hours after createSecret makes the difference: counted from
/// `active_from`, the previous key would leave while cookies signed with it are still valid.
async fn a_stale_key_id_parameter_opens_no_gate_early<B: Backend>(b: &B) {
    let w = b.world().await;
    w.current_and_previous().await;
    let read_current = || async {
        w.current_json().await["key_id"]
            .as_str()
            .expect("key_id")
            .to_owned()
    };
    let before = read_current().await;
    let token = w.start_rotation().await;
    w.retry(Step::Set, &token).await;
    w.retry(Step::Test, &token).await;
    // finishSecret runs hours late (Secrets Manager's retries), and its publish is lost.
    w.rotator.clock.advance(chrono::Duration::hours(3));
    w.retry(Step::Finish, &token).await;
    clear_pending(&w.rotator.secrets, &w.secret, &token)
        .await
        .expect("unstage");
    assert_ne!(read_current().await, before, "the rotation finished");
    let parameter = w.rotator.config.key_id_parameters[0].clone();
    w.rotator
        .params
        .put(&parameter, &before)
        .await
        .expect("PutParameter");
    let err = rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect_err("the key before may still hold valid cookies");
    assert_eq!(err.error_type(), "Rotation.TooSoon", "{err}");
}

/// Activation is measured from the key group change: createSecret puts the new key into the
/// group and dates active_from from that moment, so a rotation that finishes late never
/// activates a key the edges have not had for P.
async fn the_new_key_enters_the_group_at_create_secret<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    w.rotator.clock.advance(chrono::Duration::hours(2));
    w.admin.enable_rotation(&w.secret, 30).await;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    let entered = w.rotator.clock.now();
    w.rotator
        .run_step(Step::Create, &w.secret, &token, Mode::Lambda)
        .await
        .expect("create");
    let pending = w
        .status()
        .await
        .versions
        .into_iter()
        .find(|v| v.id == token)
        .expect("pending version");
    let key = pending.key_id.expect("key id");
    assert!(
        w.group_items().await.contains(&key),
        "createSecret put the key into the group"
    );
    let active_from =
        chrono::DateTime::parse_from_rfc3339(&pending.active_from.expect("active_from"))
            .expect("rfc3339");
    assert!(
        active_from >= entered + chrono::Duration::seconds(w.rotator.config.activation_delay),
        "active_from counts P from the group change"
    );
}

/// RotateImmediately=false: Secrets Manager stages a new, empty AWSPENDING version and calls
/// testSecret alone on it; the rotator tests the current key and passes.
async fn rotate_immediately_false_passes_on_an_empty_pending_version<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    w.admin.enable_rotation(&w.secret, 30).await;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    let before = w.snapshot().await;
    w.rotator
        .run_step(Step::Test, &w.secret, &token, Mode::Lambda)
        .await
        .expect("testSecret on an empty AWSPENDING version");
    assert_eq!(
        before,
        w.snapshot().await,
        "testSecret alone changed something"
    );
}

/// The account holds at most 10 public keys. This stack's orphans are swept before
/// CreatePublicKey, so they never block a rotation; a full account is refused by name, with
/// nothing changed.
async fn orphans_are_swept_first_and_a_full_account_is_named<B: Backend>(b: &B) {
    let w = b.world().await;
    w.rotate().await;
    let arn = w
        .rotator
        .secrets
        .describe(&w.secret)
        .await
        .expect("describe")
        .arn;
    let count = || async {
        w.rotator
            .registry
            .list_public_keys()
            .await
            .expect("list")
            .len()
    };
    // Room for one key more: another stack's key and an orphan of ours fill it.
    b.set_public_key_quota(&w, count().await + 2);
    w.rotator
        .registry
        .create_public_key(
            "other-stack-0",
            &format!("other-{}", new_token()),
            &bootstrap_pem(),
            "",
        )
        .await
        .expect("another stack's key");
    let orphan = cfcookie_rotator::steps::key_name(
        &w.rotator.config.key_name_prefix,
        &arn,
        "an-abandoned-version",
    );
    let orphan_id = w
        .rotator
        .registry
        .create_public_key(
            &orphan,
            &format!("orphan-{}", new_token()),
            &bootstrap_pem(),
            "",
        )
        .await
        .expect("orphan");
    w.rotate().await;
    assert!(
        w.rotator
            .registry
            .get_public_key(&orphan_id)
            .await
            .expect("get")
            .is_none(),
        "the orphan was swept before CreatePublicKey"
    );
    // Full again (current, previous, bootstrap, the other stack's): the next key cannot be made.
    w.rotator.clock.advance(chrono::Duration::hours(2));
    let before = w.snapshot().await;
    let err = rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect_err("the account is full");
    assert_eq!(err.error_type(), "Rotation.TooManyPublicKeys", "{err}");
    assert_eq!(before, w.snapshot().await, "nothing changed");
}

/// The key-leak path: `revoke` takes a key out of the group at once (breaking S2 on purpose),
/// deletes it, and says what that costs; a leaked current key is replaced first.
async fn revoke_takes_a_leaked_key_out_at_once<B: Backend>(b: &B) {
    let mut w = b.world().await;
    // A TTL shorter than P, so that "until the current key's active_from" and "for up to TTL"
    // name different instants.
    w.rotator.config.key_cache_ttl = 60;
    let ttl = chrono::Duration::seconds(60);
    let k1 = w.rotate().await;
    let k2 = w.rotate().await;
    // k2 was made just now: it signs only from its active_from, so k1 is still the key signers
    // sign with, and revoking it refuses every new cookie until then.
    let k2_from = current_active_from(&w).await;
    assert!(k2_from > w.rotator.clock.now(), "k2 is not active yet");
    let report = cfcookie_rotator::driver::revoke(&w.rotator, &w.secret, &k1)
        .await
        .expect("revoke the previous key");
    assert_eq!(report.was, "AWSPREVIOUS");
    assert!(report.deleted && !report.cost.is_empty());
    assert_eq!(w.group_items().await, BTreeSet::from([k2.clone()]));
    assert_eq!(
        report.refused_signing_until,
        k2_from.max(w.rotator.clock.now() + ttl),
        "signers sign with k1 until k2's active_from"
    );
    assert!(
        report
            .cost
            .iter()
            .any(|c| c.contains("still the key signers sign with")),
        "{:?}",
        report.cost
    );
    let report = cfcookie_rotator::driver::revoke(&w.rotator, &w.secret, &k2)
        .await
        .expect("revoke the current key");
    assert_eq!(report.was, "AWSCURRENT");
    let k3 = report
        .new_key_id
        .clone()
        .expect("an emergency rotation made a new key");
    assert_eq!(w.group_items().await, BTreeSet::from([k3.clone()]));
    assert!(
        report.cost.iter().any(|c| c.contains("emergency rotation")),
        "{:?}",
        report.cost
    );
    assert!(
        report.cost.iter().any(|c| c.contains("was not active yet")),
        "k2 was revoked before its active_from, so neither key left is active: {:?}",
        report.cost
    );
    let k3_from = current_active_from(&w).await;
    assert_eq!(
        report.refused_signing_until,
        k3_from.max(w.rotator.clock.now() + ttl),
        "signers sign with k2 until k3's active_from"
    );
    assert_eq!(
        w.status().await.time.signers_sign_with,
        None,
        "neither k2 nor k3 is active: signers have no key to sign with"
    );
    // A rotation now would make k3, not active yet, the predecessor: k2 left the group, so no
    // S2 gate holds it back, and signers would have no key to sign with until k3_from.
    // createSecret refuses until then, makes nothing, and lets the empty version go.
    w.admin.enable_rotation(&w.secret, 30).await;
    let before = w.snapshot().await;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    let err = w
        .rotator
        .run_step(Step::Create, &w.secret, &token, Mode::Lambda)
        .await
        .expect_err("k3 is not active yet");
    let RotationError::TooSoon { key_id, safe_at } = err else {
        panic!("expected Rotation.TooSoon, got {}: {err}", err.error_type());
    };
    assert_eq!((key_id.as_str(), safe_at), (k3.as_str(), k3_from));
    assert_eq!(
        before,
        w.snapshot().await,
        "the refused createSecret changed something"
    );
    // At k3_from exactly the rotation goes on: k3 becomes the predecessor, and signs.
    w.rotator.clock.advance(k3_from - w.rotator.clock.now());
    w.lambda_rotation_now(&new_token()).await;
    let s = w
        .assert_consistent("after the rotation that follows the revoke")
        .await;
    assert_eq!(s.time.signers_sign_with.as_deref(), Some(k3.as_str()));
}

/// AWSCURRENT's `active_from`, read from the stored JSON itself (not through `SecretValue`).
async fn current_active_from<S: SecretStore, R: KeyRegistry, P: ParameterStore>(
    w: &World<S, R, P>,
) -> chrono::DateTime<chrono::Utc> {
    let doc = w.current_json().await;
    chrono::DateTime::parse_from_rfc3339(doc["active_from"].as_str().expect("active_from"))
        .expect("rfc3339")
        .with_timezone(&chrono::Utc)
}

/// With CFCOOKIE_BOOTSTRAP_KEY_NAME, infra's bootstrap key is deleted once the first rotation
/// took it out of the group, so it no longer counts against the account's quota.
async fn the_bootstrap_key_is_deleted_after_the_first_rotation<B: Backend>(b: &B) {
    let mut w = b.world().await;
    let (record, _) = w
        .rotator
        .registry
        .get_public_key(&w.bootstrap_key)
        .await
        .expect("get")
        .expect("bootstrap key");
    w.rotator.config.bootstrap_key_name = Some(record.name.clone());
    w.rotate().await;
    assert!(
        w.rotator
            .registry
            .get_public_key(&w.bootstrap_key)
            .await
            .expect("get")
            .is_none(),
        "the bootstrap key is gone"
    );
    w.assert_consistent("after the first rotation").await;
}

/// A Secrets Manager whose first PutSecretValue of AWSPENDING waits until the test lets it
/// go: `cfcookie rotate` held up (a slow call, a slow laptop) after its createSecret put its new
/// key into the key group and before the version naming it exists.
#[derive(Clone)]
struct HeldPut<S> {
    inner: S,
    reached: std::sync::Arc<tokio::sync::Notify>,
    go: std::sync::Arc<tokio::sync::Notify>,
    held: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Instead of holding it, refuse every PutSecretValue of AWSPENDING (throttled).
    refuse: bool,
}

impl<S: SecretStore> SecretStore for HeldPut<S> {
    async fn describe(
        &self,
        secret_id: &str,
    ) -> ServiceResult<cfcookie_rotator::model::SecretDescription> {
        self.inner.describe(secret_id).await
    }
    async fn get_value(
        &self,
        secret_id: &str,
        version: cfcookie_rotator::model::VersionRef<'_>,
    ) -> ServiceResult<Option<zeroize::Zeroizing<String>>> {
        self.inner.get_value(secret_id, version).await
    }
    async fn put_value(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
        label: &str,
    ) -> ServiceResult<()> {
        if label == stage::PENDING && self.refuse {
            return Err(cfcookie_rotator::ports::ServiceError::Other {
                operation: "PutSecretValue",
                message: "ThrottlingException: Rate exceeded".into(),
            });
        }
        if label == stage::PENDING && !self.held.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.reached.notify_one();
            self.go.notified().await;
        }
        self.inner.put_value(secret_id, token, value, label).await
    }
    async fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> ServiceResult<()> {
        self.inner.move_label(secret_id, label, to, from).await
    }
}

/// A [`Rot`] whose Secrets Manager is behind a [`HeldPut`].
type HeldRot<S, R, P> = With<HeldPut<Faulty<S>>, Faulty<R>, P, NoProbe>;

/// The world's rotator with its Secrets Manager behind a [`HeldPut`].
fn with_held_put<S: SecretStore + Clone, R: KeyRegistry + Clone, P: ParameterStore + Clone>(
    w: &World<S, R, P>,
    refuse: bool,
) -> HeldRot<S, R, P> {
    Rotator {
        secrets: HeldPut {
            inner: w.rotator.secrets.clone(),
            reached: Default::default(),
            go: Default::default(),
            held: Default::default(),
            refuse,
        },
        registry: w.rotator.registry.clone(),
        params: w.rotator.params.clone(),
        keygen: AwsLcKeyGenerator::default(),
        clock: w.rotator.clock.clone(),
        probe: NoProbe,
        config: w.rotator.config.clone(),
    }
}

/// Runs `cfcookie rotate --resume` (nothing pending, so a new rotation) held before its
/// PutSecretValue, and meanwhile, `after` later by the rotator's clock, a whole scheduled
/// rotation by Secrets Manager; then lets the in-process rotation go on. Returns its outcome.
async fn in_process_rotation_racing_a_scheduled_one<S, R, P>(
    w: &World<S, R, P>,
    after: chrono::Duration,
) -> Result<cfcookie_rotator::driver::RotationReport, RotationError>
where
    S: SecretStore + Clone,
    R: KeyRegistry + Clone,
    P: ParameterStore + Clone,
{
    let in_process = with_held_put(w, false);
    let (reached, go) = (
        in_process.secrets.reached.clone(),
        in_process.secrets.go.clone(),
    );
    let scheduled = async {
        reached.notified().await;
        w.rotator.clock.advance(after);
        // Secrets Manager starts the scheduled rotation: nothing is AWSPENDING yet.
        w.lambda_rotation_now(&new_token()).await;
        go.notify_one();
    };
    let (result, ()) = tokio::join!(rotate_in_process(&in_process, &w.secret, true), scheduled);
    result
}

/// `cfcookie rotate` makes its key and puts it into the group before its PutSecretValue creates
/// the version (the public API has no empty version), so a scheduled rotation can run whole in
/// between. Its setSecret must leave that young key alone: the in-process rotation then stores
/// a version whose key exists, is refused as too soon (the scheduled rotation's key just
/// became current), and finishes once that is safe. Retiring and deleting the key instead left
/// AWSPENDING naming a deleted key, and every later attempt failed `Rotation.KeyMismatch`.
async fn a_scheduled_rotation_spares_the_key_of_an_in_process_one<B: Backend>(b: &B) {
    let w = b.world().await;
    // The first rotation, at the clock's start: the keys made from here on are young to it.
    rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect("first rotation");
    w.admin.enable_rotation(&w.secret, 30).await;
    let err = in_process_rotation_racing_a_scheduled_one(&w, chrono::Duration::seconds(30))
        .await
        .expect_err("refused until the scheduled rotation's predecessor may go");
    let RotationError::TooSoon { safe_at, .. } = err else {
        panic!("expected Rotation.TooSoon, got {}: {err}", err.error_type());
    };
    let s = w.status().await;
    let pending = s
        .versions
        .iter()
        .find(|v| v.stages.iter().any(|x| x == stage::PENDING))
        .expect("the in-process rotation's version is AWSPENDING");
    let key = pending.key_id.clone().expect("it names its key");
    assert!(
        s.key_group_items.contains(&key),
        "its key {key} is still in the group: {:?}",
        s.key_group_items
    );
    w.rotator
        .clock
        .advance(safe_at - w.rotator.clock.now() + chrono::Duration::seconds(1));
    let report = rotate_in_process(&w.rotator, &w.secret, true)
        .await
        .expect("the held rotation finishes once it is safe");
    assert_eq!(report.key_id, key);
    w.assert_consistent("after the resumed rotation").await;
}

/// A createSecret whose PutSecretValue fails with nothing stored has lost its private key, so
/// its new public key is an orphan: it leaves the group and the account at once, instead of
/// being spared by a concurrent rotation as a young key in flight.
async fn a_failed_put_secret_value_takes_its_key_out_again<B: Backend>(b: &B) {
    let w = b.world().await;
    rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect("first rotation");
    let before = w.snapshot().await;
    let refusing = with_held_put(&w, true);
    let err = refusing
        .run_step(Step::Create, &w.secret, &new_token(), Mode::InProcess)
        .await
        .expect_err("PutSecretValue refused");
    assert_eq!(err.error_type(), "Rotation.Service", "{err}");
    assert_eq!(
        before,
        w.snapshot().await,
        "the failed createSecret left its key in the group or the account"
    );
}

/// createSecret's UpdateKeyGroup lands and its answer is lost: the step fails with its new key
/// in the group, and its private key dies with the run. An immediate retry of the step (the
/// Lambda's, or `cfcookie rotate --resume`'s) was refused as `Rotation.KeyNameTaken` (the name
/// held by a young key, as if a concurrent createSecret were on its way), and the dead key
/// stayed in the group until a later createSecret found it old: the next rotation's group held
/// four keys. The failed step takes its key out again.
async fn a_create_secret_whose_group_answer_was_lost_retries_at_once<B: Backend>(b: &B) {
    let w = b.world().await;
    w.current_and_previous().await;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    // Where createSecret's UpdateKeyGroup falls among its calls, from a run that is undone.
    let probe = b.world().await;
    probe.current_and_previous().await;
    let probe_token = new_token();
    probe
        .admin
        .stage_pending(&probe.secret, &probe_token)
        .await
        .expect("stage");
    probe.plan.reset();
    probe
        .rotator
        .run_step(Step::Create, &probe.secret, &probe_token, Mode::Lambda)
        .await
        .expect("create");
    let n = probe
        .plan
        .log()
        .iter()
        .position(|op| *op == "UpdateKeyGroup")
        .expect("createSecret writes the group");

    let before = w.group_items().await;
    w.plan.arm(n, When::After);
    let err = w
        .rotator
        .run_step(Step::Create, &w.secret, &token, Mode::Lambda)
        .await
        .expect_err("the answer was lost");
    assert!(w.plan.fired());
    assert!(
        matches!(&err, RotationError::Service(s) if cfcookie_testing::faults::is_injected(s)),
        "{err}"
    );
    assert_eq!(
        w.group_items().await,
        before,
        "the failed createSecret left its key in the group"
    );
    w.rotator
        .run_step(Step::Create, &w.secret, &token, Mode::Lambda)
        .await
        .expect("the retry at once makes the version's key");
    w.end_rotation(&token).await;
    w.assert_consistent("after the rotation").await;
}

/// The same race when the in-process rotation was held longer than a createSecret can run:
/// the scheduled rotation retires its key as an orphan. The version it then stores names a
/// deleted key and can never finish; setSecret lets it go (`Rotation.Abandoned`, AWSPENDING
/// removed), `cfcookie rotate` starts afresh, and Secrets Manager's next rotation is not
/// blocked by a stuck AWSPENDING.
async fn a_pending_version_whose_key_is_gone_is_abandoned<B: Backend>(b: &B) {
    let w = b.world().await;
    rotate_in_process(&w.rotator, &w.secret, false)
        .await
        .expect("first rotation");
    w.admin.enable_rotation(&w.secret, 30).await;
    let err = in_process_rotation_racing_a_scheduled_one(&w, chrono::Duration::minutes(10))
        .await
        .expect_err("the fresh rotation is refused as too soon");
    let RotationError::TooSoon { safe_at, .. } = err else {
        panic!(
            "expected Rotation.TooSoon after starting afresh, got {}: {err}",
            err.error_type()
        );
    };
    let s = w.status().await;
    assert!(
        s.versions
            .iter()
            .all(|v| !v.stages.iter().any(|x| x == stage::PENDING)),
        "no version is left AWSPENDING: {:#?}",
        s.versions
    );
    w.rotator
        .clock
        .advance(safe_at - w.rotator.clock.now() + chrono::Duration::seconds(1));
    w.lambda_rotation(&new_token()).await;
    w.assert_consistent("after the next scheduled rotation")
        .await;
}

/// An operator paged for a stuck rotation takes its key out of the key group in the console,
/// and the deletion that should follow fails or is forgotten. The version's key still exists but
/// has left the group: its `active_from` no longer holds and the version can never finish.
/// setSecret lets it go (`Rotation.Abandoned`) and deletes the key; failing
/// `Rotation.KeyMismatch` on every retry instead left the secret stuck until someone cancelled
/// it, with no key rotated meanwhile.
async fn a_pending_key_taken_out_of_the_group_by_hand_is_let_go<B: Backend>(b: &B) {
    let w = b.world().await;
    w.current_and_previous().await;
    let token = w.start_rotation().await;
    let pending = w
        .status()
        .await
        .versions
        .into_iter()
        .find(|v| v.id == token)
        .and_then(|v| v.key_id)
        .expect("the pending version names its key");
    let registry = &w.rotator.registry;
    let gid = &w.rotator.config.key_group_id;
    let mut group = registry
        .get_key_group(gid)
        .await
        .expect("GetKeyGroup")
        .expect("the group");
    assert!(group.items.contains(&pending), "createSecret put it there");
    group.items.retain(|k| *k != pending);
    registry.update_key_group(&group).await.expect("by hand");

    let err = w
        .rotator
        .run_step(Step::Set, &w.secret, &token, Mode::Lambda)
        .await
        .expect_err("the version cannot finish");
    assert!(
        matches!(&err, RotationError::Abandoned { key_id, .. } if *key_id == pending),
        "expected Rotation.Abandoned, got {}: {err}",
        err.error_type()
    );
    assert!(
        registry
            .get_public_key(&pending)
            .await
            .expect("GetPublicKey")
            .is_none(),
        "the abandoned version's key was deleted"
    );
    assert!(
        w.status()
            .await
            .versions
            .iter()
            .all(|v| !v.stages.iter().any(|x| x == stage::PENDING)),
        "AWSPENDING left the version, so Secrets Manager starts the next rotation"
    );
    w.lambda_rotation(&new_token()).await;
    w.assert_consistent("after the next rotation").await;
}

/// A setSecret paused just before its key group write, while Secrets Manager's retry finishes
/// its rotation without it and the next rotation puts its key in the group: its write then
/// fails If-Match, and the next attempt must plan from the labels as they are now. Planning
/// again from the labels read before the pause dropped the next rotation's key from the group,
/// and that rotation's setSecret failed `Rotation.KeyMismatch` on every retry.
async fn a_paused_set_secret_never_writes_from_stale_labels<B: Backend>(b: &B) {
    let w = b.world().await;
    w.current_and_previous().await;
    // A third rotation, up to its setSecret (which retires the first rotation's key).
    let token = w.start_rotation().await;
    let (reached, go) = (
        std::sync::Arc::new(tokio::sync::Notify::new()),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    );
    let held = FirstUpdate::new(
        w.rotator.registry.clone(),
        Interference::Hold {
            reached: reached.clone(),
            go: go.clone(),
        },
    );
    let paused = rebuild(&w.rotator, held, NoProbe);
    let meanwhile = async {
        reached.notified().await;
        w.end_rotation(&token).await;
        clear_pending(&w.rotator.secrets, &w.secret, &token)
            .await
            .expect("clear");
        w.rotator.clock.advance(chrono::Duration::hours(2));
        let next = w.start_rotation().await;
        go.notify_one();
        next
    };
    let (result, next) = tokio::join!(
        paused.run_step(Step::Set, &w.secret, &token, Mode::Lambda),
        meanwhile
    );
    result.expect("the paused setSecret finds its rotation finished and changes nothing");
    let s = w.status().await;
    let next_key = s
        .versions
        .iter()
        .find(|v| v.id == next)
        .and_then(|v| v.key_id.clone())
        .expect("the next rotation's version names its key");
    assert!(
        s.key_group_items.contains(&next_key),
        "the next rotation's key {next_key} is still in the group: {:?}",
        s.key_group_items
    );
    w.end_rotation(&next).await;
    w.assert_consistent("after the next rotation").await;
}

/// A `cfcookie rotate` that dies after its createSecret put its new key in the group and before
/// its PutSecretValue leaves a key no one can sign with. Once that key is older than a Lambda
/// run, the next createSecret takes it out of the group and deletes it before adding its own
/// key: the group holds current, previous and the new key, never four.
async fn a_dead_rotation_s_key_leaves_the_group_at_the_next_create<B: Backend>(b: &B) {
    let w = b.world().await;
    w.current_and_previous().await;
    let dying = with_held_put(&w, false);
    let reached = dying.secrets.reached.clone();
    tokio::select! {
        r = rotate_in_process(&dying, &w.secret, false) => {
            panic!("held at its PutSecretValue, the rotation cannot end (ok: {})", r.is_ok())
        }
        () = reached.notified() => {}
    }
    let before = w.group_items().await;
    assert_eq!(
        before.len(),
        3,
        "current, previous and the dead run's key: {before:?}"
    );
    w.rotator.clock.advance(chrono::Duration::minutes(5));
    let token = w.start_rotation().await;
    let after = w.group_items().await;
    assert_eq!(
        after.len(),
        3,
        "current, previous and the new key: {after:?} (before: {before:?})"
    );
    for gone in before.difference(&after) {
        assert!(
            w.rotator
                .registry
                .get_public_key(gone)
                .await
                .expect("get")
                .is_none(),
            "the dead run's key {gone} is deleted"
        );
    }
    w.end_rotation(&token).await;
    w.assert_consistent("after the rotation that followed the dead one")
        .await;
}

fn clone_rotator<S: SecretStore + Clone, R: KeyRegistry + Clone, P: ParameterStore + Clone>(
    r: &Rot<S, R, P>,
) -> Rot<S, R, P> {
    rebuild(r, r.registry.clone(), NoProbe)
}

/// The same rotator (same services, clock and settings) with another registry and probe.
fn rebuild<
    S: SecretStore + Clone,
    R: KeyRegistry,
    P: ParameterStore + Clone,
    R2: KeyRegistry,
    Pr2: Probe,
>(
    r: &Rot<S, R, P>,
    registry: R2,
    probe: Pr2,
) -> With<Faulty<S>, R2, P, Pr2> {
    Rotator {
        secrets: r.secrets.clone(),
        registry,
        params: r.params.clone(),
        keygen: AwsLcKeyGenerator::default(),
        clock: r.clock.clone(),
        probe,
        config: r.config.clone(),
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod on_fakes {
            $( #[tokio::test] async fn $name() { super::$name(&super::Fakes).await } )*
        }
        mod on_emulator {
            $( #[tokio::test] async fn $name() { let b = super::Emu::start().await; super::$name(&b).await } )*
        }
    };
}

suite!(
    three_rotations_from_bootstrap,
    each_step_twice_is_idempotent,
    crash_before_and_after_every_call,
    second_rotation_while_pending_is_refused,
    test_secret_alone_leaves_no_residue,
    etag_conflict_is_retried,
    a_stale_read_of_the_group_fails_no_step,
    bad_input_changes_nothing,
    broken_values_and_missing_group_are_refused,
    interval_shorter_than_cookie_lifetime_is_refused,
    an_unreadable_schedule_is_refused,
    an_interval_of_exactly_p_ttl_l_is_accepted,
    back_to_back_rotation_is_refused_until_safe,
    a_stale_key_id_parameter_opens_no_gate_early,
    the_new_key_enters_the_group_at_create_secret,
    rotate_immediately_false_passes_on_an_empty_pending_version,
    orphans_are_swept_first_and_a_full_account_is_named,
    the_bootstrap_key_is_deleted_after_the_first_rotation,
    revoke_takes_a_leaked_key_out_at_once,
    a_scheduled_rotation_spares_the_key_of_an_in_process_one,
    a_pending_version_whose_key_is_gone_is_abandoned,
    a_pending_key_taken_out_of_the_group_by_hand_is_let_go,
    a_failed_put_secret_value_takes_its_key_out_again,
    a_create_secret_whose_group_answer_was_lost_retries_at_once,
    a_paused_set_secret_never_writes_from_stale_labels,
    a_dead_rotation_s_key_leaves_the_group_at_the_next_create,
);

// ------------------------------------------------------------------ emulator only

#[tokio::test]
async fn transient_errors_are_retried_with_backoff() {
    let b = Emu::start().await;
    let w = b.world().await;
    b.emulator
        .inject("cloudfront.UpdateKeyGroup", 503, "ServiceUnavailable", 2);
    b.emulator.inject(
        "secretsmanager.PutSecretValue",
        400,
        "ThrottlingException",
        2,
    );
    b.emulator
        .inject("ssm.PutParameter", 500, "InternalServerError", 1);
    w.rotate().await;
    w.assert_consistent("after transient errors").await;
    let calls = b.emulator.calls();
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert!(
        count("cloudfront.UpdateKeyGroup") >= 3,
        "UpdateKeyGroup was not retried: {calls:?}"
    );
    assert!(
        count("secretsmanager.PutSecretValue") >= 3,
        "PutSecretValue was not retried"
    );
}

#[tokio::test]
async fn the_api_call_table_is_exactly_what_the_adapters_call() {
    let b = Emu::start().await;
    let w = b.world().await;
    b.emulator.clear_calls();
    // Three rotations from bootstrap: the third is the first to delete a managed key.
    w.rotate().await;
    w.rotate().await;
    w.rotate().await;
    w.status().await;
    let mut calls = b.emulator.calls();
    // The scheduled key check, as EventBridge Scheduler invokes it (rotation on: the operator's
    // RotateSecret is not the rotator's call).
    w.admin.enable_rotation(&w.secret, 30).await;
    b.emulator.clear_calls();
    let age = cfcookie_rotator::check::key_age(&w.rotator, &SdkSecretStore::new(&b.aws), &w.secret)
        .await
        .expect("key check");
    // The world's clock runs two hours ahead per rotation; the version was made just now.
    assert!(age.has_key && age.age_secs <= 6 * 3600 + 600, "{age:?}");
    calls.extend(b.emulator.calls());
    let called: BTreeSet<String> = calls.into_iter().map(|c| c.replacen('.', ":", 1)).collect();
    let table: BTreeSet<String> = ROTATOR_API_CALLS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        called, table,
        "ROTATOR_API_CALLS must list exactly the calls the adapters make"
    );
}

// ------------------------------------------------------------------ canary

/// A stand-in for "a URL behind the distribution": refuses the first `refusals` requests with
/// 403 (edges not yet updated), then answers 200 only to cookies that verify against `group`.
fn canary_server(
    refusals: usize,
    group: std::sync::Arc<std::sync::Mutex<cfcookie_signer::KeyGroup>>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/canary.txt", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let canary_url = url.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut cookie = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line
                    .strip_prefix("cookie: ")
                    .or_else(|| line.strip_prefix("Cookie: "))
                {
                    cookie = v.trim().to_owned();
                }
                line.clear();
            }
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let group = group.lock().expect("lock").clone();
            let req =
                cfcookie_signer::ViewerRequest::new(&canary_url, chrono::Utc::now().timestamp())
                    .with_cookie_header(cookie.as_str());
            let ok = n >= refusals && cfcookie_signer::verify_cookies(&group, &req).is_ok();
            let status = if ok { "200 OK" } else { "403 Forbidden" };
            let _ = write!(
                &stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

#[tokio::test]
async fn canary_is_retried_with_backoff_until_the_new_key_works() {
    let w = Fakes.world().await;
    w.rotate().await;
    w.admin.enable_rotation(&w.secret, 30).await;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    for step in [Step::Create, Step::Set] {
        w.rotator
            .run_step(step, &w.secret, &token, Mode::Lambda)
            .await
            .expect("step");
    }
    // The canary trusts what CloudFront's key group now holds.
    let mut group = cfcookie_signer::KeyGroup::new();
    for id in w.status().await.key_group_items {
        let (record, _) = w
            .rotator
            .registry
            .get_public_key(&id)
            .await
            .expect("get")
            .expect("key");
        group.insert(
            id,
            cfcookie_signer::PublicKey::from_pem(&record.encoded_key).expect("pem"),
        );
    }
    let group = std::sync::Arc::new(std::sync::Mutex::new(group));
    let (url, seen) = canary_server(2, group.clone());
    let with_canary = |attempts: u32, url: &str| {
        let mut r = rebuild(
            &w.rotator,
            w.rotator.registry.clone(),
            cfcookie_rotator::ports::HttpProbe,
        );
        r.config.canary_url = Some(url.to_owned());
        r.config.canary_attempts = attempts;
        r.config.canary_backoff_ms = 10;
        r
    };
    with_canary(4, &url)
        .run_step(Step::Test, &w.secret, &token, Mode::Lambda)
        .await
        .expect("canary passes on the third try");
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "two 403s, then 200"
    );
    // A distribution that never trusts the key, once the edges' allowance P has run out:
    // testSecret fails with a clear type (before it, see the test below).
    w.rotator.clock.advance(chrono::Duration::seconds(
        w.rotator.config.activation_delay + 1,
    ));
    *group.lock().expect("lock") = cfcookie_signer::KeyGroup::new();
    let (url, _) = canary_server(0, group);
    let err = with_canary(3, &url)
        .run_step(Step::Test, &w.secret, &token, Mode::Lambda)
        .await
        .expect_err("canary refuses");
    assert_eq!(err.error_type(), "Rotation.CanaryFailed", "{err}");
}

/// CloudFront's copies of the keys its key group holds now, as an edge that has caught up sees
/// them.
async fn edge_view<S: SecretStore, R: KeyRegistry, P: ParameterStore>(
    w: &World<S, R, P>,
    items: &[String],
) -> cfcookie_signer::KeyGroup {
    let mut group = cfcookie_signer::KeyGroup::new();
    for id in items {
        let (record, _) = w
            .rotator
            .registry
            .get_public_key(id)
            .await
            .expect("get")
            .expect("key");
        group.insert(
            id.clone(),
            cfcookie_signer::PublicKey::from_pem(&record.encoded_key).expect("pem"),
        );
    }
    group
}

#[tokio::test]
async fn a_slow_edge_fails_no_step_of_a_healthy_rotation() {
    // testSecret's canary runs about a second after the new key entered the group, while the
    // edges have P (CFCOOKIE_ACTIVATION_DELAY) to see it. An edge that has not caught up yet
    // refuses every try: the rotation still completes, every step through the Lambda handler
    // (whose error metric counts exactly the failed invocations), because the key was verified
    // against CloudFront's copy and no signer uses it before active_from.
    let w = Fakes.world().await;
    w.rotate().await;
    w.admin.enable_rotation(&w.secret, 30).await;
    let lagging = std::sync::Arc::new(std::sync::Mutex::new(cfcookie_signer::KeyGroup::new()));
    let (url, seen) = canary_server(0, lagging.clone());
    let mut r = rebuild(
        &w.rotator,
        w.rotator.registry.clone(),
        cfcookie_rotator::ports::HttpProbe,
    );
    r.config.canary_url = Some(url);
    r.config.canary_attempts = 3;
    r.config.canary_backoff_ms = 10;
    let token = new_token();
    w.admin
        .stage_pending(&w.secret, &token)
        .await
        .expect("stage");
    let event = |step: Step| cfcookie_rotator::lambda::RotationEvent {
        step: step.aws_name().into(),
        secret_id: w.secret.clone(),
        client_request_token: token.clone(),
        rotation_token: None,
    };
    for step in Step::ALL {
        cfcookie_rotator::lambda::handle(&r, event(step))
            .await
            .unwrap_or_else(|e| panic!("{} failed on a healthy rotation: {e:?}", step.aws_name()));
    }
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the edge refused every try"
    );
    let status = w.status().await;
    assert!(status.consistent, "{:?}", status.problems);

    // Once the edges should have the key (active_from), the canary is judged: an edge that has
    // caught up passes, and one that still refuses the current key is an error.
    w.rotator.clock.advance(chrono::Duration::seconds(
        w.rotator.config.activation_delay + 1,
    ));
    *lagging.lock().expect("lock") = edge_view(&w, &status.key_group_items).await;
    cfcookie_rotator::lambda::handle(&r, event(Step::Test))
        .await
        .expect("an edge that has caught up accepts the current key");
    *lagging.lock().expect("lock") = cfcookie_signer::KeyGroup::new();
    let err = cfcookie_rotator::lambda::handle(&r, event(Step::Test))
        .await
        .expect_err("a refusal after active_from is judged");
    assert_eq!(err.error_type, "Rotation.CanaryFailed", "{}", err.message);
}

/// `cfcookie rotate` keeps AWS's time, read from the `Date` of a DescribeSecret answer: against
/// the emulator, which runs on this machine's clock, there is no offset to correct (one under
/// two seconds is within the header's resolution).
#[tokio::test]
async fn aws_time_is_read_from_a_response_date() {
    let b = Emu::start().await;
    let world = bootstrap(&b.aws, &new_token()[..8]).await;
    let clock = cfcookie_rotator::sdk::AwsClock::measure(&b.aws, &world.secret)
        .await
        .expect("a Date header in the emulator's answer");
    assert_eq!(clock.offset(), chrono::Duration::zero());
    // A secret that does not exist still answers, with a Date: the time is AWS's either way.
    assert!(
        cfcookie_rotator::sdk::AwsClock::measure(&b.aws, "no-such-secret")
            .await
            .is_some()
    );
}
