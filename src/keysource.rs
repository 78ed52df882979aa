//! Where the endpoint (and backend services) get the key to sign with.
//!
//! [`SecretKeySource`] reads the secret's AWSCURRENT and AWSPREVIOUS versions, signs with
//! AWSCURRENT once its `active_from` has passed and with AWSPREVIOUS before that, refreshes in
//! the background every TTL (no request waits on Secrets Manager after start-up), and keeps the
//! last good keys when a refresh fails. [`StaticKeySource`] is one key from a file.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use cfcookie_rotator::model::{stage, SecretValue, VersionRef};
use cfcookie_rotator::ports::SecretStore;
use cfcookie_signer::{KeyGroup, PrivateKey, Signer};
use tracing::{info, warn};

/// No key can sign right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no signing key available: {0}")]
pub struct KeyUnavailable(pub String);

/// A source of the signer to use at a given time.
pub trait KeySource: Send + Sync {
    /// The signer for a request at `now` (epoch seconds).
    fn signer(&self, now: i64) -> Result<Arc<Signer>, KeyUnavailable>;
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
    ) -> Result<Self, String> {
        let pem = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        let key = PrivateKey::from_pem(&pem, passphrase)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let signer = Signer::new(key_pair_id, Arc::new(key)).map_err(|e| e.to_string())?;
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
    ) -> impl std::future::Future<Output = Result<(Option<SecretValue>, Option<SecretValue>), String>>
           + Send;
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

    async fn one(&self, label: &str) -> Result<Option<SecretValue>, String> {
        let text = self
            .store
            .get_value(&self.secret_id, VersionRef::Stage(label))
            .await
            .map_err(|e| e.to_string())?;
        match text {
            None => Ok(None),
            Some(t) => SecretValue::parse(&t).map_err(|why| format!("{label}: {why}")),
        }
    }
}

impl<S: SecretStore> SecretReader for SecretsManagerReader<S> {
    async fn read(&self) -> Result<(Option<SecretValue>, Option<SecretValue>), String> {
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
}

fn entry(value: &SecretValue, previous: Option<&Entry>) -> Result<Entry, String> {
    // Re-parse a key only when it changed: parsing is the expensive part.
    if let Some(p) = previous.filter(|p| p.signer.key_pair_id() == value.key_id) {
        return Ok(Entry {
            signer: p.signer.clone(),
            active_from: value.active_from.timestamp(),
        });
    }
    let key = PrivateKey::from_pem(&value.private_key_pem, None)
        .map_err(|e| format!("key {}: {e}", value.key_id))?;
    let signer = Signer::new(value.key_id.clone(), Arc::new(key)).map_err(|e| e.to_string())?;
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
        }
    }

    /// Reads the secret again. On failure the keys loaded before stay in use.
    pub async fn refresh(&self) -> Result<(), String> {
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
        Ok(())
    }

    /// Refreshes every `ttl` until the process ends, logging (not failing) on errors.
    pub fn spawn_refresh(self: &Arc<Self>, ttl: Duration) -> tokio::task::JoinHandle<()>
    where
        R: 'static,
    {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            // Counted from the start-up read, which the caller has just made.
            let mut last_ok = std::time::Instant::now();
            loop {
                tokio::time::sleep(ttl).await;
                let result = me.refresh().await;
                if let Err(e) = &result {
                    warn!(error = %e, "key refresh failed; still signing with the keys loaded before");
                } else {
                    last_ok = std::time::Instant::now();
                }
                let now = chrono::Utc::now().timestamp();
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
            (Some(_), Some(p)) => Some(p.active_from),
            (Some(c), None) => Some(c.active_from),
            (None, _) => None,
        }
    }
}

impl<R: SecretReader> KeySource for SecretKeySource<R> {
    fn signer(&self, now: i64) -> Result<Arc<Signer>, KeyUnavailable> {
        let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        match (&l.current, &l.previous) {
            (Some(c), _) if c.active_from <= now => Ok(c.signer.clone()),
            // Before the new key's activation the edges may not trust it yet.
            (Some(_), Some(p)) => Ok(p.signer.clone()),
            // The very first key has no predecessor to fall back on.
            (Some(c), None) => Ok(c.signer.clone()),
            (None, _) => Err(KeyUnavailable(
                "the secret holds no key yet (run the first rotation)".into(),
            )),
        }
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
