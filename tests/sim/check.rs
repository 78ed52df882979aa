//! The invariants, checked at every event.
//!
//! - S1 trusted before use: a signer signs only with a key every edge already trusts.
//! - S2 retired after use: an edge drops a key only when no signer signs with it any more and
//!   every cookie it signed has expired (last signature + L).
//! - S3 always a key: a signer that loaded keys always has one it may sign with; refusing
//!   (503) is allowed only when its keys may have been retired (refreshes failing for longer
//!   than TTL), when it never loaded any, or when neither key it read is active yet and the
//!   predecessor is a key an operator revoked (a current key revoked before its `active_from`)
//!   or the very first key (a second rotation inside the first-deploy window).
//! - S4 bounded keys: after each completed rotation the group holds only current + previous
//!   and the account holds at most two keys of this stack, besides a concurrent createSecret's
//!   young key and the key of another rotation still pending; after every step, the group holds
//!   at most three besides a concurrent createSecret's young key.
//! - SIG: a signature a signer makes with a key verifies with CloudFront's copy of that key.
//! - XSTACK: a stack's rotator deletes no other stack's key (checked at each deletion, in
//!   `world.rs`, on seeds with a second stack).
//! - Liveness: rotations keep completing (no stack stuck for days).
//! - GUARD: the rotator's interval guard reads the rotation rules as the windows the
//!   simulation fires, and no rotation completes under rules it must refuse.
//! - REVOKE: keys `cfcookie revoke` takes out of the group break S2 on purpose (their cookies
//!   are refused: its documented cost), but no signer signs with one after the instant its
//!   report gives (`refused_signing_until`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cfcookie_endpoint::{
    KeyLoadError, KeySource as _, KeyUnavailable, SecretKeySource, SecretReader,
    SecretsManagerReader,
};
use cfcookie_rotator::model::{stage, SecretValue};

use crate::world::{Lane, Sim, SimSecrets, World};

pub(crate) type Source = SecretKeySource<SimReader>;

/// An endpoint instance's reader of the secret. Its first read after a cold start goes through
/// the real `SecretsManagerReader` (GetSecretValue, then `SecretValue::parse` of the text);
/// later refreshes get the same answer without parsing the same text again: a version's value
/// never changes once stored (PutSecretValue refuses another value for a version, as
/// `SimSecrets::put_value` does), so the parse made when it was stored (`World::values`) is
/// what parsing it again gives, errors included. The refresh loop, the outages, the key
/// source's caching and staleness rules all still run for real; only re-parsing identical JSON
/// twice per TTL per instance is skipped (it was a third of the simulation's time).
#[derive(Debug)]
pub(crate) struct SimReader {
    real: SecretsManagerReader<SimSecrets>,
    store: SimSecrets,
    cold: AtomicBool,
}

impl SimReader {
    pub(crate) fn new(store: SimSecrets) -> SimReader {
        SimReader {
            real: SecretsManagerReader::new(store.clone(), crate::world::SECRET),
            store,
            cold: AtomicBool::new(true),
        }
    }
}

impl SecretReader for SimReader {
    async fn read(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError> {
        let read = self.read_once().await;
        if let Lane::Signer(i) = self.store.lane {
            let mut w = self.store.sim.lock();
            if let Ok((current, previous)) = &read {
                // The world's own record of this instance's reads: S3 judges refusals by it.
                w.slots[i].last_read_ok = w.now();
                w.slots[i].read_keys = [current, previous].map(|v| {
                    v.as_ref()
                        .map(|v| (v.key_id.clone(), v.active_from.timestamp()))
                });
            }
            if !w.p.skip_refreshes {
                // The real refresh loop's read (or a request's): the checks after it run once
                // the source has taken in what it read.
                let (sim, ok) = (self.store.sim.clone(), read.is_ok());
                tokio::spawn(async move { crate::after_refresh(&sim, i, ok) });
            }
        }
        read
    }
}

impl SimReader {
    async fn read_once(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError> {
        if self.cold.swap(false, Ordering::SeqCst) {
            return self.real.read().await;
        }
        // As `SecretsManagerReader::read`: AWSCURRENT, then AWSPREVIOUS, each a GetSecretValue.
        let mut out = [None, None];
        for (slot, label) in out.iter_mut().zip([stage::CURRENT, stage::PREVIOUS]) {
            self.store.enter("GetSecretValue")?;
            let w = self.store.sim.lock();
            *slot = match w.version_with(label).and_then(|v| w.values.get(&v)) {
                None => None,
                Some(Ok(v)) => v.clone(),
                Some(Err(why)) => {
                    return Err(KeyLoadError::Format {
                        label: label.to_owned(),
                        why: why.clone(),
                    })
                }
            };
        }
        let [current, previous] = out;
        Ok((current, previous))
    }
}

/// One endpoint instance.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub source: Option<Arc<Source>>,
    pub failing_until: i64,
    /// Frozen (a Lambda environment left idle) until this second, inclusive, or until thawed:
    /// it serves nothing.
    pub frozen_until: i64,
    pub ever_loaded: bool,
    /// When this instance last read the secret successfully (`i64::MIN`: not since its cold
    /// start), as the world saw the read.
    pub last_read_ok: i64,
    /// The current and the previous key (id, `active_from`) that read handed the instance.
    pub read_keys: [Option<(String, i64)>; 2],
    /// Its refresh grid: a refresh at `phase + n * period` (epoch seconds).
    pub phase: i64,
    pub period: i64,
    /// The last refresh that ran (epoch seconds).
    pub done: i64,
    /// The next refresh the instance runs itself (epoch seconds): never replayed.
    pub next_real: i64,
    /// Whether the refreshes after `done` until the instance's next one that runs would change
    /// nothing but the time of the last read: the last one succeeded and the secret has not
    /// changed since. They are skipped; [`catch_up`] replays the last of them when it matters.
    pub skipping: bool,
    /// Wakes the instance when the secret changes, so that its next refresh runs.
    pub wake: Arc<tokio::sync::Notify>,
    /// The real refresh loop (`SecretKeySource::spawn_refresh`), when it runs.
    pub refresher: Option<tokio::task::JoinHandle<()>>,
}

/// Brings every instance's skipped refreshes up to now, exactly as if each had run at its time:
/// the last one is replayed at its own time (a refresh that reads what it read before only
/// moves the time of the last successful read, which decides when the instance starts to
/// refuse during a later outage), and each key an instance signed with at a skipped refresh is
/// recorded as signing then (what the check after each refresh records; S2 compares it with
/// cookie lifetimes). Runs before anything reads or changes what a skipped refresh would have
/// seen: a change to the secret (then every instance's next refresh runs for real), an edge's
/// change of key group (S2's check), and every question to a source for its signer (the
/// checks, a viewer's cookie): a source refuses a view older than TTL, so the time of its last
/// read decides whether it signs. Nothing else that a skipped refresh affects is read: the
/// keys a source holds did not change.
pub(crate) fn catch_up(sim: &Sim, secret_changes: bool) {
    let (through, n) = {
        let w = sim.lock();
        (w.time.refreshed_through(), w.slots.len())
    };
    for i in 0..n {
        let (source, done, last) = {
            let mut w = sim.lock();
            let s = &mut w.slots[i];
            let skipped = s.skipping && s.source.is_some() && through >= s.phase && s.period > 0;
            let last = if skipped {
                let last = s.phase + (through - s.phase) / s.period * s.period;
                if last >= s.next_real {
                    s.next_real - s.period
                } else {
                    last
                }
            } else {
                i64::MIN
            };
            if secret_changes {
                s.skipping = false;
                s.wake.notify_one();
            }
            if last <= s.done {
                continue;
            }
            let Some(source) = s.source.clone() else {
                continue;
            };
            (source, s.done, last)
        };
        // The replay first: a source refuses a view older than TTL, so what it signs with at
        // a skipped refresh is asked of it once that refresh has run.
        sim.lock().time.replay_at(last);
        let replayed = ready(source.refresh());
        let mut w = sim.lock();
        w.time.live();
        assert!(
            replayed.is_ok(),
            "a skipped refresh would have failed: {replayed:?}"
        );
        w.slots[i].done = last;
        let period = w.slots[i].period;
        // The key signing at the last skipped refresh, and, when the loaded current key became
        // signable in between, the one signing at the last skipped refresh before that.
        let mut at = vec![last];
        if let Some((_, active_from)) = source.current_key() {
            let before =
                w.slots[i].phase + (active_from - 1 - w.slots[i].phase).div_euclid(period) * period;
            if before > done && before < last {
                at.push(before);
            }
        }
        for t in at {
            if let Ok(s) = source.signer(t) {
                let k = s.key_pair_id().to_owned();
                let seen = w.last_signed.entry(k).or_insert(t);
                *seen = (*seen).max(t);
            }
        }
    }
}

/// Runs a future that cannot wait on anything (a refresh through [`SimReader`]'s warm path).
fn ready<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a replayed refresh waited on something"),
    }
}

/// Checks every signer against every edge.
pub(crate) fn all(sim: &Sim) {
    catch_up(sim, false);
    let mut w = sim.lock();
    signers(&mut w);
}

pub(crate) fn signers(w: &mut World) {
    let now = w.now();
    if w.first_key.is_none() {
        w.first_key = w
            .key_of(cfcookie_rotator::model::stage::CURRENT)
            .map(|(k, _)| k);
        if w.first_key.is_some() {
            w.first_key_at = now;
        }
    }
    for i in 0..w.slots.len() {
        let Some(source) = w.slots[i].source.clone() else {
            continue;
        };
        if w.slots[i].frozen_until >= now {
            continue;
        }
        match source.signer(now) {
            Ok(s) => {
                let k = s.key_pair_id().to_owned();
                if !w.verified.contains(&k) {
                    verify_with_cloudfront_copy(w, i, &s);
                }
                w.last_signed.insert(k.clone(), now);
                if w.signing[i].last().map(|(_, k)| k.as_deref()) != Some(Some(k.as_str())) {
                    w.signing[i].push((now, Some(k.clone())));
                    w.log(Lane::Signer(i), format!("signs with {k}"));
                }
                // A key revoke took out of the group (recorded when its UpdateKeyGroup landed,
                // not before): refused at every edge from then on, whether the edge had it
                // yet or not, which is its documented cost, for as long as its report says
                // signers may still sign with it.
                if let Some(r) = w.revoked.get(&k).copied() {
                    if now > r.until {
                        w.violate("REVOKE", format!("signer-{i} signs with {k}, which revoke took out of the group, after {}, when its report said no signer would", crate::stamp(r.until)));
                    } else if w.edges.iter().any(|e| !e.contains(&k)) {
                        w.bump("signing with a revoked key (revoke's documented cost)");
                    }
                    continue;
                }
                for e in 0..w.edges.len() {
                    if w.edges[e].contains(&k) {
                        continue;
                    }
                    if w.edge_ever[e].contains(&k) {
                        w.violate("S2", format!("signer-{i} signs with {k}, which edge-{e} has already dropped: its cookies are refused there"));
                    } else if w.first_key.as_deref() == Some(k.as_str()) {
                        w.bump("first-deploy window (documented)");
                    } else {
                        w.violate(
                            "S1",
                            format!("signer-{i} signs with {k} before edge-{e} trusts it"),
                        );
                    }
                }
            }
            Err(e) => {
                if w.signing[i].last().map(|(_, k)| k.is_none()) != Some(true) {
                    w.signing[i].push((now, None));
                    w.log(Lane::Signer(i), format!("503: {e}"));
                }
                // Judged by the world, not by the refusal's words: refusing for age is right
                // only when this instance's last successful read is older than the TTL, and
                // "no key yet" only before it ever read the first key.
                let last = w.slots[i].last_read_ok;
                let stale = last != i64::MIN && now - last > w.p.key_cache_ttl;
                let before_first = !w.slots[i].ever_loaded
                    || w.first_key.is_none()
                    || now < w.first_key_at + w.p.key_cache_ttl;
                // Neither key the instance last read is active yet, and the previous one is
                // a key an operator revoked (as AWSCURRENT, before it became active) or the
                // very first key (a second rotation inside the first-deploy window): nothing
                // else may leave the secret so.
                let none_active = matches!(
                    &w.slots[i].read_keys,
                    [Some((_, c)), Some((p, p_at))]
                        if *c > now && *p_at > now
                            && (w.revoke_targets.contains(p) || w.first_key.as_deref() == Some(p))
                );
                match e {
                    KeyUnavailable::NotYetActive { .. } if none_active => {
                        w.bump("503: neither key active yet (revoke, first-deploy window)");
                    }
                    KeyUnavailable::MayBeRetired { .. } if stale => {
                        w.bump("503: keys may have been retired");
                    }
                    KeyUnavailable::NoKeyYet if before_first => {
                        w.bump("503: no key loaded yet");
                    }
                    e => {
                        let read = if last == i64::MIN {
                            "never read since its cold start".to_owned()
                        } else {
                            format!("last read {}s ago", now - last)
                        };
                        w.violate(
                            "S3",
                            format!("signer-{i} refuses ({e}) but the world says it has a key it may sign with ({read}, TTL {}s)", w.p.key_cache_ttl),
                        );
                    }
                }
            }
        }
    }
}

/// SIG: the edges compare more than key ids. The first time any signer signs with a key, a
/// signature it makes must verify with CloudFront's copy of that key (what every edge holds),
/// read from the account, not from the secret: a rotator that registered another public key
/// than the one it stored, and a testSecret that checked the stored key against itself, would
/// pass every key-id check and be refused at every edge.
fn verify_with_cloudfront_copy(w: &mut World, i: usize, s: &cfcookie_signer::Signer) {
    let k = s.key_pair_id().to_owned();
    w.verified.insert(k.clone());
    let Some(copy) = w.cloud.public_keys().into_iter().find(|r| r.id == k) else {
        return; // S1 and S2 speak for a key CloudFront does not hold
    };
    // The simulation's keys come from a small pool, so each (CloudFront copy, private key)
    // pair is verified for real once per process and remembered: a pure function of the two.
    type Verified = std::collections::HashMap<(String, Vec<u8>), bool>;
    static VERIFIED: std::sync::OnceLock<std::sync::Mutex<Verified>> = std::sync::OnceLock::new();
    let pair = (
        copy.encoded_key.clone(),
        s.key().public_key().spki_der().to_vec(),
    );
    let cache = VERIFIED.get_or_init(Default::default);
    let known = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&pair)
        .copied();
    let verifies = known.unwrap_or_else(|| {
        let probe = b"cfcookie-sim signature probe";
        let hash = cfcookie_signer::HashAlgorithm::Sha256;
        let ok = cfcookie_signer::PublicKey::from_pem(&copy.encoded_key).is_ok_and(|edge_key| {
            s.key()
                .sign(hash, probe)
                .is_ok_and(|sig| edge_key.verify(hash, probe, &sig))
        });
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pair, ok);
        ok
    });
    if !verifies {
        w.violate(
            "SIG",
            format!("signer-{i} signs with {k}, but CloudFront's copy of {k} does not verify its signatures: every edge refuses its cookies"),
        );
    }
}

/// Keys of this stack younger than the rotator's STALE_KEY_AFTER_SECS (240 s) that no version
/// stores: a concurrent createSecret's, on their way into a version.
fn young_keys(w: &World, now: i64) -> Vec<String> {
    let stored: Vec<&String> = w.parsed.values().map(|(k, _)| k).collect();
    w.cloud
        .public_keys()
        .into_iter()
        .filter(|k| k.name.starts_with(&w.main_names))
        .filter(|k| {
            let created = k.created_at.map_or(i64::MIN, |t| t.timestamp());
            now - created < 240 && !stored.contains(&&k.id)
        })
        .map(|k| k.id)
        .collect()
}

/// S4 during a rotation: after any step, the group holds at most the previous, current and
/// pending keys, besides a concurrent createSecret's young key. A key whose createSecret died
/// before storing it must not stay and make a fourth.
pub(crate) fn group_bound(sim: &Sim) {
    let mut w = sim.lock();
    let now = w.now();
    let young = young_keys(&w, now);
    let held: Vec<String> = w
        .group()
        .items
        .iter()
        .filter(|i| !young.contains(i))
        .cloned()
        .collect();
    if held.len() > 3 {
        w.violate(
            "S4",
            format!(
                "during a rotation the group holds {} keys: {held:?}",
                held.len()
            ),
        );
    }
}

/// Decides every queued presentation due by `until`, each at its own instant, with the edges'
/// views as they are: call before any edge's view changes.
pub(crate) fn present_due(w: &mut World, until: i64) {
    while w.presentations.peek().is_some_and(|p| p.0.when <= until) {
        let Some(std::cmp::Reverse(crate::world::Presentation {
            when,
            edge,
            key,
            age,
            ..
        })) = w.presentations.pop()
        else {
            break;
        };
        w.time.replay_at(when);
        let trusted = w.edges[edge].contains(&*key);
        if !trusted && w.first_key.as_deref() == Some(&*key) && !w.edge_ever[edge].contains(&*key) {
            // The first key signs before every edge has it: there is no predecessor to fall
            // back on (the documented first-deploy window, as S1 counts it).
            w.bump("first-deploy window (documented)");
        } else if !trusted && w.revoked.get(&*key).is_some_and(|r| when - age <= r.until) {
            w.bump("viewers refused after revoke (documented)");
        } else if !trusted {
            w.violate(
                "VIEWER",
                format!("edge-{edge} refuses a viewer's cookie signed by {key} {age}s ago"),
            );
        } else {
            w.bump("viewer requests allowed");
        }
        w.time.live();
    }
}

/// Edge `e` starts using `items`.
pub(crate) fn edge_applies(sim: &Sim, e: usize, seq: u64, items: Vec<String>) {
    let mut w = sim.lock();
    if seq <= w.edge_applied[e] {
        return;
    }
    w.edge_applied[e] = seq;
    let now = w.now();
    present_due(&mut w, now);
    let lifetime = w.p.cookie_lifetime;
    let dropped: Vec<String> = w.edges[e]
        .iter()
        .filter(|k| !items.contains(k))
        .cloned()
        .collect();
    for k in &dropped {
        let signed = w.last_signed.get(k).copied();
        if w.revoked
            .get(k)
            .is_some_and(|r| signed.is_none_or(|t| t <= r.until))
        {
            w.bump("keys dropped by revoke with cookies still valid (documented)");
            continue;
        }
        if let Some(t) = w.last_signed.get(k).copied() {
            if t + lifetime > now {
                w.violate(
                    "S2",
                    format!(
                        "edge-{e} drops {k} while a cookie it signed at {} is valid for {}s more",
                        crate::stamp(t),
                        t + lifetime - now
                    ),
                );
            }
        }
    }
    w.edges[e] = items.iter().cloned().collect();
    for k in &items {
        w.edge_ever[e].insert(k.clone());
    }
    w.edge_lanes[e].push((now, items.clone()));
    w.log(Lane::Edge(e), format!("trusts {items:?}"));
    signers(&mut w);
}

/// After a completed rotation.
pub(crate) fn rotation_done(sim: &Sim) {
    catch_up(sim, false);
    let mut w = sim.lock();
    w.rotations_done += 1;
    if w.rules_refused {
        w.violate(
            "GUARD",
            "a rotation completed under rotation rules the interval guard must refuse".into(),
        );
    }
    let now = w.now();
    w.last_rotation = now;
    let current = w
        .key_of(cfcookie_rotator::model::stage::CURRENT)
        .map(|(k, _)| k);
    let previous = w
        .key_of(cfcookie_rotator::model::stage::PREVIOUS)
        .map(|(k, _)| k);
    // A switch of key algorithm: the rotation that makes a key of the new algorithm current
    // leaves the group holding it and its predecessor of the old one.
    let group = w.group().items;
    let algorithm = |k: &Option<String>| k.as_ref().and_then(|k| w.algorithms.get(k)).copied();
    if let (Some(a), Some(b)) = (algorithm(&current), algorithm(&previous)) {
        if a != b {
            let both = [&current, &previous]
                .iter()
                .all(|k| k.as_ref().is_some_and(|k| group.contains(k)));
            if both {
                w.bump("completed rotations leaving RSA_2048 and ECDSA_P256 in the group");
            } else {
                let text = format!(
                    "the rotation from {} to {} left the group with {:?}",
                    b.as_str(),
                    a.as_str(),
                    group
                );
                w.violate("ALG", text);
            }
        }
    }
    // A key of this stack younger than the rotator's STALE_KEY_AFTER_SECS (240 s) that no
    // version stores may be a concurrent createSecret's: `cfcookie rotate` makes its key and
    // puts it into the group before its PutSecretValue creates the version, so setSecret leaves
    // such a key in the group and the sweep leaves it in the account (rotator/src/steps.rs,
    // `in_flight_keys` and `sweep`). It is not counted here; one left by a failed
    // `rotate --resume` is counted after the next rotation, which must retire it.
    let young = young_keys(&w, now);
    // Nor is the key of a version that holds AWSPENDING now: another rotation in progress
    // (an in-process one refused `Rotation.TooSoon` after the scheduled one made its key
    // current, waiting to be resumed, as docs/rotation.md describes) keeps its key in the
    // group until it finishes or is let go.
    let pending = w
        .key_of(cfcookie_rotator::model::stage::PENDING)
        .map(|(k, _)| k)
        .filter(|k| group.contains(k) && Some(k) != current.as_ref());
    if pending.is_some() {
        w.bump("keys of another pending rotation in the group after a rotation completed");
    }
    let allowed: Vec<String> = [current, previous, pending.clone()]
        .into_iter()
        .flatten()
        .collect();
    let extra: Vec<String> = group
        .iter()
        .filter(|i| !allowed.contains(i) && !young.contains(i))
        .cloned()
        .collect();
    if !extra.is_empty() {
        w.violate(
            "S4",
            format!("after a completed rotation the group also holds {extra:?}"),
        );
    }
    let ours: Vec<String> = w
        .cloud
        .public_keys()
        .into_iter()
        .filter(|k| k.name.starts_with(&w.main_names) || k.id == w.bootstrap_key)
        .filter(|k| !young.contains(&k.id) && pending.as_ref() != Some(&k.id))
        .map(|k| k.id)
        .collect();
    if young.iter().any(|k| group.contains(k)) {
        w.bump("in-flight keys of a concurrent createSecret left in the group");
    } else if !young.is_empty() {
        w.bump("young orphan keys left to the next rotation's sweep");
    }
    if ours.len() > 2 {
        w.violate(
            "S4",
            format!(
                "after a completed rotation the account holds {} keys of this stack: {ours:?}",
                ours.len()
            ),
        );
    }
    signers(&mut w);
}

/// Rotations keep completing: a new key becomes AWSCURRENT again and again.
///
/// Measured from the last time a new key became AWSCURRENT, whether or not Secrets Manager
/// counted that rotation as succeeded: a rotation cut after finishSecret moved AWSCURRENT but
/// before it published the key id to SSM, on its last retry, has rotated the key. The next
/// window's rotation is then refused (`Rotation.TooSoon`): the rotator must count when that
/// key became current from the moment it repairs the SSM publish, since AWS keeps no time at
/// which a staging label moved (DescribeSecret has the secret's LastChangedDate, and
/// ListSecretVersionIds a version's CreatedDate:
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretVersionsListEntry.html>).
/// A window's rotation may also fail on every retry for faults alone. Either way one window is
/// lost and the one after it rotates: two of the longest gaps between window starts, the
/// longest window, and the time Secrets Manager's retries take inside it; never less than four
/// days (refused rules wait for an operator).
pub(crate) fn liveness(sim: &Sim) {
    let mut w = sim.lock();
    let now = w.now();
    let retries = i64::from(crate::world::SM_RETRIES) * crate::world::SM_RETRY_WAIT_MAX
        + i64::from(crate::world::SM_RETRIES + 1) * 4 * crate::world::LAMBDA_TIMEOUT_SECS as i64;
    let limit = (2 * w.rules.longest_gap() + w.rules.longest_window() + retries).max(4 * 86_400);
    let since = w.last_rotation.max(w.last_key_change);
    if now - since > limit {
        let days = (now - since) / 86_400;
        w.violate(
            "LIVE",
            format!("no new key has become AWSCURRENT for {days} days"),
        );
        w.last_rotation = now;
    }
}
