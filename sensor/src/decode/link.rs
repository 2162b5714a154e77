//! Link layers and the layer-2.5 shims between them and IP: Ethernet (with 802.3 LLC/SNAP),
//! Linux cooked v1/v2, BSD null/loopback, NFLOG, Cisco HDLC, PPP, VLAN/QinQ, MPLS and
//! PPPoE. Each function returns where the next layer starts and what it is, or why not.

use super::bytes::{be16, be32, le16, le32, tail, u8_at};
use crate::capture::LinkType;

/// What the bytes at an offset are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// An Ethernet II (or 802.3) header.
    Ethernet,
    /// A payload with this EtherType.
    EtherType(u16),
    /// An IP packet; the version nibble says which.
    Ip,
    /// A PPP payload with this protocol number.
    PppProto(u16),
    /// An IEEE 802.11 frame (wireless captures, Aruba GRE mirroring).
    Ieee80211,
}

/// Why a frame stopped decoding before IP. Counted, never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStop {
    /// The frame ended inside a link header.
    Truncated,
    /// A protocol apitap does not decode (ARP, LLDP, STP, ...): not an error.
    NotIp,
    /// A malformed header (NFLOG without a payload TLV, bad address family...).
    Malformed,
    /// An encrypted 802.11 frame: nothing inside can be read.
    Encrypted,
}

pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86DD;
pub const ETH_VLAN: u16 = 0x8100;
pub const ETH_QINQ: u16 = 0x88A8;
pub const ETH_QINQ_OLD1: u16 = 0x9100;
pub const ETH_QINQ_OLD2: u16 = 0x9200;
pub const ETH_MPLS_UC: u16 = 0x8847;
pub const ETH_MPLS_MC: u16 = 0x8848;
pub const ETH_PPPOE_SESSION: u16 = 0x8864;
pub const ETH_TEB: u16 = 0x6558;

/// The first layer of a frame of this link type: (offset, what is there).
pub fn link_start(link: LinkType, d: &[u8]) -> Result<(usize, Next), LinkStop> {
    match link {
        LinkType::Ethernet => Ok((0, Next::Ethernet)),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Ok((0, Next::Ip)),
        LinkType::LinuxSll => {
            // packet type(2) arphrd(2) addr len(2) addr(8) protocol(2)
            let proto = be16(d, 14).ok_or(LinkStop::Truncated)?;
            Ok((16, sll_protocol(proto)))
        }
        LinkType::LinuxSll2 => {
            // protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) addrlen(1) addr(8)
            let proto = be16(d, 0).ok_or(LinkStop::Truncated)?;
            if d.len() < 20 {
                return Err(LinkStop::Truncated);
            }
            Ok((20, sll_protocol(proto)))
        }
        LinkType::Null | LinkType::Loop => {
            let family = if link == LinkType::Loop {
                be32(d, 0)
            } else {
                // Host byte order of the machine that wrote the file: the family is a small
                // number, so whichever reading is small is the right one.
                let le = le32(d, 0).ok_or(LinkStop::Truncated)?;
                if le < 0x1_0000 { Some(le) } else { be32(d, 0) }
            }
            .ok_or(LinkStop::Truncated)?;
            match family {
                2 => Ok((4, Next::Ip)),
                // AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux).
                10 | 24 | 28 | 30 => Ok((4, Next::Ip)),
                _ => Err(LinkStop::NotIp),
            }
        }
        LinkType::Nflog => nflog_payload(d).map(|off| (off, Next::Ip)),
        LinkType::CiscoHdlc => {
            // address(1) control(1) protocol(2), protocol is an EtherType
            let proto = be16(d, 2).ok_or(LinkStop::Truncated)?;
            Ok((4, Next::EtherType(proto)))
        }
        LinkType::Ieee80211 => Ok((0, Next::Ieee80211)),
        LinkType::Radiotap => {
            // Radiotap: version 0, then its own length (little-endian) at byte 2.
            let len = le16(d, 2).ok_or(LinkStop::Truncated)? as usize;
            if u8_at(d, 0) != Some(0) || len < 8 {
                return Err(LinkStop::Malformed);
            }
            Ok((len, Next::Ieee80211))
        }
        LinkType::Ppp => {
            // Optional HDLC address/control bytes 0xff 0x03, then the protocol.
            let off = if u8_at(d, 0) == Some(0xff) && u8_at(d, 1) == Some(0x03) { 2 } else { 0 };
            let (len, proto) = ppp_protocol(tail(d, off))?;
            Ok((off + len, Next::PppProto(proto)))
        }
    }
}

fn sll_protocol(proto: u16) -> Next {
    // Values below 0x0600 are Linux-internal (ETH_P_802_2 etc.), not EtherTypes.
    if proto >= 0x0600 { Next::EtherType(proto) } else { Next::EtherType(0) }
}

/// NFLOG: a 4-byte header then TLVs in host byte order (little-endian on every capture we
/// have seen); the packet is the NFULA_PAYLOAD (type 9) TLV.
fn nflog_payload(d: &[u8]) -> Result<usize, LinkStop> {
    let mut off = 4usize;
    if d.len() < 4 {
        return Err(LinkStop::Truncated);
    }
    while off + 4 <= d.len() {
        let len = le16(d, off).ok_or(LinkStop::Truncated)? as usize;
        let typ = le16(d, off + 2).ok_or(LinkStop::Truncated)?;
        if len < 4 {
            return Err(LinkStop::Malformed);
        }
        if typ == 9 {
            return Ok(off + 4);
        }
        // TLVs are padded to 4 bytes.
        off = off.checked_add((len + 3) & !3).ok_or(LinkStop::Malformed)?;
    }
    Err(LinkStop::Malformed)
}

/// Ethernet II header; 802.3 frames with LLC/SNAP give the SNAP EtherType.
pub fn ethernet(d: &[u8]) -> Result<(usize, Next), LinkStop> {
    let typ = be16(d, 12).ok_or(LinkStop::Truncated)?;
    if typ >= 0x0600 {
        return Ok((14, Next::EtherType(typ)));
    }
    // An 802.3 length field: LLC follows.
    llc_snap(d, 14)
}

/// An LLC header at `off`: SNAP (DSAP = SSAP = 0xAA, control 0x03) names the EtherType;
/// anything else (STP, NetBIOS...) is not IP.
fn llc_snap(d: &[u8], off: usize) -> Result<(usize, Next), LinkStop> {
    let llc = tail(d, off);
    match (u8_at(llc, 0), u8_at(llc, 1), u8_at(llc, 2)) {
        (Some(0xaa), Some(0xaa), Some(0x03)) => {
            let t = be16(llc, 6).ok_or(LinkStop::Truncated)?;
            Ok((off + 8, Next::EtherType(t)))
        }
        (Some(_), Some(_), Some(_)) => Err(LinkStop::NotIp),
        _ => Err(LinkStop::Truncated),
    }
}

/// An IEEE 802.11 data frame: the MAC header (with the fourth address, QoS and HT control
/// fields when present) and LLC/SNAP give the EtherType. Management, control, null-data and
/// encrypted frames carry nothing to decode.
pub fn ieee80211(d: &[u8]) -> Result<(usize, Next), LinkStop> {
    let fc0 = u8_at(d, 0).ok_or(LinkStop::Truncated)?;
    let fc1 = u8_at(d, 1).ok_or(LinkStop::Truncated)?;
    let (ftype, subtype) = ((fc0 >> 2) & 0x3, fc0 >> 4);
    if fc0 & 0x3 != 0 || ftype != 2 || subtype & 0x4 != 0 {
        return Err(LinkStop::NotIp);
    }
    if fc1 & 0x40 != 0 {
        return Err(LinkStop::Encrypted);
    }
    let qos = subtype & 0x8 != 0;
    let mut off = 24;
    if fc1 & 0x03 == 0x03 {
        off += 6;
    }
    if qos {
        off += 2;
        if fc1 & 0x80 != 0 {
            off += 4;
        }
    }
    llc_snap(d, off)
}

/// One VLAN tag: (vlan id, header length 4, inner EtherType).
pub fn vlan(d: &[u8]) -> Result<(u16, u16), LinkStop> {
    let tci = be16(d, 0).ok_or(LinkStop::Truncated)?;
    let inner = be16(d, 2).ok_or(LinkStop::Truncated)?;
    Ok((tci & 0x0fff, inner))
}

/// An MPLS label stack: returns the length of the stack and a guess at what follows, from
/// the first nibble (4 or 6 is IP; 0 is a pseudowire control word before Ethernet).
pub fn mpls(d: &[u8]) -> Result<(usize, Next), LinkStop> {
    let mut off = 0usize;
    // A bound on labels keeps a hostile stack from costing more than a few reads.
    for _ in 0..16 {
        let entry = be32(d, off).ok_or(LinkStop::Truncated)?;
        off += 4;
        if entry & 0x100 != 0 {
            let first = u8_at(d, off).ok_or(LinkStop::Truncated)?;
            return match first >> 4 {
                4 | 6 => Ok((off, Next::Ip)),
                0 => Ok((off + 4, Next::Ethernet)),
                _ => Err(LinkStop::NotIp),
            };
        }
    }
    Err(LinkStop::Malformed)
}

/// PPPoE session header (6 bytes) followed by a PPP protocol field.
pub fn pppoe_session(d: &[u8]) -> Result<(usize, Next), LinkStop> {
    let (len, proto) = ppp_protocol(tail(d, 6))?;
    Ok((6 + len, Next::PppProto(proto)))
}

/// A PPP protocol field: two bytes, or one when compressed (RFC 1661 protocol field
/// compression: the first byte is odd only in the one-byte form).
fn ppp_protocol(d: &[u8]) -> Result<(usize, u16), LinkStop> {
    let first = u8_at(d, 0).ok_or(LinkStop::Truncated)?;
    if first & 1 == 1 {
        Ok((1, u16::from(first)))
    } else {
        Ok((2, be16(d, 0).ok_or(LinkStop::Truncated)?))
    }
}

/// PPP protocol numbers to the next layer.
pub fn ppp_proto(proto: u16) -> Result<Next, LinkStop> {
    match proto {
        0x0021 | 0x0057 => Ok(Next::Ip),
        _ => Err(LinkStop::NotIp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nflog_finds_payload_tlv() {
        // header, a 8-byte TLV of type 1, then the payload TLV (type 9) with 4 bytes.
        let d = [2, 0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0, 8, 0, 9, 0, 0x45, 0, 0, 0];
        assert_eq!(link_start(LinkType::Nflog, &d), Ok((16, Next::Ip)));
        assert_eq!(link_start(LinkType::Nflog, &d[..10]), Err(LinkStop::Malformed));
        let zero_len = [2, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(link_start(LinkType::Nflog, &zero_len), Err(LinkStop::Malformed));
    }

    #[test]
    fn null_reads_either_byte_order() {
        assert_eq!(link_start(LinkType::Null, &[2, 0, 0, 0, 0x45]), Ok((4, Next::Ip)));
        assert_eq!(link_start(LinkType::Null, &[0, 0, 0, 2, 0x45]), Ok((4, Next::Ip)));
        assert_eq!(link_start(LinkType::Null, &[0, 0, 0, 7]), Err(LinkStop::NotIp));
        assert_eq!(link_start(LinkType::Null, &[0, 0]), Err(LinkStop::Truncated));
    }

    #[test]
    fn ieee80211_qos_data() {
        // QoS data, ToDS, then LLC/SNAP for IPv4.
        let mut f = vec![0x88, 0x01];
        f.extend_from_slice(&[0u8; 22]);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, 0x45]);
        assert_eq!(ieee80211(&f), Ok((34, Next::EtherType(0x0800))));
        f[1] |= 0x40;
        assert_eq!(ieee80211(&f), Err(LinkStop::Encrypted));
        assert_eq!(ieee80211(&[0x80, 0]), Err(LinkStop::NotIp)); // a beacon
    }

    #[test]
    fn snap_and_mpls() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0, 40, 0xaa, 0xaa, 3, 0, 0, 0, 0x08, 0x00]);
        assert_eq!(ethernet(&f), Ok((22, Next::EtherType(0x0800))));
        // two labels, bottom of stack on the second, IPv4 follows
        let m = [0, 0, 0x10, 0, 0, 0, 0x11, 0, 0x45];
        assert_eq!(mpls(&m), Ok((8, Next::Ip)));
        assert_eq!(mpls(&[0, 0, 0x10]), Err(LinkStop::Truncated));
    }
}
