//! `filmless share create|list|revoke`: the patient's e-film from the
//! command line.

use clap::Subcommand;

use crate::config::Config;
use crate::service::{Context, Service};

/// What to do with shares.
#[derive(Debug, Clone, Subcommand)]
pub enum ShareCommand {
    /// Make a link to a study (printed once, with its PIN).
    Create {
        /// The study.
        #[arg(long, value_name = "UID")]
        study: String,
        /// How long it lasts: 30d, 12h, 90m (default 30d).
        #[arg(long, default_value = "30d", value_name = "DURATION")]
        expires: String,
        /// Also require a 6-digit PIN (printed apart from the link).
        #[arg(long)]
        pin: bool,
    },
    /// The shares, newest first.
    List {
        /// Only this study's.
        #[arg(long, value_name = "UID")]
        study: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a share at once.
    Revoke {
        /// Its id.
        id: i64,
    },
}

/// `30d`, `12h`, `90m`, `45s` (or a number of days) in milliseconds.
pub fn duration_ms(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => s.split_at(at),
        None => (s, "d"),
    };
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("{s:?}: a duration like 30d, 12h, 90m"))?;
    let unit_ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => anyhow::bail!("{s:?}: a duration like 30d, 12h, 90m"),
    };
    n.checked_mul(unit_ms)
        .ok_or_else(|| anyhow::anyhow!("{s:?}: too long"))
}

/// Run a share command.
pub async fn run(
    service: &Service,
    ctx: &Context,
    config: &Config,
    command: ShareCommand,
) -> anyhow::Result<()> {
    match command {
        ShareCommand::Create {
            study,
            expires,
            pin,
        } => {
            let made = service
                .create_share(ctx, &study, duration_ms(&expires)?, pin)
                .await?;
            let base = if config.http.public_url.is_empty() {
                eprintln!(
                    "warning: http.public_url is not set: the link below is this machine's \
                     address, which a patient's phone may not reach"
                );
                format!("http://{}", config.http.bind)
            } else {
                config.http.public_url.trim_end_matches('/').to_owned()
            };
            println!("share {}", made.id);
            println!("url     {base}/s/{}", made.token);
            if let Some(p) = &made.pin {
                println!("pin     {p}");
            }
            println!("expires {}", made.expires_at);
        }
        ShareCommand::List { study, json } => {
            let shares = service.list_shares(ctx, study.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&shares)?);
            } else if shares.is_empty() {
                eprintln!("no shares");
            } else {
                println!(
                    "{:>5}  {:<8}  {:<25}  {:>6}  {:<4}  study",
                    "id", "state", "expires", "opened", "pin"
                );
                for s in shares {
                    println!(
                        "{:>5}  {:<8}  {:<25}  {:>6}  {:<4}  {}",
                        s.id,
                        s.state,
                        s.expires_at,
                        s.access_count,
                        if s.pin_required { "yes" } else { "no" },
                        s.study
                    );
                }
            }
        }
        ShareCommand::Revoke { id } => {
            service.revoke_share(ctx, id).await?;
            println!("share {id} revoked");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration_ms("30d").unwrap(), 30 * 86_400_000);
        assert_eq!(duration_ms("12h").unwrap(), 12 * 3_600_000);
        assert_eq!(duration_ms("2s").unwrap(), 2_000);
        assert_eq!(duration_ms("7").unwrap(), 7 * 86_400_000);
        assert!(duration_ms("soon").is_err());
        assert!(duration_ms("3w").is_err());
    }
}
