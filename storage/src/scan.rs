//! A byte-level scanner for DICOM Part 10 files (PS3.10 §7, PS3.5 §7).
//!
//! It finds where things are without decoding values: the end of the File
//! Meta Information, the transfer syntax, the position of Pixel Data, and —
//! fed the rest of the stream — the item headers of encapsulated pixel data
//! (PS3.5 §A.4). Ingest uses it to buffer only the header of an incoming
//! instance, and to record the byte range of every frame so that a later
//! frame request is one ranged read.
//!
//! The scanner is resumable: [`HeaderScanner::scan`] is called again with a
//! longer buffer when it answers [`Scan::NeedMore`].

use dicom_check::{has_long_length, Encoding};

use crate::error::{Error, Result};

const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_DELIMITER: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: (u16, u16) = (0xFFFE, 0xE0DD);
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Transfer syntax UIDs the scanner treats specially.
pub(crate) use dicom_check::EXPLICIT_VR_BE;
pub(crate) use dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN as IMPLICIT_VR_LE;

/// The File Meta Information fields ingest needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// (0002,0010) Transfer Syntax UID.
    pub transfer_syntax: String,
    /// (0002,0002) Media Storage SOP Class UID.
    pub media_storage_sop_class_uid: String,
    /// (0002,0003) Media Storage SOP Instance UID.
    pub media_storage_sop_instance_uid: String,
}

/// Where the Pixel Data element sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelDataPosition {
    /// Offset of the element's first header byte.
    pub element_offset: u64,
    /// Offset of the value's first byte (for encapsulated data: the first item).
    pub value_offset: u64,
    /// Value length; `None` for undefined length (encapsulated).
    pub length: Option<u32>,
}

/// Where the parts of a Part 10 file are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The File Meta Information.
    pub meta: FileMeta,
    /// Offset of the first data set byte.
    pub dataset_start: usize,
    /// Offset where the header ends: the Pixel Data element, or the end of
    /// the file when there is none. For deflated data sets, the file length.
    pub header_end: usize,
    /// Pixel Data, when present and the data set is not deflated.
    pub pixel_data: Option<PixelDataPosition>,
}

impl Layout {
    /// Whether the data set is deflated (PS3.5 §A.5): byte offsets inside it
    /// are meaningless and the whole file is its header.
    pub fn is_deflated(&self) -> bool {
        dicom_check::is_deflated(&self.meta.transfer_syntax)
    }
}

/// The scanner's answer.
#[derive(Debug)]
pub enum Scan {
    /// Call again with more bytes.
    NeedMore,
    /// The header is complete.
    Done(Layout),
}

/// Resumable scanner over the first bytes of a Part 10 file.
#[derive(Debug, Default)]
pub struct HeaderScanner {
    meta: Option<(FileMeta, usize)>,
    /// Offset of the next top-level data set element to look at.
    next_element: usize,
}

impl HeaderScanner {
    /// A scanner at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scan `buf`, the file's bytes from the start; `eof` says whether the
    /// file ends with `buf`.
    pub fn scan(&mut self, buf: &[u8], eof: bool) -> Result<Scan> {
        if self.meta.is_none() {
            match read_meta(buf)? {
                Some((meta, start)) => {
                    self.next_element = start;
                    self.meta = Some((meta, start));
                }
                None if eof => {
                    return Err(Error::invalid("file ends inside File Meta Information"))
                }
                None => return Ok(Scan::NeedMore),
            }
        }
        let (meta, dataset_start) = self.meta.clone().expect("meta parsed above");

        if dicom_check::is_deflated(&meta.transfer_syntax) {
            if !eof {
                return Ok(Scan::NeedMore);
            }
            return Ok(Scan::Done(Layout {
                meta,
                dataset_start,
                header_end: buf.len(),
                pixel_data: None,
            }));
        }

        let enc = Encoding::for_ts(&meta.transfer_syntax);
        loop {
            let pos = self.next_element;
            if pos == buf.len() && eof {
                return Ok(Scan::Done(Layout {
                    meta,
                    dataset_start,
                    header_end: pos,
                    pixel_data: None,
                }));
            }
            // Trailing padding shorter than an element header ends the data set.
            if eof && buf.len() - pos < 8 {
                return Err(Error::invalid("data set ends inside an element header"));
            }
            let Some(h) = read_header(buf, pos, enc)? else {
                return need_more(eof);
            };
            if h.group == 0x7FE0 && matches!(h.element, 0x0008 | 0x0009 | 0x0010) {
                return Ok(Scan::Done(Layout {
                    meta,
                    dataset_start,
                    header_end: pos,
                    pixel_data: Some(PixelDataPosition {
                        element_offset: pos as u64,
                        value_offset: (pos + h.header_len) as u64,
                        length: (h.length != UNDEFINED).then_some(h.length),
                    }),
                }));
            }
            let value_start = pos + h.header_len;
            let end = if h.length == UNDEFINED {
                let nested = if h.vr == *b"UN" {
                    Encoding::ImplicitLe
                } else {
                    enc
                };
                match skip_undefined_sequence(buf, value_start, nested)? {
                    Some(end) => end,
                    None => return need_more(eof),
                }
            } else {
                value_start + h.length as usize
            };
            if end > buf.len() {
                return need_more(eof);
            }
            self.next_element = end;
        }
    }
}

fn need_more(eof: bool) -> Result<Scan> {
    if eof {
        Err(Error::invalid("data set is truncated"))
    } else {
        Ok(Scan::NeedMore)
    }
}

/// Scan a complete file in memory.
pub fn scan_complete(buf: &[u8]) -> Result<Layout> {
    match HeaderScanner::new().scan(buf, true)? {
        Scan::Done(layout) => Ok(layout),
        Scan::NeedMore => Err(Error::invalid("data set is truncated")),
    }
}

struct ElementHeader {
    group: u16,
    element: u16,
    vr: [u8; 2],
    length: u32,
    header_len: usize,
}

fn read_header(buf: &[u8], pos: usize, enc: Encoding) -> Result<Option<ElementHeader>> {
    let Some(b) = buf.get(pos..pos + 8) else {
        return Ok(None);
    };
    let group = enc.u16(&b[0..2]);
    let element = enc.u16(&b[2..4]);
    // Item and delimiter tags never carry a VR (PS3.5 §7.5).
    if group == 0xFFFE || enc == Encoding::ImplicitLe {
        return Ok(Some(ElementHeader {
            group,
            element,
            vr: *b"  ",
            length: enc.u32(&b[4..8]),
            header_len: 8,
        }));
    }
    let vr = [b[4], b[5]];
    if !vr.iter().all(u8::is_ascii_uppercase) {
        return Err(Error::invalid(format!(
            "invalid VR at offset {pos} in an explicit VR data set"
        )));
    }
    // A VR the standard does not define (yet) is read as UN, with a 4-byte
    // length (PS3.5 §6.2.2), as dicom-rs reads it: the two must agree on
    // where every element starts.
    if has_long_length(vr) || dicom_core::VR::from_binary(vr).is_none() {
        let Some(l) = buf.get(pos + 8..pos + 12) else {
            return Ok(None);
        };
        Ok(Some(ElementHeader {
            group,
            element,
            vr,
            length: enc.u32(l),
            header_len: 12,
        }))
    } else {
        Ok(Some(ElementHeader {
            group,
            element,
            vr,
            length: u32::from(enc.u16(&b[6..8])),
            header_len: 8,
        }))
    }
}

/// Skip the items of an undefined-length sequence starting at `pos` (just
/// after the sequence's header); returns the offset after its delimiter, or
/// `None` when `buf` ends first.
fn skip_undefined_sequence(buf: &[u8], mut pos: usize, enc: Encoding) -> Result<Option<usize>> {
    loop {
        let Some(h) = read_header(buf, pos, enc)? else {
            return Ok(None);
        };
        pos += 8;
        match (h.group, h.element) {
            SEQUENCE_DELIMITER => return Ok(Some(pos)),
            ITEM if h.length == UNDEFINED => match skip_undefined_item(buf, pos, enc)? {
                Some(end) => pos = end,
                None => return Ok(None),
            },
            ITEM => pos += h.length as usize,
            _ => {
                return Err(Error::invalid(format!(
                    "unexpected tag ({:04X},{:04X}) inside a sequence at offset {pos}",
                    h.group, h.element
                )))
            }
        }
        if pos > buf.len() {
            return Ok(None);
        }
    }
}

/// Skip the elements of an undefined-length item; returns the offset after
/// its delimiter.
fn skip_undefined_item(buf: &[u8], mut pos: usize, enc: Encoding) -> Result<Option<usize>> {
    loop {
        let Some(h) = read_header(buf, pos, enc)? else {
            return Ok(None);
        };
        if (h.group, h.element) == ITEM_DELIMITER {
            return Ok(Some(pos + 8));
        }
        pos += h.header_len;
        if h.length == UNDEFINED {
            let nested = if h.vr == *b"UN" {
                Encoding::ImplicitLe
            } else {
                enc
            };
            match skip_undefined_sequence(buf, pos, nested)? {
                Some(end) => pos = end,
                None => return Ok(None),
            }
        } else {
            pos += h.length as usize;
        }
        if pos > buf.len() {
            return Ok(None);
        }
    }
}

/// Parse the File Meta Information; `None` when `buf` is too short.
fn read_meta(buf: &[u8]) -> Result<Option<(FileMeta, usize)>> {
    let start = if buf.len() >= 132 && &buf[128..132] == b"DICM" {
        132
    } else if buf.len() >= 4 && &buf[0..4] == b"DICM" {
        4
    } else if buf.len() < 132 {
        return Ok(None);
    } else {
        return Err(Error::invalid(
            "no File Meta Information (not a DICOM Part 10 file: 'DICM' prefix missing)",
        ));
    };
    let mut meta = FileMeta::default();
    let mut pos = start;
    loop {
        // The data set after the meta group may be implicit VR: look at the
        // group before reading the element as explicit VR.
        let Some(group) = buf.get(pos..pos + 2) else {
            return Ok(None);
        };
        if u16::from_le_bytes([group[0], group[1]]) != 0x0002 {
            break;
        }
        let Some(h) = read_header(buf, pos, Encoding::ExplicitLe)? else {
            return Ok(None);
        };
        if h.length == UNDEFINED {
            return Err(Error::invalid("undefined length in File Meta Information"));
        }
        let value_start = pos + h.header_len;
        let end = value_start + h.length as usize;
        let Some(value) = buf.get(value_start..end) else {
            return Ok(None);
        };
        let text = || {
            String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_owned()
        };
        match h.element {
            0x0002 => meta.media_storage_sop_class_uid = text(),
            0x0003 => meta.media_storage_sop_instance_uid = text(),
            0x0010 => meta.transfer_syntax = text(),
            _ => {}
        }
        pos = end;
    }
    if meta.transfer_syntax.is_empty() {
        return Err(Error::invalid(
            "File Meta Information has no Transfer Syntax UID (0002,0010)",
        ));
    }
    Ok(Some((meta, pos)))
}

/// One item of encapsulated pixel data: where its header starts and how long
/// its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the item header in the file.
    pub offset: u64,
    /// Length of the item value.
    pub length: u32,
}

impl Fragment {
    /// Offset just past the item's value.
    pub fn end(&self) -> u64 {
        self.offset + 8 + u64::from(self.length)
    }
}

/// A push parser for the items of encapsulated pixel data, fed the file's
/// bytes after the Pixel Data header in any fragmentation.
#[derive(Debug)]
pub struct FragmentScanner {
    /// Absolute offset of the next item header.
    next: u64,
    /// Bytes of a header split across feeds.
    partial: Vec<u8>,
    /// The Basic Offset Table being collected (first item's value).
    bot: Vec<u8>,
    bot_remaining: Option<usize>,
    fragments: Vec<Fragment>,
    seen_first_item: bool,
    done: bool,
}

impl FragmentScanner {
    /// Start at `value_offset`, the offset of the first item header.
    pub fn new(value_offset: u64) -> Self {
        FragmentScanner {
            next: value_offset,
            partial: Vec::with_capacity(8),
            bot: Vec::new(),
            bot_remaining: None,
            fragments: Vec::new(),
            seen_first_item: false,
            done: false,
        }
    }

    /// Feed `data`, which starts at absolute file offset `offset`.
    pub fn feed(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let end = offset + data.len() as u64;
        let mut cursor = offset;
        while !self.done && cursor < end {
            if let Some(remaining) = self.bot_remaining {
                let take = remaining.min((end - cursor) as usize);
                let start = (cursor - offset) as usize;
                self.bot.extend_from_slice(&data[start..start + take]);
                cursor += take as u64;
                self.bot_remaining = (remaining > take).then_some(remaining - take);
                continue;
            }
            if cursor < self.next {
                cursor = self.next.min(end);
                continue;
            }
            let start = (cursor - offset) as usize;
            let need = 8 - self.partial.len();
            let take = need.min(data.len() - start);
            self.partial.extend_from_slice(&data[start..start + take]);
            cursor += take as u64;
            if self.partial.len() < 8 {
                break;
            }
            let p = std::mem::take(&mut self.partial);
            let tag = (
                u16::from_le_bytes([p[0], p[1]]),
                u16::from_le_bytes([p[2], p[3]]),
            );
            let length = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
            let header_at = self.next;
            match tag {
                SEQUENCE_DELIMITER => self.done = true,
                ITEM if length != UNDEFINED => {
                    if self.seen_first_item {
                        self.fragments.push(Fragment {
                            offset: header_at,
                            length,
                        });
                    } else {
                        self.seen_first_item = true;
                        if length > 0 {
                            self.bot_remaining = Some(length as usize);
                        }
                    }
                    self.next = header_at + 8 + u64::from(length);
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "unexpected tag ({:04X},{:04X}) in encapsulated pixel data at offset {header_at}",
                        tag.0, tag.1
                    )))
                }
            }
        }
        Ok(())
    }

    /// Finish: the Basic Offset Table and the fragments. Errors when the
    /// sequence delimiter was never seen.
    pub fn finish(self) -> Result<(Vec<u32>, Vec<Fragment>)> {
        if !self.done {
            return Err(Error::invalid(
                "encapsulated pixel data is truncated (no sequence delimiter)",
            ));
        }
        let bot = self
            .bot
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((bot, self.fragments))
    }
}

/// The byte range `[start, end)` of one frame in the original file. For
/// encapsulated data the range covers the frame's item headers too, which a
/// reader strips with [`strip_item_headers`].
pub type FrameRange = (u64, u64);

/// Map encapsulated fragments to frames (PS3.5 §A.4): one frame takes all
/// fragments; otherwise the Basic Offset Table decides, or one fragment per
/// frame. Returns an empty list when the mapping cannot be known.
pub fn encapsulated_frames(frames: u32, bot: &[u32], fragments: &[Fragment]) -> Vec<FrameRange> {
    let (Some(first), Some(last)) = (fragments.first(), fragments.last()) else {
        return Vec::new();
    };
    if frames <= 1 {
        return vec![(first.offset, last.end())];
    }
    let n = frames as usize;
    if bot.len() == n {
        let base = first.offset;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let start = base + u64::from(bot[i]);
            let stop = bot.get(i + 1).map_or(u64::MAX, |b| base + u64::from(*b));
            let members: Vec<&Fragment> = fragments
                .iter()
                .filter(|f| f.offset >= start && f.offset < stop)
                .collect();
            match (members.first(), members.last()) {
                (Some(a), Some(b)) if a.offset == start => out.push((a.offset, b.end())),
                _ => return Vec::new(),
            }
        }
        return out;
    }
    if fragments.len() == n {
        return fragments.iter().map(|f| (f.offset, f.end())).collect();
    }
    Vec::new()
}

/// Native (uncompressed) frames: `frames` equal slices of the value.
pub fn native_frames(
    value_offset: u64,
    length: u32,
    frames: u32,
    frame_len: Option<u64>,
) -> Vec<FrameRange> {
    let n = u64::from(frames.max(1));
    // Checked: Rows, Columns and Number of Frames come from the file, and
    // their product can wrap (then a tiny file would claim 2^31 frames).
    let len = frame_len
        .filter(|l| *l > 0 && l.checked_mul(n).is_some_and(|t| t <= u64::from(length)))
        .unwrap_or(u64::from(length) / n);
    if len == 0 {
        return Vec::new();
    }
    (0..n)
        .map(|i| (value_offset + i * len, value_offset + (i + 1) * len))
        .collect()
}

/// Concatenate the values of the items in `range`, a frame range of
/// encapsulated data read from the file.
pub fn strip_item_headers(range: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(range.len());
    let mut pos = 0;
    while pos < range.len() {
        let Some(h) = range.get(pos..pos + 8) else {
            return Err(Error::invalid("frame ends inside an item header"));
        };
        let tag = (
            u16::from_le_bytes([h[0], h[1]]),
            u16::from_le_bytes([h[2], h[3]]),
        );
        if tag != ITEM {
            return Err(Error::invalid("frame range does not start at an item"));
        }
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let value = range
            .get(pos + 8..pos + 8 + len)
            .ok_or_else(|| Error::invalid("frame item is truncated"))?;
        out.extend_from_slice(value);
        pos += 8 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le_element(out: &mut Vec<u8>, g: u16, e: u16, vr: &[u8; 2], value: &[u8]) {
        out.extend_from_slice(&g.to_le_bytes());
        out.extend_from_slice(&e.to_le_bytes());
        out.extend_from_slice(vr);
        if has_long_length(*vr) {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(value);
    }

    fn file(ts: &str, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        let mut ts_value = ts.as_bytes().to_vec();
        if ts_value.len() % 2 == 1 {
            ts_value.push(0);
        }
        le_element(&mut f, 0x0002, 0x0010, b"UI", &ts_value);
        f.extend_from_slice(body);
        f
    }

    fn item(out: &mut Vec<u8>, value: &[u8]) {
        out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }

    #[test]
    fn finds_native_pixel_data_after_nested_sequences() {
        let mut body = Vec::new();
        le_element(&mut body, 0x0008, 0x0018, b"UI", b"1.2.3\0");
        // An undefined-length sequence with one undefined-length item.
        body.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        le_element(&mut body, 0x0008, 0x1155, b"UI", b"1.2.4\0");
        body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let header_len = body.len();
        le_element(&mut body, 0x7FE0, 0x0010, b"OW", &[7u8; 16]);
        let f = file("1.2.840.10008.1.2.1", &body);

        // Feeding it byte by byte must give the same answer as all at once.
        let mut scanner = HeaderScanner::new();
        let mut layout = None;
        for n in 1..=f.len() {
            if let Scan::Done(l) = scanner.scan(&f[..n], n == f.len()).unwrap() {
                layout = Some(l);
                break;
            }
        }
        let layout = layout.expect("header found");
        assert_eq!(layout, scan_complete(&f).unwrap());
        assert_eq!(layout.header_end, layout.dataset_start + header_len);
        let pd = layout.pixel_data.unwrap();
        assert_eq!(pd.length, Some(16));
        assert_eq!(&f[pd.value_offset as usize..][..16], &[7u8; 16]);
        let frames = native_frames(pd.value_offset, 16, 2, Some(8));
        assert_eq!(
            frames,
            vec![
                (pd.value_offset, pd.value_offset + 8),
                (pd.value_offset + 8, pd.value_offset + 16)
            ]
        );
    }

    #[test]
    fn frame_counts_that_overflow_do_not_become_frames() {
        // 2^30 frames of 2^34 bytes multiply to 2^64, which wraps to 0; the
        // 16-byte value must not become 2^30 ranges (the fuzzer's OOM).
        let frames = native_frames(100, 16, 1 << 30, Some(1 << 34));
        assert!(frames.is_empty(), "{} frames", frames.len());
        let frames = native_frames(100, 16, 4, Some(u64::MAX / 2));
        assert_eq!(frames, vec![(100, 104), (104, 108), (108, 112), (112, 116)]);
    }

    #[test]
    fn maps_encapsulated_fragments_to_frames() {
        let mut body = Vec::new();
        body.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        // BOT for 2 frames: frame 0 = fragments 0+1, frame 1 = fragment 2.
        let frag = [vec![1u8; 4], vec![2u8; 6], vec![3u8; 2]];
        let off1 = 0u32;
        let off2 = (8 + 4 + 8 + 6) as u32;
        let mut bot = Vec::new();
        bot.extend_from_slice(&off1.to_le_bytes());
        bot.extend_from_slice(&off2.to_le_bytes());
        item(&mut body, &bot);
        for f in &frag {
            item(&mut body, f);
        }
        body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let f = file("1.2.840.10008.1.2.4.50", &body);
        let layout = scan_complete(&f).unwrap();
        let pd = layout.pixel_data.unwrap();
        assert_eq!(pd.length, None);

        // Feed in odd pieces to exercise split headers.
        let mut s = FragmentScanner::new(pd.value_offset);
        let rest = &f[pd.value_offset as usize..];
        let mut at = pd.value_offset;
        for piece in rest.chunks(3) {
            s.feed(at, piece).unwrap();
            at += piece.len() as u64;
        }
        let (bot, fragments) = s.finish().unwrap();
        assert_eq!(bot, vec![off1, off2]);
        assert_eq!(fragments.len(), 3);
        let frames = encapsulated_frames(2, &bot, &fragments);
        assert_eq!(frames.len(), 2);
        let f0 = strip_item_headers(&f[frames[0].0 as usize..frames[0].1 as usize]).unwrap();
        assert_eq!(f0, [frag[0].clone(), frag[1].clone()].concat());
        let f1 = strip_item_headers(&f[frames[1].0 as usize..frames[1].1 as usize]).unwrap();
        assert_eq!(f1, frag[2]);
        // Without a BOT and with as many fragments as frames: one each.
        assert_eq!(encapsulated_frames(3, &[], &fragments).len(), 3);
        // Single frame: everything.
        let all = encapsulated_frames(1, &[], &fragments);
        assert_eq!(
            strip_item_headers(&f[all[0].0 as usize..all[0].1 as usize])
                .unwrap()
                .len(),
            12
        );
    }

    #[test]
    fn truncated_and_foreign_input_is_an_error() {
        assert!(scan_complete(b"hello").is_err());
        assert!(scan_complete(&[0u8; 200]).is_err());
        let mut body = Vec::new();
        le_element(&mut body, 0x0010, 0x0010, b"PN", b"DOE^JOHN");
        let f = file("1.2.840.10008.1.2.1", &body);
        assert!(scan_complete(&f[..f.len() - 3]).is_err());
        assert!(scan_complete(&f).unwrap().pixel_data.is_none());
        let mut s = FragmentScanner::new(0);
        s.feed(0, &[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]).unwrap();
        assert!(s.finish().is_err());
    }
}
