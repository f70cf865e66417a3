//! Any bytes as a C-FIND / C-MOVE / C-GET identifier from a peer: the first
//! byte picks the presentation context's transfer syntax (implicit, explicit
//! little or big endian, deflated), the rest is the data set. Decoded (its
//! declared lengths checked first) and turned into a query, or refused with
//! an error; never a panic, never memory the input does not justify.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: fuzz_harness::Capped = fuzz_harness::Capped;

fuzz_target!(|data: &[u8]| fuzz_harness::identifier(data));
