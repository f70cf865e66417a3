//! C-FIND: the identifier parsed into the one query model, the search run
//! by the service, each match answered with exactly the keys asked for.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_net::service::{AssociationInfo, Find, QueryRequest, Response};
use dicom_object::InMemDicomObject;
use tokio::sync::mpsc;

use storage::query::Query;

use super::{parse_query, Dimse};
use crate::errors::dimse_response;

impl Find for Dimse {
    async fn find(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
        matches: mpsc::Sender<InMemDicomObject>,
    ) -> Response {
        if request.sop_class_uid == uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND {
            return self.find_worklist(association, request, matches).await;
        }
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

impl Dimse {
    /// Modality Worklist C-FIND (PS3.4 K.4.1): the identifier parsed into
    /// the one query model at the worklist level, each item answered with
    /// the keys asked for (sequences with the keys asked for in their
    /// item, or whole when their item asks for none).
    async fn find_worklist(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
        matches: mpsc::Sender<InMemDicomObject>,
    ) -> Response {
        let ctx = self.context(association);
        let (query, _) = match Query::from_worklist_identifier(&request.identifier) {
            Ok(q) => q,
            Err(e) => return dimse_response(&crate::service::Error::from(e)),
        };
        let items = match self
            .service
            .search_worklist(&ctx, query, "worklist C-FIND")
            .await
        {
            Ok(items) => items,
            Err(e) => return dimse_response(&e),
        };
        // The answers built off the async runtime (up to a thousand items).
        let keys = request.identifier;
        let answers = tokio::task::spawn_blocking(move || {
            items
                .iter()
                .filter_map(|entry| match storage::worklist::json_dataset(&entry.item) {
                    Ok(item) => {
                        let mut out = select(&item, &keys);
                        out.put(DataElement::new(
                            tags::SPECIFIC_CHARACTER_SET,
                            VR::CS,
                            PrimitiveValue::from("ISO_IR 192"),
                        ));
                        Some(out)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a stored worklist item does not convert back");
                        None
                    }
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(answers) = answers else {
            return Response::with(
                dicom_net::status::Status::CANNOT_UNDERSTAND,
                "the worklist answers could not be built",
            );
        };
        for out in answers {
            if matches.send(out).await.is_err() {
                break; // cancelled
            }
        }
        Response::success()
    }
}

/// The elements of `item` that `keys` asks for; each asked for and absent
/// is returned empty (PS3.4 C.2.2.1.3).
fn select(item: &InMemDicomObject, keys: &InMemDicomObject) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    for key in keys.iter() {
        let tag = key.header().tag;
        if tag == tags::SPECIFIC_CHARACTER_SET || tag.group() == 0x0002 {
            continue;
        }
        match (item.get(tag), key.items()) {
            (Some(found), Some(asked)) if found.vr() == VR::SQ => {
                let wanted = asked.first().filter(|k| k.iter().next().is_some());
                let items: Vec<InMemDicomObject> = found
                    .items()
                    .unwrap_or_default()
                    .iter()
                    .map(|i| match wanted {
                        Some(k) => select(i, k),
                        None => i.clone(),
                    })
                    .collect();
                out.put(DataElement::new(
                    tag,
                    VR::SQ,
                    dicom_core::value::DataSetSequence::from(items),
                ));
            }
            (Some(found), _) => {
                out.put(found.clone());
            }
            (None, _) => {
                let vr = key.vr();
                if vr == VR::SQ {
                    out.put(DataElement::new(
                        tag,
                        VR::SQ,
                        dicom_core::value::DataSetSequence::<InMemDicomObject>::empty(),
                    ));
                } else {
                    out.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
                }
            }
        }
    }
    out
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
