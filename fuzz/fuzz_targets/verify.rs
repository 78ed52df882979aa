//! Untrusted input the verifier parses: Cookie headers, CloudFront base64, policy JSON, and
//! signed-URL query strings. None of it may panic, however hostile.
#![no_main]

use std::sync::OnceLock;

use cfcookie_signer::{base64_decode, verify_cookies, verify_signed_url, KeyAlgorithm, KeyGroup, Policy, PrivateKey, Signer, ViewerRequest};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    group: KeyGroup,
    valid_cookie: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = std::sync::Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key"));
        let mut group = KeyGroup::new();
        group.insert("KFUZZ", key.public_key().clone());
        let signer = Signer::new("KFUZZ", key).expect("signer");
        let valid_cookie = signer.cookies(&Policy::new("https://a.example/*", 2_000_000_000)).expect("sign").cookie_header();
        Fixture { group, valid_cookie }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let text = String::from_utf8_lossy(data);
    let (url, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = base64_decode(rest);
    let _ = Policy::from_json(rest);
    let _ = cfcookie_signer::wildcard_match(url, rest);
    let req = ViewerRequest::new(url, 1_795_341_600).with_cookie_header(rest);
    let _ = verify_cookies(&f.group, &req);
    let _ = verify_signed_url(&f.group, &req);
    // Mutations of a valid cookie header reach the signature and policy checks.
    let spliced = format!("{}{rest}", f.valid_cookie);
    let req = ViewerRequest::new(url, 1_795_341_600).with_cookie_header(spliced.as_str());
    let _ = verify_cookies(&f.group, &req);
});
