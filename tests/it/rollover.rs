use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use cfcookie::endpoint::{Endpoint, EndpointConfig};
use cfcookie::keysource::{SecretKeySource, SecretsManagerReader};
use cfcookie::signer::{verify_cookies, KeyGroup, PublicKey, ViewerRequest};
use cfcookie::token::CognitoVerifier;
use cfcookie_rotator::driver::rotate_in_process;
use cfcookie_rotator::ports::KeyRegistry as _;
use cfcookie_rotator::sdk::{SdkKeyRegistry, SdkParameterStore, SdkSecretStore};
use cfcookie_rotator::testing::{bootstrap, Emulator};
use cfcookie_rotator::{Config, Rotator};
use http::Method;
use serde_json::Value;

use crate::endpoint::{env, headers, Issuer, MemJwks};
use crate::util::cookie_header_from;

/// CloudFront's key group as it stands in the emulator.
async fn cloudfront_group(registry: &SdkKeyRegistry, group: &str) -> KeyGroup {
    let mut g = KeyGroup::new();
    for id in registry
        .get_key_group(group)
        .await
        .expect("group")
        .expect("exists")
        .items
    {
        let (record, _) = registry
            .get_public_key(&id)
            .await
            .expect("key")
            .expect("exists");
        g.insert(id, PublicKey::from_pem(&record.encoded_key).expect("pem"));
    }
    g
}

/// During and after a rotation (the rotator against the emulator), no request fails, every
/// cookie verifies against CloudFront's key group as it is at that moment, and the previous
/// key signs until the new one's active_from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_across_a_rotation() {
    let emu = Emulator::start();
    let aws = emu.sdk_config().await;
    let b = bootstrap(&aws, "rollover").await;
    let rotator = Rotator {
        secrets: SdkSecretStore::new(&aws),
        registry: SdkKeyRegistry::new(&aws),
        params: SdkParameterStore::new(&aws),
        keygen: cfcookie_rotator::ports::Rsa2048Generator,
        clock: cfcookie_rotator::ports::SystemClock,
        probe: cfcookie_rotator::ports::NoProbe,
        config: Config::for_tests(&b.group, &b.parameter),
    };
    let first = rotate_in_process(&rotator, &b.secret, false)
        .await
        .expect("first rotation")
        .key_id;

    let now = Arc::new(AtomicI64::new(cfcookie::time::now()));
    let issuer = Issuer::new("kid-1");
    let jwks = MemJwks::default();
    *jwks.doc.lock().expect("lock") = serde_json::json!({"keys": [issuer.jwk()]}).to_string();
    let (config, verifier) = EndpointConfig::from_map(&env(&[])).expect("config");
    let keys = Arc::new(SecretKeySource::new(SecretsManagerReader::new(
        SdkSecretStore::new(&aws),
        b.secret.clone(),
    )));
    keys.refresh().await.expect("load");
    let clock = now.clone();
    let ep = Arc::new(Endpoint {
        verifier: CognitoVerifier::new(verifier, jwks),
        keys: keys.clone(),
        config,
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
    });
    let token = {
        let mut c = issuer.claims();
        c["exp"] = Value::from(now.load(Ordering::SeqCst) + 7200);
        c["iat"] = Value::from(now.load(Ordering::SeqCst));
        issuer.sign(&issuer.header(), &c)
    };
    let h = headers(&[
        ("authorization", &format!("Bearer {token}")),
        ("host", "media.example.com"),
    ]);

    let cf = SdkKeyRegistry::new(&aws);
    let request = |ep: Arc<Endpoint<_, _>>, h: http::HeaderMap| async move {
        let r = ep.handle(&Method::GET, "/cookie", &h).await;
        let status = r.status().as_u16();
        let cookie = cookie_header_from(
            r.headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().expect("ascii")),
        );
        let body: Value = serde_json::from_str(r.body()).unwrap_or(Value::Null);
        (
            status,
            cookie,
            body["key_pair_id"].as_str().unwrap_or_default().to_owned(),
        )
    };
    // The second rotation runs while requests keep coming and the key source keeps refreshing.
    let rotation = {
        let secret = b.secret.clone();
        tokio::spawn(async move {
            rotate_in_process(&rotator, &secret, false)
                .await
                .map(|r| r.key_id)
        })
    };
    let mut served = 0;
    while !rotation.is_finished() || served < 20 {
        keys.refresh().await.expect("refresh");
        let group = cloudfront_group(&cf, &b.group).await;
        let (status, cookie, key) = request(ep.clone(), h.clone()).await;
        assert_eq!(status, 200, "request {served} failed during the rotation");
        let t = now.load(Ordering::SeqCst);
        let req = ViewerRequest {
            url: "https://media.example.com/a.jpg",
            cookie_header: Some(&cookie),
            client_ip: None,
            now: t,
        };
        assert!(
            verify_cookies(&group, &req).is_ok(),
            "request {served}: cookies signed by {key} are not trusted by the key group"
        );
        served += 1;
    }
    let second = rotation.await.expect("join").expect("second rotation");
    keys.refresh().await.expect("refresh");
    // Before the new key's active_from: the previous key still signs.
    assert_eq!(
        request(ep.clone(), h.clone()).await.2,
        first,
        "the new key signed before its activation delay"
    );
    // After it: the new key.
    now.fetch_add(301, Ordering::SeqCst);
    assert_eq!(request(ep.clone(), h.clone()).await.2, second);
    println!("{served} requests during the rotation, none failed");
}
