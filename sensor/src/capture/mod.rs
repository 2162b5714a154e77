//! Packet sources. A [`PacketSource`] hands out one frame at a time; the frame borrows the
//! source's buffer and is valid until the next call (libpcap reuses its buffer, as
//! pcap-parser's readers do), so the packet path never copies a frame it does not keep.
//!
//! Classic pcap files are read in large shared blocks ([`SharedBlock`]), so frames can go to
//! worker threads without a copy; pcapng, stdin, filtered replays and other formats are read
//! through libpcap. Several files are merged into one stream in packet-time order by
//! [`MergedSource`]. Live interfaces are read by [`LiveSource`], which hands packets to a
//! callback.

mod block;
mod file;
mod live;
mod merge;

pub use file::{FileSource, Reader};
pub use live::{IfaceStats, LiveOptions, LiveSource};
pub use merge::MergedSource;

use crate::time::Timestamp;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

/// The link layer of a frame, from the capture's DLT/LINKTYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB.
    Ethernet,
    /// DLT_LINUX_SLL: Linux "cooked" v1, 16-byte header.
    LinuxSll,
    /// DLT_LINUX_SLL2: Linux "cooked" v2, 20-byte header.
    LinuxSll2,
    /// DLT_RAW / LINKTYPE_RAW: the frame is an IPv4 or IPv6 packet.
    Raw,
    /// LINKTYPE_IPV4.
    Ipv4,
    /// LINKTYPE_IPV6.
    Ipv6,
    /// DLT_NULL: BSD loopback, 4-byte address family in host byte order.
    Null,
    /// DLT_LOOP: OpenBSD loopback, 4-byte address family in network byte order.
    Loop,
    /// DLT_NFLOG: Linux netfilter log, TLVs around the packet.
    Nflog,
    /// DLT_C_HDLC: Cisco HDLC.
    CiscoHdlc,
    /// DLT_PPP_SERIAL / DLT_PPP: PPP in HDLC-like framing.
    Ppp,
    /// DLT_IEEE802_11: 802.11 frames without radio headers.
    Ieee80211,
    /// DLT_IEEE802_11_RADIO: 802.11 frames behind a radiotap header.
    Radiotap,
}

impl LinkType {
    /// Maps a libpcap link-layer header type to one apitap decodes.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            // DLT_RAW is 12 on most BSDs and 14 on OpenBSD; pcap files use LINKTYPE_RAW (101).
            12 | 14 | 101 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            239 => LinkType::Nflog,
            104 => LinkType::CiscoHdlc,
            9 | 50 => LinkType::Ppp,
            105 => LinkType::Ieee80211,
            127 => LinkType::Radiotap,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkType::Ethernet => "ethernet",
            LinkType::LinuxSll => "linux_sll",
            LinkType::LinuxSll2 => "linux_sll2",
            LinkType::Raw => "raw",
            LinkType::Ipv4 => "ipv4",
            LinkType::Ipv6 => "ipv6",
            LinkType::Null => "null",
            LinkType::Loop => "loop",
            LinkType::Nflog => "nflog",
            LinkType::CiscoHdlc => "c_hdlc",
            LinkType::Ppp => "ppp",
            LinkType::Ieee80211 => "ieee802_11",
            LinkType::Radiotap => "radiotap",
        }
    }

    /// Human list of what is supported, for error messages.
    pub const SUPPORTED: &'static str =
        "Ethernet, Linux cooked v1/v2, raw IPv4/IPv6, BSD null/loopback, NFLOG, Cisco HDLC, PPP, 802.11, radiotap";
}

/// One captured frame, borrowed from its source until the next `next_packet` call.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    /// Length on the wire; larger than `data.len()` when the snaplen cut the frame.
    pub wire_len: u32,
    pub link: LinkType,
    pub data: &'a [u8],
    /// The shared block `data` lies in, when the source reads into shared blocks: slices of
    /// the frame can then outlive the call, by holding the block.
    pub block: Option<&'a SharedBlock>,
}

impl<'a> Packet<'a> {
    /// A frame that lives only until the next call.
    pub fn new(ts: Timestamp, wire_len: u32, link: LinkType, data: &'a [u8]) -> Packet<'a> {
        Packet { ts, wire_len, link, data, block: None }
    }
}

/// An immutable block of capture bytes that threads share by reference count. Whoever
/// holds a clone may keep slices of it; the reader reuses a block once no clone is left.
#[derive(Clone, Debug)]
pub struct SharedBlock(Arc<Vec<u8>>);

impl SharedBlock {
    /// Where `part` lies in this block, if it is a slice of it.
    pub fn range_of(&self, part: &[u8]) -> Option<Range<usize>> {
        // Comparing addresses, not dereferencing them: safe whatever `part` is.
        let base = self.0.as_ptr() as usize;
        let start = (part.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(part.len())?;
        (end <= self.0.len()).then_some(start..end)
    }

    /// The bytes at `r`, empty if out of range.
    pub fn get(&self, r: Range<usize>) -> &[u8] {
        self.0.get(r).unwrap_or(&[])
    }

    /// Whether both are the same block.
    pub fn same(&self, other: &SharedBlock) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// An owned copy of a frame, for sources that must hold a packet across calls.
#[derive(Clone, Debug)]
pub struct OwnedPacket {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub link: LinkType,
    pub data: Vec<u8>,
}

impl OwnedPacket {
    pub fn borrow(&self) -> Packet<'_> {
        Packet::new(self.ts, self.wire_len, self.link, &self.data)
    }

    pub fn copy_from(&mut self, p: &Packet<'_>) {
        self.ts = p.ts;
        self.wire_len = p.wire_len;
        self.link = p.link;
        self.data.clear();
        self.data.extend_from_slice(p.data);
    }
}

/// Where packets come from.
pub trait PacketSource {
    /// The next frame, `Ok(None)` at the end of the input. An `Err` ends the source; frames
    /// returned before it stay valid input (a capture truncated mid-packet is such a case).
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError>;
}

/// Why a capture could not be opened or read. Every variant names the input it is about.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("cannot open capture '{path}': {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("'{path}' is not a pcap or pcapng capture ({reason})")]
    NotACapture { path: PathBuf, reason: String },
    #[error("'{path}': link type {dlt} ({name}) is not supported; apitap decodes {supported}")]
    UnsupportedLinkType { path: PathBuf, dlt: i32, name: String, supported: &'static str },
    #[error("bad capture filter '{filter}': {reason}")]
    Filter { filter: String, reason: String },
    #[error("'{path}' is truncated after {packets} packets ({reason})")]
    Truncated { path: PathBuf, packets: u64, reason: String },
    #[error("error reading '{path}' after {packets} packets: {reason}")]
    Read { path: PathBuf, packets: u64, reason: String },
    #[error("interface '{iface}': {reason}")]
    Device { iface: String, reason: String },
}

impl CaptureError {
    /// True when the error ends the input but everything read before it is good: the case
    /// where apitap flushes what it has and warns instead of failing.
    pub fn is_truncation(&self) -> bool {
        matches!(self, CaptureError::Truncated { .. })
    }
}
