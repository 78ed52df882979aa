//! CloudFront's URL-safe base64: standard base64, then `+`→`-`, `=`→`_`, `/`→`~`.
//!
//! This is not RFC 4648 "base64url" (which uses `-` and `_` for `+` and `/` and drops padding):
//! CloudFront keeps the padding and maps it to `_`, and maps `/` to `~`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Encodes bytes the way CloudFront expects in `Policy`/`Signature` values: standard base64,
/// then `+`→`-`, `=`→`_`, `/`→`~`.
///
/// ```
/// assert_eq!(cfcookie_signer::base64_encode(&[0xfb, 0xff]), "-~8_");
/// ```
pub fn encode(data: &[u8]) -> String {
    STANDARD
        .encode(data)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            other => other,
        })
        .collect()
}

/// Decodes a CloudFront base64 value; `None` when it is not valid CloudFront base64.
///
/// Standard-alphabet input (`+`, `/`, `=`) is refused: CloudFront would not accept it either,
/// and accepting it would make the verifier kinder than the thing it models.
///
/// ```
/// assert_eq!(cfcookie_signer::base64_decode("-~8_"), Some(vec![0xfb, 0xff]));
/// assert_eq!(cfcookie_signer::base64_decode("+/8="), None);
/// ```
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if text.bytes().any(|b| matches!(b, b'+' | b'/' | b'=')) {
        return None;
    }
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            other => other,
        })
        .collect();
    STANDARD.decode(standard).ok()
}

/// Lower-case hex of the SHA-256 of `data` (64 characters): the form of a key's fingerprint,
/// a hashed claim (`{username:sha256}`) and the `x-amz-content-sha256` header.
///
/// ```
/// assert_eq!(
///     cfcookie_signer::sha256_hex(b""),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// ```
pub fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        // 0xfb 0xff -> "+/8=" in standard base64.
        assert_eq!(encode(&[0xfb, 0xff]), "-~8_");
        assert_eq!(decode("-~8_").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"{\"a\"}"), "eyJhIn0_");
    }

    #[test]
    fn refuses_standard_alphabet_and_garbage() {
        assert_eq!(decode("+/8="), None);
        assert_eq!(decode("!!!"), None);
        assert_eq!(decode("abc"), None, "unpadded length is not valid");
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let text = encode(&data);
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~')));
            prop_assert_eq!(decode(&text), Some(data));
        }
    }
}
