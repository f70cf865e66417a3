//! Check a DICOM data set's structure before dicom-rs decodes it.
//!
//! dicom-rs reserves and zero-fills the memory an element's Value Length
//! declares before it reads the value (dicom-parser 0.10's stateful
//! decoder), so a few hundred bytes that declare a 4 GB value cost 4 GB of
//! memory before the read fails — the same denial of service as GDCM's
//! CVE-2026-3650. Every data set that arrives from a peer (an instance to
//! store, a query identifier, an uploaded bare data set) is first walked
//! here, the way dicom-parser's `DataSetReader` walks it, and refused
//! unless every value, item and defined-length sequence fits inside its
//! container (PS3.5 §7.1, §7.5) and nesting stays under [`MAX_DEPTH`].
//! Values are never decoded: the walk costs one pass over the element
//! headers.
//!
//! To agree with dicom-rs on where every element starts, the walk makes the
//! same choices it does: an explicit VR it does not know is UN, with a
//! 4-byte length (PS3.5 §6.2.2: unknown VRs are handled as UN); in implicit
//! VR a tag is a sequence when the standard dictionary says SQ; any element
//! of undefined length is a sequence of items, in the same encoding; Pixel
//! Data of undefined length is a sequence of fragments.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_encoding::{TransferSyntax, TransferSyntaxIndex};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_DELIMITER: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: (u16, u16) = (0xFFFE, 0xE0DD);
const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Deepest nesting of sequences accepted. Real objects stay far below it
/// (structured reports are the deepest, a few dozen levels at most); the
/// limit keeps a crafted object from exhausting the stack of dicom-rs's
/// recursive decoder.
pub const MAX_DEPTH: usize = 64;

// Transfer syntaxes whose data set encoding differs from explicit VR
// little endian.
use dicom_dictionary_std::uids::{
    EXPLICIT_VR_LITTLE_ENDIAN as EXPLICIT_VR_LE, IMPLICIT_VR_LITTLE_ENDIAN as IMPLICIT_VR_LE,
};
/// Explicit VR Big Endian: retired from the standard (so deprecated in
/// dicom-dictionary-std) but still sent by old devices, and received here.
pub const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
/// Deflated Explicit VR Little Endian (PS3.5 §A.5).
pub const DEFLATED_EXPLICIT_VR_LE: &str =
    dicom_dictionary_std::uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN;

/// Most bytes a deflated data set may inflate to. Deflate compresses up to
/// about 1000:1, so a few hundred kilobytes could otherwise become
/// gigabytes; deflated objects are reports and small images, far below it.
pub const MAX_INFLATED: usize = 256 << 20;

/// A data set that must not be handed to the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value, item or sequence declares more bytes than its container
    /// holds.
    #[error(
        "element ({:04X},{:04X}) at offset {offset} declares {length} bytes but only {available} remain in its {container}",
        tag.0, tag.1
    )]
    Overrun {
        /// The element's tag.
        tag: (u16, u16),
        /// Offset of its header in the data set.
        offset: usize,
        /// Its declared length.
        length: u32,
        /// Bytes left in the enclosing item, sequence or data set.
        available: usize,
        /// What encloses it.
        container: &'static str,
    },
    /// Sequences nest deeper than [`MAX_DEPTH`].
    #[error("sequences nest deeper than {MAX_DEPTH} levels at offset {offset}")]
    TooDeep {
        /// Where the sequence that went too deep starts.
        offset: usize,
    },
    /// A deflated data set that does not inflate, or inflates past
    /// [`MAX_INFLATED`].
    #[error("deflated data set: {0}")]
    Deflate(String),
    /// Checked, but dicom-rs could not decode it.
    #[error("{0}")]
    Decode(String),
    /// Something other than an item or a delimiter inside a sequence, or a
    /// fragment of undefined length.
    #[error("{what} at offset {offset}")]
    Structure {
        /// What was found.
        what: String,
        /// Where.
        offset: usize,
    },
}

/// How a data set's elements are encoded (PS3.5 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Implicit VR little endian.
    ImplicitLe,
    /// Explicit VR little endian (and, once inflated, deflated explicit VR
    /// little endian; and every encapsulated syntax).
    ExplicitLe,
    /// Explicit VR big endian (retired).
    ExplicitBe,
}

impl Encoding {
    /// The encoding of data sets in transfer syntax `ts` (trailing padding
    /// ignored).
    pub fn for_ts(ts: &str) -> Self {
        match ts.trim_end_matches(['\0', ' ']) {
            IMPLICIT_VR_LE => Encoding::ImplicitLe,
            EXPLICIT_VR_BE => Encoding::ExplicitBe,
            _ => Encoding::ExplicitLe,
        }
    }

    /// A 16-bit value at the start of `b`.
    pub fn u16(self, b: &[u8]) -> u16 {
        match self {
            Encoding::ExplicitBe => u16::from_be_bytes([b[0], b[1]]),
            _ => u16::from_le_bytes([b[0], b[1]]),
        }
    }

    /// A 32-bit value at the start of `b`.
    pub fn u32(self, b: &[u8]) -> u32 {
        match self {
            Encoding::ExplicitBe => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
}

/// Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5
/// Table 7.1-1).
pub fn has_long_length(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// Whether data sets in transfer syntax `ts` are deflated as a whole
/// (PS3.5 §A.5): Deflated Explicit VR Little Endian, and the JPIP
/// Referenced Deflate syntaxes — every syntax dicom-rs decodes with a data
/// set codec. Their data sets are explicit VR little endian once inflated.
pub fn is_deflated(ts: &str) -> bool {
    TransferSyntaxRegistry
        .get(ts.trim_end_matches(['\0', ' ']))
        .is_some_and(|t| {
            matches!(
                t.codec(),
                dicom_encoding::transfer_syntax::Codec::Dataset(_)
            )
        })
}

/// Decode a bare data set that came from a peer, in transfer syntax `ts`:
/// checked with [`check_lengths`] first, and inflated here (within
/// [`MAX_INFLATED`]) when deflated, so that dicom-rs never reserves more
/// memory than the data holds.
pub fn read_dataset(data: &[u8], ts: &TransferSyntax) -> Result<InMemDicomObject, Error> {
    let decode = |data: &[u8], ts| {
        InMemDicomObject::read_dataset_with_ts(data, ts).map_err(|e| Error::Decode(e.to_string()))
    };
    if is_deflated(ts.uid()) {
        let inflated = inflate(data)?;
        check_lengths(&inflated, Encoding::ExplicitLe)?;
        let explicit = TransferSyntaxRegistry
            .get(EXPLICIT_VR_LE)
            .ok_or_else(|| Error::Decode("explicit VR little endian is not registered".into()))?;
        return decode(&inflated, explicit);
    }
    check_lengths(data, Encoding::for_ts(ts.uid()))?;
    decode(data, ts)
}

/// What the File Meta Information of a Part 10 file says, and where its
/// data set starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10Meta {
    /// (0002,0002) Media Storage SOP Class UID.
    pub sop_class_uid: String,
    /// (0002,0003) Media Storage SOP Instance UID.
    pub sop_instance_uid: String,
    /// (0002,0010) Transfer Syntax UID.
    pub transfer_syntax: String,
    /// Offset of the data set in the file.
    pub data_set_start: usize,
}

/// Whether `data` starts as a Part 10 file: "DICM" after a 128-byte
/// preamble, or at the very start (files written without one).
pub fn is_part10(data: &[u8]) -> bool {
    data.get(128..132) == Some(b"DICM") || data.get(0..4) == Some(b"DICM")
}

/// Read the File Meta Information of a Part 10 file (with or without its
/// 128-byte preamble), checked first as [`read_part10`] checks it: the one
/// reader of Part 10 headers for every caller.
pub fn part10_meta(part10: &[u8]) -> Result<Part10Meta, Error> {
    let (meta, start) = read_meta(part10)?;
    Ok(Part10Meta {
        sop_class_uid: meta
            .media_storage_sop_class_uid()
            .trim_end_matches('\0')
            .to_owned(),
        sop_instance_uid: meta
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0')
            .to_owned(),
        transfer_syntax: meta.transfer_syntax().trim_end_matches('\0').to_owned(),
        data_set_start: start,
    })
}

/// The File Meta Information table and where the data set starts.
fn read_meta(part10: &[u8]) -> Result<(dicom_object::meta::FileMetaTable, usize), Error> {
    let preamble = if part10.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    let mut rest = &part10[preamble..];
    check_meta(rest)?;
    let before = rest.len();
    // Reads exactly the meta group (its group length says how much).
    let meta = dicom_object::meta::FileMetaTable::from_reader(&mut rest)
        .map_err(|e| Error::Decode(e.to_string()))?;
    Ok((meta, preamble + before - rest.len()))
}

/// Decode a whole Part 10 file (with or without its 128-byte preamble),
/// its data set checked as [`read_dataset`] checks it. The File Meta
/// Information must carry its group length, as PS3.10 §7.1 requires.
pub fn read_part10(part10: &[u8]) -> Result<dicom_object::DefaultDicomObject, Error> {
    let (meta, start) = read_meta(part10)?;
    let ts = TransferSyntaxRegistry
        .get(meta.transfer_syntax())
        .ok_or_else(|| {
            Error::Decode(format!(
                "unknown transfer syntax {}",
                meta.transfer_syntax()
            ))
        })?;
    Ok(read_dataset(&part10[start..], ts)?.with_exact_meta(meta))
}

/// Check the File Meta Information after "DICM" at the start of `data`:
/// dicom-object reserves what each of its elements declares, too. Its
/// extent is what (0002,0000) File Meta Information Group Length says.
fn check_meta(data: &[u8]) -> Result<(), Error> {
    let structure = |what: &str| Error::Structure {
        what: what.into(),
        offset: 0,
    };
    if data.get(0..4) != Some(b"DICM") {
        return Err(structure("no 'DICM' prefix"));
    }
    let group = &data[4..];
    match group.get(0..8) {
        Some([0x02, 0x00, 0x00, 0x00, b'U', b'L', 0x04, 0x00]) => {}
        _ => {
            return Err(structure(
                "File Meta Information does not start with its group length (0002,0000)",
            ))
        }
    }
    let length = group
        .get(8..12)
        .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .ok_or_else(|| structure("File Meta Information is truncated"))?;
    let end = 12usize.saturating_add(length);
    let meta = group
        .get(..end)
        .ok_or_else(|| structure("File Meta Information is shorter than its group length"))?;
    check_lengths(meta, Encoding::ExplicitLe)
}

/// Inflate a deflated data set (PS3.5 §A.5: raw deflate, RFC 1951, no
/// zlib header) to at most [`MAX_INFLATED`] bytes. The result is explicit
/// VR little endian; check it with [`check_lengths`] before decoding it.
pub fn inflate(data: &[u8]) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(MAX_INFLATED));
    flate2::read::DeflateDecoder::new(data)
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Deflate(e.to_string()))?;
    if out.len() > MAX_INFLATED {
        return Err(Error::Deflate(format!(
            "inflates to more than {} MiB",
            MAX_INFLATED >> 20
        )));
    }
    Ok(out)
}

/// One open container during the walk.
#[derive(Debug, Clone, Copy)]
enum Open {
    /// `pixel`: a sequence of pixel data fragments, whose first item (the
    /// Basic Offset Table) is still to come while `table_next`.
    Sequence {
        end: Option<usize>,
        pixel: bool,
        table_next: bool,
    },
    Item {
        end: Option<usize>,
    },
}

impl Open {
    fn end(self) -> Option<usize> {
        match self {
            Open::Sequence { end, .. } | Open::Item { end } => end,
        }
    }
}

/// Check that every declared length in `data` — a bare data set in
/// `encoding`, without File Meta Information — fits its container, and that
/// sequences nest at most [`MAX_DEPTH`] deep. Data that ends early (inside
/// an element header, or before an undefined-length sequence is closed) is
/// left for the decoder to report: it allocates nothing for it.
pub fn check_lengths(data: &[u8], encoding: Encoding) -> Result<(), Error> {
    let mut open: Vec<Open> = Vec::new();
    let mut pos = 0usize;
    loop {
        // Defined-length containers close where their length says.
        while let Some(end) = open.last().and_then(|o| o.end()) {
            if pos != end {
                break;
            }
            open.pop();
        }
        let limit = open
            .iter()
            .rev()
            .find_map(|o| o.end())
            .unwrap_or(data.len());
        let container = match open.last() {
            None => "data set",
            Some(Open::Item { .. }) => "item",
            Some(Open::Sequence { .. }) => "sequence",
        };
        let Some(head) = data.get(pos..pos + 8) else {
            return Ok(());
        };
        let tag = (encoding.u16(&head[0..2]), encoding.u16(&head[2..4]));
        let overrun = move |length: u32, value_start: usize| -> Result<usize, Error> {
            let available = limit.saturating_sub(value_start);
            if length as usize > available {
                Err(Error::Overrun {
                    tag,
                    offset: pos,
                    length,
                    available,
                    container,
                })
            } else {
                Ok(value_start + length as usize)
            }
        };

        if let Some(&Open::Sequence { pixel, .. }) = open.last() {
            // Inside a sequence: only items and the sequence delimiter.
            if pos + 8 > limit {
                return Err(Error::Structure {
                    what: "item header crosses the end of its sequence".into(),
                    offset: pos,
                });
            }
            let length = encoding.u32(&head[4..8]);
            match tag {
                ITEM if length == UNDEFINED => {
                    if pixel {
                        return Err(Error::Structure {
                            what: "pixel data fragment of undefined length".into(),
                            offset: pos,
                        });
                    }
                    open.push(Open::Item { end: None });
                    pos += 8;
                }
                // A fragment is a value the decoder reads whole; the
                // offset table it reads as whole 32-bit numbers.
                ITEM if pixel => {
                    if let Some(Open::Sequence { table_next, .. }) = open.last_mut() {
                        if *table_next && length % 4 != 0 {
                            return Err(Error::Structure {
                                what: format!(
                                    "Basic Offset Table of {length} bytes, not a multiple of 4"
                                ),
                                offset: pos,
                            });
                        }
                        *table_next = false;
                    }
                    pos = overrun(length, pos + 8)?;
                }
                ITEM => {
                    let end = overrun(length, pos + 8)?;
                    open.push(Open::Item { end: Some(end) });
                    pos += 8;
                }
                SEQUENCE_DELIMITER => {
                    let empty_pixel = matches!(
                        open.pop(),
                        Some(Open::Sequence {
                            pixel: true,
                            table_next: true,
                            ..
                        })
                    );
                    pos += 8;
                    // dicom-rs closes an empty pixel sequence without
                    // checking whether its container ends there, and would
                    // read past the container's end.
                    if empty_pixel && open.last().and_then(|o| o.end()) == Some(pos) {
                        return Err(Error::Structure {
                            what: "encapsulated Pixel Data without items ends an item".into(),
                            offset: pos - 8,
                        });
                    }
                }
                (g, e) => {
                    return Err(Error::Structure {
                        what: format!("({g:04X},{e:04X}) inside a sequence, where an item belongs"),
                        offset: pos,
                    })
                }
            }
            continue;
        }

        // In a data set (the top level or an item): a data element.
        if tag == ITEM_DELIMITER {
            match open.last() {
                Some(Open::Item { end: None }) => {
                    open.pop();
                }
                // Outside any sequence, dicom-rs skips it.
                None => {}
                // dicom-rs would close the defined-length item here and
                // read on out of step with its length: refuse instead.
                Some(_) => {
                    return Err(Error::Structure {
                        what: "item delimiter inside an item of defined length".into(),
                        offset: pos,
                    })
                }
            }
            pos += 8;
            continue;
        }
        let (vr, length, header_len) = element_header(data, pos, tag, encoding);
        let Some(length) = length else {
            return Ok(());
        };
        let value_start = pos + header_len;
        if value_start > limit {
            return Err(Error::Structure {
                what: format!("element header crosses the end of its {container}"),
                offset: pos,
            });
        }
        // Tags whose dictionary VR is "US or SS" are read as SS, whatever
        // VR the bytes declare, once the decoder has met a signed Pixel
        // Representation (dicom-parser's pixel-representation override):
        // they must then be whole 16-bit numbers, and never a sequence.
        let xs = vr.is_some() && is_xs(tag);
        if xs && vr == Some(VR::SQ) && length != UNDEFINED {
            return Err(Error::Structure {
                what: format!(
                    "({:04X},{:04X}) is US or SS in the standard, not a sequence",
                    tag.0, tag.1
                ),
                offset: pos,
            });
        }
        let is_sequence = vr == Some(VR::SQ) || length == UNDEFINED;
        if !is_sequence {
            let size = if xs { 2 } else { vr.map_or(1, binary_size) };
            let end = overrun(length, value_start)?;
            let read = value_start + length as usize / size * size;
            if length as usize % size != 0 && open.is_empty() && data.len() - read < 8 {
                // The last element at the top level (odd-length Pixel Data
                // in implicit VR is seen from devices): dicom-rs reads the
                // whole numbers and then meets the end of the data.
                return Ok(());
            }
            if length as usize % size != 0 {
                // dicom-rs reads only whole numbers, then counts the
                // declared length as read: it would go on out of step.
                return Err(Error::Structure {
                    what: format!(
                        "element ({:04X},{:04X}) of VR {} has length {length}, not a multiple of {size}",
                        tag.0,
                        tag.1,
                        vr.map_or("??", VR::to_string)
                    ),
                    offset: pos,
                });
            }
            pos = end;
            continue;
        }
        let depth = open
            .iter()
            .filter(|o| matches!(o, Open::Sequence { .. }))
            .count();
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep { offset: pos });
        }
        let end = if length == UNDEFINED {
            None
        } else {
            Some(overrun(length, value_start)?)
        };
        // dicom-rs takes an explicit SQ as a sequence before it looks for
        // encapsulated Pixel Data.
        let pixel = tag == PIXEL_DATA && length == UNDEFINED && vr != Some(VR::SQ);
        open.push(Open::Sequence {
            end,
            pixel,
            table_next: pixel,
        });
        pos = value_start;
    }
}

/// Whether the standard gives `tag` the VR "US or SS".
fn is_xs(tag: (u16, u16)) -> bool {
    StandardDataDictionary
        .by_tag(Tag(tag.0, tag.1))
        .is_some_and(|e| e.vr() == dicom_core::dictionary::VirtualVr::Xs)
}

/// Size of one number in a value of binary VR `vr` (PS3.5 Table 6.2-1); 1
/// for text and bytes.
fn binary_size(vr: VR) -> usize {
    match vr {
        VR::US | VR::SS | VR::OW => 2,
        VR::AT | VR::FL | VR::OF | VR::SL | VR::OL | VR::UL => 4,
        VR::FD | VR::OD | VR::SV | VR::OV | VR::UV => 8,
        _ => 1,
    }
}

/// The VR (none for item and delimiter tags), the length (`None` when the data ends in
/// the header) and the header's size of the element at `pos`.
fn element_header(
    data: &[u8],
    pos: usize,
    tag: (u16, u16),
    encoding: Encoding,
) -> (Option<VR>, Option<u32>, usize) {
    let head = &data[pos..pos + 8];
    if encoding == Encoding::ImplicitLe {
        // Every tag, group FFFE included: the dictionary's generic group
        // length (gggg,0000) makes (FFFE,0000) a UL.
        // As dicom-rs's implicit VR decoder: the dictionary decides, and
        // Pixel Data and Overlay Data are OW.
        let is_ow = tag == PIXEL_DATA || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000);
        let vr = if is_ow {
            VR::OW
        } else {
            StandardDataDictionary
                .by_tag(Tag(tag.0, tag.1))
                .map_or(VR::UN, |entry| entry.vr().relaxed())
        };
        return (Some(vr), Some(encoding.u32(&head[4..8])), 8);
    }
    // Item and delimiter tags never carry a VR (PS3.5 §7.5).
    if tag.0 == 0xFFFE {
        return (None, Some(encoding.u32(&head[4..8])), 8);
    }
    let bytes = [head[4], head[5]];
    // dicom-rs reads a VR it does not know as UN.
    let vr = VR::from_binary(bytes).unwrap_or(VR::UN);
    if has_long_length(vr.to_bytes()) {
        let length = data.get(pos + 8..pos + 12).map(|l| encoding.u32(l));
        (Some(vr), length, 12)
    } else {
        (Some(vr), Some(u32::from(encoding.u16(&head[6..8]))), 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(out: &mut Vec<u8>, tag: (u16, u16), vr: &[u8; 2], value: &[u8]) {
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        out.extend_from_slice(vr);
        if has_long_length(*vr) {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(value);
    }

    fn header(out: &mut Vec<u8>, tag: (u16, u16), length: u32) {
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
    }

    /// A data set with a defined-length sequence holding one defined-length
    /// item, then an undefined-length sequence with an undefined-length item.
    fn nested() -> Vec<u8> {
        let mut item = Vec::new();
        element(&mut item, (0x0008, 0x0100), b"SH", b"T-D1100 ");
        let mut seq = Vec::new();
        header(&mut seq, ITEM, item.len() as u32);
        seq.extend_from_slice(&item);
        let mut out = Vec::new();
        element(&mut out, (0x0008, 0x0060), b"CS", b"CT");
        element(&mut out, (0x0008, 0x2218), b"SQ", &seq);
        out.extend_from_slice(&[0x08, 0x00, 0x32, 0x10, b'S', b'Q', 0, 0]);
        out.extend_from_slice(&UNDEFINED.to_le_bytes());
        header(&mut out, ITEM, UNDEFINED);
        element(&mut out, (0x0008, 0x0104), b"LO", b"chest ");
        header(&mut out, ITEM_DELIMITER, 0);
        header(&mut out, SEQUENCE_DELIMITER, 0);
        element(&mut out, (0x0010, 0x0010), b"PN", b"DOE^JOHN");
        out
    }

    #[test]
    fn well_formed_nesting_passes() {
        check_lengths(&nested(), Encoding::ExplicitLe).unwrap();
        check_lengths(&[], Encoding::ExplicitLe).unwrap();
    }

    #[test]
    fn a_value_longer_than_the_data_set_is_refused() {
        let mut data = nested();
        // (0010,0010) PN declares 8 bytes; make it a UT claiming ~4 GB.
        let mut bad = Vec::new();
        bad.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'U', b'T', 0, 0]);
        bad.extend_from_slice(&0xF000_0000u32.to_le_bytes());
        bad.extend_from_slice(b"DOE^JOHN");
        data.extend_from_slice(&bad);
        let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Overrun {
                    tag: (0x0010, 0x0010),
                    length: 0xF000_0000,
                    available: 8,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_vr_has_a_long_length_as_dicom_rs_reads_it() {
        // "QI" is no VR: read as UN, its "length" is the next 4 bytes after
        // 2 reserved ones — here "1.2." = 0x2E322E31, as in the fuzzer's
        // input.
        let mut data = Vec::new();
        data.extend_from_slice(&[0x08, 0x00, 0x18, 0x00, b'Q', b'I', 0x0C, 0x00]);
        data.extend_from_slice(b"1.2.3.4.5.6\0");
        let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Overrun {
                    length: 0x2E32_2E31,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_value_inside_an_item_must_fit_the_item() {
        // The item declares 10 bytes: its element's header and 2 bytes of
        // value; the element declares 8.
        let mut item = Vec::new();
        element(&mut item, (0x0008, 0x0100), b"SH", b"T-D1100 ");
        let mut seq = Vec::new();
        header(&mut seq, ITEM, 10);
        seq.extend_from_slice(&item);
        let mut data = Vec::new();
        element(&mut data, (0x0008, 0x2218), b"SQ", &seq);
        let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Overrun {
                    container: "item",
                    length: 8,
                    available: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn delimiters_out_of_step_with_lengths_are_refused() {
        // An item delimiter inside a defined-length item.
        let mut item = Vec::new();
        header(&mut item, ITEM_DELIMITER, 0);
        element(&mut item, (0x0008, 0x0100), b"SH", b"T-D1100 ");
        let mut seq = Vec::new();
        header(&mut seq, ITEM, item.len() as u32);
        seq.extend_from_slice(&item);
        let mut data = Vec::new();
        element(&mut data, (0x0008, 0x2218), b"SQ", &seq);
        assert!(matches!(
            check_lengths(&data, Encoding::ExplicitLe),
            Err(Error::Structure { .. })
        ));
        // An element header that starts inside an item and ends past it.
        let mut seq = Vec::new();
        header(&mut seq, ITEM, 4);
        element(&mut seq, (0x0008, 0x0100), b"SH", b"");
        let mut data = Vec::new();
        element(&mut data, (0x0008, 0x2218), b"SQ", &seq);
        let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
        assert!(matches!(err, Error::Structure { .. }), "{err}");
    }

    #[test]
    fn binary_values_hold_whole_numbers() {
        // UL of 3 bytes: dicom-rs would read none of them, count 3 as read,
        // and read the next header out of step (the fuzzer's input).
        let next = |data: &mut Vec<u8>| header(data, (0x0010, 0x0010), 0);
        let mut data = Vec::new();
        header(&mut data, (0x0000, 0x0000), 3);
        data.extend_from_slice(&[0, 0, 0]);
        next(&mut data);
        let err = check_lengths(&data, Encoding::ImplicitLe).unwrap_err();
        assert!(
            err.to_string()
                .contains("VR UL has length 3, not a multiple of 4"),
            "{err}"
        );
        // Group FFFE in implicit VR: (FFFE,0000) is a group length, UL.
        let mut data = Vec::new();
        header(&mut data, (0xFFFE, 0x0000), 2);
        data.extend_from_slice(&[0xFF, 0xFF]);
        next(&mut data);
        assert!(check_lengths(&data, Encoding::ImplicitLe).is_err());
        let mut data = Vec::new();
        element(&mut data, (0x0028, 0x0010), b"US", &[1, 0, 2]);
        element(&mut data, (0x0028, 0x0011), b"US", &[1, 0]);
        assert!(check_lengths(&data, Encoding::ExplicitLe).is_err());
        let mut data = Vec::new();
        element(&mut data, (0x0028, 0x0010), b"US", &[1, 0, 2, 0]);
        check_lengths(&data, Encoding::ExplicitLe).unwrap();
        // Odd-length Pixel Data (OW in implicit VR) last in the data set is
        // read as far as it goes; followed by another element it is not.
        let mut data = Vec::new();
        header(&mut data, (0x0010, 0x0010), 4);
        data.extend_from_slice(b"DOE ");
        header(&mut data, PIXEL_DATA, 5);
        data.extend_from_slice(&[1, 2, 3, 4, 5]);
        check_lengths(&data, Encoding::ImplicitLe).unwrap();
        header(&mut data, (0xFFFC, 0xFFFC), 0);
        assert!(check_lengths(&data, Encoding::ImplicitLe).is_err());
    }

    #[test]
    fn implicit_vr_sequences_come_from_the_dictionary() {
        // (0008,2218) Anatomic Region Sequence, implicit VR, defined length,
        // whose item holds an element declaring 2^31 bytes.
        let mut item = Vec::new();
        header(&mut item, (0x0008, 0x0100), 0x8000_0000);
        let mut seq = Vec::new();
        header(&mut seq, ITEM, item.len() as u32);
        seq.extend_from_slice(&item);
        let mut data = Vec::new();
        header(&mut data, (0x0008, 0x2218), seq.len() as u32);
        data.extend_from_slice(&seq);
        let err = check_lengths(&data, Encoding::ImplicitLe).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Overrun {
                    tag: (0x0008, 0x0100),
                    ..
                }
            ),
            "{err}"
        );
        // The same bytes as an opaque (non-sequence) value are fine.
        let mut opaque = Vec::new();
        header(&mut opaque, (0x0009, 0x1010), seq.len() as u32);
        opaque.extend_from_slice(&seq);
        check_lengths(&opaque, Encoding::ImplicitLe).unwrap();
    }

    #[test]
    fn fragments_must_fit_and_have_a_length() {
        let mut data = Vec::new();
        data.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
        data.extend_from_slice(&UNDEFINED.to_le_bytes());
        header(&mut data, ITEM, 0);
        header(&mut data, ITEM, 4);
        data.extend_from_slice(&[1, 2, 3, 4]);
        header(&mut data, SEQUENCE_DELIMITER, 0);
        check_lengths(&data, Encoding::ExplicitLe).unwrap();
        let mut big = data.clone();
        big[24..28].copy_from_slice(&0x4000_0000u32.to_le_bytes());
        assert!(matches!(
            check_lengths(&big, Encoding::ExplicitLe),
            Err(Error::Overrun { .. })
        ));
        let mut odd_table = data.clone();
        odd_table[16..20].copy_from_slice(&2u32.to_le_bytes());
        odd_table.splice(20..20, [0, 0]);
        let err = check_lengths(&odd_table, Encoding::ExplicitLe).unwrap_err();
        assert!(
            err.to_string().contains("Basic Offset Table of 2 bytes"),
            "{err}"
        );
        let mut undefined = data;
        undefined[24..28].copy_from_slice(&UNDEFINED.to_le_bytes());
        assert!(matches!(
            check_lengths(&undefined, Encoding::ExplicitLe),
            Err(Error::Structure { .. })
        ));
    }

    #[test]
    fn pixel_data_as_an_explicit_sq_is_a_sequence_of_items() {
        // As dicom-rs reads it: items of undefined length are allowed, and
        // their elements are checked.
        let mut data = vec![0xE0, 0x7F, 0x10, 0x00, b'S', b'Q', 0, 0];
        data.extend_from_slice(&UNDEFINED.to_le_bytes());
        header(&mut data, ITEM, UNDEFINED);
        element(&mut data, (0x0008, 0x0100), b"SH", b"T-D1100 ");
        header(&mut data, ITEM_DELIMITER, 0);
        header(&mut data, SEQUENCE_DELIMITER, 0);
        check_lengths(&data, Encoding::ExplicitLe).unwrap();
    }

    #[test]
    fn us_or_ss_tags_are_whole_16_bit_numbers_whatever_vr_is_declared() {
        // After a signed Pixel Representation dicom-rs reads (0028,0120)
        // Pixel Padding Value as SS even when declared OB: 3 bytes would
        // put it out of step, and the next "header" would declare 3.75 GiB.
        let mut data = Vec::new();
        element(&mut data, (0x0028, 0x0103), b"US", &[1, 0]);
        element(&mut data, (0x0028, 0x0120), b"OB", &[0x43, 0x43, 0x43]);
        data.extend_from_slice(&[0x09, 0x00, 0x10, 0x4F, b'D', b'A', 0, 0]);
        data.extend_from_slice(&[0x08, 0x00, 0xF0, 0x00, b'U', b'N', 0, 0, 0, 0, 0, 0]);
        let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
        assert!(err.to_string().contains("not a multiple of 2"), "{err}");
        // Nor may such a tag be a defined-length sequence.
        let mut data = Vec::new();
        element(&mut data, (0x0028, 0x0120), b"SQ", &[]);
        let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
        assert!(err.to_string().contains("not a sequence"), "{err}");
    }

    #[test]
    fn empty_encapsulated_pixel_data_may_not_end_an_item() {
        let mut data = vec![0x08, 0x00, 0x18, 0x22, b'S', b'Q', 0, 0];
        data.extend_from_slice(&UNDEFINED.to_le_bytes());
        header(&mut data, ITEM, 20);
        data.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
        data.extend_from_slice(&UNDEFINED.to_le_bytes());
        header(&mut data, SEQUENCE_DELIMITER, 0);
        // To dicom-rs, still inside the item, this is a UN of 0xF0000000.
        header(&mut data, SEQUENCE_DELIMITER, 0xF000_0000);
        let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
        assert!(
            err.to_string().contains("without items ends an item"),
            "{err}"
        );
    }

    #[test]
    fn every_deflated_syntax_is_inflated_here() {
        assert!(is_deflated(DEFLATED_EXPLICIT_VR_LE));
        assert!(is_deflated("1.2.840.10008.1.2.4.95"));
        assert!(!is_deflated(EXPLICIT_VR_LE));
        assert!(!is_deflated("1.2.840.10008.1.2.4.50"));
        // A JPIP Referenced Deflate data set that is no deflate stream is
        // refused by the inflater, not read as explicit VR.
        let jpip = TransferSyntaxRegistry
            .get("1.2.840.10008.1.2.4.95")
            .unwrap();
        let mut data = Vec::new();
        element(&mut data, (0x0010, 0x0010), b"PN", b"DOE^JOHN");
        assert!(matches!(read_dataset(&data, jpip), Err(Error::Deflate(_))));
    }

    #[test]
    fn file_meta_lengths_are_checked_too() {
        let mut part10 = vec![0u8; 128];
        part10.extend_from_slice(b"DICM");
        part10.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
        part10.extend_from_slice(&12u32.to_le_bytes());
        part10.extend_from_slice(&[0x02, 0x00, 0x02, 0x00, b'U', b'N', 0, 0]);
        part10.extend_from_slice(&0xF000_0000u32.to_le_bytes());
        let err = read_part10(&part10).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Overrun {
                    tag: (0x0002, 0x0002),
                    ..
                }
            ),
            "{err}"
        );
        // Without the group length: refused, not guessed.
        let mut no_length = vec![0u8; 128];
        no_length.extend_from_slice(b"DICM");
        no_length.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I', 2, 0, b'1', 0]);
        assert!(matches!(
            read_part10(&no_length),
            Err(Error::Structure { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut data = Vec::new();
        for _ in 0..=MAX_DEPTH {
            data.extend_from_slice(&[0x08, 0x00, 0x18, 0x22, b'S', b'Q', 0, 0]);
            data.extend_from_slice(&UNDEFINED.to_le_bytes());
            header(&mut data, ITEM, UNDEFINED);
        }
        assert!(matches!(
            check_lengths(&data, Encoding::ExplicitLe),
            Err(Error::TooDeep { .. })
        ));
        // One level less is accepted (the data simply ends early).
        let per_level = 20;
        check_lengths(&data[..per_level * MAX_DEPTH], Encoding::ExplicitLe).unwrap();
    }

    #[test]
    fn big_endian_lengths_are_read_big_endian() {
        let mut data = vec![0x00, 0x10, 0x00, 0x10, b'P', b'N', 0x00, 0x08];
        data.extend_from_slice(b"DOE^JOHN");
        check_lengths(&data, Encoding::ExplicitBe).unwrap();
        data[6..8].copy_from_slice(&[0x08, 0x00]);
        assert!(check_lengths(&data, Encoding::ExplicitBe).is_err());
    }

    #[test]
    fn deflated_data_sets_inflate_within_the_limit() {
        use std::io::Write;
        let deflate = |data: &[u8]| {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let data = nested();
        assert_eq!(inflate(&deflate(&data)).unwrap(), data);
        // A bomb: 300 MiB of zeros compresses to about 300 KB.
        let bomb = deflate(&vec![0u8; MAX_INFLATED + (44 << 20)]);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        assert!(matches!(inflate(&bomb), Err(Error::Deflate(_))));
        assert!(matches!(
            inflate(b"not deflate at all"),
            Err(Error::Deflate(_))
        ));
    }

    #[test]
    fn truncations_at_every_length_never_panic() {
        let data = nested();
        for n in 0..data.len() {
            let _ = check_lengths(&data[..n], Encoding::ExplicitLe);
            let _ = check_lengths(&data[..n], Encoding::ImplicitLe);
            let _ = check_lengths(&data[..n], Encoding::ExplicitBe);
        }
    }
}
