//! Rotation errors, each with a stable `error_type` for the Lambda diagnostic.

use crate::ports::ServiceError;

/// Why a rotation step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// The secret's rotation is turned off (the Lambda refuses to run).
    #[error("rotation is not enabled on secret {0}")]
    NotEnabled(String),
    /// The token names no version of the secret.
    #[error("token {token} is not a version of secret {secret}")]
    TokenNotAVersion {
        /// The token.
        token: String,
        /// The secret.
        secret: String,
    },
    /// The token's version is neither AWSCURRENT nor AWSPENDING.
    #[error("version {0} is not AWSPENDING; refusing to rotate it")]
    NotPending(String),
    /// setSecret/testSecret/finishSecret found no pending key: createSecret has not run.
    #[error("version {0} has no key yet: createSecret has not completed for it")]
    PendingMissing(String),
    /// Another version is AWSPENDING: a rotation is already in progress.
    #[error("rotation already in progress: version {0} is AWSPENDING (resume it with `cfcookie rotate --resume`, or see docs/rotation.md)")]
    InProgress(String),
    /// A stored value claims our format but is broken.
    #[error("secret version {version}: {why}")]
    BadSecretValue {
        /// Version id or label.
        version: String,
        /// What is wrong.
        why: String,
    },
    /// The configured key group does not exist.
    #[error("key group {0} does not exist (check CFCOOKIE_KEY_GROUP_ID)")]
    KeyGroupNotFound(String),
    /// testSecret: the pending key and CloudFront's copy disagree, or CloudFront lacks it.
    #[error("key {key_id} fails its test: {why}")]
    KeyMismatch {
        /// CloudFront key id.
        key_id: String,
        /// What failed.
        why: String,
    },
    /// setSecret: the pending version's public key left the key group since createSecret put
    /// it there (a concurrent rotation retired it, or someone took it out or deleted it). Its key
    /// was deleted and AWSPENDING removed from the version, which can never finish; the next
    /// rotation starts afresh.
    #[error("version {token} names key {key_id}, which has left the key group since createSecret put it there (a concurrent rotation retired it, or someone took it out): the key was deleted and AWSPENDING removed from that version, so the next rotation starts afresh")]
    Abandoned {
        /// The abandoned version.
        token: String,
        /// Its key, gone.
        key_id: String,
    },
    /// The canary URL kept answering 403 with pending-key cookies.
    #[error("canary {url} still refused cookies signed by {key_id} (last status {status})")]
    Canary {
        /// URL fetched.
        url: String,
        /// Key under test.
        key_id: String,
        /// Last status or error.
        status: String,
    },
    /// The rotation schedule would retire a key while cookies it signed are still valid.
    #[error("the rotation schedule allows two rotations {interval}s apart (period minus rotation window), less than activation delay + signer cache TTL + cookie lifetime ({needed}s): scheduled rotations would be refused as too soon; lengthen the period or shorten the window")]
    IntervalTooShort {
        /// Configured interval.
        interval: i64,
        /// Minimum safe interval.
        needed: i64,
    },
    /// The rotation rules cannot be bounded, so the interval guard cannot tell whether two
    /// scheduled rotations could come too close: it fails closed.
    #[error("the rotation schedule cannot be read ({0}), so it is unknown whether two scheduled rotations could come closer than activation delay + signer cache TTL + cookie lifetime; use rate(N days) or a cron() expression as Secrets Manager documents it")]
    ScheduleUnreadable(String),
    /// Retiring a key now would break S2 (retired after use): a signer may still sign with it,
    /// or a cookie it signed is still valid. Or the current key is not active yet (after
    /// `revoke`), and a rotation now would leave signers no active key. Retryable: nothing
    /// changed, and the same rotation succeeds from `safe_at` on.
    #[error("too soon: key {key_id} may still be signing or hold valid cookies, or is not active yet, until {safe_at}; retry this rotation after that (`cfcookie status` shows it; a leaked key goes with `cfcookie revoke`)")]
    TooSoon {
        /// The key that would leave the key group, or the current key that is not active yet.
        key_id: String,
        /// The first instant at which the rotation may go on.
        safe_at: chrono::DateTime<chrono::Utc>,
    },
    /// CreatePublicKey refused: the account holds its maximum of public keys
    /// (TooManyPublicKeys), even after this stack's orphans were swept.
    #[error("the account holds its maximum of CloudFront public keys ({0}); this stack's orphans were already swept: delete unused public keys of other stacks or ask for a higher quota")]
    TooManyPublicKeys(String),
    /// CreatePublicKey refused: a public key with this name exists (PublicKeyAlreadyExists),
    /// made moments ago by another run of createSecret for the same version. Retryable.
    #[error("a public key named {0} already exists and was made moments ago by a concurrent createSecret for the same version; retry")]
    KeyNameTaken(String),
    /// Kept losing If-Match races on the key group.
    #[error("key group {0} kept changing under us (PreconditionFailed after retries)")]
    Conflict(String),
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// Key handling failed.
    #[error(transparent)]
    Key(#[from] cfcookie_signer::KeyError),
    /// An AWS call failed.
    #[error("{0}")]
    Service(#[from] ServiceError),
}

impl RotationError {
    /// Stable machine-readable type (the Lambda's `errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            RotationError::NotEnabled(_) => "Rotation.NotEnabled",
            RotationError::TokenNotAVersion { .. } => "Rotation.TokenNotAVersion",
            RotationError::NotPending(_) => "Rotation.NotPending",
            RotationError::PendingMissing(_) => "Rotation.PendingMissing",
            RotationError::InProgress(_) => "Rotation.InProgress",
            RotationError::BadSecretValue { .. } => "Rotation.BadSecretValue",
            RotationError::KeyGroupNotFound(_) => "Rotation.KeyGroupNotFound",
            RotationError::KeyMismatch { .. } => "Rotation.KeyMismatch",
            RotationError::Abandoned { .. } => "Rotation.Abandoned",
            RotationError::Canary { .. } => "Rotation.CanaryFailed",
            RotationError::IntervalTooShort { .. } => "Rotation.IntervalTooShort",
            RotationError::ScheduleUnreadable(_) => "Rotation.ScheduleUnreadable",
            RotationError::TooSoon { .. } => "Rotation.TooSoon",
            RotationError::TooManyPublicKeys(_) => "Rotation.TooManyPublicKeys",
            RotationError::KeyNameTaken(_) => "Rotation.KeyNameTaken",
            RotationError::Conflict(_) => "Rotation.Conflict",
            RotationError::Config(_) => "Rotation.Config",
            RotationError::Key(_) => "Rotation.Key",
            RotationError::Service(_) => "Rotation.Service",
        }
    }
}
