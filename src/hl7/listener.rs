//! MLLP (HL7 v2 Minimal Lower Layer Protocol): each message framed as
//! 0x0B … 0x1C 0x0D, many messages on one connection, each answered with
//! its ACK before the next is read. Connections are bounded in number,
//! in silence (idle timeout) and in message size; a malformed message is
//! answered (AR) and the connection goes on. With `hl7.tls_cert`, every
//! connection is TLS (MLLP over TLS, as IHE ATNA's secure nodes use).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::message::{ack, decode, AckCode, AckError, Message};
use super::{apply, Refused, Senders};
use crate::audit::{Access, Action};
use crate::config::Hl7Config;
use crate::service::{Actor, ActorKind, Service};

const START: u8 = 0x0B;
const END: [u8; 2] = [0x1C, 0x0D];

struct Shared {
    service: Service,
    senders: Senders,
    idle: Duration,
    max_bytes: usize,
    acks: AtomicU64,
    per_host: Mutex<HashMap<IpAddr, usize>>,
    max_per_host: usize,
}

/// A connection counted against its host's limit while it lives.
struct HostSlot<'a> {
    shared: &'a Shared,
    ip: IpAddr,
}

impl<'a> HostSlot<'a> {
    fn take(shared: &'a Shared, ip: IpAddr) -> Option<Self> {
        let mut map = shared.per_host.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= shared.max_per_host {
            return None;
        }
        *n += 1;
        Some(HostSlot { shared, ip })
    }
}

impl Drop for HostSlot<'_> {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .per_host
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serve MLLP connections on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    config: &Hl7Config,
    service: Service,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        service,
        senders: Senders::new(config)?,
        idle: Duration::from_secs(config.idle_timeout_secs.max(1)),
        max_bytes: config.max_message_bytes.max(1024),
        acks: AtomicU64::new(1),
        per_host: Mutex::new(HashMap::new()),
        max_per_host: config.max_connections_per_host.max(1),
    });
    let tls = if config.tls_cert.is_empty() {
        None
    } else {
        let mut c = (*crate::http::tls::server_config(
            std::path::Path::new(&config.tls_cert),
            std::path::Path::new(&config.tls_key),
        )?)
        .clone();
        c.alpn_protocols.clear();
        Some(TlsAcceptor::from(Arc::new(c)))
    };
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let tracker = TaskTracker::new();
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "hl7 accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer, limit = config.max_connections, "hl7 connection refused: too many at once (hl7.max_connections)");
            drop(socket);
            continue;
        };
        let shared = shared.clone();
        let stop = shutdown.clone();
        let tls = tls.clone();
        tracker.spawn(
            async move {
                let Some(slot) = HostSlot::take(&shared, peer.ip()) else {
                    tracing::warn!(limit = shared.max_per_host, "hl7 connection refused: too many from this host (hl7.max_connections_per_host)");
                    return;
                };
                let _ = socket.set_nodelay(true);
                tracing::info!(tls = tls.is_some(), "hl7 connection opened");
                let ended = match tls {
                    None => connection(socket, peer, &shared, stop).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(socket))
                            .await
                        {
                            Ok(Ok(stream)) => connection(stream, peer, &shared, stop).await,
                            Ok(Err(e)) => Err(e),
                            Err(_) => Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "TLS handshake timed out",
                            )),
                        }
                    }
                };
                match ended {
                    Ok(n) => tracing::info!(messages = n, "hl7 connection closed"),
                    Err(e) => tracing::info!(error = %e, "hl7 connection ended"),
                }
                drop(slot);
                drop(permit);
            }
            .instrument(tracing::info_span!("hl7", peer = %peer)),
        );
    }
    drop(listener);
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(30), tracker.wait()).await;
    Ok(())
}

/// One connection: messages until the peer closes, falls silent, or we
/// stop.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    socket: S,
    peer: SocketAddr,
    shared: &Shared,
    stop: CancellationToken,
) -> std::io::Result<u64> {
    let (read, mut write) = tokio::io::split(socket);
    let mut read = BufReader::new(read);
    let mut n = 0;
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => return Ok(n),
            f = tokio::time::timeout(shared.idle, next_frame(&mut read, shared.max_bytes)) => match f {
                Err(_) => return Ok(n), // idle
                Ok(f) => f?,
            },
        };
        let Some(frame) = frame else { return Ok(n) };
        let reply = match frame {
            Frame::TooLarge => {
                let e = AckError::new(
                    207,
                    None,
                    format!(
                        "message longer than {} bytes (hl7.max_message_bytes)",
                        shared.max_bytes
                    ),
                );
                let a = ack(None, AckCode::Reject, Some(&e), &now(), &control_id(shared));
                write_frame(&mut write, &a).await?;
                // The rest of the oversized message is still coming:
                // closing is the only way to stay in step.
                return Ok(n);
            }
            Frame::Message(bytes) => handle(&bytes, peer, shared).await,
        };
        write_frame(&mut write, &reply).await?;
        n += 1;
    }
}

enum Frame {
    Message(Vec<u8>),
    TooLarge,
}

/// The next framed message; `None` at end of stream. Bytes outside a frame
/// are skipped.
async fn next_frame<R: tokio::io::AsyncRead + Unpin>(
    read: &mut R,
    max: usize,
) -> std::io::Result<Option<Frame>> {
    // Up to the start byte.
    loop {
        match read.read_u8().await {
            Ok(START) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let mut buf = Vec::with_capacity(4096);
    loop {
        let b = match read.read_u8().await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        if b == END[1] && buf.last() == Some(&END[0]) {
            buf.pop();
            return Ok(Some(Frame::Message(buf)));
        }
        if buf.len() >= max {
            return Ok(Some(Frame::TooLarge));
        }
        buf.push(b);
    }
}

async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    text: &str,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(text.len() + 3);
    out.push(START);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&END);
    w.write_all(&out).await?;
    w.flush().await
}

fn now() -> String {
    let f = time::macros::format_description!("[year][month][day][hour][minute][second]");
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_default()
}

fn control_id(shared: &Shared) -> String {
    format!("FL{}{}", now(), shared.acks.fetch_add(1, Ordering::Relaxed))
}

/// One message in, its ACK out.
async fn handle(bytes: &[u8], peer: SocketAddr, shared: &Shared) -> String {
    let text = decode(bytes);
    let message = match Message::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            // Not the parser's words: they may quote the message (a name).
            tracing::info!(bytes = bytes.len(), "hl7 message refused: does not parse");
            // Audited as every refusal is: who sent it is unknown, where
            // from is not.
            shared
                .service
                .audit()
                .record(Access {
                    actor: Actor {
                        name: "(unparsable HL7 message)".into(),
                        kind: ActorKind::Hl7,
                    },
                    source: peer.ip().to_string(),
                    action: Action::Order,
                    failure: Some("invalid: the message does not parse".into()),
                    tenant: storage::TenantId::implicit(),
                    patient_id: String::new(),
                    study_instance_uid: String::new(),
                    detail: format!("HL7 message of {} bytes", bytes.len()),
                })
                .await;
            let e = AckError::new(100, None, format!("the message does not parse: {e}"));
            return ack(None, AckCode::Reject, Some(&e), &now(), &control_id(shared));
        }
    };
    let (code, trigger) = message.message_type();
    let application = message.get("MSH", 3, 1);
    let facility = message.get("MSH", 4, 1);
    let span = tracing::info_span!("message", r#type = %format!("{code}^{trigger}"), control_id = %message.control_id());
    let ctx = shared.senders.context(&application, &facility, peer.ip());
    let Ok(ctx) = ctx else {
        let why = match ctx {
            Err(Refused::WrongHost) => format!(
                "sender {application}@{facility} is not allowed from {} (its hosts in [[hl7.senders]])",
                peer.ip()
            ),
            _ => format!(
                "sender {application}@{facility} is not allowed (add it to [[hl7.senders]])"
            ),
        };
        tracing::warn!(
            application = %application,
            facility = %facility,
            "hl7 message refused: {why}"
        );
        shared
            .service
            .audit()
            .record(Access {
                actor: Actor {
                    name: format!("{application}@{facility}"),
                    kind: ActorKind::Hl7,
                },
                source: peer.ip().to_string(),
                action: Action::Order,
                failure: Some("forbidden: not a configured HL7 sender".into()),
                tenant: storage::TenantId::implicit(),
                patient_id: String::new(),
                study_instance_uid: String::new(),
                detail: format!("HL7 {code}^{trigger} {}", message.control_id()),
            })
            .await;
        let e = AckError::new(207, Some(("MSH", 3)), why);
        return ack(
            Some(&message),
            AckCode::Reject,
            Some(&e),
            &now(),
            &control_id(shared),
        );
    };
    let (code, error) = apply::apply(&shared.service, &ctx, &message)
        .instrument(span.clone())
        .await;
    span.in_scope(|| match &error {
        None => tracing::info!(ack = code.as_str(), "hl7 message applied"),
        Some(e) => tracing::info!(ack = code.as_str(), reason = %e.text, "hl7 message not applied"),
    });
    ack(
        Some(&message),
        code,
        error.as_ref(),
        &now(),
        &control_id(shared),
    )
}
