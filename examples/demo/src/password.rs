//! Password hashes: PBKDF2-HMAC-SHA256 with a random 16-byte salt, kept as one string,
//! `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64, standard alphabet, no padding), so
//! that any auth replica can verify a hash another one made.

use std::num::NonZeroU32;

use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use ring::{
    pbkdf2,
    rand::{SecureRandom, SystemRandom},
};

/// The scheme name at the start of every hash.
const SCHEME: &str = "pbkdf2-sha256";
/// Iterations for new hashes: about 50 ms of one core, slow enough to show the idea.
const ITERATIONS: u32 = 100_000;
/// The most iterations a hash may ask for, so a forged hash cannot pin a core for minutes.
const MAX_ITERATIONS: u32 = 1_000_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum HashError {
    /// The system's random generator failed.
    #[error("read random bytes for a salt")]
    Random,
    /// The stored hash is not one this module made.
    #[error("malformed password hash: {0}")]
    Malformed(&'static str),
}

/// Hashes `password` with a fresh random salt.
pub(crate) fn hash(password: &str, rng: &SystemRandom) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt).map_err(|_| HashError::Random)?;
    let iterations = NonZeroU32::new(ITERATIONS).ok_or(HashError::Malformed("iterations"))?;
    let mut derived = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut derived,
    );
    Ok(format!(
        "{SCHEME}${iterations}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(derived)
    ))
}

/// Whether `password` matches `encoded` (in constant time). A hash this module could not
/// have made is an error, not a mismatch.
pub(crate) fn verify(password: &str, encoded: &str) -> Result<bool, HashError> {
    let mut parts = encoded.split('$');
    let (Some(scheme), Some(iterations), Some(salt), Some(derived), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(HashError::Malformed("expected scheme$iterations$salt$hash"));
    };
    if scheme != SCHEME {
        return Err(HashError::Malformed("unknown scheme"));
    }
    let iterations = iterations
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_ITERATIONS)
        .and_then(NonZeroU32::new)
        .ok_or(HashError::Malformed("iterations"))?;
    let salt = STANDARD_NO_PAD
        .decode(salt)
        .map_err(|_| HashError::Malformed("salt is not base64"))?;
    let derived = STANDARD_NO_PAD
        .decode(derived)
        .map_err(|_| HashError::Malformed("hash is not base64"))?;
    if derived.is_empty() || derived.len() > 64 {
        return Err(HashError::Malformed("hash length"));
    }
    Ok(pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &derived,
    )
    .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_random_salt() {
        let rng = SystemRandom::new();
        let first = hash("hunter2", &rng).unwrap();
        let second = hash("hunter2", &rng).unwrap();
        assert!(first.starts_with("pbkdf2-sha256$100000$"), "{first}");
        assert_ne!(first, second, "salts differ");
        assert_eq!(verify("hunter2", &first), Ok(true));
        assert_eq!(verify("hunter2", &second), Ok(true));
        assert_eq!(verify("hunter3", &first), Ok(false));
        assert_eq!(verify("", &first), Ok(false));
    }

    #[test]
    fn malformed_hashes_are_errors() {
        for bad in [
            "",
            "plain",
            "md5$1$AAAA$AAAA",
            "pbkdf2-sha256$0$AAAA$AAAA",
            "pbkdf2-sha256$99999999$AAAA$AAAA",
            "pbkdf2-sha256$x$AAAA$AAAA",
            "pbkdf2-sha256$1000$!!!$AAAA",
            "pbkdf2-sha256$1000$AAAA$",
            "pbkdf2-sha256$1000$AAAA$AAAA$extra",
        ] {
            assert!(verify("pw", bad).is_err(), "{bad:?}");
        }
    }
}
