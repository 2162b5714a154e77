//! The global allocator apitap's binaries install: mimalloc, called the way the packet path
//! allocates. Records are built on flow workers and freed on the thread that writes them,
//! which glibc's allocator handles poorly and mimalloc well; every record allocates a dozen
//! small strings, so the cost of one allocation shows in replay speed.
//!
//! Guarantees: every block is aligned as its layout asks. Requests whose alignment any
//! mimalloc block already has (at most 8 bytes, and no more than the size) take
//! `mi_malloc`'s fast path; the rest go through `mi_malloc_aligned`, which checks and
//! adjusts the alignment on every call (a third of allocation time when used for all).

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// mimalloc with a fast path for ordinary alignments.
pub struct Allocator;

/// Every mimalloc block is a multiple of 8 bytes from an 8-aligned page start.
const PLAIN_ALIGN: usize = 8;

/// Whether a block of `size` bytes from `mi_malloc` is aligned enough for `align`.
fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

// SAFETY: each method forwards to the mimalloc call with the same contract, choosing the
// aligned variants whenever the plain ones could not honour the layout's alignment.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align(), layout.size()) { mi::mi_malloc(layout.size()) as *mut u8 } else { mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align(), layout.size()) { mi::mi_zalloc(layout.size()) as *mut u8 } else { mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(layout.align(), new_size) {
            mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_as_asked_and_keep_their_bytes() {
        let a = Allocator;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1usize, 3, 8, 24, 100, 4000, 70_000] {
                let l = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let p = a.alloc(l);
                    assert!(!p.is_null() && p as usize % align == 0, "alloc {size}/{align}");
                    p.write_bytes(0xa5, size);
                    let q = a.realloc(p, l, size * 3);
                    assert!(!q.is_null() && q as usize % align == 0, "realloc {size}/{align}");
                    assert!((0..size).all(|i| *q.add(i) == 0xa5));
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(l);
                    assert!(z as usize % align == 0 && (0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, l);
                }
            }
        }
    }
}
