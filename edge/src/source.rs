//! Reading the distribution, its origin access controls, key groups and public keys through
//! the CloudFront API (the AWS SDK for Rust; `AWS_ENDPOINT_URL` points it at an emulator).

use aws_sdk_cloudfront::Client;

use crate::distribution::{AccessControl, Behavior, CustomErrorResponse, Distribution, Origin};
use crate::keys::{GroupKeys, Snapshot};
use crate::response_headers::ResponseHeadersPolicy;
use crate::EdgeError;

fn api(what: String) -> impl FnOnce(aws_sdk_cloudfront::Error) -> EdgeError {
    move |e| EdgeError::CloudFront {
        what,
        source: Box::new(e),
    }
}

/// `GetDistribution`, then `GetOriginAccessControl` for each origin that names one.
pub(crate) async fn read_distribution(
    client: &Client,
    id: &str,
) -> Result<Distribution, EdgeError> {
    let out = client
        .get_distribution()
        .id(id)
        .send()
        .await
        .map_err(|e| api(format!("GetDistribution {id}"))(e.into()))?;
    let dist = out.distribution().ok_or_else(|| {
        EdgeError::Config(format!("GetDistribution {id} returned no distribution"))
    })?;
    let config = dist
        .distribution_config()
        .ok_or_else(|| EdgeError::Config(format!("distribution {id} has no DistributionConfig")))?;

    let mut origins = Vec::new();
    for o in config.origins().map(|o| o.items()).unwrap_or_default() {
        let access_control = match o.origin_access_control_id().filter(|s| !s.is_empty()) {
            None => None,
            Some(oac_id) => {
                let out = client
                    .get_origin_access_control()
                    .id(oac_id)
                    .send()
                    .await
                    .map_err(|e| api(format!("GetOriginAccessControl {oac_id}"))(e.into()))?;
                let cfg = out
                    .origin_access_control()
                    .and_then(|c| c.origin_access_control_config())
                    .ok_or_else(|| {
                        EdgeError::Config(format!("origin access control {oac_id} has no config"))
                    })?;
                Some(AccessControl {
                    origin_type: cfg.origin_access_control_origin_type().as_str().to_owned(),
                    signing_behavior: cfg.signing_behavior().as_str().to_owned(),
                })
            }
        };
        origins.push(Origin {
            id: o.id().to_owned(),
            domain_name: o.domain_name().to_owned(),
            origin_path: o.origin_path().unwrap_or_default().to_owned(),
            custom_headers: o
                .custom_headers()
                .map(|h| h.items())
                .unwrap_or_default()
                .iter()
                .map(|h| (h.header_name().to_owned(), h.header_value().to_owned()))
                .collect(),
            access_control,
        });
    }

    let mut behaviors = Vec::new();
    for b in config
        .cache_behaviors()
        .map(|c| c.items())
        .unwrap_or_default()
    {
        behaviors.push(Behavior {
            path_pattern: Some(b.path_pattern().to_owned()),
            target_origin_id: b.target_origin_id().to_owned(),
            allowed_methods: methods(b.allowed_methods()),
            trusted_key_groups: key_groups(
                b.path_pattern(),
                b.trusted_key_groups(),
                b.trusted_signers(),
            )?,
            cache_policy_id: b.cache_policy_id().unwrap_or_default().to_owned(),
            origin_request_policy_id: b.origin_request_policy_id().unwrap_or_default().to_owned(),
            response_headers_policy_id: b
                .response_headers_policy_id()
                .unwrap_or_default()
                .to_owned(),
        });
    }
    let d = config.default_cache_behavior().ok_or_else(|| {
        EdgeError::Config(format!("distribution {id} has no default cache behavior"))
    })?;
    behaviors.push(Behavior {
        path_pattern: None,
        target_origin_id: d.target_origin_id().to_owned(),
        allowed_methods: methods(d.allowed_methods()),
        trusted_key_groups: key_groups(
            "the default behavior",
            d.trusted_key_groups(),
            d.trusted_signers(),
        )?,
        cache_policy_id: d.cache_policy_id().unwrap_or_default().to_owned(),
        origin_request_policy_id: d.origin_request_policy_id().unwrap_or_default().to_owned(),
        response_headers_policy_id: d
            .response_headers_policy_id()
            .unwrap_or_default()
            .to_owned(),
    });

    Ok(Distribution {
        id: id.to_owned(),
        domain_name: dist.domain_name().to_owned(),
        aliases: config
            .aliases()
            .map(|a| a.items().to_vec())
            .unwrap_or_default(),
        default_root_object: config.default_root_object().unwrap_or_default().to_owned(),
        origins,
        behaviors,
        custom_error_responses: config
            .custom_error_responses()
            .map(|c| c.items())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| {
                Some(CustomErrorResponse {
                    error_code: u16::try_from(r.error_code()).ok()?,
                    response_page_path: r
                        .response_page_path()
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned),
                    response_code: r.response_code().and_then(|c| c.parse().ok()),
                })
            })
            .collect(),
    })
}

/// Without `AllowedMethods`, a behavior takes GET and HEAD.
/// <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_AllowedMethods.html>
fn methods(m: Option<&aws_sdk_cloudfront::types::AllowedMethods>) -> Vec<String> {
    match m {
        Some(m) => m.items().iter().map(|m| m.as_str().to_owned()).collect(),
        None => vec!["GET".into(), "HEAD".into()],
    }
}

/// The key groups a behavior trusts. A behavior restricted some other way the edge does not
/// model (legacy trusted signers, the account's CloudFront key pairs), or one whose key groups
/// are enabled with none in them, stops the edge at start: served as public, its content would
/// be open here where CloudFront keeps it private.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-trusted-signers.html>
fn key_groups(
    behavior: &str,
    groups: Option<&aws_sdk_cloudfront::types::TrustedKeyGroups>,
    signers: Option<&aws_sdk_cloudfront::types::TrustedSigners>,
) -> Result<Vec<String>, EdgeError> {
    if signers.is_some_and(|s| s.enabled()) {
        return Err(EdgeError::Config(format!(
            "{behavior} restricts viewers with trusted signers (CloudFront key pairs), which the edge does not model; use a trusted key group"
        )));
    }
    match groups {
        Some(g) if g.enabled() && g.items().is_empty() => Err(EdgeError::Config(format!(
            "{behavior} enables trusted key groups but names none"
        ))),
        Some(g) if g.enabled() => Ok(g.items().to_vec()),
        _ => Ok(Vec::new()),
    }
}

/// `GetKeyGroup` for each id, then `GetPublicKey` for each key: the groups as CloudFront holds
/// them now.
pub(crate) async fn read_key_groups(
    client: &Client,
    ids: &[String],
) -> Result<Snapshot, EdgeError> {
    let mut snapshot = Snapshot::new();
    for id in ids {
        let out = client
            .get_key_group()
            .id(id)
            .send()
            .await
            .map_err(|e| api(format!("GetKeyGroup {id}"))(e.into()))?;
        let items = out
            .key_group()
            .and_then(|g| g.key_group_config())
            .map(|c| c.items().to_vec())
            .unwrap_or_default();
        let mut keys = GroupKeys::new();
        for key_id in items {
            let out = client
                .get_public_key()
                .id(&key_id)
                .send()
                .await
                .map_err(|e| api(format!("GetPublicKey {key_id}"))(e.into()))?;
            let pem = out
                .public_key()
                .and_then(|k| k.public_key_config())
                .map(|c| c.encoded_key().to_owned())
                .unwrap_or_default();
            keys.insert(key_id, pem);
        }
        snapshot.insert(id.clone(), keys);
    }
    Ok(snapshot)
}

/// `GetResponseHeadersPolicy`.
pub(crate) async fn read_response_headers_policy(
    client: &Client,
    id: &str,
) -> Result<ResponseHeadersPolicy, EdgeError> {
    let out = client
        .get_response_headers_policy()
        .id(id)
        .send()
        .await
        .map_err(|e| api(format!("GetResponseHeadersPolicy {id}"))(e.into()))?;
    let config = out
        .response_headers_policy()
        .and_then(|p| p.response_headers_policy_config())
        .ok_or_else(|| EdgeError::Config(format!("response headers policy {id} has no config")))?;
    Ok(ResponseHeadersPolicy::from_sdk(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudfront::types::{TrustedKeyGroups, TrustedSigners};

    fn groups(enabled: bool, items: &[&str]) -> TrustedKeyGroups {
        TrustedKeyGroups::builder()
            .enabled(enabled)
            .quantity(items.len() as i32)
            .set_items(Some(items.iter().map(|i| (*i).to_owned()).collect()))
            .build()
            .expect("key groups")
    }

    #[test]
    fn a_behavior_the_edge_cannot_protect_stops_it_rather_than_open() {
        let signers = TrustedSigners::builder()
            .enabled(true)
            .quantity(1)
            .items("self")
            .build()
            .expect("signers");
        let err = key_groups("/private/*", None, Some(&signers)).expect_err("trusted signers");
        assert!(err.to_string().contains("trusted signers"), "{err}");
        let err = key_groups("/private/*", Some(&groups(true, &[])), None).expect_err("none named");
        assert!(err.to_string().contains("names none"), "{err}");
        assert_eq!(
            key_groups("/p/*", Some(&groups(true, &["kg"])), None).expect("one group"),
            ["kg"]
        );
        assert!(key_groups("/p/*", Some(&groups(false, &[])), None)
            .expect("public")
            .is_empty());
    }
}
