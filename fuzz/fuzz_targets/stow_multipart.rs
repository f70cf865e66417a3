//! A STOW-RS request: the first line is the Content-Type, the rest the
//! body. The boundary is taken as the server takes it and every part read
//! to its end, as the handler does.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: fuzz_harness::Capped = fuzz_harness::Capped;

fuzz_target!(|data: &[u8]| fuzz_harness::stow_multipart(data));
