//! Tokens: compact JWTs (HS256) that carry the user's email and an expiry, signed with
//! HMAC-SHA256 over `AUTH_SECRET`. Verification is stateless, so a token issued by one auth
//! replica verifies on any other that shares the key. Paste one into any JWT decoder to read it.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::hmac;
use serde::{Deserialize, Serialize};

/// The only header this module issues or accepts: `{"alg":"HS256","typ":"JWT"}`, encoded.
/// Comparing the encoded text rules out `alg: none` and key-confusion tricks.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
/// Tokens longer than this are rejected before any decoding.
const MAX_TOKEN_LEN: usize = 4096;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The user's email.
    pub(crate) sub: String,
    /// Issued at, seconds since the Unix epoch.
    pub(crate) iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub(crate) exp: u64,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Not three base64url parts with the expected header and JSON claims.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match (another key, or a changed token).
    #[error("bad token signature")]
    BadSignature,
    /// The token is past its expiry.
    #[error("token expired at {exp}")]
    Expired {
        /// The expiry, seconds since the Unix epoch.
        exp: u64,
    },
}

/// Issues and verifies tokens with one key.
pub(crate) struct Signer {
    key: hmac::Key,
}

impl Signer {
    /// A signer over `secret`.
    pub(crate) fn new(secret: &[u8]) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A token for `claims`.
    pub(crate) fn issue(&self, claims: &Claims) -> String {
        // Serialising three plain fields cannot fail; an empty object would only fail to verify.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signed = format!("{HEADER}.{}", URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of `token` if its signature is good and it has not expired at `now`.
    pub(crate) fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        if header != HEADER {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, signed.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if now >= claims.exp {
            return Err(TokenError::Expired { exp: claims.exp });
        }
        Ok(claims)
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            sub: "ada@example.com".to_owned(),
            iat: 1_000,
            exp: 4_600,
        }
    }

    #[test]
    fn header_constant_is_the_encoded_header() {
        assert_eq!(
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            HEADER
        );
    }

    #[test]
    fn issue_then_verify_on_another_signer_with_the_same_key() {
        let token = Signer::new(b"key").issue(&claims());
        assert_eq!(Signer::new(b"key").verify(&token, 1_001), Ok(claims()));
        assert_eq!(
            Signer::new(b"other").verify(&token, 1_001),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn expired_tampered_and_malformed_tokens_fail() {
        let signer = Signer::new(b"key");
        let token = signer.issue(&claims());
        assert_eq!(
            signer.verify(&token, 4_600),
            Err(TokenError::Expired { exp: 4_600 })
        );

        let (_, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged_claims = Claims {
            sub: "eve@example.com".to_owned(),
            ..claims()
        };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
        let forged = format!("{HEADER}.{forged_payload}.{signature}");
        assert_eq!(signer.verify(&forged, 1_001), Err(TokenError::BadSignature));

        let none_alg = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        for bad in ["", "a.b", "a.b.c", &none_alg, &"x".repeat(5000), "ü.ü.ü"] {
            assert_eq!(
                signer.verify(bad, 1_001),
                Err(TokenError::Malformed),
                "{bad:?}"
            );
        }
    }
}
