//! What reaches the origin: the AWS managed cache and origin request policies, by their
//! well-known ids, and the union CloudFront forwards.
//!
//! Cache policies: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html>
//! Origin request policies: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html>
//! Values in the cache key are always forwarded too, even when the origin request policy says
//! `none`: <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_OriginRequestPolicyHeadersConfig.html>

/// Which of a kind of value (headers, cookies, query strings) a policy includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Select {
    /// None of them.
    None,
    /// All of them.
    All,
    /// Only these (header names compared case-insensitively).
    Only(Vec<&'static str>),
    /// All but these.
    AllExcept(Vec<&'static str>),
}

impl Select {
    /// Whether `name` is included.
    pub(crate) fn includes(&self, name: &str) -> bool {
        match self {
            Select::None => false,
            Select::All => true,
            Select::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
            Select::AllExcept(names) => !names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// The values one policy includes in origin requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forwarding {
    /// Viewer headers.
    pub(crate) headers: Select,
    /// Headers CloudFront adds (`CloudFront-Viewer-Address`, …).
    pub(crate) cloudfront_headers: Vec<&'static str>,
    /// Cookies.
    pub(crate) cookies: Select,
    /// Query strings.
    pub(crate) query_strings: Select,
}

impl Forwarding {
    const NOTHING: Forwarding = Forwarding {
        headers: Select::None,
        cloudfront_headers: Vec::new(),
        cookies: Select::None,
        query_strings: Select::None,
    };
}

/// `CloudFront-Viewer-Address`: the viewer's IP and port.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/adding-cloudfront-headers.html>
pub(crate) const VIEWER_ADDRESS: &str = "CloudFront-Viewer-Address";
/// `CloudFront-Forwarded-Proto`: the viewer's protocol.
pub(crate) const FORWARDED_PROTO: &str = "CloudFront-Forwarded-Proto";

/// Managed-CachingOptimized.
pub(crate) const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// Managed-CachingDisabled.
pub(crate) const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// Managed-CachingOptimizedForUncompressedObjects.
pub(crate) const CACHING_OPTIMIZED_UNCOMPRESSED: &str = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d";
/// Managed-AllViewer.
pub(crate) const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
/// Managed-AllViewerAndCloudFrontHeaders-2022-06.
pub(crate) const ALL_VIEWER_AND_CLOUDFRONT_HEADERS: &str = "33f36d7e-f396-46d9-90e0-52428a34d9dc";
/// Managed-AllViewerExceptHostHeader.
pub(crate) const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";
/// Managed-CORS-S3Origin.
pub(crate) const CORS_S3_ORIGIN: &str = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf";
/// Managed-CORS-CustomOrigin.
pub(crate) const CORS_CUSTOM_ORIGIN: &str = "59781a5b-3903-41f3-afcb-af62929ccde1";
/// Managed-UserAgentRefererHeaders.
pub(crate) const USER_AGENT_REFERER: &str = "acba4595-bd28-49b8-b9fe-13317c0390fa";

/// A cache policy the edge does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} policy {id} is not one of the AWS managed policies the edge models (docs/edge.md)")]
pub struct UnknownPolicy {
    /// `cache` or `origin request`.
    pub kind: &'static str,
    /// Its id.
    pub id: String,
}

/// What a cache policy puts in the cache key (and so forwards). The three caching policies
/// include no header (beyond the normalized `Accept-Encoding`), cookie or query string.
pub(crate) fn cache_policy(id: &str) -> Result<Forwarding, UnknownPolicy> {
    match id {
        // A behavior without a cache policy uses the legacy ForwardedValues, which moto
        // returns as "forward nothing" unless set; the edge treats it the same.
        "" | CACHING_OPTIMIZED | CACHING_DISABLED | CACHING_OPTIMIZED_UNCOMPRESSED => {
            Ok(Forwarding::NOTHING)
        }
        other => Err(UnknownPolicy {
            kind: "cache",
            id: other.to_owned(),
        }),
    }
}

/// What an origin request policy includes.
pub(crate) fn origin_request_policy(id: &str) -> Result<Forwarding, UnknownPolicy> {
    let cloudfront_headers = vec![VIEWER_ADDRESS, FORWARDED_PROTO];
    Ok(match id {
        "" => Forwarding::NOTHING,
        ALL_VIEWER => Forwarding {
            headers: Select::All,
            cloudfront_headers: Vec::new(),
            cookies: Select::All,
            query_strings: Select::All,
        },
        ALL_VIEWER_AND_CLOUDFRONT_HEADERS => Forwarding {
            headers: Select::All,
            cloudfront_headers,
            cookies: Select::All,
            query_strings: Select::All,
        },
        ALL_VIEWER_EXCEPT_HOST => Forwarding {
            headers: Select::AllExcept(vec!["host"]),
            cloudfront_headers,
            cookies: Select::All,
            query_strings: Select::All,
        },
        CORS_S3_ORIGIN => Forwarding {
            headers: Select::Only(vec![
                "origin",
                "access-control-request-headers",
                "access-control-request-method",
            ]),
            ..Forwarding::NOTHING
        },
        CORS_CUSTOM_ORIGIN => Forwarding {
            headers: Select::Only(vec!["origin"]),
            ..Forwarding::NOTHING
        },
        USER_AGENT_REFERER => Forwarding {
            headers: Select::Only(vec!["user-agent", "referer"]),
            ..Forwarding::NOTHING
        },
        other => {
            return Err(UnknownPolicy {
                kind: "origin request",
                id: other.to_owned(),
            })
        }
    })
}

/// The union of a behavior's cache policy and origin request policy.
#[derive(Debug, Clone)]
pub(crate) struct Combined {
    parts: [Forwarding; 2],
}

impl Combined {
    /// Both policies of a behavior.
    pub(crate) fn new(cache: Forwarding, origin_request: Forwarding) -> Combined {
        Combined {
            parts: [cache, origin_request],
        }
    }

    /// Whether the viewer header `name` reaches the origin.
    pub(crate) fn header(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p.headers.includes(name))
    }

    /// Whether CloudFront adds its header `name`.
    pub(crate) fn cloudfront_header(&self, name: &str) -> bool {
        self.parts.iter().any(|p| {
            p.cloudfront_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
        })
    }

    /// Whether the cookie `name` reaches the origin.
    pub(crate) fn cookie(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p.cookies.includes(name))
    }

    /// Whether the query parameter `name` reaches the origin.
    pub(crate) fn query(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p.query_strings.includes(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_viewer_except_host_forwards_all_but_host() {
        let c = Combined::new(
            cache_policy(CACHING_DISABLED).expect("managed"),
            origin_request_policy(ALL_VIEWER_EXCEPT_HOST).expect("managed"),
        );
        assert!(c.header("Authorization"));
        assert!(!c.header("Host"));
        assert!(c.cookie("session"));
        assert!(c.query("a"));
        assert!(c.cloudfront_header(VIEWER_ADDRESS));
    }

    #[test]
    fn caching_optimized_alone_forwards_nothing() {
        let c = Combined::new(
            cache_policy(CACHING_OPTIMIZED).expect("managed"),
            origin_request_policy("").expect("none"),
        );
        assert!(!c.header("Authorization"));
        assert!(!c.cookie("CloudFront-Policy"));
        assert!(!c.query("x"));
        assert!(!c.cloudfront_header(VIEWER_ADDRESS));
    }

    #[test]
    fn unknown_policies_are_named() {
        let e = cache_policy("00000000-0000-0000-0000-000000000000").unwrap_err();
        assert!(e.to_string().contains("00000000"), "{e}");
    }
}
