use super::*;
use proptest::prelude::*;

/// Everything a stream delivered, flattened: `Some(byte)` for data, `None` for each
/// missing byte. Checks that events arrive in order with no overlap.
#[derive(Default)]
struct Out(Vec<Option<u8>>);

impl Out {
    fn take(&mut self, h: &mut HalfStream, f: impl FnOnce(&mut HalfStream, &mut dyn FnMut(StreamEvent<'_>))) {
        let got = &mut self.0;
        f(h, &mut |ev| match ev {
            StreamEvent::Data { offset, data, .. } => {
                assert_eq!(offset as usize, got.len(), "data out of order");
                got.extend(data.iter().map(|b| Some(*b)));
            }
            StreamEvent::Gap { offset, len, .. } => {
                assert_eq!(offset as usize, got.len(), "gap out of order");
                got.extend(std::iter::repeat_n(None, len as usize));
            }
        });
    }

    fn push(&mut self, h: &mut HalfStream, seq: u32, data: &[u8]) {
        self.take(h, |h, cb| h.push(Seq(seq), data, 0, false, Timestamp::ZERO, None, 1 << 20, cb));
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.iter().map(|b| b.expect("no gaps expected")).collect()
    }
}

#[test]
fn in_order_and_reordered() {
    let mut h = HalfStream::default();
    assert!(h.on_syn(Seq(999)));
    let mut out = Out::default();
    out.push(&mut h, 1000, b"abc");
    out.push(&mut h, 1006, b"ghi");
    assert_eq!(out.0.len(), 3);
    out.push(&mut h, 1003, b"def");
    assert_eq!(out.bytes(), b"abcdefghi");
    assert_eq!(h.buffered(), 0);
}

#[test]
fn sequence_numbers_wrap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(u32::MAX - 2));
    let mut out = Out::default();
    out.push(&mut h, u32::MAX - 1, b"ab");
    out.push(&mut h, 1, b"cd");
    out.push(&mut h, 0, b"x");
    assert_eq!(out.bytes(), b"abxcd");
}

#[test]
fn ack_past_hole_declares_gap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Out::default();
    out.push(&mut h, 1, b"aaaa");
    out.push(&mut h, 9, b"cccc");
    assert_eq!(out.0.len(), 4);
    let ack = h.on_peer_ack(Seq(13)).unwrap();
    out.take(&mut h, |h, cb| h.flush_to(ack, cb));
    assert_eq!(out.0.len(), 12);
    assert_eq!(out.0[4..8], [None; 4]);
    assert_eq!(h.stats.missed, 4);
}

#[test]
fn conflicting_overlap_keeps_first_and_counts() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Out::default();
    out.push(&mut h, 5, b"XXXX");
    out.push(&mut h, 5, b"YYYY");
    assert_eq!(h.stats.conflicts, 1);
    out.push(&mut h, 1, b"abcd");
    assert_eq!(out.bytes(), b"abcdXXXX");
    // a retransmission of delivered bytes with other content
    out.push(&mut h, 5, b"ZZZZ");
    assert_eq!(h.stats.conflicts, 2);
    out.push(&mut h, 5, b"XXXX");
    assert_eq!(h.stats.conflicts, 2);
}

#[test]
fn buffer_bound_forces_gap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Out::default();
    for i in 0..10u32 {
        out.take(&mut h, |h, cb| h.push(Seq(101 + i * 100), &[b'x'; 100], 0, false, Timestamp::ZERO, None, 500, cb));
        assert!(h.buffered() <= 500);
    }
    assert!(h.stats.forced_gaps >= 1);
    assert_eq!(out.0.iter().filter(|b| b.is_none()).count(), 100);
}

#[test]
fn far_segments_are_dropped_then_followed() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Out::default();
    out.push(&mut h, 1, b"a");
    out.push(&mut h, 1 << 30, b"bogus");
    assert_eq!(h.stats.out_of_window, 1);
    assert_eq!(out.0.len(), 1);
    for i in 0..JUMP_AFTER {
        out.push(&mut h, (1 << 30) + i * 5, b"later");
    }
    assert!(h.stats.forced_gaps >= 1);
    assert!(h.next_offset() > 1 << 29);
}

#[test]
fn snaplen_missing_is_a_gap_of_the_right_size() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Out::default();
    out.take(&mut h, |h, cb| h.push(Seq(1), b"ab", 3, false, Timestamp::ZERO, None, 1 << 20, cb));
    assert_eq!(out.0, vec![Some(b'a'), Some(b'b'), None, None, None]);
    out.push(&mut h, 6, b"c");
    assert_eq!(out.0[5], Some(b'c'));
}

#[test]
fn fin_and_flush_all() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Out::default();
    out.take(&mut h, |h, cb| h.push(Seq(4), b"def", 0, true, Timestamp::ZERO, None, 1 << 20, cb));
    assert!(!h.finished());
    out.take(&mut h, |h, cb| h.flush_all(cb));
    assert_eq!(out.0, vec![None, None, None, Some(b'd'), Some(b'e'), Some(b'f')]);
    assert!(h.finished());
}

#[test]
fn ack_of_uncaptured_fin_is_not_a_gap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Out::default();
    out.push(&mut h, 1, b"abc");
    h.on_peer_ack(Seq(5));
    out.take(&mut h, |h, cb| h.flush_all(cb));
    assert_eq!(out.0.len(), 3);
}

proptest! {
    /// The reassembler against a Vec<bool> oracle: any set of segments of one byte stream,
    /// in any order, duplicated and overlapping, delivers exactly the covered bytes, in
    /// order, with every uncovered byte as a gap.
    #[test]
    fn matches_coverage_oracle(
        isn in any::<u32>(),
        len in 1usize..400,
        segs in prop::collection::vec((0usize..400, 1usize..60), 1..40),
        bound in prop_oneof![Just(1usize << 20), 16usize..200],
    ) {
        let stream: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let mut covered = vec![false; len];
        let mut h = HalfStream::default();
        h.on_syn(Seq(isn));
        let mut out = Out::default();
        for (start, l) in segs {
            let start = start % len;
            let end = (start + l).min(len);
            covered[start..end].iter_mut().for_each(|c| *c = true);
            let seq = Seq(isn).wrapping_add(1).wrapping_add(start as u32);
            out.take(&mut h, |h, cb| h.push(seq, &stream[start..end], 0, false, Timestamp::ZERO, None, bound, cb));
            prop_assert!(h.buffered() <= bound.max(60));
        }
        out.take(&mut h, |h, cb| h.flush_to(len as u64, cb));
        // Unbounded: exactly the uncovered bytes are gaps. Bounded: covered bytes may also
        // be gaps when a forced gap passed them before they arrived, never the reverse.
        prop_assert_eq!(out.0.len(), len);
        for (i, g) in out.0.iter().enumerate() {
            match g {
                Some(b) => prop_assert_eq!(*b, stream[i]),
                None => prop_assert!(!covered[i] || bound < (1 << 20)),
            }
            if bound == 1 << 20 {
                prop_assert_eq!(g.is_some(), covered[i]);
            }
        }
        prop_assert_eq!(h.stats.conflicts, 0);
    }
}
