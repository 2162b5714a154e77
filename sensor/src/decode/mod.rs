//! Frames to TCP segments.
//!
//! The decoder is zero-copy and lax: it peels link layers, VLAN/QinQ, MPLS, PPPoE, IPv4 and
//! IPv6 (extension headers included) and tunnels, and hands each TCP segment to a callback
//! with its payload borrowed from the frame. Only IP fragments are copied, into the bounded
//! [`defrag::Defragmenter`]. A frame cut short by the snaplen still yields the segment with
//! what was captured, and says how many payload bytes are missing so reassembly can record
//! a gap of the right size instead of losing its place. Whatever stops a frame is counted in
//! [`DecodeStats`]; nothing here returns an error or panics.

pub mod bytes;
pub mod defrag;
pub mod link;
pub mod tunnel;

use crate::capture::Packet;
use crate::config::DecodeConfig;
use crate::time::Timestamp;
use bytes::{be16, be32, tail};
use defrag::{DefragStats, Defragmenter, FragKey, FragOutcome};
use etherparse::{Ipv6ExtensionSlice, LaxIpSlice};
use link::{LinkStop, Next};
use std::net::IpAddr;
use tunnel::{Decap, TunnelKind};

/// TCP header flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// The tunnel a segment arrived in (the innermost one when nested).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelInfo {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
}

/// Where a segment came from, beyond its addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    /// The outermost VLAN id, when tagged.
    pub vlan: Option<u16>,
    pub tunnel: Option<TunnelInfo>,
}

/// One TCP segment, borrowed from the frame (or the fragment reassembler).
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub ts: Timestamp,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture cut off.
    pub missing: u32,
    pub meta: PacketMeta,
}

/// Per-frame outcome counters.
#[derive(Clone, Debug, Default)]
pub struct DecodeStats {
    pub frames: u64,
    pub wire_bytes: u64,
    /// Frames whose captured length is shorter than their length on the wire.
    pub truncated_frames: u64,
    /// Frames that ended inside a link, VLAN, MPLS or PPPoE header.
    pub link_truncated: u64,
    pub link_malformed: u64,
    /// Frames carrying something other than IP (ARP, LLDP, 802.11 management...).
    pub not_ip: u64,
    /// Encrypted 802.11 frames, which cannot be read.
    pub encrypted: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub ip_malformed: u64,
    pub tcp: u64,
    pub tcp_malformed: u64,
    /// TCP segments whose payload was cut by the snaplen.
    pub tcp_truncated: u64,
    pub udp: u64,
    pub other_transport: u64,
    pub tunnels: [u64; TunnelKind::ALL.len()],
    pub tunnel_depth_exceeded: u64,
    pub defrag: DefragStats,
}

impl DecodeStats {
    pub fn tunnel_count(&self, k: TunnelKind) -> u64 {
        TunnelKind::ALL.iter().position(|x| *x == k).map(|i| self.tunnels[i]).unwrap_or(0)
    }
}

struct Ctx {
    ts: Timestamp,
    meta: PacketMeta,
    depth: u8,
}

/// The decoder: stateless but for fragment reassembly and counters.
pub struct Decoder {
    cfg: DecodeConfig,
    defrag: Defragmenter,
    stats: DecodeStats,
}

impl Decoder {
    pub fn new(cfg: DecodeConfig) -> Decoder {
        let defrag = Defragmenter::new(cfg.max_fragment_datagrams, cfg.max_fragment_bytes, cfg.fragment_timeout_secs);
        Decoder { cfg, defrag, stats: DecodeStats::default() }
    }

    pub fn stats(&self) -> DecodeStats {
        let mut s = self.stats.clone();
        s.defrag = self.defrag.stats.clone();
        s
    }

    /// Bytes held for fragment reassembly.
    pub fn held_bytes(&self) -> usize {
        self.defrag.held_bytes()
    }

    /// Decodes one frame and calls `out` with its TCP segment, if it has one.
    pub fn decode(&mut self, pkt: &Packet<'_>, out: &mut dyn FnMut(&TcpSegment<'_>)) {
        self.stats.frames += 1;
        self.stats.wire_bytes += u64::from(pkt.wire_len.max(pkt.data.len() as u32));
        if (pkt.data.len() as u64) < u64::from(pkt.wire_len) {
            self.stats.truncated_frames += 1;
        }
        let mut ctx = Ctx { ts: pkt.ts, meta: PacketMeta::default(), depth: 0 };
        match link::link_start(pkt.link, pkt.data) {
            Ok((off, next)) => self.layers(tail(pkt.data, off), next, &mut ctx, out),
            Err(stop) => self.count_stop(stop),
        }
    }

    fn count_stop(&mut self, stop: LinkStop) {
        match stop {
            LinkStop::Truncated => self.stats.link_truncated += 1,
            LinkStop::NotIp => self.stats.not_ip += 1,
            LinkStop::Malformed => self.stats.link_malformed += 1,
            LinkStop::Encrypted => self.stats.encrypted += 1,
        }
    }

    /// Walks layer-2 and layer-2.5 headers until IP.
    fn layers(&mut self, mut d: &[u8], mut next: Next, ctx: &mut Ctx, out: &mut dyn FnMut(&TcpSegment<'_>)) {
        // Each iteration consumes a header; the bound stops a frame of endless VLAN tags.
        for _ in 0..16 {
            let step = match next {
                Next::Ip => return self.ip(d, ctx, out),
                Next::Ethernet => link::ethernet(d),
                Next::Ieee80211 => link::ieee80211(d),
                Next::PppProto(p) => link::ppp_proto(p).map(|n| (0, n)),
                Next::EtherType(t) => match t {
                    link::ETH_IPV4 | link::ETH_IPV6 => Ok((0, Next::Ip)),
                    link::ETH_VLAN | link::ETH_QINQ | link::ETH_QINQ_OLD1 | link::ETH_QINQ_OLD2 => {
                        link::vlan(d).map(|(id, inner)| {
                            ctx.meta.vlan.get_or_insert(id);
                            (4, Next::EtherType(inner))
                        })
                    }
                    link::ETH_MPLS_UC | link::ETH_MPLS_MC => link::mpls(d),
                    link::ETH_PPPOE_SESSION => link::pppoe_session(d),
                    link::ETH_TEB => Ok((0, Next::Ethernet)),
                    _ => Err(LinkStop::NotIp),
                },
            };
            match step {
                Ok((off, n)) => {
                    d = tail(d, off);
                    next = n;
                }
                Err(stop) => return self.count_stop(stop),
            }
        }
        self.stats.link_malformed += 1;
    }

    fn ip(&mut self, d: &[u8], ctx: &mut Ctx, out: &mut dyn FnMut(&TcpSegment<'_>)) {
        let Ok((ip, _ext_err)) = LaxIpSlice::from_slice(d) else {
            self.stats.ip_malformed += 1;
            return;
        };
        let (src, dst) = (ip.source_addr(), ip.destination_addr());
        let payload = ip.payload();
        let proto = payload.ip_number.0;
        // How many transport bytes the IP header announces beyond what was captured.
        let declared = match &ip {
            LaxIpSlice::Ipv4(v4) => {
                self.stats.ipv4 += 1;
                let h = v4.header();
                usize::from(h.total_len()).saturating_sub(usize::from(h.ihl()) * 4 + v4.extensions().auth.map_or(0, |a| a.slice().len()))
            }
            LaxIpSlice::Ipv6(v6) => {
                self.stats.ipv6 += 1;
                usize::from(v6.header().payload_length()).saturating_sub(v6.extensions().slice().len())
            }
        };
        let missing = if payload.incomplete { declared.saturating_sub(payload.payload.len()) as u32 } else { 0 };

        if payload.fragmented {
            let frag = match &ip {
                LaxIpSlice::Ipv4(v4) => {
                    let h = v4.header();
                    Some((u32::from(h.identification()), h.fragments_offset().byte_offset(), h.more_fragments()))
                }
                LaxIpSlice::Ipv6(v6) => v6.extensions().clone().into_iter().find_map(|e| match e {
                    Ipv6ExtensionSlice::Fragment(f) => {
                        Some((f.identification(), f.fragment_offset().byte_offset(), f.more_fragments()))
                    }
                    _ => None,
                }),
            };
            let Some((id, offset, more)) = frag else {
                self.stats.ip_malformed += 1;
                return;
            };
            if missing > 0 {
                // A fragment cut by the snaplen cannot be reassembled correctly.
                self.stats.tcp_truncated += u64::from(proto == 6);
                return;
            }
            let key = FragKey { src, dst, id, proto };
            match self.defrag.add(key, u32::from(offset), more, payload.payload, ctx.ts) {
                FragOutcome::Complete(buf) => {
                    self.transport(proto, &buf, src, dst, 0, ctx, out);
                    self.defrag.recycle(buf);
                }
                FragOutcome::Pending | FragOutcome::Invalid => {}
            }
            return;
        }
        self.transport(proto, payload.payload, src, dst, missing, ctx, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn transport(
        &mut self,
        proto: u8,
        d: &[u8],
        src: IpAddr,
        dst: IpAddr,
        missing: u32,
        ctx: &mut Ctx,
        out: &mut dyn FnMut(&TcpSegment<'_>),
    ) {
        match proto {
            6 => self.tcp(d, src, dst, missing, ctx, out),
            17 => self.udp(d, src, dst, ctx, out),
            4 | 41 => {
                let decap = Decap { kind: TunnelKind::IpInIp, id: None, offset: 0, next: Next::Ip };
                self.tunnel(d, decap, src, dst, ctx, out)
            }
            47 => match tunnel::gre(d, TunnelKind::Gre) {
                Some(decap) => self.tunnel(d, decap, src, dst, ctx, out),
                None => self.stats.other_transport += 1,
            },
            _ => self.stats.other_transport += 1,
        }
    }

    fn tcp(&mut self, d: &[u8], src: IpAddr, dst: IpAddr, missing: u32, ctx: &mut Ctx, out: &mut dyn FnMut(&TcpSegment<'_>)) {
        let (Some(src_port), Some(dst_port), Some(seq), Some(ack), Some(off_flags), Some(window)) =
            (be16(d, 0), be16(d, 2), be32(d, 4), be32(d, 8), be16(d, 12), be16(d, 14))
        else {
            self.stats.tcp_malformed += 1;
            return;
        };
        let hdr_len = usize::from(off_flags >> 12) * 4;
        if hdr_len < 20 {
            self.stats.tcp_malformed += 1;
            return;
        }
        let (payload, missing) = if d.len() >= hdr_len {
            (tail(d, hdr_len), missing)
        } else if missing > 0 {
            // The snaplen cut into the TCP options: the whole payload is missing.
            (&[][..], missing.saturating_sub((hdr_len - d.len()) as u32))
        } else {
            self.stats.tcp_malformed += 1;
            return;
        };
        self.stats.tcp += 1;
        if missing > 0 {
            self.stats.tcp_truncated += 1;
        }
        let seg = TcpSegment {
            ts: ctx.ts,
            src,
            dst,
            src_port,
            dst_port,
            seq,
            ack,
            flags: TcpFlags((off_flags & 0xff) as u8),
            window,
            payload,
            missing,
            meta: ctx.meta,
        };
        out(&seg);
    }

    fn udp(&mut self, d: &[u8], src: IpAddr, dst: IpAddr, ctx: &mut Ctx, out: &mut dyn FnMut(&TcpSegment<'_>)) {
        self.stats.udp += 1;
        let (Some(sport), Some(dport)) = (be16(d, 0), be16(d, 2)) else { return };
        let p = tail(d, 8);
        let on = |port: u16| sport == port || dport == port;
        let decap = if self.cfg.vxlan_ports.contains(&dport) {
            tunnel::vxlan(p)
        } else if self.cfg.geneve_ports.contains(&dport) {
            tunnel::geneve(p)
        } else if dport == 4754 {
            tunnel::gre(p, TunnelKind::GreUdp)
        } else if on(3544) {
            tunnel::teredo(p)
        } else if on(5072) {
            tunnel::ayiya(p)
        } else if on(2152) {
            tunnel::gtp_u(p)
        } else if dport == 37008 {
            tunnel::tzsp(p)
        } else if p.first().is_some_and(|b| b >> 4 == 6 || *b == 0) {
            tunnel::teredo_heuristic(p)
        } else if p.get(..4).is_some_and(|h| h[0] == 1 && h[2..4] == [0, 1]) {
            tunnel::tzsp_heuristic(p)
        } else {
            None
        };
        if let Some(decap) = decap {
            self.tunnel(p, decap, src, dst, ctx, out);
        }
    }

    fn tunnel(&mut self, d: &[u8], decap: Decap, src: IpAddr, dst: IpAddr, ctx: &mut Ctx, out: &mut dyn FnMut(&TcpSegment<'_>)) {
        if ctx.depth >= self.cfg.max_tunnel_depth {
            self.stats.tunnel_depth_exceeded += 1;
            return;
        }
        ctx.depth += 1;
        if let Some(i) = TunnelKind::ALL.iter().position(|k| *k == decap.kind) {
            self.stats.tunnels[i] += 1;
        }
        ctx.meta.tunnel = Some(TunnelInfo { kind: decap.kind, id: decap.id, outer_src: src, outer_dst: dst });
        // A tunnel's inner frame has its own VLAN tags; the outer one described the carrier.
        ctx.meta.vlan = None;
        self.layers(tail(d, decap.offset), decap.next, ctx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use etherparse::PacketBuilder;

    fn build_tcp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(etherparse::VlanId::try_new(10).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .ack(77)
            .psh();
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    fn decode_all(frame: &[u8], wire_len: u32) -> (Vec<(Vec<u8>, u32, u16)>, DecodeStats) {
        let mut d = Decoder::new(DecodeConfig::default());
        let pkt = Packet::new(Timestamp::ZERO, wire_len, LinkType::Ethernet, frame);
        let mut got = Vec::new();
        d.decode(&pkt, &mut |s| got.push((s.payload.to_vec(), s.missing, s.src_port)));
        (got, d.stats())
    }

    #[test]
    fn vlan_tcp_round_trip() {
        let f = build_tcp(b"GET / HTTP/1.1\r\n\r\n");
        let (got, st) = decode_all(&f, f.len() as u32);
        assert_eq!(got, vec![(b"GET / HTTP/1.1\r\n\r\n".to_vec(), 0, 40000)]);
        assert_eq!(st.tcp, 1);
    }

    #[test]
    fn every_truncation_is_counted_never_a_panic() {
        let f = build_tcp(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        for cut in 0..f.len() {
            let (got, st) = decode_all(&f[..cut], f.len() as u32);
            assert_eq!(st.truncated_frames, 1);
            // Once the TCP header is in, the segment comes out with the rest marked missing.
            if let Some((p, missing, _)) = got.first() {
                assert_eq!(p.len() as u32 + missing, 27, "cut {cut}");
            }
        }
    }

    #[test]
    fn fragments_are_reassembled() {
        // A TCP segment split into two IPv4 fragments at byte 24 of the transport payload.
        let full = build_tcp(b"GET /fragmented HTTP/1.1\r\n\r\n");
        let ip = &full[18..];
        let ihl = 20;
        let transport = &ip[ihl..];
        let mk = |off: usize, data: &[u8], more: bool| {
            let mut h = ip[..ihl].to_vec();
            let total = (ihl + data.len()) as u16;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            let fo = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
            h[6..8].copy_from_slice(&fo.to_be_bytes());
            let mut f = full[..18].to_vec();
            f.extend_from_slice(&h);
            f.extend_from_slice(data);
            f
        };
        let a = mk(0, &transport[..24], true);
        let b = mk(24, &transport[24..], false);
        let mut d = Decoder::new(DecodeConfig::default());
        let mut got = Vec::new();
        for f in [&b, &a] {
            let pkt = Packet::new(Timestamp::ZERO, f.len() as u32, LinkType::Ethernet, f);
            d.decode(&pkt, &mut |s| got.push(s.payload.to_vec()));
        }
        assert_eq!(got, vec![b"GET /fragmented HTTP/1.1\r\n\r\n".to_vec()]);
        assert_eq!(d.stats().defrag.reassembled, 1);
    }

    const LINKS: [LinkType; 13] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Null,
        LinkType::Loop,
        LinkType::Nflog,
        LinkType::CiscoHdlc,
        LinkType::Ppp,
        LinkType::Ieee80211,
        LinkType::Radiotap,
    ];

    proptest::proptest! {
        /// Arbitrary bytes as a frame of any link type: counted, never a panic.
        #[test]
        fn random_frames_never_panic(link in 0usize..LINKS.len(), data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut d = Decoder::new(DecodeConfig::default());
            let pkt = Packet::new(Timestamp::ZERO, data.len() as u32, LINKS[link], &data);
            d.decode(&pkt, &mut |_| {});
            proptest::prop_assert_eq!(d.stats().frames, 1);
        }

        /// A real IPv6/TCP frame with options and a tunnel around it, cut at every length.
        #[test]
        fn ipv6_in_gre_truncations(cut in 0usize..200) {
            let inner = PacketBuilder::ipv6([1; 16], [2; 16], 64)
                .tcp(1234, 80, 5, 100)
                .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1400), etherparse::TcpOptionElement::Noop])
                .unwrap();
            let mut ip6 = Vec::new();
            inner.write(&mut ip6, b"GET / HTTP/1.1\r\n\r\n").unwrap();
            let mut gre = vec![0x20, 0, 0x86, 0xdd, 0, 0, 0, 1];
            gre.extend_from_slice(&ip6);
            let mut f = Vec::new();
            PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64).write(&mut f, 47.into(), &gre).unwrap();
            let cut = cut.min(f.len());
            let (got, _) = decode_all(&f[..cut], f.len() as u32);
            if cut == f.len() {
                proptest::prop_assert_eq!(got.len(), 1);
                proptest::prop_assert_eq!(got[0].1, 0);
            }
        }
    }

    #[test]
    fn ipv6_fragments_are_reassembled() {
        // An IPv6/TCP packet split after 16 transport bytes with a Fragment header.
        let b = PacketBuilder::ethernet2([1; 6], [2; 6]).ipv6([1; 16], [2; 16], 64).tcp(5555, 80, 9, 100);
        let mut full = Vec::new();
        b.write(&mut full, b"GET /v6-fragmented HTTP/1.1\r\n\r\n").unwrap();
        let (eth, rest) = full.split_at(14);
        let (ip6, transport) = rest.split_at(40);
        let frag = |off: usize, more: bool, data: &[u8]| {
            let mut h = ip6.to_vec();
            h[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            h[6] = 44; // next header: Fragment
            let fo = ((off / 8) as u16) << 3 | u16::from(more);
            let mut f = eth.to_vec();
            f.extend_from_slice(&h);
            f.extend_from_slice(&[6, 0]);
            f.extend_from_slice(&fo.to_be_bytes());
            f.extend_from_slice(&0xabcd_u32.to_be_bytes());
            f.extend_from_slice(data);
            f
        };
        let first = frag(0, true, &transport[..16]);
        let second = frag(16, false, &transport[16..]);
        let mut d = Decoder::new(DecodeConfig::default());
        let mut got = Vec::new();
        for f in [&second, &first] {
            let pkt = Packet::new(Timestamp::ZERO, f.len() as u32, LinkType::Ethernet, f);
            d.decode(&pkt, &mut |s| got.push((s.payload.to_vec(), s.dst_port)));
        }
        assert_eq!(got, vec![(b"GET /v6-fragmented HTTP/1.1\r\n\r\n".to_vec(), 80)]);
        assert_eq!(d.stats().defrag.reassembled, 1);
    }

    #[test]
    fn vxlan_inner_segment_carries_tunnel() {
        let inner = build_tcp(b"x");
        let mut vx = vec![0x08, 0, 0, 0, 0, 0x12, 0x34, 0];
        vx.extend_from_slice(&inner);
        let outer = PacketBuilder::ethernet2([3; 6], [4; 6]).ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64).udp(5555, 4789);
        let mut f = Vec::new();
        outer.write(&mut f, &vx).unwrap();
        let mut d = Decoder::new(DecodeConfig::default());
        let pkt = Packet::new(Timestamp::ZERO, f.len() as u32, LinkType::Ethernet, &f);
        let mut metas = Vec::new();
        d.decode(&pkt, &mut |s| metas.push(s.meta));
        let t = metas[0].tunnel.unwrap();
        assert_eq!((t.kind, t.id), (TunnelKind::Vxlan, Some(0x1234)));
        assert_eq!(metas[0].vlan, Some(10));
    }
}
