use std::sync::Arc;

use cfcookie_endpoint::CognitoVerifier;
use cfcookie_endpoint::{Endpoint, EndpointConfig};
use cfcookie_endpoint::{KeySource as _, StaticKeySource};
use cfcookie_signer::{verify_cookies, KeyAlgorithm, PrivateKey, Signer, ViewerRequest};
use http::Method;
use serde_json::{json, Value};

use crate::endpoint::{env, headers, MemJwks, TokenMinter, NOW};
use crate::util::cookie_header_from;

type Ep = Endpoint<CognitoVerifier<MemJwks>, StaticKeySource>;

/// An endpoint signing with an ECDSA key: its signatures are randomised, so two equal cookie
/// values can only come from one reused signature.
fn ecdsa_endpoint(issuer: &TokenMinter, pairs: &[(&str, &str)]) -> Ep {
    let jwks = MemJwks::default();
    *jwks.doc.lock().expect("lock") = json!({"keys": [issuer.jwk()]}).to_string();
    let (config, verifier) = EndpointConfig::from_map(&env(pairs)).expect("config");
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
    Endpoint {
        verifier: CognitoVerifier::new(verifier, jwks),
        keys: Arc::new(StaticKeySource::new(
            Signer::new("KECDSA00000001", Arc::new(key)).expect("signer"),
        )),
        config,
        clock: Arc::new(cfcookie_testing::FixedClock::at_epoch(NOW)),
    }
}

/// (expires from the body, Cookie header built from the Set-Cookie values).
async fn mint(ep: &Ep, issuer: &TokenMinter, sub: &str, exp: i64) -> (i64, String) {
    let token = issuer.with_claims(|c| {
        c.insert("sub".into(), Value::from(sub));
        c.insert("exp".into(), Value::from(exp));
    });
    let r = ep
        .handle(
            &Method::GET,
            "/cookie",
            &headers(&[
                ("authorization", &format!("Bearer {token}")),
                ("host", "media.example.com"),
            ]),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.body());
    let body: Value = serde_json::from_str(r.body()).expect("json");
    let cookie = cookie_header_from(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ascii")),
    );
    // Whatever the cache did, CloudFront would take the cookie for its resource.
    let group = ep.keys.key_group();
    let url = format!("https://media.example.com/users/{sub}/a.jpg");
    let request = ViewerRequest::new(&url, NOW).with_cookie_header(cookie.as_str());
    assert!(verify_cookies(&group, &request).is_ok(), "{cookie}");
    (body["expires"].as_i64().expect("expires"), cookie)
}

#[tokio::test]
async fn identical_policies_share_one_signature_only_when_the_cache_is_on() {
    assert_eq!(NOW % 60, 0, "the test's clock sits on a minute");
    let issuer = TokenMinter::new("kid-1");
    let shared = [("CFCOOKIE_RESOURCE", "https://media.example.com/*")];

    // Off (the default): expiry is the token's, and every cookie set is signed afresh.
    let ep = ecdsa_endpoint(&issuer, &shared);
    let (e1, c1) = mint(&ep, &issuer, "alice", NOW + 1810).await;
    let (e2, c2) = mint(&ep, &issuer, "alice", NOW + 1810).await;
    assert_eq!((e1, e2), (NOW + 1810, NOW + 1810));
    assert_ne!(c1, c2, "without the cache each request signs");

    // On, 60 s: two users whose tokens end in the same minute get one policy, one signature;
    // the expiry is rounded down, never past either token's exp.
    let ep = ecdsa_endpoint(
        &issuer,
        &[shared[0], ("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "60")],
    );
    let (e1, c1) = mint(&ep, &issuer, "alice", NOW + 1810).await;
    let (e2, c2) = mint(&ep, &issuer, "bob", NOW + 1859).await;
    assert_eq!((e1, e2), (NOW + 1800, NOW + 1800));
    assert_eq!(c1, c2, "the second user reused the first user's signature");
    let (e3, c3) = mint(&ep, &issuer, "carol", NOW + 1860).await;
    assert_eq!(e3, NOW + 1860);
    assert_ne!(c3, c1, "another minute is another policy");
    // A token ending within the minute keeps its own expiry rather than one already past.
    let (e4, _) = mint(&ep, &issuer, "dave", NOW + 30).await;
    assert_eq!(e4, NOW + 30);
}

#[tokio::test]
async fn per_user_resources_never_share_a_signature() {
    let issuer = TokenMinter::new("kid-1");
    let ep = ecdsa_endpoint(
        &issuer,
        &[
            (
                "CFCOOKIE_RESOURCE",
                "https://media.example.com/users/{sub}/*",
            ),
            ("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "60"),
        ],
    );
    let (_, alice) = mint(&ep, &issuer, "alice", NOW + 1810).await;
    let (_, bob) = mint(&ep, &issuer, "bob", NOW + 1810).await;
    assert_ne!(alice, bob);
    let cache = ep.config.signature_cache.as_ref().expect("cache on");
    assert_eq!(cache.len(), 2, "one entry per user's policy");
}

#[test]
fn bad_cache_settings_are_refused_with_the_variable_named() {
    for (k, v) in [
        ("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "-5"),
        ("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "a minute"),
        ("CFCOOKIE_SIGNATURE_CACHE_SIZE", "0"),
    ] {
        let e =
            EndpointConfig::from_map(&env(&[("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "60"), (k, v)]))
                .expect_err(v);
        assert_eq!(e.variable, k, "{e}");
    }
}
