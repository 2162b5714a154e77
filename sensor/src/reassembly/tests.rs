use super::*;
use proptest::prelude::*;

/// What a stream delivered, flattened: `Some(byte)` for data, `None` for each missing byte.
fn collect(h: &mut HalfStream, f: impl FnOnce(&mut HalfStream, &mut dyn FnMut(StreamEvent<'_>))) -> Vec<Option<u8>> {
    let mut got = Vec::new();
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
    got
}

fn push(h: &mut HalfStream, seq: u32, data: &[u8], out: &mut Vec<Option<u8>>) {
    let start = out.len();
    let mut got = collect(h, |h, cb| h.push(Seq(seq), data, 0, false, Timestamp::ZERO, None, 1 << 20, cb));
    let _ = start;
    out.append(&mut got);
}

#[test]
fn in_order_and_reordered() {
    let mut h = HalfStream::default();
    assert!(h.on_syn(Seq(999)));
    let mut out = Vec::new();
    push(&mut h, 1000, b"abc", &mut out);
    push(&mut h, 1006, b"ghi", &mut out);
    assert_eq!(out.len(), 3);
    push(&mut h, 1003, b"def", &mut out);
    let s: Vec<u8> = out.iter().map(|b| b.unwrap()).collect();
    assert_eq!(s, b"abcdefghi");
    assert_eq!(h.buffered(), 0);
}

#[test]
fn sequence_numbers_wrap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(u32::MAX - 2));
    let mut out = Vec::new();
    push(&mut h, u32::MAX - 1, b"ab", &mut out);
    push(&mut h, 1, b"cd", &mut out);
    push(&mut h, 0, b"x", &mut out);
    let s: Vec<u8> = out.iter().map(|b| b.unwrap()).collect();
    assert_eq!(s, b"abxcd");
}

#[test]
fn ack_past_hole_declares_gap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Vec::new();
    push(&mut h, 1, b"aaaa", &mut out);
    push(&mut h, 9, b"cccc", &mut out);
    assert_eq!(out.len(), 4);
    let ack = h.on_peer_ack(Seq(13)).unwrap();
    out.extend(collect(&mut h, |h, cb| h.flush_to(ack, cb)));
    assert_eq!(out.len(), 12);
    assert_eq!(out[4..8], [None; 4]);
    assert_eq!(h.stats.missed, 4);
}

#[test]
fn conflicting_overlap_keeps_first_and_counts() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Vec::new();
    push(&mut h, 5, b"XXXX", &mut out);
    push(&mut h, 5, b"YYYY", &mut out);
    assert_eq!(h.stats.conflicts, 1);
    push(&mut h, 1, b"abcd", &mut out);
    let s: Vec<u8> = out.iter().map(|b| b.unwrap()).collect();
    assert_eq!(s, b"abcdXXXX");
    // a retransmission of delivered bytes with other content
    push(&mut h, 5, b"ZZZZ", &mut out);
    assert_eq!(h.stats.conflicts, 2);
    push(&mut h, 5, b"XXXX", &mut out);
    assert_eq!(h.stats.conflicts, 2);
}

#[test]
fn buffer_bound_forces_gap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut got = Vec::new();
    for i in 0..10u32 {
        got.extend(collect(&mut h, |h, cb| h.push(Seq(101 + i * 100), &[b'x'; 100], 0, false, Timestamp::ZERO, None, 500, cb)));
        assert!(h.buffered() <= 500);
    }
    assert!(h.stats.forced_gaps >= 1);
    assert_eq!(got.iter().filter(|b| b.is_none()).count(), 100);
}

#[test]
fn far_segments_are_dropped_then_followed() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Vec::new();
    push(&mut h, 1, b"a", &mut out);
    push(&mut h, 1 << 30, b"bogus", &mut out);
    assert_eq!(h.stats.out_of_window, 1);
    assert_eq!(out.len(), 1);
    for i in 0..JUMP_AFTER {
        push(&mut h, (1 << 30) + i * 5, b"later", &mut out);
    }
    assert!(h.stats.forced_gaps >= 1);
    assert!(h.next_offset() > 1 << 29);
}

#[test]
fn snaplen_missing_is_a_gap_of_the_right_size() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let got = collect(&mut h, |h, cb| h.push(Seq(1), b"ab", 3, false, Timestamp::ZERO, None, 1 << 20, cb));
    assert_eq!(got, vec![Some(b'a'), Some(b'b'), None, None, None]);
    let got = collect(&mut h, |h, cb| h.push(Seq(6), b"c", 0, false, Timestamp::ZERO, None, 1 << 20, cb));
    assert_eq!(got, vec![Some(b'c')]);
}

#[test]
fn fin_and_flush_all() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Vec::new();
    out.extend(collect(&mut h, |h, cb| h.push(Seq(4), b"def", 0, true, Timestamp::ZERO, None, 1 << 20, cb)));
    assert!(!h.finished());
    out.extend(collect(&mut h, |h, cb| h.flush_all(cb)));
    assert_eq!(out, vec![None, None, None, Some(b'd'), Some(b'e'), Some(b'f')]);
    assert!(h.finished());
}

#[test]
fn ack_of_uncaptured_fin_is_not_a_gap() {
    let mut h = HalfStream::default();
    h.on_syn(Seq(0));
    let mut out = Vec::new();
    push(&mut h, 1, b"abc", &mut out);
    h.on_peer_ack(Seq(5));
    out.extend(collect(&mut h, |h, cb| h.flush_all(cb)));
    assert_eq!(out.len(), 3);
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
        let mut got: Vec<Option<u8>> = Vec::new();
        for (start, l) in segs {
            let start = start % len;
            let end = (start + l).min(len);
            covered[start..end].iter_mut().for_each(|c| *c = true);
            let seq = Seq(isn).add(1).add(start as u32);
            got.extend(collect(&mut h, |h, cb| h.push(seq, &stream[start..end], 0, false, Timestamp::ZERO, None, bound, cb)));
            prop_assert!(h.buffered() <= bound.max(60));
        }
        got.extend(collect(&mut h, |h, cb| h.flush_to(len as u64, cb)));
        // Bytes never covered are gaps; covered bytes are data unless a forced gap (buffer
        // bound) passed them before they arrived.
        prop_assert_eq!(got.len(), len);
        for (i, g) in got.iter().enumerate() {
            match g {
                Some(b) => prop_assert_eq!(*b, stream[i]),
                None => prop_assert!(!covered[i] || bound < (1 << 20)),
            }
        }
        prop_assert_eq!(h.stats.conflicts, 0);
    }
}
