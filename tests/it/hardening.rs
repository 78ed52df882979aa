//! Attacks on the endpoint, `serve` and `serve --dev`, one test each: what a hostile client
//! can send (forged origins, widening claims, oversized heads, idle sockets) and what must
//! come back. Each was seen to fail on code without its defence.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cfcookie_endpoint::EndpointConfig;
use cfcookie_endpoint::{CognitoVerifier, JwksFetcher};
use http::{HeaderMap, Method};
use serde_json::{json, Value};

use crate::endpoint::{endpoint, env, headers, TestEndpoint, TokenMinter, NOW};
use crate::util::{cfcookie, root, set_cookies};

fn bearer(issuer: &TokenMinter, token: Option<String>) -> String {
    format!("Bearer {}", token.unwrap_or_else(|| issuer.token()))
}

async fn get(ep: &TestEndpoint, h: &HeaderMap) -> (u16, Value, Vec<String>) {
    call(ep, Method::GET, "/cookie", h).await
}

async fn call(
    ep: &TestEndpoint,
    m: Method,
    path: &str,
    h: &HeaderMap,
) -> (u16, Value, Vec<String>) {
    let r = ep.handle(&m, path, h).await;
    let cookies = set_cookies(r.headers());
    let body = serde_json::from_str(r.body()).unwrap_or(Value::Null);
    (r.status().as_u16(), body, cookies)
}

fn sha256_hex(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A claim reaches the resource only as one safe path segment (letters, digits, `-`, `_`);
/// anything else is refused with 403 `unsafe_claim`, unless the template hashes the claim.
#[tokio::test]
async fn claims_must_be_one_safe_path_segment() {
    let issuer = TokenMinter::new("kid-1");
    let e = env(&[(
        "CFCOOKIE_RESOURCE",
        "https://media.example.com/users/{username}/*",
    )]);
    let (ep, _) = endpoint(&[&issuer], &e, NOW);
    for name in [
        "bob/photos",
        "..",
        ".",
        "a.b",
        "*",
        "bob%2Fphotos",
        "al ice",
        "ünï",
        "a?b",
        "",
    ] {
        let t = issuer.with_claims(|c| {
            c.insert("username".into(), json!(name));
        });
        let (s, b, cookies) = get(
            &ep,
            &headers(&[("authorization", &bearer(&issuer, Some(t)))]),
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (403, Some("unsafe_claim")),
            "{name:?}: {b}"
        );
        assert!(cookies.is_empty(), "{name:?}: cookies on a refusal");
    }
    let t = issuer.with_claims(|c| {
        c.insert("username".into(), json!("Alice_01-x"));
    });
    let (s, b, _) = get(
        &ep,
        &headers(&[("authorization", &bearer(&issuer, Some(t)))]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["resource"],
        "https://media.example.com/users/Alice_01-x/*"
    );
    // A template may hash a claim instead: any username then maps to one hex segment.
    let e = env(&[(
        "CFCOOKIE_RESOURCE",
        "https://media.example.com/users/{username:sha256}/*",
    )]);
    let (ep, _) = endpoint(&[&issuer], &e, NOW);
    let t = issuer.with_claims(|c| {
        c.insert("username".into(), json!("bob/photos"));
    });
    let (s, b, _) = get(
        &ep,
        &headers(&[("authorization", &bearer(&issuer, Some(t)))]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["resource"],
        format!(
            "https://media.example.com/users/{}/*",
            sha256_hex("bob/photos")
        )
    );
}

/// A placeholder the endpoint does not know would stay in the resource as text and silently
/// drop per-user scoping: the configuration is refused instead.
#[test]
fn unknown_placeholders_are_refused_at_start_up() {
    for template in [
        "https://media.example.com/users/{user_name}/*",
        "https://media.example.com/users/{username:md5}/*",
        "https://media.example.com/users/{username/*",
        "https://{host:sha256}/*",
    ] {
        let e = env(&[("CFCOOKIE_RESOURCE", template)]);
        let err = EndpointConfig::from_map(&e)
            .expect_err(template)
            .to_string();
        assert!(err.contains("CFCOOKIE_RESOURCE"), "{template}: {err}");
    }
}

/// The allow-list is exact: a Host with a port matches only an entry with that port, so a port
/// never lands in a resource the site's URLs cannot match.
#[tokio::test]
async fn a_host_with_a_port_matches_only_an_entry_with_that_port() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let t = bearer(&issuer, None);
    for host in [
        "media.example.com:8443",
        "media.example.com:443",
        "media.example.com:",
    ] {
        let (s, b, cookies) = get(&ep, &headers(&[("authorization", &t), ("host", host)])).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("host_not_allowed")),
            "{host}"
        );
        assert!(cookies.is_empty());
    }
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[("CFCOOKIE_ALLOWED_HOSTS", "localhost:8080")]),
        NOW,
    );
    let (s, b, _) = get(
        &ep,
        &headers(&[("authorization", &t), ("host", "localhost:8080")]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["resource"], "https://localhost:8080/*");
    let (s, _, _) = get(
        &ep,
        &headers(&[("authorization", &t), ("host", "localhost")]),
    )
    .await;
    assert_eq!(s, 400);
}

/// SHA-1 cookies expire a `CloudFront-Hash-Algorithm` cookie left by an earlier SHA-256 issue;
/// CloudFront would otherwise refuse them (hash_mismatch) until it expired.
#[tokio::test]
async fn sha1_cookies_clear_a_stale_hash_algorithm_cookie() {
    let issuer = TokenMinter::new("kid-1");
    let t = bearer(&issuer, None);
    let h = headers(&[("authorization", &t), ("host", "media.example.com")]);
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let (s, _, cookies) = get(&ep, &h).await;
    assert_eq!(s, 200);
    let clear = cookies
        .iter()
        .find(|c| c.starts_with("CloudFront-Hash-Algorithm="))
        .unwrap_or_else(|| panic!("no CloudFront-Hash-Algorithm cookie in {cookies:?}"));
    assert!(
        clear.starts_with("CloudFront-Hash-Algorithm=;") && clear.contains("Max-Age=0"),
        "{clear}"
    );
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[("CFCOOKIE_HASH_ALGORITHM", "SHA256")]),
        NOW,
    );
    let (_, _, cookies) = get(&ep, &h).await;
    let set: Vec<&String> = cookies
        .iter()
        .filter(|c| c.starts_with("CloudFront-Hash-Algorithm="))
        .collect();
    assert_eq!(set.len(), 1, "{cookies:?}");
    assert!(
        set[0].starts_with("CloudFront-Hash-Algorithm=SHA256;"),
        "{cookies:?}"
    );
}

/// With IP binding on, two `CloudFront-Viewer-Address` headers mean someone added one: refused.
#[tokio::test]
async fn a_repeated_viewer_address_is_refused() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[("CFCOOKIE_BIND_VIEWER_IP", "true")]),
        NOW,
    );
    let t = bearer(&issuer, None);
    let (s, b, cookies) = get(
        &ep,
        &headers(&[
            ("authorization", &t),
            ("host", "media.example.com"),
            ("cloudfront-viewer-address", "203.0.113.9:1"),
            ("cloudfront-viewer-address", "198.51.100.7:46532"),
        ]),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("no_viewer_address")),
        "{b}"
    );
    assert!(cookies.is_empty());
}

/// A token accepted inside the leeway after `exp` would get cookies that are already expired:
/// it is refused (401) so the client refreshes it.
#[tokio::test]
async fn a_token_inside_the_exp_leeway_gets_no_dead_cookies() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    for exp in [NOW - 2, NOW] {
        let t = issuer.with_claims(|c| {
            c.insert("exp".into(), json!(exp));
        });
        let (s, b, cookies) = get(
            &ep,
            &headers(&[
                ("authorization", &bearer(&issuer, Some(t))),
                ("host", "media.example.com"),
            ]),
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("invalid_token")),
            "exp {exp}: {b}"
        );
        assert!(cookies.is_empty());
    }
    let t = issuer.with_claims(|c| {
        c.insert("exp".into(), json!(NOW + 1));
    });
    let (s, b, _) = get(
        &ep,
        &headers(&[
            ("authorization", &bearer(&issuer, Some(t))),
            ("host", "media.example.com"),
        ]),
    )
    .await;
    assert_eq!((s, &b["expires"]), (200, &json!(NOW + 1)));
}

/// A JWKS that cannot be fetched.
#[derive(Clone, Default)]
struct DownJwks;

impl JwksFetcher for DownJwks {
    async fn fetch(&self, _url: &str) -> Result<String, String> {
        Err("connection refused".into())
    }
}

/// While the JWKS is unreachable, a token that may well be valid gets 503 (retry later), never
/// 401 (which tells the client to throw the token away).
#[tokio::test]
async fn an_unreachable_jwks_answers_503_not_401() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let (_, verifier) = EndpointConfig::from_map(&env(&[])).expect("config");
    let verifier = CognitoVerifier::new(verifier, DownJwks);
    assert!(verifier.prefetch().await.is_err());
    let ep = cfcookie_endpoint::Endpoint {
        verifier,
        keys: ep.keys.clone(),
        config: ep.config.clone(),
        clock: Arc::new(cfcookie_testing::FixedClock::at_epoch(NOW)),
    };
    let t = format!("Bearer {}", issuer.token());
    for attempt in 0..3 {
        let r = ep
            .handle(
                &Method::GET,
                "/cookie",
                &headers(&[("authorization", &t), ("host", "media.example.com")]),
            )
            .await;
        let body: Value = serde_json::from_str(r.body()).expect("json");
        assert_eq!(
            (r.status().as_u16(), body["error"].as_str()),
            (503, Some("jwks_unavailable")),
            "attempt {attempt}: {body}"
        );
        assert!(r.headers().get("set-cookie").is_none());
    }
}

/// Reads until the server closes the connection; fails if it is still open after `bound`.
fn closed_within(mut stream: TcpStream, bound: Duration, what: &str) {
    stream.set_read_timeout(Some(bound)).expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue, // a response (the keep-alive case, or a 408): keep reading
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => return,
            Err(e) => panic!(
                "{what}: the server kept the connection open for {:?} ({e})",
                started.elapsed()
            ),
        }
    }
}

/// Slowloris: connections that send nothing, half a request, or go idle after a response are
/// closed by `serve` once `CFCOOKIE_HEADER_TIMEOUT` passes.
#[test]
fn serve_closes_half_sent_and_idle_connections() {
    let key = root().join("signer/tests/data/rsa2048.pkcs8.pem");
    let port = cfcookie_testing::emulator::free_port();
    let mut child = cfcookie()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .envs(env(&[]))
        .env("CFCOOKIE_KEY_FILE", &key)
        .env("CFCOOKIE_KEY_PAIR_ID", "K2JCJMDEHXQW5F")
        .env("CFCOOKIE_JWKS_URL", "http://127.0.0.1:9/unreachable")
        .env("CFCOOKIE_HEADER_TIMEOUT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    cfcookie_testing::emulator::wait_for_port(port, "cfcookie serve", Duration::from_secs(20));
    let addr = format!("127.0.0.1:{port}");
    let silent = TcpStream::connect(&addr).expect("connect");
    let mut half = TcpStream::connect(&addr).expect("connect");
    half.write_all(b"GET /cookie HTTP/1.1\r\nHost: media.example.com\r\nX-A: ")
        .expect("write");
    let mut idle = TcpStream::connect(&addr).expect("connect");
    idle.write_all(b"GET /nope HTTP/1.1\r\nHost: media.example.com\r\n\r\n")
        .expect("write");
    // Far above the 1 s timeout; only a server that never closes reaches it.
    let bound = Duration::from_secs(30);
    let results: Vec<_> = [
        (silent, "silent"),
        (half, "half-sent"),
        (idle, "idle keep-alive"),
    ]
    .into_iter()
    .map(|(s, what)| std::thread::spawn(move || closed_within(s, bound, what)))
    .collect::<Vec<_>>()
    .into_iter()
    .map(std::thread::JoinHandle::join)
    .collect();
    let _ = child.kill();
    let _ = child.wait();
    for r in results {
        if let Err(panic) = r {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Waits up to `bound` for `child` to exit; kills it and returns `None` if it does not.
fn exit_within(
    child: &mut std::process::Child,
    bound: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().expect("wait") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `serve --dev` mints tokens for anyone who reaches it: it refuses to listen beyond loopback
/// unless forced.
#[test]
fn serve_dev_listens_on_loopback_only() {
    let state = tempfile::tempdir().expect("tmp");
    let port = cfcookie_testing::emulator::free_port();
    let mut child = cfcookie()
        .args(["serve", "--dev", "--state-dir"])
        .arg(state.path())
        .env("CFCOOKIE_LISTEN", format!("0.0.0.0:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let status = exit_within(&mut child, Duration::from_secs(20));
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = status.expect("serve --dev kept listening on 0.0.0.0");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("loopback") && stderr.contains("--dev-allow-remote"),
        "{stderr}"
    );
}

/// The dev sign-in grants only the dev groups, only to a caller on this machine, and not to
/// another site's page posting a form to it; production variables it ignores are named.
#[test]
fn dev_sign_in_grants_no_arbitrary_groups() {
    let state = tempfile::tempdir().expect("tmp");
    let port = cfcookie_testing::emulator::free_port();
    let log = state.path().join("stderr.log");
    let mut child = cfcookie()
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(state.path().join("dev"))
        .env("CFCOOKIE_SECRET_ID", "media/cfcookie/signing-key")
        .env("CFCOOKIE_USER_POOL_ID", "eu-west-1_AbC")
        .env("CFCOOKIE_COOKIE_LIFETME", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("serve");
    cfcookie_testing::emulator::wait_for_port(port, "serve --dev", Duration::from_secs(20));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://127.0.0.1:{port}/dev/token");
    let post = |form: &[(&str, &str)], origin: Option<&str>| -> u16 {
        let mut req = agent.post(&url);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send_form(form.iter().copied())
            .expect("request")
            .status()
            .as_u16()
    };
    let own = format!("http://127.0.0.1:{port}");
    let results = (
        post(
            &[("username", "alice"), ("groups", "subscribers")],
            Some(&own),
        ),
        post(&[("username", "alice"), ("groups", "admin")], Some(&own)),
        post(&[("username", "alice")], Some("https://evil.example")),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(results, (200, 400, 403));
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(
        stderr.contains("CFCOOKIE_SECRET_ID") && stderr.contains("CFCOOKIE_USER_POOL_ID"),
        "the ignored production variables are not named: {stderr}"
    );
    assert!(
        stderr.contains("CFCOOKIE_COOKIE_LIFETME is not a cfcookie setting (did you mean CFCOOKIE_COOKIE_LIFETIME?)"),
        "a misspelt setting is not warned about: {stderr}"
    );
}

/// Logout is a state change another site must not trigger: POST only, and a browser's request
/// from a foreign origin is refused.
#[tokio::test]
async fn logout_is_post_only_and_refused_cross_site() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let (s, _, cookies) = call(&ep, Method::GET, "/cookie/remove", &HeaderMap::new()).await;
    assert_eq!(s, 405);
    assert!(cookies.is_empty());
    for h in [
        headers(&[
            ("origin", "https://evil.example"),
            ("host", "media.example.com"),
        ]),
        headers(&[
            ("sec-fetch-site", "cross-site"),
            ("host", "media.example.com"),
        ]),
    ] {
        let (s, b, cookies) = call(&ep, Method::POST, "/cookie/remove", &h).await;
        assert_eq!((s, b["error"].as_str()), (403, Some("cross_site")), "{h:?}");
        assert!(cookies.is_empty());
    }
    for h in [
        HeaderMap::new(),
        headers(&[
            ("origin", "https://app.example.com"),
            ("sec-fetch-site", "cross-site"),
        ]),
        headers(&[
            ("origin", "https://media.example.com"),
            ("host", "media.example.com"),
            ("sec-fetch-site", "same-origin"),
        ]),
    ] {
        let (s, _, cookies) = call(&ep, Method::POST, "/cookie/remove", &h).await;
        assert_eq!((s, cookies.len()), (200, 5), "{h:?}");
    }
}

/// Configuration values read the same way everywhere: `True` is on, `0` seconds of leeway is
/// allowed, an absurd lifetime and a bad key-cache TTL are refused at start-up.
#[test]
fn settings_follow_one_rule_set() {
    let (c, _) =
        EndpointConfig::from_map(&env(&[("CFCOOKIE_BIND_VIEWER_IP", "True")])).expect("True");
    assert!(c.bind_viewer_ip);
    let (c, _) = EndpointConfig::from_map(&env(&[("CFCOOKIE_BIND_VIEWER_IP", "no")])).expect("no");
    assert!(!c.bind_viewer_ip);
    let (_, v) =
        EndpointConfig::from_map(&env(&[("CFCOOKIE_TOKEN_LEEWAY", "0")])).expect("leeway 0");
    assert_eq!(v.leeway, 0);
    for (k, bad) in [
        ("CFCOOKIE_BIND_VIEWER_IP", "enabled"),
        ("CFCOOKIE_COOKIE_LIFETIME", "9223372036854775807"),
        ("CFCOOKIE_KEY_CACHE_TTL", "five minutes"),
        ("CFCOOKIE_TOKEN_LEEWAY", "-1"),
    ] {
        let err = EndpointConfig::from_map(&env(&[(k, bad)]))
            .map(|_| ())
            .expect_err(bad)
            .to_string();
        assert!(err.contains(k), "{k}={bad}: {err}");
    }
}

/// `rotate --dev` waits the same default activation delay as the real rotation (300 s).
#[test]
fn rotate_dev_defaults_to_the_activation_delay() {
    let state = tempfile::tempdir().expect("tmp");
    let before = chrono::Utc::now().timestamp();
    let (code, out, err) = crate::util::run(
        cfcookie()
            .args(["rotate", "--dev", "--state-dir"])
            .arg(state.path())
            .env_remove("CFCOOKIE_ACTIVATION_DELAY"),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    let active =
        chrono::DateTime::parse_from_rfc3339(v["active_from"].as_str().expect("active_from"))
            .expect("rfc3339")
            .timestamp();
    assert!(
        active >= before + 300,
        "active_from {active} is not 300 s after {before}"
    );
}

/// The library's `Issuer` reads `CFCOOKIE_KEY_CACHE_TTL` by the same rules: a bad value is an
/// error, not a silent 300. (nextest runs each test in its own process, so setting the
/// variable here touches no other test.)
#[tokio::test]
async fn the_issuer_refuses_a_bad_key_cache_ttl() {
    std::env::set_var("CFCOOKIE_KEY_CACHE_TTL", "five minutes");
    let err = cfcookie_endpoint::Issuer::from_env("media/cfcookie/signing-key")
        .await
        .expect_err("a bad TTL")
        .to_string();
    assert!(err.contains("CFCOOKIE_KEY_CACHE_TTL"), "{err}");
}

/// The host a Lambda function URL answers on: what the endpoint sees as `Host` behind
/// CloudFront (the behavior's origin is the function URL, and CloudFront sends the origin's
/// domain as Host).
const FUNCTION_URL_HOST: &str = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws";

/// Behind CloudFront the Host is the function URL's, never the site's: a sign-out from the site
/// itself is judged against the site's hosts (`CFCOOKIE_ALLOWED_HOSTS`, or the template's
/// literal host), and still refused from a foreign origin, from the function URL's own origin,
/// and from plain `http` when the site is `https`.
#[tokio::test]
async fn sign_out_behind_cloudfront_is_judged_by_the_site_not_the_host_header() {
    let issuer = TokenMinter::new("kid-1");
    let mut fixed = env(&[("CFCOOKIE_RESOURCE", "https://media.example.com/*")]);
    fixed.remove("CFCOOKIE_ALLOWED_HOSTS");
    for (what, e) in [("{host} template", env(&[])), ("fixed resource", fixed)] {
        let (ep, _) = endpoint(&[&issuer], &e, NOW);
        let from = |origin: &str| {
            headers(&[
                ("origin", origin),
                ("host", FUNCTION_URL_HOST),
                ("sec-fetch-site", "same-origin"),
                (
                    "x-amz-content-sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ),
            ])
        };
        let (s, b, cookies) = call(
            &ep,
            Method::POST,
            "/cookie/remove",
            &from("https://media.example.com"),
        )
        .await;
        assert_eq!((s, cookies.len()), (200, 5), "{what}: {b}");
        let (s, _, _) = call(
            &ep,
            Method::POST,
            "/cookie/remove",
            &from("https://MEDIA.example.com"),
        )
        .await;
        assert_eq!(s, 200, "{what}: an origin's host is case-insensitive");
        for foreign in [
            "https://evil.example",
            "https://media.example.com.evil.example",
            &format!("https://{FUNCTION_URL_HOST}"),
            "http://media.example.com",
            "null",
        ] {
            let (s, b, cookies) = call(&ep, Method::POST, "/cookie/remove", &from(foreign)).await;
            assert_eq!(
                (s, b["error"].as_str()),
                (403, Some("cross_site")),
                "{what}: {foreign}"
            );
            assert!(cookies.is_empty());
        }
    }
    // Listed or not, a plain-http page does not sign out of an https site.
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[(
            "CFCOOKIE_ALLOWED_ORIGINS",
            "https://app.example.com, http://app.example.com",
        )]),
        NOW,
    );
    for (origin, want) in [
        ("https://app.example.com", 200),
        ("http://app.example.com", 403),
    ] {
        let h = headers(&[("origin", origin), ("host", FUNCTION_URL_HOST)]);
        let (s, _, _) = call(&ep, Method::POST, "/cookie/remove", &h).await;
        assert_eq!(s, want, "{origin}");
    }
}

/// An app on an allowed origin signs out with `fetch(..., {method: "POST", headers:
/// {"x-amz-content-sha256": ...}})`: CloudFront's OAC requires that header on a POST to a
/// function URL, and the header makes the browser preflight, which must allow it.
#[tokio::test]
async fn the_sign_out_preflight_allows_the_oac_payload_hash_header() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let r = ep
        .handle(
            &Method::OPTIONS,
            "/cookie/remove",
            &headers(&[
                ("origin", "https://app.example.com"),
                ("host", FUNCTION_URL_HOST),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "x-amz-content-sha256, content-type",
                ),
            ]),
        )
        .await;
    assert_eq!(r.status().as_u16(), 204);
    let allowed = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    assert!(allowed("access-control-allow-methods").contains("post"));
    let allowed_headers: Vec<String> = allowed("access-control-allow-headers")
        .split(',')
        .map(|h| h.trim().to_owned())
        .collect();
    for h in ["x-amz-content-sha256", "content-type", "authorization"] {
        assert!(
            allowed_headers.iter().any(|a| a == h),
            "{h} not in {allowed_headers:?}"
        );
    }
}

/// A claim that does not fill a whole path segment widens access: with `/u/{username}*`,
/// bob's cookies match `/u/bobby/…`; with `{a}{b}`, two users' values can join into one path.
/// Such templates are refused at start-up, naming the setting.
#[test]
fn claims_must_fill_whole_path_segments() {
    for template in [
        "https://media.example.com/u/{username}*",
        "https://media.example.com/u/{username:sha256}*",
        "https://media.example.com/u/{sub}{username}/*",
        "https://media.example.com/u/x{sub}/*",
        "https://media.example.com/u/{sub}.jpg",
        "https://media.example.com/u/{sub}-*",
        "https://{host}{sub}/*",
        "https://{sub}.example.com/*",
    ] {
        let err = EndpointConfig::from_map(&env(&[("CFCOOKIE_RESOURCE", template)]))
            .map(|_| ())
            .expect_err(template)
            .to_string();
        assert!(
            err.starts_with("CFCOOKIE_RESOURCE:") && err.contains("whole path segment"),
            "{template}: {err}"
        );
    }
    for template in [
        "https://media.example.com/u/{username}/*",
        "https://media.example.com/u/{username}",
        "https://media.example.com/{client_id}/{sub}/*",
        "https://{host}/u/{username:sha256}/*",
    ] {
        assert!(
            EndpointConfig::from_map(&env(&[("CFCOOKIE_RESOURCE", template)])).is_ok(),
            "{template}"
        );
    }
}

/// `Origin: null` is sent by sandboxed frames, `data:` and `file:` pages: any page can send it,
/// so allowing it allows everyone. Refused at start-up.
#[test]
fn a_null_allowed_origin_is_refused_at_start_up() {
    for origins in ["null", "https://app.example.com, null", "NULL"] {
        let err = EndpointConfig::from_map(&env(&[("CFCOOKIE_ALLOWED_ORIGINS", origins)]))
            .map(|_| ())
            .expect_err(origins)
            .to_string();
        assert!(
            err.starts_with("CFCOOKIE_ALLOWED_ORIGINS:"),
            "{origins}: {err}"
        );
    }
}

/// A token issued after now plus the leeway means the issuer's clock and ours disagree: refused
/// (docs/decisions/0004-future-iat.md). A non-numeric `iat` is malformed, as aws-jwt-verify has it.
#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[("CFCOOKIE_TOKEN_LEEWAY", "5")]), NOW);
    let with_iat = |iat: Value| {
        let t = issuer.with_claims(|c| {
            c.insert("iat".into(), iat);
        });
        headers(&[
            ("authorization", &bearer(&issuer, Some(t))),
            ("host", "media.example.com"),
        ])
    };
    for iat in [json!(NOW - 60), json!(NOW + 5), json!(NOW as f64 + 4.5)] {
        let (s, b, _) = get(&ep, &with_iat(iat.clone())).await;
        assert_eq!(s, 200, "iat {iat}: {b}");
    }
    for (iat, why) in [
        (json!(NOW + 6), "issued in the future"),
        (json!(NOW + 86_400), "issued in the future"),
        (json!("1795341600"), "malformed"),
    ] {
        let (s, b, cookies) = get(&ep, &with_iat(iat.clone())).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("invalid_token")),
            "iat {iat}: {b}"
        );
        assert!(
            b["message"].as_str().unwrap_or_default().contains(why),
            "iat {iat}: {b}"
        );
        assert!(cookies.is_empty());
    }
}

/// A `cfcookie serve` child (a key file, no JWKS), killed when dropped.
struct Served {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// `serve` with these extra settings, run through `wrapper` (e.g. `prlimit`) if given.
    fn start(settings: &[(&str, &str)], wrapper: &[&str]) -> Served {
        let key = root().join("signer/tests/data/rsa2048.pkcs8.pem");
        let port = cfcookie_testing::emulator::free_port();
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("serve.log");
        let binary = env!("CARGO_BIN_EXE_cfcookie");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = std::process::Command::new(program);
                c.args(args).arg(binary);
                c
            }
            None => std::process::Command::new(binary),
        };
        let child = command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(env(&[]))
            .env("CFCOOKIE_KEY_FILE", &key)
            .env("CFCOOKIE_KEY_PAIR_ID", "K2JCJMDEHXQW5F")
            .env("CFCOOKIE_JWKS_URL", "http://127.0.0.1:9/unreachable")
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
            .spawn()
            .expect("serve");
        let served = Served {
            child,
            port,
            log,
            _dir: dir,
        };
        cfcookie_testing::emulator::wait_for_port(port, "cfcookie serve", Duration::from_secs(20));
        served
    }

    /// A connection to the server from the loopback address `from` (127.0.0.2 is another
    /// client to the server than 127.0.0.1).
    async fn connect_from(&self, from: &str) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{from}:0").parse().expect("address"))
            .expect("bind");
        let stream = socket
            .connect(format!("127.0.0.1:{}", self.port).parse().expect("address"))
            .await
            .expect("connect");
        let stream = stream.into_std().expect("std");
        stream.set_nonblocking(false).expect("blocking");
        stream
    }

    /// `GET /cookie` (no token) from `from`: the status line, or a panic if none arrives within
    /// `bound`.
    async fn status_from(&self, from: &str, bound: Duration) -> String {
        let mut s = self.connect_from(from).await;
        s.write_all(
            b"GET /cookie HTTP/1.1\r\nHost: media.example.com\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
        status_line(s, bound, from)
    }

    /// `n` idle connections from `from`, each still open after a while: the server took them
    /// all. (A connection it has not yet seen close, such as the start-up probe, may still hold
    /// a place for a moment; then they are opened again.)
    async fn hold(&self, from: &str, n: usize) -> Vec<TcpStream> {
        for _ in 0..10 {
            let mut held = Vec::new();
            for _ in 0..n {
                held.push(self.connect_from(from).await);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let open = held.iter_mut().all(|s| {
                s.set_nonblocking(true).expect("nonblocking");
                let still = matches!(s.read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
                s.set_nonblocking(false).expect("blocking");
                still
            });
            if open {
                return held;
            }
        }
        panic!("{n} connections from {from} were never all held at once");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The first line the server answers on `s`, within `bound`.
fn status_line(s: TcpStream, bound: Duration, what: &str) -> String {
    try_status_line(s, bound, what).unwrap_or_else(|e| panic!("{e}"))
}

/// The first line the server answers on `s`, within `bound`, or why there is none.
fn try_status_line(mut s: TcpStream, bound: Duration, what: &str) -> Result<String, String> {
    s.set_read_timeout(Some(bound)).expect("timeout");
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "{what}: closed without an answer after {:?}",
                    started.elapsed()
                ))
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A server that closes a connection with the request unread resets it.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(format!(
                    "{what}: closed without an answer after {:?} ({e})",
                    started.elapsed()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{what}: no answer within {:?} ({e})",
                    started.elapsed()
                ))
            }
        }
    }
    let text = String::from_utf8_lossy(&got);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// One client address may hold `CFCOOKIE_MAX_CONNECTIONS_PER_IP` idle connections and no more:
/// the next is closed at once (long before the header timeout), and another address is still
/// served. Over `CFCOOKIE_MAX_CONNECTIONS` in all, every new connection is closed at once until
/// one ends.
#[tokio::test]
async fn serve_closes_connections_over_its_limits_at_once() {
    let served = Served::start(
        &[
            ("CFCOOKIE_HEADER_TIMEOUT", "60"),
            ("CFCOOKIE_MAX_CONNECTIONS", "6"),
            ("CFCOOKIE_MAX_CONNECTIONS_PER_IP", "4"),
        ],
        &[],
    );
    let mut held = served.hold("127.0.0.1", 4).await;
    // Far below the 60 s header timeout: only the limit closes it this soon.
    let bound = Duration::from_secs(5);
    closed_within(
        served.connect_from("127.0.0.1").await,
        bound,
        "a fifth connection from one address",
    );
    let status = served.status_from("127.0.0.2", bound).await;
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    held.extend(served.hold("127.0.0.2", 2).await);
    closed_within(
        served.connect_from("127.0.0.3").await,
        bound,
        "a seventh connection in all",
    );
    drop(held.pop());
    // The server frees the place when its connection task sees the close, which on a loaded
    // machine may take a moment: a connection closed unanswered before then is retried.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let mut s = served.connect_from("127.0.0.3").await;
        let sent = s.write_all(
            b"GET /cookie HTTP/1.1\r\nHost: media.example.com\r\nConnection: close\r\n\r\n",
        );
        let answer = match sent {
            Ok(()) => try_status_line(s, bound, "127.0.0.3 once a place is free"),
            Err(e) => Err(format!("127.0.0.3: closed without an answer ({e})")),
        };
        match answer {
            Ok(status) => break status,
            Err(e) if Instant::now() < deadline && e.contains("closed without an answer") => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(
        status.starts_with("HTTP/1.1 401"),
        "once a place is free: {status}"
    );
    let log = served.log();
    assert!(
        log.contains("CFCOOKIE_MAX_CONNECTIONS_PER_IP") && log.contains("suppressed"),
        "no warning about the closed connections: {log}"
    );
}

/// With few file descriptors (`prlimit --nofile=64`), 60 idle sockets from one client used to
/// exhaust them: `accept` failed every 50 ms (each failure logged) and a valid request from
/// anyone else waited in the listen queue until the idle ones timed out. Now the total is fitted
/// to the descriptors and one address holds at most its share, so the request is answered at
/// once and `accept` never fails.
#[tokio::test]
async fn serve_keeps_answering_when_idle_sockets_would_exhaust_its_descriptors() {
    crate::util::require("prlimit", &["--version"]);
    let served = Served::start(
        &[
            ("CFCOOKIE_HEADER_TIMEOUT", "60"),
            ("CFCOOKIE_MAX_CONNECTIONS_PER_IP", "16"),
        ],
        &["prlimit", "--nofile=64", "--"],
    );
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(served.connect_from("127.0.0.1").await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let status = served
        .status_from("127.0.0.2", Duration::from_secs(3))
        .await;
    let took = started.elapsed();
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    eprintln!("answered in {took:?} beside 60 idle sockets under --nofile=64");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(idle);
    let log = served.log();
    assert!(
        log.contains("connection limits lowered"),
        "the total was not fitted to the descriptors: {log}"
    );
    let failures = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!(failures <= 2, "{failures} accept failures logged: {log}");
}

/// A request head is read into at most 32 KiB: a bigger one is refused with 431 (never a 500,
/// never read on into memory), while a head holding a 16 KiB token still reaches the endpoint.
#[tokio::test]
async fn serve_refuses_an_oversized_request_head_with_431() {
    let served = Served::start(&[], &[]);
    let mut s = served.connect_from("127.0.0.1").await;
    let head = format!(
        "GET /cookie HTTP/1.1\r\nHost: media.example.com\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    // The server may stop reading (and close) before the whole head is written.
    let _ = s.write_all(head.as_bytes());
    let status = status_line(s, Duration::from_secs(5), "an oversized head");
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    let mut s = served.connect_from("127.0.0.1").await;
    let head = format!(
        "GET /cookie HTTP/1.1\r\nHost: media.example.com\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    s.write_all(head.as_bytes()).expect("write");
    let status = status_line(s, Duration::from_secs(5), "a 16 KiB token");
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    // A head that never ends is not buffered on: 431 once 32 KiB are in (the header timeout,
    // 10 s, is far off).
    let mut s = served.connect_from("127.0.0.1").await;
    s.write_all(b"GET /cookie HTTP/1.1\r\nHost: media.example.com\r\nX-Pad: ")
        .expect("write");
    for _ in 0..40 {
        if s.write_all(&[b'a'; 1024]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = status_line(s, Duration::from_secs(5), "an endless head");
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
}
