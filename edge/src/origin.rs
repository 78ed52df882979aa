//! The request CloudFront sends to the origin: the values the behavior's policies include,
//! `Host`, CloudFront's own headers, the origin's custom headers, and OAC's SigV4 signature.

use std::net::SocketAddr;
use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE, HOST};
use http::{HeaderMap, Method};

use crate::distribution::Origin;
use crate::policies::{Combined, FORWARDED_PROTO, VIEWER_ADDRESS};

/// Headers that belong to one connection, never forwarded (RFC 9110 section 7.6.1).
pub(crate) fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    )
}

/// Query parameters that change S3's response headers: with a managed origin request policy
/// (every one the edge knows), CloudFront does not forward them to an S3 origin:
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html>
/// (the note at the top of the page).
const S3_WITHHELD_QUERY: [&str; 3] = [
    "response-content-type",
    "response-content-disposition",
    "response-content-encoding",
];

/// The parts of a viewer request the origin request is made from.
#[derive(Debug)]
pub(crate) struct Viewer<'a> {
    pub(crate) method: &'a Method,
    /// The path CloudFront asks the origin for (after the default root object).
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) peer: SocketAddr,
    pub(crate) body: Bytes,
}

/// An origin request ready to send: where it goes, with what.
#[derive(Debug)]
pub(crate) struct OriginRequest {
    pub(crate) url: String,
    pub(crate) request: http::Request<Bytes>,
}

/// Where the edge sends an origin's requests.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// An S3 bucket read through the S3 API at this endpoint (path-style).
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
    },
    /// Any other origin, reached at this base URL (`--origin DOMAIN=URL`).
    Custom { base: String, region: String },
}

/// Builds the origin request for `viewer` under `policy`.
///
/// - Only the headers, cookies and query strings the cache and origin request policies
///   include are forwarded (`policies`).
/// - `Host` is the origin's domain unless the policy forwards the viewer's:
///   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html#request-custom-headers-behavior>
/// - CloudFront adds `X-Forwarded-For` and `Via` to every origin request (same page), and
///   the CloudFront headers the policy names (`CloudFront-Viewer-Address`):
///   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/adding-cloudfront-headers.html>
/// - Origin custom headers are added, replacing a viewer header of the same name:
///   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/add-origin-custom-headers.html>
pub(crate) fn build(
    viewer: &Viewer<'_>,
    policy: &Combined,
    origin: &Origin,
    target: &Target,
    distribution_domain: &str,
) -> Result<OriginRequest, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in viewer.headers {
        if hop_by_hop(name) || name == HOST || name == COOKIE {
            continue;
        }
        if policy.header(name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    let cookies: Vec<&str> = viewer
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| {
            let name = c.split_once('=').map_or(*c, |(n, _)| n);
            !c.is_empty() && policy.cookie(name)
        })
        .collect();
    if !cookies.is_empty() {
        headers.insert(COOKIE, value(&cookies.join("; "))?);
    }
    let s3 = matches!(target, Target::S3 { .. });
    let query: Vec<&str> = viewer
        .query
        .split('&')
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(n, _)| n);
            !p.is_empty() && policy.query(name) && !(s3 && S3_WITHHELD_QUERY.contains(&name))
        })
        .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };

    let ip = viewer.peer.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(before) => format!("{before}, {ip}"),
        None => ip,
    };
    headers.insert("x-forwarded-for", value(&forwarded_for)?);
    headers.insert(
        "via",
        value(&format!("1.1 {distribution_domain} (CloudFront)"))?,
    );
    if policy.cloudfront_header(VIEWER_ADDRESS) {
        headers.insert(
            HeaderName::from_static("cloudfront-viewer-address"),
            value(&format!("{}:{}", viewer.peer.ip(), viewer.peer.port()))?,
        );
    }
    if policy.cloudfront_header(FORWARDED_PROTO) {
        headers.insert(
            HeaderName::from_static("cloudfront-forwarded-proto"),
            HeaderValue::from_static("https"),
        );
    }
    for (name, v) in &origin.custom_headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("origin custom header name {name:?} is not a header name"))?;
        headers.insert(name, value(v)?);
    }

    let path = format!("{}{}", origin.origin_path, viewer.path);
    let (url, host) = match target {
        Target::S3 {
            endpoint, bucket, ..
        } => {
            let endpoint = endpoint.trim_end_matches('/');
            let host = endpoint
                .split_once("://")
                .map_or(endpoint, |(_, h)| h)
                .to_owned();
            (format!("{endpoint}/{bucket}{path}{query}"), host)
        }
        Target::Custom { base, .. } => {
            let host = if policy.header("host") {
                viewer
                    .headers
                    .get(HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(&origin.domain_name)
                    .to_owned()
            } else {
                origin.domain_name.clone()
            };
            (format!("{}{path}{query}", base.trim_end_matches('/')), host)
        }
    };
    headers.insert(HOST, value(&host)?);

    let mut request = http::Request::builder()
        .method(viewer.method.clone())
        .uri(&url)
        .body(viewer.body.clone())
        .map_err(|e| format!("origin request for {url}: {e}"))?;
    *request.headers_mut() = headers;
    Ok(OriginRequest { url, request })
}

fn value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| "a header value is not valid".to_owned())
}

/// Whether origin access control signs this request: `always` does, `never` does not, and
/// `no-override` does unless the viewer sent its own `Authorization` (see [`sign_oac`]).
pub(crate) fn oac_signs(signing_behavior: &str, viewer_authorization: bool) -> bool {
    match signing_behavior {
        "never" => false,
        "no-override" => !viewer_authorization,
        _ => true,
    }
}

/// A `PUT` or `POST` to a Lambda function URL through origin access control must carry the
/// SHA-256 of its body in `x-amz-content-sha256`, because Lambda does not accept unsigned
/// payloads: without it (or with a hash of another body) the signed request fails at the
/// function URL. `Err((reason, message))` names the refusal.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-lambda.html>
pub(crate) fn lambda_payload_hash(viewer: &Viewer<'_>) -> Result<(), (&'static str, String)> {
    if viewer.method != Method::POST && viewer.method != Method::PUT {
        return Ok(());
    }
    let Some(sent) = viewer.headers.get("x-amz-content-sha256") else {
        return Err((
            "missing_payload_hash",
            format!(
                "a {} to a Lambda function URL origin with origin access control must send the body's SHA-256 in x-amz-content-sha256",
                viewer.method
            ),
        ));
    };
    let want = cfcookie_signer::sha256_hex(&viewer.body);
    if sent.to_str().ok() != Some(want.as_str()) {
        return Err((
            "payload_hash_mismatch",
            "x-amz-content-sha256 is not the SHA-256 of the body".to_owned(),
        ));
    }
    Ok(())
}

/// Signs `req` as origin access control does: SigV4 over the request as the origin receives
/// it, in `Authorization`, replacing any `Authorization` the viewer sent (`always`); `never`
/// signs nothing. With `no-override` the viewer's request decides: if it has an
/// `Authorization` header CloudFront signs nothing and passes the viewer's along (which
/// reaches the origin only when a policy forwards it), else it signs.
/// S3: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html#oac-advanced-settings-s3>
/// Lambda: <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-lambda.html#oac-advanced-settings-lambda>
/// The three values: <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_OriginAccessControlConfig.html>
pub(crate) async fn sign_oac(
    req: &mut OriginRequest,
    viewer_authorization: bool,
    signing_behavior: &str,
    origin_type: &str,
    target: &Target,
    origin: &Origin,
    credentials: &SharedCredentialsProvider,
) -> Result<(), String> {
    if !oac_signs(signing_behavior, viewer_authorization) {
        return Ok(());
    }
    req.request.headers_mut().remove(AUTHORIZATION);
    let creds = credentials
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials to sign the origin request: {e}"))?;
    let identity = creds.into();
    let region = match target {
        Target::S3 { region, .. } | Target::Custom { region, .. } => region.as_str(),
    };
    // The OAC origin types (s3, lambda, mediastore, mediapackagev2) are SigV4 service names.
    let service = origin_type;
    let mut settings = SigningSettings::default();
    if service == "s3" {
        // S3 signs the payload hash into x-amz-content-sha256 and takes the path as is.
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    // The signature covers the URL the origin sees: its own domain for a custom origin.
    let signed_url = match target {
        Target::S3 { .. } => req.url.clone(),
        Target::Custom { base, .. } => {
            let rest = req
                .url
                .strip_prefix(base.trim_end_matches('/'))
                .unwrap_or("/");
            format!("https://{}{rest}", origin.domain_name)
        }
    };
    let headers: Vec<(&str, &str)> = req
        .request
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    let body = req.request.body().clone();
    let signable = SignableRequest::new(
        req.request.method().as_str(),
        signed_url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&body),
    )
    .map_err(|e| format!("request cannot be signed: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing failed: {e}"))?
        .into_parts();
    instructions.apply_to_request_http1x(&mut req.request);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn lambda_origin() -> Origin {
        Origin {
            id: "app".into(),
            domain_name: "abc.lambda-url.us-east-1.on.aws".into(),
            origin_path: String::new(),
            custom_headers: Vec::new(),
            access_control: None,
        }
    }

    /// An origin request for `/a` with the `Authorization` a policy forwarded, if any.
    fn request(forwarded_authorization: Option<&str>) -> OriginRequest {
        let mut b = http::Request::builder()
            .uri("http://127.0.0.1:9/a")
            .header(HOST, "abc.lambda-url.us-east-1.on.aws");
        if let Some(a) = forwarded_authorization {
            b = b.header(AUTHORIZATION, a);
        }
        OriginRequest {
            url: "http://127.0.0.1:9/a".into(),
            request: b.body(Bytes::new()).expect("request"),
        }
    }

    async fn signed(
        mut req: OriginRequest,
        viewer_authorization: bool,
        behavior: &str,
    ) -> Option<String> {
        let target = Target::Custom {
            base: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
        };
        let creds =
            SharedCredentialsProvider::new(Credentials::new("AKID", "SECRET", None, None, "test"));
        sign_oac(
            &mut req,
            viewer_authorization,
            behavior,
            "lambda",
            &target,
            &lambda_origin(),
            &creds,
        )
        .await
        .expect("signs");
        req.request
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().expect("ascii").to_owned())
    }

    #[test]
    fn s3_origins_do_not_get_the_response_header_query_parameters() {
        use crate::policies::{cache_policy, origin_request_policy, ALL_VIEWER, CACHING_DISABLED};
        let policy = Combined::new(
            cache_policy(CACHING_DISABLED).expect("managed"),
            origin_request_policy(ALL_VIEWER).expect("managed"),
        );
        let headers = HeaderMap::new();
        let viewer = Viewer {
            method: &Method::GET,
            path: "/a.txt",
            query: "x=1&response-content-type=text/html&response-content-disposition=inline&response-content-encoding=gzip&y=2",
            headers: &headers,
            peer: "127.0.0.1:9".parse().expect("addr"),
            body: Bytes::new(),
        };
        let s3 = Target::S3 {
            endpoint: "http://127.0.0.1:9".into(),
            bucket: "b".into(),
            region: "us-east-1".into(),
        };
        let custom = Target::Custom {
            base: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
        };
        let url = |t: &Target| {
            build(&viewer, &policy, &lambda_origin(), t, "d.cloudfront.net")
                .expect("builds")
                .url
        };
        assert_eq!(url(&s3), "http://127.0.0.1:9/b/a.txt?x=1&y=2");
        // Other origins get them, as the policy includes all query strings.
        assert_eq!(
            url(&custom),
            format!("http://127.0.0.1:9/a.txt?{}", viewer.query)
        );
    }

    #[tokio::test]
    async fn signing_behaviors_as_documented() {
        const SIGNED: Option<&str> = Some("AWS4-HMAC-SHA256 ");
        // (Authorization a policy forwarded, the viewer sent one, behavior, what reaches the
        // origin: SIGNED for a SigV4 signature, else exactly this).
        let cases = [
            // always: signs, replacing the viewer's Authorization.
            (Some("Bearer v"), true, "always", SIGNED),
            // never: nothing signed, the forwarded Authorization left as it is.
            (Some("Bearer v"), true, "never", Some("Bearer v")),
            (None, false, "never", None),
            // no-override: the viewer's Authorization passes along when a policy forwards it,
            (Some("Bearer v"), true, "no-override", Some("Bearer v")),
            // a viewer request with one is not signed even when no policy forwards it,
            (None, true, "no-override", None),
            // and one without is signed.
            (None, false, "no-override", SIGNED),
        ];
        for (forwarded, viewer, behavior, want) in cases {
            let got = signed(request(forwarded), viewer, behavior).await;
            let ok = match want {
                SIGNED => got
                    .as_deref()
                    .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 ")),
                _ => got.as_deref() == want,
            };
            assert!(
                ok,
                "{behavior}, forwarded {forwarded:?}, viewer's {viewer}: {got:?}"
            );
        }
    }
}
