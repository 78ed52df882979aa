use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use cfcookie_rotator::ports::KeyRegistry as _;
use cfcookie_rotator::sdk::SdkKeyRegistry;
use cfcookie_signer::{KeyAlgorithm, PublicKey};
use cfcookie_testing::emulator::{bootstrap, free_port, wait_for_port, Bootstrap, Emulator};
use serde_json::Value;

use crate::util::{cfcookie, require, root, run, set_cookies};

/// Short times so that a rotation every few seconds keeps every safety margin: a key leaves
/// the group only after its successor signs (activation delay + key cache TTL) and its last
/// cookie has expired (cookie lifetime).
const COOKIE_LIFETIME: u64 = 2;
const ACTIVATION_DELAY: u64 = 1;
const KEY_CACHE_TTL: u64 = 1;
const BETWEEN_ROTATIONS: Duration =
    Duration::from_secs(COOKIE_LIFETIME + ACTIVATION_DELAY + KEY_CACHE_TTL + 2);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cfcookie rotate` with `algorithm`: (exit code, stdout, stderr).
fn try_rotate(emu: &Emulator, b: &Bootstrap, algorithm: &str) -> (i32, String, String) {
    run(cfcookie()
        .envs(emu.env())
        .env("CFCOOKIE_KEY_GROUP_ID", &b.group)
        .env("CFCOOKIE_KEY_ID_PARAMETER", &b.parameter)
        .env("CFCOOKIE_KEY_ALGORITHM", algorithm)
        .env("CFCOOKIE_ACTIVATION_DELAY", ACTIVATION_DELAY.to_string())
        .env("CFCOOKIE_COOKIE_LIFETIME", COOKIE_LIFETIME.to_string())
        .env("CFCOOKIE_KEY_CACHE_TTL", KEY_CACHE_TTL.to_string())
        .env_remove("CFCOOKIE_KEY_NAME_PREFIX")
        .args(["rotate", "--secret-id", &b.secret]))
}

/// A rotation that must go through; the new key's id.
fn rotate(emu: &Emulator, b: &Bootstrap, algorithm: &str) -> String {
    let (code, out, err) = try_rotate(emu, b, algorithm);
    assert_eq!(code, 0, "rotate with {algorithm}: {err}");
    let report: Value = serde_json::from_str(&out).expect("rotate report");
    report["key_id"].as_str().expect("key id").to_owned()
}

/// The key group as CloudFront returns it: id -> SPKI PEM.
async fn group_now(cf: &SdkKeyRegistry, group: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let items = cf
        .get_key_group(group)
        .await
        .expect("GetKeyGroup")
        .expect("group")
        .items;
    for id in items {
        let (record, _) = cf
            .get_public_key(&id)
            .await
            .expect("GetPublicKey")
            .expect("key");
        out.insert(id, record.encoded_key);
    }
    out
}

/// CloudFront's base64 back to bytes, written here from CloudFront's documentation rather than
/// taken from the signer under test.
fn cloudfront_b64(s: &str) -> Vec<u8> {
    let std = s.replace('-', "+").replace('_', "=").replace('~', "/");
    base64::engine::general_purpose::STANDARD
        .decode(std)
        .expect("CloudFront base64")
}

/// One cookie set from `serve`.
#[derive(Debug, Clone)]
struct Minted {
    key_id: String,
    policy: Vec<u8>,
    signature: Vec<u8>,
}

fn parse_cookies(set_cookies: &[String]) -> Minted {
    let mut m = BTreeMap::new();
    for c in set_cookies {
        let pair = c.split(';').next().unwrap_or_default();
        if let Some((k, v)) = pair.split_once('=') {
            m.insert(k.to_owned(), v.to_owned());
        }
    }
    let get = |k: &str| {
        m.get(k)
            .unwrap_or_else(|| panic!("no {k} in {set_cookies:?}"))
    };
    Minted {
        key_id: get("CloudFront-Key-Pair-Id").clone(),
        policy: cloudfront_b64(get("CloudFront-Policy")),
        signature: cloudfront_b64(get("CloudFront-Signature")),
    }
}

/// `openssl dgst -sha1 -verify`: the cookie's signature over its policy, under the public key
/// CloudFront holds for the key id the cookie names, which must be in the group right now.
fn openssl_accepts(cookie: &Minted, group: &BTreeMap<String, String>) -> Result<(), String> {
    let pem = group.get(&cookie.key_id).ok_or_else(|| {
        format!(
            "key {} is not in the key group {:?}",
            cookie.key_id,
            group.keys()
        )
    })?;
    let dir = tempfile::tempdir().expect("tempdir");
    let (k, p, s) = (
        dir.path().join("key.pem"),
        dir.path().join("policy.json"),
        dir.path().join("sig.bin"),
    );
    std::fs::write(&k, pem).expect("write");
    std::fs::write(&p, &cookie.policy).expect("write");
    std::fs::write(&s, &cookie.signature).expect("write");
    let out = Command::new("openssl")
        .args(["dgst", "-sha1", "-verify"])
        .arg(&k)
        .arg("-signature")
        .arg(&s)
        .arg(&p)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && text.contains("Verified OK") {
        Ok(())
    } else {
        Err(format!(
            "openssl refused the signature of key {}: {text} {}",
            cookie.key_id,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn algorithm_of(pem: &str) -> KeyAlgorithm {
    PublicKey::from_pem(pem).expect("public key").algorithm()
}

/// What the minting loop saw.
#[derive(Debug, Default)]
struct Seen {
    minted: usize,
    by_key: BTreeMap<String, usize>,
    last: Option<Minted>,
    failures: Vec<String>,
    mixed_group: bool,
}

/// Checks one answer from `serve` against the key group fetched right after it.
fn record(s: &mut Seen, status: u16, cookies: &[String], group: &BTreeMap<String, String>) {
    s.minted += 1;
    if status != 200 {
        s.failures
            .push(format!("request {} answered {status}", s.minted));
        return;
    }
    let cookie = parse_cookies(cookies);
    if let Err(e) = openssl_accepts(&cookie, group) {
        s.failures.push(format!("request {}: {e}", s.minted));
    }
    let algorithms: BTreeSet<&str> = group.values().map(|p| algorithm_of(p).as_str()).collect();
    s.mixed_group |= algorithms.len() == 2;
    *s.by_key.entry(cookie.key_id.clone()).or_default() += 1;
    s.last = Some(cookie);
}

/// A live `cfcookie serve` on the emulator's secret, and a loop asking it for cookies and
/// checking each (`record`) against the key group fetched right after the answer.
struct Minting {
    _serve: Killed,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Minting {
    /// Starts `serve` once the secret holds a key, waits until that key signs, starts minting.
    async fn start(emu: &Emulator, cf: SdkKeyRegistry, b: &Bootstrap) -> Minting {
        let (code, out, err) = run(Command::new("python3")
            .arg(root().join("tests/reference/cognito_tokens.py"))
            .arg(emu.endpoint()));
        assert_eq!(code, 0, "{err}");
        let t: Value = serde_json::from_str(&out).expect("tokens");
        let s = |k: &str| t[k].as_str().expect(k).to_owned();

        let port = free_port();
        let serve = Killed(
            cfcookie()
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .envs(emu.env())
                .env("CFCOOKIE_SECRET_ID", &b.secret)
                .env("CFCOOKIE_KEY_CACHE_TTL", KEY_CACHE_TTL.to_string())
                .env("CFCOOKIE_COOKIE_LIFETIME", COOKIE_LIFETIME.to_string())
                .env("CFCOOKIE_ISSUER", s("issuer"))
                .env("CFCOOKIE_JWKS_URL", s("jwks_url"))
                .env("CFCOOKIE_CLIENT_IDS", s("client_id"))
                .env("CFCOOKIE_RESOURCE", "https://media.example.com/*")
                .env_remove("CFCOOKIE_KEY_FILE")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("serve"),
        );
        wait_for_port(port, "cfcookie serve", Duration::from_secs(30));
        // The first key signs from its active_from on; before it there is no key at all (the
        // bootstrap placeholder), which is the documented first-deploy window.
        tokio::time::sleep(Duration::from_secs(ACTIVATION_DELAY + KEY_CACHE_TTL + 1)).await;

        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let minter = {
            let (seen, stop, token, group) = (
                seen.clone(),
                stop.clone(),
                s("access_token"),
                b.group.clone(),
            );
            let url = format!("http://127.0.0.1:{port}/cookie");
            tokio::spawn(async move {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                while !stop.load(Ordering::SeqCst) {
                    let (agent2, url2, token2) = (agent.clone(), url.clone(), token.clone());
                    let (status, cookies) = tokio::task::spawn_blocking(move || {
                        let r = agent2
                            .get(&url2)
                            .header("Authorization", &format!("Bearer {token2}"))
                            .call()
                            .expect("GET /cookie");
                        (r.status().as_u16(), set_cookies(r.headers()))
                    })
                    .await
                    .expect("join");
                    let group = group_now(&cf, &group).await;
                    record(&mut seen.lock().expect("lock"), status, &cookies, &group);
                }
            })
        };
        Minting {
            _serve: serve,
            seen,
            stop,
            task: minter,
        }
    }

    /// Stops minting; every answer must have been 200 with a cookie CloudFront trusts.
    async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("minter");
        let seen = std::mem::take(&mut *self.seen.lock().expect("lock"));
        assert!(
            seen.failures.is_empty(),
            "{} of {} cookies failed:\n{}",
            seen.failures.len(),
            seen.minted,
            seen.failures.join("\n")
        );
        assert!(seen.minted > 0, "serve minted no cookie");
        seen
    }
}

/// `CFCOOKIE_KEY_ALGORITHM` switched RSA → ECDSA → RSA, each switch taking effect at the next
/// rotation, while a live `cfcookie serve` mints cookies throughout: every answer is 200, each
/// cookie names its own key, and `openssl` verifies it with the public key CloudFront returns
/// for that id in the key group of that moment. The group holds an RSA and an ECDSA key side
/// by side after each switch, and the secret's `algorithm` field follows the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_algorithm_migrates_by_rotation_both_ways() {
    require("openssl", &["version"]);
    require("python3", &["-c", "import boto3"]);
    let emu = Emulator::start();
    let aws = emu.sdk_config().await;
    let b = bootstrap(&aws, "migrate").await;
    let first = tokio::task::block_in_place(|| rotate(&emu, &b, "RSA_2048"));
    let minting = Minting::start(&emu, SdkKeyRegistry::new(&aws), &b).await;

    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let cf = SdkKeyRegistry::new(&aws);
    let mut keys = vec![(first, "RSA_2048")];
    for algorithm in ["ECDSA_P256", "ECDSA_P256", "RSA_2048"] {
        tokio::time::sleep(BETWEEN_ROTATIONS).await;
        let before = minting.seen.lock().expect("lock").last.clone();
        let id = tokio::task::block_in_place(|| rotate(&emu, &b, algorithm));
        let group = group_now(&cf, &b.group).await;
        // The cookie minted just before this rotation is still trusted after it.
        if let Some(cookie) = before {
            if let Err(e) = openssl_accepts(&cookie, &group) {
                panic!("after the rotation to {algorithm}, a cookie minted before it: {e}");
            }
        }
        let previous = &keys.last().expect("previous").0;
        assert_eq!(
            group.keys().cloned().collect::<BTreeSet<_>>(),
            BTreeSet::from([previous.clone(), id.clone()]),
            "after the rotation to {algorithm} the group is previous + current"
        );
        assert_eq!(
            algorithm_of(&group[&id]).as_str(),
            algorithm,
            "the new key is {algorithm}"
        );
        let current: Value = serde_json::from_str(
            sm.get_secret_value()
                .secret_id(&b.secret)
                .send()
                .await
                .expect("GetSecretValue")
                .secret_string()
                .expect("string"),
        )
        .expect("json");
        assert_eq!(
            (current["key_id"].as_str(), current["algorithm"].as_str()),
            (Some(id.as_str()), Some(algorithm)),
            "the secret's algorithm field records the key's"
        );
        keys.push((id, algorithm));
    }
    tokio::time::sleep(BETWEEN_ROTATIONS).await;
    let seen = minting.finish().await;
    assert!(
        seen.mixed_group,
        "the group never held RSA and ECDSA side by side"
    );
    for (id, algorithm) in &keys {
        assert!(
            seen.by_key.get(id).copied().unwrap_or(0) > 0,
            "no cookie was signed by the {algorithm} key {id}: {:?}",
            seen.by_key
        );
    }
    println!(
        "{} cookies across RSA -> ECDSA -> ECDSA -> RSA, by key: {:?}",
        seen.minted, seen.by_key
    );
}

/// The account's public keys as CloudFront lists them: id -> name.
async fn account_keys(cf: &SdkKeyRegistry) -> BTreeMap<String, String> {
    cf.list_public_keys()
        .await
        .expect("ListPublicKeys")
        .into_iter()
        .map(|k| (k.id, k.name))
        .collect()
}

/// Rotations back to back while a live `cfcookie serve` mints cookies: each rotation run right
/// after one that completed is refused as too soon and leaves the key group and the account as
/// they were, and every cookie minted throughout names a key in the group of that moment and
/// verifies there with `openssl`. Once the interval has passed the next rotation goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_rotations_under_a_live_serve_never_mint_a_refused_cookie() {
    require("openssl", &["version"]);
    require("python3", &["-c", "import boto3"]);
    let emu = Emulator::start();
    let aws = emu.sdk_config().await;
    let b = bootstrap(&aws, "backtoback").await;
    let first = tokio::task::block_in_place(|| rotate(&emu, &b, "ECDSA_P256"));
    let minting = Minting::start(&emu, SdkKeyRegistry::new(&aws), &b).await;
    let cf = SdkKeyRegistry::new(&aws);

    let mut keys = vec![first];
    for _ in 0..3 {
        tokio::time::sleep(BETWEEN_ROTATIONS).await;
        let id = tokio::task::block_in_place(|| rotate(&emu, &b, "ECDSA_P256"));
        for attempt in 0..2 {
            let (group, account) = (group_now(&cf, &b.group).await, account_keys(&cf).await);
            let (code, out, err) =
                tokio::task::block_in_place(|| try_rotate(&emu, &b, "ECDSA_P256"));
            assert_ne!(
                code, 0,
                "rotation {attempt} right after {id} went through: {out}"
            );
            assert!(err.contains("too soon"), "not refused as too soon: {err}");
            assert_eq!(
                group_now(&cf, &b.group).await,
                group,
                "a refused rotation changed the key group"
            );
            assert_eq!(
                account_keys(&cf).await,
                account,
                "a refused rotation changed the account's keys"
            );
        }
        keys.push(id);
    }
    tokio::time::sleep(BETWEEN_ROTATIONS).await;
    let seen = minting.finish().await;
    assert!(
        keys.iter()
            .all(|k| seen.by_key.get(k).copied().unwrap_or(0) > 0),
        "every completed rotation's key signed cookies: {:?} of {keys:?}",
        seen.by_key
    );
    println!(
        "{} cookies across {} rotations and {} refused back-to-back ones, by key: {:?}",
        seen.minted,
        keys.len(),
        2 * (keys.len() - 1),
        seen.by_key
    );
}
