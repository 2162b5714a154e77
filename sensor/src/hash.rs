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
        let bytes = RECENT.with(|cell| {
            let Ok(mut recent) = cell.try_borrow_mut() else { return self.compute(secret) };
            recent.get_or_insert(&self.key, secret, || self.compute(secret))
        });
        let mut hex = [0u8; 32];
        for (i, b) in bytes.iter().enumerate() {
            hex[2 * i] = HEX[usize::from(b >> 4)];
            hex[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        std::str::from_utf8(&hex).unwrap_or_default().to_owned()
    }

    fn compute(&self, secret: &[u8]) -> [u8; 16] {
        let h = blake3::keyed_hash(&self.key, secret);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.as_bytes()[..16]);
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Credentials recently hashed on this thread, so a client's token on its hundredth call
/// costs a table lookup rather than a BLAKE3 computation. Direct-mapped: a secret has one
/// slot, picked by a fast unkeyed hash, and is compared byte for byte, so a collision only
/// evicts. Bounded: `RECENT_SLOTS` secrets of at most `RECENT_MAX_SECRET` bytes per thread
/// (longer ones are always computed). The secrets sit in memory no longer than the packets
/// they came in, which the sensor holds anyway; they are never written anywhere.
struct Recent {
    slots: Vec<Option<RecentEntry>>,
}

struct RecentEntry {
    key: [u8; 32],
    secret: Box<[u8]>,
    hash: [u8; 16],
}

const RECENT_SLOTS: usize = 256;
const RECENT_MAX_SECRET: usize = 512;

thread_local! {
    static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new(Recent { slots: Vec::new() }) };
}

impl Recent {
    fn get_or_insert(&mut self, key: &[u8; 32], secret: &[u8], compute: impl FnOnce() -> [u8; 16]) -> [u8; 16] {
        if secret.len() > RECENT_MAX_SECRET {
            return compute();
        }
        if self.slots.is_empty() {
            self.slots.resize_with(RECENT_SLOTS, || None);
        }
        use std::hash::BuildHasher;
        let i = foldhash::fast::FixedState::with_seed(0xc4ed).hash_one(secret) as usize % RECENT_SLOTS;
        match &self.slots[i] {
            Some(e) if &e.key == key && *e.secret == *secret => e.hash,
            _ => {
                let hash = compute();
                self.slots[i] = Some(RecentEntry { key: *key, secret: secret.into(), hash });
                hash
            }
        }
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

    #[test]
    fn remembered_hashes_are_the_computed_ones() {
        let a = CredentialHasher::new([1; 32]);
        let b = CredentialHasher::new([2; 32]);
        let long = vec![b'x'; RECENT_MAX_SECRET + 1];
        for round in 0..3 {
            // Enough distinct secrets to collide in the table, under two keys, and one too
            // long to remember: each must hash as BLAKE3 says, every time.
            for i in 0..2 * RECENT_SLOTS {
                let s = format!("token-{i}");
                for h in [&a, &b] {
                    let want: String = h.compute(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
                    assert_eq!(h.hash(s.as_bytes()), want, "round {round}, {s}");
                }
            }
            assert_eq!(a.hash(&long), a.compute(&long).iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
        assert_ne!(a.hash(b"token-1"), b.hash(b"token-1"));
    }
}
