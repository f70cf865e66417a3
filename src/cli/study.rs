//! `filmless study modify`: a study's accession number, description, the
//! patient it belongs to and that patient's demographics, as `PATCH
//! /api/studies/{uid}` does.

use clap::Subcommand;

use crate::service::modify::StudyPatch;
use crate::service::{Context, Service};

/// What `filmless study` does.
#[derive(Debug, Subcommand)]
pub enum StudyCommand {
    /// Modify a study: its own attributes, the patient it belongs to (it
    /// moves to that patient ID), that patient's name, birth date or sex.
    /// Audited with the values before and after.
    Modify {
        /// Study Instance UID.
        #[arg(long, value_name = "UID")]
        study: String,
        /// Accession Number.
        #[arg(long)]
        accession: Option<String>,
        /// Study Description.
        #[arg(long)]
        description: Option<String>,
        /// The patient ID it belongs to (the study moves there).
        #[arg(long, value_name = "ID")]
        patient_id: Option<String>,
        /// That patient ID's issuer.
        #[arg(long, value_name = "ISSUER", requires = "patient_id")]
        issuer: Option<String>,
        /// Patient's Name (`FAMILY^GIVEN`), in each study of the patient.
        #[arg(long)]
        name: Option<String>,
        /// Patient's Birth Date (`YYYYMMDD`).
        #[arg(long, value_name = "YYYYMMDD")]
        birth_date: Option<String>,
        /// Patient's Sex (M, F, O).
        #[arg(long)]
        sex: Option<String>,
    },
}

/// Run a study command.
pub async fn run(service: &Service, ctx: &Context, command: StudyCommand) -> anyhow::Result<()> {
    match command {
        StudyCommand::Modify {
            study,
            accession,
            description,
            patient_id,
            issuer,
            name,
            birth_date,
            sex,
        } => {
            let patch = StudyPatch {
                accession_number: accession,
                study_description: description,
                patient_id,
                issuer_of_patient_id: issuer,
                patient_name: name,
                patient_birth_date: birth_date,
                patient_sex: sex,
            };
            let done = service.modify_study(ctx, &study, &patch).await?;
            println!("patient before: {}", done.before.join(" | "));
            println!("patient after:  {}", done.after.join(" | "));
            println!(
                "accession: {:?} -> {:?}; description: {:?} -> {:?}",
                done.accession_number[0],
                done.accession_number[1],
                done.study_description[0],
                done.study_description[1]
            );
            println!("{} studies, {} instances", done.studies, done.instances);
        }
    }
    Ok(())
}
