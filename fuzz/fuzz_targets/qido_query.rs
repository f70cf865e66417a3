//! Any query string at every QIDO-RS level: a query whose SQL is built
//! for both databases, or a 400 reason; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: fuzz_harness::Capped = fuzz_harness::Capped;

fuzz_target!(|data: &[u8]| fuzz_harness::qido_query(data));
