//! Shared helpers for the sensor's integration tests.

#![allow(dead_code)]

use sensor::decode::{PacketMeta, TcpFlags, TcpSegment};
use sensor::Timestamp;
use std::net::IpAddr;

/// A TCP segment as the decoder would hand it over, with nothing cut by a snaplen.
#[allow(clippy::too_many_arguments)]
pub fn segment(ts: Timestamp, src: (IpAddr, u16), dst: (IpAddr, u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        ts,
        src: src.0,
        dst: dst.0,
        src_port: src.1,
        dst_port: dst.1,
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 65535,
        payload,
        missing: 0,
        meta: PacketMeta::default(),
    }
}
