//! The `filmless` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ArchiveArgs, Config, ServeArgs};

/// Filmless: medical imaging archive (PACS) and DICOM gateway.
#[derive(Debug, Parser)]
#[command(name = "filmless", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the archive: DICOM and HTTP listeners until SIGINT/SIGTERM.
    Serve {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Listeners.
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// C-ECHO a DICOM peer.
    Echo {
        /// The peer.
        #[arg(value_name = "AET@HOST:PORT")]
        target: crate::scu::Target,
        /// Our AE title.
        #[arg(long, default_value = "FILMLESS", value_name = "AET")]
        calling_ae: String,
    },
    /// C-STORE files, folders (recursively) or a stored study to a DICOM peer.
    Send {
        /// The peer.
        #[arg(value_name = "AET@HOST:PORT")]
        target: crate::scu::Target,
        /// Our AE title.
        #[arg(long, default_value = "FILMLESS", value_name = "AET")]
        calling_ae: String,
        /// Send this study from the archive.
        #[arg(long, value_name = "UID")]
        study: Option<String>,
        /// Archive location (with --study).
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Files or folders to send.
        #[arg(value_name = "PATH", required_unless_present = "study")]
        paths: Vec<PathBuf>,
    },
    /// Compare the index with the object store: blobs missing, orphaned
    /// or damaged. Exit status 1 if anything is (still) wrong.
    Check {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Re-index orphaned blobs through ingest; remove those that are
        /// copies or not DICOM.
        #[arg(long)]
        repair: bool,
        /// Also re-hash every blob against the SHA-256 in the index (reads everything).
        #[arg(long)]
        verify: bool,
        /// Skip blobs younger than this many seconds (an ingest may be writing them).
        #[arg(long, default_value_t = 600)]
        grace_secs: u64,
    },
    /// Import files and folders (recursively) into the archive.
    /// Manage local users (HTTP Basic) and their roles.
    User {
        #[command(subcommand)]
        command: crate::admin::UserCommand,
    },
    /// Read the audit trail: who did what to which patient's images.
    Audit {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this Patient ID.
        #[arg(long, value_name = "ID")]
        patient: Option<String>,
        /// Only this Study Instance UID.
        #[arg(long, value_name = "UID")]
        study: Option<String>,
        /// From this date (YYYY-MM-DD, UTC) or this many days back (7d).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Only this user or AE title.
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
        /// At most this many events, oldest first.
        #[arg(long, value_name = "N")]
        limit: Option<i64>,
        /// table for people, jsonl for export.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::admin::AuditFormat,
    },
    Import {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Files or folders to import.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve { archive, serve } => {
            let config = Config::load(&archive, Some(&serve))?;
            crate::logging::init(&config.log);
            runtime.block_on(crate::server::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Echo { target, calling_ae } => {
            runtime.block_on(crate::scu::echo(&target, &calling_ae))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send {
            target,
            calling_ae,
            study,
            archive,
            paths,
        } => {
            let ok = runtime.block_on(async {
                match &study {
                    Some(uid) => {
                        let config = Config::load(&archive, None)?;
                        let archive = storage::Archive::open(&config.storage).await?;
                        crate::scu::send(&target, &calling_ae, &paths, Some((&archive, uid))).await
                    }
                    None => crate::scu::send(&target, &calling_ae, &paths, None).await,
                }
            })?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Check {
            archive,
            repair,
            verify,
            grace_secs,
        } => {
            let config = Config::load(&archive, None)?;
            crate::logging::init(&config.log);
            let report = runtime.block_on(async {
                let archive = storage::Archive::open(&config.storage).await?;
                let r = archive
                    .check(verify, repair, std::time::Duration::from_secs(grace_secs))
                    .await;
                archive.index().close().await;
                r
            })?;
            println!(
                "{} instances, {} blobs: {} missing, {} orphaned, {} damaged; re-indexed {}, removed {}",
                report.instances,
                report.blobs,
                report.missing.len(),
                report.orphans.len(),
                report.corrupt.len(),
                report.reindexed,
                report.removed
            );
            for (sop, key) in &report.missing {
                println!("missing blob: instance {sop} (object {key})");
            }
            for key in &report.orphans {
                println!("orphaned blob: {key}");
            }
            for (sop, why) in &report.corrupt {
                println!("damaged: instance {sop}: {why}");
            }
            Ok(if report.clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::User { command } => {
            runtime.block_on(crate::admin::user(command))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            archive,
            patient,
            study,
            since,
            actor,
            limit,
            format,
        } => {
            let filter = storage::AuditFilter {
                patient_id: patient,
                study_instance_uid: study,
                since: since
                    .as_deref()
                    .map(crate::admin::parse_since)
                    .transpose()?,
                actor,
                limit,
            };
            let n = runtime.block_on(crate::admin::audit(&archive, filter, format))?;
            if n == 0 {
                eprintln!("no matching audit events");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { archive, paths } => {
            let mut config = Config::load(&archive, None)?;
            // Import prints its own summary; keep the log to warnings.
            if std::env::var_os("RUST_LOG").is_none() {
                config.log.level = "warn".to_owned();
            }
            crate::logging::init(&config.log);
            let clean = runtime.block_on(async {
                let archive = storage::Archive::open(&config.storage).await?;
                let clean = crate::import::run(&archive, &paths).await;
                archive.index().close().await;
                clean
            })?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
