//! `filmless worklist add|list|cancel`: the modality worklist from the
//! command line, for a RIS without HL7 (or a person at the console).

use clap::Subcommand;
use dicom_dictionary_std::tags;
use storage::query::{attribute_at, Query, QueryLevel};
use storage::record::PatientAttributes;

use crate::service::order::{date_time, Order};
use crate::service::{Context, Service};

/// What to do with the worklist.
// Parsed once per process: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Subcommand)]
pub enum WorklistCommand {
    /// Schedule a procedure step: one worklist item.
    Add {
        /// The item as DICOM JSON (a file); the flags below fill it
        /// otherwise.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["patient_id", "name"])]
        json: Option<std::path::PathBuf>,
        /// Patient ID.
        #[arg(long, value_name = "ID", required_unless_present = "json")]
        patient_id: Option<String>,
        /// Issuer of Patient ID.
        #[arg(long, value_name = "ISSUER", default_value = "")]
        issuer: String,
        /// Patient's name, DICOM style (`NGUYỄN^VĂN AN`).
        #[arg(long, value_name = "NAME", default_value = "")]
        name: String,
        /// Birth date, YYYYMMDD.
        #[arg(long, value_name = "DATE", default_value = "")]
        birth_date: String,
        /// Sex: M, F or O.
        #[arg(long, default_value = "")]
        sex: String,
        /// Accession number.
        #[arg(long, value_name = "ACC", default_value = "")]
        accession: String,
        /// Requested procedure ID.
        #[arg(long, value_name = "ID", default_value = "")]
        procedure_id: String,
        /// What is done (requested procedure and step description).
        #[arg(long, value_name = "TEXT", default_value = "")]
        description: String,
        /// Modality (CT, MR, CR, DX, US, …).
        #[arg(long, default_value = "")]
        modality: String,
        /// The modality's AE title (Scheduled Station AE Title).
        #[arg(long, value_name = "AET", default_value = "")]
        station: String,
        /// Start, `YYYYMMDD[HHMM]`.
        #[arg(long, value_name = "WHEN", default_value = "")]
        start: String,
        /// Referring physician, DICOM style.
        #[arg(long, value_name = "NAME", default_value = "")]
        referring: String,
        /// Scheduled performing physician (or technologist), DICOM style.
        #[arg(long, value_name = "NAME", default_value = "")]
        performing: String,
        /// Study Instance UID (generated when absent).
        #[arg(long, value_name = "UID")]
        study_uid: Option<String>,
    },
    /// List worklist items (scheduled and in progress; `--all` for every
    /// status).
    List {
        /// Only this station (Scheduled Station AE Title).
        #[arg(long, value_name = "AET")]
        station: Option<String>,
        /// Only this date or range (YYYYMMDD, YYYYMMDD-YYYYMMDD).
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Items in every status.
        #[arg(long)]
        all: bool,
        /// JSON lines (id, status, item) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cancel worklist items by id.
    Cancel {
        /// Item ids (from `list`).
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
    },
}

/// Run a worklist command.
pub async fn run(service: &Service, ctx: &Context, command: WorklistCommand) -> anyhow::Result<()> {
    match command {
        WorklistCommand::Add {
            json,
            patient_id,
            issuer,
            name,
            birth_date,
            sex,
            accession,
            procedure_id,
            description,
            modality,
            station,
            start,
            referring,
            performing,
            study_uid,
        } => {
            let item = match json {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)?;
                    let value: serde_json::Value = serde_json::from_str(&text)?;
                    storage::worklist::json_dataset(&value)?
                }
                None => {
                    let (start_date, start_time) = date_time(
                        &start
                            .chars()
                            .filter(char::is_ascii_digit)
                            .collect::<String>(),
                    );
                    Order {
                        patient: PatientAttributes {
                            patient_id: patient_id.unwrap_or_default(),
                            issuer_of_patient_id: issuer,
                            patient_name: name,
                            patient_birth_date: birth_date,
                            patient_sex: sex,
                        },
                        accession_number: accession,
                        requested_procedure_id: procedure_id,
                        requested_procedure_description: description.clone(),
                        referring_physician_name: referring,
                        study_instance_uid: study_uid.unwrap_or_default(),
                        station_ae_title: station,
                        modality,
                        start_date,
                        start_time,
                        step_description: description,
                        performing_physician_name: performing,
                        ..Default::default()
                    }
                    .dataset()
                }
            };
            let s = service.schedule(ctx, item, "filmless worklist add").await?;
            println!("scheduled item {} (study {})", s.id, s.study_instance_uid);
        }
        WorklistCommand::List {
            station,
            date,
            all,
            json,
        } => {
            let mut query = Query::new(QueryLevel::Worklist);
            let add = |q: &mut Query, tag, v: &str| -> anyhow::Result<()> {
                if let Some(a) = attribute_at(QueryLevel::Worklist, tag) {
                    q.add(a, v)?;
                }
                Ok(())
            };
            if let Some(s) = &station {
                add(&mut query, tags::SCHEDULED_STATION_AE_TITLE, s)?;
            }
            if let Some(d) = &date {
                add(&mut query, tags::SCHEDULED_PROCEDURE_STEP_START_DATE, d)?;
            }
            if !all {
                query.default_to_active_items();
            }
            let entries = service
                .search_worklist(ctx, query, "filmless worklist list")
                .await?;
            if entries.is_empty() && !json {
                eprintln!("no worklist items");
            }
            for e in entries {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": e.id, "status": e.status, "item": e.item})
                    );
                    continue;
                }
                let top = |tag: &str| {
                    let v = &e.item[tag]["Value"][0];
                    v["Alphabetic"]
                        .as_str()
                        .or(v.as_str())
                        .unwrap_or("")
                        .to_owned()
                };
                let step = &e.item["00400100"]["Value"][0];
                let in_step = |tag: &str| step[tag]["Value"][0].as_str().unwrap_or("").to_owned();
                println!(
                    "{:>6}  {:<12}  {:<10} {:<6} {}  {:<14} {:<12} {}",
                    e.id,
                    e.status,
                    in_step("00400001"),
                    in_step("00080060"),
                    format!("{} {}", in_step("00400002"), in_step("00400003")).trim(),
                    top("00080050"),
                    top("00100020"),
                    top("00100010"),
                );
            }
        }
        WorklistCommand::Cancel { ids } => {
            service
                .cancel_items(ctx, &ids, "filmless worklist cancel")
                .await?;
            println!("cancelled {} item(s)", ids.len());
        }
    }
    Ok(())
}
