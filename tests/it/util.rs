//! Helpers shared by the integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Path of the built `cfcookie` binary.
pub fn cfcookie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cfcookie"))
}

/// Runs `cmd`, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("spawn");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Fails (never skips) when an external tool the test needs is not installed.
pub fn require(tool: &str, probe: &[&str]) {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{tool} {}` failed: this test needs {tool}; run scripts/test, which installs it",
        probe.join(" ")
    );
}

/// Workspace root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Decodes CloudFront base64.
pub fn cf_decode(s: &str) -> Vec<u8> {
    cfcookie::signer::encoding::decode(s).expect("CloudFront base64")
}

/// A secret holding the bootstrap placeholder, a bootstrap public key outside the managed name
/// space and a key group trusting it: what `terraform apply` leaves before the first rotation.
pub struct Bootstrap {
    pub secret: String,
    pub group: String,
    pub parameter: String,
    pub bootstrap_key: String,
}

pub async fn bootstrap(aws: &aws_config::SdkConfig, tag: &str) -> Bootstrap {
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let cf = aws_sdk_cloudfront::Client::new(aws);
    let secret = format!("cfcookie/{tag}/signing-key");
    sm.create_secret().name(&secret).secret_string(r#"{"placeholder":true}"#).send().await.expect("secret");
    let pem = cfcookie::signer::PrivateKey::generate(cfcookie::signer::KeyAlgorithm::Rsa2048).expect("key").public_key().to_pem();
    let key = cf
        .create_public_key()
        .public_key_config(
            aws_sdk_cloudfront::types::PublicKeyConfig::builder()
                .caller_reference(format!("bootstrap-{tag}"))
                .name(format!("bootstrap-{tag}"))
                .encoded_key(pem)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("bootstrap key");
    let bootstrap_key = key.public_key().expect("key").id().to_owned();
    let group = cf
        .create_key_group()
        .key_group_config(
            aws_sdk_cloudfront::types::KeyGroupConfig::builder().name(format!("cfcookie-{tag}")).items(bootstrap_key.clone()).build().expect("config"),
        )
        .send()
        .await
        .expect("group");
    let group = group.key_group().expect("group").id().to_owned();
    Bootstrap { secret, group, parameter: format!("/cfcookie/{tag}/key-id"), bootstrap_key }
}
