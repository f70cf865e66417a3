//! AE titles (PS3.5 Table 6.2-1, VR AE): 1 to 16 characters of the default
//! character repertoire without backslash or control characters; leading
//! and trailing spaces are not significant.

use std::fmt;

/// A validated AE title, without padding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AeTitle(String);

impl AeTitle {
    /// Validate an AE title (surrounding spaces are dropped first).
    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim();
        if v.is_empty() || v.len() > 16 {
            return Err(format!("AE title {value:?} must be 1 to 16 characters"));
        }
        if !v.bytes().all(|b| (0x20..0x7F).contains(&b) && b != b'\\') {
            return Err(format!(
                "AE title {value:?} may hold printable ASCII only, without backslash"
            ));
        }
        Ok(AeTitle(v.to_owned()))
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for AeTitle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AeTitle::parse(s)
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::AeTitle;

    #[test]
    fn ae_titles_follow_ps3_5() {
        assert_eq!(AeTitle::parse(" CT01 ").unwrap().as_str(), "CT01");
        assert!(AeTitle::parse("").is_err());
        assert!(AeTitle::parse("   ").is_err());
        assert!(AeTitle::parse("ABCDEFGHIJKLMNOPQ").is_err());
        assert!(AeTitle::parse("A\\B").is_err());
        assert!(AeTitle::parse("A\nB").is_err());
        assert!(AeTitle::parse("NGUYỄN").is_err());
    }
}
