//! Policy statements: what a signature allows (resource, time window, source address).
//!
//! The JSON is written compactly in the key order of CloudFront's documentation
//! (`Resource`, `Condition` with `DateLessThan`, `DateGreaterThan`, `IpAddress`), which is also
//! what `@aws-sdk/cloudfront-signer` writes. Strings are escaped as `JSON.stringify` does:
//! non-ASCII is written as UTF-8, not as `\u` escapes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde_json::Value;

/// The largest expiry CloudFront accepts: 2038-01-19T03:14:07Z.
pub(crate) const MAX_EPOCH: i64 = 2_147_483_647;

/// A policy that could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy document is not the JSON shape CloudFront reads (what is wrong with it).
    #[error("malformed policy: {0}")]
    Malformed(String),
    /// A time is outside what CloudFront accepts (epoch seconds 0 to 2038-01-19T03:14:07Z).
    #[error("{condition} {value} is outside 0..=2147483647 (CloudFront's latest time is 2038-01-19T03:14:07Z)")]
    TimeOutOfRange {
        /// `date-less-than` or `date-greater-than`.
        condition: &'static str,
        /// The time given, in epoch seconds.
        value: i64,
    },
    /// The start time is not before the expiry, so the policy would never allow anything.
    #[error(
        "date-greater-than ({date_greater_than}) must be before date-less-than ({date_less_than})"
    )]
    EmptyWindow {
        /// Start, epoch seconds.
        date_greater_than: i64,
        /// Expiry, epoch seconds.
        date_less_than: i64,
    },
    /// The resource cannot match an http or https URL.
    #[error("resource must be an http:// or https:// URL (wildcards allowed), got {0:?}")]
    Resource(String),
    /// An IPv6 address or block: CloudFront policies take IPv4 only.
    #[error("{0:?} is IPv6; CloudFront policies accept only IPv4 addresses or CIDR blocks")]
    Ipv6(String),
    /// Not an IPv4 address or CIDR block.
    #[error("{0:?} is not an IPv4 address or CIDR block")]
    NotIpv4(String),
    /// A CIDR prefix length outside 0 to 32.
    #[error("{0:?} has an invalid prefix length (0 to 32)")]
    PrefixLength(String),
    /// A canned policy was asked for, but the policy has a wildcard, a start time or an address
    /// condition, which only a custom policy can carry.
    #[error("a canned policy takes only an exact resource and an expiry; use a custom policy")]
    NotCanned,
}

/// An IPv4 address or CIDR block, as CloudFront's `AWS:SourceIp` takes it.
///
/// CloudFront policies accept IPv4 only. The text is kept as given (with `/32` added to a bare
/// address, as botocore and the AWS SDK for JavaScript do) so signatures stay byte-identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Whether `ip` lies inside this block. IPv6 addresses never do.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let IpAddr::V4(ip) = ip else { return false };
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

impl FromStr for Ipv4Cidr {
    type Err = PolicyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        if addr.contains(':') {
            return Err(PolicyError::Ipv6(text.to_owned()));
        }
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| PolicyError::NotIpv4(text.to_owned()))?;
        let prefix = match prefix {
            None => 32,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= 32 && !p.starts_with('+') => n,
                _ => return Err(PolicyError::PrefixLength(text.to_owned())),
            },
        };
        Ok(Ipv4Cidr { addr, prefix })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One policy statement: the resource it covers and its conditions.
///
/// Built with [`Policy::new`] and the `not_before` / `from_ip` / `with_resource` methods, or
/// parsed with [`Policy::from_json`]; checked with [`Policy::validate`] (signing checks it too).
///
/// ```
/// use cfcookie_signer::Policy;
///
/// let policy = Policy::new("https://d111111abcdef8.cloudfront.net/videos/*", 1_795_345_200)
///     .not_before(1_795_341_600)
///     .from_ip("192.0.2.0/24".parse()?);
/// assert!(policy.needs_custom());
/// assert_eq!(
///     policy.to_json(),
///     r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/videos/*","Condition":{"DateLessThan":{"AWS:EpochTime":1795345200},"DateGreaterThan":{"AWS:EpochTime":1795341600},"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"}}}]}"#
/// );
/// assert_eq!(Policy::from_json(&policy.to_json())?, policy);
/// # Ok::<(), cfcookie_signer::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    resource: Option<String>,
    date_less_than: i64,
    date_greater_than: Option<i64>,
    ip_address: Option<Ipv4Cidr>,
}

impl Policy {
    /// A policy for `resource` that expires at `date_less_than` (epoch seconds).
    ///
    /// In `resource`, `*` matches any run of characters and `?` exactly one.
    pub fn new(resource: impl Into<String>, date_less_than: i64) -> Policy {
        Policy {
            resource: Some(resource.into()),
            date_less_than,
            date_greater_than: None,
            ip_address: None,
        }
    }

    /// Adds a start time (epoch seconds).
    #[must_use]
    pub fn not_before(mut self, date_greater_than: i64) -> Policy {
        self.date_greater_than = Some(date_greater_than);
        self
    }

    /// Restricts the viewer address.
    #[must_use]
    pub fn from_ip(mut self, cidr: Ipv4Cidr) -> Policy {
        self.ip_address = Some(cidr);
        self
    }

    /// The same conditions for another resource.
    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<String>) -> Policy {
        self.resource = Some(resource.into());
        self
    }

    /// URL pattern; `*` matches any run of characters, `?` exactly one. `None` only in a parsed
    /// signed-URL policy, where CloudFront lets it cover every object.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// Epoch seconds; access is refused from this instant on.
    pub fn date_less_than(&self) -> i64 {
        self.date_less_than
    }

    /// Epoch seconds; access is refused before this instant.
    pub fn date_greater_than(&self) -> Option<i64> {
        self.date_greater_than
    }

    /// Viewer addresses allowed.
    pub fn ip_address(&self) -> Option<Ipv4Cidr> {
        self.ip_address
    }

    /// Whether this statement can only travel as a custom policy (a canned policy carries only
    /// an exact resource and an expiry). As `aws cloudfront sign` decides: a start time, an
    /// address condition or a `*` in the resource. A `?` does not count: it is what starts
    /// every query string, and a canned policy with a query string is ordinary.
    pub fn needs_custom(&self) -> bool {
        self.date_greater_than.is_some()
            || self.ip_address.is_some()
            || self.resource.as_deref().is_none_or(|r| r.contains('*'))
    }

    /// Checks what CloudFront checks before it will honour the policy.
    pub fn validate(&self) -> Result<(), PolicyError> {
        check_epoch("date-less-than", self.date_less_than)?;
        if let Some(start) = self.date_greater_than {
            check_epoch("date-greater-than", start)?;
            if start >= self.date_less_than {
                return Err(PolicyError::EmptyWindow {
                    date_greater_than: start,
                    date_less_than: self.date_less_than,
                });
            }
        }
        match &self.resource {
            Some(resource) if !scheme_can_be_http(resource) => {
                Err(PolicyError::Resource(resource.clone()))
            }
            _ => Ok(()),
        }
    }

    /// The compact JSON that is signed.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push_str("{\"Statement\":[{");
        if let Some(resource) = &self.resource {
            out.push_str("\"Resource\":");
            push_json_string(&mut out, resource);
            out.push(',');
        }
        out.push_str("\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":");
        out.push_str(&self.date_less_than.to_string());
        out.push('}');
        if let Some(start) = self.date_greater_than {
            out.push_str(",\"DateGreaterThan\":{\"AWS:EpochTime\":");
            out.push_str(&start.to_string());
            out.push('}');
        }
        if let Some(ip) = &self.ip_address {
            out.push_str(",\"IpAddress\":{\"AWS:SourceIp\":\"");
            out.push_str(&ip.to_string());
            out.push_str("\"}");
        }
        out.push_str("}}]}");
        out
    }

    /// Parses a policy document as CloudFront reads it: one statement, known conditions only,
    /// integer epoch times.
    pub fn from_json(json: &str) -> Result<Policy, PolicyError> {
        let bad = |why: &str| PolicyError::Malformed(why.to_owned());
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| PolicyError::Malformed(format!("not JSON: {e}")))?;
        let doc = doc.as_object().ok_or_else(|| bad("not a JSON object"))?;
        if doc.keys().any(|k| k != "Statement") {
            return Err(bad("unknown top-level field"));
        }
        let statements = doc
            .get("Statement")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no Statement array"))?;
        let [statement] = statements.as_slice() else {
            return Err(bad("Statement must hold exactly one statement"));
        };
        let statement = statement
            .as_object()
            .ok_or_else(|| bad("statement is not an object"))?;
        if statement
            .keys()
            .any(|k| k != "Resource" && k != "Condition")
        {
            return Err(bad("unknown field in statement"));
        }
        let resource = match statement.get("Resource") {
            None => None,
            Some(Value::String(r)) => Some(r.clone()),
            Some(_) => return Err(bad("Resource is not a string")),
        };
        let condition = statement
            .get("Condition")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("no Condition object"))?;
        let epoch = |name: &str| -> Result<Option<i64>, PolicyError> {
            let Some(cond) = condition.get(name) else {
                return Ok(None);
            };
            let cond = cond
                .as_object()
                .filter(|c| c.len() == 1)
                .ok_or_else(|| bad("time condition shape"))?;
            cond.get("AWS:EpochTime")
                .and_then(Value::as_i64)
                .map(Some)
                .ok_or_else(|| {
                    PolicyError::Malformed(format!("{name} needs an integer AWS:EpochTime"))
                })
        };
        if condition
            .keys()
            .any(|k| !matches!(k.as_str(), "DateLessThan" | "DateGreaterThan" | "IpAddress"))
        {
            return Err(bad("unknown condition"));
        }
        let date_less_than =
            epoch("DateLessThan")?.ok_or_else(|| bad("no DateLessThan condition"))?;
        let date_greater_than = epoch("DateGreaterThan")?;
        let ip_address = match condition.get("IpAddress") {
            None => None,
            Some(ip) => {
                let text = ip
                    .as_object()
                    .filter(|c| c.len() == 1)
                    .and_then(|c| c.get("AWS:SourceIp"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("IpAddress needs a string AWS:SourceIp"))?;
                Some(
                    text.parse()
                        .map_err(|e: PolicyError| PolicyError::Malformed(e.to_string()))?,
                )
            }
        };
        Ok(Policy {
            resource,
            date_less_than,
            date_greater_than,
            ip_address,
        })
    }
}

fn check_epoch(condition: &'static str, value: i64) -> Result<(), PolicyError> {
    if !(0..=MAX_EPOCH).contains(&value) {
        return Err(PolicyError::TimeOutOfRange { condition, value });
    }
    Ok(())
}

/// A resource must be able to match an http(s) URL: its scheme part is `http`, `https`, or a
/// wildcard pattern that matches one of them (`http*`, `*`).
fn scheme_can_be_http(resource: &str) -> bool {
    match resource.split_once("://") {
        Some((scheme, rest)) => {
            !rest.is_empty() && (wildcard_match(scheme, "http") || wildcard_match(scheme, "https"))
        }
        None => false,
    }
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes exactly what JSON.stringify escapes for well-formed strings.
    match serde_json::to_string(s) {
        Ok(json) => out.push_str(&json),
        Err(_) => unreachable!("serializing a str cannot fail"),
    }
}

/// CloudFront's resource match: `*` matches zero or more characters, `?` exactly one, every
/// other character itself (case-sensitive). Linear in practice; no recursion, so hostile
/// patterns cannot blow the stack.
///
/// ```
/// use cfcookie_signer::wildcard_match;
///
/// assert!(wildcard_match("https://d111111abcdef8.cloudfront.net/*.jpg", "https://d111111abcdef8.cloudfront.net/a/b.jpg"));
/// assert!(!wildcard_match("https://d111111abcdef8.cloudfront.net/?.jpg", "https://d111111abcdef8.cloudfront.net/ab.jpg"));
/// ```
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_shape_is_exact() {
        let p = Policy::new(
            "https://d111111abcdef8.cloudfront.net/image.jpg",
            1_767_225_600,
        );
        assert_eq!(
            p.to_json(),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1767225600}}}]}"#
        );
        assert!(!p.needs_custom());
    }

    #[test]
    fn custom_key_order_follows_cloudfront_docs() {
        let p = Policy::new("https://x.example/*", 200)
            .not_before(100)
            .from_ip("10.0.0.0/8".parse().unwrap());
        assert_eq!(
            p.to_json(),
            r#"{"Statement":[{"Resource":"https://x.example/*","Condition":{"DateLessThan":{"AWS:EpochTime":200},"DateGreaterThan":{"AWS:EpochTime":100},"IpAddress":{"AWS:SourceIp":"10.0.0.0/8"}}}]}"#
        );
        assert!(p.needs_custom());
        assert_eq!(Policy::from_json(&p.to_json()), Ok(p));
    }

    #[test]
    fn non_ascii_and_quotes_are_escaped_like_json_stringify() {
        let p = Policy::new("https://x.example/café/\"q\"/a\\b", 5);
        assert!(p
            .to_json()
            .contains(r#""https://x.example/café/\"q\"/a\\b""#));
    }

    #[test]
    fn bare_address_becomes_slash_32() {
        assert_eq!(
            "192.0.2.7".parse::<Ipv4Cidr>().unwrap().to_string(),
            "192.0.2.7/32"
        );
    }

    #[test]
    fn address_errors_name_what_is_wrong() {
        assert_eq!(
            "::1".parse::<Ipv4Cidr>(),
            Err(PolicyError::Ipv6("::1".into()))
        );
        assert_eq!(
            "10.0.0/8".parse::<Ipv4Cidr>(),
            Err(PolicyError::NotIpv4("10.0.0/8".into()))
        );
        assert_eq!(
            "10.0.0.0/33".parse::<Ipv4Cidr>(),
            Err(PolicyError::PrefixLength("10.0.0.0/33".into()))
        );
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "::1",
            "2001:db8::/32",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/",
            "x",
            "10.0.0.0/+8",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cidr_contains() {
        let c: Ipv4Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains("192.0.2.200".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn validation() {
        assert!(Policy::new("https://a/b", MAX_EPOCH).validate().is_ok());
        let late = Policy::new("https://a/b", MAX_EPOCH + 1).validate();
        assert_eq!(
            late,
            Err(PolicyError::TimeOutOfRange {
                condition: "date-less-than",
                value: MAX_EPOCH + 1
            })
        );
        assert_eq!(
            late.unwrap_err().to_string(),
            "date-less-than 2147483648 is outside 0..=2147483647 (CloudFront's latest time is 2038-01-19T03:14:07Z)"
        );
        let empty = Policy::new("https://a/b", 10).not_before(10).validate();
        assert_eq!(
            empty,
            Err(PolicyError::EmptyWindow {
                date_greater_than: 10,
                date_less_than: 10
            })
        );
        assert_eq!(
            empty.unwrap_err().to_string(),
            "date-greater-than (10) must be before date-less-than (10)"
        );
        assert!(matches!(
            Policy::new("ftp://a/b", 10).validate(),
            Err(PolicyError::Resource(_))
        ));
        assert!(matches!(
            Policy::new("/just/a/path", 10).validate(),
            Err(PolicyError::Resource(_))
        ));
        assert!(Policy::new("http*://a/*", 10).validate().is_ok());
        assert!(Policy::new("*://a/*", 10).validate().is_ok());
    }

    #[test]
    fn parse_refuses_what_cloudfront_refuses() {
        for bad in [
            "",
            "[]",
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Resource":"https://a/*"}]}"#,
            r#"{"Statement":[{"Resource":"https://a/*","Condition":{}}]}"#,
            r#"{"Statement":[{"Resource":"https://a/*","Condition":{"DateLessThan":{"AWS:EpochTime":"5"}}}]}"#,
            r#"{"Statement":[{"Resource":1,"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#,
            r#"{"Statement":[{"Resource":"https://a/*","Condition":{"DateLessThan":{"AWS:EpochTime":5},"Bogus":{}}}]}"#,
            r#"{"Statement":[{"Resource":"https://a/*","Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"::1"}}}]}"#,
        ] {
            assert!(
                matches!(Policy::from_json(bad), Err(PolicyError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("https://a/*", "https://a/"));
        assert!(wildcard_match("https://a/*", "https://a/x/y?z=1"));
        assert!(wildcard_match("https://a/?.jpg", "https://a/b.jpg"));
        assert!(!wildcard_match("https://a/?.jpg", "https://a/bb.jpg"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(!wildcard_match("https://A/*", "https://a/x"));
        assert!(wildcard_match("h?tps://é/*", "https://é/ü"));
        // Pathological pattern stays fast and correct.
        let long = "a".repeat(5000);
        assert!(!wildcard_match(&"*a".repeat(50), &format!("{long}b")));
        assert!(wildcard_match(&"*a".repeat(50), &long));
    }
}
