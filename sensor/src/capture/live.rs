//! Live capture from one or more interfaces through libpcap.
//!
//! By default the kernel packs frames into blocks of its capture ring (TPACKET_V3) and hands
//! a block over when it fills or [`BLOCK_TIMEOUT_MS`] after its first frame, so a frame
//! waits at most that long on a quiet link and a busy one costs one wake-up per block.
//! libpcap's immediate mode (`LiveOptions::immediate`) hands over every frame at once, but on
//! Linux it does so with TPACKET_V2, whose ring has one fixed slot per frame as large as the
//! snaplen (the MTU only when every offload of the interface is off): with whole frames kept
//! and offloads on, the default 64 MiB became 1,023 slots of 128 KiB (128 MiB of ring), and
//! a veth carrying 1 to 2 Gbit/s of API traffic lost frames to it (docs/performance.md, live
//! capture). Blocks hold frames at their own size: 64 MiB is about 40,000 full-size
//! Ethernet frames.
//!
//! All interfaces are read by one thread: each handle is nonblocking, the interfaces are
//! taken in turn, and when none has a packet the thread sleeps in `poll(2)` on all of them
//! for at most the idle timeout, so a quiet network still lets the caller flush records and
//! run timeouts. The kernel's drop counters are available at any time.

use super::{CaptureError, LinkType, Packet};
use crate::time::Timestamp;
use pcap::{Active, Capture};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// Capture settings shared by every interface.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Bytes kept per frame; 0 keeps whole frames (libpcap's maximum).
    pub snaplen: i32,
    pub promisc: bool,
    /// Kernel buffer in bytes; 0 keeps libpcap's default.
    pub buffer_size: i32,
    pub filter: Option<String>,
    /// libpcap's immediate mode: every frame handed over as it arrives, in a ring of
    /// snaplen-sized slots (see the module documentation for what that costs).
    pub immediate: bool,
}

/// The longest a partly filled ring block is held back (TPACKET_V3's retire timeout, and
/// Suricata's AF_PACKET default). Not used in immediate mode.
pub const BLOCK_TIMEOUT_MS: i32 = 10;

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions { snaplen: 0, promisc: true, buffer_size: 64 << 20, filter: None, immediate: false }
    }
}

/// Packet counters one interface's kernel side reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfaceStats {
    pub name: String,
    /// Packets the kernel handed to the capture (libpcap's `ps_recv`).
    pub received: u64,
    /// Dropped because the capture buffer was full (`ps_drop`).
    pub dropped: u64,
    /// Dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u64,
}

struct Iface {
    name: String,
    cap: Capture<Active>,
    link: LinkType,
    /// libpcap's counters are 32 bits and wrap; these accumulate across wraps.
    last: pcap::Stat,
    totals: IfaceStats,
}

/// One or more interfaces read as one stream of packets.
pub struct LiveSource {
    ifaces: Vec<Iface>,
}

/// Packets taken from one interface before the next gets its turn.
const TURN: usize = 64;

impl LiveSource {
    /// Opens every interface (all must open; the error names the one that did not).
    pub fn open(names: &[String], opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        let mut ifaces = Vec::with_capacity(names.len());
        for name in names {
            let err = |reason: String| CaptureError::Device { iface: name.clone(), reason };
            let mut inactive = Capture::from_device(name.as_str())
                .map_err(|e| err(e.to_string()))?
                .promisc(opts.promisc)
                .immediate_mode(opts.immediate)
                .timeout(BLOCK_TIMEOUT_MS);
            inactive = inactive.snaplen(if opts.snaplen > 0 { opts.snaplen } else { 262_144 });
            if opts.buffer_size > 0 {
                inactive = inactive.buffer_size(opts.buffer_size);
            }
            let mut cap = inactive.open().map_err(|e| err(explain(e)))?;
            let dlt = cap.get_datalink();
            let link = LinkType::from_dlt(dlt.0).ok_or_else(|| CaptureError::UnsupportedLinkType {
                path: PathBuf::from(name),
                dlt: dlt.0,
                name: dlt.get_name().unwrap_or_else(|_| "unknown".into()),
                supported: LinkType::SUPPORTED,
            })?;
            if let Some(f) = &opts.filter {
                cap.filter(f, true).map_err(|e| CaptureError::Filter { filter: f.clone(), reason: e.to_string() })?;
            }
            let cap = cap.setnonblock().map_err(|e| err(e.to_string()))?;
            ifaces.push(Iface {
                name: name.clone(),
                cap,
                link,
                last: pcap::Stat { received: 0, dropped: 0, if_dropped: 0 },
                totals: IfaceStats { name: name.clone(), ..IfaceStats::default() },
            });
        }
        Ok(LiveSource { ifaces })
    }

    /// Reads up to `max` packets from whichever interfaces have them, a few from each in
    /// turn, handing each to `f`. When none has any, waits up to `timeout_ms` for one.
    /// Returns how many were read: 0 means the network was quiet for the whole timeout.
    pub fn read(&mut self, timeout_ms: i32, max: usize, f: &mut dyn FnMut(&Packet<'_>)) -> Result<usize, CaptureError> {
        let mut got = 0;
        for attempt in 0..2 {
            loop {
                let mut progress = false;
                for iface in self.ifaces.iter_mut() {
                    for _ in 0..TURN {
                        match iface.cap.next_packet() {
                            Ok(p) => {
                                // Live handles use microsecond timestamps. `timeval`
                                // fields are i32 on 32-bit targets, hence the conversion.
                                #[allow(clippy::useless_conversion)]
                                let ts = Timestamp::from_parts(i64::from(p.header.ts.tv_sec), i64::from(p.header.ts.tv_usec) * 1000);
                                f(&Packet::new(ts, p.header.len, iface.link, p.data));
                                got += 1;
                                progress = true;
                            }
                            Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => break,
                            Err(e) => return Err(CaptureError::Device { iface: iface.name.clone(), reason: e.to_string() }),
                        }
                        if got >= max {
                            return Ok(got);
                        }
                    }
                }
                if !progress {
                    break;
                }
            }
            if got > 0 || attempt == 1 || !self.wait(timeout_ms) {
                break;
            }
        }
        Ok(got)
    }

    /// Sleeps until some interface is readable or `timeout_ms` passes. True when readable.
    fn wait(&self, timeout_ms: i32) -> bool {
        let mut fds: Vec<libc::pollfd> =
            self.ifaces.iter().map(|i| libc::pollfd { fd: i.cap.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        // SAFETY: `fds` is a valid, initialised array of `fds.len()` pollfd structs that
        // outlives the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        r > 0
    }

    /// Kernel counters per interface, accumulated across libpcap's 32-bit wraps.
    pub fn stats(&mut self) -> Vec<IfaceStats> {
        for i in self.ifaces.iter_mut() {
            if let Ok(s) = i.cap.stats() {
                i.totals.received += u64::from(s.received.wrapping_sub(i.last.received));
                i.totals.dropped += u64::from(s.dropped.wrapping_sub(i.last.dropped));
                i.totals.if_dropped += u64::from(s.if_dropped.wrapping_sub(i.last.if_dropped));
                i.last = s;
            }
        }
        self.ifaces.iter().map(|i| i.totals.clone()).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.ifaces.iter().map(|i| i.name.clone()).collect()
    }
}

fn explain(e: pcap::Error) -> String {
    let s = e.to_string();
    if s.contains("permission") || s.contains("Operation not permitted") {
        format!("{s} (capturing needs root or CAP_NET_RAW; see --user to drop privileges afterwards)")
    } else {
        s
    }
}
