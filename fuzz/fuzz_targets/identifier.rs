//! Any bytes as a C-FIND / C-MOVE / C-GET identifier from a peer: the first
//! byte picks the presentation context's transfer syntax (implicit, explicit
//! little or big endian, deflated), the rest is the data set. Decoded (its
//! declared lengths checked first) and turned into a query, or refused with
//! an error; never a panic, never memory the input does not justify.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: filmless_fuzz::Capped = filmless_fuzz::Capped;

const SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ts = SYNTAXES[usize::from(pick) % SYNTAXES.len()];
    if let Ok(identifier) = dicom_net::dataset::decode(rest, ts) {
        let _ = storage::query::Query::from_identifier(&identifier);
    }
});
