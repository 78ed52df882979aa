use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use cfcookie_endpoint::StaticKeySource;
use cfcookie_endpoint::{CognitoVerifier, JwksFetcher};
use cfcookie_endpoint::{Endpoint, EndpointConfig};
use cfcookie_signer::{HashAlgorithm, KeyAlgorithm, PrivateKey, Signer};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};

use crate::util::{root, set_cookies};

pub const NOW: i64 = 1_795_341_600;
pub const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool";
pub const CLIENT: &str = "4f2client000000000000000000";
const KEY_ID: &str = "K2JCJMDEHXQW5F";

/// A JWKS served from memory, counting fetches.
#[derive(Clone, Default)]
pub struct MemJwks {
    pub doc: Arc<Mutex<String>>,
    pub fetches: Arc<AtomicUsize>,
}

impl JwksFetcher for MemJwks {
    async fn fetch(&self, _url: &str) -> Result<String, String> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await; // a real fetch takes a while
        Ok(self.doc.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token issuer under test control: crafts any JWT, well-formed or not.
pub struct TokenMinter {
    pub key: PrivateKey,
    pub kid: String,
}

impl TokenMinter {
    pub fn new(kid: &str) -> TokenMinter {
        TokenMinter {
            key: PrivateKey::generate(KeyAlgorithm::Rsa2048).expect("key"),
            kid: kid.to_owned(),
        }
    }

    pub fn jwk(&self) -> Value {
        let rsa =
            aws_lc_rs::rsa::PublicKey::from_der(self.key.public_key().spki_der()).expect("rsa");
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
               "n": b64(rsa.modulus().big_endian_without_leading_zero()), "e": b64(rsa.exponent().big_endian_without_leading_zero())})
    }

    pub fn claims(&self) -> Value {
        json!({"sub": "7b127ba3-a254-4487-a6bb-5f8c36e155ed", "iss": ISSUER, "client_id": CLIENT, "token_use": "access",
               "scope": "openid", "auth_time": NOW - 60, "iat": NOW - 60, "exp": NOW + 1800, "jti": "j1", "username": "alice",
               "cognito:groups": ["subscribers"]})
    }

    pub fn header(&self) -> Value {
        json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"})
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(HashAlgorithm::Sha256, input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(&sig))
    }

    pub fn token(&self) -> String {
        self.sign(&self.header(), &self.claims())
    }

    pub fn with_claims(&self, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut c = self.claims();
        edit(c.as_object_mut().expect("object"));
        self.sign(&self.header(), &c)
    }
}

pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = [
        ("CFCOOKIE_ISSUER", ISSUER),
        ("CFCOOKIE_JWKS_URL", "memory://jwks"),
        ("CFCOOKIE_CLIENT_IDS", CLIENT),
        ("CFCOOKIE_RESOURCE", "https://{host}/*"),
        ("CFCOOKIE_ALLOWED_HOSTS", "media.example.com"),
        ("CFCOOKIE_ALLOWED_ORIGINS", "https://app.example.com"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

pub type TestEndpoint = Endpoint<CognitoVerifier<MemJwks>, StaticKeySource>;

pub fn endpoint(
    issuers: &[&TokenMinter],
    env: &HashMap<String, String>,
    now: i64,
) -> (TestEndpoint, MemJwks) {
    let jwks = MemJwks::default();
    *jwks.doc.lock().expect("lock") =
        json!({"keys": issuers.iter().map(|i| i.jwk()).collect::<Vec<_>>()}).to_string();
    let (config, verifier) = EndpointConfig::from_map(env).expect("config");
    let key = PrivateKey::from_pem(
        &std::fs::read_to_string(root().join("signer/tests/data/rsa2048.pkcs8.pem")).expect("key"),
        None,
    )
    .expect("pem");
    let keys = StaticKeySource::new(Signer::new(KEY_ID, Arc::new(key)).expect("signer"));
    let ep = Endpoint {
        verifier: CognitoVerifier::new(verifier, jwks.clone())
            .with_refetch_interval(Duration::from_millis(300)),
        keys: Arc::new(keys),
        config,
        clock: Arc::new(cfcookie_testing::FixedClock::at_epoch(now)),
    };
    (ep, jwks)
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn get_cookie(ep: &TestEndpoint, h: &HeaderMap) -> (u16, Value, HeaderMap) {
    let r = ep.handle(&Method::GET, "/cookie", h).await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = serde_json::from_str(r.body()).unwrap_or(Value::Null);
    (status, body, headers)
}

#[tokio::test]
async fn a_valid_token_gets_cookies() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let (status, body, h) = get_cookie(
        &ep,
        &headers(&[
            ("authorization", &bearer(&issuer.token())),
            ("host", "media.example.com"),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "https://media.example.com/*");
    assert_eq!(
        body["expires"],
        NOW + 1800,
        "min(token exp, now + lifetime)"
    );
    assert_eq!(h.get("cache-control").expect("cc"), "no-store");
    let cookies: Vec<&str> = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    // Three issued; the two CloudFront cookies not issued now are expired (a stale one
    // would make CloudFront refuse the new ones).
    assert_eq!(cookies.len(), 5, "{cookies:?}");
    assert_eq!(
        cookies.iter().filter(|c| c.contains("Max-Age=0")).count(),
        2
    );
    assert!(
        cookies
            .iter()
            .all(|c| c.contains("; Secure; HttpOnly; SameSite=Lax") && c.contains("Expires=")),
        "{cookies:?}"
    );
    // Lifetime cap: a long-lived token gets at most CFCOOKIE_COOKIE_LIFETIME.
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[("CFCOOKIE_COOKIE_LIFETIME", "600")]),
        NOW,
    );
    let (_, body, _) = get_cookie(
        &ep,
        &headers(&[
            ("authorization", &bearer(&issuer.token())),
            ("host", "media.example.com"),
        ]),
    )
    .await;
    assert_eq!(body["expires"], NOW + 600);
}

/// A bad-token case: name, request headers, expected status and error code.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16, &'a str);

/// Every bad token gets 401 (or 403 for a missing group) with the right code, never a 5xx.
#[tokio::test]
async fn bad_tokens_table() {
    let issuer = TokenMinter::new("kid-1");
    let other = TokenMinter::new("kid-1"); // same kid, other key
    let good = issuer.token();
    let parts: Vec<&str> = good.split('.').collect();
    let pem = issuer.key.public_key().to_pem();
    let hs256 = |secret: &[u8]| {
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "HS256", "kid": "kid-1", "typ": "JWT"})
                .to_string()
                .as_bytes()),
            parts[1]
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        format!(
            "{input}.{}",
            b64(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref())
        )
    };
    let with_header = |h: Value| issuer.sign(&h, &issuer.claims());
    let raw =
        |h: &str, c: &str, s: &str| format!("{}.{}.{s}", b64(h.as_bytes()), b64(c.as_bytes()));
    let mut flipped = good.clone().into_bytes();
    let n = flipped.len() - 10;
    flipped[n] = if flipped[n] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("utf8");
    let big = "x".repeat(1024 * 1024);
    let rsa_n = issuer.jwk()["n"].as_str().expect("n").to_owned();

    let cases: Vec<Case<'_>> = vec![
        (
            "alg none, no signature",
            vec![(
                "authorization",
                bearer(&format!(
                    "{}.{}.",
                    b64(br#"{"alg":"none","typ":"JWT"}"#),
                    parts[1]
                )),
            )],
            401,
            "invalid_token",
        ),
        (
            "alg none with a signature",
            vec![(
                "authorization",
                bearer(&format!(
                    "{}.{}.{}",
                    b64(br#"{"alg":"none"}"#),
                    parts[1],
                    parts[2]
                )),
            )],
            401,
            "invalid_token",
        ),
        (
            "alg None",
            vec![(
                "authorization",
                bearer(&raw(
                    r#"{"alg":"None","kid":"kid-1"}"#,
                    &issuer.claims().to_string(),
                    parts[2],
                )),
            )],
            401,
            "invalid_token",
        ),
        (
            "HS256 with the public key PEM as secret",
            vec![("authorization", bearer(&hs256(pem.as_bytes())))],
            401,
            "invalid_token",
        ),
        (
            "HS256 with the modulus as secret",
            vec![("authorization", bearer(&hs256(rsa_n.as_bytes())))],
            401,
            "invalid_token",
        ),
        (
            "RS384",
            vec![(
                "authorization",
                bearer(&with_header(json!({"alg": "RS384", "kid": "kid-1"}))),
            )],
            401,
            "invalid_token",
        ),
        (
            "PS256",
            vec![(
                "authorization",
                bearer(&with_header(json!({"alg": "PS256", "kid": "kid-1"}))),
            )],
            401,
            "invalid_token",
        ),
        (
            "ES256",
            vec![(
                "authorization",
                bearer(&with_header(json!({"alg": "ES256", "kid": "kid-1"}))),
            )],
            401,
            "invalid_token",
        ),
        (
            "kid missing",
            vec![(
                "authorization",
                bearer(&with_header(json!({"alg": "RS256"}))),
            )],
            401,
            "invalid_token",
        ),
        (
            "kid unknown",
            vec![(
                "authorization",
                bearer(&with_header(json!({"alg": "RS256", "kid": "kid-9"}))),
            )],
            401,
            "invalid_token",
        ),
        (
            "kid empty",
            vec![(
                "authorization",
                bearer(&with_header(json!({"alg": "RS256", "kid": ""}))),
            )],
            401,
            "invalid_token",
        ),
        (
            "kid not a string",
            vec![(
                "authorization",
                bearer(&with_header(json!({"alg": "RS256", "kid": 7}))),
            )],
            401,
            "invalid_token",
        ),
        (
            "bad signature (one byte)",
            vec![("authorization", bearer(&flipped))],
            401,
            "invalid_token",
        ),
        (
            "signature by another key, same kid",
            vec![("authorization", bearer(&other.token()))],
            401,
            "invalid_token",
        ),
        (
            "signature empty",
            vec![(
                "authorization",
                bearer(&format!("{}.{}.", parts[0], parts[1])),
            )],
            401,
            "invalid_token",
        ),
        (
            "signature not base64url",
            vec![(
                "authorization",
                bearer(&format!("{}.{}.!!!", parts[0], parts[1])),
            )],
            401,
            "invalid_token",
        ),
        (
            "expired",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert("exp".into(), json!(NOW - 100));
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "expired just past leeway",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert("exp".into(), json!(NOW - 5));
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "exp missing",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.remove("exp");
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "exp a string",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert("exp".into(), json!("soon"));
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "nbf in the future",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert("nbf".into(), json!(NOW + 600));
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "wrong iss",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert(
                        "iss".into(),
                        json!("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"),
                    );
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "iss with a trailing slash",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert("iss".into(), json!(format!("{ISSUER}/")));
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "iss missing",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.remove("iss");
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "token_use id",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert("token_use".into(), json!("id"));
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "token_use missing",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.remove("token_use");
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "client not allowed",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.insert("client_id".into(), json!("someone-else"));
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "client_id missing",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.remove("client_id");
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "sub missing",
            vec![(
                "authorization",
                bearer(&issuer.with_claims(|c| {
                    c.remove("sub");
                })),
            )],
            401,
            "invalid_token",
        ),
        (
            "claims an array",
            vec![(
                "authorization",
                bearer(&raw(&issuer.header().to_string(), "[1,2]", parts[2])),
            )],
            401,
            "invalid_token",
        ),
        (
            "header not base64",
            vec![(
                "authorization",
                bearer(&format!("%%%.{}.{}", parts[1], parts[2])),
            )],
            401,
            "invalid_token",
        ),
        (
            "header not JSON",
            vec![(
                "authorization",
                bearer(&format!("{}.{}.{}", b64(b"{alg:RS256"), parts[1], parts[2])),
            )],
            401,
            "invalid_token",
        ),
        (
            "claims not JSON",
            vec![(
                "authorization",
                bearer(&format!("{}.{}.{}", parts[0], b64(b"not json"), parts[2])),
            )],
            401,
            "invalid_token",
        ),
        (
            "claims not base64",
            vec![(
                "authorization",
                bearer(&format!("{}.***.{}", parts[0], parts[2])),
            )],
            401,
            "invalid_token",
        ),
        (
            "two parts",
            vec![(
                "authorization",
                bearer(&format!("{}.{}", parts[0], parts[1])),
            )],
            401,
            "invalid_token",
        ),
        (
            "four parts",
            vec![("authorization", bearer(&format!("{good}.x")))],
            401,
            "invalid_token",
        ),
        (
            "header of 1 MB",
            vec![(
                "authorization",
                bearer(&format!(
                    "{}.{}.{}",
                    b64(big.as_bytes()),
                    parts[1],
                    parts[2]
                )),
            )],
            401,
            "invalid_token",
        ),
        (
            "claims of 1 MB",
            vec![(
                "authorization",
                bearer(&format!(
                    "{}.{}.{}",
                    parts[0],
                    b64(big.as_bytes()),
                    parts[2]
                )),
            )],
            401,
            "invalid_token",
        ),
        ("no Authorization", vec![], 401, "invalid_token"),
        (
            "Bearer without a token",
            vec![("authorization", "Bearer ".into())],
            401,
            "invalid_token",
        ),
        (
            "Basic scheme",
            vec![("authorization", "Basic YWxpY2U6c2VjcmV0".into())],
            401,
            "invalid_token",
        ),
        (
            "no scheme",
            vec![("authorization", good.clone())],
            401,
            "invalid_token",
        ),
        (
            "duplicated Authorization",
            vec![
                ("authorization", bearer(&good)),
                ("authorization", bearer(&good)),
            ],
            401,
            "invalid_token",
        ),
        (
            "token with inner space",
            vec![("authorization", bearer(&good.replacen('.', ". ", 1)))],
            401,
            "invalid_token",
        ),
        (
            "garbage",
            vec![(
                "authorization",
                "Bearer \u{7f}\u{1}".replace(['\u{7f}', '\u{1}'], "x"),
            )],
            401,
            "invalid_token",
        ),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    for (name, hs, status, code) in &cases {
        let mut pairs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.push(("host", "media.example.com"));
        let (got, body, h) = get_cookie(&ep, &headers(&pairs)).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (*status, Some(*code)),
            "{name}: {body}"
        );
        assert!(
            h.get("www-authenticate").is_some_and(|v| v
                .to_str()
                .expect("ascii")
                .starts_with("Bearer error=\"invalid_token\"")),
            "{name}"
        );
        assert!(
            h.get("set-cookie").is_none(),
            "{name}: cookies on a refusal"
        );
    }
    // A valid token without a required group, or a required scope: 403.
    for requirement in [
        ("CFCOOKIE_REQUIRED_GROUPS", "admins,editors"),
        ("CFCOOKIE_REQUIRED_SCOPES", "media.read"),
    ] {
        let (ep, _) = endpoint(&[&issuer], &env(&[requirement]), NOW);
        let h = headers(&[
            ("authorization", &bearer(&good)),
            ("host", "media.example.com"),
        ]);
        let (got, body, _) = get_cookie(&ep, &h).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (403, Some("insufficient_scope")),
            "{requirement:?}: {body}"
        );
    }
    println!("{} bad-token cases + 2 forbidden cases", cases.len());
}

#[tokio::test]
async fn unknown_kids_are_rate_limited_and_a_rotated_pool_key_is_picked_up() {
    let old = TokenMinter::new("kid-old");
    let (ep, jwks) = endpoint(&[&old], &env(&[]), NOW);
    let h = |t: &str| headers(&[("authorization", &bearer(t)), ("host", "media.example.com")]);
    assert_eq!(get_cookie(&ep, &h(&old.token())).await.0, 200);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);
    // A flood of made-up kids, concurrently: at most one more fetch within the interval.
    let forged = TokenMinter::new("kid-forged");
    let token = forged.token();
    let floods: Vec<_> = (0..50)
        .map(|_| ep.handle(&Method::GET, "/cookie", Box::leak(Box::new(h(&token)))))
        .collect();
    for r in futures_join(floods).await {
        assert_eq!(r.status().as_u16(), 401);
    }
    let after_flood = jwks.fetches.load(Ordering::SeqCst);
    assert!(
        after_flood <= 2,
        "{after_flood} JWKS fetches for 50 unknown-kid tokens"
    );
    // The pool rotates its key: after the interval the new kid is fetched and accepted.
    let new = TokenMinter::new("kid-new");
    *jwks.doc.lock().expect("lock") = json!({"keys": [old.jwk(), new.jwk()]}).to_string();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (s, b, _) = get_cookie(&ep, &h(&new.token())).await;
    assert_eq!(
        s,
        200,
        "the rotated pool key was not picked up: {b} after {} fetches",
        jwks.fetches.load(Ordering::SeqCst)
    );
    assert_eq!(get_cookie(&ep, &h(&old.token())).await.0, 200);
}

/// Only JWKS entries an RS256 signature may use are keys: `use` other than `sig` and `alg` other
/// than `RS256` are not (aws-jwt-verify refuses them too). An entry that writes `n` with a
/// leading zero byte, as some JWKS publishers do, is the same key.
#[tokio::test]
async fn jwks_entries_for_other_uses_or_algorithms_verify_nothing() {
    let minter = TokenMinter::new("kid-1");
    let h = |t: &str| headers(&[("authorization", &bearer(t)), ("host", "media.example.com")]);
    let edited = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut jwk = minter.jwk();
        edit(jwk.as_object_mut().expect("object"));
        jwk
    };
    let cases: Vec<(&str, Value, u16)> = vec![
        (
            "use enc",
            edited(&|j| {
                j.insert("use".into(), json!("enc"));
            }),
            401,
        ),
        (
            "alg RS512",
            edited(&|j| {
                j.insert("alg".into(), json!("RS512"));
            }),
            401,
        ),
        (
            "no use, no alg",
            edited(&|j| {
                j.remove("use");
                j.remove("alg");
            }),
            200,
        ),
        (
            "n with a leading zero byte",
            edited(&|j| {
                let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(j["n"].as_str().expect("n"))
                    .expect("b64");
                j.insert("n".into(), json!(b64(&[&[0u8][..], &n].concat())));
            }),
            200,
        ),
    ];
    for (name, jwk, want) in cases {
        let (ep, jwks) = endpoint(&[&minter], &env(&[]), NOW);
        *jwks.doc.lock().expect("lock") = json!({ "keys": [jwk] }).to_string();
        let (status, body, _) = get_cookie(&ep, &h(&minter.token())).await;
        assert_eq!(status, want, "{name}: {body}");
    }
}

async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    // Poll them together: a tiny join_all.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results {
        out.push(r.expect("done"));
    }
    out
}

#[tokio::test]
async fn host_allow_list_claims_escaping_and_errors() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let t = bearer(&issuer.token());
    let (s, b, _) = get_cookie(
        &ep,
        &headers(&[("authorization", &t), ("host", "evil.example.net")]),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("host_not_allowed")));
    let (s, _, _) = get_cookie(&ep, &headers(&[("authorization", &t)])).await;
    assert_eq!(s, 400, "no Host");
    let (s, _, _) = get_cookie(
        &ep,
        &headers(&[("authorization", &t), ("host", "MEDIA.example.com")]),
    )
    .await;
    assert_eq!(s, 200, "host names are case-insensitive");
    // A claim that is not one safe path segment never reaches the resource (escaping is not
    // enough: S3 decodes %2F, and `..` needs no escaping).
    let e = env(&[(
        "CFCOOKIE_RESOURCE",
        "https://media.example.com/users/{username}/*",
    )]);
    let (ep, _) = endpoint(&[&issuer], &e, NOW);
    for name in ["*", "../admin?x"] {
        let sneaky = issuer.with_claims(|c| {
            c.insert("username".into(), json!(name));
        });
        let (s, b, _) = get_cookie(&ep, &headers(&[("authorization", &bearer(&sneaky))])).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (403, Some("unsafe_claim")),
            "{name}"
        );
    }
    // Methods and routes.
    for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = ep
            .handle(&m, "/cookie", &headers(&[("authorization", &t)]))
            .await;
        assert_eq!(r.status().as_u16(), 405, "{m}");
        assert_eq!(
            r.headers().get("allow").expect("allow"),
            "GET, HEAD, OPTIONS"
        );
    }
    assert_eq!(
        ep.handle(&Method::GET, "/nope", &HeaderMap::new())
            .await
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        ep.handle(&Method::GET, "/cookie/", &headers(&[("authorization", &t)]))
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn remove_expires_every_cookie_with_the_same_domain_and_path() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[
            ("CFCOOKIE_COOKIE_DOMAIN", "example.com"),
            ("CFCOOKIE_COOKIE_PATH", "/media"),
        ]),
        NOW,
    );
    let r = ep
        .handle(&Method::POST, "/cookie/remove", &HeaderMap::new())
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(cookies.len(), 5);
    for c in cookies {
        assert!(c.contains("=; Path=/media; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"), "{c}");
    }
}

#[tokio::test]
async fn cors_only_for_allowed_origins() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[("CFCOOKIE_TOKEN_HEADER", "x-cfcookie-token")]),
        NOW,
    );
    let pre = ep
        .handle(
            &Method::OPTIONS,
            "/cookie",
            &headers(&[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "GET"),
            ]),
        )
        .await;
    assert_eq!(pre.status().as_u16(), 204);
    assert_eq!(
        pre.headers()
            .get("access-control-allow-origin")
            .expect("acao"),
        "https://app.example.com"
    );
    assert_eq!(
        pre.headers()
            .get("access-control-allow-credentials")
            .expect("acac"),
        "true"
    );
    assert_eq!(
        pre.headers()
            .get("access-control-allow-headers")
            .expect("acah"),
        "authorization, content-type, x-amz-content-sha256, x-cfcookie-token"
    );
    let evil = ep
        .handle(
            &Method::OPTIONS,
            "/cookie",
            &headers(&[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ]),
        )
        .await;
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let none = ep
        .handle(&Method::GET, "/cookie/remove", &HeaderMap::new())
        .await;
    assert!(
        none.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control")),
        "no Origin, no CORS"
    );
    // The token in the configured header (CloudFront OAC overwrites Authorization with SigV4).
    let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIA/20261122/eu-west-1/lambda/aws4_request, SignedHeaders=host, Signature=ab";
    let h = headers(&[
        ("authorization", sigv4),
        ("x-cfcookie-token", &issuer.token()),
        ("host", "media.example.com"),
    ]);
    assert_eq!(get_cookie(&ep, &h).await.0, 200);
}

/// The browser client is served as an ES module an app on an allowed origin may import
/// cross-origin (module scripts are fetched with CORS); nothing but GET/HEAD/OPTIONS.
#[tokio::test]
async fn the_browser_client_is_served_as_a_module() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let r = ep
        .handle(
            &Method::GET,
            "/cookie/client.js",
            &headers(&[("origin", "https://app.example.com")]),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(r.body().contains("export class CookieClient"));
    assert!(r.headers().get("set-cookie").is_none());
    let head = ep
        .handle(&Method::HEAD, "/cookie/client.js", &HeaderMap::new())
        .await;
    assert_eq!((head.status().as_u16(), head.body().as_str()), (200, ""));
    let post = ep
        .handle(&Method::POST, "/cookie/client.js", &HeaderMap::new())
        .await;
    assert_eq!(post.status().as_u16(), 405);
}

/// Tokens from the emulator's cognito-idp: real RS256 access and id tokens, verified through
/// the emulator's JWKS over HTTP.
#[tokio::test]
async fn real_cognito_tokens_from_the_emulator() {
    crate::util::require("python3", &["-c", "import boto3"]);
    let emu = cfcookie_testing::emulator::Emulator::start();
    let (code, out, err) = crate::util::run(
        std::process::Command::new("python3")
            .arg(root().join("tests/reference/cognito_tokens.py"))
            .arg(emu.endpoint()),
    );
    assert_eq!(code, 0, "{err}");
    let t: Value = serde_json::from_str(&out).expect("json");
    let s = |k: &str| t[k].as_str().expect(k).to_owned();
    for (token_use, token) in [("access", s("access_token")), ("id", s("id_token"))] {
        let e: HashMap<String, String> = [
            ("CFCOOKIE_ISSUER", s("issuer")),
            ("CFCOOKIE_JWKS_URL", s("jwks_url")),
            ("CFCOOKIE_CLIENT_IDS", s("client_id")),
            ("CFCOOKIE_TOKEN_USE", token_use.to_owned()),
            (
                "CFCOOKIE_RESOURCE",
                "https://media.example.com/*".to_owned(),
            ),
            ("CFCOOKIE_REQUIRED_GROUPS", "subscribers".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let (config, verifier) = EndpointConfig::from_map(&e).expect("config");
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).expect("key");
        let ep = Endpoint {
            verifier: CognitoVerifier::new(verifier, cfcookie_endpoint::HttpJwks),
            keys: Arc::new(StaticKeySource::new(
                Signer::new(KEY_ID, Arc::new(key)).expect("signer"),
            )),
            config,
            clock: Arc::new(cfcookie_endpoint::SystemClock),
        };
        let r = ep
            .handle(
                &Method::GET,
                "/cookie",
                &headers(&[("authorization", &bearer(&token))]),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200, "{token_use} token: {}", r.body());
        // The other kind of token is refused.
        let wrong = if token_use == "access" {
            s("id_token")
        } else {
            s("access_token")
        };
        let r = ep
            .handle(
                &Method::GET,
                "/cookie",
                &headers(&[("authorization", &bearer(&wrong))]),
            )
            .await;
        assert_eq!(
            r.status().as_u16(),
            401,
            "{token_use} endpoint accepted the other token"
        );
    }
}

/// The same requests through the Lambda host (recorded Function URL, API Gateway REST and ALB
/// payloads) and through the server host give identical responses.
#[tokio::test]
async fn lambda_and_server_hosts_answer_alike() {
    let issuer = TokenMinter::new("kid-1");
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let ep = Arc::new(ep);
    let token = issuer.token();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = cfcookie::serve::router(ep.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cfcookie::serve::run(listener, app, async move {
        let _ = stopped.await;
    }));
    let server_response = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let r = agent
            .get(&format!("http://{addr}/cookie"))
            .header("authorization", &format!("Bearer {token}"))
            .header("host", "media.example.com")
            .header("origin", "https://app.example.com")
            .call()
            .expect("request");
        let cookies = set_cookies(r.headers());
        let status = r.status().as_u16();
        let acao = r
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let body = r.into_body().read_to_string().expect("body");
        (status, cookies, acao, body)
    })
    .await
    .expect("client");
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
    assert_eq!(server_response.0, 200, "{}", server_response.3);
    for payload in ["function_url", "apigw_rest", "alb"] {
        let text =
            std::fs::read_to_string(root().join(format!("tests/data/lambda/{payload}.json")))
                .expect("payload")
                .replace("{{TOKEN}}", &issuer.token());
        let request =
            lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{payload}: {e}"));
        let r = cfcookie::lambda::handle_lambda(&ep, request).await;
        let body = match r.body() {
            lambda_http::Body::Text(t) => t.clone(),
            other => panic!("{payload}: body {other:?}"),
        };
        let cookies = set_cookies(r.headers());
        let acao = r
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(
            (r.status().as_u16(), &cookies, &acao, &body),
            (
                server_response.0,
                &server_response.1,
                &server_response.2,
                &server_response.3
            ),
            "{payload}"
        );
    }
}

/// Deployed, the endpoint reads its resource from the SSM parameter Terraform writes after the
/// distribution exists (CFCOOKIE_RESOURCE_PARAMETER).
#[tokio::test]
async fn the_resource_comes_from_the_ssm_parameter() {
    let emu = cfcookie_testing::emulator::Emulator::start();
    let ssm = aws_sdk_ssm::Client::new(&emu.sdk_config().await);
    ssm.put_parameter()
        .name("/stack/cfcookie/resource")
        .value("https://d1abc.cloudfront.net/*")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put");
    // nextest runs each test in its own process, so setting the AWS environment here is safe.
    for (k, v) in emu.env() {
        std::env::set_var(k, v);
    }
    let key = root()
        .join("signer/tests/data/rsa2048.pkcs8.pem")
        .display()
        .to_string();
    let e = env(&[
        ("CFCOOKIE_RESOURCE_PARAMETER", "/stack/cfcookie/resource"),
        ("CFCOOKIE_KEY_FILE", &key),
        ("CFCOOKIE_KEY_PAIR_ID", KEY_ID),
    ]);
    let mut e = e;
    e.remove("CFCOOKIE_RESOURCE");
    e.insert(
        "CFCOOKIE_JWKS_URL".into(),
        format!("{}/nope/jwks.json", emu.endpoint()),
    );
    let ep = cfcookie_endpoint::wiring::endpoint_from_env(&e)
        .await
        .expect("endpoint");
    assert_eq!(ep.config.resource, "https://d1abc.cloudfront.net/*");
    e.insert("CFCOOKIE_RESOURCE_PARAMETER".into(), "/missing".into());
    let err = cfcookie_endpoint::wiring::endpoint_from_env(&e)
        .await
        .expect_err("missing parameter");
    assert!(
        matches!(&err, cfcookie_endpoint::wiring::WiringError::ResourceParameter { name, .. } if name == "/missing"),
        "{err}"
    );
}

/// IP binding: only when configured, from CloudFront-Viewer-Address, IPv4 only.
#[tokio::test]
async fn viewer_ip_binding_only_when_configured() {
    let issuer = TokenMinter::new("kid-1");
    let t = bearer(&issuer.token());
    let policy_of = |h: &HeaderMap| -> Value {
        let c = h
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ascii"))
            .find(|c| c.starts_with("CloudFront-Policy="))
            .expect("policy cookie");
        let b64 = c
            .trim_start_matches("CloudFront-Policy=")
            .split(';')
            .next()
            .expect("value");
        serde_json::from_slice(&crate::util::cf_decode(b64)).expect("policy json")
    };
    let (ep, _) = endpoint(
        &[&issuer],
        &env(&[("CFCOOKIE_BIND_VIEWER_IP", "true")]),
        NOW,
    );
    let (s, _, h) = get_cookie(
        &ep,
        &headers(&[
            ("authorization", &t),
            ("host", "media.example.com"),
            ("cloudfront-viewer-address", "198.51.100.7:46532"),
        ]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        policy_of(&h)["Statement"][0]["Condition"]["IpAddress"]["AWS:SourceIp"],
        "198.51.100.7/32"
    );
    for bad in [None, Some("2001:db8::1:443")] {
        let mut pairs = vec![("authorization", t.as_str()), ("host", "media.example.com")];
        if let Some(v) = bad {
            pairs.push(("cloudfront-viewer-address", v));
        }
        let (s, b, _) = get_cookie(&ep, &headers(&pairs)).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("no_viewer_address")),
            "{bad:?}"
        );
    }
    // Not configured: the header is the caller's to forge, so it is ignored.
    let (ep, _) = endpoint(&[&issuer], &env(&[]), NOW);
    let (_, _, h) = get_cookie(
        &ep,
        &headers(&[
            ("authorization", &t),
            ("host", "media.example.com"),
            ("cloudfront-viewer-address", "198.51.100.7:1"),
        ]),
    )
    .await;
    assert!(policy_of(&h)["Statement"][0]["Condition"]
        .get("IpAddress")
        .is_none());
}

/// `cfcookie serve` stops cleanly on SIGTERM (as a container or systemd stops it).
#[test]
fn serve_stops_gracefully_on_sigterm() {
    let key = root().join("signer/tests/data/rsa2048.pkcs8.pem");
    let port = cfcookie_testing::emulator::free_port();
    let mut child = crate::util::cfcookie()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .envs(env(&[]))
        .env("CFCOOKIE_KEY_FILE", &key)
        .env("CFCOOKIE_KEY_PAIR_ID", KEY_ID)
        .env("CFCOOKIE_JWKS_URL", "http://127.0.0.1:9/unreachable")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    cfcookie_testing::emulator::wait_for_port(port, "cfcookie serve", Duration::from_secs(20));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .post(&format!("http://127.0.0.1:{port}/cookie/remove"))
        .send_empty()
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            assert!(exit.success(), "serve exited with {exit} after SIGTERM");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
