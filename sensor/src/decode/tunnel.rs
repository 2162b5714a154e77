//! Tunnel headers that mirrored and carrier traffic arrives in: VXLAN, GENEVE, GRE (keyed,
//! transparent Ethernet bridging, PPTP), ERSPAN I/II/III, GRE over UDP, Teredo, AYIYA,
//! GTP-U and TZSP. Each parser validates the header well enough that ordinary UDP on the
//! same port is not mistaken for a tunnel, and returns where the inner packet starts.

use super::bytes::{be16, be32, tail, u8_at};
use super::link::{Next, ETH_IPV4, ETH_IPV6, ETH_MPLS_UC, ETH_TEB};
use serde::Serialize;

/// The kind of tunnel a packet was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelKind {
    Vxlan,
    Geneve,
    Gre,
    Erspan,
    GreUdp,
    IpInIp,
    Teredo,
    Ayiya,
    Gtp,
    Tzsp,
}

impl TunnelKind {
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::GreUdp => "gre_udp",
            TunnelKind::IpInIp => "ip_in_ip",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Ayiya => "ayiya",
            TunnelKind::Gtp => "gtp",
            TunnelKind::Tzsp => "tzsp",
        }
    }

    pub const ALL: [TunnelKind; 10] = [
        TunnelKind::Vxlan,
        TunnelKind::Geneve,
        TunnelKind::Gre,
        TunnelKind::Erspan,
        TunnelKind::GreUdp,
        TunnelKind::IpInIp,
        TunnelKind::Teredo,
        TunnelKind::Ayiya,
        TunnelKind::Gtp,
        TunnelKind::Tzsp,
    ];
}

/// A parsed tunnel header: the inner packet starts at `offset` and is a `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decap {
    pub kind: TunnelKind,
    /// VNI, GRE key, ERSPAN session or GTP TEID.
    pub id: Option<u32>,
    pub offset: usize,
    pub next: Next,
}

/// VXLAN (RFC 7348): 8 bytes, the I flag set, a 24-bit VNI, Ethernet inside.
pub fn vxlan(d: &[u8]) -> Option<Decap> {
    let flags = u8_at(d, 0)?;
    if flags & 0x08 == 0 || d.len() < 8 + 14 {
        return None;
    }
    let vni = be32(d, 4)? >> 8;
    Some(Decap { kind: TunnelKind::Vxlan, id: Some(vni), offset: 8, next: Next::Ethernet })
}

/// GENEVE (RFC 8926): version 0, options skipped, Ethernet or IP inside.
pub fn geneve(d: &[u8]) -> Option<Decap> {
    let b0 = u8_at(d, 0)?;
    if b0 >> 6 != 0 {
        return None;
    }
    let opt_len = (b0 & 0x3f) as usize * 4;
    let proto = be16(d, 2)?;
    let vni = be32(d, 4)? >> 8;
    let next = match proto {
        ETH_TEB => Next::Ethernet,
        ETH_IPV4 | ETH_IPV6 => Next::Ip,
        _ => return None,
    };
    let offset = 8 + opt_len;
    if d.len() <= offset {
        return None;
    }
    Some(Decap { kind: TunnelKind::Geneve, id: Some(vni), offset, next })
}

/// GRE (RFC 2784/2890, PPTP's enhanced GRE of RFC 2637), and the ERSPAN headers GRE
/// carries. `kind` is `Gre` or `GreUdp` (RFC 8086) depending on the outer transport.
pub fn gre(d: &[u8], kind: TunnelKind) -> Option<Decap> {
    let b0 = u8_at(d, 0)?;
    let b1 = u8_at(d, 1)?;
    let proto = be16(d, 2)?;
    let version = b1 & 0x07;
    let (csum, routing, key, seq) = (b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x20 != 0, b0 & 0x10 != 0);
    if routing {
        // Source routing (RFC 1701) is obsolete and variable-length: not decoded.
        return None;
    }
    let mut off = 4usize;
    let mut id = None;
    match version {
        0 => {
            if csum {
                off += 4;
            }
            if key {
                id = Some(be32(d, off)?);
                off += 4;
            }
            if seq {
                off += 4;
            }
        }
        1 => {
            // PPTP: key (payload length + call id) mandatory, optional seq and ack.
            if !key {
                return None;
            }
            id = Some(be16(d, off + 2)? as u32);
            off += 4;
            if seq {
                off += 4;
            }
            if b1 & 0x80 != 0 {
                off += 4;
            }
            let inner = tail(d, off);
            let (skip, ppp) = match (u8_at(inner, 0), u8_at(inner, 1)) {
                (Some(0xff), Some(0x03)) => (2, be16(inner, 2)?),
                _ => (0, be16(inner, 0)?),
            };
            return Some(Decap { kind, id, offset: off + skip + 2, next: Next::PppProto(ppp) });
        }
        _ => return None,
    }
    if d.len() < off {
        return None;
    }
    let rest = tail(d, off);
    let decap = |kind, id, offset, next| Some(Decap { kind, id, offset, next });
    match proto {
        ETH_IPV4 | ETH_IPV6 => decap(kind, id, off, Next::Ip),
        ETH_TEB => decap(kind, id, off, Next::Ethernet),
        ETH_MPLS_UC => decap(kind, id, off, Next::EtherType(ETH_MPLS_UC)),
        // Aruba wireless controllers mirror 802.11 frames in GRE with these types.
        0x8200..=0x82ff => decap(kind, id, off, Next::Ieee80211),
        0x88be if seq => {
            // ERSPAN type II: version 1 in the top nibble, 10-bit session id.
            if u8_at(rest, 0)? >> 4 != 1 {
                return None;
            }
            let session = (be16(rest, 2)? & 0x03ff) as u32;
            decap(TunnelKind::Erspan, Some(session), off + 8, Next::Ethernet)
        }
        // ERSPAN type I: no header of its own.
        0x88be => decap(TunnelKind::Erspan, id, off, Next::Ethernet),
        0x22eb => {
            // ERSPAN type III: version 2, 12 bytes, plus 8 when the O flag is set.
            if u8_at(rest, 0)? >> 4 != 2 {
                return None;
            }
            let session = (be16(rest, 2)? & 0x03ff) as u32;
            let o_flag = u8_at(rest, 11)? & 0x01 != 0;
            let hdr = if o_flag { 20 } else { 12 };
            decap(TunnelKind::Erspan, Some(session), off + hdr, Next::Ethernet)
        }
        _ => None,
    }
}

/// Teredo (RFC 4380) on UDP 3544: optional authentication and origin-indication headers,
/// then an IPv6 packet whose length must fit the datagram.
pub fn teredo(d: &[u8]) -> Option<Decap> {
    let mut off = 0usize;
    if be16(d, 0)? == 0x0001 {
        let id_len = u8_at(d, 2)? as usize;
        let au_len = u8_at(d, 3)? as usize;
        off = 4 + id_len + au_len + 8 + 1;
    }
    if be16(d, off)? == 0x0000 {
        off += 8;
    }
    let ip = tail(d, off);
    if u8_at(ip, 0)? >> 4 != 6 || ip.len() < 40 {
        return None;
    }
    let payload_len = be16(ip, 4)? as usize;
    if 40 + payload_len > ip.len() {
        return None;
    }
    Some(Decap { kind: TunnelKind::Teredo, id: None, offset: off, next: Next::Ip })
}

/// Teredo on a port other than 3544, as Zeek finds it: only an exact fit counts, an IPv6
/// packet filling the datagram to the byte with a Teredo (2001:0::/32) address on one end,
/// so ordinary UDP is not taken for a tunnel.
pub fn teredo_heuristic(d: &[u8]) -> Option<Decap> {
    let t = teredo(d)?;
    let ip = tail(d, t.offset);
    let payload_len = be16(ip, 4)? as usize;
    let teredo_addr = |off: usize| ip.get(off..off + 4) == Some(&[0x20, 0x01, 0, 0][..]);
    (40 + payload_len == ip.len() && (teredo_addr(8) || teredo_addr(24))).then_some(t)
}

/// AYIYA ("Anything In Anything", SixXS) on UDP 5072: identity of 2^n bytes, signature of
/// 4n bytes, opcode 1 (forward), next header IPv4 or IPv6.
pub fn ayiya(d: &[u8]) -> Option<Decap> {
    let b0 = u8_at(d, 0)?;
    let b1 = u8_at(d, 1)?;
    let b2 = u8_at(d, 2)?;
    let next_header = u8_at(d, 3)?;
    let id_len = 1usize << (b0 >> 4);
    let sig_len = (b1 >> 4) as usize * 4;
    if b2 & 0x0f != 1 || !(next_header == 4 || next_header == 41) {
        return None;
    }
    let offset = 8 + id_len + sig_len;
    let first = u8_at(d, offset)?;
    if !(first >> 4 == 4 || first >> 4 == 6) {
        return None;
    }
    Some(Decap { kind: TunnelKind::Ayiya, id: None, offset, next: Next::Ip })
}

/// GTP-U version 1 G-PDU (3GPP TS 29.281): optional sequence/N-PDU/extension headers, then
/// an IP packet.
pub fn gtp_u(d: &[u8]) -> Option<Decap> {
    let flags = u8_at(d, 0)?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || u8_at(d, 1)? != 0xff {
        return None;
    }
    let teid = be32(d, 4)?;
    let mut off = 8usize;
    if flags & 0x07 != 0 {
        let mut next_ext = u8_at(d, 11)?;
        off = 12;
        // Extension headers: length in 4-byte units, last byte names the next one.
        let mut guard = 0;
        while next_ext != 0 {
            let units = u8_at(d, off)? as usize;
            if units == 0 || guard > 8 {
                return None;
            }
            off += units * 4;
            next_ext = u8_at(d, off - 1)?;
            guard += 1;
        }
    }
    let first = u8_at(d, off)?;
    if !(first >> 4 == 4 || first >> 4 == 6) {
        return None;
    }
    Some(Decap { kind: TunnelKind::Gtp, id: Some(teid), offset: off, next: Next::Ip })
}

/// TZSP (TaZmen Sniffer Protocol, UDP 37008), the stream MikroTik routers mirror packets
/// in: version 1, a tag list ending with tag 1, then an Ethernet frame.
pub fn tzsp(d: &[u8]) -> Option<Decap> {
    if u8_at(d, 0)? != 1 || be16(d, 2)? != 1 {
        return None;
    }
    let mut off = 4usize;
    // Tags: 0 is one byte of padding, 1 ends the list, others carry a length byte.
    for _ in 0..64 {
        match u8_at(d, off)? {
            0 => off += 1,
            1 => {
                off += 1;
                return (d.len() >= off + 14).then_some(Decap { kind: TunnelKind::Tzsp, id: None, offset: off, next: Next::Ethernet });
            }
            _ => off += 2 + u8_at(d, off + 1)? as usize,
        }
    }
    None
}

/// TZSP on another port (MikroTik lets users choose it): only when the inner frame is an
/// Ethernet frame whose IP packet fills the datagram to the byte.
pub fn tzsp_heuristic(d: &[u8]) -> Option<Decap> {
    let t = tzsp(d)?;
    let eth = tail(d, t.offset);
    let ip = tail(eth, 14);
    let fits = match (be16(eth, 12)?, u8_at(ip, 0)? >> 4) {
        (ETH_IPV4, 4) => usize::from(be16(ip, 2)?) == ip.len(),
        (ETH_IPV6, 6) => usize::from(be16(ip, 4)?) + 40 == ip.len(),
        _ => false,
    };
    fits.then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vxlan_needs_i_flag() {
        let mut d = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        d.extend_from_slice(&[0u8; 14]);
        let v = vxlan(&d).unwrap();
        assert_eq!((v.id, v.offset, v.next), (Some(42), 8, Next::Ethernet));
        d[0] = 0;
        assert!(vxlan(&d).is_none());
    }

    #[test]
    fn geneve_skips_options() {
        let mut d = vec![0x02, 0, 0x65, 0x58, 0, 0, 7, 0];
        d.extend_from_slice(&[0u8; 8]);
        d.extend_from_slice(&[0u8; 14]);
        let g = geneve(&d).unwrap();
        assert_eq!((g.id, g.offset), (Some(7), 16));
        assert!(geneve(&[0x40, 0, 0x65, 0x58, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn gre_keyed_and_erspan() {
        let d = [0x20, 0, 0x08, 0x00, 0, 0, 0, 9, 0x45];
        let g = gre(&d, TunnelKind::Gre).unwrap();
        assert_eq!((g.id, g.offset, g.next), (Some(9), 8, Next::Ip));
        // ERSPAN II: seq bit, header version 1, session 5
        let e = [0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 5, 0, 0, 0, 0, 0xaa];
        let x = gre(&e, TunnelKind::Gre).unwrap();
        assert_eq!((x.kind, x.id, x.offset), (TunnelKind::Erspan, Some(5), 16));
        assert!(gre(&[0x40, 0, 0x08, 0], TunnelKind::Gre).is_none());
        assert!(gre(&[0x20, 0, 0x08], TunnelKind::Gre).is_none());
    }

    #[test]
    fn tzsp_tags() {
        let mut d = vec![1, 0, 0, 1, 0, 10, 2, 0xaa, 0xbb, 1];
        d.extend_from_slice(&[0u8; 14]);
        let t = tzsp(&d).unwrap();
        assert_eq!((t.offset, t.next), (10, Next::Ethernet));
        d[0] = 2;
        assert!(tzsp(&d).is_none());
    }

    #[test]
    fn gtp_with_extension() {
        let mut d = vec![0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0, 0, 0];
        d.push(0x45);
        let g = gtp_u(&d).unwrap();
        assert_eq!((g.id, g.offset), (Some(1), 16));
        d[12] = 0;
        assert!(gtp_u(&d).is_none());
    }
}
