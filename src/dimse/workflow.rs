//! The RIS workflow over DIMSE: Modality Performed Procedure Step (N-CREATE,
//! N-SET) and Storage Commitment Push Model (N-ACTION, and its
//! N-EVENT-REPORT on the requesting association). The worklist's C-FIND is
//! in `find`.

use dicom_dictionary_std::uids;
use dicom_net::service::{
    AssociationInfo, Commitment, EventReport, Mpps, NormalizedRequest, NormalizedResponse, Response,
};
use dicom_net::Status;
use dicom_object::InMemDicomObject;

use super::Dimse;
use crate::errors::dimse_response;
use crate::service::commitment::COMMITMENT_INSTANCE;

impl Mpps for Dimse {
    async fn n_create(
        &self,
        association: &AssociationInfo,
        request: NormalizedRequest,
    ) -> NormalizedResponse {
        if request.sop_class_uid != uids::MODALITY_PERFORMED_PROCEDURE_STEP {
            return not_supported(&request.sop_class_uid, "N-CREATE");
        }
        let ctx = self.context(association);
        let attributes = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        match self
            .service
            .create_performed_step(&ctx, request.sop_instance_uid, &attributes)
            .await
        {
            Ok(uid) => NormalizedResponse {
                response: Response::success(),
                sop_instance_uid: Some(uid),
                data_set: None,
            },
            Err(e) => dimse_response(&e).into(),
        }
    }

    async fn n_set(
        &self,
        association: &AssociationInfo,
        request: NormalizedRequest,
    ) -> NormalizedResponse {
        if request.sop_class_uid != uids::MODALITY_PERFORMED_PROCEDURE_STEP {
            return not_supported(&request.sop_class_uid, "N-SET");
        }
        let Some(uid) = request.sop_instance_uid else {
            return Response::with(
                Status::NO_SUCH_SOP_INSTANCE,
                "N-SET without a Requested SOP Instance UID",
            )
            .into();
        };
        let ctx = self.context(association);
        let changes = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        match self.service.set_performed_step(&ctx, &uid, &changes).await {
            Ok(()) => NormalizedResponse {
                response: Response::success(),
                sop_instance_uid: Some(uid),
                data_set: None,
            },
            Err(e) => dimse_response(&e).into(),
        }
    }
}

fn not_supported(class: &str, what: &str) -> NormalizedResponse {
    Response::with(
        Status::NO_SUCH_SOP_CLASS,
        format!("{what} of {class} is not supported"),
    )
    .into()
}

impl Commitment for Dimse {
    async fn n_action(
        &self,
        association: &AssociationInfo,
        request: NormalizedRequest,
    ) -> (NormalizedResponse, Option<i64>) {
        if request.sop_class_uid != uids::STORAGE_COMMITMENT_PUSH_MODEL {
            return (not_supported(&request.sop_class_uid, "N-ACTION"), None);
        }
        if request.sop_instance_uid.as_deref() != Some(COMMITMENT_INSTANCE) {
            let r = Response::with(
                Status::NO_SUCH_SOP_INSTANCE,
                format!("storage commitment is requested of {COMMITMENT_INSTANCE}"),
            );
            return (r.into(), None);
        }
        if request.action_type_id != Some(1) {
            let r = Response::with(
                Status::NO_SUCH_ACTION,
                "the only storage commitment action is 1 (Request Storage Commitment)",
            );
            return (r.into(), None);
        }
        let ctx = self.context(association);
        let info = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        match self
            .service
            .request_commitment(&ctx, &info, &association.called_ae, true)
            .await
        {
            Ok(id) => (
                NormalizedResponse {
                    response: Response::success(),
                    sop_instance_uid: Some(COMMITMENT_INSTANCE.to_owned()),
                    data_set: None,
                },
                Some(id),
            ),
            Err(e) => (dimse_response(&e).into(), None),
        }
    }

    async fn report(&self, _association: &AssociationInfo, id: i64) -> Option<EventReport> {
        match self.service.commitment_report(id).await {
            Ok(report) => Some(EventReport {
                sop_class_uid: uids::STORAGE_COMMITMENT_PUSH_MODEL.to_owned(),
                sop_instance_uid: COMMITMENT_INSTANCE.to_owned(),
                event_type_id: report.event_type_id,
                data_set: report.event_information,
            }),
            Err(e) => {
                tracing::warn!(error = %e, job = id, "cannot prepare the storage commitment report");
                let _ = self
                    .service
                    .commitment_reported(id, Err(e.to_string()))
                    .await;
                None
            }
        }
    }

    async fn reported(
        &self,
        _association: &AssociationInfo,
        id: i64,
        outcome: Result<Status, String>,
    ) {
        let outcome = match outcome {
            Ok(s) if !s.is_failure() => Ok(()),
            Ok(s) => Err(format!("the requester answered {s}")),
            Err(e) => Err(e),
        };
        if let Err(e) = self.service.commitment_reported(id, outcome).await {
            tracing::warn!(error = %e, job = id, "cannot record the storage commitment report");
        }
    }
}
