//! Accept headers as real clients send them (PS3.18 §8.7): several media
//! ranges in one header or in several, q-values, quoted or unquoted
//! parameters, `multipart/related; type="application/dicom";
//! transfer-syntax=*`, and `accept=` query parameters that override the
//! header (OHIF sends those for thumbnails).

/// One acceptable media type.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// `type/subtype`, lower case.
    pub media_type: String,
    /// For `multipart/related`: the `type` parameter, lower case.
    pub part_type: Option<String>,
    /// The `transfer-syntax` parameter (`*` for any).
    pub transfer_syntax: Option<String>,
    /// The `boundary` parameter (a Content-Type's), as given.
    pub boundary: Option<String>,
    /// The q-value.
    pub q: f32,
}

impl MediaRange {
    /// Whether this range accepts `media_type` (wildcards allowed).
    pub fn matches(&self, media_type: &str) -> bool {
        let (want_t, want_s) = media_type.split_once('/').unwrap_or((media_type, ""));
        let (t, s) = self
            .media_type
            .split_once('/')
            .unwrap_or((&self.media_type, ""));
        (t == "*" || t == want_t) && (s == "*" || s == want_s)
    }
}

/// Parse every Accept value given (headers and `accept=` parameters),
/// best first. Ranges with q=0 are dropped.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<MediaRange> {
    let mut out = Vec::new();
    for value in values {
        for range in split_outside_quotes(value, ',') {
            if let Some(r) = parse_range(range) {
                if r.q > 0.0 {
                    out.push(r);
                }
            }
        }
    }
    // Stable: equal q keeps the client's order.
    out.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    out
}

fn parse_range(range: &str) -> Option<MediaRange> {
    let mut parts = split_outside_quotes(range, ';').into_iter();
    let media_type = parts.next()?.trim().to_ascii_lowercase();
    if media_type.is_empty() || !media_type.contains('/') {
        return None;
    }
    let mut r = MediaRange {
        media_type,
        part_type: None,
        transfer_syntax: None,
        boundary: None,
        q: 1.0,
    };
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "type" => r.part_type = Some(v.to_ascii_lowercase()),
            "transfer-syntax" => r.transfer_syntax = Some(v.to_owned()),
            "boundary" => r.boundary = Some(v.to_owned()),
            "q" => r.q = v.parse().unwrap_or(1.0),
            _ => {}
        }
    }
    Some(r)
}

/// Split on `sep` except inside double quotes (`type="a,b"` stays whole).
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_client_headers() {
        // OHIF's frame request.
        let r = parse(["multipart/related; type=application/octet-stream; transfer-syntax=*"]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].part_type.as_deref(), Some("application/octet-stream"));
        assert_eq!(r[0].transfer_syntax.as_deref(), Some("*"));
        // dicomweb-client's quoted form, and a merged list with q-values.
        let r = parse([
            "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.1, application/json;q=0.5",
            "application/dicom+json",
        ]);
        assert_eq!(r[0].media_type, "multipart/related");
        assert_eq!(r[0].part_type.as_deref(), Some("application/dicom"));
        assert_eq!(r[1].media_type, "application/dicom+json");
        assert_eq!(r[2].q, 0.5);
        assert!(r[1].matches("application/dicom+json"));
        assert!(parse(["*/*"])[0].matches("image/jpeg"));
        assert!(parse(["image/*;q=0"]).is_empty());
        assert!(parse(["garbage, ;;;, \"unterminated"]).is_empty());
    }
}
