//! The distribution as the edge serves it: origins, behaviors in order, the default root
//! object. Built from what the CloudFront API returns (`source`), or by hand in tests.

use cfcookie_signer::wildcard_match;

/// One distribution: what `GetDistribution` says, reduced to what the edge models.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Distribution {
    /// Distribution id (`E2…`).
    pub id: String,
    /// `d111111abcdef8.cloudfront.net`.
    pub domain_name: String,
    /// Alternate domain names (CNAMEs).
    pub aliases: Vec<String>,
    /// `index.html`, or empty.
    pub default_root_object: String,
    /// Origins by id.
    pub origins: Vec<Origin>,
    /// The cache behaviors in the order CloudFront evaluates them, the default one last.
    pub behaviors: Vec<Behavior>,
    /// Custom error responses.
    pub custom_error_responses: Vec<CustomErrorResponse>,
}

/// What CloudFront answers instead of an origin's error status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustomErrorResponse {
    /// The origin's status this applies to.
    pub error_code: u16,
    /// The page to answer with, if any.
    pub response_page_path: Option<String>,
    /// The status to answer with (the origin's when unset).
    pub response_code: Option<u16>,
}

/// Where an origin lives and how CloudFront reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Origin {
    /// Origin id, as behaviors name it.
    pub id: String,
    /// Its domain name (`bucket.s3.us-east-1.amazonaws.com`, `xyz.lambda-url.….on.aws`).
    pub domain_name: String,
    /// Prefix CloudFront puts before the request path.
    pub origin_path: String,
    /// Headers CloudFront adds to every request to this origin.
    pub custom_headers: Vec<(String, String)>,
    /// The origin access control, if any.
    pub access_control: Option<AccessControl>,
}

/// An origin access control (`GetOriginAccessControl`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessControl {
    /// `s3`, `lambda`, `mediastore`, `mediapackagev2`.
    pub origin_type: String,
    /// `always`, `never` or `no-override`.
    pub signing_behavior: String,
}

/// One cache behavior.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Behavior {
    /// `None` for the default behavior (`*`).
    pub path_pattern: Option<String>,
    /// Origin id requests go to.
    pub target_origin_id: String,
    /// `GET`, `HEAD`, … as configured.
    pub allowed_methods: Vec<String>,
    /// Key group ids; empty: the behavior is public.
    pub trusted_key_groups: Vec<String>,
    /// Cache policy id (empty when the legacy `ForwardedValues` are used).
    pub cache_policy_id: String,
    /// Origin request policy id, or empty.
    pub origin_request_policy_id: String,
    /// Response headers policy id, or empty.
    pub response_headers_policy_id: String,
}

impl Behavior {
    /// Whether this behavior applies to `path` (the request path, starting with `/`).
    ///
    /// CloudFront's path pattern: `*` any run of characters, `?` exactly one, case-sensitive;
    /// the leading `/` is optional and means the same; the default behavior's `*` matches all.
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern>
    pub fn matches(&self, path: &str) -> bool {
        let Some(pattern) = &self.path_pattern else {
            return true;
        };
        let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
        let path = path.strip_prefix('/').unwrap_or(path);
        wildcard_match(pattern, path)
    }

    /// Whether the behavior takes `method`.
    ///
    /// A method outside the behavior's allowed methods is refused with 403:
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-403-invalid-method.html>
    pub fn allows(&self, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
    }
}

impl Distribution {
    /// The behavior for `path`: the first cache behavior whose pattern matches, in the order
    /// of the distribution's configuration, else the default (always last).
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html>
    pub fn behavior_for(&self, path: &str) -> Option<&Behavior> {
        self.behaviors.iter().find(|b| b.matches(path))
    }

    /// The origin with this id.
    pub fn origin(&self, id: &str) -> Option<&Origin> {
        self.origins.iter().find(|o| o.id == id)
    }

    /// Every key group id any behavior trusts, each once.
    pub fn key_group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for b in &self.behaviors {
            for id in &b.trusted_key_groups {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        ids
    }
}

impl Origin {
    /// The bucket and region of an S3 REST origin (`bucket.s3.amazonaws.com`,
    /// `bucket.s3.REGION.amazonaws.com`, `bucket.s3-REGION.amazonaws.com`); `None` for any
    /// other origin.
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistS3AndCustomOrigins.html>
    pub fn s3_bucket(&self) -> Option<(String, Option<String>)> {
        let host = self.domain_name.strip_suffix(".amazonaws.com")?;
        let (bucket, rest) = host.split_once(".s3")?;
        let region = match rest {
            "" => None,
            r => {
                let r = r.trim_start_matches(['.', '-']);
                (!r.is_empty()).then(|| r.to_owned())
            }
        };
        (!bucket.is_empty()).then(|| (bucket.to_owned(), region))
    }

    /// The region in a Lambda function URL's domain (`ID.lambda-url.REGION.on.aws`).
    pub fn lambda_region(&self) -> Option<String> {
        let rest = self.domain_name.split_once(".lambda-url.")?.1;
        rest.strip_suffix(".on.aws").map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behavior(pattern: Option<&str>) -> Behavior {
        Behavior {
            path_pattern: pattern.map(str::to_owned),
            target_origin_id: "o".into(),
            allowed_methods: vec!["GET".into(), "HEAD".into()],
            trusted_key_groups: vec![],
            cache_policy_id: String::new(),
            origin_request_policy_id: String::new(),
            response_headers_policy_id: String::new(),
        }
    }

    #[test]
    fn path_patterns_follow_cloudfront() {
        let b = behavior(Some("/images/*.jpg"));
        assert!(b.matches("/images/a/b.jpg"));
        assert!(!b.matches("/Images/a.jpg"), "case-sensitive");
        assert!(behavior(Some("images/*.jpg")).matches("/images/x.jpg"));
        let q = behavior(Some("/img?.png"));
        assert!(q.matches("/img1.png"));
        assert!(!q.matches("/img12.png"));
        assert!(behavior(None).matches("/anything"));
    }

    #[test]
    fn first_matching_behavior_wins_default_last() {
        let d = Distribution {
            id: "E1".into(),
            domain_name: "d.cloudfront.net".into(),
            aliases: vec![],
            default_root_object: String::new(),
            origins: vec![],
            behaviors: vec![
                behavior(Some("/a/b/*")),
                behavior(Some("/a/*")),
                behavior(None),
            ],
            custom_error_responses: vec![],
        };
        let pattern = |p: &str| d.behavior_for(p).and_then(|b| b.path_pattern.clone());
        assert_eq!(pattern("/a/b/c").as_deref(), Some("/a/b/*"));
        assert_eq!(pattern("/a/c").as_deref(), Some("/a/*"));
        assert_eq!(pattern("/c"), None);
    }

    #[test]
    fn s3_and_lambda_domains() {
        let o = |d: &str| Origin {
            id: "o".into(),
            domain_name: d.into(),
            origin_path: String::new(),
            custom_headers: vec![],
            access_control: None,
        };
        assert_eq!(
            o("media.s3.eu-west-1.amazonaws.com").s3_bucket(),
            Some(("media".into(), Some("eu-west-1".into())))
        );
        assert_eq!(
            o("media.s3.amazonaws.com").s3_bucket(),
            Some(("media".into(), None))
        );
        assert_eq!(o("abc.lambda-url.us-east-1.on.aws").s3_bucket(), None);
        assert_eq!(
            o("abc.lambda-url.us-east-1.on.aws")
                .lambda_region()
                .as_deref(),
            Some("us-east-1")
        );
    }
}
