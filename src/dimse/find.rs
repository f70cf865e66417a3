//! C-FIND: the identifier parsed into the one query model, the search run
//! by the service, each match answered with exactly the keys asked for.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_net::service::{AssociationInfo, Find, QueryRequest, Response};
use dicom_object::InMemDicomObject;
use tokio::sync::mpsc;

use super::{parse_query, Dimse};
use crate::errors::dimse_response;

impl Find for Dimse {
    async fn find(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
        matches: mpsc::Sender<InMemDicomObject>,
    ) -> Response {
        let ctx = self.context(association);
        let (query, requested) = match parse_query(&request) {
            Ok(q) => q,
            Err(r) => return r,
        };
        let level = query.level;
        let detail = format!("{} level", level.as_str());
        let results = match self.service.search(&ctx, query, &detail).await {
            Ok(r) => r,
            Err(e) => return dimse_response(&e),
        };
        for m in results {
            let mut out = InMemDicomObject::new_empty();
            out.put(DataElement::new(
                tags::SPECIFIC_CHARACTER_SET,
                VR::CS,
                PrimitiveValue::from("ISO_IR 192"),
            ));
            out.put(DataElement::new(
                tags::QUERY_RETRIEVE_LEVEL,
                VR::CS,
                PrimitiveValue::from(level.as_str()),
            ));
            out.put(DataElement::new(
                tags::RETRIEVE_AE_TITLE,
                VR::AE,
                PrimitiveValue::from(association.called_ae.as_str()),
            ));
            for tag in &requested {
                if *tag == tags::RETRIEVE_AE_TITLE {
                    continue;
                }
                let vr = request
                    .identifier
                    .get(*tag)
                    .map(|e| e.vr())
                    .unwrap_or(VR::UN);
                out.put(DataElement::new(*tag, vr, value(vr, m.get(*tag))));
            }
            if matches.send(out).await.is_err() {
                break; // cancelled
            }
        }
        Response::success()
    }
}

/// A returned value in the VR the requester used.
fn value(vr: VR, v: Option<&str>) -> PrimitiveValue {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return PrimitiveValue::Empty;
    };
    match vr {
        VR::US => v
            .parse::<u16>()
            .map(PrimitiveValue::from)
            .unwrap_or(PrimitiveValue::Empty),
        VR::UL => v
            .parse::<u32>()
            .map(PrimitiveValue::from)
            .unwrap_or(PrimitiveValue::Empty),
        VR::SQ | VR::UN | VR::OB | VR::OW => PrimitiveValue::Empty,
        _ if v.contains('\\') => PrimitiveValue::Strs(v.split('\\').map(str::to_owned).collect()),
        _ => PrimitiveValue::from(v),
    }
}
