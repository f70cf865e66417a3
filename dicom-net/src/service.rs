//! What the provider asks of the application: one trait per DIMSE service
//! (Orthanc's IStoreRequestHandler / IFindRequestHandler /
//! IMoveRequestHandler split), the requests they get and the responses they
//! give.
//!
//! - [`Associations`]: accept or reject an association;
//! - [`Echo`]: C-ECHO (Verification);
//! - [`Store`]: C-STORE, the data set streamed;
//! - [`Find`]: C-FIND, matches sent as they come;
//! - [`Move`] and [`Get`]: which instances a C-MOVE or C-GET selects; both
//!   load them through [`Retrieve`];
//! - [`Mpps`]: N-CREATE and N-SET of Modality Performed Procedure Steps;
//! - [`Commitment`]: N-ACTION of Storage Commitment, and the
//!   N-EVENT-REPORT sent back on the same association when it stays open;
//! - [`Print`]: the normalized operations of Print Management (film
//!   sessions, film boxes, image boxes, the printer);
//! - [`Provider`]: all of them, what [`crate::scp::serve`] runs.
//!
//! Who may do what is the application's decision, made in these calls:
//! the provider only carries the answer (a status, or A-ASSOCIATE-RJ).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use dicom_core::Tag;
use dicom_object::InMemDicomObject;
use dicom_ul::pdu::AssociationRJServiceUserReason;
use tokio::sync::mpsc;

use crate::status::Status;

/// Who is on the other end of an association.
#[derive(Debug, Clone)]
pub struct AssociationInfo {
    /// A number for logs.
    pub id: u64,
    /// The peer's (calling) AE title.
    pub calling_ae: String,
    /// The AE title it called.
    pub called_ae: String,
    /// Its address.
    pub peer: SocketAddr,
    /// Its TLS client certificate (DER), when it presented one.
    pub client_certificate: Option<Arc<Vec<u8>>>,
}

/// An association asking to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct AssociationRequest<'a> {
    /// The peer's (calling) AE title.
    pub calling_ae: &'a str,
    /// The AE title it called.
    pub called_ae: &'a str,
    /// Its address.
    pub peer: SocketAddr,
    /// Whether it came over DICOM TLS.
    pub tls: bool,
    /// Its verified TLS client certificate (DER), when it presented one.
    pub client_certificate: Option<&'a [u8]>,
}

/// The final response of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status.
    pub status: Status,
    /// (0000,0902) Error Comment: why, in words fit for the peer.
    pub comment: Option<String>,
    /// (0000,0901) Offending Element.
    pub offending: Vec<Tag>,
    /// (0000,0903) Error ID: the failure's code where the service defines
    /// one (MPPS N-SET of a finished step: A710H, PS3.4 F.7.2.2).
    pub error_id: Option<u16>,
}

impl Response {
    /// Success.
    pub fn success() -> Self {
        Response {
            status: Status::SUCCESS,
            comment: None,
            offending: Vec::new(),
            error_id: None,
        }
    }

    /// A status with a comment.
    pub fn with(status: Status, comment: impl Into<String>) -> Self {
        Response {
            status,
            comment: Some(comment.into()),
            offending: Vec::new(),
            error_id: None,
        }
    }
}

/// A C-STORE request.
#[derive(Debug, Clone)]
pub struct StoreRequest {
    /// (0000,0002).
    pub sop_class_uid: String,
    /// (0000,1000).
    pub sop_instance_uid: String,
    /// The presentation context's transfer syntax: the data set's encoding.
    pub transfer_syntax: String,
}

/// The data set of a C-STORE, fragment by fragment as it arrives. An
/// `Err` item means the transfer broke off (abort, timeout, protocol
/// error): what came is not the whole data set and must not be kept. The
/// stream ending without one means the data set is complete.
pub type DataStream = mpsc::Receiver<std::io::Result<Bytes>>;

/// A C-FIND, C-MOVE or C-GET request.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// (0000,0002): the information model.
    pub sop_class_uid: String,
    /// The identifier.
    pub identifier: InMemDicomObject,
    /// (0000,0600) of a C-MOVE-RQ: the AE title the instances go to.
    pub move_destination: Option<String>,
}

/// One instance a retrieve sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveItem {
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Transfer syntax as stored.
    pub transfer_syntax: String,
}

/// Accepting associations, and what happens on them (for metrics).
pub trait Associations: Send + Sync + 'static {
    /// Accept or reject an association request (A-ASSOCIATE-RJ with the
    /// reason given).
    fn check_association(
        &self,
        request: &AssociationRequest<'_>,
    ) -> std::result::Result<(), AssociationRJServiceUserReason>;

    /// An association was established.
    fn established(&self, _association: &AssociationInfo) {}

    /// An association ended (released, aborted or broken).
    fn ended(&self, _association: &AssociationInfo) {}

    /// An operation was served: its request's command field, the status of
    /// its final response, and how long it took from request to response.
    fn served(
        &self,
        _association: &AssociationInfo,
        _request: crate::command::CommandField,
        _status: Status,
        _elapsed: std::time::Duration,
    ) {
    }
}

/// C-ECHO (Verification SOP Class, PS3.4 Annex A).
pub trait Echo: Send + Sync + 'static {
    /// Answer a C-ECHO-RQ.
    fn echo(&self, association: &AssociationInfo) -> impl Future<Output = Response> + Send;
}

/// C-STORE (Storage Service Class, PS3.4 Annex B).
pub trait Store: Send + Sync + 'static {
    /// Store the data set arriving on `data` (a bare data set in
    /// `request.transfer_syntax`). May stop reading early (drop `data`):
    /// the provider reads the rest to stay in step.
    fn store(
        &self,
        association: &AssociationInfo,
        request: StoreRequest,
        data: DataStream,
    ) -> impl Future<Output = Response> + Send;
}

/// C-FIND (Query/Retrieve, PS3.4 C.4.1).
pub trait Find: Send + Sync + 'static {
    /// Send each match to `matches`; stop when it is closed (C-CANCEL).
    fn find(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
        matches: mpsc::Sender<InMemDicomObject>,
    ) -> impl Future<Output = Response> + Send;
}

/// Loading what a C-MOVE or C-GET sends.
pub trait Retrieve: Send + Sync + 'static {
    /// The Part 10 bytes of an instance to send.
    fn load(
        &self,
        association: &AssociationInfo,
        item: &RetrieveItem,
    ) -> impl Future<Output = std::result::Result<Bytes, String>> + Send;
}

/// C-MOVE (PS3.4 C.4.2): instances sent over a new association.
pub trait Move: Retrieve {
    /// Where a move destination AE title is, or the response refusing the
    /// move (the caller may not move, or may not send there: Move
    /// Destination Unknown). It may resolve a host name, so it is async.
    fn move_destination(
        &self,
        association: &AssociationInfo,
        ae_title: &str,
    ) -> impl Future<Output = std::result::Result<SocketAddr, Response>> + Send;

    /// The instances a C-MOVE identifier selects.
    fn select_move(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
    ) -> impl Future<Output = std::result::Result<Vec<RetrieveItem>, Response>> + Send;
}

/// C-GET (PS3.4 C.4.3): instances sent on the requesting association.
pub trait Get: Retrieve {
    /// The instances a C-GET identifier selects.
    fn select_get(
        &self,
        association: &AssociationInfo,
        request: QueryRequest,
    ) -> impl Future<Output = std::result::Result<Vec<RetrieveItem>, Response>> + Send;
}

/// An N-CREATE, N-SET, N-GET, N-ACTION or N-DELETE request (PS3.7 §10.1).
#[derive(Debug, Clone)]
pub struct NormalizedRequest {
    /// The SOP class: (0000,0002) of an N-CREATE, (0000,0003) otherwise.
    pub sop_class_uid: String,
    /// The SOP instance: (0000,1000) of an N-CREATE (absent: the provider
    /// assigns one), (0000,1001) otherwise.
    pub sop_instance_uid: Option<String>,
    /// (0000,1008) of an N-ACTION.
    pub action_type_id: Option<u16>,
    /// (0000,1005) of an N-GET: the attributes asked for (empty: all).
    pub attribute_identifiers: Vec<Tag>,
    /// The attribute list (N-CREATE), modification list (N-SET) or action
    /// information (N-ACTION).
    pub data_set: Option<InMemDicomObject>,
}

/// The answer to an N-CREATE, N-SET or N-ACTION.
#[derive(Debug, Clone)]
pub struct NormalizedResponse {
    /// Status, comment, offending elements.
    pub response: Response,
    /// (0000,1000) of the response: the instance created or acted on.
    pub sop_instance_uid: Option<String>,
    /// A data set to return (the attribute list), if any.
    pub data_set: Option<InMemDicomObject>,
}

impl From<Response> for NormalizedResponse {
    fn from(response: Response) -> Self {
        NormalizedResponse {
            response,
            sop_instance_uid: None,
            data_set: None,
        }
    }
}

/// An N-EVENT-REPORT to send.
#[derive(Debug, Clone)]
pub struct EventReport {
    /// (0000,0002).
    pub sop_class_uid: String,
    /// (0000,1000).
    pub sop_instance_uid: String,
    /// (0000,1002).
    pub event_type_id: u16,
    /// The event information.
    pub data_set: InMemDicomObject,
}

/// Modality Performed Procedure Step SOP Class (PS3.4 F.7): N-CREATE and
/// N-SET.
pub trait Mpps: Send + Sync + 'static {
    /// N-CREATE of a performed procedure step.
    fn n_create(
        &self,
        association: &AssociationInfo,
        request: NormalizedRequest,
    ) -> impl Future<Output = NormalizedResponse> + Send;

    /// N-SET of a performed procedure step.
    fn n_set(
        &self,
        association: &AssociationInfo,
        request: NormalizedRequest,
    ) -> impl Future<Output = NormalizedResponse> + Send;
}

/// Storage Commitment Push Model SOP Class (PS3.4 J.3): the request
/// (N-ACTION) is answered at once; its result (N-EVENT-REPORT) follows on
/// the same association when the requester keeps it open, otherwise the
/// application sends it on one of its own.
pub trait Commitment: Send + Sync + 'static {
    /// N-ACTION: accept the request. `Some(id)` with a success: a report is
    /// due, which the provider asks for with [`Commitment::report`] once the
    /// response is sent.
    fn n_action(
        &self,
        association: &AssociationInfo,
        request: NormalizedRequest,
    ) -> impl Future<Output = (NormalizedResponse, Option<i64>)> + Send;

    /// The report `id` to send on this association (`None`: not here).
    fn report(
        &self,
        association: &AssociationInfo,
        id: i64,
    ) -> impl Future<Output = Option<EventReport>> + Send;

    /// How sending report `id` here ended: the peer's status, or why it
    /// did not arrive (the association ended first).
    fn reported(
        &self,
        association: &AssociationInfo,
        id: i64,
        outcome: std::result::Result<Status, String>,
    ) -> impl Future<Output = ()> + Send;
}

/// Which normalized operation (PS3.7 §10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormalizedOperation {
    /// N-CREATE.
    Create,
    /// N-SET.
    Set,
    /// N-GET.
    Get,
    /// N-ACTION.
    Action,
    /// N-DELETE.
    Delete,
}

/// Print Management (PS3.4 Annex H): Basic Film Session, Basic Film Box,
/// Basic Grayscale and Color Image Box, Printer. Their instances live as
/// long as the association that created them; [`Print::print_closed`]
/// says when it ended.
pub trait Print: Send + Sync + 'static {
    /// An operation on a print SOP class (`request.sop_class_uid` is the
    /// member class; `meta_sop_class_uid` the negotiated meta SOP class).
    fn print(
        &self,
        association: &AssociationInfo,
        meta_sop_class_uid: &str,
        operation: NormalizedOperation,
        request: NormalizedRequest,
    ) -> impl Future<Output = NormalizedResponse> + Send;

    /// The association that printed ended: its film sessions end with it.
    fn print_closed(&self, association: &AssociationInfo) -> impl Future<Output = ()> + Send;
}

/// Basic Grayscale Print Management Meta SOP Class.
pub const BASIC_GRAYSCALE_PRINT_MANAGEMENT_META: &str = "1.2.840.10008.5.1.1.9";
/// Basic Color Print Management Meta SOP Class.
pub const BASIC_COLOR_PRINT_MANAGEMENT_META: &str = "1.2.840.10008.5.1.1.18";
/// Basic Film Session SOP Class.
pub const BASIC_FILM_SESSION: &str = "1.2.840.10008.5.1.1.1";
/// Basic Film Box SOP Class.
pub const BASIC_FILM_BOX: &str = "1.2.840.10008.5.1.1.2";
/// Basic Grayscale Image Box SOP Class.
pub const BASIC_GRAYSCALE_IMAGE_BOX: &str = "1.2.840.10008.5.1.1.4";
/// Basic Color Image Box SOP Class.
pub const BASIC_COLOR_IMAGE_BOX: &str = "1.2.840.10008.5.1.1.4.1";
/// Printer SOP Class.
pub const PRINTER: &str = "1.2.840.10008.5.1.1.16";
/// The well-known Printer SOP Instance.
pub const PRINTER_INSTANCE: &str = "1.2.840.10008.5.1.1.17";

/// Whether `sop_class_uid` belongs to the print meta SOP class
/// `meta_sop_class_uid` (PS3.4 H.3: a meta SOP class negotiates its
/// members together).
pub fn print_meta_member(meta_sop_class_uid: &str, sop_class_uid: &str) -> bool {
    match meta_sop_class_uid {
        BASIC_GRAYSCALE_PRINT_MANAGEMENT_META => matches!(
            sop_class_uid,
            BASIC_FILM_SESSION | BASIC_FILM_BOX | BASIC_GRAYSCALE_IMAGE_BOX | PRINTER
        ),
        BASIC_COLOR_PRINT_MANAGEMENT_META => matches!(
            sop_class_uid,
            BASIC_FILM_SESSION | BASIC_FILM_BOX | BASIC_COLOR_IMAGE_BOX | PRINTER
        ),
        _ => false,
    }
}

/// Every service the provider serves.
pub trait Provider:
    Associations + Echo + Store + Find + Move + Get + Mpps + Commitment + Print
{
}

impl<T: Associations + Echo + Store + Find + Move + Get + Mpps + Commitment + Print> Provider
    for T
{
}
