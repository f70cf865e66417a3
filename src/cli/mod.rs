//! The `filmless` command line: one subcommand a file beside this one,
//! each a thin adapter over the service layer. Whoever runs a command on
//! the data directory acts as the platform (every tenant); `--tenant ID`
//! confines a command to one hospital.
//!
//! - `serve`: the server ([`crate::server`]);
//! - `import`: bulk import; `echo` and `send`: C-ECHO and C-STORE as a user;
//! - `check`: the index against the object store;
//! - `user` and `audit`: local users and the audit trail (`users`);
//! - `worklist`: the modality worklist.

mod import;
mod jobs;
mod send;
mod shares;
mod study;
mod users;
mod worklist;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use storage::TenantId;

pub use import::{import, ImportReport, STREAM_THRESHOLD};
pub use send::Target;
pub use study::StudyCommand;
pub use users::{AuditFormat, UserCommand};
pub use worklist::WorklistCommand;

use crate::config::{ArchiveArgs, Config, ServeArgs};
use crate::service::{Context, Service};

/// Filmless: medical imaging archive (PACS) and DICOM gateway.
#[derive(Debug, Parser)]
#[command(name = "filmless", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--tenant ID`: act within one tenant instead of the whole platform.
#[derive(Debug, Clone, Default, Args)]
pub struct TenantArg {
    /// Work within this tenant (`id` of a `[[tenants]]` entry); without
    /// it, act as the platform: every tenant (what is stored goes to the
    /// implicit tenant, that of dicom.ae_title).
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
}

impl TenantArg {
    /// The tenant named, checked against the configuration's.
    fn checked(&self, config: &Config) -> anyhow::Result<Option<TenantId>> {
        let Some(t) = &self.tenant else {
            return Ok(None);
        };
        let id = TenantId::parse(t).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
        if !id.is_implicit() && !config.tenants.iter().any(|c| c.id == id.as_str()) {
            anyhow::bail!("--tenant {t}: not in [[tenants]] of the configuration");
        }
        Ok(Some(id))
    }
}

/// The commands.
// Parsed once per process: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
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
        target: Target,
        /// Our AE title.
        #[arg(long, default_value = "FILMLESS", value_name = "AET")]
        calling_ae: String,
    },
    /// C-STORE files, folders (recursively) or a stored study to a DICOM
    /// peer; or, with `--to`, queue sending a stored study to a configured
    /// destination as a routing job.
    Send {
        /// The peer.
        #[arg(value_name = "AET@HOST:PORT", required_unless_present = "to")]
        target: Option<Target>,
        /// A configured destination (a `[[dicom.peers]]` AE title or a
        /// `[[dicomweb.peers]]` name): the study goes as a durable job.
        #[arg(long, value_name = "PEER", conflicts_with = "target")]
        to: Option<String>,
        /// With --to: every study a file lists (one Study Instance UID a
        /// line), a job each.
        #[arg(long, value_name = "FILE", requires = "to", conflicts_with = "study")]
        studies: Option<PathBuf>,
        /// With --to: run the job here until it ends, and say how.
        #[arg(long, requires = "to")]
        wait: bool,
        /// Our AE title.
        #[arg(long, default_value = "FILMLESS", value_name = "AET")]
        calling_ae: String,
        /// Send this study from the archive.
        #[arg(long, value_name = "UID")]
        study: Option<String>,
        /// With --to and --study: only this series of it.
        #[arg(long, value_name = "UID", requires_all = ["to", "study"])]
        series: Option<String>,
        /// Archive location (with --study).
        #[command(flatten)]
        archive: ArchiveArgs,
        /// The study's tenant (with --study).
        #[command(flatten)]
        tenant: TenantArg,
        /// Files or folders to send.
        #[arg(value_name = "PATH", required_unless_present_any = ["study", "studies"])]
        paths: Vec<PathBuf>,
    },
    /// Share links (the patient's e-film): create, list, revoke.
    Share {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// The tenant of the study.
        #[command(flatten)]
        tenant: TenantArg,
        #[command(subcommand)]
        command: shares::ShareCommand,
    },
    /// Routing jobs: list, show, retry, cancel.
    Jobs {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this tenant's jobs.
        #[command(flatten)]
        tenant: TenantArg,
        #[command(subcommand)]
        command: jobs::JobsCommand,
    },
    /// C-FIND on a configured DICOM peer (Study Root), e.g.
    /// `filmless query --peer OLDPACS PatientID=BN0001`.
    Query {
        /// Archive location (its configuration names the peer).
        #[command(flatten)]
        archive: ArchiveArgs,
        /// The tenant whose peer it is.
        #[command(flatten)]
        tenant: TenantArg,
        /// The peer's AE title.
        #[arg(long, value_name = "AET")]
        peer: String,
        /// STUDY, SERIES or IMAGE.
        #[arg(long, default_value = "study")]
        level: String,
        /// JSON (DICOM JSON, an array) instead of a table.
        #[arg(long)]
        json: bool,
        /// Matching and return keys, KEYWORD=VALUE (or KEYWORD to return).
        #[arg(value_name = "KEY=VALUE")]
        keys: Vec<String>,
    },
    /// Pull studies from a configured DICOM peer (C-MOVE to this archive's
    /// AE title) as routing jobs.
    Retrieve {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// The tenant the studies go to.
        #[command(flatten)]
        tenant: TenantArg,
        /// The peer's AE title.
        #[arg(long, value_name = "AET")]
        peer: String,
        /// One study.
        #[arg(long, value_name = "UID", required_unless_present = "studies")]
        study: Option<String>,
        /// A file listing studies, one Study Instance UID a line (a
        /// migration: run again after an interruption, it queues only the
        /// studies without a pending, running or done retrieve job).
        #[arg(long, value_name = "FILE", conflicts_with = "study")]
        studies: Option<PathBuf>,
        /// Run the jobs here until they end.
        #[arg(long)]
        wait: bool,
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
    /// Manage local users (HTTP Basic): their roles and their tenant.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Correct a study's patient (name, birth date, sex), or merge a patient
    /// into another: the index, the metadata and what is served from now
    /// on, audited with the values before and after.
    Patient {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this tenant's.
        #[command(flatten)]
        tenant: TenantArg,
        #[command(subcommand)]
        command: PatientCommand,
    },
    /// Rejected instances (IOCM): reject a study, list what is rejected,
    /// restore or purge an instance.
    Reject {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this tenant's.
        #[command(flatten)]
        tenant: TenantArg,
        #[command(subcommand)]
        command: RejectCommand,
    },
    /// Retention: what the `[[retention.rules]]` would delete now (`plan`),
    /// or delete it (`run`, only with `[retention] enabled = true`).
    Retention {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// `plan` or `run`.
        #[arg(value_parser = ["plan", "run"])]
        action: String,
        /// JSON instead of a table (plan).
        #[arg(long)]
        json: bool,
    },
    /// Export a study as DICOM files (a folder, or a .zip), de-identified
    /// with the PS3.15 Basic Profile if asked: for research and teaching.
    Export {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this tenant's studies.
        #[command(flatten)]
        tenant: TenantArg,
        /// Study Instance UID.
        #[arg(long, value_name = "UID")]
        study: String,
        /// Apply the Basic Application Level Confidentiality Profile.
        #[arg(long)]
        deidentify: bool,
        /// The profile (only `basic`).
        #[arg(long, value_name = "NAME", default_value = "basic")]
        profile: String,
        /// Move dates by this many days instead of removing them.
        #[arg(long, value_name = "DAYS", allow_hyphen_values = true)]
        shift_days: Option<i64>,
        /// Also export instances with Burned In Annotation YES.
        #[arg(long)]
        include_burned_in: bool,
        /// The patient's name in the export.
        #[arg(long, value_name = "NAME", default_value = "ANONYMOUS")]
        patient_name: String,
        /// The patient's ID in the export (default: one made from the study).
        #[arg(long, value_name = "ID", default_value = "")]
        patient_id: String,
        /// A folder, or a file ending in .zip.
        #[arg(long, value_name = "DIR|FILE.zip")]
        out: std::path::PathBuf,
    },
    /// Storage planning: bytes stored by month (and modality),
    /// compression, growth over 12 months and a forecast of the next 12.
    Stats {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this tenant's studies.
        #[command(flatten)]
        tenant: TenantArg,
        /// `month` or `month,modality`.
        #[arg(long, value_name = "BY", default_value = "month")]
        by: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Read the audit trail: who did what to which patient's images.
    Audit {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this tenant's events.
        #[command(flatten)]
        tenant: TenantArg,
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
        format: AuditFormat,
    },
    /// Modify a study: accession number, description, the patient it
    /// belongs to, that patient's demographics.
    Study {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Only this tenant's.
        #[command(flatten)]
        tenant: TenantArg,
        #[command(subcommand)]
        command: StudyCommand,
    },
    /// The modality worklist: schedule, list and cancel procedure steps.
    Worklist {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// The tenant of the worklist.
        #[command(flatten)]
        tenant: TenantArg,
        #[command(subcommand)]
        command: WorklistCommand,
    },
    /// Import files and folders (recursively) into the archive.
    Import {
        /// Archive location.
        #[command(flatten)]
        archive: ArchiveArgs,
        /// The tenant the images belong to.
        #[command(flatten)]
        tenant: TenantArg,
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
    let ok = |ok: bool| {
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    };
    match cli.command {
        Command::Serve { archive, serve } => {
            let config = Config::load(&archive, Some(&serve))?;
            crate::logging::init(&config.log);
            runtime.block_on(crate::server::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Echo { target, calling_ae } => {
            runtime.block_on(send::echo(&target, &calling_ae))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send {
            target: None,
            to: Some(to),
            wait,
            study,
            series,
            studies,
            archive,
            tenant,
            ..
        } => {
            let list = jobs::study_list(study, studies, "send --to")?;
            runtime
                .block_on(with_service(
                    &archive,
                    &tenant,
                    true,
                    |service, ctx| async move {
                        jobs::send_to(&service, &ctx, &list, series.as_deref(), &to, wait).await
                    },
                ))
                .map(ok)
        }
        Command::Send {
            target: Some(target),
            calling_ae,
            study,
            archive,
            tenant,
            paths,
            ..
        } => runtime
            .block_on(async {
                match &study {
                    Some(uid) => {
                        with_service(&archive, &tenant, false, |service, ctx| async move {
                            send::send(&target, &calling_ae, &paths, Some((&service, &ctx, uid)))
                                .await
                        })
                        .await
                    }
                    None => send::send(&target, &calling_ae, &paths, None).await,
                }
            })
            .map(ok),
        Command::Check {
            archive,
            repair,
            verify,
            grace_secs,
        } => runtime
            .block_on(with_service(
                &archive,
                &TenantArg::default(),
                true,
                |service, ctx| async move {
                    let grace = std::time::Duration::from_secs(grace_secs);
                    let report = service.check(&ctx, verify, repair, grace).await?;
                    print!("{}", report.summary());
                    Ok(report.clean())
                },
            ))
            .map(ok),
        Command::Send { .. } => anyhow::bail!("send: give AET@HOST:PORT, or --study with --to"),
        Command::Share {
            archive,
            tenant,
            command,
        } => {
            let config = Config::load(&archive, None)?;
            runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move { shares::run(&service, &ctx, &config, command).await },
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs {
            archive,
            tenant,
            command,
        } => {
            runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move { jobs::jobs(&service, &ctx, command).await },
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            archive,
            tenant,
            peer,
            level,
            json,
            keys,
        } => {
            runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move {
                    jobs::query(&service, &ctx, &peer, &level, &keys, json).await
                },
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Retrieve {
            archive,
            tenant,
            peer,
            study,
            studies,
            wait,
        } => {
            let list = jobs::study_list(study, studies, "retrieve")?;
            runtime
                .block_on(with_service(
                    &archive,
                    &tenant,
                    true,
                    |service, ctx| async move {
                        jobs::retrieve(&service, &ctx, &peer, list, wait).await
                    },
                ))
                .map(ok)
        }
        Command::User { command } => {
            runtime.block_on(users::user(command))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            archive,
            tenant,
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
                since: since.as_deref().map(users::parse_since).transpose()?,
                actor,
                limit,
                tenant: None,
                newest_first: false,
            };
            let n = runtime.block_on(with_service(
                &archive,
                &tenant,
                false,
                |service, ctx| async move { users::audit(&service, &ctx, filter, format).await },
            ))?;
            if n == 0 {
                eprintln!("no matching audit events");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Patient {
            archive,
            tenant,
            command,
        } => {
            let done = runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move {
                    Ok(match command {
                        PatientCommand::Correct {
                            study,
                            name,
                            birth_date,
                            sex,
                        } => {
                            let patch = crate::service::correct::PatientPatch {
                                patient_name: name,
                                patient_birth_date: birth_date,
                                patient_sex: sex,
                            };
                            service.correct_study_patient(&ctx, &study, &patch).await?
                        }
                        PatientCommand::Merge {
                            from,
                            from_issuer,
                            into,
                            into_issuer,
                            name,
                            birth_date,
                            sex,
                        } => {
                            let into = storage::record::PatientAttributes {
                                patient_id: into,
                                issuer_of_patient_id: into_issuer,
                                patient_name: name,
                                patient_birth_date: birth_date,
                                patient_sex: sex,
                            };
                            service
                                .merge_patients(&ctx, (&from, &from_issuer), &into)
                                .await?
                        }
                    })
                },
            ))?;
            println!("before: {}", done.before.join(" | "));
            println!("after:  {}", done.after.join(" | "));
            println!("{} studies, {} instances", done.studies, done.instances);
            Ok(ExitCode::SUCCESS)
        }
        Command::Reject {
            archive,
            tenant,
            command,
        } => {
            let said = runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move {
                    Ok(match command {
                        RejectCommand::Study {
                            study,
                            series,
                            sop,
                            reason,
                        } => {
                            let n = service
                                .reject_by_hand(
                                    &ctx,
                                    &study,
                                    series.as_deref(),
                                    sop.as_deref(),
                                    &reason,
                                )
                                .await?;
                            format!("{n} instances rejected")
                        }
                        RejectCommand::List { study } => service
                            .rejected(&ctx, study.as_deref())
                            .await?
                            .iter()
                            .map(|r| {
                                format!(
                                    "{}  {}  study {}  patient {}  {} ({})",
                                    crate::audit::format_time(r.rejected_at),
                                    r.sop_instance_uid,
                                    r.study_instance_uid,
                                    r.patient_id,
                                    r.reason,
                                    r.reason_code
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n"),
                        RejectCommand::Restore { sop } => {
                            service.restore_rejected(&ctx, &sop).await?;
                            format!("{sop} restored")
                        }
                        RejectCommand::Purge { sop } => {
                            service.purge_rejected(&ctx, &sop).await?;
                            format!("{sop} purged")
                        }
                    })
                },
            ))?;
            println!("{said}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention {
            archive,
            action,
            json,
        } => {
            let platform = TenantArg { tenant: None };
            if action == "run" {
                let (studies, bytes) = runtime.block_on(with_service(
                    &archive,
                    &platform,
                    true,
                    |service, _| async move {
                        let ctx = Context::system("retention");
                        Ok(service.retention_run(&ctx).await?)
                    },
                ))?;
                println!(
                    "retention: {studies} studies deleted, {:.3} GiB freed",
                    bytes as f64 / (1u64 << 30) as f64
                );
                return Ok(ExitCode::SUCCESS);
            }
            let plan = runtime.block_on(with_service(
                &archive,
                &platform,
                true,
                |service, ctx| async move { Ok(service.retention_plan(&ctx).await?) },
            ))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                for e in &plan.studies {
                    println!(
                        "{:<10} {:<8} {:<12} {:>12} {} (rule {:?}, keep {})",
                        if e.study_date.is_empty() {
                            "-"
                        } else {
                            &e.study_date
                        },
                        e.modalities.join(","),
                        if e.tenant.is_empty() {
                            "(default)"
                        } else {
                            &e.tenant
                        },
                        e.bytes,
                        e.study,
                        e.rule,
                        e.keep
                    );
                }
                println!(
                    "{} studies, {:.3} GiB would be freed; retention is {}",
                    plan.studies.len(),
                    plan.bytes as f64 / (1u64 << 30) as f64,
                    if plan.enabled {
                        "enabled: they go at the next daily run"
                    } else {
                        "not enabled ([retention] enabled = true): nothing is deleted"
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            archive,
            tenant,
            study,
            deidentify,
            profile,
            shift_days,
            include_burned_in,
            patient_name,
            patient_id,
            out,
        } => {
            if profile != "basic" {
                anyhow::bail!("--profile {profile:?}: only basic");
            }
            let options = crate::service::deidentify::ExportOptions {
                deidentify,
                shift_days,
                include_burned_in,
                patient_name,
                patient_id,
            };
            let (sink, finish) = export_to(&out)?;
            let exported = runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move {
                    Ok(service.export_study(&ctx, &study, &options, sink).await?.0)
                },
            ))?;
            finish()?;
            eprintln!(
                "exported {} instances to {}{}",
                exported.files,
                out.display(),
                match exported.left_out {
                    0 => String::new(),
                    n => format!("; {n} with burned-in annotation left out (--include-burned-in)"),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats {
            archive,
            tenant,
            by,
            json,
        } => {
            let by_modality = match by.as_str() {
                "month" => false,
                "month,modality" | "modality,month" | "modality" => true,
                other => anyhow::bail!("--by {other:?}: month or month,modality"),
            };
            let stats = runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move { Ok(service.storage_stats(&ctx, by_modality).await?) },
            ))?;
            print_stats(&stats, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Study {
            archive,
            tenant,
            command,
        } => {
            runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move { study::run(&service, &ctx, command).await },
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worklist {
            archive,
            tenant,
            command,
        } => {
            runtime.block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move { worklist::run(&service, &ctx, command).await },
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            archive,
            tenant,
            paths,
        } => runtime
            .block_on(with_service(
                &archive,
                &tenant,
                true,
                |service, ctx| async move { import::run(&service, &ctx, &paths).await },
            ))
            .map(ok),
    }
}

/// `filmless reject …`.
#[derive(Debug, clap::Subcommand)]
pub enum RejectCommand {
    /// Reject every instance of a study, or of one series of it, or one
    /// instance of it.
    Study {
        /// Study Instance UID.
        #[arg(long, value_name = "UID")]
        study: String,
        /// Only this series of it.
        #[arg(long, value_name = "UID")]
        series: Option<String>,
        /// Only this instance of it (SOP Instance UID).
        #[arg(long, value_name = "UID")]
        sop: Option<String>,
        /// CID 7011: 113001 quality, 113037 patient safety, 113038 wrong
        /// worklist entry, 113039 retention expired.
        #[arg(long, value_name = "CODE")]
        reason: String,
    },
    /// The rejected instances.
    List {
        /// Of this study only.
        #[arg(long, value_name = "UID")]
        study: Option<String>,
    },
    /// Bring a rejected instance back.
    Restore {
        /// SOP Instance UID.
        #[arg(long, value_name = "UID")]
        sop: String,
    },
    /// Delete a rejected instance's object for good.
    Purge {
        /// SOP Instance UID.
        #[arg(long, value_name = "UID")]
        sop: String,
    },
}

/// `filmless patient …`.
#[derive(Debug, clap::Subcommand)]
pub enum PatientCommand {
    /// Correct the patient of a study (in every study of that patient).
    Correct {
        /// Study Instance UID.
        #[arg(long, value_name = "UID")]
        study: String,
        /// Patient's Name (`FAMILY^GIVEN`).
        #[arg(long)]
        name: Option<String>,
        /// Patient's Birth Date (`YYYYMMDD`).
        #[arg(long, value_name = "YYYYMMDD")]
        birth_date: Option<String>,
        /// Patient's Sex (M, F, O).
        #[arg(long)]
        sex: Option<String>,
    },
    /// Merge patient `--from` into `--into`, which keeps these attributes.
    Merge {
        /// The patient ID that goes.
        #[arg(long, value_name = "ID")]
        from: String,
        /// Its issuer, if the ID is known under several.
        #[arg(long, default_value = "")]
        from_issuer: String,
        /// The patient ID that stays.
        #[arg(long, value_name = "ID")]
        into: String,
        /// Its issuer.
        #[arg(long, default_value = "")]
        into_issuer: String,
        /// The surviving patient's name.
        #[arg(long, default_value = "")]
        name: String,
        /// Its birth date.
        #[arg(long, default_value = "")]
        birth_date: String,
        /// Its sex.
        #[arg(long, default_value = "")]
        sex: String,
    },
}

/// Where an export goes: a folder, or a ZIP file (`*.zip`) written an
/// instance at a time; and what ends it.
#[allow(clippy::type_complexity)]
fn export_to(
    out: &std::path::Path,
) -> anyhow::Result<(
    crate::service::deidentify::ExportSink,
    Box<dyn FnOnce() -> anyhow::Result<()>>,
)> {
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        let file = std::io::BufWriter::new(std::fs::File::create(out)?);
        let zip = std::sync::Arc::new(std::sync::Mutex::new(Some(
            crate::dicomweb::zip::ZipTo::new(file),
        )));
        let into = zip.clone();
        let sink: crate::service::deidentify::ExportSink = Box::new(move |name, data| {
            into.lock()
                .map_err(|_| std::io::Error::other("export poisoned"))?
                .as_mut()
                .ok_or_else(|| std::io::Error::other("export finished"))?
                .add(name, data)
        });
        let finish = Box::new(move || -> anyhow::Result<()> {
            let zip = zip.lock().ok().and_then(|mut z| z.take());
            zip.ok_or_else(|| anyhow::anyhow!("export lost"))?
                .finish()?
                .into_inner()
                .map_err(|e| e.into_error())?
                .sync_all()?;
            Ok(())
        });
        return Ok((sink, finish));
    }
    let root = out.to_path_buf();
    let sink: crate::service::deidentify::ExportSink = Box::new(move |name, data| {
        let path = root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, data)
    });
    Ok((sink, Box::new(|| Ok(()))))
}

/// `filmless stats`: a table for people, or JSON.
fn print_stats(s: &crate::service::stats::StorageStats, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let gib = |b: i64| b as f64 / (1u64 << 30) as f64;
    println!(
        "{:<8} {:<8} {:>10} {:>12} {:>12}",
        "month", "modality", "instances", "GiB", "stored GiB"
    );
    for m in &s.months {
        println!(
            "{:<8} {:<8} {:>10} {:>12.3} {:>12.3}",
            m.month,
            if m.modality.is_empty() {
                "all"
            } else {
                &m.modality
            },
            m.instances,
            gib(m.bytes),
            gib(m.stored_bytes)
        );
    }
    println!(
        "total: {} instances, {:.3} GiB ({:.3} GiB stored, compression {:.2}:1)",
        s.total_instances,
        gib(s.total_bytes),
        gib(s.total_stored_bytes),
        s.compression_ratio
    );
    println!(
        "last 12 months: {:.3} GiB; the 12 before: {:.3} GiB",
        gib(s.last_12_months_bytes),
        gib(s.previous_12_months_bytes)
    );
    match &s.forecast {
        Some(t) => {
            println!("trend: {}", t.formula);
            println!(
                "next 12 months: {:.3} GiB ({} to {})",
                gib(t.next_12_months_bytes),
                t.next_12_months.first().map_or("", |m| m.0.as_str()),
                t.next_12_months.last().map_or("", |m| m.0.as_str())
            );
        }
        None => println!("no forecast: fewer than 2 months of data"),
    }
    if let Some(free) = s.free_bytes {
        println!(
            "free on local storage: {:.3} GiB",
            free as f64 / (1u64 << 30) as f64
        );
    }
    Ok(())
}

/// Open the archive, run `f` with the service and the CLI's context (the
/// platform, or `--tenant`), then write the last audit events and close.
/// `quiet`: keep the log to warnings (commands with their own summary).
async fn with_service<T, F, Fut>(
    archive: &ArchiveArgs,
    tenant: &TenantArg,
    quiet: bool,
    f: F,
) -> anyhow::Result<T>
where
    F: FnOnce(Service, Context) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut config = Config::load(archive, None)?;
    // The server owns the spool in front of S3 and its uploads: a command
    // reads what it holds and writes straight to S3.
    config.storage.spool_read_only = true;
    if quiet && std::env::var_os("RUST_LOG").is_none() {
        config.log.level = "warn".to_owned();
    }
    crate::logging::init(&config.log);
    // Checked before the archive is opened (or made).
    let tenant = tenant.checked(&config)?;
    let opened = crate::server::open(&config).await?;
    let ctx = Context::cli(tenant);
    let result = f(opened.service.clone(), ctx).await;
    opened.close().await.context("closing the archive")?;
    result
}

/// A progress bar of `len` steps on the terminal (hidden when stderr is
/// not one, or when `show` is false), with `what` counted.
fn progress(len: usize, what: &str, show: bool) -> indicatif::ProgressBar {
    let bar = if show && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(len as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {what}  {{per_sec}}  ETA {{eta}}  {{msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
