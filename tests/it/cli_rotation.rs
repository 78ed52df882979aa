use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cfcookie_testing::emulator::{free_port, wait_for_port, Emulator};
use serde_json::Value;

use crate::util::{bootstrap, cfcookie, require, run, Bootstrap};

fn cli(emu: &Emulator, b: &Bootstrap) -> Command {
    let mut c = cfcookie();
    c.envs(emu.env())
        .env("CFCOOKIE_KEY_GROUP_ID", &b.group)
        .env("CFCOOKIE_KEY_ID_PARAMETER", &b.parameter)
        .env_remove("CFCOOKIE_KEY_NAME_PREFIX");
    c
}

fn status(emu: &Emulator, b: &Bootstrap) -> (i32, Value) {
    let (code, out, err) = run(cli(emu, b).args(["status", "--secret-id", &b.secret]));
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("status JSON: {out} {err}")),
    )
}

/// The rotator issue's "done when": three `cfcookie rotate`, then `cfcookie status` says
/// consistent with two keys in the group.
#[tokio::test]
async fn rotate_three_times_then_status_is_consistent() {
    let emu = Emulator::start();
    let b = bootstrap(&emu.sdk_config().await, "cli").await;
    let (code, s) = status(&emu, &b);
    assert_eq!(
        (code, &s["consistent"]),
        (1, &Value::Bool(false)),
        "bootstrap is not yet rotated: {s}"
    );
    // Short times (P = 0, TTL = 1 s, L = 1 s): a rotation may retire the previous key 2 s
    // after the current one became current (S2).
    let quick = || {
        let mut c = cli(&emu, &b);
        c.env("CFCOOKIE_ACTIVATION_DELAY", "0")
            .env("CFCOOKIE_KEY_CACHE_TTL", "1")
            .env("CFCOOKIE_COOKIE_LIFETIME", "1");
        c
    };
    let mut keys = Vec::new();
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_secs(3));
        }
        let (code, out, err) = run(quick().args(["rotate", "--secret-id", &b.secret]));
        assert_eq!(code, 0, "rotation {i}: {err}");
        let report: Value = serde_json::from_str(&out).expect("report");
        keys.push(report["key_id"].as_str().expect("key id").to_owned());
        assert!(
            !err.contains("PRIVATE KEY"),
            "a private key reached the log"
        );
    }
    // A fourth right away would retire a key whose cookies are still valid: refused, by name.
    let (code, _, err) = run(quick().args(["rotate", "--secret-id", &b.secret]));
    assert_ne!(code, 0);
    assert!(err.contains("too soon"), "{err}");
    let (code, s) = status(&emu, &b);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["consistent"], Value::Bool(true), "{s}");
    assert_eq!(
        s["time"]["signers_sign_with"].as_str(),
        keys.last().map(String::as_str),
        "{s}"
    );
    let items: Vec<&str> = s["key_group_items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    assert_eq!(items.len(), 2);
    assert!(
        items.contains(&keys[1].as_str()) && items.contains(&keys[2].as_str()),
        "{items:?} vs {keys:?}"
    );
    assert_eq!(
        s["parameters"][&b.parameter],
        Value::String(keys[2].clone())
    );
}

#[test]
fn rotate_without_a_key_group_is_a_clear_error() {
    let (code, _, err) = run(cfcookie()
        .args(["rotate", "--secret-id", "x"])
        .env_remove("CFCOOKIE_KEY_GROUP_ID"));
    assert_eq!(code, 2);
    assert!(err.contains("CFCOOKIE_KEY_GROUP_ID: is required"), "{err}");
}

/// `rotate --help` names every setting the rotator reads, as the settings reader declares them.
#[test]
fn rotate_help_names_every_rotator_setting() {
    let (code, out, _) = run(cfcookie().args(["rotate", "--help"]));
    assert_eq!(code, 0);
    let help = out.replace('\n', " ");
    let rotator: Vec<&str> = cfcookie_config::ALL
        .iter()
        .filter(|s| s.components.contains(&cfcookie_config::Component::Rotator))
        .map(|s| s.variable)
        .collect();
    assert!(rotator.len() >= 11, "{rotator:?}");
    let missing: Vec<&&str> = rotator.iter().filter(|v| !help.contains(**v)).collect();
    assert!(
        missing.is_empty(),
        "rotate --help does not name {missing:?}:\n{out}"
    );
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rotator_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_cfcookie")).with_file_name("cfcookie-rotator");
    assert!(
        path.exists(),
        "{} is not built: run the suite with `cargo nextest run --workspace` (scripts/test)",
        path.display()
    );
    path
}

/// `cfcookie rotate --via-secrets-manager`: Secrets Manager (the emulator) invokes the built
/// rotator binary through cargo-lambda's Lambda Runtime API for all four steps.
#[tokio::test]
async fn rotate_via_secrets_manager_runs_the_built_lambda() {
    require("cargo", &["lambda", "--version"]);
    let api_port = free_port();
    let watch = Killed(
        Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &api_port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch"),
    );
    let emu = Emulator::start_with(&[
        "--lambda-endpoint",
        &format!("http://127.0.0.1:{api_port}"),
        "--lambda-function",
        "_",
    ]);
    let b = bootstrap(&emu.sdk_config().await, "lambda").await;
    wait_for_port(api_port, "cargo lambda watch", Duration::from_secs(30));
    let function = Killed(
        Command::new(rotator_binary())
            .envs(emu.env())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{api_port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("CFCOOKIE_KEY_GROUP_ID", &b.group)
            .env("CFCOOKIE_KEY_ID_PARAMETER", &b.parameter)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rotator"),
    );
    // Turn rotation on (RotateImmediately=false runs testSecret alone on the placeholder).
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk_config().await);
    sm.rotate_secret()
        .secret_id(&b.secret)
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:cfcookie-rotator")
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .expect("enable rotation");
    let (code, out, err) = run(cli(&emu, &b).args([
        "rotate",
        "--via-secrets-manager",
        "--timeout",
        "120",
        "--secret-id",
        &b.secret,
    ]));
    drop(function);
    drop(watch);
    assert_eq!(
        code,
        0,
        "rotate --via-secrets-manager: {err}\nemulator log:\n{}",
        emu.log_text()
    );
    let report: Value = serde_json::from_str(&out).expect("json");
    assert!(
        report["key_id"]
            .as_str()
            .is_some_and(|k| k.starts_with('K')),
        "{report}"
    );
    let (code, s) = status(&emu, &b);
    assert_eq!(code, 0, "{s}");
    assert_eq!(
        s["key_group_items"],
        serde_json::json!([report["key_id"]]),
        "the bootstrap key left the group"
    );
}
