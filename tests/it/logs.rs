use std::process::Stdio;
use std::sync::{Arc, Mutex};
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

/// [`pem_pieces`] of the private key in the secret's AWSCURRENT version.
async fn current_key_pieces(sm: &aws_sdk_secretsmanager::Client, secret: &str) -> Vec<String> {
    let value = sm
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .expect("value");
    let Ok(Some(v)) = SecretValue::parse(value.secret_string().expect("string")) else {
        panic!("not a key")
    };
    pem_pieces(&v.private_key_pem)
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
        .env("CFCOOKIE_KEY_ID_PARAMETER", &b.parameter)
        .env("RUST_LOG", "debug");
    let (code, out, err) = run(&mut rotate);
    assert_eq!(code, 0, "{err}");
    let key_secrets =
        current_key_pieces(&aws_sdk_secretsmanager::Client::new(&aws), &b.secret).await;
    scan(
        &format!("{out}\n{err}"),
        &key_secrets,
        "cfcookie rotate (RUST_LOG=debug)",
    );
}

/// Serves the test issuer's JWKS at `/jwks.json` and a canary at `/canary` that answers 200 and
/// keeps the `Cookie` header it was sent (the cookies signed by the key under test).
async fn jwks_and_canary(jwk: serde_json::Value) -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::routing::get;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    let app = axum::Router::new()
        .route(
            "/jwks.json",
            get(move || {
                let doc = serde_json::json!({ "keys": [jwk.clone()] }).to_string();
                async move { doc }
            }),
        )
        .route(
            "/canary",
            get(move |headers: http::HeaderMap| {
                let kept = Arc::clone(&kept);
                async move {
                    if let Some(c) = headers.get("cookie").and_then(|v| v.to_str().ok()) {
                        kept.lock().expect("lock").push(c.to_owned());
                    }
                    "ok"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

/// The values of the `CloudFront-*` cookies in `text` (Set-Cookie headers, a Cookie header, a
/// Lambda response), but the key pair id, which is public.
fn cookie_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["CloudFront-Policy=", "CloudFront-Signature="] {
        for (at, _) in text.match_indices(name) {
            let value: String = text[at + name.len()..]
                .chars()
                .take_while(|c| !matches!(c, ';' | '"' | ' ' | ',' | '\\'))
                .collect();
            if value.len() >= 16 {
                out.push(value);
            }
        }
    }
    out
}

/// A live token for the test issuer (the shared claims are pinned to a fixed past instant).
fn live_token(issuer: &crate::endpoint::TokenMinter) -> String {
    let now = chrono::Utc::now().timestamp();
    issuer.with_claims(|c| {
        c.insert("iat".into(), serde_json::json!(now - 10));
        c.insert("auth_time".into(), serde_json::json!(now - 10));
        c.insert("exp".into(), serde_json::json!(now + 900));
    })
}

/// Asserts that `log` holds none of `secrets` and no PEM armour line.
fn scan_trace(log: &str, secrets: &[String], what: &str) {
    assert!(
        log.len() > 200,
        "{what}: almost no log captured, the scan would prove nothing: {log}"
    );
    assert!(!secrets.is_empty(), "{what}: nothing to look for");
    assert!(
        !log.contains("-----BEGIN"),
        "{what}: a PEM block is in the log"
    );
    for s in secrets {
        assert!(
            !log.contains(s.as_str()),
            "{what}: the log at RUST_LOG=trace holds a secret ({}…)",
            &s[..12]
        );
    }
}

/// At `RUST_LOG=trace` (every crate, the HTTP clients and servers included), no cookie value,
/// token or PEM block reaches the output of `cfcookie rotate` (its canary sends the new key's
/// cookies with ureq), of `cfcookie serve` answering a real token, or of the Lambda host doing
/// the same.
// Multi-threaded: the JWKS and canary server runs on this runtime while the test blocks on the
// child processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_hold_no_cookie_token_or_key() {
    let issuer = crate::endpoint::TokenMinter::new("kid-1");
    let (base, canary_seen) = jwks_and_canary(issuer.jwk()).await;
    let token = live_token(&issuer);
    let mut token_secrets = vec![token.clone()];
    token_secrets.extend(token.split('.').skip(1).map(str::to_owned));

    // serve, one real /cookie.
    let dir = tempfile::tempdir().expect("tmp");
    let log_path = dir.path().join("serve.log");
    let port = free_port();
    let mut server = cfcookie()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .envs(crate::endpoint::env(&[]))
        .env(
            "CFCOOKIE_KEY_FILE",
            crate::util::root().join("signer/tests/data/rsa2048.pkcs8.pem"),
        )
        .env("CFCOOKIE_KEY_PAIR_ID", "K2JCJMDEHXQW5F")
        .env("CFCOOKIE_JWKS_URL", format!("{base}/jwks.json"))
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(std::fs::File::create(&log_path).expect("log")))
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&log_path)
                .expect("log"),
        ))
        .spawn()
        .expect("serve");
    wait_for_port(port, "serve", Duration::from_secs(20));
    let response = {
        let (url, auth) = (
            format!("http://127.0.0.1:{port}/cookie"),
            format!("Bearer {token}"),
        );
        tokio::task::spawn_blocking(move || {
            let mut r = agent()
                .get(&url)
                .header("host", "media.example.com")
                .header("authorization", &auth)
                .call()
                .expect("cookie");
            let status = r.status().as_u16();
            let set: Vec<String> = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().expect("ascii").to_owned())
                .collect();
            let body = r.body_mut().read_to_string().unwrap_or_default();
            (status, set.join("\n"), body)
        })
        .await
        .expect("request")
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(response.0, 200, "{}", response.2);
    let mut secrets = cookie_values(&response.1);
    assert_eq!(secrets.len(), 2, "{}", response.1);
    secrets.extend(token_secrets.iter().cloned());
    let log = std::fs::read_to_string(&log_path).expect("log");
    scan_trace(&log, &secrets, "cfcookie serve (RUST_LOG=trace)");

    // The Lambda host, the same request as a function URL event.
    let event =
        std::fs::read_to_string(crate::util::root().join("tests/data/lambda/function_url.json"))
            .expect("payload")
            .replace("{{TOKEN}}", &token);
    let jwks = format!("{base}/jwks.json");
    let (response, log) = crate::lambda_host::invoke_once(
        event,
        &[("RUST_LOG", "trace"), ("CFCOOKIE_JWKS_URL", &jwks)],
    )
    .await;
    assert!(response.contains("\"statusCode\":200"), "{response}");
    let mut secrets = cookie_values(&response);
    assert_eq!(secrets.len(), 2, "{response}");
    secrets.extend(token_secrets.iter().cloned());
    scan_trace(&log, &secrets, "cfcookie-endpoint Lambda (RUST_LOG=trace)");

    // A rotation against the emulator whose canary fetches with the new key's cookies.
    let emu = Emulator::start();
    let aws = emu.sdk_config().await;
    let b = bootstrap(&aws, "tracelogs").await;
    let mut rotate = cfcookie();
    rotate
        .args(["rotate", "--secret-id", &b.secret])
        .envs(emu.env())
        .env("CFCOOKIE_KEY_GROUP_ID", &b.group)
        .env("CFCOOKIE_KEY_ID_PARAMETER", &b.parameter)
        .env("CFCOOKIE_CANARY_URL", format!("{base}/canary"))
        .env("CFCOOKIE_CANARY_BACKOFF_MS", "0")
        .env("RUST_LOG", "trace");
    let (code, out, err) = tokio::task::spawn_blocking(move || run(&mut rotate))
        .await
        .expect("rotate");
    assert_eq!(code, 0, "{err}");
    let sent = canary_seen.lock().expect("lock").join("\n");
    let mut secrets = cookie_values(&sent);
    assert!(
        !secrets.is_empty(),
        "the canary was never fetched with cookies"
    );
    secrets.extend(current_key_pieces(&aws_sdk_secretsmanager::Client::new(&aws), &b.secret).await);
    scan_trace(
        &format!("{out}\n{err}"),
        &secrets,
        "cfcookie rotate (RUST_LOG=trace)",
    );
}
