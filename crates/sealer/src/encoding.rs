//! Base64 helpers: the only place in the workspace that picks a base64 engine.
//!
//! Kubernetes `data` and SealedSecret `encryptedData` use standard, padded base64. Go's decoder
//! ignores `\r` and `\n` inside the input, so [`decode_std`] does too.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

/// Error from [`decode_std`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not valid standard padded base64.
    #[error("invalid base64")]
    InvalidBase64(#[source] base64::DecodeError),
}

/// Encodes with the standard alphabet and `=` padding, no line breaks.
pub fn encode_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard padded base64, ignoring `\r` and `\n` as Go's `StdEncoding` does.
pub fn decode_std(text: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    if text.contains(['\r', '\n']) {
        let joined: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        STANDARD.decode(joined).map_err(Error::InvalidBase64)
    } else {
        STANDARD.decode(text).map_err(Error::InvalidBase64)
    }
}

/// Encodes with the URL-safe alphabet and no padding (JWT, Azure Key Vault `value`s).
pub fn encode_url_nopad(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes URL-safe base64 (RFC 4648 §5), padded or not, as Go's `URLEncoding` and
/// `RawURLEncoding` do between them.
pub fn decode_url_safe(text: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    if text.ends_with('=') {
        URL_SAFE.decode(text).map_err(Error::InvalidBase64)
    } else {
        URL_SAFE_NO_PAD.decode(text).map_err(Error::InvalidBase64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_safe_decode_takes_padded_and_unpadded_input() {
        assert_eq!(decode_url_safe("-_8=").unwrap(), b"\xfb\xff");
        assert_eq!(decode_url_safe("-_8").unwrap(), b"\xfb\xff");
        assert!(decode_url_safe("+/8=").is_err());
    }

    #[test]
    fn decode_ignores_line_breaks_like_go() {
        assert_eq!(decode_std("aGVs\r\nbG8=").unwrap(), b"hello");
    }

    #[test]
    fn decode_rejects_missing_padding() {
        assert!(decode_std("aGVsbG8").is_err());
    }

    #[test]
    fn url_form_has_no_padding_and_round_trips() {
        assert_eq!(encode_url_nopad(b"\xfb\xff"), "-_8");
        assert_eq!(decode_url_safe("-_8").unwrap(), b"\xfb\xff");
    }

    #[test]
    fn encode_is_padded_standard() {
        assert_eq!(encode_std(b"\xfb\xff"), "+/8=");
    }
}
