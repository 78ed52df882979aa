//! `cfcookie edge` against the emulator: a distribution, key group and public keys made with
//! boto3, viewers signed by botocore and @aws-sdk/cloudfront-signer, an S3 origin in the
//! emulator and an origin that echoes what reached it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cfcookie_testing::emulator::{free_port, wait_for_port, Emulator};
use serde_json::{json, Value};

use crate::util::{require, root};

/// The Lambda function URL domain the distribution's custom origin names.
const APP_DOMAIN: &str = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
/// Far in the future: a policy that has not expired.
const LATER: i64 = 2_000_000_000;

fn python() -> String {
    std::env::var("CFCOOKIE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("spawn a reference tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the reference tool")
}

/// The stack `tests/reference/edge_stack.py create` made.
struct Stack {
    emulator: Emulator,
    ids: Value,
    _dir: tempfile::TempDir,
}

impl Stack {
    fn create() -> Stack {
        let emulator = Emulator::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = json_of(
            Command::new(python())
                .arg(root().join("tests/reference/edge_stack.py"))
                .args(["create", &emulator.endpoint()])
                .arg(dir.path())
                .arg(APP_DOMAIN),
        );
        Stack {
            emulator,
            ids,
            _dir: dir,
        }
    }

    fn id(&self, name: &str) -> String {
        self.ids[name].as_str().expect(name).to_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.id("domain_name"))
    }

    fn set_group(&self, keys: &[String]) {
        json_of(
            Command::new(python())
                .arg(root().join("tests/reference/edge_stack.py"))
                .args([
                    "set-group",
                    &self.emulator.endpoint(),
                    &self.id("key_group_id"),
                ])
                .args(keys),
        );
    }

    /// A case for the reference signers: `key` is `rsa`, `ec` or `stranger`.
    fn case(&self, key: &str, hash: &str, mode: &str, path: &str, resource: Option<&str>) -> Value {
        let key_id = match key {
            "stranger" => "KSTRANGER0000".to_owned(),
            k => self.id(&format!("{k}_key_id")),
        };
        json!({
            "key": self.id(&format!("{key}_pem")),
            "key_id": key_id,
            "alg": if key == "ec" { "EC" } else { "RSA" },
            "hash": hash,
            "mode": mode,
            "url": self.url(path),
            "resource": resource.map(|r| self.url(r)),
            "expires": LATER,
        })
    }
}

fn botocore(cases: &[Value]) -> Vec<Value> {
    sign_with(
        &mut Command::new(python()),
        "tests/reference/edge_stack.py",
        &["sign"],
        cases,
    )
}

fn npm(cases: &[Value]) -> Vec<Value> {
    require("node", &["--version"]);
    sign_with(
        &mut Command::new("node"),
        "tests/node/edge-sign.js",
        &[],
        cases,
    )
}

fn sign_with(cmd: &mut Command, script: &str, args: &[&str], cases: &[Value]) -> Vec<Value> {
    let file = tempfile::NamedTempFile::new().expect("cases file");
    std::fs::write(file.path(), serde_json::to_vec(cases).expect("json")).expect("write cases");
    let out = json_of(
        cmd.arg(root().join(script))
            .args(args)
            .arg(file.path())
            .current_dir(root().join("tests/node")),
    );
    out.as_array().expect("an array of results").clone()
}

/// A running `cfcookie edge`; killed on drop.
struct EdgeProcess {
    child: Child,
    port: u16,
}

impl EdgeProcess {
    fn start(stack: &Stack, origin: &str, delay: u64) -> EdgeProcess {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_cfcookie"))
            .args(["edge", "--distribution-id", &stack.id("distribution_id")])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--origin", &format!("{APP_DOMAIN}={origin}")])
            .args(["--propagation-delay", &delay.to_string()])
            .envs(stack.emulator.env())
            .stdout(Stdio::null())
            .spawn()
            .expect("start cfcookie edge");
        wait_for_port(port, "cfcookie edge", Duration::from_secs(30));
        EdgeProcess { child, port }
    }

    /// (status, refusal header, body) of a request with extra headers.
    fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let (status, refusal, body, _) = self.exchange(method, path_and_query, headers, body);
        (status, refusal, body)
    }

    /// The same, with the response headers.
    fn exchange(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String, http::HeaderMap) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let url = format!("http://127.0.0.1:{}{path_and_query}", self.port);
        let method: http::Method = method.parse().expect("method");
        let mut req = http::Request::builder().method(method).uri(&url);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let mut resp = if body.is_empty() {
            agent.run(req.body(()).expect("request"))
        } else {
            agent.run(req.body(body.to_owned()).expect("request"))
        }
        .expect("the edge answers");
        let refusal = resp
            .headers()
            .get("x-cfcookie-refusal")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, refusal, text, resp.headers().clone())
    }

    fn get(&self, path_and_query: &str, cookie: Option<&str>) -> (u16, String, String) {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        self.request("GET", path_and_query, &headers, "")
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path and query of a signed URL, as a viewer sends them to the edge.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").expect("absolute URL").1;
    rest[rest.find('/').expect("a path")..].to_owned()
}

/// An origin that answers every request with what reached it, as JSON.
fn echo_origin() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_owned();
                    let target = parts.next().unwrap_or_default().to_owned();
                    let mut headers = Vec::new();
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (n, v) = h.split_once(':').expect("header line");
                        let (n, v) = (n.trim().to_ascii_lowercase(), v.trim().to_owned());
                        if n == "content-length" {
                            length = v.parse().expect("length");
                        }
                        headers.push(json!([n, v]));
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).expect("body");
                    let out = json!({"method": method, "target": target, "headers": headers,
                        "body": String::from_utf8_lossy(&body)})
                    .to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{out}",
                        out.len()
                    );
                    if reader.get_mut().write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// What the echo origin saw: one header's values.
fn seen(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().expect("value").to_owned())
        .collect()
}

#[test]
fn independent_signers_are_allowed_and_bad_signatures_refused_with_their_reason() {
    let stack = Stack::create();
    let edge = EdgeProcess::start(&stack, &echo_origin(), 0);
    let cat = "/photos/cat.txt";
    let all = Some("/*");

    // Allowed: every kind either reference signer makes.
    let boto = botocore(&[
        stack.case("rsa", "SHA1", "url", cat, None),
        stack.case("rsa", "SHA256", "url", cat, None),
        stack.case("ec", "SHA1", "url", cat, None),
        stack.case("ec", "SHA256", "url", cat, all),
        stack.case("rsa", "SHA1", "cookies", cat, all),
        stack.case("ec", "SHA256", "cookies", cat, all),
    ]);
    let node = npm(&[
        stack.case("rsa", "SHA1", "url", cat, None),
        stack.case("rsa", "SHA256", "url", cat, all),
        stack.case("rsa", "SHA1", "cookies", cat, all),
        stack.case("rsa", "SHA256", "cookies", cat, all),
        stack.case("rsa", "SHA1", "cookies", cat, None),
    ]);
    for (i, signed) in boto.iter().chain(&node).enumerate() {
        let (status, refusal, body) = match (signed.get("url"), signed.get("cookie")) {
            (Some(url), _) => edge.get(&path_of(url.as_str().expect("url")), None),
            (_, Some(c)) => edge.get(cat, c.as_str()),
            _ => panic!("no url or cookie in {signed}"),
        };
        assert_eq!(
            (status, refusal.as_str(), body.as_str()),
            (200, "", "a cat from S3"),
            "case {i}: {signed}"
        );
    }

    // Refused, each with the verifier's reason.
    let (status, refusal, _) = edge.get(cat, None);
    assert_eq!((status, refusal.as_str()), (403, "missing_cookie"));

    let url = path_of(boto[0]["url"].as_str().expect("url"));
    let tampered = url.replace("cat.txt", "dog.txt");
    assert_eq!(edge.get(&tampered, None).1, "bad_signature", "{tampered}");
    let flipped = {
        let at = url.find("Signature=").expect("signature") + "Signature=".len() + 5;
        let mut s = url.clone().into_bytes();
        s[at] = if s[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(s).expect("ascii")
    };
    assert_eq!(edge.get(&flipped, None).1, "bad_signature");

    let mut expired = stack.case("rsa", "SHA256", "cookies", cat, all);
    expired["expires"] = json!(1_600_000_000);
    let mut wrong_resource = stack.case("ec", "SHA256", "cookies", cat, Some("/videos/*"));
    wrong_resource["expires"] = json!(LATER);
    let refused = botocore(&[
        expired,
        wrong_resource,
        stack.case("stranger", "SHA1", "url", cat, None),
    ]);
    let cookie = |i: usize| refused[i]["cookie"].as_str().map(str::to_owned);
    let (status, refusal, _) = edge.get(cat, cookie(0).as_deref());
    assert_eq!((status, refusal.as_str()), (403, "expired"));
    assert_eq!(edge.get(cat, cookie(1).as_deref()).1, "resource_mismatch");
    let stranger = path_of(refused[2]["url"].as_str().expect("url"));
    assert_eq!(edge.get(&stranger, None).1, "unknown_key_id");
    // A SHA-256 signature declared as SHA-1: the hash must be named.
    let undeclared =
        path_of(boto[1]["url"].as_str().expect("url")).replace("&Hash-Algorithm=SHA256", "");
    assert_eq!(edge.get(&undeclared, None).1, "hash_mismatch");
}

#[test]
fn a_removed_key_is_honoured_until_the_propagation_delay_has_passed() {
    const DELAY: u64 = 6;
    let stack = Stack::create();
    let edge = EdgeProcess::start(&stack, &echo_origin(), DELAY);
    let cat = "/photos/cat.txt";
    let signed = botocore(&[stack.case("ec", "SHA256", "url", cat, Some("/*"))]);
    let url = path_of(signed[0]["url"].as_str().expect("url"));
    assert_eq!(edge.get(&url, None).0, 200, "the EC key is trusted");

    let removed_at = Instant::now();
    stack.set_group(&[stack.id("rsa_key_id")]);
    // The change is in CloudFront (the emulator) once set_group returns; the edge then reads it
    // within a refresh and applies it DELAY later. A loaded machine may start set_group's
    // Python slowly, so the latest instant counts from its return, with room for a refresh.
    let changed_at = Instant::now();
    // The edge reads the change within a second, in whole seconds, so it can show at the
    // earliest DELAY - 1 s after the removal; until then every request is still allowed.
    while removed_at.elapsed() < Duration::from_secs(DELAY - 1) {
        let (status, refusal, _) = edge.get(&url, None);
        assert_eq!(
            (status, refusal.as_str()),
            (200, ""),
            "refused {:?} after the removal, before the {DELAY} s propagation delay",
            removed_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = changed_at + Duration::from_secs(DELAY + 10);
    loop {
        let (status, refusal, _) = edge.get(&url, None);
        if status == 403 {
            assert_eq!(refusal, "unknown_key_id");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the removed key is still trusted {:?} after the removal",
            removed_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The key still in the group keeps working.
    let rsa = botocore(&[stack.case("rsa", "SHA1", "url", cat, None)]);
    assert_eq!(
        edge.get(&path_of(rsa[0]["url"].as_str().expect("url")), None)
            .0,
        200
    );
}

#[test]
fn behaviors_methods_host_and_authorization_as_the_origin_sees_them() {
    let stack = Stack::create();
    let edge = EdgeProcess::start(&stack, &echo_origin(), 0);
    let cookies = botocore(&[stack.case("rsa", "SHA256", "cookies", "/", Some("/*"))]);
    let cookie = cookies[0]["cookie"].as_str().expect("cookie");
    let echo = |(status, refusal, body): (u16, String, String)| -> Value {
        assert_eq!((status, refusal.as_str()), (200, ""), "{body}");
        serde_json::from_str(&body).expect("the echo origin answered")
    };

    // /app/public/* comes before app/* (written without its leading /): public, GET and HEAD.
    let seen_public = echo(edge.request(
        "GET",
        "/app/public/a?x=1",
        &[("authorization", "Bearer viewer-token"), ("x-viewer", "v")],
        "",
    ));
    assert_eq!(seen_public["target"], "/app/public/a?x=1");
    assert_eq!(seen(&seen_public, "host"), [APP_DOMAIN], "Host rewritten");
    let auth = seen(&seen_public, "authorization");
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert!(
        auth[0].starts_with("AWS4-HMAC-SHA256 Credential=testing/")
            && auth[0].contains("/us-east-1/lambda/aws4_request"),
        "OAC's signature replaces the viewer's Authorization: {auth:?}"
    );
    assert_eq!(seen(&seen_public, "x-viewer"), ["v"]);
    // AllViewerExceptHostHeader includes no CloudFront header:
    // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-all-viewer-except-host-header
    assert!(seen(&seen_public, "cloudfront-viewer-address").is_empty());
    assert!(seen(&seen_public, "cloudfront-forwarded-proto").is_empty());
    let (status, refusal, _) = edge.request("POST", "/app/public/a", &[], "x");
    assert_eq!((status, refusal.as_str()), (403, "method_not_allowed"));

    // app/*: signed, every method; the body and the cookies reach the origin.
    assert_eq!(edge.get("/app/private", None).1, "missing_cookie");
    // A POST to a Lambda function URL through OAC must carry its body's SHA-256, as Lambda
    // takes no unsigned payload:
    // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-lambda.html
    let unhashed = edge.request("POST", "/app/private", &[("cookie", cookie)], "payload");
    assert_eq!(
        (unhashed.0, unhashed.1.as_str()),
        (403, "missing_payload_hash")
    );
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let other = edge.request(
        "POST",
        "/app/private",
        &[("cookie", cookie), ("x-amz-content-sha256", EMPTY_SHA256)],
        "payload",
    );
    assert_eq!((other.0, other.1.as_str()), (403, "payload_hash_mismatch"));
    const PAYLOAD_SHA256: &str = "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5";
    let posted = echo(edge.request(
        "POST",
        "/app/private",
        &[("cookie", cookie), ("x-amz-content-sha256", PAYLOAD_SHA256)],
        "payload",
    ));
    assert_eq!(
        (posted["method"].as_str(), posted["body"].as_str()),
        (Some("POST"), Some("payload"))
    );
    assert!(seen(&posted, "cookie")[0].contains("CloudFront-Key-Pair-Id="));

    // Patterns are case-sensitive: /App/… falls through to the default (S3, signed, no POST).
    assert_eq!(edge.get("/App/public/a", None).1, "missing_cookie");
    assert_eq!(
        edge.request("DELETE", "/photos/cat.txt", &[("cookie", cookie)], "")
            .1,
        "method_not_allowed"
    );

    // CachingOptimized without an origin request policy: no viewer header, cookie or query.
    let plain = echo(edge.request(
        "GET",
        "/plain/b?q=1",
        &[("cookie", "a=b"), ("x-viewer", "v")],
        "",
    ));
    assert_eq!(plain["target"], "/plain/b");
    assert!(seen(&plain, "cookie").is_empty() && seen(&plain, "x-viewer").is_empty());
    assert!(seen(&plain, "cloudfront-viewer-address").is_empty());
    assert_eq!(seen(&plain, "host"), [APP_DOMAIN]);

    // AllViewerAndCloudFrontHeaders-2022-06 adds the CloudFront headers it lists:
    // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html#managed-origin-request-policy-all-viewer-and-cloudfront
    let cf = echo(edge.get("/cf/d", None));
    let address = seen(&cf, "cloudfront-viewer-address");
    assert!(
        address.len() == 1 && address[0].starts_with("127.0.0.1:"),
        "{address:?}"
    );
    assert_eq!(seen(&cf, "cloudfront-forwarded-proto"), ["https"]);

    // AllViewer forwards the viewer's Host.
    let all = echo(edge.get("/all/c", None));
    assert_eq!(seen(&all, "host"), [format!("127.0.0.1:{}", edge.port)]);

    // The response headers policy on /all/*: CORS for the allowed app origin only, and the
    // security headers on every answer.
    let header =
        |h: &http::HeaderMap, n: &str| h.get(n).map(|v| v.to_str().expect("ascii").to_owned());
    let (_, _, _, cors) = edge.exchange("GET", "/all/c", &[("origin", "https://app.example")], "");
    assert_eq!(
        header(&cors, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        header(&cors, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(&cors, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        header(&cors, "x-frame-options").as_deref(),
        Some("SAMEORIGIN")
    );
    let (_, _, _, foreign) =
        edge.exchange("GET", "/all/c", &[("origin", "https://evil.example")], "");
    assert_eq!(header(&foreign, "access-control-allow-origin"), None);
    assert_eq!(
        header(&foreign, "x-frame-options").as_deref(),
        Some("SAMEORIGIN")
    );
    let (_, _, _, preflight) = edge.exchange(
        "OPTIONS",
        "/all/c",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
        ],
        "",
    );
    assert_eq!(
        header(&preflight, "access-control-allow-methods").as_deref(),
        Some("GET, HEAD")
    );
    assert_eq!(
        header(&preflight, "access-control-max-age").as_deref(),
        Some("3600")
    );
    let (_, _, _, plain_headers) =
        edge.exchange("GET", "/plain/b", &[("origin", "https://app.example")], "");
    assert_eq!(
        header(&plain_headers, "access-control-allow-origin"),
        None,
        "no policy on /plain/*"
    );

    // The default root object, from the S3 origin through the S3 API.
    let (status, _, body) = edge.get("/", Some(cookie));
    assert_eq!((status, body.as_str()), (200, "<h1>root object</h1>"));

    // S3's 404 becomes the distribution's custom error response: its page, its code.
    let (status, _, body) = edge.get("/photos/missing.txt", Some(cookie));
    assert_eq!((status, body.as_str()), (404, "<p>not here</p>"));
}

#[test]
fn an_unknown_distribution_is_a_clear_error() {
    let emulator = Emulator::start();
    let out = Command::new(env!("CARGO_BIN_EXE_cfcookie"))
        .args([
            "edge",
            "--distribution-id",
            "ENOSUCHDIST00",
            "--listen",
            "127.0.0.1:0",
        ])
        .envs(emulator.env())
        .output()
        .expect("run cfcookie edge");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("GetDistribution ENOSUCHDIST00") && stderr.contains("NoSuchDistribution"),
        "{stderr}"
    );
}
