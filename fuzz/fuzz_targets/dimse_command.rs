//! Any bytes as a DIMSE command set; what decodes re-encodes and decodes
//! to the same command.
#![no_main]
use dicom_net::command::Command;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: filmless_fuzz::Capped = filmless_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Command::decode(data) {
        let again = Command::decode(&c.encode()).expect("an encoded command decodes");
        assert_eq!(format!("{c:?}"), format!("{again:?}"));
    }
});
