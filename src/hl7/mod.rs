//! HL7 v2 from the RIS and HIS: an MLLP listener (`[hl7] bind`) that takes
//! orders (ORM^O01, OMI^O23) and patient updates (ADT^A08, A31) and merges
//! (ADT^A40) from the senders `[[hl7.senders]]` lists, applies each through
//! the service layer, and answers every message with an ACK.
//!
//! - `message`: ER7 parsing and the ACK;
//! - `apply`: what each message does;
//! - `listener`: MLLP framing, connection limits and timeouts.

mod apply;
mod listener;
pub mod message;

pub use listener::serve;

use storage::TenantId;

use crate::config::Hl7Config;
use crate::service::Context;

/// Who may send: the configured senders, each with its tenant.
#[derive(Debug, Clone)]
pub struct Senders(Vec<(String, String, TenantId)>);

impl Senders {
    /// From `[[hl7.senders]]` (validated by the configuration).
    pub fn new(config: &Hl7Config) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for s in &config.senders {
            let tenant = if s.tenant.is_empty() {
                TenantId::implicit()
            } else {
                TenantId::parse(&s.tenant)
                    .map_err(|e| anyhow::anyhow!("[[hl7.senders]] tenant {:?}: {e}", s.tenant))?
            };
            out.push((s.application.clone(), s.facility.clone(), tenant));
        }
        Ok(Senders(out))
    }

    /// The context of a message from `application` at `facility` (MSH-3,
    /// MSH-4), or `None`: not a listed sender.
    pub fn context(&self, application: &str, facility: &str, source: String) -> Option<Context> {
        let (app, fac, tenant) = self.0.iter().find(|(a, f, _)| {
            a.eq_ignore_ascii_case(application)
                && (f.is_empty() || f.eq_ignore_ascii_case(facility))
        })?;
        let name = if fac.is_empty() && facility.is_empty() {
            app.clone()
        } else {
            format!("{application}@{facility}")
        };
        Some(Context::hl7(&name, tenant.clone(), source))
    }
}
