//! Flow identity: a canonical key that is the same for both directions of a connection,
//! the side a packet came from, and Zeek-style connection uids.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;

/// One end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A TCP connection's key: the two endpoints in canonical (sorted) order, so both
/// directions map to the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
}

/// Which endpoint of a [`FlowKey`] sent a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Lo,
    Hi,
}

impl Side {
    pub fn index(self) -> usize {
        match self {
            Side::Lo => 0,
            Side::Hi => 1,
        }
    }

    pub fn opposite(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and which side `src` is.
    pub fn of(src: Endpoint, dst: Endpoint) -> (FlowKey, Side) {
        if src <= dst {
            (FlowKey { lo: src, hi: dst }, Side::Lo)
        } else {
            (FlowKey { lo: dst, hi: src }, Side::Hi)
        }
    }

    pub fn endpoint(&self, side: Side) -> Endpoint {
        match side {
            Side::Lo => self.lo,
            Side::Hi => self.hi,
        }
    }

    /// A hash that is the same for both directions (the key is canonical), for sharding
    /// flows across workers.
    pub fn symmetric_hash(&self) -> u64 {
        foldhash::fast::FixedState::with_seed(0x0a11_7a90).hash_one(self)
    }
}

/// A connection uid in Zeek's style: `C` and base62 digits. Derived from the key, the first
/// packet's time and initial sequence number, so a replay always gives the same uids.
pub fn make_uid(key: &FlowKey, first_ts_nanos: i64, first_seq: u32) -> String {
    let st = foldhash::fast::FixedState::with_seed(0x5a17_c0de);
    let mut h = st.build_hasher();
    key.hash(&mut h);
    first_ts_nanos.hash(&mut h);
    first_seq.hash(&mut h);
    let a = std::hash::Hasher::finish(&h);
    let b = foldhash::fast::FixedState::with_seed(a).hash_one(first_ts_nanos ^ i64::from(first_seq));
    let mut n = (u128::from(a) << 32) | u128::from(b >> 32);
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::with_capacity(18);
    s.push('C');
    for _ in 0..17 {
        s.push(DIGITS[(n % 62) as usize] as char);
        n /= 62;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ep(a: u8, port: u16) -> Endpoint {
        Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)), port }
    }

    #[test]
    fn key_is_symmetric() {
        let (k1, s1) = FlowKey::of(ep(1, 5000), ep(2, 80));
        let (k2, s2) = FlowKey::of(ep(2, 80), ep(1, 5000));
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.symmetric_hash(), k2.symmetric_hash());
        assert_eq!(k1.endpoint(s1), ep(1, 5000));
    }

    #[test]
    fn uids_are_stable_and_distinct() {
        let (k, _) = FlowKey::of(ep(1, 5000), ep(2, 80));
        let u = make_uid(&k, 1, 2);
        assert_eq!(u, make_uid(&k, 1, 2));
        assert_ne!(u, make_uid(&k, 1, 3));
        assert_eq!(u.len(), 18);
        assert!(u.starts_with('C'));
    }
}
