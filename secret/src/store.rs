//! The Secrets Manager port: what reading and writing `cfcookie/1` versions needs, and the
//! errors every AWS port maps to.

use std::future::Future;

use zeroize::Zeroizing;

use crate::format::{SecretDescription, VersionRef};

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
