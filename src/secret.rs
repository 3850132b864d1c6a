//! Secrets compared as SHA-256 digests: the operator's maintenance bypass secret and the API
//! token. Only digests are kept and compared, in constant time, and a digest never prints its
//! bytes. No I/O but the OS's randomness for a new secret.

use sha2::{Digest as _, Sha256};
use std::io;

/// Bytes of OS randomness in a bypass secret: 160 bits, above the 128 the contract asks for.
const SECRET_BYTES: usize = 20;

/// The SHA-256 of a secret. Only this is stored (in the flag) or kept (per request); its
/// `Debug` never shows the bytes, so it cannot reach a log by accident.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest([u8; 32]);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest(..)")
    }
}

impl Digest {
    /// The digest of a secret as a client sends it (surrounding blanks ignored).
    pub fn of(secret: &str) -> Digest {
        Digest::of_exact(secret.trim())
    }

    /// The digest of exactly these bytes (the API token, compared as given).
    pub fn of_exact(secret: &str) -> Digest {
        Digest::of_bytes(secret.as_bytes())
    }

    /// The SHA-256 of any bytes (also the App files' entity tags).
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// From the flag's `bypass_sha256`: exactly 64 hex digits, else `None` (no bypass).
    pub fn from_hex(text: &str) -> Option<Digest> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Digest(out))
    }

    /// Lower-case hex, as the flag stores it.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Compares two digests in constant time. Written by hand rather than with a crate: both
    /// sides are always 32 bytes, so there is no length to hide, and folding every byte's XOR
    /// before the one branch leaves no early exit whose timing would tell how many leading
    /// bytes matched. (Even such a leak would give away bytes of a SHA-256, not of the secret.)
    pub fn matches(&self, other: &Digest) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A new bypass secret: `SECRET_BYTES` from the OS's random source, as lower-case hex (URL-safe,
/// and safe in a header and a shell). The caller shows it once and stores only its `Digest`.
pub fn new_secret() -> io::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| io::Error::other(format!("no randomness from the OS: {e}")))?;
    Ok(hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_long_and_url_safe() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.len() * 4 >= 128, "{a}");
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(format!("{:?}", Digest::of(&a)), "Digest(..)");
    }

    #[test]
    fn digests_compare_by_every_byte() {
        let a = Digest::of("one");
        assert!(a.matches(&Digest::of("one")));
        let mut last = a;
        last.0[31] ^= 1;
        assert!(!a.matches(&last));
        let mut first = a;
        first.0[0] ^= 0x80;
        assert!(!a.matches(&first));
    }
}
