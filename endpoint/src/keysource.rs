//! Where the endpoint (and backend services) get the key to sign with.
//!
//! [`SecretKeySource`] reads the secret's AWSCURRENT and AWSPREVIOUS versions, signs with
//! AWSCURRENT once its `active_from` has passed and with AWSPREVIOUS before that, refreshes in
//! the background twice per TTL (while those reads succeed, no request waits on Secrets
//! Manager after start-up), and keeps
//! the last good keys when a refresh fails — but only for TTL: the rotator may retire a key TTL
//! after its successor became signable (S2 in docs/rotation.md), so a view older than that may
//! hold retired keys, and the source then refuses (the endpoint answers 503 with the reason)
//! rather than mint cookies CloudFront would refuse. A view also ages without a failed read
//! when the process stood still: Lambda freezes an idle environment and may keep it for hours
//! (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html>), and on
//! thaw a request can run before the refresh timer's read returns. So a request first calls
//! [`KeySource::catch_up`], which waits for a read of the secret when the view is older than
//! TTL (or none was ever loaded): one read at a time, shared with the background refresh and
//! every request waiting, none again in the second a read failed, and a wait bounded by
//! [`CATCH_UP_WAIT`].
//! [`StaticKeySource`] is one key from a file.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cfcookie_secret::{stage, Clock, SecretStore, SecretValue, SystemClock, VersionRef};
use cfcookie_signer::{KeyGroup, PrivateKey, Signer};
use tracing::{info, warn};

/// No key can sign right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyUnavailable {
    /// The keys held were read longer than the key cache TTL ago and no read has succeeded
    /// since (it failed, or is still under way): a rotation may have retired them, so none is
    /// used.
    #[error("no signing key available: the keys were last read {age}s ago, longer than the key cache TTL ({max_age}s): they may have been retired, so no cookie is minted until Secrets Manager can be read again")]
    MayBeRetired {
        /// Seconds since the last successful read.
        age: i64,
        /// The key cache TTL.
        max_age: i64,
    },
    /// The secret holds no key (before the first rotation), or none was ever read.
    #[error("no signing key available: the secret holds no key yet (run the first rotation)")]
    NoKeyYet,
    /// Neither the current key nor its predecessor has reached its `active_from`: edges may not
    /// trust either yet. Two things leave the secret so: `cfcookie revoke` of a current key that
    /// was not active yet (its emergency rotation makes the revoked key the predecessor; its
    /// report names this time as the cost), and a second rotation within P of the very first
    /// (the first-deploy window, in which the first key's cookies would be refused anyway).
    #[error("no signing key available: neither the current key nor its predecessor is active yet (CloudFront edges may not trust them for another {active_in}s: a current key was revoked before it became active, or two rotations came within the activation delay of the first), so no cookie is minted until then")]
    NotYetActive {
        /// Seconds until the first of them becomes active.
        active_in: i64,
    },
}

/// Why signing keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLoadError {
    /// A key file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A private key does not parse (or its passphrase is wrong).
    #[error("{what}: {source}")]
    Key {
        /// The key id or file.
        what: String,
        /// Why.
        source: cfcookie_signer::KeyError,
    },
    /// The key id is not one CloudFront could have given.
    #[error(transparent)]
    KeyId(#[from] cfcookie_signer::SignError),
    /// Reading the secret failed (Secrets Manager's error).
    #[error(transparent)]
    Service(#[from] cfcookie_secret::ServiceError),
    /// A secret version claims the `cfcookie/1` format but is broken.
    #[error("{label}: {why}")]
    Format {
        /// The staging label or version read.
        label: String,
        /// What is wrong.
        why: String,
    },
    /// Another reader's failure (the dev key ring's directory, a test's).
    #[error("{0}")]
    Reader(String),
}

/// A read of the keys a request waits for ([`KeySource::catch_up`]).
pub type CatchUp<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// How long a request waits for [`KeySource::catch_up`]'s read before it answers without it
/// (a 503 when its keys are too old): Secrets Manager answers in tens of milliseconds, and
/// during an outage a request should not hang on the SDK's retries.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// A source of the signer to use at a given time.
pub trait KeySource: Send + Sync {
    /// The signer for a request at `now` (epoch seconds).
    fn signer(&self, now: i64) -> Result<Arc<Signer>, KeyUnavailable>;
    /// Before [`Self::signer`]: when the keys held are too old to sign with, a read of them to
    /// wait for (shared by concurrent requests, bounded in time); `None` when they are fresh,
    /// which is the rule while the background refresh runs. `now` must come from the clock the
    /// source stamps its reads with.
    fn catch_up(&self, now: i64) -> Option<CatchUp<'_>> {
        let _ = now;
        None
    }
    /// The public keys CloudFront's key group holds for these keys (for local verification).
    fn key_group(&self) -> KeyGroup;
}

/// One fixed key (`CFCOOKIE_KEY_FILE` + `CFCOOKIE_KEY_PAIR_ID`).
#[derive(Debug, Clone)]
pub struct StaticKeySource {
    signer: Arc<Signer>,
}

impl StaticKeySource {
    /// From a signer.
    pub fn new(signer: Signer) -> Self {
        StaticKeySource {
            signer: Arc::new(signer),
        }
    }

    /// From a PEM file (encrypted PKCS#8 takes `passphrase`) and its CloudFront key id.
    pub fn from_file(
        path: &std::path::Path,
        key_pair_id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<Self, KeyLoadError> {
        let pem = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            KeyLoadError::Read {
                path: path.to_owned(),
                source,
            }
        })?);
        let key = PrivateKey::from_pem(&pem, passphrase).map_err(|source| KeyLoadError::Key {
            what: path.display().to_string(),
            source,
        })?;
        let signer = Signer::new(key_pair_id, Arc::new(key))?;
        Ok(StaticKeySource::new(signer))
    }
}

impl KeySource for StaticKeySource {
    fn signer(&self, _now: i64) -> Result<Arc<Signer>, KeyUnavailable> {
        Ok(self.signer.clone())
    }
    fn key_group(&self) -> KeyGroup {
        let mut g = KeyGroup::new();
        g.insert(
            self.signer.key_pair_id(),
            self.signer.key().public_key().clone(),
        );
        g
    }
}

/// A parsed version: its signer and when it may sign.
#[derive(Debug, Clone)]
struct Entry {
    signer: Arc<Signer>,
    active_from: i64,
}

#[derive(Debug, Default)]
struct Loaded {
    current: Option<Entry>,
    previous: Option<Entry>,
}

/// Reads the current and previous key (Secrets Manager, or the dev key ring directory).
pub trait SecretReader: Send + Sync {
    /// AWSCURRENT and AWSPREVIOUS values, `None` for a version that is absent or not ours.
    fn read(
        &self,
    ) -> impl std::future::Future<
        Output = Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError>,
    > + Send;
}

/// Reads a Secrets Manager secret through the rotator's [`SecretStore`] port.
#[derive(Debug, Clone)]
pub struct SecretsManagerReader<S> {
    store: S,
    secret_id: String,
}

impl<S: SecretStore> SecretsManagerReader<S> {
    /// Reads `secret_id` through `store`.
    pub fn new(store: S, secret_id: impl Into<String>) -> Self {
        SecretsManagerReader {
            store,
            secret_id: secret_id.into(),
        }
    }

    async fn one(&self, label: &str) -> Result<Option<SecretValue>, KeyLoadError> {
        let text = self
            .store
            .get_value(&self.secret_id, VersionRef::Stage(label))
            .await?;
        match text {
            None => Ok(None),
            Some(t) => SecretValue::parse(&t).map_err(|why| KeyLoadError::Format {
                label: label.to_owned(),
                why,
            }),
        }
    }
}

impl<S: SecretStore> SecretReader for SecretsManagerReader<S> {
    async fn read(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError> {
        Ok((
            self.one(stage::CURRENT).await?,
            self.one(stage::PREVIOUS).await?,
        ))
    }
}

/// Keys from a secret in the `cfcookie/1` format, cached and refreshed in the background.
#[derive(Debug)]
pub struct SecretKeySource<R> {
    reader: R,
    loaded: RwLock<Loaded>,
    /// When the last refresh succeeded (epoch seconds; `i64::MIN` before the first).
    last_ok: AtomicI64,
    /// How old the loaded view may be before it may hold retired keys (0: no limit).
    max_age: AtomicI64,
    /// When the last failed read ended (epoch seconds): requests that waited for it do not
    /// read again in that second.
    last_failed: AtomicI64,
    /// One read at a time, background or a request's: a request that finds a read under way
    /// waits for it instead of starting another.
    reading: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
}

fn entry(value: &SecretValue, previous: Option<&Entry>) -> Result<Entry, KeyLoadError> {
    // Re-parse a key only when it changed: parsing is the expensive part.
    if let Some(p) = previous.filter(|p| p.signer.key_pair_id() == value.key_id) {
        return Ok(Entry {
            signer: p.signer.clone(),
            active_from: value.active_from.timestamp(),
        });
    }
    let key =
        PrivateKey::from_pem(&value.private_key_pem, None).map_err(|source| KeyLoadError::Key {
            what: format!("key {}", value.key_id),
            source,
        })?;
    let signer = Signer::new(value.key_id.clone(), Arc::new(key))?;
    Ok(Entry {
        signer: Arc::new(signer),
        active_from: value.active_from.timestamp(),
    })
}

impl<R: SecretReader> SecretKeySource<R> {
    /// A source that has loaded nothing yet (call [`Self::refresh`]).
    pub fn new(reader: R) -> Self {
        SecretKeySource {
            reader,
            loaded: RwLock::new(Loaded::default()),
            last_ok: AtomicI64::new(i64::MIN),
            max_age: AtomicI64::new(0),
            last_failed: AtomicI64::new(i64::MIN),
            reading: tokio::sync::Mutex::new(()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads time from `clock` instead of the system clock (a read's time, the key-age metric).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Refuses to sign from a view older than `secs` (the key cache TTL the rotator counts
    /// on); [`Self::spawn_refresh`] sets it to its TTL.
    pub fn set_max_age(&self, secs: i64) {
        self.max_age.store(secs.max(0), Ordering::SeqCst);
    }

    /// Reads the secret again. On failure the keys loaded before stay in use, for up to the
    /// max age.
    pub async fn refresh(&self) -> Result<(), KeyLoadError> {
        let _one = self.reading.lock().await;
        self.read_now().await
    }

    /// One read, under `reading`. A view is stamped with the time its read started, so its
    /// age is never undercounted.
    async fn read_now(&self) -> Result<(), KeyLoadError> {
        let result = self.load(self.clock.epoch()).await;
        if result.is_err() {
            self.last_failed.store(self.clock.epoch(), Ordering::SeqCst);
        }
        result
    }

    /// Whether a request should wait for a read before signing: the view is too old (or none
    /// was loaded) and no read failed in the second `now` or after it.
    fn read_due(&self, now: i64) -> bool {
        let unloaded = self.last_ok.load(Ordering::SeqCst) == i64::MIN;
        (unloaded || self.too_old(now).is_some()) && self.last_failed.load(Ordering::SeqCst) < now
    }

    /// Whether the view is older than the max age (a loaded one: before the first read the
    /// source has nothing to sign with, which `signer` says).
    fn too_old(&self, now: i64) -> Option<i64> {
        let max_age = self.max_age.load(Ordering::SeqCst);
        let last_ok = self.last_ok.load(Ordering::SeqCst);
        let age = now.saturating_sub(last_ok);
        (max_age > 0 && last_ok != i64::MIN && age > max_age).then_some(age)
    }

    async fn load(&self, now: i64) -> Result<(), KeyLoadError> {
        let (current, previous) = self.reader.read().await?;
        let (old_current, old_previous) = {
            let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            (l.current.clone(), l.previous.clone())
        };
        let find = |id: &str| {
            [&old_current, &old_previous]
                .into_iter()
                .flatten()
                .find(|e| e.signer.key_pair_id() == id)
                .cloned()
        };
        let current = current
            .as_ref()
            .map(|v| entry(v, find(&v.key_id).as_ref()))
            .transpose()?;
        let previous = previous
            .as_ref()
            .map(|v| entry(v, find(&v.key_id).as_ref()))
            .transpose()?;
        let changed = current.as_ref().map(|e| e.signer.key_pair_id().to_owned())
            != old_current
                .as_ref()
                .map(|e| e.signer.key_pair_id().to_owned());
        if changed {
            info!(
                current = current.as_ref().map(|e| e.signer.key_pair_id()),
                previous = previous.as_ref().map(|e| e.signer.key_pair_id()),
                "signing keys loaded"
            );
        }
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Loaded { current, previous };
        self.last_ok.store(now, Ordering::SeqCst);
        Ok(())
    }

    /// The current (AWSCURRENT) key's id and `active_from`, when one is loaded.
    pub fn current_key(&self) -> Option<(String, i64)> {
        let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        l.current
            .as_ref()
            .map(|e| (e.signer.key_pair_id().to_owned(), e.active_from))
    }

    /// Refreshes twice per `ttl` until the process ends, logging (not failing) on errors; one
    /// failed read leaves the view younger than `ttl`, two in a row make the source refuse.
    pub fn spawn_refresh(self: &Arc<Self>, ttl: Duration) -> tokio::task::JoinHandle<()>
    where
        R: 'static,
    {
        // Whole seconds, at least one: a max age of 0 would turn the age check off.
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        self.set_max_age(i64::try_from(secs.max(1)).unwrap_or(i64::MAX));
        let me = Arc::clone(self);
        let period = (ttl / 2).max(Duration::from_millis(500));
        tokio::spawn(async move {
            // Counted from the start-up read, which the caller has just made.
            let mut last_ok = std::time::Instant::now();
            loop {
                tokio::time::sleep(period).await;
                let result = me.refresh().await;
                if let Err(e) = &result {
                    warn!(error = %e, "key refresh failed; still signing with the keys loaded before");
                } else {
                    last_ok = std::time::Instant::now();
                }
                let now = me.clock.epoch();
                crate::metrics::key_refresh(
                    result.is_ok(),
                    last_ok.elapsed().as_secs_f64(),
                    me.active_since(now).map(|since| (now - since) as f64),
                );
            }
        })
    }

    /// When the key that signs at `now` became active (epoch seconds), for the key-age metric.
    pub fn active_since(&self, now: i64) -> Option<i64> {
        let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        match (&l.current, &l.previous) {
            (Some(c), _) if c.active_from <= now => Some(c.active_from),
            (Some(_), Some(p)) if p.active_from <= now => Some(p.active_from),
            (Some(_), Some(_)) => None,
            (Some(c), None) => Some(c.active_from),
            (None, _) => None,
        }
    }
}

impl<R: SecretReader> KeySource for SecretKeySource<R> {
    fn signer(&self, now: i64) -> Result<Arc<Signer>, KeyUnavailable> {
        if let Some(age) = self.too_old(now) {
            return Err(KeyUnavailable::MayBeRetired {
                age,
                max_age: self.max_age.load(Ordering::SeqCst),
            });
        }
        let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        match (&l.current, &l.previous) {
            (Some(c), _) if c.active_from <= now => Ok(c.signer.clone()),
            // Before the new key's activation the edges may not trust it yet.
            (Some(_), Some(p)) if p.active_from <= now => Ok(p.signer.clone()),
            // Nor its predecessor: a cookie either signs would be refused where an edge has
            // not caught up.
            (Some(c), Some(p)) => Err(KeyUnavailable::NotYetActive {
                active_in: c.active_from.min(p.active_from) - now,
            }),
            // The very first key has no predecessor to fall back on.
            (Some(c), None) => Ok(c.signer.clone()),
            (None, _) => Err(KeyUnavailable::NoKeyYet),
        }
    }

    fn catch_up(&self, now: i64) -> Option<CatchUp<'_>> {
        if !self.read_due(now) {
            return None;
        }
        Some(Box::pin(async move {
            let read = async {
                let _one = self.reading.lock().await;
                // The read this request waited behind (the refresh timer's, another
                // request's) may have brought the keys, or failed in this second.
                if self.read_due(now) {
                    if let Err(e) = self.read_now().await {
                        warn!(error = %e, "reading the keys again before signing failed");
                    }
                }
            };
            if tokio::time::timeout(CATCH_UP_WAIT, read).await.is_err() {
                warn!("reading the keys again before signing took too long; answering without it");
            }
        }))
    }

    fn key_group(&self) -> KeyGroup {
        let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        let mut g = KeyGroup::new();
        for e in [&l.current, &l.previous].into_iter().flatten() {
            g.insert(e.signer.key_pair_id(), e.signer.key().public_key().clone());
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use cfcookie_secret::FORMAT;
    use cfcookie_signer::KeyAlgorithm;

    use super::*;

    /// A secret holding one key, whose reads fail on demand.
    struct Flaky {
        value: SecretValue,
        failing: AtomicBool,
    }

    impl SecretReader for Arc<Flaky> {
        async fn read(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(KeyLoadError::Reader("Secrets Manager unreachable".into()));
            }
            Ok((Some(self.value.clone()), None))
        }
    }

    #[tokio::test]
    async fn a_view_older_than_the_ttl_while_reads_fail_is_refused_with_the_reason() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let flaky = Arc::new(Flaky {
            value: SecretValue {
                format: FORMAT.into(),
                key_id: "K1".into(),
                algorithm: "ECDSA_P256".into(),
                private_key_pem: key.to_pkcs8_pem().expect("pem").to_string(),
                public_key_pem: key.public_key().to_pem(),
                created_at: t0,
                active_from: t0,
            },
            failing: AtomicBool::new(false),
        });
        let clock = cfcookie_secret::clock::FixedClock::new(t0);
        let source = SecretKeySource::new(flaky.clone()).with_clock(Arc::new(clock.clone()));
        source.set_max_age(300);
        let t = t0.timestamp();
        source.refresh().await.expect("first read");
        assert!(
            source.catch_up(t + 300).is_none(),
            "a fresh view needs no read"
        );
        flaky.failing.store(true, Ordering::SeqCst);
        clock.advance(chrono::Duration::seconds(100));
        assert!(source.refresh().await.is_err());
        assert!(
            source.signer(t + 300).is_ok(),
            "within the TTL the old view still signs"
        );
        let refused = source.signer(t + 301).expect_err("stale");
        assert_eq!(
            refused,
            KeyUnavailable::MayBeRetired {
                age: 301,
                max_age: 300
            }
        );
        assert!(refused.to_string().contains("may have been retired"));
        // A request's catch-up read fails too: still refused, and no second read this second.
        clock.advance(chrono::Duration::seconds(201));
        source.catch_up(t + 301).expect("a read is due").await;
        assert!(source.signer(t + 301).is_err());
        assert!(source.catch_up(t + 301).is_none(), "one read a second");
        flaky.failing.store(false, Ordering::SeqCst);
        clock.advance(chrono::Duration::seconds(99));
        source.refresh().await.expect("reads work again");
        assert_eq!(source.signer(t + 400).expect("fresh").key_pair_id(), "K1");
    }

    /// Lambda freezes an idle environment and may keep it for hours: on thaw, the keys held
    /// are older than TTL though no read failed, and may have been retired meanwhile. They are
    /// not signed with; the request's catch-up read brings the keys the secret holds now.
    #[tokio::test]
    async fn a_view_aged_by_a_freeze_is_read_again_before_signing() {
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let value = |id: &str| secret_value(id, t0);
        let clock = cfcookie_secret::clock::FixedClock::new(t0);
        let source = SecretKeySource::new(Swap(std::sync::Mutex::new(value("K1"))))
            .with_clock(Arc::new(clock.clone()));
        source.set_max_age(300);
        source.refresh().await.expect("first read");
        // Frozen for two days; two rotations retired K1 meanwhile.
        *source.reader.0.lock().expect("lock") = value("K3");
        clock.advance(chrono::Duration::days(2));
        let now = t0.timestamp() + 2 * 86_400;
        assert!(
            matches!(source.signer(now), Err(KeyUnavailable::MayBeRetired { .. })),
            "the thawed view is not signed with"
        );
        source.catch_up(now).expect("a read is due").await;
        assert_eq!(source.signer(now).expect("fresh").key_pair_id(), "K3");
    }

    /// The refresh timer fires at once on thaw and may run first: a request behind its read
    /// waits for it and signs with what it brought, without a second read.
    #[tokio::test]
    async fn a_request_behind_the_timers_read_waits_for_it_and_reads_no_second_time() {
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let clock = cfcookie_secret::clock::FixedClock::new(t0);
        let gated = Arc::new(Gated {
            value: std::sync::Mutex::new(secret_value("K1", t0)),
            open: tokio::sync::Notify::new(),
            gate: AtomicBool::new(false),
            reads: std::sync::atomic::AtomicUsize::new(0),
        });
        let source = SecretKeySource::new(gated.clone()).with_clock(Arc::new(clock.clone()));
        source.set_max_age(300);
        source.refresh().await.expect("first read");
        *gated.value.lock().expect("lock") = secret_value("K2", t0);
        gated.gate.store(true, Ordering::SeqCst);
        clock.advance(chrono::Duration::seconds(1000));
        let now = t0.timestamp() + 1000;
        // The timer's read starts first (join! polls in order); the request comes while it
        // waits on Secrets Manager.
        let request = async {
            if let Some(read) = source.catch_up(now) {
                read.await;
            }
            source.signer(now).map(|s| s.key_pair_id().to_owned())
        };
        let (timer, signed, ()) = tokio::join!(source.refresh(), request, async {
            tokio::task::yield_now().await;
            gated.open.notify_one();
        });
        timer.expect("the timer's read");
        assert_eq!(
            signed.as_deref(),
            Ok("K2"),
            "the request waited for the timer's read"
        );
        assert_eq!(
            gated.reads.load(Ordering::SeqCst),
            2,
            "start-up and the timer's"
        );
    }

    /// A source whose start-up read failed signs with nothing: a request reads.
    #[tokio::test]
    async fn a_source_that_never_loaded_reads_for_a_request() {
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let clock = cfcookie_secret::clock::FixedClock::new(t0);
        let source = SecretKeySource::new(Swap(std::sync::Mutex::new(secret_value("K1", t0))))
            .with_clock(Arc::new(clock.clone()));
        let now = t0.timestamp();
        assert_eq!(source.signer(now).err(), Some(KeyUnavailable::NoKeyYet));
        source.catch_up(now).expect("a read is due").await;
        assert_eq!(source.signer(now).expect("loaded").key_pair_id(), "K1");
        assert!(source.catch_up(now).is_none());
    }

    fn secret_value(id: &str, at: chrono::DateTime<chrono::Utc>) -> SecretValue {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
        SecretValue {
            format: FORMAT.into(),
            key_id: id.into(),
            algorithm: "ECDSA_P256".into(),
            private_key_pem: key.to_pkcs8_pem().expect("pem").to_string(),
            public_key_pem: key.public_key().to_pem(),
            created_at: at,
            active_from: at,
        }
    }

    /// A secret whose reads wait for a signal while gated, and are counted.
    struct Gated {
        value: std::sync::Mutex<SecretValue>,
        open: tokio::sync::Notify,
        gate: AtomicBool,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl SecretReader for Arc<Gated> {
        async fn read(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError> {
            if self.gate.load(Ordering::SeqCst) {
                self.open.notified().await;
            }
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok((Some(self.value.lock().expect("lock").clone()), None))
        }
    }

    /// `cfcookie revoke` of a current key before its `active_from`: the emergency rotation makes
    /// a new current key and the revoked one its predecessor, neither active yet. Signing with
    /// the predecessor then (as the source did whenever the current key was not active) mints
    /// cookies that edges which have not caught up refuse; the source refuses instead, with the
    /// time to wait, until the first of them is active.
    #[tokio::test]
    async fn neither_key_active_yet_is_refused_until_the_first_is() {
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut previous = secret_value("K1", at(600));
        previous.created_at = t0;
        let mut current = secret_value("K2", at(900));
        current.created_at = at(10);
        let source = SecretKeySource::new(Pair(current, previous))
            .with_clock(Arc::new(cfcookie_secret::clock::FixedClock::new(at(10))));
        source.set_max_age(3600);
        source.refresh().await.expect("read");
        let t = t0.timestamp();
        assert_eq!(
            source.signer(t + 20).expect_err("neither is active"),
            KeyUnavailable::NotYetActive { active_in: 580 }
        );
        assert_eq!(source.active_since(t + 20), None);
        assert_eq!(
            source.signer(t + 600).expect("K1 active").key_pair_id(),
            "K1"
        );
        assert_eq!(
            source.signer(t + 900).expect("K2 active").key_pair_id(),
            "K2"
        );
    }

    struct Pair(SecretValue, SecretValue);

    impl SecretReader for Pair {
        async fn read(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError> {
            Ok((Some(self.0.clone()), Some(self.1.clone())))
        }
    }

    /// A secret whose AWSCURRENT value can be replaced.
    struct Swap(std::sync::Mutex<SecretValue>);

    impl SecretReader for Swap {
        async fn read(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), KeyLoadError> {
            Ok((Some(self.0.lock().expect("lock").clone()), None))
        }
    }
}
