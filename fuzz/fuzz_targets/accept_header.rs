//! Any Accept header: media ranges or nothing; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: fuzz_harness::Capped = fuzz_harness::Capped;

fuzz_target!(|data: &[u8]| fuzz_harness::accept_header(data));
