//! SHA-1 signing over AWS-LC's C API: the one place this crate uses `unsafe`.
//!
//! CloudFront's default signature is RSA PKCS#1 v1.5 (or ECDSA) over SHA-1. aws-lc-rs deliberately
//! offers no SHA-1 *signing* in its safe API (it does offer SHA-1 verification, which
//! `verify.rs` uses). Its digest-signing entry points (aws-lc-rs 1.19: `RsaKeyPair::sign_digest`
//! and `EcdsaKeyPair::sign_digest`) do not help: both refuse a digest whose algorithm differs
//! from the signing algorithm's, and every RSA signing encoding (`RsaEncoding`, a sealed trait)
//! and ECDSA signing algorithm it defines is SHA-256 or longer. So this module signs a SHA-1
//! digest computed by aws-lc-rs with `RSA_sign` / `ECDSA_sign`. Both are AWS-LC's constant-time,
//! blinded implementations, the same code aws-lc-rs itself calls; see
//! `docs/decisions/0001-signing-backend.md`.
//!
//! This needs the key as an `EVP_PKEY` of our own, beside the aws-lc-rs key pair (aws-lc-rs does
//! not lend out its `EVP_PKEY`): that is why [`crate::PrivateKey`] holds the key twice, the
//! second copy from its first SHA-1 signature on.
//!
//! Safety argument, once for the whole module:
//! - `EVP_PKEY` is created by `EVP_parse_private_key` from a DER buffer that outlives the call,
//!   is checked for NULL, owned by [`LegacyKey`] and freed exactly once in `Drop`.
//! - `EVP_PKEY_get0_*` borrow from that key; nothing here frees or stores them.
//! - Output buffers are sized by `RSA_size` / `ECDSA_size` before the call writes into them, and
//!   truncated to the length the call reports.
//! - AWS-LC keys are safe to use from several threads at once for signing (RSA blinding state is
//!   locked internally), so `LegacyKey` is `Send + Sync`.
#![allow(unsafe_code)]

use std::ptr::NonNull;

use aws_lc_sys::{
    CBS_init, ECDSA_sign, ECDSA_size, EVP_PKEY_free, EVP_PKEY_get0_EC_KEY, EVP_PKEY_get0_RSA,
    EVP_PKEY_id, EVP_parse_private_key, NID_sha1, RSA_sign, RSA_size, CBS, EVP_PKEY, EVP_PKEY_EC,
    EVP_PKEY_RSA,
};

/// A private key held as an AWS-LC `EVP_PKEY`, used only to sign SHA-1 digests.
pub(crate) struct LegacyKey {
    pkey: NonNull<EVP_PKEY>,
}

// SAFETY: see the module documentation; AWS-LC documents EVP_PKEY signing as thread-safe.
unsafe impl Send for LegacyKey {}
// SAFETY: as above; signing takes `&self` and AWS-LC locks its mutable blinding state.
unsafe impl Sync for LegacyKey {}

impl LegacyKey {
    /// Parses a PKCS#8 `PrivateKeyInfo` (RSA or EC). `None` when AWS-LC refuses it.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Option<LegacyKey> {
        // SAFETY: CBS is a plain (pointer, length) view; it is initialised before use and
        // borrows `der`, which outlives both calls.
        let raw = unsafe {
            let mut cbs: CBS = std::mem::zeroed();
            CBS_init(&mut cbs, der.as_ptr(), der.len());
            EVP_parse_private_key(&mut cbs)
        };
        NonNull::new(raw).map(|pkey| LegacyKey { pkey })
    }

    /// Signs a SHA-1 digest: PKCS#1 v1.5 for RSA keys, ASN.1 DER ECDSA for EC keys.
    pub(crate) fn sign_sha1_digest(&self, digest: &[u8; 20]) -> Option<Vec<u8>> {
        let pkey = self.pkey.as_ptr();
        // SAFETY: `pkey` is valid for the lifetime of `self`; the get0 pointers are borrowed, not
        // freed; `out` has the capacity the library reports as the maximum signature size.
        unsafe {
            match EVP_PKEY_id(pkey) {
                id if id == EVP_PKEY_RSA => {
                    let rsa = EVP_PKEY_get0_RSA(pkey);
                    if rsa.is_null() {
                        return None;
                    }
                    let mut out = vec![0u8; RSA_size(rsa) as usize];
                    let mut len: std::os::raw::c_uint = 0;
                    let ok = RSA_sign(
                        NID_sha1,
                        digest.as_ptr(),
                        digest.len(),
                        out.as_mut_ptr(),
                        &mut len,
                        rsa,
                    );
                    (ok == 1).then(|| {
                        out.truncate(len as usize);
                        out
                    })
                }
                id if id == EVP_PKEY_EC => {
                    let ec = EVP_PKEY_get0_EC_KEY(pkey);
                    if ec.is_null() {
                        return None;
                    }
                    let mut out = vec![0u8; ECDSA_size(ec)];
                    let mut len: std::os::raw::c_uint = 0;
                    let ok = ECDSA_sign(
                        0,
                        digest.as_ptr(),
                        digest.len(),
                        out.as_mut_ptr(),
                        &mut len,
                        ec,
                    );
                    (ok == 1).then(|| {
                        out.truncate(len as usize);
                        out
                    })
                }
                _ => None,
            }
        }
    }
}

impl Drop for LegacyKey {
    fn drop(&mut self) {
        // SAFETY: this struct owns the only reference to the key and drops it once.
        unsafe { EVP_PKEY_free(self.pkey.as_ptr()) }
    }
}
