//! Base64 as attestations carry it: standard or URL-safe alphabet, padded or
//! not (gcloud, kritis signer, `openssl base64` and KMS all differ).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};

const CONFIG: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

/// Decodes base64 in either alphabet. Mixing the two alphabets in one string
/// is refused, as is whitespace.
///
/// # Errors
/// [`base64::DecodeError`] when the text is not base64.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    // The standard alphabet first: it refuses `-` and `_`, so when it
    // decodes, the text has neither and the URL-safe alphabet has no say.
    // Only on failure is the text scanned for them; scanning first cost as
    // much as the decoding itself inside wasm (a char-by-char `contains`).
    match STANDARD.decode(text) {
        Ok(bytes) => Ok(bytes),
        Err(_) if text.bytes().any(|b| b == b'-' || b == b'_') => URL_SAFE.decode(text),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn both_alphabets_with_or_without_padding() {
        // 0xfb 0xff 0xbf: '+/' in standard, '-_' in URL-safe.
        for text in ["+/+/", "-_-_", "+/+/+w==", "+/+/+w", "-_-_-w"] {
            assert!(decode(text).is_ok(), "{text}");
        }
        assert_eq!(decode("aGk=").unwrap(), b"hi");
        assert_eq!(decode("aGk").unwrap(), b"hi");
    }

    #[test]
    fn refuses_garbage() {
        for text in ["+/-_", "a b=", "aGk=\n", "***", "a"] {
            assert!(decode(text).is_err(), "{text:?}");
        }
    }
}
