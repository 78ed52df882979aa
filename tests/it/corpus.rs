//! A corpus of hostile requests — tokens, headers, hosts, claims, cookies, methods, paths — run
//! against `serve` (over raw TCP, so nothing is normalised by a client) and against the Lambda
//! handler with the recorded Function URL event rewritten for each case. Both hosts must give
//! the expected status, set no cookie on a refusal, and never answer 5xx.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::endpoint::{endpoint, env, TokenMinter, NOW};
use crate::util::root;

struct Case {
    name: String,
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    status: u16,
}

/// Name, method, path, headers, expected status.
type RawCase = (
    String,
    &'static str,
    String,
    Vec<(&'static str, String)>,
    u16,
);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn cases(issuer: &TokenMinter, stranger: &TokenMinter) -> Vec<Case> {
    let host = ("host", "media.example.com".to_owned());
    let auth = |t: &str| ("authorization", format!("Bearer {t}"));
    let claims = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = issuer.claims();
        edit(c.as_object_mut().expect("object"));
        issuer.sign(&issuer.header(), &c)
    };
    let user = |name: Value| {
        claims(&move |c| {
            c.insert("username".into(), name.clone());
        })
    };
    let good = issuer.token();
    let parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut tampered = issuer.claims();
    tampered["username"] = json!("mallory");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(tampered.to_string().as_bytes()),
        parts[2]
    );
    let hs256 = {
        let input = format!("{}.{}", b64(br#"{"alg":"HS256","kid":"kid-1"}"#), parts[1]);
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            issuer.key.public_key().to_pem().as_bytes(),
        );
        format!(
            "{input}.{}",
            b64(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref())
        )
    };
    let mut out: Vec<RawCase> = vec![
        (
            "valid".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), host.clone()],
            200,
        ),
        (
            "valid HEAD".into(),
            "HEAD",
            "/cookie".into(),
            vec![auth(&good), host.clone()],
            200,
        ),
        (
            "valid with a query".into(),
            "GET",
            "/cookie?next=/x&a=%00".into(),
            vec![auth(&good), host.clone()],
            200,
        ),
        (
            "preflight".into(),
            "OPTIONS",
            "/cookie".into(),
            vec![
                host.clone(),
                ("origin", "https://evil.example".into()),
                ("access-control-request-method", "GET".into()),
            ],
            204,
        ),
        (
            "valid, garbage Cookie header".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&good),
                host.clone(),
                (
                    "cookie",
                    "CloudFront-Policy=%%%; CloudFront-Signature===; ;;".into(),
                ),
            ],
            200,
        ),
        (
            "valid, foreign Origin".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), host.clone(), ("origin", "null".into())],
            200,
        ),
        (
            "valid, X-Forwarded-Host ignored".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&good),
                host.clone(),
                ("x-forwarded-host", "evil.example".into()),
            ],
            200,
        ),
        (
            "valid, viewer address ignored when binding is off".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&good),
                host.clone(),
                ("cloudfront-viewer-address", "1.2.3.4:5".into()),
                ("cloudfront-viewer-address", "6.7.8.9:1".into()),
            ],
            200,
        ),
        (
            "no token".into(),
            "GET",
            "/cookie".into(),
            vec![host.clone()],
            401,
        ),
        (
            "empty bearer".into(),
            "GET",
            "/cookie".into(),
            vec![("authorization", "Bearer ".into()), host.clone()],
            401,
        ),
        (
            "scheme only".into(),
            "GET",
            "/cookie".into(),
            vec![("authorization", "Bearer".into()), host.clone()],
            401,
        ),
        (
            "basic auth".into(),
            "GET",
            "/cookie".into(),
            vec![("authorization", "Basic YWxpY2U6cHc=".into()), host.clone()],
            401,
        ),
        (
            "two Authorization headers".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), auth(&good), host.clone()],
            401,
        ),
        (
            "alg none".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&format!("{}.{}.", b64(br#"{"alg":"none"}"#), parts[1])),
                host.clone(),
            ],
            401,
        ),
        (
            "HS256 keyed with the public key".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&hs256), host.clone()],
            401,
        ),
        (
            "tampered payload".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&tampered), host.clone()],
            401,
        ),
        (
            "another key, same kid".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&stranger.token()), host.clone()],
            401,
        ),
        (
            "unknown kid".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&issuer.sign(&json!({"alg": "RS256", "kid": "nope"}), &issuer.claims())),
                host.clone(),
            ],
            401,
        ),
        (
            "no kid".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&issuer.sign(&json!({"alg": "RS256"}), &issuer.claims())),
                host.clone(),
            ],
            401,
        ),
        (
            "kid path traversal".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&issuer.sign(
                    &json!({"alg": "RS256", "kid": "../../etc/passwd"}),
                    &issuer.claims(),
                )),
                host.clone(),
            ],
            401,
        ),
        (
            "jku header".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&issuer.sign(
                    &json!({"alg": "RS256", "kid": "x", "jku": "https://evil.example/jwks"}),
                    &issuer.claims(),
                )),
                host.clone(),
            ],
            401,
        ),
        (
            "two parts".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&format!("{}.{}", parts[0], parts[1])), host.clone()],
            401,
        ),
        (
            "four parts".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&format!("{good}.x")), host.clone()],
            401,
        ),
        (
            "not base64".into(),
            "GET",
            "/cookie".into(),
            vec![auth("!!!.@@@.###"), host.clone()],
            401,
        ),
        (
            "header not JSON".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&format!("{}.{}.{}", b64(b"[1,2"), parts[1], parts[2])),
                host.clone(),
            ],
            401,
        ),
        (
            "17 KiB token".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&"a".repeat(17 * 1024)), host.clone()],
            401,
        ),
        (
            "expired".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("exp".into(), json!(NOW - 3600));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "expired inside the leeway".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("exp".into(), json!(NOW - 1));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "exp as a string".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("exp".into(), json!("tomorrow"));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "exp huge".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("exp".into(), json!(i64::MAX));
                })),
                host.clone(),
            ],
            200,
        ),
        (
            "exp negative".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("exp".into(), json!(i64::MIN));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "no exp".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.remove("exp");
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "nbf in the future".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("nbf".into(), json!(NOW + 600));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "wrong issuer".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("iss".into(), json!("https://evil.example"));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "issuer with a trailing slash".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("iss".into(), json!(format!("{}/", crate::endpoint::ISSUER)));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "id token".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("token_use".into(), json!("id"));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "other client".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("client_id".into(), json!("other"));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "client id as an array".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("client_id".into(), json!([crate::endpoint::CLIENT]));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "no sub".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.remove("sub");
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "groups not a list".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.insert("cognito:groups".into(), json!("admin"));
                })),
                host.clone(),
            ],
            401,
        ),
        (
            "username with a slash".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("bob/photos"))), host.clone()],
            403,
        ),
        (
            "username ..".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!(".."))), host.clone()],
            403,
        ),
        (
            "username %2e%2e".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("%2e%2e"))), host.clone()],
            403,
        ),
        (
            "username with a wildcard".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("a*"))), host.clone()],
            403,
        ),
        (
            "username with a query".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("a?b=c"))), host.clone()],
            403,
        ),
        (
            "username with a backslash".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("a\\b"))), host.clone()],
            403,
        ),
        (
            "username unicode".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("bо b"))), host.clone()],
            403,
        ),
        (
            "username empty".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!(""))), host.clone()],
            403,
        ),
        (
            "username 300 chars".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("a".repeat(300)))), host.clone()],
            403,
        ),
        (
            "username with a newline".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!("a\r\nSet-Cookie: x=y"))), host.clone()],
            403,
        ),
        (
            "username a number".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&user(json!(42))), host.clone()],
            401,
        ),
        (
            "no username".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&claims(&|c| {
                    c.remove("username");
                })),
                host.clone(),
            ],
            403,
        ),
        (
            "no Host".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good)],
            400,
        ),
        (
            "foreign Host".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), ("host", "evil.example".into())],
            400,
        ),
        (
            "Host with a port".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), ("host", "media.example.com:8443".into())],
            400,
        ),
        (
            "Host with a trailing dot".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), ("host", "media.example.com.".into())],
            400,
        ),
        (
            "Host suffix trick".into(),
            "GET",
            "/cookie".into(),
            vec![
                auth(&good),
                ("host", "media.example.com.evil.example".into()),
            ],
            400,
        ),
        (
            "Host with userinfo".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), ("host", "evil@media.example.com".into())],
            400,
        ),
        (
            "Host IPv6".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), ("host", "[::1]".into())],
            400,
        ),
        (
            "Host with a path".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), ("host", "media.example.com/x".into())],
            400,
        ),
        (
            "Host upper case".into(),
            "GET",
            "/cookie".into(),
            vec![auth(&good), ("host", "MEDIA.EXAMPLE.COM".into())],
            200,
        ),
        (
            "POST /cookie".into(),
            "POST",
            "/cookie".into(),
            vec![auth(&good), host.clone()],
            405,
        ),
        (
            "PUT /cookie".into(),
            "PUT",
            "/cookie".into(),
            vec![auth(&good), host.clone()],
            405,
        ),
        (
            "DELETE /cookie".into(),
            "DELETE",
            "/cookie".into(),
            vec![auth(&good), host.clone()],
            405,
        ),
        (
            "TRACE /cookie".into(),
            "TRACE",
            "/cookie".into(),
            vec![auth(&good), host.clone()],
            405,
        ),
        (
            "GET /cookie/remove".into(),
            "GET",
            "/cookie/remove".into(),
            vec![host.clone()],
            405,
        ),
        (
            "sign-out from a foreign origin".into(),
            "POST",
            "/cookie/remove".into(),
            vec![host.clone(), ("origin", "https://evil.example".into())],
            403,
        ),
        (
            "sign-out, cross-site fetch".into(),
            "POST",
            "/cookie/remove".into(),
            vec![host.clone(), ("sec-fetch-site", "cross-site".into())],
            403,
        ),
        (
            "sign-out from the site".into(),
            "POST",
            "/cookie/remove".into(),
            vec![host.clone(), ("origin", "https://media.example.com".into())],
            200,
        ),
        (
            "upper-case path".into(),
            "GET",
            "/COOKIE".into(),
            vec![auth(&good), host.clone()],
            404,
        ),
        (
            "dot segments".into(),
            "GET",
            "/x/../cookie".into(),
            vec![auth(&good), host.clone()],
            404,
        ),
        (
            "encoded slash".into(),
            "GET",
            "/cookie%2Fremove".into(),
            vec![host.clone()],
            404,
        ),
        (
            "double slash".into(),
            "GET",
            "//cookie".into(),
            vec![auth(&good), host.clone()],
            404,
        ),
        (
            "other path".into(),
            "GET",
            "/admin".into(),
            vec![auth(&good), host.clone()],
            404,
        ),
    ];
    // Every case once more with a long, odd header a proxy might add: it changes nothing.
    let noisy: Vec<_> = out
        .iter()
        .filter(|c| c.0.starts_with("valid"))
        .map(|c| {
            let mut h = c.3.clone();
            h.push(("x-amzn-trace-id", "Root=1-".to_owned() + &"f".repeat(2000)));
            (format!("{} + noise", c.0), c.1, c.2.clone(), h, c.4)
        })
        .collect();
    out.extend(noisy);
    out.into_iter()
        .map(|(name, method, path, headers, status)| Case {
            name,
            method,
            path,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            status,
        })
        .collect()
}

/// Status and Set-Cookie headers of a raw HTTP/1.1 exchange.
fn raw_request(addr: std::net::SocketAddr, case: &Case) -> (u16, Vec<String>) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("{} {} HTTP/1.1\r\n", case.method, case.path);
    for (k, v) in &case.headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{}: no status line in {text:?}", case.name));
    let cookies = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .map(str::to_owned)
        .collect();
    (status, cookies)
}

fn lambda_request(recorded: &Value, case: &Case) -> lambda_http::Request {
    let mut event = recorded.clone();
    let (path, query) = case.path.split_once('?').unwrap_or((&case.path, ""));
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    event["requestContext"]["http"]["method"] = json!(case.method);
    event["requestContext"]["http"]["path"] = json!(path);
    let mut headers = serde_json::Map::new();
    for (k, v) in &case.headers {
        // Function URLs join repeated headers with commas, as API Gateway v2 does.
        match headers.get_mut(k) {
            Some(Value::String(prev)) => *prev = format!("{prev},{v}"),
            _ => {
                headers.insert(k.clone(), json!(v));
            }
        }
    }
    event["headers"] = Value::Object(headers);
    lambda_http::request::from_str(&event.to_string())
        .unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

#[tokio::test]
async fn hostile_requests_through_serve_and_the_lambda_handler() {
    let issuer = TokenMinter::new("kid-1");
    let stranger = TokenMinter::new("kid-1");
    let e = env(&[("CFCOOKIE_RESOURCE", "https://{host}/users/{username}/*")]);
    let (ep, _) = endpoint(&[&issuer], &e, NOW);
    let ep = Arc::new(ep);
    let cases = cases(&issuer, &stranger);
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cfcookie::serve::run(
        listener,
        cfcookie::serve::router(ep.clone()),
        async move {
            let _ = stopped.await;
        },
    ));
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/lambda/function_url.json"))
            .expect("event"),
    )
    .expect("json");
    let cases = Arc::new(cases);
    let over_tcp = {
        let cases = cases.clone();
        tokio::task::spawn_blocking(move || {
            cases
                .iter()
                .map(|c| raw_request(addr, c))
                .collect::<Vec<_>>()
        })
        .await
        .expect("client")
    };
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
    let mut failures = Vec::new();
    for (case, (status, cookies)) in cases.iter().zip(over_tcp) {
        let r = cfcookie::lambda::handle_lambda(&ep, lambda_request(&recorded, case)).await;
        let lambda_status = r.status().as_u16();
        let lambda_cookies = r.headers().get_all("set-cookie").iter().count();
        for (host, st, n) in [
            ("serve", status, cookies.len()),
            ("lambda", lambda_status, lambda_cookies),
        ] {
            if st != case.status {
                failures.push(format!(
                    "{} via {host}: {st}, expected {}",
                    case.name, case.status
                ));
            }
            if st >= 500 {
                failures.push(format!("{} via {host}: a 5xx", case.name));
            }
            if st >= 400 && n > 0 {
                failures.push(format!(
                    "{} via {host}: {n} cookies on a refusal",
                    case.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
