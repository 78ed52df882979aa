use std::process::Stdio;
use std::time::Duration;

use cfcookie_rotator::model::SecretValue;
use cfcookie_testing::emulator::{bootstrap, free_port, wait_for_port, Emulator};

use crate::util::{cfcookie, cookie_header_from, run};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// 40-character pieces of a PEM's base64 body: any of them in a log means key material leaked.
fn pem_pieces(pem: &str) -> Vec<String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    body.as_bytes()
        .chunks(40)
        .filter(|c| c.len() == 40)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

fn scan(log: &str, secrets: &[String], what: &str) {
    assert!(
        !log.is_empty(),
        "{what}: no log captured, the scan would prove nothing"
    );
    assert!(
        !log.contains("PRIVATE KEY"),
        "{what}: a private key header is in the log"
    );
    for s in secrets.iter().filter(|s| s.len() >= 16) {
        assert!(
            !log.contains(s.as_str()),
            "{what}: the log contains secret material ({}…)",
            &s[..8]
        );
    }
}

/// With debug logging on, the dev server, `rotate --dev` and a rotation against the emulator
/// never log a token, a signature or private key material.
#[tokio::test]
async fn logs_never_hold_tokens_signatures_or_keys() {
    let state = tempfile::tempdir().expect("tmp");
    let log_path = state.path().join("server.log");
    let port = free_port();
    let mut server = cfcookie()
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(state.path().join("dev"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(std::fs::File::create(&log_path).expect("log")))
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&log_path)
                .expect("log"),
        ))
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    wait_for_port(port, "serve --dev", Duration::from_secs(20));
    let mut secrets = Vec::new();
    let dev_flow = {
        let base = base.clone();
        let state = state.path().join("dev");
        tokio::task::spawn_blocking(move || {
            let a = agent();
            let mut secrets = Vec::new();
            let token: serde_json::Value = a
                .post(&format!("{base}/dev/token"))
                .send_form([("username", "alice")])
                .expect("token")
                .body_mut()
                .read_json()
                .expect("json");
            let token = token["access_token"].as_str().expect("token").to_owned();
            secrets.push(token.clone());
            secrets.extend(token.split('.').skip(1).map(str::to_owned));
            for round in 0..2 {
                let r = a
                    .get(&format!("{base}/cookie"))
                    .header("authorization", &format!("Bearer {token}"))
                    .call()
                    .expect("cookie");
                assert_eq!(r.status().as_u16(), 200, "round {round}");
                let header = cookie_header_from(
                    r.headers()
                        .get_all("set-cookie")
                        .iter()
                        .map(|v| v.to_str().expect("ascii")),
                );
                for c in header.split("; ") {
                    if let Some(sig) = c.strip_prefix("CloudFront-Signature=") {
                        secrets.push(sig.to_owned());
                    }
                }
                assert_eq!(
                    a.get(&format!("{base}/private/photo.svg"))
                        .header("cookie", &header)
                        .call()
                        .expect("private")
                        .status()
                        .as_u16(),
                    200
                );
                for bad in [
                    format!("Bearer {token}x"),
                    "Bearer a.b.c".into(),
                    format!("Basic {token}"),
                ] {
                    assert_eq!(
                        a.get(&format!("{base}/cookie"))
                            .header("authorization", &bad)
                            .call()
                            .expect("bad")
                            .status()
                            .as_u16(),
                        401
                    );
                }
                a.post(&format!("{base}/cookie/remove"))
                    .send_empty()
                    .expect("remove");
                if round == 0 {
                    let (code, out, err) = run(cfcookie()
                        .args(["rotate", "--dev", "--state-dir"])
                        .arg(&state)
                        .env("RUST_LOG", "debug"));
                    assert_eq!(code, 0, "{err}");
                    scan(&format!("{out}{err}"), &secrets, "rotate --dev");
                    std::thread::sleep(Duration::from_millis(2500)); // the dev ring refreshes every 2 s
                }
            }
            for f in ["keys/current.json", "keys/previous.json"] {
                let text = std::fs::read_to_string(state.join(f)).expect("key file");
                if let Ok(Some(v)) = SecretValue::parse(&text) {
                    secrets.extend(pem_pieces(&v.private_key_pem));
                }
            }
            secrets.extend(pem_pieces(
                &std::fs::read_to_string(state.join("issuer-key.pem")).expect("issuer key"),
            ));
            secrets
        })
    };
    secrets.extend(dev_flow.await.expect("dev flow"));
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains("request"),
        "the request log lines are missing: {log}"
    );
    scan(&log, &secrets, "serve --dev");

    // A rotation against the emulator, with the AWS SDK's debug logs on.
    let emu = Emulator::start();
    let aws = emu.sdk_config().await;
    let b = bootstrap(&aws, "logs").await;
    let mut rotate = cfcookie();
    rotate
        .args(["rotate", "--secret-id", &b.secret])
        .envs(emu.env())
        .env("CFCOOKIE_KEY_GROUP_ID", &b.group)
        .env("RUST_LOG", "debug");
    let (code, out, err) = run(&mut rotate);
    assert_eq!(code, 0, "{err}");
    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let value = sm
        .get_secret_value()
        .secret_id(&b.secret)
        .send()
        .await
        .expect("value");
    let Ok(Some(v)) = SecretValue::parse(value.secret_string().expect("string")) else {
        panic!("not a key")
    };
    let key_secrets = pem_pieces(&v.private_key_pem);
    scan(
        &format!("{out}\n{err}"),
        &key_secrets,
        "cfcookie rotate (RUST_LOG=debug)",
    );
}
