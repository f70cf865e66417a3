//! The DIMSE service class user: associations out, for C-ECHO and C-STORE
//! (used by C-MOVE sub-operations, forwarding and the `echo`/`send`
//! commands).

use std::net::SocketAddr;
use std::time::Duration;

use dicom_ul::association::AsyncClientAssociation;
use dicom_ul::pdu::{PresentationContextNegotiated, PresentationContextResultReason};
use dicom_ul::ClientAssociationOptions;
use tokio::net::TcpStream;

use crate::command::{Command, CommandField};
use crate::dataset::{EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use crate::error::{Error, Result};
use crate::message::{Channel, Event};
use crate::service::{EventReport, Response};

/// Verification SOP Class.
pub const VERIFICATION: &str = "1.2.840.10008.1.1";

/// Where to connect and as whom.
#[derive(Debug, Clone)]
pub struct ScuOptions {
    /// Our AE title.
    pub calling_ae: String,
    /// The peer's AE title.
    pub called_ae: String,
    /// The peer's address.
    pub addr: SocketAddr,
    /// Largest PDU we receive.
    pub max_pdu_length: u32,
    /// Time allowed to connect, negotiate and answer each message.
    pub timeout: Duration,
}

/// How a C-MOVE or C-GET ended.
#[derive(Debug, Clone)]
pub struct Retrieved {
    /// The final response.
    pub response: Response,
    /// Its sub-operation counts.
    pub counts: crate::command::SubOperations,
    /// The Failed SOP Instance UID List, when the peer sent one.
    pub failed: Vec<String>,
}

/// An association we requested.
pub struct ScuAssociation {
    chan: Channel<AsyncClientAssociation<TcpStream>>,
    next_message_id: u16,
    timeout: Duration,
}

/// An accepted presentation context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedContext {
    /// Its ID.
    pub id: u8,
    /// The SOP class.
    pub abstract_syntax: String,
    /// The transfer syntax the acceptor chose.
    pub transfer_syntax: String,
}

impl ScuAssociation {
    /// Request an association proposing each (SOP class, transfer
    /// syntaxes) as one presentation context (at most 128).
    pub async fn connect(
        options: &ScuOptions,
        proposals: &[(String, Vec<String>)],
    ) -> Result<Self> {
        Self::connect_with_roles(options, proposals, &[]).await
    }

    /// As [`ScuAssociation::connect`], proposing to be the SCP (not the
    /// SCU) of each SOP class in `scp_of` (SCP/SCU Role Selection, PS3.7
    /// D.3.3.4): what sending an N-EVENT-REPORT on our own association
    /// takes.
    pub async fn connect_with_roles(
        options: &ScuOptions,
        proposals: &[(String, Vec<String>)],
        scp_of: &[&str],
    ) -> Result<Self> {
        Self::connect_waiting(options, proposals, scp_of, options.timeout).await
    }

    /// As [`ScuAssociation::connect_with_roles`], waiting up to
    /// `response_timeout` for each message of the peer once associated
    /// (a C-MOVE or C-GET of a large study may send no pending response
    /// for a long time; PS3.4 C.4.2.3.1 makes them optional).
    pub async fn connect_waiting(
        options: &ScuOptions,
        proposals: &[(String, Vec<String>)],
        scp_of: &[&str],
        response_timeout: Duration,
    ) -> Result<Self> {
        if proposals.is_empty() || proposals.len() > 128 {
            return Err(Error::Refused(format!(
                "{} presentation contexts to propose",
                proposals.len()
            )));
        }
        let mut o = ClientAssociationOptions::new()
            .calling_ae_title(options.calling_ae.clone())
            .called_ae_title(options.called_ae.clone())
            .max_pdu_length(options.max_pdu_length)
            .connection_timeout(options.timeout)
            .read_timeout(response_timeout)
            .write_timeout(options.timeout);
        for (class, syntaxes) in proposals {
            o = o.with_presentation_context(class.clone(), syntaxes.clone());
        }
        for class in scp_of {
            o = o.with_role_selection(class.to_string(), false, true);
        }
        let mut assoc = tokio::time::timeout(options.timeout, o.establish_async(options.addr))
            .await
            .map_err(|_| Error::Timeout("association request not answered"))?
            .map_err(|e| Error::Refused(e.to_string()))?;
        let _ = assoc.inner_stream().set_nodelay(true);
        Ok(ScuAssociation {
            chan: Channel::new(assoc, response_timeout),
            next_message_id: 1,
            timeout: response_timeout,
        })
    }

    /// The presentation contexts the peer accepted.
    pub fn accepted(&self) -> Vec<AcceptedContext> {
        accepted_contexts(self.chan.association().presentation_contexts())
    }

    fn message_id(&mut self) -> u16 {
        let id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        id
    }

    /// C-ECHO.
    pub async fn echo(&mut self) -> Result<Response> {
        let pc = self
            .accepted()
            .into_iter()
            .find(|c| c.abstract_syntax == VERIFICATION)
            .ok_or_else(|| Error::Refused("the peer did not accept Verification".into()))?;
        let rq = Command::request(
            CommandField::CEchoRq,
            self.message_id(),
            VERIFICATION,
            false,
        );
        self.chan.send(pc.id, &rq, None).await?;
        self.response(&rq).await
    }

    /// C-STORE a bare data set on context `pc`. `originator` is the C-MOVE
    /// requestor's AE title and message ID, for sub-operations.
    pub async fn store(
        &mut self,
        pc: &AcceptedContext,
        sop_instance_uid: &str,
        data_set: &[u8],
        originator: Option<(&str, u16)>,
    ) -> Result<Response> {
        let mut rq = Command::request(
            CommandField::CStoreRq,
            self.message_id(),
            &pc.abstract_syntax,
            true,
        );
        rq.affected_sop_instance_uid = Some(sop_instance_uid.to_owned());
        if let Some((ae, id)) = originator {
            rq.move_originator_ae_title = Some(ae.to_owned());
            rq.move_originator_message_id = Some(id);
        }
        self.chan.send(pc.id, &rq, Some(data_set)).await?;
        self.response(&rq).await
    }

    /// C-FIND with `identifier` (a data set in the context's transfer
    /// syntax) on context `pc`: the matches (one data set per pending
    /// response) and the final response.
    pub async fn find(
        &mut self,
        pc: &AcceptedContext,
        identifier: &[u8],
    ) -> Result<(Vec<Vec<u8>>, Response)> {
        let rq = Command::request(
            CommandField::CFindRq,
            self.message_id(),
            &pc.abstract_syntax,
            true,
        );
        self.chan.send(pc.id, &rq, Some(identifier)).await?;
        let mut matches = Vec::new();
        loop {
            let (status, comment, offending, has_data) =
                match tokio::time::timeout(self.timeout, self.chan.next()).await {
                    Err(_) => return Err(Error::Timeout("no response from the peer")),
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(Event::Command { command, .. }))
                        if command.field == Some(CommandField::CFindRsp)
                            && command.responding_to == rq.message_id =>
                    {
                        let status = command.status.ok_or(Error::MalformedCommand(
                            "response without Status (0000,0900)",
                        ))?;
                        (
                            status,
                            command.error_comment,
                            command.offending_elements,
                            command.has_data_set,
                        )
                    }
                    Ok(Ok(Event::Release)) => return Err(Error::Released),
                    Ok(Ok(other)) => {
                        return Err(Error::Protocol(format!(
                            "unexpected message while waiting: {other:?}"
                        )))
                    }
                };
            let data = if has_data {
                self.read_data().await?
            } else {
                Vec::new()
            };
            if status.is_pending() {
                matches.push(data);
            } else {
                return Ok((
                    matches,
                    Response {
                        status,
                        comment,
                        offending,
                        error_id: None,
                    },
                ));
            }
        }
    }

    /// C-MOVE with `identifier` (in the context's transfer syntax) on
    /// context `pc` to `destination`; `on_pending` sees the counts of each
    /// pending response (progress). The final response and its counts.
    /// Waits up to the association's timeout between responses.
    pub async fn move_to(
        &mut self,
        pc: &AcceptedContext,
        destination: &str,
        identifier: &[u8],
        mut on_pending: impl FnMut(crate::command::SubOperations),
    ) -> Result<Retrieved> {
        let mut rq = Command::request(
            CommandField::CMoveRq,
            self.message_id(),
            &pc.abstract_syntax,
            true,
        );
        rq.move_destination = Some(destination.to_owned());
        self.chan.send(pc.id, &rq, Some(identifier)).await?;
        loop {
            let command = match tokio::time::timeout(self.timeout, self.chan.next()).await {
                Err(_) => return Err(Error::Timeout("no C-MOVE response from the peer")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Event::Command { command, .. }))
                    if command.field == Some(CommandField::CMoveRsp)
                        && command.responding_to == rq.message_id =>
                {
                    command
                }
                Ok(Ok(Event::Release)) => return Err(Error::Released),
                Ok(Ok(other)) => {
                    return Err(Error::Protocol(format!(
                        "unexpected message while waiting: {other:?}"
                    )))
                }
            };
            if let Some(done) = self
                .retrieve_response(pc, *command, &mut on_pending)
                .await?
            {
                return Ok(done);
            }
        }
    }

    /// C-GET with `identifier` (in the context's transfer syntax) on
    /// context `pc`: the peer sends the instances back as C-STORE
    /// sub-operations on this association (we proposed the SCP role of
    /// their storage classes); each whole data set goes to `store`, whose
    /// response is sent back. The final C-GET response and its counts.
    pub async fn get<F, Fut>(
        &mut self,
        pc: &AcceptedContext,
        identifier: &[u8],
        mut store: F,
        mut on_pending: impl FnMut(crate::command::SubOperations),
    ) -> Result<Retrieved>
    where
        F: FnMut(crate::service::StoreRequest, Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Response>,
    {
        let rq = Command::request(
            CommandField::CGetRq,
            self.message_id(),
            &pc.abstract_syntax,
            true,
        );
        self.chan.send(pc.id, &rq, Some(identifier)).await?;
        let contexts = self.accepted();
        let mut incoming: Option<(u8, Box<Command>)> = None;
        let mut buf = Vec::new();
        loop {
            let event = match tokio::time::timeout(self.timeout, self.chan.next()).await {
                Err(_) => return Err(Error::Timeout("no C-GET response from the peer")),
                Ok(r) => r?,
            };
            match event {
                Event::Command { pc: spc, command }
                    if command.field == Some(CommandField::CStoreRq) =>
                {
                    if !command.has_data_set {
                        let rsp = command.response(crate::Status::CANNOT_UNDERSTAND, false);
                        self.chan.send(spc, &rsp, None).await?;
                        continue;
                    }
                    buf.clear();
                    incoming = Some((spc, command));
                }
                Event::Data { data, last, .. } => {
                    let Some((spc, _)) = &incoming else {
                        return Err(Error::Protocol("a data set without its C-STORE".into()));
                    };
                    let spc = *spc;
                    buf.extend_from_slice(&data);
                    if !last {
                        continue;
                    }
                    let (_, command) = incoming.take().expect("checked above");
                    let transfer_syntax = contexts
                        .iter()
                        .find(|c| c.id == spc)
                        .map(|c| c.transfer_syntax.clone())
                        .unwrap_or_default();
                    let request = crate::service::StoreRequest {
                        sop_class_uid: command.affected_sop_class_uid.clone().unwrap_or_default(),
                        sop_instance_uid: command
                            .affected_sop_instance_uid
                            .clone()
                            .unwrap_or_default(),
                        transfer_syntax,
                    };
                    let r = store(request, std::mem::take(&mut buf)).await;
                    let mut rsp = command.response(r.status, false);
                    rsp.error_comment = r.comment;
                    rsp.name_attributes(r.offending);
                    self.chan.send(spc, &rsp, None).await?;
                }
                Event::Command { command, .. }
                    if command.field == Some(CommandField::CGetRsp)
                        && command.responding_to == rq.message_id =>
                {
                    if let Some(done) = self
                        .retrieve_response(pc, *command, &mut on_pending)
                        .await?
                    {
                        return Ok(done);
                    }
                }
                Event::Release => return Err(Error::Released),
                other => {
                    return Err(Error::Protocol(format!(
                        "unexpected message while waiting: {other:?}"
                    )))
                }
            }
        }
    }

    /// N-EVENT-REPORT on the context of the report's SOP class.
    pub async fn event_report(&mut self, report: &EventReport) -> Result<Response> {
        let pc = self
            .accepted()
            .into_iter()
            .find(|c| c.abstract_syntax == report.sop_class_uid)
            .ok_or_else(|| {
                Error::Refused(format!("the peer did not accept {}", report.sop_class_uid))
            })?;
        let rq = Command {
            field: Some(CommandField::NEventReportRq),
            message_id: Some(self.message_id()),
            affected_sop_class_uid: Some(report.sop_class_uid.clone()),
            affected_sop_instance_uid: Some(report.sop_instance_uid.clone()),
            event_type_id: Some(report.event_type_id),
            has_data_set: true,
            ..Command::default()
        };
        let data = crate::dataset::encode(&report.data_set, &pc.transfer_syntax)?;
        self.chan.send(pc.id, &rq, Some(&data)).await?;
        self.response(&rq).await
    }

    /// Send an N-CREATE (`set` false: Affected SOP Class and Instance) or
    /// an N-SET (`set` true: Requested SOP Class and Instance) with its
    /// data set, and wait for the response.
    pub async fn normalized(
        &mut self,
        set: bool,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        data_set: &dicom_object::InMemDicomObject,
    ) -> Result<Response> {
        let pc = self
            .accepted()
            .into_iter()
            .find(|c| c.abstract_syntax == sop_class_uid)
            .ok_or_else(|| Error::Refused(format!("the peer did not accept {sop_class_uid}")))?;
        let mut rq = Command {
            message_id: Some(self.message_id()),
            has_data_set: true,
            ..Command::default()
        };
        if set {
            rq.field = Some(CommandField::NSetRq);
            rq.requested_sop_class_uid = Some(sop_class_uid.to_owned());
            rq.requested_sop_instance_uid = Some(sop_instance_uid.to_owned());
        } else {
            rq.field = Some(CommandField::NCreateRq);
            rq.affected_sop_class_uid = Some(sop_class_uid.to_owned());
            rq.affected_sop_instance_uid = Some(sop_instance_uid.to_owned());
        }
        let data = crate::dataset::encode(data_set, &pc.transfer_syntax)?;
        self.chan.send(pc.id, &rq, Some(&data)).await?;
        self.response(&rq).await
    }

    /// A C-MOVE or C-GET response: `None` while pending (its counts go to
    /// `on_pending`), the outcome when final.
    async fn retrieve_response(
        &mut self,
        pc: &AcceptedContext,
        command: Command,
        on_pending: &mut impl FnMut(crate::command::SubOperations),
    ) -> Result<Option<Retrieved>> {
        let status = command.status.ok_or(Error::MalformedCommand(
            "response without Status (0000,0900)",
        ))?;
        let counts = command.sub_operations.unwrap_or_default();
        if status.is_pending() {
            if command.has_data_set {
                self.skip_data().await?;
            }
            on_pending(counts);
            return Ok(None);
        }
        let failed = self.failed_list(pc, command.has_data_set).await?;
        Ok(Some(Retrieved {
            response: Response {
                status,
                comment: command.error_comment,
                offending: command.offending_elements,
                error_id: command.error_id,
            },
            counts,
            failed,
        }))
    }

    /// The Failed SOP Instance UID List (0008,0058) of a final C-MOVE or
    /// C-GET response's identifier, when it has one.
    async fn failed_list(&mut self, pc: &AcceptedContext, has_data: bool) -> Result<Vec<String>> {
        if !has_data {
            return Ok(Vec::new());
        }
        let data = self.read_data().await?;
        let Ok(obj) = crate::dataset::decode(&data, &pc.transfer_syntax) else {
            return Ok(Vec::new());
        };
        Ok(obj
            .get(dicom_dictionary_std::tags::FAILED_SOP_INSTANCE_UID_LIST)
            .and_then(|e| e.to_multi_str().ok())
            .map(|v| {
                v.iter()
                    .map(|u| u.trim_matches(['\0', ' ']).to_owned())
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn read_data(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout(self.timeout, self.chan.next()).await {
                Err(_) => return Err(Error::Timeout("no data set from the peer")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Event::Data { data, last, .. })) => {
                    out.extend_from_slice(&data);
                    if last {
                        return Ok(out);
                    }
                }
                Ok(Ok(other)) => {
                    return Err(Error::Protocol(format!(
                        "expected a data set, got {other:?}"
                    )))
                }
            }
        }
    }

    async fn response(&mut self, rq: &Command) -> Result<Response> {
        let expected = rq.field.map(CommandField::response);
        match tokio::time::timeout(self.timeout, self.chan.next()).await {
            Err(_) => Err(Error::Timeout("no response from the peer")),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Event::Command { command, .. }))
                if command.field == expected && command.responding_to == rq.message_id =>
            {
                let status = command.status.ok_or(Error::MalformedCommand(
                    "response without Status (0000,0900)",
                ))?;
                if command.has_data_set {
                    self.skip_data().await?;
                }
                // A DIMSE-N refusal names its attributes in Attribute
                // Identifier List (see Command::name_attributes).
                let offending = if command.offending_elements.is_empty() {
                    command.attribute_identifiers
                } else {
                    command.offending_elements
                };
                Ok(Response {
                    status,
                    comment: command.error_comment,
                    offending,
                    error_id: command.error_id,
                })
            }
            Ok(Ok(Event::Release)) => Err(Error::Released),
            Ok(Ok(other)) => Err(Error::Protocol(format!(
                "unexpected message while waiting: {other:?}"
            ))),
        }
    }

    async fn skip_data(&mut self) -> Result<()> {
        loop {
            if let Event::Data { last: true, .. } = self.chan.next().await? {
                return Ok(());
            }
        }
    }

    /// Release the association (A-RELEASE).
    pub async fn release(self) -> Result<()> {
        self.chan.into_inner().release().await?;
        Ok(())
    }
}

/// The accepted ones among negotiated presentation contexts.
pub fn accepted_contexts(negotiated: &[PresentationContextNegotiated]) -> Vec<AcceptedContext> {
    negotiated
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .map(|pc| AcceptedContext {
            id: pc.id,
            abstract_syntax: pc.abstract_syntax.trim_end_matches('\0').to_owned(),
            transfer_syntax: pc.transfer_syntax.trim_end_matches('\0').to_owned(),
        })
        .collect()
}

/// The transfer syntaxes to propose for an instance stored in `stored`:
/// the stored one first, then the native ones we can convert to.
pub fn proposals_for(stored: &str) -> Vec<String> {
    let mut v = vec![stored.to_owned()];
    for ts in [EXPLICIT_VR_LE, IMPLICIT_VR_LE] {
        if ts != stored {
            v.push(ts.to_owned());
        }
    }
    v
}

/// Send an N-EVENT-REPORT on an association of our own (a storage
/// commitment result when the requester did not wait for it, PS3.4
/// J.3.3), proposing to be the SCP of its SOP class.
pub async fn event_report(options: &ScuOptions, report: &EventReport) -> Result<Response> {
    let mut assoc = ScuAssociation::connect_with_roles(
        options,
        &[(
            report.sop_class_uid.clone(),
            vec![EXPLICIT_VR_LE.to_owned(), IMPLICIT_VR_LE.to_owned()],
        )],
        &[report.sop_class_uid.as_str()],
    )
    .await?;
    let r = assoc.event_report(report).await;
    let _ = assoc.release().await;
    r
}

/// Send one N-CREATE or N-SET (see [`ScuAssociation::normalized`]) on an
/// association of its own.
pub async fn normalized(
    options: &ScuOptions,
    set: bool,
    sop_class_uid: &str,
    sop_instance_uid: &str,
    data_set: &dicom_object::InMemDicomObject,
) -> Result<Response> {
    let mut assoc = ScuAssociation::connect(
        options,
        &[(
            sop_class_uid.to_owned(),
            vec![EXPLICIT_VR_LE.to_owned(), IMPLICIT_VR_LE.to_owned()],
        )],
    )
    .await?;
    let r = assoc
        .normalized(set, sop_class_uid, sop_instance_uid, data_set)
        .await;
    let _ = assoc.release().await;
    r
}

/// C-ECHO a peer.
pub async fn echo(options: &ScuOptions) -> Result<Response> {
    let mut assoc = ScuAssociation::connect(
        options,
        &[(
            VERIFICATION.to_owned(),
            vec![EXPLICIT_VR_LE.to_owned(), IMPLICIT_VR_LE.to_owned()],
        )],
    )
    .await?;
    let r = assoc.echo().await;
    let _ = assoc.release().await;
    r
}
