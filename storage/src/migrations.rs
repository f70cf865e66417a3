//! The index's schema migrations, embedded in the binary.
//!
//! `migrations/sqlite/` and `migrations/postgres/` hold the same versions,
//! one file each, named `NNNN_description.sql` as sqlx's migrator expects.
//! They are embedded with `include_str!` and handed to sqlx's `Migrator` at
//! run time, not with `sqlx::migrate!`: that macro pulls sqlx's whole
//! proc-macro stack (and a second build of SQLite's C sources) into every
//! build. The checksum sqlx records is the SHA-384 of the SQL text in both
//! cases, so archives migrated by either way agree.
//!
//! A new migration is one line per dialect below; a unit test checks that
//! the lists and the folders hold the same files.

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::backend::Backend;

macro_rules! embedded {
    ($dir:literal: $($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../migrations/", $dir, "/", $file)))),*]
    };
}

/// (file name, SQL) of every SQLite migration, oldest first.
const SQLITE: &[(&str, &str)] = embedded!("sqlite":
    "0001_archive.sql",
    "0002_users_audit.sql",
    "0003_tenants.sql",
    "0004_workflow.sql",
    "0005_worklist_performer.sql",
    "0006_routing.sql",
    "0007_shares.sql",
    "0008_patient_patches.sql",
    "0009_print.sql",
    "0010_rejection.sql",
    "0011_routing_arrivals.sql",
    "0012_user_disabled.sql",
    "0013_job_lease_holder.sql",
);
/// (file name, SQL) of every PostgreSQL migration, oldest first.
const POSTGRES: &[(&str, &str)] = embedded!("postgres":
    "0001_archive.sql",
    "0002_users_audit.sql",
    "0003_tenants.sql",
    "0004_workflow.sql",
    "0005_worklist_performer.sql",
    "0006_routing.sql",
    "0007_shares.sql",
    "0008_patient_patches.sql",
    "0009_print.sql",
    "0010_rejection.sql",
    "0011_routing_arrivals.sql",
    "0012_user_disabled.sql",
    "0013_job_lease_holder.sql",
);

/// A list of embedded migration files, as a source for sqlx's migrator.
#[derive(Debug)]
struct Embedded(&'static [(&'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            self.0
                .iter()
                .map(|(file, sql)| {
                    let (version, description) = parse_name(file)?;
                    Ok(Migration::new(
                        version,
                        Cow::Owned(description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    ))
                })
                .collect()
        })
    }
}

/// `0002_users_audit.sql` → (2, "users audit"), as sqlx names a file's
/// migration.
fn parse_name(file: &str) -> Result<(i64, String), BoxDynError> {
    let stem = file
        .strip_suffix(".sql")
        .ok_or_else(|| format!("migration {file}: not a .sql file"))?;
    let (version, description) = stem
        .split_once('_')
        .ok_or_else(|| format!("migration {file}: no NNNN_ prefix"))?;
    let version = version
        .parse()
        .map_err(|_| format!("migration {file}: version is not a number"))?;
    Ok((version, description.replace('_', " ")))
}

/// The migrator for one database.
pub(crate) async fn migrator(backend: Backend) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(dialect: &str) -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/");
        let mut names: Vec<String> = std::fs::read_dir(format!("{dir}{dialect}"))
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let names = |list: &[(&str, &str)]| list.iter().map(|(f, _)| f.to_string()).collect();
        let sqlite: Vec<String> = names(SQLITE);
        let postgres: Vec<String> = names(POSTGRES);
        assert_eq!(sqlite, folder("sqlite"));
        assert_eq!(postgres, folder("postgres"));
        assert_eq!(sqlite, postgres, "both dialects have the same versions");
    }

    #[test]
    fn names_parse_as_sqlx_parses_them() {
        assert_eq!(
            parse_name("0002_users_audit.sql").unwrap(),
            (2, "users audit".to_string())
        );
        assert!(parse_name("0002.sql").is_err());
        assert!(parse_name("x_y.sql").is_err());
        assert!(parse_name("0003_x.txt").is_err());
    }

    #[test]
    fn checksums_are_sha384_of_the_sql_as_migrate_macro_records() {
        use sha2::Digest;
        let m = futures::executor::block_on(migrator(Backend::Sqlite)).unwrap();
        let first = m.iter().next().unwrap();
        assert_eq!(first.version, 1);
        assert_eq!(first.description, "archive");
        assert_eq!(first.sql, SQLITE[0].1);
        assert_eq!(
            &*first.checksum,
            sha2::Sha384::digest(SQLITE[0].1.as_bytes()).as_slice()
        );
    }
}
