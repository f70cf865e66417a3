//! Any bytes as a Part 10 file arriving for ingest: parsed, validated and
//! indexed attributes built, or refused with an error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: fuzz_harness::Capped = fuzz_harness::Capped;

fuzz_target!(|data: &[u8]| fuzz_harness::ingest(data));
