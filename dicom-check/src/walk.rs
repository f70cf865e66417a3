//! The walk over a data set's element headers that refuses declared
//! lengths that do not fit their container, the way dicom-parser's
//! `DataSetReader` would read them.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::{
    has_long_length, Encoding, Error, ITEM, ITEM_DELIMITER, MAX_DEPTH, PIXEL_DATA,
    SEQUENCE_DELIMITER, UNDEFINED,
};

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
