//! `filmless user` and `filmless audit`: local users and the audit trail,
//! through the service as the platform.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Subcommand, ValueEnum};
use storage::{AuditFilter, TenantId};

use super::{with_service, TenantArg};
use crate::audit::format_time;
use crate::config::ArchiveArgs;
use crate::service::{Context, NewUser, Role, Service};

/// `filmless user …`: local users, who log in with HTTP Basic; each has
/// roles (viewer, uploader, admin, platform-admin) and belongs to one
/// tenant.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user, or change an existing one's password, roles and tenant.
    Add {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Login name.
        name: String,
        /// Comma-separated: viewer (QIDO-RS, WADO-RS, /status), uploader
        /// (STOW-RS), admin (delete, the audit trail, everything in the
        /// tenant), platform-admin (everything in every tenant).
        #[arg(long, value_name = "ROLES")]
        roles: String,
        /// The tenant the user works for (`id` of a `[[tenants]]` entry);
        /// without it, the implicit tenant (that of dicom.ae_title).
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
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
    /// Disable a user: refused at login, kept with its roles.
    Disable {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Login name.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[command(flatten)]
        archive: ArchiveArgs,
        /// Login name.
        name: String,
    },
    /// List users, their roles and tenants.
    List {
        #[command(flatten)]
        archive: ArchiveArgs,
    },
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
    let platform = TenantArg::default();
    let command_kind = match &command {
        UserCommand::Disable { .. } => "disable",
        _ => "other",
    };
    match command {
        UserCommand::Add {
            archive,
            name,
            roles,
            tenant,
            password_stdin,
        } => {
            let roles = Role::parse_list(&roles).map_err(anyhow::Error::msg)?;
            // Everything checked before the password is asked for.
            let user_tenant = TenantArg { tenant }
                .checked(&crate::config::Config::load(&archive, None)?)?
                .unwrap_or_else(TenantId::implicit);
            let password = read_password(password_stdin)?;
            with_service(&archive, &platform, false, |service, ctx| async move {
                let user = NewUser {
                    name: name.clone(),
                    roles: roles.clone(),
                    tenant: user_tenant.clone(),
                    password,
                };
                service.put_user(&ctx, user).await?;
                println!(
                    "user {name}: {} in tenant {user_tenant}",
                    Role::join(&roles)
                );
                Ok(())
            })
            .await
        }
        UserCommand::Remove { archive, name } => {
            with_service(&archive, &platform, false, |service, ctx| async move {
                if !service.remove_user(&ctx, &name).await? {
                    anyhow::bail!("no user {name:?}");
                }
                println!("removed {name} (a running server forgets it within auth.cache_secs)");
                Ok(())
            })
            .await
        }
        UserCommand::Disable { archive, name } | UserCommand::Enable { archive, name } => {
            let disabled = matches!(command_kind, "disable");
            with_service(&archive, &platform, false, |service, ctx| async move {
                if !service.set_user_disabled(&ctx, &name, disabled).await? {
                    anyhow::bail!("no user {name:?}");
                }
                println!(
                    "{name} {} (a running server takes it within auth.cache_secs)",
                    if disabled { "disabled" } else { "enabled" }
                );
                Ok(())
            })
            .await
        }
        UserCommand::List { archive } => {
            with_service(&archive, &platform, false, |service, ctx| async move {
                for u in service.users(&ctx).await? {
                    let tenant = TenantId::parse(&u.tenant).unwrap_or_default();
                    println!(
                        "{}\t{}\t{}\tcreated {}{}",
                        u.name,
                        u.roles,
                        tenant,
                        format_time(u.created_at),
                        if u.disabled { "\tdisabled" } else { "" }
                    );
                }
                Ok(())
            })
            .await
        }
    }
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

/// Print the events matching `filter`; returns how many.
pub async fn audit(
    service: &Service,
    ctx: &Context,
    filter: AuditFilter,
    format: AuditFormat,
) -> anyhow::Result<usize> {
    let events = service.audit_events(ctx, filter).await?;
    let mut out = std::io::stdout().lock();
    for e in &events {
        match format {
            AuditFormat::Jsonl => writeln!(out, "{}", serde_json::to_string(e)?)?,
            AuditFormat::Table => writeln!(
                out,
                "{}  {:<9} {:<20} {:<15} {:<8} tenant {:<10} patient {:<12} study {}  ×{}  {}  {}",
                format_time(e.at),
                e.actor_kind,
                e.actor,
                e.source,
                e.action,
                TenantId::parse(&e.tenant).unwrap_or_default(),
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
    crate::audit::parse_since(s).ok_or_else(|| {
        anyhow::anyhow!("--since {s:?}: expected YYYY-MM-DD or a number of days like 7d")
    })
}
