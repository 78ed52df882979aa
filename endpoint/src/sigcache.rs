//! An optional cache of signatures for identical policies.
//!
//! With a shared resource (`https://{host}/*`) every viewer's policy differs only in its
//! expiry. Rounding the expiry *down* to a granularity (never later than the token's `exp`)
//! makes the policies of all viewers inside one granule byte-identical, so one signature serves
//! them all and the endpoint is left with the token verification alone. With per-user resources
//! (`{sub}`) policies never repeat across users: the cache only misses, and a miss costs one
//! hash-map lookup next to a signature.
//!
//! Off by default (`CFCOOKIE_SIGNATURE_CACHE_SECONDS` unset or 0): rounding shortens every
//! cookie by up to the granularity, which an operator should choose knowingly, and with ECDSA
//! keys a signature already costs less than the RS256 verification every request pays anyway.
//!
//! Entries are keyed by key id, digest and policy bytes; the whole cache is flushed when the
//! signer's key changes (a rotation), and it holds at most `capacity` policies: when full,
//! expired entries go, and if none has expired the cache starts afresh.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cfcookie_signer::{HashAlgorithm, Policy, PolicyKind, SignError, SignedCookies, Signer};

#[derive(Debug, Default)]
struct Entries {
    /// The key (id and digest) every entry was signed with.
    key: Option<(String, HashAlgorithm)>,
    by_policy: HashMap<String, Arc<SignedCookies>>,
}

/// Signatures of recent policies, reused while their key signs.
#[derive(Debug)]
pub struct SignatureCache {
    granularity: i64,
    capacity: usize,
    entries: RwLock<Entries>,
}

impl SignatureCache {
    /// A cache rounding expiries down to `granularity` seconds (> 0), holding at most
    /// `capacity` (> 0) policies.
    pub fn new(granularity: i64, capacity: usize) -> SignatureCache {
        SignatureCache {
            granularity: granularity.max(1),
            capacity: capacity.max(1),
            entries: RwLock::new(Entries::default()),
        }
    }

    /// The cache `CFCOOKIE_SIGNATURE_CACHE_SECONDS` (granularity; 0: no cache) and
    /// `CFCOOKIE_SIGNATURE_CACHE_SIZE` ask for, as the settings reader bounds them.
    pub fn from_settings(seconds: u64, size: u64) -> Option<Arc<SignatureCache>> {
        (seconds > 0).then(|| {
            Arc::new(SignatureCache::new(
                i64::try_from(seconds).unwrap_or(i64::MAX),
                usize::try_from(size).unwrap_or(usize::MAX),
            ))
        })
    }

    /// `expires` rounded down to the granularity, unless that would not be after `now` (a token
    /// about to expire keeps its own expiry, uncached in effect). Never later than `expires`.
    pub fn round_expiry(&self, expires: i64, now: i64) -> i64 {
        let rounded = expires - expires.rem_euclid(self.granularity);
        if rounded > now {
            rounded
        } else {
            expires
        }
    }

    /// Custom-policy cookies for `policy` signed by `signer`: reused when the same key signed
    /// the same policy bytes before.
    pub fn cookies(
        &self,
        signer: &Signer,
        hash: HashAlgorithm,
        policy: &Policy,
        now: i64,
    ) -> Result<Arc<SignedCookies>, SignError> {
        let json = policy.to_json();
        {
            let e = self.entries.read().unwrap_or_else(|p| p.into_inner());
            if Self::same_key(&e, signer, hash) {
                if let Some(hit) = e.by_policy.get(&json) {
                    return Ok(hit.clone());
                }
            }
        }
        let signed = Arc::new(SignedCookies::from(signer.sign_with(
            policy,
            PolicyKind::Custom,
            hash,
        )?));
        let mut e = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if !Self::same_key(&e, signer, hash) {
            e.by_policy.clear();
            e.key = Some((signer.key_pair_id().to_owned(), hash));
        }
        if e.by_policy.len() >= self.capacity {
            e.by_policy.retain(|_, c| c.expires() > now);
            if e.by_policy.len() >= self.capacity {
                e.by_policy.clear();
            }
        }
        e.by_policy.insert(json, signed.clone());
        Ok(signed)
    }

    fn same_key(e: &Entries, signer: &Signer, hash: HashAlgorithm) -> bool {
        e.key
            .as_ref()
            .is_some_and(|(id, h)| id == signer.key_pair_id() && *h == hash)
    }

    /// How many policies are cached.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_policy
            .len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cfcookie_signer::{KeyAlgorithm, PrivateKey};

    use super::*;

    const SHA1: HashAlgorithm = HashAlgorithm::Sha1;

    fn signer(id: &str) -> Signer {
        Signer::new(
            id,
            Arc::new(PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn expiry_is_rounded_down_never_past_the_token() {
        let c = SignatureCache::new(60, 8);
        assert_eq!(c.round_expiry(1_200_119, 1_200_000), 1_200_060);
        assert_eq!(c.round_expiry(1_200_060, 1_200_000), 1_200_060);
        // Rounding would reach now or before: the token's own expiry stays.
        assert_eq!(c.round_expiry(1_200_030, 1_200_000), 1_200_030);
        for exp in 1_200_001..1_200_500 {
            let r = c.round_expiry(exp, 1_200_000);
            assert!(r <= exp && r > 1_200_000, "{exp} -> {r}");
        }
    }

    #[test]
    fn same_policy_same_key_is_one_signature_and_a_new_key_flushes() {
        let c = SignatureCache::new(60, 8);
        let (a, b) = (signer("KAAAAAAAAAAAAA"), signer("KBBBBBBBBBBBBB"));
        let p = Policy::new("https://media.example.com/*", 2_000_000);
        let first = c.cookies(&a, SHA1, &p, 1_000_000).unwrap();
        let again = c.cookies(&a, SHA1, &p, 1_000_000).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second request reused the signature"
        );
        // ECDSA signatures are randomised: a fresh signature would differ.
        let fresh = a.cookies_as(&p, PolicyKind::Custom).unwrap();
        assert_ne!(
            fresh.get("CloudFront-Signature"),
            first.get("CloudFront-Signature")
        );
        let other = c
            .cookies(
                &a,
                SHA1,
                &Policy::new("https://media.example.com/*", 2_000_060),
                1_000_000,
            )
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(c.len(), 2);
        let by_b = c.cookies(&b, SHA1, &p, 1_000_000).unwrap();
        assert_eq!(by_b.get("CloudFront-Key-Pair-Id"), Some("KBBBBBBBBBBBBB"));
        assert_eq!(c.len(), 1, "a new key flushed the old key's signatures");
        let by_a = c.cookies(&a, SHA1, &p, 1_000_000).unwrap();
        assert_eq!(by_a.get("CloudFront-Key-Pair-Id"), Some("KAAAAAAAAAAAAA"));
        assert!(
            !Arc::ptr_eq(&first, &by_a),
            "signed afresh after the key came back"
        );
    }

    #[test]
    fn bounded_expired_entries_go_first() {
        let c = SignatureCache::new(1, 3);
        let a = signer("KAAAAAAAAAAAAA");
        let policy = |i: i64, exp: i64| Policy::new(format!("https://m.example.com/{i}/*"), exp);
        for i in 0..3 {
            c.cookies(&a, SHA1, &policy(i, 1_000 + i), 900).unwrap();
        }
        assert_eq!(c.len(), 3);
        // Full, and every entry has expired by 1_008: they make room.
        c.cookies(&a, SHA1, &policy(3, 2_000), 1_008).unwrap();
        assert_eq!(c.len(), 1);
        c.cookies(&a, SHA1, &policy(4, 2_000), 1_008).unwrap();
        c.cookies(&a, SHA1, &policy(5, 2_000), 1_008).unwrap();
        assert_eq!(c.len(), 3);
        // Full of live entries: the cache starts afresh rather than grow.
        c.cookies(&a, SHA1, &policy(6, 2_000), 1_008).unwrap();
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn settings() {
        use cfcookie_config::{Env, SIGNATURE_CACHE_SECONDS, SIGNATURE_CACHE_SIZE};
        let read = |pairs: &[(&str, &str)]| {
            let env = Env::from_pairs(pairs.iter().copied());
            Ok::<_, cfcookie_config::ConfigError>(SignatureCache::from_settings(
                env.number(&SIGNATURE_CACHE_SECONDS)?,
                env.number(&SIGNATURE_CACHE_SIZE)?,
            ))
        };
        assert!(read(&[]).unwrap().is_none(), "off by default");
        assert!(read(&[("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "0")])
            .unwrap()
            .is_none());
        let c = read(&[
            ("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "60"),
            ("CFCOOKIE_SIGNATURE_CACHE_SIZE", "10"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.granularity, c.capacity), (60, 10));
        for bad in ["-1", "x", "3601"] {
            let e = read(&[("CFCOOKIE_SIGNATURE_CACHE_SECONDS", bad)]).unwrap_err();
            assert_eq!(e.variable, "CFCOOKIE_SIGNATURE_CACHE_SECONDS", "{bad}");
        }
        assert!(read(&[
            ("CFCOOKIE_SIGNATURE_CACHE_SECONDS", "60"),
            ("CFCOOKIE_SIGNATURE_CACHE_SIZE", "0")
        ])
        .is_err());
    }
}
