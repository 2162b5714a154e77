//! Several capture files merged into one stream in packet-time order, as mergecap does.
//! Each input holds exactly one pending frame (copied, since libpcap reuses its buffer), so
//! memory is one frame per file; ties go to the file named first, which keeps the merge
//! deterministic.

use super::{CaptureError, FileSource, OwnedPacket, Packet, PacketSource};
use crate::capture::LinkType;
use crate::time::Timestamp;

struct Input {
    src: FileSource,
    pending: OwnedPacket,
    has_pending: bool,
    error: Option<CaptureError>,
}

/// A k-way merge of [`FileSource`]s. With one input it adds one copy per frame; callers with
/// a single file should read the [`FileSource`] directly.
pub struct MergedSource {
    inputs: Vec<Input>,
    current: OwnedPacket,
    /// Errors from inputs that ended early, returned once every other input is drained.
    deferred: Vec<CaptureError>,
}

impl MergedSource {
    pub fn new(sources: Vec<FileSource>) -> MergedSource {
        let empty = || OwnedPacket { ts: Timestamp::ZERO, wire_len: 0, link: LinkType::Ethernet, data: Vec::new() };
        let mut inputs: Vec<Input> = sources
            .into_iter()
            .map(|src| Input { src, pending: empty(), has_pending: false, error: None })
            .collect();
        for i in inputs.iter_mut() {
            refill(i);
        }
        MergedSource { inputs, current: empty(), deferred: Vec::new() }
    }
}

fn refill(i: &mut Input) {
    i.has_pending = false;
    if i.error.is_some() {
        return;
    }
    match i.src.next_packet() {
        Ok(Some(p)) => {
            i.pending.copy_from(&p);
            i.has_pending = true;
        }
        Ok(None) => {}
        Err(e) => i.error = Some(e),
    }
}

impl PacketSource for MergedSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        for i in self.inputs.iter_mut() {
            if let Some(e) = i.error.take() {
                self.deferred.push(e);
            }
        }
        let best = self
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, i)| i.has_pending)
            .min_by_key(|(idx, i)| (i.pending.ts, *idx))
            .map(|(idx, _)| idx);
        match best {
            Some(idx) => {
                let input = &mut self.inputs[idx];
                std::mem::swap(&mut self.current, &mut input.pending);
                refill(input);
                Ok(Some(self.current.borrow()))
            }
            None => match self.deferred.pop() {
                Some(e) => Err(e),
                None => Ok(None),
            },
        }
    }
}
