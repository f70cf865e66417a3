//! Index rows as DICOM JSON (PS3.18 Annex F): empty attributes omitted,
//! IS/DS/US as numbers, PN as objects, multi-valued strings as arrays.

use dicom_core::{Tag, VR};
use serde_json::{json, Map, Value};
use storage::query::Match;

/// The tag as 8 upper-case hex digits.
pub fn tag_key(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.group(), tag.element())
}

/// One attribute; `None` when the value is empty (omitted).
pub fn attribute(vr: VR, value: &str) -> Option<Value> {
    let value = value.trim_matches(['\0', ' ']);
    if value.is_empty() {
        return None;
    }
    let values: Vec<Value> = value
        .split('\\')
        .map(|v| {
            let v = v.trim();
            match vr {
                VR::PN => json!({ "Alphabetic": v }),
                VR::IS | VR::SL | VR::SS | VR::UL | VR::US => v
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(v)),
                VR::DS | VR::FL | VR::FD => v
                    .parse::<f64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(v)),
                _ => Value::from(v),
            }
        })
        .collect();
    Some(json!({ "vr": vr.to_string(), "Value": values }))
}

/// A QIDO-RS result: every non-empty returned attribute, plus RetrieveURL.
pub fn from_match(m: &Match, retrieve_url: &str) -> Value {
    let mut out = Map::new();
    for (a, v) in &m.values {
        if let Some(attr) = v.as_deref().and_then(|v| attribute(a.vr, v)) {
            out.insert(tag_key(a.tag), attr);
        }
    }
    out.insert(
        "00081190".to_owned(),
        json!({ "vr": "UR", "Value": [retrieve_url] }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps3_18_annex_f_shapes() {
        assert_eq!(
            attribute(VR::PN, "DOE^JOHN").unwrap(),
            json!({"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN"}]})
        );
        assert_eq!(
            attribute(VR::IS, "42").unwrap(),
            json!({"vr": "IS", "Value": [42]})
        );
        assert_eq!(
            attribute(VR::DS, "0.5\\1").unwrap(),
            json!({"vr": "DS", "Value": [0.5, 1.0]})
        );
        assert_eq!(
            attribute(VR::CS, "CT\\MR").unwrap(),
            json!({"vr": "CS", "Value": ["CT", "MR"]})
        );
        assert!(attribute(VR::LO, " ").is_none());
        assert_eq!(
            tag_key(dicom_dictionary_std::tags::PATIENT_NAME),
            "00100010"
        );
    }
}
