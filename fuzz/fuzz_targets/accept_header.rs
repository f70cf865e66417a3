//! Any Accept header: media ranges or nothing; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: filmless_fuzz::Capped = filmless_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        for r in filmless::dicomweb::accept::parse(s.split('\n')) {
            let _ = r.matches("application/dicom");
        }
    }
});
