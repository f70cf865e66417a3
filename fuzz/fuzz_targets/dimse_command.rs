//! Any bytes as a DIMSE command set; what decodes re-encodes and decodes
//! to the same command.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: fuzz_harness::Capped = fuzz_harness::Capped;

fuzz_target!(|data: &[u8]| fuzz_harness::dimse_command(data));
