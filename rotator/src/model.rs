//! What the rotator's ports return: domain types, never SDK output types. The secret value
//! format itself belongs to `cfcookie-secret`, re-exported here.

use chrono::{DateTime, Utc};

pub use cfcookie_secret::{
    min_spacing_secs, stage, uuid_text, SecretDescription, SecretValue, Spacing, VersionRef, FORMAT,
};

/// A CloudFront public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyRecord {
    /// Key id (`K…`).
    pub id: String,
    /// Name.
    pub name: String,
    /// PEM.
    pub encoded_key: String,
    /// Comment.
    pub comment: String,
    /// CreatedTime, when the service reports it.
    pub created_at: Option<DateTime<Utc>>,
}

/// A CloudFront key group with the ETag it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGroupRecord {
    /// Group id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Public key ids.
    pub items: Vec<String>,
    /// Comment.
    pub comment: String,
    /// ETag for If-Match.
    pub etag: String,
    /// LastModifiedTime: when the group last changed, when the service reports it.
    pub last_modified: Option<DateTime<Utc>>,
}
