//! Key pairs: parsing, generation, PEM export, signing and verification.
//!
//! Private keys are parsed once and kept as AWS-LC objects; a signature never re-parses a key.
//! `Debug` on a key prints its algorithm and the SHA-256 fingerprint of its public key, never
//! private bytes.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, VerificationAlgorithm,
};
use aws_lc_rs::{digest, rsa};
use pkcs8::der::Decode as _;
use zeroize::Zeroizing;

use crate::legacy_sha1::LegacyKey;

/// The only RSA size CloudFront accepts, in bytes of modulus.
const RSA_2048_BYTES: usize = 256;

/// A key that could not be read, made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not PEM, or holds no key.
    #[error("not a PEM key: {0}")]
    Pem(String),
    /// A public key (or certificate) was given where a private key belongs.
    #[error(
        "expected a private key but found a {0} (give the private key file, not the public one)"
    )]
    NotPrivate(String),
    /// The key is encrypted and no passphrase was given.
    #[error("the private key is encrypted; give its passphrase")]
    PassphraseNeeded,
    /// Decryption failed: almost always a wrong passphrase.
    #[error(
        "cannot decrypt the private key: wrong passphrase, or an unsupported encryption scheme"
    )]
    Decrypt,
    /// The old OpenSSL `Proc-Type: 4,ENCRYPTED` PEM encryption.
    #[error("legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported; convert with `openssl pkcs8 -topk8 -v2 aes-256-cbc`")]
    LegacyEncryption,
    /// An RSA key that is not 2048 bits.
    #[error("RSA key is {0} bits; CloudFront accepts only 2048-bit RSA keys")]
    RsaSize(usize),
    /// An EC key on a curve other than P-256, or another key type.
    #[error("unsupported key: {0}; CloudFront accepts RSA-2048 and ECDSA P-256")]
    Unsupported(String),
    /// The key's bytes were refused by the crypto library.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// Signing failed inside the crypto library (should not happen with a valid key).
    #[error("signing failed")]
    Sign,
    /// Key generation (or encoding the new key) failed inside the crypto library.
    #[error("key generation failed")]
    Generate,
}

/// Key algorithms CloudFront accepts for trusted public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus (PKCS#1 v1.5 signatures). CloudFront's default.
    Rsa2048,
    /// ECDSA on NIST P-256.
    EcdsaP256,
}

impl KeyAlgorithm {
    /// The name used in the secret format and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "RSA_2048",
            KeyAlgorithm::EcdsaP256 => "ECDSA_P256",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "RSA_2048" | "RSA2048" | "RSA" => Ok(KeyAlgorithm::Rsa2048),
            "ECDSA_P256" | "ECDSA_P_256" | "ECDSA" | "P256" | "EC" => Ok(KeyAlgorithm::EcdsaP256),
            _ => Err(KeyError::Unsupported(format!(
                "algorithm {s:?} (use RSA_2048 or ECDSA_P256)"
            ))),
        }
    }
}

/// The digest under the signature. CloudFront assumes SHA-1 unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1: CloudFront's default; no extra cookie or parameter.
    #[default]
    Sha1,
    /// SHA-256: announced by `CloudFront-Hash-Algorithm=SHA256` / `Hash-Algorithm=SHA256`.
    Sha256,
}

impl HashAlgorithm {
    /// The value CloudFront reads (`SHA1` or `SHA256`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "SHA1",
            HashAlgorithm::Sha256 => "SHA256",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hash algorithm name that is neither SHA1 nor SHA256 (from [`HashAlgorithm`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hash algorithm must be SHA1 or SHA256, got {0:?}")]
pub struct UnknownHash(String);

impl FromStr for HashAlgorithm {
    type Err = UnknownHash;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(HashAlgorithm::Sha1),
            "SHA256" => Ok(HashAlgorithm::Sha256),
            _ => Err(UnknownHash(s.to_owned())),
        }
    }
}

enum Pair {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

/// A private signing key (RSA-2048 or ECDSA P-256), parsed once.
///
/// The key lives in AWS-LC, and nowhere else: as an aws-lc-rs key pair (SHA-256 signing, the
/// public key, PKCS#8 export) and, from the first SHA-1 signature on, also as an `EVP_PKEY` for
/// SHA-1 signing. That second copy is parsed on first use, not with the key: parsing checks the
/// key (a point multiplication for P-256), and a key that never makes a SHA-1 signature (a
/// rotator's new key, a SHA-256 endpoint's) need not pay it twice. aws-lc-rs 1.19 can sign
/// a precomputed digest (`RsaKeyPair::sign_digest`, `EcdsaKeyPair::sign_digest`), but only one
/// whose algorithm matches the key's signing algorithm, and it has no SHA-1 signing algorithm
/// (`RsaEncoding` is sealed, its SHA-1 parameters are for verification only), so it cannot make
/// CloudFront's default SHA-1 signature; see `legacy_sha1.rs`. No plain copy of the private
/// bytes is kept: PKCS#8 is re-encoded by AWS-LC when asked for. A clone shares the parsed key.
#[derive(Clone)]
pub struct PrivateKey {
    pair: Arc<Pair>,
    /// Parsed from the pair's PKCS#8 at the first SHA-1 signature; `None` if AWS-LC refused it.
    legacy: Arc<std::sync::OnceLock<Option<LegacyKey>>>,
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.public.algorithm)
            .field("public_sha256", &self.public.fingerprint_sha256())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a new key pair with AWS-LC.
    ///
    /// ```
    /// use cfcookie_signer::{KeyAlgorithm, PrivateKey};
    ///
    /// let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    /// assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
    /// // The PEM to register with CloudFront (CreatePublicKey's EncodedKey).
    /// assert!(key.public_key().to_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    /// # Ok::<(), cfcookie_signer::KeyError>(())
    /// ```
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, KeyError> {
        let der: Zeroizing<Vec<u8>> = match algorithm {
            KeyAlgorithm::Rsa2048 => {
                let pair = rsa::KeyPair::generate(rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Generate)?;
                let der: Pkcs8V1Der<'_> = pair.as_der().map_err(|_| KeyError::Generate)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            KeyAlgorithm::EcdsaP256 => {
                let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map_err(|_| KeyError::Generate)?;
                Zeroizing::new(
                    pair.to_pkcs8v1()
                        .map_err(|_| KeyError::Generate)?
                        .as_ref()
                        .to_vec(),
                )
            }
        };
        PrivateKey::from_pkcs8_der(&der)
    }

    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`), SEC1
    /// (`EC PRIVATE KEY`) or encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, with `passphrase`).
    pub fn from_pem(text: &str, passphrase: Option<&[u8]>) -> Result<PrivateKey, KeyError> {
        let blocks = pem::parse_many(text).map_err(|e| KeyError::Pem(e.to_string()))?;
        // `openssl ecparam -genkey` writes an EC PARAMETERS block before the key: skip it.
        let block = blocks
            .into_iter()
            .find(|b| b.tag() != "EC PARAMETERS")
            .ok_or_else(|| KeyError::Pem("no PEM block found".into()))?;
        if block
            .headers()
            .get("Proc-Type")
            .is_some_and(|v| v.contains("ENCRYPTED"))
        {
            return Err(KeyError::LegacyEncryption);
        }
        let contents = Zeroizing::new(block.contents().to_vec());
        match block.tag() {
            "PRIVATE KEY" => PrivateKey::from_pkcs8_der(&contents),
            "RSA PRIVATE KEY" => {
                let pair = rsa::KeyPair::from_der(&contents)
                    .map_err(|e| rsa_rejected(&e, rsa_modulus_bits(&contents)))?;
                let der: Pkcs8V1Der<'_> = pair
                    .as_der()
                    .map_err(|_| KeyError::Invalid("cannot re-encode key".into()))?;
                PrivateKey::from_pkcs8_der(der.as_ref())
            }
            "EC PRIVATE KEY" => {
                let pair = EcdsaKeyPair::from_private_key_der(
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &contents,
                )
                .map_err(|e| KeyError::Unsupported(format!("EC key ({e})")))?;
                let der = pair
                    .to_pkcs8v1()
                    .map_err(|_| KeyError::Invalid("cannot re-encode key".into()))?;
                PrivateKey::from_pkcs8_der(der.as_ref())
            }
            "ENCRYPTED PRIVATE KEY" => {
                let passphrase = passphrase.ok_or(KeyError::PassphraseNeeded)?;
                let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&contents)
                    .map_err(|e| KeyError::Pem(format!("encrypted key: {e}")))?;
                let doc = info.decrypt(passphrase).map_err(|_| KeyError::Decrypt)?;
                PrivateKey::from_pkcs8_der(doc.as_bytes())
            }
            tag @ ("PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE") => {
                Err(KeyError::NotPrivate(tag.to_lowercase()))
            }
            other => Err(KeyError::Pem(format!("unexpected PEM block {other:?}"))),
        }
    }

    /// Reads an unencrypted PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        // The algorithm the PKCS#8 AlgorithmIdentifier names is tried first: every attempt
        // parses the whole key (an EC one with a point multiplication).
        let pair = if is_rsa_pkcs8(der) {
            match rsa::KeyPair::from_pkcs8(der) {
                Ok(pair) => Pair::Rsa(pair),
                Err(rsa_err) => return Err(rsa_rejected(&rsa_err, pkcs8_rsa_modulus_bits(der))),
            }
        } else {
            match EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der) {
                Ok(pair) => Pair::Ec(pair),
                Err(ec_err) => match rsa::KeyPair::from_pkcs8(der) {
                    Ok(pair) => Pair::Rsa(pair),
                    Err(_) => return Err(KeyError::Unsupported(format!("PKCS#8 key ({ec_err})"))),
                },
            }
        };
        let public = match &pair {
            Pair::Rsa(p) => {
                if p.public_modulus_len() != RSA_2048_BYTES {
                    return Err(KeyError::RsaSize(p.public_modulus_len() * 8));
                }
                let spki: PublicKeyX509Der<'_> = p
                    .public_key()
                    .as_der()
                    .map_err(|_| KeyError::Invalid("public key".into()))?;
                PublicKey {
                    algorithm: KeyAlgorithm::Rsa2048,
                    spki: spki.as_ref().to_vec(),
                }
            }
            Pair::Ec(p) => {
                let spki: PublicKeyX509Der<'_> = p
                    .public_key()
                    .as_der()
                    .map_err(|_| KeyError::Invalid("public key".into()))?;
                PublicKey {
                    algorithm: KeyAlgorithm::EcdsaP256,
                    spki: spki.as_ref().to_vec(),
                }
            }
        };
        Ok(PrivateKey {
            pair: Arc::new(pair),
            legacy: Arc::default(),
            public,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The private key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), encoded by
    /// AWS-LC from the parsed key.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = self.pkcs8_der()?;
        let block = pem::Pem::new("PRIVATE KEY", der.to_vec());
        let text = Zeroizing::new(pem::encode(&block));
        drop(Zeroizing::new(block.into_contents()));
        Ok(text)
    }

    /// The private key as unencrypted PKCS#8 DER, encoded by AWS-LC.
    fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let encode_error = |_| KeyError::Invalid("AWS-LC cannot encode the key as PKCS#8".into());
        Ok(match &*self.pair {
            Pair::Rsa(p) => {
                let der: Pkcs8V1Der<'_> = p.as_der().map_err(encode_error)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            Pair::Ec(p) => Zeroizing::new(p.to_pkcs8v1().map_err(encode_error)?.as_ref().to_vec()),
        })
    }

    /// The key as AWS-LC's `EVP_PKEY`, for SHA-1 signatures: parsed once, at the first.
    fn legacy(&self) -> Result<&LegacyKey, KeyError> {
        self.legacy
            .get_or_init(|| {
                self.pkcs8_der()
                    .ok()
                    .and_then(|der| LegacyKey::from_pkcs8(&der))
            })
            .as_ref()
            .ok_or_else(|| KeyError::Invalid("AWS-LC refused the key for SHA-1 signing".into()))
    }

    /// Signs `message`. RSA signatures are deterministic (PKCS#1 v1.5); ECDSA ones are not.
    pub fn sign(&self, hash: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match (hash, &*self.pair) {
            (HashAlgorithm::Sha1, _) => {
                let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, message);
                let d: &[u8; 20] = d.as_ref().try_into().map_err(|_| KeyError::Sign)?;
                self.legacy()?.sign_sha1_digest(d).ok_or(KeyError::Sign)
            }
            (HashAlgorithm::Sha256, Pair::Rsa(pair)) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            (HashAlgorithm::Sha256, Pair::Ec(pair)) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
        }
    }
}

/// Maps AWS-LC's refusal of an RSA key to an error; `bits` is the modulus size read from the
/// key itself, when it could be read, so a wrong size is reported as that size.
fn rsa_rejected(e: &aws_lc_rs::error::KeyRejected, bits: Option<usize>) -> KeyError {
    match (e.description_(), bits) {
        ("TooSmall" | "TooLarge", Some(bits)) => KeyError::RsaSize(bits),
        (other, _) => KeyError::Invalid(format!("RSA key rejected ({other})")),
    }
}

/// rsaEncryption OID, DER-encoded, as it appears inside a PKCS#8 AlgorithmIdentifier.
const RSA_OID_DER: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

fn is_rsa_pkcs8(der: &[u8]) -> bool {
    pkcs8::PrivateKeyInfo::from_der(der)
        .map(|info| info.algorithm.oid.as_bytes() == &RSA_OID_DER[2..])
        .unwrap_or(false)
}

/// Modulus size of the RSA key inside a PKCS#8 `PrivateKeyInfo`, for the error message.
fn pkcs8_rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let info = pkcs8::PrivateKeyInfo::from_der(der).ok()?;
    rsa_modulus_bits(info.private_key)
}

/// Modulus size of a PKCS#1 `RSAPrivateKey`, for the error message of a key AWS-LC refused.
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    use pkcs8::der::Reader as _;
    // RSAPrivateKey ::= SEQUENCE { version INTEGER, modulus INTEGER, ... }
    let seq = pkcs8::der::asn1::AnyRef::from_der(der).ok()?;
    let mut reader = pkcs8::der::SliceReader::new(seq.value()).ok()?;
    let _version: pkcs8::der::asn1::UintRef<'_> = reader.decode().ok()?;
    let modulus: pkcs8::der::asn1::UintRef<'_> = reader.decode().ok()?;
    // `as_bytes` drops leading zeros; the top byte gives the exact bit length.
    let bytes = modulus.as_bytes();
    let top = bytes.first()?;
    Some(bytes.len() * 8 - top.leading_zeros() as usize)
}

/// A public key, as CloudFront stores it (X.509 SubjectPublicKeyInfo).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("sha256", &self.fingerprint_sha256())
            .finish()
    }
}

impl PublicKey {
    /// Reads `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let block = pem::parse(text.trim()).map_err(|e| KeyError::Pem(e.to_string()))?;
        match block.tag() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => PublicKey::from_der(block.contents()),
            tag if tag.contains("PRIVATE KEY") => Err(KeyError::Pem(format!(
                "expected a public key but found a {} (give the public key file)",
                tag.to_lowercase()
            ))),
            other => Err(KeyError::Pem(format!("unexpected PEM block {other:?}"))),
        }
    }

    /// Reads SPKI or PKCS#1 `RSAPublicKey` DER.
    pub fn from_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        if let Ok(rsa_key) = rsa::PublicKey::from_der(der) {
            let bytes = rsa_key.modulus_len();
            if bytes != RSA_2048_BYTES {
                return Err(KeyError::RsaSize(bytes * 8));
            }
            let spki: PublicKeyX509Der<'_> = rsa_key
                .as_der()
                .map_err(|_| KeyError::Invalid("public key".into()))?;
            return Ok(PublicKey {
                algorithm: KeyAlgorithm::Rsa2048,
                spki: spki.as_ref().to_vec(),
            });
        }
        let ec = signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, der).map_err(
            |_| KeyError::Unsupported("public key is neither RSA nor ECDSA P-256".into()),
        )?;
        let _ = ec;
        Ok(PublicKey {
            algorithm: KeyAlgorithm::EcdsaP256,
            spki: der.to_vec(),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// PEM (`-----BEGIN PUBLIC KEY-----`), the form CloudFront's CreatePublicKey takes.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki.clone()))
    }

    /// SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Lower-case hex SHA-256 of the SubjectPublicKeyInfo DER (64 characters): a stable name
    /// for logs, the same as `openssl pkey -pubin -outform DER | sha256sum` gives.
    pub fn fingerprint_sha256(&self) -> String {
        crate::encoding::sha256_hex(&self.spki)
    }

    /// Whether `signature` is valid for `message` under `hash`.
    pub fn verify(&self, hash: HashAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        let alg: &'static dyn VerificationAlgorithm = match (self.algorithm, hash) {
            (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha1) => {
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256) => {
                &signature::RSA_PKCS1_2048_8192_SHA256
            }
            (KeyAlgorithm::EcdsaP256, HashAlgorithm::Sha1) => &signature::ECDSA_P256_SHA1_ASN1,
            (KeyAlgorithm::EcdsaP256, HashAlgorithm::Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
        };
        UnparsedPublicKey::new(alg, &self.spki)
            .verify(message, signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify_both_hashes() {
        for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcdsaP256] {
            let key = PrivateKey::generate(alg).unwrap();
            for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
                let sig = key.sign(hash, b"policy").unwrap();
                assert!(
                    key.public_key().verify(hash, b"policy", &sig),
                    "{alg} {hash}"
                );
                assert!(
                    !key.public_key().verify(hash, b"Policy", &sig),
                    "{alg} {hash} tampered"
                );
                let other = if hash == HashAlgorithm::Sha1 {
                    HashAlgorithm::Sha256
                } else {
                    HashAlgorithm::Sha1
                };
                assert!(
                    !key.public_key().verify(other, b"policy", &sig),
                    "{alg} {hash} cross-hash"
                );
            }
        }
    }

    #[test]
    fn pem_round_trip_and_debug_hides_private_bytes() {
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let again = PrivateKey::from_pem(&pem, None).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        assert_eq!(&public, key.public_key());
        let debug = format!("{key:?}");
        assert!(
            debug.contains("Rsa2048") && !debug.contains("MII"),
            "{debug}"
        );
        assert!(!debug.contains(&pem[40..80]));
    }

    #[test]
    fn public_key_in_private_slot_is_refused() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let err = PrivateKey::from_pem(&key.public_key().to_pem(), None).unwrap_err();
        assert!(matches!(err, KeyError::NotPrivate(_)), "{err}");
        assert!(PublicKey::from_pem(&key.to_pkcs8_pem().unwrap()).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            PrivateKey::from_pem("hello", None),
            Err(KeyError::Pem(_))
        ));
        assert!(PrivateKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            None
        )
        .is_err());
    }

    #[test]
    fn parse_names() {
        assert_eq!("sha256".parse::<HashAlgorithm>(), Ok(HashAlgorithm::Sha256));
        assert_eq!("SHA-1".parse::<HashAlgorithm>(), Ok(HashAlgorithm::Sha1));
        let err = "MD5".parse::<HashAlgorithm>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"hash algorithm must be SHA1 or SHA256, got "MD5""#
        );
        assert_eq!(
            "ecdsa_p256".parse::<KeyAlgorithm>(),
            Ok(KeyAlgorithm::EcdsaP256)
        );
    }
}
