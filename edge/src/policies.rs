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

/// Managed-CachingOptimized: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html#managed-cache-caching-optimized>
pub(crate) const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// Managed-CachingDisabled: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html#managed-cache-policy-caching-disabled>
pub(crate) const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// Managed-CachingOptimizedForUncompressedObjects:
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html#managed-cache-caching-optimized-uncompressed>
pub(crate) const CACHING_OPTIMIZED_UNCOMPRESSED: &str = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d";
/// Managed-AllViewer: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-all-viewer>
pub(crate) const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
/// Managed-AllViewerAndCloudFrontHeaders-2022-06:
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-all-viewer-and-cloudfront>
pub(crate) const ALL_VIEWER_AND_CLOUDFRONT_HEADERS: &str = "33f36d7e-f396-46d9-90e0-52428a34d9dc";
/// Managed-AllViewerExceptHostHeader:
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-all-viewer-except-host-header>
pub(crate) const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";
/// Managed-CORS-S3Origin: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-cors-s3>
pub(crate) const CORS_S3_ORIGIN: &str = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf";
/// Managed-CORS-CustomOrigin: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-cors-custom>
pub(crate) const CORS_CUSTOM_ORIGIN: &str = "59781a5b-3903-41f3-afcb-af62929ccde1";
/// Managed-UserAgentRefererHeaders:
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-user-agent-referer>
pub(crate) const USER_AGENT_REFERER: &str = "acba4595-bd28-49b8-b9fe-13317c0390fa";

/// The CloudFront headers AllViewerAndCloudFrontHeaders-2022-06 includes, as its page lists
/// them (those released through June 2022):
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-all-viewer-and-cloudfront>
/// The edge can give values only to `CloudFront-Viewer-Address` and
/// `CloudFront-Forwarded-Proto` (`origin::build`); it has no device detection or geolocation.
const CLOUDFRONT_HEADERS_2022_06: [&str; 21] = [
    "CloudFront-Forwarded-Proto",
    "CloudFront-Is-Android-Viewer",
    "CloudFront-Is-Desktop-Viewer",
    "CloudFront-Is-IOS-Viewer",
    "CloudFront-Is-Mobile-Viewer",
    "CloudFront-Is-SmartTV-Viewer",
    "CloudFront-Is-Tablet-Viewer",
    "CloudFront-Viewer-Address",
    "CloudFront-Viewer-ASN",
    "CloudFront-Viewer-City",
    "CloudFront-Viewer-Country",
    "CloudFront-Viewer-Country-Name",
    "CloudFront-Viewer-Country-Region",
    "CloudFront-Viewer-Country-Region-Name",
    "CloudFront-Viewer-Http-Version",
    "CloudFront-Viewer-Latitude",
    "CloudFront-Viewer-Longitude",
    "CloudFront-Viewer-Metro-Code",
    "CloudFront-Viewer-Postal-Code",
    "CloudFront-Viewer-Time-Zone",
    "CloudFront-Viewer-TLS",
];

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
/// include no query string, header or cookie; CachingOptimized adds only the normalized
/// `Accept-Encoding`, which the edge does not model (no compression). Each on its page,
/// linked next to its id above.
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

/// What an origin request policy includes, as "Use managed origin request policies" lists it
/// for each policy (the link next to each id above).
pub(crate) fn origin_request_policy(id: &str) -> Result<Forwarding, UnknownPolicy> {
    Ok(match id {
        "" => Forwarding::NOTHING,
        // "All headers in the viewer request"; cookies and query strings: all.
        ALL_VIEWER => Forwarding {
            headers: Select::All,
            cloudfront_headers: Vec::new(),
            cookies: Select::All,
            query_strings: Select::All,
        },
        // All viewer headers "and the following CloudFront headers"; cookies, query strings: all.
        ALL_VIEWER_AND_CLOUDFRONT_HEADERS => Forwarding {
            headers: Select::All,
            cloudfront_headers: CLOUDFRONT_HEADERS_2022_06.to_vec(),
            cookies: Select::All,
            query_strings: Select::All,
        },
        // "All headers in the viewer request except for the Host header"; cookies, query
        // strings: all. It names no CloudFront header, so none is added (no
        // CloudFront-Viewer-Address, no CloudFront-Forwarded-Proto).
        ALL_VIEWER_EXCEPT_HOST => Forwarding {
            headers: Select::AllExcept(vec!["Host"]),
            cloudfront_headers: Vec::new(),
            cookies: Select::All,
            query_strings: Select::All,
        },
        // Headers `Origin`, `Access-Control-Request-Headers`, `Access-Control-Request-Method`;
        // cookies, query strings: none.
        CORS_S3_ORIGIN => Forwarding {
            headers: Select::Only(vec![
                "Origin",
                "Access-Control-Request-Headers",
                "Access-Control-Request-Method",
            ]),
            ..Forwarding::NOTHING
        },
        // Header `Origin`; cookies, query strings: none.
        CORS_CUSTOM_ORIGIN => Forwarding {
            headers: Select::Only(vec!["Origin"]),
            ..Forwarding::NOTHING
        },
        // Headers `User-Agent`, `Referer`; cookies, query strings: none.
        USER_AGENT_REFERER => Forwarding {
            headers: Select::Only(vec!["User-Agent", "Referer"]),
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
        // The policy names no CloudFront header.
        assert!(!c.cloudfront_header(VIEWER_ADDRESS));
        assert!(!c.cloudfront_header(FORWARDED_PROTO));
    }

    #[test]
    fn all_viewer_and_cloudfront_headers_adds_the_listed_cloudfront_headers() {
        let c = Combined::new(
            cache_policy(CACHING_DISABLED).expect("managed"),
            origin_request_policy(ALL_VIEWER_AND_CLOUDFRONT_HEADERS).expect("managed"),
        );
        assert!(c.header("Host") && c.cookie("session") && c.query("a"));
        assert!(c.cloudfront_header(VIEWER_ADDRESS));
        assert!(c.cloudfront_header(FORWARDED_PROTO));
        assert!(c.cloudfront_header("cloudfront-viewer-country"));
        // Released in February 2023, after the policy's list was fixed.
        assert!(!c.cloudfront_header("CloudFront-Viewer-Header-Order"));
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
