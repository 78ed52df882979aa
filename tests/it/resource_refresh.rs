//! The endpoint re-reads its resource template (CFCOOKIE_RESOURCE_PARAMETER) while it runs:
//! Terraform rewrites the parameter when the media domain changes, and a warm Lambda instance
//! must not keep minting cookies for the old host.

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;

use crate::endpoint::env;
use crate::util::root;

const PARAM: &str = "/stack/cfcookie/resource";

async fn put(ssm: &aws_sdk_ssm::Client, value: &str) {
    ssm.put_parameter()
        .name(PARAM)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put parameter");
}

fn endpoint_env(
    emu: &cfcookie_testing::emulator::Emulator,
) -> std::collections::HashMap<String, String> {
    // nextest runs each test in its own process, so setting the AWS environment here is safe.
    for (k, v) in emu.env() {
        std::env::set_var(k, v);
    }
    let key = root()
        .join("signer/tests/data/rsa2048.pkcs8.pem")
        .display()
        .to_string();
    let mut e = env(&[
        ("CFCOOKIE_RESOURCE_PARAMETER", PARAM),
        ("CFCOOKIE_KEY_FILE", &key),
        ("CFCOOKIE_KEY_PAIR_ID", "K2JCJMDEHXQW5F"),
        ("CFCOOKIE_KEY_CACHE_TTL", "1"),
    ]);
    e.remove("CFCOOKIE_RESOURCE");
    e.remove("CFCOOKIE_ALLOWED_HOSTS");
    e.insert(
        "CFCOOKIE_JWKS_URL".into(),
        format!("{}/nope/jwks.json", emu.endpoint()),
    );
    e
}

/// A running endpoint picks up a changed parameter by itself (the refresh task), without a
/// restart.
#[tokio::test]
async fn a_changed_parameter_reaches_a_running_endpoint() {
    let emu = cfcookie_testing::emulator::Emulator::start();
    let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config().await);
    put(&ssm, "https://d1old.cloudfront.net/*").await;
    let ep = cfcookie_endpoint::wiring::endpoint_from_env(&endpoint_env(&emu))
        .await
        .expect("endpoint");
    assert_eq!(ep.config.resource, "https://d1old.cloudfront.net/*");
    put(&ssm, "https://media.example.com/*").await;
    // Polls for the effect (the task runs every CFCOOKIE_KEY_CACHE_TTL = 1 s); the deadline only
    // bounds a broken run, it asserts nothing about speed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = ep.config.resource.get();
        if now == "https://media.example.com/*" {
            break;
        }
        assert!(Instant::now() < deadline, "the endpoint still uses {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new value is held to the start-up checks: one that fails them leaves the template in use;
/// a failed read does too.
#[tokio::test]
async fn a_bad_new_template_or_a_failed_read_keeps_the_one_in_use() {
    let emu = cfcookie_testing::emulator::Emulator::start();
    let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config().await);
    put(&ssm, "https://d1old.cloudfront.net/*").await;
    let mut e = endpoint_env(&emu);
    e.insert("CFCOOKIE_KEY_CACHE_TTL".into(), "3600".into());
    let ep = cfcookie_endpoint::wiring::endpoint_from_env(&e)
        .await
        .expect("endpoint");
    let refresh = |e: std::collections::HashMap<String, String>| {
        let (ssm, resource) = (ssm.clone(), ep.config.resource.clone());
        async move {
            cfcookie_endpoint::wiring::refresh_resource(
                &cfcookie_config::Env::from_map(&e),
                &ssm,
                PARAM,
                &resource,
            )
            .await
        }
    };
    // {host} without CFCOOKIE_ALLOWED_HOSTS is refused at start-up, so also here.
    put(&ssm, "https://{host}/*").await;
    refresh(e.clone()).await;
    assert_eq!(ep.config.resource, "https://d1old.cloudfront.net/*");
    let mut missing = e.clone();
    missing.insert("CFCOOKIE_RESOURCE_PARAMETER".into(), "/missing".into());
    cfcookie_endpoint::wiring::refresh_resource(
        &cfcookie_config::Env::from_map(&missing),
        &ssm,
        "/missing",
        &ep.config.resource,
    )
    .await;
    assert_eq!(ep.config.resource, "https://d1old.cloudfront.net/*");
    put(&ssm, "https://media.example.com/users/{sub}/*").await;
    refresh(e.clone()).await;
    assert_eq!(
        ep.config.resource,
        "https://media.example.com/users/{sub}/*"
    );
}

/// A template read from the parameter is held to the same checks as `CFCOOKIE_RESOURCE`, and the
/// error names the parameter's setting: a claim that is not a whole path segment stops the
/// endpoint at start-up and is kept out by a refresh.
#[tokio::test]
async fn a_claim_not_bounded_by_slashes_is_refused_from_the_parameter_too() {
    let emu = cfcookie_testing::emulator::Emulator::start();
    let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config().await);
    let widening = "https://media.example.com/u/{username}*";
    put(&ssm, widening).await;
    let mut e = endpoint_env(&emu);
    e.insert("CFCOOKIE_KEY_CACHE_TTL".into(), "3600".into());
    let err = cfcookie_endpoint::wiring::endpoint_from_env(&e)
        .await
        .map(|_| ())
        .expect_err("a widening template from SSM");
    assert!(
        matches!(err, cfcookie_endpoint::wiring::WiringError::Config(_)),
        "{err}"
    );
    let err = err.to_string();
    assert!(
        err.starts_with("CFCOOKIE_RESOURCE_PARAMETER:") && err.contains("whole path segment"),
        "{err}"
    );
    put(&ssm, "https://media.example.com/u/{username}/*").await;
    let ep = cfcookie_endpoint::wiring::endpoint_from_env(&e)
        .await
        .expect("endpoint");
    put(&ssm, widening).await;
    cfcookie_endpoint::wiring::refresh_resource(
        &cfcookie_config::Env::from_map(&e),
        &ssm,
        PARAM,
        &ep.config.resource,
    )
    .await;
    assert_eq!(
        ep.config.resource,
        "https://media.example.com/u/{username}/*"
    );
}
