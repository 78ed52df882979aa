//! Metrics an operator can alarm on: EMF from the endpoint Lambda, Prometheus text from
//! `cfcookie serve`, and every metric documented in docs/metrics.md.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::endpoint::{env, TokenMinter};
use crate::lambda_host::invoke_once;
use crate::util::{cfcookie, root};

/// The EMF documents in a Lambda log (stdout): lines with an `_aws` member.
/// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
fn emf_documents(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d.get("_aws").is_some())
        .collect()
}

/// One invocation of the endpoint Lambda with a recorded Function URL event writes EMF: the
/// refusal (no JWKS reachable: 503) counted by its reason, in the `cfcookie` namespace.
#[tokio::test]
async fn the_endpoint_lambda_writes_emf() {
    let issuer = TokenMinter::new("kid-1");
    let event = std::fs::read_to_string(root().join("tests/data/lambda/function_url.json"))
        .expect("payload")
        .replace("{{TOKEN}}", &issuer.token());
    let (response, log) = invoke_once(event, &[]).await;
    let response: Value = serde_json::from_str(&response).expect("response json");
    assert_eq!(response["statusCode"], 503, "{response}");
    let docs = emf_documents(&log);
    let refusal = docs
        .iter()
        .find(|d| d["reason"] == "jwks_unavailable")
        .unwrap_or_else(|| panic!("no EMF document for the refusal in:\n{log}"));
    assert_eq!(
        refusal[cfcookie_endpoint::metrics::REQUESTS_REFUSED],
        1,
        "{refusal}"
    );
    assert_eq!(refusal["function"], "cfcookie-endpoint");
    let directive = &refusal["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "cfcookie");
    assert!(
        directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .any(
                |m| m["Name"] == cfcookie_endpoint::metrics::REQUESTS_REFUSED
                    && m["Unit"] == "Count"
            ),
        "{directive}"
    );
    assert!(
        docs.iter()
            .any(|d| d[cfcookie_endpoint::metrics::JWKS_FETCHES].is_number()
                && d["outcome"] == "failed"),
        "no JWKS failure metric in:\n{log}"
    );
}

/// `serve --metrics-listen` answers Prometheus text on its own listener; the public listener
/// has no /metrics.
#[test]
fn serve_exports_prometheus_text_on_its_own_listener() {
    let key = root().join("signer/tests/data/rsa2048.pkcs8.pem");
    let port = cfcookie_testing::emulator::free_port();
    let metrics_port = cfcookie_testing::emulator::free_port();
    let issuer = TokenMinter::new("kid-1");
    let mut child = cfcookie()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .envs(env(&[]))
        .env("CFCOOKIE_KEY_FILE", &key)
        .env("CFCOOKIE_KEY_PAIR_ID", "K2JCJMDEHXQW5F")
        .env("CFCOOKIE_JWKS_URL", "http://127.0.0.1:9/unreachable")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    cfcookie_testing::emulator::wait_for_port(port, "cfcookie serve", Duration::from_secs(20));
    cfcookie_testing::emulator::wait_for_port(metrics_port, "metrics", Duration::from_secs(20));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let public = format!("http://127.0.0.1:{port}");
    let statuses = (
        agent
            .get(&format!("{public}/cookie"))
            .header("host", "media.example.com")
            .call()
            .expect("cookie")
            .status()
            .as_u16(),
        agent
            .get(&format!("{public}/cookie"))
            .header("authorization", &format!("Bearer {}", issuer.token()))
            .call()
            .expect("cookie")
            .status()
            .as_u16(),
        agent
            .get(&format!("{public}/metrics"))
            .call()
            .expect("public metrics")
            .status()
            .as_u16(),
    );
    let text = agent
        .get(&format!("http://127.0.0.1:{metrics_port}/metrics"))
        .call()
        .expect("metrics")
        .into_body()
        .read_to_string()
        .expect("text");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, (401, 503, 404));
    for line in [
        "requests_refused{reason=\"invalid_token\"} 1",
        "requests_refused{reason=\"jwks_unavailable\"} 1",
        "requests_refused{reason=\"not_found\"} 1",
        "jwks_fetches{outcome=\"failed\"}",
        "# TYPE requests_refused counter",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
}

/// Every metric either component emits is documented (name, unit, dimensions, alarm).
#[test]
fn every_metric_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md");
    for name in cfcookie_endpoint::metrics::ALL
        .iter()
        .chain(cfcookie_rotator::lambda::metric::ALL)
    {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "{name} has no row in docs/metrics.md"
        );
    }
}

/// The README's configuration table is the one the settings reader generates.
#[test]
fn the_readme_table_is_the_readers() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let table = cfcookie_config::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's configuration table differs from the reader's; paste this:\n{table}"
    );
}
