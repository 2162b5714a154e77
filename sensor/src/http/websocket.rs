//! WebSocket frames (RFC 6455) peeled off a connection after a `101` upgrade, so that HTTP
//! tunneled through WebSocket (wstunnel and its kin, a known way to smuggle traffic past
//! proxies) is parsed like any other HTTP. Data frames are unmasked and passed on; control
//! frames are skipped. At most the 14 bytes of one frame header are held.

/// Follows the frames of one direction.
#[derive(Debug, Default)]
pub struct Deframer {
    header: Vec<u8>,
    remaining: u64,
    mask: Option<[u8; 4]>,
    mask_pos: usize,
    data_frame: bool,
}

impl Deframer {
    /// Appends the payload bytes of data frames in `d` to `out`.
    pub fn feed(&mut self, mut d: &[u8], out: &mut Vec<u8>) {
        while !d.is_empty() {
            if self.remaining == 0 && !self.header_complete() {
                let need = self.header_len().saturating_sub(self.header.len()).max(1);
                let take = need.min(d.len());
                self.header.extend_from_slice(&d[..take]);
                d = &d[take..];
                if self.header_complete() {
                    self.start_frame();
                }
                continue;
            }
            let n = (self.remaining.min(d.len() as u64)) as usize;
            if self.data_frame {
                let start = out.len();
                out.extend_from_slice(&d[..n]);
                if let Some(m) = self.mask {
                    for b in &mut out[start..] {
                        *b ^= m[self.mask_pos & 3];
                        self.mask_pos += 1;
                    }
                }
            }
            self.remaining -= n as u64;
            d = &d[n..];
            if self.remaining == 0 {
                self.header.clear();
            }
        }
    }

    /// Length of the header being collected, once its first two bytes are known.
    fn header_len(&self) -> usize {
        let (Some(&b1), true) = (self.header.get(1), self.header.len() >= 2) else { return 2 };
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
    }

    fn header_complete(&self) -> bool {
        self.header.len() >= 2 && self.header.len() >= self.header_len()
    }

    fn start_frame(&mut self) {
        let h = &self.header;
        let opcode = h[0] & 0x0f;
        let b1 = h[1];
        let (len, mut at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => (u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]), 10),
            n => (u64::from(n), 2),
        };
        self.mask = if b1 & 0x80 != 0 {
            let m = [h[at], h[at + 1], h[at + 2], h[at + 3]];
            at += 4;
            Some(m)
        } else {
            None
        };
        let _ = at;
        self.mask_pos = 0;
        self.remaining = len;
        // Continuation, text and binary frames carry the tunneled stream.
        self.data_frame = opcode <= 2;
        if len == 0 {
            self.header.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmasks_data_and_skips_control() {
        let mask = [1u8, 2, 3, 4];
        let payload = b"GET / HTTP/1.1\r\n";
        let mut frame = vec![0x82, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame.extend_from_slice(&[0x89, 0x02, b'h', b'i']);
        frame.extend_from_slice(&[0x81, 0x03, b'a', b'b', b'c']);
        for split in 1..frame.len() {
            let mut d = Deframer::default();
            let mut out = Vec::new();
            for part in frame.chunks(split) {
                d.feed(part, &mut out);
            }
            assert_eq!(out, b"GET / HTTP/1.1\r\nabc", "split {split}");
        }
    }

    #[test]
    fn extended_lengths() {
        let mut frame = vec![0x82, 126, 0x01, 0x00];
        frame.extend(std::iter::repeat_n(b'x', 256));
        let mut d = Deframer::default();
        let mut out = Vec::new();
        d.feed(&frame, &mut out);
        assert_eq!(out.len(), 256);
    }
}
