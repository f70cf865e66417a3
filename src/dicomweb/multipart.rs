//! The one multipart/related writer (RFC 2387, PS3.18 §8.6.1.2) behind
//! every multipart response: instances, frames, bulk data, rendered
//! images. Parts go whole from memory or stream one after another.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};

/// A multipart/related body being written.
pub struct Multipart {
    boundary: String,
    part_type: String,
}

impl Multipart {
    /// A body whose parts are of `part_type` (the `type` parameter).
    pub fn new(part_type: &str) -> Self {
        Multipart {
            boundary: format!(
                "filmless-{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            ),
            part_type: part_type.to_owned(),
        }
    }

    fn content_type(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "multipart/related; type=\"{}\"; boundary={}",
            self.part_type, self.boundary
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("multipart/related"))
    }

    /// A part's delimiter and headers.
    fn head(boundary: &str, content_type: &str, len: usize) -> Bytes {
        Bytes::from(format!(
            "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n"
        ))
    }

    fn close(boundary: &str) -> Bytes {
        Bytes::from(format!("\r\n--{boundary}--\r\n"))
    }

    /// A 200 response with these parts (content type, bytes), its length
    /// known; the parts' bytes are sent as they are, not copied into one
    /// buffer (a frame is half a megabyte).
    pub fn whole(self, parts: Vec<(String, Bytes)>) -> Response {
        let mut pieces = Vec::with_capacity(parts.len() * 2 + 1);
        for (ct, bytes) in parts {
            pieces.push(Self::head(&self.boundary, &ct, bytes.len()));
            pieces.push(bytes);
        }
        pieces.push(Self::close(&self.boundary));
        let length: usize = pieces.iter().map(Bytes::len).sum();
        let body = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, self.content_type()),
                (header::CONTENT_LENGTH, HeaderValue::from(length)),
            ],
            Body::from_stream(body),
        )
            .into_response()
    }

    /// A 200 response whose parts are produced as it is sent; an error
    /// mid-way ends the body short, which the client sees as a broken
    /// multipart message.
    pub fn streamed<S>(self, parts: S) -> Response
    where
        S: Stream<Item = std::io::Result<(String, Bytes)>> + Send + 'static,
    {
        let content_type = self.content_type();
        let boundary = self.boundary;
        let end = Self::close(&boundary);
        let body = parts
            .map(move |part| {
                part.map(|(ct, bytes)| {
                    futures::stream::iter([Ok(Self::head(&boundary, &ct, bytes.len())), Ok(bytes)])
                })
            })
            .map(|r| match r {
                Ok(s) => s.boxed(),
                Err(e) => futures::stream::iter([Err(e)]).boxed(),
            })
            .flatten()
            .chain(futures::stream::iter([Ok::<_, std::io::Error>(end)]));
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type)],
            Body::from_stream(body),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_are_delimited_as_rfc_2387_says() {
        let m = Multipart::new("application/octet-stream");
        let r = m.whole(vec![
            (
                "application/octet-stream".into(),
                Bytes::from_static(b"abc"),
            ),
            ("application/octet-stream".into(), Bytes::from_static(b"de")),
        ]);
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let boundary = ct.split("boundary=").nth(1).unwrap().to_owned();
        assert!(ct.starts_with("multipart/related; type=\"application/octet-stream\""));
        let length: usize = r.headers()[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text.matches(&format!("--{boundary}\r\n")).count(), 2);
        assert!(text.contains("Content-Length: 3\r\n\r\nabc\r\n"));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
        assert_eq!(length, body.len());
    }
}
