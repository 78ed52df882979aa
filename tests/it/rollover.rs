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

type SdkRotator = Rotator<(
    SdkSecretStore,
    SdkKeyRegistry,
    SdkParameterStore,
    cfcookie_rotator::ports::AwsLcKeyGenerator,
    FixedClock,
    cfcookie_testing::NoProbe,
)>;

/// A stack on the emulator with a live endpoint, on a clock the test moves: a short
/// activation delay (P = 2 s), cache TTL (5 s) and cookie lifetime (60 s).
struct Stack {
    _emu: Emulator,
    secret: String,
    group: String,
    clock: FixedClock,
    rotator: SdkRotator,
    keys: Arc<SecretKeySource<SecretsManagerReader<SdkSecretStore>>>,
    ep: Endpoint<CognitoVerifier<MemJwks>, SecretKeySource<SecretsManagerReader<SdkSecretStore>>>,
    request: http::HeaderMap,
    cf: SdkKeyRegistry,
}

impl Stack {
    async fn new(name: &str) -> Stack {
        let emu = Emulator::start();
        let aws = emu.sdk_config().await;
        let b = bootstrap(&aws, name).await;
        let clock = FixedClock::new(chrono::Utc::now());
        let mut config = cfcookie_testing::rotator_config(&b.group, &b.parameter);
        config.activation_delay = 2;
        config.key_cache_ttl = 5;
        config.cookie_lifetime = 60;
        let rotator = Rotator {
            secrets: SdkSecretStore::new(&aws),
            registry: SdkKeyRegistry::new(&aws),
            params: SdkParameterStore::new(&aws),
            keygen: cfcookie_rotator::ports::AwsLcKeyGenerator::default(),
            clock: clock.clone(),
            probe: cfcookie_testing::NoProbe,
            config,
        };
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
        let ep = Endpoint {
            verifier: CognitoVerifier::new(verifier, jwks),
            keys: keys.clone(),
            config,
            clock: Arc::new(clock.clone()),
        };
        let now = clock.now().timestamp();
        let token = {
            let mut c = issuer.claims();
            c["exp"] = Value::from(now + 30 * 86_400);
            c["iat"] = Value::from(now);
            issuer.sign(&issuer.header(), &c)
        };
        let request = headers(&[
            ("authorization", &format!("Bearer {token}")),
            ("host", "media.example.com"),
        ]);
        Stack {
            _emu: emu,
            secret: b.secret,
            group: b.group,
            clock,
            rotator,
            keys,
            ep,
            request,
            cf: SdkKeyRegistry::new(&aws),
        }
    }

    fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    async fn rotate(&self) -> Result<String, RotationError> {
        rotate_in_process(&self.rotator, &self.secret, false)
            .await
            .map(|r| r.key_id)
    }

    /// A request to the endpoint: the cookies and the key that signed them.
    async fn mint(&self) -> (String, String) {
        let r = self.ep.handle(&Method::GET, "/cookie", &self.request).await;
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
    }

    /// A request after the background refresh has just run.
    async fn refresh_and_mint(&self) -> (String, String) {
        self.keys.refresh().await.expect("refresh");
        self.mint().await
    }

    /// What CloudFront decides now for a viewer presenting `cookie`: its key group as it
    /// stands in the emulator.
    async fn trusted(&self, cookie: &str) -> Result<(), String> {
        let group = cloudfront_group(&self.cf, &self.group).await;
        let req = ViewerRequest::new("https://media.example.com/a.jpg", self.now())
            .with_cookie_header(cookie);
        verify_cookies(&group, &req)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }
}

/// Rotations with a live endpoint: every cookie the endpoint mints verifies against
/// CloudFront's key group as it stands, before and after the activation window; a rotation
/// right after another is refused as too soon instead of retiring the key that still signs
/// and whose cookies are still valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_across_the_activation_window_never_mint_refused_cookies() {
    let s = Stack::new("rollover").await;
    let k1 = s.rotate().await.expect("first rotation");
    s.advance(120);
    let (c1, signer) = s.refresh_and_mint().await;
    assert_eq!(signer, k1);
    s.trusted(&c1).await.expect("k1's cookie");

    // Rotation 2. Inside its activation window signers keep signing with k1.
    let k2 = s.rotate().await.expect("second rotation");
    let (c2, signer) = s.refresh_and_mint().await;
    assert_eq!(signer, k1, "the new key signed before G + P");
    s.trusted(&c2)
        .await
        .expect("cookie minted inside the activation window");

    // Rotation 3 right away: it would take k1 out of the group while signers sign with it and
    // its cookies live. Refused, naming when it becomes safe; nothing changed.
    let safe_at = match s.rotate().await {
        Err(RotationError::TooSoon { key_id, safe_at }) => {
            assert_eq!(key_id, k1);
            safe_at
        }
        other => panic!("a back-to-back rotation must be refused as too soon, got {other:?}"),
    };
    let (c3, _) = s.refresh_and_mint().await;
    s.trusted(&c3)
        .await
        .expect("cookie minted after the refused rotation");
    s.trusted(&c1)
        .await
        .expect("k1's earlier cookie is still trusted");
    s.trusted(&c2)
        .await
        .expect("k1's recent cookie is still trusted");

    // The clock moves through the activation window: now k2 signs, and is trusted.
    s.advance(3);
    let (c4, signer) = s.refresh_and_mint().await;
    assert_eq!(signer, k2, "k2 signs once G + P has passed");
    s.trusted(&c4).await.expect("k2's cookie");

    // At the instant S2 allows it, rotation 3 goes through; k1's cookies have expired.
    s.clock
        .advance(safe_at - s.clock.now() + chrono::Duration::seconds(1));
    let k3 = s.rotate().await.expect("third rotation, when safe");
    let (c5, signer) = s.refresh_and_mint().await;
    assert_eq!(signer, k2, "k3 is inside its activation window");
    s.trusted(&c5).await.expect("k2's cookie after rotation 3");
    s.advance(3);
    let (c6, signer) = s.refresh_and_mint().await;
    assert_eq!(signer, k3);
    s.trusted(&c6).await.expect("k3's cookie");
}

/// Lambda freezes an idle environment and may keep it for hours
/// (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html>): its
/// background refresh stands still with it, and on thaw the first request can run before the
/// refresh timer's read returns. Two rotations during the freeze retired the key it holds;
/// the request must not sign with it, but read the keys again and sign with one CloudFront
/// trusts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thawed_endpoint_reads_the_keys_again_before_it_signs() {
    let s = Stack::new("thaw").await;
    let k1 = s.rotate().await.expect("first rotation");
    s.advance(120);
    let (_, signer) = s.refresh_and_mint().await;
    assert_eq!(signer, k1);
    // Frozen: two rotations, each when S2 allows, and no refresh.
    for _ in 0..2 {
        s.advance(3600);
        s.rotate().await.expect("a rotation during the freeze");
    }
    s.advance(3600);
    let (cookie, signer) = s.mint().await;
    assert_ne!(signer, k1, "the thawed endpoint signed with a retired key");
    s.trusted(&cookie)
        .await
        .expect("CloudFront trusts the thawed endpoint's cookie");
}
