//! Response headers policies: CORS and security headers added to what the origin answered.
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/understanding-response-headers-policies.html>

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};

/// A response headers policy, reduced to what the edge applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResponseHeadersPolicy {
    pub(crate) cors: Option<Cors>,
    /// (header, value, override the origin's).
    pub(crate) headers: Vec<(String, String, bool)>,
}

/// The CORS part of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cors {
    pub(crate) allow_origins: Vec<String>,
    pub(crate) allow_credentials: bool,
    pub(crate) allow_headers: Vec<String>,
    pub(crate) allow_methods: Vec<String>,
    pub(crate) expose_headers: Vec<String>,
    pub(crate) max_age: Option<i32>,
    pub(crate) origin_override: bool,
}

impl ResponseHeadersPolicy {
    /// Reads the SDK's policy config.
    pub(crate) fn from_sdk(
        config: &aws_sdk_cloudfront::types::ResponseHeadersPolicyConfig,
    ) -> ResponseHeadersPolicy {
        let cors = config.cors_config().map(|c| Cors {
            allow_origins: c
                .access_control_allow_origins()
                .map(|o| o.items().to_vec())
                .unwrap_or_default(),
            allow_credentials: c.access_control_allow_credentials(),
            allow_headers: c
                .access_control_allow_headers()
                .map(|h| h.items().to_vec())
                .unwrap_or_default(),
            allow_methods: c
                .access_control_allow_methods()
                .map(|m| m.items().iter().map(|m| m.as_str().to_owned()).collect())
                .unwrap_or_default(),
            expose_headers: c
                .access_control_expose_headers()
                .map(|h| h.items().to_vec())
                .unwrap_or_default(),
            max_age: c.access_control_max_age_sec(),
            origin_override: c.origin_override(),
        });
        let mut headers = Vec::new();
        if let Some(s) = config.security_headers_config() {
            if let Some(o) = s.content_type_options() {
                headers.push((
                    "x-content-type-options".into(),
                    "nosniff".into(),
                    o.r#override(),
                ));
            }
            if let Some(o) = s.frame_options() {
                headers.push((
                    "x-frame-options".into(),
                    o.frame_option().as_str().to_owned(),
                    o.r#override(),
                ));
            }
            if let Some(o) = s.referrer_policy() {
                headers.push((
                    "referrer-policy".into(),
                    o.referrer_policy().as_str().to_owned(),
                    o.r#override(),
                ));
            }
            if let Some(o) = s.strict_transport_security() {
                let mut v = format!("max-age={}", o.access_control_max_age_sec());
                if o.include_subdomains() == Some(true) {
                    v.push_str("; includeSubDomains");
                }
                if o.preload() == Some(true) {
                    v.push_str("; preload");
                }
                headers.push(("strict-transport-security".into(), v, o.r#override()));
            }
        }
        if let Some(c) = config.custom_headers_config() {
            for h in c.items() {
                headers.push((h.header().to_owned(), h.value().to_owned(), h.r#override()));
            }
        }
        ResponseHeadersPolicy { cors, headers }
    }

    /// Adds the policy's headers to a response for a request with `method` and `request`
    /// headers. A header the origin set is kept unless the policy overrides it. CORS headers
    /// are added only for a request whose `Origin` is allowed; the preflight headers only to
    /// the answer of a preflight (`OPTIONS` with `Access-Control-Request-Method`).
    pub(crate) fn apply(&self, method: &Method, request: &HeaderMap, response: &mut HeaderMap) {
        let mut set = |name: &str, value: &str, over: bool| {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                return;
            };
            if over || !response.contains_key(&name) {
                response.insert(name, value);
            }
        };
        for (name, value, over) in &self.headers {
            set(name, value, *over);
        }
        let Some(cors) = &self.cors else { return };
        let Some(origin) = request.get("origin").and_then(|v| v.to_str().ok()) else {
            return;
        };
        let any = cors.allow_origins.iter().any(|o| o == "*");
        if !any && !cors.allow_origins.iter().any(|o| o == origin) {
            return;
        }
        let over = cors.origin_override;
        set(
            "access-control-allow-origin",
            if any && !cors.allow_credentials {
                "*"
            } else {
                origin
            },
            over,
        );
        if cors.allow_credentials {
            set("access-control-allow-credentials", "true", over);
        }
        if !cors.expose_headers.is_empty() {
            set(
                "access-control-expose-headers",
                &cors.expose_headers.join(", "),
                over,
            );
        }
        if method == Method::OPTIONS && request.contains_key("access-control-request-method") {
            set(
                "access-control-allow-methods",
                &cors.allow_methods.join(", "),
                over,
            );
            if !cors.allow_headers.is_empty() {
                set(
                    "access-control-allow-headers",
                    &cors.allow_headers.join(", "),
                    over,
                );
            }
            if let Some(age) = cors.max_age {
                set("access-control-max-age", &age.to_string(), over);
            }
        }
    }
}
