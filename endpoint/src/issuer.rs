//! Library use: a backend service issues cookies or signed URLs for its users through the same
//! key source as the endpoint (cache, `active_from`, previous key).

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "aws")]
use cfcookie_secret::sdk::{load_aws_config, SdkSecretStore};
use cfcookie_secret::{Clock, SystemClock};
use cfcookie_signer::{CookieAttributes, HashAlgorithm, Policy, PolicyKind, SignedCookies};

use crate::keysource::{KeySource, StaticKeySource};
#[cfg(feature = "aws")]
use crate::keysource::{SecretKeySource, SecretsManagerReader};

/// Why cookies or a URL could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The keys could not be loaded.
    #[error("loading keys: {0}")]
    Keys(#[from] crate::keysource::KeyLoadError),
    /// A setting is invalid (`CFCOOKIE_KEY_CACHE_TTL` for [`Issuer::from_env`]).
    #[error(transparent)]
    Config(#[from] cfcookie_config::ConfigError),
    /// No key can sign now.
    #[error(transparent)]
    Unavailable(#[from] crate::keysource::KeyUnavailable),
    /// The resource, URL or lifetime is unusable.
    #[error(transparent)]
    Sign(#[from] cfcookie_signer::SignError),
}

/// Cookies issued for one user.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedCookies {
    /// The cookies (name, value).
    pub cookies: SignedCookies,
    /// `Set-Cookie` header values, with the issuer's attributes and `Expires`.
    pub set_cookie: Vec<String>,
    /// Expiry, epoch seconds.
    pub expires: i64,
}

/// Issues CloudFront cookies and signed URLs.
#[derive(Clone)]
pub struct Issuer {
    keys: Arc<dyn KeySource>,
    attributes: CookieAttributes,
    hash: HashAlgorithm,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("attributes", &self.attributes)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    #[cfg(feature = "aws")]
    /// Keys from a Secrets Manager secret kept by the rotator, read again in the background
    /// every `refresh` (the endpoint's `CFCOOKIE_KEY_CACHE_TTL`: 300 s unless the stack sets
    /// another; the rotator keeps an old key signing that long). Uses the standard AWS
    /// environment (region, credentials), as every AWS SDK client does.
    pub async fn from_secret(secret_id: &str, refresh: Duration) -> Result<Issuer, IssueError> {
        let aws = load_aws_config().await;
        Issuer::from_secret_with(&aws, secret_id, refresh).await
    }

    #[cfg(feature = "aws")]
    /// As [`Issuer::from_secret`], with the refresh interval from the process's
    /// `CFCOOKIE_KEY_CACHE_TTL` (default 300; a bad value is an error, as in the endpoint and
    /// the rotator), for a backend configured by the same variables as the endpoint. The one
    /// place this crate reads the process environment, and only when called.
    pub async fn from_env(secret_id: &str) -> Result<Issuer, IssueError> {
        let ttl = cfcookie_config::Env::from_process().number(&cfcookie_config::KEY_CACHE_TTL)?;
        Issuer::from_secret(secret_id, Duration::from_secs(ttl)).await
    }

    #[cfg(feature = "aws")]
    /// As [`Issuer::from_secret`], with an explicit AWS configuration and refresh interval.
    pub async fn from_secret_with(
        aws: &aws_config::SdkConfig,
        secret_id: &str,
        ttl: Duration,
    ) -> Result<Issuer, IssueError> {
        let source = Arc::new(SecretKeySource::new(SecretsManagerReader::new(
            SdkSecretStore::new(aws),
            secret_id,
        )));
        source.refresh().await?;
        source.spawn_refresh(ttl);
        Ok(Issuer::with_source(source))
    }

    /// One key from a PEM file and its CloudFront key id.
    pub fn from_key_file(
        path: impl AsRef<std::path::Path>,
        key_pair_id: &str,
    ) -> Result<Issuer, IssueError> {
        let source = StaticKeySource::from_file(path.as_ref(), key_pair_id, None)?;
        Ok(Issuer::with_source(Arc::new(source)))
    }

    /// Any key source.
    pub fn with_source(keys: Arc<dyn KeySource>) -> Issuer {
        Issuer {
            keys,
            attributes: CookieAttributes::default(),
            hash: HashAlgorithm::Sha1,
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads "now" from `clock` instead of the system clock (expiry times, key activation).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Issuer {
        self.clock = clock;
        self
    }

    /// Cookie attributes (Domain, Path, SameSite…). `Expires` is set per issue.
    #[must_use]
    pub fn cookie_attributes(mut self, attributes: CookieAttributes) -> Issuer {
        self.attributes = attributes;
        self
    }

    /// Signs with SHA-256 instead of SHA-1.
    #[must_use]
    pub fn hash(mut self, hash: HashAlgorithm) -> Issuer {
        self.hash = hash;
        self
    }

    /// Reads the keys again when they are older than the key cache TTL: call it before
    /// issuing in a process that may have stood still (a Lambda environment thawed after a
    /// long idle spell), or the issue that follows may be refused as
    /// [`KeyUnavailable::MayBeRetired`](crate::KeyUnavailable::MayBeRetired) until the
    /// background refresh has run. Cheap when the keys are fresh. The issuer's clock must be
    /// the key source's (both are the system clock unless set).
    pub async fn catch_up(&self) {
        if let Some(read) = self.keys.catch_up(self.clock.epoch()) {
            read.await;
        }
    }

    fn signer(&self, now: i64) -> Result<cfcookie_signer::Signer, IssueError> {
        Ok((*self.keys.signer(now)?).clone().with_hash(self.hash))
    }

    /// Cookies for `resource` (wildcards allowed, e.g. `https://media.example.com/users/42/*`)
    /// valid for `lifetime` from now.
    pub fn cookies(&self, resource: &str, lifetime: Duration) -> Result<IssuedCookies, IssueError> {
        let now = self.clock.epoch();
        let expires = now + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX - now);
        let cookies = self
            .signer(now)?
            .cookies_as(&Policy::new(resource, expires), PolicyKind::Custom)?;
        let attrs = self.attributes.clone().with_expires(expires);
        Ok(IssuedCookies {
            set_cookie: cookies.set_cookie_headers(&attrs),
            cookies,
            expires,
        })
    }

    /// A signed URL for `url`, valid for `lifetime` from now (canned policy).
    pub fn signed_url(&self, url: &str, lifetime: Duration) -> Result<String, IssueError> {
        let now = self.clock.epoch();
        let expires = now + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX - now);
        let exact = cfcookie_signer::browser_url(url)?;
        Ok(self
            .signer(now)?
            .signed_url(url, &Policy::new(exact, expires))?)
    }
}
