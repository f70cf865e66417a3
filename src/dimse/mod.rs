//! DIMSE over the service layer: each dicom-net service trait implemented
//! by translating the request into a service call and the outcome back
//! into a DIMSE status. Who may do what, in which tenant, and the audit
//! trail are the service's; the protocol is dicom-net's.
//!
//! - this file: association checks, C-ECHO, C-STORE, C-MOVE and C-GET;
//! - `find`: C-FIND (the query/retrieve models and the modality worklist),
//!   identifiers in and matches out;
//! - `workflow`: MPPS (N-CREATE, N-SET) and storage commitment (N-ACTION);
//! - `print`: Print Management (the virtual film printer).

mod find;
mod print;
mod workflow;

use bytes::Bytes;
use dicom_dictionary_std::uids;
use dicom_net::command::CommandField;
use dicom_net::scp::ScpConfig;
use dicom_net::service::{
    AssociationInfo, AssociationRequest, Associations, DataStream, Echo, Get, Move, QueryRequest,
    Response, Retrieve, RetrieveItem, Store, StoreRequest,
};
use dicom_net::{Status, StatusClass};
use dicom_ul::pdu::AssociationRJServiceUserReason;
use storage::query::{Query, QueryLevel};

use crate::errors::dimse_response;
use crate::service::{Context, Service};

/// The service as DIMSE services.
pub struct Dimse {
    service: Service,
}

impl Dimse {
    /// DIMSE over `service`.
    pub fn new(service: Service) -> Self {
        Dimse { service }
    }

    /// The request context of an operation on `association`.
    fn context(&self, association: &AssociationInfo) -> Context {
        self.service.peers().context(
            &association.calling_ae,
            &association.called_ae,
            association.peer,
        )
    }
}

/// Provider settings from `[dicom]`.
pub fn scp_config(d: &crate::config::DicomConfig) -> ScpConfig {
    ScpConfig {
        ae_title: d.ae_title.clone(),
        max_associations: d.max_associations,
        max_associations_per_peer: d.max_associations_per_peer,
        max_pdu_length: d.max_pdu_length,
        artim_timeout: std::time::Duration::from_secs(d.artim_timeout_secs),
        idle_timeout: std::time::Duration::from_secs(d.idle_timeout_secs),
        ..Default::default()
    }
}

/// The information models we serve, and whether PATIENT level is allowed.
fn model(sop_class_uid: &str) -> Option<bool> {
    match sop_class_uid {
        uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND
        | uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE
        | uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET => Some(true),
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND
        | uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE
        | uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET => Some(false),
        _ => None,
    }
}

/// Parse an identifier into the query model, checking it fits the model.
fn parse_query(request: &QueryRequest) -> Result<(Query, Vec<dicom_core::Tag>), Response> {
    let Some(patient_level_allowed) = model(&request.sop_class_uid) else {
        return Err(Response::with(
            Status::SOP_CLASS_NOT_SUPPORTED,
            format!(
                "information model {} is not supported",
                request.sop_class_uid
            ),
        ));
    };
    let (query, requested) = Query::from_identifier(&request.identifier)
        .map_err(|e| dimse_response(&crate::service::Error::from(e)))?;
    if query.level == QueryLevel::Patient && !patient_level_allowed {
        return Err(Response::with(
            Status::DOES_NOT_MATCH_SOP_CLASS,
            "PATIENT level is not part of the Study Root model",
        ));
    }
    Ok((query, requested))
}

impl Associations for Dimse {
    fn check_association(
        &self,
        request: &AssociationRequest<'_>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        self.service.peers().check_association(request)
    }

    fn established(&self, association: &AssociationInfo) {
        // Only configured AE titles are labels (anyone may send any).
        let peers = self.service.peers();
        let known = peers
            .tenant_of_called(&association.called_ae)
            .is_some_and(|t| peers.is_peer(&t, &association.calling_ae));
        self.service
            .metrics()
            .association_opened(known.then_some(association.calling_ae.as_str()));
    }

    fn ended(&self, _association: &AssociationInfo) {
        self.service.metrics().association_closed();
    }

    fn served(
        &self,
        _association: &AssociationInfo,
        request: CommandField,
        status: Status,
        elapsed: std::time::Duration,
    ) {
        let operation = match request {
            CommandField::CEchoRq => "C-ECHO",
            CommandField::CStoreRq => "C-STORE",
            CommandField::CFindRq => "C-FIND",
            CommandField::CMoveRq => "C-MOVE",
            CommandField::CGetRq => "C-GET",
            CommandField::NCreateRq => "N-CREATE",
            CommandField::NSetRq => "N-SET",
            CommandField::NGetRq => "N-GET",
            CommandField::NActionRq => "N-ACTION",
            CommandField::NDeleteRq => "N-DELETE",
            _ => "other",
        };
        let class = match status.class() {
            StatusClass::Success => "success",
            StatusClass::Warning => "warning",
            StatusClass::Cancel => "cancel",
            StatusClass::Pending | StatusClass::Failure => "failure",
        };
        self.service.metrics().dimse(operation, class, elapsed);
    }
}

impl Echo for Dimse {
    async fn echo(&self, _association: &AssociationInfo) -> Response {
        // Verification carries no data: every accepted association may echo.
        Response::success()
    }
}

impl Store for Dimse {
    async fn store(
        &self,
        association: &AssociationInfo,
        request: StoreRequest,
        data: DataStream,
    ) -> Response {
        let ctx = self.context(association);
        let meta = storage::part10::file_meta(
            &request.transfer_syntax,
            &request.sop_class_uid,
            &request.sop_instance_uid,
            Some(&association.calling_ae),
        );
        let chunks = futures::StreamExt::chain(
            futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(meta)) }),
            futures::stream::unfold(data, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            }),
        );
        match self.service.store(&ctx, Box::pin(chunks), None).await {
            Ok(_) => Response::success(),
            Err(e) => dimse_response(&e),
        }
    }
}

impl Retrieve for Dimse {
    async fn load(
        &self,
        association: &AssociationInfo,
        item: &RetrieveItem,
    ) -> Result<Bytes, String> {
        let ctx = self.context(association);
        self.service
            .load(&ctx, &item.sop_instance_uid)
            .await
            .map_err(|e| {
                format!(
                    "cannot read {}: {}",
                    item.sop_instance_uid,
                    e.public_message()
                )
            })
    }
}

impl Dimse {
    /// The instances a C-MOVE or C-GET selects.
    async fn select(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
    ) -> Result<Vec<RetrieveItem>, Response> {
        let ctx = self.context(association);
        let (query, _) = parse_query(&request)?;
        let instances = self
            .service
            .select(&ctx, query, request.move_destination.as_deref())
            .await
            .map_err(|e| dimse_response(&e))?;
        Ok(instances
            .into_iter()
            .map(|i| RetrieveItem {
                sop_class_uid: i.sop_class_uid,
                sop_instance_uid: i.sop_instance_uid,
                transfer_syntax: i.transfer_syntax_uid,
            })
            .collect())
    }
}

impl Move for Dimse {
    async fn move_destination(
        &self,
        association: &AssociationInfo,
        ae_title: &str,
    ) -> Result<std::net::SocketAddr, Response> {
        let ctx = self.context(association);
        match self.service.move_destination(&ctx, ae_title).await {
            Ok(Some(addr)) => Ok(addr),
            Ok(None) => Err(Response::with(
                Status::MOVE_DESTINATION_UNKNOWN,
                format!("move destination {ae_title} is not a configured peer"),
            )),
            Err(e) => Err(dimse_response(&e)),
        }
    }

    async fn select_move(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
    ) -> Result<Vec<RetrieveItem>, Response> {
        self.select(association, request).await
    }
}

impl Get for Dimse {
    async fn select_get(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
    ) -> Result<Vec<RetrieveItem>, Response> {
        self.select(association, request).await
    }
}
