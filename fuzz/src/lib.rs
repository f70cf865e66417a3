//! Shared by the fuzz targets: an allocator that aborts on any single
//! allocation larger than [`MAX_ALLOCATION`], so that an input making the
//! code reserve memory it does not justify (a declared length trusted
//! before the bytes are there) is a crash with the input saved, not a slow
//! climb towards libFuzzer's RSS limit that blames whichever input runs
//! when the limit is crossed. Inputs are at most a few KB; nothing they
//! justify comes near the cap.

use std::alloc::{GlobalAlloc, Layout, System};

/// Largest single allocation a fuzz input may cause.
pub const MAX_ALLOCATION: usize = 64 << 20;

/// The system allocator, with the cap.
pub struct Capped;

// SAFETY: every call is forwarded unchanged to `System`; the cap only
// aborts before forwarding.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

fn check(size: usize) {
    if size > MAX_ALLOCATION {
        // No message: formatting would allocate inside the allocator.
        std::process::abort();
    }
}
