use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cfcookie_signer::{browser_url, KeyAlgorithm, Policy, PrivateKey};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::util::{cf_decode, cfcookie, require, root, run};

const NOW: i64 = 1_795_341_600;
const CASES: usize = 240;

struct Key {
    path: PathBuf,
    public: PathBuf,
    passphrase: Option<&'static str>,
    alg: KeyAlgorithm,
}

fn make_keys(dir: &Path) -> Vec<Key> {
    let mut keys = Vec::new();
    for (i, alg) in [KeyAlgorithm::Rsa2048; 5]
        .into_iter()
        .chain([KeyAlgorithm::EcdsaP256; 2])
        .enumerate()
    {
        let key = PrivateKey::generate(alg).expect("keygen");
        let path = dir.join(format!("key{i}.pem"));
        let public = dir.join(format!("pub{i}.pem"));
        std::fs::write(&path, key.to_pkcs8_pem().expect("pem").as_bytes()).expect("write");
        std::fs::write(&public, key.public_key().to_pem()).expect("write");
        let mut passphrase = None;
        if i == 1 {
            // One key travels as encrypted PKCS#8, encrypted by openssl, not by us.
            let (code, _, err) = run(Command::new("openssl")
                .args([
                    "pkcs8",
                    "-topk8",
                    "-v2",
                    "aes-256-cbc",
                    "-passout",
                    "pass:s3cret",
                    "-in",
                ])
                .arg(&path)
                .arg("-out")
                .arg(dir.join("enc1.pem")));
            assert_eq!(code, 0, "openssl pkcs8: {err}");
            std::fs::rename(dir.join("enc1.pem"), &path).expect("rename");
            passphrase = Some("s3cret");
        }
        keys.push(Key {
            path,
            public,
            passphrase,
            alg,
        });
    }
    keys
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn random_path(rng: &mut StdRng) -> String {
    let segments = [
        "photos",
        "v1",
        "a-b_c.d",
        "caf\u{e9}",
        "na\u{ef}ve file",
        "%2Fenc",
        "\u{65e5}\u{672c}",
        "x~y",
        "2026",
    ];
    let n = rng.random_range(1..4);
    let mut p: Vec<&str> = (0..n).map(|_| pick(rng, &segments)).collect();
    p.push(pick(
        rng,
        &["cat.jpg", "index.m3u8", "doc.pdf", "\u{fc}ber.png"],
    ));
    p.join("/")
}

fn random_query(rng: &mut StdRng) -> String {
    match rng.random_range(0..4) {
        0 => String::new(),
        1 => "?size=large".into(),
        2 => "?a=1&b=two".into(),
        _ => "?q=gr\u{fc}n&page=2".into(),
    }
}

/// Builds one case and runs our CLI on it.
fn make_case(id: usize, rng: &mut StdRng, keys: &[Key]) -> Value {
    let key = &keys[rng.random_range(0..keys.len())];
    let host = format!("d{:07x}.cloudfront.net", rng.random_range(0..0xfff_ffffu32));
    let mode = if rng.random_bool(0.5) {
        "url"
    } else {
        "cookies"
    };
    let hash = if rng.random_bool(0.4) {
        "SHA256"
    } else {
        "SHA1"
    };
    let dlt = NOW + rng.random_range(60..10_000_000);
    let dgt = rng
        .random_bool(0.3)
        .then(|| NOW - rng.random_range(1..100_000));
    let ip = rng.random_bool(0.3).then(|| {
        let a: [u8; 4] = rng.random();
        if rng.random_bool(0.5) {
            format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
        } else {
            format!("{}.{}.{}.0/{}", a[0], a[1], a[2], rng.random_range(8..=32))
        }
    });
    let path = random_path(rng);
    let (url, url_as_requested, policy_resource) = if mode == "url" {
        let url = format!("https://{host}/{path}{}", random_query(rng));
        let requested = browser_url(&url).expect("url");
        let resource = if rng.random_bool(0.2) {
            format!("https://{host}/*")
        } else {
            requested.clone()
        };
        (url, requested.clone(), resource)
    } else {
        let url = match rng.random_range(0..3) {
            0 => format!("https://{host}/*"),
            1 => format!("https://{host}/{}/*", path.split('/').next().unwrap_or("p")),
            _ => format!("https://{host}/{path}{}", random_query(rng)),
        };
        let resource = if rng.random_bool(0.1) {
            format!("http*://{host}/*")
        } else {
            url.clone()
        };
        (url.clone(), url, resource)
    };
    let key_id = format!("K{:013}", rng.random_range(0..10_000_000_000_000u64));
    let mut policy = Policy::new(policy_resource.clone(), dlt);
    if let Some(d) = dgt {
        policy = policy.not_before(d);
    }
    if let Some(i) = &ip {
        policy = policy.from_ip(i.parse().expect("cidr"));
    }
    let custom = policy.needs_custom() || policy_resource != url_as_requested;

    let mut cmd = cfcookie();
    cmd.arg(if mode == "url" {
        "sign"
    } else {
        "sign-cookies"
    })
    .args(["--url", &url, "--key-pair-id", &key_id, "--private-key"])
    .arg(&key.path)
    .args([
        "--date-less-than",
        &dlt.to_string(),
        "--hash-algorithm",
        hash,
    ]);
    if let Some(d) = dgt {
        cmd.args(["--date-greater-than", &d.to_string()]);
    }
    if let Some(i) = &ip {
        cmd.args(["--ip-address", i]);
    }
    if policy_resource != url_as_requested {
        cmd.args(["--policy-resource", &policy_resource]);
    }
    if let Some(p) = key.passphrase {
        cmd.env("CFCOOKIE_KEY_PASSPHRASE", p);
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "case {id}: cfcookie failed: {err}");
    json!({
        "id": id, "key": key.path, "pub": key.public, "passphrase": key.passphrase, "key_id": key_id,
        "alg": key.alg.as_str(), "hash": hash, "mode": mode, "url": url, "url_as_requested": url_as_requested,
        "policy_resource": policy_resource, "dlt": dlt, "dgt": dgt, "ip": ip, "custom": custom,
        "ours": out.trim(),
    })
}

/// Our output, reduced to (policy bytes signed, signature bytes).
fn ours_policy_and_signature(case: &Value) -> (String, Vec<u8>) {
    let ours = case["ours"].as_str().expect("ours");
    let (policy_b64, expires, signature) = if case["mode"] == "cookies" {
        let c: BTreeMap<String, String> = serde_json::from_str(ours).expect("cookie json");
        (
            c.get("CloudFront-Policy").cloned(),
            c.get("CloudFront-Expires").cloned(),
            c["CloudFront-Signature"].clone(),
        )
    } else {
        let params = url_params(ours).1;
        (
            params.get("Policy").cloned(),
            params.get("Expires").cloned(),
            params["Signature"].clone(),
        )
    };
    let policy = match (policy_b64, expires) {
        (Some(p), _) => String::from_utf8(cf_decode(&p)).expect("utf8"),
        (None, Some(e)) => Policy::new(
            case["policy_resource"].as_str().expect("r"),
            e.parse().expect("int"),
        )
        .to_json(),
        (None, None) => panic!("case {}: neither Policy nor Expires in {ours}", case["id"]),
    };
    (policy, cf_decode(&signature))
}

fn url_params(url: &str) -> (String, BTreeMap<String, String>) {
    let (base, query) = url.split_once('?').expect("query");
    let mut kept = Vec::new();
    let mut cf = BTreeMap::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if matches!(
            k,
            "Policy" | "Expires" | "Signature" | "Key-Pair-Id" | "Hash-Algorithm"
        ) {
            cf.insert(k.to_owned(), v.to_owned());
        } else {
            kept.push(pair);
        }
    }
    (
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        },
        cf,
    )
}

fn run_reference(cmd: &mut Command, cases_file: &Path) -> BTreeMap<u64, Value> {
    let (code, out, err) = run(cmd.arg(cases_file));
    assert_eq!(
        code, 0,
        "reference signer failed (run scripts/test to install it): {err}"
    );
    let results: Vec<Value> = serde_json::from_str(&out).expect("reference output");
    results
        .into_iter()
        .map(|r| (r["id"].as_u64().expect("id"), r))
        .collect()
}

#[test]
fn matches_botocore_npm_and_openssl() {
    require("openssl", &["version"]);
    require("node", &["--version"]);
    require("python3", &["-c", "import botocore, cryptography"]);
    assert!(
        root()
            .join("tests/node/node_modules/@aws-sdk/cloudfront-signer")
            .exists(),
        "npm reference signer missing: run scripts/test"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let keys = make_keys(dir.path());
    let seed = 0x00cf_c00c_u64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases: Vec<Value> = (0..CASES).map(|i| make_case(i, &mut rng, &keys)).collect();
    for case in &mut cases {
        let (policy, sig) = ours_policy_and_signature(case);
        if case["alg"] != "RSA_2048" {
            case["ours_policy"] = json!(policy);
            case["ours_signature"] = json!(cfcookie_signer::base64_encode(&sig));
        }
    }
    let cases_file = dir.path().join("cases.json");
    std::fs::write(&cases_file, serde_json::to_vec(&cases).expect("json")).expect("write");

    let npm = run_reference(
        Command::new("node").arg(root().join("tests/node/sign.js")),
        &cases_file,
    );
    let boto = run_reference(
        Command::new("python3").arg(root().join("tests/reference/botocore_sign.py")),
        &cases_file,
    );

    let mut failures = Vec::new();
    let (mut openssl_ok, mut npm_compared, mut boto_bytes, mut boto_semantic, mut node_ecdsa) =
        (0, 0, 0, 0, 0);
    for case in &cases {
        let id = case["id"].as_u64().expect("id");
        let ours = case["ours"].as_str().expect("ours");
        // 1. openssl verifies every signature over the policy bytes.
        let (policy, sig) = ours_policy_and_signature(case);
        let (pfile, sfile) = (
            dir.path().join(format!("p{id}")),
            dir.path().join(format!("s{id}")),
        );
        std::fs::write(&pfile, &policy).expect("w");
        std::fs::write(&sfile, &sig).expect("w");
        let digest = if case["hash"] == "SHA256" {
            "-sha256"
        } else {
            "-sha1"
        };
        let (code, out, _) = run(Command::new("openssl")
            .args(["dgst", digest, "-verify"])
            .arg(case["pub"].as_str().expect("p"))
            .arg("-signature")
            .arg(&sfile)
            .arg(&pfile));
        if code == 0 && out.contains("Verified OK") {
            openssl_ok += 1
        } else {
            failures.push(format!("case {id}: openssl refused: {out}"))
        }
        // 2. npm, byte for byte where it can express the case.
        let n = &npm[&id];
        if case["alg"] != "RSA_2048" {
            if n["node_verifies"] == json!(true) {
                node_ecdsa += 1
            } else {
                failures.push(format!(
                    "case {id}: node:crypto refused our ECDSA signature"
                ))
            }
        } else if case["mode"] == "cookies" && !n["cookies"].is_null() {
            npm_compared += 1;
            let ours: Value = serde_json::from_str(ours).expect("json");
            // npm hands back CloudFront-Expires as a JS number; a cookie value is text.
            let theirs: BTreeMap<String, String> = n["cookies"]
                .as_object()
                .expect("obj")
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect();
            if ours != serde_json::to_value(&theirs).expect("json") {
                failures.push(format!(
                    "case {id}: cookies differ from npm\n ours {ours}\n npm  {}",
                    n["cookies"]
                ))
            }
        } else if case["mode"] == "url" && !n["url"].is_null() {
            npm_compared += 1;
            // npm orders Key-Pair-Id before Signature; CloudFront's docs (and botocore) after.
            if url_params(ours) != url_params(n["url"].as_str().expect("url")) {
                failures.push(format!(
                    "case {id}: URL differs from npm\n ours {ours}\n npm  {}",
                    n["url"]
                ))
            }
        }
        // 3. botocore, for signed URLs with RSA keys.
        let b = &boto[&id];
        if let Some(burl) = b["url"].as_str() {
            let same_policy = b["policy"].as_str().is_none_or(|p| p == policy);
            if same_policy {
                boto_bytes += 1;
                if burl != ours {
                    failures.push(format!(
                        "case {id}: URL differs from botocore\n ours {ours}\n boto {burl}"
                    ))
                }
            } else {
                // botocore writes IpAddress before DateGreaterThan; the same policy, other bytes.
                boto_semantic += 1;
                let parsed = |s: &str| serde_json::from_str::<Value>(s).expect("json");
                if parsed(b["policy"].as_str().expect("p")) != parsed(&policy) {
                    failures.push(format!(
                        "case {id}: botocore policy means something else: {}",
                        b["policy"]
                    ))
                }
            }
        }
    }
    println!("seed {seed:#x}: {CASES} cases; openssl verified {openssl_ok}; npm byte-compared {npm_compared}; botocore byte-identical {boto_bytes}, same policy other key order {boto_semantic}; node:crypto verified {node_ecdsa} ECDSA");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(openssl_ok, CASES);
    assert!(
        npm_compared >= 150,
        "too few npm comparisons: {npm_compared}"
    );
    assert!(
        boto_bytes >= 60,
        "too few botocore comparisons: {boto_bytes}"
    );
    assert!(node_ecdsa >= 30, "too few ECDSA checks: {node_ecdsa}");
}
