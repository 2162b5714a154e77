//! Bounded IPv4/IPv6 fragment reassembly.
//!
//! Guarantees: at most `max_datagrams` datagrams and `max_bytes` bytes are held; beyond
//! either, the oldest datagram is dropped and counted. Datagrams wait at most
//! `timeout_secs` of packet time. A datagram never grows past 65,535 bytes. Overlapping
//! fragments keep the first copy of each byte (as the Linux stack does since 2018); an
//! overlap that carries different bytes is counted as a conflict, the shape of fragment
//! evasion attacks.

use crate::time::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

const MAX_DATAGRAM: u32 = 65_535;

/// Identity of a datagram being reassembled (RFC 791 / RFC 8200).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

struct Datagram {
    data: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<(u32, u32)>,
    total: Option<u32>,
    first_ts: Timestamp,
    generation: u64,
}

/// What adding one fragment produced.
#[derive(Debug, PartialEq, Eq)]
pub enum FragOutcome {
    /// Still waiting for more fragments.
    Pending,
    /// The whole transport payload; hand the buffer back with [`Defragmenter::recycle`].
    Complete(Vec<u8>),
    /// The fragment was impossible (past 64 KiB, past the known end) and was dropped.
    Invalid,
}

/// Counters of the reassembler.
#[derive(Clone, Debug, Default)]
pub struct DefragStats {
    pub fragments: u64,
    pub reassembled: u64,
    pub invalid: u64,
    pub evicted: u64,
    pub timed_out: u64,
    pub conflicting_overlaps: u64,
}

pub struct Defragmenter {
    map: HashMap<FragKey, Datagram>,
    order: VecDeque<(FragKey, u64)>,
    bytes: usize,
    next_generation: u64,
    max_datagrams: usize,
    max_bytes: usize,
    timeout_ns: i64,
    pool: Vec<Vec<u8>>,
    pub stats: DefragStats,
}

impl Defragmenter {
    pub fn new(max_datagrams: usize, max_bytes: usize, timeout_secs: u64) -> Self {
        Defragmenter {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            next_generation: 0,
            max_datagrams: max_datagrams.max(1),
            max_bytes: max_bytes.max(MAX_DATAGRAM as usize),
            timeout_ns: (timeout_secs as i64).saturating_mul(1_000_000_000),
            pool: Vec::new(),
            stats: DefragStats::default(),
        }
    }

    /// Datagrams currently waiting.
    pub fn pending(&self) -> usize {
        self.map.len()
    }

    /// Bytes currently held.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Returns a buffer from a completed datagram for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < 8 {
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// Adds one fragment: `offset` in bytes into the transport payload, `more` is the MF flag.
    pub fn add(&mut self, key: FragKey, offset: u32, more: bool, payload: &[u8], ts: Timestamp) -> FragOutcome {
        self.stats.fragments += 1;
        self.expire(ts);
        let len = payload.len() as u32;
        let end = match offset.checked_add(len) {
            Some(e) if e <= MAX_DATAGRAM => e,
            _ => {
                self.stats.invalid += 1;
                return FragOutcome::Invalid;
            }
        };
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.max_datagrams || self.bytes + end as usize > self.max_bytes {
                if !self.evict_oldest() {
                    break;
                }
            }
            let generation = self.next_generation;
            self.next_generation += 1;
            let data = self.pool.pop().unwrap_or_default();
            self.map.insert(key, Datagram { data, have: Vec::new(), total: None, first_ts: ts, generation });
            self.order.push_back((key, generation));
        }
        let Some(dg) = self.map.get_mut(&key) else { return FragOutcome::Invalid };
        if let Some(total) = dg.total {
            if end > total || (!more && end != total) {
                self.stats.invalid += 1;
                return FragOutcome::Invalid;
            }
        }
        if !more {
            if dg.have.last().is_some_and(|&(_, e)| e > end) {
                self.stats.invalid += 1;
                return FragOutcome::Invalid;
            }
            dg.total = Some(end);
        }
        if dg.data.len() < end as usize {
            self.bytes += end as usize - dg.data.len();
            dg.data.resize(end as usize, 0);
        }
        // Copy only the parts not received before; compare the parts that were.
        let mut cursor = offset;
        let mut conflict = false;
        for &(s, e) in dg.have.iter() {
            if e <= cursor || s >= end {
                continue;
            }
            if s > cursor {
                copy_range(&mut dg.data, payload, offset, cursor, s);
            }
            let (os, oe) = (s.max(cursor), e.min(end));
            if dg.data.get(os as usize..oe as usize) != payload.get((os - offset) as usize..(oe - offset) as usize) {
                conflict = true;
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            copy_range(&mut dg.data, payload, offset, cursor, end);
        }
        if conflict {
            self.stats.conflicting_overlaps += 1;
        }
        insert_range(&mut dg.have, offset, end);
        let complete = matches!(dg.total, Some(t) if dg.have.first() == Some(&(0, t)));
        if complete {
            if let Some(dg) = self.map.remove(&key) {
                self.bytes = self.bytes.saturating_sub(dg.data.len());
                self.stats.reassembled += 1;
                return FragOutcome::Complete(dg.data);
            }
        }
        FragOutcome::Pending
    }

    /// Drops datagrams that waited longer than the timeout.
    pub fn expire(&mut self, now: Timestamp) {
        while let Some(&(key, generation)) = self.order.front() {
            match self.map.get(&key) {
                Some(dg) if dg.generation == generation => {
                    if now.0.saturating_sub(dg.first_ts.0) <= self.timeout_ns {
                        break;
                    }
                    self.stats.timed_out += 1;
                    self.drop_key(&key);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    fn evict_oldest(&mut self) -> bool {
        while let Some((key, generation)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|d| d.generation == generation) {
                self.stats.evicted += 1;
                self.drop_key(&key);
                return true;
            }
        }
        false
    }

    fn drop_key(&mut self, key: &FragKey) {
        if let Some(dg) = self.map.remove(key) {
            self.bytes = self.bytes.saturating_sub(dg.data.len());
            self.recycle(dg.data);
        }
    }
}

fn copy_range(dst: &mut [u8], payload: &[u8], offset: u32, from: u32, to: u32) {
    let src = payload.get((from - offset) as usize..(to - offset) as usize);
    let dst = dst.get_mut(from as usize..to as usize);
    if let (Some(s), Some(d)) = (src, dst) {
        d.copy_from_slice(s);
    }
}

fn insert_range(have: &mut Vec<(u32, u32)>, s: u32, e: u32) {
    if s >= e {
        return;
    }
    have.push((s, e));
    have.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(have.len());
    for &(a, b) in have.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *have = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(id: u32) -> FragKey {
        FragKey { src: Ipv4Addr::new(1, 1, 1, 1).into(), dst: Ipv4Addr::new(2, 2, 2, 2).into(), id, proto: 6 }
    }

    #[test]
    fn reassembles_out_of_order() {
        let mut d = Defragmenter::new(10, 1 << 20, 30);
        let t = Timestamp::ZERO;
        assert_eq!(d.add(key(1), 8, false, b"world!!!", t), FragOutcome::Pending);
        assert_eq!(d.add(key(1), 0, true, b"hello, w", t), FragOutcome::Complete(b"hello, wworld!!!".to_vec()));
        assert_eq!(d.pending(), 0);
        assert_eq!(d.held_bytes(), 0);
    }

    #[test]
    fn first_copy_wins_and_conflict_counted() {
        let mut d = Defragmenter::new(10, 1 << 20, 30);
        let t = Timestamp::ZERO;
        d.add(key(1), 0, true, b"AAAAAAAA", t);
        d.add(key(1), 4, true, b"BBBBBBBB", t);
        assert_eq!(d.stats.conflicting_overlaps, 1);
        assert_eq!(d.add(key(1), 12, false, b"CC", t), FragOutcome::Complete(b"AAAAAAAABBBBCC".to_vec()));
    }

    #[test]
    fn bounds_hold() {
        let mut d = Defragmenter::new(2, 1 << 20, 30);
        let t = Timestamp::ZERO;
        for id in 0..5 {
            d.add(key(id), 0, true, b"x", t);
        }
        assert_eq!(d.pending(), 2);
        assert_eq!(d.stats.evicted, 3);
        assert_eq!(d.add(key(9), 65_530, true, b"0123456789", t), FragOutcome::Invalid);
        d.expire(Timestamp::from_parts(100, 0));
        assert_eq!(d.pending(), 0);
        assert_eq!(d.stats.timed_out, 2);
    }

    #[test]
    fn data_past_known_end_is_invalid() {
        let mut d = Defragmenter::new(4, 1 << 20, 30);
        let t = Timestamp::ZERO;
        d.add(key(1), 8, false, b"12345678", t);
        assert_eq!(d.add(key(1), 16, true, b"x", t), FragOutcome::Invalid);
    }
}
