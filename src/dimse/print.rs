//! Print Management over DIMSE: every operation goes to the service's
//! print module with the association's context and id.

use dicom_net::service::{
    AssociationInfo, NormalizedOperation, NormalizedRequest, NormalizedResponse, Print,
};

use super::Dimse;
use crate::errors::dimse_response;

impl Print for Dimse {
    async fn print(
        &self,
        association: &AssociationInfo,
        meta_sop_class_uid: &str,
        operation: NormalizedOperation,
        request: NormalizedRequest,
    ) -> NormalizedResponse {
        let ctx = self.context(association);
        self.service
            .print(&ctx, association.id, meta_sop_class_uid, operation, request)
            .await
            .unwrap_or_else(|e| dimse_response(&e).into())
    }

    async fn print_closed(&self, association: &AssociationInfo) {
        self.service.print_closed(association.id);
    }
}
