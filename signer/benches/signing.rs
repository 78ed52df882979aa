//! Minting a full custom-policy cookie set: policy JSON, signature, CloudFront base64.
//! Run with `scripts/bench-signing`, which also runs `openssl speed` and the reference signers
//! side by side and reports ratios.

use std::hint::black_box;
use std::sync::Arc;

use cfcookie_signer::{HashAlgorithm, KeyAlgorithm, Policy, PrivateKey, Signer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const NOW: i64 = 1_795_341_600;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("signing");
    group.throughput(Throughput::Elements(1));
    let rsa = Arc::new(PrivateKey::generate(KeyAlgorithm::Rsa2048).expect("key"));
    let ec = Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key"));
    let cases = [
        ("rsa2048_sha1_custom_cookie", &rsa, HashAlgorithm::Sha1),
        ("rsa2048_sha256_custom_cookie", &rsa, HashAlgorithm::Sha256),
        ("ecdsa_p256_sha1_custom_cookie", &ec, HashAlgorithm::Sha1),
        (
            "ecdsa_p256_sha256_custom_cookie",
            &ec,
            HashAlgorithm::Sha256,
        ),
    ];
    for (name, key, hash) in cases {
        let signer = Signer::new("K2JCJMDEHXQW5F", key.clone())
            .expect("signer")
            .with_hash(hash);
        let mut n = 0i64;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                // A fresh policy per iteration, as the endpoint makes one per request.
                let policy = Policy::new(
                    "https://d111111abcdef8.cloudfront.net/*",
                    NOW + 3600 + n % 600,
                );
                black_box(signer.cookies(black_box(&policy)).expect("sign"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
