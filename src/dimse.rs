//! The DIMSE services over the archive: thin, as the layering asks. The
//! protocol lives in dicom-net; the matching and storage in `storage`;
//! this file only translates between them and applies the peer policy.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_net::retrieve::RetrieveItem;
use dicom_net::scp::{
    AssociationInfo, DataStream, Operation, QueryRequest, Response, Services, StoreRequest,
};
use dicom_net::Status;
use dicom_object::InMemDicomObject;
use dicom_ul::pdu::AssociationRJServiceUserReason;
use storage::query::{Query, QueryLevel};
use storage::{Archive, StoreOutcome};
use tokio::sync::mpsc;

use crate::audit::{Access, Action, Actor, Audit};
use crate::config::{DicomConfig, Permission, UnknownPeers};
use crate::errors::dimse_response;

/// The archive as DIMSE services.
pub struct ArchiveServices {
    archive: Archive,
    config: Arc<DicomConfig>,
    audit: Audit,
}

impl ArchiveServices {
    /// Services over `archive` with the `[dicom]` policy, recording to `audit`.
    pub fn new(archive: Archive, config: Arc<DicomConfig>, audit: Audit) -> Self {
        ArchiveServices {
            archive,
            config,
            audit,
        }
    }

    async fn record(
        &self,
        association: &AssociationInfo,
        action: Action,
        failure: Option<String>,
        study: (String, String),
        detail: String,
    ) {
        self.audit
            .record(Access {
                actor: Actor::ae(&association.calling_ae, association.peer),
                action,
                failure,
                patient_id: study.0,
                study_instance_uid: study.1,
                detail,
            })
            .await;
    }

    fn peer(&self, ae_title: &str) -> Option<&crate::config::Peer> {
        self.config
            .peers
            .iter()
            .find(|p| p.ae_title.trim() == ae_title)
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
fn parse_query(
    request: &QueryRequest,
    case_insensitive: bool,
) -> Result<(Query, Vec<dicom_core::Tag>), Response> {
    let Some(patient_level_allowed) = model(&request.sop_class_uid) else {
        return Err(Response::with(
            Status::SOP_CLASS_NOT_SUPPORTED,
            format!(
                "information model {} is not supported",
                request.sop_class_uid
            ),
        ));
    };
    let (mut query, requested) =
        Query::from_identifier(&request.identifier).map_err(|e| dimse_response(&e))?;
    if query.level == QueryLevel::Patient && !patient_level_allowed {
        return Err(Response::with(
            Status::DOES_NOT_MATCH_SOP_CLASS,
            "PATIENT level is not part of the Study Root model",
        ));
    }
    query.case_insensitive_names = case_insensitive;
    Ok((query, requested))
}

impl Services for ArchiveServices {
    fn check_association(
        &self,
        calling_ae: &str,
        called_ae: &str,
        peer: SocketAddr,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if self.config.check_called_ae_title && called_ae != self.config.ae_title.trim() {
            tracing::warn!(
                calling_ae,
                called_ae,
                %peer,
                our_ae = %self.config.ae_title,
                "association rejected: the peer called AE title {called_ae:?}, but ours is {:?} \
                 (fix the peer, or set dicom.check_called_ae_title = false)",
                self.config.ae_title
            );
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if self.peer(calling_ae).is_none() && self.config.unknown_peers == UnknownPeers::Reject {
            tracing::warn!(
                calling_ae,
                %peer,
                "association rejected: calling AE title {calling_ae:?} is not in [[dicom.peers]] \
                 and dicom.unknown_peers = \"reject\""
            );
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        if let Some(known) = self.peer(calling_ae).filter(|p| p.check_host) {
            if !host_matches(&known.host, peer.ip()) {
                tracing::warn!(
                    calling_ae,
                    %peer,
                    host = %known.host,
                    "association rejected: AE title {calling_ae:?} called from {}, not from its host {} \
                     (dicom.peers check_host = true)",
                    peer.ip(),
                    known.host
                );
                return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
            }
        }
        Ok(())
    }

    fn may(&self, association: &AssociationInfo, operation: Operation) -> bool {
        let needed = match operation {
            Operation::Echo | Operation::Store => Permission::Store,
            Operation::Find => Permission::Find,
            Operation::Move => Permission::Move,
            Operation::Get => Permission::Get,
        };
        let allowed = match self.peer(&association.calling_ae) {
            Some(p) => operation == Operation::Echo || p.permissions.contains(&needed),
            None => match self.config.unknown_peers {
                UnknownPeers::All => true,
                UnknownPeers::Store => needed == Permission::Store,
                UnknownPeers::Reject => false,
            },
        };
        if !allowed {
            tracing::warn!(
                calling_ae = %association.calling_ae,
                ?operation,
                "refused: {:?} may not do this (add it to [[dicom.peers]] with the permission)",
                association.calling_ae
            );
            let action = match operation {
                Operation::Echo | Operation::Store => Action::CStore,
                Operation::Find => Action::CFind,
                Operation::Move => Action::CMove,
                Operation::Get => Action::CGet,
            };
            self.audit.record_now(Access {
                actor: Actor::ae(&association.calling_ae, association.peer),
                action,
                failure: Some("not authorized for this AE title".into()),
                patient_id: String::new(),
                study_instance_uid: String::new(),
                detail: format!("{operation:?} refused"),
            });
        }
        allowed
    }

    async fn store(
        &self,
        association: &AssociationInfo,
        request: StoreRequest,
        data: DataStream,
    ) -> Response {
        let meta = storage::part10::file_meta(
            &request.transfer_syntax,
            &request.sop_class_uid,
            &request.sop_instance_uid,
            Some(&association.calling_ae),
        );
        let chunks = futures::StreamExt::chain(
            futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(meta)) }),
            futures::stream::unfold(data, |mut rx| async move {
                rx.recv().await.map(|b| (Ok(b), rx))
            }),
        );
        match self.archive.store_stream(Box::pin(chunks)).await {
            Ok(stored) => {
                if stored.outcome == StoreOutcome::KeptExisting {
                    tracing::warn!(
                        sop_instance_uid = %stored.sop_instance_uid,
                        "received other content for a stored SOP Instance UID; kept the stored instance \
                         (storage.duplicate_policy = \"keep-first\")"
                    );
                }
                tracing::debug!(sop_instance_uid = %stored.sop_instance_uid, outcome = ?stored.outcome, "stored");
                self.record(
                    association,
                    Action::CStore,
                    None,
                    (stored.patient_id, stored.study_instance_uid),
                    format!("SOP Instance {}", stored.sop_instance_uid),
                )
                .await;
                Response::success()
            }
            Err(e) => {
                let response = dimse_response(&e);
                self.record(
                    association,
                    Action::CStore,
                    Some(format!("{}", response.status)),
                    (String::new(), String::new()),
                    format!("SOP Instance {}", request.sop_instance_uid),
                )
                .await;
                response
            }
        }
    }

    async fn find(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
        matches: mpsc::Sender<InMemDicomObject>,
    ) -> Response {
        let (query, requested) = match parse_query(&request, self.config.case_insensitive_names) {
            Ok(q) => q,
            Err(r) => return r,
        };
        let results = match self.archive.index().query(&query).await {
            Ok(r) => r,
            Err(e) => return dimse_response(&e),
        };
        // One audit row per study disclosed, or per patient at PATIENT
        // level (whose matches name no study).
        let mut studies: Vec<(String, String)> = Vec::new();
        for m in &results {
            let study = m.get(tags::STUDY_INSTANCE_UID).unwrap_or("");
            let patient = m.get(tags::PATIENT_ID).unwrap_or("");
            if !studies
                .iter()
                .any(|(p, s)| s == study && (!study.is_empty() || p == patient))
            {
                studies.push((patient.to_owned(), study.to_owned()));
            }
        }
        let detail = format!("{} level, {} matches", query.level.as_str(), results.len());
        if studies.is_empty() {
            studies.push((String::new(), String::new()));
        }
        for study in studies {
            self.record(association, Action::CFind, None, study, detail.clone())
                .await;
        }
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
                PrimitiveValue::from(query.level.as_str()),
            ));
            out.put(DataElement::new(
                tags::RETRIEVE_AE_TITLE,
                VR::AE,
                PrimitiveValue::from(self.config.ae_title.as_str()),
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

    async fn retrieve(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
    ) -> Result<Vec<RetrieveItem>, Response> {
        let (query, _) = parse_query(&request, self.config.case_insensitive_names)?;
        if query.filters.is_empty() {
            return Err(Response::with(
                Status::DOES_NOT_MATCH_SOP_CLASS,
                "a retrieve needs at least one unique key (PatientID, StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID)",
            ));
        }
        let instances = self
            .archive
            .index()
            .query_instances(&query)
            .await
            .map_err(|e| dimse_response(&e))?;
        let action = if [
            uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        ]
        .contains(&request.sop_class_uid.as_str())
        {
            Action::CGet
        } else {
            Action::CMove
        };
        let mut studies: Vec<(&str, usize)> = Vec::new();
        for i in &instances {
            match studies.iter_mut().find(|(s, _)| *s == i.study_instance_uid) {
                Some((_, n)) => *n += 1,
                None => studies.push((&i.study_instance_uid, 1)),
            }
        }
        for (study, n) in studies {
            self.record(
                association,
                action,
                None,
                (String::new(), study.to_owned()),
                match &request.move_destination {
                    Some(ae) => format!("{n} instances selected, sent to {ae}"),
                    None => format!("{n} instances selected"),
                },
            )
            .await;
        }
        Ok(instances
            .into_iter()
            .map(|i| RetrieveItem {
                sop_class_uid: i.sop_class_uid,
                sop_instance_uid: i.sop_instance_uid,
                transfer_syntax: i.transfer_syntax_uid,
            })
            .collect())
    }

    async fn load(&self, item: &RetrieveItem) -> Result<Bytes, String> {
        self.archive
            .read_instance(&item.sop_instance_uid)
            .await
            .map_err(|e| {
                format!(
                    "cannot read {}: {}",
                    item.sop_instance_uid,
                    crate::errors::public_message(&e)
                )
            })
    }

    async fn move_destination(
        &self,
        _association: &AssociationInfo,
        ae_title: &str,
    ) -> Option<SocketAddr> {
        let peer = self.peer(ae_title)?;
        // Resolved at each C-MOVE, without blocking the runtime: a peer's
        // address may change (DHCP, DNS) between moves.
        match tokio::net::lookup_host((peer.host.as_str(), peer.port)).await {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                tracing::warn!(destination = ae_title, host = %peer.host, error = %e, "cannot resolve the move destination");
                None
            }
        }
    }
}

/// Whether `ip` is `host`'s address: an IP literal, or a name resolved by
/// the system resolver (/etc/hosts, DNS) at each association.
fn host_matches(host: &str, ip: std::net::IpAddr) -> bool {
    if let Ok(literal) = host.parse::<std::net::IpAddr>() {
        return literal == ip || (literal.is_loopback() && ip.is_loopback());
    }
    let resolve = || {
        use std::net::ToSocketAddrs;
        (host, 0)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).any(|a| a == ip))
            .unwrap_or(false)
    };
    // Name resolution blocks: keep it off the runtime's other tasks.
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(resolve),
        _ => resolve(),
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
