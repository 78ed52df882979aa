//! The rotation Lambda's handler, on the in-memory fakes, emits its metrics as CloudWatch
//! Embedded Metric Format: each step's duration and outcome, rotations completed, errors by
//! error type. (Its own test binary: the metrics recorder is process-global.)

use cfcookie_rotator::check::{CheckEvent, VersionDates};
use cfcookie_rotator::driver::new_token;
use cfcookie_rotator::lambda::{handle, handle_check, metric, RotationEvent};
use cfcookie_rotator::ports::ServiceResult;
use cfcookie_rotator::ports::{AwsLcKeyGenerator, KeyRegistry as _};
use cfcookie_rotator::{Rotator, Step};
use cfcookie_testing::memory::{InMemoryKeyRegistry, InMemoryParameterStore, InMemorySecretStore};
use cfcookie_testing::{FixedClock, NoProbe};
use serde_json::Value;

#[tokio::test]
async fn the_handler_emits_emf_for_steps_completions_and_errors() {
    let emf = cfcookie_telemetry::emf::install("cfcookie-rotator")
        .expect("the only recorder in this process");
    metric::describe();
    let secrets = InMemorySecretStore::default();
    let registry = InMemoryKeyRegistry::default();
    secrets.create("cfcookie-key", r#"{"placeholder":"set by infra"}"#);
    secrets.set_rotation("cfcookie-key", true, (Some(30), None, None));
    let pem = cfcookie_signer::PrivateKey::generate(cfcookie_signer::KeyAlgorithm::Rsa2048)
        .expect("key")
        .public_key()
        .to_pem();
    let boot = registry
        .create_public_key("bootstrap-cfcookie", "boot", &pem, "")
        .await
        .expect("key");
    let group = registry.create_key_group("cfcookie", std::slice::from_ref(&boot));
    let rotator: Rotator<(_, _, _, _, _, _)> = Rotator {
        secrets: secrets.clone(),
        registry,
        params: InMemoryParameterStore::default(),
        keygen: AwsLcKeyGenerator::default(),
        clock: FixedClock::new(chrono::Utc::now()),
        probe: NoProbe,
        config: cfcookie_testing::rotator_config(&group, "/cfcookie/key-id"),
    };
    let token = new_token();
    secrets
        .stage_pending("cfcookie-key", &token)
        .expect("pending");
    let event = |step: &str| RotationEvent {
        step: step.into(),
        secret_id: "cfcookie-key".into(),
        client_request_token: token.clone(),
        rotation_token: None,
    };
    for step in Step::ALL {
        handle(&rotator, event(step.aws_name()))
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", step.aws_name()));
    }
    // The scheduled key check records the key's age by secret.
    handle_check(
        &rotator,
        &CreatedAt(chrono::Utc::now() - chrono::Duration::hours(5)),
        CheckEvent {
            check: "keyAge".into(),
            secret_id: "cfcookie-key".into(),
        },
    )
    .await
    .expect("key check");
    let err = handle(&rotator, event("rollbackSecret"))
        .await
        .expect_err("unknown step");
    assert_eq!(err.error_type, "Rotation.UnknownStep");
    let mut out = Vec::new();
    emf.flush(&mut out).expect("flush");
    let docs: Vec<Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    let metric_names: Vec<String> = docs
        .iter()
        .flat_map(|d| {
            d["_aws"]["CloudWatchMetrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .inspect(|m| assert_eq!(m["Namespace"], "cfcookie"))
        .flat_map(|m| m["Metrics"].as_array().cloned().unwrap_or_default())
        .map(|m| m["Name"].as_str().unwrap_or_default().to_owned())
        .collect();
    for name in metric::ALL {
        assert!(
            metric_names.iter().any(|n| n == name),
            "{name} not in {docs:?}"
        );
    }
    let finish = docs
        .iter()
        .find(|d| d["step"] == "finishSecret" && d["outcome"] == "ok")
        .unwrap_or_else(|| panic!("no finishSecret document: {docs:?}"));
    assert_eq!(finish["function"], "cfcookie-rotator");
    assert!(finish[metric::STEP_DURATION].is_number() || finish[metric::STEP_DURATION].is_array());
    assert!(docs
        .iter()
        .any(|d| d["error_type"] == "Rotation.UnknownStep" && d[metric::ERRORS] == 1));
    assert!(docs.iter().any(|d| d[metric::COMPLETED] == 1));
    let age = docs
        .iter()
        .find(|d| d[metric::KEY_AGE].is_number())
        .unwrap_or_else(|| panic!("no key age document: {docs:?}"));
    assert_eq!(age["secret"], "cfcookie-key", "{age}");
    assert!(
        (age[metric::KEY_AGE].as_f64().unwrap_or(-1.0) - 5.0 * 3600.0).abs() < 60.0,
        "{age}"
    );
}

/// Every version was created at the same instant.
struct CreatedAt(chrono::DateTime<chrono::Utc>);

impl VersionDates for CreatedAt {
    async fn created(
        &self,
        _secret_id: &str,
        _label: &str,
    ) -> ServiceResult<Option<(String, chrono::DateTime<chrono::Utc>)>> {
        Ok(Some(("v1".into(), self.0)))
    }
}
