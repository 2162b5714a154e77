//! Bounds-checked reads from packet bytes. Every read of a header field goes through these,
//! so a short buffer is a `None`, never a panic.

#[inline]
pub fn u8_at(d: &[u8], off: usize) -> Option<u8> {
    d.get(off).copied()
}

#[inline]
pub fn be16(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[inline]
pub fn le16(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

#[inline]
pub fn be32(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[inline]
pub fn le32(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// `&d[off..]`, or an empty slice when `off` is past the end.
#[inline]
pub fn tail(d: &[u8], off: usize) -> &[u8] {
    d.get(off..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_are_none() {
        let d = [1u8, 2, 3];
        assert_eq!(be16(&d, 1), Some(0x0203));
        assert_eq!(be16(&d, 2), None);
        assert_eq!(be32(&d, 0), None);
        assert_eq!(be16(&d, usize::MAX), None);
        assert_eq!(tail(&d, 5), &[] as &[u8]);
        assert_eq!(le16(&d, 0), Some(0x0201));
    }
}
