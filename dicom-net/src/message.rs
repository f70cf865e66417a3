//! DIMSE messages over an established association (PS3.7 §9.2, PS3.8 §9.3.5).
//!
//! A message is a command set, optionally followed by a data set, each sent
//! as P-DATA value items (PDVs). Command and data PDVs may share a PDU or
//! not, and either may be cut into any number of fragments: [`Channel::next`]
//! hides that, yielding whole commands and data fragments as they arrive, so
//! a receiver can stream a data set of any size without holding it.
//!
//! Sending packs the command and the start of the data set into one PDU
//! when they fit (one write per small message; a peer with Nagle on would
//! otherwise stall ~40 ms per message), and cuts data at the peer's maximum
//! PDU length.

use std::collections::VecDeque;
use std::time::Duration;

use dicom_ul::association::{Association, AsyncAssociation};
use dicom_ul::pdu::{AbortRQServiceProviderReason, AbortRQSource, PDataValue, PDataValueType};
use dicom_ul::Pdu;
use futures::FutureExt;
use tokio::net::TcpStream;

use crate::command::{Command, CommandField};
use crate::error::{Error, Result};
use crate::status::Status;

/// Largest command set accepted (real ones are a few hundred bytes).
const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// PDU header (type, reserved, length) and PDV header (length, context id,
/// control header), PS3.8 §9.3.5.
const PDU_HEADER: usize = 6;
const PDV_HEADER: usize = 6;

/// What arrives on an association.
#[derive(Debug)]
pub enum Event {
    /// A whole command set.
    Command {
        /// Presentation context ID.
        pc: u8,
        /// The command (boxed: it is far larger than the other events).
        command: Box<Command>,
    },
    /// A fragment of a data set.
    Data {
        /// Presentation context ID.
        pc: u8,
        /// The bytes.
        data: Vec<u8>,
        /// Whether this is the data set's last fragment.
        last: bool,
    },
    /// The peer asks to release the association (A-RELEASE-RQ).
    Release,
}

/// What an association runs over: TCP, or TLS over TCP.
pub trait Wire: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Wire for T {}

/// An established association over `S`, read and written as DIMSE messages.
pub struct Channel<A, S = TcpStream> {
    assoc: A,
    _wire: std::marker::PhantomData<fn() -> S>,
    pending: VecDeque<PDataValue>,
    command: Vec<u8>,
    command_pc: Option<u8>,
    idle_timeout: Duration,
    /// An event looked at and put back ([`Channel::unread`]).
    stash: Option<Event>,
    /// The status of the last final response sent, and when
    /// ([`Channel::take_status`]).
    last_status: Option<(Status, std::time::Instant)>,
}

impl<A, S> Channel<A, S>
where
    S: Wire,
    A: AsyncAssociation<S> + Association + Send,
{
    /// Wrap an established association. `idle_timeout` bounds the wait for
    /// each PDU.
    pub fn new(assoc: A, idle_timeout: Duration) -> Self {
        Channel {
            assoc,
            _wire: std::marker::PhantomData,
            pending: VecDeque::new(),
            command: Vec::new(),
            command_pc: None,
            idle_timeout,
            stash: None,
            last_status: None,
        }
    }

    /// The association.
    pub fn association(&self) -> &A {
        &self.assoc
    }

    /// The next event; errors on abort, timeout, or a broken protocol.
    pub async fn next(&mut self) -> Result<Event> {
        if let Some(event) = self.stash.take() {
            return Ok(event);
        }
        loop {
            if let Some(event) = self.take_pending()? {
                return Ok(event);
            }
            let pdu = tokio::time::timeout(
                self.idle_timeout,
                AsyncAssociation::<S>::receive(&mut self.assoc),
            )
            .await
            .map_err(|_| Error::Timeout("no PDU from the peer within the idle timeout"))??;
            self.accept_pdu(pdu)?;
        }
    }

    /// Put an event back: the next call to [`Channel::next`] returns it.
    /// (Waiting for an event is cancel-safe, so a caller may wait a while,
    /// look at what came, and leave it for the loop that handles it.)
    pub fn unread(&mut self, event: Event) {
        self.stash = Some(event);
    }

    /// The next event if one can be had without waiting (used to notice a
    /// C-CANCEL between two responses).
    pub fn next_now(&mut self) -> Option<Result<Event>> {
        if let Some(event) = self.stash.take() {
            return Some(Ok(event));
        }
        match self.take_pending() {
            Ok(Some(event)) => return Some(Ok(event)),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        // Reading into the association's buffer is cancel-safe: bytes that
        // arrive stay there for the next call.
        let pdu = AsyncAssociation::<S>::receive(&mut self.assoc).now_or_never()?;
        let result = pdu.map_err(Error::from).and_then(|pdu| {
            self.accept_pdu(pdu)?;
            self.take_pending()
        });
        result.transpose()
    }

    fn accept_pdu(&mut self, pdu: Pdu) -> Result<()> {
        match pdu {
            Pdu::PData { data } => {
                self.pending.extend(data);
                Ok(())
            }
            Pdu::ReleaseRQ => {
                // Delivered as an event after anything queued before it.
                self.pending.push_back(PDataValue {
                    presentation_context_id: 0,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: Vec::new(),
                });
                Ok(())
            }
            Pdu::AbortRQ { .. } => Err(Error::Aborted),
            other => Err(Error::Protocol(format!(
                "unexpected PDU {}",
                pdu_name(&other)
            ))),
        }
    }

    fn take_pending(&mut self) -> Result<Option<Event>> {
        while let Some(pdv) = self.pending.pop_front() {
            if pdv.presentation_context_id == 0 {
                return Ok(Some(Event::Release));
            }
            if !self
                .assoc
                .presentation_contexts()
                .iter()
                .any(|pc| pc.id == pdv.presentation_context_id)
            {
                return Err(Error::Protocol(format!(
                    "PDV on presentation context {} that was not negotiated",
                    pdv.presentation_context_id
                )));
            }
            match pdv.value_type {
                PDataValueType::Command => {
                    if self
                        .command_pc
                        .is_some_and(|pc| pc != pdv.presentation_context_id)
                    {
                        return Err(Error::Protocol(
                            "command fragments on two presentation contexts".into(),
                        ));
                    }
                    self.command_pc = Some(pdv.presentation_context_id);
                    if self.command.len() + pdv.data.len() > MAX_COMMAND_BYTES {
                        return Err(Error::Protocol("command set larger than 64 KiB".into()));
                    }
                    self.command.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        let bytes = std::mem::take(&mut self.command);
                        let pc = self
                            .command_pc
                            .take()
                            .unwrap_or(pdv.presentation_context_id);
                        return Ok(Some(Event::Command {
                            pc,
                            command: Box::new(Command::decode(&bytes)?),
                        }));
                    }
                }
                PDataValueType::Data => {
                    if self.command_pc.is_some() {
                        return Err(Error::Protocol(
                            "data fragment inside an unfinished command".into(),
                        ));
                    }
                    return Ok(Some(Event::Data {
                        pc: pdv.presentation_context_id,
                        data: pdv.data,
                        last: pdv.is_last,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Room for PDVs in one PDU the peer accepts.
    fn pdu_budget(&self) -> usize {
        let max = self.assoc.peer_max_pdu_length() as usize;
        // 0 means unlimited; stay within what the upper layer allows.
        let max = if max == 0 { 1 << 20 } else { max };
        max.saturating_sub(PDU_HEADER).max(PDV_HEADER + 2)
    }

    /// Send a message: the command and, if given, its data set.
    pub async fn send(&mut self, pc: u8, command: &Command, data: Option<&[u8]>) -> Result<()> {
        if let Some(s) = command.status.filter(|s| !s.is_pending()) {
            self.last_status = Some((s, std::time::Instant::now()));
        }
        let mut pdvs: Vec<PDataValue> = Vec::new();
        let mut used = 0usize;
        let command = command.encode();
        self.fragments(pc, PDataValueType::Command, &command, &mut pdvs, &mut used)
            .await?;
        if let Some(data) = data {
            self.fragments(pc, PDataValueType::Data, data, &mut pdvs, &mut used)
                .await?;
        }
        self.flush(&mut pdvs, &mut used).await
    }

    /// The status of the last final (not pending) response sent since the
    /// last call, and when it was sent: how the operation just served
    /// ended.
    pub fn take_status(&mut self) -> Option<(Status, std::time::Instant)> {
        self.last_status.take()
    }

    /// Queue `bytes` as PDVs of `kind`, flushing each PDU as it fills. Data
    /// starts in the command's PDU only if a useful part of it fits.
    async fn fragments(
        &mut self,
        pc: u8,
        kind: PDataValueType,
        mut rest: &[u8],
        pdvs: &mut Vec<PDataValue>,
        used: &mut usize,
    ) -> Result<()> {
        let budget = self.pdu_budget();
        let min_first = if kind == PDataValueType::Data {
            64.min(rest.len())
        } else {
            0
        };
        loop {
            let room = budget - *used;
            if room <= PDV_HEADER + min_first {
                self.flush(pdvs, used).await?;
                continue;
            }
            let take = rest.len().min(room - PDV_HEADER);
            pdvs.push(PDataValue {
                presentation_context_id: pc,
                value_type: kind.clone(),
                is_last: take == rest.len(),
                data: rest[..take].to_vec(),
            });
            *used += PDV_HEADER + take;
            rest = &rest[take..];
            if rest.is_empty() {
                return Ok(());
            }
            self.flush(pdvs, used).await?;
        }
    }

    async fn flush(&mut self, pdvs: &mut Vec<PDataValue>, used: &mut usize) -> Result<()> {
        if pdvs.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(pdvs);
        *used = 0;
        tokio::time::timeout(
            self.idle_timeout,
            AsyncAssociation::<S>::send(&mut self.assoc, &Pdu::PData { data }),
        )
        .await
        .map_err(|_| Error::Timeout("the peer did not take our PDU within the idle timeout"))??;
        Ok(())
    }

    /// Answer the peer's A-RELEASE-RQ and close.
    pub async fn confirm_release(mut self) -> Result<()> {
        AsyncAssociation::<S>::send(&mut self.assoc, &Pdu::ReleaseRP).await?;
        Ok(())
    }

    /// Abort the association (A-ABORT, service provider).
    pub async fn abort(mut self) {
        let abort = Pdu::AbortRQ {
            source: AbortRQSource::ServiceProvider(
                AbortRQServiceProviderReason::ReasonNotSpecified,
            ),
        };
        let _ = AsyncAssociation::<S>::send(&mut self.assoc, &abort).await;
    }

    /// Take the association back (to release it as requestor).
    pub fn into_inner(self) -> A {
        self.assoc
    }
}

fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::Unknown { .. } => "of unknown type",
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::PData { .. } => "P-DATA-TF",
        Pdu::ReleaseRQ => "A-RELEASE-RQ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        Pdu::AbortRQ { .. } => "A-ABORT",
    }
}

/// Whether a C-CANCEL-RQ for `message_id` is waiting. Any other message now
/// breaks the protocol (PS3.7 §9.3: one operation at a time here).
pub(crate) fn cancelled<A, W>(chan: &mut Channel<A, W>, message_id: Option<u16>) -> Result<bool>
where
    W: Wire,
    A: dicom_ul::association::AsyncAssociation<W> + Association + Send,
{
    match chan.next_now() {
        None => Ok(false),
        Some(Ok(Event::Command { command, .. }))
            if command.field == Some(CommandField::CCancelRq) =>
        {
            Ok(command.responding_to == message_id || command.responding_to.is_none())
        }
        Some(Ok(Event::Release)) => Err(Error::Protocol("A-RELEASE-RQ during an operation".into())),
        Some(Ok(_)) => Err(Error::Protocol(
            "a second operation before the first one ended".into(),
        )),
        Some(Err(e)) => Err(e),
    }
}
