//! Part 10 files: the File Meta Information read once for every caller
//! (checked first, as dicom-object reserves what its elements declare too),
//! and whole files decoded with their data sets checked.

use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::walk::check_lengths;
use crate::{read_dataset, Encoding, Error};

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
