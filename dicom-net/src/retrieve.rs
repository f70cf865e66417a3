//! C-MOVE and C-GET: a stream of C-STORE sub-operations (PS3.4 C.4.2,
//! C.4.3), with a pending response after each, C-CANCEL honoured between
//! them, and a final response carrying the counts and the Failed SOP
//! Instance UID List.
//!
//! C-MOVE sends over a new association to the destination, proposing each
//! stored SOP class in its stored transfer syntax and in explicit/implicit
//! VR little endian; C-GET sends on the requesting association, on the
//! storage contexts the requestor accepted the SCP role for.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_ul::association::AsyncServerAssociation;

use crate::command::{Command, CommandField, SubOperations};
use crate::dataset::{self, is_native, EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use crate::error::{Error, Result};
use crate::message::{cancelled, Channel, Event, Wire};
use crate::scu::{AcceptedContext, ScuAssociation, ScuOptions};
use crate::service::{AssociationInfo, Response, Retrieve, RetrieveItem};
use crate::status::{Status, StatusClass};

/// Where sub-operations go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A new association (C-MOVE).
    Remote {
        /// Our AE title.
        calling_ae: String,
        /// The destination's.
        called_ae: String,
        /// Its address.
        addr: SocketAddr,
        /// The C-MOVE requestor's AE title and message ID.
        originator: (String, u16),
        /// Largest PDU we receive.
        max_pdu_length: u32,
        /// Per-message timeout.
        timeout: Duration,
    },
    /// The requesting association (C-GET).
    ThisAssociation,
}

/// What a retrieve ended with.
#[derive(Debug)]
pub struct Outcome {
    /// Final counts.
    pub counts: SubOperations,
    /// Final status and comment.
    pub response: Response,
    /// Identifier with (0008,0058) Failed SOP Instance UID List, when any failed.
    pub failed_list: Option<InMemDicomObject>,
}

fn count(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Run the sub-operations of a C-MOVE or C-GET.
pub(crate) async fn run<S: Retrieve, W: Wire>(
    chan: &mut Channel<AsyncServerAssociation<W>, W>,
    next_message_id: &mut u16,
    pc: u8,
    request: &Command,
    destination: Destination,
    items: Vec<RetrieveItem>,
    services: (&S, &AssociationInfo),
) -> Result<Outcome> {
    let total = items.len();
    let mut counts = SubOperations {
        remaining: count(total),
        ..Default::default()
    };
    let mut failed: Vec<String> = Vec::new();
    let mut reasons: BTreeSet<String> = BTreeSet::new();

    let mut remote = match &destination {
        Destination::Remote {
            calling_ae,
            called_ae,
            addr,
            max_pdu_length,
            timeout,
            ..
        } if total > 0 => {
            let options = ScuOptions {
                calling_ae: calling_ae.clone(),
                called_ae: called_ae.clone(),
                addr: *addr,
                max_pdu_length: *max_pdu_length,
                timeout: *timeout,
            };
            match ScuAssociation::connect(&options, &proposals(&items)).await {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::warn!(destination = %called_ae, error = %e, "cannot open association to the move destination");
                    return Ok(Outcome {
                        counts: SubOperations {
                            remaining: 0,
                            completed: 0,
                            failed: count(total),
                            warning: 0,
                        },
                        response: Response::with(
                            Status::OUT_OF_RESOURCES_SUB_OPERATIONS,
                            format!("cannot associate with {called_ae}: {e}"),
                        ),
                        failed_list: Some(failed_list(
                            items.iter().map(|i| i.sop_instance_uid.clone()),
                        )),
                    });
                }
            }
        }
        _ => None,
    };

    let mut was_cancelled = false;
    // The storage contexts sub-operations go out on: the destination's, or
    // (C-GET) the requester's own.
    let accepted = match remote.as_ref() {
        Some(assoc) => assoc.accepted(),
        None => accepted_on(chan),
    };
    let originator = match &destination {
        Destination::Remote { originator, .. } => Some((originator.0.as_str(), originator.1)),
        Destination::ThisAssociation => None,
    };
    // Read-ahead: the next instance is loaded (and converted when needed)
    // while the current one is on the wire and its C-STORE-RSP awaited, so
    // storage reads and zstd decoding overlap the network.
    let mut ready: Option<Prepared> = None;
    for (done, item) in items.iter().enumerate() {
        if cancelled(chan, request.message_id)? {
            was_cancelled = true;
            break;
        }
        let current = match ready.take() {
            Some(p) => p,
            None => prepare_for(item, &accepted, services).await,
        };
        let read_ahead = async {
            match items.get(done + 1) {
                Some(next) => Some(prepare_for(next, &accepted, services).await),
                None => None,
            }
        };
        let result = match (current, remote.as_mut()) {
            (Err(reason), _) => Err(reason),
            (Ok((ctx, data)), Some(assoc)) => {
                let send = assoc.store(&ctx, &item.sop_instance_uid, &data, originator);
                let (sent, next) = tokio::join!(send, read_ahead);
                ready = next;
                sent.map_err(|e| format!("sending failed: {e}"))
            }
            (Ok((ctx, data)), None) => {
                let id = *next_message_id;
                *next_message_id = next_message_id.wrapping_add(1).max(1);
                let send = send_one_here(chan, id, item, &ctx, &data, request.message_id);
                let (sent, next) = tokio::join!(send, read_ahead);
                ready = next;
                let (result, cancel) = sent?;
                was_cancelled |= cancel;
                result
            }
        };
        match result {
            Ok(r) if r.status.class() == StatusClass::Success => counts.completed += 1,
            Ok(r) if r.status.class() == StatusClass::Warning => counts.warning += 1,
            Ok(r) => {
                counts.failed += 1;
                failed.push(item.sop_instance_uid.clone());
                reasons.insert(format!("destination answered {}", r.status));
            }
            Err(reason) => {
                counts.failed += 1;
                failed.push(item.sop_instance_uid.clone());
                tracing::info!(sop_instance_uid = %item.sop_instance_uid, reason = %reason, "sub-operation failed");
                reasons.insert(reason);
            }
        }
        counts.remaining = count(total - done - 1);
        if counts.remaining > 0 && !was_cancelled {
            let mut pending = request.response(Status::PENDING, false);
            pending.sub_operations = Some(counts);
            chan.send(pc, &pending, None).await?;
        }
        if was_cancelled {
            break;
        }
    }
    if let Some(assoc) = remote {
        let _ = assoc.release().await;
    }

    let comment = (!reasons.is_empty()).then(|| reasons.into_iter().collect::<Vec<_>>().join("; "));
    let status = if was_cancelled {
        Status::CANCEL
    } else if counts.failed == 0 && counts.warning == 0 {
        Status::SUCCESS
    } else if counts.completed == 0 && counts.warning == 0 {
        Status::OUT_OF_RESOURCES_SUB_OPERATIONS
    } else {
        Status::WARNING_B000
    };
    if !was_cancelled {
        counts.remaining = 0;
    }
    Ok(Outcome {
        counts,
        response: Response {
            status,
            comment,
            offending: Vec::new(),
            error_id: None,
        },
        failed_list: (!failed.is_empty()).then(|| failed_list(failed.into_iter())),
    })
}

fn failed_list(uids: impl Iterator<Item = String>) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    let uids: Vec<String> = uids.collect();
    obj.put(DataElement::new(
        tags::FAILED_SOP_INSTANCE_UID_LIST,
        VR::UI,
        PrimitiveValue::Strs(uids.into()),
    ));
    obj
}

/// Presentation contexts for a set of instances: each SOP class in each
/// stored transfer syntax, and each SOP class in the native syntaxes.
pub fn proposals(items: &[RetrieveItem]) -> Vec<(String, Vec<String>)> {
    let mut stored: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut classes: BTreeSet<&str> = BTreeSet::new();
    for i in items {
        stored.insert((&i.sop_class_uid, &i.transfer_syntax));
        classes.insert(&i.sop_class_uid);
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for class in classes {
        out.push((
            class.to_owned(),
            vec![EXPLICIT_VR_LE.to_owned(), IMPLICIT_VR_LE.to_owned()],
        ));
    }
    for (class, ts) in stored {
        if ts != EXPLICIT_VR_LE && ts != IMPLICIT_VR_LE {
            out.push((class.to_owned(), vec![ts.to_owned()]));
        }
    }
    // At most 128 contexts per association (odd IDs 1 to 255).
    out.truncate(128);
    out
}

/// The context to send `item` on, and the syntax to convert it to.
pub fn choose(
    item: &RetrieveItem,
    accepted: &[AcceptedContext],
) -> std::result::Result<AcceptedContext, String> {
    let for_class: Vec<&AcceptedContext> = accepted
        .iter()
        .filter(|c| c.abstract_syntax == item.sop_class_uid)
        .collect();
    if let Some(c) = for_class
        .iter()
        .find(|c| c.transfer_syntax == item.transfer_syntax)
    {
        return Ok((*c).clone());
    }
    if is_native(&item.transfer_syntax) || dataset::can_decompress(&item.transfer_syntax) {
        // Native data converts between syntaxes; compressed data is decoded.
        let native = |ts: &str| for_class.iter().find(|c| c.transfer_syntax == ts);
        if let Some(c) = native(EXPLICIT_VR_LE)
            .or_else(|| native(IMPLICIT_VR_LE))
            .or_else(|| for_class.iter().find(|c| is_native(&c.transfer_syntax)))
        {
            return Ok((*c).clone());
        }
    }
    Err(if for_class.is_empty() {
        format!(
            "destination did not accept SOP class {}",
            item.sop_class_uid
        )
    } else {
        format!(
            "destination accepts {} only in {}, stored as {} (no decoder for it here)",
            item.sop_class_uid, for_class[0].transfer_syntax, item.transfer_syntax
        )
    })
}

/// An instance ready to send: the context it goes on and its data set in
/// that context's syntax, or why it cannot be sent.
type Prepared = std::result::Result<(AcceptedContext, Bytes), String>;

/// Choose the context for `item` and load its data set for it.
async fn prepare_for<S: Retrieve>(
    item: &RetrieveItem,
    accepted: &[AcceptedContext],
    services: (&S, &AssociationInfo),
) -> Prepared {
    let ctx = choose(item, accepted)?;
    let data = prepare(item, &ctx, services).await?;
    Ok((ctx, data))
}

/// Load an instance and cut it to the data set in the context's syntax.
async fn prepare<S: Retrieve>(
    item: &RetrieveItem,
    ctx: &AcceptedContext,
    (services, association): (&S, &AssociationInfo),
) -> std::result::Result<Bytes, String> {
    let bytes = services.load(association, item).await?;
    data_set_as(bytes, &ctx.transfer_syntax).await
}

/// The data set of a Part 10 file in the `target` transfer syntax: as it
/// is when it has that syntax, re-encoded from a native one, decoded from
/// a compressed one (JPEG, RLE, JPEG 2000), or why not.
pub async fn data_set_as(bytes: Bytes, target: &str) -> std::result::Result<Bytes, String> {
    let (start, ts) =
        data_set_start(&bytes).map_err(|e| format!("stored instance unreadable: {e}"))?;
    if ts == target {
        return Ok(bytes.slice(start..));
    }
    let target = target.to_owned();
    // Re-encoding and decoding pixel data are CPU work: off the runtime.
    tokio::task::spawn_blocking(move || {
        if is_native(&ts) {
            dataset::transcode(&bytes[start..], &ts, &target)
        } else {
            dataset::decompress(&bytes, &target)
        }
    })
    .await
    .map_err(|e| format!("conversion task failed: {e}"))?
    .map(Bytes::from)
    .map_err(|e| e.to_string())
}

/// The storage contexts on the requesting association (C-GET).
fn accepted_on<W: Wire>(chan: &Channel<AsyncServerAssociation<W>, W>) -> Vec<AcceptedContext> {
    crate::scu::accepted_contexts(chan.association().presentation_contexts())
}

/// One C-STORE on the requesting association; also notices a C-CANCEL
/// that arrives while waiting for the C-STORE-RSP.
async fn send_one_here<W: Wire>(
    chan: &mut Channel<AsyncServerAssociation<W>, W>,
    message_id: u16,
    item: &RetrieveItem,
    ctx: &AcceptedContext,
    data: &[u8],
    get_message_id: Option<u16>,
) -> Result<(std::result::Result<Response, String>, bool)> {
    let mut rq = Command::request(
        CommandField::CStoreRq,
        message_id,
        &item.sop_class_uid,
        true,
    );
    rq.affected_sop_instance_uid = Some(item.sop_instance_uid.clone());
    chan.send(ctx.id, &rq, Some(data)).await?;
    let mut cancel = false;
    loop {
        match chan.next().await? {
            Event::Command { command, .. }
                if command.field == Some(CommandField::CStoreRsp)
                    && command.responding_to == Some(message_id) =>
            {
                let status = command
                    .status
                    .ok_or(Error::MalformedCommand("C-STORE-RSP without Status"))?;
                if command.has_data_set {
                    loop {
                        if let Event::Data { last: true, .. } = chan.next().await? {
                            break;
                        }
                    }
                }
                return Ok((
                    Ok(Response {
                        status,
                        comment: command.error_comment,
                        offending: command.offending_elements,
                        error_id: command.error_id,
                    }),
                    cancel,
                ));
            }
            Event::Command { command, .. } if command.field == Some(CommandField::CCancelRq) => {
                cancel |= command.responding_to == get_message_id;
            }
            Event::Release => return Err(Error::Protocol("A-RELEASE-RQ during C-GET".into())),
            other => {
                return Err(Error::Protocol(format!(
                    "unexpected message during C-GET: {other:?}"
                )))
            }
        }
    }
}

/// Where the data set starts in a Part 10 file, and its transfer syntax.
pub fn data_set_start(bytes: &[u8]) -> Result<(usize, String)> {
    let meta = dicom_check::part10_meta(bytes).map_err(|e| Error::DataSet(e.to_string()))?;
    Ok((meta.data_set_start, meta.transfer_syntax))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(class: &str, ts: &str) -> RetrieveItem {
        RetrieveItem {
            sop_class_uid: class.into(),
            sop_instance_uid: "1.2.3".into(),
            transfer_syntax: ts.into(),
        }
    }

    fn ctx(id: u8, class: &str, ts: &str) -> AcceptedContext {
        AcceptedContext {
            id,
            abstract_syntax: class.into(),
            transfer_syntax: ts.into(),
        }
    }

    #[test]
    fn stored_syntax_first_then_native_conversion() {
        let jpeg = "1.2.840.10008.1.2.4.50";
        let ct = "1.2.840.10008.5.1.4.1.1.2";
        let p = proposals(&[item(ct, jpeg), item(ct, IMPLICIT_VR_LE)]);
        assert_eq!(p.len(), 2);
        assert!(p.contains(&(ct.to_owned(), vec![jpeg.to_owned()])));
        let accepted = vec![ctx(1, ct, EXPLICIT_VR_LE), ctx(3, ct, jpeg)];
        assert_eq!(choose(&item(ct, jpeg), &accepted).unwrap().id, 3);
        assert_eq!(choose(&item(ct, IMPLICIT_VR_LE), &accepted).unwrap().id, 1);
        let only_native = vec![ctx(1, ct, EXPLICIT_VR_LE)];
        // JPEG baseline decodes here, so it may go as explicit VR little
        // endian; video (MPEG-2) has no decoder.
        assert_eq!(choose(&item(ct, jpeg), &only_native).unwrap().id, 1);
        let video = "1.2.840.10008.1.2.4.100";
        assert!(choose(&item(ct, video), &only_native)
            .unwrap_err()
            .contains("no decoder"));
        assert!(choose(&item("1.2.3.4", EXPLICIT_VR_LE), &only_native)
            .unwrap_err()
            .contains("did not accept"));
    }
}
