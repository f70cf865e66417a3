//! `filmless user` and `filmless audit`: local users and the audit trail,
//! read and written straight in the index database.

use std::io::{BufRead, IsTerminal};

use clap::{Subcommand, ValueEnum};
use storage::{AuditFilter, UserRow};

use crate::audit::now_millis;
use crate::auth::{hash_password, Role};
use crate::config::{ArchiveArgs, Config};

/// `filmless user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user, or change an existing one's password and roles.
    Add {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Login name.
        name: String,
        /// Comma-separated: viewer (QIDO-RS, WADO-RS), uploader (STOW-RS),
        /// admin (DELETE and everything).
        #[arg(long, value_name = "ROLES")]
        roles: String,
        /// Read the password from the first line of standard input (for
        /// scripts); otherwise it is asked for on the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user.
    Remove {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Login name.
        name: String,
    },
    /// List users and their roles.
    List {
        #[command(flatten)]
        archive: ArchiveArgs,
    },
}

impl UserCommand {
    fn archive(&self) -> &ArchiveArgs {
        match self {
            UserCommand::Add { archive, .. }
            | UserCommand::Remove { archive, .. }
            | UserCommand::List { archive } => archive,
        }
    }
}

/// Output of `filmless audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Aligned columns, for people.
    Table,
    /// One JSON object per line, for log collectors and archives.
    Jsonl,
}

/// Run `filmless user …`.
pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    let config = Config::load(command.archive(), None)?;
    let archive = storage::Archive::open(&config.storage).await?;
    let index = archive.index();
    let result = async {
        match command {
            UserCommand::Add {
                name,
                roles,
                password_stdin,
                ..
            } => {
                let roles = Role::parse_list(&roles)?;
                if name.is_empty() || name.contains(':') || name.len() > 128 {
                    anyhow::bail!("a user name is 1 to 128 characters without ':'");
                }
                let password = read_password(password_stdin)?;
                if password.chars().count() < 8 {
                    anyhow::bail!("the password must have at least 8 characters");
                }
                let existing = index.user(&name).await?;
                index
                    .put_user(&UserRow {
                        name: name.clone(),
                        password_hash: hash_password(&password)?,
                        roles: Role::join(&roles),
                        created_at: existing.map_or_else(now_millis, |u| u.created_at),
                    })
                    .await?;
                println!("user {name}: {}", Role::join(&roles));
            }
            UserCommand::Remove { name, .. } => {
                if !index.remove_user(&name).await? {
                    anyhow::bail!("no user {name:?}");
                }
                println!(
                    "removed {name} (a running server forgets it within auth.cache_secs = {} s)",
                    config.auth.cache_secs
                );
            }
            UserCommand::List { .. } => {
                for u in index.users().await? {
                    println!(
                        "{}\t{}\tcreated {}",
                        u.name,
                        u.roles,
                        crate::audit::format_time(u.created_at)
                    );
                }
            }
        }
        Ok(())
    }
    .await;
    index.close().await;
    result
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Again: ")?;
    if first != again {
        anyhow::bail!("the passwords differ");
    }
    Ok(first)
}

/// Run `filmless audit`: print the events matching `filter`.
pub async fn audit(
    archive: &ArchiveArgs,
    filter: AuditFilter,
    format: AuditFormat,
) -> anyhow::Result<usize> {
    let config = Config::load(archive, None)?;
    let archive = storage::Archive::open(&config.storage).await?;
    let events = archive.index().audit(&filter).await;
    archive.index().close().await;
    let events = events?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    for e in &events {
        match format {
            AuditFormat::Jsonl => writeln!(out, "{}", serde_json::to_string(e)?)?,
            AuditFormat::Table => writeln!(
                out,
                "{}  {:<9} {:<20} {:<15} {:<8} patient {:<12} study {}  ×{}  {}  {}",
                crate::audit::format_time(e.at),
                e.actor_kind,
                e.actor,
                e.source,
                e.action,
                e.patient_id,
                e.study_instance_uid,
                e.count,
                e.outcome,
                e.detail
            )?,
        }
    }
    Ok(events.len())
}

/// `--since`: a date (YYYY-MM-DD), or a number of days back (`7d`).
pub fn parse_since(s: &str) -> anyhow::Result<i64> {
    if let Some(days) = s.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
        return Ok(now_millis() - days * 86_400_000);
    }
    crate::audit::parse_date_millis(s).ok_or_else(|| {
        anyhow::anyhow!("--since {s:?}: expected YYYY-MM-DD or a number of days like 7d")
    })
}
