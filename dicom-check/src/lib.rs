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

mod part10;
mod walk;

pub use part10::{is_part10, part10_meta, read_part10, Part10Meta};
pub use walk::check_lengths;

#[cfg(test)]
mod tests;
