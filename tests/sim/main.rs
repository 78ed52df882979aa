//! A deterministic simulation of rotation in time: the real step code (`cfcookie_rotator`)
//! and the real signer key source (`cfcookie_endpoint::SecretKeySource`) against simulated Secrets Manager,
//! CloudFront (account quota, unique names, key group, edges that each see a change after
//! their own delay), SSM, endpoint instances and viewers, on one simulated clock.
//!
//! The clock is tokio's paused test clock on a current-thread runtime: time stands still while
//! any task can run and jumps to the next timer when all wait, so a simulated year takes
//! milliseconds and every run replays from its seed. It was chosen over `turmoil` (whose value
//! is a simulated network; here the seams are in-process ports, not sockets) and `madsim`
//! (which replaces tokio and the dependency tree under a `--cfg` flag): the rotator already
//! sleeps and times out through tokio, so the paused clock drives it unchanged.
//!
//! - `CFCOOKIE_SIM_SEEDS` (default 3; `scripts/test` runs 1000), `CFCOOKIE_SIM_DAYS` (default 365),
//!   `CFCOOKIE_SIM_FIRST_SEED` (default 0): the run.
//! - `CFCOOKIE_SIM_SEED=n`: replay one seed and print its whole timeline.
//!
//! On a violation the run prints the seed, the settings, the violation and the timeline that
//! led to it, and draws it as an SVG swimlane under `target/sim/`.
//!
//! # Layout
//! - `main.rs`: the runs (seeds, replay) and the simulated Secrets Manager schedule driving
//!   the real rotator steps.
//! - `world`: the simulated services, edges, endpoint instances and viewers on one clock.
//! - `check`: the invariants S1–S4 checked at every event.
//! - `schedule`: rotation schedules and windows as Secrets Manager reads them.
//! - `svg`: the swimlane drawn for a violation.

mod check;
mod schedule;
mod svg;
mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cfcookie_endpoint::SecretKeySource;
use cfcookie_rotator::config::Config;
use cfcookie_rotator::model::Spacing;
use cfcookie_rotator::ports::KeyRegistry as _;
use cfcookie_rotator::{Mode, Rotator, Step};
use cfcookie_testing::NoProbe;
use rand::Rng;

use world::{Lane, Of, Params, Sim, SimClock, SimCloudFront, SimKeys, SimParams, SimSecrets};

type SimRotator = Rotator<(
    SimSecrets,
    SimCloudFront,
    SimParams,
    SimKeys,
    SimClock,
    NoProbe,
)>;

fn rotator(sim: &Sim, of: Of) -> Arc<SimRotator> {
    Arc::new(rotator_with(sim, of, false))
}

/// A stack's rotator; `revoking`: the operator's, for `cfcookie revoke`.
fn rotator_with(sim: &Sim, of: Of, revoking: bool) -> SimRotator {
    let (p, group_id) = {
        let w = sim.lock();
        let group = match (of, &w.media) {
            (Of::Media, Some((group, _))) => group.clone(),
            _ => w.group_id.clone(),
        };
        (w.p.clone(), group)
    };
    let mut config = match of {
        Of::Main => {
            let mut c = cfcookie_testing::rotator_config(&group_id, world::KEY_ID_PARAMETER);
            compat_config(&mut c);
            c
        }
        Of::Media => {
            let mut c = cfcookie_testing::rotator_config(&group_id, world::MEDIA_KEY_ID_PARAMETER);
            c.key_name_prefix = world::MEDIA_PREFIX.into();
            c.bootstrap_key_name = Some("sim-media-bootstrap".into());
            c
        }
    };
    config.activation_delay = p.activation_delay;
    config.key_cache_ttl = p.key_cache_ttl;
    config.cookie_lifetime = p.cookie_lifetime;
    Rotator {
        secrets: SimSecrets {
            sim: sim.clone(),
            lane: Lane::Rotator,
            faults: true,
        },
        registry: SimCloudFront {
            sim: sim.clone(),
            of,
            revoking,
        },
        params: SimParams { sim: sim.clone() },
        keygen: SimKeys(sim.clone()),
        clock: SimClock(sim.lock().time.clone()),
        probe: NoProbe,
        config,
    }
}

fn compat_config(config: &mut Config) {
    config.bootstrap_key_name = Some("sim-bootstrap".into());
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(n.max(0) as u64)
}

fn rand_in(sim: &Sim, lo: i64, hi: i64) -> i64 {
    sim.lock().rng.random_range(lo..hi)
}

/// Rare paths, by the counter each bumps: a refusal as too soon, an abandoned version, a full
/// account, a key name taken, a key group or public key ETag gone stale, a failed step that
/// Secrets Manager retries as a whole, a step cut by the Lambda timeout, RotateImmediately=false,
/// an algorithm switch, a write whose answer was lost, one whose answer came late, a leaked
/// key revoked. The test
/// command's thousand seeds must reach each of them.
const RARE_PATHS: [&str; 12] = [
    "Rotation.TooSoon",
    "Rotation.Abandoned",
    "TooManyPublicKeys",
    "Rotation.KeyNameTaken",
    "PreconditionFailed",
    "rotation attempts failed",
    "Sandbox.Timedout",
    "RotateImmediately=false",
    "completed rotations leaving RSA_2048 and ECDSA_P256 in the group",
    "answers lost after the write",
    "answers late after the write",
    "keys revoked",
];

/// One invocation of a step as Secrets Manager makes it: cut at the Lambda timeout.
/// How one Lambda invocation failed: the step's error, or the Lambda's timeout.
#[derive(Debug)]
enum InvokeError {
    Step(cfcookie_rotator::RotationError),
    TimedOut,
}

impl InvokeError {
    /// The Lambda error type Secrets Manager records.
    fn error_type(&self) -> &'static str {
        match self {
            InvokeError::Step(e) => e.error_type(),
            InvokeError::TimedOut => "Sandbox.Timedout",
        }
    }
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Step(e) => write!(f, "{} {e}", e.error_type()),
            InvokeError::TimedOut => {
                f.write_str("Lambda timed out (Task timed out after 120 seconds)")
            }
        }
    }
}

async fn invoke(r: &SimRotator, of: Of, step: Step, token: &str) -> Result<(), InvokeError> {
    match tokio::time::timeout(
        Duration::from_secs(world::LAMBDA_TIMEOUT_SECS),
        r.run_step(step, of.secret(), token, Mode::Lambda),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(InvokeError::Step(e)),
        Err(_) => Err(InvokeError::TimedOut),
    }
}

/// One step as Secrets Manager invokes it, then, for the main stack, S4's bound on the group
/// during a rotation.
async fn invoke_checked(
    sim: &Sim,
    r: &SimRotator,
    of: Of,
    step: Step,
    token: &str,
) -> Result<(), InvokeError> {
    let result = invoke(r, of, step, token).await;
    if of == Of::Main {
        check::group_bound(sim);
    }
    result
}

/// RotateSecret (immediately) of the main stack.
async fn secrets_manager_rotation(sim: &Sim, r: &SimRotator, origin: &str) {
    rotation_of(sim, r, Of::Main, origin).await;
}

/// RotateSecret (immediately): stage AWSPENDING, run the four steps, retry the whole rotation
/// with the same token after a failed step, remove AWSPENDING after success.
async fn rotation_of(sim: &Sim, r: &SimRotator, of: Of, origin: &str) {
    let secret = of.secret();
    let token = {
        let mut w = sim.lock();
        let token = w.token();
        // "A previous rotation isn't complete. That rotation will be reattempted.": on schedule,
        // Secrets Manager takes the pending version up again rather than starting another.
        match w.secrets.rotation_in_progress(secret) {
            Some(pending) if origin == "schedule" => {
                w.log(
                    Lane::SecretsManager,
                    format!("schedule: reattempts rotation {}", world::short(&pending)),
                );
                w.bump("rotation reattempted on schedule");
                pending
            }
            _ => {
                if let Err(e) = w.secrets.stage_pending(secret, &token) {
                    w.log(
                        Lane::SecretsManager,
                        format!("{origin}: RotateSecret refused: {e}"),
                    );
                    w.bump("RotateSecret refused (rotation in progress)");
                    return;
                }
                w.log(
                    Lane::SecretsManager,
                    format!("{origin}: rotation {} starts", world::short(&token)),
                );
                token
            }
        }
    };
    'attempt: for attempt in 0..=world::SM_RETRIES {
        for step in Step::ALL {
            if let Err(e) = invoke_checked(sim, r, of, step, &token).await {
                let wait = rand_in(sim, 60, world::SM_RETRY_WAIT_MAX);
                {
                    let mut w = sim.lock();
                    w.log(
                        Lane::SecretsManager,
                        format!(
                            "{} {} failed (attempt {attempt}): {e}",
                            world::short(&token),
                            step.aws_name()
                        ),
                    );
                    w.bump("rotation attempts failed");
                    w.bump(e.error_type());
                }
                tokio::time::sleep(secs(wait)).await;
                continue 'attempt;
            }
        }
        {
            let mut w = sim.lock();
            w.secrets.clear_pending(secret, &token);
            if of == Of::Main {
                w.delete_deprecated();
            } else {
                w.secrets.delete_deprecated(secret);
            }
            w.log(
                Lane::SecretsManager,
                format!(
                    "rotation {} succeeded{}",
                    world::short(&token),
                    if of == Of::Main {
                        ""
                    } else {
                        " (second stack)"
                    }
                ),
            );
        }
        if of == Of::Main {
            check::rotation_done(sim);
        }
        return;
    }
    let paged = {
        let mut w = sim.lock();
        w.log(
            Lane::SecretsManager,
            format!("rotation {} failed; AWSPENDING stays", world::short(&token)),
        );
        if of == Of::Main {
            w.rotation_failed += 1;
        }
        of == Of::Main && w.rng.random_bool(0.5)
    };
    if paged {
        let wait = rand_in(sim, 3600, 12 * 3600);
        tokio::time::sleep(secs(wait)).await;
        operator_deletes_stuck_key(sim, &token).await;
    }
}

/// The failure alarm pages an operator, who takes the stuck rotation's key out of the key
/// group and deletes it by hand in the console instead of running the runbook. No signer ever
/// signed with a pending key, so nothing is refused; the rotation's next attempt must find its
/// key out of the group (deleted, or left behind when the deletion failed) and let the version
/// go (`Rotation.Abandoned`), and the next rotation start afresh.
async fn operator_deletes_stuck_key(sim: &Sim, token: &str) {
    let cloud = SimCloudFront {
        sim: sim.clone(),
        of: Of::Main,
        revoking: false,
    };
    let (stuck, key, group_id) = {
        let w = sim.lock();
        let stuck = w.secrets.rotation_in_progress(world::SECRET);
        let key = w.parsed.get(token).map(|(k, _)| k.clone());
        (stuck, key, w.group_id.clone())
    };
    let (Some(stuck), Some(key)) = (stuck, key) else {
        return;
    };
    if stuck != token {
        return;
    }
    sim.lock().log(
        Lane::Operator,
        format!("deletes the stuck rotation's key {key} by hand"),
    );
    let done = async {
        let Some(mut group) = cloud.get_key_group(&group_id).await? else {
            return Ok(false);
        };
        if group.items.contains(&key) && group.items.len() > 1 {
            group.items.retain(|i| *i != key);
            cloud.update_key_group(&group).await?;
        }
        let deleted = cfcookie_rotator::steps::delete_public_key(&cloud, &key).await?;
        Ok::<_, cfcookie_rotator::RotationError>(matches!(
            deleted,
            cfcookie_rotator::steps::Deletion::Deleted
        ))
    };
    let outcome = match done.await {
        Ok(true) => "done".to_owned(),
        Ok(false) | Err(_) => "gave up (the console said no)".to_owned(),
    };
    let mut w = sim.lock();
    w.log(Lane::Operator, format!("deleting {key} by hand: {outcome}"));
    // The rotation it undid was the rotator's to retry: liveness counts its windows again from
    // the operator's act, not from before it.
    w.last_rotation = w.now();
}

/// RotateSecret with RotateImmediately=false: testSecret alone on a new AWSPENDING version,
/// which is then removed.
async fn configuration_test(sim: &Sim, r: &SimRotator) {
    let token = {
        let mut w = sim.lock();
        let token = w.token();
        if let Err(e) = w.secrets.stage_pending(world::SECRET, &token) {
            w.log(
                Lane::Operator,
                format!("RotateSecret(RotateImmediately=false) refused: {e}"),
            );
            return;
        }
        w.log(
            Lane::Operator,
            format!(
                "RotateSecret(RotateImmediately=false): testSecret on {}",
                world::short(&token)
            ),
        );
        w.bump("RotateImmediately=false");
        token
    };
    let result = invoke(r, Of::Main, Step::Test, &token).await;
    let mut w = sim.lock();
    w.secrets.clear_pending(world::SECRET, &token);
    w.delete_deprecated();
    if let Err(e) = result {
        // What the world injected that may fail a healthy test: throttling, a timeout.
        let transient = match &e {
            InvokeError::TimedOut => true,
            InvokeError::Step(cfcookie_rotator::RotationError::Service(
                cfcookie_rotator::ports::ServiceError::Other { message, .. },
            )) => message.starts_with("ThrottlingException"),
            InvokeError::Step(_) => false,
        };
        if !transient {
            w.violate(
                "RIF",
                format!("RotateImmediately=false: testSecret refused a healthy secret: {e}"),
            );
        }
    }
}

/// `cfcookie rotate --resume`, as an operator runs it.
async fn operator_resume(sim: &Sim, r: &SimRotator) {
    sim.lock().log(Lane::Operator, "cfcookie rotate --resume");
    let result = compat_rotate(sim, r).await;
    match result {
        Ok(key) => {
            sim.lock().log(
                Lane::Operator,
                format!("cfcookie rotate --resume: done, key {key}"),
            );
            check::rotation_done(sim);
        }
        Err(e) => sim
            .lock()
            .log(Lane::Operator, format!("cfcookie rotate --resume: {e}")),
    }
}

async fn compat_rotate(sim: &Sim, r: &SimRotator) -> Result<String, String> {
    // The first token is drawn now, as before: a later one only when a rotation starts afresh.
    let mut first = Some(sim.lock().token());
    let s = sim.clone();
    let tokens = move || {
        first.take().unwrap_or_else(|| {
            let mut w = s.lock();
            w.bump("cfcookie rotate started afresh after Rotation.Abandoned");
            w.token()
        })
    };
    cfcookie_rotator::driver::rotate_in_process_with(r, world::SECRET, true, tokens)
        .await
        .map(|rep| rep.key_id)
        .map_err(|e| format!("{} {e}", e.error_type()))
}

/// One endpoint instance: refreshes every period, sometimes restarts cold, sometimes cannot
/// read Secrets Manager for a while.
///
/// A refresh that reads what the one before it read, successfully, changes nothing but the
/// time of the last read, and the check after it finds what the check before it found. Such
/// refreshes are skipped: the instance sleeps until its next refresh that can differ — a cold
/// start, the start of an outage, or the first one after the secret changed — and
/// `check::catch_up` replays the last skipped one when something reads what it would have left.
/// Cold starts and outages begin at a refresh, each with its probability, independently of the
/// others: the refresh of the next one is drawn (a geometric number of periods) instead of a
/// coin at every refresh, which is the same distribution.
/// Endpoint instances refresh half a second after their grid's whole seconds, and everything
/// else happens on whole seconds, so no refresh ties with a change it might or might not read:
/// a refresh on second `t` reads every change made at `t`, whether or not refreshes are
/// skipped (`skipping_refreshes_changes_no_timeline`).
const HALF: Duration = Duration::from_millis(500);

async fn endpoint_instance(sim: Sim, i: usize) {
    let (ttl, first, period, wake) = {
        let mut w = sim.lock();
        let ttl = w.p.key_cache_ttl;
        let phase = w.rng.random_range(0..ttl);
        let period = refresh_period(ttl);
        let now = w.now();
        let slot = &mut w.slots[i];
        slot.phase = now + phase;
        slot.period = period;
        slot.done = i64::MIN;
        (ttl, slot.phase, period, slot.wake.clone())
    };
    let p_cold = (period as f64 / (10.0 * 86_400.0)).min(1.0);
    let p_outage = (period as f64 / (20.0 * 86_400.0)).min(1.0);
    let mut next_cold = geometric(&sim, p_cold);
    let mut next_outage = geometric(&sim, p_outage) - 1;
    let p_freeze = sim
        .lock()
        .p
        .freeze_every_days
        .map_or(0.0, |d| (period as f64 / (d as f64 * 86_400.0)).min(1.0));
    let mut next_freeze = if p_freeze > 0.0 {
        geometric(&sim, p_freeze)
    } else {
        u64::MAX
    };
    let time = sim.lock().time.clone();
    let real_loop = !sim.lock().p.skip_refreshes;
    let mut thawed = false;
    tokio::time::sleep_until(time.instant(first) + HALF).await;
    let mut n: u64 = 0;
    loop {
        // The refreshes skipped before this one ran, as far as anything can tell: an outage
        // starting now finds the last read one period ago, not at the last refresh that ran.
        check::catch_up(&sim, false);
        if n == next_freeze {
            n = freeze(&sim, i, n, period).await;
            {
                let mut w = sim.lock();
                next_freeze = n + geometric_in(&mut w, p_freeze);
                // Cold starts and outages drawn for the frozen spell are drawn again from the
                // thaw.
                if next_cold < n {
                    next_cold = n + geometric_in(&mut w, p_cold);
                }
                if next_outage < n {
                    next_outage = n + geometric_in(&mut w, p_outage);
                }
            }
            // The refresh timer, overdue, fires at once on thaw: the refresh on grid `n`, now,
            // after that refresh's draws (the real loop then runs on from it).
            thawed = true;
            continue;
        }
        let cold = {
            let mut w = sim.lock();
            w.slots[i].skipping = false;
            let cold = w.slots[i].source.is_none() || n == next_cold;
            if n == next_cold {
                next_cold = n + geometric_in(&mut w, p_cold);
            }
            if n == next_outage {
                next_outage = n + geometric_in(&mut w, p_outage);
                let len = w.rng.random_range(300..4 * ttl);
                let now = w.now();
                w.slots[i].failing_until = now + len;
                w.log(
                    Lane::Signer(i),
                    format!("cannot read Secrets Manager for {len}s"),
                );
            }
            cold
        };
        if cold {
            if let Some(old) = sim.lock().slots[i].refresher.take() {
                old.abort();
            }
            let source = Arc::new(
                SecretKeySource::new(check::SimReader::new(SimSecrets {
                    sim: sim.clone(),
                    lane: Lane::Signer(i),
                    faults: false,
                }))
                .with_clock(Arc::new(SimClock(sim.lock().time.clone()))),
            );
            let mut w = sim.lock();
            w.slots[i].source = Some(source);
            w.slots[i].ever_loaded = false;
            w.slots[i].last_read_ok = i64::MIN;
            w.slots[i].read_keys = [None, None];
            w.log(Lane::Signer(i), "cold start");
        }
        let source = sim.lock().slots[i].source.clone();
        let mut ok = false;
        match source {
            // With the real loop, the instance reads the secret itself only at start-up (as
            // `endpoint_from` does), then `spawn_refresh` runs; `SimReader` hands each read's
            // outcome to `after_refresh`.
            Some(source) if real_loop && (cold || thawed) => {
                let _ = source.refresh().await;
                tokio::time::sleep(LOOP_LAG).await;
                sim.lock().slots[i].refresher = Some(source.spawn_refresh(secs(ttl)));
            }
            Some(_) if real_loop => {}
            Some(source) => {
                ok = compat_refresh(&sim, &source).await;
                after_refresh(&sim, i, ok);
            }
            None => {}
        }
        thawed = false;
        // The next refresh that runs: the next one after a failed one (it changes whether the
        // instance trusts its keys' age), else the next cold start or outage, or the first
        // refresh after the secret changes, whichever comes first.
        let skip = ok && sim.lock().p.skip_refreshes;
        let mut target = if skip || real_loop {
            next_cold.min(next_outage).min(next_freeze)
        } else {
            n + 1
        };
        {
            let mut w = sim.lock();
            let now = w.now();
            let slot = &mut w.slots[i];
            slot.done = now;
            slot.skipping = skip;
        }
        loop {
            let at = first + target as i64 * period;
            sim.lock().slots[i].next_real = at;
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(time.instant(at) + HALF) => break,
                () = wake.notified() => {
                    // The secret changed at `now`, a whole second: the first refresh at or
                    // after it reads the change (a refresh on `now`'s second runs half a
                    // second later).
                    let now = sim.lock().now();
                    let next = (now - first + period - 1).div_euclid(period) as u64;
                    target = target.min(next.max(n + 1));
                }
            }
        }
        n = target;
    }
}

/// With the real refresh loop (`SecretKeySource::spawn_refresh`), how long after an instance's
/// start-up read (or its thaw) the loop starts: its refreshes then fall a tenth of a second
/// after the grid's, so the sim's own events on the grid (a cold start, an outage starting)
/// come before the loop's read at the same refresh, as they do when the sim refreshes itself.
const LOOP_LAG: Duration = Duration::from_millis(100);

/// After a refresh of instance `i` (`ok`: it read the secret): checks now, exactly when the
/// loaded current key becomes signable, and, while reads fail, exactly when the view grows
/// older than TTL and the instance must refuse.
pub(crate) fn after_refresh(sim: &Sim, i: usize, ok: bool) {
    let mut w = sim.lock();
    if ok {
        w.slots[i].ever_loaded = true;
    }
    let now = w.now();
    let ttl = w.p.key_cache_ttl;
    let [signable, previous_signable] = w.slots[i].read_keys.clone().map(|k| k.map(|(_, at)| at));
    let last = w.slots[i].last_read_ok;
    let expires = (!ok && last != i64::MIN).then(|| last + ttl + 1);
    for at in [signable, previous_signable, expires].into_iter().flatten() {
        if at > now {
            let s2 = sim.clone();
            tokio::spawn(async move {
                tokio::time::sleep(secs(at - now)).await;
                check::all(&s2);
            });
        }
    }
    drop(w);
    check::all(sim);
}

/// Instance `i`, a Lambda environment left idle at its refresh `n`, frozen for a whole number
/// of refresh periods (1 hour to 3 days): no refresh, nothing served. On thaw a request comes
/// first, before the refresh timer's read, and does what the endpoint does before signing
/// (`KeySource::catch_up`). Returns the refresh the timer then fires.
async fn freeze(sim: &Sim, i: usize, n: u64, period: i64) -> u64 {
    let (periods, thaw, source, time) = {
        let mut w = sim.lock();
        let periods = (w.rng.random_range(3600..3 * 86_400) / period).max(1);
        let thaw = w.now() + periods * period;
        let slot = &mut w.slots[i];
        slot.frozen_until = thaw;
        slot.skipping = false;
        // The refresh timer stands still with the environment.
        if let Some(refresher) = slot.refresher.take() {
            refresher.abort();
        }
        let source = slot.source.clone();
        w.log(Lane::Signer(i), format!("frozen for {}s", periods * period));
        (periods, thaw, source, w.time.clone())
    };
    tokio::time::sleep_until(time.instant(thaw) + HALF).await;
    {
        let mut w = sim.lock();
        w.slots[i].frozen_until = i64::MIN;
        w.log(Lane::Signer(i), "thawed: a request");
    }
    if let Some(source) = source {
        use cfcookie_endpoint::KeySource as _;
        if let Some(read) = source.catch_up(thaw) {
            read.await;
        }
    }
    check::all(sim);
    n + periods as u64
}

/// Periods until the next event of probability `p` per period (at least one).
fn geometric(sim: &Sim, p: f64) -> u64 {
    geometric_in(&mut sim.lock(), p)
}

fn geometric_in(w: &mut world::World, p: f64) -> u64 {
    if p >= 1.0 {
        return 1;
    }
    let u: f64 = 1.0 - w.rng.random::<f64>();
    (u.ln() / (1.0 - p).ln()).floor() as u64 + 1
}

fn refresh_period(ttl: i64) -> i64 {
    compat_period(ttl)
}

fn compat_period(ttl: i64) -> i64 {
    // As `SecretKeySource::spawn_refresh` does: twice per TTL.
    ttl / 2
}

async fn compat_refresh(sim: &Sim, source: &check::Source) -> bool {
    let ttl = sim.lock().p.key_cache_ttl;
    source.set_max_age(ttl);
    source.refresh().await.is_ok()
}

/// Viewers: a cookie now and then, presented later to random edges until it expires.
///
/// A presentation is queued, not slept on: what it checks (the edge's view of the group)
/// changes only when an edge applies a change, so `check::present_due` decides every queued
/// presentation due by then just before that, and at the end of the run, each at its own
/// instant. Waking the runtime for each one was the larger part of its timer work.
async fn viewers(sim: Sim) {
    loop {
        let wait = rand_in(&sim, 600, 6 * 3600);
        tokio::time::sleep(secs(wait)).await;
        check::catch_up(&sim, false);
        let mut w = sim.lock();
        let n = w.slots.len();
        let i = w.rng.random_range(0..n);
        let Some(source) = w.slots[i].source.clone() else {
            continue;
        };
        let now = w.now();
        if w.slots[i].frozen_until >= now {
            continue;
        }
        use cfcookie_endpoint::KeySource as _;
        let Ok(signer) = source.signer(now) else {
            continue;
        };
        let key = Arc::<str>::from(signer.key_pair_id());
        let lifetime = w.p.cookie_lifetime;
        for _ in 0..2 {
            let n = w.edges.len();
            let edge = w.rng.random_range(0..n);
            let at = w.rng.random_range(1..lifetime);
            w.present_later(now + at, edge, key.clone(), at);
        }
    }
}

/// Secrets Manager's schedule: a rotation at a random instant of every window of the secret's
/// rotation rules (`schedule.rs`) until the end of the run.
async fn schedule(sim: Sim, r: Arc<SimRotator>) {
    let end = world::EPOCH + i64::from(sim.lock().p.days + 1) * 86_400;
    if rules_set(&sim, &r) {
        tokio::spawn(operator_lengthens_schedule(sim.clone(), r.clone()));
    }
    // Infra's RotateImmediately=true on the first apply.
    secrets_manager_rotation(&sim, &r, "first apply (RotateImmediately)").await;
    let mut from = world::EPOCH + 1;
    loop {
        let (start, len) = sim.lock().rules.window_from(from);
        if start >= end {
            break;
        }
        let at = start + rand_in(&sim, 0, len);
        let now = sim.lock().now();
        tokio::time::sleep(secs(at - now)).await;
        let r2 = r.clone();
        let s2 = sim.clone();
        tokio::spawn(async move { secrets_manager_rotation(&s2, &r2, "schedule").await });
        check::liveness(&sim);
        from = start + len;
    }
}

/// The second stack: its first apply's rotation, then `rate(1 day)` with a 4 h window (its
/// RotationRules, set in `Sim::new`), each rotation at a random instant of its window. Its
/// keys share the account's quota with the main stack's; its rotator must never delete the
/// main stack's keys, nor the main stack's its (XSTACK, checked at each deletion).
async fn second_stack(sim: Sim, r: Arc<SimRotator>) {
    rotation_of(&sim, &r, Of::Media, "first apply (RotateImmediately)").await;
    loop {
        let now = sim.lock().now();
        let next_day = (now.div_euclid(86_400) + 1) * 86_400;
        let at = next_day + rand_in(&sim, 0, 4 * 3600);
        tokio::time::sleep(secs(at - now)).await;
        rotation_of(&sim, &r, Of::Media, "schedule").await;
    }
}

/// New rotation rules: the rotator's interval guard must read them as the windows the
/// simulation fires (GUARD), and refuses them when two rotations could be closer than
/// P + TTL + L. Returns whether it refuses them.
fn rules_set(sim: &Sim, r: &SimRotator) -> bool {
    let needed = r.config.minimum_interval();
    let mut w = sim.lock();
    // RotateSecret's RotationRules; DescribeSecret recomputes `AutomaticallyAfterDays` from
    // the expression, so only the expression and the window are given.
    let (expression, duration) = (w.rules.expression(), w.rules.duration_text());
    w.secrets.set_rotation(
        world::SECRET,
        true,
        (None, Some(&expression), duration.as_deref()),
    );
    let guard = w
        .secrets
        .rotation_spacing(world::SECRET)
        .unwrap_or_default();
    let spacing = w.rules.true_spacing();
    let text = format!("{} {:?}", w.rules.expression(), w.rules.duration_text());
    if guard != Spacing::AtLeast(spacing) {
        w.violate(
            "GUARD",
            format!("rules {text}: the interval guard reads {guard:?}s between rotations, the windows allow {spacing}s"),
        );
    }
    let refused = !matches!(guard, Spacing::AtLeast(g) if g >= needed);
    w.rules_refused = refused;
    w.log(
        Lane::SecretsManager,
        format!(
            "rotation rules {text}: rotations at least {spacing}s apart; guard {guard:?}, needs {needed}s{}",
            if refused { ": refused" } else { "" }
        ),
    );
    refused
}

/// Rules the rotator refuses leave every rotation failing with Rotation.IntervalTooShort and
/// nothing made; the failure alarm brings an operator, who lengthens the schedule as the error
/// table says (docs/rotation.md) with RotateSecret and new RotationRules.
async fn operator_lengthens_schedule(sim: Sim, r: Arc<SimRotator>) {
    let wait = rand_in(&sim, 3600, 48 * 3600);
    tokio::time::sleep(secs(wait)).await;
    {
        let mut w = sim.lock();
        let today = w.now().div_euclid(86_400) * 86_400;
        w.rules = schedule::Rules::lengthened(&mut w.rng, today);
        let text = w.rules.expression();
        w.log(
            Lane::Operator,
            format!("after Rotation.IntervalTooShort: aws secretsmanager rotate-secret --rotation-rules {text}"),
        );
    }
    if rules_set(&sim, &r) {
        sim.lock()
            .violate("GUARD", "the lengthened schedule is refused too".into());
    }
    secrets_manager_rotation(&sim, &r, "operator: rotate-secret --rotation-rules").await;
}

/// An operator sets `CFCOOKIE_KEY_ALGORITHM=RSA_2048` on the rotator Lambda and, some days
/// later, back to `ECDSA_P256`. Each change takes effect at the next createSecret, so around it
/// the key group holds one key of each algorithm (checked in `check::rotation_done`).
async fn operator_switches_algorithm(sim: Sim, start: i64, len: i64) {
    use cfcookie_signer::KeyAlgorithm;
    for (wait, algorithm) in [
        (start, KeyAlgorithm::Rsa2048),
        (len, KeyAlgorithm::EcdsaP256),
    ] {
        tokio::time::sleep(secs(wait)).await;
        let mut w = sim.lock();
        w.algorithm = algorithm;
        w.algorithm_switched = true;
        w.log(
            Lane::Operator,
            format!(
                "CFCOOKIE_KEY_ALGORITHM={} on the rotator",
                algorithm.as_str()
            ),
        );
    }
}

/// A key has leaked: an operator runs `cfcookie revoke` on it (the runbook in
/// docs/rotation.md) with a rotator of its own, retrying a few minutes apart when a call fails.
/// The keys its group updates take out are recorded as CloudFront sees it happen
/// (`SimCloudFront::revoking`): their refused cookies count as its documented cost until its
/// report's `refused_signing_until`, and a signer that signs with one after that is a
/// violation (REVOKE, in `check::signers`, checked again at that instant).
async fn operator_revokes(sim: Sim, plan: world::Revoke) {
    use cfcookie_rotator::model::stage;
    let r = rotator_with(&sim, Of::Main, true);
    tokio::time::sleep(secs(plan.at)).await;
    if plan.after_rotation {
        let done = sim.lock().rotations_done;
        while sim.lock().rotations_done == done {
            tokio::time::sleep(secs(60)).await;
        }
        let p = sim.lock().p.activation_delay;
        let wait = rand_in(&sim, 0, p);
        tokio::time::sleep(secs(wait)).await;
    }
    let label = if plan.current {
        stage::CURRENT
    } else {
        stage::PREVIOUS
    };
    let key = {
        let mut w = sim.lock();
        let Some((key, _)) = w.key_of(label) else {
            w.log(Lane::Operator, format!("no {label} key to revoke"));
            return;
        };
        if !w.group().items.contains(&key) {
            w.log(
                Lane::Operator,
                format!("{key} ({label}) is not in the group"),
            );
            return;
        }
        w.log(
            Lane::Operator,
            format!("cfcookie revoke --key-id {key} ({label}) --yes"),
        );
        w.revoke_targets.insert(key.clone());
        key
    };
    let mut reported = None;
    for _ in 0..6 {
        let s = sim.clone();
        let tokens = move || s.lock().token();
        match cfcookie_rotator::driver::revoke_with(&r, world::SECRET, &key, tokens).await {
            Ok(report) => {
                let until = report.refused_signing_until.timestamp();
                let mut w = sim.lock();
                w.bump("keys revoked");
                w.log(
                    Lane::Operator,
                    format!(
                        "revoked {} (was {}, new key {:?}); signers may sign with it until {}",
                        report.key_id,
                        report.was,
                        report.new_key_id,
                        stamp(until)
                    ),
                );
                reported = Some(until);
                break;
            }
            Err(e) => {
                sim.lock().log(
                    Lane::Operator,
                    format!("cfcookie revoke: {} {e}", e.error_type()),
                );
                let wait = rand_in(&sim, 120, 900);
                tokio::time::sleep(secs(wait)).await;
            }
        }
    }
    // Given up, keys it took out went in an emergency rotation that completed, or in its last
    // step: signers move to the successor within P of the removal and hold a view for up to
    // TTL.
    let last = {
        let mut w = sim.lock();
        if reported.is_none() {
            w.log(Lane::Operator, "cfcookie revoke: gave up".to_owned());
        }
        let slack = w.p.activation_delay + w.p.key_cache_ttl;
        let mut last = i64::MIN;
        for r in w.revoked.values_mut().filter(|r| r.until == i64::MAX) {
            r.until = reported.unwrap_or(r.at + slack);
            last = last.max(r.until);
        }
        last
    };
    // REVOKE depends on the time alone: check exactly when signing with a revoked key stops
    // being allowed.
    if last != i64::MIN {
        let now = sim.lock().now();
        tokio::time::sleep(secs(last + 1 - now)).await;
        check::all(&sim);
    }
}

async fn operators(sim: Sim, r: Arc<SimRotator>) {
    loop {
        let wait = rand_in(&sim, 3600, 20 * 86_400);
        tokio::time::sleep(secs(wait)).await;
        let what = rand_in(&sim, 0, 3);
        let r2 = r.clone();
        let s2 = sim.clone();
        tokio::spawn(async move {
            match what {
                0 => {
                    secrets_manager_rotation(&s2, &r2, "operator: aws secretsmanager rotate-secret")
                        .await
                }
                1 => configuration_test(&s2, &r2).await,
                _ => operator_resume(&s2, &r2).await,
            }
        });
    }
}

/// What one seed did.
#[derive(Debug)]
struct Outcome {
    seed: u64,
    rotations: u64,
    /// Completed rotations that switched the key algorithm.
    switches: u64,
    violations: Vec<(String, i64, String)>,
    /// The seed's event counters.
    stats: std::collections::BTreeMap<&'static str, u64>,
    world: Option<Sim>,
}

fn run_seed(p: Params, keep_world: bool) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let seed = p.seed;
    let days = p.days;
    let sim = rt.block_on(async move {
        let sim = Sim::new(p);
        let r = rotator(&sim, Of::Main);
        if sim.lock().media.is_some() {
            tokio::spawn(second_stack(sim.clone(), rotator(&sim, Of::Media)));
        }
        let n = sim.lock().slots.len();
        for i in 0..n {
            tokio::spawn(endpoint_instance(sim.clone(), i));
        }
        tokio::spawn(viewers(sim.clone()));
        tokio::spawn(operators(sim.clone(), r.clone()));
        if let Some(plan) = sim.lock().p.revoke {
            tokio::spawn(operator_revokes(sim.clone(), plan));
        }
        if let Some((start, len)) = sim.lock().p.algorithm_switch {
            tokio::spawn(operator_switches_algorithm(sim.clone(), start, len));
        }
        let sched = tokio::spawn(schedule(sim.clone(), r.clone()));
        // Stop at the end of the simulated period, or at the first violation (which notifies
        // `stop`: a timer polling for it would wake the runtime at instants nothing else needs).
        let end = tokio::time::Instant::now() + Duration::from_secs(u64::from(days + 1) * 86_400);
        let stop = sim.lock().stop.clone();
        tokio::select! {
            () = tokio::time::sleep_until(end) => {}
            () = stop.notified() => {}
        }
        sched.abort();
        // What skipped refreshes would have left, at the end as at every check.
        check::catch_up(&sim, false);
        let now = sim.lock().now();
        check::present_due(&mut sim.lock(), now);
        sim
    });
    drop(rt);
    let mut w = sim.lock();
    // The instances hold the world through their readers: let go of them so it can be freed.
    w.slots.clear();
    let violations = w.violations.clone();
    let rotations = w.rotations_done;
    let switches = w
        .stats
        .get("completed rotations leaving RSA_2048 and ECDSA_P256 in the group")
        .copied()
        .unwrap_or(0);
    let stats = w.stats.clone();
    drop(w);
    Outcome {
        seed,
        rotations,
        switches,
        stats,
        world: (keep_world || !violations.is_empty()).then_some(sim),
        violations,
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Prints the seed, the settings, the violation and the timeline, and draws it.
fn report(o: &Outcome) -> String {
    let Some(sim) = &o.world else {
        return String::new();
    };
    let w = sim.lock();
    let (kind, t, text) = &o.violations[0];
    let mut out = format!(
        "seed {} ({:?})\nfirst violation {kind} at {}: {text}\n\ntimeline (last 2 days):\n",
        o.seed,
        w.p,
        stamp(*t)
    );
    for e in w.timeline.iter().filter(|e| e.t >= t - 2 * 86_400) {
        out.push_str(&format!(
            "  {}  {:<15} {}\n",
            stamp(e.t),
            e.lane.to_string(),
            e.text
        ));
    }
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/sim"));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("seed-{}.svg", o.seed));
    if std::fs::write(&path, svg::swimlane(&w, *t)).is_ok() {
        out.push_str(&format!("\nswimlane: {}\n", path.display()));
    }
    out
}

pub(crate) fn stamp(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The run in the test command: many seeds, a simulated year each, with faults; zero violations.
#[test]
fn seeds_each_a_year_of_daily_rotations_keep_s1_to_s4() {
    if let Ok(seed) = std::env::var("CFCOOKIE_SIM_SEED") {
        let seed: u64 = seed.parse().expect("CFCOOKIE_SIM_SEED is a number");
        let o = run_seed(
            Params::for_seed(seed, env_u64("CFCOOKIE_SIM_DAYS", 365) as u32),
            true,
        );
        if let Some(sim) = &o.world {
            let w = sim.lock();
            for e in &w.timeline {
                println!("{}  {:<15} {}", stamp(e.t), e.lane.to_string(), e.text);
            }
            println!("{} rotations completed; {:#?}", w.rotations_done, w.stats);
        }
        assert!(o.violations.is_empty(), "{}", report(&o));
        return;
    }
    // A plain `cargo nextest run` runs a handful of seeds; the test command (scripts/test) runs
    // a thousand (the test profile builds this package optimised: the root manifest).
    let seeds = env_u64("CFCOOKIE_SIM_SEEDS", 3);
    let first = env_u64("CFCOOKIE_SIM_FIRST_SEED", 0);
    let days = env_u64("CFCOOKIE_SIM_DAYS", 365) as u32;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(first));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let next = next.clone();
            std::thread::spawn(move || {
                let mut rotations = 0;
                let mut switches = 0;
                let mut failures = Vec::new();
                let mut stats = std::collections::BTreeMap::new();
                loop {
                    let seed = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if seed >= first + seeds {
                        break;
                    }
                    let o = run_seed(Params::for_seed(seed, days), false);
                    rotations += o.rotations;
                    switches += o.switches;
                    for (k, v) in &o.stats {
                        *stats.entry(*k).or_insert(0) += v;
                    }
                    if !o.violations.is_empty() {
                        failures.push(o);
                    }
                }
                (rotations, switches, failures, stats)
            })
        })
        .collect();
    let mut rotations = 0;
    let mut switches = 0;
    let mut failures: Vec<Outcome> = Vec::new();
    let mut stats: std::collections::BTreeMap<&str, u64> = Default::default();
    for h in handles {
        let (r, s, f, st) = h.join().expect("thread");
        rotations += r;
        switches += s;
        failures.extend(f);
        for (k, v) in st {
            *stats.entry(k).or_insert(0) += v;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "simulation: {seeds} seeds x {days} days, {rotations} rotations completed ({switches} switching the key algorithm) in {elapsed:.1}s ({:.0} rotations/s), {} seeds with violations",
        rotations as f64 / elapsed,
        failures.len()
    );
    println!("counters over all seeds: {stats:#?}");
    // The rare paths a run should reach; one it never reaches proves nothing about it.
    let never: Vec<&str> = RARE_PATHS
        .iter()
        .copied()
        .filter(|p| stats.get(p).copied().unwrap_or(0) == 0)
        .collect();
    println!("rare paths never reached: {never:?}");
    failures.sort_by_key(|o| o.seed);
    if let Some(o) = failures.first() {
        for o in &failures {
            println!(
                "seed {}: {} {}",
                o.seed, o.violations[0].0, o.violations[0].2
            );
        }
        let kinds: std::collections::BTreeMap<&str, usize> =
            failures.iter().fold(Default::default(), |mut m, o| {
                *m.entry(o.violations[0].0.as_str()).or_default() += 1;
                m
            });
        panic!(
            "{} of {seeds} seeds broke an invariant (first violation per seed, by kind: {kinds:?}); replay one with CFCOOKIE_SIM_SEED={}\n{}",
            failures.len(),
            o.seed,
            report(o)
        );
    }
    // A run that never reaches a rare path proves nothing about it.
    assert!(
        seeds < 1000 || days < 365 || never.is_empty(),
        "the run never reached {never:?}: it proves nothing about them"
    );
    // One seed in ten switches the key algorithm: a long run must have gone through it.
    assert!(
        seeds < 200 || days < 60 || switches > 0,
        "no completed rotation switched the key algorithm"
    );
    assert!(
        rotations >= seeds * u64::from(days) / 2,
        "too few rotations completed: {rotations}"
    );
}

/// The checks can fail: edges slower than the propagation allowance P make signers use keys
/// some edge does not trust yet, and the simulation must say so (S1).
#[test]
fn edges_slower_than_the_allowance_are_caught() {
    let caught = (0..3).any(|seed| {
        let mut p = Params::for_seed(seed, 20);
        p.max_edge_delay = p.activation_delay * 4;
        let o = run_seed(p, false);
        o.violations.iter().any(|(kind, _, _)| kind == "S1")
    });
    assert!(caught, "propagation slower than P went unnoticed");
}

/// A seed's timeline, key material, the last time each key signed and what revoke took out,
/// as text.
fn fingerprint(o: &Outcome) -> String {
    let sim = o.world.as_ref().expect("kept");
    let w = sim.lock();
    let mut out: String = w
        .timeline
        .iter()
        .map(|e| format!("{} {} {}\n", e.t, e.lane, e.text))
        .collect();
    for k in w.cloud.public_keys() {
        out.push_str(&format!("{} {}\n", k.id, k.encoded_key));
    }
    out.push_str(&format!(
        "last signed {:?}\nrevoked {:?}\n",
        w.last_signed, w.revoked
    ));
    out
}

/// The skip-ahead of endpoint refreshes is exact: the same seeds with every refresh run at its
/// time give the same timeline, byte for byte (what each instance signs with and refuses,
/// every rotation step, every edge change and every violation).
#[test]
fn skipping_refreshes_changes_no_timeline() {
    let seeds = env_u64("CFCOOKIE_SIM_SKIP_SEEDS", 8);
    let days = env_u64("CFCOOKIE_SIM_SKIP_DAYS", 60) as u32;
    for seed in 0..seeds {
        let run = |skip: bool| {
            let mut p = Params::for_seed(seed, days);
            p.skip_refreshes = skip;
            // Half the seeds revoke a key: its REVOKE check depends on the time alone.
            if seed % 2 == 1 {
                p.revoke = Some(world::Revoke {
                    at: 86_400 * (5 + seed as i64 % 20),
                    after_rotation: seed % 4 == 1,
                    current: seed % 3 != 0,
                });
            }
            fingerprint(&run_seed(p, true))
        };
        let (skipped, every) = (run(true), run(false));
        if skipped != every {
            let at = skipped
                .lines()
                .zip(every.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| skipped.lines().count().min(every.lines().count()));
            let show = |t: &str| {
                t.lines()
                    .skip(at.saturating_sub(3))
                    .take(8)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "seed {seed}: the timelines part at line {at}\nskipping:\n{}\nevery refresh:\n{}",
                show(&skipped),
                show(&every)
            );
        }
    }
}

/// Strict determinism: one seed gives one timeline, and the same key material in the same
/// place, byte for byte, whether it runs alone or beside other seeds on other threads.
#[test]
fn a_seed_replays_byte_for_byte_beside_other_seeds() {
    let alone = fingerprint(&run_seed(Params::for_seed(11, 30), true));
    let beside = std::thread::scope(|s| {
        let others: Vec<_> = (12..14)
            .map(|seed| s.spawn(move || run_seed(Params::for_seed(seed, 30), false)))
            .collect();
        let mine = run_seed(Params::for_seed(11, 30), true);
        for o in others {
            o.join().expect("other seed");
        }
        fingerprint(&mine)
    });
    assert!(alone.lines().count() > 100, "a month has events");
    assert!(
        alone == beside,
        "seed 11 differs when other seeds run beside it"
    );
}
