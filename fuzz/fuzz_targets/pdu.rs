//! Any bytes as an incoming PDU: an error or a PDU, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: filmless_fuzz::Capped = filmless_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    for strict in [true, false] {
        let _ = dicom_ul::pdu::read_pdu(data, 131_072, strict);
    }
});
