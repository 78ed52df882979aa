//! The secret value and what the ports return: domain types, never SDK output types.

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
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
            return Ok(None);
        };
        if json.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Ok(None);
        }
        let value: SecretValue = serde_json::from_value(json)
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
    /// period minus the rotation window; see [`min_spacing_secs`]), when it can be known.
    pub rotation_interval_secs: Option<i64>,
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

/// The shortest time a Secrets Manager rotation schedule allows between two scheduled
/// rotations, in seconds; `None` when it cannot be told from the rules (most `cron`s).
///
/// Secrets Manager rotates at any instant inside a rotation window. A `rate()` window starts at
/// midnight UTC (`rate(N days)`) or at each period start (`rate(N hours)`); without a
/// `Duration` it closes after one hour for hours and at the end of the UTC day for days. A
/// rotation at the very end of one window and the next at the very start of the next are
/// therefore `period - window` apart, not `period`. With `AutomaticallyAfterDays` alone the
/// next rotation falls on the day N days after the last one, at any hour of it, so `N - 1`
/// days. DescribeSecret recomputes `AutomaticallyAfterDays` from a schedule expression, so the
/// expression, when there is one, is what counts.
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html>,
/// <https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html>.
pub fn min_spacing_secs(
    days: Option<i64>,
    schedule: Option<&str>,
    duration: Option<&str>,
) -> Option<i64> {
    const DAY: i64 = 86_400;
    let window = duration.and_then(|d| {
        let h: i64 = d.trim().strip_suffix('h')?.trim().parse().ok()?;
        (h > 0).then_some(h * 3_600)
    });
    let Some(expr) = schedule.map(str::trim).filter(|s| !s.is_empty()) else {
        let d = days.filter(|d| *d > 0)?;
        return Some((d - 1) * DAY);
    };
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|e| e.strip_suffix(')')) {
        let (n, unit) = inner.trim().split_once(' ')?;
        let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
        let (period, default_window) = match unit.trim().trim_end_matches('s') {
            "hour" => (n * 3_600, 3_600),
            "day" => (n * DAY, DAY),
            _ => return None,
        };
        return Some((period - window.unwrap_or(default_window)).max(0));
    }
    // cron(minutes hours day-of-month month day-of-week year): only "once a day at H:M".
    let inner = expr.strip_prefix("cron(")?.strip_suffix(')')?;
    let f: Vec<&str> = inner.split_whitespace().collect();
    let [m, h, dom, month, dow, year] = f.as_slice() else {
        return None;
    };
    let (m, h): (i64, i64) = (m.parse().ok()?, h.parse().ok()?);
    let any = |x: &str| x == "*" || x == "?";
    if !(any(dom) && any(month) && any(dow) && any(year)) {
        return None;
    }
    let start = h * 3_600 + m * 60;
    Some((DAY - window.unwrap_or(DAY - start)).max(0))
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
        assert!(SecretValue::parse(r#"{"format":"cfcookie/1","key_id":"K1"}"#).is_err());
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
