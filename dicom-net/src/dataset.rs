//! Data sets on the wire: identifiers decoded and encoded in a
//! presentation context's transfer syntax, and instances converted between
//! the native transfer syntaxes for sub-operations.

use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::{Error, Result};

/// The native transfer syntaxes, by their short names here.
pub use dicom_check::EXPLICIT_VR_BE;
pub use dicom_dictionary_std::uids::{
    EXPLICIT_VR_LITTLE_ENDIAN as EXPLICIT_VR_LE, IMPLICIT_VR_LITTLE_ENDIAN as IMPLICIT_VR_LE,
};

fn syntax(ts: &str) -> Result<&'static dicom_encoding::TransferSyntax> {
    TransferSyntaxRegistry
        .get(ts.trim_end_matches(['\0', ' ']))
        .ok_or_else(|| Error::DataSet(format!("unknown transfer syntax {ts}")))
}

/// Decode a data set from a peer in transfer syntax `ts`, its declared
/// lengths checked first (see [`dicom_check`]).
pub fn decode(bytes: &[u8], ts: &str) -> Result<InMemDicomObject> {
    dicom_check::read_dataset(bytes, syntax(ts)?).map_err(|e| Error::DataSet(e.to_string()))
}

/// Encode a data set in transfer syntax `ts`.
pub fn encode(obj: &InMemDicomObject, ts: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    obj.write_dataset_with_ts(&mut out, syntax(ts)?)
        .map_err(|e| Error::DataSet(e.to_string()))?;
    Ok(out)
}

/// Whether `ts` encodes pixel data natively (no compression).
pub fn is_native(ts: &str) -> bool {
    matches!(ts, IMPLICIT_VR_LE | EXPLICIT_VR_LE | EXPLICIT_VR_BE)
}

/// Re-encode a bare data set from one native transfer syntax to another.
/// Compressed data is decoded by [`decompress`], not here.
pub fn transcode(bytes: &[u8], from: &str, to: &str) -> Result<Vec<u8>> {
    if from == to {
        return Ok(bytes.to_vec());
    }
    if !is_native(from) || !is_native(to) {
        return Err(Error::DataSet(format!(
            "cannot convert {from} to {to}: compressed pixel data would have to be decoded"
        )));
    }
    encode(&decode(bytes, from)?, to)
}

/// Whether pixel data in `ts` can be decoded here (dicom-pixeldata's
/// native JPEG and RLE decoders, and the pure Rust JPEG 2000 decoder;
/// not JPEG-LS, whose codec is C++).
pub fn can_decompress(ts: &str) -> bool {
    TransferSyntaxRegistry
        .get(ts)
        .is_some_and(|t| t.can_decode_all())
}

/// Decode the pixel data of a whole Part 10 file into native pixel data and
/// return the data set in native transfer syntax `to`. CPU-bound: run it
/// off the async runtime.
pub fn decompress(part10: &[u8], to: &str) -> Result<Vec<u8>> {
    use dicom_pixeldata::Transcode;
    if !is_native(to) {
        return Err(Error::DataSet(format!(
            "{to} is not a native transfer syntax"
        )));
    }
    let mut obj = dicom_check::read_part10(part10).map_err(|e| Error::DataSet(e.to_string()))?;
    let target = syntax(to)?;
    obj.transcode(target)
        .map_err(|e| Error::DataSet(format!("cannot decompress: {e}")))?;
    let mut out = Vec::with_capacity(part10.len() * 2);
    obj.write_dataset_with_ts(&mut out, target)
        .map_err(|e| Error::DataSet(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;

    #[test]
    fn native_syntaxes_convert_both_ways() {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("DOE^JANE"),
        ));
        obj.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(512u16),
        ));
        let implicit = encode(&obj, IMPLICIT_VR_LE).unwrap();
        let explicit = transcode(&implicit, IMPLICIT_VR_LE, EXPLICIT_VR_LE).unwrap();
        assert_ne!(implicit, explicit);
        let big = transcode(&explicit, EXPLICIT_VR_LE, EXPLICIT_VR_BE).unwrap();
        let back = decode(&big, EXPLICIT_VR_BE).unwrap();
        assert_eq!(
            back.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(),
            512
        );
        assert_eq!(
            back.element(tags::PATIENT_NAME).unwrap().to_str().unwrap(),
            "DOE^JANE"
        );
        assert!(transcode(&implicit, "1.2.840.10008.1.2.4.50", EXPLICIT_VR_LE).is_err());
    }
}
