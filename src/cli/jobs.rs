//! `filmless jobs`, `filmless query`, `filmless retrieve` and `filmless
//! send --to`: the routing jobs from the command line. Jobs are queued in
//! the index, where a running server's workers take them; `--wait` runs
//! the job here until it ends (a server that takes it first runs it
//! instead).

use clap::Subcommand;
use dicom_core::{DataElement, PrimitiveValue};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::service::routing::JobView;
use crate::service::{Context, Service};

/// What to do with the jobs.
#[derive(Debug, Clone, Subcommand)]
pub enum JobsCommand {
    /// The jobs, newest first.
    List {
        /// Only jobs in this state: pending, running, done, failed.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// JSON (an array) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job, as JSON.
    Show {
        /// Its id.
        id: i64,
    },
    /// Try a failed job again from its first attempt.
    Retry {
        /// Its id.
        id: i64,
    },
    /// Cancel a job that is not finished.
    Cancel {
        /// Its id.
        id: i64,
    },
}

fn table(jobs: &[JobView]) {
    println!(
        "{:>6}  {:<8}  {:<7}  {:<16}  {:>11}  {:>8}  {:<20}  last error",
        "id", "kind", "state", "peer", "done/total", "attempts", "next attempt"
    );
    for j in jobs {
        println!(
            "{:>6}  {:<8}  {:<7}  {:<16}  {:>11}  {:>8}  {:<20}  {}",
            j.id,
            j.kind,
            j.state,
            j.peer,
            format!("{}/{}", j.done, j.total),
            j.attempts,
            j.next_attempt_at,
            j.last_error
        );
    }
}

/// Run a jobs command.
pub async fn jobs(service: &Service, ctx: &Context, command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List { state, limit, json } => {
            let jobs = service.list_jobs(ctx, state.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else if jobs.is_empty() {
                eprintln!("no jobs");
            } else {
                table(&jobs);
            }
        }
        JobsCommand::Show { id } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&service.job(ctx, id).await?)?
            );
        }
        JobsCommand::Retry { id } => {
            service.retry_job(ctx, id).await?;
            println!("job {id} queued again");
        }
        JobsCommand::Cancel { id } => {
            service.cancel_job(ctx, id).await?;
            println!("job {id} cancelled");
        }
    }
    Ok(())
}

/// Wait for jobs (running them here when due); whether all are done.
async fn wait(service: &Service, ctx: &Context, ids: &[i64]) -> anyhow::Result<bool> {
    let mut all_done = true;
    for id in ids {
        let j = service.run_job(ctx, *id).await?;
        println!(
            "job {}: {} ({}/{}){}",
            j.id,
            j.state,
            j.done,
            j.total,
            if j.last_error.is_empty() {
                String::new()
            } else {
                format!(": {}", j.last_error)
            }
        );
        all_done &= j.state == "done";
    }
    Ok(all_done)
}

/// `send --study UID --to PEER`: queue (and with `wait`, run) a job per
/// study.
pub async fn send_to(
    service: &Service,
    ctx: &Context,
    studies: &[String],
    series: Option<&str>,
    to: &str,
    wait_for_it: bool,
) -> anyhow::Result<bool> {
    let mut ids = Vec::with_capacity(studies.len());
    for study in studies {
        let id = service.send_part(ctx, study, series, to).await?;
        match series {
            Some(se) => println!("job {id}: send series {se} of study {study} to {to}"),
            None => println!("job {id}: send study {study} to {to}"),
        }
        ids.push(id);
    }
    if wait_for_it {
        return wait(service, ctx, &ids).await;
    }
    Ok(true)
}

/// `retrieve --peer PEER (--study UID | --studies FILE)`.
pub async fn retrieve(
    service: &Service,
    ctx: &Context,
    peer: &str,
    studies: Vec<String>,
    wait_for_it: bool,
) -> anyhow::Result<bool> {
    let queued = service.retrieve_studies(ctx, peer, &studies).await?;
    let mut ids = Vec::new();
    for (study, id, new) in &queued {
        if *new {
            println!("job {id}: retrieve study {study} from {peer}");
        } else {
            println!("job {id}: retrieve study {study}: queued or done already");
        }
        ids.push(*id);
    }
    if wait_for_it {
        return wait(service, ctx, &ids).await;
    }
    Ok(true)
}

/// The studies a command names: `--study UID`, or a `--studies` file.
pub fn study_list(
    study: Option<String>,
    studies: Option<std::path::PathBuf>,
    command: &str,
) -> anyhow::Result<Vec<String>> {
    match (study, studies) {
        (Some(s), _) => Ok(vec![s]),
        (None, Some(file)) => studies_file(&file),
        (None, None) => anyhow::bail!("{command}: --study or --studies"),
    }
}

/// The study list of a `--studies` file: one UID a line, `#` comments.
fn studies_file(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

/// `query --peer PEER [--level L] KEY=VALUE…`: C-FIND, as a table or JSON.
pub async fn query(
    service: &Service,
    ctx: &Context,
    peer: &str,
    level: &str,
    keys: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let level = level.to_ascii_uppercase();
    let mut identifier = InMemDicomObject::new_empty();
    identifier.put(DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        dicom_core::VR::CS,
        PrimitiveValue::from(level.as_str()),
    ));
    // What a study list shows, unless asked otherwise.
    let mut wanted: Vec<(String, String)> = match level.as_str() {
        "STUDY" => [
            "PatientID",
            "PatientName",
            "StudyDate",
            "ModalitiesInStudy",
            "AccessionNumber",
            "StudyDescription",
            "StudyInstanceUID",
        ]
        .iter()
        .map(|k| (k.to_string(), String::new()))
        .collect(),
        "SERIES" => [
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "Modality",
            "SeriesNumber",
        ]
        .iter()
        .map(|k| (k.to_string(), String::new()))
        .collect(),
        _ => ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect(),
    };
    for k in keys {
        let (key, value) = k.split_once('=').unwrap_or((k.as_str(), ""));
        match wanted.iter_mut().find(|(w, _)| w == key) {
            Some(w) => w.1 = value.to_owned(),
            None => wanted.push((key.to_owned(), value.to_owned())),
        }
    }
    let mut columns = Vec::new();
    for (key, value) in &wanted {
        let tag = storage::query::tag_of(key)
            .ok_or_else(|| anyhow::anyhow!("{key}: not a DICOM keyword"))?;
        let vr = {
            use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
            dicom_dictionary_std::StandardDataDictionary
                .by_tag(tag)
                .map(|e| e.vr().relaxed())
                .unwrap_or(dicom_core::VR::LO)
        };
        identifier.put(DataElement::new(
            tag,
            vr,
            PrimitiveValue::from(value.as_str()),
        ));
        columns.push(tag);
    }
    let found = service.query_peer(ctx, peer, &identifier).await?;
    if json {
        let values: Vec<serde_json::Value> = found
            .iter()
            .filter_map(|o| storage::worklist::dataset_json(o).ok())
            .collect();
        println!("{}", serde_json::to_string_pretty(&values)?);
        return Ok(());
    }
    if found.is_empty() {
        eprintln!("no matches");
        return Ok(());
    }
    println!(
        "{}",
        wanted
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join("\t")
    );
    for o in &found {
        let row: Vec<String> = columns
            .iter()
            .map(|tag| {
                o.get(*tag)
                    .and_then(|e| e.to_multi_str().ok().map(|v| v.join("\\")))
                    .unwrap_or_default()
                    .trim_matches(['\0', ' '])
                    .to_owned()
            })
            .collect();
        println!("{}", row.join("\t"));
    }
    Ok(())
}
