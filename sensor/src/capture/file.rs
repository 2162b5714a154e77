//! Capture files: pcap (micro- and nanosecond) and pcapng, or stdin when the path is `-`.
//! Classic pcap files are read by the shared-block reader; everything else, and any replay
//! with a BPF filter, through libpcap. Frames are borrowed from the reader's buffer, never
//! copied here.

use super::block::{PcapBlockReader, ReadFail};
use super::{CaptureError, LinkType, Packet, PacketSource};
use crate::time::Timestamp;
use pcap::{Capture, Offline, Precision};
use std::path::{Path, PathBuf};

/// Which reader a [`FileSource`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The block reader where it applies, libpcap otherwise.
    Auto,
    /// libpcap always (tests compare the two).
    Libpcap,
}

enum Backend {
    Blocks(PcapBlockReader),
    Libpcap(Capture<Offline>),
}

/// One capture file (or stdin).
pub struct FileSource {
    backend: Backend,
    path: PathBuf,
    link: LinkType,
    packets: u64,
    done: bool,
}

impl FileSource {
    /// Opens `path` (`-` is stdin), checks its link type and installs an optional BPF filter.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<FileSource, CaptureError> {
        Self::open_with(path, filter, Reader::Auto)
    }

    /// As [`FileSource::open`], choosing the reader.
    pub fn open_with(path: &Path, filter: Option<&str>, reader: Reader) -> Result<FileSource, CaptureError> {
        let is_stdin = path.as_os_str() == "-";
        if !is_stdin {
            // libpcap's messages for these cases are terse; say it plainly ourselves.
            match std::fs::metadata(path) {
                Err(e) => {
                    return Err(CaptureError::Open { path: path.into(), reason: io_reason(&e) })
                }
                Ok(m) if m.is_dir() => {
                    return Err(CaptureError::Open { path: path.into(), reason: "is a directory".into() })
                }
                Ok(_) => {}
            }
            if filter.is_none() && reader == Reader::Auto {
                let file = std::fs::File::open(path)
                    .map_err(|e| CaptureError::Open { path: path.into(), reason: io_reason(&e) })?;
                let supported = |dlt: i32| LinkType::from_dlt(dlt).is_some();
                match PcapBlockReader::open(file, supported) {
                    Ok(Ok(r)) => {
                        let link = LinkType::from_dlt(r.linktype()).unwrap_or(LinkType::Ethernet);
                        return Ok(FileSource { backend: Backend::Blocks(r), path: path.into(), link, packets: 0, done: false });
                    }
                    Ok(Err(_not_ours)) => {}
                    Err(e) => return Err(CaptureError::Open { path: path.into(), reason: io_reason(&e) }),
                }
            }
        }
        let mut cap = Capture::from_file_with_precision(path, Precision::Nano)
            .map_err(|e| classify_open_error(path, e))?;
        let dlt = cap.get_datalink();
        let link = LinkType::from_dlt(dlt.0).ok_or_else(|| CaptureError::UnsupportedLinkType {
            path: path.into(),
            dlt: dlt.0,
            name: dlt.get_name().unwrap_or_else(|_| "unknown".into()),
            supported: LinkType::SUPPORTED,
        })?;
        if let Some(f) = filter {
            cap.filter(f, true)
                .map_err(|e| CaptureError::Filter { filter: f.to_string(), reason: pcap_reason(e) })?;
        }
        Ok(FileSource { backend: Backend::Libpcap(cap), path: path.into(), link, packets: 0, done: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn link_type(&self) -> LinkType {
        self.link
    }
}

impl PacketSource for FileSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let reason = match &mut self.backend {
            Backend::Blocks(r) => match r.next() {
                Ok(Some(f)) => {
                    self.packets += 1;
                    let ts = Timestamp::from_parts(i64::from(f.secs), f.nanos as i64);
                    return Ok(Some(Packet { ts, wire_len: f.wire_len, link: self.link, data: f.data, block: Some(f.block) }));
                }
                Ok(None) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(ReadFail::Truncated(r) | ReadFail::Invalid(r)) => r,
            },
            Backend::Libpcap(cap) => match cap.next_packet() {
                Ok(p) => {
                    self.packets += 1;
                    // Opened with nanosecond precision: tv_usec holds nanoseconds. time_t and
                    // suseconds_t are 32-bit on some targets, hence the conversions.
                    #[allow(clippy::useless_conversion)]
                    let ts = Timestamp::from_parts(i64::from(p.header.ts.tv_sec), i64::from(p.header.ts.tv_usec));
                    return Ok(Some(Packet::new(ts, p.header.len, self.link, p.data)));
                }
                Err(pcap::Error::NoMorePackets) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(e) => pcap_reason(e),
            },
        };
        self.done = true;
        if reason.contains("truncated") {
            Err(CaptureError::Truncated { path: self.path.clone(), packets: self.packets, reason })
        } else {
            Err(CaptureError::Read { path: self.path.clone(), packets: self.packets, reason })
        }
    }
}

fn pcap_reason(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s,
        other => other.to_string(),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn classify_open_error(path: &Path, e: pcap::Error) -> CaptureError {
    let reason = pcap_reason(e);
    // libpcap says "unknown file format" for foreign files and "truncated dump file" or
    // "... file header" when the file is too short to hold a capture header.
    let lower = reason.to_ascii_lowercase();
    if lower.contains("format") || lower.contains("truncated") || lower.contains("header") || lower.contains("magic") {
        CaptureError::NotACapture { path: path.into(), reason }
    } else {
        CaptureError::Open { path: path.into(), reason }
    }
}
