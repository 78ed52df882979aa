use std::sync::Arc;

use cfcookie_endpoint::CognitoVerifier;
use cfcookie_endpoint::{Endpoint, EndpointConfig};
use cfcookie_endpoint::{SecretKeySource, SecretsManagerReader};
use cfcookie_rotator::driver::rotate_in_process;
use cfcookie_rotator::ports::{Clock as _, KeyRegistry as _};
use cfcookie_rotator::sdk::{SdkKeyRegistry, SdkParameterStore, SdkSecretStore};
use cfcookie_rotator::{RotationError, Rotator};
use cfcookie_signer::{verify_cookies, KeyGroup, PublicKey, ViewerRequest};
use cfcookie_testing::emulator::{bootstrap, Emulator};
use cfcookie_testing::FixedClock;
use http::Method;
use serde_json::Value;

use crate::endpoint::{env, headers, MemJwks, TokenMinter};
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

/// Rotations against the emulator with a live endpoint, on a clock the test moves: a short
/// activation delay (P = 2 s), cache TTL (5 s) and cookie lifetime (60 s). Every cookie the
/// endpoint mints verifies against CloudFront's key group as it stands, before and after the
/// activation window; a rotation right after another is refused as too soon instead of
/// retiring the key that still signs and whose cookies are still valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_across_the_activation_window_never_mint_refused_cookies() {
    let emu = Emulator::start();
    let aws = emu.sdk_config().await;
    let b = bootstrap(&aws, "rollover").await;
    let clock = FixedClock::new(chrono::Utc::now());
    let mut config = cfcookie_testing::rotator_config(&b.group, &b.parameter);
    config.activation_delay = 2;
    config.key_cache_ttl = 5;
    config.cookie_lifetime = 60;
    let rotator: Rotator<(_, _, _, _, _, _)> = Rotator {
        secrets: SdkSecretStore::new(&aws),
        registry: SdkKeyRegistry::new(&aws),
        params: SdkParameterStore::new(&aws),
        keygen: cfcookie_rotator::ports::AwsLcKeyGenerator::default(),
        clock: clock.clone(),
        probe: cfcookie_testing::NoProbe,
        config,
    };
    let advance = |secs: i64| clock.advance(chrono::Duration::seconds(secs));
    let now = || clock.now().timestamp();

    let issuer = TokenMinter::new("kid-1");
    let jwks = MemJwks::default();
    *jwks.doc.lock().expect("lock") = serde_json::json!({"keys": [issuer.jwk()]}).to_string();
    let (config, verifier) =
        EndpointConfig::from_map(&env(&[("CFCOOKIE_COOKIE_LIFETIME", "60")])).expect("config");
    let keys = Arc::new(
        SecretKeySource::new(SecretsManagerReader::new(
            SdkSecretStore::new(&aws),
            b.secret.clone(),
        ))
        .with_clock(Arc::new(clock.clone())),
    );
    keys.set_max_age(5);
    let ep = Arc::new(Endpoint {
        verifier: CognitoVerifier::new(verifier, jwks),
        keys: keys.clone(),
        config,
        clock: Arc::new(clock.clone()),
    });
    let token = {
        let mut c = issuer.claims();
        c["exp"] = Value::from(now() + 7200);
        c["iat"] = Value::from(now());
        issuer.sign(&issuer.header(), &c)
    };
    let h = headers(&[
        ("authorization", &format!("Bearer {token}")),
        ("host", "media.example.com"),
    ]);
    let cf = SdkKeyRegistry::new(&aws);
    // A request to the endpoint: the cookies and the key that signed them.
    let mint = || async {
        keys.refresh().await.expect("refresh");
        let r = ep.handle(&Method::GET, "/cookie", &h).await;
        assert_eq!(r.status().as_u16(), 200, "{}", r.body());
        let cookie = cookie_header_from(
            r.headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().expect("ascii")),
        );
        let body: Value = serde_json::from_str(r.body()).expect("json");
        (
            cookie,
            body["key_pair_id"].as_str().unwrap_or_default().to_owned(),
        )
    };
    // What CloudFront decides now for a viewer presenting `cookie`.
    let (cf, group_id) = (&cf, b.group.as_str());
    let trusted = move |cookie: String| async move {
        let group = cloudfront_group(cf, group_id).await;
        let req = ViewerRequest::new("https://media.example.com/a.jpg", now())
            .with_cookie_header(cookie.as_str());
        verify_cookies(&group, &req)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    };

    let k1 = rotate_in_process(&rotator, &b.secret, false)
        .await
        .expect("first rotation")
        .key_id;
    advance(120);
    let (c1, signer) = mint().await;
    assert_eq!(signer, k1);
    trusted(c1.clone()).await.expect("k1's cookie");

    // Rotation 2. Inside its activation window signers keep signing with k1.
    let k2 = rotate_in_process(&rotator, &b.secret, false)
        .await
        .expect("second rotation")
        .key_id;
    let (c2, signer) = mint().await;
    assert_eq!(signer, k1, "the new key signed before G + P");
    trusted(c2.clone())
        .await
        .expect("cookie minted inside the activation window");

    // Rotation 3 right away: it would take k1 out of the group while signers sign with it and
    // its cookies live. Refused, naming when it becomes safe; nothing changed.
    let safe_at = match rotate_in_process(&rotator, &b.secret, false).await {
        Err(RotationError::TooSoon { key_id, safe_at }) => {
            assert_eq!(key_id, k1);
            safe_at
        }
        other => panic!("a back-to-back rotation must be refused as too soon, got {other:?}"),
    };
    let (c3, _) = mint().await;
    trusted(c3)
        .await
        .expect("cookie minted after the refused rotation");
    trusted(c1.clone())
        .await
        .expect("k1's earlier cookie is still trusted");
    trusted(c2.clone())
        .await
        .expect("k1's recent cookie is still trusted");

    // The clock moves through the activation window: now k2 signs, and is trusted.
    advance(3);
    let (c4, signer) = mint().await;
    assert_eq!(signer, k2, "k2 signs once G + P has passed");
    trusted(c4).await.expect("k2's cookie");

    // At the instant S2 allows it, rotation 3 goes through; k1's cookies have expired.
    clock.advance(safe_at - clock.now() + chrono::Duration::seconds(1));
    let k3 = rotate_in_process(&rotator, &b.secret, false)
        .await
        .expect("third rotation, when safe")
        .key_id;
    let (c5, signer) = mint().await;
    assert_eq!(signer, k2, "k3 is inside its activation window");
    trusted(c5).await.expect("k2's cookie after rotation 3");
    advance(3);
    let (c6, signer) = mint().await;
    assert_eq!(signer, k3);
    trusted(c6).await.expect("k3's cookie");
}
