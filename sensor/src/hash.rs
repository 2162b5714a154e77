//! Keyed hashes of credentials. Records carry `auth_hash` so that the same token, key or
//! cookie can be followed across calls without the record ever holding the secret. The hash
//! is BLAKE3 in keyed mode (a PRF): without the key, a hash cannot be checked against a
//! guessed token, which a plain hash of a short API key would allow.

/// Hashes credentials with a per-deployment key.
#[derive(Clone)]
pub struct CredentialHasher {
    key: [u8; 32],
}

impl CredentialHasher {
    pub fn new(key: [u8; 32]) -> Self {
        CredentialHasher { key }
    }

    /// 128 bits of the keyed hash, as 32 lowercase hex characters.
    pub fn hash(&self, secret: &[u8]) -> String {
        let h = blake3::keyed_hash(&self.key, secret);
        let mut s = String::with_capacity(32);
        for b in &h.as_bytes()[..16] {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }
}

impl std::fmt::Debug for CredentialHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialHasher { key: <redacted> }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_stable() {
        let a = CredentialHasher::new([1; 32]);
        let b = CredentialHasher::new([2; 32]);
        assert_eq!(a.hash(b"token"), a.hash(b"token"));
        assert_ne!(a.hash(b"token"), b.hash(b"token"));
        assert_eq!(a.hash(b"token").len(), 32);
        assert!(!format!("{a:?}").contains('1'));
    }
}
