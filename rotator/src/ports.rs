//! The narrow capabilities rotation needs. Implementations: `Sdk…` (AWS), `InMemory…` (fakes
//! that refuse what AWS refuses), and [`crate::faults::Faulty`] (crash injection around either).

use std::future::Future;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::model::{KeyGroupRecord, PublicKeyRecord, SecretDescription, VersionRef};

/// An AWS call that failed, mapped to what rotation can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// If-Match was stale (CloudFront PreconditionFailed).
    #[error("precondition failed: the ETag is stale")]
    PreconditionFailed,
    /// The public key is still in a key group (PublicKeyInUse).
    #[error("public key is in use by a key group")]
    InUse,
    /// More than 5 keys in a key group (TooManyPublicKeysInKeyGroup).
    #[error("a key group holds at most 5 public keys")]
    TooManyKeys,
    /// The account holds its maximum of public keys (TooManyPublicKeys).
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The resource exists with other content (ResourceExistsException, PublicKeyAlreadyExists).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A crash injected by a test.
    #[error("injected crash {0}")]
    Injected(String),
    /// Anything else (already retried by the SDK when transient).
    #[error("{operation}: {message}")]
    Other {
        /// AWS operation name.
        operation: &'static str,
        /// Error code and message.
        message: String,
    },
}

/// Result of a port call.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Secrets Manager.
pub trait SecretStore: Send + Sync {
    /// DescribeSecret.
    fn describe(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = ServiceResult<SecretDescription>> + Send;
    /// GetSecretValue; `None` when that version or label has no value.
    fn get_value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> impl Future<Output = ServiceResult<Option<Zeroizing<String>>>> + Send;
    /// PutSecretValue with `token` as the version id and one staging label.
    fn put_value(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
        label: &str,
    ) -> impl Future<Output = ServiceResult<()>> + Send;
    /// UpdateSecretVersionStage.
    fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> impl Future<Output = ServiceResult<()>> + Send;
}

/// CloudFront public keys and key groups.
pub trait KeyRegistry: Send + Sync {
    /// CreatePublicKey; returns the key id.
    fn create_public_key(
        &self,
        name: &str,
        caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> impl Future<Output = ServiceResult<String>> + Send;
    /// ListPublicKeys (all pages).
    fn list_public_keys(&self) -> impl Future<Output = ServiceResult<Vec<PublicKeyRecord>>> + Send;
    /// GetPublicKey with its ETag; `None` when it does not exist.
    fn get_public_key(
        &self,
        id: &str,
    ) -> impl Future<Output = ServiceResult<Option<(PublicKeyRecord, String)>>> + Send;
    /// DeletePublicKey with If-Match.
    fn delete_public_key(
        &self,
        id: &str,
        etag: &str,
    ) -> impl Future<Output = ServiceResult<()>> + Send;
    /// GetKeyGroup; `None` when it does not exist.
    fn get_key_group(
        &self,
        id: &str,
    ) -> impl Future<Output = ServiceResult<Option<KeyGroupRecord>>> + Send;
    /// UpdateKeyGroup with If-Match = `group.etag`; returns the new ETag.
    fn update_key_group(
        &self,
        group: &KeyGroupRecord,
    ) -> impl Future<Output = ServiceResult<String>> + Send;
}

/// SSM Parameter Store.
pub trait ParameterStore: Send + Sync {
    /// GetParameter; `None` when it does not exist.
    fn get(&self, name: &str) -> impl Future<Output = ServiceResult<Option<String>>> + Send;
    /// GetParameter with the parameter's LastModifiedDate; `None` when it does not exist.
    fn get_dated(
        &self,
        name: &str,
    ) -> impl Future<Output = ServiceResult<Option<(String, DateTime<Utc>)>>> + Send;
    /// PutParameter (String, overwrite; creates it when missing).
    fn put(&self, name: &str, value: &str) -> impl Future<Output = ServiceResult<()>> + Send;
}

/// Makes key pairs.
pub trait KeyGenerator: Send + Sync {
    /// A new private key.
    fn generate(&self) -> Result<cfcookie_signer::PrivateKey, cfcookie_signer::KeyError>;
}

/// RSA-2048 from AWS-LC: what CloudFront expects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rsa2048Generator;

impl KeyGenerator for Rsa2048Generator {
    fn generate(&self) -> Result<cfcookie_signer::PrivateKey, cfcookie_signer::KeyError> {
        cfcookie_signer::PrivateKey::generate(cfcookie_signer::KeyAlgorithm::Rsa2048)
    }
}

/// Key pairs of the algorithm `CFCOOKIE_KEY_ALGORITHM` names, from AWS-LC. CloudFront takes
/// RSA-2048 and ECDSA P-256 for signed URLs and cookies; the signer refuses anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsLcKeyGenerator(pub cfcookie_signer::KeyAlgorithm);

impl Default for AwsLcKeyGenerator {
    fn default() -> Self {
        AwsLcKeyGenerator(cfcookie_signer::KeyAlgorithm::Rsa2048)
    }
}

impl KeyGenerator for AwsLcKeyGenerator {
    fn generate(&self) -> Result<cfcookie_signer::PrivateKey, cfcookie_signer::KeyError> {
        cfcookie_signer::PrivateKey::generate(self.0)
    }
}

/// The time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests can move.
#[derive(Debug, Clone)]
pub struct FixedClock(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

impl FixedClock {
    /// Starts at `t`.
    pub fn new(t: DateTime<Utc>) -> FixedClock {
        FixedClock(std::sync::Arc::new(std::sync::Mutex::new(t)))
    }
    /// Moves forward.
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

/// Fetches a URL through the distribution with a Cookie header (the testSecret canary).
pub trait Probe: Send + Sync {
    /// The HTTP status.
    fn fetch(
        &self,
        url: &str,
        cookie_header: &str,
    ) -> impl Future<Output = Result<u16, String>> + Send;
}

/// No canary configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    async fn fetch(&self, _url: &str, _cookie_header: &str) -> Result<u16, String> {
        Err("no canary configured".into())
    }
}

/// A real HTTP GET.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpProbe;

impl Probe for HttpProbe {
    async fn fetch(&self, url: &str, cookie_header: &str) -> Result<u16, String> {
        let (url, cookie) = (url.to_owned(), cookie_header.to_owned());
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(10)))
                .build()
                .into();
            agent
                .get(&url)
                .header("Cookie", &cookie)
                .call()
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
