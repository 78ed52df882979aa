//! The secret value format, `cfcookie/1`: one JSON object per Secrets Manager version, holding a
//! key pair and the CloudFront id of its public key. The rotator writes it; signers read it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Staging labels.
pub mod stage {
    /// The version signers use.
    pub const CURRENT: &str = "AWSCURRENT";
    /// The version being rotated in.
    pub const PENDING: &str = "AWSPENDING";
    /// The version before the current one.
    pub const PREVIOUS: &str = "AWSPREVIOUS";
}

/// The `format` field of a secret value this project wrote.
pub const FORMAT: &str = "cfcookie/1";

/// One Secrets Manager version's value: a key pair and the CloudFront id of its public key.
/// The id travels inside the same version as the private key, so a signer can never pair a key
/// with the wrong id.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretValue {
    /// Always [`FORMAT`].
    pub format: String,
    /// CloudFront public key id.
    pub key_id: String,
    /// `RSA_2048` or `ECDSA_P256`.
    pub algorithm: String,
    /// PKCS#8 PEM private key.
    pub private_key_pem: String,
    /// SPKI PEM public key, as uploaded to CloudFront.
    pub public_key_pem: String,
    /// When the key pair was made.
    pub created_at: DateTime<Utc>,
    /// When signers may start using it (creation + activation delay).
    pub active_from: DateTime<Utc>,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("active_from", &self.active_from)
            .finish_non_exhaustive()
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.private_key_pem);
    }
}

impl SecretValue {
    /// Parses a stored value: `Ok(None)` for a value that is not our format (such as the
    /// placeholder infra writes: "no key yet"); a value
    /// that claims our format but is broken is an error (it must not be silently replaced).
    pub fn parse(text: &str) -> Result<Option<SecretValue>, String> {
        // The `format` field first, skipping the rest; then the whole value, straight into
        // its struct. (Not through `serde_json::Value`: that would leave a copy of the private
        // key in memory that nothing zeroizes, and it is three times slower.)
        #[derive(Deserialize)]
        struct Format<'a> {
            #[serde(borrow)]
            format: Option<std::borrow::Cow<'a, str>>,
        }
        match serde_json::from_str::<Format<'_>>(text) {
            Ok(Format { format: Some(f) }) if f == FORMAT => {}
            _ => return Ok(None),
        }
        let value: SecretValue = serde_json::from_str(text)
            .map_err(|e| format!("claims {FORMAT} but does not parse: {e}"))?;
        if value.key_id.is_empty()
            || value.private_key_pem.is_empty()
            || value.public_key_pem.is_empty()
        {
            return Err(format!("claims {FORMAT} but has an empty field"));
        }
        Ok(Some(value))
    }

    /// The JSON stored in Secrets Manager.
    pub fn to_json(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string(self).unwrap_or_default())
    }
}

/// DescribeSecret, reduced to what rotation needs.
#[derive(Debug, Clone, Default)]
pub struct SecretDescription {
    /// Full ARN.
    pub arn: String,
    /// Name.
    pub name: String,
    /// Whether rotation is turned on.
    pub rotation_enabled: bool,
    /// The shortest time the rotation schedule allows between two scheduled rotations (the
    /// period minus the rotation window; see [`crate::min_spacing_secs`]).
    pub rotation_spacing: crate::Spacing,
    /// Version id -> staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
}

impl SecretDescription {
    /// The version holding `label`, if any.
    pub fn version_with(&self, label: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, s)| s.iter().any(|x| x == label))
            .map(|(v, _)| v.as_str())
    }

    /// Whether version `id` holds `label`.
    pub fn has(&self, id: &str, label: &str) -> bool {
        self.versions
            .get(id)
            .is_some_and(|s| s.iter().any(|x| x == label))
    }
}

/// Which version to read.
#[derive(Debug, Clone, Copy)]
pub enum VersionRef<'a> {
    /// By staging label.
    Stage(&'a str),
    /// By version id, which must also hold the label.
    IdAndStage(&'a str, &'a str),
}

/// 16 bytes in the 8-4-4-4-12 hex form of a UUID: a secret version id (a rotation's
/// ClientRequestToken), or a Cognito `sub`.
pub fn uuid_text(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_is_not_ours_and_broken_ours_is_an_error() {
        assert!(matches!(SecretValue::parse("bootstrap"), Ok(None)));
        assert!(matches!(
            SecretValue::parse(r#"{"placeholder":true}"#),
            Ok(None)
        ));
        for other in [
            r#"{"format":"cfcookie/2"}"#,
            r#"{"format":1}"#,
            "[1]",
            r#""x""#,
            "{",
        ] {
            assert!(matches!(SecretValue::parse(other), Ok(None)), "{other}");
        }
        assert!(SecretValue::parse(r#"{"format":"cfcookie/1","key_id":"K1"}"#).is_err());
        assert!(SecretValue::parse(r#"{"key_id":"K1","format":"cfcookie\/1"}"#).is_err());
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let v = SecretValue {
            format: FORMAT.into(),
            key_id: "K1".into(),
            algorithm: "RSA_2048".into(),
            private_key_pem: "-----BEGIN PRIVATE KEY-----SECRET".into(),
            public_key_pem: "pub".into(),
            created_at: Utc::now(),
            active_from: Utc::now(),
        };
        assert!(!format!("{v:?}").contains("SECRET"));
        let json = v.to_json();
        assert!(matches!(SecretValue::parse(&json), Ok(Some(_))));
    }
}
