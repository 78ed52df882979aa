//! Minting signed cookies and signed URLs.

use std::fmt;
use std::sync::Arc;

use crate::encoding;
use crate::keys::{HashAlgorithm, KeyError, PrivateKey};
use crate::policy::{Policy, PolicyError};

/// Cookie names CloudFront reads.
pub(crate) mod names {
    /// Base64 custom policy.
    pub(crate) const POLICY: &str = "CloudFront-Policy";
    /// Expiry of a canned policy (epoch seconds).
    pub(crate) const EXPIRES: &str = "CloudFront-Expires";
    /// Base64 signature.
    pub(crate) const SIGNATURE: &str = "CloudFront-Signature";
    /// Id of the public key in the trusted key group.
    pub(crate) const KEY_PAIR_ID: &str = "CloudFront-Key-Pair-Id";
    /// `SHA256` when the signature uses SHA-256; absent for SHA-1.
    pub(crate) const HASH_ALGORITHM: &str = "CloudFront-Hash-Algorithm";
    /// Every name a signer may set, in the order they are written.
    pub(crate) const ALL: [&str; 5] = [POLICY, EXPIRES, SIGNATURE, KEY_PAIR_ID, HASH_ALGORITHM];
}

/// Why a cookie set or URL could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The key could not sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key pair id is not what CloudFront issues (letters and digits).
    #[error("key pair id {0:?} is not a CloudFront public key id (letters and digits only)")]
    KeyPairId(String),
    /// The URL to sign does not start with `http://` or `https://` (the URL given).
    #[error("URL must start with http:// or https://, got {0:?}")]
    UrlScheme(String),
    /// The URL to sign has a `#fragment`, which browsers never send (the URL given).
    #[error("URL has a #fragment, which browsers never send; remove it")]
    UrlFragment(String),
}

/// Canned (exact URL + expiry, sent as `Expires`) or custom (a full policy, sent as `Policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyKind {
    /// Reconstructed by CloudFront from the request URL and `Expires`.
    Canned,
    /// Carried in full, base64-encoded.
    Custom,
}

/// Signs policies with one key, under one CloudFront key id.
#[derive(Clone)]
pub struct Signer {
    key_pair_id: String,
    key: Arc<PrivateKey>,
    hash: HashAlgorithm,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_pair_id", &self.key_pair_id)
            .field("algorithm", &self.key.algorithm())
            .field("hash", &self.hash)
            .finish()
    }
}

/// A signed policy: the pieces both cookies and URLs are made of. Made by [`Signer::sign`];
/// turned into cookies with `SignedCookies::from` or into a URL with
/// [`SignedPolicy::append_to_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedPolicy {
    kind: PolicyKind,
    policy_json: String,
    expires: i64,
    signature: String,
    key_pair_id: String,
    hash: HashAlgorithm,
}

impl Signer {
    /// A signer for `key`, registered in CloudFront as `key_pair_id`. SHA-1 unless changed.
    pub fn new(key_pair_id: impl Into<String>, key: Arc<PrivateKey>) -> Result<Signer, SignError> {
        let key_pair_id = key_pair_id.into();
        if key_pair_id.is_empty()
            || key_pair_id.len() > 128
            || !key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(SignError::KeyPairId(key_pair_id));
        }
        Ok(Signer {
            key_pair_id,
            key,
            hash: HashAlgorithm::Sha1,
        })
    }

    /// Uses `hash` for every signature from now on.
    #[must_use]
    pub fn with_hash(mut self, hash: HashAlgorithm) -> Signer {
        self.hash = hash;
        self
    }

    /// The CloudFront key id.
    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// The digest in use.
    pub fn hash(&self) -> HashAlgorithm {
        self.hash
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Signs `policy` as `kind`. A canned policy must be exact (no wildcard, no start time, no
    /// address condition), or this fails with [`PolicyError::NotCanned`].
    pub fn sign(&self, policy: &Policy, kind: PolicyKind) -> Result<SignedPolicy, SignError> {
        self.sign_with(policy, kind, self.hash)
    }

    /// Signs `policy` as `kind` under `hash`, whatever this signer's own digest: a server whose
    /// digest differs from its key source's default need not clone a signer per request.
    pub fn sign_with(
        &self,
        policy: &Policy,
        kind: PolicyKind,
        hash: HashAlgorithm,
    ) -> Result<SignedPolicy, SignError> {
        policy.validate()?;
        if kind == PolicyKind::Canned && policy.needs_custom() {
            return Err(PolicyError::NotCanned.into());
        }
        let policy_json = policy.to_json();
        let signature = encoding::encode(&self.key.sign(hash, policy_json.as_bytes())?);
        Ok(SignedPolicy {
            kind,
            policy_json,
            expires: policy.date_less_than(),
            signature,
            key_pair_id: self.key_pair_id.clone(),
            hash,
        })
    }

    /// Signed cookies for `policy`: custom when the policy needs it, canned otherwise.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cfcookie_signer::{CookieAttributes, KeyAlgorithm, Policy, PrivateKey, SameSite, Signer};
    ///
    /// let key = Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256)?);
    /// let signer = Signer::new("K2JCJMDEHXQW5F", key)?;
    /// let expires = 1_795_345_200; // 2026-11-22T11:00:00Z
    /// let cookies = signer.cookies(&Policy::new("https://media.example.com/users/42/*", expires))?;
    /// // A wildcard needs a custom policy: CloudFront-Policy, -Signature, -Key-Pair-Id.
    /// let names: Vec<&str> = cookies.pairs().iter().map(|(name, _)| *name).collect();
    /// assert_eq!(names, ["CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"]);
    ///
    /// let attributes = CookieAttributes::default()
    ///     .with_domain("media.example.com".to_owned())
    ///     .with_same_site(SameSite::Strict)
    ///     .with_expires(expires);
    /// attributes.validate()?;
    /// let headers = cookies.set_cookie_headers(&attributes);
    /// assert!(headers[2].starts_with("CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F; Path=/; Domain=media.example.com; Expires=Sun, 22 Nov 2026 11:00:00 GMT"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cookies(&self, policy: &Policy) -> Result<SignedCookies, SignError> {
        let kind = if policy.needs_custom() {
            PolicyKind::Custom
        } else {
            PolicyKind::Canned
        };
        self.cookies_as(policy, kind)
    }

    /// Signed cookies of the given kind.
    pub fn cookies_as(
        &self,
        policy: &Policy,
        kind: PolicyKind,
    ) -> Result<SignedCookies, SignError> {
        Ok(SignedCookies::from(self.sign(policy, kind)?))
    }

    /// A signed URL for `url` under `policy`. Canned when the policy is exactly "this URL until
    /// then" (as `aws cloudfront sign` decides), custom otherwise. An existing query string is
    /// kept; non-ASCII and characters browsers escape are percent-encoded first, so the URL
    /// signed is the URL a browser will request.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cfcookie_signer::{KeyAlgorithm, Policy, PrivateKey, Signer};
    ///
    /// let key = Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256)?);
    /// let signer = Signer::new("K2JCJMDEHXQW5F", key)?;
    /// let url = "https://d111111abcdef8.cloudfront.net/report.pdf?v=2";
    /// // Exactly this URL until then: a canned policy, sent as `Expires`.
    /// let signed = signer.signed_url(url, &Policy::new(url, 1_795_345_200))?;
    /// assert!(signed.starts_with("https://d111111abcdef8.cloudfront.net/report.pdf?v=2&Expires=1795345200&Signature="));
    /// assert!(signed.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"));
    /// // A pattern: a custom policy, sent as `Policy`.
    /// let any_pdf = Policy::new("https://d111111abcdef8.cloudfront.net/*.pdf", 1_795_345_200);
    /// assert!(signer.signed_url(url, &any_pdf)?.contains("&Policy="));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn signed_url(&self, url: &str, policy: &Policy) -> Result<String, SignError> {
        let url = browser_url(url)?;
        let canned = !policy.needs_custom() && policy.resource() == Some(url.as_str());
        let kind = if canned {
            PolicyKind::Canned
        } else {
            PolicyKind::Custom
        };
        let signed = self.sign(policy, kind)?;
        Ok(signed.append_to_url(&url))
    }
}

impl SignedPolicy {
    /// Canned or custom.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The policy JSON that was signed.
    pub fn policy_json(&self) -> &str {
        &self.policy_json
    }

    /// Expiry (epoch seconds).
    pub fn expires(&self) -> i64 {
        self.expires
    }

    /// The signature, in CloudFront base64.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The CloudFront key id.
    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// Digest under the signature.
    pub fn hash(&self) -> HashAlgorithm {
        self.hash
    }

    /// `url` with the signing parameters appended, in the order of CloudFront's documentation.
    pub fn append_to_url(&self, url: &str) -> String {
        let mut out = String::with_capacity(url.len() + self.signature.len() + 400);
        out.push_str(url);
        out.push(if url.contains('?') { '&' } else { '?' });
        match self.kind {
            PolicyKind::Canned => {
                out.push_str("Expires=");
                out.push_str(&self.expires.to_string());
            }
            PolicyKind::Custom => {
                out.push_str("Policy=");
                out.push_str(&encoding::encode(self.policy_json.as_bytes()));
            }
        }
        out.push_str("&Signature=");
        out.push_str(&self.signature);
        out.push_str("&Key-Pair-Id=");
        out.push_str(&self.key_pair_id);
        if self.hash == HashAlgorithm::Sha256 {
            out.push_str("&Hash-Algorithm=SHA256");
        }
        out
    }
}

/// Percent-encodes what a browser would before sending `url` (UTF-8 bytes outside ASCII,
/// controls, space, `"`, `<`, `>`, `` ` ``, `{`, `}`), and refuses what cannot be signed.
/// An empty query (a trailing `?`) is dropped: appended to it, the signing parameters would
/// leave CloudFront to guess whether the signed resource had the `?` or not.
pub fn browser_url(url: &str) -> Result<String, SignError> {
    let url = url.strip_suffix('?').unwrap_or(url);
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(SignError::UrlScheme(url.to_owned()));
    }
    if url.contains('#') {
        return Err(SignError::UrlFragment(url.to_owned()));
    }
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte <= 0x20 || byte >= 0x7f || matches!(byte, b'"' | b'<' | b'>' | b'`' | b'{' | b'}') {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
    Ok(out)
}

/// The cookies of one signature, as (name, value) pairs in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCookies {
    pairs: Vec<(&'static str, String)>,
    expires: i64,
}

impl From<SignedPolicy> for SignedCookies {
    fn from(s: SignedPolicy) -> SignedCookies {
        let mut pairs = Vec::with_capacity(4);
        match s.kind {
            PolicyKind::Canned => pairs.push((names::EXPIRES, s.expires.to_string())),
            PolicyKind::Custom => {
                pairs.push((names::POLICY, encoding::encode(s.policy_json.as_bytes())))
            }
        }
        pairs.push((names::SIGNATURE, s.signature));
        pairs.push((names::KEY_PAIR_ID, s.key_pair_id));
        if s.hash == HashAlgorithm::Sha256 {
            pairs.push((names::HASH_ALGORITHM, "SHA256".to_owned()));
        }
        SignedCookies {
            pairs,
            expires: s.expires,
        }
    }
}

impl SignedCookies {
    /// (name, value) pairs.
    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.pairs
    }

    /// The value of one cookie.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// When the policy expires (epoch seconds).
    pub fn expires(&self) -> i64 {
        self.expires
    }

    /// A `Cookie:` request header carrying these cookies (for tests and tools).
    pub fn cookie_header(&self) -> String {
        self.pairs
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `Set-Cookie` header values, one per cookie.
    pub fn set_cookie_headers(&self, attrs: &CookieAttributes) -> Vec<String> {
        self.pairs
            .iter()
            .map(|(n, v)| attrs.render(n, v, attrs.expires, attrs.max_age))
            .collect()
    }
}

/// `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only to same-site requests.
    Strict,
    /// Sent to same-site requests and top-level navigations (browsers' default).
    #[default]
    Lax,
    /// Sent everywhere; browsers require `Secure` with it.
    None,
}

/// A `SameSite` value that is not `Strict`, `Lax` or `None` (from [`SameSite`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SameSite must be Strict, Lax or None, got {0:?}")]
pub struct UnknownSameSite(String);

impl std::str::FromStr for SameSite {
    type Err = UnknownSameSite;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(SameSite::Strict),
            "lax" => Ok(SameSite::Lax),
            "none" => Ok(SameSite::None),
            _ => Err(UnknownSameSite(s.to_owned())),
        }
    }
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        })
    }
}

/// A cookie attribute that would not survive in a `Set-Cookie` header as meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The path does not start with `/`, or holds `;`, `,`, spaces or controls (the path).
    #[error("cookie path must start with / and hold no ';', ',' or spaces: {0:?}")]
    Path(String),
    /// The domain is not a bare host name (the domain).
    #[error("cookie domain must be a host name: {0:?}")]
    Domain(String),
    /// `SameSite=None` without `Secure`, which browsers drop.
    #[error("SameSite=None requires Secure (browsers drop the cookie otherwise)")]
    SameSiteNoneWithoutSecure,
}

/// Attributes written on every `Set-Cookie`.
///
/// The default is `Path=/; Secure; HttpOnly; SameSite=Lax`, host-only, session cookies; change
/// it with the `with_*` methods and check the result with [`CookieAttributes::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieAttributes {
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    expires: Option<i64>,
    max_age: Option<i64>,
}

impl Default for CookieAttributes {
    fn default() -> Self {
        CookieAttributes {
            path: "/".into(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Lax),
            expires: None,
            max_age: None,
        }
    }
}

impl CookieAttributes {
    /// `Path` (default `/`).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> CookieAttributes {
        self.path = path.into();
        self
    }

    /// `Domain`; `None` (the default) makes host-only cookies.
    #[must_use]
    pub fn with_domain(mut self, domain: impl Into<Option<String>>) -> CookieAttributes {
        self.domain = domain.into();
        self
    }

    /// `Secure` (default on).
    #[must_use]
    pub fn with_secure(mut self, secure: bool) -> CookieAttributes {
        self.secure = secure;
        self
    }

    /// `HttpOnly` (default on).
    #[must_use]
    pub fn with_http_only(mut self, http_only: bool) -> CookieAttributes {
        self.http_only = http_only;
        self
    }

    /// `SameSite` (default `Lax`); `None` leaves the attribute out.
    #[must_use]
    pub fn with_same_site(mut self, same_site: impl Into<Option<SameSite>>) -> CookieAttributes {
        self.same_site = same_site.into();
        self
    }

    /// `Expires` (epoch seconds); `None` (the default) makes session cookies.
    #[must_use]
    pub fn with_expires(mut self, expires: impl Into<Option<i64>>) -> CookieAttributes {
        self.expires = expires.into();
        self
    }

    /// `Max-Age` in seconds; `None` (the default) leaves it out.
    #[must_use]
    pub fn with_max_age(mut self, max_age: impl Into<Option<i64>>) -> CookieAttributes {
        self.max_age = max_age.into();
        self
    }

    /// `Path`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `Domain`, if any.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Whether `Secure` is written.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Whether `HttpOnly` is written.
    pub fn http_only(&self) -> bool {
        self.http_only
    }

    /// `SameSite`, if written.
    pub fn same_site(&self) -> Option<SameSite> {
        self.same_site
    }

    /// `Expires` (epoch seconds), if written.
    pub fn expires(&self) -> Option<i64> {
        self.expires
    }

    /// `Max-Age` in seconds, if written.
    pub fn max_age(&self) -> Option<i64> {
        self.max_age
    }

    /// Checks that path and domain cannot break out of their attribute, and that browsers will
    /// keep the cookie.
    pub fn validate(&self) -> Result<(), CookieError> {
        let clean = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        };
        if !self.path.starts_with('/') || !clean(&self.path) {
            return Err(CookieError::Path(self.path.clone()));
        }
        if let Some(d) = &self.domain {
            if !clean(d) || d.contains(['/', ':']) {
                return Err(CookieError::Domain(d.clone()));
            }
        }
        if self.same_site == Some(SameSite::None) && !self.secure {
            return Err(CookieError::SameSiteNoneWithoutSecure);
        }
        Ok(())
    }

    fn render(
        &self,
        name: &str,
        value: &str,
        expires: Option<i64>,
        max_age: Option<i64>,
    ) -> String {
        use std::fmt::Write as _;
        // One buffer, written in place: this runs for every cookie of every response.
        let mut out = String::with_capacity(
            name.len()
                + value.len()
                + self.path.len()
                + self.domain.as_ref().map_or(0, String::len)
                + 112,
        );
        out.push_str(name);
        out.push('=');
        out.push_str(value);
        out.push_str("; Path=");
        out.push_str(&self.path);
        if let Some(d) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(d);
        }
        if let Some(t) = expires {
            // Writing to a String cannot fail.
            let _ = write!(out, "; Expires={}", http_date(t));
        }
        if let Some(age) = max_age {
            let _ = write!(out, "; Max-Age={age}");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(s) = self.same_site {
            let _ = write!(out, "; SameSite={s}");
        }
        out
    }

    /// `Set-Cookie` values that delete every cookie a signer may have set (for sign-out), with
    /// the same Path and Domain so the browser matches them.
    pub fn removal_headers(&self) -> Vec<String> {
        names::ALL
            .iter()
            .map(|n| self.render(n, "", Some(0), Some(0)))
            .collect()
    }
}

/// IMF-fixdate, as `Expires` wants it, clamped to the years it can write (1970 to 9999).
/// httpdate writes the fixed format directly; a strftime pattern is parsed on every call, and
/// an issued cookie set writes up to eight of these dates.
pub(crate) fn http_date(epoch: i64) -> httpdate::HttpDate {
    /// 9999-12-31T23:59:59Z, the last instant IMF-fixdate's four-digit year can write.
    const LAST: u64 = 253_402_300_799;
    let secs = u64::try_from(epoch).unwrap_or(0).min(LAST);
    httpdate::HttpDate::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_url_encodes_like_a_browser() {
        assert_eq!(
            browser_url("https://a.example/caf\u{e9} x.jpg?q=\u{fc}").unwrap(),
            "https://a.example/caf%C3%A9%20x.jpg?q=%C3%BC"
        );
        assert_eq!(
            browser_url("https://a.example/a+b:c@d?x=1&y=%2F").unwrap(),
            "https://a.example/a+b:c@d?x=1&y=%2F"
        );
        assert_eq!(
            browser_url("https://a.example/?").unwrap(),
            "https://a.example/"
        );
        assert_eq!(
            browser_url("ftp://a/b"),
            Err(SignError::UrlScheme("ftp://a/b".into()))
        );
        assert_eq!(
            browser_url("https://a/b#top"),
            Err(SignError::UrlFragment("https://a/b#top".into()))
        );
    }

    #[test]
    fn same_site_names() {
        assert_eq!("strict".parse::<SameSite>(), Ok(SameSite::Strict));
        assert_eq!("NONE".parse::<SameSite>(), Ok(SameSite::None));
        assert_eq!(
            "sometimes".parse::<SameSite>().unwrap_err().to_string(),
            r#"SameSite must be Strict, Lax or None, got "sometimes""#
        );
    }

    #[test]
    fn a_canned_policy_that_needs_custom_is_a_policy_error() {
        let key = Arc::new(PrivateKey::generate(crate::KeyAlgorithm::EcdsaP256).unwrap());
        let signer = Signer::new("K1", key).unwrap();
        let wildcard = Policy::new("https://a.example/*", 10);
        assert_eq!(
            signer.sign(&wildcard, PolicyKind::Canned),
            Err(SignError::Policy(PolicyError::NotCanned))
        );
    }

    #[test]
    fn http_dates() {
        let date = |epoch| http_date(epoch).to_string();
        assert_eq!(date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date(1_767_225_600), "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn cookie_attribute_validation() {
        let a = CookieAttributes::default();
        assert_eq!(a.validate(), Ok(()));
        let evil = a.clone().with_domain("evil.com; Path=/x".to_owned());
        assert_eq!(
            evil.validate(),
            Err(CookieError::Domain("evil.com; Path=/x".into()))
        );
        let relative = a.clone().with_path("no-slash");
        assert_eq!(
            relative.validate(),
            Err(CookieError::Path("no-slash".into()))
        );
        let insecure = a.with_secure(false).with_same_site(SameSite::None);
        assert_eq!(
            insecure.validate(),
            Err(CookieError::SameSiteNoneWithoutSecure)
        );
        assert_eq!(
            insecure.validate().unwrap_err().to_string(),
            "SameSite=None requires Secure (browsers drop the cookie otherwise)"
        );
    }

    #[test]
    fn removal_matches_domain_and_path() {
        let a = CookieAttributes::default()
            .with_domain("media.example".to_owned())
            .with_path("/p");
        let h = a.removal_headers();
        assert_eq!(h.len(), 5);
        assert_eq!(
            h[0],
            "CloudFront-Policy=; Path=/p; Domain=media.example; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; HttpOnly; SameSite=Lax"
        );
    }
}
