//! Signer integration tests: known answers (computed with openssl from the keys in `data/`),
//! key formats and refusals, every verification refusal, and properties.

use std::net::IpAddr;
use std::sync::Arc;

use cfcookie_signer::{
    base64_encode, browser_url, verify_cookies, verify_signed_url, CookieAttributes, HashAlgorithm,
    KeyAlgorithm, KeyError, KeyGroup, Policy, PolicyKind, PrivateKey, PublicKey, Refusal, SameSite,
    Signer, ViewerRequest,
};
use proptest::prelude::*;

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("test key")
}

fn rsa_key() -> Arc<PrivateKey> {
    Arc::new(PrivateKey::from_pem(&data("rsa2048.pkcs8.pem"), None).expect("rsa key"))
}

const KEY_ID: &str = "K2JCJMDEHXQW5F";
const NOW: i64 = 1_795_341_600; // 2026-11-22T10:00:00Z
const CANNED_URL: &str = "https://d111111abcdef8.cloudfront.net/image.jpg?size=large";
// Values below were computed with `openssl dgst -sha1|-sha256 -sign data/rsa2048.pkcs8.pem`
// and `base64 | tr '+=/' '-_~'`, never with cfcookie.
const CANNED_SHA1: &str = "aH~rC1zIk5fhIqFWyHNGG4ULRcV9~6DT~WkXQ4jVcCjjPstdUNT0UhwU-InDaef3Rlp~6H4yGPNOsRIcM~fwu0LF1~2TVXn8gmQK~8TKq-Em~qarh57V0kjpveRCK2nDzWc6lY829NP5-fhT7O4RWlnVeQeBtoYKOxh2nOBn1pA~4sRfZ2JgR~BxVQP6LJtkweiEA~mqvUqX3-VkeNBYH0NVPCVPssQB7eszjCE06uhRO1R5IMJs1hwm7X035sLNRyxK6oCIzn4GdBH9bgS3kVa4pPdVTbBcaLPIRRzTq4bTaJCE7hdfIoFx9aM5Zwc1LRP27pGQwtdO4QEITSA5Og__";
const CUSTOM_SHA1: &str = "IJyk0o3FHihUvHYY4ZK19crKxZ0OE2R5SnpxetqISrNae0w2FlXB8r9NHbZCiHpbvvdfnjzlmMtaMvZJPmDuQddy5hFW-c0QuhGcw~7JYtwThcR4PvtzbAxqBHTi50M-AEyC7HvprjeQkY273r7UJoa3ezjY697idaOBdNbUpcgCy26I2fCceEnIrKQRkkJqBtCe2nmqj1Ua3s0~o4PlrOCek9LG6o2vf6WhM7FzzudNyeBS3dDVrdN6b4ySJXbEvasMBq1EjY4VsV57Njed2EU~4AkRzV6qdvlVAaWZRKj01Lk6gGHCZDUfrusmFD~lM~PYPYjg~Lc6N~f~f4IRug__";
const CUSTOM_SHA256: &str = "ZuHGTiKYtlwWEvU4Y1JAD70b7KSI7ZfgMtBlXo3l071dTcrOoe24ao-0OsJdqSHh0UoyEyIOpkuMVHCoatoZA65cScQToQjYZdZmSb1i-Zd07hwuHNxNhIxydPY~mmE1RQmsLlEDHMRnZewSwDHJx9~1YbQ5SjgjkriYRiS4wtEMS0LSQOOXMY1gzb4kR7ocsr9S2jHZl1ropuUYWFsXLPs5gxbwc2Z32ya0BwBtz1VXpKdJbhMDjziuk6x14zvx1c~HDSb4NTwup6T~IXFtkwrJce~Uudq3UCiUAF02FuzcHwcg5G0jyOCaq8JlTqHTSJFt9tsc53J0ijBzeoSonA__";
const CUSTOM_POLICY_B64: &str = "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9kMTExMTExYWJjZGVmOC5jbG91ZGZyb250Lm5ldC8qIiwiQ29uZGl0aW9uIjp7IkRhdGVMZXNzVGhhbiI6eyJBV1M6RXBvY2hUaW1lIjoxNzk1MzQ1MjAwfSwiRGF0ZUdyZWF0ZXJUaGFuIjp7IkFXUzpFcG9jaFRpbWUiOjE3OTUzNDE2MDB9LCJJcEFkZHJlc3MiOnsiQVdTOlNvdXJjZUlwIjoiMTkyLjAuMi4wLzI0In19fV19";

fn custom_policy() -> Policy {
    Policy::new("https://d111111abcdef8.cloudfront.net/*", NOW + 3600)
        .not_before(NOW)
        .from_ip("192.0.2.0/24".parse().expect("cidr"))
}

// ---------------------------------------------------------------- known answers

#[test]
fn known_answer_canned_url() {
    let signer = Signer::new(KEY_ID, rsa_key()).expect("signer");
    let url = signer
        .signed_url(CANNED_URL, &Policy::new(CANNED_URL, NOW + 3600))
        .expect("sign");
    assert_eq!(
        url,
        format!("{CANNED_URL}&Expires=1795345200&Signature={CANNED_SHA1}&Key-Pair-Id={KEY_ID}")
    );
}

#[test]
fn known_answer_custom_cookies_sha1() {
    let signer = Signer::new(KEY_ID, rsa_key()).expect("signer");
    let cookies = signer.cookies(&custom_policy()).expect("sign");
    let pairs: Vec<(&str, &str)> = cookies
        .pairs()
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("CloudFront-Policy", CUSTOM_POLICY_B64),
            ("CloudFront-Signature", CUSTOM_SHA1),
            ("CloudFront-Key-Pair-Id", KEY_ID)
        ]
    );
    let attrs = CookieAttributes::default()
        .with_domain("media.example.com".to_owned())
        .with_same_site(SameSite::Strict)
        .with_expires(NOW + 3600);
    assert_eq!(
        cookies.set_cookie_headers(&attrs),
        [
            format!("CloudFront-Policy={CUSTOM_POLICY_B64}; Path=/; Domain=media.example.com; Expires=Sun, 22 Nov 2026 11:00:00 GMT; Secure; HttpOnly; SameSite=Strict"),
            format!("CloudFront-Signature={CUSTOM_SHA1}; Path=/; Domain=media.example.com; Expires=Sun, 22 Nov 2026 11:00:00 GMT; Secure; HttpOnly; SameSite=Strict"),
            format!("CloudFront-Key-Pair-Id={KEY_ID}; Path=/; Domain=media.example.com; Expires=Sun, 22 Nov 2026 11:00:00 GMT; Secure; HttpOnly; SameSite=Strict"),
        ]
    );
}

#[test]
fn known_answer_custom_cookies_sha256_and_url() {
    let signer = Signer::new(KEY_ID, rsa_key())
        .expect("signer")
        .with_hash(HashAlgorithm::Sha256);
    let cookies = signer.cookies(&custom_policy()).expect("sign");
    assert_eq!(cookies.get("CloudFront-Signature"), Some(CUSTOM_SHA256));
    assert_eq!(cookies.get("CloudFront-Hash-Algorithm"), Some("SHA256"));
    let url = signer
        .signed_url(
            "https://d111111abcdef8.cloudfront.net/a.mp4",
            &custom_policy(),
        )
        .expect("sign");
    assert_eq!(
        url,
        format!("https://d111111abcdef8.cloudfront.net/a.mp4?Policy={CUSTOM_POLICY_B64}&Signature={CUSTOM_SHA256}&Key-Pair-Id={KEY_ID}&Hash-Algorithm=SHA256")
    );
}

#[test]
fn every_rsa_format_gives_the_same_key_and_signature() {
    let expected = rsa_key();
    let pkcs1 = PrivateKey::from_pem(&data("rsa2048.pkcs1.pem"), None).expect("pkcs1");
    let encrypted = PrivateKey::from_pem(&data("rsa2048.encrypted.pem"), Some(b"correct-horse"))
        .expect("encrypted");
    let public = PublicKey::from_pem(&data("rsa2048.pub.pem")).expect("public");
    for key in [&pkcs1, &encrypted] {
        assert_eq!(key.public_key(), expected.public_key());
        let sig = key
            .sign(HashAlgorithm::Sha1, custom_policy().to_json().as_bytes())
            .expect("sign");
        assert_eq!(base64_encode(&sig), CUSTOM_SHA1);
    }
    assert_eq!(&public, expected.public_key());
}

#[test]
fn fingerprints_are_the_full_sha256_of_the_public_key_der() {
    // `openssl pkey -pubin -in data/<file> -outform DER | sha256sum`, computed without cfcookie.
    for (file, expected) in [
        (
            "rsa2048.pub.pem",
            "0baecec8338436e2ebc3c2c3e736b316f4b2c0866419d53b1b189400a142e376",
        ),
        (
            "ec256.pub.pem",
            "a535d02437cd4ae0340dad4c65f120d45c20e6925a4d1eabc1a014e35d917d8a",
        ),
    ] {
        let key = PublicKey::from_pem(&data(file)).expect(file);
        assert_eq!(key.fingerprint_sha256(), expected, "{file}");
        assert!(format!("{key:?}").contains(expected), "{file}: {key:?}");
    }
    assert!(format!("{:?}", rsa_key())
        .contains("0baecec8338436e2ebc3c2c3e736b316f4b2c0866419d53b1b189400a142e376"));
}

#[test]
fn pkcs8_export_reencodes_the_same_key() {
    for file in ["rsa2048.pkcs8.pem", "rsa2048.pkcs1.pem", "ec256.sec1.pem"] {
        let key = PrivateKey::from_pem(&data(file), None).expect(file);
        let exported = key.to_pkcs8_pem().expect("export");
        assert!(
            exported.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{file}"
        );
        let again = PrivateKey::from_pem(&exported, None).expect("re-read");
        assert_eq!(again.public_key(), key.public_key(), "{file}");
        let message = custom_policy().to_json();
        let sig = again
            .sign(HashAlgorithm::Sha1, message.as_bytes())
            .expect("sign");
        assert!(key
            .public_key()
            .verify(HashAlgorithm::Sha1, message.as_bytes(), &sig));
    }
    // PKCS#8 in, the same PKCS#8 out (openssl's DER; the `pem` crate writes CRLF lines).
    let pkcs8 = data("rsa2048.pkcs8.pem");
    let exported = rsa_key().to_pkcs8_pem().expect("export");
    assert_eq!(exported.replace("\r\n", "\n").trim(), pkcs8.trim());
}

#[test]
fn ec_keys_in_sec1_and_pkcs8_sign_both_hashes() {
    let sec1 = PrivateKey::from_pem(&data("ec256.sec1.pem"), None)
        .expect("sec1 (with EC PARAMETERS block)");
    let pkcs8 = PrivateKey::from_pem(&data("ec256.pkcs8.pem"), None).expect("pkcs8");
    let public = PublicKey::from_pem(&data("ec256.pub.pem")).expect("public");
    assert_eq!(sec1.public_key(), &public);
    assert_eq!(pkcs8.public_key(), &public);
    assert_eq!(sec1.algorithm(), KeyAlgorithm::EcdsaP256);
    for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
        let sig = sec1.sign(hash, b"policy").expect("sign");
        assert!(public.verify(hash, b"policy", &sig));
    }
}

// ---------------------------------------------------------------- refusals of bad keys

#[test]
fn bad_keys_get_clear_errors() {
    let cases: Vec<(&str, Result<PrivateKey, KeyError>, &str)> = vec![
        (
            "rsa1024",
            PrivateKey::from_pem(&data("rsa1024.pem"), None),
            "only 2048-bit",
        ),
        (
            "rsa3072",
            PrivateKey::from_pem(&data("rsa3072.pem"), None),
            "3072 bits",
        ),
        (
            "p384",
            PrivateKey::from_pem(&data("ec384.pem"), None),
            "P-256",
        ),
        (
            "public key",
            PrivateKey::from_pem(&data("rsa2048.pub.pem"), None),
            "expected a private key",
        ),
        (
            "no passphrase",
            PrivateKey::from_pem(&data("rsa2048.encrypted.pem"), None),
            "passphrase",
        ),
        (
            "wrong passphrase",
            PrivateKey::from_pem(&data("rsa2048.encrypted.pem"), Some(b"nope")),
            "wrong passphrase",
        ),
        (
            "legacy",
            PrivateKey::from_pem(&data("rsa2048.legacy-encrypted.pem"), Some(b"x")),
            "openssl pkcs8",
        ),
        ("garbage", PrivateKey::from_pem("not a key", None), "PEM"),
        (
            "truncated",
            PrivateKey::from_pem(
                "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
                None,
            ),
            "key",
        ),
    ];
    for (name, result, needle) in cases {
        let err = result.expect_err(name).to_string();
        assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
        assert!(!err.contains('\n'), "{name}: error spans lines");
    }
}

#[test]
fn a_refused_rsa_key_reports_its_real_size() {
    // AWS-LC refuses a 1024-bit key while parsing it; the error must still say how big it is,
    // whichever PEM form it came in (`openssl rsa -traditional` for PKCS#1).
    for file in ["rsa1024.pem", "rsa1024.pkcs1.pem"] {
        let err = PrivateKey::from_pem(&data(file), None).expect_err(file);
        assert_eq!(err, KeyError::RsaSize(1024), "{file}: {err}");
    }
}

#[test]
fn bad_policies_are_refused_before_signing() {
    let signer = Signer::new(KEY_ID, rsa_key()).expect("signer");
    let bad = [
        Policy::new("https://a.example/x", 2_147_483_648),
        Policy::new("https://a.example/x", NOW).not_before(NOW + 1),
        Policy::new("ftp://a.example/x", NOW),
        Policy::new("a.example/x", NOW),
    ];
    for p in bad {
        assert!(signer.cookies(&p).is_err(), "{p:?}");
    }
    assert!(
        Signer::new("K2 X", rsa_key()).is_err(),
        "key ids cannot carry spaces into Set-Cookie"
    );
    assert!(signer
        .cookies_as(&custom_policy(), PolicyKind::Canned)
        .is_err());
}

// ---------------------------------------------------------------- verification

struct Fixture {
    signer: Signer,
    group: KeyGroup,
}

fn fixture() -> Fixture {
    let key = rsa_key();
    let mut group = KeyGroup::new();
    group.insert(KEY_ID, key.public_key().clone());
    Fixture {
        signer: Signer::new(KEY_ID, key).expect("signer"),
        group,
    }
}

fn req<'a>(
    url: &'a str,
    cookies: Option<&'a str>,
    ip: Option<&str>,
    now: i64,
) -> ViewerRequest<'a> {
    ViewerRequest::new(url, now)
        .with_cookie_header(cookies)
        .with_client_ip(ip.map(|i| i.parse::<IpAddr>().expect("ip")))
}

fn cookie_refusal(f: &Fixture, header: &str, url: &str, ip: Option<&str>, now: i64) -> Refusal {
    verify_cookies(&f.group, &req(url, Some(header), ip, now)).expect_err("should be refused")
}

const IN_URL: &str = "https://d111111abcdef8.cloudfront.net/photos/cat.jpg";

#[test]
fn allowed_custom_cookie() {
    let f = fixture();
    let header = f
        .signer
        .cookies(&custom_policy())
        .expect("sign")
        .cookie_header();
    let grant = verify_cookies(
        &f.group,
        &req(IN_URL, Some(&header), Some("192.0.2.9"), NOW + 10),
    )
    .expect("allowed");
    assert_eq!(grant.key_pair_id(), KEY_ID);
    assert_eq!(grant.kind(), PolicyKind::Custom);
    assert_eq!(grant.policy(), &custom_policy());
}

#[test]
fn refusal_missing_cookie() {
    let f = fixture();
    let cookies = f.signer.cookies(&custom_policy()).expect("sign");
    for dropped in [
        "CloudFront-Policy",
        "CloudFront-Signature",
        "CloudFront-Key-Pair-Id",
    ] {
        let header: Vec<String> = cookies
            .pairs()
            .iter()
            .filter(|(n, _)| *n != dropped)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let r = cookie_refusal(&f, &header.join("; "), IN_URL, Some("192.0.2.9"), NOW + 10);
        assert_eq!(r.code(), "missing_cookie", "{dropped}: {r}");
    }
    let r = verify_cookies(&f.group, &req(IN_URL, None, None, NOW)).expect_err("no cookies");
    assert_eq!(r.code(), "missing_cookie");
}

#[test]
fn refusal_malformed_policy() {
    let f = fixture();
    let sig = f.signer.cookies(&custom_policy()).expect("sign");
    let sig = sig.get("CloudFront-Signature").expect("sig");
    for policy in [
        "!!!",
        &base64_encode(b"{\"Statement\":[]}"),
        &base64_encode(&[0xff, 0xfe]),
    ] {
        let header = format!("CloudFront-Policy={policy}; CloudFront-Signature={sig}; CloudFront-Key-Pair-Id={KEY_ID}");
        assert_eq!(
            cookie_refusal(&f, &header, IN_URL, None, NOW).code(),
            "malformed_policy",
            "{policy}"
        );
    }
    let header = format!(
        "CloudFront-Expires=soon; CloudFront-Signature={sig}; CloudFront-Key-Pair-Id={KEY_ID}"
    );
    assert_eq!(
        cookie_refusal(&f, &header, IN_URL, None, NOW).code(),
        "malformed_policy"
    );
}

#[test]
fn refusal_bad_signature() {
    let f = fixture();
    let cookies = f.signer.cookies(&custom_policy()).expect("sign");
    // A policy widened after signing.
    let widened = custom_policy().not_before(NOW - 1000);
    let header = cookies.cookie_header().replace(
        cookies.get("CloudFront-Policy").expect("policy"),
        &base64_encode(widened.to_json().as_bytes()),
    );
    assert_eq!(
        cookie_refusal(&f, &header, IN_URL, Some("192.0.2.9"), NOW + 10).code(),
        "bad_signature"
    );
    // A signature from another key.
    let other = Signer::new(
        KEY_ID,
        Arc::new(PrivateKey::generate(KeyAlgorithm::Rsa2048).expect("key")),
    )
    .expect("s");
    let header = other
        .cookies(&custom_policy())
        .expect("sign")
        .cookie_header();
    assert_eq!(
        cookie_refusal(&f, &header, IN_URL, Some("192.0.2.9"), NOW + 10).code(),
        "bad_signature"
    );
    // Garbage signature.
    let header = format!("CloudFront-Policy={CUSTOM_POLICY_B64}; CloudFront-Signature=%%%; CloudFront-Key-Pair-Id={KEY_ID}");
    assert_eq!(
        cookie_refusal(&f, &header, IN_URL, Some("192.0.2.9"), NOW + 10).code(),
        "bad_signature"
    );
    // A canned cookie presented for another URL than the one it was made for.
    let canned = f
        .signer
        .cookies(&Policy::new(IN_URL, NOW + 60))
        .expect("sign")
        .cookie_header();
    assert!(verify_cookies(&f.group, &req(IN_URL, Some(&canned), None, NOW)).is_ok());
    let r = cookie_refusal(
        &f,
        &canned,
        "https://d111111abcdef8.cloudfront.net/photos/dog.jpg",
        None,
        NOW,
    );
    assert_eq!(r.code(), "bad_signature");
}

#[test]
fn refusal_unknown_key_id() {
    let f = fixture();
    let header = f
        .signer
        .cookies(&custom_policy())
        .expect("sign")
        .cookie_header()
        .replace(KEY_ID, "KUNKNOWN");
    assert_eq!(
        cookie_refusal(&f, &header, IN_URL, Some("192.0.2.9"), NOW + 10).code(),
        "unknown_key_id"
    );
}

#[test]
fn refusal_expired_and_not_yet_valid() {
    let f = fixture();
    let header = f
        .signer
        .cookies(&custom_policy())
        .expect("sign")
        .cookie_header();
    let r = cookie_refusal(&f, &header, IN_URL, Some("192.0.2.9"), NOW + 3600);
    assert_eq!(
        r,
        Refusal::Expired {
            date_less_than: NOW + 3600,
            now: NOW + 3600
        }
    );
    assert!(verify_cookies(
        &f.group,
        &req(IN_URL, Some(&header), Some("192.0.2.9"), NOW + 3599)
    )
    .is_ok());
    let r = cookie_refusal(&f, &header, IN_URL, Some("192.0.2.9"), NOW - 1);
    assert_eq!(r.code(), "not_yet_valid");
    assert!(verify_cookies(
        &f.group,
        &req(IN_URL, Some(&header), Some("192.0.2.9"), NOW)
    )
    .is_ok());
}

#[test]
fn refusal_resource_mismatch_with_wildcards() {
    let f = fixture();
    let p = Policy::new(
        "https://d111111abcdef8.cloudfront.net/photos/??/*.jpg",
        NOW + 60,
    );
    let header = f.signer.cookies(&p).expect("sign").cookie_header();
    let ok = "https://d111111abcdef8.cloudfront.net/photos/ab/x/y.jpg";
    assert!(verify_cookies(&f.group, &req(ok, Some(&header), None, NOW)).is_ok());
    for bad in [
        "https://d111111abcdef8.cloudfront.net/photos/abc/x.jpg",
        "https://d111111abcdef8.cloudfront.net/photos/ab/x.png",
        "http://d111111abcdef8.cloudfront.net/photos/ab/x.jpg",
        "https://other.cloudfront.net/photos/ab/x.jpg",
    ] {
        assert_eq!(
            cookie_refusal(&f, &header, bad, None, NOW).code(),
            "resource_mismatch",
            "{bad}"
        );
    }
}

#[test]
fn refusal_ip_mismatch() {
    let f = fixture();
    let header = f
        .signer
        .cookies(&custom_policy())
        .expect("sign")
        .cookie_header();
    for ip in [Some("192.0.3.1"), Some("2001:db8::1"), None] {
        let r = cookie_refusal(&f, &header, IN_URL, ip, NOW + 10);
        assert_eq!(r.code(), "ip_mismatch", "{ip:?}");
    }
}

#[test]
fn refusal_hash_mismatch() {
    let f = fixture();
    let sha256 = f.signer.clone().with_hash(HashAlgorithm::Sha256);
    let cookies = sha256.cookies(&custom_policy()).expect("sign");
    let without: Vec<String> = cookies
        .pairs()
        .iter()
        .filter(|(n, _)| *n != "CloudFront-Hash-Algorithm")
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let r = cookie_refusal(&f, &without.join("; "), IN_URL, Some("192.0.2.9"), NOW + 10);
    assert_eq!(r.code(), "hash_mismatch", "{r}");
    assert!(r.to_string().contains("SHA256"));
    let bogus = format!("{}; CloudFront-Hash-Algorithm=MD5", without.join("; "));
    assert_eq!(
        cookie_refusal(&f, &bogus, IN_URL, Some("192.0.2.9"), NOW + 10).code(),
        "hash_mismatch"
    );
    assert!(verify_cookies(
        &f.group,
        &req(
            IN_URL,
            Some(&cookies.cookie_header()),
            Some("192.0.2.9"),
            NOW + 10
        )
    )
    .is_ok());
}

#[test]
fn signed_urls_verify_and_keep_their_query() {
    let f = fixture();
    let url = "https://d111111abcdef8.cloudfront.net/v.mp4?quality=hd&t=10";
    let canned = f
        .signer
        .signed_url(url, &Policy::new(url, NOW + 60))
        .expect("sign");
    assert!(canned.contains("?quality=hd&t=10&Expires="));
    assert!(verify_signed_url(&f.group, &req(&canned, None, None, NOW)).is_ok());
    let tampered = canned.replace("quality=hd", "quality=4k");
    assert_eq!(
        verify_signed_url(&f.group, &req(&tampered, None, None, NOW))
            .expect_err("x")
            .code(),
        "bad_signature"
    );
    let custom = f
        .signer
        .signed_url(
            url,
            &Policy::new("https://d111111abcdef8.cloudfront.net/*", NOW + 60),
        )
        .expect("s");
    assert!(custom.contains("Policy="));
    assert!(verify_signed_url(&f.group, &req(&custom, None, None, NOW)).is_ok());
    let expired =
        verify_signed_url(&f.group, &req(&custom, None, None, NOW + 60)).expect_err("expired");
    assert_eq!(expired.code(), "expired");
    let missing = verify_signed_url(&f.group, &req(url, None, None, NOW)).expect_err("unsigned");
    assert_eq!(missing.code(), "missing_cookie");
}

#[test]
fn key_group_with_two_keys_accepts_either() {
    let old = rsa_key();
    let new = Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key"));
    let mut group = KeyGroup::new();
    group.insert("KOLD", old.public_key().clone());
    group.insert("KNEW", new.public_key().clone());
    for signer in [
        Signer::new("KOLD", old).expect("s"),
        Signer::new("KNEW", new).expect("s"),
    ] {
        let header = signer
            .cookies(&custom_policy())
            .expect("sign")
            .cookie_header();
        assert!(
            verify_cookies(&group, &req(IN_URL, Some(&header), Some("192.0.2.1"), NOW)).is_ok()
        );
    }
}

// ---------------------------------------------------------------- properties

fn arb_resource() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        "[a-zA-Z0-9._~-]{1,12}",
        Just("*".to_string()),
        Just("?".to_string()),
        Just("caf\u{e9}".to_string()),
        Just("%20x".to_string()),
    ];
    (
        prop::bool::ANY,
        prop::collection::vec(seg, 1..5),
        prop::option::of("[a-z]{1,5}=[a-z0-9*]{0,5}"),
    )
        .prop_map(|(https, segs, q)| {
            let scheme = if https { "https" } else { "http" };
            let mut r = format!("{scheme}://d1.example.net/{}", segs.join("/"));
            if let Some(q) = q {
                r.push('?');
                r.push_str(&q);
            }
            r
        })
}

/// A URL the pattern matches: each wildcard replaced by concrete text.
fn instance(pattern: &str, fill: &str) -> String {
    pattern.replace('*', fill).replace('?', "z")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)))]

    #[test]
    fn verifier_accepts_everything_the_signer_makes(
        resource in arb_resource(),
        fill in "[a-z/]{0,6}",
        lifetime in 1i64..100_000,
        start in prop::option::of(1i64..1000),
        ip in prop::option::of((any::<u32>(), 8u8..=32)),
        sha256 in any::<bool>(),
        ec in any::<bool>(),
    ) {
        static RSA: std::sync::OnceLock<Arc<PrivateKey>> = std::sync::OnceLock::new();
        static EC: std::sync::OnceLock<Arc<PrivateKey>> = std::sync::OnceLock::new();
        let key = if ec {
            EC.get_or_init(|| Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key"))).clone()
        } else {
            RSA.get_or_init(rsa_key).clone()
        };
        let mut group = KeyGroup::new();
        group.insert(KEY_ID, key.public_key().clone());
        let hash = if sha256 { HashAlgorithm::Sha256 } else { HashAlgorithm::Sha1 };
        let signer = Signer::new(KEY_ID, key).expect("signer").with_hash(hash);
        let mut policy = Policy::new(resource.clone(), NOW + lifetime);
        if let Some(s) = start { policy = policy.not_before(NOW - s); }
        let mut client = None;
        if let Some((addr, prefix)) = ip {
            let a = std::net::Ipv4Addr::from(addr);
            policy = policy.from_ip(format!("{a}/{prefix}").parse().expect("cidr"));
            client = Some(IpAddr::V4(a));
        }
        // Wildcards only mean something in a custom policy; a canned one covers exactly its URL.
        let url = if policy.needs_custom() { instance(&resource, &fill) } else { resource.clone() };
        let header = signer.cookies(&policy).expect("sign").cookie_header();
        let request = ViewerRequest::new(&url, NOW).with_cookie_header(header.as_str()).with_client_ip(client);
        let verdict = verify_cookies(&group, &request);
        prop_assert!(verdict.is_ok(), "{:?} for {} under {}", verdict, url, resource);
        // The same policy as a signed URL for that instance. A browser sends non-ASCII
        // percent-encoded, so the resource of a URL policy must be written that way too.
        let mut encoded = browser_url(&resource).expect("url");
        if policy.needs_custom() && resource.ends_with('?') {
            encoded.push('?'); // there it is a wildcard, not an empty query
        }
        let url_policy = policy.clone().with_resource(encoded);
        let signed = signer.signed_url(&url, &url_policy).expect("sign url");
        let request = ViewerRequest::new(&signed, NOW).with_client_ip(client);
        let verdict = verify_signed_url(&group, &request);
        prop_assert!(verdict.is_ok(), "{:?} for {}", verdict, signed);
    }

    #[test]
    fn verifier_never_panics_on_hostile_cookies(header in ".{0,400}", url in ".{0,100}") {
        let f = fixture();
        let _ = verify_cookies(&f.group, &ViewerRequest::new(&url, NOW).with_cookie_header(header.as_str()));
        let _ = verify_signed_url(&f.group, &ViewerRequest::new(&header, NOW));
    }
}
