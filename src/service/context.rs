//! Who asks, for which tenant, with which rights, from where: the request
//! context every operation of the service layer takes.
//!
//! Adapters build it (HTTP from the authenticated user or OIDC token,
//! DIMSE from the calling AE title's peer entry, the CLI as the platform);
//! the service decides from it. Rights come from roles for people and from
//! permissions for AE titles; nothing here looks at URLs or commands.

use std::fmt;

use storage::{TenantId, TenantScope};

/// A role of a person (local user or OIDC token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Search and retrieve within the tenant (QIDO-RS, WADO-RS, `/status`).
    Viewer,
    /// Store within the tenant (STOW-RS).
    Uploader,
    /// The RIS side: manage the worklist (orders) and correct patients.
    Scheduler,
    /// Give patients their e-film: create and revoke share links (and see
    /// the studies they share).
    Share,
    /// Everything within the tenant: also delete and read the audit trail.
    Admin,
    /// Everything in every tenant (a city platform's operator); audited as
    /// such.
    PlatformAdmin,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 6] = [
        Role::Viewer,
        Role::Uploader,
        Role::Scheduler,
        Role::Share,
        Role::Admin,
        Role::PlatformAdmin,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Uploader => "uploader",
            Role::Scheduler => "scheduler",
            Role::Share => "share",
            Role::Admin => "admin",
            Role::PlatformAdmin => "platform-admin",
        }
    }

    /// A role by name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// A comma-separated list of role names.
    pub fn parse_list(s: &str) -> Result<Vec<Role>, String> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let r = Role::parse(name).ok_or_else(|| {
                format!(
                    "unknown role {name:?} (viewer, uploader, scheduler, share, admin, platform-admin)"
                )
            })?;
            if !out.contains(&r) {
                out.push(r);
            }
        }
        if out.is_empty() {
            return Err(
                "no role given (viewer, uploader, scheduler, share, admin, platform-admin)".into(),
            );
        }
        Ok(out)
    }

    /// Roles as stored.
    pub fn join(roles: &[Role]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// What the role may do.
    fn rights(self) -> &'static [Right] {
        match self {
            Role::Viewer => &[
                Right::Search,
                Right::Retrieve,
                Right::Status,
                Right::Worklist,
            ],
            Role::Uploader => &[Right::Store],
            Role::Scheduler => &[Right::Worklist, Right::Orders],
            Role::Share => &[Right::Search, Right::Retrieve, Right::Share],
            Role::Admin | Role::PlatformAdmin => &Right::ALL,
        }
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// Search studies, series, instances (C-FIND, QIDO-RS).
    Search,
    /// Read images and metadata (WADO-RS, rendered, C-GET).
    Retrieve,
    /// Send images to another AE title (C-MOVE).
    Move,
    /// Store images (C-STORE, STOW-RS, import).
    Store,
    /// Delete images.
    Delete,
    /// See the archive's counts (`/status`).
    Status,
    /// Read the audit trail.
    AuditTrail,
    /// Add, change and remove users.
    Users,
    /// Read the modality worklist (worklist C-FIND, UPS-RS search,
    /// `GET /api/worklist`).
    Worklist,
    /// Manage orders (worklist items) and correct or merge patients: the
    /// RIS's HL7 messages, `/api/worklist` changes.
    Orders,
    /// Report performed procedure steps (MPPS).
    Procedure,
    /// Ask the archive to commit to keeping instances (storage commitment):
    /// it tells whether instances exist, so it is not part of `Store`.
    Commitment,
    /// Send studies to other archives, pull studies from them, and see and
    /// manage the routing jobs.
    Jobs,
    /// Create, list and revoke share links (the patient's e-film).
    Share,
    /// Print film sheets (Print Management), which files them into the
    /// archive.
    Print,
    /// Read the server's metrics (`/metrics`).
    Metrics,
}

impl Right {
    /// Every right.
    pub const ALL: [Right; 16] = [
        Right::Search,
        Right::Retrieve,
        Right::Move,
        Right::Store,
        Right::Delete,
        Right::Status,
        Right::AuditTrail,
        Right::Users,
        Right::Worklist,
        Right::Orders,
        Right::Procedure,
        Right::Commitment,
        Right::Jobs,
        Right::Share,
        Right::Print,
        Right::Metrics,
    ];

    /// The least role that holds it, to tell a person what is missing.
    pub fn least_role(self) -> Role {
        match self {
            Right::Search | Right::Retrieve | Right::Status | Right::Worklist => Role::Viewer,
            Right::Store => Role::Uploader,
            Right::Orders => Role::Scheduler,
            Right::Share => Role::Share,
            Right::Move
            | Right::Delete
            | Right::AuditTrail
            | Right::Users
            | Right::Procedure
            | Right::Commitment
            | Right::Jobs
            | Right::Print
            | Right::Metrics => Role::Admin,
        }
    }
}

/// What kind of actor asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A local user (HTTP Basic).
    User,
    /// A person with an OpenID Connect token.
    Oidc,
    /// Nobody in particular: `[auth] required = false` on loopback.
    Anonymous,
    /// A DICOM peer, by its calling AE title.
    Ae,
    /// Whoever runs the CLI on the data directory: the platform.
    Cli,
    /// An HL7 sender (`application@facility`, MSH-3 and MSH-4).
    Hl7,
    /// Whoever holds a share's link (`share:ID`).
    Share,
    /// A metrics scraper with the scrape token (`[metrics] token`).
    Scraper,
}

impl ActorKind {
    /// As the audit trail names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Oidc => "oidc",
            ActorKind::Anonymous => "anonymous",
            ActorKind::Ae => "ae",
            ActorKind::Cli => "cli",
            ActorKind::Hl7 => "hl7",
            ActorKind::Share => "share",
            ActorKind::Scraper => "scraper",
        }
    }
}

/// Which protocol a request came by: it names the audit event (a search is
/// `c-find` over DIMSE and `qido-rs` over HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// DIMSE.
    Dimse,
    /// HTTP: DICOMweb and the server's pages.
    Http,
    /// The command line.
    Cli,
    /// HL7 v2 over MLLP.
    Hl7,
}

/// The tenants a request may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One tenant.
    Tenant(TenantId),
    /// Every tenant (platform administrators and the CLI).
    Platform,
}

/// Who asks, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    /// User name, OIDC subject or calling AE title.
    pub name: String,
    /// What kind.
    pub kind: ActorKind,
}

/// One request's context.
#[derive(Debug, Clone)]
pub struct Context {
    /// Who.
    pub actor: Actor,
    /// From where: the client's address (after trusted proxies).
    pub source: String,
    /// Which tenants.
    pub scope: Scope,
    /// By which protocol.
    pub protocol: Protocol,
    rights: Vec<Right>,
    /// How a refusal is explained: by role (people) or not (AE titles).
    roles: Option<Vec<Role>>,
}

impl Context {
    /// Whether a platform administrator acts (also when the request names
    /// one tenant): audited as such.
    pub fn is_platform_admin(&self) -> bool {
        self.roles
            .as_ref()
            .is_some_and(|r| r.contains(&Role::PlatformAdmin))
    }
}

impl Context {
    /// A person with roles, within `tenant`; a platform administrator's
    /// scope is every tenant.
    pub fn person(
        actor: Actor,
        roles: Vec<Role>,
        tenant: TenantId,
        source: String,
        protocol: Protocol,
    ) -> Self {
        let rights = roles
            .iter()
            .flat_map(|r| r.rights().iter().copied())
            .collect();
        let scope = if roles.contains(&Role::PlatformAdmin) {
            Scope::Platform
        } else {
            Scope::Tenant(tenant)
        };
        Context {
            actor,
            source,
            scope,
            protocol,
            rights,
            roles: Some(roles),
        }
    }

    /// A DICOM peer with the rights its peer entry gives, in a tenant.
    pub fn ae(calling_ae: &str, rights: Vec<Right>, tenant: TenantId, source: String) -> Self {
        Context {
            actor: Actor {
                name: calling_ae.trim().to_owned(),
                kind: ActorKind::Ae,
            },
            source,
            scope: Scope::Tenant(tenant),
            protocol: Protocol::Dimse,
            rights,
            roles: None,
        }
    }

    /// An HL7 sender allowed by `[[hl7.senders]]`, in its tenant: it
    /// manages orders and patients.
    pub fn hl7(sender: &str, tenant: TenantId, source: String) -> Self {
        Context {
            actor: Actor {
                name: sender.to_owned(),
                kind: ActorKind::Hl7,
            },
            source,
            scope: Scope::Tenant(tenant),
            protocol: Protocol::Hl7,
            rights: vec![Right::Orders, Right::Worklist],
            roles: None,
        }
    }

    /// A metrics scraper that presented the scrape token: `/metrics`, and
    /// nothing else.
    pub fn scraper(source: String) -> Self {
        Context {
            actor: Actor {
                name: "metrics".to_owned(),
                kind: ActorKind::Scraper,
            },
            source,
            scope: Scope::Platform,
            protocol: Protocol::Http,
            rights: vec![Right::Metrics],
            roles: None,
        }
    }

    /// The server itself acting on a rule (retention): every right, every
    /// tenant, named after the rule's kind.
    pub fn system(name: &str) -> Self {
        Context {
            actor: Actor {
                name: name.to_owned(),
                kind: ActorKind::Cli,
            },
            source: "local".to_owned(),
            scope: Scope::Platform,
            protocol: Protocol::Cli,
            rights: Right::ALL.to_vec(),
            roles: None,
        }
    }

    /// The same context narrowed to one tenant.
    pub fn within(mut self, tenant: TenantId) -> Self {
        self.scope = Scope::Tenant(tenant);
        self
    }

    /// The command line: every right, in one tenant (`--tenant`) or all.
    pub fn cli(tenant: Option<TenantId>) -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "cli".to_owned());
        Context {
            actor: Actor {
                name: user,
                kind: ActorKind::Cli,
            },
            source: "local".to_owned(),
            scope: tenant.map_or(Scope::Platform, Scope::Tenant),
            protocol: Protocol::Cli,
            rights: Right::ALL.to_vec(),
            roles: None,
        }
    }

    /// Whether it holds `right`.
    pub fn may(&self, right: Right) -> bool {
        self.rights.contains(&right)
    }

    /// Why `right` is refused, in words for the client and the audit trail.
    pub fn refusal(&self, right: Right) -> String {
        match &self.roles {
            Some(_) => format!("needs the {} role", right.least_role().as_str()),
            None => "not authorized for this AE title".to_owned(),
        }
    }

    /// The tenants it reaches, for the index.
    pub fn tenant_scope(&self) -> TenantScope<'_> {
        match &self.scope {
            Scope::Tenant(t) => TenantScope::One(t),
            Scope::Platform => TenantScope::All,
        }
    }

    /// Its one tenant, unless it is the platform.
    pub fn tenant(&self) -> Option<&TenantId> {
        match &self.scope {
            Scope::Tenant(t) => Some(t),
            Scope::Platform => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(roles: &[Role]) -> Context {
        Context::person(
            Actor {
                name: "u".into(),
                kind: ActorKind::User,
            },
            roles.to_vec(),
            TenantId::parse("h1").unwrap(),
            "127.0.0.1".into(),
            Protocol::Http,
        )
    }

    #[test]
    fn roles_give_rights_within_their_tenant() {
        let viewer = person(&[Role::Viewer]);
        assert!(viewer.may(Right::Retrieve) && viewer.may(Right::Search));
        assert!(!viewer.may(Right::Store) && !viewer.may(Right::Delete));
        assert_eq!(viewer.refusal(Right::Store), "needs the uploader role");
        assert_eq!(viewer.refusal(Right::Delete), "needs the admin role");
        let uploader = person(&[Role::Uploader]);
        assert!(uploader.may(Right::Store) && !uploader.may(Right::Retrieve));
        let admin = person(&[Role::Admin]);
        assert!(Right::ALL.iter().all(|r| admin.may(*r)));
        assert_eq!(admin.tenant().map(TenantId::as_str), Some("h1"));
        let platform = person(&[Role::PlatformAdmin]);
        assert_eq!(platform.scope, Scope::Platform);
        assert_eq!(platform.tenant_scope(), TenantScope::All);
    }

    #[test]
    fn role_lists_parse() {
        assert_eq!(
            Role::parse_list("viewer, uploader,viewer").unwrap(),
            vec![Role::Viewer, Role::Uploader]
        );
        assert_eq!(
            Role::parse_list("platform-admin").unwrap(),
            vec![Role::PlatformAdmin]
        );
        assert!(Role::parse_list("root").is_err());
        assert!(Role::parse_list("").is_err());
    }

    #[test]
    fn peers_are_refused_as_ae_titles() {
        let ae = Context::ae(
            "CT01",
            vec![Right::Store],
            TenantId::implicit(),
            "10.0.0.9".into(),
        );
        assert!(ae.may(Right::Store) && !ae.may(Right::Search));
        assert_eq!(
            ae.refusal(Right::Search),
            "not authorized for this AE title"
        );
        assert_eq!(ae.actor.kind.as_str(), "ae");
    }
}
