//! The endpoint's request path: hostile headers, tokens (mutations of a valid one reach the
//! claim checks) and resource templates expanded with the token's claims. Never a panic, never
//! a 5xx, never a cookie on a refusal, never a resource outside the template's shape.
#![no_main]

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use cfcookie_endpoint::{Endpoint, EndpointConfig};
use cfcookie_endpoint::StaticKeySource;
use cfcookie_signer::{HashAlgorithm, KeyAlgorithm, PrivateKey, Signer};
use cfcookie_endpoint::{CognitoVerifier, JwksFetcher};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_795_341_600;
const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Fuzz";

struct Jwks(String);

impl JwksFetcher for Jwks {
    async fn fetch(&self, _url: &str) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

type Fuzzed = Endpoint<CognitoVerifier<Jwks>, StaticKeySource>;

struct Fixture {
    endpoints: Vec<Fuzzed>,
    valid_header: String,
    key: PrivateKey,
    runtime: tokio::runtime::Runtime,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).expect("key");
        let rsa = aws_lc_rs::rsa::PublicKey::from_der(key.public_key().spki_der()).expect("rsa");
        let jwks = serde_json::json!({"keys": [{"kty": "RSA", "alg": "RS256", "kid": "k1",
            "n": b64(rsa.modulus().big_endian_without_leading_zero()), "e": b64(rsa.exponent().big_endian_without_leading_zero())}]})
        .to_string();
        let signing = Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key"));
        let endpoints = [
            "https://{host}/*",
            "https://media.example.com/users/{username}/*",
            "https://{host}/u/{sub}/{client_id}/*",
            "https://media.example.com/h/{username:sha256}/*",
        ]
        .iter()
        .map(|template| {
            let env = [
                ("CFCOOKIE_ISSUER", ISSUER),
                ("CFCOOKIE_JWKS_URL", "memory://"),
                ("CFCOOKIE_CLIENT_IDS", "client"),
                ("CFCOOKIE_RESOURCE", template),
                ("CFCOOKIE_ALLOWED_HOSTS", "media.example.com,localhost:8080"),
                ("CFCOOKIE_ALLOWED_ORIGINS", "https://app.example.com"),
                ("CFCOOKIE_BIND_VIEWER_IP", "true"),
                ("CFCOOKIE_TOKEN_HEADER", "x-token"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let (config, verifier) = EndpointConfig::from_map(&env).expect("config");
            Endpoint {
                verifier: CognitoVerifier::new(verifier, Jwks(jwks.clone())),
                keys: Arc::new(StaticKeySource::new(Signer::new("KFUZZ", signing.clone()).expect("signer"))),
                config,
                clock: Arc::new(cfcookie_secret::clock::FixedClock::at_epoch(NOW)),
            }
        })
        .collect();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        Fixture { endpoints, valid_header: b64(br#"{"alg":"RS256","kid":"k1"}"#), key, runtime }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let ep = &f.endpoints[usize::from(selector) % f.endpoints.len()];
    let method = match selector / 16 {
        0 => Method::HEAD,
        1 => Method::POST,
        2 => Method::OPTIONS,
        _ => Method::GET,
    };
    let path = lines.next().unwrap_or_default();
    // The second line is a claims object, signed into a valid token (so the fuzzer reaches the
    // claim checks and the resource expansion), unless it starts with '!' (then a raw token).
    let token = match lines.next().unwrap_or_default() {
        raw if raw.starts_with('!') => raw[1..].to_owned(),
        claims => {
            let claims = format!(
                r#"{{"iss":"{ISSUER}","token_use":"access","client_id":"client","sub":"s","exp":{},{claims}"#,
                NOW + 600
            );
            let input = format!("{}.{}", f.valid_header, b64(claims.as_bytes()));
            let sig = f
                .key
                .sign(HashAlgorithm::Sha256, input.as_bytes())
                .expect("sign");
            format!("{input}.{}", b64(&sig))
        }
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.append(http::header::AUTHORIZATION, v);
    }
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            ) {
                headers.append(k, v);
            }
        }
    }
    let response = f.runtime.block_on(ep.handle(&method, path, &headers));
    let status = response.status().as_u16();
    assert!(status < 500, "{status}: {}", response.body());
    if status >= 400 {
        assert!(
            response.headers().get(http::header::SET_COOKIE).is_none(),
            "cookies on {status}"
        );
    }
    if status == 200
        && path.starts_with("/cookie")
        && !path.starts_with("/cookie/remove")
        && method != Method::HEAD
    {
        let body: serde_json::Value = serde_json::from_str(response.body()).expect("json body");
        let resource = body["resource"].as_str().expect("resource");
        // A claim can add nothing but one safe segment: no dot segments, no new wildcards.
        assert!(
            !resource.contains("/../") && !resource.contains("/./"),
            "{resource}"
        );
        assert_eq!(resource.matches('*').count(), 1, "{resource}");
        assert!(
            !resource.contains('?') && !resource.contains('%'),
            "{resource}"
        );
    }
});
