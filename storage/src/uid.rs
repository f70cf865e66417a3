//! Validated DICOM UIDs (PS3.5 §9.1).
//!
//! A UID is at most 64 characters of digits and dots, with no empty
//! component. PS3.5 also forbids leading zeros in a component, but real
//! modalities send such UIDs and a PACS that refused them would lose images
//! (Orthanc and dcm4chee accept them too), so they are accepted as received.
//! Validating once here means object keys built from UIDs can never escape
//! their prefix and SQL never sees anything but digits and dots.

use std::fmt;

use crate::error::{Error, Result};

/// A syntactically valid DICOM UID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

impl Uid {
    /// A new UID: `2.25.` and a random 128-bit number (PS3.5 B.2), for
    /// what the archive creates (a scheduled study, a performed step).
    pub fn generate() -> String {
        format!("2.25.{}", rand::random::<u128>())
    }

    /// Validate `value` (trailing NUL or space padding is removed first).
    ///
    /// `attribute` names the attribute in the error, e.g. `"SOPInstanceUID"`.
    pub fn parse(attribute: &'static str, value: &str) -> Result<Self> {
        let v = value.trim_end_matches(['\0', ' ']).trim_start();
        check(v).map_err(|reason| Error::InvalidUid {
            attribute,
            reason: reason.into(),
        })?;
        Ok(Uid(v.to_owned()))
    }

    /// The UID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check(v: &str) -> std::result::Result<(), &'static str> {
    if v.is_empty() {
        return Err("missing or empty");
    }
    if v.len() > 64 {
        return Err("longer than 64 characters");
    }
    if !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("contains characters other than digits and '.'");
    }
    if v.split('.').any(str::is_empty) {
        return Err("has an empty component");
    }
    Ok(())
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Uid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_uids() {
        // "1.02" breaks PS3.5's no-leading-zero rule but is seen in the field.
        for v in [
            "1.2.840.10008.1.2.1",
            "0.0",
            "2.25.1234567890",
            "1.2.3\0",
            "1.02",
        ] {
            assert!(Uid::parse("UID", v).is_ok(), "{v}");
        }
        assert_eq!(Uid::parse("UID", "1.2.3 ").unwrap().as_str(), "1.2.3");
    }

    #[test]
    fn rejects_invalid_uids() {
        for v in [
            "",
            "1..2",
            ".1.2",
            "1.2.",
            "1.2.a",
            "../../etc/passwd",
            "1.2/3",
            "1.2.3'; drop table instance; --",
            &"1.".repeat(40),
        ] {
            let err = Uid::parse("SOPInstanceUID", v).unwrap_err();
            assert!(err.to_string().contains("SOPInstanceUID"), "{err}");
        }
    }
}
