//! TOTP codes (RFC 6238: 30 s steps, 6 digits, ±1 step of skew, server time only), TOTP
//! secrets encrypted at rest (AES-256-GCM, bound to the user id), and recovery codes.

use crate::error::AppError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use sha2::Digest;
use totp_rs::{Builder, Secret, Totp};

pub const ISSUER: &str = "Keyport";
pub const RECOVERY_CODES: usize = 10;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A TOTP for `account` (shown in the authenticator app) with a 160-bit secret.
pub fn totp(secret: &[u8], account: &str) -> Result<Totp, AppError> {
    Builder::new()
        .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .with_skew(1)
        .with_step_duration(30)
        .build()
        .map_err(AppError::internal)
}

/// 20 bytes from the operating system's CSPRNG.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The time step `code` matches at `now_ms` (within ±1 step), if any.
pub fn matching_step(totp: &Totp, code: &str, now_ms: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now_secs = u64::try_from(now_ms / 1000).ok()?;
    totp.check(&code, now_secs).map(|step| step as i64)
}

/// `nonce || ciphertext`, base64; the user id is authenticated data, so a secret copied to
/// another user's row does not decrypt.
pub fn encrypt(key: &[u8; 32], user_id: &str, plain: &[u8]) -> Result<String, AppError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(AppError::internal)?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: user_id.as_bytes(),
            },
        )
        .map_err(AppError::internal)?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(B64.encode(out))
}

pub fn decrypt(key: &[u8; 32], user_id: &str, stored: &str) -> Result<Vec<u8>, AppError> {
    let raw = B64.decode(stored).map_err(AppError::internal)?;
    if raw.len() < 12 {
        return Err(AppError::internal("stored TOTP secret too short"));
    }
    let (nonce, sealed) = raw.split_at(12);
    let cipher = Aes256Gcm::new_from_slice(key).map_err(AppError::internal)?;
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: user_id.as_bytes(),
            },
        )
        .map_err(|_| AppError::internal("TOTP secret does not decrypt (wrong KEYPORT_SECRET_KEY?)"))
}

const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten recovery codes like `k7m2-q9xa-4hpt` (about 59 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
        })
        .collect()
}

/// What is stored for a recovery code: keyed with the server secret, so a database dump
/// alone cannot be brute-forced.
pub fn recovery_digest(key: &[u8; 32], user_id: &str, code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut hash = sha2::Sha256::new();
    hash.update(key);
    hash.update(user_id.as_bytes());
    hash.update([0]);
    hash.update(normalised.as_bytes());
    hex::encode(hash.finalize())
}

/// Whether the input looks like a TOTP code (digits only) rather than a recovery code.
pub fn is_totp_code(input: &str) -> bool {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use totp_rs::Algorithm;

    fn rfc(algorithm: Algorithm, secret: &[u8]) -> Totp {
        Builder::new()
            .with_algorithm(algorithm)
            .with_digits(8)
            .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
            .build()
            .unwrap()
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = rfc(Algorithm::SHA1, b"12345678901234567890");
        let sha256 = rfc(Algorithm::SHA256, b"12345678901234567890123456789012");
        let sha512 = rfc(
            Algorithm::SHA512,
            b"1234567890123456789012345678901234567890123456789012345678901234",
        );
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, a, b, c) in vectors {
            assert_eq!(sha1.generate(t).to_string(), a, "SHA1 at {t}");
            assert_eq!(sha256.generate(t).to_string(), b, "SHA256 at {t}");
            assert_eq!(sha512.generate(t).to_string(), c, "SHA512 at {t}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let t = totp(&new_secret(), "a@example.com").unwrap();
        let now_ms = 1_700_000_015_000i64; // mid-step
        let step = now_ms / 1000 / 30;
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = t.generate(((step + offset) * 30) as u64).to_string();
            assert_eq!(
                matching_step(&t, &code, now_ms).is_some(),
                accepted,
                "offset {offset}"
            );
        }
        let code = t.generate((step * 30) as u64).to_string();
        assert_eq!(matching_step(&t, &code, now_ms), Some(step));
        assert_eq!(matching_step(&t, "000000x", now_ms), None);
    }

    #[test]
    fn secrets_round_trip_and_are_bound_to_their_user() {
        let key = [7u8; 32];
        let secret = new_secret();
        let sealed = encrypt(&key, "user-1", &secret).unwrap();
        assert_ne!(
            sealed,
            encrypt(&key, "user-1", &secret).unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(decrypt(&key, "user-1", &sealed).unwrap(), secret);
        assert!(decrypt(&key, "user-2", &sealed).is_err());
        assert!(decrypt(&[8u8; 32], "user-1", &sealed).is_err());
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let key = [1u8; 32];
        let code = &codes[0];
        assert_eq!(
            recovery_digest(&key, "u", code),
            recovery_digest(&key, "u", &code.to_uppercase().replace('-', " "))
        );
        assert_ne!(
            recovery_digest(&key, "u", code),
            recovery_digest(&key, "v", code)
        );
        assert!(is_totp_code("123 456"));
        assert!(!is_totp_code(code));
    }
}
