//! Any bytes as a Part 10 file arriving for ingest: parsed, validated and
//! indexed attributes built, or refused with an error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: filmless_fuzz::Capped = filmless_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    let _ = storage::Prepared::parse(bytes::Bytes::copy_from_slice(data));
});
