//! `filmless echo` and `filmless send`: C-ECHO and C-STORE as a user, of
//! files or of a stored study (read through the service, audited as
//! `export`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use dicom_net::retrieve::{choose, data_set_as, proposals};
use dicom_net::scu::{ScuAssociation, ScuOptions};
use dicom_net::service::RetrieveItem;
use dicom_net::StatusClass;
use storage::{StoredInstance, Uid};

use crate::service::{Context, Service, Target as StudyTarget};

/// A peer given as `AET@HOST:PORT`.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its AE title.
    pub ae_title: String,
    /// Its address.
    pub addr: SocketAddr,
}

impl std::str::FromStr for Target {
    type Err = String;

    /// `AET@HOST:PORT`, parsed as a peer entry is, then resolved.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let peer: crate::config::Peer = s.parse()?;
        let addr = (peer.host.as_str(), peer.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}:{}: {e}", peer.host, peer.port))?
            .next()
            .ok_or_else(|| format!("{}:{}: no address", peer.host, peer.port))?;
        Ok(Target {
            ae_title: peer.ae_title,
            addr,
        })
    }
}

fn options(target: &Target, calling_ae: &str) -> ScuOptions {
    ScuOptions {
        calling_ae: calling_ae.to_owned(),
        called_ae: target.ae_title.clone(),
        addr: target.addr,
        max_pdu_length: 131_072,
        timeout: Duration::from_secs(60),
    }
}

/// C-ECHO; prints the round trip.
pub async fn echo(target: &Target, calling_ae: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let r = dicom_net::scu::echo(&options(target, calling_ae))
        .await
        .with_context(|| format!("C-ECHO to {}@{}", target.ae_title, target.addr))?;
    if r.status.class() != StatusClass::Success {
        bail!("C-ECHO answered {}", r.status);
    }
    println!(
        "C-ECHO {}@{}: success in {:.1} ms",
        target.ae_title,
        target.addr,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// Where an instance to send comes from.
enum Source {
    File(PathBuf),
    Archive(Box<StoredInstance>),
}

/// Send files (folders recursively) or a stored study. Returns whether
/// every instance was accepted.
pub async fn send(
    target: &Target,
    calling_ae: &str,
    paths: &[PathBuf],
    study: Option<(&Service, &Context, &str)>,
) -> anyhow::Result<bool> {
    let mut items: Vec<(RetrieveItem, Source)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for root in paths {
        for entry in walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
        {
            let entry = match entry {
                Ok(e) if e.file_type().is_file() => e,
                Ok(_) => continue,
                Err(e) => {
                    failures.push(format!("{}: {e}", root.display()));
                    continue;
                }
            };
            match file_item(entry.path()) {
                Ok(item) => items.push((item, Source::File(entry.into_path()))),
                Err(e) => failures.push(format!("{}: {e:#}", entry.path().display())),
            }
        }
    }
    if let Some((service, ctx, uid)) = study {
        let study = StudyTarget::Study(Uid::parse("StudyInstanceUID", uid)?);
        let stored = service
            .instances(ctx, &study, &format!("send --study {uid}"))
            .await
            .with_context(|| format!("study {uid}"))?;
        for i in stored {
            let item = RetrieveItem {
                sop_class_uid: i.sop_class_uid.clone(),
                sop_instance_uid: i.sop_instance_uid.clone(),
                transfer_syntax: i.transfer_syntax_uid.clone(),
            };
            items.push((item, Source::Archive(Box::new(i))));
        }
    }
    if items.is_empty() {
        for f in &failures {
            eprintln!("not sent: {f}");
        }
        bail!("nothing to send");
    }
    let only: Vec<RetrieveItem> = items.iter().map(|(i, _)| i.clone()).collect();
    let mut assoc = ScuAssociation::connect(&options(target, calling_ae), &proposals(&only))
        .await
        .with_context(|| format!("association with {}@{}", target.ae_title, target.addr))?;
    let accepted = assoc.accepted();
    let progress = super::progress(items.len(), "instances", true);
    let started = Instant::now();
    let (mut sent, mut bytes) = (0u64, 0u64);
    for (item, source) in &items {
        let result: anyhow::Result<()> = async {
            let ctx = choose(item, &accepted).map_err(anyhow::Error::msg)?;
            let part10: Bytes = match source {
                Source::File(p) => Bytes::from(tokio::fs::read(p).await?),
                Source::Archive(i) => match study {
                    Some((service, _, _)) => service.read(i).await?,
                    None => bail!("no archive"),
                },
            };
            // As C-MOVE converts: re-encoded, or decoded when the peer
            // takes no compressed syntax of ours.
            let data = data_set_as(part10, &ctx.transfer_syntax)
                .await
                .map_err(anyhow::Error::msg)?;
            let r = assoc
                .store(&ctx, &item.sop_instance_uid, &data, None)
                .await?;
            match r.status.class() {
                StatusClass::Success | StatusClass::Warning => {
                    bytes += data.len() as u64;
                    Ok(())
                }
                _ => bail!(
                    "refused with {}{}",
                    r.status,
                    r.comment.map(|c| format!(": {c}")).unwrap_or_default()
                ),
            }
        }
        .await;
        match result {
            Ok(()) => sent += 1,
            Err(e) => failures.push(format!("{}: {e:#}", item.sop_instance_uid)),
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let _ = assoc.release().await;
    println!(
        "sent {sent}, failed {} ({:.1} MB in {:.1} s)",
        failures.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    for f in &failures {
        println!("failed: {f}");
    }
    Ok(failures.is_empty())
}

fn file_item(path: &std::path::Path) -> anyhow::Result<RetrieveItem> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16 * 1024);
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    let meta = dicom_check::part10_meta(&head)
        .map_err(|e| anyhow::anyhow!("not a DICOM Part 10 file: {e}"))?;
    Ok(RetrieveItem {
        sop_class_uid: meta.sop_class_uid,
        sop_instance_uid: meta.sop_instance_uid,
        transfer_syntax: meta.transfer_syntax,
    })
}
