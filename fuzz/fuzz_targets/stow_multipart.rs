//! A STOW-RS request: the first line is the Content-Type, the rest the
//! body. The boundary is taken as the server takes it and every part read
//! to its end, as the handler does.
#![no_main]
use axum::http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: filmless_fuzz::Capped = filmless_fuzz::Capped;

fuzz_target!(|data: &[u8]| {
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
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async move {
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        while let Ok(Some(mut field)) = multipart.next_field().await {
            let _ = field.content_type();
            while let Ok(Some(_chunk)) = field.chunk().await {}
        }
    });
});
