//! Verification: what CloudFront would decide for a request, with the reason when it refuses.
//!
//! The checks, in order: the signing values are present; the key id is in the key group; the
//! policy decodes and parses (or, for a canned policy, is rebuilt from the request URL as
//! CloudFront does); the signature verifies under the declared hash; the time window; the
//! resource pattern; the viewer address.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use crate::encoding;
use crate::keys::{HashAlgorithm, PublicKey};
use crate::policy::{wildcard_match, Policy};
use crate::sign::{names, PolicyKind};

/// Trusted public keys, by CloudFront key id, like a key group. Keys added with
/// [`KeyGroup::trust_any_id`] are tried for every id (handy when only the PEM is at hand).
#[derive(Debug, Clone, Default)]
pub struct KeyGroup {
    by_id: HashMap<String, PublicKey>,
    any_id: Vec<PublicKey>,
}

impl KeyGroup {
    /// An empty group (it trusts nothing).
    pub fn new() -> KeyGroup {
        KeyGroup::default()
    }

    /// Trusts `key` under `id`.
    pub fn insert(&mut self, id: impl Into<String>, key: PublicKey) {
        self.by_id.insert(id.into(), key);
    }

    /// Trusts `key` whatever key id a request names.
    pub fn trust_any_id(&mut self, key: PublicKey) {
        self.any_id.push(key);
    }

    fn keys_for(&self, id: &str) -> Vec<&PublicKey> {
        self.by_id
            .get(id)
            .into_iter()
            .chain(self.any_id.iter())
            .collect()
    }
}

/// A request as CloudFront sees it: the URL, the time, and (as far as they are known) the
/// `Cookie` header and the viewer's address.
///
/// ```
/// use cfcookie_signer::ViewerRequest;
///
/// let request = ViewerRequest::new("https://d111111abcdef8.cloudfront.net/a.jpg", 1_795_341_600)
///     .with_cookie_header("CloudFront-Expires=1795345200; CloudFront-Signature=x")
///     .with_client_ip("192.0.2.7".parse::<std::net::IpAddr>()?);
/// assert_eq!(request.client_ip(), Some("192.0.2.7".parse()?));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ViewerRequest<'a> {
    url: &'a str,
    cookie_header: Option<&'a str>,
    client_ip: Option<IpAddr>,
    now: i64,
}

impl<'a> ViewerRequest<'a> {
    /// A request for `url` (scheme and host included) at `now` (epoch seconds), with no cookies
    /// and no known address.
    pub fn new(url: &'a str, now: i64) -> ViewerRequest<'a> {
        ViewerRequest {
            url,
            cookie_header: None,
            client_ip: None,
            now,
        }
    }

    /// The request's `Cookie` header (`None`: no header).
    #[must_use]
    pub fn with_cookie_header(mut self, header: impl Into<Option<&'a str>>) -> ViewerRequest<'a> {
        self.cookie_header = header.into();
        self
    }

    /// The viewer's address (`None`: unknown, which an address condition refuses).
    #[must_use]
    pub fn with_client_ip(mut self, ip: impl Into<Option<IpAddr>>) -> ViewerRequest<'a> {
        self.client_ip = ip.into();
        self
    }

    /// The full URL requested.
    pub fn url(&self) -> &'a str {
        self.url
    }

    /// The `Cookie` header, if any.
    pub fn cookie_header(&self) -> Option<&'a str> {
        self.cookie_header
    }

    /// The viewer's address, if known.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// Time of the request, epoch seconds.
    pub fn now(&self) -> i64 {
        self.now
    }
}

/// What was allowed, and by which key and policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    key_pair_id: String,
    policy: Policy,
    kind: PolicyKind,
    hash: HashAlgorithm,
}

impl Grant {
    /// Key id that verified.
    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// The policy in force (for a canned policy, the one rebuilt from the URL and expiry).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Canned or custom.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// Digest of the signature.
    pub fn hash(&self) -> HashAlgorithm {
        self.hash
    }
}

/// Why CloudFront would answer 403.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A required cookie or query parameter is absent (its name).
    Missing(&'static str),
    /// The policy does not decode, parse or make sense.
    MalformedPolicy(String),
    /// The signature does not verify, or does not decode.
    BadSignature(String),
    /// No trusted key has this id.
    UnknownKeyId(String),
    /// `now` is at or after `DateLessThan`.
    Expired {
        /// Policy end.
        date_less_than: i64,
        /// Time of the request.
        now: i64,
    },
    /// `now` is before `DateGreaterThan`.
    NotYetValid {
        /// Policy start.
        date_greater_than: i64,
        /// Time of the request.
        now: i64,
    },
    /// The request URL does not match the policy's resource.
    ResourceMismatch {
        /// Pattern in the policy.
        resource: String,
        /// URL requested.
        url: String,
    },
    /// The viewer address is outside the policy's block (or unknown).
    IpMismatch {
        /// Block in the policy.
        allowed: String,
        /// Viewer address, if known.
        client: Option<IpAddr>,
    },
    /// The hash algorithm declared does not match the signature, or is not one CloudFront knows.
    HashMismatch(String),
}

impl Refusal {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Missing(_) => "missing_cookie",
            Refusal::MalformedPolicy(_) => "malformed_policy",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::UnknownKeyId(_) => "unknown_key_id",
            Refusal::Expired { .. } => "expired",
            Refusal::NotYetValid { .. } => "not_yet_valid",
            Refusal::ResourceMismatch { .. } => "resource_mismatch",
            Refusal::IpMismatch { .. } => "ip_mismatch",
            Refusal::HashMismatch(_) => "hash_mismatch",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Missing(name) => write!(f, "{name} is missing"),
            Refusal::MalformedPolicy(why) => write!(f, "malformed policy: {why}"),
            Refusal::BadSignature(why) => write!(f, "bad signature: {why}"),
            Refusal::UnknownKeyId(id) => write!(f, "key id {id:?} is not in the trusted key group"),
            Refusal::Expired {
                date_less_than,
                now,
            } => write!(f, "expired at {date_less_than} (now {now})"),
            Refusal::NotYetValid {
                date_greater_than,
                now,
            } => write!(f, "not valid before {date_greater_than} (now {now})"),
            Refusal::ResourceMismatch { resource, url } => {
                write!(f, "{url:?} does not match resource {resource:?}")
            }
            Refusal::IpMismatch {
                allowed,
                client: Some(ip),
            } => write!(f, "viewer {ip} is outside {allowed}"),
            Refusal::IpMismatch {
                allowed,
                client: None,
            } => write!(f, "policy requires a viewer in {allowed}; no address given"),
            Refusal::HashMismatch(why) => write!(f, "hash algorithm mismatch: {why}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Checks a request that carries signed cookies, as CloudFront would: the grant, or why
/// CloudFront would answer 403.
///
/// ```
/// use std::sync::Arc;
/// use cfcookie_signer::{verify_cookies, KeyAlgorithm, KeyGroup, Policy, PrivateKey, Signer, ViewerRequest};
///
/// let key = Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256)?);
/// let mut group = KeyGroup::new();
/// group.insert("K2JCJMDEHXQW5F", key.public_key().clone());
/// let signer = Signer::new("K2JCJMDEHXQW5F", key)?;
/// let now = 1_795_341_600;
/// let policy = Policy::new("https://d111111abcdef8.cloudfront.net/photos/*", now + 3600);
/// let header = signer.cookies(&policy)?.cookie_header();
///
/// let inside = ViewerRequest::new("https://d111111abcdef8.cloudfront.net/photos/cat.jpg", now)
///     .with_cookie_header(header.as_str());
/// assert_eq!(verify_cookies(&group, &inside)?.key_pair_id(), "K2JCJMDEHXQW5F");
///
/// let outside = ViewerRequest::new("https://d111111abcdef8.cloudfront.net/videos/a.mp4", now)
///     .with_cookie_header(header.as_str());
/// assert_eq!(verify_cookies(&group, &outside).unwrap_err().code(), "resource_mismatch");
/// let an_hour_later = ViewerRequest::new(inside.url(), now + 3600).with_cookie_header(inside.cookie_header());
/// assert_eq!(verify_cookies(&group, &an_hour_later).unwrap_err().code(), "expired");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_cookies(group: &KeyGroup, req: &ViewerRequest<'_>) -> Result<Grant, Refusal> {
    let cookies = parse_cookie_header(req.cookie_header.unwrap_or(""));
    let get = |name: &str| cookies.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let values = SignedValues {
        policy: get(names::POLICY),
        expires: get(names::EXPIRES),
        signature: get(names::SIGNATURE),
        key_pair_id: get(names::KEY_PAIR_ID),
        hash: get(names::HASH_ALGORITHM),
    };
    check(group, &values, req.url, req, Names::COOKIE)
}

/// Checks a signed URL (the signing parameters are in `req`'s URL), as CloudFront would.
///
/// ```
/// use std::sync::Arc;
/// use cfcookie_signer::{verify_signed_url, HashAlgorithm, KeyAlgorithm, KeyGroup, Policy, PrivateKey, Signer, ViewerRequest};
///
/// let key = Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256)?);
/// let mut group = KeyGroup::new();
/// group.insert("K2JCJMDEHXQW5F", key.public_key().clone());
/// let signer = Signer::new("K2JCJMDEHXQW5F", key)?.with_hash(HashAlgorithm::Sha256);
/// let now = 1_795_341_600;
/// let url = "https://d111111abcdef8.cloudfront.net/report.pdf";
/// let signed = signer.signed_url(url, &Policy::new(url, now + 600))?;
///
/// let grant = verify_signed_url(&group, &ViewerRequest::new(&signed, now))?;
/// assert_eq!(grant.hash(), HashAlgorithm::Sha256);
/// let tampered = signed.replace("report.pdf", "secret.pdf");
/// let refusal = verify_signed_url(&group, &ViewerRequest::new(&tampered, now)).unwrap_err();
/// assert_eq!(refusal.code(), "bad_signature");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_signed_url(group: &KeyGroup, req: &ViewerRequest<'_>) -> Result<Grant, Refusal> {
    let (base, query) = match req.url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (req.url, ""),
    };
    let mut values = SignedValues::default();
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match k {
            "Policy" => &mut values.policy,
            "Expires" => &mut values.expires,
            "Signature" => &mut values.signature,
            "Key-Pair-Id" => &mut values.key_pair_id,
            "Hash-Algorithm" => &mut values.hash,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(v);
        }
    }
    // CloudFront strips its own parameters and matches what is left.
    let resource_url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    check(group, &values, &resource_url, req, Names::URL)
}

#[derive(Default)]
struct SignedValues<'a> {
    policy: Option<&'a str>,
    expires: Option<&'a str>,
    signature: Option<&'a str>,
    key_pair_id: Option<&'a str>,
    hash: Option<&'a str>,
}

struct Names {
    policy_or_expires: &'static str,
    signature: &'static str,
    key_pair_id: &'static str,
}

impl Names {
    const COOKIE: Names = Names {
        policy_or_expires: "CloudFront-Policy or CloudFront-Expires",
        signature: names::SIGNATURE,
        key_pair_id: names::KEY_PAIR_ID,
    };
    const URL: Names = Names {
        policy_or_expires: "Policy or Expires",
        signature: "Signature",
        key_pair_id: "Key-Pair-Id",
    };
}

fn check(
    group: &KeyGroup,
    v: &SignedValues<'_>,
    url: &str,
    req: &ViewerRequest<'_>,
    n: Names,
) -> Result<Grant, Refusal> {
    let signature = v.signature.ok_or(Refusal::Missing(n.signature))?;
    let key_pair_id = v.key_pair_id.ok_or(Refusal::Missing(n.key_pair_id))?;
    if v.policy.is_none() && v.expires.is_none() {
        return Err(Refusal::Missing(n.policy_or_expires));
    }
    let hash = match v.hash {
        None => HashAlgorithm::Sha1,
        Some(text) => match text {
            "SHA1" => HashAlgorithm::Sha1,
            "SHA256" => HashAlgorithm::Sha256,
            other => {
                return Err(Refusal::HashMismatch(format!(
                    "{other:?} is not SHA1 or SHA256"
                )))
            }
        },
    };
    let keys = group.keys_for(key_pair_id);
    if keys.is_empty() {
        return Err(Refusal::UnknownKeyId(key_pair_id.to_owned()));
    }
    let (kind, policy_json, policy) = match (v.policy, v.expires) {
        (Some(b64), _) => {
            let bytes = encoding::decode(b64)
                .ok_or_else(|| Refusal::MalformedPolicy("not CloudFront base64".into()))?;
            let json = String::from_utf8(bytes)
                .map_err(|_| Refusal::MalformedPolicy("not UTF-8".into()))?;
            let policy =
                Policy::from_json(&json).map_err(|e| Refusal::MalformedPolicy(e.to_string()))?;
            (PolicyKind::Custom, json, policy)
        }
        (None, Some(expires)) => {
            let expires: i64 = expires
                .parse()
                .ok()
                .filter(|e: &i64| *e >= 0 && expires.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    Refusal::MalformedPolicy(format!("Expires {expires:?} is not epoch seconds"))
                })?;
            let policy = Policy::new(url, expires);
            (PolicyKind::Canned, policy.to_json(), policy)
        }
        (None, None) => return Err(Refusal::Missing(n.policy_or_expires)),
    };
    let sig = encoding::decode(signature)
        .ok_or_else(|| Refusal::BadSignature("not CloudFront base64".into()))?;
    let message = policy_json.as_bytes();
    if !keys.iter().any(|k| k.verify(hash, message, &sig)) {
        let other = match hash {
            HashAlgorithm::Sha1 => HashAlgorithm::Sha256,
            HashAlgorithm::Sha256 => HashAlgorithm::Sha1,
        };
        if keys.iter().any(|k| k.verify(other, message, &sig)) {
            return Err(Refusal::HashMismatch(format!(
                "signed with {other} but the request declares {hash}{}",
                if other == HashAlgorithm::Sha256 {
                    " (add CloudFront-Hash-Algorithm=SHA256 / Hash-Algorithm=SHA256)"
                } else {
                    ""
                }
            )));
        }
        let why = match kind {
            PolicyKind::Canned => {
                "does not verify for this URL and expiry (a canned policy covers exactly one URL)"
            }
            PolicyKind::Custom => "does not verify with the trusted key for this key id",
        };
        return Err(Refusal::BadSignature(why.into()));
    }
    if req.now >= policy.date_less_than() {
        return Err(Refusal::Expired {
            date_less_than: policy.date_less_than(),
            now: req.now,
        });
    }
    if let Some(start) = policy.date_greater_than() {
        if req.now < start {
            return Err(Refusal::NotYetValid {
                date_greater_than: start,
                now: req.now,
            });
        }
    }
    if let Some(resource) = policy.resource() {
        if !wildcard_match(resource, url) {
            return Err(Refusal::ResourceMismatch {
                resource: resource.to_owned(),
                url: url.to_owned(),
            });
        }
    }
    if let Some(block) = policy.ip_address() {
        if !req.client_ip.is_some_and(|ip| block.contains(ip)) {
            return Err(Refusal::IpMismatch {
                allowed: block.to_string(),
                client: req.client_ip,
            });
        }
    }
    Ok(Grant {
        key_pair_id: key_pair_id.to_owned(),
        policy,
        kind,
        hash,
    })
}

/// Splits a `Cookie` header into (name, value) pairs; the first of duplicate names wins (the
/// browser sends the most specific path first). Quoted values lose their quotes.
pub(crate) fn parse_cookie_header(header: &str) -> Vec<(&str, &str)> {
    header
        .split(';')
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.trim(), value))
        })
        .collect()
}
