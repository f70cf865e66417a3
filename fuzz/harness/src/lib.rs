//! What each fuzz target does with one input, in one place for both of
//! its runners:
//!
//! - `fuzz/fuzz_targets/*.rs`: coverage-guided fuzzing with cargo-fuzz and
//!   libFuzzer (`scripts/fuzz --seconds N`, nightly toolchain), run on its
//!   own schedule;
//! - `tests/corpus.rs`: every committed input of `fuzz/corpus/TARGET/`
//!   (the seeds and every crash input turned regression) replayed as an
//!   ordinary test in the normal test run, on the stable toolchain.
//!
//! Both run under [`Capped`], an allocator that aborts on any single
//! allocation larger than [`MAX_ALLOCATION`], so an input that makes the
//! code reserve memory it does not justify (a declared length trusted
//! before the bytes are there) is a crash with the input saved, not a slow
//! climb towards libFuzzer's RSS limit that blames whichever input runs
//! when the limit is crossed. Inputs are at most a few KB; nothing they
//! justify comes near the cap.

use std::alloc::{GlobalAlloc, Layout, System};

use axum::http::{header, HeaderMap, HeaderValue};
use dicom_net::command::Command;
use storage::query::{Query, QueryLevel};
use storage::Backend;

/// What a target does with one input.
pub type Body = fn(&[u8]);

/// Every target: its name (the folder of its corpus) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("pdu", pdu),
    ("dimse_command", dimse_command),
    ("ingest", ingest),
    ("identifier", identifier),
    ("stow_multipart", stow_multipart),
    ("qido_query", qido_query),
    ("accept_header", accept_header),
];

/// Any bytes as an incoming PDU: an error or a PDU, never a panic.
pub fn pdu(data: &[u8]) {
    for strict in [true, false] {
        let _ = dicom_ul::pdu::read_pdu(data, 131_072, strict);
    }
}

/// Any bytes as a DIMSE command set; what decodes re-encodes and decodes
/// to the same command.
pub fn dimse_command(data: &[u8]) {
    if let Ok(c) = Command::decode(data) {
        let again = Command::decode(&c.encode()).expect("an encoded command decodes");
        assert_eq!(format!("{c:?}"), format!("{again:?}"));
    }
}

/// Any bytes as a Part 10 file arriving for ingest: parsed, validated and
/// indexed attributes built, or refused with an error; never a panic.
pub fn ingest(data: &[u8]) {
    let _ = storage::Prepared::parse(bytes::Bytes::copy_from_slice(data));
}

/// The transfer syntaxes an identifier may arrive in: implicit, explicit
/// little and big endian, deflated.
const SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
];

/// Any bytes as a C-FIND / C-MOVE / C-GET identifier from a peer: the first
/// byte picks the presentation context's transfer syntax, the rest is the
/// data set. Decoded (its declared lengths checked first) and turned into a
/// query, or refused with an error; never a panic, never memory the input
/// does not justify.
pub fn identifier(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ts = SYNTAXES[usize::from(pick) % SYNTAXES.len()];
    if let Ok(identifier) = dicom_net::dataset::decode(rest, ts) {
        let _ = Query::from_identifier(&identifier);
    }
}

/// A STOW-RS request: the first line is the Content-Type, the rest the
/// body. The boundary is taken as the server takes it and every part read
/// to its end, as the handler does.
pub fn stow_multipart(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(ct) = HeaderValue::from_bytes(&data[..split]) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, ct);
    let Ok(boundary) = filmless::dicomweb::stow::boundary(&headers) else {
        return;
    };
    let body = bytes::Bytes::copy_from_slice(&data[(split + 1).min(data.len())..]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async move {
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        while let Ok(Some(mut field)) = multipart.next_field().await {
            let _ = field.content_type();
            while let Ok(Some(_chunk)) = field.chunk().await {}
        }
    });
}

/// Any query string at every QIDO-RS level: a query whose SQL is built for
/// both databases, or a 400 reason; never a panic.
pub fn qido_query(data: &[u8]) {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for level in [QueryLevel::Study, QueryLevel::Series, QueryLevel::Instance] {
        if let Ok(q) = Query::from_qido(level, &params) {
            let _ = q.query.select_sql(Backend::Sqlite);
            let _ = q.query.select_sql(Backend::Postgres);
        }
    }
}

/// Any Accept header: media ranges or nothing; never a panic.
pub fn accept_header(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        for r in filmless::dicomweb::accept::parse(s.split('\n')) {
            let _ = r.matches("application/dicom");
        }
    }
}

/// Largest single allocation a fuzz input may cause.
pub const MAX_ALLOCATION: usize = 64 << 20;

/// The system allocator, with the cap.
pub struct Capped;

// SAFETY: every call is forwarded unchanged to `System`; the cap only
// aborts before forwarding.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

fn check(size: usize) {
    if size > MAX_ALLOCATION {
        // No message: formatting would allocate inside the allocator.
        std::process::abort();
    }
}
