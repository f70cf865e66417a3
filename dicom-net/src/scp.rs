//! The DIMSE service class provider: one accept loop, a bounded number of
//! associations, one task each.
//!
//! What the services do is not here: the traits of [`crate::service`] are
//! implemented by the root package over the archive. This module owns the
//! protocol: negotiation, message flow, pending responses, C-CANCEL,
//! sub-operations, timeouts, and never letting one broken association
//! disturb the others.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dicom_object::InMemDicomObject;
use dicom_ul::association::server::{AccessControl, Negotiation};
use dicom_ul::association::{Association, AsyncServerAssociation};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, PresentationContextResultReason,
    RequestorRoles, UserIdentity,
};
use dicom_ul::{Pdu, ServerAssociationOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::command::{Command, CommandField};
use crate::dataset;
use crate::error::{Error, Result};
use crate::message::{cancelled, Channel, Event, Wire};
use crate::retrieve::{self, Destination};
use crate::service::{
    self as svc, AssociationInfo, AssociationRequest, NormalizedOperation, NormalizedRequest,
    NormalizedResponse, Provider, QueryRequest, Response, StoreRequest,
};
use crate::status::Status;
use crate::tls::{CapturedCertificate, TlsServer};

/// How long a storage commitment requester has to release its association
/// (it wants the report on a new one) before the report is sent on it.
const REPORT_GRACE: Duration = Duration::from_millis(1000);

/// Association ids, unique in the process: every listener (the plain and
/// the TLS port) numbers from the same counter, so an application may key
/// an association's state by its id.
static ASSOCIATION_IDS: AtomicU64 = AtomicU64::new(1);

/// Provider settings.
#[derive(Debug, Clone)]
pub struct ScpConfig {
    /// Our AE title.
    pub ae_title: String,
    /// Associations at once; more are rejected (transient, local limit).
    pub max_associations: usize,
    /// Largest PDU we receive.
    pub max_pdu_length: u32,
    /// Time allowed to complete association negotiation (ARTIM).
    pub artim_timeout: Duration,
    /// Time an association may stay silent.
    pub idle_timeout: Duration,
    /// Associations at once from one IP address (0: no limit beyond
    /// `max_associations`); more are rejected like those over the overall
    /// limit, so one misbehaving sender cannot take every slot.
    pub max_associations_per_peer: usize,
    /// Time given to associations in flight at shutdown.
    pub shutdown_grace: Duration,
    /// DICOM TLS (PS3.15 B.1, BCP 195): when set, every connection on this
    /// listener must complete a TLS handshake first.
    pub tls: Option<Arc<TlsServer>>,
    /// Largest C-FIND/C-MOVE/C-GET identifier accepted, in bytes.
    pub max_identifier_bytes: usize,
    /// Largest image box N-SET accepted (it carries the image), in bytes;
    /// other print requests are held to `max_identifier_bytes`.
    pub max_print_bytes: usize,
    /// The association counts, shared by every listener served with clones
    /// of this configuration (the plain and the TLS port count together).
    pub counts: Arc<std::sync::OnceLock<Counts>>,
}

/// Associations open now: overall, and per peer address.
#[derive(Debug)]
pub struct Counts {
    overall: Arc<Semaphore>,
    per_peer: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl Default for ScpConfig {
    fn default() -> Self {
        ScpConfig {
            ae_title: "FILMLESS".into(),
            max_associations: 64,
            max_pdu_length: 65_536,
            artim_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_associations_per_peer: 0,
            shutdown_grace: Duration::from_secs(30),
            tls: None,
            counts: Default::default(),
            max_identifier_bytes: 1024 * 1024,
            max_print_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Accept associations on `listener` until `shutdown`, then give those in
/// flight [`ScpConfig::shutdown_grace`] to finish.
pub async fn serve<S: Provider>(
    listener: TcpListener,
    config: ScpConfig,
    services: Arc<S>,
    shutdown: CancellationToken,
) -> Result<()> {
    let config = Arc::new(config);
    let counts = config.counts.get_or_init(|| Counts {
        overall: Arc::new(Semaphore::new(config.max_associations.max(1))),
        per_peer: Default::default(),
    });
    let (limit, per_peer) = (counts.overall.clone(), counts.per_peer.clone());
    let tracker = TaskTracker::new();
    let rejections = Arc::new(Semaphore::new(MAX_PENDING_REJECTIONS));
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        let id = ASSOCIATION_IDS.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("association", id, peer = %peer, calling_ae = tracing::field::Empty);
        let slot = PeerSlot::take(&per_peer, peer.ip(), config.max_associations_per_peer);
        match (limit.clone().try_acquire_owned(), slot) {
            (Ok(permit), Some(slot)) => {
                let (config, services) = (config.clone(), services.clone());
                tracker.spawn(
                    async move {
                        run_association(socket, peer, id, &config, services).await;
                        drop(permit);
                        drop(slot);
                    }
                    .instrument(span),
                );
            }
            (permit, _) => {
                let artim = config.artim_timeout;
                let config = config.clone();
                let overall = permit.is_err();
                // Answering a refusal takes a task until the peer speaks (at
                // most ARTIM); beyond a bound, just close the connection.
                let Ok(rejecting) = rejections.clone().try_acquire_owned() else {
                    drop(socket);
                    continue;
                };
                tracker.spawn(
                    async move {
                        let _rejecting = rejecting;
                        if overall {
                            tracing::warn!(
                                limit = config.max_associations,
                                "association rejected: too many associations at once (dicom.max_associations)"
                            );
                        } else {
                            tracing::warn!(
                                limit = config.max_associations_per_peer,
                                "association rejected: too many associations at once from this address \
                                 (dicom.max_associations_per_peer)"
                            );
                        }
                        // On a TLS port the refusal goes inside TLS, as a
                        // DICOM TLS peer expects it (PS3.15 B.1).
                        let _ = tokio::time::timeout(artim, async {
                            match &config.tls {
                                None => reject_busy(socket).await,
                                Some(tls) => {
                                    let (tls, _) = tls
                                        .for_connection()
                                        .map_err(|e| Error::Protocol(e.to_string()))?;
                                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                                    reject_busy(acceptor.accept(socket).await?).await
                                }
                            }
                        })
                        .await;
                    }
                    .instrument(span),
                );
            }
        }
    }
    // Stop listening now: new associations are refused at once (connection
    // refused) instead of waiting in the backlog through the grace period.
    drop(listener);
    tracker.close();
    if tokio::time::timeout(config.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("associations still open at the end of the shutdown grace period");
    }
    Ok(())
}

/// Refusals being answered at once; connections beyond are closed unanswered.
const MAX_PENDING_REJECTIONS: usize = 256;

/// One association's place in the per-address count, given back on drop.
struct PeerSlot {
    counts: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl PeerSlot {
    /// A place for `ip`, unless it holds `limit` already (0: no limit).
    fn take(
        counts: &Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
        ip: std::net::IpAddr,
        limit: usize,
    ) -> Option<PeerSlot> {
        let mut map = counts.lock().expect("peer counts");
        let n = map.entry(ip).or_insert(0);
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().expect("peer counts");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Read the A-ASSOCIATE-RQ and answer A-ASSOCIATE-RJ (transient, local
/// limit exceeded, PS3.8 §9.3.4), then wait for the requestor to close the
/// connection (state Sta13, bounded by the caller's ARTIM timeout): closing
/// first can reach the peer before it has read the A-ASSOCIATE-RJ, and it
/// then reports a dropped connection instead of the refusal.
async fn reject_busy<S>(mut socket: S) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = bytes::BytesMut::new();
    dicom_ul::association::read_pdu_from_wire_async(&mut socket, &mut buf, 65_536, false).await?;
    let mut out = Vec::new();
    dicom_ul::write_pdu(
        &mut out,
        &Pdu::AssociationRJ(AssociationRJ {
            result: AssociationRJResult::Transient,
            source: AssociationRJSource::ServiceProviderPresentation(
                AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
            ),
        }),
    )
    .map_err(|e| Error::Protocol(e.to_string()))?;
    socket.write_all(&out).await?;
    socket.flush().await?;
    let mut sink = [0u8; 512];
    while socket.read(&mut sink).await? > 0 {}
    Ok(())
}

struct Access<S> {
    services: Arc<S>,
    peer: SocketAddr,
    /// The TLS client certificate slot of this connection (TLS ports).
    certificate: Option<CapturedCertificate>,
}

impl<S: Provider> AccessControl for Access<S> {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> std::result::Result<(), AssociationRJServiceUserReason> {
        // The handshake is over when the A-ASSOCIATE-RQ is read: the slot
        // holds the client's certificate if it presented one.
        let certificate = self
            .certificate
            .as_ref()
            .and_then(|c| c.lock().ok().and_then(|c| c.clone()));
        self.services.check_association(&AssociationRequest {
            calling_ae: calling_ae_title.trim(),
            called_ae: called_ae_title.trim(),
            peer: self.peer,
            tls: self.certificate.is_some(),
            client_certificate: certificate.as_deref(),
        })
    }
}

/// SCP/SCU role selection (PS3.7 D.3.3.4): a C-GET requestor proposes to be
/// the storage SCP; we accept the roles it asks for.
struct Roles;

impl Negotiation for Roles {
    fn negotiate_roles(
        &self,
        _sop_class_uid: &str,
        scu_role: bool,
        scp_role: bool,
    ) -> Option<RequestorRoles> {
        Some(RequestorRoles {
            scu: scu_role,
            scp: scp_role,
        })
    }
}

async fn run_association<S: Provider>(
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    config: &ScpConfig,
    services: Arc<S>,
) {
    let tls = match config.tls.as_ref().map(|t| t.for_connection()) {
        None => None,
        Some(Ok(tls)) => Some(tls),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "association not established: TLS configuration");
            return;
        }
    };
    let certificate = tls.as_ref().map(|(_, c)| c.clone());
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(Access {
            services: services.clone(),
            peer,
            certificate: certificate.clone(),
        })
        .with_negotiation(Roles)
        .ae_title(config.ae_title.clone())
        .promiscuous(true)
        .max_pdu_length(config.max_pdu_length);
    let not_established = |e: Option<dicom_ul::association::Error>| match e {
        Some(e) => tracing::info!(reason = %e, "association not established"),
        None => tracing::info!(
            "association not established: no A-ASSOCIATE-RQ within the ARTIM timeout"
        ),
    };
    match tls {
        None => {
            match tokio::time::timeout(config.artim_timeout, options.establish_async(socket)).await
            {
                Ok(Ok(a)) => run_session(a, peer, id, config, services, None).await,
                Ok(Err(e)) => not_established(Some(e)),
                Err(_) => not_established(None),
            }
        }
        Some((tls, certificate)) => {
            options = options.tls_config(tls);
            match tokio::time::timeout(config.artim_timeout, options.establish_tls_async(socket))
                .await
            {
                Ok(Ok(a)) => {
                    let certificate = certificate.lock().ok().and_then(|c| c.clone());
                    run_session(a, peer, id, config, services, certificate.map(Arc::new)).await
                }
                Ok(Err(e)) => not_established(Some(e)),
                Err(_) => not_established(None),
            }
        }
    }
}

async fn run_session<S: Provider, W: Wire>(
    assoc: AsyncServerAssociation<W>,
    peer: SocketAddr,
    id: u64,
    config: &ScpConfig,
    services: Arc<S>,
    client_certificate: Option<Arc<Vec<u8>>>,
) {
    let info = AssociationInfo {
        id,
        calling_ae: assoc.peer_ae_title().trim().to_owned(),
        called_ae: assoc.called_ae_title().trim().to_owned(),
        peer,
        client_certificate,
    };
    tracing::Span::current().record("calling_ae", info.calling_ae.as_str());
    let accepted = assoc
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .count();
    tracing::info!(
        called_ae = %info.called_ae,
        presentation_contexts = accepted,
        max_pdu = assoc.peer_max_pdu_length(),
        "association established"
    );
    let mut session = Session {
        chan: Channel::new(assoc, config.idle_timeout),
        info,
        services,
        config,
        next_message_id: 1,
        reports: Vec::new(),
        printed: false,
    };
    session.services.established(&session.info);
    // Ended however the session ends, a panic included.
    let _ended = Ended(session.services.clone(), session.info.clone());
    let outcome = session.run().await;
    if session.printed {
        session.services.print_closed(&session.info).await;
    }
    // Reports sent here and not answered go another way.
    for (_, id) in std::mem::take(&mut session.reports) {
        session
            .services
            .reported(&session.info, id, Err("the association ended first".into()))
            .await;
    }
    match outcome {
        Ok(()) => {
            tracing::info!("association released");
            let _ = session.chan.confirm_release().await;
        }
        Err(Error::Aborted) => tracing::info!("association aborted by the peer"),
        Err(e) => {
            tracing::warn!(error = %e, "aborting association");
            session.chan.abort().await;
        }
    }
}

struct Session<'a, S, W: Wire> {
    chan: Channel<AsyncServerAssociation<W>, W>,
    info: AssociationInfo,
    services: Arc<S>,
    config: &'a ScpConfig,
    next_message_id: u16,
    /// N-EVENT-REPORTs sent and not yet answered: (message ID, report id).
    reports: Vec<(u16, i64)>,
    /// Whether a print operation came: its film sessions end with the
    /// association.
    printed: bool,
}

/// Tells the application an association ended, when dropped.
struct Ended<S: Provider>(Arc<S>, AssociationInfo);

impl<S: Provider> Drop for Ended<S> {
    fn drop(&mut self) {
        self.0.ended(&self.1);
    }
}

/// Whether a presentation context is one of Print Management's: a print
/// meta SOP class, or a member negotiated on its own.
fn print_context(abstract_syntax: &str) -> bool {
    matches!(
        abstract_syntax,
        svc::BASIC_GRAYSCALE_PRINT_MANAGEMENT_META
            | svc::BASIC_COLOR_PRINT_MANAGEMENT_META
            | svc::BASIC_FILM_SESSION
            | svc::BASIC_FILM_BOX
            | svc::BASIC_GRAYSCALE_IMAGE_BOX
            | svc::BASIC_COLOR_IMAGE_BOX
            | svc::PRINTER
    )
}

/// The abstract and transfer syntax of an accepted presentation context.
fn context_of<W: Wire>(
    chan: &Channel<AsyncServerAssociation<W>, W>,
    pc: u8,
) -> Option<(String, String)> {
    chan.association()
        .presentation_contexts()
        .iter()
        .find(|c| c.id == pc && c.reason == PresentationContextResultReason::Acceptance)
        .map(|c| (c.abstract_syntax.clone(), c.transfer_syntax.clone()))
}

impl<S: Provider, W: Wire> Session<'_, S, W> {
    /// Serve messages until the peer releases (Ok) or something breaks.
    async fn run(&mut self) -> Result<()> {
        loop {
            let (pc, command) = match self.chan.next().await? {
                Event::Release => return Ok(()),
                Event::Command { pc, command } => (pc, command),
                Event::Data { .. } => {
                    return Err(Error::Protocol("data set without a command".into()))
                }
            };
            let Some((abstract_syntax, ts)) = context_of(&self.chan, pc) else {
                return Err(Error::Protocol(format!(
                    "command on presentation context {pc}, which was not accepted"
                )));
            };
            let field = command.field()?;
            tracing::debug!(?field, message_id = ?command.message_id, "request");
            let started = std::time::Instant::now();
            let served = self.serve(pc, &command, field, &abstract_syntax, &ts).await;
            tracing::debug!(?field, ok = served.is_ok(), "served");
            // Timed to the final response (a storage commitment's report
            // may follow it), and counted even when the association then
            // broke.
            if let Some((status, at)) = self.chan.take_status() {
                self.services
                    .served(&self.info, field, status, at.duration_since(started));
            }
            served?;
        }
    }

    /// Serve one request.
    async fn serve(
        &mut self,
        pc: u8,
        command: &Command,
        field: CommandField,
        abstract_syntax: &str,
        ts: &str,
    ) -> Result<()> {
        if print_context(abstract_syntax) {
            let operation = match field {
                CommandField::NCreateRq => Some(NormalizedOperation::Create),
                CommandField::NSetRq => Some(NormalizedOperation::Set),
                CommandField::NGetRq => Some(NormalizedOperation::Get),
                CommandField::NActionRq => Some(NormalizedOperation::Action),
                CommandField::NDeleteRq => Some(NormalizedOperation::Delete),
                _ => None,
            };
            if let Some(operation) = operation {
                return self
                    .print(pc, command, operation, abstract_syntax, ts)
                    .await;
            }
        }
        match field {
            CommandField::CEchoRq => {
                self.drain_data_set(command).await?;
                let response = self.services.echo(&self.info).await;
                self.respond(pc, command, response).await?;
            }
            CommandField::CStoreRq => self.store(pc, command, ts.to_owned()).await?,
            CommandField::CFindRq => self.find(pc, command, abstract_syntax, ts).await?,
            CommandField::CMoveRq | CommandField::CGetRq => {
                self.retrieve(pc, command, abstract_syntax, ts).await?
            }
            // A cancel for an operation already finished: nothing to do.
            CommandField::CCancelRq => {}
            CommandField::NCreateRq | CommandField::NSetRq => {
                self.normalized(pc, command, abstract_syntax, ts).await?
            }
            CommandField::NActionRq => self.action(pc, command, abstract_syntax, ts).await?,
            CommandField::NEventReportRsp => {
                self.drain_data_set(command).await?;
                self.report_answered(command).await;
            }
            other => {
                tracing::info!(command_field = other.code(), "unsupported command");
                self.drain_data_set(command).await?;
                if command.message_id.is_some() {
                    let mut rsp = command.response(Status::UNRECOGNIZED_OPERATION, false);
                    rsp.error_comment = Some(
                        "only C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET, N-CREATE, N-SET and \
                         N-ACTION are supported (N-GET and N-DELETE: print management)"
                            .into(),
                    );
                    self.chan.send(pc, &rsp, None).await?;
                }
            }
        }
        Ok(())
    }

    /// N-CREATE or N-SET: the data set decoded, the service's answer sent.
    async fn normalized(
        &mut self,
        pc: u8,
        command: &Command,
        abstract_syntax: &str,
        ts: &str,
    ) -> Result<()> {
        let create = command.field == Some(CommandField::NCreateRq);
        let limit = self.config.max_identifier_bytes;
        let data_set = match self.normalized_data_set(command, limit, ts).await? {
            Ok(d) => d,
            Err(r) => return self.respond(pc, command, r).await,
        };
        let (class, instance) = if create {
            (
                &command.affected_sop_class_uid,
                &command.affected_sop_instance_uid,
            )
        } else {
            (
                &command.requested_sop_class_uid,
                &command.requested_sop_instance_uid,
            )
        };
        let sop_class_uid = class.clone().unwrap_or_else(|| abstract_syntax.to_owned());
        if sop_class_uid != abstract_syntax {
            let r = Response::with(
                Status::CLASS_INSTANCE_CONFLICT,
                "the SOP class is not the presentation context's",
            );
            return self.respond(pc, command, r).await;
        }
        let request = NormalizedRequest {
            sop_class_uid,
            sop_instance_uid: instance.clone().filter(|u| !u.is_empty()),
            action_type_id: command.action_type_id,
            attribute_identifiers: Vec::new(),
            data_set,
        };
        let answer = if create {
            self.services.n_create(&self.info, request).await
        } else {
            self.services.n_set(&self.info, request).await
        };
        self.respond_normalized(pc, command, answer, ts).await
    }

    /// An N-operation of Print Management: the data set decoded (an image
    /// box's may be large), the member class checked against the meta
    /// class, the service's answer sent.
    async fn print(
        &mut self,
        pc: u8,
        command: &Command,
        operation: NormalizedOperation,
        abstract_syntax: &str,
        ts: &str,
    ) -> Result<()> {
        self.printed = true;
        // Only an image box's N-SET carries an image; the rest are small.
        let image_box = operation == NormalizedOperation::Set
            && matches!(
                command.requested_sop_class_uid.as_deref(),
                Some(svc::BASIC_GRAYSCALE_IMAGE_BOX | svc::BASIC_COLOR_IMAGE_BOX)
            );
        let limit = if image_box {
            self.config.max_print_bytes
        } else {
            self.config.max_identifier_bytes
        };
        let data_set = match self.normalized_data_set(command, limit, ts).await? {
            Ok(d) => d,
            Err(r) => return self.respond(pc, command, r).await,
        };
        let (class, instance) = if operation == NormalizedOperation::Create {
            (
                &command.affected_sop_class_uid,
                &command.affected_sop_instance_uid,
            )
        } else {
            (
                &command.requested_sop_class_uid,
                &command.requested_sop_instance_uid,
            )
        };
        let sop_class_uid = class.clone().unwrap_or_else(|| abstract_syntax.to_owned());
        if sop_class_uid != abstract_syntax
            && !svc::print_meta_member(abstract_syntax, &sop_class_uid)
        {
            let r = Response::with(
                Status::NO_SUCH_SOP_CLASS,
                format!("{sop_class_uid} is not part of the negotiated {abstract_syntax}"),
            );
            return self.respond(pc, command, r).await;
        }
        let request = NormalizedRequest {
            sop_class_uid,
            sop_instance_uid: instance.clone().filter(|u| !u.is_empty()),
            action_type_id: command.action_type_id,
            attribute_identifiers: command.attribute_identifiers.clone(),
            data_set,
        };
        let answer = self
            .services
            .print(&self.info, abstract_syntax, operation, request)
            .await;
        self.respond_normalized(pc, command, answer, ts).await
    }

    /// N-ACTION (storage commitment): answered at once; the report follows
    /// on this association when the service has one for it.
    async fn action(
        &mut self,
        pc: u8,
        command: &Command,
        abstract_syntax: &str,
        ts: &str,
    ) -> Result<()> {
        let data_set = match self
            .read_data_set(command)
            .await?
            .map(|b| dataset::decode(&b, ts))
        {
            Some(Ok(obj)) => Some(obj),
            Some(Err(e)) => {
                let r = Response::with(
                    Status::PROCESSING_FAILURE,
                    format!("action information does not parse: {e}"),
                );
                return self.respond(pc, command, r).await;
            }
            None => None,
        };
        let request = NormalizedRequest {
            sop_class_uid: command
                .requested_sop_class_uid
                .clone()
                .unwrap_or_else(|| abstract_syntax.to_owned()),
            sop_instance_uid: command.requested_sop_instance_uid.clone(),
            action_type_id: command.action_type_id,
            attribute_identifiers: Vec::new(),
            data_set,
        };
        let (answer, report) = self.services.n_action(&self.info, request).await;
        let accepted = !answer.response.status.is_failure();
        self.respond_normalized(pc, command, answer, ts).await?;
        let Some(id) = report.filter(|_| accepted) else {
            return Ok(());
        };
        // A requester that wants the report here keeps the association
        // open; one that wants it on an association of its own releases
        // now (PS3.4 J.3.3). Wait a moment to see which.
        match tokio::time::timeout(REPORT_GRACE, self.chan.next()).await {
            Err(_) => {}
            Ok(Ok(event)) => {
                let released = matches!(event, Event::Release);
                self.chan.unread(event);
                if released {
                    self.services
                        .reported(
                            &self.info,
                            id,
                            Err("the requester released the association".into()),
                        )
                        .await;
                    return Ok(());
                }
            }
            Ok(Err(e)) => {
                self.services
                    .reported(&self.info, id, Err(e.to_string()))
                    .await;
                return Err(e);
            }
        }
        let Some(report) = self.services.report(&self.info, id).await else {
            return Ok(());
        };
        let message_id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        let rq = Command {
            field: Some(CommandField::NEventReportRq),
            message_id: Some(message_id),
            affected_sop_class_uid: Some(report.sop_class_uid),
            affected_sop_instance_uid: Some(report.sop_instance_uid),
            event_type_id: Some(report.event_type_id),
            has_data_set: true,
            ..Command::default()
        };
        let data = dataset::encode(&report.data_set, ts)?;
        self.reports.push((message_id, id));
        self.chan.send(pc, &rq, Some(&data)).await?;
        tracing::info!(
            event_type = report.event_type_id,
            "storage commitment report sent"
        );
        Ok(())
    }

    /// The peer answered one of our N-EVENT-REPORTs.
    async fn report_answered(&mut self, command: &Command) {
        let Some(n) = self
            .reports
            .iter()
            .position(|(m, _)| Some(*m) == command.responding_to)
        else {
            return;
        };
        let (_, id) = self.reports.remove(n);
        let outcome = command
            .status
            .ok_or_else(|| "N-EVENT-REPORT-RSP without a status".to_owned());
        self.services.reported(&self.info, id, outcome).await;
    }

    async fn respond_normalized(
        &mut self,
        pc: u8,
        request: &Command,
        answer: NormalizedResponse,
        ts: &str,
    ) -> Result<()> {
        let data = match &answer.data_set {
            Some(obj) if !answer.response.status.is_failure() => Some(dataset::encode(obj, ts)?),
            _ => None,
        };
        let mut rsp = request.response(answer.response.status, data.is_some());
        rsp.error_comment = answer.response.comment;
        rsp.name_attributes(answer.response.offending);
        rsp.error_id = answer.response.error_id;
        if let Some(uid) = answer.sop_instance_uid {
            rsp.affected_sop_instance_uid = Some(uid);
        }
        self.chan.send(pc, &rsp, data.as_deref()).await
    }

    async fn respond(&mut self, pc: u8, request: &Command, response: Response) -> Result<()> {
        let mut rsp = request.response(response.status, false);
        rsp.error_comment = response.comment;
        rsp.name_attributes(response.offending);
        rsp.error_id = response.error_id;
        self.chan.send(pc, &rsp, None).await
    }

    /// Skip a data set we do not want.
    async fn drain_data_set(&mut self, command: &Command) -> Result<()> {
        if !command.has_data_set {
            return Ok(());
        }
        loop {
            match self.chan.next().await? {
                Event::Data { last: true, .. } => return Ok(()),
                Event::Data { .. } => {}
                _ => return Err(Error::Protocol("message ended before its data set".into())),
            }
        }
    }

    /// The data set of a normalized request, decoded; or the refusal of
    /// one over `limit` bytes (0213H) or that does not parse (0110H).
    async fn normalized_data_set(
        &mut self,
        command: &Command,
        limit: usize,
        ts: &str,
    ) -> Result<std::result::Result<Option<InMemDicomObject>, Response>> {
        Ok(match self.read_data_set_up_to(command, limit).await? {
            None if command.has_data_set => Err(Response::with(
                Status::RESOURCE_LIMITATION,
                format!("data set larger than {limit} bytes (the most this request may carry)"),
            )),
            None => Ok(None),
            Some(bytes) => dataset::decode(&bytes, ts).map(Some).map_err(|e| {
                Response::with(
                    Status::PROCESSING_FAILURE,
                    format!("data set does not parse: {e}"),
                )
            }),
        })
    }

    /// Collect a (small) data set: an identifier.
    async fn read_data_set(&mut self, command: &Command) -> Result<Option<Vec<u8>>> {
        self.read_data_set_up_to(command, self.config.max_identifier_bytes)
            .await
    }

    /// Collect a data set of at most `limit` bytes (`None`: larger; the
    /// rest is read and dropped to stay in step).
    async fn read_data_set_up_to(
        &mut self,
        command: &Command,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        if !command.has_data_set {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut too_large = false;
        loop {
            match self.chan.next().await? {
                Event::Data { data, last, .. } => {
                    if out.len() + data.len() > limit {
                        too_large = true;
                    } else {
                        out.extend_from_slice(&data);
                    }
                    if last {
                        break;
                    }
                }
                _ => return Err(Error::Protocol("message ended before its data set".into())),
            }
        }
        Ok(if too_large { None } else { Some(out) })
    }

    async fn store(&mut self, pc: u8, command: &Command, ts: String) -> Result<()> {
        if !command.has_data_set {
            let mut r = Response::with(Status::CANNOT_UNDERSTAND, "C-STORE-RQ without a data set");
            r.offending = vec![dicom_dictionary_std::tags::COMMAND_DATA_SET_TYPE];
            return self.respond(pc, command, r).await;
        }
        let (Some(class), Some(instance)) = (
            &command.affected_sop_class_uid,
            &command.affected_sop_instance_uid,
        ) else {
            self.drain_data_set(command).await?;
            let r = Response::with(
                Status::CANNOT_UNDERSTAND,
                "C-STORE-RQ without Affected SOP Class UID or Affected SOP Instance UID",
            );
            return self.respond(pc, command, r).await;
        };
        let request = StoreRequest {
            sop_class_uid: class.clone(),
            sop_instance_uid: instance.clone(),
            transfer_syntax: ts,
        };
        // Pump fragments to the service while it stores them; a few
        // fragments in flight bound the memory held per association.
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
        let services = self.services.clone();
        let info = self.info.clone();
        let handler = services.store(&info, request, rx);
        let chan = &mut self.chan;
        let pump = async move {
            loop {
                let broken = match chan.next().await {
                    Ok(Event::Data { data, last, .. }) => {
                        // A service that stopped early (bad data) dropped the
                        // receiver: keep reading to stay in step.
                        let _ = tx.send(Ok(Bytes::from(data))).await;
                        if last {
                            return Ok(());
                        }
                        continue;
                    }
                    Ok(_) => Error::Protocol("message ended before its data set".into()),
                    Err(e) => e,
                };
                // Tell the service the data set is cut short, so it keeps
                // nothing of it, before the association ends.
                let _ = tx
                    .send(Err(std::io::Error::other(format!(
                        "the transfer broke off: {broken}"
                    ))))
                    .await;
                return Err(broken);
            }
        };
        let (response, pumped): (Response, Result<()>) = tokio::join!(handler, pump);
        pumped?;
        if response.status.is_failure() {
            tracing::info!(status = %response.status, comment = ?response.comment, "store refused");
        }
        self.respond(pc, command, response).await
    }

    async fn find(&mut self, pc: u8, command: &Command, model: &str, ts: &str) -> Result<()> {
        let identifier = self.read_data_set(command).await?;
        let identifier = match identifier.map(|b| dataset::decode(&b, ts)) {
            Some(Ok(obj)) => obj,
            Some(Err(e)) => {
                let r = Response::with(
                    Status::DOES_NOT_MATCH_SOP_CLASS,
                    format!("identifier does not parse: {e}"),
                );
                return self.respond(pc, command, r).await;
            }
            None => {
                let r = Response::with(
                    Status::DOES_NOT_MATCH_SOP_CLASS,
                    "C-FIND-RQ without a usable identifier",
                );
                return self.respond(pc, command, r).await;
            }
        };
        let request = QueryRequest {
            sop_class_uid: model.to_owned(),
            identifier,
            move_destination: None,
        };
        let (tx, mut rx) = mpsc::channel::<InMemDicomObject>(16);
        let services = self.services.clone();
        let info = self.info.clone();
        let handler = services.find(&info, request, tx);
        let chan = &mut self.chan;
        let message_id = command.message_id;
        let sender = async move {
            let mut sent = 0u64;
            while let Some(m) = rx.recv().await {
                let data = dataset::encode(&m, ts)?;
                chan.send(pc, &command.response(Status::PENDING, true), Some(&data))
                    .await?;
                sent += 1;
                if cancelled(chan, message_id)? {
                    return Ok((sent, true));
                }
            }
            Ok::<_, Error>((sent, false))
        };
        let (response, sent) = tokio::join!(handler, sender);
        let (sent, was_cancelled) = sent?;
        let response = if was_cancelled {
            Response::with(Status::CANCEL, "cancelled by C-CANCEL-RQ")
        } else {
            response
        };
        tracing::info!(matches = sent, status = %response.status, "find done");
        self.respond(pc, command, response).await
    }

    async fn retrieve(&mut self, pc: u8, command: &Command, model: &str, ts: &str) -> Result<()> {
        let is_move = command.field == Some(CommandField::CMoveRq);
        let identifier = self.read_data_set(command).await?;
        let identifier = match identifier.map(|b| dataset::decode(&b, ts)) {
            Some(Ok(obj)) => obj,
            _ => {
                let r = Response::with(
                    Status::DOES_NOT_MATCH_SOP_CLASS,
                    "identifier missing or does not parse",
                );
                return self.respond(pc, command, r).await;
            }
        };
        let destination = if is_move {
            let Some(ae) = command
                .move_destination
                .as_deref()
                .filter(|a| !a.is_empty())
            else {
                let r = Response::with(
                    Status::MOVE_DESTINATION_UNKNOWN,
                    "no Move Destination in the C-MOVE-RQ",
                );
                return self.respond(pc, command, r).await;
            };
            match self.services.move_destination(&self.info, ae).await {
                Ok(addr) => Some((ae.to_owned(), addr)),
                Err(r) => return self.respond(pc, command, r).await,
            }
        } else {
            None
        };
        let request = QueryRequest {
            sop_class_uid: model.to_owned(),
            identifier,
            move_destination: destination.as_ref().map(|(ae, _)| ae.clone()),
        };
        let selected = if is_move {
            self.services.select_move(&self.info, request).await
        } else {
            self.services.select_get(&self.info, request).await
        };
        let items = match selected {
            Ok(items) => items,
            Err(r) => return self.respond(pc, command, r).await,
        };
        let target = match destination {
            Some((ae, addr)) => Destination::Remote {
                // Sub-operations come from the AE title the requester
                // called (a tenant's own, where there are tenants).
                calling_ae: self.info.called_ae.clone(),
                called_ae: ae,
                addr,
                originator: (
                    self.info.calling_ae.clone(),
                    command.message_id.unwrap_or(0),
                ),
                max_pdu_length: self.config.max_pdu_length,
                timeout: self.config.idle_timeout,
            },
            None => Destination::ThisAssociation,
        };
        let outcome = retrieve::run(
            &mut self.chan,
            &mut self.next_message_id,
            pc,
            command,
            target,
            items,
            (&*self.services, &self.info),
        )
        .await?;
        tracing::info!(
            completed = outcome.counts.completed,
            failed = outcome.counts.failed,
            warning = outcome.counts.warning,
            status = %outcome.response.status,
            "retrieve done"
        );
        let mut rsp = command.response(outcome.response.status, outcome.failed_list.is_some());
        rsp.error_comment = outcome.response.comment;
        rsp.sub_operations = Some(outcome.counts);
        let data = match &outcome.failed_list {
            Some(obj) => Some(dataset::encode(obj, ts)?),
            None => None,
        };
        self.chan.send(pc, &rsp, data.as_deref()).await
    }
}
